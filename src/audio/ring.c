#include "audio/ring.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int parley_ring_init(struct parley_ring *r, size_t cap)
{
	memset(r, 0, sizeof *r);
	if (cap == 0)
		return PARLEY_E_INVAL;
	r->buf = malloc(cap * sizeof *r->buf);
	if (!r->buf)
		return PARLEY_E_NOMEM;
	r->cap = cap;
	return 0;
}

void parley_ring_destroy(struct parley_ring *r)
{
	free(r->buf);
	memset(r, 0, sizeof *r);
}

size_t parley_ring_write(struct parley_ring *r, const int16_t *src, size_t n)
{
	size_t dropped = 0;
	if (n >= r->cap) { /* only the newest cap samples survive */
		dropped = r->len + (n - r->cap);
		src += n - r->cap;
		n = r->cap;
		r->head = r->len = 0;
	} else if (r->len + n > r->cap) {
		dropped = r->len + n - r->cap;
		r->head = (r->head + dropped) % r->cap;
		r->len -= dropped;
	}
	size_t tail = (r->head + r->len) % r->cap;
	size_t first = n < r->cap - tail ? n : r->cap - tail;
	memcpy(r->buf + tail, src, first * sizeof *src);
	memcpy(r->buf, src + first, (n - first) * sizeof *src);
	r->len += n;
	return dropped;
}

size_t parley_ring_read(struct parley_ring *r, int16_t *dst, size_t n)
{
	if (n > r->len)
		n = r->len;
	size_t first = n < r->cap - r->head ? n : r->cap - r->head;
	memcpy(dst, r->buf + r->head, first * sizeof *dst);
	memcpy(dst + first, r->buf, (n - first) * sizeof *dst);
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
	return n;
}

size_t parley_ring_drop(struct parley_ring *r, size_t n)
{
	if (n > r->len)
		n = r->len;
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
	return n;
}
