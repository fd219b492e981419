/* event: the backend's events (SPEC §2), parsed and validated.
 *
 * Pure: no I/O. A payload is one JSON event or an array of them; each event
 * is validated on its own, so a bad event never costs the good ones next to
 * it. Parsed events are plain C structs; no JSON escapes this module.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_ID_MAX          128 /* bytes incl. NUL */
#define TICKET_ID_MAX         64
#define EVENT_TEXT_MAX        256 /* subject, customer, title */
#define EVENT_NAME_MAX        64  /* queue, agent */
#define EVENT_MAX_PER_MESSAGE 1000
/* An event's ts must lie in [EVENT_TS_MIN_MS, EVENT_TS_END_MS): 2000..2099. */
#define EVENT_TS_MIN_MS INT64_C(946684800000)
#define EVENT_TS_END_MS INT64_C(4102444800000)

enum event_type {
	EVENT_TICKET_CREATED,
	EVENT_TICKET_UPDATED,
	EVENT_TICKET_ASSIGNED,
	EVENT_TICKET_REPLIED,
	EVENT_TICKET_SOLVED,
	EVENT_TICKET_CLOSED,
	EVENT_SLA_WARNING,
	EVENT_SLA_BREACHED,
	EVENT_SLA_PAUSED,
	EVENT_SLA_RESUMED,
	EVENT_INCIDENT_OPENED,
	EVENT_INCIDENT_RESOLVED,
	EVENT_HEARTBEAT,
	EVENT_TYPE_COUNT
};

enum channel {
	CHANNEL_FACEBOOK,
	CHANNEL_INSTAGRAM,
	CHANNEL_TWITTER,
	CHANNEL_VK,
	CHANNEL_TELEGRAM,
	CHANNEL_WHATSAPP,
	CHANNEL_EMAIL,
	CHANNEL_CHAT,
	CHANNEL_PHONE,
	CHANNEL_WEB,
	CHANNEL_OTHER,
	CHANNEL_COUNT
};

/* Ordered: a higher value is more urgent. */
enum priority { PRIORITY_LOW, PRIORITY_NORMAL, PRIORITY_HIGH, PRIORITY_URGENT, PRIORITY_COUNT };

/* Which SLA an sla.* event is about ("sla" field; default first_response). */
enum sla_kind { SLA_FIRST_RESPONSE, SLA_RESOLUTION, SLA_KIND_COUNT };

/* Ticket fields carried by ticket.* and sla.* events. A field the event did
 * not carry has its has_* flag false (ticket.updated changes only those). */
struct event_ticket {
	char id[TICKET_ID_MAX];
	bool has_channel, has_priority, has_public, has_subject, has_customer, has_queue;
	enum channel channel;
	enum priority priority;
	bool public;
	char subject[EVENT_TEXT_MAX];
	char customer[EVENT_TEXT_MAX];
	char queue[EVENT_NAME_MAX];
	int64_t due_ms[SLA_KIND_COUNT]; /* wall ms; 0 = not given */
	bool due_from_policy;           /* due_ms set by the board's SLA policy */
};

struct event {
	char id[EVENT_ID_MAX];
	enum event_type type;
	int64_t ts_ms;   /* backend's wall clock, ms since epoch */
	bool has_ticket; /* true for ticket.* and sla.* */
	struct event_ticket ticket;
	enum sla_kind sla;                   /* sla.* events */
	char agent[EVENT_NAME_MAX];          /* ticket.assigned: "agent" (or ticket.assignee) */
	char incident_id[TICKET_ID_MAX];     /* incident.*: incident.id */
	char incident_title[EVENT_TEXT_MAX]; /* incident.*: incident.title */
};

/* Called once per valid event; `ev` is valid until the callback returns. */
typedef void (*event_accept_fn)(void *userdata, const struct event *ev);
/* Called once per rejected event (or once for a payload that is not JSON at
 * all). `event_id` is NULL when the event had no usable id; `reason` is a
 * short English sentence naming the field, e.g. "ticket.channel: unknown
 * value 'myspace'". */
typedef void (*event_reject_fn)(void *userdata, const char *event_id, const char *reason);

/* Parses one MQTT payload (not NUL-terminated) holding one event object or an
 * array of them. At most `max_events` events are looked at; the rest are
 * rejected with a reason. Returns the number of accepted events, or -EINVAL
 * when the payload as a whole is unusable (the reject callback was called). */
int event_parse(const void *payload, size_t len, size_t max_events, event_accept_fn on_accept,
		event_reject_fn on_reject, void *userdata);

/* event_parse_flags() flags. */
#define EVENT_PARSE_PRIORITY_OPTIONAL                                                              \
	1u /* ticket.created may omit priority                                                     \
	      (a [priority] rule set fills it) */

/* event_parse() with flags (0: as event_parse). */
int event_parse_flags(const void *payload, size_t len, size_t max_events, unsigned flags,
		      event_accept_fn on_accept, event_reject_fn on_reject, void *userdata);

/* Names as on the wire ("ticket.created", "facebook", "urgent",
 * "first_response"), and back. *_from_name return -EINVAL if unknown. */
const char *event_type_name(enum event_type t);
const char *channel_name(enum channel c);
const char *priority_name(enum priority p);
const char *sla_kind_name(enum sla_kind k);
int event_type_from_name(const char *s, enum event_type *out);
int channel_from_name(const char *s, enum channel *out);
int priority_from_name(const char *s, enum priority *out);
