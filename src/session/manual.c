/*
 * manual.c - the audio of MANUAL turns between the client's cuts
 * (manual.h): a ring that grows up to PARLEY_MANUAL_MAX_MS, then drops
 * its oldest samples; at the commit it becomes the buffer the listener
 * feeds to the utterance's decoder.
 *
 * Threads: the listen strand only.
 */
#include "session/manual.h"

#include <stdlib.h>
#include <string.h>

#include "audio/vad.h"
#include "session/session.h"
#include "util/err.h"

#define MAX_SAMPLES ((size_t)PARLEY_VAD_RATE * PARLEY_MANUAL_MAX_MS / 1000)
#define FIRST_SAMPLES ((size_t)PARLEY_VAD_RATE * 2) /* 2 s, then doubling */

/* The ring's samples in order into dst (len of them). */
static void linear(const struct parley_manual *m, int16_t *dst)
{
	size_t first = m->cap - m->head < m->len ? m->cap - m->head : m->len;
	memcpy(dst, m->ring + m->head, first * sizeof *dst);
	memcpy(dst + first, m->ring, (m->len - first) * sizeof *dst);
}

/* Room for `more` samples, growing up to MAX_SAMPLES. */
static int grow(struct parley_manual *m, size_t more)
{
	if (m->len + more <= m->cap || m->cap == MAX_SAMPLES)
		return 0;
	size_t cap = m->cap ? m->cap : FIRST_SAMPLES;
	while (cap < m->len + more && cap < MAX_SAMPLES)
		cap *= 2;
	if (cap > MAX_SAMPLES)
		cap = MAX_SAMPLES;
	int16_t *ring = malloc(cap * sizeof *ring);
	if (!ring)
		return PARLEY_E_NOMEM;
	if (m->len)
		linear(m, ring);
	free(m->ring);
	m->ring = ring;
	m->cap = cap;
	m->head = 0;
	return 0;
}

int parley_manual_push(struct parley_manual *m, const int16_t *pcm, size_t n)
{
	if (n > MAX_SAMPLES) {
		pcm += n - MAX_SAMPLES;
		n = MAX_SAMPLES;
	}
	if (grow(m, n))
		return PARLEY_E_NOMEM;
	bool drop = m->len + n > m->cap;
	if (drop) { /* at the cap: the oldest go */
		size_t over = m->len + n - m->cap;
		m->head = (m->head + over) % m->cap;
		m->len -= over;
	}
	for (size_t i = 0; i < n;) {
		size_t at = (m->head + m->len) % m->cap;
		size_t k = m->cap - at < n - i ? m->cap - at : n - i;
		memcpy(m->ring + at, pcm + i, k * sizeof *pcm);
		m->len += k;
		i += k;
	}
	if (drop && !m->dropped) {
		m->dropped = true;
		return 1;
	}
	return 0;
}

size_t parley_manual_len(const struct parley_manual *m)
{
	return m->len;
}

bool parley_manual_commit(struct parley_manual *m, bool *dropped)
{
	*dropped = m->dropped;
	if (!m->len || m->drain) {
		parley_manual_clear(m);
		return false;
	}
	int16_t *d;
	if (m->head == 0) { /* in order already: the ring itself */
		d = m->ring;
		m->ring = NULL;
		m->cap = 0;
	} else if ((d = malloc(m->len * sizeof *d))) {
		linear(m, d);
	}
	m->drain = d;
	m->drain_len = d ? m->len : 0;
	m->drain_pos = 0;
	parley_manual_clear(m);
	return d != NULL;
}

bool parley_manual_draining(const struct parley_manual *m)
{
	return m->drain != NULL;
}

size_t parley_manual_next(struct parley_manual *m, int16_t *dst, size_t max)
{
	if (!m->drain)
		return 0;
	size_t n = m->drain_len - m->drain_pos < max ? m->drain_len - m->drain_pos : max;
	memcpy(dst, m->drain + m->drain_pos, n * sizeof *dst);
	m->drain_pos += n;
	if (m->drain_pos == m->drain_len) {
		free(m->drain);
		m->drain = NULL;
		m->drain_len = m->drain_pos = 0;
	}
	return n;
}

void parley_manual_clear(struct parley_manual *m)
{
	free(m->ring); /* given back at every cut: an idle session keeps nothing */
	m->ring = NULL;
	m->cap = m->head = m->len = 0;
	m->dropped = false;
}

void parley_manual_free(struct parley_manual *m)
{
	parley_manual_clear(m);
	free(m->drain);
	m->drain = NULL;
	m->drain_len = m->drain_pos = 0;
}
