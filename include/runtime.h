/* runtime: settings changed while the board runs (config_set, quiet_hours,
 * reload; SPEC §5). A runtime value is validated exactly as the file's,
 * persisted in the store ("config.<section>.<key>") and laid over the file
 * at every start and reload, so it survives both. Only keys that can take
 * effect without reopening GPIO lines, the broker session, the store or the
 * sockets are settable (docs/admin.md lists them).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct daemon;
struct store;

enum conf_source { CONF_SOURCE_DEFAULT, CONF_SOURCE_FILE, CONF_SOURCE_RUNTIME };

const char *conf_source_name(enum conf_source s); /* "default", "file", "runtime" */

/* Whether `section`.`key` may be changed at run time. */
bool runtime_settable(const char *section, const char *key);

/* Lays the settings saved in `store` over `c` (a configuration just
 * loaded from the file) and validates the result. A saved value that is no
 * longer valid (the file changed under it) is skipped and named in `why`
 * (may be NULL); returns the number skipped, or -errno. */
int runtime_overlay(struct store *store, struct conf *c, char *why, size_t why_size);

/* The running value of one key and where it came from. 0, -ENOENT for
 * an unknown key, -ENOSPC. */
int runtime_get(struct daemon *d, const char *section, const char *key, char *buf, size_t size,
		enum conf_source *source);

/* Sets n keys together ("section", "key", value; value NULL: back to the
 * file's value), all or none: each is validated like the file, then the
 * whole configuration is validated, persisted and applied. 0, or -EINVAL
 * / -EPERM (not settable) / -EIO (store) with `why` filled. */
int runtime_set(struct daemon *d, const char *const *sections, const char *const *keys,
		const char *const *values, size_t n, char *why, size_t why_size);

/* Re-reads the configuration file, lays the runtime settings over it and,
 * only if all of it is valid, applies it (daemon_apply_conf). 0, or
 * -errno with `why` filled (the running configuration is kept). */
int runtime_reload(struct daemon *d, char *why, size_t why_size);
