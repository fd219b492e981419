/* Tests for mqtt.c against a real mosquitto broker on 127.0.0.1 and a free
 * port, driven by the real event loop. Every wait has a deadline; every
 * broker started is killed (also when the test process dies: PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "mqtt.h"
#include "timeutil.h"

#define MOSQUITTO     "/usr/sbin/mosquitto"
#define MOSQUITTO_PUB "/usr/bin/mosquitto_pub"
#define SEC           USEC_PER_SEC
#define MSEC          USEC_PER_MSEC

/* --- broker ------------------------------------------------------------- */

struct broker {
	pid_t pid;
	int port;
	char dir[64];
	char conf[128];
	const char *extra; /* more mosquitto.conf lines */
};

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool
port_accepts(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	chmod(path, 0644);
}

/* Starts mosquitto on b->port (0: pick a free one, retrying if another
 * process grabs it first); waits until it accepts connections. */
static bool
broker_start(struct broker *b)
{
	bool pick = b->port == 0;

	for (int tries = 0; tries < 5; tries++) {
		char text[2048];
		uint64_t deadline;

		if (pick)
			b->port = free_port();
		snprintf(text, sizeof(text),
			 "listener %d 127.0.0.1\npersistence false\nlog_dest none\n%s\n%s\n",
			 b->port,
			 b->extra && strstr(b->extra, "allow_anonymous") ? ""
									 : "allow_anonymous true",
			 b->extra ? b->extra : "");
		write_file(b->conf, text);
		b->pid = fork();
		if (b->pid < 0)
			return false;
		if (b->pid == 0) {
			int devnull = open("/dev/null", O_RDWR);

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
			execl(MOSQUITTO, "mosquitto", "-c", b->conf, (char *)NULL);
			_exit(127);
		}
		deadline = time_mono_usec() + 5 * SEC;
		while (time_mono_usec() < deadline) {
			int status;

			if (port_accepts(b->port))
				return true;
			if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
				b->pid = 0;
				break; /* port taken: try again */
			}
			poll(NULL, 0, 20);
		}
		if (b->pid > 0) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, NULL, 0);
			b->pid = 0;
		}
		if (!pick)
			poll(NULL, 0, 200); /* same port: give the old one time */
	}
	return false;
}

static void
broker_kill(struct broker *b)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	b->pid = 0;
}

/* --- clients and waiting ----------------------------------------------------- */

#define MAX_RX 32

struct rx {
	char topic[128];
	char payload[512];
	size_t len;
	bool retained;
	int qos;
	bool has_response_topic;
	char response_topic[128];
	unsigned char corr[64];
	size_t corr_len;
};

struct client {
	struct mqtt *m;
	unsigned connected;
	bool session_present;
	unsigned disconnected;
	char reason[8][160];
	uint64_t retry_usec[8];
	uint64_t wakeups_at_disconnect[8];
	unsigned received;
	struct rx rx[MAX_RX];
	unsigned published;
	int pub_mid[16];
	bool pub_ok[16];
};

static struct loop *L;
static struct broker B;
static struct client C[4];
static const unsigned *wait_counter;
static unsigned wait_target;
static struct loop_timer deadline_timer;

static void
maybe_quit(void)
{
	if (wait_counter && *wait_counter >= wait_target)
		loop_quit(L, 0);
}

static void
deadline_passed(struct loop *loop, void *userdata)
{
	(void)userdata;
	loop_quit(loop, 1);
}

/* Runs the loop until *counter >= target or timeout; true if reached. */
static bool
wait_for(const unsigned *counter, unsigned target, uint64_t timeout_usec)
{
	int r;

	if (*counter >= target)
		return true;
	wait_counter = counter;
	wait_target = target;
	loop_timer_init(&deadline_timer, deadline_passed, NULL);
	loop_timer_arm(L, &deadline_timer, time_mono_usec() + timeout_usec);
	r = loop_run(L);
	loop_timer_disarm(L, &deadline_timer);
	wait_counter = NULL;
	return r == 0 && *counter >= target;
}

/* Runs the loop for a while (to show that something does NOT happen). */
static void
run_for(uint64_t usec)
{
	static const unsigned never = 0;

	wait_for(&never, 1, usec);
}

static void
cb_connected(void *userdata, bool session_present)
{
	struct client *c = userdata;

	c->connected++;
	c->session_present = session_present;
	maybe_quit();
}

static void
cb_disconnected(void *userdata, const char *reason, uint64_t retry_in_usec)
{
	struct client *c = userdata;

	if (c->disconnected < 8) {
		snprintf(c->reason[c->disconnected], sizeof(c->reason[0]), "%s", reason);
		c->retry_usec[c->disconnected] = retry_in_usec;
		c->wakeups_at_disconnect[c->disconnected] = loop_wakeups(L);
	}
	c->disconnected++;
	maybe_quit();
}

static void
cb_message(void *userdata, const struct mqtt_message *msg)
{
	struct client *c = userdata;
	struct rx *r;

	if (c->received < MAX_RX) {
		r = &c->rx[c->received];
		snprintf(r->topic, sizeof(r->topic), "%s", msg->topic);
		r->len = msg->len;
		memcpy(r->payload, msg->payload,
		       msg->len < sizeof(r->payload) - 1 ? msg->len : sizeof(r->payload) - 1);
		r->retained = msg->retained;
		r->qos = msg->qos;
		r->has_response_topic = msg->response_topic != NULL;
		if (msg->response_topic)
			snprintf(r->response_topic, sizeof(r->response_topic), "%s",
				 msg->response_topic);
		r->corr_len = msg->correlation_len;
		if (msg->correlation)
			memcpy(r->corr, msg->correlation,
			       msg->correlation_len < sizeof(r->corr) ? msg->correlation_len
								      : sizeof(r->corr));
	}
	c->received++;
	maybe_quit();
}

static void
cb_published(void *userdata, int mid, bool ok)
{
	struct client *c = userdata;

	if (c->published < 16) {
		c->pub_mid[c->published] = mid;
		c->pub_ok[c->published] = ok;
	}
	c->published++;
	maybe_quit();
}

static const struct mqtt_callbacks callbacks = {
	.connected = cb_connected,
	.disconnected = cb_disconnected,
	.message = cb_message,
	.published = cb_published,
};

static struct mqtt_config
config(const char *client_id, bool v5, const char *const *subs, size_t n_subs)
{
	return (struct mqtt_config){
		.host = "127.0.0.1",
		.port = B.port,
		.v5 = v5,
		.client_id = client_id,
		.keepalive_s = 30,
		.subscriptions = subs,
		.n_subscriptions = n_subs,
	};
}

static struct client *
client_new(unsigned i, const struct mqtt_config *cfg)
{
	int err = 0;

	assert_true(i < 4);
	assert_null(C[i].m);
	memset(&C[i], 0, sizeof(C[i]));
	C[i].m = mqtt_new(L, cfg, &callbacks, &C[i], &err);
	if (!C[i].m)
		fail_msg("mqtt_new: %s", strerror(-err));
	return &C[i];
}

static void
client_free(struct client *c)
{
	mqtt_free(c->m);
	c->m = NULL;
}

static const struct rx *
find_rx(const struct client *c, const char *topic, const char *payload)
{
	for (unsigned i = 0; i < c->received && i < MAX_RX; i++)
		if (strcmp(c->rx[i].topic, topic) == 0 &&
		    (!payload || (c->rx[i].len == strlen(payload) &&
				  memcmp(c->rx[i].payload, payload, c->rx[i].len) == 0)))
			return &c->rx[i];
	return NULL;
}

static int
setup(void **state)
{
	(void)state;
	memset(&B, 0, sizeof(B));
	memset(C, 0, sizeof(C));
	snprintf(B.dir, sizeof(B.dir), "/tmp/tb-mqtt-XXXXXX");
	if (!mkdtemp(B.dir))
		return -1;
	chmod(B.dir, 0755); /* a root broker drops to user mosquitto */
	snprintf(B.conf, sizeof(B.conf), "%s/mosquitto.conf", B.dir);
	L = loop_new(NULL, NULL, NULL);
	return L ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[160];

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		client_free(&C[i]);
	broker_kill(&B);
	loop_free(L);
	L = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", B.dir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

static void
start_broker(const char *extra)
{
	B.extra = extra;
	B.port = 0;
	if (!broker_start(&B))
		fail_msg("cannot start %s", MOSQUITTO);
}

/* Runs mosquitto_pub with the given arguments after "-h 127.0.0.1 -p PORT". */
static int
mosquitto_pub(const char *arg, ...)
{
	const char *argv[32] = { "mosquitto_pub", "-h", "127.0.0.1", "-p" };
	char port[16];
	va_list ap;
	int argc = 5, status;
	pid_t pid;

	snprintf(port, sizeof(port), "%d", B.port);
	argv[4] = port;
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 1);
		execv(MOSQUITTO_PUB, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* --- pure parts -------------------------------------------------------------- */

static void
test_topic_matches(void **state)
{
	static const struct {
		const char *filter, *topic;
		bool match;
	} t[] = {
		{ "helpdesk/team/events", "helpdesk/team/events", true },
		{ "helpdesk/team/events", "helpdesk/team/event", false },
		{ "helpdesk/team/events", "helpdesk/team/events/x", false },
		{ "helpdesk/+/events", "helpdesk/floor2/events", true },
		{ "helpdesk/+/events", "helpdesk//events", true }, /* empty level */
		{ "helpdesk/+/events", "helpdesk/a/b/events", false },
		{ "helpdesk/+", "helpdesk", false },
		{ "helpdesk/+", "helpdesk/", true },
		{ "+", "a", true },
		{ "+", "a/b", false },
		{ "+/+", "/x", true },
		{ "#", "a/b/c", true },
		{ "#", "/", true },
		{ "a/#", "a", true }, /* parent level */
		{ "a/#", "a/b/c", true },
		{ "a/#", "ab", false },
		{ "a/b/#", "a", false },
		{ "teamboard/+/cmd/#", "teamboard/floor2/cmd/ping", true },
		{ "teamboard/+/cmd/#", "teamboard/floor2/reply/ping", false },
		/* $-topics are not matched by leading wildcards */
		{ "#", "$SYS/broker/uptime", false },
		{ "+/broker/uptime", "$SYS/broker/uptime", false },
		{ "$SYS/#", "$SYS/broker/uptime", true },
		{ "$SYS/+/uptime", "$SYS/broker/uptime", true },
		{ "a/$x", "a/$x", true },
		/* invalid filters and topics match nothing */
		{ "a/#/b", "a/x/b", false },
		{ "a#", "a#", false },
		{ "a+/b", "ax/b", false },
		{ "a/b#", "a/b", false },
		{ "", "", false },
		{ "", "a", false },
		{ "a", "", false },
		{ "a/+", "a/+", false },
		{ "#", "a/#", false },
		{ NULL, "a", false },
		{ "a", NULL, false },
		/* case matters */
		{ "Helpdesk/#", "helpdesk/x", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool got = mqtt_topic_matches(t[i].filter, t[i].topic);

		if (got != t[i].match)
			fail_msg("mqtt_topic_matches(\"%s\", \"%s\") = %d, want %d",
				 t[i].filter ? t[i].filter : "(null)",
				 t[i].topic ? t[i].topic : "(null)", got, t[i].match);
	}
}

/* Keepalive housekeeping wakes an idle board a few times per keepalive,
 * not every second (issue 7: at most 1 wake-up/s idle). */
static void
test_misc_interval(void **state)
{
	(void)state;
	assert_int_equal(mqtt_misc_interval_usec(30), 6 * SEC);
	assert_int_equal(mqtt_misc_interval_usec(60), 12 * SEC);
	assert_int_equal(mqtt_misc_interval_usec(5), 1 * SEC);
	assert_int_equal(mqtt_misc_interval_usec(0), 1 * SEC);
	assert_int_equal(mqtt_misc_interval_usec(65535), 13107 * SEC);
}

static void
test_backoff(void **state)
{
	(void)state;
	/* first retry: 1 s ± 20 % */
	assert_int_equal(mqtt_backoff_usec(0, 0), 800 * MSEC);
	assert_int_equal(mqtt_backoff_usec(0, 400000), 1200 * MSEC);
	assert_int_equal(mqtt_backoff_usec(0, 200000), 1000 * MSEC);
	/* doubling */
	assert_int_equal(mqtt_backoff_usec(1, 200000), 2 * SEC);
	assert_int_equal(mqtt_backoff_usec(2, 200000), 4 * SEC);
	assert_int_equal(mqtt_backoff_usec(5, 200000), 32 * SEC);
	/* capped at 60 s whatever the jitter and however long the outage */
	assert_int_equal(mqtt_backoff_usec(6, 200000), 60 * SEC);
	assert_int_equal(mqtt_backoff_usec(6, 400000), 60 * SEC);
	assert_int_equal(mqtt_backoff_usec(6, 0), 48 * SEC);
	assert_int_equal(mqtt_backoff_usec(1000, 0), 48 * SEC);
	assert_true(mqtt_backoff_usec(UINT32_MAX, UINT32_MAX) >= 48 * SEC);
	assert_true(mqtt_backoff_usec(UINT32_MAX, UINT32_MAX) <= 60 * SEC);
	for (uint32_t r = 0; r < 2000000; r += 7919) {
		uint64_t d0 = mqtt_backoff_usec(0, r), d3 = mqtt_backoff_usec(3, r);

		assert_true(d0 >= 800 * MSEC && d0 <= 1200 * MSEC);
		assert_true(d3 >= 6400 * MSEC && d3 <= 9600 * MSEC);
		assert_true(mqtt_backoff_usec(40, r) <= 60 * SEC);
	}
}

static void
test_new_rejects_bad_config(void **state)
{
	const char *bad_sub[] = { "helpdesk/#/events" };
	const char *null_sub[] = { NULL };
	struct mqtt_config cfg;
	int err = 0;

	(void)state;
	cfg = config("tb-bad", true, NULL, 0);
	cfg.host = NULL;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -EINVAL);

	cfg = config("tb-bad", true, NULL, 0);
	cfg.client_id = "";
	err = 0;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -EINVAL);

	cfg = config("tb-bad", true, bad_sub, 1);
	err = 0;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -EINVAL);

	cfg = config("tb-bad", true, null_sub, 1);
	err = 0;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -EINVAL);

	cfg = config("tb-bad", true, NULL, 0);
	cfg.port = 70000;
	err = 0;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -EINVAL);

	/* a will without payload would retain an empty status */
	cfg = config("tb-bad", true, NULL, 0);
	cfg.will_topic = "teamboard/x/status";
	err = 0;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -EINVAL);

	cfg = config("tb-bad", false, NULL, 0);
	cfg.tls = true;
	cfg.cafile = "/nonexistent/ca.pem";
	err = 0;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -ENOENT);

	cfg = config("tb-bad", false, NULL, 0);
	cfg.tls = true;
	cfg.certfile = "/etc/hostname"; /* cert without key */
	err = 0;
	assert_null(mqtt_new(L, &cfg, &callbacks, NULL, &err));
	assert_int_equal(err, -EINVAL);

	mqtt_free(NULL);
	mqtt_stop(NULL, "t", "p", 0);
	assert_int_equal(mqtt_start(NULL), -EINVAL);
	assert_false(mqtt_connected(NULL));
}

/* --- against the broker -------------------------------------------------------- */

static void
test_connect_receive_publish(void **state)
{
	const char *subs[] = { "helpdesk/+/events", "teamboard/all/cmd/#" };
	struct mqtt_config cfg;
	struct client *a, *b;
	const struct rx *r;
	static const char binary[] = { 'a', 0, 'b', '\n', (char)0xff };
	int mid = -1;

	(void)state;
	start_broker(NULL);
	/* a retained event waiting before we connect */
	assert_int_equal(mosquitto_pub("-t", "helpdesk/t0/events", "-m", "retained-one", "-r", "-q",
				       "1", NULL),
			 0);

	cfg = config("tb-a", true, subs, 2);
	a = client_new(0, &cfg);
	assert_int_equal(mqtt_publish(a->m, "x", "y", 1, 1, false, NULL), -ENOTCONN);
	cfg = config("tb-b", true, NULL, 0);
	b = client_new(1, &cfg);
	assert_int_equal(mqtt_start(a->m), 0);
	assert_int_equal(mqtt_start(b->m), 0);
	assert_true(wait_for(&a->connected, 1, 5 * SEC));
	assert_true(wait_for(&b->connected, 1, 5 * SEC));
	assert_true(mqtt_connected(a->m));
	assert_int_equal(mqtt_reconnects(a->m), 0);
	assert_int_equal(a->disconnected, 0);

	assert_true(wait_for(&a->received, 1, 5 * SEC));
	r = find_rx(a, "helpdesk/t0/events", "retained-one");
	assert_non_null(r);
	assert_true(r->retained);

	/* QoS 1 from the other client, including a binary payload */
	assert_int_equal(
		mqtt_publish(b->m, "helpdesk/floor2/events", "{\"v\":1}", 7, 1, false, &mid), 0);
	assert_true(mid > 0);
	assert_int_equal(mqtt_inflight(b->m), 1);
	assert_int_equal(mqtt_publish(b->m, "teamboard/all/cmd/ping", binary, sizeof(binary), 1,
				      false, NULL),
			 0);
	assert_int_equal(mqtt_publish(b->m, "helpdesk/a/b/events", "no", 2, 1, false, NULL), 0);
	assert_true(wait_for(&b->published, 3, 5 * SEC));
	assert_int_equal(b->pub_mid[0], mid);
	assert_true(b->pub_ok[0]); /* PUBACK */
	assert_true(b->pub_ok[2]); /* "no matching subscribers" is success */
	assert_int_equal(mqtt_inflight(b->m), 0);

	assert_true(wait_for(&a->received, 3, 5 * SEC));
	r = find_rx(a, "helpdesk/floor2/events", "{\"v\":1}");
	assert_non_null(r);
	assert_false(r->retained);
	assert_int_equal(r->qos, 1);
	assert_false(r->has_response_topic);
	r = find_rx(a, "teamboard/all/cmd/ping", NULL);
	assert_non_null(r);
	assert_int_equal(r->len, sizeof(binary));
	assert_memory_equal(r->payload, binary, sizeof(binary));
	/* not subscribed */
	run_for(200 * MSEC);
	assert_null(find_rx(a, "helpdesk/a/b/events", NULL));
	assert_int_equal(a->received, 3);

	/* QoS 0 gets no published callback and is not in flight */
	assert_int_equal(mqtt_publish(b->m, "helpdesk/q0/events", "zero", 4, 0, false, &mid), 0);
	assert_int_equal(mqtt_inflight(b->m), 0);
	assert_true(wait_for(&a->received, 4, 5 * SEC));
	assert_int_equal(find_rx(a, "helpdesk/q0/events", "zero")->qos, 0);
	assert_int_equal(b->published, 3);

	/* bad arguments */
	assert_int_equal(mqtt_publish(b->m, "helpdesk/+/events", "x", 1, 1, false, NULL), -EINVAL);
	assert_int_equal(mqtt_publish(b->m, "", "x", 1, 1, false, NULL), -EINVAL);
	assert_int_equal(mqtt_publish(b->m, "t", "x", 1, 3, false, NULL), -EINVAL);
	assert_int_equal(mqtt_publish(b->m, "t", NULL, 1, 1, false, NULL), -EINVAL);
	assert_int_equal(mqtt_publish(b->m, "t", NULL, 0, 0, false, NULL), 0);
	assert_int_equal(mqtt_inflight(b->m), 0);
}

static void
test_request_reply_v5(void **state)
{
	const char *subs_a[] = { "teamboard/floor2/cmd/#" };
	const char *subs_b[] = { "admin/replies/#" };
	struct mqtt_config cfg;
	struct client *a, *b;
	const struct rx *r;

	(void)state;
	start_broker(NULL);
	cfg = config("tb-a", true, subs_a, 1);
	a = client_new(0, &cfg);
	cfg = config("tb-admin", true, subs_b, 1);
	b = client_new(1, &cfg);
	mqtt_start(a->m);
	mqtt_start(b->m);
	assert_true(wait_for(&a->connected, 1, 5 * SEC));
	assert_true(wait_for(&b->connected, 1, 5 * SEC));
	run_for(200 * MSEC); /* SUBACKs */

	/* an admin tool's MQTT 5 request with response topic and
	 * correlation data */
	assert_int_equal(mosquitto_pub("-V", "5", "-q", "1", "-t", "teamboard/floor2/cmd/ping",
				       "-m", "{\"transaction\":\"t1\"}", "-D", "publish",
				       "response-topic", "admin/replies/42", "-D", "publish",
				       "correlation-data", "corr-42", NULL),
			 0);
	assert_true(wait_for(&a->received, 1, 5 * SEC));
	r = &a->rx[0];
	assert_string_equal(r->topic, "teamboard/floor2/cmd/ping");
	assert_true(r->has_response_topic);
	assert_string_equal(r->response_topic, "admin/replies/42");
	assert_int_equal(r->corr_len, 7);
	assert_memory_equal(r->corr, "corr-42", 7);

	assert_int_equal(mqtt_publish_reply(a->m, r->response_topic, r->corr, r->corr_len,
					    "{\"status\":\"ok\"}", 15),
			 0);
	/* a reply is not one of our tracked publishes */
	assert_int_equal(mqtt_inflight(a->m), 0);
	assert_true(wait_for(&b->received, 1, 5 * SEC));
	assert_string_equal(b->rx[0].topic, "admin/replies/42");
	assert_int_equal(b->rx[0].corr_len, 7);
	assert_memory_equal(b->rx[0].corr, "corr-42", 7);
	assert_memory_equal(b->rx[0].payload, "{\"status\":\"ok\"}", 15);
	run_for(100 * MSEC);
	assert_int_equal(a->published, 0);

	/* without correlation data */
	assert_int_equal(mqtt_publish_reply(a->m, "admin/replies/43", NULL, 0, "x", 1), 0);
	assert_true(wait_for(&b->received, 2, 5 * SEC));
	assert_int_equal(b->rx[1].corr_len, 0);
	assert_int_equal(mqtt_publish_reply(a->m, "admin/+/43", NULL, 0, "x", 1), -EINVAL);
}

static void
test_broker_restart_backoff_resubscribe(void **state)
{
	const char *subs[] = { "helpdesk/+/events" };
	struct mqtt_config cfg;
	struct client *a, *b;
	uint64_t wakeups;

	(void)state;
	start_broker(NULL);
	cfg = config("tb-a", true, subs, 1);
	a = client_new(0, &cfg);
	cfg = config("tb-b", false, NULL, 0);
	b = client_new(1, &cfg);
	mqtt_start(a->m);
	mqtt_start(b->m);
	assert_true(wait_for(&a->connected, 1, 5 * SEC));
	assert_true(wait_for(&b->connected, 1, 5 * SEC));

	broker_kill(&B);
	assert_true(wait_for(&a->disconnected, 1, 5 * SEC));
	assert_false(mqtt_connected(a->m));
	print_message("    lost: %s, retry in %llu ms\n", a->reason[0],
		      (unsigned long long)(a->retry_usec[0] / MSEC));
	assert_true(a->retry_usec[0] >= 800 * MSEC && a->retry_usec[0] <= 1200 * MSEC);
	assert_non_null(strstr(a->reason[0], "connection lost"));
	/* nothing is handed to the library while down */
	assert_int_equal(mqtt_publish(a->m, "helpdesk/x/events", "x", 1, 1, false, NULL),
			 -ENOTCONN);
	assert_int_equal(mqtt_publish_reply(a->m, "r", NULL, 0, "x", 1), -ENOTCONN);
	assert_int_equal(mqtt_inflight(a->m), 0);

	/* the first retry is refused: the next delay grows */
	assert_true(wait_for(&a->disconnected, 2, 5 * SEC));
	print_message("    then: %s, retry in %llu ms\n", a->reason[1],
		      (unsigned long long)(a->retry_usec[1] / MSEC));
	assert_true(a->retry_usec[1] >= 1600 * MSEC && a->retry_usec[1] <= 2400 * MSEC);
	assert_non_null(strstr(a->reason[1], "refused"));
	/* waiting costs a few wake-ups, not a busy loop */
	wakeups = a->wakeups_at_disconnect[1] - a->wakeups_at_disconnect[0];
	print_message("    wake-ups between the two: %llu\n", (unsigned long long)wakeups);
	assert_true(wakeups < 50);

	/* the broker comes back (without the sessions: persistence false) */
	assert_true(broker_start(&B));
	assert_true(wait_for(&a->connected, 2, 5 * SEC));
	assert_true(wait_for(&b->connected, 2, 10 * SEC));
	assert_false(a->session_present);
	assert_int_equal(mqtt_reconnects(a->m), 1);
	run_for(200 * MSEC); /* SUBACK */
	/* resubscribed: a new event arrives */
	assert_int_equal(mqtt_publish(b->m, "helpdesk/after/events", "back", 4, 1, false, NULL), 0);
	assert_true(wait_for(&a->received, 1, 5 * SEC));
	assert_non_null(find_rx(a, "helpdesk/after/events", "back"));
	/* and a successful CONNACK resets the backoff */
	broker_kill(&B);
	assert_true(wait_for(&a->disconnected, 3, 5 * SEC));
	assert_true(a->retry_usec[2] >= 800 * MSEC && a->retry_usec[2] <= 1200 * MSEC);
}

/* connect, subscribe, disconnect cleanly, another client publishes QoS 1
 * while we are away, reconnect: the event arrives (SPEC §2). */
static void
session_persists(bool v5)
{
	const char *subs[] = { "helpdesk/+/events" };
	struct mqtt_config cfg;
	struct client *a, *b;

	start_broker(NULL);
	cfg = config("tb-session", v5, subs, 1);
	a = client_new(0, &cfg);
	cfg = config("tb-backend", true, NULL, 0);
	b = client_new(1, &cfg);
	mqtt_start(a->m);
	mqtt_start(b->m);
	assert_true(wait_for(&a->connected, 1, 5 * SEC));
	assert_true(wait_for(&b->connected, 1, 5 * SEC));
	assert_false(a->session_present);
	run_for(100 * MSEC); /* SUBACK */

	mqtt_stop(a->m, NULL, NULL, SEC);
	assert_false(mqtt_connected(a->m));
	assert_int_equal(a->disconnected, 0); /* a stop is no outage */
	assert_int_equal(mqtt_publish(b->m, "helpdesk/t1/events", "while-away", 10, 1, false, NULL),
			 0);
	assert_true(wait_for(&b->published, 1, 5 * SEC));
	assert_int_equal(a->received, 0);

	assert_int_equal(mqtt_start(a->m), 0);
	assert_true(wait_for(&a->connected, 2, 5 * SEC));
	assert_true(a->session_present);
	assert_true(wait_for(&a->received, 1, 5 * SEC));
	assert_non_null(find_rx(a, "helpdesk/t1/events", "while-away"));

	/* also with a new client object (daemon restart) */
	client_free(a);
	assert_int_equal(
		mqtt_publish(b->m, "helpdesk/t2/events", "while-restarting", 16, 1, false, NULL),
		0);
	assert_true(wait_for(&b->published, 2, 5 * SEC));
	cfg = config("tb-session", v5, subs, 1);
	a = client_new(0, &cfg);
	mqtt_start(a->m);
	assert_true(wait_for(&a->connected, 1, 5 * SEC));
	assert_true(a->session_present);
	assert_true(wait_for(&a->received, 1, 5 * SEC));
	assert_non_null(find_rx(a, "helpdesk/t2/events", "while-restarting"));
}

static void
test_session_persists_v5(void **state)
{
	(void)state;
	session_persists(true);
}

static void
test_session_persists_v311(void **state)
{
	(void)state;
	session_persists(false);
}

/* A board connects with a will, then dies without a word. */
static pid_t
spawn_doomed_board(const char *status_topic, int *ready_fd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mqtt_config cfg = config("tb-doomed", true, NULL, 0);
		struct client me = { 0 };
		char one = 1;
		int err;

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		loop_free(L);
		L = loop_new(NULL, NULL, NULL);
		cfg.will_topic = status_topic;
		cfg.will_payload = "{\"state\":\"lost\"}";
		me.m = mqtt_new(L, &cfg, &callbacks, &me, &err);
		if (!me.m || mqtt_start(me.m) < 0 || !wait_for(&me.connected, 1, 5 * SEC))
			_exit(1);
		if (write(p[1], &one, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	*ready_fd = p[0];
	return pid;
}

static void
test_will_and_clean_stop(void **state)
{
	const char *topic = "teamboard/floor2/status";
	const char *subs[] = { "teamboard/+/status" };
	struct pollfd pfd;
	struct mqtt_config cfg;
	struct client *obs, *board, *late;
	const struct rx *r;
	pid_t child;
	char one;

	(void)state;
	start_broker(NULL);
	/* the doomed board goes first: it must not inherit our sockets */
	child = spawn_doomed_board(topic, &pfd.fd);
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1 || read(pfd.fd, &one, 1) != 1) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		close(pfd.fd);
		fail_msg("the child board did not connect");
	}
	close(pfd.fd);

	cfg = config("tb-observer", true, subs, 1);
	obs = client_new(0, &cfg);
	mqtt_start(obs->m);
	assert_true(wait_for(&obs->connected, 1, 5 * SEC));
	run_for(100 * MSEC); /* SUBACK */
	assert_int_equal(obs->received, 0);

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_true(wait_for(&obs->received, 1, 5 * SEC));
	assert_string_equal(obs->rx[0].topic, topic);
	assert_memory_equal(obs->rx[0].payload, "{\"state\":\"lost\"}", 16);

	/* a clean stop: "offline", and no will after it */
	cfg = config("tb-floor2", true, NULL, 0);
	cfg.will_topic = topic;
	cfg.will_payload = "{\"state\":\"lost\"}";
	board = client_new(1, &cfg);
	mqtt_start(board->m);
	assert_true(wait_for(&board->connected, 1, 5 * SEC));
	assert_int_equal(mqtt_publish(board->m, topic, "{\"state\":\"ready\"}", 17, 1, true, NULL),
			 0);
	assert_true(wait_for(&obs->received, 2, 5 * SEC));
	mqtt_stop(board->m, topic, "{\"state\":\"offline\"}", 2 * SEC);
	assert_false(mqtt_connected(board->m));
	assert_int_equal(board->disconnected, 0);
	assert_true(wait_for(&obs->received, 3, 5 * SEC));
	assert_memory_equal(obs->rx[2].payload, "{\"state\":\"offline\"}", 19);
	run_for(300 * MSEC);
	assert_int_equal(obs->received, 3);

	/* whoever looks later sees "offline" retained */
	client_free(board);
	run_for(100 * MSEC);
	cfg = config("tb-late", false, subs, 1);
	late = client_new(2, &cfg);
	mqtt_start(late->m);
	assert_true(wait_for(&late->received, 1, 5 * SEC));
	r = find_rx(late, topic, NULL);
	assert_non_null(r);
	assert_true(r->retained);
	assert_memory_equal(r->payload, "{\"state\":\"offline\"}", 19);
	assert_int_equal(obs->received, 3);
}

static void
test_free_while_connected_sends_no_will(void **state)
{
	const char *topic = "teamboard/floor3/status";
	const char *subs[] = { "teamboard/+/status" };
	struct mqtt_config cfg;
	struct client *obs, *board;

	(void)state;
	start_broker(NULL);
	cfg = config("tb-observer", false, subs, 1);
	obs = client_new(0, &cfg);
	cfg = config("tb-floor3", false, NULL, 0);
	cfg.will_topic = topic;
	cfg.will_payload = "lost";
	board = client_new(1, &cfg);
	mqtt_start(obs->m);
	mqtt_start(board->m);
	assert_true(wait_for(&obs->connected, 1, 5 * SEC));
	assert_true(wait_for(&board->connected, 1, 5 * SEC));
	run_for(100 * MSEC);
	client_free(board);
	run_for(500 * MSEC);
	assert_int_equal(obs->received, 0);
}

static void
test_refused_not_authorised(void **state)
{
	struct mqtt_config cfg;
	struct client *a, *b;

	(void)state;
	start_broker("allow_anonymous false");
	cfg = config("tb-v5", true, NULL, 0);
	a = client_new(0, &cfg);
	cfg = config("tb-v311", false, NULL, 0);
	b = client_new(1, &cfg);
	mqtt_start(a->m);
	mqtt_start(b->m);
	assert_true(wait_for(&a->disconnected, 1, 5 * SEC));
	assert_true(wait_for(&b->disconnected, 1, 5 * SEC));
	print_message("    v5: %s / 3.1.1: %s\n", a->reason[0], b->reason[0]);
	assert_non_null(strstr(a->reason[0], "not authorised"));
	assert_non_null(strstr(b->reason[0], "not authorised"));
	assert_true(a->retry_usec[0] >= 800 * MSEC && a->retry_usec[0] <= 1200 * MSEC);
	assert_int_equal(a->connected, 0);
	/* still refused on the retry, with a longer delay */
	assert_true(wait_for(&a->disconnected, 2, 5 * SEC));
	assert_non_null(strstr(a->reason[1], "not authorised"));
	assert_true(a->retry_usec[1] >= 1600 * MSEC);
}

static void
test_nothing_listening(void **state)
{
	struct mqtt_config cfg;
	struct client *a;
	uint64_t w0;

	(void)state;
	B.port = free_port();
	cfg = config("tb-a", true, NULL, 0);
	a = client_new(0, &cfg);
	w0 = loop_wakeups(L);
	mqtt_start(a->m);
	assert_true(wait_for(&a->disconnected, 2, 5 * SEC));
	print_message("    %s\n", a->reason[0]);
	assert_non_null(strstr(a->reason[0], "connection refused"));
	assert_true(a->retry_usec[0] >= 800 * MSEC && a->retry_usec[0] <= 1200 * MSEC);
	assert_true(a->retry_usec[1] >= 1600 * MSEC && a->retry_usec[1] <= 2400 * MSEC);
	assert_true(loop_wakeups(L) - w0 < 50);
}

/* A peer that accepts TCP and then says nothing: the keepalive doubles as
 * the CONNACK timeout. */
static void
test_silent_broker_keepalive(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct mqtt_config cfg;
	struct client *a;
	int lfd;

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	B.port = ntohs(sa.sin_port);
	cfg = config("tb-a", true, NULL, 0);
	cfg.keepalive_s = 5;
	a = client_new(0, &cfg);
	mqtt_start(a->m);
	if (!wait_for(&a->disconnected, 1, 9 * SEC)) {
		close(lfd);
		fail_msg("no timeout");
	}
	close(lfd);
	print_message("    %s\n", a->reason[0]);
	assert_string_equal(a->reason[0], "keepalive timeout (no answer from broker)");
	assert_int_equal(a->connected, 0);
}

static void
test_oversize_publish(void **state)
{
	static char big[4096];
	struct mqtt_config cfg;
	struct client *a;

	(void)state;
	start_broker("max_packet_size 1000");
	cfg = config("tb-a", true, NULL, 0);
	a = client_new(0, &cfg);
	mqtt_start(a->m);
	assert_true(wait_for(&a->connected, 1, 5 * SEC));
	memset(big, 'x', sizeof(big));
	assert_int_equal(mqtt_publish(a->m, "t", big, sizeof(big), 1, false, NULL), -EMSGSIZE);
	assert_int_equal(mqtt_inflight(a->m), 0);
	assert_int_equal(mqtt_publish(a->m, "t", big, 100, 1, false, NULL), 0);
	assert_true(wait_for(&a->published, 1, 5 * SEC));
	assert_true(mqtt_connected(a->m));
}

/* --- TLS ---------------------------------------------------------------- */

static bool
make_certs(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && ("
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-days 2 -subj /CN=tb-test-ca -keyout ca.key -out ca.pem && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-days 2 -subj /CN=tb-other-ca -keyout other.key -out other.pem && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-subj /CN=127.0.0.1 -keyout server.key -out server.csr && "
		 "printf 'subjectAltName=IP:127.0.0.1\\n' > ext && "
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-days 2 -extfile ext -out server.pem && chmod 644 *) >openssl.log 2>&1",
		 B.dir);
	return system(cmd) == 0;
}

static void
test_tls(void **state)
{
	char extra[512], ca[128], other[128];
	struct mqtt_config cfg;
	struct client *a, *b;

	(void)state;
	if (access("/usr/bin/openssl", X_OK) != 0)
		skip();
	if (!make_certs()) {
		/* openssl failed (see openssl.log): the machine's problem */
		skip();
	}
	snprintf(extra, sizeof(extra),
		 "cafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key", B.dir, B.dir,
		 B.dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", B.dir);
	snprintf(other, sizeof(other), "%s/other.pem", B.dir);
	start_broker(extra);

	cfg = config("tb-tls", true, NULL, 0);
	cfg.tls = true;
	cfg.cafile = ca;
	a = client_new(0, &cfg);
	mqtt_start(a->m);
	assert_true(wait_for(&a->connected, 1, 5 * SEC));
	assert_int_equal(mqtt_publish(a->m, "t", "x", 1, 1, false, NULL), 0);
	assert_true(wait_for(&a->published, 1, 5 * SEC));
	assert_true(a->pub_ok[0]);

	/* a broker our CA did not sign: refused, retried, and no spinning */
	cfg = config("tb-tls-wrong", true, NULL, 0);
	cfg.tls = true;
	cfg.cafile = other;
	b = client_new(1, &cfg);
	uint64_t w0 = loop_wakeups(L);
	mqtt_start(b->m);
	assert_true(wait_for(&b->disconnected, 2, 6 * SEC));
	print_message("    wrong CA: %u: %s / %s (%llu wake-ups)\n", b->disconnected, b->reason[0],
		      b->reason[1], (unsigned long long)(loop_wakeups(L) - w0));
	assert_int_equal(b->connected, 0);
	/* says which check failed, on every attempt */
	assert_non_null(strstr(b->reason[0], "TLS: server certificate (issuer 'tb-test-ca') not "
					     "signed by a CA in cafile"));
	assert_non_null(strstr(b->reason[1], "not signed by a CA in cafile"));
	assert_true(b->retry_usec[1] >= 1600 * MSEC);
	assert_true(loop_wakeups(L) - w0 < 100);
	/* the good one is unaffected */
	assert_true(mqtt_connected(a->m));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topic_matches),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_misc_interval),
		cmocka_unit_test_setup_teardown(test_new_rejects_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_receive_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_reply_v5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broker_restart_backoff_resubscribe, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_persists_v5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_persists_v311, setup, teardown),
		cmocka_unit_test_setup_teardown(test_will_and_clean_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_while_connected_sends_no_will, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_not_authorised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_listening, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_broker_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
	};

	/* as the daemon does; 2.0.15+ no longer ignores SIGPIPE for us */
	signal(SIGPIPE, SIG_IGN);
	/* the whole run takes ~30 s; never hang a CI job */
	alarm(120);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
