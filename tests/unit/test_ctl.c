/* Unit tests for the control socket server, with the real loop and plain
 * client sockets in the same process. The loop is driven until a condition
 * holds, bounded by a deadline timer; nothing sleeps. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <cmocka.h>

#include "ctl.h"
#include "loop.h"

#define MAX_LINES 64
#define BIG_REPLY (CTL_OUTBUF_MAX / 2)
#define BOUND_MS  3000

struct fixture;

struct tclient {
	struct fixture *fx;
	int fd;
	struct loop_io io;
	char *buf;
	size_t len, cap;
	bool eof;
	int err;
};

struct fixture {
	struct loop *loop;
	struct ctl *ctl;
	char dir[64];
	char path[128];
	int fds_before;

	/* what the request callback saw */
	char *lines[MAX_LINES];
	size_t lens[MAX_LINES];
	size_t n_lines;
	int last_reply_rc;

	/* driving */
	struct loop_timer tick, bound;
	bool (*pred)(struct fixture *fx, void *arg);
	void *pred_arg;
	bool timed_out;
};

/* ---- helpers -------------------------------------------------------- */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The request callback: a tiny protocol of its own so tests can make the
 * server reply, watch and broadcast from inside the callback. */
static void
on_request(void *userdata, struct ctl_client *client, const char *line, size_t len)
{
	struct fixture *fx = userdata;

	assert_int_equal(line[len], '\0');
	if (fx->n_lines < MAX_LINES) {
		fx->lines[fx->n_lines] = malloc(len + 1);
		assert_non_null(fx->lines[fx->n_lines]);
		memcpy(fx->lines[fx->n_lines], line, len + 1);
		fx->lens[fx->n_lines] = len;
		fx->n_lines++;
	}
	if (strncmp(line, "echo ", 5) == 0) {
		fx->last_reply_rc = ctl_reply(client, line + 5);
	} else if (strcmp(line, "multi") == 0) {
		ctl_reply(client, "one");
		ctl_reply(client, "two");
		fx->last_reply_rc = ctl_reply(client, "three");
	} else if (strcmp(line, "watch") == 0) {
		ctl_watch(client);
		fx->last_reply_rc = ctl_reply(client, "{\"status\":\"ok\"}");
	} else if (strncmp(line, "bcast ", 6) == 0) {
		ctl_broadcast(fx->ctl, line + 6);
		fx->last_reply_rc = ctl_reply(client, "sent");
	} else if (strcmp(line, "big") == 0) {
		/* more than the kernel buffers: part of it stays queued */
		char *big = malloc(BIG_REPLY + 1);

		assert_non_null(big);
		memset(big, 'b', BIG_REPLY);
		big[BIG_REPLY] = '\0';
		fx->last_reply_rc = ctl_reply(client, big);
		free(big);
	} else if (strcmp(line, "huge") == 0) {
		char *big = malloc(CTL_OUTBUF_MAX + 1);

		assert_non_null(big);
		memset(big, 'h', CTL_OUTBUF_MAX);
		big[CTL_OUTBUF_MAX] = '\0';
		fx->last_reply_rc = ctl_reply(client, big);
		free(big);
		/* the client is gone now; replying again must fail cleanly */
		assert_int_equal(ctl_reply(client, "after"), -ENOTCONN);
	}
}

static void
tick_cb(struct loop *loop, void *userdata)
{
	struct fixture *fx = userdata;

	if (fx->pred && fx->pred(fx, fx->pred_arg))
		loop_quit(loop, 0);
	else
		loop_timer_arm(loop, &fx->tick, loop_now_usec(loop) + 1000);
}

static void
bound_cb(struct loop *loop, void *userdata)
{
	struct fixture *fx = userdata;

	fx->timed_out = true;
	loop_quit(loop, -ETIMEDOUT);
}

/* Runs the loop until pred holds; false if it did not within BOUND_MS. */
static bool
run_until(struct fixture *fx, bool (*pred)(struct fixture *, void *), void *arg)
{
	if (pred(fx, arg))
		return true;
	fx->pred = pred;
	fx->pred_arg = arg;
	fx->timed_out = false;
	loop_timer_arm(fx->loop, &fx->tick, loop_now_usec(fx->loop));
	loop_timer_arm(fx->loop, &fx->bound, loop_now_usec(fx->loop) + BOUND_MS * 1000ULL);
	loop_run(fx->loop);
	loop_timer_disarm(fx->loop, &fx->tick);
	loop_timer_disarm(fx->loop, &fx->bound);
	fx->pred = NULL;
	return !fx->timed_out && pred(fx, arg);
}

static void
tclient_io(struct loop *loop, int fd, uint32_t revents, void *userdata)
{
	struct tclient *c = userdata;

	(void)revents;
	for (;;) {
		ssize_t n;

		if (c->cap - c->len < 4096) {
			c->cap = c->cap ? c->cap * 2 : 8192;
			c->buf = realloc(c->buf, c->cap);
			assert_non_null(c->buf);
		}
		n = recv(fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			c->buf[c->len] = '\0';
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		c->eof = true;
		c->err = n < 0 ? errno : 0;
		loop_io_unwatch(loop, &c->io);
		return;
	}
}

static struct tclient *
tclient_connect(struct fixture *fx, bool read_it)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tclient *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->fx = fx;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	strcpy(sa.sun_path, fx->path);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	loop_io_init(&c->io, tclient_io, c);
	if (read_it)
		assert_int_equal(loop_io_watch(fx->loop, &c->io, c->fd, EPOLLIN), 0);
	return c;
}

static void
tclient_close(struct tclient *c)
{
	if (!c)
		return;
	loop_io_unwatch(c->fx->loop, &c->io);
	close(c->fd);
	free(c->buf);
	free(c);
}

static bool
pred_outq_empty(struct fixture *fx, void *arg)
{
	struct tclient *c = arg;
	int outq = 0;

	(void)fx;
	if (ioctl(c->fd, SIOCOUTQ, &outq) < 0)
		return true;
	return outq == 0;
}

/* Writes everything, letting the server read whenever the socket is full;
 * returns with the server having consumed all of it (or dropped us). */
static void
tclient_send(struct tclient *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EPIPE || errno == ECONNRESET)
				return;
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			assert_true(run_until(c->fx, pred_outq_empty, c));
			continue;
		}
		data += n;
		len -= (size_t)n;
	}
	assert_true(run_until(c->fx, pred_outq_empty, c));
}

static void
tclient_sends(struct tclient *c, const char *s)
{
	tclient_send(c, s, strlen(s));
}

struct want_lines {
	struct tclient *c;
	size_t n;
};

static size_t
count_nl(const struct tclient *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->len; i++)
		n += c->buf[i] == '\n';
	return n;
}

static bool
pred_lines(struct fixture *fx, void *arg)
{
	struct want_lines *w = arg;

	(void)fx;
	return count_nl(w->c) >= w->n;
}

static bool
pred_eof(struct fixture *fx, void *arg)
{
	(void)fx;
	return ((struct tclient *)arg)->eof;
}

static bool
pred_requests(struct fixture *fx, void *arg)
{
	return fx->n_lines >= *(size_t *)arg;
}

static bool
pred_no_watchers(struct fixture *fx, void *arg)
{
	(void)arg;
	return ctl_watchers(fx->ctl) == 0;
}

static void
expect_lines(struct tclient *c, size_t n)
{
	struct want_lines w = { c, n };

	assert_true(run_until(c->fx, pred_lines, &w));
}

static void
expect_requests(struct fixture *fx, size_t n)
{
	assert_true(run_until(fx, pred_requests, &n));
}

static void
expect_eof(struct tclient *c)
{
	assert_true(run_until(c->fx, pred_eof, c));
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	int err = 0;

	assert_non_null(fx);
	fx->fds_before = count_fds();
	strcpy(fx->dir, "/tmp/test_ctl.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/ctl.sock", fx->dir);
	fx->loop = loop_new(NULL, NULL, NULL);
	assert_non_null(fx->loop);
	loop_timer_init(&fx->tick, tick_cb, fx);
	loop_timer_init(&fx->bound, bound_cb, fx);
	fx->ctl = ctl_new(fx->loop, fx->path, 4, on_request, fx, &err);
	assert_non_null(fx->ctl);
	assert_int_equal(err, 0);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char sub[160];

	ctl_free(fx->ctl);
	loop_free(fx->loop);
	for (size_t i = 0; i < fx->n_lines; i++)
		free(fx->lines[i]);
	snprintf(sub, sizeof(sub), "%s/sub/dir/ctl.sock", fx->dir);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/sub/dir", fx->dir);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/sub", fx->dir);
	rmdir(sub);
	unlink(fx->path);
	rmdir(fx->dir);
	/* every socket the server accepted was closed */
	assert_int_equal(count_fds(), fx->fds_before);
	free(fx);
	return 0;
}

/* ---- tests ---------------------------------------------------------- */

static void
test_request_reaches_callback_exactly(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);
	struct stat st;

	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);

	tclient_sends(c, "{\"verb\":\"status\",\"transaction\":\"t1\"}\n");
	expect_requests(fx, 1);
	assert_string_equal(fx->lines[0], "{\"verb\":\"status\",\"transaction\":\"t1\"}");
	assert_int_equal(fx->lens[0], strlen(fx->lines[0]));
	tclient_close(c);
}

static void
test_several_lines_in_one_write(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);

	/* empty lines and CR-only lines are ignored; CRLF loses its CR */
	tclient_sends(c, "a\nbb\r\n\n\r\nccc\nx\ry\n");
	expect_requests(fx, 4);
	assert_string_equal(fx->lines[0], "a");
	assert_string_equal(fx->lines[1], "bb");
	assert_int_equal(fx->lens[1], 2);
	assert_string_equal(fx->lines[2], "ccc");
	/* only a trailing CR is stripped */
	assert_string_equal(fx->lines[3], "x\ry");
	assert_int_equal(fx->n_lines, 4);
	tclient_close(c);
}

static void
test_line_split_across_writes(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);

	tclient_sends(c, "{\"verb\":");
	/* the server has read the fragment and must not have called back */
	assert_int_equal(fx->n_lines, 0);
	tclient_sends(c, "\"ping\"");
	assert_int_equal(fx->n_lines, 0);
	tclient_sends(c, "}\r");
	assert_int_equal(fx->n_lines, 0);
	tclient_sends(c, "\necho done\n");
	expect_requests(fx, 2);
	assert_string_equal(fx->lines[0], "{\"verb\":\"ping\"}");
	assert_string_equal(fx->lines[1], "echo done");
	expect_lines(c, 1);
	assert_string_equal(c->buf, "done\n");
	tclient_close(c);
}

static void
test_embedded_nul_keeps_length(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);

	tclient_send(c, "ab\0cd\n", 6);
	expect_requests(fx, 1);
	assert_int_equal(fx->lens[0], 5);
	assert_memory_equal(fx->lines[0], "ab\0cd", 6);
	tclient_close(c);
}

static void
test_replies_arrive_in_order(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);

	tclient_sends(c, "echo {\"status\":\"ok\"}\nmulti\n");
	expect_lines(c, 4);
	assert_string_equal(c->buf, "{\"status\":\"ok\"}\none\ntwo\nthree\n");
	assert_int_equal(fx->last_reply_rc, 0);
	/* the connection stays open for further requests */
	tclient_sends(c, "echo again\n");
	expect_lines(c, 5);
	assert_false(c->eof);
	tclient_close(c);
}

static void
test_last_line_without_newline_at_eof(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);

	tclient_sends(c, "echo first\necho last");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	expect_eof(c);
	assert_int_equal(fx->n_lines, 2);
	assert_string_equal(c->buf, "first\nlast\n");
	tclient_close(c);
}

static void
test_replies_outlive_the_peers_eof(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, false);
	struct want_lines w = { c, 1 };

	/* ask, stop sending, and only then start reading */
	tclient_sends(c, "big\n");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	expect_requests(fx, 1);
	assert_int_equal(loop_io_watch(fx->loop, &c->io, c->fd, EPOLLIN), 0);
	assert_true(run_until(fx, pred_lines, &w));
	expect_eof(c);
	assert_int_equal(fx->last_reply_rc, 0);
	assert_int_equal(c->len, BIG_REPLY + 1);
	assert_int_equal(c->buf[BIG_REPLY - 1], 'b');
	tclient_close(c);
}

static void
test_longest_line_is_accepted(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);
	char *line = malloc(CTL_LINE_MAX + 2);

	assert_non_null(line);
	memset(line, 'y', CTL_LINE_MAX);
	line[CTL_LINE_MAX] = '\r';
	line[CTL_LINE_MAX + 1] = '\n';
	tclient_send(c, line, CTL_LINE_MAX + 2);
	expect_requests(fx, 1);
	assert_int_equal(fx->lens[0], CTL_LINE_MAX);
	free(line);
	tclient_sends(c, "echo still here\n");
	expect_lines(c, 1);
	assert_string_equal(c->buf, "still here\n");
	tclient_close(c);
}

static void
overlong(void **state, bool terminated)
{
	struct fixture *fx = *state;
	struct tclient *other = tclient_connect(fx, true);
	struct tclient *c = tclient_connect(fx, true);
	size_t n = CTL_LINE_MAX + 1;
	char *line = malloc(n + 1);

	assert_non_null(line);
	memset(line, '{', n);
	line[n] = '\n';
	tclient_send(c, line, terminated ? n + 1 : n);
	free(line);
	expect_eof(c);
	/* a reset after the error line is acceptable, losing the line is not */
	assert_true(c->err == 0 || c->err == ECONNRESET);
	assert_string_equal(c->buf, "{\"status\":\"error\",\"error\":\"request line too long\"}\n");
	assert_int_equal(fx->n_lines, 0);

	/* other clients do not notice */
	tclient_sends(other, "echo fine\n");
	expect_lines(other, 1);
	assert_string_equal(other->buf, "fine\n");
	tclient_close(c);
	tclient_close(other);
}

static void
test_overlong_line_unterminated(void **state)
{
	overlong(state, false);
}

static void
test_overlong_line_terminated(void **state)
{
	overlong(state, true);
}

static void
test_max_clients(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c[4], *extra, *late;

	for (int i = 0; i < 4; i++) {
		c[i] = tclient_connect(fx, true);
		tclient_sends(c[i], "echo hi\n");
		expect_lines(c[i], 1);
	}
	extra = tclient_connect(fx, true);
	tclient_sends(extra, "echo never\n");
	expect_eof(extra);
	assert_string_equal(extra->buf,
			    "{\"status\":\"error\",\"error\":\"too many control clients\"}\n");
	assert_int_equal(fx->n_lines, 4);
	tclient_close(extra);

	/* a slot freed by a leaving client can be used again */
	tclient_close(c[0]);
	tclient_sends(c[1], "echo x\n"); /* lets the server see the close */
	expect_lines(c[1], 2);
	late = tclient_connect(fx, true);
	tclient_sends(late, "echo welcome\n");
	expect_lines(late, 1);
	assert_string_equal(late->buf, "welcome\n");
	for (int i = 1; i < 4; i++)
		tclient_close(c[i]);
	tclient_close(late);
}

static void
test_broadcast_reaches_only_watchers(void **state)
{
	struct fixture *fx = *state;
	struct tclient *w = tclient_connect(fx, true);
	struct tclient *plain = tclient_connect(fx, true);

	assert_int_equal(ctl_watchers(fx->ctl), 0);
	tclient_sends(w, "watch\n");
	expect_lines(w, 1);
	assert_int_equal(ctl_watchers(fx->ctl), 1);

	ctl_broadcast(fx->ctl, "{\"type\":\"state\",\"n\":1}");
	expect_lines(w, 2);
	/* from inside a request callback too */
	tclient_sends(plain, "bcast {\"type\":\"state\",\"n\":2}\n");
	expect_lines(w, 3);
	expect_lines(plain, 1);
	assert_string_equal(w->buf, "{\"status\":\"ok\"}\n{\"type\":\"state\",\"n\":1}\n"
				    "{\"type\":\"state\",\"n\":2}\n");
	/* the non-watcher got its reply and nothing else */
	tclient_sends(plain, "echo end\n");
	expect_lines(plain, 2);
	assert_string_equal(plain->buf, "sent\nend\n");

	/* a watcher that leaves stops counting */
	tclient_close(w);
	assert_true(run_until(fx, pred_no_watchers, NULL));
	ctl_broadcast(fx->ctl, "nobody");
	tclient_close(plain);
}

static void
test_slow_watcher_is_dropped(void **state)
{
	struct fixture *fx = *state;
	struct tclient *w = tclient_connect(fx, true);
	struct tclient *ok = tclient_connect(fx, true);
	char *line = malloc(8192);
	size_t rounds = 0;

	assert_non_null(line);
	tclient_sends(w, "watch\n");
	expect_lines(w, 1);
	/* stop reading: the server must not block, it must drop us */
	loop_io_unwatch(fx->loop, &w->io);
	memset(line, 's', 8191);
	line[8191] = '\0';
	while (ctl_watchers(fx->ctl) > 0 && rounds < 2 * CTL_OUTBUF_MAX / 8191 + 1000) {
		ctl_broadcast(fx->ctl, line);
		rounds++;
	}
	assert_int_equal(ctl_watchers(fx->ctl), 0);
	/* at least the output cap was queued before giving up */
	assert_true(rounds * 8192 > CTL_OUTBUF_MAX);
	free(line);

	/* the reader sees what the kernel had, then the end */
	assert_int_equal(loop_io_watch(fx->loop, &w->io, w->fd, EPOLLIN), 0);
	expect_eof(w);
	tclient_sends(ok, "echo alive\n");
	expect_lines(ok, 1);
	assert_string_equal(ok->buf, "alive\n");
	tclient_close(w);
	tclient_close(ok);
}

static void
test_reply_over_cap_drops_client(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);

	tclient_sends(c, "huge\n");
	expect_eof(c);
	assert_int_equal(fx->last_reply_rc, -ENOBUFS);
	assert_int_equal(c->len, 0);
	tclient_close(c);
}

static void
test_hostile_garbage_and_churn(void **state)
{
	struct fixture *fx = *state;
	unsigned char junk[3000];
	struct tclient *c;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 7919u >> 3);
	/* clients that connect, write junk and vanish mid-line */
	for (int i = 0; i < 50; i++) {
		c = tclient_connect(fx, false);
		tclient_send(c, (const char *)junk, sizeof(junk));
		tclient_close(c);
	}
	c = tclient_connect(fx, true);
	tclient_sends(c, "echo survived\n");
	expect_lines(c, 1);
	assert_string_equal(c->buf, "survived\n");
	tclient_close(c);
}

static void
test_live_socket_gives_eaddrinuse(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c;
	int err = 0;
	struct ctl *second = ctl_new(fx->loop, fx->path, 4, on_request, fx, &err);

	assert_null(second);
	assert_int_equal(err, -EADDRINUSE);
	/* the running one is untouched */
	c = tclient_connect(fx, true);
	tclient_sends(c, "echo first wins\n");
	expect_lines(c, 1);
	assert_string_equal(c->buf, "first wins\n");
	tclient_close(c);
}

static void
test_stale_socket_is_replaced(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tclient *c;
	int err = 0, fd;

	ctl_free(fx->ctl);
	fx->ctl = NULL;
	/* what a crashed daemon leaves behind: a socket nobody listens on */
	strcpy(sa.sun_path, fx->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(access(fx->path, F_OK), 0);

	fx->ctl = ctl_new(fx->loop, fx->path, 4, on_request, fx, &err);
	assert_non_null(fx->ctl);
	c = tclient_connect(fx, true);
	tclient_sends(c, "echo replaced\n");
	expect_lines(c, 1);
	assert_string_equal(c->buf, "replaced\n");
	tclient_close(c);
}

static void
test_regular_file_is_not_clobbered(void **state)
{
	struct fixture *fx = *state;
	char path[160];
	int err = 0, fd;

	snprintf(path, sizeof(path), "%s/notasocket", fx->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(ctl_new(fx->loop, path, 4, on_request, fx, &err));
	assert_int_equal(err, -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
}

static void
test_bad_arguments(void **state)
{
	struct fixture *fx = *state;
	char path[200];
	int err = 0;

	assert_null(ctl_new(fx->loop, "", 4, on_request, fx, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(ctl_new(fx->loop, fx->path, 0, on_request, fx, &err));
	assert_int_equal(err, -EINVAL);
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_null(ctl_new(fx->loop, path, 4, on_request, fx, &err));
	assert_int_equal(err, -ENAMETOOLONG);
	ctl_free(NULL);
	assert_int_equal(ctl_reply(NULL, "x"), -EINVAL);
	assert_int_equal(ctl_watchers(NULL), 0);
}

static void
test_parent_directory_is_created(void **state)
{
	struct fixture *fx = *state;
	char path[200], dir[160];
	struct ctl *ctl;
	struct stat st;
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/sub/dir", fx->dir);
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	ctl = ctl_new(fx->loop, path, 1, on_request, fx, &err);
	assert_non_null(ctl);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0022, 0);
	ctl_free(ctl);
}

static void
test_free_unlinks_and_closes_clients(void **state)
{
	struct fixture *fx = *state;
	struct tclient *c = tclient_connect(fx, true);

	tclient_sends(c, "watch\n");
	expect_lines(c, 1);
	ctl_free(fx->ctl);
	fx->ctl = NULL;
	assert_int_equal(access(fx->path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	expect_eof(c);
	tclient_close(c);
}

static void
test_free_keeps_a_replacement_file(void **state)
{
	struct fixture *fx = *state;
	int fd;

	/* someone else took the path over: not ours to delete */
	assert_int_equal(unlink(fx->path), 0);
	fd = open(fx->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	ctl_free(fx->ctl);
	fx->ctl = NULL;
	assert_int_equal(access(fx->path, F_OK), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_request_reaches_callback_exactly),
		T(test_several_lines_in_one_write),
		T(test_line_split_across_writes),
		T(test_embedded_nul_keeps_length),
		T(test_replies_arrive_in_order),
		T(test_last_line_without_newline_at_eof),
		T(test_replies_outlive_the_peers_eof),
		T(test_longest_line_is_accepted),
		T(test_overlong_line_unterminated),
		T(test_overlong_line_terminated),
		T(test_max_clients),
		T(test_broadcast_reaches_only_watchers),
		T(test_slow_watcher_is_dropped),
		T(test_reply_over_cap_drops_client),
		T(test_hostile_garbage_and_churn),
		T(test_live_socket_gives_eaddrinuse),
		T(test_stale_socket_is_replaced),
		T(test_regular_file_is_not_clobbered),
		T(test_bad_arguments),
		T(test_parent_directory_is_created),
		T(test_free_unlinks_and_closes_clients),
		T(test_free_keeps_a_replacement_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
