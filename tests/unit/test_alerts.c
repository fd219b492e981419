/* Unit tests for the alert engine: events and an injected clock in, lamps,
 * sounds and effects out. No sleeping: time is a struct we move by hand. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"

#define SEC       1000000ULL
#define MIN       (60 * SEC)
#define T0_WALL   1795600000000LL /* 2026-11-25, ms */
#define T0_MONO   (1000 * SEC)
#define MAX_SAVED 64

struct saved {
	bool used;
	struct ticket_snapshot snap;
};

struct fixture {
	struct alerts *a;
	struct alerts_config cfg;
	struct alerts_now now;
	struct alerts_view view;
	/* effects seen */
	unsigned sounds[SOUND_COUNT];
	enum sound sound_seq[64];
	unsigned n_sound_seq;
	unsigned escalated;
	struct alert_info last_escalated;
	unsigned saved_count;
	struct saved saved[MAX_SAVED];
	unsigned removed;
	char last_removed[TICKET_ID_MAX];
	unsigned changed;
	/* re-entrancy probe */
	bool reenter;
	int reenter_rc;
};

static struct fixture *F;

/* ---- effects ---- */

static void
fx_sound(void *ud, enum sound s)
{
	struct fixture *f = ud;

	f->sounds[s]++;
	if (f->n_sound_seq < 64)
		f->sound_seq[f->n_sound_seq++] = s;
}

static void
fx_escalated(void *ud, const struct alert_info *a)
{
	struct fixture *f = ud;

	f->escalated++;
	f->last_escalated = *a;
}

static void
fx_saved(void *ud, const struct ticket_snapshot *t)
{
	struct fixture *f = ud;
	struct saved *free_slot = NULL;

	f->saved_count++;
	for (int i = 0; i < MAX_SAVED; i++) {
		if (f->saved[i].used && strcmp(f->saved[i].snap.id, t->id) == 0) {
			f->saved[i].snap = *t;
			return;
		}
		if (!f->saved[i].used && !free_slot)
			free_slot = &f->saved[i];
	}
	assert_non_null(free_slot);
	free_slot->used = true;
	free_slot->snap = *t;
}

static void
fx_removed(void *ud, const char *id)
{
	struct fixture *f = ud;

	f->removed++;
	snprintf(f->last_removed, sizeof(f->last_removed), "%s", id);
	for (int i = 0; i < MAX_SAVED; i++)
		if (f->saved[i].used && strcmp(f->saved[i].snap.id, id) == 0)
			f->saved[i].used = false;
}

static void
fx_changed(void *ud)
{
	struct fixture *f = ud;

	f->changed++;
	if (f->reenter) {
		struct event ev;

		memset(&ev, 0, sizeof(ev));
		ev.type = EVENT_HEARTBEAT;
		f->reenter_rc = alerts_apply(f->a, &ev, &f->now);
	}
}

static const struct alerts_effects effects = {
	.sound = fx_sound,
	.escalated = fx_escalated,
	.ticket_saved = fx_saved,
	.ticket_removed = fx_removed,
	.changed = fx_changed,
};

static const struct ticket_snapshot *
saved_of(const char *id)
{
	for (int i = 0; i < MAX_SAVED; i++)
		if (F->saved[i].used && strcmp(F->saved[i].snap.id, id) == 0)
			return &F->saved[i].snap;
	return NULL;
}

static void
reset_log(void)
{
	memset(F->sounds, 0, sizeof(F->sounds));
	F->n_sound_seq = 0;
	F->escalated = 0;
	F->saved_count = 0;
	F->removed = 0;
	F->changed = 0;
}

static unsigned
n_sounds(void)
{
	unsigned n = 0;

	for (int i = 0; i < SOUND_COUNT; i++)
		n += F->sounds[i];
	return n;
}

/* ---- clock and engine ---- */

static struct alerts_config
default_cfg(void)
{
	struct alerts_config c = {
		.warn_at_pct = 80,
		.ack_timeout_usec = 10 * MIN,
		.escalate_after_usec = 5 * MIN,
		/* Long, so tests about other things do not go blind; the feed
		 * tests set their own. */
		.feed_timeout_usec = 24 * 60 * MIN,
		.broker_blind_usec = 10 * SEC,
		.chirp_min_priority = PRIORITY_NORMAL,
		.max_tickets = 100,
	};

	return c;
}

/* Moves both clocks to T0 + ms. */
static void
at_ms(int64_t ms)
{
	F->now.mono_usec = T0_MONO + (uint64_t)ms * 1000;
	F->now.wall_ms = T0_WALL + ms;
}

static void
at(int64_t sec)
{
	at_ms(sec * 1000);
}

static void
engine_new(void)
{
	alerts_free(F->a);
	F->a = alerts_new(&F->cfg, &effects, F, &F->now);
	assert_non_null(F->a);
	alerts_broker(F->a, true, &F->now);
	reset_log();
}

static int
setup(void **state)
{
	F = calloc(1, sizeof(*F));
	assert_non_null(F);
	F->cfg = default_cfg();
	at(0);
	engine_new();
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	alerts_free(F->a);
	free(F);
	F = NULL;
	return 0;
}

static void
tick(void)
{
	alerts_tick(F->a, &F->now);
}

static const struct alerts_view *
view(void)
{
	alerts_view(F->a, &F->now, &F->view);
	return &F->view;
}

static struct alert_info
info(const char *id)
{
	struct alert_info i;

	assert_int_equal(alerts_get(F->a, id, &F->now, &i), 0);
	return i;
}

/* ---- events ---- */

static struct event
ev_make(enum event_type type, const char *ticket_id, int64_t ts_ms)
{
	static unsigned seq;
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "evt-%u", ++seq);
	ev.type = type;
	ev.ts_ms = ts_ms;
	if (ticket_id) {
		ev.has_ticket = true;
		snprintf(ev.ticket.id, sizeof(ev.ticket.id), "%s", ticket_id);
	}
	return ev;
}

static int
apply(const struct event *ev)
{
	return alerts_apply(F->a, ev, &F->now);
}

/* ticket.created at the current wall time; dues are seconds from now (0:
 * none). */
static int
create(const char *id, enum priority prio, enum channel ch, int64_t fr_s, int64_t res_s)
{
	struct event ev = ev_make(EVENT_TICKET_CREATED, id, F->now.wall_ms);

	ev.ticket.has_priority = true;
	ev.ticket.priority = prio;
	ev.ticket.has_channel = true;
	ev.ticket.channel = ch;
	ev.ticket.has_subject = true;
	snprintf(ev.ticket.subject, sizeof(ev.ticket.subject), "Subject of %s", id);
	if (fr_s)
		ev.ticket.due_ms[SLA_FIRST_RESPONSE] = F->now.wall_ms + fr_s * 1000;
	if (res_s)
		ev.ticket.due_ms[SLA_RESOLUTION] = F->now.wall_ms + res_s * 1000;
	return apply(&ev);
}

static int
simple(enum event_type type, const char *id)
{
	struct event ev = ev_make(type, id, F->now.wall_ms);

	return apply(&ev);
}

static int
sla_event(enum event_type type, const char *id, enum sla_kind sla)
{
	struct event ev = ev_make(type, id, F->now.wall_ms);

	ev.sla = sla;
	return apply(&ev);
}

static int
set_priority(const char *id, enum priority prio)
{
	struct event ev = ev_make(EVENT_TICKET_UPDATED, id, F->now.wall_ms);

	ev.ticket.has_priority = true;
	ev.ticket.priority = prio;
	return apply(&ev);
}

static int
ack(const char *id, const char *agent)
{
	return alerts_ack(F->a, id, agent, &F->now);
}

/* ---- basic lifecycle ---- */

static void
test_created_new_alert(void **state)
{
	const struct alerts_view *v;
	struct alert_info i;

	(void)state;
	assert_int_equal(create("T-1", PRIORITY_URGENT, CHANNEL_FACEBOOK, 300, 3600), 0);
	v = view();
	assert_int_equal(v->lamp[LAMP_AMBER], PATTERN_SLOW);
	assert_int_equal(v->lamp[LAMP_GREEN], PATTERN_OFF);
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_OFF);
	assert_int_equal(v->lamp[LAMP_BLUE], PATTERN_OFF);
	assert_int_equal(v->repeating, SOUND_NONE);
	assert_false(v->blind);
	assert_int_equal(v->counts.open, 1);
	assert_int_equal(v->counts.unacked, 1);
	assert_int_equal(v->counts.warning, 0);
	assert_int_equal(v->counts.open_per_channel[CHANNEL_FACEBOOK], 1);
	assert_int_equal(v->counts.unacked_per_channel[CHANNEL_FACEBOOK], 1);
	assert_int_equal(v->counts.open_per_channel[CHANNEL_EMAIL], 0);
	assert_int_equal(F->sounds[SOUND_CHIRP], 1);
	assert_int_equal(n_sounds(), 1);
	assert_int_equal(F->saved_count, 1);
	assert_int_equal(F->changed, 1);

	i = info("T-1");
	assert_int_equal(i.kind, ALERT_NEW);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_string_equal(i.ticket_id, "T-1");
	assert_string_equal(i.subject, "Subject of T-1");
	assert_int_equal(i.channel, CHANNEL_FACEBOOK);
	assert_int_equal(i.priority, PRIORITY_URGENT);
	assert_string_equal(i.acked_by, "");
	assert_true(i.event_id[0] != '\0');
	assert_int_equal(i.raised_ms, T0_WALL);
	assert_int_equal(i.raised_usec, T0_MONO);
	assert_true(i.has_due);
	assert_int_equal(i.due_sla, SLA_FIRST_RESPONSE);
	assert_int_equal(i.due_in_ms, 300000);
	assert_int_equal(alerts_open_count(F->a), 1);
	assert_int_equal(alerts_get(F->a, "T-2", &F->now, &i), -ENOENT);

	/* The snapshot handed to the store carries the ticket. */
	assert_non_null(saved_of("T-1"));
	assert_int_equal(saved_of("T-1")->due_ms[SLA_FIRST_RESPONSE], T0_WALL + 300000);
	assert_int_equal(saved_of("T-1")->kind, ALERT_NEW);
}

static void
test_low_priority_no_chirp(void **state)
{
	(void)state;
	F->cfg.chirp_min_priority = PRIORITY_HIGH;
	engine_new();
	assert_int_equal(create("T-low", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0), 0);
	assert_int_equal(create("T-norm", PRIORITY_NORMAL, CHANNEL_EMAIL, 0, 0), 0);
	assert_int_equal(n_sounds(), 0);
	/* Still an unacked alert, just a quiet one. */
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_SLOW);
	assert_int_equal(view()->counts.unacked, 2);
	assert_int_equal(create("T-high", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0), 0);
	assert_int_equal(F->sounds[SOUND_CHIRP], 1);
}

static void
test_ack(void **state)
{
	const struct alerts_view *v;
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_VK, 300, 0);
	create("T-2", PRIORITY_HIGH, CHANNEL_VK, 300, 0);
	at(5);
	reset_log();
	assert_int_equal(ack("T-1", "anna"), 0);
	assert_int_equal(F->changed, 1);
	assert_int_equal(F->saved_count, 1);
	assert_int_equal(saved_of("T-1")->state, ALERT_ACKED);
	assert_string_equal(saved_of("T-1")->acked_by, "anna");
	v = view();
	assert_int_equal(v->lamp[LAMP_AMBER], PATTERN_SLOW); /* T-2 still new */
	assert_int_equal(v->lamp[LAMP_GREEN], PATTERN_OFF);
	assert_int_equal(v->counts.unacked, 1);
	assert_int_equal(v->counts.unacked_per_channel[CHANNEL_VK], 1);

	assert_int_equal(ack("T-2", NULL), 0);
	v = view();
	assert_int_equal(v->lamp[LAMP_AMBER], PATTERN_STEADY);
	assert_int_equal(v->lamp[LAMP_GREEN], PATTERN_STEADY);
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_OFF);
	assert_int_equal(v->counts.open, 2);
	assert_int_equal(v->counts.unacked, 0);
	assert_int_equal(v->counts.unacked_per_channel[CHANNEL_VK], 0);

	i = info("T-1");
	assert_int_equal(i.state, ALERT_ACKED);
	assert_int_equal(i.kind, ALERT_NEW);
	assert_string_equal(i.acked_by, "anna");
	assert_int_equal(i.acked_at_ms, T0_WALL + 5000);
	assert_string_equal(info("T-2").acked_by, "");

	reset_log();
	assert_int_equal(ack("T-1", "bob"), -EALREADY);
	assert_int_equal(ack("nope", "bob"), -ENOENT);
	assert_string_equal(info("T-1").acked_by, "anna");
	assert_int_equal(F->changed, 0);
	assert_int_equal(alerts_pick_next(F->a, &F->now, &i), -ENOENT);
}

/* A board restored with a wrong clock learns the true time later: due
 * moments move with the correction, nothing else does. */
static void
test_rebase_moves_sla_deadlines(void **state)
{
	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_VK, 100, 0);
	alerts_rebase(F->a, 30 * 1000, &F->now);
	assert_int_equal(info("T-1").due_in_ms, 70 * 1000);
	at(69);
	tick();
	assert_int_not_equal(info("T-1").kind, ALERT_BREACHED);
	at(70);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_BREACHED);
}

/* After a reply, a new first_response due is the next-response SLA: it
 * must breach when missed, like the first one. */
static void
test_next_response_due_after_reply(void **state)
{
	struct event ev;
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_FACEBOOK, 300, 0);
	at(60);
	assert_int_equal(simple(EVENT_TICKET_REPLIED, "T-1"), 0);
	assert_int_equal(info("T-1").kind, ALERT_NONE);
	at(120);
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", F->now.wall_ms);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = F->now.wall_ms + 100 * 1000;
	assert_int_equal(apply(&ev), 0);
	i = info("T-1");
	assert_true(i.has_due);
	assert_int_equal(i.due_in_ms, 100 * 1000);
	at(219);
	tick();
	assert_true(info("T-1").kind != ALERT_BREACHED);
	at(220);
	tick();
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_BREACHED);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_int_equal(view()->lamp[LAMP_RED], PATTERN_SLOW);
}

static void
test_replied_clears(void **state)
{
	const struct alerts_view *v;
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_CHAT, 300, 3600);
	reset_log();
	assert_int_equal(simple(EVENT_TICKET_REPLIED, "T-1"), 0);
	assert_int_equal(F->changed, 1);
	assert_int_equal(n_sounds(), 0);
	v = view();
	/* Answered: nothing for the floor to do, though the ticket is open. */
	assert_int_equal(v->lamp[LAMP_AMBER], PATTERN_OFF);
	assert_int_equal(v->lamp[LAMP_GREEN], PATTERN_STEADY);
	assert_int_equal(v->counts.open, 1);
	assert_int_equal(v->counts.unacked, 0);
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_NONE);
	assert_int_equal(i.state, ALERT_CLEARED);
	/* The first-response clock stopped; the resolution one shows. */
	assert_int_equal(i.due_sla, SLA_RESOLUTION);
	assert_int_equal(i.due_in_ms, 3600000);
	assert_int_equal(alerts_pick_next(F->a, &F->now, &i), -ENOENT);
	assert_int_equal(ack("T-1", "anna"), -EALREADY);
	/* Nothing of the first response fires any more. */
	at(400);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_NONE);
}

static void
test_solved_removes(void **state)
{
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_CHAT, 300, 0);
	create("T-2", PRIORITY_HIGH, CHANNEL_CHAT, 300, 0);
	reset_log();
	assert_int_equal(simple(EVENT_TICKET_SOLVED, "T-1"), 0);
	assert_int_equal(F->removed, 1);
	assert_string_equal(F->last_removed, "T-1");
	assert_int_equal(F->changed, 1);
	assert_int_equal(alerts_get(F->a, "T-1", &F->now, &i), -ENOENT);
	assert_int_equal(view()->counts.open, 1);
	assert_int_equal(simple(EVENT_TICKET_CLOSED, "T-2"), 0);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_OFF);
	assert_int_equal(view()->lamp[LAMP_GREEN], PATTERN_STEADY);
	assert_int_equal(view()->counts.open, 0);
	assert_int_equal(view()->counts.open_per_channel[CHANNEL_CHAT], 0);
	assert_int_equal(alerts_open_count(F->a), 0);
	/* No deadlines of removed tickets stay behind. */
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 24 * 60 * MIN);
}

/* ---- the board's own SLA clock ---- */

static void
test_board_sla_clock(void **state)
{
	const struct alerts_view *v;
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_URGENT, CHANNEL_FACEBOOK, 100, 0);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 80 * SEC);
	reset_log();

	at(79);
	tick();
	assert_int_equal(n_sounds(), 0);
	assert_int_equal(F->changed, 0);
	assert_int_equal(info("T-1").kind, ALERT_NEW);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_SLOW);

	at_ms(79999);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_NEW);

	at(80);
	tick();
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_WARNING);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_string_equal(i.event_id, ""); /* the board raised it */
	assert_int_equal(F->sounds[SOUND_WARN], 1);
	assert_int_equal(n_sounds(), 1);
	assert_int_equal(F->changed, 1);
	v = view();
	assert_int_equal(v->lamp[LAMP_AMBER], PATTERN_FAST);
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_OFF);
	assert_int_equal(v->counts.warning, 1);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 100 * SEC);
	/* A second tick at the same moment does nothing more. */
	tick();
	assert_int_equal(F->sounds[SOUND_WARN], 1);

	at_ms(99999);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_WARNING);

	at(100);
	reset_log();
	tick();
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_BREACHED);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_int_equal(i.due_in_ms, 0);
	assert_int_equal(n_sounds(), 0); /* the alarm repeats from the view */
	v = view();
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_SLOW);
	assert_int_equal(v->repeating, SOUND_ALARM);
	assert_int_equal(v->counts.breached, 1);
	assert_int_equal(v->counts.warning, 0);
	assert_int_equal(v->lamp[LAMP_AMBER], PATTERN_STEADY);
	/* Escalation is what is left to come. */
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 100 * SEC + 5 * MIN);

	at(130);
	assert_int_equal(info("T-1").due_in_ms, -30000);
}

static void
test_ack_breach(void **state)
{
	const struct alerts_view *v;

	(void)state;
	create("T-1", PRIORITY_URGENT, CHANNEL_FACEBOOK, 100, 0);
	at(100);
	tick();
	assert_int_equal(view()->repeating, SOUND_ALARM);
	assert_int_equal(ack("T-1", "anna"), 0);
	v = view();
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_STEADY);
	assert_int_equal(v->repeating, SOUND_NONE);
	assert_int_equal(v->lamp[LAMP_GREEN], PATTERN_STEADY);
	assert_int_equal(v->counts.breached, 1);
	assert_int_equal(v->counts.unacked, 0);
	/* An acked breach does not escalate. */
	at(100 + 6 * 60);
	tick();
	assert_false(info("T-1").escalated);
	assert_int_equal(view()->lamp[LAMP_RED], PATTERN_STEADY);
}

static void
test_ringback_on_breach(void **state)
{
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_URGENT, CHANNEL_FACEBOOK, 100, 0);
	at(10);
	assert_int_equal(ack("T-1", "anna"), 0);
	/* Warning on an acked alert: the owner knows, no sound, stays acked. */
	at(80);
	reset_log();
	tick();
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_WARNING);
	assert_int_equal(i.state, ALERT_ACKED);
	assert_int_equal(n_sounds(), 0);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_STEADY);
	/* Breach rings back even though it was acked. */
	at(100);
	tick();
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_BREACHED);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_string_equal(i.acked_by, "");
	assert_int_equal(i.raised_ms, T0_WALL + 100000);
	assert_int_equal(view()->lamp[LAMP_RED], PATTERN_SLOW);
	assert_int_equal(view()->lamp[LAMP_GREEN], PATTERN_OFF);
	assert_int_equal(view()->counts.unacked, 1);
}

static void
test_priority_raise(void **state)
{
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_NORMAL, CHANNEL_EMAIL, 0, 0);
	at(5);
	ack("T-1", "anna");
	reset_log();
	/* A raise short of urgent changes nothing for the floor. */
	at(10);
	assert_int_equal(set_priority("T-1", PRIORITY_HIGH), 0);
	assert_int_equal(info("T-1").state, ALERT_ACKED);
	assert_int_equal(info("T-1").priority, PRIORITY_HIGH);
	assert_int_equal(n_sounds(), 0);
	/* Raised to urgent: ringback with a chirp. */
	at(20);
	assert_int_equal(set_priority("T-1", PRIORITY_URGENT), 0);
	i = info("T-1");
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_int_equal(i.kind, ALERT_NEW);
	assert_int_equal(i.raised_ms, T0_WALL + 20000);
	assert_string_equal(i.acked_by, "");
	assert_int_equal(F->sounds[SOUND_CHIRP], 1);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_SLOW);
	/* Urgent again (no raise): nothing. */
	reset_log();
	at(25);
	assert_int_equal(set_priority("T-1", PRIORITY_URGENT), 0);
	assert_int_equal(n_sounds(), 0);
	assert_int_equal(info("T-1").raised_ms, T0_WALL + 20000);

	/* A cleared ticket raised to urgent gets a new alert. */
	create("T-2", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0);
	simple(EVENT_TICKET_REPLIED, "T-2");
	assert_int_equal(info("T-2").state, ALERT_CLEARED);
	reset_log();
	at(30);
	assert_int_equal(set_priority("T-2", PRIORITY_URGENT), 0);
	i = info("T-2");
	assert_int_equal(i.kind, ALERT_NEW);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_int_equal(F->sounds[SOUND_CHIRP], 1);

	/* A lowered priority never re-alerts. */
	create("T-3", PRIORITY_URGENT, CHANNEL_EMAIL, 0, 0);
	ack("T-3", "bob");
	reset_log();
	assert_int_equal(set_priority("T-3", PRIORITY_LOW), 0);
	assert_int_equal(info("T-3").state, ALERT_ACKED);
	assert_int_equal(n_sounds(), 0);
}

static void
test_ack_timeout(void **state)
{
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	at(60);
	ack("T-1", "anna");
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 60 * SEC + 10 * MIN);
	reset_log();
	at(60 + 10 * 60 - 1);
	tick();
	assert_int_equal(info("T-1").state, ALERT_ACKED);
	assert_int_equal(F->changed, 0);
	at(60 + 10 * 60);
	tick();
	i = info("T-1");
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_int_equal(i.kind, ALERT_NEW);
	assert_int_equal(i.raised_ms, T0_WALL + 660000);
	assert_string_equal(i.acked_by, "");
	assert_string_equal(i.event_id, "");
	assert_int_equal(F->sounds[SOUND_CHIRP], 1);
	assert_int_equal(F->changed, 1);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_SLOW);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 24 * 60 * MIN);

	/* A warning re-alerts with the warning beep. */
	create("T-2", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	sla_event(EVENT_SLA_WARNING, "T-2", SLA_FIRST_RESPONSE);
	ack("T-2", "bob");
	reset_log();
	at(60 + 20 * 60);
	tick();
	assert_int_equal(info("T-2").state, ALERT_UNACKED);
	assert_int_equal(F->sounds[SOUND_WARN], 1);
	assert_int_equal(F->sounds[SOUND_CHIRP], 0);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_FAST);
}

static void
test_escalation(void **state)
{
	const struct alerts_view *v;

	(void)state;
	create("T-1", PRIORITY_URGENT, CHANNEL_TWITTER, 100, 0);
	at(100);
	tick();
	reset_log();
	at(100 + 5 * 60 - 1);
	tick();
	assert_int_equal(F->escalated, 0);
	assert_int_equal(view()->lamp[LAMP_RED], PATTERN_SLOW);
	at(100 + 5 * 60);
	tick();
	assert_int_equal(F->escalated, 1);
	assert_string_equal(F->last_escalated.ticket_id, "T-1");
	assert_true(F->last_escalated.escalated);
	assert_int_equal(F->last_escalated.kind, ALERT_BREACHED);
	assert_int_equal(F->changed, 1);
	v = view();
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_FAST);
	assert_int_equal(v->repeating, SOUND_ESCALATED);
	assert_true(info("T-1").escalated);
	/* Once only. */
	at(100 + 20 * 60);
	tick();
	assert_int_equal(F->escalated, 1);
	/* Ack ends the escalation. */
	assert_int_equal(ack("T-1", "anna"), 0);
	assert_false(info("T-1").escalated);
	v = view();
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_STEADY);
	assert_int_equal(v->repeating, SOUND_NONE);
	assert_false(saved_of("T-1")->escalated);
}

static void
test_pause_resume(void **state)
{
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_EMAIL, 100, 0);
	at(50);
	assert_int_equal(simple(EVENT_SLA_PAUSED, "T-1"), 0);
	i = info("T-1");
	assert_true(i.paused);
	assert_int_equal(i.due_in_ms, 50000);
	assert_int_equal(saved_of("T-1")->paused_left_ms[SLA_FIRST_RESPONSE], 50000);
	/* Nothing pending for the paused ticket: only the feed timer, which
	 * the pause event restarted. */
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 50 * SEC + 24 * 60 * MIN);
	at(200);
	tick();
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_NEW);
	assert_int_equal(i.due_in_ms, 50000); /* frozen */
	assert_int_equal(view()->lamp[LAMP_RED], PATTERN_OFF);

	at(300);
	assert_int_equal(simple(EVENT_SLA_RESUMED, "T-1"), 0);
	i = info("T-1");
	assert_false(i.paused);
	assert_int_equal(i.due_in_ms, 50000);
	/* Warning 20 s before the due (80 % of a 100 s budget), breach at it. */
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 330 * SEC);
	at_ms(329999);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_NEW);
	at(330);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_WARNING);
	at_ms(349999);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_WARNING);
	at(350);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_BREACHED);
	/* The store sees the due moved by the pause. */
	assert_int_equal(saved_of("T-1")->due_ms[SLA_FIRST_RESPONSE], T0_WALL + 350000);

	/* A repeated pause keeps the first pause moment. */
	create("T-2", PRIORITY_HIGH, CHANNEL_EMAIL, 100, 0);
	simple(EVENT_SLA_PAUSED, "T-2");
	at(360);
	simple(EVENT_SLA_PAUSED, "T-2");
	assert_int_equal(info("T-2").due_in_ms, 100000);
}

static void
test_backend_breach_first(void **state)
{
	struct alert_info i;
	struct event ev;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_PHONE, 3600, 0);
	at(10);
	ev = ev_make(EVENT_SLA_BREACHED, "T-1", F->now.wall_ms);
	ev.sla = SLA_FIRST_RESPONSE;
	reset_log();
	assert_int_equal(apply(&ev), 0);
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_BREACHED);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_string_equal(i.event_id, ev.id);
	assert_int_equal(view()->lamp[LAMP_RED], PATTERN_SLOW);
	assert_int_equal(view()->repeating, SOUND_ALARM);
	assert_int_equal(saved_of("T-1")->backend_breached[SLA_FIRST_RESPONSE], true);
	/* The board's own clock adds nothing later. */
	at(3600);
	reset_log();
	tick();
	assert_int_equal(n_sounds(), 0);

	/* Backend warning on an unknown ticket creates it, warning first. */
	reset_log();
	assert_int_equal(sla_event(EVENT_SLA_WARNING, "T-9", SLA_RESOLUTION), 0);
	i = info("T-9");
	assert_int_equal(i.kind, ALERT_WARNING);
	assert_int_equal(i.channel, CHANNEL_OTHER);
	assert_int_equal(i.priority, PRIORITY_NORMAL);
	assert_int_equal(F->sounds[SOUND_WARN], 1);
	assert_int_equal(F->sounds[SOUND_CHIRP], 0);
	/* Saying it again is not a new warning. */
	reset_log();
	assert_int_equal(sla_event(EVENT_SLA_WARNING, "T-9", SLA_RESOLUTION), 0);
	assert_int_equal(n_sounds(), 0);
}

static void
test_created_with_past_due(void **state)
{
	struct event ev = ev_make(EVENT_TICKET_CREATED, "T-late", T0_WALL - 600000);

	(void)state;
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = T0_WALL - 300000;
	ev.ticket.has_priority = true;
	ev.ticket.priority = PRIORITY_URGENT;
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-late").kind, ALERT_BREACHED);
	assert_int_equal(info("T-late").due_in_ms, -300000);
	assert_int_equal(n_sounds(), 0); /* no chirp before the alarm */
	assert_int_equal(view()->repeating, SOUND_ALARM);

	/* Warning moment passed, due not yet: warning at once, one beep. */
	ev = ev_make(EVENT_TICKET_CREATED, "T-warn", T0_WALL - 90000);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = T0_WALL + 10000;
	reset_log();
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-warn").kind, ALERT_WARNING);
	assert_int_equal(F->sounds[SOUND_WARN], 1);
	assert_int_equal(n_sounds(), 1);
}

/* ---- ordering of events ---- */

static void
test_out_of_order(void **state)
{
	struct event ev;
	struct alert_info i;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", T0_WALL + 20000);
	ev.ticket.has_subject = true;
	strcpy(ev.ticket.subject, "newer");
	assert_int_equal(apply(&ev), 0);
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", T0_WALL + 10000);
	ev.ticket.has_subject = true;
	strcpy(ev.ticket.subject, "older");
	reset_log();
	assert_int_equal(apply(&ev), 1);
	assert_string_equal(info("T-1").subject, "newer");
	assert_int_equal(F->changed, 0);
	assert_int_equal(F->saved_count, 0);
	/* Equal ts is applied. */
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", T0_WALL + 20000);
	ev.ticket.has_subject = true;
	strcpy(ev.ticket.subject, "same ts");
	assert_int_equal(apply(&ev), 0);
	assert_string_equal(info("T-1").subject, "same ts");
	/* An older replied does not clear a newer alert. */
	ev = ev_make(EVENT_TICKET_REPLIED, "T-1", T0_WALL + 15000);
	assert_int_equal(apply(&ev), 1);
	assert_int_equal(info("T-1").state, ALERT_UNACKED);

	/* Closed, then a late created/updated for it: stays closed. */
	ev = ev_make(EVENT_TICKET_CLOSED, "T-1", T0_WALL + 30000);
	assert_int_equal(apply(&ev), 0);
	ev = ev_make(EVENT_TICKET_CREATED, "T-1", T0_WALL + 5000);
	assert_int_equal(apply(&ev), 1);
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", T0_WALL + 30000);
	assert_int_equal(apply(&ev), 1);
	assert_int_equal(alerts_get(F->a, "T-1", &F->now, &i), -ENOENT);
	assert_int_equal(view()->counts.open, 0);
	/* Reopened later: back. */
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", T0_WALL + 40000);
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-1").kind, ALERT_NEW);

	/* A close that overtook its own created. */
	ev = ev_make(EVENT_TICKET_SOLVED, "T-2", T0_WALL + 9000);
	assert_int_equal(apply(&ev), 1);
	ev = ev_make(EVENT_TICKET_CREATED, "T-2", T0_WALL + 8000);
	assert_int_equal(apply(&ev), 1);
	assert_int_equal(alerts_get(F->a, "T-2", &F->now, &i), -ENOENT);

	/* Events that cannot create a ticket are ignored for unknown ones. */
	assert_int_equal(simple(EVENT_TICKET_REPLIED, "T-x"), 1);
	assert_int_equal(simple(EVENT_SLA_PAUSED, "T-x"), 1);
	assert_int_equal(simple(EVENT_SLA_RESUMED, "T-x"), 1);
	assert_int_equal(simple(EVENT_TICKET_CLOSED, "T-y"), 1);
	assert_int_equal(alerts_open_count(F->a), 1);

	/* A duplicate created with a newer ts is an update, no new alert. */
	ack("T-1", "anna");
	reset_log();
	ev = ev_make(EVENT_TICKET_CREATED, "T-1", T0_WALL + 50000);
	ev.ticket.has_subject = true;
	strcpy(ev.ticket.subject, "dup");
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-1").state, ALERT_ACKED);
	assert_string_equal(info("T-1").subject, "dup");
	assert_int_equal(n_sounds(), 0);
}

static void
test_tombstones_bounded(void **state)
{
	char id[32];
	struct event ev;

	(void)state;
	/* Close 5000 tickets: the oldest tombstones are forgotten, the newest
	 * still block a late created. */
	for (int k = 0; k < 5000; k++) {
		snprintf(id, sizeof(id), "C-%d", k);
		ev = ev_make(EVENT_TICKET_CLOSED, id, T0_WALL + 1000);
		assert_int_equal(apply(&ev), 1);
	}
	ev = ev_make(EVENT_TICKET_CREATED, "C-4999", T0_WALL);
	assert_int_equal(apply(&ev), 1);
	ev = ev_make(EVENT_TICKET_CREATED, "C-1000", T0_WALL);
	assert_int_equal(apply(&ev), 1);
	ev = ev_make(EVENT_TICKET_CREATED, "C-0", T0_WALL);
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(alerts_open_count(F->a), 1);
}

/* ---- time ---- */

static void
test_wall_clock_step(void **state)
{
	(void)state;
	create("T-1", PRIORITY_URGENT, CHANNEL_FACEBOOK, 100, 0);
	/* NTP steps the wall clock an hour ahead: nothing fires early. */
	F->now.mono_usec = T0_MONO + 50 * SEC;
	F->now.wall_ms = T0_WALL + 50000 + 3600000;
	tick();
	assert_int_equal(info("T-1").kind, ALERT_NEW);
	assert_int_equal(info("T-1").due_in_ms, 50000);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 80 * SEC);
	/* An unrelated event under the stepped clock does not move it. */
	create("T-2", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 80 * SEC);
	F->now.mono_usec = T0_MONO + 80 * SEC - 1;
	tick();
	assert_int_equal(info("T-1").kind, ALERT_NEW);
	/* ... and an hour back: nothing fires late either. */
	F->now.mono_usec = T0_MONO + 80 * SEC;
	F->now.wall_ms = T0_WALL + 80000 - 3600000;
	tick();
	assert_int_equal(info("T-1").kind, ALERT_WARNING);
	F->now.mono_usec = T0_MONO + 100 * SEC - 1;
	tick();
	assert_int_equal(info("T-1").kind, ALERT_WARNING);
	F->now.mono_usec = T0_MONO + 100 * SEC;
	tick();
	assert_int_equal(info("T-1").kind, ALERT_BREACHED);
}

static void
test_skew_estimate(void **state)
{
	struct event ev;

	(void)state;
	/* The Pi booted without RTC: its own clock says 1970-something, the
	 * caller passes the backend-corrected estimate. Due times are mapped
	 * through that estimate, whatever the monotonic value. */
	F->now.mono_usec = 7 * SEC;
	F->now.wall_ms = T0_WALL; /* estimate from the backend's ts */
	engine_new();
	ev = ev_make(EVENT_TICKET_CREATED, "T-1", T0_WALL);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = T0_WALL + 300000;
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-1").due_in_ms, 300000);
	assert_int_equal(alerts_next_deadline(F->a), 7 * SEC + 240 * SEC);
	/* With a wall estimate 2 min behind the backend, the due is 2 min
	 * further away. */
	F->now.wall_ms = T0_WALL - 120000;
	ev = ev_make(EVENT_TICKET_CREATED, "T-2", T0_WALL);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = T0_WALL + 300000;
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-2").due_in_ms, 420000);
	F->now.mono_usec = 7 * SEC + 300 * SEC;
	tick();
	assert_int_equal(info("T-1").kind, ALERT_BREACHED);
	assert_int_equal(info("T-2").kind, ALERT_NEW);
	F->now.mono_usec = 7 * SEC + 360 * SEC;
	tick();
	assert_int_equal(info("T-2").kind, ALERT_WARNING);
}

static void
test_feed_stale(void **state)
{
	const struct alerts_view *v;

	(void)state;
	F->cfg.feed_timeout_usec = 2 * MIN;
	engine_new();
	create("T-1", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	/* Counted from creation: the event at t=0 reset it, so 2 min. */
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 2 * MIN);
	reset_log();
	at(119);
	tick();
	assert_false(view()->blind);
	assert_int_equal(F->changed, 0);
	at(120);
	tick();
	assert_int_equal(F->changed, 1);
	v = view();
	assert_true(v->blind);
	assert_true(v->feed_stale);
	assert_false(v->broker_down);
	assert_int_equal(v->lamp[LAMP_GREEN], PATTERN_BLIND);
	/* Amber keeps its last known state. */
	assert_int_equal(v->lamp[LAMP_AMBER], PATTERN_SLOW);
	/* No further blind deadline while blind. */
	assert_int_equal(alerts_next_deadline(F->a), UINT64_MAX);
	/* A heartbeat makes it healthy again. */
	reset_log();
	at(130);
	assert_int_equal(simple(EVENT_HEARTBEAT, NULL), 0);
	assert_int_equal(F->changed, 1);
	assert_false(view()->blind);
	assert_int_equal(view()->lamp[LAMP_GREEN], PATTERN_OFF);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 130 * SEC + 2 * MIN);
	/* A heartbeat while healthy changes nothing visible. */
	reset_log();
	at(140);
	simple(EVENT_HEARTBEAT, NULL);
	assert_int_equal(F->changed, 0);
	/* Any backend message counts, even one that was not an event. */
	at(140 + 119);
	alerts_feed_seen(F->a, &F->now);
	at(140 + 200);
	tick();
	assert_false(view()->blind);
	at(140 + 119 + 120);
	tick();
	assert_true(view()->blind);

	/* Stale counted from start-up when nothing ever came. */
	at(0);
	engine_new();
	at(120);
	assert_true(view()->feed_stale);
}

static void
test_broker_down(void **state)
{
	(void)state;
	/* The engine starts as "broker down since now". */
	alerts_free(F->a);
	F->a = alerts_new(&F->cfg, &effects, F, &F->now);
	reset_log();
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 10 * SEC);
	at_ms(9999);
	tick();
	assert_false(view()->blind);
	at(10);
	tick();
	assert_true(view()->broker_down);
	assert_true(view()->blind);
	assert_int_equal(view()->lamp[LAMP_GREEN], PATTERN_BLIND);
	assert_int_equal(F->changed, 1);
	alerts_broker(F->a, true, &F->now);
	assert_false(view()->blind);
	assert_int_equal(view()->lamp[LAMP_GREEN], PATTERN_STEADY);
	assert_int_equal(F->changed, 2);
	/* A short drop is no blindness; 10 s is. */
	at(100);
	alerts_broker(F->a, false, &F->now);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 110 * SEC);
	at(105);
	alerts_broker(F->a, true, &F->now);
	at(200);
	alerts_broker(F->a, false, &F->now);
	at_ms(209999);
	tick();
	assert_false(view()->blind);
	at(210);
	tick();
	assert_true(view()->blind);
	/* A repeated "down" does not restart the count. */
	alerts_broker(F->a, false, &F->now);
	assert_true(view()->blind);
}

static void
test_incident(void **state)
{
	const struct alerts_view *v;
	struct event ev;

	(void)state;
	ev = ev_make(EVENT_INCIDENT_OPENED, NULL, T0_WALL);
	strcpy(ev.incident_title, "Payments down");
	assert_int_equal(apply(&ev), 0);
	v = view();
	assert_int_equal(v->lamp[LAMP_BLUE], PATTERN_STEADY);
	assert_true(v->incident);
	assert_string_equal(v->incident_title, "Payments down");
	assert_int_equal(F->sounds[SOUND_INCIDENT], 1);
	assert_int_equal(F->changed, 1);
	/* Opened again while open: silent. */
	ev = ev_make(EVENT_INCIDENT_OPENED, NULL, T0_WALL + 1);
	strcpy(ev.incident_title, "Payments down");
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(F->sounds[SOUND_INCIDENT], 1);
	/* Per-ticket chirps are suppressed, breaches still shown. */
	reset_log();
	create("T-1", PRIORITY_URGENT, CHANNEL_FACEBOOK, 100, 0);
	assert_int_equal(n_sounds(), 0);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_SLOW);
	at(80);
	tick();
	assert_int_equal(F->sounds[SOUND_WARN], 1); /* warnings still beep */
	at(100);
	tick();
	v = view();
	assert_int_equal(v->lamp[LAMP_RED], PATTERN_SLOW);
	assert_int_equal(v->repeating, SOUND_ALARM);
	/* An older resolved is ignored. */
	ev = ev_make(EVENT_INCIDENT_RESOLVED, NULL, T0_WALL - 5);
	assert_int_equal(apply(&ev), 1);
	assert_true(view()->incident);
	ev = ev_make(EVENT_INCIDENT_RESOLVED, NULL, F->now.wall_ms);
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(view()->lamp[LAMP_BLUE], PATTERN_OFF);
	assert_false(view()->incident);
	assert_string_equal(view()->incident_title, "");
	reset_log();
	create("T-2", PRIORITY_URGENT, CHANNEL_FACEBOOK, 0, 0);
	assert_int_equal(F->sounds[SOUND_CHIRP], 1);

	/* By hand: with and without the tone. */
	reset_log();
	alerts_set_incident(F->a, true, "Manual", &F->now, false);
	assert_int_equal(n_sounds(), 0);
	assert_true(view()->incident);
	assert_int_equal(F->changed, 1);
	alerts_set_incident(F->a, false, NULL, &F->now, false);
	alerts_set_incident(F->a, true, NULL, &F->now, true);
	assert_int_equal(F->sounds[SOUND_INCIDENT], 1);
}

/* ---- pick and foreach ---- */

static void
make_mixed_floor(void)
{
	/* Created one second apart so "oldest" is well defined. */
	at(0);
	create("new-late", PRIORITY_HIGH, CHANNEL_EMAIL, 900, 0);
	at(1);
	create("new-nodue", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	at(2);
	create("new-early", PRIORITY_HIGH, CHANNEL_EMAIL, 600, 0);
	at(3);
	create("warn", PRIORITY_LOW, CHANNEL_EMAIL, 0, 7200);
	sla_event(EVENT_SLA_WARNING, "warn", SLA_RESOLUTION);
	at(4);
	create("breach", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0);
	sla_event(EVENT_SLA_BREACHED, "breach", SLA_FIRST_RESPONSE);
	at(5);
	create("acked-breach", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0);
	sla_event(EVENT_SLA_BREACHED, "acked-breach", SLA_FIRST_RESPONSE);
	ack("acked-breach", "anna");
	at(6);
	create("cleared", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0);
	simple(EVENT_TICKET_REPLIED, "cleared");
	at(7);
	create("new-nodue2", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	at(8);
	create("acked-new", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	ack("acked-new", "bob");
	at(9);
}

static void
test_pick_next(void **state)
{
	static const char *const expect[] = {
		"breach", "warn", "new-early", "new-late", "new-nodue", "new-nodue2",
	};
	struct alert_info i;

	(void)state;
	make_mixed_floor();
	for (size_t k = 0; k < sizeof(expect) / sizeof(expect[0]); k++) {
		assert_int_equal(alerts_pick_next(F->a, &F->now, &i), 0);
		assert_string_equal(i.ticket_id, expect[k]);
		assert_int_equal(i.state, ALERT_UNACKED);
		assert_int_equal(ack(i.ticket_id, "anna"), 0);
	}
	assert_int_equal(alerts_pick_next(F->a, &F->now, &i), -ENOENT);
	assert_int_equal(alerts_pick_next(F->a, &F->now, NULL), -ENOENT);
}

struct collect {
	char ids[32][TICKET_ID_MAX];
	char acked_by[32][EVENT_NAME_MAX];
	int n;
	bool ack_inside;
	const char *ack_later; /* acked from the first callback */
};

static void
collect_fn(void *ud, const struct alert_info *a)
{
	struct collect *c = ud;

	assert_true(c->n < 32);
	snprintf(c->acked_by[c->n], EVENT_NAME_MAX, "%s", a->acked_by);
	snprintf(c->ids[c->n++], TICKET_ID_MAX, "%s", a->ticket_id);
	if (c->ack_inside && a->state == ALERT_UNACKED)
		assert_int_equal(alerts_ack(F->a, a->ticket_id, "all", &F->now), 0);
	if (c->ack_later && c->n == 1)
		assert_int_equal(alerts_ack(F->a, c->ack_later, "later", &F->now), 0);
}

static void
test_foreach_order(void **state)
{
	static const char *const expect[] = {
		"breach",     "warn",         "new-early", "new-late", "new-nodue",
		"new-nodue2", "acked-breach", "acked-new", "cleared",
	};
	struct collect c = { .n = 0 };

	(void)state;
	make_mixed_floor();
	alerts_foreach(F->a, &F->now, collect_fn, &c);
	assert_int_equal(c.n, 9);
	for (int k = 0; k < c.n; k++)
		assert_string_equal(c.ids[k], expect[k]);

	/* "Ack all" from inside the walk works. */
	memset(&c, 0, sizeof(c));
	c.ack_inside = true;
	alerts_foreach(F->a, &F->now, collect_fn, &c);
	assert_int_equal(c.n, 9);
	assert_int_equal(view()->counts.unacked, 0);
	assert_int_equal(view()->lamp[LAMP_GREEN], PATTERN_STEADY);
}

/* The callback may ack a ticket the walk has not reached yet (acking stores
 * the agent's name, which moves the ticket in memory): the walk goes on in
 * the order it started with and shows that ticket acked. */
static void
test_foreach_ack_ahead(void **state)
{
	static const char *const expect[] = {
		"breach", "warn", "new-early", "new-late", "new-nodue", "new-nodue2",
	};
	static const char *const expect2[] = {
		"breach", "warn", "new-early", "new-nodue", "new-nodue2", "acked-breach",
	};
	struct collect c = { .ack_later = "new-late" };

	(void)state;
	make_mixed_floor();
	alerts_foreach(F->a, &F->now, collect_fn, &c);
	assert_int_equal(c.n, 9);
	for (int k = 0; k < 6; k++)
		assert_string_equal(c.ids[k], expect[k]);
	assert_string_equal(c.acked_by[3], "later");

	/* The same through the capped walk; new-late is acked now. */
	memset(&c, 0, sizeof(c));
	c.ack_later = "new-nodue2";
	assert_int_equal(alerts_foreach_first(F->a, &F->now, 6, collect_fn, &c), 9);
	assert_int_equal(c.n, 6);
	for (int k = 0; k < 6; k++)
		assert_string_equal(c.ids[k], expect2[k]);
	assert_string_equal(c.acked_by[4], "later");
	assert_int_equal(view()->counts.unacked, 4);
}

/* ---- caps and hostile input ---- */

static void
test_max_tickets(void **state)
{
	(void)state;
	F->cfg.max_tickets = 3;
	engine_new();
	assert_int_equal(create("A", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0), 0);
	assert_int_equal(create("B", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0), 0);
	assert_int_equal(create("C", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0), 0);
	assert_int_equal(create("D", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0), -ENOSPC);
	assert_int_equal(sla_event(EVENT_SLA_BREACHED, "E", SLA_FIRST_RESPONSE), -ENOSPC);
	assert_int_equal(alerts_open_count(F->a), 3);
	assert_int_equal(view()->counts.open, 3);
	/* Existing tickets still take events. */
	assert_int_equal(set_priority("A", PRIORITY_HIGH), 0);
	simple(EVENT_TICKET_SOLVED, "B");
	assert_int_equal(create("D", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0), 0);
}

/* The daemon's default cap (alerts.max_open_tickets, also the engine's own
 * default for 0) holds at 100 000: all fit, the next new one is refused,
 * and a ticket that is already open still takes its events. */
static void
test_default_cap_100000(void **state)
{
	enum { N = 100000 };
	char id[32];

	(void)state;
	F->cfg.max_tickets = 0;
	alerts_free(F->a);
	F->a = alerts_new(&F->cfg, &(struct alerts_effects){ .changed = fx_changed }, F, &F->now);
	assert_non_null(F->a);
	alerts_broker(F->a, true, &F->now);
	for (int i = 0; i < N; i++) {
		struct event ev;

		snprintf(id, sizeof(id), "C-%d", i);
		ev = ev_make(EVENT_TICKET_CREATED, id, F->now.wall_ms);
		ev.ticket.due_ms[0] = F->now.wall_ms + 600000 + i;
		assert_int_equal(apply(&ev), 0);
	}
	assert_int_equal(alerts_open_count(F->a), N);
	struct event past = ev_make(EVENT_TICKET_CREATED, "C-past", F->now.wall_ms);
	assert_int_equal(apply(&past), -ENOSPC);
	assert_int_equal(alerts_open_count(F->a), N);
	at(1);
	assert_int_equal(simple(EVENT_TICKET_SOLVED, "C-7"), 0);
	assert_int_equal(alerts_open_count(F->a), N - 1);
	past = ev_make(EVENT_TICKET_CREATED, "C-past", F->now.wall_ms);
	assert_int_equal(apply(&past), 0);
	assert_int_equal(alerts_open_count(F->a), N);
}

static void
test_hostile_input(void **state)
{
	struct event ev;
	struct alerts_view v;
	struct alert_info i;
	struct ticket_snapshot snap;

	(void)state;
	ev = ev_make(EVENT_TICKET_CREATED, "T-1", T0_WALL);
	ev.type = (enum event_type)99;
	assert_int_equal(apply(&ev), -EINVAL);
	ev = ev_make(EVENT_TICKET_CREATED, "T-1", T0_WALL);
	ev.ticket.has_channel = true;
	ev.ticket.channel = (enum channel)77;
	assert_int_equal(apply(&ev), -EINVAL);
	ev = ev_make(EVENT_TICKET_CREATED, "T-1", T0_WALL);
	ev.ticket.has_priority = true;
	ev.ticket.priority = (enum priority) - 3;
	assert_int_equal(apply(&ev), -EINVAL);
	ev = ev_make(EVENT_SLA_BREACHED, "T-1", T0_WALL);
	ev.sla = (enum sla_kind)5;
	assert_int_equal(apply(&ev), -EINVAL);
	ev = ev_make(EVENT_TICKET_CREATED, "", T0_WALL);
	assert_int_equal(apply(&ev), -EINVAL);
	ev = ev_make(EVENT_TICKET_CREATED, "T-1", T0_WALL);
	ev.has_ticket = false;
	assert_int_equal(apply(&ev), -EINVAL);
	assert_int_equal(alerts_open_count(F->a), 0);

	/* Unterminated strings are cut at their field size. */
	ev = ev_make(EVENT_TICKET_CREATED, NULL, T0_WALL);
	ev.has_ticket = true;
	memset(ev.ticket.id, 'I', sizeof(ev.ticket.id));
	memset(ev.id, 'E', sizeof(ev.id));
	ev.ticket.has_subject = true;
	memset(ev.ticket.subject, 'S', sizeof(ev.ticket.subject));
	ev.ticket.has_queue = true;
	memset(ev.ticket.queue, 'Q', sizeof(ev.ticket.queue));
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(alerts_pick_next(F->a, &F->now, &i), 0);
	assert_int_equal(strlen(i.ticket_id), TICKET_ID_MAX - 1);
	assert_int_equal(strlen(i.subject), EVENT_TEXT_MAX - 1);
	assert_int_equal(strlen(i.queue), EVENT_NAME_MAX - 1);
	assert_int_equal(strlen(i.event_id), EVENT_ID_MAX - 1);
	/* The same unterminated id finds the same ticket. */
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(alerts_open_count(F->a), 1);

	/* Absurd timestamps neither overflow nor fire on the wrong side. */
	ev = ev_make(EVENT_TICKET_CREATED, "T-far", INT64_MIN);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = INT64_MAX;
	assert_int_equal(apply(&ev), 0);
	ev = ev_make(EVENT_TICKET_CREATED, "T-past", INT64_MIN);
	ev.ticket.due_ms[SLA_RESOLUTION] = INT64_MIN + 1;
	assert_int_equal(apply(&ev), 0);
	tick();
	assert_int_equal(info("T-far").kind, ALERT_NEW);
	assert_true(info("T-far").due_in_ms > 0);
	assert_int_equal(info("T-past").kind, ALERT_BREACHED);
	assert_true(info("T-past").due_in_ms < 0);

	/* NULLs are refused, not crashed on. */
	assert_int_equal(alerts_apply(NULL, &ev, &F->now), -EINVAL);
	assert_int_equal(alerts_apply(F->a, NULL, &F->now), -EINVAL);
	assert_int_equal(alerts_apply(F->a, &ev, NULL), -EINVAL);
	assert_int_equal(alerts_ack(F->a, NULL, "x", &F->now), -EINVAL);
	assert_int_equal(alerts_get(F->a, NULL, &F->now, &i), -EINVAL);
	assert_int_equal(alerts_pick_next(NULL, &F->now, &i), -EINVAL);
	assert_int_equal(alerts_restore(F->a, NULL, &F->now), -EINVAL);
	assert_int_equal(alerts_next_deadline(NULL), UINT64_MAX);
	assert_int_equal(alerts_open_count(NULL), 0);
	assert_null(alerts_new(NULL, &effects, F, &F->now));
	assert_null(alerts_new(&F->cfg, &effects, F, NULL));
	alerts_tick(NULL, &F->now);
	alerts_feed_seen(NULL, &F->now);
	alerts_broker(NULL, true, &F->now);
	alerts_set_config(NULL, &F->cfg, &F->now);
	alerts_set_incident(NULL, true, "x", &F->now, true);
	alerts_foreach(NULL, &F->now, collect_fn, NULL);
	alerts_view(NULL, &F->now, &v);
	assert_int_equal(v.counts.open, 0);
	alerts_free(NULL);

	/* Bad snapshots are refused. */
	memset(&snap, 0, sizeof(snap));
	assert_int_equal(alerts_restore(F->a, &snap, &F->now), -EINVAL);
	strcpy(snap.id, "R-1");
	snap.kind = ALERT_BREACHED;
	snap.state = ALERT_CLEARED;
	assert_int_equal(alerts_restore(F->a, &snap, &F->now), -EINVAL);
	snap.state = ALERT_UNACKED;
	snap.channel = (enum channel)CHANNEL_COUNT;
	assert_int_equal(alerts_restore(F->a, &snap, &F->now), -EINVAL);
	snap.channel = CHANNEL_EMAIL;
	assert_int_equal(alerts_restore(F->a, &snap, &F->now), 0);
	assert_int_equal(alerts_restore(F->a, &snap, &F->now), -EEXIST);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(alert_kind_name(ALERT_NEW), "new");
	assert_string_equal(alert_kind_name(ALERT_WARNING), "warning");
	assert_string_equal(alert_kind_name(ALERT_BREACHED), "breached");
	assert_string_equal(alert_kind_name((enum alert_kind)42), "unknown");
	assert_string_equal(alert_state_name(ALERT_UNACKED), "unacked");
	assert_string_equal(alert_state_name(ALERT_ACKED), "acked");
	assert_string_equal(alert_kind_event_name(ALERT_NEW), "ticket.created");
	assert_string_equal(alert_kind_event_name(ALERT_WARNING), "sla.warning");
	assert_string_equal(alert_kind_event_name(ALERT_BREACHED), "sla.breached");
	assert_string_equal(alert_kind_event_name((enum alert_kind) - 1), "");
}

/* ---- re-evaluation ---- */

static void
test_due_moved(void **state)
{
	struct event ev;

	(void)state;
	create("T-1", PRIORITY_HIGH, CHANNEL_EMAIL, 100, 0);
	at(80);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_WARNING);
	/* The backend gives more time: the board's own warning no longer
	 * holds, the alert goes back to new, quietly. */
	reset_log();
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", F->now.wall_ms);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = T0_WALL + 1000000;
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-1").kind, ALERT_NEW);
	assert_int_equal(info("T-1").state, ALERT_UNACKED);
	assert_int_equal(view()->lamp[LAMP_AMBER], PATTERN_SLOW);
	assert_int_equal(n_sounds(), 0);
	/* It warns again at the new moment (80 % of 1000 s). */
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 800 * SEC);
	at(800);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_WARNING);
	assert_int_equal(F->sounds[SOUND_WARN], 1);

	/* Earlier due: raised at once. */
	ev = ev_make(EVENT_TICKET_UPDATED, "T-1", F->now.wall_ms);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = F->now.wall_ms - 1;
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-1").kind, ALERT_BREACHED);

	/* What the backend said stands even when the due moves. */
	create("T-2", PRIORITY_HIGH, CHANNEL_EMAIL, 100, 0);
	sla_event(EVENT_SLA_WARNING, "T-2", SLA_FIRST_RESPONSE);
	ev = ev_make(EVENT_TICKET_UPDATED, "T-2", F->now.wall_ms);
	ev.ticket.due_ms[SLA_FIRST_RESPONSE] = F->now.wall_ms + 5000000;
	assert_int_equal(apply(&ev), 0);
	assert_int_equal(info("T-2").kind, ALERT_WARNING);
}

static void
test_replied_and_resolution(void **state)
{
	struct alert_info i;

	(void)state;
	/* Resolution breaching: a reply does not clear it. */
	create("T-1", PRIORITY_HIGH, CHANNEL_EMAIL, 50, 100);
	at(100);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_BREACHED);
	assert_int_equal(simple(EVENT_TICKET_REPLIED, "T-1"), 0);
	i = info("T-1");
	assert_int_equal(i.kind, ALERT_BREACHED);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_int_equal(view()->repeating, SOUND_ALARM);

	/* Cleared by a reply, the resolution clock raises it again later. */
	at(200);
	create("T-2", PRIORITY_HIGH, CHANNEL_EMAIL, 50, 1000);
	at(210);
	simple(EVENT_TICKET_REPLIED, "T-2");
	assert_int_equal(info("T-2").state, ALERT_CLEARED);
	reset_log();
	at(1000);
	tick();
	i = info("T-2");
	assert_int_equal(i.kind, ALERT_WARNING);
	assert_int_equal(i.state, ALERT_UNACKED);
	assert_int_equal(i.raised_ms, T0_WALL + 1000000);
	assert_int_equal(F->sounds[SOUND_WARN], 1);
	/* The first-response due passed long ago, unnoticed: it was met. */
	at(1200);
	tick();
	assert_int_equal(info("T-2").kind, ALERT_BREACHED);
	assert_int_equal(info("T-2").due_sla, SLA_RESOLUTION);
}

/* ---- restore ---- */

static void
test_restore_roundtrip(void **state)
{
	struct ticket_snapshot snaps[MAX_SAVED];
	struct alerts_view before, after;
	struct alert_info x, y;
	const char *ids[] = { "R-new", "R-acked", "R-warn", "R-paused", "R-cleared" };
	int n = 0;

	(void)state;
	create("R-new", PRIORITY_URGENT, CHANNEL_FACEBOOK, 300, 3600);
	create("R-acked", PRIORITY_HIGH, CHANNEL_EMAIL, 1000, 0);
	create("R-warn", PRIORITY_HIGH, CHANNEL_VK, 100, 0);
	create("R-paused", PRIORITY_HIGH, CHANNEL_CHAT, 200, 0);
	create("R-cleared", PRIORITY_HIGH, CHANNEL_CHAT, 0, 100);
	at(10);
	ack("R-acked", "anna");
	at(20);
	simple(EVENT_SLA_PAUSED, "R-paused");
	at(85);
	tick();
	assert_int_equal(info("R-warn").kind, ALERT_WARNING);
	assert_int_equal(info("R-cleared").kind, ALERT_WARNING);
	at(86);
	simple(EVENT_TICKET_REPLIED, "R-cleared");
	assert_int_equal(info("R-cleared").kind, ALERT_NONE);

	for (int k = 0; k < MAX_SAVED; k++)
		if (F->saved[k].used)
			snaps[n++] = F->saved[k].snap;
	assert_int_equal(n, 5);
	alerts_view(F->a, &F->now, &before);

	/* Power cut; the Pi boots again: monotonic starts near zero, the wall
	 * clock continues. */
	alerts_free(F->a);
	F->now.mono_usec = 3 * SEC;
	F->a = alerts_new(&F->cfg, &effects, F, &F->now);
	alerts_broker(F->a, true, &F->now);
	memset(F->saved, 0, sizeof(F->saved));
	reset_log();
	for (int k = 0; k < n; k++)
		assert_int_equal(alerts_restore(F->a, &snaps[k], &F->now), 0);
	assert_int_equal(F->saved_count + F->changed + n_sounds() + F->escalated, 0);

	alerts_view(F->a, &F->now, &after);
	assert_memory_equal(&before.lamp, &after.lamp, sizeof(before.lamp));
	assert_memory_equal(&before.counts, &after.counts, sizeof(before.counts));
	assert_int_equal(before.repeating, after.repeating);

	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		y = info(ids[k]);
		for (int j = 0; j < n; j++) {
			if (strcmp(snaps[j].id, ids[k]) != 0)
				continue;
			assert_int_equal(y.kind, snaps[j].kind);
			assert_int_equal(y.state, snaps[j].state);
			assert_string_equal(y.acked_by, snaps[j].acked_by);
			assert_string_equal(y.subject, snaps[j].subject);
			assert_int_equal(y.raised_ms, snaps[j].raised_ms);
		}
	}
	x = info("R-new");
	assert_int_equal(x.due_in_ms, 300000 - 86000);
	assert_int_equal(info("R-paused").due_in_ms, 180000);
	assert_true(info("R-paused").paused);
	/* Raised 86 s ago in wall terms: before this boot, shown as 0. */
	assert_int_equal(info("R-acked").raised_usec, 0);

	/* The reply's clearing survives: the resolution warning it cleared is
	 * not raised a second time. */
	tick();
	assert_int_equal(info("R-cleared").kind, ALERT_NONE);
	assert_int_equal(n_sounds() + F->changed, 0);

	/* The same future: breaches due at T0+100 s wall, 14 s from now. */
	assert_int_equal(alerts_next_deadline(F->a), 3 * SEC + 14 * SEC);
	F->now.mono_usec = 3 * SEC + 14 * SEC - 1;
	tick();
	assert_int_equal(info("R-warn").kind, ALERT_WARNING);
	assert_int_equal(n_sounds(), 0);
	F->now.mono_usec = 3 * SEC + 14 * SEC;
	tick();
	assert_int_equal(info("R-warn").kind, ALERT_BREACHED);
	assert_int_equal(info("R-cleared").kind, ALERT_BREACHED);
	/* Ack timeout continues from the original ack (10 min after T0+10 s). */
	F->now.mono_usec = 3 * SEC + (610 - 86) * SEC - 1;
	tick();
	assert_int_equal(info("R-acked").state, ALERT_ACKED);
	F->now.mono_usec = 3 * SEC + (610 - 86) * SEC;
	tick();
	assert_int_equal(info("R-acked").state, ALERT_UNACKED);
}

static void
test_restore_catches_up(void **state)
{
	struct ticket_snapshot snap;

	(void)state;
	/* Saved as new at T0 with a breach due at T0+100 s; the board was off
	 * until T0+1 h. The breach really happened: the first tick raises it,
	 * and the old unacked breach escalates. */
	create("T-1", PRIORITY_HIGH, CHANNEL_EMAIL, 100, 0);
	snap = *saved_of("T-1");
	alerts_free(F->a);
	F->now.mono_usec = 2 * SEC;
	F->now.wall_ms = T0_WALL + 3600000;
	F->a = alerts_new(&F->cfg, &effects, F, &F->now);
	reset_log();
	assert_int_equal(alerts_restore(F->a, &snap, &F->now), 0);
	assert_int_equal(info("T-1").kind, ALERT_NEW);
	assert_true(alerts_next_deadline(F->a) <= F->now.mono_usec);
	tick();
	assert_int_equal(info("T-1").kind, ALERT_BREACHED);
	assert_int_equal(F->changed, 1);

	/* An unacked breach raised long ago escalates at the next tick. */
	snap = *saved_of("T-1");
	snap.raised_ms = F->now.wall_ms - 6 * 60 * 1000;
	strcpy(snap.id, "T-2");
	assert_int_equal(alerts_restore(F->a, &snap, &F->now), 0);
	reset_log();
	tick();
	assert_int_equal(F->escalated, 1);
	assert_string_equal(F->last_escalated.ticket_id, "T-2");
	assert_int_equal(view()->lamp[LAMP_RED], PATTERN_FAST);
}

/* ---- deadlines ---- */

static void
test_next_deadline_several(void **state)
{
	(void)state;
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 24 * 60 * MIN);
	create("A", PRIORITY_LOW, CHANNEL_EMAIL, 500, 0);  /* warn 400 */
	create("B", PRIORITY_LOW, CHANNEL_EMAIL, 200, 0);  /* warn 160 */
	create("C", PRIORITY_LOW, CHANNEL_EMAIL, 0, 1000); /* warn 800 */
	create("D", PRIORITY_LOW, CHANNEL_EMAIL, 300, 0);  /* warn 240 */
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 160 * SEC);
	simple(EVENT_TICKET_CLOSED, "B");
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 240 * SEC);
	simple(EVENT_SLA_PAUSED, "D");
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 400 * SEC);
	simple(EVENT_TICKET_REPLIED, "A");
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 800 * SEC);
	/* An ack adds its timeout. */
	at(1);
	ack("C", "anna");
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 601 * SEC);
	at(601);
	tick();
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 800 * SEC);
	at(800);
	tick();
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 1000 * SEC);
	simple(EVENT_TICKET_SOLVED, "C");
	simple(EVENT_TICKET_SOLVED, "D");
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 800 * SEC + 24 * 60 * MIN);
}

static void
test_set_config(void **state)
{
	(void)state;
	create("A", PRIORITY_LOW, CHANNEL_EMAIL, 100, 0);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 80 * SEC);
	F->cfg.warn_at_pct = 50;
	alerts_set_config(F->a, &F->cfg, &F->now);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 50 * SEC);
	F->cfg.warn_at_pct = 0; /* clamped to 1 % */
	alerts_set_config(F->a, &F->cfg, &F->now);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 1 * SEC);
	/* Disabled ack timeout and escalation leave no deadline. */
	F->cfg.warn_at_pct = 80;
	F->cfg.ack_timeout_usec = 0;
	F->cfg.escalate_after_usec = 0;
	alerts_set_config(F->a, &F->cfg, &F->now);
	ack("A", "x");
	at(100);
	tick();
	assert_int_equal(info("A").kind, ALERT_BREACHED);
	assert_int_equal(alerts_next_deadline(F->a), T0_MONO + 24 * 60 * MIN);
}

static void
test_changed_once_and_reentrancy(void **state)
{
	(void)state;
	/* One tick raising several tickets: one changed(), one beep. */
	create("A", PRIORITY_LOW, CHANNEL_EMAIL, 100, 0);
	create("B", PRIORITY_LOW, CHANNEL_EMAIL, 100, 0);
	create("C", PRIORITY_LOW, CHANNEL_EMAIL, 100, 0);
	reset_log();
	at(80);
	tick();
	assert_int_equal(F->changed, 1);
	assert_int_equal(F->sounds[SOUND_WARN], 1);
	assert_int_equal(F->saved_count, 3);
	/* Several sounds in one operation: each once, the warning first. A
	 * new and a warning alert, both acked at 200 s, both time out at once. */
	F->cfg.ack_timeout_usec = 60 * SEC;
	alerts_set_config(F->a, &F->cfg, &F->now);
	at(200);
	create("N1", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	create("N2", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	create("W", PRIORITY_HIGH, CHANNEL_EMAIL, 0, 0);
	sla_event(EVENT_SLA_WARNING, "W", SLA_FIRST_RESPONSE);
	ack("N1", "anna");
	ack("N2", "anna");
	ack("W", "anna");
	reset_log();
	at(260);
	tick();
	assert_int_equal(F->n_sound_seq, 2);
	assert_int_equal(F->sound_seq[0], SOUND_WARN);
	assert_int_equal(F->sound_seq[1], SOUND_CHIRP);
	assert_int_equal(F->changed, 1);
	/* Effects may not re-enter the engine with a mutation. */
	F->reenter = true;
	F->reenter_rc = 0;
	create("D", PRIORITY_LOW, CHANNEL_EMAIL, 0, 0);
	assert_int_equal(F->reenter_rc, -EBUSY);
	F->reenter = false;
	assert_int_equal(alerts_open_count(F->a), 7);
}

/* ---- heap stress against a brute-force model ---- */

struct model {
	bool open, responded, paused;
	int64_t created_ms, due_ms[2];
	int64_t due_usec[2];
	uint64_t paused_usec;
	int level[2];
};

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int64_t
model_warn(const struct model *m, int s)
{
	int64_t budget = m->due_ms[s] - m->created_ms;

	return m->due_usec[s] - (budget - budget * 80 / 100) * 1000;
}

static int
model_clock(const struct model *m, int s, int64_t now)
{
	if (m->due_usec[s] <= now)
		return 2;
	return model_warn(m, s) <= now ? 1 : 0;
}

static bool
model_running(const struct model *m, int s)
{
	return m->open && !m->paused && m->due_ms[s] && !(s == 0 && m->responded);
}

static uint64_t
model_deadline(const struct model *ms, int n)
{
	uint64_t d = UINT64_MAX;

	for (int k = 0; k < n; k++) {
		for (int s = 0; s < 2; s++) {
			const struct model *m = &ms[k];
			int64_t x;

			if (!model_running(m, s) || m->level[s] == 2)
				continue;
			x = m->level[s] == 0 ? model_warn(m, s) : m->due_usec[s];
			if (x < 0)
				x = 0;
			if ((uint64_t)x < d)
				d = (uint64_t)x;
		}
	}
	return d;
}

static void
test_heap_stress(void **state)
{
	enum { N = 10000, OPS = 20000 };
	struct model *ms = calloc(N, sizeof(*ms));
	char id[32];
	int open = 0;

	(void)state;
	assert_non_null(ms);
	F->cfg.max_tickets = N;
	F->cfg.ack_timeout_usec = 0;
	F->cfg.escalate_after_usec = 0;
	F->cfg.feed_timeout_usec = 0;
	alerts_free(F->a);
	/* No per-ticket bookkeeping in the test: 10 000 snapshots add nothing. */
	F->a = alerts_new(&F->cfg, &(struct alerts_effects){ .changed = fx_changed }, F, &F->now);
	assert_non_null(F->a);
	alerts_broker(F->a, true, &F->now);
	for (int op = 0; op < N + OPS; op++) {
		int k = (int)(rng() % N);
		struct model *m = &ms[k];
		int64_t mono = (int64_t)F->now.mono_usec;
		static const unsigned mix[16] = { 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4, 5, 5 };
		unsigned what = op < N ? 0 : mix[rng() % 16];
		struct event ev;

		snprintf(id, sizeof(id), "S-%d", k);
		if (op < N) {
			k = op;
			m = &ms[k];
			snprintf(id, sizeof(id), "S-%d", k);
		}
		switch (what) {
		case 0: /* create (or, if open, a plain update) */
			if (m->open)
				break;
			memset(m, 0, sizeof(*m));
			ev = ev_make(EVENT_TICKET_CREATED, id, F->now.wall_ms);
			m->created_ms = F->now.wall_ms;
			if (rng() % 4)
				m->due_ms[0] = F->now.wall_ms + 1000 * (int64_t)(1 + rng() % 600);
			if (rng() % 2)
				m->due_ms[1] =
					F->now.wall_ms + 1000 * (int64_t)(600 + rng() % 6600);
			for (int s = 0; s < 2; s++) {
				ev.ticket.due_ms[s] = m->due_ms[s];
				m->due_usec[s] = mono + (m->due_ms[s] - F->now.wall_ms) * 1000;
			}
			assert_int_equal(apply(&ev), 0);
			m->open = true;
			open++;
			break;
		case 1: /* solve */
			if (!m->open)
				break;
			assert_int_equal(simple(EVENT_TICKET_SOLVED, id), 0);
			m->open = false;
			open--;
			break;
		case 2: /* reply */
			if (!m->open)
				break;
			assert_int_equal(simple(EVENT_TICKET_REPLIED, id), 0);
			m->responded = true;
			break;
		case 3: /* pause / resume */
			if (!m->open)
				break;
			if (!m->paused) {
				simple(EVENT_SLA_PAUSED, id);
				m->paused = true;
				m->paused_usec = F->now.mono_usec;
			} else {
				int64_t stopped = (int64_t)(F->now.mono_usec - m->paused_usec);

				simple(EVENT_SLA_RESUMED, id);
				m->paused = false;
				for (int s = 0; s < 2; s++)
					m->due_usec[s] += stopped;
			}
			break;
		case 4: /* new resolution due, earlier or later */
			if (!m->open || m->paused)
				break;
			ev = ev_make(EVENT_TICKET_UPDATED, id, F->now.wall_ms);
			ev.ticket.due_ms[1] = F->now.wall_ms + 1000 * (int64_t)(rng() % 3000) + 1;
			if (ev.ticket.due_ms[1] == m->due_ms[1])
				break;
			assert_int_equal(apply(&ev), 0);
			m->due_ms[1] = ev.ticket.due_ms[1];
			m->due_usec[1] = mono + (m->due_ms[1] - F->now.wall_ms) * 1000;
			/* Lowered to what the clock says, then raised to it. */
			m->level[1] = model_clock(m, 1, mono);
			break;
		default: /* time passes */
			at_ms((int64_t)((F->now.mono_usec - T0_MONO) / 1000) +
			      (int64_t)(rng() % 6000));
			tick();
			mono = (int64_t)F->now.mono_usec;
			for (int j = 0; j < N; j++)
				for (int s = 0; s < 2; s++)
					if (model_running(&ms[j], s) &&
					    model_clock(&ms[j], s, mono) > ms[j].level[s])
						ms[j].level[s] = model_clock(&ms[j], s, mono);
			break;
		}
		/* After the model caught up with apply()'s own clock run. */
		if (what == 0 || what == 3) {
			mono = (int64_t)F->now.mono_usec;
			for (int s = 0; s < 2; s++)
				if (model_running(m, s) && model_clock(m, s, mono) > m->level[s])
					m->level[s] = model_clock(m, s, mono);
		}
		if (op % 50 == 0 || op == N + OPS - 1) {
			assert_int_equal(alerts_open_count(F->a), (size_t)open);
			assert_int_equal(alerts_next_deadline(F->a), model_deadline(ms, N));
		}
	}
	assert_int_equal(view()->counts.open, (unsigned)open);
	free(ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_created_new_alert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_low_priority_no_chirp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replied_clears, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_response_due_after_reply, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rebase_moves_sla_deadlines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_solved_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_board_sla_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_breach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ringback_on_breach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_raise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escalation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_breach_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_created_with_past_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tombstones_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wall_clock_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skew_estimate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broker_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pick_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_ack_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_tickets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_cap_100000, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replied_and_resolution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_catches_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_deadline_several, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_once_and_reentrancy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_stress, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
