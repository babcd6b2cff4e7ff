/*
 * ring.h - a fixed-capacity int16 sample ring that drops the oldest samples
 * when it overflows (fresh speech matters more than stale speech).
 *
 * Not thread-safe by itself: its owner (the session) guards it with a lock.
 */
#ifndef PARLEY_AUDIO_RING_H
#define PARLEY_AUDIO_RING_H

#include <stddef.h>
#include <stdint.h>

struct parley_ring {
	int16_t *buf;
	size_t cap, head, len; /* head = index of the oldest sample */
	size_t max;            /* capacity it may grow to */
};

/* Storage is allocated on first use and grows up to cap samples, so an
 * idle ring costs nothing. Returns 0 or PARLEY_E_INVAL (cap 0). */
int parley_ring_init(struct parley_ring *r, size_t cap);
void parley_ring_destroy(struct parley_ring *r);

/* Appends n samples; returns how many old samples were dropped to make room. */
size_t parley_ring_write(struct parley_ring *r, const int16_t *src, size_t n);

/* Moves up to n of the oldest samples into dst; returns the count. */
size_t parley_ring_read(struct parley_ring *r, int16_t *dst, size_t n);

/* Discards up to n of the oldest samples; returns the count. */
size_t parley_ring_drop(struct parley_ring *r, size_t n);

static inline size_t parley_ring_len(const struct parley_ring *r) { return r->len; }
static inline void parley_ring_clear(struct parley_ring *r) { r->head = r->len = 0; }

#endif
