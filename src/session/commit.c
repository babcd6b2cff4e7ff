/*
 * commit.c - the client's cuts in its audio stream (session.h:
 * parley_session_commit_audio, parley_session_clear_audio).
 *
 * A cut is taken when the client asks, but applies to the audio it sent
 * before asking, which may still wait in the session's ring for the
 * listener. So each cut is a mark in the stream: s->audio_written counts
 * every sample ever written to the ring, and the ring holds samples
 * [audio_written - len, audio_written), so a cut at `at` falls after the
 * samples already taken plus (at - taken). The listener's take
 * (parley_session_audio_take_cut) never reads past the next mark, and
 * reports the cut when it reaches it: a commit ends the utterance there
 * (listen_cuts.c), a clear drops it and the audio before it undecoded. Audio
 * lost to an overflow or a rate change counts as taken, so a mark it
 * passed is simply due.
 *
 * The marks wait in a FIFO of PARLEY_SESSION_MAX_CUTS. A commit is
 * refused when PARLEY_SESSION_MAX_COMMITS commits already wait, for the
 * listener (marks) or for their transcripts (s->utts_waiting, the
 * listener's count): one client does not queue dozens of speech jobs
 * ahead of every other session. A clear always fits: it replaces a clear
 * at the tail (both drop the same audio) or takes a slot commits leave
 * free.
 *
 * The VAD's end of a turn is a cut too (the utterance is committed): the
 * audio a commit finds waiting (uncommitted_ms) is then only what came
 * after it, which is what the listener has not taken yet.
 *
 * Threads: any; everything under s->lock.
 */
#include "session/internal.h"
#include "util/err.h"

#define MIN_COMMIT_MS 100

static void push_cut_locked(struct parley_session *s, bool clear)
{
	size_t tail = (s->cut_head + s->ncuts + PARLEY_SESSION_MAX_CUTS - 1) %
		      PARLEY_SESSION_MAX_CUTS;
	if (clear && s->ncuts && s->cuts[tail].clear) {
		s->cuts[tail].at = s->audio_written;
		return;
	}
	s->cuts[(s->cut_head + s->ncuts) % PARLEY_SESSION_MAX_CUTS] =
		(struct parley_cut){ s->audio_written, clear };
	s->ncuts++;
}

int parley_session_commit_audio(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	int rc = 0;
	if (s->uncommitted_ms < MIN_COMMIT_MS)
		rc = PARLEY_E_RANGE;
	else if (s->ncuts + s->utts_waiting >= PARLEY_SESSION_MAX_COMMITS)
		rc = PARLEY_E_FULL;
	else {
		push_cut_locked(s, false);
		s->uncommitted_ms = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (!rc)
		parley_session_schedule_listener(s);
	return rc;
}

void parley_session_clear_audio(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	push_cut_locked(s, true);
	s->uncommitted_ms = 0;
	pthread_mutex_unlock(&s->lock);
	parley_session_schedule_listener(s);
}

void parley_session_vad_cut(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	double after = (double)parley_ring_len(&s->audio) * 1000 / s->settings.input_sample_rate;
	if (after < s->uncommitted_ms) /* else a commit came after it already */
		s->uncommitted_ms = after;
	pthread_mutex_unlock(&s->lock);
}

void parley_session_utts_waiting(struct parley_session *s, int delta)
{
	pthread_mutex_lock(&s->lock);
	if (delta >= 0 || s->utts_waiting >= (unsigned)-delta)
		s->utts_waiting += delta;
	pthread_mutex_unlock(&s->lock);
}

size_t parley_session_audio_take_cut(struct parley_session *s, int16_t *dst, size_t n,
				     bool *discard, enum parley_cut_kind *cut)
{
	*discard = false;
	*cut = PARLEY_CUT_NONE;
	pthread_mutex_lock(&s->lock);
	if (s->rate_pending) { /* the audio waits for its rate (inrate.h), and so do the cuts */
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->ncuts) {
		const struct parley_cut *c = &s->cuts[s->cut_head];
		uint64_t taken = s->audio_written - parley_ring_len(&s->audio);
		uint64_t room = c->at > taken ? c->at - taken : 0;
		*discard = c->clear;
		if (n >= room) {
			n = (size_t)room;
			*cut = c->clear ? PARLEY_CUT_CLEAR : PARLEY_CUT_COMMIT;
			s->cut_head = (s->cut_head + 1) % PARLEY_SESSION_MAX_CUTS;
			s->ncuts--;
		}
	}
	size_t got = parley_ring_read(&s->audio, dst, n);
	s->audio_taken_waiting += got;
	if (parley_ring_len(&s->audio) == 0) {
		s->audio_waiting_since_ns = 0;
		s->audio_taken_waiting = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return got;
}
