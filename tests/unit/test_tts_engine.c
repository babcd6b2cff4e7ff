/* Unit tests: the embedded synthesisers' job runner (src/tts/embedded.c)
 * with a scripted backend: the concurrency limit, the bounded queue,
 * cancellation while queued and while running, exactly one end per job in
 * every interleaving, and no leak (LeakSanitizer in the ASan build). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tts/embedded.h"
#include "util/config.h"
#include "util/err.h"
#include "util/metrics.h"
#include "util/workers.h"

#define RATE 16000

/* The scripted backend: synth() waits at the gate while it is closed, and
 * makes 0.35 s of audio (four chunks of at most 100 ms). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static bool g_gate_open = true;
static int g_running, g_max_running, g_synths;

static int fake_synth(const struct parley_tts_voice *v, double rate_mult, const char *text,
		      int16_t **pcm, size_t *n, int *rate)
{
	(void)v;
	(void)rate_mult;
	pthread_mutex_lock(&g_lock);
	g_synths++;
	if (++g_running > g_max_running)
		g_max_running = g_running;
	pthread_cond_broadcast(&g_cond);
	while (!g_gate_open)
		pthread_cond_wait(&g_cond, &g_lock);
	g_running--;
	pthread_mutex_unlock(&g_lock);
	if (strcmp(text, "fail") == 0)
		return PARLEY_E_IO;
	*n = RATE * 35 / 100;
	*rate = RATE;
	*pcm = calloc(*n, sizeof **pcm);
	return *pcm ? 0 : PARLEY_E_NOMEM;
}

static const struct parley_tts_backend fake = {
	.name = "fake",
	.synth = fake_synth,
};

static void gate(bool open)
{
	pthread_mutex_lock(&g_lock);
	g_gate_open = open;
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_lock);
}

/* Waits until `want` syntheses are inside synth(). */
static void wait_running(int want)
{
	pthread_mutex_lock(&g_lock);
	while (g_running < want)
		pthread_cond_wait(&g_cond, &g_lock);
	pthread_mutex_unlock(&g_lock);
}

struct rec {
	atomic_int ends, audio_calls, samples, max_chunk;
	atomic_int end_kind; /* last end */
	atomic_int end_cause;
	atomic_int audio_after_end;
	atomic_int bad; /* a callback saw something wrong (checked on the main thread) */
};

static void rec_audio(void *arg, const int16_t *pcm, size_t n, int rate)
{
	struct rec *r = arg;
	(void)pcm;
	if (rate != RATE)
		atomic_fetch_add(&r->bad, 1);
	if (atomic_load(&r->ends))
		atomic_fetch_add(&r->audio_after_end, 1);
	atomic_fetch_add(&r->audio_calls, 1);
	atomic_fetch_add(&r->samples, (int)n);
	if ((int)n > atomic_load(&r->max_chunk))
		atomic_store(&r->max_chunk, (int)n);
}

static void rec_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		    const char *message)
{
	struct rec *r = arg;
	if ((end == PARLEY_SPEECH_ERROR) != (message != NULL))
		atomic_fetch_add(&r->bad, 1);
	atomic_store(&r->end_kind, (int)end);
	atomic_store(&r->end_cause, (int)cause);
	atomic_fetch_add(&r->ends, 1);
}

static void wait_ends(struct rec *r, int n, int want)
{
	for (int tries = 0; tries < 20000; tries++) {
		int done = 0;
		for (int i = 0; i < n; i++)
			done += atomic_load(&r[i].ends) >= want;
		if (done == n)
			return;
		usleep(1000);
	}
	fail_msg("jobs did not end");
}

struct fixture {
	struct parley_config cfg;
	struct parley_workers *w;
	struct parley_tts_engine *e;
	struct parley_tts_voice v;
};

static void setup(struct fixture *f, int workers, int inflight, int queue)
{
	parley_config_defaults(&f->cfg);
	f->cfg.workers = workers;
	f->cfg.tts_max_inflight = inflight;
	f->cfg.tts_max_queue = queue;
	f->w = parley_workers_create(workers);
	assert_non_null(f->w);
	struct parley_speech_env env = { .workers = f->w };
	char why[128];
	f->e = parley_tts_embedded_create(&fake, &f->cfg, &env, why, sizeof why);
	assert_non_null(f->e);
	memset(&f->v, 0, sizeof f->v);
	f->v.backend = &fake;
	f->v.engine = "x";
	strcpy(f->v.name, "x");
	pthread_mutex_lock(&g_lock);
	g_running = g_max_running = g_synths = 0;
	g_gate_open = true;
	pthread_mutex_unlock(&g_lock);
}

static void teardown(struct fixture *f)
{
	parley_workers_destroy(f->w);
	parley_tts_embedded_destroy(f->e);
	parley_metrics_reset();
}

static struct parley_tts_job *start(struct fixture *f, const char *text, struct rec *r, int *err)
{
	struct parley_tts_sink sink = { rec_audio, rec_end, r };
	return parley_tts_embedded_start(f->e, &f->v, 1.0, text, &sink, err);
}

static void limit_is_honoured(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 4, 2, 16);
	gate(false);
	struct rec r[6] = { 0 };
	struct parley_tts_job *j[6];
	int err = 0;
	for (int i = 0; i < 6; i++)
		assert_non_null(j[i] = start(&f, "hello", &r[i], &err));
	wait_running(2);
	usleep(50000); /* a third would have started by now */
	pthread_mutex_lock(&g_lock);
	int running = g_running;
	pthread_mutex_unlock(&g_lock);
	assert_int_equal(running, 2);
	gate(true);
	wait_ends(r, 6, 1);
	assert_int_equal(g_max_running, 2);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(atomic_load(&r[i].ends), 1);
		assert_int_equal(atomic_load(&r[i].end_kind), PARLEY_SPEECH_OK);
		assert_int_equal(atomic_load(&r[i].samples), RATE * 35 / 100);
		assert_int_equal(atomic_load(&r[i].audio_calls), 4); /* 100+100+100+50 ms */
		assert_true(atomic_load(&r[i].max_chunk) <= RATE / 10);
		assert_int_equal(atomic_load(&r[i].bad), 0);
		parley_tts_embedded_release(j[i]);
	}
	teardown(&f);
}

static void zero_means_the_number_of_workers(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 3, 0, 16);
	gate(false);
	struct rec r[5] = { 0 };
	struct parley_tts_job *j[5];
	int err = 0;
	for (int i = 0; i < 5; i++)
		assert_non_null(j[i] = start(&f, "hello", &r[i], &err));
	wait_running(3);
	gate(true);
	wait_ends(r, 5, 1);
	assert_int_equal(g_max_running, 3);
	for (int i = 0; i < 5; i++)
		parley_tts_embedded_release(j[i]);
	teardown(&f);
}

static void a_full_queue_refuses(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 2, 1, 2);
	gate(false);
	struct rec r[4] = { 0 };
	struct parley_tts_job *j[3];
	int err = 0;
	for (int i = 0; i < 3; i++)
		assert_non_null(j[i] = start(&f, "hello", &r[i], &err));
	wait_running(1);
	err = 0;
	assert_null(start(&f, "hello", &r[3], &err)); /* 1 running + 2 queued */
	assert_int_equal(err, PARLEY_E_FULL);
	gate(true);
	wait_ends(r, 3, 1);
	assert_int_equal(atomic_load(&r[3].ends), 0); /* a refused job is never called */
	/* with the queue drained, the engine takes jobs again */
	struct parley_tts_job *k = start(&f, "hello", &r[3], &err);
	assert_non_null(k);
	wait_ends(&r[3], 1, 1);
	parley_tts_embedded_release(k);
	for (int i = 0; i < 3; i++)
		parley_tts_embedded_release(j[i]);
	teardown(&f);
}

static void cancel_while_queued_never_runs(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 2, 1, 4);
	gate(false);
	struct rec r[3] = { 0 };
	struct parley_tts_job *j[3];
	int err = 0;
	for (int i = 0; i < 3; i++)
		assert_non_null(j[i] = start(&f, "hello", &r[i], &err));
	wait_running(1);
	parley_tts_embedded_cancel(j[1]); /* queued behind j[0] */
	wait_ends(&r[1], 1, 1);           /* ends at once, while j[0] still runs */
	assert_int_equal(atomic_load(&r[1].end_kind), PARLEY_SPEECH_CANCELLED);
	assert_int_equal(atomic_load(&r[1].audio_calls), 0);
	gate(true);
	wait_ends(r, 3, 1);
	assert_int_equal(g_synths, 2); /* j[0] and j[2] only */
	assert_int_equal(atomic_load(&r[2].end_kind), PARLEY_SPEECH_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(atomic_load(&r[i].ends), 1);
		parley_tts_embedded_release(j[i]);
	}
	teardown(&f);
}

static void cancel_while_running_discards_audio(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 2, 1, 4);
	gate(false);
	struct rec r[2] = { 0 };
	int err = 0;
	struct parley_tts_job *j = start(&f, "hello", &r[0], &err);
	struct parley_tts_job *next = start(&f, "hello", &r[1], &err);
	wait_running(1);
	parley_tts_embedded_release(j); /* cancels: it is running */
	gate(true);
	wait_ends(r, 2, 1);
	assert_int_equal(atomic_load(&r[0].end_kind), PARLEY_SPEECH_CANCELLED);
	assert_int_equal(atomic_load(&r[0].audio_calls), 0);
	assert_int_equal(atomic_load(&r[1].end_kind), PARLEY_SPEECH_OK); /* the slot went on */
	parley_tts_embedded_release(next);
	teardown(&f);
}

static void a_failing_synthesis_ends_with_an_error(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1, 1, 4);
	struct rec r = { 0 };
	int err = 0;
	struct parley_tts_job *j = start(&f, "fail", &r, &err);
	wait_ends(&r, 1, 1);
	assert_int_equal(atomic_load(&r.end_kind), PARLEY_SPEECH_ERROR);
	assert_int_equal(atomic_load(&r.end_cause), PARLEY_SPEECH_CAUSE_INTERNAL);
	parley_tts_embedded_release(j);
	/* not this backend's voice: refused at once, no call */
	struct parley_tts_voice other = f.v;
	other.backend = &parley_tts_flite;
	struct parley_tts_sink sink = { rec_audio, rec_end, &r };
	assert_null(parley_tts_embedded_start(f.e, &other, 1.0, "x", &sink, &err));
	assert_int_equal(err, PARLEY_E_INVAL);
	teardown(&f);
}

/* Two threads start jobs and cancel or release them at random moments;
 * every started job ends exactly once, and no audio follows its end. */
#define STRESS_JOBS 300
struct stress {
	struct fixture *f;
	struct rec r[STRESS_JOBS];
	unsigned seed;
};

static void *stress_main(void *arg)
{
	struct stress *st = arg;
	for (int i = 0; i < STRESS_JOBS; i++) {
		int err = 0;
		struct parley_tts_job *j = start(st->f, "hello", &st->r[i], &err);
		if (!j) {
			if (err != PARLEY_E_FULL)
				atomic_fetch_add(&st->r[i].bad, 1);
			atomic_store(&st->r[i].ends, 1); /* never started: counts as done */
			continue;
		}
		switch (rand_r(&st->seed) % 4) {
		case 0: parley_tts_embedded_release(j); break;          /* at once */
		case 1:
			usleep(rand_r(&st->seed) % 300);
			parley_tts_embedded_cancel(j);
			parley_tts_embedded_cancel(j); /* twice is harmless */
			parley_tts_embedded_release(j);
			break;
		case 2:
			usleep(rand_r(&st->seed) % 2000);
			parley_tts_embedded_release(j);
			break;
		default: /* let it finish, then release */
			wait_ends(&st->r[i], 1, 1);
			parley_tts_embedded_release(j);
			break;
		}
	}
	return NULL;
}

static void exactly_one_end_in_every_interleaving(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 3, 2, 8);
	static struct stress st[2];
	memset(st, 0, sizeof st);
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		st[i].f = &f;
		st[i].seed = 1234u + (unsigned)i;
		assert_int_equal(pthread_create(&t[i], NULL, stress_main, &st[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		wait_ends(st[i].r, STRESS_JOBS, 1);
		for (int k = 0; k < STRESS_JOBS; k++) {
			assert_int_equal(atomic_load(&st[i].r[k].ends), 1);
			assert_int_equal(atomic_load(&st[i].r[k].audio_after_end), 0);
			assert_int_equal(atomic_load(&st[i].r[k].bad), 0);
		}
	}
	teardown(&f);
}

/* Jobs still queued or running when the pool stops end cancelled. */
static void shutdown_ends_everything(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1, 1, 8);
	gate(false);
	struct rec r[4] = { 0 };
	struct parley_tts_job *j[4];
	int err = 0;
	for (int i = 0; i < 4; i++)
		assert_non_null(j[i] = start(&f, "hello", &r[i], &err));
	wait_running(1);
	for (int i = 0; i < 4; i++)
		parley_tts_embedded_release(j[i]);
	gate(true);
	parley_workers_destroy(f.w);
	for (int i = 0; i < 4; i++)
		assert_int_equal(atomic_load(&r[i].ends), 1);
	parley_tts_embedded_destroy(f.e);
	parley_metrics_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(limit_is_honoured),
		cmocka_unit_test(zero_means_the_number_of_workers),
		cmocka_unit_test(a_full_queue_refuses),
		cmocka_unit_test(cancel_while_queued_never_runs),
		cmocka_unit_test(cancel_while_running_discards_audio),
		cmocka_unit_test(a_failing_synthesis_ends_with_an_error),
		cmocka_unit_test(exactly_one_end_in_every_interleaving),
		cmocka_unit_test(shutdown_ends_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
