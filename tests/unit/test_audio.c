/* Unit tests: voice activity detection (src/audio/vad.c), resampling
 * (src/audio/resample.c) and base64 (src/util/base64.c) on synthetic audio. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audio/resample.h"
#include "audio/vad.h"
#include "util/base64.h"

#define FRAME PARLEY_VAD_FRAME

/* A voiced-like signal: a 150 Hz tone with harmonics, amplitude a. */
static void voiced(int16_t *f, int n, double a, int offset)
{
	for (int i = 0; i < n; i++) {
		double t = (double)(i + offset) / PARLEY_VAD_RATE;
		double v = sin(2 * M_PI * 150 * t) + 0.5 * sin(2 * M_PI * 300 * t) +
			   0.25 * sin(2 * M_PI * 450 * t);
		f[i] = (int16_t)(a * v / 1.75);
	}
}

static uint32_t rng = 12345;
static int16_t noise(double a)
{
	rng = rng * 1664525u + 1013904223u;
	return (int16_t)(a * (((double)(rng >> 8) / (1 << 24)) * 2 - 1));
}

/* Runs `frames` frames from gen through a VAD; returns the frame index of
 * the first START or -1. */
static int run(struct parley_vad *v, int frames, void (*gen)(int16_t *, int))
{
	int16_t f[FRAME];
	for (int k = 0; k < frames; k++) {
		gen(f, k);
		if (parley_vad_frame(v, f) == PARLEY_VAD_START)
			return k;
	}
	return -1;
}

static void gen_silence(int16_t *f, int k) { memset(f, 0, FRAME * sizeof *f); }
static void gen_quiet_noise(int16_t *f, int k) { for (int i = 0; i < FRAME; i++) f[i] = noise(30); }
static void gen_loud_noise(int16_t *f, int k) { for (int i = 0; i < FRAME; i++) f[i] = noise(3000); }
static void gen_hiss(int16_t *f, int k) { for (int i = 0; i < FRAME; i++) f[i] = noise(1000); }
static void gen_voice(int16_t *f, int k) { voiced(f, FRAME, 8000, k * FRAME); }
static void gen_clicks(int16_t *f, int k)
{
	memset(f, 0, FRAME * sizeof *f);
	if (k % 12 == 0) /* a click every 240 ms */
		for (int i = 0; i < 16; i++)
			f[i] = (int16_t)(i % 2 ? -20000 : 20000);
}

static void speech_starts_after_voiced_frames(void **state)
{
	struct parley_vad v;
	parley_vad_init(&v);
	assert_int_equal(run(&v, 50, gen_silence), -1);
	int at = run(&v, 50, gen_voice);
	assert_int_equal(at, PARLEY_VAD_START_VOICED - 1);
	assert_true(v.speaking);
	/* while speaking, silence accumulates */
	run(&v, 10, gen_silence);
	assert_int_equal(v.silence_ms, 10 * PARLEY_VAD_FRAME_MS);
	run(&v, 1, gen_voice);
	assert_int_equal(v.silence_ms, 0);
	assert_true(v.voiced_frames >= PARLEY_VAD_START_VOICED + 1);
	parley_vad_end(&v);
	assert_false(v.speaking);
}

static void noise_and_clicks_do_not_start(void **state)
{
	struct parley_vad v;
	parley_vad_init(&v);
	assert_int_equal(run(&v, 150, gen_quiet_noise), -1);
	parley_vad_init(&v);
	assert_int_equal(run(&v, 150, gen_loud_noise), -1); /* hiss is not voiced */
	parley_vad_init(&v);
	assert_int_equal(run(&v, 250, gen_clicks), -1);
	/* after minutes of steady noise, voice over it still starts */
	parley_vad_init(&v);
	assert_int_equal(run(&v, 300, gen_hiss), -1);
	int16_t f[FRAME];
	int started = -1;
	for (int k = 0; k < 30 && started < 0; k++) {
		voiced(f, FRAME, 16000, k * FRAME);
		for (int i = 0; i < FRAME; i++)
			f[i] = (int16_t)(f[i] + noise(1000));
		if (parley_vad_frame(&v, f) == PARLEY_VAD_START)
			started = k;
	}
	assert_true(started >= 0);
}

static void resampling_keeps_duration(void **state)
{
	int16_t in[48000];
	voiced(in, 48000, 10000, 0);
	size_t n = 0;
	int16_t *out = parley_resample_oneshot(in, 48000, 48000, 16000, &n);
	assert_non_null(out);
	assert_true(n >= 15900 && n <= 16100);
	free(out);
	out = parley_resample_oneshot(in, 1000, 16000, 16000, &n);
	assert_int_equal(n, 1000);
	assert_memory_equal(out, in, sizeof(int16_t) * 1000);
	free(out);

	/* streaming in odd pieces adds up to the same length (within the delay) */
	struct parley_resampler *r = parley_resampler_create(44100, 16000);
	assert_non_null(r);
	assert_int_equal(parley_resampler_in_rate(r), 44100);
	int16_t o[4096];
	size_t total = 0;
	for (size_t off = 0; off + 777 <= 44100; off += 777)
		total += parley_resampler_process(r, in + off, 777, o, 4096);
	assert_true(total > 15000 && total <= 16000);
	parley_resampler_destroy(r);
	parley_resampler_destroy(NULL);
}

static void base64_vectors(void **state)
{
	char out[32];
	const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (int i = 0; i < 7; i++) {
		size_t n = parley_base64_encode((const unsigned char *)in[i], strlen(in[i]), out);
		out[n] = '\0';
		assert_string_equal(out, want[i]);
		assert_int_equal(n, parley_base64_len(strlen(in[i])));
	}
	unsigned char bin[3] = { 0xff, 0x00, 0xfe };
	size_t n = parley_base64_encode(bin, 3, out);
	out[n] = '\0';
	assert_string_equal(out, "/wD+");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(speech_starts_after_voiced_frames),
		cmocka_unit_test(noise_and_clicks_do_not_start),
		cmocka_unit_test(resampling_keeps_duration),
		cmocka_unit_test(base64_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
