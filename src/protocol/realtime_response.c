/* The Realtime response state machine: the session's answer events become
 * one response each (response.created ... response.done), and the events
 * table of the wire (realtime_internal.h, docs/realtime.md "Responses").
 *
 * An answer opens its response, its one assistant item and that item's one
 * content part at once (answer_started); the transcript deltas follow the
 * spoken text (answer_partial), the audio deltas the audio; answer_final
 * closes all of it innermost first and sends response.done, exactly once.
 * A response still open when a newer answer starts (the session ends the
 * older answer first: a safety net) is closed as cancelled (turn_detected). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/realtime_internal.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/log.h"
#include "util/outq.h"

/* Token estimates: about four characters a token. */
static long tokens(size_t chars)
{
	return (long)((chars + 3) / 4);
}

static json_t *usage_json(const struct rt *rt, size_t in_chars, size_t out_chars)
{
	long in = tokens(in_chars), out = tokens(out_chars);
	json_t *cached = rt->beta ? json_pack("{s:i, s:i}", "text_tokens", 0, "audio_tokens", 0)
				  : json_pack("{s:i, s:i, s:i}", "text_tokens", 0, "audio_tokens", 0,
					      "image_tokens", 0);
	json_t *in_details = json_pack("{s:I, s:i, s:i, s:o}", "text_tokens", (json_int_t)in,
				       "audio_tokens", 0, "cached_tokens", 0,
				       "cached_tokens_details", cached);
	if (in_details && !rt->beta)
		json_object_set_new(in_details, "image_tokens", json_integer(0));
	return json_pack("{s:I, s:I, s:I, s:o, s:{s:I, s:i}}", "total_tokens",
			 (json_int_t)(in + out), "input_tokens", (json_int_t)in, "output_tokens",
			 (json_int_t)out, "input_token_details", in_details,
			 "output_token_details", "text_tokens", (json_int_t)out, "audio_tokens", 0);
}

/* The assistant item with its content (status: in_progress, completed,
 * incomplete). text NULL: no content yet. */
static json_t *assistant_item(const struct rt *rt, const char *status, const char *text,
			      size_t len)
{
	const struct rt_response *r = &rt->resp;
	json_t *item = rt_message_item(rt, r->item_id, status, "assistant");
	if (!item || !text)
		return item;
	const char *type = r->text_only ? (rt->beta ? "text" : "output_text")
					: (rt->beta ? "audio" : "output_audio");
	json_array_append_new(json_object_get(item, "content"),
			      json_pack("{s:s, s:o}", "type", type,
					r->text_only ? "text" : "transcript",
					parley_json_text(text, len)));
	return item;
}

/* The content part {type audio|text, transcript|text}. */
static json_t *part_json(const struct rt_response *r, const char *text, size_t len)
{
	return r->text_only ? json_pack("{s:s, s:o}", "type", "text", "text", parley_json_text(text, len))
			    : json_pack("{s:s, s:o}", "type", "audio", "transcript",
					parley_json_text(text, len));
}

static json_t *status_details(enum rt_end end)
{
	switch (end) {
	case RT_END_COMPLETED:
		break;
	case RT_END_TURN_DETECTED:
		return json_pack("{s:s, s:s}", "type", "cancelled", "reason", "turn_detected");
	case RT_END_CLIENT:
		return json_pack("{s:s, s:s}", "type", "cancelled", "reason", "client_cancelled");
	case RT_END_FAILED:
		return json_pack("{s:s, s:{s:s, s:s}}", "type", "failed", "error", "type",
				 "server_error", "code", "response_failed");
	}
	return json_null();
}

static const char *status_name(enum rt_end end)
{
	return end == RT_END_COMPLETED ? "completed" : end == RT_END_FAILED ? "failed" : "cancelled";
}

/* The response object; output and usage stolen (NULL: [] and null). */
static json_t *response_json(const struct rt *rt, const char *status, json_t *details,
			     json_t *output, json_t *usage)
{
	const struct rt_response *r = &rt->resp;
	json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "object", "realtime.response",
			      "id", r->id, "status", status, "status_details",
			      details ? details : json_null(), "output",
			      output ? output : json_array(), "conversation_id",
			      rt->conversation_id);
	if (!j) {
		json_decref(usage);
		return NULL;
	}
	json_t *mods = r->text_only ? json_pack("[s]", "text")
				    : rt->beta ? json_pack("[s,s]", "text", "audio")
					       : json_pack("[s]", "audio");
	json_t *max = rt->max_tokens < 0 ? json_string("inf") : json_integer(rt->max_tokens);
	if (rt->beta) {
		json_object_set_new(j, "modalities", mods);
		json_object_set_new(j, "voice", json_string(rt->voice));
		json_object_set_new(j, "output_audio_format", rt_format_json(rt, rt->out_codec));
		json_object_set_new(j, "temperature", json_real(rt->temperature));
		json_object_set_new(j, "max_output_tokens", max);
	} else {
		json_object_set_new(j, "output_modalities", mods);
		json_object_set_new(j, "max_output_tokens", max);
		json_object_set_new(j, "audio",
				    json_pack("{s:{s:o, s:s}}", "output", "format",
					      rt_format_json(rt, rt->out_codec), "voice", rt->voice));
	}
	json_object_set_new(j, "usage", usage ? usage : json_null());
	json_object_set_new(j, "metadata", json_null());
	return j;
}

/* {type, event_id, response_id, item_id, output_index: 0, content_index: 0} */
static json_t *part_event(struct rt *rt, enum rt_ev kind)
{
	json_t *ev = rt_event(rt, kind);
	if (ev)
		json_object_update_new(ev, json_pack("{s:s, s:s, s:i, s:i}", "response_id",
						     rt->resp.id, "item_id", rt->resp.item_id,
						     "output_index", 0, "content_index", 0));
	return ev;
}

/* Opens a response, its item and its content part. rt->lock held. */
static void open_locked(struct parley_session *s, struct rt *rt, uint64_t answer)
{
	struct rt_response *r = &rt->resp;
	free(r->said);
	*r = (struct rt_response){ .active = true, .text_only = rt->text_only,
				   .cancel_asked = rt->cancel_next, .answer = answer };
	rt->cancel_next = false;
	rt_new_id(rt, "resp_", r->id);
	rt_new_id(rt, "item_", r->item_id);
	snprintf(r->prev_item, sizeof r->prev_item, "%s", rt->last_item);
	r->in_chars = rt->conv_chars + (rt->instructions ? strlen(rt->instructions) : 0);

	json_t *ev = rt_event(rt, RT_EV_RESPONSE_CREATED);
	if (ev)
		json_object_set_new(ev, "response",
				    response_json(rt, "in_progress", NULL, NULL, NULL));
	rt_push(s, ev, RT_EV_RESPONSE_CREATED);

	json_t *item = assistant_item(rt, "in_progress", NULL, 0);
	ev = rt_event(rt, RT_EV_OUTPUT_ITEM_ADDED);
	if (ev && item) {
		json_object_update_new(ev, json_pack("{s:s, s:i, s:O}", "response_id", r->id,
						     "output_index", 0, "item", item));
	}
	rt_push(s, ev, RT_EV_OUTPUT_ITEM_ADDED);
	rt_item_appeared(s, rt, item, r->prev_item);
	json_decref(item);
	snprintf(rt->last_item, sizeof rt->last_item, "%s", r->item_id);
	rt_item_note(rt, r->item_id);
	memmove(&rt->said[1], &rt->said[0], (RT_SAID_MAX - 1) * sizeof rt->said[0]);
	snprintf(rt->said[0].item, sizeof rt->said[0].item, "%s", r->item_id);
	rt->said[0].answer = answer;

	ev = part_event(rt, RT_EV_CONTENT_PART_ADDED);
	if (ev)
		json_object_set_new(ev, "part", part_json(r, "", 0));
	rt_push(s, ev, RT_EV_CONTENT_PART_ADDED);
}

/* Sends the transcript from r->sent to len as one delta. rt->lock held. */
static void delta_locked(struct parley_session *s, struct rt *rt, const char *text, size_t len)
{
	struct rt_response *r = &rt->resp;
	if (len <= r->sent)
		return;
	char *said = realloc(r->said, len);
	if (!said)
		return;
	memcpy(said + r->sent, text + r->sent, len - r->sent);
	r->said = said;
	enum rt_ev kind = r->text_only ? RT_EV_TEXT_DELTA : RT_EV_AUDIO_TRANSCRIPT_DELTA;
	json_t *ev = part_event(rt, kind);
	if (ev)
		json_object_set_new(ev, "delta", parley_json_text(text + r->sent, len - r->sent));
	rt_push(s, ev, kind);
	r->sent = len;
}

/* Closes the open response, innermost first. rt->lock held. */
static void close_locked(struct parley_session *s, struct rt *rt, const char *text, size_t len,
			 enum rt_end end)
{
	struct rt_response *r = &rt->resp;
	json_t *ev;
	if (end == RT_END_COMPLETED && len >= r->sent && (!r->sent || memcmp(text, r->said, r->sent) == 0))
		delta_locked(s, rt, text, len); /* the deltas add up to the transcript */
	if (r->text_only) {
		ev = part_event(rt, RT_EV_TEXT_DONE);
		if (ev)
			json_object_set_new(ev, "text", parley_json_text(text, len));
		rt_push(s, ev, RT_EV_TEXT_DONE);
	} else {
		rt_push(s, part_event(rt, RT_EV_AUDIO_DONE), RT_EV_AUDIO_DONE);
		ev = part_event(rt, RT_EV_AUDIO_TRANSCRIPT_DONE);
		if (ev)
			json_object_set_new(ev, "transcript", parley_json_text(text, len));
		rt_push(s, ev, RT_EV_AUDIO_TRANSCRIPT_DONE);
	}
	ev = part_event(rt, RT_EV_CONTENT_PART_DONE);
	if (ev)
		json_object_set_new(ev, "part", part_json(r, text, len));
	rt_push(s, ev, RT_EV_CONTENT_PART_DONE);

	const char *status = end == RT_END_COMPLETED ? "completed" : "incomplete";
	json_t *item = assistant_item(rt, status, text, len);
	ev = rt_event(rt, RT_EV_OUTPUT_ITEM_DONE);
	if (ev && item)
		json_object_update_new(ev, json_pack("{s:s, s:i, s:O}", "response_id", r->id,
						     "output_index", 0, "item", item));
	rt_push(s, ev, RT_EV_OUTPUT_ITEM_DONE);
	if (!rt->beta && item) {
		ev = rt_event(rt, RT_EV_ITEM_DONE);
		if (ev)
			json_object_update_new(ev, json_pack("{s:o, s:O}", "previous_item_id",
							     rt_id_json(r->prev_item), "item",
							     item));
		rt_push(s, ev, RT_EV_ITEM_DONE);
	}

	ev = rt_event(rt, RT_EV_RESPONSE_DONE);
	json_t *output = item ? json_pack("[o]", item) : json_array();
	if (ev)
		json_object_set_new(ev, "response",
				    response_json(rt, status_name(end), status_details(end), output,
						  usage_json(rt, r->in_chars, len)));
	else
		json_decref(output);
	rt_push(s, ev, RT_EV_RESPONSE_DONE);
	rt->conv_chars += len;
	PARLEY_DEBUG("session %llu: response %s", (unsigned long long)parley_session_id(s),
		     status_name(end));
	free(r->said);
	r->said = NULL;
	r->active = false;
}

/* --- session events --- */

static void ev_answer_started(struct parley_session *s, uint64_t answer)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	if (rt->resp.active) /* superseded: end it as what was said */
		close_locked(s, rt, rt->resp.said ? rt->resp.said : "", rt->resp.sent,
			     RT_END_TURN_DETECTED);
	open_locked(s, rt, answer);
	pthread_mutex_unlock(&rt->lock);
}

static void ev_answer_partial(struct parley_session *s, const char *text, size_t len)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	if (rt->resp.active && !rt->resp.stopped)
		delta_locked(s, rt, text, len);
	pthread_mutex_unlock(&rt->lock);
}

static void ev_answer_final(struct parley_session *s, const char *text, size_t len,
			    enum parley_answer_outcome how)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	/* No response open: the extra INTERRUPTED final of a barge-in on an
	 * answer already done (session.h); the history was cut, and the
	 * Realtime API has nothing to say about a finished response. */
	if (!rt->resp.active)
		goto out;
	enum rt_end end = RT_END_COMPLETED;
	switch (how) {
	case PARLEY_ANSWER_COMPLETE:
		break;
	case PARLEY_ANSWER_INTERRUPTED:
		end = RT_END_TURN_DETECTED;
		break;
	case PARLEY_ANSWER_CANCELLED:
		end = rt->resp.cancel_asked ? RT_END_CLIENT : RT_END_TURN_DETECTED;
		break;
	case PARLEY_ANSWER_FAILED:
		end = RT_END_FAILED;
		break;
	}
	close_locked(s, rt, text, len, end);
out:
	pthread_mutex_unlock(&rt->lock);
}

/* Called with the session lock held: audio of the open response. */
static void ev_audio(struct parley_session *s, const int16_t *pcm, size_t n)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	struct rt_response *r = &rt->resp;
	if (!r->active || r->stopped || r->text_only || !n)
		goto out;
	/* {"type":...,"delta":"<base64>"} built directly: no JSON library
	 * round trip for the bulkiest event. Ids are base62: no escaping. */
	char head[320], event_id[RT_ID_MAX];
	rt_new_id(rt, "event_", event_id);
	int h = snprintf(head, sizeof head,
			 "{\"type\":\"%s\",\"event_id\":\"%s\",\"response_id\":\"%s\",\"item_id\":"
			 "\"%s\",\"output_index\":0,\"content_index\":0,\"delta\":\"",
			 rt_ev_name(rt->beta, RT_EV_AUDIO_DELTA), event_id, r->id, r->item_id);
	/* session.update between the session's rate and out_codec: the codec
	 * of the rate the audio is at */
	enum rt_codec c = rt->out_codec;
	if (rt_codec_rate(c) != parley_session_settings_locked(s)->output_sample_rate)
		c = rt->out_next;
	size_t bytes = rt_codec_bytes(c, n);
	uint8_t *raw = malloc(bytes);
	struct parley_msg *m = raw ? parley_msg_new((size_t)h + parley_base64_len(bytes) + 2,
						     false, RT_EV_AUDIO_DELTA)
				   : NULL;
	if (m) {
		rt_codec_encode(c, pcm, n, raw);
		char *p = (char *)m->data;
		memcpy(p, head, (size_t)h);
		p += h;
		p += parley_base64_encode(raw, bytes, p);
		memcpy(p, "\"}", 2);
		r->audio_bytes += bytes;
	}
	free(raw);
	rt_push_msg(s, m);
out:
	pthread_mutex_unlock(&rt->lock);
}

/* Barge-in: the response ends (answer_final INTERRUPTED follows); no more
 * of its audio. */
static void ev_stop_tts(struct parley_session *s)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	if (rt->resp.active)
		rt->resp.stopped = true;
	pthread_mutex_unlock(&rt->lock);
}

static void ev_quiet(struct parley_session *s)
{
	(void)s;
}

/* The client's problems are invalid_request_error, the server's
 * server_error; the code is the session's problem name. */
void rt_ev_error(struct parley_session *s, enum parley_session_problem p, const char *message)
{
	struct rt *rt = rt_of(s);
	bool client = p == PARLEY_SESSION_AUDIO_TOO_FAST || p == PARLEY_SESSION_RATE_LIMITED ||
		      p == PARLEY_SESSION_AUDIO_OVERFLOW;
	pthread_mutex_lock(&rt->lock);
	rt_push(s,
		rt_error_event(rt, client ? "invalid_request_error" : "server_error",
			       parley_session_problem_name(p), message, NULL, NULL),
		RT_EV_ERROR);
	pthread_mutex_unlock(&rt->lock);
}

const struct parley_session_events rt_events_table = {
	.status = ev_quiet,
	.error = rt_ev_error,
	.answer_partial = ev_answer_partial,
	.answer_started = ev_answer_started,
	.answer_final = ev_answer_final,
	.user_partial = rt_ev_user_partial,
	.user_final = rt_ev_user_final,
	.speech_started = rt_ev_speech_started,
	.speech_stopped = rt_ev_speech_stopped,
	.committed = rt_ev_committed,
	.user_failed = rt_ev_user_failed,
	.audio = ev_audio,
	.stop_tts = ev_stop_tts,
	.tts_interruption = ev_quiet,
	.input_rate_inferred = ev_quiet,
};

/* --- client events --- */

void rt_response_create(struct parley_session *s, json_t *ev, const char *event_id)
{
	json_t *resp = json_object_get(ev, "response");
	if (resp && !json_is_null(resp) && !json_is_object(resp)) {
		rt_client_error(s, event_id, "invalid_type", "response",
				"'response' must be an object");
		return;
	}
	const char *conv = json_string_value(json_object_get(resp, "conversation"));
	if (conv && strcmp(conv, "auto")) {
		rt_client_error(s, event_id, "unsupported_value", "response.conversation",
				"parley answers in the conversation only (conversation \"auto\")");
		return;
	}
	int rc = parley_session_respond(s);
	switch (rc) {
	case 0:
		break;
	case PARLEY_E_BUSY:
		rt_client_error(s, event_id, "conversation_already_has_active_response", NULL,
				"Conversation already has an active response in progress.");
		break;
	case PARLEY_E_RANGE: /* over --turns-per-minute (the session reported nothing) */
		rt_client_error(s, event_id, "rate_limited", NULL,
				"too many responses: at most the server's turns a minute; try again "
				"shortly");
		break;
	case PARLEY_E_CLOSED: /* no LLM */
		rt_client_error(s, event_id, "llm_unavailable", NULL,
				"parley has no language model to answer with.");
		break;
	default:
		rt_client_error(s, event_id, "server_error", NULL, "response.create failed: %s",
				parley_strerror(rc));
		break;
	}
}

void rt_response_cancel(struct parley_session *s, json_t *ev, const char *event_id)
{
	struct rt *rt = rt_of(s);
	const char *want = json_string_value(json_object_get(ev, "response_id"));
	pthread_mutex_lock(&rt->lock);
	bool other = want && (!rt->resp.active || strcmp(want, rt->resp.id));
	if (!other) {
		/* An answer may be in flight before its answer_started: the
		 * session knows. Either way answer_final reads client_cancelled. */
		if (rt->resp.active)
			rt->resp.cancel_asked = true;
		else
			rt->cancel_next = true;
	}
	pthread_mutex_unlock(&rt->lock);
	if (other) {
		rt_client_error(s, event_id, "response_cancel_not_active", "response_id",
				"Cancellation failed: no active response with id '%.64s'.", want);
		return;
	}
	int rc = parley_session_cancel_response(s);
	if (!rc)
		return;
	pthread_mutex_lock(&rt->lock);
	rt->cancel_next = false;
	pthread_mutex_unlock(&rt->lock);
	if (rc == PARLEY_E_NOTFOUND)
		rt_client_error(s, event_id, "response_cancel_not_active", NULL,
				"Cancellation failed: no active response found.");
	else
		rt_client_error(s, event_id, "server_error", NULL, "response.cancel failed: %s",
				parley_strerror(rc));
}
