/* payload: the JSON the board sends (SPEC §3, §10): ack records, status
 * and state snapshots, error reports, escalations, health. Every function
 * returns a NUL-terminated string to release with payload_free(), or NULL
 * when out of memory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ack.h"
#include "alerts.h"

struct daemon;

char *payload_ack(const struct ack_record *a);
/* The status object of SPEC §10 (also the retained state topic). */
char *payload_status(struct daemon *d);
/* Retained teamboard/<board>/status: {"state":…,"version":…,"since":…}. */
char *payload_board_status(const char *state, int64_t since_ms);
char *payload_error(const char *board, const char *topic, const char *event_id, const char *reason,
		    int64_t at_ms);
char *payload_escalation(const char *board, const struct alert_info *a, int64_t at_ms);
char *payload_health(struct daemon *d);
/* The sim backend's lines, buttons and recent sounds (SPEC §10). */
char *payload_sim_state(struct daemon *d);
void payload_free(char *p);
