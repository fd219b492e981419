/* mqtt: the broker connection, libmosquitto driven from our own loop
 * (the only file that includes <mosquitto.h>).
 *
 * Connects asynchronously (never a blocking connect in the loop), MQTT 5 by
 * default with a session-expiry property so the broker keeps our session and
 * QoS 1 events while we are away, or 3.1.1 with clean_session=false.
 * Reconnects with exponential backoff and jitter from 1 s to 60 s,
 * resubscribes on every connect, sets a retained will, TCP_NODELAY.
 * Publishing while disconnected is refused (-ENOTCONN): durable records go
 * through the store's outbox instead of libmosquitto's in-memory queue.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct mqtt;

struct mqtt_config {
	const char *host;
	int port;
	bool v5; /* false: MQTT 3.1.1 */
	const char *client_id;
	unsigned keepalive_s;
	const char *username; /* NULL: none */
	const char *password; /* NULL: none */
	bool tls;
	const char *cafile, *certfile, *keyfile;
	/* NULL, or the SHA-256 of the broker certificate's public key: any
	 * other key fails the TLS handshake, before CONNECT (with the
	 * password) is sent. */
	const uint8_t *tls_pin;
	uint32_t session_expiry_s; /* v5 */
	const char *will_topic;    /* retained, QoS 1 */
	const char *will_payload;
	const char *const *subscriptions; /* QoS 1 */
	size_t n_subscriptions;
	/* The last n_command_subscriptions of them carry admin commands:
	 * with MQTT 5 they are subscribed "retain as published" and "never
	 * send retained", so a retained command is never replayed at
	 * subscribe time and a live one arrives marked retained (refusable). */
	size_t n_command_subscriptions;
	size_t max_inflight; /* QoS 1 messages in flight */
};

/* Properties of a received message that matter to us. */
struct mqtt_message {
	const char *topic;
	const void *payload;
	size_t len;
	bool retained;
	int qos;
	const char *response_topic; /* v5, NULL if none */
	const void *correlation;    /* v5, NULL if none */
	size_t correlation_len;
};

/* Callbacks; arguments are valid until the callback returns. */
struct mqtt_callbacks {
	void (*connected)(void *userdata, bool session_present);
	/* `reason` is a short text ("connection refused", "keepalive
	 * timeout"); `retry_in_usec` is when the next attempt is due. */
	void (*disconnected)(void *userdata, const char *reason, uint64_t retry_in_usec);
	void (*message)(void *userdata, const struct mqtt_message *msg);
	/* A QoS 1 publish was acknowledged (ok) or refused by the broker. */
	void (*published)(void *userdata, int mid, bool ok);
	/* The broker's SUBACK refused `filter` (its ACL, usually); `reason`
	 * is its reason code in words. Once per filter and connection. */
	void (*subscription_refused)(void *userdata, const char *filter, const char *reason);
};

/* Copies what it needs from `cfg`. Returns NULL with *err set. */
struct mqtt *mqtt_new(struct loop *loop, const struct mqtt_config *cfg,
		      const struct mqtt_callbacks *cb, void *userdata, int *err);
/* Disconnects (no will) and frees. NULL-safe. */
void mqtt_free(struct mqtt *m);

/* Starts connecting in the background. */
int mqtt_start(struct mqtt *m);

/* Publishes; `*mid` (may be NULL) receives the message id for QoS 1.
 * -ENOTCONN while disconnected, -EMSGSIZE if too big, -EINVAL for a bad
 * topic or qos, -EIO otherwise. */
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos,
		 bool retain, int *mid);
/* Publishes a reply on a v5 response topic with correlation data. */
int mqtt_publish_reply(struct mqtt *m, const char *topic, const void *correlation,
		       size_t correlation_len, const void *payload, size_t len);

bool mqtt_connected(const struct mqtt *m);
/* QoS 1 messages sent but not yet acknowledged. */
size_t mqtt_inflight(const struct mqtt *m);
unsigned mqtt_reconnects(const struct mqtt *m);
/* The filters the broker refused since the last CONNACK: their number,
 * the first `max` of them into `filters` (may be NULL; valid until the
 * next mqtt call). */
size_t mqtt_refused_subscriptions(const struct mqtt *m, const char **filters, size_t max);

/* Clean stop: publishes `payload` retained QoS 1 on `topic` (e.g. status
 * offline), waits up to timeout_usec for its PUBACK by pumping the socket,
 * then disconnects so the broker does not send the will. */
void mqtt_stop(struct mqtt *m, const char *topic, const char *payload, uint64_t timeout_usec);

/* The reconnect delay after `failures` failed attempts in a row (0: the
 * first retry): 1 s doubling to 60 s, scaled by 0.8..1.2 from `rnd`, never
 * above 60 s. Exposed for tests. */
uint64_t mqtt_backoff_usec(unsigned failures, uint32_t rnd);

/* How often the keepalive housekeeping (PINGREQ due, PINGRESP or CONNACK
 * overdue) runs: a fifth of `keepalive_s`, at least 1 s. Exposed for
 * tests. */
uint64_t mqtt_misc_interval_usec(int keepalive_s);

/* Whether `topic` matches subscription `filter` (+ and # wildcards). */
bool mqtt_topic_matches(const char *filter, const char *topic);
