/* store: the SQLite database. See include/store.h for the contract and
 * docs/store.md for the schema and the durability rules.
 *
 * One connection, one thread. Statements are prepared once at open and
 * reset after every use, so no read transaction outlives a call and no
 * callback ever runs while a statement is active (callbacks may call back
 * into the store).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ack.h"
#include "alerts.h"
#include "event.h"
#include "log.h"
#include "store.h"

#define STORE_BUSY_TIMEOUT_MS    200
#define STORE_JOURNAL_SIZE_LIMIT 4194304 /* 4 MiB; a literal for STR() */
#define STORE_RETENTION_BATCH    500
#define STORE_RETENTION_BATCHES  20 /* per table and call */
#define STORE_PAYLOAD_MAX        (1024 * 1024)
#define STORE_AUDIT_TEXT_MAX     1024
#define STORE_AUDIT_NAME_MAX     64
#define STORE_QUERY_CHUNK        32 /* rows read before callbacks run */
#define STORE_ERRMSG_MAX         512
#define STORE_TOPIC_MAX          sizeof(((struct outbox_row *)0)->topic)

#define STR_(x) #x
#define STR(x)  STR_(x)

_Static_assert(SLA_KIND_COUNT == 2, "tickets table has two SLA columns each");

/* The tickets columns as of schema 5 (a literal: migration 5 must not
 * change when TICKET_COLUMNS grows). */
#define TICKET_COLUMNS_V5                                                                          \
	"id, channel, priority, public, subject, customer, queue, assignee, "                      \
	"created_ms, last_ts_ms, due_first_response_ms, due_resolution_ms, "                       \
	"responded, paused, paused_left_first_response_ms, "                                       \
	"paused_left_resolution_ms, backend_warning_first_response, "                              \
	"backend_warning_resolution, backend_breached_first_response, "                            \
	"backend_breached_resolution, kind, state, escalated, event_id, "                          \
	"raised_ms, acked_by, acked_at_ms, due_policy"

/* Schema migrations: migrations[i] takes user_version i to i + 1. Append
 * only; never edit a step that has shipped. Comments inside CREATE TABLE are
 * kept by SQLite, so `.schema` in the sqlite3 CLI shows them. */
static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE acks (\n"
	"  seq INTEGER PRIMARY KEY,       -- insertion order\n"
	"  id TEXT NOT NULL UNIQUE,       -- <board>-<seq>, the idempotency key\n"
	"  board TEXT NOT NULL,\n"
	"  ticket_id TEXT NOT NULL,\n"
	"  alert TEXT,                    -- ticket.created|sla.warning|sla.breached\n"
	"  agent TEXT NOT NULL,           -- '' if unknown\n"
	"  source TEXT NOT NULL,          -- button|mqtt|ctl|assign\n"
	"  button TEXT NOT NULL,          -- '' unless source is button\n"
	"  at_ms INTEGER NOT NULL,        -- wall ms since the epoch\n"
	"  latency_ms INTEGER NOT NULL,\n"
	"  event_id TEXT NOT NULL         -- '' if the board raised the alert\n"
	");\n"
	"CREATE INDEX acks_at_ms ON acks(at_ms);\n"
	"CREATE TABLE outbox (\n"
	"  row_id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused\n"
	"  topic TEXT NOT NULL,\n"
	"  payload BLOB NOT NULL,\n"
	"  created_ms INTEGER NOT NULL,\n"
	"  sent INTEGER NOT NULL DEFAULT 0 -- 1 once the broker acknowledged it\n"
	");\n"
	"CREATE TABLE tickets (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  channel TEXT NOT NULL,\n"
	"  priority TEXT NOT NULL,\n"
	"  public INTEGER NOT NULL,\n"
	"  subject TEXT NOT NULL,\n"
	"  customer TEXT NOT NULL,\n"
	"  queue TEXT NOT NULL,\n"
	"  assignee TEXT NOT NULL,\n"
	"  created_ms INTEGER NOT NULL,\n"
	"  last_ts_ms INTEGER NOT NULL,\n"
	"  due_first_response_ms INTEGER NOT NULL,  -- 0: none\n"
	"  due_resolution_ms INTEGER NOT NULL,\n"
	"  responded INTEGER NOT NULL,\n"
	"  paused INTEGER NOT NULL,\n"
	"  paused_left_first_response_ms INTEGER NOT NULL,\n"
	"  paused_left_resolution_ms INTEGER NOT NULL,\n"
	"  backend_warning_first_response INTEGER NOT NULL,\n"
	"  backend_warning_resolution INTEGER NOT NULL,\n"
	"  backend_breached_first_response INTEGER NOT NULL,\n"
	"  backend_breached_resolution INTEGER NOT NULL,\n"
	"  kind TEXT NOT NULL,            -- none|new|warning|breached\n"
	"  state TEXT NOT NULL,           -- cleared|unacked|acked\n"
	"  escalated INTEGER NOT NULL,\n"
	"  event_id TEXT NOT NULL,\n"
	"  raised_ms INTEGER NOT NULL,\n"
	"  acked_by TEXT NOT NULL,\n"
	"  acked_at_ms INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE seen_events (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  seen_ms INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE settings (\n"
	"  key TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE audit (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  actor TEXT,\n"
	"  action TEXT NOT NULL,\n"
	"  detail TEXT\n"
	");\n"
	"CREATE TABLE counters (\n"
	"  name TEXT PRIMARY KEY,\n"
	"  value INTEGER NOT NULL\n"
	");\n",
	/* 2: admin commands (SPEC §5) and per-channel stats */
	"CREATE TABLE cmd_replies (\n"
	"  id TEXT PRIMARY KEY,            -- <verb> <transaction>\n"
	"  at_ms INTEGER NOT NULL,\n"
	"  reply TEXT NOT NULL            -- sent again for a repeated transaction\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX cmd_replies_at_ms ON cmd_replies(at_ms);\n"
	"CREATE TABLE cmd_nonces (\n"
	"  nonce TEXT PRIMARY KEY,         -- of a signed command; a replay is refused\n"
	"  at_ms INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX cmd_nonces_at_ms ON cmd_nonces(at_ms);\n"
	"ALTER TABLE acks ADD COLUMN channel TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE acks ADD COLUMN priority TEXT NOT NULL DEFAULT '';\n",
	/* 3: SLA figures for stats, kept as long as acks */
	"CREATE TABLE responses (\n"
	"  ticket_id TEXT PRIMARY KEY,     -- first response to a ticket only\n"
	"  channel TEXT NOT NULL,\n"
	"  priority TEXT NOT NULL,\n"
	"  created_ms INTEGER NOT NULL,    -- ts of the first event about it\n"
	"  responded_ms INTEGER NOT NULL   -- ts of the event that answered it\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX responses_at ON responses(responded_ms);\n"
	"CREATE TABLE breaches (\n"
	"  ticket_id TEXT NOT NULL,\n"
	"  raised_ms INTEGER NOT NULL,     -- when the breach alert was raised\n"
	"  channel TEXT NOT NULL,\n"
	"  priority TEXT NOT NULL,\n"
	"  PRIMARY KEY (ticket_id, raised_ms)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX breaches_at ON breaches(raised_ms);\n",
	/* 4: whether a ticket's dues came from the board's SLA policy */
	"ALTER TABLE tickets ADD COLUMN due_policy INTEGER NOT NULL DEFAULT 0;\n",
	/* 5: tickets WITHOUT ROWID: a save writes one b-tree, not the table
	 * and its id index (one WAL page less per event, issue 7) */
	"CREATE TABLE tickets_v5 (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  channel TEXT NOT NULL,\n"
	"  priority TEXT NOT NULL,\n"
	"  public INTEGER NOT NULL,\n"
	"  subject TEXT NOT NULL,\n"
	"  customer TEXT NOT NULL,\n"
	"  queue TEXT NOT NULL,\n"
	"  assignee TEXT NOT NULL,\n"
	"  created_ms INTEGER NOT NULL,\n"
	"  last_ts_ms INTEGER NOT NULL,\n"
	"  due_first_response_ms INTEGER NOT NULL,  -- 0: none\n"
	"  due_resolution_ms INTEGER NOT NULL,\n"
	"  responded INTEGER NOT NULL,\n"
	"  paused INTEGER NOT NULL,\n"
	"  paused_left_first_response_ms INTEGER NOT NULL,\n"
	"  paused_left_resolution_ms INTEGER NOT NULL,\n"
	"  backend_warning_first_response INTEGER NOT NULL,\n"
	"  backend_warning_resolution INTEGER NOT NULL,\n"
	"  backend_breached_first_response INTEGER NOT NULL,\n"
	"  backend_breached_resolution INTEGER NOT NULL,\n"
	"  kind TEXT NOT NULL,            -- none|new|warning|breached\n"
	"  state TEXT NOT NULL,           -- cleared|unacked|acked\n"
	"  escalated INTEGER NOT NULL,\n"
	"  event_id TEXT NOT NULL,\n"
	"  raised_ms INTEGER NOT NULL,\n"
	"  acked_by TEXT NOT NULL,\n"
	"  acked_at_ms INTEGER NOT NULL,\n"
	"  due_policy INTEGER NOT NULL DEFAULT 0 -- dues from the board's [sla] policy\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO tickets_v5 (" TICKET_COLUMNS_V5 ") SELECT " TICKET_COLUMNS_V5
	" FROM tickets WHERE id IS NOT NULL;\n"
	"DROP TABLE tickets;\n"
	"ALTER TABLE tickets_v5 RENAME TO tickets;\n",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Column lists shared by the INSERT and the SELECT so that binding and
 * reading (ticket_bind/ticket_read, ack_bind/ack_read) follow one order. */
#define TICKET_COLUMNS                                                                             \
	"id, channel, priority, public, subject, customer, queue, assignee, "                      \
	"created_ms, last_ts_ms, due_first_response_ms, due_resolution_ms, "                       \
	"responded, paused, paused_left_first_response_ms, "                                       \
	"paused_left_resolution_ms, backend_warning_first_response, "                              \
	"backend_warning_resolution, backend_breached_first_response, "                            \
	"backend_breached_resolution, kind, state, escalated, event_id, "                          \
	"raised_ms, acked_by, acked_at_ms, due_policy"
#define TICKET_PARAMS                                                                              \
	"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "                                \
	"?, ?, ?, ?, ?, ?, ?, ?, ?"

#define ACK_COLUMNS                                                                                \
	"id, board, ticket_id, alert, agent, source, button, at_ms, "                              \
	"latency_ms, event_id, channel, priority"

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_EVENT_SEEN,
	ST_EVENT_MARK,
	ST_SEQ_NEXT,
	ST_ACK_INSERT,
	ST_OUTBOX_INSERT,
	ST_OUTBOX_FETCH,
	ST_OUTBOX_SENT,
	ST_OUTBOX_DEPTH,
	ST_TICKET_SAVE,
	ST_TICKET_REMOVE,
	ST_TICKETS_CLEAR,
	ST_TICKETS_LOAD,
	ST_ACKS_QUERY,
	ST_SETTING_SET,
	ST_SETTING_GET,
	ST_SETTING_DELETE,
	ST_AUDIT,
	ST_RETAIN_ACKS,
	ST_RETAIN_AUDIT,
	ST_RETAIN_EVENTS,
	ST_RETAIN_OUTBOX,
	ST_SIZE,
	ST_REPLY_GET,
	ST_REPLY_PUT,
	ST_NONCE_USE,
	ST_RETAIN_REPLIES,
	ST_RETAIN_NONCES,
	ST_STATS_AGENTS,
	ST_STATS_CHANNELS,
	ST_RESPONSE_MARK,
	ST_BREACH_MARK,
	ST_STATS_RESPONSES,
	ST_STATS_BREACHES,
	ST_RETAIN_RESPONSES,
	ST_RETAIN_BREACHES,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_EVENT_SEEN] = "SELECT 1 FROM seen_events WHERE id = ?1",
	/* A redelivery refreshes the mark: it is kept dedupe_keep after the
	 * backend last sent it. */
	[ST_EVENT_MARK] = "INSERT INTO seen_events (id, seen_ms) VALUES (?1, ?2) "
			  "ON CONFLICT (id) DO UPDATE SET seen_ms = max(seen_ms, excluded.seen_ms)",
	[ST_SEQ_NEXT] = "INSERT INTO counters (name, value) VALUES ('ack_seq', 1) "
			"ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
	[ST_ACK_INSERT] = "INSERT INTO acks (" ACK_COLUMNS ") "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[ST_OUTBOX_INSERT] = "INSERT INTO outbox (topic, payload, created_ms) "
			     "VALUES (?1, ?2, ?3)",
	[ST_OUTBOX_FETCH] = "SELECT row_id, topic, payload FROM outbox "
			    "WHERE sent = 0 AND row_id > ?1 ORDER BY row_id LIMIT ?2",
	[ST_OUTBOX_SENT] = "UPDATE outbox SET sent = 1 WHERE row_id = ?1 AND sent = 0",
	[ST_OUTBOX_DEPTH] = "SELECT count(*) FROM outbox WHERE sent = 0",
	[ST_TICKET_SAVE] = "INSERT OR REPLACE INTO tickets (" TICKET_COLUMNS ") "
			   "VALUES (" TICKET_PARAMS ")",
	[ST_TICKET_REMOVE] = "DELETE FROM tickets WHERE id = ?1",
	[ST_TICKETS_CLEAR] = "DELETE FROM tickets",
	/* Keyset pagination: a page is read and the statement reset before
	 * any callback runs. */
	[ST_TICKETS_LOAD] = "SELECT " TICKET_COLUMNS " FROM tickets "
			    "WHERE id > ?1 ORDER BY id LIMIT ?2",
	[ST_ACKS_QUERY] = "SELECT seq, " ACK_COLUMNS " FROM acks "
			  "WHERE at_ms >= ?1 AND at_ms < ?2 AND (?3 IS NULL OR agent = ?3) "
			  "AND (at_ms < ?4 OR (at_ms = ?4 AND seq < ?5)) "
			  "ORDER BY at_ms DESC, seq DESC LIMIT ?6",
	[ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
			   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
	[ST_SETTING_DELETE] = "DELETE FROM settings WHERE key = ?1",
	[ST_AUDIT] = "INSERT INTO audit (at_ms, actor, action, detail) "
		     "VALUES (?1, ?2, ?3, ?4)",
	[ST_RETAIN_ACKS] = "DELETE FROM acks WHERE seq IN (SELECT seq FROM acks "
			   "WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)",
	[ST_RETAIN_AUDIT] = "DELETE FROM audit WHERE id IN (SELECT id FROM audit "
			    "WHERE at_ms < ?1 LIMIT ?2)",
	[ST_RETAIN_EVENTS] = "DELETE FROM seen_events WHERE id IN (SELECT id FROM "
			     "seen_events WHERE seen_ms < ?1 LIMIT ?2)",
	[ST_RETAIN_OUTBOX] = "DELETE FROM outbox WHERE row_id IN (SELECT row_id "
			     "FROM outbox WHERE sent = 1 ORDER BY row_id LIMIT ?2)",
	/* Table-valued pragmas run at step time, unlike PRAGMA statements,
	 * whose values are fixed when they are prepared. */
	[ST_SIZE] = "SELECT page_count * page_size FROM pragma_page_count(), "
		    "pragma_page_size()",
	[ST_REPLY_GET] = "SELECT reply FROM cmd_replies WHERE id = ?1",
	[ST_REPLY_PUT] =
		"INSERT OR REPLACE INTO cmd_replies (id, at_ms, reply) VALUES (?1, ?2, ?3)",
	[ST_NONCE_USE] = "INSERT OR IGNORE INTO cmd_nonces (nonce, at_ms) VALUES (?1, ?2)",
	[ST_RETAIN_REPLIES] = "DELETE FROM cmd_replies WHERE id IN (SELECT id FROM "
			      "cmd_replies WHERE at_ms < ?1 LIMIT ?2)",
	[ST_RETAIN_NONCES] = "DELETE FROM cmd_nonces WHERE nonce IN (SELECT nonce FROM "
			     "cmd_nonces WHERE at_ms < ?1 LIMIT ?2)",
	/* Nearest-rank percentiles: the median is the ceil(n/2)-th smallest
	 * time to ack, p90 the ceil(9n/10)-th. Window functions rank each
	 * group's acks once; the outer query picks the two ranks. */
	[ST_STATS_AGENTS] = "WITH w AS (SELECT agent, latency_ms, alert, "
			    "row_number() OVER (PARTITION BY agent ORDER BY latency_ms) AS rn, "
			    "count(*) OVER (PARTITION BY agent) AS n "
			    "FROM acks WHERE at_ms >= ?1 AND at_ms < ?2) "
			    "SELECT agent, '', n, sum(alert = 'sla.breached'), "
			    "max(CASE WHEN rn = (n + 1) / 2 THEN latency_ms END), "
			    "max(CASE WHEN rn = (9 * n + 9) / 10 THEN latency_ms END) "
			    "FROM w GROUP BY agent ORDER BY n DESC, agent LIMIT ?3",
	[ST_STATS_CHANNELS] =
		"WITH w AS (SELECT channel, priority, latency_ms, alert, "
		"row_number() OVER (PARTITION BY channel, priority "
		"ORDER BY latency_ms) AS rn, "
		"count(*) OVER (PARTITION BY channel, priority) AS n "
		"FROM acks WHERE at_ms >= ?1 AND at_ms < ?2) "
		"SELECT channel, priority, n, sum(alert = 'sla.breached'), "
		"max(CASE WHEN rn = (n + 1) / 2 THEN latency_ms END), "
		"max(CASE WHEN rn = (9 * n + 9) / 10 THEN latency_ms END) "
		"FROM w GROUP BY channel, priority ORDER BY channel, priority LIMIT ?3",
	[ST_RESPONSE_MARK] = "INSERT OR IGNORE INTO responses (ticket_id, channel, priority, "
			     "created_ms, responded_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_BREACH_MARK] = "INSERT OR IGNORE INTO breaches (ticket_id, raised_ms, channel, "
			   "priority) VALUES (?1, ?2, ?3, ?4)",
	/* First-response time per channel and priority, nearest-rank as above. */
	[ST_STATS_RESPONSES] =
		"WITH w AS (SELECT channel, priority, "
		"max(responded_ms - created_ms, 0) AS t, "
		"row_number() OVER (PARTITION BY channel, priority "
		"ORDER BY max(responded_ms - created_ms, 0)) AS rn, "
		"count(*) OVER (PARTITION BY channel, priority) AS n "
		"FROM responses WHERE responded_ms >= ?1 AND responded_ms < ?2) "
		"SELECT channel, priority, n, 0, "
		"max(CASE WHEN rn = (n + 1) / 2 THEN t END), "
		"max(CASE WHEN rn = (9 * n + 9) / 10 THEN t END) "
		"FROM w GROUP BY channel, priority ORDER BY channel, priority LIMIT ?3",
	[ST_STATS_BREACHES] = "SELECT channel, priority, 0, count(*), 0, 0 FROM breaches "
			      "WHERE raised_ms >= ?1 AND raised_ms < ?2 GROUP BY channel, priority "
			      "ORDER BY channel, priority LIMIT ?3",
	[ST_RETAIN_RESPONSES] = "DELETE FROM responses WHERE ticket_id IN (SELECT ticket_id "
				"FROM responses WHERE responded_ms < ?1 LIMIT ?2)",
	[ST_RETAIN_BREACHES] = "DELETE FROM breaches WHERE (ticket_id, raised_ms) IN (SELECT "
			       "ticket_id, raised_ms FROM breaches WHERE raised_ms < ?1 LIMIT ?2)",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	char *path;
	char *wal_path;
	bool recovered;
	char moved_to[PATH_MAX];
	char errmsg[STORE_ERRMSG_MAX];
	/* Unsent outbox rows, kept so that the depth (asked for on every state
	 * publish) costs no count(*); -1: unknown (after a rollback), counted
	 * again when next asked. */
	int64_t outbox_unsent;
	size_t outbox_max; /* 0: no cap */
	bool readonly;     /* store_open_readonly(): every write fails */
	int fault;         /* -errno of the last failed write, 0 after a commit */
};

/* --- names ---------------------------------------------------------------- */

/* Enums are stored by their names (as on the wire and in `teamboardctl`),
 * so that the sqlite3 CLI shows them and reordering an enum cannot change
 * what a stored row means. */
#define ALERT_KIND_LAST  ALERT_BREACHED
#define ALERT_STATE_LAST ALERT_ACKED

static bool
text_eq(const unsigned char *column, const char *name)
{
	return column && name && strcmp((const char *)column, name) == 0;
}

/* The ack log's "alert" column: alert_kind_event_name() text. */
static enum alert_kind
ack_alert_read(const unsigned char *text)
{
	for (int k = ALERT_NONE; k <= ALERT_KIND_LAST; k++)
		if (text_eq(text, alert_kind_event_name((enum alert_kind)k)))
			return (enum alert_kind)k;
	return ALERT_NONE;
}

/* Values this code did not write (a hand-edited database) lean towards
 * showing an alert rather than hiding one. */
static enum alert_kind
kind_read(const unsigned char *text)
{
	for (int k = ALERT_NONE; k <= ALERT_KIND_LAST; k++)
		if (text_eq(text, alert_kind_name((enum alert_kind)k)))
			return (enum alert_kind)k;
	return ALERT_NEW;
}

static enum alert_state
state_read(const unsigned char *text)
{
	for (int k = ALERT_CLEARED; k <= ALERT_STATE_LAST; k++)
		if (text_eq(text, alert_state_name((enum alert_state)k)))
			return (enum alert_state)k;
	return ALERT_UNACKED;
}

/* --- small helpers -------------------------------------------------------- */

static int
errno_from_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	default:
		return -EIO;
	}
}

/* Records the connection's last error under `what` and maps it to -errno.
 * Must run before anything else touches the connection. */
static int
sql_fail(struct store *s, int rc, const char *what)
{
	int sys = s->db ? sqlite3_system_errno(s->db) : 0;

	snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what,
		 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	/* A file system gone read-only under a writer (ext4 errors=remount-ro
	 * on a failing SD card) shows as an I/O error whose errno says why. */
	if (((rc & 0xff) == SQLITE_IOERR && (sys == EROFS || sys == ENOSPC)) ||
	    ((rc & 0xff) == SQLITE_CANTOPEN && sys == EROFS))
		return -sys;
	return errno_from_sqlite(rc);
}

static int set_error(struct store *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
set_error(struct store *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* Length of the longest prefix of s (at most max bytes) that does not end
 * inside a UTF-8 sequence. */
static size_t
utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* Copies a text column into a fixed array, truncating at a character
 * boundary; NULL becomes "". */
static void
copy_column(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const char *src = (const char *)sqlite3_column_text(st, col);
	size_t len;

	if (!src) {
		dst[0] = '\0';
		return;
	}
	len = strnlen(src, (size_t)sqlite3_column_bytes(st, col));
	len = utf8_prefix(src, len, size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A fixed array from a caller's struct must hold a NUL-terminated string. */
static bool
terminated(const char *a, size_t size)
{
	return memchr(a, '\0', size) != NULL;
}

static bool
text_ok(const char *s, size_t max)
{
	return s && strnlen(s, max + 1) <= max;
}

/* Binds parameters in order, remembering the first failure. */
struct binder {
	sqlite3_stmt *st;
	int i;
	int rc;
};

static void
bind_text(struct binder *b, const char *v)
{
	int rc;

	b->i++;
	if (!v)
		rc = sqlite3_bind_null(b->st, b->i);
	else
		rc = sqlite3_bind_text(b->st, b->i, v, -1, SQLITE_STATIC);
	if (b->rc == SQLITE_OK)
		b->rc = rc;
}

static void
bind_text_capped(struct binder *b, const char *v, size_t max)
{
	int rc;

	b->i++;
	if (!v) {
		rc = sqlite3_bind_null(b->st, b->i);
	} else {
		size_t len = utf8_prefix(v, strnlen(v, max + 1), max);

		rc = sqlite3_bind_text(b->st, b->i, v, (int)len, SQLITE_STATIC);
	}
	if (b->rc == SQLITE_OK)
		b->rc = rc;
}

static void
bind_int(struct binder *b, int64_t v)
{
	int rc;

	b->i++;
	rc = sqlite3_bind_int64(b->st, b->i, v);
	if (b->rc == SQLITE_OK)
		b->rc = rc;
}

static void
bind_blob(struct binder *b, const void *v, size_t len)
{
	int rc;

	b->i++;
	rc = sqlite3_bind_blob64(b->st, b->i, v, len, SQLITE_STATIC);
	if (b->rc == SQLITE_OK)
		b->rc = rc;
}

static struct binder
binder_start(struct store *s, enum stmt id)
{
	return (struct binder){ .st = s->st[id], .i = 0, .rc = SQLITE_OK };
}

static void
stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* A bind can only fail on misuse, too-big values or memory. */
static int
bind_fail(struct store *s, struct binder *b, const char *what)
{
	int r = sql_fail(s, b->rc, what);

	sqlite3_clear_bindings(b->st);
	return r;
}

/* Steps a statement that returns no rows. */
static int
step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = 0;

	if (rc != SQLITE_DONE)
		r = sql_fail(s, rc, what);
	stmt_done(st);
	return r;
}

/* --- transactions --------------------------------------------------------- */

static bool
in_transaction(const struct store *s)
{
	return !sqlite3_get_autocommit(s->db);
}

bool
store_batch_open(const struct store *s)
{
	return s && s->db && in_transaction(s);
}

/* Ends whatever transaction is open without a trace: the caller has
 * recorded the error that got us here. */
static void
rollback_quiet(struct store *s)
{
	if (!in_transaction(s))
		return;
	s->outbox_unsent = -1; /* the rollback may undo sent-marks */
	if (s->st[ST_ROLLBACK]) {
		sqlite3_step(s->st[ST_ROLLBACK]);
		sqlite3_reset(s->st[ST_ROLLBACK]);
	} else {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

/* The first batched write opens the batch transaction. */
static int
batch_begin(struct store *s)
{
	if (in_transaction(s))
		return 0;
	return step_done(s, s->st[ST_BEGIN], "begin");
}

/* Runs one bound write statement inside the batch. An error ends the batch:
 * no transaction is ever left open across an error. */
static int
batch_write(struct store *s, struct binder *b, const char *what)
{
	int r;

	if (b->rc != SQLITE_OK)
		return bind_fail(s, b, what);
	r = batch_begin(s);
	if (r < 0) {
		sqlite3_clear_bindings(b->st);
		return r;
	}
	r = step_done(s, b->st, what);
	if (r < 0) {
		rollback_quiet(s);
		s->fault = r;
	}
	return r;
}

int
store_flush(struct store *s)
{
	int r;

	if (!s || !s->db)
		return -EINVAL;
	if (!in_transaction(s))
		return 0;
	r = step_done(s, s->st[ST_COMMIT], "commit");
	if (r < 0)
		rollback_quiet(s);
	else
		log_debug("Batch committed"); /* the kill test trusts this line */
	if (!s->readonly)
		s->fault = r < 0 ? r : 0;
	return r;
}

/* A durable transaction: synchronous=FULL fsyncs the WAL at COMMIT, which
 * also covers every frame written before it. The safety level cannot change
 * inside a transaction, so the batch is committed first (without fsync) and
 * the durable writes get a transaction of their own; one fsync makes both
 * durable, and a failing durable write cannot take the batch with it. */
static int
durable_begin(struct store *s)
{
	int rc, r;

	r = store_flush(s);
	if (r < 0)
		return r;
	rc = sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "synchronous=FULL");
	r = step_done(s, s->st[ST_BEGIN], "begin");
	if (r < 0)
		sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	return r;
}

static int
durable_end(struct store *s, int r)
{
	if (r == 0)
		r = step_done(s, s->st[ST_COMMIT], "commit");
	if (r < 0)
		rollback_quiet(s);
	if (!s->readonly)
		s->fault = r < 0 ? r : 0;
	/* If this fails the connection stays at FULL: slower, not less safe. */
	sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	return r;
}

/* --- open, recovery, migrations ------------------------------------------- */

static int
mkdir_parents(struct store *s, const char *path)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return set_error(s, -ENAMETOOLONG, "path too long: '%s'", path);
	memcpy(dir, path, len + 1);
	for (char *p = dir + 1; *p; p++) {
		struct stat st;

		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			int e = errno;

			/* EACCES or EROFS on a directory that exists is fine. */
			if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
				return set_error(s, -e, "cannot create directory '%s': %s", dir,
						 strerror(e));
		}
		*p = '/';
	}
	return 0;
}

static void
db_close(struct store *s)
{
	if (s->db)
		rollback_quiet(s);
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(s->st[i]);
		s->st[i] = NULL;
	}
	if (s->db) {
		sqlite3_close_v2(s->db);
		s->db = NULL;
	}
}

/* Runs a statement that returns one text row; copies it into out. */
static int
query_text(struct store *s, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_column(out, size, st, 0);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		int r = sql_fail(s, rc, sql);

		sqlite3_finalize(st);
		return r;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
exec_sql(struct store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_fail(s, rc, what);
}

static bool path_exists(const char *p);

/* Opens the connection and checks it. -EBADMSG means the file is corrupt or
 * not a database: the caller moves it aside. */
static int
db_open(struct store *s)
{
	char result[256];
	int rc, r;

	rc = sqlite3_open_v2(s->path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		char dir[PATH_MAX];
		char *slash;

		r = sql_fail(s, rc, "open");
		sqlite3_close_v2(s->db);
		s->db = NULL;
		/* No file yet, and a folder that cannot take one. */
		snprintf(dir, sizeof(dir), "%s", s->path);
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		if ((rc & 0xff) == SQLITE_CANTOPEN && !path_exists(s->path) &&
		    access(slash ? dir : ".", W_OK) < 0 && errno == EROFS)
			r = set_error(s, -EROFS, "folder of '%s' is read-only", s->path);
		return r;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* Only the sqlite3 CLI could hold a lock; never sleep long in the
	 * event loop for it. */
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* READWRITE silently falls back to read-only on a write-protected
	 * file; better to fail at start-up than at the first ack. */
	if (sqlite3_db_readonly(s->db, "main") == 1)
		return set_error(s, -EROFS, "database '%s' is read-only", s->path);

	r = query_text(s, "PRAGMA quick_check(1)", result, sizeof(result));
	if (r < 0)
		return r;
	if (strcmp(result, "ok") != 0)
		return set_error(s, -EBADMSG, "quick_check: %s", result);

	r = query_text(s, "PRAGMA journal_mode=WAL", result, sizeof(result));
	if (r < 0)
		return r;
	if (strcmp(result, "wal") != 0)
		return set_error(s, -EIO, "cannot enable WAL (journal_mode is '%s')", result);
	return exec_sql(s,
			"PRAGMA synchronous=NORMAL;"
			"PRAGMA foreign_keys=ON;"
			"PRAGMA temp_store=MEMORY;"
			"PRAGMA journal_size_limit=" STR(STORE_JOURNAL_SIZE_LIMIT) ";",
			"pragmas");
}

static bool
path_exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* Renames `from` to `to` unless `to` exists. -EEXIST if it does. */
static int
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* File systems without RENAME_NOREPLACE: check, then rename. */
	if (path_exists(to))
		return -EEXIST;
	return rename(from, to) < 0 ? -errno : 0;
}

/* Moves a side file (-wal, -shm) along with the database. If it cannot be
 * moved it must at least go: an old WAL next to a fresh database would be
 * replayed into it. */
static int
move_side_file(struct store *s, const char *suffix)
{
	char from[PATH_MAX + 8], to[PATH_MAX + 8];
	int e;

	snprintf(from, sizeof(from), "%s%s", s->path, suffix);
	snprintf(to, sizeof(to), "%s%s", s->moved_to, suffix);
	if (rename(from, to) == 0 || errno == ENOENT)
		return 0;
	if (unlink(from) == 0 || errno == ENOENT)
		return 0;
	e = errno;
	return set_error(s, -e, "cannot remove '%s': %s", from, strerror(e));
}

static int
move_aside(struct store *s)
{
	long long t = (long long)time(NULL);
	int r = -EEXIST;

	for (int i = 0; i < 100 && r == -EEXIST; i++) {
		if (i == 0)
			snprintf(s->moved_to, sizeof(s->moved_to), "%s.corrupt-%lld", s->path, t);
		else
			snprintf(s->moved_to, sizeof(s->moved_to), "%s.corrupt-%lld-%d", s->path, t,
				 i);
		/* The main file goes last: if we die half-way, the next start
		 * finds it again and repeats the move. */
		if (path_exists(s->moved_to))
			continue;
		r = move_side_file(s, "-wal");
		if (r == 0)
			r = move_side_file(s, "-shm");
		if (r < 0)
			break;
		r = rename_noreplace(s->path, s->moved_to);
	}
	if (r < 0) {
		int e = -r;

		s->moved_to[0] = '\0';
		return set_error(s, r, "cannot move corrupt database '%s' aside: %s", s->path,
				 strerror(e));
	}
	s->recovered = true;
	return 0;
}

static int
migrate(struct store *s)
{
	char text[32];
	long version;
	int r;

	r = query_text(s, "PRAGMA user_version", text, sizeof(text));
	if (r < 0)
		return r;
	version = strtol(text, NULL, 10);
	if (version < 0)
		return set_error(s, -EBADMSG, "database schema version %ld is invalid", version);
	if (version > STORE_SCHEMA_VERSION)
		return set_error(s, -EPROTONOSUPPORT,
				 "database schema version %ld is newer than this "
				 "teamboardd supports (%d)",
				 version, STORE_SCHEMA_VERSION);
	for (; version < STORE_SCHEMA_VERSION; version++) {
		char set_version[64];

		snprintf(set_version, sizeof(set_version), "PRAGMA user_version=%ld", version + 1);
		r = exec_sql(s, "BEGIN IMMEDIATE", "migration");
		if (r == 0)
			r = exec_sql(s, migrations[version], "migration");
		if (r == 0)
			r = exec_sql(s, set_version, "migration");
		if (r == 0)
			r = exec_sql(s, "COMMIT", "migration");
		if (r < 0) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return r;
		}
	}
	return 0;
}

static int
prepare_all(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->st[i], NULL);

		if (rc != SQLITE_OK)
			return sql_fail(s, rc, "prepare");
	}
	return 0;
}

static void
report_open_error(struct store *s, int r, int *err, char *errmsg, size_t errmsg_size)
{
	if (err)
		*err = r;
	if (errmsg && errmsg_size > 0)
		snprintf(errmsg, errmsg_size, "%s", s ? s->errmsg : strerror(-r));
}

/* The part of opening both ways share: checks `path` and allocates a store
 * with its file names and no database; reports and returns NULL on failure. */
static struct store *
store_alloc(const char *path, int *err, char *errmsg, size_t errmsg_size)
{
	struct store *s;

	if (!path || !*path || strlen(path) >= PATH_MAX - 64) {
		report_open_error(NULL, -EINVAL, err, errmsg, errmsg_size);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		report_open_error(NULL, -ENOMEM, err, errmsg, errmsg_size);
		return NULL;
	}
	s->outbox_unsent = -1;
	s->path = strdup(path);
	if (!s->path || asprintf(&s->wal_path, "%s-wal", path) < 0) {
		s->wal_path = NULL;
		report_open_error(s, set_error(s, -ENOMEM, "out of memory"), err, errmsg,
				  errmsg_size);
		store_free(s);
		return NULL;
	}
	return s;
}

struct store *
store_open(const char *path, int *err, char *errmsg, size_t errmsg_size)
{
	struct store *s = store_alloc(path, err, errmsg, errmsg_size);
	int r;

	if (!s)
		return NULL;
	r = mkdir_parents(s, path);
	if (r < 0)
		goto fail;
	r = db_open(s);
	if (r == -EBADMSG) {
		char why[STORE_ERRMSG_MAX];

		snprintf(why, sizeof(why), "%s", s->errmsg);
		/* Closing would checkpoint the WAL into the damaged file and
		 * delete it; keep both as they are for whoever looks later. */
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		db_close(s);
		r = move_aside(s);
		if (r < 0)
			goto fail;
		r = db_open(s);
		if (r == 0) /* keep what was wrong for the daemon to say */
			snprintf(s->errmsg, sizeof(s->errmsg), "%s", why);
	}
	if (r < 0)
		goto fail;
	r = migrate(s);
	if (r < 0)
		goto fail;
	r = prepare_all(s);
	if (r < 0)
		goto fail;
	return s;

fail:
	report_open_error(s, r, err, errmsg, errmsg_size);
	store_free(s);
	return NULL;
}

/* Opens `uri` read-only and checks that its schema is this version's. */
static int
db_open_readonly(struct store *s, const char *uri)
{
	char text[32];
	int rc, r;

	rc = sqlite3_open_v2(uri, &s->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "open read-only");
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	r = query_text(s, "PRAGMA user_version", text, sizeof(text));
	if (r == 0 && strtol(text, NULL, 10) != STORE_SCHEMA_VERSION)
		r = set_error(s, -EPROTONOSUPPORT, "schema version %s, not %d", text,
			      STORE_SCHEMA_VERSION);
	if (r == 0)
		r = prepare_all(s);
	return r;
}

/* "file:" URI of a path, with what a URI cannot hold %-escaped. */
static int
path_uri(const char *path, const char *query, char *out, size_t size)
{
	size_t n = 0;
	int k;

	k = snprintf(out, size, "file:");
	n = (size_t)k;
	for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < size; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._-", *p))
			out[n++] = (char)*p;
		else
			n += (size_t)snprintf(out + n, size - n, "%%%02X", *p);
	}
	k = snprintf(out + n, size - n, "?%s", query);
	return k < 0 || (size_t)k >= size - n ? -ENAMETOOLONG : 0;
}

struct store *
store_open_readonly(const char *path, int *err, char *errmsg, size_t errmsg_size)
{
	static const char *const queries[] = { "mode=ro", "immutable=1" };
	char uri[PATH_MAX * 3 + 32];
	struct store *s = store_alloc(path, err, errmsg, errmsg_size);
	int r = -ENOENT;

	if (!s)
		return NULL;
	s->readonly = true;
	s->fault = -EROFS;
	/* mode=ro reads a WAL left behind (it needs its -shm); immutable=1
	 * reads a cleanly closed file on a read-only file system, where no
	 * -shm can be made (nothing else can write it there either). */
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		if (path_uri(path, queries[i], uri, sizeof(uri)) < 0)
			break;
		r = db_open_readonly(s, uri);
		if (r == 0) {
			set_error(s, -EROFS, "database '%s' is read-only", path);
			return s;
		}
		db_close(s);
	}
	/* No readable database of this version: an empty one in memory, still
	 * refusing every write, so the board runs and claims nothing. */
	if (sqlite3_open_v2(":memory:", &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		r = set_error(s, -ENOMEM, "cannot open an in-memory database");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	r = migrate(s);
	if (r == 0)
		r = prepare_all(s);
	if (r == 0)
		r = exec_sql(s, "PRAGMA query_only=1", "query_only");
	if (r < 0)
		goto fail;
	set_error(s, -EROFS, "database '%s' is not readable: running on an empty read-only one",
		  path);
	return s;

fail:
	report_open_error(s, r, err, errmsg, errmsg_size);
	store_free(s);
	return NULL;
}

bool
store_is_readonly(const struct store *s)
{
	return s && s->readonly;
}

int
store_fault(const struct store *s)
{
	return s ? s->fault : -EINVAL;
}

void
store_free(struct store *s)
{
	if (!s)
		return;
	if (s->db && s->st[ST_COMMIT])
		store_flush(s);
	db_close(s);
	free(s->path);
	free(s->wal_path);
	free(s);
}

const char *
store_errmsg(const struct store *s)
{
	return s ? s->errmsg : "no store";
}

bool
store_was_recovered(const struct store *s, char *moved_to, size_t size)
{
	if (!s || !s->recovered)
		return false;
	if (moved_to && size > 0)
		snprintf(moved_to, size, "%s", s->moved_to);
	return true;
}

/* --- events and sequence -------------------------------------------------- */

int
store_event_seen(struct store *s, const char *event_id)
{
	struct binder b;
	int rc, r;

	if (!s || !text_ok(event_id, EVENT_ID_MAX - 1))
		return -EINVAL;
	/* The lookup is followed by the event's writes: inside the batch it
	 * takes no read transaction (and WAL locks) of its own. If the batch
	 * cannot begin, the lookup runs on its own and the write says why. */
	if (!s->readonly)
		(void)batch_begin(s);
	b = binder_start(s, ST_EVENT_SEEN);
	bind_text(&b, event_id);
	if (b.rc != SQLITE_OK)
		return bind_fail(s, &b, "event seen");
	rc = sqlite3_step(b.st);
	if (rc == SQLITE_ROW)
		r = 1;
	else if (rc == SQLITE_DONE)
		r = 0;
	else
		r = sql_fail(s, rc, "event seen");
	stmt_done(b.st);
	return r;
}

int
store_event_mark(struct store *s, const char *event_id, int64_t wall_ms)
{
	struct binder b;

	if (!s || !text_ok(event_id, EVENT_ID_MAX - 1))
		return -EINVAL;
	b = binder_start(s, ST_EVENT_MARK);
	bind_text(&b, event_id);
	bind_int(&b, wall_ms);
	return batch_write(s, &b, "event mark");
}

int
store_next_ack_seq(struct store *s, uint64_t *seq)
{
	sqlite3_stmt *st;
	int rc, r;

	if (!s || !seq)
		return -EINVAL;
	r = batch_begin(s);
	if (r < 0)
		return r;
	st = s->st[ST_SEQ_NEXT];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		r = sql_fail(s, rc, "ack sequence");
		stmt_done(st);
		rollback_quiet(s);
		return r;
	}
	stmt_done(st);
	return 0;
}

/* --- acks and outbox ------------------------------------------------------ */

static bool
ack_valid(const struct ack_record *a)
{
	return terminated(a->id, sizeof(a->id)) && a->id[0] &&
	       terminated(a->board, sizeof(a->board)) &&
	       terminated(a->ticket_id, sizeof(a->ticket_id)) &&
	       terminated(a->agent, sizeof(a->agent)) && terminated(a->button, sizeof(a->button)) &&
	       terminated(a->event_id, sizeof(a->event_id)) &&
	       (unsigned)a->alert <= ALERT_KIND_LAST && (unsigned)a->source < ACK_SOURCE_COUNT;
}

static void
ack_bind(struct binder *b, const struct ack_record *a)
{
	bind_text(b, a->id);
	bind_text(b, a->board);
	bind_text(b, a->ticket_id);
	bind_text(b, alert_kind_event_name(a->alert));
	bind_text(b, a->agent);
	bind_text(b, ack_source_name(a->source));
	bind_text(b, a->button);
	bind_int(b, a->at_ms);
	bind_int(b, a->latency_ms);
	bind_text(b, a->event_id);
	bind_text(b, (unsigned)a->channel < CHANNEL_COUNT ? channel_name(a->channel) : "");
	bind_text(b, (unsigned)a->priority < PRIORITY_COUNT ? priority_name(a->priority) : "");
}

/* Columns from `c` on, in ACK_COLUMNS order. */
static void
ack_read(sqlite3_stmt *st, int c, struct ack_record *a)
{
	memset(a, 0, sizeof(*a));
	copy_column(a->id, sizeof(a->id), st, c++);
	copy_column(a->board, sizeof(a->board), st, c++);
	copy_column(a->ticket_id, sizeof(a->ticket_id), st, c++);
	a->alert = ack_alert_read(sqlite3_column_text(st, c++));
	copy_column(a->agent, sizeof(a->agent), st, c++);
	/* Only this code writes the column; a hand-edited value reads as
	 * the most neutral source. */
	if (ack_source_from_name((const char *)sqlite3_column_text(st, c++), &a->source) < 0)
		a->source = ACK_SOURCE_CTL;
	copy_column(a->button, sizeof(a->button), st, c++);
	a->at_ms = sqlite3_column_int64(st, c++);
	a->latency_ms = sqlite3_column_int64(st, c++);
	copy_column(a->event_id, sizeof(a->event_id), st, c++);
	/* Acks stored before schema 2 have neither: '' reads as "other"/normal. */
	if (channel_from_name((const char *)sqlite3_column_text(st, c++), &a->channel) < 0)
		a->channel = CHANNEL_OTHER;
	if (priority_from_name((const char *)sqlite3_column_text(st, c++), &a->priority) < 0)
		a->priority = PRIORITY_NORMAL;
}

int
store_ack_commit(struct store *s, const struct ack_record *acks, const char *const *payloads,
		 size_t n, const char *topic)
{
	int r;

	if (!s)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (!acks || !payloads || !topic || !*topic ||
	    strnlen(topic, STORE_TOPIC_MAX) >= STORE_TOPIC_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!ack_valid(&acks[i]) || !payloads[i] ||
		    strnlen(payloads[i], STORE_PAYLOAD_MAX + 1) > STORE_PAYLOAD_MAX)
			return -EINVAL;
	}
	if (s->outbox_max) {
		int64_t depth = store_outbox_depth(s);

		if (depth < 0)
			return (int)depth;
		if ((uint64_t)depth + n > s->outbox_max)
			return set_error(s, -ENOBUFS,
					 "outbox full: %" PRId64 " ack records wait for the broker "
					 "(store.max_outbox = %zu)",
					 depth, s->outbox_max);
	}

	r = durable_begin(s);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct binder b = binder_start(s, ST_ACK_INSERT);

		ack_bind(&b, &acks[i]);
		r = b.rc != SQLITE_OK ? bind_fail(s, &b, "insert ack")
				      : step_done(s, b.st, "insert ack");
		if (r < 0)
			break;
		b = binder_start(s, ST_OUTBOX_INSERT);
		bind_text(&b, topic);
		bind_blob(&b, payloads[i], strlen(payloads[i]));
		bind_int(&b, acks[i].at_ms);
		r = b.rc != SQLITE_OK ? bind_fail(s, &b, "insert outbox")
				      : step_done(s, b.st, "insert outbox");
	}
	r = durable_end(s, r);
	if (r == 0 && s->outbox_unsent >= 0)
		s->outbox_unsent += (int64_t)n;
	return r;
}

int
store_outbox_fetch(struct store *s, int64_t after_row_id, struct outbox_row *rows, size_t max)
{
	struct binder b;
	int n = 0, rc = SQLITE_DONE, r = 0;

	if (!s || (!rows && max > 0))
		return -EINVAL;
	if (max == 0)
		return 0;
	if (max > INT_MAX)
		max = INT_MAX;
	b = binder_start(s, ST_OUTBOX_FETCH);
	bind_int(&b, after_row_id);
	bind_int(&b, (int64_t)max);
	if (b.rc != SQLITE_OK)
		return bind_fail(s, &b, "outbox fetch");
	while ((size_t)n < max && (rc = sqlite3_step(b.st)) == SQLITE_ROW) {
		struct outbox_row *row = &rows[n];
		const void *blob = sqlite3_column_blob(b.st, 2);
		size_t len = (size_t)sqlite3_column_bytes(b.st, 2);

		memset(row, 0, sizeof(*row));
		row->row_id = sqlite3_column_int64(b.st, 0);
		copy_column(row->topic, sizeof(row->topic), b.st, 1);
		/* One spare byte: payloads are text, callers may use them
		 * as C strings. */
		row->payload = malloc(len + 1);
		if (!row->payload) {
			r = set_error(s, -ENOMEM, "outbox fetch: out of memory");
			break;
		}
		if (len)
			memcpy(row->payload, blob, len);
		row->payload[len] = '\0';
		row->payload_len = len;
		n++;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sql_fail(s, rc, "outbox fetch");
	stmt_done(b.st);
	if (r < 0) {
		for (int i = 0; i < n; i++)
			outbox_row_done(&rows[i]);
		return r;
	}
	return n;
}

void
outbox_row_done(struct outbox_row *row)
{
	if (!row)
		return;
	free(row->payload);
	row->payload = NULL;
	row->payload_len = 0;
}

int
store_outbox_sent(struct store *s, int64_t row_id)
{
	struct binder b;
	int r;

	if (!s)
		return -EINVAL;
	b = binder_start(s, ST_OUTBOX_SENT);
	bind_int(&b, row_id);
	r = batch_write(s, &b, "outbox sent");
	if (r == 0 && s->outbox_unsent > 0 && sqlite3_changes(s->db) == 1)
		s->outbox_unsent--;
	return r;
}

/* Runs a statement returning one integer. */
static int64_t
query_int(struct store *s, enum stmt id, const char *what)
{
	sqlite3_stmt *st = s->st[id];
	int64_t v = 0;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE)
		v = sql_fail(s, rc, what);
	stmt_done(st);
	return v;
}

int64_t
store_outbox_depth(struct store *s)
{
	int64_t n;

	if (!s)
		return -EINVAL;
	if (s->outbox_unsent >= 0)
		return s->outbox_unsent;
	n = query_int(s, ST_OUTBOX_DEPTH, "outbox depth");
	if (n >= 0)
		s->outbox_unsent = n;
	return n;
}

void
store_outbox_set_max(struct store *s, size_t max_rows)
{
	if (s)
		s->outbox_max = max_rows;
}

size_t
store_outbox_max(const struct store *s)
{
	return s ? s->outbox_max : 0;
}

/* --- tickets -------------------------------------------------------------- */

static bool
ticket_valid(const struct ticket_snapshot *t)
{
	return terminated(t->id, sizeof(t->id)) && t->id[0] &&
	       terminated(t->subject, sizeof(t->subject)) &&
	       terminated(t->customer, sizeof(t->customer)) &&
	       terminated(t->queue, sizeof(t->queue)) &&
	       terminated(t->assignee, sizeof(t->assignee)) &&
	       terminated(t->event_id, sizeof(t->event_id)) &&
	       terminated(t->acked_by, sizeof(t->acked_by)) &&
	       (unsigned)t->channel < CHANNEL_COUNT && (unsigned)t->priority < PRIORITY_COUNT &&
	       (unsigned)t->kind <= ALERT_KIND_LAST && (unsigned)t->state <= ALERT_STATE_LAST;
}

static void
ticket_bind(struct binder *b, const struct ticket_snapshot *t)
{
	bind_text(b, t->id);
	bind_text(b, channel_name(t->channel));
	bind_text(b, priority_name(t->priority));
	bind_int(b, t->public);
	bind_text(b, t->subject);
	bind_text(b, t->customer);
	bind_text(b, t->queue);
	bind_text(b, t->assignee);
	bind_int(b, t->created_ms);
	bind_int(b, t->last_ts_ms);
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		bind_int(b, t->due_ms[k]);
	bind_int(b, t->responded);
	bind_int(b, t->paused);
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		bind_int(b, t->paused_left_ms[k]);
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		bind_int(b, t->backend_warning[k]);
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		bind_int(b, t->backend_breached[k]);
	bind_text(b, alert_kind_name(t->kind));
	bind_text(b, alert_state_name(t->state));
	bind_int(b, t->escalated);
	bind_text(b, t->event_id);
	bind_int(b, t->raised_ms);
	bind_text(b, t->acked_by);
	bind_int(b, t->acked_at_ms);
	bind_int(b, t->due_policy);
}

/* In TICKET_COLUMNS order; unknown names as in kind_read(). */
static void
ticket_read(sqlite3_stmt *st, struct ticket_snapshot *t)
{
	int c = 0;

	memset(t, 0, sizeof(*t));
	copy_column(t->id, sizeof(t->id), st, c++);
	if (channel_from_name((const char *)sqlite3_column_text(st, c++), &t->channel) < 0)
		t->channel = CHANNEL_OTHER;
	if (priority_from_name((const char *)sqlite3_column_text(st, c++), &t->priority) < 0)
		t->priority = PRIORITY_NORMAL;
	t->public = sqlite3_column_int64(st, c++) != 0;
	copy_column(t->subject, sizeof(t->subject), st, c++);
	copy_column(t->customer, sizeof(t->customer), st, c++);
	copy_column(t->queue, sizeof(t->queue), st, c++);
	copy_column(t->assignee, sizeof(t->assignee), st, c++);
	t->created_ms = sqlite3_column_int64(st, c++);
	t->last_ts_ms = sqlite3_column_int64(st, c++);
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		t->due_ms[k] = sqlite3_column_int64(st, c++);
	t->responded = sqlite3_column_int64(st, c++) != 0;
	t->paused = sqlite3_column_int64(st, c++) != 0;
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		t->paused_left_ms[k] = sqlite3_column_int64(st, c++);
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		t->backend_warning[k] = sqlite3_column_int64(st, c++) != 0;
	for (int k = 0; k < SLA_KIND_COUNT; k++)
		t->backend_breached[k] = sqlite3_column_int64(st, c++) != 0;
	t->kind = kind_read(sqlite3_column_text(st, c++));
	t->state = state_read(sqlite3_column_text(st, c++));
	t->escalated = sqlite3_column_int64(st, c++) != 0;
	copy_column(t->event_id, sizeof(t->event_id), st, c++);
	t->raised_ms = sqlite3_column_int64(st, c++);
	copy_column(t->acked_by, sizeof(t->acked_by), st, c++);
	t->acked_at_ms = sqlite3_column_int64(st, c++);
	t->due_policy = sqlite3_column_int64(st, c++) != 0;
}

int
store_ticket_save(struct store *s, const struct ticket_snapshot *t)
{
	struct binder b;
	int r;

	if (!s || !t || !ticket_valid(t))
		return -EINVAL;
	b = binder_start(s, ST_TICKET_SAVE);
	ticket_bind(&b, t);
	r = batch_write(s, &b, "ticket save");
	/* For stats: the first response and each breach, kept after the
	 * ticket is gone (INSERT OR IGNORE keeps the first). */
	if (r == 0 && t->responded) {
		b = binder_start(s, ST_RESPONSE_MARK);
		bind_text(&b, t->id);
		bind_text(&b, (unsigned)t->channel < CHANNEL_COUNT ? channel_name(t->channel) : "");
		bind_text(&b,
			  (unsigned)t->priority < PRIORITY_COUNT ? priority_name(t->priority) : "");
		bind_int(&b, t->created_ms);
		bind_int(&b, t->last_ts_ms);
		r = batch_write(s, &b, "response mark");
	}
	if (r == 0 && t->kind == ALERT_BREACHED) {
		b = binder_start(s, ST_BREACH_MARK);
		bind_text(&b, t->id);
		bind_int(&b, t->raised_ms);
		bind_text(&b, (unsigned)t->channel < CHANNEL_COUNT ? channel_name(t->channel) : "");
		bind_text(&b,
			  (unsigned)t->priority < PRIORITY_COUNT ? priority_name(t->priority) : "");
		r = batch_write(s, &b, "breach mark");
	}
	return r;
}

int
store_ticket_remove(struct store *s, const char *ticket_id)
{
	struct binder b;

	if (!s || !text_ok(ticket_id, TICKET_ID_MAX - 1))
		return -EINVAL;
	b = binder_start(s, ST_TICKET_REMOVE);
	bind_text(&b, ticket_id);
	return batch_write(s, &b, "ticket remove");
}

int
store_tickets_clear(struct store *s)
{
	struct binder b;

	if (!s)
		return -EINVAL;
	b = binder_start(s, ST_TICKETS_CLEAR);
	return batch_write(s, &b, "tickets clear");
}

int
store_tickets_load(struct store *s, store_ticket_fn fn, void *userdata)
{
	struct ticket_snapshot *page;
	char *last = NULL;
	int total = 0, r = 0;

	if (!s || !fn)
		return -EINVAL;
	page = calloc(STORE_QUERY_CHUNK, sizeof(*page));
	if (!page)
		return set_error(s, -ENOMEM, "tickets load: out of memory");
	for (;;) {
		struct binder b = binder_start(s, ST_TICKETS_LOAD);
		int n = 0, rc = SQLITE_DONE;

		bind_text(&b, last ? last : "");
		bind_int(&b, STORE_QUERY_CHUNK);
		if (b.rc != SQLITE_OK) {
			r = bind_fail(s, &b, "tickets load");
			break;
		}
		while (n < STORE_QUERY_CHUNK && (rc = sqlite3_step(b.st)) == SQLITE_ROW)
			ticket_read(b.st, &page[n++]);
		if (n < STORE_QUERY_CHUNK && rc != SQLITE_DONE)
			r = sql_fail(s, rc, "tickets load");
		/* The next page starts after the id as stored, not as copied
		 * (a hand-edited id may be longer than the struct holds). */
		free(last);
		last = NULL;
		if (r == 0 && n == STORE_QUERY_CHUNK) {
			const char *id = (const char *)sqlite3_column_text(b.st, 0);

			last = strdup(id ? id : "");
			if (!last)
				r = set_error(s, -ENOMEM, "tickets load: out of memory");
		}
		stmt_done(b.st);
		if (r < 0)
			break;
		for (int i = 0; i < n && total < INT_MAX; i++, total++)
			fn(userdata, &page[i]);
		if (n < STORE_QUERY_CHUNK || total == INT_MAX)
			break;
	}
	free(last);
	free(page);
	return r < 0 ? r : total;
}

/* --- ack log -------------------------------------------------------------- */

int
store_acks_query(struct store *s, int64_t since_ms, int64_t until_ms, const char *agent,
		 size_t limit, store_ack_fn fn, void *userdata)
{
	struct ack_record *page;
	int64_t last_at = INT64_MAX, last_seq = INT64_MAX;
	size_t left = limit ? limit : SIZE_MAX;
	int total = 0, r = 0;

	if (!s || !fn)
		return -EINVAL;
	if (agent && strnlen(agent, EVENT_NAME_MAX) >= EVENT_NAME_MAX)
		return 0; /* no stored agent can be that long */
	if (limit > INT_MAX)
		left = INT_MAX;
	page = calloc(STORE_QUERY_CHUNK, sizeof(*page));
	if (!page)
		return set_error(s, -ENOMEM, "acks query: out of memory");
	while (left > 0) {
		struct binder b = binder_start(s, ST_ACKS_QUERY);
		int want = left < STORE_QUERY_CHUNK ? (int)left : STORE_QUERY_CHUNK;
		int n = 0, rc = SQLITE_DONE;

		bind_int(&b, since_ms ? since_ms : INT64_MIN);
		bind_int(&b, until_ms ? until_ms : INT64_MAX);
		bind_text(&b, agent);
		bind_int(&b, last_at);
		bind_int(&b, last_seq);
		bind_int(&b, want);
		if (b.rc != SQLITE_OK) {
			r = bind_fail(s, &b, "acks query");
			break;
		}
		while (n < want && (rc = sqlite3_step(b.st)) == SQLITE_ROW) {
			last_seq = sqlite3_column_int64(b.st, 0);
			ack_read(b.st, 1, &page[n]);
			last_at = page[n].at_ms;
			n++;
		}
		if (n < want && rc != SQLITE_DONE)
			r = sql_fail(s, rc, "acks query");
		stmt_done(b.st);
		if (r < 0)
			break;
		for (int i = 0; i < n; i++)
			fn(userdata, &page[i]);
		total += n;
		left -= (size_t)n;
		if (n < want || total == INT_MAX)
			break;
	}
	free(page);
	return r < 0 ? r : total;
}

/* --- settings and audit --------------------------------------------------- */

static bool
key_ok(const char *key)
{
	return key && *key && text_ok(key, STORE_SETTING_KEY_MAX);
}

int
store_setting_set(struct store *s, const char *key, const char *value)
{
	struct binder b;
	int r;

	if (!s || !key_ok(key) || !text_ok(value, STORE_SETTING_VALUE_MAX))
		return -EINVAL;
	r = durable_begin(s);
	if (r < 0)
		return r;
	b = binder_start(s, ST_SETTING_SET);
	bind_text(&b, key);
	bind_text(&b, value);
	r = b.rc != SQLITE_OK ? bind_fail(s, &b, "setting set") : step_done(s, b.st, "setting set");
	return durable_end(s, r);
}

int
store_sync(struct store *s, int64_t wall_ms)
{
	char value[32];

	/* An empty transaction writes no frame and syncs nothing, so record
	 * when we synced: that durable write fsyncs the WAL, and with it every
	 * frame the batch wrote before. */
	snprintf(value, sizeof(value), "%lld", (long long)wall_ms);
	return store_setting_set(s, "last_sync_ms", value);
}

int
store_setting_get(struct store *s, const char *key, char *value, size_t size)
{
	struct binder b;
	int rc, r;

	if (!s || !key_ok(key) || !value || size == 0)
		return -EINVAL;
	b = binder_start(s, ST_SETTING_GET);
	bind_text(&b, key);
	if (b.rc != SQLITE_OK)
		return bind_fail(s, &b, "setting get");
	rc = sqlite3_step(b.st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(b.st, 0);
		size_t len = v ? strlen(v) : 0;

		/* A cut-off setting would be a different setting. */
		if (len >= size) {
			r = -ERANGE;
		} else {
			memcpy(value, v ? v : "", len + 1);
			r = 0;
		}
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sql_fail(s, rc, "setting get");
	}
	stmt_done(b.st);
	return r;
}

int
store_setting_delete(struct store *s, const char *key)
{
	struct binder b;
	int r;

	if (!s || !key_ok(key))
		return -EINVAL;
	r = durable_begin(s);
	if (r < 0)
		return r;
	b = binder_start(s, ST_SETTING_DELETE);
	bind_text(&b, key);
	r = b.rc != SQLITE_OK ? bind_fail(s, &b, "setting delete")
			      : step_done(s, b.st, "setting delete");
	return durable_end(s, r);
}

int
store_audit(struct store *s, int64_t wall_ms, const char *actor, const char *action,
	    const char *detail)
{
	struct binder b;

	if (!s || !action || !*action)
		return -EINVAL;
	/* Details may quote what a peer sent: keep the record, cap its size. */
	b = binder_start(s, ST_AUDIT);
	bind_int(&b, wall_ms);
	bind_text_capped(&b, actor, STORE_AUDIT_NAME_MAX);
	bind_text_capped(&b, action, STORE_AUDIT_NAME_MAX);
	bind_text_capped(&b, detail, STORE_AUDIT_TEXT_MAX);
	return batch_write(s, &b, "audit");
}

/* --- retention and size --------------------------------------------------- */

static int64_t
cutoff_ms(int64_t now_ms, uint64_t keep_usec)
{
	int64_t keep_ms = (int64_t)(keep_usec / 1000), cut;

	if (__builtin_sub_overflow(now_ms, keep_ms, &cut))
		return INT64_MIN;
	return cut;
}

/* Deletes in batches so that one call stays short; what is left is deleted
 * by the next call. */
static int
retain(struct store *s, enum stmt id, int64_t cutoff, int *total)
{
	for (int i = 0; i < STORE_RETENTION_BATCHES; i++) {
		struct binder b = binder_start(s, id);
		int changes, r;

		bind_int(&b, cutoff);
		bind_int(&b, STORE_RETENTION_BATCH);
		r = batch_write(s, &b, "retention");
		if (r < 0)
			return r;
		changes = sqlite3_changes(s->db);
		*total += changes;
		if (changes < STORE_RETENTION_BATCH)
			break;
	}
	return 0;
}

int
store_retention(struct store *s, int64_t now_wall_ms, uint64_t ack_retention_usec,
		uint64_t audit_retention_usec, uint64_t dedupe_keep_usec)
{
	int total = 0, r = 0;

	if (!s)
		return -EINVAL;
	/* A retention of 0 means keep forever. */
	if (ack_retention_usec)
		r = retain(s, ST_RETAIN_ACKS, cutoff_ms(now_wall_ms, ack_retention_usec), &total);
	/* Response and breach records for stats live as long as acks. */
	if (r == 0 && ack_retention_usec)
		r = retain(s, ST_RETAIN_RESPONSES, cutoff_ms(now_wall_ms, ack_retention_usec),
			   &total);
	if (r == 0 && ack_retention_usec)
		r = retain(s, ST_RETAIN_BREACHES, cutoff_ms(now_wall_ms, ack_retention_usec),
			   &total);
	if (r == 0 && audit_retention_usec)
		r = retain(s, ST_RETAIN_AUDIT, cutoff_ms(now_wall_ms, audit_retention_usec),
			   &total);
	if (r == 0 && dedupe_keep_usec)
		r = retain(s, ST_RETAIN_EVENTS, cutoff_ms(now_wall_ms, dedupe_keep_usec), &total);
	if (r == 0)
		r = retain(s, ST_RETAIN_OUTBOX, 0, &total);
	if (r == 0)
		r = store_flush(s);
	return r < 0 ? r : total;
}

int64_t
store_size_bytes(struct store *s)
{
	struct stat st;
	int64_t size;

	if (!s)
		return -EINVAL;
	size = query_int(s, ST_SIZE, "size");
	if (size < 0)
		return size;
	if (stat(s->wal_path, &st) == 0)
		size += st.st_size;
	return size;
}

/* --- admin commands and stats ---------------------------------------------- */

int
store_cmd_reply_get(struct store *s, const char *id, char **reply)
{
	struct binder b;
	int rc, r;

	if (!s || !reply || !key_ok(id) || strlen(id) > STORE_CMD_ID_MAX)
		return -EINVAL;
	*reply = NULL;
	b = binder_start(s, ST_REPLY_GET);
	bind_text(&b, id);
	if (b.rc != SQLITE_OK)
		return bind_fail(s, &b, "reply get");
	rc = sqlite3_step(b.st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(b.st, 0);

		*reply = strdup(v ? v : "");
		r = *reply ? 0 : set_error(s, -ENOMEM, "reply get: out of memory");
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sql_fail(s, rc, "reply get");
	}
	stmt_done(b.st);
	return r;
}

int
store_cmd_reply_put(struct store *s, const char *id, int64_t at_ms, const char *reply)
{
	struct binder b;
	int r;

	if (!s || !key_ok(id) || strlen(id) > STORE_CMD_ID_MAX || !reply ||
	    strnlen(reply, STORE_CMD_REPLY_MAX + 1) > STORE_CMD_REPLY_MAX)
		return -EINVAL;
	r = durable_begin(s);
	if (r < 0)
		return r;
	b = binder_start(s, ST_REPLY_PUT);
	bind_text(&b, id);
	bind_int(&b, at_ms);
	bind_text(&b, reply);
	r = b.rc != SQLITE_OK ? bind_fail(s, &b, "reply put") : step_done(s, b.st, "reply put");
	return durable_end(s, r);
}

int
store_nonce_use(struct store *s, const char *nonce, int64_t at_ms)
{
	struct binder b;
	int r;

	if (!s || !key_ok(nonce))
		return -EINVAL;
	r = durable_begin(s);
	if (r < 0)
		return r;
	b = binder_start(s, ST_NONCE_USE);
	bind_text(&b, nonce);
	bind_int(&b, at_ms);
	r = b.rc != SQLITE_OK ? bind_fail(s, &b, "nonce") : step_done(s, b.st, "nonce");
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -EEXIST;
	/* A replay changed nothing: committing the empty transaction is fine. */
	if (r == -EEXIST)
		return durable_end(s, 0) < 0 ? -EIO : -EEXIST;
	return durable_end(s, r);
}

int
store_cmd_retention(struct store *s, int64_t reply_cutoff_ms, int64_t nonce_cutoff_ms)
{
	int total = 0, r;

	if (!s)
		return -EINVAL;
	r = retain(s, ST_RETAIN_REPLIES, reply_cutoff_ms, &total);
	if (r == 0)
		r = retain(s, ST_RETAIN_NONCES, nonce_cutoff_ms, &total);
	if (r == 0)
		r = store_flush(s);
	return r < 0 ? r : total;
}

int
store_stats(struct store *s, enum store_stats_by by, int64_t since_ms, int64_t until_ms,
	    struct store_stat *rows, size_t max)
{
	struct binder b;
	int n = 0, rc = SQLITE_DONE, r = 0;

	if (!s || (!rows && max))
		return -EINVAL;
	if (max > INT_MAX)
		max = INT_MAX;
	b = binder_start(s, by == STORE_STATS_AGENT      ? ST_STATS_AGENTS
			    : by == STORE_STATS_CHANNEL  ? ST_STATS_CHANNELS
			    : by == STORE_STATS_RESPONSE ? ST_STATS_RESPONSES
							 : ST_STATS_BREACHES);
	bind_int(&b, since_ms ? since_ms : INT64_MIN);
	bind_int(&b, until_ms ? until_ms : INT64_MAX);
	bind_int(&b, (int64_t)max);
	if (b.rc != SQLITE_OK)
		return bind_fail(s, &b, "stats");
	while ((size_t)n < max && (rc = sqlite3_step(b.st)) == SQLITE_ROW) {
		struct store_stat *row = &rows[n++];

		memset(row, 0, sizeof(*row));
		copy_column(row->key, sizeof(row->key), b.st, 0);
		copy_column(row->priority, sizeof(row->priority), b.st, 1);
		row->acks = sqlite3_column_int64(b.st, 2);
		row->breaches = sqlite3_column_int64(b.st, 3);
		row->median_ms = sqlite3_column_int64(b.st, 4);
		row->p90_ms = sqlite3_column_int64(b.st, 5);
	}
	if ((size_t)n < max && rc != SQLITE_DONE)
		r = sql_fail(s, rc, "stats");
	stmt_done(b.st);
	return r < 0 ? r : n;
}

/* --- ack statistics ------------------------------------------------------- */

/* The median is computed by SQLite over the at_ms index: the middle row (or
 * the mean of the two middle rows) of the window ordered by latency. A
 * one-off statement: the display asks about once a minute. */
int
store_ack_latency_median(struct store *s, int64_t since_ms, int64_t until_ms, int64_t *median_ms)
{
	static const char sql[] =
		"WITH t AS (SELECT latency_ms AS v FROM acks WHERE at_ms >= ?1 AND at_ms < ?2),"
		" n AS (SELECT COUNT(*) AS c FROM t) "
		"SELECT (SELECT c FROM n), (SELECT AVG(v) FROM (SELECT v FROM t ORDER BY v "
		"LIMIT 2 - (SELECT c FROM n) % 2 OFFSET ((SELECT c FROM n) - 1) / 2))";
	sqlite3_stmt *st = NULL;
	int rc, count = 0;

	if (!s || !median_ms)
		return -EINVAL;
	*median_ms = 0;
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "ack median");
	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_int64(st, 2, until_ms ? until_ms : INT64_MAX);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		count = sqlite3_column_int(st, 0);
		if (count > 0)
			*median_ms = (int64_t)(sqlite3_column_double(st, 1) + 0.5);
	} else {
		count = sql_fail(s, rc, "ack median");
	}
	sqlite3_finalize(st);
	return count;
}
