/* The Realtime session object of session.created / session.updated in
 * either dialect (realtime_internal.h, docs/realtime.md "Session"): the
 * protocol's settings and the session's turns, as the client reads them
 * back. The parsing of session.update is realtime_session.c's. */
#include <stdio.h>
#include <string.h>

#include "protocol/realtime_internal.h"

const struct rt_eagerness_info rt_eagerness[] = {
	[RT_EAGER_AUTO] = { "auto", 50 },
	[RT_EAGER_LOW] = { "low", 80 },
	[RT_EAGER_MEDIUM] = { "medium", 50 },
	[RT_EAGER_HIGH] = { "high", 20 },
};

/* --- the session object --- */

const char *const rt_ga_format[] = { [RT_PCM16] = "audio/pcm", [RT_ULAW] = "audio/pcmu",
					 [RT_ALAW] = "audio/pcma" };
const char *const rt_beta_format[] = { [RT_PCM16] = "pcm16", [RT_ULAW] = "g711_ulaw",
					   [RT_ALAW] = "g711_alaw" };

json_t *rt_format_json(const struct rt *rt, enum rt_codec c)
{
	if (rt->beta)
		return json_string(rt_beta_format[c]);
	if (c == RT_PCM16)
		return json_pack("{s:s, s:i}", "type", rt_ga_format[c], "rate", 24000);
	return json_pack("{s:s}", "type", rt_ga_format[c]);
}

static json_t *turns_json(const struct rt *rt, const struct parley_turns *t)
{
	switch (t->mode) {
	case PARLEY_TURNS_MANUAL:
		return json_null();
	case PARLEY_TURNS_FIXED: {
		json_t *j = json_pack("{s:s, s:f, s:i, s:i}", "type", "server_vad", "threshold",
				      t->threshold, "prefix_padding_ms", t->prefix_ms,
				      "silence_duration_ms", t->silence_ms);
		if (j && !rt->beta)
			json_object_set_new(j, "idle_timeout_ms", json_null());
		if (j) {
			json_object_set_new(j, "create_response", json_boolean(t->create_response));
			json_object_set_new(j, "interrupt_response",
					    json_boolean(t->interrupt_response));
		}
		return j;
	}
	case PARLEY_TURNS_ADAPTIVE:
		break;
	}
	return json_pack("{s:s, s:s, s:b, s:b}", "type", "semantic_vad", "eagerness",
			 rt_eagerness[rt->eagerness].name, "create_response", t->create_response,
			 "interrupt_response", t->interrupt_response);
}

static json_t *transcription_json(const struct rt *rt)
{
	if (!rt->transcription)
		return json_null();
	json_t *j = json_pack("{s:s}", "model", rt->tr_model[0] ? rt->tr_model : "parley");
	if (j && rt->tr_language[0])
		json_object_set_new(j, "language", json_string(rt->tr_language));
	return j;
}

static json_t *max_tokens_json(const struct rt *rt)
{
	return rt->max_tokens < 0 ? json_string("inf") : json_integer(rt->max_tokens);
}

static json_t *instructions_json(const struct rt *rt)
{
	const char *i = rt->instructions ? rt->instructions : "";
	return parley_json_text(i, strlen(i));
}

static json_t *modalities_json(const struct rt *rt)
{
	if (rt->beta)
		return rt->text_only ? json_pack("[s]", "text") : json_pack("[s,s]", "text", "audio");
	return json_pack("[s]", rt->text_only ? "text" : "audio");
}

/* rt->lock held; t is the session's turns, read before taking it. */
static json_t *session_json_locked(const struct rt *rt, const struct parley_turns *t)
{
	const char *model = rt->model[0] ? rt->model : "parley";
	json_t *j;
	if (rt->beta) {
		j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:[], s:s, s:f, "
			      "s:o, s:n, s:i, s:n, s:f, s:n}",
			      "object", "realtime.session", "id", rt->session_id, "model",
			      parley_json_text(model, strlen(model)), "modalities", modalities_json(rt),
			      "instructions", instructions_json(rt), "voice",
			      parley_json_text(rt->voice, strlen(rt->voice)), "input_audio_format",
			      rt_format_json(rt, rt->in_codec), "output_audio_format",
			      rt_format_json(rt, rt->out_codec), "input_audio_transcription",
			      transcription_json(rt), "turn_detection", turns_json(rt, t), "tools",
			      "tool_choice", "auto", "temperature", rt->temperature,
			      "max_response_output_tokens", max_tokens_json(rt), "tracing",
			      "expires_at", 0, "input_audio_noise_reduction", "speed", rt->speed,
			      "include");
		return j;
	}
	json_t *input = json_pack("{s:o, s:o, s:n, s:o}", "format", rt_format_json(rt, rt->in_codec),
				  "transcription", transcription_json(rt), "noise_reduction",
				  "turn_detection", turns_json(rt, t));
	json_t *output = json_pack("{s:o, s:o, s:f}", "format", rt_format_json(rt, rt->out_codec),
				   "voice", parley_json_text(rt->voice, strlen(rt->voice)), "speed",
				   rt->speed);
	j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:[], s:s, s:o, s:n, s:s, s:n, s:i, "
		      "s:{s:o, s:o}, s:n}",
		      "type", "realtime", "object", "realtime.session", "id", rt->session_id,
		      "model", parley_json_text(model, strlen(model)), "output_modalities",
		      modalities_json(rt), "instructions", instructions_json(rt), "tools",
		      "tool_choice", "auto", "max_output_tokens", max_tokens_json(rt), "tracing",
		      "truncation", "auto", "prompt", "expires_at", 0, "audio", "input", input,
		      "output", output, "include");
	return j;
}

void rt_session_push(struct parley_session *s, enum rt_ev kind)
{
	struct rt *rt = rt_of(s);
	struct parley_turns t;
	parley_session_get_turns(s, &t);
	pthread_mutex_lock(&rt->lock);
	json_t *ev = rt_event(rt, kind);
	json_t *sess = session_json_locked(rt, &t);
	if (ev && sess) {
		json_object_set_new(ev, "session", sess);
		sess = NULL;
	} else {
		json_decref(ev);
		ev = NULL;
	}
	json_decref(sess);
	rt_push(s, ev, kind);
	pthread_mutex_unlock(&rt->lock);
}

void rt_session_hello(struct parley_session *s)
{
	rt_session_push(s, RT_EV_SESSION_CREATED);
}
