/*
 * control.h - parse and validate the native protocol's JSON control
 * messages (client -> server text frames).
 *
 * parley_control_parse() turns one text frame into a typed struct or a
 * protocol error (code + human message). It knows nothing about sessions:
 * native.c turns a parsed message into the session's small calls. Pure,
 * any thread.
 */
#ifndef PARLEY_PROTOCOL_CONTROL_H
#define PARLEY_PROTOCOL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errcode.h"
#include "session/settings.h" /* the ranges a session accepts */

#define PARLEY_TEXT_MSG_MAX_BYTES 16384 /* whole text frame */
#define PARLEY_TEXT_TURN_MAX_BYTES 4000 /* `text` content */
#define PARLEY_PLAYED_MS_MAX 86400000LL

enum parley_ctl_type {
	PARLEY_CTL_TTS_START = 0,
	PARLEY_CTL_TTS_STOP,
	PARLEY_CTL_CLEAR_HISTORY,
	PARLEY_CTL_SET_SPEED,
	PARLEY_CTL_SESSION_CONFIG,
	PARLEY_CTL_TEXT,
	PARLEY_CTL_PLAYBACK,
	PARLEY_CTL_COUNT
};

/* The wire name of a control type ("tts_start", ...). */
const char *parley_ctl_type_name(enum parley_ctl_type t);

/* The wire name of an audio_out setting ("base64", "binary"). */
const char *parley_audio_out_name(enum parley_audio_out a);

/* Which fields of a session.config message were present. */
enum {
	PARLEY_CFG_INPUT_RATE = 1 << 0,
	PARLEY_CFG_OUTPUT_RATE = 1 << 1,
	PARLEY_CFG_AUDIO_OUT = 1 << 2,
	PARLEY_CFG_VOICE = 1 << 3,
	PARLEY_CFG_TTS_RATE = 1 << 4,
	PARLEY_CFG_HOLD_FINAL = 1 << 5,
	PARLEY_CFG_FALSE_INTERRUPTIONS = 1 << 6,
	PARLEY_CFG_ECHO_CANCELLED = 1 << 7,
};

struct parley_config_update {
	unsigned has; /* PARLEY_CFG_* bits */
	int input_sample_rate;
	int output_sample_rate;
	enum parley_audio_out audio_out;
	char voice[PARLEY_VOICE_MAX + 1];
	double tts_rate;
	bool hold_final; /* final_user_request held until the answer is heard */
	bool resume;     /* false_interruptions: "resume" (true) or "stop" */
	bool echo_cancelled; /* the client cancels echo itself (the echo guard) */
};

struct parley_control {
	enum parley_ctl_type type;
	union {
		double speed;                       /* SET_SPEED, 0..100 */
		struct parley_config_update config; /* SESSION_CONFIG */
		char *text;                         /* TEXT: owned, NUL-terminated */
		int64_t played_ms;                  /* PLAYBACK */
	} u;
};

/*
 * Parses json[0..len) (borrowed; need not be NUL-terminated). Returns 0 and
 * fills *out (release with parley_control_clear), or -1 and fills *err.
 */
int parley_control_parse(const char *json, size_t len, struct parley_control *out,
			 struct parley_proto_err *err);

/* Frees what *c owns. Safe on a zeroed or already-cleared struct. */
void parley_control_clear(struct parley_control *c);

#endif
