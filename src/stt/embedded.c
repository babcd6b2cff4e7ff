/*
 * embedded.c - the embedded speech-to-text engine (parley_stt_pocketsphinx,
 * stt.h): pocketsphinx decoders (stt/decoder.h) from the shared pool behind
 * the asynchronous job interface.
 *
 * A job leases a decoder at start() (PARLEY_E_FULL when --stt-max are
 * leased) and gives it back when it ends. feed() decodes on the caller's
 * thread (the session's listen strand job on the worker pool: that is how
 * the embedded engine runs on the workers) and reports a partial
 * hypothesis through the sink at most every 200 ms, and only when it
 * changed. finish() reports end(OK, final) before it returns; cancel()
 * reports end(CANCELLED) before it returns. Everything happens on the
 * caller's thread, so a job needs no lock: the contract (stt.h) already
 * says one thread at a time per job.
 *
 * Warm-up: waits (briefly) for the pool's warm decoders, then transcribes
 * one second of a synthetic voiced signal on one and measures it; that
 * decoder is not kept (its live CMN heard the synthetic signal). With
 * --stt-warm 0 there is no decoder to warm and nothing is done.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stt/decoder.h"
#include "stt/stt.h"
#include "util/err.h"
#include "util/log.h"

#define PARTIAL_EVERY_NS 200000000LL /* at most 5 partials a second */
#define HYP_MAX 1024
#define WARM_WAIT_MS 2000            /* for the pool's warm decoders, then go on */

struct parley_stt_engine {
	const struct parley_stt_decoder_ops *ops;
	struct parley_stt_pool *pool;
	int warm; /* --stt-warm */
};

struct parley_stt_job {
	struct parley_stt_engine *e;
	struct parley_stt_sink sink;
	void *dec;    /* leased until the job ends */
	int refs;     /* the caller's, and the engine's until end */
	bool ended;
	bool discard; /* the warm-up's: destroy the decoder, do not keep its CMN */
	int64_t last_partial_ns;
	char partial[HYP_MAX];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct parley_stt_engine *create(const struct parley_config *cfg,
					const struct parley_speech_env *env, char *why,
					size_t whylen)
{
	(void)env; /* jobs run on the caller's thread */
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
	e->pool = parley_stt_pool_create(e->ops, &st, cfg->stt_warm, cfg->stt_max);
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

static struct parley_stt_job *start(struct parley_stt_engine *e,
				    const struct parley_stt_sink *sink, int *err)
{
	struct parley_stt_job *j = calloc(1, sizeof *j);
	if (!j) {
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	j->dec = parley_stt_pool_lease(e->pool);
	if (!j->dec) {
		free(j);
		*err = PARLEY_E_FULL;
		return NULL;
	}
	if (e->ops->start(j->dec) != 0) {
		parley_stt_pool_release(e->pool, j->dec);
		free(j);
		*err = PARLEY_E_IO;
		return NULL;
	}
	j->e = e;
	j->sink = *sink;
	j->refs = 2;
	j->last_partial_ns = now_ns();
	return j;
}

/* Ends the job: the decoder goes back, the sink hears end, the engine's
 * reference goes. */
static void end_job(struct parley_stt_job *j, enum parley_speech_end end,
		    enum parley_speech_cause cause, const char *text)
{
	j->ended = true;
	if (j->discard)
		parley_stt_pool_discard(j->e->pool, j->dec);
	else
		parley_stt_pool_release(j->e->pool, j->dec);
	j->dec = NULL;
	j->refs--;
	j->sink.end(j->sink.arg, end, cause, text);
}

static int feed(struct parley_stt_job *j, const int16_t *pcm, size_t n)
{
	if (j->ended)
		return PARLEY_E_CLOSED;
	if (j->e->ops->feed(j->dec, pcm, n) != 0) {
		char ignored[8];
		j->e->ops->finish(j->dec, ignored, sizeof ignored);
		end_job(j, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_INTERNAL,
			"the speech recogniser failed on this utterance");
		return PARLEY_E_IO;
	}
	int64_t now = now_ns();
	if (j->sink.partial && now - j->last_partial_ns >= PARTIAL_EVERY_NS) {
		char hyp[HYP_MAX];
		j->last_partial_ns = now;
		j->e->ops->partial(j->dec, hyp, sizeof hyp);
		if (hyp[0] && strcmp(hyp, j->partial) != 0) {
			memcpy(j->partial, hyp, sizeof hyp);
			j->sink.partial(j->sink.arg, hyp);
		}
	}
	return 0;
}

static void finish(struct parley_stt_job *j)
{
	if (j->ended)
		return;
	char final[HYP_MAX];
	j->e->ops->finish(j->dec, final, sizeof final);
	end_job(j, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, final);
}

static void cancel(struct parley_stt_job *j)
{
	if (j->ended)
		return;
	char ignored[8];
	j->e->ops->finish(j->dec, ignored, sizeof ignored);
	end_job(j, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE, "");
}

static void release(struct parley_stt_job *j)
{
	if (!j)
		return;
	cancel(j);
	if (--j->refs == 0)
		free(j);
}

/* ---- warm-up ----------------------------------------------------------- */

struct warm_result {
	enum parley_speech_end end;
	char text[HYP_MAX];
};

static void warm_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		     const char *text)
{
	struct warm_result *r = arg;
	(void)cause;
	r->end = end;
	snprintf(r->text, sizeof r->text, "%s", text);
}

static int warm(struct parley_stt_engine *e, char *why, size_t whylen)
{
	/* --stt-warm 0 asks for no decoder at startup (each costs ~93 MB and
	 * a few hundred ms): the first utterance loads one, and there is
	 * nothing to warm before. */
	if (e->warm == 0)
		return 0;
	/* Measure a warm decoder when the pool has them soon; a model that
	 * cannot load fails here; still loading after WARM_WAIT_MS, the job
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
	struct warm_result r = { .end = PARLEY_SPEECH_ERROR };
	struct parley_stt_sink sink = { NULL, warm_end, &r };
	int err = 0;
	int rc = -1;
	struct parley_stt_job *j = start(e, &sink, &err);
	if (!j) {
		/* a decoder that cannot be created says why */
		if (parley_stt_pool_wait_warm(e->pool, 0, why, whylen) != PARLEY_E_IO)
			snprintf(why, whylen, "cannot start a transcription: %s",
				 parley_strerror(err));
		goto out;
	}
	j->discard = true;
	for (size_t at = 0; at < N; at += 320)
		feed(j, pcm + at, 320);
	finish(j);
	release(j);
	if (r.end != PARLEY_SPEECH_OK) {
		snprintf(why, whylen, "the warm-up transcription failed");
		goto out;
	}
	PARLEY_DEBUG("stt warm-up heard \"%s\"", r.text);
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
