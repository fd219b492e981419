/* conferr: where a configuration problem is, for messages such as
 * "/etc/teamboard/teamboard.conf:12: alerts.warn_at: must be 1%..99%". */
#pragma once

#include <stddef.h>

struct conf_error {
	char file[256];
	int line;		/* 0: not tied to a line */
	char key[80];		/* "section.key", "" if none */
	char message[256];
};

/* Fills `err` (NULL-safe) and returns -EINVAL. */
int conf_error_set(struct conf_error *err, const char *file, int line,
		   const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* "file:line: key: message" (parts that are empty are left out). */
void conf_error_format(const struct conf_error *err, char *buf, size_t size);
