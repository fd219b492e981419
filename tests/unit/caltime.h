/* Calendar helpers for the unit tests that compute times in real zones
 * (quiet hours, business hours, SLA policy): include after <cmocka.h>. */
#pragma once

#include <stdint.h>
#include <time.h>

#include "quiet.h"

#define MIN_MS  60000LL
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)

/* Wall ms of a UTC calendar time. */
static inline int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi
	};

	return (int64_t)timegm(&tm) * 1000;
}

/* Group setup: the DST cases need these zones; without tzdata they would
 * fail one by one with unhelpful times. */
static inline int
need_tzdata(void **state)
{
	(void)state;
	if (!quiet_tz_valid("Europe/Warsaw") || !quiet_tz_valid("Europe/Copenhagen") ||
	    !quiet_tz_valid("Europe/Moscow")) {
		print_error("tzdata is not installed (/usr/share/zoneinfo/Europe/Warsaw)\n");
		return -1;
	}
	return 0;
}
