/* Unit tests for gpio.c + the sim backend, and the libgpiod backend's error
 * paths (this machine has no GPIO chips; real-kernel tests run in a VM). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gpio.h"
#include "timeutil.h"

/* --- fixtures ------------------------------------------------------------ */

static void
line_by_name(struct board_line *l, const char *name, bool active_low)
{
	memset(l, 0, sizeof(*l));
	l->present = true;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->offset = -1;
	l->active_low = active_low;
}

/* A Pi-like profile: red, amber, green, buzzer (no blue), two buttons. */
static void
make_profile(struct board_profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "test.conf");
	snprintf(p->chip_label, sizeof(p->chip_label), "pinctrl-bcm2711");
	line_by_name(&p->outputs[OUTPUT_RED], "GPIO17", false);
	line_by_name(&p->outputs[OUTPUT_AMBER], "GPIO27", false);
	line_by_name(&p->outputs[OUTPUT_GREEN], "GPIO22", false);
	line_by_name(&p->outputs[OUTPUT_BUZZER], "GPIO23", true);
	snprintf(p->buttons[0].id, sizeof(p->buttons[0].id), "ack1");
	line_by_name(&p->buttons[0].line, "GPIO24", true);
	p->buttons[0].line.bias = BIAS_PULL_UP;
	snprintf(p->buttons[1].id, sizeof(p->buttons[1].id), "ack2");
	line_by_name(&p->buttons[1].line, "GPIO25", true);
	p->n_buttons = 2;
}

struct edge {
	unsigned button;
	bool pressed;
	uint64_t at_usec;
};

struct recorder {
	struct edge edges[16];
	size_t n;
};

static void
record_edge(void *userdata, unsigned button, bool pressed, uint64_t at_usec)
{
	struct recorder *r = userdata;

	assert_true(r->n < 16);
	r->edges[r->n++] = (struct edge){ button, pressed, at_usec };
}

/* A sim whose set() can be made to fail and whose calls are counted. */
static struct {
	bool fail[OUTPUT_COUNT];
	unsigned calls[OUTPUT_COUNT];
	unsigned off_calls[OUTPUT_COUNT];
	bool closed;
	bool off_at_close[OUTPUT_COUNT];
	size_t history_at_close[OUTPUT_COUNT];
} spy;

static int
spy_set(struct gpio *g, enum output o, bool on)
{
	spy.calls[o]++;
	if (!on)
		spy.off_calls[o]++;
	if (spy.fail[o])
		return -EIO;
	return gpio_sim_ops.set(g, o, on);
}

/* Looks at the simulated chip after gpio_free()'s all-off and before the
 * chip goes away: what a person would see on the stack light. */
static void
spy_close(struct gpio *g)
{
	for (unsigned o = 0; o < OUTPUT_COUNT; o++) {
		struct gpio_sim_transition t[GPIO_SIM_HISTORY];
		size_t n = gpio_sim_history(g, (enum output)o, t, GPIO_SIM_HISTORY);

		spy.history_at_close[o] = n;
		spy.off_at_close[o] = n == 0 || !t[n - 1].value;
	}
	spy.closed = true;
	gpio_sim_ops.close(g);
}

static struct gpio_ops spy_ops;

static int
setup_spy(void **state)
{
	(void)state;
	memset(&spy, 0, sizeof(spy));
	spy_ops = gpio_sim_ops;
	spy_ops.set = spy_set;
	spy_ops.close = spy_close;
	return 0;
}

static struct gpio *
new_sim(const struct gpio_ops *ops, struct recorder *rec)
{
	struct board_profile p;
	char why[256];
	struct gpio *g;

	make_profile(&p);
	g = gpio_new(ops, &p, rec ? record_edge : NULL, rec, why, sizeof(why));
	if (!g)
		fail_msg("gpio_new: %s", why);
	return g;
}

/* --- tests ----------------------------------------------------------------- */

static void
test_backend_names(void **state)
{
	(void)state;
	assert_ptr_equal(gpio_backend("sim"), &gpio_sim_ops);
	assert_ptr_equal(gpio_backend("libgpiod"), &gpio_gpiod_ops);
	assert_null(gpio_backend("gpiod"));
	assert_null(gpio_backend("SIM"));
	assert_null(gpio_backend(""));
	assert_null(gpio_backend(NULL));
}

static void
test_outputs_start_off(void **state)
{
	struct gpio_sim_transition t[4];
	struct gpio *g;

	(void)state;
	g = new_sim(&spy_ops, NULL);
	assert_true(gpio_is_sim(g));
	for (unsigned o = 0; o < OUTPUT_COUNT; o++) {
		bool present = o != OUTPUT_BLUE;

		assert_int_equal(gpio_has_output(g, (enum output)o), present);
		assert_false(gpio_get_output(g, (enum output)o));
		/* driven off once at start, even though the sim starts off */
		assert_int_equal(spy.off_calls[o], present ? 1 : 0);
		/* ... which is no visible transition */
		assert_int_equal(gpio_sim_history(g, (enum output)o, t, 4), 0);
	}
	assert_int_equal(gpio_errors(g), 0);
	assert_string_equal(gpio_profile(g)->chip_label, "pinctrl-bcm2711");
	gpio_free(g);
}

static void
test_profile_is_copied(void **state)
{
	struct board_profile p;
	char why[128];
	struct gpio *g;

	(void)state;
	make_profile(&p);
	g = gpio_new(&gpio_sim_ops, &p, NULL, NULL, why, sizeof(why));
	assert_non_null(g);
	/* the caller's profile may go away (reload) */
	memset(&p, 0xa5, sizeof(p));
	assert_int_equal(gpio_profile(g)->n_buttons, 2);
	assert_string_equal(gpio_profile(g)->buttons[1].id, "ack2");
	assert_true(gpio_has_output(g, OUTPUT_RED));
	gpio_free(g);
}

static void
test_set_get_and_history(void **state)
{
	struct gpio_sim_transition t[8];
	uint64_t before, after;
	struct gpio *g;

	(void)state;
	g = new_sim(&spy_ops, NULL);
	before = time_mono_usec();
	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	assert_true(gpio_get_output(g, OUTPUT_RED));
	assert_false(gpio_get_output(g, OUTPUT_AMBER));
	/* same value again: no backend call, no transition */
	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	assert_int_equal(spy.calls[OUTPUT_RED], 2); /* start-up off + on */
	assert_int_equal(gpio_set(g, OUTPUT_RED, false), 0);
	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	after = time_mono_usec();

	assert_int_equal(gpio_sim_history(g, OUTPUT_RED, t, 8), 3);
	assert_true(t[0].value);
	assert_false(t[1].value);
	assert_true(t[2].value);
	assert_true(t[0].at_usec >= before);
	assert_true(t[1].at_usec >= t[0].at_usec);
	assert_true(t[2].at_usec >= t[1].at_usec);
	assert_true(t[2].at_usec <= after);
	/* other lines untouched */
	assert_int_equal(gpio_sim_history(g, OUTPUT_AMBER, t, 8), 0);
	gpio_free(g);
}

static void
test_absent_and_invalid_outputs(void **state)
{
	struct gpio_sim_transition t[4];
	struct gpio *g;

	(void)state;
	g = new_sim(&spy_ops, NULL);
	/* blue is not on this board: a no-op, not an error */
	assert_int_equal(gpio_set(g, OUTPUT_BLUE, true), 0);
	assert_false(gpio_get_output(g, OUTPUT_BLUE));
	assert_int_equal(spy.calls[OUTPUT_BLUE], 0);
	assert_int_equal(gpio_sim_history(g, OUTPUT_BLUE, t, 4), 0);

	assert_int_equal(gpio_set(g, OUTPUT_COUNT, true), -EINVAL);
	assert_int_equal(gpio_set(g, (enum output) - 1, true), -EINVAL);
	assert_false(gpio_get_output(g, OUTPUT_COUNT));
	assert_false(gpio_has_output(g, OUTPUT_COUNT));
	assert_int_equal(gpio_sim_history(g, OUTPUT_COUNT, t, 4), 0);
	assert_int_equal(gpio_errors(g), 0);
	gpio_free(g);
}

static void
test_history_ring_keeps_newest(void **state)
{
	struct gpio_sim_transition t[GPIO_SIM_HISTORY + 8];
	struct gpio *g;
	size_t n;

	(void)state;
	g = new_sim(&gpio_sim_ops, NULL);
	/* 101 transitions: on, off, on, ..., on */
	for (unsigned i = 0; i < 101; i++)
		assert_int_equal(gpio_set(g, OUTPUT_BUZZER, i % 2 == 0), 0);
	n = gpio_sim_history(g, OUTPUT_BUZZER, t, GPIO_SIM_HISTORY + 8);
	assert_int_equal(n, GPIO_SIM_HISTORY);
	/* oldest first, alternating, ending with the current value */
	assert_true(t[n - 1].value);
	for (size_t i = 1; i < n; i++) {
		assert_int_not_equal(t[i].value, t[i - 1].value);
		assert_true(t[i].at_usec >= t[i - 1].at_usec);
	}
	/* a smaller buffer gets the newest entries */
	n = gpio_sim_history(g, OUTPUT_BUZZER, t, 3);
	assert_int_equal(n, 3);
	assert_true(t[0].value);
	assert_false(t[1].value);
	assert_true(t[2].value);
	assert_int_equal(gpio_sim_history(g, OUTPUT_BUZZER, t, 0), 0);
	gpio_free(g);
}

static void
test_buttons_edges(void **state)
{
	struct recorder rec = { .n = 0 };
	bool level = true;
	struct gpio *g;

	(void)state;
	g = new_sim(&gpio_sim_ops, &rec);
	assert_int_equal(gpio_fds(g, (int[4]){ 0 }, 4), 0);
	assert_int_equal(g->ops->get_button(g, 0, &level), 0);
	assert_false(level);

	assert_int_equal(gpio_sim_set_button(g, 0, true, 1000), 0);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.edges[0].button, 0);
	assert_true(rec.edges[0].pressed);
	assert_int_equal(rec.edges[0].at_usec, 1000);
	assert_int_equal(g->ops->get_button(g, 0, &level), 0);
	assert_true(level);
	/* the other button is untouched */
	assert_int_equal(g->ops->get_button(g, 1, &level), 0);
	assert_false(level);

	/* holding it "pressed" again is no new edge */
	assert_int_equal(gpio_sim_set_button(g, 0, true, 1500), 0);
	assert_int_equal(rec.n, 1);

	assert_int_equal(gpio_sim_set_button(g, 0, false, 2000), 0);
	assert_int_equal(rec.n, 2);
	assert_false(rec.edges[1].pressed);
	assert_int_equal(rec.edges[1].at_usec, 2000);

	assert_int_equal(gpio_sim_set_button(g, 1, true, 3000), 0);
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.edges[2].button, 1);

	/* no such button: refused, no edge */
	assert_int_equal(gpio_sim_set_button(g, 2, true, 4000), -EINVAL);
	assert_int_equal(gpio_sim_set_button(g, 1000000, true, 4000), -EINVAL);
	assert_int_equal(g->ops->get_button(g, 2, &level), -EINVAL);
	assert_int_equal(rec.n, 3);
	gpio_free(g);
}

static void
test_button_without_callback(void **state)
{
	struct gpio *g;
	bool level = false;

	(void)state;
	g = new_sim(&gpio_sim_ops, NULL);
	assert_int_equal(gpio_sim_set_button(g, 1, true, 10), 0);
	assert_int_equal(g->ops->get_button(g, 1, &level), 0);
	assert_true(level);
	gpio_free(g);
}

static void
test_errors_are_counted(void **state)
{
	struct gpio_sim_transition t[4];
	struct gpio *g;

	(void)state;
	g = new_sim(&spy_ops, NULL);
	spy.fail[OUTPUT_AMBER] = true;
	assert_int_equal(gpio_set(g, OUTPUT_AMBER, true), -EIO);
	assert_int_equal(gpio_errors(g), 1);
	/* the value is what the line really has */
	assert_false(gpio_get_output(g, OUTPUT_AMBER));
	assert_int_equal(gpio_sim_history(g, OUTPUT_AMBER, t, 4), 0);
	/* the same wish is retried, not skipped as "unchanged" */
	assert_int_equal(gpio_set(g, OUTPUT_AMBER, true), -EIO);
	assert_int_equal(gpio_errors(g), 2);
	spy.fail[OUTPUT_AMBER] = false;
	assert_int_equal(gpio_set(g, OUTPUT_AMBER, true), 0);
	assert_true(gpio_get_output(g, OUTPUT_AMBER));
	assert_int_equal(gpio_errors(g), 2);
	/* failures of other outputs don't affect red */
	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	assert_int_equal(gpio_errors(g), 2);
	gpio_free(g);
}

static void
test_all_off(void **state)
{
	struct gpio_sim_transition t[4];
	struct gpio *g;

	(void)state;
	g = new_sim(&spy_ops, NULL);
	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	assert_int_equal(gpio_set(g, OUTPUT_BUZZER, true), 0);
	spy.fail[OUTPUT_GREEN] = true;
	/* one line failing does not stop the others going off */
	assert_int_equal(gpio_all_off(g), -EIO);
	assert_int_equal(gpio_errors(g), 1);
	assert_false(gpio_get_output(g, OUTPUT_RED));
	assert_false(gpio_get_output(g, OUTPUT_BUZZER));
	assert_int_equal(gpio_sim_history(g, OUTPUT_BUZZER, t, 4), 2);
	assert_false(t[1].value);
	spy.fail[OUTPUT_GREEN] = false;
	assert_int_equal(gpio_all_off(g), 0);
	gpio_free(g);
}

static void
test_free_leaves_everything_off(void **state)
{
	struct gpio *g;

	(void)state;
	g = new_sim(&spy_ops, NULL);
	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	assert_int_equal(gpio_set(g, OUTPUT_AMBER, true), 0);
	assert_int_equal(gpio_set(g, OUTPUT_BUZZER, true), 0);
	gpio_free(g);
	assert_true(spy.closed);
	for (unsigned o = 0; o < OUTPUT_COUNT; o++)
		assert_true(spy.off_at_close[o]);
	/* the lit lines really went on and then off */
	assert_int_equal(spy.history_at_close[OUTPUT_RED], 2);
	assert_int_equal(spy.history_at_close[OUTPUT_BUZZER], 2);
	assert_int_equal(spy.history_at_close[OUTPUT_GREEN], 0);
	gpio_free(NULL);
}

static void
test_sim_rejects_too_many_buttons(void **state)
{
	struct board_profile p;
	char why[128] = "untouched";

	(void)state;
	make_profile(&p);
	p.n_buttons = BOARD_MAX_BUTTONS + 1;
	assert_null(gpio_new(&gpio_sim_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "buttons"));
	assert_null(gpio_new(NULL, &p, NULL, NULL, why, sizeof(why)));
	assert_null(gpio_new(&gpio_sim_ops, NULL, NULL, NULL, why, sizeof(why)));
}

/* A backend that is neither sim nor real, for the sim-only wrappers. */
static int
fake_open(struct gpio *g, const struct board_profile *p, char *why, size_t why_size)
{
	(void)p;
	(void)why;
	(void)why_size;
	g->priv = NULL;
	return 0;
}

static void
fake_close(struct gpio *g)
{
	(void)g;
}

static int
fake_set(struct gpio *g, enum output o, bool on)
{
	(void)g;
	(void)o;
	(void)on;
	return 0;
}

static void
test_sim_calls_refused_on_other_backends(void **state)
{
	const struct gpio_ops fake = {
		.name = "fake",
		.open = fake_open,
		.close = fake_close,
		.set = fake_set,
	};
	struct gpio_sim_transition t[4];
	struct board_profile p;
	char why[64];
	struct gpio *g;

	(void)state;
	make_profile(&p);
	g = gpio_new(&fake, &p, NULL, NULL, why, sizeof(why));
	assert_non_null(g);
	assert_false(gpio_is_sim(g));
	assert_int_equal(gpio_sim_set_button(g, 0, true, 1), -EOPNOTSUPP);
	assert_int_equal(gpio_set(g, OUTPUT_RED, true), 0);
	assert_int_equal(gpio_sim_history(g, OUTPUT_RED, t, 4), 0);
	/* no fds / dispatch ops: nothing to poll */
	assert_int_equal(gpio_fds(g, (int[2]){ 0 }, 2), 0);
	assert_int_equal(gpio_dispatch(g, 3), -EINVAL);
	gpio_free(g);

	assert_false(gpio_is_sim(NULL));
	assert_int_equal(gpio_sim_set_button(NULL, 0, true, 1), -EOPNOTSUPP);
	assert_int_equal(gpio_errors(NULL), 0);
	assert_null(gpio_profile(NULL));
}

/* --- libgpiod backend: what can be checked without a GPIO chip ------------ */

static void
test_gpiod_missing_label(void **state)
{
	struct board_profile p;
	char why[512] = "";

	(void)state;
	make_profile(&p);
	snprintf(p.chip_label, sizeof(p.chip_label), "no-such-chip-label");
	errno = 0;
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_int_not_equal(errno, 0);
	print_message("    why: %s\n", why);
	assert_non_null(strstr(why, "'no-such-chip-label'"));
	assert_non_null(strstr(why, "not found"));
}

static void
test_gpiod_missing_path(void **state)
{
	struct board_profile p;
	char why[512] = "";

	(void)state;
	make_profile(&p);
	p.chip_label[0] = '\0';
	snprintf(p.chip_path, sizeof(p.chip_path), "/dev/gpiochip-teamboard-test");
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	print_message("    why: %s\n", why);
	assert_non_null(strstr(why, "'/dev/gpiochip-teamboard-test'"));

	/* a file that is not a GPIO chip */
	snprintf(p.chip_path, sizeof(p.chip_path), "/dev/null");
	why[0] = '\0';
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	print_message("    why: %s\n", why);
	assert_non_null(strstr(why, "'/dev/null'"));
}

static void
test_gpiod_no_chip_in_profile(void **state)
{
	struct board_profile p;
	char why[256] = "";

	(void)state;
	make_profile(&p);
	p.chip_label[0] = '\0';
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "chip"));
	/* a tiny buffer is not overrun */
	char tiny[8];
	memset(tiny, 'x', sizeof(tiny));
	snprintf(p.chip_label, sizeof(p.chip_label), "no-such-chip-label");
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, tiny, sizeof(tiny)));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_null(gpio_new(&gpio_gpiod_ops, &p, NULL, NULL, NULL, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend_names),
		cmocka_unit_test_setup(test_outputs_start_off, setup_spy),
		cmocka_unit_test(test_profile_is_copied),
		cmocka_unit_test_setup(test_set_get_and_history, setup_spy),
		cmocka_unit_test_setup(test_absent_and_invalid_outputs, setup_spy),
		cmocka_unit_test(test_history_ring_keeps_newest),
		cmocka_unit_test(test_buttons_edges),
		cmocka_unit_test(test_button_without_callback),
		cmocka_unit_test_setup(test_errors_are_counted, setup_spy),
		cmocka_unit_test_setup(test_all_off, setup_spy),
		cmocka_unit_test_setup(test_free_leaves_everything_off, setup_spy),
		cmocka_unit_test(test_sim_rejects_too_many_buttons),
		cmocka_unit_test(test_sim_calls_refused_on_other_backends),
		cmocka_unit_test(test_gpiod_missing_label),
		cmocka_unit_test(test_gpiod_missing_path),
		cmocka_unit_test(test_gpiod_no_chip_in_profile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
