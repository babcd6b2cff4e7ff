/*
 * g711.h - ITU-T G.711 mu-law and A-law: 8-bit companded telephone audio
 * (8 kHz in practice) to and from 16-bit linear PCM.
 *
 * Decoding is a 256-entry table per law; encoding follows the reference
 * segment search (Sun Microsystems' public-domain g711.c, the same values as
 * Python's audioop and SoX), so a byte decoded and encoded again is that byte
 * (except mu-law's 0x7F, the "negative zero", which encodes back as 0xFF).
 * The Realtime protocol uses it for audio/pcmu and audio/pcma (beta:
 * g711_ulaw, g711_alaw).
 *
 * Pure functions, any thread.
 */
#ifndef PARLEY_AUDIO_G711_H
#define PARLEY_AUDIO_G711_H

#include <stddef.h>
#include <stdint.h>

uint8_t parley_ulaw_encode(int16_t pcm);
int16_t parley_ulaw_decode(uint8_t u);
uint8_t parley_alaw_encode(int16_t pcm);
int16_t parley_alaw_decode(uint8_t a);

/* n samples of pcm into n bytes at out (and back); buffers borrowed. */
void parley_ulaw_encode_buf(const int16_t *pcm, size_t n, uint8_t *out);
void parley_ulaw_decode_buf(const uint8_t *in, size_t n, int16_t *pcm);
void parley_alaw_encode_buf(const int16_t *pcm, size_t n, uint8_t *out);
void parley_alaw_decode_buf(const uint8_t *in, size_t n, int16_t *pcm);

#endif
