/* Unit tests: the worker pool and its per-owner serial strands
 * (src/util/workers.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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
			assert_int_equal(parley_workers_submit(w, &owners[s].strand, run_job,
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
	assert_int_equal(parley_workers_submit(w, &o.strand, blocking_job, &o), 0);
	while (parley_strand_pending(w, &o.strand) != 0)
		usleep(100); /* wait until it runs */
	for (int i = 0; i < 3; i++)
		assert_int_equal(parley_workers_submit(w, &o.strand, blocking_job, &o), 0);
	assert_int_equal(parley_workers_submit(w, &o.strand, blocking_job, &o), PARLEY_E_FULL);
	assert_int_equal(parley_strand_pending(w, &o.strand), 3);

	parley_strand_cancel(w, &o.strand);
	assert_int_equal(parley_workers_submit(w, &o.strand, blocking_job, &o), PARLEY_E_CLOSED);
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
		assert_int_equal(parley_workers_submit(w, &o.strand, blocking_job, &o), 0);
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
		assert_int_equal(parley_workers_submit(rr_pool, &sl->strand, slice_job, sl), 0);
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
	assert_int_equal(parley_workers_submit(rr_pool, &gate_owner.strand, blocking_job,
					       &gate_owner), 0);
	while (parley_strand_pending(rr_pool, &gate_owner.strand) != 0)
		usleep(100);
	for (int i = 0; i < 3; i++) {
		sl[i] = (struct slicer){ .name = (char)('A' + i), .left = SLICES, .yield = yield };
		parley_strand_init(&sl[i].strand, 4, NULL, NULL, &sl[i]);
		assert_int_equal(parley_workers_submit(rr_pool, &sl[i].strand, slice_job, &sl[i]), 0);
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

/* Quick before long: a strand whose last run was long waits behind a quick
 * strand that became ready after it. */
static char prio_log[8];
static atomic_int prio_len;

static void log_job(void *arg, bool cancelled)
{
	if (!cancelled)
		prio_log[atomic_fetch_add(&prio_len, 1)] = *(const char *)arg;
}

static void long_job(void *arg, bool cancelled)
{
	log_job(arg, cancelled);
	usleep((PARLEY_STRAND_LONG_MS + 20) * 1000);
}

static void a_long_running_strand_waits_behind_a_quick_one(void **state)
{
	static struct owner gate_owner;
	static struct parley_strand heavy, quick;
	static const char H = 'H', h = 'h', Q = 'Q';
	memset(&gate_owner, 0, sizeof gate_owner);
	memset(prio_log, 0, sizeof prio_log);
	atomic_store(&prio_len, 0);
	struct parley_workers *w = parley_workers_create(1);
	assert_non_null(w);
	parley_strand_init(&gate_owner.strand, 4, NULL, NULL, &gate_owner);
	parley_strand_init(&heavy, 4, NULL, NULL, NULL);
	parley_strand_init(&quick, 4, NULL, NULL, NULL);

	/* heavy runs long once */
	assert_int_equal(parley_workers_submit(w, &heavy, long_job, (void *)&H), 0);
	for (int i = 0; i < 5000 && atomic_load(&prio_len) < 1; i++)
		usleep(1000);
	/* hold the only worker, then heavy is ready first, quick second */
	pthread_mutex_lock(&gate);
	assert_int_equal(parley_workers_submit(w, &gate_owner.strand, blocking_job, &gate_owner), 0);
	while (parley_strand_pending(w, &gate_owner.strand) != 0)
		usleep(100);
	assert_int_equal(parley_workers_submit(w, &heavy, log_job, (void *)&h), 0);
	assert_int_equal(parley_workers_submit(w, &quick, log_job, (void *)&Q), 0);
	pthread_mutex_unlock(&gate);
	for (int i = 0; i < 5000 && atomic_load(&prio_len) < 3; i++)
		usleep(1000);
	parley_workers_destroy(w);
	assert_string_equal(prio_log, "HQh");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strands_run_serially_in_order),
		cmocka_unit_test(strand_bound_and_cancel),
		cmocka_unit_test(destroy_runs_queued_jobs_cancelled),
		cmocka_unit_test(yielding_slices_are_served_round_robin),
		cmocka_unit_test(a_long_running_strand_waits_behind_a_quick_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
