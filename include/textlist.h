/* textlist: the comma-separated lists of config values ("a, b, c"). */
#pragma once

#include <stddef.h>

struct textlist {
	const char *next; /* what is left after the last item; NULL: done */
};

/* Starts reading `s` (NULL or blank: a list with no items). `s` is borrowed
 * and must outlive the walk. */
void textlist_init(struct textlist *l, const char *s);

/* The next item, spaces around it cut off: its first byte in *item and its
 * length in *len. Returns 1 for an item, 0 when the list is done, -EINVAL
 * for an empty item (a stray comma, also a trailing one). */
int textlist_next(struct textlist *l, const char **item, size_t *len);
