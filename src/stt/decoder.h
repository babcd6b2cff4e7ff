/*
 * decoder.h - pocketsphinx-style decoders and the decoder pool (the embedded
 * STT engine's internals; stt.h is the engine interface).
 *
 * A backend decodes one utterance at a time on a decoder object. Decoders
 * are not welded to sessions: a session leases one from the shared pool when
 * its user starts speaking and gives it back after the final transcript, so
 * an idle connection holds no decoder (a pocketsphinx decoder is ~93 MB).
 * The pool keeps `warm` decoders ready (created at startup and refilled in
 * the background by its filler thread) and never holds more than `max`.
 * When none is idle, a session's utterance waits in a FIFO (it keeps its
 * audio meanwhile, stt/embedded.c) and gets the next decoder given back,
 * or one the filler creates for it below `max`; only a wait longer than
 * max_wait_ms is refused.
 *
 * Lock order: the pool's lock is innermost; callbacks (granted) run
 * without it.
 *
 * The STT engine built on them (stt/embedded.c, parley_stt_pocketsphinx in
 * stt.h) leases a decoder per job. Ops slots are all required. A decoder is
 * used by one thread at a time (the job that leased it); create/destroy may
 * run on any thread.
 */
#ifndef PARLEY_STT_DECODER_H
#define PARLEY_STT_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct parley_stt_settings {
	char hmm[1024];  /* acoustic model directory */
	char lm[1024];   /* language model */
	char dict[1024]; /* pronunciation dictionary */
	int maxhmmpf;    /* -maxhmmpf */
	int fwdflat;     /* -fwdflat yes/no */
	int bestpath;    /* -bestpath yes/no */
};

struct parley_stt_decoder_ops {
	const char *name;
	int rate; /* input sample rate (16000) */
	/* One-time process setup (logging, ...). Returns 0 or -1. */
	int (*global_init)(void);
	/* A decoder ready for start(); NULL on failure (logged). */
	void *(*create)(const struct parley_stt_settings *st);
	void (*destroy)(void *dec);
	/* Utterance: start, feed any number of times, then finish. */
	int (*start)(void *dec);
	int (*feed)(void *dec, const int16_t *pcm, size_t n);
	/* Current hypothesis into out (may be empty). */
	void (*partial)(void *dec, char *out, size_t outlen);
	/* Ends the utterance and writes the final hypothesis. */
	void (*finish)(void *dec, char *out, size_t outlen);
};

extern const struct parley_stt_decoder_ops parley_stt_ps_decoder; /* pocketsphinx.c */

struct parley_stt_pool;

/*
 * One utterance waiting for a decoder (parley_stt_pool_lease_or_wait()).
 * Owned by the caller, who keeps it valid until granted() ran or
 * parley_stt_pool_cancel_wait() took it back. granted() gets the decoder
 * (now leased by the waiter), or NULL when the wait was refused: it lasted
 * max_wait_ms, creating decoders fails, or the pool is being destroyed. It
 * runs on the thread that returned or created the decoder (a worker, the
 * pool's filler thread) without the pool's lock, must be quick and must not
 * call into the pool.
 */
struct parley_stt_waiter {
	void (*granted)(void *arg, void *dec);
	void *arg;
	/* the pool's, guarded by its lock */
	struct parley_stt_waiter *next;
	long long since_ns;
};

/* Creates the pool and starts filling it in the background: `warm` idle
 * decoders, never more than `max` in all; a waiter is refused after
 * max_wait_ms. NULL on failure. */
struct parley_stt_pool *parley_stt_pool_create(const struct parley_stt_decoder_ops *b,
					       const struct parley_stt_settings *st, int warm,
					       int max, int max_wait_ms);
/* Refuses every waiter (granted(NULL)), stops the filler, frees the idle
 * decoders. Every leased decoder must be back. Accepts NULL. */
void parley_stt_pool_destroy(struct parley_stt_pool *p);

const struct parley_stt_decoder_ops *parley_stt_pool_backend(struct parley_stt_pool *p);

/*
 * A decoder for one utterance at once when one is idle and nobody waits
 * before the caller. Otherwise NULL, and w joins the FIFO of waiters: the
 * next decoder given back, or created (below `max` the filler creates one
 * for it; one being created counts), is handed to the first waiter through
 * granted(). Never blocks. Any thread.
 */
void *parley_stt_pool_lease_or_wait(struct parley_stt_pool *p, struct parley_stt_waiter *w);

/* Takes a waiter back: true when it was still waiting (granted() will not
 * run), false when granted() ran or is running on another thread. Any
 * thread. */
bool parley_stt_pool_cancel_wait(struct parley_stt_pool *p, struct parley_stt_waiter *w);

/* A decoder now, blocking: an idle one; else, below `max`, one created on
 * the caller's thread; else, while one is being created, that one when it
 * is not wanted by a waiter. NULL when `max` are leased or creating fails.
 * For the warm-up and tools; sessions use parley_stt_pool_lease_or_wait().
 * Any thread. */
void *parley_stt_pool_lease(struct parley_stt_pool *p);

/* Gives a decoder back (after finish()): to the first waiter, else idle.
 * Any thread. */
void parley_stt_pool_release(struct parley_stt_pool *p, void *dec);

/* Destroys a leased decoder instead of giving it back (its adaptation
 * state, such as live CMN, is not wanted: the warm-up's synthetic signal);
 * the pool refills in the background. Any thread. */
void parley_stt_pool_discard(struct parley_stt_pool *p, void *dec);

/* Waits until `warm` decoders were created (0), creating failed with no
 * decoder idle (why filled in, PARLEY_E_IO) or timeout_ms passed
 * (PARLEY_E_CLOSED). Any thread (the warm-up). */
int parley_stt_pool_wait_warm(struct parley_stt_pool *p, int timeout_ms, char *why, size_t whylen);

#endif
