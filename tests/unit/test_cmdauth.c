/* cmdauth: canonical form and signature checks of signed admin commands. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmdauth.h"
#include "crypto.h"

static const uint8_t key[] = "correct horse battery staple";

static void
sign(const char *verb, const char *target, const char *req, char hex[65])
{
	uint8_t mac[CRYPTO_SHA256_LEN];
	char *canon = NULL;

	assert_int_equal(cmdauth_canonical(verb, target, req, strlen(req), &canon), 0);
	assert_int_equal(crypto_hmac_sha256(key, sizeof(key) - 1, canon, strlen(canon), mac), 0);
	crypto_hex(mac, sizeof(mac), hex);
	free(canon);
}

static void
test_canonical_sorts_every_level_and_drops_sig(void **state)
{
	const char *req = "{ \"ts\": \"x\", \"sig\": \"ff\", \"b\": {\"z\": 1, \"a\": [true, "
			  "{\"y\": null, \"x\": \"\\u00e9\"}]}, \"a\": 2 }";
	char *canon = NULL;

	(void)state;
	assert_int_equal(cmdauth_canonical("mute", "floor2", req, strlen(req), &canon), 0);
	assert_string_equal(canon, "mute\nfloor2\n{\"a\":2,\"b\":{\"a\":[true,{\"x\":\"\xc3\xa9\","
				   "\"y\":null}],\"z\":1},\"ts\":\"x\"}");
	free(canon);
}

static void
test_canonical_refuses_ambiguous_requests(void **state)
{
	static const char *const bad[] = {
		"{\"a\":1,\"a\":2}",
		"{\"sig\":\"1\",\"sig\":\"2\"}",
		"{\"o\":{\"k\":1,\"k\":1}}",
		"[1]",
		"{\"a\":",
	};
	char *canon = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cmdauth_canonical("v", "t", bad[i], strlen(bad[i]), &canon),
				 -EBADMSG);
		assert_null(canon);
	}
	/* A NUL inside: bytes after it would not be signed. */
	assert_int_equal(cmdauth_canonical("v", "t", "{\"a\":\"x\0y\"}", 11, &canon), -EBADMSG);
}

static void
test_verify(void **state)
{
	const char *body =
		"{\"transaction\":\"t1\",\"for\":\"10m\",\"ts\":\"2026-11-25T10:00:00Z\","
		"\"nonce\":\"abcdefgh12\"";
	char req[512], sig[65];
	struct cmdauth a;

	(void)state;
	snprintf(req, sizeof(req), "%s}", body);
	sign("mute", "floor2", req, sig);
	snprintf(req, sizeof(req), "%s,\"sig\":\"%s\"}", body, sig);
	assert_int_equal(
		cmdauth_verify("mute", "floor2", req, strlen(req), key, sizeof(key) - 1, &a), 0);
	assert_string_equal(a.nonce, "abcdefgh12");
	assert_true(a.ts_ms == 1795600800000LL);
	/* Other verb, other board, other key: refused. */
	assert_int_equal(
		cmdauth_verify("unmute", "floor2", req, strlen(req), key, sizeof(key) - 1, &a),
		-EPERM);
	assert_string_equal(a.why, "bad signature");
	assert_int_equal(cmdauth_verify("mute", "all", req, strlen(req), key, sizeof(key) - 1, &a),
			 -EPERM);
	assert_int_equal(cmdauth_verify("mute", "floor2", req, strlen(req), key, 5, &a), -EPERM);
	/* Upper-case hex is the same signature. */
	for (char *p = strstr(req, sig); *p != '"'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(
		cmdauth_verify("mute", "floor2", req, strlen(req), key, sizeof(key) - 1, &a), 0);

	/* Missing or malformed parts. */
	static const char *const bad[] = {
		"{\"ts\":\"2026-11-25T10:00:00Z\",\"nonce\":\"abcdefgh12\"}",
		"{\"sig\":\"12\",\"ts\":\"2026-11-25T10:00:00Z\",\"nonce\":\"abcdefgh12\"}",
		"{\"sig\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"ts\":\"noon\",\"nonce\":\"abcdefgh12\"}",
		"{\"sig\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"ts\":\"2026-11-25T10:00:00Z\",\"nonce\":\"short\"}",
		"{\"sig\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"ts\":\"2026-11-25T10:00:00Z\",\"nonce\":\"has space 123\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cmdauth_verify("mute", "floor2", bad[i], strlen(bad[i]), key,
						sizeof(key) - 1, &a),
				 -EBADMSG);
}

static void
test_read_key(void **state)
{
	char path[] = "/tmp/teamboard-key-XXXXXX";
	uint8_t k[CMDAUTH_KEY_MAX];
	size_t n = 0;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret\n", 7), 7);
	close(fd);
	assert_int_equal(cmdauth_read_key(path, k, &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(k, "secret", 6);
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	assert_int_equal(cmdauth_read_key(path, k, &n), -EINVAL);
	unlink(path);
	assert_int_equal(cmdauth_read_key(path, k, &n), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_sorts_every_level_and_drops_sig),
		cmocka_unit_test(test_canonical_refuses_ambiguous_requests),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_read_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
