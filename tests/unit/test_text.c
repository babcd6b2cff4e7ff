/* Unit tests: sentence splitting for speech (src/text/sentences.c) and the
 * end-of-turn silence rule (src/text/turn_rules.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
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

/* Feeds text as an LLM streams it, a word (with its leading space) at a
 * time, and checks the pieces. */
static void expect_tokens(const char *text, const char *want)
{
	struct parley_sentences s;
	parley_sentences_init(&s);
	char out[2048] = "";
	for (size_t i = 0; text[i];) {
		size_t j = i + 1;
		while (text[j] && text[j] != ' ')
			j++;
		parley_sentences_feed(&s, text + i, j - i);
		char *p;
		while ((p = parley_sentences_next(&s))) {
			strncat(out, p, sizeof out - strlen(out) - 2);
			strcat(out, "|");
			free(p);
		}
		i = j;
	}
	char *rest = parley_sentences_flush(&s);
	if (rest) {
		strncat(out, rest, sizeof out - strlen(out) - 2);
		strcat(out, "|");
		free(rest);
	}
	parley_sentences_destroy(&s);
	assert_string_equal(out, want);
}

static void quick_first_chunk_then_sentences(void **state)
{
	expect_split("So I think so, yes. It is late, and we should go. Bye!",
		     "So I think so,|yes.|It is late, and we should go.|Bye!|");
	expect_split("My good friend, here it is, look. Next one.",
		     "My good friend,|here it is, look.|Next one.|");
	/* one or two words before the comma: only an opener of its own */
	expect_split("Paris, France is lovely. Yes.", "Paris, France is lovely.|Yes.|");
	expect_split("Hello there! How are you? Fine.", "Hello there!|How are you?|Fine.|");
	expect_split("No punctuation at the end", "No punctuation at the end|");
	expect_split("Line one\nLine two", "Line one|Line two|");
	expect_split("   ", "");
}

/* The first piece ends at the first clause boundary (speech starts early);
 * later pieces are whole sentences. */
static void first_piece_ends_at_a_clause(void **state)
{
	/* an opener of its own */
	expect_split("Sure, I can help with that.", "Sure,|I can help with that.|");
	expect_split("Of course, here you go. Well, that is all.",
		     "Of course,|here you go.|Well, that is all.|");
	expect_split("Well, I think so. It is late.", "Well,|I think so.|It is late.|");
	/* dashes: ASCII spaced, doubled, and an em dash (UTF-8) */
	expect_split("The best way - by far - is the train.",
		     "The best way -|by far - is the train.|");
	expect_split("The best way -- by far -- is the train.",
		     "The best way --|by far -- is the train.|");
	expect_split("The best way \xe2\x80\x94 by far \xe2\x80\x94 is the train.",
		     "The best way \xe2\x80\x94|by far \xe2\x80\x94 is the train.|");
	/* a hyphen inside a word is no dash */
	expect_split("A well-known and much-loved song it is. Yes.",
		     "A well-known and much-loved song it is.|Yes.|");
	/* a long first clause without punctuation: before its last conjunction
	 * or preposition, else after PARLEY_FIRST_CHUNK_MAX_WORDS words */
	expect_tokens("I think the very best way for you to get there in the morning is by taking the "
		      "early train and then the bus.",
		      "I think the very best way for you to get there in the morning is|by taking "
		      "the early train and then the bus.|");
	expect_tokens("One two three four five six seven eight nine ten eleven twelve thirteen "
		      "fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one. Next.",
		      "One two three four five six seven eight nine ten eleven twelve thirteen "
		      "fourteen fifteen sixteen seventeen eighteen nineteen twenty|twenty-one.|Next.|");
	/* an ordinary sentence without commas stays whole */
	expect_tokens("I would like to book a table for two people at seven o'clock tonight. Yes.",
		      "I would like to book a table for two people at seven o'clock tonight.|Yes.|");
	/* (a sentence end already there wins: nothing to wait for) */
	char out[512];
	split("One two three four five six seven eight nine ten eleven twelve thirteen fourteen "
	      "fifteen sixteen seventeen eighteen nineteen twenty end. Next.",
	      1000, out, sizeof out);
	assert_string_equal(out, "One two three four five six seven eight nine ten eleven twelve "
				 "thirteen fourteen fifteen sixteen seventeen eighteen nineteen "
				 "twenty end.|Next.|");
	/* later sentences stay whole, however long */
	expect_split("Yes. I think the very best way for you to get there in the morning is by "
		     "taking the early train and then the bus, or walking.",
		     "Yes.|I think the very best way for you to get there in the morning is by "
		     "taking the early train and then the bus, or walking.|");
	/* short answers are unchanged */
	expect_split("Hello there.", "Hello there.|");
	expect_split("It is what it is", "It is what it is|");
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

/* The rule for a transcript alone, settled long ago. */
static int silence(const char *text, double speed)
{
	struct parley_turn_cues c = { text, 1000, 2000 };
	return parley_turn_silence_ms(&c, speed);
}

static int cued(const char *text, int since_change_ms, int utt_ms, double speed)
{
	struct parley_turn_cues c = { text, since_change_ms, utt_ms };
	return parley_turn_silence_ms(&c, speed);
}

static void turn_finished_is_short(void **state)
{
	(void)state;
	assert_int_equal(silence("what time is it", 50), PARLEY_TURN_FINISHED_MS);
	assert_int_equal(silence("the band", 50), PARLEY_TURN_FINISHED_MS);
	assert_int_equal(silence("thank you", 50), PARLEY_TURN_FINISHED_MS);
	assert_int_equal(silence("how are you", 50), PARLEY_TURN_FINISHED_MS);
	assert_int_equal(silence("i would like to order a pizza.", 50), PARLEY_TURN_FINISHED_MS);
	/* a one-word reply is finished */
	assert_int_equal(silence("yes", 50), PARLEY_TURN_FINISHED_MS);
	assert_int_equal(silence("Thanks!", 50), PARLEY_TURN_FINISHED_MS);
	assert_true(PARLEY_TURN_FINISHED_MS < PARLEY_TURN_UNSURE_MS);
	assert_true(PARLEY_TURN_UNSURE_MS < PARLEY_TURN_TRAILING_MS);
}

static void turn_trailing_is_long(void **state)
{
	(void)state;
	const char *const trail[] = {
		"i went there and", "so um", "because", "give me the", "But",
		"i would like to order a pizza with", "can you tell me about", "what I",
		"my favourite colour is", "i think we should", "could you tell my",
		"and then uh", "it's a kind of", "i'd like to",
		/* a clause with a subject and no verb yet */
		"i would like to are guaranteed so it", "tell me what you", "because it",
	};
	for (size_t i = 0; i < sizeof trail / sizeof trail[0]; i++)
		assert_int_equal(silence(trail[i], 50), PARLEY_TURN_TRAILING_MS);
	assert_true(parley_turn_trails_off("well and."));
	assert_true(parley_turn_trails_off("I'M"));
	assert_false(parley_turn_trails_off("android"));
	assert_false(parley_turn_trails_off("you"));
	assert_false(parley_turn_trails_off("i like it"));
	assert_false(parley_turn_trails_off("me and you"));
	assert_false(parley_turn_trails_off("sorry about it"));
	assert_false(parley_turn_trails_off("is that it"));
	assert_false(parley_turn_trails_off(""));
	assert_false(parley_turn_trails_off(NULL));
}

static void turn_unsure_in_between(void **state)
{
	(void)state;
	/* nothing understood yet */
	assert_int_equal(silence("", 50), PARLEY_TURN_UNSURE_MS);
	assert_int_equal(silence(NULL, 50), PARLEY_TURN_UNSURE_MS);
	assert_int_equal(silence("...", 50), PARLEY_TURN_UNSURE_MS);
	assert_int_equal(parley_turn_silence_ms(NULL, 50), PARLEY_TURN_UNSURE_MS);
	assert_int_equal(cued("", -1, 100, 50), PARLEY_TURN_UNSURE_MS);
	/* a single word that is not a reply on its own */
	assert_int_equal(silence("pizza", 50), PARLEY_TURN_UNSURE_MS);
	/* a transcript still changing: its last word may be missing */
	assert_int_equal(cued("i would like to order a pizza", 0, 1500, 50), PARLEY_TURN_UNSURE_MS);
	assert_int_equal(cued("i would like to order a pizza", PARLEY_TURN_SETTLE_MS - 20, 1500, 50),
			 PARLEY_TURN_UNSURE_MS);
	assert_int_equal(cued("i would like to order a pizza", PARLEY_TURN_SETTLE_MS, 1500, 50),
			 PARLEY_TURN_FINISHED_MS);
	/* changing never shortens a trailing pause */
	assert_int_equal(cued("a pizza with", 0, 1500, 50), PARLEY_TURN_TRAILING_MS);
}

static void turn_patience_scales(void **state)
{
	(void)state;
	/* 0 halves, 50 keeps, 100 adds half; every class keeps its order */
	const char *const texts[] = { "done and", "pizza", "what time is it" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		int lo = silence(texts[i], 0), mid = silence(texts[i], 50), hi = silence(texts[i], 100);
		assert_true(lo < mid);
		assert_true(mid < hi);
		assert_int_equal(hi, mid * 3 / 2);
	}
	assert_int_equal(silence("and", 0), PARLEY_TURN_TRAILING_MS / 2);
	assert_int_equal(silence("what time is it", 100), PARLEY_TURN_FINISHED_MS * 3 / 2);
	assert_true(silence("what time is it", 0) < silence("and", 0));
	assert_true(silence("what time is it", 100) < silence("and", 100));
	/* the settling time holds at every patience */
	assert_true(cued("what time is it", 0, 900, 0) > silence("what time is it", 0));
	assert_true(cued("what time is it", 0, 900, 100) > silence("what time is it", 100));
	/* bounds, and out-of-range patience is clamped */
	assert_int_equal(silence("what time is it", 0), PARLEY_TURN_MIN_MS);
	assert_int_equal(silence("x y", -50), silence("x y", 0));
	assert_int_equal(silence("and", 1000), silence("and", 100));
	assert_true(silence("and", 1000) <= PARLEY_TURN_MAX_MS);
	assert_int_equal(silence("and", NAN), silence("and", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quick_first_chunk_then_sentences),
		cmocka_unit_test(first_piece_ends_at_a_clause),
		cmocka_unit_test(abbreviations_and_numbers_do_not_split),
		cmocka_unit_test(turn_finished_is_short),
		cmocka_unit_test(turn_trailing_is_long),
		cmocka_unit_test(turn_unsure_in_between),
		cmocka_unit_test(turn_patience_scales),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
