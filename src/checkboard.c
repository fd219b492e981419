/* checkboard: the --check-board report (see checkboard.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checkboard.h"

#define MAX_ROLES (OUTPUT_COUNT + BOARD_MAX_BUTTONS)
/* the consumer name both libgpiod backends request lines with */
#define OWN_CONSUMER "teamboard"

static void
wanted(const struct board_line *want, char *buf, size_t size)
{
	if (!want)
		snprintf(buf, size, "?");
	else if (want->name[0])
		snprintf(buf, size, "line '%s'", want->name);
	else
		snprintf(buf, size, "offset %d", want->offset);
}

static void
flags(const struct gpio_line_info *li, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", li->is_output ? "output" : "input",
		 li->active_low ? " active-low" : "",
		 li->bias == BIAS_AS_IS ? ""
					: (li->bias == BIAS_PULL_UP     ? " pull-up"
					   : li->bias == BIAS_PULL_DOWN ? " pull-down"
									: " bias-disabled"));
}

/* The first earlier role that resolved to the same line, or -1. */
static int
same_line(const struct gpio_line_info *info, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (info[j].err == 0 && strcmp(info[j].chip, info[i].chip) == 0 &&
		    info[j].offset == info[i].offset)
			return (int)j;
	return -1;
}

int
check_board(const struct gpio_ops *ops, const struct board_profile *p, FILE *out)
{
	struct gpio_line_info info[MAX_ROLES];
	unsigned missing = 0, busy = 0, own = 0, clash = 0;
	char why[512], want[BOARD_NAME_MAX + 16], fl[64];
	int n;

	n = gpio_describe(ops, p, info, MAX_ROLES, why, sizeof(why));
	if (n < 0) {
		fprintf(out, "%s: %s\n", p->path, why[0] ? why : strerror(-n));
		return 1;
	}
	fprintf(out, "%s: chip '%s' (%s backend)\n", p->path,
		p->chip_label[0] ? p->chip_label : p->chip_path, ops->name);
	fprintf(out, "%-14s %-11s %6s  %-12s %-28s %s\n", "ROLE", "CHIP", "OFFSET", "NAME", "FLAGS",
		"STATE");
	for (int i = 0; i < n; i++) {
		const struct gpio_line_info *li = &info[i];
		int dup;

		wanted(li->want, want, sizeof(want));
		if (li->err) {
			missing++;
			fprintf(out, "%-14s %-11s %6s  %-12s %-28s NOT FOUND: %s %s\n", li->role,
				li->chip[0] ? li->chip : "-", "-", "-", "-", want,
				li->err == -ENOENT || li->err == -EINVAL ? "is not on this chip"
									 : strerror(-li->err));
			continue;
		}
		flags(li, fl, sizeof(fl));
		fprintf(out, "%-14s %-11s %6u  %-12s %-28s ", li->role, li->chip, li->offset,
			li->name[0] ? li->name : "unnamed", fl);
		dup = same_line(info, (size_t)i);
		if (dup >= 0) {
			clash++;
			fprintf(out, "CLASH: same line as %s\n", info[dup].role);
		} else if (!li->used) {
			fprintf(out, "free\n");
		} else if (strcmp(li->consumer, OWN_CONSUMER) == 0) {
			own++;
			fprintf(out, "used by \"%s\" (a running teamboardd)\n", li->consumer);
		} else {
			busy++;
			fprintf(out, "BUSY: used by \"%s\"\n",
				li->consumer[0] ? li->consumer : "the kernel");
		}
	}
	if (missing + busy + clash == 0) {
		fprintf(out, "%d roles resolved, %s\n", n,
			own ? "held by teamboard (the daemon is running)" : "all lines free");
		return 0;
	}
	fprintf(out,
		"%d roles: %u not found, %u used by others, %u on a shared line: "
		"teamboardd cannot start with this profile\n",
		n, missing, busy, clash);
	return 1;
}
