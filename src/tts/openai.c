/*
 * openai.c - text-to-speech over HTTP from an OpenAI-compatible speech
 * service: Kokoro-FastAPI, Orpheus-FastAPI, openedai-speech (Coqui XTTS,
 * Piper), OpenAI itself.
 *
 *   POST {base}/v1/audio/speech
 *   {"model": "tts-1", "input": "Hello.", "voice": "af_bella",
 *    "response_format": "pcm", "speed": 1.0}
 *   -> 200, the audio streamed: raw 24 kHz 16-bit mono little-endian PCM
 *      ("pcm"), or a WAV file whose header gives the rate ("wav"; also
 *      accepted when a service ignores response_format, as Orpheus-FastAPI
 *      does: recognised by Content-Type audio/wav or the RIFF magic).
 *
 * One request per sentence on the engine's lane of the shared HTTP pool
 * (at most --tts-max-inflight at once, --tts-max-queue waiting). The body
 * is decoded as it arrives and each chunk's whole samples go to the sink at
 * once. cancel() closes the connection (the service sees the client go and
 * stops synthesising) and end(CANCELLED) follows. Timeouts: --tts-timeout
 * until the first byte (and for a slot in the lane), --tts-stall-timeout
 * between bytes, and the whole answer within OPENAI_SENTENCE_MAX_MS (or 4
 * x --tts-timeout when that is longer), so a service streaming without end
 * cannot hold a slot for ever.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/svcerr.h"
#include "text/speakable.h"
#include "tts/openai_internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/redact.h"

/* ------------------------------------------------------------ requests */

/* The longest a sentence's whole answer may take (see the top). */
static long sentence_max_ms(const struct parley_config *cfg)
{
	long four = 4L * cfg->tts_timeout_ms;
	return four > OPENAI_SENTENCE_MAX_MS ? four : OPENAI_SENTENCE_MAX_MS;
}

int parley_openai_tts_request(struct parley_tts_engine *e, const char *voice, double rate_mult,
			      const char *text, struct parley_http_request *req)
{
	const struct parley_config *cfg = e->cfg;
	memset(req, 0, sizeof *req);
	snprintf(req->url, sizeof req->url, "%s", e->speech_url);
	req->method = "POST";
	req->connect_timeout_ms = cfg->tts_timeout_ms;
	req->first_byte_timeout_ms = cfg->tts_timeout_ms;
	req->stall_timeout_ms = cfg->tts_stall_timeout_ms;
	req->queue_timeout_ms = cfg->tts_timeout_ms;
	req->total_timeout_ms = sentence_max_ms(cfg);

	int rc = PARLEY_E_NOMEM;
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:f}", "model", cfg->tts_model, "input", text,
				 "voice", voice, "response_format", cfg->tts_format, "speed",
				 rate_mult);
	if (!body)
		goto out;
	req->body = json_dumps(body, JSON_COMPACT);
	if (!req->body)
		goto out;
	req->body_len = strlen(req->body);

	char auth[sizeof cfg->tts_api_key + 32];
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h)
		h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
	if (h && cfg->tts_api_key[0]) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->tts_api_key);
		h = curl_slist_append(h, auth);
		memset(auth, 0, sizeof auth);
	}
	if (!h)
		goto out;
	req->headers = h;
	rc = 0;
out:
	json_decref(body);
	if (rc) {
		free(req->body);
		req->body = NULL;
		curl_slist_free_all(req->headers);
		req->headers = NULL;
	}
	return rc;
}

/* ---------------------------------------------------------------- jobs */

struct parley_tts_job *parley_openai_tts_job_new(struct parley_tts_engine *e,
						 const struct parley_tts_sink *sink)
{
	struct parley_tts_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	atomic_init(&j->refs, 2);
	atomic_init(&j->cancelled, false);
	atomic_init(&j->ended, false);
	j->e = e;
	j->sink = *sink;
	j->cause = PARLEY_SPEECH_CAUSE_NONE;
	parley_pcm_stream_init(&j->pcm, PARLEY_PCM_DETECT, OPENAI_RAW_RATE);
	return j;
}

void parley_openai_tts_job_unref(struct parley_tts_job *j)
{
	if (j && atomic_fetch_sub(&j->refs, 1) == 1) {
		parley_pcm_stream_free(&j->pcm);
		free(j);
	}
}

/* A sentence for the user: prefix and detail, keys and URLs masked, at
 * most OPENAI_MSG_MAX bytes. */
static void user_message(char *out, size_t cap, const char *prefix, const char *detail)
{
	char raw[512];
	int n = snprintf(raw, sizeof raw, "%s%s%s", prefix, detail[0] ? ": " : "", detail);
	parley_redact_cause(raw, n < 0 ? 0 : strlen(raw), PARLEY_REDACT_URLS, OPENAI_MSG_MAX, out,
			    cap);
}

static bool is_type(const char *ct, const char *type)
{
	size_t n = strlen(type);
	return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The rate= parameter of a raw PCM Content-Type (audio/pcm, audio/L16),
 * or 0 when there is none or it is not a sane rate. */
static int raw_rate(const char *ct)
{
	if (!is_type(ct, "audio/pcm") && !is_type(ct, "audio/l16"))
		return 0;
	for (const char *p = strchr(ct, ';'); p; p = strchr(p + 1, ';')) {
		const char *q = p + 1;
		while (*q == ' ')
			q++;
		if (strncasecmp(q, "rate=", 5) != 0)
			continue;
		char *end;
		long r = strtol(q + 5, &end, 10);
		return end != q + 5 && r >= 8000 && r <= 192000 ? (int)r : 0;
	}
	return 0;
}

static int on_head(void *arg, long status, const char *content_type)
{
	struct parley_tts_job *j = arg;
	j->status = status;
	if (status < 200 || status > 299)
		return 0; /* the body goes to end */
	static const char *const wav[] = { "audio/wav", "audio/x-wav", "audio/wave",
					   "audio/vnd.wave" };
	for (size_t i = 0; i < sizeof wav / sizeof wav[0]; i++)
		if (is_type(content_type, wav[i]))
			parley_pcm_stream_init(&j->pcm, PARLEY_PCM_WAV, 0);
	/* raw PCM at another rate than OpenAI's 24 kHz says so in its type:
	 * openedai-speech's Piper voices send "audio/pcm;rate=22050" */
	int rate = raw_rate(content_type);
	if (rate)
		parley_pcm_stream_init(&j->pcm, PARLEY_PCM_DETECT, rate);
	/* compressed audio or JSON: a service that ignored response_format */
	static const char *const refused[] = { "audio/mpeg", "audio/mp3",  "audio/opus",
					       "audio/ogg",  "audio/aac",  "audio/flac",
					       "audio/webm", "application/json", "text/" };
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		if (strncasecmp(content_type, refused[i], strlen(refused[i])) == 0) {
			char ct[48];
			parley_redact_cause(content_type, strlen(content_type), 0, 40, ct, sizeof ct);
			snprintf(j->why, sizeof j->why,
				 "it sent %s; parley reads pcm or 16-bit wav (--tts-format)", ct);
			return 1;
		}
	}
	return 0;
}

static int deliver(void *arg, const int16_t *pcm, size_t n, int rate)
{
	struct parley_tts_job *j = arg;
	if (atomic_load(&j->cancelled))
		return 1;
	j->sink.audio(j->sink.arg, pcm, n, rate);
	return 0;
}

static int on_body(void *arg, const char *data, size_t len)
{
	struct parley_tts_job *j = arg;
	if (atomic_load(&j->cancelled))
		return 1; /* stop now: the cancel that follows closes the connection anyway */
	j->bytes += len;
	int rc = parley_pcm_stream_feed(&j->pcm, data, len, deliver, j);
	if (rc == PARLEY_E_INVAL)
		snprintf(j->why, sizeof j->why, "%s", parley_pcm_stream_why(&j->pcm));
	else if (rc == PARLEY_E_NOMEM)
		snprintf(j->why, sizeof j->why, "out of memory");
	return rc != 0;
}

static void on_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		   long status, const char *message, const char *err_body, size_t err_len)
{
	struct parley_tts_job *j = arg;
	char msg[OPENAI_MSG_MAX + 8] = "";
	if (status)
		j->status = status;
	if (atomic_load(&j->cancelled)) {
		end = PARLEY_SPEECH_CANCELLED;
	} else if (j->why[0]) { /* we stopped it: audio we cannot use */
		end = PARLEY_SPEECH_ERROR;
		cause = strcmp(j->why, "out of memory") == 0 ? PARLEY_SPEECH_CAUSE_INTERNAL
							     : PARLEY_SPEECH_CAUSE_BROKEN;
		user_message(msg, sizeof msg, "the speech service's audio is unusable", j->why);
	} else if (end == PARLEY_SPEECH_OK && parley_pcm_stream_finish(&j->pcm) != 0) {
		end = PARLEY_SPEECH_ERROR;
		cause = PARLEY_SPEECH_CAUSE_BROKEN;
		snprintf(j->why, sizeof j->why, "%s", parley_pcm_stream_why(&j->pcm));
		user_message(msg, sizeof msg, "the speech service's audio is unusable", j->why);
	} else if (end == PARLEY_SPEECH_ERROR) {
		char prefix[64];
		if (cause == PARLEY_SPEECH_CAUSE_HTTP) {
			char svc[300];
			parley_service_message(err_body ? err_body : "", err_body ? err_len : 0, svc,
					       sizeof svc);
			parley_redact_cause(svc, strlen(svc), PARLEY_REDACT_URLS, OPENAI_MSG_MAX,
					    j->detail, sizeof j->detail);
			snprintf(prefix, sizeof prefix, "the speech service answered %ld", j->status);
			user_message(msg, sizeof msg, prefix, svc);
		} else {
			/* the pool's message names the service's address: the log and
			 * the operator get it, the user a sentence of our own */
			char own[96];
			const struct parley_config *cfg = j->e->cfg;
			if (cause == PARLEY_SPEECH_CAUSE_TIMEOUT && message &&
			    strstr(message, "did not finish"))
				snprintf(own, sizeof own,
					 "the speech service did not finish the sentence within %ld s",
					 sentence_max_ms(cfg) / 1000);
			else if (cause == PARLEY_SPEECH_CAUSE_TIMEOUT && j->bytes)
				snprintf(own, sizeof own,
					 "the speech service stopped sending for %d ms mid-sentence",
					 cfg->tts_stall_timeout_ms);
			else if (cause == PARLEY_SPEECH_CAUSE_TIMEOUT)
				snprintf(own, sizeof own, "the speech service sent no audio within %d ms",
					 cfg->tts_timeout_ms);
			else
				snprintf(own, sizeof own, "%s",
					 cause == PARLEY_SPEECH_CAUSE_UNAVAILABLE
						 ? "the speech service cannot be reached"
					 : cause == PARLEY_SPEECH_CAUSE_BUSY
						 ? "the speech service is saturated"
					 : cause == PARLEY_SPEECH_CAUSE_BROKEN
						 ? "the speech service's answer broke off mid-sentence"
						 : "speech synthesis failed");
			user_message(msg, sizeof msg, own, "");
			parley_redact_cause(message ? message : "", message ? strlen(message) : 0, 0,
					    OPENAI_MSG_MAX, j->detail, sizeof j->detail);
		}
		if (!j->warmup) /* warm-up failures are the warm-up's to report */
			PARLEY_WARN("tts: a sentence failed (%s): %s",
				    parley_speech_cause_name(cause), j->detail[0] ? j->detail : msg);
	}
	j->cause = end == PARLEY_SPEECH_ERROR ? cause : PARLEY_SPEECH_CAUSE_NONE;
	atomic_store(&j->ended, true);
	j->sink.end(j->sink.arg, end, end == PARLEY_SPEECH_ERROR ? cause : PARLEY_SPEECH_CAUSE_NONE,
		    end == PARLEY_SPEECH_ERROR ? msg : NULL);
	parley_openai_tts_job_unref(j); /* the callbacks' reference */
}

void parley_openai_tts_callbacks(struct parley_tts_job *j, struct parley_http_callbacks *cb)
{
	*cb = (struct parley_http_callbacks){
		.head = on_head, .body = on_body, .end = on_end, .arg = j
	};
}

static struct parley_tts_job *start(struct parley_tts_engine *e, const struct parley_tts_voice *v,
				    double rate_mult, const char *text,
				    const struct parley_tts_sink *sink, int *err)
{
	size_t len = strlen(text);
	if (v->backend != &parley_tts_openai) {
		*err = PARLEY_E_INVAL;
		return NULL;
	}
	if (len == 0 || len > PARLEY_SPEAKABLE_PIECE_MAX || !parley_speakable_check(text, len)) {
		*err = PARLEY_E_RANGE;
		return NULL;
	}
	struct parley_http_request req;
	if (parley_openai_tts_request(e, v->engine, rate_mult, text, &req) != 0) {
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	struct parley_tts_job *j = parley_openai_tts_job_new(e, sink);
	if (!j) {
		free(req.body);
		curl_slist_free_all(req.headers);
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	struct parley_http_callbacks cb;
	parley_openai_tts_callbacks(j, &cb);
	int rc = parley_http_submit(e->lane, &req, &cb, &j->id);
	if (rc != 0) { /* no callback will come: both references are ours */
		parley_pcm_stream_free(&j->pcm);
		free(j);
		*err = rc;
		return NULL;
	}
	return j;
}

static void cancel(struct parley_tts_job *j)
{
	if (atomic_load(&j->ended) || atomic_exchange(&j->cancelled, true))
		return;
	parley_http_cancel(j->e->pool, j->id);
}

static void release(struct parley_tts_job *j)
{
	if (!j)
		return;
	cancel(j);
	parley_openai_tts_job_unref(j);
}

/* -------------------------------------------------------------- engine */

/* scheme://host:port of url (no user, path or query), for the operator. */
static void origin_of(const char *url, char *out, size_t cap)
{
	snprintf(out, cap, "the configured URL");
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		snprintf(out, cap, "%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

static void destroy(struct parley_tts_engine *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static struct parley_tts_engine *create(const struct parley_config *cfg,
					const struct parley_speech_env *env, char *why, size_t whylen)
{
	if (!cfg->tts_url[0]) {
		snprintf(why, whylen,
			 "the openai speech engine needs --tts-url, the speech service's base URL "
			 "(Kokoro-FastAPI: http://localhost:8880, OpenAI: https://api.openai.com)");
		return NULL;
	}
	/* the default voice: --tts-voice when this is the default engine, else "alloy",
	 * which OpenAI, openedai-speech and Kokoro-FastAPI (as af_alloy) all know */
	const char *voice = strcmp(cfg->tts, "openai") == 0 && cfg->tts_voice[0] ? cfg->tts_voice
										   : "alloy";
	struct parley_tts_engine *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	atomic_init(&e->abort_warm, false);
	e->cfg = cfg;
	e->info.state = PARLEY_SPEECH_WARMING;
	e->info.remote = true;
	e->info.warmup_ms = -1;
	snprintf(e->info.engine, sizeof e->info.engine, "openai");
	snprintf(e->info.model, sizeof e->info.model, "%s", cfg->tts_model);
	snprintf(e->info.reason, sizeof e->info.reason, "warming up");
	snprintf(e->voice, sizeof e->voice, "%s", voice);
	origin_of(cfg->tts_url, e->origin, sizeof e->origin);
	if ((size_t)snprintf(e->speech_url, sizeof e->speech_url, "%s/v1/audio/speech",
			     cfg->tts_url) >= sizeof e->speech_url ||
	    (size_t)snprintf(e->voices_url, sizeof e->voices_url, "%s/v1/audio/voices",
			     cfg->tts_url) >= sizeof e->voices_url) {
		snprintf(why, whylen, "--tts-url is too long");
		goto fail;
	}
	const char *names[] = { voice };
	if (strlen(voice) > PARLEY_TTS_NAME_MAX ||
	    (parley_tts_voices_add(&parley_tts_openai, names, 1) == 0 &&
	     parley_tts_voice_lookup(voice, &(struct parley_tts_voice){ 0 }) != 0)) {
		snprintf(why, whylen,
			 "--tts-voice '%s' cannot be used: voice names are at most %d characters of "
			 "A-Z a-z 0-9 _ . -",
			 voice, PARLEY_TTS_NAME_MAX);
		goto fail;
	}
	/* the server's HTTP pool (server.c makes one when a speech service is
	 * configured) */
	e->pool = env ? env->http : NULL;
	if (!e->pool) {
		snprintf(why, whylen, "no HTTP pool for the speech service");
		goto fail;
	}
	e->lane = parley_http_lane_create(e->pool, "tts",
					  cfg->tts_max_inflight > 0 ? cfg->tts_max_inflight : 8,
					  cfg->tts_max_queue);
	if (!e->lane) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	PARLEY_INFO("tts: openai speech service at %s, model %s, voice %s, format %s", e->origin,
		    cfg->tts_model, voice, cfg->tts_format);
	return e;
fail:
	destroy(e);
	return NULL;
}

const struct parley_tts_backend parley_tts_openai = {
	.name = "openai",
	.default_voice = "alloy", /* create() adds it (or --tts-voice) to the list */
	.remote = true,
	.global_init = NULL,
	.list = NULL, /* create() adds the default voice, warm() the service's list */
	.list_variants = NULL,
	.create = create,
	.destroy = destroy,
	.warm = parley_openai_tts_warm,
	.warm_abort = parley_openai_tts_warm_abort,
	.info = parley_openai_tts_info,
	.start = start,
	.cancel = cancel,
	.release = release,
	.synth = NULL,
};
