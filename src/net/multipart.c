#define _GNU_SOURCE /* memmem */
#include "net/multipart.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/err.h"

#define BOUNDARY_TRIES 16

static bool header_safe(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

static bool boundary_ok(const char *b)
{
	size_t n = strlen(b);
	if (n < 1 || n > 70)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("'+_.-", c)))
			return false;
	}
	return true;
}

/* getrandom, or a clock-seeded generator should it be unavailable: the
 * collision check makes the boundary correct either way. */
static int random_boundary(void *arg, char out[71])
{
	(void)arg;
	uint8_t r[16];
	if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
			     (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < sizeof r; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r[i] = (uint8_t)x;
		}
	}
	char *p = out + sprintf(out, "parley-");
	for (size_t i = 0; i < sizeof r; i++)
		p += sprintf(p, "%02x", r[i]);
	return 0;
}

/* Does "--boundary" occur in any part's name, value or file bytes? */
static bool collides(const struct parley_multipart_part *parts, size_t n, const char *b)
{
	char delim[80];
	size_t dl = (size_t)snprintf(delim, sizeof delim, "--%s", b);
	for (size_t i = 0; i < n; i++) {
		if (parts[i].len >= dl && memmem(parts[i].data, parts[i].len, delim, dl))
			return true;
	}
	return false;
}

static size_t part_head(char *out, size_t cap, const char *b,
			const struct parley_multipart_part *p)
{
	int k;
	if (p->filename)
		k = snprintf(out, cap,
			     "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
			     "Content-Type: %s\r\n\r\n",
			     b, p->name, p->filename,
			     p->content_type ? p->content_type : "application/octet-stream");
	else
		k = snprintf(out, cap, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", b,
			     p->name);
	return k < 0 ? 0 : (size_t)k;
}

int parley_multipart_build_with(const struct parley_multipart_part *parts, size_t n,
				size_t max_len, int (*next)(void *arg, char out[71]), void *arg,
				char **body, size_t *len,
				char content_type[PARLEY_MULTIPART_CT_MAX])
{
	for (size_t i = 0; i < n; i++) {
		const struct parley_multipart_part *p = &parts[i];
		if (!p->name || !p->name[0] || !header_safe(p->name) ||
		    (p->filename && !header_safe(p->filename)) ||
		    (p->content_type && !header_safe(p->content_type)) || (!p->data && p->len))
			return PARLEY_E_INVAL;
	}
	char b[71];
	int tries = 0;
	for (;;) {
		memset(b, 0, sizeof b);
		if (next(arg, b) != 0 || b[70] != '\0' || !boundary_ok(b))
			return PARLEY_E_INVAL;
		if (!collides(parts, n, b))
			break;
		if (++tries == BOUNDARY_TRIES)
			return PARLEY_E_INVAL;
	}

	/* Size first (heads are measured by formatting them into nothing). */
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		size_t h = part_head(NULL, 0, b, &parts[i]);
		if (h == 0 || parts[i].len > SIZE_MAX / 2 || total > max_len)
			return PARLEY_E_RANGE;
		total += h + parts[i].len + 2; /* CRLF after the bytes */
	}
	total += strlen(b) + 6; /* "--" b "--\r\n" */
	if (total > max_len)
		return PARLEY_E_RANGE;

	char *out = malloc(total + 1);
	if (!out)
		return PARLEY_E_NOMEM;
	char *w = out;
	for (size_t i = 0; i < n; i++) {
		w += part_head(w, total + 1 - (size_t)(w - out), b, &parts[i]);
		if (parts[i].len)
			memcpy(w, parts[i].data, parts[i].len);
		w += parts[i].len;
		memcpy(w, "\r\n", 2);
		w += 2;
	}
	w += sprintf(w, "--%s--\r\n", b);
	*w = '\0';
	*body = out;
	*len = (size_t)(w - out);
	snprintf(content_type, PARLEY_MULTIPART_CT_MAX, "multipart/form-data; boundary=%s", b);
	return 0;
}

int parley_multipart_build(const struct parley_multipart_part *parts, size_t n, size_t max_len,
			   char **body, size_t *len, char content_type[PARLEY_MULTIPART_CT_MAX])
{
	return parley_multipart_build_with(parts, n, max_len, random_boundary, NULL, body, len,
					   content_type);
}
