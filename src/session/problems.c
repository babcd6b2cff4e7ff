/*
 * problems.c - see problems.h. Every mapping of an engine's failure to a
 * session problem is a row here; the problems' wire names are
 * parley_session_problem_name()'s table.
 */
#include "session/problems.h"

#include "util/err.h"

static const char *const problem_names[PARLEY_SESSION_PROBLEM_COUNT] = {
	[PARLEY_SESSION_AUDIO_OVERFLOW] = "audio_overflow",
	[PARLEY_SESSION_AUDIO_TOO_FAST] = "audio_too_fast",
	[PARLEY_SESSION_RATE_LIMITED] = "rate_limited",
	[PARLEY_SESSION_LLM_BUSY] = "llm_busy",
	[PARLEY_SESSION_LLM_UNAVAILABLE] = "llm_unavailable",
	[PARLEY_SESSION_LLM_ERROR] = "llm_error",
	[PARLEY_SESSION_LLM_TIMEOUT] = "llm_timeout",
	[PARLEY_SESSION_OVERLOADED] = "overloaded",
	[PARLEY_SESSION_STT_BUSY] = "stt_busy",
	[PARLEY_SESSION_STT_UNAVAILABLE] = "stt_unavailable",
	[PARLEY_SESSION_STT_TIMEOUT] = "stt_timeout",
	[PARLEY_SESSION_STT_ERROR] = "stt_error",
	[PARLEY_SESSION_TTS_BUSY] = "tts_busy",
	[PARLEY_SESSION_TTS_UNAVAILABLE] = "tts_unavailable",
	[PARLEY_SESSION_TTS_TIMEOUT] = "tts_timeout",
	[PARLEY_SESSION_TTS_ERROR] = "tts_error",
	[PARLEY_SESSION_INTERNAL] = "internal",
};

const char *parley_session_problem_name(enum parley_session_problem p)
{
	return (unsigned)p < PARLEY_SESSION_PROBLEM_COUNT ? problem_names[p] : "internal";
}

/* One engine's failures, by what went wrong. */
struct row {
	enum parley_session_problem busy;        /* saturated: its queue is full */
	enum parley_session_problem unavailable; /* down, or not warmed up */
	enum parley_session_problem timeout;     /* did not answer in time */
	enum parley_session_problem failed;      /* any other failure of a job */
	enum parley_session_problem refused;     /* any other refusal to start one */
};

static const struct row rows[] = {
	[PARLEY_ENGINE_LLM] = { PARLEY_SESSION_LLM_BUSY, PARLEY_SESSION_LLM_UNAVAILABLE,
				PARLEY_SESSION_LLM_TIMEOUT, PARLEY_SESSION_LLM_ERROR,
				PARLEY_SESSION_INTERNAL },
	[PARLEY_ENGINE_STT] = { PARLEY_SESSION_STT_BUSY, PARLEY_SESSION_STT_UNAVAILABLE,
				PARLEY_SESSION_STT_TIMEOUT, PARLEY_SESSION_STT_ERROR,
				PARLEY_SESSION_STT_ERROR },
	[PARLEY_ENGINE_TTS] = { PARLEY_SESSION_TTS_BUSY, PARLEY_SESSION_TTS_UNAVAILABLE,
				PARLEY_SESSION_TTS_TIMEOUT, PARLEY_SESSION_TTS_ERROR,
				PARLEY_SESSION_TTS_ERROR },
};

enum parley_session_problem parley_problem_of_submit(enum parley_engine_kind e, int err)
{
	const struct row *r = &rows[e];
	return err == PARLEY_E_FULL ? r->busy : err == PARLEY_E_CLOSED ? r->unavailable : r->refused;
}

enum parley_session_problem parley_problem_of_speech(enum parley_engine_kind e,
						     enum parley_speech_cause cause)
{
	const struct row *r = &rows[e];
	switch (cause) {
	case PARLEY_SPEECH_CAUSE_BUSY: return r->busy;
	case PARLEY_SPEECH_CAUSE_UNAVAILABLE: return r->unavailable;
	case PARLEY_SPEECH_CAUSE_TIMEOUT: return r->timeout;
	default: return r->failed;
	}
}

enum parley_session_problem parley_problem_of_llm(enum parley_llm_cause cause)
{
	const struct row *r = &rows[PARLEY_ENGINE_LLM];
	switch (cause) {
	case PARLEY_LLM_CAUSE_UNAVAILABLE: return r->unavailable;
	case PARLEY_LLM_CAUSE_TIMEOUT: return r->timeout;
	default: return r->failed;
	}
}
