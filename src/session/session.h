/*
 * session.h - one conversation: its settings, its audio input, its outbound
 * queue and its serial work strand. Independent of any wire format.
 *
 * A session is created by a transport (the WebSocket layer) when a client
 * connects. It reports what it has to say through an events table supplied
 * by the wire protocol (parley_session_events), which encodes messages and
 * pushes them on the session's out-queue; the out-queue's wake callback
 * tells the transport to write.
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
 * time beyond a burst is dropped (audio_too_fast) and, if it persists, the
 * session asks its transport to close it (parley_session_end); turns beyond
 * --turns-per-minute are refused (rate_limited).
 *
 * Threads: `id`, `created_ns`, `events`, `outq`, `strand` and `limits` are
 * set at creation and then read-only (the queue and strand lock
 * themselves). `lock` guards settings, the audio ring, the limiters and the
 * playback fields. `end_reason` is atomic. `transport` is touched only by
 * the event-loop thread.
 */
#ifndef PARLEY_SESSION_SESSION_H
#define PARLEY_SESSION_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "audio/ring.h"
#include "session/history.h"
#include "session/limits.h"
#include "session/pace.h"
#include "text/sentences.h"
#include "protocol/control.h"
#include "protocol/errcode.h"
#include "util/buf.h"
#include "util/outq.h"
#include "util/ratelimit.h"
#include "util/workers.h"

#define PARLEY_SESSION_AUDIO_SECONDS 10
#define PARLEY_SESSION_MAX_JOBS 256

struct parley_session;
struct parley_llm_engine;
struct parley_stt_backend;
struct parley_stt_engine;
struct parley_tts_backend;
struct parley_listen;
struct parley_speaker;

/* Server-wide speech setup shared (read-only) by every session. */
struct parley_speech {
	const struct parley_stt_backend *stt_backend;
	struct parley_stt_engine *stt;         /* one job per utterance */
	bool stt_remote;                       /* a service: saturation is stt_busy */
	char default_voice[PARLEY_VOICE_MAX + 1]; /* for voice "default" */
	double default_rate;                   /* speaking-rate multiplier */
};

/* A session's effective configuration. */
struct parley_settings {
	int input_sample_rate;
	int output_sample_rate;
	enum parley_audio_out audio_out;
	char voice[PARLEY_VOICE_MAX + 1];
	double tts_rate;
	double speed; /* turn-taking patience 0..100 */
};

/*
 * What a session says, encoded by a wire protocol. Every slot is required and
 * may be called from any thread; implementations push onto s->outq.
 * answer_partial, answer_final, audio, stop_tts and tts_interruption are
 * called with s->lock held (so their order is the session's order): they
 * must not take it, and may read s->settings directly.
 */
struct parley_session_events {
	void (*status)(struct parley_session *s);
	void (*error)(struct parley_session *s, enum parley_proto_error code, const char *message);
	void (*configured)(struct parley_session *s);
	/* The assistant's answer so far (text borrowed for the call). */
	void (*answer_partial)(struct parley_session *s, const char *text, size_t len);
	/* The answer is over: complete, or cut short (interrupted). */
	void (*answer_final)(struct parley_session *s, const char *text, size_t len,
			     bool interrupted);
	/* The live transcript while the user speaks, and the final one. */
	void (*user_partial)(struct parley_session *s, const char *text);
	void (*user_final)(struct parley_session *s, const char *text);
	/* Assistant audio: n samples at the session's output rate (borrowed). */
	void (*audio)(struct parley_session *s, const int16_t *pcm, size_t n);
	/* Barge-in: flush playback now, then the interruption notice. */
	void (*stop_tts)(struct parley_session *s);
	void (*tts_interruption)(struct parley_session *s);
};

/* A piece of the answer that was sent as audio. */
struct parley_spoken {
	char *text;
	int64_t ms;
};

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

	pthread_mutex_t lock;
	struct parley_settings settings;     /* guarded by lock */
	struct parley_ring audio;            /* guarded by lock; input-rate samples */
	bool audio_overflowing;              /* guarded by lock: inside an overflow episode */
	bool tts_playing;                    /* guarded by lock: between tts_start and tts_stop */
	bool frame_playing;                  /* guarded by lock: flag bit 0 of the last frame */
	bool audio_job_queued;               /* guarded by lock: a listen job is pending */
	int64_t audio_waiting_since_ns;      /* guarded by lock: the audio ring has not been
						empty since then (0: it is empty) */
	size_t audio_taken_waiting;          /* guarded by lock: samples the listener took
						since audio_waiting_since_ns */
	int64_t played_ms;                   /* guarded by lock: playback report of this answer, -1 none */
	struct parley_history history;       /* guarded by lock */
	uint64_t turn_gen;                   /* guarded by lock: bumps when an answer is superseded */
	uint64_t llm_req;                    /* guarded by lock: request in flight, 0 = none */
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

	void *transport; /* event-loop thread only: the connection, NULL once closed */
};

struct parley_session_params {
	uint64_t id;
	const struct parley_session_events *events; /* borrowed, static */
	struct parley_workers *workers;             /* borrowed */
	parley_wake_fn wake; /* out-queue wake, see outq.h; called with the session */
	void *owner;         /* borrowed, stored in s->owner for the wake callback */
	struct parley_llm_engine *llm; /* borrowed shared engine */
	size_t history_chars;          /* conversation budget */
	const struct parley_speech *speech; /* borrowed; NULL: no speech */
	struct parley_session_limits *limits; /* borrowed, required; outlives the session */
};

/* Built-in defaults for a new session's settings. */
void parley_settings_defaults(struct parley_settings *st);

/* Returns a session holding one reference (the caller's), or NULL on OOM. */
struct parley_session *parley_session_create(const struct parley_session_params *p);

void parley_session_ref(struct parley_session *s);
void parley_session_unref(struct parley_session *s); /* accepts NULL */

/* Marks the session closing: output dropped, queued jobs cancelled.
 * Idempotent, any thread. */
void parley_session_close(struct parley_session *s);

static inline bool parley_session_is_closing(struct parley_session *s)
{
	return atomic_load(&s->closing);
}

/* Copies the settings under the lock. */
void parley_session_get_settings(struct parley_session *s, struct parley_settings *out);

/* Applies a validated control message (the wire layer parsed it). */
void parley_session_apply(struct parley_session *s, const struct parley_control *c);

/*
 * Accepts n input-rate samples (borrowed) with the frame's flags. When the
 * buffer overflows, the oldest audio is dropped and, once per overflow
 * episode, an audio_overflow error is reported.
 */
void parley_session_audio_in(struct parley_session *s, const int16_t *pcm, size_t n,
			     uint32_t flags);

/*
 * Asks the transport to end the session because the client broke a limit:
 * the answer in flight is cancelled, further input is ignored, and the
 * transport sends what is already queued, then closes (WebSocket: status
 * 1008, policy violation, with reason as its text). reason is a static
 * string of at most 120 bytes. The first reason wins. Any thread.
 */
void parley_session_end(struct parley_session *s, const char *reason);

/* The reason the session asked to be closed, or NULL. Any thread. */
static inline const char *parley_session_end_reason(struct parley_session *s)
{
	return atomic_load(&s->end_reason);
}

/*
 * turn.c calls this at the start of every user turn, typed or spoken:
 * true if the turn may go to the LLM; false if it is over
 * --turns-per-minute (the client got rate_limited). Any thread.
 */
bool parley_session_turn_admit(struct parley_session *s);

/* Queues the listen job unless one is queued already. Any thread. */
void parley_session_schedule_listener(struct parley_session *s);

/* Event-loop housekeeping: if the user was speaking and the client stopped
 * sending audio, schedule the listener so it can end the turn and give the
 * decoder back. Any thread. */
void parley_session_poke_listener(struct parley_session *s);

/* Moves up to n buffered samples into dst; returns the count. Any thread. */
size_t parley_session_audio_take(struct parley_session *s, int16_t *dst, size_t n);

/* Reports a protocol error through the session's events. */
void parley_session_error(struct parley_session *s, enum parley_proto_error code,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Pushes an encoded message; drops it when closing. Takes ownership of m. */
int parley_session_push(struct parley_session *s, struct parley_msg *m);

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

/* speak.c: answer text for speech (engine thread, caller holds s->lock). */
void parley_speak_feed_locked(struct parley_session *s, const char *text, size_t len);
/* speak.c: the answer is complete: speak what is left (caller holds lock). */
void parley_speak_flush_locked(struct parley_session *s);
/* speak.c: final_assistant_answer for this answer, sent after every piece
 * already queued for speech (text copied; caller holds lock). */
void parley_speak_final_locked(struct parley_session *s, const char *text, size_t len,
			       bool interrupted);
/* speak.c: forget the spoken pieces of the answer (caller holds lock). */
void parley_speak_reset_locked(struct parley_session *s);
/* speak.c: what the user has heard of this answer (caller holds lock);
 * malloc'd, caller frees; NULL on OOM. */
char *parley_speak_heard_locked(struct parley_session *s, int64_t now_ns);
/* speak.c: an error for the client after the pieces already queued for
 * speech (and the final answer); returns false when it could not be
 * queued: the caller reports it itself, after unlocking (caller holds lock). */
bool parley_speak_error_locked(struct parley_session *s, enum parley_proto_error code,
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

/* turn.c: a user turn (text borrowed). Cancels the answer in flight (kept
 * in the history as interrupted), adds the turn to the history and asks the
 * shared LLM. Errors are reported to the client. Any thread. */
void parley_session_user_turn(struct parley_session *s, const char *text, size_t len);

/* turn.c: forgets the conversation and cancels the answer in flight. */
void parley_session_clear_history(struct parley_session *s);

/* turn.c: cancels the answer in flight without touching the history
 * (the session is closing). */
void parley_session_cancel_answer(struct parley_session *s);

/* Monotonic clock in nanoseconds. */
int64_t parley_now_ns(void);

#endif
