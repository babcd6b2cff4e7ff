/*
 * backchannel.h - is an utterance only a backchannel: the small words a
 * listener says to show it is following ("mhm", "uh-huh", "yeah",
 * "right", "okay", "sure", "I see"), not to take the floor?
 *
 * A transcript is split into words (letters and apostrophes; anything else,
 * hyphens included, separates words, and case does not matter), then read
 * left to right as a sequence of backchannel phrases: one word ("mhm",
 * "mm", "hmm", "uh", "huh", "yeah", "yep", "right", "okay", "ok", "sure",
 * "alright", "oh", "ah", ...) or two ("i see", "all right", "got it"), so
 * "uh-huh", "uh huh, I see", "okay, right" and "mm hmm" are backchannels.
 * "yes" and "no" are not: said over an answer, "yes" may answer a question
 * the user has just heard, and "no" disagrees; both take the floor.
 *
 * The recogniser mishears these short sounds, mostly as a few words with
 * little content ("mhm" as "m h m", "can a jan" or "am a tramp", "yeah" as
 * "you have", "uh-huh, I see" as "a pisces" or "about by sea", a cough as
 * "that"). So a short utterance (at most three words, single letters not
 * counted, at most one of them with content: not an article, pronoun,
 * conjunction, preposition or auxiliary) is taken for one too, unless it
 * takes the floor: a word that asks, refuses or objects anywhere in it
 * ("wait", "stop", "no", "what", "why", "tell", "repeat", "sorry",
 * "please", ...), or a question's first words ("is it raining", "can
 * you"). The price: a one-word elliptic question ("tomorrow?") said over
 * an answer is not a turn.
 * Pure, any thread.
 */
#ifndef PARLEY_TEXT_BACKCHANNEL_H
#define PARLEY_TEXT_BACKCHANNEL_H

#include <stdbool.h>
#include <stddef.h>

enum parley_backchannel {
	PARLEY_BC_EMPTY = 0, /* no words at all */
	PARLEY_BC_ONLY,      /* words, every one part of a backchannel phrase */
	PARLEY_BC_SHORT,     /* a short utterance that takes no floor (above) */
	PARLEY_BC_WORDS,     /* at least one word that is not */
};

/* What text (NUL-terminated UTF-8, NULL is empty) is. */
enum parley_backchannel parley_backchannel_classify(const char *text);

/* The number of words in text (as classify splits them; NULL: 0). */
size_t parley_backchannel_words(const char *text);

#endif
