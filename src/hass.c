/* hass: see include/hass.h. */
#include "hass.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct entity {
	const char *component; /* sensor, binary_sensor, button */
	const char *object;    /* unique within the board */
	const char *name;
	const char *icon;
	const char *value_template; /* sensors: from the state document */
	const char *command;        /* buttons: verb */
	const char *press;          /* buttons: request */
};

static const struct entity entities[] = {
	{ "sensor", "lamp_red", "Red lamp", "mdi:alarm-light", "{{ value_json.lamps.red }}", NULL,
	  NULL },
	{ "sensor", "lamp_amber", "Amber lamp", "mdi:alarm-light", "{{ value_json.lamps.amber }}",
	  NULL, NULL },
	{ "sensor", "lamp_green", "Green lamp", "mdi:alarm-light", "{{ value_json.lamps.green }}",
	  NULL, NULL },
	{ "sensor", "lamp_blue", "Blue lamp", "mdi:alarm-light", "{{ value_json.lamps.blue }}",
	  NULL, NULL },
	{ "sensor", "buzzer", "Buzzer", "mdi:bullhorn", "{{ value_json.buzzer }}", NULL, NULL },
	{ "sensor", "open", "Open tickets", "mdi:ticket", "{{ value_json.counts.open }}", NULL,
	  NULL },
	{ "sensor", "unacked", "Unacknowledged alerts", "mdi:bell-alert",
	  "{{ value_json.counts.unacked }}", NULL, NULL },
	{ "sensor", "warning", "SLA warnings", "mdi:timer-alert", "{{ value_json.counts.warning }}",
	  NULL, NULL },
	{ "sensor", "breached", "SLA breaches", "mdi:timer-off", "{{ value_json.counts.breached }}",
	  NULL, NULL },
	{ "binary_sensor", "muted", "Muted", "mdi:volume-off",
	  "{{ 'ON' if value_json.muted_until else 'OFF' }}", NULL, NULL },
	{ "button", "ack_all", "Acknowledge all", "mdi:check-all", NULL, "ack",
	  "{\"all\":true,\"agent\":\"homeassistant\"}" },
	{ "button", "silence", "Silence", "mdi:volume-mute", NULL, "silence", "{}" },
	{ "button", "lamp_test", "Lamp test", "mdi:lightbulb-on", NULL, "lamp_test", "{}" },
	{ "button", "mute_1h", "Mute for 1 h", "mdi:volume-off", NULL, "mute", "{\"for\":\"1h\"}" },
	{ "button", "unmute", "Unmute", "mdi:volume-high", NULL, "unmute", "{}" },
};

static cJSON *
device(const char *board, const char *version)
{
	cJSON *dev = cJSON_CreateObject();
	cJSON *ids = cJSON_AddArrayToObject(dev, "identifiers");
	char buf[96];

	snprintf(buf, sizeof(buf), "teamboard-%s", board);
	cJSON_AddItemToArray(ids, cJSON_CreateString(buf));
	snprintf(buf, sizeof(buf), "teamboard %s", board);
	cJSON_AddStringToObject(dev, "name", buf);
	cJSON_AddStringToObject(dev, "manufacturer", "teamboard");
	cJSON_AddStringToObject(dev, "model", "support-floor alert board");
	cJSON_AddStringToObject(dev, "sw_version", version);
	return dev;
}

int
hass_discovery(const char *prefix, const char *board, const char *version, hass_emit_fn emit,
	       void *userdata)
{
	char topic[384], buf[256];
	int n = 0;

	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++) {
		const struct entity *e = &entities[i];
		cJSON *o = cJSON_CreateObject();
		char *text;

		if (!o)
			return -ENOMEM;
		cJSON_AddStringToObject(o, "name", e->name);
		snprintf(buf, sizeof(buf), "teamboard_%s_%s", board, e->object);
		cJSON_AddStringToObject(o, "unique_id", buf);
		cJSON_AddStringToObject(o, "object_id", buf);
		cJSON_AddStringToObject(o, "icon", e->icon);
		cJSON_AddItemToObject(o, "device", device(board, version));
		/* Available while the board says so; its will says "lost". */
		snprintf(buf, sizeof(buf), "teamboard/%s/status", board);
		cJSON_AddStringToObject(o, "availability_topic", buf);
		cJSON_AddStringToObject(o, "availability_template",
					"{{ 'online' if value_json.state in ['ready', 'alert'] "
					"else 'offline' }}");
		if (e->command) {
			snprintf(buf, sizeof(buf), "teamboard/%s/cmd/%s", board, e->command);
			cJSON_AddStringToObject(o, "command_topic", buf);
			cJSON_AddStringToObject(o, "payload_press", e->press);
			cJSON_AddNumberToObject(o, "qos", 1);
		} else {
			snprintf(buf, sizeof(buf), "teamboard/%s/state", board);
			cJSON_AddStringToObject(o, "state_topic", buf);
			cJSON_AddStringToObject(o, "value_template", e->value_template);
		}
		snprintf(topic, sizeof(topic), "%s/%s/%s/%s/config", prefix, e->component, board,
			 e->object);
		text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!text)
			return -ENOMEM;
		emit(userdata, topic, text);
		cJSON_free(text);
		n++;
	}
	return n;
}

int
hass_wants_discovery(const char *prefix, const char *topic, const void *payload, size_t len)
{
	size_t n = strlen(prefix);

	return strncmp(topic, prefix, n) == 0 && strcmp(topic + n, "/status") == 0 && len == 6 &&
	       memcmp(payload, "online", 6) == 0;
}
