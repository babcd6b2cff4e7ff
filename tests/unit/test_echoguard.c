/* Unit tests: the echo guard (src/session/echoguard.c) on a simulated room,
 * with the clocks given explicitly (nothing here depends on timing): the
 * delay is measured, the echo is cancelled, speech over it passes, and
 * nothing is done while nothing plays or while the guard is off. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audio/vad.h"
#include "session/echoguard.h"

#define RATE 16000
#define FRAME PARLEY_VAD_FRAME
#define MS 1000000LL
#define SECONDS 14
#define N (RATE * SECONDS)
#define ECHO_MS 120  /* the room's delay */
#define NET_MS 10    /* the microphone's audio reaches the server this late */

/* A voice-like signal: harmonics of a wandering pitch, in syllables of
 * 60..260 ms with gaps, each with its own level. */
static void voice(int16_t *out, size_t n, double f0, double amp, unsigned seed)
{
	double phase = 0;
	srand(seed);
	double env = 0, target = 0;
	size_t next = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == next) { /* a new syllable or a gap */
			target = rand() % 4 ? 0.3 + (rand() % 70) / 100.0 : 0.0;
			next = i + (size_t)(60 + rand() % 200) * RATE / 1000;
		}
		env += (target - env) * 0.01; /* 6 ms onsets */
		double f = f0 * (1.0 + 0.1 * sin(2 * M_PI * 3.0 * (double)i / RATE));
		phase += 2 * M_PI * f / RATE;
		double v = 0;
		for (int h = 1; h <= 8; h++)
			v += sin(h * phase) / h;
		out[i] = (int16_t)(amp * env * v / 2.0);
	}
}

/* The room: the echo delayed, -6 dB, with a short reverberant tail. */
static void room(const int16_t *ref, int16_t *mic, size_t n)
{
	const int taps[][2] = { { ECHO_MS, 500 }, { ECHO_MS + 23, 250 }, { ECHO_MS + 61, 120 },
				{ ECHO_MS + 140, 50 } }; /* ms, gain per mille */
	srand(7);
	for (size_t i = 0; i < n; i++) {
		double v = (rand() % 21 - 10); /* noise, about -70 dBFS */
		for (size_t k = 0; k < sizeof taps / sizeof taps[0]; k++) {
			size_t d = (size_t)taps[k][0] * RATE / 1000;
			if (i >= d)
				v += ref[i - d] * taps[k][1] / 1000.0;
		}
		mic[i] = (int16_t)v;
	}
}

static double energy(const int16_t *p, size_t from, size_t to)
{
	double e = 0;
	for (size_t i = from; i < to; i++)
		e += (double)p[i] * p[i];
	return e / (double)(to - from) + 1e-9;
}

static double db(double ratio)
{
	return 10 * log10(ratio);
}

struct run {
	int16_t *ref, *mic, *out, *user;
	struct parley_echoguard_stats st;
	int worked;
};

/* Plays ref for `play_s` seconds (sent in 100 ms pieces as it plays) and
 * hears the room (plus user[] if any) through the guard. */
static void simulate(struct run *r, bool on, int play_s)
{
	struct parley_echoguard *g = parley_echoguard_create();
	assert_non_null(g);
	parley_echoguard_set_on(g, on);
	size_t piece = RATE / 10;
	size_t played = (size_t)play_s * RATE;
	for (size_t i = 0; i < N; i += FRAME) {
		int64_t now = (int64_t)i * 1000 / RATE * MS;
		if (i % piece == 0 && i < played) /* sent as it plays */
			parley_echoguard_reference(g, r->ref + i, piece, RATE, now);
		int16_t f[FRAME];
		for (size_t k = 0; k < FRAME; k++) {
			int v = r->mic[i + k] + (r->user ? r->user[i + k] : 0);
			f[k] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
		}
		r->worked += parley_echoguard_frame(g, f, (double)i * 1000 / RATE);
		memcpy(r->out + i, f, sizeof f);
		/* the frame's last sample arrived NET_MS after it was captured */
		parley_echoguard_mic_arrival(g, now + (FRAME * 1000 / RATE + NET_MS) * MS, 0);
	}
	parley_echoguard_stats(g, &r->st);
	parley_echoguard_destroy(g);
}

static struct run *setup_run(bool user)
{
	struct run *r = calloc(1, sizeof *r);
	r->ref = calloc(N, sizeof *r->ref);
	r->mic = calloc(N, sizeof *r->mic);
	r->out = calloc(N, sizeof *r->out);
	voice(r->ref, N, 140, 8000, 1);
	room(r->ref, r->mic, N);
	if (user) { /* the user speaks from 9 s to 11 s, as loud as the echo */
		r->user = calloc(N, sizeof *r->user);
		voice(r->user + 9 * RATE, 2 * RATE, 220, 4000, 2);
	}
	return r;
}

static void free_run(struct run *r)
{
	free(r->ref);
	free(r->mic);
	free(r->out);
	free(r->user);
	free(r);
}

static void case_cancels_echo(void **state)
{
	(void)state;
	struct run *r = setup_run(false);
	simulate(r, true, 12);
	print_message("delay %d ms\n", r->st.delay_ms);
	/* the delay: the room's plus the network's (the reference plays as sent) */
	assert_true(r->st.delay_ms >= ECHO_MS + NET_MS - 20);
	assert_true(r->st.delay_ms <= ECHO_MS + NET_MS + 20);
	/* once converged (4..12 s) the echo is down by 25 dB or more */
	double down = db(energy(r->mic, 4 * RATE, 12 * RATE) / energy(r->out, 4 * RATE, 12 * RATE));
	print_message("echo down %.1f dB, delay %d ms, %llu frames, %llu gated\n", down,
		      r->st.delay_ms, (unsigned long long)r->st.frames,
		      (unsigned long long)r->st.gated);
	assert_true(down >= 25.0);
	/* after the end of playback (12 s) and the echo's reach, nothing is done */
	assert_true(r->st.frames < (size_t)(12 * RATE + RATE * 2 / 3) / FRAME);
	assert_true(r->st.frames > (size_t)(12 * RATE) / FRAME - 5);
	free_run(r);
}

static void case_speech_over_echo_passes(void **state)
{
	(void)state;
	struct run *r = setup_run(true);
	simulate(r, true, 12);
	/* the user's voice over the echo (9..11 s) keeps most of its energy */
	double user = energy(r->user, 9 * RATE, 11 * RATE);
	double out = energy(r->out, 9 * RATE, 11 * RATE);
	print_message("user %.1f dB of what passed\n", db(out / user));
	assert_true(db(out / user) > -6.0);
	/* and is well above what is left of the echo alone (6..8 s) */
	assert_true(db(out / energy(r->out, 6 * RATE, 8 * RATE)) > 15.0);
	free_run(r);
}

static void case_off_and_silent(void **state)
{
	(void)state;
	struct run *r = setup_run(false);
	simulate(r, false, 12); /* off: nothing done, the audio untouched */
	assert_int_equal(r->worked, 0);
	assert_memory_equal(r->out, r->mic, N * sizeof *r->mic);
	free_run(r);
	r = setup_run(false);
	simulate(r, true, 0); /* on, but nothing played */
	assert_int_equal(r->worked, 0);
	assert_int_equal(r->st.frames, 0);
	free_run(r);
}

static void case_stop(void **state)
{
	(void)state;
	struct parley_echoguard *g = parley_echoguard_create();
	parley_echoguard_set_on(g, true);
	int16_t pcm[RATE] = { 0 };
	for (size_t i = 0; i < RATE; i++)
		pcm[i] = (int16_t)(8000 * sin(2 * M_PI * 300.0 * (double)i / RATE));
	parley_echoguard_mic_arrival(g, 0, 0);
	for (int k = 0; k < 10; k++) /* 10 s sent at once, ahead of playback */
		parley_echoguard_reference(g, pcm, RATE, RATE, 0);
	parley_echoguard_stop(g, 500 * MS); /* flushed after half a second */
	int worked = 0;
	for (int i = 0; i < 200; i++) { /* 4 s of microphone */
		int16_t f[FRAME] = { 0 };
		worked += parley_echoguard_frame(g, f, i * 20.0);
		parley_echoguard_mic_arrival(g, (int64_t)(i + 1) * 20 * MS, 0);
	}
	/* 0.5 s played, plus the longest echo reach (1 s + the tail) */
	assert_true(worked <= (500 + 1000 + 250) / 20 + 1);
	assert_true(worked >= 500 / 20);
	parley_echoguard_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(case_cancels_echo),
		cmocka_unit_test(case_speech_over_echo_passes),
		cmocka_unit_test(case_off_and_silent),
		cmocka_unit_test(case_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
