/*
 * eot_model.h - the end-of-turn model: how sure are we that the words so
 * far are a finished turn, and so how long a pause ends it.
 *
 * A classifier, not a ladder of waits: a finished sentence needs to end
 * quickly only when the model is confident (the median of finished turns
 * is what users feel), and everything it is unsure of waits longer than
 * the pauses people make inside a sentence (700 ms and more). So:
 *
 *   sure         p(finished) >= PARLEY_EOT_SURE (0.9): PARLEY_EOT_FASTEST_MS
 *                (200 ms), settled as below;
 *   confident    p(finished) >= PARLEY_EOT_CONFIDENT, or the LM all but
 *                ends the sentence here (PARLEY_EOT_LM_ENDS, below):
 *                PARLEY_EOT_FAST_MS
 *                (250 ms), and no sooner than PARLEY_EOT_SETTLE_MS (100 ms)
 *                after the transcript last changed (the listener decodes the
 *                first 100 ms of a pause, so its last partial comes then);
 *   unsure       PARLEY_EOT_UNSURE_MS (850 ms);
 *   trailing off PARLEY_TURN_TRAILING_MS (1000 ms) when the last word
 *                trails off (turn_rules.h: "and", "the", "with", "is" ...);
 *   no words     PARLEY_TURN_UNSURE_MS (550 ms): a sound nothing was
 *                understood in is not a sentence that goes on;
 *   patience and bounds as turn_rules.h (x 0.5 + speed/100; 200..2500 ms).
 *
 * p(finished) is a logistic combination of a handful of named cues of the
 * transcript (struct parley_eot_features): the language model's log10
 * P(</s> | the last two words) (eot_lm.h), how surprising the last word is
 * to it, the number of words, and whether the last word is a number word
 * or a first name or title ("call John" goes on with "Smith"). A one-word
 * reply ("yes", "thanks") is confident by itself. The weights are named
 * constants in eot_model.c, fitted on the tune part of the end-of-turn set
 * by bench/eot-fit.mjs (see there and docs/architecture.md "End of turn").
 *
 * The listener scores a transcript once when it changes (the LM lookup is
 * the costly part) and asks parley_eot_silence_ms() every frame with the
 * cached decision. Pure, any thread.
 */
#ifndef PARLEY_TEXT_EOT_MODEL_H
#define PARLEY_TEXT_EOT_MODEL_H

#include <stdbool.h>

#define PARLEY_EOT_FASTEST_MS 200
#define PARLEY_EOT_FAST_MS 250
#define PARLEY_EOT_UNSURE_MS 850
#define PARLEY_EOT_SETTLE_MS 100
#define PARLEY_EOT_CONFIDENT 0.420 /* fitted with the weights (eot_model.c) */
#define PARLEY_EOT_SURE 0.9
/* The LM's own word: a transcript of at least PARLEY_EOT_LM_WORDS words
 * after whose last two the trigram ends a sentence with probability
 * 10^PARLEY_EOT_LM_ENDS (about 0.28) or more is confident whatever its
 * score ("what time is it in london"); chosen on the tune part by
 * bench/eot-fit.mjs (the loosest such rule that ends no first part). */
#define PARLEY_EOT_LM_ENDS (-0.55)
#define PARLEY_EOT_LM_WORDS 6

/* The LM cue when there is no language model (its mean over the fitting
 * set's finished sentences and first parts). */
#define PARLEY_EOT_LM_END_NONE (-1.0)
#define PARLEY_EOT_LM_LAST_NONE (-3.0)

/* What the model reads in a transcript. */
struct parley_eot_features {
	int words;        /* words in the transcript */
	bool trailing;    /* the last word trails off (turn_rules.h) */
	bool reply;       /* a one-word reply ("yes", "thanks", ...) */
	bool number;      /* the last word is a number word ("five", "twenty", "12") */
	bool name;        /* the last word is a first name or a title ("john", "doctor") */
	double lm_end;    /* log10 P(</s> | last two words), -4..0 */
	double lm_last;   /* log10 P(last word | the two before), -7..0 */
};

/* The text cues of `text` (NULL or empty: no words); the LM cues are set
 * to PARLEY_EOT_LM_*_NONE, for the caller to fill in (eot_lm.h). */
void parley_eot_features_of(const char *text, struct parley_eot_features *f);

/* p(finished) of these cues, 0..1. */
double parley_eot_p_finished(const struct parley_eot_features *f);

/* The decision for a transcript, cached by the listener. */
enum parley_eot_decision {
	PARLEY_EOT_NO_WORDS = 0,
	PARLEY_EOT_CONFIDENT_END,
	PARLEY_EOT_SURE_END,
	PARLEY_EOT_UNSURE,
	PARLEY_EOT_TRAILING,
};

enum parley_eot_decision parley_eot_decide(const struct parley_eot_features *f);

/* The silence (ms) that ends the turn for a decision, since_change_ms
 * (utterance ms since the transcript last changed; -1: no transcript
 * yet), at patience `speed` 0..100 (clamped). */
int parley_eot_silence_ms(enum parley_eot_decision d, int since_change_ms, double speed);

/* "sure", "confident", "unsure", "trailing", "no words": for the debug log. */
const char *parley_eot_decision_name(enum parley_eot_decision d);

#endif
