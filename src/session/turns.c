/*
 * turns.c - how the user's turns end and what comes of them (session.h,
 * struct parley_turns): the setting, checked and copied under the lock,
 * and the routing of a heard turn: answered, or only added to the history.
 *
 * The listener (listen.c) reads the setting at the start of each of its
 * jobs: the mode (ADAPTIVE: the pause from text/turn_rules.h; FIXED:
 * silence_ms; MANUAL: no VAD turns, commit.c), the threshold (the VAD's
 * sensitivity, audio/vad.h) and the prefix (the pre-roll kept before an
 * onset). interrupt_response is read by barge-in (answer.c, turn.c),
 * create_response here and by speculation (speculate.c).
 *
 * Threads: any, without s->lock.
 */
#include <math.h>

#include "session/internal.h"
#include "util/err.h"
#include "util/log.h"

int parley_session_set_turns(struct parley_session *s, const struct parley_turns *t)
{
	if ((t->mode != PARLEY_TURNS_ADAPTIVE && t->mode != PARLEY_TURNS_FIXED &&
	     t->mode != PARLEY_TURNS_MANUAL) ||
	    !(t->threshold >= 0.0 && t->threshold <= 1.0) || t->prefix_ms < 0 ||
	    t->prefix_ms > PARLEY_TURN_PREFIX_MAX || t->silence_ms < PARLEY_TURN_SILENCE_MIN ||
	    t->silence_ms > PARLEY_TURN_SILENCE_MAX)
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	s->turn_cfg = *t;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void parley_session_get_turns(struct parley_session *s, struct parley_turns *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->turn_cfg;
	pthread_mutex_unlock(&s->lock);
}

void parley_session_heard_turn(struct parley_session *s, const char *text, size_t len,
			       int64_t speech_end_ns)
{
	pthread_mutex_lock(&s->lock);
	bool answer = s->turn_cfg.create_response && s->turn_cfg.mode != PARLEY_TURNS_MANUAL;
	pthread_mutex_unlock(&s->lock);
	if (answer) {
		parley_session_user_turn_timed(s, text, len, speech_end_ns);
		return;
	}
	/* the client asks for the answer (parley_session_respond) */
	parley_speculation_discard(s, "the turn is not answered");
	pthread_mutex_lock(&s->lock);
	int rc = parley_history_add(&s->history, PARLEY_ROLE_USER, text, len, false);
	pthread_mutex_unlock(&s->lock);
	if (rc)
		PARLEY_WARN("session %llu: out of memory: the turn is missing from the history",
			    (unsigned long long)s->id);
}
