/* alerts_foreach_first(): the `max` most urgent open tickets, in exactly the
 * order alerts_foreach() gives them, whatever max is (the status document
 * lists the first 500 of up to 100 000 without sorting them all). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "event.h"
#include "timeutil.h"

#define N_TICKETS 60
#define T0_WALL   1795600000000LL /* 2026-11-25, ms */
#define T0_MONO   (1000 * USEC_PER_SEC)

struct ids {
	char id[N_TICKETS + 10][TICKET_ID_MAX];
	size_t n;
};

struct ctx {
	struct alerts *a;
	struct alerts_now now;
};

static void
on_event(void *userdata, const struct event *ev)
{
	struct ctx *c = userdata;

	assert_true(alerts_apply(c->a, ev, &c->now) >= 0);
}

static void
on_reject(void *userdata, const char *id, const char *reason)
{
	(void)userdata;
	fail_msg("rejected %s: %s", id ? id : "?", reason);
}

static void
collect(void *userdata, const struct alert_info *a)
{
	struct ids *l = userdata;

	assert_true(l->n < N_TICKETS + 10);
	snprintf(l->id[l->n++], TICKET_ID_MAX, "%s", a->ticket_id);
}

static void
send(struct ctx *c, const char *json)
{
	assert_int_equal(event_parse(json, strlen(json), 1, on_event, on_reject, c), 1);
}

static void
test_first_is_prefix_of_full_order(void **state)
{
	static const char *const prio[] = { "low", "normal", "high", "urgent" };
	struct alerts_config cfg = { .warn_at_pct = 80, .chirp_min_priority = PRIORITY_URGENT };
	struct ctx c = { .now = { .mono_usec = T0_MONO, .wall_ms = T0_WALL } };
	char ts[RFC3339_BUF], due[RFC3339_BUF], json[512];
	struct ids all = { 0 }, some;

	(void)state;
	c.a = alerts_new(&cfg, &(struct alerts_effects){ 0 }, NULL, &c.now);
	assert_non_null(c.a);
	rfc3339_format(T0_WALL, ts);
	for (int i = 0; i < N_TICKETS; i++) {
		/* dues in a scrambled order, some tickets without one, mixed
		 * priorities and kinds (a few backend breaches) */
		rfc3339_format(T0_WALL + 3600000 + (int64_t)((i * 37) % N_TICKETS) * 60000, due);
		snprintf(json, sizeof(json),
			 "{\"v\":1,\"id\":\"e%d\",\"type\":\"ticket.created\",\"ts\":\"%s\","
			 "\"ticket\":{\"id\":\"T-%02d\",\"channel\":\"email\",\"priority\":\"%s\"%"
			 "s%s%s}}",
			 i, ts, i, prio[i % 4], i % 5 ? ",\"due\":{\"first_response\":\"" : "",
			 i % 5 ? due : "", i % 5 ? "\"}" : "");
		send(&c, json);
		if (i % 7 == 3) {
			snprintf(json, sizeof(json),
				 "{\"v\":1,\"id\":\"b%d\",\"type\":\"sla.breached\",\"ts\":\"%s\","
				 "\"ticket\":{\"id\":\"T-%02d\"},\"sla\":\"first_response\"}",
				 i, ts, i);
			send(&c, json);
		}
	}
	/* some acked: they sort after every unacked one */
	for (int i = 0; i < N_TICKETS; i += 6) {
		char id[16];

		snprintf(id, sizeof(id), "T-%02d", i);
		assert_int_equal(alerts_ack(c.a, id, "anna", &c.now), 0);
	}
	alerts_foreach(c.a, &c.now, collect, &all);
	assert_int_equal(all.n, N_TICKETS);

	static const size_t maxes[] = { 0, 1, 2, 7, 30, N_TICKETS - 1, N_TICKETS, N_TICKETS + 5 };
	for (size_t k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++) {
		size_t want = maxes[k] < N_TICKETS ? maxes[k] : N_TICKETS;

		memset(&some, 0, sizeof(some));
		assert_int_equal(alerts_foreach_first(c.a, &c.now, maxes[k], collect, &some),
				 N_TICKETS);
		assert_int_equal(some.n, want);
		for (size_t i = 0; i < want; i++)
			assert_string_equal(some.id[i], all.id[i]);
	}
	alerts_free(c.a);
}

static void
test_empty_engine(void **state)
{
	struct alerts_config cfg = { .warn_at_pct = 80 };
	struct alerts_now now = { .mono_usec = T0_MONO, .wall_ms = T0_WALL };
	struct alerts *a = alerts_new(&cfg, &(struct alerts_effects){ 0 }, NULL, &now);
	struct ids some = { 0 };

	(void)state;
	assert_int_equal(alerts_foreach_first(a, &now, 10, collect, &some), 0);
	assert_int_equal(some.n, 0);
	assert_int_equal(alerts_foreach_first(NULL, &now, 10, collect, &some), 0);
	alerts_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_is_prefix_of_full_order),
		cmocka_unit_test(test_empty_engine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
