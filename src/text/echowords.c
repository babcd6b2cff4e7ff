/*
 * echowords.c - a transcript compared with the assistant's recent words
 * (echowords.h).
 */
#include "text/echowords.h"

#include <stdlib.h>
#include <string.h>

#include "text/textnorm.h"

#define MIN_WORD_SHARE 0.6
#define MIN_PAIR_SHARE (1.0 / 3.0)
#define MIN_LONE_WORD 4

/* The words of a normal form (split in place at its spaces): a malloc'd
 * array of pointers into norm, count in *n; NULL on OOM (or no words). */
static char **split(char *norm, size_t *n)
{
	size_t cap = 1;
	for (const char *p = norm; *p; p++)
		cap += *p == ' ';
	*n = 0;
	if (!*norm)
		return NULL;
	char **w = malloc(cap * sizeof *w);
	if (!w)
		return NULL;
	for (char *p = norm; p;) {
		w[(*n)++] = p;
		p = strchr(p, ' ');
		if (p)
			*p++ = '\0';
	}
	return w;
}

static bool has_word(char *const *w, size_t n, const char *a)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w[i], a) == 0)
			return true;
	return false;
}

static bool has_pair(char *const *w, size_t n, const char *a, const char *b)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(w[i], a) == 0 && strcmp(w[i + 1], b) == 0)
			return true;
	return false;
}

static bool judge(char *const *h, size_t nh, char *const *s, size_t ns)
{
	size_t words = 0, pairs = 0;
	for (size_t i = 0; i < nh; i++)
		words += has_word(s, ns, h[i]);
	for (size_t i = 0; i + 1 < nh; i++)
		pairs += has_pair(s, ns, h[i], h[i + 1]);
	if (nh == 1)
		return words == 1 && strlen(h[0]) >= MIN_LONE_WORD;
	if (nh == 2)
		return pairs == 1;
	return (double)words >= MIN_WORD_SHARE * (double)nh &&
	       (double)pairs >= MIN_PAIR_SHARE * (double)(nh - 1);
}

bool parley_echo_words_match(const char *heard, const char *said)
{
	char *hn = parley_textnorm(heard, strlen(heard));
	char *sn = parley_textnorm(said, strlen(said));
	size_t nh = 0, ns = 0;
	char **h = hn ? split(hn, &nh) : NULL;
	char **s = sn ? split(sn, &ns) : NULL;
	bool echo = h && s && judge(h, nh, s, ns);
	free(h);
	free(s);
	free(hn);
	free(sn);
	return echo;
}
