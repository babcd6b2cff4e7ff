/*
 * tts.h - the text-to-speech engine interface and the voice allow-list.
 *
 * A backend is a const ops table: flite.c and espeak.c embedded, openai.c
 * over HTTP (Kokoro-FastAPI, Orpheus-FastAPI, openedai-speech, OpenAI).
 * Every usable backend gets one engine at startup (parley_tts_init_all()),
 * shared by every session. A job synthesises one piece of an answer (a
 * sentence) with one voice: it is started with a sink, delivers audio
 * chunks with their sample rate as they are made, then exactly one end.
 * Remote engines stream: the first bytes of a sentence reach the sink
 * while the service is still synthesising. cancel() stops a job at any
 * point (a remote request's connection is closed) and end(CANCELLED)
 * follows unless end was already reported or is being reported: an end
 * already under way on the engine's thread (OK, or an ERROR such as a
 * timeout or an HTTP error that came just before the cancel) is reported
 * as it is, so a caller that cancels must still expect OK or ERROR and
 * judge them by its own state (the speaker ignores the end of a
 * superseded answer). Embedded engines run their jobs
 * on the worker pool; each engine admits at most its own number of jobs at
 * once and queues a bounded number more (first come, first served), then
 * start() fails with PARLEY_E_FULL.
 *
 * Voices: at startup every usable backend says which voices it really has
 * (flite: its registered voices; espeak-ng: espeak_ListVoices() for the
 * installed voices and for the variant files in espeak-ng-data/voices/!v;
 * a remote service: its voice list, e.g. Kokoro-FastAPI's GET
 * /v1/audio/voices, when warm-up first reaches it, or the configured
 * --tts-voice) and the registry keeps its own copy of each name: the
 * allow-list. A voice name from a client or the command line is only ever
 * looked up in that list (parley_tts_voice_lookup()); an engine is called
 * with the list's copies, never with the caller's string, so no client
 * bytes reach an engine's name parser. Names are unique across backends
 * (flite: slt rms awb kal16; espeak-ng: each voice's first language tag,
 * en-us, en-gb, fr-fr, ..., optionally with a variant, en-us+f3), so
 * picking a voice picks a backend. Names are matched without regard to
 * ASCII case; the canonical spelling is the list's.
 *
 * Text: jobs accept only text already in the speech normal form of
 * text/speakable.h, at most PARLEY_SPEAKABLE_PIECE_MAX bytes, and refuse
 * anything else (end ERROR, cause REFUSED); callers normalise first.
 *
 * Lifetime: start() returns a job holding one reference for the caller;
 * the engine holds its own until end was reported. cancel() is valid while
 * the caller holds its reference; release() drops it (cancelling a job
 * still running). The sink's arg must stay valid until end was reported.
 *
 * Threads: the list is built before any session exists; entries added
 * later (a remote engine's voices after warm-up) are published so that
 * lookups stay safe from any thread. start/cancel/release from any
 * thread, one at a time per job. Sink callbacks run on a worker or the
 * HTTP thread, never two at once for one job; they must not call back into
 * the job except release(). Backends that keep process-global state
 * (espeak-ng) serialise internally.
 */
#ifndef PARLEY_TTS_TTS_H
#define PARLEY_TTS_TTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "speech/speech.h"
#include "util/config.h"

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

struct parley_tts_engine;
struct parley_tts_job;

struct parley_tts_sink {
	/* n samples (borrowed for the call) of 16-bit mono audio at rate Hz. */
	void (*audio)(void *arg, const int16_t *pcm, size_t n, int rate);
	/* Exactly once. message is NULL unless ERROR: then a sentence for the
	 * user (keys masked, at most 120 bytes), cause says why. */
	void (*end)(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		    const char *message);
	void *arg;
};

struct parley_tts_backend {
	const char *name;
	const char *default_voice; /* NULL: the first voice it lists */
	bool remote;

	/* Once at startup. Returns 0, or a PARLEY_E_* code (logged) when
	 * unusable. May be NULL. */
	int (*global_init)(void);
	/* Calls add(arg, parley_name, engine_name) for every voice it has.
	 * May be NULL (a remote backend adds its voices after warm-up with
	 * parley_tts_voices_add()). */
	void (*list)(parley_tts_add_fn add, void *arg);
	/* May be NULL (no variants): calls add(arg, variant, variant) for every
	 * voice variant it has. */
	void (*list_variants)(parley_tts_add_fn add, void *arg);

	/* Main thread, once: the backend's engine from the configuration and
	 * the shared machinery (both borrowed; they outlive the engine). NULL
	 * with a sentence in why. */
	struct parley_tts_engine *(*create)(const struct parley_config *cfg,
					    const struct parley_speech_env *env, char *why,
					    size_t whylen);
	void (*destroy)(struct parley_tts_engine *e); /* accepts NULL; every job ended */
	/* Warm-up thread: one short synthesis, blocking. Returns 0, or -1 with
	 * a sentence in why (how to fix it); retried with backoff. May be NULL. */
	int (*warm)(struct parley_tts_engine *e, char *why, size_t whylen);
	/* Any thread: a warm() running now or later returns -1 soon (the
	 * warm-up is stopping; a remote request is cancelled). May be NULL. */
	void (*warm_abort)(struct parley_tts_engine *e);
	void (*info)(struct parley_tts_engine *e, struct parley_speech_info *out);

	/* Starts synthesising text (normal form, see above) with voice v (one
	 * of this backend's list entries) at rate_mult (1.0 = normal speed);
	 * text is copied, sink is copied. Returns the job, or NULL with *err =
	 * PARLEY_E_FULL (saturated), PARLEY_E_CLOSED (not ready),
	 * PARLEY_E_RANGE (text refused), PARLEY_E_INVAL (not this backend's
	 * voice) or PARLEY_E_NOMEM; on failure no callback is ever called. */
	struct parley_tts_job *(*start)(struct parley_tts_engine *e,
					const struct parley_tts_voice *v, double rate_mult,
					const char *text, const struct parley_tts_sink *sink,
					int *err);
	void (*cancel)(struct parley_tts_job *j);
	void (*release)(struct parley_tts_job *j);

	/*
	 * Embedded backends only (NULL for remote ones): synthesises text
	 * synchronously into a malloc'd buffer (*pcm, caller frees) of *n
	 * samples at *rate Hz. Returns 0, PARLEY_E_RANGE (text refused),
	 * PARLEY_E_INVAL (not this backend's voice), PARLEY_E_NOMEM or
	 * PARLEY_E_IO (the engine failed). Used by the embedded job runner and
	 * the fuzz harness.
	 */
	int (*synth)(const struct parley_tts_voice *v, double rate_mult, const char *text,
		     int16_t **pcm, size_t *n, int *rate);
};

extern const struct parley_tts_backend parley_tts_flite;
extern const struct parley_tts_backend parley_tts_espeak;
extern const struct parley_tts_backend parley_tts_openai;

/* Initialises every backend selected by cfg, creates its engine with env
 * (both borrowed, they outlive the registry; env may be NULL: voices only,
 * no engines, as the fuzz harness does) and builds the allow-list. Returns
 * how many backends are usable. The warm-up (speech/warmup.h) is started
 * by the caller. Call once, from one thread, before any lookup. */
int parley_tts_init_all(const struct parley_config *cfg, const struct parley_speech_env *env);

/* Calls fn for every engine created by parley_tts_init_all (the warm-up).
 * Main thread, after init. */
void parley_tts_each_engine(void (*fn)(void *arg, const struct parley_tts_backend *b,
				       struct parley_tts_engine *e),
			    void *arg);

/* Destroys the engines (after every session ended). */
void parley_tts_shutdown(void);

/* Starts a job on the engine of v's backend; see the backend's start().
 * Any thread. */
struct parley_tts_job *parley_tts_start(const struct parley_tts_voice *v, double rate_mult,
					const char *text, const struct parley_tts_sink *sink,
					int *err);
void parley_tts_cancel(const struct parley_tts_voice *v, struct parley_tts_job *j);
void parley_tts_release(const struct parley_tts_voice *v, struct parley_tts_job *j);

/* Adds a remote backend's voices to the allow-list (warm-up thread): names
 * are checked as the embedded ones are; returns how many were added. */
int parley_tts_voices_add(const struct parley_tts_backend *b, const char *const *names,
			  size_t n);

/* Calls fn for every engine's info with its warm-up state (status,
 * /readyz; see parley_speech_each_info). Any thread. */
void parley_tts_each_info(void (*fn)(void *arg, const struct parley_speech_info *info),
			  void *arg);

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
