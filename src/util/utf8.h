/*
 * utf8.h - UTF-8 for text that crosses a trust boundary: validity checks,
 * cutting on a character boundary, and sanitising.
 *
 * Text from clients, LLM servers and libraries is bytes until proven
 * otherwise. Whatever parley cuts (a message into a fixed buffer, an answer
 * at its cap, an error body to a short cause) is cut with parley_utf8_cut,
 * so no cut splits a character; whatever goes out as JSON is first passed
 * through parley_utf8_sanitize, so an invalid sequence becomes U+FFFD instead
 * of making the JSON encoder refuse the whole message.
 *
 * "Valid" is RFC 3629 as jansson checks it: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. NUL is a valid character.
 *
 * Pure functions, any thread.
 */
#ifndef PARLEY_UTIL_UTF8_H
#define PARLEY_UTIL_UTF8_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Is s[0..len) valid UTF-8? */
bool parley_utf8_valid(const char *s, size_t len);

/* Length of the valid sequence starting at s[0..len), 1..4, or 0 when the
 * bytes there are not a valid character (or are cut short by len). */
size_t parley_utf8_char_len(const char *s, size_t len);

/*
 * The longest prefix of s[0..len) of at most max bytes that does not end in
 * the middle of a character: returns min(len, max), stepped back over the
 * last character if it would be split (by max, or because s itself ends
 * in an incomplete sequence). Never splits a valid character; bytes that
 * are invalid anyway are left for the sanitiser.
 */
size_t parley_utf8_cut(const char *s, size_t len, size_t max);

/*
 * Copies s[0..len) into out[0..cap) as valid UTF-8: each byte that does
 * not start a valid character becomes U+FFFD; the copy is cut on a
 * character boundary to fit and NUL-terminated (cap >= 1). Returns the
 * bytes written (without the NUL). *truncated, if given, tells whether
 * anything was left out.
 */
size_t parley_utf8_sanitize_into(const char *s, size_t len, char *out, size_t cap,
				 bool *truncated);

/* Like parley_utf8_sanitize_into into a malloc'd buffer (caller frees)
 * that holds all of it; *outlen gets its length. NULL on OOM. */
char *parley_utf8_sanitize(const char *s, size_t len, size_t *outlen);

/*
 * vsnprintf that never splits a character: when the result does not fit,
 * it is cut on a character boundary and ends in "..." (if cap allows).
 * Returns the length written.
 */
size_t parley_utf8_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
size_t parley_utf8_format(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
