/* Unit tests: raw PCM and streamed WAV decoded chunk by chunk
 * (src/audio/pcmstream.c), split at every byte offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audio/pcmstream.h"
#include "util/err.h"

#define NSAMP 301 /* odd, so sample boundaries fall at every parity */

struct sinkbuf {
	int16_t pcm[4 * NSAMP];
	size_t n;
	int rate;
	int calls;
	int stop_after; /* stop when this many samples were seen; 0: never */
};

static int collect(void *arg, const int16_t *pcm, size_t n, int rate)
{
	struct sinkbuf *b = arg;
	assert_true(n > 0);
	assert_true(b->n + n <= sizeof b->pcm / sizeof b->pcm[0]);
	memcpy(b->pcm + b->n, pcm, n * sizeof *pcm);
	b->n += n;
	b->rate = rate;
	b->calls++;
	return b->stop_after && b->n >= (size_t)b->stop_after;
}

static int16_t sample(size_t i)
{
	return (int16_t)((i * 7919u) ^ (i << 9)); /* every byte value shows up */
}

static size_t put_samples(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t v = (uint16_t)sample(i);
		p[2 * i] = (uint8_t)(v & 0xff);
		p[2 * i + 1] = (uint8_t)(v >> 8);
	}
	return 2 * n;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

struct wavopt {
	unsigned tag, channels, bits;
	uint32_t rate, riff_size, data_size;
	int list_len;        /* a LIST chunk of this size before "fmt " (-1: none) */
	bool extensible;     /* 40-byte fmt with a sub-format */
	bool data_first;     /* "data" before "fmt " */
	bool trailing_chunk; /* a LIST chunk after the data */
};

static const struct wavopt STREAMED = { 1, 1, 16, 22050, 0xFFFFFFFFu, 0xFFFFFFFFu, 27, false,
					false, false };

/* A WAV file of NSAMP samples built as opt says; returns its length. */
static size_t make_wav(uint8_t *buf, struct wavopt o)
{
	size_t n = 0;
	memcpy(buf, "RIFF", 4);
	put32(buf + 4, o.riff_size);
	memcpy(buf + 8, "WAVE", 4);
	n = 12;
	if (o.list_len >= 0) {
		memcpy(buf + n, "LIST", 4);
		put32(buf + n + 4, (uint32_t)o.list_len);
		n += 8;
		for (int i = 0; i < o.list_len + (o.list_len & 1); i++)
			buf[n++] = (uint8_t)('a' + i % 26);
	}
	if (o.data_first) {
		memcpy(buf + n, "data", 4);
		put32(buf + n + 4, 4);
		n += 8 + 4;
	}
	uint32_t fmtlen = o.extensible ? 40 : 16;
	memcpy(buf + n, "fmt ", 4);
	put32(buf + n + 4, fmtlen);
	uint8_t *f = buf + n + 8;
	memset(f, 0, fmtlen);
	put16(f, o.extensible ? 0xFFFE : o.tag);
	put16(f + 2, o.channels);
	put32(f + 4, o.rate);
	put32(f + 8, o.rate * o.channels * o.bits / 8);
	put16(f + 12, o.channels * o.bits / 8);
	put16(f + 14, o.bits);
	if (o.extensible) {
		put16(f + 16, 22);
		put16(f + 18, o.bits);
		put32(f + 20, 4);
		put16(f + 24, o.tag); /* the sub-format GUID's first two bytes */
	}
	n += 8 + fmtlen;
	memcpy(buf + n, "data", 4);
	put32(buf + n + 4, o.data_size);
	n += 8;
	n += put_samples(buf + n, NSAMP);
	if (o.trailing_chunk) {
		memcpy(buf + n, "LIST", 4);
		put32(buf + n + 4, 6);
		memcpy(buf + n + 8, "junk!!", 6);
		n += 14;
	}
	return n;
}

static void check_samples(const struct sinkbuf *b, size_t n)
{
	assert_int_equal(b->n, n);
	for (size_t i = 0; i < n; i++)
		if (b->pcm[i] != sample(i))
			fail_msg("sample %zu is %d, want %d", i, b->pcm[i], sample(i));
}

/* Feeds buf in pieces cut at a and b (a <= b), then finishes. */
static int feed3(enum parley_pcm_kind kind, const uint8_t *buf, size_t len, size_t a, size_t c,
		 struct sinkbuf *out)
{
	struct parley_pcm_stream s = { 0 };
	parley_pcm_stream_init(&s, kind, 24000);
	memset(out, 0, sizeof *out);
	int rc = parley_pcm_stream_feed(&s, buf, a, collect, out);
	int calls = out->calls;
	assert_true(calls <= 1); /* one call per feed at most */
	if (rc == 0)
		rc = parley_pcm_stream_feed(&s, buf + a, c - a, collect, out);
	assert_true(out->calls - calls <= 1);
	calls = out->calls;
	if (rc == 0)
		rc = parley_pcm_stream_feed(&s, buf + c, len - c, collect, out);
	assert_true(out->calls - calls <= 1);
	if (rc == 0)
		rc = parley_pcm_stream_finish(&s);
	parley_pcm_stream_free(&s);
	return rc;
}

static void raw_every_split(void **state)
{
	(void)state;
	uint8_t buf[2 * NSAMP + 1];
	size_t len = put_samples(buf, NSAMP);
	buf[len++] = 0x5a; /* a final odd byte: dropped */
	struct sinkbuf *out = malloc(sizeof *out);
	for (size_t a = 0; a <= len; a++) {
		for (size_t c = a; c <= len; c += 7) {
			assert_int_equal(feed3(PARLEY_PCM_RAW, buf, len, a, c, out), 0);
			check_samples(out, NSAMP);
			assert_int_equal(out->rate, 24000);
		}
	}
	free(out);
}

static void byte_by_byte(enum parley_pcm_kind kind, const uint8_t *buf, size_t len,
			 struct sinkbuf *out)
{
	struct parley_pcm_stream s = { 0 };
	parley_pcm_stream_init(&s, kind, 24000);
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(parley_pcm_stream_feed(&s, buf + i, 1, collect, out), 0);
	assert_int_equal(parley_pcm_stream_finish(&s), 0);
	assert_int_equal(parley_pcm_stream_samples(&s), out->n);
	parley_pcm_stream_free(&s);
}

static void wav_streamed_every_split(void **state)
{
	(void)state;
	uint8_t buf[4096];
	size_t len = make_wav(buf, STREAMED);
	struct sinkbuf *out = malloc(sizeof *out);
	for (size_t a = 0; a <= len; a++) {
		for (size_t c = a; c <= len; c += 5) {
			assert_int_equal(feed3(PARLEY_PCM_WAV, buf, len, a, c, out), 0);
			check_samples(out, NSAMP);
			assert_int_equal(out->rate, 22050);
			assert_int_equal(feed3(PARLEY_PCM_DETECT, buf, len, a, c, out), 0);
			check_samples(out, NSAMP);
			assert_int_equal(out->rate, 22050);
		}
	}
	byte_by_byte(PARLEY_PCM_WAV, buf, len, out);
	check_samples(out, NSAMP);
	assert_int_equal(out->calls, NSAMP); /* one call per completed sample */
	free(out);
}

static void wav_variants(void **state)
{
	(void)state;
	uint8_t buf[4096];
	struct sinkbuf *out = malloc(sizeof *out);
	struct wavopt o = STREAMED;

	o.data_size = 0; /* "until the end" too */
	o.riff_size = 0;
	o.list_len = -1;
	size_t len = make_wav(buf, o);
	for (size_t a = 0; a <= len; a++) {
		assert_int_equal(feed3(PARLEY_PCM_WAV, buf, len, a, a, out), 0);
		check_samples(out, NSAMP);
	}

	o = STREAMED; /* a real data size and a chunk after the data: ignored */
	o.data_size = 2 * NSAMP;
	o.trailing_chunk = true;
	o.rate = 24000;
	len = make_wav(buf, o);
	for (size_t a = 0; a <= len; a++) {
		assert_int_equal(feed3(PARLEY_PCM_WAV, buf, len, a, len, out), 0);
		check_samples(out, NSAMP);
		assert_int_equal(out->rate, 24000);
	}

	o = STREAMED; /* a data size shorter than what follows */
	o.data_size = 2 * 100;
	len = make_wav(buf, o);
	assert_int_equal(feed3(PARLEY_PCM_WAV, buf, len, len / 2, len, out), 0);
	check_samples(out, 100);

	o = STREAMED; /* WAVE_FORMAT_EXTENSIBLE with the PCM sub-format */
	o.extensible = true;
	o.rate = 48000;
	len = make_wav(buf, o);
	for (size_t a = 0; a <= len; a += 3) {
		assert_int_equal(feed3(PARLEY_PCM_DETECT, buf, len, a, len, out), 0);
		check_samples(out, NSAMP);
		assert_int_equal(out->rate, 48000);
	}

	o = STREAMED; /* an empty LIST chunk */
	o.list_len = 0;
	len = make_wav(buf, o);
	byte_by_byte(PARLEY_PCM_WAV, buf, len, out);
	check_samples(out, NSAMP);
	free(out);
}

static void detect_raw(void **state)
{
	(void)state;
	uint8_t buf[2 * NSAMP];
	size_t len = put_samples(buf, NSAMP);
	struct sinkbuf *out = malloc(sizeof *out);
	for (size_t a = 0; a <= len; a++) {
		assert_int_equal(feed3(PARLEY_PCM_DETECT, buf, len, a, a + (a < len), out), 0);
		check_samples(out, NSAMP); /* the 4 bytes looked at are samples too */
		assert_int_equal(out->rate, 24000);
	}
	byte_by_byte(PARLEY_PCM_DETECT, buf, len, out);
	check_samples(out, NSAMP);
	free(out);
}

static void expect_bad(struct wavopt o, const char *word)
{
	uint8_t buf[4096];
	size_t len = make_wav(buf, o);
	struct sinkbuf *out = malloc(sizeof *out);
	for (size_t a = 0; a <= len; a++) {
		struct parley_pcm_stream s = { 0 };
		parley_pcm_stream_init(&s, PARLEY_PCM_DETECT, 24000);
		memset(out, 0, sizeof *out);
		int rc = parley_pcm_stream_feed(&s, buf, a, collect, out);
		if (rc == 0)
			rc = parley_pcm_stream_feed(&s, buf + a, len - a, collect, out);
		assert_int_equal(rc, PARLEY_E_INVAL);
		assert_int_equal(out->n, 0); /* no sample of bad audio goes out */
		if (!strstr(parley_pcm_stream_why(&s), word))
			fail_msg("why '%s' lacks '%s'", parley_pcm_stream_why(&s), word);
		/* failed for good */
		assert_int_equal(parley_pcm_stream_feed(&s, buf, 2, collect, out), PARLEY_E_INVAL);
		assert_int_equal(parley_pcm_stream_finish(&s), PARLEY_E_INVAL);
		parley_pcm_stream_free(&s);
	}
	free(out);
}

static void bad_headers(void **state)
{
	(void)state;
	struct wavopt o = STREAMED;
	o.channels = 2;
	expect_bad(o, "2 channels");
	o = STREAMED;
	o.bits = 8;
	expect_bad(o, "8-bit");
	o = STREAMED;
	o.tag = 3; /* IEEE float */
	expect_bad(o, "not PCM (format 3)");
	o.extensible = true;
	expect_bad(o, "not PCM (format 3)");
	o = STREAMED;
	o.rate = 4000;
	expect_bad(o, "4000 Hz");
	o = STREAMED;
	o.rate = 1000000;
	expect_bad(o, "1000000 Hz");
	o = STREAMED;
	o.data_first = true;
	expect_bad(o, "before its format");
	{
		/* build by hand: the LIST chunk claims more than the cap */
		uint8_t buf[64];
		memcpy(buf, "RIFF\xff\xff\xff\xffWAVELIST", 16);
		put32(buf + 16, 0xFFFFFFF0u);
		struct parley_pcm_stream s = { 0 };
		struct sinkbuf *out = calloc(1, sizeof *out);
		parley_pcm_stream_init(&s, PARLEY_PCM_WAV, 0);
		assert_int_equal(parley_pcm_stream_feed(&s, buf, 20, collect, out), PARLEY_E_INVAL);
		assert_non_null(strstr(parley_pcm_stream_why(&s), "longer than"));
		parley_pcm_stream_free(&s);
		free(out);
	}
	{
		/* RIFF but not WAVE (an AVI, say) */
		struct parley_pcm_stream s = { 0 };
		struct sinkbuf *out = calloc(1, sizeof *out);
		parley_pcm_stream_init(&s, PARLEY_PCM_DETECT, 24000);
		assert_int_equal(parley_pcm_stream_feed(&s, "RIFF\0\0\0\0AVI LIST", 16, collect, out),
				 PARLEY_E_INVAL);
		assert_non_null(strstr(parley_pcm_stream_why(&s), "not a WAV"));
		/* WAV asked for, mp3 sent */
		parley_pcm_stream_init(&s, PARLEY_PCM_WAV, 0);
		assert_int_equal(parley_pcm_stream_feed(&s, "ID3\x04\0\0\0\0\0\0\0\0\0", 13, collect, out),
				 PARLEY_E_INVAL);
		assert_non_null(strstr(parley_pcm_stream_why(&s), "not a WAV"));
		/* a format chunk too short */
		uint8_t buf[64];
		memcpy(buf, "RIFF\xff\xff\xff\xffWAVEfmt ", 16);
		put32(buf + 16, 8);
		parley_pcm_stream_init(&s, PARLEY_PCM_WAV, 0);
		assert_int_equal(parley_pcm_stream_feed(&s, buf, 20, collect, out), PARLEY_E_INVAL);
		assert_non_null(strstr(parley_pcm_stream_why(&s), "too short"));
		parley_pcm_stream_free(&s);
		free(out);
	}
}

static void header_cut_short(void **state)
{
	(void)state;
	uint8_t buf[4096];
	size_t len = make_wav(buf, STREAMED);
	size_t header = len - 2 * NSAMP;
	struct sinkbuf *out = malloc(sizeof *out);
	for (size_t cut = 1; cut < header; cut++) {
		struct parley_pcm_stream s = { 0 };
		parley_pcm_stream_init(&s, PARLEY_PCM_WAV, 0);
		memset(out, 0, sizeof *out);
		assert_int_equal(parley_pcm_stream_feed(&s, buf, cut, collect, out), 0);
		assert_int_equal(parley_pcm_stream_finish(&s), PARLEY_E_INVAL);
		assert_non_null(strstr(parley_pcm_stream_why(&s), "cut short"));
		parley_pcm_stream_free(&s);
	}
	/* an empty answer is no error (no audio at all) */
	struct parley_pcm_stream s = { 0 };
	parley_pcm_stream_init(&s, PARLEY_PCM_DETECT, 24000);
	assert_int_equal(parley_pcm_stream_finish(&s), 0);
	assert_int_equal(parley_pcm_stream_samples(&s), 0);
	free(out);
}

static void sink_stops(void **state)
{
	(void)state;
	uint8_t buf[2 * NSAMP];
	size_t len = put_samples(buf, NSAMP);
	struct sinkbuf *out = calloc(1, sizeof *out);
	out->stop_after = 10;
	struct parley_pcm_stream s = { 0 };
	parley_pcm_stream_init(&s, PARLEY_PCM_RAW, 16000);
	assert_int_equal(parley_pcm_stream_feed(&s, buf, 11, collect, out), 0); /* 5 samples */
	assert_int_equal(parley_pcm_stream_feed(&s, buf + 11, len - 11, collect, out),
			 PARLEY_E_CLOSED);
	assert_int_equal(out->rate, 16000);
	parley_pcm_stream_free(&s);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(raw_every_split),
		cmocka_unit_test(wav_streamed_every_split),
		cmocka_unit_test(wav_variants),
		cmocka_unit_test(detect_raw),
		cmocka_unit_test(bad_headers),
		cmocka_unit_test(header_cut_short),
		cmocka_unit_test(sink_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
