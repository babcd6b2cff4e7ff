#include "llm/engine.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm/backend.h"
#include "llm/fetch.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/readiness.h"
#include "util/redact.h"
#include "util/utf8.h"

#define ERRBODY_MAX 65536
#define POLL_MAX_MS 50
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define WARMUP_MAX_TOKENS 48
#define CAUSE_MAX 120        /* an error's cause as a client sees it */
#define CLIENT_REASON_MAX 200 /* why the LLM is not ready, as a client sees it */
#define READY_REASON_MAX 240  /* the same for /readyz (fits its 256-byte slot) */
#define BODY_LOG_MAX 2000     /* an error body's head, for the log */

struct req {
	struct req *next;
	uint64_t id;
	json_t *messages;
	struct parley_llm_callbacks cb;
	struct parley_llm_engine *e;
	void *stream;
	CURL *easy;
	struct parley_http_req http;
	char curl_err[CURL_ERROR_SIZE];
	long status;            /* HTTP status, 0 until known */
	struct parley_buf errbody; /* head of a non-2xx answer's body */
	int64_t submitted_ns, started_ns, last_data_ns, next_local_ns;
	bool got_token;
	bool parser_done;
	bool parser_error;
	bool admitted;          /* counted in e->admitted */
	char message[512];
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
	struct req *wait_head, *wait_tail; /* submitted, not admitted (FIFO) */
	size_t nwaiting;
	uint64_t *cancels;
	size_t ncancels, cancels_cap;
	uint64_t next_id;
	int admitted;                 /* requests started and not yet ended */
	bool stopping;
	atomic_bool abort;            /* set with stopping: blocking warm-up transfers give up */
	void (*on_state)(void *);
	void *on_state_arg;

	/* engine thread only */
	CURLM *multi;
	struct req *active;
	int nactive;

	pthread_t thread, warm_thread;
	bool thread_started, warm_started;
	int readiness_id;
};

/* ---- metrics ---------------------------------------------------------- */

static struct parley_histogram m_ttft;
static struct parley_gauge m_inflight, m_queue;
static struct parley_counter m_errors[PARLEY_LLM_CAUSE_COUNT];
static struct parley_counter m_requests;
static struct parley_gauge_f m_warm_s, m_warm_ttft_s, m_warm_tps;

static const char *const cause_names[PARLEY_LLM_CAUSE_COUNT] = {
	[PARLEY_LLM_CAUSE_NONE] = "none",
	[PARLEY_LLM_CAUSE_UNAVAILABLE] = "unavailable",
	[PARLEY_LLM_CAUSE_HTTP] = "http_status",
	[PARLEY_LLM_CAUSE_BACKEND] = "backend_error",
	[PARLEY_LLM_CAUSE_BROKEN] = "broken_stream",
	[PARLEY_LLM_CAUSE_TIMEOUT] = "timeout",
	[PARLEY_LLM_CAUSE_INTERNAL] = "internal",
};

const char *parley_llm_cause_name(enum parley_llm_cause c)
{
	return (unsigned)c < PARLEY_LLM_CAUSE_COUNT ? cause_names[c] : "unknown";
}

const char *parley_llm_state_name(enum parley_llm_state s)
{
	switch (s) {
	case PARLEY_LLM_WARMING: return "warming";
	case PARLEY_LLM_READY: return "ready";
	case PARLEY_LLM_UNAVAILABLE: return "unavailable";
	}
	return "unknown";
}

static int register_metrics(void)
{
	parley_histogram_init(&m_ttft, parley_latency_bounds, parley_latency_nbounds);
	int rc = parley_metrics_register_histogram(
		"parley_llm_first_token_seconds", "LLM request admitted to first token", &m_ttft);
	rc = rc ? rc : parley_metrics_register_gauge("parley_llm_requests_inflight",
						     "LLM requests streaming now", NULL, NULL,
						     &m_inflight);
	rc = rc ? rc : parley_metrics_register_gauge("parley_llm_queue_depth",
						     "turns waiting for an LLM slot", NULL, NULL,
						     &m_queue);
	rc = rc ? rc : parley_metrics_register_counter("parley_llm_requests_total",
						       "LLM requests submitted", NULL, NULL,
						       &m_requests);
	for (int i = 1; i < PARLEY_LLM_CAUSE_COUNT && !rc; i++)
		rc = parley_metrics_register_counter("parley_llm_errors_total",
						     "LLM requests failed, by cause", "cause",
						     cause_names[i], &m_errors[i]);
	rc = rc ? rc : parley_metrics_register_gauge_f("parley_llm_warmup_seconds",
						       "duration of the successful LLM warm-up",
						       &m_warm_s);
	rc = rc ? rc : parley_metrics_register_gauge_f(
			       "parley_llm_warm_first_token_seconds",
			       "time to first token measured at warm-up", &m_warm_ttft_s);
	rc = rc ? rc : parley_metrics_register_gauge_f(
			       "parley_llm_warm_tokens_per_second",
			       "generation speed measured at warm-up, in tokens per second",
			       &m_warm_tps);
	return rc;
}

/* ---- helpers ---------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void req_free(struct req *r)
{
	if (r->stream && r->e->backend)
		r->e->backend->stream_free(r->stream);
	parley_http_req_clear(&r->http);
	json_decref(r->messages);
	parley_buf_free(&r->errbody);
	free(r);
}

/* Engine thread (or stop): reports the end and frees the request. */
static void req_end(struct req *r, enum parley_llm_end end, enum parley_llm_cause cause,
		    const char *message)
{
	/* The whole message goes to the log (which masks keys); the session
	 * gets a short cause with keys and URLs masked, cut on a character
	 * boundary. */
	char cause_text[CAUSE_MAX + 8];
	if (end == PARLEY_LLM_END_ERROR) {
		parley_counter_add(&m_errors[cause], 1);
		PARLEY_WARN("llm request %llu failed (%s): %s", (unsigned long long)r->id,
			    cause_names[cause], message);
		parley_redact_cause(message, strlen(message), PARLEY_REDACT_URLS, CAUSE_MAX,
				    cause_text, sizeof cause_text);
		message = cause_text;
	}
	r->cb.end(r->cb.ud, end, cause, end == PARLEY_LLM_END_OK ? NULL : message);
	if (r->admitted) {
		pthread_mutex_lock(&r->e->lock);
		r->e->admitted--;
		pthread_mutex_unlock(&r->e->lock);
	}
	req_free(r);
}

/* ---- sink: what the backend's parser reports -------------------------- */

static void sink_token(void *arg, const char *text, size_t len)
{
	struct req *r = arg;
	if (!r->got_token) {
		r->got_token = true;
		parley_histogram_observe(&m_ttft, (double)(now_ns() - r->started_ns) / 1e9);
	}
	r->cb.token(r->cb.ud, text, len);
}

static void sink_done(void *arg, const char *reason)
{
	struct req *r = arg;
	r->parser_done = true;
	PARLEY_DEBUG("llm request %llu: done (%s)", (unsigned long long)r->id, reason);
}

static void sink_error(void *arg, const char *message)
{
	struct req *r = arg;
	r->parser_error = true;
	parley_utf8_format(r->message, sizeof r->message, "%s", message);
}

/* ---- the engine thread ------------------------------------------------ */

/* Body chunks of a non-2xx answer are not a stream: keep their head for the
 * error message. Returns true when the chunk was such a chunk. Learns the
 * status on the first call. */
static bool keep_error_body(CURL *easy, long *status, struct parley_buf *errbody,
			    const char *data, size_t n)
{
	if (!*status)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
	if (*status / 100 == 2)
		return false;
	parley_buf_append_head(errbody, data, n);
	return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb;
	r->last_data_ns = now_ns();
	if (keep_error_body(r->easy, &r->status, &r->errbody, data, n))
		return n;
	r->e->backend->stream_feed(r->stream, data, n);
	return r->parser_error ? 0 : n; /* an error in the stream ends the transfer */
}

static void unlink_active(struct parley_llm_engine *e, struct req *r)
{
	for (struct req **p = &e->active; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			e->nactive--;
			parley_gauge_set(&m_inflight, e->nactive);
			return;
		}
	}
}

/* Removes r from the multi handle (closing its connection if the transfer
 * is still going: the backend sees it) and from the active list. */
static void detach(struct parley_llm_engine *e, struct req *r)
{
	if (r->easy) {
		curl_multi_remove_handle(e->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	unlink_active(e, r);
}

static void start(struct parley_llm_engine *e, struct req *r)
{
	struct parley_llm_sink sink = { sink_token, sink_done, sink_error, r };
	r->started_ns = r->last_data_ns = now_ns();
	r->next = e->active;
	e->active = r;
	e->nactive++;
	parley_gauge_set(&m_inflight, e->nactive);

	r->stream = e->backend->stream_new(r->messages, &sink);
	if (!r->stream)
		goto oom;
	if (e->backend->local) {
		r->next_local_ns = r->started_ns;
		return;
	}
	if (e->backend->chat_request(&e->target, r->messages, 0, &r->http) != 0)
		goto oom;
	r->easy = curl_easy_init();
	if (!r->easy)
		goto oom;
	curl_easy_setopt(r->easy, CURLOPT_URL, r->http.url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->http.headers);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->http.body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)e->cfg->llm_connect_timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can decode */
	if (curl_multi_add_handle(e->multi, r->easy) != CURLM_OK)
		goto oom;
	PARLEY_DEBUG("llm request %llu started (%d in flight)", (unsigned long long)r->id,
		     e->nactive);
	return;
oom:
	detach(e, r);
	req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_INTERNAL, "out of memory");
}

/* A finished transfer: decide how the answer ended. */
static void complete(struct parley_llm_engine *e, struct req *r, CURLcode result)
{
	char msg[600];
	if (!r->status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	detach(e, r);

	if (r->parser_error) {
		req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_BACKEND, r->message);
		return;
	}
	if (r->status && r->status / 100 != 2) {
		char body[400];
		const char *raw = parley_buf_str(&r->errbody);
		PARLEY_WARN("llm request %llu: HTTP %ld from %s; body: %.*s",
			    (unsigned long long)r->id, r->status, r->http.url,
			    (int)parley_utf8_cut(raw, r->errbody.len, BODY_LOG_MAX), raw);
		e->backend->error_message(raw, r->errbody.len, body, sizeof body);
		parley_utf8_format(msg, sizeof msg, "the LLM server answered HTTP %ld: %s", r->status,
				   body);
		req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_HTTP, msg);
		return;
	}
	if (result == CURLE_OK || r->parser_done) {
		if (!r->parser_done)
			e->backend->stream_finish(r->stream);
		if (r->parser_done)
			req_end(r, PARLEY_LLM_END_OK, PARLEY_LLM_CAUSE_NONE, NULL);
		else
			req_end(r, PARLEY_LLM_END_ERROR,
				r->parser_error ? PARLEY_LLM_CAUSE_BACKEND : PARLEY_LLM_CAUSE_BROKEN,
				r->message[0] ? r->message : "the stream ended early");
		return;
	}
	const char *why = r->curl_err[0] ? r->curl_err : curl_easy_strerror(result);
	switch (result) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		parley_utf8_format(msg, sizeof msg, "cannot connect to the LLM server at %s: %s",
				   e->target.url, why);
		req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_UNAVAILABLE, msg);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		parley_utf8_format(msg, sizeof msg, "the LLM server at %s timed out: %s",
				   e->target.url, why);
		req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_TIMEOUT, msg);
		break;
	default:
		parley_utf8_format(msg, sizeof msg, "the connection to the LLM server broke %s: %s",
				   r->got_token ? "mid-answer" : "before the answer", why);
		req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_BROKEN, msg);
		break;
	}
}

/* Timeouts and local streams; returns ms until the next timer is due. */
static long tick(struct parley_llm_engine *e)
{
	int64_t now = now_ns();
	long next = POLL_MAX_MS;
	const struct parley_config *cfg = e->cfg;
	struct req *r = e->active;
	while (r) {
		struct req *nx = r->next;
		char msg[200];
		if (e->backend->local) {
			if (now >= r->next_local_ns) {
				int delay = e->backend->local_next(r->stream);
				if (delay < 0) {
					detach(e, r);
					req_end(r, PARLEY_LLM_END_OK, PARLEY_LLM_CAUSE_NONE, NULL);
				} else {
					r->next_local_ns = now + (int64_t)delay * 1000000;
					if (delay < next)
						next = delay;
				}
			}
		} else if (!r->got_token &&
			   now - r->started_ns > (int64_t)cfg->llm_first_token_timeout_ms * 1000000) {
			snprintf(msg, sizeof msg, "no answer from the LLM within %d ms",
				 cfg->llm_first_token_timeout_ms);
			detach(e, r);
			req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_TIMEOUT, msg);
		} else if (r->got_token &&
			   now - r->last_data_ns > (int64_t)cfg->llm_stall_timeout_ms * 1000000) {
			snprintf(msg, sizeof msg, "the LLM stopped sending for %d ms mid-answer",
				 cfg->llm_stall_timeout_ms);
			detach(e, r);
			req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_TIMEOUT, msg);
		}
		r = nx;
	}
	return next;
}

static void cancel_one(struct parley_llm_engine *e, uint64_t id, struct req **waiting)
{
	for (struct req **p = waiting; *p; p = &(*p)->next) {
		if ((*p)->id == id) {
			struct req *r = *p;
			*p = r->next;
			req_end(r, PARLEY_LLM_END_CANCELLED, PARLEY_LLM_CAUSE_NONE, "cancelled");
			return;
		}
	}
	for (struct req *r = e->active; r; r = r->next) {
		if (r->id == id) {
			detach(e, r);
			PARLEY_DEBUG("llm request %llu cancelled", (unsigned long long)id);
			req_end(r, PARLEY_LLM_END_CANCELLED, PARLEY_LLM_CAUSE_NONE, "cancelled");
			return;
		}
	}
}

static void *engine_main(void *arg)
{
	struct parley_llm_engine *e = arg;
	for (;;) {
		/* Take cancellations, and admit waiting requests into free slots. */
		struct req *admit = NULL, **admit_tail = &admit, *fail = NULL;
		uint64_t *cancels;
		size_t ncancels;
		char why[512] = "";

		pthread_mutex_lock(&e->lock);
		bool stopping = e->stopping;
		cancels = e->cancels;
		ncancels = e->ncancels;
		e->cancels = NULL;
		e->ncancels = e->cancels_cap = 0;
		/* Cancelled before admission: out of the queue at once, so a dead
		 * turn never holds a place (or a slot later). */
		struct req *dropped = NULL;
		for (size_t i = 0; i < ncancels; i++) {
			struct req *prev = NULL;
			for (struct req *r = e->wait_head; r; prev = r, r = r->next) {
				if (r->id != cancels[i])
					continue;
				if (prev)
					prev->next = r->next;
				else
					e->wait_head = r->next;
				if (e->wait_tail == r)
					e->wait_tail = prev;
				e->nwaiting--;
				r->next = dropped;
				dropped = r;
				cancels[i] = 0; /* handled */
				break;
			}
		}
		enum parley_llm_state state = e->info.state;
		if (state == PARLEY_LLM_UNAVAILABLE || stopping) { /* nobody waits on a dead backend */
			fail = e->wait_head;
			e->wait_head = e->wait_tail = NULL;
			e->nwaiting = 0;
			snprintf(why, sizeof why, "%s", e->info.reason);
		} else if (state == PARLEY_LLM_READY) {
			while (e->admitted < e->cfg->llm_max_inflight && e->wait_head) {
				struct req *r = e->wait_head;
				e->wait_head = r->next;
				if (!e->wait_head)
					e->wait_tail = NULL;
				e->nwaiting--;
				e->admitted++;
				r->admitted = true;
				r->next = NULL;
				*admit_tail = r;
				admit_tail = &r->next;
			}
		}
		parley_gauge_set(&m_queue, (int64_t)e->nwaiting);
		pthread_mutex_unlock(&e->lock);

		while (dropped) {
			struct req *r = dropped;
			dropped = r->next;
			req_end(r, PARLEY_LLM_END_CANCELLED, PARLEY_LLM_CAUSE_NONE, "cancelled");
		}
		/* The rest are running (or were admitted just now). */
		for (size_t i = 0; i < ncancels; i++)
			if (cancels[i])
				cancel_one(e, cancels[i], &admit);
		free(cancels);
		while (fail) {
			struct req *r = fail;
			fail = r->next;
			if (stopping)
				req_end(r, PARLEY_LLM_END_CANCELLED, PARLEY_LLM_CAUSE_NONE, "shutdown");
			else
				req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_UNAVAILABLE, why);
		}
		while (admit) {
			struct req *r = admit;
			admit = r->next;
			start(e, r);
		}

		if (stopping) {
			while (e->active) {
				struct req *r = e->active;
				detach(e, r);
				req_end(r, PARLEY_LLM_END_CANCELLED, PARLEY_LLM_CAUSE_NONE, "shutdown");
			}
			break;
		}

		int running = 0;
		curl_multi_perform(e->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(e->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct req *r = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			complete(e, r, m->data.result);
		}
		long wait = tick(e);
		long ctimeout = -1;
		curl_multi_timeout(e->multi, &ctimeout);
		if (ctimeout >= 0 && ctimeout < wait)
			wait = ctimeout;
		pthread_mutex_lock(&e->lock);
		bool can_admit = e->wait_head && e->admitted < e->cfg->llm_max_inflight &&
				 e->info.state == PARLEY_LLM_READY;
		pthread_mutex_unlock(&e->lock);
		if (can_admit)
			wait = 0; /* a slot freed during this pass: admit at once */
		else if (!e->nactive && state == PARLEY_LLM_READY)
			wait = 1000; /* idle: submit and cancel wake us */
		curl_multi_poll(e->multi, NULL, 0, (int)wait, NULL);
	}
	return NULL;
}

/* ---- warm-up thread --------------------------------------------------- */

struct warm_run {
	int64_t start_ns, first_ns, last_ns;
	int tokens;
	bool done, error;
	char message[512];
	size_t text_len;
	void *stream;
	const struct parley_llm_backend *backend;
	long status;
	CURL *easy;
	struct parley_buf errbody;
};

static void warm_token(void *arg, const char *text, size_t len)
{
	struct warm_run *w = arg;
	w->last_ns = now_ns();
	if (!w->tokens)
		w->first_ns = w->last_ns;
	w->tokens++;
	w->text_len += len;
}

static void warm_done(void *arg, const char *reason)
{
	((struct warm_run *)arg)->done = true;
}

static void warm_error(void *arg, const char *message)
{
	struct warm_run *w = arg;
	w->error = true;
	parley_utf8_format(w->message, sizeof w->message, "%s", message);
}

static size_t warm_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct warm_run *w = arg;
	size_t n = size * nmemb;
	if (keep_error_body(w->easy, &w->status, &w->errbody, data, n))
		return n;
	w->backend->stream_feed(w->stream, data, n);
	return w->error ? 0 : n;
}

/* Sends the system prompt with a short question through the real streaming
 * path and measures it. Returns 0 or -1 with why. */
static int measure(struct parley_llm_engine *e, double *ttft_ms, double *tps, char *why,
		   size_t whylen)
{
	const struct parley_llm_backend *b = e->backend;
	struct warm_run w = { .backend = b };
	parley_buf_init(&w.errbody, ERRBODY_MAX);
	struct parley_llm_sink sink = { warm_token, warm_done, warm_error, &w };
	json_t *messages = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content",
				     e->system_prompt, "role", "user", "content",
				     "Say hello in one short sentence.");
	struct parley_http_req http = { 0 };
	int rc = -1;

	w.stream = messages ? b->stream_new(messages, &sink) : NULL;
	if (!w.stream || b->chat_request(&e->target, messages, WARMUP_MAX_TOKENS, &http) != 0) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	char cerr[CURL_ERROR_SIZE] = "";
	w.easy = curl_easy_init();
	if (!w.easy) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	curl_easy_setopt(w.easy, CURLOPT_URL, http.url);
	curl_easy_setopt(w.easy, CURLOPT_HTTPHEADER, http.headers);
	curl_easy_setopt(w.easy, CURLOPT_POSTFIELDS, http.body);
	curl_easy_setopt(w.easy, CURLOPT_WRITEFUNCTION, warm_body);
	curl_easy_setopt(w.easy, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(w.easy, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(w.easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w.easy, CURLOPT_CONNECTTIMEOUT_MS, (long)e->cfg->llm_connect_timeout_ms);
	curl_easy_setopt(w.easy, CURLOPT_TIMEOUT_MS, 300000L); /* a cold model may load slowly */
	curl_easy_setopt(w.easy, CURLOPT_XFERINFOFUNCTION, parley_fetch_abort_cb);
	curl_easy_setopt(w.easy, CURLOPT_XFERINFODATA, (void *)&e->abort);
	curl_easy_setopt(w.easy, CURLOPT_NOPROGRESS, 0L);
	w.start_ns = now_ns();
	CURLcode cr = curl_easy_perform(w.easy);
	if (!w.status)
		curl_easy_getinfo(w.easy, CURLINFO_RESPONSE_CODE, &w.status);
	if (w.error) {
		parley_utf8_format(why, whylen, "warm-up answer failed: %s", w.message);
	} else if (w.status && w.status / 100 != 2) {
		char body[300];
		const char *raw = parley_buf_str(&w.errbody);
		PARLEY_WARN("llm warm-up: HTTP %ld from %s; body: %.*s", w.status, http.url,
			    (int)parley_utf8_cut(raw, w.errbody.len, BODY_LOG_MAX), raw);
		b->error_message(raw, w.errbody.len, body, sizeof body);
		parley_utf8_format(why, whylen, "warm-up request got HTTP %ld from %s: %s", w.status,
				   http.url, body);
	} else if (cr != CURLE_OK) {
		parley_utf8_format(why, whylen, "cannot reach the LLM server at %s: %s", e->target.url,
				   cerr[0] ? cerr : curl_easy_strerror(cr));
	} else {
		if (!w.done)
			b->stream_finish(w.stream);
		if (!w.done || !w.tokens) {
			parley_utf8_format(why, whylen, "warm-up answer was %s",
					   w.error ? w.message : "empty or incomplete");
		} else {
			*ttft_ms = (double)(w.first_ns - w.start_ns) / 1e6;
			double gen_s = (double)(w.last_ns - w.first_ns) / 1e9;
			*tps = w.tokens > 1 && gen_s > 0 ? (double)(w.tokens - 1) / gen_s : 0;
			rc = 0;
		}
	}
out:
	parley_buf_free(&w.errbody);
	if (w.easy)
		curl_easy_cleanup(w.easy);
	if (w.stream)
		b->stream_free(w.stream);
	parley_http_req_clear(&http);
	json_decref(messages);
	return rc;
}

/* reason (operator's words, may name the URL) is shown three ways: whole
 * in the log (masked there), with credentials masked on /readyz, and with
 * every URL hidden to clients (status). */
static void set_state(struct parley_llm_engine *e, enum parley_llm_state st, const char *reason)
{
	char client[CLIENT_REASON_MAX + 8] = "", ready[READY_REASON_MAX + 8] = "";
	if (reason) {
		parley_redact_cause(reason, strlen(reason), PARLEY_REDACT_URLS, CLIENT_REASON_MAX,
				    client, sizeof client);
		parley_redact_cause(reason, strlen(reason), 0, READY_REASON_MAX, ready,
				    sizeof ready);
	}
	pthread_mutex_lock(&e->lock);
	bool changed = e->info.state != st || strcmp(e->info.reason, client) != 0;
	e->info.state = st;
	snprintf(e->info.reason, sizeof e->info.reason, "%s", client);
	void (*fn)(void *) = e->on_state;
	void *arg = e->on_state_arg;
	pthread_mutex_unlock(&e->lock);
	parley_readiness_set(e->readiness_id, st == PARLEY_LLM_READY, reason ? ready : NULL);
	curl_multi_wakeup(e->multi); /* let the engine admit or fail waiting turns */
	if (changed && fn)
		fn(arg);
}

/* Picks the backend for "auto": explicit URL, else Ollama if it answers,
 * else OpenAI if a key is set, else echo. */
static void resolve_backend(struct parley_llm_engine *e)
{
	const struct parley_config *cfg = e->cfg;
	const char *name = cfg->llm_backend;
	const char *url = cfg->llm_url;

	if (strcmp(name, "auto") == 0) {
		char err[256];
		long status = 0;
		char *body = NULL;
		if (cfg->llm_url[0]) {
			name = "openai";
		} else if (parley_fetch("GET", cfg->ollama_url, NULL, NULL, 1500, &status, &body,
					NULL, err, sizeof err, &e->abort) == 0) {
			free(body);
			name = "ollama";
			url = cfg->ollama_url;
			PARLEY_INFO("llm auto: Ollama answers at %s", url);
		} else if (cfg->llm_api_key[0]) {
			name = "openai";
			PARLEY_INFO("llm auto: no Ollama at %s (%s); OpenAI key set", cfg->ollama_url,
				    err);
		} else {
			name = "echo";
			PARLEY_INFO("llm auto: no --llm-url, no Ollama at %s (%s), no API key",
				    cfg->ollama_url, err);
		}
	}
	if (!url[0])
		url = strcmp(name, "ollama") == 0 ? cfg->ollama_url : cfg->openai_url;

	e->backend = parley_llm_backend_find(name);
	struct parley_llm_target *t = &e->target;
	snprintf(t->url, sizeof t->url, "%s", url);
	snprintf(t->model, sizeof t->model, "%s", cfg->llm_model);
	if (!t->model[0] && strcmp(name, "openai") == 0 && strcmp(url, cfg->openai_url) == 0)
		snprintf(t->model, sizeof t->model, "gpt-4o-mini");
	snprintf(t->api_key, sizeof t->api_key, "%s", cfg->llm_api_key);
	snprintf(t->keep_alive, sizeof t->keep_alive, "%s", cfg->llm_keep_alive);
	t->temperature = cfg->llm_temperature;
	t->max_tokens = cfg->llm_max_tokens;
	t->connect_timeout_ms = cfg->llm_connect_timeout_ms;
	t->abort = &e->abort;

	pthread_mutex_lock(&e->lock);
	snprintf(e->info.backend, sizeof e->info.backend, "%s", name);
	e->info.echo = e->backend->local;
	pthread_mutex_unlock(&e->lock);
}

/* Sleeps up to ms; returns true if the engine is stopping. */
static bool sleep_or_stop(struct parley_llm_engine *e, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&e->lock);
	while (!e->stopping && pthread_cond_timedwait(&e->cond, &e->lock, &ts) == 0)
		;
	bool stop = e->stopping;
	pthread_mutex_unlock(&e->lock);
	return stop;
}

static void *warm_main(void *arg)
{
	struct parley_llm_engine *e = arg;
	resolve_backend(e);

	if (e->backend->local) {
		PARLEY_WARN("NO LLM CONFIGURED: using the 'echo' backend, which repeats what it "
			    "hears. Start Ollama (ollama serve; ollama pull llama3.2), or pass "
			    "--llm-url http://HOST:PORT for an OpenAI-compatible server, or set "
			    "OPENAI_API_KEY.");
		pthread_mutex_lock(&e->lock);
		snprintf(e->info.model, sizeof e->info.model, "none");
		e->info.warmup_s = 0;
		pthread_mutex_unlock(&e->lock);
		set_state(e, PARLEY_LLM_READY, NULL);
		return NULL;
	}

	long backoff = BACKOFF_MIN_MS;
	for (int attempt = 1;; attempt++) {
		char why[512] = "";
		double ttft = -1, tps = -1;
		int64_t t0 = now_ns();
		PARLEY_INFO("pre-warming shared LLM (%s, %s, %s)%s", e->backend->name,
			    e->target.model[0] ? e->target.model : "model to be chosen",
			    e->target.url, attempt > 1 ? " again" : "");
		int rc = e->backend->prepare ? e->backend->prepare(&e->target, why, sizeof why) : 0;
		if (rc == 0)
			rc = measure(e, &ttft, &tps, why, sizeof why);
		if (rc == 0) {
			double warm_s = (double)(now_ns() - t0) / 1e9;
			pthread_mutex_lock(&e->lock);
			parley_utf8_format(e->info.model, sizeof e->info.model, "%s", e->target.model);
			e->info.first_token_ms = ttft;
			e->info.tokens_per_s = tps;
			e->info.warmup_s = warm_s;
			pthread_mutex_unlock(&e->lock);
			parley_gauge_f_set(&m_warm_s, warm_s);
			parley_gauge_f_set(&m_warm_ttft_s, ttft / 1000);
			parley_gauge_f_set(&m_warm_tps, tps);
			PARLEY_INFO("shared LLM warm: first token %.0f ms, %.1f tokens/s (warm-up %.1f s)",
				    ttft, tps, warm_s);
			set_state(e, PARLEY_LLM_READY, NULL);
			return NULL;
		}
		PARLEY_ERROR("shared LLM not ready: %s (retrying in %.0f s)", why, backoff / 1000.0);
		pthread_mutex_lock(&e->lock);
		parley_utf8_format(e->info.model, sizeof e->info.model, "%s", e->target.model);
		pthread_mutex_unlock(&e->lock);
		set_state(e, PARLEY_LLM_UNAVAILABLE, why);
		if (sleep_or_stop(e, backoff))
			return NULL;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

/* ---- public API ------------------------------------------------------- */

struct parley_llm_engine *parley_llm_engine_create(const struct parley_config *cfg,
						   const char *system_prompt)
{
	struct parley_llm_engine *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->cfg = cfg;
	e->system_prompt = strdup(system_prompt);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	e->info.state = PARLEY_LLM_WARMING;
	e->info.first_token_ms = -1;
	e->info.tokens_per_s = -1;
	snprintf(e->info.backend, sizeof e->info.backend, "%s", cfg->llm_backend);
	snprintf(e->info.reason, sizeof e->info.reason, "warming up");
	e->multi = curl_multi_init();
	if (!e->system_prompt || !e->multi || register_metrics() != 0) {
		PARLEY_ERROR("llm: out of memory");
		goto fail;
	}
	e->readiness_id = parley_readiness_add("llm", "warming up");
	if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
		goto fail;
	e->thread_started = true;
	if (pthread_create(&e->warm_thread, NULL, warm_main, e) != 0)
		goto fail;
	e->warm_started = true;
	return e;
fail:
	parley_llm_engine_destroy(e);
	return NULL;
}

void parley_llm_engine_destroy(struct parley_llm_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	atomic_store(&e->abort, true);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (e->multi)
		curl_multi_wakeup(e->multi);
	if (e->warm_started)
		pthread_join(e->warm_thread, NULL);
	if (e->thread_started)
		pthread_join(e->thread, NULL);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	free(e->cancels);
	free(e->system_prompt);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void parley_llm_engine_on_state(struct parley_llm_engine *e, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&e->lock);
	e->on_state = fn;
	e->on_state_arg = arg;
	pthread_mutex_unlock(&e->lock);
}

void parley_llm_engine_info(struct parley_llm_engine *e, struct parley_llm_info *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->info;
	pthread_mutex_unlock(&e->lock);
}

const char *parley_llm_system_prompt(struct parley_llm_engine *e)
{
	return e->system_prompt;
}

int parley_llm_submit(struct parley_llm_engine *e, json_t *messages,
		      const struct parley_llm_callbacks *cb, uint64_t *id, char *why, size_t whylen)
{
	struct req *r = calloc(1, sizeof *r);
	if (!r) {
		json_decref(messages);
		snprintf(why, whylen, "out of memory");
		return PARLEY_E_NOMEM;
	}
	r->messages = messages;
	r->cb = *cb;
	r->e = e;
	r->submitted_ns = now_ns();
	parley_buf_init(&r->errbody, ERRBODY_MAX);

	int rc = 0;
	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		rc = PARLEY_E_CLOSED;
		snprintf(why, whylen, "the server is shutting down");
	} else if (e->info.state == PARLEY_LLM_UNAVAILABLE) {
		rc = PARLEY_E_CLOSED;
		snprintf(why, whylen, "%s", e->info.reason);
	} else if (e->nwaiting + (size_t)e->admitted >=
		   (size_t)e->cfg->llm_max_inflight + (size_t)e->cfg->llm_max_queue) {
		rc = PARLEY_E_FULL;
		snprintf(why, whylen, "%d answers are being generated and %zu are waiting",
			 e->admitted, e->nwaiting);
	} else {
		r->id = ++e->next_id;
		*id = r->id;
		if (e->wait_tail)
			e->wait_tail->next = r;
		else
			e->wait_head = r;
		e->wait_tail = r;
		e->nwaiting++;
		parley_gauge_set(&m_queue, (int64_t)e->nwaiting);
		r = NULL;
	}
	pthread_mutex_unlock(&e->lock);
	if (r) {
		json_decref(r->messages);
		free(r);
		return rc;
	}
	parley_counter_add(&m_requests, 1);
	curl_multi_wakeup(e->multi);
	return 0;
}

void parley_llm_cancel(struct parley_llm_engine *e, uint64_t id)
{
	bool ok = true;
	pthread_mutex_lock(&e->lock);
	if (e->ncancels == e->cancels_cap) {
		size_t cap = e->cancels_cap ? e->cancels_cap * 2 : 16;
		uint64_t *n = realloc(e->cancels, cap * sizeof *n);
		if (n) {
			e->cancels = n;
			e->cancels_cap = cap;
		} else {
			ok = false;
		}
	}
	if (ok)
		e->cancels[e->ncancels++] = id;
	pthread_mutex_unlock(&e->lock);
	if (!ok)
		PARLEY_ERROR("llm: out of memory cancelling request %llu", (unsigned long long)id);
	curl_multi_wakeup(e->multi);
}
