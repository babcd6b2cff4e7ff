/*
 * speak_tape.c - the speaker's tape (speaker.h): the current answer's
 * audio kept as it is synthesised, so that audio a speech onset stopped
 * can be sent again when the sound was not a turn after all (resume.c).
 *
 * At an onset the audio stops at once (stop_tts: the client flushes what it
 * had queued) and the speaker holds: the synthesis in flight goes on, its
 * audio joins the tape but is not sent, and no new piece starts (its text
 * waits in the queue, with the answer's final). A resume sends the tape
 * from a position just before what the user heard, then the held audio,
 * and lets the pump go on; an interruption supersedes the answer, which
 * drops the tape (speak.c, parley_speak_reset_locked).
 *
 * The tape keeps only what a resume may need: audio more than TRIM_BEHIND_MS
 * before what the user has heard is dropped (in steps of at least
 * TRIM_STEP_MS), and an answer whose unheard audio grows over
 * PARLEY_TAPE_MAX_MS stops being taped (broken: an onset over it is an
 * interruption, as before). So a session holds at most about 2 minutes of
 * output audio (11.5 MB at 48 kHz, 5.8 MB at 24 kHz) for the answer being
 * played, and nothing once the answer is superseded. A session that does
 * not resume keeps no tape; one that switches to resuming mid-answer
 * starts with the next answer.
 *
 * Threads: every call with s->lock held.
 */
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"
#include "session/speak_internal.h"
#include "util/log.h"

#define PARLEY_TAPE_MAX_MS 120000
#define TRIM_BEHIND_MS 3000
#define TRIM_STEP_MS 5000
#define CHUNK_MS 100

void parley_tape_reset_locked(struct parley_session *s)
{
	struct parley_tape *t = &s->spk.tape;
	free(t->pcm);
	*t = (struct parley_tape){ 0 };
	s->spk.holding = false;
	s->spk.played_shift_ms = 0;
	s->spk.held_at_ms = 0;
}

static int64_t tape_ms(const struct parley_tape *t, size_t n)
{
	return t->rate ? (int64_t)n * 1000 / t->rate : 0;
}

/* Drops the audio well behind what the user heard. */
static void trim_locked(struct parley_session *s)
{
	struct parley_tape *t = &s->spk.tape;
	int64_t keep_from = parley_speaker_heard_ms_locked(s, parley_now_ns()) - TRIM_BEHIND_MS;
	if (keep_from - t->base_ms < TRIM_STEP_MS)
		return;
	size_t drop = (size_t)((keep_from - t->base_ms) * t->rate / 1000);
	if (drop > t->n)
		drop = t->n;
	memmove(t->pcm, t->pcm + drop, (t->n - drop) * sizeof *t->pcm);
	t->n -= drop;
	t->base_ms += tape_ms(t, drop);
}

void parley_tape_add_locked(struct parley_session *s, const int16_t *pcm, size_t n, int rate)
{
	struct parley_tape *t = &s->spk.tape;
	if (t->broken || !n)
		return;
	/* not resuming (no tape), or a tape that would have a hole: audio of
	 * the answer was sent untaped (resuming was switched on mid-answer),
	 * or the output rate changed */
	if (!s->tt.susp.enabled || (!t->rate && s->spk.audio_sent_ms > 0) ||
	    (t->rate && t->rate != rate)) {
		free(t->pcm);
		*t = (struct parley_tape){ .broken = true };
		return;
	}
	t->rate = rate;
	trim_locked(s);
	if (t->n + n > t->cap) {
		size_t cap = t->cap ? t->cap : (size_t)rate * 4;
		while (cap < t->n + n)
			cap *= 2;
		int16_t *p = tape_ms(t, cap) <= 2 * PARLEY_TAPE_MAX_MS
				     ? realloc(t->pcm, cap * sizeof *p)
				     : NULL;
		if (!p || tape_ms(t, t->n + n) > PARLEY_TAPE_MAX_MS) {
			free(p ? p : t->pcm);
			*t = (struct parley_tape){ .broken = true };
			return;
		}
		t->pcm = p;
		t->cap = cap;
	}
	memcpy(t->pcm + t->n, pcm, n * sizeof *pcm);
	t->n += n;
}

void parley_speaker_hold_locked(struct parley_session *s)
{
	s->spk.held_at_ms = parley_speaker_heard_ms_locked(s, parley_now_ns());
	s->spk.holding = true;
	s->spk.tts_playing = false;
	s->spk.play_until_ns = 0;
	atomic_store(&s->spk.frame_playing, false);
}

int64_t parley_speaker_resume_locked(struct parley_session *s, int64_t from_ms)
{
	struct parley_tape *t = &s->spk.tape;
	if (!s->spk.holding || t->broken || !t->rate)
		return -1;
	if (from_ms < t->base_ms)
		from_ms = t->base_ms;
	int64_t end_ms = t->base_ms + tape_ms(t, t->n);
	if (from_ms > end_ms)
		from_ms = end_ms;
	size_t at = (size_t)((from_ms - t->base_ms) * t->rate / 1000);
	if (at > t->n)
		at = t->n;
	size_t chunk = (size_t)t->rate * CHUNK_MS / 1000;
	int64_t now = parley_now_ns();
	if (s->echo && at < t->n) /* sent again: the echo guard's reference again */
		parley_echoguard_reference(s->echo, t->pcm + at, t->n - at, t->rate, now);
	for (size_t off = at; off < t->n; off += chunk)
		s->events->audio(s, t->pcm + off, t->n - off < chunk ? t->n - off : chunk);
	/* what the user hears from now on: from_ms, then on at real time */
	if (s->spk.played_ms >= 0) {
		/* the client's count goes on from where it stopped (estimated when
		 * the audio stopped); it now means from_ms of the answer */
		s->spk.played_ms = s->spk.held_at_ms - s->spk.played_shift_ms;
		s->spk.played_at_ns = now;
		s->spk.played_shift_ms = from_ms - s->spk.played_ms;
	}
	s->spk.playback_start_ns = now - from_ms * 1000000;
	s->spk.play_until_ns = now;
	parley_speaker_audio_sent_locked(s, end_ms - from_ms);
	s->spk.holding = false;
	if (s->spk.q && (s->spk.q->head || s->spk.q->running))
		parley_speak_kick_locked(s, false); /* the pieces that waited */
	return from_ms;
}
