/* payload: JSON documents the board sends. Built with cJSON and printed
 * unformatted; nothing here keeps a cJSON tree beyond one call. */
#include "payload.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "buttons.h"
#include "daemon.h"
#include "gpio.h"
#include "mqtt.h"
#include "store.h"
#include "timeutil.h"

/* Alerts listed in one status document; the counts always cover all. */
#define STATUS_MAX_ALERTS 500
#define MAX_REFUSED_SHOWN 16 /* more than the board subscribes to */

static char *
finish(cJSON *root)
{
	char *s = root ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	return s;
}

void
payload_free(char *p)
{
	cJSON_free(p);
}

static void
add_str_or_null(cJSON *o, const char *key, const char *value)
{
	if (value && *value)
		cJSON_AddStringToObject(o, key, value);
	else
		cJSON_AddNullToObject(o, key);
}

static void
add_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[RFC3339_BUF];

	if (ms <= 0) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	rfc3339_format(ms, buf);
	cJSON_AddStringToObject(o, key, buf);
}

char *
payload_ack(const struct ack_record *a)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "v", 1);
	cJSON_AddStringToObject(o, "id", a->id);
	cJSON_AddStringToObject(o, "board", a->board);
	cJSON_AddStringToObject(o, "ticket_id", a->ticket_id);
	cJSON_AddStringToObject(o, "alert", alert_kind_event_name(a->alert));
	add_str_or_null(o, "agent", a->agent);
	cJSON_AddStringToObject(o, "source", ack_source_name(a->source));
	add_str_or_null(o, "button", a->button);
	add_time(o, "at", a->at_ms);
	cJSON_AddNumberToObject(o, "latency_ms", (double)a->latency_ms);
	add_str_or_null(o, "event_id", a->event_id);
	return finish(o);
}

char *
payload_board_status(const char *state, int64_t since_ms)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "version", TEAMBOARD_VERSION);
	add_time(o, "since", since_ms);
	return finish(o);
}

char *
payload_error(const char *board, const char *topic, const char *event_id, const char *reason,
	      int64_t at_ms)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "v", 1);
	cJSON_AddStringToObject(o, "board", board);
	add_str_or_null(o, "event_id", event_id);
	cJSON_AddStringToObject(o, "reason", reason);
	add_str_or_null(o, "topic", topic);
	add_time(o, "at", at_ms);
	return finish(o);
}

char *
payload_escalation(const char *board, const struct alert_info *a, int64_t at_ms)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "v", 1);
	cJSON_AddStringToObject(o, "board", board);
	cJSON_AddStringToObject(o, "ticket_id", a->ticket_id);
	cJSON_AddStringToObject(o, "alert", alert_kind_event_name(a->kind));
	cJSON_AddStringToObject(o, "channel", channel_name(a->channel));
	cJSON_AddStringToObject(o, "priority", priority_name(a->priority));
	cJSON_AddBoolToObject(o, "public", a->public);
	cJSON_AddStringToObject(o, "subject", a->subject);
	add_time(o, "raised_at", a->raised_ms);
	cJSON_AddNumberToObject(o, "unacked_for_s",
				at_ms > a->raised_ms ? (double)((at_ms - a->raised_ms) / 1000) : 0);
	add_time(o, "at", at_ms);
	return finish(o);
}

static cJSON *
alert_json(const struct alert_info *a)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "ticket_id", a->ticket_id);
	cJSON_AddStringToObject(o, "kind",
				a->kind == ALERT_NONE ? "none" : alert_kind_name(a->kind));
	cJSON_AddStringToObject(o, "state", alert_state_name(a->state));
	cJSON_AddBoolToObject(o, "escalated", a->escalated);
	cJSON_AddStringToObject(o, "channel", channel_name(a->channel));
	cJSON_AddStringToObject(o, "priority", priority_name(a->priority));
	cJSON_AddBoolToObject(o, "public", a->public);
	cJSON_AddStringToObject(o, "subject", a->subject);
	add_str_or_null(o, "customer", a->customer);
	add_str_or_null(o, "queue", a->queue);
	if (a->has_due) {
		cJSON_AddNumberToObject(o, "due_in_s", (double)(a->due_in_ms / 1000));
		cJSON_AddStringToObject(o, "due_sla", sla_kind_name(a->due_sla));
		/* board-side SLA policy (docs/sla.md) or the backend's own due */
		cJSON_AddStringToObject(o, "due_source", a->due_policy ? "policy" : "backend");
	} else {
		cJSON_AddNullToObject(o, "due_in_s");
		cJSON_AddNullToObject(o, "due_sla");
		cJSON_AddNullToObject(o, "due_source");
	}
	cJSON_AddBoolToObject(o, "paused", a->paused);
	add_str_or_null(o, "acked_by", a->acked_by);
	add_time(o, "acked_at", a->acked_at_ms);
	add_str_or_null(o, "assignee", a->assignee);
	add_time(o, "raised_at", a->kind == ALERT_NONE ? 0 : a->raised_ms);
	return o;
}

struct alert_list {
	cJSON *array;
	unsigned n;
};

static void
add_alert(void *userdata, const struct alert_info *a)
{
	struct alert_list *l = userdata;

	if (l->n++ < STATUS_MAX_ALERTS)
		cJSON_AddItemToArray(l->array, alert_json(a));
}

static const char *
broker_state(struct daemon *d)
{
	return d->mqtt && mqtt_connected(d->mqtt) ? "connected" : "disconnected";
}

static int64_t
until_ms(struct daemon *d, uint64_t until_usec, int64_t wall_ms)
{
	return until_usec && until_usec > loop_now_usec(d->loop) ? wall_ms : 0;
}

/* At the cap new acks are refused (nack): that must show where people look. */
static void
add_outbox(cJSON *o, struct daemon *d)
{
	int64_t depth = store_outbox_depth(d->store);
	size_t max = store_outbox_max(d->store);

	cJSON_AddNumberToObject(o, "outbox_depth", (double)depth);
	cJSON_AddNumberToObject(o, "outbox_max", (double)max);
	cJSON_AddBoolToObject(o, "outbox_full", max && depth >= 0 && (uint64_t)depth >= max);
}

char *
payload_status(struct daemon *d)
{
	struct alerts_now now = daemon_now(d);
	struct alerts_view view;
	cJSON *o = cJSON_CreateObject();
	cJSON *lamps, *counts, *buttons, *incident;
	struct alert_list list;

	alerts_view(d->alerts, &now, &view);
	cJSON_AddStringToObject(o, "board", d->conf.board.id);
	cJSON_AddStringToObject(o, "version", TEAMBOARD_VERSION);
	cJSON_AddStringToObject(o, "broker", broker_state(d));
	cJSON_AddStringToObject(o, "feed", view.feed_stale ? "stale" : "ok");
	cJSON_AddBoolToObject(o, "blind", view.blind);
	add_time(o, "muted_until", until_ms(d, d->muted_until_usec, d->muted_until_ms));
	add_time(o, "silenced_until", until_ms(d, d->silenced_until_usec, d->silenced_until_ms));
	cJSON_AddBoolToObject(o, "quiet", d->quiet);
	if (view.incident) {
		incident = cJSON_AddObjectToObject(o, "incident");
		cJSON_AddStringToObject(incident, "title", view.incident_title);
	} else {
		cJSON_AddNullToObject(o, "incident");
	}

	lamps = cJSON_AddObjectToObject(o, "lamps");
	for (int l = 0; l < LAMP_COUNT; l++)
		cJSON_AddStringToObject(lamps, output_name(l), pattern_name(view.lamp[l]));
	cJSON_AddStringToObject(o, "buzzer", sound_name(signals_repeating(d->signals)));

	counts = cJSON_AddObjectToObject(o, "counts");
	cJSON_AddNumberToObject(counts, "open", view.counts.open);
	cJSON_AddNumberToObject(counts, "unacked", view.counts.unacked);
	cJSON_AddNumberToObject(counts, "warning", view.counts.warning);
	cJSON_AddNumberToObject(counts, "breached", view.counts.breached);
	cJSON *per_channel = cJSON_AddObjectToObject(o, "channels");
	for (int c = 0; c < CHANNEL_COUNT; c++) {
		if (!view.counts.open_per_channel[c])
			continue;
		cJSON *ch = cJSON_AddObjectToObject(per_channel, channel_name(c));
		cJSON_AddNumberToObject(ch, "open", view.counts.open_per_channel[c]);
		cJSON_AddNumberToObject(ch, "unacked", view.counts.unacked_per_channel[c]);
	}

	list.array = cJSON_AddArrayToObject(o, "alerts");
	list.n = 0;
	/* only the listed ones are sorted and copied: with 100 000 open
	 * tickets the whole sort cost ~50 ms per state publish */
	size_t open = alerts_foreach_first(d->alerts, &now, STATUS_MAX_ALERTS, add_alert, &list);
	cJSON_AddBoolToObject(o, "alerts_truncated", open > STATUS_MAX_ALERTS);

	buttons = cJSON_AddObjectToObject(o, "buttons");
	for (unsigned i = 0; i < d->profile.n_buttons; i++) {
		cJSON *b = cJSON_AddObjectToObject(buttons, d->profile.buttons[i].id);
		add_str_or_null(b, "agent", d->profile.buttons[i].agent);
		cJSON_AddBoolToObject(b, "pressed", buttons_pressed(d->buttons, i));
		cJSON_AddBoolToObject(b, "stuck", buttons_stuck(d->buttons, i));
	}
	add_outbox(o, d);
	cJSON_AddBoolToObject(o, "clock_synced", d->clock_synced);
	/* A failing database (full, read-only) must show where people look. */
	cJSON_AddStringToObject(o, "store", daemon_store_state(d));
	cJSON_AddNumberToObject(o, "store_errors", (double)d->stats.store_errors);
	add_time(o, "now", now.wall_ms);
	return finish(o);
}

/* Filters the broker refused: their events or commands never come. */
static void
add_refused_subscriptions(cJSON *o, struct daemon *d)
{
	const char *filters[MAX_REFUSED_SHOWN];
	size_t n = mqtt_refused_subscriptions(d->mqtt, filters, MAX_REFUSED_SHOWN);
	cJSON *arr = cJSON_AddArrayToObject(o, "subscriptions_refused");

	for (size_t i = 0; i < n && i < MAX_REFUSED_SHOWN; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(filters[i]));
}

char *
payload_health(struct daemon *d)
{
	struct alerts_now now = daemon_now(d);
	struct alerts_view view;
	cJSON *o = cJSON_CreateObject();
	cJSON *ev;

	alerts_view(d->alerts, &now, &view);
	cJSON_AddStringToObject(o, "board", d->conf.board.id);
	cJSON_AddStringToObject(o, "version", TEAMBOARD_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s",
				(double)((now.mono_usec - d->started_usec) / USEC_PER_SEC));
	cJSON_AddStringToObject(o, "broker", broker_state(d));
	cJSON_AddNumberToObject(o, "reconnects", d->mqtt ? mqtt_reconnects(d->mqtt) : 0);
	add_refused_subscriptions(o, d);
	cJSON_AddStringToObject(o, "feed", view.feed_stale ? "stale" : "ok");
	add_outbox(o, d);
	cJSON_AddNumberToObject(o, "db_bytes", (double)store_size_bytes(d->store));
	cJSON_AddNumberToObject(o, "gpio_errors", gpio_errors(d->gpio));
	cJSON_AddNumberToObject(o, "buttons_stuck", daemon_buttons_stuck(d));
	cJSON_AddStringToObject(o, "store", daemon_store_state(d));
	cJSON_AddNumberToObject(o, "store_errors", (double)d->stats.store_errors);
	cJSON_AddBoolToObject(o, "clock_synced", d->clock_synced);
	cJSON_AddNumberToObject(o, "open_tickets", view.counts.open);
	ev = cJSON_AddObjectToObject(o, "events");
	cJSON_AddNumberToObject(ev, "messages", (double)d->stats.messages);
	cJSON_AddNumberToObject(ev, "applied", (double)d->stats.events_applied);
	cJSON_AddNumberToObject(ev, "ignored", (double)d->stats.events_ignored);
	cJSON_AddNumberToObject(ev, "duplicate", (double)d->stats.events_duplicate);
	cJSON_AddNumberToObject(ev, "rejected", (double)d->stats.events_rejected);
	cJSON_AddNumberToObject(o, "acks", (double)d->stats.acks);
	cJSON_AddNumberToObject(o, "acks_refused_by_broker", (double)d->stats.acks_refused);
	cJSON_AddNumberToObject(o, "escalations", (double)d->stats.escalations);
	add_time(o, "at", now.wall_ms);
	return finish(o);
}

char *
payload_sim_state(struct daemon *d)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *lines = cJSON_AddObjectToObject(o, "lines");
	cJSON *buttons = cJSON_AddObjectToObject(o, "buttons");
	cJSON *sounds = cJSON_AddArrayToObject(o, "sounds");
	struct gpio_sim_transition tr[GPIO_SIM_HISTORY];

	for (int out = 0; out < OUTPUT_COUNT; out++) {
		if (!gpio_has_output(d->gpio, out))
			continue;
		cJSON *line = cJSON_AddObjectToObject(lines, output_name(out));
		cJSON_AddBoolToObject(line, "value", gpio_get_output(d->gpio, out));
		cJSON *arr = cJSON_AddArrayToObject(line, "transitions");
		size_t n = gpio_sim_history(d->gpio, out, tr, GPIO_SIM_HISTORY);
		for (size_t i = 0; i < n; i++) {
			cJSON *t = cJSON_CreateObject();
			cJSON_AddNumberToObject(t, "at_us", (double)tr[i].at_usec);
			cJSON_AddBoolToObject(t, "value", tr[i].value);
			cJSON_AddItemToArray(arr, t);
		}
	}
	for (unsigned i = 0; i < d->profile.n_buttons; i++) {
		cJSON *b = cJSON_AddObjectToObject(buttons, d->profile.buttons[i].id);
		cJSON_AddBoolToObject(b, "pressed", buttons_pressed(d->buttons, i));
		cJSON_AddBoolToObject(b, "stuck", buttons_stuck(d->buttons, i));
	}
	for (unsigned i = 0; i < d->n_sounds; i++) {
		const struct sound_log_entry *e =
			&d->sounds[(d->sounds_head + i) % DAEMON_SOUND_LOG];
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "sound", sound_name(e->sound));
		cJSON_AddNumberToObject(s, "at_us", (double)e->at_usec);
		cJSON_AddItemToArray(sounds, s);
	}
	cJSON_AddNumberToObject(o, "now_us", (double)loop_now_usec(d->loop));
	return finish(o);
}
