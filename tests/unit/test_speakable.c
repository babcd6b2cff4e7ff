/* Unit tests: the speech normaliser (src/text/speakable.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text/speakable.h"
#include "util/utf8.h"

static char *norm(const char *text)
{
	size_t n;
	char *out = parley_speakable(text, strlen(text), &n);
	assert_non_null(out);
	assert_int_equal(n, strlen(out));
	return out;
}

static void expect(const char *text, const char *want)
{
	char *out = norm(text);
	if (strcmp(out, want) != 0)
		fail_msg("normalised \"%s\"\n   got: \"%s\"\n  want: \"%s\"", text, out, want);
	free(out);
}

/* The longest run of bytes without a space. */
static size_t longest_word(const char *s)
{
	size_t best = 0, run = 0;
	for (; *s; s++) {
		run = *s == ' ' ? 0 : run + 1;
		if (run > best)
			best = run;
	}
	return best;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

static void test_plain_text_unchanged(void **state)
{
	(void)state;
	expect("Hello there, how are you?", "Hello there, how are you?");
	expect("It's 3.14 and 1,000 at 10:30; well-known e.g. U.S.A.",
	       "It's 3.14 and 1,000 at 10:30; well-known e.g. U.S.A.");
	expect("It costs $5, a 50% saving, -5 degrees.", "It costs $5, a 50% saving, -5 degrees.");
	expect("", "");
}

static void test_punctuation_runs_collapse(void **state)
{
	(void)state;
	expect("Sure!!!!", "Sure!");
	expect("Really?!?!", "Really?");
	expect("Wait.... what", "Wait. what");
	expect("Sure! ! ! ? ok", "Sure? ok");
	expect("a ,,,;;; b", "a; b");
	expect("!!!! hello", "hello"); /* nothing before the first word */
	expect("!!!!", "");
	expect("Yes…", "Yes.");
	expect("one — two – three", "one, two, three");
	/* 400 '!' (issue 8) */
	char t[410] = "Sure";
	memset(t + 4, '!', 400);
	t[404] = '\0';
	expect(t, "Sure!");
}

static void test_apostrophes_and_short_tokens(void **state)
{
	(void)state;
	expect("don’t rock'n'roll", "don't rock'n'roll");
	expect("s' s' s'", "s s s");
	expect("'quoted' dogs'", "quoted dogs");
	expect("y'all'd've a.b.a.b.a.b", "y'all'd've a b a b a b");
	/* "s'" x 100 aborts espeak-ng 1.51: no long apostrophe token survives */
	char t[256] = "";
	for (int i = 0; i < 100; i++)
		strcat(t, "s'");
	char *out = norm(t);
	assert_true(longest_word(out) <= PARLEY_SPEAKABLE_WORD_MAX);
	assert_int_equal(count_char(out, '\''), 0);
	assert_int_equal(strlen(out), 199); /* "s s s ... s": every s kept */
	free(out);
}

static void test_markdown_removed(void **state)
{
	(void)state;
	expect("**bold** and _it_ and `code`", "bold and it and code");
	expect("# Title\n## Sub", "Title Sub");
	expect("- apples\n- pears\n* plums\n+ figs", "apples pears plums figs");
	expect("See [the docs](https://x.y/a_b?c=d) and ![a cat](cat.png).",
	       "See the docs and a cat.");
	expect("Run:\n```sh\nmake test\n```\nDone.", "Run: make test Done.");
	expect("> quoted\n| a | b |\n|---|---|", "quoted a b");
	expect("[not a link] (x)", "not a link x");
}

static void test_emoji_and_symbols_removed(void **state)
{
	(void)state;
	expect("Hello 😀 world 👍🏽", "Hello world");
	expect("😀🎉👨‍👩‍👧", "");
	expect("a*b/c=d", "a b c d");
	expect("caf\xc3\xa9 \xe2\x82\xac" "5", "caf\xc3\xa9 \xe2\x82\xac" "5");
}

static void test_controls_and_invalid_utf8(void **state)
{
	(void)state;
	expect("a\x01" "b\x1b[31mred", "a b 31mred");
	expect("zero\xe2\x80\x8bwidth \xe2\x80\x8fmark", "zerowidth mark");
	expect("bad\xff\xfe bytes \xed\xa0\x80 \xc0\xaf end", "bad bytes end");
	char with_nul[] = "one\0two";
	size_t n;
	char *out = parley_speakable(with_nul, sizeof with_nul - 1, &n);
	assert_string_equal(out, "one two");
	free(out);
}

static void test_combining_marks_bounded(void **state)
{
	(void)state;
	/* e + 5 combining marks keeps 2; a mark with no letter goes */
	expect("e\xcc\x81\xcc\x82\xcc\x83\xcc\x84\xcc\x85x", "e\xcc\x81\xcc\x82x");
	expect("\xcc\x81" "a 1\xcc\x81", "a 1");
	expect("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
	       "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7");
}

static void test_digit_groups(void **state)
{
	(void)state;
	expect("Call 12345678901234 now", "Call 123 456 789 012 34 now");
	expect("123456789", "123456789"); /* 9 digits: a number */
	expect("1234567890", "123 456 789 0");
	expect("1,234,567,890,123,456", "1 234 567 890 123 456");
	expect("abc12345678901", "abc 123 456 789 01");
	char t[64];
	memset(t, '7', 40);
	t[40] = '\0';
	char *out = norm(t);
	assert_true(longest_word(out) <= 3);
	free(out);
}

static void test_long_words_split_not_dropped(void **state)
{
	(void)state;
	char t[5001];
	memset(t, 'a', 5000);
	t[5000] = '\0';
	char *out = norm(t);
	assert_true(longest_word(out) <= PARLEY_SPEAKABLE_WORD_MAX);
	assert_int_equal(strlen(out) - count_char(out, ' '), 5000); /* every letter kept */
	free(out);
	/* a multi-byte word is cut between characters, marks stay with letters */
	char u[4000] = "";
	for (int i = 0; i < 300; i++)
		strcat(u, "e\xcc\x81\xd0\xb6"); /* e + acute, zhe */
	out = norm(u);
	assert_true(longest_word(out) <= PARLEY_SPEAKABLE_WORD_MAX);
	assert_true(parley_utf8_valid(out, strlen(out)));
	assert_null(strstr(out, " \xcc\x81"));
	free(out);
	/* 51 bytes: cut at 40, the joiner at the cut goes */
	expect("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z",
	       "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t u-v-w-x-y-z");
}

static void test_pieces_cut_not_dropped(void **state)
{
	(void)state;
	/* 100 sentences, then 400 words without punctuation */
	char *t = malloc(20000);
	t[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(t, "This is a sentence of words. ");
	for (int i = 0; i < 400; i++)
		strcat(t, "word ");
	char *out = norm(t);
	size_t len = strlen(out), at = 0, words = 0, pieces = 0;
	while (at < len) {
		size_t cut = parley_speakable_cut(out + at, len - at);
		assert_true(cut > 0 && cut <= PARLEY_SPEAKABLE_PIECE_MAX);
		assert_true(parley_speakable_check(out + at, cut));
		char c = out[at + cut - 1];
		if (at + cut < len && pieces < 10) /* sentences are cut at their end */
			assert_true(c == '.');
		for (size_t i = at; i < at + cut; i++)
			words += out[i] == ' ';
		words++;
		pieces++;
		at += cut;
		if (at < len) {
			assert_int_equal(out[at], ' ');
			at++;
		}
	}
	assert_int_equal(words, 100 * 6 + 400);
	assert_true(pieces > 10);
	free(out);
	free(t);
}

static void test_check(void **state)
{
	(void)state;
	assert_true(parley_speakable_check("Hello there.", 12));
	assert_false(parley_speakable_check("Hello!!", 7));
	assert_false(parley_speakable_check("s's's's's's's's's's's's's's's's's's's's's's's's's", 49));
	assert_false(parley_speakable_check("a\xff", 2));
	char t[PARLEY_SPEAKABLE_PIECE_MAX + 10];
	for (size_t i = 0; i < sizeof t - 1; i++)
		t[i] = i % 4 == 3 ? ' ' : 'a';
	t[sizeof t - 1] = '\0';
	assert_false(parley_speakable_check(t, strlen(t))); /* too long */
}

/* Random bytes, biased towards the interesting ones: the output is valid
 * UTF-8, bounded, in normal form (idempotent), and its words are capped. */
static void test_random_input_properties(void **state)
{
	(void)state;
	static const char *const atoms[] = {
		"a", "Z", "7", " ", "\n", ".", "!", "?", ",", ";", ":", "'", "-", "$", "%", "[",
		"]", "(", ")", "*", "_", "`", "#", "\xe2\x80\x99", "\xcc\x81", "\xf0\x9f\x98\x80",
		"\xe2\x80\x94", "\xd7\xa9", "\xe4\xbd\xa0", "\xff", "\xed\xa0\x80", "\x00", "```",
		"\xe2\x80\x8b", "\xc3\xa9", "s'", "1.", "http://x.y/z",
	};
	uint64_t rng = 0x2545F4914F6CDD1Dull;
	char *buf = malloc(8192);
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 0, target;
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		target = rng % 2000;
		while (n < target) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			if (rng % 4 == 0) {
				buf[n++] = (char)(rng >> 8);
			} else {
				const char *a = atoms[(rng >> 8) % (sizeof atoms / sizeof atoms[0])];
				size_t k = a[0] ? strlen(a) : 1;
				memcpy(buf + n, a, k);
				n += k;
			}
		}
		size_t len;
		char *out = parley_speakable(buf, n, &len);
		assert_non_null(out);
		assert_true(len <= 2 * n + 1);
		assert_true(parley_utf8_valid(out, len));
		assert_true(longest_word(out) <= PARLEY_SPEAKABLE_WORD_MAX + 1); /* + a mark */
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)out[i];
			assert_true(c >= 0x20 && c != 0x7f);
			if (i && strchr(".!?,;:", out[i]))
				assert_null(strchr(".!?,;: ", out[i - 1])); /* no runs */
		}
		assert_true(len == 0 || (out[0] != ' ' && out[len - 1] != ' '));
		assert_null(strstr(out, "  "));
		size_t len2;
		char *again = parley_speakable(out, len, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(again, out, len);
		for (size_t at = 0; at < len;) {
			size_t cut = parley_speakable_cut(out + at, len - at);
			assert_true(cut > 0 && cut <= PARLEY_SPEAKABLE_PIECE_MAX);
			assert_true(parley_speakable_check(out + at, cut));
			at += cut;
			if (at < len && out[at] == ' ')
				at++;
		}
		free(again);
		free(out);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_unchanged),
		cmocka_unit_test(test_punctuation_runs_collapse),
		cmocka_unit_test(test_apostrophes_and_short_tokens),
		cmocka_unit_test(test_markdown_removed),
		cmocka_unit_test(test_emoji_and_symbols_removed),
		cmocka_unit_test(test_controls_and_invalid_utf8),
		cmocka_unit_test(test_combining_marks_bounded),
		cmocka_unit_test(test_digit_groups),
		cmocka_unit_test(test_long_words_split_not_dropped),
		cmocka_unit_test(test_pieces_cut_not_dropped),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_random_input_properties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
