/* Unit tests for the SQLite store, against real database files in a
 * temporary directory. Times are passed in; nothing sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

#define DAY_MS   (24LL * 3600 * 1000)
#define DAY_USEC (24ULL * 3600 * 1000 * 1000)
#define NOW_MS   1764064800000LL /* 2025-11-25T10:00:00Z */
#define TOPIC    "teamboard/floor2/acks"

struct fixture {
	char dir[64];
	char path[128]; /* <dir>/state/teamboard.db: parent missing */
};

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/teamboard-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state/teamboard.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct store *
open_ok(const char *path)
{
	char msg[256] = "";
	int err = 0;
	struct store *s = store_open(path, &err, msg, sizeof(msg));

	if (!s)
		fail_msg("store_open(%s): %d %s", path, err, msg);
	return s;
}

static struct ack_record
make_ack(unsigned seq, const char *ticket, enum alert_kind alert, const char *agent,
	 enum ack_source src, int64_t at_ms)
{
	struct ack_record a;

	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "floor2-%06u", seq);
	snprintf(a.board, sizeof(a.board), "floor2");
	snprintf(a.ticket_id, sizeof(a.ticket_id), "%s", ticket);
	a.alert = alert;
	snprintf(a.agent, sizeof(a.agent), "%s", agent);
	a.source = src;
	if (src == ACK_SOURCE_BUTTON)
		snprintf(a.button, sizeof(a.button), "ack1");
	a.at_ms = at_ms;
	a.latency_ms = 72345;
	snprintf(a.event_id, sizeof(a.event_id), "evt-%u", seq);
	return a;
}

/* Commits one ack with the payload "{"id":"<id>"}". */
static int
commit_one(struct store *s, const struct ack_record *a)
{
	char payload[ACK_ID_MAX + 16];
	const char *p[1] = { payload };

	snprintf(payload, sizeof(payload), "{\"id\":\"%.*s\"}", ACK_ID_MAX - 1, a->id);
	return store_ack_commit(s, a, p, 1, TOPIC);
}

struct ack_list {
	struct ack_record a[128];
	int n;
};

static void
collect_ack(void *userdata, const struct ack_record *a)
{
	struct ack_list *l = userdata;

	assert_true(l->n < 128);
	l->a[l->n++] = *a;
}

static int
query(struct store *s, int64_t since, int64_t until, const char *agent, size_t limit,
      struct ack_list *l)
{
	memset(l, 0, sizeof(*l));
	return store_acks_query(s, since, until, agent, limit, collect_ack, l);
}

static uint32_t
header_be32(const char *path, off_t off)
{
	unsigned char b[4];
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 4, off), 4);
	close(fd);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The killed child's store: a global, so that valgrind, which still looks
 * at the child's heap on SIGKILL, sees it reachable rather than leaked. */
static struct store *volatile killed_store;

/* In a child: opens the store, marks an event, commits the ack with the next
 * sequence number, then dies by SIGKILL without flushing or closing, as after
 * a crash right after the feedback beep. Returns true if the commit was
 * reported done. */
static bool
commit_and_kill(const char *path, const char *event_id)
{
	char ok = 0;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ack_record a;
		uint64_t seq = 0;
		struct store *s;

		close(fds[0]);
		killed_store = store_open(path, NULL, NULL, 0);
		s = killed_store;
		ok = s && store_event_mark(s, event_id, NOW_MS) == 0 &&
		     store_next_ack_seq(s, &seq) == 0;
		a = make_ack((unsigned)seq, "T-1042", ALERT_BREACHED, "anna", ACK_SOURCE_BUTTON,
			     NOW_MS);
		ok = ok && commit_one(s, &a) == 0;
		if (write(fds[1], &ok, 1) != 1)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &ok, 1), 1);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	return ok;
}

/* --- open, schema, recovery ----------------------------------------------- */

static void
test_open_creates_schema_in_wal_mode(void **state)
{
	struct fixture *f = *state;
	char dir[160];
	struct stat st;
	struct store *s = open_ok(f->path);

	assert_false(store_was_recovered(s, NULL, 0));
	snprintf(dir, sizeof(dir), "%s/state", f->dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0750);
	assert_int_equal(store_event_mark(s, "evt-1", NOW_MS), 0);
	assert_int_equal(store_flush(s), 0);
	/* WAL mode: the commit went to the -wal file. */
	snprintf(dir, sizeof(dir), "%s-wal", f->path);
	assert_true(exists(dir));
	assert_true(store_size_bytes(s) > 4096);
	store_free(s);

	/* File header: read/write versions 2 = WAL; user_version at 60. */
	assert_int_equal(header_be32(f->path, 16) & 0xffff, 0x0202);
	assert_int_equal(header_be32(f->path, 60), 5);
}

static void
test_open_reports_uncreatable_directory(void **state)
{
	struct fixture *f = *state;
	char file[128], path[192], msg[256] = "";
	int err = 0;

	snprintf(file, sizeof(file), "%s/plainfile", f->dir);
	write_file(file, "x", 1);
	snprintf(path, sizeof(path), "%s/sub/teamboard.db", file);
	assert_null(store_open(path, &err, msg, sizeof(msg)));
	assert_int_equal(err, -ENOTDIR);
	assert_non_null(strstr(msg, "cannot create directory"));

	err = 0;
	assert_null(store_open("", &err, NULL, 0));
	assert_int_equal(err, -EINVAL);
	assert_null(store_open(NULL, NULL, NULL, 0));
}

static void
test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	char value[64];
	struct store *s = open_ok(f->path);

	assert_int_equal(store_setting_set(s, "mute_until", "1764068400000"), 0);
	assert_int_equal(store_event_mark(s, "evt-keep", NOW_MS), 0);
	store_free(s); /* flushes the batched mark */

	s = open_ok(f->path);
	assert_int_equal(store_setting_get(s, "mute_until", value, sizeof(value)), 0);
	assert_string_equal(value, "1764068400000");
	assert_int_equal(store_event_seen(s, "evt-keep"), 1);
	assert_false(store_was_recovered(s, NULL, 0));
	store_free(s);
}

static void
test_garbage_file_is_moved_aside(void **state)
{
	struct fixture *f = *state;
	char garbage[8192], wal[160], moved[PATH_MAX] = "";
	char value[16], buf[sizeof(garbage)];
	struct store *s;
	int fd;

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)('A' + i % 26);
	s = open_ok(f->path); /* creates the directory */
	store_free(s);
	write_file(f->path, garbage, sizeof(garbage));
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	write_file(wal, "stale wal", 9);

	s = open_ok(f->path);
	assert_true(store_was_recovered(s, moved, sizeof(moved)));
	assert_int_equal(strncmp(moved, f->path, strlen(f->path)), 0);
	assert_non_null(strstr(moved, ".corrupt-"));
	assert_non_null(strstr(store_errmsg(s), "not a database"));

	/* The old file is kept as it was, its WAL next to it. */
	fd = open(moved, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	assert_memory_equal(buf, garbage, sizeof(garbage));
	/* The stale WAL is never replayed into the fresh database. */
	fd = open(wal, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, 9);

		close(fd);
		assert_false(n == 9 && memcmp(buf, "stale wal", 9) == 0);
	}

	/* The fresh database works and survives a reopen. */
	assert_int_equal(store_setting_set(s, "k", "v"), 0);
	store_free(s);
	s = open_ok(f->path);
	assert_false(store_was_recovered(s, NULL, 0));
	assert_int_equal(store_setting_get(s, "k", value, sizeof(value)), 0);
	assert_string_equal(value, "v");
	store_free(s);
}

static void
test_damaged_pages_are_moved_aside(void **state)
{
	struct fixture *f = *state;
	char moved[PATH_MAX] = "", moved_wal[PATH_MAX + 8], wal[160], page[4096];
	char value[8];
	struct ack_list l;
	struct stat st;
	struct store *s = open_ok(f->path);
	int fd;

	for (unsigned i = 1; i <= 50; i++) {
		struct ack_record a =
			make_ack(1000 + i, "T-1", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, NOW_MS + i);

		assert_int_equal(commit_one(s, &a), 0);
	}
	assert_int_equal(store_setting_set(s, "k", "v"), 0);
	store_free(s);
	/* A process killed after one more ack leaves a WAL behind. */
	assert_true(commit_and_kill(f->path, "evt-x"));
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);

	/* Lost writes: every page but the header page is junk. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(st.st_size >= 3 * 4096);
	memset(page, 0xa5, sizeof(page));
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	for (off_t off = 4096; off < st.st_size; off += 4096)
		assert_int_equal(pwrite(fd, page, sizeof(page), off), (ssize_t)sizeof(page));
	close(fd);

	s = open_ok(f->path);
	assert_true(store_was_recovered(s, moved, sizeof(moved)));
	assert_true(exists(moved));
	/* The WAL went with it and was not replayed into the new file. */
	snprintf(moved_wal, sizeof(moved_wal), "%s-wal", moved);
	assert_int_equal(stat(moved_wal, &st), 0);
	assert_true(st.st_size > 0);
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 0);
	assert_int_equal(store_outbox_depth(s), 0);
	assert_int_equal(store_event_seen(s, "evt-x"), 0);
	assert_int_equal(store_setting_get(s, "k", value, sizeof(value)), -ENOENT);
	store_free(s);
}

static void
test_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	char msg[256] = "";
	unsigned char v99[4] = { 0, 0, 0, 99 };
	struct store *s = open_ok(f->path);
	int err = 0, fd;

	assert_int_equal(store_setting_set(s, "k", "v"), 0);
	store_free(s);
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, v99, 4, 60), 4);
	close(fd);

	assert_null(store_open(f->path, &err, msg, sizeof(msg)));
	assert_true(err < 0);
	assert_string_equal(msg, "database schema version 99 is newer than this "
				 "teamboardd supports (5)");
	/* Refused, not "recovered": the newer database is left alone. */
	assert_int_equal(header_be32(f->path, 60), 99);

	/* A negative version is nobody's schema. */
	memset(v99, 0xff, sizeof(v99));
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, v99, 4, 60), 4);
	close(fd);
	assert_null(store_open(f->path, &err, msg, sizeof(msg)));
	assert_int_equal(err, -EBADMSG);
	assert_string_equal(msg, "database schema version -1 is invalid");
}

/* Opens a database the process cannot write, in a child that is not root
 * (root ignores file modes). Exit 0: refused at open with -EROFS and a
 * message naming the file; 77: cannot drop privileges here. */
static void
test_read_only_database_is_refused(void **state)
{
	struct fixture *f = *state;
	char dir[128], path[160];
	struct store *s;
	pid_t pid;
	int status;

	snprintf(dir, sizeof(dir), "%s/ro", f->dir);
	snprintf(path, sizeof(path), "%s/teamboard.db", dir);
	s = open_ok(path);
	assert_int_equal(store_setting_set(s, "k", "v"), 0);
	store_free(s);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(dir, 0777), 0); /* -shm may be created */
	assert_int_equal(chmod(path, 0444), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char msg[256] = "";
		int err = 0;

		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			_exit(77);
		s = store_open(path, &err, msg, sizeof(msg));
		if (s) {
			store_free(s);
			_exit(2);
		}
		if (err != -EROFS || !strstr(msg, "read-only") || !strstr(msg, path))
			_exit(1);
		/* The daemon's fallback: what is there can be read, nothing
		 * can be written, and it says so. */
		s = store_open_readonly(path, &err, msg, sizeof(msg));
		if (!s)
			_exit(3);
		char v[8] = "";
		uint64_t seq;
		int ok = store_is_readonly(s) && store_fault(s) == -EROFS &&
			 store_setting_get(s, "k", v, sizeof(v)) == 0 && strcmp(v, "v") == 0 &&
			 store_setting_set(s, "k", "w") == -EROFS &&
			 store_next_ack_seq(s, &seq) == -EROFS && store_outbox_depth(s) == 0;
		store_free(s);
		/* A path that cannot be read at all: an empty store, still
		 * refusing writes. */
		s = store_open_readonly("/nonexistent/teamboard/x.db", &err, msg, sizeof(msg));
		ok = ok && s && store_is_readonly(s) && store_next_ack_seq(s, &seq) == -EROFS &&
		     store_outbox_depth(s) == 0;
		store_free(s);
		_exit(ok ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* --- dedupe and sequence -------------------------------------------------- */

static void
test_dedupe_across_flush_and_reopen(void **state)
{
	struct fixture *f = *state;
	char long_id[EVENT_ID_MAX + 1];
	struct store *s = open_ok(f->path);

	assert_int_equal(store_event_seen(s, "evt-7f3a"), 0);
	assert_int_equal(store_event_mark(s, "evt-7f3a", NOW_MS), 0);
	/* Seen while still in the uncommitted batch. */
	assert_int_equal(store_event_seen(s, "evt-7f3a"), 1);
	assert_int_equal(store_event_seen(s, "evt-7F3A"), 0);
	/* Marking twice (a redelivery) is not an error. */
	assert_int_equal(store_event_mark(s, "evt-7f3a", NOW_MS + 5), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(store_event_seen(s, "evt-7f3a"), 1);
	/* Quotes and SQL in an id are just bytes. */
	assert_int_equal(store_event_mark(s, "x'); DROP TABLE seen_events;--", NOW_MS), 0);
	store_free(s);

	s = open_ok(f->path);
	assert_int_equal(store_event_seen(s, "evt-7f3a"), 1);
	assert_int_equal(store_event_seen(s, "x'); DROP TABLE seen_events;--"), 1);
	assert_int_equal(store_event_seen(s, "evt-other"), 0);

	memset(long_id, 'e', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(store_event_mark(s, long_id, NOW_MS), -EINVAL);
	assert_int_equal(store_event_seen(s, long_id), -EINVAL);
	assert_int_equal(store_event_seen(s, NULL), -EINVAL);
	store_free(s);
}

static void
test_ack_seq_monotonic_across_reopen(void **state)
{
	struct fixture *f = *state;
	uint64_t seq = 0;
	struct store *s = open_ok(f->path);

	for (uint64_t want = 1; want <= 3; want++) {
		assert_int_equal(store_next_ack_seq(s, &seq), 0);
		assert_int_equal(seq, want);
	}
	store_free(s);
	s = open_ok(f->path);
	assert_int_equal(store_next_ack_seq(s, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(store_next_ack_seq(s, NULL), -EINVAL);
	store_free(s);
}

/* --- acks and outbox ------------------------------------------------------ */

static void
test_ack_commit_survives_reopen(void **state)
{
	struct fixture *f = *state;
	struct outbox_row rows[4];
	struct ack_list l;
	struct ack_record a;
	uint64_t seq;
	struct store *s = open_ok(f->path);

	assert_int_equal(store_next_ack_seq(s, &seq), 0);
	a = make_ack((unsigned)seq, "T-1042", ALERT_BREACHED, "anna", ACK_SOURCE_BUTTON, NOW_MS);
	assert_int_equal(commit_one(s, &a), 0);
	store_free(s);

	s = open_ok(f->path);
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 1);
	assert_memory_equal(&l.a[0], &a, sizeof(a));
	assert_int_equal(store_outbox_depth(s), 1);
	assert_int_equal(store_outbox_fetch(s, 0, rows, 4), 1);
	assert_string_equal(rows[0].topic, TOPIC);
	assert_string_equal(rows[0].payload, "{\"id\":\"floor2-000001\"}");
	assert_int_equal(rows[0].payload_len, strlen(rows[0].payload));
	outbox_row_done(&rows[0]);
	store_free(s);
}

static void
test_every_source_and_alert_round_trips(void **state)
{
	struct fixture *f = *state;
	struct ack_record in[ACK_SOURCE_COUNT * 3];
	const char *payloads[ACK_SOURCE_COUNT * 3];
	struct ack_list l;
	struct store *s = open_ok(f->path);
	int n = 0;

	for (int src = 0; src < ACK_SOURCE_COUNT; src++)
		for (int k = ALERT_NEW; k <= ALERT_BREACHED; k++) {
			in[n] = make_ack((unsigned)n + 1, "T-1", (enum alert_kind)k, "",
					 (enum ack_source)src, NOW_MS + n);
			payloads[n] = "{}";
			n++;
		}
	assert_int_equal(store_ack_commit(s, in, payloads, (size_t)n, TOPIC), 0);
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), n);
	for (int i = 0; i < n; i++) /* newest first */
		assert_memory_equal(&l.a[i], &in[n - 1 - i], sizeof(in[0]));
	store_free(s);
}

static void
test_outbox_order_after_sent_depth(void **state)
{
	struct fixture *f = *state;
	struct ack_record a[5];
	const char *p[5] = { "p1", "p2", "p3", "p4", "" };
	struct outbox_row rows[8];
	int64_t ids[5];
	struct store *s = open_ok(f->path);

	for (unsigned i = 0; i < 5; i++)
		a[i] = make_ack(i + 1, "T-1", ALERT_NEW, "anna", ACK_SOURCE_MQTT, NOW_MS + i);
	assert_int_equal(store_ack_commit(s, a, p, 3, TOPIC), 0);
	assert_int_equal(store_ack_commit(s, a + 3, p + 3, 2, "other/topic"), 0);
	assert_int_equal(store_outbox_depth(s), 5);

	assert_int_equal(store_outbox_fetch(s, 0, rows, 8), 5);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(rows[i].payload, p[i]);
		assert_string_equal(rows[i].topic, i < 3 ? TOPIC : "other/topic");
		if (i > 0)
			assert_true(rows[i].row_id > rows[i - 1].row_id);
		ids[i] = rows[i].row_id;
		outbox_row_done(&rows[i]);
		outbox_row_done(&rows[i]); /* idempotent */
		assert_null(rows[i].payload);
	}
	outbox_row_done(NULL);

	/* after + max */
	assert_int_equal(store_outbox_fetch(s, ids[1], rows, 2), 2);
	assert_int_equal(rows[0].row_id, ids[2]);
	assert_int_equal(rows[1].row_id, ids[3]);
	outbox_row_done(&rows[0]);
	outbox_row_done(&rows[1]);
	assert_int_equal(store_outbox_fetch(s, ids[4], rows, 8), 0);
	assert_int_equal(store_outbox_fetch(s, 0, rows, 0), 0);

	/* Delivered rows are not fetched again; duplicates are harmless. */
	assert_int_equal(store_outbox_sent(s, ids[0]), 0);
	assert_int_equal(store_outbox_sent(s, ids[2]), 0);
	assert_int_equal(store_outbox_sent(s, ids[2]), 0);
	assert_int_equal(store_outbox_sent(s, 999999), 0);
	assert_int_equal(store_outbox_depth(s), 3);
	assert_int_equal(store_outbox_fetch(s, 0, rows, 8), 3);
	assert_int_equal(rows[0].row_id, ids[1]);
	assert_int_equal(rows[1].row_id, ids[3]);
	assert_int_equal(rows[2].row_id, ids[4]);
	assert_int_equal(rows[2].payload_len, 0);
	assert_string_equal(rows[2].payload, "");
	for (int i = 0; i < 3; i++)
		outbox_row_done(&rows[i]);
	store_free(s); /* the batched "sent" marks are flushed */

	s = open_ok(f->path);
	assert_int_equal(store_outbox_depth(s), 3);
	store_free(s);
}

/* At the cap an ack is refused whole (nothing stored), the kept depth
 * follows commits, sent-marks and a rolled-back batch, and a delivered row
 * makes room again. */
static void
test_outbox_cap_and_kept_depth(void **state)
{
	struct fixture *f = *state;
	struct ack_record a[4];
	const char *p[4] = { "p1", "p2", "p3", "p4" };
	struct outbox_row rows[4];
	struct ack_list l;
	struct store *s = open_ok(f->path);

	for (unsigned i = 0; i < 4; i++)
		a[i] = make_ack(i + 1, "T-1", ALERT_NEW, "anna", ACK_SOURCE_MQTT, NOW_MS + i);
	assert_int_equal(store_outbox_max(s), 0);
	store_outbox_set_max(s, 3);
	assert_int_equal(store_outbox_max(s), 3);
	assert_int_equal(store_ack_commit(s, a, p, 2, TOPIC), 0);
	/* Two more would pass the cap: neither is stored. */
	assert_int_equal(store_ack_commit(s, a + 2, p + 2, 2, TOPIC), -ENOBUFS);
	assert_non_null(strstr(store_errmsg(s), "outbox full"));
	assert_int_equal(store_outbox_depth(s), 2);
	assert_int_equal(store_ack_commit(s, a + 2, p + 2, 1, TOPIC), 0);
	assert_int_equal(store_outbox_depth(s), 3);
	assert_int_equal(store_ack_commit(s, a + 3, p + 3, 1, TOPIC), -ENOBUFS);
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 3);

	/* A delivered row makes room; a failed commit (rolled back: the
	 * depth is counted again) changes nothing. */
	assert_int_equal(store_outbox_fetch(s, 0, rows, 4), 3);
	assert_int_equal(store_outbox_sent(s, rows[0].row_id), 0);
	assert_int_equal(store_outbox_sent(s, rows[0].row_id), 0); /* no double count */
	assert_int_equal(store_outbox_depth(s), 2);
	assert_int_equal(store_ack_commit(s, a, p, 1, TOPIC), -EIO); /* same id */
	assert_int_equal(store_outbox_depth(s), 2);
	assert_int_equal(store_ack_commit(s, a + 3, p + 3, 1, TOPIC), 0);
	assert_int_equal(store_outbox_depth(s), 3);
	for (int i = 0; i < 3; i++)
		outbox_row_done(&rows[i]);
	store_free(s);

	s = open_ok(f->path); /* counted from the table at open */
	assert_int_equal(store_outbox_depth(s), 3);
	store_free(s);
}

static void
test_failed_commit_rolls_back_and_store_stays_usable(void **state)
{
	struct fixture *f = *state;
	struct ack_record two[2];
	const char *p[2] = { "b", "dup" };
	struct ack_list l;
	uint64_t seq;
	struct store *s = open_ok(f->path);
	struct ack_record a = make_ack(1, "T-1", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, NOW_MS);

	assert_int_equal(commit_one(s, &a), 0);
	/* Batched work before the failing commit. */
	assert_int_equal(store_event_mark(s, "evt-before", NOW_MS), 0);
	assert_int_equal(store_next_ack_seq(s, &seq), 0);

	two[0] = make_ack(2, "T-2", ALERT_NEW, "bob", ACK_SOURCE_CTL, NOW_MS + 1);
	two[1] = a; /* same id: violates UNIQUE */
	assert_int_equal(store_ack_commit(s, two, p, 2, TOPIC), -EIO);
	assert_non_null(strstr(store_errmsg(s), "UNIQUE"));

	/* All or nothing: ack 2 is not in the log nor in the outbox. */
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 1);
	assert_string_equal(l.a[0].id, "floor2-000001");
	assert_int_equal(store_outbox_depth(s), 1);

	/* Usable: batched writes, flush and further commits work. */
	assert_int_equal(store_event_seen(s, "evt-before"), 1);
	assert_int_equal(store_ticket_remove(s, "T-9"), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(commit_one(s, &two[0]), 0);
	assert_int_equal(store_outbox_depth(s), 2);
	store_free(s);

	/* The batch before the failed commit was kept; the sequence number
	 * handed out then is never handed out again. */
	s = open_ok(f->path);
	assert_int_equal(store_event_seen(s, "evt-before"), 1);
	{
		uint64_t next;

		assert_int_equal(store_next_ack_seq(s, &next), 0);
		assert_true(next > seq);
	}
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 2);
	store_free(s);
}

static void
test_ack_durable_after_kill_9(void **state)
{
	struct fixture *f = *state;
	struct outbox_row row;
	struct ack_list l;
	struct store *s;

	s = open_ok(f->path);
	store_free(s);
	assert_true(commit_and_kill(f->path, "evt-8a01"));

	s = open_ok(f->path);
	assert_false(store_was_recovered(s, NULL, 0));
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 1);
	assert_string_equal(l.a[0].id, "floor2-000001");
	assert_string_equal(l.a[0].ticket_id, "T-1042");
	assert_int_equal(l.a[0].alert, ALERT_BREACHED);
	assert_int_equal(store_outbox_fetch(s, 0, &row, 1), 1);
	assert_string_equal(row.payload, "{\"id\":\"floor2-000001\"}");
	outbox_row_done(&row);
	/* What was batched before the ack is durable with it. */
	assert_int_equal(store_event_seen(s, "evt-8a01"), 1);
	store_free(s);
}

static void
test_ack_commit_rejects_bad_input(void **state)
{
	struct fixture *f = *state;
	char long_topic[300];
	const char *p[1] = { "{}" };
	const char *null_p[1] = { NULL };
	struct ack_record a = make_ack(1, "T-1", ALERT_NEW, "", ACK_SOURCE_CTL, NOW_MS);
	struct ack_record bad;
	struct store *s = open_ok(f->path);

	memset(long_topic, 't', sizeof(long_topic) - 1);
	long_topic[sizeof(long_topic) - 1] = '\0';
	assert_int_equal(store_ack_commit(s, &a, p, 0, TOPIC), 0);
	assert_int_equal(store_ack_commit(s, &a, p, 1, long_topic), -EINVAL);
	assert_int_equal(store_ack_commit(s, &a, p, 1, ""), -EINVAL);
	assert_int_equal(store_ack_commit(s, &a, null_p, 1, TOPIC), -EINVAL);
	assert_int_equal(store_ack_commit(s, NULL, p, 1, TOPIC), -EINVAL);
	assert_int_equal(store_ack_commit(NULL, &a, p, 1, TOPIC), -EINVAL);
	bad = a;
	bad.source = ACK_SOURCE_COUNT;
	assert_int_equal(store_ack_commit(s, &bad, p, 1, TOPIC), -EINVAL);
	bad = a;
	bad.alert = (enum alert_kind)7;
	assert_int_equal(store_ack_commit(s, &bad, p, 1, TOPIC), -EINVAL);
	bad = a;
	memset(bad.agent, 'x', sizeof(bad.agent)); /* not terminated */
	assert_int_equal(store_ack_commit(s, &bad, p, 1, TOPIC), -EINVAL);
	bad = a;
	bad.id[0] = '\0';
	assert_int_equal(store_ack_commit(s, &bad, p, 1, TOPIC), -EINVAL);
	assert_int_equal(store_outbox_depth(s), 0);
	assert_int_equal(store_ack_commit(s, &a, p, 1, TOPIC), 0);
	assert_int_equal(store_outbox_depth(s), 1);
	store_free(s);
}

/* --- ack log queries ------------------------------------------------------ */

static void
test_acks_query_filters_order_limit(void **state)
{
	struct fixture *f = *state;
	struct ack_list l;
	struct store *s = open_ok(f->path);
	/* Two acks share at_ms: the later insert is newer. */
	struct ack_record a[] = {
		make_ack(1, "T-1", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, NOW_MS - 3000),
		make_ack(2, "T-2", ALERT_WARNING, "bob", ACK_SOURCE_MQTT, NOW_MS - 2000),
		make_ack(3, "T-3", ALERT_BREACHED, "anna", ACK_SOURCE_CTL, NOW_MS - 2000),
		make_ack(4, "T-4", ALERT_NEW, "", ACK_SOURCE_ASSIGN, NOW_MS - 1000),
		make_ack(5, "T-5", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, NOW_MS),
	};

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		assert_int_equal(commit_one(s, &a[i]), 0);

	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 5);
	assert_string_equal(l.a[0].id, "floor2-000005");
	assert_string_equal(l.a[1].id, "floor2-000004");
	assert_string_equal(l.a[2].id, "floor2-000003");
	assert_string_equal(l.a[3].id, "floor2-000002");
	assert_string_equal(l.a[4].id, "floor2-000001");

	/* [since, until) */
	assert_int_equal(query(s, NOW_MS - 2000, NOW_MS, NULL, 0, &l), 3);
	assert_string_equal(l.a[0].id, "floor2-000004");
	assert_string_equal(l.a[2].id, "floor2-000002");
	assert_int_equal(query(s, NOW_MS - 1000, 0, NULL, 0, &l), 2);
	assert_int_equal(query(s, 0, NOW_MS - 2000, NULL, 0, &l), 1);
	assert_int_equal(query(s, NOW_MS + 1, 0, NULL, 0, &l), 0);

	assert_int_equal(query(s, 0, 0, "anna", 0, &l), 3);
	assert_string_equal(l.a[0].id, "floor2-000005");
	assert_string_equal(l.a[1].id, "floor2-000003");
	assert_string_equal(l.a[2].id, "floor2-000001");
	assert_int_equal(query(s, 0, 0, "", 0, &l), 1);
	assert_int_equal(l.a[0].source, ACK_SOURCE_ASSIGN);
	assert_int_equal(query(s, 0, 0, "nobody", 0, &l), 0);
	assert_int_equal(query(s, 0, 0, "anna' OR '1'='1", 0, &l), 0);

	assert_int_equal(query(s, 0, 0, "anna", 2, &l), 2);
	assert_string_equal(l.a[1].id, "floor2-000003");
	assert_int_equal(query(s, 0, 0, NULL, 1, &l), 1);
	assert_string_equal(l.a[0].id, "floor2-000005");

	assert_int_equal(store_acks_query(s, 0, 0, NULL, 0, NULL, NULL), -EINVAL);
	store_free(s);
}

struct reentrant {
	struct store *s;
	int n;
	int64_t prev_at;
};

/* Writes to the store from inside the callback, as a daemon might. */
static void
audit_each(void *userdata, const struct ack_record *a)
{
	struct reentrant *r = userdata;

	assert_true(a->at_ms <= r->prev_at);
	r->prev_at = a->at_ms;
	assert_int_equal(store_audit(r->s, a->at_ms, "test", "seen", a->id), 0);
	r->n++;
}

static void
test_acks_query_pages_through_many(void **state)
{
	struct fixture *f = *state;
	struct ack_record a[100];
	const char *p[100];
	struct reentrant r = { 0 };
	struct ack_list l;
	struct store *s = open_ok(f->path);

	for (unsigned i = 0; i < 100; i++) {
		/* Ties in groups of three across page boundaries. */
		a[i] = make_ack(i + 1, "T-1", ALERT_NEW, i % 2 ? "anna" : "bob", ACK_SOURCE_BUTTON,
				NOW_MS + i / 3);
		p[i] = "{}";
	}
	assert_int_equal(store_ack_commit(s, a, p, 100, TOPIC), 0);

	r.s = s;
	r.prev_at = INT64_MAX;
	assert_int_equal(store_acks_query(s, 0, 0, NULL, 0, audit_each, &r), 100);
	assert_int_equal(r.n, 100);

	assert_int_equal(query(s, 0, 0, NULL, 70, &l), 70);
	for (int i = 0; i < 70; i++) {
		char want[32];

		snprintf(want, sizeof(want), "floor2-%06d", 100 - i);
		assert_string_equal(l.a[i].id, want);
	}
	assert_int_equal(query(s, 0, 0, "anna", 0, &l), 50);
	assert_string_equal(l.a[0].id, "floor2-000100");
	assert_string_equal(l.a[49].id, "floor2-000002");
	store_free(s);
}

/* --- tickets -------------------------------------------------------------- */

static struct ticket_snapshot
full_ticket(const char *id)
{
	struct ticket_snapshot t;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	t.channel = CHANNEL_TELEGRAM;
	t.priority = PRIORITY_URGENT;
	t.public = true;
	snprintf(t.subject, sizeof(t.subject), "%s", "Заказ не пришёл — 'quoted' \"twice\"");
	memset(t.customer, 'c', sizeof(t.customer) - 1); /* full length */
	snprintf(t.queue, sizeof(t.queue), "social-ru");
	snprintf(t.assignee, sizeof(t.assignee), "anna");
	t.created_ms = NOW_MS - 60000;
	t.last_ts_ms = NOW_MS - 1000;
	t.due_ms[SLA_FIRST_RESPONSE] = NOW_MS + 300000;
	t.due_ms[SLA_RESOLUTION] = NOW_MS + 8 * 3600000LL;
	t.responded = true;
	t.paused = true;
	t.paused_left_ms[SLA_FIRST_RESPONSE] = 123456;
	t.paused_left_ms[SLA_RESOLUTION] = -42;
	t.backend_warning[SLA_FIRST_RESPONSE] = true;
	t.backend_breached[SLA_RESOLUTION] = true;
	t.kind = ALERT_BREACHED;
	t.state = ALERT_ACKED;
	t.escalated = true;
	snprintf(t.event_id, sizeof(t.event_id), "evt-8a01");
	t.raised_ms = NOW_MS - 500;
	snprintf(t.acked_by, sizeof(t.acked_by), "bob");
	t.acked_at_ms = NOW_MS - 100;
	t.due_policy = true;
	return t;
}

struct ticket_list {
	struct ticket_snapshot t[64];
	int n;
	struct store *s; /* set: re-save each ticket from the callback */
};

static void
collect_ticket(void *userdata, const struct ticket_snapshot *t)
{
	struct ticket_list *l = userdata;

	assert_true(l->n < 64);
	l->t[l->n++] = *t;
	if (l->s) {
		struct ticket_snapshot changed = *t;

		changed.last_ts_ms++;
		assert_int_equal(store_ticket_save(l->s, &changed), 0);
	}
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static bool
tickets_without_rowid(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	bool yes;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master "
					    "WHERE type = 'table' AND name = 'tickets'",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	yes = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return yes;
}

/* Schema 5 keeps tickets WITHOUT ROWID (one b-tree written per save, not
 * the table and its id index): a schema-4 database keeps its tickets. */
static void
test_tickets_migrate_to_without_rowid(void **state)
{
	struct fixture *f = *state;
	struct ticket_snapshot t = full_ticket("T-4");
	struct ticket_list l = { 0 };
	struct store *s = open_ok(f->path);

	assert_int_equal(store_ticket_save(s, &t), 0);
	assert_int_equal(store_flush(s), 0);
	store_free(s);
	assert_true(tickets_without_rowid(f->path));

	/* back to a schema-4 shape: an ordinary rowid table, version 4 */
	raw_exec(f->path, "BEGIN;"
			  "CREATE TABLE tickets4 AS SELECT * FROM tickets;"
			  "DROP TABLE tickets;"
			  "ALTER TABLE tickets4 RENAME TO tickets;"
			  "PRAGMA user_version=4;"
			  "COMMIT;");
	assert_false(tickets_without_rowid(f->path));

	s = open_ok(f->path);
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 1);
	assert_memory_equal(&l.t[0], &t, sizeof(t));
	store_free(s);
	assert_int_equal(header_be32(f->path, 60), 5);
	assert_true(tickets_without_rowid(f->path));
}

static void
test_ticket_round_trip_every_field(void **state)
{
	struct fixture *f = *state;
	struct ticket_snapshot t = full_ticket("T-1042"), u;
	struct ticket_list l = { 0 };
	struct store *s = open_ok(f->path);

	assert_int_equal(store_ticket_save(s, &t), 0);
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 1);
	assert_memory_equal(&l.t[0], &t, sizeof(t));
	store_free(s);

	/* Saving again replaces; defaults round-trip too. */
	s = open_ok(f->path);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 1);
	assert_memory_equal(&l.t[0], &t, sizeof(t));
	memset(&u, 0, sizeof(u));
	snprintf(u.id, sizeof(u.id), "T-1042");
	assert_int_equal(store_ticket_save(s, &u), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 1);
	assert_memory_equal(&l.t[0], &u, sizeof(u));

	assert_int_equal(store_ticket_remove(s, "T-1042"), 0);
	assert_int_equal(store_ticket_remove(s, "T-unknown"), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 0);
	store_free(s);

	s = open_ok(f->path);
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 0);
	store_free(s);
}

static void
test_tickets_load_many_while_saving(void **state)
{
	struct fixture *f = *state;
	struct ticket_list l = { 0 };
	struct store *s = open_ok(f->path);

	for (int i = 0; i < 50; i++) {
		char id[16];
		struct ticket_snapshot t;

		snprintf(id, sizeof(id), "T-%03d", 49 - i);
		t = full_ticket(id);
		assert_int_equal(store_ticket_save(s, &t), 0);
	}
	/* Each ticket once, in id order, although the callback rewrites
	 * every row as it goes. */
	l.s = s;
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 50);
	for (int i = 0; i < 50; i++) {
		char id[16];

		snprintf(id, sizeof(id), "T-%03d", i);
		assert_string_equal(l.t[i].id, id);
	}
	l.s = NULL;
	l.n = 0;
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 50);
	assert_int_equal(l.t[0].last_ts_ms, NOW_MS - 1000 + 1);
	store_free(s);
}

static void
test_ticket_save_rejects_bad_input(void **state)
{
	struct fixture *f = *state;
	struct ticket_snapshot t = full_ticket("T-1"), bad;
	struct ticket_list l = { 0 };
	char long_id[TICKET_ID_MAX + 1];
	struct store *s = open_ok(f->path);

	bad = t;
	memset(bad.id, 'x', sizeof(bad.id));
	assert_int_equal(store_ticket_save(s, &bad), -EINVAL);
	bad = t;
	bad.id[0] = '\0';
	assert_int_equal(store_ticket_save(s, &bad), -EINVAL);
	bad = t;
	bad.channel = CHANNEL_COUNT;
	assert_int_equal(store_ticket_save(s, &bad), -EINVAL);
	bad = t;
	bad.priority = (enum priority) - 1;
	assert_int_equal(store_ticket_save(s, &bad), -EINVAL);
	bad = t;
	bad.state = (enum alert_state)3;
	assert_int_equal(store_ticket_save(s, &bad), -EINVAL);
	bad = t;
	memset(bad.acked_by, 'a', sizeof(bad.acked_by));
	assert_int_equal(store_ticket_save(s, &bad), -EINVAL);
	assert_int_equal(store_ticket_save(s, NULL), -EINVAL);
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(store_ticket_remove(s, long_id), -EINVAL);
	assert_int_equal(store_ticket_remove(s, NULL), -EINVAL);
	assert_int_equal(store_tickets_load(s, NULL, NULL), -EINVAL);

	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 0);
	assert_int_equal(store_ticket_save(s, &t), 0);
	assert_int_equal(store_tickets_load(s, collect_ticket, &l), 1);
	store_free(s);
}

/* --- settings ------------------------------------------------------------- */

static void
test_settings(void **state)
{
	struct fixture *f = *state;
	char value[STORE_SETTING_VALUE_MAX + 2], small[4], key[STORE_SETTING_KEY_MAX + 2];
	struct store *s = open_ok(f->path);

	assert_int_equal(store_setting_get(s, "incident", value, sizeof(value)), -ENOENT);
	assert_int_equal(store_setting_set(s, "incident", "Payments down"), 0);
	assert_int_equal(store_setting_get(s, "incident", value, sizeof(value)), 0);
	assert_string_equal(value, "Payments down");
	assert_int_equal(store_setting_set(s, "incident", "it's 'quoted'"), 0);
	assert_int_equal(store_setting_get(s, "incident", value, sizeof(value)), 0);
	assert_string_equal(value, "it's 'quoted'");
	assert_int_equal(store_setting_set(s, "empty", ""), 0);
	assert_int_equal(store_setting_get(s, "empty", small, sizeof(small)), 0);
	assert_string_equal(small, "");

	/* Never a cut-off value. */
	assert_int_equal(store_setting_set(s, "k", "abcd"), 0);
	assert_int_equal(store_setting_get(s, "k", small, sizeof(small)), -ERANGE);
	assert_int_equal(store_setting_set(s, "k", "abc"), 0);
	assert_int_equal(store_setting_get(s, "k", small, sizeof(small)), 0);
	assert_string_equal(small, "abc");

	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0'; /* one byte over the cap */
	assert_int_equal(store_setting_set(s, "big", value), -EINVAL);
	value[STORE_SETTING_VALUE_MAX] = '\0'; /* exactly the cap */
	assert_int_equal(store_setting_set(s, "big", value), 0);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(store_setting_set(s, key, "v"), -EINVAL);
	assert_int_equal(store_setting_set(s, "", "v"), -EINVAL);
	assert_int_equal(store_setting_set(s, "k", NULL), -EINVAL);
	assert_int_equal(store_setting_get(s, "k", NULL, 0), -EINVAL);

	assert_int_equal(store_setting_delete(s, "incident"), 0);
	assert_int_equal(store_setting_get(s, "incident", value, sizeof(value)), -ENOENT);
	assert_int_equal(store_setting_delete(s, "incident"), 0);
	store_free(s);

	s = open_ok(f->path);
	assert_int_equal(store_setting_get(s, "incident", value, sizeof(value)), -ENOENT);
	assert_int_equal(store_setting_get(s, "big", value, sizeof(value)), 0);
	assert_int_equal(strlen(value), STORE_SETTING_VALUE_MAX);
	assert_int_equal(store_setting_get(s, "k", small, sizeof(small)), 0);
	assert_string_equal(small, "abc");
	store_free(s);
}

/* --- retention and size --------------------------------------------------- */

static void
test_retention_deletes_old_keeps_new(void **state)
{
	struct fixture *f = *state;
	struct ack_record a[3] = {
		make_ack(1, "T-1", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, NOW_MS - 401 * DAY_MS),
		make_ack(2, "T-2", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, NOW_MS - 399 * DAY_MS),
		make_ack(3, "T-3", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, NOW_MS),
	};
	struct outbox_row rows[4];
	struct ack_list l;
	struct store *s = open_ok(f->path);

	for (int i = 0; i < 3; i++)
		assert_int_equal(commit_one(s, &a[i]), 0);
	assert_int_equal(store_outbox_fetch(s, 0, rows, 4), 3);
	assert_int_equal(store_outbox_sent(s, rows[0].row_id), 0);
	assert_int_equal(store_outbox_sent(s, rows[1].row_id), 0);
	for (int i = 0; i < 3; i++)
		outbox_row_done(&rows[i]);
	assert_int_equal(store_audit(s, NOW_MS - 31 * DAY_MS, "admin", "mute", "1h"), 0);
	assert_int_equal(store_audit(s, NOW_MS - 29 * DAY_MS, "admin", "unmute", NULL), 0);
	assert_int_equal(store_event_mark(s, "evt-old", NOW_MS - 25 * 3600 * 1000LL), 0);
	assert_int_equal(store_event_mark(s, "evt-new", NOW_MS - 23 * 3600 * 1000LL), 0);
	/* Redelivered: kept for dedupe_keep from the last time it came. */
	assert_int_equal(store_event_mark(s, "evt-again", NOW_MS - 30 * DAY_MS), 0);
	assert_int_equal(store_event_mark(s, "evt-again", NOW_MS - 1000), 0);
	assert_int_equal(store_event_mark(s, "evt-again", NOW_MS - 40 * DAY_MS), 0);

	/* 1 ack + 1 audit + 1 event + 2 delivered outbox rows */
	assert_int_equal(store_retention(s, NOW_MS, 400 * DAY_USEC, 30 * DAY_USEC, DAY_USEC), 5);
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 2);
	assert_string_equal(l.a[1].id, "floor2-000002");
	assert_int_equal(store_event_seen(s, "evt-old"), 0);
	assert_int_equal(store_event_seen(s, "evt-new"), 1);
	assert_int_equal(store_event_seen(s, "evt-again"), 1);
	assert_int_equal(store_outbox_depth(s), 1);
	assert_int_equal(store_outbox_fetch(s, 0, rows, 4), 1);
	assert_int_equal(rows[0].row_id > 0, 1);
	outbox_row_done(&rows[0]);
	/* Nothing more is old enough. A day later, exactly at the limits,
	 * still nothing; one millisecond past them, the (now 400-day) ack and
	 * the (30-day) audit row go, the 47-hour event stays (keep 2 days). */
	assert_int_equal(store_retention(s, NOW_MS, 400 * DAY_USEC, 30 * DAY_USEC, DAY_USEC), 0);
	assert_int_equal(
		store_retention(s, NOW_MS + DAY_MS, 400 * DAY_USEC, 30 * DAY_USEC, 2 * DAY_USEC),
		0);
	assert_int_equal(store_retention(s, NOW_MS + DAY_MS + 1, 400 * DAY_USEC, 30 * DAY_USEC,
					 2 * DAY_USEC),
			 2);
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 1);
	assert_string_equal(l.a[0].id, "floor2-000003");
	/* 0 = keep forever. */
	assert_int_equal(store_retention(s, NOW_MS + 1000 * DAY_MS, 0, 0, 0), 0);
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 1);
	store_free(s);

	s = open_ok(f->path); /* the deletes were committed */
	assert_int_equal(query(s, 0, 0, NULL, 0, &l), 1);
	assert_int_equal(store_event_seen(s, "evt-old"), 0);
	assert_int_equal(store_event_seen(s, "evt-new"), 1);
	store_free(s);
}

static void
test_retention_is_bounded_per_call(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_ok(f->path);
	int first, second;

	for (int i = 0; i < 10500; i++) {
		char id[32];

		snprintf(id, sizeof(id), "evt-%05d", i);
		assert_int_equal(store_event_mark(s, id, NOW_MS - 2 * DAY_MS), 0);
	}
	assert_int_equal(store_event_mark(s, "evt-fresh", NOW_MS), 0);
	assert_int_equal(store_flush(s), 0);

	first = store_retention(s, NOW_MS, 0, 0, DAY_USEC);
	assert_int_equal(first, 10000); /* 20 batches of 500 */
	second = store_retention(s, NOW_MS, 0, 0, DAY_USEC);
	assert_int_equal(second, 500);
	assert_int_equal(store_retention(s, NOW_MS, 0, 0, DAY_USEC), 0);
	assert_int_equal(store_event_seen(s, "evt-00000"), 0);
	assert_int_equal(store_event_seen(s, "evt-fresh"), 1);
	store_free(s);
}

static void
test_audit_detail_is_capped(void **state)
{
	struct fixture *f = *state;
	size_t big_len = 256 * 1024;
	char *big = malloc(big_len + 1);
	struct store *s = open_ok(f->path);
	int64_t before, after;

	assert_non_null(big);
	memset(big, 'd', big_len);
	big[big_len] = '\0';
	assert_int_equal(store_audit(s, NOW_MS, "admin", "config_set", NULL), 0);
	assert_int_equal(store_flush(s), 0);
	before = store_size_bytes(s);
	assert_true(before > 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(store_audit(s, NOW_MS, big, "config_set", big), 0);
	assert_int_equal(store_flush(s), 0);
	after = store_size_bytes(s);
	/* 20 × 256 KiB would be 5 MiB; capped rows are about 1 KiB each. */
	assert_true(after - before < 512 * 1024);
	assert_int_equal(store_audit(s, NOW_MS, "admin", NULL, "x"), -EINVAL);
	assert_int_equal(store_audit(s, NOW_MS, "admin", "", "x"), -EINVAL);
	assert_int_equal(store_retention(s, NOW_MS + 2 * DAY_MS, 0, DAY_USEC, 0), 21);
	free(big);
	store_free(s);
}

static void
test_cmd_replies_and_nonces(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_ok(f->path);
	char *reply = NULL;

	assert_int_equal(store_cmd_reply_get(s, "mute tx-1", &reply), -ENOENT);
	assert_null(reply);
	assert_int_equal(store_cmd_reply_put(s, "mute tx-1", 1000, "{\"status\":\"ok\"}"), 0);
	assert_int_equal(store_nonce_use(s, "nonce-aaaa", 1000), 0);
	assert_int_equal(store_nonce_use(s, "nonce-aaaa", 2000), -EEXIST);
	assert_int_equal(store_nonce_use(s, "nonce-bbbb", 5000), 0);
	store_free(s);

	/* Both are durable: a restart must not forget them. */
	s = open_ok(f->path);
	assert_int_equal(store_cmd_reply_get(s, "mute tx-1", &reply), 0);
	assert_string_equal(reply, "{\"status\":\"ok\"}");
	free(reply);
	assert_int_equal(store_nonce_use(s, "nonce-aaaa", 3000), -EEXIST);
	assert_int_equal(store_cmd_reply_put(s, "mute tx-2", 9000, "{}"), 0);

	/* Retention forgets what is older than each cutoff, nothing else. */
	assert_int_equal(store_cmd_retention(s, 5000, 4000), 2);
	assert_int_equal(store_cmd_reply_get(s, "mute tx-1", &reply), -ENOENT);
	assert_int_equal(store_cmd_reply_get(s, "mute tx-2", &reply), 0);
	free(reply);
	assert_int_equal(store_nonce_use(s, "nonce-aaaa", 6000), 0);
	assert_int_equal(store_nonce_use(s, "nonce-bbbb", 6000), -EEXIST);

	assert_int_equal(store_cmd_reply_put(s, "", 1, "{}"), -EINVAL);
	assert_int_equal(store_nonce_use(s, NULL, 1), -EINVAL);
	store_free(s);
}

static void
test_stats_percentiles_by_agent_and_channel(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_ok(f->path);
	struct store_stat rows[8];
	unsigned seq = 1;
	int n;

	/* anna: 10 acks of 1..10 s; bob: one breach ack of 42 s. */
	for (unsigned i = 1; i <= 10; i++) {
		struct ack_record a =
			make_ack(seq++, "T-1", ALERT_NEW, "anna", ACK_SOURCE_BUTTON, 100000 + i);

		a.latency_ms = (int64_t)i * 1000;
		a.channel = i <= 4 ? CHANNEL_FACEBOOK : CHANNEL_EMAIL;
		a.priority = PRIORITY_URGENT;
		assert_int_equal(commit_one(s, &a), 0);
	}
	struct ack_record b =
		make_ack(seq++, "T-2", ALERT_BREACHED, "bob", ACK_SOURCE_MQTT, 100500);
	b.latency_ms = 42000;
	b.channel = CHANNEL_EMAIL;
	b.priority = PRIORITY_LOW;
	assert_int_equal(commit_one(s, &b), 0);
	/* Outside the window. */
	struct ack_record old = make_ack(seq++, "T-3", ALERT_BREACHED, "anna", ACK_SOURCE_MQTT, 5);
	assert_int_equal(commit_one(s, &old), 0);

	n = store_stats(s, STORE_STATS_AGENT, 100000, 200000, rows, 8);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].key, "anna");
	assert_int_equal(rows[0].acks, 10);
	assert_int_equal(rows[0].breaches, 0);
	assert_int_equal(rows[0].median_ms, 5000); /* ceil(10/2) = 5th */
	assert_int_equal(rows[0].p90_ms, 9000);    /* ceil(9) = 9th */
	assert_string_equal(rows[1].key, "bob");
	assert_int_equal(rows[1].acks, 1);
	assert_int_equal(rows[1].breaches, 1);
	assert_int_equal(rows[1].median_ms, 42000);
	assert_int_equal(rows[1].p90_ms, 42000);

	n = store_stats(s, STORE_STATS_CHANNEL, 100000, 200000, rows, 8);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].key, "email");
	assert_string_equal(rows[0].priority, "low");
	assert_int_equal(rows[0].breaches, 1);
	assert_string_equal(rows[1].key, "email");
	assert_string_equal(rows[1].priority, "urgent");
	assert_int_equal(rows[1].acks, 6);
	assert_int_equal(rows[1].median_ms, 7000); /* 5..10 s: 3rd */
	assert_int_equal(rows[1].p90_ms, 10000);   /* ceil(5.4) = 6th */
	assert_string_equal(rows[2].key, "facebook");
	assert_int_equal(rows[2].acks, 4);
	assert_int_equal(rows[2].median_ms, 2000);
	assert_int_equal(rows[2].p90_ms, 4000);

	/* The cap holds, and an empty window is no rows. */
	assert_int_equal(store_stats(s, STORE_STATS_AGENT, 100000, 200000, rows, 1), 1);
	assert_int_equal(store_stats(s, STORE_STATS_AGENT, 300000, 400000, rows, 8), 0);

	store_free(s);
}

static void
test_null_store_is_einval(void **state)
{
	struct ack_record a;
	uint64_t seq;
	char v[4];

	(void)state;
	memset(&a, 0, sizeof(a));
	store_free(NULL);
	assert_false(store_was_recovered(NULL, NULL, 0));
	assert_non_null(store_errmsg(NULL));
	assert_int_equal(store_flush(NULL), -EINVAL);
	assert_int_equal(store_event_seen(NULL, "e"), -EINVAL);
	assert_int_equal(store_event_mark(NULL, "e", 0), -EINVAL);
	assert_int_equal(store_next_ack_seq(NULL, &seq), -EINVAL);
	assert_int_equal(store_outbox_fetch(NULL, 0, NULL, 0), -EINVAL);
	assert_int_equal(store_outbox_sent(NULL, 1), -EINVAL);
	assert_int_equal(store_outbox_depth(NULL), -EINVAL);
	assert_int_equal(store_ticket_remove(NULL, "T"), -EINVAL);
	assert_int_equal(store_setting_get(NULL, "k", v, sizeof(v)), -EINVAL);
	assert_int_equal(store_setting_set(NULL, "k", "v"), -EINVAL);
	assert_int_equal(store_setting_delete(NULL, "k"), -EINVAL);
	assert_int_equal(store_audit(NULL, 0, "a", "b", "c"), -EINVAL);
	assert_int_equal(store_retention(NULL, 0, 1, 1, 1), -EINVAL);
	assert_int_equal(store_size_bytes(NULL), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_open_creates_schema_in_wal_mode),
		T(test_open_reports_uncreatable_directory),
		T(test_reopen_keeps_data),
		T(test_garbage_file_is_moved_aside),
		T(test_damaged_pages_are_moved_aside),
		T(test_newer_schema_is_refused),
		T(test_read_only_database_is_refused),
		T(test_dedupe_across_flush_and_reopen),
		T(test_ack_seq_monotonic_across_reopen),
		T(test_ack_commit_survives_reopen),
		T(test_every_source_and_alert_round_trips),
		T(test_outbox_order_after_sent_depth),
		T(test_outbox_cap_and_kept_depth),
		T(test_failed_commit_rolls_back_and_store_stays_usable),
		T(test_ack_durable_after_kill_9),
		T(test_ack_commit_rejects_bad_input),
		T(test_acks_query_filters_order_limit),
		T(test_acks_query_pages_through_many),
		T(test_ticket_round_trip_every_field),
		T(test_tickets_migrate_to_without_rowid),
		T(test_tickets_load_many_while_saving),
		T(test_ticket_save_rejects_bad_input),
		T(test_settings),
		T(test_retention_deletes_old_keeps_new),
		T(test_retention_is_bounded_per_call),
		T(test_audit_detail_is_capped),
		T(test_cmd_replies_and_nonces),
		T(test_stats_percentiles_by_agent_and_channel),
		cmocka_unit_test(test_null_store_is_einval),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
