/*
 * taker.c - the turn-taker's settings and routing (turntaker.h): how the
 * user's turns end and what comes of them (session.h, struct
 * parley_turns), checked and copied under the lock; the admission of a
 * turn against --turns-per-minute; and the routing of a turn, typed or
 * heard: answered (through a kept speculation, or a new request), or only
 * added to the history.
 *
 * The listener (listen.c) reads the setting at the start of each of its
 * jobs: the mode (ADAPTIVE: the pause from text/turn_rules.h; FIXED:
 * silence_ms; MANUAL: no VAD turns, inbox_cuts.c), the threshold (the
 * VAD's sensitivity, audio/vad.h) and the prefix (the pre-roll kept before
 * an onset). interrupt_response is read by barge-in (bargein.c),
 * create_response here and by speculation (speculate.c).
 *
 * Turn merging: the user sometimes goes on speaking after the end of a
 * turn but before hearing any of its answer (a pause mid-phrase taken for
 * the end). At that onset the answer is withdrawn (cancelled unheard:
 * CANCELLED, nothing in the history), and the next heard turn continues
 * the one before: the user entry in the history becomes the whole turn,
 * the client's user_final carries it (whole), and one answer is asked for
 * it. If the continuation gives no turn (a cough, nothing recognised), the
 * answer is asked again for the turn as it was.
 *
 * Threads: any, without s->lock, but the _locked calls; heard, onset and
 * nothing_heard run on the listen strand.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"
#include "util/err.h"
#include "util/log.h"

void parley_turntaker_init(struct parley_turntaker *t, const struct parley_session_limits *l,
			   int64_t now_ns)
{
	parley_turns_defaults(&t->cfg);
	atomic_init(&t->susp.on, false);
	parley_bucket_init(&t->turns, l->turn_burst, l->turns_per_minute / 60.0, now_ns);
}

void parley_turntaker_destroy(struct parley_turntaker *t)
{
	free(t->heard);
	t->heard = NULL;
	parley_resume_destroy(&t->susp);
}

bool parley_session_merges_turns(const struct parley_session *s)
{
	return s->tt.merge;
}

bool parley_turntaker_merging_locked(const struct parley_session *s)
{
	return s->tt.merging;
}

void parley_turntaker_forget(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	free(s->tt.heard);
	s->tt.heard = NULL;
	s->tt.merging = false;
	pthread_mutex_unlock(&s->lock);
}

/* Caller holds s->lock: the last heard turn is text (takes ownership),
 * its user entry hist, its speech ended at speech_end_ns. */
static void heard_set_locked(struct parley_session *s, char *text, uint64_t hist,
			     int64_t speech_end_ns)
{
	free(s->tt.heard);
	s->tt.heard = text;
	s->tt.heard_hist = hist;
	s->tt.heard_end_ns = speech_end_ns;
}

/* A heard turn was answered (or asked again): its text (copied; NULL
 * keeps the one recorded) and its answer's generation, for merging. */
static void heard_record(struct parley_session *s, const char *text, size_t len,
			 int64_t speech_end_ns)
{
	char *copy = text ? strndup(text, len) : NULL;
	pthread_mutex_lock(&s->lock);
	if (copy)
		heard_set_locked(s, copy, parley_answer_user_entry_locked(s), speech_end_ns);
	s->tt.heard_gen = parley_answer_gen_locked(s);
	s->tt.merging = false;
	pthread_mutex_unlock(&s->lock);
}

bool parley_turntaker_onset(struct parley_session *s)
{
	uint64_t req = 0;
	bool withdraw = false;
	pthread_mutex_lock(&s->lock);
	/* the answer to the last heard turn is the current one and nothing of
	 * it reached the user: no audio, and no text shown of a text-only one */
	bool shown = parley_speaker_spoken_locked(s) ? parley_speaker_has_audio_locked(s)
						     : parley_answer_has_text_locked(s);
	if (s->tt.merge && s->tt.heard && !s->tt.merging &&
	    s->tt.heard_gen == parley_answer_gen_locked(s) && parley_answer_open_locked(s) && !shown) {
		s->tt.merging = withdraw = true;
		req = parley_answer_supersede_locked(s, false);
	}
	pthread_mutex_unlock(&s->lock);
	if (!withdraw)
		return false;
	if (req && s->llm)
		parley_llm_cancel(s->llm, req);
	PARLEY_INFO("session %llu: the user went on before hearing the answer: it is withdrawn, "
		    "the turn continues", (unsigned long long)s->id);
	return true;
}

void parley_turntaker_nothing_heard(struct parley_session *s, bool more)
{
	pthread_mutex_lock(&s->lock);
	bool resume = s->tt.merging && !more && parley_turntaker_answers_locked(s);
	if (s->tt.merging && !more)
		s->tt.merging = false;
	int64_t end = s->tt.heard_end_ns;
	pthread_mutex_unlock(&s->lock);
	if (!resume || parley_session_is_closing(s) || !s->llm)
		return;
	PARLEY_INFO("session %llu: nothing followed the pause: the turn is answered as it was",
		    (unsigned long long)s->id);
	/* the turn is in the history already, and was admitted */
	if (parley_request_submit(s, NULL, 0, end, false) == 0)
		heard_record(s, NULL, 0, end);
}

/* The merged turn `whole` (its first part's user entry hist) is answered. */
static void answer_merged(struct parley_session *s, const char *whole, uint64_t hist,
			  int64_t speech_end_ns)
{
	parley_speculation_cancel(s, "the turn continues an earlier one");
	pthread_mutex_lock(&s->lock);
	int rc = parley_answer_rewrite_user_locked(s, hist, whole);
	pthread_mutex_unlock(&s->lock);
	PARLEY_INFO("session %llu: turn merged with the one before: \"%.80s\"",
		    (unsigned long long)s->id, whole);
	if (parley_session_is_closing(s) || !s->llm)
		return;
	/* the first part was admitted; its entry now holds the whole turn
	 * (or, gone from the history, the whole turn is added) */
	if (parley_request_submit(s, rc ? whole : NULL, rc ? strlen(whole) : 0, speech_end_ns,
				  false) == 0)
		heard_record(s, whole, strlen(whole), speech_end_ns);
}

/* Caller holds s->lock: the whole of a turn that continues the merging
 * one (malloc'd), or NULL when it does not. */
static char *merged_text_locked(struct parley_session *s, const char *text, size_t len)
{
	if (!s->tt.merging || !s->tt.heard)
		return NULL;
	size_t n = strlen(s->tt.heard);
	char *whole = malloc(n + 1 + len + 1);
	if (!whole)
		return NULL;
	memcpy(whole, s->tt.heard, n);
	whole[n] = ' ';
	memcpy(whole + n + 1, text, len);
	whole[n + 1 + len] = '\0';
	return whole;
}

bool parley_turntaker_answers_locked(const struct parley_session *s)
{
	return s->tt.cfg.create_response && s->tt.cfg.mode != PARLEY_TURNS_MANUAL;
}

bool parley_turntaker_would_admit_locked(struct parley_session *s, int64_t now_ns)
{
	return parley_bucket_level(&s->tt.turns, now_ns) >= 1;
}

int parley_session_set_turns(struct parley_session *s, const struct parley_turns *t)
{
	if ((t->mode != PARLEY_TURNS_ADAPTIVE && t->mode != PARLEY_TURNS_FIXED &&
	     t->mode != PARLEY_TURNS_MANUAL) ||
	    !(t->threshold >= 0.0 && t->threshold <= 1.0) || t->prefix_ms < 0 ||
	    t->prefix_ms > PARLEY_TURN_PREFIX_MAX || t->silence_ms < PARLEY_TURN_SILENCE_MIN ||
	    t->silence_ms > PARLEY_TURN_SILENCE_MAX)
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	s->tt.cfg = *t;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void parley_session_get_turns(struct parley_session *s, struct parley_turns *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->tt.cfg;
	pthread_mutex_unlock(&s->lock);
}

/* A heard turn the user is already continuing: it joins the history and
 * waits for the rest (merging), unanswered. */
static void await_rest(struct parley_session *s, const char *text, size_t len,
		       int64_t speech_end_ns)
{
	parley_speculation_cancel(s, "the user went on");
	if (!parley_turntaker_admit(s, true))
		return; /* over --turns-per-minute: told rate_limited; the rest is a turn of its own */
	char *copy = strndup(text, len);
	int rc = copy ? parley_answer_add_user(s, text, len) : PARLEY_E_NOMEM;
	pthread_mutex_lock(&s->lock);
	if (!rc) {
		heard_set_locked(s, copy, parley_answer_user_entry_locked(s), speech_end_ns);
		copy = NULL;
		s->tt.merging = true;
	}
	pthread_mutex_unlock(&s->lock);
	free(copy);
	if (rc)
		PARLEY_WARN("session %llu: out of memory: the turn is missing from the history",
			    (unsigned long long)s->id);
	else
		PARLEY_INFO("session %llu: the user went on after the turn ended: it waits for the "
			    "rest", (unsigned long long)s->id);
}

void parley_turntaker_heard(struct parley_session *s, const char *text, size_t len,
			    int64_t speech_end_ns, bool more)
{
	pthread_mutex_lock(&s->lock);
	bool answer = parley_turntaker_answers_locked(s);
	char *whole = answer ? merged_text_locked(s, text, len) : NULL;
	uint64_t hist = s->tt.heard_hist;
	s->tt.merging = false;
	pthread_mutex_unlock(&s->lock);
	s->events->user_final(s, text, whole);
	if (whole && more) { /* the whole so far waits for the rest again */
		pthread_mutex_lock(&s->lock);
		int rc = parley_answer_rewrite_user_locked(s, hist, whole);
		if (!rc) {
			heard_set_locked(s, whole, hist, speech_end_ns);
			whole = NULL;
			s->tt.merging = true;
		}
		pthread_mutex_unlock(&s->lock);
		if (!whole)
			return;
	}
	if (whole) {
		answer_merged(s, whole, hist, speech_end_ns);
		free(whole);
		return;
	}
	if (answer && more && speech_end_ns && s->tt.merge) {
		await_rest(s, text, len, speech_end_ns);
		return;
	}
	if (answer) {
		parley_turntaker_user_turn(s, text, len, speech_end_ns);
		return;
	}
	/* the client asks for the answer (parley_session_respond) */
	parley_speculation_cancel(s, "the turn is not answered");
	if (parley_answer_add_user(s, text, len) != 0)
		PARLEY_WARN("session %llu: out of memory: the turn is missing from the history",
			    (unsigned long long)s->id);
}

void parley_session_user_turn(struct parley_session *s, const char *text, size_t len)
{
	parley_turntaker_user_turn(s, text, len, 0);
}

void parley_turntaker_user_turn(struct parley_session *s, const char *text, size_t len,
				int64_t speech_end_ns)
{
	if (parley_session_is_closing(s) || !s->llm)
		return;
	if (!speech_end_ns) { /* typed: not what any speculation heard, nor a continuation */
		parley_speculation_cancel(s, "typed turn");
		parley_turntaker_forget(s);
	}
	if (!parley_turntaker_admit(s, true)) {
		/* over --turns-per-minute: told rate_limited, nothing sent */
		parley_speculation_cancel(s, "turn refused");
		return;
	}
	if (speech_end_ns && parley_speculation_confirm(s, text, len, speech_end_ns)) {
		heard_record(s, text, len, speech_end_ns); /* the speculation was kept: it is the answer */
		return;
	}
	if (parley_request_submit(s, text, len, speech_end_ns, false) == 0 && speech_end_ns)
		heard_record(s, text, len, speech_end_ns);
}

bool parley_turntaker_admit(struct parley_session *s, bool report)
{
	pthread_mutex_lock(&s->lock);
	int64_t now = parley_now_ns();
	bool ok = parley_bucket_take(&s->tt.turns, 1, now);
	double wait = ok ? 0 : parley_bucket_wait_s(&s->tt.turns, 1, now);
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		PARLEY_INFO("session %llu: turn refused: over %.0f turns a minute",
			    (unsigned long long)s->id, s->limits->turns_per_minute);
	}
	if (!ok && report) {
		parley_session_error(s, PARLEY_SESSION_RATE_LIMITED,
				     "too many turns: at most %.0f a minute (%.0f at once); this "
				     "one was not answered, try again in %.1f s",
				     s->limits->turns_per_minute, s->limits->turn_burst, wait);
	}
	return ok;
}

