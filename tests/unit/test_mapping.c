/* Unit tests for mapping: what a helpdesk's JSON becomes, what is rejected
 * and why, and how a bad [mapping] section is reported (file:line:key).
 * The shipped presets are checked against the sample payloads in
 * tests/mapping/<preset>/: X.json maps to X.expected.json (and every event
 * passes event_parse), or is rejected with the reason in X.rejected. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "conf.h"
#include "event.h"
#include "mapping.h"

/* 2026-11-25T10:00:00Z: the receive time when a mapping has no ts. */
#define NOW_MS INT64_C(1795600800000)

struct rec {
	int rejected;
	char id[8][EVENT_ID_MAX];
	char reason[8][512];
	int accepted;
};

static void
on_reject(void *userdata, const char *id, const char *reason)
{
	struct rec *r = userdata;

	if (r->rejected < 8) {
		snprintf(r->id[r->rejected], sizeof(r->id[0]), "%s", id ? id : "");
		snprintf(r->reason[r->rejected], sizeof(r->reason[0]), "%s", reason);
	}
	r->rejected++;
}

static void
on_accept(void *userdata, const struct event *ev)
{
	struct rec *r = userdata;

	(void)ev;
	r->accepted++;
}

/* Compiles one section from "key = value" lines (one per string). */
static struct mapping_set *
compile(const char *name, struct conf_error *err, ...)
{
	static char src[MAPPING_SRC_MAX];
	char section[64];
	struct mapping_set *s = NULL;
	va_list ap;
	const char *kv;
	int line = 1;

	src[0] = '\0';
	memset(err, 0, sizeof(*err));
	snprintf(section, sizeof(section), "mapping %s", name);
	va_start(ap, err);
	while ((kv = va_arg(ap, const char *))) {
		char key[128];
		const char *eq = strstr(kv, " = ");

		assert_non_null(eq);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
		if (mapping_src_add(src, sizeof(src), section, key, eq + 3, "t.conf", ++line, err) <
		    0) {
			va_end(ap);
			return NULL;
		}
	}
	va_end(ap);
	if (mapping_set_compile(src, "t.conf", "mappings", &s, err) < 0)
		return NULL;
	return s;
}

/* Maps `json` with the only mapping of `s`; returns the events (cJSON
 * array, caller deletes) or NULL, rejections into *r. */
static cJSON *
apply(struct mapping_set *s, const char *json, struct rec *r)
{
	char *out = NULL;
	cJSON *arr = NULL;
	int n;

	memset(r, 0, sizeof(*r));
	n = mapping_apply(mapping_set_at(s, 0), json, strlen(json), 10, NOW_MS, &out, on_reject, r);
	if (n > 0) {
		assert_non_null(out);
		event_parse(out, strlen(out), 10, on_accept, on_reject, r);
		arr = cJSON_Parse(out);
		assert_int_equal(cJSON_GetArraySize(arr), n);
	} else {
		assert_null(out);
	}
	free(out);
	return arr;
}

static const char *
str_at(const cJSON *root, const char *path)
{
	const cJSON *v = root;
	char part[64];

	while (v && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		snprintf(part, sizeof(part), "%.*s", (int)n, path);
		v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(part))
				     : cJSON_GetObjectItemCaseSensitive(v, part);
		path += n + (dot ? 1 : 0);
	}
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	return v ? "(other)" : NULL;
}

#define BASIC "topic = hd/x/#", "type.rule = * -> ticket.created"

static void
test_pointers_and_escapes(void **state)
{
	struct conf_error err;
	struct mapping_set *s = compile("x", &err, BASIC, "id = /ev~1id", "ticket.id = /t/0/n~0k",
					"ticket.channel = /missing | /via", "ticket.priority = /p",
					"ticket.subject = /deep/a/b", NULL);
	struct rec r;
	cJSON *out;

	(void)state;
	assert_non_null(s);
	out = apply(s,
		    "{\"ev/id\":\"e1\",\"t\":[{\"n~k\":42}],\"via\":\"chat\",\"p\":\"low\","
		    "\"deep\":{\"a\":{\"b\":\"Hi\"}}}",
		    &r);
	assert_non_null(out);
	assert_int_equal(r.rejected, 0);
	assert_int_equal(r.accepted, 1);
	assert_string_equal(str_at(out, "0.id"), "e1");
	assert_string_equal(str_at(out, "0.ticket.id"), "42");
	assert_string_equal(str_at(out, "0.ticket.channel"), "chat");
	assert_string_equal(str_at(out, "0.ticket.subject"), "Hi");
	assert_string_equal(str_at(out, "0.ts"), "2026-11-25T10:00:00.000Z");
	cJSON_Delete(out);

	/* An array index with a leading zero is no index (RFC 6901). */
	out = apply(s, "{\"ev/id\":\"e2\",\"t\":{\"00\":1},\"via\":\"chat\",\"p\":\"low\"}", &r);
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.rejected, 1);
	assert_string_equal(r.id[0], "e2");
	assert_string_equal(r.reason[0], "ticket.id: missing");
	cJSON_Delete(out);
	mapping_set_free(s);
}

static void
test_value_maps_and_defaults(void **state)
{
	struct conf_error err;
	struct mapping_set *s = compile(
		"x", &err, BASIC, "ticket.id = /id", "ticket.channel = /via",
		"map.ticket.channel = facebook_messenger:facebook, Instagram DM:instagram, *:other",
		"ticket.priority = /prio", "map.ticket.priority = Urgent:urgent, High:high",
		"default.ticket.priority = normal", "ticket.public = /via",
		"map.ticket.public = facebook_messenger:false, *:true", "ticket.queue = /q",
		"prefix.ticket.id = ZD-", NULL);
	struct rec r;
	cJSON *out;

	(void)state;
	assert_non_null(s);
	out = apply(s,
		    "[{\"id\":1,\"via\":\"FACEBOOK_MESSENGER\",\"prio\":\"urgent\",\"q\":\"\"},"
		    "{\"id\":2,\"via\":\"instagram dm\"},"
		    "{\"id\":3,\"via\":\"fax\",\"prio\":\"High\"}]",
		    &r);
	assert_int_equal(r.rejected, 0);
	assert_int_equal(r.accepted, 3);
	assert_string_equal(str_at(out, "0.ticket.id"), "ZD-1");
	assert_string_equal(str_at(out, "0.ticket.channel"), "facebook"); /* any case */
	assert_string_equal(str_at(out, "0.ticket.priority"), "urgent");
	assert_string_equal(str_at(out, "0.ticket.public"), "false");
	assert_null(str_at(out, "0.ticket.queue")); /* "" is an unset placeholder */
	assert_string_equal(str_at(out, "1.ticket.channel"), "instagram");
	assert_string_equal(str_at(out, "1.ticket.priority"), "normal"); /* default */
	assert_string_equal(str_at(out, "2.ticket.channel"), "other");   /* '*' */
	assert_string_equal(str_at(out, "2.ticket.public"), "true");
	cJSON_Delete(out);
	mapping_set_free(s);
}

static void
test_type_rules_in_order(void **state)
{
	struct conf_error err;
	struct mapping_set *s = compile(
		"x", &err, "topic = a/b", "id = /id", "ticket.id = /id", "ticket.channel = /c",
		"ticket.priority = /p", "type.rule = /trigger == \"created\" -> ticket.created",
		"type.rule = /status == \"solved\" && !/reopened -> ticket.solved",
		"type.rule = /assignee && /status != \"solved\" -> ticket.assigned", "type = /kind",
		"map.type = ping:heartbeat", NULL);
	struct rec r;
	cJSON *out;

	(void)state;
	assert_non_null(s);
	out = apply(s,
		    "[{\"id\":\"1\",\"trigger\":\"Created\",\"c\":\"web\",\"p\":\"low\","
		    "\"status\":\"solved\"},"
		    "{\"id\":\"2\",\"status\":\"SOLVED\",\"assignee\":\"a\"},"
		    "{\"id\":\"3\",\"status\":\"solved\",\"reopened\":true,\"assignee\":\"a\","
		    "\"kind\":\"ping\"},"
		    "{\"id\":\"4\",\"status\":\"open\",\"assignee\":\"anna\"},"
		    "{\"id\":\"5\",\"status\":\"open\",\"assignee\":\"\"}]",
		    &r);
	assert_string_equal(str_at(out, "0.type"), "ticket.created"); /* first rule wins */
	assert_string_equal(str_at(out, "1.type"), "ticket.solved");
	assert_string_equal(str_at(out, "2.type"), "heartbeat"); /* no rule: type + map */
	assert_string_equal(str_at(out, "3.type"), "ticket.assigned");
	assert_null(str_at(out, "4"));
	assert_int_equal(r.accepted, 3);
	assert_int_equal(r.rejected, 2);
	/* 5 has no type (the mapper says so); 4 is "assigned" without an
	 * agent (event.c says so, after mapping) */
	assert_string_equal(r.id[0], "5");
	assert_string_equal(r.reason[0], "mapping x: type: no type.rule matched and no type found");
	assert_string_equal(r.id[1], "4");
	assert_string_equal(
		r.reason[1],
		"agent: missing (ticket.assigned needs \"agent\" or \"ticket.assignee\")");
	cJSON_Delete(out);
	mapping_set_free(s);
}

static void
test_time_formats(void **state)
{
	struct conf_error err;
	struct mapping_set *s = compile("x", &err, "topic = a", "type.rule = * -> heartbeat",
					"ts = /t", "time.ts = epoch_s", NULL);
	struct rec r;
	cJSON *out;

	(void)state;
	out = apply(s, "[{\"id\":\"a\",\"t\":1795600800},{\"id\":\"b\",\"t\":\"1795600800.5\"}]",
		    &r);
	assert_int_equal(r.accepted, 2);
	assert_string_equal(str_at(out, "0.ts"), "2026-11-25T10:00:00.000Z");
	assert_string_equal(str_at(out, "1.ts"), "2026-11-25T10:00:00.500Z");
	cJSON_Delete(out);
	out = apply(s, "{\"id\":\"c\",\"t\":\"soon\"}", &r);
	assert_null(out);
	assert_string_equal(r.reason[0],
			    "mapping x: ts: /t is not a time in the epoch_s format: 'soon'");
	out = apply(s, "{\"id\":\"d\"}", &r);
	assert_string_equal(r.reason[0], "mapping x: ts: missing (no value at /t)");
	mapping_set_free(s);

	s = compile("x", &err, "topic = a", "type.rule = * -> heartbeat", "ts = /t",
		    "time.ts = epoch_ms", NULL);
	out = apply(s, "{\"id\":\"a\",\"t\":1795600800123}", &r);
	assert_string_equal(str_at(out, "0.ts"), "2026-11-25T10:00:00.123Z");
	cJSON_Delete(out);
	mapping_set_free(s);

	/* iso8601 (the default) takes what helpdesks print. */
	s = compile("x", &err, "topic = a", "type.rule = * -> heartbeat", "ts = /t", NULL);
	static const char *const ok[][2] = {
		{ "2013-12-12T05:35Z", "2013-12-12T05:35:00.000Z" },
		{ "2020-02-17T02:20:08.623+0700", "2020-02-16T19:20:08.623Z" },
		{ "2026-11-25 12:00:00+01", "2026-11-25T11:00:00.000Z" },
		{ "2026-11-25T12:00:00-02:30", "2026-11-25T14:30:00.000Z" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char json[128];

		snprintf(json, sizeof(json), "{\"id\":\"i\",\"t\":\"%s\"}", ok[i][0]);
		out = apply(s, json, &r);
		assert_non_null(out);
		assert_string_equal(str_at(out, "0.ts"), ok[i][1]);
		cJSON_Delete(out);
	}
	static const char *const bad[] = { "2026-11-25", "2026-11-25T12:00", "2026-11-25T12:00:0Z",
					   "2026-13-25T12:00Z", "2026-11-25T12:00Z junk" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[128];

		snprintf(json, sizeof(json), "{\"id\":\"i\",\"t\":\"%s\"}", bad[i]);
		out = apply(s, json, &r);
		assert_null(out);
		assert_int_equal(r.rejected, 1);
	}
	mapping_set_free(s);

	/* rfc3339 is strict: seconds and a zone with a colon. */
	s = compile("x", &err, "topic = a", "type.rule = * -> heartbeat", "ts = /t",
		    "time.ts = rfc3339", NULL);
	out = apply(s, "{\"id\":\"i\",\"t\":\"2013-12-12T05:35Z\"}", &r);
	assert_null(out);
	assert_int_equal(r.rejected, 1);
	mapping_set_free(s);
}

static void
test_fallback_id_is_a_stable_hash(void **state)
{
	struct conf_error err;
	struct mapping_set *a =
		compile("zd", &err, "topic = a", "type.rule = * -> heartbeat", "id = /nope", NULL);
	struct mapping_set *b =
		compile("other", &err, "topic = a", "type.rule = * -> heartbeat", NULL);
	struct rec r;
	cJSON *x, *y, *z, *w;

	(void)state;
	x = apply(a, "{\"b\":1,\"a\":{\"y\":[1,2],\"x\":\"s\"}}", &r);
	/* Same content, other key order and spacing: same id. */
	y = apply(a, "{ \"a\" : {\"x\":\"s\", \"y\":[1, 2]}, \"b\" : 1 }", &r);
	z = apply(a, "{\"b\":2,\"a\":{\"y\":[1,2],\"x\":\"s\"}}", &r);
	w = apply(b, "{\"b\":1,\"a\":{\"y\":[1,2],\"x\":\"s\"}}", &r);
	assert_int_equal(strncmp(str_at(x, "0.id"), "zd-", 3), 0);
	assert_int_equal(strlen(str_at(x, "0.id")), 3 + 32);
	assert_string_equal(str_at(x, "0.id"), str_at(y, "0.id"));
	assert_string_not_equal(str_at(x, "0.id"), str_at(z, "0.id"));
	assert_string_not_equal(str_at(x, "0.id") + 3, str_at(w, "0.id") + 6);
	cJSON_Delete(x);
	cJSON_Delete(y);
	cJSON_Delete(z);
	cJSON_Delete(w);
	mapping_set_free(a);
	mapping_set_free(b);

	a = compile("zd", &err, "topic = a", "type.rule = * -> heartbeat", "id = /id",
		    "id.fallback = none", NULL);
	x = apply(a, "{\"b\":1}", &r);
	assert_null(x);
	assert_string_equal(r.reason[0], "mapping zd: id: missing (no value at /id)");
	mapping_set_free(a);
}

static void
test_items_arrays_and_caps(void **state)
{
	struct conf_error err;
	struct mapping_set *s = compile("x", &err, "topic = a", "type.rule = * -> heartbeat",
					"id = /id", "items = /events", NULL);
	struct rec r;
	char *out = NULL, big[2048];
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "{\"events\":[");
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s{\"id\":\"e%d\"}", i ? "," : "",
				      i);
	snprintf(big + n, sizeof(big) - n, "]}");
	memset(&r, 0, sizeof(r));
	assert_int_equal(mapping_apply(mapping_set_at(s, 0), big, strlen(big), 10, NOW_MS, &out,
				       on_reject, &r),
			 10);
	assert_int_equal(r.rejected, 2);
	assert_string_equal(r.reason[0], "mapping x: too many events in one message (max 10)");
	free(out);

	memset(&r, 0, sizeof(r));
	assert_int_equal(mapping_apply(mapping_set_at(s, 0), "{\"x\":1}", 7, 10, NOW_MS, &out,
				       on_reject, &r),
			 -EINVAL);
	assert_string_equal(r.reason[0], "mapping x: no items at /events");
	memset(&r, 0, sizeof(r));
	assert_int_equal(mapping_apply(mapping_set_at(s, 0), "{\"events\":[1, {\"id\":\"ok\"}]", 27,
				       10, NOW_MS, &out, on_reject, &r),
			 -EINVAL);
	assert_string_equal(r.reason[0], "mapping x: payload is not valid JSON");
	memset(&r, 0, sizeof(r));
	const char *mixed = "{\"events\":[1, {\"id\":\"ok\"}]}";

	assert_int_equal(mapping_apply(mapping_set_at(s, 0), mixed, strlen(mixed), 10, NOW_MS, &out,
				       on_reject, &r),
			 1);
	assert_string_equal(r.reason[0], "mapping x: an item must be a JSON object");
	free(out);
	mapping_set_free(s);
}

static void
test_topic_matching(void **state)
{
	(void)state;
	assert_true(mapping_topic_matches("helpdesk/zendesk/#", "helpdesk/zendesk/t"));
	assert_true(mapping_topic_matches("helpdesk/zendesk/#", "helpdesk/zendesk"));
	assert_true(mapping_topic_matches("helpdesk/+/events", "helpdesk/a/events"));
	assert_false(mapping_topic_matches("helpdesk/+/events", "helpdesk/a/b/events"));
	assert_false(mapping_topic_matches("helpdesk/zendesk", "helpdesk/zendesk/x"));
	assert_false(mapping_topic_matches("#", "$SYS/broker"));
	assert_true(mapping_topic_matches("a/b", "a/b"));
	assert_false(mapping_topic_matches("a/b", "a/c"));
}

/* Overlap of two filters: is there a topic both match? The example must
 * be such a topic. */
static void
overlap(const char *a, const char *b, const char *want_example)
{
	char ex[64];
	bool got = mapping_filters_overlap(a, b, ex, sizeof(ex));
	bool back = mapping_filters_overlap(b, a, NULL, 0);

	if (got != (want_example != NULL) || back != got)
		fail_msg("'%s' vs '%s': overlap %d/%d, want %d", a, b, got, back,
			 want_example != NULL);
	if (!want_example)
		return;
	if (strcmp(ex, want_example) != 0)
		fail_msg("'%s' vs '%s': example '%s', want '%s'", a, b, ex, want_example);
	if (!mapping_topic_matches(a, ex) || !mapping_topic_matches(b, ex))
		fail_msg("'%s' vs '%s': example '%s' is not matched by both", a, b, ex);
}

static void
test_filter_overlap(void **state)
{
	char small[8];

	(void)state;
	/* The case of the review: a preset's old default and events_topic. */
	overlap("helpdesk/zendesk/#", "helpdesk/+/events", "helpdesk/zendesk/events");
	overlap("helpdesk/zendesk/webhook", "helpdesk/+/events", NULL);
	overlap("helpdesk/zendesk/+", "helpdesk/+/events", "helpdesk/zendesk/events");
	overlap("helpdesk/+/webhook", "helpdesk/+/events", NULL);
	overlap("a/b", "a/b", "a/b");
	overlap("a/b", "a/c", NULL);
	overlap("a/b", "a/b/c", NULL);
	overlap("a", "a/+", NULL);
	overlap("+", "+", "x");
	overlap("+/+", "+", NULL);
	overlap("+/b", "a/+", "a/b");
	/* '#' matches its parent level and any depth below. */
	overlap("#", "a/b/c", "a/b/c");
	overlap("#", "#", "x");
	overlap("a/#", "a", "a");
	overlap("a/#", "a/#", "a");
	overlap("a/#", "+/b/+", "a/b/x");
	overlap("a/#", "b/#", NULL);
	overlap("a/b/#", "a/+", "a/b");
	overlap("a/+/#", "a", NULL);
	/* Empty levels are levels. */
	overlap("/a", "+/a", "/a");
	overlap("a//b", "a/+/b", "a//b");
	overlap("a//b", "a/b", NULL);
	overlap("/", "+/+", "/");
	/* Wildcards first do not match '$' topics (MQTT 4.7.2). */
	overlap("#", "$SYS/broker", NULL);
	overlap("+/broker", "$SYS/broker", NULL);
	overlap("$SYS/#", "$SYS/+", "$SYS/x");
	overlap("a/#", "a/$x", "a/$x");
	/* Not filters: nothing overlaps them (and nothing breaks). */
	overlap("", "#", NULL);
	overlap("a/#/b", "a/#", NULL);
	overlap("a+", "a+", NULL);
	overlap("a/b#", "#", NULL);
	assert_false(mapping_filters_overlap(NULL, "#", small, sizeof(small)));
	assert_string_equal(small, "");
	assert_false(mapping_filters_overlap("#", NULL, NULL, 0));
	/* A long example is cut, never overflowing. */
	assert_true(
		mapping_filters_overlap("abcdef/ghijkl/#", "+/ghijkl/mnop", small, sizeof(small)));
	assert_string_equal(small, "abcdef/");
	assert_true(mapping_filters_overlap("#", "+", small, 1));
	assert_string_equal(small, "");
}

/* Two subscriptions that match one topic get each message on it twice:
 * refused where the config says it, whichever pair it is. */
static void
test_overlapping_topics_are_refused(void **state)
{
	static char src[MAPPING_SRC_MAX];
	char path[] = "/tmp/test_mapping_XXXXXX", cwd[256];
	struct conf *c = calloc(1, sizeof(*c));
	struct conf_error err = { 0 };
	struct mapping_set *s = NULL;
	const char *ev[] = { "helpdesk/+/events", "crm/in" };
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_non_null(c);
	assert_true(fd >= 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));

	/* Two mappings: the second one's topic line is named. */
	src[0] = '\0';
	assert_int_equal(
		mapping_src_add(src, sizeof(src), "mapping a", "topic", "hd/#", "t.conf", 2, &err),
		0);
	assert_int_equal(mapping_src_add(src, sizeof(src), "mapping a", "default.type", "heartbeat",
					 "t.conf", 3, &err),
			 0);
	assert_int_equal(
		mapping_src_add(src, sizeof(src), "mapping b", "topic", "+/x", "t.conf", 5, &err),
		0);
	assert_int_equal(mapping_src_add(src, sizeof(src), "mapping b", "default.type", "heartbeat",
					 "t.conf", 6, &err),
			 0);
	assert_int_equal(mapping_set_compile(src, "t.conf", "mappings", &s, &err), -EINVAL);
	assert_null(s);
	assert_int_equal(err.line, 5);
	assert_string_equal(err.key, "mapping b.topic");
	assert_string_equal(err.message,
			    "'+/x' and mapping a's 'hd/#' both match 'hd/x': the broker would "
			    "deliver it twice (the copy counts as a duplicate); use filters no "
			    "topic matches twice");

	/* A mapping against the events topics, given by the caller. */
	src[0] = '\0';
	assert_int_equal(mapping_src_add(src, sizeof(src), "mapping zd", "preset", "zendesk",
					 "t.conf", 7, &err),
			 0);
	assert_int_equal(mapping_src_add(src, sizeof(src), "mapping crm", "topic", "crm/+",
					 "t.conf", 9, &err),
			 0);
	assert_int_equal(mapping_src_add(src, sizeof(src), "mapping crm", "default.type",
					 "heartbeat", "t.conf", 10, &err),
			 0);
	assert_int_equal(mapping_set_compile(src, "t.conf", "mappings", &s, &err), 0);
	assert_int_equal(mapping_set_check_topics(s, ev, 1, "t.conf", 0, &err), 0);
	assert_int_equal(mapping_set_check_topics(s, ev, 2, "t.conf", 4, &err), -EINVAL);
	assert_int_equal(err.line, 9);
	assert_string_equal(err.key, "mapping crm.topic");
	assert_true(strstr(err.message, "'crm/+' and mqtt.events_topic 'crm/in' (line 4) both "
					"match 'crm/in'") == err.message);
	mapping_set_free(s);

	/* Through conf_load: an inline topic over the default events_topic. */
	f = fdopen(fd, "w");
	fprintf(f,
		"[board]\nid = b1\n\n[mapping zendesk]\npreset = %s/mappings/zendesk.conf\n"
		"topic = helpdesk/zendesk/#\n",
		cwd);
	fclose(f);
	assert_int_equal(conf_load(path, c, &err), -EINVAL);
	assert_int_equal(err.line, 6);
	assert_string_equal(err.key, "mapping zendesk.topic");
	assert_true(strstr(err.message, "'helpdesk/zendesk/#' and mqtt.events_topic "
					"'helpdesk/+/events' (the default) both match "
					"'helpdesk/zendesk/events'") == err.message);

	/* A preset's own topic is named at the preset line. */
	f = fopen(path, "w");
	fprintf(f,
		"[board]\nid = b1\n[mqtt]\nevents_topic = helpdesk/#\n\n"
		"[mapping jira]\npreset = %s/mappings/jira.conf\n",
		cwd);
	fclose(f);
	assert_int_equal(conf_load(path, c, &err), -EINVAL);
	assert_int_equal(err.line, 7);
	assert_string_equal(err.key, "mapping jira.topic");
	assert_true(strstr(err.message, "'helpdesk/jira/webhook' (the preset's topic) and "
					"mqtt.events_topic 'helpdesk/#' (line 4)") == err.message);

	/* The shipped presets' topics overlap neither the default
	 * events_topic nor each other. */
	f = fopen(path, "w");
	fprintf(f, "[board]\nid = b1\n");
	for (const char *const *p = (const char *const[]){ "zendesk", "freshdesk", "jira", NULL };
	     *p; p++)
		fprintf(f, "[mapping %s]\npreset = %s/mappings/%s.conf\n", *p, cwd, *p);
	fclose(f);
	if (conf_load(path, c, &err) < 0)
		fail_msg("%s:%d: %s: %s", err.file, err.line, err.key, err.message);
	unlink(path);
	free(c);
}

struct bad_case {
	const char *line; /* the key that is wrong, as "key = value" */
	const char *message;
};

static void
test_config_errors_name_file_line_key(void **state)
{
	static const struct bad_case cases[] = {
		{ "colour = red", "unknown key (see docs/mapping.md)" },
		{ "ticket.id = ticket/id", "must be a JSON pointer" },
		{ "ticket.id = /a~2b", "must be a JSON pointer" },
		{ "ticket.id = /a | /b | /c | /d | /e", "at most 4 pointers" },
		{ "map.ticket.channel = fb:myspace", "'myspace' is not a channel" },
		{ "map.ticket.priority = Urgent", "expected FROM:TO pairs" },
		{ "map.type = new:ticket.born", "'ticket.born' is not an event type" },
		{ "map.ts = a:b", "times are converted with time.ts, not mapped" },
		{ "default.ticket.public = maybe", "'maybe' is not true or false" },
		{ "default.id = x", "id takes no default" },
		{ "time.ts = julian", "must be one of: iso8601, rfc3339, epoch_s, epoch_ms" },
		{ "time.ticket.id = epoch_s", "ticket.id is not a time field" },
		{ "type.rule = /a == \"b\"", "expected CONDITION -> TYPE" },
		{ "type.rule = /a == \"b\" -> ticket.gone", "'ticket.gone' is not an event type" },
		{ "type.rule = a == \"b\" -> heartbeat", "is not a JSON pointer" },
		{ "type.rule = -> heartbeat", "no condition before '->'" },
		{ "id.fallback = maybe", "must be hash or none" },
		{ "topic = a/#/b", "must be one MQTT topic filter" },
		{ "items = events", "must be a JSON pointer to the array of items" },
		{ "prefix.ticket.priority = X", "only ids and text take a prefix" },
		{ "preset = nosuch", "cannot read preset 'mappings/nosuch.conf'" },
		{ "preset = x y", "is neither a preset name nor a path" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf_error err;
		char key[64];
		char want_key[96];
		struct mapping_set *s;

		snprintf(key, sizeof(key), "%.*s", (int)strcspn(cases[i].line, " "), cases[i].line);
		snprintf(want_key, sizeof(want_key), "mapping m.%s", key);
		/* The bad line first (line 2); a topic unless it is the case. */
		s = compile("m", &err, cases[i].line, "type.rule = * -> heartbeat",
			    strcmp(key, "topic") ? "topic = a/b" : NULL, NULL);
		if (s)
			fail_msg("'%s' was accepted", cases[i].line);
		assert_string_equal(err.file, "t.conf");
		assert_int_equal(err.line, 2);
		assert_string_equal(err.key, want_key);
		if (!strstr(err.message, cases[i].message))
			fail_msg("'%s': message '%s' lacks '%s'", cases[i].line, err.message,
				 cases[i].message);
	}
}

static void
test_config_section_rules(void **state)
{
	struct conf_error err;
	struct mapping_set *s;
	char src[64] = "";

	(void)state;
	s = compile("m", &err, "ticket.id = /id", "type.rule = * -> heartbeat", NULL);
	assert_null(s);
	assert_string_equal(err.key, "mapping m");
	assert_string_equal(err.message, "needs topic = the MQTT topic filter to map");
	s = compile("m", &err, "topic = a", "ticket.id = /id", NULL);
	assert_null(s);
	assert_string_equal(err.message,
			    "needs type.rule, type or default.type to tell the event type");
	s = compile("m", &err, "topic = a", "topic = b", NULL);
	assert_null(s);
	assert_int_equal(err.line, 3);
	assert_string_equal(err.message, "given twice (first on line 2)");
	s = compile("Bad Name", &err, "topic = a", NULL);
	assert_null(s);
	assert_int_equal(err.line, 2);
	assert_true(strstr(err.message, "[mapping NAME]") != NULL);
	/* The kept text has a cap; past it is an error, not a truncation. */
	assert_int_equal(mapping_src_add(src, sizeof(src), "mapping m", "topic",
					 "a/very/long/topic/that/does/not/fit/in/sixty/four/bytes",
					 "t.conf", 9, &err),
			 -EINVAL);
	assert_int_equal(err.line, 9);
	assert_string_equal(src, "");
	assert_false(mapping_section("mappings x", NULL));
	assert_false(mapping_section("board", NULL));
}

static void
test_inline_keys_override_the_preset(void **state)
{
	struct conf_error err;
	struct mapping_set *s =
		compile("zendesk", &err, "preset = zendesk", "topic = tickets/zd",
			"map.ticket.priority = Urgent:high, *:low",
			"type.rule = /event == \"created\" -> ticket.created", NULL);
	struct rec r;
	cJSON *out;

	(void)state;
	assert_non_null(s);
	assert_string_equal(mapping_topic(mapping_set_at(s, 0)), "tickets/zd");
	out = apply(s,
		    "[{\"event\":\"created\",\"ticket\":{\"id\":\"1\",\"priority\":\"Urgent\","
		    "\"via\":\"Mail\",\"updated_at\":\"2026-11-25T10:00Z\"}},"
		    "{\"event\":\"updated\",\"ticket\":{\"id\":\"1\",\"status\":\"Solved\","
		    "\"updated_at\":\"2026-11-25T10:01Z\"}}]",
		    &r);
	assert_string_equal(str_at(out, "0.ticket.priority"), "high"); /* inline map */
	assert_string_equal(str_at(out, "0.ticket.id"), "ZD-1");       /* preset key */
	/* Inline rules replace the preset's: "Solved" no longer solves. */
	assert_int_equal(r.rejected, 1);
	assert_true(strstr(r.reason[0], "no type.rule matched") != NULL);
	cJSON_Delete(out);
	mapping_set_free(s);
}

/* The config file route: [mapping NAME] in teamboard.conf, as conf_load
 * sees it (and --check-config reports it). */
static void
test_conf_load_takes_mapping_sections(void **state)
{
	char path[] = "/tmp/test_mapping_XXXXXX";
	struct conf *c = calloc(1, sizeof(*c));
	struct conf_error err = { 0 };
	struct mapping_set *s = NULL;
	int fd = mkstemp(path);
	char cwd[256];
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	f = fdopen(fd, "w");
	fprintf(f,
		"[board]\nid = b1\n\n[mapping zendesk]\npreset = %s/mappings/zendesk.conf\n"
		"topic = hd/zendesk/#\n\n[mapping crm]\ntopic = crm/+\n"
		"type.rule = * -> heartbeat\n",
		cwd);
	fclose(f);
	if (conf_load(path, c, &err) < 0)
		fail_msg("%s:%d: %s: %s", err.file, err.line, err.key, err.message);
	strcpy(c->mapping.preset_dir, "mappings"); /* not installed: the tree's */
	assert_int_equal(mapping_set_compile(c->mapping.src, path, "mappings", &s, &err), 0);
	assert_int_equal(mapping_set_count(s), 2);
	assert_string_equal(mapping_name(mapping_set_match(s, "hd/zendesk/t1")), "zendesk");
	assert_string_equal(mapping_name(mapping_set_match(s, "crm/x")), "crm");
	assert_null(mapping_set_match(s, "crm/x/y"));
	assert_non_null(mapping_set_find(s, "crm"));
	mapping_set_free(s);

	f = fopen(path, "w");
	fprintf(f, "[board]\nid = b1\n[mapping crm]\ntopic = crm/+\n"
		   "type.rule = /a = \"b\" -> heartbeat\n");
	fclose(f);
	assert_int_equal(conf_load(path, c, &err), -EINVAL);
	assert_int_equal(err.line, 5);
	assert_string_equal(err.key, "mapping crm.type.rule");
	unlink(path);
	free(c);
}

/* --- the shipped presets against the sample payloads ------------------- */

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void
check_sample(struct mapping_set *s, const char *dir, const char *name)
{
	char path[512], *in, *want;
	struct rec r;
	cJSON *out, *exp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	in = slurp(path);
	assert_non_null(in);
	out = apply(s, in, &r);
	snprintf(path, sizeof(path), "%s/%.*s.expected.json", dir, (int)(strlen(name) - 5), name);
	want = slurp(path);
	if (want) {
		exp = cJSON_Parse(want);
		assert_non_null(exp);
		if (r.rejected)
			fail_msg("%s/%s: rejected: %s", dir, name, r.reason[0]);
		if (!out || !cJSON_Compare(out, exp, true)) {
			char *got = out ? cJSON_Print(out) : NULL;

			fail_msg("%s/%s: got %s", dir, name, got ? got : "nothing");
		}
		assert_int_equal(r.accepted, cJSON_GetArraySize(exp));
		cJSON_Delete(exp);
	} else {
		snprintf(path, sizeof(path), "%s/%.*s.rejected", dir, (int)(strlen(name) - 5),
			 name);
		want = slurp(path);
		if (!want)
			fail_msg("%s/%s: no .expected.json or .rejected next to it", dir, name);
		want[strcspn(want, "\n")] = '\0';
		assert_int_equal(r.accepted, 0);
		assert_int_equal(r.rejected, 1);
		if (!strstr(r.reason[0], want))
			fail_msg("%s/%s: reason '%s' lacks '%s'", dir, name, r.reason[0], want);
	}
	cJSON_Delete(out);
	free(want);
	free(in);
}

static void
test_presets_map_their_samples(void **state)
{
	static const char *const presets[] = { "zendesk", "freshdesk", "jira" };
	unsigned checked = 0;

	(void)state;
	for (size_t p = 0; p < sizeof(presets) / sizeof(presets[0]); p++) {
		struct conf_error err;
		char dir[128];
		struct dirent *de;
		struct mapping_set *s = NULL;
		char src[256] = "", section[64];
		DIR *d;

		/* By name, found in the mappings/ folder; the section is named
		 * after the preset, as docs/mapping.md tells sites to. */
		snprintf(section, sizeof(section), "mapping %s", presets[p]);
		assert_int_equal(mapping_src_add(src, sizeof(src), section, "preset", presets[p],
						 "t.conf", 1, &err),
				 0);
		if (mapping_set_compile(src, "t.conf", "mappings", &s, &err) < 0)
			fail_msg("preset %s: %s:%d: %s: %s", presets[p], err.file, err.line,
				 err.key, err.message);
		snprintf(dir, sizeof(dir), "tests/mapping/%s", presets[p]);
		d = opendir(dir);
		assert_non_null(d);
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name);

			if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0 ||
			    strstr(de->d_name, ".expected."))
				continue;
			check_sample(s, dir, de->d_name);
			checked++;
		}
		closedir(d);
		mapping_set_free(s);
	}
	assert_true(checked >= 9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointers_and_escapes),
		cmocka_unit_test(test_value_maps_and_defaults),
		cmocka_unit_test(test_type_rules_in_order),
		cmocka_unit_test(test_time_formats),
		cmocka_unit_test(test_fallback_id_is_a_stable_hash),
		cmocka_unit_test(test_items_arrays_and_caps),
		cmocka_unit_test(test_topic_matching),
		cmocka_unit_test(test_filter_overlap),
		cmocka_unit_test(test_overlapping_topics_are_refused),
		cmocka_unit_test(test_config_errors_name_file_line_key),
		cmocka_unit_test(test_config_section_rules),
		cmocka_unit_test(test_inline_keys_override_the_preset),
		cmocka_unit_test(test_conf_load_takes_mapping_sections),
		cmocka_unit_test(test_presets_map_their_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
