/* signals: the lamp and buzzer pattern engine (SPEC §4).
 *
 * Timings (docs/signals.md is the user-facing copy; keep both in step):
 *
 *   lamp pattern  on / off                 phase
 *   off           never on
 *   steady        always on
 *   slow  (1 Hz)  500 ms / 500 ms          from the engine epoch (signals_new)
 *   fast  (4 Hz)  125 ms / 125 ms          from the engine epoch
 *   blind         150 ms / 1850 ms (2 s)   from the engine epoch
 *
 *   sound      kind       waveform (ms, on first)         total
 *   chirp      one-shot   80                              80
 *   warn       one-shot   400                             400
 *   incident   one-shot   2000                            2000
 *   ack        one-shot   60                              60
 *   nack       one-shot   150 on, 100 off, 150 on         400
 *   alarm      repeating  3 x (200 on, 200 off), 8800 off  10 s period
 *   escalated  repeating  500 on, 250 off                 750 ms period
 *
 * Repeating sounds are phased from the moment they were set. Each one-shot
 * owns the buzzer from its start until 100 ms after its end (the gap), so
 * consecutive one-shots are always separated by 100 ms of silence and the
 * repeating pattern does not butt straight into the end of a beep. The
 * repeating pattern keeps its own clock underneath: when the one-shots are
 * done it is heard from wherever its cycle has got to. At most 8 one-shots
 * are held, the playing one included; the 9th is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "signals.h"

#define MS 1000ULL

#define ONESHOT_MAX      8
#define ONESHOT_GAP_USEC (100 * MS)

#define SOUND_STEPS_MAX 6

/* A waveform: alternating on/off step lengths, starting with on. */
struct waveform {
	bool repeats;
	unsigned n;
	uint64_t step_usec[SOUND_STEPS_MAX];
};

static const struct waveform sound_waves[SOUND_COUNT] = {
	[SOUND_CHIRP] = { false, 1, { 80 * MS } },
	[SOUND_WARN] = { false, 1, { 400 * MS } },
	[SOUND_ALARM] = { true,
			  6,
			  { 200 * MS, 200 * MS, 200 * MS, 200 * MS, 200 * MS, 9000 * MS } },
	[SOUND_ESCALATED] = { true, 2, { 500 * MS, 250 * MS } },
	[SOUND_INCIDENT] = { false, 1, { 2000 * MS } },
	[SOUND_ACK] = { false, 1, { 60 * MS } },
	[SOUND_NACK] = { false, 3, { 150 * MS, 100 * MS, 150 * MS } },
};

/* Lamp flashing: on for on_usec at the start of every period_usec. */
static const struct {
	uint64_t period_usec;
	uint64_t on_usec;
} lamp_flash[PATTERN_COUNT] = {
	[PATTERN_SLOW] = { 1000 * MS, 500 * MS },
	[PATTERN_FAST] = { 250 * MS, 125 * MS },
	[PATTERN_BLIND] = { 2000 * MS, 150 * MS },
};

enum override { OVERRIDE_NONE, OVERRIDE_LAMP_TEST, OVERRIDE_IDENTIFY };

struct oneshot {
	enum sound sound;
	uint64_t start_usec;
};

struct signals {
	uint64_t epoch_usec;
	enum pattern lamp[LAMP_COUNT];

	enum override override;
	uint64_t override_until_usec;

	enum sound repeating;
	uint64_t repeating_since_usec;

	/* ring of one-shots; [head] is the one owning the buzzer */
	struct oneshot q[ONESHOT_MAX];
	unsigned q_head, q_len;
};

static uint64_t
wave_length(const struct waveform *w)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < w->n; i++)
		sum += w->step_usec[i];
	return sum;
}

/* Level at offset `off` into the waveform, and the offset of the next step
 * boundary after it (the waveform length at most). */
static bool
wave_level(const struct waveform *w, uint64_t off, uint64_t *next_off)
{
	uint64_t edge = 0;

	for (unsigned i = 0; i < w->n; i++) {
		edge += w->step_usec[i];
		if (off < edge) {
			*next_off = edge;
			return i % 2 == 0;
		}
	}
	*next_off = edge;
	return false;
}

static uint64_t
oneshot_end(const struct oneshot *o)
{
	return o->start_usec + wave_length(&sound_waves[o->sound]) + ONESHOT_GAP_USEC;
}

static const struct oneshot *
oneshot_at(const struct signals *s, unsigned i)
{
	return &s->q[(s->q_head + i) % ONESHOT_MAX];
}

/* The one-shot owning the buzzer at `now`, if any. */
static const struct oneshot *
oneshot_current(const struct signals *s, uint64_t now)
{
	for (unsigned i = 0; i < s->q_len; i++) {
		const struct oneshot *o = oneshot_at(s, i);

		if (now < oneshot_end(o))
			return now >= o->start_usec ? o : NULL;
	}
	return NULL;
}

static void
oneshots_expire(struct signals *s, uint64_t now)
{
	while (s->q_len > 0 && oneshot_end(oneshot_at(s, 0)) <= now) {
		s->q_head = (s->q_head + 1) % ONESHOT_MAX;
		s->q_len--;
	}
}

static enum pattern
effective_pattern(const struct signals *s, enum lamp l, uint64_t now)
{
	if (s->override != OVERRIDE_NONE && now < s->override_until_usec)
		return s->override == OVERRIDE_LAMP_TEST ? PATTERN_STEADY : PATTERN_FAST;
	return s->lamp[l];
}

/* Lamp level at `now` and the next time (> now) its pattern edges. */
static bool
lamp_level(const struct signals *s, enum pattern p, uint64_t now, uint64_t *next)
{
	uint64_t phase, off;

	*next = UINT64_MAX;
	if (p == PATTERN_OFF || p == PATTERN_STEADY || p >= PATTERN_COUNT)
		return p == PATTERN_STEADY;
	phase = now > s->epoch_usec ? now - s->epoch_usec : 0;
	off = phase % lamp_flash[p].period_usec;
	if (off < lamp_flash[p].on_usec) {
		*next = now - off + lamp_flash[p].on_usec;
		return true;
	}
	*next = now - off + lamp_flash[p].period_usec;
	return false;
}

/* Buzzer level at `now` and the next time (> now) its source may edge. */
static bool
buzzer_level(const struct signals *s, uint64_t now, uint64_t *next)
{
	const struct oneshot *o = oneshot_current(s, now);
	const struct waveform *w;
	uint64_t off, next_off, len;
	bool on;

	*next = UINT64_MAX;
	if (o) {
		w = &sound_waves[o->sound];
		len = wave_length(w);
		off = now - o->start_usec;
		if (off >= len) {
			*next = oneshot_end(o);
			return false;
		}
		on = wave_level(w, off, &next_off);
		*next = o->start_usec + next_off;
		return on;
	}
	if (s->repeating == SOUND_NONE)
		return false;
	w = &sound_waves[s->repeating];
	len = wave_length(w);
	off = now > s->repeating_since_usec ? (now - s->repeating_since_usec) % len : 0;
	on = wave_level(w, off, &next_off);
	*next = now - off + next_off;
	return on;
}

/* Outputs at `now` and the next time any of their sources may edge; the
 * latter can be a non-change (a one-shot gap ending in silence). */
static void
outputs_at(const struct signals *s, uint64_t now, bool out[OUTPUT_COUNT], uint64_t *next)
{
	uint64_t t;

	*next = UINT64_MAX;
	for (unsigned l = 0; l < LAMP_COUNT; l++) {
		out[l] = lamp_level(s, effective_pattern(s, l, now), now, &t);
		if (t < *next)
			*next = t;
	}
	out[OUTPUT_BUZZER] = buzzer_level(s, now, &t);
	if (t < *next)
		*next = t;
	if (s->override != OVERRIDE_NONE && now < s->override_until_usec &&
	    s->override_until_usec < *next)
		*next = s->override_until_usec;
}

struct signals *
signals_new(uint64_t now_usec)
{
	struct signals *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->epoch_usec = now_usec;
	return s;
}

void
signals_free(struct signals *s)
{
	free(s);
}

void
signals_set_lamp(struct signals *s, enum lamp lamp, enum pattern p, uint64_t now_usec)
{
	(void)now_usec;
	if ((unsigned)lamp >= LAMP_COUNT || (unsigned)p >= PATTERN_COUNT)
		return;
	s->lamp[lamp] = p;
}

enum pattern
signals_lamp(const struct signals *s, enum lamp lamp)
{
	if ((unsigned)lamp >= LAMP_COUNT)
		return PATTERN_OFF;
	return s->lamp[lamp];
}

void
signals_set_repeating(struct signals *s, enum sound sound, uint64_t now_usec)
{
	if (sound != SOUND_NONE && sound != SOUND_ALARM && sound != SOUND_ESCALATED)
		return;
	if (sound == s->repeating)
		return;
	s->repeating = sound;
	s->repeating_since_usec = now_usec;
}

enum sound
signals_repeating(const struct signals *s)
{
	return s->repeating;
}

void
signals_play(struct signals *s, enum sound sound, uint64_t now_usec)
{
	struct oneshot *o;
	uint64_t start = now_usec;

	if ((unsigned)sound >= SOUND_COUNT || sound == SOUND_NONE || sound_waves[sound].repeats)
		return;
	oneshots_expire(s, now_usec);
	if (s->q_len >= ONESHOT_MAX)
		return;
	if (s->q_len > 0) {
		uint64_t prev_end = oneshot_end(oneshot_at(s, s->q_len - 1));

		if (prev_end > start)
			start = prev_end;
	}
	o = &s->q[(s->q_head + s->q_len) % ONESHOT_MAX];
	o->sound = sound;
	o->start_usec = start;
	s->q_len++;
}

void
signals_stop_sounds(struct signals *s, uint64_t now_usec)
{
	(void)now_usec;
	s->q_head = 0;
	s->q_len = 0;
}

void
signals_lamp_test(struct signals *s, uint64_t duration_usec, uint64_t now_usec)
{
	s->override = OVERRIDE_LAMP_TEST;
	s->override_until_usec =
		duration_usec > UINT64_MAX - now_usec ? UINT64_MAX : now_usec + duration_usec;
}

void
signals_identify(struct signals *s, uint64_t duration_usec, uint64_t now_usec)
{
	s->override = OVERRIDE_IDENTIFY;
	s->override_until_usec =
		duration_usec > UINT64_MAX - now_usec ? UINT64_MAX : now_usec + duration_usec;
}

void
signals_outputs(struct signals *s, uint64_t now_usec, bool out[OUTPUT_COUNT])
{
	uint64_t next;

	outputs_at(s, now_usec, out, &next);
}

uint64_t
signals_next_change(struct signals *s, uint64_t now_usec)
{
	bool cur[OUTPUT_COUNT], later[OUTPUT_COUNT];
	uint64_t t;

	oneshots_expire(s, now_usec);
	if (s->override != OVERRIDE_NONE && s->override_until_usec <= now_usec)
		s->override = OVERRIDE_NONE;

	/* Source edges that change nothing (a gap ending into silence, a lamp
	 * test ending on steady lamps) are skipped so that the caller wakes
	 * only for real changes; a handful of steps covers every case. */
	outputs_at(s, now_usec, cur, &t);
	for (unsigned i = 0; i < 64 && t != UINT64_MAX; i++) {
		uint64_t next;

		outputs_at(s, t, later, &next);
		if (memcmp(cur, later, sizeof(cur)) != 0)
			return t;
		t = next;
	}
	return t;
}

enum sound
signals_sound_now(struct signals *s, uint64_t now_usec)
{
	const struct oneshot *o;

	oneshots_expire(s, now_usec);
	o = oneshot_current(s, now_usec);
	if (o)
		return o->sound;
	return s->repeating;
}

const char *
pattern_name(enum pattern p)
{
	static const char *const names[PATTERN_COUNT] = {
		[PATTERN_OFF] = "off",   [PATTERN_STEADY] = "steady", [PATTERN_SLOW] = "slow",
		[PATTERN_FAST] = "fast", [PATTERN_BLIND] = "blind",
	};

	return (unsigned)p < PATTERN_COUNT ? names[p] : "?";
}

static const char *const sound_names[SOUND_COUNT] = {
	[SOUND_NONE] = "off",    [SOUND_CHIRP] = "chirp",         [SOUND_WARN] = "warn",
	[SOUND_ALARM] = "alarm", [SOUND_ESCALATED] = "escalated", [SOUND_INCIDENT] = "incident",
	[SOUND_ACK] = "ack",     [SOUND_NACK] = "nack",
};

const char *
sound_name(enum sound s)
{
	return (unsigned)s < SOUND_COUNT ? sound_names[s] : "?";
}

const char *
output_name(enum output o)
{
	static const char *const names[OUTPUT_COUNT] = {
		[OUTPUT_RED] = "red",   [OUTPUT_AMBER] = "amber",   [OUTPUT_GREEN] = "green",
		[OUTPUT_BLUE] = "blue", [OUTPUT_BUZZER] = "buzzer",
	};

	return (unsigned)o < OUTPUT_COUNT ? names[o] : "?";
}

int
sound_from_name(const char *name, enum sound *out)
{
	if (!name)
		return -EINVAL;
	/* "off" is a state, not a sound one can ask for */
	for (unsigned i = SOUND_NONE + 1; i < SOUND_COUNT; i++) {
		if (strcmp(name, sound_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}
