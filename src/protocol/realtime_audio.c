/* The Realtime protocol's audio: base64, and the buffers' codings
 * (realtime_internal.h). Pure, any thread. */
#include <stdlib.h>

#include "audio/g711.h"
#include "protocol/realtime_internal.h"
#include "util/err.h"

/* The value of a base64 character, or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int rt_base64_decode(const char *in, size_t len, uint8_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	/* Up to two '=' at the end; without them the length decides. */
	size_t pad = 0;
	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad && (len + pad) % 4))
		return PARLEY_E_INVAL;
	uint8_t *buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return PARLEY_E_NOMEM;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0) {
			free(buf);
			return PARLEY_E_INVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	*out = buf;
	*n = o;
	return 0;
}

size_t rt_codec_samples(enum rt_codec c, size_t bytes)
{
	return c == RT_PCM16 ? bytes / 2 : bytes;
}

size_t rt_codec_bytes(enum rt_codec c, size_t n)
{
	return c == RT_PCM16 ? n * 2 : n;
}

int rt_codec_rate(enum rt_codec c)
{
	return c == RT_PCM16 ? 24000 : 8000;
}

void rt_codec_decode(enum rt_codec c, const uint8_t *in, size_t bytes, int16_t *pcm)
{
	switch (c) {
	case RT_PCM16:
		for (size_t i = 0; i + 1 < bytes; i += 2)
			pcm[i / 2] = (int16_t)(uint16_t)(in[i] | (uint16_t)in[i + 1] << 8);
		break;
	case RT_ULAW:
		parley_ulaw_decode_buf(in, bytes, pcm);
		break;
	case RT_ALAW:
		parley_alaw_decode_buf(in, bytes, pcm);
		break;
	}
}

void rt_codec_encode(enum rt_codec c, const int16_t *pcm, size_t n, uint8_t *out)
{
	switch (c) {
	case RT_PCM16:
		for (size_t i = 0; i < n; i++) {
			uint16_t u = (uint16_t)pcm[i];
			out[2 * i] = (uint8_t)(u & 0xff);
			out[2 * i + 1] = (uint8_t)(u >> 8);
		}
		break;
	case RT_ULAW:
		parley_ulaw_encode_buf(pcm, n, out);
		break;
	case RT_ALAW:
		parley_alaw_encode_buf(pcm, n, out);
		break;
	}
}
