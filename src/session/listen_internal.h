/*
 * listen_internal.h - the listener's state and the calls between its three
 * files; included by listen.c, listen_cuts.c and listen_results.c only.
 *
 * The listener is one job (parley_listen_job) spread over three files by
 * what they do: listen.c hears the input (16 kHz frames -> VAD -> one
 * utterance per turn, fed to its STT job, the turn rules, speculation and
 * barge-in); listen_cuts.c applies the client's cuts where they fall in
 * the stream (commit, clear) and keeps MANUAL turns' audio until the
 * commit; listen_results.c takes the STT jobs' results back (the sink,
 * then a job on the strand) and turns them into turns in the order the
 * utterances began, and owns the utterances' lifetime.
 *
 * Threads: everything here runs on the session's listen strand (one job at
 * a time, so struct parley_listen and the strand-only fields of struct utt
 * need no lock), except the sink's callbacks (parley_listen_sink), which
 * run on any thread and touch only an utterance's atomics and its
 * lock-guarded partial. Every call takes the listener `l` and its session
 * `s` (s->listen == l, borrowed for the call; the session is live).
 *
 * Lifetime: each utterance holds a session reference; the listener keeps
 * it (`listed`: as `cur` or on `pending`), with its job handle, from onset
 * until its result was handled (or the session closes:
 * parley_listen_abandon); the engine keeps a reference until its end, the
 * result job one while queued, a held result one while held.
 */
#ifndef PARLEY_SESSION_LISTEN_INTERNAL_H
#define PARLEY_SESSION_LISTEN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/vad.h"
#include "session/internal.h"
#include "session/manual.h"
#include "stt/stt.h"

#define PREROLL_FRAMES (PARLEY_TURN_PREFIX_MAX / PARLEY_VAD_FRAME_MS) /* at most kept before an
							   onset: the turns' prefix_ms */
#define PREROLL (PREROLL_FRAMES * PARLEY_VAD_FRAME)
#define FEED_MS 1000                           /* speech fed to the decoder at once */
#define FEED_CAP (PARLEY_VAD_RATE * FEED_MS / 1000) /* l->fed: a piece, or the pre-roll */
_Static_assert(PREROLL <= FEED_CAP, "the pre-roll is fed in one piece");
#define MAX_UTTERANCE_MS 30000
#define HYP_MAX 1024

struct result;

/* One utterance: from speech onset until its result was handled. */
struct utt {
	atomic_int refs;            /* the listener's, the engine's until end, a result job's */
	struct parley_session *s;   /* a reference, dropped with the utterance */
	uint64_t seq;
	atomic_bool finished;       /* no more partials wanted */
	/* the listen strand only */
	struct parley_stt_job *job; /* the listener's reference */
	bool listed;                /* in the listener (cur or pending) */
	struct utt *next;           /* pending list */
	int64_t speech_end;         /* set before finish() */
	int voiced;
	bool speculated;            /* a speculative answer was started on it */
	bool speech_event;          /* speech_started was sent: a VAD turn end sends speech_stopped */
	bool committed;             /* its turn ended: it ends in user_final or user_failed */
	bool by_commit;             /* the client committed it (no voicing rule) */
	int64_t start_ms;           /* input audio clock at its first sample */
	struct result *held;        /* its result, waiting for an older utterance's */
	pthread_mutex_t lock;
	char partial[HYP_MAX];      /* guarded by lock: the latest partial */
	bool partial_new;           /* guarded by lock */
};

/* A result handed to the strand. */
struct result {
	struct utt *u; /* one reference */
	enum parley_speech_end end;
	enum parley_speech_cause cause;
	bool reported;             /* ERROR: the listener reported it already */
	char text[];
};

/* The listen strand only. */
struct parley_listen {
	struct parley_resampler *rs;
	struct parley_vad vad;
	int16_t carry[PARLEY_VAD_FRAME];
	size_t ncarry;
	int16_t *preroll;          /* a ring of pre_cap frames (owned), NULL until the first audio */
	size_t pre_cap, pre_head, pre_len; /* in frames */
	int16_t *fed;              /* FEED_CAP samples collected for the decoder, or NULL */
	size_t nfed;
	struct utt *cur;           /* the utterance being fed, or NULL */
	struct utt *pending;       /* finished, waiting for their results */
	uint64_t seq;              /* of the last utterance started */
	uint64_t delivered;        /* of the last result that made (or was) a turn */
	char partial[HYP_MAX];     /* the current utterance's latest partial */
	int partial_at_ms;         /* utt_ms when it last changed */
	int eot;                   /* the end-of-turn model's decision on partial
				      (enum parley_eot_decision) */
	bool eot_stale;            /* partial changed since: decide again */
	int64_t onset_ns;
	int utt_ms;
	bool speculated;           /* a speculative answer started in this pause */
	int speculated_at_ms;      /* utt_ms when it started */
	bool barged;
	bool overloaded;           /* inside an overload episode */
	int pieces, fed_ms;        /* fed to the current utterance (debug log) */
	double clock_ms;           /* input audio heard or skipped since the session began */
	struct parley_manual manual; /* MANUAL: the audio since the last cut (manual.h) */
};

/* --- listen.c: hearing (the listen strand) --- */

/* Whether an utterance is open (the inbox's utterance_open, under in.lock). */
void parley_listen_set_open(struct parley_session *s, bool open);

/* Reports an overload once per episode (l->overloaded); why: borrowed. */
void parley_listen_overloaded(struct parley_listen *l, struct parley_session *s, const char *why);

/* One 16 kHz frame (PARLEY_VAD_FRAME samples, borrowed) heard under the
 * turn settings t (borrowed) and speaking speed. */
void parley_listen_frame(struct parley_listen *l, struct parley_session *s, const int16_t *pcm,
			 const struct parley_turns *t, double speed);

/* An utterance begins (its STT job starts) with the last `prefix` frames
 * of the pre-roll kept for it; vad: the VAD opened it (speech_started).
 * On failure (no decoder, out of memory) l->cur stays NULL and the
 * problem was reported. */
void parley_listen_begin(struct parley_listen *l, struct parley_session *s, size_t prefix,
			 bool vad);

/* The current utterance (l->cur, not NULL) ends; speech_end: when the user
 * stopped (0: the last loud frame). Its transcript follows through the
 * job's end (listen_results.c). */
void parley_listen_end(struct parley_listen *l, struct parley_session *s, int64_t speech_end);

/* What was collected in l->fed (l->nfed samples) goes to the current
 * utterance's decoder (l->cur, not NULL); if its job takes no more, the
 * utterance stops being fed (l->cur becomes NULL). */
void parley_listen_flush(struct parley_listen *l, struct parley_session *s);

/* --- listen_results.c: results and the utterances' lifetime --- */

/* The sink for utterance u's STT job (u is its arg; the engine's
 * reference). Its callbacks run on any thread. */
struct parley_stt_sink parley_listen_sink(struct utt *u);

/* Drops one reference to u; the last frees it and drops its session
 * reference. Any thread. */
void parley_listen_utt_unref(struct utt *u);

/* Takes u out of the listener (nothing if it is not listed) and gives its
 * job back (cancelled if it is still running), with a held result; drops
 * the listener's reference. */
void parley_listen_unlist(struct parley_listen *l, struct parley_session *s, struct utt *u);

/* Every utterance goes (the session is closing). */
void parley_listen_abandon(struct parley_listen *l, struct parley_session *s);

/* The results held for the oldest pending utterances become turns, in
 * order, until one still waits for its result. */
void parley_listen_deliver_held(struct parley_listen *l, struct parley_session *s);

/* --- listen_cuts.c: the client's cuts and MANUAL turns --- */

/* A frame (borrowed) heard in MANUAL turns: kept until the commit, or fed
 * to an utterance the VAD opened before the switch. */
void parley_listen_manual_frame(struct parley_listen *l, struct parley_session *s,
				const int16_t *pcm);

/* Feeds one piece of the committed MANUAL audio; the last piece ends the
 * utterance. Returns false while some is left (the caller yields). */
bool parley_listen_drain_manual(struct parley_listen *l, struct parley_session *s);

/* The client's commit reached the listener (turn settings t borrowed). */
void parley_listen_commit_now(struct parley_listen *l, struct parley_session *s,
			      const struct parley_turns *t, double speed);

/* The client's clear reached the listener. */
void parley_listen_clear_now(struct parley_listen *l, struct parley_session *s);

#endif
