/* conf: the configuration file (SPEC §8), INI parsed with libinih.
 *
 * conf_load() starts from defaults, applies the file and validates. Every
 * problem names file, line and key. Durations accept ms/s/m/h/d suffixes.
 * The secret named by mqtt.password_file is read at load time into
 * mqtt.password and never logged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conferr.h"
#include "event.h"
#include "mapping.h"
#include "policy.h"
#include "quiet.h"
#include "signals.h"

#define CONF_MAX_TOPICS 8
#define CONF_PATH_MAX   256

enum gpio_backend { GPIO_BACKEND_LIBGPIOD, GPIO_BACKEND_SIM };
enum mqtt_protocol { MQTT_PROTOCOL_311, MQTT_PROTOCOL_5 };

/* What a button gesture does ([buttons] on_short/on_long/on_double/on_hold). */
enum button_action {
	BUTTON_ACTION_NONE,
	BUTTON_ACTION_ACK,
	BUTTON_ACTION_ACK_ALL,
	BUTTON_ACTION_SILENCE,
	BUTTON_ACTION_LAMP_TEST,
	BUTTON_ACTION_COUNT
};

struct conf {
	char path[CONF_PATH_MAX]; /* file it came from ("" = defaults) */

	struct {
		char id[64]; /* required, [a-z0-9-] */
		char profile[CONF_PATH_MAX];
		char profile_dir[CONF_PATH_MAX]; /* installed board/ folder */
	} board;

	struct {
		enum gpio_backend backend;
	} gpio;

	struct {
		char host[256];
		int port; /* 0 = 1883, or 8883 with tls */
		enum mqtt_protocol protocol;
		char client_id[128]; /* "" = teamboard-<board.id> */
		char events_topics[CONF_MAX_TOPICS][256];
		unsigned n_events_topics;
		uint64_t keepalive_usec;
		char username[128];
		char password_file[CONF_PATH_MAX];
		char password[256]; /* from password_file; secret */
		bool tls;
		char cafile[CONF_PATH_MAX];
		char certfile[CONF_PATH_MAX];
		char keyfile[CONF_PATH_MAX];
		char tls_pin[65];   /* "" or the broker key's SHA-256, hex */
		size_t max_payload; /* bytes */
	} mqtt;

	struct {
		char path[CONF_PATH_MAX];
		uint64_t ack_retention_usec;
		uint64_t audit_retention_usec;
		size_t max_outbox; /* unsent ack records; at the cap an ack is refused */
	} store;

	struct {
		char socket[CONF_PATH_MAX];
	} control;

	struct {
		char listen[128];               /* "" disables the HTTP server */
		char language[8];               /* en | ru | pl | da */
		char token_file[CONF_PATH_MAX]; /* "" = no access token */
	} display;

	struct {
		char timezone[64];
		enum priority chirp_min_priority;
		unsigned warn_at_pct;
		uint64_t ack_timeout_usec;
		uint64_t escalate_after_usec;
		uint64_t feed_timeout_usec;
		uint64_t silence_for_usec;
		char quiet_hours_text[256];
		struct quiet_hours quiet_hours;
		unsigned audible_in_quiet; /* bit (1u << enum sound) */
		bool assign_acks;
		size_t max_open_tickets; /* a new ticket past it is rejected */
	} alerts;

	/* Board-side SLA policy for events without dues (docs/sla.md). */
	struct {
		bool enabled;
		char timezone[POLICY_TZ_MAX]; /* "" = alerts.timezone */
		char business_hours_text[256];
		char holidays_text[1024];
		struct bizhours hours;
		char targets_text[POLICY_TARGET_COUNT][1024];
		struct policy_rules targets[POLICY_TARGET_COUNT];
		enum policy_hours hours_default[POLICY_TARGET_COUNT];
	} sla;

	/* Priorities from content for events without one (docs/sla.md). */
	struct {
		bool enabled;
		char rules_text[1024];
		struct policy_rules rules;
		char negative_words[POLICY_WORDS_MAX];
		char praise_words[POLICY_WORDS_MAX];
	} priority;

	struct {
		uint64_t debounce_usec;
		uint64_t long_press_usec;
		uint64_t double_press_usec;
		uint64_t stuck_after_usec; /* held this long: a fault, ignored until released */
		enum button_action on_short, on_long, on_double, on_hold;
	} buttons;

	struct {
		char key_file[CONF_PATH_MAX];
		uint64_t max_cmd_age_usec;
	} admin;

	struct {
		bool discovery; /* Home Assistant MQTT discovery */
		char prefix[128];
	} homeassistant;

	/* [mapping NAME] sections (docs/mapping.md), kept as the lines that
	 * mapping_set_compile() reads; checked by conf_load(). */
	struct {
		char src[MAPPING_SRC_MAX];
		char preset_dir[CONF_PATH_MAX]; /* installed mappings/ folder */
	} mapping;
};

/* Fills every key with its default (board.id stays empty). */
void conf_defaults(struct conf *c);

/* Defaults, then the file at `path`, then validation (including that
 * board.id is set and the password file is readable). 0 or -EINVAL/-errno
 * with `err` filled; on failure *c is left unchanged (a reload keeps the
 * running configuration). A key given twice in the file is an error. */
int conf_load(const char *path, struct conf *c, struct conf_error *err);

/* Sets one key ("section", "key", textual value) as the file would;
 * used by the file parser and by runtime config_set. `file`/`line` are
 * only used for the error. */
int conf_set(struct conf *c, const char *section, const char *key, const char *value,
	     const char *file, int line, struct conf_error *err);

/* Checks cross-key rules after all keys are set. */
int conf_validate(struct conf *c, struct conf_error *err);

/* The effective client id and port. */
const char *conf_client_id(const struct conf *c, char *buf, size_t size);
int conf_mqtt_port(const struct conf *c);

const char *button_action_name(enum button_action a);

/* The [sla] and [priority] sections as the policy module takes them
 * (sla.timezone falling back to alerts.timezone). */
void conf_policy(const struct conf *c, struct policy_config *out);

/* Every known key, in the order of SPEC §8 and teamboard.conf.example: for
 * i = 0, 1, ... sets *section and *key and returns true; false past the
 * end. For config_get listings. */
bool conf_key_at(size_t i, const char **section, const char **key);

/* Enough for any value conf_get() returns (8 topics of 255 bytes). */
#define CONF_VALUE_MAX 2304

/* The current value of one key as text that conf_set() accepts back
 * (durations "30s", sizes "64KiB", lists joined with ", "). The password
 * itself is never returned: mqtt.password_file gives the file name.
 * Returns 0, -ENOENT for an unknown key, -ENOSPC if `size` is too small. */
int conf_get(const struct conf *c, const char *section, const char *key, char *buf, size_t size);
