/* web_assets: the wall display's files (web/), compiled into the binary by
 * tools/embed-web at build time, so the page works without any network. */
#pragma once

#include <stddef.h>

struct web_asset {
	const char *path;         /* "/app.js" */
	const char *content_type; /* "text/javascript; charset=utf-8" */
	const unsigned char *data;
	size_t len;
	const char *etag; /* quoted content hash */
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;
