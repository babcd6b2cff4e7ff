/*
 * embedded.c - the embedded speech-to-text engine (parley_stt_pocketsphinx,
 * stt.h): pocketsphinx decoders (stt/decoder.h) from the shared pool behind
 * the asynchronous job interface.
 *
 * A job leases a decoder at start() and gives it back when it ends. While
 * it has one ("live"), feed() decodes on the caller's thread (the session's
 * listen strand job on the worker pool: that is how the embedded engine
 * runs on the workers) and reports a partial hypothesis through the sink
 * after each piece it decoded, when it changed (the listener feeds pieces
 * of a few hundred ms, and at once when a pause starts, so partials follow
 * new speech; asking costs little next to decoding); finish() and cancel()
 * report the end before they return.
 *
 * Decoded late rather than lost: when every decoder is leased (or the one
 * it will get is still being created), start() still succeeds and the job
 * waits in the pool's FIFO ("waiting"), keeping what it is fed (at most
 * BACKLOG_S seconds). When the pool grants it a decoder, a drain job on
 * the job's own strand on the workers decodes the kept audio in slices of
 * DRAIN_SLICE (yielding between them like a listener), while feed() keeps
 * appending; once the backlog is empty the job is live. A finish() or
 * cancel() that comes first is carried out by the drain, so end may come
 * after finish() returns, on a worker (stt.h allows it). A wait the pool
 * refuses (longer than --stt-wait-ms) ends the job with PARLEY_SPEECH_CAUSE_BUSY.
 * Without a worker pool (env->workers NULL: tools and unit tests) start()
 * leases blocking and refuses with PARLEY_E_FULL when all are leased.
 *
 * Threads: the state, backlog and cancel/finish requests are guarded by
 * the job's lock; the decoder is used by one thread at a time (the caller
 * while live, the drain job while draining). Nothing but the pool's
 * cancel_wait (in cancel()) is called with the lock held (lock order: a
 * job's lock, then the pool's; sink and pool callbacks run without
 * either).
 *
 * Warm-up: waits (briefly) for the pool's warm decoders, then transcribes
 * one second of a synthetic voiced signal on one and measures it; that
 * decoder is not kept (its live CMN heard the synthetic signal). With
 * --stt-warm 0 there is no decoder to warm and nothing is done.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stt/decoder.h"
#include "stt/stt.h"
#include "util/err.h"
#include "util/log.h"
#include "util/workers.h"

#define HYP_MAX 1024
#define WARM_WAIT_MS 2000              /* for the pool's warm decoders, then go on */
#define BACKLOG_S 32                   /* audio kept while waiting (an utterance is <= 30 s) */
#define SLICE (16000 / 4)              /* audio decoded between checks for waiting work: 250 ms */
#define DRAIN_PENDING 4

struct parley_stt_engine {
	const struct parley_stt_decoder_ops *ops;
	struct parley_stt_pool *pool;
	struct parley_workers *workers; /* NULL: no late decoding (blocking leases) */
	int warm;                       /* --stt-warm */
};

enum job_state {
	WAITING,  /* no decoder yet: feed() keeps the audio */
	DRAINING, /* a decoder: the drain job decodes the kept audio */
	LIVE,     /* a decoder and no backlog: feed() decodes */
	ENDED,    /* end reported (or being reported) */
};

struct parley_stt_job {
	struct parley_stt_engine *e;
	struct parley_stt_sink sink;
	atomic_int refs; /* the caller's; the engine's until end; the pool's while
			  * waiting; the strand's while drain jobs are queued */
	struct parley_stt_waiter waiter;
	struct parley_strand strand;
	pthread_mutex_t lock;
	enum job_state state; /* guarded by lock */
	bool finishing;       /* guarded by lock: finish() came before the job was live */
	bool cancelling;      /* guarded by lock: cancel() came while draining */
	enum parley_job_class cls; /* guarded by lock: the drain's class, unless finishing */
	void *dec;            /* set when leased; then used by one thread at a time */
	bool started;         /* the decoder's utterance was started (the decoding thread's) */
	int16_t *backlog;     /* guarded by lock: kept audio, [back_at, nback) */
	size_t nback, back_at, back_cap;
	int16_t *slice;       /* the drain job's copy of a slice of the backlog */
	char partial[HYP_MAX]; /* the decoding thread's */
};

static struct parley_stt_engine *create(const struct parley_config *cfg,
					const struct parley_speech_env *env, char *why,
					size_t whylen)
{
	struct parley_stt_engine *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	struct parley_stt_settings st = { .maxhmmpf = cfg->stt_maxhmmpf,
					  .fwdflat = cfg->stt_fwdflat,
					  .bestpath = cfg->stt_bestpath };
	snprintf(st.hmm, sizeof st.hmm, "%s", cfg->stt_hmm);
	snprintf(st.lm, sizeof st.lm, "%s", cfg->stt_lm);
	snprintf(st.dict, sizeof st.dict, "%s", cfg->stt_dict);
	e->ops = &parley_stt_ps_decoder;
	e->warm = cfg->stt_warm;
	e->workers = env ? env->workers : NULL;
	e->pool = parley_stt_pool_create(e->ops, &st, cfg->stt_warm, cfg->stt_max, cfg->stt_wait_ms);
	if (!e->pool) {
		snprintf(why, whylen, "cannot start the speech decoder pool");
		free(e);
		return NULL;
	}
	return e;
}

static void destroy(struct parley_stt_engine *e)
{
	if (!e)
		return;
	parley_stt_pool_destroy(e->pool);
	free(e);
}

static void info(struct parley_stt_engine *e, struct parley_speech_info *out)
{
	(void)e;
	memset(out, 0, sizeof *out);
	snprintf(out->engine, sizeof out->engine, "pocketsphinx");
	out->warmup_ms = -1;
}

static void job_hold(void *arg)
{
	struct parley_stt_job *j = arg;
	atomic_fetch_add(&j->refs, 1);
}

static void job_unref(void *arg)
{
	struct parley_stt_job *j = arg;
	if (atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&j->lock);
	free(j->backlog);
	free(j->slice);
	free(j);
}

/* Reports the end (the caller moved the job to ENDED under its lock, and
 * is the only one to do so): the decoder goes back, the sink hears end, the
 * engine's reference goes. Without any lock. */
static void end_job(struct parley_stt_job *j, enum parley_speech_end end,
		    enum parley_speech_cause cause, const char *text)
{
	void *dec = j->dec;
	j->dec = NULL;
	if (dec)
		parley_stt_pool_release(j->e->pool, dec);
	j->sink.end(j->sink.arg, end, cause, text);
	job_unref(j);
}

/* The decoder's utterance is ended and the job too. ok: with the final
 * transcript, else cancelled. The decoding thread, without the lock. */
static void finish_decoder(struct parley_stt_job *j, bool ok)
{
	char final[HYP_MAX] = "";
	if (j->started)
		j->e->ops->finish(j->dec, final, sizeof final);
	if (ok)
		end_job(j, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, final);
	else
		end_job(j, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE, "");
}

/* Starts the decoder's utterance (first call) and decodes n samples. The
 * decoding thread, without the lock. Returns 0, or PARLEY_E_IO: the caller
 * ends the job (failed()). */
static int decode(struct parley_stt_job *j, const int16_t *pcm, size_t n)
{
	if (!j->started) {
		if (j->e->ops->start(j->dec) != 0)
			return PARLEY_E_IO;
		j->started = true;
	}
	if (n && j->e->ops->feed(j->dec, pcm, n) != 0)
		return PARLEY_E_IO;
	return 0;
}

/* Reports the partial hypothesis when it changed. The decoding thread,
 * without the lock. */
static void report_partial(struct parley_stt_job *j)
{
	if (!j->sink.partial)
		return;
	char hyp[HYP_MAX];
	j->e->ops->partial(j->dec, hyp, sizeof hyp);
	if (hyp[0] && strcmp(hyp, j->partial) != 0) {
		memcpy(j->partial, hyp, sizeof hyp);
		j->sink.partial(j->sink.arg, hyp);
	}
}

/* Caller holds the lock: the class of the next drain job. Urgent once the
 * utterance is finishing (its final transcript is waited for), else what
 * the feed that put the decoding off asked for. */
static enum parley_job_class drain_class_locked(const struct parley_stt_job *j)
{
	return j->finishing ? PARLEY_JOB_URGENT : j->cls;
}

/* The decoder failed on this utterance: the job ends with an error. The
 * decoding thread, without the lock; the job is ENDED already. */
static void failed(struct parley_stt_job *j)
{
	char ignored[8];
	if (j->started)
		j->e->ops->finish(j->dec, ignored, sizeof ignored);
	end_job(j, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_INTERNAL,
		"the speech recogniser failed on this utterance");
}

static void drain(void *arg, bool cancelled);

/* Pool callback (a worker giving a decoder back, or the filler): the
 * waiting job has its decoder (or was refused, dec NULL); the drain job
 * takes it from here. Takes over the pool's reference. */
static void granted(void *arg, void *dec)
{
	struct parley_stt_job *j = arg;
	pthread_mutex_lock(&j->lock);
	j->dec = dec;
	if (dec && j->state == WAITING)
		j->state = DRAINING;
	enum parley_job_class cls = drain_class_locked(j);
	pthread_mutex_unlock(&j->lock);
	if (parley_workers_submit(j->e->workers, &j->strand, cls, drain, j) != 0) {
		/* no workers (shutting down): nothing will decode it */
		pthread_mutex_lock(&j->lock);
		bool end = j->state != ENDED;
		j->state = ENDED;
		pthread_mutex_unlock(&j->lock);
		if (end)
			end_job(j, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE, "");
	}
	job_unref(j); /* the pool's */
}

/* The strand: decodes a slice of the kept audio, then goes on behind the
 * other ready strands, until the job is live or ended. */
static void drain(void *arg, bool cancelled)
{
	struct parley_stt_job *j = arg;
	pthread_mutex_lock(&j->lock);
	if (j->state == ENDED) {
		pthread_mutex_unlock(&j->lock);
		return;
	}
	if (!j->dec || cancelled || j->cancelling) {
		/* refused: the wait ran out (a cancelled job just ends) */
		bool refused = !j->dec && !cancelled && !j->cancelling;
		j->state = ENDED;
		pthread_mutex_unlock(&j->lock);
		if (refused)
			end_job(j, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_BUSY,
				"every speech decoder stayed busy; this utterance was not "
				"transcribed");
		else
			finish_decoder(j, false);
		return;
	}
	pthread_mutex_unlock(&j->lock);

	/* Slices of the kept audio, as long as nothing that must not wait is
	 * ready (util/workers.h); then behind the others. */
	bool more, decoded = false;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		size_t n = j->nback - j->back_at;
		if (n > SLICE)
			n = SLICE;
		if (n)
			memcpy(j->slice, j->backlog + j->back_at, n * sizeof *j->slice);
		j->back_at += n;
		bool stop = j->cancelling;
		pthread_mutex_unlock(&j->lock);
		if (stop)
			break;
		if (decode(j, j->slice, n) != 0) {
			pthread_mutex_lock(&j->lock);
			j->state = ENDED;
			pthread_mutex_unlock(&j->lock);
			failed(j);
			return;
		}
		decoded = decoded || n;
		pthread_mutex_lock(&j->lock);
		more = j->back_at < j->nback;
		pthread_mutex_unlock(&j->lock);
		if (!more || parley_workers_contended(j->e->workers))
			break;
	}
	if (decoded)
		report_partial(j);

	pthread_mutex_lock(&j->lock);
	more = j->back_at < j->nback;
	bool finish = !more && j->finishing && !j->cancelling;
	if (!more && !j->finishing && !j->cancelling) {
		j->state = LIVE; /* feed() decodes from now on */
		j->nback = j->back_at = 0;
	} else if (!more || j->cancelling) {
		j->state = ENDED;
	}
	bool end = j->state == ENDED;
	enum parley_job_class cls = drain_class_locked(j);
	pthread_mutex_unlock(&j->lock);
	if (end) {
		finish_decoder(j, finish);
	} else if (more) {
		if (parley_workers_submit(j->e->workers, &j->strand, cls, drain, j) == 0) {
			parley_workers_yield(j->e->workers, &j->strand);
		} else {
			pthread_mutex_lock(&j->lock);
			j->state = ENDED;
			pthread_mutex_unlock(&j->lock);
			finish_decoder(j, false);
		}
	}
}

static struct parley_stt_job *start(struct parley_stt_engine *e,
				    const struct parley_stt_sink *sink, int *err)
{
	struct parley_stt_job *j = calloc(1, sizeof *j);
	if (!j) {
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	j->e = e;
	j->sink = *sink;
	j->cls = PARLEY_JOB_LONG; /* audio kept while waiting for a decoder */
	pthread_mutex_init(&j->lock, NULL);
	parley_strand_init(&j->strand, DRAIN_PENDING, job_hold, job_unref, j);
	if (!e->workers) {
		j->dec = parley_stt_pool_lease(e->pool);
		if (!j->dec) {
			*err = PARLEY_E_FULL;
			goto fail;
		}
	} else {
		j->slice = malloc(SLICE * sizeof *j->slice);
		if (!j->slice) {
			*err = PARLEY_E_NOMEM;
			goto fail;
		}
		j->waiter.granted = granted;
		j->waiter.arg = j;
		j->state = WAITING;
		atomic_init(&j->refs, 3); /* the caller's, the engine's, the pool's */
		/* Into a local: once queued, granted() may set j->dec (under
		 * j->lock) before this call returns. */
		void *dec = parley_stt_pool_lease_or_wait(e->pool, &j->waiter);
		if (!dec) {
			PARLEY_DEBUG("stt: every decoder is busy; an utterance waits for one");
			return j; /* granted() follows */
		}
		j->dec = dec;
	}
	j->state = LIVE;
	atomic_init(&j->refs, 2); /* the caller's and the engine's */
	if (decode(j, NULL, 0) != 0) {
		parley_stt_pool_release(e->pool, j->dec);
		*err = PARLEY_E_IO;
		goto fail;
	}
	return j;
fail:
	pthread_mutex_destroy(&j->lock);
	free(j->slice);
	free(j);
	return NULL;
}

/* Keeps audio while the job has no decoder or drains. Caller holds the
 * lock. Beyond BACKLOG_S the newest audio is not kept (the listener cuts
 * an utterance at 30 s, so it does not come to that). */
static void keep(struct parley_stt_job *j, const int16_t *pcm, size_t n)
{
	if (j->back_at && j->back_at == j->nback)
		j->nback = j->back_at = 0;
	size_t max = (size_t)BACKLOG_S * 16000;
	if (j->nback + n > max)
		n = j->nback < max ? max - j->nback : 0;
	if (j->nback + n > j->back_cap) {
		size_t cap = j->back_cap ? j->back_cap : 16000;
		while (cap < j->nback + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		int16_t *b = realloc(j->backlog, cap * sizeof *b);
		if (!b)
			return; /* the audio is lost; the transcript has a gap */
		j->backlog = b;
		j->back_cap = cap;
	}
	memcpy(j->backlog + j->nback, pcm, n * sizeof *pcm);
	j->nback += n;
}

/* Live, on the caller's thread: the rest of a piece, pcm[0..n), goes to
 * the backlog and a drain job decodes it (urgent if the caller's job is,
 * else long; urgent anyway once the utterance is finishing). If the pool
 * refuses the job (it is stopping), the job ends cancelled. */
static void put_off(struct parley_stt_job *j, const int16_t *pcm, size_t n)
{
	enum parley_job_class cls = parley_workers_current_class() == PARLEY_JOB_URGENT
					    ? PARLEY_JOB_URGENT
					    : PARLEY_JOB_LONG;
	pthread_mutex_lock(&j->lock);
	j->state = DRAINING;
	j->cls = cls;
	keep(j, pcm, n);
	pthread_mutex_unlock(&j->lock);
	if (parley_workers_submit(j->e->workers, &j->strand, cls, drain, j) != 0) {
		pthread_mutex_lock(&j->lock);
		j->state = ENDED;
		pthread_mutex_unlock(&j->lock);
		finish_decoder(j, false);
	}
}

static int feed(struct parley_stt_job *j, const int16_t *pcm, size_t n)
{
	bool urgent = parley_workers_current_class() == PARLEY_JOB_URGENT;
	pthread_mutex_lock(&j->lock);
	enum job_state state = j->state;
	if (state == WAITING || state == DRAINING) {
		keep(j, pcm, n);
		if (urgent)
			j->cls = PARLEY_JOB_URGENT; /* a pause began: its partial is waited for */
	}
	pthread_mutex_unlock(&j->lock);
	if (state == ENDED)
		return PARLEY_E_CLOSED;
	if (state == DRAINING && urgent)
		parley_strand_urge(j->e->workers, &j->strand);
	if (state != LIVE)
		return 0;
	/* live: only this thread moves the job on from here. A big piece is
	 * decoded in slices; when something that must not wait is ready, the
	 * rest is put off to a drain job (behind it), as for a job that
	 * waited for its decoder. */
	size_t at = 0;
	while (at < n) {
		size_t k = n - at < SLICE ? n - at : SLICE;
		if (decode(j, pcm + at, k) != 0) {
			pthread_mutex_lock(&j->lock);
			j->state = ENDED;
			pthread_mutex_unlock(&j->lock);
			failed(j);
			return PARLEY_E_IO;
		}
		at += k;
		if (at < n && j->e->workers && parley_workers_contended(j->e->workers)) {
			put_off(j, pcm + at, n - at);
			break;
		}
	}
	if (n)
		report_partial(j);
	return 0;
}

static void finish(struct parley_stt_job *j)
{
	pthread_mutex_lock(&j->lock);
	enum job_state state = j->state;
	if (state == LIVE)
		j->state = ENDED;
	else if (state != ENDED)
		j->finishing = true; /* the drain job ends it */
	pthread_mutex_unlock(&j->lock);
	if (state == LIVE)
		finish_decoder(j, true);
	else if (state == DRAINING)
		/* its final transcript is waited for now */
		parley_strand_urge(j->e->workers, &j->strand);
}

static void cancel(struct parley_stt_job *j)
{
	pthread_mutex_lock(&j->lock);
	enum job_state state = j->state;
	bool end = false;
	if (state == LIVE) {
		j->state = ENDED;
	} else if (state == WAITING && parley_stt_pool_cancel_wait(j->e->pool, &j->waiter)) {
		j->state = ENDED; /* granted() will not come */
		end = true;
	} else if (state != ENDED) {
		j->cancelling = true; /* granted() or the drain job ends it */
	}
	pthread_mutex_unlock(&j->lock);
	if (state == LIVE) {
		finish_decoder(j, false);
	} else if (end) {
		end_job(j, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE, "");
		job_unref(j); /* the pool's */
	}
}

static void release(struct parley_stt_job *j)
{
	if (!j)
		return;
	cancel(j);
	job_unref(j);
}

/* ---- warm-up ----------------------------------------------------------- */

static int warm(struct parley_stt_engine *e, char *why, size_t whylen)
{
	/* --stt-warm 0 asks for no decoder at startup (each costs ~93 MB and
	 * a few hundred ms): the first utterance loads one, and there is
	 * nothing to warm before. */
	if (e->warm == 0)
		return 0;
	/* Measure a warm decoder when the pool has them soon; a model that
	 * cannot load fails here; still loading after WARM_WAIT_MS, the lease
	 * below creates its own (the warm-up must not hold shutdown long). */
	if (parley_stt_pool_wait_warm(e->pool, WARM_WAIT_MS, why, whylen) == PARLEY_E_IO)
		return -1;
	/* One second of a voiced, vowel-like signal (a 120 Hz buzz with two
	 * formants, syllable-shaped): the decoder does the work of a short
	 * utterance. */
	enum { N = 16000 };
	int16_t *pcm = malloc(N * sizeof *pcm);
	if (!pcm) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (int i = 0; i < N; i++) {
		double t = (double)i / 16000;
		double env = 0.5 - 0.5 * cos(2 * M_PI * 4 * t); /* four syllables */
		double v = 0;
		for (int h = 1; h <= 25; h++) {
			double f = 120.0 * h;
			double gain = exp(-pow((f - 700) / 250, 2)) + 0.6 * exp(-pow((f - 1200) / 300, 2)) +
				      0.05;
			v += gain * sin(2 * M_PI * f * t) / h;
		}
		pcm[i] = (int16_t)(6000 * env * v);
	}
	int rc = -1;
	void *dec = parley_stt_pool_lease(e->pool);
	if (!dec) {
		/* a decoder that cannot be created says why */
		if (parley_stt_pool_wait_warm(e->pool, 0, why, whylen) != PARLEY_E_IO)
			snprintf(why, whylen, "cannot start a transcription: every decoder is busy");
		goto out;
	}
	char text[HYP_MAX];
	bool ok = e->ops->start(dec) == 0;
	for (size_t at = 0; ok && at < N; at += 1600)
		ok = e->ops->feed(dec, pcm + at, 1600) == 0;
	e->ops->finish(dec, text, sizeof text);
	/* not kept: its live CMN heard the synthetic signal */
	parley_stt_pool_discard(e->pool, dec);
	if (!ok) {
		snprintf(why, whylen, "the warm-up transcription failed");
		goto out;
	}
	PARLEY_DEBUG("stt warm-up heard \"%s\"", text);
	rc = 0;
out:
	free(pcm);
	return rc;
}

const struct parley_stt_backend parley_stt_pocketsphinx = {
	.name = "pocketsphinx",
	.rate = 16000,
	.create = create,
	.destroy = destroy,
	.warm = warm,
	.info = info,
	.start = start,
	.feed = feed,
	.finish = finish,
	.cancel = cancel,
	.release = release,
};
