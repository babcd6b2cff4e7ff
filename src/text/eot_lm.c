#include "text/eot_lm.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

struct parley_eot_lm {
	logmath_t *lmath;
	ngram_model_t *ng;
	int32 end_wid, start_wid;
	pthread_mutex_t lock; /* the model's lookups (their caches) */
};

struct parley_eot_lm *parley_eot_lm_create(const char *path, char *why, size_t why_len)
{
	struct parley_eot_lm *lm = calloc(1, sizeof *lm);
	if (!lm) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	err_set_logfp(NULL); /* sphinxbase's log is process-wide; parley keeps it quiet (stt/pocketsphinx.c) */
	lm->lmath = logmath_init(1.0001, 0, 0);
	lm->ng = lm->lmath ? ngram_model_read(NULL, path, NGRAM_AUTO, lm->lmath) : NULL;
	if (!lm->ng) {
		snprintf(why, why_len, "cannot read the language model %s", path);
		parley_eot_lm_destroy(lm);
		return NULL;
	}
	lm->end_wid = ngram_wid(lm->ng, "</s>");
	lm->start_wid = ngram_wid(lm->ng, "<s>");
	pthread_mutex_init(&lm->lock, NULL);
	return lm;
}

void parley_eot_lm_destroy(struct parley_eot_lm *lm)
{
	if (!lm)
		return;
	if (lm->ng) {
		ngram_model_free(lm->ng);
		pthread_mutex_destroy(&lm->lock);
	}
	logmath_free(lm->lmath);
	free(lm);
}

#define WORD_MAX 48

/* The last three words of text, lower-cased, oldest first (w[0..2], ""
 * where there are fewer); the number of words found, at most 3. */
static int last_words(const char *text, char w[3][WORD_MAX])
{
	int n = 0;
	for (size_t i = 0; text[i];) {
		if (!isalnum((unsigned char)text[i]) && text[i] != '\'') {
			i++;
			continue;
		}
		memmove(w[0], w[1], WORD_MAX);
		memmove(w[1], w[2], WORD_MAX);
		size_t k = 0;
		while (text[i] && (isalnum((unsigned char)text[i]) || text[i] == '\'')) {
			if (k < WORD_MAX - 1)
				w[2][k++] = (char)tolower((unsigned char)text[i]);
			i++;
		}
		w[2][k] = '\0';
		if (n < 3)
			n++;
	}
	return n;
}

static double log10_of(struct parley_eot_lm *lm, int32 score)
{
	return logmath_log_to_ln(lm->lmath, score) / log(10.0);
}

void parley_eot_lm_cues(struct parley_eot_lm *lm, const char *text,
			struct parley_eot_features *f)
{
	char w[3][WORD_MAX] = { "", "", "" };
	if (!lm || !text)
		return;
	int n = last_words(text, w);
	if (!n)
		return;
	pthread_mutex_lock(&lm->lock);
	int32 id[3];
	for (int i = 0; i < 3; i++) {
		id[i] = i < 3 - n ? lm->start_wid : ngram_wid(lm->ng, w[i]);
		if (id[i] == NGRAM_INVALID_WID && i < 2)
			id[i] = lm->start_wid; /* an unknown word in the history */
	}
	if (id[2] == NGRAM_INVALID_WID || lm->end_wid == NGRAM_INVALID_WID) {
		pthread_mutex_unlock(&lm->lock); /* a closed vocabulary without the last word */
		return;
	}
	int32 used;
	double end = log10_of(lm, ngram_tg_score(lm->ng, lm->end_wid, id[2], id[1], &used));
	double last = log10_of(lm, ngram_tg_score(lm->ng, id[2], id[1], id[0], &used));
	pthread_mutex_unlock(&lm->lock);
	f->lm_end = end < -4 ? -4 : end > 0 ? 0 : end;
	f->lm_last = last < -7 ? -7 : last > 0 ? 0 : last;
}
