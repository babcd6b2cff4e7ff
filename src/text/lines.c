#include "text/lines.h"

#include "util/err.h"

void parley_lines_init(struct parley_lines *l, size_t max_line)
{
	parley_buf_init(&l->line, max_line);
	l->pending_cr = false;
}

void parley_lines_destroy(struct parley_lines *l)
{
	parley_buf_free(&l->line);
}

static int emit(struct parley_lines *l, parley_line_fn fn, void *arg)
{
	int rc = fn(arg, parley_buf_str(&l->line), l->line.len);
	parley_buf_reset(&l->line);
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
		int rc = parley_buf_append(&l->line, data + i, j - i);
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
	if (l->line.len == 0)
		return 0;
	return emit(l, fn, arg);
}
