/*
 * answer.c - the answerer's state (answerer.h): an answer's life as the
 * protocol sees it, the history, and superseding an answer.
 *
 * An answer is open from answer_started (it became the session's current
 * answer: a turn was submitted, respond() was called, a speculation was
 * adopted) until its one answer_final, whose outcome says how it ended
 * (session.h). Every place that ends the current answer goes through
 * parley_answer_final_locked(), which sends nothing for an answer that is
 * not open, so no answer ends twice whatever path gets there first (the
 * speaker's final item, a failure, cancel_response, a superseding turn,
 * a barge-in).
 *
 * Superseding (a newer turn, clear_history, a barge-in, a cancel, the
 * session closing) bumps the generation, so the late callbacks of the
 * answer's request and the speaker's jobs of it stay silent, hands the
 * answer's spoken pieces to the speaker's kept answers (for truncate) and
 * resets the speaker.
 *
 * Threads: the _locked calls with s->lock held; the others without it.
 */
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"
#include "session/stages.h"
#include "util/err.h"
#include "util/log.h"

void parley_answerer_init(struct parley_answerer *a, size_t max_bytes, size_t history_chars)
{
	parley_buf_init(&a->text, max_bytes);
	parley_history_init(&a->history, history_chars);
}

void parley_answerer_destroy(struct parley_answerer *a)
{
	parley_history_destroy(&a->history);
	parley_buf_free(&a->text);
	free(a->instructions);
}

void parley_answer_started_locked(struct parley_session *s)
{
	s->ans.open = true;
	parley_speaker_begin_locked(s);
	s->ans.hist_id = 0;
	s->ans.id = ++s->ans.seq; /* supersede kept the one before */
	s->events->answer_started(s, s->ans.id);
}

void parley_answer_final_locked(struct parley_session *s, const char *text, size_t len,
				enum parley_answer_outcome how)
{
	if (!s->ans.open)
		return;
	s->ans.open = false;
	s->events->answer_final(s, text, len, how);
}

char *parley_answer_kept_locked(struct parley_session *s, int64_t now_ns)
{
	if (parley_speaker_spoken_locked(s))
		return parley_speaker_heard_locked(s, now_ns);
	return strndup(s->ans.text.len ? s->ans.text.data : "", s->ans.text.len);
}

void parley_answer_cut_history_locked(struct parley_session *s, const char *text)
{
	size_t len = strlen(text);
	/* its own entry (a typed message may have joined the history since) */
	if (s->ans.hist_id)
		parley_history_set(&s->ans.history, s->ans.hist_id, text, len, true);
	else if (len && parley_history_add(&s->ans.history, PARLEY_ROLE_ASSISTANT, text, len,
					   true) == 0)
		s->ans.hist_id = parley_history_last_id(&s->ans.history);
}

uint64_t parley_answer_supersede_locked(struct parley_session *s, bool keep_partial)
{
	uint64_t req = s->ans.llm_req;
	if (req && keep_partial && s->ans.text.len) {
		parley_history_add(&s->ans.history, PARLEY_ROLE_ASSISTANT, s->ans.text.data,
				   s->ans.text.len, true);
		s->ans.hist_id = parley_history_last_id(&s->ans.history);
	}
	if (s->ans.open) { /* a newer turn, clear_history, the session closing */
		char *sent = parley_answer_kept_locked(s, parley_now_ns());
		parley_answer_final_locked(s, sent ? sent : "", sent ? strlen(sent) : 0,
					   PARLEY_ANSWER_CANCELLED);
		free(sent);
	}
	parley_spoken_keep_locked(s, s->ans.id, s->ans.hist_id);
	s->ans.id = 0;
	s->ans.hist_id = 0;
	s->ans.gen++;
	s->ans.llm_req = 0;
	parley_buf_reset(&s->ans.text);
	s->ans.in_history = false;
	parley_speak_reset_locked(s);
	return req;
}

uint64_t parley_answer_interrupted_locked(struct parley_session *s, const char *heard)
{
	size_t len = strlen(heard);
	if (s->echo) /* the client flushed its playback (stop_tts) */
		parley_echoguard_stop(s->echo, parley_now_ns());
	parley_answer_cut_history_locked(s, heard);
	if (s->ans.open)
		parley_answer_final_locked(s, heard, len, PARLEY_ANSWER_INTERRUPTED);
	else /* already final, its audio still playing: cut (session.h) */
		s->events->answer_final(s, heard, len, PARLEY_ANSWER_INTERRUPTED);
	return parley_answer_supersede_locked(s, false);
}

void parley_session_clear_history(struct parley_session *s)
{
	parley_speculation_cancel(s, "history cleared");
	parley_turntaker_forget(s);
	pthread_mutex_lock(&s->lock);
	uint64_t old = parley_answer_supersede_locked(s, false);
	parley_history_clear(&s->ans.history);
	pthread_mutex_unlock(&s->lock);
	parley_inbox_clear(s);
	if (old && s->llm)
		parley_llm_cancel(s->llm, old);
}

void parley_answer_cancel(struct parley_session *s)
{
	parley_speculation_cancel(s, "session closing");
	pthread_mutex_lock(&s->lock);
	uint64_t old = parley_answer_supersede_locked(s, false);
	pthread_mutex_unlock(&s->lock);
	if (old && s->llm)
		parley_llm_cancel(s->llm, old);
}

int parley_answer_add_user_locked(struct parley_session *s, const char *text, size_t len)
{
	int rc = parley_history_add(&s->ans.history, PARLEY_ROLE_USER, text, len, false);
	if (!rc)
		s->ans.user_hist_id = parley_history_last_id(&s->ans.history);
	return rc;
}

int parley_answer_add_user(struct parley_session *s, const char *text, size_t len)
{
	pthread_mutex_lock(&s->lock);
	int rc = parley_answer_add_user_locked(s, text, len);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void log_first_audio(struct parley_session *s)
{
	const struct parley_turn_times *t = &s->ans.times;
	int64_t start = t->speech_end ? t->speech_end : t->final;
	/* A kept speculation's first token came before the final transcript:
	 * the histograms count it as there at the final (0 ms to wait), and
	 * synthesis from then; the log line shows the real (negative) time. */
	int64_t token = t->first_token && t->first_token < t->final ? t->final : t->first_token;
	parley_stage_observe(PARLEY_STAGE_TRANSCRIPT, t->speech_end, t->final);
	parley_stage_observe(PARLEY_STAGE_FIRST_TOKEN, t->final, token);
	parley_stage_observe(PARLEY_STAGE_FIRST_AUDIO, token, t->first_audio);
	parley_stage_observe(PARLEY_STAGE_TOTAL, start, t->first_audio);
	if (t->speech_end)
		PARLEY_INFO("session %llu turn: speech end -> transcript %.0f ms, transcript -> "
			    "first token %.0f ms, first token -> first audio %.0f ms, total %.0f ms",
			    (unsigned long long)s->id, (double)(t->final - t->speech_end) / 1e6,
			    (double)(t->first_token - t->final) / 1e6,
			    (double)(t->first_audio - t->first_token) / 1e6,
			    (double)(t->first_audio - start) / 1e6);
	else
		PARLEY_INFO("session %llu typed turn: first token %.0f ms, first token -> first "
			    "audio %.0f ms, total %.0f ms",
			    (unsigned long long)s->id, (double)(t->first_token - t->final) / 1e6,
			    (double)(t->first_audio - t->first_token) / 1e6,
			    (double)(t->first_audio - start) / 1e6);
}

void parley_answer_first_audio_locked(struct parley_session *s)
{
	if (s->ans.times.first_audio)
		return;
	s->ans.times.first_audio = parley_now_ns();
	log_first_audio(s);
}

uint64_t parley_answer_user_entry_locked(const struct parley_session *s)
{
	return s->ans.user_hist_id;
}

int parley_answer_rewrite_user_locked(struct parley_session *s, uint64_t entry, const char *text)
{
	if (!entry)
		return PARLEY_E_NOTFOUND;
	return parley_history_set(&s->ans.history, entry, text, strlen(text), false);
}

uint64_t parley_answer_gen_locked(const struct parley_session *s)
{
	return s->ans.gen;
}

bool parley_answer_open_locked(const struct parley_session *s)
{
	return s->ans.open;
}

bool parley_answer_generating_locked(const struct parley_session *s)
{
	return s->ans.llm_req || s->ans.submitting;
}

bool parley_answer_requesting_locked(const struct parley_session *s)
{
	return s->ans.llm_req != 0;
}

bool parley_answer_has_text_locked(const struct parley_session *s)
{
	return s->ans.text.len > 0;
}

const char *parley_answer_prompt_locked(struct parley_session *s)
{
	return s->ans.instructions ? s->ans.instructions : parley_llm_system_prompt(s->llm);
}

json_t *parley_answer_messages_locked(struct parley_session *s, const char *text)
{
	json_t *m = parley_history_messages(&s->ans.history, parley_answer_prompt_locked(s));
	if (!text || !m)
		return m;
	json_t *turn = json_pack("{s:s, s:s}", "role", "user", "content", text);
	if (!turn || json_array_append_new(m, turn) != 0) {
		json_decref(m);
		return NULL;
	}
	return m;
}
