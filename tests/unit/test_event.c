/* Unit tests for event: what the board accepts from a backend, what it
 * rejects and what reason the backend's operators get back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ack.h"
#include "event.h"

#define KEEP 8 /* events and rejections kept per parse for inspection */

struct rec {
	int accepted;
	struct event ev[KEEP];
	int rejected;
	bool reject_has_id[KEEP];
	char reject_id[KEEP][EVENT_ID_MAX];
	char reason[KEEP][512];
};

static void
on_accept(void *userdata, const struct event *ev)
{
	struct rec *r = userdata;

	if (r->accepted < KEEP)
		r->ev[r->accepted] = *ev;
	r->accepted++;
}

static void
on_reject(void *userdata, const char *event_id, const char *reason)
{
	struct rec *r = userdata;

	assert_non_null(reason);
	assert_true(reason[0] != '\0');
	if (r->rejected < KEEP) {
		r->reject_has_id[r->rejected] = event_id != NULL;
		if (event_id) {
			assert_true(strlen(event_id) < EVENT_ID_MAX);
			strcpy(r->reject_id[r->rejected], event_id);
		}
		assert_true(strlen(reason) < sizeof(r->reason[0]));
		strcpy(r->reason[r->rejected], reason);
	}
	r->rejected++;
}

/* Parses `len` bytes from an exactly sized heap copy without a terminating
 * NUL, as MQTT delivers them, so ASan sees any read past the payload. */
static int
parse_n(struct rec *r, const char *json, size_t len, size_t max)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, json, len);
	memset(r, 0, sizeof(*r));
	rc = event_parse(copy, len, max, on_accept, on_reject, r);
	free(copy);
	/* The return value is what the callbacks saw. */
	if (rc >= 0)
		assert_int_equal(rc, r->accepted);
	else
		assert_int_equal(r->accepted, 0);
	return rc;
}

static int
parse_max(struct rec *r, const char *json, size_t max)
{
	return parse_n(r, json, strlen(json), max);
}

static int
parse(struct rec *r, const char *json)
{
	return parse_max(r, json, EVENT_MAX_PER_MESSAGE);
}

/* Parses one event that must be accepted and returns it. */
static const struct event *
accept_one(struct rec *r, const char *json)
{
	int rc = parse(r, json);

	if (rc != 1)
		fail_msg("expected accept, got rc=%d reason '%s' for %s", rc,
			 r->rejected ? r->reason[0] : "", json);
	assert_int_equal(r->rejected, 0);
	return &r->ev[0];
}

/* Parses one event that must be rejected; checks the reason mentions
 * `needle` and returns the reason. */
static const char *
reject_one(struct rec *r, const char *json, const char *needle)
{
	int rc = parse(r, json);

	if (rc != 0 || r->rejected != 1)
		fail_msg("expected one rejection, got rc=%d rejected=%d for %s", rc, r->rejected,
			 json);
	if (!strstr(r->reason[0], needle))
		fail_msg("reason '%s' does not mention '%s'", r->reason[0], needle);
	return r->reason[0];
}

static bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80             ? 1
			: (*p & 0xe0) == 0xc0 ? 2
			: (*p & 0xf0) == 0xe0 ? 3
			: (*p & 0xf8) == 0xf0 ? 4
					      : 0;

		if (n == 0)
			return false;
		for (int i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
		}
		p += n;
	}
	return true;
}

#define TS    "\"ts\":\"2026-11-25T10:00:00Z\""
#define TS_MS 1795600800000LL

/* --- accepted events ------------------------------------------------------ */

/* With a [priority] rule set the daemon parses with
 * EVENT_PARSE_PRIORITY_OPTIONAL: ticket.created may then omit the priority
 * (and only the priority); without the flag it is still required. */
static void
test_priority_optional_flag(void **state)
{
	static const char json[] = "{\"id\":\"e1\",\"type\":\"ticket.created\","
				   "\"ts\":\"2026-11-25T10:00:00Z\","
				   "\"ticket\":{\"id\":\"T-1\",\"channel\":\"vk\"}}";
	static const char no_channel[] =
		"{\"id\":\"e2\",\"type\":\"ticket.created\","
		"\"ts\":\"2026-11-25T10:00:00Z\",\"ticket\":{\"id\":\"T-2\"}}";
	struct rec r;

	(void)state;
	assert_int_equal(parse(&r, json), 0);
	assert_non_null(strstr(r.reason[0], "ticket.priority: missing"));

	memset(&r, 0, sizeof(r));
	assert_int_equal(event_parse_flags(json, strlen(json), 10, EVENT_PARSE_PRIORITY_OPTIONAL,
					   on_accept, on_reject, &r),
			 1);
	assert_false(r.ev[0].ticket.has_priority);
	assert_false(r.ev[0].ticket.due_from_policy);

	memset(&r, 0, sizeof(r));
	assert_int_equal(event_parse_flags(no_channel, strlen(no_channel), 10,
					   EVENT_PARSE_PRIORITY_OPTIONAL, on_accept, on_reject, &r),
			 0);
	assert_non_null(strstr(r.reason[0], "ticket.channel: missing"));
}

static void
test_spec_example(void **state)
{
	(void)state;
	struct rec r;
	const struct event *ev = accept_one(
		&r,
		"{ \"v\": 1, \"id\": \"evt-7f3a\", \"type\": \"ticket.created\","
		" \"ts\": \"2026-11-25T10:00:00Z\","
		" \"ticket\": { \"id\": \"T-1042\", \"channel\": \"facebook\","
		" \"priority\": \"urgent\", \"public\": true, \"subject\": \"Order never arrived\","
		" \"customer\": \"Ivan P.\", \"queue\": \"social-ru\","
		" \"due\": { \"first_response\": \"2026-11-25T10:05:00Z\","
		" \"resolution\": \"2026-11-25T18:00:00Z\" } } }");

	assert_string_equal(ev->id, "evt-7f3a");
	assert_int_equal(ev->type, EVENT_TICKET_CREATED);
	assert_int_equal(ev->ts_ms, TS_MS);
	assert_true(ev->has_ticket);
	assert_string_equal(ev->ticket.id, "T-1042");
	assert_true(ev->ticket.has_channel);
	assert_int_equal(ev->ticket.channel, CHANNEL_FACEBOOK);
	assert_true(ev->ticket.has_priority);
	assert_int_equal(ev->ticket.priority, PRIORITY_URGENT);
	assert_true(ev->ticket.has_public);
	assert_true(ev->ticket.public);
	assert_true(ev->ticket.has_subject);
	assert_string_equal(ev->ticket.subject, "Order never arrived");
	assert_true(ev->ticket.has_customer);
	assert_string_equal(ev->ticket.customer, "Ivan P.");
	assert_true(ev->ticket.has_queue);
	assert_string_equal(ev->ticket.queue, "social-ru");
	assert_int_equal(ev->ticket.due_ms[SLA_FIRST_RESPONSE], TS_MS + 5 * 60000);
	assert_int_equal(ev->ticket.due_ms[SLA_RESOLUTION], TS_MS + 8 * 3600000);
	assert_string_equal(ev->agent, "");
}

static void
test_every_type_accepted(void **state)
{
	(void)state;
	static const struct {
		const char *type;
		enum event_type t;
		bool ticket;
	} types[] = {
		{ "ticket.created", EVENT_TICKET_CREATED, true },
		{ "ticket.updated", EVENT_TICKET_UPDATED, true },
		{ "ticket.assigned", EVENT_TICKET_ASSIGNED, true },
		{ "ticket.replied", EVENT_TICKET_REPLIED, true },
		{ "ticket.solved", EVENT_TICKET_SOLVED, true },
		{ "ticket.closed", EVENT_TICKET_CLOSED, true },
		{ "sla.warning", EVENT_SLA_WARNING, true },
		{ "sla.breached", EVENT_SLA_BREACHED, true },
		{ "sla.paused", EVENT_SLA_PAUSED, true },
		{ "sla.resumed", EVENT_SLA_RESUMED, true },
		{ "incident.opened", EVENT_INCIDENT_OPENED, false },
		{ "incident.resolved", EVENT_INCIDENT_RESOLVED, false },
		{ "heartbeat", EVENT_HEARTBEAT, false },
	};
	char json[512];
	struct rec r;

	assert_int_equal(sizeof(types) / sizeof(types[0]), EVENT_TYPE_COUNT);
	for (size_t i = 0; i < EVENT_TYPE_COUNT; i++) {
		snprintf(json, sizeof(json),
			 "{\"id\":\"e%zu\",\"type\":\"%s\"," TS ",\"agent\":\"anna\","
			 "\"ticket\":{\"id\":\"T-%zu\",\"channel\":\"vk\",\"priority\":\"low\"}}",
			 i, types[i].type, i);
		const struct event *ev = accept_one(&r, json);
		char want[32];

		assert_int_equal(ev->type, types[i].t);
		assert_int_equal(ev->ts_ms, TS_MS);
		snprintf(want, sizeof(want), "e%zu", i);
		assert_string_equal(ev->id, want);
		assert_int_equal(ev->has_ticket, types[i].ticket);
		if (types[i].ticket) {
			snprintf(want, sizeof(want), "T-%zu", i);
			assert_string_equal(ev->ticket.id, want);
			assert_int_equal(ev->ticket.channel, CHANNEL_VK);
			assert_int_equal(ev->ticket.priority, PRIORITY_LOW);
		} else {
			assert_string_equal(ev->ticket.id, "");
		}
		/* The agent is only carried where it means something. */
		assert_string_equal(ev->agent, types[i].t == EVENT_TICKET_ASSIGNED ? "anna" : "");
	}
}

static void
test_type_specific_fields(void **state)
{
	(void)state;
	struct rec r;
	const struct event *ev;

	ev = accept_one(&r, "{\"id\":\"a\",\"type\":\"sla.breached\"," TS
			    ",\"sla\":\"resolution\",\"ticket\":{\"id\":\"T-1\"}}");
	assert_int_equal(ev->sla, SLA_RESOLUTION);
	ev = accept_one(&r, "{\"id\":\"a\",\"type\":\"sla.warning\"," TS
			    ",\"ticket\":{\"id\":\"T-1\"}}");
	assert_int_equal(ev->sla, SLA_FIRST_RESPONSE);

	ev = accept_one(&r, "{\"id\":\"i1\",\"type\":\"incident.opened\"," TS
			    ",\"incident\":{\"id\":\"INC-7\",\"title\":\"Payments down\"}}");
	assert_string_equal(ev->incident_id, "INC-7");
	assert_string_equal(ev->incident_title, "Payments down");
	ev = accept_one(&r, "{\"id\":\"i2\",\"type\":\"incident.resolved\"," TS "}");
	assert_string_equal(ev->incident_id, "");
	assert_string_equal(ev->incident_title, "");

	ev = accept_one(&r, "{\"id\":\"h\",\"type\":\"heartbeat\"," TS "}");
	assert_int_equal(ev->type, EVENT_HEARTBEAT);
	assert_false(ev->has_ticket);
}

static void
test_update_carries_only_given_fields(void **state)
{
	(void)state;
	struct rec r;
	const struct event *ev = accept_one(
		&r, "{\"id\":\"u\",\"type\":\"ticket.updated\"," TS
		    ",\"ticket\":{\"id\":\"T-1\",\"priority\":\"high\",\"public\":false}}");

	assert_true(ev->ticket.has_priority);
	assert_int_equal(ev->ticket.priority, PRIORITY_HIGH);
	assert_true(ev->ticket.has_public);
	assert_false(ev->ticket.public);
	assert_false(ev->ticket.has_channel);
	assert_false(ev->ticket.has_subject);
	assert_false(ev->ticket.has_customer);
	assert_false(ev->ticket.has_queue);
	assert_int_equal(ev->ticket.due_ms[SLA_FIRST_RESPONSE], 0);
	assert_int_equal(ev->ticket.due_ms[SLA_RESOLUTION], 0);

	/* null means "not given", as many serialisers write it. */
	ev = accept_one(&r, "{\"id\":\"u\",\"type\":\"ticket.updated\"," TS ",\"v\":null,"
			    "\"ticket\":{\"id\":\"T-1\",\"channel\":null,\"subject\":null,"
			    "\"public\":null,\"due\":null}}");
	assert_false(ev->ticket.has_channel);
	assert_false(ev->ticket.has_subject);
	assert_false(ev->ticket.has_public);

	/* An empty subject is a change to empty, not "absent". */
	ev = accept_one(&r, "{\"id\":\"u\",\"type\":\"ticket.updated\"," TS
			    ",\"ticket\":{\"id\":\"T-1\",\"subject\":\"\"}}");
	assert_true(ev->ticket.has_subject);
	assert_string_equal(ev->ticket.subject, "");
}

static void
test_channels_and_priorities(void **state)
{
	(void)state;
	static const char *const channels[] = {
		"facebook", "instagram", "twitter", "vk",  "telegram", "whatsapp",
		"email",    "chat",      "phone",   "web", "other",
	};
	static const char *const priorities[] = { "low", "normal", "high", "urgent" };
	char json[256];
	struct rec r;

	for (int c = 0; c < CHANNEL_COUNT; c++) {
		snprintf(json, sizeof(json),
			 "{\"id\":\"c\",\"type\":\"ticket.updated\"," TS
			 ",\"ticket\":{\"id\":\"T\",\"channel\":\"%s\"}}",
			 channels[c]);
		assert_int_equal(accept_one(&r, json)->ticket.channel, c);
	}
	for (int p = 0; p < PRIORITY_COUNT; p++) {
		snprintf(json, sizeof(json),
			 "{\"id\":\"c\",\"type\":\"ticket.updated\"," TS
			 ",\"ticket\":{\"id\":\"T\",\"priority\":\"%s\"}}",
			 priorities[p]);
		assert_int_equal(accept_one(&r, json)->ticket.priority, p);
	}
	/* X is Twitter. */
	const struct event *ev = accept_one(&r, "{\"id\":\"c\",\"type\":\"ticket.updated\"," TS
						",\"ticket\":{\"id\":\"T\",\"channel\":\"x\"}}");

	assert_int_equal(ev->ticket.channel, CHANNEL_TWITTER);
}

static void
test_assigned_agent(void **state)
{
	(void)state;
	struct rec r;
	const char *reason;

	assert_string_equal(accept_one(&r, "{\"id\":\"a\",\"type\":\"ticket.assigned\"," TS
					   ",\"ticket\":{\"id\":\"T\",\"assignee\":\"boris\"}}")
				    ->agent,
			    "boris");
	/* Top-level agent wins over the ticket's assignee. */
	assert_string_equal(accept_one(&r, "{\"id\":\"a\",\"type\":\"ticket.assigned\"," TS
					   ",\"agent\":\"anna\","
					   "\"ticket\":{\"id\":\"T\",\"assignee\":\"boris\"}}")
				    ->agent,
			    "anna");
	assert_string_equal(accept_one(&r, "{\"id\":\"a\",\"type\":\"ticket.assigned\"," TS
					   ",\"agent\":\"\","
					   "\"ticket\":{\"id\":\"T\",\"assignee\":\"boris\"}}")
				    ->agent,
			    "boris");
	reason = reject_one(
		&r, "{\"id\":\"a\",\"type\":\"ticket.assigned\"," TS ",\"ticket\":{\"id\":\"T\"}}",
		"agent");
	assert_string_equal(r.reject_id[0], "a");
	(void)reason;
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.assigned\"," TS
		   ",\"agent\":\"\",\"ticket\":{\"id\":\"T\",\"assignee\":\"\"}}",
		   "agent");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.assigned\"," TS
		   ",\"agent\":7,\"ticket\":{\"id\":\"T\"}}",
		   "agent: must be a string");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.assigned\"," TS
		   ",\"ticket\":{\"id\":\"T\",\"assignee\":[\"anna\"]}}",
		   "ticket.assignee: must be a string");
}

static void
test_unknown_fields_and_duplicates(void **state)
{
	(void)state;
	struct rec r;
	const struct event *ev = accept_one(&r, "{\"id\":\"f\",\"type\":\"heartbeat\"," TS
						",\"future\":{\"a\":[1,2,{}]},"
						"\"ID\":\"ignored\",\"Type\":7}");

	assert_string_equal(ev->id, "f");
	/* With a duplicated key the first one counts (cJSON's lookup order). */
	ev = accept_one(&r, "{\"id\":\"first\",\"id\":\"second\",\"type\":\"heartbeat\"," TS
			    ",\"type\":\"nonsense\"}");
	assert_string_equal(ev->id, "first");
	assert_int_equal(ev->type, EVENT_HEARTBEAT);
}

/* --- arrays and whole payloads -------------------------------------------- */

static void
test_array_bad_event_between_good_ones(void **state)
{
	(void)state;
	struct rec r;
	int rc = parse(&r,
		       "[{\"id\":\"e1\",\"type\":\"heartbeat\"," TS "},"
		       " {\"id\":\"e2\",\"type\":\"ticket.created\"," TS
		       ",\"ticket\":{\"id\":\"T\",\"channel\":\"myspace\",\"priority\":\"low\"}},"
		       " {\"id\":\"e3\",\"type\":\"heartbeat\"," TS "}]");

	assert_int_equal(rc, 2);
	assert_int_equal(r.accepted, 2);
	assert_string_equal(r.ev[0].id, "e1");
	assert_string_equal(r.ev[1].id, "e3");
	assert_int_equal(r.rejected, 1);
	assert_true(r.reject_has_id[0]);
	assert_string_equal(r.reject_id[0], "e2");
	assert_string_equal(r.reason[0], "ticket.channel: unknown value 'myspace'");
}

static void
test_array_non_objects(void **state)
{
	(void)state;
	struct rec r;
	int rc = parse(&r, "[1, \"x\", null, [], {\"id\":\"ok\",\"type\":\"heartbeat\"," TS "}]");

	assert_int_equal(rc, 1);
	assert_int_equal(r.rejected, 4);
	for (int i = 0; i < 4; i++) {
		assert_false(r.reject_has_id[i]);
		assert_string_equal(r.reason[i], "event must be a JSON object");
	}
}

static void
test_empty_array(void **state)
{
	(void)state;
	struct rec r;

	assert_int_equal(parse(&r, "[]"), 0);
	assert_int_equal(parse(&r, " \r\n\t[ ]\n"), 0);
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.rejected, 0);
}

static void
test_not_json(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",     " ",    "{",          "nul",        "{\"id\":\"a\"",    "{\"id\":\"a\"} x",
		"{}{}", "[1,]", "{'id':'a'}", "\xff\xfe{}", "[\"unterminated]",
	};
	struct rec r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&r, bad[i]), -EINVAL);
		assert_int_equal(r.rejected, 1);
		assert_false(r.reject_has_id[0]);
		assert_string_equal(r.reason[0], "payload is not valid JSON");
	}
	/* A NUL byte after the event is garbage too, not an end marker. */
	assert_int_equal(parse_n(&r, "{\"id\":\"a\"}\0junk", 15, 10), -EINVAL);
	assert_string_equal(r.reason[0], "payload is not valid JSON");
	/* Only the first `len` bytes count: a cut-off payload is not JSON. */
	assert_int_equal(parse_n(&r, "{\"id\":\"a\",\"type\":\"heartbeat\"}", 20, 10), -EINVAL);
	/* NULL payload. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(event_parse(NULL, 0, 10, on_accept, on_reject, &r), -EINVAL);
	assert_int_equal(r.rejected, 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(event_parse(NULL, 5, 10, on_accept, on_reject, &r), -EINVAL);
	assert_int_equal(r.rejected, 1);
	assert_string_equal(r.reason[0], "payload is not valid JSON");
}

static void
test_not_object_or_array(void **state)
{
	(void)state;
	static const char *const bad[] = { "42", "\"ticket.created\"", "null", "true", "-1e400" };
	struct rec r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&r, bad[i]), -EINVAL);
		assert_int_equal(r.rejected, 1);
		assert_false(r.reject_has_id[0]);
		assert_string_equal(r.reason[0], "payload must be a JSON object or array");
	}
	/* Trailing whitespace after a valid event is fine. */
	assert_int_equal(parse(&r, "{\"id\":\"a\",\"type\":\"heartbeat\"," TS "}\r\n "), 1);
}

static void
test_too_many_events(void **state)
{
	(void)state;
	const size_t n = 1001;
	size_t cap = n * 64 + 16, len = 0;
	char *json = malloc(cap);
	struct rec r;

	assert_non_null(json);
	json[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(json + len, cap - len,
					"%s{\"id\":\"e%zu\","
					"\"type\":\"heartbeat\"," TS "}",
					i ? "," : "", i);
	json[len++] = ']';
	assert_true(len < cap);

	assert_int_equal(parse_n(&r, json, len, 1000), 1000);
	assert_int_equal(r.rejected, 1);
	assert_true(r.reject_has_id[0]);
	assert_string_equal(r.reject_id[0], "e1000");
	assert_string_equal(r.reason[0], "too many events in one message (max 1000)");

	/* A smaller cap rejects every event past it, each with its own id. */
	assert_int_equal(parse_n(&r, json, len, 3), 3);
	assert_int_equal(r.rejected, 998);
	assert_string_equal(r.reject_id[0], "e3");
	assert_string_equal(r.reject_id[1], "e4");
	free(json);

	/* Past the cap, an event without a usable id is still rejected. */
	assert_int_equal(parse_max(&r, "[{\"id\":\"a\",\"type\":\"heartbeat\"," TS "},7,{}]", 1),
			 1);
	assert_int_equal(r.rejected, 2);
	assert_false(r.reject_has_id[0]);
	assert_false(r.reject_has_id[1]);

	/* Cap 0: even a single object is over it. */
	assert_int_equal(parse_max(&r, "{\"id\":\"a\",\"type\":\"heartbeat\"," TS "}", 0), 0);
	assert_int_equal(r.rejected, 1);
	assert_string_equal(r.reject_id[0], "a");
	assert_string_equal(r.reason[0], "too many events in one message (max 0)");
}

static void
test_null_callbacks(void **state)
{
	(void)state;
	const char *json = "[{\"id\":\"a\",\"type\":\"heartbeat\"," TS "},{}]";

	assert_int_equal(event_parse(json, strlen(json), 10, NULL, NULL, NULL), 1);
	assert_int_equal(event_parse("x", 1, 10, NULL, NULL, NULL), -EINVAL);
}

/* --- rejected events ------------------------------------------------------ */

static void
test_bad_id(void **state)
{
	(void)state;
	struct rec r;
	char json[512], id[EVENT_ID_MAX + 1];

	reject_one(&r, "{\"type\":\"heartbeat\"," TS "}", "id: missing");
	assert_false(r.reject_has_id[0]);
	reject_one(&r, "{\"id\":null,\"type\":\"heartbeat\"," TS "}", "id: missing");
	assert_false(r.reject_has_id[0]);
	reject_one(&r, "{\"id\":\"\",\"type\":\"heartbeat\"," TS "}", "id: must not be empty");
	assert_false(r.reject_has_id[0]);
	reject_one(&r, "{\"id\":42,\"type\":\"heartbeat\"," TS "}", "id: must be a string");
	assert_false(r.reject_has_id[0]);
	reject_one(&r, "{\"id\":\"a\\u0007b\",\"type\":\"heartbeat\"," TS "}",
		   "id: contains control characters");
	assert_false(r.reject_has_id[0]);
	reject_one(&r, "{\"id\":\"a\xc3\",\"type\":\"heartbeat\"," TS "}", "id: not valid UTF-8");
	assert_false(r.reject_has_id[0]);
	/* An overlong '/' and a UTF-16 surrogate are not UTF-8 either. */
	reject_one(&r, "{\"id\":\"\xc0\xaf\",\"type\":\"heartbeat\"," TS "}",
		   "id: not valid UTF-8");
	reject_one(&r, "{\"id\":\"\xed\xa0\x80\",\"type\":\"heartbeat\"," TS "}",
		   "id: not valid UTF-8");

	/* EVENT_ID_MAX - 1 bytes fit; one more does not. */
	memset(id, 'x', EVENT_ID_MAX - 1);
	id[EVENT_ID_MAX - 1] = '\0';
	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"type\":\"heartbeat\"," TS "}", id);
	assert_string_equal(accept_one(&r, json)->id, id);
	id[EVENT_ID_MAX - 1] = 'x';
	id[EVENT_ID_MAX] = '\0';
	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"type\":\"heartbeat\"," TS "}", id);
	reject_one(&r, json, "id: longer than 127 bytes");
	assert_false(r.reject_has_id[0]);

	/* Non-ASCII ids are fine. */
	assert_string_equal(
		accept_one(&r, "{\"id\":\"событие-1\",\"type\":\"heartbeat\"," TS "}")->id,
		"событие-1");
}

static void
test_bad_type_and_version(void **state)
{
	(void)state;
	struct rec r;

	assert_string_equal(
		reject_one(&r, "{\"id\":\"a\",\"type\":\"ticket.deleted\"," TS "}", "type"),
		"type: unknown value 'ticket.deleted'");
	assert_string_equal(r.reject_id[0], "a");
	reject_one(&r, "{\"id\":\"a\"," TS "}", "type: missing");
	reject_one(&r, "{\"id\":\"a\",\"type\":3," TS "}", "type: must be a string");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"Heartbeat\"," TS "}", "type: unknown value");

	assert_int_equal(
		accept_one(&r, "{\"v\":1.0,\"id\":\"a\",\"type\":\"heartbeat\"," TS "}")->type,
		EVENT_HEARTBEAT);
	assert_string_equal(reject_one(&r, "{\"v\":2,\"id\":\"a\",\"type\":\"heartbeat\"," TS "}",
				       "unsupported version"),
			    "v: unsupported version 2 (only 1 is supported)");
	assert_string_equal(r.reject_id[0], "a");
	reject_one(&r, "{\"v\":1.5,\"id\":\"a\",\"type\":\"heartbeat\"," TS "}",
		   "unsupported version");
	reject_one(&r, "{\"v\":1e999,\"id\":\"a\",\"type\":\"heartbeat\"," TS "}",
		   "unsupported version");
	reject_one(&r, "{\"v\":\"1\",\"id\":\"a\",\"type\":\"heartbeat\"," TS "}",
		   "v: must be the number 1");
}

static void
test_bad_ts(void **state)
{
	(void)state;
	struct rec r;

	reject_one(&r, "{\"id\":\"a\",\"type\":\"heartbeat\"}", "ts: missing");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"heartbeat\",\"ts\":1795600800}",
		   "ts: must be an RFC 3339 timestamp string");
	assert_string_equal(reject_one(&r,
				       "{\"id\":\"a\",\"type\":\"heartbeat\","
				       "\"ts\":\"2026-11-25T10:00:00\"}",
				       "ts:"),
			    "ts: not an RFC 3339 timestamp with a zone: '2026-11-25T10:00:00'");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"heartbeat\",\"ts\":\"2026-02-30T10:00:00Z\"}",
		   "ts:");
	assert_int_equal(accept_one(&r, "{\"id\":\"a\",\"type\":\"heartbeat\","
					"\"ts\":\"2026-11-25T12:00:00.5+02:00\"}")
				 ->ts_ms,
			 TS_MS + 500);
}

static void
test_bad_ticket(void **state)
{
	(void)state;
	struct rec r;

	reject_one(&r, "{\"id\":\"a\",\"type\":\"ticket.solved\"," TS "}",
		   "ticket: missing (required for ticket.solved)");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"sla.paused\"," TS "}", "ticket: missing");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"ticket.solved\"," TS ",\"ticket\":\"T-1\"}",
		   "ticket: must be an object");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"ticket.solved\"," TS ",\"ticket\":{}}",
		   "ticket.id: missing");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"ticket.solved\"," TS ",\"ticket\":{\"id\":1042}}",
		   "ticket.id: must be a string");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"ticket.solved\"," TS ",\"ticket\":{\"id\":\"\"}}",
		   "ticket.id: must not be empty");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.solved\"," TS ",\"ticket\":{\"id\":\"T\\n1\"}}",
		   "ticket.id: contains control characters");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.solved\"," TS
		   ",\"ticket\":{\"id\":\"0123456789012345678901234567890123456789"
		   "012345678901234567890123\"}}",
		   "ticket.id: longer than 63 bytes");
	/* ticket.created must say where and how urgent; an update need not. */
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.created\"," TS
		   ",\"ticket\":{\"id\":\"T\",\"priority\":\"low\"}}",
		   "ticket.channel: missing (required for ticket.created)");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.created\"," TS
		   ",\"ticket\":{\"id\":\"T\",\"channel\":\"web\"}}",
		   "ticket.priority: missing (required for ticket.created)");
}

static void
test_unknown_values(void **state)
{
	(void)state;
	struct rec r;

	assert_string_equal(reject_one(&r,
				       "{\"id\":\"a\",\"type\":\"ticket.updated\"," TS
				       ",\"ticket\":{\"id\":\"T\",\"priority\":\"critical\"}}",
				       "ticket.priority"),
			    "ticket.priority: unknown value 'critical'");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.updated\"," TS
		   ",\"ticket\":{\"id\":\"T\",\"channel\":\"Facebook\"}}",
		   "ticket.channel: unknown value 'Facebook'");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"ticket.updated\"," TS
		   ",\"ticket\":{\"id\":\"T\",\"channel\":\"\"}}",
		   "ticket.channel: unknown value ''");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"sla.warning\"," TS
		   ",\"sla\":\"next_response\",\"ticket\":{\"id\":\"T\"}}",
		   "sla: unknown value 'next_response'");
}

static void
test_echo_is_sanitised(void **state)
{
	(void)state;
	struct rec r;
	/* 60 characters with control characters and a stray byte: the reason
	 * echoes 40 characters, no controls, then "...". */
	const char *reason = reject_one(&r,
					"{\"id\":\"a\",\"type\":\"ticket.updated\"," TS
					",\"ticket\":{\"id\":\"T\","
					"\"channel\":\"my\\u001b[31mspace\\n\xff"
					"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS\"}}",
					"ticket.channel: unknown value");

	assert_string_equal(reason, "ticket.channel: unknown value "
				    "'my?[31mspace??abcdefghijklmnopqrstuvwxyz...'");
	for (const char *p = reason; *p; p++)
		assert_true((unsigned char)*p >= 0x20);

	/* Multi-byte characters count as one and are never split. */
	reason = reject_one(&r,
			    "{\"id\":\"a\",\"type\":\"ticket.updated\"," TS
			    ",\"ticket\":{\"id\":\"T\",\"priority\":\"ééééééééééééééééééééééééé"
			    "éééééééééééééééééééééééééééééé\"}}",
			    "ticket.priority");
	assert_string_equal(reason, "ticket.priority: unknown value "
				    "'éééééééééééééééééééééééééééééééééééééééé...'");
	assert_true(utf8_valid(reason));
}

static void
test_wrong_field_types(void **state)
{
	(void)state;
	static const struct {
		const char *ticket;
		const char *reason;
	} cases[] = {
		{ "\"public\":\"yes\"", "ticket.public: must be true or false" },
		{ "\"public\":1", "ticket.public: must be true or false" },
		{ "\"channel\":3", "ticket.channel: must be a string" },
		{ "\"priority\":[\"urgent\"]", "ticket.priority: must be a string" },
		{ "\"subject\":{}", "ticket.subject: must be a string" },
		{ "\"customer\":false", "ticket.customer: must be a string" },
		{ "\"queue\":12", "ticket.queue: must be a string" },
		{ "\"due\":\"2026-11-25T10:05:00Z\"", "ticket.due: must be an object" },
		{ "\"due\":{\"first_response\":1795601100}",
		  "ticket.due.first_response: must be an RFC 3339 timestamp string" },
	};
	char json[512];
	struct rec r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"id\":\"w%zu\",\"type\":\"ticket.updated\"," TS
			 ",\"ticket\":{\"id\":\"T\",%s}}",
			 i, cases[i].ticket);
		assert_string_equal(reject_one(&r, json, cases[i].reason), cases[i].reason);
		assert_true(r.reject_has_id[0]);
	}
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"sla.warning\"," TS
		   ",\"sla\":1,\"ticket\":{\"id\":\"T\"}}",
		   "sla: must be a string");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"incident.opened\"," TS ",\"incident\":\"big\"}",
		   "incident: must be an object");
	reject_one(&r, "{\"id\":\"a\",\"type\":\"incident.opened\"," TS ",\"incident\":{\"id\":5}}",
		   "incident.id: must be a string");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"incident.opened\"," TS ",\"incident\":{\"id\":\"\"}}",
		   "incident.id: must not be empty");
	reject_one(&r,
		   "{\"id\":\"a\",\"type\":\"incident.opened\"," TS ",\"incident\":{\"title\":[]}}",
		   "incident.title: must be a string");
}

static void
test_due(void **state)
{
	(void)state;
	struct rec r;
	const struct event *ev;

	ev = accept_one(&r, "{\"id\":\"d\",\"type\":\"ticket.updated\"," TS
			    ",\"ticket\":{\"id\":\"T\",\"due\":{\"first_response\":null,"
			    "\"resolution\":\"2026-11-25T20:00:00+02:00\"}}}");
	assert_int_equal(ev->ticket.due_ms[SLA_FIRST_RESPONSE], 0);
	assert_int_equal(ev->ticket.due_ms[SLA_RESOLUTION], TS_MS + 8 * 3600000);

	ev = accept_one(&r, "{\"id\":\"d\",\"type\":\"ticket.updated\"," TS
			    ",\"ticket\":{\"id\":\"T\",\"due\":{\"first_response\":"
			    "\"2026-11-25T10:05:00.750Z\",\"next\":\"whenever\"}}}");
	assert_int_equal(ev->ticket.due_ms[SLA_FIRST_RESPONSE], TS_MS + 300750);
	assert_int_equal(ev->ticket.due_ms[SLA_RESOLUTION], 0);

	ev = accept_one(&r, "{\"id\":\"d\",\"type\":\"ticket.updated\"," TS
			    ",\"ticket\":{\"id\":\"T\",\"due\":{}}}");
	assert_int_equal(ev->ticket.due_ms[SLA_FIRST_RESPONSE], 0);

	assert_string_equal(reject_one(&r,
				       "{\"id\":\"d\",\"type\":\"ticket.updated\"," TS
				       ",\"ticket\":{\"id\":\"T\",\"due\":{\"resolution\":"
				       "\"tomorrow\"}}}",
				       "ticket.due.resolution"),
			    "ticket.due.resolution: not an RFC 3339 timestamp with a zone: "
			    "'tomorrow'");
	reject_one(&r,
		   "{\"id\":\"d\",\"type\":\"ticket.updated\"," TS
		   ",\"ticket\":{\"id\":\"T\",\"due\":{\"first_response\":"
		   "\"2026-11-25T10:05:00\"}}}",
		   "ticket.due.first_response");
}

/* --- display text --------------------------------------------------------- */

static void
test_subject_truncated_at_utf8_boundary(void **state)
{
	(void)state;
	char json[2048], subject[512];
	struct rec r;
	size_t o = 0;
	const struct event *ev;

	/* 'a' then 100 x "€" (3 bytes): 301 bytes into 255. 1 + 84 * 3 = 253
	 * fits, 85 would need 256. */
	subject[o++] = 'a';
	for (int i = 0; i < 100; i++, o += 3)
		memcpy(subject + o, "\xe2\x82\xac", 3);
	subject[o] = '\0';
	snprintf(json, sizeof(json),
		 "{\"id\":\"s\",\"type\":\"ticket.updated\"," TS
		 ",\"ticket\":{\"id\":\"T\",\"subject\":\"%s\",\"customer\":\"%s\"}}",
		 subject, subject + 1);
	ev = accept_one(&r, json);
	assert_int_equal(strlen(ev->ticket.subject), 253);
	assert_true(utf8_valid(ev->ticket.subject));
	assert_memory_equal(ev->ticket.subject, subject, 253);
	/* Without the 'a': 85 x 3 = 255 bytes, exactly full. */
	assert_int_equal(strlen(ev->ticket.customer), 255);
	assert_true(utf8_valid(ev->ticket.customer));

	/* Plain ASCII fills the buffer to the last byte. */
	memset(subject, 'b', 400);
	subject[400] = '\0';
	snprintf(json, sizeof(json),
		 "{\"id\":\"s\",\"type\":\"ticket.updated\"," TS
		 ",\"ticket\":{\"id\":\"T\",\"subject\":\"%s\",\"queue\":\"%s\"}}",
		 subject, subject);
	ev = accept_one(&r, json);
	assert_int_equal(strlen(ev->ticket.subject), EVENT_TEXT_MAX - 1);
	assert_int_equal(strlen(ev->ticket.queue), EVENT_NAME_MAX - 1);
}

static void
test_text_sanitised(void **state)
{
	(void)state;
	struct rec r;
	const struct event *ev = accept_one(
		&r,
		"{\"id\":\"s\",\"type\":\"ticket.updated\"," TS ",\"ticket\":{\"id\":\"T\","
		"\"subject\":\"line1\\nline2\\tx\\u0000hidden\",\"customer\":\"bad\xff\xfe byte\","
		"\"queue\":\"q\\u0085\\u007f\"}}");

	/* Controls become spaces; the \u0000 ends the string in cJSON. */
	assert_string_equal(ev->ticket.subject, "line1 line2 x");
	/* Bytes that are not UTF-8 become '?'. */
	assert_string_equal(ev->ticket.customer, "bad?? byte");
	assert_string_equal(ev->ticket.queue, "q  ");

	ev = accept_one(&r, "{\"id\":\"i\",\"type\":\"incident.opened\"," TS
			    ",\"incident\":{\"title\":\"Оплата\\r\\nне работает 💳\"}}");
	assert_string_equal(ev->incident_title, "Оплата  не работает 💳");
}

/* --- names ---------------------------------------------------------------- */

static void
test_names_round_trip(void **state)
{
	(void)state;
	enum event_type t;
	enum channel c;
	enum priority p;

	for (int i = 0; i < EVENT_TYPE_COUNT; i++) {
		assert_int_equal(event_type_from_name(event_type_name((enum event_type)i), &t), 0);
		assert_int_equal(t, i);
	}
	for (int i = 0; i < CHANNEL_COUNT; i++) {
		assert_int_equal(channel_from_name(channel_name((enum channel)i), &c), 0);
		assert_int_equal(c, i);
	}
	for (int i = 0; i < PRIORITY_COUNT; i++) {
		assert_int_equal(priority_from_name(priority_name((enum priority)i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_string_equal(event_type_name(EVENT_SLA_BREACHED), "sla.breached");
	assert_string_equal(channel_name(CHANNEL_TWITTER), "twitter");
	assert_string_equal(priority_name(PRIORITY_URGENT), "urgent");
	assert_string_equal(sla_kind_name(SLA_FIRST_RESPONSE), "first_response");
	assert_string_equal(sla_kind_name(SLA_RESOLUTION), "resolution");
	assert_int_equal(channel_from_name("x", &c), 0);
	assert_int_equal(c, CHANNEL_TWITTER);

	/* Unknown names and out-of-range values. */
	c = CHANNEL_WEB;
	assert_int_equal(channel_from_name("myspace", &c), -EINVAL);
	assert_int_equal(c, CHANNEL_WEB);
	assert_int_equal(channel_from_name(NULL, &c), -EINVAL);
	assert_int_equal(priority_from_name("URGENT", &p), -EINVAL);
	assert_int_equal(event_type_from_name("", &t), -EINVAL);
	assert_string_equal(event_type_name(EVENT_TYPE_COUNT), "unknown");
	assert_string_equal(channel_name((enum channel) - 1), "unknown");
	assert_string_equal(priority_name(PRIORITY_COUNT), "unknown");
	assert_string_equal(sla_kind_name(SLA_KIND_COUNT), "unknown");
}

static void
test_ack_source_names(void **state)
{
	(void)state;
	static const char *const names[] = { "button", "mqtt", "ctl", "assign" };
	enum ack_source s;

	assert_int_equal(sizeof(names) / sizeof(names[0]), ACK_SOURCE_COUNT);
	for (int i = 0; i < ACK_SOURCE_COUNT; i++) {
		assert_string_equal(ack_source_name((enum ack_source)i), names[i]);
		assert_int_equal(ack_source_from_name(names[i], &s), 0);
		assert_int_equal(s, i);
	}
	s = ACK_SOURCE_CTL;
	assert_int_equal(ack_source_from_name("Button", &s), -EINVAL);
	assert_int_equal(ack_source_from_name("", &s), -EINVAL);
	assert_int_equal(ack_source_from_name(NULL, &s), -EINVAL);
	assert_int_equal(s, ACK_SOURCE_CTL);
	assert_string_equal(ack_source_name(ACK_SOURCE_COUNT), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_every_type_accepted),
		cmocka_unit_test(test_type_specific_fields),
		cmocka_unit_test(test_update_carries_only_given_fields),
		cmocka_unit_test(test_priority_optional_flag),
		cmocka_unit_test(test_channels_and_priorities),
		cmocka_unit_test(test_assigned_agent),
		cmocka_unit_test(test_unknown_fields_and_duplicates),
		cmocka_unit_test(test_array_bad_event_between_good_ones),
		cmocka_unit_test(test_array_non_objects),
		cmocka_unit_test(test_empty_array),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_not_object_or_array),
		cmocka_unit_test(test_too_many_events),
		cmocka_unit_test(test_null_callbacks),
		cmocka_unit_test(test_bad_id),
		cmocka_unit_test(test_bad_type_and_version),
		cmocka_unit_test(test_bad_ts),
		cmocka_unit_test(test_bad_ticket),
		cmocka_unit_test(test_unknown_values),
		cmocka_unit_test(test_echo_is_sanitised),
		cmocka_unit_test(test_wrong_field_types),
		cmocka_unit_test(test_due),
		cmocka_unit_test(test_subject_truncated_at_utf8_boundary),
		cmocka_unit_test(test_text_sanitised),
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_ack_source_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
