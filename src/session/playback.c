/*
 * playback.c - the speaker's view of the client's playback (speaker.h):
 * its reports (tts_start / tts_stop, the played ms of this answer, flag
 * bit 0 of each audio frame) or, on a wire without reports, an estimate.
 *
 * Playback estimate (assume_playback, the Realtime wire): the client is
 * taken to play assistant audio as it is sent, at real time, from the
 * first piece on, without gaps it did not have to make: each piece of
 * audio sent moves the end of playback to max(end, now) + its length. The
 * audio is still playing until then; the user has heard what was sent
 * minus what is still to play (heard.c).
 *
 * Threads: any. Everything under s->lock but frame_playing, which the
 * event-loop thread sets with every frame (atomic, so a frame never waits
 * for the conversation lock).
 */
#include "session/internal.h"

static void set_playing(struct parley_session *s, bool playing)
{
	pthread_mutex_lock(&s->lock);
	s->spk.tts_playing = playing;
	if (s->spk.tts_playing && !s->spk.playback_start_ns)
		s->spk.playback_start_ns = parley_now_ns();
	pthread_mutex_unlock(&s->lock);
}

void parley_session_playback_started(struct parley_session *s)
{
	set_playing(s, true);
	if (s->echo) /* the echo guard's reference starts playing now */
		parley_echoguard_playback_started(s->echo, parley_now_ns());
}

void parley_session_playback_stopped(struct parley_session *s)
{
	set_playing(s, false);
}

void parley_session_playback_played(struct parley_session *s, int64_t played_ms)
{
	pthread_mutex_lock(&s->lock);
	s->spk.played_ms = played_ms;
	s->spk.played_at_ns = parley_now_ns();
	pthread_mutex_unlock(&s->lock);
}

void parley_speaker_frame_playing(struct parley_session *s, bool playing)
{
	atomic_store(&s->spk.frame_playing, playing);
}

void parley_speaker_audio_sent_locked(struct parley_session *s, int64_t ms)
{
	int64_t now = parley_now_ns();
	int64_t from = s->spk.play_until_ns > now ? s->spk.play_until_ns : now;
	s->spk.play_until_ns = from + ms * 1000000;
}

bool parley_speaker_audible_locked(struct parley_session *s, int64_t now_ns)
{
	if (s->assume_playback)
		return now_ns < s->spk.play_until_ns;
	return s->spk.tts_playing || atomic_load(&s->spk.frame_playing);
}

bool parley_speaker_has_audio_locked(const struct parley_session *s)
{
	return s->spk.nspoken || s->spk.audio_sent_ms;
}
