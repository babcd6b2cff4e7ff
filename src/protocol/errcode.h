/*
 * errcode.h - the machine-readable codes of the native protocol's `error`
 * message (docs/protocol.md lists when each is sent).
 */
#ifndef PARLEY_PROTOCOL_ERRCODE_H
#define PARLEY_PROTOCOL_ERRCODE_H

enum parley_proto_error {
	PARLEY_PE_INVALID_JSON = 0,
	PARLEY_PE_INVALID_MESSAGE,
	PARLEY_PE_UNKNOWN_TYPE,
	PARLEY_PE_MISSING_FIELD,
	PARLEY_PE_INVALID_FIELD,
	PARLEY_PE_UNKNOWN_FIELD,
	PARLEY_PE_OUT_OF_RANGE,
	PARLEY_PE_MESSAGE_TOO_LARGE,
	PARLEY_PE_INVALID_FRAME,
	PARLEY_PE_FRAME_TOO_LARGE,
	PARLEY_PE_AUDIO_OVERFLOW,
	PARLEY_PE_SERVER_FULL,
	PARLEY_PE_LLM_BUSY,
	PARLEY_PE_LLM_UNAVAILABLE,
	PARLEY_PE_LLM_ERROR,
	PARLEY_PE_LLM_TIMEOUT,
	PARLEY_PE_OVERLOADED,
	PARLEY_PE_AUDIO_TOO_FAST,
	PARLEY_PE_RATE_LIMITED,
	PARLEY_PE_TOO_MANY_SESSIONS,
	PARLEY_PE_INTERNAL,
	PARLEY_PE_COUNT
};

/* "invalid_json", ...; never NULL. */
const char *parley_proto_error_code(enum parley_proto_error e);

/* A protocol error with its human message. */
struct parley_proto_err {
	enum parley_proto_error code;
	char message[256];
};

#endif
