/* mapping: another backend's JSON (a helpdesk webhook bridged to MQTT)
 * turned into SPEC §2 events by configuration, not glue code (issue 8).
 *
 * A [mapping NAME] section of the config names a topic filter and how to
 * find each event field in the foreign JSON: RFC 6901 JSON pointers, value
 * maps, ordered rules for the event type, time formats, and a fallback id
 * (a SHA-256 of the canonical payload) when the source has none. A section
 * may start from a shipped preset (mappings/<name>.conf). The output is
 * SPEC JSON that goes through event_parse(), so validation, dedupe and
 * error reports are the same as for native events.
 *
 * Pure apart from reading preset files at compile time: no MQTT, no clock
 * (the caller passes the receive time).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conferr.h"
#include "event.h"

#define MAPPING_MAX      8  /* [mapping NAME] sections */
#define MAPPING_NAME_MAX 32 /* bytes incl. NUL; [a-z0-9_-] */
/* The inline keys of every [mapping] section, as struct conf keeps them. */
#define MAPPING_SRC_MAX (32 * 1024)

struct mapping;
struct mapping_set;

/* True if `section` is "mapping NAME" (sets *name to NAME, may be empty
 * or invalid: mapping_src_add checks it). */
bool mapping_section(const char *section, const char **name);

/* Appends one "key = value" line of [mapping NAME] (section as libinih
 * gives it) to the text `src` (capacity `cap`, NUL-terminated), which
 * mapping_set_compile() reads. Checks the name, not the key. 0 or -EINVAL
 * with `err` naming file, line and key. */
int mapping_src_add(char *src, size_t cap, const char *section, const char *key, const char *value,
		    const char *file, int line, struct conf_error *err);

/* Compiles every section kept in `src` (may be "") into *out. A preset is
 * a name found as `preset_dir`/NAME.conf, or a path (it contains '/');
 * inline keys override the preset's. `file` is the config file the lines
 * came from (for messages). 0, or -EINVAL/-ENOMEM with `err` filled. */
int mapping_set_compile(const char *src, const char *file, const char *preset_dir,
			struct mapping_set **out, struct conf_error *err);
/* Accepts NULL. */
void mapping_set_free(struct mapping_set *s);

size_t mapping_set_count(const struct mapping_set *s);
/* NULL past the end. */
const struct mapping *mapping_set_at(const struct mapping_set *s, size_t i);
/* By section name; NULL if none. */
const struct mapping *mapping_set_find(const struct mapping_set *s, const char *name);
/* The first mapping whose topic filter matches `topic`; NULL if none. */
const struct mapping *mapping_set_match(const struct mapping_set *s, const char *topic);

const char *mapping_name(const struct mapping *m);
/* The MQTT topic filter the mapping subscribes. */
const char *mapping_topic(const struct mapping *m);

/* A non-empty MQTT topic filter (3.1.1 §4.7.1): '+' fills a whole level,
 * '#' a whole last level. */
bool mapping_filter_valid(const char *filter);

/* MQTT topic filter matching ('+' one level, '#' the rest). */
bool mapping_topic_matches(const char *filter, const char *topic);

/* True if some topic matches both filters `a` and `b` (a broker would
 * deliver a message on it once per subscription); false as well when
 * either is not a valid filter. `example` (may be NULL) receives such a
 * topic, cut to `size`. */
bool mapping_filters_overlap(const char *a, const char *b, char *example, size_t size);

/* Refuses two filters that share a topic: two mappings', or a mapping's
 * and one of `events` (mqtt.events_topic, may be NULL). The error names
 * `file`, the line that set the mapping's topic (its preset line for a
 * preset's topic) and "mapping NAME.topic". `events_line` is where
 * events_topic was set, 0 for the default. 0 or -EINVAL. */
int mapping_set_check_topics(const struct mapping_set *s, const char *const *events,
			     size_t n_events, const char *file, int events_line,
			     struct conf_error *err);

/* Maps one payload (not NUL-terminated): a JSON object, or an array of
 * them, or the array that `items` points to. Each item becomes one SPEC
 * event; an item that cannot be mapped is reported through `on_reject`
 * (with the event id if one is known) and left out, the others go on.
 * At most `max_events` items are mapped, the rest are rejected.
 * `now_ms` is the event's ts when the mapping has no `ts` key.
 * Returns the number of events in *out (a JSON array as text, free()
 * it; NULL when 0), -EINVAL when the payload as a whole is unusable
 * (reported), -ENOMEM. */
int mapping_apply(const struct mapping *m, const void *payload, size_t len, size_t max_events,
		  int64_t now_ms, char **out, event_reject_fn on_reject, void *userdata);
