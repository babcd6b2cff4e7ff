/*
 * speculate.c - speculative answers (internal.h). Placeholder on the base
 * branch; the speculation helper replaces this file.
 */
#include "session/internal.h"

void parley_session_speculate(struct parley_session *s, const char *text, int64_t speech_end_ns)
{
	(void)s;
	(void)text;
	(void)speech_end_ns;
}

void parley_session_speculation_drop(struct parley_session *s)
{
	(void)s;
}
