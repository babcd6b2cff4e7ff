/*
 * wav.h - 16-bit mono PCM WAV files in memory, for services that take audio
 * as a file (the transcription engine's upload, stt/openai.c).
 *
 * A file is the canonical 44-byte RIFF/WAVE header (one "fmt " chunk, PCM
 * format 1, one channel, 16 bits) followed by the samples, little-endian
 * whatever the host's byte order. The data chunk is bounded by the format's
 * 32-bit sizes (PARLEY_WAV_MAX_SAMPLES).
 *
 * Pure functions, any thread.
 */
#ifndef PARLEY_AUDIO_WAV_H
#define PARLEY_AUDIO_WAV_H

#include <stddef.h>
#include <stdint.h>

#define PARLEY_WAV_HEADER_BYTES 44
/* RIFF sizes are 32-bit: header + data must stay below 4 GiB. */
#define PARLEY_WAV_MAX_SAMPLES ((size_t)(UINT32_MAX - PARLEY_WAV_HEADER_BYTES) / 2)

/* Writes the header for n samples at rate (1..384000) into out.
 * Returns 0, or PARLEY_E_RANGE (rate or n out of bounds: nothing written). */
int parley_wav_header(uint8_t out[PARLEY_WAV_HEADER_BYTES], int rate, size_t n);

/*
 * The whole file for pcm[0..n) (borrowed) at rate: *out is malloc'd (caller
 * frees) and *len = 44 + 2n. Returns 0, PARLEY_E_RANGE or PARLEY_E_NOMEM
 * (*out untouched on failure).
 */
int parley_wav_encode(const int16_t *pcm, size_t n, int rate, uint8_t **out, size_t *len);

#endif
