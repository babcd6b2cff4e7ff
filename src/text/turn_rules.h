/*
 * turn_rules.h - how long a pause ends the user's turn.
 *
 * The listener asks on every 20 ms frame of an utterance how long the
 * trailing silence must be to end the turn, given what it knows (the cues
 * below); the answer changes as the transcript grows. The rule (constants
 * here, documented in docs/architecture.md "End of turn"):
 *
 *   finished     PARLEY_TURN_FINISHED_MS (300 ms) when the words so far look
 *                like a finished utterance: the last word does not trail
 *                off and the transcript has settled;
 *   unsure       PARLEY_TURN_UNSURE_MS (550 ms) when there is no transcript
 *                yet, the utterance is a single word that is not a complete
 *                reply on its own ("yes", "thanks", "okay", ...), or the
 *                transcript changed less than PARLEY_TURN_SETTLE_MS (200 ms)
 *                ago (it is still catching up with the speech: the word that
 *                would make it trail may not be in it yet);
 *   trailing off PARLEY_TURN_TRAILING_MS (1000 ms) when the last word is a
 *                conjunction, article, preposition, possessive, filler,
 *                auxiliary or subject pronoun ("and", "because", "the",
 *                "with", "my", "um", "is", "would", "I", ...): the speaker
 *                is likely to go on;
 *   patience     every pause is multiplied by 0.5 + speed/100 (set_speed
 *                0 halves it, 50 keeps it, 100 makes it 1.5 times longer);
 *                the settling time is the recogniser's, not patience, and
 *                is not scaled;
 *   bounds       never below PARLEY_TURN_MIN_MS nor above PARLEY_TURN_MAX_MS.
 *
 * So at the default patience a finished sentence ends 300 ms after the
 * speech (or 200 ms after its last word reached the transcript, if later),
 * and "I would like a pizza with ..." waits a second for the rest.
 * Pure, any thread.
 */
#ifndef PARLEY_TEXT_TURN_RULES_H
#define PARLEY_TEXT_TURN_RULES_H

#define PARLEY_TURN_FINISHED_MS 300
#define PARLEY_TURN_UNSURE_MS 550
#define PARLEY_TURN_TRAILING_MS 1000
#define PARLEY_TURN_SETTLE_MS 200
#define PARLEY_TURN_MIN_MS 200
#define PARLEY_TURN_MAX_MS 2500

/* What the listener knows about the utterance when it asks how long a
 * pause ends it. */
struct parley_turn_cues {
	const char *text;    /* transcript so far; may be NULL or empty */
	int since_change_ms; /* utterance ms since the transcript last changed; -1: none yet */
	int utt_ms;          /* length of the utterance so far (speech and pauses) */
};

/* Silence (ms) that ends a turn with these cues (NULL: none known), at
 * patience `speed` 0..100 (clamped). */
int parley_turn_silence_ms(const struct parley_turn_cues *c, double speed);

/* The pause that ends a turn whose words call for a base wait of `ms`, at
 * patience `speed` 0..100 (clamped; NaN is 0): ms x (0.5 + speed/100);
 * while the transcript is `settling` (it changed too recently to trust
 * its last word) at least PARLEY_TURN_UNSURE_MS at that patience; never
 * below PARLEY_TURN_MIN_MS nor above PARLEY_TURN_MAX_MS. The rules above
 * and the end-of-turn model (eot_model.h) both end here. */
int parley_turn_pause_ms(double ms, double speed, int settling);

/* 1 if the last word of text trails off (the speaker is likely to go on). */
int parley_turn_trails_off(const char *text);

/* 1 if text is a single word that is a whole reply ("yes", "thanks", ...). */
int parley_turn_is_reply(const char *text);

#endif
