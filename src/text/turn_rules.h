/*
 * turn_rules.h - how long a pause ends the user's turn.
 *
 * The rule (constants in turn_rules.c, documented in docs/architecture.md):
 *   base silence      PARLEY_TURN_BASE_MS (600 ms) after an utterance that
 *                     sounds finished;
 *   trailing off      PARLEY_TURN_TRAILING_MS (950 ms) when the last word
 *                     is a conjunction, article, preposition or filler
 *                     ("and", "but", "so", "because", "the", "um", ...);
 *   patience          both scaled by 0.5 + speed/100: set_speed 0 halves
 *                     them, 50 keeps them, 100 makes them 1.5 times longer;
 *   bounds            never below 300 ms nor above 2500 ms.
 * Pure, any thread.
 */
#ifndef PARLEY_TEXT_TURN_RULES_H
#define PARLEY_TEXT_TURN_RULES_H

#define PARLEY_TURN_BASE_MS 600
#define PARLEY_TURN_TRAILING_MS 950
#define PARLEY_TURN_MIN_MS 300
#define PARLEY_TURN_MAX_MS 2500

/* What the listener knows about the utterance when it asks how long a
 * pause ends it. */
struct parley_turn_cues {
	const char *text;    /* transcript so far; may be NULL or empty */
	int since_change_ms; /* utterance ms since the transcript last changed; -1: none yet */
	int utt_ms;          /* length of the utterance so far (speech and pauses) */
};

/* Silence (ms) that ends a turn with these cues, at patience `speed`
 * 0..100. */
int parley_turn_silence_ms(const struct parley_turn_cues *c, double speed);

/* 1 if the last word of text trails off (the speaker is likely to go on). */
int parley_turn_trails_off(const char *text);

#endif
