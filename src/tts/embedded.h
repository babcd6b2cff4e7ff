/*
 * embedded.h - the job runner shared by the embedded synthesisers (flite,
 * espeak-ng): it turns a backend's synchronous synth() into the
 * asynchronous engine of tts.h, running jobs on the worker pool.
 *
 * Each engine runs at most max_inflight jobs at once (--tts-max-inflight,
 * 0 = the number of workers) and queues up to --tts-max-queue more, first
 * come first served; beyond that start() fails with PARLEY_E_FULL. A job
 * runs synth() on a worker, then hands the audio to the sink in chunks of
 * about 100 ms, then reports exactly one end. cancel(): a queued job leaves
 * the queue and ends CANCELLED on a worker without synthesising; a running
 * one's audio is discarded (between chunks) and it ends CANCELLED. end is
 * never called from inside start(), cancel() or release() while the pool
 * runs (only when the pool refuses work at shutdown).
 *
 * Each job runs on a strand of its own (util/workers.h), which holds a job
 * reference while queued or running; the caller holds one until release(),
 * the engine one until end. Threads: every function is thread-safe.
 */
#ifndef PARLEY_TTS_EMBEDDED_H
#define PARLEY_TTS_EMBEDDED_H

#include "tts/tts.h"

/* The slots of an embedded backend's table (b: the backend itself). */
struct parley_tts_engine *parley_tts_embedded_create(const struct parley_tts_backend *b,
						     const struct parley_config *cfg,
						     const struct parley_speech_env *env,
						     char *why, size_t whylen);
void parley_tts_embedded_destroy(struct parley_tts_engine *e);
/* Synthesises a short sentence with the backend's default voice. */
int parley_tts_embedded_warm(struct parley_tts_engine *e, char *why, size_t whylen);
/* The same with another of its voices (a backend's own warm slot). */
int parley_tts_embedded_warm_voice(struct parley_tts_engine *e, const char *voice, char *why,
				   size_t whylen);
void parley_tts_embedded_info(struct parley_tts_engine *e, struct parley_speech_info *out);
struct parley_tts_job *parley_tts_embedded_start(struct parley_tts_engine *e,
						 const struct parley_tts_voice *v, double rate_mult,
						 const char *text, const struct parley_tts_sink *sink,
						 int *err);
void parley_tts_embedded_cancel(struct parley_tts_job *j);
void parley_tts_embedded_release(struct parley_tts_job *j);

#define PARLEY_TTS_EMBEDDED_SLOTS                                                             \
	.destroy = parley_tts_embedded_destroy,                                               \
	.info = parley_tts_embedded_info, .start = parley_tts_embedded_start,                 \
	.cancel = parley_tts_embedded_cancel, .release = parley_tts_embedded_release

#endif
