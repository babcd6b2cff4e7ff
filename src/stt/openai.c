/*
 * openai.c - speech-to-text over HTTP: an OpenAI-compatible transcription
 * service (OpenAI, speaches / faster-whisper-server, whisper.cpp's server
 * with --stt-path /inference).
 *
 * A job collects the utterance (16 kHz mono, at most 30 s; more is
 * dropped) while the user speaks. finish() posts it once as a multipart
 * form: file = the utterance as a WAV file, model, language,
 * response_format=json; the answer's text is the final transcript. With
 * --stt-partial-ms, every that many ms of fed audio the growing utterance
 * is posted too (one such request in flight at a time) and its answer is
 * a partial; partials are cancelled at finish and never outlive the job.
 *
 * Requests run on the HTTP pool's lane "stt" (--stt-max-inflight at once,
 * --stt-max-queue waiting); each may take --stt-timeout in total, queue
 * included, so a service that handles one request at a time and is stuck
 * costs the other sessions a clear error, not a wait for ever.
 *
 * Threads and locks: feed/finish/cancel/release run on the caller's strand
 * (one thread at a time); request callbacks on the HTTP pool's thread.
 * job->mu guards the job's shared state (refs, ended, finished, the live
 * requests); job->cb_mu is held while a sink callback runs (and during
 * feed), so callbacks for one job never overlap and never run inside
 * feed(). Order: cb_mu before mu; neither is held while calling the pool.
 * The utterance (pcm) belongs to the strand: requests carry their own WAV.
 * A job is freed when its last reference goes: the caller's, the engine's
 * (until end was reported) and one per request in flight.
 */
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/wav.h"
#include "net/http.h"
#include "net/multipart.h"
#include "stt/stt.h"
#include "stt/transcript.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

#define RATE 16000
#define MAX_SAMPLES ((size_t)30 * RATE)     /* longest utterance posted */
#define ANSWER_MAX ((size_t)64 * 1024)      /* longest answer read */
#define TRANSCRIPT_MAX 4096                 /* longest transcript kept */
#define BODY_MAX ((size_t)2 * 1024 * 1024)  /* 30 s of WAV plus the form */
#define DEFAULT_PATH "/v1/audio/transcriptions"

struct parley_stt_engine {
	const struct parley_config *cfg; /* borrowed */
	struct parley_http_pool *pool;   /* borrowed */
	struct parley_http_lane *lane;   /* lives as long as the pool */
	char url[1024];                  /* base URL + path */
	char hostport[300];              /* for operator messages */
	const char *path;
	pthread_mutex_t mu; /* guards warmup_ms */
	double warmup_ms;   /* < 0 until measured */
	atomic_bool abort_warm; /* the warm-up is stopping */
};

struct parley_stt_job {
	struct parley_stt_engine *e;
	struct parley_stt_sink sink;
	pthread_mutex_t mu;    /* guards the fields up to pcm */
	pthread_mutex_t cb_mu; /* held while a sink callback runs, and during feed */
	int refs;
	bool ended;          /* end reported, or being reported */
	bool finished;       /* finish() was called */
	bool in_cb;          /* a partial callback runs on cb_thread */
	pthread_t cb_thread;
	bool pending_cancel; /* cancelled from inside that callback */
	bool final_live, partial_live;
	uint64_t final_id, partial_id;
	/* The strand's own. */
	int16_t *pcm;
	size_t n, cap;
	size_t next_partial; /* samples at which a partial is due */
	size_t last_partial; /* samples in the last partial posted */
	bool overflow_logged;
	bool oom;            /* the utterance could not grow: finish() reports it */
};

enum req_kind { REQ_FINAL, REQ_PARTIAL, REQ_WARM };

/* One request in flight: the pool's callbacks' arg. */
struct req {
	struct parley_stt_job *job; /* a reference; NULL for the warm-up */
	enum req_kind kind;
	long status;
	char ctype[128];
	struct parley_buf answer;
	bool too_big;
	/* The warm-up's outcome (run_blocking, same thread). */
	enum parley_speech_end end;
	enum parley_speech_cause cause;
	char message[256];
	char words[256]; /* the service's words from an error body */
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------ requests */

/* The request for pcm[0..n): a multipart form to the engine's URL. One
 * builder for jobs and the warm-up. On success req owns its parts. */
static int build_request(const struct parley_stt_engine *e, const int16_t *pcm, size_t n,
			 struct parley_http_request *req)
{
	const struct parley_config *cfg = e->cfg;
	uint8_t *wav = NULL;
	size_t wav_len = 0;
	char *body = NULL;
	size_t body_len = 0;
	struct curl_slist *h = NULL;
	char ct[PARLEY_MULTIPART_CT_MAX];
	int rc = parley_wav_encode(pcm, n, RATE, &wav, &wav_len);
	if (rc)
		goto out;
	struct parley_multipart_part parts[4];
	size_t np = 0;
	parts[np++] = (struct parley_multipart_part){ .name = "model", .data = cfg->stt_model,
						      .len = strlen(cfg->stt_model) };
	if (cfg->stt_language[0] && strcmp(cfg->stt_language, "auto") != 0) /* auto: the service detects it */
		parts[np++] = (struct parley_multipart_part){ .name = "language",
							      .data = cfg->stt_language,
							      .len = strlen(cfg->stt_language) };
	parts[np++] = (struct parley_multipart_part){ .name = "response_format", .data = "json",
						      .len = 4 };
	parts[np++] = (struct parley_multipart_part){ .name = "file", .filename = "audio.wav",
						      .content_type = "audio/wav", .data = wav,
						      .len = wav_len };
	rc = parley_multipart_build(parts, np, BODY_MAX, &body, &body_len, ct);
	if (rc)
		goto out;

	char line[PARLEY_MULTIPART_CT_MAX + 32];
	snprintf(line, sizeof line, "Content-Type: %s", ct);
	struct curl_slist *t;
	rc = PARLEY_E_NOMEM;
	if (!(t = curl_slist_append(h, line)))
		goto out;
	h = t;
	if (!(t = curl_slist_append(h, "Accept: application/json")))
		goto out;
	h = t;
	/* No "Expect: 100-continue" round trip before a large upload. */
	if (!(t = curl_slist_append(h, "Expect:")))
		goto out;
	h = t;
	if (cfg->stt_api_key[0]) {
		char auth[300];
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->stt_api_key);
		t = curl_slist_append(h, auth);
		memset(auth, 0, sizeof auth);
		if (!t)
			goto out;
		h = t;
	}
	memset(req, 0, sizeof *req);
	snprintf(req->url, sizeof req->url, "%s", e->url);
	req->headers = h;
	req->body = body;
	req->body_len = body_len;
	long total = cfg->stt_timeout_ms;
	req->connect_timeout_ms = total < 5000 ? total : 5000;
	req->total_timeout_ms = total; /* queue wait included */
	req->total_from_submit = true;
	req->queue_timeout_ms = total;
	h = NULL;
	body = NULL;
	rc = 0;
out:
	curl_slist_free_all(h);
	free(body);
	free(wav);
	return rc;
}

static struct req *req_new(struct parley_stt_job *j, enum req_kind kind)
{
	struct req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->job = j;
	r->kind = kind;
	parley_buf_init(&r->answer, ANSWER_MAX);
	return r;
}

static void req_free(struct req *r)
{
	if (!r)
		return;
	parley_buf_free(&r->answer);
	free(r);
}

static int on_head(void *arg, long status, const char *content_type)
{
	struct req *r = arg;
	r->status = status;
	snprintf(r->ctype, sizeof r->ctype, "%s", content_type ? content_type : "");
	return 0;
}

static int on_body(void *arg, const char *data, size_t len)
{
	struct req *r = arg;
	if (parley_buf_append(&r->answer, data, len) != 0) {
		r->too_big = true;
		return 1; /* stop: the answer is no transcript */
	}
	return 0;
}

/*
 * The outcome of a request that ended: OK with the transcript in text, or
 * ERROR with its cause, the user's message in text and the service's words
 * in words (for the log and the operator).
 */
static enum parley_speech_end outcome(struct req *r, enum parley_speech_end end,
				      enum parley_speech_cause cause, long status,
				      const char *err_body, size_t err_len, char *text, size_t cap,
				      enum parley_speech_cause *out_cause, char *words,
				      size_t words_cap)
{
	words[0] = '\0';
	text[0] = '\0';
	if (end == PARLEY_SPEECH_OK && r->too_big) {
		end = PARLEY_SPEECH_ERROR;
		cause = PARLEY_SPEECH_CAUSE_BROKEN;
		snprintf(words, words_cap, "an answer over %zu bytes", ANSWER_MAX);
	} else if (end == PARLEY_SPEECH_OK) {
		const char *b = parley_buf_str(&r->answer);
		if (parley_transcript_parse(r->ctype, b, r->answer.len, text, cap, &cause, words,
					    words_cap) == 0) {
			*out_cause = PARLEY_SPEECH_CAUSE_NONE;
			return PARLEY_SPEECH_OK;
		}
		end = PARLEY_SPEECH_ERROR;
		status = r->status ? r->status : 200;
	} else if (end == PARLEY_SPEECH_ERROR && err_body && err_len) {
		parley_transcript_service_words(err_body, err_len, 200, words, words_cap);
	}
	*out_cause = cause;
	if (end == PARLEY_SPEECH_ERROR)
		parley_transcript_user_error(cause, status, words, text, cap);
	return end;
}

/* ---------------------------------------------------------------- jobs */

static void job_unref(struct parley_stt_job *j)
{
	pthread_mutex_lock(&j->mu);
	int left = --j->refs;
	pthread_mutex_unlock(&j->mu);
	if (left > 0)
		return;
	pthread_mutex_destroy(&j->mu);
	pthread_mutex_destroy(&j->cb_mu);
	free(j->pcm);
	free(j);
}

/* Reports end; the caller won the claim (set ended under mu). Drops the
 * engine's reference afterwards. */
static void report_end(struct parley_stt_job *j, enum parley_speech_end end,
		       enum parley_speech_cause cause, const char *text)
{
	pthread_mutex_lock(&j->cb_mu);
	j->sink.end(j->sink.arg, end, cause, text);
	pthread_mutex_unlock(&j->cb_mu);
	job_unref(j);
}

/* Claims the right to report end. Returns false when it was already
 * claimed; otherwise takes the live requests' ids to cancel. */
static bool claim_end(struct parley_stt_job *j, uint64_t ids[2], int *nids)
{
	*nids = 0;
	pthread_mutex_lock(&j->mu);
	bool won = !j->ended;
	if (won) {
		j->ended = true;
		if (j->final_live)
			ids[(*nids)++] = j->final_id;
		if (j->partial_live)
			ids[(*nids)++] = j->partial_id;
	}
	pthread_mutex_unlock(&j->mu);
	return won;
}

static void fail_job(struct parley_stt_job *j, enum parley_speech_cause cause)
{
	uint64_t ids[2];
	int nids;
	if (!claim_end(j, ids, &nids))
		return;
	for (int i = 0; i < nids; i++)
		parley_http_cancel(j->e->pool, ids[i]);
	char msg[PARLEY_TRANSCRIPT_USER_MAX + 1];
	parley_transcript_user_error(cause, 0, NULL, msg, sizeof msg);
	report_end(j, PARLEY_SPEECH_ERROR, cause, msg);
}

static void deliver_partial(struct parley_stt_job *j, const char *text)
{
	if (!text[0] || !j->sink.partial)
		return;
	pthread_mutex_lock(&j->cb_mu);
	pthread_mutex_lock(&j->mu);
	bool go = !j->ended && !j->finished;
	if (go) {
		j->in_cb = true;
		j->cb_thread = pthread_self();
	}
	pthread_mutex_unlock(&j->mu);
	bool cancelled = false;
	if (go) {
		j->sink.partial(j->sink.arg, text);
		pthread_mutex_lock(&j->mu);
		j->in_cb = false;
		cancelled = j->pending_cancel;
		j->pending_cancel = false;
		pthread_mutex_unlock(&j->mu);
		/* release() or cancel() from inside the callback: its end is
		 * reported here, after the callback returned. */
		if (cancelled)
			j->sink.end(j->sink.arg, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE, "");
	}
	pthread_mutex_unlock(&j->cb_mu);
	if (cancelled)
		job_unref(j);
}

/* The pool's end for a job's request (pool thread). */
static void on_job_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		       long status, const char *message, const char *err_body, size_t err_len)
{
	struct req *r = arg;
	struct parley_stt_job *j = r->job;
	char text[TRANSCRIPT_MAX];
	char words[256];
	enum parley_speech_cause why = cause;
	enum parley_speech_end got = outcome(r, end, cause, status, err_body, err_len, text,
					     sizeof text, &why, words, sizeof words);
	pthread_mutex_lock(&j->mu);
	if (r->kind == REQ_PARTIAL)
		j->partial_live = false;
	else
		j->final_live = false;
	pthread_mutex_unlock(&j->mu);

	if (r->kind == REQ_PARTIAL) {
		if (got == PARLEY_SPEECH_OK)
			deliver_partial(j, text);
		else if (got == PARLEY_SPEECH_ERROR)
			PARLEY_DEBUG("stt: a partial transcription failed (%s; %s)", message ? message : "",
				     words);
	} else {
		if (got == PARLEY_SPEECH_ERROR)
			PARLEY_WARN("stt: transcription failed: %s (%s%s%s)", text,
				    message ? message : "", words[0] ? "; service: " : "", words);
		uint64_t ids[2];
		int nids;
		if (claim_end(j, ids, &nids)) {
			/* A partial still live at this point was cancelled by finish(). */
			report_end(j, got, got == PARLEY_SPEECH_ERROR ? why : PARLEY_SPEECH_CAUSE_NONE,
				   got == PARLEY_SPEECH_CANCELLED ? "" : text);
		}
	}
	req_free(r);
	job_unref(j);
}

/* Posts pcm[0..n) as a request of kind for j. Returns 0 or the pool's error
 * (no callback then). */
static int post(struct parley_stt_job *j, enum req_kind kind)
{
	struct parley_stt_engine *e = j->e;
	struct parley_http_request req;
	int rc = build_request(e, j->pcm, j->n, &req);
	if (rc)
		return rc;
	struct req *r = req_new(j, kind);
	if (!r) {
		curl_slist_free_all(req.headers);
		free(req.body);
		return PARLEY_E_NOMEM;
	}
	pthread_mutex_lock(&j->mu);
	j->refs++;
	if (kind == REQ_PARTIAL)
		j->partial_live = true;
	else
		j->final_live = true;
	pthread_mutex_unlock(&j->mu);

	const struct parley_http_callbacks cb = { .head = on_head, .body = on_body,
						  .end = on_job_end, .arg = r };
	uint64_t id = 0;
	rc = parley_http_submit(e->lane, &req, &cb, &id);
	pthread_mutex_lock(&j->mu);
	if (rc) {
		j->refs--; /* no callback will come */
		if (kind == REQ_PARTIAL)
			j->partial_live = false;
		else
			j->final_live = false;
	} else if (kind == REQ_PARTIAL && j->partial_live) {
		j->partial_id = id;
	} else if (kind == REQ_FINAL && j->final_live) {
		j->final_id = id;
	}
	pthread_mutex_unlock(&j->mu);
	if (rc)
		req_free(r);
	return rc;
}

static struct parley_stt_job *start(struct parley_stt_engine *e,
				    const struct parley_stt_sink *sink, int *err)
{
	struct parley_stt_job *j = calloc(1, sizeof *j);
	if (!j) {
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	j->e = e;
	j->sink = *sink;
	j->refs = 2; /* the caller's and the engine's (until end) */
	pthread_mutex_init(&j->mu, NULL);
	pthread_mutex_init(&j->cb_mu, NULL);
	size_t step = (size_t)e->cfg->stt_partial_ms * RATE / 1000;
	j->next_partial = e->cfg->stt_partial_ms > 0 ? step : SIZE_MAX;
	return j;
}

static int append(struct parley_stt_job *j, const int16_t *pcm, size_t n)
{
	if (j->n + n > MAX_SAMPLES) {
		if (!j->overflow_logged)
			PARLEY_INFO("stt: utterance over %zu s; only its first %zu s are transcribed",
				    MAX_SAMPLES / RATE, MAX_SAMPLES / RATE);
		j->overflow_logged = true;
		n = MAX_SAMPLES - j->n;
	}
	if (j->n + n > j->cap) {
		size_t cap = j->cap ? j->cap : RATE; /* a second */
		while (cap < j->n + n)
			cap *= 2;
		if (cap > MAX_SAMPLES)
			cap = MAX_SAMPLES;
		int16_t *p = realloc(j->pcm, cap * sizeof *p);
		if (!p)
			return PARLEY_E_NOMEM;
		j->pcm = p;
		j->cap = cap;
	}
	if (n)
		memcpy(j->pcm + j->n, pcm, n * sizeof *pcm);
	j->n += n;
	return 0;
}

static int feed(struct parley_stt_job *j, const int16_t *pcm, size_t n)
{
	if (j->oom)
		return PARLEY_E_NOMEM;
	pthread_mutex_lock(&j->cb_mu);
	pthread_mutex_lock(&j->mu);
	bool closed = j->ended || j->finished;
	bool partial_busy = j->partial_live;
	pthread_mutex_unlock(&j->mu);
	int rc = closed ? PARLEY_E_CLOSED : append(j, pcm, n);
	pthread_mutex_unlock(&j->cb_mu);
	if (rc == PARLEY_E_NOMEM) {
		/* no callback inside feed(): the end (INTERNAL) comes at finish() */
		j->oom = true;
		return rc;
	}
	if (rc)
		return rc;
	if (j->n >= j->next_partial && j->n > j->last_partial && !partial_busy) {
		size_t step = (size_t)j->e->cfg->stt_partial_ms * RATE / 1000;
		j->next_partial = j->n + step;
		j->last_partial = j->n;
		int prc = post(j, REQ_PARTIAL);
		if (prc)
			PARLEY_DEBUG("stt: no partial transcription (%s)", parley_strerror(prc));
	}
	return 0;
}

static void finish(struct parley_stt_job *j)
{
	pthread_mutex_lock(&j->mu);
	bool skip = j->ended || j->finished;
	j->finished = true;
	bool partial = j->partial_live;
	uint64_t pid = j->partial_id;
	pthread_mutex_unlock(&j->mu);
	if (skip)
		return;
	/* Partials never delay the final nor outlive it. */
	if (partial)
		parley_http_cancel(j->e->pool, pid);
	if (j->oom) {
		PARLEY_WARN("stt: out of memory collecting the utterance");
		fail_job(j, PARLEY_SPEECH_CAUSE_INTERNAL);
		return;
	}
	if (j->n == 0) {
		uint64_t ids[2];
		int nids;
		if (claim_end(j, ids, &nids))
			report_end(j, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, "");
		return;
	}
	int rc = post(j, REQ_FINAL);
	if (rc == PARLEY_E_FULL) {
		PARLEY_WARN("stt: the transcription service's queue is full (%d in flight, %d waiting)",
			    j->e->cfg->stt_max_inflight, j->e->cfg->stt_max_queue);
		fail_job(j, PARLEY_SPEECH_CAUSE_BUSY);
	} else if (rc == PARLEY_E_CLOSED) {
		fail_job(j, PARLEY_SPEECH_CAUSE_UNAVAILABLE);
	} else if (rc) {
		PARLEY_WARN("stt: cannot post the utterance (%s)", parley_strerror(rc));
		fail_job(j, PARLEY_SPEECH_CAUSE_INTERNAL);
	}
	/* The post's free of the utterance: nothing reads it any more. */
	free(j->pcm);
	j->pcm = NULL;
	j->cap = 0;
}

static void cancel(struct parley_stt_job *j)
{
	uint64_t ids[2];
	int nids = 0;
	pthread_mutex_lock(&j->mu);
	bool won = !j->ended;
	bool nested = false;
	if (won) {
		j->ended = true;
		if (j->final_live)
			ids[nids++] = j->final_id;
		if (j->partial_live)
			ids[nids++] = j->partial_id;
		nested = j->in_cb && pthread_equal(j->cb_thread, pthread_self());
		if (nested)
			j->pending_cancel = true;
	}
	pthread_mutex_unlock(&j->mu);
	if (!won)
		return;
	for (int i = 0; i < nids; i++)
		parley_http_cancel(j->e->pool, ids[i]); /* the service sees the connection close */
	if (!nested)
		report_end(j, PARLEY_SPEECH_CANCELLED, PARLEY_SPEECH_CAUSE_NONE, "");
}

static void release(struct parley_stt_job *j)
{
	if (!j)
		return;
	cancel(j); /* nothing when end was already reported */
	job_unref(j);
}

/* -------------------------------------------------------------- engine */

static void host_port(const char *url, char *out, size_t cap)
{
	snprintf(out, cap, "%s", "the configured host");
	CURLU *u = curl_url();
	if (!u)
		return;
	char *host = NULL, *port = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		snprintf(out, cap, "%s:%s", host, port);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

static struct parley_stt_engine *create(const struct parley_config *cfg,
					const struct parley_speech_env *env, char *why,
					size_t whylen)
{
	if (!cfg->stt_url[0]) {
		snprintf(why, whylen,
			 "--stt openai needs --stt-url, the transcription service's base URL (for "
			 "example http://127.0.0.1:8000 for speaches, or http://127.0.0.1:8080 with "
			 "--stt-path /inference for whisper.cpp's server)");
		return NULL;
	}
	if (!cfg->stt_model[0]) {
		snprintf(why, whylen, "--stt openai needs --stt-model (whisper-1 for OpenAI)");
		return NULL;
	}
	if (!env || !env->http) {
		snprintf(why, whylen, "--stt openai: no HTTP pool to run requests on");
		return NULL;
	}
	const char *path = cfg->stt_path[0] ? cfg->stt_path : DEFAULT_PATH;
	struct parley_stt_engine *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	int k = snprintf(e->url, sizeof e->url, "%s%s", cfg->stt_url, path);
	if (k < 0 || (size_t)k >= sizeof e->url) {
		snprintf(why, whylen, "--stt-url with --stt-path is longer than %zu bytes",
			 sizeof e->url - 1);
		free(e);
		return NULL;
	}
	e->cfg = cfg;
	e->pool = env->http;
	e->path = path;
	e->warmup_ms = -1;
	host_port(cfg->stt_url, e->hostport, sizeof e->hostport);
	e->lane = parley_http_lane_create(env->http, "stt", cfg->stt_max_inflight, cfg->stt_max_queue);
	if (!e->lane) {
		snprintf(why, whylen, "out of memory");
		free(e);
		return NULL;
	}
	pthread_mutex_init(&e->mu, NULL);
	PARLEY_INFO("stt: transcription service %s (model %s, %d at once, %d waiting, %d ms "
		    "timeout%s%s)",
		    e->url, cfg->stt_model, cfg->stt_max_inflight, cfg->stt_max_queue,
		    cfg->stt_timeout_ms, cfg->stt_partial_ms > 0 ? ", partials" : "",
		    cfg->stt_api_key[0] ? ", with a key" : "");
	return e;
}

static void destroy(struct parley_stt_engine *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->mu);
	free(e);
}

static void on_warm_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
			long status, const char *message, const char *err_body, size_t err_len)
{
	struct req *r = arg;
	r->end = end;
	r->cause = cause;
	if (status)
		r->status = status;
	snprintf(r->message, sizeof r->message, "%s", message ? message : "");
	if (end == PARLEY_SPEECH_ERROR && err_body && err_len)
		parley_transcript_service_words(err_body, err_len, 200, r->words, sizeof r->words);
}

/* A second of a quiet synthetic signal: a soft 220 Hz hum with a little
 * noise, like a silent room (services accept it and answer with few or no
 * words). */
static void quiet_signal(int16_t *pcm, size_t n)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		double noise = (double)((x >> 16) & 0x7fff) / 32767.0 - 0.5;
		pcm[i] = (int16_t)lround(120.0 * sin(2.0 * M_PI * 220.0 * (double)i / RATE) +
					 60.0 * noise);
	}
}

static int warm(struct parley_stt_engine *e, char *why, size_t whylen)
{
	int16_t *pcm = malloc(RATE * sizeof *pcm);
	struct req *r = req_new(NULL, REQ_WARM);
	int rc = PARLEY_E_NOMEM;
	struct parley_http_request req;
	if (pcm && r) {
		quiet_signal(pcm, RATE);
		rc = build_request(e, pcm, RATE, &req);
	}
	if (rc) {
		snprintf(why, whylen, "the transcription engine cannot build a request (%s)",
			 parley_strerror(rc));
		goto out;
	}
	req.abort = &e->abort_warm;
	r->end = PARLEY_SPEECH_ERROR;
	r->cause = PARLEY_SPEECH_CAUSE_INTERNAL;
	const struct parley_http_callbacks cb = { .head = on_head, .body = on_body,
						  .end = on_warm_end, .arg = r };
	double t0 = now_ms();
	parley_http_run_blocking(&req, &cb);
	double ms = now_ms() - t0;
	if (r->end == PARLEY_SPEECH_CANCELLED) {
		snprintf(why, whylen, "the warm-up was stopped");
		rc = -1;
		goto out;
	}

	char text[TRANSCRIPT_MAX];
	char words[256];
	enum parley_speech_cause cause = r->cause;
	enum parley_speech_end got = outcome(r, r->end, r->cause, r->status, NULL, 0, text,
					     sizeof text, &cause, words, sizeof words);
	if (got == PARLEY_SPEECH_OK) {
		pthread_mutex_lock(&e->mu);
		e->warmup_ms = ms;
		pthread_mutex_unlock(&e->mu);
		PARLEY_INFO("stt: transcription service warm: %s at %s answered a 1-second clip in "
			    "%.0f ms (\"%s\")",
			    e->cfg->stt_model, e->hostport, ms, text);
		rc = 0;
		goto out;
	}
	const struct parley_transcript_where w = { .hostport = e->hostport,
						   .path = e->path,
						   .model = e->cfg->stt_model,
						   .has_key = e->cfg->stt_api_key[0] != '\0',
						   .timeout_ms = e->cfg->stt_timeout_ms };
	parley_transcript_operator_error(&w, cause, r->status, r->message,
					 words[0] ? words : r->words, why, whylen);
	rc = -1;
out:
	req_free(r);
	free(pcm);
	return rc ? -1 : 0;
}

static void warm_abort(struct parley_stt_engine *e)
{
	atomic_store(&e->abort_warm, true);
}

static void info(struct parley_stt_engine *e, struct parley_speech_info *out)
{
	snprintf(out->engine, sizeof out->engine, "openai");
	snprintf(out->model, sizeof out->model, "%s", e->cfg->stt_model);
	out->remote = true;
	pthread_mutex_lock(&e->mu);
	out->warmup_ms = e->warmup_ms;
	pthread_mutex_unlock(&e->mu);
}

const struct parley_stt_backend parley_stt_openai = {
	.name = "openai",
	.rate = RATE,
	.create = create,
	.destroy = destroy,
	.warm = warm,
	.warm_abort = warm_abort,
	.info = info,
	.start = start,
	.feed = feed,
	.finish = finish,
	.cancel = cancel,
	.release = release,
};
