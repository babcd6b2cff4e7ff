/*
 * realtime.h - the OpenAI Realtime API on /v1/realtime (docs/realtime.md),
 * in its two dialects: GA (the current one) and beta (OpenAI-Beta:
 * realtime=v1). The transport sees it as parley_realtime_wire (wire.h).
 *
 * A second wire format over the same sessions: client events (JSON text
 * frames) become the session's small calls (session.h) - session.update
 * its setters, input_audio_buffer.append its microphone audio (decoded
 * from base64 pcm16 at 24 kHz or G.711 at 8 kHz), commit / response.create
 * / response.cancel / conversation.item.truncate its client-driven turns -
 * and the session's events become server events: speech and transcription
 * events keyed on the user's item, and one response (response.created ...
 * response.done) per answer. The protocol keeps its own per-session state
 * (ids, dialect, the settings only it knows) as the session's `proto`.
 * Every bad client event gets an `error` event naming its event_id; the
 * session goes on.
 *
 * The files: realtime_internal.h lists them and states the locking.
 *
 * Threads: the wire's slots run on the event-loop thread; the events
 * table runs on any thread (session.h).
 */
#ifndef PARLEY_PROTOCOL_REALTIME_H
#define PARLEY_PROTOCOL_REALTIME_H

#include "protocol/wire.h"

/* Registers this protocol's metrics once at startup (before serving);
 * 0 or PARLEY_E_NOMEM. */
int parley_realtime_metrics_register(void);

#endif
