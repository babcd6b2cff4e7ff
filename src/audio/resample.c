#include "audio/resample.h"

#include <soxr.h>
#include <stdlib.h>
#include <string.h>

struct parley_resampler {
	soxr_t soxr; /* NULL when the rates are equal */
	int in_rate, out_rate;
};

static struct parley_resampler *create(int in_rate, int out_rate, unsigned long quality)
{
	struct parley_resampler *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->in_rate = in_rate;
	r->out_rate = out_rate;
	if (in_rate != out_rate) {
		soxr_error_t err = NULL;
		soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
		soxr_quality_spec_t q = soxr_quality_spec(quality, 0);
		r->soxr = soxr_create(in_rate, out_rate, 1, &err, &io, &q, NULL);
		if (err || !r->soxr) {
			free(r);
			return NULL;
		}
	}
	return r;
}

struct parley_resampler *parley_resampler_create(int in_rate, int out_rate)
{
	return create(in_rate, out_rate, SOXR_MQ);
}

struct parley_resampler *parley_resampler_create_hq(int in_rate, int out_rate)
{
	return create(in_rate, out_rate, SOXR_HQ);
}

void parley_resampler_destroy(struct parley_resampler *r)
{
	if (!r)
		return;
	if (r->soxr)
		soxr_delete(r->soxr);
	free(r);
}

int parley_resampler_in_rate(const struct parley_resampler *r)
{
	return r->in_rate;
}

size_t parley_resampler_process(struct parley_resampler *r, const int16_t *in, size_t n,
				 int16_t *out, size_t out_cap)
{
	if (!r->soxr) {
		size_t k = n < out_cap ? n : out_cap;
		memcpy(out, in, k * sizeof *in);
		return k;
	}
	size_t idone = 0, odone = 0;
	if (soxr_process(r->soxr, in, n, &idone, out, out_cap, &odone) != NULL)
		return 0;
	return odone;
}

size_t parley_resampler_flush(struct parley_resampler *r, int16_t *out, size_t out_cap)
{
	if (!r->soxr)
		return 0;
	size_t odone = 0;
	if (soxr_process(r->soxr, NULL, 0, NULL, out, out_cap, &odone) != NULL)
		return 0;
	return odone;
}

int16_t *parley_resample_oneshot(const int16_t *in, size_t n, int in_rate, int out_rate,
				 size_t *out_n)
{
	size_t cap = (size_t)((double)n * out_rate / in_rate) + 64;
	int16_t *out = malloc(cap * sizeof *out);
	if (!out)
		return NULL;
	if (in_rate == out_rate) {
		memcpy(out, in, n * sizeof *in);
		*out_n = n;
		return out;
	}
	size_t odone = 0;
	soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
	if (soxr_oneshot(in_rate, out_rate, 1, in, n, NULL, out, cap, &odone, &io, &q, NULL) !=
	    NULL) {
		free(out);
		return NULL;
	}
	*out_n = odone;
	return out;
}
