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

/* How long the reply to an MQTT command is kept for a repeated
 * transaction, and a signed command's nonce against replays; both longer
 * than the largest admin.max_cmd_age (1 day), after which a replay is
 * refused as too old anyway. */
#define CMD_REPLY_KEEP_MS (2LL * 24 * 3600 * 1000)
#define CMD_NONCE_KEEP_MS (2LL * 24 * 3600 * 1000)

/* Executes `verb` (NULL: taken from the request's "verb" field) with the
 * JSON request in `request` (not NUL-terminated). Returns the reply, to
 * release with payload_free(); never NULL except when out of memory.
 * `*watch` (may be NULL) is set when the client asked to watch. */
char *cmd_handle(struct daemon *d, enum cmd_origin origin, const char *verb, const char *request,
		 size_t len, bool *watch);

/* Where a request came from, for the checks that depend on it. */
struct cmd_context {
	enum cmd_origin origin;
	/* MQTT: the board id the topic named, or "all" (fleet-wide); part of
	 * what a signed command's signature covers. NULL: this board. */
	const char *target;
	bool retained; /* MQTT retain flag: such commands are refused */
};

/* cmd_handle() with the full context. For MQTT requests it also enforces
 * signing (admin.key_file: sig, fresh ts, unused nonce) and replays the
 * stored reply for a repeated transaction of a verb that changes
 * something, instead of acting twice. */
char *cmd_handle_ctx(struct daemon *d, const struct cmd_context *ctx, const char *verb,
		     const char *request, size_t len, bool *watch);
