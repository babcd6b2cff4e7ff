#include "text/sentences.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static const char *const abbreviations[] = {
	"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e",
	"approx", "no", "vol", "fig", "inc", "ltd", "co", "mt", "ft", "jan", "feb",
	"mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
};

void parley_sentences_init(struct parley_sentences *s)
{
	parley_buf_init(&s->text, PARLEY_SENTENCES_MAX);
	s->first_done = false;
}

void parley_sentences_destroy(struct parley_sentences *s)
{
	parley_buf_free(&s->text);
}

void parley_sentences_reset(struct parley_sentences *s)
{
	parley_buf_reset(&s->text);
	s->first_done = false;
}

int parley_sentences_feed(struct parley_sentences *s, const char *text, size_t len)
{
	return parley_buf_append(&s->text, text, len);
}

/* Is the '.' at i the end of an abbreviation or a lone initial? */
static bool is_abbreviation(const char *b, size_t i)
{
	size_t start = i;
	while (start > 0 && (isalpha((unsigned char)b[start - 1]) || b[start - 1] == '.'))
		start--;
	size_t n = i - start;
	if (n == 0)
		return false;
	if (n == 1 && isupper((unsigned char)b[start]))
		return true; /* "J. Smith" */
	bool initials = n >= 3;
	for (size_t k = 0; k < n && initials; k++)
		initials = (k % 2 == 0) ? isalpha((unsigned char)b[start + k]) : b[start + k] == '.';
	if (initials)
		return true; /* "U.S.", "e.g." */
	for (size_t k = 0; k < sizeof abbreviations / sizeof abbreviations[0]; k++) {
		if (strlen(abbreviations[k]) == n && strncasecmp(b + start, abbreviations[k], n) == 0)
			return true;
	}
	return false;
}

static size_t count_words(const char *b, size_t n)
{
	size_t words = 0;
	bool in = false;
	for (size_t i = 0; i < n; i++) {
		bool space = isspace((unsigned char)b[i]);
		if (!space && !in)
			words++;
		in = !space;
	}
	return words;
}

/* Where the next piece ends (index just past its punctuation), or 0. A
 * boundary needs the following character to be known (whitespace), so a
 * number like "3." followed later by "14" never splits. */
static size_t find_end(const struct parley_sentences *s)
{
	const char *b = parley_buf_str(&s->text);
	for (size_t i = 0; i + 1 < s->text.len; i++) {
		char c = b[i];
		bool next_space = isspace((unsigned char)b[i + 1]);
		if (c == '\n' && i > 0)
			return i + 1;
		if (!next_space)
			continue;
		if (c == '!' || c == '?')
			return i + 1;
		if (c == '.') {
			if (is_abbreviation(b, i))
				continue;
			return i + 1;
		}
		if (!s->first_done && (c == ',' || c == ';' || c == ':') &&
		    count_words(b, i) >= PARLEY_FIRST_CHUNK_MIN_WORDS)
			return i + 1;
	}
	return 0;
}

/* Copies b[0..n) trimmed into a new string; NULL if it is all whitespace. */
static char *trimmed(const char *b, size_t n)
{
	while (n && isspace((unsigned char)*b)) {
		b++;
		n--;
	}
	while (n && isspace((unsigned char)b[n - 1]))
		n--;
	if (!n)
		return NULL;
	char *out = malloc(n + 1);
	if (out) {
		memcpy(out, b, n);
		out[n] = '\0';
	}
	return out;
}

char *parley_sentences_next(struct parley_sentences *s)
{
	for (;;) {
		size_t end = find_end(s);
		if (!end)
			return NULL;
		char *piece = trimmed(s->text.data, end);
		parley_buf_consume(&s->text, end);
		if (piece) {
			s->first_done = true;
			return piece;
		}
	}
}

char *parley_sentences_flush(struct parley_sentences *s)
{
	char *rest = s->text.len ? trimmed(s->text.data, s->text.len) : NULL;
	parley_buf_reset(&s->text);
	return rest;
}
