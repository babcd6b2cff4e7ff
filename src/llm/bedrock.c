/*
 * bedrock.c - AWS Bedrock's ConverseStream API, streamed as a binary AWS
 * event stream (eventstream.h) and signed with SigV4 (sigv4.h), or
 * authenticated with a Bedrock API key as a bearer token.
 *   POST {url}/model/{modelId}/converse-stream
 *   {"system":[{"text":..}], "messages":[{"role":"user","content":[{"text":..}]}],
 *    "inferenceConfig":{"maxTokens":..,"temperature":..}}
 *   frames with :message-type event and :event-type messageStart,
 *   contentBlockDelta {"delta":{"text":"Hi"}}, contentBlockStop,
 *   messageStop {"stopReason":..}, metadata {"usage":..}; or :message-type
 *   exception with :exception-type (throttlingException, ...) and
 *   {"message":..}.
 * url is https://bedrock-runtime.{region}.amazonaws.com unless --llm-url
 * says otherwise. The model id goes into the path percent-encoded once
 * ("anthropic.claude-3-haiku-20240307-v1%3A0"); SigV4 encodes that path
 * again in its canonical request (%253A).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm/backend.h"
#include "llm/eventstream.h"
#include "llm/sigv4.h"
#include "util/err.h"
#include "util/log.h"
#include "util/utf8.h"

#define SERVICE "bedrock"

struct stream {
	struct parley_es_decoder es;
	struct parley_llm_sink sink;
	char stop_reason[48];
	bool stopped;  /* messageStop seen: the answer is complete */
	bool finished; /* done or error reported */
};

/* ---- the request ------------------------------------------------------- */

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

static int add_text(json_t *blocks, const char *text)
{
	return json_array_append_new(blocks, json_pack("{s:s}", "text", text)) ? PARLEY_E_NOMEM : 0;
}

/* The Converse body. Bedrock wants the system prompt apart, non-blank
 * text, and turns that alternate and start with the user: system messages
 * are gathered, blank ones dropped, assistant turns before the first user
 * turn dropped, and consecutive turns of one role merged (one text block
 * each). Returns NULL with *rc set. */
static json_t *converse_body(const struct parley_llm_target *t, const json_t *messages,
			     int max_tokens, int *rc)
{
	json_t *system = json_array(), *turns = json_array(), *body = NULL;
	json_t *last = NULL; /* content array of the last turn */
	const char *last_role = NULL;
	size_t i;
	json_t *m;
	*rc = PARLEY_E_NOMEM;
	if (!system || !turns)
		goto out;
	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *text = json_string_value(json_object_get(m, "content"));
		if (!role || !text || blank(text))
			continue;
		if (strcmp(role, "system") == 0) {
			if (add_text(system, text))
				goto out;
			continue;
		}
		role = strcmp(role, "assistant") == 0 ? "assistant" : "user";
		if (!last_role && strcmp(role, "assistant") == 0)
			continue;
		if (last_role && strcmp(last_role, role) == 0) {
			if (add_text(last, text))
				goto out;
			continue;
		}
		json_t *content = json_array();
		if (!content || json_array_append_new(turns, json_pack("{s:s, s:o}", "role", role,
									  "content", content)))
			goto out;
		if (add_text(content, text))
			goto out;
		last = content;
		last_role = role;
	}
	if (!json_array_size(turns)) {
		*rc = PARLEY_E_INVAL; /* nothing the user said */
		goto out;
	}
	body = json_pack("{s:O, s:{s:i, s:f}}", "messages", turns, "inferenceConfig", "maxTokens",
			 max_tokens > 0 ? max_tokens : t->max_tokens, "temperature", t->temperature);
	if (body && json_array_size(system) && json_object_set(body, "system", system)) {
		json_decref(body);
		body = NULL;
	}
	if (body)
		*rc = 0;
out:
	json_decref(system);
	json_decref(turns);
	return body;
}

static int add_header(struct curl_slist **h, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *line = malloc(n);
	if (!line)
		return PARLEY_E_NOMEM;
	snprintf(line, n, "%s: %s", name, value);
	struct curl_slist *nh = curl_slist_append(*h, line);
	free(line);
	if (!nh)
		return PARLEY_E_NOMEM;
	*h = nh;
	return 0;
}

/* out->url = {url}/model/{encoded id}/converse-stream; host (with a port
 * that is not the scheme's default) and path (with query) as curl sends
 * them. */
static int build_url(const struct parley_llm_target *t, struct parley_http_req *out,
		     char *host, size_t hostlen, char **path, char **query)
{
	struct parley_buf b;
	parley_buf_init(&b, sizeof out->url - 1);
	int rc = parley_buf_append(&b, t->url, strlen(t->url));
	rc = rc ? rc : parley_buf_append(&b, "/model/", 7);
	rc = rc ? rc : parley_sigv4_uri_encode(&b, t->model, strlen(t->model), false);
	rc = rc ? rc : parley_buf_append(&b, "/converse-stream", 16);
	if (rc) {
		parley_buf_free(&b);
		return rc == PARLEY_E_RANGE ? PARLEY_E_INVAL : rc;
	}
	CURLU *u = curl_url();
	char *h = NULL, *port = NULL, *scheme = NULL, *full = NULL;
	rc = PARLEY_E_INVAL;
	if (!u)
		rc = PARLEY_E_NOMEM;
	else if (curl_url_set(u, CURLUPART_URL, b.data, 0) == CURLUE_OK &&
		 curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK &&
		 curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
		 curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		 curl_url_get(u, CURLUPART_PATH, path, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_QUERY, query, 0) != CURLUE_OK)
			*query = NULL;
		bool default_port = true;
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
			default_port = (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
				       (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0);
		if (default_port)
			snprintf(host, hostlen, "%s", h);
		else
			snprintf(host, hostlen, "%s:%s", h, port);
		snprintf(out->url, sizeof out->url, "%s", full);
		rc = 0;
	}
	curl_free(h);
	curl_free(port);
	curl_free(scheme);
	curl_free(full);
	curl_url_cleanup(u);
	parley_buf_free(&b);
	return rc;
}

static int chat_request(const struct parley_llm_target *t, const json_t *messages, int max_tokens,
			struct parley_http_req *out)
{
	char host[300];
	char *path = NULL, *query = NULL;
	struct parley_sigv4_result sig = { 0 };
	int rc;
	memset(out, 0, sizeof *out);

	json_t *body = converse_body(t, messages, max_tokens, &rc);
	if (!body)
		return rc;
	out->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!out->body) {
		rc = PARLEY_E_NOMEM;
		goto out;
	}
	rc = build_url(t, out, host, sizeof host, &path, &query);
	rc = rc ? rc : add_header(&out->headers, "Host", host);
	rc = rc ? rc : add_header(&out->headers, "Content-Type", "application/json");
	if (rc)
		goto out;
	if (t->aws_bearer_token[0]) {
		char auth[4200];
		snprintf(auth, sizeof auth, "Bearer %s", t->aws_bearer_token);
		rc = add_header(&out->headers, "Authorization", auth);
		goto out;
	}
	const struct parley_sigv4_header signed_headers[] = {
		{ "host", host },
		{ "content-type", "application/json" },
	};
	struct parley_sigv4_params p = {
		.method = "POST",
		.path = path,
		.query = query,
		.headers = signed_headers,
		.nheaders = sizeof signed_headers / sizeof signed_headers[0],
		.body = out->body,
		.body_len = strlen(out->body),
		.normalize_path = true,
		.region = t->aws_region,
		.service = SERVICE,
		.access_key_id = t->aws_access_key_id,
		.secret_access_key = t->aws_secret_access_key,
		.session_token = t->aws_session_token,
		.when = time(NULL),
	};
	rc = parley_sigv4_sign(&p, &sig);
	rc = rc ? rc : add_header(&out->headers, "X-Amz-Date", sig.amz_date);
	if (!rc && t->aws_session_token[0])
		rc = add_header(&out->headers, "X-Amz-Security-Token", t->aws_session_token);
	rc = rc ? rc : add_header(&out->headers, "Authorization", sig.authorization);
out:
	parley_sigv4_result_free(&sig);
	curl_free(path);
	curl_free(query);
	if (rc)
		parley_http_req_clear(out);
	return rc;
}

/* ---- the answer stream ------------------------------------------------- */

static void report_error(struct stream *s, const char *msg)
{
	if (s->finished)
		return;
	s->finished = true;
	s->sink.error(s->sink.arg, msg);
}

static void report_done(struct stream *s)
{
	if (s->finished)
		return;
	s->finished = true;
	s->sink.done(s->sink.arg, s->stop_reason[0] ? s->stop_reason : "end_turn");
}

/* The "message" of a JSON payload ({"message":..} or {"Message":..}). */
static void payload_message(const struct parley_es_message *m, char *out, size_t outlen)
{
	json_t *root = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "message"));
	if (!msg)
		msg = json_string_value(json_object_get(root, "Message"));
	if (msg)
		parley_utf8_format(out, outlen, "%s", msg);
	else
		parley_utf8_format(out, outlen, "%.*s",
				   (int)parley_utf8_cut((const char *)m->payload, m->payload_len, 200),
				   (const char *)m->payload);
	json_decref(root);
}

static void on_event(struct stream *s, const char *type, const struct parley_es_message *m)
{
	char msg[300];
	json_t *root = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
	if (!json_is_object(root)) {
		snprintf(msg, sizeof msg, "Bedrock sent a %s event whose payload is not a JSON object",
			 type);
		report_error(s, msg);
	} else if (s->stopped && strcmp(type, "metadata") == 0) {
		json_t *usage = json_object_get(root, "usage");
		PARLEY_DEBUG("bedrock: %lld input and %lld output tokens, %lld ms",
			     (long long)json_integer_value(json_object_get(usage, "inputTokens")),
			     (long long)json_integer_value(json_object_get(usage, "outputTokens")),
			     (long long)json_integer_value(json_object_get(
				     json_object_get(root, "metrics"), "latencyMs")));
		report_done(s);
	} else if (s->stopped) {
		/* nothing after messageStop but metadata matters */
	} else if (strcmp(type, "contentBlockDelta") == 0) {
		/* Text only: reasoning and tool-use deltas are not spoken. */
		const char *text = json_string_value(
			json_object_get(json_object_get(root, "delta"), "text"));
		if (text && *text)
			s->sink.token(s->sink.arg, text, strlen(text));
	} else if (strcmp(type, "messageStop") == 0) {
		const char *reason = json_string_value(json_object_get(root, "stopReason"));
		parley_utf8_format(s->stop_reason, sizeof s->stop_reason, "%s",
				   reason ? reason : "end_turn");
		s->stopped = true;
	}
	/* messageStart, contentBlockStart, contentBlockStop and events added
	 * later carry nothing to speak. */
	json_decref(root);
}

static int on_message(void *arg, const struct parley_es_message *m)
{
	struct stream *s = arg;
	char kind[32], type[64], msg[300], text[260];
	parley_es_header_string(m, ":message-type", kind, sizeof kind);
	if (strcmp(kind, "event") == 0) {
		parley_es_header_string(m, ":event-type", type, sizeof type);
		on_event(s, type, m);
	} else if (strcmp(kind, "exception") == 0) {
		parley_es_header_string(m, ":exception-type", type, sizeof type);
		payload_message(m, text, sizeof text);
		parley_utf8_format(msg, sizeof msg, "Bedrock %s: %s", type[0] ? type : "exception",
				   text);
		report_error(s, msg);
	} else if (strcmp(kind, "error") == 0) {
		parley_es_header_string(m, ":error-code", type, sizeof type);
		parley_es_header_string(m, ":error-message", text, sizeof text);
		parley_utf8_format(msg, sizeof msg, "Bedrock error %s: %s", type, text);
		report_error(s, msg);
	} else {
		parley_utf8_format(msg, sizeof msg,
				   "Bedrock sent a message of unknown :message-type '%s'", kind);
		report_error(s, msg);
	}
	return s->finished;
}

static void *stream_new(const json_t *messages, const struct parley_llm_sink *sink)
{
	struct stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->sink = *sink;
	parley_es_init(&s->es, 0, on_message, s);
	return s;
}

static int stream_feed(void *st, const char *data, size_t len)
{
	struct stream *s = st;
	if (!s->finished && parley_es_feed(&s->es, data, len) < 0)
		report_error(s, parley_es_error(&s->es));
	return s->finished;
}

static void stream_finish(void *st)
{
	struct stream *s = st;
	if (s->finished)
		return;
	if (parley_es_finish(&s->es) < 0)
		report_error(s, parley_es_error(&s->es));
	else if (s->stopped)
		report_done(s);
	else
		report_error(s, "the stream ended before the answer was complete (no messageStop)");
}

static void stream_free(void *st)
{
	struct stream *s = st;
	if (!s)
		return;
	parley_es_destroy(&s->es);
	free(s);
}

/* ---- errors and checks --------------------------------------------------- */

/* "AKIA…MPLE": enough to tell keys apart, too little to use. */
static void mask_id(const char *id, char *out, size_t outlen)
{
	size_t n = strlen(id);
	if (n >= 12)
		snprintf(out, outlen, "%.4s…%s", id, id + n - 4);
	else
		snprintf(out, outlen, "%.4s…", id);
}

/* The credentials a request was made with, in words (never a secret: the
 * access key id is an identifier, shown masked; nothing of the API key),
 * short enough to leave room for AWS's own message in /readyz. */
static void credentials_used(const struct parley_llm_target *t, char *out, size_t outlen)
{
	char id[32];
	if (t->aws_bearer_token[0]) {
		/* no part of the key: this sentence reaches clients too */
		snprintf(out, outlen, "the Bedrock API key from AWS_BEARER_TOKEN_BEDROCK");
		return;
	}
	mask_id(t->aws_access_key_id, id, sizeof id);
	snprintf(out, outlen, "access key %s, %s, region %s", id,
		 t->aws_session_token[0] ? "with session token" : "no session token",
		 t->aws_region);
}

static void error_message(const struct parley_llm_target *t, long status, const char *body,
			  size_t len, char *out, size_t outlen)
{
	char msg[300], creds[200];
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *m = json_string_value(json_object_get(root, "Message"));
	if (m)
		parley_utf8_format(msg, sizeof msg, "%s", m);
	else
		parley_llm_error_from_body(body, len, msg, sizeof msg);
	json_decref(root);
	if (status == 401 || status == 403) {
		credentials_used(t, creds, sizeof creds);
		parley_utf8_format(out, outlen, "AWS refused the credentials (%s): %s", creds, msg);
	} else {
		parley_utf8_format(out, outlen, "%s", msg);
	}
}

static int prepare(struct parley_llm_target *t, char *why, size_t whylen)
{
	bool bearer = t->aws_bearer_token[0] != '\0';
	if (!t->aws_region[0] && (!bearer || !t->url[0])) {
		snprintf(why, whylen, "no AWS region for Bedrock: set AWS_REGION (or "
				      "AWS_DEFAULT_REGION), e.g. AWS_REGION=us-east-1");
		return -1;
	}
	if (!t->model[0]) {
		snprintf(why, whylen, "no Bedrock model: set --llm-model to a model id or inference "
				      "profile enabled in your account, e.g. "
				      "us.anthropic.claude-3-5-haiku-20241022-v1:0 or "
				      "amazon.nova-lite-v1:0");
		return -1;
	}
	if (bearer)
		return 0;
	if (!t->aws_access_key_id[0] && !t->aws_secret_access_key[0]) {
		snprintf(why, whylen, "no AWS credentials for Bedrock: set AWS_ACCESS_KEY_ID and "
				      "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
				      "credentials), or AWS_BEARER_TOKEN_BEDROCK to a Bedrock API "
				      "key; parley reads only the environment");
		return -1;
	}
	if (!t->aws_access_key_id[0] || !t->aws_secret_access_key[0]) {
		snprintf(why, whylen, "incomplete AWS credentials for Bedrock: %s is set but %s is "
				      "not",
			 t->aws_access_key_id[0] ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			 t->aws_access_key_id[0] ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -1;
	}
	return 0;
}

const struct parley_llm_backend parley_llm_bedrock = {
	.name = "bedrock",
	.local = false,
	.chat_request = chat_request,
	.stream_new = stream_new,
	.stream_feed = stream_feed,
	.stream_finish = stream_finish,
	.stream_free = stream_free,
	.local_next = NULL,
	.error_message = error_message,
	.prepare = prepare,
};
