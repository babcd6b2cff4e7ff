/* Unit tests: the capped growable buffer (src/util/buf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/err.h"

static void grows_and_caps(void **state)
{
	struct parley_buf b;
	parley_buf_init(&b, 600);
	assert_string_equal(parley_buf_str(&b), "");
	char chunk[1000];
	memset(chunk, 'x', sizeof chunk);
	for (int i = 0; i < 6; i++)
		assert_int_equal(parley_buf_append(&b, chunk, 100), 0);
	assert_int_equal(b.len, 600);
	assert_int_equal(b.data[600], '\0');
	assert_int_equal(parley_buf_append(&b, "y", 1), PARLEY_E_RANGE);
	assert_int_equal(b.len, 600); /* nothing appended */
	parley_buf_consume(&b, 599);
	assert_string_equal(b.data, "x");
	assert_int_equal(parley_buf_append_head(&b, chunk, 1000), 599);
	assert_int_equal(b.len, 600);
	parley_buf_reset(&b);
	assert_string_equal(parley_buf_str(&b), "");
	assert_int_equal(parley_buf_append(&b, "ab", 2), 0);
	parley_buf_consume(&b, 5);
	assert_int_equal(b.len, 0);
	parley_buf_free(&b);
	parley_buf_free(&b); /* twice is fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(grows_and_caps) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
