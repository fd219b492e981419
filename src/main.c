/* teamboardd: command line, configuration, then the daemon's loop. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "checkboard.h"
#include "conf.h"
#include "daemon.h"
#include "gpio.h"
#include "log.h"
#include "tls.h"

#define EXIT_USAGE     64
#define EXIT_CONFIG    78
#define DEFAULT_CONFIG "/etc/teamboard/teamboard.conf"

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: teamboardd [OPTIONS]\n"
		"\n"
		"The teamboard daemon: turns helpdesk ticket and SLA events from MQTT into\n"
		"stack-light lamps and buzzer sounds, and records button acknowledgements.\n"
		"It runs in the foreground; systemd supervises it (teamboard.service).\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"      --check-config  check the configuration and board profile, then exit\n"
		"      --check-board   list each role's chip and line and whether it is\n"
		"                      free or used (and by whom), like gpioinfo; exit 1\n"
		"                      if a line is missing or held by another program\n"
		"      --reset-outputs drive every output of the board off, then exit\n"
		"                      (systemd runs this after the daemon stops or crashes)\n"
		"  -v, --verbose       log debug messages too\n"
		"      --version       print the version and exit\n"
		"  -h, --help          show this help and exit\n"
		"\n"
		"Signals: SIGHUP reloads the configuration (an invalid file keeps the running\n"
		"one), SIGTERM and SIGINT stop cleanly with every output off.\n"
		"Exit status: 0 stopped cleanly, 64 usage error, 78 configuration error,\n"
		"1 other start-up failure (database, GPIO, control socket).\n"
		"Documentation: README.md and docs/ in the source tree; teamboardctl --help.\n",
		DEFAULT_CONFIG);
}

static int
load_config(const char *path, struct conf *conf, struct board_profile *profile)
{
	struct conf_error err;
	char msg[640], profile_path[CONF_PATH_MAX];

	if (conf_load(path, conf, &err) < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		log_error("Invalid configuration: %s", msg);
		return -1;
	}
	if (board_profile_path(conf->board.profile, conf->board.profile_dir, profile_path,
			       sizeof(profile_path)) < 0) {
		log_error("Invalid configuration: %s: board.profile: '%s' is too long", path,
			  conf->board.profile);
		return -1;
	}
	if (board_profile_load(profile_path, profile, &err) < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		log_error("Invalid board profile: %s", msg);
		return -1;
	}
	return 0;
}

/* --check-config also loads the TLS files, as the daemon will: a CA file
 * that is not PEM is found before a restart, not by a board that stays
 * off the broker. tls.c logs what is wrong with which key. */
static int
check_tls_files(const struct conf *conf)
{
	struct tls_config tc = {
		.host = conf->mqtt.host,
		.cafile = conf->mqtt.cafile,
		.certfile = conf->mqtt.certfile,
		.keyfile = conf->mqtt.keyfile,
	};
	struct tls *t;
	int r = 0;

	if (!conf->mqtt.tls)
		return 0;
	t = tls_new(&tc, &r);
	if (!t)
		return r;
	tls_free(t);
	return 0;
}

/* After a crash the lines may be left driven (or revert to whatever the
 * kernel's default is): requesting them again drives every output off. */
static int
reset_outputs(const struct conf *conf, const struct board_profile *profile)
{
	const struct gpio_ops *ops =
		conf->gpio.backend == GPIO_BACKEND_SIM ? &gpio_sim_ops : &gpio_gpiod_ops;
	char why[256];
	struct gpio *g = gpio_new(ops, profile, NULL, NULL, why, sizeof(why));

	if (!g) {
		log_error("Failed to reset outputs (%s backend): %s", ops->name, why);
		return 1;
	}
	gpio_free(g);
	log_info("All outputs of %s are off", profile->path);
	return 0;
}

int
main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_VERSION, OPT_RESET, OPT_CHECK_BOARD };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "check-board", no_argument, NULL, OPT_CHECK_BOARD },
		{ "reset-outputs", no_argument, NULL, OPT_RESET },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG;
	bool check = false, reset = false, check_hw = false;
	enum log_level level = LOG_LEVEL_INFO;
	struct conf *conf;
	struct board_profile *profile;
	struct daemon *d;
	int opt, code;

	while ((opt = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_RESET:
			reset = true;
			break;
		case OPT_CHECK_BOARD:
			check_hw = true;
			break;
		case 'v':
			level = LOG_LEVEL_DEBUG;
			break;
		case OPT_VERSION:
			printf("teamboardd %s\n", TEAMBOARD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'teamboardd --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "teamboardd: unexpected argument '%s'\nTry 'teamboardd --help'.\n",
			argv[optind]);
		return EXIT_USAGE;
	}

	log_init(level);
	conf = calloc(1, sizeof(*conf));
	profile = calloc(1, sizeof(*profile));
	if (!conf || !profile) {
		log_error("Out of memory");
		free(conf);
		free(profile);
		return 1;
	}
	if (load_config(config, conf, profile) < 0) {
		code = EXIT_CONFIG;
		goto out;
	}
	if (check && check_tls_files(conf) < 0) {
		code = EXIT_CONFIG;
		goto out;
	}
	if (check) {
		printf("%s: configuration OK (board %s, profile %s, %u button%s)\n", config,
		       conf->board.id, profile->path, profile->n_buttons,
		       profile->n_buttons == 1 ? "" : "s");
		code = 0;
		goto out;
	}

	if (reset) {
		code = reset_outputs(conf, profile);
		goto out;
	}
	if (check_hw) {
		code = check_board(conf->gpio.backend == GPIO_BACKEND_SIM ? &gpio_sim_ops
									  : &gpio_gpiod_ops,
				   profile, stdout);
		goto out;
	}

	d = daemon_new(conf, profile, &code);
	if (d) {
		code = daemon_run(d);
		daemon_free(d);
		log_notice("Stopped");
	}
out:
	free(profile);
	free(conf);
	return code;
}
