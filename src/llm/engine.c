#include "llm/engine.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm/backend.h"
#include "llm/internal.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/readiness.h"
#include "util/redact.h"
#include "util/utf8.h"

#define POLL_MAX_MS 50
#define CAUSE_MAX 120        /* an error's cause as a client sees it */

/* ---- metrics ---------------------------------------------------------- */

static struct parley_histogram m_ttft;
static struct parley_gauge m_inflight, m_queue;
static struct parley_counter m_errors[PARLEY_LLM_CAUSE_COUNT];
static struct parley_counter m_requests;
static struct parley_counter m_preempted;

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
	rc = rc ? rc : parley_metrics_register_counter(
			       "parley_llm_preempted_total",
			       "speculative LLM requests ended to free a slot for an ordinary one",
			       NULL, NULL, &m_preempted);
	for (int i = 1; i < PARLEY_LLM_CAUSE_COUNT && !rc; i++)
		rc = parley_metrics_register_counter("parley_llm_errors_total",
						     "LLM requests failed, by cause", "cause",
						     cause_names[i], &m_errors[i]);
	rc = rc ? rc : parley_llm_warmup_register_metrics();
	return rc;
}

/* ---- helpers ---------------------------------------------------------- */

static void req_free(struct req *r)
{
	if (r->stream && r->e->backend)
		r->e->backend->stream_free(r->stream);
	parley_llm_call_clear(&r->call);
	json_decref(r->messages);
	free(r);
}

/* Engine thread (or stop): gives the slot back, reports the end and frees
 * the request. */
static void req_end(struct req *r, enum parley_llm_end end, enum parley_llm_cause cause,
		    const char *message)
{
	/* The slot first: once the end is reported, it is free (and a
	 * speculation that is ending can no longer be promoted). */
	if (r->admitted) {
		pthread_mutex_lock(&r->e->lock);
		if (r->spec)
			parley_llm_unlink_spec_locked(r->e, r);
		r->e->admitted--;
		pthread_mutex_unlock(&r->e->lock);
		r->admitted = false;
	}
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
	req_free(r);
}

/* ---- sink: what the backend's parser reports -------------------------- */

static void sink_token(void *arg, const char *text, size_t len)
{
	struct req *r = arg;
	if (!r->got_token) {
		r->got_token = true;
		parley_histogram_observe(&m_ttft, (double)(parley_llm_now_ns() - r->started_ns) / 1e9);
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

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb;
	r->last_data_ns = parley_llm_now_ns();
	if (parley_llm_call_error_chunk(&r->call, data, n))
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
	if (r->call.easy) {
		curl_multi_remove_handle(e->multi, r->call.easy);
		curl_easy_cleanup(r->call.easy);
		r->call.easy = NULL;
	}
	unlink_active(e, r);
}

static void start(struct parley_llm_engine *e, struct req *r)
{
	struct parley_llm_sink sink = { sink_token, sink_done, sink_error, r };
	r->started_ns = r->last_data_ns = parley_llm_now_ns();
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
	char why[300];
	int rc = parley_llm_call_build(&r->call, e->backend, &e->target, r->messages, 0, on_body, r,
				       why, sizeof why);
	if (rc) {
		detach(e, r);
		req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_INTERNAL, why);
		return;
	}
	curl_easy_setopt(r->call.easy, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(e->multi, r->call.easy) != CURLM_OK)
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
	if (!r->call.status)
		curl_easy_getinfo(r->call.easy, CURLINFO_RESPONSE_CODE, &r->call.status);
	detach(e, r);

	if (r->parser_error) {
		req_end(r, PARLEY_LLM_END_ERROR, PARLEY_LLM_CAUSE_BACKEND, r->message);
		return;
	}
	if (r->call.status && r->call.status / 100 != 2) {
		char body[400], what[48];
		snprintf(what, sizeof what, "llm request %llu", (unsigned long long)r->id);
		parley_llm_call_error_text(&r->call, e->backend, &e->target, what, body, sizeof body);
		parley_utf8_format(msg, sizeof msg, "the LLM server answered HTTP %ld: %s",
				   r->call.status, body);
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
	const char *why = r->call.curl_err[0] ? r->call.curl_err : curl_easy_strerror(result);
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
	int64_t now = parley_llm_now_ns();
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
		struct req *admit = NULL, **admit_tail = &admit, *fail = NULL, **fail_tail = &fail;
		struct req *preempted = NULL;
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
			struct req *r = parley_llm_fifo_take(&e->waiting, cancels[i]);
			if (!r)
				r = parley_llm_fifo_take(&e->swaiting, cancels[i]);
			if (!r)
				continue;
			r->next = dropped;
			dropped = r;
			cancels[i] = 0; /* handled */
		}
		enum parley_llm_state state = e->info.state;
		if (state == PARLEY_LLM_UNAVAILABLE || stopping) { /* nobody waits on a dead backend */
			parley_llm_fifo_drain(&e->waiting, &fail_tail);
			parley_llm_fifo_drain(&e->swaiting, &fail_tail);
			snprintf(why, sizeof why, "%s", e->info.reason);
		} else if (state == PARLEY_LLM_READY) {
			parley_llm_admit_locked(e, &admit_tail, &preempted);
		}
		parley_gauge_set(&m_queue, (int64_t)e->waiting.n);
		pthread_mutex_unlock(&e->lock);

		/* Preempted speculations first: their slots are taken already. */
		while (preempted) {
			struct req *r = preempted;
			preempted = r->snext;
			r->snext = NULL;
			detach(e, r);
			parley_counter_add(&m_preempted, 1);
			PARLEY_DEBUG("llm request %llu (speculative) preempted by an ordinary one",
				     (unsigned long long)r->id);
			req_end(r, PARLEY_LLM_END_CANCELLED, PARLEY_LLM_CAUSE_NONE, "preempted");
		}
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
		bool can_admit = parley_llm_admissible_locked(e);
		pthread_mutex_unlock(&e->lock);
		if (can_admit)
			wait = 0; /* a slot freed during this pass: admit at once */
		else if (!e->nactive && state == PARLEY_LLM_READY)
			wait = 1000; /* idle: submit and cancel wake us */
		curl_multi_poll(e->multi, NULL, 0, (int)wait, NULL);
	}
	return NULL;
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
	if (pthread_create(&e->warm_thread, NULL, parley_llm_warmup_main, e) != 0)
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
		      const struct parley_llm_callbacks *cb, unsigned flags, uint64_t *id,
		      char *why, size_t whylen)
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
	r->submitted_ns = parley_llm_now_ns();
	bool spec = flags & PARLEY_LLM_SPECULATIVE;

	int rc = 0;
	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		rc = PARLEY_E_CLOSED;
		snprintf(why, whylen, "the server is shutting down");
	} else if (e->info.state == PARLEY_LLM_UNAVAILABLE) {
		rc = PARLEY_E_CLOSED;
		snprintf(why, whylen, "%s", e->info.reason);
	} else if ((rc = parley_llm_queue_locked(e, r, spec, why, whylen)) == 0) {
		*id = r->id;
		parley_gauge_set(&m_queue, (int64_t)e->waiting.n);
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

int parley_llm_promote(struct parley_llm_engine *e, uint64_t id)
{
	pthread_mutex_lock(&e->lock);
	int rc = parley_llm_promote_locked(e, id);
	if (rc == 0)
		parley_gauge_set(&m_queue, (int64_t)e->waiting.n);
	pthread_mutex_unlock(&e->lock);
	if (rc == 0)
		curl_multi_wakeup(e->multi); /* a waiting one may be admitted now */
	return rc;
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
