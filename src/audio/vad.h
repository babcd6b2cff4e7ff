/*
 * vad.h - voice activity detection on 16 kHz int16 audio in 20 ms frames,
 * cheap enough to run for every connected session (no decoder needed).
 *
 * A frame is "loud" when its energy is well above an adaptive noise floor
 * and above an absolute minimum; it is "voiced" when it is loud and its
 * zero-crossing rate is low, as in vowels (white noise and hiss cross zero
 * far more often). Speech starts after PARLEY_VAD_START_VOICED voiced frames
 * among the last PARLEY_VAD_START_WINDOW, so clicks and short bursts do not
 * count. While speaking, loud frames are speech (fricatives included); the
 * caller measures the silence that ends a turn from `silence_ms`.
 *
 * The noise floor follows quiet frames down at once and loud non-speech
 * frames up slowly (time constant about 1 s), so steady noise becomes the
 * floor. Pure state, one per session, used by one thread at a time.
 */
#ifndef PARLEY_AUDIO_VAD_H
#define PARLEY_AUDIO_VAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARLEY_VAD_RATE 16000
#define PARLEY_VAD_FRAME 320 /* 20 ms */
#define PARLEY_VAD_FRAME_MS 20
#define PARLEY_VAD_START_WINDOW 10
#define PARLEY_VAD_START_VOICED 7

enum parley_vad_event {
	PARLEY_VAD_NONE = 0,
	PARLEY_VAD_START, /* speech began (the window's frames belong to it) */
};

struct parley_vad {
	double floor_db;       /* adaptive noise floor, dBFS */
	bool speaking;
	uint32_t window;       /* voiced bits of the last frames, newest in bit 0 */
	int silence_ms;        /* while speaking: time since the last loud frame */
	int voiced_frames;     /* while speaking: voiced frames in this utterance */
	int frames;            /* total frames seen */
	double last_db, last_zcr;
	double loud_db, stay_db, min_db; /* the sensitivity (parley_vad_set_threshold) */
};

void parley_vad_init(struct parley_vad *v);

/* Sensitivity: threshold 0..1 (clamped), higher needs louder speech; 0.5
 * is the tuning above (12 dB over the floor to start, 8 dB to stay, never
 * below -50 dBFS), the default. Each step of 0.1 moves the start margin by
 * 1.6 dB, the stay margin by 1.2 dB and the absolute minimum by 2 dB: 0
 * starts at 4 dB over the floor (-60 dBFS), 1 at 20 dB (-40 dBFS). */
void parley_vad_set_threshold(struct parley_vad *v, double threshold);

/* One frame of PARLEY_VAD_FRAME samples. */
enum parley_vad_event parley_vad_frame(struct parley_vad *v, const int16_t *pcm);

/* The utterance is over (the caller decided): back to listening. */
void parley_vad_end(struct parley_vad *v);

#endif
