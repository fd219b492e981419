/* Unit tests for board profiles (SPEC §9). Run from the repository root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "board.h"
#include "timeutil.h"

static char tmpdir[] = "/tmp/test_board.XXXXXX";
static unsigned file_seq;

static int
setup_dir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *
write_text(const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/p%u.conf", tmpdir, file_seq++);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* A complete, valid profile; tests append or replace parts of it. */
#define CHIP   "[chip]\nlabel = test-chip\n"
#define LAMPS  "[lamp.red]\nline = R\n[lamp.amber]\nline = A\n[lamp.green]\nline = G\n"
#define BUTTON "[button.b1]\nline = B1\n"

static void
load_ok(const char *text, struct board_profile *p)
{
	struct conf_error err;
	char msg[700];

	if (board_profile_load(write_text(text), p, &err) < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		fail_msg("rejected: %s\n%s", msg, text);
	}
}

static const char *
expect_error(const char *text, int line, const char *key)
{
	static struct conf_error err;
	struct board_profile p;

	memset(&err, 0, sizeof(err));
	if (board_profile_load(write_text(text), &p, &err) == 0)
		fail_msg("accepted:\n%s", text);
	if (err.line != line || strcmp(err.key, key) != 0)
		fail_msg("expected line %d key '%s', got line %d key '%s': %s\n%s", line, key,
			 err.line, err.key, err.message, text);
	assert_true(err.message[0] != '\0');
	return err.message;
}

static void
check_pi_wiring(const struct board_profile *p)
{
	static const char *const names[OUTPUT_COUNT] = { "GPIO17", "GPIO27", "GPIO22", "GPIO26",
							 "GPIO23" };
	unsigned i;

	for (i = 0; i < OUTPUT_COUNT; i++) {
		assert_true(p->outputs[i].present);
		assert_string_equal(p->outputs[i].name, names[i]);
		assert_int_equal(p->outputs[i].offset, -1);
		assert_false(p->outputs[i].active_low);
		assert_int_equal(p->outputs[i].bias, BIAS_AS_IS);
	}
	assert_int_equal(p->n_buttons, 2);
	assert_string_equal(p->buttons[0].id, "ack1");
	assert_string_equal(p->buttons[0].line.name, "GPIO24");
	assert_string_equal(p->buttons[0].agent, "anna");
	assert_string_equal(p->buttons[1].id, "ack2");
	assert_string_equal(p->buttons[1].line.name, "GPIO25");
	assert_string_equal(p->buttons[1].agent, "boris");
	for (i = 0; i < 2; i++) {
		assert_true(p->buttons[i].line.present);
		assert_true(p->buttons[i].line.active_low);
		assert_int_equal(p->buttons[i].line.bias, BIAS_PULL_UP);
		assert_int_equal(p->buttons[i].debounce_usec, 0);
	}
	assert_string_equal(p->chip_path, "");
}

static void
test_shipped_profiles(void **state)
{
	static const struct {
		const char *path, *label;
	} shipped[] = {
		{ "board/sim.conf", "teamboard-sim" },
		{ "board/rpi3.conf", "pinctrl-bcm2835" },
		{ "board/rpi4.conf", "pinctrl-bcm2711" },
		{ "board/rpi5.conf", "pinctrl-rp1" },
		{ "board/zero2w.conf", "pinctrl-bcm2835" },
	};
	struct board_profile p;
	struct conf_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		memset(&p, 0, sizeof(p));
		if (board_profile_load(shipped[i].path, &p, &err) < 0)
			fail_msg("%s: %s", shipped[i].path, err.message);
		assert_string_equal(p.path, shipped[i].path);
		assert_string_equal(p.chip_label, shipped[i].label);
		check_pi_wiring(&p);
	}
}

static void
test_minimal_and_offsets(void **state)
{
	struct board_profile p;

	(void)state;
	load_ok("[chip]\npath = /dev/gpiochip0\n"
		"[lamp.red]\noffset = 17\n[lamp.amber]\noffset = 27\n[lamp.green]\noffset = 0\n"
		"[button.big-red_1]\noffset = 24\nactive_low = yes\nbias = pull-down\n"
		"debounce = 50ms\n",
		&p);
	assert_string_equal(p.chip_path, "/dev/gpiochip0");
	assert_string_equal(p.chip_label, "");
	assert_int_equal(p.outputs[OUTPUT_RED].offset, 17);
	assert_string_equal(p.outputs[OUTPUT_RED].name, "");
	assert_int_equal(p.outputs[OUTPUT_GREEN].offset, 0);
	assert_false(p.outputs[OUTPUT_BLUE].present);
	assert_false(p.outputs[OUTPUT_BUZZER].present);
	assert_int_equal(p.n_buttons, 1);
	assert_string_equal(p.buttons[0].id, "big-red_1");
	assert_string_equal(p.buttons[0].agent, "");
	assert_true(p.buttons[0].line.active_low);
	assert_int_equal(p.buttons[0].line.bias, BIAS_PULL_DOWN);
	assert_int_equal(p.buttons[0].debounce_usec, 50 * USEC_PER_MSEC);
	assert_int_equal(board_button_index(&p, "big-red_1"), 0);
	assert_int_equal(board_button_index(&p, "ack1"), -ENOENT);

	/* Eight buttons are allowed, in file order. */
	load_ok(CHIP LAMPS "[button.a]\nline = 1\n[button.b]\nline = 2\n[button.c]\nline = 3\n"
			   "[button.d]\nline = 4\n[button.e]\nline = 5\n[button.f]\nline = 6\n"
			   "[button.g]\nline = 7\n[button.h]\nline = 8\nagent = Zoë K.\n",
		&p);
	assert_int_equal(p.n_buttons, BOARD_MAX_BUTTONS);
	assert_int_equal(board_button_index(&p, "h"), 7);
	assert_string_equal(p.buttons[7].agent, "Zoë K.");
}

static void
test_missing_roles(void **state)
{
	(void)state;
	assert_non_null(
		strstr(expect_error(CHIP "[lamp.amber]\nline = A\n[lamp.green]\nline = G\n" BUTTON,
				    0, "lamp.red"),
		       "required"));
	expect_error(CHIP "[lamp.red]\nline = R\n[lamp.green]\nline = G\n" BUTTON, 0, "lamp.amber");
	expect_error(CHIP "[lamp.red]\nline = R\n[lamp.amber]\nline = A\n" BUTTON, 0, "lamp.green");
	expect_error(LAMPS BUTTON, 0, "chip");
	expect_error("[chip]\n" LAMPS BUTTON, 1, "chip");
	assert_non_null(strstr(expect_error(CHIP LAMPS, 0, "button"), "button"));
	/* A section without its line. */
	expect_error(CHIP LAMPS "[buzzer]\nactive_low = true\n" BUTTON, 9, "buzzer");
	expect_error(CHIP LAMPS "[button.b1]\nagent = anna\n", 9, "button.b1");
}

static void
test_line_conflicts(void **state)
{
	const char *msg;

	(void)state;
	msg = expect_error(CHIP LAMPS "[buzzer]\nline = A\n" BUTTON, 10, "buzzer.line");
	assert_non_null(strstr(msg, "lamp.amber"));
	msg = expect_error(CHIP LAMPS "[button.b1]\nline = G\n", 10, "button.b1.line");
	assert_non_null(strstr(msg, "lamp.green"));
	expect_error(CHIP "[lamp.red]\noffset = 5\n[lamp.amber]\noffset = 5\n", 6,
		     "lamp.amber.offset");
	expect_error(CHIP LAMPS "[button.b1]\noffset = 3\n[button.b2]\noffset = 3\n", 12,
		     "button.b2.offset");
	msg = expect_error(CHIP "[lamp.red]\nline = R\noffset = 17\n", 5, "lamp.red.offset");
	assert_non_null(strstr(msg, "not both"));
	expect_error(CHIP "[lamp.red]\noffset = 17\nline = R\n", 5, "lamp.red.line");
	msg = expect_error("[chip]\nlabel = x\npath = /dev/gpiochip0\n", 3, "chip.path");
	assert_non_null(strstr(msg, "not both"));
}

static void
test_bad_keys_and_values(void **state)
{
	const char *msg;

	(void)state;
	msg = expect_error(CHIP LAMPS "[button.b1]\nline = B\nbias = pull_up\n", 11,
			   "button.b1.bias");
	assert_non_null(strstr(msg, "pull-up"));
	msg = expect_error(CHIP "[lamp.red]\nline = R\nbias = pull-up\n", 5, "lamp.red.bias");
	assert_non_null(strstr(msg, "buttons"));
	expect_error(CHIP "[buzzer]\nline = Z\nagent = anna\n", 5, "buzzer.agent");
	expect_error(CHIP "[lamp.red]\nline = R\ndebounce = 5ms\n", 5, "lamp.red.debounce");
	msg = expect_error(CHIP "[lamp.red]\nline = R\ncolour = red\n", 5, "lamp.red.colour");
	assert_non_null(strstr(msg, "unknown key"));
	expect_error(CHIP "[lamp.red]\nline = R\nactive_low = maybe\n", 5, "lamp.red.active_low");
	expect_error(CHIP "[lamp.red]\noffset = -1\n", 4, "lamp.red.offset");
	expect_error(CHIP "[lamp.red]\noffset = 65536\n", 4, "lamp.red.offset");
	expect_error(CHIP "[lamp.red]\noffset = 0x11\n", 4, "lamp.red.offset");
	expect_error(CHIP "[lamp.red]\nline = GPIO 17\n", 4, "lamp.red.line");
	expect_error(CHIP "[lamp.red]\nline = \"\"\n", 4, "lamp.red.line");
	expect_error(CHIP "[lamp.red]\nline = R\nline = S\n", 5, "lamp.red.line");
	expect_error("[chip]\npath = dev/gpiochip0\n", 2, "chip.path");
	expect_error("[chip]\nlabel = \"\"\n", 2, "chip.label");
	expect_error("[chip]\nline = X\n", 2, "chip.line");
	expect_error(CHIP LAMPS "[button.b1]\nline = B\ndebounce = 2s\n", 11, "button.b1.debounce");
	expect_error(CHIP LAMPS "[button.b1]\nline = B\ndebounce = soon\n", 11,
		     "button.b1.debounce");
	expect_error(CHIP LAMPS
		     "[button.b1]\nline = B\nagent = "
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		     11, "button.b1.agent");
	expect_error("line = X\n" CHIP, 1, "line");
}

static void
test_bad_sections(void **state)
{
	const char *msg;

	(void)state;
	msg = expect_error(CHIP "[lamp.purple]\nline = P\n", 3, "");
	assert_non_null(strstr(msg, "lamp.purple"));
	expect_error(CHIP "[button.Ack]\nline = P\n", 3, "");
	expect_error(CHIP "[button.]\nline = P\n", 3, "");
	expect_error(CHIP "[button.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nline = P\n", 3, "");
	msg = expect_error(CHIP "[lamp.red]\nline = R\n[lamp.red]\nactive_low = true\n", 5, "");
	assert_non_null(strstr(msg, "line 3"));
	expect_error(CHIP "[button.a]\nline = 1\n[button.a]\nagent = x\n", 5, "");
	expect_error(CHIP "[button.a]\nline = 1\n[button.b]\nline = 2\n[button.c]\nline = 3\n"
			  "[button.d]\nline = 4\n[button.e]\nline = 5\n[button.f]\nline = 6\n"
			  "[button.g]\nline = 7\n[button.h]\nline = 8\n[button.i]\nline = 9\n",
		     19, "");
}

static void
test_failure_keeps_output(void **state)
{
	struct board_profile p, before;
	struct conf_error err;

	(void)state;
	assert_int_equal(board_profile_load("board/rpi4.conf", &p, &err), 0);
	before = p;
	assert_true(board_profile_load(write_text(CHIP LAMPS), &p, &err) < 0);
	assert_memory_equal(&p, &before, sizeof(p));
	assert_int_equal(board_profile_load("/nonexistent/x.conf", &p, &err), -ENOENT);
	assert_string_equal(err.file, "/nonexistent/x.conf");
	assert_memory_equal(&p, &before, sizeof(p));
}

static void
test_profile_path(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(board_profile_path("rpi4", "/usr/share/teamboard/board", out, sizeof(out)),
			 0);
	assert_string_equal(out, "/usr/share/teamboard/board/rpi4.conf");
	assert_int_equal(board_profile_path("./mine", "/x", out, sizeof(out)), 0);
	assert_string_equal(out, "./mine");
	assert_int_equal(board_profile_path("custom.conf", "/x", out, sizeof(out)), 0);
	assert_string_equal(out, "custom.conf");
	assert_int_equal(board_profile_path("/etc/teamboard/board.conf", "/x", out, sizeof(out)),
			 0);
	assert_string_equal(out, "/etc/teamboard/board.conf");
	assert_int_equal(board_profile_path("sim", "board", out, sizeof(out)), 0);
	assert_string_equal(out, "board/sim.conf");
	assert_int_equal(board_profile_path("rpi4",
					    "/a/directory/that/is/far/too/long/to/fit/in/"
					    "sixty/four/bytes",
					    out, sizeof(out)),
			 -ENAMETOOLONG);
	assert_int_equal(board_profile_path("rpi4", "/x", out, 10), -ENAMETOOLONG);
	assert_int_equal(board_profile_path("", "/x", out, sizeof(out)), -EINVAL);
	assert_string_equal(bias_name(BIAS_AS_IS), "as-is");
	assert_string_equal(bias_name(BIAS_DISABLE), "disable");
	assert_string_equal(bias_name(BIAS_PULL_UP), "pull-up");
	assert_string_equal(bias_name(BIAS_PULL_DOWN), "pull-down");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_profiles),
		cmocka_unit_test(test_minimal_and_offsets),
		cmocka_unit_test(test_missing_roles),
		cmocka_unit_test(test_line_conflicts),
		cmocka_unit_test(test_bad_keys_and_values),
		cmocka_unit_test(test_bad_sections),
		cmocka_unit_test(test_failure_keeps_output),
		cmocka_unit_test(test_profile_path),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
