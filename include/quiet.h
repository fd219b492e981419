/* quiet: recurring quiet-hour windows ("mon-fri 20:00-08:00, sat-sun
 * 00:00-24:00") evaluated in an IANA time zone. A window that ends before it
 * starts runs over midnight into the next day. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUIET_MAX_WINDOWS 16

struct quiet_window {
	uint8_t days;       /* bit 0 = Monday ... bit 6 = Sunday */
	uint16_t start_min; /* minutes after local midnight, 0..1439 */
	uint16_t end_min;   /* 1..1440 */
};

struct quiet_hours {
	struct quiet_window windows[QUIET_MAX_WINDOWS];
	unsigned n;
};

/* Parses the config syntax; an empty string means no windows. Returns 0 or
 * -EINVAL with a reason in `why`. */
int quiet_parse(const char *s, struct quiet_hours *out, char *why, size_t why_size);

/* Whether wall time `wall_ms` falls in a window, in time zone `tz` (IANA
 * name, e.g. "Europe/Warsaw"); `*next_change_ms` gets the next wall time at
 * which the answer changes (INT64_MAX if never). */
bool quiet_active(const struct quiet_hours *q, const char *tz, int64_t wall_ms,
		  int64_t *next_change_ms);

/* The local calendar date at wall time `wall_ms` in time zone `tz` (as for
 * quiet_active) and the wall time at which that date ends (the next local
 * midnight, DST transitions included). Returns 0 or -EOVERFLOW. */
int quiet_local_date(const char *tz, int64_t wall_ms, int *year, int *month, int *mday,
		     int64_t *date_end_ms);

/* Makes `tz` the process's zone until quiet_tz_release(), so that many
 * quiet_active()/quiet_local_date() calls for that zone in a row do not
 * each switch TZ and reread the zone file. Nests; 0 or -ENOMEM. */
int quiet_tz_hold(const char *tz);
void quiet_tz_release(void);

/* Whether `tz` names a known time zone. */
bool quiet_tz_valid(const char *tz);
