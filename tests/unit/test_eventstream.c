/* Unit tests: the AWS event stream decoder (src/llm/eventstream.c).
 * Frames are built here by an encoder of the test's own (CRCs included),
 * then decoded whole, split at every byte, one byte at a time, and with
 * each kind of corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm/eventstream.h"
#include "util/err.h"

/* ---- an encoder ---------------------------------------------------------- */

struct enc {
	uint8_t b[4096];
	size_t n;
};

static void put(struct enc *e, const void *p, size_t n)
{
	assert_true(e->n + n <= sizeof e->b);
	if (n)
		memcpy(e->b + e->n, p, n);
	e->n += n;
}

static void put_be(struct enc *e, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		e->b[e->n++] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A header: name, type, then the value's raw bytes (len is the value's
 * length for types 6 and 7, which get their u16 prefix here). */
static void header(struct enc *h, const char *name, uint8_t type, const void *v, size_t len)
{
	put_be(h, strlen(name), 1);
	put(h, name, strlen(name));
	put_be(h, type, 1);
	if (type == PARLEY_ES_BYTES || type == PARLEY_ES_STRING)
		put_be(h, len, 2);
	put(h, v, len);
}

static void str_header(struct enc *h, const char *name, const char *value)
{
	header(h, name, PARLEY_ES_STRING, value, strlen(value));
}

/* Appends one message with headers hb and payload to out. */
static void message(struct enc *out, const struct enc *hb, const char *payload, size_t plen)
{
	size_t start = out->n;
	put_be(out, 16 + hb->n + plen, 4);
	put_be(out, hb->n, 4);
	put_be(out, parley_es_crc32(0, out->b + start, 8), 4);
	put(out, hb->b, hb->n);
	put(out, payload, plen);
	put_be(out, parley_es_crc32(0, out->b + start, out->n - start), 4);
}

/* ---- what the callback saw ----------------------------------------------- */

struct seen {
	int count;
	char log[4096]; /* one line per message: headers and payload */
	size_t len;
	int stop_after; /* return 1 after this many messages; 0 = never */
};

static int on_message(void *arg, const struct parley_es_message *m)
{
	struct seen *s = arg;
	s->count++;
	for (size_t i = 0; i < m->nheaders; i++) {
		const struct parley_es_header *h = &m->headers[i];
		s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "%.*s/%d=",
					   (int)h->name_len, h->name, h->type);
		if (h->bytes)
			s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "[%zu:%.*s]",
						   h->len, (int)h->len, (const char *)h->bytes);
		else
			s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "%lld",
						   (long long)h->integer);
		s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, " ");
	}
	s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "|%.*s\n",
				   (int)m->payload_len, (const char *)m->payload);
	return s->stop_after && s->count >= s->stop_after;
}

/* Three messages: every header type; no headers and no payload; a Bedrock
 * contentBlockDelta. */
static void sample(struct enc *out)
{
	struct enc h = { .n = 0 };
	uint8_t byte = 0xfb; /* -5 */
	uint8_t sh[2] = { 0x80, 0x01 }; /* -32767 */
	uint8_t in[4] = { 0, 1, 0, 0 }; /* 65536 */
	uint8_t lg[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe }; /* -2 */
	uint8_t ts[8] = { 0, 0, 1, 0x8f, 0x5b, 0x2a, 0x3c, 0x00 };
	header(&h, "t", PARLEY_ES_TRUE, NULL, 0);
	header(&h, "f", PARLEY_ES_FALSE, NULL, 0);
	header(&h, "byte", PARLEY_ES_BYTE, &byte, 1);
	header(&h, "short", PARLEY_ES_SHORT, sh, 2);
	header(&h, "int", PARLEY_ES_INT, in, 4);
	header(&h, "long", PARLEY_ES_LONG, lg, 8);
	header(&h, "bytes", PARLEY_ES_BYTES, "a\0b", 3);
	str_header(&h, "string", "hello");
	header(&h, "ts", PARLEY_ES_TIMESTAMP, ts, 8);
	header(&h, "uuid", PARLEY_ES_UUID, "0123456789abcdef", 16);
	message(out, &h, "payload one", 11);

	struct enc none = { .n = 0 };
	message(out, &none, "", 0);

	struct enc b = { .n = 0 };
	str_header(&b, ":event-type", "contentBlockDelta");
	str_header(&b, ":content-type", "application/json");
	str_header(&b, ":message-type", "event");
	static const char json[] = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},\"p\":\"abcd\"}";
	message(out, &b, json, strlen(json));
}

static const char *const sample_log =
	"t/0=1 f/1=0 byte/2=-5 short/3=-32767 int/4=65536 long/5=-2 bytes/6=[3:a] "
	"string/7=[5:hello] ts/8=1715221445632 uuid/9=[16:0123456789abcdef] |payload one\n"
	"|\n"
	":event-type/7=[17:contentBlockDelta] :content-type/7=[16:application/json] "
	":message-type/7=[5:event] |{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},\"p\":\"abcd\"}\n";

/* ---- tests ----------------------------------------------------------------- */

static void crc32_known_value(void **state)
{
	(void)state;
	assert_int_equal(parley_es_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(parley_es_crc32(parley_es_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
	assert_int_equal(parley_es_crc32(0, "", 0), 0);
}

static void valid_frames(void **state)
{
	(void)state;
	struct enc f = { .n = 0 };
	sample(&f);
	struct seen s = { 0 };
	struct parley_es_decoder d;
	parley_es_init(&d, 0, on_message, &s);
	assert_int_equal(parley_es_feed(&d, f.b, f.n), 0);
	assert_int_equal(parley_es_finish(&d), 0);
	assert_int_equal(s.count, 3);
	assert_string_equal(s.log, sample_log);
	assert_int_equal(parley_es_fault(&d), PARLEY_ES_OK);
	assert_string_equal(parley_es_error(&d), "");
	parley_es_destroy(&d);
}

static void split_at_every_byte(void **state)
{
	(void)state;
	struct enc f = { .n = 0 };
	sample(&f);
	for (size_t k = 0; k <= f.n; k++) {
		struct seen s = { 0 };
		struct parley_es_decoder d;
		parley_es_init(&d, 0, on_message, &s);
		assert_int_equal(parley_es_feed(&d, f.b, k), 0);
		assert_int_equal(parley_es_feed(&d, f.b + k, f.n - k), 0);
		assert_int_equal(parley_es_finish(&d), 0);
		if (strcmp(s.log, sample_log) != 0)
			fail_msg("split at %zu:\n%s", k, s.log);
		parley_es_destroy(&d);
	}
	/* and one byte at a time */
	struct seen s = { 0 };
	struct parley_es_decoder d;
	parley_es_init(&d, 0, on_message, &s);
	for (size_t i = 0; i < f.n; i++)
		assert_int_equal(parley_es_feed(&d, f.b + i, 1), 0);
	assert_int_equal(parley_es_finish(&d), 0);
	assert_string_equal(s.log, sample_log);
	parley_es_destroy(&d);
}

static void helpers(void **state)
{
	(void)state;
	struct parley_es_header h[2] = {
		{ .name = ":event-type", .name_len = 11, .type = PARLEY_ES_STRING,
		  .bytes = (const uint8_t *)"messageStop", .len = 11 },
		{ .name = "n", .name_len = 1, .type = PARLEY_ES_INT, .integer = 3 },
	};
	struct parley_es_message m = { .headers = h, .nheaders = 2 };
	char out[8];
	assert_true(parley_es_header_string(&m, ":event-type", out, sizeof out));
	assert_string_equal(out, "message"); /* cut to fit */
	assert_false(parley_es_header_string(&m, "n", out, sizeof out));
	assert_string_equal(out, "");
	assert_false(parley_es_header_string(&m, ":message-type", out, sizeof out));
	assert_ptr_equal(parley_es_header_find(&m, "n"), &h[1]);
	assert_null(parley_es_header_find(&m, ":event"));
}

/* Feeds bytes and expects fault f (with its words) from feed or finish;
 * the fault then sticks. */
static void expect_fault(const uint8_t *b, size_t n, size_t max_total, enum parley_es_fault f,
			 int rc, const char *words, int messages_before)
{
	struct seen s = { 0 };
	struct parley_es_decoder d;
	parley_es_init(&d, max_total, on_message, &s);
	int got = parley_es_feed(&d, b, n);
	if (got == 0)
		got = parley_es_finish(&d);
	assert_int_equal(got, rc);
	assert_int_equal(parley_es_fault(&d), f);
	if (!strstr(parley_es_error(&d), words))
		fail_msg("error '%s' lacks '%s'", parley_es_error(&d), words);
	assert_int_equal(s.count, messages_before);
	assert_int_equal(parley_es_feed(&d, b, n), rc); /* sticky */
	assert_int_equal(parley_es_finish(&d), rc);
	parley_es_destroy(&d);
}

static void corruption(void **state)
{
	(void)state;
	struct enc f = { .n = 0 };
	sample(&f);
	size_t first = f.b[3] | (size_t)f.b[2] << 8; /* length of the first message */
	uint8_t b[4096];

	/* bad prelude CRC: a length bit flipped (in the second message) */
	memcpy(b, f.b, f.n);
	b[first + 3] ^= 0x01;
	expect_fault(b, f.n, 0, PARLEY_ES_PRELUDE_CRC, PARLEY_E_INVAL, "prelude CRC mismatch", 1);
	/* ... or the CRC itself */
	memcpy(b, f.b, f.n);
	b[10] ^= 0x80;
	expect_fault(b, f.n, 0, PARLEY_ES_PRELUDE_CRC, PARLEY_E_INVAL, "prelude CRC mismatch", 0);

	/* bad message CRC: a payload byte, a header byte, the CRC */
	memcpy(b, f.b, f.n);
	b[first - 6] ^= 0x20;
	expect_fault(b, f.n, 0, PARLEY_ES_MESSAGE_CRC, PARLEY_E_INVAL, "message CRC mismatch", 0);
	memcpy(b, f.b, f.n);
	b[14] ^= 0x01;
	expect_fault(b, f.n, 0, PARLEY_ES_MESSAGE_CRC, PARLEY_E_INVAL, "message CRC mismatch", 0);
	memcpy(b, f.b, f.n);
	b[f.n - 1] ^= 0xff;
	expect_fault(b, f.n, 0, PARLEY_ES_MESSAGE_CRC, PARLEY_E_INVAL, "message CRC mismatch", 2);

	/* truncated: inside the last message, inside a prelude */
	expect_fault(f.b, f.n - 1, 0, PARLEY_ES_TRUNCATED, PARLEY_E_INVAL,
		     "ended inside a message", 2);
	expect_fault(f.b, first + 5, 0, PARLEY_ES_TRUNCATED, PARLEY_E_INVAL, "prelude (5 of 12", 1);
}

/* A 12-byte prelude with a correct CRC. */
static void prelude(uint8_t *b, uint32_t total, uint32_t hlen)
{
	struct enc e = { .n = 0 };
	put_be(&e, total, 4);
	put_be(&e, hlen, 4);
	put_be(&e, parley_es_crc32(0, e.b, 8), 4);
	memcpy(b, e.b, 12);
}

static void lengths(void **state)
{
	(void)state;
	uint8_t b[12];
	/* oversized: refused from the prelude alone, nothing buffered */
	prelude(b, PARLEY_ES_MAX_TOTAL + 1, 0);
	expect_fault(b, 12, 0, PARLEY_ES_TOO_LARGE, PARLEY_E_RANGE, "over the 16777216-byte limit", 0);
	prelude(b, 0xffffffffu, 0);
	expect_fault(b, 12, 0, PARLEY_ES_TOO_LARGE, PARLEY_E_RANGE, "message length 4294967295", 0);
	prelude(b, 2000, 0);
	expect_fault(b, 12, 1000, PARLEY_ES_TOO_LARGE, PARLEY_E_RANGE, "over the 1000-byte limit", 0);
	prelude(b, 300000, 140000);
	expect_fault(b, 12, 0, PARLEY_ES_TOO_LARGE, PARLEY_E_RANGE, "headers length 140000", 0);
	/* impossible lengths */
	prelude(b, 15, 0);
	expect_fault(b, 12, 0, PARLEY_ES_BAD_LENGTH, PARLEY_E_INVAL, "below the 16-byte minimum", 0);
	prelude(b, 100, 85);
	expect_fault(b, 12, 0, PARLEY_ES_BAD_LENGTH, PARLEY_E_INVAL, "does not fit", 0);
	prelude(b, 100, 84); /* fits: waits for the rest */
	struct seen s = { 0 };
	struct parley_es_decoder d;
	parley_es_init(&d, 0, on_message, &s);
	assert_int_equal(parley_es_feed(&d, b, 12), 0);
	assert_int_equal(parley_es_finish(&d), PARLEY_E_INVAL);
	assert_int_equal(parley_es_fault(&d), PARLEY_ES_TRUNCATED);
	parley_es_destroy(&d);
}

static void bad_headers(void **state)
{
	(void)state;
	static const struct {
		uint8_t h[12];
		size_t n;
		const char *words;
	} cases[] = {
		{ { 0, 7, 0, 0 }, 4, "has no name" },
		{ { 1, 'a', 10 }, 3, "unknown value type 10" },
		{ { 1, 'a', 7, 0, 5, 'x' }, 6, "runs past the header block" },
		{ { 1, 'a', 7, 0 }, 4, "runs past the header block" },
		{ { 1, 'a', 4, 0, 0 }, 5, "runs past the header block" },
		{ { 5, 'a', 'b' }, 3, "runs past the header block" },
		{ { 1, 'a', 9, 1, 2, 3 }, 6, "runs past the header block" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct enc h = { .n = 0 }, f = { .n = 0 };
		put(&h, cases[i].h, cases[i].n);
		message(&f, &h, "x", 1);
		expect_fault(f.b, f.n, 0, PARLEY_ES_BAD_HEADER, PARLEY_E_INVAL, cases[i].words, 0);
	}
	/* 33 headers */
	struct enc h = { .n = 0 }, f = { .n = 0 };
	for (int i = 0; i < PARLEY_ES_MAX_HEADERS + 1; i++)
		header(&h, "k", PARLEY_ES_TRUE, NULL, 0);
	message(&f, &h, "", 0);
	expect_fault(f.b, f.n, 0, PARLEY_ES_BAD_HEADER, PARLEY_E_INVAL, "more than 32 headers", 0);
}

static void callback_stops(void **state)
{
	(void)state;
	struct enc f = { .n = 0 };
	sample(&f);
	struct seen s = { .stop_after = 2 };
	struct parley_es_decoder d;
	parley_es_init(&d, 0, on_message, &s);
	assert_int_equal(parley_es_feed(&d, f.b, f.n), 1);
	assert_int_equal(s.count, 2);
	assert_int_equal(parley_es_fault(&d), PARLEY_ES_OK);
	parley_es_destroy(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32_known_value),
		cmocka_unit_test(valid_frames),
		cmocka_unit_test(split_at_every_byte),
		cmocka_unit_test(helpers),
		cmocka_unit_test(corruption),
		cmocka_unit_test(lengths),
		cmocka_unit_test(bad_headers),
		cmocka_unit_test(callback_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
