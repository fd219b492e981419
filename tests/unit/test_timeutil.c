/* Unit tests for timeutil: durations and RFC 3339 as config files and
 * backends write them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "timeutil.h"

#define SEC USEC_PER_SEC

/* --- clocks --------------------------------------------------------------- */

static void
test_clocks(void **state)
{
	(void)state;
	struct timespec ts;
	uint64_t a = time_mono_usec();

	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t b = time_mono_usec();
	uint64_t ref = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;

	assert_true(a <= ref);
	assert_true(ref <= b);

	int64_t w = time_wall_ms();
	int64_t now_ms = (int64_t)time(NULL) * 1000;

	assert_true(w >= now_ms - 2000 && w <= now_ms + 2000);
}

/* --- duration_parse ------------------------------------------------------- */

static void
test_duration_parse_units(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t usec;
	} ok[] = {
		{ "250ms", 250 * USEC_PER_MSEC },
		{ "30s", 30 * SEC },
		{ "5m", 300 * SEC },
		{ "2h", 7200 * SEC },
		{ "400d", 400ULL * 86400 * SEC },
		{ "30", 30 * SEC }, /* bare number: seconds */
		{ "0", 0 },
		{ "0ms", 0 },
		{ "007s", 7 * SEC },
		{ "1500ms", 1500 * USEC_PER_MSEC },
		{ "213503982d", 213503982ULL * 86400 * SEC }, /* largest whole-day value */
		{ "18446744073709ms", 18446744073709ULL * USEC_PER_MSEC },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1;

		assert_int_equal(duration_parse(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].usec);
	}
}

static void
test_duration_parse_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"-5s",
		"+5s",
		" 5s",
		"5s ",
		"5 m",
		"5x",
		"5mm",
		"ms",
		"s",
		"5S",
		"5M",
		"1.5s",
		"0x10",
		"5sec",
		"5us",
		"1e3",
		"5m5s",
		"\t5",
		"5\n",
		"18446744073709551616", /* > UINT64_MAX before the unit */
		"18446744073710s",      /* overflows when scaled */
		"18446744073709552ms",
		"213503983d",
		"99999999999999999999999999999999h",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 42;

		if (duration_parse(bad[i], &v) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(v, 42); /* untouched on failure */
	}
	uint64_t v;

	assert_int_equal(duration_parse(NULL, &v), -EINVAL);
	assert_int_equal(duration_parse("5s", NULL), -EINVAL);
}

/* --- duration_format ------------------------------------------------------ */

static void
test_duration_format(void **state)
{
	(void)state;
	static const struct {
		uint64_t usec;
		const char *s;
	} cases[] = {
		{ 0, "0s" },
		{ 1500 * USEC_PER_MSEC, "1500ms" },
		{ 30 * SEC, "30s" },
		{ 90 * SEC, "90s" },
		{ 300 * SEC, "5m" },
		{ 7200 * SEC, "2h" },
		{ 5400 * SEC, "90m" },
		{ 86400 * SEC, "1d" },
		{ 400ULL * 86400 * SEC, "400d" },
		{ 1, "1us" },
		{ 1500, "1500us" },
		{ USEC_INFINITY, "infinity" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		duration_format(cases[i].usec, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].s);
	}
}

static void
test_duration_format_roundtrip_and_truncation(void **state)
{
	(void)state;
	static const uint64_t values[] = {
		0,          USEC_PER_MSEC,   999 * USEC_PER_MSEC,       61 * SEC,
		3601 * SEC, 25 * 3600 * SEC, 123456789 * USEC_PER_MSEC,
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t back = 1;

		duration_format(values[i], buf, sizeof(buf));
		assert_int_equal(duration_parse(buf, &back), 0);
		assert_int_equal(back, values[i]);
	}

	char small[3] = { 'x', 'x', 'x' };

	duration_format(30 * SEC, small, sizeof(small));
	assert_string_equal(small, "30");
	small[0] = 'x';
	duration_format(30 * SEC, small, 0); /* nothing written */
	assert_int_equal(small[0], 'x');
}

/* --- rfc3339_parse -------------------------------------------------------- */

static int64_t
parse_ok(const char *s)
{
	int64_t ms = -1;

	assert_int_equal(rfc3339_parse(s, &ms), 0);
	return ms;
}

static void
test_rfc3339_parse_valid(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2026-11-25T10:00:00Z"), 1795600800000LL);
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
	/* Separators and zone letters in either case, and a space. */
	assert_int_equal(parse_ok("2026-11-25t10:00:00z"), 1795600800000LL);
	assert_int_equal(parse_ok("2026-11-25 10:00:00Z"), 1795600800000LL);
	/* Offsets are applied, not ignored. */
	assert_int_equal(parse_ok("2026-11-25T12:00:00+02:00"), 1795600800000LL);
	assert_int_equal(parse_ok("2026-11-25T04:30:00-05:30"), 1795600800000LL);
	assert_int_equal(parse_ok("2026-11-25T10:00:00+00:00"), 1795600800000LL);
	assert_int_equal(parse_ok("2026-11-25T10:00:00-00:00"), 1795600800000LL);
	assert_int_equal(parse_ok("2026-11-26T09:59:00+23:59"), 1795600800000LL);
	assert_int_equal(parse_ok("2026-11-24T10:02:00-23:59"), 1795600800000LL + 60000);
	/* Offset crossing a day and a year boundary. */
	assert_int_equal(parse_ok("2026-12-31T23:00:00-01:00"), parse_ok("2027-01-01T00:00:00Z"));
}

static void
test_rfc3339_parse_fractions(void **state)
{
	(void)state;
	const int64_t base = 1795600800000LL;

	assert_int_equal(parse_ok("2026-11-25T10:00:00.250Z"), base + 250);
	assert_int_equal(parse_ok("2026-11-25T10:00:00.2Z"), base + 200);
	assert_int_equal(parse_ok("2026-11-25T10:00:00.05Z"), base + 50);
	assert_int_equal(parse_ok("2026-11-25T10:00:00.000Z"), base);
	/* Beyond milliseconds: truncated, never rounded up into the next second. */
	assert_int_equal(parse_ok("2026-11-25T10:00:00.9999Z"), base + 999);
	assert_int_equal(parse_ok("2026-11-25T10:00:00.123456789Z"), base + 123);
	assert_int_equal(parse_ok("2026-11-25T12:00:00.250+02:00"), base + 250);
}

static void
test_rfc3339_parse_calendar(void **state)
{
	(void)state;
	/* Leap days: every 4th year, not centuries, but every 400th. */
	assert_int_equal(parse_ok("2024-02-29T12:00:00Z"), 1709208000000LL);
	assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400000LL);
	assert_int_equal(parse_ok("2024-03-01T00:00:00Z") - parse_ok("2024-02-28T00:00:00Z"),
			 2 * 86400000LL);
	assert_int_equal(parse_ok("2023-03-01T00:00:00Z") - parse_ok("2023-02-28T00:00:00Z"),
			 86400000LL);
	assert_int_equal(parse_ok("9999-12-31T23:59:59.999Z"), 253402300799999LL);
	/* A leap second lands on the next minute. */
	assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), 1483228800000LL);
	assert_int_equal(parse_ok("2026-04-30T00:00:00Z") + 86400000LL,
			 parse_ok("2026-05-01T00:00:00Z"));
}

static void
test_rfc3339_parse_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"2026-11-25",
		"2026-11-25T10:00:00", /* no zone */
		"2026-11-25T10:00Z",   /* no seconds */
		"2026-02-30T10:00:00Z",
		"2026-04-31T10:00:00Z",
		"2023-02-29T10:00:00Z", /* not a leap year */
		"2100-02-29T10:00:00Z", /* century, not leap */
		"2026-13-01T10:00:00Z",
		"2026-00-10T10:00:00Z",
		"2026-11-00T10:00:00Z",
		"2026-11-32T10:00:00Z",
		"2026-11-25T24:00:00Z",
		"2026-11-25T10:60:00Z",
		"2026-11-25T10:00:61Z",
		"1969-12-31T23:59:59Z",
		"1970-01-01T00:30:00+01:00", /* before the epoch after the offset */
		"10000-01-01T00:00:00Z",
		"26-11-25T10:00:00Z",
		"2026-1-25T10:00:00Z",
		"2026-11-25T1:00:00Z",
		"2026/11/25T10:00:00Z",
		"2026-11-25X10:00:00Z",
		"2026-11-25T10:00:00.Z",           /* empty fraction */
		"2026-11-25T10:00:00.1234567890Z", /* 10 fraction digits */
		"2026-11-25T10:00:00,5Z",
		"2026-11-25T10:00:00+24:00",
		"2026-11-25T10:00:00+02:60",
		"2026-11-25T10:00:00+0200",
		"2026-11-25T10:00:00+2:00",
		"2026-11-25T10:00:00+02",
		"2026-11-25T10:00:00Z ", /* trailing garbage */
		"2026-11-25T10:00:00Zx",
		" 2026-11-25T10:00:00Z",
		"2026-11-25T10:00:00UTC",
		"+2026-11-25T10:00:00Z",
		"２０２６-11-25T10:00:00Z", /* non-ASCII digits */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;

		if (rfc3339_parse(bad[i], &ms) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(ms, 42);
	}
	int64_t ms;

	assert_int_equal(rfc3339_parse(NULL, &ms), -EINVAL);
	assert_int_equal(rfc3339_parse("2026-11-25T10:00:00Z", NULL), -EINVAL);
}

/* --- rfc3339_format ------------------------------------------------------- */

static void
test_rfc3339_format(void **state)
{
	(void)state;
	char buf[RFC3339_BUF];

	rfc3339_format(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	rfc3339_format(1795601172345LL, buf);
	assert_string_equal(buf, "2026-11-25T10:06:12.345Z");
	rfc3339_format(1709208000000LL, buf);
	assert_string_equal(buf, "2024-02-29T12:00:00.000Z");
	rfc3339_format(253402300799999LL, buf);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	rfc3339_format(-1, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	/* Extremes must not overflow the buffer (ASan would catch it). */
	rfc3339_format(INT64_MAX, buf);
	assert_true(strlen(buf) < RFC3339_BUF);
	rfc3339_format(INT64_MIN, buf);
	assert_true(strlen(buf) < RFC3339_BUF);
}

/* Every 13th day or so from 1970 to 9999 at a drifting time of day: format
 * agrees with glibc's gmtime_r and parse(format(t)) == t. */
static void
test_rfc3339_every_day(void **state)
{
	(void)state;
	char buf[RFC3339_BUF], ref[64];
	const int64_t end = 253402300799999LL;
	/* 13 days plus 1 h 2 min 3.004 s: walks through every day of the month
	 * and every time of day over the years, fast enough for valgrind. */
	const int64_t step = 13 * 86400000LL + 3723004;

	for (int64_t ms = 0; ms <= end; ms += step) {
		int64_t back = -1;
		time_t t = (time_t)(ms / 1000);
		struct tm tm;
		size_t n;

		rfc3339_format(ms, buf);
		gmtime_r(&t, &tm);
		n = strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(ref + n, sizeof(ref) - n, ".%03dZ", (int)(ms % 1000));
		if (strcmp(buf, ref) != 0)
			fail_msg("format %lld: '%s', glibc says '%s'", (long long)ms, buf, ref);
		if (rfc3339_parse(buf, &back) != 0 || back != ms)
			fail_msg("round trip failed for %lld ('%s')", (long long)ms, buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_duration_parse_units),
		cmocka_unit_test(test_duration_parse_rejects),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_duration_format_roundtrip_and_truncation),
		cmocka_unit_test(test_rfc3339_parse_valid),
		cmocka_unit_test(test_rfc3339_parse_fractions),
		cmocka_unit_test(test_rfc3339_parse_calendar),
		cmocka_unit_test(test_rfc3339_parse_rejects),
		cmocka_unit_test(test_rfc3339_format),
		cmocka_unit_test(test_rfc3339_every_day),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
