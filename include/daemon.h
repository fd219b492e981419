/* daemon: the root object. It owns every module, wires their callbacks
 * together and turns decisions of the pure core (alerts, signals, buttons)
 * into GPIO writes, store rows and MQTT messages. main.c creates it;
 * cmd.c acts on it through the functions below.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ack.h"
#include "alerts.h"
#include "board.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "signals.h"

#define DAEMON_SOUND_LOG    32
#define DAEMON_SOUND_QUEUE  8
#define DAEMON_MAX_INFLIGHT 16
#define DAEMON_SIM_STEPS    128 /* a chattering press: up to 120 edges + release */

struct store;
struct gpio;
struct mqtt;
struct ctl;
struct buttons;
struct display;

struct sound_log_entry {
	enum sound sound;
	uint64_t at_usec;
};

/* A scripted sequence of simulated button levels (sim press/double). */
struct sim_script {
	struct loop_timer timer;
	struct daemon *daemon;
	unsigned button;
	unsigned n, next;
	uint64_t start_usec;
	uint64_t at_usec[DAEMON_SIM_STEPS]; /* offsets from start */
	bool level[DAEMON_SIM_STEPS];
};

struct daemon_stats {
	uint64_t messages; /* MQTT messages on event topics */
	uint64_t events_applied;
	uint64_t events_ignored; /* stale or about unknown tickets */
	uint64_t events_duplicate;
	uint64_t events_rejected;
	uint64_t acks;
	uint64_t escalations;
	uint64_t store_errors;
	uint64_t acks_refused; /* PUBACK >= 0x80 for an ack record */
};

struct daemon {
	struct conf conf;
	/* [sla] and [priority] as policy_apply() takes them: conf_policy() of
	 * conf, rebuilt where conf changes, not for every event */
	struct policy_config policy;
	struct board_profile profile;
	uint64_t started_usec;
	int64_t started_ms;

	struct loop *loop;
	struct store *store;
	struct gpio *gpio;
	struct mqtt *mqtt;
	struct ctl *ctl;
	struct alerts *alerts;
	struct signals *signals;
	struct buttons *buttons;
	struct display *display;      /* NULL when display.listen is empty */
	struct mapping_set *mappings; /* [mapping] sections (may be empty) */

	struct loop_io gpio_io[BOARD_MAX_BUTTONS];
	struct loop_hook before_sleep;
	struct loop_timer wake_timer;  /* earliest domain deadline */
	struct loop_timer state_timer; /* rate-limited state publish */
	struct loop_timer health_timer;
	struct loop_timer retention_timer;
	struct loop_timer store_retry_timer; /* while the database is read-only */
	struct loop_timer watchdog_timer;
	uint64_t watchdog_usec;

	/* Sound policy. Wall times are for display; the monotonic ones count. */
	uint64_t muted_until_usec; /* 0: not muted */
	int64_t muted_until_ms;
	uint64_t silenced_until_usec;
	int64_t silenced_until_ms;
	bool quiet;
	uint64_t quiet_next_usec;
	bool resound; /* mute/silence/quiet ended: remind */
	unsigned last_unacked;
	bool incident_saved; /* incident as last persisted */
	char incident_title[EVENT_TEXT_MAX];

	/* Clock: while unsynchronised, backend ts gives the skew estimate. */
	bool clock_synced;
	bool have_skew;
	int64_t skew_ms;
	int64_t deadline_offset_ms; /* estimate offset SLA deadlines are based on */

	/* Outbox: rows handed to MQTT and not yet acknowledged. */
	int64_t outbox_cursor;
	struct {
		int mid;
		int64_t row_id;
	} inflight[DAEMON_MAX_INFLIGHT];
	size_t n_inflight;

	uint64_t commit_last_usec; /* the batch's last commit (group commit) */
	/* A failed store write lost a batch: rewrite the tickets table at
	 * resave_usec (commit_batch()). */
	bool resave_pending;
	uint64_t resave_usec, resave_backoff_usec;
	bool dirty;                /* something visible changed */
	bool state_pending;        /* state topic needs a publish */
	uint64_t state_last_usec;
	char status_state[16]; /* last "ready"/"alert" published */
	bool broker_connected;
	/* Health is published every minute and also when what it reports as
	 * trouble changes (feed, clock, GPIO and store errors), at most every
	 * HEALTH_MIN_INTERVAL. */
	uint64_t health_key;
	uint64_t health_last_usec;
	/* A reload changed [mqtt]: reconnect from the next update step, with
	 * the previous settings kept to fall back on. */
	bool mqtt_restart;
	__typeof__(((struct conf *)0)->mqtt) *mqtt_old;

	struct sound_log_entry sounds[DAEMON_SOUND_LOG];
	unsigned n_sounds, sounds_head;
	/* One-shot sounds asked for since the lines were last written; they
	 * start when they are written (start_sounds()). */
	enum sound sound_queue[DAEMON_SOUND_QUEUE];
	unsigned n_sound_queue;
	struct sim_script sim[BOARD_MAX_BUTTONS];

	struct daemon_stats stats;
	struct log_ratelimit reject_rl;
	uint64_t errors_window_usec; /* error reports published ... */
	unsigned errors_in_window;   /* ... in the current second */
	struct log_ratelimit store_rl;
	struct log_ratelimit gpio_rl;
	unsigned gpio_read_errors; /* consecutive failures on a button fd */
	char topic_prefix[96];     /* "teamboard/<board>/" */
	int exit_code;
};

/* Opens everything described by `conf` and `profile` (copied). On failure
 * logs why and returns NULL with *exit_code set (78 config, 1 other). */
struct daemon *daemon_new(const struct conf *conf, const struct board_profile *profile,
			  int *exit_code);
/* Runs the loop until SIGTERM/SIGINT; returns the exit code. */
int daemon_run(struct daemon *d);
/* Stops cleanly: outputs off, "offline" published, store flushed. */
void daemon_free(struct daemon *d);

/* Current time for the alert engine (skew-corrected wall estimate). */
struct alerts_now daemon_now(const struct daemon *d);

/* Acknowledges: one ticket (ticket_id), all unacked alerts (all), or the
 * most urgent one (neither). Each ack is durably stored before the ack
 * beep. `acked`/`max` receive the records (may be NULL). Returns the
 * number acked, -ENOENT if nothing to ack, -EROFS or -ENOSPC if the
 * database is read-only or full, -EIO if the store failed otherwise,
 * -ENOBUFS if the outbox is full (store.max_outbox). */
int daemon_ack(struct daemon *d, const char *ticket_id, bool all, const char *agent,
	       enum ack_source source, const char *button, struct ack_record *acked, size_t max);

void daemon_silence(struct daemon *d, uint64_t for_usec);
void daemon_mute(struct daemon *d, uint64_t for_usec);
void daemon_unmute(struct daemon *d);
void daemon_lamp_test(struct daemon *d);
void daemon_identify(struct daemon *d);
void daemon_incident(struct daemon *d, bool open, const char *title);

/* Simulated buttons (sim backend only; -EOPNOTSUPP otherwise, -ENOENT for
 * an unknown button id). */
int daemon_sim_press(struct daemon *d, const char *button, uint64_t hold_usec);
int daemon_sim_double(struct daemon *d, const char *button);
/* The database as status and health show it: "ok", "read-only", "full" or
 * "failing" (the last write or commit failed; clears with the next commit). */
const char *daemon_store_state(const struct daemon *d);
/* Number of buttons reported stuck (held past buttons.stuck_after). */
unsigned daemon_buttons_stuck(const struct daemon *d);
/* A chattering contact: `edges` level changes (starting with a press)
 * spread evenly over `within_usec`, each stamped with its scripted time.
 * An odd count ends pressed: released `hold_usec` after the last edge. At
 * most DAEMON_SIM_CHATTER_MAX edges (-EINVAL). */
#define DAEMON_SIM_CHATTER_MAX 120
int daemon_sim_chatter(struct daemon *d, const char *button, unsigned edges, uint64_t within_usec,
		       uint64_t hold_usec);
/* Presses a button and keeps it down until daemon_sim_release(). */
int daemon_sim_hold(struct daemon *d, const char *button);
int daemon_sim_release(struct daemon *d, const char *button);

/* Applies a new configuration (reload, config_set) in place: alert, button,
 * admin and retention settings take effect at once; changes that would
 * reopen GPIO lines, the broker session, the store or a socket are logged
 * as needing a restart. `nc` has been validated. */
void daemon_apply_conf(struct daemon *d, const struct conf *nc);

/* Whether the buzzer may sound `s` now (mute, silence, quiet hours). */
bool daemon_audible(const struct daemon *d, enum sound s);
/* Something visible changed: outputs, state and watchers get refreshed
 * before the loop sleeps. */
void daemon_touch(struct daemon *d);
