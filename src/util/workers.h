/*
 * workers.h - a fixed pool of worker threads running per-owner serial jobs.
 *
 * Work is submitted to a strand: an ordered job list belonging to one owner
 * (a session). The pool runs a strand's jobs one at a time, in submission
 * order, on whichever worker is free, so a session's speech work never runs
 * on two threads at once while different sessions run in parallel. Strands
 * that are ready wait in a FIFO of their class (see "Classes"); a worker
 * runs at most PARLEY_STRAND_BATCH jobs of a strand before putting it back
 * at the end, so a busy session cannot starve the others.
 *
 * Long work is cut into slices: a job that leaves work behind queues its
 * continuation and calls parley_workers_yield(), so its strand goes to the
 * back of its ready FIFO as soon as the job returns, behind every strand
 * that was ready before, whatever the batch count. With every long-running
 * owner slicing its work, the pool serves ready strands round-robin, one
 * slice each.
 *
 * Classes: every job is submitted with a class saying what it is, not how
 * long it ran last time. URGENT is work on the path from the user's last
 * word to the first answer audio (the listener in a pause of an utterance,
 * where the turn may end; an utterance's final decode and its result; the
 * speaker's pump and the synthesis of an answer's first piece); LONG is
 * heavy work nobody waits for at once (decoding the middle of an
 * utterance); NORMAL is the rest. A ready strand waits in the FIFO of the
 * most urgent job it has queued (its jobs run in order, so an urgent job
 * behind a normal one lifts both). Workers take urgent strands first, then
 * normal, then long; but a normal or long strand that has waited
 * PARLEY_STRAND_MAX_WAIT_MS goes first (the longest waiting), so every
 * class progresses under a flood of more urgent work. A worker running a
 * batch of a strand that is not urgent stops after the current job when
 * an urgent strand is ready.
 *
 * Bounded holding: a long job (a decoder working through a second of
 * speech) asks parley_workers_contended() between slices of its work and,
 * when something that must not wait is ready, queues its continuation and
 * yields; otherwise it goes on, keeping the cost of big pieces low when
 * the pool is idle.
 *
 * Lifetime: while a strand has jobs queued or running, the pool holds its
 * owner through the strand's hold/release callbacks (a session reference),
 * so the owner, and the strand inside it, outlives the pool's last touch.
 *
 * Bounds: a strand accepts at most max_pending queued jobs; beyond that
 * submit fails with PARLEY_E_FULL and the job is not taken.
 *
 * Threads: every function is thread-safe. Job functions run on worker
 * threads and must not block for long on anything the event loop waits for.
 */
#ifndef PARLEY_UTIL_WORKERS_H
#define PARLEY_UTIL_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define PARLEY_STRAND_BATCH 8
#define PARLEY_STRAND_MAX_WAIT_MS 100 /* a normal or long strand waits at most about this */

enum parley_job_class {
	PARLEY_JOB_URGENT, /* on the way from the user's last word to the first answer audio */
	PARLEY_JOB_NORMAL, /* the rest */
	PARLEY_JOB_LONG,   /* heavy work nobody waits for at once (mid-utterance decoding) */
};
#define PARLEY_JOB_CLASSES 3

/* cancelled is true when the pool is shutting down or the strand was
 * cancelled: the job should only release what arg owns. */
typedef void (*parley_job_fn)(void *arg, bool cancelled);

struct parley_job;
struct parley_workers;

struct parley_strand {
	/* guarded by the pool's lock */
	struct parley_job *head, *tail;
	size_t npending;
	size_t max_pending;
	size_t nclass[PARLEY_JOB_CLASSES]; /* queued jobs per class */
	bool scheduled; /* in a ready FIFO or running */
	bool cancelled;
	bool yield;     /* the running job asked to go behind the others */
	int fifo;       /* the ready FIFO it waits in (its class), or -1 */
	struct parley_strand *next_ready, *prev_ready;
	long long ready_ns;     /* when it joined a FIFO */
	/* set at init, then read-only */
	void (*hold)(void *owner);
	void (*release)(void *owner);
	void *owner;
};

/* hold/release may be NULL when the owner outlives the pool. */
void parley_strand_init(struct parley_strand *s, size_t max_pending, void (*hold)(void *),
			void (*release)(void *), void *owner);

/* Starts nthreads (>= 1) workers. Returns NULL on failure. */
struct parley_workers *parley_workers_create(int nthreads);

/*
 * Queues fn(arg) of class cls on strand s (arg stays the caller's until fn
 * runs; fn owns it then). On success the pool will call fn exactly once
 * (with cancelled = true if the strand or pool is cancelled first), on a
 * worker thread. Returns 0, PARLEY_E_FULL, PARLEY_E_CLOSED (strand
 * cancelled or pool stopping) or PARLEY_E_NOMEM; on failure fn is never
 * called. Any thread.
 */
int parley_workers_submit(struct parley_workers *w, struct parley_strand *s,
			  enum parley_job_class cls, parley_job_fn fn, void *arg);

/* Makes every job queued on s urgent (an utterance whose decoding was put
 * off is now finishing: its final transcript is waited for). Any thread. */
void parley_strand_urge(struct parley_workers *w, struct parley_strand *s);

/* True when a strand that must not wait is ready and no worker is free for
 * it: an urgent one, or one that has waited PARLEY_STRAND_MAX_WAIT_MS. For
 * a long job deciding whether to slice its work (see the top). Any thread. */
bool parley_workers_contended(struct parley_workers *w);

/* The class of the job running on the calling thread; PARLEY_JOB_NORMAL
 * when the caller is not a job (engines started from a job hand its class
 * on to the work they queue). */
enum parley_job_class parley_workers_current_class(void);

/*
 * From a job running on s: when this job returns, s goes to the back of its
 * ready FIFO if it has jobs queued (e.g. the continuation this job just
 * submitted), instead of running on. Other threads must not call it.
 */
void parley_workers_yield(struct parley_workers *w, struct parley_strand *s);

/* Marks s cancelled: queued jobs run with cancelled = true, later submits
 * fail. A job already running finishes normally. */
void parley_strand_cancel(struct parley_workers *w, struct parley_strand *s);

/* Number of jobs queued (not running) on s. */
size_t parley_strand_pending(struct parley_workers *w, struct parley_strand *s);

/* Stops accepting work, runs every queued job with cancelled = true, joins
 * the threads and frees the pool. Accepts NULL. Not from a worker thread. */
void parley_workers_destroy(struct parley_workers *w);

#endif
