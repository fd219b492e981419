/* cmd: the one dispatcher for admin verbs (SPEC §5), shared by the control
 * socket and MQTT (and later HTTP). A request is one JSON object with the
 * verb's arguments at top level and an optional "transaction"; the reply is
 * {"transaction":…,"status":"ok","data":{…}} or {…,"status":"error",
 * "error":"…"}.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct daemon;

enum cmd_origin { CMD_ORIGIN_CTL, CMD_ORIGIN_MQTT };

/* Executes `verb` (NULL: taken from the request's "verb" field) with the
 * JSON request in `request` (not NUL-terminated). Returns the reply, to
 * release with payload_free(); never NULL except when out of memory.
 * `*watch` (may be NULL) is set when the client asked to watch. */
char *cmd_handle(struct daemon *d, enum cmd_origin origin, const char *verb, const char *request,
		 size_t len, bool *watch);
