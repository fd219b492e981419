/* textlist: see include/textlist.h. */
#include "textlist.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static int
is_space(char c)
{
	return isspace((unsigned char)c);
}

void
textlist_init(struct textlist *l, const char *s)
{
	const char *p = s ? s : "";

	while (is_space(*p))
		p++;
	l->next = *p ? p : NULL;
}

int
textlist_next(struct textlist *l, const char **item, size_t *len)
{
	const char *a = l->next, *comma, *e;

	if (!a)
		return 0;
	comma = strchr(a, ',');
	e = comma ? comma : a + strlen(a);
	while (a < e && is_space(*a))
		a++;
	while (e > a && is_space(e[-1]))
		e--;
	l->next = comma ? comma + 1 : NULL;
	if (a == e)
		return -EINVAL;
	*item = a;
	*len = (size_t)(e - a);
	return 1;
}
