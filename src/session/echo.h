/*
 * echo.h - the echo guard in the session (echo.c): whether it is on for
 * this session (the server's --echo-guard and the client's word), and the
 * verdict on an utterance heard while the assistant spoke. Included by
 * the session's own files only; the guard itself is echoguard.h, owned by
 * the session (s->echo) and worked by the listener.
 */
#ifndef PARLEY_SESSION_ECHO_H
#define PARLEY_SESSION_ECHO_H

#include <stdbool.h>
#include <stdint.h>

struct parley_session;

/* How long after the assistant's audio could last echo an utterance that
 * begins can still be its echo. */
#define PARLEY_ECHO_WORDS_AFTER_MS 1500

/* At creation: the guard on or off by the server's mode alone. */
void parley_session_echo_init(struct parley_session *s);

/* At the last unref: logs what the guard did (if anything) and frees it. */
void parley_session_echo_destroy(struct parley_session *s);

/* The single verdict "this utterance is echo: not a turn": the guard is
 * on, the utterance began while the assistant's audio could echo into the
 * microphone or within PARLEY_ECHO_WORDS_AFTER_MS after, and its
 * transcript is mostly the assistant's own recent words (the current
 * answer's and the one before, text/echowords.h). start_ms: the
 * utterance's first sample on the listener's input clock; text borrowed.
 * The listen strand; takes s->lock. */
bool parley_session_utterance_is_echo(struct parley_session *s, const char *text,
				      int64_t start_ms);

#endif
