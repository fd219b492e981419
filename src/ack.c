/* ack: names of acknowledgement sources as they appear in ack records. */
#include <errno.h>
#include <string.h>

#include "ack.h"

static const char *const ack_source_names[ACK_SOURCE_COUNT] = {
	[ACK_SOURCE_BUTTON] = "button",
	[ACK_SOURCE_MQTT] = "mqtt",
	[ACK_SOURCE_CTL] = "ctl",
	[ACK_SOURCE_ASSIGN] = "assign",
};

const char *
ack_source_name(enum ack_source s)
{
	return (unsigned)s < ACK_SOURCE_COUNT ? ack_source_names[s] : "unknown";
}

int
ack_source_from_name(const char *s, enum ack_source *out)
{
	if (!s || !out)
		return -EINVAL;
	for (int i = 0; i < ACK_SOURCE_COUNT; i++) {
		if (strcmp(ack_source_names[i], s) == 0) {
			*out = (enum ack_source)i;
			return 0;
		}
	}
	return -EINVAL;
}
