#include "audio/ring.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int parley_ring_init(struct parley_ring *r, size_t cap)
{
	memset(r, 0, sizeof *r);
	if (cap == 0)
		return PARLEY_E_INVAL;
	r->max = cap;
	return 0;
}

/* Grows the storage toward max so that `need` samples fit; an idle ring
 * holds no memory. Returns 0 or PARLEY_E_NOMEM. */
static int reserve(struct parley_ring *r, size_t need)
{
	if (need <= r->cap || r->cap == r->max)
		return 0;
	size_t cap = r->cap ? r->cap : 4096;
	while (cap < need && cap < r->max)
		cap *= 2;
	if (cap > r->max)
		cap = r->max;
	int16_t *b = malloc(cap * sizeof *b);
	if (!b)
		return PARLEY_E_NOMEM;
	/* unwrap the old contents to the front */
	size_t first = r->len < r->cap - r->head ? r->len : r->cap - r->head;
	if (r->len) {
		memcpy(b, r->buf + r->head, first * sizeof *b);
		memcpy(b + first, r->buf, (r->len - first) * sizeof *b);
	}
	free(r->buf);
	r->buf = b;
	r->cap = cap;
	r->head = 0;
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
	if (reserve(r, r->len + n) != 0 && !r->cap)
		return n; /* no memory at all: the samples are lost */
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
	if (n == 0)
		return 0;
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
	if (n == 0)
		return 0;
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
	return n;
}
