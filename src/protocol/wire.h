/*
 * wire.h - a wire protocol as the WebSocket transport sees it (server/ws.c).
 *
 * parley speaks two protocols over the same sessions: the native one on
 * /ws (protocol/native.c, docs/protocol.md) and the OpenAI Realtime one on
 * /v1/realtime (protocol/realtime.c, docs/realtime.md). The transport picks
 * the wire by the upgrade's path, creates the session with the wire's events
 * table and per-session state, says hello, and hands it every complete
 * frame. Everything a protocol says goes through the session's out-queue as
 * struct parley_msg (util/outq.h); `tag` is the wire's own message kind,
 * counted by count_out().
 *
 * Threads: every slot runs on the event-loop thread, except what the
 * events table says of itself (session.h).
 */
#ifndef PARLEY_PROTOCOL_WIRE_H
#define PARLEY_PROTOCOL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errcode.h"
#include "session/session.h"

struct parley_msg;

/* What the upgrade request told the transport (gate.c read it). */
struct parley_wire_facts {
	bool beta;       /* Realtime: the beta dialect (OpenAI-Beta: realtime=v1, or the
			    openai-beta.realtime-v1 subprotocol) */
	char model[128]; /* Realtime: the ?model= query ("" when absent), as given */
};

struct parley_wire {
	const char *name; /* "native", "realtime": logs */
	const struct parley_session_events *events;
	/* The protocol's state for a new session (the session owns it: see
	 * parley_session_params.proto), or NULL when it needs none; *err is
	 * set to PARLEY_E_NOMEM when it needed one and failed. */
	void *(*proto_new)(const struct parley_wire_facts *f, int *err);
	void (*proto_free)(void *proto);
	/* The wire has no playback reports (parley_session_params). */
	bool assume_playback;
	/* The first message(s) of a new session (native: status; Realtime:
	 * session.created). */
	void (*hello)(struct parley_session *s);
	/* A complete frame (borrowed). */
	void (*on_text)(struct parley_session *s, const char *data, size_t len);
	void (*on_binary)(struct parley_session *s, const uint8_t *data, size_t len);
	/* A frame over max_frame(), discarded unread; len is its size. */
	void (*on_oversize)(struct parley_session *s, bool binary, size_t len);
	/* The largest frame worth buffering, by frame type. */
	size_t (*max_frame)(bool binary);
	/* A refusal before any session exists (server_full,
	 * too_many_sessions), in this wire's words; NULL on OOM. */
	struct parley_msg *(*refusal)(enum parley_proto_error code, const char *message);
	/* Counts a message written to the socket, by its tag; returns true
	 * when it was the session's hello (for the ready-latency metric). */
	bool (*count_out)(int tag);
};

extern const struct parley_wire parley_native_wire;
extern const struct parley_wire parley_realtime_wire;

#endif
