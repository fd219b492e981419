/* http: the embedded HTTP server (libmicrohttpd) for the wall display and
 * the read-only API (SPEC §6).
 *
 * Driven from the daemon's own loop, no threads: the loop watches MHD's
 * epoll fd and a loop timer follows MHD_get_timeout(). The module knows
 * nothing of the board: a handler callback answers each GET/HEAD request
 * (other methods get 405 here), and server-sent-event streams opened with
 * http_respond_sse() are fed by http_sse_broadcast(). Adds security headers
 * (CSP, nosniff, no framing, no referrer) to every response. Logs at debug
 * level only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct http;
/* One request; valid only during the handler call. */
struct http_request;

typedef void (*http_handler_fn)(void *userdata, struct http_request *req);

struct http_config {
	const char *listen;          /* "HOST:PORT" or "[V6]:PORT"; port 0 = any */
	unsigned max_connections;    /* all clients, SSE streams included */
	unsigned max_sse_clients;    /* open event streams */
	size_t max_sse_backlog;      /* unsent bytes per stream before it is dropped */
	uint64_t sse_keepalive_usec; /* comment line on idle streams */
	unsigned timeout_s;          /* idle non-streaming connections */
};

/* Binds and starts serving. NULL with *err = -errno (-EADDRINUSE,
 * -EINVAL for an address that does not parse, -EADDRNOTAVAIL ...). */
struct http *http_new(struct loop *loop, const struct http_config *cfg, http_handler_fn handler,
		      void *userdata, int *err);
/* Ends every stream and closes every connection. NULL-safe. */
void http_free(struct http *h);

/* The bound port (useful with port 0). */
unsigned http_port(const struct http *h);
/* Whether the listening address is a loopback address. */
bool http_is_loopback(const struct http *h);

/* Request accessors; strings are NULL when absent. */
const char *http_request_path(const struct http_request *req);
const char *http_request_header(const struct http_request *req, const char *name);
/* A query-string argument, URL-decoded. */
const char *http_request_arg(const struct http_request *req, const char *name);

struct http_response {
	unsigned status;
	const char *content_type;
	const void *body;
	size_t len;
	bool body_static;          /* body outlives the response: not copied */
	const char *cache_control; /* NULL: "no-store" */
	const char *extra_header;  /* one "Name: value" or NULL */
};

/* Queues the response. 0 or -ENOMEM/-EIO. */
int http_respond(struct http_request *req, const struct http_response *resp);

/* Turns the request into a text/event-stream; `first` (may be NULL) is a
 * complete SSE message sent before anything else. -EMFILE when
 * max_sse_clients streams are open (the client gets 503). */
int http_respond_sse(struct http_request *req, const char *first);

/* Queues "event: <event>\ndata: <data>\n\n" on every open stream. `data`
 * must not contain a newline (one JSON document). A stream whose backlog
 * exceeds max_sse_backlog is closed; the browser reconnects. */
void http_sse_broadcast(struct http *h, const char *event, const char *data);

struct http_stats {
	uint64_t requests; /* handled by the handler or refused */
	uint64_t responses_4xx;
	uint64_t responses_5xx;
	uint64_t sse_dropped; /* streams closed for falling behind */
	unsigned sse_clients; /* open now */
};
void http_get_stats(const struct http *h, struct http_stats *out);
