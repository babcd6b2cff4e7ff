/*
 * flite.c - flite 2.2 voices: slt (default), rms, awb (clustergen, 16 kHz)
 * and kal16 (diphone, 16 kHz). Measured here: slt ~70x real time; two
 * threads sharing one voice gave identical output, but the speaking rate is
 * a feature of the shared voice object, so each voice has a lock held for
 * the length of one synthesis.
 *
 * flite 2.2 corrupts its heap on a run of ~300+ punctuation marks in one
 * token (see text/speakable.h), so synth() takes only normalised text.
 */
#include <flite/flite.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text/speakable.h"
#include "tts/embedded.h"
#include "tts/tts.h"
#include "util/err.h"
#include "util/log.h"

cst_voice *register_cmu_us_slt(const char *voxdir);
cst_voice *register_cmu_us_rms(const char *voxdir);
cst_voice *register_cmu_us_awb(const char *voxdir);
cst_voice *register_cmu_us_kal16(const char *voxdir);

static struct {
	const char *name;
	cst_voice *(*reg)(const char *);
	cst_voice *voice;
	pthread_mutex_t lock;
} voices[] = {
	{ "slt", register_cmu_us_slt, NULL, PTHREAD_MUTEX_INITIALIZER },
	{ "rms", register_cmu_us_rms, NULL, PTHREAD_MUTEX_INITIALIZER },
	{ "awb", register_cmu_us_awb, NULL, PTHREAD_MUTEX_INITIALIZER },
	{ "kal16", register_cmu_us_kal16, NULL, PTHREAD_MUTEX_INITIALIZER },
};
#define NVOICES (sizeof voices / sizeof voices[0])

static int global_init(void)
{
	flite_init();
	for (size_t i = 0; i < NVOICES; i++) {
		voices[i].voice = voices[i].reg(NULL);
		if (!voices[i].voice) {
			PARLEY_ERROR("flite: cannot load voice %s", voices[i].name);
			return PARLEY_E_IO;
		}
	}
	return 0;
}

static void list(parley_tts_add_fn add, void *arg)
{
	for (size_t i = 0; i < NVOICES; i++)
		if (voices[i].voice)
			add(arg, voices[i].name, voices[i].name);
}

static int synth(const struct parley_tts_voice *v, double rate_mult, const char *text,
		 int16_t **pcm, size_t *n, int *rate)
{
	size_t i = 0;
	while (i < NVOICES && !(v->backend == &parley_tts_flite && !v->variant &&
				strcmp(voices[i].name, v->engine) == 0))
		i++;
	if (i == NVOICES || !voices[i].voice)
		return PARLEY_E_INVAL;
	if (!parley_speakable_check(text, strlen(text)))
		return PARLEY_E_RANGE; /* second line of defence: never crash flite */
	if (rate_mult <= 0)
		rate_mult = 1.0;
	pthread_mutex_lock(&voices[i].lock);
	flite_feat_set_float(voices[i].voice->features, "duration_stretch", (float)(1.0 / rate_mult));
	cst_wave *w = flite_text_to_wave(text, voices[i].voice);
	pthread_mutex_unlock(&voices[i].lock);
	if (!w)
		return PARLEY_E_IO;
	int rc = PARLEY_E_NOMEM;
	*n = (size_t)cst_wave_num_samples(w);
	*rate = cst_wave_sample_rate(w);
	*pcm = malloc((*n ? *n : 1) * sizeof **pcm);
	if (*pcm) {
		memcpy(*pcm, cst_wave_samples(w), *n * sizeof **pcm);
		rc = 0;
	}
	delete_wave(w);
	return rc;
}

static struct parley_tts_engine *create(const struct parley_config *cfg,
				       const struct parley_speech_env *env, char *why, size_t whylen)
{
	return parley_tts_embedded_create(&parley_tts_flite, cfg, env, why, whylen);
}

/* The clustergen voices (slt, rms, awb) draw noise from libc's rand(), so
 * every synthesis shifts what the next one sounds like; warming up with
 * one of them would make what users hear depend on the warm-up. kal16 is a
 * diphone voice and draws none: the warm-up leaves no trace. */
static int warm(struct parley_tts_engine *e, char *why, size_t whylen)
{
	return parley_tts_embedded_warm_voice(e, "kal16", why, whylen);
}

const struct parley_tts_backend parley_tts_flite = {
	.name = "flite",
	.default_voice = "slt",
	.global_init = global_init,
	.list = list,
	.synth = synth,
	.create = create,
	PARLEY_TTS_EMBEDDED_SLOTS,
	.warm = warm,
};
