/*
 * ollama.c - Ollama's native API, streamed as NDJSON:
 *   POST {url}/api/chat {"model","messages","stream":true,"keep_alive",...}
 *   {"message":{"role":"assistant","content":"Hi"},"done":false}
 *   {"done":true,"done_reason":"stop",...}
 * Errors come as {"error":"..."} lines or bodies. prepare() checks
 * /api/tags so a model that is not pulled is reported with the fix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/backend.h"
#include "util/utf8.h"
#include "llm/fetch.h"
#include "text/lines.h"
#include "util/err.h"

#define MAX_LINE (1u << 20)

struct stream {
	struct parley_lines lines;
	struct parley_llm_sink sink;
	bool finished;
};

/* keep_alive: a number of seconds ("-1": forever) or a duration ("30m"). */
static json_t *keep_alive_json(const char *v)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (*v && *end == '\0')
		return json_integer(n);
	return json_string(v);
}

static int chat_request(const struct parley_llm_target *t, const json_t *messages, int max_tokens,
			struct parley_http_req *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->url, sizeof out->url, "%s/api/chat", t->url);
	json_t *body = json_pack("{s:s, s:O, s:b, s:o, s:{s:f, s:i}}", "model", t->model,
				 "messages", messages, "stream", 1, "keep_alive",
				 keep_alive_json(t->keep_alive),
				 "options", "temperature", t->temperature, "num_predict",
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

static int on_line(void *arg, const char *line, size_t len)
{
	struct stream *s = arg;
	char msg[300];
	if (s->finished)
		return 1;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len)
		return 0; /* blank line */
	json_t *root = json_loadb(line, len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		parley_utf8_format(msg, sizeof msg,
				   "the server sent a line that is not a JSON object: %.*s",
				   (int)parley_utf8_cut(line, len, 80), line);
		report_error(s, msg);
		return 1;
	}
	if (json_object_get(root, "error")) {
		parley_llm_error_from_body(line, len, msg, sizeof msg);
		json_decref(root);
		report_error(s, msg);
		return 1;
	}
	const char *content =
		json_string_value(json_object_get(json_object_get(root, "message"), "content"));
	if (content && *content)
		s->sink.token(s->sink.arg, content, strlen(content));
	if (json_is_true(json_object_get(root, "done"))) {
		const char *reason = json_string_value(json_object_get(root, "done_reason"));
		s->finished = true;
		s->sink.done(s->sink.arg, reason ? reason : "stop");
	}
	json_decref(root);
	return s->finished;
}

static void *stream_new(const json_t *messages, const struct parley_llm_sink *sink)
{
	struct stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->sink = *sink;
	parley_lines_init(&s->lines, MAX_LINE);
	return s;
}

static int stream_feed(void *st, const char *data, size_t len)
{
	struct stream *s = st;
	if (!s->finished) {
		int rc = parley_lines_feed(&s->lines, data, len, on_line, s);
		if (rc == PARLEY_E_RANGE || rc == PARLEY_E_NOMEM)
			report_error(s, "the server sent a line larger than 1 MiB");
	}
	return s->finished;
}

static void stream_finish(void *st)
{
	struct stream *s = st;
	if (!s->finished)
		parley_lines_finish(&s->lines, on_line, s);
	report_error(s, "the stream ended before the answer was complete");
}

static void stream_free(void *st)
{
	struct stream *s = st;
	if (!s)
		return;
	parley_lines_destroy(&s->lines);
	free(s);
}

/* Is the model pulled? If so, load it and keep it loaded (keep_alive). */
static int prepare(struct parley_llm_target *t, char *why, size_t whylen)
{
	char url[600], err[256];
	long status = 0;
	char *body = NULL;

	if (!t->model[0])
		snprintf(t->model, sizeof t->model, "llama3.2");

	snprintf(url, sizeof url, "%s/api/tags", t->url);
	if (parley_fetch("GET", url, NULL, NULL, t->connect_timeout_ms + 5000, &status, &body, NULL,
			 err, sizeof err, t->abort)) {
		parley_utf8_format(why, whylen,
				   "cannot reach Ollama at %s: %s (is `ollama serve` running?)", t->url,
				   err);
		return -1;
	}
	json_t *root = json_loads(body, 0, NULL);
	free(body);
	json_t *models = json_object_get(root, "models");
	bool found = false;
	size_t i;
	json_t *m;
	size_t mlen = strlen(t->model);
	json_array_foreach(models, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		if (!name)
			name = json_string_value(json_object_get(m, "model"));
		/* "llama3.2" matches "llama3.2:latest" */
		if (name && (strcmp(name, t->model) == 0 ||
			     (strncmp(name, t->model, mlen) == 0 &&
			      strcmp(name + mlen, ":latest") == 0))) {
			found = true;
			break;
		}
	}
	json_decref(root);
	if (status / 100 != 2) {
		parley_utf8_format(why, whylen, "Ollama at %s answered /api/tags with HTTP %ld",
				   t->url, status);
		return -1;
	}
	if (!found) {
		parley_utf8_format(why, whylen,
				   "model '%s' is not pulled in Ollama at %s; run: ollama pull %s",
				   t->model, t->url, t->model);
		return -1;
	}

	/* Load request: an empty chat loads the model and applies keep_alive. */
	json_t *req = json_pack("{s:s, s:[], s:o}", "model", t->model, "messages", "keep_alive",
				keep_alive_json(t->keep_alive));
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text) {
		parley_utf8_format(why, whylen, "out of memory");
		return -1;
	}
	struct curl_slist *h = parley_llm_json_headers(t->api_key);
	snprintf(url, sizeof url, "%s/api/chat", t->url);
	int rc = parley_fetch("POST", url, h, text, 300000, &status, &body, NULL, err, sizeof err,
			      t->abort);
	curl_slist_free_all(h);
	free(text);
	if (rc) {
		parley_utf8_format(why, whylen, "loading model '%s' failed: %s", t->model, err);
		return -1;
	}
	if (status / 100 != 2) {
		char msg[256];
		parley_llm_error_from_body(body, strlen(body), msg, sizeof msg);
		parley_utf8_format(why, whylen, "loading model '%s' failed: HTTP %ld: %s", t->model,
				   status, msg);
		free(body);
		return -1;
	}
	free(body);
	return 0;
}

const struct parley_llm_backend parley_llm_ollama = {
	.name = "ollama",
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
