/* Unit tests for button debounce and gestures, with an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buttons.h"

#define MS  1000ULL
#define SEC 1000000ULL
#define T0  (1000 * SEC)

#define MAX_SEEN 64

struct seen {
	unsigned n;
	struct {
		unsigned button;
		enum gesture g;
		uint64_t at;
	} e[MAX_SEEN];
};

struct fixture {
	struct buttons *b;
	struct seen seen;
};

static void
on_gesture(void *userdata, unsigned button, enum gesture g, uint64_t at)
{
	struct seen *s = userdata;

	assert_true(s->n < MAX_SEEN);
	s->e[s->n].button = button;
	s->e[s->n].g = g;
	s->e[s->n].at = at;
	s->n++;
}

static const struct buttons_config default_cfg = {
	.debounce_usec = 30 * MS,
	.long_press_usec = 1500 * MS,
	.double_press_usec = 400 * MS,
	.hold_usec = 10 * SEC,
	.stuck_usec = 60 * SEC,
};

static int
setup_n(void **state, unsigned count, const struct buttons_config *cfg)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->b = buttons_new(count, cfg, on_gesture, &f->seen);
	if (!f->b) {
		test_free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_n(state, 1, &default_cfg);
}

static int
setup_two(void **state)
{
	return setup_n(state, 2, &default_cfg);
}

static int
setup_raw(void **state)
{
	struct buttons_config cfg = default_cfg;

	cfg.debounce_usec = 0;
	return setup_n(state, 1, &cfg);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	buttons_free(f->b);
	test_free(f);
	return 0;
}

static void
expect_seen(const struct seen *s, unsigned i, unsigned button, enum gesture g, uint64_t at)
{
	assert_true(i < s->n);
	assert_int_equal(s->e[i].button, button);
	assert_string_equal(gesture_name(s->e[i].g), gesture_name(g));
	assert_int_equal(s->e[i].at, at);
}

/* 31 edges 0.9 ms apart (27 ms, inside the 30 ms debounce), ending at
 * `final`; returns the time of the last edge. */
static uint64_t
chatter(struct buttons *b, unsigned button, bool final, uint64_t from)
{
	uint64_t t = from;

	for (int i = 0; i < 31; i++) {
		t = from + (uint64_t)i * 900;
		buttons_edge(b, button, i % 2 == 0 ? final : !final, t);
	}
	return t;
}

static void
test_chattering_press_is_one_short(void **state)
{
	struct fixture *f = *state;
	uint64_t last, pressed_at, rel_last, released_at;

	last = chatter(f->b, 0, true, T0);
	/* nothing counts until the contact has been still for 30 ms */
	assert_false(buttons_pressed(f->b, 0));
	assert_int_equal(buttons_next_deadline(f->b), last + 30 * MS);
	buttons_tick(f->b, last + 30 * MS - 1);
	assert_false(buttons_pressed(f->b, 0));
	pressed_at = last + 30 * MS;
	buttons_tick(f->b, pressed_at);
	assert_true(buttons_pressed(f->b, 0));
	assert_int_equal(f->seen.n, 0);

	rel_last = chatter(f->b, 0, false, pressed_at + 200 * MS);
	released_at = rel_last + 30 * MS;
	buttons_tick(f->b, released_at);
	assert_false(buttons_pressed(f->b, 0));
	assert_int_equal(f->seen.n, 0);
	/* SHORT once the double-press window has closed */
	assert_int_equal(buttons_next_deadline(f->b), released_at + 400 * MS);
	buttons_tick(f->b, released_at + 400 * MS - 1);
	assert_int_equal(f->seen.n, 0);
	buttons_tick(f->b, released_at + 5 * SEC);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_SHORT, released_at + 400 * MS);
	assert_int_equal(buttons_next_deadline(f->b), UINT64_MAX);
}

static void
test_chatter_back_to_rest_is_nothing(void **state)
{
	struct fixture *f = *state;

	/* ends released, where it started */
	chatter(f->b, 0, false, T0);
	buttons_tick(f->b, T0 + 10 * SEC);
	assert_false(buttons_pressed(f->b, 0));
	assert_int_equal(f->seen.n, 0);
	assert_int_equal(buttons_next_deadline(f->b), UINT64_MAX);
}

/* A profile's per-button debounce overrides [buttons] debounce for that
 * button only. */
static void
test_per_button_debounce(void **state)
{
	struct fixture *f = *state;

	buttons_set_debounce(f->b, 1, 80 * MS);
	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 1, true, T0);
	buttons_tick(f->b, T0 + 30 * MS);
	assert_true(buttons_pressed(f->b, 0));
	assert_false(buttons_pressed(f->b, 1));
	assert_int_equal(buttons_next_deadline(f->b), T0 + 80 * MS);
	buttons_tick(f->b, T0 + 80 * MS);
	assert_true(buttons_pressed(f->b, 1));
}

static void
test_long_fires_while_held_no_short(void **state)
{
	struct fixture *f = *state;
	const uint64_t down = T0 + 30 * MS; /* debounced press time */

	buttons_edge(f->b, 0, true, T0);
	buttons_tick(f->b, down);
	assert_int_equal(buttons_next_deadline(f->b), down + 1500 * MS);
	buttons_tick(f->b, down + 1500 * MS - 1);
	assert_int_equal(f->seen.n, 0);
	buttons_tick(f->b, down + 1500 * MS);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_LONG, down + 1500 * MS);
	/* still held: next is HOLD */
	assert_int_equal(buttons_next_deadline(f->b), down + 10 * SEC);
	buttons_edge(f->b, 0, false, T0 + 2 * SEC);
	buttons_tick(f->b, T0 + 30 * SEC);
	assert_int_equal(f->seen.n, 1);
	assert_false(buttons_pressed(f->b, 0));
}

static void
test_long_exactly_at_threshold(void **state)
{
	struct fixture *f = *state;

	/* released (debounced) exactly long_press after the press: held >= long */
	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 0, false, T0 + 1500 * MS);
	buttons_tick(f->b, T0 + 10 * SEC);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_LONG, T0 + 1530 * MS);
}

static void
test_late_tick_reports_recognition_time(void **state)
{
	struct fixture *f = *state;

	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 0, false, T0 + 100 * MS);
	/* the loop was busy: one tick much later still dates it correctly */
	buttons_tick(f->b, T0 + 7 * SEC);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_SHORT, T0 + 130 * MS + 400 * MS);
}

static void
test_double_press(void **state)
{
	struct fixture *f = *state;

	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 0, false, T0 + 100 * MS);
	buttons_edge(f->b, 0, true, T0 + 300 * MS);
	/* fires on the second press (debounced), not on its release */
	buttons_tick(f->b, T0 + 330 * MS - 1);
	assert_int_equal(f->seen.n, 0);
	buttons_tick(f->b, T0 + 330 * MS);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_DOUBLE, T0 + 330 * MS);
	buttons_edge(f->b, 0, false, T0 + 400 * MS);
	buttons_tick(f->b, T0 + 5 * SEC);
	assert_int_equal(f->seen.n, 1);
	/* the next press starts afresh */
	buttons_edge(f->b, 0, true, T0 + 6 * SEC);
	buttons_edge(f->b, 0, false, T0 + 6 * SEC + 100 * MS);
	buttons_tick(f->b, T0 + 7 * SEC);
	assert_int_equal(f->seen.n, 2);
	expect_seen(&f->seen, 1, 0, GESTURE_SHORT, T0 + 6 * SEC + 530 * MS);
}

static void
test_double_window_boundary(void **state)
{
	struct fixture *f = *state;

	/* kernel-debounced edges: timing is exactly the edge times */
	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 0, false, T0 + 100 * MS);
	buttons_edge(f->b, 0, true, T0 + 500 * MS - 1); /* 399.999 ms later */
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_DOUBLE, T0 + 500 * MS - 1);
	buttons_edge(f->b, 0, false, T0 + 600 * MS);

	buttons_edge(f->b, 0, true, T0 + 2 * SEC);
	buttons_edge(f->b, 0, false, T0 + 2 * SEC + 100 * MS);
	buttons_edge(f->b, 0, true, T0 + 2 * SEC + 500 * MS); /* exactly 400 ms */
	assert_int_equal(f->seen.n, 2);
	expect_seen(&f->seen, 1, 0, GESTURE_SHORT, T0 + 2 * SEC + 500 * MS);
	buttons_edge(f->b, 0, false, T0 + 2 * SEC + 600 * MS);
	buttons_tick(f->b, T0 + 3 * SEC);
	assert_int_equal(f->seen.n, 3);
	expect_seen(&f->seen, 2, 0, GESTURE_SHORT, T0 + 3 * SEC);
}

static void
test_edge_runs_due_deadlines_first(void **state)
{
	struct fixture *f = *state;

	/* no tick between: the SHORT is due before the next press arrives */
	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 0, false, T0 + 100 * MS);
	buttons_edge(f->b, 0, true, T0 + 900 * MS);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_SHORT, T0 + 500 * MS);
	assert_true(buttons_pressed(f->b, 0));
}

static void
test_double_then_held_only_stuck(void **state)
{
	struct fixture *f = *state;

	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 0, false, T0 + 100 * MS);
	buttons_edge(f->b, 0, true, T0 + 200 * MS);
	buttons_tick(f->b, T0 + 59 * SEC);
	/* no LONG or HOLD after a DOUBLE */
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_DOUBLE, T0 + 200 * MS);
	/* but a jammed button is still a fault */
	buttons_tick(f->b, T0 + 61 * SEC);
	assert_int_equal(f->seen.n, 2);
	expect_seen(&f->seen, 1, 0, GESTURE_STUCK, T0 + 60 * SEC + 200 * MS);
}

static void
test_hold_ten_seconds(void **state)
{
	struct fixture *f = *state;

	buttons_edge(f->b, 0, true, T0);
	buttons_tick(f->b, T0 + 10 * SEC);
	assert_int_equal(f->seen.n, 1);
	buttons_tick(f->b, T0 + 10 * SEC + 30 * MS);
	assert_int_equal(f->seen.n, 2);
	expect_seen(&f->seen, 0, 0, GESTURE_LONG, T0 + 1530 * MS);
	expect_seen(&f->seen, 1, 0, GESTURE_HOLD, T0 + 10 * SEC + 30 * MS);
	assert_int_equal(buttons_next_deadline(f->b), T0 + 60 * SEC + 30 * MS);
	buttons_edge(f->b, 0, false, T0 + 12 * SEC);
	buttons_tick(f->b, T0 + 20 * SEC);
	assert_int_equal(f->seen.n, 2);
	assert_int_equal(buttons_next_deadline(f->b), UINT64_MAX);
}

static void
test_stuck_then_ignored_then_released(void **state)
{
	struct fixture *f = *state;
	const uint64_t down = T0 + 30 * MS;

	buttons_edge(f->b, 0, true, T0);
	buttons_tick(f->b, down + 60 * SEC);
	assert_int_equal(f->seen.n, 3);
	expect_seen(&f->seen, 0, 0, GESTURE_LONG, down + 1500 * MS);
	expect_seen(&f->seen, 1, 0, GESTURE_HOLD, down + 10 * SEC);
	expect_seen(&f->seen, 2, 0, GESTURE_STUCK, down + 60 * SEC);
	assert_true(buttons_stuck(f->b, 0));
	assert_int_equal(buttons_next_deadline(f->b), UINT64_MAX);
	/* ignored while stuck: a bounce that settles pressed again is nothing */
	buttons_edge(f->b, 0, false, T0 + 70 * SEC);
	buttons_edge(f->b, 0, true, T0 + 70 * SEC + 5 * MS);
	buttons_tick(f->b, T0 + 200 * SEC);
	assert_int_equal(f->seen.n, 3);
	assert_true(buttons_stuck(f->b, 0));
	/* released: STUCK_RELEASED and nothing else (no SHORT, no DOUBLE) */
	buttons_edge(f->b, 0, false, T0 + 300 * SEC);
	buttons_tick(f->b, T0 + 400 * SEC);
	assert_int_equal(f->seen.n, 4);
	expect_seen(&f->seen, 3, 0, GESTURE_STUCK_RELEASED, T0 + 300 * SEC + 30 * MS);
	assert_false(buttons_stuck(f->b, 0));
	/* healthy again */
	buttons_edge(f->b, 0, true, T0 + 401 * SEC);
	buttons_edge(f->b, 0, false, T0 + 401 * SEC + 100 * MS);
	buttons_tick(f->b, T0 + 402 * SEC);
	assert_int_equal(f->seen.n, 5);
	expect_seen(&f->seen, 4, 0, GESTURE_SHORT, T0 + 401 * SEC + 530 * MS);
}

static void
test_two_buttons_independent(void **state)
{
	struct fixture *f = *state;

	/* button 0 held long; button 1 double-pressed meanwhile */
	buttons_edge(f->b, 0, true, T0);
	buttons_edge(f->b, 1, true, T0 + 100 * MS);
	buttons_edge(f->b, 1, false, T0 + 200 * MS);
	buttons_edge(f->b, 1, true, T0 + 300 * MS);
	buttons_edge(f->b, 1, false, T0 + 400 * MS);
	assert_true(buttons_pressed(f->b, 0));
	/* button 1 released at 430 ms, button 0 still held */
	buttons_tick(f->b, T0 + 450 * MS);
	assert_false(buttons_pressed(f->b, 1));
	assert_true(buttons_pressed(f->b, 0));
	/* a single late tick delivers both, in time order */
	buttons_tick(f->b, T0 + 3 * SEC);
	assert_int_equal(f->seen.n, 2);
	expect_seen(&f->seen, 0, 1, GESTURE_DOUBLE, T0 + 330 * MS);
	expect_seen(&f->seen, 1, 0, GESTURE_LONG, T0 + 1530 * MS);
	/* button 1 short presses do not disturb button 0's HOLD */
	buttons_edge(f->b, 1, true, T0 + 4 * SEC);
	buttons_edge(f->b, 1, false, T0 + 4 * SEC + 50 * MS);
	assert_int_equal(buttons_next_deadline(f->b), T0 + 4 * SEC + 80 * MS);
	buttons_tick(f->b, T0 + 11 * SEC);
	assert_int_equal(f->seen.n, 4);
	expect_seen(&f->seen, 2, 1, GESTURE_SHORT, T0 + 4 * SEC + 480 * MS);
	expect_seen(&f->seen, 3, 0, GESTURE_HOLD, T0 + 10 * SEC + 30 * MS);
}

static void
test_next_deadline(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(buttons_next_deadline(f->b), UINT64_MAX);
	buttons_edge(f->b, 1, true, T0);
	assert_int_equal(buttons_next_deadline(f->b), T0 + 30 * MS);
	buttons_tick(f->b, T0 + 30 * MS);
	assert_int_equal(buttons_next_deadline(f->b), T0 + 1530 * MS);
	buttons_edge(f->b, 0, true, T0 + 1 * SEC);
	assert_int_equal(buttons_next_deadline(f->b), T0 + 1030 * MS);
	buttons_edge(f->b, 1, false, T0 + 1 * SEC + 10 * MS);
	buttons_tick(f->b, T0 + 1040 * MS);
	/* button 1: pending short at 1440; button 0: long at 2530 */
	assert_int_equal(buttons_next_deadline(f->b), T0 + 1440 * MS);
	buttons_tick(f->b, T0 + 1440 * MS);
	assert_int_equal(buttons_next_deadline(f->b), T0 + 2530 * MS);
	assert_int_equal(f->seen.n, 1);
}

static void
test_raw_edges_without_debounce(void **state)
{
	struct fixture *f = *state;

	buttons_edge(f->b, 0, true, T0);
	assert_true(buttons_pressed(f->b, 0));
	assert_int_equal(buttons_next_deadline(f->b), T0 + 1500 * MS);
	buttons_edge(f->b, 0, false, T0 + 200 * MS);
	assert_false(buttons_pressed(f->b, 0));
	assert_int_equal(buttons_next_deadline(f->b), T0 + 600 * MS);
	/* a repeated level is not a new press */
	buttons_edge(f->b, 0, false, T0 + 300 * MS);
	buttons_tick(f->b, T0 + SEC);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_SHORT, T0 + 600 * MS);
}

static void
test_disabled_gestures(void **state)
{
	struct fixture *f = *state;
	struct buttons_config cfg = default_cfg;

	cfg.debounce_usec = 0;
	cfg.long_press_usec = 0;
	cfg.double_press_usec = 0;
	cfg.hold_usec = 0;
	cfg.stuck_usec = 0;
	buttons_set_config(f->b, &cfg);
	/* a 5 minute press is a SHORT, fired on release */
	buttons_edge(f->b, 0, true, T0);
	assert_int_equal(buttons_next_deadline(f->b), UINT64_MAX);
	buttons_tick(f->b, T0 + 300 * SEC);
	assert_int_equal(f->seen.n, 0);
	buttons_edge(f->b, 0, false, T0 + 300 * SEC);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_SHORT, T0 + 300 * SEC);
	/* without a double window two quick presses are two SHORTs */
	buttons_edge(f->b, 0, true, T0 + 300 * SEC + 50 * MS);
	buttons_edge(f->b, 0, false, T0 + 300 * SEC + 100 * MS);
	assert_int_equal(f->seen.n, 2);
	expect_seen(&f->seen, 1, 0, GESTURE_SHORT, T0 + 300 * SEC + 100 * MS);
}

static void
test_hostile_input(void **state)
{
	struct fixture *f = *state;

	/* unknown buttons are ignored */
	buttons_edge(f->b, 1, true, T0);
	buttons_edge(f->b, 4000000000u, true, T0);
	assert_false(buttons_pressed(f->b, 1));
	assert_false(buttons_stuck(f->b, 7));
	assert_int_equal(buttons_next_deadline(f->b), UINT64_MAX);
	/* an edge stamped in the past is taken as now, not replayed */
	buttons_edge(f->b, 0, true, T0 + 10 * SEC);
	buttons_tick(f->b, T0 + 10 * SEC + 30 * MS);
	buttons_edge(f->b, 0, false, T0);
	buttons_tick(f->b, T0 + 20 * SEC);
	assert_int_equal(f->seen.n, 1);
	expect_seen(&f->seen, 0, 0, GESTURE_SHORT, T0 + 10 * SEC + 60 * MS + 400 * MS);
	/* times near the end of the clock do not wrap */
	buttons_edge(f->b, 0, true, UINT64_MAX - 100);
	buttons_tick(f->b, UINT64_MAX - 1);
	assert_int_equal(f->seen.n, 1);
	buttons_free(NULL);
	assert_string_equal(gesture_name(GESTURE_SHORT), "short");
	assert_string_equal(gesture_name(GESTURE_LONG), "long");
	assert_string_equal(gesture_name(GESTURE_DOUBLE), "double");
	assert_string_equal(gesture_name(GESTURE_HOLD), "hold");
	assert_string_equal(gesture_name(GESTURE_STUCK), "stuck");
	assert_string_equal(gesture_name(GESTURE_STUCK_RELEASED), "stuck_released");
	assert_string_equal(gesture_name(GESTURE_COUNT), "?");
}

static void
test_many_buttons(void **state)
{
	struct seen seen = { 0 };
	struct buttons *b = buttons_new(64, &default_cfg, on_gesture, &seen);

	(void)state;
	assert_non_null(b);
	for (unsigned i = 0; i < 64; i += 9)
		buttons_edge(b, i, true, T0 + i * MS);
	for (unsigned i = 0; i < 64; i += 9)
		buttons_edge(b, i, false, T0 + i * MS + 100 * MS);
	buttons_tick(b, T0 + SEC);
	assert_int_equal(seen.n, 8);
	for (unsigned k = 0; k < 8; k++)
		expect_seen(&seen, k, k * 9, GESTURE_SHORT, T0 + k * 9 * MS + 530 * MS);
	buttons_free(b);
}

int
main(void)
{
#define T(fn, set) cmocka_unit_test_setup_teardown(fn, set, teardown)
	const struct CMUnitTest tests[] = {
		T(test_chattering_press_is_one_short, setup),
		T(test_chatter_back_to_rest_is_nothing, setup),
		T(test_per_button_debounce, setup_two),
		T(test_long_fires_while_held_no_short, setup),
		T(test_long_exactly_at_threshold, setup),
		T(test_late_tick_reports_recognition_time, setup),
		T(test_double_press, setup),
		T(test_double_window_boundary, setup_raw),
		T(test_edge_runs_due_deadlines_first, setup_raw),
		T(test_double_then_held_only_stuck, setup_raw),
		T(test_hold_ten_seconds, setup),
		T(test_stuck_then_ignored_then_released, setup),
		T(test_two_buttons_independent, setup_two),
		T(test_next_deadline, setup_two),
		T(test_raw_edges_without_debounce, setup_raw),
		T(test_disabled_gestures, setup),
		T(test_hostile_input, setup),
		cmocka_unit_test(test_many_buttons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
