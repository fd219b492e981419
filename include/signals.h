/* signals: the lamp and buzzer pattern engine.
 *
 * Pure: callers say which pattern each lamp shows and which sounds to make;
 * signals_outputs() answers which outputs are on at a given monotonic time
 * and signals_next_change() when that answer can next change, so the loop
 * sleeps exactly until then (no wake-ups while everything is steady). All
 * flashing lamps share one phase so a stack light blinks in step. Pattern
 * timings are in signals.c and documented in docs/signals.md.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Outputs of a board. The first four are lamps (enum lamp shares values). */
enum output { OUTPUT_RED, OUTPUT_AMBER, OUTPUT_GREEN, OUTPUT_BLUE, OUTPUT_BUZZER, OUTPUT_COUNT };

enum lamp { LAMP_RED, LAMP_AMBER, LAMP_GREEN, LAMP_BLUE, LAMP_COUNT };

enum pattern {
	PATTERN_OFF,
	PATTERN_STEADY,
	PATTERN_SLOW,  /* 1 Hz */
	PATTERN_FAST,  /* 4 Hz */
	PATTERN_BLIND, /* short blink every 2 s */
	PATTERN_COUNT
};

/* Buzzer sounds. ALARM and ESCALATED repeat; the others play once. */
enum sound {
	SOUND_NONE,
	SOUND_CHIRP,
	SOUND_WARN,
	SOUND_ALARM,
	SOUND_ESCALATED,
	SOUND_INCIDENT,
	SOUND_ACK,
	SOUND_NACK,
	SOUND_COUNT
};

struct signals;

struct signals *signals_new(uint64_t now_usec);
void signals_free(struct signals *s);

/* Sets a lamp's pattern. Flashing patterns keep the common phase. */
void signals_set_lamp(struct signals *s, enum lamp lamp, enum pattern p, uint64_t now_usec);
enum pattern signals_lamp(const struct signals *s, enum lamp lamp);

/* Sets the repeating buzzer pattern (SOUND_NONE, SOUND_ALARM or
 * SOUND_ESCALATED); a change restarts the pattern at now_usec. */
void signals_set_repeating(struct signals *s, enum sound sound, uint64_t now_usec);
enum sound signals_repeating(const struct signals *s);

/* Queues a one-shot sound (chirp, warn, incident, ack, nack). One-shots play
 * in order, in place of the repeating pattern while they last; at most 8 are
 * queued, further ones are dropped. */
void signals_play(struct signals *s, enum sound sound, uint64_t now_usec);

/* Stops the one-shot playing now and drops queued ones (silence). */
void signals_stop_sounds(struct signals *s, uint64_t now_usec);

/* All lamps steady on (buzzer untouched) for duration_usec, then back. */
void signals_lamp_test(struct signals *s, uint64_t duration_usec, uint64_t now_usec);
/* All lamps flash fast together for duration_usec so a person can find the
 * board, then back. */
void signals_identify(struct signals *s, uint64_t duration_usec, uint64_t now_usec);

/* Output levels (true = on, logical, before active-low) at now_usec. */
void signals_outputs(struct signals *s, uint64_t now_usec, bool out[OUTPUT_COUNT]);

/* Earliest time > now_usec at which signals_outputs() may change;
 * UINT64_MAX if nothing will change by itself. */
uint64_t signals_next_change(struct signals *s, uint64_t now_usec);

/* The sound audible now (one-shot or repeating), for status and sim state. */
enum sound signals_sound_now(struct signals *s, uint64_t now_usec);

const char *pattern_name(enum pattern p); /* "off", "steady", ... */
const char *sound_name(enum sound s);     /* "off", "chirp", ... */
const char *output_name(enum output o);   /* "red", ..., "buzzer" */
int sound_from_name(const char *name, enum sound *out);
