/* Unit tests: multipart/form-data bodies (src/net/multipart.c). The body is
 * parsed back here the way a server does: split on the boundary from the
 * Content-Type header, each part's headers, then its bytes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/multipart.h"
#include "util/err.h"

struct parsed {
	char head[4][256];
	const char *data[4];
	size_t len[4];
	int n;
};

/* Splits body into parts; fails the test on any framing error. */
static void parse(const char *ct, const char *body, size_t len, struct parsed *out)
{
	const char *prefix = "multipart/form-data; boundary=";
	assert_memory_equal(ct, prefix, strlen(prefix));
	char delim[80];
	int dl = snprintf(delim, sizeof delim, "--%s", ct + strlen(prefix));
	memset(out, 0, sizeof *out);
	const char *p = body, *end = body + len;
	assert_memory_equal(p, delim, (size_t)dl);
	for (;;) {
		p += dl;
		if (end - p >= 4 && memcmp(p, "--\r\n", 4) == 0) {
			assert_ptr_equal(p + 4, end); /* nothing after the closing boundary */
			return;
		}
		assert_memory_equal(p, "\r\n", 2);
		p += 2;
		const char *blank = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		assert_non_null(blank);
		assert_true(out->n < 4);
		assert_true(blank - p < 255);
		memcpy(out->head[out->n], p, (size_t)(blank - p));
		p = blank + 4;
		char crlfdelim[84];
		int cl = snprintf(crlfdelim, sizeof crlfdelim, "\r\n%s", delim);
		const char *next = memmem(p, (size_t)(end - p), crlfdelim, (size_t)cl);
		assert_non_null(next);
		out->data[out->n] = p;
		out->len[out->n] = (size_t)(next - p);
		out->n++;
		p = next + 2;
	}
}

static void fields_and_file(void **state)
{
	const uint8_t wav[] = { 'R', 'I', 'F', 'F', 0, 0, '\r', '\n', '-', '-', 0xff, 0 };
	const struct parley_multipart_part parts[] = {
		{ .name = "file", .filename = "audio.wav", .content_type = "audio/wav", .data = wav,
		  .len = sizeof wav },
		{ .name = "model", .data = "whisper-1", .len = 9 },
		{ .name = "language", .data = "en", .len = 2 },
		{ .name = "empty", .data = NULL, .len = 0 },
	};
	char *body = NULL;
	size_t len = 0;
	char ct[PARLEY_MULTIPART_CT_MAX];
	assert_int_equal(parley_multipart_build(parts, 4, 1 << 20, &body, &len, ct), 0);
	assert_int_equal(body[len], '\0');
	struct parsed pp;
	parse(ct, body, len, &pp);
	assert_int_equal(pp.n, 4);
	assert_string_equal(pp.head[0], "Content-Disposition: form-data; name=\"file\"; "
					"filename=\"audio.wav\"\r\nContent-Type: audio/wav");
	assert_int_equal(pp.len[0], sizeof wav);
	assert_memory_equal(pp.data[0], wav, sizeof wav);
	assert_string_equal(pp.head[1], "Content-Disposition: form-data; name=\"model\"");
	assert_int_equal(pp.len[1], 9);
	assert_memory_equal(pp.data[1], "whisper-1", 9);
	assert_int_equal(pp.len[2], 2);
	assert_int_equal(pp.len[3], 0);
	free(body);
}

static void random_boundaries_differ(void **state)
{
	const struct parley_multipart_part p = { .name = "a", .data = "x", .len = 1 };
	char ct1[PARLEY_MULTIPART_CT_MAX], ct2[PARLEY_MULTIPART_CT_MAX];
	char *b1, *b2;
	size_t l1, l2;
	assert_int_equal(parley_multipart_build(&p, 1, 4096, &b1, &l1, ct1), 0);
	assert_int_equal(parley_multipart_build(&p, 1, 4096, &b2, &l2, ct2), 0);
	assert_string_not_equal(ct1, ct2);
	assert_true(strlen(ct1) > strlen("multipart/form-data; boundary=") + 16);
	free(b1);
	free(b2);
}

/* Boundary candidates from a list, to force collisions. */
struct seq {
	const char *const *list;
	int i;
};

static int from_list(void *arg, char out[71])
{
	struct seq *s = arg;
	snprintf(out, 71, "%s", s->list[s->i++]);
	return 0;
}

static void boundary_never_in_the_data(void **state)
{
	/* The file holds "--aaa" and the field "--bbb": the third candidate wins. */
	const char file[] = "xx\r\n--aaa\r\nyy";
	const struct parley_multipart_part parts[] = {
		{ .name = "file", .filename = "f.bin", .data = file, .len = sizeof file - 1 },
		{ .name = "v", .data = "--bbb--", .len = 7 },
	};
	const char *const list[] = { "aaa", "bbb", "ccc" };
	struct seq s = { list, 0 };
	char *body;
	size_t len;
	char ct[PARLEY_MULTIPART_CT_MAX];
	assert_int_equal(parley_multipart_build_with(parts, 2, 4096, from_list, &s, &body, &len, ct),
			 0);
	assert_int_equal(s.i, 3);
	assert_string_equal(ct, "multipart/form-data; boundary=ccc");
	struct parsed pp;
	parse(ct, body, len, &pp);
	assert_int_equal(pp.n, 2);
	assert_int_equal(pp.len[0], sizeof file - 1);
	assert_memory_equal(pp.data[0], file, sizeof file - 1);
	assert_memory_equal(pp.data[1], "--bbb--", 7);
	free(body);

	/* Every candidate collides: refused, not a broken body. */
	const char *const same[] = { "aaa", "aaa", "aaa", "aaa", "aaa", "aaa", "aaa", "aaa",
				     "aaa", "aaa", "aaa", "aaa", "aaa", "aaa", "aaa", "aaa" };
	struct seq s2 = { same, 0 };
	body = NULL;
	assert_int_equal(parley_multipart_build_with(parts, 2, 4096, from_list, &s2, &body, &len, ct),
			 PARLEY_E_INVAL);
	assert_null(body);
	/* A malformed candidate (needs quoting) is refused too. */
	const char *const bad[] = { "a b" };
	struct seq s3 = { bad, 0 };
	assert_int_equal(parley_multipart_build_with(parts, 2, 4096, from_list, &s3, &body, &len, ct),
			 PARLEY_E_INVAL);
}

static void unsafe_names_refused(void **state)
{
	char *body = NULL;
	size_t len;
	char ct[PARLEY_MULTIPART_CT_MAX];
	const struct parley_multipart_part quote = { .name = "a\"b", .data = "x", .len = 1 };
	assert_int_equal(parley_multipart_build(&quote, 1, 4096, &body, &len, ct), PARLEY_E_INVAL);
	const struct parley_multipart_part crlf = { .name = "f", .filename = "a\r\nX-Evil: 1",
						    .data = "x", .len = 1 };
	assert_int_equal(parley_multipart_build(&crlf, 1, 4096, &body, &len, ct), PARLEY_E_INVAL);
	const struct parley_multipart_part ctype = { .name = "f", .filename = "a.wav",
						     .content_type = "audio/wav\n", .data = "x",
						     .len = 1 };
	assert_int_equal(parley_multipart_build(&ctype, 1, 4096, &body, &len, ct), PARLEY_E_INVAL);
	const struct parley_multipart_part noname = { .name = "", .data = "x", .len = 1 };
	assert_int_equal(parley_multipart_build(&noname, 1, 4096, &body, &len, ct), PARLEY_E_INVAL);
	assert_null(body);
}

static void size_cap(void **state)
{
	static char big[5000];
	memset(big, 'z', sizeof big);
	const struct parley_multipart_part p = { .name = "file", .filename = "a.wav",
						 .data = big, .len = sizeof big };
	char *body = NULL;
	size_t len = 0;
	char ct[PARLEY_MULTIPART_CT_MAX];
	assert_int_equal(parley_multipart_build(&p, 1, 5000, &body, &len, ct), PARLEY_E_RANGE);
	assert_null(body);
	assert_int_equal(parley_multipart_build(&p, 1, 6000, &body, &len, ct), 0);
	assert_true(len > 5000 && len <= 6000);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_and_file),
		cmocka_unit_test(random_boundaries_differ),
		cmocka_unit_test(boundary_never_in_the_data),
		cmocka_unit_test(unsafe_names_refused),
		cmocka_unit_test(size_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
