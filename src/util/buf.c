#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

void parley_buf_init(struct parley_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void parley_buf_free(struct parley_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int parley_buf_append(struct parley_buf *b, const void *data, size_t n)
{
	if (b->len + n > b->max)
		return PARLEY_E_RANGE;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return PARLEY_E_NOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

size_t parley_buf_append_head(struct parley_buf *b, const void *data, size_t n)
{
	size_t room = b->max - b->len;
	size_t take = n < room ? n : room;
	return parley_buf_append(b, data, take) == 0 ? take : 0;
}

void parley_buf_reset(struct parley_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void parley_buf_consume(struct parley_buf *b, size_t n)
{
	if (n >= b->len) {
		parley_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}
