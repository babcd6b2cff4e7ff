/*
 * transcript.h - what an OpenAI-compatible transcription service answered,
 * and what to say when it failed: to the user (short, no address, keys
 * masked) and to the operator (the service's address and how to fix it).
 *
 * Services answer in several shapes, all accepted:
 *   - OpenAI, speaches (faster-whisper):  {"text": "..."} as application/json,
 *     with extra fields in verbose_json (segments, language, duration);
 *   - whisper.cpp's server (/inference): {"text": " segment one\n segment
 *     two\n"}, and for response_format=text a bare body labelled
 *     text/html; it reports its own failures as 200 {"error": "..."};
 *   - any of them as text/plain.
 * Error bodies: {"error": {"message": ...}} (OpenAI), {"error": "..."}
 * (whisper.cpp), {"detail": "..."} or {"detail": [{"msg": ...}]} (FastAPI,
 * so speaches), or plain text ("File Not Found (/x)").
 *
 * Transcripts come back on one line: whitespace runs (whisper.cpp puts each
 * segment on its own line) become one space, the ends are trimmed, control
 * characters dropped, invalid UTF-8 replaced, and the text cut on a
 * character boundary to the caller's buffer.
 *
 * Pure functions, any thread.
 */
#ifndef PARLEY_STT_TRANSCRIPT_H
#define PARLEY_STT_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "speech/speech.h"

/* A user-facing error message's limit in bytes (without the NUL). */
#define PARLEY_TRANSCRIPT_USER_MAX 120

/*
 * Reads a 2xx answer body[0..len) (borrowed; content_type may be "" or
 * NULL). Returns 0 with the transcript in out[0..cap) (may be empty: no
 * words). Otherwise returns PARLEY_E_INVAL with *cause and the service's
 * own words in detail[0..detail_cap): cause HTTP when the service reported
 * a failure inside a 200 (whisper.cpp), BROKEN when the answer is garbled
 * (JSON that does not parse, no "text").
 */
int parley_transcript_parse(const char *content_type, const char *body, size_t len, char *out,
			    size_t cap, enum parley_speech_cause *cause, char *detail,
			    size_t detail_cap);

/*
 * The service's own words from an error body[0..len) (see above), as one
 * line of valid UTF-8, keys and URLs masked, at most max bytes (ends in
 * "..." when cut), into out[0..cap) (cap > max). "" when there are none.
 */
size_t parley_transcript_service_words(const char *body, size_t len, size_t max, char *out,
				       size_t cap);

/*
 * The message a user sees when a job failed with cause (status: the HTTP
 * status for cause HTTP; detail: the service's words, may be NULL or ""):
 * no address, keys masked, at most PARLEY_TRANSCRIPT_USER_MAX bytes, into
 * out[0..cap) (cap > PARLEY_TRANSCRIPT_USER_MAX).
 */
void parley_transcript_user_error(enum parley_speech_cause cause, long status, const char *detail,
				  char *out, size_t cap);

/* Where the engine sends its requests, for operator messages. */
struct parley_transcript_where {
	const char *hostport; /* "127.0.0.1:8080" */
	const char *path;     /* "/v1/audio/transcriptions" */
	const char *model;
	bool has_key;         /* a key is configured */
	long timeout_ms;
};

/*
 * One sentence for the operator (log, /readyz) when the warm-up request
 * failed with cause/status/detail (as above; message: the HTTP pool's own
 * sentence, may be NULL): what is wrong and how to fix it (is it running,
 * set PARLEY_STT_API_KEY, try --stt-path /inference, ...). Keys masked.
 */
void parley_transcript_operator_error(const struct parley_transcript_where *w,
				      enum parley_speech_cause cause, long status,
				      const char *message, const char *detail, char *out,
				      size_t cap);

#endif
