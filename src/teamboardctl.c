/* teamboardctl: the command-line client of teamboardd's control socket.
 *
 * One JSON request per line out, one JSON reply per line back (protocol in
 * docs/teamboardctl.md). Every wait on the socket is a poll with a deadline,
 * so a hung daemon costs at most the -t timeout. Exit codes follow SPEC §5.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <cjson/cJSON.h>

#include "conf.h"
#include "conferr.h"
#include "maptest.h"
#include "timeutil.h"

#ifndef TEAMBOARD_VERSION
#define TEAMBOARD_VERSION "0.1.0"
#endif

#define EXIT_OK          0
#define EXIT_FAILED      1  /* the daemon answered with an error */
#define EXIT_USAGE       64 /* EX_USAGE */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE */

#define DEFAULT_SOCKET       "/run/teamboard/ctl.sock"
#define DEFAULT_TIMEOUT_USEC (5 * USEC_PER_SEC)
/* A reply line larger than this is not something our daemon sends. */
#define REPLY_MAX             (16 * 1024 * 1024)
#define TABLE_WIDTH           100
#define MAX_ARGS              64
#define SIM_TRANSITIONS_SHOWN 6

static const char *prog = "teamboardctl";

/* ---- small utilities ---------------------------------------------------- */

static void
die_oom(void)
{
	fprintf(stderr, "%s: out of memory\n", prog);
	exit(EXIT_FAILED);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	return EXIT_USAGE;
}

struct sbuf {
	char *p;
	size_t len, cap;
};

static void
sb_reserve(struct sbuf *b, size_t add)
{
	size_t cap = b->cap ? b->cap : 256;

	if (b->len + add + 1 <= b->cap)
		return;
	while (cap < b->len + add + 1)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (!b->p)
		die_oom();
	b->cap = cap;
}

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	sb_reserve(b, 128);
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->p[b->len] = '\0';
		return;
	}
	if ((size_t)n >= room) {
		sb_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void
sb_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Writes all of `s`; false if stdout is gone (a closed pipe). */
static bool
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		s += w;
		n -= (size_t)w;
	}
	return true;
}

/* One decoded character for display: control characters and invalid
 * UTF-8 become '?', so a ticket subject cannot move the cursor or recolour
 * the terminal (the backend, not the operator, wrote it). */
struct glyph {
	const char *bytes;
	size_t n;
	int width;
};

static const char *
glyph_next(const char *s, struct glyph *g)
{
	mbstate_t st;
	wchar_t wc;
	size_t n;
	int w;

	memset(&st, 0, sizeof(st));
	n = mbrtowc(&wc, s, MB_LEN_MAX, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		g->bytes = "?";
		g->n = 1;
		g->width = 1;
		return s + 1;
	}
	w = wcwidth(wc);
	if ((unsigned long)wc < 0x20 || wc == 0x7f || (wc >= 0x80 && wc < 0xa0) || w < 0) {
		g->bytes = "?";
		g->n = 1;
		g->width = 1;
	} else {
		g->bytes = s;
		g->n = n;
		g->width = w;
	}
	return s + n;
}

static int
text_width(const char *s)
{
	struct glyph g;
	int w = 0;

	while (*s) {
		s = glyph_next(s, &g);
		w += g.width;
	}
	return w;
}

/* Appends `s` (sanitised) in at most `width` columns, cut with '…' when
 * longer; pads to `width` if `pad`. Returns the columns used. */
static int
sb_cell(struct sbuf *b, const char *s, int width, bool pad)
{
	struct glyph g;
	int used = 0;
	bool fits;

	if (!s)
		s = "-";
	if (width <= 0)
		return 0;
	fits = text_width(s) <= width;
	while (*s) {
		const char *next = glyph_next(s, &g);

		if (!fits && used + g.width > width - 1)
			break;
		if (fits && used + g.width > width)
			break;
		sb_add(b, g.bytes, g.n);
		used += g.width;
		s = next;
	}
	if (!fits) {
		sb_puts(b, "…");
		used++;
	}
	for (; pad && used < width; used++)
		sb_add(b, " ", 1);
	return used;
}

/* "42s", "4m12s", "-1m03s", "2h05m", "3d04h". */
static void
fmt_secs(int64_t s, char *buf, size_t size)
{
	const char *sign = s < 0 ? "-" : "";
	uint64_t a = s < 0 ? (uint64_t)(-(s + 1)) + 1 : (uint64_t)s;

	if (a < 60)
		snprintf(buf, size, "%s%" PRIu64 "s", sign, a);
	else if (a < 3600)
		snprintf(buf, size, "%s%" PRIu64 "m%02" PRIu64 "s", sign, a / 60, a % 60);
	else if (a < 86400)
		snprintf(buf, size, "%s%" PRIu64 "h%02" PRIu64 "m", sign, a / 3600, a % 3600 / 60);
	else
		snprintf(buf, size, "%s%" PRIu64 "d%02" PRIu64 "h", sign, a / 86400,
			 a % 86400 / 3600);
}

/* ---- JSON accessors (the daemon's reply is data, not trusted shape) ----- */

static const cJSON *
jget(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = jget(o, key);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static bool
jnum(const cJSON *o, const char *key, double *out)
{
	const cJSON *v = jget(o, key);

	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

static bool
jtrue(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(jget(o, key));
}

static long long
jint(const cJSON *o, const char *key, long long dflt)
{
	double d;

	if (!jnum(o, key, &d) || d != d || d > 9e15 || d < -9e15)
		return dflt;
	return (long long)d;
}

/* ---- the connection ------------------------------------------------------ */

struct conn {
	int fd;
	const char *path;
	char *buf;
	size_t len, cap;
	bool eof;
	unsigned seq;
};

static int
remaining_ms(uint64_t deadline)
{
	uint64_t now = time_mono_usec();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999) / 1000);
}

static int
conn_open(struct conn *c, const char *path, uint64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	c->path = path;
	if (strlen(path) >= sizeof(sa.sun_path))
		return usage_error("socket path is too long: %s", path);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "%s: cannot create a socket: %s\n", prog, strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	for (;;) {
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		/* A full backlog: a busy daemon, worth retrying until the
		 * deadline. */
		if (errno == EAGAIN && remaining_ms(deadline) > 0) {
			poll(NULL, 0, 20);
			continue;
		}
		break;
	}
	fprintf(stderr, "%s: cannot connect to teamboardd at %s: %s%s\n", prog, path,
		errno == EAGAIN ? "the daemon is not accepting connections" : strerror(errno),
		errno == ENOENT || errno == ECONNREFUSED ? " (is teamboardd running?)" : "");
	close(c->fd);
	c->fd = -1;
	return EXIT_UNAVAILABLE;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

static int
conn_send(struct conn *c, const char *s, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		if (w >= 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			int ms = remaining_ms(deadline);

			if (ms > 0 && poll(&p, 1, ms) >= 0)
				continue;
			fprintf(stderr, "%s: teamboardd at %s did not take the request in time\n",
				prog, c->path);
			return EXIT_UNAVAILABLE;
		}
		fprintf(stderr, "%s: teamboardd at %s closed the connection: %s\n", prog, c->path,
			strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	return 0;
}

/* Reads once; 0 on data, -1 with c->eof on end or error. */
static int
conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->cap - c->len < 65536) {
		size_t cap = c->cap ? c->cap * 2 : 131072;

		c->buf = realloc(c->buf, cap);
		if (!c->buf)
			die_oom();
		c->cap = cap;
	}
	n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
	if (n > 0) {
		c->len += (size_t)n;
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	c->eof = true;
	return -1;
}

/* Moves the first complete line out of the buffer into *line (malloc'd,
 * NUL-terminated). 1 if there was one, 0 if not yet, -1 if the line is
 * beyond REPLY_MAX. */
static int
conn_take_line(struct conn *c, char **line)
{
	char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
	size_t n;

	if (!nl)
		return c->len > REPLY_MAX ? -1 : 0;
	n = (size_t)(nl - c->buf);
	*line = malloc(n + 1);
	if (!*line)
		die_oom();
	memcpy(*line, c->buf, n);
	(*line)[n] = '\0';
	memmove(c->buf, nl + 1, c->len - n - 1);
	c->len -= n + 1;
	return 1;
}

struct ctx {
	const char *socket;
	uint64_t timeout_usec;
	bool json;
	bool color;
	struct conn conn;
	bool connected;
};

static int
ensure_connected(struct ctx *x, uint64_t deadline)
{
	int r;

	if (x->connected)
		return 0;
	r = conn_open(&x->conn, x->socket, deadline);
	if (r == 0)
		x->connected = true;
	return r;
}

/* Sends one request and waits for its reply. `args` (consumed, may be NULL)
 * carries the verb's arguments. On success *root is the whole reply and
 * *data its "data" member; else an exit code, with the reason printed. */
static int
call(struct ctx *x, const char *verb, cJSON *args, cJSON **root, const cJSON **data)
{
	uint64_t deadline = time_mono_usec() + x->timeout_usec;
	char txn[64], *text, *line = NULL;
	int r;

	*root = NULL;
	r = ensure_connected(x, deadline);
	if (r) {
		cJSON_Delete(args);
		return r;
	}
	if (!args)
		args = cJSON_CreateObject();
	if (!args)
		die_oom();
	snprintf(txn, sizeof(txn), "teamboardctl-%ld-%u", (long)getpid(), ++x->conn.seq);
	cJSON_DeleteItemFromObjectCaseSensitive(args, "verb");
	cJSON_DeleteItemFromObjectCaseSensitive(args, "transaction");
	if (!cJSON_AddStringToObject(args, "verb", verb) ||
	    !cJSON_AddStringToObject(args, "transaction", txn))
		die_oom();
	text = cJSON_PrintUnformatted(args);
	cJSON_Delete(args);
	if (!text)
		die_oom();
	r = conn_send(&x->conn, text, strlen(text), deadline);
	if (r == 0)
		r = conn_send(&x->conn, "\n", 1, deadline);
	cJSON_free(text);
	if (r)
		return r;

	for (;;) {
		struct pollfd p = { .fd = x->conn.fd, .events = POLLIN };
		const char *status, *t;
		cJSON *reply;
		int ms, k = conn_take_line(&x->conn, &line);

		if (k < 0) {
			fprintf(stderr, "%s: reply from teamboardd at %s is too long\n", prog,
				x->socket);
			return EXIT_UNAVAILABLE;
		}
		if (k == 0) {
			if (x->conn.eof) {
				fprintf(stderr, "%s: teamboardd at %s closed the connection %s\n",
					prog, x->socket, "before replying");
				return EXIT_UNAVAILABLE;
			}
			ms = remaining_ms(deadline);
			if (ms == 0) {
				char d[32];

				duration_format(x->timeout_usec, d, sizeof(d));
				fprintf(stderr, "%s: no reply from teamboardd at %s within %s\n",
					prog, x->socket, d);
				return EXIT_UNAVAILABLE;
			}
			if (poll(&p, 1, ms) > 0)
				conn_fill(&x->conn);
			continue;
		}
		reply = cJSON_Parse(line);
		free(line);
		line = NULL;
		if (!cJSON_IsObject(reply)) {
			cJSON_Delete(reply);
			fprintf(stderr, "%s: teamboardd at %s sent something that is not a reply\n",
				prog, x->socket);
			return EXIT_UNAVAILABLE;
		}
		/* Watch updates may interleave; so may replies to others. A
		 * reply without a transaction is the server's own refusal
		 * (too many clients, line too long) and is ours. */
		t = jstr(reply, "transaction");
		if (jget(reply, "type") || (t && strcmp(t, txn) != 0)) {
			cJSON_Delete(reply);
			continue;
		}
		status = jstr(reply, "status");
		if (status && strcmp(status, "ok") == 0) {
			*root = reply;
			*data = jget(reply, "data");
			return 0;
		}
		if (status && strcmp(status, "error") == 0) {
			const char *e = jstr(reply, "error");

			fprintf(stderr, "%s: %s\n", prog, e ? e : "the command failed");
			cJSON_Delete(reply);
			return EXIT_FAILED;
		}
		cJSON_Delete(reply);
		fprintf(stderr, "%s: teamboardd at %s sent a reply without a status\n", prog,
			x->socket);
		return EXIT_UNAVAILABLE;
	}
}

static void
print_json(const cJSON *data)
{
	char *s = data ? cJSON_Print(data) : NULL;

	if (data && !s)
		die_oom();
	printf("%s\n", s ? s : "{}");
	cJSON_free(s);
}

/* Runs a verb whose reply is printed as JSON with --json and otherwise by
 * `human` (NULL: print `fallback`). */
static int
simple(struct ctx *x, const char *verb, cJSON *args,
       void (*human)(struct ctx *x, const cJSON *data), const char *fallback)
{
	const cJSON *data = NULL;
	cJSON *root;
	int r = call(x, verb, args, &root, &data);

	if (r)
		return r;
	if (x->json)
		print_json(data);
	else if (human)
		human(x, data);
	else
		printf("%s\n", fallback ? fallback : "ok");
	cJSON_Delete(root);
	return EXIT_OK;
}

/* ---- argument parsing ---------------------------------------------------- */

struct args {
	int n;
	char *v[MAX_ARGS];
	bool literal[MAX_ARGS]; /* came after "--": never an option */
};

struct optspec {
	const char *name; /* "--since" */
	bool has_value;
	const char *value; /* filled: value, or "" for a flag given */
};

/* Splits a command's words into options from `spec` and positionals.
 * Accepts "--opt value" and "--opt=value". */
static int
parse_cmd(const char *cmd, const struct args *a, int from, struct optspec *spec, size_t n_spec,
	  const char **pos, int min_pos, int max_pos, int *n_pos)
{
	*n_pos = 0;
	for (int i = from; i < a->n; i++) {
		const char *w = a->v[i];
		size_t k;

		if (a->literal[i] || w[0] != '-' || w[1] == '\0') {
			if (*n_pos >= max_pos)
				return usage_error("too many arguments for '%s': '%s'", cmd, w);
			pos[(*n_pos)++] = w;
			continue;
		}
		for (k = 0; k < n_spec; k++) {
			size_t len = strlen(spec[k].name);

			if (strncmp(w, spec[k].name, len) != 0)
				continue;
			if (w[len] == '\0') {
				if (!spec[k].has_value) {
					spec[k].value = "";
				} else if (i + 1 < a->n) {
					spec[k].value = a->v[++i];
				} else {
					return usage_error("option '%s' needs a value",
							   spec[k].name);
				}
				break;
			}
			if (w[len] == '=' && spec[k].has_value) {
				spec[k].value = w + len + 1;
				break;
			}
		}
		if (k == n_spec)
			return usage_error("unknown option '%s' for '%s'", w, cmd);
	}
	if (*n_pos < min_pos)
		return usage_error("'%s' needs more arguments", cmd);
	return 0;
}

static bool
parse_duration_arg(const char *opt, const char *s, int *rc)
{
	uint64_t usec;

	if (duration_parse(s, &usec) < 0 || usec == 0) {
		*rc = usage_error("%s: '%s' is not a duration such as 30s, 5m or 2h", opt, s);
		return false;
	}
	return true;
}

/* RFC 3339, or a duration meaning "that long ago". */
static bool
parse_time_arg(const char *opt, const char *s, char out[RFC3339_BUF], int *rc)
{
	uint64_t usec;
	int64_t ms;

	if (rfc3339_parse(s, &ms) == 0) {
		rfc3339_format(ms, out);
		return true;
	}
	if (duration_parse(s, &usec) == 0) {
		rfc3339_format(time_wall_ms() - (int64_t)(usec / USEC_PER_MSEC), out);
		return true;
	}
	*rc = usage_error("%s: '%s' is neither an RFC 3339 time nor a duration such as 24h", opt,
			  s);
	return false;
}

static bool
parse_uint_arg(const char *opt, const char *s, unsigned long max, unsigned long *out, int *rc)
{
	char *end;

	errno = 0;
	if (*s >= '0' && *s <= '9') {
		*out = strtoul(s, &end, 10);
		if (errno == 0 && *end == '\0' && *out > 0 && *out <= max)
			return true;
	}
	*rc = usage_error("%s: '%s' is not a whole number from 1 to %lu", opt, s, max);
	return false;
}

/* ---- rendering ----------------------------------------------------------- */

static const char *
lamp_color(const char *lamp)
{
	if (strcmp(lamp, "red") == 0)
		return "\033[1;31m";
	if (strcmp(lamp, "amber") == 0)
		return "\033[1;33m";
	if (strcmp(lamp, "green") == 0)
		return "\033[1;32m";
	if (strcmp(lamp, "blue") == 0)
		return "\033[1;34m";
	return "\033[1m";
}

static const char *const lamp_names[] = { "red", "amber", "green", "blue" };

/* A wall time from the daemon plus how far away it is. */
static void
sb_until(struct sbuf *b, const char *ts)
{
	int64_t ms;
	char d[32];

	sb_cell(b, ts, 40, false);
	if (rfc3339_parse(ts, &ms) == 0) {
		int64_t left = (ms - time_wall_ms()) / 1000;

		if (left >= 0) {
			fmt_secs(left, d, sizeof(d));
			sb_printf(b, " (in %s)", d);
		}
	}
}

struct table_ctx {
	bool color;
	int width;
	uint64_t elapsed_usec; /* since the state was taken (watch) */
};

static void
render_alert_table(struct sbuf *b, const cJSON *alerts, const struct table_ctx *t, int max_rows)
{
	static const int w_kind = 9, w_state = 7, w_chan = 9, w_prio = 6, w_vis = 7, w_due = 7,
			 w_acked = 10;
	int w_ticket = 6, rows = 0, total, w_subject;
	const cJSON *a;

	cJSON_ArrayForEach(a, alerts)
	{
		const char *id = jstr(a, "ticket_id");
		int w = id ? text_width(id) : 1;

		if (w > w_ticket)
			w_ticket = w > 16 ? 16 : w;
	}
	total = w_kind + w_state + w_ticket + w_chan + w_prio + w_vis + w_due + w_acked + 8;
	w_subject = t->width - total - 1;
	if (w_subject < 10)
		w_subject = 10;

	if (t->color)
		sb_puts(b, "\033[1m");
	sb_printf(b, "%-*s %-*s %-*s %-*s %-*s %-*s %-*s %-*s %s", w_kind, "KIND", w_state, "STATE",
		  w_ticket, "TICKET", w_chan, "CHANNEL", w_prio, "PRIO", w_vis, "VIS", w_due, "DUE",
		  w_acked, "ACKED BY", "SUBJECT");
	if (t->color)
		sb_puts(b, "\033[0m");
	sb_puts(b, "\n");

	cJSON_ArrayForEach(a, alerts)
	{
		const char *kind = jstr(a, "kind"), *state = jstr(a, "state");
		const char *color = NULL;
		char due[32] = "-";
		double d;

		if (max_rows >= 0 && rows >= max_rows) {
			sb_printf(b, "… %d more\n", cJSON_GetArraySize(alerts) - rows);
			break;
		}
		rows++;
		if (kind && strcmp(kind, "none") == 0)
			kind = "-";
		if (jtrue(a, "escalated"))
			kind = "escalated";
		if (t->color && state && strcmp(state, "unacked") == 0) {
			if (kind &&
			    (strcmp(kind, "breached") == 0 || strcmp(kind, "escalated") == 0))
				color = "\033[1;31m";
			else if (kind && strcmp(kind, "warning") == 0)
				color = "\033[1;33m";
			else
				color = "\033[1m";
		}
		if (jtrue(a, "paused")) {
			snprintf(due, sizeof(due), "paused");
		} else if (jnum(a, "due_in_s", &d) && d == d && d > -1e12 && d < 1e12) {
			fmt_secs((int64_t)d - (int64_t)(t->elapsed_usec / USEC_PER_SEC), due,
				 sizeof(due));
		}
		if (color)
			sb_puts(b, color);
		sb_cell(b, kind, w_kind, true);
		sb_puts(b, " ");
		sb_cell(b, state, w_state, true);
		if (color)
			sb_puts(b, "\033[0m");
		sb_puts(b, " ");
		sb_cell(b, jstr(a, "ticket_id"), w_ticket, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(a, "channel"), w_chan, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(a, "priority"), w_prio, true);
		sb_puts(b, " ");
		sb_cell(b,
			cJSON_IsBool(jget(a, "public"))
				? (jtrue(a, "public") ? "public" : "private")
				: "-",
			w_vis, true);
		sb_puts(b, " ");
		sb_cell(b, due, w_due, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(a, "acked_by"), w_acked, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(a, "subject") ? jstr(a, "subject") : "", w_subject, false);
		sb_puts(b, "\n");
	}
}

static void
sb_lamp_words(struct sbuf *b, const cJSON *lamps, bool color)
{
	for (size_t i = 0; i < 4; i++) {
		const char *p = jstr(lamps, lamp_names[i]);

		if (i)
			sb_puts(b, "  ");
		if (color && p && strcmp(p, "off") != 0)
			sb_printf(b, "%s%s\033[0m ", lamp_color(lamp_names[i]), lamp_names[i]);
		else
			sb_printf(b, "%s ", lamp_names[i]);
		sb_cell(b, p ? p : "?", 8, false);
	}
}

static void
render_status(struct sbuf *b, const cJSON *s, bool color)
{
	const cJSON *counts = jget(s, "counts"), *incident = jget(s, "incident");
	const cJSON *buttons = jget(s, "buttons"), *alerts = jget(s, "alerts"), *btn;
	struct table_ctx t = { .color = color, .width = TABLE_WIDTH };
	long long outbox = jint(s, "outbox_depth", 0);

	sb_puts(b, "board     ");
	sb_cell(b, jstr(s, "board") ? jstr(s, "board") : "?", 64, false);
	sb_puts(b, " (teamboardd ");
	sb_cell(b, jstr(s, "version") ? jstr(s, "version") : "?", 32, false);
	sb_puts(b, ")\nbroker    ");
	sb_cell(b, jstr(s, "broker") ? jstr(s, "broker") : "?", 16, false);
	sb_puts(b, "\nfeed      ");
	sb_cell(b, jstr(s, "feed") ? jstr(s, "feed") : "?", 16, false);
	if (jtrue(s, "blind"))
		sb_printf(b, "  %sBOARD BLIND%s (lamps show the last known state)",
			  color ? "\033[1;31m" : "", color ? "\033[0m" : "");
	if (cJSON_IsFalse(jget(s, "clock_synced")))
		sb_puts(b, "\nclock     not synchronised "
			   "(due times mapped through the backend's clock)");
	if (jstr(s, "muted_until")) {
		sb_puts(b, "\nmuted     until ");
		sb_until(b, jstr(s, "muted_until"));
	}
	if (jstr(s, "silenced_until")) {
		sb_puts(b, "\nsilenced  until ");
		sb_until(b, jstr(s, "silenced_until"));
	}
	if (jtrue(s, "quiet"))
		sb_puts(b, "\nquiet     quiet hours in force");
	if (cJSON_IsObject(incident)) {
		sb_puts(b, "\nincident  ");
		sb_cell(b,
			jstr(incident, "title") && *jstr(incident, "title")
				? jstr(incident, "title")
				: "(untitled)",
			80, false);
	}
	sb_puts(b, "\nlamps     ");
	sb_lamp_words(b, jget(s, "lamps"), color);
	sb_puts(b, "\nbuzzer    ");
	sb_cell(b, jstr(s, "buzzer") ? jstr(s, "buzzer") : "?", 16, false);
	sb_printf(b, "\ncounts    open %lld  unacked %lld  warning %lld  breached %lld\n",
		  jint(counts, "open", 0), jint(counts, "unacked", 0), jint(counts, "warning", 0),
		  jint(counts, "breached", 0));
	if (cJSON_IsObject(buttons) && buttons->child) {
		sb_puts(b, "buttons  ");
		cJSON_ArrayForEach(btn, buttons)
		{
			sb_puts(b, " ");
			sb_cell(b, btn->string, 32, false);
			if (jstr(btn, "agent")) {
				sb_puts(b, " (");
				sb_cell(b, jstr(btn, "agent"), 32, false);
				sb_puts(b, ")");
			}
			if (jtrue(btn, "pressed"))
				sb_puts(b, " pressed");
			if (jtrue(btn, "stuck"))
				sb_puts(b, color ? " \033[1;31mSTUCK\033[0m" : " STUCK");
		}
		sb_puts(b, "\n");
	}
	if (outbox > 0)
		sb_printf(b, "outbox    %lld acknowledgement(s) waiting for the broker\n", outbox);
	sb_puts(b, "\n");
	if (!cJSON_IsArray(alerts) || cJSON_GetArraySize(alerts) == 0) {
		sb_puts(b, "no open tickets\n");
		return;
	}
	render_alert_table(b, alerts, &t, -1);
	if (jtrue(s, "alerts_truncated"))
		sb_puts(b, "(more tickets are open than the daemon lists)\n");
}

/* ---- commands ------------------------------------------------------------ */

static bool
use_color(void)
{
	const char *term = getenv("TERM");

	return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && (!term || strcmp(term, "dumb"));
}

static void
human_status(struct ctx *x, const cJSON *data)
{
	struct sbuf b = { 0 };

	render_status(&b, data, x->color);
	fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
}

static int
cmd_status(struct ctx *x, const struct args *a, int from)
{
	const char *pos[1] = { "" };
	int n, r = parse_cmd("status", a, from, NULL, 0, pos, 0, 0, &n);

	return r ? r : simple(x, "status", NULL, human_status, NULL);
}

static void
human_ping(struct ctx *x, const cJSON *data)
{
	(void)data;
	printf("pong from teamboardd at %s\n", x->socket);
}

static int
cmd_ping(struct ctx *x, const struct args *a, int from)
{
	const char *pos[1] = { "" };
	int n, r = parse_cmd("ping", a, from, NULL, 0, pos, 0, 0, &n);

	return r ? r : simple(x, "ping", NULL, human_ping, NULL);
}

static void
csv_field(struct sbuf *b, const cJSON *v)
{
	char num[64];
	const char *s = NULL;

	if (cJSON_IsString(v) && v->valuestring) {
		s = v->valuestring;
	} else if (cJSON_IsNumber(v)) {
		if (v->valuedouble == (double)(long long)v->valuedouble)
			snprintf(num, sizeof(num), "%lld", (long long)v->valuedouble);
		else
			snprintf(num, sizeof(num), "%.17g", v->valuedouble);
		s = num;
	} else if (cJSON_IsBool(v)) {
		s = cJSON_IsTrue(v) ? "true" : "false";
	}
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		sb_puts(b, s);
		return;
	}
	sb_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"')
			sb_puts(b, "\"\"");
		else
			sb_add(b, s, 1);
	}
	sb_puts(b, "\"");
}

static const char *const csv_columns[] = {
	"id",     "board",  "ticket_id", "alert",      "agent",
	"source", "button", "at",        "latency_ms", "event_id",
};

static void
render_acks_csv(struct sbuf *b, const cJSON *acks)
{
	const size_t n = sizeof(csv_columns) / sizeof(csv_columns[0]);
	const cJSON *rec;

	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%s%s", i ? "," : "", csv_columns[i]);
	sb_puts(b, "\r\n");
	cJSON_ArrayForEach(rec, acks)
	{
		for (size_t i = 0; i < n; i++) {
			if (i)
				sb_puts(b, ",");
			csv_field(b, jget(rec, csv_columns[i]));
		}
		sb_puts(b, "\r\n");
	}
}

static void
fmt_latency(const cJSON *rec, char *buf, size_t size)
{
	double ms;

	if (!jnum(rec, "latency_ms", &ms) || ms != ms || ms < 0 || ms > 1e15)
		snprintf(buf, size, "-");
	else if (ms < 1000)
		snprintf(buf, size, "%.0fms", ms);
	else
		fmt_secs((int64_t)(ms / 1000), buf, size);
}

static void
render_acks_table(struct sbuf *b, const cJSON *acks)
{
	const cJSON *rec;

	if (cJSON_GetArraySize(acks) == 0) {
		sb_puts(b, "no acknowledgements\n");
		return;
	}
	sb_printf(b, "%-24s %-12s %-14s %-12s %-6s %-8s %-7s %s\n", "AT", "TICKET", "ALERT",
		  "AGENT", "SOURCE", "BUTTON", "LATENCY", "ID");
	cJSON_ArrayForEach(rec, acks)
	{
		char lat[32];

		fmt_latency(rec, lat, sizeof(lat));
		sb_cell(b, jstr(rec, "at"), 24, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(rec, "ticket_id"), 12, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(rec, "alert"), 14, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(rec, "agent"), 12, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(rec, "source"), 6, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(rec, "button"), 8, true);
		sb_puts(b, " ");
		sb_cell(b, lat, 7, true);
		sb_puts(b, " ");
		sb_cell(b, jstr(rec, "id"), 40, false);
		sb_puts(b, "\n");
	}
}

static int
cmd_acks(struct ctx *x, const struct args *a, int from)
{
	struct optspec o[] = {
		{ "--since", true, NULL }, { "--until", true, NULL }, { "--agent", true, NULL },
		{ "--limit", true, NULL }, { "--csv", false, NULL },  { "--offset", true, NULL },
	};
	char since[RFC3339_BUF], until[RFC3339_BUF];
	const cJSON *data = NULL, *acks;
	unsigned long limit = 0, offset = 0;
	struct sbuf b = { 0 };
	const char *pos[1] = { "" };
	cJSON *args, *root;
	int n, r = parse_cmd("acks", a, from, o, 6, pos, 0, 0, &n);

	if (r)
		return r;
	if (o[0].value && !parse_time_arg("--since", o[0].value, since, &r))
		return r;
	if (o[1].value && !parse_time_arg("--until", o[1].value, until, &r))
		return r;
	if (o[3].value && !parse_uint_arg("--limit", o[3].value, 1000000, &limit, &r))
		return r;
	if (o[5].value && !parse_uint_arg("--offset", o[5].value, 1000000, &offset, &r))
		return r;
	if (o[4].value && x->json)
		return usage_error("--csv and --json exclude each other");
	args = cJSON_CreateObject();
	if (!args || (o[0].value && !cJSON_AddStringToObject(args, "since", since)) ||
	    (o[1].value && !cJSON_AddStringToObject(args, "until", until)) ||
	    (o[2].value && !cJSON_AddStringToObject(args, "agent", o[2].value)) ||
	    (o[3].value && !cJSON_AddNumberToObject(args, "limit", (double)limit)) ||
	    (o[5].value && !cJSON_AddNumberToObject(args, "offset", (double)offset)))
		die_oom();
	r = call(x, "acks", args, &root, &data);
	if (r)
		return r;
	acks = jget(data, "acks");
	if (x->json)
		print_json(data);
	else if (o[4].value)
		render_acks_csv(&b, acks);
	else
		render_acks_table(&b, acks);
	if (b.p)
		fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
	cJSON_Delete(root);
	return EXIT_OK;
}

static void
human_ack(struct ctx *x, const cJSON *data)
{
	const cJSON *rec, *list = jget(data, "acked");
	struct sbuf b = { 0 };

	(void)x;
	cJSON_ArrayForEach(rec, list)
	{
		sb_puts(&b, "acknowledged ");
		sb_cell(&b, jstr(rec, "ticket_id"), 64, false);
		sb_puts(&b, " (");
		sb_cell(&b, jstr(rec, "alert"), 32, false);
		sb_puts(&b, ")");
		if (jstr(rec, "agent")) {
			sb_puts(&b, " as ");
			sb_cell(&b, jstr(rec, "agent"), 64, false);
		}
		sb_puts(&b, "\n");
	}
	if (!b.p)
		sb_puts(&b, "acknowledged\n");
	fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
}

static int
cmd_ack(struct ctx *x, const struct args *a, int from)
{
	struct optspec o[] = { { "--agent", true, NULL }, { "--all", false, NULL } };
	const char *pos[1] = { "" };
	cJSON *args;
	int n, r = parse_cmd("ack", a, from, o, 2, pos, 0, 1, &n);

	if (r)
		return r;
	if (n == 1 && o[1].value)
		return usage_error("give a ticket or --all, not both");
	if (o[0].value && !*o[0].value)
		return usage_error("--agent: the name is empty");
	args = cJSON_CreateObject();
	if (!args || (n == 1 && !cJSON_AddStringToObject(args, "ticket_id", pos[0])) ||
	    (o[1].value && !cJSON_AddBoolToObject(args, "all", true)) ||
	    (o[0].value && !cJSON_AddStringToObject(args, "agent", o[0].value)))
		die_oom();
	return simple(x, "ack", args, human_ack, NULL);
}

static void
human_silence(struct ctx *x, const cJSON *data)
{
	struct sbuf b = { 0 };

	(void)x;
	sb_puts(&b, "buzzer silenced");
	if (jstr(data, "until")) {
		sb_puts(&b, " until ");
		sb_until(&b, jstr(data, "until"));
	}
	sb_puts(&b, " (alerts stay unacknowledged)\n");
	fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
}

static void
human_mute(struct ctx *x, const cJSON *data)
{
	struct sbuf b = { 0 };

	(void)x;
	sb_puts(&b, "buzzer muted");
	if (jstr(data, "muted_until")) {
		sb_puts(&b, " until ");
		sb_until(&b, jstr(data, "muted_until"));
	}
	sb_puts(&b, "\n");
	fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
}

static int
cmd_for(struct ctx *x, const struct args *a, int from, const char *cmd,
	void (*human)(struct ctx *, const cJSON *))
{
	struct optspec o[] = { { "--for", true, NULL } };
	const char *pos[1] = { "" };
	cJSON *args;
	int n, r = parse_cmd(cmd, a, from, o, 1, pos, 0, 0, &n);

	if (r)
		return r;
	if (o[0].value && !parse_duration_arg("--for", o[0].value, &r))
		return r;
	args = cJSON_CreateObject();
	if (!args || (o[0].value && !cJSON_AddStringToObject(args, "for", o[0].value)))
		die_oom();
	return simple(x, cmd, args, human, NULL);
}

static int
cmd_silence(struct ctx *x, const struct args *a, int from)
{
	return cmd_for(x, a, from, "silence", human_silence);
}

static int
cmd_mute(struct ctx *x, const struct args *a, int from)
{
	return cmd_for(x, a, from, "mute", human_mute);
}

/* Commands without arguments that print a fixed confirmation. */
static int
cmd_plain(struct ctx *x, const struct args *a, int from, const char *cmd, const char *verb,
	  const char *done)
{
	const char *pos[1] = { "" };
	int n, r = parse_cmd(cmd, a, from, NULL, 0, pos, 0, 0, &n);

	return r ? r : simple(x, verb, NULL, NULL, done);
}

static int
cmd_unmute(struct ctx *x, const struct args *a, int from)
{
	return cmd_plain(x, a, from, "unmute", "unmute", "buzzer unmuted");
}

static int
cmd_lamp_test(struct ctx *x, const struct args *a, int from)
{
	return cmd_plain(x, a, from, "lamp-test", "lamp_test", "lamp test: all lamps on for 3 s");
}

static int
cmd_identify(struct ctx *x, const struct args *a, int from)
{
	return cmd_plain(x, a, from, "identify", "identify", "identify: the lamps are flashing");
}

static int
cmd_incident(struct ctx *x, const struct args *a, int from)
{
	const char *pos[MAX_ARGS] = { "" };
	struct sbuf title = { 0 };
	cJSON *args;
	int n, r = parse_cmd("incident", a, from, NULL, 0, pos, 1, MAX_ARGS, &n);

	if (r)
		return r;
	if (strcmp(pos[0], "close") == 0) {
		if (n > 1)
			return usage_error("'incident close' takes no title");
		args = cJSON_CreateObject();
		if (!args || !cJSON_AddBoolToObject(args, "open", false))
			die_oom();
		return simple(x, "incident", args, NULL, "incident closed");
	}
	if (strcmp(pos[0], "open") != 0)
		return usage_error("'incident' needs 'open [TITLE]' or 'close', not '%s'", pos[0]);
	for (int i = 1; i < n; i++) {
		if (i > 1)
			sb_puts(&title, " ");
		sb_puts(&title, pos[i]);
	}
	args = cJSON_CreateObject();
	if (!args || !cJSON_AddBoolToObject(args, "open", true) ||
	    (title.p && !cJSON_AddStringToObject(args, "title", title.p)))
		die_oom();
	sb_free(&title);
	return simple(x, "incident", args, NULL, "incident opened");
}

static void
human_sim_state(struct ctx *x, const cJSON *data)
{
	const cJSON *lines = jget(data, "lines"), *buttons = jget(data, "buttons");
	const cJSON *sounds = jget(data, "sounds"), *l, *e;
	struct sbuf b = { 0 };

	(void)x;
	sb_puts(&b, "LINE     VALUE  RECENT TRANSITIONS (monotonic seconds)\n");
	cJSON_ArrayForEach(l, lines)
	{
		const cJSON *tr = jget(l, "transitions");
		int n = cJSON_GetArraySize(tr), i = 0;

		sb_cell(&b, l->string, 8, true);
		sb_puts(&b, " ");
		sb_cell(&b, jtrue(l, "value") ? "on" : "off", 6, true);
		if (n > SIM_TRANSITIONS_SHOWN)
			sb_puts(&b, " …");
		cJSON_ArrayForEach(e, tr)
		{
			if (i++ < n - SIM_TRANSITIONS_SHOWN)
				continue;
			sb_printf(&b, " %.3f=%s", (double)jint(e, "at_us", 0) / 1e6,
				  jtrue(e, "value") ? "on" : "off");
		}
		sb_puts(&b, "\n");
	}
	if (cJSON_IsObject(buttons) && buttons->child) {
		sb_puts(&b, "\nBUTTON   STATE\n");
		cJSON_ArrayForEach(l, buttons)
		{
			sb_cell(&b, l->string, 8, true);
			sb_printf(&b, " %s\n", jtrue(l, "pressed") ? "pressed" : "released");
		}
	}
	sb_puts(&b, "\nsounds:");
	if (cJSON_GetArraySize(sounds) == 0)
		sb_puts(&b, " none");
	cJSON_ArrayForEach(e, sounds)
	{
		sb_puts(&b, " ");
		sb_cell(&b, jstr(e, "sound"), 16, false);
		sb_printf(&b, "@%.3f", (double)jint(e, "at_us", 0) / 1e6);
	}
	sb_puts(&b, "\n");
	fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
}

/* `sim chatter BUTTON [--edges N] [--within MS] [--hold MS]`. */
static int
sim_chatter(struct ctx *x, cJSON *args, const char *button, const struct optspec *o)
{
	static const char *const keys[] = { "hold_ms", "edges", "within_ms" };
	static const unsigned long max[] = { 120000, 120, 10000 };
	char done[96];
	int r;

	for (int i = 0; i < 3; i++) {
		unsigned long v;

		if (!o[i].value)
			continue;
		if (!parse_uint_arg(o[i].name, o[i].value, max[i], &v, &r)) {
			cJSON_Delete(args);
			return r;
		}
		if (!cJSON_AddNumberToObject(args, keys[i], (double)v))
			die_oom();
	}
	snprintf(done, sizeof(done), "chattered %.64s", button);
	return simple(x, "sim_chatter", args, NULL, done);
}

static int
cmd_sim(struct ctx *x, const struct args *a, int from)
{
	struct optspec o[] = { { "--hold", true, NULL },
			       { "--edges", true, NULL },
			       { "--within", true, NULL } };
	const char *pos[2] = { "", "" };
	char done[96];
	cJSON *args;
	int n, r = parse_cmd("sim", a, from, o, 3, pos, 1, 2, &n);

	if (r)
		return r;
	if (strcmp(pos[0], "state") == 0) {
		if (n != 1 || o[0].value || o[1].value || o[2].value)
			return usage_error("'sim state' takes no arguments");
		return simple(x, "sim_state", NULL, human_sim_state, NULL);
	}
	if (strcmp(pos[0], "press") != 0 && strcmp(pos[0], "double") != 0 &&
	    strcmp(pos[0], "chatter") != 0 && strcmp(pos[0], "hold") != 0 &&
	    strcmp(pos[0], "release") != 0)
		return usage_error("'sim' needs 'press', 'double', 'chatter', 'hold', 'release' or "
				   "'state', not '%s'",
				   pos[0]);
	if (n != 2 || !*pos[1])
		return usage_error("'sim %s' needs a button name, e.g. ack1", pos[0]);
	if (strcmp(pos[0], "chatter") != 0 && (o[1].value || o[2].value))
		return usage_error("only 'sim chatter' takes --edges and --within");
	args = cJSON_CreateObject();
	if (!args || !cJSON_AddStringToObject(args, "button", pos[1]))
		die_oom();
	if (strcmp(pos[0], "chatter") == 0)
		return sim_chatter(x, args, pos[1], o);
	if (strcmp(pos[0], "hold") == 0 || strcmp(pos[0], "release") == 0) {
		bool hold = pos[0][0] == 'h';

		if (o[0].value) {
			cJSON_Delete(args);
			return usage_error("'sim %s' takes no --hold", pos[0]);
		}
		snprintf(done, sizeof(done), "%s %.64s", hold ? "holding" : "released", pos[1]);
		return simple(x, hold ? "sim_hold" : "sim_release", args, NULL, done);
	}
	if (strcmp(pos[0], "double") == 0) {
		if (o[0].value) {
			cJSON_Delete(args);
			return usage_error("'sim double' takes no --hold");
		}
		snprintf(done, sizeof(done), "double-pressed %.64s", pos[1]);
		return simple(x, "sim_double", args, NULL, done);
	}
	if (o[0].value) {
		unsigned long ms;
		uint64_t usec;

		/* Bare numbers are milliseconds here (unlike durations). */
		if (strspn(o[0].value, "0123456789") == strlen(o[0].value)) {
			if (!parse_uint_arg("--hold", o[0].value, 3600000, &ms, &r)) {
				cJSON_Delete(args);
				return r;
			}
		} else if (duration_parse(o[0].value, &usec) == 0 && usec >= USEC_PER_MSEC &&
			   usec <= 3600 * USEC_PER_SEC) {
			ms = (unsigned long)(usec / USEC_PER_MSEC);
		} else {
			cJSON_Delete(args);
			return usage_error("--hold: '%s' is not a time in ms (e.g. 100 or 2s)",
					   o[0].value);
		}
		if (!cJSON_AddNumberToObject(args, "hold_ms", (double)ms))
			die_oom();
		snprintf(done, sizeof(done), "pressed %.64s for %lu ms", pos[1], ms);
	} else {
		snprintf(done, sizeof(done), "pressed %.64s", pos[1]);
	}
	return simple(x, "sim_press", args, NULL, done);
}

static int
cmd_raw(struct ctx *x, const struct args *a, int from)
{
	const char *pos[2] = { "", "" };
	const cJSON *data = NULL;
	cJSON *args = NULL, *root;
	int n, r = parse_cmd("raw", a, from, NULL, 0, pos, 1, 2, &n);

	if (r)
		return r;
	if (!*pos[0])
		return usage_error("'raw' needs a verb");
	if (n == 2) {
		args = cJSON_Parse(pos[1]);
		if (!cJSON_IsObject(args)) {
			cJSON_Delete(args);
			return usage_error("raw: the arguments must be one JSON object, e.g. "
					   "'{\"for\":\"5m\"}'");
		}
	}
	r = call(x, pos[0], args, &root, &data);
	if (r)
		return r;
	print_json(data);
	cJSON_Delete(root);
	return EXIT_OK;
}

/* ---- watch --------------------------------------------------------------- */

struct watch {
	struct ctx *x;
	bool tty;
	cJSON *state; /* latest status object (owns its root) */
	cJSON *state_root;
	uint64_t state_mono; /* when it arrived */
	char *last_line;     /* non-TTY: the last line printed */
	struct termios saved;
	bool termios_saved;
	bool screen;
};

/* Whether a lamp showing pattern `p` is lit at monotonic `t`, and when
 * that can next change. Rates as on the board: slow 1 Hz, fast 4 Hz,
 * blind a 150 ms blink every 2 s. */
static bool
pattern_lit(const char *p, uint64_t t, uint64_t *next)
{
	uint64_t period, on, phase;

	*next = UINT64_MAX;
	if (!p || strcmp(p, "off") == 0)
		return false;
	if (strcmp(p, "slow") == 0) {
		period = 1000000;
		on = 500000;
	} else if (strcmp(p, "fast") == 0) {
		period = 250000;
		on = 125000;
	} else if (strcmp(p, "blind") == 0) {
		period = 2000000;
		on = 150000;
	} else {
		return true; /* steady, or a pattern this client does not know */
	}
	phase = t % period;
	*next = t - phase + (phase < on ? on : period);
	return phase < on;
}

static void
watch_restore_terminal(struct watch *w)
{
	if (w->screen) {
		/* show the cursor, leave the alternate screen */
		(void)write_all(STDOUT_FILENO, "\033[?25h\033[?1049l", 14);
		w->screen = false;
	}
	if (w->termios_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &w->saved);
		w->termios_saved = false;
	}
}

static void
watch_banner(struct sbuf *b, const char *color, const char *text, int cols)
{
	sb_puts(b, color);
	sb_puts(b, " ");
	sb_cell(b, text, cols - 2, true);
	sb_puts(b, " \033[0m\033[K\n");
}

static uint64_t
watch_draw(struct watch *w)
{
	const cJSON *s = w->state, *lamps = jget(s, "lamps"), *counts = jget(s, "counts");
	const cJSON *incident = jget(s, "incident"), *alerts = jget(s, "alerts");
	uint64_t now = time_mono_usec(), next = UINT64_MAX, n;
	struct winsize ws = { 0 };
	struct sbuf b = { 0 }, line = { 0 };
	struct table_ctx t = { .color = w->x->color };
	int cols = 80, rows = 24, used;
	char clock[16], text[256];
	time_t wall = time(NULL);
	struct tm tm;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 && ws.ws_row > 8) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	localtime_r(&wall, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	sb_puts(&b, "\033[H\033[1m teamboard");
	if (jstr(s, "board")) {
		sb_puts(&b, " · ");
		sb_cell(&b, jstr(s, "board"), 40, false);
	}
	sb_printf(&b, "\033[0m   %s   q quits\033[K\n", clock);
	used = 1;
	if (!s) {
		sb_puts(&b, "\n waiting for the first state from teamboardd…\033[K\n");
	} else {
		const char *broker = jstr(s, "broker"), *feed = jstr(s, "feed");

		if (jtrue(s, "blind")) {
			watch_banner(&b, "\033[1;97;41m",
				     "BOARD BLIND: no feed or no broker. Red and amber show the "
				     "last known state, green blinks 'blind'.",
				     cols);
			used++;
		}
		if (feed && strcmp(feed, "ok") != 0) {
			snprintf(text, sizeof(text),
				 "FEED %s: no message from the helpdesk backend for a while", feed);
			watch_banner(&b, "\033[1;30;43m", text, cols);
			used++;
		}
		if (broker && strcmp(broker, "connected") != 0) {
			snprintf(text, sizeof(text), "BROKER %s", broker);
			watch_banner(&b, "\033[1;30;43m", text, cols);
			used++;
		}
		if (cJSON_IsObject(incident)) {
			snprintf(text, sizeof(text), "INCIDENT: %.200s",
				 jstr(incident, "title") ? jstr(incident, "title") : "");
			watch_banner(&b, "\033[1;97;44m", text, cols);
			used++;
		}
		if (jstr(s, "muted_until")) {
			snprintf(text, sizeof(text), "MUTED until %.40s", jstr(s, "muted_until"));
			watch_banner(&b, "\033[1;30;47m", text, cols);
			used++;
		}
		if (jstr(s, "silenced_until")) {
			snprintf(text, sizeof(text), "SILENCED until %.40s",
				 jstr(s, "silenced_until"));
			watch_banner(&b, "\033[1;30;47m", text, cols);
			used++;
		}
		if (jtrue(s, "quiet")) {
			watch_banner(&b, "\033[1;30;47m", "QUIET HOURS", cols);
			used++;
		}
		if (cJSON_IsFalse(jget(s, "clock_synced"))) {
			watch_banner(&b, "\033[1;30;47m",
				     "CLOCK NOT SYNCHRONISED: due times follow the backend's clock",
				     cols);
			used++;
		}

		/* The stack light: two rows of blocks, then the pattern. */
		sb_puts(&b, "\033[K\n");
		for (int row = 0; row < 2; row++) {
			sb_puts(&b, "  ");
			for (size_t i = 0; i < 4; i++) {
				const char *p = jstr(lamps, lamp_names[i]);
				bool lit = pattern_lit(p, now, &n);

				if (n < next)
					next = n;
				sb_printf(&b, "  %s■■■■■■■■\033[0m  ",
					  lit ? lamp_color(lamp_names[i]) : "\033[2;37m");
			}
			sb_puts(&b, "\033[K\n");
		}
		sb_puts(&b, "  ");
		for (size_t i = 0; i < 4; i++) {
			const char *p = jstr(lamps, lamp_names[i]);

			sb_free(&line);
			sb_printf(&line, "%s %s", lamp_names[i], p ? p : "?");
			sb_puts(&b, "  ");
			sb_cell(&b, line.p, 12, true);
		}
		sb_puts(&b, "  buzzer ");
		sb_cell(&b, jstr(s, "buzzer") ? jstr(s, "buzzer") : "?", 12, false);
		sb_puts(&b, "\033[K\n\033[K\n");
		used += 5;

		sb_printf(&b,
			  "  open \033[1m%lld\033[0m   unacked %s%lld\033[0m   warning "
			  "\033[1m%lld\033[0m   breached %s%lld\033[0m\033[K\n\033[K\n",
			  jint(counts, "open", 0),
			  jint(counts, "unacked", 0) ? "\033[1;31m" : "\033[1m",
			  jint(counts, "unacked", 0), jint(counts, "warning", 0),
			  jint(counts, "breached", 0) ? "\033[1;31m" : "\033[1m",
			  jint(counts, "breached", 0));
		used += 2;

		if (cJSON_GetArraySize(alerts) > 0) {
			t.width = cols;
			t.elapsed_usec = now - w->state_mono;
			sb_free(&line);
			render_alert_table(&line, alerts, &t, rows - used - 2);
			/* every table line must also clear the old frame's rest */
			for (char *p = line.p, *e; p && *p; p = e + 1) {
				e = strchr(p, '\n');
				if (!e)
					break;
				sb_add(&b, p, (size_t)(e - p));
				sb_puts(&b, "\033[K\n");
			}
			/* countdowns tick once a second */
			n = w->state_mono +
			    ((now - w->state_mono) / USEC_PER_SEC + 1) * USEC_PER_SEC;
			if (n < next)
				next = n;
		} else {
			sb_puts(&b, "  no open tickets\033[K\n");
		}
	}
	sb_puts(&b, "\033[J");
	/* the clock in the title */
	n = now + USEC_PER_SEC - (uint64_t)(time_wall_ms() % 1000) * USEC_PER_MSEC;
	if (n < next)
		next = n;
	if (!write_all(STDOUT_FILENO, b.p, b.len))
		next = 0;
	sb_free(&b);
	sb_free(&line);
	return next;
}

/* "red=off amber=slow green=off blue=off buzzer=off open=1 unacked=1" */
static bool
watch_print_line(struct watch *w)
{
	const cJSON *lamps = jget(w->state, "lamps"), *counts = jget(w->state, "counts");
	struct sbuf b = { 0 };
	bool ok = true;

	if (w->x->json) {
		char *s = cJSON_PrintUnformatted(w->state);

		if (!s)
			die_oom();
		sb_puts(&b, s);
		cJSON_free(s);
	} else {
		for (size_t i = 0; i < 4; i++) {
			sb_printf(&b, "%s=", lamp_names[i]);
			sb_cell(&b, jstr(lamps, lamp_names[i]) ? jstr(lamps, lamp_names[i]) : "?",
				16, false);
			sb_puts(&b, " ");
		}
		sb_puts(&b, "buzzer=");
		sb_cell(&b, jstr(w->state, "buzzer") ? jstr(w->state, "buzzer") : "?", 16, false);
		sb_printf(&b, " open=%lld unacked=%lld", jint(counts, "open", 0),
			  jint(counts, "unacked", 0));
	}
	sb_puts(&b, "\n");
	/* An update that changes nothing shown is not news. */
	if (!w->last_line || strcmp(w->last_line, b.p) != 0) {
		ok = write_all(STDOUT_FILENO, b.p, b.len);
		free(w->last_line);
		w->last_line = b.p;
	} else {
		sb_free(&b);
	}
	return ok;
}

/* Takes a line from the daemon; true if the view changed. */
static bool
watch_take(struct watch *w, const char *line)
{
	cJSON *root = cJSON_Parse(line);
	const char *type = jstr(root, "type");
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");

	if (!type || strcmp(type, "state") != 0 || !cJSON_IsObject(data)) {
		cJSON_Delete(root);
		return false;
	}
	cJSON_Delete(w->state_root);
	w->state_root = root;
	w->state = data;
	w->state_mono = time_mono_usec();
	return true;
}

static int
cmd_watch(struct ctx *x, const struct args *a, int from)
{
	struct watch w = { .x = x };
	const cJSON *data = NULL;
	struct stat st;
	sigset_t mask, old;
	cJSON *root;
	const char *pos[1] = { "" };
	char *line;
	bool stdin_watch, redraw = true;
	uint64_t next = 0;
	int n, sfd, rc = -1, r = parse_cmd("watch", a, from, NULL, 0, pos, 0, 0, &n);

	if (r)
		return r;
	r = call(x, "watch", NULL, &root, &data);
	if (r)
		return r;
	cJSON_Delete(root);

	w.tty = isatty(STDOUT_FILENO) && !x->json;
	/* Keys on a terminal, end of input on a pipe; /dev/null (a service
	 * or a test harness) is not a reason to stop. */
	stdin_watch =
		isatty(STDIN_FILENO) || (fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode));

	/* A job started in the background by a script inherits SIGINT and
	 * SIGTERM ignored; `kill -INT` must still end the watch. They are
	 * blocked and read from the signalfd, so no default action runs. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "%s: cannot watch signals: %s\n", prog, strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		return EXIT_FAILED;
	}

	if (w.tty) {
		struct termios raw;

		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &w.saved) == 0) {
			raw = w.saved;
			raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
			raw.c_cc[VMIN] = 1;
			raw.c_cc[VTIME] = 0;
			w.termios_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
		}
		/* alternate screen, hidden cursor */
		w.screen = write_all(STDOUT_FILENO, "\033[?1049h\033[?25l\033[2J", 18);
	}

	while (rc < 0) {
		struct pollfd p[3] = {
			{ .fd = x->conn.fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = stdin_watch ? STDIN_FILENO : -1, .events = POLLIN },
		};
		int timeout = -1, k;

		while ((k = conn_take_line(&x->conn, &line)) > 0) {
			bool changed = watch_take(&w, line);

			free(line);
			if (changed && !w.tty && !watch_print_line(&w)) {
				rc = EXIT_OK; /* the reader went away */
				break;
			}
			redraw |= changed;
		}
		if (rc >= 0)
			break;
		if (k < 0 || x->conn.eof) {
			rc = EXIT_UNAVAILABLE;
			break;
		}
		if (w.tty) {
			uint64_t now = time_mono_usec();

			if (redraw || now >= next) {
				next = watch_draw(&w);
				redraw = false;
				if (next == 0) {
					rc = EXIT_OK;
					break;
				}
			}
			if (next != UINT64_MAX)
				timeout = next > now ? (int)((next - now + 999) / 1000) : 0;
		}
		if (poll(p, 3, timeout) < 0 && errno != EINTR) {
			rc = EXIT_FAILED;
			break;
		}
		if (p[0].revents)
			conn_fill(&x->conn);
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGWINCH)
					redraw = true;
				else
					rc = EXIT_OK;
			}
		}
		if (p[2].revents) {
			char keys[64];
			ssize_t got = read(STDIN_FILENO, keys, sizeof(keys));

			if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
				rc = EXIT_OK;
			for (ssize_t i = 0; i < got; i++)
				if (keys[i] == 'q' || keys[i] == 'Q' || keys[i] == 4)
					rc = EXIT_OK;
			if (!w.tty)
				stdin_watch = got > 0;
		}
	}

	watch_restore_terminal(&w);
	if (rc == EXIT_UNAVAILABLE)
		fprintf(stderr, "%s: teamboardd at %s went away\n", prog, x->socket);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	cJSON_Delete(w.state_root);
	free(w.last_line);
	return rc;
}

/* ---- runtime settings, reload, quiet hours, stats ------------------------- */

static void
human_config(struct ctx *x, const cJSON *data)
{
	const cJSON *item;
	struct sbuf b = { 0 };

	(void)x;
	sb_printf(&b, "%-30s %-9s %s\n", "KEY", "SOURCE", "VALUE");
	cJSON_ArrayForEach(item, data)
	{
		const char *src = jstr(item, "source");

		sb_cell(&b, item->string ? item->string : "", 30, true);
		sb_puts(&b, " ");
		sb_cell(&b, src ? src : "?", 8, true);
		sb_printf(&b, "%s %s\n", jtrue(item, "settable") ? "*" : " ",
			  jstr(item, "value") ? jstr(item, "value") : "");
	}
	sb_puts(&b, "(* can be changed at run time: teamboardctl config set KEY VALUE)\n");
	fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
}

static int
cmd_config(struct ctx *x, const struct args *a, int from)
{
	const char *pos[3] = { "", "", "" };
	int n, r = parse_cmd("config", a, from, NULL, 0, pos, 1, 3, &n);
	cJSON *args;

	if (r)
		return r;
	args = cJSON_CreateObject();
	if (!args)
		die_oom();
	if (strcmp(pos[0], "get") == 0 && n <= 2) {
		if (n == 2 && !cJSON_AddStringToObject(args, "key", pos[1]))
			die_oom();
		return simple(x, "config_get", args, human_config, NULL);
	}
	if (strcmp(pos[0], "set") == 0 && n == 3) {
		if (!cJSON_AddStringToObject(args, "key", pos[1]) ||
		    !cJSON_AddStringToObject(args, "value", pos[2]))
			die_oom();
		return simple(x, "config_set", args, human_config, NULL);
	}
	if (strcmp(pos[0], "unset") == 0 && n == 2) {
		if (!cJSON_AddStringToObject(args, "key", pos[1]) ||
		    !cJSON_AddNullToObject(args, "value"))
			die_oom();
		return simple(x, "config_set", args, human_config, NULL);
	}
	cJSON_Delete(args);
	return usage_error("config: use 'config get [KEY]', 'config set KEY VALUE' or "
			   "'config unset KEY'");
}

static int
cmd_reload(struct ctx *x, const struct args *a, int from)
{
	return cmd_plain(x, a, from, "reload", "reload", "configuration reloaded");
}

static void
human_quiet(struct ctx *x, const cJSON *data)
{
	const char *w = jstr(data, "windows");

	(void)x;
	printf("quiet hours: %s (%s)%s\n", w && *w ? w : "none", jstr(data, "timezone"),
	       jtrue(data, "quiet") ? "; quiet now" : "");
}

static int
cmd_quiet_hours(struct ctx *x, const struct args *a, int from)
{
	struct optspec o[] = { { "--timezone", true, NULL }, { "--off", false, NULL } };
	const char *pos[1] = { "" };
	int n, r = parse_cmd("quiet-hours", a, from, o, 2, pos, 0, 1, &n);
	cJSON *args;

	if (r)
		return r;
	if (n == 0 && !o[0].value && !o[1].value)
		return usage_error("quiet-hours: give WINDOWS, --timezone TZ or --off");
	if (n == 1 && o[1].value)
		return usage_error("quiet-hours: WINDOWS and --off exclude each other");
	args = cJSON_CreateObject();
	if (!args || (n == 1 && !cJSON_AddStringToObject(args, "windows", pos[0])) ||
	    (o[1].value && !cJSON_AddStringToObject(args, "windows", "")) ||
	    (o[0].value && !cJSON_AddStringToObject(args, "timezone", o[0].value)))
		die_oom();
	return simple(x, "quiet_hours", args, human_quiet, NULL);
}

static void
stats_ms(struct sbuf *b, const cJSON *o, const char *key)
{
	char buf[32];
	double ms;

	if (!jnum(o, key, &ms) || ms != ms || ms < 0 || ms > 1e15)
		snprintf(buf, sizeof(buf), "-");
	else
		fmt_secs((int64_t)(ms / 1000 + 0.5), buf, sizeof(buf));
	sb_printf(b, " %9s", buf);
}

static void
human_stats(struct ctx *x, const cJSON *data)
{
	const cJSON *o;
	struct sbuf b = { 0 };

	(void)x;
	sb_printf(&b, "Acks from %s to %s (%s)\n\n",
		  jstr(data, "since") ? jstr(data, "since") : "?",
		  jstr(data, "until") ? jstr(data, "until") : "?",
		  jstr(data, "window") ? jstr(data, "window") : "?");
	sb_printf(&b, "%-24s %6s %8s %9s %9s\n", "AGENT", "ACKS", "BREACHES", "MEDIAN", "P90");
	cJSON_ArrayForEach(o, jget(data, "agents"))
	{
		const char *agent = jstr(o, "agent");

		sb_cell(&b, agent && *agent ? agent : "(unknown)", 24, true);
		sb_printf(&b, " %6lld %8lld", jint(o, "acks", 0), jint(o, "breaches", 0));
		stats_ms(&b, o, "median_ack_ms");
		stats_ms(&b, o, "p90_ack_ms");
		sb_puts(&b, "\n");
	}
	sb_printf(&b, "\n%-14s %-9s %6s %8s %9s %9s\n", "CHANNEL", "PRIORITY", "ACKS", "BREACHES",
		  "MEDIAN", "P90");
	cJSON_ArrayForEach(o, jget(data, "channels"))
	{
		sb_cell(&b, jstr(o, "channel") ? jstr(o, "channel") : "", 14, true);
		sb_puts(&b, " ");
		sb_cell(&b, jstr(o, "priority") ? jstr(o, "priority") : "", 9, true);
		sb_printf(&b, " %6lld %8lld", jint(o, "acks", 0), jint(o, "breaches", 0));
		stats_ms(&b, o, "median_ack_ms");
		stats_ms(&b, o, "p90_ack_ms");
		sb_puts(&b, "\n");
	}
	sb_printf(&b, "\nFirst response (from the backend's event times)\n%-14s %-9s %7s %9s %9s\n",
		  "CHANNEL", "PRIORITY", "TICKETS", "MEDIAN", "P90");
	cJSON_ArrayForEach(o, jget(data, "first_response"))
	{
		sb_cell(&b, jstr(o, "channel") ? jstr(o, "channel") : "", 14, true);
		sb_puts(&b, " ");
		sb_cell(&b, jstr(o, "priority") ? jstr(o, "priority") : "", 9, true);
		sb_printf(&b, " %7lld", jint(o, "tickets", 0));
		stats_ms(&b, o, "median_first_response_ms");
		stats_ms(&b, o, "p90_first_response_ms");
		sb_puts(&b, "\n");
	}
	sb_printf(&b, "\nSLA breaches raised\n%-14s %-9s %8s\n", "CHANNEL", "PRIORITY", "BREACHES");
	cJSON_ArrayForEach(o, jget(data, "breaches"))
	{
		sb_cell(&b, jstr(o, "channel") ? jstr(o, "channel") : "", 14, true);
		sb_puts(&b, " ");
		sb_cell(&b, jstr(o, "priority") ? jstr(o, "priority") : "", 9, true);
		sb_printf(&b, " %8lld\n", jint(o, "breaches", 0));
	}
	fwrite(b.p, 1, b.len, stdout);
	sb_free(&b);
}

static int
cmd_stats(struct ctx *x, const struct args *a, int from)
{
	struct optspec o[] = { { "--window", true, NULL } };
	const char *pos[1] = { "" };
	uint64_t usec;
	int n, r = parse_cmd("stats", a, from, o, 1, pos, 0, 0, &n);
	cJSON *args;

	if (r)
		return r;
	if (o[0].value && duration_parse(o[0].value, &usec) < 0)
		return usage_error("--window: '%s' is not a duration (e.g. 24h, 7d)", o[0].value);
	args = cJSON_CreateObject();
	if (!args || (o[0].value && !cJSON_AddStringToObject(args, "window", o[0].value)))
		die_oom();
	return simple(x, "stats", args, human_stats, NULL);
}

/* ---- main ---------------------------------------------------------------- */

struct command {
	const char *name;
	int (*run)(struct ctx *x, const struct args *a, int from);
};

static const struct command commands[] = {
	{ "status", cmd_status },
	{ "acks", cmd_acks },
	{ "ack", cmd_ack },
	{ "silence", cmd_silence },
	{ "mute", cmd_mute },
	{ "unmute", cmd_unmute },
	{ "lamp-test", cmd_lamp_test },
	{ "identify", cmd_identify },
	{ "incident", cmd_incident },
	{ "ping", cmd_ping },
	{ "config", cmd_config },
	{ "reload", cmd_reload },
	{ "quiet-hours", cmd_quiet_hours },
	{ "stats", cmd_stats },
	{ "watch", cmd_watch },
	{ "sim", cmd_sim },
	{ "raw", cmd_raw },
};

static void
help(void)
{
	printf("Usage: %s [-s SOCKET] [-c CONFIG] [-t TIMEOUT] [--json] COMMAND [ARGS]\n"
	       "\n"
	       "Talks to teamboardd over its local control socket (works while the MQTT\n"
	       "broker is down).\n"
	       "\n"
	       "Commands:\n"
	       "  status                      board, lamps, buzzer, counts and open alerts\n"
	       "  acks [--since T] [--until T] [--agent A] [--limit N] [--offset N] [--csv]\n"
	       "                              the acknowledgement log; T is an RFC 3339 time\n"
	       "                              or a duration meaning that long ago (24h)\n"
	       "  ack [TICKET] [--agent A] [--all]\n"
	       "                              acknowledge a ticket, all unacked alerts, or\n"
	       "                              (no argument) the most urgent one\n"
	       "  silence [--for D]           stop the sound without acknowledging\n"
	       "  mute [--for D]              mute the buzzer until the time is up\n"
	       "  unmute                      end a mute\n"
	       "  lamp-test                   all lamps on for 3 s\n"
	       "  identify                    flash the lamps so a person can find the board\n"
	       "  incident open [TITLE]       open incident mode (blue lamp, no chirps)\n"
	       "  incident close              close incident mode\n"
	       "  ping                        check that the daemon answers\n"
	       "  config get [KEY]            settings (section.key), their value and source\n"
	       "                              (default, file or runtime)\n"
	       "  config set KEY VALUE        change a setting at run time (kept in the store)\n"
	       "  config unset KEY            back to the configuration file's value\n"
	       "  reload                      re-read the configuration file (like SIGHUP)\n"
	       "  quiet-hours [WINDOWS] [--timezone TZ] [--off]\n"
	       "                              set quiet hours, e.g. \"mon-fri 20:00-08:00\"\n"
	       "  stats [--window D]          acks per agent and per channel and priority:\n"
	       "                              count, breaches, median and p90 time to ack\n"
	       "  watch                       live view of lamps and alerts (one line per\n"
	       "                              update when stdout is not a terminal)\n"
	       "  sim press BUTTON [--hold MS]  press a simulated button (sim backend)\n"
	       "  sim double BUTTON           double-press a simulated button\n"
	       "  sim chatter BUTTON [--edges N] [--within MS] [--hold MS]\n"
	       "                              a bouncing contact: N edges in MS ms\n"
	       "  sim hold BUTTON | sim release BUTTON   keep a button down / let go\n"
	       "  sim state                   simulated lines, buttons and sounds\n"
	       "  raw VERB [JSON-ARGS]        send any verb, print its data as JSON\n"
	       "  map-test FILE [--mapping NAME | --preset NAME] [--topic T]\n"
	       "                              what a helpdesk payload becomes under a\n"
	       "                              [mapping] of the -c file (no daemon needed)\n"
	       "\n"
	       "Options:\n"
	       "  -s, --socket SOCKET   control socket (default: $TEAMBOARD_SOCKET, then\n"
	       "                        control.socket from -c, then %s)\n"
	       "  -c, --config CONFIG   read control.socket from this teamboard.conf\n"
	       "  -t, --timeout T       give up waiting for the daemon after T (default 5s)\n"
	       "      --json            print the reply's data as JSON (every command)\n"
	       "  -h, --help            show this help\n"
	       "      --version         show the version\n"
	       "\n"
	       "D and T are durations such as 500ms, 30s, 5m, 2h.\n"
	       "\n"
	       "Exit status: 0 ok, 1 the daemon refused or failed the command, 64 usage\n"
	       "error (or an invalid -c file), 69 daemon unreachable, timed out or gone.\n"
	       "See docs/teamboardctl.md for the protocol and examples.\n",
	       prog, DEFAULT_SOCKET);
}

/* [control] socket out of a config whose MQTT secret this user may not
 * read: the rest of the file is still checked key by key. */
struct socket_only {
	struct conf *c;
	const char *path;
};

static int
socket_only_key(void *user, const char *section, const char *key, const char *value, int line,
		struct conf_error *err)
{
	struct socket_only *so = user;

	if (strcmp(section, "mqtt") == 0 && strcmp(key, "password_file") == 0)
		return 0;
	return conf_set(so->c, section, key, value, so->path, line, err);
}

static int
socket_from_config(const char *path, char *out, size_t size)
{
	struct conf *c = calloc(1, sizeof(*c));
	struct conf_error err = { 0 };
	char msg[sizeof(err) + 16];
	int r;

	if (!c)
		die_oom();
	r = conf_load(path, c, &err);
	if (r < 0 && strcmp(err.key, "mqtt.password_file") == 0) {
		struct socket_only so = { c, path };

		memset(&err, 0, sizeof(err));
		conf_defaults(c);
		r = conf_ini_parse(path, NULL, socket_only_key, &so, &err);
	}
	if (r < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "%s: %s\n", prog, msg);
		free(c);
		return EXIT_USAGE;
	}
	snprintf(out, size, "%s", c->control.socket);
	free(c);
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctx x = { .timeout_usec = DEFAULT_TIMEOUT_USEC, .conn = { .fd = -1 } };
	static struct args a;
	const char *config = NULL, *env;
	char conf_socket[CONF_PATH_MAX];
	bool literal = false;
	int r;

	/* UTF-8 aware widths whatever the environment's locale; only
	 * character classification changes, not number formats. */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	/* A closed stdout (`| head`) is an error we handle, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			help();
			return EXIT_OK;
		}
	}
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("teamboardctl %s\n", TEAMBOARD_VERSION);
			return EXIT_OK;
		}
	}

	for (int i = 1; i < argc; i++) {
		const char *w = argv[i], *val = NULL;
		int kind = 0; /* 1 socket, 2 config, 3 timeout */

		if (!literal && strcmp(w, "--") == 0) {
			literal = true;
			continue;
		}
		if (!literal) {
			if (strcmp(w, "--json") == 0) {
				x.json = true;
				continue;
			}
			if (strcmp(w, "-s") == 0 || strcmp(w, "--socket") == 0)
				kind = 1;
			else if (strcmp(w, "-c") == 0 || strcmp(w, "--config") == 0)
				kind = 2;
			else if (strcmp(w, "-t") == 0 || strcmp(w, "--timeout") == 0)
				kind = 3;
			else if (strncmp(w, "--socket=", 9) == 0)
				kind = 1, val = w + 9;
			else if (strncmp(w, "--config=", 9) == 0)
				kind = 2, val = w + 9;
			else if (strncmp(w, "--timeout=", 10) == 0)
				kind = 3, val = w + 10;
		}
		if (kind) {
			if (!val) {
				if (i + 1 >= argc)
					return usage_error("option '%s' needs a value", w);
				val = argv[++i];
			}
			if (!*val)
				return usage_error("option '%s' needs a value", w);
			if (kind == 1)
				x.socket = val;
			else if (kind == 2)
				config = val;
			else if (duration_parse(val, &x.timeout_usec) < 0 || x.timeout_usec == 0)
				return usage_error("-t: '%s' is not a duration such as 5s or 500ms",
						   val);
			continue;
		}
		if (a.n >= MAX_ARGS)
			return usage_error("too many arguments");
		a.literal[a.n] = literal;
		a.v[a.n++] = argv[i];
	}

	if (a.n == 0)
		return usage_error("no command given");
	if (!a.literal[0] && a.v[0][0] == '-')
		return usage_error("unknown option '%s'", a.v[0]);
	/* Local: reads the config and a file, talks to no daemon. */
	if (strcmp(a.v[0], "map-test") == 0)
		return maptest_main(config, a.n - 1, a.v + 1);

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(a.v[0], commands[i].name) != 0)
			continue;
		env = getenv("TEAMBOARD_SOCKET");
		if (!x.socket && env && *env)
			x.socket = env;
		if (!x.socket && config) {
			r = socket_from_config(config, conf_socket, sizeof(conf_socket));
			if (r)
				return r;
			x.socket = conf_socket;
		}
		if (!x.socket)
			x.socket = DEFAULT_SOCKET;
		x.color = use_color();
		r = commands[i].run(&x, &a, 1);
		conn_close(&x.conn);
		if (fflush(stdout) != 0 && r == EXIT_OK && errno != EPIPE)
			r = EXIT_FAILED;
		return r;
	}
	return usage_error("unknown command '%s'", a.v[0]);
}
