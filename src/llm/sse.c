#include "llm/sse.h"

#include <string.h>

#include "util/err.h"

void parley_sse_init(struct parley_sse *s, size_t max_event, parley_sse_fn fn, void *arg)
{
	parley_lines_init(&s->lines, max_event);
	parley_buf_init(&s->data, max_event);
	s->has_data = false;
	s->fn = fn;
	s->arg = arg;
}

void parley_sse_destroy(struct parley_sse *s)
{
	parley_lines_destroy(&s->lines);
	parley_buf_free(&s->data);
}

static int data_append(struct parley_sse *s, const char *v, size_t n)
{
	if (s->has_data && parley_buf_append(&s->data, "\n", 1) != 0)
		return PARLEY_E_RANGE;
	s->has_data = true;
	return parley_buf_append(&s->data, v, n);
}

static int dispatch(struct parley_sse *s)
{
	if (!s->has_data)
		return 0;
	int rc = s->fn(s->arg, PARLEY_SSE_DATA, parley_buf_str(&s->data), s->data.len);
	parley_buf_reset(&s->data);
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
