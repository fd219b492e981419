/* ctl: the local control socket. See include/ctl.h for the contract and
 * docs/teamboardctl.md for the protocol spoken over it. */

#include "ctl.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define CTL_BACKLOG        16
#define CTL_INBUF_INITIAL  4096
#define CTL_OUTBUF_INITIAL 4096
/* Accept at most this many connections per wake-up so a connect storm
 * cannot starve the rest of the loop. */
#define CTL_ACCEPT_BURST 16
/* After EMFILE/ENFILE the listening socket stays readable; pause accepting
 * for a while instead of spinning on it. */
#define CTL_ACCEPT_PAUSE_USEC (250 * 1000ULL)
/* Bytes of unread input discarded before closing a dropped client, so the
 * error line we just queued is not lost to a connection reset. */
#define CTL_DRAIN_MAX (256 * 1024)

#define CTL_ERR_TOO_LONG "{\"status\":\"error\",\"error\":\"request line too long\"}"
#define CTL_ERR_TOO_MANY "{\"status\":\"error\",\"error\":\"too many control clients\"}"

struct ctl_client {
	struct ctl *ctl;
	struct ctl_client *next;
	struct loop_io io;
	int fd;
	uint32_t events; /* what io is currently watched for */
	bool dead;       /* closed; freed by the reaper */
	bool closing;    /* peer finished sending: flush, then close */
	bool watcher;

	char *in;
	size_t in_len, in_cap;
	size_t in_scanned; /* bytes of `in` known to hold no '\n' */

	char *out;
	size_t out_head, out_len, out_cap; /* pending: out[head..len) */
};

struct ctl {
	struct loop *loop;
	int fd;
	struct loop_io io;
	char *path;
	dev_t dev;
	ino_t ino;
	size_t max_clients;
	ctl_request_fn on_request;
	void *userdata;

	struct ctl_client *clients;
	size_t n_live;

	struct loop_timer reap_timer;
	struct loop_timer accept_timer;
};

static void client_io(struct loop *loop, int fd, uint32_t revents, void *userdata);

static size_t
client_pending(const struct ctl_client *c)
{
	return c->out_len - c->out_head;
}

/* Closes the connection now but keeps the struct: an event for it may still
 * be queued in the loop's current batch, so it is freed by the reaper. */
static void
client_kill(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;

	if (c->dead)
		return;
	c->dead = true;
	ctl->n_live--;
	loop_io_unwatch(ctl->loop, &c->io);
	close(c->fd);
	c->fd = -1;
	free(c->in);
	c->in = NULL;
	free(c->out);
	c->out = NULL;
	c->in_len = c->in_cap = c->out_head = c->out_len = c->out_cap = 0;
	loop_timer_arm(ctl->loop, &ctl->reap_timer, loop_now_usec(ctl->loop));
}

static void
reap(struct ctl *ctl)
{
	struct ctl_client **pp = &ctl->clients;

	while (*pp) {
		struct ctl_client *c = *pp;

		if (c->dead) {
			*pp = c->next;
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

static void
reap_timer_cb(struct loop *loop, void *userdata)
{
	struct ctl *ctl = userdata;

	(void)loop;
	reap(ctl);
}

static void
client_update_events(struct ctl_client *c)
{
	uint32_t want = 0;

	if (c->dead)
		return;
	if (!c->closing)
		want |= EPOLLIN;
	if (client_pending(c) > 0)
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	if (loop_io_watch(c->ctl->loop, &c->io, c->fd, want) < 0) {
		log_debug("ctl: cannot update watch on client fd %d, dropping it", c->fd);
		client_kill(c);
		return;
	}
	c->events = want;
}

/* Writes as much pending output as the socket takes without blocking. */
static void
client_flush(struct ctl_client *c)
{
	while (!c->dead && client_pending(c) > 0) {
		ssize_t n = send(c->fd, c->out + c->out_head, client_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_debug("ctl: write to client fd %d failed: %s", c->fd, strerror(errno));
			client_kill(c);
			return;
		}
		c->out_head += (size_t)n;
	}
	if (c->dead)
		return;
	if (client_pending(c) == 0) {
		c->out_head = c->out_len = 0;
		if (c->closing) {
			client_kill(c);
			return;
		}
	}
	client_update_events(c);
}

static int
client_queue(struct ctl_client *c, const char *line, size_t len)
{
	size_t pending = client_pending(c);
	size_t need;

	if (len > CTL_OUTBUF_MAX || pending + len + 1 > CTL_OUTBUF_MAX)
		return -ENOBUFS;
	need = pending + len + 1;
	if (c->out_head > 0 && c->out_len + len + 1 > c->out_cap) {
		memmove(c->out, c->out + c->out_head, pending);
		c->out_head = 0;
		c->out_len = pending;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : CTL_OUTBUF_INITIAL;
		char *p;

		while (cap < need)
			cap *= 2;
		if (cap > CTL_OUTBUF_MAX)
			cap = CTL_OUTBUF_MAX;
		p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	return 0;
}

int
ctl_reply(struct ctl_client *c, const char *line)
{
	int r;

	if (!c || !line)
		return -EINVAL;
	if (c->dead)
		return -ENOTCONN;
	r = client_queue(c, line, strlen(line));
	if (r < 0) {
		/* A reader this far behind would make us hold unbounded memory
		 * or block; dropping it is the only safe answer. */
		log_debug("ctl: client fd %d is not reading (%zu bytes queued), dropping it", c->fd,
			  client_pending(c));
		client_kill(c);
		return r;
	}
	client_flush(c);
	return c->dead ? -EPIPE : 0;
}

void
ctl_watch(struct ctl_client *c)
{
	if (c)
		c->watcher = true;
}

void
ctl_broadcast(struct ctl *ctl, const char *line)
{
	if (!ctl || !line)
		return;
	for (struct ctl_client *c = ctl->clients; c; c = c->next)
		if (!c->dead && c->watcher)
			(void)ctl_reply(c, line);
	/* Outside our own callbacks nothing can hold a pointer to a client,
	 * but another module's io event for a killed client may still be
	 * queued in this loop iteration: leave freeing to the reap timer. */
}

size_t
ctl_watchers(const struct ctl *ctl)
{
	size_t n = 0;

	if (!ctl)
		return 0;
	for (const struct ctl_client *c = ctl->clients; c; c = c->next)
		if (!c->dead && c->watcher)
			n++;
	return n;
}

/* Discards unread input (bounded) and closes: closing a UNIX socket with
 * unread data resets the connection, which could cost the peer the last
 * line we queued for it. */
static void
client_drain_and_close(int fd)
{
	char sink[4096];
	size_t drained = 0;

	while (drained < CTL_DRAIN_MAX) {
		ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n <= 0)
			break;
		drained += (size_t)n;
	}
	close(fd);
}

/* Sends the error line we owe a client we are about to drop, best effort. */
static void
client_drop_with(struct ctl_client *c, const char *line)
{
	int fd;

	if (client_queue(c, line, strlen(line)) == 0)
		client_flush(c);
	if (c->dead)
		return;
	/* Hand the fd to the drain instead of letting client_kill() close it. */
	fd = dup(c->fd);
	client_kill(c);
	if (fd >= 0)
		client_drain_and_close(fd);
}

/* Strips one trailing '\r' and hands the line to the callback. */
static void
client_request(struct ctl_client *c, size_t start, size_t len)
{
	struct ctl *ctl = c->ctl;

	c->in[start + len] = '\0';
	if (len > 0 && c->in[start + len - 1] == '\r')
		c->in[start + --len] = '\0';
	if (len > CTL_LINE_MAX) {
		client_drop_with(c, CTL_ERR_TOO_LONG);
		return;
	}
	if (len > 0)
		ctl->on_request(ctl->userdata, c, c->in + start, len);
}

static void
client_process_lines(struct ctl_client *c, bool eof)
{
	size_t start = 0;

	while (!c->dead) {
		char *nl = memchr(c->in + c->in_scanned, '\n', c->in_len - c->in_scanned);

		if (!nl) {
			c->in_scanned = c->in_len;
			break;
		}
		c->in_scanned = (size_t)(nl - c->in) + 1;
		client_request(c, start, (size_t)(nl - c->in) - start);
		start = c->in_scanned;
	}
	if (c->dead)
		return;
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	c->in_scanned -= start;
	if (!eof) {
		/* Even after dropping a final '\r' this could not become a
		 * line we accept: answer now instead of waiting for more. */
		if (c->in_len > CTL_LINE_MAX + 1 ||
		    (c->in_len == CTL_LINE_MAX + 1 && c->in[CTL_LINE_MAX] != '\r'))
			client_drop_with(c, CTL_ERR_TOO_LONG);
		return;
	}
	/* `printf '{"verb":"ping"}' | nc -U sock` sends no final newline:
	 * serve the last line anyway, then close once the replies are out. */
	if (c->in_len > 0) {
		size_t len = c->in_len;

		c->in_len = c->in_scanned = 0;
		client_request(c, 0, len);
		if (c->dead)
			return;
	}
	c->closing = true;
	client_flush(c);
}

static void
client_read(struct ctl_client *c)
{
	/* Room for a maximal line, its "\r\n", and a NUL after an
	 * unterminated last line. */
	const size_t max_cap = CTL_LINE_MAX + 3;
	ssize_t n;

	if (c->in_len + 1 >= c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap * 2 : CTL_INBUF_INITIAL;
		char *p;

		if (cap > max_cap)
			cap = max_cap;
		p = realloc(c->in, cap);
		if (!p) {
			log_debug("ctl: out of memory reading client fd %d, dropping it", c->fd);
			client_kill(c);
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("ctl: read from client fd %d failed: %s", c->fd, strerror(errno));
		client_kill(c);
		return;
	}
	c->in_len += (size_t)n;
	client_process_lines(c, n == 0);
}

static void
client_io(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct ctl_client *c = userdata;

	(void)loop;
	(void)fd;
	if (c->dead)
		return;
	if (revents & EPOLLOUT)
		client_flush(c);
	if (!c->dead && !c->closing && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		client_read(c);
	else if (!c->dead && (revents & (EPOLLHUP | EPOLLERR)))
		client_kill(c);
}

static void
refuse(int fd)
{
	static const char msg[] = CTL_ERR_TOO_MANY "\n";

	(void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	client_drain_and_close(fd);
}

static void
accept_timer_cb(struct loop *loop, void *userdata)
{
	struct ctl *ctl = userdata;

	if (loop_io_watch(loop, &ctl->io, ctl->fd, EPOLLIN) < 0)
		loop_timer_arm(loop, &ctl->accept_timer,
			       loop_now_usec(loop) + CTL_ACCEPT_PAUSE_USEC);
}

static void
listener_io(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct ctl *ctl = userdata;

	(void)revents;
	for (int i = 0; i < CTL_ACCEPT_BURST; i++) {
		struct ctl_client *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_debug("ctl: accept failed: %s, pausing for %llu ms",
					  strerror(errno),
					  (unsigned long long)(CTL_ACCEPT_PAUSE_USEC / 1000));
				loop_io_unwatch(loop, &ctl->io);
				loop_timer_arm(loop, &ctl->accept_timer,
					       loop_now_usec(loop) + CTL_ACCEPT_PAUSE_USEC);
			}
			break;
		}
		if (ctl->n_live >= ctl->max_clients) {
			log_debug("ctl: %zu clients connected, refusing another", ctl->n_live);
			refuse(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->ctl = ctl;
		c->fd = cfd;
		loop_io_init(&c->io, client_io, c);
		if (loop_io_watch(loop, &c->io, cfd, EPOLLIN) < 0) {
			close(cfd);
			free(c);
			continue;
		}
		c->events = EPOLLIN;
		c->next = ctl->clients;
		ctl->clients = c;
		ctl->n_live++;
		log_debug("ctl: client fd %d connected (%zu clients)", cfd, ctl->n_live);
	}
}

static int
mkdir_parents(const char *path)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A socket file left by a daemon that died is replaced; one a live daemon
 * still answers on is not (two daemons would fight over the GPIO lines). */
static int
clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		return -EADDRINUSE;
	}
	r = errno;
	close(fd);
	if (r != ECONNREFUSED && r != ENOENT)
		return -r;
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	log_debug("ctl: removed stale socket %s", sa->sun_path);
	return 0;
}

struct ctl *
ctl_new(struct loop *loop, const char *path, size_t max_clients, ctl_request_fn on_request,
	void *userdata, int *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl *ctl = NULL;
	struct stat st;
	mode_t old_umask;
	int r;

	if (!loop || !path || !*path || !on_request || max_clients == 0) {
		r = -EINVAL;
		goto fail;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	strcpy(sa.sun_path, path);

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		r = -ENOMEM;
		goto fail;
	}
	ctl->fd = -1;
	ctl->loop = loop;
	ctl->max_clients = max_clients;
	ctl->on_request = on_request;
	ctl->userdata = userdata;
	loop_io_init(&ctl->io, listener_io, ctl);
	loop_timer_init(&ctl->reap_timer, reap_timer_cb, ctl);
	loop_timer_init(&ctl->accept_timer, accept_timer_cb, ctl);

	r = mkdir_parents(path);
	if (r < 0)
		goto fail;
	r = clear_stale(&sa);
	if (r < 0)
		goto fail;

	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		r = -errno;
		goto fail;
	}
	/* The file must never be reachable by "other", not even between
	 * bind() and chmod(). */
	old_umask = umask(0117);
	r = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0)
		r = -errno;
	umask(old_umask);
	if (r < 0)
		goto fail;
	ctl->path = strdup(path);
	if (!ctl->path || lstat(path, &st) < 0) {
		r = ctl->path ? -errno : -ENOMEM;
		unlink(path);
		goto fail;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	if (chmod(path, 0660) < 0 || listen(ctl->fd, CTL_BACKLOG) < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_io_watch(loop, &ctl->io, ctl->fd, EPOLLIN);
	if (r < 0)
		goto fail;
	log_debug("ctl: listening on %s", path);
	return ctl;

fail:
	if (err)
		*err = r;
	ctl_free(ctl);
	return NULL;
}

void
ctl_free(struct ctl *ctl)
{
	struct stat st;

	if (!ctl)
		return;
	for (struct ctl_client *c = ctl->clients; c; c = c->next)
		client_kill(c);
	reap(ctl);
	loop_timer_disarm(ctl->loop, &ctl->reap_timer);
	loop_timer_disarm(ctl->loop, &ctl->accept_timer);
	loop_io_unwatch(ctl->loop, &ctl->io);
	if (ctl->fd >= 0)
		close(ctl->fd);
	/* Only remove the file we created: a second daemon that replaced it
	 * (after deciding ours was stale) keeps its own. */
	if (ctl->path && lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
