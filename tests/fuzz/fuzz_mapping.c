/* libFuzzer target for mapping: a [mapping] section and a payload.
 *
 * Input: "key = value" lines of one [mapping f] section, a NUL byte, then
 * the payload as a broker would deliver it. When the lines do not compile
 * (most inputs), the payload still goes through a fixed mapping that uses
 * every kind of key, so both parsers get coverage. Besides crashes, leaks
 * and sanitizer reports it checks that a mapped payload is an array of
 * exactly the number of events reported, that event_parse() takes it
 * without calling it unusable, and that reasons are NUL-terminated and
 * name the mapping. `preset` keys are skipped: they open files. The first
 * two lines also go to mapping_filters_overlap() as two topic filters: it
 * must answer the same both ways round, and a topic it gives as an example
 * must match both filters.
 *
 *   make fuzz   (or see the Makefile's fuzz target for the command line)
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conferr.h"
#include "event.h"
#include "mapping.h"

#define FUZZ_MAX_EVENTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

static const char *const fixed_lines[] = {
	"topic = helpdesk/+/x",
	"id = /id | /event/id",
	"ts = /ts",
	"time.ts = iso8601",
	"ticket.id = /ticket/id",
	"prefix.ticket.id = F-",
	"ticket.channel = /ticket/via/channel",
	"map.ticket.channel = facebook_messenger:facebook, Mail:email, *:other",
	"ticket.priority = /ticket/priority",
	"map.ticket.priority = Urgent:urgent, High:high, Normal:normal, Low:low",
	"default.ticket.priority = normal",
	"ticket.public = /ticket/public",
	"ticket.subject = /ticket/subject",
	"ticket.due.first_response = /sla/0/due",
	"time.ticket.due.first_response = epoch_ms",
	"ticket.due.resolution = /sla/1/due",
	"time.ticket.due.resolution = epoch_s",
	"agent = /agent~1name",
	"type.rule = /trigger == \"created\" -> ticket.created",
	"type.rule = /status == \"solved\" && !/reopened -> ticket.solved",
	"type.rule = /assignee && /status != \"closed\" -> ticket.assigned",
	"type = /kind",
	"map.type = ping:heartbeat",
	"default.type = ticket.updated",
};

static struct mapping_set *fixed;

struct counts {
	int rejected;
	unsigned sink;
};

static void
on_reject(void *userdata, const char *event_id, const char *reason)
{
	struct counts *c = userdata;

	check(reason != NULL);
	c->sink += (unsigned)strlen(reason);
	if (event_id)
		c->sink += (unsigned)strlen(event_id);
	c->rejected++;
}

static void
on_accept(void *userdata, const struct event *ev)
{
	struct counts *c = userdata;

	c->sink += (unsigned)ev->type;
}

static struct mapping_set *
compile_lines(const char *const *lines, size_t n)
{
	static char src[MAPPING_SRC_MAX];
	struct conf_error err;
	struct mapping_set *s = NULL;

	src[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *eq = strstr(lines[i], " = ");
		char key[128];

		if (!eq || (size_t)(eq - lines[i]) >= sizeof(key))
			continue;
		memcpy(key, lines[i], (size_t)(eq - lines[i]));
		key[eq - lines[i]] = '\0';
		if (strcmp(key, "preset") == 0)
			continue;
		if (mapping_src_add(src, sizeof(src), "mapping f", key, eq + 3, "fuzz", (int)i + 1,
				    &err) < 0)
			return NULL;
	}
	if (mapping_set_compile(src, "fuzz", "mappings", &s, &err) < 0) {
		check(s == NULL);
		check(memchr(err.message, '\0', sizeof(err.message)) != NULL);
		return NULL;
	}
	return s;
}

static void
overlap(const char *a, const char *b)
{
	char ex[128];
	bool yes = mapping_filters_overlap(a, b, ex, sizeof(ex));

	check(yes == mapping_filters_overlap(b, a, NULL, 0));
	check(memchr(ex, '\0', sizeof(ex)) != NULL);
	/* A cut example need not match; a whole one must. */
	if (yes && strlen(ex) < sizeof(ex) - 1)
		check(mapping_topic_matches(a, ex) && mapping_topic_matches(b, ex));
}

static void
run(const struct mapping *m, const uint8_t *payload, size_t len)
{
	struct counts c = { 0 };
	char *out = NULL;
	int n = mapping_apply(m, payload, len, FUZZ_MAX_EVENTS, INT64_C(1795600800000), &out,
			      on_reject, &c);

	check(n == -EINVAL || n == -ENOMEM || n >= 0);
	if (n <= 0) {
		check(out == NULL);
		return;
	}
	check(out != NULL);
	cJSON *arr = cJSON_Parse(out);

	check(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == n);
	cJSON_Delete(arr);
	check(event_parse(out, strlen(out), FUZZ_MAX_EVENTS, on_accept, on_reject, &c) >= 0);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t conf_len = nul ? (size_t)(nul - data) : 0;
	const uint8_t *payload = nul ? nul + 1 : data;
	size_t len = nul ? size - conf_len - 1 : size;
	struct mapping_set *s = NULL;

	if (!fixed) {
		fixed = compile_lines(fixed_lines, sizeof(fixed_lines) / sizeof(fixed_lines[0]));
		check(fixed != NULL);
	}
	if (conf_len > 0 && conf_len < 8192) {
		char *text = malloc(conf_len + 1);
		const char *lines[64];
		size_t n = 0;

		check(text != NULL);
		memcpy(text, data, conf_len);
		text[conf_len] = '\0';
		for (char *p = text, *nl; p && n < 64; p = nl ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			lines[n++] = p;
		}
		s = compile_lines(lines, n);
		overlap(lines[0], n > 1 ? lines[1] : "#");
		free(text);
	}
	run(s ? mapping_set_at(s, 0) : mapping_set_at(fixed, 0), payload, len);
	mapping_set_free(s);
	return 0;
}
