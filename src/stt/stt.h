/*
 * stt.h - the speech-to-text engine interface.
 *
 * A backend is a const ops table (pocketsphinx.c embedded, openai.c over
 * HTTP), found by name with parley_stt_backend_find(). An engine is one
 * running instance of a backend, created once at startup from the
 * configuration and shared by every session; a job is one utterance.
 *
 * A job is started with a sink, fed audio at the backend's rate (16 kHz
 * mono) in order, then finished or cancelled. Results arrive through the
 * sink asynchronously: partial hypotheses while audio is fed (embedded
 * engines: during feed(), on the caller's thread; remote engines: when a
 * re-posted growing utterance is answered, on the HTTP thread), then
 * exactly one end. The session's listener (session/listen.c) keeps the
 * local VAD and turn-taking in charge: it starts a job at speech onset,
 * feeds it while the user speaks, and finishes it when the turn ends.
 *
 * Lifetime: start() returns a job holding one reference for the caller;
 * the engine holds its own until it has reported end. The caller gives its
 * reference back with release() (after finish() or cancel(), or instead of
 * them, which cancels). feed/finish/cancel are only valid while the caller
 * holds its reference. The sink's arg must stay valid until end was
 * reported.
 *
 * Threads: create/destroy on the main thread; warm on the warm-up thread;
 * a job's feed/finish/cancel/release from one thread at a time (the
 * session's listen strand); sink callbacks may run on any thread but never
 * two at once for one job, and never while the caller is inside feed() of
 * a remote engine. Callbacks must not call back into the job except
 * release().
 */
#ifndef PARLEY_STT_STT_H
#define PARLEY_STT_STT_H

#include <stddef.h>
#include <stdint.h>

#include "speech/speech.h"
#include "util/config.h"

struct parley_stt_engine;
struct parley_stt_job;

struct parley_stt_sink {
	/* A hypothesis of the utterance so far (may be NULL: not wanted). */
	void (*partial)(void *arg, const char *text);
	/* Exactly once. OK: text is the final transcript (may be empty: no
	 * words). ERROR: text is a message for the user (keys masked, at most
	 * 120 bytes), cause says why. CANCELLED: text is "". */
	void (*end)(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		    const char *text);
	void *arg;
};

struct parley_stt_backend {
	const char *name; /* "pocketsphinx", "openai" */
	int rate;         /* input sample rate: 16000 */

	/* Main thread, once: an engine from the configuration and the shared
	 * machinery (both borrowed; they outlive the engine). NULL with a
	 * sentence in why on failure. */
	struct parley_stt_engine *(*create)(const struct parley_config *cfg,
					    const struct parley_speech_env *env, char *why,
					    size_t whylen);
	void (*destroy)(struct parley_stt_engine *e); /* accepts NULL; every job ended */

	/* Warm-up thread: one short transcription, blocking. Returns 0, or -1
	 * with a sentence in why (how to fix it) when the engine cannot work
	 * yet; called again with backoff until it succeeds. May be NULL. */
	int (*warm)(struct parley_stt_engine *e, char *why, size_t whylen);
	/* Any thread: a warm() running now or later returns -1 soon (the
	 * warm-up is stopping; a remote request is cancelled). May be NULL. */
	void (*warm_abort)(struct parley_stt_engine *e);
	/* The engine's info (state filled in by the caller). */
	void (*info)(struct parley_stt_engine *e, struct parley_speech_info *out);

	/* Starts an utterance; sink is copied. Returns the job, or NULL with
	 * *err = PARLEY_E_FULL (saturated: every decoder busy or the queue
	 * full), PARLEY_E_CLOSED (not ready) or PARLEY_E_NOMEM; on failure no
	 * callback is ever called. */
	struct parley_stt_job *(*start)(struct parley_stt_engine *e,
					const struct parley_stt_sink *sink, int *err);
	/* n samples at `rate` (borrowed). Returns 0, or an error when the job
	 * takes no more audio: it has ended (an embedded engine's failure is
	 * reported through end inside feed()), or it failed without ending yet
	 * (a remote engine out of memory: never a callback inside its feed()).
	 * Either way the caller stops feeding and finishes (or cancels) the
	 * job, whose end reports why, then releases it. */
	int (*feed)(struct parley_stt_job *j, const int16_t *pcm, size_t n);
	/* No more audio: the final transcript (or an error) follows through
	 * end, possibly before finish() returns. */
	void (*finish)(struct parley_stt_job *j);
	/* Stops the job: end(CANCELLED) follows unless end was already
	 * reported; a remote request's connection is closed. */
	void (*cancel)(struct parley_stt_job *j);
	/* Drops the caller's reference (cancels first if the job is running). */
	void (*release)(struct parley_stt_job *j);
};

extern const struct parley_stt_backend parley_stt_pocketsphinx;
extern const struct parley_stt_backend parley_stt_openai;

/* "pocketsphinx", "openai"; NULL when unknown. */
const struct parley_stt_backend *parley_stt_backend_find(const char *name);

#endif
