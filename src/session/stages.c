#include "session/stages.h"

#include "session/internal.h"

#include "util/metrics.h"

static struct parley_histogram h[PARLEY_STAGE_COUNT];

static const struct {
	const char *name, *help;
} defs[PARLEY_STAGE_COUNT] = {
	[PARLEY_STAGE_TRANSCRIPT] = { "parley_stage_transcript_seconds",
				      "user speech end to final transcript" },
	[PARLEY_STAGE_FIRST_TOKEN] = { "parley_stage_first_token_seconds",
				       "final transcript or typed turn to first LLM token" },
	[PARLEY_STAGE_FIRST_AUDIO] = { "parley_stage_first_audio_seconds",
				       "first LLM token to first assistant audio sent" },
	[PARLEY_STAGE_TOTAL] = { "parley_stage_total_seconds",
				 "user speech end (or typed turn) to first assistant audio sent" },
	[PARLEY_STAGE_BARGE_IN] = { "parley_stage_barge_in_seconds",
				    "user speech onset to assistant audio stopped (stop_tts sent)" },
};

int parley_stages_register(void)
{
	int rc = 0;
	for (int i = 0; i < PARLEY_STAGE_COUNT && !rc; i++) {
		parley_histogram_init(&h[i], parley_latency_bounds, parley_latency_nbounds);
		rc = parley_metrics_register_histogram(defs[i].name, defs[i].help, &h[i]);
	}
	/* the turns' other outcome: speculative answers kept or discarded */
	return rc ? rc : parley_speculation_register_metrics();
}

void parley_stage_observe(enum parley_stage st, int64_t start_ns, int64_t end_ns)
{
	if ((unsigned)st >= PARLEY_STAGE_COUNT || !start_ns || !end_ns || end_ns < start_ns)
		return;
	parley_histogram_observe(&h[st], (double)(end_ns - start_ns) / 1e9);
}
