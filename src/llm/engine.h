/*
 * engine.h - the shared LLM engine: created and warmed once at startup,
 * then used concurrently by every session.
 *
 * One engine thread runs every answer stream on a libcurl multi handle
 * (connection reuse, many streams at once) and local backends (echo) on
 * timers. Requests are admitted first come, first served: at most
 * max_inflight run at once, up to max_queue more wait, beyond that submit
 * fails with PARLEY_E_FULL. Timeouts (connect, first token, stall) end a
 * request with an error and free its slot.
 *
 * Speculative requests (PARLEY_LLM_SPECULATIVE: an answer started before
 * the user's turn is certain) never delay an ordinary one. They wait in a
 * queue of their own (at most max_queue) and are admitted only into a free
 * slot when no ordinary request waits; an ordinary request that finds every
 * slot taken while speculations run preempts the one started last (it ends
 * CANCELLED, and parley_llm_promote() of it fails). They do not count
 * against the ordinary queue's bound, so they never make an ordinary submit
 * fail with PARLEY_E_FULL. parley_llm_promote() makes a speculation
 * ordinary once its turn is confirmed: a running one can no longer be
 * preempted, a waiting one joins the tail of the ordinary queue.
 *
 * A warm-up thread (warmup.c) resolves the backend ("auto"), runs the
 * backend's checks (model pulled? which model? credentials?), sends the
 * system prompt once so the backend can cache it, and measures time to
 * first token and tokens per second. It retries with backoff until it succeeds; /readyz reports why
 * until then. Requests submitted while warming wait; while the backend is
 * unavailable they fail at once.
 *
 * Callbacks run on the engine thread: keep them short (encode, queue).
 * After a request's end callback the engine never touches its user data.
 */
#ifndef PARLEY_LLM_ENGINE_H
#define PARLEY_LLM_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/config.h"

struct parley_llm_engine;

enum parley_llm_state {
	PARLEY_LLM_WARMING = 0,
	PARLEY_LLM_READY,
	PARLEY_LLM_UNAVAILABLE, /* warm-up failed; retrying */
};

enum parley_llm_end {
	PARLEY_LLM_END_OK = 0,
	PARLEY_LLM_END_CANCELLED,
	PARLEY_LLM_END_ERROR,
};

enum parley_llm_cause {
	PARLEY_LLM_CAUSE_NONE = 0,
	PARLEY_LLM_CAUSE_UNAVAILABLE,   /* cannot connect / not warmed */
	PARLEY_LLM_CAUSE_HTTP,          /* non-2xx answer */
	PARLEY_LLM_CAUSE_BACKEND,       /* the backend reported an error in the stream */
	PARLEY_LLM_CAUSE_BROKEN,        /* connection died or stream ended mid-answer */
	PARLEY_LLM_CAUSE_TIMEOUT,       /* connect, first token or stall timeout */
	PARLEY_LLM_CAUSE_INTERNAL,      /* out of memory and the like */
	PARLEY_LLM_CAUSE_COUNT
};

const char *parley_llm_cause_name(enum parley_llm_cause c);
const char *parley_llm_state_name(enum parley_llm_state s);

struct parley_llm_callbacks {
	/* A piece of the answer (not NUL-terminated). */
	void (*token)(void *ud, const char *text, size_t len);
	/* Exactly once per accepted request. message is NULL when OK. */
	void (*end)(void *ud, enum parley_llm_end end, enum parley_llm_cause cause,
		    const char *message);
	void *ud;
};

/* What the engine is and how fast it measured; for status. Holds nothing
 * a client must not see (never the URL, which may carry credentials). */
struct parley_llm_info {
	enum parley_llm_state state;
	char backend[16];
	char model[128];
	char reason[512];    /* why not ready, for clients: no URL, keys masked */
	bool echo;           /* no language model: say so */
	double first_token_ms; /* measured at warm-up; < 0 when unknown */
	double tokens_per_s;
	double warmup_s;
};

/*
 * cfg (borrowed, outlives the engine) selects the backend; system_prompt is
 * copied. Starts the engine and warm-up threads. NULL on failure (logged).
 */
struct parley_llm_engine *parley_llm_engine_create(const struct parley_config *cfg,
						   const char *system_prompt);

/* Stops the threads; every pending request ends CANCELLED. Accepts NULL. */
void parley_llm_engine_destroy(struct parley_llm_engine *e);

/* Called (from the warm-up thread) whenever the state changes. */
void parley_llm_engine_on_state(struct parley_llm_engine *e, void (*fn)(void *arg), void *arg);

void parley_llm_engine_info(struct parley_llm_engine *e, struct parley_llm_info *out);

/* The system prompt, borrowed for the engine's life. */
const char *parley_llm_system_prompt(struct parley_llm_engine *e);

/* Flags of parley_llm_submit(). */
#define PARLEY_LLM_SPECULATIVE 0x1u /* preemptable, admitted after every ordinary request */

/*
 * Queues a chat completion of messages (ownership taken in every case).
 * flags: 0 or PARLEY_LLM_SPECULATIVE (see the top). Returns 0 and the
 * request id, or PARLEY_E_FULL (queue full), PARLEY_E_CLOSED (backend
 * unavailable; *why says why) or PARLEY_E_NOMEM; on failure no callback is
 * ever called. Any thread.
 */
int parley_llm_submit(struct parley_llm_engine *e, json_t *messages,
		      const struct parley_llm_callbacks *cb, unsigned flags, uint64_t *id,
		      char *why, size_t whylen);

/*
 * Makes speculative request id ordinary (its turn was confirmed): a running
 * one can no longer be preempted; a waiting one moves to the tail of the
 * ordinary queue. Returns 0; PARLEY_E_NOTFOUND when id is not a live
 * speculation (it ended or is ending: preempted, cancelled, finished; its
 * end callback has run or is about to); PARLEY_E_FULL when it waits and
 * the ordinary queue is full (it stays speculative). Any thread.
 */
int parley_llm_promote(struct parley_llm_engine *e, uint64_t id);

/* Cancels a request: its stream is aborted at once (the backend sees the
 * connection close) and its end callback reports CANCELLED, unless it had
 * already ended. Any thread; unknown ids are ignored. */
void parley_llm_cancel(struct parley_llm_engine *e, uint64_t id);

#endif
