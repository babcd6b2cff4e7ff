/* Unit tests: the bounded out-queue and its coalescing wake-up path
 * (src/util/outq.c), including a producer thread against a consumer. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/err.h"
#include "util/outq.h"

static atomic_int wakes;

static void count_wake(void *arg)
{
	(void)arg;
	atomic_fetch_add(&wakes, 1);
}

static struct parley_msg *msg(const char *text, int tag)
{
	struct parley_msg *m = parley_msg_new(strlen(text), false, tag);
	memcpy(m->data, text, strlen(text));
	return m;
}

static void fifo_order_and_headroom(void **state)
{
	struct parley_outq q;
	atomic_store(&wakes, 0);
	parley_outq_init(&q, 10, 1000, count_wake, NULL);
	assert_int_equal(parley_outq_push(&q, msg("one", 1)), 0);
	assert_int_equal(parley_outq_push(&q, msg("two", 2)), 0);
	assert_int_equal(parley_outq_length(&q), 2);

	bool more;
	struct parley_msg *m = parley_outq_pop(&q, &more);
	assert_non_null(m);
	assert_true(more);
	assert_int_equal(m->tag, 1);
	assert_memory_equal(m->data, "one", 3);
	assert_int_equal(m->data - m->storage, PARLEY_MSG_HEADROOM);
	assert_int_equal(m->data[m->len], '\0');
	parley_msg_free(m);
	m = parley_outq_pop(&q, &more);
	assert_string_equal((char *)m->data, "two");
	assert_false(more);
	parley_msg_free(m);
	assert_null(parley_outq_pop(&q, &more));
	assert_false(more);
	parley_outq_destroy(&q);
}

static void wakes_coalesce_until_drained(void **state)
{
	struct parley_outq q;
	atomic_store(&wakes, 0);
	parley_outq_init(&q, 10, 1000, count_wake, NULL);
	parley_outq_push(&q, msg("a", 0));
	parley_outq_push(&q, msg("b", 0));
	parley_outq_push(&q, msg("c", 0));
	assert_int_equal(atomic_load(&wakes), 1); /* one wake for three pushes */

	bool more;
	parley_msg_free(parley_outq_pop(&q, &more));
	assert_true(more);
	parley_outq_push(&q, msg("d", 0));
	assert_int_equal(atomic_load(&wakes), 1); /* consumer still scheduled */
	while (more)
		parley_msg_free(parley_outq_pop(&q, &more));
	parley_outq_push(&q, msg("e", 0));
	assert_int_equal(atomic_load(&wakes), 2); /* drained: the next push wakes */
	parley_outq_destroy(&q);
}

static void bounds_by_count_and_bytes(void **state)
{
	struct parley_outq q;
	atomic_store(&wakes, 0);
	parley_outq_init(&q, 2, 1000, count_wake, NULL);
	assert_int_equal(parley_outq_push(&q, msg("a", 0)), 0);
	assert_int_equal(parley_outq_push(&q, msg("b", 0)), 0);
	assert_false(parley_outq_overflowed(&q));
	assert_int_equal(parley_outq_push(&q, msg("c", 0)), PARLEY_E_FULL);
	assert_true(parley_outq_overflowed(&q));
	assert_int_equal(parley_outq_length(&q), 2);
	assert_int_equal(atomic_load(&wakes), 2); /* the overflow wakes the consumer */
	parley_outq_destroy(&q);

	parley_outq_init(&q, 100, 10, NULL, NULL);
	assert_int_equal(parley_outq_push(&q, msg("12345678", 0)), 0);
	assert_int_equal(parley_outq_push(&q, msg("123", 0)), PARLEY_E_FULL);
	assert_int_equal(parley_outq_push(&q, msg("12", 0)), 0); /* exactly at the byte bound */
	assert_int_equal(parley_outq_push(&q, msg("1", 0)), PARLEY_E_FULL);
	assert_int_equal(parley_outq_length(&q), 2);
	parley_outq_destroy(&q);
}

static struct parley_msg *sized(size_t len);

/* session.config during an answer: lowering the bounds (a lower output
 * rate, a faster tts_rate) must not close the client on its next push. */
static void lowering_bounds_waits_for_what_is_queued(void **state)
{
	struct parley_outq q;
	bool more;
	parley_outq_init(&q, 10, 1000, NULL, NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(parley_outq_push(&q, sized(100)), 0); /* 600 bytes, 6 msgs */
	parley_outq_set_bounds(&q, 3, 300);
	/* The rest of the answer, at the new size, still fits. */
	assert_int_equal(parley_outq_push(&q, sized(100)), 0);
	assert_int_equal(parley_outq_push(&q, sized(100)), 0);
	assert_false(parley_outq_overflowed(&q));
	/* Never more than the old bounds: 10 messages, 1000 bytes. */
	assert_int_equal(parley_outq_push(&q, sized(250)), PARLEY_E_FULL);
	assert_true(parley_outq_overflowed(&q));
	parley_outq_destroy(&q);

	/* A small queue keeps room for a whole answer at the new size. */
	parley_outq_init(&q, 10, 1000, NULL, NULL);
	assert_int_equal(parley_outq_push(&q, sized(100)), 0);
	parley_outq_set_bounds(&q, 3, 300);
	assert_int_equal(parley_outq_push(&q, sized(300)), 0); /* 100 + 300 */
	assert_int_equal(parley_outq_push(&q, sized(1)), PARLEY_E_FULL);
	parley_outq_destroy(&q);

	/* Once the queue has emptied, the new bounds hold in full. */
	parley_outq_init(&q, 10, 1000, NULL, NULL);
	assert_int_equal(parley_outq_push(&q, sized(600)), 0);
	parley_outq_set_bounds(&q, 3, 300);
	parley_msg_free(parley_outq_pop(&q, &more));
	assert_false(more);
	assert_int_equal(parley_outq_push(&q, sized(300)), 0);
	assert_int_equal(parley_outq_push(&q, sized(1)), PARLEY_E_FULL);
	parley_outq_destroy(&q);

	/* Raising takes effect at once, even with a full queue. */
	parley_outq_init(&q, 10, 300, NULL, NULL);
	assert_int_equal(parley_outq_push(&q, sized(300)), 0);
	parley_outq_set_bounds(&q, 10, 2000);
	assert_int_equal(parley_outq_push(&q, sized(1700)), 0);
	assert_int_equal(parley_outq_push(&q, sized(1)), PARLEY_E_FULL);
	parley_outq_destroy(&q);
}

static void close_drops_and_refuses(void **state)
{
	struct parley_outq q;
	parley_outq_init(&q, 10, 1000, NULL, NULL);
	parley_outq_push(&q, msg("a", 0));
	parley_outq_close(&q);
	assert_int_equal(parley_outq_length(&q), 0);
	assert_int_equal(parley_outq_push(&q, msg("b", 0)), PARLEY_E_CLOSED);
	bool more;
	assert_null(parley_outq_pop(&q, &more));
	parley_outq_destroy(&q);
}

static struct parley_msg *sized(size_t len)
{
	struct parley_msg *m = parley_msg_new(len, true, 0);
	memset(m->data, 'x', len);
	return m;
}

/* Two queues share a server-wide budget of 100 bytes with a reserve of 10. */
static void shared_budget_closes_the_slow_reader_not_the_small_one(void **state)
{
	struct parley_outq_budget b = { .max = 100, .reserve = 10 };
	struct parley_outq slow, fast;
	parley_outq_init(&slow, 100, 1000, NULL, NULL);
	parley_outq_init(&fast, 100, 1000, NULL, NULL);
	parley_outq_share_budget(&slow, &b);
	parley_outq_share_budget(&fast, &b);

	for (int i = 0; i < 9; i++)
		assert_int_equal(parley_outq_push(&slow, sized(10)), 0);
	assert_int_equal(parley_gauge_get(&b.used), 90);
	assert_int_equal(parley_outq_push(&fast, sized(8)), 0); /* 98 */
	/* Over the budget: the queue holding 90 bytes fails like an overflow ... */
	assert_int_equal(parley_outq_push(&slow, sized(10)), PARLEY_E_FULL);
	assert_true(parley_outq_overflowed(&slow));
	char why[200];
	parley_outq_overflow_reason(&slow, why, sizeof why);
	assert_non_null(strstr(why, "server-wide budget of 100 bytes"));
	assert_int_equal(parley_gauge_get(&b.used), 98); /* the refused bytes are not counted */
	/* ... while one holding less than the reserve may still push (up to it). */
	assert_int_equal(parley_outq_push(&fast, sized(2)), 0); /* 100: at the budget */
	assert_int_equal(parley_outq_push(&fast, sized(1)), PARLEY_E_FULL); /* 11 > reserve */
	assert_true(parley_outq_overflowed(&fast));

	/* Popping, closing and destroying give the bytes back. */
	bool more;
	parley_msg_free(parley_outq_pop(&fast, &more));
	assert_int_equal(parley_gauge_get(&b.used), 92);
	parley_outq_close(&slow);
	assert_int_equal(parley_gauge_get(&b.used), 2);
	parley_outq_destroy(&fast);
	assert_int_equal(parley_gauge_get(&b.used), 0);
	parley_outq_destroy(&slow);

	/* A per-session overflow is told apart from the budget's. */
	parley_outq_init(&slow, 1, 1000, NULL, NULL);
	parley_outq_share_budget(&slow, &b);
	assert_int_equal(parley_outq_push(&slow, sized(1)), 0);
	assert_int_equal(parley_outq_push(&slow, sized(1)), PARLEY_E_FULL);
	parley_outq_overflow_reason(&slow, why, sizeof why);
	assert_string_equal(why, "over 1 messages or 1000 bytes");
	parley_outq_set_bounds(&slow, 5, 1000);
	assert_int_equal(parley_outq_push(&slow, sized(1)), 0);
	parley_outq_destroy(&slow);
	assert_int_equal(parley_gauge_get(&b.used), 0);
}

static void wake_now_wakes_even_when_coalescing(void **state)
{
	struct parley_outq q;
	atomic_store(&wakes, 0);
	parley_outq_init(&q, 10, 1000, count_wake, NULL);
	assert_int_equal(parley_outq_push(&q, msg("a", 0)), 0);
	assert_int_equal(atomic_load(&wakes), 1);
	parley_outq_wake(&q); /* a wake is pending already; this one still goes */
	assert_int_equal(atomic_load(&wakes), 2);
	parley_outq_close(&q);
	parley_outq_wake(&q); /* closed: nobody to wake */
	assert_int_equal(atomic_load(&wakes), 2);
	parley_outq_destroy(&q);
}

/* A producer thread pushes N numbered messages; the consumer only drains
 * when woken (like the event loop): every message must arrive, in order,
 * and no wake may be lost. */
#define N_MSGS 20000

struct wake_pipe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;
};

static void pipe_wake(void *arg)
{
	struct wake_pipe *w = arg;
	pthread_mutex_lock(&w->lock);
	w->pending++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static struct parley_outq g_q;
static atomic_int push_failures;

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 0; i < N_MSGS; i++) {
		struct parley_msg *m = parley_msg_new(sizeof i, true, i);
		memcpy(m->data, &i, sizeof i);
		while (parley_outq_length(&g_q) >= 500)
			; /* stay under the bound: the test is about wakes, not overflow */
		if (parley_outq_push(&g_q, m) != 0)
			atomic_fetch_add(&push_failures, 1);
	}
	return NULL;
}

static void producer_consumer_loses_nothing(void **state)
{
	struct wake_pipe w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	parley_outq_init(&g_q, 1000, 1 << 20, pipe_wake, &w);
	pthread_t t;
	pthread_create(&t, NULL, producer, NULL);

	int expect = 0;
	while (expect < N_MSGS) {
		pthread_mutex_lock(&w.lock);
		while (!w.pending)
			pthread_cond_wait(&w.cond, &w.lock);
		w.pending = 0;
		pthread_mutex_unlock(&w.lock);
		bool more = true;
		while (more) {
			struct parley_msg *m = parley_outq_pop(&g_q, &more);
			if (!m)
				break;
			assert_int_equal(m->tag, expect);
			expect++;
			parley_msg_free(m);
		}
	}
	pthread_join(t, NULL);
	assert_int_equal(expect, N_MSGS);
	assert_int_equal(atomic_load(&push_failures), 0);
	parley_outq_destroy(&g_q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shared_budget_closes_the_slow_reader_not_the_small_one),
		cmocka_unit_test(wake_now_wakes_even_when_coalescing),
		cmocka_unit_test(fifo_order_and_headroom),
		cmocka_unit_test(wakes_coalesce_until_drained),
		cmocka_unit_test(bounds_by_count_and_bytes),
		cmocka_unit_test(lowering_bounds_waits_for_what_is_queued),
		cmocka_unit_test(close_drops_and_refuses),
		cmocka_unit_test(producer_consumer_loses_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
