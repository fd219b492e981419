/* Unit tests for the lamp/buzzer pattern engine: exact levels and wake-up
 * times at every edge, with an injected clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "signals.h"

#define MS  1000ULL
#define SEC 1000000ULL
/* A non-zero, non-round epoch so nothing is accidentally phased from 0. */
#define E (7777 * MS)

/* Output levels as a bit mask: bit n = enum output n. */
static unsigned
levels(struct signals *s, uint64_t t)
{
	bool out[OUTPUT_COUNT];
	unsigned m = 0;

	signals_outputs(s, t, out);
	for (unsigned i = 0; i < OUTPUT_COUNT; i++)
		m |= (unsigned)out[i] << i;
	return m;
}

static bool
on(struct signals *s, enum output o, uint64_t t)
{
	return levels(s, t) & (1u << o);
}

#define RED   (1u << OUTPUT_RED)
#define AMBER (1u << OUTPUT_AMBER)
#define GREEN (1u << OUTPUT_GREEN)
#define BLUE  (1u << OUTPUT_BLUE)
#define BUZ   (1u << OUTPUT_BUZZER)
#define LAMPS (RED | AMBER | GREEN | BLUE)

static int
setup(void **state)
{
	*state = signals_new(E);
	return *state ? 0 : -1;
}

static int
teardown(void **state)
{
	signals_free(*state);
	return 0;
}

/* Brute force: every ms in [from, to) the outputs only change at the
 * instants signals_next_change() announced, and they do change there. */
static void
assert_changes_exact(struct signals *s, uint64_t from, uint64_t to)
{
	uint64_t next = signals_next_change(s, from);
	unsigned prev = levels(s, from);

	for (uint64_t t = from + MS; t < to; t += MS) {
		unsigned cur = levels(s, t);

		if (t < next) {
			assert_int_equal(cur, prev);
		} else {
			assert_int_equal(t, next);
			assert_int_not_equal(cur, prev);
			next = signals_next_change(s, t);
			assert_true(next > t);
		}
		prev = cur;
	}
}

static void
test_slow_edges(void **state)
{
	struct signals *s = *state;

	signals_set_lamp(s, LAMP_RED, PATTERN_SLOW, E);
	assert_true(on(s, OUTPUT_RED, E));
	assert_true(on(s, OUTPUT_RED, E + 499 * MS));
	assert_true(on(s, OUTPUT_RED, E + 500 * MS - 1));
	assert_false(on(s, OUTPUT_RED, E + 500 * MS));
	assert_false(on(s, OUTPUT_RED, E + 999 * MS));
	assert_true(on(s, OUTPUT_RED, E + 1000 * MS));
	assert_int_equal(signals_next_change(s, E), E + 500 * MS);
	assert_int_equal(signals_next_change(s, E + 500 * MS - 1), E + 500 * MS);
	assert_int_equal(signals_next_change(s, E + 500 * MS), E + 1000 * MS);
	assert_int_equal(signals_next_change(s, E + 100 * SEC + 700 * MS), E + 101 * SEC);
	/* only red flashes */
	assert_int_equal(levels(s, E), RED);
	assert_int_equal(levels(s, E + 600 * MS), 0);
}

static void
test_fast_edges(void **state)
{
	struct signals *s = *state;

	signals_set_lamp(s, LAMP_AMBER, PATTERN_FAST, E + 3 * MS);
	assert_true(on(s, OUTPUT_AMBER, E + 124 * MS));
	assert_false(on(s, OUTPUT_AMBER, E + 125 * MS));
	assert_false(on(s, OUTPUT_AMBER, E + 249 * MS));
	assert_true(on(s, OUTPUT_AMBER, E + 250 * MS));
	assert_int_equal(signals_next_change(s, E + 3 * MS), E + 125 * MS);
	assert_int_equal(signals_next_change(s, E + 125 * MS), E + 250 * MS);
	assert_int_equal(signals_lamp(s, LAMP_AMBER), PATTERN_FAST);
}

static void
test_blind_edges(void **state)
{
	struct signals *s = *state;

	signals_set_lamp(s, LAMP_GREEN, PATTERN_BLIND, E);
	assert_true(on(s, OUTPUT_GREEN, E + 149 * MS));
	assert_false(on(s, OUTPUT_GREEN, E + 150 * MS));
	assert_false(on(s, OUTPUT_GREEN, E + 1999 * MS));
	assert_true(on(s, OUTPUT_GREEN, E + 2000 * MS));
	assert_true(on(s, OUTPUT_GREEN, E + 4149 * MS));
	assert_false(on(s, OUTPUT_GREEN, E + 4150 * MS));
	assert_int_equal(signals_next_change(s, E), E + 150 * MS);
	assert_int_equal(signals_next_change(s, E + 150 * MS), E + 2000 * MS);
}

static void
test_steady_never_wakes(void **state)
{
	struct signals *s = *state;

	assert_int_equal(levels(s, E), 0);
	assert_int_equal(signals_next_change(s, E), UINT64_MAX);
	signals_set_lamp(s, LAMP_RED, PATTERN_STEADY, E);
	signals_set_lamp(s, LAMP_GREEN, PATTERN_STEADY, E);
	assert_int_equal(levels(s, E + 12345 * MS), RED | GREEN);
	assert_int_equal(signals_next_change(s, E), UINT64_MAX);
	assert_int_equal(signals_next_change(s, E + 99 * SEC), UINT64_MAX);
	assert_int_equal(signals_sound_now(s, E), SOUND_NONE);
}

static void
test_lamps_in_phase(void **state)
{
	struct signals *s = *state;

	/* set at different, unaligned times: still blink together */
	signals_set_lamp(s, LAMP_RED, PATTERN_SLOW, E + 300 * MS);
	signals_set_lamp(s, LAMP_AMBER, PATTERN_SLOW, E + 733 * MS);
	signals_set_lamp(s, LAMP_BLUE, PATTERN_FAST, E + 901 * MS);
	assert_int_equal(levels(s, E + 1000 * MS), RED | AMBER | BLUE);
	assert_int_equal(levels(s, E + 1125 * MS), RED | AMBER);
	assert_int_equal(levels(s, E + 1250 * MS), RED | AMBER | BLUE);
	assert_int_equal(levels(s, E + 1500 * MS), BLUE);
	assert_int_equal(levels(s, E + 1625 * MS), 0);
	assert_changes_exact(s, E + 901 * MS, E + 5 * SEC);
}

static void
test_alarm_three_beeps_per_10s(void **state)
{
	struct signals *s = *state;
	const uint64_t r = E + 123 * MS; /* phased from when it was set */
	uint64_t t = r, expect[] = { 200, 400, 600, 800, 1000, 10000, 10200 };

	signals_set_repeating(s, SOUND_ALARM, r);
	assert_int_equal(signals_repeating(s), SOUND_ALARM);
	assert_true(on(s, OUTPUT_BUZZER, r));
	assert_true(on(s, OUTPUT_BUZZER, r + 199 * MS));
	assert_false(on(s, OUTPUT_BUZZER, r + 200 * MS));
	assert_true(on(s, OUTPUT_BUZZER, r + 400 * MS));
	assert_true(on(s, OUTPUT_BUZZER, r + 999 * MS));
	assert_false(on(s, OUTPUT_BUZZER, r + 1000 * MS));
	assert_false(on(s, OUTPUT_BUZZER, r + 5 * SEC));
	assert_false(on(s, OUTPUT_BUZZER, r + 10 * SEC - 1));
	assert_true(on(s, OUTPUT_BUZZER, r + 10 * SEC));
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		t = signals_next_change(s, t);
		assert_int_equal(t, r + expect[i] * MS);
	}
	assert_int_equal(signals_sound_now(s, r + 5 * SEC), SOUND_ALARM);
	/* setting it again does not restart the cycle */
	signals_set_repeating(s, SOUND_ALARM, r + 5 * SEC);
	assert_false(on(s, OUTPUT_BUZZER, r + 5 * SEC));
	assert_true(on(s, OUTPUT_BUZZER, r + 10 * SEC));
	/* off: silence and no wake-ups */
	signals_set_repeating(s, SOUND_NONE, r + 10 * SEC + 50 * MS);
	assert_false(on(s, OUTPUT_BUZZER, r + 10 * SEC + 50 * MS));
	assert_int_equal(signals_next_change(s, r + 10 * SEC + 50 * MS), UINT64_MAX);
	assert_int_equal(signals_sound_now(s, r + 11 * SEC), SOUND_NONE);
}

static void
test_escalated_restarts_on_change(void **state)
{
	struct signals *s = *state;
	const uint64_t r = E + 5 * SEC + 30 * MS;

	signals_set_repeating(s, SOUND_ALARM, E);
	signals_set_repeating(s, SOUND_ESCALATED, r);
	assert_true(on(s, OUTPUT_BUZZER, r));
	assert_true(on(s, OUTPUT_BUZZER, r + 499 * MS));
	assert_false(on(s, OUTPUT_BUZZER, r + 500 * MS));
	assert_false(on(s, OUTPUT_BUZZER, r + 749 * MS));
	assert_true(on(s, OUTPUT_BUZZER, r + 750 * MS));
	assert_int_equal(signals_next_change(s, r), r + 500 * MS);
	assert_int_equal(signals_next_change(s, r + 500 * MS), r + 750 * MS);
	assert_int_equal(signals_sound_now(s, r), SOUND_ESCALATED);
	assert_changes_exact(s, r, r + 4 * SEC);
}

static void
test_oneshot_replaces_repeating_then_resumes(void **state)
{
	struct signals *s = *state;
	const uint64_t r = E;

	signals_set_repeating(s, SOUND_ESCALATED, r);
	signals_play(s, SOUND_CHIRP, r + 300 * MS);
	/* chirp 80 ms, then a 100 ms gap in which escalated stays silent */
	assert_true(on(s, OUTPUT_BUZZER, r + 379 * MS));
	assert_false(on(s, OUTPUT_BUZZER, r + 380 * MS));
	assert_false(on(s, OUTPUT_BUZZER, r + 479 * MS));
	assert_int_equal(signals_sound_now(s, r + 300 * MS), SOUND_CHIRP);
	assert_int_equal(signals_sound_now(s, r + 479 * MS), SOUND_CHIRP);
	assert_int_equal(signals_next_change(s, r + 300 * MS), r + 380 * MS);
	assert_int_equal(signals_next_change(s, r + 380 * MS), r + 480 * MS);
	/* escalated resumes on its own cycle (on until 500 ms after it was set) */
	assert_true(on(s, OUTPUT_BUZZER, r + 480 * MS));
	assert_int_equal(signals_sound_now(s, r + 480 * MS), SOUND_ESCALATED);
	assert_int_equal(signals_next_change(s, r + 480 * MS), r + 500 * MS);
	assert_true(on(s, OUTPUT_BUZZER, r + 750 * MS));
	/* the lamps are not affected */
	assert_int_equal(levels(s, r + 300 * MS) & LAMPS, 0);
}

static void
test_incident_tone_masks_alarm(void **state)
{
	struct signals *s = *state;

	signals_set_repeating(s, SOUND_ALARM, E);
	signals_play(s, SOUND_INCIDENT, E + 100 * MS);
	/* alarm's off phases at 200..400 ms are covered by the 2 s tone */
	for (uint64_t t = E + 100 * MS; t < E + 2100 * MS; t += 10 * MS)
		assert_true(on(s, OUTPUT_BUZZER, t));
	assert_int_equal(signals_next_change(s, E + 100 * MS), E + 2100 * MS);
	assert_false(on(s, OUTPUT_BUZZER, E + 2100 * MS));
	/* after the gap: alarm is in its silent part until 10 s */
	assert_int_equal(signals_next_change(s, E + 2100 * MS), E + 10 * SEC);
}

static void
test_oneshots_fifo_with_gaps(void **state)
{
	struct signals *s = *state;
	const uint64_t t = E + 42 * MS;
	/* ack 60 | gap 100 | ack 60 | gap 100 | nack 150 on 100 off 150 on */
	const uint64_t edges[] = { 60, 160, 220, 320, 470, 570, 720 };
	uint64_t now = t;

	signals_play(s, SOUND_ACK, t);
	signals_play(s, SOUND_ACK, t);
	signals_play(s, SOUND_NACK, t + 10 * MS);
	assert_true(on(s, OUTPUT_BUZZER, t));
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		now = signals_next_change(s, now);
		assert_int_equal(now, t + edges[i] * MS);
		assert_int_equal(on(s, OUTPUT_BUZZER, now), i % 2 == 1);
		assert_int_equal(signals_sound_now(s, now), i < 3 ? SOUND_ACK : SOUND_NACK);
	}
	assert_int_equal(signals_next_change(s, now), UINT64_MAX);
	assert_int_equal(signals_sound_now(s, t + 820 * MS), SOUND_NONE);
	/* a sound asked for after the queue drained plays at once */
	signals_play(s, SOUND_WARN, t + 5 * SEC);
	assert_true(on(s, OUTPUT_BUZZER, t + 5 * SEC));
	assert_false(on(s, OUTPUT_BUZZER, t + 5 * SEC + 400 * MS));
}

static void
test_queue_cap(void **state)
{
	struct signals *s = *state;
	unsigned beeps = 0;
	uint64_t now = E;
	bool was_on = false;

	for (int i = 0; i < 10; i++)
		signals_play(s, SOUND_CHIRP, E);
	if (on(s, OUTPUT_BUZZER, now)) {
		beeps++;
		was_on = true;
	}
	while ((now = signals_next_change(s, now)) != UINT64_MAX) {
		bool b = on(s, OUTPUT_BUZZER, now);

		if (b && !was_on)
			beeps++;
		was_on = b;
		assert_true(now < E + 10 * SEC);
	}
	assert_int_equal(beeps, 8);
	/* 8 x (80 + 100) ms later it is all over and new sounds are accepted */
	assert_int_equal(signals_sound_now(s, E + 1440 * MS), SOUND_NONE);
	signals_play(s, SOUND_ACK, E + 1440 * MS);
	assert_int_equal(signals_sound_now(s, E + 1440 * MS), SOUND_ACK);
}

static void
test_stop_sounds(void **state)
{
	struct signals *s = *state;

	signals_play(s, SOUND_WARN, E);
	signals_play(s, SOUND_WARN, E);
	signals_play(s, SOUND_INCIDENT, E);
	signals_stop_sounds(s, E + 200 * MS);
	assert_false(on(s, OUTPUT_BUZZER, E + 200 * MS));
	assert_int_equal(signals_sound_now(s, E + 200 * MS), SOUND_NONE);
	assert_int_equal(signals_next_change(s, E + 200 * MS), UINT64_MAX);

	/* the repeating pattern is the caller's: it carries on */
	signals_set_repeating(s, SOUND_ALARM, E + SEC);
	signals_play(s, SOUND_INCIDENT, E + SEC);
	signals_stop_sounds(s, E + SEC + 450 * MS);
	assert_int_equal(signals_repeating(s), SOUND_ALARM);
	assert_int_equal(signals_sound_now(s, E + SEC + 450 * MS), SOUND_ALARM);
	assert_true(on(s, OUTPUT_BUZZER, E + SEC + 450 * MS));
	assert_int_equal(signals_next_change(s, E + SEC + 450 * MS), E + SEC + 600 * MS);
}

static void
test_lamp_test_restores(void **state)
{
	struct signals *s = *state;
	const uint64_t t = E + 10 * SEC + 600 * MS; /* slow lamps are off here */

	signals_set_lamp(s, LAMP_RED, PATTERN_SLOW, E);
	signals_set_lamp(s, LAMP_AMBER, PATTERN_FAST, E);
	signals_set_lamp(s, LAMP_GREEN, PATTERN_OFF, E);
	signals_set_lamp(s, LAMP_BLUE, PATTERN_STEADY, E);
	signals_set_repeating(s, SOUND_ALARM, t);
	signals_lamp_test(s, 3 * SEC, t);
	for (uint64_t x = t; x < t + 3 * SEC; x += 25 * MS)
		assert_int_equal(levels(s, x) & LAMPS, LAMPS);
	/* the buzzer is untouched */
	assert_true(on(s, OUTPUT_BUZZER, t));
	assert_false(on(s, OUTPUT_BUZZER, t + 200 * MS));
	/* no lamp edges during the test: only the alarm's, then the end */
	assert_int_equal(signals_next_change(s, t + 1000 * MS), t + 3 * SEC);
	/* patterns reported are those set, not the test's */
	assert_int_equal(signals_lamp(s, LAMP_RED), PATTERN_SLOW);
	/* back to the set patterns, in the common phase */
	assert_int_equal(levels(s, t + 3 * SEC) & LAMPS, AMBER | BLUE);
	assert_int_equal(levels(s, t + 3 * SEC + 125 * MS) & LAMPS, BLUE);
	assert_int_equal(levels(s, t + 3 * SEC + 500 * MS) & LAMPS, RED | AMBER | BLUE);
	assert_changes_exact(s, t - 2 * SEC, t + 8 * SEC);
}

static void
test_lamp_test_alone_wakes_once(void **state)
{
	struct signals *s = *state;

	signals_set_lamp(s, LAMP_GREEN, PATTERN_STEADY, E);
	signals_lamp_test(s, 3 * SEC, E + SEC);
	assert_int_equal(levels(s, E + SEC), LAMPS);
	assert_int_equal(signals_next_change(s, E + SEC), E + 4 * SEC);
	assert_int_equal(levels(s, E + 4 * SEC), GREEN);
	assert_int_equal(signals_next_change(s, E + 4 * SEC), UINT64_MAX);
	/* a pattern set during the test shows after it */
	signals_lamp_test(s, 3 * SEC, E + 10 * SEC);
	signals_set_lamp(s, LAMP_GREEN, PATTERN_OFF, E + 11 * SEC);
	assert_int_equal(levels(s, E + 12 * SEC), LAMPS);
	assert_int_equal(levels(s, E + 13 * SEC), 0);
}

static void
test_identify(void **state)
{
	struct signals *s = *state;
	const uint64_t t = E + 2 * SEC + 60 * MS;

	signals_set_lamp(s, LAMP_RED, PATTERN_STEADY, E);
	signals_set_lamp(s, LAMP_GREEN, PATTERN_BLIND, E);
	signals_play(s, SOUND_WARN, t);
	signals_identify(s, 3 * SEC, t);
	/* all four together at 4 Hz, in the common phase */
	assert_int_equal(levels(s, t) & LAMPS, LAMPS);
	assert_int_equal(levels(s, E + 2 * SEC + 125 * MS) & LAMPS, 0);
	assert_int_equal(levels(s, E + 2 * SEC + 250 * MS) & LAMPS, LAMPS);
	assert_int_equal(levels(s, E + 4 * SEC + 900 * MS) & LAMPS, 0);
	/* the queued warn plays regardless */
	assert_true(on(s, OUTPUT_BUZZER, t + 399 * MS));
	assert_false(on(s, OUTPUT_BUZZER, t + 400 * MS));
	/* then back: red steady, green blind (off at this phase) */
	assert_int_equal(levels(s, t + 3 * SEC) & LAMPS, RED);
	assert_int_equal(levels(s, E + 6 * SEC) & LAMPS, RED | GREEN);
	assert_int_equal(signals_lamp(s, LAMP_GREEN), PATTERN_BLIND);
	assert_changes_exact(s, t, t + 6 * SEC);
}

static void
test_outputs_pure(void **state)
{
	struct signals *s = *state;
	unsigned a, b;

	signals_set_lamp(s, LAMP_RED, PATTERN_FAST, E);
	signals_set_repeating(s, SOUND_ESCALATED, E);
	signals_play(s, SOUND_NACK, E + 10 * MS);
	a = levels(s, E + 170 * MS);
	(void)levels(s, E + 900 * MS);
	b = levels(s, E + 170 * MS);
	assert_int_equal(a, b);
	assert_int_equal(levels(s, E + 170 * MS), b);
	assert_int_equal(signals_next_change(s, E + 170 * MS),
			 signals_next_change(s, E + 170 * MS));
	assert_changes_exact(s, E, E + 6 * SEC);
}

static void
test_invalid_requests_ignored(void **state)
{
	struct signals *s = *state;

	signals_set_repeating(s, SOUND_CHIRP, E);
	assert_int_equal(signals_repeating(s), SOUND_NONE);
	signals_set_repeating(s, (enum sound)99, E);
	assert_int_equal(signals_repeating(s), SOUND_NONE);
	signals_play(s, SOUND_ALARM, E);
	signals_play(s, SOUND_NONE, E);
	signals_play(s, (enum sound) - 1, E);
	assert_int_equal(signals_sound_now(s, E), SOUND_NONE);
	assert_int_equal(signals_next_change(s, E), UINT64_MAX);
	signals_set_lamp(s, LAMP_COUNT, PATTERN_STEADY, E);
	signals_set_lamp(s, LAMP_RED, PATTERN_COUNT, E);
	assert_int_equal(levels(s, E), 0);
	assert_int_equal(signals_lamp(s, LAMP_COUNT), PATTERN_OFF);
	signals_free(NULL);
}

static void
test_names(void **state)
{
	static const char *const sounds[] = { "off",       "chirp",    "warn", "alarm",
					      "escalated", "incident", "ack",  "nack" };
	enum sound snd = SOUND_NONE;

	(void)state;
	assert_string_equal(pattern_name(PATTERN_OFF), "off");
	assert_string_equal(pattern_name(PATTERN_STEADY), "steady");
	assert_string_equal(pattern_name(PATTERN_SLOW), "slow");
	assert_string_equal(pattern_name(PATTERN_FAST), "fast");
	assert_string_equal(pattern_name(PATTERN_BLIND), "blind");
	assert_string_equal(output_name(OUTPUT_RED), "red");
	assert_string_equal(output_name(OUTPUT_AMBER), "amber");
	assert_string_equal(output_name(OUTPUT_GREEN), "green");
	assert_string_equal(output_name(OUTPUT_BLUE), "blue");
	assert_string_equal(output_name(OUTPUT_BUZZER), "buzzer");
	for (unsigned i = 0; i < SOUND_COUNT; i++) {
		assert_string_equal(sound_name(i), sounds[i]);
		if (i == SOUND_NONE)
			continue;
		assert_int_equal(sound_from_name(sounds[i], &snd), 0);
		assert_int_equal(snd, i);
	}
	assert_int_equal(sound_from_name("off", &snd), -EINVAL);
	assert_int_equal(sound_from_name("ALARM", &snd), -EINVAL);
	assert_int_equal(sound_from_name("", &snd), -EINVAL);
	assert_int_equal(sound_from_name(NULL, &snd), -EINVAL);
	assert_int_equal(snd, SOUND_NACK);
	assert_string_equal(pattern_name(PATTERN_COUNT), "?");
	assert_string_equal(sound_name(SOUND_COUNT), "?");
	assert_string_equal(output_name(OUTPUT_COUNT), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slow_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blind_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steady_never_wakes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lamps_in_phase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alarm_three_beeps_per_10s, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escalated_restarts_on_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oneshot_replaces_repeating_then_resumes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_incident_tone_masks_alarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oneshots_fifo_with_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_sounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lamp_test_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lamp_test_alone_wakes_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outputs_pure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_requests_ignored, setup, teardown),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
