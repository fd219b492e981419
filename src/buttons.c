/* buttons: debounce and gesture recognition (see buttons.h, docs/signals.md).
 *
 * Each button is a small state machine driven by deadlines; buttons_tick()
 * and buttons_edge() run every deadline that is due in time order (across
 * all buttons), so a late tick gives the same gestures at the same
 * recognition times as a punctual one.
 *
 * Choices the header leaves open:
 * - After DOUBLE the rest of that press is ignored (no LONG or HOLD, nothing
 *   on release), but STUCK still applies: a jammed button is a hardware
 *   fault whatever gesture started it.
 * - long_press_usec, hold_usec or stuck_usec of 0 disables that gesture;
 *   double_press_usec of 0 disables DOUBLE (SHORT fires on release).
 * - Ties: a deadline falling exactly on another is resolved so that a
 *   threshold reached is a threshold met ("held >= long_press" is LONG; a
 *   second press exactly double_press after a release is a new press, not
 *   DOUBLE), i.e. SHORT, LONG, HOLD, STUCK before a debounced level change.
 */
#include <stdlib.h>

#include "buttons.h"

/* Deadline kinds, in the order they run when due at the same time. */
enum due {
	DUE_SHORT,
	DUE_LONG,
	DUE_HOLD,
	DUE_STUCK,
	DUE_SETTLE,
	DUE_NONE,
};

struct button {
	bool raw;      /* last level reported by an edge */
	bool level;    /* debounced level */
	bool settling; /* a debounce deadline is pending */
	uint64_t settle_usec;

	uint64_t press_usec; /* when the debounced press began */
	bool long_fired, hold_fired;
	bool after_double; /* this press was the second of a DOUBLE */
	bool stuck;

	bool short_pending;  /* released short, waiting for a second press */
	uint64_t short_usec; /* SHORT fires here unless pressed again */

	bool has_debounce; /* per-button override of cfg.debounce_usec */
	uint64_t debounce_usec;
};

struct buttons {
	struct buttons_config cfg;
	buttons_gesture_fn on_gesture;
	void *userdata;
	uint64_t now_usec; /* latest time processed; edges never go back */
	unsigned count;
	struct button *b;
};

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* The earliest deadline of one button and its kind. */
static enum due
button_due(const struct buttons *bs, const struct button *b, uint64_t *at)
{
	enum due kind = DUE_NONE;
	uint64_t t;

	*at = UINT64_MAX;
	/* Candidates are visited in tie order; `<` keeps the first on a tie. */
	if (b->short_pending && b->short_usec < *at) {
		*at = b->short_usec;
		kind = DUE_SHORT;
	}
	if (b->level && !b->stuck) {
		bool gestures = !b->after_double;

		t = add_sat(b->press_usec, bs->cfg.long_press_usec);
		if (gestures && bs->cfg.long_press_usec && !b->long_fired && t < *at) {
			*at = t;
			kind = DUE_LONG;
		}
		t = add_sat(b->press_usec, bs->cfg.hold_usec);
		if (gestures && bs->cfg.hold_usec && !b->hold_fired && t < *at) {
			*at = t;
			kind = DUE_HOLD;
		}
		t = add_sat(b->press_usec, bs->cfg.stuck_usec);
		if (bs->cfg.stuck_usec && t < *at) {
			*at = t;
			kind = DUE_STUCK;
		}
	}
	if (b->settling && b->settle_usec < *at) {
		*at = b->settle_usec;
		kind = DUE_SETTLE;
	}
	return kind;
}

static void
fire(struct buttons *bs, unsigned i, enum gesture g, uint64_t at)
{
	if (bs->on_gesture)
		bs->on_gesture(bs->userdata, i, g, at);
}

static void
on_press(struct buttons *bs, unsigned i, uint64_t at)
{
	struct button *b = &bs->b[i];

	b->level = true;
	b->press_usec = at;
	b->long_fired = false;
	b->hold_fired = false;
	b->after_double = false;
	/* A pending SHORT whose window had closed has already fired (deadlines
	 * run in time order), so a pending one here means "within the window". */
	if (b->short_pending) {
		b->short_pending = false;
		b->after_double = true;
		fire(bs, i, GESTURE_DOUBLE, at);
	}
}

static void
on_release(struct buttons *bs, unsigned i, uint64_t at)
{
	struct button *b = &bs->b[i];

	b->level = false;
	if (b->stuck) {
		b->stuck = false;
		fire(bs, i, GESTURE_STUCK_RELEASED, at);
		return;
	}
	if (b->after_double || b->long_fired || b->hold_fired)
		return;
	if (bs->cfg.double_press_usec == 0) {
		fire(bs, i, GESTURE_SHORT, at);
		return;
	}
	b->short_pending = true;
	b->short_usec = add_sat(at, bs->cfg.double_press_usec);
}

static void
set_level(struct buttons *bs, unsigned i, bool pressed, uint64_t at)
{
	if (bs->b[i].level == pressed)
		return;
	if (pressed)
		on_press(bs, i, at);
	else
		on_release(bs, i, at);
}

/* Runs one due deadline of button i. */
static void
run_due(struct buttons *bs, unsigned i, enum due kind, uint64_t at)
{
	struct button *b = &bs->b[i];

	switch (kind) {
	case DUE_SHORT:
		b->short_pending = false;
		fire(bs, i, GESTURE_SHORT, at);
		break;
	case DUE_LONG:
		b->long_fired = true;
		fire(bs, i, GESTURE_LONG, at);
		break;
	case DUE_HOLD:
		b->hold_fired = true;
		fire(bs, i, GESTURE_HOLD, at);
		break;
	case DUE_STUCK:
		b->stuck = true;
		fire(bs, i, GESTURE_STUCK, at);
		break;
	case DUE_SETTLE:
		b->settling = false;
		set_level(bs, i, b->raw, at);
		break;
	case DUE_NONE:
		break;
	}
}

/* Runs every deadline at or before `now`, earliest first (lowest button
 * first on a tie). Each step re-reads the state because a callback or a
 * gesture may have moved other deadlines. */
static void
run_until(struct buttons *bs, uint64_t now)
{
	for (;;) {
		uint64_t best = UINT64_MAX, t;
		enum due best_kind = DUE_NONE, kind;
		unsigned best_i = 0;

		for (unsigned i = 0; i < bs->count; i++) {
			kind = button_due(bs, &bs->b[i], &t);
			if (kind != DUE_NONE && t < best) {
				best = t;
				best_kind = kind;
				best_i = i;
			}
		}
		if (best_kind == DUE_NONE || best > now)
			break;
		if (best > bs->now_usec)
			bs->now_usec = best;
		run_due(bs, best_i, best_kind, best);
	}
	if (now > bs->now_usec)
		bs->now_usec = now;
}

struct buttons *
buttons_new(unsigned count, const struct buttons_config *cfg, buttons_gesture_fn on_gesture,
	    void *userdata)
{
	struct buttons *bs = calloc(1, sizeof(*bs));

	if (!bs)
		return NULL;
	bs->b = calloc(count ? count : 1, sizeof(*bs->b));
	if (!bs->b) {
		free(bs);
		return NULL;
	}
	bs->count = count;
	if (cfg)
		bs->cfg = *cfg;
	bs->on_gesture = on_gesture;
	bs->userdata = userdata;
	return bs;
}

void
buttons_free(struct buttons *bs)
{
	if (!bs)
		return;
	free(bs->b);
	free(bs);
}

void
buttons_set_config(struct buttons *bs, const struct buttons_config *cfg)
{
	if (cfg)
		bs->cfg = *cfg;
}

void
buttons_set_debounce(struct buttons *bs, unsigned button, uint64_t debounce_usec)
{
	if (!bs || button >= bs->count)
		return;
	bs->b[button].has_debounce = true;
	bs->b[button].debounce_usec = debounce_usec;
}

void
buttons_edge(struct buttons *bs, unsigned button, bool pressed, uint64_t at_usec)
{
	struct button *b;

	if (button >= bs->count)
		return;
	/* Edges are stamped by the kernel or the loop; one from the past is
	 * taken as happening now so gestures stay in time order. */
	if (at_usec < bs->now_usec)
		at_usec = bs->now_usec;
	run_until(bs, at_usec);
	b = &bs->b[button];
	b->raw = pressed;
	uint64_t debounce = b->has_debounce ? b->debounce_usec : bs->cfg.debounce_usec;
	if (debounce == 0) {
		b->settling = false;
		set_level(bs, button, pressed, at_usec);
	} else {
		b->settling = true;
		b->settle_usec = add_sat(at_usec, debounce);
	}
	run_until(bs, at_usec);
}

void
buttons_tick(struct buttons *bs, uint64_t now_usec)
{
	run_until(bs, now_usec);
}

uint64_t
buttons_next_deadline(const struct buttons *bs)
{
	uint64_t best = UINT64_MAX, t;

	for (unsigned i = 0; i < bs->count; i++) {
		if (button_due(bs, &bs->b[i], &t) != DUE_NONE && t < best)
			best = t;
	}
	return best;
}

bool
buttons_pressed(const struct buttons *bs, unsigned button)
{
	return button < bs->count && bs->b[button].level;
}

bool
buttons_stuck(const struct buttons *bs, unsigned button)
{
	return button < bs->count && bs->b[button].stuck;
}

const char *
gesture_name(enum gesture g)
{
	static const char *const names[GESTURE_COUNT] = {
		[GESTURE_SHORT] = "short",   [GESTURE_LONG] = "long",
		[GESTURE_DOUBLE] = "double", [GESTURE_HOLD] = "hold",
		[GESTURE_STUCK] = "stuck",   [GESTURE_STUCK_RELEASED] = "stuck_released",
	};

	return (unsigned)g < GESTURE_COUNT ? names[g] : "?";
}
