/* timeutil: clocks, durations and RFC 3339 timestamps.
 *
 * Every timer in teamboard runs on CLOCK_MONOTONIC in microseconds (uint64_t,
 * names end in _usec). Wall time (int64_t milliseconds since the epoch, names
 * end in _ms) is only used for records, display and mapping backend due times.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Typed as uint64_t/int64_t (not ULL/LL) so that `usec / USEC_PER_SEC`
 * stays uint64_t and prints with PRIu64 on every ABI. */
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC  UINT64_C(1000000)
#define MSEC_PER_SEC  INT64_C(1000)
#define USEC_INFINITY UINT64_MAX

/* Current CLOCK_MONOTONIC time in microseconds. */
uint64_t time_mono_usec(void);

/* Current CLOCK_REALTIME time in milliseconds since the epoch. */
int64_t time_wall_ms(void);

/* Parses a duration such as "250ms", "30s", "5m", "2h", "400d" or a bare
 * number of seconds ("30") into microseconds. Returns 0 or -EINVAL. */
int duration_parse(const char *s, uint64_t *out_usec);

/* Formats a duration compactly ("1500ms", "30s", "5m", "2h") into buf. */
void duration_format(uint64_t usec, char *buf, size_t size);

/* Days in month m (1..12) of proleptic Gregorian year y. */
int time_days_in_month(int64_t y, int m);

/* Parses an RFC 3339 timestamp ("2026-11-25T10:00:00Z",
 * "2026-11-25T12:00:00.250+02:00") into milliseconds since the epoch (UTC).
 * Returns 0 or -EINVAL; rejects out-of-range fields and trailing garbage. */
int rfc3339_parse(const char *s, int64_t *out_ms);

#define RFC3339_BUF 32
/* Formats ms since the epoch as "2026-11-25T10:06:12.345Z" (UTC). */
void rfc3339_format(int64_t ms, char buf[RFC3339_BUF]);
