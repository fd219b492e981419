/* quiet: recurring quiet-hour windows in an IANA time zone.
 *
 * A window is about what the wall clock on the floor reads: "20:00-08:00"
 * is quiet while local time reads 20:00..07:59, whatever the UTC offset.
 * So the engine works in local "position in the week" (ms since Monday
 * 00:00 local) and lets the C library map instants to local readings.
 * On a spring-forward day a boundary inside the skipped hour never happens
 * (a window starting at 02:30 starts at the jump, when the clock reads
 * 03:00); on a fall-back day the repeated hour is repeated for windows too.
 *
 * Local time comes from setenv("TZ")/tzset()/localtime_r(), the caller's
 * TZ being restored afterwards: the daemon is single-threaded, and glibc
 * then does the zoneinfo parsing. Zones that fail quiet_tz_valid() are
 * evaluated as UTC rather than handing an untrusted name to the C library.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "quiet.h"
#include "textlist.h"

#define MIN_PER_DAY 1440
#define DAYS_ALL    0x7f
#define MS_PER_SEC  1000LL
#define MS_PER_MIN  60000LL
#define MS_PER_DAY  (MIN_PER_DAY * MS_PER_MIN)
#define MS_PER_WEEK (7 * MS_PER_DAY)
/* Two weeks: every pattern repeats weekly, plus room for a boundary that a
 * DST jump skipped this week. */
#define SEARCH_MS        (15 * MS_PER_DAY)
#define SEARCH_STEPS_MAX 4096
/* Wall times beyond +-2^53 ms (about 285,000 years) are not evaluated, which
 * keeps every sum below far from overflow. */
#define WALL_MS_LIMIT (1LL << 53)
#define INTERVALS_MAX (QUIET_MAX_WINDOWS * 7)

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX  128
#define QUOTE_MAX    48 /* how much of a bad window an error quotes */

static const char *const day_names[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

__attribute__((format(printf, 3, 4))) static int
fail(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (!why || why_size == 0)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Length to quote of a bad part, for "%.*s". */
static int
quote_len(ptrdiff_t n)
{
	return (int)(n > QUOTE_MAX ? QUOTE_MAX : n);
}

static int
parse_day(const char *p, size_t n)
{
	if (n != 3)
		return -1;
	for (int d = 0; d < 7; d++) {
		if (strncasecmp(p, day_names[d], 3) == 0)
			return d;
	}
	return -1;
}

/* "mon", "mon-fri", "fri-mon", "mon+wed+fri", "mon/wed", "daily", "*". */
static int
parse_days(const char *p, size_t n, uint8_t *days, const char *win, int win_len, char *why,
	   size_t why_size)
{
	const char *end = p + n;

	*days = 0;
	if ((n == 5 && strncasecmp(p, "daily", 5) == 0) || (n == 1 && *p == '*')) {
		*days = DAYS_ALL;
		return 0;
	}
	while (p <= end) {
		const char *item_end = p, *dash;
		int a, b;

		while (item_end < end && *item_end != '+' && *item_end != '/')
			item_end++;
		dash = memchr(p, '-', (size_t)(item_end - p));
		if (dash) {
			a = parse_day(p, (size_t)(dash - p));
			b = parse_day(dash + 1, (size_t)(item_end - dash - 1));
		} else {
			a = b = parse_day(p, (size_t)(item_end - p));
		}
		if (a < 0 || b < 0)
			return fail(why, why_size,
				    "bad day '%.*s' in quiet window '%.*s' (use mon..sun, "
				    "ranges like mon-fri, lists like mon+wed, or daily)",
				    quote_len(item_end - p), p, win_len, win);
		for (int d = a;; d = (d + 1) % 7) {
			*days |= (uint8_t)(1u << d);
			if (d == b)
				break;
		}
		p = item_end + 1;
	}
	return 0;
}

/* "H:MM" or "HH:MM", 00:00..24:00, into minutes. */
static int
parse_time(const char *p, size_t n, unsigned *min)
{
	unsigned h = 0, m;
	size_t i = 0;

	while (i < n && i < 2 && isdigit((unsigned char)p[i]))
		h = h * 10 + (unsigned)(p[i++] - '0');
	if (i == 0 || n != i + 3 || p[i] != ':' || !isdigit((unsigned char)p[i + 1]) ||
	    !isdigit((unsigned char)p[i + 2]))
		return -1;
	m = (unsigned)(p[i + 1] - '0') * 10 + (unsigned)(p[i + 2] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	*min = h * 60 + m;
	return 0;
}

static int
parse_times(const char *p, size_t n, struct quiet_window *w, const char *win, int win_len,
	    char *why, size_t why_size)
{
	const char *dash = memchr(p, '-', n);
	unsigned start, end;

	if (!dash)
		return fail(why, why_size,
			    "bad time range '%.*s' in quiet window '%.*s' "
			    "(expected HH:MM-HH:MM)",
			    quote_len((ptrdiff_t)n), p, win_len, win);
	if (parse_time(p, (size_t)(dash - p), &start) < 0)
		return fail(why, why_size,
			    "bad start time '%.*s' in quiet window '%.*s' "
			    "(expected 00:00..23:59)",
			    quote_len(dash - p), p, win_len, win);
	if (start == MIN_PER_DAY)
		return fail(why, why_size,
			    "start time 24:00 in quiet window '%.*s' "
			    "(24:00 is only valid as an end time; use 00:00)",
			    win_len, win);
	n -= (size_t)(dash + 1 - p);
	if (parse_time(dash + 1, n, &end) < 0)
		return fail(why, why_size,
			    "bad end time '%.*s' in quiet window '%.*s' "
			    "(expected 00:00..24:00)",
			    quote_len((ptrdiff_t)n), dash + 1, win_len, win);
	/* An end at midnight is the end of the day: 20:00-00:00 == 20:00-24:00
	 * and 00:00-00:00 is the whole day, which keeps end_min in 1..1440. */
	w->start_min = (uint16_t)start;
	w->end_min = (uint16_t)(end == 0 ? MIN_PER_DAY : end);
	return 0;
}

static bool
is_space(char c)
{
	return isspace((unsigned char)c);
}

static int
parse_window(const char *p, size_t n, struct quiet_window *w, char *why, size_t why_size)
{
	const char *end = p + n, *days_end = p, *times, *times_end, *times_stop;
	int win_len = quote_len((ptrdiff_t)n);
	int r;

	while (days_end < end && !is_space(*days_end))
		days_end++;
	times = days_end;
	while (times < end && is_space(*times))
		times++;
	times_end = times;
	while (times_end < end && !is_space(*times_end))
		times_end++;
	times_stop = times_end;
	if (times == end) {
		if (memchr(p, ':', n))
			return fail(why, why_size,
				    "quiet window '%.*s' has no days "
				    "(e.g. 'daily %.*s')",
				    win_len, p, win_len, p);
		return fail(why, why_size,
			    "quiet window '%.*s' has no time range "
			    "(e.g. '%.*s 20:00-08:00')",
			    win_len, p, win_len, p);
	}
	while (times_end < end && is_space(*times_end))
		times_end++;
	if (times_end != end)
		return fail(why, why_size,
			    "unexpected '%.*s' in quiet window '%.*s' "
			    "(expected DAYS HH:MM-HH:MM)",
			    quote_len(end - times_end), times_end, win_len, p);
	r = parse_days(p, (size_t)(days_end - p), &w->days, p, win_len, why, why_size);
	if (r < 0)
		return r;
	return parse_times(times, (size_t)(times_stop - times), w, p, win_len, why, why_size);
}

int
quiet_parse(const char *s, struct quiet_hours *out, char *why, size_t why_size)
{
	struct quiet_hours q;
	struct textlist l;
	const char *a;
	size_t len;
	int r;

	memset(&q, 0, sizeof(q));
	if (why && why_size > 0)
		why[0] = '\0';
	textlist_init(&l, s);
	while ((r = textlist_next(&l, &a, &len)) > 0) {
		if (q.n >= QUIET_MAX_WINDOWS)
			return fail(why, why_size, "too many quiet windows (at most %d)",
				    QUIET_MAX_WINDOWS);
		r = parse_window(a, len, &q.windows[q.n], why, why_size);
		if (r < 0)
			return r;
		q.n++;
	}
	if (r < 0)
		return fail(why, why_size, "empty quiet window (stray comma?)");
	*out = q;
	return 0;
}

bool
quiet_tz_valid(const char *tz)
{
	char path[sizeof(ZONEINFO_DIR) + TZ_NAME_MAX + 1];
	char magic[4];
	struct stat st;
	size_t len;
	bool ok;
	int fd;

	if (!tz)
		return false;
	if (strcmp(tz, "UTC") == 0)
		return true;
	len = strlen(tz);
	if (len == 0 || len > TZ_NAME_MAX || tz[0] == '/' || strstr(tz, ".."))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)tz[i]) && !strchr("/_+-", tz[i]))
			return false;
	}
	snprintf(path, sizeof(path), "%s/%s", ZONEINFO_DIR, tz);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	/* zoneinfo also holds tables (zone.tab, tzdata.zi): only TZif is a zone */
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	     read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
	     memcmp(magic, "TZif", sizeof(magic)) == 0;
	close(fd);
	return ok;
}

/* --- evaluation ------------------------------------------------------- */

struct interval {
	int64_t start_ms; /* in the local week */
	int64_t len_ms;
};

static int64_t
mod_week(int64_t x)
{
	int64_t r = x % MS_PER_WEEK;

	return r < 0 ? r + MS_PER_WEEK : r;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static unsigned
build_intervals(const struct quiet_hours *q, struct interval iv[INTERVALS_MAX])
{
	unsigned n = 0, nw = q->n < QUIET_MAX_WINDOWS ? q->n : QUIET_MAX_WINDOWS;

	for (unsigned i = 0; i < nw; i++) {
		const struct quiet_window *w = &q->windows[i];
		int64_t len;

		if (w->start_min >= MIN_PER_DAY || w->end_min > MIN_PER_DAY)
			continue;
		len = w->end_min > w->start_min ? w->end_min - w->start_min
						: MIN_PER_DAY - w->start_min + w->end_min;
		for (int d = 0; d < 7; d++) {
			if (!(w->days & (1u << d)))
				continue;
			iv[n].start_ms = ((int64_t)d * MIN_PER_DAY + w->start_min) * MS_PER_MIN;
			iv[n].len_ms = len * MS_PER_MIN;
			n++;
		}
	}
	return n;
}

static bool
in_any(const struct interval *iv, unsigned n, int64_t pos)
{
	for (unsigned i = 0; i < n; i++) {
		if (mod_week(pos - iv[i].start_ms) < iv[i].len_ms)
			return true;
	}
	return false;
}

/* Local-clock distance from `pos` to the next window boundary (> 0). */
static int64_t
to_next_boundary(const struct interval *iv, unsigned n, int64_t pos)
{
	int64_t best = MS_PER_WEEK;

	for (unsigned i = 0; i < n; i++) {
		int64_t d1 = mod_week(iv[i].start_ms - pos);
		int64_t d2 = mod_week(iv[i].start_ms + iv[i].len_ms - pos);

		if (d1 > 0 && d1 < best)
			best = d1;
		if (d2 > 0 && d2 < best)
			best = d2;
	}
	return best;
}

/* Local week position and UTC offset at wall time t_ms. */
static int
local_at(int64_t t_ms, int64_t *pos, long *gmtoff)
{
	int64_t sec = floor_div(t_ms, MS_PER_SEC);
	time_t tt = (time_t)sec;
	struct tm tm;
	int wd;

	if (!localtime_r(&tt, &tm))
		return -EOVERFLOW;
	wd = (tm.tm_wday + 6) % 7;
	/* a leap second (tm_sec 60) stays in its minute */
	*pos = ((((int64_t)wd * MIN_PER_DAY + tm.tm_hour * 60 + tm.tm_min) * 60 +
		 (tm.tm_sec > 59 ? 59 : tm.tm_sec)) *
		MS_PER_SEC) +
	       (t_ms - sec * MS_PER_SEC);
	*gmtoff = tm.tm_gmtoff;
	return 0;
}

static int
offset_at(int64_t sec, long *gmtoff)
{
	int64_t pos;

	return local_at(sec * MS_PER_SEC, &pos, gmtoff);
}

/* First whole second in (lo, hi] whose offset differs from lo's, given that
 * hi's does. Offsets change on whole seconds. */
static int64_t
find_transition(int64_t lo, int64_t hi, long off)
{
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		long o;

		if (offset_at(mid, &o) == 0 && o == off)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

struct tz_scope {
	bool had;
	bool same; /* TZ already named this zone: nothing to switch or restore */
	char *saved;
};

static int
tz_enter(struct tz_scope *sc, const char *tz)
{
	const char *prev = getenv("TZ");
	char val[TZ_NAME_MAX + 2];

	sc->had = prev != NULL;
	sc->saved = NULL;
	/* Inside quiet_tz_hold() for this zone (a business-hours walk asks
	 * hundreds of times): no switch back and forth, so tzset() does not
	 * reread the zone file on every call. */
	sc->same = prev && tz && prev[0] == ':' && strcmp(prev + 1, tz) == 0;
	if (sc->same) {
		tzset(); /* cheap when glibc already has this TZ; right if not */
		return 0;
	}
	if (prev) {
		sc->saved = strdup(prev);
		if (!sc->saved)
			return -ENOMEM;
	}
	/* ':' makes glibc read the zone file and never parse a POSIX rule */
	snprintf(val, sizeof(val), ":%s", quiet_tz_valid(tz) ? tz : "UTC");
	if (setenv("TZ", val, 1) < 0) {
		free(sc->saved);
		return -ENOMEM;
	}
	tzset();
	return 0;
}

static void
tz_leave(struct tz_scope *sc)
{
	if (sc->same)
		return;
	if (sc->had)
		setenv("TZ", sc->saved, 1);
	else
		unsetenv("TZ");
	free(sc->saved);
	tzset();
}

/* Walks local-clock boundaries forward from `t`, stepping onto UTC-offset
 * changes, until the answer differs from `active`. */
static int64_t
find_change(const struct interval *iv, unsigned n, int64_t t, int64_t pos, long off, bool active)
{
	int64_t limit = t > INT64_MAX - SEARCH_MS ? INT64_MAX : t + SEARCH_MS;

	for (unsigned step = 0; step < SEARCH_STEPS_MAX && t < limit; step++) {
		int64_t delta = to_next_boundary(iv, n, pos), t1, pos1;
		long off1;

		if (t > INT64_MAX - delta)
			break;
		t1 = t + delta;
		if (local_at(t1, &pos1, &off1) < 0)
			break;
		if (off1 != off) {
			t = find_transition(floor_div(t, MS_PER_SEC), floor_div(t1, MS_PER_SEC),
					    off) *
			    MS_PER_SEC;
			if (local_at(t, &pos, &off) < 0)
				break;
		} else {
			t = t1;
			pos = pos1;
		}
		if (in_any(iv, n, pos) != active)
			return t;
	}
	return INT64_MAX;
}

bool
quiet_active(const struct quiet_hours *q, const char *tz, int64_t wall_ms, int64_t *next_change_ms)
{
	struct interval iv[INTERVALS_MAX];
	struct tz_scope sc;
	int64_t pos, next = INT64_MAX;
	unsigned n = q ? build_intervals(q, iv) : 0;
	bool active = false;
	long off;

	if (n == 0 || wall_ms > WALL_MS_LIMIT || wall_ms < -WALL_MS_LIMIT)
		goto out;
	if (tz_enter(&sc, tz) < 0) {
		/* out of memory: say "not quiet" and ask to be asked again soon */
		next = wall_ms > INT64_MAX - MS_PER_MIN ? INT64_MAX : wall_ms + MS_PER_MIN;
		goto out;
	}
	if (local_at(wall_ms, &pos, &off) == 0) {
		active = in_any(iv, n, pos);
		next = find_change(iv, n, wall_ms, pos, off, active);
	}
	tz_leave(&sc);
out:
	if (next_change_ms)
		*next_change_ms = next;
	return active;
}

int
quiet_local_date(const char *tz, int64_t wall_ms, int *year, int *month, int *mday,
		 int64_t *date_end_ms)
{
	struct tz_scope sc;
	struct tm tm, next;
	time_t tt, end;
	int r = 0;

	if (wall_ms > WALL_MS_LIMIT || wall_ms < -WALL_MS_LIMIT)
		return -EOVERFLOW;
	if (tz_enter(&sc, tz) < 0)
		return -ENOMEM;
	tt = (time_t)floor_div(wall_ms, MS_PER_SEC);
	if (!localtime_r(&tt, &tm)) {
		r = -EOVERFLOW;
		goto out;
	}
	*year = tm.tm_year + 1900;
	*month = tm.tm_mon + 1;
	*mday = tm.tm_mday;
	/* mktime normalises day 32 and finds the offset in force at the next
	 * midnight, so a DST change that night is counted. */
	next = tm;
	next.tm_mday++;
	next.tm_hour = next.tm_min = next.tm_sec = 0;
	next.tm_isdst = -1;
	end = mktime(&next);
	if (end == (time_t)-1 || (int64_t)end * MS_PER_SEC <= wall_ms)
		*date_end_ms =
			wall_ms - (wall_ms % MS_PER_DAY + MS_PER_DAY) % MS_PER_DAY + MS_PER_DAY;
	else
		*date_end_ms = (int64_t)end * MS_PER_SEC;
out:
	tz_leave(&sc);
	return r;
}

static struct tz_scope held;
static unsigned held_depth;

int
quiet_tz_hold(const char *tz)
{
	int r;

	if (held_depth > 0) {
		held_depth++;
		return 0;
	}
	r = tz_enter(&held, tz);
	if (r == 0)
		held_depth = 1;
	return r;
}

void
quiet_tz_release(void)
{
	if (held_depth == 0 || --held_depth > 0)
		return;
	tz_leave(&held);
}
