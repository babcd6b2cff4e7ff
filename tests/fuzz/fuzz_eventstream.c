/* Fuzz target: the AWS event stream decoder (src/llm/eventstream.c), bare
 * and under Bedrock's stream parser (src/llm/bedrock.c). Byte 0 controls:
 * bit 0 picks Bedrock's parser (1) or the bare decoder (0); bit 1 repairs
 * the CRCs of every frame first, so mutations reach the headers and the
 * events instead of stopping at the CRC checks; bits 2-7 give the chunk
 * size the rest is fed in (0: all at once). The seeds come from
 * gen-eventstream-corpus.mjs. Aborts if a decoded message points outside
 * the bytes it was decoded from or a fault has no words. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/backend.h"
#include "llm/eventstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void token(void *arg, const char *t, size_t n)
{
	(void)arg;
	volatile char sink = 0;
	for (size_t i = 0; i < n; i++)
		sink ^= t[i]; /* ASan sees an overread */
	(void)sink;
}
static void done(void *arg, const char *r) { (void)arg; if (!r || !*r) abort(); }
static void error(void *arg, const char *m) { (void)arg; if (!m || !*m) abort(); }

static int on_message(void *arg, const struct parley_es_message *m)
{
	(void)arg;
	volatile uint8_t sink = 0;
	for (size_t i = 0; i < m->nheaders; i++) {
		const struct parley_es_header *h = &m->headers[i];
		if (!h->name_len)
			abort();
		for (size_t k = 0; k < h->name_len; k++)
			sink ^= (uint8_t)h->name[k];
		for (size_t k = 0; h->bytes && k < h->len; k++)
			sink ^= h->bytes[k];
	}
	for (size_t k = 0; k < m->payload_len; k++)
		sink ^= m->payload[k];
	(void)sink;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Rewrites the prelude and message CRCs of each frame that fits. */
static void repair(uint8_t *b, size_t n)
{
	size_t off = 0;
	while (n - off >= 12) {
		uint32_t total = be32(b + off);
		put32(b + off + 8, parley_es_crc32(0, b + off, 8));
		if (total < 16 || total > n - off)
			break;
		put32(b + off + total - 4, parley_es_crc32(0, b + off, total - 4));
		off += total;
	}
}

static void run(bool bedrock, size_t chunk, const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool bedrock = data[0] & 1;
	size_t chunk = data[0] >> 2;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	if (!chunk)
		chunk = n ? n : 1;
	if (!(data[0] & 2)) {
		run(bedrock, chunk, p, n);
		return 0;
	}
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return 0;
	memcpy(copy, p, n);
	repair(copy, n);
	run(bedrock, chunk, copy, n);
	free(copy);
	return 0;
}

static void run(bool bedrock, size_t chunk, const uint8_t *p, size_t n)
{

	if (bedrock) {
		const struct parley_llm_backend *b = &parley_llm_bedrock;
		struct parley_llm_sink sink = { token, done, error, NULL };
		void *st = b->stream_new(NULL, &sink);
		int stopped = 0;
		for (size_t off = 0; off < n && !stopped; off += chunk)
			stopped = b->stream_feed(st, (const char *)p + off,
						 n - off < chunk ? n - off : chunk);
		if (!stopped)
			b->stream_finish(st);
		b->stream_free(st);
		return;
	}
	struct parley_es_decoder d;
	parley_es_init(&d, 1u << 16, on_message, NULL);
	int rc = 0;
	for (size_t off = 0; off < n && !rc; off += chunk)
		rc = parley_es_feed(&d, p + off, n - off < chunk ? n - off : chunk);
	if (!rc)
		rc = parley_es_finish(&d);
	if ((rc != 0) != (parley_es_fault(&d) != PARLEY_ES_OK) || (rc && !*parley_es_error(&d)))
		abort();
	parley_es_destroy(&d);
}
