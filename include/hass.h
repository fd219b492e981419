/* hass: Home Assistant MQTT discovery (homeassistant.discovery, off by
 * default). The board appears as one device: a sensor per lamp and per
 * counter, the buzzer, a "muted" binary sensor, and buttons for ack all,
 * silence, lamp test, mute 1 h and unmute that publish ordinary admin
 * commands. Entities read the retained teamboard/<board>/state topic and
 * are available while teamboard/<board>/status says ready or alert.
 * Pure code: the daemon publishes what hass_discovery() emits (retained).
 */
#pragma once

#include <stddef.h>

/* Calls emit(userdata, topic, payload) once per entity: topic
 * "<prefix>/<component>/<board>/<object>/config", payload a JSON document.
 * Returns the number emitted, or -ENOMEM. */
typedef void (*hass_emit_fn)(void *userdata, const char *topic, const char *payload);
int hass_discovery(const char *prefix, const char *board, const char *version, hass_emit_fn emit,
		   void *userdata);

/* Whether a message on "<prefix>/status" (Home Assistant's birth and will
 * message) asks for discovery to be sent again: payload "online". */
int hass_wants_discovery(const char *prefix, const char *topic, const void *payload, size_t len);
