/* gpio: the backend-independent half of the GPIO interface (see gpio.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpio.h"

const char *
gpio_role_name(enum output o)
{
	static const char *const names[OUTPUT_COUNT] = {
		[OUTPUT_RED] = "lamp.red",     [OUTPUT_AMBER] = "lamp.amber",
		[OUTPUT_GREEN] = "lamp.green", [OUTPUT_BLUE] = "lamp.blue",
		[OUTPUT_BUZZER] = "buzzer",
	};

	return (unsigned)o < OUTPUT_COUNT ? names[o] : "unknown";
}

void
gpio_why(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_size)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

const char *
gpio_access_hint(int err)
{
	if (err == EACCES || err == EPERM)
		return " (is the user in the 'gpio' group?)";
	return "";
}

const struct gpio_ops *
gpio_backend(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "libgpiod") == 0)
		return &gpio_gpiod_ops;
	if (strcmp(name, "sim") == 0)
		return &gpio_sim_ops;
	return NULL;
}

struct gpio *
gpio_new(const struct gpio_ops *ops, const struct board_profile *p, gpio_edge_fn on_edge,
	 void *userdata, char *why, size_t why_size)
{
	struct gpio *g;
	int r;

	if (why && why_size)
		why[0] = '\0';
	if (!ops || !p) {
		if (why && why_size)
			snprintf(why, why_size, "no GPIO backend or board profile");
		errno = EINVAL;
		return NULL;
	}

	g = calloc(1, sizeof(*g));
	if (!g) {
		if (why && why_size)
			snprintf(why, why_size, "out of memory");
		return NULL;
	}
	g->ops = ops;
	g->profile = *p;
	g->on_edge = on_edge;
	g->userdata = userdata;

	r = ops->open(g, &g->profile, why, why_size);
	if (r < 0) {
		/* open() leaves nothing behind on failure, so no close(). */
		free(g);
		errno = -r;
		return NULL;
	}

	/* The request already asked for "off", but a backend that cannot
	 * request with an initial value relies on this; a failure is counted
	 * (gpio_errors) rather than fatal so the board still shows alerts on
	 * the outputs that work. */
	gpio_all_off(g);
	return g;
}

void
gpio_free(struct gpio *g)
{
	if (!g)
		return;
	gpio_all_off(g);
	g->ops->close(g);
	free(g);
}

int
gpio_set(struct gpio *g, enum output o, bool on)
{
	int r;

	if (!g || (unsigned)o >= OUTPUT_COUNT)
		return -EINVAL;
	if (!g->profile.outputs[o].present || g->out[o] == on)
		return 0;
	r = g->ops->set(g, o, on);
	if (r < 0) {
		/* g->out keeps the last value the line really took, so the
		 * next gpio_set() with the same wish retries. */
		g->errors++;
		return r;
	}
	g->out[o] = on;
	return 0;
}

bool
gpio_get_output(const struct gpio *g, enum output o)
{
	if (!g || (unsigned)o >= OUTPUT_COUNT)
		return false;
	return g->out[o];
}

bool
gpio_has_output(const struct gpio *g, enum output o)
{
	if (!g || (unsigned)o >= OUTPUT_COUNT)
		return false;
	return g->profile.outputs[o].present;
}

int
gpio_all_off(struct gpio *g)
{
	int ret = 0;

	if (!g)
		return -EINVAL;
	for (unsigned o = 0; o < OUTPUT_COUNT; o++) {
		int r;

		if (!g->profile.outputs[o].present)
			continue;
		/* Not gpio_set(): the safe state must not depend on the cached
		 * value being right (e.g. after a failed set). */
		r = g->ops->set(g, (enum output)o, false);
		if (r < 0) {
			g->errors++;
			if (ret == 0)
				ret = r;
			continue;
		}
		g->out[o] = false;
	}
	return ret;
}

size_t
gpio_fds(struct gpio *g, int *fds, size_t max)
{
	if (!g || !g->ops->fds)
		return 0;
	return g->ops->fds(g, fds, max);
}

int
gpio_dispatch(struct gpio *g, int fd)
{
	if (!g || !g->ops->dispatch)
		return -EINVAL;
	return g->ops->dispatch(g, fd);
}

unsigned
gpio_errors(const struct gpio *g)
{
	return g ? g->errors : 0;
}

const struct board_profile *
gpio_profile(const struct gpio *g)
{
	return g ? &g->profile : NULL;
}

bool
gpio_is_sim(const struct gpio *g)
{
	/* Compares open(), not the table: whoever copies gpio_sim_ops to
	 * wrap a callback (tests do) still has a sim chip in g->priv. */
	return g && g->ops && g->ops->open == gpio_sim_ops.open;
}

int
gpio_sim_set_button(struct gpio *g, unsigned button, bool pressed, uint64_t at_usec)
{
	if (!gpio_is_sim(g))
		return -EOPNOTSUPP;
	return gpio_sim_backend_set_button(g, button, pressed, at_usec);
}

size_t
gpio_sim_history(const struct gpio *g, enum output o, struct gpio_sim_transition *out, size_t max)
{
	if (!gpio_is_sim(g))
		return 0;
	return gpio_sim_backend_history(g, o, out, max);
}

int
gpio_describe(const struct gpio_ops *ops, const struct board_profile *p,
	      struct gpio_line_info *info, size_t max, char *why, size_t why_size)
{
	size_t n = 0;
	int r;

	if (why && why_size)
		why[0] = '\0';
	if (!ops || !p || (!info && max))
		return -EINVAL;
	if (!ops->describe) {
		if (why && why_size)
			snprintf(why, why_size, "the %s backend cannot describe its lines",
				 ops->name);
		return -EOPNOTSUPP;
	}
	if (p->n_buttons > BOARD_MAX_BUTTONS)
		return -EINVAL;
	for (unsigned o = 0; o < OUTPUT_COUNT; o++) {
		if (!p->outputs[o].present)
			continue;
		if (n == max)
			return -ENOBUFS;
		memset(&info[n], 0, sizeof(info[n]));
		snprintf(info[n].role, sizeof(info[n].role), "%s", gpio_role_name(o));
		info[n].want = &p->outputs[o];
		info[n].is_output = true; /* what the role wants; backends report the kernel's */
		n++;
	}
	for (unsigned b = 0; b < p->n_buttons; b++) {
		if (n == max)
			return -ENOBUFS;
		memset(&info[n], 0, sizeof(info[n]));
		snprintf(info[n].role, sizeof(info[n].role), "button.%s", p->buttons[b].id);
		info[n].want = &p->buttons[b].line;
		n++;
	}
	r = ops->describe(p, info, n, why, why_size);
	return r < 0 ? r : (int)n;
}
