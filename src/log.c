/* log: leveled, rate-limited logging to stderr (journald-friendly). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A line is cut here: journald splits longer lines, and a peer-controlled
 * string (a payload excerpt) must not turn into a megabyte of log. */
#define LOG_LINE_MAX 2048

static enum log_level max_level = LOG_LEVEL_INFO;
static bool journal;

/* JOURNAL_STREAM is inherited by children and survives "2>file", so it
 * only counts when it names the stderr we actually have (sd-daemon(3)). */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!js || sscanf(js, "%llu:%llu%n", &dev, &ino, &n) != 2 || js[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_level level)
{
	journal = stderr_is_journal();
	log_set_max_level(level);
}

void
log_set_max_level(enum log_level level)
{
	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	max_level = level;
}

static const char *
level_word(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERR:
		return "error";
	case LOG_LEVEL_WARNING:
		return "warning";
	case LOG_LEVEL_NOTICE:
		return "notice";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		break;
	}
	return "debug";
}

/* Formats and writes one line with a single write(2) so lines from
 * several writers (or a crash mid-way) never interleave. Control
 * characters are escaped: log lines often quote what a peer sent, and an
 * embedded newline would forge a second journal entry. */
static void
log_emit(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 128]; /* prefix + message + suffix + '\n' */
	size_t n = 0;
	const char *p;
	int saved = errno;
	int len, r;

	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (journal)
		r = snprintf(line, sizeof(line), "<%d>", (int)level);
	else
		r = snprintf(line, sizeof(line), "%s: ", level_word(level));
	if (r > 0)
		n = (size_t)r;
	for (p = msg; *p && n < LOG_LINE_MAX; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f) {
			if (n + 4 > LOG_LINE_MAX)
				break;
			n += (size_t)snprintf(line + n, 5, "\\x%02x", c);
		} else {
			line[n++] = (char)c;
		}
	}
	/* Mark a cut so nobody mistakes it for the whole message. */
	if (*p || len >= (int)sizeof(msg)) {
		memcpy(line + n, "...", 3);
		n += 3;
	}
	if (suffix) {
		size_t sl = strnlen(suffix, 64);

		memcpy(line + n, suffix, sl);
		n += sl;
	}
	line[n++] = '\n';
	for (;;) {
		ssize_t w = write(STDERR_FILENO, line, n);

		if (w >= 0 || errno != EINTR)
			break;
	}
	errno = saved;
}

void
log_printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	log_emit(level, NULL, fmt, ap);
	va_end(ap);
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Token bucket: `printed` is the number of tokens in use; one comes back
 * every interval, counted from window_start_usec. */
void
log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	char suffix[64];
	unsigned burst;
	uint64_t now;
	va_list ap;

	if (level > max_level)
		return;
	burst = rl->burst ? rl->burst : 1;
	now = mono_usec();
	if (rl->interval_usec == 0) {
		rl->printed = 0;
	} else if (rl->printed == 0) {
		rl->window_start_usec = now;
	} else if (now >= rl->window_start_usec) {
		uint64_t back = (now - rl->window_start_usec) / rl->interval_usec;

		if (back >= rl->printed) {
			rl->printed = 0;
			rl->window_start_usec = now;
		} else {
			rl->printed -= (unsigned)back;
			rl->window_start_usec += back * rl->interval_usec;
		}
	}
	if (rl->printed >= burst) {
		if (rl->suppressed < UINT32_MAX)
			rl->suppressed++;
		return;
	}
	rl->printed++;
	suffix[0] = '\0';
	if (rl->suppressed)
		snprintf(suffix, sizeof(suffix), " (%u similar messages suppressed)",
			 rl->suppressed);
	rl->suppressed = 0;
	va_start(ap, fmt);
	log_emit(level, suffix[0] ? suffix : NULL, fmt, ap);
	va_end(ap);
}
