/* buttons: debounce and gesture recognition for the acknowledge buttons.
 *
 * Pure: edges and the monotonic time go in, gestures come out through a
 * callback. Debounce: an edge is accepted only when the level stayed the same
 * for debounce_usec (a chattering contact is one press). Gestures:
 *   SHORT  press + release shorter than long_press, no second press within
 *          double_press after the release (fires when that window closes)
 *   DOUBLE second press within double_press of a short release (fires on
 *          the second press; its release is ignored)
 *   LONG   fires once the button has been held long_press (while still held)
 *   HOLD   fires once the button has been held hold_usec (10 s: lamp test)
 *   STUCK  held stuck_usec (60 s): a fault; the button is ignored until it
 *          is released, which fires STUCK_RELEASED
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum gesture {
	GESTURE_SHORT,
	GESTURE_LONG,
	GESTURE_DOUBLE,
	GESTURE_HOLD,
	GESTURE_STUCK,
	GESTURE_STUCK_RELEASED,
	GESTURE_COUNT
};

struct buttons_config {
	uint64_t debounce_usec; /* 0 = edges are already debounced */
	uint64_t long_press_usec;
	uint64_t double_press_usec;
	uint64_t hold_usec;
	uint64_t stuck_usec;
};

/* Called for each gesture; `at_usec` is when it was recognised. */
typedef void (*buttons_gesture_fn)(void *userdata, unsigned button, enum gesture gesture,
				   uint64_t at_usec);

struct buttons;

struct buttons *buttons_new(unsigned count, const struct buttons_config *cfg,
			    buttons_gesture_fn on_gesture, void *userdata);
void buttons_free(struct buttons *b);
void buttons_set_config(struct buttons *b, const struct buttons_config *cfg);
/* Gives one button its own debounce time (a board profile's per-button
 * `debounce`), overriding cfg.debounce_usec for it. */
void buttons_set_debounce(struct buttons *b, unsigned button, uint64_t debounce_usec);

/* A raw edge: the line of `button` is now `pressed` (logical level), seen at
 * at_usec. Calls gestures whose time has come. */
void buttons_edge(struct buttons *b, unsigned button, bool pressed, uint64_t at_usec);

/* Fires gestures and debounce decisions due at or before now_usec. */
void buttons_tick(struct buttons *b, uint64_t now_usec);

/* Earliest pending deadline, UINT64_MAX if none. */
uint64_t buttons_next_deadline(const struct buttons *b);

/* Debounced level and stuck fault of a button. */
bool buttons_pressed(const struct buttons *b, unsigned button);
bool buttons_stuck(const struct buttons *b, unsigned button);

const char *gesture_name(enum gesture g); /* "short", "long", ... */
