/*
 * buf.h - a growable byte buffer with a hard cap (after curl's dynbuf):
 * always NUL-terminated, grows by doubling, never past `max`. Used wherever
 * text accumulates from a peer (stream lines, SSE events, answers).
 *
 * Not thread-safe: its owner guards it.
 */
#ifndef PARLEY_UTIL_BUF_H
#define PARLEY_UTIL_BUF_H

#include <stddef.h>

struct parley_buf {
	char *data; /* NULL until the first append; then NUL-terminated */
	size_t len, cap, max;
};

void parley_buf_init(struct parley_buf *b, size_t max);
void parley_buf_free(struct parley_buf *b);

/* Appends n bytes. Returns 0, PARLEY_E_RANGE (over max: nothing appended)
 * or PARLEY_E_NOMEM. */
int parley_buf_append(struct parley_buf *b, const void *data, size_t n);

/* Appends what fits of n bytes (the rest is dropped); returns the count
 * appended, or 0 on OOM. For keeping the head of an oversized body. */
size_t parley_buf_append_head(struct parley_buf *b, const void *data, size_t n);

/* Empties the buffer, keeping its memory. */
void parley_buf_reset(struct parley_buf *b);

/* Removes the first n bytes. */
void parley_buf_consume(struct parley_buf *b, size_t n);

/* The contents, "" when empty (never NULL). */
static inline const char *parley_buf_str(const struct parley_buf *b)
{
	return b->data ? b->data : "";
}

#endif
