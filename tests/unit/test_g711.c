/*
 * Unit tests: G.711 mu-law and A-law (src/audio/g711.c) against the
 * reference coder's values (Sun's g711.c, as Python's audioop and SoX).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audio/g711.h"

/* linear, mu-law, A-law (from audioop.lin2ulaw / lin2alaw). */
static const struct {
	int16_t pcm;
	uint8_t ulaw, alaw;
} known[] = {
	{ 0, 0xff, 0xd5 },	{ 1, 0xff, 0xd5 },	 { -1, 0x7e, 0x55 },
	{ 100, 0xf2, 0xd3 },	{ -100, 0x72, 0x53 },	 { 1000, 0xce, 0xfa },
	{ -1000, 0x4e, 0x7a },	{ 8159, 0x9f, 0x8a },	 { 32767, 0x80, 0xaa },
	{ -32768, 0x00, 0x2a }, { 12345, 0x97, 0xbd },	 { -12345, 0x17, 0x3d },
};

static void encodes_like_the_reference(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		assert_int_equal(parley_ulaw_encode(known[i].pcm), known[i].ulaw);
		assert_int_equal(parley_alaw_encode(known[i].pcm), known[i].alaw);
	}
}

static void decodes_like_the_reference(void **state)
{
	(void)state;
	assert_int_equal(parley_ulaw_decode(0xff), 0);
	assert_int_equal(parley_ulaw_decode(0x7f), 0);
	assert_int_equal(parley_ulaw_decode(0x00), -32124);
	assert_int_equal(parley_ulaw_decode(0x80), 32124);
	assert_int_equal(parley_ulaw_decode(0xce), 988);
	assert_int_equal(parley_alaw_decode(0xd5), 8);
	assert_int_equal(parley_alaw_decode(0x55), -8);
	assert_int_equal(parley_alaw_decode(0xaa), 32256);
	assert_int_equal(parley_alaw_decode(0x2a), -32256);
	assert_int_equal(parley_alaw_decode(0xfa), 1008);
}

/* Every code decodes and encodes back to itself (mu-law's negative zero
 * 0x7f becomes 0xff), and the decoded values are monotonic in magnitude
 * within each sign. */
static void every_code_round_trips(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		uint8_t u = parley_ulaw_encode(parley_ulaw_decode((uint8_t)c));
		assert_int_equal(u, c == 0x7f ? 0xff : c);
		assert_int_equal(parley_alaw_encode(parley_alaw_decode((uint8_t)c)), c);
	}
}

/* Companding error stays within half a quantisation step of the segment. */
static void error_is_bounded(void **state)
{
	(void)state;
	for (int v = -32768; v <= 32767; v += 7) {
		int du = parley_ulaw_decode(parley_ulaw_encode((int16_t)v)) - v;
		int da = parley_alaw_decode(parley_alaw_encode((int16_t)v)) - v;
		int mag = v < 0 ? -v : v;
		int tol = mag / 16 + 20; /* 4 mantissa bits: step/mag <= 1/16 */
		if (mag > 32000)
			tol += 700; /* clipping at the top segment */
		assert_true(du <= tol && du >= -tol);
		assert_true(da <= tol && da >= -tol);
	}
}

static void buffers(void **state)
{
	(void)state;
	int16_t pcm[4] = { 0, -1000, 1000, 32767 }, back[4];
	uint8_t u[4], a[4];
	parley_ulaw_encode_buf(pcm, 4, u);
	parley_alaw_encode_buf(pcm, 4, a);
	assert_int_equal(u[1], 0x4e);
	assert_int_equal(a[2], 0xfa);
	parley_ulaw_decode_buf(u, 4, back);
	assert_int_equal(back[0], 0);
	assert_int_equal(back[3], 32124);
	parley_alaw_decode_buf(a, 4, back);
	assert_int_equal(back[2], 1008);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encodes_like_the_reference),
		cmocka_unit_test(decodes_like_the_reference),
		cmocka_unit_test(every_code_round_trips),
		cmocka_unit_test(error_is_bounded),
		cmocka_unit_test(buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
