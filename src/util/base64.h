/* base64.h - standard base64 (RFC 4648, with padding). Pure, any thread. */
#ifndef PARLEY_UTIL_BASE64_H
#define PARLEY_UTIL_BASE64_H

#include <stddef.h>

/* Bytes needed to encode n bytes (without a terminating NUL). */
static inline size_t parley_base64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Writes parley_base64_len(n) characters to out; returns that count. */
size_t parley_base64_encode(const unsigned char *in, size_t n, char *out);

#endif
