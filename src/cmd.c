/* cmd: admin verbs (SPEC §5) for the control socket and MQTT.
 *
 * Each verb is a small function that validates its arguments, acts through
 * daemon.h and fills `data`. Request JSON is parsed here and never leaves
 * this file.
 */
#include "cmd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdauth.h"
#include "daemon.h"
#include "gpio.h"
#include "log.h"
#include "payload.h"
#include "runtime.h"
#include "store.h"
#include "timeutil.h"

#define ACKS_DEFAULT_LIMIT  100
#define ACKS_MAX_LIMIT      10000
#define ACKS_MAX_OFFSET     1000000
#define MUTE_DEFAULT_USEC   (60 * 60 * USEC_PER_SEC)
#define MUTE_MAX_USEC       (7 * 24 * 3600 * USEC_PER_SEC)
#define SIM_HOLD_DEFAULT_MS 100
#define SIM_HOLD_MAX_MS     120000
/* A contact bouncing 41 times in 20 ms: inside the default 30 ms debounce. */
#define SIM_CHATTER_EDGES_DEFAULT     41
#define SIM_CHATTER_WITHIN_DEFAULT_MS 20
#define SIM_CHATTER_WITHIN_MAX_MS     10000
#define ACK_REPLY_MAX                 64
#define STATS_DEFAULT_USEC            (24 * 3600 * USEC_PER_SEC)
#define STATS_MAX_USEC                (400 * 24 * 3600 * USEC_PER_SEC)
#define STATS_MAX_ROWS                256

struct request {
	struct daemon *d;
	enum cmd_origin origin;
	const cJSON *args;
	cJSON *data; /* reply data, owned by the caller */
	char error[256];
	bool watch;
};

static int fail(struct request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct request *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Optional string argument: 0 absent, 1 present, -EINVAL wrong type. */
static int
arg_string(struct request *r, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, key);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring)
		return fail(r, "%s: must be a string", key);
	*out = v->valuestring;
	return 1;
}

static int
arg_bool(struct request *r, const char *key, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return fail(r, "%s: must be true or false", key);
	*out = cJSON_IsTrue(v);
	return 1;
}

static int
arg_duration(struct request *r, const char *key, uint64_t *out_usec)
{
	const char *s;
	int k = arg_string(r, key, &s);

	if (k <= 0)
		return k;
	if (duration_parse(s, out_usec) < 0)
		return fail(r, "%s: '%.40s' is not a duration (e.g. 30s, 5m, 2h)", key, s);
	return 1;
}

static int
arg_time(struct request *r, const char *key, int64_t *out_ms)
{
	const char *s;
	int k = arg_string(r, key, &s);

	if (k <= 0)
		return k;
	if (rfc3339_parse(s, out_ms) < 0)
		return fail(r, "%s: '%.40s' is not an RFC 3339 time", key, s);
	return 1;
}

static int
arg_uint(struct request *r, const char *key, unsigned max, unsigned *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > max || floor(v->valuedouble) != v->valuedouble)
		return fail(r, "%s: must be a whole number from 0 to %u", key, max);
	*out = (unsigned)v->valuedouble;
	return 1;
}

static void
data_time(cJSON *data, const char *key, int64_t ms)
{
	char buf[RFC3339_BUF];

	rfc3339_format(ms, buf);
	cJSON_AddStringToObject(data, key, buf);
}

/* Makes a JSON document printed by payload.c the whole reply data. */
static int
data_replace(struct request *r, char *printed)
{
	cJSON *doc = printed ? cJSON_Parse(printed) : NULL;

	payload_free(printed);
	if (!doc)
		return fail(r, "out of memory");
	cJSON_Delete(r->data);
	r->data = doc;
	return 0;
}

/* Adds a JSON document printed by payload.c under `key`. */
static int
data_document(struct request *r, const char *key, char *printed)
{
	cJSON *doc = printed ? cJSON_Parse(printed) : NULL;

	payload_free(printed);
	if (!doc)
		return fail(r, "out of memory");
	if (key)
		cJSON_AddItemToObject(r->data, key, doc);
	else
		cJSON_AddItemToArray(r->data, doc);
	return 0;
}

/* --- verbs --------------------------------------------------------------- */

static int
verb_ping(struct request *r)
{
	cJSON_AddBoolToObject(r->data, "pong", true);
	return 0;
}

static int
verb_status(struct request *r)
{
	return data_replace(r, payload_status(r->d));
}

static enum ack_source
origin_source(enum cmd_origin o)
{
	return o == CMD_ORIGIN_MQTT ? ACK_SOURCE_MQTT : ACK_SOURCE_CTL;
}

static int
verb_ack(struct request *r)
{
	const char *ticket = NULL, *agent = NULL;
	bool all = false;
	struct ack_record acked[ACK_REPLY_MAX];
	cJSON *list;
	int n;

	if (arg_string(r, "ticket_id", &ticket) < 0 || arg_string(r, "agent", &agent) < 0 ||
	    arg_bool(r, "all", &all) < 0)
		return -EINVAL;
	if (all && ticket)
		return fail(r, "give either ticket_id or all, not both");
	n = daemon_ack(r->d, ticket, all, agent, origin_source(r->origin), NULL, acked,
		       ACK_REPLY_MAX);
	if (n == -ENOENT)
		return fail(r,
			    ticket ? "nothing to acknowledge on ticket %.64s"
				   : "nothing to acknowledge",
			    ticket);
	if (n == -ENOBUFS)
		return fail(r,
			    "outbox full: %zu ack records wait for the broker (store.max_outbox); "
			    "not acknowledged",
			    (size_t)store_outbox_depth(r->d->store));
	if (n < 0)
		return fail(r, "acknowledgement could not be stored (%s); not acknowledged",
			    strerror(-n));
	list = cJSON_AddArrayToObject(r->data, "acked");
	for (int i = 0; i < n && i < ACK_REPLY_MAX; i++) {
		cJSON *saved = r->data;

		r->data = list;
		data_document(r, NULL, payload_ack(&acked[i]));
		r->data = saved;
	}
	cJSON_AddNumberToObject(r->data, "count", n);
	return 0;
}

static int
verb_silence(struct request *r)
{
	uint64_t for_usec = r->d->conf.alerts.silence_for_usec;

	if (arg_duration(r, "for", &for_usec) < 0)
		return -EINVAL;
	if (for_usec == 0 || for_usec > MUTE_MAX_USEC)
		return fail(r, "for: must be between 1 s and 7 days");
	daemon_silence(r->d, for_usec);
	data_time(r->data, "until", r->d->silenced_until_ms);
	return 0;
}

static int
verb_mute(struct request *r)
{
	uint64_t for_usec = MUTE_DEFAULT_USEC;

	if (arg_duration(r, "for", &for_usec) < 0)
		return -EINVAL;
	if (for_usec == 0 || for_usec > MUTE_MAX_USEC)
		return fail(r, "for: must be between 1 s and 7 days");
	daemon_mute(r->d, for_usec);
	data_time(r->data, "muted_until", r->d->muted_until_ms);
	return 0;
}

static int
verb_unmute(struct request *r)
{
	daemon_unmute(r->d);
	return 0;
}

static int
verb_lamp_test(struct request *r)
{
	daemon_lamp_test(r->d);
	return 0;
}

static int
verb_identify(struct request *r)
{
	daemon_identify(r->d);
	return 0;
}

static int
verb_incident(struct request *r)
{
	bool open = false;
	const char *title = NULL;
	int k = arg_bool(r, "open", &open);

	if (k < 0 || arg_string(r, "title", &title) < 0)
		return -EINVAL;
	if (k == 0)
		return fail(r, "open: required (true or false)");
	daemon_incident(r->d, open, title ? title : "");
	cJSON_AddBoolToObject(r->data, "open", open);
	return 0;
}

struct acks_ctx {
	struct request *r;
	cJSON *list;
	unsigned skip; /* records before the requested page */
	unsigned count;
};

static void
add_ack(void *userdata, const struct ack_record *a)
{
	struct acks_ctx *ctx = userdata;
	char *p;
	cJSON *doc;

	if (ctx->skip) {
		ctx->skip--;
		return;
	}
	p = payload_ack(a);
	doc = p ? cJSON_Parse(p) : NULL;
	ctx->count++;

	payload_free(p);
	if (doc)
		cJSON_AddItemToArray(ctx->list, doc);
}

static int
verb_acks(struct request *r)
{
	int64_t since = 0, until = 0;
	const char *agent = NULL;
	unsigned limit = ACKS_DEFAULT_LIMIT, offset = 0;
	struct acks_ctx ctx = { .r = r };
	int n;

	if (arg_time(r, "since", &since) < 0 || arg_time(r, "until", &until) < 0 ||
	    arg_string(r, "agent", &agent) < 0 ||
	    arg_uint(r, "limit", ACKS_MAX_LIMIT, &limit) < 0 ||
	    arg_uint(r, "offset", ACKS_MAX_OFFSET, &offset) < 0)
		return -EINVAL;
	if (limit == 0)
		limit = ACKS_MAX_LIMIT;
	/* Pages by position in the (since, until, agent) selection, newest
	 * first: stable while no acks newer than the first page arrive (pass
	 * the first page's "until" to keep it so). */
	ctx.skip = offset;
	ctx.list = cJSON_AddArrayToObject(r->data, "acks");
	n = store_acks_query(r->d->store, since, until, agent, (size_t)limit + offset, add_ack,
			     &ctx);
	if (n < 0)
		return fail(r, "could not read the ack log: %s", store_errmsg(r->d->store));
	cJSON_AddNumberToObject(r->data, "offset", offset);
	if (ctx.count == limit)
		cJSON_AddNumberToObject(r->data, "next_offset", (double)offset + limit);
	else
		cJSON_AddNullToObject(r->data, "next_offset");
	return 0;
}

static int
verb_watch(struct request *r)
{
	if (r->origin != CMD_ORIGIN_CTL)
		return fail(r, "watch is only available on the control socket");
	r->watch = true;
	return 0;
}

static int
sim_result(struct request *r, int k, const char *button)
{
	if (k == -EOPNOTSUPP)
		return fail(r, "not a simulated board (gpio.backend is not sim)");
	if (k == -ENOENT)
		return fail(r, "no button '%.32s' on this board", button);
	if (k < 0)
		return fail(r, "%s", strerror(-k));
	return 0;
}

static int
verb_sim_press(struct request *r)
{
	const char *button = NULL;
	unsigned hold_ms = SIM_HOLD_DEFAULT_MS;

	if (arg_string(r, "button", &button) < 0 ||
	    arg_uint(r, "hold_ms", SIM_HOLD_MAX_MS, &hold_ms) < 0)
		return -EINVAL;
	if (!button)
		return fail(r, "button: required");
	return sim_result(r, daemon_sim_press(r->d, button, hold_ms * USEC_PER_MSEC), button);
}

static int
verb_sim_double(struct request *r)
{
	const char *button = NULL;

	if (arg_string(r, "button", &button) < 0)
		return -EINVAL;
	if (!button)
		return fail(r, "button: required");
	return sim_result(r, daemon_sim_double(r->d, button), button);
}

static int
verb_sim_chatter(struct request *r)
{
	const char *button = NULL;
	unsigned edges = SIM_CHATTER_EDGES_DEFAULT, within_ms = SIM_CHATTER_WITHIN_DEFAULT_MS;
	unsigned hold_ms = SIM_HOLD_DEFAULT_MS;

	if (arg_string(r, "button", &button) < 0 ||
	    arg_uint(r, "edges", DAEMON_SIM_CHATTER_MAX, &edges) < 0 ||
	    arg_uint(r, "within_ms", SIM_CHATTER_WITHIN_MAX_MS, &within_ms) < 0 ||
	    arg_uint(r, "hold_ms", SIM_HOLD_MAX_MS, &hold_ms) < 0)
		return -EINVAL;
	if (!button)
		return fail(r, "button: required");
	if (edges == 0)
		return fail(r, "edges: must be a whole number from 1 to %u",
			    DAEMON_SIM_CHATTER_MAX);
	return sim_result(r,
			  daemon_sim_chatter(r->d, button, edges, within_ms * USEC_PER_MSEC,
					     hold_ms * USEC_PER_MSEC),
			  button);
}

static int
sim_button_verb(struct request *r, int (*act)(struct daemon *, const char *))
{
	const char *button = NULL;

	if (arg_string(r, "button", &button) < 0)
		return -EINVAL;
	if (!button)
		return fail(r, "button: required");
	return sim_result(r, act(r->d, button), button);
}

static int
verb_sim_hold(struct request *r)
{
	return sim_button_verb(r, daemon_sim_hold);
}

static int
verb_sim_release(struct request *r)
{
	return sim_button_verb(r, daemon_sim_release);
}

static int
verb_sim_state(struct request *r)
{
	if (!gpio_is_sim(r->d->gpio))
		return fail(r, "not a simulated board (gpio.backend is not sim)");
	return data_replace(r, payload_sim_state(r->d));
}

/* "section.key" into its two parts. */
static int
split_key(struct request *r, const char *name, char *section, char *key, size_t size)
{
	const char *dot = strchr(name, '.');

	if (!dot || dot == name || !dot[1] || (size_t)(dot - name) >= size ||
	    strlen(dot + 1) >= size)
		return fail(r, "key: '%.80s' is not a section.key name (e.g. alerts.ack_timeout)",
			    name);
	memcpy(section, name, (size_t)(dot - name));
	section[dot - name] = '\0';
	snprintf(key, size, "%s", dot + 1);
	return 0;
}

static int
add_setting(struct request *r, const char *section, const char *key)
{
	char value[CONF_VALUE_MAX], name[96];
	enum conf_source src;
	cJSON *o;

	if (runtime_get(r->d, section, key, value, sizeof(value), &src) < 0)
		return fail(r, "key: unknown key %.40s.%.40s", section, key);
	snprintf(name, sizeof(name), "%s.%s", section, key);
	o = cJSON_AddObjectToObject(r->data, name);
	if (!o)
		return fail(r, "out of memory");
	cJSON_AddStringToObject(o, "value", value);
	cJSON_AddStringToObject(o, "source", conf_source_name(src));
	cJSON_AddBoolToObject(o, "settable", runtime_settable(section, key));
	return 0;
}

static int
verb_config_get(struct request *r)
{
	const char *name = NULL, *section, *key;
	char sec[64], k[64];

	if (arg_string(r, "key", &name) < 0)
		return -EINVAL;
	if (name) {
		if (split_key(r, name, sec, k, sizeof(sec)) < 0)
			return -EINVAL;
		return add_setting(r, sec, k);
	}
	for (size_t i = 0; conf_key_at(i, &section, &key); i++)
		if (add_setting(r, section, key) < 0)
			return -EINVAL;
	return 0;
}

static int
verb_config_set(struct request *r)
{
	const char *name = NULL, *value;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, "value");
	char sec[64], k[64], num[64], why[512] = "";
	const char *secs[1] = { sec }, *keys[1] = { k }, *vals[1];
	int e;

	if (arg_string(r, "key", &name) < 0)
		return -EINVAL;
	if (!name)
		return fail(r, "key: required");
	if (split_key(r, name, sec, k, sizeof(sec)) < 0)
		return -EINVAL;
	/* The file's syntax is text; a JSON number or bool means the same. */
	if (!v)
		return fail(r, "value: required (null returns the key to the file's value)");
	if (cJSON_IsString(v)) {
		value = v->valuestring;
	} else if (cJSON_IsBool(v)) {
		value = cJSON_IsTrue(v) ? "true" : "false";
	} else if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) < 1e15) {
		snprintf(num, sizeof(num), "%.15g", v->valuedouble);
		value = num;
	} else if (cJSON_IsNull(v)) {
		value = NULL;
	} else {
		return fail(r, "value: must be a string, number, true/false or null");
	}
	vals[0] = value;
	e = runtime_set(r->d, secs, keys, vals, 1, why, sizeof(why));
	if (e < 0)
		return fail(r, "%s", why);
	log_notice("Setting %s.%s changed at run time to '%s'", sec, k, value ? value : "(file)");
	store_audit(r->d->store, daemon_now(r->d).wall_ms,
		    r->origin == CMD_ORIGIN_MQTT ? "mqtt" : "ctl", "config_set", name);
	return add_setting(r, sec, k);
}

static int
verb_reload(struct request *r)
{
	char why[512] = "";

	if (runtime_reload(r->d, why, sizeof(why)) < 0)
		return fail(r, "reload failed, running configuration kept: %s", why);
	cJSON_AddStringToObject(r->data, "path", r->d->conf.path);
	return 0;
}

static int
verb_quiet_hours(struct request *r)
{
	const char *windows = NULL, *tz = NULL;
	const char *secs[2] = { "alerts", "alerts" }, *keys[2] = { "quiet_hours", "timezone" };
	const char *vals[2];
	char why[512] = "";

	if (arg_string(r, "windows", &windows) < 0 || arg_string(r, "timezone", &tz) < 0)
		return -EINVAL;
	if (!windows && !tz)
		return fail(r, "windows and/or timezone required (windows \"\" ends quiet hours)");
	vals[0] = windows;
	vals[1] = tz;
	/* Set together: a window only means something in its time zone. */
	if (runtime_set(r->d, windows ? secs : secs + 1, windows ? keys : keys + 1,
			windows ? vals : vals + 1, windows && tz ? 2 : 1, why, sizeof(why)) < 0)
		return fail(r, "%s", why);
	log_notice("Quiet hours set at run time: '%s' in %s", r->d->conf.alerts.quiet_hours_text,
		   r->d->conf.alerts.timezone);
	cJSON_AddStringToObject(r->data, "windows", r->d->conf.alerts.quiet_hours_text);
	cJSON_AddStringToObject(r->data, "timezone", r->d->conf.alerts.timezone);
	cJSON_AddBoolToObject(r->data, "quiet", r->d->quiet);
	return 0;
}

static int
add_stats(struct request *r, const char *list_name, enum store_stats_by by, int64_t since,
	  int64_t until)
{
	struct store_stat *rows = calloc(STATS_MAX_ROWS, sizeof(*rows));
	cJSON *list = cJSON_AddArrayToObject(r->data, list_name);
	int n;

	if (!rows || !list) {
		free(rows);
		return fail(r, "out of memory");
	}
	n = store_stats(r->d->store, by, since, until, rows, STATS_MAX_ROWS);
	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		if (by == STORE_STATS_AGENT) {
			cJSON_AddStringToObject(o, "agent", rows[i].key);
		} else {
			cJSON_AddStringToObject(o, "channel", rows[i].key);
			cJSON_AddStringToObject(o, "priority", rows[i].priority);
		}
		if (by == STORE_STATS_RESPONSE) {
			cJSON_AddNumberToObject(o, "tickets", (double)rows[i].acks);
			cJSON_AddNumberToObject(o, "median_first_response_ms",
						(double)rows[i].median_ms);
			cJSON_AddNumberToObject(o, "p90_first_response_ms", (double)rows[i].p90_ms);
		} else if (by == STORE_STATS_BREACH) {
			cJSON_AddNumberToObject(o, "breaches", (double)rows[i].breaches);
		} else {
			cJSON_AddNumberToObject(o, "acks", (double)rows[i].acks);
			cJSON_AddNumberToObject(o, "breaches", (double)rows[i].breaches);
			cJSON_AddNumberToObject(o, "median_ack_ms", (double)rows[i].median_ms);
			cJSON_AddNumberToObject(o, "p90_ack_ms", (double)rows[i].p90_ms);
		}
		cJSON_AddItemToArray(list, o);
	}
	free(rows);
	if (n < 0)
		return fail(r, "could not read the ack log: %s", store_errmsg(r->d->store));
	return 0;
}

static int
verb_stats(struct request *r)
{
	uint64_t window = STATS_DEFAULT_USEC;
	int64_t until = daemon_now(r->d).wall_ms, since;
	char text[32];

	if (arg_duration(r, "window", &window) < 0)
		return -EINVAL;
	if (window == 0 || window > STATS_MAX_USEC)
		return fail(r, "window: must be between 1 s and 400 days");
	since = until - (int64_t)(window / USEC_PER_MSEC);
	duration_format(window, text, sizeof(text));
	cJSON_AddStringToObject(r->data, "window", text);
	data_time(r->data, "since", since);
	data_time(r->data, "until", until);
	if (add_stats(r, "agents", STORE_STATS_AGENT, since, until + 1) < 0 ||
	    add_stats(r, "channels", STORE_STATS_CHANNEL, since, until + 1) < 0 ||
	    add_stats(r, "first_response", STORE_STATS_RESPONSE, since, until + 1) < 0 ||
	    add_stats(r, "breaches", STORE_STATS_BREACH, since, until + 1) < 0)
		return -EINVAL;
	return 0;
}

static int
verb_refuse_retained(struct request *r)
{
	return fail(r, "retained commands are refused; publish commands without the retain flag");
}

/* `acts`: the verb changes something, so a repeated transaction must get
 * the stored reply rather than act twice. Read-only verbs just run again
 * (their stored reply would be stale). */
static const struct verb {
	const char *name;
	int (*fn)(struct request *r);
	bool acts;
} verbs[] = {
	{ "ping", verb_ping, false },
	{ "status", verb_status, false },
	{ "ack", verb_ack, true },
	{ "silence", verb_silence, true },
	{ "mute", verb_mute, true },
	{ "unmute", verb_unmute, true },
	{ "quiet_hours", verb_quiet_hours, true },
	{ "config_get", verb_config_get, false },
	{ "config_set", verb_config_set, true },
	{ "reload", verb_reload, true },
	{ "lamp_test", verb_lamp_test, true },
	{ "identify", verb_identify, true },
	{ "incident", verb_incident, true },
	{ "acks", verb_acks, false },
	{ "stats", verb_stats, false },
	{ "watch", verb_watch, false },
	{ "sim_press", verb_sim_press, true },
	{ "sim_double", verb_sim_double, true },
	{ "sim_chatter", verb_sim_chatter, true },
	{ "sim_hold", verb_sim_hold, true },
	{ "sim_release", verb_sim_release, true },
	{ "sim_state", verb_sim_state, false },
	{ "__refuse_retained", verb_refuse_retained, false },
};

/* --- dispatch ------------------------------------------------------------ */

static char *
reply(const cJSON *transaction, const struct request *r, bool ok)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (transaction)
		cJSON_AddItemToObject(o, "transaction", cJSON_Duplicate(transaction, true));
	else
		cJSON_AddNullToObject(o, "transaction");
	cJSON_AddStringToObject(o, "status", ok ? "ok" : "error");
	if (ok)
		cJSON_AddItemToObject(o, "data", r->data ? r->data : cJSON_CreateObject());
	else
		cJSON_AddStringToObject(o, "error", r->error);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* Refuses commands whose ts is older than admin.max_cmd_age (a command
 * queued by the broker for hours must not act now). */
static int
check_age(struct request *r)
{
	int64_t ts;
	int k = arg_time(r, "ts", &ts);
	int64_t now = daemon_now(r->d).wall_ms;
	int64_t max_ms = (int64_t)(r->d->conf.admin.max_cmd_age_usec / USEC_PER_MSEC);

	if (k <= 0)
		return k;
	if (now - ts > max_ms)
		return fail(r, "command is %lld s old; older than admin.max_cmd_age",
			    (long long)((now - ts) / 1000));
	return 0;
}

/* admin.key_file set: the request must be signed, fresh and new. The
 * nonce is only consumed by check_nonce(), after a stored reply had its
 * chance (a QoS 1 redelivery repeats the nonce too). */
static int
check_signature(struct request *r, const char *verb, const char *target, const char *request,
		size_t len, struct cmdauth *auth)
{
	uint8_t key[CMDAUTH_KEY_MAX];
	size_t key_len = 0;
	int64_t now = daemon_now(r->d).wall_ms, age;
	int64_t max_ms = (int64_t)(r->d->conf.admin.max_cmd_age_usec / USEC_PER_MSEC);
	int k = cmdauth_read_key(r->d->conf.admin.key_file, key, &key_len);

	if (k < 0) {
		log_debug("Cannot read admin.key_file %s: %s", r->d->conf.admin.key_file,
			  strerror(-k));
		return fail(r, "signed commands required but the board cannot read its key");
	}
	k = cmdauth_verify(verb, target, request, len, key, key_len, auth);
	explicit_bzero(key, sizeof(key));
	if (k < 0)
		return fail(r, "refused: %s", auth->why);
	age = now - auth->ts_ms;
	if (age > max_ms || -age > max_ms)
		return fail(r, "refused: ts is %lld s %s; outside admin.max_cmd_age",
			    (long long)((age < 0 ? -age : age) / 1000), age < 0 ? "ahead" : "old");
	return 0;
}

static int
check_nonce(struct request *r, const struct cmdauth *auth)
{
	int k = store_nonce_use(r->d->store, auth->nonce, daemon_now(r->d).wall_ms);

	if (k == -EEXIST)
		return fail(r, "refused: nonce already used (replayed command)");
	if (k < 0)
		return fail(r, "refused: the nonce could not be recorded (%s)",
			    store_errmsg(r->d->store));
	return 0;
}

static const struct verb *
find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

char *
cmd_handle(struct daemon *d, enum cmd_origin origin, const char *verb, const char *request,
	   size_t len, bool *watch)
{
	struct cmd_context ctx = { .origin = origin };

	return cmd_handle_ctx(d, &ctx, verb, request, len, watch);
}

char *
cmd_handle_ctx(struct daemon *d, const struct cmd_context *ctx, const char *verb,
	       const char *request, size_t len, bool *watch)
{
	struct request r = { .d = d, .origin = ctx->origin };
	cJSON *root = NULL;
	const cJSON *transaction = NULL;
	const struct verb *v = NULL;
	struct cmdauth auth;
	bool mqtt = ctx->origin == CMD_ORIGIN_MQTT;
	bool signed_cmds = mqtt && d->conf.admin.key_file[0];
	char reply_id[STORE_CMD_ID_MAX + 1] = "";
	char *out;
	bool ran = false;
	int k = -EINVAL;

	if (watch)
		*watch = false;
	if (len == 0 && mqtt) {
		root = cJSON_CreateObject(); /* an empty payload means no arguments */
	} else {
		root = cJSON_ParseWithLength(request, len);
	}
	if (!root || !cJSON_IsObject(root)) {
		fail(&r, "request must be one JSON object");
		goto done;
	}
	r.args = root;
	transaction = cJSON_GetObjectItemCaseSensitive(root, "transaction");
	if (transaction && !cJSON_IsString(transaction) && !cJSON_IsNumber(transaction)) {
		transaction = NULL;
		fail(&r, "transaction: must be a string");
		goto done;
	}
	if (!verb) {
		const cJSON *vj = cJSON_GetObjectItemCaseSensitive(root, "verb");

		if (!cJSON_IsString(vj) || !vj->valuestring) {
			fail(&r, "verb: required");
			goto done;
		}
		verb = vj->valuestring;
	}
	if (ctx->retained) {
		/* A retained command would fire again at every reconnect. */
		verb_refuse_retained(&r);
		goto done;
	}
	if (signed_cmds && check_signature(&r, verb, ctx->target ? ctx->target : d->conf.board.id,
					   request, len, &auth) < 0)
		goto done;
	if (check_age(&r) < 0)
		goto done;
	v = find_verb(verb);
	if (!v) {
		fail(&r, "unknown verb '%.40s'", verb);
		goto done;
	}
	if (mqtt && v->acts && transaction && cJSON_IsString(transaction) &&
	    *transaction->valuestring &&
	    strlen(transaction->valuestring) + strlen(verb) < STORE_CMD_ID_MAX) {
		char *stored = NULL;

		snprintf(reply_id, sizeof(reply_id), "%s %s", verb, transaction->valuestring);
		if (store_cmd_reply_get(d->store, reply_id, &stored) == 0) {
			log_debug("Command %s repeated: stored reply sent again", reply_id);
			cJSON_Delete(root);
			return stored;
		}
	}
	if (signed_cmds && check_nonce(&r, &auth) < 0)
		goto done;
	r.data = cJSON_CreateObject();
	k = v->fn(&r);
	ran = true;
done:
	if (k < 0) {
		cJSON_Delete(r.data);
		r.data = NULL;
	}
	out = reply(transaction, &r, k >= 0);
	if (watch)
		*watch = k >= 0 && r.watch;
	cJSON_Delete(root);
	if (out && ran && reply_id[0] &&
	    store_cmd_reply_put(d->store, reply_id, daemon_now(d).wall_ms, out) < 0)
		log_debug("Reply to %s not stored: %s", reply_id, store_errmsg(d->store));
	return out;
}
