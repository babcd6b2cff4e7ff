/* Unit tests of audio/rate_infer.c: the input-rate estimator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audio/rate_infer.h"

static uint32_t lcg = 12345;
static double rnd(void) /* 0..1 */
{
	lcg = lcg * 1103515245u + 12345u;
	return (double)(lcg >> 8) / (double)(1u << 24);
}

/*
 * Streams frames of `frame` samples at `rate`, stamped with the client's
 * millisecond clock starting at `start` (wrapping), each stamp late by up
 * to `jitter` ms, and `burst` frames at a time sharing the stamp of the
 * last one (a client that sends in bursts). Returns the verdict of the
 * first non-pending answer (or PENDING after `seconds`).
 */
static enum parley_rate_verdict run(int rate, size_t frame, uint32_t start, double jitter,
				    int burst, double seconds, struct parley_rate_result *res)
{
	struct parley_rate_infer ri;
	parley_rate_infer_init(&ri);
	uint64_t sent = 0;
	size_t i = 0;
	while ((double)sent / rate < seconds) {
		size_t group_end = (i / burst + 1) * burst; /* stamp of the burst's last frame */
		double t = (double)(group_end * frame) * 1000.0 / rate + rnd() * jitter;
		uint32_t ts = start + (uint32_t)t; /* truncated to ms, wraps */
		enum parley_rate_verdict v = parley_rate_infer_add(&ri, ts, frame, res);
		if (v != PARLEY_RATE_PENDING)
			return v;
		sent += frame;
		i++;
	}
	return PARLEY_RATE_PENDING;
}

static void test_snap(void **state)
{
	(void)state;
	assert_int_equal(parley_rate_snap(44100), 44100);
	assert_int_equal(parley_rate_snap(44100 * 1.025), 44100);
	assert_int_equal(parley_rate_snap(48000 * 0.975), 48000);
	assert_int_equal(parley_rate_snap(46000), 0); /* between 44.1 and 48 */
	assert_int_equal(parley_rate_snap(22050), 22050);
	assert_int_equal(parley_rate_snap(23000), 0);
	assert_int_equal(parley_rate_snap(8100), 8000);
	assert_int_equal(parley_rate_snap(96000), 0);
	assert_int_equal(parley_rate_snap(0), 0);
}

static void test_clean_clocks(void **state)
{
	(void)state;
	static const int rates[] = {8000, 16000, 22050, 24000, 32000, 44100, 48000};
	struct parley_rate_result res;
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
		assert_int_equal(run(rates[i], 2048, 1000000, 0, 1, 3, &res), PARLEY_RATE_DECIDED);
		assert_int_equal(res.rate, rates[i]);
		assert_int_equal(run(rates[i], (size_t)rates[i] / 50, 7, 0, 1, 3, &res),
				 PARLEY_RATE_DECIDED);
		assert_int_equal(res.rate, rates[i]);
	}
}

/* Stamps late by up to 30 ms, and frames in bursts of 3 stamped alike,
 * across the 2^32 wrap: still 44100, never 48000; and 48000 stays 48000. */
static void test_jitter_and_wrap(void **state)
{
	(void)state;
	struct parley_rate_result res;
	for (int k = 0; k < 50; k++) {
		uint32_t start = 0xFFFFFFFFu - (uint32_t)(rnd() * 2000);
		assert_int_equal(run(44100, 2048, start, 30, 1, 3, &res), PARLEY_RATE_DECIDED);
		assert_int_equal(res.rate, 44100);
		assert_int_equal(run(44100, 882, start, 20, 3, 3, &res), PARLEY_RATE_DECIDED);
		assert_int_equal(res.rate, 44100);
		assert_int_equal(run(48000, 128, start, 15, 8, 3, &res), PARLEY_RATE_DECIDED);
		assert_int_equal(res.rate, 48000);
		assert_int_equal(run(22050, 1024, start, 30, 2, 3, &res), PARLEY_RATE_DECIDED);
		assert_int_equal(res.rate, 22050);
	}
}

/* A stalled tab: frames 10..29 captured meanwhile all stamped when it wakes
 * at 600 ms; the median slope is not moved. */
static void test_one_stall(void **state)
{
	(void)state;
	struct parley_rate_infer ri;
	struct parley_rate_result res;
	parley_rate_infer_init(&ri);
	enum parley_rate_verdict v = PARLEY_RATE_PENDING;
	for (int i = 0; v == PARLEY_RATE_PENDING && i < 200; i++) {
		uint32_t ts = (uint32_t)(i >= 10 && i < 30 ? 600 : i * 20);
		v = parley_rate_infer_add(&ri, ts, 882, &res); /* 20 ms at 44.1 kHz */
	}
	assert_int_equal(v, PARLEY_RATE_DECIDED);
	assert_int_equal(res.rate, 44100);
}

static void test_rejections(void **state)
{
	(void)state;
	struct parley_rate_infer ri;
	struct parley_rate_result res;

	/* No clock: every stamp 0. Rejected after 1 s of audio at 48 kHz. */
	parley_rate_infer_init(&ri);
	enum parley_rate_verdict v = PARLEY_RATE_PENDING;
	int frames = 0;
	while (v == PARLEY_RATE_PENDING && frames < 1000) {
		v = parley_rate_infer_add(&ri, 0, 2048, &res);
		frames++;
	}
	assert_int_equal(v, PARLEY_RATE_REJECTED);
	assert_non_null(res.why);
	assert_true(frames * 2048 <= 48000 + 2048);

	/* Audio at 4x real time with a true clock (a test blasting 48 kHz). */
	assert_int_equal(run(4 * 48000, 2048, 0, 0, 1, 10, &res), PARLEY_RATE_REJECTED);

	/* A rate between the common ones: measured, then rejected. */
	assert_int_equal(run(46000, 1024, 0, 0, 1, 5, &res), PARLEY_RATE_REJECTED);
	assert_true(res.estimate > 45500 && res.estimate < 46500);

	/* Clock going backwards, and jumping. */
	parley_rate_infer_init(&ri);
	assert_int_equal(parley_rate_infer_add(&ri, 5000, 960, &res), PARLEY_RATE_PENDING);
	assert_int_equal(parley_rate_infer_add(&ri, 4000, 960, &res), PARLEY_RATE_REJECTED);
	parley_rate_infer_init(&ri);
	assert_int_equal(parley_rate_infer_add(&ri, 5000, 960, &res), PARLEY_RATE_PENDING);
	assert_int_equal(parley_rate_infer_add(&ri, 50000, 960, &res), PARLEY_RATE_REJECTED);

	/* Not yet half a second of clock: pending. */
	assert_int_equal(run(44100, 2048, 0, 0, 1, 0.45, &res), PARLEY_RATE_PENDING);
	/* Half a second of a clean clock is enough. */
	assert_int_equal(run(44100, 882, 0, 0, 1, 0.6, &res), PARLEY_RATE_DECIDED);
	/* A first burst stamped 100 ms late is no reason to call it fast. */
	parley_rate_infer_init(&ri);
	v = PARLEY_RATE_PENDING;
	for (int i = 0; v == PARLEY_RATE_PENDING && i < 200; i++)
		v = parley_rate_infer_add(&ri, (uint32_t)(i < 5 ? 100 : i * 20), 960, &res);
	assert_int_equal(v, PARLEY_RATE_DECIDED);
	assert_int_equal(res.rate, 48000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snap),
		cmocka_unit_test(test_clean_clocks),
		cmocka_unit_test(test_jitter_and_wrap),
		cmocka_unit_test(test_one_stall),
		cmocka_unit_test(test_rejections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
