/* log: leveled logging to stderr.
 *
 * When JOURNAL_STREAM names our stderr (running under systemd) each line
 * starts with a sd-daemon(3) priority prefix ("<3>"), otherwise with a short
 * level word ("error: "). One write(2) per line; control characters are
 * escaped and a message is cut at about 2 KiB.
 */
#pragma once

#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Reads JOURNAL_STREAM and sets the maximum level printed (default INFO). */
void log_init(enum log_level max_level);
void log_set_max_level(enum log_level max_level);

void log_printf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_printf(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warning(...) log_printf(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_printf(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_printf(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_printf(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* A token bucket for repeating warnings: at most `burst` lines, then one
 * per `interval_usec`; suppressed lines are counted and reported with the
 * next line that passes ("... (12 similar messages suppressed)"). */
struct log_ratelimit {
	uint64_t interval_usec;
	unsigned burst;
	uint64_t window_start_usec;
	unsigned printed;
	unsigned suppressed;
};

#define LOG_RATELIMIT_INIT(interval, burst_)                                                       \
	{                                                                                          \
		.interval_usec = (interval), .burst = (burst_)                                     \
	}

void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
