/* tls: the broker certificate checks and their words, through real TLS
 * handshakes over a socketpair against certificates made here. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "tls.h"

static char dir[64];
static EVP_PKEY *ca_key;
static X509 *ca_cert;
static char ca_path[128];

static void
path_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void
write_cert(const char *name, X509 *cert)
{
	char p[128];
	FILE *f;

	path_in(p, sizeof(p), name);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	fclose(f);
}

/* A certificate for `cn` with the subject alternative names `san` (an
 * openssl extension value, NULL: none), signed by the CA (NULL: itself).
 * `cn` is raw bytes: a hostile broker picks what it likes. */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, size_t cn_len, const char *san, bool ca)
{
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;

	assert_non_null(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), (long)(random() & 0xffffff) + 2);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
						    (const unsigned char *)cn, (int)cn_len, -1, 0),
			 1);
	X509_set_subject_name(c, name);
	X509_set_issuer_name(c, ca ? name : X509_get_subject_name(ca_cert));
	X509_set_pubkey(c, key);
	X509V3_set_ctx(&v3, ca ? c : ca_cert, c, NULL, NULL, 0);
	if (ca) {
		X509_EXTENSION *e =
			X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(c, e, -1);
		X509_EXTENSION_free(e);
	}
	if (san) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);

		assert_non_null(e);
		X509_add_ext(c, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(c, ca ? key : ca_key, EVP_sha256()) > 0);
	X509_NAME_free(name);
	return c;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tb-tls-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	ca_key = EVP_EC_gen("P-256");
	ca_cert = make_cert(ca_key, "tb unit ca", 10, NULL, true);
	write_cert("ca.pem", ca_cert);
	path_in(ca_path, sizeof(ca_path), "ca.pem");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs one handshake: the client side from tls_ssl_ctx(), as libmosquitto
 * would use it; the server presents `cert`. True if it completed. */
static bool
handshake(struct tls *t, X509 *cert, EVP_PKEY *key)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL *client, *server;
	int sv[2];
	int c = 0, s = 0;

	assert_non_null(sctx);
	assert_int_equal(SSL_CTX_use_certificate(sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	client = SSL_new(tls_ssl_ctx(t));
	server = SSL_new(sctx);
	SSL_set_fd(client, sv[0]);
	SSL_set_fd(server, sv[1]);
	tls_attempt(t);
	for (int i = 0; i < 100 && (c != 1 || s != 1); i++) {
		if (c != 1) {
			c = SSL_connect(client);
			if (c <= 0 && SSL_get_error(client, c) != SSL_ERROR_WANT_READ)
				break;
		}
		if (s != 1) {
			s = SSL_accept(server);
			if (s <= 0 && SSL_get_error(server, s) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(sctx);
	close(sv[0]);
	close(sv[1]);
	return c == 1 && s == 1;
}

static struct tls *
client(const char *host, const uint8_t *pin)
{
	struct tls_config cfg = { .host = host, .cafile = ca_path, .pin = pin };
	int err = 0;
	struct tls *t = tls_new(&cfg, &err);

	assert_non_null(t);
	return t;
}

static void
test_good_certificate_and_each_refusal_in_words(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = make_cert(key, "broker", 6, "IP:127.0.0.1,DNS:broker.example", false);
	struct tls *t;
	char why[512];

	(void)state;
	t = client("127.0.0.1", NULL);
	assert_true(handshake(t, cert, key));
	assert_false(tls_failure(t, why, sizeof(why)));
	tls_free(t);

	/* the name form of the host is fine too */
	t = client("broker.example", NULL);
	assert_true(handshake(t, cert, key));
	tls_free(t);

	t = client("10.1.2.3", NULL);
	assert_false(handshake(t, cert, key));
	assert_true(tls_failure(t, why, sizeof(why)));
	assert_string_equal(why, "TLS: server certificate is for 127.0.0.1, broker.example, "
				 "not 10.1.2.3");
	/* a new attempt starts clean */
	tls_attempt(t);
	assert_false(tls_failure(t, why, sizeof(why)));
	tls_free(t);

	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_pin(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = make_cert(key, "broker", 6, "IP:127.0.0.1", false);
	uint8_t pin[CRYPTO_SHA256_LEN], other[CRYPTO_SHA256_LEN];
	unsigned char *der = NULL;
	unsigned int len = 0;
	int n = i2d_PUBKEY(key, &der);
	char hex[2 * CRYPTO_SHA256_LEN + 1], why[512], want[512];
	struct tls *t;

	(void)state;
	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, pin, &len, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
	crypto_hex(pin, sizeof(pin), hex);

	t = client("127.0.0.1", pin);
	assert_true(handshake(t, cert, key));
	tls_free(t);

	memcpy(other, pin, sizeof(other));
	other[0] ^= 1;
	t = client("127.0.0.1", other);
	assert_false(handshake(t, cert, key));
	assert_true(tls_failure(t, why, sizeof(why)));
	snprintf(want, sizeof(want),
		 "TLS: public-key pin mismatch: server key sha256 %s is not mqtt.tls_pin", hex);
	assert_string_equal(why, want);
	tls_free(t);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Names in a certificate are the broker's to choose: the log line stays
 * one line of printable text. */
static void
test_hostile_names_stay_one_printable_line(void **state)
{
	static const char cn[] = "evil\n<3>forged log line\x1b[31m";
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = make_cert(key, cn, sizeof(cn) - 1, NULL, false);
	struct tls *t = client("127.0.0.1", NULL);
	char why[512];

	(void)state;
	assert_false(handshake(t, cert, key));
	assert_true(tls_failure(t, why, sizeof(why)));
	assert_string_equal(why, "TLS: server certificate is for evil?<3>forged log line?[31m, "
				 "not 127.0.0.1");
	tls_free(t);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_untrusted_chain_names_the_cafile(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *self = make_cert(key, "127.0.0.1", 9, "IP:127.0.0.1", true);
	struct tls *t = client("127.0.0.1", NULL);
	char why[512], want[512];

	(void)state;
	assert_false(handshake(t, self, key));
	assert_true(tls_failure(t, why, sizeof(why)));
	snprintf(want, sizeof(want),
		 "TLS: server certificate (issuer '127.0.0.1') not signed by a CA in cafile %s",
		 ca_path);
	assert_string_equal(why, want);
	tls_free(t);
	X509_free(self);
	EVP_PKEY_free(key);
}

static void
test_bad_files(void **state)
{
	struct tls_config cfg = { .host = "127.0.0.1", .cafile = "/etc/hostname" };
	int err = 0;

	(void)state;
	/* not a certificate */
	assert_null(tls_new(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	/* a certificate without its key */
	cfg.cafile = ca_path;
	cfg.certfile = ca_path;
	err = 0;
	assert_null(tls_new(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	/* no host to check the certificate against */
	cfg.certfile = NULL;
	cfg.host = "";
	err = 0;
	assert_null(tls_new(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	tls_free(NULL);
	tls_attempt(NULL);
	assert_false(tls_failure(NULL, NULL, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_certificate_and_each_refusal_in_words),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_hostile_names_stay_one_printable_line),
		cmocka_unit_test(test_untrusted_chain_names_the_cafile),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
