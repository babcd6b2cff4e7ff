/*
 * sse.h - Server-Sent Events framing (text/event-stream) as real LLM
 * servers send it: "data:" with or without a space, LF or CRLF, several data
 * lines per event (joined with "\n"), ":" comment/keep-alive lines, event/id/
 * retry fields (ignored), and the older llama.cpp "error: {...}" line, which
 * is reported as an error event at once. An event still open when the stream
 * ends is dispatched (some servers omit the final blank line).
 *
 * Not thread-safe; one parser per stream.
 */
#ifndef PARLEY_LLM_SSE_H
#define PARLEY_LLM_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "text/lines.h"

enum parley_sse_kind { PARLEY_SSE_DATA, PARLEY_SSE_ERROR };

/* data is NUL-terminated and borrowed for the call. Return nonzero to stop. */
typedef int (*parley_sse_fn)(void *arg, enum parley_sse_kind kind, const char *data, size_t len);

struct parley_sse {
	struct parley_lines lines;
	struct parley_buf data; /* current event's data lines, joined by "\n" */
	bool has_data;
	parley_sse_fn fn;
	void *arg;
};

/* max_event bounds one line and one event's data. */
void parley_sse_init(struct parley_sse *s, size_t max_event, parley_sse_fn fn, void *arg);
void parley_sse_destroy(struct parley_sse *s);

/* Returns 0, the callback's nonzero value, PARLEY_E_RANGE or PARLEY_E_NOMEM. */
int parley_sse_feed(struct parley_sse *s, const char *bytes, size_t len);
int parley_sse_finish(struct parley_sse *s);

#endif
