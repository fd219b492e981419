/* loadgen: the backend's side of `make bench` (docs/performance.md).
 *
 *   loadgen pub  --port P --kind flip|incident|ticket|churn|replay [--rate R]
 *                [--count N] [--batch B] [--qos Q] [--topic T] [--sends FILE]
 *                [--seed S] [--open N]
 *   loadgen sub  --port P --topic T --out FILE [--count N] [--timeout S]
 *   loadgen sink --fifo PATH --out FILE
 *
 * pub publishes events paced to R events/s (0: as fast as it can), and
 * appends "<seq> <CLOCK_MONOTONIC ns>" to FILE for each message just before
 * handing it to libmosquitto. `flip` alternates ticket.created and
 * ticket.solved of one low-priority ticket, so every event flips the green
 * lamp (off while something is unacked); `incident` alternates
 * incident.opened and incident.resolved (the blue lamp); `ticket` creates
 * distinct tickets with a due time an hour ahead (running SLA clocks);
 * `churn` opens --open N such tickets, then alternates opening one more and
 * solving the oldest, so a long run keeps N open (a sustained load the
 * board can take for ever, not one that fills max_open_tickets); `replay`
 * publishes JSON lines read from stdin (tools/traffic --dry-run).
 * --batch B puts B events into one JSON array per message.
 *
 * sub records "<CLOCK_MONOTONIC ns> <payload>" per message until N arrived
 * or S seconds passed. sink reads a FIFO that a shell pipeline writes its
 * "line" values to (the naive baseline) and stamps each write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_MAX 65536
/* Paced sends sleep at least this long and then send what fell due: a
 * sleep per message at 20 000/s cost more CPU than the board it loads. */
#define PACE_NS 250000

static volatile sig_atomic_t stop;

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
iso_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%.19s.%03dZ", base, (int)(ts.tv_nsec / 1000000));
}

static void
iso_in(char *buf, size_t size, long seconds)
{
	time_t t = time(NULL) + seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct opts {
	const char *mode;
	int port;
	const char *kind;
	double rate;
	long count;
	int batch;
	int qos;
	const char *topic;
	const char *sends;
	const char *out;
	const char *fifo;
	double timeout_s;
	unsigned seed;
	long open; /* churn: tickets kept open */
};

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen pub|sub|sink [options] (see bench/loadgen.c)\n");
	exit(64);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .port = 1883,
			    .kind = "incident",
			    .count = 1000,
			    .batch = 1,
			    .qos = 1,
			    .topic = "helpdesk/bench/events",
			    .timeout_s = 30,
			    .open = 10000 };
	if (argc < 2)
		usage();
	o->mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(k, "--port"))
			o->port = atoi(v);
		else if (!strcmp(k, "--kind"))
			o->kind = v;
		else if (!strcmp(k, "--rate"))
			o->rate = atof(v);
		else if (!strcmp(k, "--count"))
			o->count = atol(v);
		else if (!strcmp(k, "--batch"))
			o->batch = atoi(v);
		else if (!strcmp(k, "--qos"))
			o->qos = atoi(v);
		else if (!strcmp(k, "--topic"))
			o->topic = v;
		else if (!strcmp(k, "--sends"))
			o->sends = v;
		else if (!strcmp(k, "--out"))
			o->out = v;
		else if (!strcmp(k, "--fifo"))
			o->fifo = v;
		else if (!strcmp(k, "--timeout"))
			o->timeout_s = atof(v);
		else if (!strcmp(k, "--seed"))
			o->seed = (unsigned)atol(v);
		else if (!strcmp(k, "--open"))
			o->open = atol(v);
		else
			usage();
	}
	if (o->batch < 1 || o->batch > 200 || o->qos < 0 || o->qos > 2 || o->count < 0 ||
	    o->open < 1)
		usage();
}

static long published; /* PUBACKs (QoS 1) or sends (QoS 0); one thread */

static void
on_publish(struct mosquitto *m, void *userdata, int mid)
{
	(void)m;
	(void)userdata;
	(void)mid;
	published++;
}

static bool connected; /* one thread: set by on_pub_connect() in service() */

static void
on_pub_connect(struct mosquitto *m, void *userdata, int rc)
{
	(void)m;
	(void)userdata;
	if (rc == 0)
		connected = true;
}

/* The publisher has no network thread: handing each message to a thread
 * through libmosquitto's wake-up pipe cost two more syscalls and a context
 * switch per message. This reads PUBACKs, writes what the socket did not
 * take at once and keeps the connection alive; waits up to timeout_ns. */
static void
service(struct mosquitto *m, uint64_t timeout_ns)
{
	struct pollfd p = { .fd = mosquitto_socket(m), .events = POLLIN };
	struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000),
			       .tv_nsec = (long)(timeout_ns % 1000000000) };

	if (p.fd < 0)
		return;
	if (mosquitto_want_write(m))
		p.events |= POLLOUT;
	if (ppoll(&p, 1, &ts, NULL) > 0) {
		if (p.revents & (POLLIN | POLLERR | POLLHUP))
			mosquitto_loop_read(m, 1);
		if ((p.revents & POLLOUT) && mosquitto_socket(m) == p.fd)
			mosquitto_loop_write(m, 1);
	}
	mosquitto_loop_misc(m);
}

/* Services the connection until CLOCK_MONOTONIC reaches until_ns. */
static void
service_until(struct mosquitto *m, uint64_t until_ns)
{
	for (uint64_t now = mono_ns(); now < until_ns && !stop; now = mono_ns())
		service(m, until_ns - now);
}

static struct mosquitto *
connect_broker(const struct opts *o, const char *id)
{
	struct mosquitto *m = mosquitto_new(id, true, NULL);

	if (!m) {
		fprintf(stderr, "loadgen: mosquitto_new failed\n");
		exit(1);
	}
	/* Let QoS 1 publishes queue in libmosquitto rather than stall. */
	mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 1000);
	mosquitto_publish_callback_set(m, on_publish);
	mosquitto_connect_callback_set(m, on_pub_connect);
	/* a backend should not let Nagle hold back its small publishes */
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	if (mosquitto_connect(m, "127.0.0.1", o->port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "loadgen: cannot connect to 127.0.0.1:%d\n", o->port);
		exit(69);
	}
	for (int i = 0; i < 1000 && !connected; i++)
		service(m, 10 * 1000000);
	if (!connected) {
		fprintf(stderr, "loadgen: no CONNACK from 127.0.0.1:%d\n", o->port);
		exit(69);
	}
	return m;
}

/* One event of `kind` with sequence number seq into buf; returns its length,
 * 0 at the end of a replay. */
static size_t
make_event(const struct opts *o, long seq, char *buf, size_t size)
{
	char ts[64], due[64];
	int n = 0;

	iso_now(ts, sizeof(ts));
	if (!strcmp(o->kind, "incident")) {
		/* Even: opened (blue on), odd: resolved (blue off). */
		n = snprintf(buf, size,
			     "{\"v\":1,\"id\":\"b%u-%ld\",\"type\":\"incident.%s\",\"ts\":\"%s\","
			     "\"incident\":{\"id\":\"INC-%ld\",\"title\":\"bench\"}}",
			     o->seed, seq, seq % 2 ? "resolved" : "opened", ts, seq / 2);
	} else if (!strcmp(o->kind, "flip")) {
		/* Even: a new low-priority ticket (unacked: green off), odd: it
		 * is solved (nothing unacked: green on). */
		n = snprintf(buf, size,
			     "{\"v\":1,\"id\":\"b%u-%ld\",\"type\":\"ticket.%s\",\"ts\":\"%s\","
			     "\"ticket\":{\"id\":\"F-%u-%ld\",\"channel\":\"email\","
			     "\"priority\":\"low\"}}",
			     o->seed, seq, seq % 2 ? "solved" : "created", ts, o->seed, seq / 2);
	} else if (!strcmp(o->kind, "ticket") || !strcmp(o->kind, "churn")) {
		/* churn: tickets 0..open-1 first; after them an even offset
		 * opens the next ticket, an odd one solves the oldest open */
		long ticket = seq;
		bool solve = false;

		if (!strcmp(o->kind, "churn") && seq >= o->open) {
			long k = seq - o->open;

			solve = k % 2 == 1;
			ticket = solve ? k / 2 : o->open + k / 2;
		}
		if (solve) {
			n = snprintf(buf, size,
				     "{\"v\":1,\"id\":\"b%u-%ld\",\"type\":\"ticket.solved\","
				     "\"ts\":\"%s\",\"ticket\":{\"id\":\"T-%u-%ld\"}}",
				     o->seed, seq, ts, o->seed, ticket);
		} else {
			iso_in(due, sizeof(due), 3600);
			n = snprintf(buf, size,
				     "{\"v\":1,\"id\":\"b%u-%ld\",\"type\":\"ticket.created\","
				     "\"ts\":\"%s\",\"ticket\":{\"id\":\"T-%u-%ld\","
				     "\"channel\":\"email\",\"priority\":\"low\","
				     "\"subject\":\"bench\",\"due\":{\"first_response\":\"%s\"}}}",
				     o->seed, seq, ts, o->seed, ticket, due);
		}
	} else if (!strcmp(o->kind, "replay")) {
		if (!fgets(buf, (int)size, stdin))
			return 0;
		n = (int)strcspn(buf, "\r\n");
		buf[n] = '\0';
	}
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static int
cmd_pub(const struct opts *o)
{
	static char payload[PAYLOAD_MAX], ev[8192];
	struct mosquitto *m = connect_broker(o, NULL);
	FILE *sends = NULL;
	uint64_t start, last_ns, period_ns = 0;
	long seq = 0, msgs = 0;

	if (o->sends && !(sends = fopen(o->sends, "w"))) {
		fprintf(stderr, "loadgen: %s: %s\n", o->sends, strerror(errno));
		return 1;
	}
	if (o->rate > 0)
		period_ns = (uint64_t)(1e9 / o->rate * o->batch);
	start = mono_ns() + 1000000;
	while (!stop && (!strcmp(o->kind, "replay") || seq < o->count)) {
		size_t len = 0;
		int in_batch = 0;

		if (period_ns) {
			uint64_t due = start + (uint64_t)msgs * period_ns;
			uint64_t now = mono_ns();

			if (due > now)
				service_until(m, due - now < PACE_NS ? now + PACE_NS : due);
		} else if (msgs % 16 == 0) {
			service(m, 0);
		}
		if (o->batch > 1)
			payload[len++] = '[';
		while (in_batch < o->batch && (!strcmp(o->kind, "replay") || seq < o->count)) {
			size_t n = make_event(o, seq, ev, sizeof(ev));

			if (!n)
				break;
			if (len + n + 2 >= sizeof(payload))
				break;
			if (in_batch)
				payload[len++] = ',';
			memcpy(payload + len, ev, n);
			len += n;
			in_batch++;
			seq++;
		}
		if (!in_batch)
			break;
		if (o->batch > 1)
			payload[len++] = ']';
		uint64_t at = mono_ns();
		int rc;
		while ((rc = mosquitto_publish(m, NULL, o->topic, (int)len, payload, o->qos,
					       false)) == MOSQ_ERR_NOMEM)
			usleep(1000);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "loadgen: publish: %s\n", mosquitto_strerror(rc));
			return 1;
		}
		if (sends)
			fprintf(sends, "%ld %" PRIu64 "\n", msgs, at);
		msgs++;
	}
	last_ns = mono_ns();
	/* Let libmosquitto finish sending (and get the PUBACKs) before leaving. */
	for (int i = 0; i < 60000 && published < msgs; i++)
		service(m, 1000000);
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	if (sends)
		fclose(sends);
	/* start_ns: CLOCK_MONOTONIC, the clock of Python's time.monotonic() */
	printf("{\"messages\":%ld,\"events\":%ld,\"acked\":%ld,\"seconds\":%.6f,"
	       "\"start_ns\":%" PRIu64 "}\n",
	       msgs, seq, published, (double)(last_ns - start) / 1e9, start);
	return 0;
}

struct sub_state {
	const char *topic;
	FILE *out;
	long n;
	int subscribed;
};

static void
on_message(struct mosquitto *m, void *userdata, const struct mosquitto_message *msg)
{
	struct sub_state *s = userdata;
	uint64_t at = mono_ns();

	(void)m;
	fprintf(s->out, "%" PRIu64 " %.*s\n", at, msg->payloadlen, (const char *)msg->payload);
	fflush(s->out);
	s->n++;
}

static void
on_connect(struct mosquitto *m, void *userdata, int rc)
{
	struct sub_state *s = userdata;

	if (rc == 0)
		mosquitto_subscribe(m, NULL, s->topic, 1);
}

static void
on_subscribe(struct mosquitto *m, void *userdata, int mid, int n, const int *granted)
{
	struct sub_state *s = userdata;

	(void)m;
	(void)mid;
	(void)n;
	(void)granted;
	s->subscribed = 1;
}

static int
cmd_sub(const struct opts *o)
{
	struct sub_state s = { .topic = o->topic };
	struct mosquitto *m;
	uint64_t deadline = mono_ns() + (uint64_t)(o->timeout_s * 1e9);
	char ready[4096];
	FILE *r;

	if (!o->out || !(s.out = fopen(o->out, "w"))) {
		fprintf(stderr, "loadgen: sub needs --out FILE\n");
		return 1;
	}
	m = mosquitto_new(NULL, true, &s);
	if (!m)
		return 1;
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_message_callback_set(m, on_message);
	if (mosquitto_connect(m, "127.0.0.1", o->port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "loadgen: cannot connect to 127.0.0.1:%d\n", o->port);
		return 69;
	}
	while (!stop && !s.subscribed && mono_ns() < deadline)
		if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS)
			break;
	/* The bench waits for this file before it starts the scenario. */
	snprintf(ready, sizeof(ready), "%s.ready", o->out);
	if ((r = fopen(ready, "w")))
		fclose(r);
	while (!stop && (o->count <= 0 || s.n < o->count) && mono_ns() < deadline)
		if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS)
			break;
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	fclose(s.out);
	return 0;
}

static int
cmd_sink(const struct opts *o)
{
	char buf[256];
	FILE *out;
	int fd;

	if (!o->fifo || !o->out)
		usage();
	/* O_RDWR: a writer closing the FIFO is no EOF for us. */
	fd = open(o->fifo, O_RDWR | O_CLOEXEC);
	if (fd < 0 || !(out = fopen(o->out, "w"))) {
		fprintf(stderr, "loadgen: %s: %s\n", o->fifo, strerror(errno));
		return 1;
	}
	while (!stop) {
		ssize_t n = read(fd, buf, sizeof(buf));
		uint64_t at = mono_ns();

		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '0' || buf[i] == '1')
				fprintf(out, "%" PRIu64 " line %c\n", at, buf[i]);
		fflush(out);
	}
	fclose(out);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	parse(argc, argv, &o);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	mosquitto_lib_init();
	if (!strcmp(o.mode, "pub"))
		rc = cmd_pub(&o);
	else if (!strcmp(o.mode, "sub"))
		rc = cmd_sub(&o);
	else if (!strcmp(o.mode, "sink"))
		rc = cmd_sink(&o);
	else
		usage();
	mosquitto_lib_cleanup();
	return rc;
}
