/* Unit tests: the shared speech decoder pool (src/stt/pool.c) under
 * concurrent lease/return, with real pocketsphinx decoders; and its
 * waiting (an utterance waits for a decoder instead of being refused) with
 * fake decoders that are quick to make, or slow when a test wants it.
 *
 * Several threads lease, use and return decoders while the pool's filler
 * thread refills it. Checked: never more than `max` decoders exist or are
 * leased at once, a decoder is never handed to two threads at the same time,
 * a leased decoder really decodes (after travelling between threads), a NULL
 * lease happens only when the pool is at its limit, and destroy frees
 * everything (ASan/LSan in the sanitizer build; races under `make tsan`).
 *
 * Kept small: pocketsphinx decoders cost ~93 MB and ~0.3 s each, so the
 * pool holds at most MAX of them and each lease decodes 1 s of audio. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "stt/decoder.h"
#include "util/config.h"
#include "util/readiness.h"

#define THREADS 4
#define ROUNDS 4
#define MAX 3
#define CLIP "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"
#define AUDIO_SAMPLES 16000 /* 1 s at 16 kHz */

struct slot {
	void *dec;
	atomic_int users; /* threads holding this decoder now */
};

struct shared {
	struct parley_stt_pool *pool;
	const int16_t *pcm; /* read-only after setup; NULL when the clip is missing */
	size_t npcm;
	pthread_mutex_t lock;
	struct slot seen[MAX * 4]; /* distinct decoders ever leased; guarded by lock */
	int nseen;
	atomic_int leased;     /* leased now, as counted by the test */
	atomic_int max_leased; /* the most at once */
	atomic_int double_use; /* a decoder held by two threads at once */
	atomic_int refused;    /* lease returned NULL */
	atomic_int decoded;    /* leases whose decoder produced a hypothesis */
	atomic_int feed_errors;
	atomic_int completed;  /* leases used and returned */
};

static struct slot *slot_of(struct shared *sh, void *dec)
{
	struct slot *s = NULL;
	pthread_mutex_lock(&sh->lock);
	for (int i = 0; i < sh->nseen && !s; i++)
		if (sh->seen[i].dec == dec)
			s = &sh->seen[i];
	if (!s && sh->nseen < (int)(sizeof sh->seen / sizeof sh->seen[0])) {
		s = &sh->seen[sh->nseen++];
		s->dec = dec;
		atomic_store(&s->users, 0);
	}
	pthread_mutex_unlock(&sh->lock);
	return s;
}

static void *speaker(void *arg)
{
	struct shared *sh = arg;
	const struct parley_stt_decoder_ops *b = parley_stt_pool_backend(sh->pool);
	int tries = 0;
	for (int r = 0; r < ROUNDS;) {
		void *dec = parley_stt_pool_lease(sh->pool);
		if (!dec) { /* all MAX leased or being created: wait as a user would */
			atomic_fetch_add(&sh->refused, 1);
			if (++tries > 2000)
				break;
			usleep(10000);
			continue;
		}
		r++;
		int now = atomic_fetch_add(&sh->leased, 1) + 1;
		int prev = atomic_load(&sh->max_leased);
		while (now > prev && !atomic_compare_exchange_weak(&sh->max_leased, &prev, now))
			;
		struct slot *s = slot_of(sh, dec);
		if (!s || atomic_fetch_add(&s->users, 1) != 0)
			atomic_fetch_add(&sh->double_use, 1);

		/* Use it as a session does: one utterance, fed in 20 ms frames. */
		char hyp[256] = "";
		if (b->start(dec) != 0)
			atomic_fetch_add(&sh->feed_errors, 1);
		if (sh->pcm) {
			for (size_t off = 0; off + 320 <= sh->npcm; off += 320)
				if (b->feed(dec, sh->pcm + off, 320) != 0)
					atomic_fetch_add(&sh->feed_errors, 1);
		}
		b->partial(dec, hyp, sizeof hyp);
		b->finish(dec, hyp, sizeof hyp);
		if (hyp[0])
			atomic_fetch_add(&sh->decoded, 1);

		if (s)
			atomic_fetch_sub(&s->users, 1);
		atomic_fetch_sub(&sh->leased, 1);
		parley_stt_pool_release(sh->pool, dec);
		atomic_fetch_add(&sh->completed, 1);
	}
	return NULL;
}

/* The start of the clip as 16 kHz int16 (the testdata WAVs are 16 kHz mono
 * with a 44-byte header). NULL when pocketsphinx-testdata is missing. */
static int16_t *load_clip(size_t *n)
{
	FILE *f = fopen(CLIP, "rb");
	if (!f)
		return NULL;
	int16_t *pcm = calloc(AUDIO_SAMPLES, sizeof *pcm);
	size_t got = 0;
	if (pcm && fseek(f, 44, SEEK_SET) == 0)
		got = fread(pcm, sizeof *pcm, AUDIO_SAMPLES, f);
	fclose(f);
	if (got < AUDIO_SAMPLES) {
		free(pcm);
		return NULL;
	}
	*n = got;
	return pcm;
}

static struct parley_stt_settings settings(void)
{
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	struct parley_stt_settings st = { 0 };
	snprintf(st.hmm, sizeof st.hmm, "%s", cfg.stt_hmm);
	snprintf(st.lm, sizeof st.lm, "%s", cfg.stt_lm);
	snprintf(st.dict, sizeof st.dict, "%s", cfg.stt_dict);
	st.maxhmmpf = cfg.stt_maxhmmpf;
	st.fwdflat = cfg.stt_fwdflat;
	st.bestpath = cfg.stt_bestpath;
	return st;
}

static void concurrent_lease_and_return(void **state)
{
	static struct shared sh;
	memset(&sh, 0, sizeof sh);
	pthread_mutex_init(&sh.lock, NULL);
	int16_t *pcm = load_clip(&sh.npcm);
	sh.pcm = pcm;
	if (!pcm)
		fprintf(stderr, "# %s missing: decoding silence only\n", CLIP);

	struct parley_stt_settings st = settings();
	/* warm 1: the filler refills while speakers lease, and the cold path
	 * (create on the leasing thread) runs too. */
	sh.pool = parley_stt_pool_create(&parley_stt_ps_decoder, &st, 1, MAX, 10000);
	assert_non_null(sh.pool);

	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, speaker, &sh), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	assert_int_equal(atomic_load(&sh.double_use), 0);
	assert_int_equal(atomic_load(&sh.feed_errors), 0);
	assert_int_equal(atomic_load(&sh.leased), 0);
	assert_int_equal(atomic_load(&sh.completed), THREADS * ROUNDS);
	assert_true(atomic_load(&sh.max_leased) <= MAX);
	assert_true(sh.nseen <= MAX); /* never more than max decoders existed */
	/* THREADS > MAX, so leases are refused now and then; retried, every
	 * thread gets its ROUNDS. */
	int ok = THREADS * ROUNDS;
	print_message("%d leases, %d refused, %d decoded, %d distinct decoders, at most %d at once\n",
		      ok, atomic_load(&sh.refused), atomic_load(&sh.decoded), sh.nseen,
		      atomic_load(&sh.max_leased));
	if (pcm)
		assert_int_equal(atomic_load(&sh.decoded), ok);

	/* Every decoder is back: MAX can be leased at once, and not one more. */
	void *held[MAX];
	for (int i = 0; i < MAX; i++) {
		held[i] = parley_stt_pool_lease(sh.pool);
		assert_non_null(held[i]);
	}
	assert_null(parley_stt_pool_lease(sh.pool));
	for (int i = 0; i < MAX; i++)
		parley_stt_pool_release(sh.pool, held[i]);

	parley_stt_pool_destroy(sh.pool);
	pthread_mutex_destroy(&sh.lock);
	free(pcm);
}

/* Destroy while the filler is still creating decoders: it must stop, join
 * and free what it made. */
static void destroy_while_filling(void **state)
{
	struct parley_stt_settings st = settings();
	struct parley_stt_pool *p = parley_stt_pool_create(&parley_stt_ps_decoder, &st, 2, 2, 10000);
	assert_non_null(p);
	void *dec = parley_stt_pool_lease(p); /* maybe cold, racing the filler */
	assert_non_null(dec);
	parley_stt_pool_release(p, dec);
	parley_stt_pool_destroy(p);
}


/* ---- waiting, with fake decoders ------------------------------------------ */

static atomic_int fake_live;      /* fake decoders that exist */
static atomic_int fake_create_ms; /* how long a create takes */

static int fake_global_init(void) { return 0; }
static void *fake_create(const struct parley_stt_settings *st)
{
	(void)st;
	usleep((useconds_t)atomic_load(&fake_create_ms) * 1000);
	atomic_fetch_add(&fake_live, 1);
	return calloc(1, sizeof(atomic_int)); /* counts its users */
}
static void fake_destroy(void *dec)
{
	if (!dec)
		return;
	atomic_fetch_sub(&fake_live, 1);
	free(dec);
}
static int fake_start(void *dec) { (void)dec; return 0; }
static int fake_feed(void *dec, const int16_t *pcm, size_t n) { (void)dec; (void)pcm; (void)n; return 0; }
static void fake_hyp(void *dec, char *out, size_t outlen) { (void)dec; snprintf(out, outlen, "x"); }

static const struct parley_stt_decoder_ops fake_ops = {
	.name = "fake", .rate = 16000, .global_init = fake_global_init, .create = fake_create,
	.destroy = fake_destroy, .start = fake_start, .feed = fake_feed, .partial = fake_hyp,
	.finish = fake_hyp,
};

/* A waiter that records its grant. */
struct wait_rec {
	struct parley_stt_waiter w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool granted;
	void *dec;
	int order;            /* when it was granted, among the test's waiters */
};

static atomic_int grant_seq;

static void on_granted(void *arg, void *dec)
{
	struct wait_rec *r = arg;
	pthread_mutex_lock(&r->lock);
	r->granted = true;
	r->dec = dec;
	r->order = atomic_fetch_add(&grant_seq, 1);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void rec_init(struct wait_rec *r)
{
	memset(r, 0, sizeof *r);
	r->w.granted = on_granted;
	r->w.arg = r;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

static void rec_destroy(struct wait_rec *r)
{
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

/* Waits up to ms for the grant; returns whether it came. */
static bool rec_wait(struct wait_rec *r, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->granted)
		if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0)
			break;
	bool g = r->granted;
	pthread_mutex_unlock(&r->lock);
	return g;
}

static bool rec_granted(struct wait_rec *r)
{
	pthread_mutex_lock(&r->lock);
	bool g = r->granted;
	pthread_mutex_unlock(&r->lock);
	return g;
}

static struct parley_stt_pool *fake_pool(int warm, int max, int wait_ms, int create_ms)
{
	atomic_store(&fake_create_ms, create_ms);
	struct parley_stt_settings st = { 0 };
	struct parley_stt_pool *p = parley_stt_pool_create(&fake_ops, &st, warm, max, wait_ms);
	assert_non_null(p);
	return p;
}

/* The only decoder (--stt-max 1) is still being created when the first
 * utterance starts: it waits and gets that decoder, not a refusal; a
 * blocking lease waits for it too. */
static void a_decoder_being_created_is_waited_for(void **state)
{
	(void)state;
	struct parley_stt_pool *p = fake_pool(1, 1, 10000, 300);
	struct wait_rec a;
	rec_init(&a);
	assert_null(parley_stt_pool_lease_or_wait(p, &a.w)); /* still being created */
	assert_true(rec_wait(&a, 5000));
	assert_non_null(a.dec);
	parley_stt_pool_release(p, a.dec);

	/* a blocking lease while the only decoder is being made (discarded
	 * first, so the filler makes another) waits for it */
	void *d = parley_stt_pool_lease(p);
	assert_non_null(d);
	parley_stt_pool_discard(p, d);
	usleep(50000); /* the filler is creating now */
	d = parley_stt_pool_lease(p);
	assert_non_null(d);
	parley_stt_pool_release(p, d);
	parley_stt_pool_destroy(p);
	rec_destroy(&a);
	assert_int_equal(atomic_load(&fake_live), 0);
}

/* With every decoder leased, utterances wait in order: each decoder given
 * back goes to the first waiter, not to the idle list. */
static void waiters_are_served_first_come_first_served(void **state)
{
	(void)state;
	struct parley_stt_pool *p = fake_pool(1, 1, 10000, 0);
	char why[64];
	assert_int_equal(parley_stt_pool_wait_warm(p, 5000, why, sizeof why), 0);
	struct wait_rec a, b, c;
	rec_init(&a);
	rec_init(&b);
	rec_init(&c);
	void *d = parley_stt_pool_lease_or_wait(p, &a.w);
	assert_non_null(d); /* idle: at once */
	assert_false(rec_granted(&a));
	atomic_store(&grant_seq, 0);
	assert_null(parley_stt_pool_lease_or_wait(p, &b.w));
	assert_null(parley_stt_pool_lease_or_wait(p, &c.w));
	usleep(100000);
	assert_false(rec_granted(&b)); /* nothing came back, and max is 1 */
	assert_false(rec_granted(&c));

	parley_stt_pool_release(p, d); /* to b, on this thread */
	assert_true(rec_granted(&b));
	assert_ptr_equal(b.dec, d);
	assert_false(rec_granted(&c));
	parley_stt_pool_release(p, b.dec);
	assert_true(rec_granted(&c));
	assert_ptr_equal(c.dec, d);
	assert_true(b.order < c.order);
	parley_stt_pool_release(p, c.dec);

	/* back to idle: leased at once again */
	struct wait_rec e;
	rec_init(&e);
	d = parley_stt_pool_lease_or_wait(p, &e.w);
	assert_non_null(d);
	parley_stt_pool_release(p, d);
	parley_stt_pool_destroy(p);
	assert_int_equal(atomic_load(&fake_live), 0);
	rec_destroy(&a);
	rec_destroy(&b);
	rec_destroy(&c);
	rec_destroy(&e);
}

/* Below max, a waiter gets a decoder created for it (the filler); a
 * cancelled waiter gets nothing. */
static void a_waiter_below_max_gets_a_new_decoder_and_cancel_takes_it_back(void **state)
{
	(void)state;
	struct parley_stt_pool *p = fake_pool(1, 2, 10000, 100);
	char why[64];
	assert_int_equal(parley_stt_pool_wait_warm(p, 5000, why, sizeof why), 0);
	struct wait_rec a, b, c;
	rec_init(&a);
	rec_init(&b);
	rec_init(&c);
	void *d1 = parley_stt_pool_lease_or_wait(p, &a.w);
	assert_non_null(d1);
	assert_null(parley_stt_pool_lease_or_wait(p, &b.w)); /* the filler makes one */
	assert_true(rec_wait(&b, 5000));
	assert_non_null(b.dec);
	assert_ptr_not_equal(b.dec, d1);
	assert_int_equal(atomic_load(&fake_live), 2);

	assert_null(parley_stt_pool_lease_or_wait(p, &c.w)); /* max 2: waits */
	assert_true(parley_stt_pool_cancel_wait(p, &c.w));
	assert_false(parley_stt_pool_cancel_wait(p, &c.w)); /* not there any more */
	parley_stt_pool_release(p, d1); /* idle, not to c */
	assert_false(rec_granted(&c));
	assert_false(parley_stt_pool_cancel_wait(p, &b.w)); /* granted already */
	parley_stt_pool_release(p, b.dec);
	parley_stt_pool_destroy(p);
	assert_int_equal(atomic_load(&fake_live), 0);
	rec_destroy(&a);
	rec_destroy(&b);
	rec_destroy(&c);
}

/* A wait longer than max_wait_ms is refused (granted(NULL)); one that ends
 * in time is served; destroy refuses whoever still waits. */
static void a_long_wait_is_refused(void **state)
{
	(void)state;
	struct parley_stt_pool *p = fake_pool(1, 1, 200, 0);
	char why[64];
	assert_int_equal(parley_stt_pool_wait_warm(p, 5000, why, sizeof why), 0);
	struct wait_rec a, b, c, e;
	rec_init(&a);
	rec_init(&b);
	rec_init(&c);
	rec_init(&e);
	void *d = parley_stt_pool_lease_or_wait(p, &a.w);
	assert_non_null(d);
	assert_null(parley_stt_pool_lease_or_wait(p, &b.w));
	assert_true(rec_wait(&b, 5000)); /* refused by the filler after 200 ms */
	assert_null(b.dec);
	assert_null(parley_stt_pool_lease_or_wait(p, &c.w));
	parley_stt_pool_release(p, d); /* to c, in time */
	assert_true(rec_granted(&c));
	assert_ptr_equal(c.dec, d);

	/* c's decoder is thrown away; a slow new one is being made for e
	 * when the pool goes: e is refused, the new one freed */
	atomic_store(&fake_create_ms, 500);
	assert_null(parley_stt_pool_lease_or_wait(p, &e.w));
	parley_stt_pool_discard(p, c.dec);
	usleep(100000);
	assert_false(rec_granted(&e));
	parley_stt_pool_destroy(p);
	assert_true(rec_granted(&e));
	assert_null(e.dec);
	assert_int_equal(atomic_load(&fake_live), 0);
	rec_destroy(&a);
	rec_destroy(&b);
	rec_destroy(&c);
	rec_destroy(&e);
}

/* Threads that wait for decoders, use and return them, racing the filler
 * and the expiry: never two users of one decoder, never more than max,
 * every wait ends once (run under TSan by make tsan-unit). */
struct racer {
	struct parley_stt_pool *pool;
	atomic_int *in_use;
	atomic_int *max_in_use;
	atomic_int *double_use;
	atomic_int *served;
};

static void *racer_main(void *arg)
{
	struct racer *rc = arg;
	for (int i = 0; i < 40; i++) {
		struct wait_rec r;
		rec_init(&r);
		void *d = parley_stt_pool_lease_or_wait(rc->pool, &r.w);
		if (!d && rec_wait(&r, 10000))
			d = r.dec;
		else if (!d)
			fail_msg("a wait never ended");
		if (d) {
			int now = atomic_fetch_add(rc->in_use, 1) + 1;
			int prev = atomic_load(rc->max_in_use);
			while (now > prev && !atomic_compare_exchange_weak(rc->max_in_use, &prev, now))
				;
			if (atomic_fetch_add((atomic_int *)d, 1) != 0)
				atomic_fetch_add(rc->double_use, 1);
			usleep(1000);
			atomic_fetch_sub((atomic_int *)d, 1);
			atomic_fetch_sub(rc->in_use, 1);
			atomic_fetch_add(rc->served, 1);
			parley_stt_pool_release(rc->pool, d);
		}
		rec_destroy(&r);
	}
	return NULL;
}

static void waiting_under_concurrency(void **state)
{
	(void)state;
	struct parley_stt_pool *p = fake_pool(1, 2, 10000, 5);
	atomic_int in_use = 0, max_in_use = 0, double_use = 0, served = 0;
	struct racer rc = { p, &in_use, &max_in_use, &double_use, &served };
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &rc), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&double_use), 0);
	assert_true(atomic_load(&max_in_use) <= 2);
	assert_int_equal(atomic_load(&served), 6 * 40); /* nobody refused: waits are short */
	parley_stt_pool_destroy(p);
	assert_int_equal(atomic_load(&fake_live), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_lease_and_return),
		cmocka_unit_test(destroy_while_filling),
		cmocka_unit_test(a_decoder_being_created_is_waited_for),
		cmocka_unit_test(waiters_are_served_first_come_first_served),
		cmocka_unit_test(a_waiter_below_max_gets_a_new_decoder_and_cancel_takes_it_back),
		cmocka_unit_test(a_long_wait_is_refused),
		cmocka_unit_test(waiting_under_concurrency),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	parley_readiness_reset();
	return rc;
}
