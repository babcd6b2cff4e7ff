/*
 * stages.h - per-turn stage latency histograms (Prometheus) shared by all
 * sessions:
 *   transcript   user's speech end -> final transcript
 *   first_token  final transcript (or typed turn) -> first LLM token
 *   first_audio  first LLM token -> first assistant audio queued to the client
 *   total        speech end (or typed turn) -> first audio
 *   barge_in     user's speech onset -> stop_tts queued
 * Registered once at startup; observe from any thread.
 */
#ifndef PARLEY_SESSION_STAGES_H
#define PARLEY_SESSION_STAGES_H

#include <stdint.h>

enum parley_stage {
	PARLEY_STAGE_TRANSCRIPT = 0,
	PARLEY_STAGE_FIRST_TOKEN,
	PARLEY_STAGE_FIRST_AUDIO,
	PARLEY_STAGE_TOTAL,
	PARLEY_STAGE_BARGE_IN,
	PARLEY_STAGE_COUNT
};

int parley_stages_register(void);

/* Records end - start (ns) when both are set and in order. */
void parley_stage_observe(enum parley_stage st, int64_t start_ns, int64_t end_ns);

#endif
