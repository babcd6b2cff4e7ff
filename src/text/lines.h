/*
 * lines.h - split a byte stream into lines, whatever the network chunking.
 *
 * Feed bytes as they arrive; every complete line (ending in LF, CRLF or a
 * lone CR) is passed to the callback without its terminator. A line longer
 * than the cap is an error: the stream is not what we expect, and growing
 * without bound is not an option. Used by the SSE and NDJSON stream parsers.
 *
 * Not thread-safe; one splitter per stream.
 */
#ifndef PARLEY_TEXT_LINES_H
#define PARLEY_TEXT_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Return nonzero to stop feeding (the value is returned by feed). */
typedef int (*parley_line_fn)(void *arg, const char *line, size_t len);

struct parley_lines {
	struct parley_buf line; /* the line being assembled, capped */
	bool pending_cr;        /* last byte was CR: a following LF belongs to it */
};

void parley_lines_init(struct parley_lines *l, size_t max_line);
void parley_lines_destroy(struct parley_lines *l);

/* Returns 0, the callback's nonzero value, PARLEY_E_RANGE (line over the
 * cap) or PARLEY_E_NOMEM. */
int parley_lines_feed(struct parley_lines *l, const char *data, size_t len, parley_line_fn fn,
		      void *arg);

/* End of stream: passes a final unterminated line, if any. */
int parley_lines_finish(struct parley_lines *l, parley_line_fn fn, void *arg);

#endif
