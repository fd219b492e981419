/* loop: epoll, one monotonic timerfd for the earliest timer, signalfd. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 64

struct loop {
	int epfd;
	int tfd; /* CLOCK_MONOTONIC, earliest timer */
	int sfd; /* -1: no signals */
	int cfd; /* CLOCK_REALTIME step detector, -1: none */
	struct loop_io tfd_io, sfd_io, cfd_io;

	sigset_t signals, old_mask;
	loop_signal_fn on_signal;
	void *signal_userdata;

	loop_clock_step_fn on_step;
	void *step_userdata;
	int64_t wall_minus_mono_usec;

	/* Armed timers, sorted by deadline (FIFO among equal deadlines). Due
	 * timers move to `firing` before their callbacks run, so a callback
	 * that re-arms itself for "now" waits for the next iteration instead
	 * of starving the loop. */
	struct loop_timer *timers;
	struct loop_timer *firing;
	uint64_t tfd_deadline; /* programmed into tfd; UINT64_MAX: none */

	struct loop_hook *hooks;

	/* The batch being dispatched, so unwatching an io can drop its
	 * pending event (its owner may free it right after). */
	struct epoll_event events[LOOP_MAX_EVENTS];
	int dispatch_next, dispatch_n;

	uint64_t now_usec;
	uint64_t wakeups;
	bool quit;
	int quit_code;
};

static uint64_t
clock_usec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
list_insert(struct loop_timer **head, struct loop_timer *t)
{
	struct loop_timer **pp = head;

	while (*pp && (*pp)->deadline_usec <= t->deadline_usec)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
}

static bool
list_remove(struct loop_timer **head, struct loop_timer *t)
{
	struct loop_timer **pp;

	for (pp = head; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			t->next = NULL;
			return true;
		}
	}
	return false;
}

static void
tfd_program(struct loop *loop)
{
	struct itimerspec its = { 0 };
	uint64_t d = loop->timers ? loop->timers->deadline_usec : UINT64_MAX;

	if (d == loop->tfd_deadline)
		return;
	if (d != UINT64_MAX) {
		/* Relative, not TFD_TIMER_ABSTIME: libfaketime (the clock-step
		 * tests) shifts absolute timerfd times by its realtime offset even
		 * on CLOCK_MONOTONIC, which would stall or spin the loop. */
		uint64_t now = clock_usec(CLOCK_MONOTONIC);
		uint64_t rel = d > now ? d - now : 0;

		/* An all-zero it_value would disarm instead of firing now. */
		its.it_value.tv_sec = (time_t)(rel / 1000000u);
		its.it_value.tv_nsec = (long)(rel % 1000000u) * 1000;
		if (rel == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(loop->tfd, 0, &its, NULL) == 0)
		loop->tfd_deadline = d;
	else
		loop->tfd_deadline = UINT64_MAX;
}

static void
on_tfd(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	uint64_t expirations;

	(void)revents;
	(void)userdata;
	/* Level-triggered: an unread expiry would wake us forever. */
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	loop->tfd_deadline = UINT64_MAX;
}

static void
on_sfd(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct signalfd_siginfo si;

	(void)revents;
	(void)userdata;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (loop->on_signal)
			loop->on_signal(loop, (int)si.ssi_signo, loop->signal_userdata);
	}
}

static int64_t
wall_minus_mono(void)
{
	return (int64_t)clock_usec(CLOCK_REALTIME) - (int64_t)clock_usec(CLOCK_MONOTONIC);
}

static int
cfd_arm(struct loop *loop)
{
	/* A year ahead (re-armed if it ever expires): it only exists to be
	 * cancelled by a step. Computed in 64 bits and clamped, because on
	 * 32-bit Raspberry Pi OS time_t is 32 bits and a far-future constant
	 * would wrap into the past and fire in a busy loop. */
	struct itimerspec its = { 0 };
	int64_t when = (int64_t)time(NULL) + (int64_t)365 * 86400;

	if (sizeof(time_t) < sizeof(int64_t) && when > INT32_MAX)
		when = INT32_MAX;
	its.it_value.tv_sec = (time_t)when;
	loop->wall_minus_mono_usec = wall_minus_mono();
	if (timerfd_settime(loop->cfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
		return -errno;
	return 0;
}

static void
on_cfd(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	uint64_t expirations;
	int64_t before = loop->wall_minus_mono_usec;

	(void)revents;
	(void)userdata;
	if (read(fd, &expirations, sizeof(expirations)) >= 0) {
		cfd_arm(loop); /* a year has passed: keep watching */
		return;
	}
	if (errno != ECANCELED)
		return;
	/* Re-arming clears the cancelled state and records the new offset. */
	cfd_arm(loop);
	if (loop->on_step)
		loop->on_step(loop, (loop->wall_minus_mono_usec - before) / 1000,
			      loop->step_userdata);
}

struct loop *
loop_new(const sigset_t *signals, loop_signal_fn on_signal, void *userdata)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	int e;

	if (!loop)
		return NULL;
	loop->epfd = loop->tfd = loop->sfd = loop->cfd = -1;
	loop->tfd_deadline = UINT64_MAX;
	loop->now_usec = clock_usec(CLOCK_MONOTONIC);
	sigemptyset(&loop->signals);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto fail;
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (loop->tfd < 0)
		goto fail;
	loop_io_init(&loop->tfd_io, on_tfd, NULL);
	if ((errno = -loop_io_watch(loop, &loop->tfd_io, loop->tfd, EPOLLIN)) != 0)
		goto fail;
	if (signals && !sigisemptyset(signals)) {
		if (sigprocmask(SIG_BLOCK, signals, &loop->old_mask) < 0)
			goto fail;
		loop->signals = *signals; /* from now on loop_free restores */
		loop->on_signal = on_signal;
		loop->signal_userdata = userdata;
		loop->sfd = signalfd(-1, signals, SFD_NONBLOCK | SFD_CLOEXEC);
		if (loop->sfd < 0)
			goto fail;
		loop_io_init(&loop->sfd_io, on_sfd, NULL);
		if ((errno = -loop_io_watch(loop, &loop->sfd_io, loop->sfd, EPOLLIN)) != 0)
			goto fail;
	}
	return loop;
fail:
	e = errno;
	loop_free(loop);
	errno = e;
	return NULL;
}

void
loop_free(struct loop *loop)
{
	struct signalfd_siginfo si;

	if (!loop)
		return;
	if (loop->sfd >= 0) {
		/* Drop signals already queued, or unblocking would deliver them
		 * with their default action (a second SIGTERM kills us). */
		while (read(loop->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
	}
	if (!sigisemptyset(&loop->signals))
		sigprocmask(SIG_SETMASK, &loop->old_mask, NULL);
	if (loop->cfd >= 0)
		close(loop->cfd);
	if (loop->sfd >= 0)
		close(loop->sfd);
	if (loop->tfd >= 0)
		close(loop->tfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop);
}

static void
fire_timers(struct loop *loop)
{
	struct loop_timer *t;

	while (loop->timers && loop->timers->deadline_usec <= loop->now_usec) {
		t = loop->timers;
		loop->timers = t->next;
		t->next = NULL;
		list_insert(&loop->firing, t);
	}
	while ((t = loop->firing) && !loop->quit) {
		loop->firing = t->next;
		t->next = NULL;
		t->armed = false;
		if (t->cb)
			t->cb(loop, t->userdata);
	}
	/* loop_quit() in a callback: the rest stay armed for the next run. */
	while ((t = loop->firing)) {
		loop->firing = t->next;
		list_insert(&loop->timers, t);
	}
}

static void
run_hooks(struct loop *loop)
{
	struct loop_hook *h;

	for (h = loop->hooks; h && !loop->quit; h = h->next)
		if (h->cb)
			h->cb(loop, h->userdata);
}

static void
dispatch(struct loop *loop, int n)
{
	loop->dispatch_n = n;
	for (loop->dispatch_next = 0; loop->dispatch_next < loop->dispatch_n;) {
		struct epoll_event *ev = &loop->events[loop->dispatch_next++];
		struct loop_io *io = ev->data.ptr;

		/* NULL: unwatched by an earlier callback of this batch. */
		if (io && io->added && io->cb)
			io->cb(loop, io->fd, ev->events, io->userdata);
	}
	loop->dispatch_n = loop->dispatch_next = 0;
}

int
loop_run(struct loop *loop)
{
	int n, code;

	while (!loop->quit) {
		loop->now_usec = clock_usec(CLOCK_MONOTONIC);
		fire_timers(loop);
		if (loop->quit)
			break;
		run_hooks(loop);
		if (loop->quit)
			break;
		tfd_program(loop);
		n = epoll_wait(loop->epfd, loop->events, LOOP_MAX_EVENTS, -1);
		loop->wakeups++;
		loop->now_usec = clock_usec(CLOCK_MONOTONIC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			loop->quit = false;
			return -errno;
		}
		dispatch(loop, n);
	}
	code = loop->quit_code;
	loop->quit = false;
	loop->quit_code = 0;
	return code;
}

void
loop_quit(struct loop *loop, int code)
{
	loop->quit = true;
	loop->quit_code = code;
}

uint64_t
loop_now_usec(const struct loop *loop)
{
	return loop->now_usec;
}

uint64_t
loop_wakeups(const struct loop *loop)
{
	return loop->wakeups;
}

void
loop_timer_init(struct loop_timer *t, loop_timer_fn cb, void *userdata)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->userdata = userdata;
}

void
loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t deadline_usec)
{
	loop_timer_disarm(loop, t);
	t->deadline_usec = deadline_usec;
	t->armed = true;
	list_insert(&loop->timers, t);
}

void
loop_timer_disarm(struct loop *loop, struct loop_timer *t)
{
	if (!t->armed)
		return;
	if (!list_remove(&loop->timers, t))
		list_remove(&loop->firing, t);
	t->armed = false;
}

void
loop_io_init(struct loop_io *io, loop_io_fn cb, void *userdata)
{
	memset(io, 0, sizeof(*io));
	io->fd = -1;
	io->cb = cb;
	io->userdata = userdata;
}

static void
forget_pending(struct loop *loop, const struct loop_io *io)
{
	int i;

	for (i = loop->dispatch_next; i < loop->dispatch_n; i++)
		if (loop->events[i].data.ptr == io)
			loop->events[i].data.ptr = NULL;
}

int
loop_io_watch(struct loop *loop, struct loop_io *io, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (fd < 0)
		return -EBADF;
	if (io->added && io->fd == fd) {
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
		io->events = events;
		return 0;
	}
	loop_io_unwatch(loop, io);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	io->fd = fd;
	io->events = events;
	io->added = true;
	return 0;
}

void
loop_io_unwatch(struct loop *loop, struct loop_io *io)
{
	if (!io->added)
		return;
	/* Fails harmlessly when the fd was already closed (closing removes
	 * it from the epoll set). */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->added = false;
	forget_pending(loop, io);
}

void
loop_add_before_sleep(struct loop *loop, struct loop_hook *hook, loop_hook_fn cb, void *userdata)
{
	struct loop_hook **pp;

	hook->cb = cb;
	hook->userdata = userdata;
	for (pp = &loop->hooks; *pp; pp = &(*pp)->next)
		if (*pp == hook)
			return; /* already registered: just updated */
	hook->next = NULL;
	*pp = hook;
}

int
loop_watch_clock_steps(struct loop *loop, loop_clock_step_fn cb, void *userdata)
{
	int r;

	loop->on_step = cb;
	loop->step_userdata = userdata;
	if (loop->cfd >= 0)
		return 0;
	loop->cfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (loop->cfd < 0)
		return -errno;
	r = cfd_arm(loop);
	if (r == 0) {
		loop_io_init(&loop->cfd_io, on_cfd, NULL);
		r = loop_io_watch(loop, &loop->cfd_io, loop->cfd, EPOLLIN);
	}
	if (r < 0) {
		close(loop->cfd);
		loop->cfd = -1;
	}
	return r;
}
