/* Unit tests for the board-side SLA policy and priorities from content:
 * rule parsing, first-match targets in calendar and business hours, mood
 * keywords in en/ru/pl/da, and what policy_apply() fills (and leaves
 * alone: backend dues, known tickets, the next response). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "caltime.h"
#include "conf.h"
#include "policy.h"

/* The shipped defaults, switched on, in Warsaw. */
static struct policy_config
defaults(void)
{
	struct conf c;
	struct conf_error err;
	struct policy_config p;

	conf_defaults(&c);
	assert_int_equal(conf_set(&c, "sla", "enabled", "true", "", 0, &err), 0);
	assert_int_equal(conf_set(&c, "priority", "enabled", "true", "", 0, &err), 0);
	assert_int_equal(conf_set(&c, "sla", "timezone", "Europe/Warsaw", "", 0, &err), 0);
	assert_int_equal(conf_set(&c, "sla", "holidays", "12-25", "", 0, &err), 0);
	conf_policy(&c, &p);
	return p;
}

static struct event
created(const char *channel, bool public, const char *subject, int64_t ts)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "e1");
	ev.type = EVENT_TICKET_CREATED;
	ev.ts_ms = ts;
	ev.has_ticket = true;
	snprintf(ev.ticket.id, sizeof(ev.ticket.id), "T-1");
	assert_int_equal(channel_from_name(channel, &ev.ticket.channel), 0);
	ev.ticket.has_channel = true;
	ev.ticket.has_public = true;
	ev.ticket.public = public;
	if (subject) {
		snprintf(ev.ticket.subject, sizeof(ev.ticket.subject), "%s", subject);
		ev.ticket.has_subject = true;
	}
	return ev;
}

static void
test_parse(void **state)
{
	struct policy_rules rs;
	char why[200];

	(void)state;
	assert_int_equal(
		policy_parse_rules("urgent high public social 5m, email 2h business, * none", false,
				   &rs, why, sizeof(why)),
		0);
	assert_int_equal(rs.n, 3);
	assert_int_equal(rs.rules[0].priorities, (1u << PRIORITY_URGENT) | (1u << PRIORITY_HIGH));
	assert_int_equal(rs.rules[0].public, 1);
	assert_true(rs.rules[0].channels & (1u << CHANNEL_INSTAGRAM));
	assert_false(rs.rules[0].channels & (1u << CHANNEL_EMAIL));
	assert_int_equal(rs.rules[0].target_ms, 5 * MIN_MS);
	assert_int_equal(rs.rules[1].hours, POLICY_HOURS_BUSINESS);
	assert_true(rs.rules[2].none);
	assert_int_equal(policy_parse_rules("", false, &rs, why, sizeof(why)), 0);
	assert_int_equal(rs.n, 0);
	assert_int_equal(
		policy_parse_rules("public y: urgent, praise: low", true, &rs, why, sizeof(why)),
		-EINVAL);
	assert_non_null(strstr(why, "unknown word 'y'"));
	assert_int_equal(policy_parse_rules("5m", false, &rs, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "matches nothing"));
	assert_int_equal(policy_parse_rules("email 5 minutes", false, &rs, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(policy_parse_rules("negative: urgent, ", true, &rs, why, sizeof(why)),
			 -EINVAL);
	/* a priority word is not a match word in priority rules */
	assert_int_equal(policy_parse_rules("urgent: high", true, &rs, why, sizeof(why)), -EINVAL);
	assert_int_equal(policy_check_words("refund, , scam", why, sizeof(why)), -EINVAL);
	assert_int_equal(policy_check_words("", why, sizeof(why)), 0);
}

static void
test_mood_and_priority(void **state)
{
	struct policy_config p = defaults();

	(void)state;
	assert_int_equal(policy_mood(&p, "My order NEVER ARRIVED"), POLICY_NEGATIVE);
	assert_int_equal(policy_mood(&p, "Заказ НЕ ПРИШЁЛ"), POLICY_NEGATIVE);
	assert_int_equal(policy_mood(&p, "Aplikacja NIE DZIAŁA"), POLICY_NEGATIVE);
	assert_int_equal(policy_mood(&p, "Appen VIRKER IKKE"), POLICY_NEGATIVE);
	assert_int_equal(policy_mood(&p, "FORFÆRDELIG service"), POLICY_NEGATIVE);
	assert_int_equal(policy_mood(&p, "Thanks a lot!"), POLICY_PRAISE);
	assert_int_equal(policy_mood(&p, "СПАСИБО за помощь"), POLICY_PRAISE);
	assert_int_equal(policy_mood(&p, "Wielkie DZIĘKI"), POLICY_PRAISE);
	assert_int_equal(policy_mood(&p, "Tusind TAK"), POLICY_PRAISE);
	assert_int_equal(policy_mood(&p, "Where is my parcel?"), POLICY_NEUTRAL);
	assert_int_equal(policy_mood(&p, ""), POLICY_NEUTRAL);
	/* negative wins over praise in one subject */
	assert_int_equal(policy_mood(&p, "thanks for nothing, refund now"), POLICY_NEGATIVE);

	/* public complaints > negative > public questions > private questions > praise */
	assert_int_equal(policy_priority(&p, CHANNEL_FACEBOOK, true, POLICY_NEGATIVE),
			 PRIORITY_URGENT);
	assert_int_equal(policy_priority(&p, CHANNEL_EMAIL, false, POLICY_NEGATIVE), PRIORITY_HIGH);
	assert_int_equal(policy_priority(&p, CHANNEL_TWITTER, true, POLICY_NEUTRAL), PRIORITY_HIGH);
	assert_int_equal(policy_priority(&p, CHANNEL_TELEGRAM, false, POLICY_NEUTRAL),
			 PRIORITY_NORMAL);
	assert_int_equal(policy_priority(&p, CHANNEL_INSTAGRAM, true, POLICY_PRAISE), PRIORITY_LOW);
}

static void
test_targets(void **state)
{
	struct policy_config p = defaults();
	int64_t mon10 = utc(2026, 11, 23, 9, 0); /* Monday 10:00 in Warsaw */
	int64_t fri17 = utc(2026, 11, 27, 16, 0);

	(void)state;
	assert_int_equal(policy_due(&p, POLICY_FIRST_RESPONSE, CHANNEL_FACEBOOK, PRIORITY_URGENT,
				    true, mon10),
			 mon10 + 5 * MIN_MS);
	assert_int_equal(policy_due(&p, POLICY_FIRST_RESPONSE, CHANNEL_FACEBOOK, PRIORITY_NORMAL,
				    false, mon10),
			 mon10 + 60 * MIN_MS);
	/* calendar hours: a Friday 17:00 urgent DM is due at 17:30 */
	assert_int_equal(
		policy_due(&p, POLICY_FIRST_RESPONSE, CHANNEL_VK, PRIORITY_URGENT, false, fri17),
		fri17 + 30 * MIN_MS);
	/* e-mail counts business hours: Friday 17:00 + 8h = Monday 16:00 */
	assert_int_equal(
		policy_due(&p, POLICY_FIRST_RESPONSE, CHANNEL_EMAIL, PRIORITY_NORMAL, false, fri17),
		utc(2026, 11, 30, 15, 0));
	/* resolution defaults to business hours; urgent overrides with calendar */
	assert_int_equal(
		policy_due(&p, POLICY_RESOLUTION, CHANNEL_EMAIL, PRIORITY_URGENT, false, fri17),
		fri17 + 8 * HOUR_MS);
	assert_int_equal(
		policy_due(&p, POLICY_RESOLUTION, CHANNEL_EMAIL, PRIORITY_HIGH, false, fri17),
		utc(2026, 11, 30, 16, 0));
	/* the holiday (25 Dec, Friday) is skipped: Thu 17:00 + 2h business */
	struct policy_rules rs;
	char why[128];
	assert_int_equal(policy_parse_rules("* 2h business", false, &rs, why, sizeof(why)), 0);
	p.targets[POLICY_NEXT_RESPONSE] = rs;
	assert_int_equal(policy_due(&p, POLICY_NEXT_RESPONSE, CHANNEL_EMAIL, PRIORITY_LOW, false,
				    utc(2026, 12, 24, 16, 0)),
			 utc(2026, 12, 28, 9, 0));
	/* no matching rule, or "none": no due */
	assert_int_equal(policy_parse_rules("email none, chat 5m", false, &rs, why, sizeof(why)),
			 0);
	p.targets[POLICY_NEXT_RESPONSE] = rs;
	assert_int_equal(
		policy_due(&p, POLICY_NEXT_RESPONSE, CHANNEL_EMAIL, PRIORITY_LOW, false, mon10), 0);
	assert_int_equal(
		policy_due(&p, POLICY_NEXT_RESPONSE, CHANNEL_PHONE, PRIORITY_LOW, false, mon10), 0);
}

static void
test_apply(void **state)
{
	struct policy_config p = defaults();
	int64_t ts = utc(2026, 11, 23, 9, 0);
	struct policy_ticket none = { 0 };
	struct event ev = created("facebook", true, "Order never arrived", ts);

	(void)state;
	/* a new public complaint without priority or dues gets both */
	assert_int_equal(policy_apply(&p, &ev, &none), POLICY_FILLED_PRIORITY | POLICY_FILLED_DUE);
	assert_true(ev.ticket.has_priority);
	assert_int_equal(ev.ticket.priority, PRIORITY_URGENT);
	assert_int_equal(ev.ticket.due_ms[SLA_FIRST_RESPONSE], ts + 5 * MIN_MS);
	assert_int_equal(ev.ticket.due_ms[SLA_RESOLUTION], ts + 8 * HOUR_MS);
	assert_true(ev.ticket.due_from_policy);

	/* backend dues win: nothing is added, not even the other kind */
	ev = created("facebook", true, "Order never arrived", ts);
	ev.ticket.due_ms[SLA_RESOLUTION] = ts + 48 * HOUR_MS;
	assert_int_equal(policy_apply(&p, &ev, &none), POLICY_FILLED_PRIORITY);
	assert_int_equal(ev.ticket.due_ms[SLA_FIRST_RESPONSE], 0);
	assert_false(ev.ticket.due_from_policy);

	/* the backend's priority is kept, the target follows it */
	ev = created("facebook", true, "Order never arrived", ts);
	ev.ticket.has_priority = true;
	ev.ticket.priority = PRIORITY_LOW;
	assert_int_equal(policy_apply(&p, &ev, &none), POLICY_FILLED_DUE);
	assert_int_equal(ev.ticket.priority, PRIORITY_LOW);
	assert_int_equal(ev.ticket.due_ms[SLA_FIRST_RESPONSE], ts + 30 * MIN_MS);

	/* switched off: nothing */
	struct policy_config off = p;
	off.sla_enabled = off.priority_enabled = false;
	ev = created("facebook", true, "Order never arrived", ts);
	assert_int_equal(policy_apply(&off, &ev, &none), 0);
	assert_false(ev.ticket.has_priority);

	/* a known ticket: an update is not a new ticket */
	struct policy_ticket known = { .known = true,
				       .due_policy = true,
				       .created_ms = ts,
				       .channel = CHANNEL_FACEBOOK,
				       .priority = PRIORITY_URGENT,
				       .public = true };
	ev = created("facebook", true, "Order never arrived", ts + MIN_MS);
	ev.type = EVENT_TICKET_UPDATED;
	assert_int_equal(policy_apply(&p, &ev, &known), 0);
	assert_int_equal(ev.ticket.due_ms[SLA_FIRST_RESPONSE], 0);

	/* after a reply, the customer writing again: next response due */
	known.responded = true;
	ev = created("facebook", true, "still nothing", ts + HOUR_MS);
	ev.type = EVENT_TICKET_UPDATED;
	ev.ticket.has_channel = ev.ticket.has_public = false;
	assert_int_equal(policy_apply(&p, &ev, &known), POLICY_FILLED_NEXT);
	assert_int_equal(ev.ticket.due_ms[SLA_FIRST_RESPONSE], ts + HOUR_MS + 30 * MIN_MS);
	assert_int_equal(ev.ticket.due_ms[SLA_RESOLUTION], 0);
	assert_true(ev.ticket.due_from_policy);

	/* ... but not on a ticket whose dues the backend set */
	known.due_policy = false;
	ev = created("facebook", true, "still nothing", ts + HOUR_MS);
	ev.type = EVENT_TICKET_UPDATED;
	assert_int_equal(policy_apply(&p, &ev, &known), 0);

	/* events that cannot open a ticket get nothing */
	ev = created("facebook", true, "x", ts);
	ev.type = EVENT_TICKET_REPLIED;
	assert_int_equal(policy_apply(&p, &ev, &none), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_mood_and_priority),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_apply),
	};

	return cmocka_run_group_tests(tests, need_tzdata, NULL);
}
