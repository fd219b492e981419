/* Unit tests for the libgpiod v2 backend (src/gpio_gpiod2.c), built only
 * when libgpiod >= 2 is installed (make check-trixie runs them).
 *
 * This machine has no GPIO chips, so the test links a fake of the part of
 * the libgpiod v2 API the backend uses: two chips, lines with names and
 * consumers, requests that record their settings, and an edge-event queue
 * per request behind a pipe (so the request fd polls readable like the
 * kernel's). The real kernel is exercised by the gpio-sim tests in qemu.
 * The backend is included so its /dev folder can point at a scratch one.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char fake_dev_dir[64];
#define GPIOD2_DEV_DIR fake_dev_dir
#include "../../src/gpio_gpiod2.c"

/* --- the fake libgpiod ------------------------------------------------------ */

#define FAKE_LINES  32
#define FAKE_EVENTS 64

struct gpiod_line_settings {
	enum gpiod_line_direction direction;
	enum gpiod_line_edge edge;
	enum gpiod_line_bias bias;
	enum gpiod_line_value output;
	enum gpiod_line_clock clock;
	bool active_low;
	unsigned long debounce_us;
};

struct fake_line {
	char name[32];
	char consumer[32];
	bool used;
	int physical; /* the level on the pin */
	struct gpiod_line_settings s;
};

struct fake_chip {
	const char *file; /* under fake_dev_dir */
	const char *name;
	const char *label;
	unsigned num_lines;
	struct fake_line line[FAKE_LINES];
};

struct gpiod_edge_event {
	enum gpiod_edge_event_type type;
	uint64_t ts_ns;
	unsigned offset;
	unsigned long line_seqno;
};

struct gpiod_line_request {
	struct fake_chip *chip;
	unsigned offset;
	int pipe[2];
	struct gpiod_edge_event queue[FAKE_EVENTS];
	size_t queued;
};

struct gpiod_chip {
	struct fake_chip *c;
};
struct gpiod_chip_info {
	struct fake_chip *c;
};
struct gpiod_line_info {
	struct fake_line l;
	unsigned offset;
};
struct gpiod_line_config {
	unsigned offset;
	bool set;
	struct gpiod_line_settings s;
};
struct gpiod_request_config {
	char consumer[32];
};
struct gpiod_edge_event_buffer {
	struct gpiod_edge_event ev[EVENT_BATCH];
	size_t n, capacity;
};

static struct fake {
	struct fake_chip chip[2];
	struct gpiod_line_request *req[FAKE_LINES]; /* by offset on chip 0 */
	int open_chips, open_requests, get_value_calls;
} fake;

static void
fake_reset(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.chip[0] = (struct fake_chip){ .file = "gpiochip0",
					   .name = "gpiochip0",
					   .label = "pinctrl-bcm2711",
					   .num_lines = 28 };
	fake.chip[1] = (struct fake_chip){ .file = "gpiochip1",
					   .name = "gpiochip1",
					   .label = "raspberrypi-exp-gpio",
					   .num_lines = 8 };
	for (unsigned i = 0; i < 28; i++)
		snprintf(fake.chip[0].line[i].name, sizeof(fake.chip[0].line[i].name), "GPIO%u", i);
}

/* Like libgpiod, follows symlinks: gpiochip4 -> gpiochip0 is chip 0. */
static struct fake_chip *
fake_chip_at(const char *path)
{
	char real[PATH_MAX], dir[PATH_MAX];
	const char *base;

	if (!realpath(path, real) || !realpath(fake_dev_dir, dir) ||
	    strncmp(real, dir, strlen(dir)) != 0)
		return NULL;
	base = strrchr(real, '/') + 1;
	for (unsigned i = 0; i < 2; i++)
		if (strcmp(base, fake.chip[i].file) == 0)
			return &fake.chip[i];
	return NULL;
}

bool
gpiod_is_gpiochip_device(const char *path)
{
	return fake_chip_at(path) != NULL;
}

struct gpiod_chip *
gpiod_chip_open(const char *path)
{
	struct fake_chip *c = fake_chip_at(path);
	struct gpiod_chip *chip;

	if (!c) {
		errno = access(path, F_OK) == 0 ? ENODEV : ENOENT;
		return NULL;
	}
	chip = calloc(1, sizeof(*chip));
	chip->c = c;
	fake.open_chips++;
	return chip;
}

void
gpiod_chip_close(struct gpiod_chip *chip)
{
	if (!chip)
		return;
	fake.open_chips--;
	free(chip);
}

struct gpiod_chip_info *
gpiod_chip_get_info(struct gpiod_chip *chip)
{
	struct gpiod_chip_info *i = calloc(1, sizeof(*i));

	i->c = chip->c;
	return i;
}

void
gpiod_chip_info_free(struct gpiod_chip_info *info)
{
	free(info);
}

const char *
gpiod_chip_info_get_name(struct gpiod_chip_info *info)
{
	return info->c->name;
}

const char *
gpiod_chip_info_get_label(struct gpiod_chip_info *info)
{
	return info->c->label;
}

size_t
gpiod_chip_info_get_num_lines(struct gpiod_chip_info *info)
{
	return info->c->num_lines;
}

int
gpiod_chip_get_line_offset_from_name(struct gpiod_chip *chip, const char *name)
{
	for (unsigned i = 0; i < chip->c->num_lines; i++)
		if (strcmp(chip->c->line[i].name, name) == 0)
			return (int)i;
	errno = ENOENT;
	return -1;
}

struct gpiod_line_info *
gpiod_chip_get_line_info(struct gpiod_chip *chip, unsigned offset)
{
	struct gpiod_line_info *i;

	if (offset >= chip->c->num_lines) {
		errno = EINVAL;
		return NULL;
	}
	i = calloc(1, sizeof(*i));
	i->l = chip->c->line[offset];
	i->offset = offset;
	return i;
}

void
gpiod_line_info_free(struct gpiod_line_info *info)
{
	free(info);
}

const char *
gpiod_line_info_get_name(struct gpiod_line_info *info)
{
	return info->l.name;
}

const char *
gpiod_line_info_get_consumer(struct gpiod_line_info *info)
{
	return info->l.consumer;
}

bool
gpiod_line_info_is_used(struct gpiod_line_info *info)
{
	return info->l.used;
}

enum gpiod_line_direction
gpiod_line_info_get_direction(struct gpiod_line_info *info)
{
	return info->l.s.direction ? info->l.s.direction : GPIOD_LINE_DIRECTION_INPUT;
}

bool
gpiod_line_info_is_active_low(struct gpiod_line_info *info)
{
	return info->l.s.active_low;
}

enum gpiod_line_bias
gpiod_line_info_get_bias(struct gpiod_line_info *info)
{
	return info->l.s.bias ? info->l.s.bias : GPIOD_LINE_BIAS_UNKNOWN;
}

struct gpiod_line_settings *
gpiod_line_settings_new(void)
{
	struct gpiod_line_settings *s = calloc(1, sizeof(*s));

	s->direction = GPIOD_LINE_DIRECTION_AS_IS;
	s->edge = GPIOD_LINE_EDGE_NONE;
	s->bias = GPIOD_LINE_BIAS_AS_IS;
	s->clock = GPIOD_LINE_CLOCK_MONOTONIC;
	return s;
}

void
gpiod_line_settings_free(struct gpiod_line_settings *settings)
{
	free(settings);
}

int
gpiod_line_settings_set_direction(struct gpiod_line_settings *s, enum gpiod_line_direction d)
{
	s->direction = d;
	return 0;
}

int
gpiod_line_settings_set_edge_detection(struct gpiod_line_settings *s, enum gpiod_line_edge e)
{
	s->edge = e;
	return 0;
}

int
gpiod_line_settings_set_bias(struct gpiod_line_settings *s, enum gpiod_line_bias b)
{
	s->bias = b;
	return 0;
}

void
gpiod_line_settings_set_active_low(struct gpiod_line_settings *s, bool active_low)
{
	s->active_low = active_low;
}

void
gpiod_line_settings_set_debounce_period_us(struct gpiod_line_settings *s, unsigned long period)
{
	s->debounce_us = period;
}

int
gpiod_line_settings_set_event_clock(struct gpiod_line_settings *s, enum gpiod_line_clock c)
{
	s->clock = c;
	return 0;
}

int
gpiod_line_settings_set_output_value(struct gpiod_line_settings *s, enum gpiod_line_value v)
{
	s->output = v;
	return 0;
}

struct gpiod_line_config *
gpiod_line_config_new(void)
{
	return calloc(1, sizeof(struct gpiod_line_config));
}

void
gpiod_line_config_free(struct gpiod_line_config *config)
{
	free(config);
}

int
gpiod_line_config_add_line_settings(struct gpiod_line_config *config, const unsigned *offsets,
				    size_t num_offsets, struct gpiod_line_settings *settings)
{
	assert_int_equal(num_offsets, 1); /* the backend requests lines one by one */
	config->offset = offsets[0];
	config->s = *settings;
	config->set = true;
	return 0;
}

struct gpiod_request_config *
gpiod_request_config_new(void)
{
	return calloc(1, sizeof(struct gpiod_request_config));
}

void
gpiod_request_config_free(struct gpiod_request_config *config)
{
	free(config);
}

void
gpiod_request_config_set_consumer(struct gpiod_request_config *config, const char *consumer)
{
	snprintf(config->consumer, sizeof(config->consumer), "%s", consumer);
}

struct gpiod_line_request *
gpiod_chip_request_lines(struct gpiod_chip *chip, struct gpiod_request_config *rc,
			 struct gpiod_line_config *lc)
{
	struct fake_line *l;
	struct gpiod_line_request *r;

	assert_true(lc->set);
	l = &chip->c->line[lc->offset];
	if (l->used) {
		errno = EBUSY;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	assert_int_equal(pipe(r->pipe), 0);
	r->chip = chip->c;
	r->offset = lc->offset;
	l->used = true;
	l->s = lc->s;
	snprintf(l->consumer, sizeof(l->consumer), "%s", rc->consumer);
	if (lc->s.direction == GPIOD_LINE_DIRECTION_OUTPUT)
		l->physical = (lc->s.output == GPIOD_LINE_VALUE_ACTIVE) ^ lc->s.active_low;
	if (chip->c == &fake.chip[0])
		fake.req[lc->offset] = r;
	fake.open_requests++;
	return r;
}

void
gpiod_line_request_release(struct gpiod_line_request *r)
{
	struct fake_line *l = &r->chip->line[r->offset];

	l->used = false;
	l->consumer[0] = '\0';
	if (r->chip == &fake.chip[0])
		fake.req[r->offset] = NULL;
	close(r->pipe[0]);
	close(r->pipe[1]);
	fake.open_requests--;
	free(r);
}

enum gpiod_line_value
gpiod_line_request_get_value(struct gpiod_line_request *r, unsigned offset)
{
	struct fake_line *l = &r->chip->line[offset];

	assert_int_equal(offset, r->offset);
	fake.get_value_calls++;
	return (l->physical ^ l->s.active_low) ? GPIOD_LINE_VALUE_ACTIVE
					       : GPIOD_LINE_VALUE_INACTIVE;
}

int
gpiod_line_request_set_value(struct gpiod_line_request *r, unsigned offset,
			     enum gpiod_line_value value)
{
	struct fake_line *l = &r->chip->line[offset];

	assert_int_equal(offset, r->offset);
	l->physical = (value == GPIOD_LINE_VALUE_ACTIVE) ^ l->s.active_low;
	return 0;
}

int
gpiod_line_request_get_fd(struct gpiod_line_request *r)
{
	return r->pipe[0];
}

int
gpiod_line_request_read_edge_events(struct gpiod_line_request *r,
				    struct gpiod_edge_event_buffer *buffer, size_t max_events)
{
	size_t n = r->queued < max_events ? r->queued : max_events;
	char drain[FAKE_EVENTS];

	if (n > buffer->capacity)
		n = buffer->capacity;
	assert_true(n > 0); /* the backend only reads when the fd is readable */
	memcpy(buffer->ev, r->queue, n * sizeof(r->queue[0]));
	memmove(r->queue, r->queue + n, (r->queued - n) * sizeof(r->queue[0]));
	r->queued -= n;
	buffer->n = n;
	assert_int_equal(read(r->pipe[0], drain, n), (ssize_t)n);
	return (int)n;
}

struct gpiod_edge_event_buffer *
gpiod_edge_event_buffer_new(size_t capacity)
{
	struct gpiod_edge_event_buffer *b = calloc(1, sizeof(*b));

	assert_true(capacity <= EVENT_BATCH);
	b->capacity = capacity;
	return b;
}

void
gpiod_edge_event_buffer_free(struct gpiod_edge_event_buffer *buffer)
{
	free(buffer);
}

struct gpiod_edge_event *
gpiod_edge_event_buffer_get_event(struct gpiod_edge_event_buffer *buffer, unsigned long index)
{
	assert_true(index < buffer->n);
	return &buffer->ev[index];
}

enum gpiod_edge_event_type
gpiod_edge_event_get_event_type(struct gpiod_edge_event *event)
{
	return event->type;
}

uint64_t
gpiod_edge_event_get_timestamp_ns(struct gpiod_edge_event *event)
{
	return event->ts_ns;
}

unsigned long
gpiod_edge_event_get_line_seqno(struct gpiod_edge_event *event)
{
	return event->line_seqno;
}

const char *
gpiod_api_version(void)
{
	return "2.x-fake";
}

/* The kernel side of an edge: the pin moves to `physical`, and an event
 * (logical edge, with active-low applied) with `seqno` is queued, unless
 * `lost` (the FIFO overflowed and dropped it). */
static void
fake_edge(unsigned offset, int physical, unsigned long seqno, uint64_t ts_ns, bool lost)
{
	struct gpiod_line_request *r = fake.req[offset];
	struct fake_line *l = &fake.chip[0].line[offset];

	assert_non_null(r);
	l->physical = physical;
	if (lost)
		return;
	assert_true(r->queued < FAKE_EVENTS);
	r->queue[r->queued++] = (struct gpiod_edge_event){
		.type = (physical ^ l->s.active_low) ? GPIOD_EDGE_EVENT_RISING_EDGE
						     : GPIOD_EDGE_EVENT_FALLING_EDGE,
		.ts_ns = ts_ns,
		.offset = offset,
		.line_seqno = seqno,
	};
	assert_int_equal(write(r->pipe[1], "e", 1), 1);
}

/* --- fixtures ------------------------------------------------------------ */

static void
line_by_name(struct board_line *l, const char *name, bool active_low, enum bias b)
{
	memset(l, 0, sizeof(*l));
	l->present = true;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->offset = -1;
	l->active_low = active_low;
	l->bias = b;
}

static void
make_profile(struct board_profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "rpi4.conf");
	snprintf(p->chip_label, sizeof(p->chip_label), "pinctrl-bcm2711");
	line_by_name(&p->outputs[OUTPUT_RED], "GPIO17", false, BIAS_AS_IS);
	line_by_name(&p->outputs[OUTPUT_AMBER], "GPIO27", false, BIAS_AS_IS);
	line_by_name(&p->outputs[OUTPUT_GREEN], "GPIO22", false, BIAS_AS_IS);
	line_by_name(&p->outputs[OUTPUT_BUZZER], "GPIO23", true, BIAS_DISABLE);
	snprintf(p->buttons[0].id, sizeof(p->buttons[0].id), "ack1");
	line_by_name(&p->buttons[0].line, "GPIO24", true, BIAS_PULL_UP);
	p->buttons[0].debounce_usec = 30000;
	snprintf(p->buttons[1].id, sizeof(p->buttons[1].id), "ack2");
	p->buttons[1].line = (struct board_line){ .present = true, .offset = 25 };
	p->buttons[1].debounce_usec = 5000;
	p->n_buttons = 2;
}

struct edge {
	unsigned button;
	bool pressed;
	uint64_t at_usec;
};

static struct {
	struct edge e[32];
	size_t n;
} rec;

static void
record_edge(void *userdata, unsigned button, bool pressed, uint64_t at_usec)
{
	(void)userdata;
	assert_true(rec.n < 32);
	rec.e[rec.n++] = (struct edge){ button, pressed, at_usec };
}

static int
setup(void **state)
{
	char path[128];

	(void)state;
	fake_reset();
	memset(&rec, 0, sizeof(rec));
	snprintf(fake_dev_dir, sizeof(fake_dev_dir), "/tmp/teamboard-gpiod2-XXXXXX");
	assert_non_null(mkdtemp(fake_dev_dir));
	/* two chips, plus Raspberry Pi OS's compat symlink and a non-chip */
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", fake_dev_dir, fake.chip[i].file);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/gpiochip4", fake_dev_dir);
	assert_int_equal(symlink("gpiochip0", path), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	assert_int_equal(fake.open_chips, 0);
	assert_int_equal(fake.open_requests, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_dev_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct gpio *
open_board(const struct board_profile *p)
{
	char why[256] = "";
	struct gpio *g = gpio_new(&gpio_gpiod_ops, p, record_edge, NULL, why, sizeof(why));

	if (!g)
		fail_msg("gpio_new: %s", why);
	return g;
}

/* --- tests ----------------------------------------------------------------- */

static void
test_requests_lines_as_profile_says(void **state)
{
	struct board_profile p;
	struct gpio *g;
	struct fake_line *l = fake.chip[0].line;

	(void)state;
	make_profile(&p);
	assert_true(gpio_gpiod_ops.kernel_debounce);
	g = open_board(&p);

	/* outputs: logical off from the first instant, active-low honoured */
	assert_int_equal(l[17].s.direction, GPIOD_LINE_DIRECTION_OUTPUT);
	assert_int_equal(l[17].s.output, GPIOD_LINE_VALUE_INACTIVE);
	assert_int_equal(l[17].physical, 0);
	assert_true(l[23].s.active_low);
	assert_int_equal(l[23].s.bias, GPIOD_LINE_BIAS_DISABLED);
	assert_int_equal(l[23].physical, 1); /* active-low buzzer off = high */
	assert_string_equal(l[17].consumer, "teamboard");
	/* buttons: both edges, the kernel debounces for the profile's period */
	assert_int_equal(l[24].s.direction, GPIOD_LINE_DIRECTION_INPUT);
	assert_int_equal(l[24].s.edge, GPIOD_LINE_EDGE_BOTH);
	assert_int_equal(l[24].s.bias, GPIOD_LINE_BIAS_PULL_UP);
	assert_true(l[24].s.active_low);
	assert_int_equal(l[24].s.debounce_us, 30000);
	assert_int_equal(l[24].s.clock, GPIOD_LINE_CLOCK_MONOTONIC);
	assert_int_equal(l[25].s.debounce_us, 5000); /* found by offset */
	assert_false(fake.chip[1].line[0].used);

	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	assert_int_equal(l[17].physical, 1);
	assert_int_equal(gpio_set(g, OUTPUT_BUZZER, true), 0);
	assert_int_equal(l[23].physical, 0);

	int fds[4];
	assert_int_equal(gpio_fds(g, fds, 4), 2);
	assert_int_equal(fds[0], fake.req[24]->pipe[0]);
	assert_int_equal(fds[1], fake.req[25]->pipe[0]);

	gpio_free(g); /* outputs off, then every line released */
	assert_int_equal(l[17].physical, 0);
	assert_int_equal(l[23].physical, 1);
	assert_false(l[17].used);
	assert_false(l[24].used);
}

static void
test_edges_reported_with_their_time(void **state)
{
	struct board_profile p;
	struct gpio *g;
	uint64_t now;
	bool pressed;

	(void)state;
	make_profile(&p);
	fake.chip[0].line[24].physical = 1; /* pull-up: released */
	g = open_board(&p);
	assert_int_equal(g->ops->get_button(g, 0, &pressed), 0);
	assert_false(pressed);

	now = time_mono_usec();
	fake_edge(24, 0, 1, (now - 2000) * 1000, false); /* press */
	fake_edge(24, 1, 2, (now - 1000) * 1000, false); /* release */
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 2);
	assert_true(rec.e[0].pressed);
	assert_int_equal(rec.e[0].button, 0);
	assert_int_equal(rec.e[0].at_usec, now - 2000);
	assert_false(rec.e[1].pressed);
	assert_int_equal(rec.e[1].at_usec, now - 1000);

	/* a timestamp from the future (another clock) is taken as now */
	fake_edge(24, 0, 3, (now + 60 * USEC_PER_SEC) * 1000, false);
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 3);
	assert_true(rec.e[2].pressed);
	assert_true(rec.e[2].at_usec >= now && rec.e[2].at_usec <= time_mono_usec());

	/* an fd that is not ours */
	assert_int_equal(gpio_dispatch(g, 0), -EBADF);
	gpio_free(g);
}

/* The kernel FIFO overflowed: it dropped the oldest events, the sequence
 * numbers jump. The events that are left end in "pressed", but the button
 * was released since (its release is among the lost): without reading the
 * level the board would think the button is held and fire a long press. */
static void
test_seqno_gap_reconciles_with_level(void **state)
{
	struct board_profile p;
	struct gpio *g;
	uint64_t now = time_mono_usec();

	(void)state;
	make_profile(&p);
	fake.chip[0].line[24].physical = 1;
	g = open_board(&p);

	fake_edge(24, 0, 1, now * 1000, false); /* press, seen */
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 1);
	assert_true(rec.e[0].pressed);

	fake_edge(24, 1, 2, now * 1000, true);  /* release, lost */
	fake_edge(24, 0, 3, now * 1000, true);  /* press, lost */
	fake_edge(24, 1, 4, now * 1000, true);  /* release, lost */
	fake_edge(24, 0, 5, now * 1000, false); /* press: same level as before */
	fake_edge(24, 1, 6, now * 1000, true);  /* release, lost */
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 2);
	assert_false(rec.e[1].pressed); /* the level, read after the gap */
	assert_int_equal(((struct gpiod2_state *)g->priv)->lost, 3);

	/* the next event shows the release (seqno 6) lost after the read */
	fake_edge(24, 0, 7, now * 1000, false);
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 3);
	assert_true(rec.e[2].pressed);

	/* contiguous again: events are trusted, no extra reads */
	int reads = fake.get_value_calls;
	fake_edge(24, 1, 8, now * 1000, false);
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 4);
	assert_false(rec.e[3].pressed);
	assert_int_equal(fake.get_value_calls, reads);
	assert_int_equal(((struct gpiod2_state *)g->priv)->lost, 4);

	/* An even number lost: what is left still alternates, only the
	 * sequence numbers tell. The level is read, and the loss counted. */
	fake_edge(24, 0, 9, now * 1000, true);   /* press, lost */
	fake_edge(24, 1, 10, now * 1000, true);  /* release, lost */
	fake_edge(24, 0, 11, now * 1000, false); /* press */
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 5);
	assert_true(rec.e[4].pressed);
	assert_int_equal(fake.get_value_calls, reads + 1);
	assert_int_equal(((struct gpiod2_state *)g->priv)->lost, 6);
	gpio_free(g);
}

/* A gap whose surviving events disagree with the level in the other
 * direction: the lost events ended in "pressed". */
static void
test_seqno_gap_at_start(void **state)
{
	struct board_profile p;
	struct gpio *g;
	uint64_t now = time_mono_usec();

	(void)state;
	make_profile(&p);
	fake.chip[0].line[24].physical = 1;
	g = open_board(&p);
	fake_edge(24, 0, 1, now * 1000, true);  /* press, lost */
	fake_edge(24, 1, 2, now * 1000, false); /* release: nothing to report */
	fake_edge(24, 0, 3, now * 1000, true);  /* press, lost: held now */
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 1);
	assert_true(rec.e[0].pressed);
	gpio_free(g);
}

/* More events than one read takes: all are handled in one dispatch, in
 * order, without a read of the level. */
static void
test_many_events_in_batches(void **state)
{
	struct board_profile p;
	struct gpio *g;
	uint64_t now = time_mono_usec();

	(void)state;
	make_profile(&p);
	fake.chip[0].line[24].physical = 1;
	g = open_board(&p);
	for (unsigned i = 1; i <= 20; i++)
		fake_edge(24, (int)(i % 2 == 0), i, (now - 100 + i) * 1000, false);
	assert_int_equal(gpio_dispatch(g, fake.req[24]->pipe[0]), 0);
	assert_int_equal(rec.n, 20);
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(rec.e[i].pressed, i % 2 == 0);
		assert_int_equal(rec.e[i].at_usec, now - 100 + i + 1);
	}
	gpio_free(g);
}

static void
test_chip_by_label_skips_symlinks(void **state)
{
	struct board_profile p;
	struct gpio *g;
	char why[512] = "";

	(void)state;
	make_profile(&p);
	snprintf(p.chip_label, sizeof(p.chip_label), "raspberrypi-exp-gpio");
	p.outputs[OUTPUT_RED] = (struct board_line){ .present = true, .offset = 1 };
	p.outputs[OUTPUT_AMBER] = (struct board_line){ .present = true, .offset = 2 };
	p.outputs[OUTPUT_GREEN] = (struct board_line){ .present = true, .offset = 3 };
	p.outputs[OUTPUT_BUZZER].present = false;
	p.n_buttons = 0;
	g = open_board(&p);
	assert_true(fake.chip[1].line[1].used);
	assert_false(fake.chip[0].line[1].used);
	gpio_free(g);

	/* no such label: the message lists each chip once (not gpiochip4) */
	snprintf(p.chip_label, sizeof(p.chip_label), "pinctrl-rp1");
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_int_equal(errno, ENODEV);
	assert_string_equal(why, "chip 'pinctrl-rp1' not found: no GPIO chip has this label "
				 "(chips here: gpiochip0 'pinctrl-bcm2711', gpiochip1 "
				 "'raspberrypi-exp-gpio')");
}

static void
test_errors_name_role_and_line(void **state)
{
	struct board_profile p;
	char why[512] = "";

	(void)state;
	make_profile(&p);

	/* a line someone else holds */
	fake.chip[0].line[24].used = true;
	snprintf(fake.chip[0].line[24].consumer, sizeof(fake.chip[0].line[24].consumer), "gpioset");
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_int_equal(errno, EBUSY);
	assert_string_equal(why, "button.ack1: line GPIO24 (offset 24) on gpiochip0 is busy "
				 "(used by 'gpioset')");
	/* everything taken before the failure was released */
	assert_false(fake.chip[0].line[17].used);
	assert_int_equal(fake.open_requests, 0);
	fake.chip[0].line[24].used = false;

	/* a name the chip does not have */
	snprintf(p.outputs[OUTPUT_AMBER].name, sizeof(p.outputs[OUTPUT_AMBER].name), "GPIO99");
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "lamp.amber: line 'GPIO99' not found on chip 'pinctrl-bcm2711'");

	/* an offset past the end */
	make_profile(&p);
	p.buttons[1].line.offset = 40;
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "button.ack2: offset 40 not on chip 'pinctrl-bcm2711' "
				 "(gpiochip0 has 28 lines)");

	/* by path */
	make_profile(&p);
	p.chip_label[0] = '\0';
	snprintf(p.chip_path, sizeof(p.chip_path), "%s/gpiochip7", fake_dev_dir);
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "not found"));
	assert_int_equal(fake.open_chips, 0);
}

static void
test_describe(void **state)
{
	struct board_profile p;
	struct gpio_line_info info[8];
	char why[256];
	int n;

	(void)state;
	make_profile(&p);
	fake.chip[0].line[24].used = true;
	snprintf(fake.chip[0].line[24].consumer, sizeof(fake.chip[0].line[24].consumer), "other");
	fake.chip[0].line[24].s.bias = GPIOD_LINE_BIAS_PULL_UP;
	snprintf(p.outputs[OUTPUT_AMBER].name, sizeof(p.outputs[OUTPUT_AMBER].name), "GPIO99");
	n = gpio_describe(&gpio_gpiod_ops, &p, info, 8, why, sizeof(why));
	assert_int_equal(n, 6); /* red amber green buzzer ack1 ack2 */
	assert_string_equal(info[0].role, "lamp.red");
	assert_string_equal(info[0].chip, "gpiochip0");
	assert_string_equal(info[0].chip_label, "pinctrl-bcm2711");
	assert_int_equal(info[0].offset, 17);
	assert_string_equal(info[0].name, "GPIO17");
	assert_false(info[0].used);
	assert_int_equal(info[1].err, -ENOENT);
	assert_string_equal(info[4].role, "button.ack1");
	assert_true(info[4].used);
	assert_string_equal(info[4].consumer, "other");
	assert_int_equal(info[4].bias, BIAS_PULL_UP);
	assert_int_equal(info[5].offset, 25);
	assert_int_equal(fake.open_requests, 0); /* nothing was requested */
	fake.chip[0].line[24].used = false;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_requests_lines_as_profile_says, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_edges_reported_with_their_time, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_seqno_gap_reconciles_with_level, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_seqno_gap_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_events_in_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chip_by_label_skips_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_role_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
	};

	return cmocka_run_group_tests_name("gpio_gpiod2", tests, NULL, NULL);
}
