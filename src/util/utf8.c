#include "util/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Expected length of a sequence from its lead byte; 0 if it cannot lead. */
static size_t lead_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	return 0; /* continuation byte, C0/C1 (overlong) or F5..FF */
}

size_t parley_utf8_char_len(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	if (!len)
		return 0;
	size_t n = lead_len(s[0]);
	if (!n || n > len)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	/* Overlong 3- and 4-byte forms, surrogates, above U+10FFFF. */
	if (n == 3 && s[0] == 0xE0 && s[1] < 0xA0)
		return 0;
	if (n == 3 && s[0] == 0xED && s[1] >= 0xA0)
		return 0;
	if (n == 4 && s[0] == 0xF0 && s[1] < 0x90)
		return 0;
	if (n == 4 && s[0] == 0xF4 && s[1] >= 0x90)
		return 0;
	return n;
}

bool parley_utf8_valid(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t n = parley_utf8_char_len(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

size_t parley_utf8_cut(const char *str, size_t len, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = len < max ? len : max;
	if (!n)
		return 0;
	size_t i = n - 1;
	for (int back = 0; back < 3 && i > 0 && (s[i] & 0xC0) == 0x80; back++)
		i--;
	size_t want = lead_len(s[i]);
	if (want > 1 && i + want > n)
		return i; /* the last character would be split */
	return n;
}

size_t parley_utf8_sanitize_into(const char *s, size_t len, char *out, size_t cap,
				 bool *truncated)
{
	size_t o = 0, i = 0;
	bool cut = false;
	if (!cap) {
		if (truncated)
			*truncated = len > 0;
		return 0;
	}
	while (i < len) {
		size_t n = parley_utf8_char_len(s + i, len - i);
		const char *src = n ? s + i : REPLACEMENT;
		size_t w = n ? n : sizeof REPLACEMENT - 1;
		if (o + w > cap - 1) {
			cut = true;
			break;
		}
		memcpy(out + o, src, w);
		o += w;
		i += n ? n : 1;
	}
	out[o] = '\0';
	if (truncated)
		*truncated = cut;
	return o;
}

char *parley_utf8_sanitize(const char *s, size_t len, size_t *outlen)
{
	/* Worst case: every byte becomes a 3-byte U+FFFD. */
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	size_t cap = parley_utf8_valid(s, len) ? len + 1 : len * 3 + 1;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t n = parley_utf8_sanitize_into(s, len, out, cap, NULL);
	if (outlen)
		*outlen = n;
	return out;
}

size_t parley_utf8_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
	if (!cap)
		return 0;
	int n = vsnprintf(buf, cap, fmt, ap);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	if ((size_t)n < cap)
		return (size_t)n;
	static const char more[] = "...";
	size_t room = cap - 1;
	size_t keep = room > sizeof more - 1 ? room - (sizeof more - 1) : room;
	keep = parley_utf8_cut(buf, room, keep);
	if (keep + sizeof more - 1 <= room) {
		memcpy(buf + keep, more, sizeof more - 1);
		keep += sizeof more - 1;
	}
	buf[keep] = '\0';
	return keep;
}

size_t parley_utf8_format(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = parley_utf8_vformat(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}
