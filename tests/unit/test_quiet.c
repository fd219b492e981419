/* Unit tests for quiet hours: parsing, evaluation in real IANA zones across
 * DST changes, and next_change checked against a brute-force reference. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "caltime.h"
#include "quiet.h"

static struct quiet_hours
parse_ok(const char *s)
{
	struct quiet_hours q;
	char why[160] = "";

	if (quiet_parse(s, &q, why, sizeof(why)) != 0)
		fail_msg("'%s' should parse, got: %s", s, why);
	return q;
}

/* Active now, and the next change, in one call. */
static bool
active(const struct quiet_hours *q, const char *tz, int64_t t, int64_t *next)
{
	int64_t n = -1;
	bool a = quiet_active(q, tz, t, &n);

	if (next)
		*next = n;
	return a;
}

/* Reference, written independently of the engine: look at the local clock
 * and ask each window directly, including yesterday's overnight windows. */
static bool
ref_active(const struct quiet_hours *q, const char *tz, int64_t t)
{
	char val[160];
	time_t tt = (time_t)(t >= 0 ? t / 1000 : (t - 999) / 1000);
	struct tm tm;
	int wd, pd, m;

	snprintf(val, sizeof(val), ":%s", tz);
	setenv("TZ", val, 1);
	tzset();
	assert_non_null(localtime_r(&tt, &tm));
	unsetenv("TZ");
	tzset();
	wd = (tm.tm_wday + 6) % 7;
	pd = (wd + 6) % 7;
	m = tm.tm_hour * 60 + tm.tm_min;
	for (unsigned i = 0; i < q->n; i++) {
		const struct quiet_window *w = &q->windows[i];
		bool overnight = w->end_min <= w->start_min;

		if (w->days & (1u << wd)) {
			if (!overnight && m >= w->start_min && m < w->end_min)
				return true;
			if (overnight && m >= w->start_min)
				return true;
		}
		if ((w->days & (1u << pd)) && overnight && m < w->end_min)
			return true;
	}
	return false;
}

/* Walks next_change from `from` for `days`, checking every 5 minutes and
 * the last millisecond before each change against the reference. */
static void
check_against_reference(const char *spec, const char *tz, int64_t from, int days)
{
	struct quiet_hours q = parse_ok(spec);
	int64_t t = from, end = from + days * DAY_MS, next;
	bool a = active(&q, tz, t, &next);
	unsigned flips = 0;

	assert_int_equal(a, ref_active(&q, tz, t));
	while (t < end) {
		assert_true(next > t);
		for (int64_t x = t; x < next && x < end; x += 5 * MIN_MS)
			assert_int_equal(ref_active(&q, tz, x), a);
		if (next >= end)
			break;
		assert_int_equal(ref_active(&q, tz, next - 1), a);
		assert_int_equal(ref_active(&q, tz, next), !a);
		t = next;
		a = active(&q, tz, t, &next);
		flips++;
	}
	assert_true(flips > 0);
}

static void
test_parse_good(void **state)
{
	struct quiet_hours q;

	(void)state;
	q = parse_ok("mon-fri 20:00-08:00, sat-sun 00:00-24:00");
	assert_int_equal(q.n, 2);
	assert_int_equal(q.windows[0].days, 0x1f);
	assert_int_equal(q.windows[0].start_min, 20 * 60);
	assert_int_equal(q.windows[0].end_min, 8 * 60);
	assert_int_equal(q.windows[1].days, 0x60);
	assert_int_equal(q.windows[1].start_min, 0);
	assert_int_equal(q.windows[1].end_min, 1440);

	q = parse_ok("fri-mon 22:00-06:00");
	assert_int_equal(q.windows[0].days, 0x71); /* fri sat sun mon */
	q = parse_ok("mon+wed+fri 12:00-13:30");
	assert_int_equal(q.windows[0].days, 0x15);
	assert_int_equal(q.windows[0].end_min, 13 * 60 + 30);
	q = parse_ok("tue/thu 9:05-9:10");
	assert_int_equal(q.windows[0].days, 0x0a);
	assert_int_equal(q.windows[0].start_min, 9 * 60 + 5);
	q = parse_ok("sat+mon-tue 10:00-11:00");
	assert_int_equal(q.windows[0].days, 0x23);
	q = parse_ok("daily 23:00-07:00");
	assert_int_equal(q.windows[0].days, 0x7f);
	q = parse_ok("* 13:00-14:00");
	assert_int_equal(q.windows[0].days, 0x7f);
	q = parse_ok("\tMon-Fri   20:00-00:00 "); /* case, spaces; 00:00 end = 24:00 */
	assert_int_equal(q.n, 1);
	assert_int_equal(q.windows[0].days, 0x1f);
	assert_int_equal(q.windows[0].end_min, 1440);
	q = parse_ok("sun 00:00-00:00"); /* the whole day */
	assert_int_equal(q.windows[0].start_min, 0);
	assert_int_equal(q.windows[0].end_min, 1440);

	q.n = 5;
	q = parse_ok("");
	assert_int_equal(q.n, 0);
	q = parse_ok(" \t ");
	assert_int_equal(q.n, 0);
	q = parse_ok("mon 1:00-2:00,mon 3:00-4:00,mon 5:00-6:00,mon 7:00-8:00,mon 9:00-10:00,"
		     "tue 1:00-2:00,tue 3:00-4:00,tue 5:00-6:00,tue 7:00-8:00,tue 9:00-10:00,"
		     "wed 1:00-2:00,wed 3:00-4:00,wed 5:00-6:00,wed 7:00-8:00,wed 9:00-10:00,"
		     "thu 1:00-2:00");
	assert_int_equal(q.n, QUIET_MAX_WINDOWS);
}

static void
expect_bad(const char *s, const char *reason)
{
	struct quiet_hours q = { .n = 3 };
	char why[200] = "";

	if (quiet_parse(s, &q, why, sizeof(why)) != -EINVAL)
		fail_msg("'%s' should be rejected", s);
	if (!strstr(why, reason))
		fail_msg("'%s': reason '%s' does not mention '%s'", s, why, reason);
	/* the caller's windows are left alone */
	assert_int_equal(q.n, 3);
}

static void
test_parse_bad(void **state)
{
	char big[4096];

	(void)state;
	expect_bad("mon-fri", "no time range");
	expect_bad("20:00-08:00", "no days");
	expect_bad("mnd 20:00-08:00", "bad day 'mnd'");
	expect_bad("monday 20:00-08:00", "bad day 'monday'");
	expect_bad("mon-fri-sat 10:00-11:00", "bad day 'mon-fri-sat'");
	expect_bad("mon+ 10:00-11:00", "bad day ''");
	expect_bad("mon 25:00-08:00", "bad start time '25:00'");
	expect_bad("mon 20:60-21:00", "bad start time '20:60'");
	expect_bad("mon 24:00-08:00", "24:00");
	expect_bad("mon 20:00-24:01", "bad end time '24:01'");
	expect_bad("mon 20:00-8:0", "bad end time '8:0'");
	expect_bad("mon 20:00-08:00-09:00", "bad end time '08:00-09:00'");
	expect_bad("mon 20:00", "bad time range '20:00'");
	expect_bad("mon 123:00-124:00", "bad start time");
	expect_bad("mon 20:00-21:00 extra", "unexpected 'extra'");
	expect_bad("mon 20:00-21:00,", "empty quiet window");
	expect_bad(",mon 20:00-21:00", "empty quiet window");
	expect_bad("mon 20:00-21:00,, tue 20:00-21:00", "empty quiet window");
	expect_bad("mon 20:00 - 21:00", "unexpected");
	expect_bad("mon 1:00-2:00,mon 3:00-4:00,mon 5:00-6:00,mon 7:00-8:00,mon 9:00-10:00,"
		   "tue 1:00-2:00,tue 3:00-4:00,tue 5:00-6:00,tue 7:00-8:00,tue 9:00-10:00,"
		   "wed 1:00-2:00,wed 3:00-4:00,wed 5:00-6:00,wed 7:00-8:00,wed 9:00-10:00,"
		   "thu 1:00-2:00,thu 3:00-4:00",
		   "too many");

	/* hostile: long garbage is rejected, the reason stays bounded */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = ' ';
	expect_bad(big, "bad day");
	{
		struct quiet_hours q;
		char tiny[8];

		assert_int_equal(quiet_parse("nope 1:00-2:00", &q, tiny, sizeof(tiny)), -EINVAL);
		assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
		assert_int_equal(quiet_parse("nope 1:00-2:00", &q, NULL, 0), -EINVAL);
		assert_int_equal(quiet_parse(NULL, &q, NULL, 0), 0);
		assert_int_equal(q.n, 0);
	}
}

static void
test_utc_overnight_and_weekend(void **state)
{
	struct quiet_hours q = parse_ok("mon-fri 20:00-08:00, sat-sun 00:00-24:00");
	int64_t next;

	(void)state;
	/* 2026-11-25 is a Wednesday */
	assert_false(active(&q, "UTC", utc(2026, 11, 25, 19, 59) + 59999, &next));
	assert_int_equal(next, utc(2026, 11, 25, 20, 0));
	assert_true(active(&q, "UTC", utc(2026, 11, 25, 20, 0), &next));
	assert_int_equal(next, utc(2026, 11, 26, 8, 0));
	assert_true(active(&q, "UTC", utc(2026, 11, 26, 7, 59), NULL));
	assert_false(active(&q, "UTC", utc(2026, 11, 26, 8, 0), &next));
	assert_int_equal(next, utc(2026, 11, 26, 20, 0));
	/* Friday night runs into the weekend: quiet until Monday 00:00 */
	assert_true(active(&q, "UTC", utc(2026, 11, 27, 21, 0), &next));
	assert_int_equal(next, utc(2026, 11, 30, 0, 0));
	/* Monday morning is not quiet (Sunday is not in mon-fri) */
	assert_false(active(&q, "UTC", utc(2026, 11, 30, 3, 0), &next));
	assert_int_equal(next, utc(2026, 11, 30, 20, 0));
	/* Monday's window started Monday 20:00 spills into Tuesday */
	assert_true(active(&q, "UTC", utc(2026, 12, 1, 7, 0), NULL));
}

static void
test_no_windows_and_always(void **state)
{
	struct quiet_hours none = parse_ok("");
	struct quiet_hours all = parse_ok("daily 00:00-24:00");
	struct quiet_hours all2 = parse_ok("mon-sun 06:00-06:00");
	int64_t next = 0;

	(void)state;
	assert_false(active(&none, "Europe/Warsaw", utc(2026, 3, 29, 1, 0), &next));
	assert_int_equal(next, INT64_MAX);
	assert_true(active(&all, "Europe/Warsaw", utc(2026, 3, 29, 1, 0), &next));
	assert_int_equal(next, INT64_MAX);
	assert_true(active(&all2, "Europe/Warsaw", utc(2026, 10, 25, 1, 30), &next));
	assert_int_equal(next, INT64_MAX);
	assert_false(quiet_active(NULL, "UTC", 0, &next));
	assert_int_equal(next, INT64_MAX);
	/* NULL next_change is allowed */
	assert_true(quiet_active(&all, "UTC", 0, NULL));
}

static void
test_warsaw_spring_forward(void **state)
{
	struct quiet_hours q = parse_ok("daily 20:00-08:00");
	int64_t next;

	(void)state;
	/* Saturday 2026-03-28: CET (+1); 20:00 local = 19:00Z */
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 3, 28, 19, 0) - 1, &next));
	assert_int_equal(next, utc(2026, 3, 28, 19, 0));
	/* the night spans the jump (02:00 CET -> 03:00 CEST at 01:00Z);
	 * Sunday 08:00 local is CEST = 06:00Z */
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 3, 28, 19, 0), &next));
	assert_int_equal(next, utc(2026, 3, 29, 6, 0));
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 3, 29, 1, 0), &next));
	assert_int_equal(next, utc(2026, 3, 29, 6, 0));
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 3, 29, 6, 0) - 1, NULL));
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 3, 29, 6, 0), &next));
	/* Sunday evening: 20:00 CEST = 18:00Z */
	assert_int_equal(next, utc(2026, 3, 29, 18, 0));

	/* a window inside the skipped hour never happens that day */
	q = parse_ok("sun 02:00-03:00");
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 3, 28, 12, 0), &next));
	assert_int_equal(next, utc(2026, 4, 5, 0, 0)); /* next Sunday, 02:00 CEST */
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 3, 29, 1, 0), NULL));

	/* a window straddling the jump starts at the jump (clock reads 03:00) */
	q = parse_ok("sun 02:30-04:00");
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 3, 29, 1, 0) - 1, &next));
	assert_int_equal(next, utc(2026, 3, 29, 1, 0));
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 3, 29, 1, 0), &next));
	assert_int_equal(next, utc(2026, 3, 29, 2, 0));
}

static void
test_warsaw_fall_back(void **state)
{
	struct quiet_hours q = parse_ok("daily 20:00-08:00");
	int64_t next;

	(void)state;
	/* Saturday 2026-10-24: CEST (+2); 20:00 local = 18:00Z */
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 10, 24, 17, 59), &next));
	assert_int_equal(next, utc(2026, 10, 24, 18, 0));
	/* 03:00 CEST -> 02:00 CET at 01:00Z; Sunday 08:00 CET = 07:00Z */
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 10, 24, 18, 0), &next));
	assert_int_equal(next, utc(2026, 10, 25, 7, 0));
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 10, 25, 7, 0), &next));
	assert_int_equal(next, utc(2026, 10, 25, 19, 0)); /* 20:00 CET */

	/* the repeated hour is quiet twice: 02:00-03:00 lasts two real hours */
	q = parse_ok("sun 02:00-03:00");
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 10, 25, 0, 0) - 1, &next));
	assert_int_equal(next, utc(2026, 10, 25, 0, 0));
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 10, 25, 0, 0), &next));
	assert_int_equal(next, utc(2026, 10, 25, 2, 0));
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 10, 25, 1, 30), NULL));

	q = parse_ok("sun 02:15-02:45");
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 10, 25, 0, 15), &next));
	assert_int_equal(next, utc(2026, 10, 25, 0, 45));
	assert_false(active(&q, "Europe/Warsaw", utc(2026, 10, 25, 0, 45), &next));
	assert_int_equal(next, utc(2026, 10, 25, 1, 15));
	assert_true(active(&q, "Europe/Warsaw", utc(2026, 10, 25, 1, 15), &next));
	assert_int_equal(next, utc(2026, 10, 25, 1, 45));
}

static void
test_copenhagen_dst(void **state)
{
	struct quiet_hours q = parse_ok("sat 22:00-06:00, sat-sun 12:00-13:00");
	int64_t next;

	(void)state;
	/* Saturday night over spring-forward: 22:00 CET = 21:00Z to
	 * 06:00 CEST = 04:00Z, seven real hours */
	assert_false(active(&q, "Europe/Copenhagen", utc(2026, 3, 28, 20, 59), &next));
	assert_int_equal(next, utc(2026, 3, 28, 21, 0));
	assert_true(active(&q, "Europe/Copenhagen", utc(2026, 3, 28, 21, 0), &next));
	assert_int_equal(next, utc(2026, 3, 29, 4, 0));
	/* Sunday noon is CEST: 12:00 local = 10:00Z */
	assert_false(active(&q, "Europe/Copenhagen", utc(2026, 3, 29, 4, 0), &next));
	assert_int_equal(next, utc(2026, 3, 29, 10, 0));
	/* over fall-back: 22:00 CEST = 20:00Z to 06:00 CET = 05:00Z, nine hours */
	assert_true(active(&q, "Europe/Copenhagen", utc(2026, 10, 24, 20, 0), &next));
	assert_int_equal(next, utc(2026, 10, 25, 5, 0));
	assert_false(active(&q, "Europe/Copenhagen", utc(2026, 10, 24, 19, 59), NULL));
	/* Sunday noon is CET: 12:00 local = 11:00Z */
	assert_false(active(&q, "Europe/Copenhagen", utc(2026, 10, 25, 10, 30), &next));
	assert_int_equal(next, utc(2026, 10, 25, 11, 0));
}

static void
test_moscow_no_dst(void **state)
{
	struct quiet_hours q = parse_ok("daily 09:00-18:00");
	int64_t next;

	(void)state;
	/* MSK is +3 all year: the EU change days change nothing */
	assert_false(active(&q, "Europe/Moscow", utc(2026, 3, 29, 5, 59), &next));
	assert_int_equal(next, utc(2026, 3, 29, 6, 0));
	assert_true(active(&q, "Europe/Moscow", utc(2026, 3, 29, 6, 0), &next));
	assert_int_equal(next, utc(2026, 3, 29, 15, 0));
	assert_false(active(&q, "Europe/Moscow", utc(2026, 10, 25, 5, 59), &next));
	assert_int_equal(next, utc(2026, 10, 25, 6, 0));
	assert_true(active(&q, "Europe/Moscow", utc(2026, 10, 25, 14, 59), &next));
	assert_int_equal(next, utc(2026, 10, 25, 15, 0));
	/* the same instants in UTC give a different answer */
	assert_false(active(&q, "UTC", utc(2026, 10, 25, 6, 0), &next));
	assert_int_equal(next, utc(2026, 10, 25, 9, 0));
}

static void
test_bad_zone_is_utc(void **state)
{
	struct quiet_hours q = parse_ok("daily 09:00-18:00");
	int64_t next;

	(void)state;
	assert_true(active(&q, "Mars/Olympus_Mons", utc(2026, 6, 1, 9, 0), &next));
	assert_int_equal(next, utc(2026, 6, 1, 18, 0));
	assert_true(active(&q, "../../../etc/passwd", utc(2026, 6, 1, 17, 59), NULL));
	assert_false(active(&q, NULL, utc(2026, 6, 1, 8, 59), &next));
	assert_int_equal(next, utc(2026, 6, 1, 9, 0));
	assert_false(active(&q, "", utc(2026, 6, 1, 18, 0), NULL));
}

static void
test_tz_restored(void **state)
{
	struct quiet_hours q = parse_ok("daily 09:00-18:00");
	const char *v;

	(void)state;
	setenv("TZ", "America/New_York", 1);
	tzset();
	(void)active(&q, "Europe/Warsaw", utc(2026, 6, 1, 9, 0), NULL);
	v = getenv("TZ");
	assert_non_null(v);
	assert_string_equal(v, "America/New_York");
	/* and the C library is back on it: 12:00Z is 08:00 EDT */
	{
		time_t t = (time_t)(utc(2026, 6, 1, 12, 0) / 1000);
		struct tm tm;

		assert_non_null(localtime_r(&t, &tm));
		assert_int_equal(tm.tm_hour, 8);
	}
	unsetenv("TZ");
	tzset();
	(void)active(&q, "Europe/Moscow", utc(2026, 6, 1, 9, 0), NULL);
	assert_null(getenv("TZ"));
}

static void
test_tz_valid(void **state)
{
	char longname[300];

	(void)state;
	assert_true(quiet_tz_valid("UTC"));
	assert_true(quiet_tz_valid("Europe/Warsaw"));
	assert_true(quiet_tz_valid("Europe/Copenhagen"));
	assert_true(quiet_tz_valid("America/Argentina/Buenos_Aires"));
	assert_true(quiet_tz_valid("Etc/GMT+3"));
	assert_false(quiet_tz_valid("Mars/Olympus_Mons"));
	assert_false(quiet_tz_valid("Europe"));   /* a directory */
	assert_false(quiet_tz_valid("zone.tab")); /* a table, not a zone */
	assert_false(quiet_tz_valid("../../etc/passwd"));
	assert_false(quiet_tz_valid("Europe/../UTC"));
	assert_false(quiet_tz_valid("/etc/localtime"));
	assert_false(quiet_tz_valid("Europe/Warsaw "));
	assert_false(quiet_tz_valid("CET-1CEST,M3.5.0,M10.5.0/3"));
	assert_false(quiet_tz_valid(""));
	assert_false(quiet_tz_valid(NULL));
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(quiet_tz_valid(longname));
}

static void
test_hostile_times(void **state)
{
	struct quiet_hours q = parse_ok("mon-fri 20:00-08:00");
	struct quiet_hours junk = { .n = 999 };
	int64_t next;

	(void)state;
	/* far outside any calendar: no crash, no bogus change time */
	(void)active(&q, "Europe/Warsaw", INT64_MAX, &next);
	assert_int_equal(next, INT64_MAX);
	(void)active(&q, "Europe/Warsaw", INT64_MIN, &next);
	assert_int_equal(next, INT64_MAX);
	/* before 1970 works like any other time (1969-12-31 was a Wednesday) */
	assert_true(active(&q, "UTC", utc(1969, 12, 31, 21, 0), &next));
	assert_int_equal(next, utc(1970, 1, 1, 8, 0));
	/* a hand-made struct with out-of-range fields is not trusted */
	junk.windows[0].days = 0xff;
	junk.windows[0].start_min = 5000;
	junk.windows[0].end_min = 60;
	junk.windows[1].days = 0x7f;
	junk.windows[1].start_min = 60;
	junk.windows[1].end_min = 9000;
	assert_false(active(&junk, "UTC", utc(2026, 6, 1, 0, 30), &next));
	assert_int_equal(next, INT64_MAX);
}

static void
test_reference_warsaw_spring(void **state)
{
	(void)state;
	check_against_reference("mon-fri 20:00-08:00, sat-sun 00:00-24:00, sun 02:30-02:45, "
				"wed+sat 01:59-03:01",
				"Europe/Warsaw", utc(2026, 3, 24, 0, 0), 12);
}

static void
test_reference_warsaw_fall(void **state)
{
	(void)state;
	check_against_reference("mon-fri 20:00-08:00, sun 02:10-02:20, daily 12:00-12:01",
				"Europe/Warsaw", utc(2026, 10, 21, 0, 0), 12);
}

static void
test_reference_copenhagen_moscow_utc(void **state)
{
	(void)state;
	check_against_reference("fri-mon 22:00-06:00, tue 03:00-03:00", "Europe/Copenhagen",
				utc(2026, 3, 25, 0, 0), 10);
	check_against_reference("mon+wed+fri 09:00-18:00, sat 23:59-00:01", "Europe/Moscow",
				utc(2026, 10, 20, 0, 0), 10);
	check_against_reference("daily 20:00-08:00", "UTC", utc(2026, 12, 28, 0, 0), 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_utc_overnight_and_weekend),
		cmocka_unit_test(test_no_windows_and_always),
		cmocka_unit_test(test_warsaw_spring_forward),
		cmocka_unit_test(test_warsaw_fall_back),
		cmocka_unit_test(test_copenhagen_dst),
		cmocka_unit_test(test_moscow_no_dst),
		cmocka_unit_test(test_bad_zone_is_utc),
		cmocka_unit_test(test_tz_restored),
		cmocka_unit_test(test_tz_valid),
		cmocka_unit_test(test_hostile_times),
		cmocka_unit_test(test_reference_warsaw_spring),
		cmocka_unit_test(test_reference_warsaw_fall),
		cmocka_unit_test(test_reference_copenhagen_moscow_utc),
	};

	return cmocka_run_group_tests(tests, need_tzdata, NULL);
}
