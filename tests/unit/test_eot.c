/* Unit tests: the end-of-turn model (src/text/eot_model.c) and its
 * language-model cues (src/text/eot_lm.c, with pocketsphinx's real en-us
 * model). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include <sphinxbase/err.h>

#include "text/eot_lm.h"
#include "text/eot_model.h"
#include "text/turn_rules.h"

#define LM_PATH "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"

static struct parley_eot_features of(const char *text)
{
	struct parley_eot_features f;
	parley_eot_features_of(text, &f);
	return f;
}

static void text_cues(void **state)
{
	(void)state;
	struct parley_eot_features f = of("  My number is five five FIVE.");
	assert_int_equal(f.words, 6);
	assert_true(f.number);
	assert_false(f.name);
	assert_false(f.trailing);
	assert_true(of("the code is 4 7").number);
	assert_false(of("five people came").number);
	f = of("call John");
	assert_true(f.name);
	assert_int_equal(f.words, 2);
	assert_true(of("book a meeting with doctor").name);
	assert_false(of("call john smith").name);
	assert_true(of("i would like a pizza with").trailing);
	assert_true(of("yes").reply);
	assert_false(of("yes please").reply);
	assert_false(of("banana").reply);
	/* no words; the LM cues wait for the caller */
	f = of(NULL);
	assert_int_equal(f.words, 0);
	assert_true(f.lm_end == PARLEY_EOT_LM_END_NONE);
	assert_true(f.lm_last == PARLEY_EOT_LM_LAST_NONE);
	assert_int_equal(of("... !").words, 0);
	/* a very long word is cut, not overrun */
	char longw[200];
	memset(longw, 'a', sizeof longw - 1);
	longw[sizeof longw - 1] = '\0';
	assert_int_equal(of(longw).words, 1);
}

static void decisions(void **state)
{
	(void)state;
	struct parley_eot_features f = of("");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_NO_WORDS);
	f = of("i would like to order a pizza with");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_TRAILING);
	f = of("thanks");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_SURE_END);
	/* p(finished) rises with the LM's end cue and the length, falls after
	 * a number or a name */
	f = of("we should go to the beach tomorrow");
	f.lm_end = -0.5;
	f.lm_last = -2;
	double base = parley_eot_p_finished(&f);
	struct parley_eot_features g = f;
	g.words += 4;
	assert_true(parley_eot_p_finished(&g) > base);
	g = f;
	g.number = true;
	assert_true(parley_eot_p_finished(&g) < base);
	g = f;
	g.name = true;
	assert_true(parley_eot_p_finished(&g) < base);
	g = f;
	g.lm_last = -5;
	assert_true(parley_eot_p_finished(&g) < base);
	assert_true(base > 0 && base < 1);
	assert_string_equal(parley_eot_decision_name(PARLEY_EOT_UNSURE), "unsure");
	assert_string_equal(parley_eot_decision_name(PARLEY_EOT_SURE_END), "sure");
	assert_string_equal(parley_eot_decision_name(PARLEY_EOT_NO_WORDS), "no words");
}

static void waits(void **state)
{
	(void)state;
	/* settled transcripts, default patience */
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_SURE_END, 1000, 50), PARLEY_EOT_FASTEST_MS);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_CONFIDENT_END, 1000, 50), PARLEY_EOT_FAST_MS);
	assert_true(PARLEY_EOT_FASTEST_MS < PARLEY_EOT_FAST_MS);
	assert_true(parley_eot_silence_ms(PARLEY_EOT_SURE_END, 50, 50) > PARLEY_EOT_FASTEST_MS);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_UNSURE, 1000, 50), PARLEY_EOT_UNSURE_MS);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_TRAILING, 1000, 50),
			 PARLEY_TURN_TRAILING_MS);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_NO_WORDS, -1, 50), PARLEY_TURN_UNSURE_MS);
	/* unsure waits out the longest pause inside a sentence the set has */
	assert_true(PARLEY_EOT_UNSURE_MS > 700);
	assert_true(PARLEY_EOT_FAST_MS < PARLEY_TURN_FINISHED_MS);
	/* a confident end waits for the transcript to settle */
	assert_true(parley_eot_silence_ms(PARLEY_EOT_CONFIDENT_END, 50, 50) > PARLEY_EOT_FAST_MS);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_CONFIDENT_END, PARLEY_EOT_SETTLE_MS, 50),
			 PARLEY_EOT_FAST_MS);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_UNSURE, 0, 50), PARLEY_EOT_UNSURE_MS);
	/* patience scales every wait; bounds; out-of-range patience clamped */
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_UNSURE, 1000, 100),
			 PARLEY_EOT_UNSURE_MS * 3 / 2);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_UNSURE, 1000, 0), PARLEY_EOT_UNSURE_MS / 2);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_CONFIDENT_END, 1000, 0), PARLEY_TURN_MIN_MS);
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_TRAILING, 1000, 1000),
			 parley_eot_silence_ms(PARLEY_EOT_TRAILING, 1000, 100));
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_UNSURE, 1000, NAN),
			 parley_eot_silence_ms(PARLEY_EOT_UNSURE, 1000, 0));
	assert_int_equal(parley_eot_silence_ms(PARLEY_EOT_UNSURE, 1000, -5),
			 parley_eot_silence_ms(PARLEY_EOT_UNSURE, 1000, 0));
}

static struct parley_eot_lm *lm;

static int lm_setup(void **state)
{
	(void)state;
	char why[256];
	err_set_logfp(NULL);
	lm = parley_eot_lm_create(LM_PATH, why, sizeof why);
	return lm ? 0 : -1;
}

static int lm_teardown(void **state)
{
	(void)state;
	parley_eot_lm_destroy(lm);
	lm = NULL;
	return 0;
}

static struct parley_eot_features scored(const char *text)
{
	struct parley_eot_features f = of(text);
	parley_eot_lm_cues(lm, text, &f);
	return f;
}

static void lm_cues(void **state)
{
	(void)state;
	/* a sentence ends after "tomorrow" more readily than after "the" */
	struct parley_eot_features done = scored("could you call my mother tomorrow");
	struct parley_eot_features open = scored("can you tell me the");
	assert_true(done.lm_end > open.lm_end);
	assert_true(done.lm_end <= 0 && done.lm_end >= -4);
	assert_true(done.lm_last <= 0 && done.lm_last >= -7);
	assert_true(done.lm_end != PARLEY_EOT_LM_END_NONE);
	/* one word, an unknown word, no words, no model */
	struct parley_eot_features f = scored("hello");
	assert_true(f.lm_end < 0);
	f = scored("zzqxj blorf");
	assert_true(f.lm_end <= 0 && f.lm_end >= -4);
	f = scored("");
	assert_true(f.lm_end == PARLEY_EOT_LM_END_NONE);
	f = of("hello there");
	parley_eot_lm_cues(NULL, "hello there", &f);
	assert_true(f.lm_end == PARLEY_EOT_LM_END_NONE);
	/* a bad path is a clear error */
	char why[256] = "";
	assert_null(parley_eot_lm_create("/nonexistent/x.lm.bin", why, sizeof why));
	assert_non_null(strstr(why, "/nonexistent/x.lm.bin"));
	parley_eot_lm_destroy(NULL);
}

static void model_on_sentences(void **state)
{
	(void)state;
	/* a long finished request ends fast; a first name, a number or a
	 * short fragment waits */
	struct parley_eot_features f =
		scored("please book a table for four people at the italian restaurant tonight");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_SURE_END);
	f = scored("i would like to order a pizza");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_CONFIDENT_END);
	f = scored("send a message to my friend maria");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_UNSURE);
	f = scored("my phone number is two three");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_UNSURE);
	f = scored("i bought apples pears");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_UNSURE);
	f = scored("no");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_SURE_END);
	/* the LM's own word: a short question the trigram ends here, not a
	 * shorter one, nor one with a number last */
	f = scored("can you recommend a good book");
	assert_true(parley_eot_p_finished(&f) < PARLEY_EOT_CONFIDENT);
	assert_true(f.lm_end >= PARLEY_EOT_LM_ENDS);
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_CONFIDENT_END);
	f = scored("who won the world cup");
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_UNSURE);
	f = scored("can you recommend a good book");
	f.number = true;
	assert_int_equal(parley_eot_decide(&f), PARLEY_EOT_UNSURE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_cues),
		cmocka_unit_test(decisions),
		cmocka_unit_test(waits),
		cmocka_unit_test_setup_teardown(lm_cues, lm_setup, lm_teardown),
		cmocka_unit_test_setup_teardown(model_on_sentences, lm_setup, lm_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
