/* Unit tests: the drop-oldest sample ring (src/audio/ring.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audio/ring.h"
#include "util/err.h"

static void write_read_wraps(void **state)
{
	struct parley_ring r;
	assert_int_equal(parley_ring_init(&r, 5), 0);
	int16_t in[4] = { 1, 2, 3, 4 }, out[8];
	assert_int_equal(parley_ring_write(&r, in, 3), 0);
	assert_int_equal(parley_ring_read(&r, out, 2), 2);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2);
	assert_int_equal(parley_ring_write(&r, in, 4), 0); /* wraps around the end */
	assert_int_equal(parley_ring_len(&r), 5);
	assert_int_equal(parley_ring_read(&r, out, 8), 5);
	int16_t want[5] = { 3, 1, 2, 3, 4 };
	assert_memory_equal(out, want, sizeof want);
	assert_int_equal(parley_ring_len(&r), 0);
	parley_ring_destroy(&r);
}

static void overflow_drops_oldest(void **state)
{
	struct parley_ring r;
	parley_ring_init(&r, 4);
	int16_t a[3] = { 1, 2, 3 }, b[3] = { 4, 5, 6 }, out[4];
	parley_ring_write(&r, a, 3);
	assert_int_equal(parley_ring_write(&r, b, 3), 2); /* 1 and 2 dropped */
	assert_int_equal(parley_ring_read(&r, out, 4), 4);
	int16_t want[4] = { 3, 4, 5, 6 };
	assert_memory_equal(out, want, sizeof want);

	int16_t big[7] = { 10, 11, 12, 13, 14, 15, 16 };
	parley_ring_write(&r, a, 2);
	assert_int_equal(parley_ring_write(&r, big, 7), 2 + 3);
	assert_int_equal(parley_ring_read(&r, out, 4), 4);
	int16_t want2[4] = { 13, 14, 15, 16 };
	assert_memory_equal(out, want2, sizeof want2);
	parley_ring_destroy(&r);
}

static void drop_and_clear(void **state)
{
	struct parley_ring r;
	parley_ring_init(&r, 4);
	int16_t a[4] = { 1, 2, 3, 4 }, out[4];
	parley_ring_write(&r, a, 4);
	assert_int_equal(parley_ring_drop(&r, 3), 3);
	assert_int_equal(parley_ring_read(&r, out, 4), 1);
	assert_int_equal(out[0], 4);
	assert_int_equal(parley_ring_drop(&r, 3), 0);
	parley_ring_write(&r, a, 2);
	parley_ring_clear(&r);
	assert_int_equal(parley_ring_len(&r), 0);
	parley_ring_destroy(&r);
	assert_int_equal(parley_ring_init(&r, 0), PARLEY_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_read_wraps),
		cmocka_unit_test(overflow_drops_oldest),
		cmocka_unit_test(drop_and_clear),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
