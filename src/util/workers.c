#include "util/workers.h"

#include <stdlib.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"

struct parley_job {
	struct parley_job *next;
	parley_job_fn fn;
	void *arg;
	enum parley_job_class cls;
};

struct fifo {
	struct parley_strand *head, *tail;
};

struct parley_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fifo ready[PARLEY_JOB_CLASSES]; /* guarded by lock: ready strands by class */
	bool stopping;                         /* guarded by lock */
	int nthreads;
	pthread_t *threads;
};

/* The class of the job this thread runs (parley_workers_current_class). */
static _Thread_local enum parley_job_class current = PARLEY_JOB_NORMAL;

void parley_strand_init(struct parley_strand *s, size_t max_pending, void (*hold)(void *),
			void (*release)(void *), void *owner)
{
	s->head = s->tail = NULL;
	s->npending = 0;
	for (int c = 0; c < PARLEY_JOB_CLASSES; c++)
		s->nclass[c] = 0;
	s->max_pending = max_pending;
	s->scheduled = false;
	s->cancelled = false;
	s->yield = false;
	s->fifo = -1;
	s->next_ready = s->prev_ready = NULL;
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

/* Caller holds w->lock: the most urgent class among s's queued jobs. */
static int class_of(const struct parley_strand *s)
{
	for (int c = 0; c < PARLEY_JOB_CLASSES; c++)
		if (s->nclass[c])
			return c;
	return PARLEY_JOB_NORMAL;
}

/* Caller holds w->lock: s joins the back of the FIFO of its class. */
static void ready_push(struct parley_workers *w, struct parley_strand *s, long long since)
{
	int c = class_of(s);
	struct fifo *f = &w->ready[c];
	s->fifo = c;
	s->next_ready = NULL;
	s->prev_ready = f->tail;
	s->ready_ns = since;
	if (f->tail)
		f->tail->next_ready = s;
	else
		f->head = s;
	f->tail = s;
	pthread_cond_signal(&w->cond);
}

/* Caller holds w->lock: s leaves the FIFO it waits in. */
static void ready_unlink(struct parley_workers *w, struct parley_strand *s)
{
	struct fifo *f = &w->ready[s->fifo];
	if (s->prev_ready)
		s->prev_ready->next_ready = s->next_ready;
	else
		f->head = s->next_ready;
	if (s->next_ready)
		s->next_ready->prev_ready = s->prev_ready;
	else
		f->tail = s->prev_ready;
	s->next_ready = s->prev_ready = NULL;
	s->fifo = -1;
}

/* Caller holds w->lock: a waiting s moves to the FIFO of its class when
 * that became more urgent (it keeps the time it has waited). */
static void ready_promote(struct parley_workers *w, struct parley_strand *s)
{
	if (s->fifo < 0 || class_of(s) >= s->fifo)
		return;
	long long since = s->ready_ns;
	ready_unlink(w, s);
	ready_push(w, s, since);
}

/* Caller holds w->lock: the normal or long FIFO head that has waited
 * longest beyond PARLEY_STRAND_MAX_WAIT_MS, or NULL. */
static struct parley_strand *overdue(struct parley_workers *w, long long now)
{
	struct parley_strand *due = NULL;
	for (int c = PARLEY_JOB_NORMAL; c < PARLEY_JOB_CLASSES; c++) {
		struct parley_strand *h = w->ready[c].head;
		if (h && now - h->ready_ns > (long long)PARLEY_STRAND_MAX_WAIT_MS * 1000000 &&
		    (!due || h->ready_ns < due->ready_ns))
			due = h;
	}
	return due;
}

/* Caller holds w->lock: the next strand to run (see "Classes" in the
 * header), or NULL. */
static struct parley_strand *ready_pop(struct parley_workers *w)
{
	struct parley_strand *s = overdue(w, now_ns());
	for (int c = 0; !s && c < PARLEY_JOB_CLASSES; c++)
		s = w->ready[c].head;
	if (s)
		ready_unlink(w, s);
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
		while (s->head && ran < PARLEY_STRAND_BATCH) {
			struct parley_job *j = s->head;
			s->head = j->next;
			if (!s->head)
				s->tail = NULL;
			s->npending--;
			s->nclass[j->cls]--;
			bool cancelled = s->cancelled || w->stopping;
			pthread_mutex_unlock(&w->lock);
			current = j->cls;
			j->fn(j->arg, cancelled);
			current = PARLEY_JOB_NORMAL;
			free(j);
			ran++;
			pthread_mutex_lock(&w->lock);
			if (s->yield) {
				s->yield = false;
				break;
			}
			if (w->ready[PARLEY_JOB_URGENT].head && class_of(s) != PARLEY_JOB_URGENT)
				break; /* urgent work waits: this strand goes back in line */
		}
		if (s->head) {
			ready_push(w, s, now_ns()); /* still scheduled: back of the line */
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

int parley_workers_submit(struct parley_workers *w, struct parley_strand *s,
			  enum parley_job_class cls, parley_job_fn fn, void *arg)
{
	if ((int)cls < 0 || cls >= PARLEY_JOB_CLASSES)
		cls = PARLEY_JOB_NORMAL;
	struct parley_job *j = malloc(sizeof *j);
	if (!j)
		return PARLEY_E_NOMEM;
	j->next = NULL;
	j->fn = fn;
	j->arg = arg;
	j->cls = cls;

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
		s->nclass[cls]++;
		j = NULL;
		if (!s->scheduled) {
			s->scheduled = true;
			/* Hold the owner before any worker can see the strand. */
			if (s->hold)
				s->hold(s->owner);
			ready_push(w, s, now_ns());
		} else {
			ready_promote(w, s);
		}
	}
	pthread_mutex_unlock(&w->lock);
	free(j);
	return rc;
}

void parley_strand_urge(struct parley_workers *w, struct parley_strand *s)
{
	pthread_mutex_lock(&w->lock);
	for (struct parley_job *j = s->head; j; j = j->next) {
		s->nclass[j->cls]--;
		j->cls = PARLEY_JOB_URGENT;
		s->nclass[j->cls]++;
	}
	ready_promote(w, s);
	pthread_mutex_unlock(&w->lock);
}

bool parley_workers_contended(struct parley_workers *w)
{
	pthread_mutex_lock(&w->lock);
	bool busy = w->ready[PARLEY_JOB_URGENT].head || overdue(w, now_ns());
	pthread_mutex_unlock(&w->lock);
	return busy;
}

enum parley_job_class parley_workers_current_class(void)
{
	return current;
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
