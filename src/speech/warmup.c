/*
 * warmup.c - the speech engines' warm-up thread (see warmup.h).
 *
 * Lock: w->lock guards `stopping` (the thread sleeps on w->cond between
 * attempts). Targets are touched only by the warm-up thread once it runs.
 */
#include "speech/warmup.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/readiness.h"
#include "util/redact.h"

#define MAX_TARGETS 8
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

struct target {
	enum parley_speech_kind kind;
	const char *name; /* the backend's name: a string literal (metric label) */
	const struct parley_stt_backend *stt_b;
	struct parley_stt_engine *stt_e;
	const struct parley_tts_backend *tts_b;
	struct parley_tts_engine *tts_e;
	struct parley_speech_info info;
	char ready_reason[256]; /* for /readyz: URLs kept, credentials masked */
	int id;                 /* in speech.h's engine table */
	long backoff_ms;
	int64_t due_ns;
	struct parley_gauge m_ready;
	struct parley_gauge_f m_warm_s;
};

struct parley_speech_warmup {
	struct target t[MAX_TARGETS];
	int n;
	int readiness[2]; /* by kind; -1 when no engine of that kind */
	void (*on_state)(void *arg);
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping; /* guarded by lock */
	pthread_t thread;
	bool started;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int run_warm(struct target *t, char *why, size_t whylen)
{
	if (t->kind == PARLEY_SPEECH_STT)
		return t->stt_b->warm ? t->stt_b->warm(t->stt_e, why, whylen) : 0;
	return t->tts_b->warm ? t->tts_b->warm(t->tts_e, why, whylen) : 0;
}

/* Readiness of a kind: ready when all its engines are; else the first
 * one's reason. */
static void update_readiness(struct parley_speech_warmup *w, enum parley_speech_kind kind)
{
	if (w->readiness[kind] < 0)
		return;
	for (int i = 0; i < w->n; i++) {
		struct target *t = &w->t[i];
		if (t->kind != kind || t->info.state == PARLEY_SPEECH_READY)
			continue;
		char reason[320];
		snprintf(reason, sizeof reason, "%s: %s", t->info.engine,
			 t->ready_reason[0] ? t->ready_reason : "warming up");
		parley_readiness_set(w->readiness[kind], false, reason);
		return;
	}
	parley_readiness_set(w->readiness[kind], true, NULL);
}

/* One attempt at warming t; returns true when its state changed. */
static bool attempt(struct parley_speech_warmup *w, struct target *t)
{
	char why[512] = "";
	const char *kind = parley_speech_kind_name(t->kind);
	enum parley_speech_state before = t->info.state;
	int64_t t0 = now_ns();
	int rc = run_warm(t, why, sizeof why);
	double ms = (double)(now_ns() - t0) / 1e6;
	if (rc == 0) {
		t->info.state = PARLEY_SPEECH_READY;
		t->info.warmup_ms = ms;
		t->info.reason[0] = '\0';
		t->ready_reason[0] = '\0';
		parley_gauge_set(&t->m_ready, 1);
		parley_gauge_f_set(&t->m_warm_s, ms / 1e3);
		PARLEY_INFO("speech %s %s warm: %.0f ms", kind, t->info.engine, ms);
	} else {
		if (!why[0])
			snprintf(why, sizeof why, "warm-up failed");
		t->info.state = PARLEY_SPEECH_UNAVAILABLE;
		parley_redact_cause(why, strlen(why), PARLEY_REDACT_URLS, 200, t->info.reason,
				    sizeof t->info.reason);
		parley_redact_cause(why, strlen(why), 0, 240, t->ready_reason,
				    sizeof t->ready_reason);
		parley_gauge_set(&t->m_ready, 0);
		PARLEY_ERROR("speech %s %s not ready: %s (retrying in %.0f s)", kind, t->info.engine,
			     why, (double)t->backoff_ms / 1000);
		t->due_ns = now_ns() + (int64_t)t->backoff_ms * 1000000;
		t->backoff_ms = t->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : t->backoff_ms * 2;
	}
	parley_speech_engine_set(t->id, &t->info);
	update_readiness(w, t->kind);
	return before != t->info.state || rc != 0;
}

static void *warm_main(void *arg)
{
	struct parley_speech_warmup *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		bool stop = w->stopping;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
		int64_t now = now_ns(), next = 0;
		bool pending = false, changed = false;
		for (int i = 0; i < w->n && !stop; i++) {
			struct target *t = &w->t[i];
			if (t->info.state == PARLEY_SPEECH_READY)
				continue;
			if (t->due_ns <= now) {
				changed |= attempt(w, t);
				pthread_mutex_lock(&w->lock);
				stop = w->stopping;
				pthread_mutex_unlock(&w->lock);
			}
			if (t->info.state != PARLEY_SPEECH_READY) {
				pending = true;
				if (!next || t->due_ns < next)
					next = t->due_ns;
			}
		}
		if (changed && w->on_state)
			w->on_state(w->arg);
		if (!pending || stop)
			break;
		/* Sleep until the next attempt is due, or stop. */
		int64_t wait = next - now_ns();
		if (wait <= 0)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + wait;
		ts.tv_sec = at / 1000000000;
		ts.tv_nsec = at % 1000000000;
		pthread_mutex_lock(&w->lock);
		if (!w->stopping)
			pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

static void add_target(struct parley_speech_warmup *w, struct target *t)
{
	if (w->n == MAX_TARGETS) {
		PARLEY_ERROR("speech warm-up: too many engines; %s not warmed", t->name);
		return;
	}
	if (t->kind == PARLEY_SPEECH_STT)
		t->stt_b->info(t->stt_e, &t->info);
	else
		t->tts_b->info(t->tts_e, &t->info);
	if (!t->info.engine[0])
		snprintf(t->info.engine, sizeof t->info.engine, "%s", t->name);
	t->info.state = PARLEY_SPEECH_WARMING;
	t->info.warmup_ms = -1;
	snprintf(t->info.reason, sizeof t->info.reason, "warming up");
	t->backoff_ms = BACKOFF_MIN_MS;
	t->id = parley_speech_engine_add(t->kind, &t->info);
	w->t[w->n] = *t;
	struct target *m = &w->t[w->n++];
	/* Label values must live as long as the process: the backend's name. */
	bool stt = t->kind == PARLEY_SPEECH_STT;
	parley_metrics_register_gauge(stt ? "parley_stt_ready" : "parley_tts_ready",
				      stt ? "1 when the speech-to-text engine is warm, by engine"
					  : "1 when the speech synthesiser is warm, by engine",
				      "engine", m->name, &m->m_ready);
	parley_metrics_register_gauge_f_label(
		stt ? "parley_stt_warmup_seconds" : "parley_tts_warmup_seconds",
		stt ? "duration of the speech-to-text engine's successful warm-up (a short "
		      "transcription), by engine"
		    : "duration of the speech synthesiser's successful warm-up (a short synthesis), "
		      "by engine",
		"engine", m->name, &m->m_warm_s);
}

static void add_tts(void *arg, const struct parley_tts_backend *b, struct parley_tts_engine *e)
{
	struct target t = { .kind = PARLEY_SPEECH_TTS, .name = b->name, .tts_b = b, .tts_e = e };
	add_target(arg, &t);
}

struct parley_speech_warmup *parley_speech_warmup_start(const struct parley_stt_backend *stt_b,
							struct parley_stt_engine *stt_e,
							void (*on_state)(void *arg), void *arg)
{
	struct parley_speech_warmup *w = calloc(1, sizeof *w);
	if (!w) {
		PARLEY_ERROR("speech warm-up: out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->on_state = on_state;
	w->arg = arg;
	w->readiness[0] = w->readiness[1] = -1;
	if (stt_b && stt_e) {
		struct target t = { .kind = PARLEY_SPEECH_STT, .name = stt_b->name, .stt_b = stt_b,
				    .stt_e = stt_e };
		add_target(w, &t);
	}
	parley_tts_each_engine(add_tts, w);
	for (int i = 0; i < w->n; i++) {
		enum parley_speech_kind k = w->t[i].kind;
		if (w->readiness[k] < 0)
			w->readiness[k] = parley_readiness_add(k == PARLEY_SPEECH_STT ? "stt" : "tts",
							       "warming up");
	}
	for (int k = 0; k < 2; k++)
		update_readiness(w, (enum parley_speech_kind)k);
	if (pthread_create(&w->thread, NULL, warm_main, w) != 0) {
		PARLEY_ERROR("speech warm-up: cannot start its thread");
		parley_speech_warmup_stop(w);
		return NULL;
	}
	w->started = true;
	return w;
}

void parley_speech_warmup_stop(struct parley_speech_warmup *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	/* A remote warm-up in flight would hold the join for its timeout. */
	for (int i = 0; i < w->n; i++) {
		struct target *t = &w->t[i];
		if (t->kind == PARLEY_SPEECH_STT && t->stt_b->warm_abort)
			t->stt_b->warm_abort(t->stt_e);
		else if (t->kind == PARLEY_SPEECH_TTS && t->tts_b->warm_abort)
			t->tts_b->warm_abort(t->tts_e);
	}
	if (w->started)
		pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
