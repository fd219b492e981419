/* alerts: open tickets, their alerts and SLA clocks (SPEC §2, §4).
 *
 * Pure domain code: validated events and the current time go in, state and
 * effects come out. No I/O, no clock reads: callers pass `struct
 * alerts_now`, which makes the engine unit-testable without sleeping and
 * replayable.
 *
 * Model: each open ticket has at most one alert. Its kind only rises
 * (new < warning < breached) until the alert clears; its state is unacked
 * (flash + sound) or acked (steady, silent, owner recorded). An acked ticket
 * that breaches or is raised to urgent becomes unacked again (ringback); an
 * acked alert still unanswered after ack_timeout becomes unacked again; an
 * unacked breach older than escalate_after is escalated.
 *
 * SLA clock: due times arrive as wall time and are turned into monotonic
 * deadlines when an event arrives, using now->wall_ms (the caller's best
 * estimate of true wall time, corrected for skew while the board's clock is
 * unsynchronised). From then on only the monotonic clock counts, so a wall
 * clock step can neither fire nor lose an alarm. Warning fires at warn_at_pct
 * of the budget (from the ticket's creation ts to the due time), breach at
 * the due time. The backend's sla.warning/sla.breached win when they come
 * first. sla.paused freezes the clock, sla.resumed restarts it with the time
 * that was left.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "signals.h"

enum alert_kind { ALERT_NONE, ALERT_NEW, ALERT_WARNING, ALERT_BREACHED };
enum alert_state { ALERT_CLEARED, ALERT_UNACKED, ALERT_ACKED };

/* A zero ack_timeout, escalate_after or feed_timeout disables that timer. */
struct alerts_config {
	unsigned warn_at_pct; /* 1..99 */
	uint64_t ack_timeout_usec;
	uint64_t escalate_after_usec;
	uint64_t feed_timeout_usec; /* no backend message: blind */
	uint64_t broker_blind_usec; /* broker unreachable: blind (10 s) */
	enum priority chirp_min_priority;
	size_t max_tickets; /* cap on open tickets; 0: 100000 */
};

/* The time an operation happens at. */
struct alerts_now {
	uint64_t mono_usec; /* CLOCK_MONOTONIC */
	int64_t wall_ms;    /* best estimate of true wall time */
};

/* One ticket with its alert, as shown to people (status, display, acks). */
struct alert_info {
	char ticket_id[TICKET_ID_MAX];
	enum alert_kind kind; /* ALERT_NONE: open, nothing to do */
	enum alert_state state;
	bool escalated;
	enum channel channel;
	enum priority priority;
	bool public;
	char subject[EVENT_TEXT_MAX];
	char customer[EVENT_TEXT_MAX];
	char queue[EVENT_NAME_MAX];
	char assignee[EVENT_NAME_MAX];
	char event_id[EVENT_ID_MAX]; /* event that raised the alert; "" if
					the board's own SLA clock did */
	uint64_t raised_usec;        /* when the alert became unacked */
	int64_t raised_ms;
	char acked_by[EVENT_NAME_MAX]; /* "" while unacked */
	int64_t acked_at_ms;
	enum sla_kind due_sla; /* which SLA due_in_ms is about */
	bool has_due;
	bool paused;
	int64_t due_in_ms; /* < 0: overdue; frozen while paused */
	bool due_policy;   /* the dues came from the board's SLA policy */
	bool responded;    /* first (or next) response sent */
	int64_t created_ms;
};

/* Everything needed to restore a ticket after a restart; wall times only
 * (monotonic times do not survive a reboot). */
struct ticket_snapshot {
	char id[TICKET_ID_MAX];
	enum channel channel;
	enum priority priority;
	bool public;
	char subject[EVENT_TEXT_MAX];
	char customer[EVENT_TEXT_MAX];
	char queue[EVENT_NAME_MAX];
	char assignee[EVENT_NAME_MAX];
	int64_t created_ms;             /* ts of the first event seen */
	int64_t last_ts_ms;             /* ts of the newest event applied */
	int64_t due_ms[SLA_KIND_COUNT]; /* 0: none */
	bool due_policy;                /* dues from the board's SLA policy */
	bool responded;                 /* first response sent */
	bool paused;
	int64_t paused_left_ms[SLA_KIND_COUNT];
	bool backend_warning[SLA_KIND_COUNT]; /* backend said so */
	bool backend_breached[SLA_KIND_COUNT];
	enum alert_kind kind;
	enum alert_state state;
	bool escalated;
	char event_id[EVENT_ID_MAX];
	int64_t raised_ms;
	char acked_by[EVENT_NAME_MAX];
	int64_t acked_at_ms;
};

struct alerts_counts {
	unsigned open, unacked, warning, breached;
	unsigned open_per_channel[CHANNEL_COUNT];
	unsigned unacked_per_channel[CHANNEL_COUNT];
};

struct alerts_view {
	enum pattern lamp[LAMP_COUNT]; /* SPEC §4 lamp table */
	enum sound repeating;          /* SOUND_NONE / ALARM / ESCALATED */
	bool blind;
	bool feed_stale;  /* no backend message for feed_timeout */
	bool broker_down; /* unreachable for broker_blind_usec */
	bool incident;
	char incident_title[EVENT_TEXT_MAX];
	struct alerts_counts counts;
};

/* Effects of applying an event or a tick, called synchronously. Arguments
 * are valid until the callback returns. Any member may be NULL. Effects may
 * read the engine; a mutating call made from one fails with -EBUSY. */
struct alerts_effects {
	/* One-shot sound: chirp, warn or incident. */
	void (*sound)(void *userdata, enum sound sound);
	/* An unacked breach just escalated. */
	void (*escalated)(void *userdata, const struct alert_info *a);
	/* A ticket was created or changed: persist it. */
	void (*ticket_saved)(void *userdata, const struct ticket_snapshot *t);
	/* A ticket was solved/closed: forget it. */
	void (*ticket_removed)(void *userdata, const char *ticket_id);
	/* Something shown changed (lamps, counts, alerts). */
	void (*changed)(void *userdata);
};

struct alerts;

/* Creates an empty engine. The feed-stale timer starts at now->mono_usec. */
struct alerts *alerts_new(const struct alerts_config *cfg, const struct alerts_effects *fx,
			  void *userdata, const struct alerts_now *now);
void alerts_free(struct alerts *a);
void alerts_set_config(struct alerts *a, const struct alerts_config *cfg,
		       const struct alerts_now *now);

/* Applies one validated event (also counts as feed activity). Returns 0 if
 * applied, 1 if ignored (older than the ticket's state, or about a ticket
 * the board does not know and cannot create from this event), -ENOSPC when
 * it would exceed max_tickets (-EINVAL: malformed event; -ENOMEM). */
int alerts_apply(struct alerts *a, const struct event *ev, const struct alerts_now *now);

/* A backend message arrived (of any kind, valid or not): feed is alive. */
void alerts_feed_seen(struct alerts *a, const struct alerts_now *now);
/* The broker connection went up or down. */
void alerts_broker(struct alerts *a, bool connected, const struct alerts_now *now);

/* Restores a ticket saved before a restart, without sounds. 0, -EINVAL
 * (inconsistent snapshot), -EEXIST, -ENOSPC or -ENOMEM. */
int alerts_restore(struct alerts *a, const struct ticket_snapshot *t, const struct alerts_now *now);
/* Sets incident mode by hand (restore, admin); the incident tone plays only
 * if with_sound and the incident was not open yet. */
void alerts_set_incident(struct alerts *a, bool open, const char *title,
			 const struct alerts_now *now, bool with_sound);

/* The board's estimate of true wall time just changed by correction_ms
 * (the first backend ts while the clock is unsynchronised, the clock
 * becoming synchronised): SLA deadlines derived from wall-clock dues move by
 * the same amount (a positive correction brings them closer). Deadlines are
 * otherwise never re-derived from wall time, so ordinary clock steps change
 * nothing. */
void alerts_rebase(struct alerts *a, int64_t correction_ms, const struct alerts_now *now);

/* Earliest monotonic time at which alerts_tick() has work (SLA warning or
 * breach, ack timeout, escalation, feed stale/broker blind), UINT64_MAX if
 * none. O(1). */
uint64_t alerts_next_deadline(const struct alerts *a);
/* Runs everything due at or before now. */
void alerts_tick(struct alerts *a, const struct alerts_now *now);

/* The most urgent unacked alert: breached > warning > new; then earliest
 * due; then oldest. Returns 0 or -ENOENT. */
int alerts_pick_next(const struct alerts *a, const struct alerts_now *now, struct alert_info *out);
/* The ticket `ticket_id`; -ENOENT if not open. */
int alerts_get(const struct alerts *a, const char *ticket_id, const struct alerts_now *now,
	       struct alert_info *out);
/* Marks the ticket's unacked alert acked by `agent`. The caller has made the
 * ack durable first. -ENOENT: no such ticket; -EALREADY: nothing unacked. */
int alerts_ack(struct alerts *a, const char *ticket_id, const char *agent,
	       const struct alerts_now *now);

typedef void (*alerts_foreach_fn)(void *userdata, const struct alert_info *a);
/* Calls fn for every open ticket, most urgent first (the order of
 * alerts_pick_next; acked after unacked; tickets without alert last).
 * fn may call alerts_ack(), nothing else that changes the engine. */
void alerts_foreach(const struct alerts *a, const struct alerts_now *now, alerts_foreach_fn fn,
		    void *userdata);
/* Like alerts_foreach(), but only for the `max` most urgent tickets, in the
 * same order; returns how many tickets are open. O(n log max) and no copy
 * of the rest, so a capped list stays cheap with 100 000 open tickets. */
size_t alerts_foreach_first(const struct alerts *a, const struct alerts_now *now, size_t max,
			    alerts_foreach_fn fn, void *userdata);

/* Lamps, repeating sound, counts and banners as of now. */
void alerts_view(const struct alerts *a, const struct alerts_now *now, struct alerts_view *out);

/* Passes every open ticket to the ticket_saved effect (a new store after
 * one that could not be written). */
void alerts_save_all(struct alerts *a);
size_t alerts_open_count(const struct alerts *a);

const char *alert_kind_name(enum alert_kind k);   /* "new", "warning", "breached" */
const char *alert_state_name(enum alert_state s); /* "unacked", "acked" */
/* The ack record's "alert" field: "ticket.created", "sla.warning",
 * "sla.breached". */
const char *alert_kind_event_name(enum alert_kind k);
