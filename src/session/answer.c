/*
 * answer.c - an answer's life as the protocol sees it, and the playback
 * estimate of sessions whose wire has no playback reports.
 *
 * An answer is open from answer_started (it became the session's current
 * answer: a turn was submitted, respond() was called, a speculation was
 * adopted) until its one answer_final, whose outcome says how it ended
 * (session.h). Every place that ends the current answer goes through
 * parley_answer_final_locked(), which sends nothing for an answer that is
 * not open, so no answer ends twice whatever path gets there first (the
 * speaker's final item, a failure, cancel_response, a superseding turn).
 *
 * Playback estimate (assume_playback, the Realtime wire): the client is
 * taken to play assistant audio as it is sent, at real time, from the
 * first piece on, without gaps it did not have to make: each piece of
 * audio sent moves the end of playback to max(end, now) + its length. The
 * audio is still playing until then; the user has heard what was sent
 * minus what is still to play.
 *
 * Threads: every call with s->lock held.
 */
#include "session/internal.h"

void parley_answer_started_locked(struct parley_session *s)
{
	s->answer_open = true;
	s->answer_spoken = s->speech && s->speak_answers;
	s->answer_hist_id = 0;
	s->answer_id = ++s->answer_seq; /* supersede kept the one before */
	s->play_until_ns = 0;
	s->events->answer_started(s, s->answer_id);
}

void parley_answer_final_locked(struct parley_session *s, const char *text, size_t len,
				enum parley_answer_outcome how)
{
	if (!s->answer_open)
		return;
	s->answer_open = false;
	s->events->answer_final(s, text, len, how);
}

void parley_answer_audio_sent_locked(struct parley_session *s, int64_t ms)
{
	int64_t now = parley_now_ns();
	int64_t from = s->play_until_ns > now ? s->play_until_ns : now;
	s->play_until_ns = from + ms * 1000000;
}

bool parley_answer_interruptible_locked(struct parley_session *s, int64_t now_ns)
{
	if (!s->turn_cfg.interrupt_response)
		return false;
	if (s->assume_playback)
		return s->answer_open || now_ns < s->play_until_ns;
	/* something of an answer is in flight or audible: its request, its
	 * spoken pieces, its text, or audio of a piece still being synthesised
	 * (a speech service streams a long first sentence for seconds) */
	return (s->tts_playing || s->frame_playing) &&
	       (s->llm_req || s->nspoken || s->answer.len || s->audio_sent_ms);
}

const char *parley_session_prompt_locked(struct parley_session *s)
{
	return s->instructions ? s->instructions : parley_llm_system_prompt(s->llm);
}
