#include "util/outq.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/err.h"

struct parley_msg *parley_msg_new(size_t len, bool binary, int tag)
{
	struct parley_msg *m = malloc(sizeof *m + PARLEY_MSG_HEADROOM + len + 1);
	if (!m)
		return NULL;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	m->tag = tag;
	m->data = m->storage + PARLEY_MSG_HEADROOM;
	m->data[len] = '\0'; /* convenience for text payloads */
	return m;
}

void parley_msg_free(struct parley_msg *m)
{
	free(m);
}

void parley_outq_init(struct parley_outq *q, size_t max_msgs, size_t max_bytes,
		      parley_wake_fn wake, void *wake_arg)
{
	pthread_mutex_init(&q->lock, NULL);
	q->head = q->tail = NULL;
	q->nmsgs = q->nbytes = 0;
	q->max_msgs = q->want_msgs = max_msgs;
	q->max_bytes = q->want_bytes = max_bytes;
	q->wake_pending = false;
	q->overflowed = false;
	q->over_budget = false;
	q->closed = false;
	q->budget = NULL;
	q->wake = wake;
	q->wake_arg = wake_arg;
}

void parley_outq_share_budget(struct parley_outq *q, struct parley_outq_budget *budget)
{
	pthread_mutex_lock(&q->lock);
	q->budget = budget;
	pthread_mutex_unlock(&q->lock);
}

/* The bound in force when `want` replaces `cur` while `queued` is queued:
 * raised at once; lowered at most to what is queued plus a whole answer at
 * the new size (what the rest of the answer being sent can need), and
 * never above the old bound, under which the queued part was admitted. */
static size_t lowered(size_t cur, size_t want, size_t queued)
{
	if (want >= cur)
		return want;
	size_t keep = queued + want < cur ? queued + want : cur;
	return keep > want ? keep : want;
}

void parley_outq_set_bounds(struct parley_outq *q, size_t max_msgs, size_t max_bytes)
{
	pthread_mutex_lock(&q->lock);
	q->want_msgs = max_msgs;
	q->want_bytes = max_bytes;
	q->max_msgs = lowered(q->max_msgs, max_msgs, q->nmsgs);
	q->max_bytes = lowered(q->max_bytes, max_bytes, q->nbytes);
	pthread_mutex_unlock(&q->lock);
}

/* Caller holds q->lock. Counts len more bytes in the budget, or refuses. */
static bool budget_take(struct parley_outq *q, size_t len)
{
	struct parley_outq_budget *b = q->budget;
	if (!b)
		return true;
	int64_t used = atomic_fetch_add(&b->used.value, (int64_t)len) + (int64_t)len;
	if (b->max && (size_t)used > b->max && q->nbytes + len > b->reserve) {
		atomic_fetch_sub(&b->used.value, (int64_t)len);
		return false;
	}
	return true;
}

/* Caller holds q->lock (or is the last user). */
static void budget_give(struct parley_outq *q, size_t len)
{
	if (q->budget && len)
		atomic_fetch_sub(&q->budget->used.value, (int64_t)len);
}

static void free_list(struct parley_msg *m)
{
	while (m) {
		struct parley_msg *next = m->next;
		parley_msg_free(m);
		m = next;
	}
}

void parley_outq_destroy(struct parley_outq *q)
{
	budget_give(q, q->nbytes);
	q->nbytes = q->nmsgs = 0;
	free_list(q->head);
	q->head = q->tail = NULL;
	pthread_mutex_destroy(&q->lock);
}

int parley_outq_push(struct parley_outq *q, struct parley_msg *m)
{
	int rc = 0;
	bool wake = false;

	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		rc = PARLEY_E_CLOSED;
	} else if (q->nmsgs + 1 > q->max_msgs || q->nbytes + m->len > q->max_bytes ||
		   !budget_take(q, m->len)) {
		rc = PARLEY_E_FULL;
		if (!q->overflowed) {
			wake = true; /* let the consumer see the overflow once */
			q->over_budget = q->nmsgs + 1 <= q->max_msgs &&
					 q->nbytes + m->len <= q->max_bytes;
		}
		q->overflowed = true;
	} else {
		m->next = NULL;
		if (q->tail)
			q->tail->next = m;
		else
			q->head = m;
		q->tail = m;
		q->nmsgs++;
		q->nbytes += m->len;
		m = NULL;
		if (!q->wake_pending) {
			q->wake_pending = true;
			wake = true;
		}
	}
	pthread_mutex_unlock(&q->lock);

	parley_msg_free(m);
	if (wake && q->wake)
		q->wake(q->wake_arg);
	return rc;
}

struct parley_msg *parley_outq_pop(struct parley_outq *q, bool *more)
{
	pthread_mutex_lock(&q->lock);
	struct parley_msg *m = q->head;
	if (m) {
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->nmsgs--;
		q->nbytes -= m->len;
		budget_give(q, m->len);
		m->next = NULL;
	}
	bool left = q->head != NULL;
	if (!left) {
		q->wake_pending = false;
		q->max_msgs = q->want_msgs; /* a lowering waits for an empty queue */
		q->max_bytes = q->want_bytes;
	}
	pthread_mutex_unlock(&q->lock);
	if (more)
		*more = left;
	return m;
}

void parley_outq_close(struct parley_outq *q)
{
	pthread_mutex_lock(&q->lock);
	struct parley_msg *list = q->head;
	q->head = q->tail = NULL;
	budget_give(q, q->nbytes);
	q->nmsgs = q->nbytes = 0;
	q->closed = true;
	pthread_mutex_unlock(&q->lock);
	free_list(list);
}

void parley_outq_wake(struct parley_outq *q)
{
	pthread_mutex_lock(&q->lock);
	bool closed = q->closed;
	q->wake_pending = true;
	pthread_mutex_unlock(&q->lock);
	if (!closed && q->wake)
		q->wake(q->wake_arg);
}

void parley_outq_overflow_reason(struct parley_outq *q, char *buf, size_t size)
{
	pthread_mutex_lock(&q->lock);
	if (q->over_budget)
		snprintf(buf, size, "the server-wide budget of %zu bytes for queued messages "
			 "is used up and this client holds %zu bytes",
			 q->budget ? q->budget->max : 0, q->nbytes);
	else
		snprintf(buf, size, "over %zu messages or %zu bytes", q->max_msgs, q->max_bytes);
	pthread_mutex_unlock(&q->lock);
}

bool parley_outq_overflowed(struct parley_outq *q)
{
	pthread_mutex_lock(&q->lock);
	bool o = q->overflowed;
	pthread_mutex_unlock(&q->lock);
	return o;
}

size_t parley_outq_length(struct parley_outq *q)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->nmsgs;
	pthread_mutex_unlock(&q->lock);
	return n;
}
