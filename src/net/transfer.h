/*
 * transfer.h - one HTTP request on a libcurl multi handle, private to
 * src/net/ (the HTTP pool in http.c is its user, for its own thread and for
 * parley_http_run_blocking).
 *
 * A transfer owns its request (URL, headers, body) and its callbacks. A
 * runner is a multi handle and the transfers it is running. The transfer
 * layer sets curl up, turns curl's callbacks into head / body / end,
 * keeps a non-2xx body's head, enforces the first-byte, stall and total
 * timeouts (curl enforces the connect timeout), and decides how each
 * transfer ended and why, in a sentence without the URL. Scheduling
 * (lanes, queues, ids, cancellation) is the pool's business.
 *
 * Threads: a runner and its transfers belong to the one thread that steps
 * it; nothing here locks. Callbacks run on that thread.
 */
#ifndef PARLEY_NET_TRANSFER_H
#define PARLEY_NET_TRANSFER_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/http.h"
#include "util/buf.h"

#define PARLEY_XFER_ERRBODY_MAX 4096 /* a non-2xx body's head, handed to end */

enum parley_xfer_stop { PARLEY_XFER_GOING = 0, PARLEY_XFER_STOP_BODY, PARLEY_XFER_STOP_HEAD };

struct parley_xfer {
	/* the owner's (the pool's): */
	struct parley_xfer *next; /* in a lane's queue, then in the runner's active list */
	uint64_t id;
	const char *label; /* the lane's name, for the log */
	void *owner;       /* the lane; NULL for a blocking request */
	bool admitted;     /* counted in the owner's running requests */
	int64_t submitted_ns;
	struct parley_http_request rq; /* owns headers and body */
	struct parley_http_callbacks cb;

	/* the transfer layer's: */
	bool running; /* on the runner's active list */
	CURL *easy;
	char curl_err[CURL_ERROR_SIZE];
	char where[160]; /* "host:port" for messages, never the URL */
	char ctype[128];
	long status;    /* the final status, 0 until known */
	bool head_done; /* head reported */
	bool got_byte;  /* any byte of the response */
	bool got_body;  /* any body byte of a 2xx answer */
	enum parley_xfer_stop stop;
	struct parley_buf errbody;
	int64_t started_ns, last_byte_ns;
};

struct parley_xfer_runner {
	CURLM *multi;
	struct parley_xfer *active;
	int nactive;
	/* Called after a transfer's end callback, just before it is freed;
	 * arg is the runner's. */
	void (*ended)(void *arg, struct parley_xfer *x, enum parley_speech_end end,
		      enum parley_speech_cause cause);
	void *arg;
};

/* The metric label of a cause the transfer layer reports ("timeout", ...);
 * NULL for the others. */
const char *parley_xfer_cause_label(enum parley_speech_cause c);

/* Monotonic nanoseconds. */
int64_t parley_xfer_now_ns(void);

/* A transfer taking over rq's owned parts (rq's pointers are cleared), with
 * a copy of cb; NULL on OOM (rq's parts are freed then). */
struct parley_xfer *parley_xfer_new(struct parley_http_request *rq,
				    const struct parley_http_callbacks *cb);

/* Frees a transfer that never started and never ended (a refused submit). */
void parley_xfer_free(struct parley_xfer *x);

/* Starts x on run; on failure it ends at once (INTERNAL). */
void parley_xfer_start(struct parley_xfer_runner *run, struct parley_xfer *x);

/* Ends x: takes it off run when running (closing its connection if the
 * answer is still coming: the service sees it), calls its end callback
 * (message NULL for OK), then run->ended, then frees x. */
void parley_xfer_end(struct parley_xfer_runner *run, struct parley_xfer *x,
		     enum parley_speech_end end, enum parley_speech_cause cause,
		     const char *message);

/* One pass: lets curl work, ends finished and overdue transfers; lowers
 * *next_ms to the ms until something is next due. */
void parley_xfer_step(struct parley_xfer_runner *run, long *next_ms);

/* Lowers *next_ms to the ms from now_ns until deadline_ns (at least 0). */
void parley_xfer_due_in(int64_t now_ns, int64_t deadline_ns, long *next_ms);

#endif
