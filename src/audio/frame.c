#include "audio/frame.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

enum parley_frame_status parley_frame_decode(const uint8_t *buf, size_t len, size_t max_samples,
					     struct parley_frame *out)
{
	if (len < PARLEY_FRAME_HEADER_BYTES)
		return PARLEY_FRAME_SHORT;
	size_t payload = len - PARLEY_FRAME_HEADER_BYTES;
	if (payload == 0)
		return PARLEY_FRAME_EMPTY;
	if (payload % 2)
		return PARLEY_FRAME_ODD;
	if (payload / 2 > max_samples)
		return PARLEY_FRAME_TOO_BIG;
	out->timestamp_ms = be32(buf);
	out->flags = be32(buf + 4);
	out->pcm = buf + PARLEY_FRAME_HEADER_BYTES;
	out->nsamples = payload / 2;
	return PARLEY_FRAME_OK;
}

void parley_frame_samples(const struct parley_frame *f, int16_t *dst)
{
	for (size_t i = 0; i < f->nsamples; i++) {
		uint16_t u = (uint16_t)(f->pcm[2 * i] | (uint16_t)f->pcm[2 * i + 1] << 8);
		dst[i] = (int16_t)u;
	}
}

void parley_frame_header_encode(uint8_t *dst, uint32_t timestamp_ms, uint32_t flags)
{
	for (int i = 0; i < 4; i++) {
		dst[i] = (uint8_t)(timestamp_ms >> (24 - 8 * i));
		dst[4 + i] = (uint8_t)(flags >> (24 - 8 * i));
	}
}

const char *parley_frame_status_str(enum parley_frame_status st)
{
	switch (st) {
	case PARLEY_FRAME_OK: return "ok";
	case PARLEY_FRAME_SHORT: return "audio frame is shorter than its 8-byte header";
	case PARLEY_FRAME_EMPTY: return "audio frame has a header but no samples";
	case PARLEY_FRAME_ODD: return "audio frame has an odd number of sample bytes (int16 expected)";
	case PARLEY_FRAME_TOO_BIG: return "audio frame has more than 32768 samples";
	}
	return "invalid audio frame";
}
