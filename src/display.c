/* display: routes of the wall display and the read-only API.
 *
 * Everything is rendered from what the rest of the daemon already says:
 * payload_status() for the state (the same document as `status` and the
 * retained state topic), the store for acks. The page itself does the
 * layout, so the wire format stays the documented JSON.
 */
#include "display.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "gpio.h"
#include "http.h"
#include "mqtt.h"
#include "payload.h"
#include "store.h"
#include "timeutil.h"
#include "web_assets.h"

#define MAX_CONNECTIONS   64
#define MAX_SSE_CLIENTS   32
#define MAX_SSE_BACKLOG   (4 * 1024 * 1024)
#define SSE_KEEPALIVE     (15 * USEC_PER_SEC)
#define IDLE_TIMEOUT_S    30
#define RECENT_ACKS       8
#define ACKS_DEFAULT      100
#define ACKS_MAX          10000
#define ACKS_REFRESH_USEC (60 * USEC_PER_SEC)
#define TOKEN_MAX         256

struct display {
	struct daemon *d;
	struct http *http;
	struct loop_timer acks_timer;
	uint64_t acks_seen; /* d->stats.acks at the last "acks" push */
	char token[TOKEN_MAX];
};

/* --- helpers ------------------------------------------------------------- */

static void
respond(struct http_request *req, unsigned status, const char *type, const char *body, size_t len)
{
	struct http_response r = {
		.status = status,
		.content_type = type,
		.body = body,
		.len = len,
	};
	http_respond(req, &r);
}

static void
respond_error(struct http_request *req, unsigned status, const char *message)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", message);

	respond(req, status, "application/json", body, (size_t)n);
}

static void
respond_json(struct http_request *req, char *printed)
{
	if (!printed) {
		respond_error(req, 500, "out of memory");
		return;
	}
	respond(req, 200, "application/json", printed, strlen(printed));
	payload_free(printed);
}

/* Constant time, so that response timing does not leak the token. */
static bool
token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0;
}

static bool
authorized(const struct display *disp, const struct http_request *req)
{
	const char *arg, *auth;

	if (!disp->token[0])
		return true;
	arg = http_request_arg(req, "token");
	if (arg && token_equal(arg, disp->token))
		return true;
	auth = http_request_header(req, "Authorization");
	if (auth && strncmp(auth, "Bearer ", 7) == 0 && token_equal(auth + 7, disp->token))
		return true;
	return false;
}

/* Local midnight of today in `tz` (IANA), as wall ms. TZ is switched and
 * restored around localtime_r/mktime: the daemon has one thread. */
static int64_t
local_midnight_ms(const char *tz, int64_t now_ms)
{
	const char *prev = getenv("TZ");
	char *saved = prev ? strdup(prev) : NULL;
	time_t t = (time_t)(now_ms / 1000), mid;
	struct tm tm;

	setenv("TZ", tz, 1);
	tzset();
	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	mid = mktime(&tm);
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
	return mid == (time_t)-1 ? now_ms - now_ms % (86400 * MSEC_PER_SEC) : (int64_t)mid * 1000;
}

/* --- JSON documents ------------------------------------------------------ */

struct ack_list {
	cJSON *array;
};

static void
add_ack(void *userdata, const struct ack_record *a)
{
	struct ack_list *l = userdata;
	char *p = payload_ack(a);
	cJSON *doc = p ? cJSON_Parse(p) : NULL;

	payload_free(p);
	if (doc)
		cJSON_AddItemToArray(l->array, doc);
}

static void
add_today(struct display *disp, cJSON *o)
{
	struct daemon *d = disp->d;
	int64_t now = daemon_now(d).wall_ms, median = 0;
	int64_t since = local_midnight_ms(d->conf.alerts.timezone, now);
	int n = store_ack_latency_median(d->store, since, 0, &median);
	cJSON *today = cJSON_AddObjectToObject(o, "today");
	char buf[RFC3339_BUF];

	rfc3339_format(since, buf);
	cJSON_AddStringToObject(today, "since", buf);
	cJSON_AddNumberToObject(today, "acks", n > 0 ? n : 0);
	if (n > 0)
		cJSON_AddNumberToObject(today, "median_ms", (double)median);
	else
		cJSON_AddNullToObject(today, "median_ms");
}

/* {"recent":[ack records, newest first],"today":{"since","acks","median_ms"}} */
static char *
acks_summary(struct display *disp)
{
	cJSON *o = cJSON_CreateObject();
	struct ack_list l = { .array = cJSON_AddArrayToObject(o, "recent") };
	char *s;

	store_acks_query(disp->d->store, 0, 0, NULL, RECENT_ACKS, add_ack, &l);
	add_today(disp, o);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static char *
config_doc(struct display *disp)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "board", disp->d->conf.board.id);
	cJSON_AddStringToObject(o, "language", disp->d->conf.display.language);
	cJSON_AddStringToObject(o, "timezone", disp->d->conf.alerts.timezone);
	cJSON_AddStringToObject(o, "version", TEAMBOARD_VERSION);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* --- routes -------------------------------------------------------------- */

static void
route_asset(struct http_request *req, const struct web_asset *a)
{
	const char *inm = http_request_header(req, "If-None-Match");
	char etag[80];
	struct http_response r = {
		.status = 200,
		.content_type = a->content_type,
		.body = a->data,
		.len = a->len,
		.body_static = true,
		.cache_control = "no-cache",
		.extra_header = etag,
	};

	snprintf(etag, sizeof(etag), "ETag: %s", a->etag);
	if (inm && strcmp(inm, a->etag) == 0) {
		r.status = 304;
		r.len = 0;
	}
	http_respond(req, &r);
}

static void
route_events(struct display *disp, struct http_request *req)
{
	char *config = config_doc(disp);
	char *status = payload_status(disp->d);
	char *acks = acks_summary(disp);
	char *first = NULL;

	if (config && status && acks &&
	    asprintf(&first,
		     "event: config\ndata: %s\n\nevent: state\ndata: %s\n\nevent: acks\ndata: "
		     "%s\n\n",
		     config, status, acks) < 0)
		first = NULL;
	if (first)
		http_respond_sse(req, first);
	else
		respond_error(req, 500, "out of memory");
	free(first);
	cJSON_free(config);
	payload_free(status);
	cJSON_free(acks);
}

/* ?since= takes a duration back from now ("24h") or an RFC 3339 time. */
static int
parse_since(const char *s, int64_t now_ms, int64_t *out_ms)
{
	uint64_t usec;

	if (!s || !*s)
		return 0;
	if (rfc3339_parse(s, out_ms) == 0)
		return 0;
	if (duration_parse(s, &usec) == 0 && usec / USEC_PER_MSEC <= (uint64_t)now_ms) {
		*out_ms = now_ms - (int64_t)(usec / USEC_PER_MSEC);
		return 0;
	}
	return -EINVAL;
}

static void
route_acks(struct display *disp, struct http_request *req)
{
	struct daemon *d = disp->d;
	int64_t now = daemon_now(d).wall_ms, since = 0, until = 0;
	const char *agent = http_request_arg(req, "agent");
	const char *limit_s = http_request_arg(req, "limit");
	unsigned long limit = ACKS_DEFAULT;
	cJSON *o;
	struct ack_list l;
	char *end;

	if (parse_since(http_request_arg(req, "since"), now, &since) < 0 ||
	    parse_since(http_request_arg(req, "until"), now, &until) < 0) {
		respond_error(req, 400, "since/until: a duration (24h) or an RFC 3339 time");
		return;
	}
	if (limit_s) {
		errno = 0;
		limit = strtoul(limit_s, &end, 10);
		if (errno || end == limit_s || *end || limit_s[0] == '-' || limit > ACKS_MAX) {
			respond_error(req, 400, "limit: a whole number from 0 to 10000");
			return;
		}
		if (limit == 0)
			limit = ACKS_MAX;
	}
	if (agent && !*agent)
		agent = NULL;
	o = cJSON_CreateObject();
	l.array = cJSON_AddArrayToObject(o, "acks");
	if (store_acks_query(d->store, since, until, agent, limit, add_ack, &l) < 0) {
		cJSON_Delete(o);
		respond_error(req, 503, "the ack log cannot be read");
		return;
	}
	add_today(disp, o);
	respond_json(req, cJSON_PrintUnformatted(o));
	cJSON_Delete(o);
}

static void
route_healthz(struct display *disp, struct http_request *req)
{
	char *p = payload_health(disp->d);

	respond_json(req, p);
}

/* Prometheus label values escape backslash, quote and newline. */
static void
label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
metric(FILE *f, const char *name, const char *type, const char *help, double value)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

static void
route_metrics(struct display *disp, struct http_request *req)
{
	struct daemon *d = disp->d;
	struct alerts_now now = daemon_now(d);
	struct alerts_view view;
	struct http_stats hs;
	char *buf = NULL;
	size_t len = 0;
	int64_t median = 0;
	int today;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		respond_error(req, 500, "out of memory");
		return;
	}
	alerts_view(d->alerts, &now, &view);
	http_get_stats(disp->http, &hs);
	today = store_ack_latency_median(
		d->store, local_midnight_ms(d->conf.alerts.timezone, now.wall_ms), 0, &median);

	fputs("# HELP teamboard_info Board id and daemon version.\n"
	      "# TYPE teamboard_info gauge\nteamboard_info{board=\"",
	      f);
	label_value(f, d->conf.board.id);
	fputs("\",version=\"", f);
	label_value(f, TEAMBOARD_VERSION);
	fputs("\"} 1\n", f);
	metric(f, "teamboard_uptime_seconds", "gauge", "Seconds since the daemon started.",
	       (double)((now.mono_usec - d->started_usec) / USEC_PER_SEC));

	fputs("# HELP teamboard_alerts Open tickets and alerts by level (as the display's "
	      "counters).\n# TYPE teamboard_alerts gauge\n",
	      f);
	fprintf(f, "teamboard_alerts{level=\"open\"} %u\n", view.counts.open);
	fprintf(f, "teamboard_alerts{level=\"unacked\"} %u\n", view.counts.unacked);
	fprintf(f, "teamboard_alerts{level=\"warning\"} %u\n", view.counts.warning);
	fprintf(f, "teamboard_alerts{level=\"breached\"} %u\n", view.counts.breached);
	fputs("# HELP teamboard_channel_tickets Open and unacknowledged tickets per channel.\n"
	      "# TYPE teamboard_channel_tickets gauge\n",
	      f);
	for (int c = 0; c < CHANNEL_COUNT; c++) {
		fprintf(f, "teamboard_channel_tickets{channel=\"%s\",state=\"open\"} %u\n",
			channel_name(c), view.counts.open_per_channel[c]);
		fprintf(f, "teamboard_channel_tickets{channel=\"%s\",state=\"unacked\"} %u\n",
			channel_name(c), view.counts.unacked_per_channel[c]);
	}
	fputs("# HELP teamboard_lamp Lamp pattern in force (1 for the current pattern).\n"
	      "# TYPE teamboard_lamp gauge\n",
	      f);
	for (int l = 0; l < LAMP_COUNT; l++)
		fprintf(f, "teamboard_lamp{lamp=\"%s\",pattern=\"%s\"} 1\n", output_name(l),
			pattern_name(view.lamp[l]));
	metric(f, "teamboard_broker_connected", "gauge", "1 while connected to the MQTT broker.",
	       d->mqtt && mqtt_connected(d->mqtt));
	metric(f, "teamboard_feed_stale", "gauge",
	       "1 when no backend message arrived for alerts.feed_timeout.", view.feed_stale);
	metric(f, "teamboard_blind", "gauge", "1 while the board is blind (no feed or no broker).",
	       view.blind);
	metric(f, "teamboard_incident", "gauge", "1 while a major incident is open.",
	       view.incident);
	metric(f, "teamboard_muted", "gauge", "1 while the buzzer is muted.",
	       d->muted_until_usec && d->muted_until_usec > now.mono_usec);
	metric(f, "teamboard_quiet", "gauge", "1 during quiet hours (buzzer silent).", d->quiet);
	metric(f, "teamboard_clock_synced", "gauge", "1 when the wall clock is synchronised.",
	       d->clock_synced);
	metric(f, "teamboard_outbox_depth", "gauge", "Ack records not yet delivered to the broker.",
	       (double)store_outbox_depth(d->store));
	metric(f, "teamboard_db_bytes", "gauge", "Size of the database and its WAL.",
	       (double)store_size_bytes(d->store));
	metric(f, "teamboard_mqtt_reconnects_total", "counter", "Reconnections to the broker.",
	       d->mqtt ? (double)mqtt_reconnects(d->mqtt) : 0);
	metric(f, "teamboard_mqtt_messages_total", "counter", "Messages on the event topics.",
	       (double)d->stats.messages);
	fputs("# HELP teamboard_events_total Backend events by outcome.\n"
	      "# TYPE teamboard_events_total counter\n",
	      f);
	fprintf(f, "teamboard_events_total{result=\"applied\"} %" PRIu64 "\n",
		d->stats.events_applied);
	fprintf(f, "teamboard_events_total{result=\"ignored\"} %" PRIu64 "\n",
		d->stats.events_ignored);
	fprintf(f, "teamboard_events_total{result=\"duplicate\"} %" PRIu64 "\n",
		d->stats.events_duplicate);
	fprintf(f, "teamboard_events_total{result=\"rejected\"} %" PRIu64 "\n",
		d->stats.events_rejected);
	metric(f, "teamboard_acks_total", "counter", "Acknowledgements since the daemon started.",
	       (double)d->stats.acks);
	metric(f, "teamboard_escalations_total", "counter", "Escalated breaches since start.",
	       (double)d->stats.escalations);
	metric(f, "teamboard_store_errors_total", "counter", "Failed database operations.",
	       (double)d->stats.store_errors);
	metric(f, "teamboard_gpio_errors_total", "counter", "Failed GPIO operations.",
	       (double)gpio_errors(d->gpio));
	metric(f, "teamboard_acks_today", "gauge", "Acknowledgements since local midnight.",
	       today > 0 ? today : 0);
	if (today > 0)
		metric(f, "teamboard_ack_latency_median_seconds", "gauge",
		       "Median time to acknowledge since local midnight.", (double)median / 1000);
	metric(f, "teamboard_http_requests_total", "counter", "HTTP requests served.",
	       (double)hs.requests);
	metric(f, "teamboard_display_clients", "gauge", "Open display event streams.",
	       hs.sse_clients);
	fclose(f);
	respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
	free(buf);
}

static void
on_request(void *userdata, struct http_request *req)
{
	struct display *disp = userdata;
	const char *path = http_request_path(req);

	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(path, web_assets[i].path) == 0) {
			route_asset(req, &web_assets[i]);
			return;
		}
	if (strcmp(path, "/healthz") == 0) {
		route_healthz(disp, req);
		return;
	}
	if (strcmp(path, "/events") != 0 && strcmp(path, "/metrics") != 0 &&
	    strncmp(path, "/api/", 5) != 0) {
		respond_error(req, 404, "not found");
		return;
	}
	if (!authorized(disp, req)) {
		struct http_response r = {
			.status = 401,
			.content_type = "application/json",
			.body = "{\"error\":\"access token required\"}",
			.len = 33,
			.body_static = true,
			.extra_header = "WWW-Authenticate: Bearer realm=\"teamboard\"",
		};
		http_respond(req, &r);
		return;
	}
	if (strcmp(path, "/events") == 0)
		route_events(disp, req);
	else if (strcmp(path, "/metrics") == 0)
		route_metrics(disp, req);
	else if (strcmp(path, "/api/state") == 0)
		respond_json(req, payload_status(disp->d));
	else if (strcmp(path, "/api/acks") == 0)
		route_acks(disp, req);
	else
		respond_error(req, 404, "not found");
}

/* --- lifecycle ----------------------------------------------------------- */

static void
push_acks(struct display *disp)
{
	char *acks = acks_summary(disp);

	disp->acks_seen = disp->d->stats.acks;
	if (acks)
		http_sse_broadcast(disp->http, "acks", acks);
	cJSON_free(acks);
}

/* Today's median starts afresh at midnight, and acks from other boards
 * sharing nothing with us never arrive: a slow refresh keeps it right. */
static void
on_acks_timer(struct loop *loop, void *userdata)
{
	struct display *disp = userdata;

	push_acks(disp);
	loop_timer_arm(loop, &disp->acks_timer, loop_now_usec(loop) + ACKS_REFRESH_USEC);
}

static int
read_token(const char *path, char *out, size_t size, char *why, size_t why_size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		int e = errno;
		snprintf(why, why_size, "cannot read display.token_file '%s': %s", path,
			 strerror(e));
		return -e;
	}
	if (!fgets(out, (int)size, f))
		out[0] = '\0';
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	if (n < 16) {
		snprintf(why, why_size,
			 "display.token_file '%s': the token (its first line) must have at least "
			 "16 characters",
			 path);
		explicit_bzero(out, size);
		return -EINVAL;
	}
	return 0;
}

struct display *
display_new(struct daemon *d, int *err, char *why, size_t why_size)
{
	struct display *disp = calloc(1, sizeof(*disp));
	struct http_config hc = {
		.listen = d->conf.display.listen,
		.max_connections = MAX_CONNECTIONS,
		.max_sse_clients = MAX_SSE_CLIENTS,
		.max_sse_backlog = MAX_SSE_BACKLOG,
		.sse_keepalive_usec = SSE_KEEPALIVE,
		.timeout_s = IDLE_TIMEOUT_S,
	};

	*err = 0;
	if (!disp) {
		*err = -ENOMEM;
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	disp->d = d;
	disp->acks_seen = d->stats.acks;
	loop_timer_init(&disp->acks_timer, on_acks_timer, disp);
	if (d->conf.display.token_file[0]) {
		*err = read_token(d->conf.display.token_file, disp->token, sizeof(disp->token), why,
				  why_size);
		if (*err < 0)
			goto fail;
	}
	disp->http = http_new(d->loop, &hc, on_request, disp, err);
	if (!disp->http) {
		snprintf(why, why_size, "cannot listen on %s: %s", hc.listen, strerror(-*err));
		goto fail;
	}
	if (!http_is_loopback(disp->http) && !disp->token[0])
		log_warning("Wall display on %s is reachable from the network without a token; "
			    "set display.token_file",
			    hc.listen);
	loop_timer_arm(d->loop, &disp->acks_timer, loop_now_usec(d->loop) + ACKS_REFRESH_USEC);
	return disp;
fail:
	display_free(disp);
	return NULL;
}

void
display_free(struct display *disp)
{
	if (!disp)
		return;
	loop_timer_disarm(disp->d->loop, &disp->acks_timer);
	http_free(disp->http);
	explicit_bzero(disp->token, sizeof(disp->token));
	free(disp);
}

void
display_push_state(struct display *disp, const char *status)
{
	if (!disp || !status)
		return;
	http_sse_broadcast(disp->http, "state", status);
	if (disp->d->stats.acks != disp->acks_seen)
		push_acks(disp);
}
