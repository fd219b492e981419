/* store: the SQLite database (WAL, one connection, versioned schema).
 *
 * Holds the ack log, the outbox of records still to publish, open tickets,
 * the event-id dedupe set, settings and an audit trail. Writes of events and
 * tickets are batched into one transaction that store_flush() commits (the
 * daemon: at most every 10 ms; synchronous=NORMAL). An ack is different:
 * store_ack_commit() commits it, together with anything batched, with
 * synchronous=FULL before it returns, so feedback given after it can never
 * outlive a power cut that the record did not survive.
 *
 * Returns 0/positive on success, -errno on failure (-EIO for SQLite errors;
 * store_errmsg() says more). Disk full is -ENOSPC, a read-only database
 * -EROFS, a corrupt one -EBADMSG. A failed write rolls back what was not yet
 * committed; the store stays usable. Logs at debug level only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ack.h"
#include "alerts.h"

struct store;

/* Opens or creates the database at `path`, migrates the schema, sets WAL.
 * On failure returns NULL and sets *err (-errno) and errmsg. */
struct store *store_open(const char *path, int *err, char *errmsg, size_t errmsg_size);
void store_free(struct store *s); /* flushes; NULL-safe */

/* For a database store_open() found read-only (-EROFS): opens it read-only
 * so open tickets and the outbox can still be read; if it cannot be read,
 * an empty database in memory. Either way every write fails with -EROFS
 * and store_is_readonly() is true. NULL on failure, like store_open(). */
struct store *store_open_readonly(const char *path, int *err, char *errmsg, size_t errmsg_size);
bool store_is_readonly(const struct store *s);
/* -errno of the last failed write or commit (-EROFS, -ENOSPC, -EIO, ...),
 * 0 once a commit succeeded; always -EROFS for store_open_readonly(). */
int store_fault(const struct store *s);

const char *store_errmsg(const struct store *s);

/* True if store_open() found the database corrupt (or not a database) and
 * started a fresh one; the old file (and its -wal/-shm) was renamed to
 * `moved_to` ("<path>.corrupt-<unix time>"), copied if moved_to is not NULL. */
bool store_was_recovered(const struct store *s, char *moved_to, size_t size);

/* Commits the batched transaction, if any. */
int store_flush(struct store *s);
/* True while a batch is open: written, not yet committed. */
bool store_batch_open(const struct store *s);
/* Commits the batch and makes it durable (synchronous=FULL), e.g. the acked
 * state of tickets right after their acks were stored. */
int store_sync(struct store *s, int64_t wall_ms);

/* Event dedupe. store_event_seen() returns 1 if `event_id` was recorded
 * before, 0 if not. store_event_mark() records it (batched). */
int store_event_seen(struct store *s, const char *event_id);
int store_event_mark(struct store *s, const char *event_id, int64_t wall_ms);

/* Allocates the next ack sequence number (1, 2, ...; never reused, also
 * across restarts). Part of the batch until committed. */
int store_next_ack_seq(struct store *s, uint64_t *seq);

/* Durably commits acks: inserts each record into the ack log and its
 * payload (`payloads[i]`, published on `topic`) into the outbox, in order,
 * in one transaction with synchronous=FULL. -ENOBUFS: the outbox cap
 * (store_outbox_set_max) would be passed; nothing stored. */
int store_ack_commit(struct store *s, const struct ack_record *acks, const char *const *payloads,
		     size_t n, const char *topic);

/* Outbox: rows not yet acknowledged by the broker, oldest first. */
struct outbox_row {
	int64_t row_id;
	char topic[256];
	char *payload; /* owned by the row; outbox_row_done() frees */
	size_t payload_len;
};
/* Fetches up to `max` unsent rows with row_id > after_row_id, in order.
 * Returns the number fetched. */
int store_outbox_fetch(struct store *s, int64_t after_row_id, struct outbox_row *rows, size_t max);
void outbox_row_done(struct outbox_row *row);
/* Marks a row delivered (PUBACK received). Batched. */
int store_outbox_sent(struct store *s, int64_t row_id);
/* Number of rows not yet delivered (a kept counter: cheap). */
int64_t store_outbox_depth(struct store *s);
/* Caps the undelivered rows (0: no cap, the default). store_ack_commit()
 * refuses acks that would pass it with -ENOBUFS and stores nothing: an ack
 * is refused rather than a record dropped. */
void store_outbox_set_max(struct store *s, size_t max_rows);
size_t store_outbox_max(const struct store *s);

/* Open tickets (batched). */
int store_ticket_save(struct store *s, const struct ticket_snapshot *t);
int store_ticket_remove(struct store *s, const char *ticket_id);
/* Removes every open ticket (batched): with store_ticket_save() of each
 * ticket in the same batch, the table becomes exactly the given set. */
int store_tickets_clear(struct store *s);
typedef void (*store_ticket_fn)(void *userdata, const struct ticket_snapshot *t);
int store_tickets_load(struct store *s, store_ticket_fn fn, void *userdata);

/* The ack log: records with at_ms in [since_ms, until_ms) (0 = open end),
 * optionally of one agent (NULL = all), newest first, at most `limit`
 * (0 = no limit). Returns the number of records passed to fn. */
typedef void (*store_ack_fn)(void *userdata, const struct ack_record *a);
int store_acks_query(struct store *s, int64_t since_ms, int64_t until_ms, const char *agent,
		     size_t limit, store_ack_fn fn, void *userdata);

/* Median time to ack (latency_ms, rounded) of acks with at_ms in
 * [since_ms, until_ms) (until 0 = open end) into *median_ms. Returns the
 * number of acks in the window (0: *median_ms is 0). */
int store_ack_latency_median(struct store *s, int64_t since_ms, int64_t until_ms,
			     int64_t *median_ms);

/* Settings (small key/value pairs that must survive restarts: mute end,
 * incident, runtime config). Set/delete commit durably at once; delete of
 * an unset key is not an error. store_setting_get returns -ENOENT if unset,
 * -ERANGE if `size` is too small. Longer keys/values: -EINVAL. */
#define STORE_SETTING_KEY_MAX   128 /* bytes, without the NUL */
#define STORE_SETTING_VALUE_MAX 4096
int store_setting_set(struct store *s, const char *key, const char *value);
int store_setting_get(struct store *s, const char *key, char *value, size_t size);
int store_setting_delete(struct store *s, const char *key);

/* Audit trail of admin actions and faults (batched). */
int store_audit(struct store *s, int64_t wall_ms, const char *actor, const char *action,
		const char *detail);

/* Deletes acks older than ack_retention, audit rows older than
 * audit_retention, dedupe ids older than dedupe_keep and delivered outbox
 * rows, in bounded batches. Returns the number of rows deleted. */
int store_retention(struct store *s, int64_t now_wall_ms, uint64_t ack_retention_usec,
		    uint64_t audit_retention_usec, uint64_t dedupe_keep_usec);

/* Admin commands (SPEC §5). A command's reply is kept under its id
 * ("<verb> <transaction>") so that a repeated command gets the same reply
 * instead of acting twice: store_cmd_reply_get() returns 0 and a malloc'ed
 * copy in *reply (free() it), -ENOENT if unknown. store_cmd_reply_put()
 * commits durably. store_nonce_use() records the nonce of a signed command
 * durably and returns 0, or -EEXIST if it was used before. */
#define STORE_CMD_ID_MAX    320
#define STORE_CMD_REPLY_MAX (256 * 1024)
int store_cmd_reply_get(struct store *s, const char *id, char **reply);
int store_cmd_reply_put(struct store *s, const char *id, int64_t at_ms, const char *reply);
int store_nonce_use(struct store *s, const char *nonce, int64_t at_ms);
/* Forgets replies stored before reply_cutoff_ms and nonces used before
 * nonce_cutoff_ms (bounded batches). Returns the number of rows deleted. */
int store_cmd_retention(struct store *s, int64_t reply_cutoff_ms, int64_t nonce_cutoff_ms);

/* Ack statistics over acks with at_ms in [since_ms, until_ms), computed by
 * SQL: one row per agent (priority ""), or per channel and priority.
 * Median and p90 time to ack are nearest-rank; breaches counts acks of
 * sla.breached alerts. Fills up to `max` rows; returns how many. */
struct store_stat {
	char key[64];      /* agent ("" = unknown) or channel */
	char priority[16]; /* "" for agent rows */
	int64_t acks, breaches, median_ms, p90_ms;
};
/* STORE_STATS_RESPONSE: per channel and priority, `acks` counts tickets
 * answered in the window, median_ms/p90_ms their first-response time (from
 * the ticket's first event to the reply event, backend ts). STORE_STATS_BREACH:
 * `breaches` counts breach alerts raised in the window. */
enum store_stats_by {
	STORE_STATS_AGENT,
	STORE_STATS_CHANNEL,
	STORE_STATS_RESPONSE,
	STORE_STATS_BREACH
};
int store_stats(struct store *s, enum store_stats_by by, int64_t since_ms, int64_t until_ms,
		struct store_stat *rows, size_t max);

/* Size of the database file and WAL in bytes. */
int64_t store_size_bytes(struct store *s);
