#include "net/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/transfer.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

/* Nothing due: every event that matters (submit, cancel, destroy, a freed
 * slot, a deadline, curl's own timers) wakes the thread or shortens the
 * wait, so this is long: a missed wake-up would show in the tests. */
#define IDLE_WAIT_MS 10000
#define ABORT_POLL_MS 50  /* run_blocking: how often the abort flag is read */

/*
 * Threads and locks. One mutex per pool guards the lanes' queues and
 * counters, the cancel list, next_id and stopping. A transfer, once it has
 * left its lane's queue, and the runner (multi handle, active list) belong
 * to the thread that runs them: the pool's thread, or the caller of
 * parley_http_run_blocking with a runner of its own (net/transfer.h). No
 * callback is ever called with the lock held, so a callback may submit or
 * cancel.
 */

struct parley_http_lane {
	struct parley_http_lane *next; /* the pool's lanes (under lock) */
	struct parley_http_pool *pool;
	const char *name;
	int max_inflight, max_queue;
	/* guarded by pool->lock */
	struct parley_xfer *wait_head, *wait_tail;
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

	struct parley_xfer_runner run; /* pool thread only (multi: wake-ups from any thread) */
	bool freed; /* pool thread: a lane slot came free during this pass */
	pthread_t thread;
	bool thread_started;
};

static int64_t ms_ns(long ms)
{
	return (int64_t)ms * 1000000;
}

/* The pool's end hook (pool thread): counts the error, frees the lane slot. */
static void pool_ended(void *arg, struct parley_xfer *x, enum parley_speech_end end,
		       enum parley_speech_cause cause)
{
	struct parley_http_pool *p = arg;
	struct parley_http_lane *lane = x->owner;
	if (end == PARLEY_SPEECH_ERROR && parley_xfer_cause_label(cause))
		parley_counter_add(&lane->m_errors[cause], 1);
	if (!x->admitted)
		return;
	pthread_mutex_lock(&p->lock);
	lane->admitted--;
	parley_gauge_set(&lane->m_inflight, lane->admitted);
	p->freed = p->freed || lane->wait_head;
	pthread_mutex_unlock(&p->lock);
}

/* ---- the pool thread --------------------------------------------------- */

static void lane_gauges(struct parley_http_lane *l)
{
	parley_gauge_set(&l->m_queue, l->nwaiting);
	parley_gauge_set(&l->m_inflight, l->admitted);
}

/* Under lock: takes r out of its lane's queue (prev is its predecessor). */
static void unqueue(struct parley_http_lane *l, struct parley_xfer *prev, struct parley_xfer *r)
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

static void push(struct parley_xfer **list, struct parley_xfer *r)
{
	r->next = *list;
	*list = r;
}

/* Reverses a list built by push(), so ends and starts keep FIFO order. */
static struct parley_xfer *reversed(struct parley_xfer *r)
{
	struct parley_xfer *out = NULL;
	while (r) {
		struct parley_xfer *nx = r->next;
		push(&out, r);
		r = nx;
	}
	return out;
}

static void *pool_main(void *arg)
{
	struct parley_http_pool *p = arg;
	struct parley_xfer_runner *run = &p->run;
	for (;;) {
		struct parley_xfer *dropped = NULL, *expired = NULL, *admit = NULL;
		long next = IDLE_WAIT_MS;
		int64_t now = parley_xfer_now_ns();

		pthread_mutex_lock(&p->lock);
		p->freed = false;
		bool stopping = p->stopping;
		uint64_t *cancels = p->cancels;
		size_t ncancels = p->ncancels;
		p->cancels = NULL;
		p->ncancels = p->cancels_cap = 0;
		for (struct parley_http_lane *l = p->lanes; l; l = l->next) {
			struct parley_xfer *prev = NULL, *r = l->wait_head;
			while (r) {
				struct parley_xfer *nx = r->next;
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
				struct parley_xfer *r2 = l->wait_head;
				unqueue(l, NULL, r2);
				l->admitted++;
				r2->admitted = true;
				push(&admit, r2);
			}
			for (struct parley_xfer *w = l->wait_head; w; w = w->next)
				if (w->rq.queue_timeout_ms > 0)
					parley_xfer_due_in(now, w->submitted_ns + ms_ns(w->rq.queue_timeout_ms),
					       &next);
			lane_gauges(l);
		}
		pthread_mutex_unlock(&p->lock);

		for (struct parley_xfer *r = reversed(dropped); r;) {
			struct parley_xfer *nx = r->next;
			parley_xfer_end(run, r, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
				stopping ? "the server is shutting down" : "cancelled");
			r = nx;
		}
		for (struct parley_xfer *r = reversed(expired); r;) {
			struct parley_xfer *nx = r->next;
			char msg[200];
			snprintf(msg, sizeof msg,
				 "the service is saturated: no free slot within %ld ms "
				 "(%d requests at once at most)",
				 r->rq.queue_timeout_ms, ((struct parley_http_lane *)r->owner)->max_inflight);
			parley_xfer_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_TIMEOUT, msg);
			r = nx;
		}
		for (struct parley_xfer *r = reversed(admit); r;) {
			struct parley_xfer *nx = r->next;
			parley_xfer_start(run, r);
			r = nx;
		}
		/* Cancels of running requests; ids not found have ended or never
		 * existed. */
		for (size_t i = 0; i < ncancels; i++) {
			if (!cancels[i])
				continue;
			for (struct parley_xfer *r = run->active; r; r = r->next) {
				if (r->id == cancels[i]) {
					parley_xfer_end(run, r, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
						"cancelled");
					break;
				}
			}
		}
		free(cancels);

		if (stopping) {
			while (run->active) {
				struct parley_xfer *r = run->active;
				parley_xfer_end(run, r, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
					"the server is shutting down");
			}
			break;
		}

		parley_xfer_step(run, &next);
		if (p->freed)
			next = 0; /* a slot came free after admission: another pass at once */
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
	p->run.ended = pool_ended;
	p->run.arg = p;
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
		if (parley_xfer_cause_label(c))
			rc = parley_metrics_register_counter2(
				"parley_http_errors_total", "speech-service requests failed, by cause",
				"lane", name, "cause", parley_xfer_cause_label(c), &l->m_errors[c]);
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

int parley_http_submit(struct parley_http_lane *lane, struct parley_http_request *req,
		       const struct parley_http_callbacks *cb, uint64_t *id)
{
	struct parley_http_pool *p = lane->pool;
	struct parley_xfer *r = parley_xfer_new(req, cb);
	if (!r)
		return PARLEY_E_NOMEM;
	r->owner = lane;
	r->label = lane->name;
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
		parley_counter_add(&lane->m_requests, 1);
		/* under the lock: destroy cannot free the multi handle meanwhile */
		curl_multi_wakeup(p->run.multi);
	}
	pthread_mutex_unlock(&p->lock);
	if (rc)
		parley_xfer_free(r);
	return rc;
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
	if (ok) {
		p->cancels[p->ncancels++] = id;
		curl_multi_wakeup(p->run.multi);
	}
	pthread_mutex_unlock(&p->lock);
	if (!ok)
		PARLEY_ERROR("http pool: out of memory cancelling request %llu",
			     (unsigned long long)id);
}

/* run_blocking's end hook: records whether the request succeeded. */
static void blocking_ended(void *arg, struct parley_xfer *x, enum parley_speech_end end,
			   enum parley_speech_cause cause)
{
	*(int *)arg = end == PARLEY_SPEECH_OK ? 0 : -1;
}

int parley_http_run_blocking(struct parley_http_request *req,
			     const struct parley_http_callbacks *cb)
{
	int rc = -1;
	struct parley_xfer_runner run = { .ended = blocking_ended, .arg = &rc };
	struct parley_xfer *x = parley_xfer_new(req, cb);
	run.multi = x ? curl_multi_init() : NULL;
	if (!run.multi) {
		cb->end(cb->arg, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_INTERNAL, 0,
			"out of memory starting a request to the service", NULL, 0);
		if (x)
			parley_xfer_free(x);
		return -1;
	}
	parley_xfer_start(&run, x);
	while (run.active) { /* x is alive while it is active */
		if (x->rq.abort && atomic_load(x->rq.abort)) {
			parley_xfer_end(&run, x, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE,
					"cancelled");
			break;
		}
		long next = x->rq.abort ? ABORT_POLL_MS : IDLE_WAIT_MS;
		parley_xfer_step(&run, &next);
		if (run.active)
			curl_multi_poll(run.multi, NULL, 0, (int)next, NULL);
	}
	curl_multi_cleanup(run.multi);
	return rc;
}
