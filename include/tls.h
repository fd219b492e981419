/* tls: the client TLS context for the broker connection (OpenSSL's libssl;
 * with crypto.c the only files that include OpenSSL headers).
 *
 * mqtt.c hands the context to libmosquitto (MOSQ_OPT_SSL_CTX, without the
 * library's defaults), so the certificate checks run in our verify callback:
 * the chain against cafile (or the system store), the broker's host name
 * and the optional public-key pin, all during the handshake, before any
 * MQTT packet (and so before a password) is sent. The first failure of a
 * handshake is kept in words for the disconnect log line.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls;

struct tls_config {
	const char *host;     /* the name or IP literal the certificate must be for */
	const char *cafile;   /* NULL: the system store (/etc/ssl/certs) */
	const char *certfile; /* client certificate (chain) and key, PEM; */
	const char *keyfile;  /* both or neither */
	const uint8_t *pin;   /* NULL, or SHA-256 of the broker's public key (DER SPKI) */
};

/* Loads the files into a new context. NULL with *err: -ENOMEM, -EINVAL (a
 * file OpenSSL cannot use, or a certificate without its key). */
struct tls *tls_new(const struct tls_config *cfg, int *err);
/* NULL-safe. libmosquitto holds its own reference to the SSL_CTX. */
void tls_free(struct tls *t);

/* The OpenSSL SSL_CTX * for mosquitto_void_option(MOSQ_OPT_SSL_CTX). */
void *tls_ssl_ctx(struct tls *t);

/* A new handshake starts: forgets the previous failure. */
void tls_attempt(struct tls *t);
/* Why the current handshake failed, as one line ("TLS: server certificate
 * expired (notAfter ...)"), into buf; false if our checks found nothing
 * (the failure, if any, came from elsewhere). */
bool tls_failure(const struct tls *t, char *buf, size_t size);
