/* timeutil: clocks, durations and RFC 3339 timestamps. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"

uint64_t
time_mono_usec(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

int64_t
time_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * MSEC_PER_SEC + ts.tv_nsec / 1000000;
}

/* --- durations ------------------------------------------------------------ */

struct duration_unit {
	const char *suffix;
	uint64_t usec;
};

/* Largest first: duration_format picks the first unit that divides exactly. */
static const struct duration_unit duration_units[] = {
	{ "d", 86400 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC },
	{ "s", USEC_PER_SEC },         { "ms", USEC_PER_MSEC },
};

int
duration_parse(const char *s, uint64_t *out_usec)
{
	uint64_t n = 0, mult = 0;
	const char *p = s;

	if (!s || !out_usec)
		return -EINVAL;
	/* Digits only: strtoull would accept a sign, spaces and hex. */
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	if (*p == '\0') {
		mult = USEC_PER_SEC;
	} else {
		for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
			if (strcmp(p, duration_units[i].suffix) == 0) {
				mult = duration_units[i].usec;
				break;
			}
		}
		if (!mult)
			return -EINVAL;
	}
	if (n > UINT64_MAX / mult)
		return -EINVAL;
	*out_usec = n * mult;
	return 0;
}

void
duration_format(uint64_t usec, char *buf, size_t size)
{
	if (!buf || size == 0)
		return;
	if (usec == USEC_INFINITY) {
		snprintf(buf, size, "infinity");
		return;
	}
	if (usec == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (usec % duration_units[i].usec == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", usec / duration_units[i].usec,
				 duration_units[i].suffix);
			return;
		}
	}
	/* Sub-millisecond values never come from duration_parse; show them
	 * exactly rather than rounding a timer to something it is not. */
	snprintf(buf, size, "%" PRIu64 "us", usec);
}

/* --- RFC 3339 ------------------------------------------------------------- */

#define MSEC_PER_DAY (86400LL * MSEC_PER_SEC)

static bool
is_leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
time_days_in_month(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* Howard Hinnant's days_from_civil: proleptic Gregorian, no tables, no TZ
 * state (timegm would depend on the process's libc and TZ handling). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly `n` ASCII digits. */
static int
read_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return -EINVAL;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
expect(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int
rfc3339_parse(const char *s, int64_t *out_ms)
{
	int year, mon, day, hour, min, sec, ms = 0, off_min = 0;
	const char *p = s;

	if (!s || !out_ms)
		return -EINVAL;
	if (read_digits(&p, 4, &year) || expect(&p, '-') || read_digits(&p, 2, &mon) ||
	    expect(&p, '-') || read_digits(&p, 2, &day))
		return -EINVAL;
	/* RFC 3339 §5.6 allows 't' and, by its note, a space. */
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (read_digits(&p, 2, &hour) || expect(&p, ':') || read_digits(&p, 2, &min) ||
	    expect(&p, ':') || read_digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		int ndigits = 0;

		p++;
		for (; *p >= '0' && *p <= '9'; p++, ndigits++) {
			if (ndigits >= 9)
				return -EINVAL;
			if (ndigits < 3)
				ms = ms * 10 + (*p - '0');
		}
		if (ndigits == 0)
			return -EINVAL;
		for (int i = ndigits; i < 3; i++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;

		p++;
		if (read_digits(&p, 2, &oh) || expect(&p, ':') || read_digits(&p, 2, &om))
			return -EINVAL;
		if (oh > 23 || om > 59)
			return -EINVAL;
		off_min = sign * (oh * 60 + om);
	} else {
		/* No zone: the instant would depend on whoever reads it. */
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;

	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > time_days_in_month(year, mon))
		return -EINVAL;
	/* sec == 60 is a leap second; it lands on the next minute's :00. */
	if (hour > 23 || min > 59 || sec > 60)
		return -EINVAL;

	int64_t t = days_from_civil(year, mon, day) * MSEC_PER_DAY +
		    ((int64_t)hour * 3600 + min * 60 + sec) * MSEC_PER_SEC + ms -
		    (int64_t)off_min * 60 * MSEC_PER_SEC;
	/* 1970-01-01T00:30:00+01:00 is before the epoch: not a time we handle. */
	if (t < 0)
		return -EINVAL;
	*out_ms = t;
	return 0;
}

void
rfc3339_format(int64_t ms, char buf[RFC3339_BUF])
{
	/* Floor division so times before the epoch still print correctly. */
	int64_t days = ms / MSEC_PER_DAY, rem = ms % MSEC_PER_DAY;
	int64_t year;
	int mon, day;

	if (rem < 0) {
		rem += MSEC_PER_DAY;
		days--;
	}
	civil_from_days(days, &year, &mon, &day);
	int msec = (int)(rem % 1000);
	int secs = (int)(rem / 1000);

	snprintf(buf, RFC3339_BUF, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", year, mon, day,
		 secs / 3600, secs / 60 % 60, secs % 60, msec);
}
