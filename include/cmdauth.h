/* cmdauth: signed admin commands (SPEC §5, admin.key_file).
 *
 * A signed request carries "ts" (RFC 3339), "nonce" (8 to 128 characters of
 * [A-Za-z0-9._:-]) and "sig": the lower-case hex HMAC-SHA256, under the key,
 * of the canonical request
 *
 *     <verb> "\n" <target> "\n" <the request without "sig", keys sorted
 *     at every level, no whitespace, as `jq -cS 'del(.sig)'` prints it>
 *
 * where <target> is the board id the command was addressed to, or "all"
 * for teamboard/all/cmd/<verb>. Binding the verb and target stops a
 * signed "mute" for one board from being replayed as another verb or on
 * another board. Pure code: freshness of ts and the nonce's first use are
 * checked by the caller (cmd.c), which owns the clock and the store.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define CMDAUTH_NONCE_MIN 8
#define CMDAUTH_NONCE_MAX 128
#define CMDAUTH_KEY_MAX   1024

struct cmdauth {
	int64_t ts_ms;
	char nonce[CMDAUTH_NONCE_MAX + 1];
	char why[160]; /* on failure: for the error reply (never the key) */
};

/* The canonical text of `request` (len bytes of JSON) for `verb` and
 * `target`, malloc'ed and NUL-terminated in *out. 0, -EBADMSG if the
 * request is not one JSON object without duplicate keys, -ENOMEM. */
int cmdauth_canonical(const char *verb, const char *target, const char *request, size_t len,
		      char **out);

/* Checks the signature of `request` under `key`. 0 with ts and nonce
 * filled; -EBADMSG (missing or malformed sig, ts or nonce) or -EPERM (wrong
 * signature) with `why` filled. */
int cmdauth_verify(const char *verb, const char *target, const char *request, size_t len,
		   const uint8_t *key, size_t key_len, struct cmdauth *out);

/* Reads a key file: its bytes without one trailing newline (so `echo`
 * and editors do not change the key). 0, -errno, or -EINVAL if empty or
 * longer than CMDAUTH_KEY_MAX. */
int cmdauth_read_key(const char *path, uint8_t *key, size_t *key_len);
