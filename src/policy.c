/* policy: board-side SLA targets and priorities from content. See
 * policy.h for the rule syntax and docs/sla.md for the defaults.
 *
 * Keyword matching is a case-folded substring search, so a word list can
 * hold stems ("не работа" finds "не работает", "zepsu" finds "zepsuty").
 * Folding covers what the four display languages need: ASCII, Latin-1
 * (Danish æ ø å), Latin Extended-A (Polish ą ć ę ł ń ś ź ż) and basic
 * Cyrillic (and ё). Every fold keeps the UTF-8 length of the letter, so a
 * folded copy fits where the original did.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "textlist.h"
#include "timeutil.h"

#define TOKENS_MAX 24
#define TOKEN_MAX  32
#define WORD_MAX   64
#define QUOTE_MAX  48

/* Open channels where customers talk in public or expect chat speed. */
#define SOCIAL_CHANNELS                                                                            \
	((1u << CHANNEL_FACEBOOK) | (1u << CHANNEL_INSTAGRAM) | (1u << CHANNEL_TWITTER) |          \
	 (1u << CHANNEL_VK) | (1u << CHANNEL_TELEGRAM) | (1u << CHANNEL_WHATSAPP))

static const char *const target_names[POLICY_TARGET_COUNT] = {
	[POLICY_FIRST_RESPONSE] = "first_response",
	[POLICY_NEXT_RESPONSE] = "next_response",
	[POLICY_RESOLUTION] = "resolution",
};

static const char *const mood_names[POLICY_MOOD_COUNT] = {
	[POLICY_NEUTRAL] = "neutral",
	[POLICY_NEGATIVE] = "negative",
	[POLICY_PRAISE] = "praise",
};

const char *
policy_target_name(enum policy_target k)
{
	return (unsigned)k < POLICY_TARGET_COUNT ? target_names[k] : "?";
}

__attribute__((format(printf, 3, 4))) static int
fail(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool
is_space(char c)
{
	return isspace((unsigned char)c);
}

/* Splits [p, end) at blanks into tokens; -1 if there are too many or one
 * is too long. */
static int
tokenize(const char *p, const char *end, char tok[TOKENS_MAX][TOKEN_MAX])
{
	int n = 0;

	while (p < end) {
		const char *e;

		while (p < end && is_space(*p))
			p++;
		if (p == end)
			break;
		e = p;
		while (e < end && !is_space(*e))
			e++;
		if (n >= TOKENS_MAX || (size_t)(e - p) >= TOKEN_MAX)
			return -1;
		memcpy(tok[n], p, (size_t)(e - p));
		tok[n][e - p] = '\0';
		n++;
		p = e;
	}
	return n;
}

/* One match word into the rule; -1 if unknown. */
static int
match_word(const char *w, bool is_priority, struct policy_rule *r)
{
	enum channel c;
	enum priority pr;

	if (strcmp(w, "*") == 0)
		return 0;
	if (strcmp(w, "public") == 0 || strcmp(w, "private") == 0) {
		int8_t v = w[1] == 'u' ? 1 : 0;

		if (r->public >= 0 && r->public != v)
			return -1; /* "public private" matches nothing: a mistake */
		r->public = v;
		return 0;
	}
	if (strcmp(w, "social") == 0) {
		r->channels |= SOCIAL_CHANNELS;
		return 0;
	}
	if (channel_from_name(w, &c) == 0) {
		r->channels |= (uint16_t)(1u << c);
		return 0;
	}
	if (!is_priority && priority_from_name(w, &pr) == 0) {
		r->priorities |= (uint8_t)(1u << pr);
		return 0;
	}
	if (is_priority) {
		for (int m = 0; m < POLICY_MOOD_COUNT; m++) {
			if (strcmp(w, mood_names[m]) == 0) {
				r->moods |= (uint8_t)(1u << m);
				return 0;
			}
		}
	}
	return -1;
}

static int
parse_rule(const char *p, const char *end, bool is_priority, struct policy_rule *r, char *why,
	   size_t why_size)
{
	char tok[TOKENS_MAX][TOKEN_MAX];
	int q = (int)((end - p) > QUOTE_MAX ? QUOTE_MAX : (end - p));
	const char *colon = is_priority ? memchr(p, ':', (size_t)(end - p)) : NULL;
	int n, nmatch;

	memset(r, 0, sizeof(*r));
	r->public = -1;
	if (is_priority) {
		char res[TOKENS_MAX][TOKEN_MAX];

		if (!colon || tokenize(colon + 1, end, res) != 1 ||
		    priority_from_name(res[0], &r->priority) < 0)
			return fail(why, why_size,
				    "rule '%.*s' must end in ': PRIORITY' (urgent, high, normal "
				    "or low)",
				    q, p);
		end = colon;
	}
	n = tokenize(p, end, tok);
	if (n < 0)
		return fail(why, why_size, "rule '%.*s' is too long", q, p);
	nmatch = n;
	if (!is_priority) {
		uint64_t usec;

		if (n > 0 &&
		    (strcmp(tok[n - 1], "business") == 0 || strcmp(tok[n - 1], "calendar") == 0)) {
			r->hours = tok[n - 1][0] == 'b' ? POLICY_HOURS_BUSINESS
							: POLICY_HOURS_CALENDAR;
			n--;
		}
		if (n == 0)
			return fail(why, why_size, "rule '%.*s' has no target (e.g. '%.*s 1h')", q,
				    p, q, p);
		if (strcmp(tok[n - 1], "none") == 0) {
			r->none = true;
		} else if (duration_parse(tok[n - 1], &usec) < 0 || usec < USEC_PER_SEC ||
			   usec > UINT64_C(400) * 86400 * USEC_PER_SEC) {
			return fail(why, why_size,
				    "bad target '%s' in rule '%.*s' (a duration from 1s to 400d, "
				    "like 5m or 8h, or none)",
				    tok[n - 1], q, p);
		} else {
			r->target_ms = (int64_t)(usec / USEC_PER_MSEC);
		}
		nmatch = n - 1;
	}
	if (nmatch == 0)
		return fail(why, why_size, "rule '%.*s' matches nothing (use '*' for every ticket)",
			    q, p);
	for (int i = 0; i < nmatch; i++) {
		if (match_word(tok[i], is_priority, r) < 0)
			return fail(why, why_size,
				    "unknown word '%s' in rule '%.*s' (use %s, a channel, social, "
				    "public, private or *)",
				    tok[i], q, p,
				    is_priority ? "negative, praise, neutral"
						: "urgent, high, normal, low");
	}
	return 0;
}

int
policy_parse_rules(const char *s, bool is_priority, struct policy_rules *out, char *why,
		   size_t why_size)
{
	struct policy_rules rs;
	struct textlist l;
	const char *a;
	size_t len;
	int r;

	memset(&rs, 0, sizeof(rs));
	if (why && why_size)
		why[0] = '\0';
	textlist_init(&l, s);
	while ((r = textlist_next(&l, &a, &len)) > 0) {
		if (rs.n >= POLICY_MAX_RULES)
			return fail(why, why_size, "too many rules (at most %d)", POLICY_MAX_RULES);
		r = parse_rule(a, a + len, is_priority, &rs.rules[rs.n], why, why_size);
		if (r < 0)
			return r;
		rs.n++;
	}
	if (r < 0)
		return fail(why, why_size, "empty rule (stray comma?)");
	*out = rs;
	return 0;
}

int
policy_check_words(const char *s, char *why, size_t why_size)
{
	const char *p = s ? s : "", *a;
	struct textlist l;
	size_t len;
	int r;

	if (strlen(p) >= POLICY_WORDS_MAX)
		return fail(why, why_size, "word list longer than %d bytes", POLICY_WORDS_MAX - 1);
	for (const char *c = p; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(why, why_size, "word list contains control characters");
	}
	textlist_init(&l, p);
	while ((r = textlist_next(&l, &a, &len)) > 0) {
		if (len >= WORD_MAX)
			return fail(why, why_size, "word '%.*s...' longer than %d bytes", QUOTE_MAX,
				    a, WORD_MAX - 1);
	}
	if (r < 0)
		return fail(why, why_size, "empty word (stray comma?)");
	return 0;
}

/* --- keyword matching ----------------------------------------------------- */

/* Folds UTF-8 text to lower case in place for the letters named at the top
 * of this file; other bytes are left alone. */
static void
fold(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		if (*p < 0x80) {
			*p = (unsigned char)tolower(*p);
			p++;
			continue;
		}
		if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
			unsigned cp = ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu), lo = cp;

			if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
				lo = cp + 0x20;
			else if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177))
				lo = cp | 1u;
			else if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e)) &&
				 (cp & 1u))
				lo = cp + 1;
			else if (cp >= 0x410 && cp <= 0x42f)
				lo = cp + 0x20;
			else if (cp >= 0x400 && cp <= 0x40f)
				lo = cp + 0x50;
			/* every fold above stays within two-byte UTF-8 */
			p[0] = (unsigned char)(0xc0 | (lo >> 6));
			p[1] = (unsigned char)(0x80 | (lo & 0x3f));
			p += 2;
			continue;
		}
		p++;
	}
}

/* Whether folded `text` contains any word of the comma-separated list. */
static bool
contains_any(const char *text, const char *list)
{
	struct textlist l;
	const char *a;
	size_t len;
	int r;

	textlist_init(&l, list);
	while ((r = textlist_next(&l, &a, &len)) != 0) {
		char word[WORD_MAX];

		if (r < 0 || len >= sizeof(word)) /* checked at load; skip */
			continue;
		memcpy(word, a, len);
		word[len] = '\0';
		fold(word);
		if (strstr(text, word))
			return true;
	}
	return false;
}

enum policy_mood
policy_mood(const struct policy_config *p, const char *subject)
{
	char text[EVENT_TEXT_MAX];

	if (!subject || !*subject)
		return POLICY_NEUTRAL;
	snprintf(text, sizeof(text), "%s", subject);
	fold(text);
	if (contains_any(text, p->negative_words))
		return POLICY_NEGATIVE;
	if (contains_any(text, p->praise_words))
		return POLICY_PRAISE;
	return POLICY_NEUTRAL;
}

/* --- rules ---------------------------------------------------------------- */

static bool
rule_matches(const struct policy_rule *r, enum channel c, int pr, bool public, int mood)
{
	if (r->channels && !(r->channels & (1u << c)))
		return false;
	if (pr >= 0 && r->priorities && !(r->priorities & (1u << pr)))
		return false;
	if (mood >= 0 && r->moods && !(r->moods & (1u << mood)))
		return false;
	return r->public < 0 || r->public == (int8_t) public;
}

enum priority
policy_priority(const struct policy_config *p, enum channel c, bool public, enum policy_mood mood)
{
	const struct policy_rules *rs = &p->priority_rules;

	for (unsigned i = 0; i < rs->n && i < POLICY_MAX_RULES; i++) {
		if (rule_matches(&rs->rules[i], c, -1, public, (int)mood))
			return rs->rules[i].priority;
	}
	return PRIORITY_NORMAL;
}

int64_t
policy_due(const struct policy_config *p, enum policy_target k, enum channel c, enum priority pr,
	   bool public, int64_t start_ms)
{
	const struct policy_rules *rs;

	if ((unsigned)k >= POLICY_TARGET_COUNT)
		return 0;
	rs = &p->targets[k];
	for (unsigned i = 0; i < rs->n && i < POLICY_MAX_RULES; i++) {
		const struct policy_rule *r = &rs->rules[i];
		enum policy_hours h;
		int64_t due;

		if (!rule_matches(r, c, (int)pr, public, -1))
			continue;
		if (r->none)
			return 0;
		h = r->hours != POLICY_HOURS_DEFAULT ? r->hours : p->default_hours[k];
		if (h == POLICY_HOURS_BUSINESS)
			due = bizhours_add(&p->hours, p->timezone, start_ms, r->target_ms);
		else
			due = start_ms + r->target_ms;
		/* an event's dues must be plausible dates like a backend's */
		return due > start_ms && due < EVENT_TS_END_MS ? due : 0;
	}
	return 0;
}

static bool
creates_ticket(enum event_type t)
{
	return t == EVENT_TICKET_CREATED || t == EVENT_TICKET_UPDATED || t == EVENT_TICKET_ASSIGNED;
}

unsigned
policy_apply(const struct policy_config *p, struct event *ev, const struct policy_ticket *t)
{
	struct event_ticket *et = &ev->ticket;
	bool creates = !t->known && creates_ticket(ev->type);
	unsigned filled = 0;
	enum channel c;
	enum priority pr;
	bool public;

	if (!ev->has_ticket)
		return 0;
	c = et->has_channel ? et->channel : t->known ? t->channel : CHANNEL_OTHER;
	public = et->has_public ? et->public : t->known && t->public;
	if (p->priority_enabled && creates && !et->has_priority) {
		enum policy_mood mood = policy_mood(p, et->has_subject ? et->subject : "");

		et->priority = policy_priority(p, c, public, mood);
		et->has_priority = true;
		filled |= POLICY_FILLED_PRIORITY;
	}
	if (!p->sla_enabled)
		return filled;
	for (int s = 0; s < SLA_KIND_COUNT; s++) {
		if (et->due_ms[s])
			return filled; /* the backend keeps its SLAs */
	}
	pr = et->has_priority ? et->priority : t->known ? t->priority : PRIORITY_NORMAL;
	if (creates) {
		et->due_ms[SLA_FIRST_RESPONSE] =
			policy_due(p, POLICY_FIRST_RESPONSE, c, pr, public, ev->ts_ms);
		et->due_ms[SLA_RESOLUTION] =
			policy_due(p, POLICY_RESOLUTION, c, pr, public, ev->ts_ms);
		if (et->due_ms[SLA_FIRST_RESPONSE] || et->due_ms[SLA_RESOLUTION]) {
			et->due_from_policy = true;
			filled |= POLICY_FILLED_DUE;
		}
		return filled;
	}
	/* After a reply, an update is the customer writing again: the next
	 * response is due. The engine models it as a first_response due that
	 * moves past the reply. */
	if (t->known && t->due_policy && t->responded && ev->type == EVENT_TICKET_UPDATED) {
		int64_t due = policy_due(p, POLICY_NEXT_RESPONSE, c, pr, public, ev->ts_ms);

		if (due) {
			et->due_ms[SLA_FIRST_RESPONSE] = due;
			et->due_from_policy = true;
			filled |= POLICY_FILLED_NEXT;
		}
	}
	return filled;
}
