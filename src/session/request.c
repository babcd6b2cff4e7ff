/*
 * request.c - an answer's LLM request (request.h), the answerer's: the
 * turn goes into the history and out to the shared engine; the answer
 * streams back as partial answers (through the speaker when it is spoken)
 * and ends as a final answer that joins the history.
 *
 * At most one answer is in flight per session. A new turn, clear_history or
 * a closing session supersedes it (answer.c); the answerer's generation
 * tells late callbacks of a superseded request to stay silent. Engine
 * callbacks run on the engine thread; each request holds a session
 * reference.
 *
 * Speculation (speculate.c): a spoken turn first asks whether the
 * speculation started in its trailing silence can be kept; if so that
 * answer is adopted (parley_request_adopt_locked()) instead of submitting a
 * new one. Until then a speculation's callbacks only hold what it
 * produces (request.h).
 *
 * Order under failure: when the LLM fails, the client gets the (cut)
 * final_assistant_answer and then the error. With speech the final answer
 * is queued on the session's speaker, after the audio still being
 * synthesised, and the error right behind it.
 *
 * Closing: a turn never keeps an LLM request for a closing session. The
 * closing flag is set before parley_answer_cancel() takes the lock,
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

struct parley_request *parley_request_new(struct parley_session *s)
{
	struct parley_request *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	parley_session_ref(s);
	a->s = s;
	parley_buf_init(&a->held, s->limits->answer_max_bytes);
	return a;
}

void parley_request_free(struct parley_request *a)
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
	if (parley_buf_append(&s->ans.text, text, len) != 0)
		return;
	/* Spoken, partial answers follow the audio (speak.c); text only, the
	 * text. Encoded under the lock so they go out in order. */
	if (parley_speaker_spoken_locked(s))
		parley_speak_feed_locked(s, text, len);
	else
		s->events->answer_partial(s, s->ans.text.data, s->ans.text.len);
}

void parley_request_token(void *ud, const char *text, size_t len)
{
	struct parley_request *a = ud;
	struct parley_session *s = a->s;
	int64_t now = parley_now_ns();
	pthread_mutex_lock(&s->lock);
	if (!a->first_token_ns)
		a->first_token_ns = now;
	if (a->state == PARLEY_REQUEST_HELD || a->state == PARLEY_REQUEST_CONFIRMING) {
		parley_buf_append(&a->held, text, len); /* nothing reaches the client */
	} else if (a->state == PARLEY_REQUEST_CURRENT && a->gen == s->ans.gen) {
		if (!s->ans.times.first_token)
			s->ans.times.first_token = a->first_token_ns;
		answer_text_locked(s, text, len);
	}
	pthread_mutex_unlock(&s->lock);
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
static bool end_current_locked(struct parley_session *s, struct parley_request *a,
			       enum parley_llm_end end, enum parley_llm_cause cause, const char *why)
{
	bool error_sent = false;
	s->ans.llm_req = 0;
	s->ans.ended_gen = a->gen;
	bool cut = end != PARLEY_LLM_END_OK;
	enum parley_answer_outcome how = end == PARLEY_LLM_END_OK	 ? PARLEY_ANSWER_COMPLETE
					 : end == PARLEY_LLM_END_ERROR ? PARLEY_ANSWER_FAILED
									 : PARLEY_ANSWER_CANCELLED;
	if (end != PARLEY_LLM_END_CANCELLED && (s->ans.text.len || !cut)) {
		parley_history_add(&s->ans.history, PARLEY_ROLE_ASSISTANT, parley_buf_str(&s->ans.text),
				   s->ans.text.len, cut);
		s->ans.in_history = true;
		s->ans.hist_id = parley_history_last_id(&s->ans.history);
	}
	if (!cut)
		parley_speak_flush_locked(s);
	/* After the pieces already queued for speech; a failure's final comes
	 * even without text (/ws sends none then), before the error. */
	parley_speak_final_locked(s, parley_buf_str(&s->ans.text), s->ans.text.len, how);
	if (end != PARLEY_LLM_END_CANCELLED)
		PARLEY_INFO("session %llu: answer %s: %zu chars, first token %.0f ms, total %.0f ms",
			    (unsigned long long)s->id, cut ? "interrupted" : "complete", s->ans.text.len,
			    a->first_token_ns ? (double)(a->first_token_ns - a->submitted_ns) / 1e6
					      : -1.0,
			    (double)(parley_now_ns() - a->submitted_ns) / 1e6);
	if (end == PARLEY_LLM_END_ERROR)
		error_sent = queue_error_locked(s, parley_problem_of_llm(cause), why);
	parley_buf_reset(&s->ans.text);
	return end == PARLEY_LLM_END_ERROR && !error_sent;
}

void parley_request_end(void *ud, enum parley_llm_end end, enum parley_llm_cause cause,
		       const char *message)
{
	struct parley_request *a = ud;
	struct parley_session *s = a->s;
	const char *why = message ? message : "LLM error";
	bool report = false;
	pthread_mutex_lock(&s->lock);
	if (a->state == PARLEY_REQUEST_HELD || a->state == PARLEY_REQUEST_CONFIRMING) {
		/* a speculation: its owner decides (speculate.c) */
		a->ended = true;
		a->end = end;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (a->state == PARLEY_REQUEST_CURRENT && a->gen == s->ans.gen)
		report = end_current_locked(s, a, end, cause, why);
	pthread_mutex_unlock(&s->lock);
	if (report)
		parley_session_error(s, parley_problem_of_llm(cause), "%s", why);
	parley_request_free(a);
}

uint64_t parley_request_adopt_locked(struct parley_session *s, struct parley_request *a,
				    const char *text, size_t len, int64_t speech_end_ns)
{
	uint64_t old = parley_answer_supersede_locked(s, true);
	if (parley_answer_add_user_locked(s, text, len) != 0)
		PARLEY_WARN("session %llu: out of memory: the turn is missing from the history",
			    (unsigned long long)s->id);
	a->state = PARLEY_REQUEST_CURRENT;
	a->gen = s->ans.gen;
	parley_answer_started_locked(s);
	/* the first token may precede the final transcript: that is the gain */
	s->ans.times = (struct parley_turn_times){ .speech_end = speech_end_ns,
					       .final = parley_now_ns(),
					       .first_token = a->first_token_ns };
	if (!a->ended)
		s->ans.llm_req = a->id;
	if (a->held.len)
		answer_text_locked(s, a->held.data, a->held.len);
	parley_buf_free(&a->held);
	if (a->ended) /* only a complete answer is adopted once ended */
		end_current_locked(s, a, a->end, PARLEY_LLM_CAUSE_NONE, NULL);
	return old;
}

/* The answer of generation gen failed before its request ran: it ends
 * FAILED (if still current), then the error. */
static void submit_failed(struct parley_session *s, uint64_t gen, enum parley_session_problem code,
			  const char *prefix, const char *why)
{
	pthread_mutex_lock(&s->lock);
	s->ans.submitting--;
	if (gen == s->ans.gen) {
		s->ans.ended_gen = gen;
		parley_answer_final_locked(s, "", 0, PARLEY_ANSWER_FAILED);
	}
	pthread_mutex_unlock(&s->lock);
	parley_session_error(s, code, "%s%s", prefix, why);
}

int parley_request_submit(struct parley_session *s, const char *text, size_t len,
			 int64_t speech_end_ns, bool if_idle)
{
	struct parley_request *a = parley_request_new(s);
	if (!a) {
		if (!if_idle) /* respond()'s caller tells its client */
			parley_session_error(s, PARLEY_SESSION_INTERNAL, "out of memory");
		return PARLEY_E_NOMEM;
	}

	pthread_mutex_lock(&s->lock);
	int busy = parley_session_is_closing(s) ? PARLEY_E_CLOSED /* closed since the check */
		   : if_idle && s->ans.open	    ? PARLEY_E_BUSY
						    : 0;
	if (busy) {
		pthread_mutex_unlock(&s->lock);
		parley_request_free(a);
		return busy;
	}
	uint64_t old = parley_answer_supersede_locked(s, true);
	int rc = text ? parley_answer_add_user_locked(s, text, len) : 0;
	json_t *messages = rc ? NULL : parley_answer_messages_locked(s, NULL);
	a->gen = s->ans.gen;
	s->ans.times = (struct parley_turn_times){ .speech_end = speech_end_ns, .final = parley_now_ns() };
	s->ans.submitting++; /* no speculation starts until llm_req is known */
	parley_answer_started_locked(s);
	pthread_mutex_unlock(&s->lock);

	if (old)
		parley_llm_cancel(s->llm, old);
	uint64_t gen = a->gen;
	if (!messages) {
		parley_request_free(a);
		submit_failed(s, gen, PARLEY_SESSION_INTERNAL, "", "out of memory");
		return 0;
	}

	a->submitted_ns = parley_now_ns();
	struct parley_llm_callbacks cb = { parley_request_token, parley_request_end, a };
	uint64_t id = 0;
	char why[512] = "";
	rc = parley_llm_submit(s->llm, messages, &cb, 0, &id, why, sizeof why);
	if (rc != 0) {
		parley_request_free(a);
		submit_failed(s,
			      gen, parley_problem_of_submit(PARLEY_ENGINE_LLM, rc),
			      rc == PARLEY_E_FULL ? "the LLM is busy, try again: " : "", why);
		return 0;
	}
	/* `a` may already be freed: the answer can end before submit returns. */
	pthread_mutex_lock(&s->lock);
	/* Superseded, or the session closed, while submitting: whoever did it
	 * saw no request id, so cancel it here. */
	bool cancel_now = gen != s->ans.gen || parley_session_is_closing(s);
	if (!cancel_now && s->ans.ended_gen != gen) /* it may have ended already */
		s->ans.llm_req = id;
	s->ans.submitting--;
	old = id;
	pthread_mutex_unlock(&s->lock);
	if (cancel_now)
		parley_llm_cancel(s->llm, old);
	PARLEY_DEBUG("session %llu: turn submitted as llm request %llu", (unsigned long long)s->id,
		     (unsigned long long)id);
	return 0;
}

