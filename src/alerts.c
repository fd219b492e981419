/* alerts: the alert engine (SPEC §2, §4). See alerts.h for the model.
 *
 * Data layout. Tickets live in an open-addressing hash table (linear probing,
 * backward-shift deletion, load <= 1/2) keyed by ticket id, so lookups are
 * O(1). Tickets with pending work are also in a binary min-heap keyed by
 * their next deadline; each ticket knows its heap index, so updates are
 * O(log n) and alerts_next_deadline() is O(1). The heap's capacity is kept
 * >= the number of tickets, so only creating a ticket can allocate it.
 * A ticket is one allocation, its strings packed after its fixed part
 * (clearing a string never allocates); this keeps ~100k open tickets small.
 * Changing a string reallocates the ticket: ticket_set_strs() moves its hash
 * slot and heap entry along, and every function that may move it takes a
 * `struct ticket **`. Lamp and buzzer counts are kept incrementally: every change
 * to a ticket is bracketed by touch_begin()/touch_end(), which subtract and
 * re-add its contribution, fix its heap position and emit effects.
 *
 * Decisions where the contract is silent:
 * - A ticket event for an unknown ticket that may create it (created,
 *   updated, assigned, sla.warning, sla.breached) creates it as if
 *   ticket.created had come first (NEW unacked alert, chirp by the usual
 *   rule), then applies the event itself. Ticket fields an event carries
 *   are copied when it creates the ticket and on created/updated/assigned;
 *   other events change no fields.
 * - Closed tickets leave a tombstone (4096 most recent). An event that would
 *   create a tombstoned ticket is ignored unless it is strictly newer than
 *   the close (equal ts: the close wins), so a reopened ticket comes back but
 *   a late, older one does not. A solve/close for an unknown ticket is
 *   ignored (returns 1) but tombstoned too: a created that was overtaken by
 *   its own close must not open the ticket.
 * - When one operation raises several things on a ticket, only the last
 *   raise's one-shot sound counts (created-and-already-warning gives WARN,
 *   not CHIRP then WARN; a breach gives no one-shot: the alarm repeats from
 *   the view). Each one-shot sound is emitted at most once per operation, in
 *   the order incident, warn, chirp, however many tickets asked for it.
 * - A breach keeps raised_usec when the alert already was an unacked breach
 *   (a second SLA breaching must not postpone escalation); otherwise it
 *   restarts raised (escalation counts from the breach).
 * - A priority raise to urgent re-alerts: acked -> unacked (ringback),
 *   cleared -> NEW unacked, unacked -> stays unacked (raised kept) and
 *   sounds again. The sound follows the kind: CHIRP for new (subject to
 *   chirp_min_priority and incident mode), WARN for warning, none for a
 *   breach. The ack-timeout re-alert uses the same rule.
 * - ticket.replied clears the alert (acked_by too) unless the resolution SLA
 *   is at breach level; a resolution warning already raised stays recorded
 *   and does not re-raise.
 * - A later due (ticket.updated) lowers a board-raised SLA level to what the
 *   board's clock says now, never below what the backend said; the alert's
 *   kind then drops to the highest level still standing (never below NEW:
 *   the ticket still needs someone), and a lowered breach loses its
 *   escalation. An earlier due raises at once.
 * - sla.warning/sla.breached are the backend's word and raise even for an
 *   SLA the board thinks satisfied or paused.
 * - Pausing moves the due by the paused time (measured on the monotonic
 *   clock); the snapshot's due_ms includes that shift, so a restore keeps
 *   it. A ticket.updated carrying the same due as before does not undo it.
 * - Incident events are ordered by ts like ticket events (an older one is
 *   ignored); there is one incident flag, any incident.resolved ends it.
 * - Config: warn_at_pct is clamped to 1..99; ack_timeout_usec,
 *   escalate_after_usec and feed_timeout_usec of 0 disable that timer;
 *   broker_blind_usec of 0 makes the board blind as soon as the broker
 *   drops; max_tickets of 0 means ALERTS_DEFAULT_MAX_TICKETS.
 * - Restore: an SLA moment before the ticket's last_ts_ms (for a paused
 *   ticket: before the pause) counts as already handled (a reply may have
 *   cleared its warning), so a restart does not re-raise it; moments after
 *   it that the alert does not reflect are raised by the next tick, because
 *   they happened while the board was down. Raised and ack moments are kept
 *   as they were, even from before this boot, so escalation and ack timeout
 *   count from the real moment; alert_info.raised_usec shows them as 0.
 * - Effects run while the engine is consistent; they may read it, but a
 *   mutating call made from inside an effect returns -EBUSY (or does
 *   nothing). alerts_foreach()'s callback may call alerts_ack().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"

#define ALERTS_DEFAULT_MAX_TICKETS 100000
#define TOMB_MAX                   4096
#define TOMB_SLOTS                 8192 /* power of two, >= 2 * TOMB_MAX */
#define HASH_MIN_SLOTS             64
#define NO_INDEX                   UINT32_MAX
/* Wall differences beyond a century are clamped: hostile timestamps must not
 * overflow the microsecond arithmetic. */
#define SPAN_MAX_MS (100LL * 366 * 24 * 3600 * 1000)

enum level { LEVEL_NONE, LEVEL_WARNING, LEVEL_BREACHED };

enum tstr {
	STR_ID,
	STR_SUBJECT,
	STR_CUSTOMER,
	STR_QUEUE,
	STR_ASSIGNEE,
	STR_EVENT_ID,
	STR_ACKED_BY,
	STR_COUNT
};

static const size_t str_max[STR_COUNT] = {
	[STR_ID] = TICKET_ID_MAX,        [STR_SUBJECT] = EVENT_TEXT_MAX,
	[STR_CUSTOMER] = EVENT_TEXT_MAX, [STR_QUEUE] = EVENT_NAME_MAX,
	[STR_ASSIGNEE] = EVENT_NAME_MAX, [STR_EVENT_ID] = EVENT_ID_MAX,
	[STR_ACKED_BY] = EVENT_NAME_MAX,
};

_Static_assert(CHANNEL_COUNT <= 16 && PRIORITY_COUNT <= 4 && SLA_KIND_COUNT == 2 && STR_COUNT <= 8,
	       "struct ticket's bit-fields are too narrow");

/* 100 000 open tickets must fit a Pi Zero (issue 7), so a ticket is one
 * allocation: this fixed part, then its strings (strs()), the non-empty ones
 * in enum tstr order, each NUL-terminated; a cleared string leaves slack at
 * the end. Not a flexible array member: struct touch holds a copy of the
 * fixed part, and C does not allow one inside another struct. Flags are
 * bit-fields. */
struct ticket {
	int64_t created_ms, last_ts_ms;
	int64_t due_ms[SLA_KIND_COUNT];     /* backend's; 0: none */
	int64_t shift_usec[SLA_KIND_COUNT]; /* paused time added to due */
	int64_t due_usec[SLA_KIND_COUNT];   /* monotonic; may be < 0 */
	uint64_t paused_usec;               /* when the clocks froze */
	/* Signed: a restored alert may have been raised before this boot, and
	 * its escalation and ack timeout must still count from then. */
	int64_t raised_usec, acked_usec;
	uint64_t deadline_usec;
	int64_t raised_ms, acked_at_ms;
	uint32_t heap_idx; /* NO_INDEX: nothing pending */
	unsigned channel : 4, priority : 2, kind : 2, state : 2;
	/* enum level reached per SLA, board or backend: level_of() */
	unsigned level : 2 * SLA_KIND_COUNT;
	unsigned backend_warning : SLA_KIND_COUNT; /* bit per SLA: backend said so */
	unsigned backend_breached : SLA_KIND_COUNT;
	unsigned str_set : STR_COUNT; /* bit per enum tstr: non-empty, in strs() */
	bool public : 1, responded : 1, paused : 1, escalated : 1;
	bool due_policy : 1; /* dues from the board's SLA policy, not the backend */
};

struct tomb {
	char id[TICKET_ID_MAX];
	int64_t ts_ms;
	uint32_t hash;
};

struct alerts {
	struct alerts_config cfg;
	struct alerts_effects fx;
	void *userdata;

	struct ticket **slots; /* hash table */
	size_t nslots, n;
	struct ticket **heap;
	size_t heap_len, heap_cap;

	struct tomb *tombs;   /* ring of TOMB_MAX, allocated on first use */
	uint16_t *tomb_slots; /* index + 1; 0 = empty */
	size_t tomb_head, tomb_len;

	struct alerts_counts counts;
	unsigned unacked_new, unacked_warning, unacked_breached, escalated;
	unsigned alerting; /* tickets with an alert, acked or not */

	uint64_t last_feed_usec;
	bool broker_connected;
	uint64_t broker_down_usec;
	bool feed_stale, broker_down; /* as last announced */

	bool incident;
	char incident_title[EVENT_TEXT_MAX];
	int64_t incident_ts_ms;

	bool busy;          /* inside an operation (effects running) */
	unsigned op_sounds; /* bit per enum sound */
	bool op_changed;
};

/* One change to one ticket, from touch_begin() to touch_end(). */
struct touch {
	bool created, strings;
	enum sound sound;
	bool escalate;
	struct ticket before; /* without its strings */
};

/* ---- small helpers ---- */

static uint64_t
since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

static uint64_t
add_sat(uint64_t x, uint64_t y)
{
	return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

static uint64_t
deadline_of(int64_t usec)
{
	return usec < 0 ? 0 : (uint64_t)usec;
}

/* The deadline `dur` after the signed monotonic moment t. */
static uint64_t
after(int64_t t, uint64_t dur)
{
	int64_t x;

	if (dur > (uint64_t)INT64_MAX || __builtin_add_overflow(t, (int64_t)dur, &x))
		return UINT64_MAX;
	return deadline_of(x);
}

static int64_t
mono_i64(const struct alerts_now *now)
{
	return now->mono_usec > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)now->mono_usec;
}

static int64_t
clamp_span(int64_t ms)
{
	if (ms > SPAN_MAX_MS)
		return SPAN_MAX_MS;
	if (ms < -SPAN_MAX_MS)
		return -SPAN_MAX_MS;
	return ms;
}

static int64_t
diff_ms(int64_t x, int64_t y)
{
	int64_t d;

	if (__builtin_sub_overflow(x, y, &d))
		return x > y ? SPAN_MAX_MS : -SPAN_MAX_MS;
	return clamp_span(d);
}

/* The one place where wall time becomes monotonic time; it is only used when
 * an event or snapshot arrives, never later. */
static int64_t
mono_of_wall(const struct alerts_now *now, int64_t ms)
{
	return mono_i64(now) + diff_ms(ms, now->wall_ms) * (int64_t)1000;
}

/* A moment in the past (raised, acked); never after now, but possibly
 * before this boot. */
static int64_t
mono_of_past(const struct alerts_now *now, int64_t ms)
{
	int64_t age = diff_ms(now->wall_ms, ms);

	return mono_i64(now) - (age > 0 ? age : 0) * 1000;
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t len = src ? strnlen(src, size - 1) : 0;

	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
}

static uint32_t
hash_id(const char *s, size_t max)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < max && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static char *
strs(struct ticket *t)
{
	return (char *)(t + 1);
}

static const char *
strs_const(const struct ticket *t)
{
	return (const char *)(t + 1);
}

static const char *
tstr(const struct ticket *t, enum tstr i)
{
	const char *p = strs_const(t);

	if (!(t->str_set & (1u << i)))
		return "";
	for (int j = 0; j < (int)i; j++)
		if (t->str_set & (1u << j))
			p += strlen(p) + 1;
	return p;
}

/* Bytes of strs(t) in use. */
static size_t
str_used(const struct ticket *t)
{
	size_t n = 0;

	for (int i = 0; i < STR_COUNT; i++)
		if (t->str_set & (1u << i))
			n += strlen(strs_const(t) + n) + 1;
	return n;
}

/* Empties string i in place: never allocates, never moves the ticket. */
static void
str_clear(struct ticket *t, enum tstr i)
{
	char *base = strs(t), *p;
	size_t len, used;

	if (!(t->str_set & (1u << i)))
		return;
	used = str_used(t);
	p = base + (tstr(t, i) - base);
	len = strlen(p) + 1;
	memmove(p, p + len, used - (size_t)(p - base) - len);
	t->str_set &= ~(1u << i);
}

static enum level
level_of(const struct ticket *t, int s)
{
	return (enum level)((t->level >> (2 * s)) & 3u);
}

static void
level_set(struct ticket *t, int s, enum level l)
{
	t->level = (t->level & ~(3u << (2 * s))) | ((unsigned)l << (2 * s));
}

static bool
backend_warning(const struct ticket *t, int s)
{
	return t->backend_warning & (1u << s);
}

static bool
backend_breached(const struct ticket *t, int s)
{
	return t->backend_breached & (1u << s);
}

static unsigned
bit_set(unsigned mask, int s, bool on)
{
	return on ? mask | (1u << s) : mask & ~(1u << s);
}

/* True if the stored string equals s as it would be stored. */
static bool
str_same(const char *cur, const char *s, size_t max)
{
	size_t len = strnlen(s, max - 1);

	return strlen(cur) == len && memcmp(cur, s, len) == 0;
}

/* A new ticket with old's fixed part (zeroes if old is NULL) and the
 * strings of old, replaced by v[i] where v[i] is not NULL. v may point into
 * old's strings. NULL when out of memory. */
static struct ticket *
ticket_build(const struct ticket *old, const char *v[STR_COUNT])
{
	const char *val[STR_COUNT];
	size_t len[STR_COUNT], total = 0, pos = 0;
	struct ticket *t;

	for (int i = 0; i < STR_COUNT; i++) {
		val[i] = v[i] ? v[i] : old ? tstr(old, i) : "";
		len[i] = strnlen(val[i], str_max[i] - 1);
		total += len[i] ? len[i] + 1 : 0;
	}
	t = malloc(sizeof(*t) + total);
	if (!t)
		return NULL;
	if (old)
		*t = *old;
	else
		memset(t, 0, sizeof(*t));
	t->str_set = 0;
	for (int i = 0; i < STR_COUNT; i++) {
		if (!len[i])
			continue;
		memcpy(strs(t) + pos, val[i], len[i]);
		strs(t)[pos + len[i]] = '\0';
		t->str_set |= 1u << i;
		pos += len[i] + 1;
	}
	return t;
}

static void
ticket_free(struct ticket *t)
{
	free(t);
}

static bool
sla_running(const struct ticket *t, int s)
{
	return t->due_ms[s] != 0 && !(s == SLA_FIRST_RESPONSE && t->responded);
}

/* How long before the due the warning comes: the budget runs from the
 * ticket's creation to the backend's due; none if there is no budget. */
static bool
warn_before_usec(const struct alerts *a, const struct ticket *t, int s, int64_t *out)
{
	int64_t budget = diff_ms(t->due_ms[s], t->created_ms);

	if (budget <= 0)
		return false;
	*out = (budget - budget * (int64_t)a->cfg.warn_at_pct / 100) * 1000;
	return true;
}

/* The level the board's own clock gives SLA s at monotonic time ref. */
static enum level
clock_level(const struct alerts *a, const struct ticket *t, int s, int64_t ref)
{
	int64_t before;

	if (t->due_usec[s] <= ref)
		return LEVEL_BREACHED;
	if (warn_before_usec(a, t, s, &before) && t->due_usec[s] - before <= ref)
		return LEVEL_WARNING;
	return LEVEL_NONE;
}

static enum level
backend_level(const struct ticket *t, int s)
{
	if (backend_breached(t, s))
		return LEVEL_BREACHED;
	return backend_warning(t, s) ? LEVEL_WARNING : LEVEL_NONE;
}

static uint64_t
ticket_deadline(const struct alerts *a, const struct ticket *t)
{
	uint64_t d = UINT64_MAX;
	int64_t before;

	for (int s = 0; s < SLA_KIND_COUNT && !t->paused; s++) {
		if (!sla_running(t, s))
			continue;
		if (level_of(t, s) < LEVEL_BREACHED && deadline_of(t->due_usec[s]) < d)
			d = deadline_of(t->due_usec[s]);
		if (level_of(t, s) < LEVEL_WARNING && warn_before_usec(a, t, s, &before) &&
		    deadline_of(t->due_usec[s] - before) < d)
			d = deadline_of(t->due_usec[s] - before);
	}
	if (t->state == ALERT_ACKED && a->cfg.ack_timeout_usec) {
		uint64_t x = after(t->acked_usec, a->cfg.ack_timeout_usec);

		d = x < d ? x : d;
	}
	if (t->state == ALERT_UNACKED && t->kind == ALERT_BREACHED && !t->escalated &&
	    a->cfg.escalate_after_usec) {
		uint64_t x = after(t->raised_usec, a->cfg.escalate_after_usec);

		d = x < d ? x : d;
	}
	return d;
}

/* ---- hash table ---- */

static size_t
slot_of(const struct alerts *a, uint32_t h)
{
	return h & (a->nslots - 1);
}

/* Not stored: 4 bytes a ticket cost more than hashing a short id again when
 * the table grows or shifts. */
static uint32_t
ticket_hash(const struct ticket *t)
{
	return hash_id(tstr(t, STR_ID), TICKET_ID_MAX - 1);
}

static struct ticket *
tickets_find(const struct alerts *a, const char *id)
{
	uint32_t h = hash_id(id, TICKET_ID_MAX - 1);

	if (!a->nslots)
		return NULL;
	for (size_t i = slot_of(a, h);; i = (i + 1) & (a->nslots - 1)) {
		struct ticket *t = a->slots[i];

		if (!t)
			return NULL;
		if (str_same(tstr(t, STR_ID), id, TICKET_ID_MAX))
			return t;
	}
}

static void
slots_put(struct ticket **slots, size_t nslots, struct ticket *t)
{
	size_t i = ticket_hash(t) & (nslots - 1);

	while (slots[i])
		i = (i + 1) & (nslots - 1);
	slots[i] = t;
}

/* Makes room for one more ticket in the table and the heap. */
static int
tickets_reserve(struct alerts *a)
{
	size_t want = a->n + 1;

	if (want * 2 > a->nslots) {
		size_t nslots = a->nslots ? a->nslots * 2 : HASH_MIN_SLOTS;
		struct ticket **slots = calloc(nslots, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < a->nslots; i++)
			if (a->slots[i])
				slots_put(slots, nslots, a->slots[i]);
		free(a->slots);
		a->slots = slots;
		a->nslots = nslots;
	}
	if (want > a->heap_cap) {
		size_t cap = a->heap_cap ? a->heap_cap * 2 : HASH_MIN_SLOTS;
		struct ticket **heap = realloc(a->heap, cap * sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		a->heap = heap;
		a->heap_cap = cap;
	}
	return 0;
}

static void
tickets_remove(struct alerts *a, struct ticket *t)
{
	size_t mask = a->nslots - 1, i = slot_of(a, ticket_hash(t));

	while (a->slots[i] != t)
		i = (i + 1) & mask;
	/* Backward-shift deletion keeps probe chains intact without markers. */
	for (size_t j = (i + 1) & mask; a->slots[j]; j = (j + 1) & mask) {
		size_t home = slot_of(a, ticket_hash(a->slots[j]));

		if (((j - home) & mask) >= ((j - i) & mask)) {
			a->slots[i] = a->slots[j];
			i = j;
		}
	}
	a->slots[i] = NULL;
	a->n--;
}

/* Rebuilds the ticket with strings v (v[i] NULL keeps string i; v may
 * point into the ticket). The ticket moves: its hash slot and heap entry
 * follow, and *tp is updated. Returns 1 if changed, 0 if not, -ENOMEM
 * (nothing changed). */
static int
ticket_set_strs(struct alerts *a, struct ticket **tp, const char *v[STR_COUNT])
{
	struct ticket *old = *tp, *t;
	size_t mask = a->nslots - 1, i;
	bool differ = false;

	for (int k = 0; k < STR_COUNT; k++)
		if (v[k] && !str_same(tstr(old, k), v[k], str_max[k]))
			differ = true;
	if (!differ)
		return 0;
	t = ticket_build(old, v);
	if (!t)
		return -ENOMEM;
	for (i = slot_of(a, ticket_hash(old)); a->slots[i] != old; i = (i + 1) & mask)
		;
	a->slots[i] = t;
	if (t->heap_idx != NO_INDEX)
		a->heap[t->heap_idx] = t;
	ticket_free(old);
	*tp = t;
	return 1;
}

/* ---- heap ---- */

static void
heap_set(struct alerts *a, size_t i, struct ticket *t)
{
	a->heap[i] = t;
	t->heap_idx = (uint32_t)i;
}

static void
heap_up(struct alerts *a, size_t i)
{
	struct ticket *t = a->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (a->heap[p]->deadline_usec <= t->deadline_usec)
			break;
		heap_set(a, i, a->heap[p]);
		i = p;
	}
	heap_set(a, i, t);
}

static void
heap_down(struct alerts *a, size_t i)
{
	struct ticket *t = a->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= a->heap_len)
			break;
		if (c + 1 < a->heap_len &&
		    a->heap[c + 1]->deadline_usec < a->heap[c]->deadline_usec)
			c++;
		if (t->deadline_usec <= a->heap[c]->deadline_usec)
			break;
		heap_set(a, i, a->heap[c]);
		i = c;
	}
	heap_set(a, i, t);
}

static void
heap_remove(struct alerts *a, struct ticket *t)
{
	size_t i = t->heap_idx;
	struct ticket *last;

	if (i == NO_INDEX)
		return;
	t->heap_idx = NO_INDEX;
	last = a->heap[--a->heap_len];
	if (last == t)
		return;
	heap_set(a, i, last);
	heap_up(a, i);
	heap_down(a, last->heap_idx);
}

static void
heap_update(struct alerts *a, struct ticket *t)
{
	uint64_t d = ticket_deadline(a, t), old = t->deadline_usec;

	t->deadline_usec = d;
	if (d == UINT64_MAX) {
		heap_remove(a, t);
		return;
	}
	if (t->heap_idx == NO_INDEX) {
		/* Cannot overflow: tickets_reserve() keeps heap_cap >= n. */
		heap_set(a, a->heap_len++, t);
		heap_up(a, t->heap_idx);
	} else if (d < old) {
		heap_up(a, t->heap_idx);
	} else if (d > old) {
		heap_down(a, t->heap_idx);
	}
}

/* Rebuilds the heap from scratch, after a config change. */
static void
heap_rebuild(struct alerts *a)
{
	a->heap_len = 0;
	for (size_t i = 0; i < a->nslots; i++) {
		struct ticket *t = a->slots[i];

		if (!t)
			continue;
		t->deadline_usec = ticket_deadline(a, t);
		t->heap_idx = NO_INDEX;
		if (t->deadline_usec != UINT64_MAX)
			heap_set(a, a->heap_len++, t);
	}
	for (size_t i = a->heap_len / 2; i-- > 0;)
		heap_down(a, i);
}

/* ---- tombstones ---- */

static size_t
tomb_slot(const struct alerts *a, const char *id, uint32_t h)
{
	for (size_t i = h & (TOMB_SLOTS - 1);; i = (i + 1) & (TOMB_SLOTS - 1)) {
		uint16_t v = a->tomb_slots[i];

		if (!v)
			return i;
		if (a->tombs[v - 1].hash == h && str_same(a->tombs[v - 1].id, id, TICKET_ID_MAX))
			return i;
	}
}

static const struct tomb *
tomb_find(const struct alerts *a, const char *id)
{
	uint16_t v;

	if (!a->tombs)
		return NULL;
	v = a->tomb_slots[tomb_slot(a, id, hash_id(id, TICKET_ID_MAX - 1))];
	return v ? &a->tombs[v - 1] : NULL;
}

static void
tomb_evict_oldest(struct alerts *a)
{
	const struct tomb *old = &a->tombs[a->tomb_head];
	size_t mask = TOMB_SLOTS - 1, i = tomb_slot(a, old->id, old->hash);

	for (size_t j = (i + 1) & mask; a->tomb_slots[j]; j = (j + 1) & mask) {
		size_t home = a->tombs[a->tomb_slots[j] - 1].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			a->tomb_slots[i] = a->tomb_slots[j];
			i = j;
		}
	}
	a->tomb_slots[i] = 0;
	a->tomb_head = (a->tomb_head + 1) % TOMB_MAX;
	a->tomb_len--;
}

/* Remembers that `id` was closed at ts_ms. Best effort: without memory the
 * only loss is that a late event could reopen the ticket. */
static void
tomb_add(struct alerts *a, const char *id, int64_t ts_ms)
{
	uint32_t h = hash_id(id, TICKET_ID_MAX - 1);
	size_t slot, idx;

	if (!a->tombs) {
		a->tombs = calloc(TOMB_MAX, sizeof(*a->tombs));
		a->tomb_slots = calloc(TOMB_SLOTS, sizeof(*a->tomb_slots));
		if (!a->tombs || !a->tomb_slots) {
			free(a->tombs);
			free(a->tomb_slots);
			a->tombs = NULL;
			a->tomb_slots = NULL;
			return;
		}
	}
	slot = tomb_slot(a, id, h);
	if (a->tomb_slots[slot]) {
		struct tomb *tb = &a->tombs[a->tomb_slots[slot] - 1];

		if (ts_ms > tb->ts_ms)
			tb->ts_ms = ts_ms;
		return;
	}
	if (a->tomb_len == TOMB_MAX) {
		tomb_evict_oldest(a);
		slot = tomb_slot(a, id, h);
	}
	idx = (a->tomb_head + a->tomb_len++) % TOMB_MAX;
	copy_str(a->tombs[idx].id, TICKET_ID_MAX, id);
	a->tombs[idx].ts_ms = ts_ms;
	a->tombs[idx].hash = h;
	a->tomb_slots[slot] = (uint16_t)(idx + 1);
}

/* ---- counts ---- */

static void
bump(unsigned *c, int sign)
{
	if (sign > 0)
		(*c)++;
	else
		(*c)--;
}

static void
counts_account(struct alerts *a, const struct ticket *t, int sign)
{
	struct alerts_counts *c = &a->counts;

	bump(&c->open, sign);
	bump(&c->open_per_channel[t->channel], sign);
	if (t->kind != ALERT_NONE)
		bump(&a->alerting, sign);
	if (t->kind == ALERT_WARNING)
		bump(&c->warning, sign);
	else if (t->kind == ALERT_BREACHED)
		bump(&c->breached, sign);
	if (t->state != ALERT_UNACKED)
		return;
	bump(&c->unacked, sign);
	bump(&c->unacked_per_channel[t->channel], sign);
	if (t->kind == ALERT_NEW)
		bump(&a->unacked_new, sign);
	else if (t->kind == ALERT_WARNING)
		bump(&a->unacked_warning, sign);
	else if (t->kind == ALERT_BREACHED)
		bump(&a->unacked_breached, sign);
	if (t->escalated)
		bump(&a->escalated, sign);
}

/* ---- views of a ticket ---- */

static void
fill_info(const struct ticket *t, const struct alerts_now *now, struct alert_info *out)
{
	int s = -1;

	memset(out, 0, sizeof(*out));
	copy_str(out->ticket_id, sizeof(out->ticket_id), tstr(t, STR_ID));
	copy_str(out->subject, sizeof(out->subject), tstr(t, STR_SUBJECT));
	copy_str(out->customer, sizeof(out->customer), tstr(t, STR_CUSTOMER));
	copy_str(out->queue, sizeof(out->queue), tstr(t, STR_QUEUE));
	copy_str(out->assignee, sizeof(out->assignee), tstr(t, STR_ASSIGNEE));
	copy_str(out->event_id, sizeof(out->event_id), tstr(t, STR_EVENT_ID));
	copy_str(out->acked_by, sizeof(out->acked_by), tstr(t, STR_ACKED_BY));
	out->kind = t->kind;
	out->state = t->state;
	out->escalated = t->escalated;
	out->channel = t->channel;
	out->priority = t->priority;
	out->public = t->public;
	out->raised_usec = deadline_of(t->raised_usec); /* clamped at boot */
	out->raised_ms = t->raised_ms;
	out->acked_at_ms = t->acked_at_ms;
	out->paused = t->paused;
	out->due_policy = t->due_policy;
	out->responded = t->responded;
	out->created_ms = t->created_ms;
	if (sla_running(t, SLA_FIRST_RESPONSE))
		s = SLA_FIRST_RESPONSE;
	else if (t->due_ms[SLA_RESOLUTION])
		s = SLA_RESOLUTION;
	if (s >= 0) {
		int64_t ref = t->paused ? (int64_t)t->paused_usec : mono_i64(now);

		out->has_due = true;
		out->due_sla = s;
		out->due_in_ms = (t->due_usec[s] - ref) / 1000;
	}
}

static void
fill_snapshot(const struct ticket *t, struct ticket_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	copy_str(out->id, sizeof(out->id), tstr(t, STR_ID));
	copy_str(out->subject, sizeof(out->subject), tstr(t, STR_SUBJECT));
	copy_str(out->customer, sizeof(out->customer), tstr(t, STR_CUSTOMER));
	copy_str(out->queue, sizeof(out->queue), tstr(t, STR_QUEUE));
	copy_str(out->assignee, sizeof(out->assignee), tstr(t, STR_ASSIGNEE));
	copy_str(out->event_id, sizeof(out->event_id), tstr(t, STR_EVENT_ID));
	copy_str(out->acked_by, sizeof(out->acked_by), tstr(t, STR_ACKED_BY));
	out->channel = t->channel;
	out->priority = t->priority;
	out->public = t->public;
	out->created_ms = t->created_ms;
	out->last_ts_ms = t->last_ts_ms;
	out->responded = t->responded;
	out->due_policy = t->due_policy;
	out->paused = t->paused;
	for (int s = 0; s < SLA_KIND_COUNT; s++) {
		if (t->due_ms[s]) {
			/* Wall due plus the paused time, so a restore keeps the
			 * extension without reading the wall clock again. */
			out->due_ms[s] = t->due_ms[s] + t->shift_usec[s] / 1000;
			if (t->paused)
				out->paused_left_ms[s] =
					(t->due_usec[s] - (int64_t)t->paused_usec) / 1000;
		}
		out->backend_warning[s] = backend_warning(t, s);
		out->backend_breached[s] = backend_breached(t, s);
	}
	out->kind = t->kind;
	out->state = t->state;
	out->escalated = t->escalated;
	out->raised_ms = t->raised_ms;
	out->acked_at_ms = t->acked_at_ms;
}

/* ---- change bracketing ---- */

static bool
ticket_same(const struct ticket *x, const struct ticket *y)
{
	if (x->str_set != y->str_set || x->level != y->level ||
	    x->backend_warning != y->backend_warning || x->backend_breached != y->backend_breached)
		return false;
	if (x->created_ms != y->created_ms || x->paused_usec != y->paused_usec ||
	    x->raised_usec != y->raised_usec || x->acked_usec != y->acked_usec ||
	    x->raised_ms != y->raised_ms || x->acked_at_ms != y->acked_at_ms ||
	    x->channel != y->channel || x->priority != y->priority || x->kind != y->kind ||
	    x->state != y->state || x->public != y->public || x->responded != y->responded ||
	    x->paused != y->paused || x->escalated != y->escalated ||
	    x->due_policy != y->due_policy)
		return false;
	for (int s = 0; s < SLA_KIND_COUNT; s++)
		if (x->due_ms[s] != y->due_ms[s] || x->shift_usec[s] != y->shift_usec[s] ||
		    x->due_usec[s] != y->due_usec[s])
			return false;
	return true;
}

static void
touch_begin(struct alerts *a, struct ticket *t, struct touch *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->before = *t;
	counts_account(a, t, -1);
}

static void
touch_end(struct alerts *a, struct ticket *t, struct touch *tc, const struct alerts_now *now)
{
	bool visible = tc->created || tc->strings || !ticket_same(&tc->before, t);

	counts_account(a, t, +1);
	heap_update(a, t);
	if (visible)
		a->op_changed = true;
	if (tc->sound != SOUND_NONE)
		a->op_sounds |= 1u << tc->sound;
	if ((visible || tc->before.last_ts_ms != t->last_ts_ms) && a->fx.ticket_saved) {
		struct ticket_snapshot snap;

		fill_snapshot(t, &snap);
		a->fx.ticket_saved(a->userdata, &snap);
	}
	if (tc->escalate && a->fx.escalated) {
		struct alert_info info;

		fill_info(t, now, &info);
		a->fx.escalated(a->userdata, &info);
	}
}

static void
op_begin(struct alerts *a)
{
	a->busy = true;
	a->op_sounds = 0;
	a->op_changed = false;
}

/* Announces blind flips; the view itself always computes them from now. */
static void
update_blind(struct alerts *a, const struct alerts_now *now)
{
	bool stale = a->cfg.feed_timeout_usec &&
		     since(now->mono_usec, a->last_feed_usec) >= a->cfg.feed_timeout_usec;
	bool down = !a->broker_connected &&
		    since(now->mono_usec, a->broker_down_usec) >= a->cfg.broker_blind_usec;

	if (stale != a->feed_stale || down != a->broker_down)
		a->op_changed = true;
	a->feed_stale = stale;
	a->broker_down = down;
}

static void
op_end(struct alerts *a, const struct alerts_now *now)
{
	static const enum sound order[] = { SOUND_INCIDENT, SOUND_WARN, SOUND_CHIRP };

	update_blind(a, now);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((a->op_sounds & (1u << order[i])) && a->fx.sound)
			a->fx.sound(a->userdata, order[i]);
	if (a->op_changed && a->fx.changed)
		a->fx.changed(a->userdata);
	a->busy = false;
}

/* ---- raising and clearing ---- */

static enum sound
sound_for(const struct alerts *a, const struct ticket *t)
{
	switch (t->kind) {
	case ALERT_NEW:
		if (t->priority >= a->cfg.chirp_min_priority && !a->incident)
			return SOUND_CHIRP;
		return SOUND_NONE;
	case ALERT_WARNING:
		return SOUND_WARN;
	default:
		return SOUND_NONE;
	}
}

/* Sets the raising event's id; board-raised alerts carry "". Falls back to
 * "" when memory is short: the alert matters more than its provenance.
 * May move the ticket (*tp). */
static void
set_event_id(struct alerts *a, struct ticket **tp, struct touch *tc, const char *event_id)
{
	const char *v[STR_COUNT] = { 0 };

	if (!event_id || !event_id[0]) {
		str_clear(*tp, STR_EVENT_ID);
		return;
	}
	v[STR_EVENT_ID] = event_id;
	if (ticket_set_strs(a, tp, v) < 0)
		str_clear(*tp, STR_EVENT_ID);
	else
		tc->strings = true;
}

static void
make_unacked(struct ticket *t, const struct alerts_now *now)
{
	t->state = ALERT_UNACKED;
	t->raised_usec = mono_i64(now);
	t->raised_ms = now->wall_ms;
	str_clear(t, STR_ACKED_BY);
	t->acked_at_ms = 0;
	t->acked_usec = 0;
	t->escalated = false;
}

/* The raise_*() functions may move the ticket (*tp). */
static void
raise_new(struct alerts *a, struct ticket **tp, struct touch *tc, const struct alerts_now *now,
	  const char *event_id)
{
	struct ticket *t = *tp;

	if (t->kind < ALERT_NEW)
		t->kind = ALERT_NEW;
	if (t->state != ALERT_UNACKED)
		make_unacked(t, now);
	set_event_id(a, tp, tc, event_id);
	tc->sound = sound_for(a, *tp);
}

static void
raise_warning(struct alerts *a, struct ticket **tp, struct touch *tc, const struct alerts_now *now,
	      const char *event_id)
{
	if ((*tp)->kind < ALERT_WARNING) {
		(*tp)->kind = ALERT_WARNING;
		set_event_id(a, tp, tc, event_id);
	}
	if ((*tp)->state == ALERT_CLEARED) {
		make_unacked(*tp, now);
		set_event_id(a, tp, tc, event_id);
	}
	if ((*tp)->kind == ALERT_WARNING && (*tp)->state == ALERT_UNACKED)
		tc->sound = sound_for(a, *tp);
}

static void
raise_breach(struct alerts *a, struct ticket **tp, struct touch *tc, const struct alerts_now *now,
	     const char *event_id)
{
	struct ticket *t = *tp;

	if (t->kind != ALERT_BREACHED || t->state != ALERT_UNACKED)
		make_unacked(t, now);
	t->kind = ALERT_BREACHED;
	set_event_id(a, tp, tc, event_id);
	/* The repeating alarm comes from the view; no one-shot on top. */
	tc->sound = SOUND_NONE;
}

static void
clear_alert(struct ticket *t)
{
	t->kind = ALERT_NONE;
	t->state = ALERT_CLEARED;
	t->escalated = false;
	str_clear(t, STR_ACKED_BY);
	str_clear(t, STR_EVENT_ID);
	t->acked_at_ms = 0;
	t->acked_usec = 0;
}

/* Raises what the board's clock and the alert timers say is due at now.
 * Afterwards every remaining deadline of the ticket lies after now. May
 * move the ticket (*tp). */
static void
run_clock(struct alerts *a, struct ticket **tp, struct touch *tc, const struct alerts_now *now)
{
	int64_t mono = mono_i64(now);
	struct ticket *t = *tp;

	for (int s = 0; s < SLA_KIND_COUNT && !t->paused; s++) {
		enum level l;

		if (!sla_running(t, s))
			continue;
		l = clock_level(a, t, s, mono);
		if (l == LEVEL_BREACHED && level_of(t, s) < LEVEL_BREACHED) {
			level_set(t, s, LEVEL_BREACHED);
			raise_breach(a, tp, tc, now, "");
		} else if (l == LEVEL_WARNING && level_of(t, s) < LEVEL_WARNING) {
			level_set(t, s, LEVEL_WARNING);
			raise_warning(a, tp, tc, now, "");
		}
		t = *tp;
	}
	if (t->state == ALERT_ACKED && a->cfg.ack_timeout_usec &&
	    now->mono_usec >= after(t->acked_usec, a->cfg.ack_timeout_usec)) {
		make_unacked(t, now);
		str_clear(t, STR_EVENT_ID);
		tc->sound = sound_for(a, t);
	}
	if (t->state == ALERT_UNACKED && t->kind == ALERT_BREACHED && !t->escalated &&
	    a->cfg.escalate_after_usec &&
	    now->mono_usec >= after(t->raised_usec, a->cfg.escalate_after_usec)) {
		t->escalated = true;
		tc->escalate = true;
	}
}

/* After a due moved: lower board-raised levels the clock no longer
 * supports (never below the backend's word), then the alert's kind. */
static void
reevaluate_down(struct alerts *a, struct ticket *t, const bool moved[SLA_KIND_COUNT],
		const struct alerts_now *now)
{
	int64_t ref = t->paused ? (int64_t)t->paused_usec : mono_i64(now);
	enum level top = LEVEL_NONE;
	enum alert_kind k;

	for (int s = 0; s < SLA_KIND_COUNT; s++) {
		enum level l;

		if (!moved[s] || !sla_running(t, s))
			continue;
		l = clock_level(a, t, s, ref);
		if (backend_level(t, s) > l)
			l = backend_level(t, s);
		if (l < level_of(t, s))
			level_set(t, s, l);
	}
	for (int s = 0; s < SLA_KIND_COUNT; s++) {
		enum level l = sla_running(t, s) ? level_of(t, s) : LEVEL_NONE;

		if (backend_level(t, s) > l)
			l = backend_level(t, s);
		if (l > top)
			top = l;
	}
	k = top == LEVEL_BREACHED  ? ALERT_BREACHED
	    : top == LEVEL_WARNING ? ALERT_WARNING
				   : ALERT_NEW;
	if (t->kind >= ALERT_WARNING && k < t->kind) {
		t->kind = k;
		if (k != ALERT_BREACHED)
			t->escalated = false;
	}
}

/* ---- events ---- */

static bool
event_creates(enum event_type type)
{
	return type == EVENT_TICKET_CREATED || type == EVENT_TICKET_UPDATED ||
	       type == EVENT_TICKET_ASSIGNED || type == EVENT_SLA_WARNING ||
	       type == EVENT_SLA_BREACHED;
}

static int
validate_event(const struct event *ev)
{
	const struct event_ticket *et = &ev->ticket;

	if ((unsigned)ev->type >= EVENT_TYPE_COUNT)
		return -EINVAL;
	if (ev->type >= EVENT_INCIDENT_OPENED)
		return 0;
	if (!ev->has_ticket || !et->id[0])
		return -EINVAL;
	if ((ev->type == EVENT_SLA_WARNING || ev->type == EVENT_SLA_BREACHED) &&
	    (unsigned)ev->sla >= SLA_KIND_COUNT)
		return -EINVAL;
	if (et->has_channel && (unsigned)et->channel >= CHANNEL_COUNT)
		return -EINVAL;
	if (et->has_priority && (unsigned)et->priority >= PRIORITY_COUNT)
		return -EINVAL;
	return 0;
}

/* Copies the fields the event carries. Returns true if the priority rose
 * to urgent. May move the ticket (*tp). */
static bool
apply_fields(struct alerts *a, struct ticket **tp, struct touch *tc, const struct event *ev,
	     const struct alerts_now *now)
{
	const struct event_ticket *et = &ev->ticket;
	const char *v[STR_COUNT] = { 0 };
	bool moved[SLA_KIND_COUNT] = { false }, any_moved = false;
	struct ticket *t;
	enum priority old = (*tp)->priority;
	int r;

	if (et->has_subject)
		v[STR_SUBJECT] = et->subject;
	if (et->has_customer)
		v[STR_CUSTOMER] = et->customer;
	if (et->has_queue)
		v[STR_QUEUE] = et->queue;
	if (ev->type == EVENT_TICKET_ASSIGNED)
		v[STR_ASSIGNEE] = ev->agent;
	r = ticket_set_strs(a, tp, v);
	if (r > 0)
		tc->strings = true;
	t = *tp;
	if (et->has_channel)
		t->channel = et->channel;
	if (et->has_priority)
		t->priority = et->priority;
	if (et->has_public)
		t->public = et->public;
	/* Whoever sends dues owns the ticket's SLAs from then on. */
	if (et->due_ms[SLA_FIRST_RESPONSE] || et->due_ms[SLA_RESOLUTION])
		t->due_policy = et->due_from_policy;
	for (int s = 0; s < SLA_KIND_COUNT; s++) {
		if (!et->due_ms[s] || et->due_ms[s] == t->due_ms[s])
			continue;
		if (s == SLA_FIRST_RESPONSE && t->responded && et->due_ms[s] > ev->ts_ms) {
			/* A first_response due that moves after a reply is the
			 * next-response SLA: its clock runs again. Its warning
			 * moment still counts from the ticket's creation. */
			t->responded = false;
			level_set(t, s, LEVEL_NONE);
			t->backend_warning = bit_set(t->backend_warning, s, false);
			t->backend_breached = bit_set(t->backend_breached, s, false);
		}
		t->due_ms[s] = et->due_ms[s];
		t->shift_usec[s] = 0;
		if (t->paused) {
			/* Frozen clock: the new time left counts from now but is
			 * anchored where the clock stopped. */
			t->due_usec[s] = (int64_t)t->paused_usec +
					 diff_ms(et->due_ms[s], now->wall_ms) * 1000;
		} else {
			t->due_usec[s] = mono_of_wall(now, et->due_ms[s]);
		}
		moved[s] = any_moved = true;
	}
	if (any_moved)
		reevaluate_down(a, t, moved, now);
	return t->priority > old && t->priority == PRIORITY_URGENT;
}

static struct ticket *
ticket_create(struct alerts *a, const struct event *ev, int *err)
{
	const char *v[STR_COUNT] = { 0 };
	struct ticket *t;

	*err = tickets_reserve(a);
	if (*err < 0)
		return NULL;
	v[STR_ID] = ev->ticket.id;
	t = ticket_build(NULL, v);
	if (!t) {
		*err = -ENOMEM;
		return NULL;
	}
	t->heap_idx = NO_INDEX;
	t->deadline_usec = UINT64_MAX;
	t->channel = CHANNEL_OTHER;
	t->priority = PRIORITY_NORMAL;
	t->kind = ALERT_NONE;
	t->state = ALERT_CLEARED;
	t->created_ms = ev->ts_ms;
	t->last_ts_ms = ev->ts_ms;
	slots_put(a->slots, a->nslots, t);
	a->n++;
	counts_account(a, t, +1);
	return t;
}

static void
ticket_remove(struct alerts *a, struct ticket *t)
{
	counts_account(a, t, -1);
	heap_remove(a, t);
	tickets_remove(a, t);
	ticket_free(t);
}

static int
apply_ticket_event(struct alerts *a, const struct event *ev, const struct alerts_now *now)
{
	struct ticket *t = tickets_find(a, ev->ticket.id);
	bool created = false, urgent;
	struct touch tc;
	int s = ev->sla, r;

	if (!t) {
		const struct tomb *tb;

		if (ev->type == EVENT_TICKET_SOLVED || ev->type == EVENT_TICKET_CLOSED)
			tomb_add(a, ev->ticket.id, ev->ts_ms);
		if (!event_creates(ev->type))
			return 1;
		tb = tomb_find(a, ev->ticket.id);
		if (tb && ev->ts_ms <= tb->ts_ms)
			return 1;
		if (a->n >= a->cfg.max_tickets)
			return -ENOSPC;
		t = ticket_create(a, ev, &r);
		if (!t)
			return r;
		created = true;
	} else if (ev->ts_ms < t->last_ts_ms) {
		return 1;
	}

	if (ev->type == EVENT_TICKET_SOLVED || ev->type == EVENT_TICKET_CLOSED) {
		char id[TICKET_ID_MAX];

		copy_str(id, sizeof(id), tstr(t, STR_ID));
		tomb_add(a, id, ev->ts_ms);
		ticket_remove(a, t);
		a->op_changed = true;
		if (a->fx.ticket_removed)
			a->fx.ticket_removed(a->userdata, id);
		return 0;
	}

	touch_begin(a, t, &tc);
	tc.created = created;
	if (ev->ts_ms > t->last_ts_ms)
		t->last_ts_ms = ev->ts_ms;
	urgent = false;
	if (created || ev->type == EVENT_TICKET_CREATED || ev->type == EVENT_TICKET_UPDATED ||
	    ev->type == EVENT_TICKET_ASSIGNED)
		urgent = apply_fields(a, &t, &tc, ev, now);
	if (created || (urgent && t->state != ALERT_UNACKED)) {
		raise_new(a, &t, &tc, now, ev->id);
	} else if (urgent) {
		/* Already flashing: sound again, but keep its age. */
		set_event_id(a, &t, &tc, ev->id);
		tc.sound = sound_for(a, t);
	}
	switch (ev->type) {
	case EVENT_TICKET_REPLIED:
		t->responded = true;
		if (level_of(t, SLA_RESOLUTION) != LEVEL_BREACHED)
			clear_alert(t);
		else if (t->kind != ALERT_BREACHED)
			raise_breach(a, &t, &tc, now, ev->id);
		break;
	case EVENT_SLA_WARNING:
	case EVENT_SLA_BREACHED:
		if (ev->type == EVENT_SLA_WARNING) {
			t->backend_warning = bit_set(t->backend_warning, s, true);
			if (level_of(t, s) < LEVEL_WARNING) {
				level_set(t, s, LEVEL_WARNING);
				raise_warning(a, &t, &tc, now, ev->id);
			}
		} else {
			t->backend_breached = bit_set(t->backend_breached, s, true);
			if (level_of(t, s) < LEVEL_BREACHED) {
				level_set(t, s, LEVEL_BREACHED);
				raise_breach(a, &t, &tc, now, ev->id);
			}
		}
		break;
	case EVENT_SLA_PAUSED:
		if (!t->paused) {
			t->paused = true;
			t->paused_usec = now->mono_usec;
		}
		break;
	case EVENT_SLA_RESUMED:
		if (t->paused) {
			int64_t stopped = (int64_t)since(now->mono_usec, t->paused_usec);

			for (int i = 0; i < SLA_KIND_COUNT; i++) {
				if (!t->due_ms[i])
					continue;
				t->due_usec[i] += stopped;
				t->shift_usec[i] += stopped;
			}
			t->paused = false;
			t->paused_usec = 0;
		}
		break;
	default:
		break;
	}
	run_clock(a, &t, &tc, now);
	touch_end(a, t, &tc, now);
	return 0;
}

static int
apply_incident(struct alerts *a, const struct event *ev)
{
	if (ev->ts_ms < a->incident_ts_ms)
		return 1;
	a->incident_ts_ms = ev->ts_ms;
	if (ev->type == EVENT_INCIDENT_OPENED) {
		if (!a->incident)
			a->op_sounds |= 1u << SOUND_INCIDENT;
		if (!a->incident ||
		    !str_same(a->incident_title, ev->incident_title, EVENT_TEXT_MAX))
			a->op_changed = true;
		a->incident = true;
		copy_str(a->incident_title, sizeof(a->incident_title), ev->incident_title);
	} else if (a->incident) {
		a->incident = false;
		a->incident_title[0] = '\0';
		a->op_changed = true;
	}
	return 0;
}

/* ---- public API ---- */

static void
config_sanitize(struct alerts_config *c)
{
	if (c->warn_at_pct < 1)
		c->warn_at_pct = 1;
	if (c->warn_at_pct > 99)
		c->warn_at_pct = 99;
	if (!c->max_tickets)
		c->max_tickets = ALERTS_DEFAULT_MAX_TICKETS;
	if ((unsigned)c->chirp_min_priority >= PRIORITY_COUNT)
		c->chirp_min_priority = PRIORITY_NORMAL;
}

struct alerts *
alerts_new(const struct alerts_config *cfg, const struct alerts_effects *fx, void *userdata,
	   const struct alerts_now *now)
{
	struct alerts *a;

	if (!cfg || !now) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cfg = *cfg;
	config_sanitize(&a->cfg);
	if (fx)
		a->fx = *fx;
	a->userdata = userdata;
	a->last_feed_usec = now->mono_usec;
	a->broker_down_usec = now->mono_usec;
	a->incident_ts_ms = INT64_MIN;
	update_blind(a, now);
	a->op_changed = false;
	return a;
}

void
alerts_free(struct alerts *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nslots; i++)
		ticket_free(a->slots[i]);
	free(a->slots);
	free(a->heap);
	free(a->tombs);
	free(a->tomb_slots);
	free(a);
}

void
alerts_set_config(struct alerts *a, const struct alerts_config *cfg, const struct alerts_now *now)
{
	if (!a || !cfg || !now || a->busy)
		return;
	op_begin(a);
	a->cfg = *cfg;
	config_sanitize(&a->cfg);
	/* Deadlines derive from stored monotonic dues and the config, so all
	 * of them follow the new config; the heap is rebuilt in O(n). */
	heap_rebuild(a);
	op_end(a, now);
}

void
alerts_rebase(struct alerts *a, int64_t correction_ms, const struct alerts_now *now)
{
	if (!a || !now || a->busy || correction_ms == 0)
		return;
	op_begin(a);
	for (size_t i = 0; i < a->nslots; i++) {
		struct ticket *t = a->slots[i];

		if (!t)
			continue;
		for (int s = 0; s < SLA_KIND_COUNT; s++)
			if (t->due_ms[s])
				t->due_usec[s] -= correction_ms * 1000;
	}
	heap_rebuild(a);
	op_end(a, now);
}

int
alerts_apply(struct alerts *a, const struct event *ev, const struct alerts_now *now)
{
	int r;

	if (!a || !ev || !now)
		return -EINVAL;
	if (a->busy)
		return -EBUSY;
	op_begin(a);
	a->last_feed_usec = now->mono_usec;
	r = validate_event(ev);
	if (r < 0 || ev->type == EVENT_HEARTBEAT)
		goto out;
	if (ev->type == EVENT_INCIDENT_OPENED || ev->type == EVENT_INCIDENT_RESOLVED)
		r = apply_incident(a, ev);
	else
		r = apply_ticket_event(a, ev, now);
out:
	op_end(a, now);
	return r;
}

void
alerts_feed_seen(struct alerts *a, const struct alerts_now *now)
{
	if (!a || !now || a->busy)
		return;
	op_begin(a);
	a->last_feed_usec = now->mono_usec;
	op_end(a, now);
}

void
alerts_broker(struct alerts *a, bool connected, const struct alerts_now *now)
{
	if (!a || !now || a->busy)
		return;
	op_begin(a);
	if (!connected && a->broker_connected)
		a->broker_down_usec = now->mono_usec;
	a->broker_connected = connected;
	op_end(a, now);
}

static bool
snapshot_valid(const struct ticket_snapshot *t)
{
	if (!t->id[0] || (unsigned)t->channel >= CHANNEL_COUNT ||
	    (unsigned)t->priority >= PRIORITY_COUNT || (unsigned)t->kind > ALERT_BREACHED ||
	    (unsigned)t->state > ALERT_ACKED)
		return false;
	return (t->kind == ALERT_NONE) == (t->state == ALERT_CLEARED);
}

int
alerts_restore(struct alerts *a, const struct ticket_snapshot *snap, const struct alerts_now *now)
{
	const char *v[STR_COUNT] = { 0 };
	struct ticket *t;
	int64_t mono;
	int r;

	if (!a || !snap || !now)
		return -EINVAL;
	if (a->busy)
		return -EBUSY;
	if (!snapshot_valid(snap))
		return -EINVAL;
	if (tickets_find(a, snap->id))
		return -EEXIST;
	if (a->n >= a->cfg.max_tickets)
		return -ENOSPC;
	r = tickets_reserve(a);
	if (r < 0)
		return r;
	v[STR_ID] = snap->id;
	v[STR_SUBJECT] = snap->subject;
	v[STR_CUSTOMER] = snap->customer;
	v[STR_QUEUE] = snap->queue;
	v[STR_ASSIGNEE] = snap->assignee;
	v[STR_EVENT_ID] = snap->event_id;
	v[STR_ACKED_BY] = snap->state == ALERT_ACKED ? snap->acked_by : "";
	t = ticket_build(NULL, v);
	if (!t)
		return -ENOMEM;
	mono = mono_i64(now);
	t->heap_idx = NO_INDEX;
	t->deadline_usec = UINT64_MAX;
	t->channel = snap->channel;
	t->priority = snap->priority;
	t->public = snap->public;
	t->created_ms = snap->created_ms;
	t->last_ts_ms = snap->last_ts_ms;
	t->responded = snap->responded;
	t->due_policy = snap->due_policy;
	t->paused = snap->paused;
	t->paused_usec = snap->paused ? now->mono_usec : 0;
	t->kind = snap->kind;
	t->state = snap->state;
	t->escalated =
		snap->escalated && snap->state == ALERT_UNACKED && snap->kind == ALERT_BREACHED;
	t->raised_ms = snap->raised_ms;
	t->raised_usec = mono_of_past(now, snap->raised_ms);
	if (t->state == ALERT_ACKED) {
		t->acked_at_ms = snap->acked_at_ms;
		t->acked_usec = mono_of_past(now, snap->acked_at_ms);
	}
	for (int s = 0; s < SLA_KIND_COUNT; s++) {
		enum level kind_level = snap->kind == ALERT_BREACHED  ? LEVEL_BREACHED
					: snap->kind == ALERT_WARNING ? LEVEL_WARNING
								      : LEVEL_NONE;
		enum level l, handled;

		t->backend_warning = bit_set(t->backend_warning, s, snap->backend_warning[s]);
		t->backend_breached = bit_set(t->backend_breached, s, snap->backend_breached[s]);
		t->due_ms[s] = snap->due_ms[s];
		if (!t->due_ms[s])
			continue;
		if (t->paused)
			t->due_usec[s] = (int64_t)t->paused_usec +
					 clamp_span(snap->paused_left_ms[s]) * 1000;
		else
			t->due_usec[s] = mono_of_wall(now, t->due_ms[s]);
		/* What the alert shows, or what passed before the last event
		 * (a reply may have cleared it), has been dealt with. */
		l = clock_level(a, t, s, t->paused ? (int64_t)t->paused_usec : mono);
		handled = t->paused ? l : clock_level(a, t, s, mono_of_wall(now, snap->last_ts_ms));
		if (kind_level > handled)
			handled = kind_level;
		level_set(t, s, l < handled ? l : handled);
	}
	for (int s = 0; s < SLA_KIND_COUNT; s++)
		if (backend_level(t, s) > level_of(t, s))
			level_set(t, s, backend_level(t, s));
	slots_put(a->slots, a->nslots, t);
	a->n++;
	counts_account(a, t, +1);
	heap_update(a, t);
	return 0;
}

void
alerts_set_incident(struct alerts *a, bool open, const char *title, const struct alerts_now *now,
		    bool with_sound)
{
	if (!a || !now || a->busy)
		return;
	op_begin(a);
	if (open) {
		if (!a->incident && with_sound)
			a->op_sounds |= 1u << SOUND_INCIDENT;
		if (!a->incident ||
		    !str_same(a->incident_title, title ? title : "", EVENT_TEXT_MAX))
			a->op_changed = true;
		a->incident = true;
		copy_str(a->incident_title, sizeof(a->incident_title), title);
	} else if (a->incident) {
		a->incident = false;
		a->incident_title[0] = '\0';
		a->op_changed = true;
	}
	op_end(a, now);
}

uint64_t
alerts_next_deadline(const struct alerts *a)
{
	uint64_t d = UINT64_MAX;

	if (!a)
		return d;
	if (a->heap_len)
		d = a->heap[0]->deadline_usec;
	if (!a->feed_stale && a->cfg.feed_timeout_usec) {
		uint64_t x = add_sat(a->last_feed_usec, a->cfg.feed_timeout_usec);

		d = x < d ? x : d;
	}
	if (!a->broker_connected && !a->broker_down) {
		uint64_t x = add_sat(a->broker_down_usec, a->cfg.broker_blind_usec);

		d = x < d ? x : d;
	}
	return d;
}

void
alerts_tick(struct alerts *a, const struct alerts_now *now)
{
	size_t budget;

	if (!a || !now || a->busy)
		return;
	op_begin(a);
	/* Each pass leaves the ticket's deadline after now, so every ticket is
	 * handled at most once; the budget only guards against a bug making
	 * run_clock() and ticket_deadline() disagree, which would otherwise
	 * wedge the loop here. */
	budget = a->heap_len;
	while (budget-- > 0 && a->heap_len && a->heap[0]->deadline_usec <= now->mono_usec) {
		struct ticket *t = a->heap[0];
		struct touch tc;

		touch_begin(a, t, &tc);
		run_clock(a, &t, &tc, now);
		touch_end(a, t, &tc, now);
	}
	op_end(a, now);
}

/* ---- ordering ---- */

static int
group_of(const struct ticket *t)
{
	return t->state == ALERT_UNACKED ? 0 : t->state == ALERT_ACKED ? 1 : 2;
}

/* The monotonic due that orders tickets; false if none. A paused ticket
 * sorts by the time it has left. */
static bool
sort_due(const struct ticket *t, int64_t mono, int64_t *out)
{
	int s;

	if (sla_running(t, SLA_FIRST_RESPONSE))
		s = SLA_FIRST_RESPONSE;
	else if (t->due_ms[SLA_RESOLUTION])
		s = SLA_RESOLUTION;
	else
		return false;
	*out = t->paused ? mono + (t->due_usec[s] - (int64_t)t->paused_usec) : t->due_usec[s];
	return true;
}

static int
ticket_cmp(const struct ticket *x, const struct ticket *y, int64_t mono)
{
	int64_t dx = 0, dy = 0;
	bool hx, hy;

	if (group_of(x) != group_of(y))
		return group_of(x) < group_of(y) ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind > y->kind ? -1 : 1;
	hx = sort_due(x, mono, &dx);
	hy = sort_due(y, mono, &dy);
	if (hx != hy)
		return hx ? -1 : 1;
	if (dx != dy)
		return dx < dy ? -1 : 1;
	if (x->raised_usec != y->raised_usec)
		return x->raised_usec < y->raised_usec ? -1 : 1;
	return strcmp(tstr(x, STR_ID), tstr(y, STR_ID));
}

/* Listings hold hash slot indices, not ticket pointers: a callback may
 * call alerts_ack(), which moves the ticket but not its slot. */
struct order {
	const struct alerts *a;
	int64_t mono;
};

static int
slot_cmp(const struct order *o, uint32_t x, uint32_t y)
{
	return ticket_cmp(o->a->slots[x], o->a->slots[y], o->mono);
}

static int
slot_qsort_cmp(const void *p, const void *q, void *ctx)
{
	return slot_cmp(ctx, *(const uint32_t *)p, *(const uint32_t *)q);
}

int
alerts_pick_next(const struct alerts *a, const struct alerts_now *now, struct alert_info *out)
{
	const struct ticket *best = NULL;
	int64_t mono;

	if (!a || !now)
		return -EINVAL;
	mono = mono_i64(now);
	for (size_t i = 0; i < a->nslots; i++) {
		const struct ticket *t = a->slots[i];

		if (t && t->state == ALERT_UNACKED && (!best || ticket_cmp(t, best, mono) < 0))
			best = t;
	}
	if (!best)
		return -ENOENT;
	if (out)
		fill_info(best, now, out);
	return 0;
}

int
alerts_get(const struct alerts *a, const char *ticket_id, const struct alerts_now *now,
	   struct alert_info *out)
{
	const struct ticket *t;

	if (!a || !ticket_id || !now)
		return -EINVAL;
	t = tickets_find(a, ticket_id);
	if (!t)
		return -ENOENT;
	if (out)
		fill_info(t, now, out);
	return 0;
}

int
alerts_ack(struct alerts *a, const char *ticket_id, const char *agent, const struct alerts_now *now)
{
	const char *v[STR_COUNT] = { 0 };
	struct ticket *t;
	struct touch tc;

	if (!a || !ticket_id || !now)
		return -EINVAL;
	if (a->busy)
		return -EBUSY;
	t = tickets_find(a, ticket_id);
	if (!t)
		return -ENOENT;
	if (t->state != ALERT_UNACKED)
		return -EALREADY;
	op_begin(a);
	touch_begin(a, t, &tc);
	t->state = ALERT_ACKED;
	t->escalated = false;
	t->acked_at_ms = now->wall_ms;
	t->acked_usec = mono_i64(now);
	/* The caller already made the ack durable: it must take effect even if
	 * the name cannot be kept for lack of memory. */
	v[STR_ACKED_BY] = agent ? agent : "";
	if (ticket_set_strs(a, &t, v) > 0)
		tc.strings = true;
	touch_end(a, t, &tc, now);
	op_end(a, now);
	return 0;
}

void
alerts_foreach(const struct alerts *a, const struct alerts_now *now, alerts_foreach_fn fn,
	       void *userdata)
{
	struct order o;
	uint32_t *arr;
	struct alert_info info;
	size_t n = 0;

	if (!a || !now || !fn || !a->n)
		return;
	o.a = a;
	o.mono = mono_i64(now);
	arr = malloc(a->n * sizeof(*arr));
	for (size_t i = 0; i < a->nslots; i++) {
		if (!a->slots[i])
			continue;
		if (!arr) {
			/* Out of memory: unsorted beats nothing. */
			fill_info(a->slots[i], now, &info);
			fn(userdata, &info);
			continue;
		}
		arr[n++] = (uint32_t)i;
	}
	if (!arr)
		return;
	qsort_r(arr, n, sizeof(*arr), slot_qsort_cmp, &o);
	for (size_t i = 0; i < n; i++) {
		fill_info(a->slots[arr[i]], now, &info);
		fn(userdata, &info);
	}
	free(arr);
}

/* heap[0] is the least urgent of the kept tickets (a max-heap under
 * ticket_cmp): a more urgent newcomer replaces it. */
static void
keep_sift_down(const struct order *o, uint32_t *heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, worst = i;

		if (l < n && slot_cmp(o, heap[l], heap[worst]) > 0)
			worst = l;
		if (r < n && slot_cmp(o, heap[r], heap[worst]) > 0)
			worst = r;
		if (worst == i)
			return;
		uint32_t x = heap[i];
		heap[i] = heap[worst];
		heap[worst] = x;
		i = worst;
	}
}

static void
keep_sift_up(const struct order *o, uint32_t *heap, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (slot_cmp(o, heap[i], heap[parent]) <= 0)
			return;
		uint32_t x = heap[i];
		heap[i] = heap[parent];
		heap[parent] = x;
		i = parent;
	}
}

size_t
alerts_foreach_first(const struct alerts *a, const struct alerts_now *now, size_t max,
		     alerts_foreach_fn fn, void *userdata)
{
	struct order o;
	uint32_t *heap;
	struct alert_info info;
	size_t n = 0;

	if (!a || !now || !fn || !a->n)
		return a ? a->n : 0;
	if (max >= a->n) {
		alerts_foreach(a, now, fn, userdata);
		return a->n;
	}
	if (max == 0)
		return a->n;
	o.a = a;
	o.mono = mono_i64(now);
	heap = malloc(max * sizeof(*heap));
	if (!heap) {
		/* Out of memory: the first max, unsorted, beat nothing. */
		for (size_t i = 0; i < a->nslots && n < max; i++) {
			if (a->slots[i]) {
				fill_info(a->slots[i], now, &info);
				fn(userdata, &info);
				n++;
			}
		}
		return a->n;
	}
	for (size_t i = 0; i < a->nslots; i++) {
		if (!a->slots[i])
			continue;
		if (n < max) {
			heap[n] = (uint32_t)i;
			keep_sift_up(&o, heap, n++);
		} else if (slot_cmp(&o, (uint32_t)i, heap[0]) < 0) {
			heap[0] = (uint32_t)i;
			keep_sift_down(&o, heap, n, 0);
		}
	}
	qsort_r(heap, n, sizeof(*heap), slot_qsort_cmp, &o);
	for (size_t i = 0; i < n; i++) {
		fill_info(a->slots[heap[i]], now, &info);
		fn(userdata, &info);
	}
	free(heap);
	return a->n;
}

void
alerts_view(const struct alerts *a, const struct alerts_now *now, struct alerts_view *out)
{
	enum pattern *lamp;

	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!a || !now)
		return;
	lamp = out->lamp;
	out->counts = a->counts;
	out->feed_stale = a->cfg.feed_timeout_usec &&
			  since(now->mono_usec, a->last_feed_usec) >= a->cfg.feed_timeout_usec;
	out->broker_down = !a->broker_connected &&
			   since(now->mono_usec, a->broker_down_usec) >= a->cfg.broker_blind_usec;
	out->blind = out->feed_stale || out->broker_down;
	out->incident = a->incident;
	copy_str(out->incident_title, sizeof(out->incident_title), a->incident_title);

	if (a->escalated)
		lamp[LAMP_RED] = PATTERN_FAST;
	else if (a->unacked_breached)
		lamp[LAMP_RED] = PATTERN_SLOW;
	else
		lamp[LAMP_RED] = a->counts.breached ? PATTERN_STEADY : PATTERN_OFF;
	if (a->unacked_warning)
		lamp[LAMP_AMBER] = PATTERN_FAST;
	else if (a->unacked_new)
		lamp[LAMP_AMBER] = PATTERN_SLOW;
	else
		/* A ticket whose alert cleared (first response sent) needs
		 * nobody's attention: it does not keep amber on. */
		lamp[LAMP_AMBER] = a->alerting ? PATTERN_STEADY : PATTERN_OFF;
	if (out->blind)
		lamp[LAMP_GREEN] = PATTERN_BLIND;
	else
		lamp[LAMP_GREEN] = a->counts.unacked ? PATTERN_OFF : PATTERN_STEADY;
	lamp[LAMP_BLUE] = a->incident ? PATTERN_STEADY : PATTERN_OFF;
	if (a->escalated)
		out->repeating = SOUND_ESCALATED;
	else
		out->repeating = a->unacked_breached ? SOUND_ALARM : SOUND_NONE;
}

void
alerts_save_all(struct alerts *a)
{
	struct ticket_snapshot snap;

	if (!a || !a->fx.ticket_saved)
		return;
	for (size_t i = 0; i < a->nslots; i++) {
		if (!a->slots[i])
			continue;
		fill_snapshot(a->slots[i], &snap);
		a->fx.ticket_saved(a->userdata, &snap);
	}
}

size_t
alerts_open_count(const struct alerts *a)
{
	return a ? a->n : 0;
}

const char *
alert_kind_name(enum alert_kind k)
{
	static const char *const names[] = {
		[ALERT_NONE] = "none",
		[ALERT_NEW] = "new",
		[ALERT_WARNING] = "warning",
		[ALERT_BREACHED] = "breached",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

const char *
alert_state_name(enum alert_state s)
{
	static const char *const names[] = {
		[ALERT_CLEARED] = "cleared",
		[ALERT_UNACKED] = "unacked",
		[ALERT_ACKED] = "acked",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

const char *
alert_kind_event_name(enum alert_kind k)
{
	static const char *const names[] = {
		[ALERT_NONE] = "",
		[ALERT_NEW] = "ticket.created",
		[ALERT_WARNING] = "sla.warning",
		[ALERT_BREACHED] = "sla.breached",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "";
}
