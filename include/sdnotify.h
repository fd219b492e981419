/* sdnotify: the systemd notification protocol (sd_notify(3)) without
 * libsystemd: one datagram to $NOTIFY_SOCKET. No-ops when not under systemd. */
#pragma once

#include <stdint.h>

/* Sends `state` ("READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1").
 * Returns 1 if sent, 0 if not under systemd, -errno on failure. */
int sdnotify(const char *state);

/* The watchdog interval from $WATCHDOG_USEC (0: no watchdog). */
uint64_t sdnotify_watchdog_usec(void);
