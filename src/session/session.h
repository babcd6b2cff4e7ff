/*
 * session.h - one conversation: its settings, its audio input, its outbound
 * queue and its serial work strands. Independent of any wire format.
 *
 * A session is an opaque handle. A transport (the WebSocket layer) creates
 * one when a client connects and drives it with the small calls below; a
 * wire protocol (protocol/native.c for /ws) parses what the client sends
 * and turns each message into those calls (set a rate, a voice, a text
 * turn, a playback report, microphone audio). What the session has to say
 * comes back through the events table the protocol supplies
 * (parley_session_events): answers, transcripts, audio, barge-in and
 * problems, the latter in the session's own vocabulary
 * (enum parley_session_problem) that each protocol maps to its own error
 * codes. The events encode messages and push them on the session's
 * out-queue, whose wake callback tells the transport to write; the
 * transport pops them (parley_session_pop). So a second protocol (an OpenAI
 * Realtime-compatible one) drives the same sessions with its own parser and
 * events table. The fields and the listen/speak/turn machinery are
 * private to src/session/ (session/internal.h).
 *
 * Lifetime: reference-counted. The transport holds one reference while the
 * connection is open; the worker pool holds one while the session has jobs
 * queued; anything else that keeps a session (the LLM engine, a wake list)
 * takes its own. parley_session_close() marks the session closing: further
 * output is dropped and queued jobs run cancelled. The last unref frees it,
 * on whichever thread drops it.
 *
 * Limits (session/limits.h, session/pace.h): the out-queue and the answer
 * text are sized from the configuration; microphone audio faster than real
 * time beyond a burst is dropped (PARLEY_SESSION_AUDIO_TOO_FAST) and, if it
 * persists, the session asks its transport to close it
 * (parley_session_end_reason); turns beyond --turns-per-minute are refused
 * (PARLEY_SESSION_RATE_LIMITED).
 *
 * Threads: unless a prototype says otherwise, every call is safe from any
 * thread (the session locks itself). The transport pointer belongs to the
 * event-loop thread.
 */
#ifndef PARLEY_SESSION_SESSION_H
#define PARLEY_SESSION_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/settings.h"
#include "util/outq.h"

struct parley_session;
struct parley_llm_engine;
struct parley_stt_pool;
struct parley_workers;
struct parley_session_limits;
struct parley_stt_backend;
struct parley_stt_engine;
struct parley_tts_backend;
struct parley_eot_lm;

/* Server-wide speech setup shared (read-only) by every session. */
struct parley_speech {
	const struct parley_stt_backend *stt_backend;
	struct parley_stt_engine *stt;         /* one job per utterance */
	bool stt_remote;                       /* a service: saturation is stt_busy */
	char default_voice[PARLEY_VOICE_MAX + 1]; /* for voice "default" */
	double default_rate;                   /* speaking-rate multiplier */
	bool eot_rules;                        /* --end-of-turn rules: turn_rules.h alone */
	struct parley_eot_lm *eot_lm;          /* the end-of-turn model's LM (text/eot_lm.h);
						  NULL: rules, or not loaded */
};

/*
 * What went wrong, in the session's words; each wire protocol maps these
 * to its own error codes (native: docs/protocol.md's `error` codes).
 */
enum parley_session_problem {
	PARLEY_SESSION_AUDIO_OVERFLOW = 0, /* input buffer full: oldest audio dropped */
	PARLEY_SESSION_AUDIO_TOO_FAST,     /* audio ahead of real time: the excess dropped */
	PARLEY_SESSION_RATE_LIMITED,       /* over --turns-per-minute: turn not answered */
	PARLEY_SESSION_LLM_BUSY,           /* the LLM's queue is full */
	PARLEY_SESSION_LLM_UNAVAILABLE,    /* the LLM is down or not warmed up */
	PARLEY_SESSION_LLM_ERROR,          /* the LLM failed this answer */
	PARLEY_SESSION_LLM_TIMEOUT,        /* the LLM did not answer in time */
	PARLEY_SESSION_OVERLOADED,         /* the server cannot keep up with the user's audio */
	PARLEY_SESSION_STT_BUSY,           /* speech-to-text saturated */
	PARLEY_SESSION_STT_UNAVAILABLE,    /* speech-to-text down or not warmed up */
	PARLEY_SESSION_STT_TIMEOUT,        /* speech-to-text did not answer in time */
	PARLEY_SESSION_STT_ERROR,          /* speech-to-text failed this utterance */
	PARLEY_SESSION_TTS_BUSY,           /* text-to-speech saturated */
	PARLEY_SESSION_TTS_UNAVAILABLE,    /* text-to-speech down or not warmed up */
	PARLEY_SESSION_TTS_TIMEOUT,        /* text-to-speech did not answer in time */
	PARLEY_SESSION_TTS_ERROR,          /* text-to-speech failed this piece */
	PARLEY_SESSION_INTERNAL,           /* out of memory, a bug */
	PARLEY_SESSION_PROBLEM_COUNT
};

/* "audio_overflow", ... (for logs); never NULL. */
const char *parley_session_problem_name(enum parley_session_problem p);

/* How an answer ended (parley_session_events.answer_final). */
enum parley_answer_outcome {
	PARLEY_ANSWER_COMPLETE = 0, /* the LLM finished and every piece was spoken */
	PARLEY_ANSWER_INTERRUPTED,  /* barge-in: the user spoke over it (text: what was heard) */
	PARLEY_ANSWER_CANCELLED,    /* parley_session_cancel_response(), or superseded by a
				       newer turn, clear_history or the session closing
				       (text: what was sent; spoken: what was heard) */
	PARLEY_ANSWER_FAILED,       /* the LLM (or speech) failed it (text: what came, maybe
				       empty; the error event follows) */
};

/*
 * How the end of the user's turn is decided (parley_session_set_turns).
 * /ws sessions keep the defaults (parley_turns_defaults()); the Realtime
 * protocol maps its turn_detection onto these.
 */
enum parley_turn_mode {
	PARLEY_TURNS_ADAPTIVE = 0, /* VAD; the end-of-turn pause adapts to the words
				      (text/turn_rules.h), scaled by the speed setting */
	PARLEY_TURNS_FIXED,        /* VAD; the turn ends after silence_ms of silence */
	PARLEY_TURNS_MANUAL,       /* no VAD turns: the client commits the audio
				      (parley_session_commit_audio); no speech events */
};

#define PARLEY_TURN_SILENCE_MIN 100  /* FIXED pause bounds, ms */
#define PARLEY_TURN_SILENCE_MAX 5000
#define PARLEY_TURN_PREFIX_MAX 1000  /* audio kept before the onset, ms */

struct parley_turns {
	enum parley_turn_mode mode;
	double threshold;        /* VAD sensitivity 0..1: higher needs louder speech to start
				    an utterance; 0.5 is parley's built-in VAD as tuned */
	int prefix_ms;           /* audio before the onset kept with the utterance (and in
				    speech_started's audio_ms), 0..PARLEY_TURN_PREFIX_MAX */
	int silence_ms;          /* FIXED only: the pause that ends a turn */
	bool create_response;    /* a turn's end asks the LLM; false: the turn only joins
				    the history (the client asks with parley_session_respond) */
	bool interrupt_response; /* the user's speech onset interrupts the answer (barge-in) */
};

/* The defaults: ADAPTIVE, threshold 0.5, parley's pre-roll, silence_ms
 * 500, create_response and interrupt_response true. Pure. */
void parley_turns_defaults(struct parley_turns *t);

/*
 * What a session says, encoded by a wire protocol. Every slot is required and
 * may be called from any thread; implementations encode a message and push
 * it with parley_session_push(). answer_started, answer_partial,
 * answer_final, audio, stop_tts and tts_interruption are called with the
 * session lock held (so their order is the session's order): they must not
 * call anything that takes it, and read the settings with
 * parley_session_settings_locked().
 */
struct parley_session_events {
	/* The session's state and settings, asked for by the transport
	 * (parley_session_report_status). */
	void (*status)(struct parley_session *s);
	/* Something the user should know went wrong (message borrowed). */
	void (*error)(struct parley_session *s, enum parley_session_problem problem,
		      const char *message);
	/* The assistant's answer so far (text borrowed for the call). */
	void (*answer_partial)(struct parley_session *s, const char *text, size_t len);
	/* An answer begins: it becomes the session's current answer (a turn was
	 * submitted, respond() was called, or a speculation adopted). Exactly
	 * one answer_final follows, before any newer answer_started (a newer
	 * turn ends the older answer CANCELLED first). answer: its identity
	 * (1, 2, ... in the order answers start), which
	 * parley_session_truncate_answer() takes. */
	void (*answer_started)(struct parley_session *s, uint64_t answer);
	/* The answer is over, and how (text: see enum parley_answer_outcome).
	 * One exception to "one per answer_started": a barge-in on an answer
	 * that was already final but whose audio is still playing (the client's
	 * reports, or the estimate of assume_playback) sends one more,
	 * INTERRUPTED, with what was heard (the history was cut to it); a
	 * protocol with no answer open ignores it (/ws sends it: the cut). */
	void (*answer_final)(struct parley_session *s, const char *text, size_t len,
			     enum parley_answer_outcome how);
	/* The live transcript while the user speaks, and the final one.
	 * whole: NULL, or this utterance continues the user's previous turn,
	 * whose answer was withdrawn before the user heard any of it (turn
	 * merging, docs/architecture.md): the two are one turn, whole is all
	 * of it (borrowed), and one answer follows. */
	void (*user_partial)(struct parley_session *s, const char *text);
	void (*user_final)(struct parley_session *s, const char *text, const char *whole);
	/* The VAD heard the user start (ADAPTIVE and FIXED turns only), at
	 * audio_ms: milliseconds of input audio since the session began (the
	 * listener's 20 ms frames, plus audio it skipped or a clear dropped),
	 * the prefix included. Called when the utterance opens, before its
	 * user_partial/user_final; a barge-in it causes follows it. */
	void (*speech_started)(struct parley_session *s, int64_t audio_ms);
	/* The VAD ended the turn at audio_ms (the end-of-turn pause included):
	 * the utterance's audio is committed for transcription. Sent only
	 * after its speech_started, and not when parley_session_commit_audio()
	 * ends the utterance (committed says so). */
	void (*speech_stopped)(struct parley_session *s, int64_t audio_ms);
	/* A client's commit (parley_session_commit_audio()) was applied by the
	 * listener where it falls in the input stream, at audio_ms: the audio
	 * since the previous cut is one committed utterance. opened: it is the
	 * utterance a speech_started opened (and no speech_stopped will close);
	 * false: no speech event named it. Exactly one per successful
	 * commit_audio, in order, after every speech event of the audio before
	 * the cut (so a protocol names the item then, not when the client
	 * asked). */
	void (*committed)(struct parley_session *s, int64_t audio_ms, bool opened);
	/* Every committed utterance (speech_stopped or committed) ends in
	 * exactly one user_final or one user_failed, in commit order: nothing
	 * was recognised (why: "empty"), or recognition failed (why: a short
	 * reason; an error event says more). No turn comes of it. why is
	 * static. */
	void (*user_failed)(struct parley_session *s, const char *why);
	/* Assistant audio: n samples at the session's output rate (borrowed). */
	void (*audio)(struct parley_session *s, const int16_t *pcm, size_t n);
	/* Barge-in: flush playback now, then the interruption notice. */
	void (*stop_tts)(struct parley_session *s);
	void (*tts_interruption)(struct parley_session *s);
	/* The session inferred the client's undeclared input rate from its
	 * frame timestamps and now decodes at it (the settings show it). */
	void (*input_rate_inferred)(struct parley_session *s);
};

/* The echo guard (session/echoguard.h): on for every session, off, or on
 * unless the client says it cancels echo itself (auto). */
enum parley_echo_mode {
	PARLEY_ECHO_AUTO = 0,
	PARLEY_ECHO_ON,
	PARLEY_ECHO_OFF,
};

/* "auto", "on", "off". */
const char *parley_echo_mode_name(enum parley_echo_mode m);

struct parley_session_params {
	uint64_t id;
	const struct parley_session_events *events; /* borrowed, static */
	struct parley_workers *workers;             /* borrowed */
	parley_wake_fn wake; /* out-queue wake, see outq.h; called with the session */
	void *owner;         /* borrowed, returned by parley_session_owner() */
	struct parley_llm_engine *llm; /* borrowed shared engine */
	size_t history_chars;          /* conversation budget */
	const struct parley_speech *speech; /* borrowed; NULL: no speech */
	struct parley_session_limits *limits; /* borrowed, required; outlives the session */
	int speculate_ms; /* trailing silence before a speculative answer; 0 = never */
	/* A heard turn the user continues before any of its answer reached
	 * them is merged with the continuation (turntaker.h; --turn-merging). */
	bool merge_turns;
	/* The wire has no playback reports (Realtime): the session assumes the
	 * client plays assistant audio as it is sent, at real time, for
	 * barge-in and for what the user heard. */
	bool assume_playback;
	/* A speech onset over the assistant's audio stops it, but the answer
	 * resumes if the sound was not a turn (no words, or only a backchannel:
	 * session/resume.h); false: every onset interrupts the answer. */
	bool resume_false_interruptions;
	enum parley_echo_mode echo_mode; /* the echo guard (speech only) */
	/* The protocol's per-session state (owned: proto_free(proto) runs at
	 * the last unref; either may be NULL). The protocol locks it itself:
	 * events may be called with s->lock held, so it takes its own lock
	 * after s->lock, and never calls into the session holding it. */
	void *proto;
	void (*proto_free)(void *proto);
};

/* --- lifetime --- */

/* Returns a session holding one reference (the caller's), or NULL on OOM
 * (then p->proto is still the caller's). p and what it points to are
 * borrowed as each field says. */
struct parley_session *parley_session_create(const struct parley_session_params *p);

void parley_session_ref(struct parley_session *s);
void parley_session_unref(struct parley_session *s); /* accepts NULL */

/* Marks the session closing: output dropped, queued jobs cancelled, the
 * answer in flight cancelled. Idempotent, any thread. */
void parley_session_close(struct parley_session *s);

/* Any thread. */
bool parley_session_is_closing(struct parley_session *s);

/* The reason the session asked its transport to close it because the
 * client broke a limit (a static string of at most 120 bytes: WebSocket
 * closes with 1008 and this text once the queue is sent), or NULL. From
 * then on the transport should not feed it input. Any thread. */
const char *parley_session_end_reason(struct parley_session *s);

/* --- facts (any thread; the values are fixed at creation) --- */

uint64_t parley_session_id(const struct parley_session *s);
int64_t parley_session_created_ns(const struct parley_session *s); /* CLOCK_MONOTONIC */
/* The params' owner (borrowed), e.g. for the wake callback. */
void *parley_session_owner(const struct parley_session *s);
/* The shared LLM engine (borrowed; outlives every session), NULL if none. */
struct parley_llm_engine *parley_session_llm(const struct parley_session *s);
/* The server-wide speech setup (borrowed, read-only), NULL for text only. */
const struct parley_speech *parley_session_speech(const struct parley_session *s);
/* Do false interruptions resume (the params' resume_false_interruptions,
 * or parley_session_set_resumes())? Any thread. */
bool parley_session_resumes(struct parley_session *s);
/* The params' proto (owned by the session), NULL if none. */
void *parley_session_proto(const struct parley_session *s);

/* --- the transport's side (event-loop thread only) --- */

/* The transport's connection object, NULL once it is gone. Borrowed; the
 * session never dereferences it. */
void *parley_session_transport(const struct parley_session *s);
void parley_session_set_transport(struct parley_session *s, void *transport);

/* Asks the protocol to encode the session's status (events->status). Any
 * thread. */
void parley_session_report_status(struct parley_session *s);

/* --- settings --- */

/* Copies the settings under the lock. Any thread. */
void parley_session_get_settings(struct parley_session *s, struct parley_settings *out);

/* The settings, for an event called with the session lock held (see
 * parley_session_events); the pointer is valid only during that call. Its
 * input_sample_rate is not kept there (the listener's inbox has it, under
 * its own lock): read it with parley_session_get_settings(). */
const struct parley_settings *parley_session_settings_locked(const struct parley_session *s);

/* Whether turn merging is on (--turn-merging; fixed at creation). Any thread. */
bool parley_session_merges_turns(const struct parley_session *s);

/*
 * Setters: each checks its value against settings.h's ranges and returns 0,
 * or PARLEY_E_RANGE (PARLEY_E_NOTFOUND: a voice not in the allow-list)
 * leaving the settings unchanged. They report nothing to the client: the
 * protocol that called answers in its own dialect. Any thread.
 */
/* A new input rate discards buffered audio (it was at the old rate). The
 * client declared it: any inference of an undeclared rate stops
 * (inrate.h). */
int parley_session_set_input_rate(struct parley_session *s, int hz);
int parley_session_set_output_rate(struct parley_session *s, int hz);
int parley_session_set_audio_out(struct parley_session *s, enum parley_audio_out out);
/* "default" (the server's default voice), or a name of the voice
 * allow-list (tts/tts.h), kept as the list spells it (only list strings
 * ever reach an engine). voice is borrowed. */
int parley_session_set_voice(struct parley_session *s, const char *voice);
int parley_session_set_tts_rate(struct parley_session *s, double rate);
/* Turn-taking patience, 0 (quick) .. 100 (patient). */
int parley_session_set_speed(struct parley_session *s, double speed);
/* How turns end (see struct parley_turns); t is copied. Switching to
 * MANUAL ends no utterance: what was heard stays uncommitted (a commit
 * ends it). Switching from MANUAL to a VAD mode drops the audio kept for
 * a commit that did not come. Any thread. */
int parley_session_set_turns(struct parley_session *s, const struct parley_turns *t);
void parley_session_get_turns(struct parley_session *s, struct parley_turns *out);
/* The session's own system prompt (text copied, at most
 * PARLEY_INSTRUCTIONS_MAX bytes of UTF-8, else PARLEY_E_RANGE), used for
 * its next LLM requests instead of the server's; NULL: the server's again.
 * PARLEY_E_NOMEM. Any thread. */
#define PARLEY_INSTRUCTIONS_MAX 16384
int parley_session_set_instructions(struct parley_session *s, const char *text);
/* Whether a speech onset over an answer that turns out to be no turn
 * resumes it (session/resume.h) or ends it; from the next onset on (an
 * answer begun before with stop has no tape to resume: it ends). Any
 * thread. */
void parley_session_set_resumes(struct parley_session *s, bool resume);
/* The client says whether it cancels echo itself (its playback and
 * microphone go through an echo canceller): in the auto mode the echo
 * guard is then off, else on. Any thread. */
void parley_session_set_echo_cancelled(struct parley_session *s, bool cancelled);
/* Is the echo guard on? false without speech. Any thread. */
bool parley_session_echo_guard(struct parley_session *s);
/* Whether answers are spoken (default) or text only: answer_partial then
 * follows the LLM's text and no audio is sent. Any thread. */
void parley_session_set_spoken(struct parley_session *s, bool spoken);

/* --- what the client says and reports --- */

/*
 * Accepts n input-rate samples (borrowed); playing says the client was
 * playing assistant audio when it captured them. client_ms is the client's
 * capture clock in milliseconds (wrapping at 2^32), or -1 if the wire has
 * none: until the client declares its rate, the session infers it from
 * these (inrate.h). Audio faster than real
 * time is dropped (AUDIO_TOO_FAST, and the session asks to be closed if it
 * persists); when the buffer overflows, the oldest audio is dropped and,
 * once per overflow episode, AUDIO_OVERFLOW is reported. Any thread.
 */
void parley_session_audio_in(struct parley_session *s, const int16_t *pcm, size_t n,
			     bool playing, int64_t client_ms);

/* A typed user turn (text borrowed). Cancels the answer in flight (kept in
 * the history as interrupted), adds the turn to the history and asks the
 * shared LLM. Problems are reported through the events. Any thread. */
void parley_session_user_turn(struct parley_session *s, const char *text, size_t len);

/* Forgets the conversation and buffered audio, and cancels the answer in
 * flight. Any thread. */
void parley_session_clear_history(struct parley_session *s);

/*
 * Client-driven turns (the Realtime protocol). Problems are reported
 * through the events; the return values say what the protocol should tell
 * its client directly. Any thread.
 */
/* A typed user message joins the history without an answer (text
 * borrowed). 0, PARLEY_E_RANGE (empty or over the answer size),
 * PARLEY_E_NOMEM. */
int parley_session_add_user_text(struct parley_session *s, const char *text, size_t len);
/* Asks the LLM to answer the conversation as it stands (answer_started
 * ... answer_final follow, or an error event for a failure after
 * answer_started). 0; PARLEY_E_BUSY when an answer is in flight (its
 * answer_final has not been sent); PARLEY_E_CLOSED without an LLM;
 * PARLEY_E_RANGE over --turns-per-minute; PARLEY_E_NOMEM. The refusals
 * are not reported through the events: the caller tells its client (with
 * the id of the client's request). */
int parley_session_respond(struct parley_session *s);
/* Cancels the answer in flight: its request and synthesis stop, and it
 * ends with answer_final(CANCELLED) carrying what was sent (spoken:
 * what the user heard), which the history keeps. PARLEY_E_NOTFOUND when
 * no answer is in flight. */
int parley_session_cancel_response(struct parley_session *s);
/* Cuts answer `answer` (answer_started's number) in the history to what
 * its first audio_ms of audio said (the user heard no more); only that
 * answer's entry changes. The session knows the spoken pieces of the
 * current answer and of the PARLEY_ANSWERS_KEPT answers before it that
 * had any. PARLEY_E_BUSY: it is still in flight (answer_final not sent);
 * PARLEY_E_NOTFOUND: not one of those, nothing of it was spoken, or it has
 * no entry in the history (nothing heard, or the entry left the history);
 * PARLEY_E_RANGE: audio_ms < 0 or beyond the answer's audio. */
#define PARLEY_ANSWERS_KEPT 4
int parley_session_truncate_answer(struct parley_session *s, uint64_t answer, int64_t audio_ms);
/* Commits the audio received since the last commit or clear (MANUAL
 * turns; in the VAD modes it ends the utterance in progress there, or
 * commits nothing recognisable: user_failed "empty") as one utterance: it
 * is transcribed, ends in user_final or user_failed, and joins the history
 * as a user turn, answered only if the turns' create_response is set and
 * the mode is not MANUAL. It applies where the client asked, after the
 * audio it had sent, even if the listener has not heard all of it yet:
 * the committed event says when it is applied. 0, PARLEY_E_RANGE when
 * less than 100 ms of audio waits since the last cut (a commit, a clear,
 * or the VAD's end of a turn; nothing is committed), PARLEY_E_FULL when
 * PARLEY_SESSION_MAX_COMMITS commits already wait for the listener or for
 * their transcripts. MANUAL turns hold no speech decoder until the commit:
 * the audio between cuts is kept (at most PARLEY_MANUAL_MAX_MS, the
 * latest; older audio is dropped and AUDIO_OVERFLOW reported), and
 * recognised when the listener reaches the commit. */
#define PARLEY_SESSION_MAX_COMMITS 16
#define PARLEY_MANUAL_MAX_MS 30000
int parley_session_commit_audio(struct parley_session *s);
/* Drops the audio received and not yet committed, and the utterance in
 * progress (its decoding stops; no transcript, no events). */
void parley_session_clear_audio(struct parley_session *s);

/* Playback reports: the client started / stopped playing assistant audio
 * (barge-in listens for the user only meanwhile), and how much of the
 * current answer it has played, which is what a barge-in keeps of the
 * answer in the history. Any thread. */
void parley_session_playback_started(struct parley_session *s);
void parley_session_playback_stopped(struct parley_session *s);
void parley_session_playback_played(struct parley_session *s, int64_t played_ms);

/* Event-loop housekeeping: if the user was speaking and the client stopped
 * sending audio, schedule the listener so it can end the turn and give the
 * decoder back. Any thread. */
void parley_session_poke_listener(struct parley_session *s);

/* --- the out-queue --- */

/* Pushes an encoded message; drops it when closing. Takes ownership of m.
 * Returns 0, PARLEY_E_CLOSED or PARLEY_E_FULL (the queue overflowed: the
 * transport closes the client). Any thread. */
int parley_session_push(struct parley_session *s, struct parley_msg *m);

/* The transport's writer (event-loop thread): the oldest queued message
 * (caller owns it) or NULL; *more says whether others wait behind it. */
struct parley_msg *parley_session_pop(struct parley_session *s, bool *more);

/* Messages waiting. Any thread. */
size_t parley_session_queued(struct parley_session *s);

/* True once a push failed for lack of room (sticky): the client does not
 * read, and the transport should close it. why (may be NULL) gets a short
 * description. Any thread. */
bool parley_session_overflowed(struct parley_session *s, char *why, size_t whylen);

/* Monotonic clock in nanoseconds. */
int64_t parley_now_ns(void);

#endif
