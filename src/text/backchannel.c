/*
 * backchannel.c - is an utterance only a backchannel (backchannel.h).
 */
#include "text/backchannel.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define WORD_MAX 24

/* One word on its own is a backchannel. Hesitation sounds ("uh", "um",
 * "ah", "oh", "huh") are listed too: pocketsphinx hears "mhm" and "uh-huh"
 * as them as often as not. */
static const char *const singles[] = {
	"mhm", "mhmm", "mm", "mmm", "hm", "hmm", "mmhmm", "uhhuh", "uh", "huh", "um", "ah",
	"oh", "aha", "yeah", "yep", "yup", "ya", "right", "okay", "ok", "sure", "alright",
};

/* Words without content of their own (articles, pronouns, conjunctions,
 * prepositions, single letters). */
static const char *const function_words[] = {
	"a", "an", "the", "and", "but", "or", "so", "if", "then", "of", "to", "in", "on", "at",
	"by", "as", "for", "with", "about", "from", "into", "over", "up", "down", "out", "off",
	"it", "i", "im", "i'm", "you", "he", "she", "we", "they", "me", "us", "them", "her", "him", "his",
	"its", "my", "your", "our", "their", "there", "that", "this", "is", "am", "are", "was",
	"were", "be", "been", "have", "has", "had", "do", "does", "did", "can", "could", "will",
	"would", "should", "shall", "may", "might",
};

/* Words that take the floor, wherever they are: requests, refusals,
 * questions, objections. */
static const char *const floor_words[] = {
	"wait", "stop", "no", "not", "nope", "yes", "hold", "hang", "sorry", "excuse",
	"pardon", "hey", "what", "why", "how", "when", "where", "who", "which", "whose",
	"tell", "say", "repeat", "explain", "again", "louder", "slower", "faster", "skip",
	"please", "help", "actually", "question", "cancel", "quiet", "shut", "enough",
	"don't", "can't", "won't", "isn't",
};

/* Words that ask a question when they come first, before a pronoun ("is
 * it", "can you", "do they"). */
static const char *const question_starts[] = {
	"is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would",
	"should", "shall", "may", "have", "has",
};

static const char *const pronouns[] = {
	"i", "you", "he", "she", "it", "we", "they", "this", "that", "there",
};

/* A short utterance: at most this many words (single letters other than
 * "a" and "i" do not count: the recogniser spells noise out as letters),
 * this many with content. */
#define SHORT_WORDS 3
#define SHORT_CONTENT 1

/* Two words together are a backchannel. */
static const char *const pairs[][2] = {
	{ "i", "see" }, { "all", "right" }, { "got", "it" }, { "i", "know" },
};

#define IN(list, w, n) in_list(list, sizeof list / sizeof list[0], w, n)

static bool same(const char *w, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(w, word, len) == 0;
}

static bool in_list(const char *const *list, size_t count, const char *w, size_t len)
{
	for (size_t i = 0; i < count; i++)
		if (same(w, len, list[i]))
			return true;
	return false;
}

static bool word_char(char ch)
{
	return isalpha((unsigned char)ch) || ch == '\'';
}

/* The next word at or after *p: its start and length (0: none left). */
static size_t next_word(const char **p, const char **start)
{
	const char *t = *p;
	while (*t && !word_char(*t))
		t++;
	*start = t;
	while (*t && word_char(*t))
		t++;
	*p = t;
	return (size_t)(t - *start);
}

enum parley_backchannel parley_backchannel_classify(const char *text)
{
	const char *p = text ? text : "", *w;
	size_t n = next_word(&p, &w);
	if (!n)
		return PARLEY_BC_EMPTY;
	size_t words = 0, content = 0;
	bool only = true;
	while (n) {
		const char *q = p, *w2;
		size_t n2 = next_word(&q, &w2);
		if (n > WORD_MAX || IN(floor_words, w, n) ||
		    (words == 0 && n2 && IN(question_starts, w, n) && IN(pronouns, w2, n2)))
			return PARLEY_BC_WORDS;
		if (n == 1 && !IN(function_words, w, n)) { /* a letter */
			n = next_word(&p, &w);
			continue;
		}
		bool pair = false;
		for (size_t i = 0; n2 && i < sizeof pairs / sizeof pairs[0]; i++)
			if (same(w, n, pairs[i][0]) && same(w2, n2, pairs[i][1]))
				pair = true;
		if (pair) {
			p = q;
		} else if (!IN(singles, w, n)) {
			only = false;
			if (!IN(function_words, w, n))
				content++;
		}
		words++;
		n = next_word(&p, &w);
	}
	if (only)
		return PARLEY_BC_ONLY;
	return words <= SHORT_WORDS && content <= SHORT_CONTENT ? PARLEY_BC_SHORT : PARLEY_BC_WORDS;
}

size_t parley_backchannel_words(const char *text)
{
	size_t n = 0;
	const char *w;
	for (const char *p = text ? text : ""; next_word(&p, &w); )
		n++;
	return n;
}
