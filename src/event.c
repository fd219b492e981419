/* event: the backend's events (SPEC §2), parsed and validated.
 *
 * Each event is copied into a struct event before the callback sees it, so
 * cJSON never leaves this file. Identifiers (event id, ticket id, incident
 * id) are keys other modules dedupe and match on, so a bad one rejects the
 * event; display text (subject, customer, queue, agent, title) is only
 * shown, so it is sanitised and truncated instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event.h"
#include "timeutil.h"

#define REASON_MAX 256
/* Rejected values are echoed in reasons that end up in logs and on MQTT;
 * the echo is short and clean whatever the peer sent. */
#define ECHO_MAX_CHARS 40
#define ECHO_BUF       (ECHO_MAX_CHARS * 4 + sizeof("..."))

static const char *const event_type_names[EVENT_TYPE_COUNT] = {
	[EVENT_TICKET_CREATED] = "ticket.created",
	[EVENT_TICKET_UPDATED] = "ticket.updated",
	[EVENT_TICKET_ASSIGNED] = "ticket.assigned",
	[EVENT_TICKET_REPLIED] = "ticket.replied",
	[EVENT_TICKET_SOLVED] = "ticket.solved",
	[EVENT_TICKET_CLOSED] = "ticket.closed",
	[EVENT_SLA_WARNING] = "sla.warning",
	[EVENT_SLA_BREACHED] = "sla.breached",
	[EVENT_SLA_PAUSED] = "sla.paused",
	[EVENT_SLA_RESUMED] = "sla.resumed",
	[EVENT_INCIDENT_OPENED] = "incident.opened",
	[EVENT_INCIDENT_RESOLVED] = "incident.resolved",
	[EVENT_HEARTBEAT] = "heartbeat",
};

static const char *const channel_names[CHANNEL_COUNT] = {
	[CHANNEL_FACEBOOK] = "facebook", [CHANNEL_INSTAGRAM] = "instagram",
	[CHANNEL_TWITTER] = "twitter",   [CHANNEL_VK] = "vk",
	[CHANNEL_TELEGRAM] = "telegram", [CHANNEL_WHATSAPP] = "whatsapp",
	[CHANNEL_EMAIL] = "email",       [CHANNEL_CHAT] = "chat",
	[CHANNEL_PHONE] = "phone",       [CHANNEL_WEB] = "web",
	[CHANNEL_OTHER] = "other",
};

static const char *const priority_names[PRIORITY_COUNT] = {
	[PRIORITY_LOW] = "low",
	[PRIORITY_NORMAL] = "normal",
	[PRIORITY_HIGH] = "high",
	[PRIORITY_URGENT] = "urgent",
};

static const char *const sla_kind_names[SLA_KIND_COUNT] = {
	[SLA_FIRST_RESPONSE] = "first_response",
	[SLA_RESOLUTION] = "resolution",
};

static int
name_lookup(const char *const *names, int count, const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < count; i++) {
		if (strcmp(names[i], s) == 0)
			return i;
	}
	return -EINVAL;
}

const char *
event_type_name(enum event_type t)
{
	return (unsigned)t < EVENT_TYPE_COUNT ? event_type_names[t] : "unknown";
}

const char *
channel_name(enum channel c)
{
	return (unsigned)c < CHANNEL_COUNT ? channel_names[c] : "unknown";
}

const char *
priority_name(enum priority p)
{
	return (unsigned)p < PRIORITY_COUNT ? priority_names[p] : "unknown";
}

const char *
sla_kind_name(enum sla_kind k)
{
	return (unsigned)k < SLA_KIND_COUNT ? sla_kind_names[k] : "unknown";
}

int
event_type_from_name(const char *s, enum event_type *out)
{
	int i = name_lookup(event_type_names, EVENT_TYPE_COUNT, s);

	if (i < 0 || !out)
		return -EINVAL;
	*out = (enum event_type)i;
	return 0;
}

int
channel_from_name(const char *s, enum channel *out)
{
	int i = name_lookup(channel_names, CHANNEL_COUNT, s);

	/* Twitter renamed itself; backends send either name. */
	if (i < 0 && s && strcmp(s, "x") == 0)
		i = CHANNEL_TWITTER;
	if (i < 0 || !out)
		return -EINVAL;
	*out = (enum channel)i;
	return 0;
}

int
priority_from_name(const char *s, enum priority *out)
{
	int i = name_lookup(priority_names, PRIORITY_COUNT, s);

	if (i < 0 || !out)
		return -EINVAL;
	*out = (enum priority)i;
	return 0;
}

/* --- UTF-8 ---------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (at most `avail` bytes), or
 * 0 if it is not one (overlong forms, surrogates and > U+10FFFF included). */
static size_t
utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* C0, DEL and C1: nothing a lamp label, log line or terminal should get. */
static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Copies display text into dst: control characters become spaces, bytes
 * that are not UTF-8 become '?', and the text is cut at a character
 * boundary so the copy is always valid UTF-8. */
static void
text_copy(char *dst, size_t cap, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t avail = strlen(src), o = 0;

	while (avail > 0) {
		uint32_t cp;
		size_t n = utf8_decode(s, avail, &cp);

		if (n == 0 || is_control(cp)) {
			if (o + 1 >= cap)
				break;
			dst[o++] = n == 0 ? '?' : ' ';
			n = n ? n : 1;
		} else {
			if (o + n >= cap)
				break;
			memcpy(dst + o, s, n);
			o += n;
		}
		s += n;
		avail -= n;
	}
	dst[o] = '\0';
}

/* Like text_copy for values echoed in a reason: at most ECHO_MAX_CHARS
 * characters, "..." when cut, '?' for anything unprintable. */
static const char *
echo(char buf[ECHO_BUF], const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t avail = strlen(src), o = 0;
	int chars = 0;

	while (avail > 0) {
		uint32_t cp;
		size_t n = utf8_decode(s, avail, &cp);

		if (chars == ECHO_MAX_CHARS) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (n == 0 || is_control(cp)) {
			buf[o++] = '?';
			n = n ? n : 1;
		} else {
			memcpy(buf + o, s, n);
			o += n;
		}
		chars++;
		s += n;
		avail -= n;
	}
	buf[o] = '\0';
	return buf;
}

/* --- validation ----------------------------------------------------------- */

struct parse_ctx {
	event_accept_fn on_accept;
	event_reject_fn on_reject;
	void *userdata;
	unsigned flags;
	char reason[REASON_MAX];
	char echo[ECHO_BUF];
};

__attribute__((format(printf, 2, 3))) static int
fail(struct parse_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* JSON null counts as absent: many backends serialise a missing optional
 * field that way. */
static const cJSON *
field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return v && !cJSON_IsNull(v) ? v : NULL;
}

static const char *
string_value(const cJSON *v)
{
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An identifier is copied exactly or not at all: truncating or rewriting
 * it would merge or split tickets. `v` may be NULL (missing). */
static int
parse_id(struct parse_ctx *ctx, const cJSON *v, const char *name, char *dst, size_t cap)
{
	const char *s = string_value(v);
	size_t len, off = 0;

	if (!v)
		return fail(ctx, "%s: missing", name);
	if (!s)
		return fail(ctx, "%s: must be a string", name);
	len = strlen(s);
	if (len == 0)
		return fail(ctx, "%s: must not be empty", name);
	if (len >= cap)
		return fail(ctx, "%s: longer than %zu bytes", name, cap - 1);
	while (off < len) {
		uint32_t cp;
		size_t n = utf8_decode((const unsigned char *)s + off, len - off, &cp);

		if (n == 0)
			return fail(ctx, "%s: not valid UTF-8", name);
		if (is_control(cp))
			return fail(ctx, "%s: contains control characters", name);
		off += n;
	}
	memcpy(dst, s, len + 1);
	return 0;
}

/* Optional display text; returns 1 if present, 0 if absent, -EINVAL. */
static int
parse_text(struct parse_ctx *ctx, const cJSON *obj, const char *key, const char *name, char *dst,
	   size_t cap)
{
	const cJSON *v = field(obj, key);

	if (!v)
		return 0;
	if (!string_value(v))
		return fail(ctx, "%s: must be a string", name);
	text_copy(dst, cap, v->valuestring);
	return 1;
}

static int
parse_time(struct parse_ctx *ctx, const cJSON *v, const char *name, int64_t *out_ms)
{
	if (!v)
		return fail(ctx, "%s: missing", name);
	if (!string_value(v))
		return fail(ctx, "%s: must be an RFC 3339 timestamp string", name);
	if (rfc3339_parse(v->valuestring, out_ms) < 0)
		return fail(ctx, "%s: not an RFC 3339 timestamp with a zone: '%s'", name,
			    echo(ctx->echo, v->valuestring));
	return 0;
}

/* Looks up an enum value by its wire name; returns 1 if present, 0 if
 * absent, -EINVAL. `lookup` is one of the *_from_name functions. */
static int
parse_name(struct parse_ctx *ctx, const cJSON *obj, const char *key, const char *name,
	   int (*lookup)(const char *s, int *out), int *out)
{
	const cJSON *v = field(obj, key);

	if (!v)
		return 0;
	if (!string_value(v))
		return fail(ctx, "%s: must be a string", name);
	if (lookup(v->valuestring, out) < 0)
		return fail(ctx, "%s: unknown value '%s'", name, echo(ctx->echo, v->valuestring));
	return 1;
}

/* Adapters with a common signature for parse_name; the enums are ints. */
static int
lookup_type(const char *s, int *out)
{
	enum event_type t = EVENT_TICKET_CREATED;
	int r = event_type_from_name(s, &t);

	*out = (int)t;
	return r;
}

static int
lookup_channel(const char *s, int *out)
{
	enum channel c = CHANNEL_FACEBOOK;
	int r = channel_from_name(s, &c);

	*out = (int)c;
	return r;
}

static int
lookup_priority(const char *s, int *out)
{
	enum priority p = PRIORITY_LOW;
	int r = priority_from_name(s, &p);

	*out = (int)p;
	return r;
}

static int
lookup_sla_kind(const char *s, int *out)
{
	*out = name_lookup(sla_kind_names, SLA_KIND_COUNT, s);
	return *out < 0 ? -EINVAL : 0;
}

static int
parse_due(struct parse_ctx *ctx, const cJSON *ticket, struct event_ticket *t)
{
	const cJSON *due = field(ticket, "due");
	char name[64];

	if (!due)
		return 0;
	if (!cJSON_IsObject(due))
		return fail(ctx, "ticket.due: must be an object");
	for (int k = 0; k < SLA_KIND_COUNT; k++) {
		const cJSON *v = field(due, sla_kind_names[k]);

		if (!v)
			continue;
		snprintf(name, sizeof(name), "ticket.due.%s", sla_kind_names[k]);
		if (parse_time(ctx, v, name, &t->due_ms[k]) < 0)
			return -EINVAL;
	}
	return 0;
}

static int
parse_ticket(struct parse_ctx *ctx, const cJSON *obj, struct event *ev, char *assignee,
	     size_t assignee_cap)
{
	const cJSON *ticket = field(obj, "ticket");
	struct event_ticket *t = &ev->ticket;
	bool created = ev->type == EVENT_TICKET_CREATED;
	int r, val = 0;

	if (!ticket)
		return fail(ctx, "ticket: missing (required for %s)", event_type_name(ev->type));
	if (!cJSON_IsObject(ticket))
		return fail(ctx, "ticket: must be an object");
	ev->has_ticket = true;
	if (parse_id(ctx, field(ticket, "id"), "ticket.id", t->id, sizeof(t->id)) < 0)
		return -EINVAL;

	r = parse_name(ctx, ticket, "channel", "ticket.channel", lookup_channel, &val);
	if (r < 0)
		return r;
	if (r == 0 && created)
		return fail(ctx, "ticket.channel: missing (required for ticket.created)");
	if ((t->has_channel = r > 0))
		t->channel = (enum channel)val;

	r = parse_name(ctx, ticket, "priority", "ticket.priority", lookup_priority, &val);
	if (r < 0)
		return r;
	if (r == 0 && created && !(ctx->flags & EVENT_PARSE_PRIORITY_OPTIONAL))
		return fail(ctx, "ticket.priority: missing (required for ticket.created)");
	if ((t->has_priority = r > 0))
		t->priority = (enum priority)val;

	const cJSON *pub = field(ticket, "public");

	if (pub) {
		if (!cJSON_IsBool(pub))
			return fail(ctx, "ticket.public: must be true or false");
		t->has_public = true;
		t->public = cJSON_IsTrue(pub);
	}

	if ((r = parse_text(ctx, ticket, "subject", "ticket.subject", t->subject,
			    sizeof(t->subject))) < 0)
		return r;
	t->has_subject = r > 0;
	if ((r = parse_text(ctx, ticket, "customer", "ticket.customer", t->customer,
			    sizeof(t->customer))) < 0)
		return r;
	t->has_customer = r > 0;
	if ((r = parse_text(ctx, ticket, "queue", "ticket.queue", t->queue, sizeof(t->queue))) < 0)
		return r;
	t->has_queue = r > 0;
	if ((r = parse_text(ctx, ticket, "assignee", "ticket.assignee", assignee, assignee_cap)) <
	    0)
		return r;
	return parse_due(ctx, ticket, t);
}

static int
parse_incident(struct parse_ctx *ctx, const cJSON *obj, struct event *ev)
{
	const cJSON *inc = field(obj, "incident"), *id;

	if (!inc)
		return 0;
	if (!cJSON_IsObject(inc))
		return fail(ctx, "incident: must be an object");
	id = field(inc, "id");
	if (id && parse_id(ctx, id, "incident.id", ev->incident_id, sizeof(ev->incident_id)) < 0)
		return -EINVAL;
	if (parse_text(ctx, inc, "title", "incident.title", ev->incident_title,
		       sizeof(ev->incident_title)) < 0)
		return -EINVAL;
	return 0;
}

/* Everything but the id, which the caller has already taken. */
static int
parse_body(struct parse_ctx *ctx, const cJSON *obj, struct event *ev)
{
	const cJSON *v = field(obj, "v");
	char agent[EVENT_NAME_MAX] = "", assignee[EVENT_NAME_MAX] = "";
	int r, val = 0;

	if (v) {
		if (!cJSON_IsNumber(v))
			return fail(ctx, "v: must be the number 1");
		if (v->valuedouble != 1.0)
			return fail(ctx, "v: unsupported version %.17g (only 1 is supported)",
				    v->valuedouble);
	}

	r = parse_name(ctx, obj, "type", "type", lookup_type, &val);
	if (r < 0)
		return r;
	if (r == 0)
		return fail(ctx, "type: missing");
	ev->type = (enum event_type)val;

	if (parse_time(ctx, field(obj, "ts"), "ts", &ev->ts_ms) < 0)
		return -EINVAL;
	/* ts orders a ticket's events and, while the board's clock is not
	 * synchronised, sets it: one event dated 9999 would block every later
	 * update of its ticket and breach every SLA at once. */
	if (ev->ts_ms < EVENT_TS_MIN_MS || ev->ts_ms >= EVENT_TS_END_MS)
		return fail(ctx, "ts: implausible date (must be in 2000..2099)");

	/* Checked for every type: a wrongly typed known field is a backend
	 * bug worth reporting even where the board does not use it. */
	if (parse_text(ctx, obj, "agent", "agent", agent, sizeof(agent)) < 0)
		return -EINVAL;

	switch (ev->type) {
	case EVENT_TICKET_CREATED:
	case EVENT_TICKET_UPDATED:
	case EVENT_TICKET_ASSIGNED:
	case EVENT_TICKET_REPLIED:
	case EVENT_TICKET_SOLVED:
	case EVENT_TICKET_CLOSED:
		if (parse_ticket(ctx, obj, ev, assignee, sizeof(assignee)) < 0)
			return -EINVAL;
		break;
	case EVENT_SLA_WARNING:
	case EVENT_SLA_BREACHED:
	case EVENT_SLA_PAUSED:
	case EVENT_SLA_RESUMED:
		if (parse_ticket(ctx, obj, ev, assignee, sizeof(assignee)) < 0)
			return -EINVAL;
		r = parse_name(ctx, obj, "sla", "sla", lookup_sla_kind, &val);
		if (r < 0)
			return r;
		ev->sla = r > 0 ? (enum sla_kind)val : SLA_FIRST_RESPONSE;
		break;
	case EVENT_INCIDENT_OPENED:
	case EVENT_INCIDENT_RESOLVED:
		return parse_incident(ctx, obj, ev);
	case EVENT_HEARTBEAT:
	case EVENT_TYPE_COUNT:
		break;
	}

	if (ev->type == EVENT_TICKET_ASSIGNED) {
		/* An empty name would record an ack by nobody. */
		const char *who = agent[0] ? agent : assignee;

		if (!who[0])
			return fail(ctx, "agent: missing (ticket.assigned needs \"agent\" or "
					 "\"ticket.assignee\")");
		memcpy(ev->agent, who, strlen(who) + 1);
	}
	return 0;
}

static void
reject(struct parse_ctx *ctx, const char *event_id, const char *reason)
{
	if (ctx->on_reject)
		ctx->on_reject(ctx->userdata, event_id, reason);
}

/* Returns 1 if the event was accepted, 0 if rejected. */
static int
parse_one(struct parse_ctx *ctx, const cJSON *obj)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	if (!cJSON_IsObject(obj)) {
		reject(ctx, NULL, "event must be a JSON object");
		return 0;
	}
	if (parse_id(ctx, field(obj, "id"), "id", ev.id, sizeof(ev.id)) < 0) {
		reject(ctx, NULL, ctx->reason);
		return 0;
	}
	if (parse_body(ctx, obj, &ev) < 0) {
		reject(ctx, ev.id, ctx->reason);
		return 0;
	}
	if (ctx->on_accept)
		ctx->on_accept(ctx->userdata, &ev);
	return 1;
}

/* An event past the cap is not validated, but its id (if usable) still
 * goes with the rejection so the backend can tell which one was dropped. */
static void
reject_surplus(struct parse_ctx *ctx, const cJSON *obj, size_t max_events)
{
	char id[EVENT_ID_MAX];
	char reason[REASON_MAX];
	bool has_id =
		cJSON_IsObject(obj) && parse_id(ctx, field(obj, "id"), "id", id, sizeof(id)) == 0;

	snprintf(reason, sizeof(reason), "too many events in one message (max %zu)", max_events);
	reject(ctx, has_id ? id : NULL, reason);
}

static bool
only_whitespace(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
	}
	return true;
}

int
event_parse(const void *payload, size_t len, size_t max_events, event_accept_fn on_accept,
	    event_reject_fn on_reject, void *userdata)
{
	return event_parse_flags(payload, len, max_events, 0, on_accept, on_reject, userdata);
}

int
event_parse_flags(const void *payload, size_t len, size_t max_events, unsigned flags,
		  event_accept_fn on_accept, event_reject_fn on_reject, void *userdata)
{
	struct parse_ctx ctx = {
		.on_accept = on_accept, .on_reject = on_reject, .userdata = userdata, .flags = flags
	};
	const char *end = NULL;
	cJSON *root, *item;
	char *buf;
	int accepted = 0;
	size_t i = 0;

	if ((!payload && len > 0) || len == SIZE_MAX) {
		reject(&ctx, NULL, "payload is not valid JSON");
		return -EINVAL;
	}
	/* cJSON_ParseWithLength may read one byte past `len` (cJSON issue
	 * #804); a NUL-terminated copy keeps that read inside our buffer. */
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	if (len > 0)
		memcpy(buf, payload, len);
	buf[len] = '\0';

	/* Trailing bytes are checked here rather than by cJSON's
	 * require_null_terminated, which would accept "{...}\0garbage". */
	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!root || !end || end < buf || !only_whitespace(end, buf + len)) {
		reject(&ctx, NULL, "payload is not valid JSON");
		cJSON_Delete(root);
		free(buf);
		return -EINVAL;
	}

	if (cJSON_IsObject(root)) {
		if (max_events > 0)
			accepted = parse_one(&ctx, root);
		else
			reject_surplus(&ctx, root, max_events);
	} else if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(item, root)
		{
			if (i++ < max_events)
				accepted += parse_one(&ctx, item);
			else
				reject_surplus(&ctx, item, max_events);
		}
	} else {
		reject(&ctx, NULL, "payload must be a JSON object or array");
		accepted = -EINVAL;
	}
	cJSON_Delete(root);
	free(buf);
	return accepted;
}
