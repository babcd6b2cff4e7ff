/*
 * rate_infer.h - infers a microphone's true sample rate from the native
 * frames' client timestamps and sample counts (pure).
 *
 * A client that does not declare its rate is assumed to send 48 kHz, but
 * many browsers capture at 44.1 kHz; each frame carries the low 32 bits of
 * the client's epoch milliseconds, so samples counted against that clock
 * give the rate. Each frame adds a point (timestamp, samples sent before
 * it); timestamps are unwrapped across 2^32 with signed 32-bit deltas.
 * Once the points span PARLEY_RATE_INFER_EARLY_MS, the estimate is the
 * median of the slopes between each point and the first point at least half
 * the span later (a Theil-Sen estimate: robust to jittered, bursty and
 * ms-rounded timestamps and to a stalled stretch), snapped to the nearest
 * common rate (8000, 16000, 22050, 24000, 32000, 44100, 48000): at once if
 * within PARLEY_RATE_INFER_EARLY_TOLERANCE of it and the slopes agree
 * (interquartile range within 2%: a clean clock, half a second of audio
 * held), else once the span reaches
 * PARLEY_RATE_INFER_SPAN_MS if within PARLEY_RATE_INFER_TOLERANCE. An
 * estimate that snaps nowhere waits for a twice longer span, then is
 * rejected. Clocks that jump (back more than 100 ms, forward more than
 * 5 s) or advance well slower than the audio (a quarter faster than
 * 48 kHz beyond a second of audio at 48 kHz: no clock, or a client sending
 * faster than real time) are rejected at once. A rejected inference keeps
 * the assumed rate; the caller decides what to log.
 *
 * Memory: fixed, PARLEY_RATE_INFER_POINTS points (points closer than 8 ms
 * to the last kept one are not kept; their samples still count).
 * Threads: none of its own; the caller serialises calls on one state.
 */
#ifndef PARLEY_AUDIO_RATE_INFER_H
#define PARLEY_AUDIO_RATE_INFER_H

#include <stddef.h>
#include <stdint.h>

#define PARLEY_RATE_INFER_EARLY_MS 500
#define PARLEY_RATE_INFER_EARLY_TOLERANCE 0.01
#define PARLEY_RATE_INFER_SPAN_MS 1000
#define PARLEY_RATE_INFER_POINTS 320
#define PARLEY_RATE_INFER_TOLERANCE 0.03

enum parley_rate_verdict {
	PARLEY_RATE_PENDING = 0, /* not enough clock yet */
	PARLEY_RATE_DECIDED,     /* rate is one of the common rates */
	PARLEY_RATE_REJECTED,    /* no trustworthy rate: keep the assumed one */
};

struct parley_rate_infer {
	uint32_t last_ts;     /* raw timestamp of the last frame */
	int64_t t_last;       /* unwrapped ms of the last frame, relative to the first */
	uint64_t samples;     /* samples of every frame so far */
	size_t npoints;
	int started;
	struct {
		int32_t t;  /* ms since the first frame */
		uint32_t c; /* samples before this frame */
	} pts[PARLEY_RATE_INFER_POINTS];
};

/* The outcome of a decided or rejected inference. */
struct parley_rate_result {
	enum parley_rate_verdict verdict;
	int rate;          /* DECIDED: the snapped common rate; else 0 */
	double estimate;   /* samples per second measured (0 if none) */
	const char *why;   /* REJECTED: a static reason for the log; else NULL */
};

/* Clears ri for a new inference. */
void parley_rate_infer_init(struct parley_rate_infer *ri);

/*
 * Adds one frame: its client timestamp (ms, wrapping) and sample count.
 * Returns the verdict and fills *res (may be NULL). Once DECIDED or
 * REJECTED the caller stops feeding (further calls give the same kind of
 * answer only by chance; they are not meant).
 */
enum parley_rate_verdict parley_rate_infer_add(struct parley_rate_infer *ri, uint32_t ts_ms,
					       size_t nsamples, struct parley_rate_result *res);

/* The common rate within tolerance of est (samples per second), or 0. */
int parley_rate_snap(double est);

#endif
