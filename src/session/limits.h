/*
 * limits.h - what one session may hold and do, sized from what a real
 * conversation needs, and the server-wide budget for queued output.
 *
 * Out-queue (per session). A client reads as it plays or faster, so the
 * most it ever legitimately has queued is one whole answer's audio. The
 * longest answer is --llm-max-tokens tokens of about PARLEY_CHARS_PER_TOKEN
 * characters, spoken at PARLEY_SLOWEST_CHARS_PER_S (flite's rms, the slowest
 * voice, measured at 15.2 characters a second; slt 17.6, awb 18.0, kal16 20.3,
 * espeak-ng 19.0) divided by the session's tts_rate. Its bytes are those
 * seconds at the session's output rate (int16, and 4/3 of that as base64
 * tts_chunk), plus PARLEY_OUTQ_TEXT_HEADROOM for everything that is not
 * audio. With the defaults (300 tokens, 48 kHz base64, rate 1): 80 s of audio,
 * 10.2 MB, 11.3 MiB in all, a third of the former fixed 32 MiB, which stays
 * the ceiling. Messages: ten 100 ms chunks a second of that audio plus
 * PARLEY_OUTQ_TEXT_MSGS others (1824 with the defaults, at most 16384). A
 * session.config that changes the rates recomputes both; a lower bound
 * waits for what is already queued (outq.h), so an answer being sent is
 * never cut off by its own client's session.config.
 *
 * Answer text (per session): --llm-max-tokens tokens of at most
 * PARLEY_ANSWER_BYTES_PER_TOKEN bytes (English averages 4; a CJK token is
 * 3-6 bytes of UTF-8; runs of spaces or symbols a few more), and never less
 * than PARLEY_ANSWER_MIN_BYTES: 16 KiB for the default 300 tokens instead
 * of the former 1 MiB. Text past it is not appended (nor spoken).
 *
 * Turns (per session): --turns-per-minute on average, in bursts of up to
 * a quarter of that (5 by default; a token bucket); a turn beyond them gets
 * rate_limited.
 *
 * Queued output (server-wide): --max-queued-mb shared by every session's
 * out-queue (see outq.h); a queue holding less than `reserve` may still
 * push, so a server whose budget is full of slow readers closes the slow
 * readers, not the clients that keep up. The reserve is 1 MiB (a long
 * sentence of audio waiting for a slow link) or less, so that every session
 * holding its reserve at once adds at most half the budget.
 *
 * Threads: filled once at startup, then read-only except the budget's
 * atomic counter.
 */
#ifndef PARLEY_SESSION_LIMITS_H
#define PARLEY_SESSION_LIMITS_H

#include <stddef.h>

#include "util/config.h"
#include "util/metrics.h"
#include "util/outq.h"

#define PARLEY_CHARS_PER_TOKEN 4
#define PARLEY_SLOWEST_CHARS_PER_S 15
#define PARLEY_OUTQ_TEXT_HEADROOM (1u << 20)
#define PARLEY_OUTQ_TEXT_MSGS 1024
#define PARLEY_OUTQ_MAX_BYTES_CEILING (32u << 20)
#define PARLEY_OUTQ_MAX_MSGS_CEILING 16384
#define PARLEY_ANSWER_BYTES_PER_TOKEN 16
#define PARLEY_ANSWER_MIN_BYTES (16u << 10)
#define PARLEY_BUDGET_RESERVE_MAX (1u << 20)

struct parley_settings;

struct parley_session_limits {
	int answer_tokens;        /* --llm-max-tokens */
	size_t answer_max_bytes;  /* answer text, and the text already spoken */
	double turns_per_minute;  /* --turns-per-minute */
	double turn_burst;        /* turns at once */
	struct parley_outq_budget budget; /* --max-queued-mb, shared by every session */
	struct parley_gauge budget_max;   /* the budget, for /metrics */
};

/* Sizes everything from the configuration. */
void parley_session_limits_init(struct parley_session_limits *l, const struct parley_config *cfg);

/* Registers parley_outqueue_bytes and parley_outqueue_budget_bytes (l must
 * live as long as the registry). Returns 0 or PARLEY_E_NOMEM. */
int parley_session_limits_register(struct parley_session_limits *l);

/* The out-queue bounds of a session with settings st. Pure. */
void parley_session_outq_bounds(const struct parley_session_limits *l,
				const struct parley_settings *st, size_t *max_msgs,
				size_t *max_bytes);

#endif
