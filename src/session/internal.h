/*
 * internal.h - a session's state: the core that ties its four parts
 * together, and the few calls every part makes on it. Nothing outside
 * src/session/ includes it: the rest of the server sees the opaque handle
 * and the calls of session.h.
 *
 * The parts, each with its own state and header (docs/architecture.md,
 * "The session's parts"):
 *   - the listener (listener.h: s->in, the inbox, and s->listen, the
 *     hearing on the listen strand): audio in, VAD, utterances, cuts;
 *   - the turn-taker (turntaker.h: s->tt): the end of a turn, barge-in,
 *     speculation, turn settings and admission;
 *   - the answerer (answerer.h: s->ans, request.h): the history, the answer
 *     in flight and its LLM request;
 *   - the speaker (speaker.h: s->spk, speak_internal.h): synthesis, the
 *     audio sent, playback and what was heard.
 * Each reaches the others only through their calls.
 *
 * Threads: `id`, `created_ns`, `events`, `outq`, `strand`, `tts_strand`,
 * `workers`, `owner`, `llm`, `speech`, `limits`, `speculate_ms`,
 * `assume_playback`, `echo_mode`, `echo`, `proto` and `proto_free` are set at creation and then
 * read-only (the queue and strands lock themselves). `refs`, `closing` and
 * `end_reason` are atomic. `lock`, the conversation lock, guards the
 * settings, the turn-taker, the answerer and the speaker; the inbox has
 * its own lock; `listen` is touched only by jobs on `strand`. `transport`
 * is touched only by the event-loop thread.
 *
 * Lock order: s->lock, then the inbox's in.lock, then the out-queue's own
 * lock and a strand's lock (events push under s->lock; jobs are submitted
 * under it); nothing that holds a later one takes an earlier one. The LLM
 * engine (parley_llm_submit/promote/cancel) and the speech engines are
 * called without s->lock (the engines' callbacks take it).
 */
#ifndef PARLEY_SESSION_INTERNAL_H
#define PARLEY_SESSION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "llm/engine.h"
#include "session/answerer.h"
#include "session/echoguard.h"
#include "session/limits.h"
#include "session/listener.h"
#include "session/problems.h"
#include "session/session.h"
#include "session/speaker.h"
#include "session/turntaker.h"
#include "util/outq.h"
#include "util/workers.h"

#define PARLEY_SESSION_MAX_JOBS 256

struct parley_session {
	atomic_int refs;
	atomic_bool closing;
	uint64_t id;
	int64_t created_ns; /* CLOCK_MONOTONIC */
	const struct parley_session_events *events;
	struct parley_outq outq;
	struct parley_strand strand;        /* the listener's jobs, in order */
	struct parley_strand tts_strand;    /* the speaker's jobs, in order */
	struct parley_workers *workers;     /* borrowed; outlives every session */
	void *owner;                        /* borrowed: the transport's server object */
	struct parley_llm_engine *llm;      /* borrowed: the shared engine */
	const struct parley_speech *speech; /* borrowed; NULL: text only */
	struct parley_session_limits *limits; /* borrowed, shared; outlives every session */
	_Atomic(const char *) end_reason;   /* static text: the session asked to be closed */
	int speculate_ms;                   /* 0: never speculate */
	bool assume_playback;               /* no playback reports: audio plays as sent */
	enum parley_echo_mode echo_mode;    /* the server's --echo-guard */
	struct parley_echoguard *echo;      /* NULL without speech; locks itself (a leaf
					       lock), its listener side is the listen
					       strand's (echoguard.h) */
	void *proto;                        /* the protocol's state, freed at the last unref */
	void (*proto_free)(void *proto);

	pthread_mutex_t lock;               /* the conversation lock */
	struct parley_settings settings;    /* guarded by lock (but input_sample_rate:
					       the inbox's `rate`) */
	struct parley_inbox in;             /* the listener's inbox: its own lock */
	struct parley_listen *listen;       /* the listener's hearing: the listen strand's;
					       NULL without speech */
	struct parley_turntaker tt;         /* guarded by lock */
	struct parley_answerer ans;         /* guarded by lock */
	struct parley_speaker spk;          /* guarded by lock (see speaker.h) */

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

/* The turn-taking patience (set_speed) the listener applies. Any thread,
 * without s->lock. */
double parley_session_speed(struct parley_session *s);

/* Reports a problem to the client through the session's events (the
 * message is formatted and cut on a character at 255 bytes). Any thread,
 * without s->lock. */
void parley_session_error(struct parley_session *s, enum parley_session_problem problem,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
