#include "protocol/control.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

static const char *const type_names[PARLEY_CTL_COUNT] = {
	[PARLEY_CTL_TTS_START] = "tts_start",
	[PARLEY_CTL_TTS_STOP] = "tts_stop",
	[PARLEY_CTL_CLEAR_HISTORY] = "clear_history",
	[PARLEY_CTL_SET_SPEED] = "set_speed",
	[PARLEY_CTL_SESSION_CONFIG] = "session.config",
	[PARLEY_CTL_TEXT] = "text",
	[PARLEY_CTL_PLAYBACK] = "playback",
};

const char *parley_ctl_type_name(enum parley_ctl_type t)
{
	return (unsigned)t < PARLEY_CTL_COUNT ? type_names[t] : "unknown";
}

const char *parley_audio_out_name(enum parley_audio_out a)
{
	return a == PARLEY_AUDIO_OUT_BINARY ? "binary" : "base64";
}

static int fail(struct parley_proto_err *err, enum parley_proto_error code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parley_proto_err *err, enum parley_proto_error code, const char *fmt, ...)
{
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	parley_utf8_vformat(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* Fetches a required field; fails with missing_field. */
static json_t *need(json_t *obj, const char *type, const char *key, struct parley_proto_err *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		fail(err, PARLEY_PE_MISSING_FIELD, "%s: required field '%s' is missing", type, key);
	return v;
}

static int get_number(json_t *v, const char *type, const char *key, double lo, double hi,
		      double *out, struct parley_proto_err *err)
{
	if (!json_is_number(v))
		return fail(err, PARLEY_PE_INVALID_FIELD, "%s: '%s' must be a number", type, key);
	double d = json_number_value(v);
	if (!(d >= lo && d <= hi))
		return fail(err, PARLEY_PE_OUT_OF_RANGE, "%s: '%s' must be between %g and %g, got %g",
			    type, key, lo, hi, d);
	*out = d;
	return 0;
}

static int get_integer(json_t *v, const char *type, const char *key, long long lo, long long hi,
		       long long *out, struct parley_proto_err *err)
{
	if (!json_is_integer(v))
		return fail(err, PARLEY_PE_INVALID_FIELD, "%s: '%s' must be an integer", type, key);
	long long n = json_integer_value(v);
	if (n < lo || n > hi)
		return fail(err, PARLEY_PE_OUT_OF_RANGE,
			    "%s: '%s' must be between %lld and %lld, got %lld", type, key, lo, hi, n);
	*out = n;
	return 0;
}

static int parse_rate(json_t *v, const char *key, int *out, struct parley_proto_err *err)
{
	long long n = 0;
	if (get_integer(v, "session.config", key, PARLEY_RATE_MIN, PARLEY_RATE_MAX, &n, err))
		return -1;
	*out = (int)n;
	return 0;
}

static int valid_voice(const char *s, size_t len)
{
	if (len == 0 || len > PARLEY_VOICE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '.' && c != '+' && c != '-')
			return 0;
	}
	return 1;
}

static int parse_config(json_t *obj, struct parley_config_update *cu, struct parley_proto_err *err)
{
	const char *T = "session.config";
	const char *key;
	json_t *v;

	memset(cu, 0, sizeof *cu);
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "type") == 0)
			continue;
		if (strcmp(key, "input_sample_rate") == 0) {
			if (parse_rate(v, key, &cu->input_sample_rate, err))
				return -1;
			cu->has |= PARLEY_CFG_INPUT_RATE;
		} else if (strcmp(key, "output_sample_rate") == 0) {
			if (parse_rate(v, key, &cu->output_sample_rate, err))
				return -1;
			cu->has |= PARLEY_CFG_OUTPUT_RATE;
		} else if (strcmp(key, "audio_out") == 0) {
			const char *s = json_string_value(v);
			if (s && strcmp(s, "base64") == 0)
				cu->audio_out = PARLEY_AUDIO_OUT_BASE64;
			else if (s && strcmp(s, "binary") == 0)
				cu->audio_out = PARLEY_AUDIO_OUT_BINARY;
			else
				return fail(err, PARLEY_PE_INVALID_FIELD,
					    "%s: 'audio_out' must be \"base64\" or \"binary\"", T);
			cu->has |= PARLEY_CFG_AUDIO_OUT;
		} else if (strcmp(key, "voice") == 0) {
			const char *s = json_string_value(v);
			if (!s || !valid_voice(s, json_string_length(v)))
				return fail(err, PARLEY_PE_INVALID_FIELD,
					    "%s: 'voice' must be 1..%d characters of A-Z a-z 0-9 _ . + -",
					    T, PARLEY_VOICE_MAX);
			memcpy(cu->voice, s, json_string_length(v) + 1);
			cu->has |= PARLEY_CFG_VOICE;
		} else if (strcmp(key, "tts_rate") == 0) {
			if (get_number(v, T, key, PARLEY_TTS_RATE_MIN, PARLEY_TTS_RATE_MAX,
				       &cu->tts_rate, err))
				return -1;
			cu->has |= PARLEY_CFG_TTS_RATE;
		} else if (strcmp(key, "hold_final") == 0) {
			if (!json_is_boolean(v))
				return fail(err, PARLEY_PE_INVALID_FIELD,
					    "%s: 'hold_final' must be true or false", T);
			cu->hold_final = json_is_true(v);
			cu->has |= PARLEY_CFG_HOLD_FINAL;
		} else if (strcmp(key, "false_interruptions") == 0) {
			const char *s = json_string_value(v);
			if (s && strcmp(s, "resume") == 0)
				cu->resume = true;
			else if (s && strcmp(s, "stop") == 0)
				cu->resume = false;
			else
				return fail(err, PARLEY_PE_INVALID_FIELD,
					    "%s: 'false_interruptions' must be \"resume\" or \"stop\"", T);
			cu->has |= PARLEY_CFG_FALSE_INTERRUPTIONS;
		} else if (strcmp(key, "echo_cancelled") == 0) {
			if (!json_is_boolean(v))
				return fail(err, PARLEY_PE_INVALID_FIELD,
					    "%s: 'echo_cancelled' must be true or false", T);
			cu->echo_cancelled = json_is_true(v);
			cu->has |= PARLEY_CFG_ECHO_CANCELLED;
		} else {
			return fail(err, PARLEY_PE_UNKNOWN_FIELD,
				    "%s: unknown field '%.*s' (known: input_sample_rate, "
				    "output_sample_rate, audio_out, voice, tts_rate, hold_final, "
				    "false_interruptions, echo_cancelled)",
				    T, (int)parley_utf8_cut(key, strlen(key), 64), key);
		}
	}
	return 0;
}

static int parse_text(json_t *obj, char **out, struct parley_proto_err *err)
{
	json_t *v = need(obj, "text", "content", err);
	if (!v)
		return -1;
	const char *s = json_string_value(v);
	if (!s)
		return fail(err, PARLEY_PE_INVALID_FIELD, "text: 'content' must be a string");
	size_t len = json_string_length(v);
	if (len > PARLEY_TEXT_TURN_MAX_BYTES)
		return fail(err, PARLEY_PE_OUT_OF_RANGE,
			    "text: 'content' must be at most %d bytes, got %zu",
			    PARLEY_TEXT_TURN_MAX_BYTES, len);
	size_t i = 0;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i == len)
		return fail(err, PARLEY_PE_INVALID_FIELD, "text: 'content' is empty");
	*out = strdup(s);
	if (!*out)
		return fail(err, PARLEY_PE_MESSAGE_TOO_LARGE, "text: out of memory");
	return 0;
}

int parley_control_parse(const char *json, size_t len, struct parley_control *out,
			 struct parley_proto_err *err)
{
	int rc = -1;
	memset(out, 0, sizeof *out);

	if (len > PARLEY_TEXT_MSG_MAX_BYTES)
		return fail(err, PARLEY_PE_MESSAGE_TOO_LARGE,
			    "text message of %zu bytes exceeds the %d-byte limit", len,
			    PARLEY_TEXT_MSG_MAX_BYTES);

	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		return fail(err, PARLEY_PE_INVALID_JSON, "invalid JSON at line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		fail(err, PARLEY_PE_INVALID_MESSAGE, "a control message must be a JSON object");
		goto out;
	}
	json_t *t = json_object_get(root, "type");
	if (!t) {
		fail(err, PARLEY_PE_INVALID_MESSAGE, "the message has no 'type' field");
		goto out;
	}
	const char *type = json_string_value(t);
	if (!type) {
		fail(err, PARLEY_PE_INVALID_MESSAGE, "'type' must be a string");
		goto out;
	}

	int found = -1;
	for (int i = 0; i < PARLEY_CTL_COUNT; i++) {
		if (strcmp(type, type_names[i]) == 0) {
			found = i;
			break;
		}
	}
	if (found < 0) {
		fail(err, PARLEY_PE_UNKNOWN_TYPE, "unknown message type '%.*s'",
		     (int)parley_utf8_cut(type, strlen(type), 64), type);
		goto out;
	}
	out->type = (enum parley_ctl_type)found;

	json_t *v;
	long long n = 0;
	switch (out->type) {
	case PARLEY_CTL_TTS_START:
	case PARLEY_CTL_TTS_STOP:
	case PARLEY_CTL_CLEAR_HISTORY:
		rc = 0;
		break;
	case PARLEY_CTL_SET_SPEED:
		v = need(root, type, "speed", err);
		if (v && get_number(v, type, "speed", PARLEY_SPEED_MIN, PARLEY_SPEED_MAX, &out->u.speed,
					   err) == 0)
			rc = 0;
		break;
	case PARLEY_CTL_SESSION_CONFIG:
		rc = parse_config(root, &out->u.config, err);
		break;
	case PARLEY_CTL_TEXT:
		rc = parse_text(root, &out->u.text, err);
		break;
	case PARLEY_CTL_PLAYBACK:
		v = need(root, type, "played_ms", err);
		if (v && get_integer(v, type, "played_ms", 0, PARLEY_PLAYED_MS_MAX, &n, err) == 0) {
			out->u.played_ms = n;
			rc = 0;
		}
		break;
	case PARLEY_CTL_COUNT:
		break;
	}
out:
	json_decref(root);
	if (rc != 0)
		parley_control_clear(out);
	return rc;
}

void parley_control_clear(struct parley_control *c)
{
	if (c->type == PARLEY_CTL_TEXT) {
		free(c->u.text);
		c->u.text = NULL;
	}
}
