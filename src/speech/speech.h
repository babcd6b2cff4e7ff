/*
 * speech.h - what speech engines (stt/stt.h, tts/tts.h) have in common: how
 * a job ends, why it failed, and how an engine reports its warm-up.
 *
 * A speech engine is an instance of a backend (an ops table): embedded
 * engines (pocketsphinx, flite, espeak-ng) run their jobs on the worker
 * pool, remote ones (OpenAI-compatible services) on the HTTP pool
 * (net/http.h). Either way a job is started with a sink of callbacks and
 * delivers its results asynchronously; every started job reports exactly
 * one end, after which the engine never touches the sink again.
 *
 * Each engine admits at most its own number of jobs at once and queues a
 * bounded number more, first come first served; beyond that start() fails
 * with PARLEY_E_FULL and the caller tells its user the engine is saturated.
 * A remote STT engine's job makes its request only at finish(): it reports
 * saturation then, as end(ERROR, PARLEY_SPEECH_CAUSE_BUSY).
 *
 * Warm-up: at startup every configured engine runs one short job (a short
 * synthesis, a short transcription) on a warm-up thread, retried with
 * backoff while it fails; its state and measured time go to the log,
 * /metrics (parley_stt_warmup_seconds{engine=...} and
 * parley_tts_warmup_seconds{engine=...}, the last successful warm-up's
 * time; parley_stt_ready{engine=...} and parley_tts_ready{engine=...}, 1
 * when warm), /readyz (component "stt" or "tts", with the reason) and the
 * status message.
 */
#ifndef PARLEY_SPEECH_SPEECH_H
#define PARLEY_SPEECH_SPEECH_H

#include <stdbool.h>

struct parley_workers;
struct parley_http_pool;

/* How a job ended. */
enum parley_speech_end {
	PARLEY_SPEECH_OK = 0,
	PARLEY_SPEECH_CANCELLED, /* the caller cancelled it */
	PARLEY_SPEECH_ERROR,
};

/* Why a job failed (PARLEY_SPEECH_ERROR). */
enum parley_speech_cause {
	PARLEY_SPEECH_CAUSE_NONE = 0,
	PARLEY_SPEECH_CAUSE_BUSY,        /* engine saturated: its queue is full */
	PARLEY_SPEECH_CAUSE_UNAVAILABLE, /* cannot connect, or not warmed */
	PARLEY_SPEECH_CAUSE_TIMEOUT,     /* connect, first byte or stall timeout */
	PARLEY_SPEECH_CAUSE_HTTP,        /* the service answered with an error status */
	PARLEY_SPEECH_CAUSE_BROKEN,      /* connection died or the answer was garbled */
	PARLEY_SPEECH_CAUSE_REFUSED,     /* the engine refused this input (text, voice) */
	PARLEY_SPEECH_CAUSE_INTERNAL,    /* out of memory, engine failure */
	PARLEY_SPEECH_CAUSE_COUNT
};

/* "busy", "unavailable", ...; never NULL. */
const char *parley_speech_cause_name(enum parley_speech_cause c);

enum parley_speech_state {
	PARLEY_SPEECH_WARMING = 0,
	PARLEY_SPEECH_READY,
	PARLEY_SPEECH_UNAVAILABLE, /* warm-up failed; retrying */
};

/* An engine's warm-up, for the log, status and /readyz. Holds nothing a
 * client must not see (no URL, no key). */
struct parley_speech_info {
	enum parley_speech_state state;
	char engine[32];  /* "pocketsphinx", "flite", "openai" */
	char model[128];  /* remote: the model name; "" for embedded */
	char reason[256]; /* why not ready (keys masked) */
	bool remote;
	double warmup_ms; /* the warm-up job's time; < 0 until measured */
};

/* What an engine's create() gets besides the configuration: the shared
 * machinery its jobs run on. Both borrowed; they outlive every engine. */
struct parley_speech_env {
	struct parley_workers *workers; /* embedded engines run their jobs here */
	struct parley_http_pool *http;  /* remote engines' requests; NULL until one exists */
};

enum parley_speech_kind {
	PARLEY_SPEECH_STT = 0,
	PARLEY_SPEECH_TTS,
};

/* "stt", "tts". */
const char *parley_speech_kind_name(enum parley_speech_kind k);
/* "warming", "ready", "unavailable". */
const char *parley_speech_state_name(enum parley_speech_state s);

/*
 * The engines' states, process-wide (like util/readiness.h): the warm-up
 * (speech/warmup.h) adds every engine it warms and updates it as it goes;
 * status messages read them. Thread-safe (one mutex).
 */
/* Adds an engine (info copied). Returns its id (>= 0) or PARLEY_E_FULL. */
int parley_speech_engine_add(enum parley_speech_kind kind, const struct parley_speech_info *info);
void parley_speech_engine_set(int id, const struct parley_speech_info *info);
/* Calls fn for every engine of kind, in the order they were added, with a
 * copy of its info; no lock is held during fn. */
void parley_speech_each_info(enum parley_speech_kind kind,
			     void (*fn)(void *arg, const struct parley_speech_info *info),
			     void *arg);
/* Forgets every engine (shutdown, tests). */
void parley_speech_engines_reset(void);

#endif
