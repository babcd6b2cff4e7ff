/*
 * backend.h - the interface every LLM backend implements: one const table
 * per backend (openai.c, ollama.c, bedrock.c, echo.c), found by name in
 * backends.c.
 *
 * A backend knows its wire format only: how to build a streamed chat
 * request (and sign it: Bedrock's SigV4 lives in its chat_request), how to
 * parse the streamed answer into tokens (text or binary), how to read an
 * error body, and what to check before warm-up. Connections, scheduling,
 * timeouts and cancellation belong to the engine (engine.c).
 *
 * Slots that may be NULL: chat_request and error_message for local
 * backends; local_next for HTTP backends; prepare for every backend.
 * Stream functions run on the engine thread (or the warm-up thread for
 * warm-up streams); a stream object is used by one thread at a time.
 */
#ifndef PARLEY_LLM_BACKEND_H
#define PARLEY_LLM_BACKEND_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* What a stream parser reports: any number of tokens, then at most one of
 * done or error. Every slot is required. */
struct parley_llm_sink {
	void (*token)(void *arg, const char *text, size_t len);
	void (*done)(void *arg, const char *reason);
	void (*error)(void *arg, const char *message);
	void *arg;
};

/* Where and how to reach the model (resolved at startup). */
struct parley_llm_target {
	char url[512];   /* base URL without a trailing "/" or "/v1" */
	char model[128]; /* may be chosen by prepare() when empty */
	char api_key[256];
	char keep_alive[32];
	double temperature;
	int max_tokens;
	long connect_timeout_ms;
	const atomic_bool *abort; /* blocking checks give up when it turns true */

	/* AWS Bedrock only, from the environment (secrets: never logged). */
	char aws_region[64];
	char aws_access_key_id[128];
	char aws_secret_access_key[256];
	char aws_session_token[4096];
	char aws_bearer_token[4096]; /* a Bedrock API key; wins over SigV4 */
};

/* A ready-to-send HTTP request. Release with parley_http_req_clear(). */
struct parley_http_req {
	char url[1024];
	struct curl_slist *headers;
	char *body; /* malloc'd JSON */
};

void parley_http_req_clear(struct parley_http_req *r);

struct parley_llm_backend {
	const char *name;
	bool local; /* answers without HTTP (echo) */

	/* Builds a streamed chat request for messages (borrowed), signed when
	 * the API wants it. max_tokens <= 0 uses the target's. Returns 0,
	 * PARLEY_E_NOMEM, or PARLEY_E_INVAL (no request can be made of these
	 * messages or this target). */
	int (*chat_request)(const struct parley_llm_target *t, const json_t *messages,
			    int max_tokens, struct parley_http_req *out);

	/* A parser for one answer; messages is borrowed for the call (echo reads
	 * it), sink is copied. NULL on OOM. */
	void *(*stream_new)(const json_t *messages, const struct parley_llm_sink *sink);
	/* Body bytes as they arrive. Returns 0 while the answer goes on, 1 once
	 * done or error was reported (the engine may then end the transfer). */
	int (*stream_feed)(void *st, const char *data, size_t len);
	/* End of body: flushes what is buffered; reports an error if the answer
	 * ended without its terminator. */
	void (*stream_finish)(void *st);
	void (*stream_free)(void *st); /* accepts NULL */

	/* Local backends: emits the next token (or done). Returns the delay in
	 * ms until the next call, or -1 once done was reported. */
	int (*local_next)(void *st);

	/* A human message for a non-2xx response: its status and body (the
	 * head, borrowed). t (borrowed) lets a backend say which credentials
	 * were used, never a secret. */
	void (*error_message)(const struct parley_llm_target *t, long status, const char *body,
			      size_t len, char *out, size_t outlen);

	/* Blocking checks before warm-up (warm-up thread): is the model there,
	 * choose one when none was given, load it. Returns 0, or -1 with a
	 * sentence in why that tells the operator how to fix it. */
	int (*prepare)(struct parley_llm_target *t, char *why, size_t whylen);
};

extern const struct parley_llm_backend parley_llm_openai;
extern const struct parley_llm_backend parley_llm_ollama;
extern const struct parley_llm_backend parley_llm_bedrock;
extern const struct parley_llm_backend parley_llm_echo;

/* "openai", "ollama", "bedrock", "echo"; NULL when unknown. */
const struct parley_llm_backend *parley_llm_backend_find(const char *name);

/* Shared by the HTTP backends: fills out's body from `body` (stolen; NULL
 * means it could not be built) and the JSON headers; out->url is left as it
 * is. Returns 0 or PARLEY_E_NOMEM (out cleared). */
int parley_http_req_json(struct parley_http_req *out, json_t *body, const char *api_key);

/* Shared by the HTTP backends: "Bearer" and JSON content-type headers. */
struct curl_slist *parley_llm_json_headers(const char *api_key);

/* Shared by the HTTP backends: the message of a JSON error body in the
 * shapes servers use ({"error":{"message":..}}, {"error":".."},
 * {"message":..}, {"detail":..}); falls back to the raw text. */
void parley_llm_error_from_body(const char *body, size_t len, char *out, size_t outlen);

/* parley_llm_error_from_body as an error_message slot (status and target
 * unused). */
void parley_llm_error_message(const struct parley_llm_target *t, long status, const char *body,
			      size_t len, char *out, size_t outlen);

#endif
