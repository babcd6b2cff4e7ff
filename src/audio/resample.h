/*
 * resample.h - sample-rate conversion with libsoxr, int16 mono in and out.
 *
 * A parley_resampler keeps state across calls (streaming: a session's mic
 * audio); parley_resample_oneshot converts a whole buffer (one synthesised
 * sentence). Equal rates copy. One resampler per stream, one thread at a time.
 */
#ifndef PARLEY_AUDIO_RESAMPLE_H
#define PARLEY_AUDIO_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct parley_resampler;

/* NULL on failure. Medium quality (libsoxr MQ): cheap enough for every
 * session's microphone. */
struct parley_resampler *parley_resampler_create(int in_rate, int out_rate);
/* The same in high quality (libsoxr HQ, as the one-shot conversion): for
 * synthesised speech that the user hears. */
struct parley_resampler *parley_resampler_create_hq(int in_rate, int out_rate);
void parley_resampler_destroy(struct parley_resampler *r); /* accepts NULL */

/*
 * Converts n input samples; writes at most out_cap samples to out and
 * returns the count. out_cap >= n * out_rate / in_rate + 64 never truncates.
 */
size_t parley_resampler_process(struct parley_resampler *r, const int16_t *in, size_t n,
				 int16_t *out, size_t out_cap);

/* The end of the stream: writes the samples still held in the filter
 * (at most out_cap) and returns the count; the resampler is then spent. */
size_t parley_resampler_flush(struct parley_resampler *r, int16_t *out, size_t out_cap);

int parley_resampler_in_rate(const struct parley_resampler *r);

/* Whole-buffer conversion into a malloc'd buffer (caller frees); returns
 * the sample count in *out_n, or NULL on failure. */
int16_t *parley_resample_oneshot(const int16_t *in, size_t n, int in_rate, int out_rate,
				 size_t *out_n);

#endif
