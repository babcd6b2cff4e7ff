/* rate_infer.c - see rate_infer.h. */
#include "audio/rate_infer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int common_rates[] = {8000, 16000, 22050, 24000, 32000, 44100, 48000};

#define MIN_POINT_GAP_MS 8
#define MAX_BACK_MS 100
#define MAX_JUMP_MS 5000
/* Beyond a second of audio at 48 kHz, a clock that is a quarter behind
 * the audio is no clock (or the audio comes faster than real time). */
#define FAST_SAMPLES 48000
#define FAST_FACTOR 1.25
/* An early answer needs the slopes' interquartile range within 2%. */
#define EARLY_SPREAD 0.02

static int snap_within(double est, double tolerance)
{
	int best = 0;
	double best_err = tolerance;
	for (size_t i = 0; i < sizeof common_rates / sizeof common_rates[0]; i++) {
		double err = fabs(est - common_rates[i]) / common_rates[i];
		if (err <= best_err) {
			best_err = err;
			best = common_rates[i];
		}
	}
	return best;
}

int parley_rate_snap(double est)
{
	return snap_within(est, PARLEY_RATE_INFER_TOLERANCE);
}

void parley_rate_infer_init(struct parley_rate_infer *ri)
{
	memset(ri, 0, sizeof *ri);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Theil-Sen: the median slope between each point and the first one at
 * least half the span later; 0 if there is no such pair. *spread gets the
 * slopes' interquartile range relative to the median (1 if none). */
static double estimate(const struct parley_rate_infer *ri, double *spread)
{
	double slopes[PARLEY_RATE_INFER_POINTS];
	size_t n = ri->npoints, k = 0, j = 0;
	int32_t lag = (ri->pts[n - 1].t - ri->pts[0].t) / 2;
	for (size_t i = 0; i < n; i++) {
		if (j <= i)
			j = i + 1;
		while (j < n && ri->pts[j].t - ri->pts[i].t < lag)
			j++;
		if (j >= n)
			break;
		int32_t dt = ri->pts[j].t - ri->pts[i].t;
		if (dt > 0)
			slopes[k++] = (double)(ri->pts[j].c - ri->pts[i].c) * 1000.0 / dt;
	}
	*spread = 1;
	if (k == 0)
		return 0;
	qsort(slopes, k, sizeof slopes[0], cmp_double);
	double med = k % 2 ? slopes[k / 2] : (slopes[k / 2 - 1] + slopes[k / 2]) / 2;
	if (med > 0 && k >= 8)
		*spread = (slopes[k * 3 / 4] - slopes[k / 4]) / med;
	return med;
}

static enum parley_rate_verdict finish(struct parley_rate_result *res,
				       enum parley_rate_verdict v, int rate, double est,
				       const char *why)
{
	if (res) {
		res->verdict = v;
		res->rate = rate;
		res->estimate = est;
		res->why = why;
	}
	return v;
}

enum parley_rate_verdict parley_rate_infer_add(struct parley_rate_infer *ri, uint32_t ts_ms,
					       size_t nsamples, struct parley_rate_result *res)
{
	if (!ri->started) {
		ri->started = 1;
		ri->last_ts = ts_ms;
		ri->t_last = 0;
		ri->pts[0].t = 0;
		ri->pts[0].c = 0;
		ri->npoints = 1;
	} else {
		int32_t d = (int32_t)(ts_ms - ri->last_ts); /* wrap-around safe */
		if (d < -MAX_BACK_MS || d > MAX_JUMP_MS)
			return finish(res, PARLEY_RATE_REJECTED, 0, 0,
				      d < 0 ? "the frame timestamps went backwards"
					    : "the frame timestamps jumped ahead");
		ri->last_ts = ts_ms;
		ri->t_last += d;
		const int64_t span_cap = 4 * PARLEY_RATE_INFER_SPAN_MS + MAX_JUMP_MS;
		if (ri->t_last > span_cap || ri->t_last < -MAX_BACK_MS)
			return finish(res, PARLEY_RATE_REJECTED, 0, 0,
				      "the frame timestamps are not continuous");
		if (ri->npoints < PARLEY_RATE_INFER_POINTS &&
		    ri->t_last - ri->pts[ri->npoints - 1].t >= MIN_POINT_GAP_MS) {
			ri->pts[ri->npoints].t = (int32_t)ri->t_last;
			ri->pts[ri->npoints].c = (uint32_t)ri->samples;
			ri->npoints++;
		}
	}
	ri->samples += nsamples;

	int64_t span = ri->pts[ri->npoints - 1].t - ri->pts[0].t;
	/* The clock lags the audio. */
	if (ri->samples >= FAST_SAMPLES &&
	    (span <= 0 || (double)ri->pts[ri->npoints - 1].c * 1000.0 / span > 48000 * FAST_FACTOR))
		return finish(res, PARLEY_RATE_REJECTED, 0,
			      span > 0 ? (double)ri->pts[ri->npoints - 1].c * 1000.0 / span : 0,
			      "the frame timestamps advance slower than the audio (no client "
			      "clock, or audio sent faster than real time)");
	if (span < PARLEY_RATE_INFER_EARLY_MS)
		return finish(res, PARLEY_RATE_PENDING, 0, 0, NULL);
	double spread;
	double est = estimate(ri, &spread);
	if (span < PARLEY_RATE_INFER_SPAN_MS) { /* early: only a clear answer of a clean clock */
		int early = spread <= EARLY_SPREAD
				    ? snap_within(est, PARLEY_RATE_INFER_EARLY_TOLERANCE)
				    : 0;
		return early ? finish(res, PARLEY_RATE_DECIDED, early, est, NULL)
			     : finish(res, PARLEY_RATE_PENDING, 0, est, NULL);
	}
	int rate = parley_rate_snap(est);
	if (rate)
		return finish(res, PARLEY_RATE_DECIDED, rate, est, NULL);
	if (span >= 2 * PARLEY_RATE_INFER_SPAN_MS || ri->npoints == PARLEY_RATE_INFER_POINTS)
		return finish(res, PARLEY_RATE_REJECTED, 0, est,
			      "the measured rate is not within 3% of a common rate");
	return finish(res, PARLEY_RATE_PENDING, 0, est, NULL);
}
