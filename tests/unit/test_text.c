/* Unit tests: sentence splitting for speech (src/text/sentences.c) and the
 * end-of-turn silence rule (src/text/turn_rules.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text/sentences.h"
#include "text/turn_rules.h"

/* Feeds text in pieces of `step` bytes and collects every piece, joined by '|'. */
static void split(const char *text, size_t step, char *out, size_t cap)
{
	struct parley_sentences s;
	parley_sentences_init(&s);
	out[0] = '\0';
	size_t len = strlen(text);
	for (size_t i = 0; i < len; i += step) {
		parley_sentences_feed(&s, text + i, len - i < step ? len - i : step);
		char *p;
		while ((p = parley_sentences_next(&s))) {
			strncat(out, p, cap - strlen(out) - 2);
			strcat(out, "|");
			free(p);
		}
	}
	char *rest = parley_sentences_flush(&s);
	if (rest) {
		strncat(out, rest, cap - strlen(out) - 2);
		strcat(out, "|");
		free(rest);
	}
	parley_sentences_destroy(&s);
}

static void expect_split(const char *text, const char *want)
{
	char out[2048];
	for (size_t step = 1; step <= strlen(text); step++) {
		split(text, step, out, sizeof out);
		if (strcmp(out, want) != 0)
			fail_msg("step %zu: \"%s\"\n  got  %s\n  want %s", step, text, out, want);
	}
}

static void quick_first_chunk_then_sentences(void **state)
{
	expect_split("Well, I think so. It is late, and we should go. Bye!",
		     "Well, I think so.|It is late, and we should go.|Bye!|");
	expect_split("Sure thing, my friend, here it is. Next one.",
		     "Sure thing, my friend,|here it is.|Next one.|");
	expect_split("Hello there! How are you? Fine.", "Hello there!|How are you?|Fine.|");
	expect_split("No punctuation at the end", "No punctuation at the end|");
	expect_split("Line one\nLine two", "Line one|Line two|");
	expect_split("   ", "");
}

static void abbreviations_and_numbers_do_not_split(void **state)
{
	expect_split("Dr. Smith met Mr. Jones at 3.30 today. Then they left.",
		     "Dr. Smith met Mr. Jones at 3.30 today.|Then they left.|");
	expect_split("Pi is about 3.14159 and e is 2.718. Nice.",
		     "Pi is about 3.14159 and e is 2.718.|Nice.|");
	expect_split("It costs 1,000 dollars, e.g. a lot. The U.S. agrees.",
		     "It costs 1,000 dollars,|e.g. a lot.|The U.S. agrees.|");
	expect_split("See J. R. Tolkien etc. for more. Done.",
		     "See J. R. Tolkien etc. for more.|Done.|");
}

/* The rule for a transcript alone (no change history). */
static int silence(const char *text, double speed)
{
	struct parley_turn_cues c = { text, -1, 1000 };
	return parley_turn_silence_ms(&c, speed);
}

static void turn_silence_rule(void **state)
{
	assert_int_equal(silence("what time is it", 50), PARLEY_TURN_BASE_MS);
	assert_int_equal(silence("i went there and", 50), PARLEY_TURN_TRAILING_MS);
	assert_int_equal(silence("so um", 50), PARLEY_TURN_TRAILING_MS);
	assert_int_equal(silence("because", 50), PARLEY_TURN_TRAILING_MS);
	assert_int_equal(silence("give me the", 50), PARLEY_TURN_TRAILING_MS);
	assert_int_equal(silence("But", 50), PARLEY_TURN_TRAILING_MS);
	assert_int_equal(silence("the band", 50), PARLEY_TURN_BASE_MS);
	assert_int_equal(silence("", 50), PARLEY_TURN_BASE_MS);
	assert_int_equal(silence(NULL, 50), PARLEY_TURN_BASE_MS);
	/* patience scales: 0 halves, 100 adds half */
	assert_int_equal(silence("done", 0), PARLEY_TURN_BASE_MS / 2);
	assert_int_equal(silence("done", 100), PARLEY_TURN_BASE_MS * 3 / 2);
	assert_int_equal(silence("and", 100), PARLEY_TURN_TRAILING_MS * 3 / 2);
	/* bounds */
	assert_true(silence("x", -50) >= PARLEY_TURN_MIN_MS);
	assert_true(silence("and", 1000) <= PARLEY_TURN_MAX_MS);
	assert_true(parley_turn_trails_off("well and."));
	assert_false(parley_turn_trails_off("android"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quick_first_chunk_then_sentences),
		cmocka_unit_test(abbreviations_and_numbers_do_not_split),
		cmocka_unit_test(turn_silence_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
