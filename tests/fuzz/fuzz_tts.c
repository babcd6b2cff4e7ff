/*
 * Fuzz target: text and voice names on their way to the real speech
 * engines (flite 2.2 and espeak-ng 1.51), through the same steps as an
 * answer: speech normaliser (src/text/speakable.c) -> sentence splitter
 * (src/text/sentences.c) -> normaliser again and cut into bounded pieces
 * (as src/session/speak.c does) -> synth() of the voice picked through the
 * allow-list (src/tts/voices.c), and of flite's kal16.
 *
 * Input: byte 0 picks the voice. If its top bit is set, the next (byte0 &
 * 63) bytes are a voice name as a client would send it, looked up in the
 * allow-list (unknown names use en-us); else byte 1 indexes the allow-list
 * and byte 2, if not 0, picks a variant. Bit 6 of byte 0 orders the
 * text steps as the server does (splitter first, on the raw text). The
 * rest is the text.
 *
 * It also checks the normaliser's promises and aborts if one is broken:
 * valid UTF-8 out, idempotent, every cut piece accepted by
 * parley_speakable_check().
 *
 * PARLEY_FUZZ_UNHARDENED=1 in the environment replays the old, unhardened
 * path instead: the splitter's raw pieces and the raw voice name straight
 * into the engines. Inputs that crash there and not in the hardened path
 * are the reproducers kept in corpus/tts (see README.md).
 */
#include <espeak-ng/speak_lib.h>
#include <flite/flite.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/sentences.h"
#include "text/speakable.h"
#include "tts/tts.h"
#include "util/config.h"
#include "util/log.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_NAMES 512

static const char *names[MAX_NAMES], *variants[MAX_NAMES];
static size_t nnames, nvariants;
static bool unhardened;
static struct parley_tts_voice kal16;

static void add_name(void *arg, const char *n)
{
	(void)arg;
	if (nnames < MAX_NAMES)
		names[nnames++] = n;
}

static void add_variant(void *arg, const char *n)
{
	(void)arg;
	if (nvariants < MAX_NAMES)
		variants[nvariants++] = n;
}

static void init_once(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	parley_log_set_level(PARLEY_LOG_ERROR);
	static struct parley_config cfg;
	parley_config_defaults(&cfg);
	if (parley_tts_init_all(&cfg, NULL) != 2 || parley_tts_voice_lookup("kal16", &kal16) != 0) {
		fprintf(stderr, "fuzz_tts: flite and espeak-ng must both be usable\n");
		abort();
	}
	parley_tts_each_voice(add_name, NULL);
	parley_tts_each_variant(add_variant, NULL);
	unhardened = getenv("PARLEY_FUZZ_UNHARDENED") != NULL;
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_tts: %s\n", what);
		abort();
	}
}

cst_voice *register_cmu_us_kal16(const char *voxdir);

/* The old path: raw text and the raw voice name into the engines (the
 * espeak-ng callback set by tts/espeak.c ignores audio without user data). */
static void unhardened_speak(const char *voice, const char *text)
{
	static cst_voice *kal;
	if (!kal)
		kal = register_cmu_us_kal16(NULL);
	cst_wave *w = kal ? flite_text_to_wave(text, kal) : NULL;
	delete_wave(w);
	if (espeak_SetVoiceByName(voice) == EE_OK)
		espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL);
}

static void synth(const struct parley_tts_voice *v, const char *text)
{
	int16_t *pcm = NULL;
	size_t n = 0;
	int rate = 0;
	if (v->backend->synth(v, 1.0, text, &pcm, &n, &rate) == 0)
		free(pcm);
}

/* What speak.c does with one piece of the splitter. */
static void speak(const struct parley_tts_voice *v, const char *raw_voice, const char *piece)
{
	if (unhardened) {
		unhardened_speak(raw_voice, piece);
		return;
	}
	size_t len;
	char *norm = parley_speakable(piece, strlen(piece), &len);
	if (!norm)
		return;
	check(parley_utf8_valid(norm, len), "normaliser output is not valid UTF-8");
	for (size_t at = 0; at < len;) {
		size_t cut = parley_speakable_cut(norm + at, len - at);
		char saved = norm[at + cut];
		norm[at + cut] = '\0';
		check(cut > 0 && parley_speakable_check(norm + at, cut),
		      "a cut piece is not accepted by parley_speakable_check");
		synth(v, norm + at);
		if (v->backend != kal16.backend || strcmp(v->engine, kal16.engine) != 0)
			synth(&kal16, norm + at);
		norm[at + cut] = saved;
		at += cut;
		if (at < len && norm[at] == ' ')
			at++;
	}
	free(norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	if (size < 2)
		return 0;
	char raw_voice[64] = "en-us";
	struct parley_tts_voice v;
	size_t skip;
	if (data[0] & 0x80) {
		size_t k = data[0] & 63u;
		if (k > size - 1)
			k = size - 1;
		memcpy(raw_voice, data + 1, k);
		raw_voice[k] = '\0';
		skip = 1 + k;
	} else {
		if (size < 3)
			return 0;
		snprintf(raw_voice, sizeof raw_voice, "%s%s%s", names[data[1] % nnames],
			 data[2] ? "+" : "", data[2] ? variants[(data[2] - 1u) % nvariants] : "");
		skip = 3;
	}
	if (parley_tts_voice_lookup(raw_voice, &v) != 0)
		check(parley_tts_voice_lookup("en-us", &v) == 0, "en-us is not allowed");
	bool server_order = data[0] & 0x40;

	const char *text = (const char *)data + skip;
	size_t len = size - skip;
	char *norm = NULL;
	if (!server_order && !unhardened) {
		size_t n;
		norm = parley_speakable(text, len, &n);
		if (!norm)
			return 0;
		char *again = parley_speakable(norm, n, NULL);
		check(again && strcmp(again, norm) == 0, "the normaliser is not idempotent");
		free(again);
		text = norm;
		len = n;
	}
	struct parley_sentences sp;
	parley_sentences_init(&sp);
	if (parley_sentences_feed(&sp, text, len) == 0) {
		char *piece;
		while ((piece = parley_sentences_next(&sp))) {
			speak(&v, raw_voice, piece);
			free(piece);
		}
		if ((piece = parley_sentences_flush(&sp))) {
			speak(&v, raw_voice, piece);
			free(piece);
		}
	}
	parley_sentences_destroy(&sp);
	free(norm);
	return 0;
}
