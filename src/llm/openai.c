/*
 * openai.c - OpenAI-compatible chat completions, streamed as SSE:
 * OpenAI, LM Studio, vLLM, llama.cpp server, Ollama's /v1.
 *   POST {url}/v1/chat/completions {"model","messages","stream":true,...}
 *   data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}
 *   data: [DONE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/backend.h"
#include "util/utf8.h"
#include "llm/fetch.h"
#include "llm/sse.h"
#include "util/err.h"

#define MAX_EVENT (1u << 20)

struct stream {
	struct parley_sse sse;
	struct parley_llm_sink sink;
	char finish_reason[32];
	bool finished; /* done or error reported */
};

static int chat_request(const struct parley_llm_target *t, const json_t *messages, int max_tokens,
			struct parley_http_req *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->url, sizeof out->url, "%s/v1/chat/completions", t->url);
	json_t *body = json_pack("{s:s, s:O, s:b, s:f, s:i}", "model", t->model, "messages",
				 messages, "stream", 1, "temperature", t->temperature, "max_tokens",
				 max_tokens > 0 ? max_tokens : t->max_tokens);
	return parley_http_req_json(out, body, t->api_key);
}

static void report_error(struct stream *s, const char *msg)
{
	if (s->finished)
		return;
	s->finished = true;
	s->sink.error(s->sink.arg, msg);
}

static int on_event(void *arg, enum parley_sse_kind kind, const char *data, size_t len)
{
	struct stream *s = arg;
	char msg[300];
	if (s->finished)
		return 1;

	if (kind == PARLEY_SSE_ERROR) { /* llama.cpp: "error: {...}" */
		parley_llm_error_from_body(data, len, msg, sizeof msg);
		report_error(s, msg);
		return 1;
	}
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		s->finished = true;
		s->sink.done(s->sink.arg, s->finish_reason[0] ? s->finish_reason : "stop");
		return 1;
	}
	json_t *root = json_loadb(data, len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		parley_utf8_format(msg, sizeof msg,
				   "the server sent an event that is not a JSON object: %.*s",
				   (int)parley_utf8_cut(data, len, 80), data);
		report_error(s, msg);
		return 1;
	}
	if (json_object_get(root, "error")) {
		parley_llm_error_from_body(data, len, msg, sizeof msg);
		json_decref(root);
		report_error(s, msg);
		return 1;
	}
	json_t *choices = json_object_get(root, "choices");
	json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
	if (c0) { /* an empty choices array is the final usage chunk */
		json_t *delta = json_object_get(c0, "delta");
		const char *content = json_string_value(json_object_get(delta, "content"));
		if (content && *content)
			s->sink.token(s->sink.arg, content, strlen(content));
		const char *fr = json_string_value(json_object_get(c0, "finish_reason"));
		if (fr)
			parley_utf8_format(s->finish_reason, sizeof s->finish_reason, "%s", fr);
	}
	json_decref(root);
	return 0;
}

static void *stream_new(const json_t *messages, const struct parley_llm_sink *sink)
{
	struct stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->sink = *sink;
	parley_sse_init(&s->sse, MAX_EVENT, on_event, s);
	return s;
}

static int stream_feed(void *st, const char *data, size_t len)
{
	struct stream *s = st;
	if (!s->finished) {
		int rc = parley_sse_feed(&s->sse, data, len);
		if (rc == PARLEY_E_RANGE || rc == PARLEY_E_NOMEM)
			report_error(s, "the server sent an event larger than 1 MiB");
	}
	return s->finished; /* nothing after [DONE] or an error matters */
}

static void stream_finish(void *st)
{
	struct stream *s = st;
	if (!s->finished)
		parley_sse_finish(&s->sse);
	if (s->finished)
		return;
	if (s->finish_reason[0]) { /* no [DONE], but the answer said it was complete */
		s->finished = true;
		s->sink.done(s->sink.arg, s->finish_reason);
		return;
	}
	report_error(s, "the stream ended before the answer was complete");
}

static void stream_free(void *st)
{
	struct stream *s = st;
	if (!s)
		return;
	parley_sse_destroy(&s->sse);
	free(s);
}

/* With no model configured, use the first one the server lists (LM Studio,
 * llama.cpp and vLLM serve exactly the model they loaded). */
static int prepare(struct parley_llm_target *t, char *why, size_t whylen)
{
	if (t->model[0])
		return 0;
	char url[600], err[256];
	snprintf(url, sizeof url, "%s/v1/models", t->url);
	struct curl_slist *h = parley_llm_json_headers(t->api_key);
	long status = 0;
	char *body = NULL;
	int rc = parley_fetch("GET", url, h, NULL, t->connect_timeout_ms + 5000, &status, &body,
			      NULL, err, sizeof err, t->abort);
	curl_slist_free_all(h);
	if (rc) {
		parley_utf8_format(why, whylen, "cannot reach %s: %s", url, err);
		return -1;
	}
	json_t *root = json_loads(body, 0, NULL);
	free(body);
	json_t *first = json_array_get(json_object_get(root, "data"), 0);
	const char *id = json_string_value(json_object_get(first, "id"));
	if (status / 100 != 2 || !id) {
		parley_utf8_format(why, whylen,
				   "no model given and %s lists none (HTTP %ld); set --llm-model", url,
				   status);
		json_decref(root);
		return -1;
	}
	parley_utf8_format(t->model, sizeof t->model, "%s", id);
	json_decref(root);
	return 0;
}

const struct parley_llm_backend parley_llm_openai = {
	.name = "openai",
	.local = false,
	.chat_request = chat_request,
	.stream_new = stream_new,
	.stream_feed = stream_feed,
	.stream_finish = stream_finish,
	.stream_free = stream_free,
	.local_next = NULL,
	.error_message = parley_llm_error_message,
	.prepare = prepare,
};
