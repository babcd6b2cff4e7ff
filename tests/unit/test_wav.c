/* Unit tests: 16-bit mono PCM WAV files in memory (src/audio/wav.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audio/wav.h"
#include "util/err.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void header_fields(void **state)
{
	uint8_t h[PARLEY_WAV_HEADER_BYTES];
	assert_int_equal(parley_wav_header(h, 16000, 16000), 0);
	assert_memory_equal(h, "RIFF", 4);
	assert_int_equal(get32(h + 4), 36 + 32000);
	assert_memory_equal(h + 8, "WAVEfmt ", 8);
	assert_int_equal(get32(h + 16), 16);
	assert_int_equal(get16(h + 20), 1);  /* PCM */
	assert_int_equal(get16(h + 22), 1);  /* mono */
	assert_int_equal(get32(h + 24), 16000);
	assert_int_equal(get32(h + 28), 32000);
	assert_int_equal(get16(h + 32), 2);
	assert_int_equal(get16(h + 34), 16);
	assert_memory_equal(h + 36, "data", 4);
	assert_int_equal(get32(h + 40), 32000);
}

static void samples_little_endian(void **state)
{
	const int16_t pcm[] = { 0, 1, -1, 32767, -32768, 0x1234 };
	uint8_t *w = NULL;
	size_t len = 0;
	assert_int_equal(parley_wav_encode(pcm, 6, 24000, &w, &len), 0);
	assert_int_equal(len, 44 + 12);
	assert_int_equal(get32(w + 24), 24000);
	assert_int_equal(get32(w + 40), 12);
	const uint8_t want[] = { 0, 0, 1, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0x80, 0x34, 0x12 };
	assert_memory_equal(w + 44, want, sizeof want);
	free(w);
}

static void empty_and_bounds(void **state)
{
	uint8_t *w = NULL;
	size_t len = 0;
	assert_int_equal(parley_wav_encode(NULL, 0, 16000, &w, &len), 0);
	assert_int_equal(len, 44);
	assert_int_equal(get32(w + 4), 36);
	assert_int_equal(get32(w + 40), 0);
	free(w);

	uint8_t h[PARLEY_WAV_HEADER_BYTES];
	memset(h, 0xaa, sizeof h);
	assert_int_equal(parley_wav_header(h, 0, 10), PARLEY_E_RANGE);
	assert_int_equal(parley_wav_header(h, 384001, 10), PARLEY_E_RANGE);
	assert_int_equal(parley_wav_header(h, 16000, PARLEY_WAV_MAX_SAMPLES + 1), PARLEY_E_RANGE);
	assert_int_equal(h[0], 0xaa); /* nothing written */
	assert_int_equal(parley_wav_header(h, 16000, PARLEY_WAV_MAX_SAMPLES), 0);
	assert_true(get32(h + 4) >= get32(h + 40)); /* no wrap-around */
	w = NULL;
	assert_int_equal(parley_wav_encode(NULL, PARLEY_WAV_MAX_SAMPLES + 1, 16000, &w, &len),
			 PARLEY_E_RANGE);
	assert_null(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_fields),
		cmocka_unit_test(samples_little_endian),
		cmocka_unit_test(empty_and_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
