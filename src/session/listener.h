/*
 * listener.h - the listener: a session's audio in, its voice activity,
 * utterances and the client's cuts. Included through session/internal.h
 * only.
 *
 * The listener has two halves:
 *
 *  - the inbox (struct parley_inbox, inbox.c, inbox_cuts.c, inrate.c):
 *    where the event-loop thread leaves audio (a ring at the input rate,
 *    bounded by real time: pace.h) and the client's cuts (commit, clear),
 *    and where the input rate is inferred when the client did not declare
 *    it. Guarded by its own lock, `in.lock`, so a frame arriving never
 *    waits for the conversation (s->lock).
 *  - the hearing (struct parley_listen, listen*.c, manual.c): one job at a
 *    time on the session's listen strand takes audio out of the inbox,
 *    resamples it to 16 kHz, runs the VAD, opens an utterance per turn on
 *    a leased STT job, and hands what it hears to the turn-taker
 *    (turntaker.h): speech onsets over the assistant (barge-in), pauses
 *    (speculation), final transcripts (turns).
 *
 * Lock order (docs/architecture.md): s->lock, then in.lock, then the
 * out-queue's and the strands' own locks. Nothing that holds in.lock takes
 * s->lock.
 */
#ifndef PARLEY_SESSION_LISTENER_H
#define PARLEY_SESSION_LISTENER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/rate_infer.h"
#include "audio/ring.h"
#include "session/pace.h"
#include "session/session.h"

#define PARLEY_SESSION_AUDIO_SECONDS 10

struct parley_session;
struct parley_listen;

/* A client's cut in the audio stream (inbox_cuts.c): the audio before
 * sample `at` (counted in parley_inbox.written) is committed as one
 * utterance, or dropped (clear). */
struct parley_cut {
	uint64_t at;
	bool clear;
};

/* Cuts waiting: a commit is refused while PARLEY_SESSION_MAX_COMMITS cuts
 * (or transcripts) wait, and a clear appends only after a commit (a clear
 * at the tail is replaced), so at most MAX_COMMITS + 1 ever wait
 * (inbox_cuts.c). */
#define PARLEY_SESSION_MAX_CUTS (2 * PARLEY_SESSION_MAX_COMMITS)
_Static_assert(PARLEY_SESSION_MAX_CUTS > PARLEY_SESSION_MAX_COMMITS,
	       "a clear must always fit behind the commits");

/* The listener's inbox. Every field but `urgent` is guarded by `lock`. */
struct parley_inbox {
	pthread_mutex_t lock;
	int rate;                    /* the input sample rate (declared, inferred, or 48000) */
	struct parley_ring ring;     /* samples at `rate` */
	bool overflowing;            /* inside an overflow episode */
	bool job_queued;             /* a listen job is pending */
	atomic_bool urgent;          /* the listener is in a pause of an utterance: its jobs
				      * are urgent (the turn may end) */
	int64_t waiting_since_ns;    /* the ring has not been empty since then (0: empty) */
	size_t taken_waiting;        /* samples the listener took since waiting_since_ns */
	int64_t last_ns;             /* when mic audio last arrived */
	struct parley_pace pace;     /* audio vs real time */
	bool utterance_open;         /* a decoder is leased for the user */
	uint64_t written;            /* samples ever written to the ring */
	double uncommitted_ms;       /* audio since the last cut (a commit, a clear, the
					VAD's end of a turn) */
	double lost_ms;              /* input audio dropped before the listener heard it
					(pace, overflow, a rate change), not yet added to
					its clock */
	unsigned utts_waiting;       /* committed utterances waiting for their transcript */
	struct parley_cut cuts[PARLEY_SESSION_MAX_CUTS]; /* a FIFO */
	size_t cut_head, ncuts;
	/* Undeclared input rate (inrate.h): */
	bool rate_pending;           /* inferring; the listener holds the audio undecoded */
	int64_t rate_first_ns;       /* first frame of the inference */
	struct parley_rate_infer rate_infer;
};

/* inbox.c: set up at creation (speech: the rate is inferred until declared)
 * and torn down at the last unref. */
void parley_inbox_init(struct parley_inbox *in, bool speech, int64_t now_ns);
void parley_inbox_destroy(struct parley_inbox *in);

/* inbox.c: the input rate (takes in.lock). Any thread. */
int parley_inbox_rate(struct parley_session *s);

/* inbox.c: when the newest sample taken out of the ring arrived (the
 * newest frame's arrival less the samples still waiting, at real time):
 * the echo guard's microphone clock. Any thread, takes in.lock. */
int64_t parley_inbox_arrival_ns(struct parley_session *s);

/* inbox.c: drops every sample waiting and what was uncommitted
 * (clear_history). Any thread, takes in.lock. */
void parley_inbox_clear(struct parley_session *s);

/* inbox.c: queues the listen job unless one is queued already. Any
 * thread, without in.lock. */
void parley_inbox_schedule(struct parley_session *s);

/* inrate.c: what the inference concluded, reported after the lock is let go. */
struct parley_inrate_note {
	bool concluded;   /* the inference ended with this call */
	int rate;         /* inferred rate (0: none, 48000 kept) */
	int old_rate;     /* the assumed rate it replaced */
	double estimate;  /* measured samples per second, 0 if none */
	const char *why;  /* static: why none was inferred */
};

/* Caller holds in.lock: feeds one frame (client_ms < 0: no timestamp) to
 * the inference while it is pending; on a decision the input rate becomes
 * the inferred one (the held audio is decoded at it). *note must start
 * zeroed. */
void parley_inrate_feed_locked(struct parley_session *s, int64_t client_ms, size_t n,
			       int64_t now, struct parley_inrate_note *note);
/* Caller holds in.lock: gives the inference up if audio stopped arriving. */
void parley_inrate_quiet_locked(struct parley_session *s, int64_t now,
				struct parley_inrate_note *note);
/* Without in.lock: logs, counts and reports a concluded inference to the
 * client, and schedules the listener for the held audio. */
void parley_inrate_report(struct parley_session *s, const struct parley_inrate_note *note);

/* inbox_cuts.c: the VAD ended a turn (the listen strand): it is a cut, so
 * a commit right after it finds only the audio since (uncommitted_ms). */
void parley_inbox_vad_cut(struct parley_session *s);
/* inbox_cuts.c: the listener's count of committed utterances waiting for
 * their transcript changes by delta (PARLEY_SESSION_MAX_COMMITS). */
void parley_inbox_utts_waiting(struct parley_session *s, int delta);

/* inbox_cuts.c: the listen strand's take: moves up to n buffered samples
 * into dst, never past the next cut. *discard: they precede a clear (drop
 * them undecoded). *cut: the cut reached after them, taken off the FIFO
 * (PARLEY_CUT_NONE if none). Returns the count (0 with a cut: one was
 * due). */
enum parley_cut_kind { PARLEY_CUT_NONE = 0, PARLEY_CUT_COMMIT, PARLEY_CUT_CLEAR };
size_t parley_inbox_take(struct parley_session *s, int16_t *dst, size_t n, bool *discard,
			 enum parley_cut_kind *cut);

/* listen.c: the hearing's state (the listen strand's only); NULL on OOM. */
struct parley_listen *parley_listen_create(void);
/* listen.c: frees it at the last unref (accepts NULL). */
void parley_listen_destroy(struct parley_listen *l, struct parley_session *s);
/* listen.c: the job that consumes buffered audio (runs on s->strand). */
void parley_listen_job(void *session, bool cancelled);

#endif
