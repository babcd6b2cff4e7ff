/*
 * echowords.h - is a transcript the assistant's own words? An utterance
 * heard while (or just after) the assistant spoke, on a client that
 * cancels no echo, may be the answer coming back through the microphone;
 * the recogniser then hears the assistant's recent words, more or less
 * garbled. The words of both are compared in their normal form
 * (text/textnorm.h):
 *
 *  - three words or more: echo when at least 60 % of the transcript's words
 *    and at least a third of its word pairs occur in what was said (the
 *    pairs keep a user who reuses a word or two of the answer, "tell me
 *    more about paris", from being taken for it);
 *  - two words: both, next to each other, in what was said;
 *  - one word: in what was said and at least 4 letters long (a bare "no",
 *    "yes" or "ok" is the user's).
 *
 * Pure; any thread.
 */
#ifndef PARLEY_TEXT_ECHOWORDS_H
#define PARLEY_TEXT_ECHOWORDS_H

#include <stdbool.h>

/* heard: the utterance's transcript; said: what the assistant recently
 * said (both borrowed, NUL-terminated). false on OOM or an empty heard. */
bool parley_echo_words_match(const char *heard, const char *said);

#endif
