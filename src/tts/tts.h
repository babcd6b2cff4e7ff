/*
 * tts.h - text-to-speech backends and the voice allow-list.
 *
 * Each backend is a const table (flite.c, espeak.c). At startup
 * parley_tts_init_all() asks every usable backend which voices it really
 * has (flite: its registered voices; espeak-ng: espeak_ListVoices() for the
 * installed voices and for the variant files in espeak-ng-data/voices/!v)
 * and keeps its own copy of each name: the allow-list. A voice name from a
 * client or the command line is only ever looked up in that list
 * (parley_tts_voice_lookup()); an engine is called with the list's copies,
 * never with the caller's string, so no client bytes reach an engine's name
 * parser. Names are unique across backends (flite: slt rms awb kal16;
 * espeak-ng: each voice's first language tag, en-us, en-gb, fr-fr, ...,
 * optionally with a variant, en-us+f3), so picking a voice picks a backend.
 * Names are matched without regard to ASCII case; the canonical spelling
 * is the list's.
 *
 * Text: synth() accepts only text already in the speech normal form of
 * text/speakable.h, at most PARLEY_SPEAKABLE_PIECE_MAX bytes, and refuses
 * anything else with PARLEY_E_RANGE; callers normalise first.
 *
 * Threads: the list is built once by parley_tts_init_all() before any
 * session exists and is read-only afterwards, so lookups are safe from any
 * thread. synth() may be called from any thread; backends that keep
 * process-global state (espeak-ng) serialise internally.
 */
#ifndef PARLEY_TTS_TTS_H
#define PARLEY_TTS_TTS_H

#include <stddef.h>
#include <stdint.h>

#define PARLEY_TTS_NAME_MAX 32    /* longest voice or engine name kept in the list */
#define PARLEY_TTS_VARIANT_MAX 24 /* longest variant name kept (espeak-ng's buffer is 40) */

struct parley_tts_backend;

/* A voice resolved from the allow-list. Every pointer points into the list
 * (static after startup); name is composed from list strings only. */
struct parley_tts_voice {
	const struct parley_tts_backend *backend;
	const char *engine;  /* the engine's own name: "slt", "gmw/en-US" */
	const char *variant; /* the engine's variant name ("f3"), or NULL */
	char name[PARLEY_TTS_NAME_MAX + 1 + PARLEY_TTS_VARIANT_MAX + 1]; /* "en-us+f3" */
};

/* Called by a backend's list functions for each voice it has. */
typedef void (*parley_tts_add_fn)(void *arg, const char *name, const char *engine);

struct parley_tts_backend {
	const char *name;
	const char *default_voice;
	/* Once at startup. Returns 0, or a PARLEY_E_* code (logged) when unusable. */
	int (*global_init)(void);
	/* Calls add(arg, parley_name, engine_name) for every voice it has. */
	void (*list)(parley_tts_add_fn add, void *arg);
	/* May be NULL (no variants): calls add(arg, variant, variant) for every
	 * voice variant it has. */
	void (*list_variants)(parley_tts_add_fn add, void *arg);
	/*
	 * Synthesises text (normal form, see above) with voice v at rate_mult
	 * (1.0 = normal speed) into a malloc'd buffer (*pcm, caller frees) of *n
	 * samples at *rate Hz. Returns 0, PARLEY_E_RANGE (text refused),
	 * PARLEY_E_INVAL (not this backend's voice), PARLEY_E_NOMEM or
	 * PARLEY_E_IO (the engine failed).
	 */
	int (*synth)(const struct parley_tts_voice *v, double rate_mult, const char *text,
		     int16_t **pcm, size_t *n, int *rate);
};

extern const struct parley_tts_backend parley_tts_flite;
extern const struct parley_tts_backend parley_tts_espeak;

/* Initialises every backend and builds the allow-list; returns how many
 * backends are usable. Call once, from one thread, before any lookup. */
int parley_tts_init_all(void);

/* The backend by name ("flite", "espeak"), or NULL. */
const struct parley_tts_backend *parley_tts_find(const char *name);

/*
 * Looks name up in the allow-list ("slt", "en-us", "EN-US+F3"). Fills *out
 * and returns 0, or returns PARLEY_E_NOTFOUND (name is only read).
 */
int parley_tts_voice_lookup(const char *name, struct parley_tts_voice *out);

/* Calls fn for every voice of the allow-list (plain names, no variants),
 * flite first. */
void parley_tts_each_voice(void (*fn)(void *arg, const char *voice), void *arg);

/* Calls fn for every voice variant of the allow-list ("f3", "Alex"), which
 * follow a voice of their backend after a '+'. */
void parley_tts_each_variant(void (*fn)(void *arg, const char *variant), void *arg);

/* A few valid names for messages: "slt rms awb kal16 en-us en-gb ...
 * (135 voices; variants such as en-us+f3)" (static, built at init). */
const char *parley_tts_all_voices(void);

#endif
