/* gpio_gpiod: the libgpiod v1 (1.6) backend, as on Debian 12 / Raspberry Pi
 * OS bookworm. Everything v1-specific lives here; a v2 backend gets its own
 * file with the same ops.
 *
 * The chip is found by label or path, lines by name or offset, never by a
 * gpiochipN number (the Pi 5 renumbered its header chip). Each button is
 * its own event request, hence one fd per button.
 */
/* libgpiod 1.6 hands struct timespec across its ABI (struct
 * gpiod_line_event), and Debian 12's 32-bit build of it has a 32-bit time_t:
 * this file must see the library's time_t even when the program is built
 * with a 64-bit one (-D_TIME_BITS=64 on armhf). No time_t leaves this file. */
#undef _TIME_BITS
#undef _FILE_OFFSET_BITS

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpiod.h>

#include "gpio.h"
#include "log.h"
#include "timeutil.h"

#define CONSUMER    "teamboard"
#define EVENT_BATCH 16 /* the v1 kernel FIFO holds 16 events */
#define EVENT_ROUNDS                                                                               \
	4 /* batches per dispatch: a chattering line must                                          \
	   * not starve the loop (epoll is level-triggered) */
/* v1 timestamps are CLOCK_REALTIME before Linux 5.7: anything this far from
 * the monotonic clock is not a monotonic timestamp. */
#define EVENT_TS_MAX_AGE_USEC (10 * 60 * USEC_PER_SEC)

struct gpiod_state {
	struct gpiod_chip *chip;
	const char *chip_desc; /* the profile's label or path */
	struct gpiod_line *out[OUTPUT_COUNT];
	struct gpiod_line *btn[BOARD_MAX_BUTTONS];
	int btn_fd[BOARD_MAX_BUTTONS];
	bool btn_level[BOARD_MAX_BUTTONS]; /* last level reported */
};

/* "GPIO24 (offset 24)" or "offset 24" when the line has no name. */
static void
line_desc(struct gpiod_line *line, char *buf, size_t size)
{
	const char *name = gpiod_line_name(line);

	if (name && *name)
		snprintf(buf, size, "%s (offset %u)", name, gpiod_line_offset(line));
	else
		snprintf(buf, size, "offset %u", gpiod_line_offset(line));
}

/* Names the chips that do exist, so a wrong label is fixed in one go. */
static void
list_chips(char *buf, size_t size)
{
	struct gpiod_chip_iter *it;
	struct gpiod_chip *chip;
	size_t len = 0;
	unsigned n = 0;

	buf[0] = '\0';
	it = gpiod_chip_iter_new();
	if (!it)
		return;
	gpiod_foreach_chip(it, chip)
	{
		int w = snprintf(buf + len, size - len, "%s%s '%s'", n ? ", " : "",
				 gpiod_chip_name(chip), gpiod_chip_label(chip));
		if (w < 0 || (size_t)w >= size - len)
			break;
		len += (size_t)w;
		n++;
	}
	gpiod_chip_iter_free(it);
	if (n == 0)
		snprintf(buf, size, "none");
}

static struct gpiod_chip *
open_chip(const struct board_profile *p, char *why, size_t why_size, int *err)
{
	struct gpiod_chip *chip;
	char chips[256];

	if (p->chip_label[0]) {
		chip = gpiod_chip_open_by_label(p->chip_label);
		if (chip)
			return chip;
		*err = errno ? errno : ENODEV;
		if (*err == ENOENT) {
			list_chips(chips, sizeof(chips));
			gpio_why(
				why, why_size,
				"chip '%s' not found: no GPIO chip has this label (chips here: %s)",
				p->chip_label, chips);
			*err = ENODEV;
		} else {
			gpio_why(why, why_size, "chip '%s': cannot open GPIO chips: %s%s",
				 p->chip_label, strerror(*err), gpio_access_hint(*err));
		}
		return NULL;
	}
	if (p->chip_path[0]) {
		chip = gpiod_chip_open(p->chip_path);
		if (chip)
			return chip;
		*err = errno ? errno : ENODEV;
		if (*err == ENOENT)
			gpio_why(why, why_size, "chip '%s' not found", p->chip_path);
		else if (*err == ENOTTY || *err == ENODEV)
			gpio_why(why, why_size, "chip '%s' is not a GPIO chip device",
				 p->chip_path);
		else
			gpio_why(why, why_size, "chip '%s': cannot open: %s%s", p->chip_path,
				 strerror(*err), gpio_access_hint(*err));
		return NULL;
	}
	gpio_why(why, why_size, "board profile names no chip ([chip] label or path)");
	*err = EINVAL;
	return NULL;
}

static struct gpiod_line *
find_line(struct gpiod_state *s, const char *role, const struct board_line *bl, char *why,
	  size_t why_size, int *err)
{
	struct gpiod_line *line;

	if (bl->name[0]) {
		line = gpiod_chip_find_line(s->chip, bl->name);
		if (line)
			return line;
		*err = errno ? errno : ENOENT;
		if (*err == ENOENT)
			gpio_why(why, why_size, "%s: line '%s' not found on chip '%s'", role,
				 bl->name, s->chip_desc);
		else
			gpio_why(why, why_size, "%s: cannot look up line '%s' on chip '%s': %s",
				 role, bl->name, s->chip_desc, strerror(*err));
		return NULL;
	}
	if (bl->offset < 0) {
		gpio_why(why, why_size, "%s: neither line name nor offset given", role);
		*err = EINVAL;
		return NULL;
	}
	line = gpiod_chip_get_line(s->chip, (unsigned)bl->offset);
	if (line)
		return line;
	*err = errno ? errno : EINVAL;
	if (*err == EINVAL)
		gpio_why(why, why_size, "%s: offset %d not on chip '%s' (%s has %u lines)", role,
			 bl->offset, s->chip_desc, gpiod_chip_name(s->chip),
			 gpiod_chip_num_lines(s->chip));
	else
		gpio_why(why, why_size, "%s: cannot get line at offset %d on chip '%s': %s", role,
			 bl->offset, s->chip_desc, strerror(*err));
	return NULL;
}

static int
request_flags(const struct board_line *bl)
{
	int flags = bl->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;

	switch (bl->bias) {
	case BIAS_DISABLE:
		flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
		break;
	case BIAS_PULL_UP:
		flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
		break;
	case BIAS_PULL_DOWN:
		flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
		break;
	case BIAS_AS_IS:
		break;
	}
	return flags;
}

static void
request_failed(struct gpiod_state *s, const char *role, struct gpiod_line *line,
	       const struct board_line *bl, int err, char *why, size_t why_size)
{
	char desc[BOARD_NAME_MAX + 32];
	const char *consumer;

	line_desc(line, desc, sizeof(desc));
	if (err == EBUSY) {
		/* the cached line info predates the other user's request */
		gpiod_line_update(line);
		consumer = gpiod_line_consumer(line);
		gpio_why(why, why_size, "%s: line %s on %s is busy (used by '%s')", role, desc,
			 gpiod_chip_name(s->chip), consumer ? consumer : "?");
	} else if (err == EINVAL && bl->bias != BIAS_AS_IS) {
		gpio_why(why, why_size,
			 "%s: cannot request line %s on %s: %s (bias needs Linux 5.5 or later)",
			 role, desc, gpiod_chip_name(s->chip), strerror(err));
	} else {
		gpio_why(why, why_size, "%s: cannot request line %s on %s: %s%s", role, desc,
			 gpiod_chip_name(s->chip), strerror(err), gpio_access_hint(err));
	}
}

static void
state_free(struct gpiod_state *s)
{
	if (!s)
		return;
	/* closing the chip releases every line requested from it */
	if (s->chip)
		gpiod_chip_close(s->chip);
	free(s);
}

static int
gpiod_open(struct gpio *g, const struct board_profile *p, char *why, size_t why_size)
{
	struct gpiod_state *s;
	char role[48];
	int err = 0;

	if (p->n_buttons > BOARD_MAX_BUTTONS) {
		gpio_why(why, why_size, "profile has %u buttons, at most %d", p->n_buttons,
			 BOARD_MAX_BUTTONS);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		gpio_why(why, why_size, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < BOARD_MAX_BUTTONS; i++)
		s->btn_fd[i] = -1;
	s->chip_desc = p->chip_label[0] ? p->chip_label : p->chip_path;

	s->chip = open_chip(p, why, why_size, &err);
	if (!s->chip)
		goto fail;

	for (unsigned o = 0; o < OUTPUT_COUNT; o++) {
		const struct board_line *bl = &p->outputs[o];
		struct gpiod_line *line;

		if (!bl->present)
			continue;
		line = find_line(s, gpio_role_name(o), bl, why, why_size, &err);
		if (!line)
			goto fail;
		/* Default 0 is logical: with active_low the line goes high,
		 * i.e. the lamp is off from the first instant. */
		if (gpiod_line_request_output_flags(line, CONSUMER, request_flags(bl), 0) < 0) {
			err = errno;
			request_failed(s, gpio_role_name(o), line, bl, err, why, why_size);
			goto fail;
		}
		s->out[o] = line;
	}

	for (unsigned b = 0; b < p->n_buttons; b++) {
		const struct board_line *bl = &p->buttons[b].line;
		struct gpiod_line *line;
		int v;

		snprintf(role, sizeof(role), "button.%s", p->buttons[b].id);
		line = find_line(s, role, bl, why, why_size, &err);
		if (!line)
			goto fail;
		if (gpiod_line_request_both_edges_events_flags(line, CONSUMER, request_flags(bl)) <
		    0) {
			err = errno;
			request_failed(s, role, line, bl, err, why, why_size);
			goto fail;
		}
		s->btn[b] = line;
		s->btn_fd[b] = gpiod_line_event_get_fd(line);
		v = gpiod_line_get_value(line);
		/* edges are reported relative to this level */
		s->btn_level[b] = v > 0;
	}

	g->priv = s;
	log_debug("gpio: %s opened on chip %s '%s' (libgpiod %s)", p->path,
		  gpiod_chip_name(s->chip), gpiod_chip_label(s->chip), gpiod_version_string());
	return 0;

fail:
	state_free(s);
	return -(err ? err : EIO);
}

static void
gpiod_close(struct gpio *g)
{
	state_free(g->priv);
	g->priv = NULL;
}

static int
gpiod_set(struct gpio *g, enum output o, bool on)
{
	struct gpiod_state *s = g->priv;

	if (!s || (unsigned)o >= OUTPUT_COUNT || !s->out[o])
		return -EINVAL;
	if (gpiod_line_set_value(s->out[o], on ? 1 : 0) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static int
gpiod_get_button(struct gpio *g, unsigned button, bool *pressed)
{
	struct gpiod_state *s = g->priv;
	int v;

	if (!s || button >= g->profile.n_buttons || !s->btn[button] || !pressed)
		return -EINVAL;
	v = gpiod_line_get_value(s->btn[button]);
	if (v < 0)
		return errno ? -errno : -EIO;
	*pressed = v > 0;
	return 0;
}

static size_t
gpiod_fds(struct gpio *g, int *fds, size_t max)
{
	struct gpiod_state *s = g->priv;
	size_t n = 0;

	if (!s || !fds)
		return 0;
	for (unsigned b = 0; b < g->profile.n_buttons && n < max; b++)
		if (s->btn_fd[b] >= 0)
			fds[n++] = s->btn_fd[b];
	return n;
}

static uint64_t
event_usec(const struct gpiod_line_event *ev, uint64_t now_usec)
{
	uint64_t at;

	if (ev->ts.tv_sec < 0)
		return now_usec;
	at = (uint64_t)ev->ts.tv_sec * USEC_PER_SEC + (uint64_t)ev->ts.tv_nsec / 1000u;
	if (at > now_usec || now_usec - at > EVENT_TS_MAX_AGE_USEC)
		return now_usec;
	return at;
}

static void
report(struct gpio *g, struct gpiod_state *s, unsigned b, bool level, uint64_t at_usec)
{
	if (s->btn_level[b] == level)
		return;
	s->btn_level[b] = level;
	if (g->on_edge)
		g->on_edge(g->userdata, b, level, at_usec);
}

static int
gpiod_dispatch(struct gpio *g, int fd)
{
	struct gpiod_state *s = g->priv;
	struct gpiod_line_event ev[EVENT_BATCH];
	uint64_t now, last_at;
	unsigned b;
	int v;

	if (!s || fd < 0)
		return -EBADF;
	for (b = 0; b < g->profile.n_buttons; b++)
		if (s->btn_fd[b] == fd)
			break;
	if (b == g->profile.n_buttons)
		return -EBADF;

	now = time_mono_usec();
	last_at = now;
	for (unsigned round = 0; round < EVENT_ROUNDS; round++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		/* the fd is blocking: read only what is known to be there */
		if (round > 0 && (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN)))
			break;
		n = gpiod_line_event_read_fd_multiple(fd, ev, EVENT_BATCH);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return errno ? -errno : -EIO;
		}
		/* Each event is "the line changed"; a press and its release
		 * inside one batch are both reported, repeats of the same
		 * level (the kernel reads the level late, so a bounce can give
		 * two rising edges in a row) are not. */
		for (int i = 0; i < n; i++) {
			last_at = event_usec(&ev[i], now);
			report(g, s, b, ev[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE, last_at);
		}
		if (n < EVENT_BATCH)
			break;
	}

	/* The level now is the truth: events can be lost (FIFO overflow) or
	 * out of step with it. */
	v = gpiod_line_get_value(s->btn[b]);
	if (v < 0)
		return errno ? -errno : -EIO;
	report(g, s, b, v > 0, last_at);
	return 0;
}

static enum bias
line_bias(struct gpiod_line *line)
{
	switch (gpiod_line_bias(line)) {
	case GPIOD_LINE_BIAS_DISABLE:
		return BIAS_DISABLE;
	case GPIOD_LINE_BIAS_PULL_UP:
		return BIAS_PULL_UP;
	case GPIOD_LINE_BIAS_PULL_DOWN:
		return BIAS_PULL_DOWN;
	default:
		return BIAS_AS_IS;
	}
}

/* Only reads line info (GPIO_GET_LINEINFO_IOCTL): nothing is requested, so
 * it is safe while the daemon or anyone else holds the lines. */
static int
gpiod_describe(const struct board_profile *p, struct gpio_line_info *info, size_t n, char *why,
	       size_t why_size)
{
	struct gpiod_state s = { .chip_desc = p->chip_label[0] ? p->chip_label : p->chip_path };
	int err = 0;

	s.chip = open_chip(p, why, why_size, &err);
	if (!s.chip)
		return -(err ? err : ENODEV);
	for (size_t i = 0; i < n; i++) {
		struct gpio_line_info *li = &info[i];
		struct gpiod_line *line;
		const char *str;
		char line_why[8];

		snprintf(li->chip, sizeof(li->chip), "%s", gpiod_chip_name(s.chip));
		snprintf(li->chip_label, sizeof(li->chip_label), "%s", gpiod_chip_label(s.chip));
		err = 0;
		line = find_line(&s, li->role, li->want, line_why, sizeof(line_why), &err);
		if (!line) {
			li->err = -(err ? err : ENOENT);
			continue;
		}
		li->offset = gpiod_line_offset(line);
		str = gpiod_line_name(line);
		snprintf(li->name, sizeof(li->name), "%s", str ? str : "");
		li->used = gpiod_line_is_used(line);
		str = gpiod_line_consumer(line);
		snprintf(li->consumer, sizeof(li->consumer), "%s", str ? str : "");
		li->is_output = gpiod_line_direction(line) == GPIOD_LINE_DIRECTION_OUTPUT;
		li->active_low = gpiod_line_active_state(line) == GPIOD_LINE_ACTIVE_STATE_LOW;
		li->bias = line_bias(line);
	}
	gpiod_chip_close(s.chip);
	return 0;
}

const struct gpio_ops gpio_gpiod_ops = {
	.name = "libgpiod",
	.open = gpiod_open,
	.close = gpiod_close,
	.set = gpiod_set,
	.get_button = gpiod_get_button,
	.fds = gpiod_fds,
	.dispatch = gpiod_dispatch,
	.describe = gpiod_describe,
};
