/* policy: board-side SLA targets and priorities from content (issue 8).
 *
 * Pure: no I/O, no clock. For backends that send no due times or no
 * priority, the daemon passes each parsed event through policy_apply()
 * before the alert engine sees it; the event then looks as if the backend
 * had sent the dues and the priority the policy gives. Backend dues always
 * win: an event that carries any due is left alone, and a ticket whose dues
 * came from the backend is never given policy dues. See docs/sla.md.
 *
 * Rule syntax (config keys sla.first_response, sla.next_response,
 * sla.resolution and priority.rules): comma-separated rules, first match
 * wins. A rule is match words then its result:
 *   targets:    "urgent public social 5m, email 4h business, * 8h"
 *   priorities: "public negative: urgent, praise: low, *: normal"
 * Match words: priorities (urgent high normal low), channels (facebook ...
 * other, plus "social" for facebook instagram twitter vk telegram whatsapp),
 * public, private, and for priority rules negative, praise, neutral; "*"
 * alone matches everything. Words of one kind are alternatives ("urgent
 * high"), kinds must all match. A target is a duration or "none", followed
 * by "business" or "calendar" to override the kind's default hours.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bizhours.h"
#include "event.h"

#define POLICY_MAX_RULES 32
#define POLICY_WORDS_MAX 1024 /* bytes of one keyword list */
#define POLICY_TZ_MAX    64

enum policy_target {
	POLICY_FIRST_RESPONSE,
	POLICY_NEXT_RESPONSE,
	POLICY_RESOLUTION,
	POLICY_TARGET_COUNT
};
enum policy_hours { POLICY_HOURS_DEFAULT, POLICY_HOURS_CALENDAR, POLICY_HOURS_BUSINESS };
enum policy_mood { POLICY_NEUTRAL, POLICY_NEGATIVE, POLICY_PRAISE, POLICY_MOOD_COUNT };

struct policy_rule {
	uint16_t channels;  /* bit per enum channel; 0: any */
	uint8_t priorities; /* bit per enum priority; 0: any */
	uint8_t moods;      /* bit per enum policy_mood; 0: any */
	int8_t public;      /* -1: any, 0: private, 1: public */
	bool none;          /* target "none": no due */
	enum policy_hours hours;
	int64_t target_ms;
	enum priority priority; /* priority rules */
};

struct policy_rules {
	struct policy_rule rules[POLICY_MAX_RULES];
	unsigned n;
};

struct policy_config {
	bool sla_enabled;
	char timezone[POLICY_TZ_MAX]; /* IANA */
	struct bizhours hours;
	struct policy_rules targets[POLICY_TARGET_COUNT];
	enum policy_hours default_hours[POLICY_TARGET_COUNT]; /* CALENDAR or BUSINESS */

	bool priority_enabled;
	struct policy_rules priority_rules;
	char negative_words[POLICY_WORDS_MAX]; /* comma-separated */
	char praise_words[POLICY_WORDS_MAX];
};

/* What the alert engine knows of the event's ticket. */
struct policy_ticket {
	bool known;      /* the ticket is open on the board */
	bool responded;  /* first response sent, no next one due yet */
	bool due_policy; /* its dues came from this policy */
	int64_t created_ms;
	enum channel channel;
	enum priority priority;
	bool public;
};

/* What policy_apply() filled in. */
#define POLICY_FILLED_PRIORITY 1u
#define POLICY_FILLED_DUE      2u
#define POLICY_FILLED_NEXT     4u

/* Parses a target list (is_priority false) or a priority rule list into
 * out. 0 or -EINVAL with a reason naming the bad rule. */
int policy_parse_rules(const char *s, bool is_priority, struct policy_rules *out, char *why,
		       size_t why_size);
/* Checks a keyword list ("refund, не работает, ..."): 0 or -EINVAL. */
int policy_check_words(const char *s, char *why, size_t why_size);

/* The mood of a subject: negative if it contains a negative word, else
 * praise if it contains a praise word, else neutral. Case-insensitive for
 * Latin, Polish, Danish and Cyrillic letters. */
enum policy_mood policy_mood(const struct policy_config *p, const char *subject);

/* The first matching priority rule's priority; PRIORITY_NORMAL if none. */
enum priority policy_priority(const struct policy_config *p, enum channel c, bool public,
			      enum policy_mood mood);

/* The due for target kind k of a ticket opened at start_ms; 0 if no rule
 * gives one (or the hours never open). */
int64_t policy_due(const struct policy_config *p, enum policy_target k, enum channel c,
		   enum priority pr, bool public, int64_t start_ms);

/* Fills in a priority and due times the backend left out (see the top of
 * this file); sets ev->ticket.due_from_policy when it filled dues. `t`
 * describes the ticket as the engine has it (t->known false: new ticket).
 * Returns the POLICY_FILLED_* bits. */
unsigned policy_apply(const struct policy_config *p, struct event *ev,
		      const struct policy_ticket *t);

const char *policy_target_name(enum policy_target k); /* "first_response", ... */
