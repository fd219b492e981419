/* ack: the acknowledgement record (SPEC §3), kept in the store and sent on
 * teamboard/<board>/acks. `id` ("<board>-<seq>", seq from the store) is the
 * idempotency key consumers dedupe on. */
#pragma once

#include <stdint.h>

#include "alerts.h"

enum ack_source {
	ACK_SOURCE_BUTTON,
	ACK_SOURCE_MQTT,
	ACK_SOURCE_CTL,
	ACK_SOURCE_ASSIGN,
	ACK_SOURCE_COUNT
};

#define ACK_ID_MAX    96
#define BUTTON_ID_MAX 32

struct ack_record {
	char id[ACK_ID_MAX];
	char board[64];
	char ticket_id[TICKET_ID_MAX];
	enum alert_kind alert;
	char agent[EVENT_NAME_MAX]; /* "" if unknown */
	enum ack_source source;
	char button[BUTTON_ID_MAX]; /* "" unless source is button */
	int64_t at_ms;
	int64_t latency_ms;
	char event_id[EVENT_ID_MAX]; /* "" if the board raised the alert */
	enum channel channel;        /* of the ticket, for stats (not sent) */
	enum priority priority;
};

const char *ack_source_name(enum ack_source s); /* "button", "mqtt", "ctl", "assign" */
int ack_source_from_name(const char *s, enum ack_source *out);
