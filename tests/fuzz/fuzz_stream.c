/* Fuzz target: the LLM answer stream parsers (SSE for OpenAI-compatible
 * servers, NDJSON for Ollama), fed in two pieces split by the first byte. */
#include <stddef.h>
#include <stdint.h>

#include "llm/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void token(void *arg, const char *t, size_t n) { (void)arg; (void)t; (void)n; }
static void done(void *arg, const char *r) { (void)arg; (void)r; }
static void error(void *arg, const char *m) { (void)arg; (void)m; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct parley_llm_backend *b = (data[0] & 1) ? &parley_llm_ollama : &parley_llm_openai;
	size_t split = size > 1 ? data[0] % size : 0;
	struct parley_llm_sink sink = { token, done, error, NULL };
	void *st = b->stream_new(NULL, &sink);
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	if (split > n)
		split = n;
	if (!b->stream_feed(st, text, split))
		if (!b->stream_feed(st, text + split, n - split))
			b->stream_finish(st);
	b->stream_free(st);
	return 0;
}
