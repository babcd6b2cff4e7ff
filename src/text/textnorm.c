/*
 * textnorm.c - text reduced to its words (textnorm.h).
 */
#include "text/textnorm.h"

#include <stdlib.h>
#include <string.h>

enum cls { KEEP, DROP, SEP };

/* What the character at t[i] is, and its length in bytes (*n). */
static enum cls classify(const unsigned char *t, size_t len, size_t i, size_t *n)
{
	*n = 1;
	unsigned char c = t[i];
	if (c == '\'')
		return DROP;
	if (c < 0x80) {
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		return word ? KEEP : SEP;
	}
	/* U+2010..U+201F (dashes, quotes) and U+2026 (ellipsis): E2 80 xx */
	if (c == 0xE2 && i + 2 < len && t[i + 1] == 0x80) {
		unsigned char d = t[i + 2];
		*n = 3;
		if (d == 0x98 || d == 0x99) /* U+2018, U+2019 */
			return DROP;
		if ((d >= 0x90 && d <= 0x9F) || d == 0xA6)
			return SEP;
		*n = 1;
	}
	return KEEP;
}

char *parley_textnorm(const char *text, size_t len)
{
	const unsigned char *t = (const unsigned char *)text;
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	bool gap = false;
	for (size_t i = 0, n; i < len; i += n) {
		switch (classify(t, len, i, &n)) {
		case DROP:
			break;
		case SEP:
			gap = o > 0;
			break;
		case KEEP:
			if (gap)
				out[o++] = ' ';
			gap = false;
			out[o++] = (t[i] >= 'A' && t[i] <= 'Z') ? (char)(t[i] - 'A' + 'a') : (char)t[i];
			break;
		}
	}
	out[o] = '\0';
	return out;
}

bool parley_textnorm_equal(const char *a, const char *b)
{
	char *na = parley_textnorm(a, strlen(a));
	char *nb = parley_textnorm(b, strlen(b));
	bool eq = na && nb && strcmp(na, nb) == 0;
	free(na);
	free(nb);
	return eq;
}
