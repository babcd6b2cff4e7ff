/*
 * speaker.h - the speaker: the answer as speech, the audio sent, and what
 * the user has played and heard of it. Included through
 * session/internal.h only.
 *
 * speak.c cuts the answer's text into pieces and synthesises them one at
 * a time on the session's TTS strand; speak_audio.c turns a synthesis's
 * audio into 100 ms chunks for the client; heard.c knows what each piece
 * said and how long it played, so a barge-in, a cancel or a truncate can
 * tell what the user heard; playback.c keeps the client's playback
 * reports (or, on a wire without them, estimates playback from the audio
 * sent).
 *
 * Threads and locks: struct parley_speaker is guarded by the conversation
 * lock, s->lock, except `frame_playing` (atomic: the event-loop thread
 * sets it with each frame, under the inbox's lock) and the queue's fields
 * that speak_internal.h marks as the TTS strand's. Engine calls are never
 * made with s->lock held.
 */
#ifndef PARLEY_SESSION_SPEAKER_H
#define PARLEY_SESSION_SPEAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"
#include "text/sentences.h"
#include "util/buf.h"

struct parley_session;
struct parley_speak_queue;

/* A piece of the answer that was sent as audio. */
struct parley_spoken {
	char *text;
	int64_t ms;
};

/* The spoken pieces of one answer, kept for parley_session_truncate_answer(). */
struct parley_spoken_set {
	struct parley_spoken *p;
	size_t n;
	int64_t audio_ms;  /* audio of the answer sent */
	uint64_t hist_id;  /* its history entry, 0 none */
	uint64_t answer;   /* its number (answer_started), 0: an empty slot */
};

/* speak_tape.c: the current answer's audio as it was synthesised, from
 * base_ms on, so that an answer whose audio a false interruption stopped
 * can be sent again from where the user stopped hearing it. */
struct parley_tape {
	int16_t *pcm;     /* owned; NULL until the answer's first audio */
	size_t n, cap;    /* samples */
	int rate;         /* of pcm (the session's output rate then) */
	int64_t base_ms;  /* the answer's audio position of pcm[0] */
	bool broken;      /* over PARLEY_TAPE_MAX_MS, the rate changed or out of
			     memory: the answer cannot be resumed */
};

/* A session's speaker; guarded by s->lock but where marked. */
struct parley_speaker {
	struct parley_speak_queue *q;     /* the queue and pump (speak_internal.h); NULL:
					     no speech */
	bool speak_answers;               /* answers are spoken (set_spoken) */
	bool answer_spoken;               /* the current answer is (fixed when it starts;
					     implies speech) */
	struct parley_sentences splitter; /* answer text -> pieces to speak */
	struct parley_spoken *spoken;     /* pieces of the current answer sent as audio */
	size_t nspoken, spoken_cap;
	struct parley_buf said;           /* their text, joined */
	int64_t audio_sent_ms;            /* audio of the current answer sent */
	struct parley_spoken_set kept[PARLEY_ANSWERS_KEPT]; /* the pieces of the answers
					     before it that had any, newest first */
	/* playback.c: */
	bool tts_playing;                 /* between tts_start and tts_stop */
	atomic_bool frame_playing;        /* flag bit 0 of the last frame (atomic) */
	int64_t played_ms;                /* playback report of this answer, -1 none */
	int64_t played_at_ns;             /* when it came */
	int64_t playback_start_ns;        /* 0 until audio starts */
	int64_t play_until_ns;            /* assume_playback: when the audio of this answer
					     sent so far ends playing */
	/* speak_tape.c: */
	struct parley_tape tape;          /* the current answer's audio */
	bool holding;                     /* a speech onset stopped the audio: new audio goes
					     to the tape only, the pump starts no piece */
	int64_t held_at_ms;               /* holding: the audio heard when it stopped */
	int64_t played_shift_ms;          /* added to played_ms after a resume */
};

/* speak.c: sets up the speaker (speech: with its queue); false on OOM.
 * parley_speaker_destroy() frees it at the last unref (no synthesis job can
 * be in flight then: each holds a session reference). */
bool parley_speaker_init(struct parley_speaker *spk, bool speech, size_t max_bytes);
void parley_speaker_destroy(struct parley_session *s);
/* speak.c: the session is closing: cancel the synthesis in flight and drop
 * what is queued (before the strands are cancelled). Any thread. */
void parley_speak_stop(struct parley_session *s);

/* speak.c, caller holds s->lock: an answer begins (spoken if the session
 * has speech and speaks answers). */
void parley_speaker_begin_locked(struct parley_session *s);
/* Caller holds s->lock: is the current answer spoken? */
bool parley_speaker_spoken_locked(const struct parley_session *s);
/* speak.c: answer text for speech (engine thread, caller holds s->lock);
 * these four do nothing for an answer that is not spoken. */
void parley_speak_feed_locked(struct parley_session *s, const char *text, size_t len);
/* speak.c: the answer is complete: speak what is left (caller holds lock). */
void parley_speak_flush_locked(struct parley_session *s);
/* speak.c: the answer's answer_final (answer.c), sent after every piece
 * already queued for speech when it is spoken (text copied; caller holds
 * lock). */
void parley_speak_final_locked(struct parley_session *s, const char *text, size_t len,
			       enum parley_answer_outcome how);
/* speak.c: an error for the client after the pieces already queued for
 * speech (and the final answer); returns false when it could not be
 * queued: the caller reports it itself, after unlocking (caller holds lock). */
bool parley_speak_error_locked(struct parley_session *s, enum parley_session_problem code,
			       const char *message);
/* speak.c: the answer was superseded: forget its spoken pieces and its
 * playback, and stop its synthesis (caller holds lock). */
void parley_speak_reset_locked(struct parley_session *s);

/* heard.c: what the user has heard of the current answer (caller holds
 * lock); malloc'd, caller frees; NULL on OOM. */
char *parley_speaker_heard_locked(struct parley_session *s, int64_t now_ns);
/* heard.c: the first ms of audio of pieces p[0..n), as words; malloc'd,
 * caller frees; NULL on OOM. Pure. */
char *parley_spoken_words(const struct parley_spoken *p, size_t n, int64_t ms);
/* heard.c, caller holds lock: the current answer (number answer, history
 * entry hist_id) is over: its pieces, if any, join the kept answers (the
 * oldest kept goes). */
void parley_spoken_keep_locked(struct parley_session *s, uint64_t answer, uint64_t hist_id);
/* heard.c, caller holds lock: the pieces of answer `answer`: the current
 * one's (number cur_answer, history entry cur_hist; *cur filled in) or a
 * kept one's; NULL if the session has none. */
const struct parley_spoken_set *parley_spoken_find_locked(struct parley_session *s,
							  uint64_t answer, uint64_t cur_answer,
							  uint64_t cur_hist,
							  struct parley_spoken_set *cur);
/* heard.c: frees every kept answer's pieces (the last unref). */
void parley_spoken_kept_free(struct parley_session *s);

/* playback.c: flag bit 0 of the client's latest frame. Any thread. */
void parley_speaker_frame_playing(struct parley_session *s, bool playing);
/* playback.c, caller holds lock: ms of audio of this answer were sent
 * (the playback estimate of sessions without reports). */
void parley_speaker_audio_sent_locked(struct parley_session *s, int64_t ms);
/* playback.c, caller holds lock: is assistant audio playing at the client,
 * by its reports (tts_start..tts_stop, the frames' flag), or by the
 * estimate on a wire without reports? */
bool parley_speaker_audible_locked(struct parley_session *s, int64_t now_ns);
/* playback.c, caller holds lock: has any audio of the current answer been
 * sent or spoken? */
bool parley_speaker_has_audio_locked(const struct parley_session *s);

/* speak_tape.c, caller holds lock: n samples at rate of the current
 * answer were synthesised: they join its tape. */
void parley_tape_add_locked(struct parley_session *s, const int16_t *pcm, size_t n, int rate);
/* speak_tape.c, caller holds lock: the answer is over or superseded: its
 * tape goes. */
void parley_tape_reset_locked(struct parley_session *s);
/* speak_tape.c, caller holds lock: the audio stopped at a speech onset
 * (stop_tts was sent): nothing plays any more, the audio synthesised from
 * now on is held (taped, not sent) and no new piece starts. */
void parley_speaker_hold_locked(struct parley_session *s);
/* speak_tape.c, caller holds lock: the audio goes on: the tape is sent
 * again from from_ms (clamped to the audio there is), then everything held
 * since, and the pump goes on. Returns the position sent from, or -1 when
 * the tape does not hold it (then nothing is sent and the speaker still
 * holds: the caller interrupts the answer). */
int64_t parley_speaker_resume_locked(struct parley_session *s, int64_t from_ms);
/* heard.c, caller holds lock: how many ms of the current answer's audio
 * the user has heard (the client's report, or the estimate), at most what
 * was sent. */
int64_t parley_speaker_heard_ms_locked(struct parley_session *s, int64_t now_ns);

#endif
