/* Unit tests: the token bucket (src/util/ratelimit.c), the audio pace
 * policy built on it (src/session/pace.c) and the session limits sized
 * from the configuration (src/session/limits.c). Time is passed in, so
 * nothing here sleeps or depends on the machine's speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "session/limits.h"
#include "session/pace.h"
#include "session/session.h"
#include "util/config.h"
#include "util/ratelimit.h"

#define S(x) ((int64_t)((x) * 1e9)) /* seconds -> ns */

static void bucket_bursts_then_keeps_the_rate(void **state)
{
	struct parley_bucket b;
	parley_bucket_init(&b, 5, 20.0 / 60, S(100));
	for (int i = 0; i < 5; i++)
		assert_true(parley_bucket_take(&b, 1, S(100)));
	assert_false(parley_bucket_take(&b, 1, S(100))); /* burst used up */
	assert_false(parley_bucket_take(&b, 1, S(102.9))); /* 0.97 tokens */
	assert_true(parley_bucket_take(&b, 1, S(103.01)));  /* one every 3 s */
	assert_false(parley_bucket_take(&b, 1, S(104)));
	/* A long pause refills to the capacity, never beyond. */
	assert_true(parley_bucket_level(&b, S(1000)) == 5.0);
	for (int i = 0; i < 5; i++)
		assert_true(parley_bucket_take(&b, 1, S(1000)));
	assert_false(parley_bucket_take(&b, 1, S(1000)));
}

static void bucket_refuses_without_taking_and_ignores_a_clock_going_back(void **state)
{
	struct parley_bucket b;
	parley_bucket_init(&b, 2, 1, S(10));
	assert_false(parley_bucket_take(&b, 2.5, S(10))); /* more than there is: nothing taken */
	assert_true(parley_bucket_level(&b, S(10)) == 2.0);
	assert_true(parley_bucket_take(&b, 1.5, S(10)));
	assert_true(parley_bucket_level(&b, S(9)) == 0.5); /* backwards: no refill */
	assert_true(parley_bucket_take(&b, 0.5, S(9)));
	double w = parley_bucket_wait_s(&b, 1, S(10));
	assert_true(w > 0.99 && w < 1.01); /* empty at t=10, 1 token/s */
	assert_true(parley_bucket_wait_s(&b, 3, S(10)) > 1e9); /* never: over capacity */
}

/* Streams `seconds` of audio in 20 ms frames at `speed` times real time
 * starting at *t; returns the verdicts seen (counts), advances *t. */
struct seen {
	int accept, drop, report, close;
};

static struct seen stream(struct parley_pace *p, int64_t *t, double seconds, double speed)
{
	struct seen s = { 0 };
	double frame = 0.02;
	for (double sent = 0; sent < seconds - 1e-9; sent += frame) {
		switch (parley_pace_admit(p, frame, *t)) {
		case PARLEY_PACE_ACCEPT: s.accept++; break;
		case PARLEY_PACE_DROP: s.drop++; break;
		case PARLEY_PACE_DROP_REPORT: s.report++; break;
		case PARLEY_PACE_DROP_CLOSE: s.close++; break;
		}
		*t += S(frame / speed);
	}
	return s;
}

static void pace_real_time_is_never_dropped(void **state)
{
	struct parley_pace p;
	int64_t t = S(50);
	parley_pace_init(&p, t);
	struct seen s = stream(&p, &t, 600, 1.0); /* ten minutes */
	assert_int_equal(s.drop + s.report + s.close, 0);
	s = stream(&p, &t, 600, 1.09); /* within the 10 % slack */
	assert_int_equal(s.drop + s.report + s.close, 0);
}

static void pace_jitter_stall_then_burst_passes(void **state)
{
	struct parley_pace p;
	int64_t t = S(0);
	parley_pace_init(&p, t);
	struct seen s = stream(&p, &t, 30, 1.0);
	t += S(3);                            /* the network stalls for 3 s ... */
	s = stream(&p, &t, 3, 1000.0);        /* ... then delivers the 3 s at once */
	assert_int_equal(s.accept, 150);
	s = stream(&p, &t, 30, 1.0);
	assert_int_equal(s.drop + s.report + s.close, 0);
	/* Even a 4.5 s stall, caught up at once, passes. */
	s = stream(&p, &t, 60, 1.0);
	t += S(4.5);
	s = stream(&p, &t, 4.5, 1000.0);
	assert_int_equal(s.drop + s.report + s.close, 0);
}

static void pace_flood_reports_once_then_closes(void **state)
{
	struct parley_pace p;
	int64_t t = S(7);
	parley_pace_init(&p, t);
	struct seen s = stream(&p, &t, 20 * 0.2, 20.0); /* 0.2 s of a 20x flood */
	assert_int_equal(s.report, 0);                   /* 4 s: inside the 5 s burst */
	s = stream(&p, &t, 20 * 0.1, 20.0);
	assert_int_equal(s.report, 1);
	assert_int_equal(s.close, 0);
	/* 10 s of excess dropped: closed, about half a second into the flood. */
	s = stream(&p, &t, 20 * 0.6, 20.0);
	assert_int_equal(s.report, 0);
	assert_true(s.close > 0);
	assert_true(p.episode_dropped_s >= PARLEY_PACE_CLOSE_DROPPED_S);
}

static void pace_slightly_fast_is_told_then_closed_after_the_grace(void **state)
{
	struct parley_pace p;
	int64_t t = S(0);
	parley_pace_init(&p, t);
	/* 20 % fast: the bucket lasts 5 s / (1.2 - 1.1) = 50 s of wall time. */
	struct seen s = stream(&p, &t, 1.2 * 45, 1.2);
	assert_int_equal(s.report + s.drop + s.close, 0);
	s = stream(&p, &t, 1.2 * 10, 1.2);
	assert_int_equal(s.report, 1);
	assert_int_equal(s.close, 0); /* 5 s grace after the error */
	s = stream(&p, &t, 1.2 * 5, 1.2);
	assert_true(s.close > 0);
}

static void pace_recovered_client_gets_a_fresh_episode(void **state)
{
	struct parley_pace p;
	int64_t t = S(0);
	parley_pace_init(&p, t);
	struct seen s = stream(&p, &t, 6, 1000.0); /* one short burst, too big */
	assert_int_equal(s.report, 1);
	assert_int_equal(s.close, 0);
	t += S(2); /* a pause: the bucket refills past the recovery level */
	s = stream(&p, &t, 1, 1.0);
	assert_int_equal(s.drop + s.report + s.close, 0);
	assert_false(p.episode);
	s = stream(&p, &t, 8, 1000.0); /* a new episode is reported anew */
	assert_int_equal(s.report, 1);
}

static void limits_sized_from_the_configuration(void **state)
{
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	struct parley_session_limits l;
	parley_session_limits_init(&l, &cfg);
	assert_int_equal(l.answer_max_bytes, 16 << 10); /* 300 tokens x 16 < the floor */
	assert_true(l.turn_burst == 5 && l.turns_per_minute == 20);
	assert_int_equal(l.budget.max, 256u << 20);
	assert_int_equal(l.budget.reserve, 1u << 20);

	struct parley_settings st;
	parley_settings_defaults(&st);
	size_t msgs, bytes;
	parley_session_outq_bounds(&l, &st, &msgs, &bytes);
	/* 300 tokens -> 1200 chars -> 80 s at 15 chars/s -> 80 s of 48 kHz base64. */
	assert_int_equal(msgs, 800 + PARLEY_OUTQ_TEXT_MSGS);
	assert_true(bytes > 80 * 128000 && bytes < 80 * 128000 + (3u << 19));
	size_t base64 = bytes;
	st.audio_out = PARLEY_AUDIO_OUT_BINARY;
	parley_session_outq_bounds(&l, &st, &msgs, &bytes);
	assert_true(bytes < base64);
	st.tts_rate = 0.5; /* slower speech: twice the audio */
	parley_session_outq_bounds(&l, &st, &msgs, &bytes);
	assert_true(bytes > 160 * 96000);
	cfg.llm_max_tokens = 32768; /* never past the ceilings */
	parley_session_limits_init(&l, &cfg);
	parley_session_outq_bounds(&l, &st, &msgs, &bytes);
	assert_int_equal(bytes, PARLEY_OUTQ_MAX_BYTES_CEILING);
	assert_int_equal(msgs, PARLEY_OUTQ_MAX_MSGS_CEILING);
	assert_int_equal(l.answer_max_bytes, 32768 * PARLEY_ANSWER_BYTES_PER_TOKEN);
	cfg.turns_per_minute = 1000; /* a raised limit raises the burst: a quarter */
	parley_session_limits_init(&l, &cfg);
	assert_true(l.turn_burst == 250);
	cfg.turns_per_minute = 2; /* at least one turn at once */
	cfg.max_queued_mb = 1;
	parley_session_limits_init(&l, &cfg);
	assert_true(l.turn_burst == 1);
	assert_int_equal(l.budget.reserve, (1u << 20) / 2 / 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket_bursts_then_keeps_the_rate),
		cmocka_unit_test(bucket_refuses_without_taking_and_ignores_a_clock_going_back),
		cmocka_unit_test(pace_real_time_is_never_dropped),
		cmocka_unit_test(pace_jitter_stall_then_burst_passes),
		cmocka_unit_test(pace_flood_reports_once_then_closes),
		cmocka_unit_test(pace_slightly_fast_is_told_then_closed_after_the_grace),
		cmocka_unit_test(pace_recovered_client_gets_a_fresh_episode),
		cmocka_unit_test(limits_sized_from_the_configuration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
