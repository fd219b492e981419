/* gpio_gpiod2: the libgpiod v2 (2.x) backend, as on Debian 13 / Raspberry Pi
 * OS trixie. Same ops and messages as the v1 backend (gpio_gpiod.c); the
 * Makefile builds exactly one of the two, picked by `pkg-config --modversion
 * libgpiod`, so both define gpio_gpiod_ops.
 *
 * What v2 adds and we use: the kernel debounces the buttons (uAPI v2,
 * Linux >= 5.10), so the daemon's software debouncer is off for them
 * (kernel_debounce in the ops), and every edge carries a per-line sequence
 * number, so a FIFO overflow is seen and answered by reading the level.
 *
 * The chip is found by label or path, never by a gpiochipN number (the Pi 5
 * renumbered its header chip). Each line is its own request, as in v1: a
 * busy line is then named, and each button has its own fd.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gpiod.h>

#include "gpio.h"
#include "log.h"
#include "timeutil.h"

#define CONSUMER    "teamboard"
#define EVENT_BATCH 16
#ifndef GPIOD2_DEV_DIR
#define GPIOD2_DEV_DIR "/dev" /* the unit test points it at a scratch folder */
#endif
/* batches per dispatch: a chattering line must not starve the loop (epoll is
 * level-triggered and calls again) */
#define EVENT_ROUNDS 4

struct button_line {
	struct gpiod_line_request *req;
	unsigned offset;
	bool level;          /* last level reported */
	unsigned long seqno; /* line_seqno of the last event read; 0 = none yet */
};

struct gpiod2_state {
	struct gpiod_chip *chip;
	char chip_name[32];    /* "gpiochip0", for messages */
	const char *chip_desc; /* the profile's label or path */
	unsigned num_lines;
	struct gpiod_line_request *out[OUTPUT_COUNT];
	unsigned out_offset[OUTPUT_COUNT];
	struct button_line btn[BOARD_MAX_BUTTONS];
	struct gpiod_edge_event_buffer *events;
	unsigned long lost; /* edges the kernel dropped (seqno gaps) */
};

static int
is_gpiochip_entry(const struct dirent *e)
{
	return strncmp(e->d_name, "gpiochip", 8) == 0;
}

/* v2 has no lookup by label: scan /dev/gpiochip* in number order. Symlinks
 * are skipped: Raspberry Pi OS adds gpiochip4 -> gpiochip0 on a Pi 5, the
 * same chip twice. `chips` gets "gpiochip0 'label', ..." for the message
 * when nothing matches; *err the first open error (EACCES says more than
 * "not found" when the user lacks access). */
static struct gpiod_chip *
open_by_label(const char *label, char *chips, size_t chips_size, int *err)
{
	struct dirent **names = NULL;
	struct gpiod_chip *found = NULL;
	size_t len = 0;
	int n;

	chips[0] = '\0';
	*err = 0;
	n = scandir(GPIOD2_DEV_DIR, &names, is_gpiochip_entry, versionsort);
	for (int i = 0; i < n; i++) {
		char path[384];
		struct stat st;
		struct gpiod_chip *chip;
		struct gpiod_chip_info *info;

		int pw = snprintf(path, sizeof(path), "%s/%s", GPIOD2_DEV_DIR, names[i]->d_name);

		if (found || pw < 0 || (size_t)pw >= sizeof(path) || lstat(path, &st) < 0 ||
		    S_ISLNK(st.st_mode) || !gpiod_is_gpiochip_device(path))
			continue;
		chip = gpiod_chip_open(path);
		if (!chip) {
			if (!*err)
				*err = errno ? errno : EIO;
			continue;
		}
		info = gpiod_chip_get_info(chip);
		if (info && strcmp(gpiod_chip_info_get_label(info), label) == 0) {
			found = chip;
		} else {
			if (info && len < chips_size) {
				int w = snprintf(chips + len, chips_size - len, "%s%s '%s'",
						 len ? ", " : "", gpiod_chip_info_get_name(info),
						 gpiod_chip_info_get_label(info));
				len = w < 0 ? chips_size : len + (size_t)w;
			}
			gpiod_chip_close(chip);
		}
		gpiod_chip_info_free(info);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!found && len == 0)
		snprintf(chips, chips_size, "none");
	return found;
}

static struct gpiod_chip *
open_chip(const struct board_profile *p, char *why, size_t why_size, int *err)
{
	struct gpiod_chip *chip;
	char chips[256];

	if (p->chip_label[0]) {
		chip = open_by_label(p->chip_label, chips, sizeof(chips), err);
		if (chip)
			return chip;
		if (*err == EACCES || *err == EPERM) {
			gpio_why(why, why_size, "chip '%s': cannot open GPIO chips: %s%s",
				 p->chip_label, strerror(*err), gpio_access_hint(*err));
		} else {
			gpio_why(
				why, why_size,
				"chip '%s' not found: no GPIO chip has this label (chips here: %s)",
				p->chip_label, chips);
			*err = ENODEV;
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
		else if (*err == ENOTTY || *err == ENODEV || *err == EINVAL)
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

/* Resolves a profile line to an offset on the chip. */
static int
find_line(struct gpiod2_state *s, const char *role, const struct board_line *bl, unsigned *offset,
	  char *why, size_t why_size)
{
	if (bl->name[0]) {
		int r = gpiod_chip_get_line_offset_from_name(s->chip, bl->name);

		if (r >= 0) {
			*offset = (unsigned)r;
			return 0;
		}
		if (errno == ENOENT || errno == 0) {
			gpio_why(why, why_size, "%s: line '%s' not found on chip '%s'", role,
				 bl->name, s->chip_desc);
			return -ENOENT;
		}
		gpio_why(why, why_size, "%s: cannot look up line '%s' on chip '%s': %s", role,
			 bl->name, s->chip_desc, strerror(errno));
		return -errno;
	}
	if (bl->offset < 0) {
		gpio_why(why, why_size, "%s: neither line name nor offset given", role);
		return -EINVAL;
	}
	if ((unsigned)bl->offset >= s->num_lines) {
		gpio_why(why, why_size, "%s: offset %d not on chip '%s' (%s has %u lines)", role,
			 bl->offset, s->chip_desc, s->chip_name, s->num_lines);
		return -EINVAL;
	}
	*offset = (unsigned)bl->offset;
	return 0;
}

static enum gpiod_line_bias
bias_of(enum bias b)
{
	switch (b) {
	case BIAS_DISABLE:
		return GPIOD_LINE_BIAS_DISABLED;
	case BIAS_PULL_UP:
		return GPIOD_LINE_BIAS_PULL_UP;
	case BIAS_PULL_DOWN:
		return GPIOD_LINE_BIAS_PULL_DOWN;
	case BIAS_AS_IS:
		break;
	}
	return GPIOD_LINE_BIAS_AS_IS;
}

/* "GPIO24 (offset 24)", or "offset 24" when the line has no name. */
static void
line_desc(struct gpiod2_state *s, unsigned offset, char *buf, size_t size, char *consumer,
	  size_t consumer_size)
{
	struct gpiod_line_info *info = gpiod_chip_get_line_info(s->chip, offset);
	const char *name = info ? gpiod_line_info_get_name(info) : NULL;
	const char *cons = info ? gpiod_line_info_get_consumer(info) : NULL;

	if (name && *name)
		snprintf(buf, size, "%s (offset %u)", name, offset);
	else
		snprintf(buf, size, "offset %u", offset);
	snprintf(consumer, consumer_size, "%s", cons && *cons ? cons : "?");
	gpiod_line_info_free(info);
}

static void
request_failed(struct gpiod2_state *s, const char *role, unsigned offset, int err, char *why,
	       size_t why_size)
{
	char desc[BOARD_NAME_MAX + 32], consumer[64];

	line_desc(s, offset, desc, sizeof(desc), consumer, sizeof(consumer));
	if (err == EBUSY)
		gpio_why(why, why_size, "%s: line %s on %s is busy (used by '%s')", role, desc,
			 s->chip_name, consumer);
	else
		gpio_why(why, why_size, "%s: cannot request line %s on %s: %s%s", role, desc,
			 s->chip_name, strerror(err), gpio_access_hint(err));
}

/* Requests one line with `settings`; returns NULL with errno set. */
static struct gpiod_line_request *
request_line(struct gpiod2_state *s, unsigned offset, struct gpiod_line_settings *settings)
{
	struct gpiod_line_config *lc = gpiod_line_config_new();
	struct gpiod_request_config *rc = gpiod_request_config_new();
	struct gpiod_line_request *req = NULL;
	int err = ENOMEM;

	if (lc && rc && gpiod_line_config_add_line_settings(lc, &offset, 1, settings) == 0) {
		gpiod_request_config_set_consumer(rc, CONSUMER);
		req = gpiod_chip_request_lines(s->chip, rc, lc);
		err = errno;
	} else if (lc && rc) {
		err = errno ? errno : EINVAL;
	}
	gpiod_request_config_free(rc);
	gpiod_line_config_free(lc);
	if (!req)
		errno = err ? err : EIO;
	return req;
}

/* Settings every line gets: active-low and bias as the profile says. */
static struct gpiod_line_settings *
settings_for(const struct board_line *bl)
{
	struct gpiod_line_settings *ls = gpiod_line_settings_new();

	if (!ls)
		return NULL;
	gpiod_line_settings_set_active_low(ls, bl->active_low);
	if (gpiod_line_settings_set_bias(ls, bias_of(bl->bias)) < 0) {
		gpiod_line_settings_free(ls);
		return NULL;
	}
	return ls;
}

static void
state_free(struct gpiod2_state *s)
{
	if (!s)
		return;
	for (unsigned o = 0; o < OUTPUT_COUNT; o++)
		if (s->out[o])
			gpiod_line_request_release(s->out[o]);
	for (unsigned b = 0; b < BOARD_MAX_BUTTONS; b++)
		if (s->btn[b].req)
			gpiod_line_request_release(s->btn[b].req);
	if (s->events)
		gpiod_edge_event_buffer_free(s->events);
	if (s->chip)
		gpiod_chip_close(s->chip);
	free(s);
}

static int
open_outputs(struct gpiod2_state *s, const struct board_profile *p, char *why, size_t why_size)
{
	for (unsigned o = 0; o < OUTPUT_COUNT; o++) {
		const struct board_line *bl = &p->outputs[o];
		struct gpiod_line_settings *ls;
		unsigned offset;
		int r;

		if (!bl->present)
			continue;
		r = find_line(s, gpio_role_name(o), bl, &offset, why, why_size);
		if (r < 0)
			return r;
		ls = settings_for(bl);
		/* Inactive is logical: with active_low the line goes high, i.e.
		 * the lamp is off from the first instant. */
		if (!ls || gpiod_line_settings_set_direction(ls, GPIOD_LINE_DIRECTION_OUTPUT) < 0 ||
		    gpiod_line_settings_set_output_value(ls, GPIOD_LINE_VALUE_INACTIVE) < 0) {
			gpiod_line_settings_free(ls);
			gpio_why(why, why_size, "%s: out of memory", gpio_role_name(o));
			return -ENOMEM;
		}
		s->out[o] = request_line(s, offset, ls);
		r = errno;
		gpiod_line_settings_free(ls);
		if (!s->out[o]) {
			request_failed(s, gpio_role_name(o), offset, r, why, why_size);
			return -r;
		}
		s->out_offset[o] = offset;
	}
	return 0;
}

static int
open_buttons(struct gpiod2_state *s, const struct board_profile *p, char *why, size_t why_size)
{
	for (unsigned b = 0; b < p->n_buttons; b++) {
		const struct board_button *pb = &p->buttons[b];
		struct button_line *bt = &s->btn[b];
		struct gpiod_line_settings *ls;
		enum gpiod_line_value v;
		char role[48];
		int r;

		snprintf(role, sizeof(role), "button.%s", pb->id);
		r = find_line(s, role, &pb->line, &bt->offset, why, why_size);
		if (r < 0)
			return r;
		ls = settings_for(&pb->line);
		if (!ls || gpiod_line_settings_set_direction(ls, GPIOD_LINE_DIRECTION_INPUT) < 0 ||
		    gpiod_line_settings_set_edge_detection(ls, GPIOD_LINE_EDGE_BOTH) < 0 ||
		    gpiod_line_settings_set_event_clock(ls, GPIOD_LINE_CLOCK_MONOTONIC) < 0) {
			gpiod_line_settings_free(ls);
			gpio_why(why, why_size, "%s: out of memory", role);
			return -ENOMEM;
		}
		/* The daemon hands us the button's effective period and does
		 * not debounce these lines again (kernel_debounce). */
		gpiod_line_settings_set_debounce_period_us(ls, (unsigned long)pb->debounce_usec);
		bt->req = request_line(s, bt->offset, ls);
		r = errno;
		gpiod_line_settings_free(ls);
		if (!bt->req) {
			request_failed(s, role, bt->offset, r, why, why_size);
			return -r;
		}
		v = gpiod_line_request_get_value(bt->req, bt->offset);
		/* edges are reported relative to this level */
		bt->level = v == GPIOD_LINE_VALUE_ACTIVE;
	}
	return 0;
}

static int
gpiod2_open(struct gpio *g, const struct board_profile *p, char *why, size_t why_size)
{
	struct gpiod2_state *s;
	struct gpiod_chip_info *info;
	int err = 0, r;

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
	s->chip_desc = p->chip_label[0] ? p->chip_label : p->chip_path;
	s->chip = open_chip(p, why, why_size, &err);
	if (!s->chip) {
		state_free(s);
		return -(err ? err : EIO);
	}
	info = gpiod_chip_get_info(s->chip);
	if (!info) {
		r = errno ? -errno : -EIO;
		gpio_why(why, why_size, "chip '%s': cannot read chip info: %s", s->chip_desc,
			 strerror(-r));
		state_free(s);
		return r;
	}
	snprintf(s->chip_name, sizeof(s->chip_name), "%s", gpiod_chip_info_get_name(info));
	s->num_lines = (unsigned)gpiod_chip_info_get_num_lines(info);
	gpiod_chip_info_free(info);

	s->events = gpiod_edge_event_buffer_new(EVENT_BATCH);
	if (!s->events) {
		gpio_why(why, why_size, "out of memory");
		state_free(s);
		return -ENOMEM;
	}
	r = open_outputs(s, p, why, why_size);
	if (r == 0)
		r = open_buttons(s, p, why, why_size);
	if (r < 0) {
		state_free(s);
		return r;
	}
	g->priv = s;
	log_debug("gpio: %s opened on chip %s '%s' (libgpiod %s, kernel debounce)", p->path,
		  s->chip_name, s->chip_desc, gpiod_api_version());
	return 0;
}

static void
gpiod2_close(struct gpio *g)
{
	state_free(g->priv);
	g->priv = NULL;
}

static int
gpiod2_set(struct gpio *g, enum output o, bool on)
{
	struct gpiod2_state *s = g->priv;

	if (!s || (unsigned)o >= OUTPUT_COUNT || !s->out[o])
		return -EINVAL;
	if (gpiod_line_request_set_value(s->out[o], s->out_offset[o],
					 on ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) <
	    0)
		return errno ? -errno : -EIO;
	return 0;
}

static int
gpiod2_get_button(struct gpio *g, unsigned button, bool *pressed)
{
	struct gpiod2_state *s = g->priv;
	enum gpiod_line_value v;

	if (!s || button >= g->profile.n_buttons || !s->btn[button].req || !pressed)
		return -EINVAL;
	v = gpiod_line_request_get_value(s->btn[button].req, s->btn[button].offset);
	if (v == GPIOD_LINE_VALUE_ERROR)
		return errno ? -errno : -EIO;
	*pressed = v == GPIOD_LINE_VALUE_ACTIVE;
	return 0;
}

static size_t
gpiod2_fds(struct gpio *g, int *fds, size_t max)
{
	struct gpiod2_state *s = g->priv;
	size_t n = 0;

	if (!s || !fds)
		return 0;
	for (unsigned b = 0; b < g->profile.n_buttons && n < max; b++)
		if (s->btn[b].req)
			fds[n++] = gpiod_line_request_get_fd(s->btn[b].req);
	return n;
}

static void
report(struct gpio *g, struct button_line *bt, unsigned b, bool level, uint64_t at_usec)
{
	bt->level = level;
	if (g->on_edge)
		g->on_edge(g->userdata, b, level, at_usec);
}

static int
gpiod2_dispatch(struct gpio *g, int fd)
{
	struct gpiod2_state *s = g->priv;
	struct button_line *bt;
	bool reconcile = false;
	uint64_t now;
	unsigned b;

	if (!s || fd < 0)
		return -EBADF;
	for (b = 0; b < g->profile.n_buttons; b++)
		if (s->btn[b].req && gpiod_line_request_get_fd(s->btn[b].req) == fd)
			break;
	if (b == g->profile.n_buttons)
		return -EBADF;
	bt = &s->btn[b];

	now = time_mono_usec();
	for (unsigned round = 0; round < EVENT_ROUNDS; round++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		/* the fd is blocking: read only what is known to be there */
		if (round > 0 && (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN)))
			break;
		n = gpiod_line_request_read_edge_events(bt->req, s->events, EVENT_BATCH);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return errno ? -errno : -EIO;
		}
		for (int i = 0; i < n; i++) {
			struct gpiod_edge_event *ev =
				gpiod_edge_event_buffer_get_event(s->events, (unsigned long)i);
			unsigned long seq = gpiod_edge_event_get_line_seqno(ev);
			bool level =
				gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE;
			uint64_t at = gpiod_edge_event_get_timestamp_ns(ev) / 1000u;

			/* The kernel drops the oldest events when its FIFO is
			 * full; the per-line sequence number shows it. */
			if (seq != bt->seqno + 1) {
				s->lost += seq > bt->seqno ? seq - bt->seqno - 1 : 1;
				reconcile = true;
			}
			bt->seqno = seq;
			/* Same level twice: an edge in between is missing (lost,
			 * or the level was read late on an undebounced line). */
			if (level == bt->level) {
				reconcile = true;
				continue;
			}
			report(g, bt, b, level, at <= now ? at : now);
		}
		if (n < EVENT_BATCH)
			break;
	}

	if (reconcile) {
		/* The level now is the truth (for a debounced line the kernel
		 * returns its debounced level). */
		enum gpiod_line_value v = gpiod_line_request_get_value(bt->req, bt->offset);

		log_debug("gpio: button %u: events lost or out of step (%lu lost so far), "
			  "reading the level",
			  b, s->lost);
		if (v == GPIOD_LINE_VALUE_ERROR)
			return errno ? -errno : -EIO;
		if ((v == GPIOD_LINE_VALUE_ACTIVE) != bt->level)
			report(g, bt, b, v == GPIOD_LINE_VALUE_ACTIVE, now);
	}
	return 0;
}

static enum bias
bias_from(enum gpiod_line_bias b)
{
	switch (b) {
	case GPIOD_LINE_BIAS_DISABLED:
		return BIAS_DISABLE;
	case GPIOD_LINE_BIAS_PULL_UP:
		return BIAS_PULL_UP;
	case GPIOD_LINE_BIAS_PULL_DOWN:
		return BIAS_PULL_DOWN;
	case GPIOD_LINE_BIAS_AS_IS:
	case GPIOD_LINE_BIAS_UNKNOWN:
		break;
	}
	return BIAS_AS_IS;
}

/* Only reads line info: nothing is requested, so it is safe while the
 * daemon or anyone else holds the lines. */
static int
gpiod2_describe(const struct board_profile *p, struct gpio_line_info *info, size_t n, char *why,
		size_t why_size)
{
	struct gpiod2_state s = { .chip_desc = p->chip_label[0] ? p->chip_label : p->chip_path };
	struct gpiod_chip_info *ci;
	char label[BOARD_NAME_MAX];
	int err = 0;

	s.chip = open_chip(p, why, why_size, &err);
	if (!s.chip)
		return -(err ? err : ENODEV);
	ci = gpiod_chip_get_info(s.chip);
	if (!ci) {
		err = errno ? errno : EIO;
		gpio_why(why, why_size, "chip '%s': cannot read chip info: %s", s.chip_desc,
			 strerror(err));
		gpiod_chip_close(s.chip);
		return -err;
	}
	snprintf(s.chip_name, sizeof(s.chip_name), "%s", gpiod_chip_info_get_name(ci));
	snprintf(label, sizeof(label), "%s", gpiod_chip_info_get_label(ci));
	s.num_lines = (unsigned)gpiod_chip_info_get_num_lines(ci);
	gpiod_chip_info_free(ci);

	for (size_t i = 0; i < n; i++) {
		struct gpio_line_info *li = &info[i];
		struct gpiod_line_info *l;
		const char *str;
		char line_why[8];
		unsigned offset;
		int r;

		snprintf(li->chip, sizeof(li->chip), "%s", s.chip_name);
		snprintf(li->chip_label, sizeof(li->chip_label), "%s", label);
		r = find_line(&s, li->role, li->want, &offset, line_why, sizeof(line_why));
		if (r < 0) {
			li->err = r;
			continue;
		}
		l = gpiod_chip_get_line_info(s.chip, offset);
		if (!l) {
			li->err = errno ? -errno : -EIO;
			continue;
		}
		li->offset = offset;
		str = gpiod_line_info_get_name(l);
		snprintf(li->name, sizeof(li->name), "%s", str ? str : "");
		li->used = gpiod_line_info_is_used(l);
		str = gpiod_line_info_get_consumer(l);
		snprintf(li->consumer, sizeof(li->consumer), "%s", str ? str : "");
		li->is_output = gpiod_line_info_get_direction(l) == GPIOD_LINE_DIRECTION_OUTPUT;
		li->active_low = gpiod_line_info_is_active_low(l);
		li->bias = bias_from(gpiod_line_info_get_bias(l));
		gpiod_line_info_free(l);
	}
	gpiod_chip_close(s.chip);
	return 0;
}

const struct gpio_ops gpio_gpiod_ops = {
	.name = "libgpiod",
	.kernel_debounce = true,
	.open = gpiod2_open,
	.close = gpiod2_close,
	.set = gpiod2_set,
	.get_button = gpiod2_get_button,
	.fds = gpiod2_fds,
	.dispatch = gpiod2_dispatch,
	.describe = gpiod2_describe,
};
