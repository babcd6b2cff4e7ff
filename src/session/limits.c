#include "session/limits.h"

#include "session/settings.h"

void parley_session_limits_init(struct parley_session_limits *l, const struct parley_config *cfg)
{
	l->answer_tokens = cfg->llm_max_tokens;
	size_t answer = (size_t)cfg->llm_max_tokens * PARLEY_ANSWER_BYTES_PER_TOKEN;
	l->answer_max_bytes = answer > PARLEY_ANSWER_MIN_BYTES ? answer : PARLEY_ANSWER_MIN_BYTES;
	l->turns_per_minute = cfg->turns_per_minute;
	/* A quarter of a minute's turns at once: 5 by default, and a raised
	 * limit raises the burst with it. */
	l->turn_burst = cfg->turns_per_minute >= 4 ? cfg->turns_per_minute / 4 : 1;
	l->budget.max = (size_t)cfg->max_queued_mb << 20;
	size_t reserve = l->budget.max / 2 / (size_t)(cfg->max_sessions > 0 ? cfg->max_sessions : 1);
	l->budget.reserve = reserve < PARLEY_BUDGET_RESERVE_MAX ? reserve : PARLEY_BUDGET_RESERVE_MAX;
	parley_gauge_set(&l->budget.used, 0);
	parley_gauge_set(&l->budget_max, (int64_t)l->budget.max);
}

int parley_session_limits_register(struct parley_session_limits *l)
{
	int rc = parley_metrics_register_gauge(
		"parley_outqueue_bytes",
		"bytes queued for clients in every session's out-queue (--max-queued-mb budget)",
		NULL, NULL, &l->budget.used);
	if (!rc)
		rc = parley_metrics_register_gauge("parley_outqueue_budget_bytes",
						   "server-wide budget for queued bytes (--max-queued-mb)",
						   NULL, NULL, &l->budget_max);
	return rc;
}

void parley_session_outq_bounds(const struct parley_session_limits *l,
				const struct parley_settings *st, size_t *max_msgs,
				size_t *max_bytes)
{
	double rate = st->tts_rate > 0 ? st->tts_rate : 1.0;
	double seconds = (double)l->answer_tokens * PARLEY_CHARS_PER_TOKEN /
			 (PARLEY_SLOWEST_CHARS_PER_S * rate);
	double per_s = (double)st->output_sample_rate * 2;
	if (st->audio_out == PARLEY_AUDIO_OUT_BASE64)
		per_s = per_s * 4 / 3 + 10 * 32; /* base64, and the JSON around each chunk */
	double bytes = seconds * per_s + PARLEY_OUTQ_TEXT_HEADROOM;
	*max_bytes = bytes < PARLEY_OUTQ_MAX_BYTES_CEILING ? (size_t)bytes
							    : PARLEY_OUTQ_MAX_BYTES_CEILING;
	double msgs = seconds * 10 + PARLEY_OUTQ_TEXT_MSGS;
	*max_msgs = msgs < PARLEY_OUTQ_MAX_MSGS_CEILING ? (size_t)msgs : PARLEY_OUTQ_MAX_MSGS_CEILING;
}
