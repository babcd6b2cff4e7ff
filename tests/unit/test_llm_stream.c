/* Unit tests: the LLM stream parsers (src/text/lines.c, src/llm/sse.c and
 * the openai/ollama/echo backends' stream functions), fed whole and split at
 * every byte position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm/backend.h"
#include "llm/sse.h"
#include "text/lines.h"
#include "util/err.h"

/* ---- what a parser reported ---- */
struct result {
	char text[4096];
	int ntokens;
	int done, error;
	char reason[64];
	char message[512];
};

static void r_token(void *arg, const char *t, size_t n)
{
	struct result *r = arg;
	strncat(r->text, t, n);
	r->ntokens++;
}
static void r_done(void *arg, const char *reason)
{
	struct result *r = arg;
	r->done++;
	snprintf(r->reason, sizeof r->reason, "%s", reason);
}
static void r_error(void *arg, const char *msg)
{
	struct result *r = arg;
	r->error++;
	snprintf(r->message, sizeof r->message, "%s", msg);
}

/* Feeds body to a fresh stream of backend b in pieces: first `split` bytes,
 * then the rest; then finishes it. */
static struct result run(const struct parley_llm_backend *b, const char *body, size_t split)
{
	struct result r;
	memset(&r, 0, sizeof r);
	struct parley_llm_sink sink = { r_token, r_done, r_error, &r };
	void *st = b->stream_new(NULL, &sink);
	size_t len = strlen(body);
	if (split > len)
		split = len;
	int stop = b->stream_feed(st, body, split);
	if (!stop)
		stop = b->stream_feed(st, body + split, len - split);
	if (!r.done && !r.error)
		b->stream_finish(st);
	b->stream_free(st);
	return r;
}

/* Runs at every split point and checks each gives the same outcome. */
static void check_all_splits(const struct parley_llm_backend *b, const char *body,
			     const char *text, int done, const char *msg_part)
{
	for (size_t split = 0; split <= strlen(body); split++) {
		struct result r = run(b, body, split);
		if (strcmp(r.text, text) != 0)
			fail_msg("split %zu: text '%s', expected '%s'", split, r.text, text);
		if (r.done != done || r.error != !done)
			fail_msg("split %zu: done %d error %d (%s)", split, r.done, r.error, r.message);
		if (msg_part && !strstr(r.message, msg_part))
			fail_msg("split %zu: message '%s' lacks '%s'", split, r.message, msg_part);
	}
}

#define CHUNK "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}"

static char *sse_body(const char *prefix, const char *nl, const char *const *tokens, int n,
		      const char *tail)
{
	static char buf[8192];
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		char ev[512];
		snprintf(ev, sizeof ev, CHUNK, tokens[i]);
		strcat(buf, prefix);
		strcat(buf, ev);
		strcat(buf, nl);
		strcat(buf, nl);
	}
	strcat(buf, tail);
	return buf;
}

static const char *const toks[] = { "Hello", " there", ", friend." };

static void openai_plain_and_quirks(void **state)
{
	check_all_splits(&parley_llm_openai,
			 sse_body("data: ", "\n", toks, 3, "data: [DONE]\n\n"),
			 "Hello there, friend.", 1, NULL);
	check_all_splits(&parley_llm_openai, sse_body("data:", "\r\n", toks, 3, "data:[DONE]\r\n\r\n"),
			 "Hello there, friend.", 1, NULL);
	/* comments, event/id fields, usage chunk with empty choices, unknown fields */
	check_all_splits(&parley_llm_openai,
			 ": ping\n\nevent: message\nid: 7\ndata: {\"choices\":[{\"delta\":{\"role\":"
			 "\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}],\"obfuscation\":"
			 "\"zz\"}\n\n: keep-alive\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":"
			 "\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":9}}\n\ndata: "
			 "[DONE]\n\n",
			 "Hi", 1, NULL);
	/* one event over several data: lines */
	check_all_splits(&parley_llm_openai,
			 "data: {\"choices\":\ndata: [{\"delta\":{\"content\":\"multi\"}}]}\n\ndata: [DONE]\n\n",
			 "multi", 1, NULL);
	/* lone CR line endings */
	check_all_splits(&parley_llm_openai,
			 "data: {\"choices\":[{\"delta\":{\"content\":\"cr\"}}]}\r\rdata: [DONE]\r\r", "cr",
			 1, NULL);
	/* unicode escapes and multi-byte text */
	check_all_splits(&parley_llm_openai,
			 "data: {\"choices\":[{\"delta\":{\"content\":\"caf\\u00e9 \xe2\x80\x94\"}}]}\n\n"
			 "data: [DONE]\n\n",
			 "caf\xc3\xa9 \xe2\x80\x94", 1, NULL);
	/* no [DONE] but a finish_reason: complete; no final blank line either */
	check_all_splits(&parley_llm_openai,
			 "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}",
			 "ok", 1, NULL);
}

static void openai_errors(void **state)
{
	check_all_splits(&parley_llm_openai,
			 "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"
			 "data: {\"error\":{\"message\":\"model crashed\",\"type\":\"server_error\"}}\n\n",
			 "par", 0, "model crashed");
	check_all_splits(&parley_llm_openai,
			 "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"
			 "error: {\"code\":500,\"message\":\"llama died\"}\n\n",
			 "par", 0, "llama died");
	check_all_splits(&parley_llm_openai, "data: {\"choices\":[{\"delta\":{\"content\":\"cut\"}}]}\n\n",
			 "cut", 0, "ended before the answer was complete");
	check_all_splits(&parley_llm_openai, "data: not json\n\n", "", 0, "not a JSON object");
	check_all_splits(&parley_llm_openai, "", "", 0, "ended before");
	/* nothing after [DONE] counts */
	struct result r = run(&parley_llm_openai,
			      "data: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n",
			      1000);
	assert_int_equal(r.done, 1);
	assert_string_equal(r.text, "");
}

static void ollama_stream(void **state)
{
	const char *body =
		"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n"
		"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"lo.\"},\"done\":false}\n"
		"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":"
		"\"stop\",\"done\":true,\"eval_count\":2}\n";
	check_all_splits(&parley_llm_ollama, body, "Hello.", 1, NULL);
	struct result r = run(&parley_llm_ollama, body, 10);
	assert_string_equal(r.reason, "stop");
	check_all_splits(&parley_llm_ollama,
			 "{\"message\":{\"content\":\"a\"},\"done\":false}\r\n\r\n"
			 "{\"message\":{\"content\":\"b\"},\"done\":true}",
			 "ab", 1, NULL);
	check_all_splits(&parley_llm_ollama,
			 "{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"error\":\"unexpected EOF\"}\n",
			 "a", 0, "unexpected EOF");
	check_all_splits(&parley_llm_ollama, "{\"message\":{\"content\":\"a\"},\"done\":false}\n", "a",
			 0, "ended before");
	check_all_splits(&parley_llm_ollama, "<html>oops</html>\n", "", 0, "not a JSON object");
}

static void error_bodies(void **state)
{
	char out[256];
	const char *b = "{\"error\":{\"message\":\"bad key\",\"type\":\"x\"}}";
	parley_llm_error_from_body(b, strlen(b), out, sizeof out);
	assert_string_equal(out, "bad key");
	b = "{\"error\":\"model \\\"x\\\" not found\"}";
	parley_llm_error_from_body(b, strlen(b), out, sizeof out);
	assert_string_equal(out, "model \"x\" not found");
	b = "{\"detail\":\"Not Found\"}";
	parley_llm_error_from_body(b, strlen(b), out, sizeof out);
	assert_string_equal(out, "Not Found");
	b = "Too Many\nRequests\n";
	parley_llm_error_from_body(b, strlen(b), out, sizeof out);
	assert_string_equal(out, "Too Many Requests");
	parley_llm_error_from_body("", 0, out, sizeof out);
	assert_string_equal(out, "empty response body");
}

static void chat_requests(void **state)
{
	struct parley_llm_target t = { .url = "http://h:1", .model = "m", .api_key = "k",
				       .keep_alive = "-1", .temperature = 0.5, .max_tokens = 77 };
	json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");
	struct parley_http_req r;
	assert_int_equal(parley_llm_openai.chat_request(&t, msgs, 0, &r), 0);
	assert_string_equal(r.url, "http://h:1/v1/chat/completions");
	json_t *body = json_loads(r.body, 0, NULL);
	assert_true(json_is_true(json_object_get(body, "stream")));
	assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 77);
	assert_string_equal(json_string_value(json_object_get(body, "model")), "m");
	json_decref(body);
	int auth = 0;
	for (struct curl_slist *h = r.headers; h; h = h->next)
		auth |= strcmp(h->data, "Authorization: Bearer k") == 0;
	assert_true(auth);
	parley_http_req_clear(&r);

	assert_int_equal(parley_llm_ollama.chat_request(&t, msgs, 5, &r), 0);
	assert_string_equal(r.url, "http://h:1/api/chat");
	body = json_loads(r.body, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(body, "keep_alive")), -1);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(body, "options"), "num_predict")),
			 5);
	json_decref(body);
	parley_http_req_clear(&r);

	strcpy(t.keep_alive, "30m");
	strcpy(t.api_key, "");
	assert_int_equal(parley_llm_ollama.chat_request(&t, msgs, 0, &r), 0);
	body = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "keep_alive")), "30m");
	json_decref(body);
	assert_null(r.headers->next); /* no Authorization without a key */
	parley_http_req_clear(&r);
	json_decref(msgs);
}

static void echo_repeats_last_user_turn(void **state)
{
	struct result r;
	memset(&r, 0, sizeof r);
	struct parley_llm_sink sink = { r_token, r_done, r_error, &r };
	json_t *msgs = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "role", "system", "content",
				 "sys", "role", "user", "content", "first", "role", "user",
				 "content", "  how are you.  ");
	void *st = parley_llm_echo.stream_new(msgs, &sink);
	int delay, calls = 0;
	while ((delay = parley_llm_echo.local_next(st)) >= 0) {
		assert_true(delay > 0);
		calls++;
	}
	parley_llm_echo.stream_free(st);
	json_decref(msgs);
	assert_string_equal(r.text, "You said: how are you.");
	assert_int_equal(r.ntokens, 5);
	assert_int_equal(calls, 5);
	assert_int_equal(r.done, 1);
	/* a question keeps its own mark; nothing heard is said so */
	memset(&r, 0, sizeof r);
	msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "are you there?");
	st = parley_llm_echo.stream_new(msgs, &sink);
	while (parley_llm_echo.local_next(st) >= 0)
		;
	parley_llm_echo.stream_free(st);
	json_decref(msgs);
	assert_string_equal(r.text, "You said: are you there?");
	assert_ptr_equal(parley_llm_backend_find("echo"), &parley_llm_echo);
	assert_null(parley_llm_backend_find("gpt"));
}

/* ---- the line splitter and SSE framing on their own ---- */
static int count_lines(void *arg, const char *line, size_t len)
{
	char *out = arg;
	strncat(out, line, len);
	strcat(out, "|");
	return 0;
}

static void lines_and_caps(void **state)
{
	struct parley_lines l;
	char out[256] = "";
	parley_lines_init(&l, 8);
	assert_int_equal(parley_lines_feed(&l, "ab\ncd\r", 6, count_lines, out), 0);
	assert_int_equal(parley_lines_feed(&l, "\nef\r\rg", 6, count_lines, out), 0);
	assert_int_equal(parley_lines_finish(&l, count_lines, out), 0);
	assert_string_equal(out, "ab|cd|ef||g|");
	assert_int_equal(parley_lines_feed(&l, "123456789", 9, count_lines, out), PARLEY_E_RANGE);
	parley_lines_destroy(&l);
}

static int sse_collect(void *arg, enum parley_sse_kind kind, const char *data, size_t len)
{
	char *out = arg;
	strcat(out, kind == PARLEY_SSE_ERROR ? "E:" : "D:");
	strncat(out, data, len);
	strcat(out, "|");
	return 0;
}

static void sse_framing(void **state)
{
	struct parley_sse s;
	char out[256] = "";
	parley_sse_init(&s, 64, sse_collect, out);
	const char *in = "data:a\ndata: b\n\n:c\nretry: 5\n\ndata\n\nerror: x\ndata: tail";
	assert_int_equal(parley_sse_feed(&s, in, strlen(in)), 0);
	assert_int_equal(parley_sse_finish(&s), 0);
	assert_string_equal(out, "D:a\nb|D:|E:x|D:tail|");
	parley_sse_destroy(&s);

	parley_sse_init(&s, 8, sse_collect, out);
	assert_int_equal(parley_sse_feed(&s, "data: 12345\ndata: 6789\n", 23), PARLEY_E_RANGE);
	parley_sse_destroy(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(openai_plain_and_quirks),
		cmocka_unit_test(openai_errors),
		cmocka_unit_test(ollama_stream),
		cmocka_unit_test(error_bodies),
		cmocka_unit_test(chat_requests),
		cmocka_unit_test(echo_repeats_last_user_turn),
		cmocka_unit_test(lines_and_caps),
		cmocka_unit_test(sse_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
