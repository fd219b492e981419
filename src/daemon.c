/* daemon: the root object and the wiring between modules.
 *
 * Flow: MQTT messages -> event_parse -> dedupe (store) -> alerts_apply; the
 * alert engine's effects persist tickets, queue sounds and mark the board
 * dirty. Button edges -> buttons (debounce, gestures) -> actions (ack,
 * silence, lamp test). Before the loop sleeps, daemon_update() runs the
 * timers of the pure core, turns the alert view into lamp patterns and
 * buzzer sounds, writes the GPIO lines, publishes state, commits the batched
 * store writes and feeds the outbox to MQTT; then it arms one timer for the
 * earliest deadline of all of them, so an idle board does not wake up.
 */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timex.h>
#include <unistd.h>

#include "buttons.h"
#include "cmd.h"
#include "crypto.h"
#include "ctl.h"
#include "display.h"
#include "gpio.h"
#include "hass.h"
#include "mapping.h"
#include "mqtt.h"
#include "payload.h"
#include "policy.h"
#include "quiet.h"
#include "runtime.h"
#include "sdnotify.h"
#include "store.h"
#include "timeutil.h"

#define STARTUP_LAMP_TEST_USEC   (2 * USEC_PER_SEC)
#define LAMP_TEST_USEC           (3 * USEC_PER_SEC)
#define IDENTIFY_USEC            (10 * USEC_PER_SEC)
#define BROKER_BLIND_USEC        (10 * USEC_PER_SEC)
#define HOLD_USEC                (10 * USEC_PER_SEC)
#define DEDUPE_KEEP_USEC         (48 * 3600 * USEC_PER_SEC)
#define STATE_MIN_INTERVAL_USEC  (200 * USEC_PER_MSEC)
#define HEALTH_INTERVAL_USEC     (60 * USEC_PER_SEC)
#define HEALTH_MIN_INTERVAL_USEC (2 * USEC_PER_SEC)
#define RETENTION_FIRST_USEC     (60 * USEC_PER_SEC)
#define RETENTION_INTERVAL_USEC  (3600 * USEC_PER_SEC)
#define STORE_RETRY_USEC         (5 * USEC_PER_SEC)
#define COMMIT_GAP_USEC          (10 * USEC_PER_MSEC)
#define RESAVE_MAX_USEC          (60 * USEC_PER_SEC)
#define STOP_TIMEOUT_USEC        (2 * USEC_PER_SEC)
#define CTL_MAX_CLIENTS          16
#define SESSION_EXPIRY_S         (7 * 24 * 3600)
#define MAX_INFLIGHT_MQTT        20
#define ERRORS_PER_SEC           50
#define TS_AHEAD_MAX_MS          (24 * 3600 * INT64_C(1000))
#define GPIO_READ_ERRORS_MAX     100
#define REBASE_MIN_MS            1000

#define SETTING_MUTED_UNTIL "muted_until_ms"
#define SETTING_INCIDENT    "incident_title"

static void daemon_update(struct loop *loop, void *userdata);
static int open_mqtt(struct daemon *d);
static void reconnect_mqtt(struct daemon *d);

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void
topic_for(const struct daemon *d, const char *suffix, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", d->topic_prefix, suffix);
}

/* Publishes a board message if connected; non-durable by design (durable
 * records go through the outbox). */
static void
publish(struct daemon *d, const char *suffix, const char *payload, int qos, bool retain)
{
	char topic[160];

	if (!payload || !d->mqtt || !mqtt_connected(d->mqtt))
		return;
	topic_for(d, suffix, topic, sizeof(topic));
	int r = mqtt_publish(d->mqtt, topic, payload, strlen(payload), qos, retain, NULL);
	if (r < 0 && r != -ENOTCONN)
		log_debug("Failed to publish on %s: %s", topic, strerror(-r));
}

/* --- time ---------------------------------------------------------------- */

/* The kernel's NTP state; under the hardened unit adjtimex() may be
 * filtered, so timesyncd's flag file counts first. TEAMBOARD_CLOCK lets
 * tests force either answer. */
static bool
clock_is_synced(void)
{
	const char *force = getenv("TEAMBOARD_CLOCK");
	struct timex tx = { 0 };

	if (force && strcmp(force, "synced") == 0)
		return true;
	if (force && strcmp(force, "unsynced") == 0)
		return false;
	if (access("/run/systemd/timesync/synchronized", F_OK) == 0)
		return true;
	int r = adjtimex(&tx);
	if (r < 0)
		return false;
	return r != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

struct alerts_now
daemon_now(const struct daemon *d)
{
	struct alerts_now now = {
		.mono_usec = loop_now_usec(d->loop),
		.wall_ms = time_wall_ms(),
	};
	if (!d->clock_synced && d->have_skew)
		now.wall_ms += d->skew_ms;
	return now;
}

/* While our clock is unsynchronised, the backend's ts is the better clock.
 * Events can arrive late (queued by the broker while we were offline) but
 * never early, so the largest ts - wall seen is the best estimate. */
/* How far the board's wall-clock estimate (daemon_now) is from the system
 * clock. */
static int64_t
estimate_offset_ms(const struct daemon *d)
{
	return !d->clock_synced && d->have_skew ? d->skew_ms : 0;
}

/* SLA deadlines come from wall-clock dues mapped through the estimate. When
 * the estimate itself gets better (first backend ts, clock synchronised),
 * deadlines computed with the old one, such as tickets restored at boot
 * with a stale fake-hwclock time, move with it. Sub-second changes are
 * noise and wait until they add up. */
static void
follow_estimate(struct daemon *d)
{
	int64_t delta = estimate_offset_ms(d) - d->deadline_offset_ms;
	struct alerts_now now;

	if (delta > -REBASE_MIN_MS && delta < REBASE_MIN_MS)
		return;
	d->deadline_offset_ms += delta;
	now = daemon_now(d);
	log_info("Board time estimate corrected by %+" PRId64 " ms; SLA deadlines follow", delta);
	alerts_rebase(d->alerts, delta, &now);
	daemon_touch(d);
}

static void
update_skew(struct daemon *d, const struct event *ev)
{
	int64_t candidate;

	if (d->clock_synced || ev->ts_ms <= 0)
		return;
	candidate = ev->ts_ms - time_wall_ms();
	if (!d->have_skew || candidate > d->skew_ms) {
		if (!d->have_skew || candidate - d->skew_ms > 1000)
			log_info("Clock not synchronised; backend clock is %+" PRId64
				 " ms from ours",
				 candidate);
		d->skew_ms = candidate;
		d->have_skew = true;
		follow_estimate(d);
	}
}

static void
recheck_clock(struct daemon *d)
{
	bool synced = clock_is_synced();

	if (synced != d->clock_synced) {
		log_notice("Wall clock is %s", synced ? "synchronised" : "not synchronised");
		d->clock_synced = synced;
		follow_estimate(d);
		daemon_touch(d);
	}
}

/* --- sounds -------------------------------------------------------------- */

bool
daemon_audible(const struct daemon *d, enum sound s)
{
	uint64_t now = loop_now_usec(d->loop);

	if (s == SOUND_NONE)
		return false;
	if (d->silenced_until_usec && now < d->silenced_until_usec)
		return false;
	if ((d->muted_until_usec && now < d->muted_until_usec) || d->quiet)
		return (d->conf.alerts.audible_in_quiet & (1u << s)) != 0;
	return true;
}

static void
log_sound(struct daemon *d, enum sound s)
{
	unsigned idx;

	if (d->n_sounds < DAEMON_SOUND_LOG) {
		idx = (d->sounds_head + d->n_sounds++) % DAEMON_SOUND_LOG;
	} else {
		idx = d->sounds_head; /* overwrite the oldest */
		d->sounds_head = (d->sounds_head + 1) % DAEMON_SOUND_LOG;
	}
	d->sounds[idx].sound = s;
	d->sounds[idx].at_usec = loop_now_usec(d->loop);
}

/* Feedback to a person pressing a button (ack, nack) always sounds: it
 * answers that person, not the floor (see feedback()). Everything else
 * obeys mute, silence and quiet hours. */
static void
play(struct daemon *d, enum sound s)
{
	bool feedback = s == SOUND_ACK || s == SOUND_NACK;

	if (!feedback && !daemon_audible(d, s)) {
		log_debug("Sound %s suppressed (mute/silence/quiet hours)", sound_name(s));
		return;
	}
	if (d->n_sound_queue >= DAEMON_SOUND_QUEUE) {
		log_debug("Sound %s dropped: %u sounds already waiting", sound_name(s),
			  d->n_sound_queue);
		return;
	}
	d->sound_queue[d->n_sound_queue++] = s;
	log_sound(d, s);
	daemon_touch(d);
}

/* A one-shot sound starts when the lines are written, not when it was
 * asked for: between the two there may be an fsync (the durable ack before
 * its beep, the incident setting), and on an SD card that can outlast the
 * 60 ms ack beep, which would then never be heard. */
static void
start_sounds(struct daemon *d, uint64_t now_usec)
{
	for (unsigned i = 0; i < d->n_sound_queue; i++)
		signals_play(d->signals, d->sound_queue[i], now_usec);
	d->n_sound_queue = 0;
}

static void
stop_sounds(struct daemon *d, uint64_t now_usec)
{
	d->n_sound_queue = 0;
	signals_stop_sounds(d->signals, now_usec);
}

/* Ack/nack beeps answer a person pressing a button. A remote ack (MQTT,
 * control socket, helpdesk assignment) gets its reply there instead, and
 * must not beep on the floor, least of all in quiet hours. */
static void
feedback(struct daemon *d, enum ack_source source, enum sound s)
{
	if (source == ACK_SOURCE_BUTTON)
		play(d, s);
}

/* --- alert engine effects ------------------------------------------------ */

static void
on_alert_sound(void *userdata, enum sound s)
{
	struct daemon *d = userdata;

	/* A silence is for the sound of the moment: news (a new ticket, a
	 * warning, a re-alert, an incident) ends it and is heard. */
	if (d->silenced_until_usec) {
		d->silenced_until_usec = 0;
		d->silenced_until_ms = 0;
	}
	play(d, s);
}

static void
on_alert_escalated(void *userdata, const struct alert_info *a)
{
	struct daemon *d = userdata;
	char *p = payload_escalation(d->conf.board.id, a, daemon_now(d).wall_ms);

	d->stats.escalations++;
	log_warning("Breach of ticket %s unacknowledged for %" PRIu64 " s: escalated", a->ticket_id,
		    d->conf.alerts.escalate_after_usec / USEC_PER_SEC);
	publish(d, "escalations", p, 1, false);
	payload_free(p);
}

static void
store_failed(struct daemon *d, const char *what, int r)
{
	d->stats.store_errors++;
	log_ratelimited(&d->store_rl, LOG_LEVEL_ERR, "Failed to %s in the database: %s (%s)", what,
			strerror(-r), store_errmsg(d->store));
	/* A failed write or commit rolls back its whole batch, up to a group
	 * of messages' ticket saves and removals: commit_batch() rewrites the
	 * tickets table from the engine once the store takes writes again. */
	if (!d->resave_pending) {
		d->resave_pending = true;
		d->resave_usec = loop_now_usec(d->loop) + d->resave_backoff_usec;
	}
}

/* Makes the tickets table exactly the engine's open tickets (batched). */
static void
resave_tickets(struct daemon *d)
{
	if (store_tickets_clear(d->store) == 0)
		alerts_save_all(d->alerts);
}

static void
on_ticket_saved(void *userdata, const struct ticket_snapshot *t)
{
	struct daemon *d = userdata;
	int r = store_ticket_save(d->store, t);

	if (r < 0)
		store_failed(d, "save a ticket", r);
}

static void
on_ticket_removed(void *userdata, const char *ticket_id)
{
	struct daemon *d = userdata;
	int r = store_ticket_remove(d->store, ticket_id);

	if (r < 0)
		store_failed(d, "remove a ticket", r);
}

static void
on_alerts_changed(void *userdata)
{
	daemon_touch(userdata);
}

static const struct alerts_effects alert_effects = {
	.sound = on_alert_sound,
	.escalated = on_alert_escalated,
	.ticket_saved = on_ticket_saved,
	.ticket_removed = on_ticket_removed,
	.changed = on_alerts_changed,
};

static void
alerts_config_from(const struct conf *c, struct alerts_config *out)
{
	*out = (struct alerts_config){
		.warn_at_pct = c->alerts.warn_at_pct,
		.ack_timeout_usec = c->alerts.ack_timeout_usec,
		.escalate_after_usec = c->alerts.escalate_after_usec,
		.feed_timeout_usec = c->alerts.feed_timeout_usec,
		.broker_blind_usec = BROKER_BLIND_USEC,
		.chirp_min_priority = c->alerts.chirp_min_priority,
		.max_tickets = c->alerts.max_open_tickets,
	};
}

static void
buttons_config_from(const struct conf *c, struct buttons_config *out)
{
	*out = (struct buttons_config){
		.debounce_usec = c->buttons.debounce_usec,
		.long_press_usec = c->buttons.long_press_usec,
		.double_press_usec = c->buttons.double_press_usec,
		.hold_usec = HOLD_USEC,
		.stuck_usec = c->buttons.stuck_after_usec,
	};
}

/* --- acknowledgements ---------------------------------------------------- */

struct ack_targets {
	struct alert_info *items;
	size_t n, cap;
};

static void
collect_unacked(void *userdata, const struct alert_info *a)
{
	struct ack_targets *t = userdata;

	if (a->state != ALERT_UNACKED || t->n == t->cap)
		return;
	t->items[t->n++] = *a;
}

int
daemon_ack(struct daemon *d, const char *ticket_id, bool all, const char *agent,
	   enum ack_source source, const char *button, struct ack_record *acked, size_t max)
{
	struct alerts_now now = daemon_now(d);
	struct ack_targets t = { 0 };
	struct ack_record *recs = NULL;
	char **payloads = NULL;
	char topic[160];
	int r;

	t.cap = all ? alerts_open_count(d->alerts) : 1;
	if (t.cap == 0)
		goto nothing;
	t.items = calloc(t.cap, sizeof(*t.items));
	if (!t.items)
		return -ENOMEM;
	if (all)
		alerts_foreach(d->alerts, &now, collect_unacked, &t);
	else if (ticket_id && *ticket_id)
		t.n = alerts_get(d->alerts, ticket_id, &now, &t.items[0]) == 0 &&
		      t.items[0].state == ALERT_UNACKED;
	else
		t.n = alerts_pick_next(d->alerts, &now, &t.items[0]) == 0;
	if (t.n == 0)
		goto nothing;

	recs = calloc(t.n, sizeof(*recs));
	payloads = calloc(t.n, sizeof(*payloads));
	if (!recs || !payloads) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct alert_info *a = &t.items[i];
		struct ack_record *rec = &recs[i];
		uint64_t seq = 0;

		r = store_next_ack_seq(d->store, &seq);
		if (r < 0)
			goto failed;
		snprintf(rec->id, sizeof(rec->id), "%s-%06" PRIu64, d->conf.board.id, seq);
		snprintf(rec->board, sizeof(rec->board), "%s", d->conf.board.id);
		snprintf(rec->ticket_id, sizeof(rec->ticket_id), "%s", a->ticket_id);
		rec->alert = a->kind;
		snprintf(rec->agent, sizeof(rec->agent), "%s", agent ? agent : "");
		rec->source = source;
		snprintf(rec->button, sizeof(rec->button), "%s", button ? button : "");
		rec->at_ms = now.wall_ms;
		/* The monotonic clock is exact within this boot; an alert raised
		 * before a restart only has its wall time. */
		if (a->raised_usec && now.mono_usec > a->raised_usec)
			rec->latency_ms =
				(int64_t)((now.mono_usec - a->raised_usec) / USEC_PER_MSEC);
		else
			rec->latency_ms =
				now.wall_ms > a->raised_ms ? now.wall_ms - a->raised_ms : 0;
		snprintf(rec->event_id, sizeof(rec->event_id), "%s", a->event_id);
		rec->channel = a->channel;
		rec->priority = a->priority;
		payloads[i] = payload_ack(rec);
		if (!payloads[i]) {
			r = -ENOMEM;
			goto out;
		}
	}

	/* Durable first: the ack beep below must never outlive the record. */
	topic_for(d, "acks", topic, sizeof(topic));
	r = store_ack_commit(d->store, recs, (const char *const *)payloads, t.n, topic);
	if (r < 0)
		goto failed;

	for (size_t i = 0; i < t.n; i++) {
		alerts_ack(d->alerts, recs[i].ticket_id, recs[i].agent, &now);
		log_info("Ticket %s (%s) acknowledged by %s via %s after %" PRId64 " ms",
			 recs[i].ticket_id, alert_kind_name(recs[i].alert),
			 *recs[i].agent ? recs[i].agent : "(unknown agent)",
			 ack_source_name(source), recs[i].latency_ms);
		if (acked && i < max)
			acked[i] = recs[i];
	}
	/* The acked state of the tickets is as durable as the records before
	 * the beep: after a power cut they must not flash again. */
	int synced = store_sync(d->store, now.wall_ms);
	if (synced < 0)
		store_failed(d, "save acknowledged tickets", synced);
	d->stats.acks += t.n;
	feedback(d, source, SOUND_ACK);
	daemon_touch(d);
	r = (int)t.n;
	goto out;

failed:
	store_failed(d, "store an acknowledgement (not acknowledged)", r);
	feedback(d, source, SOUND_NACK);
	/* The reply says why when a person can act on it. */
	if (r != -ENOBUFS && r != -EROFS && r != -ENOSPC)
		r = -EIO;
out:
	for (size_t i = 0; payloads && i < t.n; i++)
		payload_free(payloads[i]);
	free(payloads);
	free(recs);
	free(t.items);
	return r;

nothing:
	free(t.items);
	feedback(d, source, SOUND_NACK);
	return -ENOENT;
}

/* --- sound policy -------------------------------------------------------- */

void
daemon_silence(struct daemon *d, uint64_t for_usec)
{
	uint64_t now = loop_now_usec(d->loop);

	d->silenced_until_usec = now + for_usec;
	d->silenced_until_ms = daemon_now(d).wall_ms + (int64_t)(for_usec / USEC_PER_MSEC);
	stop_sounds(d, now);
	log_info("Buzzer silenced for %" PRIu64 " s (alerts stay unacknowledged)",
		 for_usec / USEC_PER_SEC);
	daemon_touch(d);
}

void
daemon_mute(struct daemon *d, uint64_t for_usec)
{
	uint64_t now = loop_now_usec(d->loop);
	char value[32];

	d->muted_until_usec = now + for_usec;
	d->muted_until_ms = daemon_now(d).wall_ms + (int64_t)(for_usec / USEC_PER_MSEC);
	snprintf(value, sizeof(value), "%" PRId64, d->muted_until_ms);
	if (store_setting_set(d->store, SETTING_MUTED_UNTIL, value) < 0)
		log_warning("Failed to remember the mute; it ends at a restart");
	stop_sounds(d, now);
	log_notice("Buzzer muted for %" PRIu64 " s", for_usec / USEC_PER_SEC);
	daemon_touch(d);
}

static void
mute_ended(struct daemon *d)
{
	d->muted_until_usec = 0;
	d->muted_until_ms = 0;
	store_setting_delete(d->store, SETTING_MUTED_UNTIL);
	d->resound = true;
	daemon_touch(d);
}

void
daemon_unmute(struct daemon *d)
{
	if (d->muted_until_usec)
		log_notice("Buzzer unmuted");
	mute_ended(d);
}

void
daemon_lamp_test(struct daemon *d)
{
	signals_lamp_test(d->signals, LAMP_TEST_USEC, loop_now_usec(d->loop));
	log_info("Lamp test");
	daemon_touch(d);
}

void
daemon_identify(struct daemon *d)
{
	signals_identify(d->signals, IDENTIFY_USEC, loop_now_usec(d->loop));
	log_info("Identify: flashing all lamps");
	daemon_touch(d);
}

void
daemon_incident(struct daemon *d, bool open, const char *title)
{
	struct alerts_now now = daemon_now(d);

	alerts_set_incident(d->alerts, open, title, &now, true);
	daemon_touch(d);
}

/* Quiet hours are wall-clock windows; re-evaluated when they are due to
 * flip and whenever the wall clock steps. */
static void
update_quiet(struct daemon *d)
{
	struct alerts_now now = daemon_now(d);
	int64_t next_ms = INT64_MAX;
	bool quiet = quiet_active(&d->conf.alerts.quiet_hours, d->conf.alerts.timezone, now.wall_ms,
				  &next_ms);

	if (quiet != d->quiet) {
		log_info("Quiet hours %s", quiet ? "begin" : "end");
		d->quiet = quiet;
		if (!quiet)
			d->resound = true;
		daemon_touch(d);
	}
	if (next_ms == INT64_MAX || next_ms <= now.wall_ms)
		d->quiet_next_usec = next_ms == INT64_MAX ? 0 : now.mono_usec + USEC_PER_SEC;
	else
		d->quiet_next_usec =
			now.mono_usec + (uint64_t)(next_ms - now.wall_ms) * USEC_PER_MSEC;
}

/* --- buttons ------------------------------------------------------------- */

static void
on_gesture(void *userdata, unsigned button, enum gesture g, uint64_t at_usec)
{
	struct daemon *d = userdata;
	const struct board_button *b = &d->profile.buttons[button];
	enum button_action action = BUTTON_ACTION_NONE;

	(void)at_usec;
	switch (g) {
	case GESTURE_SHORT:
		action = d->conf.buttons.on_short;
		break;
	case GESTURE_LONG:
		action = d->conf.buttons.on_long;
		break;
	case GESTURE_DOUBLE:
		action = d->conf.buttons.on_double;
		break;
	case GESTURE_HOLD:
		action = d->conf.buttons.on_hold;
		break;
	case GESTURE_STUCK: {
		char why[128];
		uint64_t held_s = d->conf.buttons.stuck_after_usec / USEC_PER_SEC;

		snprintf(why, sizeof(why),
			 "button %s stuck: held for %" PRIu64 " s, ignored until released", b->id,
			 held_s);
		char *p = payload_error(d->conf.board.id, NULL, NULL, why, daemon_now(d).wall_ms);
		log_error("Button %s held for %" PRIu64
			  " s: reported as stuck and ignored until released",
			  b->id, held_s);
		publish(d, "errors", p, 0, false);
		payload_free(p);
		daemon_touch(d);
		return;
	}
	case GESTURE_STUCK_RELEASED:
		log_notice("Button %s released; no longer stuck", b->id);
		daemon_touch(d);
		return;
	case GESTURE_COUNT:
		return;
	}
	log_debug("Button %s: %s -> %s", b->id, gesture_name(g), button_action_name(action));
	switch (action) {
	case BUTTON_ACTION_ACK:
		daemon_ack(d, NULL, false, b->agent, ACK_SOURCE_BUTTON, b->id, NULL, 0);
		break;
	case BUTTON_ACTION_ACK_ALL:
		daemon_ack(d, NULL, true, b->agent, ACK_SOURCE_BUTTON, b->id, NULL, 0);
		break;
	case BUTTON_ACTION_SILENCE:
		daemon_silence(d, d->conf.alerts.silence_for_usec);
		break;
	case BUTTON_ACTION_LAMP_TEST:
		daemon_lamp_test(d);
		break;
	case BUTTON_ACTION_NONE:
	case BUTTON_ACTION_COUNT:
		break;
	}
}

static void
on_gpio_edge(void *userdata, unsigned button, bool pressed, uint64_t at_usec)
{
	struct daemon *d = userdata;

	buttons_edge(d->buttons, button, pressed, at_usec);
	daemon_touch(d);
}

static void
on_gpio_readable(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct daemon *d = userdata;
	int r;

	(void)loop;
	(void)revents;
	r = gpio_dispatch(d->gpio, fd);
	if (r >= 0) {
		d->gpio_read_errors = 0;
		return;
	}
	log_ratelimited(&d->gpio_rl, LOG_LEVEL_WARNING, "Failed to read button events: %s",
			strerror(-r));
	/* The fd is level-triggered: a line that keeps failing would spin. */
	if (++d->gpio_read_errors >= GPIO_READ_ERRORS_MAX) {
		for (unsigned i = 0; i < BOARD_MAX_BUTTONS; i++)
			if (d->gpio_io[i].added && d->gpio_io[i].fd == fd)
				loop_io_unwatch(loop, &d->gpio_io[i]);
		log_error("Button line keeps failing (%s); no longer watched until restart",
			  strerror(-r));
	}
}

static void
on_sim_step(struct loop *loop, void *userdata)
{
	struct sim_script *s = userdata;
	uint64_t now = loop_now_usec(loop);

	/* Each edge carries its scripted time, as a kernel edge event carries
	 * its own: edges closer than the loop wakes up stay that close. */
	while (s->next < s->n && s->start_usec + s->at_usec[s->next] <= now) {
		gpio_sim_set_button(s->daemon->gpio, s->button, s->level[s->next],
				    s->start_usec + s->at_usec[s->next]);
		s->next++;
	}
	if (s->next < s->n)
		loop_timer_arm(loop, &s->timer, s->start_usec + s->at_usec[s->next]);
}

static int
sim_run(struct daemon *d, const char *button, const uint64_t *at, const bool *level, unsigned n)
{
	int idx;
	struct sim_script *s;

	if (!gpio_is_sim(d->gpio))
		return -EOPNOTSUPP;
	idx = board_button_index(&d->profile, button);
	if (idx < 0)
		return -ENOENT;
	s = &d->sim[idx];
	loop_timer_disarm(d->loop, &s->timer);
	s->daemon = d;
	s->button = (unsigned)idx;
	s->n = n;
	s->next = 0;
	s->start_usec = loop_now_usec(d->loop);
	memcpy(s->at_usec, at, n * sizeof(*at));
	memcpy(s->level, level, n * sizeof(*level));
	on_sim_step(d->loop, s);
	return 0;
}

int
daemon_sim_press(struct daemon *d, const char *button, uint64_t hold_usec)
{
	const uint64_t at[] = { 0, hold_usec };
	const bool level[] = { true, false };

	return sim_run(d, button, at, level, 2);
}

int
daemon_sim_double(struct daemon *d, const char *button)
{
	/* Two 80 ms presses 120 ms apart: well inside double_press, each
	 * longer than the default debounce. */
	uint64_t press = 80 * USEC_PER_MSEC, gap = 120 * USEC_PER_MSEC;
	const uint64_t at[] = { 0, press, press + gap, 2 * press + gap };
	const bool level[] = { true, false, true, false };

	return sim_run(d, button, at, level, 4);
}

int
daemon_sim_chatter(struct daemon *d, const char *button, unsigned edges, uint64_t within_usec,
		   uint64_t hold_usec)
{
	uint64_t at[DAEMON_SIM_STEPS];
	bool level[DAEMON_SIM_STEPS];
	unsigned n = 0;

	if (edges == 0 || edges > DAEMON_SIM_CHATTER_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < edges; i++, n++) {
		at[n] = edges > 1 ? within_usec * i / (edges - 1) : 0;
		level[n] = i % 2 == 0;
	}
	if (level[n - 1]) {
		at[n] = at[n - 1] + hold_usec;
		level[n] = false;
		n++;
	}
	return sim_run(d, button, at, level, n);
}

int
daemon_sim_hold(struct daemon *d, const char *button)
{
	const uint64_t at[] = { 0 };
	const bool level[] = { true };

	return sim_run(d, button, at, level, 1);
}

int
daemon_sim_release(struct daemon *d, const char *button)
{
	const uint64_t at[] = { 0 };
	const bool level[] = { false };

	return sim_run(d, button, at, level, 1);
}

/* --- MQTT ---------------------------------------------------------------- */

struct event_ctx {
	struct daemon *d;
	const char *topic;
};

/* One message can carry thousands of bad events: reports on the errors
 * topic are capped per second like the log lines (all are counted). */
static bool
error_report_allowed(struct daemon *d)
{
	uint64_t now = loop_now_usec(d->loop);

	if (now - d->errors_window_usec >= USEC_PER_SEC) {
		d->errors_window_usec = now;
		d->errors_in_window = 0;
	}
	return d->errors_in_window++ < ERRORS_PER_SEC;
}

static void
report_reject(struct daemon *d, const char *topic, const char *event_id, const char *reason)
{
	d->stats.events_rejected++;
	log_ratelimited(&d->reject_rl, LOG_LEVEL_WARNING, "Rejected event %s from %s: %s",
			event_id ? event_id : "(without id)", topic, reason);
	if (!error_report_allowed(d))
		return;
	char *p = payload_error(d->conf.board.id, topic, event_id, reason, daemon_now(d).wall_ms);
	publish(d, "errors", p, 0, false);
	payload_free(p);
}

static void
on_event_reject(void *userdata, const char *event_id, const char *reason)
{
	struct event_ctx *ctx = userdata;

	report_reject(ctx->d, ctx->topic, event_id, reason);
}

/* The board-side SLA policy and priority rules (docs/sla.md) fill in what
 * the backend left out, after parsing and before the alert engine. Returns
 * the event to apply: `ev` itself or `out`. */
static const struct event *
apply_policy(struct daemon *d, const struct event *ev, const struct alerts_now *now,
	     struct event *out)
{
	struct policy_ticket t = { 0 };
	struct alert_info a;
	unsigned filled;

	if ((!d->conf.sla.enabled && !d->conf.priority.enabled) || !ev->has_ticket)
		return ev;
	if (alerts_get(d->alerts, ev->ticket.id, now, &a) == 0) {
		t.known = true;
		t.responded = a.responded;
		t.due_policy = a.due_policy;
		t.created_ms = a.created_ms;
		t.channel = a.channel;
		t.priority = a.priority;
		t.public = a.public;
	}
	*out = *ev;
	filled = policy_apply(&d->policy, out, &t);
	if (!filled)
		return ev;
	if (filled & POLICY_FILLED_PRIORITY)
		log_debug("Event %s: priority %s from the [priority] rules", ev->id,
			  priority_name(out->ticket.priority));
	if (filled & (POLICY_FILLED_DUE | POLICY_FILLED_NEXT))
		log_debug("Event %s: %s due from the [sla] policy", ev->id,
			  filled & POLICY_FILLED_NEXT ? "next response" : "SLA");
	return out;
}

static void
on_event(void *userdata, const struct event *ev)
{
	struct event_ctx *ctx = userdata;
	struct daemon *d = ctx->d;
	struct alerts_now now;
	struct event filled;
	int r;

	/* A synchronised clock knows better than a backend that dates an event
	 * days ahead; taken, its ts would block the ticket's real updates. */
	if (d->clock_synced && ev->ts_ms > time_wall_ms() + TS_AHEAD_MAX_MS) {
		report_reject(d, ctx->topic, ev->id,
			      "ts: more than 24 h ahead of the board's synchronised clock");
		return;
	}
	r = store_event_seen(d->store, ev->id);
	if (r > 0) {
		d->stats.events_duplicate++;
		log_debug("Event %s seen before; ignored", ev->id);
		return;
	}
	if (r < 0)
		store_failed(d, "look up an event id", r);

	update_skew(d, ev);
	now = daemon_now(d);
	r = alerts_apply(d->alerts, apply_policy(d, ev, &now, &filled), &now);
	if (r == -ENOSPC) {
		char why[96];

		/* Not marked seen: a redelivery may find room. */
		snprintf(why, sizeof(why),
			 "too many open tickets (alerts.max_open_tickets = %zu); event dropped",
			 d->conf.alerts.max_open_tickets);
		report_reject(d, ctx->topic, ev->id, why);
		return;
	}
	int m = store_event_mark(d->store, ev->id, now.wall_ms);
	if (m < 0)
		store_failed(d, "remember an event id", m);
	if (r == 1) {
		d->stats.events_ignored++;
		log_debug("Event %s (%s) ignored: older than the ticket's state or unknown ticket",
			  ev->id, event_type_name(ev->type));
		return;
	}
	d->stats.events_applied++;
	log_debug("Event %s (%s) applied", ev->id, event_type_name(ev->type));
	if (ev->type == EVENT_TICKET_ASSIGNED && d->conf.alerts.assign_acks) {
		struct alert_info a;

		if (alerts_get(d->alerts, ev->ticket.id, &now, &a) == 0 && a.state == ALERT_UNACKED)
			daemon_ack(d, ev->ticket.id, false, ev->agent, ACK_SOURCE_ASSIGN, NULL,
				   NULL, 0);
	}
}

static bool
is_command_topic(const struct daemon *d, const char *topic, const char **verb)
{
	static const char all_prefix[] = "teamboard/all/cmd/";
	size_t n = strlen(d->topic_prefix);

	if (strncmp(topic, d->topic_prefix, n) == 0 && strncmp(topic + n, "cmd/", 4) == 0) {
		*verb = topic + n + 4;
		return true;
	}
	if (strncmp(topic, all_prefix, sizeof(all_prefix) - 1) == 0) {
		*verb = topic + sizeof(all_prefix) - 1;
		return true;
	}
	return false;
}

static void
emit_discovery(void *userdata, const char *topic, const char *payload)
{
	struct daemon *d = userdata;

	mqtt_publish(d->mqtt, topic, payload, strlen(payload), 1, true, NULL);
}

static void
publish_discovery(struct daemon *d)
{
	if (!d->conf.homeassistant.discovery)
		return;
	if (hass_discovery(d->conf.homeassistant.prefix, d->conf.board.id, TEAMBOARD_VERSION,
			   emit_discovery, d) < 0)
		log_warning("Home Assistant discovery not sent: out of memory");
}

static void
handle_command(struct daemon *d, const struct mqtt_message *msg, const char *verb)
{
	struct cmd_context ctx = { .origin = CMD_ORIGIN_MQTT };
	char *reply;
	char suffix[128];

	if (!*verb || strchr(verb, '/'))
		return;
	ctx.target = strncmp(msg->topic, "teamboard/all/", 14) == 0 ? "all" : d->conf.board.id;
	ctx.retained = msg->retained; /* refused: it would fire again at every reconnect */
	reply = cmd_handle_ctx(d, &ctx, verb, msg->payload, msg->len, NULL);
	if (!reply)
		return;
	if (msg->response_topic) {
		mqtt_publish_reply(d->mqtt, msg->response_topic, msg->correlation,
				   msg->correlation_len, reply, strlen(reply));
	} else {
		snprintf(suffix, sizeof(suffix), "reply/%s", verb);
		publish(d, suffix, reply, 1, false);
	}
	payload_free(reply);
}

static void
on_mqtt_message(void *userdata, const struct mqtt_message *msg)
{
	struct daemon *d = userdata;
	struct alerts_now now = daemon_now(d);
	const char *verb;

	if (msg->len > d->conf.mqtt.max_payload) {
		char reason[128];

		snprintf(reason, sizeof(reason),
			 "message of %zu bytes exceeds mqtt.max_payload (%zu bytes)", msg->len,
			 d->conf.mqtt.max_payload);
		report_reject(d, msg->topic, NULL, reason);
		return;
	}
	if (is_command_topic(d, msg->topic, &verb)) {
		handle_command(d, msg, verb);
		return;
	}
	if (d->conf.homeassistant.discovery &&
	    strncmp(msg->topic, d->conf.homeassistant.prefix,
		    strlen(d->conf.homeassistant.prefix)) == 0 &&
	    strcmp(msg->topic + strlen(d->conf.homeassistant.prefix), "/status") == 0) {
		if (hass_wants_discovery(d->conf.homeassistant.prefix, msg->topic, msg->payload,
					 msg->len))
			publish_discovery(d);
		return;
	}
	/* A wide events filter ("#") also matches what boards publish; taking
	 * our own state or errors for events would feed back on itself. */
	if (strncmp(msg->topic, "teamboard/", 10) == 0) {
		log_debug("Ignoring %s: board topics are never events", msg->topic);
		return;
	}

	d->stats.messages++;
	alerts_feed_seen(d->alerts, &now);
	daemon_touch(d);
	struct event_ctx ctx = { .d = d, .topic = msg->topic };
	const struct mapping *map = mapping_set_match(d->mappings, msg->topic);
	const void *payload = msg->payload;
	size_t len = msg->len;
	char *mapped = NULL;

	/* A mapped topic carries a helpdesk's own JSON: it becomes SPEC JSON
	 * first, and an item that cannot is rejected like a bad event. */
	if (map) {
		int n = mapping_apply(map, msg->payload, msg->len, EVENT_MAX_PER_MESSAGE,
				      now.wall_ms, &mapped, on_event_reject, &ctx);

		if (n == -ENOMEM)
			report_reject(d, msg->topic, NULL, "out of memory while mapping");
		payload = mapped;
		len = mapped ? strlen(mapped) : 0;
	}
	if (!map || mapped)
		event_parse_flags(payload, len, EVENT_MAX_PER_MESSAGE,
				  d->conf.priority.enabled ? EVENT_PARSE_PRIORITY_OPTIONAL : 0,
				  on_event, on_event_reject, &ctx);
	free(mapped);
	/* Committed by commit_batch() before the loop sleeps, or within
	 * COMMIT_GAP when messages come faster than that. */
}

static void
publish_board_status(struct daemon *d, const char *state)
{
	char *p = payload_board_status(state, d->started_ms);

	publish(d, "status", p, 1, true);
	payload_free(p);
	snprintf(d->status_state, sizeof(d->status_state), "%s", state);
}

const char *
daemon_store_state(const struct daemon *d)
{
	int f = store_fault(d->store);

	if (store_is_readonly(d->store) || f == -EROFS)
		return "read-only";
	if (f == -ENOSPC || f == -EFBIG)
		return "full";
	return f < 0 ? "failing" : "ok";
}

unsigned
daemon_buttons_stuck(const struct daemon *d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->profile.n_buttons; i++)
		n += buttons_stuck(d->buttons, i);
	return n;
}

/* What health reports as trouble, packed to notice a change. Read from
 * the same sources payload_health() reads, at the same loop time, never
 * from a copy: a copy taken at the last update step lags when a callback
 * (a CONNACK, the minute timer) publishes health in a wake-up that has
 * passed the feed deadline before the update step noticed. Health then
 * said "stale" under a key that said "ok", and a heartbeat that came
 * before the rate-limited correction left the key unchanged: the "ok"
 * was never published. */
static uint64_t
health_key_now(const struct daemon *d)
{
	struct alerts_now now = daemon_now(d);
	struct alerts_view view;
	int64_t depth = store_outbox_depth(d->store);
	size_t max = store_outbox_max(d->store);
	bool outbox_full = max && depth >= 0 && (uint64_t)depth >= max;

	alerts_view(d->alerts, &now, &view);
	return (uint64_t)view.feed_stale | (uint64_t)d->clock_synced << 1 |
	       (uint64_t)(gpio_errors(d->gpio) & 0xffffff) << 2 |
	       (d->stats.store_errors & 0xffffffff) << 26 | (uint64_t)outbox_full << 58 |
	       (uint64_t)(daemon_buttons_stuck(d) > 0) << 59 |
	       (uint64_t)(store_fault(d->store) < 0) << 60;
}

static void
publish_health(struct daemon *d)
{
	char *p = payload_health(d);

	publish(d, "health", p, 1, true);
	payload_free(p);
	d->health_key = health_key_now(d);
	d->health_last_usec = loop_now_usec(d->loop);
}

static void
on_mqtt_connected(void *userdata, bool session_present)
{
	struct daemon *d = userdata;
	struct alerts_now now = daemon_now(d);

	log_notice("Connected to broker %s:%d (%s session)", d->conf.mqtt.host,
		   conf_mqtt_port(&d->conf), session_present ? "resumed" : "new");
	d->broker_connected = true;
	alerts_broker(d->alerts, true, &now);
	d->status_state[0] = '\0'; /* republish status */
	d->state_pending = true;
	publish_health(d);
	publish_discovery(d);
	daemon_touch(d);
}

static void
on_mqtt_disconnected(void *userdata, const char *reason, uint64_t retry_in_usec)
{
	struct daemon *d = userdata;
	struct alerts_now now = daemon_now(d);
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(60 * USEC_PER_SEC, 5);

	log_ratelimited(&rl, LOG_LEVEL_WARNING, "Broker %s:%d unreachable: %s; retrying in %.1f s",
			d->conf.mqtt.host, conf_mqtt_port(&d->conf), reason,
			(double)retry_in_usec / USEC_PER_SEC);
	if (d->broker_connected)
		alerts_broker(d->alerts, false, &now);
	d->broker_connected = false;
	daemon_touch(d);
}

static void
on_mqtt_published(void *userdata, int mid, bool ok)
{
	struct daemon *d = userdata;

	for (size_t i = 0; i < d->n_inflight; i++) {
		if (d->inflight[i].mid != mid)
			continue;
		int64_t row = d->inflight[i].row_id;
		if (!ok)
			d->stats.acks_refused++;
		if (!ok)
			log_error("Broker refused ack record (outbox row %" PRId64
				  "); check its ACL for teamboard/%s/acks",
				  row, d->conf.board.id);
		/* Committed at once, not with the next batch: a crash after the
		 * PUBACK must not publish the record again at restart. Not
		 * fsynced (acks are, the mark need not be): after a power cut
		 * the record may go out twice, same id. */
		int r = store_outbox_sent(d->store, row);
		if (r >= 0)
			r = store_flush(d->store);
		if (r < 0)
			store_failed(d, "mark an ack record sent", r);
		else
			log_debug("Outbox row %" PRId64 " delivered", row);
		d->inflight[i] = d->inflight[--d->n_inflight];
		daemon_touch(d);
		return;
	}
}

/* Events or commands on that filter will never arrive. Rare (once per
 * filter and connection), so health goes out at once. */
static void
on_mqtt_subscription_refused(void *userdata, const char *filter, const char *reason)
{
	struct daemon *d = userdata;

	log_warning("Broker refused subscription to '%s' (%s): nothing on it will reach the "
		    "board; check the broker's ACL for this board",
		    filter, reason);
	publish_health(d);
}

static const struct mqtt_callbacks mqtt_cb = {
	.connected = on_mqtt_connected,
	.disconnected = on_mqtt_disconnected,
	.message = on_mqtt_message,
	.published = on_mqtt_published,
	.subscription_refused = on_mqtt_subscription_refused,
};

/* Hands committed ack records to MQTT in row order. Rows already in flight
 * are re-sent by libmosquitto itself after a reconnect (same mid), so the
 * cursor only moves forward; after a restart it starts from 0 and every
 * unsent row goes out again (consumers dedupe by the record id). */
static void
outbox_pump(struct daemon *d)
{
	struct outbox_row rows[DAEMON_MAX_INFLIGHT];
	size_t room = DAEMON_MAX_INFLIGHT - d->n_inflight;
	int n;

	if (!d->mqtt || !mqtt_connected(d->mqtt) || room == 0)
		return;
	memset(rows, 0, sizeof(rows));
	n = store_outbox_fetch(d->store, d->outbox_cursor, rows, room);
	if (n < 0) {
		store_failed(d, "read the outbox", n);
		return;
	}
	for (int i = 0; i < n; i++) {
		int mid = 0;
		int r;

		/* Logged before the publish, so no copy can reach the broker
		 * unlogged (tests/integration/test_crash.py counts on it). */
		log_debug("Publishing outbox row %" PRId64, rows[i].row_id);
		r = mqtt_publish(d->mqtt, rows[i].topic, rows[i].payload, rows[i].payload_len, 1,
				 false, &mid);
		if (r < 0) {
			for (; i < n; i++)
				outbox_row_done(&rows[i]);
			break;
		}
		d->inflight[d->n_inflight].mid = mid;
		d->inflight[d->n_inflight].row_id = rows[i].row_id;
		d->n_inflight++;
		d->outbox_cursor = rows[i].row_id;
		outbox_row_done(&rows[i]);
	}
}

/* --- control socket ------------------------------------------------------ */

static void
broadcast_state(struct daemon *d, const char *status)
{
	size_t n = strlen(status) + 32;
	char *line = malloc(n);

	if (!line)
		return;
	snprintf(line, n, "{\"type\":\"state\",\"data\":%s}", status);
	ctl_broadcast(d->ctl, line);
	free(line);
	display_push_state(d->display, status);
}

static void
on_ctl_request(void *userdata, struct ctl_client *client, const char *line, size_t len)
{
	struct daemon *d = userdata;
	bool watch = false;
	char *reply = cmd_handle(d, CMD_ORIGIN_CTL, NULL, line, len, &watch);

	if (reply) {
		ctl_reply(client, reply);
		payload_free(reply);
	}
	if (watch) {
		char *status = payload_status(d);
		size_t n = status ? strlen(status) + 32 : 0;
		char *msg = status ? malloc(n) : NULL;

		ctl_watch(client);
		if (msg) {
			snprintf(msg, n, "{\"type\":\"state\",\"data\":%s}", status);
			ctl_reply(client, msg);
		}
		free(msg);
		payload_free(status);
	}
}

/* --- the update step ----------------------------------------------------- */

void
daemon_touch(struct daemon *d)
{
	d->dirty = true;
}

static void
publish_state(struct daemon *d)
{
	uint64_t now = loop_now_usec(d->loop);
	struct alerts_now an = daemon_now(d);
	struct alerts_view view;
	char *status;

	if (now < d->state_last_usec + STATE_MIN_INTERVAL_USEC) {
		loop_timer_arm(d->loop, &d->state_timer,
			       d->state_last_usec + STATE_MIN_INTERVAL_USEC);
		return;
	}
	d->state_pending = false;
	d->state_last_usec = now;
	status = payload_status(d);
	if (status) {
		publish(d, "state", status, 1, true);
		broadcast_state(d, status);
		payload_free(status);
	}
	alerts_view(d->alerts, &an, &view);
	const char *state = view.counts.unacked ? "alert" : "ready";
	if (strcmp(state, d->status_state) != 0 && d->broker_connected)
		publish_board_status(d, state);
}

static void
apply_view(struct daemon *d, const struct alerts_now *now)
{
	struct alerts_view view;
	enum sound repeating;

	alerts_view(d->alerts, now, &view);

	/* A silence is for the sound of the moment: a new unacknowledged
	 * alert is news and sounds again. */
	if (view.counts.unacked > d->last_unacked && d->silenced_until_usec) {
		d->silenced_until_usec = 0;
		d->silenced_until_ms = 0;
	}
	d->last_unacked = view.counts.unacked;

	for (int l = 0; l < LAMP_COUNT; l++)
		signals_set_lamp(d->signals, l, view.lamp[l], now->mono_usec);
	repeating = daemon_audible(d, view.repeating) ? view.repeating : SOUND_NONE;
	if (repeating != signals_repeating(d->signals) && repeating != SOUND_NONE)
		log_sound(d, repeating);
	signals_set_repeating(d->signals, repeating, now->mono_usec);

	/* When mute, silence or quiet hours end with alerts still unacked,
	 * remind the floor once (the repeating alarm resumes by itself). */
	if (d->resound) {
		d->resound = false;
		if (view.counts.unacked && repeating == SOUND_NONE)
			play(d, view.lamp[LAMP_AMBER] == PATTERN_FAST ? SOUND_WARN : SOUND_CHIRP);
	}

	bool incident_saved = d->incident_saved;
	if (view.incident != incident_saved ||
	    (view.incident && strcmp(view.incident_title, d->incident_title) != 0)) {
		if (view.incident)
			store_setting_set(d->store, SETTING_INCIDENT, view.incident_title);
		else
			store_setting_delete(d->store, SETTING_INCIDENT);
		d->incident_saved = view.incident;
		snprintf(d->incident_title, sizeof(d->incident_title), "%s", view.incident_title);
	}
}

static void
write_outputs(struct daemon *d, uint64_t now)
{
	bool out[OUTPUT_COUNT];
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(60 * USEC_PER_SEC, 3);

	signals_outputs(d->signals, now, out);
	for (int o = 0; o < OUTPUT_COUNT; o++) {
		int r = gpio_set(d->gpio, o, out[o]);
		if (r < 0)
			log_ratelimited(&rl, LOG_LEVEL_ERR, "Failed to set %s output: %s",
					output_name(o), strerror(-r));
	}
}

/* Returns when to look again if a change must wait for the rate limit. */
static uint64_t
health_on_change(struct daemon *d, uint64_t now_usec)
{
	uint64_t key = health_key_now(d);

	if (key == d->health_key || !d->broker_connected)
		return UINT64_MAX;
	if (now_usec < d->health_last_usec + HEALTH_MIN_INTERVAL_USEC)
		return d->health_last_usec + HEALTH_MIN_INTERVAL_USEC;
	publish_health(d);
	return UINT64_MAX;
}

/* Group commit. libmosquitto PUBACKs an event before its handler runs, so
 * whatever is not yet committed is lost if the process dies: the batch is
 * committed before the loop sleeps, so a board that gets a message now and
 * then commits each one at once (the lines were written first). When
 * messages come faster, one commit every COMMIT_GAP takes all of them: a
 * commit costs WAL frames, locks and, every ~1 000 frames, a checkpoint
 * with two fsyncs, and paying that per message capped ingest at ~6 500
 * events/s and put checkpoint stalls in front of the lamps (issue 7). A
 * process crash can then lose up to COMMIT_GAP of events plus one read
 * batch; a power cut loses more anyway (synchronous=NORMAL, docs/store.md).
 * After a failed write it also rewrites the tickets table (store_failed()).
 * Returns when it next needs the loop, UINT64_MAX if never. */
static uint64_t
commit_batch(struct daemon *d, uint64_t now_usec)
{
	/* A read-only store is taken care of by on_store_retry(). */
	bool resave =
		d->resave_pending && now_usec >= d->resave_usec && !store_is_readonly(d->store);
	int r;

	if (resave) {
		d->resave_pending = false; /* store_failed() sets it again */
		resave_tickets(d);
	}
	if (store_batch_open(d->store) &&
	    (resave || now_usec >= d->commit_last_usec + COMMIT_GAP_USEC)) {
		d->commit_last_usec = now_usec;
		r = store_flush(d->store);
		if (r < 0)
			store_failed(d, "commit", r);
	}
	if (resave && d->resave_pending) {
		/* Still failing (a full disk): try again, less and less often. */
		d->resave_backoff_usec = min_u64(2 * d->resave_backoff_usec, RESAVE_MAX_USEC);
		d->resave_usec = now_usec + d->resave_backoff_usec;
	} else if (resave) {
		d->resave_backoff_usec = STORE_RETRY_USEC;
		log_notice("Open tickets stored again after failed database writes");
	}
	return min_u64(store_batch_open(d->store) ? d->commit_last_usec + COMMIT_GAP_USEC
						  : UINT64_MAX,
		       d->resave_pending ? d->resave_usec : UINT64_MAX);
}

static void
daemon_update(struct loop *loop, void *userdata)
{
	struct daemon *d = userdata;
	struct alerts_now now = daemon_now(d);
	uint64_t next, health_next, commit_next, out_usec;

	(void)loop;
	if (d->mqtt_restart)
		reconnect_mqtt(d);
	alerts_tick(d->alerts, &now);
	buttons_tick(d->buttons, now.mono_usec);

	if (d->muted_until_usec && now.mono_usec >= d->muted_until_usec) {
		log_notice("Mute ended");
		mute_ended(d);
	}
	if (d->silenced_until_usec && now.mono_usec >= d->silenced_until_usec) {
		d->silenced_until_usec = 0;
		d->silenced_until_ms = 0;
		d->resound = true;
		d->dirty = true;
	}
	if (d->quiet_next_usec && now.mono_usec >= d->quiet_next_usec)
		update_quiet(d);

	if (d->dirty) {
		d->dirty = false;
		apply_view(d, &now);
		d->state_pending = true;
	}
	/* The lines are written for the moment they are written at: the
	 * steps above may have waited for an fsync. */
	out_usec = time_mono_usec();
	start_sounds(d, out_usec);
	write_outputs(d, out_usec);
	if (d->state_pending)
		publish_state(d);
	health_next = health_on_change(d, now.mono_usec);

	commit_next = commit_batch(d, now.mono_usec);
	outbox_pump(d);

	next = min_u64(alerts_next_deadline(d->alerts), health_next);
	next = min_u64(next, commit_next);
	next = min_u64(next, buttons_next_deadline(d->buttons));
	next = min_u64(next, signals_next_change(d->signals, out_usec));
	if (d->muted_until_usec)
		next = min_u64(next, d->muted_until_usec);
	if (d->silenced_until_usec)
		next = min_u64(next, d->silenced_until_usec);
	if (d->quiet_next_usec)
		next = min_u64(next, d->quiet_next_usec);
	if (next == UINT64_MAX)
		loop_timer_disarm(d->loop, &d->wake_timer);
	else
		loop_timer_arm(d->loop, &d->wake_timer, next);
}

/* Timers whose only job is to wake the loop: the work happens in
 * daemon_update() right after. */
static void
on_wake(struct loop *loop, void *userdata)
{
	(void)loop;
	(void)userdata;
}

static void
on_watchdog(struct loop *loop, void *userdata)
{
	struct daemon *d = userdata;

	sdnotify("WATCHDOG=1");
	loop_timer_arm(loop, &d->watchdog_timer, loop_now_usec(loop) + d->watchdog_usec / 2);
}

static void
on_health(struct loop *loop, void *userdata)
{
	struct daemon *d = userdata;

	recheck_clock(d);
	publish_health(d);
	/* After a burst glibc keeps the freed pages that lie between
	 * long-lived tickets (make bench: ~25 MB after 100 000 single-event
	 * messages); hand them back to the kernel once a minute. */
	malloc_trim(0);
	loop_timer_arm(loop, &d->health_timer, loop_now_usec(loop) + HEALTH_INTERVAL_USEC);
}

/* A database that was read-only at start is tried again until it can be
 * written; then it replaces the read-only one and takes every open ticket
 * (their saves failed meanwhile). */
static void
on_store_retry(struct loop *loop, void *userdata)
{
	struct daemon *d = userdata;
	char why[256];
	int err = 0;
	struct store *s = store_open(d->conf.store.path, &err, why, sizeof(why));

	if (!s) {
		log_debug("Database '%s' still not writable: %s", d->conf.store.path, why);
		loop_timer_arm(loop, &d->store_retry_timer, loop_now_usec(loop) + STORE_RETRY_USEC);
		return;
	}
	store_free(d->store);
	d->store = s;
	store_outbox_set_max(s, d->conf.store.max_outbox);
	resave_tickets(d);
	int r = store_flush(s);
	if (r < 0)
		store_failed(d, "save the open tickets", r);
	else
		d->resave_pending = false; /* the failed saves of the read-only time: just done */
	log_notice("Database '%s' is writable again; acknowledgements are stored again",
		   d->conf.store.path);
	daemon_touch(d);
}

static void
on_retention(struct loop *loop, void *userdata)
{
	struct daemon *d = userdata;
	int r = 0;

	/* Ages are wall-clock ages: with a clock stuck in 1970 or far ahead,
	 * retention would keep or delete the wrong rows, so it waits. */
	recheck_clock(d);
	if (d->clock_synced || d->have_skew)
		r = store_retention(d->store, daemon_now(d).wall_ms,
				    d->conf.store.ack_retention_usec,
				    d->conf.store.audit_retention_usec, DEDUPE_KEEP_USEC);
	if (r >= 0 && d->clock_synced) {
		int64_t now_ms = time_wall_ms();
		int k = store_cmd_retention(d->store, now_ms - CMD_REPLY_KEEP_MS,
					    now_ms - CMD_NONCE_KEEP_MS);

		r = k < 0 ? k : r + k;
	}
	if (r < 0)
		store_failed(d, "apply retention", r);
	else if (r > 0)
		log_info("Retention: deleted %d old rows", r);
	loop_timer_arm(loop, &d->retention_timer, loop_now_usec(loop) + RETENTION_INTERVAL_USEC);
}

static void
on_clock_step(struct loop *loop, int64_t step_ms, void *userdata)
{
	struct daemon *d = userdata;

	(void)loop;
	/* Alarms run on the monotonic clock: a step of a synchronised clock
	 * changes none of them, only wall-clock schedules (quiet hours). */
	log_notice("Wall clock stepped by %+" PRId64 " ms", step_ms);
	if (d->have_skew) {
		/* backend time = our wall time + skew: the estimate holds */
		d->skew_ms -= step_ms;
		if (!d->clock_synced)
			d->deadline_offset_ms -= step_ms;
	} else if (!d->clock_synced) {
		/* Nothing better known than our own clock, which just moved
		 * (fake-hwclock, NTP): deadlines of restored tickets follow. */
		struct alerts_now now = daemon_now(d);

		alerts_rebase(d->alerts, step_ms, &now);
	}
	recheck_clock(d);
	update_quiet(d);
	daemon_touch(d);
}

/* --- configuration reload ------------------------------------------------ */

static void
reload(struct daemon *d)
{
	char why[512];

	if (runtime_reload(d, why, sizeof(why)) < 0)
		log_error("Reload failed, keeping the running configuration: %s", why);
}

/* A new broker address, credentials or TLS settings need a new session:
 * the old one ends cleanly (status "offline"), then a client with the new
 * settings connects. Runs from daemon_update(), never inside a callback of
 * the client it replaces (a reload may arrive as an MQTT command, whose
 * reply goes out on the old session first). If the new client cannot even
 * be set up (a TLS file went missing) the old settings come back. Records
 * that were in flight are published again (same ids: consumers drop the
 * copies). */
static void
reconnect_mqtt(struct daemon *d)
{
	struct alerts_now now = daemon_now(d);

	d->mqtt_restart = false;
	log_notice("Reload: [mqtt] changed; reconnecting to %s:%d", d->conf.mqtt.host,
		   conf_mqtt_port(&d->conf));
	if (d->mqtt) {
		char topic[160];
		char *offline = payload_board_status("offline", d->started_ms);

		topic_for(d, "status", topic, sizeof(topic));
		mqtt_stop(d->mqtt, topic, offline, STOP_TIMEOUT_USEC);
		payload_free(offline);
		mqtt_free(d->mqtt);
		d->mqtt = NULL;
	}
	if (d->broker_connected)
		alerts_broker(d->alerts, false, &now);
	d->broker_connected = false;
	d->n_inflight = 0;
	d->outbox_cursor = 0;
	if (open_mqtt(d) < 0 && d->mqtt_old) {
		log_error("Reload: new [mqtt] settings unusable; back to %s", d->mqtt_old->host);
		mqtt_free(d->mqtt);
		d->mqtt = NULL;
		memcpy(&d->conf.mqtt, d->mqtt_old, sizeof(d->conf.mqtt));
		if (open_mqtt(d) < 0)
			log_error("MQTT client could not be set up again; restart teamboardd");
	}
	if (d->mqtt_old)
		explicit_bzero(d->mqtt_old, sizeof(*d->mqtt_old)); /* the old password */
	free(d->mqtt_old);
	d->mqtt_old = NULL;
	daemon_touch(d);
}

/* Changed [mapping] sections apply from the next message; a changed set
 * of topics needs new subscriptions, so a new session as for [mqtt]. A set
 * that no longer compiles (a preset file gone) keeps the old one. */
static void
apply_mappings(struct daemon *d, const struct conf *nc)
{
	struct mapping_set *maps = NULL;
	struct conf_error err = { 0 };
	char why[sizeof(err) + 16];
	bool topics = false;

	if (strcmp(nc->mapping.src, d->conf.mapping.src) == 0)
		return;
	if (mapping_set_compile(nc->mapping.src, nc->path, nc->mapping.preset_dir, &maps, &err) <
	    0) {
		conf_error_format(&err, why, sizeof(why));
		log_error("Reload: keeping the old [mapping] sections: %s", why);
		return;
	}
	topics = mapping_set_count(maps) != mapping_set_count(d->mappings);
	for (size_t i = 0; !topics && i < mapping_set_count(maps); i++)
		topics = strcmp(mapping_topic(mapping_set_at(maps, i)),
				mapping_topic(mapping_set_at(d->mappings, i))) != 0;
	mapping_set_free(d->mappings);
	d->mappings = maps;
	d->conf.mapping = nc->mapping;
	log_notice("Reload: %zu [mapping] section(s)%s", mapping_set_count(maps),
		   topics ? "; topics changed, subscribing again" : "");
	if (topics && !d->mqtt_restart) {
		if (!d->mqtt_old)
			d->mqtt_old = malloc(sizeof(*d->mqtt_old));
		if (d->mqtt_old)
			memcpy(d->mqtt_old, &d->conf.mqtt, sizeof(*d->mqtt_old));
		d->mqtt_restart = true;
	}
}

void
daemon_apply_conf(struct daemon *d, const struct conf *nc)
{
	struct alerts_now now = daemon_now(d);

	if (strcmp(nc->board.id, d->conf.board.id) != 0 ||
	    strcmp(nc->board.profile, d->conf.board.profile) != 0 ||
	    nc->gpio.backend != d->conf.gpio.backend ||
	    strcmp(nc->store.path, d->conf.store.path) != 0 ||
	    strcmp(nc->control.socket, d->conf.control.socket) != 0 ||
	    memcmp(&nc->display, &d->conf.display, sizeof(nc->display)) != 0 ||
	    memcmp(&nc->homeassistant, &d->conf.homeassistant, sizeof(nc->homeassistant)) != 0)
		log_warning("Reload: [board], [gpio], [store] path, [control], [display] and "
			    "[homeassistant] changes take effect after a restart");
	/* Only a changed [mqtt] costs the broker session (after this update). */
	if (memcmp(&nc->mqtt, &d->conf.mqtt, sizeof(nc->mqtt)) != 0) {
		if (!d->mqtt_old)
			d->mqtt_old = malloc(sizeof(*d->mqtt_old));
		if (d->mqtt_old && !d->mqtt_restart)
			memcpy(d->mqtt_old, &d->conf.mqtt, sizeof(*d->mqtt_old));
		d->conf.mqtt = nc->mqtt;
		d->mqtt_restart = true;
	}
	apply_mappings(d, nc);

	d->conf.alerts = nc->alerts;
	d->conf.sla = nc->sla; /* read per event: applies to the next one */
	d->conf.priority = nc->priority;
	conf_policy(&d->conf, &d->policy); /* after [alerts]: its timezone */
	d->conf.buttons = nc->buttons;
	d->conf.admin = nc->admin;
	d->conf.store.ack_retention_usec = nc->store.ack_retention_usec;
	d->conf.store.audit_retention_usec = nc->store.audit_retention_usec;
	d->conf.store.max_outbox = nc->store.max_outbox;
	store_outbox_set_max(d->store, d->conf.store.max_outbox);

	struct alerts_config ac;
	struct buttons_config bc;
	alerts_config_from(&d->conf, &ac);
	alerts_set_config(d->alerts, &ac, &now);
	buttons_config_from(&d->conf, &bc);
	buttons_set_config(d->buttons, &bc);
	update_quiet(d);
	daemon_touch(d);
}

static void
on_signal(struct loop *loop, int signo, void *userdata)
{
	struct daemon *d = userdata;

	switch (signo) {
	case SIGHUP:
		sdnotify("RELOADING=1");
		reload(d);
		sdnotify("READY=1");
		break;
	case SIGTERM:
	case SIGINT:
		log_notice("Stopping on %s", signo == SIGTERM ? "SIGTERM" : "SIGINT");
		loop_quit(loop, 0);
		break;
	default:
		break;
	}
}

/* --- lifecycle ----------------------------------------------------------- */

static void
restore_ticket(void *userdata, const struct ticket_snapshot *t)
{
	struct daemon *d = userdata;
	struct alerts_now now = daemon_now(d);

	if (alerts_restore(d->alerts, t, &now) < 0)
		log_warning("Could not restore ticket %s; dropped", t->id);
}

static void
restore_state(struct daemon *d)
{
	struct alerts_now now = daemon_now(d);
	char value[EVENT_TEXT_MAX];

	if (store_tickets_load(d->store, restore_ticket, d) < 0)
		log_error("Failed to load open tickets: %s", store_errmsg(d->store));
	if (alerts_open_count(d->alerts))
		log_info("Restored %zu open tickets", alerts_open_count(d->alerts));
	if (store_setting_get(d->store, SETTING_INCIDENT, value, sizeof(value)) == 0) {
		alerts_set_incident(d->alerts, true, value, &now, false);
		d->incident_saved = true;
		snprintf(d->incident_title, sizeof(d->incident_title), "%s", value);
	}
	if (store_setting_get(d->store, SETTING_MUTED_UNTIL, value, sizeof(value)) == 0) {
		int64_t until = strtoll(value, NULL, 10);
		int64_t wall = time_wall_ms();

		if (until > wall) {
			d->muted_until_ms = until;
			d->muted_until_usec =
				now.mono_usec + (uint64_t)(until - wall) * USEC_PER_MSEC;
		} else {
			store_setting_delete(d->store, SETTING_MUTED_UNTIL);
		}
	}
}

static int
open_mqtt(struct daemon *d)
{
	const char *subs[CONF_MAX_TOPICS + MAPPING_MAX + 3];
	char cmd_topic[160], will_topic[160], client_id[160], hass_topic[160];
	size_t n = 0;
	int err = 0;
	char *will = payload_board_status("lost", d->started_ms);
	uint8_t pin[CRYPTO_SHA256_LEN];
	bool have_pin = crypto_unhex(d->conf.mqtt.tls_pin, pin, sizeof(pin)) == 0;

	for (unsigned i = 0; i < d->conf.mqtt.n_events_topics; i++)
		subs[n++] = d->conf.mqtt.events_topics[i];
	for (size_t i = 0; i < mapping_set_count(d->mappings); i++)
		subs[n++] = mapping_topic(mapping_set_at(d->mappings, i));
	if (d->conf.homeassistant.discovery) {
		/* Home Assistant's birth message: announce again when it starts. */
		snprintf(hass_topic, sizeof(hass_topic), "%s/status", d->conf.homeassistant.prefix);
		subs[n++] = hass_topic;
	}
	topic_for(d, "cmd/+", cmd_topic, sizeof(cmd_topic));
	subs[n++] = cmd_topic;
	subs[n++] = "teamboard/all/cmd/+";
	topic_for(d, "status", will_topic, sizeof(will_topic));

	struct mqtt_config mc = {
		.host = d->conf.mqtt.host,
		.port = conf_mqtt_port(&d->conf),
		.v5 = d->conf.mqtt.protocol == MQTT_PROTOCOL_5,
		.client_id = conf_client_id(&d->conf, client_id, sizeof(client_id)),
		.keepalive_s = (unsigned)(d->conf.mqtt.keepalive_usec / USEC_PER_SEC),
		.username = *d->conf.mqtt.username ? d->conf.mqtt.username : NULL,
		.password = *d->conf.mqtt.password ? d->conf.mqtt.password : NULL,
		.tls = d->conf.mqtt.tls,
		.cafile = *d->conf.mqtt.cafile ? d->conf.mqtt.cafile : NULL,
		.certfile = *d->conf.mqtt.certfile ? d->conf.mqtt.certfile : NULL,
		.keyfile = *d->conf.mqtt.keyfile ? d->conf.mqtt.keyfile : NULL,
		.tls_pin = have_pin ? pin : NULL,
		.session_expiry_s = SESSION_EXPIRY_S,
		.will_topic = will_topic,
		.will_payload = will,
		.subscriptions = subs,
		.n_subscriptions = n,
		.n_command_subscriptions = 2,
		.max_inflight = MAX_INFLIGHT_MQTT,
	};
	d->mqtt = mqtt_new(d->loop, &mc, &mqtt_cb, d, &err);
	payload_free(will);
	if (!d->mqtt) {
		log_error("Failed to set up MQTT client for %s:%d: %s", mc.host, mc.port,
			  strerror(-err));
		return err;
	}
	return mqtt_start(d->mqtt);
}

struct daemon *
daemon_new(const struct conf *conf, const struct board_profile *profile, int *exit_code)
{
	struct daemon *d = calloc(1, sizeof(*d));
	sigset_t sigs;
	char why[256];
	int err = 0;

	*exit_code = 1;
	if (!d)
		return NULL;
	d->conf = *conf;
	d->profile = *profile;
	/* A backend that debounces in the kernel needs each button's period:
	 * the profile's, else [buttons] debounce. */
	for (unsigned i = 0; i < d->profile.n_buttons; i++)
		if (!d->profile.buttons[i].debounce_usec)
			d->profile.buttons[i].debounce_usec = conf->buttons.debounce_usec;
	d->reject_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60 * USEC_PER_SEC, 10);
	d->store_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60 * USEC_PER_SEC, 5);
	d->resave_backoff_usec = STORE_RETRY_USEC;
	d->gpio_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60 * USEC_PER_SEC, 5);
	snprintf(d->topic_prefix, sizeof(d->topic_prefix), "teamboard/%s/", conf->board.id);
	d->started_ms = time_wall_ms();
	d->clock_synced = clock_is_synced();

	signal(SIGPIPE, SIG_IGN);
	/* A write past RLIMIT_FSIZE (or a full quota) must fail with EFBIG,
	 * which the store reports, not kill the board. */
	signal(SIGXFSZ, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	d->loop = loop_new(&sigs, on_signal, d);
	if (!d->loop) {
		log_error("Failed to create the event loop: %s", strerror(errno));
		goto fail;
	}
	d->started_usec = loop_now_usec(d->loop);

	d->store = store_open(conf->store.path, &err, why, sizeof(why));
	if (!d->store && err == -EROFS) {
		/* Signalling matters more than storing: run on, refuse acks
		 * (nothing is claimed that is not stored), say so, retry. */
		log_error("Database '%s' is read-only (%s): the board runs on, acknowledgements "
			  "are refused until it can be written; retrying every %d s",
			  conf->store.path, why, (int)(STORE_RETRY_USEC / USEC_PER_SEC));
		d->store = store_open_readonly(conf->store.path, &err, why, sizeof(why));
	}
	if (!d->store) {
		log_error("Failed to open database '%s': %s", conf->store.path, why);
		goto fail;
	}
	char moved[CONF_PATH_MAX + 64];
	if (store_was_recovered(d->store, moved, sizeof(moved)))
		log_error("Database '%s' was damaged: moved aside to '%s', started a new one",
			  conf->store.path, moved);
	/* Settings made at run time (config_set) outlive restarts. */
	struct conf_error cerr = { 0 };
	char cwhy[sizeof(cerr) + 16];

	/* Checked by conf_load already; only a preset file removed since
	 * then fails here. */
	if (mapping_set_compile(d->conf.mapping.src, d->conf.path, d->conf.mapping.preset_dir,
				&d->mappings, &cerr) < 0) {
		conf_error_format(&cerr, cwhy, sizeof(cwhy));
		log_error("%s", cwhy);
		*exit_code = 78;
		goto fail;
	}
	int skipped = runtime_overlay(d->store, &d->conf, why, sizeof(why));
	if (skipped > 0)
		log_warning("%d runtime setting(s) no longer valid with this file, file values "
			    "used (%s)",
			    skipped, why);
	store_outbox_set_max(d->store, d->conf.store.max_outbox);

	const struct gpio_ops *ops =
		conf->gpio.backend == GPIO_BACKEND_SIM ? &gpio_sim_ops : &gpio_gpiod_ops;
	d->gpio = gpio_new(ops, &d->profile, on_gpio_edge, d, why, sizeof(why));
	if (!d->gpio) {
		log_error("Failed to open GPIO lines (%s backend, profile %s): %s", ops->name,
			  profile->path, why);
		goto fail;
	}
	int fds[BOARD_MAX_BUTTONS];
	size_t nfds = gpio_fds(d->gpio, fds, BOARD_MAX_BUTTONS);
	for (size_t i = 0; i < nfds; i++) {
		loop_io_init(&d->gpio_io[i], on_gpio_readable, d);
		if (loop_io_watch(d->loop, &d->gpio_io[i], fds[i], EPOLLIN) < 0) {
			log_error("Failed to watch button line: %s", strerror(errno));
			goto fail;
		}
	}

	struct alerts_now now = daemon_now(d);
	struct alerts_config ac;
	struct buttons_config bc;

	d->signals = signals_new(now.mono_usec);
	conf_policy(&d->conf, &d->policy);
	alerts_config_from(&d->conf, &ac);
	d->alerts = alerts_new(&ac, &alert_effects, d, &now);
	buttons_config_from(&d->conf, &bc);
	d->buttons = buttons_new(profile->n_buttons, &bc, on_gesture, d);
	for (unsigned i = 0; d->buttons && i < profile->n_buttons; i++) {
		bool pressed = false;

		if (ops->kernel_debounce) /* edges arrive debounced */
			buttons_set_debounce(d->buttons, i, 0);
		else if (profile->buttons[i].debounce_usec)
			buttons_set_debounce(d->buttons, i, profile->buttons[i].debounce_usec);
		/* A button held (or jammed) since before start-up makes no edge:
		 * start from its level so a stuck one is still reported. */
		if (d->gpio->ops->get_button &&
		    d->gpio->ops->get_button(d->gpio, i, &pressed) == 0 && pressed)
			buttons_edge(d->buttons, i, true, now.mono_usec);
	}
	if (!d->signals || !d->alerts || !d->buttons) {
		log_error("Out of memory");
		goto fail;
	}
	restore_state(d);
	update_quiet(d);

	d->ctl = ctl_new(d->loop, conf->control.socket, CTL_MAX_CLIENTS, on_ctl_request, d, &err);
	if (!d->ctl) {
		log_error("Failed to open control socket '%s': %s", conf->control.socket,
			  strerror(-err));
		goto fail;
	}

	if (conf->display.listen[0]) {
		/* The lamps matter more than the TV: a display that cannot start
		 * (port taken, token file gone since the check) is reported and
		 * the board runs without it. */
		d->display = display_new(d, &err, why, sizeof(why));
		if (!d->display)
			log_error("Wall display not started: %s; the board runs without it", why);
	}

	loop_timer_init(&d->wake_timer, on_wake, d);
	loop_timer_init(&d->state_timer, on_wake, d);
	loop_timer_init(&d->health_timer, on_health, d);
	loop_timer_init(&d->retention_timer, on_retention, d);
	loop_timer_init(&d->store_retry_timer, on_store_retry, d);
	loop_timer_init(&d->watchdog_timer, on_watchdog, d);
	for (unsigned i = 0; i < BOARD_MAX_BUTTONS; i++)
		loop_timer_init(&d->sim[i].timer, on_sim_step, &d->sim[i]);
	/* Our hook first: it queues publishes that MQTT's hook then writes. */
	loop_add_before_sleep(d->loop, &d->before_sleep, daemon_update, d);

	if (open_mqtt(d) < 0)
		goto fail;

	loop_timer_arm(d->loop, &d->health_timer, now.mono_usec + HEALTH_INTERVAL_USEC);
	loop_timer_arm(d->loop, &d->retention_timer, now.mono_usec + RETENTION_FIRST_USEC);
	if (store_is_readonly(d->store))
		loop_timer_arm(d->loop, &d->store_retry_timer, now.mono_usec + STORE_RETRY_USEC);
	d->watchdog_usec = sdnotify_watchdog_usec();
	if (d->watchdog_usec)
		loop_timer_arm(d->loop, &d->watchdog_timer, now.mono_usec + d->watchdog_usec / 2);
	if (loop_watch_clock_steps(d->loop, on_clock_step, d) < 0)
		log_warning("Cannot watch for wall-clock steps; quiet hours may lag after one");
	d->dirty = true;
	*exit_code = 0;
	return d;

fail:
	daemon_free(d);
	return NULL;
}

int
daemon_run(struct daemon *d)
{
	char status[512];

	snprintf(status, sizeof(status), "STATUS=board %s ready (%s, broker %s:%d)",
		 d->conf.board.id, gpio_is_sim(d->gpio) ? "simulated board" : "GPIO",
		 d->conf.mqtt.host, conf_mqtt_port(&d->conf));
	sdnotify("READY=1");
	sdnotify(status);
	log_notice("teamboardd %s: board %s ready", TEAMBOARD_VERSION, d->conf.board.id);
	/* Outputs are off (gpio_new); now show the floor every lamp works.
	 * Timed from here, after the slow start-up steps (database check,
	 * restore), so the whole test is seen. */
	signals_lamp_test(d->signals, STARTUP_LAMP_TEST_USEC, time_mono_usec());
	daemon_touch(d);
	return loop_run(d->loop);
}

void
daemon_free(struct daemon *d)
{
	if (!d)
		return;
	sdnotify("STOPPING=1");
	display_free(d->display);
	if (d->mqtt) {
		char topic[160];
		char *offline = payload_board_status("offline", d->started_ms);

		topic_for(d, "status", topic, sizeof(topic));
		mqtt_stop(d->mqtt, topic, offline, STOP_TIMEOUT_USEC);
		payload_free(offline);
		mqtt_free(d->mqtt);
	}
	free(d->mqtt_old);
	mapping_set_free(d->mappings);
	ctl_free(d->ctl);
	if (d->gpio) {
		for (unsigned i = 0; i < BOARD_MAX_BUTTONS; i++)
			loop_io_unwatch(d->loop, &d->gpio_io[i]);
		gpio_free(d->gpio); /* every output off */
	}
	if (d->store) {
		store_flush(d->store);
		store_free(d->store);
	}
	alerts_free(d->alerts);
	buttons_free(d->buttons);
	signals_free(d->signals);
	loop_free(d->loop);
	free(d);
}
