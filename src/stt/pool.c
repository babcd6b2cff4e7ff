#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "stt/decoder.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/err.h"

struct parley_stt_pool {
	const struct parley_stt_decoder_ops *b;
	struct parley_stt_settings st;
	int warm, max;

	pthread_mutex_t lock;
	pthread_cond_t cond;    /* the filler waits on it */
	pthread_cond_t warmed;  /* signalled when warm decoders exist or creating fails */
	void **idle;            /* guarded by lock */
	int nidle, total;       /* guarded by lock; total = idle + leased + being created */
	bool stopping;          /* guarded by lock */
	bool is_warm;           /* guarded by lock: `warm` decoders were created once */
	bool failed;            /* guarded by lock: the last create failed */
	pthread_t filler;
	bool filler_started;
};

static struct parley_gauge m_idle, m_leased;
static struct parley_counter m_exhausted;

/* Keeps `warm` idle decoders, creating them outside the lock. */
static void *filler_main(void *arg)
{
	struct parley_stt_pool *p = arg;
	bool announced = false;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stopping && (p->nidle >= p->warm || p->total >= p->max)) {
			if (!announced && p->nidle >= p->warm) {
				announced = true;
				p->is_warm = true;
				pthread_cond_broadcast(&p->warmed);
				PARLEY_INFO("speech-to-text ready: %d warm %s decoder(s), at most %d",
					    p->nidle, p->b->name, p->max);
			}
			pthread_cond_wait(&p->cond, &p->lock);
		}
		if (p->stopping)
			break;
		p->total++;
		pthread_mutex_unlock(&p->lock);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		void *dec = p->b->create(&p->st);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pthread_mutex_lock(&p->lock);
		if (!dec) {
			p->total--;
			p->failed = true;
			pthread_cond_broadcast(&p->warmed);
			/* Do not spin: wait for a change (or stop). */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 5;
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
			continue;
		}
		PARLEY_DEBUG("stt: decoder created in %.0f ms",
			     (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		p->failed = false;
		p->idle[p->nidle++] = dec;
		parley_gauge_set(&m_idle, p->nidle);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct parley_stt_pool *parley_stt_pool_create(const struct parley_stt_decoder_ops *b,
					       const struct parley_stt_settings *st, int warm,
					       int max)
{
	struct parley_stt_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->b = b;
	p->st = *st;
	p->warm = warm;
	p->max = max < warm ? warm : max;
	p->idle = calloc((size_t)p->max, sizeof *p->idle);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_cond_init(&p->warmed, NULL);
	if (!p->idle || b->global_init() != 0) {
		parley_stt_pool_destroy(p);
		return NULL;
	}
	parley_metrics_register_gauge("parley_stt_decoders_idle", "warm speech decoders ready",
				      NULL, NULL, &m_idle);
	parley_metrics_register_gauge("parley_stt_decoders_leased",
				      "speech decoders in use by a speaking user", NULL, NULL,
				      &m_leased);
	parley_metrics_register_counter("parley_stt_pool_exhausted_total",
					"utterances refused because every decoder was in use", NULL,
					NULL, &m_exhausted);
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
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->filler_started)
		pthread_join(p->filler, NULL);
	for (int i = 0; i < p->nidle; i++)
		p->b->destroy(p->idle[i]);
	free(p->idle);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->warmed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

const struct parley_stt_decoder_ops *parley_stt_pool_backend(struct parley_stt_pool *p)
{
	return p->b;
}

void *parley_stt_pool_lease(struct parley_stt_pool *p)
{
	void *dec = NULL;
	bool create = false;
	pthread_mutex_lock(&p->lock);
	if (p->nidle > 0) {
		dec = p->idle[--p->nidle];
	} else if (p->total < p->max) {
		p->total++; /* cold path: create on the caller's thread */
		create = true;
	}
	parley_gauge_set(&m_idle, p->nidle);
	pthread_cond_signal(&p->cond); /* refill */
	pthread_mutex_unlock(&p->lock);

	if (create) {
		dec = p->b->create(&p->st);
		if (!dec) {
			pthread_mutex_lock(&p->lock);
			p->total--;
			pthread_mutex_unlock(&p->lock);
		}
	}
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
	parley_gauge_add(&m_leased, -1);
	pthread_mutex_lock(&p->lock);
	if (!p->stopping && p->nidle < p->max) {
		p->idle[p->nidle++] = dec;
		dec = NULL;
	} else {
		p->total--;
	}
	parley_gauge_set(&m_idle, p->nidle);
	pthread_mutex_unlock(&p->lock);
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
	p->failed = false; /* only a failure from now on counts */
	while (!p->is_warm && !p->failed && !p->stopping)
		if (pthread_cond_timedwait(&p->warmed, &p->lock, &ts) != 0)
			break;
	if (!p->is_warm) {
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
