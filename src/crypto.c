/* crypto: see include/crypto.h. */
#include "crypto.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int
crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
		   uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int out_len = 0;

	/* HMAC() with a NULL key pointer would use a static empty key. */
	static const uint8_t empty;

	if (key_len > INT32_MAX)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len,
		  len ? msg : (const void *)&empty, len, out, &out_len) ||
	    out_len != CRYPTO_SHA256_LEN)
		return -EIO;
	return 0;
}

bool
crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void
crypto_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
crypto_unhex(const char *in, uint8_t *out, size_t n)
{
	if (!in || strlen(in) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
