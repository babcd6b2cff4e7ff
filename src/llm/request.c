/*
 * request.c - the one builder of LLM answer requests, used by the engine
 * thread and the warm-up thread alike (see internal.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "llm/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/utf8.h"

int64_t parley_llm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int parley_llm_call_build(struct parley_llm_call *c, const struct parley_llm_backend *b,
			  const struct parley_llm_target *t, const json_t *messages, int max_tokens,
			  curl_write_callback write, void *arg, char *why, size_t whylen)
{
	memset(c, 0, sizeof *c);
	parley_buf_init(&c->errbody, PARLEY_LLM_ERRBODY_MAX);
	int rc = b->chat_request(t, messages, max_tokens, &c->http);
	if (rc) {
		snprintf(why, whylen, "cannot build the %s request: %s", b->name, parley_strerror(rc));
		goto fail;
	}
	c->easy = curl_easy_init();
	if (!c->easy) {
		rc = PARLEY_E_NOMEM;
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	curl_easy_setopt(c->easy, CURLOPT_URL, c->http.url);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->http.headers);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->http.body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, arg);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->curl_err);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can decode */
	return 0;
fail:
	parley_llm_call_clear(c);
	return rc;
}

void parley_llm_call_clear(struct parley_llm_call *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	parley_http_req_clear(&c->http);
	parley_buf_free(&c->errbody);
	memset(c, 0, sizeof *c);
}

bool parley_llm_call_error_chunk(struct parley_llm_call *c, const char *data, size_t n)
{
	if (!c->status)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->status / 100 == 2)
		return false;
	parley_buf_append_head(&c->errbody, data, n);
	return true;
}

void parley_llm_call_error_text(struct parley_llm_call *c, const struct parley_llm_backend *b,
				const struct parley_llm_target *t, const char *what, char *out,
				size_t outlen)
{
	const char *raw = parley_buf_str(&c->errbody);
	PARLEY_WARN("%s: HTTP %ld from %s; body: %.*s", what, c->status, c->http.url,
		    (int)parley_utf8_cut(raw, c->errbody.len, PARLEY_LLM_BODY_LOG_MAX), raw);
	b->error_message(t, c->status, raw, c->errbody.len, out, outlen);
}
