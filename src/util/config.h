/*
 * config.h - parley's settings: defaults, PARLEY_* environment variables,
 * then command-line flags (flags win). One table in config.c lists every
 * option once; --help and the README's table are generated from the same
 * names.
 *
 * Threads: parsed once in main() before any thread starts, then read-only.
 */
#ifndef PARLEY_UTIL_CONFIG_H
#define PARLEY_UTIL_CONFIG_H

#include <stdio.h>

#include "util/log.h"

/* --auth-token length: the lower bound keeps it unguessable, the upper one
 * keeps "parley, parley.token.TOKEN" within libwebsockets' 127-byte
 * Sec-WebSocket-Protocol buffer. */
#define PARLEY_AUTH_TOKEN_MIN 16
#define PARLEY_AUTH_TOKEN_MAX 100

struct parley_config {
	char host[256];
	int port;              /* 0..65535; 0 = any free port */
	char web_root[4096];   /* directory served at / */
	int max_sessions;      /* concurrent WebSocket sessions */
	int workers;           /* speech worker threads */
	enum parley_log_level log_level;

	/* shared LLM engine */
	char llm_backend[16];      /* auto, openai, ollama, bedrock, echo */
	char llm_url[512];         /* base URL; "" = none given */
	char llm_model[128];       /* "" = backend's choice */
	char llm_api_key[256];     /* PARLEY_LLM_API_KEY or OPENAI_API_KEY; no flag */
	char system_prompt[4096];  /* file path */
	double llm_temperature;
	int llm_max_tokens;
	int llm_max_inflight;
	int llm_max_queue;
	char llm_keep_alive[32];   /* Ollama keep_alive */
	int llm_connect_timeout_ms;
	int llm_first_token_timeout_ms;
	int llm_stall_timeout_ms;
	int history_tokens;        /* per-session history budget (estimated tokens) */
	char ollama_url[512];      /* where "auto" looks for Ollama */
	char openai_url[512];      /* OpenAI's API when only a key is given */

	/* AWS Bedrock (--llm-backend bedrock); environment only, never flags */
	char aws_region[64];             /* AWS_REGION or AWS_DEFAULT_REGION */
	char aws_access_key_id[128];     /* AWS_ACCESS_KEY_ID */
	char aws_secret_access_key[256]; /* AWS_SECRET_ACCESS_KEY */
	char aws_session_token[4096];    /* AWS_SESSION_TOKEN, optional */
	char aws_bearer_token[4096];     /* AWS_BEARER_TOKEN_BEDROCK: a Bedrock API key */

	/* speech: recognition */
	char stt[16];              /* engine: pocketsphinx, openai */
	char stt_url[512];         /* openai: base URL, trailing / and /v1 removed */
	char stt_model[128];       /* openai: model name */
	char stt_path[256];        /* openai: request path ("" = /v1/audio/transcriptions) */
	char stt_language[16];     /* openai: language code sent with each request */
	char stt_api_key[256];     /* PARLEY_STT_API_KEY or OPENAI_API_KEY; no flag */
	int stt_partial_ms;        /* openai: re-post the growing utterance this often; 0 = off */
	int stt_timeout_ms;        /* openai: whole request, queue wait included */
	int stt_max_inflight;      /* concurrent recognition requests */
	int stt_max_queue;         /* requests waiting beyond those */
	char stt_hmm[1024];        /* pocketsphinx acoustic model */
	char stt_lm[1024];
	char stt_dict[1024];
	int stt_maxhmmpf;
	int stt_fwdflat;           /* 0/1 */
	int stt_bestpath;          /* 0/1 */
	int stt_warm;              /* decoders kept ready */
	int stt_max;               /* decoders at most (memory bound) */
	int stt_wait_ms;           /* an utterance waits this long for a free decoder */
	int speculate;             /* 0/1: start the answer in the user's trailing silence */
	int speculate_ms;          /* trailing silence before a speculative answer starts */
	int false_interruptions_resume; /* 0/1: an onset that was not a turn resumes the answer */
	int turn_merging;          /* 0/1: a turn the user continues before hearing the answer is merged */
	char end_of_turn[8];       /* "model" (text/eot_model.h) or "rules" (text/turn_rules.h) */
	int echo_guard;            /* 0 auto, 1 on, 2 off (enum parley_echo_mode) */
	/* speech: synthesis */
	char tts[16];              /* default backend: flite, espeak, openai */
	char tts_voice[65];        /* default voice ("" = the backend's) */
	double tts_rate;           /* speaking-rate multiplier */
	char tts_url[512];         /* openai: base URL, trailing / and /v1 removed */
	char tts_model[128];       /* openai: model name */
	char tts_format[8];        /* openai: response_format asked for: pcm or wav */
	char tts_api_key[256];     /* PARLEY_TTS_API_KEY or OPENAI_API_KEY; no flag */
	int tts_timeout_ms;        /* openai: until the first audio byte */
	int tts_stall_timeout_ms;  /* openai: longest silence inside a response */
	int tts_max_inflight;      /* concurrent synthesis jobs per engine */
	int tts_max_queue;         /* jobs waiting beyond those */

	/* access control (docs/security.md) */
	char allowed_origins[2048]; /* comma-separated extra Origins for /ws; "*" = any */
	char auth_token[256];       /* "" = none; else /ws requires it (never logged) */
	char tls_cert[1024];        /* PEM certificate chain; "" = plain HTTP */
	char tls_key[1024];         /* PEM private key */
	char admin_host[256];       /* where /metrics and /readyz move with admin_port */
	int admin_port;             /* -1 = served on the main port */

	/* fair limits */
	int max_sessions_per_ip;    /* concurrent sessions from one client address */
	int turns_per_minute;       /* typed + spoken turns per session */
	int ws_ping_interval;       /* seconds between WebSocket pings */
	int idle_timeout;           /* seconds without any traffic (pongs count) */
	int max_queued_mb;          /* server-wide cap on outbound queues, MiB */
	int write_timeout;          /* seconds a queue may wait with nothing written */
};

enum parley_config_result {
	PARLEY_CONFIG_OK = 0,   /* run the server */
	PARLEY_CONFIG_EXIT = 1, /* --help/--version printed: exit 0 */
	PARLEY_CONFIG_ERROR = 2 /* message printed to err: exit 2 */
};

/* Fills *cfg with the built-in defaults. */
void parley_config_defaults(struct parley_config *cfg);

/*
 * Applies environment variables (looked up through getenv_fn, normally
 * getenv) and then argv to *cfg. Help and version go to out, problems to err.
 */
enum parley_config_result parley_config_parse(struct parley_config *cfg, int argc, char **argv,
					      char *(*getenv_fn)(const char *), FILE *out,
					      FILE *err);

#endif
