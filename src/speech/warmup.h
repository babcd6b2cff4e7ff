/*
 * warmup.h - the speech engines' warm-up: at startup every configured STT
 * and TTS engine runs its backend's warm() once (a short transcription, a
 * short synthesis) on one thread of its own, measured; an engine whose
 * warm-up fails is retried after 1, 2, 4 ... 30 s. Each engine's state goes
 * to the log, to the engine table of speech.h (status messages), to
 * /metrics (parley_stt_ready / parley_tts_ready and
 * parley_stt_warmup_seconds / parley_tts_warmup_seconds, labelled by
 * engine) and to the readiness components "stt" and "tts" (ready when
 * every engine of that kind is; otherwise "engine: why" of the first one
 * that is not). on_state is called (on the warm-up thread) whenever an
 * engine's state changes, so sessions can be told.
 *
 * Warming an engine never gates its jobs: embedded engines work at once;
 * a remote engine decides itself whether it takes jobs before it answered.
 *
 * Threads: start/stop on the main thread. stop joins the thread, which
 * finishes the warm() it is in first (remote warm-ups have timeouts, the
 * embedded STT one waits at most 2 s for its decoders).
 */
#ifndef PARLEY_SPEECH_WARMUP_H
#define PARLEY_SPEECH_WARMUP_H

#include "stt/stt.h"
#include "tts/tts.h"

struct parley_speech_warmup;

/* Starts warming stt (may be NULL) and every TTS engine of
 * parley_tts_each_engine(). The engines must outlive the warm-up. NULL on
 * failure (logged). */
struct parley_speech_warmup *parley_speech_warmup_start(const struct parley_stt_backend *stt_b,
							struct parley_stt_engine *stt_e,
							void (*on_state)(void *arg), void *arg);

/* Stops and joins the warm-up thread. Accepts NULL. */
void parley_speech_warmup_stop(struct parley_speech_warmup *w);

#endif
