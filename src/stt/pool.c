/*
 * pool.c - the shared decoder pool (stt/decoder.h): idle decoders, a FIFO
 * of utterances waiting for one, and a filler thread that keeps `warm`
 * decoders ready, creates one for a waiter below `max` and refuses waiters
 * that waited max_wait_ms. Everything under one lock; decoders are created
 * and destroyed, and waiters told, outside it.
 *
 * The filler runs at a low priority (nice FILLER_NICE): loading a decoder
 * costs ~0.4 CPU-s, and the moment several users start speaking, which is
 * when the pool refills, is the moment their audio must be decoded in
 * time. A waiter's decoder is made as fast as the spare CPU allows (its
 * audio is kept meanwhile).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stt/decoder.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

#define FILLER_NICE 10

struct parley_stt_pool {
	const struct parley_stt_decoder_ops *b;
	struct parley_stt_settings st;
	int warm, max;
	long long max_wait_ns;

	pthread_mutex_t lock;
	pthread_cond_t cond;    /* the filler waits on it */
	pthread_cond_t warmed;  /* signalled when warm decoders exist or creating fails */
	pthread_cond_t changed; /* a creation ended or a decoder went idle (sync leases) */
	void **idle;            /* guarded by lock */
	int nidle, total;       /* guarded by lock; total = idle + leased + being created */
	int creating;           /* guarded by lock: being created (filler or a sync lease) */
	struct parley_stt_waiter *wait_head, *wait_tail; /* guarded by lock: FIFO */
	int nwaiting;           /* guarded by lock */
	bool stopping;          /* guarded by lock */
	bool is_warm;           /* guarded by lock: `warm` decoders were created once */
	bool failed;            /* guarded by lock: the last create failed */
	pthread_t filler;
	bool filler_started;
};

static struct parley_gauge m_idle, m_leased, m_waiting;
static struct parley_counter m_exhausted, m_waited;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Caller holds p->lock. */
static void waiter_push(struct parley_stt_pool *p, struct parley_stt_waiter *w)
{
	w->next = NULL;
	w->since_ns = now_ns();
	if (p->wait_tail)
		p->wait_tail->next = w;
	else
		p->wait_head = w;
	p->wait_tail = w;
	p->nwaiting++;
	parley_gauge_set(&m_waiting, p->nwaiting);
}

/* Caller holds p->lock. */
static struct parley_stt_waiter *waiter_pop(struct parley_stt_pool *p)
{
	struct parley_stt_waiter *w = p->wait_head;
	if (w) {
		p->wait_head = w->next;
		if (!p->wait_head)
			p->wait_tail = NULL;
		w->next = NULL;
		p->nwaiting--;
		parley_gauge_set(&m_waiting, p->nwaiting);
	}
	return w;
}

/* Caller holds p->lock: the waiters that waited too long, as a list. */
static struct parley_stt_waiter *expire(struct parley_stt_pool *p, long long now)
{
	struct parley_stt_waiter *out = NULL, **tail = &out;
	while (p->wait_head && now - p->wait_head->since_ns >= p->max_wait_ns) {
		struct parley_stt_waiter *w = waiter_pop(p);
		*tail = w;
		tail = &w->next;
	}
	return out;
}

/* Without the lock: tells each waiter of a list that it was refused. */
static void refuse(struct parley_stt_waiter *w)
{
	while (w) {
		struct parley_stt_waiter *next = w->next;
		parley_counter_add(&m_exhausted, 1);
		w->granted(w->arg, NULL); /* w may be gone after this */
		w = next;
	}
}

/* Caller holds p->lock: waits on p->cond until `abs_ns` (CLOCK_MONOTONIC
 * based; 0 = no deadline). */
static void filler_wait(struct parley_stt_pool *p, long long abs_ns)
{
	if (!abs_ns) {
		pthread_cond_wait(&p->cond, &p->lock);
		return;
	}
	/* p->cond uses CLOCK_REALTIME: turn the delay into its time. */
	long long delay = abs_ns - now_ns();
	if (delay < 1000000)
		delay = 1000000;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long t = (long long)ts.tv_sec * 1000000000 + ts.tv_nsec + delay;
	ts.tv_sec = (time_t)(t / 1000000000);
	ts.tv_nsec = (long)(t % 1000000000);
	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

/* Keeps `warm` idle decoders, creates one for each waiter below `max`
 * (outside the lock) and refuses waiters that waited too long. */
/* Caller holds p->lock, and p->total < p->max: creates one decoder with the
 * lock let go meanwhile (counted in total and creating, so nobody else
 * creates past max or refuses while it is made). NULL on failure (marked
 * failed, total given back). */
static void *create_locked(struct parley_stt_pool *p)
{
	p->total++;
	p->creating++;
	pthread_mutex_unlock(&p->lock);
	long long t0 = now_ns();
	void *dec = p->b->create(&p->st);
	long long t1 = now_ns();
	pthread_mutex_lock(&p->lock);
	p->creating--;
	pthread_cond_broadcast(&p->changed);
	if (!dec) {
		p->total--;
		p->failed = true;
	} else {
		PARLEY_DEBUG("stt: decoder created in %.0f ms", (double)(t1 - t0) / 1e6);
	}
	return dec;
}

static void *filler_main(void *arg)
{
	struct parley_stt_pool *p = arg;
	bool announced = false;
	/* this thread only (Linux: nice is per thread) */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), FILLER_NICE) != 0)
		PARLEY_DEBUG("stt: cannot lower the decoder filler's priority");
	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		struct parley_stt_waiter *late = expire(p, now_ns());
		if (late) {
			pthread_mutex_unlock(&p->lock);
			refuse(late);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (!announced && p->nidle >= p->warm) {
			announced = true;
			p->is_warm = true;
			pthread_cond_broadcast(&p->warmed);
			PARLEY_INFO("speech-to-text ready: %d warm %s decoder(s), at most %d", p->nidle,
				    p->b->name, p->max);
		}
		bool wanted = p->nidle < p->warm || p->nwaiting > p->creating;
		if (!wanted || p->total >= p->max) {
			/* wake for the first waiter's deadline, or a change */
			filler_wait(p, p->wait_head ? p->wait_head->since_ns + p->max_wait_ns : 0);
			continue;
		}
		void *dec = create_locked(p);
		if (!dec) {
			pthread_cond_broadcast(&p->warmed);
			/* Do not spin: wait for a change, a deadline, or 5 s. */
			long long retry = now_ns() + 5000000000LL;
			if (p->wait_head && p->wait_head->since_ns + p->max_wait_ns < retry)
				retry = p->wait_head->since_ns + p->max_wait_ns;
			filler_wait(p, retry);
			continue;
		}
		p->failed = false;
		struct parley_stt_waiter *w = waiter_pop(p);
		if (w) {
			pthread_mutex_unlock(&p->lock);
			parley_gauge_add(&m_leased, 1);
			w->granted(w->arg, dec);
			pthread_mutex_lock(&p->lock);
		} else {
			p->idle[p->nidle++] = dec;
			parley_gauge_set(&m_idle, p->nidle);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct parley_stt_pool *parley_stt_pool_create(const struct parley_stt_decoder_ops *b,
					       const struct parley_stt_settings *st, int warm,
					       int max, int max_wait_ms)
{
	struct parley_stt_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->b = b;
	p->st = *st;
	p->warm = warm;
	p->max = max < warm ? warm : max;
	p->max_wait_ns = (long long)(max_wait_ms > 0 ? max_wait_ms : 1) * 1000000;
	p->idle = calloc((size_t)(p->max ? p->max : 1), sizeof *p->idle);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_cond_init(&p->warmed, NULL);
	pthread_cond_init(&p->changed, NULL);
	if (!p->idle || b->global_init() != 0) {
		parley_stt_pool_destroy(p);
		return NULL;
	}
	parley_metrics_register_gauge("parley_stt_decoders_idle", "warm speech decoders ready",
				      NULL, NULL, &m_idle);
	parley_metrics_register_gauge("parley_stt_decoders_leased",
				      "speech decoders in use by a speaking user", NULL, NULL,
				      &m_leased);
	parley_metrics_register_gauge("parley_stt_decoder_waiters",
				      "utterances waiting for a speech decoder (their audio is kept)",
				      NULL, NULL, &m_waiting);
	parley_metrics_register_counter("parley_stt_pool_waits_total",
					"utterances that waited for a speech decoder and were "
					"decoded late",
					NULL, NULL, &m_waited);
	parley_metrics_register_counter("parley_stt_pool_exhausted_total",
					"utterances refused a speech decoder: every one stayed in "
					"use longer than the wait allows",
					NULL, NULL, &m_exhausted);
	if (pthread_create(&p->filler, NULL, filler_main, p) != 0) {
		parley_stt_pool_destroy(p);
		return NULL;
	}
	p->filler_started = true;
	return p;
}

void parley_stt_pool_destroy(struct parley_stt_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	struct parley_stt_waiter *left = p->wait_head;
	p->wait_head = p->wait_tail = NULL;
	p->nwaiting = 0;
	pthread_cond_broadcast(&p->cond);
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	refuse(left);
	if (p->filler_started)
		pthread_join(p->filler, NULL);
	for (int i = 0; i < p->nidle; i++)
		p->b->destroy(p->idle[i]);
	free(p->idle);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->warmed);
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

const struct parley_stt_decoder_ops *parley_stt_pool_backend(struct parley_stt_pool *p)
{
	return p->b;
}

void *parley_stt_pool_lease_or_wait(struct parley_stt_pool *p, struct parley_stt_waiter *w)
{
	void *dec = NULL;
	bool refused = false;
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		refused = true;
	} else if (p->nidle > 0 && !p->wait_head) {
		dec = p->idle[--p->nidle];
		parley_gauge_set(&m_idle, p->nidle);
	} else {
		waiter_push(p, w);
		parley_counter_add(&m_waited, 1);
	}
	pthread_cond_signal(&p->cond); /* refill, or create for the waiter */
	pthread_mutex_unlock(&p->lock);
	if (dec)
		parley_gauge_add(&m_leased, 1);
	if (refused) {
		w->next = NULL;
		refuse(w);
	}
	return dec;
}

bool parley_stt_pool_cancel_wait(struct parley_stt_pool *p, struct parley_stt_waiter *w)
{
	bool found = false;
	pthread_mutex_lock(&p->lock);
	struct parley_stt_waiter *prev = NULL;
	for (struct parley_stt_waiter *x = p->wait_head; x; prev = x, x = x->next) {
		if (x != w)
			continue;
		if (prev)
			prev->next = x->next;
		else
			p->wait_head = x->next;
		if (p->wait_tail == x)
			p->wait_tail = prev;
		p->nwaiting--;
		parley_gauge_set(&m_waiting, p->nwaiting);
		found = true;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

void *parley_stt_pool_lease(struct parley_stt_pool *p)
{
	void *dec = NULL;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->nidle > 0 && !p->wait_head) {
			dec = p->idle[--p->nidle];
			parley_gauge_set(&m_idle, p->nidle);
			pthread_cond_signal(&p->cond); /* refill */
			break;
		}
		if (p->stopping)
			break;
		if (p->total < p->max) { /* create on the caller's thread */
			dec = create_locked(p);
			break;
		}
		if (p->creating == 0)
			break; /* max leased: refused */
		pthread_cond_wait(&p->changed, &p->lock); /* one is being created */
	}
	pthread_mutex_unlock(&p->lock);
	if (dec)
		parley_gauge_add(&m_leased, 1);
	else
		parley_counter_add(&m_exhausted, 1);
	return dec;
}

void parley_stt_pool_release(struct parley_stt_pool *p, void *dec)
{
	if (!dec)
		return;
	pthread_mutex_lock(&p->lock);
	struct parley_stt_waiter *w = p->stopping ? NULL : waiter_pop(p);
	if (w) {
		pthread_mutex_unlock(&p->lock);
		w->granted(w->arg, dec); /* still leased, by the waiter now */
		return;
	}
	if (!p->stopping && p->nidle < p->max) {
		p->idle[p->nidle++] = dec;
		dec = NULL;
		pthread_cond_broadcast(&p->changed);
	} else {
		p->total--;
	}
	parley_gauge_set(&m_idle, p->nidle);
	pthread_mutex_unlock(&p->lock);
	parley_gauge_add(&m_leased, -1);
	if (dec)
		p->b->destroy(dec);
}

int parley_stt_pool_wait_warm(struct parley_stt_pool *p, int timeout_ms, char *why, size_t whylen)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	while (!p->is_warm && !p->failed && !p->stopping)
		if (pthread_cond_timedwait(&p->warmed, &p->lock, &ts) != 0)
			break;
	if (p->failed && p->nidle == 0) { /* nothing to lease, and creating fails */
		rc = PARLEY_E_IO;
		snprintf(why, whylen, "cannot load the speech model (see the log for the files)");
	} else if (!p->is_warm) {
		rc = p->failed ? PARLEY_E_IO : PARLEY_E_CLOSED;
		snprintf(why, whylen, "%s",
			 p->failed ? "cannot load the speech model (see the log for the files)"
				   : "still loading the speech decoders");
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void parley_stt_pool_discard(struct parley_stt_pool *p, void *dec)
{
	if (!dec)
		return;
	parley_gauge_add(&m_leased, -1);
	pthread_mutex_lock(&p->lock);
	p->total--;
	pthread_cond_signal(&p->cond); /* refill */
	pthread_mutex_unlock(&p->lock);
	p->b->destroy(dec);
}
