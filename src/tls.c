/* tls: see include/tls.h. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "log.h"

#define SYSTEM_CA_PATH "/etc/ssl/certs"
#define FAILURE_MAX    320
#define NAMES_MAX      160

struct tls {
	SSL_CTX *ctx;
	char *host;
	char *cafile; /* NULL: the system store */
	bool has_pin;
	uint8_t pin[CRYPTO_SHA256_LEN];
	/* the first failure of the current handshake, in words */
	char failure[FAILURE_MAX];
};

/* --- words for a certificate ------------------------------------------------ */

static void __attribute__((format(printf, 2, 3))) fail(struct tls *t, const char *fmt, ...)
{
	va_list ap;

	if (t->failure[0])
		return; /* the first failure is the cause, the rest follow from it */
	va_start(ap, fmt);
	vsnprintf(t->failure, sizeof(t->failure), fmt, ap);
	va_end(ap);
}

/* Certificate fields are the peer's to choose: keep a log line one line of
 * printable text. */
static void
append_clean(char *buf, size_t size, const unsigned char *s, size_t len)
{
	size_t at = strlen(buf);

	for (size_t i = 0; i < len && at + 1 < size; i++)
		buf[at++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	buf[at] = '\0';
}

static void
name_cn(const X509_NAME *name, char *buf, size_t size)
{
	int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	const ASN1_STRING *s;

	buf[0] = '\0';
	if (i < 0) {
		snprintf(buf, size, "(no common name)");
		return;
	}
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	append_clean(buf, size, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
}

static void
time_text(const ASN1_TIME *at, char *buf, size_t size)
{
	struct tm tm;

	if (!at || ASN1_TIME_to_tm(at, &tm) != 1 ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "unknown");
}

/* The names a certificate is for: DNS and IP subject alternative names,
 * else its common name. */
static void
cert_names(X509 *cert, char *buf, size_t size)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n = sans ? sk_GENERAL_NAME_num(sans) : 0;

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		char ip[INET6_ADDRSTRLEN] = "";

		if (g->type == GEN_DNS) {
			if (buf[0])
				append_clean(buf, size, (const unsigned char *)", ", 2);
			append_clean(buf, size, ASN1_STRING_get0_data(g->d.dNSName),
				     (size_t)ASN1_STRING_length(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			int len = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);

			if (len == 4 || len == 16)
				inet_ntop(len == 4 ? AF_INET : AF_INET6, a, ip, sizeof(ip));
			if (!ip[0])
				continue;
			if (buf[0])
				append_clean(buf, size, (const unsigned char *)", ", 2);
			append_clean(buf, size, (const unsigned char *)ip, strlen(ip));
		}
	}
	GENERAL_NAMES_free(sans);
	if (!buf[0])
		name_cn(X509_get_subject_name(cert), buf, size);
}

static int
spki_sha256(X509 *cert, uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned char *der = NULL;
	unsigned int md_len = 0;
	int len, r = 0;

	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0 || !EVP_Digest(der, (size_t)len, out, &md_len, EVP_sha256(), NULL) ||
	    md_len != CRYPTO_SHA256_LEN)
		r = -EIO;
	OPENSSL_free(der);
	return r;
}

/* What OpenSSL's chain check refused, in an admin's words. */
static void
describe_error(struct tls *t, int err, int depth, X509 *cert)
{
	const char *what =
		depth == 0 ? "server certificate" : "CA certificate in the broker's chain";
	char text[NAMES_MAX], when[40];

	if (!cert) {
		fail(t, "TLS: server certificate refused: %s", X509_verify_cert_error_string(err));
		return;
	}
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		time_text(X509_get0_notAfter(cert), when, sizeof(when));
		name_cn(X509_get_subject_name(cert), text, sizeof(text));
		fail(t, "TLS: %s '%s' expired (notAfter %s)", what, text, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		time_text(X509_get0_notBefore(cert), when, sizeof(when));
		name_cn(X509_get_subject_name(cert), text, sizeof(text));
		fail(t, "TLS: %s '%s' not valid before %s (is the board's clock right?)", what,
		     text, when);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		/* at depth 0 or at the top of the chain the broker sent: the
		 * chain ends in a CA we were not told to trust */
		name_cn(X509_get_issuer_name(cert), text, sizeof(text));
		if (t->cafile)
			fail(t,
			     "TLS: server certificate (issuer '%s') not signed by a CA in cafile "
			     "%s",
			     text, t->cafile);
		else
			fail(t,
			     "TLS: server certificate (issuer '%s') not signed by a CA in the "
			     "system store %s",
			     text, SYSTEM_CA_PATH);
		break;
	default:
		fail(t, "TLS: %s refused: %s", what, X509_verify_cert_error_string(err));
		break;
	}
}

/* The host name and the pin, on the broker's own certificate once its
 * chain is good. Same rule as libmosquitto's own callback: a name or IP
 * literal matches a subject alternative name, else the common name. */
static bool
check_leaf(struct tls *t, X509_STORE_CTX *xs, X509 *cert)
{
	uint8_t got[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	char names[NAMES_MAX];

	if (X509_check_ip_asc(cert, t->host, 0) != 1 &&
	    X509_check_host(cert, t->host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
		cert_names(cert, names, sizeof(names));
		fail(t, "TLS: server certificate is for %s, not %s", names, t->host);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
		return false;
	}
	if (!t->has_pin)
		return true;
	if (spki_sha256(cert, got) < 0) {
		fail(t, "TLS: cannot hash the server's public key for mqtt.tls_pin");
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return false;
	}
	if (!crypto_equal(got, t->pin, sizeof(got))) {
		crypto_hex(got, sizeof(got), hex);
		fail(t, "TLS: public-key pin mismatch: server key sha256 %s is not mqtt.tls_pin",
		     hex);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return false;
	}
	return true;
}

static struct tls *
tls_of_store_ctx(X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());

	return ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
}

/* Called for each certificate of the chain, the broker's own (depth 0)
 * last; returning 0 ends the handshake before we send anything. */
static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	struct tls *t = tls_of_store_ctx(xs);
	X509 *cert = X509_STORE_CTX_get_current_cert(xs);
	int depth = X509_STORE_CTX_get_error_depth(xs);

	if (!t)
		return 0;
	if (!ok) {
		describe_error(t, X509_STORE_CTX_get_error(xs), depth, cert);
		return 0;
	}
	if (depth == 0 && cert && !check_leaf(t, xs, cert))
		return 0;
	return 1;
}

/* A fatal alert from the broker: it refused us (a client certificate it
 * does not trust, no common protocol version...). */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	int desc = ret & 0xff;
	const char *text;

	if (!t || !(where & SSL_CB_READ_ALERT) || (ret >> 8) != SSL3_AL_FATAL)
		return;
	/* OpenSSL 3.0 has no words for TLS 1.3's certificate_required */
	text = desc == TLS13_AD_CERTIFICATE_REQUIRED ? "certificate required"
						     : SSL_alert_desc_string_long(ret);
	if (desc == TLS13_AD_CERTIFICATE_REQUIRED || desc == SSL3_AD_BAD_CERTIFICATE ||
	    desc == TLS1_AD_UNKNOWN_CA || desc == SSL3_AD_CERTIFICATE_EXPIRED)
		fail(t,
		     "TLS: the broker ended the handshake: %s (our client certificate: "
		     "mqtt.certfile)",
		     text);
	else if (strcmp(text, "unknown") == 0)
		fail(t, "TLS: the broker ended the handshake: alert %d", desc);
	else
		fail(t, "TLS: the broker ended the handshake: %s", text);
}

/* --- life cycle ----------------------------------------------------------- */

/* Why OpenSSL could not use a file, for the one error line an admin gets. */
static const char *
openssl_reason(void)
{
	const char *why = ERR_reason_error_string(ERR_peek_last_error());

	return why ? why : "not a usable PEM file";
}

/* A file the config names but we cannot read is said with its key. */
static int
readable(const char *key, const char *path)
{
	if (!path || access(path, R_OK) == 0)
		return 0;
	int r = -errno;

	log_error("TLS: cannot read %s %s: %s", key, path, strerror(-r));
	return r;
}

static int
load_files(SSL_CTX *ctx, const struct tls_config *cfg)
{
	const char *cafile = cfg->cafile && *cfg->cafile ? cfg->cafile : NULL;
	const char *certfile = cfg->certfile && *cfg->certfile ? cfg->certfile : NULL;
	const char *keyfile = cfg->keyfile && *cfg->keyfile ? cfg->keyfile : NULL;
	int r;

	if (!certfile != !keyfile)
		return -EINVAL;
	if ((r = readable("mqtt.cafile", cafile)) < 0 ||
	    (r = readable("mqtt.certfile", certfile)) < 0 ||
	    (r = readable("mqtt.keyfile", keyfile)) < 0)
		return r;
	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(ctx, cafile, cafile ? NULL : SYSTEM_CA_PATH) != 1) {
		log_error("TLS: cannot load CA certificates from %s: %s",
			  cafile ? cafile : SYSTEM_CA_PATH, openssl_reason());
		return -EINVAL;
	}
	if (certfile && SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1) {
		log_error("TLS: cannot load the client certificate mqtt.certfile %s: %s", certfile,
			  openssl_reason());
		return -EINVAL;
	}
	if (keyfile && (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1 ||
			SSL_CTX_check_private_key(ctx) != 1)) {
		log_error("TLS: cannot use the client key mqtt.keyfile %s (or it is not the "
			  "certificate's key): %s",
			  keyfile, openssl_reason());
		return -EINVAL;
	}
	return 0;
}

struct tls *
tls_new(const struct tls_config *cfg, int *err)
{
	struct tls *t;
	int r = -EINVAL;

	if (!cfg || !cfg->host || !*cfg->host)
		goto fail_early;
	r = -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto fail_early;
	t->host = strdup(cfg->host);
	t->cafile = cfg->cafile && *cfg->cafile ? strdup(cfg->cafile) : NULL;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->host || (cfg->cafile && *cfg->cafile && !t->cafile) || !t->ctx)
		goto fail;
	t->has_pin = cfg->pin != NULL;
	if (t->has_pin)
		memcpy(t->pin, cfg->pin, sizeof(t->pin));

	/* what libmosquitto's defaults did: TLS >= 1.2, no compression */
	r = -EINVAL;
	if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	r = load_files(t->ctx, cfg);
	if (r < 0)
		goto fail;
	SSL_CTX_set_app_data(t->ctx, t);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_info_callback(t->ctx, info_cb);
	ERR_clear_error();
	return t;

fail:
	ERR_clear_error();
	tls_free(t);
fail_early:
	if (err)
		*err = r;
	return NULL;
}

void
tls_free(struct tls *t)
{
	if (!t)
		return;
	if (t->ctx) {
		/* libmosquitto may hold the context a little longer: it must
		 * not find a freed tls behind it */
		SSL_CTX_set_app_data(t->ctx, NULL);
		SSL_CTX_free(t->ctx);
	}
	free(t->host);
	free(t->cafile);
	free(t);
}

void *
tls_ssl_ctx(struct tls *t)
{
	return t ? t->ctx : NULL;
}

void
tls_attempt(struct tls *t)
{
	if (t)
		t->failure[0] = '\0';
}

bool
tls_failure(const struct tls *t, char *buf, size_t size)
{
	if (!t || !t->failure[0])
		return false;
	snprintf(buf, size, "%s", t->failure);
	return true;
}
