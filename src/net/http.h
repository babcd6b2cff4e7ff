/*
 * http.h - the HTTP pool: one thread running every speech-service request
 * (remote STT and TTS engines) on a libcurl multi handle, a sibling of the
 * LLM engine's thread (llm/engine.c).
 *
 * Requests go through lanes: each remote engine creates one lane with its
 * own concurrency limit and queue bound. A lane runs at most max_inflight
 * requests at once and queues up to max_queue more, first come first
 * served; beyond that submit fails with PARLEY_E_FULL (the engine tells the
 * user the service is saturated). A request waiting in the queue longer
 * than its queue timeout ends with a TIMEOUT, so a stuck service that
 * handles one request at a time (whisper.cpp's server) never makes the
 * other sessions wait for ever.
 *
 * The body streams: the callbacks see the status and each body chunk as it
 * arrives, so a TTS engine forwards audio while the service is still
 * synthesising. cancel() closes the request's connection at once (the
 * service sees it) and end(CANCELLED) follows unless end was already
 * reported. Timeouts: connect, first byte, stall (no byte for that long)
 * and total, each optional.
 *
 * Connections: HTTP/1.1, one per running request (so closing it on cancel
 * touches no other request), reused between requests while the service
 * keeps them alive. Messages name the service by host:port at most, never
 * by its URL (which may carry credentials).
 *
 * Threads: every function is thread-safe (destroy apart: nothing else may
 * be called on the pool once it has begun). Callbacks run on the pool's
 * thread (keep them short: parse, copy, queue) and never two at once; after
 * end the pool never touches arg again. Ids are never reused; unknown or
 * ended ids are ignored by cancel().
 */
#ifndef PARLEY_NET_HTTP_H
#define PARLEY_NET_HTTP_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "speech/speech.h"

struct parley_http_pool;
struct parley_http_lane;

/* A request to send. submit() takes ownership of headers and body in every
 * case (freed by the pool). Multipart forms are built as a body
 * (net/multipart.h) with their own Content-Type header. */
struct parley_http_request {
	char url[1024];
	const char *method;          /* static; NULL: POST when there is a body, else GET */
	struct curl_slist *headers;  /* owned */
	char *body;                  /* owned, malloc'd; may be NULL */
	size_t body_len;
	long connect_timeout_ms;     /* 0: none */
	long first_byte_timeout_ms;  /* from the request's start (leaving the queue); 0: none */
	long stall_timeout_ms;       /* no byte for this long once bytes came; 0: none */
	long total_timeout_ms;       /* from the request's start (queue wait apart); 0: none */
	bool total_from_submit;      /* total_timeout_ms counts from submit: queue wait included */
	long queue_timeout_ms;       /* waiting for a free slot in the lane; 0: none */
	/* run_blocking only (borrowed, may be NULL): polled every few tens of
	 * ms; once true the request ends CANCELLED (a warm-up thread stopping). */
	const atomic_bool *abort;
};

struct parley_http_callbacks {
	/* A 2xx response's status and Content-Type ("" when none), once, when
	 * its headers are complete and before any body chunk (a non-2xx answer
	 * goes to end instead). Return 0 to go on, nonzero to stop the transfer (end
	 * then reports ERROR, cause BROKEN, unless the callback ends it
	 * itself through its own state). May be NULL. */
	int (*head)(void *arg, long status, const char *content_type);
	/* A body chunk (borrowed). Return 0 to go on, nonzero to stop: the
	 * transfer ends and end reports OK (the caller had what it needed).
	 * Non-2xx bodies are not passed here; their first 4 KiB are kept and
	 * handed to end (the transfer stops there: a longer body is cut). */
	int (*body)(void *arg, const char *data, size_t len); /* may be NULL: discarded */
	/*
	 * Exactly once per accepted request. OK: the body was complete (2xx).
	 * ERROR: cause HTTP (non-2xx: status and its body, up to 4 KiB, in
	 * err_body/err_len), TIMEOUT, UNAVAILABLE (could not connect), BROKEN
	 * (cut mid-body), INTERNAL; message is a short English sentence (no
	 * URL). CANCELLED: cancel() was called.
	 */
	void (*end)(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		    long status, const char *message, const char *err_body, size_t err_len);
	void *arg;
};

/* Starts the pool's thread. NULL on failure (logged). */
struct parley_http_pool *parley_http_pool_create(void);

/* Stops the thread; every request ends CANCELLED first (a submit from
 * those end callbacks fails with PARLEY_E_CLOSED). Never from a callback.
 * Accepts NULL. */
void parley_http_pool_destroy(struct parley_http_pool *p);

/* A lane of the pool; name (a string literal, one lane per name) labels its
 * metrics (parley_http_inflight{lane=...}, parley_http_queue{lane=...},
 * parley_http_requests_total{lane=...}, parley_http_errors_total{lane=...,
 * cause=...}). max_inflight >= 1, max_queue >= 0. Lanes live as long as the
 * pool. NULL on OOM. Any thread. */
struct parley_http_lane *parley_http_lane_create(struct parley_http_pool *p, const char *name,
						 int max_inflight, int max_queue);

/*
 * Queues req on lane. Returns 0 and the request id, or PARLEY_E_FULL (the
 * lane's queue is full), PARLEY_E_CLOSED (the pool is stopping) or
 * PARLEY_E_NOMEM; on failure no callback is ever called (req's owned parts
 * are freed either way). Any thread.
 */
int parley_http_submit(struct parley_http_lane *lane, struct parley_http_request *req,
		       const struct parley_http_callbacks *cb, uint64_t *id);

/* Cancels request id (see above). Any thread. */
void parley_http_cancel(struct parley_http_pool *p, uint64_t id);

/*
 * Blocking request for warm-up threads (no lane, no pool thread): runs req
 * to the end, feeding cb like submit() would, on the calling thread; end is
 * called exactly once, even on OOM. req->abort, when set, cancels it.
 * Returns 0 when end reported OK, else -1. Takes ownership as submit().
 */
int parley_http_run_blocking(struct parley_http_request *req,
			     const struct parley_http_callbacks *cb);

#endif
