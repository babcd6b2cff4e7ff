#include "util/workers.h"

#include <stdlib.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"

struct parley_job {
	struct parley_job *next;
	parley_job_fn fn;
	void *arg;
};

struct parley_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct parley_strand *ready_head, *ready_tail; /* guarded by lock: quick strands */
	struct parley_strand *long_head, *long_tail;   /* guarded by lock: long-running ones */
	bool stopping;                                 /* guarded by lock */
	int nthreads;
	pthread_t *threads;
};

void parley_strand_init(struct parley_strand *s, size_t max_pending, void (*hold)(void *),
			void (*release)(void *), void *owner)
{
	s->head = s->tail = NULL;
	s->npending = 0;
	s->max_pending = max_pending;
	s->scheduled = false;
	s->cancelled = false;
	s->yield = false;
	s->next_ready = NULL;
	s->last_run_ns = 0;
	s->ready_ns = 0;
	s->hold = hold;
	s->release = release;
	s->owner = owner;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Caller holds w->lock: s joins the quick or the long FIFO by its last
 * run. */
static void ready_push(struct parley_workers *w, struct parley_strand *s)
{
	bool slow = s->last_run_ns > (long long)PARLEY_STRAND_LONG_MS * 1000000;
	struct parley_strand **head = slow ? &w->long_head : &w->ready_head;
	struct parley_strand **tail = slow ? &w->long_tail : &w->ready_tail;
	s->next_ready = NULL;
	s->ready_ns = now_ns();
	if (*tail)
		(*tail)->next_ready = s;
	else
		*head = s;
	*tail = s;
	pthread_cond_signal(&w->cond);
}

/* Caller holds w->lock: a quick strand, unless none is ready or the long
 * FIFO's first has waited its turn. */
static struct parley_strand *ready_pop(struct parley_workers *w)
{
	bool take_long = w->long_head &&
			 (!w->ready_head || now_ns() - w->long_head->ready_ns >
						    (long long)PARLEY_STRAND_LONG_WAIT_MS * 1000000);
	struct parley_strand **head = take_long ? &w->long_head : &w->ready_head;
	struct parley_strand **tail = take_long ? &w->long_tail : &w->ready_tail;
	struct parley_strand *s = *head;
	if (s) {
		*head = s->next_ready;
		if (!*head)
			*tail = NULL;
		s->next_ready = NULL;
	}
	return s;
}

static void *worker_main(void *arg)
{
	struct parley_workers *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct parley_strand *s = ready_pop(w);
		if (!s) {
			if (w->stopping)
				break;
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		int ran = 0;
		long long started = now_ns();
		while (s->head && ran < PARLEY_STRAND_BATCH) {
			struct parley_job *j = s->head;
			s->head = j->next;
			if (!s->head)
				s->tail = NULL;
			s->npending--;
			bool cancelled = s->cancelled || w->stopping;
			pthread_mutex_unlock(&w->lock);
			j->fn(j->arg, cancelled);
			free(j);
			ran++;
			pthread_mutex_lock(&w->lock);
			if (s->yield) {
				s->yield = false;
				break;
			}
		}
		s->last_run_ns = now_ns() - started;
		if (s->head) {
			ready_push(w, s); /* still scheduled: back of the line */
		} else {
			s->scheduled = false;
			void (*release)(void *) = s->release;
			void *owner = s->owner;
			pthread_mutex_unlock(&w->lock);
			if (release)
				release(owner); /* may free s */
			pthread_mutex_lock(&w->lock);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct parley_workers *parley_workers_create(int nthreads)
{
	if (nthreads < 1)
		return NULL;
	struct parley_workers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->threads = calloc((size_t)nthreads, sizeof *w->threads);
	if (!w->threads) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
			PARLEY_ERROR("workers: cannot start thread %d", i);
			w->nthreads = i;
			parley_workers_destroy(w);
			return NULL;
		}
		w->nthreads = i + 1;
	}
	return w;
}

int parley_workers_submit(struct parley_workers *w, struct parley_strand *s, parley_job_fn fn,
			  void *arg)
{
	struct parley_job *j = malloc(sizeof *j);
	if (!j)
		return PARLEY_E_NOMEM;
	j->next = NULL;
	j->fn = fn;
	j->arg = arg;

	int rc = 0;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || s->cancelled) {
		rc = PARLEY_E_CLOSED;
	} else if (s->npending >= s->max_pending) {
		rc = PARLEY_E_FULL;
	} else {
		if (s->tail)
			s->tail->next = j;
		else
			s->head = j;
		s->tail = j;
		s->npending++;
		j = NULL;
		if (!s->scheduled) {
			s->scheduled = true;
			/* Hold the owner before any worker can see the strand. */
			if (s->hold)
				s->hold(s->owner);
			ready_push(w, s);
		}
	}
	pthread_mutex_unlock(&w->lock);
	free(j);
	return rc;
}

void parley_workers_yield(struct parley_workers *w, struct parley_strand *s)
{
	pthread_mutex_lock(&w->lock);
	s->yield = true;
	pthread_mutex_unlock(&w->lock);
}

void parley_strand_cancel(struct parley_workers *w, struct parley_strand *s)
{
	pthread_mutex_lock(&w->lock);
	s->cancelled = true;
	pthread_mutex_unlock(&w->lock);
}

size_t parley_strand_pending(struct parley_workers *w, struct parley_strand *s)
{
	pthread_mutex_lock(&w->lock);
	size_t n = s->npending;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void parley_workers_destroy(struct parley_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
}
