#include "text/turn_rules.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Words after which a speaker usually goes on. Not "you", "it", "me",
 * "them" (objects end many sentences: "thank you", "I like it"). */
static const char *const trailing[] = {
	/* conjunctions, subordinators, relatives */
	"and", "but", "so", "because", "or", "nor", "if", "that", "which", "who", "whose",
	"then", "than", "when", "while", "although", "though", "since", "unless", "whether",
	"until", "where",
	/* articles, determiners, possessives, intensifiers */
	"the", "a", "an", "my", "your", "our", "their", "his", "her", "its", "every", "very",
	/* prepositions */
	"to", "of", "with", "for", "in", "on", "at", "from", "about", "into", "onto", "by",
	"as", "over", "under", "after", "before", "between", "through", "without", "during",
	"towards", "toward", "against", "like",
	/* auxiliaries and modals */
	"am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "do",
	"does", "did", "can", "could", "will", "would", "shall", "should", "may", "might",
	"must", "i'm", "it's", "there's", "let's", "gonna", "wanna",
	/* subject pronouns */
	"i", "we", "he", "she", "they",
	/* fillers */
	"um", "uh", "er", "erm", "ah", "hmm", "mm", "uhm",
};

/* Words that start a clause, and the pronouns that may follow as its
 * subject: "... so it", "... because you" has a subject and no verb yet.
 * Not "and", "or", "but", "that" ("me and you", "not me but you", "is
 * that it" end sentences). */
static const char *const clause_starts[] = {
	"so", "because", "if", "when", "while", "although", "though", "since",
	"unless", "whether", "until", "where", "what", "how", "why",
};
static const char *const subjects[] = { "it", "you" };

/* Single words that are a whole reply. */
static const char *const replies[] = {
	"yes", "no", "yeah", "yep", "nope", "okay", "ok", "sure", "thanks", "hello", "hi",
	"hey", "bye", "goodbye", "stop", "please", "right", "great", "fine", "correct",
	"exactly", "absolutely", "maybe", "cool", "perfect", "nothing", "wait",
};

static bool in(const char *const *list, size_t n, const char *w, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(list[i]) == len && strncasecmp(w, list[i], len) == 0)
			return true;
	}
	return false;
}

static bool word_char(char ch)
{
	return isalpha((unsigned char)ch) || ch == '\'';
}

/* The word that ends just before `end` in text (start and length; 0 when
 * none). */
static size_t word_before(const char *text, size_t end, size_t *start)
{
	while (end && !word_char(text[end - 1]))
		end--;
	size_t s = end;
	while (s && word_char(text[s - 1]))
		s--;
	*start = s;
	return end - s;
}

/* The last word of text (start and length; 0 when none) and the number of
 * words. */
static size_t last_word(const char *text, size_t *start, int *words)
{
	*words = 0;
	*start = 0;
	if (!text)
		return 0;
	for (size_t i = 0; text[i]; i++) {
		if (word_char(text[i]) && (i == 0 || !word_char(text[i - 1])))
			(*words)++;
	}
	return word_before(text, strlen(text), start);
}

#define IN(list, w, n) in(list, sizeof list / sizeof list[0], w, n)

/* The last word (at start, n long) trails off, alone or after the word
 * before it. */
static bool trails(const char *text, size_t start, size_t n)
{
	if (IN(trailing, text + start, n))
		return true;
	size_t pstart;
	size_t pn = word_before(text, start, &pstart);
	return pn && IN(subjects, text + start, n) && IN(clause_starts, text + pstart, pn);
}

int parley_turn_trails_off(const char *text)
{
	size_t start;
	int words;
	size_t n = last_word(text, &start, &words);
	return n && trails(text, start, n);
}

int parley_turn_is_reply(const char *text)
{
	size_t start;
	int words;
	size_t n = last_word(text, &start, &words);
	return n && words == 1 && IN(replies, text + start, n);
}

int parley_turn_pause_ms(double ms, double speed, int settling)
{
	if (!(speed >= 0)) /* NaN too */
		speed = 0;
	if (speed > 100)
		speed = 100;
	/* A transcript still catching up with the speech: its last word may
	 * be missing. Patience does not scale this part. */
	double scale = 0.5 + speed / 100.0;
	ms *= scale;
	if (settling && ms < PARLEY_TURN_UNSURE_MS * scale)
		ms = PARLEY_TURN_UNSURE_MS * scale;
	if (ms < PARLEY_TURN_MIN_MS)
		ms = PARLEY_TURN_MIN_MS;
	if (ms > PARLEY_TURN_MAX_MS)
		ms = PARLEY_TURN_MAX_MS;
	return (int)ms;
}

int parley_turn_silence_ms(const struct parley_turn_cues *c, double speed)
{
	const char *text = c ? c->text : NULL;
	size_t start;
	int words;
	size_t n = last_word(text, &start, &words);
	double ms;
	if (!n)
		ms = PARLEY_TURN_UNSURE_MS; /* nothing understood yet */
	else if (trails(text, start, n))
		ms = PARLEY_TURN_TRAILING_MS;
	else if (words == 1 && !IN(replies, text + start, n))
		ms = PARLEY_TURN_UNSURE_MS; /* a single word that is no reply yet */
	else
		ms = PARLEY_TURN_FINISHED_MS;
	return parley_turn_pause_ms(ms, speed,
				    c && c->since_change_ms >= 0 &&
					    c->since_change_ms < PARLEY_TURN_SETTLE_MS);
}
