/* Unit tests for business-time arithmetic: nights, weekends, holidays,
 * DST changes in Warsaw and Copenhagen, Moscow without DST, targets longer
 * than a business day, and hours that never open. Expected instants are
 * worked out by hand from the local clock and written in UTC. */
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
#include "bizhours.h"

static struct bizhours
hours(const char *windows, const char *holidays)
{
	struct bizhours b;
	char why[160] = "";

	memset(&b, 0, sizeof(b));
	if (quiet_parse(windows, &b.open, why, sizeof(why)) != 0)
		fail_msg("windows '%s': %s", windows, why);
	if (bizhours_parse_holidays(holidays, &b, why, sizeof(why)) != 0)
		fail_msg("holidays '%s': %s", holidays, why);
	return b;
}

static void
expect_at(int64_t got, int64_t want)
{
	if (got != want) {
		char g[64] = "never", w[64];
		time_t gs = (time_t)(got / 1000), ws = (time_t)(want / 1000);
		struct tm tm;

		if (got != INT64_MAX)
			strftime(g, sizeof(g), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&gs, &tm));
		strftime(w, sizeof(w), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&ws, &tm));
		fail_msg("got %s, want %s", g, w);
	}
}

static void
test_holidays_parse(void **state)
{
	struct bizhours b;
	char why[160];

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(bizhours_parse_holidays("", &b, why, sizeof(why)), 0);
	assert_int_equal(b.n_holidays, 0);
	assert_int_equal(bizhours_parse_holidays(" 2026-12-24, 2026-12-25 ,01-01,02-29", &b, why,
						 sizeof(why)),
			 0);
	assert_int_equal(b.n_holidays, 4);
	assert_int_equal(b.holidays[0].year, 2026);
	assert_int_equal(b.holidays[1].mday, 25);
	assert_int_equal(b.holidays[2].year, 0);
	assert_int_equal(b.holidays[3].month, 2);

	static const char *const bad[] = {
		"2026-02-29", "2026-13-01",  "2026-12-32", "12/25",      "2026-1-5",
		"tomorrow",   "2026-12-24,", ",",          "1969-12-31", "2026-12-24 2026-12-25"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (bizhours_parse_holidays(bad[i], &b, why, sizeof(why)) != -EINVAL)
			fail_msg("'%s' should be refused", bad[i]);
		assert_true(why[0] != '\0');
		/* a refused list leaves the old one alone */
		assert_int_equal(b.n_holidays, 4);
	}
	assert_non_null(strstr(why, "2026-12-24 2026-12-25"));

	char many[BIZHOURS_MAX_HOLIDAYS * 8 + 16] = "";
	for (int i = 0; i <= BIZHOURS_MAX_HOLIDAYS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%02d-%02d",
			 i ? "," : "", i / 28 + 1, i % 28 + 1);
	assert_int_equal(bizhours_parse_holidays(many, &b, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "too many"));
}

/* Warsaw in winter is UTC+1: 09:00 local is 08:00 UTC. */
static void
test_night_and_weekend(void **state)
{
	struct bizhours b = hours("mon-fri 09:00-18:00", "");
	const char *tz = "Europe/Warsaw";

	(void)state;
	/* inside the day: plain addition */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 23, 9, 0), HOUR_MS), utc(2026, 11, 23, 10, 0));
	/* Mon 17:00 + 2h: 1h today, 1h from Tue 09:00 */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 23, 16, 0), 2 * HOUR_MS),
		  utc(2026, 11, 24, 9, 0));
	/* ending exactly at closing time stays today */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 23, 16, 0), HOUR_MS),
		  utc(2026, 11, 23, 17, 0));
	/* Fri 17:30 + 1h: Mon 09:30 */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 27, 16, 30), HOUR_MS),
		  utc(2026, 11, 30, 8, 30));
	/* a Saturday ticket waits for Monday 09:00 */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 28, 12, 0), 5 * MIN_MS),
		  utc(2026, 11, 30, 8, 5));
	/* before opening: the clock starts at 09:00 */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 24, 3, 0), 30 * MIN_MS),
		  utc(2026, 11, 24, 8, 30));
	/* zero budget outside hours: due at the opening */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 24, 3, 0), 0), utc(2026, 11, 24, 8, 0));
}

static void
test_longer_than_a_day(void **state)
{
	struct bizhours b = hours("mon-fri 09:00-18:00", "");
	const char *tz = "Europe/Warsaw";

	(void)state;
	/* 20 business hours from Mon 09:00: Mon 9 + Tue 9 + Wed 2 = Wed 11:00 */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 23, 8, 0), 20 * HOUR_MS),
		  utc(2026, 11, 25, 10, 0));
	/* from Thu 09:00 over the weekend: Thu 9 + Fri 9 + Mon 2 = Mon 11:00 */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 26, 8, 0), 20 * HOUR_MS),
		  utc(2026, 11, 30, 10, 0));
	/* a business week (45 h) from Mon 09:00 ends Fri 18:00 */
	expect_at(bizhours_add(&b, tz, utc(2026, 11, 23, 8, 0), 45 * HOUR_MS),
		  utc(2026, 11, 27, 17, 0));
}

static void
test_holidays(void **state)
{
	/* 24 and 25 December 2026 are Thursday and Friday */
	struct bizhours b = hours("mon-fri 09:00-18:00", "2026-12-24, 12-25");
	const char *tz = "Europe/Warsaw";
	int64_t next;

	(void)state;
	/* Wed 23 Dec 17:00 + 2h: 1h on Wed, then Mon 28 Dec 09:00 + 1h */
	expect_at(bizhours_add(&b, tz, utc(2026, 12, 23, 16, 0), 2 * HOUR_MS),
		  utc(2026, 12, 28, 9, 0));
	/* a holiday is closed in what would be business hours */
	assert_false(bizhours_open(&b, tz, utc(2026, 12, 24, 10, 0), NULL));
	assert_true(bizhours_open(&b, tz, utc(2026, 12, 23, 10, 0), NULL));
	/* the every-year date holds in 2027 too (Saturday then: no effect),
	 * and in 2031 (Thursday) */
	assert_false(bizhours_open(&b, tz, utc(2031, 12, 25, 10, 0), NULL));
	assert_true(bizhours_open(&b, tz, utc(2031, 12, 24, 10, 0), NULL));
	/* the holiday is a local date: 23:30 UTC on the 23rd is already the
	 * 24th in Warsaw, and the holiday ends at 23:00 UTC on the 25th */
	struct bizhours all = hours("daily 00:00-24:00", "2026-12-24");
	assert_false(bizhours_open(&all, tz, utc(2026, 12, 23, 23, 30), &next));
	expect_at(next, utc(2026, 12, 24, 23, 0));
	assert_true(bizhours_open(&all, tz, utc(2026, 12, 23, 22, 30), &next));
	expect_at(next, utc(2026, 12, 23, 23, 0));
	expect_at(bizhours_add(&all, tz, utc(2026, 12, 23, 22, 30), HOUR_MS),
		  utc(2026, 12, 24, 23, 30));
}

/* 29 March 2026: Warsaw and Copenhagen go from 02:00 CET to 03:00 CEST. */
static void
test_dst_spring(void **state)
{
	struct bizhours night = hours("daily 01:00-05:00", "");
	struct bizhours office = hours("mon-fri 09:00-18:00", "");
	static const char *const zones[] = { "Europe/Warsaw", "Europe/Copenhagen" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		const char *tz = zones[i];

		/* the window 01:00-05:00 lasts only 3 real hours that night */
		expect_at(bizhours_add(&night, tz, utc(2026, 3, 29, 0, 0), 3 * HOUR_MS),
			  utc(2026, 3, 29, 3, 0));
		/* one more hour: the next window, 01:00 CEST = 23:00 UTC */
		expect_at(bizhours_add(&night, tz, utc(2026, 3, 29, 0, 0), 4 * HOUR_MS),
			  utc(2026, 3, 30, 0, 0));
		/* Fri 17:00 CET + 2h: Mon 10:00 CEST, which is 08:00 UTC */
		expect_at(bizhours_add(&office, tz, utc(2026, 3, 27, 16, 0), 2 * HOUR_MS),
			  utc(2026, 3, 30, 8, 0));
	}
}

/* 25 October 2026: from 03:00 CEST back to 02:00 CET. */
static void
test_dst_autumn(void **state)
{
	struct bizhours night = hours("daily 01:00-04:00", "");
	struct bizhours office = hours("mon-fri 09:00-18:00", "");
	static const char *const zones[] = { "Europe/Warsaw", "Europe/Copenhagen" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		const char *tz = zones[i];

		/* 01:00-04:00 lasts 4 real hours that night (02:00-03:00 twice) */
		expect_at(bizhours_add(&night, tz, utc(2026, 10, 24, 23, 0), 4 * HOUR_MS),
			  utc(2026, 10, 25, 3, 0));
		/* Fri 17:00 CEST + 2h: Mon 10:00 CET, 09:00 UTC */
		expect_at(bizhours_add(&office, tz, utc(2026, 10, 23, 15, 0), 2 * HOUR_MS),
			  utc(2026, 10, 26, 9, 0));
	}
}

/* Moscow is UTC+3 all year: the same Friday gives Mon 10:00 MSK. */
static void
test_moscow(void **state)
{
	struct bizhours office = hours("mon-fri 09:00-18:00", "");

	(void)state;
	expect_at(bizhours_add(&office, "Europe/Moscow", utc(2026, 10, 23, 14, 0), 2 * HOUR_MS),
		  utc(2026, 10, 26, 7, 0));
	expect_at(bizhours_add(&office, "Europe/Moscow", utc(2026, 3, 27, 14, 0), 2 * HOUR_MS),
		  utc(2026, 3, 30, 7, 0));
}

static void
test_never_open(void **state)
{
	struct bizhours none = hours("", "");
	struct bizhours always = hours("daily 00:00-24:00", "");

	(void)state;
	expect_at(bizhours_add(&none, "UTC", utc(2026, 11, 23, 9, 0), MIN_MS), INT64_MAX);
	/* open around the clock: calendar time */
	expect_at(bizhours_add(&always, "UTC", utc(2026, 11, 23, 9, 0), 50 * HOUR_MS),
		  utc(2026, 11, 25, 11, 0));
	/* every day a holiday would walk forever: it gives up */
	struct bizhours b = hours("daily 00:00-24:00", "");
	char why[64];
	char list[BIZHOURS_MAX_HOLIDAYS * 8] = "";
	for (int i = 0; i < BIZHOURS_MAX_HOLIDAYS; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%02d-%02d",
			 i ? "," : "", 1, i % 31 + 1);
	assert_int_equal(bizhours_parse_holidays(list, &b, why, sizeof(why)), 0);
	/* January is closed: a ticket on 31 Dec waits for 1 February */
	expect_at(bizhours_add(&b, "UTC", utc(2026, 12, 31, 12, 0), 13 * HOUR_MS),
		  utc(2027, 2, 1, 1, 0));
}

/* The walk holds the zone for its whole length and gives the caller's TZ
 * back afterwards, also when the caller's TZ is the same zone. */
static void
test_tz_restored(void **state)
{
	struct bizhours b = hours("mon-fri 09:00-18:00", "12-25");
	int64_t want = utc(2026, 11, 30, 8, 30);

	(void)state;
	unsetenv("TZ");
	expect_at(bizhours_add(&b, "Europe/Warsaw", utc(2026, 11, 27, 16, 30), HOUR_MS), want);
	assert_null(getenv("TZ"));
	setenv("TZ", ":America/New_York", 1);
	expect_at(bizhours_add(&b, "Europe/Warsaw", utc(2026, 11, 27, 16, 30), HOUR_MS), want);
	assert_string_equal(getenv("TZ"), ":America/New_York");
	setenv("TZ", ":Europe/Warsaw", 1);
	expect_at(bizhours_add(&b, "Europe/Warsaw", utc(2026, 11, 27, 16, 30), HOUR_MS), want);
	assert_string_equal(getenv("TZ"), ":Europe/Warsaw");
	/* a held zone nests and is released once */
	assert_int_equal(quiet_tz_hold("Europe/Moscow"), 0);
	assert_int_equal(quiet_tz_hold("Europe/Moscow"), 0);
	quiet_tz_release();
	assert_string_equal(getenv("TZ"), ":Europe/Moscow");
	quiet_tz_release();
	assert_string_equal(getenv("TZ"), ":Europe/Warsaw");
	unsetenv("TZ");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holidays_parse),
		cmocka_unit_test(test_night_and_weekend),
		cmocka_unit_test(test_longer_than_a_day),
		cmocka_unit_test(test_holidays),
		cmocka_unit_test(test_dst_spring),
		cmocka_unit_test(test_dst_autumn),
		cmocka_unit_test(test_moscow),
		cmocka_unit_test(test_never_open),
		cmocka_unit_test(test_tz_restored),
	};

	return cmocka_run_group_tests(tests, need_tzdata, NULL);
}
