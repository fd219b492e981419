/* crypto: HMAC-SHA256 and hex from OpenSSL's libcrypto (OpenSSL headers
 * are included here and in tls.c, which owns the broker TLS context).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

/* HMAC-SHA256 of msg under key into out. 0 or -EIO. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
		       uint8_t out[CRYPTO_SHA256_LEN]);

/* Compares in time independent of where a and b differ (signatures). */
bool crypto_equal(const void *a, const void *b, size_t n);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void crypto_hex(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits (either case). 0 or -EINVAL. */
int crypto_unhex(const char *in, uint8_t *out, size_t n);
