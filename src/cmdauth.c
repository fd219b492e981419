/* cmdauth: see include/cmdauth.h. */
#include "cmdauth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "timeutil.h"

/* Deeper nesting than any admin request needs; bounds the recursion. */
#define CANON_MAX_DEPTH 16

static int
by_key(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	return strcmp(x->string, y->string);
}

/* Sorts every object's members by key (byte order of UTF-8, which is code
 * point order, as jq -S sorts). A duplicate key is refused: two readers
 * of the same bytes must never see different requests. */
static int
sort_keys(cJSON *node, int depth)
{
	cJSON **items;
	size_t n = 0, i = 0;
	int r = 0;

	if (depth > CANON_MAX_DEPTH)
		return -EBADMSG;
	if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
		return 0;
	for (cJSON *c = node->child; c; c = c->next) {
		n++;
		r = sort_keys(c, depth + 1);
		if (r < 0)
			return r;
	}
	if (!cJSON_IsObject(node) || n < 2)
		return 0;
	items = malloc(n * sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (cJSON *c = node->child; c; c = c->next)
		items[i++] = c;
	qsort(items, n, sizeof(*items), by_key);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(items[i]->string, items[i + 1]->string) == 0)
			r = -EBADMSG;
		items[i]->prev = i ? items[i - 1] : items[n - 1];
		items[i]->next = i + 1 < n ? items[i + 1] : NULL;
	}
	node->child = items[0];
	free(items);
	return r;
}

int
cmdauth_canonical(const char *verb, const char *target, const char *request, size_t len, char **out)
{
	cJSON *root;
	char *body, *text;
	size_t size;
	int r;

	*out = NULL;
	if (!verb || !target || !request)
		return -EBADMSG;
	/* A NUL would end a C string early: bytes after it would be unsigned. */
	if (memchr(request, '\0', len))
		return -EBADMSG;
	root = cJSON_ParseWithLength(request, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -EBADMSG;
	}
	/* Duplicates are looked for before "sig" goes: with two, one would
	 * stay in the signed text. */
	r = sort_keys(root, 0);
	if (r < 0) {
		cJSON_Delete(root);
		return r;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(root, "sig");
	body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!body)
		return -ENOMEM;
	size = strlen(verb) + strlen(target) + strlen(body) + 3;
	text = malloc(size);
	if (text)
		snprintf(text, size, "%s\n%s\n%s", verb, target, body);
	cJSON_free(body);
	if (!text)
		return -ENOMEM;
	*out = text;
	return 0;
}

static int why(struct cmdauth *a, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
why(struct cmdauth *a, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
	return r;
}

static bool
nonce_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < CMDAUTH_NONCE_MIN || n > CMDAUTH_NONCE_MAX)
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._:-", *s)))
			return false;
	}
	return true;
}

int
cmdauth_verify(const char *verb, const char *target, const char *request, size_t len,
	       const uint8_t *key, size_t key_len, struct cmdauth *out)
{
	uint8_t want[CRYPTO_SHA256_LEN], got[CRYPTO_SHA256_LEN];
	const cJSON *sig, *ts, *nonce;
	cJSON *root;
	char *canon = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	root = cJSON_ParseWithLength(request, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return why(out, -EBADMSG, "request must be one JSON object");
	}
	sig = cJSON_GetObjectItemCaseSensitive(root, "sig");
	ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
	nonce = cJSON_GetObjectItemCaseSensitive(root, "nonce");
	if (!cJSON_IsString(sig)) {
		r = why(out, -EBADMSG, "commands must be signed: sig, ts and nonce required");
	} else if (crypto_unhex(sig->valuestring, got, sizeof(got)) < 0) {
		r = why(out, -EBADMSG, "sig: must be 64 hex digits (HMAC-SHA256)");
	} else if (!cJSON_IsString(ts) || rfc3339_parse(ts->valuestring, &out->ts_ms) < 0) {
		r = why(out, -EBADMSG, "ts: an RFC 3339 time is required in signed commands");
	} else if (!cJSON_IsString(nonce) || !nonce_ok(nonce->valuestring)) {
		r = why(out, -EBADMSG,
			"nonce: 8 to 128 characters of A-Z a-z 0-9 . _ : - required");
	} else {
		snprintf(out->nonce, sizeof(out->nonce), "%s", nonce->valuestring);
		r = 0;
	}
	cJSON_Delete(root);
	if (r < 0)
		return r;
	r = cmdauth_canonical(verb, target, request, len, &canon);
	if (r == -EBADMSG)
		return why(out, r, "request has a duplicate key or is nested too deeply");
	if (r < 0)
		return why(out, r, "out of memory");
	r = crypto_hmac_sha256(key, key_len, canon, strlen(canon), want);
	free(canon);
	if (r < 0)
		return why(out, -EIO, "signature could not be computed");
	if (!crypto_equal(want, got, sizeof(want)))
		return why(out, -EPERM, "bad signature");
	return 0;
}

int
cmdauth_read_key(const char *path, uint8_t *key, size_t *key_len)
{
	uint8_t buf[CMDAUTH_KEY_MAX + 2];
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		if (k == 0 || (n += (size_t)k) == sizeof(buf))
			break;
	}
	close(fd);
	if (n && buf[n - 1] == '\n')
		n--;
	if (n == 0 || n > CMDAUTH_KEY_MAX)
		return -EINVAL;
	memcpy(key, buf, n);
	*key_len = n;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}
