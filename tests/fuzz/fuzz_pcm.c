/* Fuzz target: a speech service's audio answer (src/audio/pcmstream.c),
 * raw PCM or streamed WAV. Byte 0 picks the kind (raw, WAV, detect), bytes
 * 1-2 where the body is cut into three chunks; the rest is the body. The
 * same body is also decoded in one piece and byte by byte: all three must
 * give the same samples, rate and verdict, or the target aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/pcmstream.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int16_t *pcm;
	size_t n;
	int rate;
	int rc;
};

static int collect(void *arg, const int16_t *pcm, size_t n, int rate)
{
	struct result *r = arg;
	int16_t *p = realloc(r->pcm, (r->n + n) * sizeof *p);
	if (!p)
		abort();
	memcpy(p + r->n, pcm, n * sizeof *pcm);
	r->pcm = p;
	r->n += n;
	if (r->rate && r->rate != rate)
		abort(); /* the rate never changes within an answer */
	r->rate = rate;
	return 0;
}

static void decode(enum parley_pcm_kind kind, const uint8_t *body, size_t len, const size_t *cuts,
		   size_t ncuts, struct result *r)
{
	struct parley_pcm_stream s = { 0 };
	parley_pcm_stream_init(&s, kind, 24000);
	size_t at = 0;
	r->rc = 0;
	for (size_t i = 0; i <= ncuts && r->rc == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		r->rc = parley_pcm_stream_feed(&s, body + at, end - at, collect, r);
		at = end;
	}
	if (r->rc == 0)
		r->rc = parley_pcm_stream_finish(&s);
	if (r->rc != 0 && strlen(parley_pcm_stream_why(&s)) == 0)
		abort(); /* every failure says why */
	if (parley_pcm_stream_samples(&s) != r->n)
		abort();
	parley_pcm_stream_free(&s);
}

static void same(const struct result *a, const struct result *b)
{
	if (a->rc != b->rc || a->n != b->n || (a->n && a->rate != b->rate) ||
	    (a->n && memcmp(a->pcm, b->pcm, a->n * sizeof *a->pcm) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	enum parley_pcm_kind kind = (enum parley_pcm_kind)(data[0] % 3);
	const uint8_t *body = data + 3;
	size_t len = size - 3;
	size_t c1 = len ? data[1] % (len + 1) : 0, c2 = len ? data[2] % (len + 1) : 0;
	size_t cuts[2] = { c1 < c2 ? c1 : c2, c1 < c2 ? c2 : c1 };
	struct result whole = { 0 }, three = { 0 }, bytes = { 0 };
	decode(kind, body, len, NULL, 0, &whole);
	decode(kind, body, len, cuts, 2, &three);
	size_t *each = malloc((len ? len : 1) * sizeof *each);
	if (!each)
		abort();
	for (size_t i = 0; i < len; i++)
		each[i] = i;
	decode(kind, body, len, each, len, &bytes);
	free(each);
	same(&whole, &three);
	same(&whole, &bytes);
	free(whole.pcm);
	free(three.pcm);
	free(bytes.pcm);
	return 0;
}
