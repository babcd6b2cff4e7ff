/* Unit tests: is an utterance only a backchannel (src/text/backchannel.c),
 * the verdict that lets a falsely interrupted answer resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text/backchannel.h"

#define ONLY(t) assert_int_equal(parley_backchannel_classify(t), PARLEY_BC_ONLY)
#define WORDS(t) assert_int_equal(parley_backchannel_classify(t), PARLEY_BC_WORDS)
#define SHORT(t) assert_int_equal(parley_backchannel_classify(t), PARLEY_BC_SHORT)
#define EMPTY(t) assert_int_equal(parley_backchannel_classify(t), PARLEY_BC_EMPTY)

static void the_issues_list(void **state)
{
	(void)state;
	ONLY("mhm");
	ONLY("uh-huh");
	ONLY("uh huh");
	ONLY("yeah");
	ONLY("right");
	ONLY("okay");
	ONLY("sure");
	ONLY("I see");
	ONLY("Okay, right.");
	ONLY("uh huh, I see");
	ONLY("Mm hmm");
	ONLY("mm-hmm");
	ONLY("yeah yeah yeah");
	ONLY("oh okay");
	ONLY("all right");
	ONLY("alright");
	ONLY("OK");
}

static void a_turn_is_not(void **state)
{
	(void)state;
	WORDS("wait, what about tomorrow?");
	WORDS("yeah but what about tomorrow");
	WORDS("okay stop");
	WORDS("yes");     /* may answer a question: a turn */
	WORDS("no");
	WORDS("what");
	WORDS("wait");
	WORDS("hold on");
	WORDS("sorry");
	WORDS("is it not");
	WORDS("is it raining");  /* a question's first word */
	WORDS("can you");
	WORDS("do they know");
	WORDS("m h m what");
	WORDS("the weather tomorrow"); /* two words with content */
	WORDS("i'm lost here");
	WORDS("sure thing, tell me more");
	WORDS("you and the it"); /* four words: too long to be nothing */
	WORDS("I have a dog");
	WORDS("yeahhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh");
}

/* What pocketsphinx made of flite's backchannels and of noises: short,
 * with at most one word of content, asking nothing. */
static void misheard_short(void **state)
{
	(void)state;
	ONLY("m h m");     /* letters: noise spelled out */
	SHORT("m h a m");
	SHORT("can a jan");
	SHORT("about by sea");
	SHORT("m h imp");
	SHORT("am a tramp");
	SHORT("im a chum");
	SHORT("an age and");
	SHORT("a pisces");
	SHORT("but by sea");
	SHORT("you have");
	SHORT("that");
	SHORT("I");
	SHORT("is");       /* a question's first word, alone */
	SHORT("yeah it is");
	SHORT("right now");
	SHORT("tomorrow"); /* the price: a one-word question is not a turn */
}

static void counts_words(void **state)
{
	(void)state;
	assert_int_equal(parley_backchannel_words(NULL), 0);
	assert_int_equal(parley_backchannel_words(" ?! "), 0);
	assert_int_equal(parley_backchannel_words("uh-huh, I see"), 4);
	assert_int_equal(parley_backchannel_words("wait what about tomorrow"), 4);
}

static void no_words(void **state)
{
	(void)state;
	EMPTY(NULL);
	EMPTY("");
	EMPTY("   ");
	EMPTY("... ?! -- 123");
}

static void odd_bytes(void **state)
{
	(void)state;
	SHORT("caf\xC3\xA9");   /* "caf": a non-ASCII byte ends a word */
	WORDS("caf\xC3\xA9 au lait");
	ONLY("\xE2\x80\x9Cyeah\xE2\x80\x9D"); /* curly quotes separate words */
	SHORT("yeah\xFFzzz");    /* "yeah", "zzz" */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_issues_list),
		cmocka_unit_test(a_turn_is_not),
		cmocka_unit_test(misheard_short),
		cmocka_unit_test(counts_words),
		cmocka_unit_test(no_words),
		cmocka_unit_test(odd_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
