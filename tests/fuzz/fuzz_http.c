/* Fuzz target: arbitrary bytes as a request to the embedded HTTP server
 * (http.c: libmicrohttpd driven by our loop), over a real loopback TCP
 * connection. The handler takes every path http.c offers: query
 * arguments, headers, static and copied bodies, an event stream with a
 * broadcast. Each input runs the loop until the server answers, closes, or
 * 5 ms pass (on loopback the server has long answered what it will). */
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "loop.h"
#include "timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *loop;
static struct http *server;

static void
handler(void *userdata, struct http_request *req)
{
	static const char fixed[] = "fixed body\n";
	const char *path = http_request_path(req);
	const char *arg = http_request_arg(req, "since");
	const char *auth = http_request_header(req, "Authorization");
	char body[512];
	struct http_response r = { .status = 200, .content_type = "text/plain" };

	(void)userdata;
	if (strcmp(path, "/events") == 0) {
		http_respond_sse(req, "event: config\ndata: {}\n\n");
		http_sse_broadcast(server, "state", "{\"open\":1}");
		return;
	}
	if (strcmp(path, "/") == 0) {
		r.body = fixed;
		r.len = sizeof(fixed) - 1;
		r.body_static = true;
		r.extra_header = "ETag: \"1\"";
	} else {
		snprintf(body, sizeof(body), "%s|%s|%s", path, arg ? arg : "-", auth ? auth : "-");
		r.status = arg ? 400 : 404;
		r.body = body;
		r.len = strlen(body);
	}
	http_respond(req, &r);
}

struct client {
	struct loop_io io;
	struct loop_timer timeout;
};

static void
on_client(struct loop *l, int fd, uint32_t revents, void *userdata)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)revents;
	(void)userdata;
	/* An answer (or the server hanging up) ends this input. */
	if (n >= 0 || (errno != EAGAIN && errno != EINTR))
		loop_quit(l, 0);
}

static void
on_timeout(struct loop *l, void *userdata)
{
	(void)userdata;
	loop_quit(l, 0);
}

static int
setup(void)
{
	struct http_config cfg = {
		.listen = "127.0.0.1:0",
		.max_connections = 64,
		.max_sse_clients = 8,
		.max_sse_backlog = 65536,
		.sse_keepalive_usec = 15 * USEC_PER_SEC,
		.timeout_s = 1,
	};
	int err = 0;

	log_init(LOG_LEVEL_ERR);
	loop = loop_new(NULL, NULL, NULL);
	if (!loop)
		return -1;
	server = http_new(loop, &cfg, handler, NULL, &err);
	return server ? 0 : -1;
}

/* libFuzzer's own timer signals can interrupt a blocking connect; the
 * connection then completes in the background. */
static int
connect_retrying(int fd, const struct sockaddr_in *sa)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0;

	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	while (poll(&p, 1, 5000) < 0)
		if (errno != EINTR)
			return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		errno = err ? err : errno;
		return -1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct client c;
	size_t off = 0;
	int fd;

	if (!loop && setup() < 0)
		abort();
	sa.sin_port = htons((uint16_t)http_port(server));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect_retrying(fd, &sa) < 0) {
		perror("fuzz_http: connect");
		abort();
	}
	/* Send what the kernel takes at once; the rest is the server's
	 * problem only if it reads it. */
	while (off < size) {
		ssize_t n = send(fd, data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	loop_io_init(&c.io, on_client, NULL);
	loop_timer_init(&c.timeout, on_timeout, NULL);
	loop_io_watch(loop, &c.io, fd, EPOLLIN);
	loop_timer_arm(loop, &c.timeout, time_mono_usec() + 5 * USEC_PER_MSEC);
	loop_run(loop);
	loop_timer_disarm(loop, &c.timeout);
	loop_io_unwatch(loop, &c.io);
	close(fd);
	return 0;
}
