/*
 * listen_results.c - the listener's results: an utterance's STT job
 * reports back here, and its result becomes a turn (or an error), in the
 * order the utterances began.
 *
 * Results arrive through the job's sink, on any thread (the embedded
 * engine: during feed()/finish() on this strand; a remote one: later, on
 * the HTTP thread): partial transcripts are kept in the utterance (under
 * its own lock) for the turn rules and barge-in, and shown at once; the end
 * (the final transcript or an error) is handed back to this strand as a
 * job, which makes the user turn. Utterances are numbered; a result older
 * than one already delivered was superseded and is ignored. An utterance
 * that fails reports an error and leaves the listener ready for the next.
 *
 * Lifetime: each utterance (struct utt) holds a session reference; the
 * listener keeps it, with its job handle, from onset until its result was
 * handled here (or the session closes: the close queues a listen job that
 * runs cancelled and gives every job back); the engine keeps a reference
 * until end, the result job one while queued.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/echo.h"
#include "session/internal.h"
#include "session/listen_internal.h"
#include "stt/stt.h"
#include "util/log.h"

#define MIN_VOICED_FRAMES 10                   /* shorter voicing is not a turn */

void parley_listen_utt_unref(struct utt *u)
{
	if (atomic_fetch_sub(&u->refs, 1) != 1)
		return;
	struct parley_session *s = u->s;
	pthread_mutex_destroy(&u->lock);
	free(u);
	parley_session_unref(s);
}

/* Takes u out of the listener and gives its job back (cancelled if it is
 * still running); drops the listener's reference. */
void parley_listen_unlist(struct parley_listen *l, struct parley_session *s, struct utt *u)
{
	if (!u->listed)
		return;
	u->listed = false;
	if (l->cur == u) {
		l->cur = NULL;
	} else {
		struct utt **p = &l->pending;
		while (*p && *p != u)
			p = &(*p)->next;
		if (*p) {
			*p = u->next;
			parley_inbox_utts_waiting(s, -1);
		}
	}
	atomic_store(&u->finished, true);
	if (u->job) /* none: commit_nothing()'s */
		s->speech->stt_backend->release(u->job); /* may report end (cancelled) */
	u->job = NULL;
	if (u->held) {
		free(u->held);
		u->held = NULL;
		parley_listen_utt_unref(u); /* the held result's reference */
	}
	parley_listen_utt_unref(u);
}

/* Every utterance goes: the session is closing. */
void parley_listen_abandon(struct parley_listen *l, struct parley_session *s)
{
	bool open = l->cur != NULL;
	if (l->cur)
		parley_listen_unlist(l, s, l->cur);
	while (l->pending)
		parley_listen_unlist(l, s, l->pending);
	if (open)
		parley_listen_set_open(s, false);
}

/* Sink (any thread): a hypothesis of the utterance so far. */
static void on_partial(void *arg, const char *text)
{
	struct utt *u = arg;
	if (atomic_load(&u->finished) || !text[0])
		return;
	pthread_mutex_lock(&u->lock);
	snprintf(u->partial, sizeof u->partial, "%s", text);
	u->partial_new = true;
	pthread_mutex_unlock(&u->lock);
	u->s->events->user_partial(u->s, text);
}

static void result_job(void *arg, bool cancelled);

/* Sink (any thread): the utterance's result goes to the strand. */
static void on_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		   const char *text)
{
	struct utt *u = arg;
	struct parley_session *s = u->s;
	size_t len = text ? strlen(text) : 0;
	struct result *r = malloc(sizeof *r + len + 1);
	if (r) {
		r->u = u; /* takes the engine's reference */
		r->end = end;
		r->cause = cause;
		r->reported = false;
		memcpy(r->text, text ? text : "", len + 1);
		/* A closed session submits nothing (at shutdown the workers may
		 * be gone before a speech service's last callbacks). */
		if (!parley_session_is_closing(s) &&
		    parley_workers_submit(s->workers, &s->strand, PARLEY_JOB_URGENT, result_job, r) == 0)
			return;
		free(r);
	}
	parley_listen_utt_unref(u); /* closing: nobody waits for it */
}

struct parley_stt_sink parley_listen_sink(struct utt *u)
{
	return (struct parley_stt_sink){ on_partial, on_end, u };
}

/* Hands one result to the session (the strand; the session is live). */
static void deliver(struct parley_listen *l, struct parley_session *s, const struct result *r)
{
	struct utt *u = r->u;
	if (r->end == PARLEY_SPEECH_OK && u->seq <= l->delivered) {
		PARLEY_DEBUG("session %llu: transcript of utterance %llu superseded",
			     (unsigned long long)s->id, (unsigned long long)u->seq);
		if (u->committed)
			s->events->user_failed(s, "superseded");
	} else if (r->end == PARLEY_SPEECH_OK) {
		l->delivered = u->seq;
		if (!r->text[0] || (!u->by_commit && u->voiced < MIN_VOICED_FRAMES)) {
			PARLEY_DEBUG("session %llu: no turn (%d voiced frames, transcript \"%s\")",
				     (unsigned long long)s->id, u->voiced, r->text);
			if (u->committed)
				s->events->user_failed(s, "empty");
		} else if (parley_session_utterance_is_echo(s, r->text, u->start_ms)) {
			/* the assistant's own words came back: no turn; an answer
			 * its onset suspended resumes (resume.h) */
			PARLEY_INFO("session %llu: echo of the assistant, not a turn: \"%s\"",
				    (unsigned long long)s->id, r->text);
			parley_resume_not_a_turn(s, "an echo of the assistant");
			if (u->committed)
				s->events->user_failed(s, "echo");
		} else if (parley_resume_verdict(s, r->text, l->cur != NULL)) {
			/* only a backchannel over the answer: it goes on, no turn */
			PARLEY_INFO("session %llu: backchannel \"%s\": not a turn",
				    (unsigned long long)s->id, r->text);
			if (u->committed)
				s->events->user_failed(s, "backchannel");
		} else {
			PARLEY_INFO("session %llu: user said \"%s\"", (unsigned long long)s->id,
				    r->text);
			/* user_final, then the turn (merged with the one before
			 * if its answer was withdrawn) */
			parley_turntaker_heard(s, r->text, strlen(r->text), u->speech_end,
					       l->cur != NULL);
			return; /* the turn keeps or discards its speculation */
		}
	} else if (r->end == PARLEY_SPEECH_CANCELLED) {
		if (u->committed && !parley_session_is_closing(s))
			s->events->user_failed(s, "cancelled");
	} else if (r->end == PARLEY_SPEECH_ERROR && r->reported) {
		if (u->committed)
			s->events->user_failed(s, parley_speech_cause_name(r->cause));
	} else if (r->end == PARLEY_SPEECH_ERROR) {
		PARLEY_WARN("session %llu: speech recognition failed (%s): %s",
			    (unsigned long long)s->id, parley_speech_cause_name(r->cause), r->text);
		if (r->cause == PARLEY_SPEECH_CAUSE_BUSY && !s->speech->stt_remote)
			/* the utterance waited for a decoder as long as it may */
			parley_listen_overloaded(l, s, "every speech decoder stayed busy; this "
						       "utterance was not transcribed");
		else
			parley_session_error(s, parley_problem_of_speech(PARLEY_ENGINE_STT, r->cause), "%s",
					     r->text[0] ? r->text : "speech recognition failed");
		if (u->committed)
			s->events->user_failed(s, parley_speech_cause_name(r->cause));
	}
	/* No turn came of it: a speculation on its words goes too (not one
	 * the utterance being spoken now started since). */
	if (u->speculated && !(l->cur && l->cur->speculated))
		parley_speculation_cancel(s, "the user went on");
	/* a suspended answer resumes, a withdrawn one is asked again, unless
	 * the user is still speaking */
	parley_resume_verdict(s, NULL, l->cur != NULL);
	parley_turntaker_nothing_heard(s, l->cur != NULL);
}

/* The utterance still waiting for its result that began first, or NULL. */
static struct utt *oldest_pending(const struct parley_listen *l)
{
	struct utt *first = NULL;
	for (struct utt *u = l->pending; u; u = u->next)
		if (!first || u->seq < first->seq)
			first = u;
	return first;
}

/* The results held for the oldest utterances go, in order. */
void parley_listen_deliver_held(struct parley_listen *l, struct parley_session *s)
{
	struct utt *first;
	while ((first = oldest_pending(l)) && first->held) {
		struct result *r = first->held;
		first->held = NULL;
		deliver(l, s, r);
		parley_listen_unlist(l, s, first);
		parley_listen_utt_unref(first);
		free(r);
	}
}

/* The strand: an utterance's result. Results become turns in the order the
 * utterances began: an utterance that waited for a decoder is decoded late,
 * after a later one may have finished, so a result whose elder is still
 * being transcribed waits for it (held in its utterance). */
static void result_job(void *arg, bool cancelled)
{
	struct result *r = arg;
	struct utt *u = r->u;
	struct parley_session *s = u->s;
	struct parley_listen *l = s->listen;
	if (cancelled || parley_session_is_closing(s)) {
		if (cancelled)
			parley_listen_abandon(l, s); /* the session is closing */
		else
			parley_listen_unlist(l, s, u);
		parley_listen_utt_unref(u);
		free(r);
		return;
	}
	struct utt *first = oldest_pending(l);
	if (u->listed && first && first->seq < u->seq) {
		u->held = r; /* with its reference */
		return;
	}
	deliver(l, s, r);
	parley_listen_unlist(l, s, u);
	parley_listen_utt_unref(u);
	free(r);
	parley_listen_deliver_held(l, s);
}
