/* ctl: the local control socket (SPEC §5), a UNIX stream socket speaking
 * JSON lines. Each request line is handed to the request callback; replies
 * are lines too. A client can ask to watch: then it also receives every
 * line passed to ctl_broadcast(). The socket works while the broker is down.
 *
 * Caps: max_clients connections, CTL_LINE_MAX bytes per request line (a
 * longer line gets an error reply and the client is dropped), CTL_OUTBUF_MAX
 * bytes queued per client (a client that does not read is dropped).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CTL_LINE_MAX   (64 * 1024)
#define CTL_OUTBUF_MAX (1024 * 1024)

struct loop;
struct ctl;
struct ctl_client;

/* `line` is NUL-terminated without its '\n' and valid until the callback
 * returns; `client` stays valid until the callback returns (replying later
 * is not supported). */
typedef void (*ctl_request_fn)(void *userdata, struct ctl_client *client, const char *line,
			       size_t len);

/* Binds `path` (mode 0660; a stale socket file is replaced, a live one is
 * an error -EADDRINUSE) and starts accepting. NULL with *err on failure. */
struct ctl *ctl_new(struct loop *loop, const char *path, size_t max_clients,
		    ctl_request_fn on_request, void *userdata, int *err);
/* Closes all clients, removes the socket file. NULL-safe. */
void ctl_free(struct ctl *ctl);

/* Queues `line` plus '\n' to the client. -ENOBUFS if it would exceed
 * CTL_OUTBUF_MAX (the client is then dropped). */
int ctl_reply(struct ctl_client *client, const char *line);
/* Marks the client as a watcher (receives broadcasts). */
void ctl_watch(struct ctl_client *client);
/* Sends `line` to every watcher. */
void ctl_broadcast(struct ctl *ctl, const char *line);
size_t ctl_watchers(const struct ctl *ctl);
