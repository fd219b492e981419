/* mapping: see include/mapping.h.
 *
 * Compiling turns the kept "key = value" lines into a struct mapping;
 * applying walks the foreign JSON with those pointers and builds SPEC
 * JSON, which event_parse() then validates like any native event. A value
 * the mapper cannot turn into an event field (an object where a string
 * should be, an unparsable time) rejects that one item with a reason that
 * names the mapping, the field and the pointer.
 */
#include "mapping.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "timeutil.h"

#define PTR_MAX        256 /* one JSON pointer, bytes incl. NUL */
#define PTR_ALTS       4   /* "/a | /b": first one present wins */
#define MAP_PAIRS_MAX  64
#define RULES_MAX      32
#define CONDS_MAX      4
#define VALUE_MAX      256 /* a scalar's text form; longer is cut */
#define REASON_MAX     256
#define HASH_HEX_CHARS 32 /* 128 bits of the digest */
#define ENTRIES_MAX    256
#define SEP            '\x1f' /* between the fields of a kept line */

/* How a field's value is written into the SPEC event. */
enum kind { K_ID, K_TEXT, K_TYPE, K_CHANNEL, K_PRIORITY, K_SLA, K_BOOL, K_TIME };

enum field {
	F_ID,
	F_TYPE,
	F_TS,
	F_AGENT,
	F_SLA,
	F_TICKET_ID,
	F_CHANNEL,
	F_PRIORITY,
	F_PUBLIC,
	F_SUBJECT,
	F_CUSTOMER,
	F_QUEUE,
	F_ASSIGNEE,
	F_DUE_FIRST,
	F_DUE_RESOLUTION,
	F_INCIDENT_ID,
	F_INCIDENT_TITLE,
	F_COUNT
};

/* Names are the SPEC paths, which are also the output paths. */
static const struct {
	const char *name;
	enum kind kind;
} fields[F_COUNT] = {
	[F_ID] = { "id", K_ID },
	[F_TYPE] = { "type", K_TYPE },
	[F_TS] = { "ts", K_TIME },
	[F_AGENT] = { "agent", K_TEXT },
	[F_SLA] = { "sla", K_SLA },
	[F_TICKET_ID] = { "ticket.id", K_ID },
	[F_CHANNEL] = { "ticket.channel", K_CHANNEL },
	[F_PRIORITY] = { "ticket.priority", K_PRIORITY },
	[F_PUBLIC] = { "ticket.public", K_BOOL },
	[F_SUBJECT] = { "ticket.subject", K_TEXT },
	[F_CUSTOMER] = { "ticket.customer", K_TEXT },
	[F_QUEUE] = { "ticket.queue", K_TEXT },
	[F_ASSIGNEE] = { "ticket.assignee", K_TEXT },
	[F_DUE_FIRST] = { "ticket.due.first_response", K_TIME },
	[F_DUE_RESOLUTION] = { "ticket.due.resolution", K_TIME },
	[F_INCIDENT_ID] = { "incident.id", K_ID },
	[F_INCIDENT_TITLE] = { "incident.title", K_TEXT },
};

enum time_fmt { TIME_ISO8601, TIME_RFC3339, TIME_EPOCH_S, TIME_EPOCH_MS };
static const char *const time_fmt_names[] = { "iso8601", "rfc3339", "epoch_s", "epoch_ms", NULL };

struct pair {
	char *from, *to;
};

struct field_conf {
	char *ptrs[PTR_ALTS];
	unsigned n_ptrs;
	char *def;
	struct pair *map;
	unsigned n_map;
	char *map_other; /* "*:value" */
	char *prefix;    /* put before a found value ("ZD-" + "1042") */
	enum time_fmt fmt;
};

enum cond_op { C_EQ, C_NE, C_TRUE, C_FALSE };

struct cond {
	char *ptr;
	enum cond_op op;
	char *value;
};

struct rule {
	struct cond conds[CONDS_MAX];
	unsigned n_conds; /* 0: always */
	enum event_type type;
};

struct mapping {
	char name[MAPPING_NAME_MAX];
	char topic[256];
	int topic_line;    /* the config line that set it: topic, or preset */
	bool topic_preset; /* the topic is the preset's */
	char *items;
	bool id_hash;
	struct field_conf f[F_COUNT];
	struct rule rules[RULES_MAX];
	unsigned n_rules;
};

struct mapping_set {
	struct mapping *m[MAPPING_MAX];
	size_t n;
};

/* --- small helpers -------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int
fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *
dup_range(const char *a, const char *b)
{
	size_t n = (size_t)(b - a);
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, a, n);
		s[n] = '\0';
	}
	return s;
}

/* Trims spaces and tabs in place around [*a, *b). */
static void
trim(const char **a, const char **b)
{
	while (*a < *b && (**a == ' ' || **a == '\t'))
		(*a)++;
	while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t'))
		(*b)--;
}

static int
field_index(const char *name)
{
	for (int i = 0; i < F_COUNT; i++)
		if (strcmp(fields[i].name, name) == 0)
			return i;
	return -1;
}

/* --- topic filters ---------------------------------------------------------- */

bool
mapping_filter_valid(const char *t)
{
	const char *level = t;

	if (!*t)
		return false;
	for (;;) {
		const char *slash = strchr(level, '/');
		size_t len = slash ? (size_t)(slash - level) : strlen(level);

		if (memchr(level, '+', len) && len != 1)
			return false;
		if (memchr(level, '#', len) && (len != 1 || slash))
			return false;
		if (!slash)
			return true;
		level = slash + 1;
	}
}

bool
mapping_topic_matches(const char *filter, const char *topic)
{
	const char *f = filter, *t = topic;

	if (!filter || !topic)
		return false;
	/* Wildcards do not match topics starting with '$' (MQTT §4.7.2). */
	if (*t == '$' && (*f == '+' || *f == '#'))
		return false;
	for (;;) {
		const char *fs = strchr(f, '/'), *ts = strchr(t, '/');
		size_t fl = fs ? (size_t)(fs - f) : strlen(f);
		size_t tl = ts ? (size_t)(ts - t) : strlen(t);

		if (fl == 1 && *f == '#')
			return true;
		if (!(fl == 1 && *f == '+') && (fl != tl || memcmp(f, t, fl) != 0))
			return false;
		if (!fs && !ts)
			return true;
		if (!ts)
			/* "a/#" also matches "a" (the parent level). */
			return fs && strcmp(fs + 1, "#") == 0;
		if (!fs)
			return false;
		f = fs + 1;
		t = ts + 1;
	}
}

/* One level of a filter: [*f, *f + len), and where the next one starts
 * (NULL after the last). */
static size_t
level_len(const char *f, const char **next)
{
	const char *slash = strchr(f, '/');

	*next = slash ? slash + 1 : NULL;
	return slash ? (size_t)(slash - f) : strlen(f);
}

/* A topic built level by level, cut to its buffer (never overflowing). */
struct example {
	char *s;
	size_t size, used;
	unsigned levels;
};

static void
example_add(struct example *ex, const char *s, size_t n)
{
	int r;

	if (ex->s && ex->size) {
		r = snprintf(ex->s + ex->used, ex->size - ex->used, "%s%.*s", ex->levels ? "/" : "",
			     (int)n, s);
		if (r > 0)
			ex->used = ex->used + (size_t)r < ex->size ? ex->used + (size_t)r
								   : ex->size - 1;
	}
	ex->levels++;
}

/* The levels of `f` as a topic it matches: '+' is "x", a last '#' adds
 * nothing (it also matches its parent), unless it is the whole topic. */
static void
example_rest(struct example *ex, const char *f)
{
	while (f) {
		const char *next;
		size_t n = level_len(f, &next);
		bool plus = n == 1 && *f == '+';

		if (n == 1 && *f == '#')
			break;
		example_add(ex, plus ? "x" : f, plus ? 1 : n);
		f = next;
	}
	if (!ex->levels)
		example_add(ex, "x", 1);
}

bool
mapping_filters_overlap(const char *a, const char *b, char *example, size_t size)
{
	const char *fa = a, *fb = b;
	struct example ex = { example, size, 0, 0 };

	if (example && size)
		example[0] = '\0';
	if (!a || !b || !mapping_filter_valid(a) || !mapping_filter_valid(b))
		return false;
	for (;;) {
		const char *na, *nb;
		size_t la = level_len(fa, &na), lb = level_len(fb, &nb);
		bool wa = (la == 1 && (*fa == '+' || *fa == '#'));
		bool wb = (lb == 1 && (*fb == '+' || *fb == '#'));

		/* Wildcards in the first level do not match topics starting
		 * with '$' (MQTT §4.7.2): "#" and "$SYS/x" share no topic. */
		if (!ex.levels && ((wa && !wb && *fb == '$') || (wb && !wa && *fa == '$')))
			return false;
		if (la == 1 && *fa == '#') {
			example_rest(&ex, fb);
			return true;
		}
		if (lb == 1 && *fb == '#') {
			example_rest(&ex, fa);
			return true;
		}
		if (!wa && !wb && (la != lb || memcmp(fa, fb, la) != 0))
			return false;
		/* Both '+': any level will do; else the literal one. */
		if (wa && wb)
			example_add(&ex, "x", 1);
		else
			example_add(&ex, wa ? fb : fa, wa ? lb : la);
		if (!na && !nb)
			return true;
		/* One is longer: only a last "#" also matches the parent level. */
		if (!na || !nb)
			return strcmp(na ? na : nb, "#") == 0;
		fa = na;
		fb = nb;
	}
}

/* --- JSON pointers (RFC 6901) ------------------------------------------------ */

static bool
pointer_valid(const char *p)
{
	if (*p != '/')
		return false;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return false;
	return true;
}

/* An array index: "0" or digits without a leading zero. */
static bool
index_token(const char *tok, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0 || (n > 1 && tok[0] == '0') || n > 9)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return false;
		v = v * 10 + (size_t)(tok[i] - '0');
	}
	*out = v;
	return true;
}

static const cJSON *
pointer_get(const cJSON *root, const char *p)
{
	const cJSON *cur = root;
	char tok[PTR_MAX];

	while (cur && *p == '/') {
		const char *end = strchr(p + 1, '/');
		size_t n = 0, idx;

		if (!end)
			end = p + strlen(p);
		for (const char *s = p + 1; s < end && n < sizeof(tok) - 1; s++) {
			if (*s == '~' && s + 1 < end && (s[1] == '0' || s[1] == '1')) {
				tok[n++] = s[1] == '0' ? '~' : '/';
				s++;
			} else {
				tok[n++] = *s;
			}
		}
		tok[n] = '\0';
		if (cJSON_IsObject(cur))
			cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
		else if (cJSON_IsArray(cur) && index_token(tok, n, &idx) && idx <= INT32_MAX)
			cur = cJSON_GetArrayItem(cur, (int)idx);
		else
			cur = NULL;
		p = end;
	}
	return cur && !cJSON_IsNull(cur) ? cur : NULL;
}

/* --- compiling one key ------------------------------------------------------ */

static int
parse_pointers(const char *v, struct field_conf *fc, char *why, size_t ws)
{
	struct field_conf tmp = { 0 };
	const char *p = v;

	for (;;) {
		const char *bar = strchr(p, '|'), *a = p, *b = bar ? bar : p + strlen(p);

		trim(&a, &b);
		if (tmp.n_ptrs == PTR_ALTS)
			goto too_many;
		if (a == b || *a != '/' || (size_t)(b - a) >= PTR_MAX)
			goto bad;
		tmp.ptrs[tmp.n_ptrs] = dup_range(a, b);
		if (!tmp.ptrs[tmp.n_ptrs])
			goto oom;
		if (!pointer_valid(tmp.ptrs[tmp.n_ptrs++]))
			goto bad;
		if (!bar)
			break;
		p = bar + 1;
	}
	for (unsigned i = 0; i < fc->n_ptrs; i++)
		free(fc->ptrs[i]);
	memcpy(fc->ptrs, tmp.ptrs, sizeof(tmp.ptrs));
	fc->n_ptrs = tmp.n_ptrs;
	return 0;
too_many:
	fail(why, ws, "at most %d pointers joined with '|'", PTR_ALTS);
	goto out;
bad:
	fail(why, ws,
	     "must be a JSON pointer such as /ticket/id ('~1' for '/', '~0' for '~'), or "
	     "several joined with '|'");
	goto out;
oom:
	fail(why, ws, "out of memory");
out:
	for (unsigned i = 0; i < tmp.n_ptrs; i++)
		free(tmp.ptrs[i]);
	return -EINVAL;
}

/* Checks that `v` is a value the SPEC allows for a field of kind `k`. */
static int
check_target(enum kind k, const char *v, char *why, size_t ws)
{
	enum event_type t;
	enum channel c;
	enum priority p;

	switch (k) {
	case K_TYPE:
		if (event_type_from_name(v, &t) < 0)
			return fail(why, ws, "'%.40s' is not an event type (ticket.created, ...)",
				    v);
		break;
	case K_CHANNEL:
		if (channel_from_name(v, &c) < 0)
			return fail(why, ws,
				    "'%.40s' is not a channel (facebook, instagram, twitter, vk, "
				    "telegram, whatsapp, email, chat, phone, web, other)",
				    v);
		break;
	case K_PRIORITY:
		if (priority_from_name(v, &p) < 0)
			return fail(why, ws,
				    "'%.40s' is not a priority (urgent, high, normal, low)", v);
		break;
	case K_SLA:
		if (strcmp(v, "first_response") != 0 && strcmp(v, "resolution") != 0)
			return fail(why, ws, "'%.40s' is not first_response or resolution", v);
		break;
	case K_BOOL:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return fail(why, ws, "'%.40s' is not true or false", v);
		break;
	case K_ID:
	case K_TEXT:
		if (!*v)
			return fail(why, ws, "must not be empty");
		break;
	case K_TIME:
		break;
	}
	return 0;
}

/* "from:to, from:to, *:to"; the last ':' splits, so `from` may hold ':'. */
static int
parse_map(const char *v, enum kind k, struct field_conf *fc, char *why, size_t ws)
{
	struct pair *pairs = calloc(MAP_PAIRS_MAX, sizeof(*pairs));
	char *other = NULL;
	unsigned n = 0;
	const char *p = v;
	int r = -EINVAL;

	if (!pairs)
		return fail(why, ws, "out of memory");
	for (;;) {
		const char *comma = strchr(p, ','), *a = p, *b = comma ? comma : p + strlen(p);
		const char *colon = NULL;

		for (const char *s = a; s < b; s++)
			if (*s == ':')
				colon = s;
		if (!colon) {
			fail(why, ws, "expected FROM:TO pairs separated by commas");
			goto out;
		}
		const char *fa = a, *fb = colon, *ta = colon + 1, *tb = b;

		trim(&fa, &fb);
		trim(&ta, &tb);
		if (fa == fb || ta == tb) {
			fail(why, ws, "empty value in a FROM:TO pair");
			goto out;
		}
		char *to = dup_range(ta, tb);

		if (!to) {
			fail(why, ws, "out of memory");
			goto out;
		}
		if (check_target(k, to, why, ws) < 0) {
			free(to);
			goto out;
		}
		if (fb - fa == 1 && *fa == '*') {
			if (other) {
				free(to);
				fail(why, ws, "'*' given twice");
				goto out;
			}
			other = to;
		} else {
			if (n == MAP_PAIRS_MAX) {
				free(to);
				fail(why, ws, "at most %d pairs", MAP_PAIRS_MAX);
				goto out;
			}
			pairs[n].to = to;
			pairs[n].from = dup_range(fa, fb);
			if (!pairs[n++].from) {
				fail(why, ws, "out of memory");
				goto out;
			}
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	for (unsigned i = 0; i < fc->n_map; i++) {
		free(fc->map[i].from);
		free(fc->map[i].to);
	}
	free(fc->map);
	free(fc->map_other);
	fc->map = pairs;
	fc->n_map = n;
	fc->map_other = other;
	return 0;
out:
	for (unsigned i = 0; i < n; i++) {
		free(pairs[i].from);
		free(pairs[i].to);
	}
	free(pairs);
	free(other);
	return r;
}

static void
rule_clear(struct rule *r)
{
	for (unsigned i = 0; i < r->n_conds; i++) {
		free(r->conds[i].ptr);
		free(r->conds[i].value);
	}
	r->n_conds = 0;
}

/* One condition: /ptr == "v", /ptr != "v", /ptr (present, not false or
 * empty), !/ptr. */
static int
parse_cond(const char *a, const char *b, struct cond *c, char *why, size_t ws)
{
	const char *op = NULL;

	trim(&a, &b);
	for (const char *s = a; s + 1 < b; s++)
		if ((s[0] == '=' || s[0] == '!') && s[1] == '=') {
			op = s;
			break;
		}
	if (op) {
		const char *pa = a, *pb = op, *va = op + 2, *vb = b;

		trim(&pa, &pb);
		trim(&va, &vb);
		if (vb - va >= 2 && *va == '"' && vb[-1] == '"') {
			va++;
			vb--;
		}
		if (memchr(va, '"', (size_t)(vb - va)))
			return fail(why, ws,
				    "a compared value is one quoted string: /ptr == \"x\"");
		c->op = op[0] == '=' ? C_EQ : C_NE;
		c->ptr = dup_range(pa, pb);
		c->value = dup_range(va, vb);
	} else if (a < b && *a == '!') {
		c->op = C_FALSE;
		c->ptr = dup_range(a + 1, b);
	} else {
		c->op = C_TRUE;
		c->ptr = dup_range(a, b);
	}
	if (!c->ptr || (op && !c->value))
		return fail(why, ws, "out of memory");
	/* A stray operator ("/a = x") would otherwise pass as a pointer to a
	 * key named 'a = x'. */
	if (strlen(c->ptr) >= PTR_MAX || !pointer_valid(c->ptr) || strpbrk(c->ptr, " \t\"=!&<>"))
		return fail(why, ws,
			    "'%.60s' is not a JSON pointer (conditions look like "
			    "/status == \"solved\", /assignee or !/assignee)",
			    c->ptr);
	return 0;
}

/* "COND && COND -> type", or "* -> type". */
static int
parse_rule(struct mapping *m, const char *v, char *why, size_t ws)
{
	const char *arrow = NULL, *end = v + strlen(v);
	struct rule r = { 0 };

	if (m->n_rules == RULES_MAX)
		return fail(why, ws, "at most %d rules", RULES_MAX);
	for (const char *s = v; (s = strstr(s, "->")); s++)
		arrow = s;
	if (!arrow)
		return fail(why, ws,
			    "expected CONDITION -> TYPE, e.g. /status == \"solved\" -> "
			    "ticket.solved");
	const char *ta = arrow + 2, *tb = end, *ca = v, *cb = arrow;
	char type[64];

	trim(&ta, &tb);
	trim(&ca, &cb);
	if ((size_t)(tb - ta) >= sizeof(type))
		return fail(why, ws, "unknown event type");
	memcpy(type, ta, (size_t)(tb - ta));
	type[tb - ta] = '\0';
	if (event_type_from_name(type, &r.type) < 0)
		return fail(why, ws, "'%.40s' is not an event type (ticket.created, ...)", type);
	if (cb - ca == 1 && *ca == '*') {
		m->rules[m->n_rules++] = r;
		return 0;
	}
	if (ca == cb)
		return fail(why, ws, "no condition before '->' (use * for always)");
	for (const char *p = ca;;) {
		const char *and = strstr(p, "&&");
		const char *b = and&&and < cb ? and : cb;

		if (r.n_conds == CONDS_MAX) {
			rule_clear(&r);
			return fail(why, ws, "at most %d conditions joined with &&", CONDS_MAX);
		}
		if (parse_cond(p, b, &r.conds[r.n_conds++], why, ws) < 0) {
			rule_clear(&r);
			return -EINVAL;
		}
		if (b == cb)
			break;
		p = b + 2;
	}
	m->rules[m->n_rules++] = r;
	return 0;
}

static int
set_name(char *dst, size_t cap, const char *v, const char *const *names, char *why, size_t ws)
{
	for (const char *const *n = names; *n; n++)
		if (strcmp(*n, v) == 0) {
			snprintf(dst, cap, "%s", v);
			return (int)(n - names);
		}
	return fail(why, ws, "unknown value '%.40s'", v);
}

/* Applies one key of a section to `m`. */
static int
mapping_key(struct mapping *m, const char *key, const char *v, char *why, size_t ws)
{
	static const char *const fallbacks[] = { "hash", "none", NULL };
	char buf[16];
	int i;

	if (strcmp(key, "topic") == 0) {
		if (strlen(v) >= sizeof(m->topic) || !mapping_filter_valid(v) || strchr(v, ','))
			return fail(
				why, ws,
				"must be one MQTT topic filter ('+' and '#' fill a whole level, "
				"'#' only at the end)");
		snprintf(m->topic, sizeof(m->topic), "%s", v);
		return 0;
	}
	if (strcmp(key, "items") == 0) {
		if (strlen(v) >= PTR_MAX || !pointer_valid(v))
			return fail(why, ws, "must be a JSON pointer to the array of items");
		free(m->items);
		m->items = strdup(v);
		return m->items ? 0 : fail(why, ws, "out of memory");
	}
	if (strcmp(key, "id.fallback") == 0) {
		if ((i = set_name(buf, sizeof(buf), v, fallbacks, why, ws)) < 0)
			return fail(why, ws, "must be hash or none");
		m->id_hash = i == 0;
		return 0;
	}
	if (strcmp(key, "type.rule") == 0)
		return parse_rule(m, v, why, ws);
	if ((i = field_index(key)) >= 0)
		return parse_pointers(v, &m->f[i], why, ws);
	if (strncmp(key, "default.", 8) == 0 && (i = field_index(key + 8)) >= 0) {
		if (fields[i].kind == K_TIME || i == F_ID)
			return fail(why, ws, "%s takes no default", fields[i].name);
		if (check_target(fields[i].kind, v, why, ws) < 0)
			return -EINVAL;
		free(m->f[i].def);
		m->f[i].def = strdup(v);
		return m->f[i].def ? 0 : fail(why, ws, "out of memory");
	}
	if (strncmp(key, "map.", 4) == 0 && (i = field_index(key + 4)) >= 0) {
		if (fields[i].kind == K_TIME)
			return fail(why, ws, "times are converted with time.%s, not mapped",
				    fields[i].name);
		return parse_map(v, fields[i].kind, &m->f[i], why, ws);
	}
	if (strncmp(key, "prefix.", 7) == 0 && (i = field_index(key + 7)) >= 0) {
		if (fields[i].kind != K_ID && fields[i].kind != K_TEXT)
			return fail(why, ws, "only ids and text take a prefix");
		if (strlen(v) > 32)
			return fail(why, ws, "at most 32 bytes");
		free(m->f[i].prefix);
		m->f[i].prefix = strdup(v);
		return m->f[i].prefix ? 0 : fail(why, ws, "out of memory");
	}
	if (strncmp(key, "time.", 5) == 0 && (i = field_index(key + 5)) >= 0) {
		if (fields[i].kind != K_TIME)
			return fail(why, ws, "%s is not a time field", fields[i].name);
		int t = set_name(buf, sizeof(buf), v, time_fmt_names, why, ws);

		if (t < 0)
			return fail(why, ws, "must be one of: iso8601, rfc3339, epoch_s, epoch_ms");
		m->f[i].fmt = (enum time_fmt)t;
		return 0;
	}
	return fail(why, ws, "unknown key (see docs/mapping.md)");
}

static void
mapping_free(struct mapping *m)
{
	if (!m)
		return;
	free(m->items);
	for (int i = 0; i < F_COUNT; i++) {
		struct field_conf *fc = &m->f[i];

		for (unsigned j = 0; j < fc->n_ptrs; j++)
			free(fc->ptrs[j]);
		for (unsigned j = 0; j < fc->n_map; j++) {
			free(fc->map[j].from);
			free(fc->map[j].to);
		}
		free(fc->map);
		free(fc->map_other);
		free(fc->def);
		free(fc->prefix);
	}
	for (unsigned i = 0; i < m->n_rules; i++)
		rule_clear(&m->rules[i]);
	free(m);
}

/* --- the kept lines ------------------------------------------------------- */

static bool
name_valid(const char *n)
{
	if (!*n || strlen(n) >= MAPPING_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '-' ||
		      *n == '_'))
			return false;
	return true;
}

bool
mapping_section(const char *section, const char **name)
{
	if (!section || strncmp(section, "mapping", 7) != 0 ||
	    (section[7] != ' ' && section[7] != '\0'))
		return false;
	if (name) {
		const char *n = section + 7;

		while (*n == ' ')
			n++;
		*name = n;
	}
	return true;
}

int
mapping_src_add(char *src, size_t cap, const char *section, const char *key, const char *value,
		const char *file, int line, struct conf_error *err)
{
	const char *name = "";
	char kname[128];
	size_t len = strlen(src);
	int n;

	if (!mapping_section(section, &name) || !name_valid(name))
		return conf_error_set(err, file, line, "",
				      "[%.40s]: a mapping section is [mapping NAME], NAME of "
				      "a-z, 0-9, '-' and '_' (at most %d characters)",
				      section ? section : "", MAPPING_NAME_MAX - 1);
	snprintf(kname, sizeof(kname), "mapping %.31s.%.40s", name, key);
	for (const char *s = value; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return conf_error_set(err, file, line, kname,
					      "contains a control character");
	n = snprintf(src + len, cap - len, "%d%c%s%c%s%c%s\n", line, SEP, name, SEP, key, SEP,
		     value);
	if (n < 0 || (size_t)n >= cap - len) {
		src[len] = '\0';
		return conf_error_set(err, file, line, kname,
				      "[mapping] sections are too long (at most %zu bytes in all)",
				      cap);
	}
	return 0;
}

struct entry {
	const char *file;
	int line;
	char *key, *value;
	bool from_preset;
};

struct entries {
	struct entry e[ENTRIES_MAX];
	size_t n;
	char preset_path[512];
	const char *mapping;
	struct conf_error *err;
};

static int
entries_add(struct entries *x, const char *file, int line, const char *key, const char *value,
	    bool preset)
{
	char kname[128];

	snprintf(kname, sizeof(kname), "mapping %.31s.%.40s", x->mapping, key);
	if (x->n == ENTRIES_MAX)
		return conf_error_set(x->err, file, line, kname, "too many keys in one mapping");
	/* type.rule is the one key that repeats: the rules are ordered. */
	for (size_t i = 0; i < x->n; i++)
		if (x->e[i].from_preset == preset && strcmp(x->e[i].key, key) == 0 &&
		    strcmp(key, "type.rule") != 0)
			return conf_error_set(x->err, file, line, kname,
					      "given twice (first on line %d)", x->e[i].line);
	x->e[x->n] = (struct entry){ file, line, strdup(key), strdup(value), preset };
	if (!x->e[x->n].key || !x->e[x->n].value) {
		free(x->e[x->n].key);
		free(x->e[x->n].value);
		return conf_error_set(x->err, file, line, kname, "out of memory");
	}
	x->n++;
	return 0;
}

static int
preset_section(void *user, const char *section, int line, struct conf_error *err)
{
	struct entries *x = user;

	if (strcmp(section, "mapping") != 0)
		return conf_error_set(err, x->preset_path, line, "",
				      "a preset has one section, [mapping], not [%.40s]", section);
	return 0;
}

static int
preset_key(void *user, const char *section, const char *key, const char *value, int line,
	   struct conf_error *err)
{
	struct entries *x = user;

	(void)err;
	if (strcmp(section, "mapping") != 0)
		return conf_error_set(err, x->preset_path, line, key, "keys belong in [mapping]");
	if (strcmp(key, "preset") == 0)
		return conf_error_set(err, x->preset_path, line, key,
				      "a preset cannot name another preset");
	return entries_add(x, x->preset_path, line, key, value, true);
}

static int
load_preset(struct entries *x, const char *value, const char *preset_dir, const char *file,
	    int line)
{
	char kname[128];
	int n;

	snprintf(kname, sizeof(kname), "mapping %.31s.preset", x->mapping);
	const char *slash = file ? strrchr(file, '/') : NULL;

	if (value[0] == '/' || (strchr(value, '/') && !slash))
		n = snprintf(x->preset_path, sizeof(x->preset_path), "%s", value);
	else if (strchr(value, '/')) /* relative to the config file's folder */
		n = snprintf(x->preset_path, sizeof(x->preset_path), "%.*s/%s", (int)(slash - file),
			     file, value);
	else if (name_valid(value))
		n = snprintf(x->preset_path, sizeof(x->preset_path), "%s/%s.conf",
			     preset_dir ? preset_dir : ".", value);
	else
		return conf_error_set(x->err, file, line, kname,
				      "'%.40s' is neither a preset name nor a path", value);
	if (n < 0 || (size_t)n >= sizeof(x->preset_path))
		return conf_error_set(x->err, file, line, kname, "path is too long");
	/* The error of a missing file names the config line that asked;
	 * access() opens nothing (a FIFO named here cannot block us). */
	if (access(x->preset_path, R_OK) < 0)
		return conf_error_set(x->err, file, line, kname, "cannot read preset '%.200s': %s",
				      x->preset_path, strerror(errno));
	return conf_ini_parse(x->preset_path, preset_section, preset_key, x, x->err);
}

static void
entries_free(struct entries *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->e[i].key);
		free(x->e[i].value);
	}
	x->n = 0;
}

/* Walks the kept lines of `src`; calls fn for each line of section `only`
 * (NULL: every line). Returns fn's first error. */
typedef int (*src_line_fn)(void *user, int line, const char *name, const char *key,
			   const char *value);

static int
src_walk(const char *src, src_line_fn fn, void *user)
{
	const char *p = src;

	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *s1, *s2, *s3;
		char name[MAPPING_NAME_MAX], key[128], *value;
		int r;

		if (!nl)
			return -EINVAL;
		s1 = memchr(p, SEP, (size_t)(nl - p));
		s2 = s1 ? memchr(s1 + 1, SEP, (size_t)(nl - s1 - 1)) : NULL;
		s3 = s2 ? memchr(s2 + 1, SEP, (size_t)(nl - s2 - 1)) : NULL;
		if (!s3 || (size_t)(s2 - s1 - 1) >= sizeof(name) ||
		    (size_t)(s3 - s2 - 1) >= sizeof(key))
			return -EINVAL;
		memcpy(name, s1 + 1, (size_t)(s2 - s1 - 1));
		name[s2 - s1 - 1] = '\0';
		memcpy(key, s2 + 1, (size_t)(s3 - s2 - 1));
		key[s3 - s2 - 1] = '\0';
		value = dup_range(s3 + 1, nl);
		if (!value)
			return -ENOMEM;
		r = fn(user, atoi(p), name, key, value);
		free(value);
		if (r < 0)
			return r;
		p = nl + 1;
	}
	return 0;
}

struct names {
	char name[MAPPING_MAX][MAPPING_NAME_MAX];
	int line[MAPPING_MAX];
	size_t n;
	const char *file;
	struct conf_error *err;
};

static int
collect_name(void *user, int line, const char *name, const char *key, const char *value)
{
	struct names *x = user;

	(void)key;
	(void)value;
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->name[i], name) == 0)
			return 0;
	if (x->n == MAPPING_MAX)
		return conf_error_set(x->err, x->file, line, "", "at most %d [mapping] sections",
				      MAPPING_MAX);
	snprintf(x->name[x->n], MAPPING_NAME_MAX, "%s", name);
	x->line[x->n++] = line;
	return 0;
}

struct collect {
	struct entries *x;
	const char *file;
	const char *preset_dir;
};

static int
collect_entry(void *user, int line, const char *name, const char *key, const char *value)
{
	struct collect *c = user;

	if (strcmp(name, c->x->mapping) != 0)
		return 0;
	return entries_add(c->x, c->file, line, key, value, false);
}

static int
compile_one(const char *src, const char *file, const char *preset_dir, const char *name,
	    int first_line, struct mapping **out, struct conf_error *err)
{
	struct entries *x = calloc(1, sizeof(*x));
	struct mapping *m = calloc(1, sizeof(*m));
	struct collect c = { x, file, preset_dir };
	bool inline_rules = false;
	char why[256], kname[128];
	int r = -ENOMEM;

	if (!x || !m) {
		conf_error_set(err, file, first_line, "", "out of memory");
		goto out;
	}
	x->mapping = name;
	x->err = err;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->id_hash = true;
	if ((r = src_walk(src, collect_entry, &c)) < 0)
		goto out;
	for (size_t i = 0; i < x->n; i++) {
		if (!x->e[i].from_preset && strcmp(x->e[i].key, "type.rule") == 0)
			inline_rules = true;
		if (strcmp(x->e[i].key, "preset") == 0 &&
		    (r = load_preset(x, x->e[i].value, preset_dir, file, x->e[i].line)) < 0)
			goto out;
	}
	/* Preset keys first, each unless the section sets it itself; inline
	 * rules replace the preset's rules as a whole (order matters). */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < x->n; i++) {
			struct entry *e = &x->e[i];
			bool overridden = false;

			if (e->from_preset != (pass == 0) || strcmp(e->key, "preset") == 0)
				continue;
			if (pass == 0 && strcmp(e->key, "type.rule") == 0)
				overridden = inline_rules;
			for (size_t j = 0; pass == 0 && j < x->n; j++)
				if (!x->e[j].from_preset && strcmp(x->e[j].key, e->key) == 0)
					overridden = true;
			if (overridden)
				continue;
			why[0] = '\0';
			if (mapping_key(m, e->key, e->value, why, sizeof(why)) < 0) {
				snprintf(kname, sizeof(kname), "mapping %.31s.%.40s", name, e->key);
				r = conf_error_set(err, e->file, e->line, kname, "%s", why);
				goto out;
			}
			if (strcmp(e->key, "topic") == 0) {
				m->topic_preset = e->from_preset;
				m->topic_line = e->line;
				/* A preset's topic is fixed where the config names
				 * the preset. */
				for (size_t j = 0; e->from_preset && j < x->n; j++)
					if (!x->e[j].from_preset &&
					    strcmp(x->e[j].key, "preset") == 0)
						m->topic_line = x->e[j].line;
			}
		}
	}
	snprintf(kname, sizeof(kname), "mapping %.31s", name);
	if (!m->topic[0]) {
		r = conf_error_set(err, file, first_line, kname,
				   "needs topic = the MQTT topic filter to map");
		goto out;
	}
	if (!m->n_rules && !m->f[F_TYPE].n_ptrs && !m->f[F_TYPE].def) {
		r = conf_error_set(err, file, first_line, kname,
				   "needs type.rule, type or default.type to tell the event type");
		goto out;
	}
	*out = m;
	m = NULL;
	r = 0;
out:
	mapping_free(m);
	if (x)
		entries_free(x);
	free(x);
	return r;
}

int
mapping_set_compile(const char *src, const char *file, const char *preset_dir,
		    struct mapping_set **out, struct conf_error *err)
{
	struct mapping_set *s = calloc(1, sizeof(*s));
	struct names *names = calloc(1, sizeof(*names));
	int r = -ENOMEM;

	*out = NULL;
	if (!s || !names) {
		conf_error_set(err, file, 0, "", "out of memory");
		goto fail;
	}
	names->file = file;
	names->err = err;
	r = src_walk(src ? src : "", collect_name, names);
	if (r < 0) {
		if (r != -EINVAL || !err || !err->message[0])
			conf_error_set(err, file, 0, "", "[mapping] sections unreadable");
		goto fail;
	}
	for (size_t i = 0; i < names->n; i++) {
		r = compile_one(src, file, preset_dir, names->name[i], names->line[i], &s->m[s->n],
				err);
		if (r < 0)
			goto fail;
		s->n++;
	}
	r = mapping_set_check_topics(s, NULL, 0, file, 0, err);
	if (r < 0)
		goto fail;
	free(names);
	*out = s;
	return 0;
fail:
	free(names);
	mapping_set_free(s);
	return r < 0 ? r : -EINVAL;
}

void
mapping_set_free(struct mapping_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		mapping_free(s->m[i]);
	free(s);
}

size_t
mapping_set_count(const struct mapping_set *s)
{
	return s ? s->n : 0;
}

const struct mapping *
mapping_set_at(const struct mapping_set *s, size_t i)
{
	return s && i < s->n ? s->m[i] : NULL;
}

const struct mapping *
mapping_set_find(const struct mapping_set *s, const char *name)
{
	for (size_t i = 0; s && name && i < s->n; i++)
		if (strcmp(s->m[i]->name, name) == 0)
			return s->m[i];
	return NULL;
}

const struct mapping *
mapping_set_match(const struct mapping_set *s, const char *topic)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (mapping_topic_matches(s->m[i]->topic, topic))
			return s->m[i];
	return NULL;
}

/* The error of two filters that share a topic, at mapping m's topic. */
static int
overlap_error(const struct mapping *m, const char *other, const char *example, const char *file,
	      struct conf_error *err)
{
	char kname[128];

	snprintf(kname, sizeof(kname), "mapping %.31s.topic", m->name);
	return conf_error_set(err, file, m->topic_line, kname,
			      "'%.60s'%s and %.90s both match '%.60s': the broker would deliver it "
			      "twice (the copy counts as a duplicate); use filters no topic "
			      "matches twice",
			      m->topic, m->topic_preset ? " (the preset's topic)" : "", other,
			      example);
}

int
mapping_set_check_topics(const struct mapping_set *s, const char *const *events, size_t n_events,
			 const char *file, int events_line, struct conf_error *err)
{
	char example[256], other[160];

	for (size_t i = 0; s && i < s->n; i++) {
		const struct mapping *m = s->m[i];

		for (size_t j = 0; j < i; j++)
			if (mapping_filters_overlap(s->m[j]->topic, m->topic, example,
						    sizeof(example))) {
				snprintf(other, sizeof(other), "mapping %s's '%.80s'",
					 s->m[j]->name, s->m[j]->topic);
				return overlap_error(m, other, example, file, err);
			}
		for (size_t j = 0; events && j < n_events; j++)
			if (mapping_filters_overlap(events[j], m->topic, example,
						    sizeof(example))) {
				if (events_line)
					snprintf(other, sizeof(other),
						 "mqtt.events_topic '%.60s' (line %d)", events[j],
						 events_line);
				else
					snprintf(other, sizeof(other),
						 "mqtt.events_topic '%.60s' (the default)",
						 events[j]);
				return overlap_error(m, other, example, file, err);
			}
	}
	return 0;
}

const char *
mapping_name(const struct mapping *m)
{
	return m->name;
}

const char *
mapping_topic(const struct mapping *m)
{
	return m->topic;
}

/* --- applying ------------------------------------------------------------- */

struct item_ctx {
	const struct mapping *m;
	const cJSON *item;
	char reason[REASON_MAX];
	char id[EVENT_ID_MAX];
	bool has_id;
};

__attribute__((format(printf, 2, 3))) static int
reject_item(struct item_ctx *x, const char *fmt, ...)
{
	char msg[REASON_MAX - 48];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(x->reason, sizeof(x->reason), "mapping %s: %s", x->m->name, msg);
	return -EINVAL;
}

/* A scalar as text. 1 if present, 0 if absent (or null), -EINVAL for an
 * object or array. */
static int
scalar_text(const cJSON *v, char buf[VALUE_MAX])
{
	if (!v)
		return 0;
	if (cJSON_IsString(v))
		snprintf(buf, VALUE_MAX, "%s", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(buf, VALUE_MAX, "%s", cJSON_IsTrue(v) ? "true" : "false");
	else if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) < 9e15 &&
		 v->valuedouble == floor(v->valuedouble))
		snprintf(buf, VALUE_MAX, "%.0f", v->valuedouble);
	else if (cJSON_IsNumber(v))
		snprintf(buf, VALUE_MAX, "%.17g", v->valuedouble);
	else
		return -EINVAL;
	return 1;
}

/* Resolves field `f` to text: the first pointer present, mapped; else the
 * default. 1 present, 0 absent, -EINVAL (reason set). */
static int
resolve(struct item_ctx *x, int f, char buf[VALUE_MAX])
{
	const struct field_conf *fc = &x->m->f[f];

	for (unsigned i = 0; i < fc->n_ptrs; i++) {
		const cJSON *v = pointer_get(x->item, fc->ptrs[i]);
		int r = scalar_text(v, buf);

		if (r < 0)
			return reject_item(x, "%s: %.60s is %s, not a value", fields[f].name,
					   fc->ptrs[i],
					   cJSON_IsArray(v) ? "an array" : "an object");
		/* A webhook template renders an unset placeholder as "". */
		if (r == 0 || !buf[0])
			continue;
		for (unsigned j = 0; j < fc->n_map; j++)
			if (strcasecmp(fc->map[j].from, buf) == 0) {
				snprintf(buf, VALUE_MAX, "%s", fc->map[j].to);
				return 1;
			}
		if (fc->map_other) {
			snprintf(buf, VALUE_MAX, "%s", fc->map_other);
		} else if (fc->prefix) {
			char tmp[VALUE_MAX];

			memcpy(tmp, buf, VALUE_MAX);
			snprintf(buf, VALUE_MAX, "%s%.200s", fc->prefix, tmp);
		}
		return 1;
	}
	if (fc->def) {
		snprintf(buf, VALUE_MAX, "%s", fc->def);
		return 1;
	}
	return 0;
}

/* ISO 8601 as helpdesks print it, made RFC 3339: seconds may be missing
 * ("2013-12-12T05:35Z", Zendesk), the offset may lack its colon
 * ("+0000", Jira) or minutes ("+07"), a space may stand for the 'T'. */
static int
iso8601_parse(const char *s, int64_t *out_ms)
{
	char buf[64];
	size_t n = 0, len = strlen(s), i;

	if (len < 17 || len > 40)
		return -EINVAL;
	memcpy(buf, s, 10);
	n = 10;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return -EINVAL;
	buf[n++] = 'T';
	memcpy(buf + n, s + 11, 5); /* HH:MM */
	n += 5;
	i = 16;
	if (s[i] == ':') {
		if (len < i + 3)
			return -EINVAL;
		memcpy(buf + n, s + i, 3);
		n += 3;
		i += 3;
		if (i <= len && s[i] == '.') {
			buf[n++] = s[i++];
			while (s[i] >= '0' && s[i] <= '9' && n < 40)
				buf[n++] = s[i++];
		}
	} else {
		memcpy(buf + n, ":00", 3);
		n += 3;
	}
	if (i >= len)
		return -EINVAL;
	if (s[i] == 'Z' || s[i] == 'z') {
		buf[n++] = 'Z';
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		buf[n++] = s[i++];
		if (len - i == 2) /* +07 */
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%.2s:00", s + i);
		else if (len - i == 4) /* +0700 */
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%.2s:%.2s", s + i,
					      s + i + 2);
		else if (len - i == 5) /* +07:00 */
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%.5s", s + i);
		else
			return -EINVAL;
		i = len;
	}
	if (i != len || n >= sizeof(buf))
		return -EINVAL;
	buf[n] = '\0';
	return rfc3339_parse(buf, out_ms);
}

/* Epoch seconds or ms as a number or numeric string. */
static int
epoch_parse(const cJSON *v, bool ms, int64_t *out_ms)
{
	double d;
	char *end;

	if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
	} else if (cJSON_IsString(v) && v->valuestring[0]) {
		errno = 0;
		d = strtod(v->valuestring, &end);
		if (errno || *end)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (!ms)
		d *= 1000.0;
	if (!isfinite(d) || d < 0 || d > 4e15)
		return -EINVAL;
	*out_ms = (int64_t)llround(d);
	return 0;
}

/* A time field as RFC 3339 text; 1, 0 (absent), -EINVAL. */
static int
resolve_time(struct item_ctx *x, int f, char out[RFC3339_BUF])
{
	const struct field_conf *fc = &x->m->f[f];

	for (unsigned i = 0; i < fc->n_ptrs; i++) {
		const cJSON *v = pointer_get(x->item, fc->ptrs[i]);
		int64_t ms = 0;
		int r;

		if (!v || (cJSON_IsString(v) && !v->valuestring[0]))
			continue;
		switch (fc->fmt) {
		case TIME_EPOCH_S:
		case TIME_EPOCH_MS:
			r = epoch_parse(v, fc->fmt == TIME_EPOCH_MS, &ms);
			break;
		case TIME_RFC3339:
			r = cJSON_IsString(v) ? rfc3339_parse(v->valuestring, &ms) : -EINVAL;
			break;
		case TIME_ISO8601:
		default:
			r = cJSON_IsString(v) ? iso8601_parse(v->valuestring, &ms) : -EINVAL;
			break;
		}
		if (r < 0) {
			char txt[VALUE_MAX] = "?";

			if (scalar_text(v, txt) < 0)
				snprintf(txt, sizeof(txt), "%s",
					 cJSON_IsArray(v) ? "an array" : "an object");
			return reject_item(x, "%s: %.60s is not a time in the %s format: '%.40s'",
					   fields[f].name, fc->ptrs[i], time_fmt_names[fc->fmt],
					   txt);
		}
		rfc3339_format(ms, out);
		return 1;
	}
	return 0;
}

static bool
cond_true(const cJSON *item, const struct cond *c)
{
	char buf[VALUE_MAX] = "";
	const cJSON *v = pointer_get(item, c->ptr);
	int r = scalar_text(v, buf);
	bool truthy = v && !cJSON_IsFalse(v) && !(cJSON_IsString(v) && !v->valuestring[0]);

	switch (c->op) {
	case C_EQ:
		return r > 0 && strcasecmp(buf, c->value) == 0;
	case C_NE:
		return !(r > 0 && strcasecmp(buf, c->value) == 0);
	case C_TRUE:
		return truthy;
	case C_FALSE:
		return !truthy;
	}
	return false;
}

/* Sorts object members by name, recursively: the fallback id must not
 * depend on the order a backend happens to print keys in. */
static int
member_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

static int
canon_sort(cJSON *node, int depth)
{
	cJSON *c, **v;
	size_t n = 0, i;

	if (depth > 64)
		return 0;
	for (c = node->child; c; c = c->next) {
		n++;
		if (canon_sort(c, depth + 1) < 0)
			return -ENOMEM;
	}
	if (!cJSON_IsObject(node) || n < 2)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0, c = node->child; c; c = c->next)
		v[i++] = c;
	qsort(v, n, sizeof(*v), member_cmp);
	/* cJSON's list: next links forward, the first's prev is the last. */
	for (i = 0; i < n; i++) {
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
		v[i]->prev = i ? v[i - 1] : v[n - 1];
	}
	node->child = v[0];
	free(v);
	return 0;
}

static int
hash_id(struct item_ctx *x)
{
	uint8_t digest[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	cJSON *copy = cJSON_Duplicate(x->item, true);
	char *text = NULL;
	int r = -ENOMEM;

	if (copy && canon_sort(copy, 0) == 0)
		text = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	if (!text)
		return r;
	/* Keyed by the mapping's name: the same payload on two mappings is
	 * two events. */
	r = crypto_hmac_sha256(x->m->name, strlen(x->m->name), text, strlen(text), digest);
	cJSON_free(text);
	if (r < 0)
		return r;
	crypto_hex(digest, sizeof(digest), hex);
	snprintf(x->id, sizeof(x->id), "%s-%.*s", x->m->name, HASH_HEX_CHARS, hex);
	x->has_id = true;
	return 0;
}

/* Adds `value` at the dotted SPEC path, creating the objects on the way. */
static int
put(cJSON *root, const char *path, cJSON *value)
{
	char part[32];
	cJSON *cur = root;

	if (!value)
		return -ENOMEM;
	for (;;) {
		const char *dot = strchr(path, '.');

		if (!dot) {
			if (cJSON_AddItemToObject(cur, path, value))
				return 0;
			cJSON_Delete(value);
			return -ENOMEM;
		}
		snprintf(part, sizeof(part), "%.*s", (int)(dot - path), path);
		cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, part);

		if (!next) {
			next = cJSON_AddObjectToObject(cur, part);
			if (!next) {
				cJSON_Delete(value);
				return -ENOMEM;
			}
		}
		cur = next;
		path = dot + 1;
	}
}

static int
map_item(struct item_ctx *x, int64_t now_ms, cJSON **out)
{
	const struct mapping *m = x->m;
	char buf[VALUE_MAX] = "", when[RFC3339_BUF] = "";
	const char *type = NULL;
	cJSON *ev;
	int r;

	if (!cJSON_IsObject(x->item))
		return reject_item(x, "an item must be a JSON object");
	r = resolve(x, F_ID, buf);
	if (r < 0)
		return r;
	if (r > 0 && strlen(buf) >= sizeof(x->id)) {
		return reject_item(x, "id: longer than %zu bytes", sizeof(x->id) - 1);
	} else if (r > 0 && buf[0]) {
		memcpy(x->id, buf, strlen(buf) + 1);
		x->has_id = true;
	} else if (m->id_hash) {
		if ((r = hash_id(x)) < 0)
			return r == -ENOMEM ? r : reject_item(x, "id: hashing failed");
	} else {
		return reject_item(x, "id: missing (no value at %s)",
				   m->f[F_ID].n_ptrs ? m->f[F_ID].ptrs[0] : "any pointer");
	}

	for (unsigned i = 0; i < m->n_rules && !type; i++) {
		bool all = true;

		for (unsigned j = 0; j < m->rules[i].n_conds && all; j++)
			all = cond_true(x->item, &m->rules[i].conds[j]);
		if (all)
			type = event_type_name(m->rules[i].type);
	}
	if (!type) {
		r = resolve(x, F_TYPE, buf);
		if (r < 0)
			return r;
		if (r == 0)
			return reject_item(x, "type: no type.rule matched and no type found");
		type = buf;
	}

	ev = cJSON_CreateObject();
	if (!ev)
		return -ENOMEM;
	r = put(ev, "v", cJSON_CreateNumber(1));
	if (r == 0)
		r = put(ev, "id", cJSON_CreateString(x->id));
	if (r == 0)
		r = put(ev, "type", cJSON_CreateString(type));
	if (r < 0)
		goto fail;
	for (int f = 0; f < F_COUNT; f++) {
		if (f == F_ID || f == F_TYPE)
			continue;
		if (fields[f].kind == K_TIME) {
			r = resolve_time(x, f, when);
			if (r == 0 && f == F_TS) {
				if (m->f[F_TS].n_ptrs)
					r = reject_item(x, "ts: missing (no value at %s)",
							m->f[F_TS].ptrs[0]);
				else
					r = 1;
				if (r > 0)
					rfc3339_format(now_ms, when);
			}
			if (r > 0)
				r = put(ev, fields[f].name, cJSON_CreateString(when));
		} else {
			r = resolve(x, f, buf);
			if (r > 0 && fields[f].kind == K_BOOL) {
				if (strcasecmp(buf, "true") == 0 || strcmp(buf, "1") == 0)
					r = put(ev, fields[f].name, cJSON_CreateTrue());
				else if (strcasecmp(buf, "false") == 0 || strcmp(buf, "0") == 0)
					r = put(ev, fields[f].name, cJSON_CreateFalse());
				else
					r = reject_item(
						x,
						"%s: '%.40s' is not true or false (map it with "
						"map.%s)",
						fields[f].name, buf, fields[f].name);
			} else if (r > 0) {
				r = put(ev, fields[f].name, cJSON_CreateString(buf));
			}
		}
		if (r < 0)
			goto fail;
	}
	*out = ev;
	return 0;
fail:
	cJSON_Delete(ev);
	return r;
}

static bool
only_whitespace(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
	return true;
}

int
mapping_apply(const struct mapping *m, const void *payload, size_t len, size_t max_events,
	      int64_t now_ms, char **out, event_reject_fn on_reject, void *userdata)
{
	const char *end = NULL;
	cJSON *root = NULL, *events = NULL;
	const cJSON *items, *item, *list;
	char *buf, reason[REASON_MAX];
	size_t seen = 0;
	int mapped = 0, r = 0;

	*out = NULL;
	if (!m || (!payload && len > 0) || len == SIZE_MAX)
		return -EINVAL;
	/* NUL-terminated copy: cJSON may read one byte past `len`. */
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	if (len)
		memcpy(buf, payload, len);
	buf[len] = '\0';
	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!root || !end || !only_whitespace(end, buf + len)) {
		snprintf(reason, sizeof(reason), "mapping %s: payload is not valid JSON", m->name);
		r = -EINVAL;
		goto whole;
	}
	items = root;
	if (m->items) {
		items = pointer_get(root, m->items);
		if (!items) {
			snprintf(reason, sizeof(reason), "mapping %s: no items at %.60s", m->name,
				 m->items);
			r = -EINVAL;
			goto whole;
		}
	}
	if (!cJSON_IsObject(items) && !cJSON_IsArray(items)) {
		snprintf(reason, sizeof(reason),
			 "mapping %s: payload must be a JSON object or array", m->name);
		r = -EINVAL;
		goto whole;
	}
	events = cJSON_CreateArray();
	if (!events) {
		r = -ENOMEM;
		goto done;
	}
	/* One object is one item; an array is a list of them. */
	list = cJSON_IsArray(items) ? items->child : items;
	for (item = list; item; item = cJSON_IsArray(items) ? item->next : NULL) {
		struct item_ctx x = { .m = m, .item = item };
		cJSON *ev = NULL;

		if (seen++ >= max_events) {
			snprintf(reason, sizeof(reason),
				 "mapping %s: too many events in one message (max %zu)", m->name,
				 max_events);
			if (on_reject)
				on_reject(userdata, NULL, reason);
			continue;
		}
		r = map_item(&x, now_ms, &ev);
		if (r == -ENOMEM)
			goto done;
		if (r < 0) {
			if (on_reject)
				on_reject(userdata, x.has_id ? x.id : NULL, x.reason);
			continue;
		}
		cJSON_AddItemToArray(events, ev);
		mapped++;
	}
	r = 0;
	if (mapped > 0) {
		*out = cJSON_PrintUnformatted(events);
		if (!*out)
			r = -ENOMEM;
	}
	goto done;
whole:
	if (on_reject)
		on_reject(userdata, NULL, reason);
done:
	cJSON_Delete(events);
	cJSON_Delete(root);
	free(buf);
	return r < 0 ? r : mapped;
}
