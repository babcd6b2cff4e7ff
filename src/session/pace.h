/*
 * pace.h - audio rate policing: a session's microphone audio may not arrive
 * faster than real time, beyond a tolerance for network jitter.
 *
 * A token bucket counts seconds of audio (at the session's declared input
 * rate): it holds PARLEY_PACE_BURST_S and refills at PARLEY_PACE_SLACK times
 * real time. A frame that finds too few tokens is dropped whole (never
 * decoded). The burst is what a network stall followed by a catch-up costs:
 * a client that streams at real time keeps its bucket full, so a stall of up
 * to ~4.5 s, delivered at once, passes untouched; it is half of the session's
 * 10 s input buffer, so a passing burst always fits there.
 *
 * The first drop starts an episode and is reported once (audio_too_fast).
 * The episode ends when the client has kept to real time long enough for
 * the bucket to hold PARLEY_PACE_RECOVERED_S again. It persists, and the
 * session is to be closed, when it has dropped PARLEY_PACE_CLOSE_DROPPED_S
 * of audio, or still drops audio PARLEY_PACE_CLOSE_AFTER_S after its start.
 * A 20x flood is closed within about half a second of its first drop; a
 * client 20 % too fast is told after ~50 s and closed 5 s later.
 *
 * Pure: the caller passes the time. Not thread-safe: the session lock
 * guards it.
 */
#ifndef PARLEY_SESSION_PACE_H
#define PARLEY_SESSION_PACE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/ratelimit.h"

#define PARLEY_PACE_BURST_S 5.0         /* seconds of audio ahead of real time */
#define PARLEY_PACE_SLACK 1.1           /* refill: 10 % faster than real time */
#define PARLEY_PACE_RECOVERED_S 1.0     /* bucket level that ends an episode */
#define PARLEY_PACE_CLOSE_DROPPED_S 10.0 /* dropped in one episode: close */
#define PARLEY_PACE_CLOSE_AFTER_S 5.0   /* still dropping this long after the error: close */

enum parley_pace_verdict {
	PARLEY_PACE_ACCEPT = 0, /* decode it */
	PARLEY_PACE_DROP,       /* too fast: drop it silently (already reported) */
	PARLEY_PACE_DROP_REPORT, /* too fast: drop it and report audio_too_fast once */
	PARLEY_PACE_DROP_CLOSE, /* too fast for too long: drop it and close the session */
};

struct parley_pace {
	struct parley_bucket bucket; /* seconds of audio */
	bool episode;                /* dropping (reported) since episode_ns */
	int64_t episode_ns;
	double episode_dropped_s;
	double dropped_s;            /* total, for the log */
};

void parley_pace_init(struct parley_pace *p, int64_t now_ns);

/* Judges a frame of `seconds` of audio arriving at now_ns. */
enum parley_pace_verdict parley_pace_admit(struct parley_pace *p, double seconds,
					   int64_t now_ns);

#endif
