/*
 * echoguard.h - a session's echo guard: keeps the assistant's own voice,
 * played by a client that cancels no echo (a page on laptop speakers, a
 * phone bridge, an SDK on a speakerphone), from reaching the listener as
 * if the user spoke.
 *
 * The reference is the audio the speaker sent (a copy, resampled to
 * 16 kHz, kept in a bounded ring). Each piece is placed on the server's
 * clock where the client plays it: at once if nothing is playing (or when
 * the client's tts_start says it began), else right after what is queued
 * (the client plays in order, at real time); a barge-in cuts what was not
 * played (parley_echoguard_stop). The microphone's 16 kHz samples are
 * placed on the same clock by when they arrived (the earliest arrival seen for the stream's sample count, so
 * network jitter does not move it; once the room is learnt it holds still,
 * so the canceller's filter stays valid from one answer to the next). What
 * is left between the two clocks, the client's buffers, the network and
 * the room's acoustic delay, is measured from the signals: the envelopes
 * (|x| low-passed, read every 4 ms) of the reference and of the microphone
 * are correlated over 2 s, at lags of 0..1 s, every half second while the
 * delay is unknown or the canceller works badly.
 *
 * With the delay known, each microphone frame goes through an echo
 * canceller (audio/aec.h: speexdsp's adaptive filter over 260 ms from
 * 40 ms before the measured delay, and its residual echo suppressor). A
 * last gate then compares what is left with the echo the reference
 * predicts (the loudest reference that can echo into this frame, times
 * the ratio the frames left after cancelling have shown, tracked in dB):
 * a frame not clearly above it (PARLEY_ECHOGUARD_MARGIN_DB, and at least
 * PARLEY_ECHOGUARD_SPEECH_DB: what the canceller leaves of the room's
 * reverberant tail stays below it, a voice close to the microphone is
 * well above it) is echo alone and is brought down to the microphone's
 * noise floor, so the VAD, the barge-in and the recogniser hear silence
 * there; speech clearly louder than the predicted echo passes, so the user
 * can still interrupt. After a pause in playback the ratio starts from
 * -20 dB again (the new start is known to a few ms, not to the sample,
 * and the canceller must find the room again).
 *
 * No work while nothing plays: a frame is only processed while reference
 * audio can still echo into it (until its play end + the delay + the
 * room's tail); other frames cost one energy sum (the noise floor).
 *
 * Threads and locks: the speaker's calls (reference, stop) come from any
 * thread, often under s->lock; the listener's (mic_arrival, frame) from
 * the listen strand only; set_on and on from any thread. `lock` guards the
 * reference side and is a leaf: nothing is called while it is held (lock
 * order: s->lock, in.lock, then the guard's lock). The listener's side
 * (the canceller, the delay, the gate) belongs to the listen strand.
 */
#ifndef PARLEY_SESSION_ECHOGUARD_H
#define PARLEY_SESSION_ECHOGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARLEY_ECHOGUARD_MARGIN_DB 10.0 /* speech must be this far above the predicted echo */
#define PARLEY_ECHOGUARD_SPEECH_DB -38.0 /* and this loud (dBFS) while the assistant is heard */

struct parley_echoguard;

/* A guard, off until parley_echoguard_set_on(); NULL on OOM. The
 * reference ring (640 KB) is allocated when the first audio is sent while
 * it is on. */
struct parley_echoguard *parley_echoguard_create(void);
void parley_echoguard_destroy(struct parley_echoguard *g); /* accepts NULL */

/* On or off. Turning it off drops the reference (any thread). */
void parley_echoguard_set_on(struct parley_echoguard *g, bool on);
bool parley_echoguard_on(struct parley_echoguard *g);

/* The speaker sent n samples (borrowed) at rate to the client at now_ns.
 * Any thread; nothing while off. */
void parley_echoguard_reference(struct parley_echoguard *g, const int16_t *pcm, size_t n,
				int rate, int64_t now_ns);

/* The client reports that its playback started (tts_start) at now_ns: the
 * audio that began to play last (sent since nothing was playing, within
 * the last second) is placed from now on; the report is more exact than
 * the send time (the client starts on its own audio clock, behind its
 * jitter buffer). Any thread. */
void parley_echoguard_playback_started(struct parley_echoguard *g, int64_t now_ns);

/* The client flushed its playback at now_ns (stop_tts): the reference not
 * played by then never will be. Any thread. */
void parley_echoguard_stop(struct parley_echoguard *g, int64_t now_ns);

/* The listen strand: the microphone's newest sample arrived at arrival_ns;
 * `ahead` 16 kHz samples of it were made but not yet framed (the samples
 * given to parley_echoguard_frame() so far come before them). */
void parley_echoguard_mic_arrival(struct parley_echoguard *g, int64_t arrival_ns, size_t ahead);

/* The listen strand: one 16 kHz frame of PARLEY_VAD_FRAME samples, cleaned
 * in place; clock_ms is the listener's input audio clock at the frame.
 * Returns true when the guard worked on it (reference audio could echo
 * into it). */
bool parley_echoguard_frame(struct parley_echoguard *g, int16_t *pcm, double clock_ms);

/* The listen strand: the listener's clock_ms of the last frame reference
 * audio could echo into (-1: none yet). */
double parley_echoguard_last_echo_ms(const struct parley_echoguard *g);

/* What the guard has measured, for logs and the bench (listen strand). */
struct parley_echoguard_stats {
	int delay_ms;          /* the measured delay, -1 until known */
	uint64_t frames;       /* frames worked on */
	uint64_t gated;        /* of which brought down as echo alone */
	double cpu_ms;         /* thread CPU spent on them */
	double predicted_db;   /* the residual-to-reference ratio tracked, dB */
};
void parley_echoguard_stats(const struct parley_echoguard *g, struct parley_echoguard_stats *st);

#endif
