/*
 * workers.h - a fixed pool of worker threads running per-owner serial jobs.
 *
 * Work is submitted to a strand: an ordered job list belonging to one owner
 * (a session). The pool runs a strand's jobs one at a time, in submission
 * order, on whichever worker is free, so a session's speech work never runs
 * on two threads at once while different sessions run in parallel. Strands
 * that are ready wait in one FIFO; a worker runs at most
 * PARLEY_STRAND_BATCH jobs of a strand before putting it back at the end, so
 * a busy session cannot starve the others.
 *
 * Long work is cut into slices: a job that leaves work behind queues its
 * continuation and calls parley_workers_yield(), so its strand goes to the
 * back of its ready FIFO (see "Quick before long") as soon as the job
 * returns, behind every strand that was ready before, whatever the batch
 * count. With every long-running
 * owner slicing its work, the pool serves ready strands round-robin, one
 * slice each.
 *
 * Quick before long: a strand whose last run took more than
 * PARLEY_STRAND_LONG_MS (a decoder working through a piece of speech)
 * waits in a second FIFO that is served only when no quick strand is ready
 * (a listener in silence, a synthesis, an answer's next step) or when its
 * first strand has waited PARLEY_STRAND_LONG_WAIT_MS, so short, latency-
 * bound work is not queued behind the heavy slices of other owners, and
 * heavy work still progresses under a flood of short jobs.
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
#define PARLEY_STRAND_LONG_MS 10      /* a run longer than this: the long FIFO */
#define PARLEY_STRAND_LONG_WAIT_MS 100 /* the long FIFO's head waits at most about this */

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
	bool scheduled; /* in the ready FIFO or running */
	bool cancelled;
	bool yield;     /* the running job asked to go behind the others */
	struct parley_strand *next_ready;
	long long last_run_ns;  /* how long its last run took */
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
 * Queues fn(arg) on strand s. On success the pool will call fn exactly once
 * (with cancelled = true if the strand or pool is cancelled first).
 * Returns 0, PARLEY_E_FULL, PARLEY_E_CLOSED (strand cancelled or pool
 * stopping) or PARLEY_E_NOMEM; on failure fn is never called.
 */
int parley_workers_submit(struct parley_workers *w, struct parley_strand *s, parley_job_fn fn,
			  void *arg);

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
