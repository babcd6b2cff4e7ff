/*
 * ratelimit.h - a token bucket: the one rate-limiting primitive parley uses
 * (turns per minute, audio seconds per wall-clock second).
 *
 * A bucket holds up to `capacity` tokens and gains `rate` tokens a second,
 * never more than `capacity`. Taking `amount` tokens succeeds only when that
 * many are there, so a client may burst up to `capacity` and then keep to
 * `rate` on average. A new bucket starts full. Tokens are doubles, so the
 * same code counts whole turns and fractional seconds of audio.
 *
 * Pure: the caller passes the time (CLOCK_MONOTONIC nanoseconds), so tests
 * need no clock. Not thread-safe: the owner guards it (the session lock).
 */
#ifndef PARLEY_UTIL_RATELIMIT_H
#define PARLEY_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct parley_bucket {
	double tokens;   /* available now (as of last_ns) */
	double capacity; /* burst size */
	double rate;     /* tokens gained per second */
	int64_t last_ns; /* when tokens was last brought up to date */
};

/* A full bucket. capacity > 0, rate >= 0. */
void parley_bucket_init(struct parley_bucket *b, double capacity, double rate_per_s,
			int64_t now_ns);

/* Takes amount tokens if they are there (true); otherwise takes nothing
 * (false). A clock that goes backwards adds nothing. */
bool parley_bucket_take(struct parley_bucket *b, double amount, int64_t now_ns);

/* Tokens available at now_ns. */
double parley_bucket_level(struct parley_bucket *b, int64_t now_ns);

/* Seconds until amount tokens are available (0 if they are now; a huge
 * value if rate is 0 or amount exceeds the capacity). */
double parley_bucket_wait_s(struct parley_bucket *b, double amount, int64_t now_ns);

#endif
