/* deadline: a microbenchmark of the alert engine's SLA deadline bookkeeping
 * at 1k, 10k and 100k open tickets (docs/performance.md, "Scale").
 *
 * For each size it fills a fresh engine with tickets whose first-response
 * due times are spread over the next hours, then times (median of many
 * calls, CLOCK_MONOTONIC ns per call):
 *   next      alerts_next_deadline(), what the loop asks before each sleep;
 *   fire      alerts_tick() at the earliest deadline (one SLA warning fires
 *             and the ticket's next deadline is rescheduled);
 *   insert    alerts_apply() of one more ticket.created.
 * and the growth of the process's RSS while filling (the engine's memory).
 * Prints one JSON object per size on stdout; run one size per process for
 * a clean RSS figure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "event.h"
#include "timeutil.h"

#define SAMPLES 2001

struct ctx {
	struct alerts *a;
	struct alerts_now now;
	long applied;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void
on_event(void *userdata, const struct event *ev)
{
	struct ctx *c = userdata;

	if (alerts_apply(c->a, ev, &c->now) >= 0)
		c->applied++;
}

static void
on_reject(void *userdata, const char *id, const char *reason)
{
	(void)userdata;
	fprintf(stderr, "deadline: rejected %s: %s\n", id ? id : "?", reason);
	exit(1);
}

static void
iso(int64_t ms, char *buf)
{
	rfc3339_format(ms, buf);
}

static void
create(struct ctx *c, long n, long seq)
{
	char ts[RFC3339_BUF], due[RFC3339_BUF], json[512];
	/* due 1..4 h ahead, spread pseudo-randomly so the heap is exercised */
	int64_t due_ms = c->now.wall_ms + 3600000 + (int64_t)((seq * 7919) % 10800) * 1000;

	iso(c->now.wall_ms, ts);
	iso(due_ms, due);
	int len =
		snprintf(json, sizeof(json),
			 "{\"v\":1,\"id\":\"e%ld\",\"type\":\"ticket.created\",\"ts\":\"%s\","
			 "\"ticket\":{\"id\":\"T-%ld\",\"channel\":\"email\",\"priority\":\"low\","
			 "\"due\":{\"first_response\":\"%s\"}}}",
			 seq, ts, seq, due);
	(void)n;
	event_parse(json, (size_t)len, 1, on_event, on_reject, c);
}

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static double
median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return (double)v[n / 2];
}

/* VmRSS of this process in kB, 0 if unknown. */
static long
rss_kb(void)
{
	char line[256];
	long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
run(long n)
{
	static uint64_t t[SAMPLES];
	struct alerts_config cfg = { .warn_at_pct = 80,
				     .chirp_min_priority = PRIORITY_URGENT,
				     .max_tickets = 1000000 };
	struct ctx c = { .now = { .mono_usec = time_mono_usec(), .wall_ms = time_wall_ms() } };
	volatile uint64_t sink = 0;
	uint64_t t0;
	long seq;

	c.a = alerts_new(&cfg, &(struct alerts_effects){ 0 }, NULL, &c.now);
	if (!c.a) {
		fprintf(stderr, "deadline: alerts_new failed\n");
		exit(1);
	}
	long rss0 = rss_kb();
	t0 = now_ns();
	for (seq = 0; seq < n; seq++)
		create(&c, n, seq);
	double fill_s = (double)(now_ns() - t0) / 1e9;
	long engine_kb = rss_kb() - rss0;

	for (size_t i = 0; i < SAMPLES; i++) {
		t0 = now_ns();
		for (int k = 0; k < 100; k++)
			sink += alerts_next_deadline(c.a);
		t[i] = (now_ns() - t0) / 100;
	}
	double next_ns = median(t, SAMPLES);

	/* Each tick at the earliest deadline fires one warning (80 % of the
	 * budget) and reschedules that ticket to its breach. */
	size_t fired = 0;
	uint64_t start_usec = c.now.mono_usec;

	for (; fired < SAMPLES; fired++) {
		uint64_t due = alerts_next_deadline(c.a);

		if (due == UINT64_MAX)
			break; /* a small engine runs out of deadlines */
		c.now.mono_usec = due;
		t0 = now_ns();
		alerts_tick(c.a, &c.now);
		t[fired] = now_ns() - t0;
	}
	double fire_ns = fired ? median(t, fired) : 0;
	/* back to a sane "now" for the inserts (due times are wall-based) */
	c.now.mono_usec = start_usec;

	for (size_t i = 0; i < SAMPLES; i++) {
		t0 = now_ns();
		create(&c, n, seq++);
		t[i] = now_ns() - t0;
	}
	double insert_ns = median(t, SAMPLES);

	printf("{\"tickets\":%ld,\"events_applied\":%ld,\"fill_s\":%.3f,\"engine_rss_kb\":%ld,"
	       "\"next_deadline_ns\":%.0f,\"fire_one_ns\":%.0f,\"insert_ns\":%.0f}\n",
	       n, c.applied, fill_s, engine_kb, next_ns, fire_ns, insert_ns);
	fflush(stdout);
	(void)sink;
	alerts_free(c.a);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: deadline N...\n");
		return 64;
	}
	for (int i = 1; i < argc; i++)
		run(atol(argv[i]));
	return 0;
}
