#include "audio/wav.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

int parley_wav_header(uint8_t out[PARLEY_WAV_HEADER_BYTES], int rate, size_t n)
{
	if (rate < 1 || rate > 384000 || n > PARLEY_WAV_MAX_SAMPLES)
		return PARLEY_E_RANGE;
	uint32_t data = (uint32_t)(n * 2);
	memcpy(out, "RIFF", 4);
	put32(out + 4, 36 + data); /* everything after this field */
	memcpy(out + 8, "WAVE", 4);
	memcpy(out + 12, "fmt ", 4);
	put32(out + 16, 16);                  /* fmt chunk size */
	put16(out + 20, 1);                   /* PCM */
	put16(out + 22, 1);                   /* mono */
	put32(out + 24, (uint32_t)rate);      /* sample rate */
	put32(out + 28, (uint32_t)rate * 2u); /* byte rate */
	put16(out + 32, 2);                   /* block align */
	put16(out + 34, 16);                  /* bits per sample */
	memcpy(out + 36, "data", 4);
	put32(out + 40, data);
	return 0;
}

int parley_wav_encode(const int16_t *pcm, size_t n, int rate, uint8_t **out, size_t *len)
{
	uint8_t head[PARLEY_WAV_HEADER_BYTES];
	int rc = parley_wav_header(head, rate, n);
	if (rc)
		return rc;
	uint8_t *w = malloc(PARLEY_WAV_HEADER_BYTES + n * 2);
	if (!w)
		return PARLEY_E_NOMEM;
	memcpy(w, head, sizeof head);
	uint8_t *p = w + PARLEY_WAV_HEADER_BYTES;
	for (size_t i = 0; i < n; i++)
		put16(p + 2 * i, (uint16_t)pcm[i]);
	*out = w;
	*len = PARLEY_WAV_HEADER_BYTES + n * 2;
	return 0;
}
