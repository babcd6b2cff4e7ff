/*
 * eot_lm.h - the end-of-turn model's language model cues: how likely a
 * transcript ends where it stops, by pocketsphinx's own n-gram model
 * (en-us.lm.bin, the recogniser's --stt-lm).
 *
 * One model is loaded for the whole server (about 34 MB, 30 ms) and shared
 * by every session: sphinxbase's n-gram lookups keep caches inside the
 * model, so the lookups of one transcript are made under the model's own
 * mutex (a few microseconds; the listener asks once per new transcript).
 * Words the model does not know score as its unknown word.
 * Create and destroy: the server's thread; the cues: any thread.
 */
#ifndef PARLEY_TEXT_EOT_LM_H
#define PARLEY_TEXT_EOT_LM_H

#include <stddef.h>

#include "text/eot_model.h"

struct parley_eot_lm;

/* Loads the n-gram model in `path` (ARPA or DMP/bin), or NULL with the
 * reason in why (why_len bytes) when it cannot. Caller frees with
 * parley_eot_lm_destroy. */
struct parley_eot_lm *parley_eot_lm_create(const char *path, char *why, size_t why_len);

/* Accepts NULL. */
void parley_eot_lm_destroy(struct parley_eot_lm *lm);

/* Fills f->lm_end (log10 P(</s> | the last two words of text)) and
 * f->lm_last (log10 P(last word | the two before it)); text borrowed.
 * lm NULL, or a text without words: f is left as it is. */
void parley_eot_lm_cues(struct parley_eot_lm *lm, const char *text,
			struct parley_eot_features *f);

#endif
