/*
 * frame.h - the native protocol's binary microphone frame.
 *
 *   bytes 0..3  uint32 big-endian timestamp (low 32 bits of epoch ms)
 *   bytes 4..7  uint32 big-endian flags (bit 0: client is playing audio)
 *   bytes 8..   int16 little-endian mono PCM samples
 *
 * Pure functions, any thread.
 */
#ifndef PARLEY_AUDIO_FRAME_H
#define PARLEY_AUDIO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PARLEY_FRAME_HEADER_BYTES 8
#define PARLEY_FRAME_FLAG_PLAYING 0x1u
#define PARLEY_FRAME_MAX_SAMPLES 32768

enum parley_frame_status {
	PARLEY_FRAME_OK = 0,
	PARLEY_FRAME_SHORT = -1,   /* fewer than 8 bytes */
	PARLEY_FRAME_EMPTY = -2,   /* header only */
	PARLEY_FRAME_ODD = -3,     /* odd number of sample bytes */
	PARLEY_FRAME_TOO_BIG = -4, /* more than max_samples samples */
};

struct parley_frame {
	uint32_t timestamp_ms;
	uint32_t flags;
	const uint8_t *pcm; /* borrowed: points into the input buffer, LE int16 */
	size_t nsamples;
};

/*
 * Validates and splits buf (borrowed) into header and samples. On error
 * *out is untouched. max_samples is the cap (normally
 * PARLEY_FRAME_MAX_SAMPLES).
 */
enum parley_frame_status parley_frame_decode(const uint8_t *buf, size_t len, size_t max_samples,
					     struct parley_frame *out);

/* Copies n samples from a frame's pcm into native int16 (any alignment). */
void parley_frame_samples(const struct parley_frame *f, int16_t *dst);

/* Writes an 8-byte header into dst (used by tests and clients). */
void parley_frame_header_encode(uint8_t *dst, uint32_t timestamp_ms, uint32_t flags);

/* A human sentence for a status, for error messages. */
const char *parley_frame_status_str(enum parley_frame_status st);

#endif
