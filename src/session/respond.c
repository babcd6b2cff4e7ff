/*
 * respond.c - client-driven turns (session.h; the Realtime protocol): a
 * typed message that joins the history without an answer, an answer asked
 * for explicitly, cancelling the answer in flight, cutting the last spoken
 * answer to what the client played, the session's own system prompt and
 * text-only answers.
 *
 * Answers asked for here go through the same submission as a user turn
 * (request.c, parley_request_submit) and are counted against
 * --turns-per-minute like one. The answer in flight is the open one
 * (answer.c: answer_started sent, answer_final not yet).
 *
 * Threads: any, without s->lock; each call takes it, and calls the LLM
 * engine only after letting it go (internal.h's lock order). Part of the
 * answerer (answerer.h).
 */
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/utf8.h"

int parley_session_set_instructions(struct parley_session *s, const char *text)
{
	char *copy = NULL;
	if (text) {
		size_t len = strlen(text);
		if (len > PARLEY_INSTRUCTIONS_MAX || !parley_utf8_valid(text, len))
			return PARLEY_E_RANGE;
		if (!(copy = strdup(text)))
			return PARLEY_E_NOMEM;
	}
	pthread_mutex_lock(&s->lock);
	char *old = s->ans.instructions;
	s->ans.instructions = copy;
	pthread_mutex_unlock(&s->lock);
	free(old);
	return 0;
}

int parley_session_add_user_text(struct parley_session *s, const char *text, size_t len)
{
	if (!len || len > s->limits->answer_max_bytes)
		return PARLEY_E_RANGE;
	/* the conversation changes under any speculation, and moves on */
	parley_speculation_cancel(s, "typed message");
	parley_turntaker_forget(s);
	return parley_answer_add_user(s, text, len);
}

int parley_session_respond(struct parley_session *s)
{
	if (!s->llm || parley_session_is_closing(s))
		return PARLEY_E_CLOSED;
	pthread_mutex_lock(&s->lock);
	bool busy = s->ans.open;
	pthread_mutex_unlock(&s->lock);
	if (busy)
		return PARLEY_E_BUSY;
	parley_speculation_cancel(s, "response asked for");
	parley_turntaker_forget(s);
	if (!parley_turntaker_admit(s, false))
		return PARLEY_E_RANGE; /* the caller tells its client */
	return parley_request_submit(s, NULL, 0, 0, true);
}

int parley_session_cancel_response(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	if (!s->ans.open) {
		pthread_mutex_unlock(&s->lock);
		return PARLEY_E_NOTFOUND;
	}
	char *kept = parley_answer_kept_locked(s, parley_now_ns());
	const char *k = kept ? kept : "";
	size_t len = strlen(k);
	uint64_t req = s->ans.llm_req;
	parley_answer_cut_history_locked(s, k); /* what was sent (heard), cut */
	parley_answer_final_locked(s, k, len, PARLEY_ANSWER_CANCELLED);
	parley_answer_supersede_locked(s, false);
	pthread_mutex_unlock(&s->lock);
	if (req && s->llm)
		parley_llm_cancel(s->llm, req);
	PARLEY_DEBUG("session %llu: answer cancelled after \"%.60s\"", (unsigned long long)s->id, k);
	free(kept);
	return 0;
}

int parley_session_truncate_answer(struct parley_session *s, uint64_t answer, int64_t audio_ms)
{
	if (audio_ms < 0)
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	struct parley_spoken_set cur;
	const struct parley_spoken_set *set = parley_spoken_find_locked(s, answer, s->ans.id, s->ans.hist_id, &cur);
	int rc = 0;
	char *text = NULL;
	if (set == &cur && s->ans.open)
		rc = PARLEY_E_BUSY; /* not in the history yet */
	else if (!set || !set->n || !set->hist_id)
		rc = PARLEY_E_NOTFOUND;
	else if (audio_ms > set->audio_ms)
		rc = PARLEY_E_RANGE;
	else if (!(text = parley_spoken_words(set->p, set->n, audio_ms)))
		rc = PARLEY_E_NOMEM;
	else
		rc = parley_history_set(&s->ans.history, set->hist_id, text, strlen(text),
					audio_ms < set->audio_ms);
	pthread_mutex_unlock(&s->lock);
	if (!rc)
		PARLEY_DEBUG("session %llu: answer %llu truncated at %lld ms: \"%.60s\"",
			     (unsigned long long)s->id, (unsigned long long)answer,
			     (long long)audio_ms, text);
	free(text);
	return rc;
}
