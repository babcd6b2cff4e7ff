/*
 * openai_warm.c - warming the speech service up (see openai.c), on the
 * warm-up thread, with blocking requests:
 *
 *   1. GET {base}/v1/audio/voices, where the service has it: Kokoro-FastAPI
 *      answers {"voices": [{"id": "af_bella", "name": "af_bella"}, ...]}
 *      (?legacy=true and older versions: {"voices": ["af_bella", ...]}),
 *      Orpheus-FastAPI {"status": "ok", "voices": ["tara", ...]}; OpenAI
 *      and openedai-speech answer 404, which is fine. The names go to the
 *      voice allow-list (parley_tts_voices_add()), so clients can pick them.
 *   2. One short synthesis with the default voice, through the same request
 *      builder and callbacks as a session's job, timed.
 *
 * Both requests have a total timeout (2 x --tts-timeout), so a service
 * that sends a byte now and then cannot hold the warm-up, and both are
 * cancelled at once by warm_abort() (shutdown).
 *
 * A failure leaves a sentence for the operator (what is wrong, how to fix
 * it) in why and in the engine's info; the caller retries with backoff.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/svcerr.h"
#include "tts/openai_internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/redact.h"

#define LIST_MAX (256 * 1024) /* bytes of a voice list read */
#define NAMES_MAX 512         /* voices taken from it */
#define PROBE_TEXT "Hello."

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The cause at the end of the HTTP pool's message ("cannot connect to the
 * service at HOST:PORT: Connection refused" -> "Connection refused"): the
 * sentence names the service by its URL, which status messages mask. */
static const char *cause_of(const char *msg)
{
	const char *tail = NULL;
	for (const char *p = strstr(msg, ": "); p; p = strstr(p + 2, ": "))
		tail = p + 2;
	return tail && *tail ? tail : msg;
}

/* ------------------------------------------------------- the voice list */

struct fetch {
	char *buf;
	size_t len;
	bool too_big;
	enum parley_speech_end end;
	enum parley_speech_cause cause;
	long status;
	char message[200];
};

static int fetch_body(void *arg, const char *data, size_t len)
{
	struct fetch *f = arg;
	if (f->len + len > LIST_MAX) {
		f->too_big = true;
		return 1;
	}
	char *p = realloc(f->buf, f->len + len + 1);
	if (!p)
		return 1;
	memcpy(p + f->len, data, len);
	f->buf = p;
	f->len += len;
	p[f->len] = '\0';
	return 0;
}

static void fetch_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		      long status, const char *message, const char *err_body, size_t err_len)
{
	struct fetch *f = arg;
	(void)err_body;
	(void)err_len;
	f->end = end;
	f->cause = cause;
	f->status = status;
	snprintf(f->message, sizeof f->message, "%s", message ? message : "");
}

/* Adds the names of a voice list (see above) to the allow-list; returns
 * how many the service listed, and a few of them in sample. */
static size_t add_listed(const char *body, size_t len, char *sample, size_t cap)
{
	json_t *root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	json_t *list = json_is_array(root) ? root : json_object_get(root, "voices");
	const char *names[NAMES_MAX];
	size_t n = 0, o = 0;
	sample[0] = '\0';
	for (size_t i = 0; i < json_array_size(list) && n < NAMES_MAX; i++) {
		const json_t *v = json_array_get(list, i);
		const char *name = json_string_value(v);
		if (!name)
			name = json_string_value(json_object_get(v, "id"));
		if (!name)
			name = json_string_value(json_object_get(v, "name"));
		if (!name)
			continue;
		names[n++] = name;
		if (o + strlen(name) + 8 < cap)
			o += (size_t)snprintf(sample + o, cap - o, "%s%s", o ? ", " : "", name);
		else if (o && o + 5 < cap && strcmp(sample + o - 3, "...") != 0)
			o += (size_t)snprintf(sample + o, cap - o, ", ...");
	}
	int added = n ? parley_tts_voices_add(&parley_tts_openai, names, n) : 0;
	if (n)
		PARLEY_INFO("tts: the speech service offers %zu voices (%d new to the list): %s", n,
			    added, sample);
	json_decref(root);
	return n;
}

/* Step 1. Returns 0 (listed, or the service has no list), or -1 with a
 * sentence in why (down, key refused: no use trying to synthesise). */
static int list_voices(struct parley_tts_engine *e, char *offered, size_t ocap, char *why,
		       size_t whylen)
{
	const struct parley_config *cfg = e->cfg;
	struct parley_http_request req;
	memset(&req, 0, sizeof req);
	snprintf(req.url, sizeof req.url, "%s", e->voices_url);
	req.method = "GET";
	req.connect_timeout_ms = cfg->tts_timeout_ms;
	req.first_byte_timeout_ms = cfg->tts_timeout_ms;
	req.stall_timeout_ms = cfg->tts_stall_timeout_ms;
	req.total_timeout_ms = 2L * cfg->tts_timeout_ms;
	req.abort = &e->abort_warm;
	if (cfg->tts_api_key[0]) {
		char auth[sizeof cfg->tts_api_key + 32];
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->tts_api_key);
		req.headers = curl_slist_append(NULL, auth);
		memset(auth, 0, sizeof auth);
		if (!req.headers) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
	}
	struct fetch f = { .end = PARLEY_SPEECH_ERROR, .cause = PARLEY_SPEECH_CAUSE_INTERNAL };
	struct parley_http_callbacks cb = { .head = NULL, .body = fetch_body, .end = fetch_end,
					    .arg = &f };
	parley_http_run_blocking(&req, &cb);
	int rc = 0;
	if (f.end == PARLEY_SPEECH_CANCELLED) {
		snprintf(why, whylen, "the warm-up was stopped");
		rc = -1;
	} else if (f.end == PARLEY_SPEECH_OK) {
		if (!add_listed(f.buf ? f.buf : "", f.len, offered, ocap))
			PARLEY_DEBUG("tts: the speech service's voice list names no voice");
		e->voices_listed = true;
	} else if (f.cause == PARLEY_SPEECH_CAUSE_UNAVAILABLE) {
		snprintf(why, whylen, "the speech service at %s is down (%s); start it or fix --tts-url",
			 e->origin, cause_of(f.message));
		rc = -1;
	} else if (f.cause == PARLEY_SPEECH_CAUSE_HTTP && (f.status == 401 || f.status == 403)) {
		snprintf(why, whylen,
			 cfg->tts_api_key[0]
				 ? "the speech service at %s refused the key (HTTP %ld): check "
				   "PARLEY_TTS_API_KEY"
				 : "the speech service at %s wants a key (HTTP %ld): set "
				   "PARLEY_TTS_API_KEY (or OPENAI_API_KEY)",
			 e->origin, f.status);
		rc = -1;
	} else if (f.cause == PARLEY_SPEECH_CAUSE_HTTP) {
		/* 404 (OpenAI, openedai-speech) or another answer: no list, go on */
		PARLEY_DEBUG("tts: no voice list from the speech service (HTTP %ld)", f.status);
		e->voices_listed = f.status == 404 || f.status == 405;
	} else if (f.too_big) {
		PARLEY_WARN("tts: the speech service's voice list is over %d bytes: not used",
			    LIST_MAX);
		e->voices_listed = true;
	} else {
		PARLEY_DEBUG("tts: no voice list from the speech service (%s)", f.message);
	}
	free(f.buf);
	return rc;
}

/* ------------------------------------------------------------ the probe */

struct probe {
	double t0, first_ms;
	uint64_t samples;
	int rate;
	bool ended;
	enum parley_speech_end end;
};

static void probe_audio(void *arg, const int16_t *pcm, size_t n, int rate)
{
	struct probe *p = arg;
	(void)pcm;
	if (!p->samples)
		p->first_ms = now_ms() - p->t0;
	p->samples += n;
	p->rate = rate;
}

static void probe_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		      const char *message)
{
	struct probe *p = arg;
	(void)cause;
	(void)message;
	p->ended = true;
	p->end = end;
}

static bool mentions_voice(const char *s)
{
	for (; *s; s++)
		if (strncasecmp(s, "voice", 5) == 0)
			return true;
	return false;
}

/* The operator's sentence for a failed probe job j. */
static void probe_failure(struct parley_tts_engine *e, const struct parley_tts_job *j,
			  const char *offered, char *why, size_t whylen)
{
	const struct parley_config *cfg = e->cfg;
	long st = j->status;
	switch (j->cause) {
	case PARLEY_SPEECH_CAUSE_HTTP:
		if (st == 401 || st == 403)
			snprintf(why, whylen,
				 cfg->tts_api_key[0]
					 ? "the speech service at %s refused the key (HTTP %ld): check "
					   "PARLEY_TTS_API_KEY"
					 : "the speech service at %s wants a key (HTTP %ld): set "
					   "PARLEY_TTS_API_KEY (or OPENAI_API_KEY)",
				 e->origin, st);
		else if ((st == 400 || st == 404 || st == 422) && mentions_voice(j->detail))
			snprintf(why, whylen,
				 "the speech service does not know voice '%s' (HTTP %ld: %s): set "
				 "--tts-voice%s%s",
				 e->voice, st, j->detail, offered[0] ? " to one of " : "", offered);
		else if (st == 404 || st == 405)
			snprintf(why, whylen,
				 "the speech service at %s has no /v1/audio/speech (HTTP %ld): check "
				 "--tts-url (the base URL, as http://host:port)",
				 e->origin, st);
		else
			snprintf(why, whylen, "the speech service at %s answered HTTP %ld: %s",
				 e->origin, st, j->detail);
		break;
	case PARLEY_SPEECH_CAUSE_UNAVAILABLE:
		snprintf(why, whylen, "the speech service at %s is down (%s); start it or fix --tts-url",
			 e->origin, cause_of(j->detail));
		break;
	case PARLEY_SPEECH_CAUSE_TIMEOUT:
		snprintf(why, whylen, "the speech service at %s is too slow (%s; --tts-timeout %d ms, "
			 "--tts-stall-timeout %d ms)",
			 e->origin, cause_of(j->detail), cfg->tts_timeout_ms,
			 cfg->tts_stall_timeout_ms);
		break;
	case PARLEY_SPEECH_CAUSE_BROKEN:
		if (j->why[0]) {
			snprintf(why, whylen, "the speech service at %s sent audio parley cannot use: %s",
				 e->origin, j->why);
			break;
		}
		snprintf(why, whylen, "the speech service at %s broke off its answer", e->origin);
		break;
	default:
		snprintf(why, whylen, "the speech service at %s failed: %s", e->origin,
			 j->detail[0] ? cause_of(j->detail) : "no reason given");
		break;
	}
}

static void set_state(struct parley_tts_engine *e, enum parley_speech_state state,
		      const char *reason, double ms)
{
	pthread_mutex_lock(&e->lock);
	e->info.state = state;
	parley_redact_cause(reason, strlen(reason), 0, sizeof e->info.reason - 1, e->info.reason,
			    sizeof e->info.reason);
	if (ms >= 0)
		e->info.warmup_ms = ms;
	pthread_mutex_unlock(&e->lock);
}

int parley_openai_tts_warm(struct parley_tts_engine *e, char *why, size_t whylen)
{
	char offered[160] = "";
	char reason[400] = "";
	int rc = -1;
	if (!e->voices_listed && list_voices(e, offered, sizeof offered, reason, sizeof reason) != 0)
		goto out;

	struct probe p = { .t0 = now_ms() };
	struct parley_tts_sink sink = { .audio = probe_audio, .end = probe_end, .arg = &p };
	struct parley_tts_job *j = parley_openai_tts_job_new(e, &sink);
	struct parley_http_request req;
	if (!j || parley_openai_tts_request(e, e->voice, 1.0, PROBE_TEXT, &req) != 0) {
		parley_openai_tts_job_unref(j);
		parley_openai_tts_job_unref(j);
		snprintf(reason, sizeof reason, "out of memory");
		goto out;
	}
	j->warmup = true;
	req.total_timeout_ms = 2L * e->cfg->tts_timeout_ms; /* "Hello." is short */
	req.abort = &e->abort_warm;
	struct parley_http_callbacks cb;
	parley_openai_tts_callbacks(j, &cb);
	parley_http_run_blocking(&req, &cb);
	double total = now_ms() - p.t0;
	if (!p.ended) { /* it never started: the callbacks' reference is still there */
		parley_openai_tts_job_unref(j);
		snprintf(reason, sizeof reason, "the warm-up request could not be made");
	} else if (p.end == PARLEY_SPEECH_CANCELLED) {
		snprintf(reason, sizeof reason, "the warm-up was stopped");
	} else if (p.end != PARLEY_SPEECH_OK) {
		probe_failure(e, j, offered, reason, sizeof reason);
	} else if (p.samples == 0) {
		snprintf(reason, sizeof reason,
			 "the speech service at %s answered with no audio for '%s' in voice %s",
			 e->origin, PROBE_TEXT, e->voice);
	} else {
		PARLEY_INFO("tts: openai speech service warm: first audio %.0f ms, %.0f ms in all "
			    "for %.2f s of audio at %d Hz (model %s, voice %s)",
			    p.first_ms, total, (double)p.samples / p.rate, p.rate,
			    e->cfg->tts_model, e->voice);
		set_state(e, PARLEY_SPEECH_READY, "", total);
		rc = 0;
	}
	parley_openai_tts_job_unref(j);
out:
	if (rc != 0) {
		set_state(e, PARLEY_SPEECH_UNAVAILABLE, reason, -1);
		parley_redact_cause(reason, strlen(reason), 0, whylen - 1, why, whylen);
	}
	return rc;
}

void parley_openai_tts_warm_abort(struct parley_tts_engine *e)
{
	atomic_store(&e->abort_warm, true);
}

void parley_openai_tts_info(struct parley_tts_engine *e, struct parley_speech_info *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->info;
	pthread_mutex_unlock(&e->lock);
}
