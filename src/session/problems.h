/*
 * problems.h - what each engine failure means for the session: one table
 * (problems.c) maps the engines' refusals and causes to the session's
 * problems (session.h, enum parley_session_problem), and names them for
 * the wire. The listener, the answerer and the speaker report through it.
 *
 * Threads: any (pure).
 */
#ifndef PARLEY_SESSION_PROBLEMS_H
#define PARLEY_SESSION_PROBLEMS_H

#include "llm/engine.h"
#include "session/session.h"
#include "speech/speech.h"

enum parley_engine_kind { PARLEY_ENGINE_LLM = 0, PARLEY_ENGINE_STT, PARLEY_ENGINE_TTS };

/* An engine refused to start a job with err (util/err.h): PARLEY_E_FULL is
 * busy, PARLEY_E_CLOSED unavailable, anything else the engine's error (the
 * LLM's: internal). */
enum parley_session_problem parley_problem_of_submit(enum parley_engine_kind e, int err);

/* A speech job (STT or TTS) ended in an error of this cause. */
enum parley_session_problem parley_problem_of_speech(enum parley_engine_kind e,
						     enum parley_speech_cause cause);

/* An LLM request ended in an error of this cause. */
enum parley_session_problem parley_problem_of_llm(enum parley_llm_cause cause);

#endif
