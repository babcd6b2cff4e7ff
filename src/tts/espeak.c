/*
 * espeak.c - espeak-ng English voices. espeak-ng keeps process-global state
 * (voice, rate, callback) and crashed when two threads synthesised at once,
 * so every call goes through one lock. It is ~1000x real time, so the lock
 * is never a bottleneck. Output is 22050 Hz.
 */
#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tts/tts.h"
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
	return g_ok ? 0 : -1;
}

/* parley's voice names are language tags; espeak-ng 1.51 finds voices by
 * file name, and British English is the file "en". */
static const struct {
	const char *name, *file;
} known[] = {
	{ "en-us", "en-us" },         { "en-gb", "en" },
	{ "en-gb-scotland", "en-gb-scotland" }, { "en-gb-x-gbclan", "en-gb-x-gbclan" },
	{ "en-gb-x-rp", "en-gb-x-rp" }, { "en-gb-x-gbcwmd", "en-gb-x-gbcwmd" },
	{ "en-029", "en-029" },       { "en-us-nyc", "en-us-nyc" },
};

/* Writes the espeak-ng voice for `voice` ("en-gb+f3" -> "en+f3"); 0 if unknown. */
static int espeak_name(const char *voice, char *out, size_t outlen)
{
	size_t base = strcspn(voice, "+");
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strlen(known[i].name) == base && strncmp(known[i].name, voice, base) == 0) {
			snprintf(out, outlen, "%s%s", known[i].file, voice + base);
			return 1;
		}
	}
	return 0;
}

static int has_voice(const char *voice)
{
	char name[80];
	return g_ok && espeak_name(voice, name, sizeof name);
}

static const char *list(void)
{
	return "en-us en-gb en-gb-scotland en-gb-x-rp en-029 en-us-nyc (variants: +f1..+f5, +m1..+m7)";
}

static int synth(const char *voice, double rate_mult, const char *text, int16_t **pcm, size_t *n,
		 int *rate)
{
	struct collect c = { 0 };
	int wpm = (int)(espeakRATE_NORMAL * (rate_mult > 0 ? rate_mult : 1.0));
	if (wpm < espeakRATE_MINIMUM)
		wpm = espeakRATE_MINIMUM;
	if (wpm > espeakRATE_MAXIMUM)
		wpm = espeakRATE_MAXIMUM;

	char name[80];
	if (!espeak_name(voice, name, sizeof name))
		return -1;
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
		return -1;
	}
	if (!c.pcm)
		c.pcm = calloc(1, sizeof *c.pcm);
	*pcm = c.pcm;
	*n = c.n;
	return c.pcm ? 0 : -1;
}

static const char *const names[] = { "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp",
				     "en-029", "en-us-nyc", NULL };

const struct parley_tts_backend parley_tts_espeak = {
	.name = "espeak",
	.default_voice = "en-us",
	.global_init = global_init,
	.has_voice = has_voice,
	.voices = list,
	.names = names,
	.synth = synth,
};
