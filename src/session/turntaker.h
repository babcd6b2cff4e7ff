/*
 * turntaker.h - the turn-taker: when the user's turn ends and what comes
 * of it, when the user takes the floor from the assistant, and the answer
 * started early in the user's pause. Included through session/internal.h
 * only.
 *
 * taker.c holds the turn settings (session.h, struct parley_turns: the
 * mode the listener applies, create_response, interrupt_response), admits
 * turns against --turns-per-minute, and routes a turn: typed or heard, it
 * is answered (the answerer, answerer.h) or only joins the history.
 * bargein.c decides whether the user's speech interrupts the assistant and
 * cuts the answer to what was heard. speculate.c starts an answer in the
 * user's trailing silence and keeps or drops it when the turn ends
 * (docs/architecture.md, "Speculation").
 *
 * The listener (listener.h) calls in here from its strand: speech onsets,
 * pauses and final transcripts.
 *
 * Threads and locks: struct parley_turntaker is guarded by s->lock, the
 * conversation lock. Every call here is made without it, unless its name
 * ends in _locked.
 */
#ifndef PARLEY_SESSION_TURNTAKER_H
#define PARLEY_SESSION_TURNTAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/limits.h"
#include "session/resume.h"
#include "session/session.h"
#include "util/ratelimit.h"

struct parley_session;
struct parley_request;

/* A session's turn-taker; every field guarded by s->lock. */
struct parley_turntaker {
	struct parley_turns cfg;      /* the turn settings */
	struct parley_bucket turns;   /* turns per minute */
	struct parley_request *spec;  /* the live speculation (HELD), or NULL */
	uint64_t spec_seq;            /* speculations started */
	/* The last heard turn that was answered (turn merging, taker.c): */
	char *heard;                  /* its text (owned), NULL none */
	uint64_t heard_gen;           /* the answerer's generation of its answer */
	uint64_t heard_hist;          /* its user entry in the history */
	int64_t heard_end_ns;         /* when its speech ended */
	bool merging;                 /* its answer was withdrawn unheard: the user's
					 next heard turn continues it */
	struct parley_suspense susp;  /* an answer a speech onset stopped (resume.h) */
	bool merge;                   /* merging is on (--turn-merging); set at creation */
};

/* taker.c: set up at creation; destroy frees it at the last unref. */
void parley_turntaker_init(struct parley_turntaker *t, const struct parley_session_limits *l,
			   int64_t now_ns);
void parley_turntaker_destroy(struct parley_turntaker *t);

/* taker.c: at the start of every user turn, typed or spoken: true if the
 * turn may go to the LLM; false if it is over --turns-per-minute (report:
 * the client was told RATE_LIMITED; else the caller tells it). */
bool parley_turntaker_admit(struct parley_session *s, bool report);
/* taker.c, caller holds s->lock: may a turn start now without being
 * refused? (takes nothing from the budget) */
bool parley_turntaker_would_admit_locked(struct parley_session *s, int64_t now_ns);
/* taker.c, caller holds s->lock: are heard turns answered (create_response,
 * not MANUAL)? */
bool parley_turntaker_answers_locked(const struct parley_session *s);
/* taker.c: a user turn with its stage timestamps so far (speech_end_ns 0
 * for typed turns): answered, through a kept speculation or a new request. */
void parley_turntaker_user_turn(struct parley_session *s, const char *text, size_t len,
				int64_t speech_end_ns);
/* taker.c: a spoken turn's final transcript (the listen strand): sent to
 * the client (user_final), then answered as a user turn if the turns say
 * so (create_response, not MANUAL), else it only joins the history. A
 * turn that continues one whose answer was withdrawn (merging) is merged
 * with it: one user message in the history, one answer to the whole.
 * more: the user is speaking again already (another utterance is under
 * way): the turn is not answered yet but waits for its continuation, as
 * if its answer had been withdrawn. */
void parley_turntaker_heard(struct parley_session *s, const char *text, size_t len,
			    int64_t speech_end_ns, bool more);
/* taker.c: the VAD heard the user start (the listen strand). If the
 * answer to the user's last heard turn has not been heard yet (no audio
 * of it sent, no text of a text-only answer shown), it is withdrawn
 * (cancelled, ending CANCELLED) and the turn goes on: the next heard turn
 * is merged with it. Returns true if it withdrew an answer. */
bool parley_turntaker_onset(struct parley_session *s);
/* taker.c: an utterance gave no turn (nothing recognised, or recognition
 * failed; the listen strand); more: another utterance is under way. A
 * withdrawn answer is asked again for the turn as it was, unless more. */
void parley_turntaker_nothing_heard(struct parley_session *s, bool more);
/* taker.c: the conversation moved on (a typed turn or message, an answer
 * asked for, clear_history): no heard turn is continued any more. Any
 * thread, without s->lock. */
void parley_turntaker_forget(struct parley_session *s);
/* taker.c, caller holds s->lock: is a turn waiting for its continuation? */
bool parley_turntaker_merging_locked(const struct parley_session *s);

/* bargein.c, caller holds s->lock: would the user's speech interrupt
 * something now: an answer in flight or audio still playing (by the
 * client's reports, or the estimate), and interrupt_response set? */
bool parley_turntaker_interruptible_locked(struct parley_session *s, int64_t now_ns);
/* bargein.c: is assistant audio playing at the client (by its reports, or
 * the estimate), so that a speech onset is a barge-in? */
bool parley_turntaker_assistant_playing(struct parley_session *s);
/* bargein.c: barge-in. If assistant audio is playing: stop it, cancel the
 * answer and its synthesis, and cut the answer in the history to what the
 * user heard. Returns true if it interrupted something. */
bool parley_turntaker_barge_in(struct parley_session *s, int64_t onset_ns);

/*
 * speculate.c: speculative answers.
 *
 * The listener calls parley_speculation_start() when the user's trailing
 * silence reaches s->speculate_ms and a transcript so far (text, copied)
 * exists, and again in the same pause if that transcript changes (the
 * newer replaces the older); speech_end_ns is when the user stopped. The
 * request starts at once, with the history plus text as the user turn,
 * and holds everything it produces (text and audio) from the client until
 * the turn is confirmed. parley_turntaker_user_turn() then keeps it if the
 * final transcript matches (normalised text), or cancels it and submits
 * the final transcript as usual. Start and confirm: the listen strand; no
 * effect when s->speculate_ms is 0 or there is no LLM.
 */
void parley_speculation_start(struct parley_session *s, const char *text, int64_t speech_end_ns);
/* The user turn text[0..len) ended (after it was admitted). Keeps the live
 * speculation if its text matches (textnorm.h) and the engine could
 * promote it (or it already finished): true, the turn is answered.
 * Otherwise cancels it and returns false: the caller submits the turn as
 * usual. */
bool parley_speculation_confirm(struct parley_session *s, const char *text, size_t len,
				int64_t speech_end_ns);
/* Cancels the live speculation silently, if any (the user went on
 * speaking, a typed or refused turn, clear_history, barge-in, the session
 * closing); why: static, for the log. Any thread. */
void parley_speculation_cancel(struct parley_session *s, const char *why);
/* Registers parley_speculations_total (once, at startup). */
int parley_speculation_register_metrics(void);

#endif
