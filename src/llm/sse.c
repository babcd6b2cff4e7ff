#include "llm/sse.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

void parley_sse_init(struct parley_sse *s, size_t max_event, parley_sse_fn fn, void *arg)
{
	memset(s, 0, sizeof *s);
	parley_lines_init(&s->lines, max_event);
	s->max = max_event;
	s->fn = fn;
	s->arg = arg;
}

void parley_sse_destroy(struct parley_sse *s)
{
	parley_lines_destroy(&s->lines);
	free(s->data);
	s->data = NULL;
}

static int data_append(struct parley_sse *s, const char *v, size_t n)
{
	size_t need = s->len + (s->has_data ? 1 : 0) + n;
	if (need > s->max)
		return PARLEY_E_RANGE;
	if (need + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < need + 1)
			cap *= 2;
		char *d = realloc(s->data, cap);
		if (!d)
			return PARLEY_E_NOMEM;
		s->data = d;
		s->cap = cap;
	}
	if (s->has_data)
		s->data[s->len++] = '\n';
	memcpy(s->data + s->len, v, n);
	s->len += n;
	s->data[s->len] = '\0';
	s->has_data = true;
	return 0;
}

static int dispatch(struct parley_sse *s)
{
	if (!s->has_data)
		return 0;
	int rc = s->fn(s->arg, PARLEY_SSE_DATA, s->data, s->len);
	s->len = 0;
	s->has_data = false;
	return rc;
}

static int on_line(void *arg, const char *line, size_t len)
{
	struct parley_sse *s = arg;
	if (len == 0)
		return dispatch(s);
	if (line[0] == ':')
		return 0; /* comment / keep-alive */
	const char *colon = memchr(line, ':', len);
	size_t flen = colon ? (size_t)(colon - line) : len;
	const char *v = colon ? colon + 1 : line + len;
	size_t vlen = len - (size_t)(v - line);
	if (vlen && *v == ' ') {
		v++;
		vlen--;
	}
	if (flen == 4 && memcmp(line, "data", 4) == 0)
		return data_append(s, v, vlen);
	if (flen == 5 && memcmp(line, "error", 5) == 0)
		return s->fn(s->arg, PARLEY_SSE_ERROR, v, vlen);
	return 0; /* event:, id:, retry:, unknown fields */
}

int parley_sse_feed(struct parley_sse *s, const char *bytes, size_t len)
{
	return parley_lines_feed(&s->lines, bytes, len, on_line, s);
}

int parley_sse_finish(struct parley_sse *s)
{
	int rc = parley_lines_finish(&s->lines, on_line, s);
	if (rc)
		return rc;
	return dispatch(s);
}
