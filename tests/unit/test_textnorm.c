/* Unit tests: transcripts reduced to their words (src/text/textnorm.c), the
 * comparison that decides whether a speculative answer is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text/textnorm.h"

static void check(const char *in, const char *want)
{
	char *got = parley_textnorm(in, strlen(in));
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_true(strlen(got) <= strlen(in));
	free(got);
}

static void case_punctuation_and_spaces(void **state)
{
	(void)state;
	check("What is the capital of France?", "what is the capital of france");
	check("  what   is\tthe\ncapital of france  ", "what is the capital of france");
	check("Hello, there. How are you today?!", "hello there how are you today");
	check("", "");
	check("?!...", "");
	check("well-known e-mail", "well known e mail");
	check("12:30, OK", "12 30 ok");
}

static void apostrophes_join(void **state)
{
	(void)state;
	check("What's up? I don't know.", "whats up i dont know");
	check("what\xE2\x80\x99s up", "whats up");        /* U+2019 */
	check("\xE2\x80\x9CHi\xE2\x80\x9D\xE2\x80\x94you\xE2\x80\xA6", "hi you"); /* quotes, dash, ellipsis */
}

static void other_scripts_kept(void **state)
{
	(void)state;
	check("Caf\xC3\xA9 au lait", "caf\xC3\xA9 au lait");
	check("\xE2\x82\xAC" "5", "\xE2\x82\xAC" "5"); /* U+20AC is not E2 80 xx: kept */
	check("a\xE2\x80", "a\xE2\x80");              /* a cut sequence: kept as bytes */
}

static void equality(void **state)
{
	(void)state;
	assert_true(parley_textnorm_equal("what is the capital of france",
					  "What is the capital of France?"));
	assert_true(parley_textnorm_equal("book a table for two", "Book a table, for two."));
	assert_false(parley_textnorm_equal("book a table", "book a table for two"));
	assert_false(parley_textnorm_equal("book a table for", "book a table four"));
	assert_true(parley_textnorm_equal("", " . "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(case_punctuation_and_spaces),
		cmocka_unit_test(apostrophes_join),
		cmocka_unit_test(other_scripts_kept),
		cmocka_unit_test(equality),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
