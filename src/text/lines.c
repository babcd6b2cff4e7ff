#include "text/lines.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

void parley_lines_init(struct parley_lines *l, size_t max_line)
{
	memset(l, 0, sizeof *l);
	l->max = max_line;
}

void parley_lines_destroy(struct parley_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof *l);
}

static int append(struct parley_lines *l, const char *data, size_t n)
{
	if (l->len + n > l->max)
		return PARLEY_E_RANGE;
	if (l->len + n + 1 > l->cap) {
		size_t cap = l->cap ? l->cap : 256;
		while (cap < l->len + n + 1)
			cap *= 2;
		char *b = realloc(l->buf, cap);
		if (!b)
			return PARLEY_E_NOMEM;
		l->buf = b;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, data, n);
	l->len += n;
	l->buf[l->len] = '\0';
	return 0;
}

static int emit(struct parley_lines *l, parley_line_fn fn, void *arg)
{
	if (!l->buf && append(l, "", 0) != 0)
		return PARLEY_E_NOMEM;
	int rc = fn(arg, l->buf, l->len);
	l->len = 0;
	l->buf[0] = '\0';
	return rc;
}

int parley_lines_feed(struct parley_lines *l, const char *data, size_t len, parley_line_fn fn,
		      void *arg)
{
	size_t i = 0;
	while (i < len) {
		if (l->pending_cr) {
			l->pending_cr = false;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		size_t j = i;
		while (j < len && data[j] != '\n' && data[j] != '\r')
			j++;
		int rc = append(l, data + i, j - i);
		if (rc)
			return rc;
		if (j == len)
			break;
		if (data[j] == '\r')
			l->pending_cr = true;
		rc = emit(l, fn, arg);
		if (rc)
			return rc;
		i = j + 1;
	}
	return 0;
}

int parley_lines_finish(struct parley_lines *l, parley_line_fn fn, void *arg)
{
	if (l->len == 0)
		return 0;
	return emit(l, fn, arg);
}
