/*
 * openai_internal.h - what openai.c (the engine and its jobs) and
 * openai_warm.c (warm-up and the service's voice list) share; private to
 * src/tts/.
 *
 * An engine is one speech service: its URLs, a lane on the shared HTTP
 * pool (the server's, net/http.h) and its warm-up state. A job is one POST
 * /v1/audio/speech whose body streams through a pcmstream decoder into the
 * sink. Warm-up runs the same request, built by the same function, with
 * parley_http_run_blocking() on the warm-up thread.
 *
 * Job lifetime: two references, the caller's (dropped by release()) and
 * the HTTP callbacks' (dropped after end). Fields below say which thread
 * touches them.
 */
#ifndef PARLEY_TTS_OPENAI_INTERNAL_H
#define PARLEY_TTS_OPENAI_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "audio/pcmstream.h"
#include "net/http.h"
#include "tts/tts.h"

#define OPENAI_RAW_RATE 24000 /* response_format "pcm": 24 kHz, 16-bit mono LE */
#define OPENAI_MSG_MAX 120    /* bytes of a message for the user */
#define OPENAI_SENTENCE_MAX_MS 120000L /* a sentence's whole answer (see openai.c) */

struct parley_tts_engine {
	const struct parley_config *cfg; /* borrowed, read-only */
	struct parley_http_pool *pool;   /* env->http: borrowed, outlives the engine */
	struct parley_http_lane *lane;   /* "tts", lives as long as the pool */
	char speech_url[1024];           /* {base}/v1/audio/speech */
	char voices_url[1024];           /* {base}/v1/audio/voices */
	char origin[300];                /* scheme://host:port, for the operator */
	char voice[PARLEY_TTS_NAME_MAX + 1]; /* the default voice's engine name */

	atomic_bool abort_warm;        /* the warm-up is stopping: its requests end */

	pthread_mutex_t lock;          /* guards the fields below */
	struct parley_speech_info info; /* state, reason, warm-up time */
	bool voices_listed;            /* the service's list was added */
};

struct parley_tts_job {
	atomic_int refs;
	atomic_bool cancelled; /* any thread sets it; the HTTP thread reads it */
	atomic_bool ended;     /* set on the HTTP thread once end was reported */
	struct parley_tts_engine *e;
	uint64_t id;           /* the HTTP request; the caller's thread only */
	struct parley_tts_sink sink;

	/* The HTTP thread only (or the warm-up thread, for a blocking job). */
	struct parley_pcm_stream pcm;
	char why[200];          /* our own reason to stop the transfer ("" none) */
	long status;            /* the answer's status (0 before it is known) */
	uint64_t bytes;         /* body bytes received */
	bool warmup;            /* the warm-up's probe: failures are not logged here */
	enum parley_speech_cause cause; /* how it ended (NONE when OK) */
	char detail[OPENAI_MSG_MAX + 1]; /* the service's own message, masked */
};

/*
 * Builds the POST of text (normal form) in engine voice name voice at
 * rate_mult into *req (its owned parts are the caller's until submitted).
 * Returns 0 or PARLEY_E_NOMEM.
 */
int parley_openai_tts_request(struct parley_tts_engine *e, const char *voice, double rate_mult,
			      const char *text, struct parley_http_request *req);

/* A new job with both references, for e, reporting to sink (copied). NULL on OOM. */
struct parley_tts_job *parley_openai_tts_job_new(struct parley_tts_engine *e,
						 const struct parley_tts_sink *sink);

/* Drops one reference; the last frees the job. Any thread. */
void parley_openai_tts_job_unref(struct parley_tts_job *j);

/* The HTTP callbacks of job j. */
void parley_openai_tts_callbacks(struct parley_tts_job *j, struct parley_http_callbacks *cb);

/* warm(), warm_abort() and info() (openai_warm.c). */
int parley_openai_tts_warm(struct parley_tts_engine *e, char *why, size_t whylen);
void parley_openai_tts_warm_abort(struct parley_tts_engine *e);
void parley_openai_tts_info(struct parley_tts_engine *e, struct parley_speech_info *out);

#endif
