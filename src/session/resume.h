/*
 * resume.h - false interruptions: a speech onset over the assistant's
 * audio stops it at once, but the answer is only suspended until the
 * sound is known to be a turn. Included through session/turntaker.h only.
 *
 * At the onset (bargein.c) the audio stops (stop_tts, tts_interruption)
 * and the speaker holds (speak_tape.c): the LLM request goes on, the
 * synthesis in flight finishes into the tape, the history is untouched.
 * Then the verdict (resume.c):
 *   - a turn: a final transcript that is not a backchannel, or a partial
 *     one of PARLEY_RESUME_TURN_WORDS words that is not. The answer is interrupted
 *     as a barge-in always did (parley_resume_interrupt: it ends
 *     INTERRUPTED with what the user heard at the onset, the history is cut
 *     to it, the request and synthesis are cancelled) and the turn goes on;
 *   - not a turn: a final transcript with no words or only a backchannel
 *     (text/backchannel.h), an utterance that gave no turn, or no words
 *     at all PARLEY_RESUME_WORDLESS_MS after the onset while the sound goes
 *     on. The answer resumes (parley_resume_not_a_turn): its audio is sent
 *     again from PARLEY_RESUME_BACK_MS before what the user heard, then the
 *     rest; no user_final, no LLM request, no history entry.
 * Anything that supersedes the answer meanwhile (a typed turn, a cancel,
 * clear_history) ends the suspension with it.
 *
 * Threads and locks: struct parley_suspense is guarded by s->lock but
 * `on`, an atomic copy of `active` that the listener reads on every frame
 * without the lock. The calls take the lock themselves, but the _locked
 * one.
 */
#ifndef PARLEY_SESSION_RESUME_H
#define PARLEY_SESSION_RESUME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct parley_session;

/* Wordless sound this long after the onset is not a turn (docs/performance.md,
 * "False interruptions": the first words of a suspended utterance came
 * 447 ms after the onset at p50, 1096 ms at p95, 1346 ms at most). */
#define PARLEY_RESUME_WORDLESS_MS 2000
/* A partial transcript of this many words that is not a backchannel is a
 * turn (earlier partials of a backchannel are often short words). */
#define PARLEY_RESUME_TURN_WORDS 4
/* A resumed answer starts again this far before what the user heard. */
#define PARLEY_RESUME_BACK_MS 300

/* A session's suspended answer; guarded by s->lock but `on`. */
struct parley_suspense {
	bool enabled;        /* false interruptions resume (the params, or
				parley_session_set_resumes) */
	atomic_bool on;      /* an answer is suspended (atomic: read without the lock) */
	uint64_t gen;        /* its generation (answerer.h) */
	char *heard;         /* what the user had heard of it at the onset (owned) */
	int64_t heard_ms;    /* ms of its audio heard at the onset */
	int64_t onset_ns;    /* the speech onset */
	bool words;          /* a partial with (backchannel) words came */
};

/* resume.c, caller holds s->lock: the answer's audio stops at the onset
 * onset_ns and it is suspended; false (nothing done) unless false
 * interruptions resume and the answer is spoken with audio on its tape.
 * The caller has checked that the answer is interruptible and sends
 * stop_tts and tts_interruption itself, before. */
bool parley_resume_suspend_locked(struct parley_session *s, int64_t onset_ns);
/* resume.c, caller holds s->lock: is an answer suspended? */
bool parley_resume_pending_locked(struct parley_session *s);

/* The listener, on every frame of an utterance while an answer is
 * suspended (the listen strand): partial is the utterance's latest partial
 * transcript ("" none yet), or NULL when no utterance is being fed. A
 * partial of PARLEY_RESUME_TURN_WORDS words that is not a backchannel
 * interrupts the answer; no word at all PARLEY_RESUME_WORDLESS_MS after
 * the onset resumes it. Cheap when nothing is suspended. */
void parley_resume_listen(struct parley_session *s, const char *partial);
/* The listener has an utterance's final transcript (text, "" or NULL for
 * none: nothing recognised, or recognition failed); more: the user is
 * speaking again already. Returns true when the utterance was only a
 * backchannel over a suspended answer: it resumed (or, with more, waits
 * for what the user says now), and the utterance makes no turn. Otherwise
 * a suspended answer was interrupted (words) or resumed (nothing, unless
 * more), and the caller goes on as usual. */
bool parley_resume_verdict(struct parley_session *s, const char *text, bool more);

/* Not a turn (no words, a backchannel, or an echo of the assistant's own
 * words): the suspended answer resumes from just before what the user
 * heard, or, when its audio cannot be sent again, is interrupted as a
 * barge-in. why: static, for the log. Returns true if it resumed. */
bool parley_resume_not_a_turn(struct parley_session *s, const char *why);
/* A turn: the suspended answer is interrupted (barge-in: INTERRUPTED with
 * what the user heard at the onset, the history cut, the request, the
 * synthesis and any speculation cancelled). Nothing if none is suspended. */
void parley_resume_interrupt(struct parley_session *s);

/* resume.c: frees what a suspension holds (the last unref). */
void parley_resume_destroy(struct parley_suspense *p);

#endif
