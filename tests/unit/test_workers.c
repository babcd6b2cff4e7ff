/* Unit tests: the worker pool and its per-owner serial strands
 * (src/util/workers.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/err.h"
#include "util/workers.h"

#define STRANDS 8
#define JOBS 200

struct owner {
	struct parley_strand strand;
	atomic_int holds;
	atomic_int running; /* jobs of this owner running now */
	int next;           /* only touched by this owner's jobs */
	atomic_int order_errors;
	atomic_int overlap_errors;
	atomic_int done;
	atomic_int cancelled;
};

struct job {
	struct owner *o;
	int seq;
};

static void hold(void *p) { atomic_fetch_add(&((struct owner *)p)->holds, 1); }
static void release(void *p) { atomic_fetch_sub(&((struct owner *)p)->holds, 1); }

static struct job jobs[STRANDS][JOBS];

static void run_job(void *arg, bool cancelled)
{
	struct job *j = arg;
	struct owner *o = j->o;
	if (cancelled) {
		atomic_fetch_add(&o->cancelled, 1);
		return;
	}
	if (atomic_fetch_add(&o->running, 1) != 0)
		atomic_fetch_add(&o->overlap_errors, 1);
	if (o->next != j->seq)
		atomic_fetch_add(&o->order_errors, 1);
	o->next = j->seq + 1;
	if (j->seq % 50 == 0)
		usleep(200);
	atomic_fetch_sub(&o->running, 1);
	atomic_fetch_add(&o->done, 1);
}

static void strands_run_serially_in_order(void **state)
{
	static struct owner owners[STRANDS];
	memset(owners, 0, sizeof owners);
	struct parley_workers *w = parley_workers_create(4);
	assert_non_null(w);
	for (int s = 0; s < STRANDS; s++)
		parley_strand_init(&owners[s].strand, JOBS, hold, release, &owners[s]);
	/* Interleave submissions across strands. */
	for (int i = 0; i < JOBS; i++) {
		for (int s = 0; s < STRANDS; s++) {
			jobs[s][i] = (struct job){ &owners[s], i };
			assert_int_equal(parley_workers_submit(w, &owners[s].strand, PARLEY_JOB_NORMAL, run_job,
							       &jobs[s][i]),
					 0);
		}
	}
	for (int tries = 0; tries < 5000; tries++) {
		int total = 0;
		for (int s = 0; s < STRANDS; s++)
			total += atomic_load(&owners[s].done);
		if (total == STRANDS * JOBS)
			break;
		usleep(1000);
	}
	parley_workers_destroy(w);
	for (int s = 0; s < STRANDS; s++) {
		assert_int_equal(atomic_load(&owners[s].done), JOBS);
		assert_int_equal(atomic_load(&owners[s].order_errors), 0);
		assert_int_equal(atomic_load(&owners[s].overlap_errors), 0);
		assert_int_equal(atomic_load(&owners[s].holds), 0); /* every hold released */
	}
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void blocking_job(void *arg, bool cancelled)
{
	struct owner *o = arg;
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
	atomic_fetch_add(cancelled ? &o->cancelled : &o->done, 1);
}

static void strand_bound_and_cancel(void **state)
{
	static struct owner o;
	memset(&o, 0, sizeof o);
	struct parley_workers *w = parley_workers_create(1);
	parley_strand_init(&o.strand, 3, hold, release, &o);

	pthread_mutex_lock(&gate); /* the first job blocks the only worker */
	assert_int_equal(parley_workers_submit(w, &o.strand, PARLEY_JOB_NORMAL, blocking_job, &o), 0);
	while (parley_strand_pending(w, &o.strand) != 0)
		usleep(100); /* wait until it runs */
	for (int i = 0; i < 3; i++)
		assert_int_equal(parley_workers_submit(w, &o.strand, PARLEY_JOB_NORMAL, blocking_job, &o), 0);
	assert_int_equal(parley_workers_submit(w, &o.strand, PARLEY_JOB_NORMAL, blocking_job, &o), PARLEY_E_FULL);
	assert_int_equal(parley_strand_pending(w, &o.strand), 3);

	parley_strand_cancel(w, &o.strand);
	assert_int_equal(parley_workers_submit(w, &o.strand, PARLEY_JOB_NORMAL, blocking_job, &o), PARLEY_E_CLOSED);
	pthread_mutex_unlock(&gate);
	parley_workers_destroy(w);
	assert_int_equal(atomic_load(&o.done), 1);
	assert_int_equal(atomic_load(&o.cancelled), 3);
	assert_int_equal(atomic_load(&o.holds), 0);
}

static void destroy_runs_queued_jobs_cancelled(void **state)
{
	static struct owner o;
	memset(&o, 0, sizeof o);
	struct parley_workers *w = parley_workers_create(1);
	parley_strand_init(&o.strand, 100, NULL, NULL, &o);
	pthread_mutex_lock(&gate);
	for (int i = 0; i < 10; i++)
		assert_int_equal(parley_workers_submit(w, &o.strand, PARLEY_JOB_NORMAL, blocking_job, &o), 0);
	/* destroy from another thread while the gate is closed */
	pthread_mutex_unlock(&gate);
	parley_workers_destroy(w);
	assert_int_equal(atomic_load(&o.done) + atomic_load(&o.cancelled), 10);
	assert_null(parley_workers_create(0));
	parley_workers_destroy(NULL);
}

/* Round-robin with re-queued jobs: three owners each do their work in
 * slices; a slice re-queues its continuation on its own strand. With
 * parley_workers_yield() the one worker serves the strands in turn; without
 * it, a strand runs PARLEY_STRAND_BATCH slices before the next gets one. */
#define SLICES 6

static struct parley_workers *rr_pool;
static char rr_log[3 * SLICES + 1];
static atomic_int rr_len;

struct slicer {
	struct parley_strand strand;
	char name;
	int left;
	bool yield;
};

static void slice_job(void *arg, bool cancelled)
{
	struct slicer *sl = arg;
	if (cancelled)
		return;
	rr_log[atomic_fetch_add(&rr_len, 1)] = sl->name;
	if (--sl->left > 0) {
		assert_int_equal(parley_workers_submit(rr_pool, &sl->strand, PARLEY_JOB_NORMAL, slice_job, sl), 0);
		if (sl->yield)
			parley_workers_yield(rr_pool, &sl->strand);
	}
}

static void run_slicers(bool yield, char *out)
{
	static struct owner gate_owner;
	static struct slicer sl[3];
	memset(&gate_owner, 0, sizeof gate_owner);
	memset(rr_log, 0, sizeof rr_log);
	atomic_store(&rr_len, 0);
	rr_pool = parley_workers_create(1);
	assert_non_null(rr_pool);
	parley_strand_init(&gate_owner.strand, 4, NULL, NULL, &gate_owner);
	/* Hold the only worker so all three strands are ready before any runs. */
	pthread_mutex_lock(&gate);
	assert_int_equal(parley_workers_submit(rr_pool, &gate_owner.strand, PARLEY_JOB_NORMAL, blocking_job,
					       &gate_owner), 0);
	while (parley_strand_pending(rr_pool, &gate_owner.strand) != 0)
		usleep(100);
	for (int i = 0; i < 3; i++) {
		sl[i] = (struct slicer){ .name = (char)('A' + i), .left = SLICES, .yield = yield };
		parley_strand_init(&sl[i].strand, 4, NULL, NULL, &sl[i]);
		assert_int_equal(parley_workers_submit(rr_pool, &sl[i].strand, PARLEY_JOB_NORMAL, slice_job,
						       &sl[i]), 0);
	}
	pthread_mutex_unlock(&gate);
	for (int tries = 0; tries < 5000 && atomic_load(&rr_len) < 3 * SLICES; tries++)
		usleep(1000);
	parley_workers_destroy(rr_pool);
	memcpy(out, rr_log, sizeof rr_log);
}

static void yielding_slices_are_served_round_robin(void **state)
{
	char log[sizeof rr_log];
	run_slicers(true, log);
	assert_string_equal(log, "ABCABCABCABCABCABC");
	/* Without yielding, a re-queued job runs on in the same batch. */
	_Static_assert(PARLEY_STRAND_BATCH > SLICES, "the contrast needs a batch longer than the work");
	run_slicers(false, log);
	assert_string_equal(log, "AAAAAABBBBBBCCCCCC");
}

/* Classes: with the only worker held by a gate job, strands become ready
 * in a chosen order and class; the log shows the order they ran in. */
static char prio_log[16];
static atomic_int prio_len;
static struct parley_workers *prio_pool;
static struct owner prio_gate;

static void log_job(void *arg, bool cancelled)
{
	if (!cancelled)
		prio_log[atomic_fetch_add(&prio_len, 1)] = *(const char *)arg;
}

/* Starts a one-worker pool and holds its worker (the gate stays locked). */
static void prio_begin(void)
{
	memset(&prio_gate, 0, sizeof prio_gate);
	memset(prio_log, 0, sizeof prio_log);
	atomic_store(&prio_len, 0);
	prio_pool = parley_workers_create(1);
	assert_non_null(prio_pool);
	parley_strand_init(&prio_gate.strand, 4, NULL, NULL, &prio_gate);
	pthread_mutex_lock(&gate);
	assert_int_equal(parley_workers_submit(prio_pool, &prio_gate.strand, PARLEY_JOB_NORMAL,
					       blocking_job, &prio_gate), 0);
	while (parley_strand_pending(prio_pool, &prio_gate.strand) != 0)
		usleep(100);
}

/* Lets the worker go, waits for n logged jobs and stops the pool. */
static void prio_end(int n)
{
	pthread_mutex_unlock(&gate);
	for (int i = 0; i < 5000 && atomic_load(&prio_len) < n; i++)
		usleep(1000);
	parley_workers_destroy(prio_pool);
}

static void log_on(struct parley_strand *s, enum parley_job_class cls, const char *c)
{
	assert_int_equal(parley_workers_submit(prio_pool, s, cls, log_job, (void *)c), 0);
}

static void urgent_strands_run_first_then_normal_then_long(void **state)
{
	static struct parley_strand l, n, u;
	parley_strand_init(&l, 4, NULL, NULL, NULL);
	parley_strand_init(&n, 4, NULL, NULL, NULL);
	parley_strand_init(&u, 4, NULL, NULL, NULL);
	prio_begin();
	log_on(&l, PARLEY_JOB_LONG, "L");
	log_on(&n, PARLEY_JOB_NORMAL, "N");
	log_on(&u, PARLEY_JOB_URGENT, "U");
	prio_end(3);
	assert_string_equal(prio_log, "UNL");
}

/* An urgent job queued behind a normal one on its strand lifts the strand
 * (both run before a normal strand that was ready earlier); urging a
 * strand makes its queued jobs urgent. */
static void a_strand_waits_as_its_most_urgent_job(void **state)
{
	static struct parley_strand a, b, c;
	parley_strand_init(&a, 4, NULL, NULL, NULL);
	parley_strand_init(&b, 4, NULL, NULL, NULL);
	parley_strand_init(&c, 4, NULL, NULL, NULL);
	prio_begin();
	log_on(&b, PARLEY_JOB_NORMAL, "b");
	log_on(&c, PARLEY_JOB_LONG, "c");
	log_on(&a, PARLEY_JOB_NORMAL, "a");
	log_on(&a, PARLEY_JOB_URGENT, "A");
	parley_strand_urge(prio_pool, &c);
	prio_end(4);
	/* a's strand went first (urgent since its second job), then c (urged,
	 * ready before a but after it in the urgent FIFO), then b */
	assert_string_equal(prio_log, "aAcb");
}

/* A long strand that has waited PARLEY_STRAND_MAX_WAIT_MS goes before
 * urgent work that came later: every class progresses. */
static void a_long_strand_waits_at_most_the_bound(void **state)
{
	static struct parley_strand l, u;
	parley_strand_init(&l, 4, NULL, NULL, NULL);
	parley_strand_init(&u, 4, NULL, NULL, NULL);
	prio_begin();
	log_on(&l, PARLEY_JOB_LONG, "L");
	usleep((PARLEY_STRAND_MAX_WAIT_MS + 30) * 1000);
	log_on(&u, PARLEY_JOB_URGENT, "U");
	prio_end(2);
	assert_string_equal(prio_log, "LU");
}

/* A worker running a batch of a normal strand stops after the current job
 * when an urgent strand becomes ready. */
static struct parley_strand batch_n, batch_u;

static void submits_urgent_job(void *arg, bool cancelled)
{
	log_job(arg, cancelled);
	if (!cancelled)
		log_on(&batch_u, PARLEY_JOB_URGENT, "U");
}

static void an_urgent_strand_cuts_into_a_normal_batch(void **state)
{
	parley_strand_init(&batch_n, 8, NULL, NULL, NULL);
	parley_strand_init(&batch_u, 8, NULL, NULL, NULL);
	prio_begin();
	assert_int_equal(parley_workers_submit(prio_pool, &batch_n, PARLEY_JOB_NORMAL,
					       submits_urgent_job, (void *)"1"), 0);
	log_on(&batch_n, PARLEY_JOB_NORMAL, "2");
	log_on(&batch_n, PARLEY_JOB_NORMAL, "3");
	prio_end(4);
	_Static_assert(PARLEY_STRAND_BATCH > 3, "the batch must not end by itself");
	assert_string_equal(prio_log, "1U23");
}

/* From a job: its class, and whether something that must not wait is
 * ready (an urgent strand; a normal one only once it waited too long). */
static struct parley_strand probe_s, waiter_s;
static atomic_int probe_step;
static atomic_int probe_class;
static atomic_int probe_seen[3]; /* contended(): before, normal waiting, urgent waiting */
static atomic_llong probe_normal_at, probe_normal_seen_at; /* when queued, when asked */

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wait_step(int n)
{
	for (int i = 0; i < 5000 && atomic_load(&probe_step) < n; i++)
		usleep(1000);
}

static void probe_job(void *arg, bool cancelled)
{
	struct parley_workers *w = arg;
	if (cancelled)
		return;
	atomic_store(&probe_class, (int)parley_workers_current_class());
	atomic_store(&probe_seen[0], parley_workers_contended(w));
	atomic_store(&probe_step, 1);
	wait_step(2); /* the test queued a normal strand */
	atomic_store(&probe_seen[1], parley_workers_contended(w));
	atomic_store(&probe_normal_seen_at, mono_ns());
	atomic_store(&probe_step, 3);
	wait_step(4); /* the test queued an urgent job */
	atomic_store(&probe_seen[2], parley_workers_contended(w));
	atomic_store(&probe_step, 5);
}

static void nop_job(void *arg, bool cancelled)
{
	(void)arg;
	(void)cancelled;
}

static void a_job_knows_its_class_and_when_urgent_work_waits(void **state)
{
	struct parley_workers *w = parley_workers_create(1);
	assert_non_null(w);
	parley_strand_init(&probe_s, 4, NULL, NULL, NULL);
	parley_strand_init(&waiter_s, 4, NULL, NULL, NULL);
	atomic_store(&probe_step, 0);
	assert_int_equal(parley_workers_current_class(), PARLEY_JOB_NORMAL); /* not a job */
	assert_int_equal(parley_workers_submit(w, &probe_s, PARLEY_JOB_LONG, probe_job, w), 0);
	wait_step(1);
	atomic_store(&probe_normal_at, mono_ns());
	assert_int_equal(parley_workers_submit(w, &waiter_s, PARLEY_JOB_NORMAL, nop_job, NULL), 0);
	atomic_store(&probe_step, 2);
	wait_step(3);
	assert_int_equal(parley_workers_submit(w, &waiter_s, PARLEY_JOB_URGENT, nop_job, NULL), 0);
	atomic_store(&probe_step, 4);
	wait_step(5);
	parley_workers_destroy(w);
	assert_int_equal(atomic_load(&probe_class), PARLEY_JOB_LONG);
	assert_false(atomic_load(&probe_seen[0]));
	/* a normal strand that has not waited its bound is no reason to yield
	 * (unless this machine stalled the probe that long) */
	if (atomic_load(&probe_normal_seen_at) - atomic_load(&probe_normal_at) <
	    (long long)PARLEY_STRAND_MAX_WAIT_MS * 1000000)
		assert_false(atomic_load(&probe_seen[1]));
	assert_true(atomic_load(&probe_seen[2]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strands_run_serially_in_order),
		cmocka_unit_test(strand_bound_and_cancel),
		cmocka_unit_test(destroy_runs_queued_jobs_cancelled),
		cmocka_unit_test(yielding_slices_are_served_round_robin),
		cmocka_unit_test(urgent_strands_run_first_then_normal_then_long),
		cmocka_unit_test(a_strand_waits_as_its_most_urgent_job),
		cmocka_unit_test(a_long_strand_waits_at_most_the_bound),
		cmocka_unit_test(an_urgent_strand_cuts_into_a_normal_batch),
		cmocka_unit_test(a_job_knows_its_class_and_when_urgent_work_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
