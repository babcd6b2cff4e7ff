/*
 * pcmstream.h - decoding a speech service's audio answer as it streams in:
 * raw 16-bit mono little-endian PCM at a known rate, or a WAV file read
 * on the fly.
 *
 * The bytes arrive in chunks cut anywhere (an HTTP body): a chunk may end
 * inside a sample (the odd byte is carried to the next chunk) or inside the
 * WAV header (kept until it is whole). Each feed hands all of its whole
 * samples to the callback in one call, so audio goes on as soon as it
 * arrives.
 *
 * WAV: the RIFF header, then chunks in any order until "data" ("fmt " must
 * come before it; LIST, fact and the like are skipped, at most
 * PARLEY_PCM_HEADER_MAX bytes of them). A data size of 0 or 0xFFFFFFFF
 * means "until the end" (streamed WAV, as Kokoro-FastAPI and ffmpeg write
 * it); otherwise bytes after the data chunk are ignored. Only 16-bit mono
 * PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format) at
 * PARLEY_PCM_RATE_MIN..MAX Hz is accepted; anything else fails with a
 * sentence saying what was sent.
 *
 * DETECT reads a WAV when the first four bytes are "RIFF", raw PCM
 * otherwise (a service that ignores response_format: "pcm").
 *
 * One stream per answer, used by one thread at a time; it owns a scratch
 * buffer as large as the largest chunk fed (parley_pcm_stream_free()).
 */
#ifndef PARLEY_AUDIO_PCMSTREAM_H
#define PARLEY_AUDIO_PCMSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARLEY_PCM_RATE_MIN 8000
#define PARLEY_PCM_RATE_MAX 96000
#define PARLEY_PCM_HEADER_MAX 65536 /* WAV bytes before the samples */

enum parley_pcm_kind {
	PARLEY_PCM_RAW = 0, /* raw samples at the rate given */
	PARLEY_PCM_WAV,     /* a WAV file */
	PARLEY_PCM_DETECT,  /* WAV if it starts with "RIFF", else raw */
};

/* n samples (borrowed for the call) at rate Hz. Returns 0 to go on,
 * nonzero to stop (feed then returns PARLEY_E_CLOSED). */
typedef int (*parley_pcm_out_fn)(void *arg, const int16_t *pcm, size_t n, int rate);

struct parley_pcm_stream {
	/* all private */
	enum parley_pcm_kind kind;
	int rate;            /* raw: as given; WAV: from "fmt " (0 until read) */
	int state;
	uint8_t hdr[64];     /* the part of a header being assembled */
	size_t hdr_len, hdr_need;
	uint32_t skip;       /* bytes of a chunk still to skip */
	uint64_t data_left;  /* bytes of "data" still to come; UINT64_MAX: to the end */
	size_t header_bytes; /* WAV bytes read before the samples */
	bool fmt_seen;
	bool have_carry;
	uint8_t carry;       /* the odd byte of a sample split across chunks */
	uint64_t samples;    /* samples delivered so far */
	int16_t *scratch;
	size_t scratch_cap;
	char why[160];       /* the sentence of the last error */
};

/* Starts a stream of kind; raw_rate is the rate of raw PCM (RAW, DETECT). */
void parley_pcm_stream_init(struct parley_pcm_stream *s, enum parley_pcm_kind kind,
			    int raw_rate);

/* Frees the scratch buffer; s may be initialised again. */
void parley_pcm_stream_free(struct parley_pcm_stream *s);

/*
 * Feeds len bytes (borrowed); calls out at most once with every whole
 * sample they complete. Returns 0, PARLEY_E_INVAL (not audio parley can
 * read: parley_pcm_stream_why() says why; the stream stays failed),
 * PARLEY_E_CLOSED (out asked to stop) or PARLEY_E_NOMEM.
 */
int parley_pcm_stream_feed(struct parley_pcm_stream *s, const void *data, size_t len,
			   parley_pcm_out_fn out, void *arg);

/* The end of the bytes: returns 0, or PARLEY_E_INVAL when a WAV header was
 * cut short. A final odd byte is dropped. */
int parley_pcm_stream_finish(struct parley_pcm_stream *s);

/* Samples delivered so far. */
uint64_t parley_pcm_stream_samples(const struct parley_pcm_stream *s);

/* The rate of the samples (0 before a WAV's "fmt " chunk was read). */
int parley_pcm_stream_rate(const struct parley_pcm_stream *s);

/* The last error as a sentence ("" when none). */
const char *parley_pcm_stream_why(const struct parley_pcm_stream *s);

#endif
