/* Unit tests: the shared speech decoder pool (src/stt/pool.c) under
 * concurrent lease/return, with real pocketsphinx decoders.
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
	sh.pool = parley_stt_pool_create(&parley_stt_ps_decoder, &st, 1, MAX);
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
	struct parley_stt_pool *p = parley_stt_pool_create(&parley_stt_ps_decoder, &st, 2, 2);
	assert_non_null(p);
	void *dec = parley_stt_pool_lease(p); /* maybe cold, racing the filler */
	assert_non_null(dec);
	parley_stt_pool_release(p, dec);
	parley_stt_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_lease_and_return),
		cmocka_unit_test(destroy_while_filling),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	parley_readiness_reset();
	return rc;
}
