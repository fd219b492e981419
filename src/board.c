/* board: board profiles (SPEC §9). */
#include "board.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

/* What the current [section] describes. */
enum role_kind { ROLE_NONE, ROLE_CHIP, ROLE_OUTPUT, ROLE_BUTTON };

enum {
	KEY_LINE = 1 << 0,
	KEY_OFFSET = 1 << 1,
	KEY_ACTIVE_LOW = 1 << 2,
	KEY_BIAS = 1 << 3,
	KEY_AGENT = 1 << 4,
	KEY_DEBOUNCE = 1 << 5,
	KEY_LABEL = 1 << 6,
	KEY_PATH = 1 << 7,
};

struct section_state {
	int line;      /* where the section started; 0: absent */
	unsigned keys; /* KEY_* seen */
};

struct board_ctx {
	struct board_profile *p;
	const char *path;
	enum role_kind kind;
	unsigned index; /* output or button index */
	char section[64];
	struct section_state chip;
	struct section_state outputs[OUTPUT_COUNT];
	struct section_state buttons[BOARD_MAX_BUTTONS];
};

static const char *const output_sections[OUTPUT_COUNT] = {
	[OUTPUT_RED] = "lamp.red",   [OUTPUT_AMBER] = "lamp.amber", [OUTPUT_GREEN] = "lamp.green",
	[OUTPUT_BLUE] = "lamp.blue", [OUTPUT_BUZZER] = "buzzer",
};

static const char *const bias_names[] = {
	[BIAS_AS_IS] = "as-is",
	[BIAS_DISABLE] = "disable",
	[BIAS_PULL_UP] = "pull-up",
	[BIAS_PULL_DOWN] = "pull-down",
};

const char *
bias_name(enum bias b)
{
	return (unsigned)b < sizeof(bias_names) / sizeof(bias_names[0]) ? bias_names[b] : "?";
}

static bool
button_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 31)
		return false;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= '0' && *id <= '9') || *id == '_' ||
		      *id == '-'))
			return false;
	return true;
}

static int
on_section(void *user, const char *section, int line, struct conf_error *err)
{
	struct board_ctx *x = user;
	struct board_profile *p = x->p;
	struct section_state *st = NULL;
	unsigned i;

	snprintf(x->section, sizeof(x->section), "%s", section);
	if (strcmp(section, "chip") == 0) {
		x->kind = ROLE_CHIP;
		st = &x->chip;
	}
	for (i = 0; !st && i < OUTPUT_COUNT; i++) {
		if (strcmp(section, output_sections[i]) == 0) {
			x->kind = ROLE_OUTPUT;
			x->index = i;
			st = &x->outputs[i];
		}
	}
	if (!st && strncmp(section, "button.", 7) == 0) {
		const char *id = section + 7;

		if (!button_id_valid(id))
			return conf_error_set(err, x->path, line, "",
					      "[%s]: a button id is 1-31 of a-z, 0-9, '_', '-'",
					      section);
		for (i = 0; i < p->n_buttons && strcmp(p->buttons[i].id, id) != 0; i++)
			;
		if (i == p->n_buttons) {
			if (p->n_buttons == BOARD_MAX_BUTTONS)
				return conf_error_set(err, x->path, line, "",
						      "[%s]: at most %d buttons", section,
						      BOARD_MAX_BUTTONS);
			snprintf(p->buttons[i].id, sizeof(p->buttons[i].id), "%s", id);
			p->n_buttons++;
		}
		x->kind = ROLE_BUTTON;
		x->index = i;
		st = &x->buttons[i];
	}
	if (!st)
		return conf_error_set(err, x->path, line, "",
				      "unknown section [%s] (chip, lamp.red, lamp.amber, "
				      "lamp.green, lamp.blue, buzzer, button.<id>)",
				      section);
	if (st->line)
		return conf_error_set(err, x->path, line, "", "[%s] given twice (first on line %d)",
				      section, st->line);
	st->line = line;
	return 0;
}

static struct board_line *
current_line(struct board_ctx *x)
{
	if (x->kind == ROLE_OUTPUT)
		return &x->p->outputs[x->index];
	if (x->kind == ROLE_BUTTON)
		return &x->p->buttons[x->index].line;
	return NULL;
}

static struct section_state *
current_state(struct board_ctx *x)
{
	if (x->kind == ROLE_CHIP)
		return &x->chip;
	if (x->kind == ROLE_OUTPUT)
		return &x->outputs[x->index];
	return &x->buttons[x->index];
}

/* Two roles on one line would fight over it (or one would fail to request
 * it at start-up with a less helpful message). */
static int
check_unique(struct board_ctx *x, const struct board_line *mine, int line, const char *key,
	     struct conf_error *err)
{
	struct board_profile *p = x->p;
	const struct board_line *other;
	char where[48];
	unsigned i;

	for (i = 0; i < OUTPUT_COUNT + p->n_buttons; i++) {
		if (i < OUTPUT_COUNT) {
			other = &p->outputs[i];
			snprintf(where, sizeof(where), "%s", output_sections[i]);
		} else {
			other = &p->buttons[i - OUTPUT_COUNT].line;
			snprintf(where, sizeof(where), "button.%s",
				 p->buttons[i - OUTPUT_COUNT].id);
		}
		if (other == mine || !other->present)
			continue;
		if ((mine->name[0] && strcmp(mine->name, other->name) == 0) ||
		    (mine->offset >= 0 && mine->offset == other->offset))
			return conf_error_set(err, x->path, line, key,
					      "this line is already used by [%s]", where);
	}
	return 0;
}

static int
parse_offset(const char *v, int *out)
{
	long n = 0;

	if (!*v)
		return -EINVAL;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -EINVAL;
		n = n * 10 + (*v - '0');
		if (n > 65535)
			return -ERANGE;
	}
	*out = (int)n;
	return 0;
}

static int
on_key(void *user, const char *section, const char *key, const char *value, int line,
       struct conf_error *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "line", KEY_LINE },   { "offset", KEY_OFFSET }, { "active_low", KEY_ACTIVE_LOW },
		{ "bias", KEY_BIAS },   { "agent", KEY_AGENT },   { "debounce", KEY_DEBOUNCE },
		{ "label", KEY_LABEL }, { "path", KEY_PATH },
	};
	struct board_ctx *x = user;
	struct board_profile *p = x->p;
	struct section_state *st;
	struct board_line *bl;
	char name[80];
	unsigned bit = 0, allowed, i;
	uint64_t usec;
	bool b;

	snprintf(name, sizeof(name), "%.39s.%.39s", section, key);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(key, names[i].name) == 0)
			bit = names[i].bit;
	if (x->kind == ROLE_CHIP)
		allowed = KEY_LABEL | KEY_PATH;
	else if (x->kind == ROLE_OUTPUT)
		allowed = KEY_LINE | KEY_OFFSET | KEY_ACTIVE_LOW;
	else
		allowed = KEY_LINE | KEY_OFFSET | KEY_ACTIVE_LOW | KEY_BIAS | KEY_AGENT |
			  KEY_DEBOUNCE;
	if (!bit)
		return conf_error_set(err, x->path, line, name, "unknown key");
	if (!(bit & allowed)) {
		if (x->kind == ROLE_OUTPUT && (bit & (KEY_BIAS | KEY_AGENT | KEY_DEBOUNCE)))
			return conf_error_set(err, x->path, line, name, "applies to buttons only");
		return conf_error_set(err, x->path, line, name, "not allowed in [%s]", section);
	}
	st = current_state(x);
	if (st->keys & bit)
		return conf_error_set(err, x->path, line, name, "given twice");
	st->keys |= bit;
	bl = current_line(x);

	switch (bit) {
	case KEY_LABEL:
	case KEY_PATH:
		if (x->chip.keys == (KEY_LABEL | KEY_PATH))
			return conf_error_set(err, x->path, line, name,
					      "give either label or path, not both");
		if (bit == KEY_LABEL) {
			if (!*value || strlen(value) >= sizeof(p->chip_label))
				return conf_error_set(err, x->path, line, name,
						      "must be 1-%zu characters",
						      sizeof(p->chip_label) - 1);
			snprintf(p->chip_label, sizeof(p->chip_label), "%s", value);
		} else {
			if (value[0] != '/' || strlen(value) >= sizeof(p->chip_path))
				return conf_error_set(err, x->path, line, name,
						      "must be an absolute path such as "
						      "/dev/gpiochip0");
			snprintf(p->chip_path, sizeof(p->chip_path), "%s", value);
		}
		return 0;
	case KEY_LINE:
	case KEY_OFFSET:
		if ((st->keys & (KEY_LINE | KEY_OFFSET)) == (KEY_LINE | KEY_OFFSET))
			return conf_error_set(err, x->path, line, name,
					      "give either line or offset, not both");
		if (bit == KEY_LINE) {
			if (!*value || strlen(value) >= sizeof(bl->name) || strpbrk(value, " \t"))
				return conf_error_set(err, x->path, line, name,
						      "must be a line name such as GPIO17 "
						      "(1-%zu characters, no spaces)",
						      sizeof(bl->name) - 1);
			snprintf(bl->name, sizeof(bl->name), "%s", value);
		} else if (parse_offset(value, &bl->offset) < 0) {
			return conf_error_set(err, x->path, line, name,
					      "must be a line offset 0..65535");
		}
		bl->present = true;
		return check_unique(x, bl, line, name, err);
	case KEY_ACTIVE_LOW:
		if (conf_parse_bool(value, &b) < 0)
			return conf_error_set(err, x->path, line, name,
					      "must be true or false (or yes/no, on/off, 1/0)");
		bl->active_low = b;
		return 0;
	case KEY_BIAS:
		for (i = 0; i < sizeof(bias_names) / sizeof(bias_names[0]); i++) {
			if (strcmp(value, bias_names[i]) == 0) {
				bl->bias = (enum bias)i;
				return 0;
			}
		}
		return conf_error_set(err, x->path, line, name,
				      "must be pull-up, pull-down, disable or as-is");
	case KEY_AGENT:
		if (!*value || strlen(value) >= sizeof(p->buttons[0].agent))
			return conf_error_set(err, x->path, line, name, "must be 1-%zu characters",
					      sizeof(p->buttons[0].agent) - 1);
		snprintf(p->buttons[x->index].agent, sizeof(p->buttons[0].agent), "%s", value);
		return 0;
	case KEY_DEBOUNCE:
		if (duration_parse(value, &usec) < 0 || usec > USEC_PER_SEC)
			return conf_error_set(err, x->path, line, name,
					      "must be a duration up to 1s, e.g. 30ms "
					      "(0: the [buttons] debounce of the config)");
		p->buttons[x->index].debounce_usec = usec;
		return 0;
	default:
		return conf_error_set(err, x->path, line, name, "unknown key");
	}
}

static int
check_complete(struct board_ctx *x, struct conf_error *err)
{
	struct board_profile *p = x->p;
	unsigned i;

	if (!x->chip.line)
		return conf_error_set(err, x->path, 0, "chip",
				      "[chip] is required (label = ... or path = ...)");
	if (!(x->chip.keys & (KEY_LABEL | KEY_PATH)))
		return conf_error_set(err, x->path, x->chip.line, "chip", "needs label or path");
	for (i = 0; i < OUTPUT_COUNT; i++) {
		if (!x->outputs[i].line) {
			if (i == OUTPUT_BLUE || i == OUTPUT_BUZZER)
				continue;
			return conf_error_set(err, x->path, 0, output_sections[i],
					      "[%s] is required", output_sections[i]);
		}
		if (!p->outputs[i].present)
			return conf_error_set(err, x->path, x->outputs[i].line, output_sections[i],
					      "needs line or offset");
	}
	/* A board without a button can never acknowledge anything. */
	if (p->n_buttons == 0)
		return conf_error_set(err, x->path, 0, "button",
				      "at least one [button.<id>] is required");
	for (i = 0; i < p->n_buttons; i++) {
		if (!p->buttons[i].line.present) {
			char key[48];

			snprintf(key, sizeof(key), "button.%s", p->buttons[i].id);
			return conf_error_set(err, x->path, x->buttons[i].line, key,
					      "needs line or offset");
		}
	}
	return 0;
}

int
board_profile_load(const char *path, struct board_profile *out, struct conf_error *err)
{
	struct board_profile *p;
	struct board_ctx *x;
	unsigned i;
	int r;

	if (!path)
		return conf_error_set(err, "", 0, "", "no board profile given");
	p = calloc(1, sizeof(*p));
	x = calloc(1, sizeof(*x));
	if (!p || !x) {
		free(p);
		free(x);
		return conf_error_set(err, path, 0, "", "out of memory");
	}
	if (strlen(path) >= sizeof(p->path)) {
		r = conf_error_set(err, path, 0, "", "path is too long");
		goto out;
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	for (i = 0; i < OUTPUT_COUNT; i++)
		p->outputs[i].offset = -1;
	for (i = 0; i < BOARD_MAX_BUTTONS; i++)
		p->buttons[i].line.offset = -1;
	x->p = p;
	x->path = path;
	r = conf_ini_parse(path, on_section, on_key, x, err);
	if (r == 0)
		r = check_complete(x, err);
	if (r == 0)
		*out = *p;
out:
	free(p);
	free(x);
	return r;
}

int
board_profile_path(const char *profile, const char *board_dir, char *out, size_t size)
{
	size_t n;
	int r;

	if (!profile || !*profile || !out || size == 0)
		return -EINVAL;
	n = strlen(profile);
	if (strchr(profile, '/') || (n >= 5 && strcmp(profile + n - 5, ".conf") == 0))
		r = snprintf(out, size, "%s", profile);
	else
		r = snprintf(out, size, "%s/%s.conf", board_dir && *board_dir ? board_dir : ".",
			     profile);
	if (r < 0 || (size_t)r >= size) {
		out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

int
board_button_index(const struct board_profile *p, const char *id)
{
	unsigned i;

	for (i = 0; id && i < p->n_buttons; i++)
		if (strcmp(p->buttons[i].id, id) == 0)
			return (int)i;
	return -ENOENT;
}
