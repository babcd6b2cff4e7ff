#define _GNU_SOURCE /* strcasestr */
#include "stt/transcript.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"
#include "util/redact.h"
#include "util/utf8.h"

/* Copies s[0..len) as one trimmed line: whitespace and control runs become
 * one space; then sanitised and cut on a character boundary into out. */
static void one_line(const char *s, size_t len, char *out, size_t cap)
{
	char tmp[8192];
	size_t w = 0;
	bool space = false;
	for (size_t i = 0; i < len && w < sizeof tmp; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f) {
			space = w > 0;
			continue;
		}
		if (space) {
			if (w + 1 >= sizeof tmp)
				break;
			tmp[w++] = ' ';
			space = false;
		}
		tmp[w++] = (char)c;
	}
	parley_utf8_sanitize_into(tmp, w, out, cap, NULL);
}

static bool is_json_type(const char *ct)
{
	return ct && (strcasestr(ct, "/json") || strcasestr(ct, "+json"));
}

static bool looks_like_object(const char *body, size_t len)
{
	size_t i = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	return i < len && body[i] == '{';
}

/* The words in an error value: a string, or an object's "message"/"msg". */
static const char *error_words(json_t *v)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_object(v)) {
		const char *keys[] = { "message", "msg", "detail", "error" };
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			json_t *m = json_object_get(v, keys[i]);
			if (json_is_string(m))
				return json_string_value(m);
		}
	}
	if (json_is_array(v) && json_array_size(v) > 0)
		return error_words(json_array_get(v, 0)); /* FastAPI: [{"msg": ...}] */
	return NULL;
}

int parley_transcript_parse(const char *content_type, const char *body, size_t len, char *out,
			    size_t cap, enum parley_speech_cause *cause, char *detail,
			    size_t detail_cap)
{
	out[0] = '\0';
	detail[0] = '\0';
	bool json = is_json_type(content_type);
	if (!json && !looks_like_object(body, len)) {
		one_line(body, len, out, cap); /* response_format=text, or text/plain */
		return 0;
	}
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		if (!json) { /* a transcript that starts with '{' */
			one_line(body, len, out, cap);
			return 0;
		}
		*cause = PARLEY_SPEECH_CAUSE_BROKEN;
		snprintf(detail, detail_cap, "the answer is not the JSON it claims to be");
		return PARLEY_E_INVAL;
	}
	int rc = 0;
	json_t *text = json_object_get(root, "text");
	json_t *err = json_object_get(root, "error");
	if (json_is_string(text)) {
		one_line(json_string_value(text), json_string_length(text), out, cap);
	} else if (err && !json_is_null(err)) {
		const char *words = error_words(err);
		*cause = PARLEY_SPEECH_CAUSE_HTTP;
		parley_redact_cause(words ? words : "an error without a message",
				    words ? strlen(words) : 27, PARLEY_REDACT_URLS,
				    detail_cap > 1 ? detail_cap - 1 : 0, detail, detail_cap);
		rc = PARLEY_E_INVAL;
	} else {
		*cause = PARLEY_SPEECH_CAUSE_BROKEN;
		snprintf(detail, detail_cap, "the answer has no \"text\"");
		rc = PARLEY_E_INVAL;
	}
	json_decref(root);
	return rc;
}

size_t parley_transcript_service_words(const char *body, size_t len, size_t max, char *out,
				       size_t cap)
{
	out[0] = '\0';
	if (!body || len == 0)
		return 0;
	const char *words = body;
	size_t wlen = len;
	json_t *root = NULL;
	if (looks_like_object(body, len)) {
		json_error_t jerr;
		root = json_loadb(body, len, 0, &jerr);
		if (json_is_object(root)) {
			const char *keys[] = { "error", "detail", "message" };
			const char *w = NULL;
			for (size_t i = 0; !w && i < sizeof keys / sizeof keys[0]; i++)
				w = error_words(json_object_get(root, keys[i]));
			if (w) {
				words = w;
				wlen = strlen(w);
			}
		}
	}
	size_t n = parley_redact_cause(words, wlen, PARLEY_REDACT_URLS, max, out, cap);
	json_decref(root);
	return n;
}

void parley_transcript_user_error(enum parley_speech_cause cause, long status, const char *detail,
				  char *out, size_t cap)
{
	char msg[512];
	bool has = detail && detail[0];
	switch (cause) {
	case PARLEY_SPEECH_CAUSE_BUSY:
		snprintf(msg, sizeof msg, "the transcription service is saturated");
		break;
	case PARLEY_SPEECH_CAUSE_TIMEOUT:
		snprintf(msg, sizeof msg, "the transcription service did not answer in time");
		break;
	case PARLEY_SPEECH_CAUSE_UNAVAILABLE:
		snprintf(msg, sizeof msg, "the transcription service is unreachable");
		break;
	case PARLEY_SPEECH_CAUSE_BROKEN:
		snprintf(msg, sizeof msg, "the transcription service's answer was cut off or garbled");
		break;
	case PARLEY_SPEECH_CAUSE_HTTP:
		if (status == 401 || status == 403)
			snprintf(msg, sizeof msg, "the transcription service refused the API key (HTTP %ld)",
				 status);
		else if (status >= 200 && status < 300)
			snprintf(msg, sizeof msg, "the transcription service refused the audio%s%s",
				 has ? ": " : "", has ? detail : "");
		else
			snprintf(msg, sizeof msg, "the transcription service failed (HTTP %ld%s%s)",
				 status, has ? ": " : "", has ? detail : "");
		break;
	case PARLEY_SPEECH_CAUSE_REFUSED:
		snprintf(msg, sizeof msg, "the transcription service refused the audio");
		break;
	default:
		snprintf(msg, sizeof msg, "transcription failed inside the server");
		break;
	}
	size_t lim = PARLEY_TRANSCRIPT_USER_MAX;
	if (msg[0] && msg[strlen(msg) - 1] == ')' && strlen(msg) > lim) {
		/* Keep the closing parenthesis when the service's words are cut. */
		size_t keep = parley_utf8_cut(msg, strlen(msg), lim - 4);
		memcpy(msg + keep, "...)", 5);
	}
	parley_redact_cause(msg, strlen(msg), PARLEY_REDACT_URLS, lim, out, cap);
}

void parley_transcript_operator_error(const struct parley_transcript_where *w,
				      enum parley_speech_cause cause, long status,
				      const char *message, const char *detail, char *out,
				      size_t cap)
{
	char msg[1024];
	const char *d = detail && detail[0] ? detail : NULL;
	switch (cause) {
	case PARLEY_SPEECH_CAUSE_UNAVAILABLE:
		snprintf(msg, sizeof msg,
			 "cannot connect to the transcription service at %s (%s); is it running?",
			 w->hostport, message && message[0] ? message : "connection failed");
		break;
	case PARLEY_SPEECH_CAUSE_TIMEOUT:
		snprintf(msg, sizeof msg,
			 "the transcription service at %s did not answer a 1-second clip within %ld ms "
			 "(busy, or a slow model on CPU? raise --stt-timeout)",
			 w->hostport, w->timeout_ms);
		break;
	case PARLEY_SPEECH_CAUSE_BROKEN:
		snprintf(msg, sizeof msg,
			 "the transcription service at %s%s gave an answer parley cannot read (%s); "
			 "is it an OpenAI-compatible transcription endpoint?",
			 w->hostport, w->path, d ? d : message ? message : "garbled");
		break;
	case PARLEY_SPEECH_CAUSE_HTTP:
		if (status == 401 || status == 403)
			snprintf(msg, sizeof msg,
				 "the transcription service at %s refused %s (HTTP %ld%s%s): %s",
				 w->hostport, w->has_key ? "the API key" : "a request without a key",
				 status, d ? ": " : "", d ? d : "",
				 w->has_key ? "check PARLEY_STT_API_KEY (or OPENAI_API_KEY)"
					    : "set PARLEY_STT_API_KEY (or OPENAI_API_KEY)");
		else if (status == 404 && d && strcasestr(d, "model"))
			snprintf(msg, sizeof msg,
				 "the transcription service at %s does not have model '%s' (HTTP 404: "
				 "%s); pick one it serves with --stt-model",
				 w->hostport, w->model, d);
		else if (status == 404)
			snprintf(msg, sizeof msg,
				 "the transcription service at %s has no %s (HTTP 404%s%s); set the "
				 "path it uses with --stt-path (whisper.cpp's server: --stt-path "
				 "/inference)",
				 w->hostport, w->path, d ? ": " : "", d ? d : "");
		else if (status >= 200 && status < 300)
			snprintf(msg, sizeof msg,
				 "the transcription service at %s%s refused a 1-second test clip: %s",
				 w->hostport, w->path, d ? d : "no reason given");
		else
			snprintf(msg, sizeof msg,
				 "the transcription service at %s%s failed a 1-second test clip (HTTP "
				 "%ld%s%s)",
				 w->hostport, w->path, status, d ? ": " : "", d ? d : "");
		break;
	default:
		snprintf(msg, sizeof msg, "the transcription engine failed inside parley (%s)",
			 message && message[0] ? message : "out of memory");
		break;
	}
	parley_redact_cause(msg, strlen(msg), 0, cap > 1 ? cap - 1 : 0, out, cap);
}
