/* libFuzzer target: admin command requests as an attacker on the broker
 * sends them, through the signature check of signed commands (JSON
 * parsing, key sorting, duplicate keys, canonical text, hex, ts, nonce).
 * Also checks that the canonical text is a fixed point: canonicalising its
 * own body gives the same text, so signer and board cannot disagree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmdauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz key";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmdauth auth;
	char *canon = NULL, *again = NULL;
	const char *body;

	cmdauth_verify("mute", "floor2", (const char *)data, size, key, sizeof(key) - 1, &auth);
	if (cmdauth_canonical("mute", "all", (const char *)data, size, &canon) != 0)
		return 0;
	body = strchr(strchr(canon, '\n') + 1, '\n') + 1;
	if (cmdauth_canonical("mute", "all", body, strlen(body), &again) != 0 ||
	    strcmp(canon, again) != 0)
		abort();
	free(again);
	free(canon);
	return 0;
}
