/*
 * aec.c - the echo canceller (aec.h) over speexdsp: speex_echo (MDF) and
 * speex_preprocess with the echo state attached for residual echo
 * suppression.
 */
#include "audio/aec.h"

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <stdlib.h>

#define NOISE_SUPPRESS_DB -6        /* mild: the recogniser hears this audio */
#define ECHO_SUPPRESS_DB -40        /* residual echo, the far end alone */
#define ECHO_SUPPRESS_ACTIVE_DB -30 /* residual echo while the near end speaks */

struct parley_aec {
	SpeexEchoState *echo;
	SpeexPreprocessState *pre;
};

struct parley_aec *parley_aec_create(int tail_ms)
{
	if (tail_ms < 20 || tail_ms > 2000)
		return NULL;
	struct parley_aec *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	int rate = PARLEY_AEC_RATE;
	a->echo = speex_echo_state_init(PARLEY_AEC_FRAME, PARLEY_AEC_RATE / 1000 * tail_ms);
	a->pre = a->echo ? speex_preprocess_state_init(PARLEY_AEC_FRAME, rate) : NULL;
	if (!a->pre) {
		parley_aec_destroy(a);
		return NULL;
	}
	speex_echo_ctl(a->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
	int on = 1, off = 0, ns = NOISE_SUPPRESS_DB, es = ECHO_SUPPRESS_DB,
	    esa = ECHO_SUPPRESS_ACTIVE_DB;
	speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_DENOISE, &on);
	speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &ns);
	speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_AGC, &off);
	speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_DEREVERB, &off);
	speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &es);
	speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &esa);
	speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, a->echo);
	return a;
}

void parley_aec_destroy(struct parley_aec *a)
{
	if (!a)
		return;
	if (a->pre)
		speex_preprocess_state_destroy(a->pre);
	if (a->echo)
		speex_echo_state_destroy(a->echo);
	free(a);
}

void parley_aec_frame(struct parley_aec *a, const int16_t *mic, const int16_t *ref,
		      int16_t *out)
{
	speex_echo_cancellation(a->echo, mic, ref, out);
	speex_preprocess_run(a->pre, out);
}

void parley_aec_reset(struct parley_aec *a)
{
	speex_echo_state_reset(a->echo);
}
