/* mqtt: libmosquitto 2.0 driven from our own event loop (see mqtt.h and
 * docs/mqtt.md). The only file that includes <mosquitto.h>.
 *
 * libmosquitto reconnects by itself only inside loop_forever/loop_start, so
 * this file owns the connection life cycle: asynchronous connects from a
 * timer, the socket in the loop (a new fd on every connect), loop_misc every
 * fifth of the keepalive (mqtt_misc_interval_usec), and its own backoff with
 * jitter.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "timeutil.h"
#include "tls.h"

#define MISC_MIN_USEC            USEC_PER_SEC
#define MISC_PER_KEEPALIVE       5
#define BACKOFF_MIN_USEC         USEC_PER_SEC
#define BACKOFF_MAX_USEC         (60 * USEC_PER_SEC)
#define BACKOFF_MAX_SHIFT        6 /* 1 s << 6 = 64 s, above the cap */
#define DEFAULT_KEEPALIVE_S      30
#define MIN_KEEPALIVE_S          5 /* libmosquitto refuses 1..4 */
#define DEFAULT_MAX_INFLIGHT     20
#define RECEIVE_MAXIMUM          256
#define DEFAULT_SESSION_EXPIRY_S (7 * 24 * 3600)
#define DISCONNECT_PUMP_USEC     (500 * USEC_PER_MSEC)
#define PUMP_SLICE_MS            50
#define MID_SPACE                65536 /* message ids are 16 bit */
#define REASON_MAX               384
#define READ_BATCH               32 /* packets read per wake-up, at most */

enum mqtt_state {
	MQTT_IDLE,       /* not started, or stopped */
	MQTT_WAITING,    /* retry timer armed */
	MQTT_CONNECTING, /* socket open, no CONNACK yet */
	MQTT_CONNECTED,
};

struct mqtt {
	struct loop *loop;
	struct mosquitto *mosq;
	struct mqtt_callbacks cb;
	void *userdata;

	char *host;
	int port;
	bool v5;
	bool tls;
	int keepalive_s;
	char **subs;
	size_t n_subs;
	size_t n_cmd_subs; /* the last ones in subs */
	/* the two SUBSCRIBEs of this connection (plain, command filters):
	 * a SUBACK's codes are in the order of its own SUBSCRIBE */
	int sub_mid, cmd_sub_mid;
	bool *sub_refused; /* per filter in subs, since the last CONNACK */

	enum mqtt_state state;
	bool stopping;       /* mqtt_stop()/free(): no retries, no callbacks */
	bool lib_ref;        /* holds one mosquitto_lib_init() */
	bool attempted;      /* later attempts use reconnect_async */
	unsigned failures;   /* failed attempts since the last CONNACK */
	unsigned connects;   /* successful CONNACKs */
	int sock_errno;      /* SO_ERROR of a failed connect */
	char refusal[96];    /* CONNACK refusal, for the disconnect after it */
	struct tls *tls_ctx; /* our certificate checks, NULL without TLS */

	struct loop_io io;
	int watched_fd; /* -1: not watching */
	uint32_t watched_events;
	/* TLS handshake waiting for the broker: libmosquitto >= 2.0.16 wants
	 * to write all along (m#3745), POLLOUT would spin until it answers */
	bool out_idle;
	struct loop_timer connect_timer;
	struct loop_timer misc_timer;

	size_t inflight;
	uint64_t qos_mids[MID_SPACE / 64]; /* our QoS>0 publishes awaiting ack */
	int stop_mid;                      /* mqtt_stop()'s status publish, 0: none */
	bool stop_acked;
};

/* mosquitto_lib_init/cleanup are process-wide; the daemon is one thread. */
static unsigned lib_refs;

/* --- small helpers --------------------------------------------------------- */

static char *
dup_or_null(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

/* "Connection refused." -> "connection refused": reasons are embedded in
 * longer log lines by the caller. */
static void
reason_copy(char *buf, size_t size, const char *prefix, const char *text)
{
	size_t len;
	int n;

	n = snprintf(buf, size, "%s%s", prefix, text ? text : "unknown error");
	if (n < 0 || size == 0)
		return;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '.')
		buf[--len] = '\0';
	if (strlen(prefix) >= len)
		return;
	len = strlen(prefix);
	if (buf[len] >= 'A' && buf[len] <= 'Z' && !(buf[len + 1] >= 'A' && buf[len + 1] <= 'Z'))
		buf[len] = (char)(buf[len] - 'A' + 'a');
}

static uint32_t
random_u32(void)
{
	static uint32_t state;
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* Early boot without entropy yet: jitter only has to differ
	 * between boards, not be secret. */
	if (state == 0)
		state = (uint32_t)time_mono_usec() ^ ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
	state ^= state << 13;
	state ^= state >> 17;
	state ^= state << 5;
	return state;
}

uint64_t
mqtt_backoff_usec(unsigned failures, uint32_t rnd)
{
	unsigned shift = failures < BACKOFF_MAX_SHIFT ? failures : BACKOFF_MAX_SHIFT;
	uint64_t base = BACKOFF_MIN_USEC << shift;
	uint64_t delay;

	if (base > BACKOFF_MAX_USEC)
		base = BACKOFF_MAX_USEC;
	/* ±20 %: boards that lost the same broker don't come back in step */
	delay = base * (800000u + rnd % 400001u) / 1000000u;
	return delay > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : delay;
}

uint64_t
mqtt_misc_interval_usec(int keepalive_s)
{
	uint64_t usec;

	/* loop_misc only acts once a whole keepalive has passed without
	 * traffic (PINGREQ due) or since the PINGREQ (PINGRESP overdue), in
	 * whole seconds: checking five times per keepalive is at most a fifth
	 * late, and an idle board sleeps 6 s at the default 30 s, not 1 s. */
	if (keepalive_s <= 0)
		return MISC_MIN_USEC;
	usec = (uint64_t)keepalive_s * USEC_PER_SEC / MISC_PER_KEEPALIVE;
	return usec < MISC_MIN_USEC ? MISC_MIN_USEC : usec;
}

static bool
mid_take(struct mqtt *m, int mid)
{
	uint64_t bit;

	if (mid <= 0 || mid >= MID_SPACE)
		return false;
	bit = UINT64_C(1) << (mid % 64);
	if (!(m->qos_mids[mid / 64] & bit))
		return false;
	m->qos_mids[mid / 64] &= ~bit;
	return true;
}

static void
mid_put(struct mqtt *m, int mid)
{
	if (mid <= 0 || mid >= MID_SPACE)
		return;
	if (!(m->qos_mids[mid / 64] & (UINT64_C(1) << (mid % 64))))
		m->inflight++;
	m->qos_mids[mid / 64] |= UINT64_C(1) << (mid % 64);
}

static int
publish_errno(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return 0;
	case MOSQ_ERR_NO_CONN:
		return -ENOTCONN;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return -EMSGSIZE;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
	case MOSQ_ERR_QOS_NOT_SUPPORTED:
	case MOSQ_ERR_RETAIN_NOT_SUPPORTED:
		return -EINVAL;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* --- the socket in the loop ----------------------------------------------- */

static void
unwatch(struct mqtt *m)
{
	if (m->watched_fd < 0)
		return;
	loop_io_unwatch(m->loop, &m->io);
	m->watched_fd = -1;
	m->watched_events = 0;
}

/* Called after every library call: the socket may be new or gone, and
 * packets queued inside callbacks are only written on POLLOUT. */
static void
sync_watch(struct mqtt *m)
{
	int fd = mosquitto_socket(m->mosq);
	uint32_t events;
	int r;

	/* While waiting to retry, a socket the library still holds (a failed
	 * attempt) is not ours to read: reconnect_async closes it. */
	if (fd < 0 || (m->state != MQTT_CONNECTING && m->state != MQTT_CONNECTED)) {
		unwatch(m);
		return;
	}
	events = EPOLLIN;
	if (mosquitto_want_write(m->mosq) &&
	    !(m->tls && m->state == MQTT_CONNECTING && m->out_idle))
		events |= EPOLLOUT;
	if (fd == m->watched_fd && events == m->watched_events)
		return;
	if (fd != m->watched_fd)
		unwatch(m);
	r = loop_io_watch(m->loop, &m->io, fd, events);
	if (r < 0) {
		/* e.g. a stale registration of a recycled fd number */
		loop_io_unwatch(m->loop, &m->io);
		r = loop_io_watch(m->loop, &m->io, fd, events);
	}
	if (r < 0) {
		log_debug("mqtt: cannot watch socket %d: %s", fd, strerror(-r));
		m->watched_fd = -1;
		return;
	}
	m->watched_fd = fd;
	m->watched_events = events;
}

static void
schedule_retry(struct mqtt *m, const char *reason)
{
	uint64_t delay;

	if (m->stopping || m->state == MQTT_IDLE || m->state == MQTT_WAITING)
		return;
	m->state = MQTT_WAITING;
	unwatch(m);
	loop_timer_disarm(m->loop, &m->misc_timer);
	delay = mqtt_backoff_usec(m->failures, random_u32());
	if (m->failures < UINT_MAX)
		m->failures++;
	loop_timer_arm(m->loop, &m->connect_timer, loop_now_usec(m->loop) + delay);
	log_debug("mqtt: %s:%d: %s, retrying in %llu ms", m->host, m->port, reason,
		  (unsigned long long)(delay / USEC_PER_MSEC));
	if (m->cb.disconnected)
		m->cb.disconnected(m->userdata, reason, delay);
}

static void
errno_reason(char *buf, size_t size, int err)
{
	char tmp[128];

	if (err == 0) {
		snprintf(buf, size, "connection failed");
		return;
	}
	reason_copy(buf, size, "", strerror_r(err, tmp, sizeof(tmp)));
}

/* Turns an on_disconnect / sync failure code into words. The code mixes
 * namespaces: MOSQ_ERR_* for local errors, MQTT v5 reason codes (>= 0x80)
 * when the broker sent DISCONNECT. */
static void
disconnect_reason(struct mqtt *m, int rc, int err, char *buf, size_t size)
{
	/* A certificate our checks refused is the cause, whatever code the
	 * library's read or write path turned it into. */
	if (m->state == MQTT_CONNECTING && tls_failure(m->tls_ctx, buf, size))
		return;
	if (m->refusal[0]) {
		snprintf(buf, size, "%s", m->refusal);
	} else if (m->sock_errno) {
		errno_reason(buf, size, m->sock_errno);
	} else if (rc >= 0x80) {
		reason_copy(buf, size,
			    "broker closed the connection: ", mosquitto_reason_string(rc));
	} else {
		switch (rc) {
		case MOSQ_ERR_KEEPALIVE:
			/* 2.0.11's mosquitto_strerror(19) says "Unknown error." */
			snprintf(buf, size, "keepalive timeout (no answer from broker)");
			break;
		case MOSQ_ERR_CONN_LOST:
			snprintf(buf, size, "connection lost");
			break;
		case MOSQ_ERR_ERRNO:
			errno_reason(buf, size, err);
			break;
		case MOSQ_ERR_EAI:
			snprintf(buf, size, "cannot resolve host '%s'", m->host);
			break;
		case MOSQ_ERR_TLS:
		case MOSQ_ERR_TLS_HANDSHAKE:
			snprintf(buf, size, "TLS handshake failed");
			break;
		case MOSQ_ERR_PROTOCOL:
			snprintf(buf, size, "protocol error");
			break;
		default:
			reason_copy(buf, size, "", mosquitto_strerror(rc));
			break;
		}
	}
}

/* 2.0.11 closes the socket without calling on_disconnect on some paths
 * (a TLS handshake refused inside loop_read returns MOSQ_ERR_TLS): don't
 * wait for a callback that never comes. */
static void
check_socket(struct mqtt *m, int rc, int err)
{
	char reason[REASON_MAX];

	if (m->stopping || (m->state != MQTT_CONNECTING && m->state != MQTT_CONNECTED) ||
	    mosquitto_socket(m->mosq) >= 0)
		return;
	disconnect_reason(m, rc > 0 ? rc : MOSQ_ERR_CONN_LOST, err, reason, sizeof(reason));
	schedule_retry(m, reason);
}

static void
arm_misc(struct mqtt *m)
{
	loop_timer_arm(m->loop, &m->misc_timer,
		       loop_now_usec(m->loop) + mqtt_misc_interval_usec(m->keepalive_s));
}

static void
attempt(struct loop *loop, void *userdata)
{
	struct mqtt *m = userdata;
	char reason[REASON_MAX];
	int rc;

	(void)loop;
	if (m->stopping || m->state != MQTT_WAITING)
		return;
	m->state = MQTT_CONNECTING;
	m->refusal[0] = '\0';
	m->sock_errno = 0;
	m->out_idle = false;
	tls_attempt(m->tls_ctx);
	/* the library closes the old socket and may reuse its number */
	unwatch(m);
	errno = 0;
	if (!m->attempted)
		rc = mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive_s);
	else
		rc = mosquitto_reconnect_async(m->mosq);
	if (rc != MOSQ_ERR_INVAL && rc != MOSQ_ERR_NOMEM)
		m->attempted = true;
	if (rc != MOSQ_ERR_SUCCESS) {
		/* a synchronous failure (DNS, unreachable, refused on loopback)
		 * comes without on_disconnect */
		disconnect_reason(m, rc, errno, reason, sizeof(reason));
		schedule_retry(m, reason);
		sync_watch(m);
		return;
	}
	log_debug("mqtt: connecting to %s:%d", m->host, m->port);
	arm_misc(m);
	sync_watch(m);
}

static void
misc_tick(struct loop *loop, void *userdata)
{
	struct mqtt *m = userdata;
	int rc = MOSQ_ERR_CONN_LOST;

	(void)loop;
	/* keepalive; before CONNACK it is also the connect timeout */
	if (mosquitto_socket(m->mosq) >= 0)
		rc = mosquitto_loop_misc(m->mosq);
	check_socket(m, rc, errno);
	if (mosquitto_socket(m->mosq) >= 0 &&
	    (m->state == MQTT_CONNECTING || m->state == MQTT_CONNECTED))
		arm_misc(m);
	sync_watch(m);
}

/* EPOLLERR/EPOLLHUP before CONNACK (refused, reset, TLS refused): the fd
 * stays "ready" for ever, so reading and writing in turn would spin. */
static void
connect_failed(struct mqtt *m, int fd)
{
	socklen_t len = sizeof(m->sock_errno);
	char reason[REASON_MAX];
	int rc;

	m->sock_errno = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &m->sock_errno, &len) < 0)
		m->sock_errno = 0;
	unwatch(m);
	/* lets the library see the error, close and call on_disconnect */
	rc = mosquitto_loop_read(m->mosq, 1);
	check_socket(m, rc, errno);
	if (m->state == MQTT_CONNECTING) {
		/* it kept the socket: reconnect_async will close it */
		disconnect_reason(m, MOSQ_ERR_CONN_LOST, 0, reason, sizeof(reason));
		schedule_retry(m, reason);
	}
	m->sock_errno = 0;
}

/* mosquitto_loop_read() usually takes one packet (2.0.x: as many as it
 * has QoS 1/2 messages queued, at least one). When more wait in the socket
 * (a burst), taking up to READ_BATCH of them in this wake-up saves a loop
 * round each (epoll, timers, the daemon's update step) and lets the daemon
 * commit them together. Bounded, so the lines are written soon after the
 * first of them. With TLS, bytes in the socket may not yet make a record:
 * the read then takes nothing and the next FIONREAD says 0. */
static void
read_more(struct mqtt *m, int fd)
{
	for (int i = 1; i < READ_BATCH; i++) {
		int avail = 0;
		int rc;

		if (m->state != MQTT_CONNECTED || mosquitto_socket(m->mosq) != fd)
			return;
		if (ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0)
			return;
		rc = mosquitto_loop_read(m->mosq, 1);
		check_socket(m, rc, errno);
	}
}

static void
on_io(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct mqtt *m = userdata;
	int rc;

	(void)loop;
	if (fd != mosquitto_socket(m->mosq)) {
		unwatch(m);
		sync_watch(m);
		return;
	}
	if (m->state == MQTT_CONNECTING && (revents & (EPOLLERR | EPOLLHUP))) {
		connect_failed(m, fd);
		sync_watch(m);
		return;
	}
	/* The broker answered the handshake: libmosquitto >= 2.0.16 drives
	 * SSL_connect from the write path (its read path would report a
	 * refused certificate as a protocol error), 2.0.11 from the read
	 * path; the POLLOUT step below does both. */
	if (m->tls && m->state == MQTT_CONNECTING && (revents & EPOLLIN) &&
	    mosquitto_want_write(m->mosq))
		revents = (revents & ~(uint32_t)EPOLLIN) | EPOLLOUT;
	if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		m->out_idle = false; /* the broker answered: the handshake moves on */
		rc = mosquitto_loop_read(m->mosq, 1);
		check_socket(m, rc, errno);
		read_more(m, fd);
	}
	if ((revents & EPOLLOUT) && mosquitto_socket(m->mosq) == fd) {
		rc = mosquitto_loop_write(m->mosq, 1);
		check_socket(m, rc, errno);
		/* 2.0.11 drives SSL_connect from the read path only */
		if (m->tls && m->state == MQTT_CONNECTING && mosquitto_socket(m->mosq) == fd) {
			rc = mosquitto_loop_read(m->mosq, 1);
			check_socket(m, rc, errno);
			/* what could be written is; the rest waits for the broker */
			m->out_idle = true;
		}
	}
	sync_watch(m);
}

/* --- libmosquitto callbacks ------------------------------------------------ */

static void
subscribe_all(struct mqtt *m)
{
	int rc;

	if (m->n_subs == 0)
		return;
	/* One SUBSCRIBE for all; the broker keeps the session, but after a
	 * broker restart it has forgotten it (session_present = 0). */
	size_t n_plain = m->n_subs - m->n_cmd_subs;
	m->sub_mid = m->cmd_sub_mid = 0;
	memset(m->sub_refused, 0, m->n_subs * sizeof(*m->sub_refused));
	if (n_plain) {
		rc = mosquitto_subscribe_multiple(m->mosq, &m->sub_mid, (int)n_plain, m->subs, 1, 0,
						  NULL);
		if (rc != MOSQ_ERR_SUCCESS)
			log_debug("mqtt: subscribe failed: %s", mosquitto_strerror(rc));
	}
	if (m->n_cmd_subs) {
		int options =
			m->v5 ? MQTT_SUB_OPT_RETAIN_AS_PUBLISHED | MQTT_SUB_OPT_SEND_RETAIN_NEVER
			      : 0;

		rc = mosquitto_subscribe_multiple(m->mosq, &m->cmd_sub_mid, (int)m->n_cmd_subs,
						  m->subs + n_plain, 1, options, NULL);
		if (rc != MOSQ_ERR_SUCCESS)
			log_debug("mqtt: subscribe failed: %s", mosquitto_strerror(rc));
	}
}

static void
on_connect(struct mosquitto *mosq, void *userdata, int rc, int flags,
	   const mosquitto_property *props)
{
	struct mqtt *m = userdata;
	const char *what;

	(void)mosq;
	(void)props;
	if (rc != 0) {
		/* The library drops the connection right after this; the
		 * disconnect reports this reason instead of its own. */
		if ((!m->v5 && rc == CONNACK_REFUSED_NOT_AUTHORIZED) ||
		    (m->v5 && rc == MQTT_RC_NOT_AUTHORIZED))
			what = "not authorised";
		else if ((!m->v5 && rc == CONNACK_REFUSED_BAD_USERNAME_PASSWORD) ||
			 (m->v5 && rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD))
			what = "bad username or password";
		else
			what = m->v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
		reason_copy(m->refusal, sizeof(m->refusal), "connection refused: ", what);
		log_debug("mqtt: CONNACK %d: %s", rc, m->refusal);
		return;
	}
	if (m->stopping)
		return;
	m->state = MQTT_CONNECTED;
	m->failures = 0;
	m->connects++;
	m->refusal[0] = '\0';
	log_debug("mqtt: connected to %s:%d (session present: %d)", m->host, m->port, flags & 1);
	subscribe_all(m);
	if (m->cb.connected)
		m->cb.connected(m->userdata, flags & 1);
}

static void
on_disconnect(struct mosquitto *mosq, void *userdata, int rc, const mosquitto_property *props)
{
	struct mqtt *m = userdata;
	int err = errno;
	char reason[REASON_MAX];

	(void)mosq;
	(void)props;
	/* the library has closed the socket; its number may come back */
	unwatch(m);
	loop_timer_disarm(m->loop, &m->misc_timer);
	if (m->stopping || m->state == MQTT_IDLE) {
		m->state = MQTT_IDLE;
		return;
	}
	if (m->state == MQTT_WAITING)
		return;
	disconnect_reason(m, rc, err, reason, sizeof(reason));
	schedule_retry(m, reason);
}

static void
on_subscribe(struct mosquitto *mosq, void *userdata, int mid, int count, const int *granted,
	     const mosquitto_property *props)
{
	struct mqtt *m = userdata;
	size_t first, n;

	(void)mosq;
	(void)props;
	if (mid == 0 || m->stopping)
		return;
	if (mid == m->sub_mid) {
		first = 0;
		n = m->n_subs - m->n_cmd_subs;
	} else if (mid == m->cmd_sub_mid) {
		first = m->n_subs - m->n_cmd_subs;
		n = m->n_cmd_subs;
	} else {
		return; /* an earlier connection's */
	}
	/* A refused filter (ACL) gets a code >= 0x80 (MQTT 5: 0x87 "not
	 * authorised"; 3.1.1 only has 0x80 "failure"). A broker may also
	 * grant and then deliver nothing (mosquitto's acl_file does). */
	for (size_t i = 0; i < n && i < (size_t)count; i++) {
		const char *why;

		if (granted[i] < 0x80 || m->sub_refused[first + i])
			continue;
		m->sub_refused[first + i] = true;
		why = m->v5 ? mosquitto_reason_string(granted[i])
			    : "failure (MQTT 3.1.1 gives no reason)";
		log_debug("mqtt: broker refused subscription '%s' (0x%02x %s)", m->subs[first + i],
			  (unsigned)granted[i], why);
		if (m->cb.subscription_refused)
			m->cb.subscription_refused(m->userdata, m->subs[first + i], why);
	}
}

static void
on_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *msg,
	   const mosquitto_property *props)
{
	struct mqtt *m = userdata;
	struct mqtt_message mm = { 0 };
	char *response_topic = NULL;
	void *correlation = NULL;
	uint16_t correlation_len = 0;

	(void)mosq;
	if (!m->cb.message || !msg || !msg->topic)
		return;
	if (props) {
		/* both copy (and allocate); freed below */
		mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic,
					       false);
		mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &correlation,
					       &correlation_len, false);
	}
	mm.topic = msg->topic;
	mm.payload = msg->payload ? msg->payload : "";
	mm.len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	mm.retained = msg->retain;
	mm.qos = msg->qos;
	mm.response_topic = response_topic;
	mm.correlation = correlation;
	mm.correlation_len = correlation ? correlation_len : 0;
	m->cb.message(m->userdata, &mm);
	free(response_topic);
	free(correlation);
}

static void
on_publish(struct mosquitto *mosq, void *userdata, int mid, int reason_code,
	   const mosquitto_property *props)
{
	struct mqtt *m = userdata;
	bool ok = reason_code < 0x80; /* 0x10 "no matching subscribers" is fine */

	(void)mosq;
	(void)props;
	if (m->stop_mid && mid == m->stop_mid) {
		m->stop_acked = true;
		return;
	}
	/* QoS 0 publishes and replies also end up here: not ours to report */
	if (!mid_take(m, mid))
		return;
	if (m->inflight > 0)
		m->inflight--;
	if (!ok)
		log_debug("mqtt: broker refused message %d: %s", mid,
			  mosquitto_reason_string(reason_code));
	if (m->cb.published)
		m->cb.published(m->userdata, mid, ok);
}

/* --- set-up ---------------------------------------------------------------- */

/* libmosquitto 2.0 has no asynchronous connect that takes CONNECT
 * properties, and MQTT 5 needs a Session Expiry Interval for the broker to
 * keep our session (clean_session=false alone becomes "expiry 0").
 * mosquitto_connect_bind_v5() stores its properties in the client before it
 * checks the port, and connect_async/reconnect_async send the stored ones:
 * an invalid port stores them without any I/O. Relies on 2.0.x internals
 * (same in 2.0.11 and 2.0.20); test_mqtt's session test proves it. */
static int
set_session_expiry(struct mqtt *m, uint32_t expiry_s)
{
	mosquitto_property *props = NULL;
	int rc;

	if (mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, expiry_s))
		return -ENOMEM;
	rc = mosquitto_connect_bind_v5(m->mosq, m->host, -1, m->keepalive_s, NULL, props);
	mosquitto_property_free_all(&props);
	/* INVAL is the expected answer to port -1; anything else means the
	 * library changed under us */
	return rc == MOSQ_ERR_INVAL ? 0 : -EIO;
}

/* Our own SSL_CTX without libmosquitto's defaults: it only creates the
 * SSL from it and sets SNI, so the certificate checks (CA, host name, pin)
 * are tls.c's verify callback, which fails the handshake before CONNECT
 * (and the password in it) is sent, and says why. */
static int
setup_tls(struct mqtt *m, const struct mqtt_config *cfg)
{
	struct tls_config tc = {
		.host = m->host,
		.cafile = cfg->cafile,
		.certfile = cfg->certfile,
		.keyfile = cfg->keyfile,
		.pin = cfg->tls_pin,
	};
	int r = 0;

	m->tls_ctx = tls_new(&tc, &r);
	if (!m->tls_ctx)
		return r;
	/* the library takes its own reference */
	if (mosquitto_int_option(m->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0) != MOSQ_ERR_SUCCESS ||
	    mosquitto_void_option(m->mosq, MOSQ_OPT_SSL_CTX, tls_ssl_ctx(m->tls_ctx)) !=
		    MOSQ_ERR_SUCCESS)
		return -EINVAL;
	return 0;
}

static int
configure(struct mqtt *m, const struct mqtt_config *cfg)
{
	size_t max_inflight = cfg->max_inflight ? cfg->max_inflight : DEFAULT_MAX_INFLIGHT;
	int r;

	if (mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
				 m->v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311))
		return -EINVAL;
	/* small publishes after a PUBACK would otherwise wait for the
	 * broker's delayed ACK (up to 40 ms) */
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (max_inflight > 65535)
		max_inflight = 65535;
	mosquitto_int_option(m->mosq, MOSQ_OPT_SEND_MAXIMUM, (int)max_inflight);
	/* How many QoS 1 events the broker may send before our PUBACKs come
	 * back (MQTT 5; libmosquitto's default is 20). The board reads a burst
	 * 32 packets at a time (read_more()): a window of 20 can run dry
	 * between two reads and leave the broker waiting for the round trip.
	 * The PUBACK goes out on receipt either way, so a larger window loses
	 * nothing more in a crash. */
	mosquitto_int_option(m->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, RECEIVE_MAXIMUM);

	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	mosquitto_publish_v5_callback_set(m->mosq, on_publish);
	mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);

	if (cfg->will_topic && *cfg->will_topic) {
		size_t len;

		if (!cfg->will_payload)
			return -EINVAL;
		len = strlen(cfg->will_payload);
		if (len > INT_MAX)
			return -EMSGSIZE;
		if (mosquitto_will_set(m->mosq, cfg->will_topic, (int)len, cfg->will_payload, 1,
				       true) != MOSQ_ERR_SUCCESS)
			return -EINVAL;
	}
	if ((cfg->username && *cfg->username) &&
	    mosquitto_username_pw_set(m->mosq, cfg->username, cfg->password) != MOSQ_ERR_SUCCESS)
		return -EINVAL;
	if (cfg->tls && (r = setup_tls(m, cfg)) < 0)
		return r;
	if (m->v5) {
		r = set_session_expiry(m, cfg->session_expiry_s ? cfg->session_expiry_s
								: DEFAULT_SESSION_EXPIRY_S);
		if (r < 0)
			return r;
	}
	return 0;
}

struct mqtt *
mqtt_new(struct loop *loop, const struct mqtt_config *cfg, const struct mqtt_callbacks *cb,
	 void *userdata, int *err)
{
	struct mqtt *m;
	bool ok = true;
	int r = -EINVAL;

	if (!loop || !cfg || !cfg->host || !*cfg->host || !cfg->client_id || !*cfg->client_id ||
	    cfg->port < 0 || cfg->port > 65535 || (cfg->n_subscriptions && !cfg->subscriptions))
		goto fail_early;
	for (size_t i = 0; i < cfg->n_subscriptions; i++)
		if (!cfg->subscriptions[i] ||
		    mosquitto_sub_topic_check(cfg->subscriptions[i]) != MOSQ_ERR_SUCCESS)
			goto fail_early;
	if (cfg->n_subscriptions > INT_MAX || cfg->n_command_subscriptions > cfg->n_subscriptions)
		goto fail_early;

	r = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail_early;
	m->loop = loop;
	if (cb)
		m->cb = *cb;
	m->userdata = userdata;
	m->v5 = cfg->v5;
	m->tls = cfg->tls;
	m->port = cfg->port ? cfg->port : (cfg->tls ? 8883 : 1883);
	m->keepalive_s = cfg->keepalive_s ? (int)cfg->keepalive_s : DEFAULT_KEEPALIVE_S;
	if (m->keepalive_s < MIN_KEEPALIVE_S)
		m->keepalive_s = MIN_KEEPALIVE_S;
	if (cfg->keepalive_s > 65535)
		m->keepalive_s = 65535;
	m->watched_fd = -1;
	loop_io_init(&m->io, on_io, m);
	loop_timer_init(&m->connect_timer, attempt, m);
	loop_timer_init(&m->misc_timer, misc_tick, m);

	m->host = dup_or_null(cfg->host, &ok);
	if (cfg->n_subscriptions) {
		m->subs = calloc(cfg->n_subscriptions, sizeof(*m->subs));
		m->sub_refused = calloc(cfg->n_subscriptions, sizeof(*m->sub_refused));
		if (!m->subs || !m->sub_refused)
			ok = false;
		for (size_t i = 0; ok && i < cfg->n_subscriptions; i++, m->n_subs++)
			m->subs[i] = dup_or_null(cfg->subscriptions[i], &ok);
		m->n_cmd_subs = cfg->n_command_subscriptions;
	}
	if (!ok)
		goto fail;

	if (lib_refs++ == 0)
		mosquitto_lib_init();
	m->lib_ref = true;
	/* clean_session = false: the broker keeps our subscriptions and
	 * queues QoS 1 events while we are away (3.1.1; v5 needs expiry) */
	m->mosq = mosquitto_new(cfg->client_id, false, m);
	if (!m->mosq) {
		r = errno == EINVAL ? -EINVAL : -ENOMEM;
		goto fail;
	}
	r = configure(m, cfg);
	if (r < 0)
		goto fail;
	return m;

fail:
	mqtt_free(m);
fail_early:
	if (err)
		*err = r;
	return NULL;
}

/* --- life cycle ------------------------------------------------------------ */

int
mqtt_start(struct mqtt *m)
{
	if (!m)
		return -EINVAL;
	if (m->state != MQTT_IDLE)
		return 0;
	m->stopping = false;
	m->state = MQTT_WAITING;
	loop_timer_arm(m->loop, &m->connect_timer, loop_now_usec(m->loop));
	return 0;
}

/* Runs the socket by hand (mqtt_stop() runs outside the loop, e.g. after
 * SIGTERM) until `done` says so, the socket goes or the deadline passes. */
static void
pump(struct mqtt *m, uint64_t deadline_usec, bool (*done)(const struct mqtt *m))
{
	while (!done(m)) {
		uint64_t now = time_mono_usec();
		int fd = mosquitto_socket(m->mosq);
		struct pollfd pfd;
		uint64_t left_ms;
		int n;

		if (fd < 0 || now >= deadline_usec)
			break;
		left_ms = (deadline_usec - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
		pfd.fd = fd;
		pfd.events = POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0);
		pfd.revents = 0;
		n = poll(&pfd, 1, left_ms < PUMP_SLICE_MS ? (int)left_ms : PUMP_SLICE_MS);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
			mosquitto_loop_read(m->mosq, 1);
		if (n > 0 && (pfd.revents & POLLOUT) && mosquitto_socket(m->mosq) == fd)
			mosquitto_loop_write(m->mosq, 1);
		mosquitto_loop_misc(m->mosq);
	}
}

/* After writing DISCONNECT the library closes its socket at once. Closing
 * with unread input (a SUBACK or event on its way) makes the kernel answer
 * with RST, and the broker then drops what we wrote last (PUBACKs, the
 * DISCONNECT itself) and publishes the will. So we hold a duplicate of the
 * fd: the library's close() leaves the connection up, we send FIN and read
 * until the broker closes (or the deadline), then close for real. */
static void
linger_close(int fd, uint64_t deadline_usec)
{
	char buf[512];

	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = time_mono_usec();
		ssize_t n;

		if (now >= deadline_usec)
			break;
		n = poll(&pfd, 1, (int)((deadline_usec - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
	close(fd);
}

static bool
stop_publish_done(const struct mqtt *m)
{
	return m->stop_acked || m->state != MQTT_CONNECTED;
}

static bool
socket_closed(const struct mqtt *m)
{
	return mosquitto_socket(m->mosq) < 0;
}

void
mqtt_stop(struct mqtt *m, const char *topic, const char *payload, uint64_t timeout_usec)
{
	uint64_t deadline;

	if (!m)
		return;
	deadline = time_mono_usec() + timeout_usec;
	loop_timer_disarm(m->loop, &m->connect_timer);
	loop_timer_disarm(m->loop, &m->misc_timer);
	m->stopping = true;

	if (m->state == MQTT_CONNECTED && topic && payload && strlen(payload) <= INT_MAX) {
		int mid = 0;
		int rc = mosquitto_publish(m->mosq, &mid, topic, (int)strlen(payload), payload, 1,
					   true);

		if (rc == MOSQ_ERR_SUCCESS) {
			m->stop_mid = mid;
			m->stop_acked = false;
			pump(m, deadline, stop_publish_done);
			log_debug("mqtt: stop: status %s",
				  m->stop_acked ? "acknowledged" : "not acknowledged");
		}
	}
	if (m->state == MQTT_CONNECTED) {
		int fd = mosquitto_socket(m->mosq);
		int keep = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
		uint64_t d = time_mono_usec() + DISCONNECT_PUMP_USEC;

		/* The DISCONNECT is usually written at once; if not, give it a
		 * moment beyond the caller's budget rather than cause the will. */
		if (d < deadline)
			d = deadline;
		/* normal disconnection: the broker discards the will */
		if (m->v5)
			mosquitto_disconnect_v5(m->mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
		else
			mosquitto_disconnect(m->mosq);
		pump(m, d, socket_closed);
		if (keep >= 0 && socket_closed(m))
			linger_close(keep, d);
		else if (keep >= 0)
			close(keep);
	}
	m->state = MQTT_IDLE;
	m->stop_mid = 0;
	unwatch(m);
}

void
mqtt_free(struct mqtt *m)
{
	if (!m)
		return;
	if (m->mosq) {
		if (m->state == MQTT_CONNECTED)
			mqtt_stop(m, NULL, NULL, 0);
		m->stopping = true;
		m->state = MQTT_IDLE;
		unwatch(m);
		loop_timer_disarm(m->loop, &m->connect_timer);
		loop_timer_disarm(m->loop, &m->misc_timer);
		mosquitto_destroy(m->mosq);
	}
	tls_free(m->tls_ctx);
	if (m->lib_ref && --lib_refs == 0)
		mosquitto_lib_cleanup();
	for (size_t i = 0; i < m->n_subs; i++)
		free(m->subs[i]);
	free(m->subs);
	free(m->sub_refused);
	free(m->host);
	free(m);
}

/* --- publishing ------------------------------------------------------------ */

int
mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len, int qos,
	     bool retain, int *mid)
{
	int lmid = 0;
	int rc, r;

	if (!m || !topic || (!payload && len) || qos < 0 || qos > 2)
		return -EINVAL;
	/* Never hand the library a message while down: its queue lives in
	 * RAM, is unbounded and is resent after reconnect (duplicates of
	 * what the outbox resends). */
	if (m->state != MQTT_CONNECTED)
		return -ENOTCONN;
	if (len > INT_MAX)
		return -EMSGSIZE;
	rc = mosquitto_publish(m->mosq, &lmid, topic, (int)len, payload, qos, retain);
	r = publish_errno(rc);
	if (r == 0 && qos > 0)
		mid_put(m, lmid);
	if (r == 0 && mid)
		*mid = lmid;
	sync_watch(m);
	return r;
}

int
mqtt_publish_reply(struct mqtt *m, const char *topic, const void *correlation,
		   size_t correlation_len, const void *payload, size_t len)
{
	mosquitto_property *props = NULL;
	int rc;

	if (!m || !topic || (!payload && len) || (!correlation && correlation_len))
		return -EINVAL;
	if (m->state != MQTT_CONNECTED)
		return -ENOTCONN;
	if (len > INT_MAX || correlation_len > UINT16_MAX)
		return -EMSGSIZE;
	/* QoS 1: a requester waiting for its answer should not lose it to a
	 * dropped packet; replies are not tracked (no published callback). */
	if (m->v5) {
		if (correlation && correlation_len &&
		    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation,
						  (uint16_t)correlation_len) != MOSQ_ERR_SUCCESS)
			return -ENOMEM;
		rc = mosquitto_publish_v5(m->mosq, NULL, topic, (int)len, payload, 1, false, props);
		mosquitto_property_free_all(&props);
	} else {
		rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, 1, false);
	}
	sync_watch(m);
	return publish_errno(rc);
}

bool
mqtt_connected(const struct mqtt *m)
{
	return m && m->state == MQTT_CONNECTED;
}

size_t
mqtt_inflight(const struct mqtt *m)
{
	return m ? m->inflight : 0;
}

size_t
mqtt_refused_subscriptions(const struct mqtt *m, const char **filters, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; m && i < m->n_subs; i++) {
		if (!m->sub_refused[i])
			continue;
		if (filters && n < max)
			filters[n] = m->subs[i];
		n++;
	}
	return n;
}

unsigned
mqtt_reconnects(const struct mqtt *m)
{
	return m && m->connects > 0 ? m->connects - 1 : 0;
}

/* --- topic filters --------------------------------------------------------- */

bool
mqtt_topic_matches(const char *filter, const char *topic)
{
	const char *f = filter, *t = topic;

	if (!filter || !topic || !*filter || !*topic)
		return false;
	if (strpbrk(topic, "+#"))
		return false;
	/* wildcards at the start don't match $SYS and friends */
	if (*topic == '$' && (*filter == '+' || *filter == '#'))
		return false;

	for (;;) {
		const char *fe = strchr(f, '/');
		const char *te = strchr(t, '/');
		size_t flen = fe ? (size_t)(fe - f) : strlen(f);
		size_t tlen = te ? (size_t)(te - t) : strlen(t);

		if (flen == 1 && f[0] == '#')
			return fe == NULL; /* '#' only as the last level */
		if (flen == 1 && f[0] == '+') {
			/* one level, possibly empty */
		} else {
			if (memchr(f, '+', flen) || memchr(f, '#', flen))
				return false; /* "a+" / "a#" are not filters */
			if (flen != tlen || memcmp(f, t, flen) != 0)
				return false;
		}
		if (!fe && !te)
			return true;
		if (!te) {
			/* topic ended: only "/#" may follow ("a/#" matches "a") */
			return strcmp(fe, "/#") == 0;
		}
		if (!fe)
			return false;
		f = fe + 1;
		t = te + 1;
	}
}
