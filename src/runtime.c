/* runtime: see include/runtime.h. */
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "store.h"

#define SETTING_PREFIX "config."

/* Keys whose new value the daemon applies in place (daemon_apply_conf):
 * alert timing and sound policy, SLA policy and priority rules, button
 * timing and actions, command age, retention. Everything else opens a device, a socket or a file.
 */
static const struct {
	const char *section, *key; /* key NULL: the whole section */
} settable[] = {
	{ "alerts", NULL },
	{ "sla", NULL },
	{ "priority", NULL },
	{ "buttons", NULL },
	{ "admin", "max_cmd_age" },
	{ "store", "ack_retention" },
	{ "store", "audit_retention" },
};

const char *
conf_source_name(enum conf_source s)
{
	switch (s) {
	case CONF_SOURCE_FILE:
		return "file";
	case CONF_SOURCE_RUNTIME:
		return "runtime";
	default:
		return "default";
	}
}

bool
runtime_settable(const char *section, const char *key)
{
	char buf[CONF_VALUE_MAX];
	struct conf *c;
	bool known;

	for (size_t i = 0; i < sizeof(settable) / sizeof(settable[0]); i++) {
		if (strcmp(settable[i].section, section) != 0)
			continue;
		if (settable[i].key && strcmp(settable[i].key, key) != 0)
			continue;
		/* The key must also exist. */
		c = malloc(sizeof(*c));
		if (!c)
			return false;
		conf_defaults(c);
		known = conf_get(c, section, key, buf, sizeof(buf)) == 0;
		free(c);
		return known;
	}
	return false;
}

static void
setting_name(const char *section, const char *key, char *buf, size_t size)
{
	snprintf(buf, size, SETTING_PREFIX "%.48s.%.48s", section, key);
}

int
runtime_overlay(struct store *store, struct conf *c, char *why, size_t why_size)
{
	const char *section, *key;
	char name[STORE_SETTING_KEY_MAX], *value;
	int skipped = 0, r = 0;

	if (why && why_size)
		why[0] = '\0';
	value = malloc(STORE_SETTING_VALUE_MAX);
	if (!value)
		return -ENOMEM;
	for (size_t i = 0; conf_key_at(i, &section, &key); i++) {
		struct conf_error err;
		struct conf *trial;

		if (!runtime_settable(section, key))
			continue;
		setting_name(section, key, name, sizeof(name));
		r = store_setting_get(store, name, value, STORE_SETTING_VALUE_MAX);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		/* One value at a time on a copy, so a bad one costs only itself. */
		trial = malloc(sizeof(*trial));
		if (!trial) {
			r = -ENOMEM;
			break;
		}
		*trial = *c;
		if (conf_set(trial, section, key, value, "runtime", 0, &err) < 0 ||
		    conf_validate(trial, &err) < 0) {
			if (why && why_size)
				snprintf(why, why_size, "%s.%s = %.64s", section, key, value);
			skipped++;
		} else {
			*c = *trial;
		}
		free(trial);
	}
	free(value);
	return r < 0 ? r : skipped;
}

int
runtime_get(struct daemon *d, const char *section, const char *key, char *buf, size_t size,
	    enum conf_source *source)
{
	char name[STORE_SETTING_KEY_MAX], saved[16];
	char *dflt_val, *file_val;
	struct conf *dflt, *file;
	struct conf_error err;
	int r = conf_get(&d->conf, section, key, buf, size);

	if (r < 0)
		return r;
	setting_name(section, key, name, sizeof(name));
	r = store_setting_get(d->store, name, saved, sizeof(saved));
	if (runtime_settable(section, key) && (r == 0 || r == -ERANGE)) {
		*source = CONF_SOURCE_RUNTIME;
		return 0;
	}
	/* The parser keeps no record of which keys a file set, so a key is
	 * "file" when the file's value differs from the default; a file that
	 * sets a key to its default reads as "default", which is the same
	 * value. */
	dflt = malloc(sizeof(*dflt));
	file = malloc(sizeof(*file));
	dflt_val = malloc(CONF_VALUE_MAX);
	file_val = malloc(CONF_VALUE_MAX);
	*source = CONF_SOURCE_DEFAULT;
	if (dflt && file && dflt_val && file_val) {
		conf_defaults(dflt);
		if (!*d->conf.path || conf_load(d->conf.path, file, &err) < 0)
			*file = d->conf; /* file unreadable now: judge the running one */
		if (conf_get(dflt, section, key, dflt_val, CONF_VALUE_MAX) == 0 &&
		    conf_get(file, section, key, file_val, CONF_VALUE_MAX) == 0 &&
		    strcmp(dflt_val, file_val) != 0)
			*source = CONF_SOURCE_FILE;
	}
	free(dflt);
	free(file);
	free(dflt_val);
	free(file_val);
	return 0;
}

int
runtime_set(struct daemon *d, const char *const *sections, const char *const *keys,
	    const char *const *values, size_t n, char *why, size_t why_size)
{
	struct conf *nc = malloc(sizeof(*nc)), *file = NULL;
	struct conf_error err;
	char name[STORE_SETTING_KEY_MAX];
	int r = 0;

	if (!nc)
		return -ENOMEM;
	*nc = d->conf;
	for (size_t i = 0; i < n; i++) {
		if (!runtime_settable(sections[i], keys[i])) {
			snprintf(why, why_size, "%.48s.%.48s cannot be changed at run time",
				 sections[i], keys[i]);
			r = -EPERM;
			goto out;
		}
		if (values[i])
			r = conf_set(nc, sections[i], keys[i], values[i], "runtime", 0, &err);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = conf_validate(nc, &err);
	if (r < 0) {
		conf_error_format(&err, why, why_size);
		r = -EINVAL;
		goto out;
	}
	/* Back to the file's value: what the file says now. */
	for (size_t i = 0; i < n; i++) {
		char value[CONF_VALUE_MAX];

		if (values[i])
			continue;
		if (!file) {
			file = malloc(sizeof(*file));
			if (!file) {
				r = -ENOMEM;
				goto out;
			}
			if (conf_load(d->conf.path, file, &err) < 0) {
				conf_error_format(&err, why, why_size);
				r = -EINVAL;
				goto out;
			}
		}
		conf_get(file, sections[i], keys[i], value, sizeof(value));
		conf_set(nc, sections[i], keys[i], value, "file", 0, &err);
	}
	/* Persist first: a value applied but not stored would vanish at the
	 * next restart, which an admin would not expect. */
	for (size_t i = 0; i < n; i++) {
		char value[CONF_VALUE_MAX];

		setting_name(sections[i], keys[i], name, sizeof(name));
		if (values[i]) {
			conf_get(nc, sections[i], keys[i], value, sizeof(value));
			r = store_setting_set(d->store, name, value);
		} else {
			r = store_setting_delete(d->store, name);
		}
		if (r < 0) {
			snprintf(why, why_size, "could not store %s: %s", name,
				 store_errmsg(d->store));
			r = -EIO;
			goto out;
		}
	}
	daemon_apply_conf(d, nc);
out:
	free(file);
	free(nc);
	return r;
}

int
runtime_reload(struct daemon *d, char *why, size_t why_size)
{
	struct conf *nc = malloc(sizeof(*nc));
	struct conf_error err;
	char skipped_why[256];
	int r;

	if (!nc)
		return -ENOMEM;
	r = conf_load(d->conf.path, nc, &err);
	if (r < 0) {
		conf_error_format(&err, why, why_size);
		free(nc);
		return r;
	}
	r = runtime_overlay(d->store, nc, skipped_why, sizeof(skipped_why));
	if (r < 0) {
		snprintf(why, why_size, "could not read runtime settings: %s",
			 store_errmsg(d->store));
		free(nc);
		return -EIO;
	}
	if (r > 0)
		log_warning("Reload: %d runtime setting(s) no longer valid, file values used (%s)",
			    r, skipped_why);
	daemon_apply_conf(d, nc);
	free(nc);
	log_notice("Configuration reloaded from %s", d->conf.path);
	return 0;
}
