/* libFuzzer target for event_parse: any payload a broker could deliver.
 *
 * Besides crashes, leaks and sanitizer reports it checks the promises other
 * modules rely on: every string in an accepted event is NUL-terminated
 * inside its buffer, valid UTF-8 and free of control characters; enums are
 * in range; reasons are clean; the return value matches the callbacks.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *     tests/fuzz/fuzz_event.c src/event.c src/timeutil.c \
 *     $(pkg-config --cflags --libs libcjson) -o /tmp/fuzz_event
 *   /tmp/fuzz_event -max_total_time=60 CORPUS_COPY/ tests/fuzz/corpus/event/
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "timeutil.h"

/* Small enough that the "too many events" path is reachable within the
 * fuzzer's default input size. */
#define FUZZ_MAX_EVENTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct counts {
	int accepted;
	int rejected;
	unsigned sink;
};

static void
check(bool ok)
{
	if (!ok)
		abort();
}

/* The string fits its buffer, is valid UTF-8 and has no C0/DEL/C1. */
static void
check_text(const char *s, size_t cap, unsigned *sink)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *nul = memchr(s, '\0', cap);

	check(nul != NULL);
	while (p < nul) {
		uint32_t c = *p;
		int n = c < 0x80             ? 1
			: (c & 0xe0) == 0xc0 ? 2
			: (c & 0xf0) == 0xe0 ? 3
			: (c & 0xf8) == 0xf0 ? 4
					     : 0;

		check(n > 0 && p + n <= nul);
		if (n > 1)
			c &= 0x7fu >> n;
		for (int i = 1; i < n; i++) {
			check((p[i] & 0xc0) == 0x80);
			c = (c << 6) | (p[i] & 0x3f);
		}
		/* No overlong forms, surrogates or code points past U+10FFFF. */
		check(n == 1 || c >= (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u));
		check(c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff));
		check(!(c < 0x20 || (c >= 0x7f && c <= 0x9f)));
		*sink += c;
		p += n;
	}
}

static void
check_id(const char *s, size_t cap, unsigned *sink)
{
	check(s[0] != '\0');
	check_text(s, cap, sink);
}

static void
check_time(int64_t ms, unsigned *sink)
{
	char buf[RFC3339_BUF];
	int64_t back = -1;

	check(ms >= 0);
	rfc3339_format(ms, buf);
	check(rfc3339_parse(buf, &back) == 0 && back == ms);
	*sink += (unsigned)buf[0];
}

static void
on_accept(void *userdata, const struct event *ev)
{
	struct counts *c = userdata;
	const struct event_ticket *t = &ev->ticket;

	c->accepted++;
	check((unsigned)ev->type < EVENT_TYPE_COUNT);
	check(event_type_name(ev->type) != NULL);
	check_id(ev->id, sizeof(ev->id), &c->sink);
	check_time(ev->ts_ms, &c->sink);
	check((unsigned)ev->sla < SLA_KIND_COUNT);
	c->sink += (unsigned)sla_kind_name(ev->sla)[0];
	check_text(ev->agent, sizeof(ev->agent), &c->sink);
	check((ev->agent[0] != '\0') == (ev->type == EVENT_TICKET_ASSIGNED));
	check_text(ev->incident_id, sizeof(ev->incident_id), &c->sink);
	check_text(ev->incident_title, sizeof(ev->incident_title), &c->sink);

	check(ev->has_ticket == (ev->type <= EVENT_SLA_RESUMED));
	if (!ev->has_ticket)
		return;
	check_id(t->id, sizeof(t->id), &c->sink);
	if (ev->type == EVENT_TICKET_CREATED)
		check(t->has_channel && t->has_priority);
	if (t->has_channel) {
		check((unsigned)t->channel < CHANNEL_COUNT);
		c->sink += (unsigned)channel_name(t->channel)[0];
	}
	if (t->has_priority) {
		check((unsigned)t->priority < PRIORITY_COUNT);
		c->sink += (unsigned)priority_name(t->priority)[0];
	}
	c->sink += t->has_public ? (unsigned)t->public + 1 : 0;
	check(t->has_subject || t->subject[0] == '\0');
	check(t->has_customer || t->customer[0] == '\0');
	check(t->has_queue || t->queue[0] == '\0');
	check_text(t->subject, sizeof(t->subject), &c->sink);
	check_text(t->customer, sizeof(t->customer), &c->sink);
	check_text(t->queue, sizeof(t->queue), &c->sink);
	for (int k = 0; k < SLA_KIND_COUNT; k++) {
		if (t->due_ms[k])
			check_time(t->due_ms[k], &c->sink);
	}
}

static void
on_reject(void *userdata, const char *event_id, const char *reason)
{
	struct counts *c = userdata;

	c->rejected++;
	check(reason != NULL && reason[0] != '\0');
	check(strlen(reason) < 256);
	check_text(reason, 256, &c->sink);
	if (event_id)
		check_id(event_id, EVENT_ID_MAX, &c->sink);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct counts c = { 0 };
	int rc = event_parse(data, size, FUZZ_MAX_EVENTS, on_accept, on_reject, &c);

	if (rc >= 0) {
		check(rc == c.accepted);
	} else {
		check(rc == -EINVAL && c.accepted == 0 && c.rejected == 1);
	}
	/* Keep the checks from being optimised away. */
	__asm__ volatile("" : : "r"(c.sink));
	return 0;
}
