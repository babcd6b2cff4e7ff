#include "net/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/utf8.h"

#define ERRBODY_MAX 4096  /* a non-2xx body's head, handed to end */
#define IDLE_WAIT_MS 1000 /* nothing due: submit and cancel wake the thread anyway */
#define ABORT_POLL_MS 50  /* run_blocking: how often the abort flag is read */
#define WHERE_MAX 160     /* "host:port" */

/*
 * Threads and locks. One mutex per pool guards the lanes' queues and
 * counters, the cancel list, next_id and stopping. Everything a transfer
 * owns (struct req once admitted, the multi handle's contents, the active
 * list) belongs to the thread that runs it: the pool's thread, or the
 * caller of parley_http_run_blocking for its own private runner. No
 * callback is ever called with the lock held, so a callback may submit or
 * cancel.
 */

struct parley_http_lane;

enum stop_reason { STOP_NONE = 0, STOP_BODY, STOP_HEAD };

struct req {
	struct req *next; /* in a lane's queue (under lock), then in the runner's active list */
	uint64_t id;
	struct parley_http_lane *lane; /* NULL for run_blocking */
	struct parley_http_request rq; /* owns headers and body */
	struct parley_http_callbacks cb;
	CURL *easy;
	char curl_err[CURL_ERROR_SIZE];
	char where[WHERE_MAX]; /* "host:port" for messages, never the URL */
	char ctype[128];
	long status;      /* the final status, 0 until known */
	bool head_done;   /* head reported (or not needed) */
	bool got_byte;    /* any byte of the response */
	bool got_body;    /* any body byte of a 2xx answer */
	enum stop_reason stop;
	struct parley_buf errbody; /* a non-2xx answer's body, up to ERRBODY_MAX */
	int64_t submitted_ns, started_ns, last_byte_ns;
	bool admitted; /* counted in lane->admitted */
};

/* The transfers one thread runs: the pool's, or run_blocking's own. */
struct runner {
	CURLM *multi;
	struct req *active;
	int nactive;
	bool freed; /* a lane slot came free during this pass */
	int blocking_rc; /* run_blocking: 0 when end reported OK */
};

/* Causes the pool reports, with their metric labels. */
static const char *const cause_labels[PARLEY_SPEECH_CAUSE_COUNT] = {
	[PARLEY_SPEECH_CAUSE_UNAVAILABLE] = "unavailable",
	[PARLEY_SPEECH_CAUSE_TIMEOUT] = "timeout",
	[PARLEY_SPEECH_CAUSE_HTTP] = "http_status",
	[PARLEY_SPEECH_CAUSE_BROKEN] = "broken",
	[PARLEY_SPEECH_CAUSE_INTERNAL] = "internal",
};

struct parley_http_lane {
	struct parley_http_lane *next; /* the pool's lanes (under lock) */
	struct parley_http_pool *pool;
	const char *name;
	int max_inflight, max_queue;
	/* guarded by pool->lock */
	struct req *wait_head, *wait_tail;
	int nwaiting;
	int admitted; /* started and not yet ended */
	/* metrics (atomic) */
	struct parley_gauge m_inflight, m_queue;
	struct parley_counter m_requests;
	struct parley_counter m_errors[PARLEY_SPEECH_CAUSE_COUNT];
};

struct parley_http_pool {
	pthread_mutex_t lock;
	/* guarded by lock */
	struct parley_http_lane *lanes;
	uint64_t next_id;
	uint64_t *cancels;
	size_t ncancels, cancels_cap;
	bool stopping;

	struct runner run; /* pool thread only (multi: curl_multi_wakeup from any thread) */
	pthread_t thread;
	bool thread_started;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t ms_ns(long ms)
{
	return (int64_t)ms * 1000000;
}

/* ---- requests ---------------------------------------------------------- */

static void request_clear(struct parley_http_request *rq)
{
	curl_slist_free_all(rq->headers);
	rq->headers = NULL;
	free(rq->body);
	rq->body = NULL;
}

static void req_free(struct req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	request_clear(&r->rq);
	parley_buf_free(&r->errbody);
	free(r);
}

/* "host:port" of the URL, or "the service" when it cannot be parsed. The
 * path, query and credentials are never shown. */
static void describe_where(const char *url, char *out, size_t cap)
{
	snprintf(out, cap, "the service");
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	parley_utf8_format(out, cap, "%s:%s", host, port);
out:
	curl_free(port);
	curl_free(host);
	curl_url_cleanup(u);
}

/* Reports the end, releases the lane slot, frees r. r must be detached. */
static void req_end(struct runner *run, struct req *r, enum parley_speech_end end,
		    enum parley_speech_cause cause, const char *message)
{
	struct parley_http_lane *lane = r->lane;
	const char *name = lane ? lane->name : "blocking";
	if (end == PARLEY_SPEECH_ERROR) {
		if (lane && cause_labels[cause])
			parley_counter_add(&lane->m_errors[cause], 1);
		PARLEY_DEBUG("http %s request %llu failed (%s): %s%s%s", name,
			     (unsigned long long)r->id, cause_labels[cause] ? cause_labels[cause] : "?",
			     message, r->curl_err[0] ? "; curl: " : "", r->curl_err);
	} else {
		PARLEY_DEBUG("http %s request %llu %s", name, (unsigned long long)r->id,
			     end == PARLEY_SPEECH_OK ? "done" : "cancelled");
	}
	bool http = end == PARLEY_SPEECH_ERROR && cause == PARLEY_SPEECH_CAUSE_HTTP;
	r->cb.end(r->cb.arg, end, cause, r->status, end == PARLEY_SPEECH_OK ? NULL : message,
		  http ? parley_buf_str(&r->errbody) : NULL, http ? r->errbody.len : 0);
	if (!lane)
		run->blocking_rc = end == PARLEY_SPEECH_OK ? 0 : -1;
	if (r->admitted) {
		pthread_mutex_lock(&lane->pool->lock);
		lane->admitted--;
		parley_gauge_set(&lane->m_inflight, lane->admitted);
		run->freed = run->freed || lane->wait_head;
		pthread_mutex_unlock(&lane->pool->lock);
	}
	req_free(r);
}

/* ---- transfer callbacks (the runner's thread) -------------------------- */

/* Calls head once; false when it asked to stop. */
static bool report_head(struct req *r)
{
	if (r->head_done)
		return true;
	r->head_done = true;
	if (r->cb.head && r->cb.head(r->cb.arg, r->status, r->ctype) != 0) {
		r->stop = STOP_HEAD;
		return false;
	}
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb;
	r->got_byte = true;
	r->last_byte_ns = now_ns();
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a status line: a new header block */
		const char *sp = memchr(data, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->ctype[0] = '\0';
		return n;
	}
	if (n >= 13 && strncasecmp(data, "content-type:", 13) == 0) {
		size_t i = 13, j = n;
		while (i < j && (data[i] == ' ' || data[i] == '\t'))
			i++;
		while (j > i && (data[j - 1] == '\r' || data[j - 1] == '\n' || data[j - 1] == ' '))
			j--;
		size_t len = parley_utf8_cut(data + i, j - i, sizeof r->ctype - 1);
		memcpy(r->ctype, data + i, len);
		r->ctype[len] = '\0';
		return n;
	}
	/* The blank line ends a block; 1xx blocks (100 Continue) are followed by
	 * the real one. */
	if ((n == 2 && data[0] == '\r') || (n == 1 && data[0] == '\n')) {
		if (r->status >= 200 && r->status / 100 == 2 && !report_head(r))
			return 0;
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb;
	r->got_byte = true;
	r->last_byte_ns = now_ns();
	if (!r->status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status / 100 != 2) {
		parley_buf_append_head(&r->errbody, data, n);
		return n;
	}
	if (!report_head(r))
		return 0;
	r->got_body = true;
	if (r->cb.body && r->cb.body(r->cb.arg, data, n) != 0) {
		r->stop = STOP_BODY;
		return 0;
	}
	return n;
}

/* ---- the runner -------------------------------------------------------- */

static void unlink_active(struct runner *run, struct req *r)
{
	for (struct req **p = &run->active; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			run->nactive--;
			return;
		}
	}
}

/* Takes r off the multi handle, closing its connection when the transfer
 * is still going (the service sees it), and off the active list. */
static void detach(struct runner *run, struct req *r)
{
	if (r->easy) {
		curl_multi_remove_handle(run->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	unlink_active(run, r);
}

static int configure(struct req *r)
{
	struct parley_http_request *rq = &r->rq;
	CURL *e = r->easy;
	/* No "Expect: 100-continue" on large bodies: small services do not
	 * answer it and curl would wait a second for nothing. */
	struct curl_slist *h = curl_slist_append(rq->headers, "Expect:");
	if (!h)
		return PARLEY_E_NOMEM;
	rq->headers = h;
	const char *method = rq->method ? rq->method : rq->body ? "POST" : "GET";
	int rc = 0;
	rc |= curl_easy_setopt(e, CURLOPT_URL, rq->url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
	if (rq->body || strcmp(method, "POST") == 0) {
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
	}
	if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
		rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		rc |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	/* HTTP/1.1: one connection per request, so a cancel closes that
	 * request's connection and nothing else. */
	rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	if (rq->connect_timeout_ms > 0)
		rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
	return rc ? PARLEY_E_INVAL : 0;
}

/* Starts r's transfer on run (r is admitted); ends it at once on failure. */
static void start(struct runner *run, struct req *r)
{
	r->started_ns = r->last_byte_ns = now_ns();
	r->next = run->active;
	run->active = r;
	run->nactive++;
	describe_where(r->rq.url, r->where, sizeof r->where);
	r->easy = curl_easy_init();
	int rc = r->easy ? configure(r) : PARLEY_E_NOMEM;
	if (rc == 0 && curl_multi_add_handle(run->multi, r->easy) != CURLM_OK)
		rc = PARLEY_E_NOMEM;
	if (rc != 0) {
		detach(run, r);
		req_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_INTERNAL,
			rc == PARLEY_E_NOMEM ? "out of memory starting a request to the service"
					     : "the request to the service could not be set up");
		return;
	}
	PARLEY_DEBUG("http %s request %llu started", r->lane ? r->lane->name : "blocking",
		     (unsigned long long)r->id);
}

/* A transfer curl has finished: decide how it ended. */
static void complete(struct runner *run, struct req *r, CURLcode result)
{
	char msg[320];
	if (!r->status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	long os_errno = 0;
	curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
	double connect_s = 0;
	curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME, &connect_s);
	long connect_ms = r->rq.connect_timeout_ms;
	detach(run, r);

	if (r->stop == STOP_BODY) { /* the reader had what it needed */
		req_end(run, r, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, NULL);
		return;
	}
	if (r->stop == STOP_HEAD) {
		parley_utf8_format(msg, sizeof msg,
				   "the service's answer (HTTP %ld, %s) was not usable", r->status,
				   r->ctype[0] ? r->ctype : "no Content-Type");
		req_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_BROKEN, msg);
		return;
	}
	if (r->status && r->status / 100 != 2) {
		parley_utf8_format(msg, sizeof msg, "the service answered HTTP %ld", r->status);
		req_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_HTTP, msg);
		return;
	}
	if (result == CURLE_OK) {
		if (r->cb.head && !r->head_done)
			report_head(r); /* an answer without a blank line (cannot happen in HTTP/1.1) */
		req_end(run, r, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, NULL);
		return;
	}
	enum parley_speech_cause cause;
	char oserr[128] = "";
	switch (result) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		parley_utf8_format(msg, sizeof msg,
				   "cannot connect to the service at %s: its host name does not resolve",
				   r->where);
		break;
	case CURLE_COULDNT_CONNECT:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		if (os_errno && strerror_r((int)os_errno, oserr, sizeof oserr) != 0)
			oserr[0] = '\0';
		parley_utf8_format(msg, sizeof msg, "cannot connect to the service at %s: %s",
				   r->where, oserr[0] ? oserr : "connection failed");
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		parley_utf8_format(msg, sizeof msg, "cannot connect to the service at %s: %s",
				   r->where, curl_easy_strerror(result));
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		snprintf(msg, sizeof msg, "the service's URL is not usable (%s)",
			 curl_easy_strerror(result));
		break;
	case CURLE_OPERATION_TIMEDOUT: /* only curl's connect timeout is set */
		cause = PARLEY_SPEECH_CAUSE_TIMEOUT;
		if (connect_s <= 0)
			parley_utf8_format(msg, sizeof msg,
					   "cannot connect to the service at %s within %ld ms",
					   r->where, connect_ms);
		else
			parley_utf8_format(msg, sizeof msg, "the service at %s timed out", r->where);
		break;
	case CURLE_OUT_OF_MEMORY:
		cause = PARLEY_SPEECH_CAUSE_INTERNAL;
		snprintf(msg, sizeof msg, "out of memory during a request to the service");
		break;
	default:
		cause = PARLEY_SPEECH_CAUSE_BROKEN;
		parley_utf8_format(msg, sizeof msg, "the connection to the service at %s broke %s",
				   r->where,
				   r->got_body ? "mid-answer"
				   : r->got_byte ? "before the answer's body"
						 : "before any answer");
		break;
	}
	req_end(run, r, PARLEY_SPEECH_ERROR, cause, msg);
}

/* Reads what curl has finished. */
static void collect(struct runner *run)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(run->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct req *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		complete(run, r, m->data.result);
	}
}

/* Minimum of *next and the ms until deadline (>= 0). */
static void due_in(int64_t now, int64_t deadline, long *next)
{
	int64_t ms = (deadline - now + 999999) / 1000000;
	if (ms < 0)
		ms = 0;
	if (ms < *next)
		*next = (long)ms;
}

/* Ends active transfers past a deadline; lowers *next to the ms until the
 * next one is due. */
static void tick(struct runner *run, long *next)
{
	int64_t now = now_ns();
	struct req *r = run->active;
	while (r) {
		struct req *nx = r->next;
		const struct parley_http_request *q = &r->rq;
		char msg[200] = "";
		if (q->total_timeout_ms > 0) {
			int64_t d = r->started_ns + ms_ns(q->total_timeout_ms);
			if (now >= d)
				snprintf(msg, sizeof msg, "the service did not finish within %ld ms",
					 q->total_timeout_ms);
			else
				due_in(now, d, next);
		}
		if (!msg[0] && !r->got_byte && q->first_byte_timeout_ms > 0) {
			int64_t d = r->started_ns + ms_ns(q->first_byte_timeout_ms);
			if (now >= d)
				snprintf(msg, sizeof msg, "the service did not answer within %ld ms",
					 q->first_byte_timeout_ms);
			else
				due_in(now, d, next);
		}
		if (!msg[0] && r->got_byte && q->stall_timeout_ms > 0) {
			int64_t d = r->last_byte_ns + ms_ns(q->stall_timeout_ms);
			if (now >= d)
				snprintf(msg, sizeof msg,
					 "the service stopped sending for %ld ms mid-answer",
					 q->stall_timeout_ms);
			else
				due_in(now, d, next);
		}
		if (msg[0]) {
			detach(run, r);
			req_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_TIMEOUT, msg);
		}
		r = nx;
	}
}

/* One pass of curl's work, then ends what is due. */
static void step(struct runner *run, long *next)
{
	int running = 0;
	curl_multi_perform(run->multi, &running);
	collect(run);
	tick(run, next);
	long ct = -1;
	curl_multi_timeout(run->multi, &ct);
	if (ct >= 0 && ct < *next)
		*next = ct;
}

/* ---- the pool thread --------------------------------------------------- */

static void lane_gauges(struct parley_http_lane *l)
{
	parley_gauge_set(&l->m_queue, l->nwaiting);
	parley_gauge_set(&l->m_inflight, l->admitted);
}

/* Under lock: takes r out of its lane's queue (prev is its predecessor). */
static void unqueue(struct parley_http_lane *l, struct req *prev, struct req *r)
{
	if (prev)
		prev->next = r->next;
	else
		l->wait_head = r->next;
	if (l->wait_tail == r)
		l->wait_tail = prev;
	l->nwaiting--;
	r->next = NULL;
}

static void push(struct req **list, struct req *r)
{
	r->next = *list;
	*list = r;
}

/* Reverses a list built by push(), so ends and starts keep FIFO order. */
static struct req *reversed(struct req *r)
{
	struct req *out = NULL;
	while (r) {
		struct req *nx = r->next;
		push(&out, r);
		r = nx;
	}
	return out;
}

static void *pool_main(void *arg)
{
	struct parley_http_pool *p = arg;
	struct runner *run = &p->run;
	for (;;) {
		struct req *dropped = NULL, *expired = NULL, *admit = NULL;
		long next = IDLE_WAIT_MS;
		int64_t now = now_ns();

		pthread_mutex_lock(&p->lock);
		bool stopping = p->stopping;
		uint64_t *cancels = p->cancels;
		size_t ncancels = p->ncancels;
		p->cancels = NULL;
		p->ncancels = p->cancels_cap = 0;
		for (struct parley_http_lane *l = p->lanes; l; l = l->next) {
			struct req *prev = NULL, *r = l->wait_head;
			while (r) {
				struct req *nx = r->next;
				bool cancelled = stopping;
				for (size_t i = 0; i < ncancels && !cancelled; i++) {
					if (cancels[i] == r->id) {
						cancelled = true;
						cancels[i] = 0; /* handled */
					}
				}
				int64_t qd = r->submitted_ns + ms_ns(r->rq.queue_timeout_ms);
				if (cancelled) {
					unqueue(l, prev, r);
					push(&dropped, r);
				} else if (r->rq.queue_timeout_ms > 0 && now >= qd &&
					   l->admitted >= l->max_inflight) {
					unqueue(l, prev, r);
					push(&expired, r);
				} else {
					prev = r;
				}
				r = nx;
			}
			while (!stopping && l->admitted < l->max_inflight && l->wait_head) {
				struct req *r2 = l->wait_head;
				unqueue(l, NULL, r2);
				l->admitted++;
				r2->admitted = true;
				push(&admit, r2);
			}
			for (struct req *w = l->wait_head; w; w = w->next)
				if (w->rq.queue_timeout_ms > 0)
					due_in(now, w->submitted_ns + ms_ns(w->rq.queue_timeout_ms),
					       &next);
			lane_gauges(l);
		}
		pthread_mutex_unlock(&p->lock);

		for (struct req *r = reversed(dropped); r;) {
			struct req *nx = r->next;
			req_end(run, r, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
				stopping ? "the server is shutting down" : "cancelled");
			r = nx;
		}
		for (struct req *r = reversed(expired); r;) {
			struct req *nx = r->next;
			char msg[200];
			snprintf(msg, sizeof msg,
				 "the service is saturated: no free slot within %ld ms "
				 "(%d requests at once at most)",
				 r->rq.queue_timeout_ms, r->lane->max_inflight);
			req_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_TIMEOUT, msg);
			r = nx;
		}
		for (struct req *r = reversed(admit); r;) {
			struct req *nx = r->next;
			start(run, r);
			r = nx;
		}
		/* Cancels of running requests; ids not found have ended or never
		 * existed. */
		for (size_t i = 0; i < ncancels; i++) {
			if (!cancels[i])
				continue;
			for (struct req *r = run->active; r; r = r->next) {
				if (r->id == cancels[i]) {
					detach(run, r);
					req_end(run, r, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
						"cancelled");
					break;
				}
			}
		}
		free(cancels);

		if (stopping) {
			while (run->active) {
				struct req *r = run->active;
				detach(run, r);
				req_end(run, r, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
					"the server is shutting down");
			}
			break;
		}

		run->freed = false;
		step(run, &next);
		if (run->freed)
			next = 0; /* a slot came free: admit at once */
		curl_multi_poll(run->multi, NULL, 0, (int)next, NULL);
	}
	return NULL;
}

/* ---- public API -------------------------------------------------------- */

struct parley_http_pool *parley_http_pool_create(void)
{
	struct parley_http_pool *p = calloc(1, sizeof *p);
	if (!p) {
		PARLEY_ERROR("http pool: out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->run.multi = curl_multi_init();
	if (!p->run.multi) {
		PARLEY_ERROR("http pool: cannot create a curl multi handle");
		goto fail;
	}
	if (pthread_create(&p->thread, NULL, pool_main, p) != 0) {
		PARLEY_ERROR("http pool: cannot start its thread");
		goto fail;
	}
	p->thread_started = true;
	return p;
fail:
	parley_http_pool_destroy(p);
	return NULL;
}

static void lane_unregister(struct parley_http_lane *l)
{
	parley_metrics_unregister(&l->m_inflight);
	parley_metrics_unregister(&l->m_queue);
	parley_metrics_unregister(&l->m_requests);
	for (int c = 0; c < PARLEY_SPEECH_CAUSE_COUNT; c++)
		parley_metrics_unregister(&l->m_errors[c]);
}

void parley_http_pool_destroy(struct parley_http_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_mutex_unlock(&p->lock);
	if (p->thread_started) {
		curl_multi_wakeup(p->run.multi);
		pthread_join(p->thread, NULL);
	}
	while (p->lanes) {
		struct parley_http_lane *l = p->lanes;
		p->lanes = l->next;
		lane_unregister(l);
		free(l);
	}
	if (p->run.multi)
		curl_multi_cleanup(p->run.multi);
	free(p->cancels);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct parley_http_lane *parley_http_lane_create(struct parley_http_pool *p, const char *name,
						 int max_inflight, int max_queue)
{
	struct parley_http_lane *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->pool = p;
	l->name = name;
	l->max_inflight = max_inflight > 0 ? max_inflight : 1;
	l->max_queue = max_queue > 0 ? max_queue : 0;
	int rc = parley_metrics_register_gauge("parley_http_inflight",
					       "speech-service requests running, by lane", "lane",
					       name, &l->m_inflight);
	rc = rc ? rc : parley_metrics_register_gauge("parley_http_queue",
						     "speech-service requests waiting for a slot",
						     "lane", name, &l->m_queue);
	rc = rc ? rc : parley_metrics_register_counter("parley_http_requests_total",
						       "speech-service requests accepted", "lane",
						       name, &l->m_requests);
	for (int c = 0; c < PARLEY_SPEECH_CAUSE_COUNT && !rc; c++)
		if (cause_labels[c])
			rc = parley_metrics_register_counter2(
				"parley_http_errors_total", "speech-service requests failed, by cause",
				"lane", name, "cause", cause_labels[c], &l->m_errors[c]);
	if (rc) {
		lane_unregister(l);
		free(l);
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	l->next = p->lanes;
	p->lanes = l;
	pthread_mutex_unlock(&p->lock);
	return l;
}

/* A request record taking over req's owned parts; NULL on OOM (they are
 * freed then). */
static struct req *req_new(struct parley_http_request *rq, const struct parley_http_callbacks *cb)
{
	struct req *r = calloc(1, sizeof *r);
	if (!r) {
		request_clear(rq);
		return NULL;
	}
	r->rq = *rq;
	rq->headers = NULL;
	rq->body = NULL;
	r->cb = *cb;
	r->submitted_ns = now_ns();
	parley_buf_init(&r->errbody, ERRBODY_MAX);
	return r;
}

int parley_http_submit(struct parley_http_lane *lane, struct parley_http_request *req,
		       const struct parley_http_callbacks *cb, uint64_t *id)
{
	struct parley_http_pool *p = lane->pool;
	struct req *r = req_new(req, cb);
	if (!r)
		return PARLEY_E_NOMEM;
	r->lane = lane;
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		rc = PARLEY_E_CLOSED;
	} else if (lane->nwaiting + lane->admitted >= lane->max_inflight + lane->max_queue) {
		rc = PARLEY_E_FULL;
	} else {
		r->id = ++p->next_id;
		*id = r->id;
		if (lane->wait_tail)
			lane->wait_tail->next = r;
		else
			lane->wait_head = r;
		lane->wait_tail = r;
		lane->nwaiting++;
		parley_gauge_set(&lane->m_queue, lane->nwaiting);
	}
	pthread_mutex_unlock(&p->lock);
	if (rc) {
		req_free(r);
		return rc;
	}
	parley_counter_add(&lane->m_requests, 1);
	curl_multi_wakeup(p->run.multi);
	return 0;
}

void parley_http_cancel(struct parley_http_pool *p, uint64_t id)
{
	if (!p || !id)
		return;
	bool ok = true;
	pthread_mutex_lock(&p->lock);
	if (id > p->next_id) { /* never issued */
		pthread_mutex_unlock(&p->lock);
		return;
	}
	if (p->ncancels == p->cancels_cap) {
		size_t cap = p->cancels_cap ? p->cancels_cap * 2 : 16;
		uint64_t *n = realloc(p->cancels, cap * sizeof *n);
		if (n) {
			p->cancels = n;
			p->cancels_cap = cap;
		} else {
			ok = false;
		}
	}
	if (ok)
		p->cancels[p->ncancels++] = id;
	pthread_mutex_unlock(&p->lock);
	if (!ok)
		PARLEY_ERROR("http pool: out of memory cancelling request %llu",
			     (unsigned long long)id);
	curl_multi_wakeup(p->run.multi);
}

int parley_http_run_blocking(struct parley_http_request *req,
			     const struct parley_http_callbacks *cb)
{
	struct runner run = { .blocking_rc = -1 };
	struct req *r = req_new(req, cb);
	run.multi = r ? curl_multi_init() : NULL;
	if (!run.multi) {
		cb->end(cb->arg, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_INTERNAL, 0,
			"out of memory starting a request to the service", NULL, 0);
		if (r)
			req_free(r);
		return -1;
	}
	start(&run, r);
	while (run.active) {
		if (r->rq.abort && atomic_load(r->rq.abort)) {
			detach(&run, r);
			req_end(&run, r, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
				"cancelled");
			break;
		}
		long next = r->rq.abort ? ABORT_POLL_MS : IDLE_WAIT_MS;
		step(&run, &next);
		if (run.active)
			curl_multi_poll(run.multi, NULL, 0, (int)next, NULL);
	}
	curl_multi_cleanup(run.multi);
	return run.blocking_rc;
}
