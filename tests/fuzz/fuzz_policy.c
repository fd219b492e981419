/* libFuzzer target for the board-side SLA policy and priority rules on
 * hostile events: the input is an MQTT payload, parsed as the daemon does
 * with priority optional, and every accepted event goes through
 * policy_apply() as a new ticket and as a known, replied ticket. The
 * subject's keyword matching (case folding of arbitrary UTF-8) and the
 * business-hours walk run on whatever the peer sent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "event.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct policy_config policy;
static bool ready;

static void
setup(void)
{
	struct conf c;
	struct conf_error err;

	conf_defaults(&c);
	if (conf_set(&c, "sla", "enabled", "true", "", 0, &err) < 0 ||
	    conf_set(&c, "priority", "enabled", "true", "", 0, &err) < 0 ||
	    conf_set(&c, "sla", "timezone", "Europe/Warsaw", "", 0, &err) < 0 ||
	    conf_set(&c, "sla", "holidays", "2026-12-24, 12-25, 01-01", "", 0, &err) < 0)
		abort();
	conf_policy(&c, &policy);
	ready = true;
}

static void
check(const struct event *before, const struct event *after, unsigned filled)
{
	for (int s = 0; s < SLA_KIND_COUNT; s++) {
		int64_t due = after->ticket.due_ms[s];

		if (before->ticket.due_ms[s] && due != before->ticket.due_ms[s])
			abort(); /* backend dues are never changed */
		if (!before->ticket.due_ms[s] && due &&
		    (due <= after->ts_ms || due >= EVENT_TS_END_MS))
			abort();
	}
	if (after->ticket.has_priority && (unsigned)after->ticket.priority >= PRIORITY_COUNT)
		abort();
	if ((filled & POLICY_FILLED_PRIORITY) && before->ticket.has_priority)
		abort(); /* a backend priority is never replaced */
}

static void
on_accept(void *userdata, const struct event *ev)
{
	struct policy_ticket fresh = { 0 };
	struct policy_ticket known = { .known = true,
				       .responded = true,
				       .due_policy = true,
				       .created_ms = ev->ts_ms,
				       .channel = CHANNEL_FACEBOOK,
				       .priority = PRIORITY_URGENT,
				       .public = true };
	struct event e;
	unsigned filled;

	(void)userdata;
	e = *ev;
	filled = policy_apply(&policy, &e, &fresh);
	check(ev, &e, filled);
	e = *ev;
	filled = policy_apply(&policy, &e, &known);
	check(ev, &e, filled);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		setup();
	event_parse_flags(data, size, 64, EVENT_PARSE_PRIORITY_OPTIONAL, on_accept, NULL, NULL);
	return 0;
}
