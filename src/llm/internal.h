/*
 * internal.h - private to src/llm/: the engine object shared by the
 * engine thread (engine.c), its admission bookkeeping (admission.c) and the
 * warm-up thread (warmup.c), and the one request builder both threads use
 * (request.c).
 *
 * Every HTTP answer stream, the warm-up's and the sessions', is built by
 * parley_llm_call_build(): the backend's chat_request (URL, headers, body;
 * Bedrock signs there, so signing happens in exactly one place) plus the
 * curl options they share. Its errors are read the same way too.
 *
 * Lock order: e->lock is the only lock in src/llm; nothing is called with
 * it held except the bookkeeping it guards (never curl, a backend or a
 * callback).
 */
#ifndef PARLEY_LLM_INTERNAL_H
#define PARLEY_LLM_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "llm/backend.h"
#include "llm/engine.h"
#include "util/buf.h"

#define PARLEY_LLM_ERRBODY_MAX 65536 /* head of a non-2xx body kept for its message */
#define PARLEY_LLM_BODY_LOG_MAX 2000 /* an error body's head, for the log */

struct req; /* one session's request (below) */

/* Requests waiting for a slot, oldest first (engine.c; guarded by e->lock). */
struct parley_llm_fifo {
	struct req *head, *tail;
	size_t n;
};

struct parley_llm_engine {
	const struct parley_config *cfg;
	char *system_prompt;

	/* Set by the warm-up thread before the state first leaves WARMING, then
	 * read-only: the engine thread reads them only for admitted requests. */
	const struct parley_llm_backend *backend;
	struct parley_llm_target target;

	pthread_mutex_t lock;
	pthread_cond_t cond;          /* warm-up sleeps on it; signalled on stop */
	/* guarded by lock */
	struct parley_llm_info info;
	struct parley_llm_fifo waiting;  /* ordinary requests submitted, not admitted */
	struct parley_llm_fifo swaiting; /* speculative ones (engine.h) */
	struct req *spec_running;     /* admitted speculations, newest first (link: snext) */
	int admitted_spec;            /* of `admitted`, speculations (preemptable) */
	uint64_t *cancels;
	size_t ncancels, cancels_cap;
	uint64_t next_id;
	int admitted;                 /* requests started and not yet ended */
	bool stopping;
	atomic_bool abort;            /* set with stopping: blocking warm-up transfers give up */
	void (*on_state)(void *);
	void *on_state_arg;

	/* engine thread only (curl_multi_wakeup is safe from any thread) */
	CURLM *multi;
	struct req *active;
	int nactive;

	pthread_t thread, warm_thread;
	bool thread_started, warm_started;
	int readiness_id;
};

/* CLOCK_MONOTONIC in ns. Any thread. */
int64_t parley_llm_now_ns(void);

/* ---- request.c: the one request builder ---------------------------------- */

/* One streamed chat request on an easy handle. Owned by the thread that
 * built it (engine or warm-up); released with parley_llm_call_clear(). */
struct parley_llm_call {
	CURL *easy;
	struct parley_http_req http;  /* URL, headers, body: must outlive easy */
	char curl_err[CURL_ERROR_SIZE];
	long status;                  /* HTTP status, 0 until known */
	struct parley_buf errbody;    /* head of a non-2xx answer's body */
};

/*
 * Builds c for messages (borrowed) through backend b: the backend's
 * request, then the shared options (connect timeout, keep-alive, any
 * encoding curl decodes, no signals) with write(arg) receiving the body.
 * max_tokens <= 0 uses the target's. Returns 0, or a PARLEY_E_* code with
 * a sentence in why (c is then cleared).
 */
int parley_llm_call_build(struct parley_llm_call *c, const struct parley_llm_backend *b,
			  const struct parley_llm_target *t, const json_t *messages, int max_tokens,
			  curl_write_callback write, void *arg, char *why, size_t whylen);

/* Accepts a zeroed or built c; leaves it zeroed. */
void parley_llm_call_clear(struct parley_llm_call *c);

/* For the write callback: learns the status on the first call; a non-2xx
 * answer's chunk is kept for its message and true returned (it is not
 * stream data). */
bool parley_llm_call_error_chunk(struct parley_llm_call *c, const char *data, size_t n);

/* After a non-2xx answer: logs the body's head (what is the tag, e.g.
 * "llm request 7") and writes the backend's reading of it to out. */
void parley_llm_call_error_text(struct parley_llm_call *c, const struct parley_llm_backend *b,
				const struct parley_llm_target *t, const char *what, char *out,
				size_t outlen);

/* One session's request (engine.c); fields without a lock note belong to
 * the engine thread once it is admitted. */
struct req {
	struct req *next;
	uint64_t id;
	json_t *messages;
	struct parley_llm_callbacks cb;
	struct parley_llm_engine *e;
	void *stream;
	struct parley_llm_call call; /* call.easy is NULL until started, and for local backends */
	int64_t submitted_ns, started_ns, last_data_ns, next_local_ns;
	bool got_token;
	bool parser_done;
	bool parser_error;
	bool admitted;          /* counted in e->admitted */
	bool spec;              /* guarded by e->lock: speculative (preemptable) */
	struct req *snext;      /* guarded by e->lock: e->spec_running; then the preempted list */
	char message[512];
};

/* ---- admission.c: who runs next (caller holds e->lock; no I/O) ------------- */

/* Takes r out of the running speculations (nothing if it is not there). */
void parley_llm_unlink_spec_locked(struct parley_llm_engine *e, struct req *r);

/* Takes request id out of q; NULL when it is not there. */
struct req *parley_llm_fifo_take(struct parley_llm_fifo *q, uint64_t id);

/* Appends q's requests to the list at *tail (link: next); empties q. */
void parley_llm_fifo_drain(struct parley_llm_fifo *q, struct req ***tail);

/* Queues r (not yet queued; the caller keeps it on failure), numbering it:
 * 0, or PARLEY_E_FULL with a sentence in why when its queue is full. */
int parley_llm_queue_locked(struct parley_llm_engine *e, struct req *r, bool spec, char *why,
			    size_t whylen);

/* The admission pass (engine thread): the admitted go to *admit_tail
 * (link: next), the speculations they preempt to *preempted (link: snext)
 * for the caller to end. */
void parley_llm_admit_locked(struct parley_llm_engine *e, struct req ***admit_tail,
			     struct req **preempted);

/* Would parley_llm_admit_locked() admit anything now? */
bool parley_llm_admissible_locked(const struct parley_llm_engine *e);

/* parley_llm_promote() (engine.h) of request id: 0, PARLEY_E_FULL or
 * PARLEY_E_NOTFOUND. */
int parley_llm_promote_locked(struct parley_llm_engine *e, uint64_t id);

/* ---- warmup.c -------------------------------------------------------------- */

/* Registers the warm-up's gauges; 0 or a PARLEY_E_* code. */
int parley_llm_warmup_register_metrics(void);

/* The warm-up thread's body (pthread start routine; arg is the engine):
 * resolves the backend, prepares and measures it, retrying with backoff
 * until it is ready or the engine stops. */
void *parley_llm_warmup_main(void *arg);

#endif
