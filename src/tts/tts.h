/*
 * tts.h - text-to-speech backends and their voices.
 *
 * Each backend is a const table (flite.c, espeak.c); voices have unique
 * names across backends (flite: slt rms awb kal16; espeak-ng: en-us, en-gb,
 * ...), so a session picks a backend by picking a voice.
 *
 * synth() turns one piece of text (a sentence) into mono int16 PCM at the
 * backend's rate. It may be called from any thread; backends that keep
 * process-global state (espeak-ng) serialise internally.
 */
#ifndef PARLEY_TTS_TTS_H
#define PARLEY_TTS_TTS_H

#include <stddef.h>
#include <stdint.h>

struct parley_tts_backend {
	const char *name;
	const char *default_voice;
	/* Once at startup. Returns 0, or -1 (logged) when unusable. */
	int (*global_init)(void);
	/* 1 if this backend has the voice. */
	int (*has_voice)(const char *voice);
	/* Space-separated voice names, for messages and --help. */
	const char *(*voices)(void);
	/* The plain voice names, NULL-terminated (static). */
	const char *const *names;
	/*
	 * Synthesises text with voice at rate_mult (1.0 = normal speed) into a
	 * malloc'd buffer (*pcm, caller frees) of *n samples at *rate Hz.
	 * Returns 0 or -1.
	 */
	int (*synth)(const char *voice, double rate_mult, const char *text, int16_t **pcm,
		     size_t *n, int *rate);
};

extern const struct parley_tts_backend parley_tts_flite;
extern const struct parley_tts_backend parley_tts_espeak;

/* Initialises every backend; returns how many are usable. */
int parley_tts_init_all(void);

/* The backend by name ("flite", "espeak"), or NULL. */
const struct parley_tts_backend *parley_tts_find(const char *name);

/* The usable backend that has this voice, or NULL. */
const struct parley_tts_backend *parley_tts_find_voice(const char *voice);

/* Calls fn for every voice of every usable backend (plain names, no
 * variants), flite first. */
void parley_tts_each_voice(void (*fn)(void *arg, const char *voice), void *arg);

/* "slt rms awb kal16 en-us en-gb ..." (static). */
const char *parley_tts_all_voices(void);

#endif
