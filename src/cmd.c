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

#include "daemon.h"
#include "gpio.h"
#include "payload.h"
#include "store.h"
#include "timeutil.h"

#define ACKS_DEFAULT_LIMIT  100
#define ACKS_MAX_LIMIT      10000
#define MUTE_DEFAULT_USEC   (60 * 60 * USEC_PER_SEC)
#define MUTE_MAX_USEC       (7 * 24 * 3600 * USEC_PER_SEC)
#define SIM_HOLD_DEFAULT_MS 100
#define SIM_HOLD_MAX_MS     120000
#define ACK_REPLY_MAX       64

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
	cJSON *doc;
	char *printed = payload_status(r->d);

	doc = printed ? cJSON_Parse(printed) : NULL;
	payload_free(printed);
	if (!doc)
		return fail(r, "out of memory");
	cJSON_Delete(r->data);
	r->data = doc;
	return 0;
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
};

static void
add_ack(void *userdata, const struct ack_record *a)
{
	struct acks_ctx *ctx = userdata;
	char *p = payload_ack(a);
	cJSON *doc = p ? cJSON_Parse(p) : NULL;

	payload_free(p);
	if (doc)
		cJSON_AddItemToArray(ctx->list, doc);
}

static int
verb_acks(struct request *r)
{
	int64_t since = 0, until = 0;
	const char *agent = NULL;
	unsigned limit = ACKS_DEFAULT_LIMIT;
	struct acks_ctx ctx = { .r = r };
	int n;

	if (arg_time(r, "since", &since) < 0 || arg_time(r, "until", &until) < 0 ||
	    arg_string(r, "agent", &agent) < 0 || arg_uint(r, "limit", ACKS_MAX_LIMIT, &limit) < 0)
		return -EINVAL;
	if (limit == 0)
		limit = ACKS_MAX_LIMIT;
	ctx.list = cJSON_AddArrayToObject(r->data, "acks");
	n = store_acks_query(r->d->store, since, until, agent, limit, add_ack, &ctx);
	if (n < 0)
		return fail(r, "could not read the ack log: %s", store_errmsg(r->d->store));
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
verb_sim_state(struct request *r)
{
	cJSON *doc;
	char *printed;

	if (!gpio_is_sim(r->d->gpio))
		return fail(r, "not a simulated board (gpio.backend is not sim)");
	printed = payload_sim_state(r->d);
	doc = printed ? cJSON_Parse(printed) : NULL;
	payload_free(printed);
	if (!doc)
		return fail(r, "out of memory");
	cJSON_Delete(r->data);
	r->data = doc;
	return 0;
}

static int
verb_refuse_retained(struct request *r)
{
	return fail(r, "retained commands are refused; publish commands without the retain flag");
}

static const struct verb {
	const char *name;
	int (*fn)(struct request *r);
} verbs[] = {
	{ "ping", verb_ping },
	{ "status", verb_status },
	{ "ack", verb_ack },
	{ "silence", verb_silence },
	{ "mute", verb_mute },
	{ "unmute", verb_unmute },
	{ "lamp_test", verb_lamp_test },
	{ "identify", verb_identify },
	{ "incident", verb_incident },
	{ "acks", verb_acks },
	{ "watch", verb_watch },
	{ "sim_press", verb_sim_press },
	{ "sim_double", verb_sim_double },
	{ "sim_state", verb_sim_state },
	{ "__refuse_retained", verb_refuse_retained },
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

char *
cmd_handle(struct daemon *d, enum cmd_origin origin, const char *verb, const char *request,
	   size_t len, bool *watch)
{
	struct request r = { .d = d, .origin = origin };
	cJSON *root = NULL;
	const cJSON *transaction = NULL;
	char *out;
	int k = -EINVAL;

	if (watch)
		*watch = false;
	if (len == 0 && origin == CMD_ORIGIN_MQTT) {
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
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "verb");

		if (!cJSON_IsString(v) || !v->valuestring) {
			fail(&r, "verb: required");
			goto done;
		}
		verb = v->valuestring;
	}
	if (check_age(&r) < 0)
		goto done;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verbs[i].name, verb) != 0)
			continue;
		r.data = cJSON_CreateObject();
		k = verbs[i].fn(&r);
		goto done;
	}
	fail(&r, "unknown verb '%.40s'", verb);
done:
	if (k < 0) {
		cJSON_Delete(r.data);
		r.data = NULL;
	}
	out = reply(transaction, &r, k >= 0);
	if (watch)
		*watch = k >= 0 && r.watch;
	cJSON_Delete(root);
	return out;
}
