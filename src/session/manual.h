/*
 * manual.h - the audio of MANUAL turns, kept between the client's cuts
 * (session.h: parley_session_set_turns, parley_session_commit_audio).
 *
 * In MANUAL turns the client decides where an utterance ends, and may
 * stream for minutes before it commits, or never commit at all. Holding a
 * speech decoder (a pooled, bounded resource of ~90 MB) for all that time
 * would let a few idle clients starve every other session. So the
 * listener keeps the audio heard since the last cut here instead (16 kHz,
 * after its resampler), and leases a decoder only when the commit is
 * reached: the kept audio then becomes the commit's utterance and is fed
 * to it piece by piece (parley_manual_next), one piece per listen job, so
 * a long utterance yields its worker like any other.
 *
 * At most PARLEY_MANUAL_MAX_MS are kept: beyond that the oldest audio is
 * dropped (a ring), so a commit recognises the last PARLEY_MANUAL_MAX_MS
 * before it; parley_manual_push says when that starts, once per cut. The
 * ring grows as audio comes (an idle MANUAL session costs nothing) and is
 * given back at every cut.
 *
 * Threads: the listen strand only (the listener owns one, like the rest
 * of its state: listen_internal.h); no locking.
 */
#ifndef PARLEY_SESSION_MANUAL_H
#define PARLEY_SESSION_MANUAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct parley_manual {
	int16_t *ring;        /* kept audio (owned), cap samples */
	size_t cap, head, len;
	bool dropped;         /* older audio was dropped since the last cut */
	int16_t *drain;       /* the committed audio being fed (owned), or NULL */
	size_t drain_len, drain_pos;
};

/* Keeps n samples (16 kHz). Returns 0; 1 when older audio had to go, the
 * first time since the last cut (the caller reports it);
 * PARLEY_E_NOMEM (the samples are lost). */
int parley_manual_push(struct parley_manual *m, const int16_t *pcm, size_t n);

/* Samples kept since the last cut. */
size_t parley_manual_len(const struct parley_manual *m);

/* The commit: what is kept becomes the audio to drain (none must be
 * draining). Returns false when nothing is kept (or on OOM: it is lost).
 * *dropped: older audio was dropped from it. */
bool parley_manual_commit(struct parley_manual *m, bool *dropped);

/* True while committed audio waits to be fed. */
bool parley_manual_draining(const struct parley_manual *m);

/* Copies up to max samples of the committed audio into dst and returns
 * the count (0: none is draining). The last piece frees the drain buffer:
 * draining() is false after it. */
size_t parley_manual_next(struct parley_manual *m, int16_t *dst, size_t max);

/* Drops what is kept (a clear, a switch to VAD turns); not the drain. */
void parley_manual_clear(struct parley_manual *m);

/* Frees everything; m is empty and reusable after. */
void parley_manual_free(struct parley_manual *m);

#endif
