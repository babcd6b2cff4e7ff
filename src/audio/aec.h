/*
 * aec.h - an acoustic echo canceller for one 16 kHz microphone stream, in
 * 20 ms frames (the VAD's): speexdsp's adaptive filter (MDF) removes the
 * part of the microphone signal that is a linear echo of the reference
 * (what the loudspeaker played, aligned so its echo falls inside the
 * filter), then speexdsp's preprocessor suppresses the residual echo it
 * estimates, with a mild noise suppression (it cannot suppress echo
 * without it).
 *
 * The filter covers `tail_ms` of echo path (room reverberation plus the
 * slack left in the alignment). Its cost grows with the tail: about
 * tail_ms / 20 spectral multiply-adds of 321 bins and six 640-point FFTs
 * per frame.
 *
 * Opaque handle, create/destroy; one thread at a time; no locks.
 */
#ifndef PARLEY_AUDIO_AEC_H
#define PARLEY_AUDIO_AEC_H

#include <stdint.h>

#define PARLEY_AEC_RATE 16000
#define PARLEY_AEC_FRAME 320 /* 20 ms: PARLEY_VAD_FRAME */

struct parley_aec;

/* A canceller with a filter of tail_ms (20..2000); NULL on OOM or a tail
 * out of range. */
struct parley_aec *parley_aec_create(int tail_ms);
void parley_aec_destroy(struct parley_aec *a); /* accepts NULL */

/* One frame: mic and ref (PARLEY_AEC_FRAME samples each, borrowed) ->
 * out (PARLEY_AEC_FRAME samples; may not alias mic or ref). ref is what
 * was played at the time whose echo reaches mic's frame through the
 * filter's window. */
void parley_aec_frame(struct parley_aec *a, const int16_t *mic, const int16_t *ref,
		      int16_t *out);

/* Forgets the echo path learnt (the alignment changed). */
void parley_aec_reset(struct parley_aec *a);

#endif
