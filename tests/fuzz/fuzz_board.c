/* libFuzzer target for board profiles (board_profile_load).
 *
 * The input becomes the profile file through a memfd opened by path, so the
 * real file path runs: open, INI reader, section and key checks, the
 * one-line-one-role rule and the completeness checks.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "board.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct board_profile p;
	struct conf_error err;
	char msg[700];
	unsigned i, j;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_board", MFD_CLOEXEC);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	memset(&err, 0, sizeof(err));
	if (board_profile_load(path, &p, &err) < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		if (!err.message[0])
			abort();
		return 0;
	}
	/* An accepted profile keeps the promises the GPIO backends rely on. */
	if (!p.chip_label[0] == !p.chip_path[0])
		abort();
	if (!p.outputs[OUTPUT_RED].present || !p.outputs[OUTPUT_AMBER].present ||
	    !p.outputs[OUTPUT_GREEN].present)
		abort();
	if (p.n_buttons < 1 || p.n_buttons > BOARD_MAX_BUTTONS)
		abort();
	for (i = 0; i < p.n_buttons; i++) {
		if (board_button_index(&p, p.buttons[i].id) != (int)i)
			abort();
		if (!p.buttons[i].line.present)
			abort();
		for (j = 0; j < OUTPUT_COUNT; j++)
			if (p.outputs[j].present && p.buttons[i].line.name[0] &&
			    strcmp(p.outputs[j].name, p.buttons[i].line.name) == 0)
				abort();
	}
	for (i = 0; i < OUTPUT_COUNT; i++) {
		const struct board_line *l = &p.outputs[i];

		if (l->present && !l->name[0] == (l->offset < 0))
			abort();
		if (l->present && bias_name(l->bias)[0] == '?')
			abort();
	}
	return 0;
}
