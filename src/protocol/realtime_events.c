/* Server events of the Realtime protocol: ids, names by dialect, encoding
 * and pushing (realtime_internal.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "protocol/realtime_internal.h"
#include "util/log.h"
#include "util/outq.h"
#include "util/utf8.h"

#define ID_CHARS 21

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* xorshift64*: ids need to be unique and unguessable enough to be opaque,
 * not secret (a client sees every id of its own session, and only those). */
static uint64_t next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

static void fill(uint64_t *x, const char *prefix, char *out)
{
	size_t p = strlen(prefix);
	memcpy(out, prefix, p);
	for (int i = 0; i < ID_CHARS; i++)
		out[p + (size_t)i] = base62[next(x) % 62];
	out[p + ID_CHARS] = '\0';
}

uint64_t rt_seed(void)
{
	uint64_t x = 0;
	if (getrandom(&x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)ts.tv_sec;
	}
	return x ? x : 0x9E3779B97F4A7C15ULL;
}

void rt_new_id(struct rt *rt, const char *prefix, char *out)
{
	fill(&rt->rng, prefix, out);
}

void rt_new_id_norng(const char *prefix, char *out)
{
	uint64_t x = rt_seed();
	fill(&x, prefix, out);
}

/* GA names, then beta's where they differ (NULL: the same). */
static const char *const ga_names[RT_EV_COUNT] = {
	[RT_EV_ERROR] = "error",
	[RT_EV_SESSION_CREATED] = "session.created",
	[RT_EV_SESSION_UPDATED] = "session.updated",
	[RT_EV_SPEECH_STARTED] = "input_audio_buffer.speech_started",
	[RT_EV_SPEECH_STOPPED] = "input_audio_buffer.speech_stopped",
	[RT_EV_COMMITTED] = "input_audio_buffer.committed",
	[RT_EV_CLEARED] = "input_audio_buffer.cleared",
	[RT_EV_ITEM_CREATED] = "conversation.item.created",
	[RT_EV_ITEM_ADDED] = "conversation.item.added",
	[RT_EV_ITEM_DONE] = "conversation.item.done",
	[RT_EV_ITEM_TRUNCATED] = "conversation.item.truncated",
	[RT_EV_TRANSCRIPTION_DELTA] = "conversation.item.input_audio_transcription.delta",
	[RT_EV_TRANSCRIPTION_COMPLETED] = "conversation.item.input_audio_transcription.completed",
	[RT_EV_TRANSCRIPTION_FAILED] = "conversation.item.input_audio_transcription.failed",
	[RT_EV_RESPONSE_CREATED] = "response.created",
	[RT_EV_OUTPUT_ITEM_ADDED] = "response.output_item.added",
	[RT_EV_OUTPUT_ITEM_DONE] = "response.output_item.done",
	[RT_EV_CONTENT_PART_ADDED] = "response.content_part.added",
	[RT_EV_CONTENT_PART_DONE] = "response.content_part.done",
	[RT_EV_AUDIO_DELTA] = "response.output_audio.delta",
	[RT_EV_AUDIO_DONE] = "response.output_audio.done",
	[RT_EV_AUDIO_TRANSCRIPT_DELTA] = "response.output_audio_transcript.delta",
	[RT_EV_AUDIO_TRANSCRIPT_DONE] = "response.output_audio_transcript.done",
	[RT_EV_TEXT_DELTA] = "response.output_text.delta",
	[RT_EV_TEXT_DONE] = "response.output_text.done",
	[RT_EV_RESPONSE_DONE] = "response.done",
};

static const char *const beta_names[RT_EV_COUNT] = {
	[RT_EV_AUDIO_DELTA] = "response.audio.delta",
	[RT_EV_AUDIO_DONE] = "response.audio.done",
	[RT_EV_AUDIO_TRANSCRIPT_DELTA] = "response.audio_transcript.delta",
	[RT_EV_AUDIO_TRANSCRIPT_DONE] = "response.audio_transcript.done",
	[RT_EV_TEXT_DELTA] = "response.text.delta",
	[RT_EV_TEXT_DONE] = "response.text.done",
};

const char *rt_ev_name(bool beta, enum rt_ev ev)
{
	if ((unsigned)ev >= RT_EV_COUNT)
		return "unknown";
	return beta && beta_names[ev] ? beta_names[ev] : ga_names[ev];
}

json_t *rt_event(struct rt *rt, enum rt_ev ev)
{
	char id[RT_ID_MAX];
	rt_new_id(rt, "event_", id);
	return json_pack("{s:s, s:s}", "type", rt_ev_name(rt->beta, ev), "event_id", id);
}

void rt_push_msg(struct parley_session *s, struct parley_msg *m)
{
	if (!m) {
		PARLEY_ERROR("session %llu: out of memory encoding a message",
			     (unsigned long long)parley_session_id(s));
		return;
	}
	parley_session_push(s, m); /* a full queue closes the client (ws.c) */
}

void rt_push(struct parley_session *s, json_t *ev, enum rt_ev tag)
{
	struct parley_msg *m = NULL;
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (text) {
		size_t len = strlen(text);
		m = parley_msg_new(len, false, (int)tag);
		if (m)
			memcpy(m->data, text, len);
		free(text);
	}
	rt_push_msg(s, m);
}

json_t *rt_id_json(const char *id)
{
	return id && id[0] ? parley_json_text(id, strlen(id)) : json_null();
}

static json_t *opt_str(const char *s)
{
	return s ? parley_json_text(s, parley_utf8_cut(s, strlen(s), strlen(s))) : json_null();
}

json_t *rt_error_event(struct rt *rt, const char *type, const char *code, const char *message,
		       const char *param, const char *client_event_id)
{
	json_t *ev = rt_event(rt, RT_EV_ERROR);
	json_t *err = json_pack("{s:s, s:o, s:o, s:o, s:o}", "type", type, "code", opt_str(code),
				"message", opt_str(message), "param", opt_str(param), "event_id",
				opt_str(client_event_id));
	if (!ev || !err) {
		json_decref(ev);
		json_decref(err);
		return NULL;
	}
	json_object_set_new(ev, "error", err);
	return ev;
}

void rt_client_error(struct parley_session *s, const char *event_id, const char *code,
		     const char *param, const char *fmt, ...)
{
	char message[300];
	va_list ap;
	va_start(ap, fmt);
	parley_utf8_vformat(message, sizeof message, fmt, ap); /* cut on a character */
	va_end(ap);
	PARLEY_DEBUG("session %llu: realtime error %s: %s",
		     (unsigned long long)parley_session_id(s), code, message);
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	rt_push(s, rt_error_event(rt, "invalid_request_error", code, message, param, event_id),
		RT_EV_ERROR);
	pthread_mutex_unlock(&rt->lock);
}
