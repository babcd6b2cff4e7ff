/*
 * espeak.c - espeak-ng English voices. espeak-ng keeps process-global state
 * (voice, rate, callback) and crashed when two threads synthesised at once,
 * so every call goes through one lock. It is ~1000x real time, so the lock
 * is never a bottleneck. Output is 22050 Hz.
 *
 * espeak-ng 1.51 aborts on long voice variants (a 40-byte buffer) and on
 * some long tokens ("s's's'..."): voices come only from the allow-list
 * (tts/voices.c) and synth() takes only normalised text (text/speakable.h).
 */
#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/speakable.h"
#include "tts/embedded.h"
#include "tts/tts.h"
#include "util/err.h"
#include "util/log.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_rate;   /* sample rate, 0 until initialised; guarded by g_lock */
static bool g_ok;

struct collect {
	int16_t *pcm;
	size_t n, cap;
	bool oom;
};

static int on_audio(short *wav, int numsamples, espeak_EVENT *events)
{
	struct collect *c = events ? events->user_data : NULL;
	if (!c || !wav || numsamples <= 0)
		return 0;
	if (c->n + (size_t)numsamples > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16384;
		while (cap < c->n + (size_t)numsamples)
			cap *= 2;
		int16_t *p = realloc(c->pcm, cap * sizeof *p);
		if (!p) {
			c->oom = true;
			return 1; /* abort */
		}
		c->pcm = p;
		c->cap = cap;
	}
	memcpy(c->pcm + c->n, wav, (size_t)numsamples * sizeof *wav);
	c->n += (size_t)numsamples;
	return 0;
}

static int global_init(void)
{
	pthread_mutex_lock(&g_lock);
	g_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, 0);
	if (g_rate > 0) {
		espeak_SetSynthCallback(on_audio);
		g_ok = espeak_SetVoiceByName("en-us") == EE_OK;
	}
	pthread_mutex_unlock(&g_lock);
	if (!g_ok)
		PARLEY_WARN("espeak-ng is not usable (no data or no en-us voice)");
	return g_ok ? 0 : PARLEY_E_IO;
}

/* parley's name for an espeak-ng voice is its first language tag
 * ("en-us"; British English, the file "en", is "en-gb"); the engine name is
 * its identifier ("gmw/en-US"), which espeak_SetVoiceByName() accepts. */
static void list(parley_tts_add_fn add, void *arg)
{
	if (!g_ok)
		return;
	pthread_mutex_lock(&g_lock);
	const espeak_VOICE **v = espeak_ListVoices(NULL);
	for (; v && *v; v++) {
		const char *lang = (*v)->languages;
		if (lang && lang[0] && lang[1] && (*v)->identifier)
			add(arg, lang + 1, (*v)->identifier); /* lang[0] is a priority */
	}
	pthread_mutex_unlock(&g_lock);
}

/* Variants are the files of espeak-ng-data/voices/!v (identifier "!v/f3"). */
static void list_variants(parley_tts_add_fn add, void *arg)
{
	if (!g_ok)
		return;
	espeak_VOICE spec = { .languages = "variant" };
	pthread_mutex_lock(&g_lock);
	const espeak_VOICE **v = espeak_ListVoices(&spec);
	for (; v && *v; v++) {
		const char *id = (*v)->identifier;
		if (id && strncmp(id, "!v/", 3) == 0)
			add(arg, id + 3, id + 3);
	}
	pthread_mutex_unlock(&g_lock);
}

static int synth(const struct parley_tts_voice *v, double rate_mult, const char *text,
		 int16_t **pcm, size_t *n, int *rate)
{
	struct collect c = { 0 };
	int wpm = (int)(espeakRATE_NORMAL * (rate_mult > 0 ? rate_mult : 1.0));
	if (wpm < espeakRATE_MINIMUM)
		wpm = espeakRATE_MINIMUM;
	if (wpm > espeakRATE_MAXIMUM)
		wpm = espeakRATE_MAXIMUM;
	if (v->backend != &parley_tts_espeak)
		return PARLEY_E_INVAL;
	if (!parley_speakable_check(text, strlen(text)))
		return PARLEY_E_RANGE; /* second line of defence: never crash espeak-ng */

	/* Both parts are the allow-list's own strings, at most 32 + 24 bytes:
	 * espeak-ng keeps 60 bytes of a name and 40 of "!v/" + variant. */
	char name[PARLEY_TTS_NAME_MAX + 1 + PARLEY_TTS_VARIANT_MAX + 1];
	snprintf(name, sizeof name, "%s%s%s", v->engine, v->variant ? "+" : "",
		 v->variant ? v->variant : "");
	pthread_mutex_lock(&g_lock);
	int ok = g_ok && espeak_SetVoiceByName(name) == EE_OK &&
		 espeak_SetParameter(espeakRATE, wpm, 0) == EE_OK &&
		 espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL,
			      &c) == EE_OK &&
		 espeak_Synchronize() == EE_OK;
	*rate = g_rate;
	pthread_mutex_unlock(&g_lock);

	if (!ok || c.oom) {
		free(c.pcm);
		return c.oom ? PARLEY_E_NOMEM : PARLEY_E_IO;
	}
	if (!c.pcm)
		c.pcm = calloc(1, sizeof *c.pcm);
	*pcm = c.pcm;
	*n = c.n;
	return c.pcm ? 0 : PARLEY_E_NOMEM;
}

static struct parley_tts_engine *create(const struct parley_config *cfg,
				       const struct parley_speech_env *env, char *why, size_t whylen)
{
	return parley_tts_embedded_create(&parley_tts_espeak, cfg, env, why, whylen);
}

const struct parley_tts_backend parley_tts_espeak = {
	.name = "espeak",
	.default_voice = "en-us",
	.global_init = global_init,
	.list = list,
	.list_variants = list_variants,
	.synth = synth,
	.create = create,
	.warm = parley_tts_embedded_warm,
	PARLEY_TTS_EMBEDDED_SLOTS,
};
