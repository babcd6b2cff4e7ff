#include "server/path.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/err.h"
#include "util/hex.h"

/* Decodes %XX sequences; returns -1 on a malformed escape or a decoded NUL. */
static int percent_decode(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; in[i]; i++) {
		char c = in[i];
		if (c == '%') {
			int hi = parley_hexval(in[i + 1]);
			int lo = hi < 0 ? -1 : parley_hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			if (c == '\0')
				return -1;
			i += 2;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

static int has_dotdot_segment(const char *p)
{
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return 1;
		s = e;
	}
	return 0;
}

static int inside(const char *root, const char *real)
{
	size_t n = strlen(root);
	if (strncmp(root, real, n) != 0)
		return 0;
	return real[n] == '\0' || real[n] == '/' || (n == 1 && root[0] == '/');
}

int parley_path_resolve(const char *root, const char *uri, char *out, size_t outlen)
{
	char decoded[PATH_MAX];
	char joined[PATH_MAX * 2];
	struct stat st;

	if (uri[0] != '/')
		return PARLEY_E_INVAL;
	if (percent_decode(uri, decoded, sizeof decoded) != 0)
		return PARLEY_E_INVAL;
	if (strchr(decoded, '\\') || strchr(decoded, '%') || has_dotdot_segment(decoded))
		return PARLEY_E_INVAL;

	snprintf(joined, sizeof joined, "%s%s", root, decoded);
	char *real = realpath(joined, NULL);
	if (!real)
		return PARLEY_E_NOTFOUND;
	if (!inside(root, real)) {
		free(real);
		return PARLEY_E_INVAL;
	}
	if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(joined, sizeof joined, "%s/index.html", real);
		free(real);
		real = realpath(joined, NULL);
		if (!real)
			return PARLEY_E_NOTFOUND;
		if (!inside(root, real)) {
			free(real);
			return PARLEY_E_INVAL;
		}
	}
	int rc = 0;
	if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
		rc = PARLEY_E_NOTFOUND;
	else if (strlen(real) + 1 > outlen)
		rc = PARLEY_E_NOTFOUND;
	else
		strcpy(out, real);
	free(real);
	return rc;
}

#define STATIC_PREFIX "/static/"

int parley_path_resolve_web(const char *root, const char *uri, char *out, size_t outlen)
{
	int rc = parley_path_resolve(root, uri, out, outlen);
	if (rc == PARLEY_E_NOTFOUND && !strncmp(uri, STATIC_PREFIX, strlen(STATIC_PREFIX)))
		rc = parley_path_resolve(root, uri + strlen(STATIC_PREFIX) - 1, out, outlen);
	return rc;
}
