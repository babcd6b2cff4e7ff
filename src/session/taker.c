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
 * Threads: any, without s->lock, but the _locked calls.
 */
#include <math.h>

#include "session/internal.h"
#include "util/err.h"
#include "util/log.h"

void parley_turntaker_init(struct parley_turntaker *t, const struct parley_session_limits *l,
			   int64_t now_ns)
{
	parley_turns_defaults(&t->cfg);
	parley_bucket_init(&t->turns, l->turn_burst, l->turns_per_minute / 60.0, now_ns);
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

void parley_turntaker_heard(struct parley_session *s, const char *text, size_t len,
			    int64_t speech_end_ns)
{
	pthread_mutex_lock(&s->lock);
	bool answer = parley_turntaker_answers_locked(s);
	pthread_mutex_unlock(&s->lock);
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
	if (!speech_end_ns) /* typed: not what any speculation heard */
		parley_speculation_cancel(s, "typed turn");
	if (!parley_turntaker_admit(s, true)) {
		/* over --turns-per-minute: told rate_limited, nothing sent */
		parley_speculation_cancel(s, "turn refused");
		return;
	}
	if (speech_end_ns && parley_speculation_confirm(s, text, len, speech_end_ns))
		return; /* the speculation was kept: it is the answer */
	parley_request_submit(s, text, len, speech_end_ns, false);
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

