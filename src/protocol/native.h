/*
 * native.h - the native WebSocket protocol (docs/protocol.md) on top of a
 * session: decodes client frames (control.c parses the JSON ones) into the
 * session's small calls (session.h), and encodes the session's events as
 * {"type": ..., "content": ...} messages; the session's problems become
 * `error` messages with this protocol's codes (errcode.h).
 *
 * Errors of the wire itself (bad JSON, a bad frame, an unknown voice in
 * session.config) are this file's: the session never sees them. Replies to
 * a client message (session.configured) are this file's too.
 *
 * The transport sees this protocol as parley_native_wire (protocol/wire.h,
 * defined here): the functions below, the status message as its hello, no
 * per-session state, playback reported by the client. The OpenAI Realtime
 * protocol (protocol/realtime.c) is its sibling on /v1/realtime.
 *
 * Threads: the on_* functions run on the event-loop thread (they only parse,
 * call the session and queue). The events may be raised from any thread.
 */
#ifndef PARLEY_PROTOCOL_NATIVE_H
#define PARLEY_PROTOCOL_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errcode.h"
#include "session/session.h"

/* Message kinds the server sends; used as parley_msg tags for metrics. */
enum parley_out_kind {
	PARLEY_OUT_STATUS = 0,
	PARLEY_OUT_ERROR,
	PARLEY_OUT_CONFIGURED,
	PARLEY_OUT_PARTIAL_ASSISTANT,
	PARLEY_OUT_FINAL_ASSISTANT,
	PARLEY_OUT_PARTIAL_USER,
	PARLEY_OUT_FINAL_USER,
	PARLEY_OUT_TTS_CHUNK,
	PARLEY_OUT_AUDIO,
	PARLEY_OUT_STOP_TTS,
	PARLEY_OUT_TTS_INTERRUPTION,
	PARLEY_OUT_COUNT
};

const char *parley_out_kind_name(int tag);

/* The events table sessions of this protocol are created with. */
extern const struct parley_session_events parley_native_events;

/* A complete text frame (borrowed). */
void parley_native_on_text(struct parley_session *s, const char *data, size_t len);

/* A complete binary frame (borrowed). */
void parley_native_on_binary(struct parley_session *s, const uint8_t *data, size_t len);

/* A frame that exceeded its size cap and was discarded unread. */
void parley_native_on_oversize(struct parley_session *s, bool binary, size_t len);

/* The largest frame worth buffering, by frame type. */
size_t parley_native_max_frame(bool binary);

/* The wire code of a session problem; never PARLEY_PE_COUNT. Pure. */
enum parley_proto_error parley_native_error_code(enum parley_session_problem p);

/* Encodes an error message with no session (e.g. server_full). NULL on OOM. */
struct parley_msg *parley_native_error_msg(enum parley_proto_error code, const char *message);

/* Registers this protocol's metrics once at startup. */
int parley_native_metrics_register(void);

/* Counts a message written to a socket (event-loop thread). */
void parley_native_count_out(int tag);

#endif
