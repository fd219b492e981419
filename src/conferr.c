/* conferr: configuration error reports and the shared INI reader. */
#include "conferr.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

int
conf_error_set(struct conf_error *err, const char *file, int line, const char *key, const char *fmt,
	       ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line > 0 ? line : 0;
	snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int
conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; s && i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

void
conf_error_format(const struct conf_error *err, char *buf, size_t size)
{
	size_t n = 0;
	int r;

	if (!buf || size == 0)
		return;
	buf[0] = '\0';
	if (!err)
		return;
	if (err->file[0]) {
		if (err->line > 0)
			r = snprintf(buf, size, "%s:%d: ", err->file, err->line);
		else
			r = snprintf(buf, size, "%s: ", err->file);
		if (r < 0)
			return;
		n = (size_t)r < size ? (size_t)r : size - 1;
	} else if (err->line > 0) {
		r = snprintf(buf, size, "line %d: ", err->line);
		if (r < 0)
			return;
		n = (size_t)r < size ? (size_t)r : size - 1;
	}
	if (err->key[0] && n < size) {
		r = snprintf(buf + n, size - n, "%s: ", err->key);
		if (r < 0)
			return;
		n += (size_t)r < size - n ? (size_t)r : size - n - 1;
	}
	if (n < size)
		snprintf(buf + n, size - n, "%s", err->message);
}

/* The reader normalises each physical line itself and hands inih only what
 * inih handles well: Debian's build keeps a 200-byte line buffer, treats
 * indented lines as continuations and strips inline comments only after
 * ';'. Values therefore travel in `value`, not through inih's buffer. */
struct ini_ctx {
	FILE *f;
	const char *path;
	conf_ini_section_fn on_section;
	conf_ini_key_fn on_key;
	void *user;
	struct conf_error *err;
	int rc;
	int line;
	size_t total;
	char raw[CONF_INI_MAX_LINE + 1];
	char section[64];
	char key[64];
	char value[CONF_INI_MAX_LINE + 1];
};

static bool
is_name_char(int c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '.';
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!is_name_char((unsigned char)*s))
			return false;
	return true;
}

/* A name, or two names with one space between: "[mapping zendesk]" names
 * one of several sections of a kind. */
static bool
valid_section(const char *s)
{
	const char *sp = strchr(s, ' ');
	char first[64];

	if (!sp)
		return valid_name(s);
	if ((size_t)(sp - s) >= sizeof(first))
		return false;
	memcpy(first, s, (size_t)(sp - s));
	first[sp - s] = '\0';
	return valid_name(first) && valid_name(sp + 1);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	return s;
}

static int
ini_fail(struct ini_ctx *x, const char *key, const char *msg)
{
	x->rc = conf_error_set(x->err, x->path, x->line, key, "%s", msg);
	return x->rc;
}

/* Reads one physical line into raw; returns false at end of file. */
static bool
read_line(struct ini_ctx *x)
{
	size_t n = 0;
	bool too_long = false, nul = false;
	int c;

	while ((c = getc(x->f)) != EOF) {
		if (++x->total > CONF_INI_MAX_BYTES) {
			x->line++;
			ini_fail(x, "", "file is larger than 1 MiB");
			return false;
		}
		if (c == '\n')
			break;
		if (c == '\0')
			nul = true;
		if (n < CONF_INI_MAX_LINE)
			x->raw[n++] = (char)c;
		else
			too_long = true;
	}
	if (c == EOF && n == 0 && !too_long && !nul) {
		if (ferror(x->f)) {
			x->rc = conf_error_set(x->err, x->path, 0, "", "read error: %s",
					       strerror(errno));
		}
		return false;
	}
	x->raw[n] = '\0';
	x->line++;
	if (too_long) {
		ini_fail(x, "", "line is longer than 4096 bytes");
		return false;
	}
	if (nul) {
		ini_fail(x, "", "line contains a NUL byte");
		return false;
	}
	return true;
}

/* Cuts the comment off: '#' or ';' first on the line or after whitespace,
 * outside double quotes ("a/#" is a topic filter, not a comment). */
static void
strip_comment(char *s)
{
	bool quoted = false;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] == '"') {
			quoted = !quoted;
		} else if (!quoted && (s[i] == '#' || s[i] == ';') &&
			   (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
			s[i] = '\0';
			return;
		}
	}
}

/* Handles one line; returns what inih should see ("" for nothing). */
static const char *
process_line(struct ini_ctx *x, char *out, size_t size)
{
	char *s = x->raw, *eq, *k, *v;
	size_t n;

	if (x->line == 1 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	n = strlen(s);
	if (n > 0 && s[n - 1] == '\r')
		s[--n] = '\0';
	for (k = s; *k; k++) {
		unsigned char c = (unsigned char)*k;

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			ini_fail(x, "", "line contains a control character");
			return NULL;
		}
	}
	s = trim(s);
	strip_comment(s);
	s = trim(s);
	if (*s == '\0')
		return "";
	if (*s == '[') {
		n = strlen(s);
		if (s[n - 1] != ']') {
			ini_fail(x, "", "section header must end with ']'");
			return NULL;
		}
		s[n - 1] = '\0';
		s = trim(s + 1);
		if (!valid_section(s)) {
			ini_fail(x, "",
				 "invalid section name (letters, digits, '.', '_', '-'; or two "
				 "such names with one space, as in [mapping zendesk])");
			return NULL;
		}
		snprintf(x->section, sizeof(x->section), "%s", s);
		if (x->on_section) {
			x->rc = x->on_section(x->user, x->section, x->line, x->err);
			if (x->rc < 0)
				return NULL;
		}
		snprintf(out, size, "[%s]", x->section);
		return out;
	}
	eq = strpbrk(s, "=:");
	if (!eq) {
		ini_fail(x, "", "expected 'key = value' or '[section]'");
		return NULL;
	}
	*eq = '\0';
	k = trim(s);
	v = trim(eq + 1);
	if (!valid_name(k)) {
		ini_fail(x, "", *k ? "invalid key name" : "missing key name before '='");
		return NULL;
	}
	n = strlen(v);
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v[n - 1] = '\0';
		v++;
	}
	snprintf(x->key, sizeof(x->key), "%s", k);
	memmove(x->value, v, strlen(v) + 1);
	snprintf(out, size, "%s=", x->key);
	return out;
}

static char *
conf_ini_reader(char *str, int num, void *stream)
{
	struct ini_ctx *x = stream;
	const char *line;

	if (x->rc < 0)
		return NULL;
	if (num < 80) {
		ini_fail(x, "", "internal error: inih line buffer too small");
		return NULL;
	}
	if (!read_line(x))
		return NULL;
	line = process_line(x, str, (size_t)num);
	if (!line)
		return NULL;
	if (line != str)
		snprintf(str, (size_t)num, "%s", line);
	return str;
}

static int
conf_ini_handler(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *x = user;

	(void)section;
	(void)name;
	(void)value;
	if (x->rc < 0)
		return 0;
	if (!x->section[0]) {
		char key[80];

		snprintf(key, sizeof(key), "%s", x->key);
		ini_fail(x, key, "key outside of a [section]");
		return 0;
	}
	x->rc = x->on_key(x->user, x->section, x->key, x->value, x->line, x->err);
	return x->rc < 0 ? 0 : 1;
}

int
conf_ini_parse(const char *path, conf_ini_section_fn on_section, conf_ini_key_fn on_key, void *user,
	       struct conf_error *err)
{
	struct ini_ctx *x;
	struct stat st;
	int fd, r;

	if (!path || !on_key)
		return conf_error_set(err, path, 0, "", "no file");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		conf_error_set(err, path, 0, "", "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return conf_error_set(err, path, 0, "", "not a regular file");
	}
	if (st.st_size > CONF_INI_MAX_BYTES) {
		close(fd);
		return conf_error_set(err, path, 0, "", "file is larger than 1 MiB");
	}
	/* The context holds two line buffers: too big for a daemon's stack. */
	x = calloc(1, sizeof(*x));
	if (!x) {
		close(fd);
		return -ENOMEM;
	}
	x->f = fdopen(fd, "r");
	if (!x->f) {
		r = -errno;
		close(fd);
		free(x);
		return r;
	}
	x->path = path;
	x->on_section = on_section;
	x->on_key = on_key;
	x->user = user;
	x->err = err;
	r = ini_parse_stream(conf_ini_reader, x, conf_ini_handler, x);
	if (x->rc < 0)
		r = x->rc;
	else if (r > 0)
		r = conf_error_set(err, path, r, "", "syntax error");
	else if (r == -2)
		r = -ENOMEM;
	else if (r < 0)
		r = conf_error_set(err, path, 0, "", "cannot parse");
	fclose(x->f);
	free(x);
	return r;
}
