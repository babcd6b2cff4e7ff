/*
 * log.h - leveled, timestamped log lines on stderr.
 *
 * One line per call, written with a single stdio call under the stream lock,
 * so lines from different threads never interleave. The level is global and
 * set once at startup (parley_log_set_level) before other threads start.
 * Convention: lines about a session say "(session N)".
 *
 * Log lines carry untrusted text (transcripts, LLM error bodies, client
 * values), so the formatted message is made safe centrally before it is
 * written: secrets are masked (util/redact.h), and control characters
 * (newline, ESC, ...), C1 and bidirectional controls and invalid UTF-8 are
 * escaped as \n, \r, \t, \xNN or \uNNNN, so one call is always exactly one
 * line and cannot move a terminal's cursor. Long messages are masked
 * whole, then cut on a character boundary (at 4095 bytes) and end in "...".
 */
#ifndef PARLEY_UTIL_LOG_H
#define PARLEY_UTIL_LOG_H

#include <stddef.h>

enum parley_log_level {
	PARLEY_LOG_ERROR = 0,
	PARLEY_LOG_WARN = 1,
	PARLEY_LOG_INFO = 2,
	PARLEY_LOG_DEBUG = 3,
};

/* Not thread-safe: call at startup only. */
void parley_log_set_level(enum parley_log_level level);
enum parley_log_level parley_log_get_level(void);

/* Parses "error", "warn", "info", "debug". Returns 0 or PARLEY_E_INVAL. */
int parley_log_level_parse(const char *s, enum parley_log_level *out);

/* Any thread. */
void parley_log(enum parley_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Escapes s[0..len) for a log line into out[0..cap) (NUL-terminated,
 * cap >= 4); returns the length written. Exposed for tests.
 */
size_t parley_log_escape(const char *s, size_t len, char *out, size_t cap);

/*
 * Cuts the masked message s (*len bytes, writable, max >= 4) so that it is
 * shorter than max: on a character boundary, ending in "...", NUL-terminated;
 * *len is updated. Unchanged when *len < max. Exposed for tests.
 */
void parley_log_cut(char *s, size_t *len, size_t max);

#define PARLEY_ERROR(...) parley_log(PARLEY_LOG_ERROR, __VA_ARGS__)
#define PARLEY_WARN(...) parley_log(PARLEY_LOG_WARN, __VA_ARGS__)
#define PARLEY_INFO(...) parley_log(PARLEY_LOG_INFO, __VA_ARGS__)
#define PARLEY_DEBUG(...) parley_log(PARLEY_LOG_DEBUG, __VA_ARGS__)

#endif
