/* maptest: see include/maptest.h. The payload goes through the same two
 * steps as in teamboardd: mapping_apply(), then event_parse(). */
#include "maptest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conferr.h"
#include "event.h"
#include "mapping.h"
#include "timeutil.h"

#ifndef TEAMBOARD_MAPPING_DIR
#define TEAMBOARD_MAPPING_DIR "/usr/local/share/teamboard/mappings"
#endif

#define EXIT_OK         0
#define EXIT_REJECTED   1
#define EXIT_USAGE      64
#define DEFAULT_CONFIG  "/etc/teamboard/teamboard.conf"
#define PAYLOAD_MAX     (16 * 1024 * 1024)
#define REJECTED_MAX_ID 256

struct result {
	unsigned rejected;
	/* ids event_parse() rejected, to leave out of the printed events */
	char (*ids)[EVENT_ID_MAX];
	size_t n_ids;
};

static void
on_reject(void *userdata, const char *event_id, const char *reason)
{
	struct result *r = userdata;

	r->rejected++;
	fprintf(stderr, "rejected%s%s: %s\n", event_id ? " " : "", event_id ? event_id : "",
		reason);
	if (event_id && r->n_ids < REJECTED_MAX_ID && strlen(event_id) < EVENT_ID_MAX)
		memcpy(r->ids[r->n_ids++], event_id, strlen(event_id) + 1);
}

static void
on_accept(void *userdata, const struct event *ev)
{
	(void)userdata;
	(void)ev;
}

struct src_ctx {
	char *src;
	const char *path;
};

static int
only_mapping_key(void *user, const char *section, const char *key, const char *value, int line,
		 struct conf_error *err)
{
	struct src_ctx *x = user;

	if (!mapping_section(section, NULL))
		return 0;
	return mapping_src_add(x->src, MAPPING_SRC_MAX, section, key, value, x->path, line, err);
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			if (cap > PAYLOAD_MAX + 1 || !(nb = realloc(buf, cap))) {
				errno = EFBIG;
				goto fail;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0) {
			if (ferror(f))
				goto fail;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}

__attribute__((format(printf, 1, 2))) static int
usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "teamboardctl map-test: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: teamboardctl [-c CONFIG] map-test FILE [--mapping NAME | "
			"--preset NAME|PATH] [--topic TOPIC]\n");
	return EXIT_USAGE;
}

/* The events of `mapped` that event_parse() accepted, pretty-printed. */
static void
print_accepted(const char *mapped, const struct result *res)
{
	cJSON *arr = cJSON_Parse(mapped), *ev, *next;
	char *text;

	if (!arr)
		return;
	for (ev = arr->child; ev; ev = next) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");

		next = ev->next;
		for (size_t i = 0; cJSON_IsString(id) && i < res->n_ids; i++)
			if (strcmp(res->ids[i], id->valuestring) == 0) {
				cJSON_Delete(cJSON_DetachItemViaPointer(arr, ev));
				break;
			}
	}
	text = cJSON_Print(arr);
	if (text)
		printf("%s\n", text);
	cJSON_free(text);
	cJSON_Delete(arr);
}

int
maptest_main(const char *config, int argc, char **argv)
{
	const char *file = NULL, *name = NULL, *preset = NULL, *topic = NULL;
	struct conf_error err = { 0 };
	struct mapping_set *set = NULL;
	const struct mapping *m = NULL;
	struct result res = { 0 };
	char msg[sizeof(err) + 16], *src = NULL, *payload = NULL, *mapped = NULL;
	size_t len = 0;
	int r, rc = EXIT_USAGE;

	for (int i = 0; i < argc; i++) {
		const char **opt = NULL;

		if (strcmp(argv[i], "--mapping") == 0)
			opt = &name;
		else if (strcmp(argv[i], "--preset") == 0)
			opt = &preset;
		else if (strcmp(argv[i], "--topic") == 0)
			opt = &topic;
		else if (argv[i][0] == '-' && argv[i][1])
			return usage("unknown option '%s'", argv[i]);
		else if (file)
			return usage("one FILE only, not also '%s'", argv[i]);
		else
			file = argv[i];
		if (opt && (i + 1 >= argc || !argv[i + 1][0]))
			return usage("option '%s' needs a value", argv[i]);
		if (opt)
			*opt = argv[++i];
	}
	if (!file)
		return usage("no FILE given (a payload as the helpdesk sends it, or - for stdin)");
	if (name && preset)
		return usage("--mapping and --preset exclude each other");

	src = calloc(1, MAPPING_SRC_MAX);
	res.ids = calloc(REJECTED_MAX_ID, sizeof(*res.ids));
	if (!src || !res.ids) {
		fprintf(stderr, "teamboardctl map-test: out of memory\n");
		goto out;
	}
	if (preset) {
		/* A section named after the preset, as [mapping zendesk] would
		 * be: the fallback ids come out as the daemon makes them. */
		const char *base = strrchr(preset, '/') ? strrchr(preset, '/') + 1 : preset;
		char section[64];

		snprintf(section, sizeof(section), "mapping %.*s", (int)strcspn(base, "."), base);
		r = mapping_src_add(src, MAPPING_SRC_MAX, section, "preset", preset,
				    "(command line)", 0, &err);
		config = "(command line)";
	} else {
		struct src_ctx x = { src, config && *config ? config : DEFAULT_CONFIG };

		config = x.path;
		r = conf_ini_parse(config, NULL, only_mapping_key, &x, &err);
	}
	if (r == 0)
		r = mapping_set_compile(src, config, TEAMBOARD_MAPPING_DIR, &set, &err);
	if (r < 0) {
		conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "teamboardctl map-test: %s\n", msg);
		goto out;
	}
	if (name)
		m = mapping_set_find(set, name);
	else if (topic)
		m = mapping_set_match(set, topic);
	else if (mapping_set_count(set) == 1)
		m = mapping_set_at(set, 0);
	if (!m) {
		if (name || topic)
			fprintf(stderr, "teamboardctl map-test: no [mapping] %s '%s' in %s\n",
				name ? "named" : "for topic", name ? name : topic, config);
		else
			fprintf(stderr,
				"teamboardctl map-test: %s has %zu [mapping] sections: choose one "
				"with --mapping NAME or --topic TOPIC\n",
				config, mapping_set_count(set));
		goto out;
	}

	payload = read_all(file, &len);
	if (!payload) {
		fprintf(stderr, "teamboardctl map-test: cannot read '%s': %s\n", file,
			strerror(errno));
		goto out;
	}
	r = mapping_apply(m, payload, len, EVENT_MAX_PER_MESSAGE, time_wall_ms(), &mapped,
			  on_reject, &res);
	if (r == -ENOMEM) {
		fprintf(stderr, "teamboardctl map-test: out of memory\n");
		goto out;
	}
	if (mapped)
		event_parse(mapped, strlen(mapped), EVENT_MAX_PER_MESSAGE, on_accept, on_reject,
			    &res);
	print_accepted(mapped ? mapped : "[]", &res);
	rc = res.rejected || r <= 0 ? EXIT_REJECTED : EXIT_OK;
out:
	free(mapped);
	free(payload);
	free(res.ids);
	free(src);
	mapping_set_free(set);
	return rc;
}
