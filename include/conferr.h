/* conferr: where a configuration problem is, for messages such as
 * "/etc/teamboard/teamboard.conf:12: alerts.warn_at: must be 1%..99%", and
 * the INI reading that the config file and the board profiles share (the
 * only place that includes <ini.h>). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct conf_error {
	char file[256];
	int line;     /* 0: not tied to a line */
	char key[80]; /* "section.key", "" if none */
	char message[256];
};

/* Fills `err` (NULL-safe) and returns -EINVAL. */
int conf_error_set(struct conf_error *err, const char *file, int line, const char *key,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "file:line: key: message" (parts that are empty are left out). */
void conf_error_format(const struct conf_error *err, char *buf, size_t size);

/* Caps on an INI file: a longer file or line is an error, not truncated. */
#define CONF_INI_MAX_BYTES (1024 * 1024)
#define CONF_INI_MAX_LINE  4096

/* Called for each "[section]" header and each "key = value" line, with the
 * 1-based line number. Return 0, or a negative errno after filling `err`
 * (conf_error_set); the first error stops the parse. Strings are valid
 * until the callback returns. */
typedef int (*conf_ini_section_fn)(void *user, const char *section, int line,
				   struct conf_error *err);
typedef int (*conf_ini_key_fn)(void *user, const char *section, const char *key, const char *value,
			       int line, struct conf_error *err);

/* Parses the INI file at `path` (a regular file) with libinih. Lines are
 * trimmed; '#' and ';' start a comment at the start of a line or after
 * whitespace (outside double quotes); one pair of double quotes around a
 * value is removed; indented lines are ordinary lines (no continuations).
 * A section name is one word of letters, digits, '.', '_' and '-', or two
 * such words with one space ("[mapping zendesk]").
 * Syntax errors, control characters and over-long lines are errors naming
 * file and line. `on_section` may be NULL (headers only set the section
 * passed to `on_key`). Returns 0 or the first error (-EINVAL or -errno). */
int conf_ini_parse(const char *path, conf_ini_section_fn on_section, conf_ini_key_fn on_key,
		   void *user, struct conf_error *err);

/* "true/yes/on/1" and "false/no/off/0" (any case). 0 or -EINVAL. */
int conf_parse_bool(const char *s, bool *out);
