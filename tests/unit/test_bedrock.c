/* Unit tests: the Bedrock backend's pure parts (src/llm/bedrock.c): the
 * Converse body (system apart, alternating turns starting with the user,
 * blank text dropped), the URL with the model id encoded once, the auth
 * headers (SigV4 or bearer), the event-stream answer parser, error
 * messages (which credentials, never the secret) and prepare()'s checks.
 * The signature itself is test_sigv4's business; the whole path through
 * the server is tests/integration/bedrock.test.mjs's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm/backend.h"
#include "llm/eventstream.h"
#include "util/err.h"

static const struct parley_llm_backend *B = &parley_llm_bedrock;

static void target(struct parley_llm_target *t)
{
	memset(t, 0, sizeof *t);
	snprintf(t->url, sizeof t->url, "https://bedrock-runtime.eu-west-1.amazonaws.com");
	snprintf(t->model, sizeof t->model, "anthropic.claude-3-haiku-20240307-v1:0");
	snprintf(t->aws_region, sizeof t->aws_region, "eu-west-1");
	snprintf(t->aws_access_key_id, sizeof t->aws_access_key_id, "AKIAIOSFODNN7EXAMPLE");
	snprintf(t->aws_secret_access_key, sizeof t->aws_secret_access_key, "topSecretKeyValue/0123456789abcdefghijkl");
	t->temperature = 0.25;
	t->max_tokens = 300;
}

static bool has_header(const struct curl_slist *h, const char *prefix)
{
	for (; h; h = h->next)
		if (strncmp(h->data, prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void request_body_and_headers(void **state)
{
	(void)state;
	struct parley_llm_target t;
	target(&t);
	json_t *msgs = json_loads(
		"[{\"role\":\"system\",\"content\":\"Be brief.\"},"
		"{\"role\":\"assistant\",\"content\":\"Hi, I am parley.\"},"
		"{\"role\":\"user\",\"content\":\"one\"},{\"role\":\"user\",\"content\":\"two\"},"
		"{\"role\":\"assistant\",\"content\":\"   \"},"
		"{\"role\":\"assistant\",\"content\":\"answer\"},"
		"{\"role\":\"system\",\"content\":\"Later note.\"},"
		"{\"role\":\"user\",\"content\":\"three\"}]", 0, NULL);
	struct parley_http_req r;
	assert_int_equal(B->chat_request(&t, msgs, 0, &r), 0);
	assert_string_equal(r.url, "https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
				   "anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
	json_t *body = json_loads(r.body, 0, NULL);
	json_t *want = json_loads(
		"{\"system\":[{\"text\":\"Be brief.\"},{\"text\":\"Later note.\"}],"
		"\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"one\"},{\"text\":\"two\"}]},"
		"{\"role\":\"assistant\",\"content\":[{\"text\":\"answer\"}]},"
		"{\"role\":\"user\",\"content\":[{\"text\":\"three\"}]}],"
		"\"inferenceConfig\":{\"maxTokens\":300,\"temperature\":0.25}}", 0, NULL);
	if (!json_equal(body, want))
		fail_msg("body %s", r.body);
	assert_true(has_header(r.headers, "Host: bedrock-runtime.eu-west-1.amazonaws.com"));
	assert_true(has_header(r.headers, "Content-Type: application/json"));
	assert_true(has_header(r.headers, "X-Amz-Date: "));
	assert_true(has_header(r.headers, "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"));
	assert_false(has_header(r.headers, "X-Amz-Security-Token"));
	for (struct curl_slist *h = r.headers; h; h = h->next)
		assert_null(strstr(h->data, "topSecret"));
	parley_http_req_clear(&r);
	json_decref(body);
	json_decref(want);

	/* a session token is sent; a port that is not the default is in Host;
	 * max_tokens given wins */
	snprintf(t.aws_session_token, sizeof t.aws_session_token, "tok/en+=");
	snprintf(t.url, sizeof t.url, "http://127.0.0.1:8123/base");
	assert_int_equal(B->chat_request(&t, msgs, 48, &r), 0);
	assert_string_equal(r.url, "http://127.0.0.1:8123/base/model/"
				   "anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
	assert_true(has_header(r.headers, "Host: 127.0.0.1:8123"));
	assert_true(has_header(r.headers, "X-Amz-Security-Token: tok/en+="));
	assert_non_null(strstr(r.body, "\"maxTokens\":48"));
	parley_http_req_clear(&r);

	/* a bearer key replaces SigV4 */
	snprintf(t.aws_bearer_token, sizeof t.aws_bearer_token, "ABSKexampleKey");
	assert_int_equal(B->chat_request(&t, msgs, 0, &r), 0);
	assert_true(has_header(r.headers, "Authorization: Bearer ABSKexampleKey"));
	assert_false(has_header(r.headers, "X-Amz-Date"));
	parley_http_req_clear(&r);
	json_decref(msgs);

	/* nothing from the user: no request */
	msgs = json_loads("[{\"role\":\"system\",\"content\":\"x\"},"
			  "{\"role\":\"assistant\",\"content\":\"hello\"}]", 0, NULL);
	assert_int_equal(B->chat_request(&t, msgs, 0, &r), PARLEY_E_INVAL);
	assert_null(r.body);
	json_decref(msgs);
}

/* ---- the answer stream ---------------------------------------------------- */

struct got {
	char text[256];
	char done[64];
	char error[400];
};

static void on_token(void *arg, const char *t, size_t n)
{
	struct got *g = arg;
	strncat(g->text, t, n);
}
static void on_done(void *arg, const char *r) { snprintf(((struct got *)arg)->done, 64, "%s", r); }
static void on_error(void *arg, const char *m) { snprintf(((struct got *)arg)->error, 400, "%s", m); }

struct enc {
	uint8_t b[8192];
	size_t n;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A message with string headers (name, value pairs; NULL-terminated). */
static void message(struct enc *e, const char *const *kv, const char *payload)
{
	uint8_t h[512];
	size_t hn = 0;
	for (; kv[0]; kv += 2) {
		size_t nl = strlen(kv[0]), vl = strlen(kv[1]);
		h[hn++] = (uint8_t)nl;
		memcpy(h + hn, kv[0], nl);
		hn += nl;
		h[hn++] = PARLEY_ES_STRING;
		h[hn++] = (uint8_t)(vl >> 8);
		h[hn++] = (uint8_t)vl;
		memcpy(h + hn, kv[1], vl);
		hn += vl;
	}
	size_t pl = strlen(payload), start = e->n, total = 16 + hn + pl;
	put32(e->b + e->n, (uint32_t)total);
	put32(e->b + e->n + 4, (uint32_t)hn);
	put32(e->b + e->n + 8, parley_es_crc32(0, e->b + start, 8));
	memcpy(e->b + e->n + 12, h, hn);
	memcpy(e->b + e->n + 12 + hn, payload, pl);
	e->n += total - 4;
	put32(e->b + e->n, parley_es_crc32(0, e->b + start, total - 4));
	e->n += 4;
}

static void event(struct enc *e, const char *type, const char *payload)
{
	const char *kv[] = { ":event-type", type, ":content-type", "application/json",
			     ":message-type", "event", NULL };
	message(e, kv, payload);
}

static void run(const struct enc *e, struct got *g, bool finish)
{
	memset(g, 0, sizeof *g);
	struct parley_llm_sink sink = { on_token, on_done, on_error, g };
	void *st = B->stream_new(NULL, &sink);
	int stop = 0;
	for (size_t i = 0; i < e->n && !stop; i += 5) /* chunks of 5 bytes */
		stop = B->stream_feed(st, (const char *)e->b + i, e->n - i < 5 ? e->n - i : 5);
	if (finish && !stop)
		B->stream_finish(st);
	B->stream_free(st);
}

static void answer_stream(void **state)
{
	(void)state;
	struct enc e = { .n = 0 };
	struct got g;
	event(&e, "messageStart", "{\"p\":\"ab\",\"role\":\"assistant\"}");
	event(&e, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"},\"p\":\"x\"}");
	event(&e, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"text\":\"hmm\"}}}");
	event(&e, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\" there.\"}}");
	event(&e, "contentBlockStop", "{\"contentBlockIndex\":0}");
	size_t before_stop = e.n;
	event(&e, "messageStop", "{\"stopReason\":\"max_tokens\"}");
	size_t before_meta = e.n;
	event(&e, "metadata", "{\"usage\":{\"inputTokens\":3,\"outputTokens\":2},\"metrics\":{\"latencyMs\":9}}");
	run(&e, &g, false); /* done at metadata, before the end of the body */
	assert_string_equal(g.text, "Hello there.");
	assert_string_equal(g.done, "max_tokens");
	assert_string_equal(g.error, "");

	e.n = before_meta; /* no metadata: done at the end of the body */
	run(&e, &g, false);
	assert_string_equal(g.done, "");
	run(&e, &g, true);
	assert_string_equal(g.done, "max_tokens");

	e.n = before_stop; /* no messageStop: the answer is incomplete */
	run(&e, &g, true);
	assert_string_equal(g.done, "");
	assert_non_null(strstr(g.error, "no messageStop"));

	e.n = before_stop - 3; /* cut inside a frame */
	run(&e, &g, true);
	assert_non_null(strstr(g.error, "ended inside a message"));

	e.n = before_stop;
	const char *ex[] = { ":exception-type", "validationException", ":content-type",
			     "application/json", ":message-type", "exception", NULL };
	message(&e, ex, "{\"message\":\"Input is too long.\"}");
	run(&e, &g, true);
	assert_string_equal(g.text, "Hello there.");
	assert_string_equal(g.error, "Bedrock validationException: Input is too long.");

	e.n = 0;
	const char *er[] = { ":message-type", "error", ":error-code", "InternalFailure",
			     ":error-message", "boom", NULL };
	message(&e, er, "");
	run(&e, &g, true);
	assert_string_equal(g.error, "Bedrock error InternalFailure: boom");

	e.n = 0;
	event(&e, "contentBlockDelta", "not json");
	run(&e, &g, true);
	assert_non_null(strstr(g.error, "not a JSON object"));
}

static void errors_and_checks(void **state)
{
	(void)state;
	struct parley_llm_target t;
	target(&t);
	char out[400], why[300];
	static const char body[] = "{\"message\":\"The request signature we calculated does not match the signature you provided.\"}";
	B->error_message(&t, 403, body, strlen(body), out, sizeof out);
	assert_string_equal(out, "AWS refused the credentials (access key AKIA…MPLE, no session token, "
				 "region eu-west-1): The request signature we calculated does not "
				 "match the signature you provided.");
	B->error_message(&t, 400, "{\"Message\":\"Bad model.\"}", 24, out, sizeof out);
	assert_string_equal(out, "Bad model.");
	snprintf(t.aws_bearer_token, sizeof t.aws_bearer_token, "ABSKsomeLongBedrockKeyWXYZ");
	B->error_message(&t, 403, "{\"message\":\"Authentication failed\"}", 35, out, sizeof out);
	assert_string_equal(out, "AWS refused the credentials (the Bedrock API key from "
				 "AWS_BEARER_TOKEN_BEDROCK): Authentication failed");
	assert_null(strstr(out, "ABSKsome"));
	assert_null(strstr(out, "WXYZ")); /* no part of the key */

	target(&t);
	assert_int_equal(B->prepare(&t, why, sizeof why), 0);
	t.aws_region[0] = '\0';
	assert_int_equal(B->prepare(&t, why, sizeof why), -1);
	assert_non_null(strstr(why, "AWS_REGION"));
	target(&t);
	t.model[0] = '\0';
	assert_int_equal(B->prepare(&t, why, sizeof why), -1);
	assert_non_null(strstr(why, "--llm-model"));
	target(&t);
	t.aws_secret_access_key[0] = '\0';
	assert_int_equal(B->prepare(&t, why, sizeof why), -1);
	assert_non_null(strstr(why, "AWS_SECRET_ACCESS_KEY is not"));
	t.aws_access_key_id[0] = '\0';
	assert_int_equal(B->prepare(&t, why, sizeof why), -1);
	assert_non_null(strstr(why, "AWS_BEARER_TOKEN_BEDROCK"));
	snprintf(t.aws_bearer_token, sizeof t.aws_bearer_token, "ABSK1");
	assert_int_equal(B->prepare(&t, why, sizeof why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_body_and_headers),
		cmocka_unit_test(answer_stream),
		cmocka_unit_test(errors_and_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
