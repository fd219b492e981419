/* conf: the configuration file (SPEC §8). One table knows every key. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "timeutil.h"

#ifndef TEAMBOARD_MAPPING_DIR
#define TEAMBOARD_MAPPING_DIR "/usr/local/share/teamboard/mappings"
#endif
#ifndef TEAMBOARD_BOARD_DIR
#define TEAMBOARD_BOARD_DIR "/usr/local/share/teamboard/board"
#endif

/* [sla] and [priority] defaults; docs/sla.md gives the reasoning. */
#define SLA_DEFAULT_HOURS "mon-fri 09:00-18:00"
#define SLA_DEFAULT_FIRST                                                                          \
	"urgent public social 5m, high public social 15m, public social 30m, "                     \
	"urgent high social 30m, social 60m, chat 5m, urgent 1h, high 4h business, "               \
	"* 8h business"
#define SLA_DEFAULT_NEXT       "public social 30m, social 60m, chat 5m, urgent 1h, * 8h business"
#define SLA_DEFAULT_RESOLUTION "urgent 8h calendar, high 9h, normal 27h, * 45h"
#define PRIORITY_DEFAULT_RULES                                                                     \
	"public negative: urgent, negative: high, praise: low, public: high, *: normal"
#define PRIORITY_DEFAULT_NEGATIVE                                                                                                                       \
	"not working, doesn't work, does not work, broken, refund, complain, terrible, "                                                                \
	"awful, worst, scam, fraud, never arrived, unacceptable, disappointed, angry, "                                                                 \
	"cancel, outage, "                                                                                                                              \
	"не работает, не пришел, не пришёл, сломал, возврат, жалоб, ужас, обман, верните, " \
	"разочарован, безобраз, "                                                                                                    \
	"nie działa, zepsu, zwrot, reklamacj, skarg, okropn, oszust, nie dotarł, "                                                                    \
	"rozczarowan, "                                                                                                                                 \
	"virker ikke, i stykker, refusion, klage, elendig, forfærdelig, svindel, "                                                                     \
	"aldrig modtaget, skuffet"
#define PRIORITY_DEFAULT_PRAISE                                                                    \
	"thank, great job, love, awesome, excellent, amazing, "                                    \
	"спасибо, благодар, отлично, "                                       \
	"dziękuj, dzięki, świetn, "                                                             \
	"tak for, tusind tak, fantastisk, fremragende"

#define KIB      1024u
#define MIB      (1024u * 1024u)
#define DAY_USEC (86400 * USEC_PER_SEC)

struct conf_key;

/* A setter parses `v` and stores it only if valid; otherwise it writes a
 * reason into `why` and returns -EINVAL. */
typedef int (*key_set_fn)(struct conf *c, const struct conf_key *k, const char *v, char *why,
			  size_t why_size);
typedef void (*key_get_fn)(const struct conf *c, const struct conf_key *k, char *buf, size_t size);

struct conf_key {
	const char *section;
	const char *key;
	const char *def; /* the default, as the file would say it */
	key_set_fn set;
	key_get_fn get;
	size_t off, size;         /* the field in struct conf */
	uint64_t min, max;        /* lengths, durations (usec), sizes, numbers */
	const char *const *names; /* allowed words, NULL-terminated */
};

#define FIELD(f) offsetof(struct conf, f), sizeof(((struct conf *)0)->f)

static char *
field(struct conf *c, const struct conf_key *k)
{
	return (char *)c + k->off;
}

static const char *
cfield(const struct conf *c, const struct conf_key *k)
{
	return (const char *)c + k->off;
}

static bool
has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int fail(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Digits only: strtoull would take signs, spaces and hex. */
static int
parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*end = s;
	*out = v;
	return 0;
}

static void
copy_field(char *dst, size_t size, const char *src)
{
	/* Zero-filled so two loads of one file compare equal with memcmp. */
	memset(dst, 0, size);
	memcpy(dst, src, strlen(src));
}

static const char *
word_list(const char *const *names, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *names && n < size; names++) {
		int r = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", *names);

		if (r < 0)
			break;
		n += (size_t)r;
	}
	return buf;
}

/* --- strings ---------------------------------------------------------- */

static int
set_str(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	size_t n = strlen(v);
	size_t max = k->max ? k->max : k->size - 1;
	char words[128];

	if (has_control(v))
		return fail(why, why_size, "contains a control character");
	if (n < k->min)
		return fail(why, why_size, "must not be empty");
	if (n > max)
		return fail(why, why_size, "is too long (at most %" PRIu64 " bytes)",
			    (uint64_t)max);
	if (k->names) {
		const char *const *w;

		for (w = k->names; *w && strcmp(*w, v) != 0; w++)
			;
		if (!*w)
			return fail(why, why_size, "must be one of: %s",
				    word_list(k->names, words, sizeof(words)));
	}
	copy_field(field(c, k), k->size, v);
	return 0;
}

static void
get_str(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	snprintf(buf, size, "%s", cfield(c, k));
}

/* The SHA-256 of the broker certificate's public key (SubjectPublicKeyInfo)
 * as 64 hex digits, as `openssl dgst -sha256` prints it; kept lower-case. */
static int
set_pin(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	char pin[65];
	size_t n = strlen(v);

	if (n != 0 && n != 64)
		return fail(why, why_size, "must be 64 hex digits (SHA-256) or empty");
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];

		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return fail(why, why_size, "must be 64 hex digits (SHA-256) or empty");
		pin[i] = ch;
	}
	pin[n] = '\0';
	copy_field(field(c, k), k->size, pin);
	return 0;
}

static int
set_board_id(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	const char *p;

	if (*v == '\0')
		return fail(why, why_size, "must not be empty");
	if (strlen(v) > 63)
		return fail(why, why_size, "is too long (at most 63 characters)");
	for (p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return fail(why, why_size,
				    "'%s' may only use lowercase letters, digits and '-'", v);
	if (v[0] == '-')
		return fail(why, why_size, "must not start with '-'");
	/* teamboard/all/cmd/ addresses the whole fleet. */
	if (strcmp(v, "all") == 0)
		return fail(why, why_size, "'all' is reserved for fleet-wide commands");
	return set_str(c, k, v, why, why_size);
}

static int
set_word(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	const char *p;

	for (p = v; *p; p++)
		if (*p == ' ' || *p == '\t')
			return fail(why, why_size, "must not contain spaces");
	return set_str(c, k, v, why, why_size);
}

static int
set_socket(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	if (strlen(v) > max)
		return fail(why, why_size, "is too long for a UNIX socket (at most %zu bytes)",
			    max);
	return set_str(c, k, v, why, why_size);
}

static int
set_listen(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	const char *colon = strrchr(v, ':'), *end;
	uint64_t port;
	size_t hl;

	if (*v == '\0')
		return set_str(c, k, v, why, why_size);
	if (!colon || colon == v || parse_u64(colon + 1, &end, &port) < 0 || *end || port < 1 ||
	    port > 65535 || strpbrk(v, " \t"))
		goto bad;
	hl = (size_t)(colon - v);
	if (v[0] == '[' && (hl < 3 || v[hl - 1] != ']'))
		goto bad;
	if (v[0] != '[' && memchr(v, ':', hl))
		goto bad; /* IPv6 needs brackets: [::1]:8080 */
	return set_str(c, k, v, why, why_size);
bad:
	return fail(why, why_size,
		    "must be HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), or empty to disable");
}

/* Checked at load time, so that a missing or weak token is a configuration
 * error with a line number (and --check-config finds it); the display reads
 * the token itself when it starts. */
static int
set_token_file(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	char buf[64];
	size_t n;
	FILE *f;

	if (*v == '\0' || strlen(v) >= k->size)
		return set_str(c, k, v, why, why_size);
	f = fopen(v, "re");
	if (!f)
		return fail(why, why_size, "cannot read '%s': %s", v, strerror(errno));
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	explicit_bzero(buf, sizeof(buf));
	if (n < 16)
		return fail(why, why_size,
			    "'%s': the token (its first line) must have at least 16 characters", v);
	return set_str(c, k, v, why, why_size);
}

static int
set_tz(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	if (strlen(v) >= k->size || !quiet_tz_valid(v))
		return fail(why, why_size,
			    "unknown time zone '%.64s' (an IANA name such as Europe/Warsaw, "
			    "or UTC)",
			    v);
	return set_str(c, k, v, why, why_size);
}

/* Read at load time so a missing or unreadable secret is a config error
 * with a line number, not a broker refusal an hour later. The content is
 * never put into a message. */
static int
set_password_file(struct conf *c, const struct conf_key *k, const char *v, char *why,
		  size_t why_size)
{
	char buf[sizeof(c->mqtt.password) + 2];
	struct stat st;
	size_t n = 0, len;
	ssize_t r;
	char *nl;
	int fd, e;

	if (strlen(v) >= k->size)
		return set_str(c, k, v, why, why_size);
	if (*v == '\0') {
		explicit_bzero(c->mqtt.password, sizeof(c->mqtt.password));
		return set_str(c, k, v, why, why_size);
	}
	fd = open(v, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fail(why, why_size, "cannot read '%s': %s", v, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(why, why_size, "'%s' is not a regular file", v);
	}
	while (n < sizeof(buf) - 1) {
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			close(fd);
			explicit_bzero(buf, sizeof(buf));
			return fail(why, why_size, "cannot read '%s': %s", v, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	close(fd);
	buf[n] = '\0';
	nl = memchr(buf, '\n', n);
	if (nl)
		*nl = '\0';
	else if (n == sizeof(buf) - 1)
		goto too_long;
	len = nl ? (size_t)(nl - buf) : n;
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (strlen(buf) != len) {
		explicit_bzero(buf, sizeof(buf));
		return fail(why, why_size, "'%s': the password contains a NUL byte", v);
	}
	if (len == 0)
		return fail(why, why_size, "'%s' is empty (the password is its first line)", v);
	if (len >= sizeof(c->mqtt.password))
		goto too_long;
	copy_field(c->mqtt.password, sizeof(c->mqtt.password), buf);
	explicit_bzero(buf, sizeof(buf));
	return set_str(c, k, v, why, why_size);
too_long:
	explicit_bzero(buf, sizeof(buf));
	return fail(why, why_size, "'%s': the password is longer than %zu bytes", v,
		    sizeof(c->mqtt.password) - 1);
}

/* --- numbers ------------------------------------------------------------ */

static int
set_duration(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	char lo[32], hi[32];
	uint64_t usec;

	if (duration_parse(v, &usec) < 0)
		return fail(why, why_size,
			    "invalid duration '%.64s' (a number with ms, s, m, h or d, e.g. 30s)",
			    v);
	if (usec < k->min || usec > k->max) {
		duration_format(k->min, lo, sizeof(lo));
		duration_format(k->max, hi, sizeof(hi));
		return fail(why, why_size, "must be between %s and %s", lo, hi);
	}
	memcpy(field(c, k), &usec, sizeof(usec));
	return 0;
}

static void
get_duration(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	uint64_t usec;

	memcpy(&usec, cfield(c, k), sizeof(usec));
	duration_format(usec, buf, size);
}

static int
set_keepalive(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	uint64_t usec;

	/* MQTT carries the keepalive in whole seconds. */
	if (duration_parse(v, &usec) == 0 && usec % USEC_PER_SEC)
		return fail(why, why_size, "must be whole seconds");
	return set_duration(c, k, v, why, why_size);
}

static int
set_size(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	const char *end;
	uint64_t n, mult = 1;
	size_t sz;

	if (parse_u64(v, &end, &n) < 0)
		goto bad;
	while (*end == ' ')
		end++;
	if (strcmp(end, "KiB") == 0)
		mult = KIB;
	else if (strcmp(end, "MiB") == 0)
		mult = MIB;
	else if (*end && strcmp(end, "B") != 0)
		goto bad;
	if (n > k->max / mult || n * mult < k->min)
		return fail(why, why_size, "must be between 1KiB and 16MiB");
	sz = (size_t)(n * mult);
	memcpy(field(c, k), &sz, sizeof(sz));
	return 0;
bad:
	return fail(why, why_size, "invalid size '%.64s' (bytes, or a number with B, KiB or MiB)",
		    v);
}

static void
get_size(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	size_t sz;

	memcpy(&sz, cfield(c, k), sizeof(sz));
	if (sz && sz % MIB == 0)
		snprintf(buf, size, "%zuMiB", sz / MIB);
	else if (sz && sz % KIB == 0)
		snprintf(buf, size, "%zuKiB", sz / KIB);
	else
		snprintf(buf, size, "%zu", sz);
}

static int
set_port(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	const char *end;
	uint64_t n;

	(void)k;
	if (parse_u64(v, &end, &n) < 0 || *end || n > 65535)
		return fail(why, why_size,
			    "must be a port number 1..65535, or 0 for the default "
			    "(1883, 8883 with tls)");
	c->mqtt.port = (int)n;
	return 0;
}

static void
get_port(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	(void)k;
	snprintf(buf, size, "%d", c->mqtt.port);
}

static int
set_percent(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	const char *end;
	uint64_t n;

	(void)k;
	if (parse_u64(v, &end, &n) < 0 || (*end && strcmp(end, "%") != 0) || n < 1 || n > 99)
		return fail(why, why_size, "must be 1%%..99%% of the SLA budget (e.g. 80%%)");
	c->alerts.warn_at_pct = (unsigned)n;
	return 0;
}

static void
get_percent(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	(void)k;
	snprintf(buf, size, "%u%%", c->alerts.warn_at_pct);
}

/* A plain count between k->min and k->max (caps on what a peer controls). */
static int
set_count(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	const char *end;
	uint64_t n;
	size_t sz;

	if (parse_u64(v, &end, &n) < 0 || *end || n < k->min || n > k->max)
		return fail(why, why_size, "must be a whole number %" PRIu64 "..%" PRIu64, k->min,
			    k->max);
	sz = (size_t)n;
	memcpy(field(c, k), &sz, sizeof(sz));
	return 0;
}

static void
get_count(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	size_t sz;

	memcpy(&sz, cfield(c, k), sizeof(sz));
	snprintf(buf, size, "%zu", sz);
}

/* --- words --------------------------------------------------------------- */

static int
set_bool(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	bool b;

	if (conf_parse_bool(v, &b) < 0)
		return fail(why, why_size, "must be true or false (or yes/no, on/off, 1/0)");
	memcpy(field(c, k), &b, sizeof(b));
	return 0;
}

static void
get_bool(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	bool b;

	memcpy(&b, cfield(c, k), sizeof(b));
	snprintf(buf, size, "%s", b ? "true" : "false");
}

static const char *const backend_names[] = { "libgpiod", "sim", NULL };
static const char *const protocol_names[] = { "5", "3.1.1", NULL };
static const char *const language_names[] = { "en", "ru", "pl", "da", NULL };
static const char *const action_names[] = {
	[BUTTON_ACTION_NONE] = "none",           [BUTTON_ACTION_ACK] = "ack",
	[BUTTON_ACTION_ACK_ALL] = "ack_all",     [BUTTON_ACTION_SILENCE] = "silence",
	[BUTTON_ACTION_LAMP_TEST] = "lamp_test", [BUTTON_ACTION_COUNT] = NULL,
};

static int
word_index(const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	char words[128];
	int i;

	for (i = 0; k->names[i]; i++)
		if (strcmp(k->names[i], v) == 0)
			return i;
	return fail(why, why_size, "must be one of: %s", word_list(k->names, words, sizeof(words)));
}

static int
set_backend(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	int i = word_index(k, v, why, why_size);

	if (i < 0)
		return i;
	c->gpio.backend = i == 0 ? GPIO_BACKEND_LIBGPIOD : GPIO_BACKEND_SIM;
	return 0;
}

static void
get_backend(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	snprintf(buf, size, "%s", k->names[c->gpio.backend == GPIO_BACKEND_SIM]);
}

static int
set_protocol(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	int i = word_index(k, v, why, why_size);

	if (i < 0)
		return i;
	c->mqtt.protocol = i == 0 ? MQTT_PROTOCOL_5 : MQTT_PROTOCOL_311;
	return 0;
}

static void
get_protocol(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	snprintf(buf, size, "%s", k->names[c->mqtt.protocol == MQTT_PROTOCOL_311]);
}

static int
set_action(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	int i = word_index(k, v, why, why_size);
	enum button_action a = (enum button_action)i;

	if (i < 0)
		return i;
	memcpy(field(c, k), &a, sizeof(a));
	return 0;
}

static void
get_action(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	enum button_action a;

	memcpy(&a, cfield(c, k), sizeof(a));
	snprintf(buf, size, "%s", button_action_name(a));
}

static int
set_priority(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	enum priority p;

	(void)k;
	if (priority_from_name(v, &p) < 0)
		return fail(why, why_size, "must be one of: low, normal, high, urgent");
	c->alerts.chirp_min_priority = p;
	return 0;
}

static void
get_priority(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	(void)k;
	snprintf(buf, size, "%s", priority_name(c->alerts.chirp_min_priority));
}

static int
set_quiet(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	struct quiet_hours q;
	int r;

	if (strlen(v) >= k->size || has_control(v))
		return set_str(c, k, v, why, why_size);
	r = quiet_parse(v, &q, why, why_size);
	if (r < 0) {
		if (!why[0])
			snprintf(why, why_size, "invalid quiet hours");
		return r;
	}
	c->alerts.quiet_hours = q;
	return set_str(c, k, v, why, why_size);
}

/* Splits a comma-separated list into trimmed items; returns their number
 * or -EINVAL with `why` set. */
static int
split_list(const char *v, char items[][256], unsigned max, const char *what, char *why,
	   size_t why_size)
{
	unsigned n = 0;
	const char *p = v;

	for (;;) {
		const char *comma = strchr(p, ','), *a = p;
		const char *b = comma ? comma : p + strlen(p);

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (a == b)
			return fail(why, why_size, "empty %s in the list (stray comma?)", what);
		if (n >= max)
			return fail(why, why_size, "at most %u %ss", max, what);
		if ((size_t)(b - a) >= 256)
			return fail(why, why_size, "%s is longer than 255 bytes", what);
		memcpy(items[n], a, (size_t)(b - a));
		items[n][b - a] = '\0';
		n++;
		if (!comma)
			return (int)n;
		p = comma + 1;
	}
}

static int
set_topics(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	char topics[CONF_MAX_TOPICS][256];
	int n, i;

	(void)k;
	if (has_control(v))
		return fail(why, why_size, "contains a control character");
	n = split_list(v, topics, CONF_MAX_TOPICS, "topic", why, why_size);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (!mapping_filter_valid(topics[i]))
			return fail(why, why_size,
				    "'%.64s' is not a valid topic filter ('+' and '#' must fill a "
				    "whole level, '#' only at the end)",
				    topics[i]);
	}
	memset(c->mqtt.events_topics, 0, sizeof(c->mqtt.events_topics));
	for (i = 0; i < n; i++)
		memcpy(c->mqtt.events_topics[i], topics[i], strlen(topics[i]) + 1);
	c->mqtt.n_events_topics = (unsigned)n;
	return 0;
}

static void
get_topics(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	size_t n = 0;
	unsigned i;

	(void)k;
	buf[0] = '\0';
	for (i = 0; i < c->mqtt.n_events_topics && n < size; i++) {
		int r = snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
				 c->mqtt.events_topics[i]);

		if (r < 0)
			return;
		n += (size_t)r;
	}
}

static int
set_sounds(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	char items[SOUND_COUNT + 1][256];
	unsigned mask = 0;
	enum sound s;
	int n, i;

	(void)k;
	n = split_list(v, items, SOUND_COUNT + 1, "sound", why, why_size);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (strcmp(items[i], "none") == 0) {
			if (n > 1)
				return fail(why, why_size, "'none' cannot be combined with sounds");
			continue;
		}
		if (sound_from_name(items[i], &s) < 0 || s == SOUND_NONE)
			return fail(why, why_size,
				    "unknown sound '%.32s' (chirp, warn, alarm, escalated, "
				    "incident, ack, nack, or none)",
				    items[i]);
		mask |= 1u << s;
	}
	c->alerts.audible_in_quiet = mask;
	return 0;
}

static void
get_sounds(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	size_t n = 0;
	unsigned s;

	(void)k;
	snprintf(buf, size, "none");
	for (s = SOUND_NONE + 1; s < SOUND_COUNT && s < 32; s++) {
		int r;

		if (!(c->alerts.audible_in_quiet & (1u << s)) || n >= size)
			continue;
		r = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", sound_name((enum sound)s));
		if (r < 0)
			return;
		n += (size_t)r;
	}
}

/* --- [sla] and [priority] -------------------------------------------------- */

static const char *const hours_names[] = { "calendar", "business", NULL };

static int
set_tz_or_empty(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	if (!*v)
		return set_str(c, k, v, why, why_size);
	return set_tz(c, k, v, why, why_size);
}

static int
set_business_hours(struct conf *c, const struct conf_key *k, const char *v, char *why,
		   size_t why_size)
{
	struct quiet_hours q;
	int r;

	if (strlen(v) >= k->size)
		return fail(why, why_size, "is too long (at most %zu bytes)", k->size - 1);
	r = quiet_parse(v, &q, why, why_size);
	if (r < 0)
		return r;
	c->sla.hours.open = q;
	return set_str(c, k, v, why, why_size);
}

static int
set_holidays(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	struct bizhours b = c->sla.hours;
	int r;

	if (strlen(v) >= k->size)
		return fail(why, why_size, "is too long (at most %zu bytes)", k->size - 1);
	r = bizhours_parse_holidays(v, &b, why, why_size);
	if (r < 0)
		return r;
	c->sla.hours = b;
	return set_str(c, k, v, why, why_size);
}

/* k->min is the enum policy_target of the key. */
static int
set_targets(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	struct policy_rules rs;
	int r;

	if (strlen(v) >= k->size)
		return fail(why, why_size, "is too long (at most %zu bytes)", k->size - 1);
	r = policy_parse_rules(v, false, &rs, why, why_size);
	if (r < 0)
		return r;
	c->sla.targets[k->min] = rs;
	copy_field(field(c, k), k->size, v);
	return 0;
}

static int
set_hours_default(struct conf *c, const struct conf_key *k, const char *v, char *why,
		  size_t why_size)
{
	int i = word_index(k, v, why, why_size);
	enum policy_hours h;

	if (i < 0)
		return i;
	h = i == 0 ? POLICY_HOURS_CALENDAR : POLICY_HOURS_BUSINESS;
	memcpy(field(c, k), &h, sizeof(h));
	return 0;
}

static void
get_hours_default(const struct conf *c, const struct conf_key *k, char *buf, size_t size)
{
	enum policy_hours h;

	memcpy(&h, cfield(c, k), sizeof(h));
	snprintf(buf, size, "%s", h == POLICY_HOURS_BUSINESS ? "business" : "calendar");
}

static int
set_priority_rules(struct conf *c, const struct conf_key *k, const char *v, char *why,
		   size_t why_size)
{
	struct policy_rules rs;
	int r;

	if (strlen(v) >= k->size)
		return fail(why, why_size, "is too long (at most %zu bytes)", k->size - 1);
	r = policy_parse_rules(v, true, &rs, why, why_size);
	if (r < 0)
		return r;
	c->priority.rules = rs;
	copy_field(field(c, k), k->size, v);
	return 0;
}

static int
set_words(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t why_size)
{
	int r = policy_check_words(v, why, why_size);

	if (r < 0)
		return r;
	return set_str(c, k, v, why, why_size);
}

void
conf_policy(const struct conf *c, struct policy_config *out)
{
	memset(out, 0, sizeof(*out));
	out->sla_enabled = c->sla.enabled;
	copy_field(out->timezone, sizeof(out->timezone),
		   c->sla.timezone[0] ? c->sla.timezone : c->alerts.timezone);
	out->hours = c->sla.hours;
	for (int k = 0; k < POLICY_TARGET_COUNT; k++) {
		out->targets[k] = c->sla.targets[k];
		out->default_hours[k] = c->sla.hours_default[k];
	}
	out->priority_enabled = c->priority.enabled;
	out->priority_rules = c->priority.rules;
	copy_field(out->negative_words, sizeof(out->negative_words), c->priority.negative_words);
	copy_field(out->praise_words, sizeof(out->praise_words), c->priority.praise_words);
}

/* --- the table ------------------------------------------------------------- */

#define STR(sec, name, d, f, minlen)                                                               \
	{                                                                                          \
		sec, name, d, set_str, get_str, FIELD(f), minlen, 0, NULL                          \
	}
#define DUR(sec, name, d, f, lo, hi)                                                               \
	{                                                                                          \
		sec, name, d, set_duration, get_duration, FIELD(f), lo, hi, NULL                   \
	}
#define BOOL(sec, name, d, f)                                                                      \
	{                                                                                          \
		sec, name, d, set_bool, get_bool, FIELD(f), 0, 0, NULL                             \
	}
#define COUNT(sec, name, d, f, lo, hi)                                                             \
	{                                                                                          \
		sec, name, d, set_count, get_count, FIELD(f), lo, hi, NULL                         \
	}
#define ACTION(name, d, f)                                                                         \
	{                                                                                          \
		"buttons", name, d, set_action, get_action, FIELD(f), 0, 0, action_names           \
	}

static const struct conf_key keys[] = {
	{ "board", "id", "", set_board_id, get_str, FIELD(board.id), 0, 0, NULL },
	STR("board", "profile", "rpi4", board.profile, 1),

	{ "gpio", "backend", "libgpiod", set_backend, get_backend, FIELD(gpio.backend), 0, 0,
	  backend_names },

	{ "mqtt", "host", "127.0.0.1", set_word, get_str, FIELD(mqtt.host), 1, 0, NULL },
	{ "mqtt", "port", "0", set_port, get_port, FIELD(mqtt.port), 0, 0, NULL },
	{ "mqtt", "protocol", "5", set_protocol, get_protocol, FIELD(mqtt.protocol), 0, 0,
	  protocol_names },
	{ "mqtt", "client_id", "", set_word, get_str, FIELD(mqtt.client_id), 0, 0, NULL },
	{ "mqtt", "events_topic", "helpdesk/+/events", set_topics, get_topics,
	  FIELD(mqtt.events_topics), 0, 0, NULL },
	{ "mqtt", "keepalive", "30s", set_keepalive, get_duration, FIELD(mqtt.keepalive_usec),
	  5 * USEC_PER_SEC, 3600 * USEC_PER_SEC, NULL },
	STR("mqtt", "username", "", mqtt.username, 0),
	{ "mqtt", "password_file", "", set_password_file, get_str, FIELD(mqtt.password_file), 0, 0,
	  NULL },
	BOOL("mqtt", "tls", "false", mqtt.tls),
	STR("mqtt", "cafile", "", mqtt.cafile, 0),
	STR("mqtt", "certfile", "", mqtt.certfile, 0),
	STR("mqtt", "keyfile", "", mqtt.keyfile, 0),
	{ "mqtt", "tls_pin", "", set_pin, get_str, FIELD(mqtt.tls_pin), 0, 0, NULL },
	{ "mqtt", "max_payload", "64KiB", set_size, get_size, FIELD(mqtt.max_payload), KIB,
	  16 * MIB, NULL },

	STR("store", "path", "/var/lib/teamboard/teamboard.db", store.path, 1),
	DUR("store", "ack_retention", "400d", store.ack_retention_usec, DAY_USEC, 36500 * DAY_USEC),
	DUR("store", "audit_retention", "30d", store.audit_retention_usec, DAY_USEC,
	    36500 * DAY_USEC),
	COUNT("store", "max_outbox", "100000", store.max_outbox, 1, 10000000),

	{ "control", "socket", "/run/teamboard/ctl.sock", set_socket, get_str,
	  FIELD(control.socket), 1, 0, NULL },

	{ "display", "listen", "127.0.0.1:8080", set_listen, get_str, FIELD(display.listen), 0, 0,
	  NULL },
	{ "display", "language", "en", set_str, get_str, FIELD(display.language), 0, 0,
	  language_names },
	{ "display", "token_file", "", set_token_file, get_str, FIELD(display.token_file), 0, 0,
	  NULL },

	{ "alerts", "timezone", "UTC", set_tz, get_str, FIELD(alerts.timezone), 0, 0, NULL },
	{ "alerts", "chirp_min_priority", "normal", set_priority, get_priority,
	  FIELD(alerts.chirp_min_priority), 0, 0, NULL },
	{ "alerts", "warn_at", "80%", set_percent, get_percent, FIELD(alerts.warn_at_pct), 0, 0,
	  NULL },
	DUR("alerts", "ack_timeout", "10m", alerts.ack_timeout_usec, USEC_PER_SEC, 7 * DAY_USEC),
	DUR("alerts", "escalate_after", "5m", alerts.escalate_after_usec, USEC_PER_SEC,
	    7 * DAY_USEC),
	DUR("alerts", "feed_timeout", "2m", alerts.feed_timeout_usec, USEC_PER_SEC, 7 * DAY_USEC),
	DUR("alerts", "silence_for", "5m", alerts.silence_for_usec, USEC_PER_SEC, 7 * DAY_USEC),
	{ "alerts", "quiet_hours", "", set_quiet, get_str, FIELD(alerts.quiet_hours_text), 0, 0,
	  NULL },
	{ "alerts", "audible_in_quiet", "escalated", set_sounds, get_sounds,
	  FIELD(alerts.audible_in_quiet), 0, 0, NULL },
	BOOL("alerts", "assign_acks", "false", alerts.assign_acks),
	COUNT("alerts", "max_open_tickets", "100000", alerts.max_open_tickets, 1, 1000000),

	/* Defaults and their reasoning: docs/sla.md. */
	BOOL("sla", "enabled", "false", sla.enabled),
	{ "sla", "timezone", "", set_tz_or_empty, get_str, FIELD(sla.timezone), 0, 0, NULL },
	{ "sla", "business_hours", SLA_DEFAULT_HOURS, set_business_hours, get_str,
	  FIELD(sla.business_hours_text), 0, 0, NULL },
	{ "sla", "holidays", "", set_holidays, get_str, FIELD(sla.holidays_text), 0, 0, NULL },
	{ "sla", "first_response", SLA_DEFAULT_FIRST, set_targets, get_str,
	  FIELD(sla.targets_text[POLICY_FIRST_RESPONSE]), POLICY_FIRST_RESPONSE, 0, NULL },
	{ "sla", "next_response", SLA_DEFAULT_NEXT, set_targets, get_str,
	  FIELD(sla.targets_text[POLICY_NEXT_RESPONSE]), POLICY_NEXT_RESPONSE, 0, NULL },
	{ "sla", "resolution", SLA_DEFAULT_RESOLUTION, set_targets, get_str,
	  FIELD(sla.targets_text[POLICY_RESOLUTION]), POLICY_RESOLUTION, 0, NULL },
	{ "sla", "first_response_hours", "calendar", set_hours_default, get_hours_default,
	  FIELD(sla.hours_default[POLICY_FIRST_RESPONSE]), 0, 0, hours_names },
	{ "sla", "next_response_hours", "calendar", set_hours_default, get_hours_default,
	  FIELD(sla.hours_default[POLICY_NEXT_RESPONSE]), 0, 0, hours_names },
	{ "sla", "resolution_hours", "business", set_hours_default, get_hours_default,
	  FIELD(sla.hours_default[POLICY_RESOLUTION]), 0, 0, hours_names },

	BOOL("priority", "enabled", "false", priority.enabled),
	{ "priority", "rules", PRIORITY_DEFAULT_RULES, set_priority_rules, get_str,
	  FIELD(priority.rules_text), 0, 0, NULL },
	{ "priority", "negative_words", PRIORITY_DEFAULT_NEGATIVE, set_words, get_str,
	  FIELD(priority.negative_words), 0, 0, NULL },
	{ "priority", "praise_words", PRIORITY_DEFAULT_PRAISE, set_words, get_str,
	  FIELD(priority.praise_words), 0, 0, NULL },

	DUR("buttons", "debounce", "30ms", buttons.debounce_usec, 0, USEC_PER_SEC),
	/* Below the 10 s hold that starts a lamp test. */
	DUR("buttons", "long_press", "1500ms", buttons.long_press_usec, 100 * USEC_PER_MSEC,
	    9 * USEC_PER_SEC),
	DUR("buttons", "double_press", "400ms", buttons.double_press_usec, 50 * USEC_PER_MSEC,
	    2 * USEC_PER_SEC),
	/* Above the 10 s hold that starts a lamp test. */
	DUR("buttons", "stuck_after", "60s", buttons.stuck_after_usec, 11 * USEC_PER_SEC,
	    3600 * USEC_PER_SEC),
	ACTION("on_short", "ack", buttons.on_short),
	ACTION("on_long", "ack_all", buttons.on_long),
	ACTION("on_double", "silence", buttons.on_double),
	ACTION("on_hold", "lamp_test", buttons.on_hold),

	STR("admin", "key_file", "", admin.key_file, 0),
	DUR("admin", "max_cmd_age", "60s", admin.max_cmd_age_usec, USEC_PER_SEC, DAY_USEC),

	BOOL("homeassistant", "discovery", "false", homeassistant.discovery),
	{ "homeassistant", "prefix", "homeassistant", set_word, get_str,
	  FIELD(homeassistant.prefix), 1, 0, NULL },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static int
key_index(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
			return (int)i;
	return -ENOENT;
}

static bool
section_known(const char *section)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

static void
key_name(const char *section, const char *key, char *buf, size_t size)
{
	snprintf(buf, size, "%.39s.%.39s", section, key);
}

const char *
button_action_name(enum button_action a)
{
	return (unsigned)a < BUTTON_ACTION_COUNT ? action_names[a] : "?";
}

bool
conf_key_at(size_t i, const char **section, const char **key)
{
	if (i >= N_KEYS)
		return false;
	if (section)
		*section = keys[i].section;
	if (key)
		*key = keys[i].key;
	return true;
}

void
conf_defaults(struct conf *c)
{
	char why[256];
	size_t i;

	memset(c, 0, sizeof(*c));
	copy_field(c->board.profile_dir, sizeof(c->board.profile_dir), TEAMBOARD_BOARD_DIR);
	copy_field(c->mapping.preset_dir, sizeof(c->mapping.preset_dir), TEAMBOARD_MAPPING_DIR);
	/* Also set directly: the setter checks the zone against tzdata. */
	copy_field(c->alerts.timezone, sizeof(c->alerts.timezone), "UTC");
	for (i = 0; i < N_KEYS; i++)
		if (keys[i].def[0] || keys[i].set != set_board_id)
			keys[i].set(c, &keys[i], keys[i].def, why, sizeof(why));
}

int
conf_set(struct conf *c, const char *section, const char *key, const char *value, const char *file,
	 int line, struct conf_error *err)
{
	char name[80], why[256] = "";
	int i, r;

	if (!section || !key)
		return conf_error_set(err, file, line, "", "no key given");
	key_name(section, key, name, sizeof(name));
	if (!section_known(section))
		return conf_error_set(err, file, line, name, "unknown section [%.40s]", section);
	i = key_index(section, key);
	if (i < 0)
		return conf_error_set(err, file, line, name, "unknown key");
	r = keys[i].set(c, &keys[i], value ? value : "", why, sizeof(why));
	if (r < 0)
		return conf_error_set(err, file, line, name, "%s", why[0] ? why : "invalid value");
	return 0;
}

int
conf_get(const struct conf *c, const char *section, const char *key, char *buf, size_t size)
{
	char tmp[CONF_VALUE_MAX];
	int i = key_index(section, key);

	if (i < 0)
		return -ENOENT;
	tmp[0] = '\0';
	keys[i].get(c, &keys[i], tmp, sizeof(tmp));
	if (strlen(tmp) >= size)
		return -ENOSPC;
	memcpy(buf, tmp, strlen(tmp) + 1);
	return 0;
}

static bool
sla_uses_business(const struct conf *c)
{
	for (int k = 0; k < POLICY_TARGET_COUNT; k++) {
		const struct policy_rules *rs = &c->sla.targets[k];

		for (unsigned i = 0; i < rs->n && i < POLICY_MAX_RULES; i++) {
			enum policy_hours h = rs->rules[i].hours;

			if (h == POLICY_HOURS_DEFAULT)
				h = c->sla.hours_default[k];
			if (h == POLICY_HOURS_BUSINESS && !rs->rules[i].none)
				return true;
		}
	}
	return false;
}

/* Cross-key rules; `lines` (may be NULL) says where each key was set. */
static int
validate(struct conf *c, const char *file, const int *lines, struct conf_error *err)
{
#define AT(sec, k) (lines ? lines[key_index(sec, k)] : 0)
	if (!c->board.id[0])
		return conf_error_set(err, file, 0, "board.id",
				      "board.id is required (e.g. id = floor2 in [board])");
	if (c->mqtt.tls && !c->mqtt.cafile[0])
		return conf_error_set(err, file, AT("mqtt", "tls"), "mqtt.tls",
				      "tls = true needs mqtt.cafile");
	if (strpbrk(c->homeassistant.prefix, "+#") || c->homeassistant.prefix[0] == '/')
		return conf_error_set(err, file, AT("homeassistant", "prefix"),
				      "homeassistant.prefix", "must be a plain topic prefix");
	if (c->mqtt.tls_pin[0] && !c->mqtt.tls)
		return conf_error_set(err, file, AT("mqtt", "tls_pin"), "mqtt.tls_pin",
				      "a pin needs tls = true");
	if (c->mqtt.certfile[0] && !c->mqtt.keyfile[0])
		return conf_error_set(err, file, AT("mqtt", "certfile"), "mqtt.certfile",
				      "needs mqtt.keyfile too");
	if (c->mqtt.keyfile[0] && !c->mqtt.certfile[0])
		return conf_error_set(err, file, AT("mqtt", "keyfile"), "mqtt.keyfile",
				      "needs mqtt.certfile too");
	if (c->mqtt.password_file[0] && !c->mqtt.username[0] &&
	    c->mqtt.protocol == MQTT_PROTOCOL_311)
		return conf_error_set(err, file, AT("mqtt", "password_file"), "mqtt.password_file",
				      "MQTT 3.1.1 sends a password only with mqtt.username");
	if (c->buttons.double_press_usec >= c->buttons.long_press_usec)
		return conf_error_set(err, file, AT("buttons", "double_press"),
				      "buttons.double_press",
				      "must be shorter than buttons.long_press");
	if (c->buttons.debounce_usec >= c->buttons.double_press_usec)
		return conf_error_set(err, file, AT("buttons", "debounce"), "buttons.debounce",
				      "must be shorter than buttons.double_press");
	if (c->sla.enabled && c->sla.hours.open.n == 0 && sla_uses_business(c))
		return conf_error_set(err, file, AT("sla", "business_hours"), "sla.business_hours",
				      "is empty, but a target counts business hours: it would "
				      "never be due");
	return 0;
#undef AT
}

int
conf_validate(struct conf *c, struct conf_error *err)
{
	return validate(c, c->path, NULL, err);
}

struct load_ctx {
	struct conf *c;
	const char *path;
	int lines[N_KEYS];
};

static int
load_section(void *user, const char *section, int line, struct conf_error *err)
{
	struct load_ctx *x = user;

	if (mapping_section(section, NULL))
		return 0; /* the name is checked with its first key */
	if (!section_known(section))
		return conf_error_set(err, x->path, line, "", "unknown section [%s]", section);
	return 0;
}

static int
load_key(void *user, const char *section, const char *key, const char *value, int line,
	 struct conf_error *err)
{
	struct load_ctx *x = user;
	char name[80];
	int i = key_index(section, key);

	if (mapping_section(section, NULL))
		return mapping_src_add(x->c->mapping.src, sizeof(x->c->mapping.src), section, key,
				       value, x->path, line, err);
	if (i >= 0 && x->lines[i]) {
		key_name(section, key, name, sizeof(name));
		return conf_error_set(err, x->path, line, name, "given twice (first on line %d)",
				      x->lines[i]);
	}
	if (i >= 0)
		x->lines[i] = line;
	return conf_set(x->c, section, key, value, x->path, line, err);
}

int
conf_load(const char *path, struct conf *c, struct conf_error *err)
{
	struct load_ctx *x;
	int r;

	if (!path)
		return conf_error_set(err, "", 0, "", "no configuration file given");
	x = calloc(1, sizeof(*x));
	if (x)
		x->c = malloc(sizeof(*x->c));
	if (!x || !x->c) {
		free(x);
		return conf_error_set(err, path, 0, "", "out of memory");
	}
	x->path = path;
	conf_defaults(x->c);
	if (strlen(path) >= sizeof(x->c->path)) {
		r = conf_error_set(err, path, 0, "", "path is too long");
		goto out;
	}
	copy_field(x->c->path, sizeof(x->c->path), path);
	r = conf_ini_parse(path, load_section, load_key, x, err);
	if (r == 0)
		r = validate(x->c, path, x->lines, err);
	if (r == 0 && x->c->mapping.src[0]) {
		struct mapping_set *maps = NULL;

		r = mapping_set_compile(x->c->mapping.src, path, x->c->mapping.preset_dir, &maps,
					err);
		if (r == 0) {
			/* A topic both subscriptions match arrives twice. */
			const char *ev[CONF_MAX_TOPICS];

			for (unsigned i = 0; i < x->c->mqtt.n_events_topics; i++)
				ev[i] = x->c->mqtt.events_topics[i];
			r = mapping_set_check_topics(maps, ev, x->c->mqtt.n_events_topics, path,
						     x->lines[key_index("mqtt", "events_topic")],
						     err);
		}
		mapping_set_free(maps);
	}
	if (r == 0)
		*c = *x->c;
out:
	explicit_bzero(x->c->mqtt.password, sizeof(x->c->mqtt.password));
	free(x->c);
	free(x);
	return r;
}

const char *
conf_client_id(const struct conf *c, char *buf, size_t size)
{
	if (c->mqtt.client_id[0])
		snprintf(buf, size, "%s", c->mqtt.client_id);
	else
		snprintf(buf, size, "teamboard-%s", c->board.id);
	return buf;
}

int
conf_mqtt_port(const struct conf *c)
{
	if (c->mqtt.port)
		return c->mqtt.port;
	return c->mqtt.tls ? 8883 : 1883;
}
