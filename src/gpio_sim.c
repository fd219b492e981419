/* gpio_sim: an in-process GPIO chip for demos and tests (SPEC §9-10).
 *
 * It takes the same board profile as the real backend, so the daemon is wired
 * exactly as on a Pi; output levels are remembered with a short history and
 * buttons are "pressed" through gpio_sim_set_button() (the control socket's
 * `sim press`).
 *
 * With TEAMBOARD_SIM_TRACE=/path in the environment, every output transition
 * and button edge is also appended to that file as one line
 * "<CLOCK_MONOTONIC ns> <role> <0|1>" (e.g. "81234567890 lamp.red 1"), with
 * one write(2) each so a reader sees it at once. Outputs are stamped when
 * they are set; button edges with the edge's own time (microseconds).
 * Benchmarks use it for latencies; tests use it to see the outputs driven
 * off at exit. Unset (the default) it costs one branch per transition.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpio.h"
#include "timeutil.h"

struct sim_ring {
	struct gpio_sim_transition t[GPIO_SIM_HISTORY];
	unsigned head; /* next slot to write */
	unsigned count;
};

struct sim_chip {
	bool value[OUTPUT_COUNT];
	struct sim_ring history[OUTPUT_COUNT];
	bool button[BOARD_MAX_BUTTONS];
	int trace_fd; /* TEAMBOARD_SIM_TRACE, -1 if unset */
};

/* One trace line; a failed or short write is dropped: the trace is a
 * diagnostic and must never disturb the board. */
static void
sim_trace(const struct sim_chip *c, uint64_t at_ns, const char *role, const char *suffix,
	  bool value)
{
	struct timespec ts;
	char line[128];
	int n;

	if (c->trace_fd < 0)
		return;
	if (!at_ns) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		at_ns = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
	}
	n = snprintf(line, sizeof(line), "%" PRIu64 " %s%s %d\n", at_ns, role, suffix,
		     value ? 1 : 0);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(c->trace_fd, line, (size_t)n);
}

static struct sim_chip *
sim_chip(const struct gpio *g)
{
	return g->priv;
}

static int
sim_open(struct gpio *g, const struct board_profile *p, char *why, size_t why_size)
{
	struct sim_chip *c;
	const char *trace;

	/* The profile normally comes from board.c, but the sim is also fed
	 * hand-made profiles (tests, tools): don't trust the count. */
	if (p->n_buttons > BOARD_MAX_BUTTONS) {
		if (why && why_size)
			snprintf(why, why_size, "sim: profile has %u buttons, at most %d",
				 p->n_buttons, BOARD_MAX_BUTTONS);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		if (why && why_size)
			snprintf(why, why_size, "sim: out of memory");
		return -ENOMEM;
	}
	c->trace_fd = -1;
	trace = getenv("TEAMBOARD_SIM_TRACE");
	if (trace && trace[0]) {
		c->trace_fd = open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (c->trace_fd < 0) {
			int err = errno;

			if (why && why_size)
				snprintf(why, why_size,
					 "sim: cannot open TEAMBOARD_SIM_TRACE '%s': %s", trace,
					 strerror(err));
			free(c);
			return -err;
		}
	}
	g->priv = c;
	return 0;
}

static void
sim_close(struct gpio *g)
{
	struct sim_chip *c = sim_chip(g);

	if (c && c->trace_fd >= 0)
		close(c->trace_fd);
	free(g->priv);
	g->priv = NULL;
}

static int
sim_set(struct gpio *g, enum output o, bool on)
{
	struct sim_chip *c = sim_chip(g);
	struct sim_ring *r;

	if (!c || (unsigned)o >= OUTPUT_COUNT)
		return -EINVAL;
	/* Like a real line: writing the same level again is no transition. */
	if (c->value[o] == on)
		return 0;
	c->value[o] = on;
	r = &c->history[o];
	r->t[r->head].at_usec = time_mono_usec();
	r->t[r->head].value = on;
	r->head = (r->head + 1) % GPIO_SIM_HISTORY;
	if (r->count < GPIO_SIM_HISTORY)
		r->count++;
	sim_trace(c, 0, gpio_role_name(o), "", on);
	return 0;
}

static int
sim_get_button(struct gpio *g, unsigned button, bool *pressed)
{
	struct sim_chip *c = sim_chip(g);

	if (!c || button >= g->profile.n_buttons || !pressed)
		return -EINVAL;
	*pressed = c->button[button];
	return 0;
}

static size_t
sim_fds(struct gpio *g, int *fds, size_t max)
{
	(void)g;
	(void)fds;
	(void)max;
	return 0;
}

static int
sim_dispatch(struct gpio *g, int fd)
{
	(void)g;
	(void)fd;
	return -EBADF;
}

/* The sim chip is built from the profile itself, so every role resolves:
 * lines are numbered in profile order (outputs, then buttons) and nobody
 * else can hold them. */
static int
sim_describe(const struct board_profile *p, struct gpio_line_info *info, size_t n, char *why,
	     size_t why_size)
{
	(void)why;
	(void)why_size;
	for (size_t i = 0; i < n; i++) {
		struct gpio_line_info *li = &info[i];

		snprintf(li->chip, sizeof(li->chip), "sim");
		/* a [chip] path is longer than a label: keep its start */
		snprintf(li->chip_label, sizeof(li->chip_label), "%.*s",
			 (int)sizeof(li->chip_label) - 1,
			 p->chip_label[0] ? p->chip_label : p->chip_path);
		li->offset = (unsigned)i;
		snprintf(li->name, sizeof(li->name), "%s", li->want ? li->want->name : "");
		li->active_low = li->want && li->want->active_low;
		li->bias = li->want ? li->want->bias : BIAS_AS_IS;
	}
	return 0;
}

const struct gpio_ops gpio_sim_ops = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.set = sim_set,
	.get_button = sim_get_button,
	.fds = sim_fds,
	.dispatch = sim_dispatch,
	.describe = sim_describe,
};

int
gpio_sim_backend_set_button(struct gpio *g, unsigned button, bool pressed, uint64_t at_usec)
{
	struct sim_chip *c = sim_chip(g);

	if (!c || button >= g->profile.n_buttons)
		return -EINVAL;
	/* A real line only interrupts on a change; repeating the level must
	 * not look like a second press. */
	if (c->button[button] == pressed)
		return 0;
	c->button[button] = pressed;
	/* the edge's own time, the one debounce and gestures count from */
	sim_trace(c, at_usec * 1000, "button.", g->profile.buttons[button].id, pressed);
	if (g->on_edge)
		g->on_edge(g->userdata, button, pressed, at_usec);
	return 0;
}

size_t
gpio_sim_backend_history(const struct gpio *g, enum output o, struct gpio_sim_transition *out,
			 size_t max)
{
	const struct sim_chip *c = sim_chip(g);
	const struct sim_ring *r;
	size_t n, first;

	if (!c || (unsigned)o >= OUTPUT_COUNT || !out)
		return 0;
	r = &c->history[o];
	n = r->count < max ? r->count : max;
	/* the newest n, oldest first */
	first = (r->head + GPIO_SIM_HISTORY - n) % GPIO_SIM_HISTORY;
	for (size_t i = 0; i < n; i++)
		out[i] = r->t[(first + i) % GPIO_SIM_HISTORY];
	return n;
}
