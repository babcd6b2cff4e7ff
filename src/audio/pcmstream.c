/*
 * pcmstream.c - raw PCM and streamed WAV, decoded chunk by chunk (see
 * pcmstream.h). A small state machine: header pieces are assembled in
 * s->hdr until they are whole, chunks the decoder does not need are
 * skipped by count, samples are converted from little-endian bytes (with a
 * carried odd byte) into the scratch buffer and handed out in one call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/pcmstream.h"
#include "util/err.h"

enum {
	ST_DETECT = 0, /* the first 4 bytes decide: "RIFF" or raw */
	ST_RAW,        /* every byte is a sample byte */
	ST_RIFF,       /* "RIFF" size "WAVE" */
	ST_CHUNK,      /* a chunk's id and size */
	ST_FMT,        /* the "fmt " chunk's fields */
	ST_SKIP,       /* the rest of a chunk nobody needs */
	ST_DATA,       /* the samples */
	ST_TRAIL,      /* after the data chunk: ignored */
	ST_FAILED,
};

#define FMT_READ_MAX 40 /* WAVE_FORMAT_EXTENSIBLE's fields */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

void parley_pcm_stream_init(struct parley_pcm_stream *s, enum parley_pcm_kind kind,
			    int raw_rate)
{
	int16_t *scratch = s->scratch;
	size_t cap = s->scratch_cap;
	memset(s, 0, sizeof *s);
	s->scratch = scratch; /* kept across re-initialisation */
	s->scratch_cap = cap;
	s->kind = kind;
	switch (kind) {
	case PARLEY_PCM_RAW:
		s->state = ST_RAW;
		s->rate = raw_rate;
		break;
	case PARLEY_PCM_WAV:
		s->state = ST_RIFF;
		s->hdr_need = 12;
		break;
	case PARLEY_PCM_DETECT:
		s->state = ST_DETECT;
		s->hdr_need = 4;
		s->rate = raw_rate;
		break;
	}
}

void parley_pcm_stream_free(struct parley_pcm_stream *s)
{
	free(s->scratch);
	s->scratch = NULL;
	s->scratch_cap = 0;
}

/* Records why the stream failed; evaluates to PARLEY_E_INVAL. */
#define FAIL(s, ...) \
	(snprintf((s)->why, sizeof(s)->why, __VA_ARGS__), (s)->state = ST_FAILED, PARLEY_E_INVAL)

/* Hands out the samples of carry + pre[0..plen) + data[0..dlen). */
static int emit(struct parley_pcm_stream *s, const uint8_t *pre, size_t plen, const uint8_t *data,
		size_t dlen, parley_pcm_out_fn out, void *arg)
{
	size_t total = (s->have_carry ? 1 : 0) + plen + dlen;
	size_t n = total / 2;
	if (n > 0) {
		if (n > s->scratch_cap) {
			int16_t *p = realloc(s->scratch, n * sizeof *p);
			if (!p)
				return PARLEY_E_NOMEM;
			s->scratch = p;
			s->scratch_cap = n;
		}
		/* byte i of the logical sequence */
#define BYTE(i)                                                                                \
	(s->have_carry ? ((i) == 0 ? s->carry : ((i)-1 < plen ? pre[(i)-1] : data[(i)-1 - plen])) \
		       : ((i) < plen ? pre[i] : data[(i)-plen]))
		for (size_t k = 0; k < n; k++) {
			unsigned lo = BYTE(2 * k), hi = BYTE(2 * k + 1);
			s->scratch[k] = (int16_t)(uint16_t)(lo | hi << 8);
		}
		uint8_t last = total % 2 ? (uint8_t)BYTE(total - 1) : 0;
#undef BYTE
		s->have_carry = total % 2;
		s->carry = last;
		s->samples += n;
		if (out(arg, s->scratch, n, s->rate) != 0)
			return PARLEY_E_CLOSED;
		return 0;
	}
	if (total == 1) { /* one byte: it becomes (or stays) the carry */
		s->carry = s->have_carry ? s->carry : (plen ? pre[0] : data[0]);
		s->have_carry = true;
	}
	return 0;
}

/* Copies bytes into s->hdr until hdr_need are there; returns how many it took. */
static size_t gather(struct parley_pcm_stream *s, const uint8_t *p, size_t len)
{
	size_t take = s->hdr_need - s->hdr_len;
	if (take > len)
		take = len;
	memcpy(s->hdr + s->hdr_len, p, take);
	s->hdr_len += take;
	return take;
}

static void expect(struct parley_pcm_stream *s, int state, size_t need)
{
	s->state = state;
	s->hdr_len = 0;
	s->hdr_need = need;
}

static int parse_fmt(struct parley_pcm_stream *s)
{
	const uint8_t *h = s->hdr;
	unsigned tag = le16(h), channels = le16(h + 2), bits = le16(h + 14);
	uint32_t rate = le32(h + 4);
	if (tag == 0xFFFE) { /* WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes */
		if (s->hdr_len < FMT_READ_MAX)
			return FAIL(s, "the WAV format chunk is too short (%u bytes)",
				    (unsigned)s->hdr_len);
		tag = le16(h + 24);
	}
	if (tag != 1)
		return FAIL(s, "the WAV audio is not PCM (format %u); parley reads 16-bit PCM", tag);
	if (channels != 1)
		return FAIL(s, "the WAV audio has %u channels; parley needs mono", channels);
	if (bits != 16)
		return FAIL(s, "the WAV audio has %u-bit samples; parley needs 16-bit", bits);
	if (rate < PARLEY_PCM_RATE_MIN || rate > PARLEY_PCM_RATE_MAX)
		return FAIL(s, "the WAV sample rate %u Hz is outside 8000..96000 Hz", (unsigned)rate);
	s->rate = (int)rate;
	s->fmt_seen = true;
	return 0;
}

/* A chunk header is whole in s->hdr: decide what follows. */
static int on_chunk(struct parley_pcm_stream *s)
{
	uint32_t size = le32(s->hdr + 4);
	if (memcmp(s->hdr, "data", 4) == 0) {
		if (!s->fmt_seen)
			return FAIL(s, "the WAV data came before its format chunk");
		s->data_left = size == 0 || size == 0xFFFFFFFFu ? UINT64_MAX : size;
		s->state = ST_DATA;
		return 0;
	}
	uint64_t whole = (uint64_t)size + (size & 1); /* chunks are padded to even sizes */
	if (s->header_bytes + whole > PARLEY_PCM_HEADER_MAX)
		return FAIL(s, "the WAV header is longer than %d bytes", PARLEY_PCM_HEADER_MAX);
	if (memcmp(s->hdr, "fmt ", 4) == 0) {
		if (size < 16)
			return FAIL(s, "the WAV format chunk is too short (%u bytes)", size);
		s->skip = (uint32_t)(whole - (size < FMT_READ_MAX ? size : FMT_READ_MAX));
		expect(s, ST_FMT, size < FMT_READ_MAX ? size : FMT_READ_MAX);
		return 0;
	}
	s->skip = (uint32_t)whole;
	s->state = ST_SKIP;
	return 0;
}

/* A header piece the state asked for is whole in s->hdr. */
static int on_header(struct parley_pcm_stream *s)
{
	switch (s->state) {
	case ST_RIFF:
		if (memcmp(s->hdr, "RIFF", 4) != 0 || memcmp(s->hdr + 8, "WAVE", 4) != 0)
			return FAIL(s, "the answer is not a WAV file (no RIFF/WAVE header)");
		expect(s, ST_CHUNK, 8);
		return 0;
	case ST_CHUNK:
		return on_chunk(s);
	default: { /* ST_FMT */
		int rc = parse_fmt(s);
		if (rc == 0)
			s->state = ST_SKIP;
		return rc;
	}
	}
}

int parley_pcm_stream_feed(struct parley_pcm_stream *s, const void *data, size_t len,
			   parley_pcm_out_fn out, void *arg)
{
	const uint8_t *p = data;
	while (len > 0) {
		size_t took;
		switch (s->state) {
		case ST_FAILED:
			return PARLEY_E_INVAL;
		case ST_TRAIL:
			return 0;
		case ST_RAW:
			return emit(s, NULL, 0, p, len, out, arg);
		case ST_DATA: {
			size_t n = s->data_left < len ? (size_t)s->data_left : len;
			if (s->data_left != UINT64_MAX) {
				s->data_left -= n;
				if (s->data_left == 0)
					s->state = ST_TRAIL;
			}
			return emit(s, NULL, 0, p, n, out, arg);
		}
		case ST_DETECT:
			took = gather(s, p, len);
			p += took;
			len -= took;
			if (s->hdr_len < s->hdr_need)
				return 0;
			if (memcmp(s->hdr, "RIFF", 4) == 0) {
				s->kind = PARLEY_PCM_WAV;
				s->state = ST_RIFF; /* keep the 4 bytes, want 8 more */
				s->hdr_need = 12;
				break;
			}
			s->kind = PARLEY_PCM_RAW;
			s->state = ST_RAW;
			return emit(s, s->hdr, s->hdr_len, p, len, out, arg);
		case ST_RIFF:
		case ST_CHUNK:
		case ST_FMT: {
			took = gather(s, p, len);
			p += took;
			len -= took;
			s->header_bytes += took;
			if (s->hdr_len < s->hdr_need)
				return 0;
			int rc = on_header(s);
			if (rc)
				return rc;
			break;
		}
		case ST_SKIP:
			took = s->skip < len ? s->skip : len;
			p += took;
			len -= took;
			s->skip -= (uint32_t)took;
			s->header_bytes += took;
			if (s->skip == 0)
				expect(s, ST_CHUNK, 8);
			break;
		}
	}
	/* a chunk that ended exactly at a state change: nothing more to do,
	 * except a skip of 0 bytes (an empty chunk) */
	if (s->state == ST_SKIP && s->skip == 0)
		expect(s, ST_CHUNK, 8);
	return 0;
}

int parley_pcm_stream_finish(struct parley_pcm_stream *s)
{
	switch (s->state) {
	case ST_FAILED:
		return PARLEY_E_INVAL;
	case ST_RIFF:
	case ST_CHUNK:
	case ST_FMT:
	case ST_SKIP:
		return FAIL(s, "the WAV header was cut short (%u bytes)", (unsigned)s->header_bytes);
	default:
		return 0; /* DETECT with fewer than 4 bytes: less than 2 samples, dropped */
	}
}

uint64_t parley_pcm_stream_samples(const struct parley_pcm_stream *s)
{
	return s->samples;
}

int parley_pcm_stream_rate(const struct parley_pcm_stream *s)
{
	return s->rate;
}

const char *parley_pcm_stream_why(const struct parley_pcm_stream *s)
{
	return s->why;
}
