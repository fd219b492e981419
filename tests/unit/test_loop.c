/* Unit tests for the infrastructure: loop, log and sdnotify.
 *
 * The loop reads the real monotonic clock, so timer tests use deadlines a
 * few milliseconds ahead and assert order and "never before the deadline",
 * never exact durations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "loop.h"
#include "sdnotify.h"

#define MSEC 1000u

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* A safety net: a loop test that hangs fails instead of blocking CI. */
struct guard {
	struct loop_timer timer;
};

static void
on_guard(struct loop *loop, void *userdata)
{
	(void)userdata;
	loop_quit(loop, -ETIMEDOUT);
}

static void
guard_arm(struct loop *loop, struct guard *g)
{
	loop_timer_init(&g->timer, on_guard, NULL);
	loop_timer_arm(loop, &g->timer, loop_now_usec(loop) + 2000 * MSEC);
}

/* --- timers ---------------------------------------------------------------- */

struct rec {
	struct loop_timer timer;
	int id;
	int *order;
	int *n;
	int quit_after; /* quit when *n reaches this */
	uint64_t fired_at;
};

static void
on_rec(struct loop *loop, void *userdata)
{
	struct rec *r = userdata;

	/* Never before the deadline, by the loop's clock and the real one. */
	assert_true(loop_now_usec(loop) >= r->timer.deadline_usec);
	assert_true(mono_usec() >= r->timer.deadline_usec);
	assert_false(r->timer.armed);
	r->fired_at = loop_now_usec(loop);
	r->order[(*r->n)++] = r->id;
	if (*r->n == r->quit_after)
		loop_quit(loop, 5);
}

static void
test_timers_fire_in_order(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	int order[8] = { 0 }, n = 0;
	struct rec r[5];
	static const int delay_ms[5] = { 6, 2, 4, 4, 1 };
	uint64_t start;
	struct guard g;
	int i;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	start = loop_now_usec(loop);
	for (i = 0; i < 5; i++) {
		r[i] = (struct rec){ .id = i, .order = order, .n = &n, .quit_after = 5 };
		loop_timer_init(&r[i].timer, on_rec, &r[i]);
		loop_timer_arm(loop, &r[i].timer, start + (uint64_t)delay_ms[i] * MSEC);
		assert_true(r[i].timer.armed);
	}
	assert_int_equal(loop_run(loop), 5);
	/* By deadline; equal deadlines in the order they were armed. */
	assert_int_equal(order[0], 4);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	assert_int_equal(order[3], 3);
	assert_int_equal(order[4], 0);
	assert_true(r[0].fired_at >= start + 6 * MSEC);
	loop_timer_disarm(loop, &g.timer);
	loop_free(loop);
}

struct rearm {
	struct loop_timer timer;
	int count;
	int limit;
	uint64_t step_usec;
	bool at_now;     /* re-arm for "now" rather than the future */
	int *io_seen_at; /* count when the io first ran */
};

static void
on_rearm(struct loop *loop, void *userdata)
{
	struct rearm *r = userdata;

	r->count++;
	if (r->count == r->limit) {
		loop_quit(loop, r->count);
		return;
	}
	loop_timer_arm(loop, &r->timer,
		       r->at_now ? loop_now_usec(loop) : loop_now_usec(loop) + r->step_usec);
}

static void
test_timer_rearms_itself(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct rearm r = { .limit = 4, .step_usec = 1 * MSEC };
	uint64_t start;
	struct guard g;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	/* The loop's clock, which the first deadline counts from: a start
	 * taken later (valgrind is slow) would make 4 ms look like less. */
	start = loop_now_usec(loop);
	loop_timer_init(&r.timer, on_rearm, &r);
	loop_timer_arm(loop, &r.timer, start + 1 * MSEC);
	assert_int_equal(loop_run(loop), 4);
	assert_int_equal(r.count, 4);
	assert_false(r.timer.armed);
	assert_true(mono_usec() - start >= 4 * MSEC);
	loop_free(loop);
}

struct pipe_io {
	struct loop_io io;
	int fds[2];
	int calls;
	int *order;
	int *n;
	int id;
	struct pipe_io *victim; /* unwatched (and closed) by this callback */
	bool unwatch_self;
	bool drain;
	int quit_code;
	struct rearm *timer_to_check;
};

static void
on_pipe(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct pipe_io *p = userdata;
	char buf[16];

	assert_int_equal(fd, p->fds[0]);
	assert_true(revents & EPOLLIN);
	p->calls++;
	if (p->order)
		p->order[(*p->n)++] = p->id;
	if (p->timer_to_check && !*p->timer_to_check->io_seen_at)
		*p->timer_to_check->io_seen_at = p->timer_to_check->count;
	if (p->drain)
		assert_true(read(fd, buf, sizeof(buf)) > 0);
	if (p->victim) {
		loop_io_unwatch(loop, &p->victim->io);
		close(p->victim->fds[0]);
		p->victim->fds[0] = -1;
		/* Its owner may even scribble over it now. */
		p->victim->io.fd = 12345;
	}
	if (p->unwatch_self)
		loop_io_unwatch(loop, &p->io);
	if (p->quit_code)
		loop_quit(loop, p->quit_code);
}

static void
pipe_open(struct pipe_io *p, int id)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	assert_int_equal(pipe2(p->fds, O_CLOEXEC | O_NONBLOCK), 0);
	loop_io_init(&p->io, on_pipe, p);
	assert_false(p->io.added);
}

static void
pipe_close(struct pipe_io *p)
{
	if (p->fds[0] >= 0)
		close(p->fds[0]);
	close(p->fds[1]);
}

/* A timer that keeps re-arming itself for "now" must not starve the fds:
 * a re-armed timer waits for the next iteration. */
static void
test_rearm_now_does_not_starve(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	int io_seen_at = 0;
	struct rearm r = { .limit = 50, .at_now = true, .io_seen_at = &io_seen_at };
	struct pipe_io p;
	struct guard g;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	pipe_open(&p, 1);
	p.drain = true;
	p.timer_to_check = &r;
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(loop_io_watch(loop, &p.io, p.fds[0], EPOLLIN), 0);
	loop_timer_init(&r.timer, on_rearm, &r);
	loop_timer_arm(loop, &r.timer, loop_now_usec(loop));
	assert_int_equal(loop_run(loop), 50);
	assert_int_equal(p.calls, 1);
	assert_true(io_seen_at >= 1 && io_seen_at < 5);
	assert_true(loop_wakeups(loop) >= 49);
	loop_io_unwatch(loop, &p.io);
	pipe_close(&p);
	loop_free(loop);
}

struct disarmer {
	struct loop_timer timer;
	struct loop_timer *victim;
	struct loop_timer *rearm_victim; /* re-arm instead of disarm */
	uint64_t rearm_at;
	int calls;
};

static void
on_disarmer(struct loop *loop, void *userdata)
{
	struct disarmer *d = userdata;

	d->calls++;
	if (d->victim)
		loop_timer_disarm(loop, d->victim);
	if (d->rearm_victim)
		loop_timer_arm(loop, d->rearm_victim, d->rearm_at);
}

static void
on_count(struct loop *loop, void *userdata)
{
	(void)loop;
	(*(int *)userdata)++;
}

static void
on_quit(struct loop *loop, void *userdata)
{
	(void)userdata;
	loop_quit(loop, 9);
}

static void
on_count_quit(struct loop *loop, void *userdata)
{
	(*(int *)userdata)++;
	loop_quit(loop, 9);
}

static void
on_tick(struct loop *loop, void *userdata)
{
	struct loop_timer *t = userdata;

	loop_timer_arm(loop, t, loop_now_usec(loop) + 1 * MSEC);
}

/* Quits once the loop has slept `at` times: ends a test by iterations,
 * not by wall time, so a slow machine (valgrind) cannot reorder it. */
struct quitter {
	struct loop_hook hook;
	uint64_t at;
};

static void
on_quitter(struct loop *loop, void *userdata)
{
	struct quitter *q = userdata;

	if (loop_wakeups(loop) >= q->at)
		loop_quit(loop, 9);
}

static void
test_disarm_other_in_callback(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct disarmer d = { 0 }, d2 = { 0 };
	struct loop_timer victim, moved;
	int victim_calls = 0, moved_calls = 0;
	uint64_t t0;
	struct guard g;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	t0 = loop_now_usec(loop);
	/* Same deadline: both are due in one iteration, and the first
	 * cancels the second before it runs. */
	loop_timer_init(&d.timer, on_disarmer, &d);
	loop_timer_init(&victim, on_count, &victim_calls);
	d.victim = &victim;
	loop_timer_arm(loop, &d.timer, t0 + 2 * MSEC);
	loop_timer_arm(loop, &victim, t0 + 2 * MSEC);
	/* And one that is moved later by another callback fires once, later
	 * (and ends the test). */
	loop_timer_init(&d2.timer, on_disarmer, &d2);
	loop_timer_init(&moved, on_count_quit, &moved_calls);
	d2.rearm_victim = &moved;
	d2.rearm_at = t0 + 6 * MSEC;
	loop_timer_arm(loop, &d2.timer, t0 + 3 * MSEC);
	loop_timer_arm(loop, &moved, t0 + 3 * MSEC);
	assert_int_equal(loop_run(loop), 9);
	assert_int_equal(d.calls, 1);
	assert_int_equal(victim_calls, 0);
	assert_false(victim.armed);
	assert_int_equal(d2.calls, 1);
	assert_int_equal(moved_calls, 1);
	/* Disarming twice, or a timer never armed, is harmless. */
	loop_timer_disarm(loop, &victim);
	loop_timer_disarm(loop, &victim);
	loop_timer_disarm(loop, &g.timer);
	loop_free(loop);
}

static void
test_io_pipe(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct pipe_io p;
	struct guard g;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	pipe_open(&p, 1);
	p.drain = true;
	p.quit_code = 42;
	assert_int_equal(loop_io_watch(loop, &p.io, p.fds[0], EPOLLIN), 0);
	assert_true(p.io.added);
	assert_int_equal(p.io.fd, p.fds[0]);
	assert_int_equal(write(p.fds[1], "ping", 4), 4);
	assert_int_equal(loop_run(loop), 42);
	assert_int_equal(p.calls, 1);
	/* Watching again changes the events; an fd in the set twice fails. */
	assert_int_equal(loop_io_watch(loop, &p.io, p.fds[0], EPOLLIN | EPOLLOUT), 0);
	assert_int_equal(p.io.events, EPOLLIN | EPOLLOUT);
	{
		struct loop_io dup;

		loop_io_init(&dup, NULL, NULL);
		assert_int_equal(loop_io_watch(loop, &dup, p.fds[0], EPOLLIN), -EEXIST);
		assert_false(dup.added);
	}
	assert_int_equal(loop_io_watch(loop, &p.io, -1, EPOLLIN), -EBADF);
	loop_io_unwatch(loop, &p.io);
	assert_false(p.io.added);
	loop_io_unwatch(loop, &p.io); /* twice: harmless */
	loop_timer_disarm(loop, &g.timer);
	pipe_close(&p);
	loop_free(loop);
}

/* Two fds ready in one batch: whichever runs first unwatches and closes
 * the other, which then must not be called. */
static void
test_unwatch_other_in_callback(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct quitter q = { .at = 4 };
	struct loop_timer tick;
	struct pipe_io a, b;
	struct guard g;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	pipe_open(&a, 1);
	pipe_open(&b, 2);
	a.victim = &b;
	b.victim = &a;
	a.drain = b.drain = true;
	assert_int_equal(write(a.fds[1], "a", 1), 1);
	assert_int_equal(write(b.fds[1], "b", 1), 1);
	assert_int_equal(loop_io_watch(loop, &a.io, a.fds[0], EPOLLIN), 0);
	assert_int_equal(loop_io_watch(loop, &b.io, b.fds[0], EPOLLIN), 0);
	/* Keep iterating after the batch, to catch a late wrong call. */
	loop_timer_init(&tick, on_tick, &tick);
	loop_timer_arm(loop, &tick, loop_now_usec(loop) + 1 * MSEC);
	loop_add_before_sleep(loop, &q.hook, on_quitter, &q);
	assert_int_equal(loop_run(loop), 9);
	assert_int_equal(a.calls + b.calls, 1);
	assert_false(a.calls ? b.io.added : a.io.added);
	loop_io_unwatch(loop, &a.io);
	loop_io_unwatch(loop, &b.io);
	loop_timer_disarm(loop, &tick);
	loop_timer_disarm(loop, &g.timer);
	pipe_close(&a);
	pipe_close(&b);
	loop_free(loop);
}

/* Level-triggered: unread data would call again on every iteration, unless
 * the callback unwatched itself. */
static void
test_unwatch_self(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct quitter quit = { .at = 5 };
	struct pipe_io p, q;
	struct guard g;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	pipe_open(&p, 1);
	pipe_open(&q, 2);
	p.unwatch_self = true; /* never reads: would spin if still watched */
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(write(q.fds[1], "y", 1), 1);
	assert_int_equal(loop_io_watch(loop, &p.io, p.fds[0], EPOLLIN), 0);
	assert_int_equal(loop_io_watch(loop, &q.io, q.fds[0], EPOLLIN), 0);
	loop_add_before_sleep(loop, &quit.hook, on_quitter, &quit);
	assert_int_equal(loop_run(loop), 9);
	assert_int_equal(p.calls, 1);
	assert_false(p.io.added);
	/* The control: q was never drained or unwatched, so it kept firing. */
	assert_int_equal(q.calls, 5);
	loop_io_unwatch(loop, &q.io);
	loop_timer_disarm(loop, &g.timer);
	pipe_close(&p);
	pipe_close(&q);
	loop_free(loop);
}

struct hooks {
	struct loop_hook h1, h2;
	int order[64];
	int n;
	int quit_at;
};

static void
on_hook1(struct loop *loop, void *userdata)
{
	struct hooks *h = userdata;

	if (h->n < 64)
		h->order[h->n++] = 1;
	if (h->n >= h->quit_at)
		loop_quit(loop, 3);
}

static void
on_hook2(struct loop *loop, void *userdata)
{
	struct hooks *h = userdata;

	(void)loop;
	if (h->n < 64)
		h->order[h->n++] = 2;
}

static void
test_before_sleep_hooks(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct hooks h = { .quit_at = 9 };
	struct loop_timer tick;
	struct guard g;
	int i;

	(void)state;
	assert_non_null(loop);
	guard_arm(loop, &g);
	loop_add_before_sleep(loop, &h.h1, on_hook1, &h);
	loop_add_before_sleep(loop, &h.h2, on_hook2, &h);
	loop_add_before_sleep(loop, &h.h1, on_hook1, &h); /* again: not twice */
	loop_timer_init(&tick, on_tick, &tick);
	loop_timer_arm(loop, &tick, loop_now_usec(loop) + 1 * MSEC);
	assert_int_equal(loop_run(loop), 3);
	/* In registration order, every iteration, one sleep after each pair;
	 * hook 1 quit in the 5th iteration, so hook 2 did not run then. */
	assert_int_equal(h.n, 9);
	for (i = 0; i < 8; i++)
		assert_int_equal(h.order[i], i % 2 + 1);
	assert_int_equal(h.order[8], 1);
	assert_int_equal(loop_wakeups(loop), 4);
	loop_timer_disarm(loop, &tick);
	loop_timer_disarm(loop, &g.timer);
	loop_free(loop);
}

struct sig {
	int signo;
	int calls;
};

static void
on_signal(struct loop *loop, int signo, void *userdata)
{
	struct sig *s = userdata;

	s->signo = signo;
	s->calls++;
	loop_quit(loop, 7);
}

static void
test_signals(void **state)
{
	sigset_t set, mask;
	struct sig s = { 0 };
	struct loop *loop;
	struct guard g;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	loop = loop_new(&set, on_signal, &s);
	assert_non_null(loop);
	guard_arm(loop, &g);
	/* Blocked now: raise() leaves it pending for the signalfd instead of
	 * killing the test. */
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &mask), 0);
	assert_true(sigismember(&mask, SIGUSR1));
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(loop_run(loop), 7);
	assert_int_equal(s.signo, SIGUSR1);
	assert_int_equal(s.calls, 1);
	/* A signal still queued at loop_free is dropped, not delivered. */
	assert_int_equal(raise(SIGUSR1), 0);
	loop_timer_disarm(loop, &g.timer);
	loop_free(loop);
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &mask), 0);
	assert_false(sigismember(&mask, SIGUSR1));
}

static void
test_quit_and_rerun(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct loop_timer end;
	uint64_t before;

	(void)state;
	assert_non_null(loop);
	/* quit before run: returns at once, without sleeping. */
	loop_quit(loop, 11);
	assert_int_equal(loop_run(loop), 11);
	assert_int_equal(loop_wakeups(loop), 0);
	/* The next run starts afresh. */
	loop_timer_init(&end, on_quit, NULL);
	before = loop_now_usec(loop);
	loop_timer_arm(loop, &end, before + 2 * MSEC);
	assert_int_equal(loop_run(loop), 9);
	assert_true(loop_now_usec(loop) >= before + 2 * MSEC);
	loop_free(loop);
}

static void
on_step(struct loop *loop, int64_t step_ms, void *userdata)
{
	(void)loop;
	*(int64_t *)userdata = step_ms;
}

/* A real clock step needs CAP_SYS_TIME; this checks the watcher is set up
 * and does not fire on its own. */
static void
test_clock_step_watcher(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	int64_t step = INT64_MIN;
	struct loop_timer end;

	(void)state;
	assert_non_null(loop);
	assert_int_equal(loop_watch_clock_steps(loop, on_step, &step), 0);
	assert_int_equal(loop_watch_clock_steps(loop, on_step, &step), 0); /* idempotent */
	loop_timer_init(&end, on_quit, NULL);
	loop_timer_arm(loop, &end, loop_now_usec(loop) + 3 * MSEC);
	assert_int_equal(loop_run(loop), 9);
	assert_true(step == INT64_MIN);
	loop_free(loop);
}

/* Every fd the loop opens is closed again (a daemon reloads for months). */
static void
test_no_fd_leak(void **state)
{
	int before = count_fds();
	sigset_t set;
	int i;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	for (i = 0; i < 3; i++) {
		struct loop *loop = loop_new(&set, NULL, NULL);

		assert_non_null(loop);
		assert_int_equal(loop_watch_clock_steps(loop, on_step, NULL), 0);
		assert_true(count_fds() >= before + 4);
		loop_free(loop);
		assert_int_equal(count_fds(), before);
	}
	loop_free(NULL);
}

/* --- log ------------------------------------------------------------------- */

struct capture {
	int saved;
	int fds[2];
	char buf[8192];
};

static void
capture_start(struct capture *c)
{
	assert_int_equal(pipe2(c->fds, O_CLOEXEC | O_NONBLOCK), 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(c->fds[1], STDERR_FILENO), STDERR_FILENO);
}

/* Returns everything written since capture_start (or the last call). */
static const char *
capture_read(struct capture *c)
{
	ssize_t n = read(c->fds[0], c->buf, sizeof(c->buf) - 1);

	c->buf[n > 0 ? n : 0] = '\0';
	return c->buf;
}

static void
capture_stop(struct capture *c)
{
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	close(c->fds[0]);
	close(c->fds[1]);
}

static void
test_log_prefixes_and_levels(void **state)
{
	struct capture c;
	struct stat st;
	char js[64];

	(void)state;
	unsetenv("JOURNAL_STREAM");
	capture_start(&c);
	log_init(LOG_LEVEL_INFO);
	log_error("disk %s", "full");
	assert_string_equal(capture_read(&c), "error: disk full\n");
	log_warning("w");
	assert_string_equal(capture_read(&c), "warning: w\n");
	log_notice("n");
	assert_string_equal(capture_read(&c), "notice: n\n");
	log_info("i");
	assert_string_equal(capture_read(&c), "info: i\n");
	log_debug("hidden");
	assert_string_equal(capture_read(&c), "");
	log_set_max_level(LOG_LEVEL_DEBUG);
	log_debug("d");
	assert_string_equal(capture_read(&c), "debug: d\n");

	/* Another stream's JOURNAL_STREAM (inherited, or "2>file"): plain. */
	setenv("JOURNAL_STREAM", "8:12345", 1);
	log_init(LOG_LEVEL_INFO);
	log_error("e");
	assert_string_equal(capture_read(&c), "error: e\n");
	/* Ours: journald prefixes. */
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init(LOG_LEVEL_WARNING);
	log_error("e");
	assert_string_equal(capture_read(&c), "<3>e\n");
	log_warning("w");
	assert_string_equal(capture_read(&c), "<4>w\n");
	log_notice("not shown");
	assert_string_equal(capture_read(&c), "");
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_LEVEL_INFO);
	capture_stop(&c);
}

static void
test_log_hostile_text(void **state)
{
	struct capture c;
	char *big;
	const char *out;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_LEVEL_INFO);
	capture_start(&c);
	/* An embedded newline must not forge a second line. */
	log_warning("Bad event '%s'", "x\n<3>fake\ttab");
	assert_string_equal(capture_read(&c), "warning: Bad event 'x\\x0a<3>fake\\x09tab'\n");
	/* A huge message is cut to about 2 KiB, marked, in one line. */
	big = malloc(100000);
	assert_non_null(big);
	memset(big, 'z', 99999);
	big[99999] = '\0';
	errno = EPIPE;
	log_error("%s", big);
	assert_int_equal(errno, EPIPE); /* callers log, then use errno */
	out = capture_read(&c);
	assert_true(strlen(out) <= 2100 && strlen(out) > 2000);
	assert_non_null(strstr(out, "zzz...\n"));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	free(big);
	capture_stop(&c);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_log_ratelimit(void **state)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000000ULL, 2);
	struct capture c;
	const char *out;
	int i;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_LEVEL_INFO);
	capture_start(&c);
	for (i = 0; i < 6; i++)
		log_ratelimited(&rl, LOG_LEVEL_WARNING, "Reconnect %d", i);
	out = capture_read(&c);
	assert_string_equal(out, "warning: Reconnect 0\nwarning: Reconnect 1\n");
	assert_int_equal(rl.suppressed, 4);
	/* One interval later one token is back (time travel by moving the
	 * window back, not by sleeping: the interval is far longer than this
	 * test runs); the count rides on the next line. */
	rl.window_start_usec -= rl.interval_usec;
	log_ratelimited(&rl, LOG_LEVEL_WARNING, "Reconnect %d", 6);
	assert_string_equal(capture_read(&c),
			    "warning: Reconnect 6 (4 similar messages suppressed)\n");
	log_ratelimited(&rl, LOG_LEVEL_WARNING, "Reconnect %d", 7);
	assert_string_equal(capture_read(&c), "");
	/* Long quiet: the whole burst is back. */
	rl.window_start_usec -= 10 * rl.interval_usec;
	for (i = 0; i < 3; i++)
		log_ratelimited(&rl, LOG_LEVEL_WARNING, "again");
	out = capture_read(&c);
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, "(1 similar messages suppressed)"));
	/* Filtered levels neither print nor use tokens. */
	rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(3600 * 1000000ULL, 1);
	log_ratelimited(&rl, LOG_LEVEL_DEBUG, "quiet");
	log_ratelimited(&rl, LOG_LEVEL_WARNING, "loud");
	assert_string_equal(capture_read(&c), "warning: loud\n");
	capture_stop(&c);
}

/* --- sdnotify ---------------------------------------------------------------- */

static int
listen_dgram(struct sockaddr_un *sa, socklen_t *len, bool abstract)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "teamboard-test-%d", getpid());
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				   strlen(sa->sun_path + 1));
	} else {
		snprintf(sa->sun_path, sizeof(sa->sun_path), "/tmp/teamboard-notify-%d", getpid());
		unlink(sa->sun_path);
		*len = sizeof(*sa);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)sa, *len), 0);
	return fd;
}

static void
test_sdnotify(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	char env[128], buf[64];
	ssize_t n;
	int fd;

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sdnotify("READY=1"), 0);

	fd = listen_dgram(&sa, &len, false);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	assert_int_equal(sdnotify("READY=1"), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_int_equal(n, 7);
	buf[n] = '\0';
	assert_string_equal(buf, "READY=1");
	close(fd);
	unlink(sa.sun_path);
	/* Nobody listening any more. */
	assert_true(sdnotify("STOPPING=1") < 0);

	fd = listen_dgram(&sa, &len, true);
	snprintf(env, sizeof(env), "@%s", sa.sun_path + 1);
	setenv("NOTIFY_SOCKET", env, 1);
	assert_int_equal(sdnotify("STATUS=ready, 3 unacked"), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "STATUS=ready, 3 unacked");
	close(fd);

	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(sdnotify("READY=1"), -EAFNOSUPPORT);
	memset(env, 'a', sizeof(env) - 1);
	env[0] = '/';
	env[sizeof(env) - 1] = '\0';
	setenv("NOTIFY_SOCKET", env, 1);
	assert_int_equal(sdnotify("READY=1"), -ENAMETOOLONG);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_watchdog_usec(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%d", getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	/* Inherited from a parent: not ours to ping. */
	snprintf(pid, sizeof(pid), "%d", getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_PID", "garbage", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "30s", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_order),
		cmocka_unit_test(test_timer_rearms_itself),
		cmocka_unit_test(test_rearm_now_does_not_starve),
		cmocka_unit_test(test_disarm_other_in_callback),
		cmocka_unit_test(test_io_pipe),
		cmocka_unit_test(test_unwatch_other_in_callback),
		cmocka_unit_test(test_unwatch_self),
		cmocka_unit_test(test_before_sleep_hooks),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_quit_and_rerun),
		cmocka_unit_test(test_clock_step_watcher),
		cmocka_unit_test(test_no_fd_leak),
		cmocka_unit_test(test_log_prefixes_and_levels),
		cmocka_unit_test(test_log_hostile_text),
		cmocka_unit_test(test_log_ratelimit),
		cmocka_unit_test(test_sdnotify),
		cmocka_unit_test(test_watchdog_usec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
