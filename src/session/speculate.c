/*
 * speculate.c - speculative answers, the turn-taker's (turntaker.h; docs/architecture.md,
 * "Speculation").
 *
 * In the user's trailing silence the listener hands over the transcript so
 * far; the session starts the LLM request at once (speculative in the
 * engine: preemptable, never ahead of another session's confirmed turn)
 * with the history plus that text as the user turn, which does not join
 * the history yet. The request (struct parley_request, request.h) is HELD:
 * tokens and its end are kept in it, nothing reaches the client, the
 * speaker or the history. When the turn ends, parley_speculation_confirm()
 * compares the final transcript with the speculation's text, both reduced
 * to their words (text/textnorm.h): if they match and the engine promotes
 * the request to an ordinary one (or it already finished), the answer is
 * adopted as the turn's (request.c replays what it held, then it streams on as
 * usual); otherwise it is cancelled and the turn is submitted as always.
 *
 * One speculation per session at a time (s->tt.spec). It is cancelled
 * silently when the user goes on speaking, when a newer one replaces it,
 * on a typed or refused turn, clear_history, barge-in and close; a
 * preempted or failed one is discarded when its turn comes. No speculation
 * starts while an answer is being generated (the history lacks its text)
 * or when the turn would be refused (--turns-per-minute); speculations do
 * not take from that budget, only the turn that keeps one does.
 *
 * Threads: start and confirm run on the listen strand (so a
 * speculation's submit always returned before its turn is confirmed);
 * cancel may come from any thread. All without s->lock; the engine is
 * called unlocked (internal.h's lock order).
 *
 * Counted in parley_speculations_total{outcome}: started (the request was
 * accepted), then exactly one of kept or discarded.
 */
#include <stdlib.h>
#include <string.h>

#include "llm/engine.h"
#include "session/internal.h"
#include "text/textnorm.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

enum outcome { STARTED, KEPT, DISCARDED, NOUTCOMES };

static struct parley_counter m_outcome[NOUTCOMES];
static const char *const outcome_names[NOUTCOMES] = { "started", "kept", "discarded" };

int parley_speculation_register_metrics(void)
{
	int rc = 0;
	for (int i = 0; i < NOUTCOMES && !rc; i++)
		rc = parley_metrics_register_counter(
			"parley_speculations_total",
			"speculative answers: started in the user's trailing silence, then kept "
			"(the final transcript matched) or discarded",
			"outcome", outcome_names[i], &m_outcome[i]);
	return rc;
}

/* What to do, after unlocking, with a speculation taken out of s->tt.spec. */
struct after {
	uint64_t cancel;           /* request to cancel, 0 none */
	struct parley_request *del; /* an ended one to free */
	bool counted;              /* it was started: count it discarded */
};

/* Caller holds s->lock; a is no longer s->tt.spec. An ended answer is freed by
 * the caller; a running one is cancelled and freed by its end callback; one
 * whose submit has not returned yet (id 0) is cancelled by its submitter,
 * which sees it is not live. */
static void discard_locked(struct parley_request *a, struct after *out)
{
	out->counted = a->id != 0;
	if (a->ended) {
		out->del = a;
	} else {
		a->state = PARLEY_REQUEST_DISCARDED;
		out->cancel = a->id;
	}
}

static void after_unlock(struct parley_session *s, const struct after *af, const char *why)
{
	if (af->cancel)
		parley_llm_cancel(s->llm, af->cancel);
	parley_request_free(af->del);
	if (af->counted) {
		parley_counter_add(&m_outcome[DISCARDED], 1);
		PARLEY_DEBUG("session %llu: speculative answer discarded (%s)",
			     (unsigned long long)s->id, why);
	}
}

void parley_speculation_cancel(struct parley_session *s, const char *why)
{
	if (!s->llm)
		return;
	struct after af = { 0 };
	pthread_mutex_lock(&s->lock);
	struct parley_request *a = s->tt.spec;
	if (a) {
		s->tt.spec = NULL;
		discard_locked(a, &af);
	}
	pthread_mutex_unlock(&s->lock);
	if (a)
		after_unlock(s, &af, why);
}

void parley_speculation_start(struct parley_session *s, const char *text, int64_t speech_end_ns)
{
	if (!s->speculate_ms || !s->llm || parley_session_is_closing(s))
		return;
	char *norm = parley_textnorm(text, strlen(text));
	struct parley_request *a = norm && norm[0] ? parley_request_new(s) : NULL;
	if (!a) {
		free(norm);
		return;
	}
	a->state = PARLEY_REQUEST_HELD;
	a->norm = norm;
	a->speech_end_ns = speech_end_ns;

	const char *skip = NULL;
	json_t *messages = NULL;
	struct after old = { 0 };
	struct parley_request *replaced = NULL;
	pthread_mutex_lock(&s->lock);
	if (parley_session_is_closing(s))
		skip = "closing";
	else if (parley_answer_generating_locked(s))
		skip = "an answer is being generated";
	else if (parley_resume_pending_locked(s))
		skip = "the answer a speech onset stopped may resume";
	else if (parley_turntaker_merging_locked(s))
		skip = "the turn continues one whose answer was withdrawn";
	else if (!parley_turntaker_answers_locked(s))
		skip = "the turn will not be answered";
	else if (!parley_turntaker_would_admit_locked(s, parley_now_ns()))
		skip = "the turn would be refused";
	else if (!(messages = parley_answer_messages_locked(s, text)))
		skip = "out of memory";
	if (!skip) {
		replaced = s->tt.spec;
		if (replaced)
			discard_locked(replaced, &old);
		a->seq = ++s->tt.spec_seq;
		s->tt.spec = a;
	}
	pthread_mutex_unlock(&s->lock);
	if (replaced)
		after_unlock(s, &old, "replaced by a newer one");
	if (skip) {
		PARLEY_DEBUG("session %llu: no speculative answer: %s", (unsigned long long)s->id,
			     skip);
		parley_request_free(a);
		return;
	}

	uint64_t seq = a->seq, id = 0;
	a->submitted_ns = parley_now_ns();
	struct parley_llm_callbacks cb = { parley_request_token, parley_request_end, a };
	char why[512] = "";
	int rc = parley_llm_submit(s->llm, messages, &cb, PARLEY_LLM_SPECULATIVE, &id, why,
				   sizeof why);
	pthread_mutex_lock(&s->lock);
	bool live = s->tt.spec == a && s->tt.spec_seq == seq;
	if (rc != 0) {
		/* no callback will come: ours to free, live or discarded meanwhile */
		if (live)
			s->tt.spec = NULL;
	} else if (live) {
		a->id = id;
	}
	pthread_mutex_unlock(&s->lock);
	/* Unless rc != 0, a is not ours any more. */
	if (rc != 0) {
		PARLEY_DEBUG("session %llu: no speculative answer: %s", (unsigned long long)s->id,
			     why);
		parley_request_free(a);
		return;
	}
	parley_counter_add(&m_outcome[STARTED], 1);
	if (!live) { /* discarded while submitting: the discarder saw no id */
		parley_llm_cancel(s->llm, id);
		parley_counter_add(&m_outcome[DISCARDED], 1);
		return;
	}
	PARLEY_DEBUG("session %llu: speculative answer started as llm request %llu on \"%s\"",
		     (unsigned long long)s->id, (unsigned long long)id, text);
}

bool parley_speculation_confirm(struct parley_session *s, const char *text, size_t len,
				int64_t speech_end_ns)
{
	if (!s->llm)
		return false;
	char *norm = parley_textnorm(text, len);
	struct after af = { 0 };
	pthread_mutex_lock(&s->lock);
	struct parley_request *a = s->tt.spec;
	if (!a) {
		pthread_mutex_unlock(&s->lock);
		free(norm);
		return false;
	}
	s->tt.spec = NULL;
	const char *why = NULL;
	if (!a->id)
		why = "not submitted"; /* cannot happen on the strand; be safe */
	else if (!norm || strcmp(norm, a->norm) != 0)
		why = "the final transcript differs";
	else if (a->ended && a->end != PARLEY_LLM_END_OK)
		why = a->end == PARLEY_LLM_END_CANCELLED ? "preempted" : "it failed";
	if (why) {
		discard_locked(a, &af);
		pthread_mutex_unlock(&s->lock);
		after_unlock(s, &af, why);
		free(norm);
		return false;
	}
	free(norm);
	/* Promote it in the engine, unlocked; it stays held meanwhile. */
	a->state = PARLEY_REQUEST_CONFIRMING;
	bool ended = a->ended;
	uint64_t id = a->id;
	int64_t started = a->submitted_ns;
	uint64_t gen = parley_answer_gen_locked(s);
	pthread_mutex_unlock(&s->lock);
	int rc = ended ? 0 : parley_llm_promote(s->llm, id);

	pthread_mutex_lock(&s->lock);
	ended = a->ended;
	bool keep = ended ? a->end == PARLEY_LLM_END_OK : rc == 0;
	/* clear_history, a typed turn or a barge-in came meanwhile: the answer
	 * was made for a conversation that is not there any more. */
	bool superseded = parley_answer_gen_locked(s) != gen;
	if (superseded)
		keep = false;
	/* A session that closed meanwhile did not see it (it was neither
	 * the speculation slot nor the answer in flight): the close is honoured here. */
	if (parley_session_is_closing(s))
		keep = false;
	uint64_t old = 0;
	if (keep)
		old = parley_request_adopt_locked(s, a, text, len, speech_end_ns);
	else
		discard_locked(a, &af);
	pthread_mutex_unlock(&s->lock);
	/* Unless ended, a is not ours any more. */
	if (!keep) {
		after_unlock(s, &af,
			     superseded		       ? "superseded while confirming"
			     : rc == PARLEY_E_NOTFOUND ? "preempted"
						       : "not promoted");
		return false;
	}
	if (old)
		parley_llm_cancel(s->llm, old);
	if (ended)
		parley_request_free(a);
	parley_counter_add(&m_outcome[KEPT], 1);
	PARLEY_INFO("session %llu: speculative answer kept (started %.0f ms before the final "
		    "transcript%s)",
		    (unsigned long long)s->id, (double)(parley_now_ns() - started) / 1e6,
		    ended ? ", already complete" : "");
	return true;
}
