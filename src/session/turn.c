/*
 * turn.c - a session's conversation with the shared LLM: user turns go into
 * the history and out to the engine; the answer streams back as partial
 * answers and ends as a final answer that joins the history.
 *
 * At most one answer is in flight per session. A new turn, clear_history or
 * a closing session cancels it; `turn_gen` tells late callbacks of a
 * superseded answer to stay silent. Engine callbacks run on the engine
 * thread; each answer (struct parley_answer) holds a session reference.
 *
 * Speculation (speculate.c): a spoken turn first asks whether the
 * speculation started in its trailing silence can be kept; if so that
 * answer is adopted (parley_answer_adopt_locked()) instead of submitting a
 * new one. Until then a speculation's callbacks only hold what it
 * produces (internal.h, struct parley_answer).
 *
 * Order under failure: when the LLM fails, the client gets the (cut)
 * final_assistant_answer and then the error. With speech the final answer
 * is queued on the session's speaker, after the audio still being
 * synthesised, and the error right behind it.
 *
 * Closing: a turn never keeps an LLM request for a closing session. The
 * closing flag is set before parley_session_cancel_answer() takes the lock,
 * and submission checks it under the lock, both before submitting and when
 * recording the request id, so either the cancel sees the id or the
 * submitter sees the flag and cancels the request itself.
 */
#include <stdlib.h>
#include <string.h>

#include "llm/engine.h"
#include "session/internal.h"
#include "session/stages.h"
#include "util/err.h"
#include "util/log.h"
#include "util/utf8.h"

struct parley_answer *parley_answer_new(struct parley_session *s)
{
	struct parley_answer *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	parley_session_ref(s);
	a->s = s;
	parley_buf_init(&a->held, s->limits->answer_max_bytes);
	return a;
}

void parley_answer_free(struct parley_answer *a)
{
	if (!a)
		return;
	struct parley_session *s = a->s;
	parley_buf_free(&a->held);
	free(a->norm);
	free(a);
	parley_session_unref(s);
}

/* Caller holds s->lock: a's text reaches the answer (and the client). */
static void answer_text_locked(struct parley_session *s, const char *text, size_t len)
{
	if (parley_buf_append(&s->answer, text, len) != 0)
		return;
	/* Spoken, partial answers follow the audio (speak.c); text only, the
	 * text. Encoded under the lock so they go out in order. */
	if (s->answer_spoken)
		parley_speak_feed_locked(s, text, len);
	else
		s->events->answer_partial(s, s->answer.data, s->answer.len);
}

void parley_answer_token(void *ud, const char *text, size_t len)
{
	struct parley_answer *a = ud;
	struct parley_session *s = a->s;
	int64_t now = parley_now_ns();
	pthread_mutex_lock(&s->lock);
	if (!a->first_token_ns)
		a->first_token_ns = now;
	if (a->state == PARLEY_ANSWER_HELD || a->state == PARLEY_ANSWER_CONFIRMING) {
		parley_buf_append(&a->held, text, len); /* nothing reaches the client */
	} else if (a->state == PARLEY_ANSWER_CURRENT && a->gen == s->turn_gen) {
		if (!s->times.first_token)
			s->times.first_token = a->first_token_ns;
		answer_text_locked(s, text, len);
	}
	pthread_mutex_unlock(&s->lock);
}

static enum parley_session_problem error_code(enum parley_llm_cause cause)
{
	switch (cause) {
	case PARLEY_LLM_CAUSE_UNAVAILABLE: return PARLEY_SESSION_LLM_UNAVAILABLE;
	case PARLEY_LLM_CAUSE_TIMEOUT: return PARLEY_SESSION_LLM_TIMEOUT;
	default: return PARLEY_SESSION_LLM_ERROR;
	}
}

/* Caller holds s->lock. Queues the error behind the speech (speak.c);
 * returns false when it could not (no speech, or closing): the caller
 * reports it directly, after unlocking. */
static bool queue_error_locked(struct parley_session *s, enum parley_session_problem code,
			       const char *message)
{
	return parley_speak_error_locked(s, code, message);
}

/* Caller holds s->lock; a is the current answer: it ended. Returns true
 * when an error is due that could not be queued behind the speech (the
 * caller reports it after unlocking). */
static bool end_current_locked(struct parley_session *s, struct parley_answer *a,
			       enum parley_llm_end end, enum parley_llm_cause cause, const char *why)
{
	bool error_sent = false;
	s->llm_req = 0;
	s->ended_gen = a->gen;
	bool cut = end != PARLEY_LLM_END_OK;
	enum parley_answer_outcome how = end == PARLEY_LLM_END_OK	 ? PARLEY_ANSWER_COMPLETE
					 : end == PARLEY_LLM_END_ERROR ? PARLEY_ANSWER_FAILED
									 : PARLEY_ANSWER_CANCELLED;
	if (end != PARLEY_LLM_END_CANCELLED && (s->answer.len || !cut)) {
		parley_history_add(&s->history, PARLEY_ROLE_ASSISTANT, parley_buf_str(&s->answer),
				   s->answer.len, cut);
		s->answer_in_history = true;
		s->answer_hist_id = parley_history_last_id(&s->history);
	}
	if (!cut)
		parley_speak_flush_locked(s);
	/* After the pieces already queued for speech; a failure's final comes
	 * even without text (/ws sends none then), before the error. */
	parley_speak_final_locked(s, parley_buf_str(&s->answer), s->answer.len, how);
	if (end != PARLEY_LLM_END_CANCELLED)
		PARLEY_INFO("session %llu: answer %s: %zu chars, first token %.0f ms, total %.0f ms",
			    (unsigned long long)s->id, cut ? "interrupted" : "complete", s->answer.len,
			    a->first_token_ns ? (double)(a->first_token_ns - a->submitted_ns) / 1e6
					      : -1.0,
			    (double)(parley_now_ns() - a->submitted_ns) / 1e6);
	if (end == PARLEY_LLM_END_ERROR)
		error_sent = queue_error_locked(s, error_code(cause), why);
	parley_buf_reset(&s->answer);
	return end == PARLEY_LLM_END_ERROR && !error_sent;
}

void parley_answer_end(void *ud, enum parley_llm_end end, enum parley_llm_cause cause,
		       const char *message)
{
	struct parley_answer *a = ud;
	struct parley_session *s = a->s;
	const char *why = message ? message : "LLM error";
	bool report = false;
	pthread_mutex_lock(&s->lock);
	if (a->state == PARLEY_ANSWER_HELD || a->state == PARLEY_ANSWER_CONFIRMING) {
		/* a speculation: its owner decides (speculate.c) */
		a->ended = true;
		a->end = end;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (a->state == PARLEY_ANSWER_CURRENT && a->gen == s->turn_gen)
		report = end_current_locked(s, a, end, cause, why);
	pthread_mutex_unlock(&s->lock);
	if (report)
		parley_session_error(s, error_code(cause), "%s", why);
	parley_answer_free(a);
}

uint64_t parley_session_supersede_locked(struct parley_session *s, bool keep_partial)
{
	uint64_t req = s->llm_req;
	if (req && keep_partial && s->answer.len) {
		parley_history_add(&s->history, PARLEY_ROLE_ASSISTANT, s->answer.data, s->answer.len,
				   true);
		s->answer_hist_id = parley_history_last_id(&s->history);
	}
	if (s->answer_open) { /* a newer turn, clear_history, the session closing */
		char *sent = parley_answer_kept_locked(s, parley_now_ns());
		parley_answer_final_locked(s, sent ? sent : "", sent ? strlen(sent) : 0,
					   PARLEY_ANSWER_CANCELLED);
		free(sent);
	}
	parley_spoken_keep_locked(s);
	s->turn_gen++;
	s->llm_req = 0;
	parley_buf_reset(&s->answer);
	s->answer_in_history = false;
	s->played_ms = -1;
	s->playback_start_ns = 0;
	s->play_until_ns = 0;
	s->tts_playing = false;
	parley_speak_reset_locked(s);
	return req;
}

void parley_session_user_turn(struct parley_session *s, const char *text, size_t len)
{
	parley_session_user_turn_timed(s, text, len, 0);
}

uint64_t parley_answer_adopt_locked(struct parley_session *s, struct parley_answer *a,
				    const char *text, size_t len, int64_t speech_end_ns)
{
	uint64_t old = parley_session_supersede_locked(s, true);
	if (parley_history_add(&s->history, PARLEY_ROLE_USER, text, len, false) != 0)
		PARLEY_WARN("session %llu: out of memory: the turn is missing from the history",
			    (unsigned long long)s->id);
	a->state = PARLEY_ANSWER_CURRENT;
	a->gen = s->turn_gen;
	parley_answer_started_locked(s);
	/* the first token may precede the final transcript: that is the gain */
	s->times = (struct parley_turn_times){ .speech_end = speech_end_ns,
					       .final = parley_now_ns(),
					       .first_token = a->first_token_ns };
	if (!a->ended)
		s->llm_req = a->id;
	if (a->held.len)
		answer_text_locked(s, a->held.data, a->held.len);
	parley_buf_free(&a->held);
	if (a->ended) /* only a complete answer is adopted once ended */
		end_current_locked(s, a, a->end, PARLEY_LLM_CAUSE_NONE, NULL);
	return old;
}

void parley_session_user_turn_timed(struct parley_session *s, const char *text, size_t len,
				    int64_t speech_end_ns)
{
	if (parley_session_is_closing(s) || !s->llm)
		return;
	if (!speech_end_ns) /* typed: not what any speculation heard */
		parley_speculation_discard(s, "typed turn");
	if (!parley_session_turn_admit(s, true)) {
		/* over --turns-per-minute: told rate_limited, nothing sent */
		parley_speculation_discard(s, "turn refused");
		return;
	}
	if (speech_end_ns && parley_speculation_confirm(s, text, len, speech_end_ns))
		return; /* the speculation was kept: it is the answer */
	parley_answer_submit(s, text, len, speech_end_ns, false);
}

/* The answer of generation gen failed before its request ran: it ends
 * FAILED (if still current), then the error. */
static void submit_failed(struct parley_session *s, uint64_t gen, enum parley_session_problem code,
			  const char *prefix, const char *why)
{
	pthread_mutex_lock(&s->lock);
	s->submitting--;
	if (gen == s->turn_gen) {
		s->ended_gen = gen;
		parley_answer_final_locked(s, "", 0, PARLEY_ANSWER_FAILED);
	}
	pthread_mutex_unlock(&s->lock);
	parley_session_error(s, code, "%s%s", prefix, why);
}

int parley_answer_submit(struct parley_session *s, const char *text, size_t len,
			 int64_t speech_end_ns, bool if_idle)
{
	struct parley_answer *a = parley_answer_new(s);
	if (!a) {
		if (!if_idle) /* respond()'s caller tells its client */
			parley_session_error(s, PARLEY_SESSION_INTERNAL, "out of memory");
		return PARLEY_E_NOMEM;
	}

	pthread_mutex_lock(&s->lock);
	int busy = parley_session_is_closing(s) ? PARLEY_E_CLOSED /* closed since the check */
		   : if_idle && s->answer_open	    ? PARLEY_E_BUSY
						    : 0;
	if (busy) {
		pthread_mutex_unlock(&s->lock);
		parley_answer_free(a);
		return busy;
	}
	uint64_t old = parley_session_supersede_locked(s, true);
	int rc = text ? parley_history_add(&s->history, PARLEY_ROLE_USER, text, len, false) : 0;
	json_t *messages = rc ? NULL
			      : parley_history_messages(&s->history, parley_session_prompt_locked(s));
	a->gen = s->turn_gen;
	s->times = (struct parley_turn_times){ .speech_end = speech_end_ns, .final = parley_now_ns() };
	s->submitting++; /* no speculation starts until llm_req is known */
	parley_answer_started_locked(s);
	pthread_mutex_unlock(&s->lock);

	if (old)
		parley_llm_cancel(s->llm, old);
	uint64_t gen = a->gen;
	if (!messages) {
		parley_answer_free(a);
		submit_failed(s, gen, PARLEY_SESSION_INTERNAL, "", "out of memory");
		return 0;
	}

	a->submitted_ns = parley_now_ns();
	struct parley_llm_callbacks cb = { parley_answer_token, parley_answer_end, a };
	uint64_t id = 0;
	char why[512] = "";
	rc = parley_llm_submit(s->llm, messages, &cb, 0, &id, why, sizeof why);
	if (rc != 0) {
		parley_answer_free(a);
		submit_failed(s,
			      gen, rc == PARLEY_E_FULL ? PARLEY_SESSION_LLM_BUSY
				   : rc == PARLEY_E_CLOSED ? PARLEY_SESSION_LLM_UNAVAILABLE
							   : PARLEY_SESSION_INTERNAL,
			      rc == PARLEY_E_FULL ? "the LLM is busy, try again: " : "", why);
		return 0;
	}
	/* `a` may already be freed: the answer can end before submit returns. */
	pthread_mutex_lock(&s->lock);
	/* Superseded, or the session closed, while submitting: whoever did it
	 * saw no request id, so cancel it here. */
	bool cancel_now = gen != s->turn_gen || parley_session_is_closing(s);
	if (!cancel_now && s->ended_gen != gen) /* it may have ended already */
		s->llm_req = id;
	s->submitting--;
	old = id;
	pthread_mutex_unlock(&s->lock);
	if (cancel_now)
		parley_llm_cancel(s->llm, old);
	PARLEY_DEBUG("session %llu: turn submitted as llm request %llu", (unsigned long long)s->id,
		     (unsigned long long)id);
	return 0;
}

void parley_session_clear_history(struct parley_session *s)
{
	parley_speculation_discard(s, "history cleared");
	pthread_mutex_lock(&s->lock);
	uint64_t old = parley_session_supersede_locked(s, false);
	parley_history_clear(&s->history);
	parley_ring_clear(&s->audio);
	s->uncommitted_ms = 0;
	pthread_mutex_unlock(&s->lock);
	if (old && s->llm)
		parley_llm_cancel(s->llm, old);
}

void parley_session_cancel_answer(struct parley_session *s)
{
	parley_speculation_discard(s, "session closing");
	pthread_mutex_lock(&s->lock);
	uint64_t old = parley_session_supersede_locked(s, false);
	pthread_mutex_unlock(&s->lock);
	if (old && s->llm)
		parley_llm_cancel(s->llm, old);
}

bool parley_session_assistant_playing(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	bool playing = s->turn_cfg.interrupt_response &&
		       (s->assume_playback ? parley_answer_interruptible_locked(s, parley_now_ns())
					   : s->tts_playing || s->frame_playing);
	pthread_mutex_unlock(&s->lock);
	return playing;
}

bool parley_session_barge_in(struct parley_session *s, int64_t onset_ns)
{
	pthread_mutex_lock(&s->lock);
	if (!parley_answer_interruptible_locked(s, parley_now_ns())) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	char *heard = parley_answer_kept_locked(s, parley_now_ns());
	const char *h = heard ? heard : "";
	uint64_t req = s->llm_req;
	/* its own entry (a typed message may have joined the history since) */
	if (s->answer_hist_id)
		parley_history_set(&s->history, s->answer_hist_id, h, strlen(h), true);
	else if (*h && parley_history_add(&s->history, PARLEY_ROLE_ASSISTANT, h, strlen(h),
					  true) == 0)
		s->answer_hist_id = parley_history_last_id(&s->history);
	/* Under the lock: no audio of this answer can be queued after stop_tts. */
	s->events->stop_tts(s);
	s->events->tts_interruption(s);
	if (s->answer_open)
		parley_answer_final_locked(s, h, strlen(h), PARLEY_ANSWER_INTERRUPTED);
	else /* already final, its audio still playing: cut (session.h) */
		s->events->answer_final(s, h, strlen(h), PARLEY_ANSWER_INTERRUPTED);
	parley_session_supersede_locked(s, false);
	s->frame_playing = false;
	pthread_mutex_unlock(&s->lock);

	if (req && s->llm)
		parley_llm_cancel(s->llm, req);
	parley_speculation_discard(s, "barge-in");
	parley_stage_observe(PARLEY_STAGE_BARGE_IN, onset_ns, parley_now_ns());
	size_t hlen = strlen(h), shown = parley_utf8_cut(h, hlen, 60);
	PARLEY_INFO("session %llu: barge-in: audio stopped %.0f ms after speech onset; "
		    "the user heard \"%.*s%s\"",
		    (unsigned long long)s->id, (double)(parley_now_ns() - onset_ns) / 1e6,
		    (int)shown, h, shown < hlen ? "..." : "");
	free(heard);
	return true;
}
