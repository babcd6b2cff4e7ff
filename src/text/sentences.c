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

/* Openers that make a clause of their own before a comma ("Sure, ...",
 * "Of course, ..."): the first piece may be just them. */
static const char *const openers[] = {
	"sure", "yes", "yeah", "yep", "no", "nope", "okay", "ok", "well", "oh", "ah", "hi",
	"hello", "hey", "right", "alright", "absolutely", "certainly", "definitely", "great",
	"thanks", "so", "hmm", "actually", "honestly", "indeed", "of course", "sure thing",
	"good question", "no problem", "all right", "thank you", "got it",
};

/* Words a long first clause is cut before when it has no punctuation. */
static const char *const clause_starts[] = {
	"and", "but", "or", "so", "because", "which", "that", "when", "while", "where",
	"if", "then", "to", "with", "for", "by", "since", "although", "though", "unless",
};

static bool in_list(const char *const *list, size_t n, const char *b, size_t len)
{
	for (size_t k = 0; k < n; k++)
		if (strlen(list[k]) == len && strncasecmp(b, list[k], len) == 0)
			return true;
	return false;
}

/* Is b[0..n) (words separated by single spaces, leading space allowed) an
 * opener? */
static bool is_opener(const char *b, size_t n)
{
	while (n && isspace((unsigned char)*b)) {
		b++;
		n--;
	}
	return n && in_list(openers, sizeof openers / sizeof openers[0], b, n);
}

/* Is the dash at b[i] (ASCII " - " or " -- ", or an en/em dash, UTF-8,
 * spaced or not) between two words, followed by whitespace? Returns the
 * index just past it, or 0. */
static size_t dash_end(const char *b, size_t len, size_t i)
{
	size_t end = 0;
	if (b[i] == '-' && i > 0 && isspace((unsigned char)b[i - 1])) {
		end = i + 1;
		if (end < len && b[end] == '-')
			end++;
	} else if ((unsigned char)b[i] == 0xe2 && i + 2 < len && (unsigned char)b[i + 1] == 0x80 &&
		   ((unsigned char)b[i + 2] == 0x93 || (unsigned char)b[i + 2] == 0x94)) {
		end = i + 3;
	}
	return end && end < len && isspace((unsigned char)b[end]) ? end : 0;
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

/* The first piece only: when PARLEY_FIRST_CHUNK_MAX_WORDS complete words
 * (each followed by whitespace) came without any boundary, where to cut:
 * before the last clause start (a conjunction or preposition) from the
 * fourth word on, else after the last of those words. 0 before that. */
static size_t long_clause_end(const struct parley_sentences *s)
{
	const char *b = parley_buf_str(&s->text);
	size_t len = s->text.len, words = 0, cut = 0;
	size_t i = 0;
	while (i < len && words < PARLEY_FIRST_CHUNK_MAX_WORDS) {
		while (i < len && isspace((unsigned char)b[i]))
			i++;
		size_t start = i;
		while (i < len && !isspace((unsigned char)b[i]))
			i++;
		if (i == len)
			return 0; /* the word may go on */
		words++;
		if (words >= PARLEY_FIRST_CHUNK_MIN_WORDS + 1 &&
		    in_list(clause_starts, sizeof clause_starts / sizeof clause_starts[0], b + start,
			    i - start))
			cut = start;
	}
	if (words < PARLEY_FIRST_CHUNK_MAX_WORDS)
		return 0;
	return cut ? cut : i;
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
		if (!s->first_done) {
			size_t d = dash_end(b, s->text.len, i);
			if (d && count_words(b, i) >= PARLEY_FIRST_CHUNK_MIN_WORDS)
				return d;
		}
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
		    (count_words(b, i) >= PARLEY_FIRST_CHUNK_MIN_WORDS ||
		     (c == ',' && is_opener(b, i))))
			return i + 1;
	}
	return s->first_done ? 0 : long_clause_end(s);
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
