/* Unit tests: the embedded speech-to-text engine (src/stt/embedded.c,
 * parley_stt_pocketsphinx) through the stt.h interface, with real
 * pocketsphinx decoders: a sentence synthesised by flite at run time is
 * transcribed through start/feed/finish with partials on the way; cancel;
 * an exhausted decoder pool refuses with PARLEY_E_FULL; the warm-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "audio/resample.h"
#include "stt/stt.h"
#include "tts/tts.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

static const char *const SENTENCE = "I would like to book a table for two people tonight.";

static struct parley_config cfg;
static int16_t *speech; /* SENTENCE at 16 kHz, with 0.3 s of silence each side */
static size_t nspeech;

struct rec {
	int partials, ends;
	char last_partial[1024];
	bool partial_repeated; /* the same partial twice in a row */
	enum parley_speech_end end;
	enum parley_speech_cause cause;
	char text[1024];
};

static void on_partial(void *arg, const char *text)
{
	struct rec *r = arg;
	if (strcmp(text, r->last_partial) == 0)
		r->partial_repeated = true;
	snprintf(r->last_partial, sizeof r->last_partial, "%s", text);
	r->partials++;
}

static void on_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		   const char *text)
{
	struct rec *r = arg;
	r->ends++;
	r->end = end;
	r->cause = cause;
	snprintf(r->text, sizeof r->text, "%s", text);
}

static int setup_all(void **state)
{
	(void)state;
	parley_log_set_level(PARLEY_LOG_ERROR);
	parley_config_defaults(&cfg);
	cfg.stt_warm = 1;
	cfg.stt_max = 1; /* one decoder: the second utterance at once is refused */
	if (parley_tts_init_all(&cfg, NULL) < 1)
		return -1;
	struct parley_tts_voice v;
	if (parley_tts_voice_lookup("rms", &v) != 0)
		return -1;
	int16_t *pcm = NULL;
	size_t n = 0;
	int rate = 0;
	if (v.backend->synth(&v, 1.0, SENTENCE, &pcm, &n, &rate) != 0)
		return -1;
	size_t m = 0;
	int16_t *at16 = parley_resample_oneshot(pcm, n, rate, 16000, &m);
	free(pcm);
	if (!at16)
		return -1;
	nspeech = m + 2 * 4800;
	speech = calloc(nspeech, sizeof *speech);
	if (!speech)
		return -1;
	memcpy(speech + 4800, at16, m * sizeof *at16);
	free(at16);
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	free(speech);
	parley_metrics_reset();
	return 0;
}

/* Words of ref found in hyp, in order (a crude but stable match). */
static int words_found(const char *ref, const char *hyp)
{
	int found = 0;
	char r[256];
	snprintf(r, sizeof r, "%s", ref);
	const char *from = hyp;
	for (char *w = strtok(r, " .,"); w; w = strtok(NULL, " .,")) {
		for (char *p = w; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		const char *hit = strstr(from, w);
		if (hit) {
			found++;
			from = hit + strlen(w);
		}
	}
	return found;
}

static struct parley_stt_engine *engine(void)
{
	char why[256] = "";
	const struct parley_stt_backend *b = parley_stt_backend_find("pocketsphinx");
	assert_ptr_equal(b, &parley_stt_pocketsphinx);
	assert_int_equal(b->rate, 16000);
	struct parley_speech_env env = { 0 };
	struct parley_stt_engine *e = b->create(&cfg, &env, why, sizeof why);
	assert_non_null(e);
	/* The pool creates its decoder in the background: until it is there a
	 * start is refused (--stt-max 1 is counted while it is made). Wait for
	 * one start to succeed, then give the decoder back. */
	struct rec r = { 0 };
	struct parley_stt_sink sink = { NULL, on_end, &r };
	struct parley_stt_job *j = NULL;
	for (int i = 0; i < 6000 && !j; i++) {
		int err = 0;
		j = b->start(e, &sink, &err);
		if (!j) {
			assert_int_equal(err, PARLEY_E_FULL);
			usleep(10000);
		}
	}
	assert_non_null(j);
	b->release(j);
	assert_int_equal(r.ends, 1);
	return e;
}

static void transcribes_with_partials(void **state)
{
	(void)state;
	const struct parley_stt_backend *b = &parley_stt_pocketsphinx;
	struct parley_stt_engine *e = engine();
	struct rec r = { 0 };
	struct parley_stt_sink sink = { on_partial, on_end, &r };
	int err = 0;
	struct parley_stt_job *j = b->start(e, &sink, &err);
	assert_non_null(j);
	/* Fed in 100 ms pieces, with a pause now and then so partials (at most
	 * every 200 ms of wall-clock time) have room to come. */
	for (size_t at = 0; at < nspeech; at += 1600) {
		size_t n = nspeech - at < 1600 ? nspeech - at : 1600;
		assert_int_equal(b->feed(j, speech + at, n), 0);
		if ((at / 1600) % 4 == 3)
			usleep(210000);
	}
	assert_true(r.partials >= 2);
	assert_false(r.partial_repeated); /* only when it changed */
	assert_int_equal(r.ends, 0);
	b->finish(j);
	assert_int_equal(r.ends, 1); /* the embedded engine ends inside finish() */
	assert_int_equal(r.end, PARLEY_SPEECH_OK);
	print_message("heard \"%s\"\n", r.text);
	assert_true(words_found(SENTENCE, r.text) >= 7); /* of 10; flite rms -> pocketsphinx */
	assert_int_equal(b->feed(j, speech, 320), PARLEY_E_CLOSED); /* after its end */
	b->cancel(j); /* after its end: nothing */
	b->release(j);
	assert_int_equal(r.ends, 1);
	b->destroy(e);
}

static void cancel_ends_once_and_gives_the_decoder_back(void **state)
{
	(void)state;
	const struct parley_stt_backend *b = &parley_stt_pocketsphinx;
	struct parley_stt_engine *e = engine();
	struct rec r = { 0 }, r2 = { 0 };
	struct parley_stt_sink sink = { on_partial, on_end, &r };
	int err = 0;
	struct parley_stt_job *j = b->start(e, &sink, &err);
	assert_non_null(j);
	assert_int_equal(b->feed(j, speech, 16000), 0);
	b->cancel(j);
	assert_int_equal(r.ends, 1);
	assert_int_equal(r.end, PARLEY_SPEECH_CANCELLED);
	assert_string_equal(r.text, "");
	b->cancel(j);
	b->finish(j);
	assert_int_equal(r.ends, 1);
	/* the only decoder is back: another utterance starts */
	struct parley_stt_sink sink2 = { NULL, on_end, &r2 };
	struct parley_stt_job *k = b->start(e, &sink2, &err);
	assert_non_null(k);
	b->release(j);
	b->release(k); /* releasing a running job cancels it */
	assert_int_equal(r2.ends, 1);
	assert_int_equal(r2.end, PARLEY_SPEECH_CANCELLED);
	b->destroy(e);
}

static void an_exhausted_pool_refuses(void **state)
{
	(void)state;
	const struct parley_stt_backend *b = &parley_stt_pocketsphinx;
	struct parley_stt_engine *e = engine();
	struct rec r1 = { 0 }, r2 = { 0 };
	struct parley_stt_sink s1 = { NULL, on_end, &r1 }, s2 = { NULL, on_end, &r2 };
	int err = 0;
	struct parley_stt_job *j = b->start(e, &s1, &err);
	assert_non_null(j);
	err = 0;
	assert_null(b->start(e, &s2, &err)); /* --stt-max 1, leased */
	assert_int_equal(err, PARLEY_E_FULL);
	assert_int_equal(r2.ends, 0); /* a refused job is never called */
	b->finish(j);
	b->release(j);
	struct parley_stt_job *k = b->start(e, &s2, &err);
	assert_non_null(k);
	b->release(k);
	b->destroy(e);
}

static void warm_up_transcribes(void **state)
{
	(void)state;
	const struct parley_stt_backend *b = &parley_stt_pocketsphinx;
	struct parley_stt_engine *e = engine();
	char why[256] = "";
	assert_int_equal(b->warm(e, why, sizeof why), 0);
	struct parley_speech_info info;
	b->info(e, &info);
	assert_string_equal(info.engine, "pocketsphinx");
	assert_false(info.remote);
	/* its decoder was not kept (its CMN heard the synthetic signal): the
	 * pool makes another, then serves again */
	struct rec r = { 0 };
	struct parley_stt_sink sink = { NULL, on_end, &r };
	int err = 0;
	struct parley_stt_job *j = NULL;
	for (int tries = 0; !j && tries < 600; tries++) {
		j = b->start(e, &sink, &err);
		if (!j) {
			assert_int_equal(err, PARLEY_E_FULL); /* --stt-max 1: while it refills */
			usleep(50000);
		}
	}
	assert_non_null(j);
	b->release(j);
	b->destroy(e);
}

static void a_model_that_does_not_load_fails_warm_up(void **state)
{
	(void)state;
	struct parley_config bad = cfg;
	snprintf(bad.stt_hmm, sizeof bad.stt_hmm, "/nonexistent");
	const struct parley_stt_backend *b = &parley_stt_pocketsphinx;
	struct parley_speech_env env = { 0 };
	char why[256] = "";
	struct parley_stt_engine *e = b->create(&bad, &env, why, sizeof why);
	assert_non_null(e); /* decoders load in the background */
	assert_int_not_equal(b->warm(e, why, sizeof why), 0);
	assert_true(strlen(why) > 0);
	b->destroy(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(transcribes_with_partials),
		cmocka_unit_test(cancel_ends_once_and_gives_the_decoder_back),
		cmocka_unit_test(an_exhausted_pool_refuses),
		cmocka_unit_test(warm_up_transcribes),
		cmocka_unit_test(a_model_that_does_not_load_fails_warm_up),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
