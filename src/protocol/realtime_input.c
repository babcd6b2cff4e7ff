/* The Realtime input side: the input audio buffer (append, commit, clear),
 * the user's items and their speech and transcription events
 * (realtime_internal.h, docs/realtime.md "Input audio"). */
#include <stdlib.h>
#include <string.h>

#include "protocol/realtime_internal.h"
#include "util/err.h"
#include "util/log.h"

/* --- items --- */

json_t *rt_message_item(const struct rt *rt, const char *id, const char *status,
			const char *role)
{
	return rt->beta ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "id", id, "object",
				    "realtime.item", "type", "message", "status", status, "role", role,
				    "content")
			: json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", id, "type", "message",
				    "status", status, "role", role, "content");
}

static void item_event(struct parley_session *s, struct rt *rt, enum rt_ev kind, json_t *item,
		       const char *prev)
{
	json_t *ev = rt_event(rt, kind);
	if (ev) {
		json_object_set_new(ev, "previous_item_id", rt_id_json(prev));
		json_object_set(ev, "item", item);
	}
	rt_push(s, ev, kind);
}

void rt_item_appeared(struct parley_session *s, struct rt *rt, json_t *item, const char *prev)
{
	if (!item)
		return;
	if (rt->beta) {
		item_event(s, rt, RT_EV_ITEM_CREATED, item, prev);
		return;
	}
	item_event(s, rt, RT_EV_ITEM_ADDED, item, prev);
	const char *status = json_string_value(json_object_get(item, "status"));
	if (!status || strcmp(status, "in_progress"))
		item_event(s, rt, RT_EV_ITEM_DONE, item, prev);
}

/* A place at the tail of the pending ring, grown if full; NULL on OOM.
 * rt->lock held. */
static struct rt_pending *push_pending(struct rt *rt)
{
	if (rt->pending_n == rt->pending_cap) {
		size_t cap = rt->pending_cap ? rt->pending_cap * 2 : 8;
		struct rt_pending *p = malloc(cap * sizeof *p);
		if (!p)
			return NULL;
		for (size_t i = 0; i < rt->pending_n; i++)
			p[i] = rt->pending[(rt->pending_head + i) % rt->pending_cap];
		free(rt->pending);
		rt->pending = p;
		rt->pending_cap = cap;
		rt->pending_head = 0;
	}
	rt->pending_n++;
	return &rt->pending[(rt->pending_head + rt->pending_n - 1) % rt->pending_cap];
}

/* A committed user audio item: input_audio_buffer.committed, then the
 * item; its transcript is awaited (pending). rt->lock held. */
static void committed_locked(struct parley_session *s, struct rt *rt, const char *id,
			     double seconds)
{
	json_t *ev = rt_event(rt, RT_EV_COMMITTED);
	if (ev) {
		json_object_set_new(ev, "previous_item_id", rt_id_json(rt->last_item));
		json_object_set_new(ev, "item_id", json_string(id));
	}
	rt_push(s, ev, RT_EV_COMMITTED);
	json_t *item = rt_message_item(rt, id, "completed", "user");
	json_array_append_new(json_object_get(item, "content"),
			      json_pack("{s:s, s:n}", "type", "input_audio", "transcript"));
	rt_item_appeared(s, rt, item, rt->last_item);
	json_decref(item);
	snprintf(rt->last_item, sizeof rt->last_item, "%s", id);
	rt_item_note(rt, id);
	struct rt_pending *p = push_pending(rt);
	if (!p) { /* its transcript would name the next item: none is named */
		PARLEY_ERROR("session %llu: out of memory: transcripts are no longer matched to "
			     "their items",
			     (unsigned long long)parley_session_id(s));
		rt->transcription = false;
		return;
	}
	snprintf(p->id, sizeof p->id, "%s", id);
	p->seconds = seconds;
}

/* The oldest committed item awaiting its transcript, popped into *out;
 * false if none. rt->lock held. */
static bool pop_pending(struct rt *rt, struct rt_pending *out)
{
	if (!rt->pending_n)
		return false;
	*out = rt->pending[rt->pending_head];
	rt->pending_head = (rt->pending_head + 1) % rt->pending_cap;
	rt->pending_n--;
	return true;
}

/* --- client events --- */

void rt_input_append(struct parley_session *s, json_t *ev, const char *event_id)
{
	struct rt *rt = rt_of(s);
	json_t *audio = json_object_get(ev, "audio");
	if (!json_is_string(audio)) {
		rt_client_error(s, event_id, "missing_required_parameter", "audio",
				"input_audio_buffer.append needs 'audio': base64 of the audio");
		return;
	}
	uint8_t *bytes = NULL;
	int16_t *pcm = NULL;
	size_t n = 0;
	int rc = rt_base64_decode(json_string_value(audio), json_string_length(audio), &bytes, &n);
	if (rc) {
		if (rc == PARLEY_E_NOMEM)
			rt_client_error(s, event_id, "server_error", "audio", "out of memory");
		else
			rt_client_error(s, event_id, "invalid_value", "audio",
					"'audio' is not valid base64");
		return;
	}
	pthread_mutex_lock(&rt->lock);
	enum rt_codec c = rt->in_codec;
	pthread_mutex_unlock(&rt->lock);
	if (c == RT_PCM16 && n % 2) {
		rt_client_error(s, event_id, "invalid_value", "audio",
				"pcm16 audio must be whole 16-bit samples (got %zu bytes)", n);
		goto out;
	}
	size_t samples = rt_codec_samples(c, n);
	if (!samples)
		goto out;
	pcm = malloc(samples * sizeof *pcm);
	if (!pcm) {
		rt_client_error(s, event_id, "server_error", "audio", "out of memory");
		goto out;
	}
	rt_codec_decode(c, bytes, n, pcm);
	parley_session_audio_in(s, pcm, samples, false, -1);
out:
	free(pcm);
	free(bytes);
}

/* The commit is the session's: the listener applies it where it falls in
 * the stream and says so (committed, below), after the speech events of
 * the audio before it, and that is when input_audio_buffer.committed
 * names the item. */
void rt_input_commit(struct parley_session *s, json_t *ev, const char *event_id)
{
	(void)ev;
	int rc = parley_session_commit_audio(s);
	if (rc == PARLEY_E_RANGE) {
		rt_client_error(s, event_id, "input_audio_buffer_commit_empty", NULL,
				"Error committing input audio buffer: buffer too small. Expected at "
				"least 100ms of audio.");
		return;
	}
	if (rc)
		rt_client_error(s, event_id, rc == PARLEY_E_FULL ? "too_many_commits" : "server_error",
				NULL, "commit failed: %s",
				rc == PARLEY_E_FULL ? "too many commits wait to be transcribed"
						    : parley_strerror(rc));
}

void rt_input_clear(struct parley_session *s, json_t *ev, const char *event_id)
{
	(void)ev;
	(void)event_id;
	struct rt *rt = rt_of(s);
	parley_session_clear_audio(s);
	pthread_mutex_lock(&rt->lock);
	rt_push(s, rt_event(rt, RT_EV_CLEARED), RT_EV_CLEARED);
	pthread_mutex_unlock(&rt->lock);
}

/* --- session events --- */

void rt_ev_speech_started(struct parley_session *s, int64_t audio_ms)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	rt_new_id(rt, "item_", rt->open_user);
	rt->open_ms = audio_ms;
	json_t *ev = rt_event(rt, RT_EV_SPEECH_STARTED);
	if (ev) {
		json_object_set_new(ev, "audio_start_ms", json_integer(audio_ms));
		json_object_set_new(ev, "item_id", json_string(rt->open_user));
	}
	rt_push(s, ev, RT_EV_SPEECH_STARTED);
	pthread_mutex_unlock(&rt->lock);
}

/* The id of the utterance being committed: speech_started's if it named
 * it, else a new one. rt->lock held. */
static void commit_id(struct rt *rt, bool opened, char *id)
{
	if (opened && rt->open_user[0])
		snprintf(id, RT_ID_MAX, "%s", rt->open_user);
	else
		rt_new_id(rt, "item_", id);
	rt->open_user[0] = '\0';
}

void rt_ev_speech_stopped(struct parley_session *s, int64_t audio_ms)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	int64_t start = rt->open_user[0] ? rt->open_ms : audio_ms;
	char id[RT_ID_MAX];
	commit_id(rt, true, id);
	json_t *ev = rt_event(rt, RT_EV_SPEECH_STOPPED);
	if (ev) {
		json_object_set_new(ev, "audio_end_ms", json_integer(audio_ms));
		json_object_set_new(ev, "item_id", json_string(id));
	}
	rt_push(s, ev, RT_EV_SPEECH_STOPPED);
	committed_locked(s, rt, id, audio_ms > start ? (double)(audio_ms - start) / 1000.0 : 0);
	rt->cut_ms = audio_ms;
	pthread_mutex_unlock(&rt->lock);
}

void rt_ev_committed(struct parley_session *s, int64_t audio_ms, bool opened)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	char id[RT_ID_MAX];
	commit_id(rt, opened, id);
	committed_locked(s, rt, id,
			 audio_ms > rt->cut_ms ? (double)(audio_ms - rt->cut_ms) / 1000.0 : 0);
	rt->cut_ms = audio_ms;
	pthread_mutex_unlock(&rt->lock);
}

/* Realtime transcription deltas are append-only, and parley's live
 * transcript may still change: the final one is sent whole (one delta,
 * then completed). */
void rt_ev_user_partial(struct parley_session *s, const char *text)
{
	(void)s;
	(void)text;
}

/* A merged turn (whole) stays two items, as with OpenAI's server VAD: the
 * first one's response was cancelled (turn_detected) and one response
 * answers both. */
void rt_ev_user_final(struct parley_session *s, const char *text, const char *whole)
{
	(void)whole;
	struct rt *rt = rt_of(s);
	size_t len = strlen(text);
	pthread_mutex_lock(&rt->lock);
	rt->conv_chars += len;
	struct rt_pending p;
	if (!pop_pending(rt, &p) || !rt->transcription)
		goto out;
	json_t *ev = rt_event(rt, RT_EV_TRANSCRIPTION_DELTA);
	if (ev)
		json_object_update_new(ev, json_pack("{s:s, s:i, s:o}", "item_id", p.id,
						     "content_index", 0, "delta",
						     parley_json_text(text, len)));
	rt_push(s, ev, RT_EV_TRANSCRIPTION_DELTA);
	ev = rt_event(rt, RT_EV_TRANSCRIPTION_COMPLETED);
	if (ev)
		json_object_update_new(ev, json_pack("{s:s, s:i, s:o, s:{s:s, s:f}}", "item_id",
						     p.id, "content_index", 0, "transcript",
						     parley_json_text(text, len), "usage", "type",
						     "duration", "seconds", p.seconds));
	rt_push(s, ev, RT_EV_TRANSCRIPTION_COMPLETED);
out:
	pthread_mutex_unlock(&rt->lock);
}

void rt_ev_user_failed(struct parley_session *s, const char *why)
{
	struct rt *rt = rt_of(s);
	pthread_mutex_lock(&rt->lock);
	struct rt_pending p;
	if (!pop_pending(rt, &p) || !rt->transcription)
		goto out;
	bool empty = strcmp(why, "empty") == 0;
	json_t *ev = rt_event(rt, RT_EV_TRANSCRIPTION_FAILED);
	if (ev)
		json_object_update_new(
			ev, json_pack("{s:s, s:i, s:{s:s, s:s, s:s, s:n}}", "item_id", p.id,
				      "content_index", 0, "error", "type", "transcription_error",
				      "code", empty ? "audio_unintelligible" : why, "message",
				      empty ? "No speech was recognised in the audio."
					    : "The audio could not be transcribed.",
				      "param"));
	rt_push(s, ev, RT_EV_TRANSCRIPTION_FAILED);
out:
	pthread_mutex_unlock(&rt->lock);
}
