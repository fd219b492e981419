/* loop: the single-threaded event loop (epoll + one monotonic timerfd +
 * signalfd).
 *
 * Timers and fd watchers are embedded in their owners and never allocated by
 * the loop. Timers are one-shot: a callback that wants to run again re-arms.
 * Callback arguments are valid until the callback returns.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct loop;

typedef void (*loop_timer_fn)(struct loop *loop, void *userdata);
typedef void (*loop_io_fn)(struct loop *loop, int fd, uint32_t revents, void *userdata);
typedef void (*loop_hook_fn)(struct loop *loop, void *userdata);
typedef void (*loop_signal_fn)(struct loop *loop, int signo, void *userdata);

struct loop_timer {
	uint64_t deadline_usec;
	loop_timer_fn cb;
	void *userdata;
	bool armed;
	struct loop_timer *next; /* sorted list of armed timers */
};

struct loop_io {
	int fd;
	uint32_t events; /* EPOLLIN | EPOLLOUT, level-triggered */
	loop_io_fn cb;
	void *userdata;
	bool added;
};

struct loop_hook {
	loop_hook_fn cb;
	void *userdata;
	struct loop_hook *next;
};

/* Creates the loop. `signals` are blocked and delivered to `on_signal`
 * through a signalfd (NULL set: none). Returns NULL with errno set. */
struct loop *loop_new(const sigset_t *signals, loop_signal_fn on_signal, void *userdata);
void loop_free(struct loop *loop);

/* Runs until loop_quit(); returns the code given to loop_quit(). */
int loop_run(struct loop *loop);
void loop_quit(struct loop *loop, int code);

/* Monotonic time cached at the start of the current iteration. */
uint64_t loop_now_usec(const struct loop *loop);

void loop_timer_init(struct loop_timer *t, loop_timer_fn cb, void *userdata);
/* Arms (or re-arms) `t` to fire once at the absolute monotonic deadline. */
void loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t deadline_usec);
void loop_timer_disarm(struct loop *loop, struct loop_timer *t);

void loop_io_init(struct loop_io *io, loop_io_fn cb, void *userdata);
/* Starts watching `fd` for `events`; calling again changes fd or events. */
int loop_io_watch(struct loop *loop, struct loop_io *io, int fd, uint32_t events);
/* Stops watching (safe on an unwatched io and on an fd already closed). */
void loop_io_unwatch(struct loop *loop, struct loop_io *io);

/* Registers a hook run before every sleep (batched writes, want_write). */
void loop_add_before_sleep(struct loop *loop, struct loop_hook *hook, loop_hook_fn cb,
			   void *userdata);

/* Wakes when CLOCK_REALTIME is stepped (TFD_TIMER_CANCEL_ON_SET); `cb`
 * gets the step size in ms (positive: forwards). */
typedef void (*loop_clock_step_fn)(struct loop *loop, int64_t step_ms, void *userdata);
int loop_watch_clock_steps(struct loop *loop, loop_clock_step_fn cb, void *userdata);

/* Iterations and wake-ups so far (health, benchmarks). */
uint64_t loop_wakeups(const struct loop *loop);
