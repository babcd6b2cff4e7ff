/*
 * resume.c - false interruptions (resume.h): the verdict on a suspended
 * answer, and its two ends: interrupted as a barge-in, or resumed.
 *
 * Threads: the listen strand (listen, verdict) or any (not_a_turn,
 * interrupt), without s->lock, but the _locked calls.
 */
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"
#include "session/stages.h"
#include "text/backchannel.h"
#include "util/log.h"
#include "util/utf8.h"

/* Caller holds s->lock: the suspension ends (its heard text goes to the
 * caller, who frees it). */
static char *end_locked(struct parley_session *s)
{
	struct parley_suspense *p = &s->tt.susp;
	char *heard = p->heard;
	p->heard = NULL;
	atomic_store(&p->on, false);
	return heard;
}

/* Caller holds s->lock: is the suspended answer still the current one? A
 * newer turn, a cancel or clear_history superseded it (and dropped its
 * tape): the suspension ends with it. */
static bool live_locked(struct parley_session *s)
{
	struct parley_suspense *p = &s->tt.susp;
	if (!atomic_load(&p->on))
		return false;
	if (p->gen == parley_answer_gen_locked(s) && s->spk.holding)
		return true;
	free(end_locked(s));
	return false;
}

bool parley_resume_pending_locked(struct parley_session *s)
{
	return live_locked(s);
}

bool parley_resume_suspend_locked(struct parley_session *s, int64_t onset_ns)
{
	struct parley_suspense *p = &s->tt.susp;
	if (!p->enabled || !parley_speaker_spoken_locked(s) || !s->spk.tape.rate ||
	    s->spk.tape.broken)
		return false;
	live_locked(s);
	char *heard = parley_answer_kept_locked(s, parley_now_ns());
	if (!heard)
		return false; /* out of memory: interrupted as before */
	p->heard_ms = parley_speaker_heard_ms_locked(s, parley_now_ns());
	free(p->heard);
	p->heard = heard;
	p->gen = parley_answer_gen_locked(s);
	p->onset_ns = onset_ns;
	p->words = false;
	parley_speaker_hold_locked(s);
	atomic_store(&p->on, true);
	return true;
}

void parley_resume_interrupt(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	if (!live_locked(s)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	int64_t onset = s->tt.susp.onset_ns;
	char *heard = end_locked(s);
	uint64_t req = parley_answer_interrupted_locked(s, heard);
	pthread_mutex_unlock(&s->lock);

	if (req && s->llm)
		parley_llm_cancel(s->llm, req);
	parley_speculation_cancel(s, "barge-in");
	size_t hlen = strlen(heard), shown = parley_utf8_cut(heard, hlen, 60);
	PARLEY_INFO("session %llu: barge-in: a turn, %.0f ms after the speech onset; the answer "
		    "is interrupted where the user heard \"%.*s%s\"",
		    (unsigned long long)s->id, (double)(parley_now_ns() - onset) / 1e6, (int)shown,
		    heard, shown < hlen ? "..." : "");
	free(heard);
}

bool parley_resume_not_a_turn(struct parley_session *s, const char *why)
{
	pthread_mutex_lock(&s->lock);
	if (!live_locked(s)) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	struct parley_suspense *p = &s->tt.susp;
	int64_t heard_ms = p->heard_ms, onset = p->onset_ns;
	int64_t from = heard_ms - PARLEY_RESUME_BACK_MS;
	int64_t sent_from = parley_speaker_resume_locked(s, from < 0 ? 0 : from);
	if (sent_from >= 0)
		free(end_locked(s));
	pthread_mutex_unlock(&s->lock);
	if (sent_from < 0) {
		PARLEY_INFO("session %llu: %s, but the answer's audio cannot be sent again: it is "
			    "interrupted", (unsigned long long)s->id, why);
		parley_resume_interrupt(s);
		return false;
	}
	PARLEY_INFO("session %llu: not a turn (%s): the answer resumes at %lld ms (the user had "
		    "heard %lld ms), %.0f ms after the speech onset",
		    (unsigned long long)s->id, why, (long long)sent_from, (long long)heard_ms,
		    (double)(parley_now_ns() - onset) / 1e6);
	return true;
}

void parley_resume_listen(struct parley_session *s, const char *partial)
{
	if (!atomic_load(&s->tt.susp.on) || !partial)
		return;
	enum parley_backchannel bc = parley_backchannel_classify(partial);
	pthread_mutex_lock(&s->lock);
	bool live = live_locked(s);
	struct parley_suspense *p = &s->tt.susp;
	int64_t waited = (parley_now_ns() - p->onset_ns) / 1000000;
	bool first_words = live && bc != PARLEY_BC_EMPTY && !p->words;
	if (first_words)
		p->words = true;
	bool wordless = live && !p->words && waited >= PARLEY_RESUME_WORDLESS_MS;
	pthread_mutex_unlock(&s->lock);
	if (!live)
		return;
	if (first_words)
		PARLEY_INFO("session %llu: first words %lld ms after the speech onset: \"%.60s\"",
			    (unsigned long long)s->id, (long long)waited, partial);
	/* Early partials of a backchannel are often words ("the", "to"): only
	 * a long one is sure to be a turn; the final transcript decides the rest. */
	if (bc == PARLEY_BC_WORDS && parley_backchannel_words(partial) >= PARLEY_RESUME_TURN_WORDS)
		parley_resume_interrupt(s);
	else if (wordless)
		parley_resume_not_a_turn(s, "no words");
}

bool parley_resume_verdict(struct parley_session *s, const char *text, bool more)
{
	if (!atomic_load(&s->tt.susp.on))
		return false;
	pthread_mutex_lock(&s->lock);
	bool live = live_locked(s);
	pthread_mutex_unlock(&s->lock);
	if (!live)
		return false;
	enum parley_backchannel bc = parley_backchannel_classify(text);
	if (bc == PARLEY_BC_WORDS) {
		parley_resume_interrupt(s);
		return false;
	}
	if (!more) /* else what the user says now decides */
		parley_resume_not_a_turn(s, bc == PARLEY_BC_ONLY    ? "a backchannel"
					    : bc == PARLEY_BC_SHORT ? "a short utterance that asks nothing"
								    : "no words");
	return bc != PARLEY_BC_EMPTY;
}

bool parley_session_resumes(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	bool on = s->tt.susp.enabled;
	pthread_mutex_unlock(&s->lock);
	return on;
}

void parley_session_set_resumes(struct parley_session *s, bool resume)
{
	pthread_mutex_lock(&s->lock);
	s->tt.susp.enabled = resume;
	pthread_mutex_unlock(&s->lock);
}

void parley_resume_destroy(struct parley_suspense *p)
{
	free(p->heard);
	p->heard = NULL;
}
