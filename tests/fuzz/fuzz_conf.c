/* libFuzzer target for the configuration file parser (conf_load).
 *
 * The input becomes the file: it is written to a memfd that conf_load opens
 * through /proc/self/fd, so the whole path (open, INI reader, every key's
 * setter, validation) runs as for a real file. Accepted configurations are
 * then printed key by key and fed back through conf_set.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, copy;
	struct conf_error err;
	char msg[700], value[CONF_VALUE_MAX];
	const char *section, *key;
	size_t i;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_conf", MFD_CLOEXEC);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	memset(&err, 0, sizeof(err));
	if (conf_load(path, &c, &err) < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		if (!err.message[0])
			abort(); /* every failure says why */
		return 0;
	}
	for (i = 0; conf_key_at(i, &section, &key); i++) {
		if (conf_get(&c, section, key, value, sizeof(value)) < 0)
			abort();
		conf_defaults(&copy);
		/* What conf_get prints, conf_set must accept back. */
		if (conf_set(&copy, section, key, value, "fuzz", 0, &err) < 0)
			abort();
	}
	return 0;
}
