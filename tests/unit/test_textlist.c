/* Unit tests for textlist: the comma-separated lists of config values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "textlist.h"

/* Joins the items of `s` with '|' into out; returns the last result of
 * textlist_next (0 at a clean end, -EINVAL at an empty item). */
static int
walk(const char *s, char *out, size_t size)
{
	struct textlist l;
	const char *a;
	size_t len, at = 0;
	int r;

	out[0] = '\0';
	textlist_init(&l, s);
	while ((r = textlist_next(&l, &a, &len)) > 0) {
		assert_true(at + len + 2 < size);
		if (at)
			out[at++] = '|';
		memcpy(out + at, a, len);
		at += len;
		out[at] = '\0';
	}
	return r;
}

static void
test_items_trimmed(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(walk("a", out, sizeof(out)), 0);
	assert_string_equal(out, "a");
	assert_int_equal(walk("  mon-fri 09:00-18:00 ,\tsat 10:00-12:00  ", out, sizeof(out)), 0);
	assert_string_equal(out, "mon-fri 09:00-18:00|sat 10:00-12:00");
}

static void
test_blank_is_empty(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(walk(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(walk("", out, sizeof(out)), 0);
	assert_int_equal(walk(" \t ", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void
test_stray_commas(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(walk(",a", out, sizeof(out)), -EINVAL);
	assert_int_equal(walk("a,,b", out, sizeof(out)), -EINVAL);
	assert_string_equal(out, "a"); /* the items before it were read */
	assert_int_equal(walk("a, ,b", out, sizeof(out)), -EINVAL);
	assert_int_equal(walk("a,", out, sizeof(out)), -EINVAL);
	assert_int_equal(walk("a, ", out, sizeof(out)), -EINVAL);
	assert_int_equal(walk(",", out, sizeof(out)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items_trimmed),
		cmocka_unit_test(test_blank_is_empty),
		cmocka_unit_test(test_stray_commas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
