/* board: board profiles (SPEC §9), INI files under board/ that say which
 * line of which chip is which lamp, the buzzer and the buttons. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "conferr.h"
#include "signals.h"

#define BOARD_MAX_BUTTONS 8
#define BOARD_NAME_MAX    64

enum bias { BIAS_AS_IS, BIAS_DISABLE, BIAS_PULL_UP, BIAS_PULL_DOWN };

/* A line is found by name (`line = GPIO17`) or by offset (`offset = 17`). */
struct board_line {
	bool present;
	char name[BOARD_NAME_MAX]; /* "" when found by offset */
	int offset;                /* -1 when found by name */
	bool active_low;
	enum bias bias;
};

struct board_button {
	char id[32]; /* section suffix: [button.ack1] -> "ack1" */
	struct board_line line;
	char agent[64];         /* "" if none */
	uint64_t debounce_usec; /* 0: [buttons] debounce */
};

struct board_profile {
	char path[256];
	char chip_label[BOARD_NAME_MAX]; /* one of label/path is set */
	char chip_path[128];
	struct board_line outputs[OUTPUT_COUNT]; /* red amber green are required */
	struct board_button buttons[BOARD_MAX_BUTTONS];
	unsigned n_buttons;
};

/* Loads a profile. Sections: [chip] label|path; [lamp.red|amber|green|blue];
 * [buzzer]; [button.<id>] (1..8). Keys: line|offset, active_low, bias,
 * agent (buttons), debounce (buttons). Unknown sections/keys and bad values
 * are errors naming file, line and key. */
int board_profile_load(const char *path, struct board_profile *out, struct conf_error *err);

/* Turns a `board.profile` value into a path: a value containing '/' or
 * ending in ".conf" is a path; otherwise "<board_dir>/<name>.conf". */
int board_profile_path(const char *profile, const char *board_dir, char *out, size_t size);

/* The button's index by id, -ENOENT if none. */
int board_button_index(const struct board_profile *p, const char *id);

const char *bias_name(enum bias b);
