/*
 * embedded.c - the job runner of the embedded synthesisers (see
 * tts/embedded.h for the design).
 *
 * Lock: e->lock guards the engine's queue and slot count and each job's
 * `state`, `counted` and `next`; it is never held while a backend or a
 * sink runs.
 */
#include "tts/embedded.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/workers.h"

#define CHUNK_MS 100

enum job_state {
	JOB_QUEUED,    /* waiting for a slot */
	JOB_SUBMITTED, /* on its strand (running, or ending cancelled) */
	JOB_ENDED,
};

struct parley_tts_engine {
	const struct parley_tts_backend *b;
	struct parley_workers *workers; /* borrowed */
	int max_inflight;
	size_t max_queue;

	pthread_mutex_t lock;
	struct parley_tts_job *qhead, *qtail; /* guarded by lock */
	size_t nqueued;                       /* guarded by lock */
	int running;                          /* guarded by lock: slots in use */
	struct parley_gauge m_inflight, m_queued;
};

struct parley_tts_job {
	struct parley_tts_engine *e;
	struct parley_tts_sink sink;
	struct parley_tts_voice voice; /* points into the allow-list */
	double rate_mult;
	char *text;
	atomic_int refs;          /* the caller's, the engine's until end, the strand's */
	atomic_bool cancelled;
	enum job_state state;     /* guarded by e->lock */
	bool counted;             /* guarded by e->lock: holds one of the slots */
	struct parley_tts_job *next; /* guarded by e->lock: queue link */
	enum parley_job_class cls;   /* of the job that started it (util/workers.h) */
	struct parley_strand strand;
};

static void job_ref(void *arg)
{
	struct parley_tts_job *j = arg;
	atomic_fetch_add(&j->refs, 1);
}

static void job_unref(void *arg)
{
	struct parley_tts_job *j = arg;
	if (atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	free(j->text);
	free(j);
}

struct parley_tts_engine *parley_tts_embedded_create(const struct parley_tts_backend *b,
						     const struct parley_config *cfg,
						     const struct parley_speech_env *env,
						     char *why, size_t whylen)
{
	if (!env || !env->workers) {
		snprintf(why, whylen, "no worker pool to run synthesis on");
		return NULL;
	}
	struct parley_tts_engine *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	e->b = b;
	e->workers = env->workers;
	e->max_inflight = cfg->tts_max_inflight > 0 ? cfg->tts_max_inflight : cfg->workers;
	if (e->max_inflight < 1)
		e->max_inflight = 1;
	e->max_queue = cfg->tts_max_queue > 0 ? (size_t)cfg->tts_max_queue : 0;
	pthread_mutex_init(&e->lock, NULL);
	/* Label values must live as long as the process: the backend's name. */
	parley_metrics_register_gauge("parley_tts_inflight", "synthesis jobs running, by engine",
				      "engine", b->name, &e->m_inflight);
	parley_metrics_register_gauge("parley_tts_queued",
				      "synthesis jobs waiting for a slot, by engine", "engine",
				      b->name, &e->m_queued);
	return e;
}

void parley_tts_embedded_destroy(struct parley_tts_engine *e)
{
	if (!e)
		return;
	if (e->running || e->nqueued)
		PARLEY_ERROR("tts %s: destroyed with %d job(s) running and %zu queued", e->b->name,
			     e->running, e->nqueued);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void parley_tts_embedded_info(struct parley_tts_engine *e, struct parley_speech_info *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->engine, sizeof out->engine, "%s", e->b->name);
	out->warmup_ms = -1;
}

int parley_tts_embedded_warm_voice(struct parley_tts_engine *e, const char *name, char *why,
				   size_t whylen)
{
	struct parley_tts_voice v;
	if (!name || parley_tts_voice_lookup(name, &v) != 0 || v.backend != e->b) {
		snprintf(why, whylen, "%s has no voice '%s'", e->b->name, name ? name : "");
		return -1;
	}
	int16_t *pcm = NULL;
	size_t n = 0;
	int rate = 0;
	int rc = e->b->synth(&v, 1.0, "Hello, how can I help you today?", &pcm, &n, &rate);
	free(pcm);
	if (rc != 0 || n == 0) {
		snprintf(why, whylen, "%s could not synthesise a test sentence with voice %s: %s",
			 e->b->name, v.name, rc ? parley_strerror(rc) : "no audio");
		return -1;
	}
	return 0;
}

int parley_tts_embedded_warm(struct parley_tts_engine *e, char *why, size_t whylen)
{
	return parley_tts_embedded_warm_voice(e, e->b->default_voice, why, whylen);
}

static enum parley_speech_cause cause_of(int rc)
{
	switch (rc) {
	case PARLEY_E_RANGE:
	case PARLEY_E_INVAL: return PARLEY_SPEECH_CAUSE_REFUSED;
	default: return PARLEY_SPEECH_CAUSE_INTERNAL;
	}
}

static void run(void *arg, bool cancelled);

/* Caller holds e->lock and gives up a slot: it goes to the oldest waiting
 * job, returned for the caller to submit after unlocking, or is freed. */
static struct parley_tts_job *free_slot_locked(struct parley_tts_engine *e)
{
	struct parley_tts_job *next = e->qhead;
	if (next) {
		e->qhead = next->next;
		if (!e->qhead)
			e->qtail = NULL;
		e->nqueued--;
		next->next = NULL;
		next->state = JOB_SUBMITTED;
		next->counted = true;
	} else {
		e->running--;
	}
	parley_gauge_set(&e->m_inflight, e->running);
	parley_gauge_set(&e->m_queued, (int64_t)e->nqueued);
	return next;
}

/* Caller holds e->lock: j joins the queue for a slot, an urgent job (an
 * answer's first piece) ahead of every job that is not. */
static void enqueue_locked(struct parley_tts_engine *e, struct parley_tts_job *j)
{
	struct parley_tts_job **p = &e->qhead;
	while (*p && (j->cls != PARLEY_JOB_URGENT || (*p)->cls == PARLEY_JOB_URGENT))
		p = &(*p)->next;
	j->next = *p;
	*p = j;
	if (!j->next)
		e->qtail = j;
	e->nqueued++;
}

/* Hands j to its strand. On failure (the pool is stopping) j ends at once,
 * cancelled, on this thread. */
static void submit(struct parley_tts_job *j)
{
	if (parley_workers_submit(j->e->workers, &j->strand, j->cls, run, j) != 0)
		run(j, true);
}

/*
 * A job on its strand: synthesise (unless cancelled), deliver in chunks,
 * end, free the slot and start the next queued job.
 */
static void run(void *arg, bool cancelled)
{
	struct parley_tts_job *j = arg;
	struct parley_tts_engine *e = j->e;
	int16_t *pcm = NULL;
	size_t n = 0;
	int rate = 0;
	int rc = 0;
	if (!cancelled && !atomic_load(&j->cancelled))
		rc = e->b->synth(&j->voice, j->rate_mult, j->text, &pcm, &n, &rate);
	if (rc == 0 && rate > 0) {
		size_t chunk = (size_t)rate * CHUNK_MS / 1000;
		for (size_t at = 0; at < n && !atomic_load(&j->cancelled); at += chunk)
			j->sink.audio(j->sink.arg, pcm + at, n - at < chunk ? n - at : chunk, rate);
	}
	free(pcm);

	struct parley_tts_job *next = NULL;
	pthread_mutex_lock(&e->lock);
	j->state = JOB_ENDED;
	if (j->counted) {
		j->counted = false;
		next = free_slot_locked(e);
	}
	pthread_mutex_unlock(&e->lock);

	if (cancelled || atomic_load(&j->cancelled))
		j->sink.end(j->sink.arg, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE, NULL);
	else if (rc != 0)
		j->sink.end(j->sink.arg, PARLEY_SPEECH_ERROR, cause_of(rc),
			    rc == PARLEY_E_RANGE ? "the speech engine refused this text"
						 : "the speech engine failed on this sentence");
	else
		j->sink.end(j->sink.arg, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, NULL);
	job_unref(j); /* the engine's */
	if (next)
		submit(next);
}

struct parley_tts_job *parley_tts_embedded_start(struct parley_tts_engine *e,
						 const struct parley_tts_voice *v, double rate_mult,
						 const char *text, const struct parley_tts_sink *sink,
						 int *err)
{
	if (v->backend != e->b) {
		*err = PARLEY_E_INVAL;
		return NULL;
	}
	struct parley_tts_job *j = calloc(1, sizeof *j);
	if (!j || !(j->text = strdup(text))) {
		free(j);
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	j->e = e;
	j->sink = *sink;
	j->voice = *v;
	j->rate_mult = rate_mult;
	atomic_init(&j->refs, 2); /* the caller's and the engine's */
	atomic_init(&j->cancelled, false);
	parley_strand_init(&j->strand, 1, job_ref, job_unref, j);
	/* Started by the speaker's pump: as urgent as the pump (an answer's
	 * first piece), even when it waits for a slot. */
	j->cls = parley_workers_current_class();

	bool now = false;
	pthread_mutex_lock(&e->lock);
	if (e->running < e->max_inflight) {
		e->running++;
		j->counted = true;
		j->state = JOB_SUBMITTED;
		now = true;
	} else if (e->nqueued < e->max_queue) {
		j->state = JOB_QUEUED;
		enqueue_locked(e, j);
	} else {
		pthread_mutex_unlock(&e->lock);
		free(j->text);
		free(j);
		*err = PARLEY_E_FULL;
		return NULL;
	}
	parley_gauge_set(&e->m_inflight, e->running);
	parley_gauge_set(&e->m_queued, (int64_t)e->nqueued);
	pthread_mutex_unlock(&e->lock);

	if (now && parley_workers_submit(e->workers, &j->strand, j->cls, run, j) != 0) {
		/* The pool is stopping: give the slot back (to a job queued
		 * meanwhile, which then ends cancelled) and fail without a call. */
		pthread_mutex_lock(&e->lock);
		struct parley_tts_job *next = free_slot_locked(e);
		pthread_mutex_unlock(&e->lock);
		free(j->text);
		free(j);
		if (next)
			submit(next);
		*err = PARLEY_E_CLOSED;
		return NULL;
	}
	return j;
}

void parley_tts_embedded_cancel(struct parley_tts_job *j)
{
	struct parley_tts_engine *e = j->e;
	atomic_store(&j->cancelled, true);
	bool unqueued = false;
	pthread_mutex_lock(&e->lock);
	if (j->state == JOB_QUEUED) {
		struct parley_tts_job **p = &e->qhead;
		while (*p != j)
			p = &(*p)->next;
		*p = j->next;
		if (e->qtail == j) {
			e->qtail = NULL;
			for (struct parley_tts_job *q = e->qhead; q; q = q->next)
				e->qtail = q;
		}
		j->next = NULL;
		e->nqueued--;
		j->state = JOB_SUBMITTED; /* ends on its strand, without a slot */
		unqueued = true;
		parley_gauge_set(&e->m_queued, (int64_t)e->nqueued);
	}
	pthread_mutex_unlock(&e->lock);
	if (unqueued)
		submit(j);
}

void parley_tts_embedded_release(struct parley_tts_job *j)
{
	if (!j)
		return;
	struct parley_tts_engine *e = j->e;
	pthread_mutex_lock(&e->lock);
	bool ended = j->state == JOB_ENDED;
	pthread_mutex_unlock(&e->lock);
	if (!ended)
		parley_tts_embedded_cancel(j);
	job_unref(j); /* the caller's */
}
