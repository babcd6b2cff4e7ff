/*
 * Unit tests: MANUAL turns' kept audio (session/manual.h): kept in order
 * across the ring's growth, at most PARLEY_MANUAL_MAX_MS (the latest; the
 * first drop said once per cut), the commit's drain in pieces, clears.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "audio/vad.h"
#include "session/manual.h"
#include "session/session.h"

#define MAX ((size_t)PARLEY_VAD_RATE * PARLEY_MANUAL_MAX_MS / 1000)

/* Pushes n samples numbered from *next on (mod 32768). Returns what the
 * pushes said, OR'd. */
static int push_numbered(struct parley_manual *m, size_t n, size_t *next)
{
	int16_t frame[PARLEY_VAD_FRAME];
	int said = 0;
	for (size_t at = 0; at < n; at += PARLEY_VAD_FRAME) {
		size_t k = n - at < PARLEY_VAD_FRAME ? n - at : PARLEY_VAD_FRAME;
		for (size_t i = 0; i < k; i++)
			frame[i] = (int16_t)((*next)++ % 32768);
		int rc = parley_manual_push(m, frame, k);
		assert_true(rc == 0 || rc == 1);
		said |= rc << (at ? 1 : 0); /* bit 0: the first push said it, bit 1: a later one */
	}
	return said;
}

/* Drains the commit in pieces; checks the samples run from `first` on. */
static size_t drain_check(struct parley_manual *m, size_t first)
{
	int16_t piece[16000];
	size_t total = 0, n;
	while ((n = parley_manual_next(m, piece, sizeof piece / sizeof piece[0]))) {
		for (size_t i = 0; i < n; i++)
			assert_int_equal(piece[i], (int16_t)((first + total + i) % 32768));
		total += n;
	}
	assert_false(parley_manual_draining(m));
	return total;
}

static void kept_in_order_and_drained(void **state)
{
	(void)state;
	struct parley_manual m = { 0 };
	size_t next = 0;
	bool dropped = true;
	assert_false(parley_manual_commit(&m, &dropped)); /* nothing kept */
	assert_false(dropped);
	assert_int_equal(push_numbered(&m, 5 * PARLEY_VAD_RATE, &next), 0); /* grows past 2 s */
	assert_int_equal(parley_manual_len(&m), 5 * PARLEY_VAD_RATE);
	assert_true(parley_manual_commit(&m, &dropped));
	assert_false(dropped);
	assert_true(parley_manual_draining(&m));
	assert_int_equal(parley_manual_len(&m), 0); /* the next utterance starts empty */
	assert_int_equal(drain_check(&m, 0), 5 * PARLEY_VAD_RATE);
	parley_manual_free(&m);
}

static void the_last_30_s_are_kept(void **state)
{
	(void)state;
	struct parley_manual m = { 0 };
	size_t next = 0;
	/* 31 s: the first drop is said once, by the push that made it */
	int said = push_numbered(&m, MAX, &next);
	assert_int_equal(said, 0);
	said = push_numbered(&m, PARLEY_VAD_RATE, &next);
	assert_int_equal(said, 1); /* the first push over the cap, and no later one */
	assert_int_equal(parley_manual_len(&m), MAX);
	bool dropped = false;
	assert_true(parley_manual_commit(&m, &dropped));
	assert_true(dropped);
	assert_int_equal(drain_check(&m, PARLEY_VAD_RATE), MAX); /* the oldest second went */
	/* the next cut says it again */
	next = 0;
	push_numbered(&m, MAX, &next);
	assert_int_equal(push_numbered(&m, PARLEY_VAD_FRAME, &next), 1);
	/* a clear drops what is kept */
	parley_manual_clear(&m);
	assert_int_equal(parley_manual_len(&m), 0);
	assert_false(parley_manual_commit(&m, &dropped));
	assert_false(dropped);
	parley_manual_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kept_in_order_and_drained),
		cmocka_unit_test(the_last_30_s_are_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
