/* Unit tests: UTF-8 checks, cuts and sanitising (src/util/utf8.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/utf8.h"

#define FFFD "\xEF\xBF\xBD"

static void validity(void **state)
{
	static const struct {
		const char *s;
		int valid;
	} cases[] = {
		{ "", 1 },
		{ "plain ascii", 1 },
		{ "caf\xC3\xA9", 1 },                 /* é */
		{ "\xE2\x82\xAC", 1 },                /* € */
		{ "\xF0\x9F\x98\x80", 1 },            /* 😀 */
		{ "\xF4\x8F\xBF\xBF", 1 },            /* U+10FFFF */
		{ "\xEF\xBF\xBD", 1 },                /* U+FFFD itself */
		{ "\xFF", 0 },                        /* never a byte of UTF-8 */
		{ "\x80", 0 },                        /* lone continuation */
		{ "\xC3", 0 },                        /* truncated 2-byte */
		{ "\xE2\x82", 0 },                    /* truncated 3-byte */
		{ "\xC0\xAF", 0 },                    /* overlong '/' */
		{ "\xC1\xBF", 0 },                    /* overlong */
		{ "\xE0\x80\xAF", 0 },                /* overlong 3-byte */
		{ "\xF0\x80\x80\xAF", 0 },            /* overlong 4-byte */
		{ "\xED\xA0\x80", 0 },                /* surrogate U+D800 */
		{ "\xF4\x90\x80\x80", 0 },            /* above U+10FFFF */
		{ "\xF5\x80\x80\x80", 0 },
		{ "ok\xC3\xA9\xC3", 0 },              /* valid then truncated */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (parley_utf8_valid(cases[i].s, strlen(cases[i].s)) != (cases[i].valid != 0))
			fail_msg("case %zu (\"%s\") should be %s", i, cases[i].s,
				 cases[i].valid ? "valid" : "invalid");
	}
	/* NUL is a character like any other. */
	assert_true(parley_utf8_valid("a\0b", 3));
}

static void cut_never_splits(void **state)
{
	const char *s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z"; /* a é € 😀 z */
	size_t len = strlen(s);                                  /* 1+2+3+4+1 = 11 */
	static const size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11, 11 };
	for (size_t max = 0; max <= len + 1; max++) {
		size_t n = parley_utf8_cut(s, len, max);
		if (n != want[max])
			fail_msg("cut at %zu gave %zu, want %zu", max, n, want[max]);
		assert_true(parley_utf8_valid(s, n));
	}
	/* A string that itself ends in an incomplete character loses it. */
	assert_int_equal(parley_utf8_cut("ab\xE2\x82", 4, 4), 2);
	/* Invalid bytes are not a character to protect: left for the sanitiser. */
	assert_int_equal(parley_utf8_cut("ab\xFF", 3, 3), 3);
	assert_int_equal(parley_utf8_cut("\x80\x80\x80\x80", 4, 2), 2);
}

static void sanitize_replaces_and_fits(void **state)
{
	size_t n = 0;
	char *t = parley_utf8_sanitize("a\xFF" "b\xC3", 4, &n);
	assert_non_null(t);
	assert_string_equal(t, "a" FFFD "b" FFFD);
	assert_int_equal(n, 1 + 3 + 1 + 3);
	assert_true(parley_utf8_valid(t, n));
	free(t);

	t = parley_utf8_sanitize("caf\xC3\xA9", 5, &n); /* valid: unchanged */
	assert_string_equal(t, "caf\xC3\xA9");
	free(t);

	/* Surrogates and overlongs become one U+FFFD per byte. */
	t = parley_utf8_sanitize("\xED\xA0\x80", 3, &n);
	assert_string_equal(t, FFFD FFFD FFFD);
	free(t);

	/* Into a small buffer: cut on a character, NUL-terminated, flagged. */
	char out[8];
	bool cut = false;
	n = parley_utf8_sanitize_into("ab\xE2\x82\xAC\xE2\x82\xAC", 8, out, sizeof out, &cut);
	assert_int_equal(n, 5);
	assert_string_equal(out, "ab\xE2\x82\xAC");
	assert_true(cut);
	n = parley_utf8_sanitize_into("abc", 3, out, sizeof out, &cut);
	assert_string_equal(out, "abc");
	assert_false(cut);

	/* Every byte value, alone and in pairs: the result is always valid. */
	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b += 7) {
			char in[2] = { (char)a, (char)b };
			char buf[16];
			size_t m = parley_utf8_sanitize_into(in, 2, buf, sizeof buf, NULL);
			if (!parley_utf8_valid(buf, m))
				fail_msg("sanitised %02x %02x is not valid", a, b);
		}
	}
}

static void format_cuts_on_a_character(void **state)
{
	char buf[12];
	/* "x" then five "é": 11 bytes fit; 12 do not. */
	size_t n = parley_utf8_format(buf, sizeof buf, "%s", "x\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
	assert_int_equal(n, 11);
	n = parley_utf8_format(buf, sizeof buf, "%s!", "x\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
	assert_true(parley_utf8_valid(buf, n));
	assert_int_equal(strlen(buf), n);
	assert_memory_equal(buf + n - 3, "...", 3);
	assert_string_equal(buf, "x\xC3\xA9\xC3\xA9\xC3\xA9...");
	/* Every cap from 1 to 40 over a multibyte text stays valid. */
	for (size_t cap = 1; cap < 40; cap++) {
		char b[40];
		size_t m = parley_utf8_format(b, cap, "%s",
					      "\xF0\x9F\x98\x80\xE2\x82\xAC\xC3\xA9\xF0\x9F\x98\x80"
					      "\xE2\x82\xAC\xC3\xA9\xF0\x9F\x98\x80");
		if (!parley_utf8_valid(b, m) || m >= cap)
			fail_msg("cap %zu: %zu bytes, invalid or too long", cap, m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(validity),
		cmocka_unit_test(cut_never_splits),
		cmocka_unit_test(sanitize_replaces_and_fits),
		cmocka_unit_test(format_cuts_on_a_character),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
