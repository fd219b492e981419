/* Unit tests for conf (SPEC §8) and conferr. Run from the repository root. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "conferr.h"
#include "timeutil.h"

static char tmpdir[] = "/tmp/test_conf.XXXXXX";
static unsigned file_seq;

static int
setup_dir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes `len` bytes to a fresh file in tmpdir; returns its path (static). */
static const char *
write_bytes(const char *data, size_t len)
{
	static char path[4][256];
	char *p = path[file_seq % 4];
	FILE *f;

	snprintf(p, sizeof(path[0]), "%s/f%u.conf", tmpdir, file_seq++);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return p;
}

static const char *
write_text(const char *text)
{
	return write_bytes(text, strlen(text));
}

static int
load_text(const char *text, struct conf *c, struct conf_error *err)
{
	memset(err, 0, sizeof(*err));
	return conf_load(write_text(text), c, err);
}

/* Loads `text` expecting failure at `line` for `key`; returns the message. */
static const char *
expect_error(const char *text, int line, const char *key)
{
	static struct conf_error err;
	struct conf c;
	int r = load_text(text, &c, &err);

	if (r == 0)
		fail_msg("accepted:\n%s", text);
	assert_true(r < 0);
	if (err.line != line || strcmp(err.key, key) != 0)
		fail_msg("expected line %d key '%s', got line %d key '%s': %s\n%s", line, key,
			 err.line, err.key, err.message, text);
	assert_true(err.message[0] != '\0');
	return err.message;
}

static void
load_ok(const char *text, struct conf *c)
{
	struct conf_error err;
	char msg[700];

	if (load_text(text, c, &err) < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		fail_msg("rejected: %s\n%s", msg, text);
	}
}

static void
get(const struct conf *c, const char *section, const char *key, char *buf)
{
	assert_int_equal(conf_get(c, section, key, buf, CONF_VALUE_MAX), 0);
}

static void
test_defaults(void **state)
{
	struct conf c;
	char buf[64];

	(void)state;
	conf_defaults(&c);
	assert_string_equal(c.board.id, "");
	assert_string_equal(c.board.profile, "rpi4");
	assert_true(c.board.profile_dir[0] == '/');
	assert_int_equal(c.gpio.backend, GPIO_BACKEND_LIBGPIOD);
	assert_string_equal(c.mqtt.host, "127.0.0.1");
	assert_int_equal(c.mqtt.port, 0);
	assert_int_equal(conf_mqtt_port(&c), 1883);
	assert_int_equal(c.mqtt.protocol, MQTT_PROTOCOL_5);
	assert_string_equal(c.mqtt.client_id, "");
	assert_int_equal(c.mqtt.n_events_topics, 1);
	assert_string_equal(c.mqtt.events_topics[0], "helpdesk/+/events");
	assert_int_equal(c.mqtt.keepalive_usec, 30 * USEC_PER_SEC);
	assert_string_equal(c.mqtt.username, "");
	assert_string_equal(c.mqtt.password_file, "");
	assert_string_equal(c.mqtt.password, "");
	assert_false(c.mqtt.tls);
	assert_int_equal(c.mqtt.max_payload, 64 * 1024);
	assert_string_equal(c.store.path, "/var/lib/teamboard/teamboard.db");
	assert_int_equal(c.store.ack_retention_usec, 400 * 86400 * USEC_PER_SEC);
	assert_int_equal(c.store.audit_retention_usec, 30 * 86400 * USEC_PER_SEC);
	assert_int_equal(c.store.max_outbox, 100000);
	assert_int_equal(c.alerts.max_open_tickets, 100000);
	assert_int_equal(c.buttons.stuck_after_usec, 60 * USEC_PER_SEC);
	assert_string_equal(c.control.socket, "/run/teamboard/ctl.sock");
	assert_string_equal(c.display.listen, "127.0.0.1:8080");
	assert_string_equal(c.display.language, "en");
	assert_string_equal(c.alerts.timezone, "UTC");
	assert_int_equal(c.alerts.chirp_min_priority, PRIORITY_NORMAL);
	assert_int_equal(c.alerts.warn_at_pct, 80);
	assert_int_equal(c.alerts.ack_timeout_usec, 10 * 60 * USEC_PER_SEC);
	assert_int_equal(c.alerts.escalate_after_usec, 5 * 60 * USEC_PER_SEC);
	assert_int_equal(c.alerts.feed_timeout_usec, 2 * 60 * USEC_PER_SEC);
	assert_int_equal(c.alerts.silence_for_usec, 5 * 60 * USEC_PER_SEC);
	assert_string_equal(c.alerts.quiet_hours_text, "");
	assert_int_equal(c.alerts.quiet_hours.n, 0);
	assert_int_equal(c.alerts.audible_in_quiet, 1u << SOUND_ESCALATED);
	assert_false(c.alerts.assign_acks);
	assert_int_equal(c.buttons.debounce_usec, 30 * USEC_PER_MSEC);
	assert_int_equal(c.buttons.long_press_usec, 1500 * USEC_PER_MSEC);
	assert_int_equal(c.buttons.double_press_usec, 400 * USEC_PER_MSEC);
	assert_int_equal(c.buttons.on_short, BUTTON_ACTION_ACK);
	assert_int_equal(c.buttons.on_long, BUTTON_ACTION_ACK_ALL);
	assert_int_equal(c.buttons.on_double, BUTTON_ACTION_SILENCE);
	assert_int_equal(c.buttons.on_hold, BUTTON_ACTION_LAMP_TEST);
	assert_string_equal(c.admin.key_file, "");
	assert_int_equal(c.admin.max_cmd_age_usec, 60 * USEC_PER_SEC);
	/* Defaults alone are not a valid configuration: board.id is missing. */
	assert_int_equal(conf_validate(&c, NULL), -EINVAL);
	snprintf(c.board.id, sizeof(c.board.id), "floor2");
	assert_int_equal(conf_validate(&c, NULL), 0);
	assert_string_equal(conf_client_id(&c, buf, sizeof(buf)), "teamboard-floor2");
}

/* The shipped example sets every key to its default; only board.id differs. */
static void
test_example_matches_defaults(void **state)
{
	struct conf c, d;
	struct conf_error err;
	char a[CONF_VALUE_MAX], b[CONF_VALUE_MAX];
	const char *section, *key;
	size_t i;

	(void)state;
	assert_int_equal(conf_load("teamboard.conf.example", &c, &err), 0);
	assert_string_equal(c.path, "teamboard.conf.example");
	conf_defaults(&d);
	for (i = 0; conf_key_at(i, &section, &key); i++) {
		get(&c, section, key, a);
		get(&d, section, key, b);
		if (strcmp(section, "board") == 0 && strcmp(key, "id") == 0) {
			assert_string_equal(a, "floor2");
			continue;
		}
		if (strcmp(a, b) != 0)
			fail_msg("%s.%s: example '%s', default '%s'", section, key, a, b);
	}
	assert_true(i >= 40);
	assert_false(conf_key_at(i, &section, &key));
}

struct seen {
	bool keys[128];
	int n;
};

static int
mark_key(void *user, const char *section, const char *key, const char *value, int line,
	 struct conf_error *err)
{
	struct seen *s = user;
	const char *ks, *kk;
	size_t i;

	(void)value;
	(void)line;
	(void)err;
	for (i = 0; conf_key_at(i, &ks, &kk); i++)
		if (strcmp(ks, section) == 0 && strcmp(kk, key) == 0)
			s->keys[i] = true;
	s->n++;
	return 0;
}

/* "Every key with its default": each known key is written out, not left
 * to a comment, so the example documents all of them. */
static void
test_example_lists_every_key(void **state)
{
	struct seen s = { 0 };
	struct conf_error err;
	const char *section, *key;
	size_t i;

	(void)state;
	assert_int_equal(conf_ini_parse("teamboard.conf.example", NULL, mark_key, &s, &err), 0);
	for (i = 0; conf_key_at(i, &section, &key); i++)
		if (!s.keys[i])
			fail_msg("teamboard.conf.example lacks %s.%s", section, key);
	assert_int_equal(s.n, (int)i);
}

static void
test_minimal_file(void **state)
{
	struct conf c;
	char buf[128];

	(void)state;
	load_ok("[board]\nid = floor2\n", &c);
	assert_string_equal(c.board.id, "floor2");
	assert_string_equal(conf_client_id(&c, buf, sizeof(buf)), "teamboard-floor2");
	load_ok("[board]\nid = f\n[mqtt]\nclient_id = wall-7\nport = 1884\n", &c);
	assert_string_equal(conf_client_id(&c, buf, sizeof(buf)), "wall-7");
	assert_int_equal(conf_mqtt_port(&c), 1884);
}

static void
test_missing_board_id(void **state)
{
	const char *msg;

	(void)state;
	msg = expect_error("", 0, "board.id");
	assert_non_null(strstr(msg, "required"));
	msg = expect_error("[mqtt]\nhost = 10.0.0.1\n", 0, "board.id");
	assert_non_null(strstr(msg, "required"));
}

struct bad {
	const char *section, *key, *value;
};

static const struct bad bad_values[] = {
	{ "board", "id", "Floor2" },
	{ "board", "id", "-floor" },
	{ "board", "id", "floor_2" },
	{ "board", "id", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
	{ "board", "profile", "\"\"" },
	{ "gpio", "backend", "gpiod" },
	{ "gpio", "backend", "SIM" },
	{ "mqtt", "host", "\"\"" },
	{ "mqtt", "host", "broker one" },
	{ "mqtt", "port", "65536" },
	{ "mqtt", "port", "-1" },
	{ "mqtt", "port", "0x10" },
	{ "mqtt", "port", "18 83" },
	{ "mqtt", "protocol", "4" },
	{ "mqtt", "protocol", "3.1" },
	{ "mqtt", "client_id", "wall 7" },
	{ "mqtt", "events_topic", "a/#/b" },
	{ "mqtt", "events_topic", "a+/b" },
	{ "mqtt", "events_topic", "a/b#" },
	{ "mqtt", "events_topic", "a/++" },
	{ "mqtt", "events_topic", "\"\"" },
	{ "mqtt", "events_topic", "a,,b" },
	{ "mqtt", "events_topic", "a, b," },
	{ "mqtt", "events_topic", "a,b,c,d,e,f,g,h,i" },
	{ "mqtt", "keepalive", "4s" },
	{ "mqtt", "keepalive", "3601s" },
	{ "mqtt", "keepalive", "1500ms" },
	{ "mqtt", "keepalive", "-5s" },
	{ "mqtt", "keepalive", "30 s" },
	{ "mqtt", "username",
	  "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
	  "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" },
	{ "mqtt", "password_file", "/nonexistent/teamboard/secret" },
	{ "mqtt", "password_file", "/tmp" },
	{ "mqtt", "tls", "maybe" },
	{ "mqtt", "cafile", NULL }, /* NULL: a value longer than any path field */
	{ "mqtt", "certfile", NULL },
	{ "mqtt", "keyfile", NULL },
	{ "mqtt", "max_payload", "512" },
	{ "mqtt", "max_payload", "17MiB" },
	{ "mqtt", "max_payload", "64KB" },
	{ "mqtt", "max_payload", "64kib" },
	{ "mqtt", "max_payload", "99999999999999999999999" },
	{ "store", "path", "\"\"" },
	{ "store", "path", NULL },
	{ "store", "ack_retention", "12h" },
	{ "store", "ack_retention", "0" },
	{ "store", "audit_retention", "thirty days" },
	{ "store", "max_outbox", "0" },
	{ "store", "max_outbox", "10000001" },
	{ "store", "max_outbox", "1e5" },
	{ "control", "socket", "\"\"" },
	{ "control", "socket",
	  "/run/teamboard/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock" },
	{ "display", "listen", "8080" },
	{ "display", "listen", "localhost" },
	{ "display", "listen", "localhost:0" },
	{ "display", "listen", "localhost:70000" },
	{ "display", "listen", "::1:8080" },
	{ "display", "listen", "[::1:8080" },
	{ "display", "listen", ":8080" },
	{ "display", "language", "de" },
	{ "display", "language", "EN" },
	{ "display", "token_file", "/nonexistent/teamboard/token" },
	{ "display", "token_file", NULL },
	{ "alerts", "timezone", "Mars/Olympus_Mons" },
	{ "alerts", "timezone", "../../etc/passwd" },
	{ "alerts", "chirp_min_priority", "critical" },
	{ "alerts", "warn_at", "0" },
	{ "alerts", "warn_at", "100" },
	{ "alerts", "warn_at", "100%" },
	{ "alerts", "warn_at", "80%%" },
	{ "alerts", "warn_at", "eighty" },
	{ "alerts", "ack_timeout", "0" },
	{ "alerts", "ack_timeout", "8d" },
	{ "alerts", "ack_timeout", "10 m" },
	{ "alerts", "escalate_after", "0s" },
	{ "alerts", "feed_timeout", "500ms" },
	{ "alerts", "silence_for", "5min" },
	{ "alerts", "quiet_hours", "someday 25:00-26:00" },
	{ "alerts", "audible_in_quiet", "klaxon" },
	{ "alerts", "audible_in_quiet", "none, alarm" },
	{ "alerts", "audible_in_quiet", "off" },
	{ "alerts", "assign_acks", "2" },
	{ "alerts", "max_open_tickets", "0" },
	{ "alerts", "max_open_tickets", "1000001" },
	{ "alerts", "max_open_tickets", "-1" },
	{ "buttons", "debounce", "2s" },
	{ "buttons", "long_press", "50ms" },
	{ "buttons", "long_press", "10s" },
	{ "buttons", "double_press", "10ms" },
	{ "buttons", "double_press", "3s" },
	{ "buttons", "stuck_after", "10s" },
	{ "buttons", "stuck_after", "2h" },
	{ "buttons", "on_short", "explode" },
	{ "buttons", "on_long", "ACK" },
	{ "buttons", "on_double", "mute" },
	{ "buttons", "on_hold", "lamp-test" },
	{ "admin", "key_file", NULL },
	{ "admin", "max_cmd_age", "0" },
	{ "admin", "max_cmd_age", "2d" },
	{ "mqtt", "tls_pin", "abc" },
	{ "mqtt", "tls_pin", "zz00000000000000000000000000000000000000000000000000000000000000" },
	{ "board", "id", "all" },
	{ "homeassistant", "discovery", "maybe" },
	{ "homeassistant", "prefix", "home/#" },
	{ "homeassistant", "prefix", "\"\"" },
	{ "sla", "enabled", "yes please" },
	{ "sla", "timezone", "Europe/Atlantis" },
	{ "sla", "business_hours", "weekdays 9-18" },
	{ "sla", "holidays", "2026-02-30" },
	{ "sla", "holidays", "2026-12-24," },
	{ "sla", "first_response", "urgent public social" },
	{ "sla", "first_response", "urgent myspace 5m" },
	{ "sla", "next_response", "public private 5m" },
	{ "sla", "resolution", "* 0s" },
	{ "sla", "first_response_hours", "office" },
	{ "sla", "next_response_hours", "Business" },
	{ "sla", "resolution_hours", "" },
	{ "priority", "enabled", "2" },
	{ "priority", "rules", "public negative urgent" },
	{ "priority", "rules", "angry: urgent" },
	{ "priority", "rules", "negative: critical" },
	{ "priority", "negative_words", "refund,,scam" },
	{ "priority", "praise_words", "thanks," },
};

/* Every key rejects bad values with the file, the line and the key. */
static void
test_bad_values(void **state)
{
	char text[1024], name[80], longval[300];
	bool covered[64] = { false };
	const char *section, *key;
	size_t i, k;

	(void)state;
	memset(longval, 'x', sizeof(longval) - 1);
	longval[0] = '/';
	longval[sizeof(longval) - 1] = '\0';
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct bad *b = &bad_values[i];
		const char *v = b->value ? b->value : longval;

		/* The key under test is on line 6 either way. */
		if (strcmp(b->section, "board") == 0 && strcmp(b->key, "id") == 0)
			snprintf(text, sizeof(text),
				 "[mqtt]\nhost = h\n# filler\n\n[board]\nid = %s\n", v);
		else
			snprintf(text, sizeof(text),
				 "[board]\nid = b1\n# filler\n\n[%s]\n%s = %s\n", b->section,
				 b->key, v);
		snprintf(name, sizeof(name), "%s.%s", b->section, b->key);
		expect_error(text, 6, name);
		for (k = 0; conf_key_at(k, &section, &key); k++)
			if (strcmp(section, b->section) == 0 && strcmp(key, b->key) == 0)
				covered[k] = true;
	}
	for (k = 0; conf_key_at(k, &section, &key); k++)
		if (!covered[k])
			fail_msg("no bad value tested for %s.%s", section, key);
}

static void
test_error_names_file(void **state)
{
	struct conf_error err;
	struct conf c;
	char msg[700], want[300];
	const char *path;

	(void)state;
	path = write_text("[board]\nid = b1\n[alerts]\nwarn_at = 120%\n");
	assert_int_equal(conf_load(path, &c, &err), -EINVAL);
	conf_error_format(&err, msg, sizeof(msg));
	snprintf(want, sizeof(want), "%s:4: alerts.warn_at: ", path);
	assert_memory_equal(msg, want, strlen(want));
	assert_non_null(strstr(msg, "99%"));
}

static void
test_unknown_key_and_section(void **state)
{
	const char *msg;

	(void)state;
	msg = expect_error("[board]\nid = b1\n[mqtt]\nhots = 10.0.0.1\n", 4, "mqtt.hots");
	assert_non_null(strstr(msg, "unknown key"));
	msg = expect_error("[board]\nid = b1\n\n[mqqt]\nhost = 10.0.0.1\n", 4, "");
	assert_non_null(strstr(msg, "unknown section [mqqt]"));
	/* An empty unknown section is still a mistake worth reporting. */
	msg = expect_error("[board]\nid = b1\n[buttons]\n[buttonz]\n", 4, "");
	assert_non_null(strstr(msg, "buttonz"));
	msg = expect_error("host = 10.0.0.1\n[board]\nid = b1\n", 1, "host");
	assert_non_null(strstr(msg, "section"));
	expect_error("[board]\nid = b1\njust some words\n", 3, "");
	expect_error("[board]\nid = b1\n[mqtt\nhost = x\n", 3, "");
	expect_error("[board]\nid = b1\n[]\n", 3, "");
	expect_error("[board]\nid = b1\n[mqtt] extra\n", 3, "");
	expect_error("[board]\nid = b1\n = value\n", 3, "");
	expect_error("[board]\nid = b1\nsome key = value\n", 3, "");
}

static void
test_duplicate_key(void **state)
{
	const char *msg;

	(void)state;
	msg = expect_error("[board]\nid = b1\n[mqtt]\nport = 1\n[board]\n[mqtt]\nport = 2\n", 7,
			   "mqtt.port");
	assert_non_null(strstr(msg, "line 4"));
}

static void
test_comments(void **state)
{
	struct conf c;

	(void)state;
	load_ok("# a comment\n"
		"; another comment\n"
		"   # indented comment\n"
		"\t; indented comment\n"
		"[board]   ; section comment\n"
		"id = b1 # hash comment\n"
		"[mqtt] # hash after section\n"
		"host = 10.0.0.1   ; semicolon comment\n"
		"port = 1884\t# tab then hash\n"
		"events_topic = a/#, b/+/c ; '#' inside a topic is not a comment\n"
		"   keepalive = 60s\n" /* indented: a key, not a continuation */
		"username = \"has # and ; inside\"   # quoted\n",
		&c);
	assert_string_equal(c.board.id, "b1");
	assert_string_equal(c.mqtt.host, "10.0.0.1");
	assert_int_equal(c.mqtt.port, 1884);
	assert_int_equal(c.mqtt.n_events_topics, 2);
	assert_string_equal(c.mqtt.events_topics[0], "a/#");
	assert_string_equal(c.mqtt.events_topics[1], "b/+/c");
	assert_int_equal(c.mqtt.keepalive_usec, 60 * USEC_PER_SEC);
	assert_string_equal(c.mqtt.username, "has # and ; inside");
	/* A value that starts with '#' must be quoted. */
	load_ok("[board]\nid = b1\n[mqtt]\nevents_topic = \"#\"\n", &c);
	assert_int_equal(c.mqtt.n_events_topics, 1);
	assert_string_equal(c.mqtt.events_topics[0], "#");
	/* "key = ; comment" is an empty value, like "key =". */
	load_ok("[board]\nid = b1\n[display]\nlisten = ; off\n", &c);
	assert_string_equal(c.display.listen, "");
}

static void
test_line_endings_and_bom(void **state)
{
	struct conf c;

	(void)state;
	load_ok("\xef\xbb\xbf[board]\r\nid = b1\r\n[mqtt]\r\nhost = h2\r\n", &c);
	assert_string_equal(c.board.id, "b1");
	assert_string_equal(c.mqtt.host, "h2");
	/* No newline at the end of the file. */
	load_ok("[board]\nid = b2", &c);
	assert_string_equal(c.board.id, "b2");
	/* "key: value" works as in Python's configparser (inih's choice). */
	load_ok("[board]\nid: b3\n[display]\nlisten = 0.0.0.0:80\n", &c);
	assert_string_equal(c.board.id, "b3");
	assert_string_equal(c.display.listen, "0.0.0.0:80");
}

static void
test_hostile_files(void **state)
{
	char big[5200];
	struct conf_error err;
	struct conf c;
	const char *path;
	char *huge;
	int r;

	(void)state;
	/* A line longer than the cap is an error, not a silent truncation. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "[board]\nid = b1\n[mqtt]\nusername = ", 34);
	big[sizeof(big) - 1] = '\n';
	path = write_bytes(big, sizeof(big));
	assert_int_equal(conf_load(path, &c, &err), -EINVAL);
	assert_int_equal(err.line, 4);
	assert_non_null(strstr(err.message, "longer"));
	/* NUL and control characters. */
	path = write_bytes("[board]\nid = b\0x\n", 17);
	assert_int_equal(conf_load(path, &c, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	expect_error("[board]\nid = b1\n[mqtt]\nhost = a\x1b[2Jb\n", 4, "");
	/* Not a regular file, missing file, too big. */
	assert_true(conf_load(tmpdir, &c, &err) < 0);
	assert_non_null(strstr(err.message, "regular"));
	r = conf_load("/nonexistent/teamboard.conf", &c, &err);
	assert_int_equal(r, -ENOENT);
	assert_string_equal(err.file, "/nonexistent/teamboard.conf");
	huge = malloc(CONF_INI_MAX_BYTES + 10);
	assert_non_null(huge);
	memset(huge, '#', CONF_INI_MAX_BYTES + 10);
	path = write_bytes(huge, CONF_INI_MAX_BYTES + 10);
	free(huge);
	assert_int_equal(conf_load(path, &c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "larger"));
}

static void
test_password_file(void **state)
{
	struct conf c;
	struct conf_error err;
	char text[600], value[CONF_VALUE_MAX], msg[700], longpw[400];
	const char *pw, *section, *key;
	size_t i;

	(void)state;
	pw = write_text("s3cret-Pa55\nsecond line\n");
	snprintf(text, sizeof(text), "[board]\nid = b1\n[mqtt]\nusername = u\npassword_file = %s\n",
		 pw);
	load_ok(text, &c);
	assert_string_equal(c.mqtt.password, "s3cret-Pa55");
	assert_string_equal(c.mqtt.password_file, pw);
	/* No key ever shows the secret. */
	for (i = 0; conf_key_at(i, &section, &key); i++) {
		get(&c, section, key, value);
		assert_null(strstr(value, "s3cret"));
	}

	pw = write_text("crlf\r\n");
	snprintf(text, sizeof(text), "[board]\nid = b1\n[mqtt]\nusername = u\npassword_file = %s\n",
		 pw);
	load_ok(text, &c);
	assert_string_equal(c.mqtt.password, "crlf");
	pw = write_text("no-newline");
	snprintf(text, sizeof(text), "[board]\nid = b1\n[mqtt]\nusername = u\npassword_file = %s\n",
		 pw);
	load_ok(text, &c);
	assert_string_equal(c.mqtt.password, "no-newline");

	pw = write_text("\nsecond\n");
	snprintf(text, sizeof(text), "[board]\nid = b1\n[mqtt]\nusername = u\npassword_file = %s\n",
		 pw);
	assert_non_null(strstr(expect_error(text, 5, "mqtt.password_file"), "empty"));

	memset(longpw, 'P', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	pw = write_text(longpw);
	snprintf(text, sizeof(text), "[board]\nid = b1\n[mqtt]\nusername = u\npassword_file = %s\n",
		 pw);
	assert_null(strstr(expect_error(text, 5, "mqtt.password_file"), "PPPP"));

	/* A missing file is named in the message, with the key and the line. */
	assert_int_equal(load_text("[board]\nid = b1\n[mqtt]\nusername = u\n"
				   "password_file = /nonexistent/pw\n",
				   &c, &err),
			 -EINVAL);
	conf_error_format(&err, msg, sizeof(msg));
	assert_non_null(strstr(msg, ":5: mqtt.password_file: "));
	assert_non_null(strstr(msg, "/nonexistent/pw"));

	/* MQTT 3.1.1 cannot send a password without a user name. */
	pw = write_text("pw\n");
	snprintf(text, sizeof(text),
		 "[board]\nid = b1\n[mqtt]\nprotocol = 3.1.1\n"
		 "password_file = %s\n",
		 pw);
	expect_error(text, 5, "mqtt.password_file");
}

static void
test_events_topics(void **state)
{
	struct conf c;
	char buf[CONF_VALUE_MAX];

	(void)state;
	load_ok("[board]\nid = b1\n[mqtt]\n"
		"events_topic = helpdesk/+/events ,  helpdesk/vip/# ,+,  $SYS/#,/,a//b,+/+/+,x\n",
		&c);
	assert_int_equal(c.mqtt.n_events_topics, CONF_MAX_TOPICS);
	assert_string_equal(c.mqtt.events_topics[0], "helpdesk/+/events");
	assert_string_equal(c.mqtt.events_topics[1], "helpdesk/vip/#");
	assert_string_equal(c.mqtt.events_topics[2], "+");
	assert_string_equal(c.mqtt.events_topics[3], "$SYS/#");
	assert_string_equal(c.mqtt.events_topics[7], "x");
	get(&c, "mqtt", "events_topic", buf);
	assert_string_equal(buf, "helpdesk/+/events, helpdesk/vip/#, +, $SYS/#, /, a//b, +/+/+, x");
	/* A list longer than inih's 200-byte line buffer survives intact. */
	load_ok("[board]\nid = b1\n[mqtt]\nevents_topic = "
		"helpdesk/social-ru/events/with/a/very/long/prefix/number/one, "
		"helpdesk/social-en/events/with/a/very/long/prefix/number/two, "
		"helpdesk/email/events/with/a/very/long/prefix/number/three, "
		"helpdesk/phone/events/with/a/very/long/prefix/number/four\n",
		&c);
	assert_int_equal(c.mqtt.n_events_topics, 4);
	assert_string_equal(c.mqtt.events_topics[3],
			    "helpdesk/phone/events/with/a/very/long/prefix/number/four");
}

static void
test_durations_sizes_percent(void **state)
{
	struct conf c;

	(void)state;
	load_ok("[board]\nid = b1\n"
		"[mqtt]\nkeepalive = 1m\nmax_payload = 1MiB\n"
		"[alerts]\nack_timeout = 2h\nescalate_after = 90\nfeed_timeout = 1500ms\n"
		"silence_for = 1d\nwarn_at = 75\n"
		"[buttons]\ndebounce = 0ms\nlong_press = 2s\ndouble_press = 250ms\n"
		"[store]\nack_retention = 1d\n",
		&c);
	assert_int_equal(c.mqtt.keepalive_usec, 60 * USEC_PER_SEC);
	assert_int_equal(c.mqtt.max_payload, 1024 * 1024);
	assert_int_equal(c.alerts.ack_timeout_usec, 7200 * USEC_PER_SEC);
	assert_int_equal(c.alerts.escalate_after_usec, 90 * USEC_PER_SEC);
	assert_int_equal(c.alerts.feed_timeout_usec, 1500 * USEC_PER_MSEC);
	assert_int_equal(c.alerts.silence_for_usec, 86400 * USEC_PER_SEC);
	assert_int_equal(c.alerts.warn_at_pct, 75);
	assert_int_equal(c.buttons.debounce_usec, 0);
	assert_int_equal(c.buttons.long_press_usec, 2 * USEC_PER_SEC);
	assert_int_equal(c.buttons.double_press_usec, 250 * USEC_PER_MSEC);
	assert_int_equal(c.store.ack_retention_usec, 86400 * USEC_PER_SEC);

	load_ok("[board]\nid = b1\n[mqtt]\nmax_payload = 2048\n[alerts]\nwarn_at = 99%\n", &c);
	assert_int_equal(c.mqtt.max_payload, 2048);
	assert_int_equal(c.alerts.warn_at_pct, 99);
	load_ok("[board]\nid = b1\n[mqtt]\nmax_payload = 16 MiB\n[alerts]\nwarn_at = 1%\n", &c);
	assert_int_equal(c.mqtt.max_payload, 16 * 1024 * 1024);
	assert_int_equal(c.alerts.warn_at_pct, 1);
	load_ok("[board]\nid = b1\n[mqtt]\nmax_payload = 1024B\n", &c);
	assert_int_equal(c.mqtt.max_payload, 1024);
}

static void
test_words_and_bools(void **state)
{
	static const char *const yes[] = { "true", "yes", "on", "1", "TRUE", "Yes" };
	static const char *const no[] = { "false", "no", "off", "0", "FALSE", "Off" };
	char text[256];
	struct conf c;
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "[board]\nid = b1\n[alerts]\nassign_acks = %s\n",
			 yes[i]);
		load_ok(text, &c);
		assert_true(c.alerts.assign_acks);
		snprintf(text, sizeof(text), "[board]\nid = b1\n[alerts]\nassign_acks = %s\n",
			 no[i]);
		load_ok(text, &c);
		assert_false(c.alerts.assign_acks);
	}
	load_ok("[board]\nid = b1\nprofile = ./boards/custom.conf\n[gpio]\nbackend = sim\n"
		"[mqtt]\nprotocol = 3.1.1\n"
		"[display]\nlanguage = da\nlisten = [::1]:8080\n"
		"[alerts]\nchirp_min_priority = urgent\naudible_in_quiet = alarm, escalated,nack\n"
		"[buttons]\non_short = none\non_long = silence\non_double = ack_all\n"
		"on_hold = ack\n",
		&c);
	assert_string_equal(c.board.profile, "./boards/custom.conf");
	assert_int_equal(c.gpio.backend, GPIO_BACKEND_SIM);
	assert_int_equal(c.mqtt.protocol, MQTT_PROTOCOL_311);
	assert_string_equal(c.display.language, "da");
	assert_string_equal(c.display.listen, "[::1]:8080");
	assert_int_equal(c.alerts.chirp_min_priority, PRIORITY_URGENT);
	assert_int_equal(c.alerts.audible_in_quiet,
			 (1u << SOUND_ALARM) | (1u << SOUND_ESCALATED) | (1u << SOUND_NACK));
	assert_int_equal(c.buttons.on_short, BUTTON_ACTION_NONE);
	assert_int_equal(c.buttons.on_long, BUTTON_ACTION_SILENCE);
	assert_int_equal(c.buttons.on_double, BUTTON_ACTION_ACK_ALL);
	assert_int_equal(c.buttons.on_hold, BUTTON_ACTION_ACK);
	load_ok("[board]\nid = b1\n[alerts]\naudible_in_quiet = none\n", &c);
	assert_int_equal(c.alerts.audible_in_quiet, 0);
	assert_string_equal(button_action_name(BUTTON_ACTION_NONE), "none");
	assert_string_equal(button_action_name(BUTTON_ACTION_ACK), "ack");
	assert_string_equal(button_action_name(BUTTON_ACTION_ACK_ALL), "ack_all");
	assert_string_equal(button_action_name(BUTTON_ACTION_SILENCE), "silence");
	assert_string_equal(button_action_name(BUTTON_ACTION_LAMP_TEST), "lamp_test");
}

static void
test_quiet_hours(void **state)
{
	struct quiet_hours q;
	struct conf c;
	char why[256], buf[CONF_VALUE_MAX];
	const char *msg;

	(void)state;
	load_ok("[board]\nid = b1\n[alerts]\ntimezone = UTC\n"
		"quiet_hours = mon-fri 20:00-08:00, sat-sun 00:00-24:00 ; nights and weekends\n",
		&c);
	assert_int_equal(
		quiet_parse("mon-fri 20:00-08:00, sat-sun 00:00-24:00", &q, why, sizeof(why)), 0);
	assert_int_equal(c.alerts.quiet_hours.n, q.n);
	assert_true(q.n >= 2);
	assert_memory_equal(&c.alerts.quiet_hours, &q, sizeof(q));
	get(&c, "alerts", "quiet_hours", buf);
	assert_string_equal(buf, "mon-fri 20:00-08:00, sat-sun 00:00-24:00");
	/* The reason quiet_parse gives reaches the user, with key and line. */
	assert_true(quiet_parse("mon-fri 20:00-08:00,", &q, why, sizeof(why)) < 0);
	msg = expect_error("[board]\nid = b1\n[alerts]\n\n\nquiet_hours = mon-fri 20:00-08:00,\n",
			   6, "alerts.quiet_hours");
	assert_string_equal(msg, why);
}

static void
test_cross_key_rules(void **state)
{
	const char *msg;
	struct conf c;

	(void)state;
	msg = expect_error("[board]\nid = b1\n[mqtt]\ntls = true\n", 4, "mqtt.tls");
	assert_non_null(strstr(msg, "cafile"));
	load_ok("[board]\nid = b1\n[mqtt]\ntls = true\ncafile = /etc/ssl/ca.pem\n", &c);
	assert_int_equal(conf_mqtt_port(&c), 8883);
	load_ok("[board]\nid = b1\n[mqtt]\ntls = yes\ncafile = ca.pem\nport = 8884\n", &c);
	assert_int_equal(conf_mqtt_port(&c), 8884);
	expect_error("[board]\nid = b1\n[mqtt]\ntls = true\ncafile = ca\ncertfile = c.pem\n", 6,
		     "mqtt.certfile");
	expect_error("[board]\nid = b1\n[mqtt]\ntls = true\ncafile = ca\nkeyfile = k.pem\n", 6,
		     "mqtt.keyfile");
	expect_error("[board]\nid = b1\n[buttons]\nlong_press = 300ms\ndouble_press = 400ms\n", 5,
		     "buttons.double_press");
	expect_error("[board]\nid = b1\n[buttons]\ndouble_press = 100ms\ndebounce = 100ms\n", 5,
		     "buttons.debounce");
}

/* conf_set is what runtime config_set uses: bad values change nothing,
 * and every value conf_get prints is accepted back. */
static void
test_set_get_roundtrip(void **state)
{
	struct conf c, before;
	struct conf_error err;
	char a[CONF_VALUE_MAX], b[CONF_VALUE_MAX], small[4];
	const char *section, *key;
	size_t i;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(conf_set(&c, "board", "id", "b1", "", 0, &err), 0);
	load_ok("[board]\nid = b9\n[mqtt]\nevents_topic = a/+, b/#\nmax_payload = 1536\n"
		"[alerts]\nquiet_hours = daily 22:00-06:00\naudible_in_quiet = ack, alarm\n",
		&c);
	for (i = 0; conf_key_at(i, &section, &key); i++) {
		struct conf copy;

		get(&c, section, key, a);
		conf_defaults(&copy);
		if (conf_set(&copy, section, key, a, "", 0, &err) < 0)
			fail_msg("%s.%s: '%s' not accepted back: %s", section, key, a, err.message);
		get(&copy, section, key, b);
		assert_string_equal(a, b);
	}
	before = c;
	assert_int_equal(conf_set(&c, "mqtt", "keepalive", "1s", "runtime", 0, &err), -EINVAL);
	assert_string_equal(err.key, "mqtt.keepalive");
	assert_string_equal(err.file, "runtime");
	assert_int_equal(conf_set(&c, "mqtt", "events_topic", "ok/+, bad/#/x", "", 0, &err),
			 -EINVAL);
	assert_int_equal(conf_set(&c, "alerts", "quiet_hours", "nope", "", 0, &err), -EINVAL);
	assert_int_equal(conf_set(&c, "alerts", "audible_in_quiet", "alarm, bogus", "", 0, &err),
			 -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_int_equal(conf_set(&c, "mqtt", "nope", "1", "", 0, &err), -EINVAL);
	assert_string_equal(err.message, "unknown key");
	assert_int_equal(conf_set(&c, "nope", "x", "1", "", 0, &err), -EINVAL);
	assert_int_equal(conf_set(&c, "alerts", "warn_at", "90", "", 0, &err), 0);
	assert_int_equal(c.alerts.warn_at_pct, 90);
	assert_int_equal(conf_get(&c, "alerts", "nope", a, sizeof(a)), -ENOENT);
	assert_int_equal(conf_get(&c, "mqtt", "host", small, sizeof(small)), -ENOSPC);
	assert_int_equal(conf_get(&c, "mqtt", "port", small, sizeof(small)), 0);
	assert_string_equal(small, "0");
}

static void
test_failed_load_keeps_conf(void **state)
{
	struct conf c, before;
	struct conf_error err;

	(void)state;
	load_ok("[board]\nid = keep\n[mqtt]\nhost = 10.1.1.1\n", &c);
	before = c;
	assert_true(load_text("[board]\nid = other\n[mqtt]\nhost = 10.2.2.2\nport = x\n", &c,
			      &err) < 0);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_true(conf_load("/nonexistent/x.conf", &c, &err) < 0);
	assert_memory_equal(&c, &before, sizeof(c));
	/* Loading the same file twice gives identical bytes (reload compares). */
	{
		const char *p = write_text("[board]\nid = same\n[mqtt]\nhost = a.example\n");
		struct conf x, y;

		memset(&x, 0xaa, sizeof(x));
		memset(&y, 0x55, sizeof(y));
		assert_int_equal(conf_load(p, &x, &err), 0);
		assert_int_equal(conf_load(p, &y, &err), 0);
		assert_memory_equal(&x.mqtt, &y.mqtt, sizeof(x.mqtt));
	}
}

static void
test_error_format(void **state)
{
	struct conf_error e;
	char buf[700], tiny[8];

	(void)state;
	assert_int_equal(conf_error_set(&e, "/etc/t.conf", 12, "alerts.warn_at", "must be %d", 5),
			 -EINVAL);
	conf_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "/etc/t.conf:12: alerts.warn_at: must be 5");
	conf_error_set(&e, "/etc/t.conf", 0, "board.id", "is required");
	conf_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "/etc/t.conf: board.id: is required");
	conf_error_set(&e, "", 0, "", "plain");
	conf_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "plain");
	conf_error_set(&e, NULL, 3, NULL, "x");
	conf_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "line 3: x");
	conf_error_set(&e, "/a/long/file/name.conf", 99, "k", "message");
	conf_error_format(&e, tiny, sizeof(tiny));
	assert_string_equal(tiny, "/a/long");
	assert_int_equal(conf_error_set(NULL, "f", 1, "k", "m"), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example_matches_defaults),
		cmocka_unit_test(test_example_lists_every_key),
		cmocka_unit_test(test_minimal_file),
		cmocka_unit_test(test_missing_board_id),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_error_names_file),
		cmocka_unit_test(test_unknown_key_and_section),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_line_endings_and_bom),
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_events_topics),
		cmocka_unit_test(test_durations_sizes_percent),
		cmocka_unit_test(test_words_and_bools),
		cmocka_unit_test(test_quiet_hours),
		cmocka_unit_test(test_cross_key_rules),
		cmocka_unit_test(test_set_get_roundtrip),
		cmocka_unit_test(test_failed_load_keeps_conf),
		cmocka_unit_test(test_error_format),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
