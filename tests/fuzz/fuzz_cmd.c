/* libFuzzer target: admin command and control-socket requests through the
 * one dispatcher (cmd_handle) of a real daemon on the simulated board.
 *
 * The daemon is built once (temporary config, database and socket under
 * /tmp; the broker port is closed, so MQTT only retries in the background,
 * the loop never runs). Byte 0 of each input picks the origin (control
 * socket or MQTT); the rest is the request line. Every reply must be one
 * JSON object with a status. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board.h"
#include "cmd.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "payload.h"

static struct daemon *daemon_under_test;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/teamboard-fuzz-cmd-XXXXXX";
	static struct conf conf;
	static struct board_profile profile;
	struct conf_error err;
	char path[512], sim[PATH_MAX], msg[512];
	FILE *f;
	int code;

	(void)argc;
	(void)argv;
	log_init(LOG_LEVEL_ERR);
	if (!mkdtemp(dir) || !realpath("board/sim.conf", sim)) {
		fprintf(stderr, "fuzz_cmd: run from the repository root\n");
		abort();
	}
	snprintf(path, sizeof(path), "%s/teamboard.conf", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f,
		"[board]\nid = fuzz\nprofile = %s\n[gpio]\nbackend = sim\n"
		"[mqtt]\nhost = 127.0.0.1\nport = 1\n[store]\npath = %s/state/db\n"
		"[control]\nsocket = %s/ctl.sock\n[display]\nlisten =\n",
		sim, dir, dir);
	fclose(f);
	if (conf_load(path, &conf, &err) < 0 ||
	    board_profile_load(conf.board.profile, &profile, &err) < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "fuzz_cmd: %s\n", msg);
		abort();
	}
	daemon_under_test = daemon_new(&conf, &profile, &code);
	if (!daemon_under_test)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum cmd_origin origin;
	bool watch = false;
	char *reply;

	if (size < 1)
		return 0;
	origin = data[0] & 1 ? CMD_ORIGIN_MQTT : CMD_ORIGIN_CTL;
	reply = cmd_handle(daemon_under_test, origin, NULL, (const char *)data + 1, size - 1,
			   &watch);
	if (!reply || reply[0] != '{' || !strstr(reply, "\"status\""))
		abort();
	payload_free(reply);
	return 0;
}
