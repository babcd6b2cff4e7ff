#define _GNU_SOURCE /* sched_getaffinity: the cores we may run on */
#include "util/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PARLEY_DEFAULT_WEB_ROOT
#define PARLEY_DEFAULT_WEB_ROOT "web"
#endif
#ifndef PARLEY_DEFAULT_SYSTEM_PROMPT
#define PARLEY_DEFAULT_SYSTEM_PROMPT "prompts/system.txt"
#endif

enum opt_kind { OPT_STR, OPT_INT, OPT_DOUBLE, OPT_ONOFF, OPT_CUSTOM };

typedef int (*custom_fn)(struct parley_config *cfg, const char *value, char *why, size_t whylen);

struct option_def {
	const char *flag; /* without the leading "--" */
	const char *env;
	const char *arg;  /* metavariable shown in --help */
	const char *help;
	enum opt_kind kind;
	size_t offset;    /* of the field in struct parley_config */
	size_t size;      /* OPT_STR: buffer size */
	double min, max;  /* OPT_INT, OPT_DOUBLE (OPT_ONOFF: an int, 1 or 0) */
	custom_fn custom; /* OPT_CUSTOM */
};

static int set_web_root(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	struct stat st;
	if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "'%s' is not a directory", v);
		return -1;
	}
	char *real = realpath(v, NULL);
	if (!real || strlen(real) >= sizeof cfg->web_root) {
		snprintf(why, whylen, "cannot resolve '%s'", v);
		free(real);
		return -1;
	}
	strcpy(cfg->web_root, real);
	free(real);
	return 0;
}

static int set_file(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	if (access(v, R_OK) != 0) {
		snprintf(why, whylen, "cannot read '%s'", v);
		return -1;
	}
	if (strlen(v) >= sizeof cfg->system_prompt) {
		snprintf(why, whylen, "path too long");
		return -1;
	}
	strcpy(cfg->system_prompt, v);
	return 0;
}

static int set_log_level(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	if (parley_log_level_parse(v, &cfg->log_level) != 0) {
		snprintf(why, whylen, "'%s' is not one of error, warn, info, debug", v);
		return -1;
	}
	return 0;
}

static int set_backend(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	static const char *const names[] = { "auto", "openai", "ollama", "bedrock", "echo" };
	for (size_t i = 0; i < 5; i++) {
		if (strcmp(v, names[i]) == 0) {
			strcpy(cfg->llm_backend, v);
			return 0;
		}
	}
	snprintf(why, whylen, "'%s' is not one of auto, openai, ollama, bedrock, echo", v);
	return -1;
}

/* A base URL: http(s)://..., trailing "/" and "/v1" removed (users paste
 * the OpenAI-style base URL from LM Studio and OpenAI docs). */
static int set_url(char *dst, size_t size, const char *v, char *why, size_t whylen)
{
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
		snprintf(why, whylen, "'%s' is not an http:// or https:// URL", v);
		return -1;
	}
	size_t n = strlen(v);
	if (n >= size) {
		snprintf(why, whylen, "URL too long");
		return -1;
	}
	memcpy(dst, v, n + 1);
	for (;;) {
		n = strlen(dst);
		if (n > 8 && dst[n - 1] == '/')
			dst[n - 1] = '\0';
		else if (n > 11 && strcmp(dst + n - 3, "/v1") == 0)
			dst[n - 3] = '\0';
		else
			break;
	}
	return 0;
}

static int set_llm_url(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	return set_url(cfg->llm_url, sizeof cfg->llm_url, v, why, whylen);
}

static int set_ollama_url(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	return set_url(cfg->ollama_url, sizeof cfg->ollama_url, v, why, whylen);
}

static int set_openai_url(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	return set_url(cfg->openai_url, sizeof cfg->openai_url, v, why, whylen);
}

static int set_tts(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "flite") != 0 && strcmp(v, "espeak") != 0 && strcmp(v, "openai") != 0) {
		snprintf(why, whylen, "'%s' is not one of flite, espeak, openai", v);
		return -1;
	}
	strcpy(cfg->tts, v);
	return 0;
}

/* The index of v among the n names, or -1 with why set to "'v' is not
 * one of a, b, ...". */
static int one_of(const char *v, const char *const *names, int n, char *why, size_t whylen)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(v, names[i]) == 0)
			return i;
	}
	int w = snprintf(why, whylen, "'%s' is not one of ", v);
	for (int i = 0; i < n && w >= 0 && (size_t)w < whylen; i++)
		w += snprintf(why + w, whylen - (size_t)w, "%s%s", i ? ", " : "", names[i]);
	return -1;
}

#define ONE_OF(v, names, why, whylen) one_of(v, names, (int)(sizeof names / sizeof names[0]), why, whylen)

static int set_stt(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	static const char *const names[] = { "pocketsphinx", "openai" };
	if (ONE_OF(v, names, why, whylen) < 0)
		return -1;
	strcpy(cfg->stt, v);
	return 0;
}

static int set_stt_url(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	return set_url(cfg->stt_url, sizeof cfg->stt_url, v, why, whylen);
}

static int set_tts_url(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	return set_url(cfg->tts_url, sizeof cfg->tts_url, v, why, whylen);
}

static int set_stt_path(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);
	if (n == 0 || v[0] != '/' || n >= sizeof cfg->stt_path) {
		snprintf(why, whylen, "'%s' is not a path starting with /", v);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= ' ' || c >= 0x7f) {
			snprintf(why, whylen, "the path has a space or control character");
			return -1;
		}
	}
	strcpy(cfg->stt_path, v);
	return 0;
}

static int set_tts_format(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	static const char *const names[] = { "pcm", "wav" };
	if (ONE_OF(v, names, why, whylen) < 0)
		return -1;
	strcpy(cfg->tts_format, v);
	return 0;
}

static int set_end_of_turn(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	static const char *const names[] = { "model", "rules" };
	if (ONE_OF(v, names, why, whylen) < 0)
		return -1;
	strcpy(cfg->end_of_turn, v);
	return 0;
}

static int set_false_interruptions(struct parley_config *cfg, const char *v, char *why,
				   size_t whylen)
{
	static const char *const names[] = { "resume", "stop" };
	int i = ONE_OF(v, names, why, whylen);
	if (i < 0)
		return -1;
	cfg->false_interruptions_resume = i == 0;
	return 0;
}

static int set_echo_guard(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	static const char *const names[] = { "auto", "on", "off" }; /* enum parley_echo_mode */
	int i = ONE_OF(v, names, why, whylen);
	if (i < 0)
		return -1;
	cfg->echo_guard = i;
	return 0;
}

/* --allowed-origins: comma-separated "*", "null" or http(s)://host[:port]
 * (a trailing "/" is dropped); stored lowercased, without spaces. */
static int set_allowed_origins(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	char out[sizeof cfg->allowed_origins];
	size_t o = 0;
	for (const char *p = v; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		size_t n = (size_t)(e - p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 1 && p[n - 1] == '/')
			n--;
		size_t k = strncasecmp(p, "http://", 7) == 0	 ? 7
			   : strncasecmp(p, "https://", 8) == 0 ? 8
								  : 0;
		bool ok = (n == 1 && *p == '*') || (n == 4 && strncmp(p, "null", 4) == 0) ||
			  (k && n > k);
		for (size_t i = k; ok && k && i < n; i++) {
			char c = p[i];
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
		}
		if (!ok) {
			snprintf(why, whylen,
				 "'%.*s' is not an origin: use *, null or scheme://host[:port] "
				 "(http or https, no path), comma-separated",
				 (int)(n > 200 ? 200 : n), p);
			return -1;
		}
		if (o + n + 2 > sizeof out) {
			snprintf(why, whylen, "the list is too long");
			return -1;
		}
		if (o)
			out[o++] = ',';
		for (size_t i = 0; i < n; i++)
			out[o++] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] - 'A' + 'a') : p[i];
		p = e;
	}
	out[o] = '\0';
	memcpy(cfg->allowed_origins, out, o + 1);
	return 0;
}

/* --auth-token: it travels in a header, a subprotocol name and a URL
 * query, so it is limited to characters valid in all three, and it must be
 * long enough not to be guessed. */
static int set_auth_token(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);
	bool ok = n >= PARLEY_AUTH_TOKEN_MIN && n <= PARLEY_AUTH_TOKEN_MAX;
	for (size_t i = 0; ok && i < n; i++) {
		char c = v[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '.' || c == '_' || c == '~' || c == '-';
	}
	if (!ok) {
		snprintf(why, whylen,
			 "the token must be %d..%d characters of A-Z a-z 0-9 . _ ~ - "
			 "(for example: openssl rand -hex 24)",
			 PARLEY_AUTH_TOKEN_MIN, PARLEY_AUTH_TOKEN_MAX);
		return -1;
	}
	memcpy(cfg->auth_token, v, n + 1);
	return 0;
}

static int set_readable(char *dst, size_t size, const char *v, char *why, size_t whylen)
{
	if (strlen(v) >= size) {
		snprintf(why, whylen, "path too long");
		return -1;
	}
	if (access(v, R_OK) != 0) {
		snprintf(why, whylen, "cannot read '%s': %s", v, strerror(errno));
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

static int set_tls_cert(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	return set_readable(cfg->tls_cert, sizeof cfg->tls_cert, v, why, whylen);
}

static int set_tls_key(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	return set_readable(cfg->tls_key, sizeof cfg->tls_key, v, why, whylen);
}

#define F(field) offsetof(struct parley_config, field)
#define S(field) sizeof(((struct parley_config *)0)->field)

static const struct option_def options[] = {
	{ "host", "PARLEY_HOST", "ADDR", "address to listen on (default 127.0.0.1)", OPT_STR,
	  F(host), S(host), 0, 0, NULL },
	{ "port", "PARLEY_PORT", "N", "TCP port, 0 = any free port (default 8080)", OPT_INT,
	  F(port), 0, 0, 65535, NULL },
	{ "web-root", "PARLEY_WEB_ROOT", "DIR",
	  "serve the browser client from DIR (default: the repository's web/)", OPT_CUSTOM, 0, 0,
	  0, 0, set_web_root },
	{ "max-sessions", "PARLEY_MAX_SESSIONS", "N",
	  "most concurrent WebSocket sessions (default 100)", OPT_INT, F(max_sessions), 0, 1,
	  100000, NULL },
	{ "workers", "PARLEY_WORKERS", "N", "speech worker threads (default: CPU cores)", OPT_INT,
	  F(workers), 0, 1, 256, NULL },
	{ "log-level", "PARLEY_LOG_LEVEL", "LEVEL", "error, warn, info or debug (default info)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_log_level },
	{ "llm-backend", "PARLEY_LLM_BACKEND", "NAME",
	  "auto, openai, ollama or echo (default auto)", OPT_CUSTOM, 0, 0, 0, 0, set_backend },
	{ "llm-url", "PARLEY_LLM_URL", "URL",
	  "LLM server base URL; a trailing /v1 is accepted (default: auto)", OPT_CUSTOM, 0, 0, 0,
	  0, set_llm_url },
	{ "llm-model", "PARLEY_LLM_MODEL", "NAME",
	  "model name (default: ollama llama3.2, openai gpt-4o-mini, else the server's first)",
	  OPT_STR, F(llm_model), S(llm_model), 0, 0, NULL },
	{ "system-prompt", "PARLEY_SYSTEM_PROMPT", "FILE",
	  "system prompt file (default: prompts/system.txt)", OPT_CUSTOM, 0, 0, 0, 0, set_file },
	{ "llm-temperature", "PARLEY_LLM_TEMPERATURE", "T", "sampling temperature 0..2 (default 0.7)",
	  OPT_DOUBLE, F(llm_temperature), 0, 0, 2, NULL },
	{ "llm-max-tokens", "PARLEY_LLM_MAX_TOKENS", "N",
	  "longest answer in tokens (default 300)", OPT_INT, F(llm_max_tokens), 0, 1, 32768, NULL },
	{ "llm-max-inflight", "PARLEY_LLM_MAX_INFLIGHT", "N",
	  "concurrent requests to the LLM (default 4)", OPT_INT, F(llm_max_inflight), 0, 1, 1024,
	  NULL },
	{ "llm-max-queue", "PARLEY_LLM_MAX_QUEUE", "N",
	  "turns waiting for an LLM slot before llm_busy (default 64)", OPT_INT, F(llm_max_queue),
	  0, 0, 100000, NULL },
	{ "llm-keep-alive", "PARLEY_LLM_KEEP_ALIVE", "DUR",
	  "Ollama keep_alive: -1 keeps the model loaded (default -1)", OPT_STR,
	  F(llm_keep_alive), S(llm_keep_alive), 0, 0, NULL },
	{ "llm-connect-timeout", "PARLEY_LLM_CONNECT_TIMEOUT", "MS",
	  "connect timeout (default 5000)", OPT_INT, F(llm_connect_timeout_ms), 0, 100, 600000,
	  NULL },
	{ "llm-first-token-timeout", "PARLEY_LLM_FIRST_TOKEN_TIMEOUT", "MS",
	  "time allowed until the first token (default 30000)", OPT_INT,
	  F(llm_first_token_timeout_ms), 0, 100, 3600000, NULL },
	{ "llm-stall-timeout", "PARLEY_LLM_STALL_TIMEOUT", "MS",
	  "longest silence inside an answer (default 15000)", OPT_INT, F(llm_stall_timeout_ms), 0,
	  100, 3600000, NULL },
	{ "history-tokens", "PARLEY_HISTORY_TOKENS", "N",
	  "per-session history budget, oldest turns dropped first (default 3000)", OPT_INT,
	  F(history_tokens), 0, 100, 1000000, NULL },
	{ "ollama-url", "PARLEY_OLLAMA_URL", "URL",
	  "where auto looks for Ollama (default http://127.0.0.1:11434)", OPT_CUSTOM, 0, 0, 0, 0,
	  set_ollama_url },
	{ "openai-url", "PARLEY_OPENAI_URL", "URL",
	  "OpenAI API used when only a key is set (default https://api.openai.com)", OPT_CUSTOM,
	  0, 0, 0, 0, set_openai_url },
	{ "stt", "PARLEY_STT", "NAME",
	  "speech recogniser: pocketsphinx (embedded) or openai (an OpenAI-compatible "
	  "transcription service; default pocketsphinx)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_stt },
	{ "stt-url", "PARLEY_STT_URL", "URL",
	  "transcription service base URL; a trailing /v1 is accepted", OPT_CUSTOM, 0, 0, 0, 0,
	  set_stt_url },
	{ "stt-model", "PARLEY_STT_MODEL", "NAME",
	  "transcription model name (default whisper-1)", OPT_STR, F(stt_model), S(stt_model), 0,
	  0, NULL },
	{ "stt-path", "PARLEY_STT_PATH", "PATH",
	  "transcription request path (default /v1/audio/transcriptions; whisper.cpp: /inference)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_stt_path },
	{ "stt-language", "PARLEY_STT_LANGUAGE", "CODE",
	  "language sent to the transcription service; auto lets it detect (default en)", OPT_STR, F(stt_language),
	  S(stt_language), 0, 0, NULL },
	{ "stt-partial-ms", "PARLEY_STT_PARTIAL_MS", "MS",
	  "re-post the growing utterance for partial transcripts this often; 0 = off (default 0)",
	  OPT_INT, F(stt_partial_ms), 0, 0, 60000, NULL },
	{ "stt-timeout", "PARLEY_STT_TIMEOUT", "MS",
	  "longest a transcription may take, waiting included (default 15000)", OPT_INT,
	  F(stt_timeout_ms), 0, 100, 600000, NULL },
	{ "stt-max-inflight", "PARLEY_STT_MAX_INFLIGHT", "N",
	  "concurrent transcription requests (default 4)", OPT_INT, F(stt_max_inflight), 0, 1,
	  1024, NULL },
	{ "stt-max-queue", "PARLEY_STT_MAX_QUEUE", "N",
	  "transcriptions waiting for a slot before the service counts as saturated (default 16)",
	  OPT_INT, F(stt_max_queue), 0, 0, 100000, NULL },
	{ "stt-hmm", "PARLEY_STT_HMM", "DIR", "pocketsphinx acoustic model directory", OPT_STR,
	  F(stt_hmm), S(stt_hmm), 0, 0, NULL },
	{ "stt-lm", "PARLEY_STT_LM", "FILE", "pocketsphinx language model", OPT_STR, F(stt_lm),
	  S(stt_lm), 0, 0, NULL },
	{ "stt-dict", "PARLEY_STT_DICT", "FILE", "pocketsphinx pronunciation dictionary", OPT_STR,
	  F(stt_dict), S(stt_dict), 0, 0, NULL },
	{ "stt-maxhmmpf", "PARLEY_STT_MAXHMMPF", "N",
	  "pocketsphinx -maxhmmpf: lower is faster, less exact (default 3000)", OPT_INT,
	  F(stt_maxhmmpf), 0, -1, 1000000, NULL },
	{ "stt-fwdflat", "PARLEY_STT_FWDFLAT", "0|1",
	  "pocketsphinx second (flat) pass: 1 is slower, rarely better (default 0)", OPT_INT,
	  F(stt_fwdflat), 0, 0, 1, NULL },
	{ "stt-bestpath", "PARLEY_STT_BESTPATH", "0|1",
	  "pocketsphinx lattice best path: 1 adds end latency (default 0)", OPT_INT,
	  F(stt_bestpath), 0, 0, 1, NULL },
	{ "stt-warm", "PARLEY_STT_WARM", "N",
	  "speech decoders kept ready, ~93 MB each (default 2)", OPT_INT, F(stt_warm), 0, 0, 256,
	  NULL },
	{ "stt-max", "PARLEY_STT_MAX", "N",
	  "most decoders at once = users speaking at the same moment (default 16)", OPT_INT,
	  F(stt_max), 0, 1, 1024, NULL },
	{ "stt-wait-ms", "PARLEY_STT_WAIT_MS", "MS",
	  "longest an utterance waits for a free decoder, its audio kept and decoded late; "
	  "then overloaded (default 10000)",
	  OPT_INT, F(stt_wait_ms), 0, 100, 600000, NULL },
	{ "speculate", "PARLEY_SPECULATE", "on|off",
	  "start the answer in the user's trailing silence, held silent until the turn is "
	  "confirmed (default on)",
	  OPT_ONOFF, F(speculate), 0, 0, 0, NULL },
	{ "turn-merging", "PARLEY_TURN_MERGING", "on|off",
	  "when the user goes on before hearing any of the answer, withdraw it and answer the "
	  "whole turn once (default on)",
	  OPT_ONOFF, F(turn_merging), 0, 0, 0, NULL },
	{ "speculate-ms", "PARLEY_SPECULATE_MS", "MS",
	  "trailing silence after which a speculative answer starts (default 100)", OPT_INT,
	  F(speculate_ms), 0, 20, 5000, NULL },
	{ "end-of-turn", "PARLEY_END_OF_TURN", "model|rules",
	  "what ends a spoken turn: model (scores the words with the recogniser's language "
	  "model; waits long when unsure) or rules (the word lists alone; default model)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_end_of_turn },
	{ "false-interruptions", "PARLEY_FALSE_INTERRUPTIONS", "resume|stop",
	  "a speech onset over an answer stops its audio; resume: if the sound was no turn (no "
	  "words, or only \"mhm\", \"yeah\", ...) the answer goes on where the user stopped "
	  "hearing it; stop: every onset ends the answer (default resume)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_false_interruptions },
	{ "echo-guard", "PARLEY_ECHO_GUARD", "auto|on|off",
	  "cancel the assistant's echo in the microphone: auto = unless the client says it "
	  "cancels echo itself (session.config echo_cancelled) (default off)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_echo_guard },
	{ "tts", "PARLEY_TTS", "NAME",
	  "default speech synthesiser: flite, espeak or openai (an OpenAI-compatible speech "
	  "service; default flite)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_tts },
	{ "tts-voice", "PARLEY_TTS_VOICE", "NAME",
	  "default voice: flite slt rms awb kal16, espeak en-us en-gb ... (default slt / en-us)",
	  OPT_STR, F(tts_voice), S(tts_voice), 0, 0, NULL },
	{ "tts-rate", "PARLEY_TTS_RATE", "X", "speaking-rate multiplier 0.5..2 (default 1)",
	  OPT_DOUBLE, F(tts_rate), 0, 0.5, 2.0, NULL },
	{ "tts-url", "PARLEY_TTS_URL", "URL",
	  "speech service base URL; a trailing /v1 is accepted", OPT_CUSTOM, 0, 0, 0, 0,
	  set_tts_url },
	{ "tts-model", "PARLEY_TTS_MODEL", "NAME", "speech model name (default tts-1)", OPT_STR,
	  F(tts_model), S(tts_model), 0, 0, NULL },
	{ "tts-format", "PARLEY_TTS_FORMAT", "FMT",
	  "audio asked of the speech service: pcm (24 kHz) or wav (default pcm)", OPT_CUSTOM, 0,
	  0, 0, 0, set_tts_format },
	{ "tts-timeout", "PARLEY_TTS_TIMEOUT", "MS",
	  "time allowed until a sentence's first audio (default 10000)", OPT_INT,
	  F(tts_timeout_ms), 0, 100, 600000, NULL },
	{ "tts-stall-timeout", "PARLEY_TTS_STALL_TIMEOUT", "MS",
	  "longest silence inside a sentence's audio (default 5000)", OPT_INT,
	  F(tts_stall_timeout_ms), 0, 100, 600000, NULL },
	{ "tts-max-inflight", "PARLEY_TTS_MAX_INFLIGHT", "N",
	  "concurrent synthesis jobs per engine (default: workers for embedded, 8 for openai)",
	  OPT_INT, F(tts_max_inflight), 0, 1, 1024, NULL },
	{ "tts-max-queue", "PARLEY_TTS_MAX_QUEUE", "N",
	  "synthesis jobs waiting for a slot before the engine counts as saturated (default 64)",
	  OPT_INT, F(tts_max_queue), 0, 0, 100000, NULL },
	{ "allowed-origins", "PARLEY_ALLOWED_ORIGINS", "LIST",
	  "comma-separated origins (https://host:port) allowed on /ws besides this server's own "
	  "and loopback ones; * = any",
	  OPT_CUSTOM, 0, 0, 0, 0, set_allowed_origins },
	{ "auth-token", "PARLEY_AUTH_TOKEN", "TOKEN",
	  "require this token on /ws, 16..100 of A-Za-z0-9._~- (prefer the environment variable: "
	  "argv is public)",
	  OPT_CUSTOM, 0, 0, 0, 0, set_auth_token },
	{ "tls-cert", "PARLEY_TLS_CERT", "FILE",
	  "serve HTTPS/WSS with this PEM certificate chain (needs --tls-key)", OPT_CUSTOM, 0, 0, 0,
	  0, set_tls_cert },
	{ "tls-key", "PARLEY_TLS_KEY", "FILE", "the unencrypted PEM private key for --tls-cert",
	  OPT_CUSTOM, 0, 0, 0, 0, set_tls_key },
	{ "admin-host", "PARLEY_ADMIN_HOST", "ADDR",
	  "address for --admin-port (default 127.0.0.1)", OPT_STR, F(admin_host), S(admin_host),
	  0, 0, NULL },
	{ "admin-port", "PARLEY_ADMIN_PORT", "N",
	  "serve /metrics and /readyz only on this plain-HTTP port, 0 = any free; -1 = on the "
	  "main port (default -1)",
	  OPT_INT, F(admin_port), 0, -1, 65535, NULL },
	{ "max-sessions-per-ip", "PARLEY_MAX_SESSIONS_PER_IP", "N",
	  "concurrent sessions from one client address, IPv6 by /64 (default 16)", OPT_INT,
	  F(max_sessions_per_ip), 0, 1, 100000, NULL },
	{ "turns-per-minute", "PARLEY_TURNS_PER_MINUTE", "N",
	  "typed and spoken turns a session may start per minute, a quarter of it at once (default 20)", OPT_INT,
	  F(turns_per_minute), 0, 1, 100000, NULL },
	{ "ws-ping-interval", "PARLEY_WS_PING_INTERVAL", "S",
	  "ping a WebSocket client silent this many seconds (default 20)", OPT_INT,
	  F(ws_ping_interval), 0, 1, 3600, NULL },
	{ "idle-timeout", "PARLEY_IDLE_TIMEOUT", "S",
	  "close a WebSocket silent this long, pongs included; more than the ping interval "
	  "(default 60)",
	  OPT_INT, F(idle_timeout), 0, 2, 65535, NULL },
	{ "max-queued-mb", "PARLEY_MAX_QUEUED_MB", "N",
	  "server-wide budget for messages queued to clients that have not read them, MiB "
	  "(default 256)", OPT_INT,
	  F(max_queued_mb), 0, 1, 1048576, NULL },
	{ "write-timeout", "PARLEY_WRITE_TIMEOUT", "S",
	  "close a WebSocket client that has messages waiting and has read nothing for this "
	  "long; what it sends does not count (default 20)",
	  OPT_INT, F(write_timeout), 0, 1, 3600, NULL },
};
#define NOPTIONS (sizeof options / sizeof options[0])

void parley_config_defaults(struct parley_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	strcpy(cfg->host, "127.0.0.1");
	cfg->port = 8080;
	snprintf(cfg->web_root, sizeof cfg->web_root, "%s", PARLEY_DEFAULT_WEB_ROOT);
	cfg->max_sessions = 100;
	/* the cores this process may run on (taskset), else those online */
	cpu_set_t cpus;
	long ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 0;
	if (ncpu <= 0)
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = ncpu > 0 ? (int)(ncpu > 256 ? 256 : ncpu) : 2;
	cfg->log_level = PARLEY_LOG_INFO;
	strcpy(cfg->llm_backend, "auto");
	snprintf(cfg->system_prompt, sizeof cfg->system_prompt, "%s", PARLEY_DEFAULT_SYSTEM_PROMPT);
	cfg->llm_temperature = 0.7;
	cfg->llm_max_tokens = 300;
	cfg->llm_max_inflight = 4;
	cfg->llm_max_queue = 64;
	strcpy(cfg->llm_keep_alive, "-1");
	cfg->llm_connect_timeout_ms = 5000;
	cfg->llm_first_token_timeout_ms = 30000;
	cfg->llm_stall_timeout_ms = 15000;
	cfg->history_tokens = 3000;
	strcpy(cfg->ollama_url, "http://127.0.0.1:11434");
	strcpy(cfg->openai_url, "https://api.openai.com");
	strcpy(cfg->stt, "pocketsphinx");
	strcpy(cfg->stt_model, "whisper-1");
	strcpy(cfg->stt_language, "en");
	cfg->stt_timeout_ms = 15000;
	cfg->stt_max_inflight = 4;
	cfg->stt_max_queue = 16;
	strcpy(cfg->stt_hmm, "/usr/share/pocketsphinx/model/en-us/en-us");
	strcpy(cfg->stt_lm, "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin");
	strcpy(cfg->stt_dict, "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict");
	cfg->stt_maxhmmpf = 3000;
	cfg->stt_fwdflat = 0;
	cfg->stt_bestpath = 0;
	cfg->stt_warm = 2;
	cfg->stt_max = 16;
	cfg->stt_wait_ms = 10000;
	cfg->speculate = 1;
	cfg->turn_merging = 1;
	cfg->speculate_ms = 100;
	cfg->false_interruptions_resume = 1;
	/* off until it stops gating a near end that has no echo at all
	 * (docs/performance.md, "Echo guard") */
	cfg->echo_guard = 2; /* PARLEY_ECHO_OFF */
	strcpy(cfg->end_of_turn, "model");
	strcpy(cfg->tts, "flite");
	cfg->tts_rate = 1.0;
	strcpy(cfg->tts_model, "tts-1");
	strcpy(cfg->tts_format, "pcm");
	cfg->tts_timeout_ms = 10000;
	cfg->tts_stall_timeout_ms = 5000;
	cfg->tts_max_inflight = 0; /* 0: chosen per engine (see --help) */
	cfg->tts_max_queue = 64;
	strcpy(cfg->admin_host, "127.0.0.1");
	cfg->admin_port = -1;
	cfg->max_sessions_per_ip = 16;
	cfg->turns_per_minute = 20;
	cfg->ws_ping_interval = 20;
	cfg->idle_timeout = 60;
	cfg->max_queued_mb = 256;
	cfg->write_timeout = 20;
}

static void print_help(FILE *out)
{
	fprintf(out,
		"parley %s - real-time voice chat server\n\n"
		"usage: parley [options]\n\n"
		"Every option can also be set with the environment variable shown;\n"
		"a command-line flag overrides the variable. The LLM API key is read from\n"
		"PARLEY_LLM_API_KEY or OPENAI_API_KEY only (never a flag: argv is public);\n"
		"the speech services' keys from PARLEY_STT_API_KEY / PARLEY_TTS_API_KEY (else\n"
		"OPENAI_API_KEY); Bedrock's from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
		"AWS_SESSION_TOKEN or AWS_BEARER_TOKEN_BEDROCK, its region from AWS_REGION.\n\n",
		PARLEY_VERSION);
	for (size_t i = 0; i < NOPTIONS; i++) {
		char left[64];
		snprintf(left, sizeof left, "--%s %s", options[i].flag, options[i].arg);
		fprintf(out, "  %-30s %-31s %s\n", left, options[i].env, options[i].help);
	}
	fprintf(out, "  %-30s %-31s %s\n", "--help", "", "show this help and exit");
	fprintf(out, "  %-30s %-31s %s\n", "--version", "", "show the version and exit");
}

static int apply(struct parley_config *cfg, const struct option_def *o, const char *v, char *why,
		 size_t whylen)
{
	char *base = (char *)cfg;
	char *end;
	switch (o->kind) {
	case OPT_STR:
		if (!*v || strlen(v) >= o->size) {
			snprintf(why, whylen, "must be 1..%zu characters", o->size - 1);
			return -1;
		}
		memcpy(base + o->offset, v, strlen(v) + 1);
		return 0;
	case OPT_INT: {
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || end == v || *end != '\0') {
			snprintf(why, whylen, "'%s' is not an integer", v);
			return -1;
		}
		if (n < (long)o->min || n > (long)o->max) {
			snprintf(why, whylen, "%ld is outside %ld..%ld", n, (long)o->min, (long)o->max);
			return -1;
		}
		*(int *)(void *)(base + o->offset) = (int)n;
		return 0;
	}
	case OPT_DOUBLE: {
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end != '\0' || !isfinite(d)) {
			snprintf(why, whylen, "'%s' is not a number", v);
			return -1;
		}
		if (d < o->min || d > o->max) {
			snprintf(why, whylen, "%g is outside %g..%g", d, o->min, o->max);
			return -1;
		}
		*(double *)(void *)(base + o->offset) = d;
		return 0;
	}
	case OPT_ONOFF:
		if (strcmp(v, "on") == 0 || strcmp(v, "1") == 0) {
			*(int *)(base + o->offset) = 1;
		} else if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0) {
			*(int *)(base + o->offset) = 0;
		} else {
			snprintf(why, whylen, "'%s' is not one of on, off", v);
			return -1;
		}
		return 0;
	case OPT_CUSTOM:
		return o->custom(cfg, v, why, whylen);
	}
	return -1;
}

static const struct option_def *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (strlen(options[i].flag) == len && strncmp(options[i].flag, name, len) == 0)
			return &options[i];
	}
	return NULL;
}

enum parley_config_result parley_config_parse(struct parley_config *cfg, int argc, char **argv,
					      char *(*getenv_fn)(const char *), FILE *out,
					      FILE *err)
{
	char why[512];

	for (size_t i = 0; i < NOPTIONS; i++) {
		const char *v = getenv_fn ? getenv_fn(options[i].env) : NULL;
		if (v && apply(cfg, &options[i], v, why, sizeof why) != 0) {
			fprintf(err, "parley: invalid %s: %s\n", options[i].env, why);
			return PARLEY_CONFIG_ERROR;
		}
	}
	/* Secrets: environment only (argv is public). The first variable set
	 * and not empty wins; a value too long for its field is ignored. */
	static const struct {
		const char *env[2];
		size_t offset, size;
	} secrets[] = {
		{ { "PARLEY_LLM_API_KEY", "OPENAI_API_KEY" }, F(llm_api_key), S(llm_api_key) },
		{ { "PARLEY_STT_API_KEY", "OPENAI_API_KEY" }, F(stt_api_key), S(stt_api_key) },
		{ { "PARLEY_TTS_API_KEY", "OPENAI_API_KEY" }, F(tts_api_key), S(tts_api_key) },
		{ { "AWS_REGION", "AWS_DEFAULT_REGION" }, F(aws_region), S(aws_region) },
		{ { "AWS_ACCESS_KEY_ID", NULL }, F(aws_access_key_id), S(aws_access_key_id) },
		{ { "AWS_SECRET_ACCESS_KEY", NULL }, F(aws_secret_access_key),
		  S(aws_secret_access_key) },
		{ { "AWS_SESSION_TOKEN", NULL }, F(aws_session_token), S(aws_session_token) },
		{ { "AWS_BEARER_TOKEN_BEDROCK", NULL }, F(aws_bearer_token), S(aws_bearer_token) },
	};
	for (size_t i = 0; getenv_fn && i < sizeof secrets / sizeof secrets[0]; i++) {
		for (size_t k = 0; k < 2 && secrets[i].env[k]; k++) {
			const char *v = getenv_fn(secrets[i].env[k]);
			if (v && *v) {
				if (strlen(v) < secrets[i].size)
					strcpy((char *)cfg + secrets[i].offset, v);
				break;
			}
		}
	}

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			print_help(out);
			return PARLEY_CONFIG_EXIT;
		}
		if (strcmp(a, "--version") == 0) {
			fprintf(out, "parley %s\n", PARLEY_VERSION);
			return PARLEY_CONFIG_EXIT;
		}
		if (strncmp(a, "--", 2) != 0) {
			fprintf(err, "parley: unexpected argument '%s' (see --help)\n", a);
			return PARLEY_CONFIG_ERROR;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct option_def *o = find_flag(name, nlen);
		if (!o) {
			fprintf(err, "parley: unknown option '%.*s' (see --help)\n", (int)(nlen + 2), a);
			return PARLEY_CONFIG_ERROR;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (!value) {
			if (i + 1 >= argc) {
				fprintf(err, "parley: --%s needs a value (%s)\n", o->flag, o->arg);
				return PARLEY_CONFIG_ERROR;
			}
			value = argv[++i];
		}
		if (apply(cfg, o, value, why, sizeof why) != 0) {
			fprintf(err, "parley: invalid --%s: %s\n", o->flag, why);
			return PARLEY_CONFIG_ERROR;
		}
	}

	/* Defaults that name files are checked here so a broken install fails fast. */
	if (set_web_root(cfg, cfg->web_root, why, sizeof why) != 0) {
		fprintf(err, "parley: web root: %s (use --web-root)\n", why);
		return PARLEY_CONFIG_ERROR;
	}
	if (cfg->stt_max < cfg->stt_warm)
		cfg->stt_max = cfg->stt_warm;
	if (strcmp(cfg->stt, "openai") == 0 && !cfg->stt_url[0]) {
		fprintf(err, "parley: --stt openai needs --stt-url, the transcription service's base "
			     "URL (speaches: http://127.0.0.1:8000; whisper.cpp's server: "
			     "http://127.0.0.1:8080 with --stt-path /inference)\n");
		return PARLEY_CONFIG_ERROR;
	}
	const char *model_files[] = { cfg->stt_lm, cfg->stt_dict };
	for (size_t i = 0; strcmp(cfg->stt, "pocketsphinx") == 0 && i < 2; i++) {
		if (access(model_files[i], R_OK) != 0) {
			fprintf(err, "parley: cannot read speech model file '%s' (install "
				     "pocketsphinx-en-us, or see --stt-hmm/--stt-lm/--stt-dict)\n",
				model_files[i]);
			return PARLEY_CONFIG_ERROR;
		}
	}
	if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
		fprintf(err, "parley: TLS needs both --tls-cert and --tls-key\n");
		return PARLEY_CONFIG_ERROR;
	}
	if (cfg->idle_timeout <= cfg->ws_ping_interval) {
		fprintf(err,
			"parley: --idle-timeout (%d) must be longer than --ws-ping-interval (%d), "
			"so a ping can be answered\n",
			cfg->idle_timeout, cfg->ws_ping_interval);
		return PARLEY_CONFIG_ERROR;
	}
	if (cfg->admin_port > 0 && cfg->admin_port == cfg->port) {
		fprintf(err, "parley: --admin-port must differ from --port\n");
		return PARLEY_CONFIG_ERROR;
	}
	if (access(cfg->system_prompt, R_OK) != 0) {
		fprintf(err, "parley: cannot read system prompt '%s' (use --system-prompt)\n",
			cfg->system_prompt);
		return PARLEY_CONFIG_ERROR;
	}
	return PARLEY_CONFIG_OK;
}
