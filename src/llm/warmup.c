/*
 * warmup.c - the warm-up thread of the shared LLM engine: resolves the
 * backend ("auto"), runs the backend's checks (prepare), sends the system
 * prompt once through the real streaming path (the request comes from the
 * same builder as the engine's, request.c) and measures time to first
 * token and tokens per second; retries with backoff until ready; publishes
 * every state change to the engine's info, /readyz, /metrics and the
 * on_state callback. See engine.h for what the engine promises.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm/backend.h"
#include "llm/fetch.h"
#include "llm/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/readiness.h"
#include "util/redact.h"
#include "util/utf8.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define WARMUP_MAX_TOKENS 48
#define CLIENT_REASON_MAX 200 /* why the LLM is not ready, as a client sees it */
#define READY_REASON_MAX 240  /* the same for /readyz (fits its 256-byte slot) */

static struct parley_gauge_f m_warm_s, m_warm_ttft_s, m_warm_tps;

int parley_llm_warmup_register_metrics(void)
{
	int rc = parley_metrics_register_gauge_f("parley_llm_warmup_seconds",
						 "duration of the successful LLM warm-up", &m_warm_s);
	rc = rc ? rc : parley_metrics_register_gauge_f(
			       "parley_llm_warm_first_token_seconds",
			       "time to first token measured at warm-up", &m_warm_ttft_s);
	rc = rc ? rc : parley_metrics_register_gauge_f(
			       "parley_llm_warm_tokens_per_second",
			       "generation speed measured at warm-up, in tokens per second",
			       &m_warm_tps);
	return rc;
}

struct warm_run {
	int64_t start_ns, first_ns, last_ns;
	int tokens;
	bool done, error;
	char message[512];
	size_t text_len;
	void *stream;
	const struct parley_llm_backend *backend;
	struct parley_llm_call call;
};

static void warm_token(void *arg, const char *text, size_t len)
{
	struct warm_run *w = arg;
	w->last_ns = parley_llm_now_ns();
	if (!w->tokens)
		w->first_ns = w->last_ns;
	w->tokens++;
	w->text_len += len;
}

static void warm_done(void *arg, const char *reason)
{
	((struct warm_run *)arg)->done = true;
}

static void warm_error(void *arg, const char *message)
{
	struct warm_run *w = arg;
	w->error = true;
	parley_utf8_format(w->message, sizeof w->message, "%s", message);
}

static size_t warm_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct warm_run *w = arg;
	size_t n = size * nmemb;
	if (parley_llm_call_error_chunk(&w->call, data, n))
		return n;
	w->backend->stream_feed(w->stream, data, n);
	return w->error ? 0 : n;
}

/* Sends the system prompt with a short question through the real streaming
 * path and measures it. Returns 0 or -1 with why. */
static int measure(struct parley_llm_engine *e, double *ttft_ms, double *tps, char *why,
		   size_t whylen)
{
	const struct parley_llm_backend *b = e->backend;
	struct warm_run w = { .backend = b };
	struct parley_llm_sink sink = { warm_token, warm_done, warm_error, &w };
	json_t *messages = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content",
				     e->system_prompt, "role", "user", "content",
				     "Say hello in one short sentence.");
	int rc = -1;

	w.stream = messages ? b->stream_new(messages, &sink) : NULL;
	if (!w.stream) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	if (parley_llm_call_build(&w.call, b, &e->target, messages, WARMUP_MAX_TOKENS, warm_body,
				  &w, why, whylen) != 0)
		goto out;
	CURL *easy = w.call.easy;
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 300000L); /* a cold model may load slowly */
	curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, parley_fetch_abort_cb);
	curl_easy_setopt(easy, CURLOPT_XFERINFODATA, (void *)&e->abort);
	curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
	w.start_ns = parley_llm_now_ns();
	CURLcode cr = curl_easy_perform(easy);
	if (!w.call.status)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &w.call.status);
	if (w.error) {
		parley_utf8_format(why, whylen, "warm-up answer failed: %s", w.message);
	} else if (w.call.status && w.call.status / 100 != 2) {
		char body[300];
		parley_llm_call_error_text(&w.call, b, &e->target, "llm warm-up", body, sizeof body);
		parley_utf8_format(why, whylen, "warm-up request got HTTP %ld from %s: %s",
				   w.call.status, w.call.http.url, body);
	} else if (cr != CURLE_OK) {
		parley_utf8_format(why, whylen, "cannot reach the LLM server at %s: %s", e->target.url,
				   w.call.curl_err[0] ? w.call.curl_err : curl_easy_strerror(cr));
	} else {
		if (!w.done)
			b->stream_finish(w.stream);
		if (!w.done || !w.tokens) {
			parley_utf8_format(why, whylen, "warm-up answer was %s",
					   w.error ? w.message : "empty or incomplete");
		} else {
			*ttft_ms = (double)(w.first_ns - w.start_ns) / 1e6;
			double gen_s = (double)(w.last_ns - w.first_ns) / 1e9;
			*tps = w.tokens > 1 && gen_s > 0 ? (double)(w.tokens - 1) / gen_s : 0;
			rc = 0;
		}
	}
out:
	parley_llm_call_clear(&w.call);
	if (w.stream)
		b->stream_free(w.stream);
	json_decref(messages);
	return rc;
}

/* reason (operator's words, may name the URL) is shown three ways: whole
 * in the log (masked there), with credentials masked on /readyz, and with
 * every URL hidden to clients (status). */
static void set_state(struct parley_llm_engine *e, enum parley_llm_state st, const char *reason)
{
	char client[CLIENT_REASON_MAX + 8] = "", ready[READY_REASON_MAX + 8] = "";
	if (reason) {
		parley_redact_cause(reason, strlen(reason), PARLEY_REDACT_URLS, CLIENT_REASON_MAX,
				    client, sizeof client);
		parley_redact_cause(reason, strlen(reason), 0, READY_REASON_MAX, ready,
				    sizeof ready);
	}
	pthread_mutex_lock(&e->lock);
	bool changed = e->info.state != st || strcmp(e->info.reason, client) != 0;
	e->info.state = st;
	snprintf(e->info.reason, sizeof e->info.reason, "%s", client);
	void (*fn)(void *) = e->on_state;
	void *arg = e->on_state_arg;
	pthread_mutex_unlock(&e->lock);
	parley_readiness_set(e->readiness_id, st == PARLEY_LLM_READY, reason ? ready : NULL);
	curl_multi_wakeup(e->multi); /* let the engine admit or fail waiting turns */
	if (changed && fn)
		fn(arg);
}

/* Picks the backend for "auto": explicit URL, else Ollama if it answers,
 * else OpenAI if a key is set, else echo. */
static void resolve_backend(struct parley_llm_engine *e)
{
	const struct parley_config *cfg = e->cfg;
	const char *name = cfg->llm_backend;
	const char *url = cfg->llm_url;

	if (strcmp(name, "auto") == 0) {
		char err[256];
		long status = 0;
		char *body = NULL;
		if (cfg->llm_url[0]) {
			name = "openai";
		} else if (parley_fetch("GET", cfg->ollama_url, NULL, NULL, 1500, &status, &body,
					NULL, err, sizeof err, &e->abort) == 0) {
			free(body);
			name = "ollama";
			url = cfg->ollama_url;
			PARLEY_INFO("llm auto: Ollama answers at %s", url);
		} else if (cfg->llm_api_key[0]) {
			name = "openai";
			PARLEY_INFO("llm auto: no Ollama at %s (%s); OpenAI key set", cfg->ollama_url,
				    err);
		} else {
			name = "echo";
			PARLEY_INFO("llm auto: no --llm-url, no Ollama at %s (%s), no API key",
				    cfg->ollama_url, err);
		}
	}
	char bedrock_url[160];
	if (!url[0] && strcmp(name, "bedrock") == 0) {
		/* Without a region there is no endpoint; prepare() says so. */
		snprintf(bedrock_url, sizeof bedrock_url, cfg->aws_region[0] ?
			 "https://bedrock-runtime.%s.amazonaws.com" : "%s", cfg->aws_region);
		url = bedrock_url;
	}
	if (!url[0])
		url = strcmp(name, "ollama") == 0 ? cfg->ollama_url : cfg->openai_url;

	e->backend = parley_llm_backend_find(name);
	struct parley_llm_target *t = &e->target;
	snprintf(t->url, sizeof t->url, "%s", url);
	snprintf(t->model, sizeof t->model, "%s", cfg->llm_model);
	if (!t->model[0] && strcmp(name, "openai") == 0 && strcmp(url, cfg->openai_url) == 0)
		snprintf(t->model, sizeof t->model, "gpt-4o-mini");
	snprintf(t->api_key, sizeof t->api_key, "%s", cfg->llm_api_key);
	snprintf(t->keep_alive, sizeof t->keep_alive, "%s", cfg->llm_keep_alive);
	t->temperature = cfg->llm_temperature;
	t->max_tokens = cfg->llm_max_tokens;
	t->connect_timeout_ms = cfg->llm_connect_timeout_ms;
	t->abort = &e->abort;
	snprintf(t->aws_region, sizeof t->aws_region, "%s", cfg->aws_region);
	snprintf(t->aws_access_key_id, sizeof t->aws_access_key_id, "%s", cfg->aws_access_key_id);
	snprintf(t->aws_secret_access_key, sizeof t->aws_secret_access_key, "%s",
		 cfg->aws_secret_access_key);
	snprintf(t->aws_session_token, sizeof t->aws_session_token, "%s", cfg->aws_session_token);
	snprintf(t->aws_bearer_token, sizeof t->aws_bearer_token, "%s", cfg->aws_bearer_token);

	pthread_mutex_lock(&e->lock);
	snprintf(e->info.backend, sizeof e->info.backend, "%s", name);
	e->info.echo = e->backend->local;
	pthread_mutex_unlock(&e->lock);
}

/* Sleeps up to ms; returns true if the engine is stopping. */
static bool sleep_or_stop(struct parley_llm_engine *e, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&e->lock);
	while (!e->stopping && pthread_cond_timedwait(&e->cond, &e->lock, &ts) == 0)
		;
	bool stop = e->stopping;
	pthread_mutex_unlock(&e->lock);
	return stop;
}

void *parley_llm_warmup_main(void *arg)
{
	struct parley_llm_engine *e = arg;
	resolve_backend(e);

	if (e->backend->local) {
		PARLEY_WARN("NO LLM CONFIGURED: using the 'echo' backend, which repeats what it "
			    "hears. Start Ollama (ollama serve; ollama pull llama3.2), or pass "
			    "--llm-url http://HOST:PORT for an OpenAI-compatible server, or set "
			    "OPENAI_API_KEY.");
		pthread_mutex_lock(&e->lock);
		snprintf(e->info.model, sizeof e->info.model, "none");
		e->info.warmup_s = 0;
		pthread_mutex_unlock(&e->lock);
		set_state(e, PARLEY_LLM_READY, NULL);
		return NULL;
	}

	long backoff = BACKOFF_MIN_MS;
	for (int attempt = 1;; attempt++) {
		char why[512] = "";
		double ttft = -1, tps = -1;
		int64_t t0 = parley_llm_now_ns();
		PARLEY_INFO("pre-warming shared LLM (%s, %s, %s)%s", e->backend->name,
			    e->target.model[0] ? e->target.model : "model to be chosen",
			    e->target.url, attempt > 1 ? " again" : "");
		int rc = e->backend->prepare ? e->backend->prepare(&e->target, why, sizeof why) : 0;
		if (rc == 0)
			rc = measure(e, &ttft, &tps, why, sizeof why);
		if (rc == 0) {
			double warm_s = (double)(parley_llm_now_ns() - t0) / 1e9;
			pthread_mutex_lock(&e->lock);
			parley_utf8_format(e->info.model, sizeof e->info.model, "%s", e->target.model);
			e->info.first_token_ms = ttft;
			e->info.tokens_per_s = tps;
			e->info.warmup_s = warm_s;
			pthread_mutex_unlock(&e->lock);
			parley_gauge_f_set(&m_warm_s, warm_s);
			parley_gauge_f_set(&m_warm_ttft_s, ttft / 1000);
			parley_gauge_f_set(&m_warm_tps, tps);
			PARLEY_INFO("shared LLM warm: first token %.0f ms, %.1f tokens/s (warm-up %.1f s)",
				    ttft, tps, warm_s);
			set_state(e, PARLEY_LLM_READY, NULL);
			return NULL;
		}
		PARLEY_ERROR("shared LLM not ready: %s (retrying in %.0f s)", why, backoff / 1000.0);
		pthread_mutex_lock(&e->lock);
		parley_utf8_format(e->info.model, sizeof e->info.model, "%s", e->target.model);
		pthread_mutex_unlock(&e->lock);
		set_state(e, PARLEY_LLM_UNAVAILABLE, why);
		if (sleep_or_stop(e, backoff))
			return NULL;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}
