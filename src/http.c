/* http: libmicrohttpd in epoll mode, run from our loop.
 *
 * MHD is started without any thread of its own (no internal polling
 * flag): the loop watches MHD's epoll fd, and after every MHD_run() a loop
 * timer is armed from MHD_get_timeout(). Event streams are responses whose
 * content reader suspends the connection when it has nothing to send (MHD
 * would otherwise call it again at once, a busy loop); a broadcast appends
 * to each stream's buffer and resumes it. This is the only file that
 * includes <microhttpd.h>.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"
#include "timeutil.h"

#define SSE_CHUNK 16384

static const char security_csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
	"frame-ancestors 'none'";

struct sse_client {
	struct http *h;
	struct MHD_Connection *conn;
	char *buf; /* pending bytes are buf[pos, len) */
	size_t len, cap, pos;
	bool suspended;
	bool closing;
	struct sse_client *prev, *next;
};

struct http {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	struct loop_io io;
	struct loop_timer timer;
	struct loop_timer keepalive_timer;
	http_handler_fn handler;
	void *userdata;
	struct http_config cfg;
	struct sse_client *clients;
	unsigned port;
	bool loopback;
	struct http_stats stats;
};

struct http_request {
	struct http *h;
	struct MHD_Connection *conn;
	const char *path;
	bool responded;
};

/* --- loop integration ---------------------------------------------------- */

static void
rearm(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
		loop_timer_arm(h->loop, &h->timer, loop_now_usec(h->loop) + ms * USEC_PER_MSEC);
	else
		loop_timer_disarm(h->loop, &h->timer);
}

/* Twice: at its connection limit libmicrohttpd takes the listening socket
 * out of its epoll set, and puts it back only at the start of a later run.
 * When this run closes connections, nothing would wake the loop for that
 * later run, and new clients would wait in the listen queue for good (seen
 * after a flood of connections in test_hostile_requests_do_not_hurt). The
 * second run puts the socket back and accepts what waits. */
static void
run(struct http *h)
{
	if (MHD_run(h->mhd) != MHD_YES || MHD_run(h->mhd) != MHD_YES)
		log_debug("http: MHD_run failed");
	rearm(h);
}

static void
on_readable(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	(void)loop;
	(void)fd;
	(void)revents;
	run(userdata);
}

static void
on_timer(struct loop *loop, void *userdata)
{
	(void)loop;
	run(userdata);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("http: %s", buf);
}

/* --- event streams ------------------------------------------------------- */

static void
sse_wake(struct sse_client *c)
{
	if (!c->suspended)
		return;
	c->suspended = false;
	MHD_resume_connection(c->conn);
	/* Resumed connections are handled by the next MHD_run(); make it
	 * happen in this loop iteration rather than at the next timeout. */
	loop_timer_arm(c->h->loop, &c->h->timer, loop_now_usec(c->h->loop));
}

static int
sse_append(struct sse_client *c, const char *s, size_t n)
{
	if (c->closing)
		return 0;
	if (c->pos > 0 && c->pos == c->len)
		c->pos = c->len = 0;
	if (c->len - c->pos + n > c->h->cfg.max_sse_backlog) {
		/* A client that cannot keep up gets a fresh start: EventSource
		 * reconnects and the first message is a full snapshot. */
		c->closing = true;
		c->h->stats.sse_dropped++;
		log_debug("http: event stream too far behind; closing it");
		sse_wake(c);
		return -ENOBUFS;
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : SSE_CHUNK;
		char *nb;

		if (c->pos > 0) {
			memmove(c->buf, c->buf + c->pos, c->len - c->pos);
			c->len -= c->pos;
			c->pos = 0;
		}
		while (cap < c->len + n)
			cap *= 2;
		nb = cap != c->cap ? realloc(c->buf, cap) : c->buf;
		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = cap;
	}
	if (n)
		memcpy(c->buf + c->len, s, n);
	c->len += n;
	sse_wake(c);
	return 0;
}

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_client *c = cls;
	size_t n;

	(void)pos;
	if (c->pos < c->len) {
		n = c->len - c->pos < max ? c->len - c->pos : max;
		memcpy(buf, c->buf + c->pos, n);
		c->pos += n;
		return (ssize_t)n;
	}
	if (c->closing)
		return MHD_CONTENT_READER_END_OF_STREAM;
	MHD_suspend_connection(c->conn);
	c->suspended = true;
	return 0;
}

/* MHD is done with the response: the connection is closed. */
static void
sse_free(void *cls)
{
	struct sse_client *c = cls;
	struct http *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->stats.sse_clients--;
	if (h->stats.sse_clients == 0)
		loop_timer_disarm(h->loop, &h->keepalive_timer);
	free(c->buf);
	free(c);
}

static void
on_keepalive(struct loop *loop, void *userdata)
{
	static const char comment[] = ": keepalive\n\n";
	struct http *h = userdata;
	struct sse_client *next;

	/* A write is also how a vanished client (no FIN) is noticed. */
	for (struct sse_client *c = h->clients; c; c = next) {
		next = c->next;
		sse_append(c, comment, sizeof(comment) - 1);
	}
	if (h->clients)
		loop_timer_arm(loop, &h->keepalive_timer,
			       loop_now_usec(loop) + h->cfg.sse_keepalive_usec);
}

void
http_sse_broadcast(struct http *h, const char *event, const char *data)
{
	size_t n;
	char *msg = NULL;

	if (!h || !h->clients)
		return;
	if (asprintf(&msg, "event: %s\ndata: %s\n\n", event, data) < 0)
		return;
	n = strlen(msg);
	for (struct sse_client *c = h->clients; c; c = c->next)
		sse_append(c, msg, n);
	free(msg);
}

/* --- requests ------------------------------------------------------------ */

static void
count_status(struct http *h, unsigned status)
{
	if (status >= 500)
		h->stats.responses_5xx++;
	else if (status >= 400)
		h->stats.responses_4xx++;
}

static void
add_common_headers(struct MHD_Response *r, const char *cache_control)
{
	MHD_add_response_header(r, "Cache-Control", cache_control ? cache_control : "no-store");
	MHD_add_response_header(r, "Content-Security-Policy", security_csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

int
http_respond(struct http_request *req, const struct http_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(resp->len, (void *)(uintptr_t)resp->body,
					    resp->body_static ? MHD_RESPMEM_PERSISTENT
							      : MHD_RESPMEM_MUST_COPY);
	if (!r)
		return -ENOMEM;
	add_common_headers(r, resp->cache_control);
	if (resp->content_type)
		MHD_add_response_header(r, "Content-Type", resp->content_type);
	if (resp->extra_header) {
		char name[64];
		const char *colon = strchr(resp->extra_header, ':');
		size_t n = colon ? (size_t)(colon - resp->extra_header) : 0;

		if (n > 0 && n < sizeof(name)) {
			memcpy(name, resp->extra_header, n);
			name[n] = '\0';
			MHD_add_response_header(r, name, colon + 1 + strspn(colon + 1, " "));
		}
	}
	ok = MHD_queue_response(req->conn, resp->status, r);
	MHD_destroy_response(r);
	req->responded = true;
	count_status(req->h, resp->status);
	return ok == MHD_YES ? 0 : -EIO;
}

int
http_respond_sse(struct http_request *req, const char *first)
{
	struct http *h = req->h;
	struct sse_client *c;
	struct MHD_Response *r;
	enum MHD_Result ok;

	if (h->stats.sse_clients >= h->cfg.max_sse_clients) {
		static const char busy[] = "too many display clients\n";
		struct http_response resp = {
			.status = 503,
			.content_type = "text/plain; charset=utf-8",
			.body = busy,
			.len = sizeof(busy) - 1,
			.body_static = true,
			.extra_header = "Retry-After: 10",
		};
		http_respond(req, &resp);
		return -EMFILE;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->h = h;
	c->conn = req->conn;
	/* Tell EventSource how soon to reconnect after the daemon restarts. */
	sse_append(c, "retry: 1000\n\n", 13);
	if (first)
		sse_append(c, first, strlen(first));
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_CHUNK, sse_read, c, sse_free);
	if (!r) {
		free(c->buf);
		free(c);
		return -ENOMEM;
	}
	add_common_headers(r, "no-store");
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	c->next = h->clients;
	if (h->clients)
		h->clients->prev = c;
	h->clients = c;
	if (h->stats.sse_clients++ == 0)
		loop_timer_arm(h->loop, &h->keepalive_timer,
			       loop_now_usec(h->loop) + h->cfg.sse_keepalive_usec);
	ok = MHD_queue_response(req->conn, 200, r);
	MHD_destroy_response(r); /* sse_free runs when the connection ends */
	req->responded = true;
	return ok == MHD_YES ? 0 : -EIO;
}

const char *
http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_request_arg(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void
respond_text(struct http_request *req, unsigned status, const char *text, const char *extra)
{
	struct http_response resp = {
		.status = status,
		.content_type = "text/plain; charset=utf-8",
		.body = text,
		.len = strlen(text),
		.body_static = true,
		.extra_header = extra,
	};
	http_respond(req, &resp);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	static int seen;
	struct http *h = cls;
	struct http_request req = { .h = h, .conn = conn, .path = url };

	(void)version;
	(void)upload_data;
	if (*con_cls == &seen) {
		/* A body sent with a request we already answered: drop it. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	*con_cls = &seen;
	h->stats.requests++;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		respond_text(&req, 405, "read-only: only GET and HEAD\n", "Allow: GET, HEAD");
		return MHD_YES;
	}
	h->handler(h->userdata, &req);
	if (!req.responded)
		respond_text(&req, 500, "no response\n", NULL);
	return MHD_YES;
}

/* --- lifecycle ----------------------------------------------------------- */

static int
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256], port[8];
	const char *colon = strrchr(listen, ':');
	const char *h0 = listen;
	size_t hl;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;

	if (!colon || strlen(colon + 1) >= sizeof(port))
		return -EINVAL;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
		h0++;
		hl -= 2;
		hints.ai_flags |= AI_NUMERICHOST;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h0, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		return -EADDRNOTAVAIL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static bool
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

struct http *
http_new(struct loop *loop, const struct http_config *cfg, http_handler_fn handler, void *userdata,
	 int *err)
{
	struct http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen = 0;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	int r;

	*err = 0;
	if (!h) {
		*err = -ENOMEM;
		return NULL;
	}
	h->loop = loop;
	h->cfg = *cfg;
	h->handler = handler;
	h->userdata = userdata;
	loop_io_init(&h->io, on_readable, h);
	loop_timer_init(&h->timer, on_timer, h);
	loop_timer_init(&h->keepalive_timer, on_keepalive, h);

	r = parse_listen(cfg->listen, &ss, &sslen);
	if (r < 0) {
		*err = r;
		goto fail;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->loopback = is_loopback(&ss);
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
				  mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
				  MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				  MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!h->mhd) {
		*err = errno ? -errno : -EADDRNOTAVAIL;
		goto fail;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || loop_io_watch(loop, &h->io, info->epoll_fd, EPOLLIN) < 0) {
		*err = -EIO;
		goto fail;
	}
	rearm(h);
	return h;
fail:
	http_free(h);
	return NULL;
}

void
http_free(struct http *h)
{
	if (!h)
		return;
	loop_io_unwatch(h->loop, &h->io);
	loop_timer_disarm(h->loop, &h->timer);
	loop_timer_disarm(h->loop, &h->keepalive_timer);
	if (h->mhd) {
		/* MHD refuses to stop with suspended connections. */
		for (struct sse_client *c = h->clients; c; c = c->next) {
			c->closing = true;
			if (c->suspended) {
				c->suspended = false;
				MHD_resume_connection(c->conn);
			}
		}
		MHD_stop_daemon(h->mhd);
	}
	free(h);
}

unsigned
http_port(const struct http *h)
{
	return h->port;
}

bool
http_is_loopback(const struct http *h)
{
	return h->loopback;
}

void
http_get_stats(const struct http *h, struct http_stats *out)
{
	*out = h->stats;
}
