/*
 * bargein.c - the user takes the floor (turntaker.h). A speech onset the
 * listener hears while assistant audio plays interrupts the answer: the
 * audio stops at once (stop_tts, then tts_interruption, under the lock so
 * no audio of the answer can follow them). With false interruptions
 * resuming (resume.h), a spoken answer is only suspended until the sound
 * is known to be a turn; otherwise, or when it is one, the answer ends
 * INTERRUPTED with what the user heard, the history keeps only that, and
 * the LLM request, the synthesis and any speculation are cancelled.
 *
 * Whether something is playing comes from the speaker (the client's
 * reports, or the estimate on a wire without them, speaker.h), whether
 * anything of an answer is in flight from the answerer (answerer.h), and
 * whether speech may interrupt at all from the turn settings
 * (interrupt_response).
 *
 * Threads: the listen strand (barge-in) or any (the questions), without
 * s->lock, but the _locked call.
 */
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"
#include "session/stages.h"
#include "util/log.h"
#include "util/utf8.h"

bool parley_turntaker_interruptible_locked(struct parley_session *s, int64_t now_ns)
{
	if (!s->tt.cfg.interrupt_response)
		return false;
	if (s->assume_playback)
		return parley_answer_open_locked(s) || parley_speaker_audible_locked(s, now_ns);
	/* something of an answer is in flight or audible: its request, its
	 * spoken pieces, its text, or audio of a piece still being synthesised
	 * (a speech service streams a long first sentence for seconds) */
	return parley_speaker_audible_locked(s, now_ns) &&
	       (parley_answer_requesting_locked(s) || parley_answer_has_text_locked(s) ||
		parley_speaker_has_audio_locked(s));
}

bool parley_turntaker_assistant_playing(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	int64_t now = parley_now_ns();
	bool playing = s->tt.cfg.interrupt_response &&
		       (s->assume_playback ? parley_turntaker_interruptible_locked(s, now)
					   : parley_speaker_audible_locked(s, now));
	pthread_mutex_unlock(&s->lock);
	return playing;
}

bool parley_turntaker_barge_in(struct parley_session *s, int64_t onset_ns)
{
	pthread_mutex_lock(&s->lock);
	if (!parley_turntaker_interruptible_locked(s, parley_now_ns())) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	if (parley_resume_pending_locked(s)) { /* stopped already, the verdict pending */
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	/* Under the lock: no audio of this answer can be queued after stop_tts
	 * (a suspended answer's is held: speak_tape.c). */
	s->events->stop_tts(s);
	s->events->tts_interruption(s);
	if (s->echo) /* the client flushed its playback: that reference will not play */
		parley_echoguard_stop(s->echo, parley_now_ns());
	if (parley_resume_suspend_locked(s, onset_ns)) {
		pthread_mutex_unlock(&s->lock);
		parley_stage_observe(PARLEY_STAGE_BARGE_IN, onset_ns, parley_now_ns());
		PARLEY_INFO("session %llu: barge-in: audio stopped %.0f ms after speech onset; the "
			    "answer waits to know whether it was a turn",
			    (unsigned long long)s->id, (double)(parley_now_ns() - onset_ns) / 1e6);
		return true;
	}
	char *heard = parley_answer_kept_locked(s, parley_now_ns());
	const char *h = heard ? heard : "";
	uint64_t req = parley_answer_interrupted_locked(s, h);
	parley_speaker_frame_playing(s, false);
	pthread_mutex_unlock(&s->lock);

	if (req && s->llm)
		parley_llm_cancel(s->llm, req);
	parley_speculation_cancel(s, "barge-in");
	parley_stage_observe(PARLEY_STAGE_BARGE_IN, onset_ns, parley_now_ns());
	size_t hlen = strlen(h), shown = parley_utf8_cut(h, hlen, 60);
	PARLEY_INFO("session %llu: barge-in: audio stopped %.0f ms after speech onset; "
		    "the user heard \"%.*s%s\"",
		    (unsigned long long)s->id, (double)(parley_now_ns() - onset_ns) / 1e6,
		    (int)shown, h, shown < hlen ? "..." : "");
	free(heard);
	return true;
}
