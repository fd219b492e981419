/* Unit tests for http.c: libmicrohttpd driven by our loop, over real
 * loopback connections. A client socket is watched by the same loop, so
 * one thread serves and reads; every wait has a 5 s deadline. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "log.h"
#include "loop.h"
#include "timeutil.h"

struct client {
	struct loop_io io;
	struct loop_timer deadline;
	int fd;
	char buf[65536];
	size_t len;
	bool eof;
	const char *until; /* stop once the buffer holds this */
};

static struct http *server;

static void
handler(void *userdata, struct http_request *req)
{
	const char *path = http_request_path(req);
	const char *arg = http_request_arg(req, "since");
	const char *auth = http_request_header(req, "Authorization");
	char body[256];
	struct http_response r = { .status = 200, .content_type = "text/plain" };

	(void)userdata;
	if (strcmp(path, "/events") == 0) {
		http_respond_sse(req, "event: hello\ndata: {}\n\n");
		return;
	}
	snprintf(body, sizeof(body), "path=%s since=%s auth=%s", path, arg ? arg : "-",
		 auth ? auth : "-");
	r.body = body;
	r.len = strlen(body);
	r.extra_header = "X-Test: yes";
	http_respond(req, &r);
}

static void
on_readable(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct client *c = userdata;
	ssize_t n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

	(void)revents;
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		c->eof = true;
	}
	if (c->eof || (c->until && memmem(c->buf, c->len, c->until, strlen(c->until))))
		loop_quit(loop, 0);
}

static void
on_deadline(struct loop *loop, void *userdata)
{
	(void)userdata;
	loop_quit(loop, -ETIMEDOUT);
}

static struct http *
start(struct loop *loop, unsigned max_sse, size_t backlog)
{
	struct http_config cfg = {
		.listen = "127.0.0.1:0",
		.max_connections = 16,
		.max_sse_clients = max_sse,
		.max_sse_backlog = backlog,
		.sse_keepalive_usec = 15 * USEC_PER_SEC,
		.timeout_s = 5,
	};
	int err = 0;

	server = http_new(loop, &cfg, handler, NULL, &err);
	assert_non_null(server);
	assert_int_equal(err, 0);
	return server;
}

static void
client_open(struct loop *loop, struct client *c, const char *request)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	memset(c, 0, sizeof(*c));
	sa.sin_port = htons((uint16_t)http_port(server));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(c->fd, request, strlen(request), MSG_NOSIGNAL),
			 (ssize_t)strlen(request));
	loop_io_init(&c->io, on_readable, c);
	loop_timer_init(&c->deadline, on_deadline, c);
	assert_int_equal(loop_io_watch(loop, &c->io, c->fd, EPOLLIN), 0);
}

/* Runs the loop until the client saw `until` (NULL: end of stream). */
static void
client_wait(struct loop *loop, struct client *c, const char *until)
{
	c->until = until;
	loop_timer_arm(loop, &c->deadline, time_mono_usec() + 5 * USEC_PER_SEC);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_disarm(loop, &c->deadline);
	if (until)
		assert_non_null(memmem(c->buf, c->len, until, strlen(until)));
	else
		assert_true(c->eof);
}

static void
client_close(struct loop *loop, struct client *c)
{
	loop_io_unwatch(loop, &c->io);
	close(c->fd);
}

static void
test_request_args_headers_and_security_headers(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct client c;

	(void)state;
	start(loop, 4, 4096);
	assert_true(http_is_loopback(server));
	assert_true(http_port(server) > 0);
	client_open(loop, &c,
		    "GET /api/acks?since=24h%20ago HTTP/1.0\r\nAuthorization: Bearer t0k\r\n\r\n");
	client_wait(loop, &c, NULL);
	assert_non_null(strstr(c.buf, " 200 OK\r\n"));
	assert_non_null(strstr(c.buf, "path=/api/acks since=24h ago auth=Bearer t0k"));
	assert_non_null(strstr(c.buf, "X-Test: yes\r\n"));
	assert_non_null(strstr(c.buf, "X-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strstr(c.buf, "Content-Security-Policy: default-src 'none'"));
	assert_non_null(strstr(c.buf, "Cache-Control: no-store\r\n"));
	client_close(loop, &c);
	http_free(server);
	loop_free(loop);
}

static void
test_writes_are_refused(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct client c;
	struct http_stats st;

	(void)state;
	start(loop, 4, 4096);
	client_open(loop, &c, "POST /api/state HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
	client_wait(loop, &c, NULL);
	assert_non_null(strstr(c.buf, " 405 "));
	assert_non_null(strstr(c.buf, "Allow: GET, HEAD\r\n"));
	assert_null(strstr(c.buf, "path="));
	http_get_stats(server, &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.responses_4xx, 1);
	client_close(loop, &c);
	http_free(server);
	loop_free(loop);
}

/* Each message arrives whole and exactly framed (a NUL or a missing blank
 * line would keep a browser from dispatching it). */
static void
test_event_stream_framing_and_broadcast(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct client c;
	struct http_stats st;
	const char *body;

	(void)state;
	start(loop, 4, 4096);
	client_open(loop, &c, "GET /events HTTP/1.0\r\n\r\n");
	client_wait(loop, &c, "event: hello\ndata: {}\n\n");
	assert_non_null(strstr(c.buf, "Content-Type: text/event-stream"));
	http_get_stats(server, &st);
	assert_int_equal(st.sse_clients, 1);

	http_sse_broadcast(server, "state", "{\"open\":1}");
	http_sse_broadcast(server, "state", "{\"open\":2}");
	client_wait(loop, &c, "{\"open\":2}\n\n");
	body = strstr(c.buf, "\r\n\r\n");
	assert_non_null(body);
	assert_string_equal(body + 4, "retry: 1000\n\n"
				      "event: hello\ndata: {}\n\n"
				      "event: state\ndata: {\"open\":1}\n\n"
				      "event: state\ndata: {\"open\":2}\n\n");
	assert_int_equal(strlen(c.buf), c.len); /* no NUL anywhere */

	/* The client hangs up: the stream is gone from the server too. */
	client_close(loop, &c);
	for (int i = 0; i < 50; i++) {
		http_sse_broadcast(server, "state", "{}");
		struct loop_timer t;
		loop_timer_init(&t, on_deadline, NULL);
		loop_timer_arm(loop, &t, time_mono_usec() + 10 * USEC_PER_MSEC);
		loop_run(loop);
		http_get_stats(server, &st);
		if (st.sse_clients == 0)
			break;
	}
	assert_int_equal(st.sse_clients, 0);
	http_free(server);
	loop_free(loop);
}

static void
test_event_stream_limits(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	struct client a, b;
	struct http_stats st;
	char big[600];

	(void)state;
	start(loop, 1, 512);
	client_open(loop, &a, "GET /events HTTP/1.0\r\n\r\n");
	client_wait(loop, &a, "data: {}\n\n");
	/* Over max_sse_clients: 503 with Retry-After. */
	client_open(loop, &b, "GET /events HTTP/1.0\r\n\r\n");
	client_wait(loop, &b, NULL);
	assert_non_null(strstr(b.buf, " 503 "));
	assert_non_null(strstr(b.buf, "Retry-After: 10\r\n"));
	client_close(loop, &b);

	/* A stream that would fall more than max_sse_backlog behind is
	 * closed: the browser reconnects and starts from a snapshot. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	http_sse_broadcast(server, "state", big);
	client_wait(loop, &a, NULL);
	http_get_stats(server, &st);
	assert_int_equal(st.sse_dropped, 1);
	assert_null(strstr(a.buf, "xxxx"));
	client_close(loop, &a);
	http_free(server);
	loop_free(loop);
}

static void
test_bad_listen_addresses(void **state)
{
	struct loop *loop = loop_new(NULL, NULL, NULL);
	/* 192.0.2.1 (TEST-NET-1) is never a local address. */
	const char *bad[] = { "nonsense", "127.0.0.1", ":80", "192.0.2.1:80" };
	struct http_config cfg = { .max_connections = 4,
				   .max_sse_clients = 1,
				   .max_sse_backlog = 1024,
				   .sse_keepalive_usec = USEC_PER_SEC,
				   .timeout_s = 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = 0;

		cfg.listen = bad[i];
		assert_null(http_new(loop, &cfg, handler, NULL, &err));
		assert_true(err < 0);
	}
	http_free(NULL);
	loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_args_headers_and_security_headers),
		cmocka_unit_test(test_writes_are_refused),
		cmocka_unit_test(test_event_stream_framing_and_broadcast),
		cmocka_unit_test(test_event_stream_limits),
		cmocka_unit_test(test_bad_listen_addresses),
	};

	log_init(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
