/* bizhours: business-time arithmetic. See bizhours.h.
 *
 * The walk goes from one change of "open" to the next, so its cost is the
 * number of openings and closings in the budget, not its length: a 40-hour
 * target over a weekend and two holidays takes a few dozen steps. Local
 * readings come from quiet.c (quiet_active, quiet_local_date), which owns
 * the time-zone handling; DST is therefore handled the way quiet hours
 * handle it: "09:00-18:00" means what the office clock reads, so a
 * business day is 9 h long also on the day the clocks change.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bizhours.h"
#include "textlist.h"
#include "timeutil.h"

/* Ten years of day boundaries and window edges; past that, never. */
#define WALK_STEPS_MAX 20000
#define QUOTE_MAX      32

static int
digits(const char *p, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return 0;
}

static int
parse_date(const char *p, size_t n, struct bizhours_date *d)
{
	unsigned y = 0, m, day;

	if (n == 10 && p[4] == '-' && p[7] == '-') {
		if (digits(p, 4, &y) < 0 || y < 1970 || y > 2099)
			return -1;
		p += 5;
		n -= 5;
	}
	if (n != 5 || p[2] != '-' || digits(p, 2, &m) < 0 || digits(p + 3, 2, &day) < 0)
		return -1;
	/* every-year dates (y == 0) allow 29 February, as leap 2000 did */
	if (m < 1 || m > 12 || day < 1 || day > (unsigned)time_days_in_month(y ? y : 2000, (int)m))
		return -1;
	d->year = (uint16_t)y;
	d->month = (uint8_t)m;
	d->mday = (uint8_t)day;
	return 0;
}

int
bizhours_parse_holidays(const char *s, struct bizhours *b, char *why, size_t why_size)
{
	struct bizhours_date days[BIZHOURS_MAX_HOLIDAYS] = { { 0 } };
	struct textlist l;
	const char *a;
	size_t len;
	unsigned n = 0;
	int r;

	if (why && why_size)
		why[0] = '\0';
	textlist_init(&l, s);
	while ((r = textlist_next(&l, &a, &len)) > 0) {
		if (n >= BIZHOURS_MAX_HOLIDAYS) {
			if (why)
				snprintf(why, why_size, "too many holidays (at most %d)",
					 BIZHOURS_MAX_HOLIDAYS);
			return -EINVAL;
		}
		if (parse_date(a, len, &days[n]) < 0) {
			if (why)
				snprintf(why, why_size,
					 "bad holiday '%.*s' (expected a date YYYY-MM-DD in "
					 "1970..2099, or MM-DD for every year)",
					 (int)(len > QUOTE_MAX ? QUOTE_MAX : len), a);
			return -EINVAL;
		}
		n++;
	}
	if (r < 0) {
		if (why)
			snprintf(why, why_size, "empty holiday (stray comma?)");
		return r;
	}
	memcpy(b->holidays, days, sizeof(days[0]) * n);
	b->n_holidays = n;
	return 0;
}

static bool
is_holiday(const struct bizhours *b, int y, int m, int d)
{
	for (unsigned i = 0; i < b->n_holidays && i < BIZHOURS_MAX_HOLIDAYS; i++) {
		const struct bizhours_date *h = &b->holidays[i];

		if ((h->year == 0 || h->year == y) && h->month == m && h->mday == d)
			return true;
	}
	return false;
}

bool
bizhours_open(const struct bizhours *b, const char *tz, int64_t t_ms, int64_t *next_change_ms)
{
	int64_t next = INT64_MAX, date_end;
	bool open;
	int y, m, d;

	open = quiet_active(&b->open, tz, t_ms, &next);
	if (b->n_holidays > 0 && quiet_local_date(tz, t_ms, &y, &m, &d, &date_end) == 0) {
		/* a date boundary may start or end a holiday */
		if (is_holiday(b, y, m, d))
			open = false;
		if (date_end < next)
			next = date_end;
	}
	if (next_change_ms)
		*next_change_ms = next;
	return open;
}

int64_t
bizhours_add(const struct bizhours *b, const char *tz, int64_t start_ms, int64_t budget_ms)
{
	int64_t t = start_ms, left = budget_ms < 0 ? 0 : budget_ms, due = INT64_MAX;
	bool held = quiet_tz_hold(tz) == 0; /* one zone switch for the walk */

	for (unsigned step = 0; step < WALK_STEPS_MAX; step++) {
		int64_t next;
		bool open = bizhours_open(b, tz, t, &next);

		if (next == INT64_MAX) {
			if (open && t <= INT64_MAX - left)
				due = t + left;
			break;
		}
		if (next <= t) /* never walk backwards, whatever the zone says */
			next = t + 1;
		if (open) {
			if (next - t >= left) {
				due = t + left;
				break;
			}
			left -= next - t;
		}
		t = next;
	}
	if (held)
		quiet_tz_release();
	return due;
}
