/* Unit tests: is a transcript the assistant's own words (src/text/echowords.c)? */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "text/echowords.h"

static const char *said = "The capital of France is Paris. It is also its largest city, "
			  "with about two million people living in the city proper.";

static void case_echo_garbled(void **state)
{
	(void)state;
	assert_true(parley_echo_words_match("the capital of france is paris", said));
	/* the recogniser garbles some of it */
	assert_true(parley_echo_words_match("capital of france is there it is also", said));
	assert_true(parley_echo_words_match("It's also its largest city", said));
	assert_true(parley_echo_words_match("two million people living", said));
	assert_true(parley_echo_words_match("largest city", said));
	assert_true(parley_echo_words_match("Paris.", said));
}

static void case_user_words(void **state)
{
	(void)state;
	/* a real turn that reuses a word or two of the answer */
	assert_false(parley_echo_words_match("tell me more about paris", said));
	assert_false(parley_echo_words_match("what is the population of lyon", said));
	assert_false(parley_echo_words_match("stop", said));
	/* short words alone stay the user's */
	assert_false(parley_echo_words_match("is", said));
	assert_false(parley_echo_words_match("yes", said));
	/* two words that are not next to each other in the answer */
	assert_false(parley_echo_words_match("city france", said));
	assert_false(parley_echo_words_match("wait wait", said));
}

static void case_empty(void **state)
{
	(void)state;
	assert_false(parley_echo_words_match("", said));
	assert_false(parley_echo_words_match("?!", said));
	assert_false(parley_echo_words_match("the capital of france", ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(case_echo_garbled),
		cmocka_unit_test(case_user_words),
		cmocka_unit_test(case_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
