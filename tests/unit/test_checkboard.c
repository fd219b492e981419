/* Unit tests for gpio_describe() and the --check-board report (checkboard.c)
 * with a fake backend whose describe op answers from a table: every state
 * a real chip can be in, including those the VM test (tests/hw) cannot
 * easily make, such as two roles on one line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "checkboard.h"
#include "gpio.h"

/* --- the fake backend ----------------------------------------------------- */

struct fake_line {
	int err;
	unsigned offset;
	const char *name;
	bool used;
	const char *consumer;
};

static struct fake_line fake[OUTPUT_COUNT + BOARD_MAX_BUTTONS];
static int fake_chip_err; /* describe's own result */
static char fake_roles[OUTPUT_COUNT + BOARD_MAX_BUTTONS][48];
static size_t fake_n;

static int
fake_describe(const struct board_profile *p, struct gpio_line_info *info, size_t n, char *why,
	      size_t why_size)
{
	(void)p;
	fake_n = n;
	if (fake_chip_err) {
		snprintf(why, why_size, "chip 'x' not found");
		return fake_chip_err;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(fake_roles[i], sizeof(fake_roles[i]), "%s", info[i].role);
		info[i].err = fake[i].err;
		snprintf(info[i].chip, sizeof(info[i].chip), "gpiochip4");
		info[i].offset = fake[i].offset;
		snprintf(info[i].name, sizeof(info[i].name), "%s",
			 fake[i].name ? fake[i].name : "");
		info[i].used = fake[i].used;
		snprintf(info[i].consumer, sizeof(info[i].consumer), "%s",
			 fake[i].consumer ? fake[i].consumer : "");
	}
	return 0;
}

static const struct gpio_ops fake_ops = { .name = "fake", .describe = fake_describe };
static const struct gpio_ops no_describe_ops = { .name = "old" };

static void
line(struct board_line *l, const char *name)
{
	memset(l, 0, sizeof(*l));
	l->present = true;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->offset = -1;
}

/* red, amber, green, buzzer (no blue), buttons ack1 and ack2 */
static void
profile(struct board_profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "t.conf");
	snprintf(p->chip_label, sizeof(p->chip_label), "pinctrl-rp1");
	line(&p->outputs[OUTPUT_RED], "GPIO17");
	line(&p->outputs[OUTPUT_AMBER], "GPIO27");
	line(&p->outputs[OUTPUT_GREEN], "GPIO22");
	line(&p->outputs[OUTPUT_BUZZER], "GPIO23");
	snprintf(p->buttons[0].id, sizeof(p->buttons[0].id), "ack1");
	line(&p->buttons[0].line, "GPIO24");
	snprintf(p->buttons[1].id, sizeof(p->buttons[1].id), "ack2");
	line(&p->buttons[1].line, "GPIO25");
	p->n_buttons = 2;
}

static int
setup(void **state)
{
	static const unsigned offsets[] = { 17, 27, 22, 23, 24, 25 };

	(void)state;
	memset(fake, 0, sizeof(fake));
	for (size_t i = 0; i < 6; i++) {
		fake[i].offset = offsets[i];
		fake[i].name = "GPIOx";
	}
	fake_chip_err = 0;
	fake_n = 0;
	return 0;
}

/* Runs check_board() and returns its output (static buffer). */
static const char *
report(const struct gpio_ops *ops, int *code)
{
	static char out[4096];
	struct board_profile p;
	FILE *f;

	profile(&p);
	f = fmemopen(out, sizeof(out), "w");
	assert_non_null(f);
	*code = check_board(ops, &p, f);
	fclose(f);
	return out;
}

/* --- tests ------------------------------------------------------------------ */

static void
test_describe_lists_roles_in_profile_order(void **state)
{
	struct gpio_line_info info[OUTPUT_COUNT + BOARD_MAX_BUTTONS];
	struct board_profile p;
	char why[64];
	int n;

	(void)state;
	profile(&p);
	n = gpio_describe(&fake_ops, &p, info, 16, why, sizeof(why));
	assert_int_equal(n, 6);
	assert_int_equal(fake_n, 6);
	assert_string_equal(info[0].role, "lamp.red");
	assert_string_equal(info[2].role, "lamp.green");
	assert_string_equal(info[3].role, "buzzer"); /* no blue in this profile */
	assert_string_equal(info[4].role, "button.ack1");
	assert_string_equal(info[5].role, "button.ack2");
	assert_ptr_equal(info[4].want, &p.buttons[0].line);
	assert_true(info[0].is_output);
	assert_false(info[4].is_output);

	/* too small a table: refused, not overrun */
	assert_int_equal(gpio_describe(&fake_ops, &p, info, 5, why, sizeof(why)), -ENOBUFS);
	/* a backend without the op says so */
	assert_int_equal(gpio_describe(&no_describe_ops, &p, info, 16, why, sizeof(why)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(why, "old"));
}

static void
test_all_free_is_exit_0(void **state)
{
	int code;
	const char *out = report(&fake_ops, &code);

	(void)state;
	assert_int_equal(code, 0);
	assert_non_null(strstr(out, "6 roles resolved, all lines free"));
	assert_non_null(strstr(out, "'pinctrl-rp1' (fake backend)"));
}

static void
test_held_by_teamboard_is_exit_0(void **state)
{
	int code;
	const char *out;

	(void)state;
	for (int i = 0; i < 6; i++) {
		fake[i].used = true;
		fake[i].consumer = "teamboard";
	}
	out = report(&fake_ops, &code);
	assert_int_equal(code, 0);
	assert_non_null(strstr(out, "used by \"teamboard\" (a running teamboardd)"));
	assert_non_null(strstr(out, "held by teamboard"));
}

static void
test_other_consumer_is_busy_exit_1(void **state)
{
	int code;
	const char *out;

	(void)state;
	fake[1].used = true;
	fake[1].consumer = "gpioset";
	fake[5].used = true; /* a kernel user has no consumer name */
	out = report(&fake_ops, &code);
	assert_int_equal(code, 1);
	assert_non_null(strstr(out, "BUSY: used by \"gpioset\""));
	assert_non_null(strstr(out, "BUSY: used by \"the kernel\""));
	assert_non_null(strstr(out, "2 used by others"));
}

static void
test_missing_line_is_exit_1(void **state)
{
	int code;
	const char *out;

	(void)state;
	fake[2].err = -ENOENT;
	out = report(&fake_ops, &code);
	assert_int_equal(code, 1);
	assert_non_null(strstr(out, "NOT FOUND: line 'GPIO22' is not on this chip"));
	assert_non_null(strstr(out, "1 not found"));
}

static void
test_two_roles_on_one_line_is_a_clash(void **state)
{
	int code;
	const char *out;

	(void)state;
	fake[4].offset = 17; /* button.ack1 on the red lamp's line */
	out = report(&fake_ops, &code);
	assert_int_equal(code, 1);
	assert_non_null(strstr(out, "CLASH: same line as lamp.red"));
}

static void
test_chip_missing_and_no_describe_are_exit_1(void **state)
{
	int code;
	const char *out;

	(void)state;
	fake_chip_err = -ENODEV;
	out = report(&fake_ops, &code);
	assert_int_equal(code, 1);
	assert_non_null(strstr(out, "t.conf: chip 'x' not found"));

	out = report(&no_describe_ops, &code);
	assert_int_equal(code, 1);
	assert_non_null(strstr(out, "cannot describe"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_describe_lists_roles_in_profile_order, setup),
		cmocka_unit_test_setup(test_all_free_is_exit_0, setup),
		cmocka_unit_test_setup(test_held_by_teamboard_is_exit_0, setup),
		cmocka_unit_test_setup(test_other_consumer_is_busy_exit_1, setup),
		cmocka_unit_test_setup(test_missing_line_is_exit_1, setup),
		cmocka_unit_test_setup(test_two_roles_on_one_line_is_a_clash, setup),
		cmocka_unit_test_setup(test_chip_missing_and_no_describe_are_exit_1, setup),
	};

	return cmocka_run_group_tests_name("checkboard", tests, NULL, NULL);
}
