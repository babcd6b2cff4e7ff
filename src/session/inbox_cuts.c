/*
 * inbox_cuts.c - the client's cuts in its audio stream (session.h:
 * parley_session_commit_audio, parley_session_clear_audio).
 *
 * A cut is taken when the client asks, but applies to the audio it sent
 * before asking, which may still wait in the session's ring for the
 * listener. So each cut is a mark in the stream: s->in.written counts
 * every sample ever written to the ring, and the ring holds samples
 * [written - len, written), so a cut at `at` falls after the
 * samples already taken plus (at - taken). The listener's take
 * (parley_inbox_take) never reads past the next mark, and
 * reports the cut when it reaches it: a commit ends the utterance there
 * (listen_cuts.c), a clear drops it and the audio before it undecoded. Audio
 * lost to an overflow or a rate change counts as taken, so a mark it
 * passed is simply due.
 *
 * The marks wait in a FIFO of PARLEY_SESSION_MAX_CUTS. A commit is
 * refused when PARLEY_SESSION_MAX_COMMITS commits already wait, for the
 * listener (marks) or for their transcripts (s->in.utts_waiting, the
 * listener's count): one client does not queue dozens of speech jobs
 * ahead of every other session. A clear always fits: it replaces a clear
 * at the tail (both drop the same audio) or takes a slot commits leave
 * free.
 *
 * The VAD's end of a turn is a cut too (the utterance is committed): the
 * audio a commit finds waiting (uncommitted_ms) is then only what came
 * after it, which is what the listener has not taken yet.
 *
 * Threads: any; everything under in.lock (listener.h).
 */
#include "session/internal.h"
#include "util/err.h"

#define MIN_COMMIT_MS 100

static void push_cut_locked(struct parley_session *s, bool clear)
{
	size_t tail = (s->in.cut_head + s->in.ncuts + PARLEY_SESSION_MAX_CUTS - 1) %
		      PARLEY_SESSION_MAX_CUTS;
	if (clear && s->in.ncuts && s->in.cuts[tail].clear) {
		s->in.cuts[tail].at = s->in.written;
		return;
	}
	s->in.cuts[(s->in.cut_head + s->in.ncuts) % PARLEY_SESSION_MAX_CUTS] =
		(struct parley_cut){ s->in.written, clear };
	s->in.ncuts++;
}

int parley_session_commit_audio(struct parley_session *s)
{
	pthread_mutex_lock(&s->in.lock);
	int rc = 0;
	if (s->in.uncommitted_ms < MIN_COMMIT_MS)
		rc = PARLEY_E_RANGE;
	else if (s->in.ncuts + s->in.utts_waiting >= PARLEY_SESSION_MAX_COMMITS)
		rc = PARLEY_E_FULL;
	else {
		push_cut_locked(s, false);
		s->in.uncommitted_ms = 0;
	}
	pthread_mutex_unlock(&s->in.lock);
	if (!rc)
		parley_inbox_schedule(s);
	return rc;
}

void parley_session_clear_audio(struct parley_session *s)
{
	pthread_mutex_lock(&s->in.lock);
	push_cut_locked(s, true);
	s->in.uncommitted_ms = 0;
	pthread_mutex_unlock(&s->in.lock);
	parley_inbox_schedule(s);
}

void parley_inbox_vad_cut(struct parley_session *s)
{
	pthread_mutex_lock(&s->in.lock);
	double after = (double)parley_ring_len(&s->in.ring) * 1000 / s->in.rate;
	if (after < s->in.uncommitted_ms) /* else a commit came after it already */
		s->in.uncommitted_ms = after;
	pthread_mutex_unlock(&s->in.lock);
}

void parley_inbox_utts_waiting(struct parley_session *s, int delta)
{
	pthread_mutex_lock(&s->in.lock);
	if (delta >= 0 || s->in.utts_waiting >= (unsigned)-delta)
		s->in.utts_waiting += delta;
	pthread_mutex_unlock(&s->in.lock);
}

size_t parley_inbox_take(struct parley_session *s, int16_t *dst, size_t n,
				     bool *discard, enum parley_cut_kind *cut)
{
	*discard = false;
	*cut = PARLEY_CUT_NONE;
	pthread_mutex_lock(&s->in.lock);
	if (s->in.rate_pending) { /* the audio waits for its rate (inrate.h), and so do the cuts */
		pthread_mutex_unlock(&s->in.lock);
		return 0;
	}
	if (s->in.ncuts) {
		const struct parley_cut *c = &s->in.cuts[s->in.cut_head];
		uint64_t taken = s->in.written - parley_ring_len(&s->in.ring);
		uint64_t room = c->at > taken ? c->at - taken : 0;
		*discard = c->clear;
		if (n >= room) {
			n = (size_t)room;
			*cut = c->clear ? PARLEY_CUT_CLEAR : PARLEY_CUT_COMMIT;
			s->in.cut_head = (s->in.cut_head + 1) % PARLEY_SESSION_MAX_CUTS;
			s->in.ncuts--;
		}
	}
	size_t got = parley_ring_read(&s->in.ring, dst, n);
	s->in.taken_waiting += got;
	if (parley_ring_len(&s->in.ring) == 0) {
		s->in.waiting_since_ns = 0;
		s->in.taken_waiting = 0;
	}
	pthread_mutex_unlock(&s->in.lock);
	return got;
}
