/*
 * decoder.h - pocketsphinx-style decoders and the decoder pool (the embedded
 * STT engine's internals; stt.h is the engine interface).
 *
 * A backend decodes one utterance at a time on a decoder object. Decoders
 * are not welded to sessions: a session leases one from the shared pool when
 * its user starts speaking and gives it back after the final transcript, so
 * an idle connection holds no decoder (a pocketsphinx decoder is ~93 MB).
 * The pool keeps `warm` decoders ready (created at startup and refilled in
 * the background) and never holds more than `max`.
 *
 * The STT engine built on them (stt/embedded.c, parley_stt_pocketsphinx in
 * stt.h) leases a decoder per job. Ops slots are all required. A decoder is
 * used by one thread at a time (the job that leased it); create/destroy may
 * run on any thread.
 */
#ifndef PARLEY_STT_DECODER_H
#define PARLEY_STT_DECODER_H

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

/* Creates the pool and starts filling it in the background. NULL on
 * failure. */
struct parley_stt_pool *parley_stt_pool_create(const struct parley_stt_decoder_ops *b,
					       const struct parley_stt_settings *st, int warm,
					       int max);
void parley_stt_pool_destroy(struct parley_stt_pool *p); /* accepts NULL */

const struct parley_stt_decoder_ops *parley_stt_pool_backend(struct parley_stt_pool *p);

/* A decoder for one utterance, or NULL when `max` are leased (the machine
 * is at its limit: tell the user) or creation failed. Never blocks on a
 * create when a warm decoder is there. Any thread. */
void *parley_stt_pool_lease(struct parley_stt_pool *p);

/* Gives a decoder back (after finish()). Any thread. */
void parley_stt_pool_release(struct parley_stt_pool *p, void *dec);

/* Destroys a leased decoder instead of giving it back (its adaptation
 * state, such as live CMN, is not wanted: the warm-up's synthetic signal);
 * the pool refills in the background. Any thread. */
void parley_stt_pool_discard(struct parley_stt_pool *p, void *dec);

/* Waits until `warm` decoders were created (0), creating failed (why
 * filled in, PARLEY_E_IO) or timeout_ms passed (PARLEY_E_CLOSED). Any
 * thread (the warm-up). */
int parley_stt_pool_wait_warm(struct parley_stt_pool *p, int timeout_ms, char *why, size_t whylen);

#endif
