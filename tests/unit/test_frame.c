/* Unit tests: the binary microphone frame decoder (src/audio/frame.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audio/frame.h"

static void decodes_header_and_samples(void **state)
{
	uint8_t buf[8 + 6];
	parley_frame_header_encode(buf, 0x01020304u, PARLEY_FRAME_FLAG_PLAYING);
	assert_int_equal(buf[0], 0x01);
	assert_int_equal(buf[3], 0x04);
	assert_int_equal(buf[7], 0x01);
	/* samples 1, -2, 32767 little-endian */
	buf[8] = 0x01; buf[9] = 0x00;
	buf[10] = 0xfe; buf[11] = 0xff;
	buf[12] = 0xff; buf[13] = 0x7f;

	struct parley_frame f;
	assert_int_equal(parley_frame_decode(buf, sizeof buf, PARLEY_FRAME_MAX_SAMPLES, &f),
			 PARLEY_FRAME_OK);
	assert_int_equal(f.timestamp_ms, 0x01020304u);
	assert_int_equal(f.flags, 1);
	assert_int_equal(f.nsamples, 3);
	int16_t pcm[3];
	parley_frame_samples(&f, pcm);
	assert_int_equal(pcm[0], 1);
	assert_int_equal(pcm[1], -2);
	assert_int_equal(pcm[2], 32767);
}

static void big_endian_fields_use_all_bits(void **state)
{
	uint8_t buf[10] = { 0xff, 0xee, 0xdd, 0xcc, 0x80, 0x00, 0x00, 0x02, 0, 0 };
	struct parley_frame f;
	assert_int_equal(parley_frame_decode(buf, sizeof buf, 16, &f), PARLEY_FRAME_OK);
	assert_int_equal(f.timestamp_ms, 0xffeeddccu);
	assert_int_equal(f.flags, 0x80000002u);
	assert_false(f.flags & PARLEY_FRAME_FLAG_PLAYING);
}

static void rejects_short_empty_odd_and_big(void **state)
{
	uint8_t buf[8 + 2 * 20] = { 0 };
	struct parley_frame f = { .nsamples = 99 };
	assert_int_equal(parley_frame_decode(buf, 0, 16, &f), PARLEY_FRAME_SHORT);
	assert_int_equal(parley_frame_decode(buf, 7, 16, &f), PARLEY_FRAME_SHORT);
	assert_int_equal(parley_frame_decode(buf, 8, 16, &f), PARLEY_FRAME_EMPTY);
	assert_int_equal(parley_frame_decode(buf, 9, 16, &f), PARLEY_FRAME_ODD);
	assert_int_equal(parley_frame_decode(buf, 8 + 33, 16, &f), PARLEY_FRAME_ODD);
	assert_int_equal(parley_frame_decode(buf, 8 + 2 * 17, 16, &f), PARLEY_FRAME_TOO_BIG);
	assert_int_equal(f.nsamples, 99); /* untouched on error */
	assert_int_equal(parley_frame_decode(buf, 8 + 2 * 16, 16, &f), PARLEY_FRAME_OK);
	assert_int_equal(f.nsamples, 16);
	assert_int_equal(parley_frame_decode(buf, 8 + 2, 16, &f), PARLEY_FRAME_OK);
	assert_int_equal(f.nsamples, 1);
}

static void status_strings_are_distinct(void **state)
{
	assert_string_not_equal(parley_frame_status_str(PARLEY_FRAME_SHORT),
				parley_frame_status_str(PARLEY_FRAME_ODD));
	assert_non_null(parley_frame_status_str((enum parley_frame_status)42));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decodes_header_and_samples),
		cmocka_unit_test(big_endian_fields_use_all_bits),
		cmocka_unit_test(rejects_short_empty_odd_and_big),
		cmocka_unit_test(status_strings_are_distinct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
