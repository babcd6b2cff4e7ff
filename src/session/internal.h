/*
 * internal.h - the session's state and the calls between its files
 * (session.c, turn.c, speculate.c, listen*.c, speak.c, inrate.c). Nothing
 * outside src/session/ includes it: the rest of the server sees the opaque
 * handle and the small calls of session.h.
 *
 * Threads: `id`, `created_ns`, `events`, `outq`, `strand`, `tts_strand`,
 * `workers`, `owner`, `llm`, `speech`, `limits`, `speculate_ms`,
 * `assume_playback`, `proto` and `proto_free` are set
 * at creation and then read-only (the queue and strands lock themselves). `lock` guards
 * settings, the audio ring, the limiters, the answer and the playback
 * fields, as each field says. `refs`, `closing` and `end_reason` are
 * atomic. `listen` is touched only by jobs on `strand` (one at a time).
 * `transport` is touched only by the event-loop thread.
 *
 * Lock order: s->lock is taken before the out-queue's own lock (events push
 * under s->lock) and before a strand's lock (jobs are submitted under it);
 * nothing that holds those takes s->lock. parley_llm_submit() and
 * parley_llm_cancel() are called without s->lock (the engine's callbacks
 * take it).
 */
#ifndef PARLEY_SESSION_INTERNAL_H
#define PARLEY_SESSION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "audio/rate_infer.h"
#include "audio/ring.h"
#include "llm/engine.h"
#include "session/history.h"
#include "session/limits.h"
#include "session/pace.h"
#include "session/session.h"
#include "text/sentences.h"
#include "util/buf.h"
#include "util/outq.h"
#include "util/ratelimit.h"
#include "util/workers.h"

#define PARLEY_SESSION_AUDIO_SECONDS 10
#define PARLEY_SESSION_MAX_JOBS 256

struct parley_listen;
struct parley_speaker;

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

/* A client's cut in the audio stream (commit.c): the audio before sample
 * `at` (counted in parley_session.audio_written) is committed as one
 * utterance, or dropped (clear). */
struct parley_cut {
	uint64_t at;
	bool clear;
};

/* Cuts waiting: a commit is refused while PARLEY_SESSION_MAX_COMMITS cuts
 * (or transcripts) wait, and a clear appends only after a commit (a clear
 * at the tail is replaced), so at most MAX_COMMITS + 1 ever wait
 * (commit.c). */
#define PARLEY_SESSION_MAX_CUTS (2 * PARLEY_SESSION_MAX_COMMITS)
_Static_assert(PARLEY_SESSION_MAX_CUTS > PARLEY_SESSION_MAX_COMMITS,
	       "a clear must always fit behind the commits");

/* Stage timestamps of the current turn (CLOCK_MONOTONIC ns, 0 = not yet). */
struct parley_turn_times {
	int64_t speech_end;  /* last loud frame of the user's turn */
	int64_t final;       /* final transcript (or typed turn received) */
	int64_t first_token;
	int64_t first_audio;
};

struct parley_session {
	atomic_int refs;
	atomic_bool closing;
	uint64_t id;
	int64_t created_ns; /* CLOCK_MONOTONIC */
	const struct parley_session_events *events;
	struct parley_outq outq;
	struct parley_strand strand;
	struct parley_workers *workers; /* borrowed; outlives every session */
	void *owner;                    /* borrowed: the transport's server object */
	struct parley_llm_engine *llm;  /* borrowed: the shared engine */
	const struct parley_speech *speech; /* borrowed; NULL: text only */
	struct parley_strand tts_strand;    /* synthesis jobs, in order */
	struct parley_listen *listen;       /* only jobs on `strand` touch it */
	struct parley_speaker *speaker;     /* speak.c: guarded by lock */
	struct parley_session_limits *limits; /* borrowed, shared; outlives every session */
	_Atomic(const char *) end_reason;   /* static text: the session asked to be closed */
	int speculate_ms;                   /* 0: never speculate */
	bool assume_playback;               /* no playback reports: audio plays as sent */
	void *proto;                        /* the protocol's state, freed at the last unref */
	void (*proto_free)(void *proto);

	pthread_mutex_t lock;
	struct parley_settings settings;     /* guarded by lock */
	struct parley_ring audio;            /* guarded by lock; input-rate samples */
	bool audio_overflowing;              /* guarded by lock: inside an overflow episode */
	bool tts_playing;                    /* guarded by lock: between tts_start and tts_stop */
	bool frame_playing;                  /* guarded by lock: flag bit 0 of the last frame */
	bool audio_job_queued;               /* guarded by lock: a listen job is pending */
	atomic_bool listen_urgent;           /* the listener is in a pause of an utterance:
					      * its jobs are urgent (the turn may end) */
	int64_t audio_waiting_since_ns;      /* guarded by lock: the audio ring has not been
						empty since then (0: it is empty) */
	size_t audio_taken_waiting;          /* guarded by lock: samples the listener took
						since audio_waiting_since_ns */
	int64_t played_ms;                   /* guarded by lock: playback report of this answer, -1 none */
	struct parley_history history;       /* guarded by lock */
	uint64_t turn_gen;                   /* guarded by lock: bumps when an answer is superseded */
	uint64_t llm_req;                    /* guarded by lock: request in flight, 0 = none */
	int submitting;                      /* guarded by lock: turns between supersede and
						knowing their llm_req */
	uint64_t ended_gen;                  /* guarded by lock: the last answer generation that ended */
	int64_t last_audio_ns;               /* guarded by lock: when mic audio last arrived */
	struct parley_pace pace;             /* guarded by lock: audio vs real time */
	struct parley_bucket turns;          /* guarded by lock: turns per minute */
	bool utterance_open;                 /* guarded by lock: a decoder is leased for the user */
	struct parley_buf answer;            /* guarded by lock: current answer text */
	bool answer_in_history;              /* guarded by lock: the last answer completed into history */
	struct parley_sentences splitter;    /* guarded by lock: answer text -> pieces to speak */
	struct parley_spoken *spoken;        /* guarded by lock: pieces sent as audio, in order */
	struct parley_buf said;              /* guarded by lock: their text, joined */
	size_t nspoken, spoken_cap;
	int64_t audio_sent_ms;               /* guarded by lock: audio of this answer sent */
	int64_t playback_start_ns;           /* guarded by lock: 0 until audio starts */
	struct parley_turn_times times;      /* guarded by lock */
	struct parley_answer *spec;          /* guarded by lock: the live speculation (HELD), or NULL */
	uint64_t spec_seq;                   /* guarded by lock: speculations started */
	/* The Realtime contract (answer.c, turns.c, respond.c, commit.c): */
	struct parley_turns turn_cfg;        /* guarded by lock */
	char *instructions;                  /* guarded by lock: the session's system prompt, or NULL */
	bool speak_answers;                  /* guarded by lock: answers are spoken (set_spoken) */
	bool answer_spoken;                  /* guarded by lock: the current answer is (fixed when
						it starts; implies speech) */
	bool answer_open;                    /* guarded by lock: answer_started sent, its
						answer_final not yet */
	int64_t play_until_ns;               /* guarded by lock: assume_playback: when the audio
						of this answer sent so far ends playing */
	uint64_t answer_hist_id;             /* guarded by lock: the current answer's history
						entry, 0 none */
	uint64_t answer_seq;                 /* guarded by lock: answers started */
	uint64_t answer_id;                  /* guarded by lock: the current answer's number
						(its pieces are s->spoken), 0 none */
	struct parley_spoken_set kept[PARLEY_ANSWERS_KEPT]; /* guarded by lock: the pieces of
						the answers before it that had any, newest first */
	uint64_t audio_written;              /* guarded by lock: samples ever written to `audio` */
	double uncommitted_ms;               /* guarded by lock: audio since the last cut (a commit,
						a clear, the VAD's end of a turn) */
	double audio_lost_ms;                /* guarded by lock: input audio dropped before the
						listener heard it (pace, overflow, a rate change),
						not yet added to its clock */
	unsigned utts_waiting;               /* guarded by lock: committed utterances waiting for
						their transcript (the listener's count) */
	struct parley_cut cuts[PARLEY_SESSION_MAX_CUTS]; /* guarded by lock: a FIFO */
	size_t cut_head, ncuts;              /* guarded by lock */
	/* Undeclared input rate (inrate.h): */
	bool rate_pending;                   /* guarded by lock: inferring; the listener holds
						the audio undecoded */
	int64_t rate_first_ns;               /* guarded by lock: first frame of the inference */
	struct parley_rate_infer rate_infer; /* guarded by lock */

	void *transport; /* event-loop thread only: the connection, NULL once closed */
};

/*
 * Asks the transport to end the session because the client broke a limit:
 * the answer in flight is cancelled, further input is ignored, and the
 * transport sends what is already queued, then closes (WebSocket: status
 * 1008, policy violation, with reason as its text). reason is a static
 * string of at most 120 bytes. The first reason wins. Any thread.
 */
void parley_session_end(struct parley_session *s, const char *reason);

/*
 * turn.c calls this at the start of every user turn, typed or spoken:
 * true if the turn may go to the LLM; false if it is over
 * --turns-per-minute (report: the client was told RATE_LIMITED; else the
 * caller tells it). Any thread.
 */
bool parley_session_turn_admit(struct parley_session *s, bool report);

/* inrate.c: what the inference concluded, reported after the lock is let go. */
struct parley_inrate_note {
	bool concluded;   /* the inference ended with this call */
	int rate;         /* inferred rate (0: none, 48000 kept) */
	int old_rate;     /* the assumed rate it replaced */
	double estimate;  /* measured samples per second, 0 if none */
	const char *why;  /* static: why none was inferred */
};

/* Caller holds s->lock: feeds one frame (client_ms < 0: no timestamp) to
 * the inference while it is pending; on a decision the input rate becomes
 * the inferred one (the held audio is decoded at it). *note must start
 * zeroed. */
void parley_inrate_feed_locked(struct parley_session *s, int64_t client_ms, size_t n,
			       int64_t now, struct parley_inrate_note *note);
/* Caller holds s->lock: gives the inference up if audio stopped arriving. */
void parley_inrate_quiet_locked(struct parley_session *s, int64_t now,
				struct parley_inrate_note *note);
/* Without s->lock: logs, counts and reports a concluded inference to the
 * client, and schedules the listener for the held audio. */
void parley_inrate_report(struct parley_session *s, const struct parley_inrate_note *note);

/* Queues the listen job unless one is queued already. Any thread. */
void parley_session_schedule_listener(struct parley_session *s);


/* Reports a problem to the client through the session's events (the
 * message is formatted and cut on a character at 255 bytes). Any thread,
 * without s->lock. */
void parley_session_error(struct parley_session *s, enum parley_session_problem problem,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* turn.c: a user turn with its stage timestamps so far (speech_end may be
 * 0 for typed turns). */
void parley_session_user_turn_timed(struct parley_session *s, const char *text, size_t len,
				    int64_t speech_end_ns);

/* turn.c: barge-in. If assistant audio is playing: stop it, cancel the
 * answer and its synthesis, and cut the answer in the history to what the
 * user heard. Returns true if it interrupted something. Any thread. */
bool parley_session_barge_in(struct parley_session *s, int64_t onset_ns);

/* turn.c: is assistant audio playing at the client (by its reports)? */
bool parley_session_assistant_playing(struct parley_session *s);

/* speak.c: answer text for speech (engine thread, caller holds s->lock);
 * these four do nothing for an answer that is not spoken (answer_spoken). */
void parley_speak_feed_locked(struct parley_session *s, const char *text, size_t len);
/* speak.c: the answer is complete: speak what is left (caller holds lock). */
void parley_speak_flush_locked(struct parley_session *s);
/* speak.c: the answer's answer_final (answer.c), sent after every piece
 * already queued for speech when it is spoken (text copied; caller holds
 * lock). */
void parley_speak_final_locked(struct parley_session *s, const char *text, size_t len,
			       enum parley_answer_outcome how);
/* speak.c: forget the spoken pieces of the answer (caller holds lock). */
void parley_speak_reset_locked(struct parley_session *s);
/* heard.c: what the user has heard of this answer (caller holds lock);
 * malloc'd, caller frees; NULL on OOM. */
char *parley_speak_heard_locked(struct parley_session *s, int64_t now_ns);
/* speak.c: an error for the client after the pieces already queued for
 * speech (and the final answer); returns false when it could not be
 * queued: the caller reports it itself, after unlocking (caller holds lock). */
bool parley_speak_error_locked(struct parley_session *s, enum parley_session_problem code,
			       const char *message);
/* speak.c: per-session speaking state; destroy frees it and the spoken
 * pieces at the last unref (no synthesis job can be in flight then: each
 * holds a session reference). */
struct parley_speaker *parley_speak_create(void);
/* speak.c: the session is closing: cancel the synthesis in flight and drop
 * what is queued (before the strands are cancelled). Any thread. */
void parley_speak_stop(struct parley_session *s);
void parley_speak_destroy(struct parley_session *s);

/* listen.c: per-session listening state. */
struct parley_listen *parley_listen_create(void);
void parley_listen_destroy(struct parley_listen *l, struct parley_session *s);
/* listen.c: the job that consumes buffered audio (runs on s->strand). */
void parley_listen_job(void *session, bool cancelled);

/*
 * speculate.c: speculative answers (docs/architecture.md, "Speculation").
 *
 * The listener calls parley_session_speculate() when the user's trailing
 * silence reaches s->speculate_ms and a transcript so far (text, copied)
 * exists, and again in the same pause if that transcript changes (the
 * newer replaces the older); speech_end_ns is when the user stopped. The
 * session starts the LLM request at once, with the history plus text as
 * the user turn, and holds everything it produces (text and audio) from
 * the client until the turn is confirmed. parley_session_user_turn_timed()
 * then keeps it if the final transcript matches (normalised text), or
 * cancels it and submits the final transcript as usual.
 *
 * parley_session_speculation_drop(): the user went on speaking before the
 * turn ended (the pause was inside the utterance): the speculation is
 * cancelled silently (no message to the client). Both: the listen strand,
 * without s->lock; they do nothing when s->speculate_ms is 0 or no LLM.
 */
void parley_session_speculate(struct parley_session *s, const char *text, int64_t speech_end_ns);
void parley_session_speculation_drop(struct parley_session *s);

/* turn.c: cancels the answer in flight without touching the history
 * (the session is closing), and the speculation. Any thread, without
 * s->lock. */
void parley_session_cancel_answer(struct parley_session *s);

/*
 * One answer's LLM request (turn.c), as the engine's callbacks see it.
 *
 * An ordinary answer is CURRENT from the start: its tokens go to the
 * client while gen == s->turn_gen. A speculation (speculate.c) starts HELD:
 * everything it produces is kept in `held` (and its end in `ended`/`end`)
 * and nothing reaches the client. When its turn is confirmed it is
 * CONFIRMING while the engine promotes it (still held), then either
 * adopted (parley_answer_adopt_locked(): CURRENT, the held text replayed
 * as if it had just arrived) or DISCARDED: its request is cancelled and its
 * late callbacks do nothing but free it.
 *
 * Ownership: the answer holds a session reference. Whoever is last frees
 * it (parley_answer_free()): the end callback, unless the answer is HELD or
 * CONFIRMING then (s->spec, or the confirming thread, owns an ended one);
 * the discarder or the adopter of an answer that had already ended.
 */
enum parley_answer_state {
	PARLEY_ANSWER_CURRENT = 0,
	PARLEY_ANSWER_HELD,
	PARLEY_ANSWER_CONFIRMING,
	PARLEY_ANSWER_DISCARDED,
};

struct parley_answer {
	struct parley_session *s;         /* one reference */
	int64_t submitted_ns;
	/* guarded by s->lock: */
	uint64_t gen;                     /* CURRENT: the turn_gen it answers */
	enum parley_answer_state state;
	int64_t first_token_ns;
	struct parley_buf held;           /* text produced while not CURRENT */
	bool ended;                       /* the end came while not CURRENT: */
	enum parley_llm_end end;          /* how */
	uint64_t id;                      /* a speculation's request id (0 until submitted) */
	uint64_t seq;                     /* a speculation's number (s->spec_seq) */
	char *norm;                       /* a speculation's user text, normalised (textnorm.h) */
	int64_t speech_end_ns;            /* a speculation's: when the user stopped */
};

/* turn.c: a new answer of s (takes a session reference), CURRENT; NULL on
 * OOM. parley_answer_free() drops the reference and frees it (accepts
 * NULL). Any thread, without s->lock. */
struct parley_answer *parley_answer_new(struct parley_session *s);
void parley_answer_free(struct parley_answer *a);

/* turn.c: the engine's callbacks for an answer (ud: struct parley_answer);
 * the LLM engine's thread, each taking s->lock. */
void parley_answer_token(void *ud, const char *text, size_t len);
void parley_answer_end(void *ud, enum parley_llm_end end, enum parley_llm_cause cause,
		       const char *message);

/* turn.c, caller holds s->lock: a CONFIRMING speculation becomes the
 * answer to the user turn text[0..len): the answer in flight is superseded
 * (its request id returned for the caller to cancel after unlocking), the
 * turn joins the history, and what the speculation held is replayed to the
 * client (and, if it had ended, its end). The caller frees it after
 * unlocking when a->ended. */
uint64_t parley_answer_adopt_locked(struct parley_session *s, struct parley_answer *a,
				    const char *text, size_t len, int64_t speech_end_ns);

/* speculate.c: the user turn text[0..len) ended (caller: turn.c, after the
 * turn was admitted; without s->lock). Keeps the live speculation if its
 * text matches (textnorm.h) and the engine could promote it (or it already
 * finished): true, the turn is answered. Otherwise discards it and returns
 * false: the caller submits the turn as usual. */
bool parley_speculation_confirm(struct parley_session *s, const char *text, size_t len,
				int64_t speech_end_ns);

/* speculate.c: cancels the live speculation silently, if any (a typed turn,
 * a refused turn, clear_history, barge-in, the session closing). Any
 * thread, without s->lock. */
void parley_speculation_discard(struct parley_session *s, const char *why);

/* speculate.c: registers parley_speculations_total (once, at startup). */
int parley_speculation_register_metrics(void);

/*
 * answer.c: an answer's life as the protocol sees it (session.h's
 * answer_started / answer_final), and the playback estimate of sessions
 * without playback reports. All: caller holds s->lock.
 */
/* The current answer begins: answer_started, and whether it is spoken. */
void parley_answer_started_locked(struct parley_session *s);
/* The current answer ends: its one answer_final (nothing if none is open). */
void parley_answer_final_locked(struct parley_session *s, const char *text, size_t len,
				enum parley_answer_outcome how);
/* ms of audio of this answer were sent (speak.c): the playback estimate. */
void parley_answer_audio_sent_locked(struct parley_session *s, int64_t ms);
/* Would the user's speech interrupt something now: an answer in flight or
 * audio still playing (by the client's reports, or the estimate), and the
 * turns' interrupt_response set? */
bool parley_answer_interruptible_locked(struct parley_session *s, int64_t now_ns);
/* The system prompt of the session's requests (borrowed while locked). */
const char *parley_session_prompt_locked(struct parley_session *s);

/*
 * heard.c: what the user heard of spoken answers. Caller holds s->lock.
 */
/* The first ms of audio of pieces p[0..n), as words; malloc'd, caller
 * frees; NULL on OOM. */
char *parley_spoken_words(const struct parley_spoken *p, size_t n, int64_t ms);
/* What a cut answer keeps (cancel, barge-in): spoken, what the user heard;
 * text only, the text sent. malloc'd, caller frees; NULL on OOM. */
char *parley_answer_kept_locked(struct parley_session *s, int64_t now_ns);
/* The current answer is over (supersede): its pieces, if any, join the
 * kept answers (the oldest kept goes), and no answer is current. */
void parley_spoken_keep_locked(struct parley_session *s);
/* The pieces of answer `answer`: the current one's (cur, filled in) or a
 * kept one's; NULL if the session has none. */
const struct parley_spoken_set *parley_spoken_find_locked(struct parley_session *s,
							  uint64_t answer,
							  struct parley_spoken_set *cur);
/* Frees every kept answer's pieces (the last unref). */
void parley_spoken_kept_free(struct parley_session *s);

/* turn.c, caller holds s->lock. Supersedes the answer in flight (an open
 * one ends CANCELLED, what was sent; keep_partial: the history keeps its
 * text, cut); returns its request id (0 if none) for the caller to cancel
 * after unlocking. */
uint64_t parley_session_supersede_locked(struct parley_session *s, bool keep_partial);

/* turn.c: starts an answer to the conversation, with the user turn
 * text[0..len) added first unless text is NULL; the turn was admitted.
 * if_idle (respond()): PARLEY_E_BUSY when an answer is open. Returns 0
 * (problems after answer_started end it FAILED and are reported),
 * PARLEY_E_BUSY, PARLEY_E_CLOSED (closing) or PARLEY_E_NOMEM (reported
 * unless if_idle: respond()'s caller reports it). Without s->lock. */
int parley_answer_submit(struct parley_session *s, const char *text, size_t len,
			 int64_t speech_end_ns, bool if_idle);

/* turns.c: a spoken turn's final transcript (the listen strand): answered
 * as a user turn if the turns say so (create_response, not MANUAL), else it
 * only joins the history. */
void parley_session_heard_turn(struct parley_session *s, const char *text, size_t len,
			       int64_t speech_end_ns);

/* commit.c: the VAD ended a turn (the listen strand): it is a cut, so a
 * commit right after it finds only the audio since (uncommitted_ms). */
void parley_session_vad_cut(struct parley_session *s);
/* commit.c: the listener's count of committed utterances waiting for
 * their transcript changes by delta (PARLEY_SESSION_MAX_COMMITS). */
void parley_session_utts_waiting(struct parley_session *s, int delta);

/* commit.c: the listen strand's take: moves up to n buffered samples into
 * dst, never past the next cut. *discard: they precede a clear (drop them
 * undecoded). *cut: the cut reached after them, taken off the FIFO
 * (PARLEY_CUT_NONE if none). Returns the count (0 with a cut: one was due). */
enum parley_cut_kind { PARLEY_CUT_NONE = 0, PARLEY_CUT_COMMIT, PARLEY_CUT_CLEAR };
size_t parley_session_audio_take_cut(struct parley_session *s, int16_t *dst, size_t n,
				     bool *discard, enum parley_cut_kind *cut);

#endif
