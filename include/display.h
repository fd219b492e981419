/* display: the wall display and the read-only HTTP API (SPEC §6), an app
 * layer on top of http.c like cmd.c is for admin verbs.
 *
 *   /                 the page (embedded: web/ compiled into the binary)
 *   /events           server-sent events: "config" once, then "state" (the
 *                     status document, on every change) and "acks" (recent
 *                     acks and today's median time to ack)
 *   /api/state        the status document (SPEC §10)
 *   /api/acks         the ack log (?since=24h|RFC 3339, until, agent, limit)
 *   /healthz          liveness
 *   /metrics          Prometheus text format
 *
 * With display.token_file set, /events, /api/... and /metrics require the
 * token (?token= or "Authorization: Bearer"); the page and its assets do
 * not, they hold no data.
 */
#pragma once

#include <stddef.h>

struct daemon;
struct display;

/* Reads the token file and starts serving on display.listen. NULL with
 * *err = -errno and `why` filled (the caller logs). */
struct display *display_new(struct daemon *d, int *err, char *why, size_t why_size);
void display_free(struct display *disp); /* NULL-safe */

/* The board's visible state changed: `status` is payload_status()'s
 * document; every open page gets it (and the ack summary if acks
 * changed). NULL-safe. */
void display_push_state(struct display *disp, const char *status);
