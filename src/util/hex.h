/*
 * hex.h - one hexadecimal digit's value (percent-decoding in server/path.c
 * and llm/sigv4.c). Pure; any thread.
 */
#ifndef PARLEY_UTIL_HEX_H
#define PARLEY_UTIL_HEX_H

/* 0..15 for 0-9, a-f, A-F; -1 for anything else. */
static inline int parley_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
