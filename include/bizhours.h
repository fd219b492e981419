/* bizhours: business-time arithmetic for board-side SLA policies.
 *
 * Pure: no clock reads. Business hours are weekly windows in the syntax of
 * quiet hours ("mon-fri 09:00-18:00", parsed by quiet_parse()) in an IANA
 * time zone, minus holidays (whole local dates). bizhours_add() answers
 * "when has this much business time passed since then", which is how a
 * helpdesk counts an SLA target in business hours.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quiet.h"

#define BIZHOURS_MAX_HOLIDAYS 64

/* A holiday: one local date, or (year 0) that date every year. */
struct bizhours_date {
	uint16_t year; /* 0: every year */
	uint8_t month; /* 1..12 */
	uint8_t mday;  /* 1..31 */
};

struct bizhours {
	struct quiet_hours open; /* when the team works */
	struct bizhours_date holidays[BIZHOURS_MAX_HOLIDAYS];
	unsigned n_holidays;
};

/* Parses "2026-12-24, 2026-12-25, 01-01" (YYYY-MM-DD, or MM-DD for every
 * year; empty: none) into b->holidays. 0 or -EINVAL with a reason in why;
 * b is unchanged on failure. */
int bizhours_parse_holidays(const char *s, struct bizhours *b, char *why, size_t why_size);

/* Whether wall time t is business time (in a window and not a holiday);
 * *next_change_ms gets the next wall time the answer may change. */
bool bizhours_open(const struct bizhours *b, const char *tz, int64_t t_ms, int64_t *next_change_ms);

/* The wall time at which `budget_ms` of business time has passed since
 * `start_ms`: the clock only runs while bizhours_open(). A start outside
 * business hours waits for the next opening. INT64_MAX if the hours never
 * open (no windows, or more than ten years of holidays). */
int64_t bizhours_add(const struct bizhours *b, const char *tz, int64_t start_ms, int64_t budget_ms);
