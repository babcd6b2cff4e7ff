#include "util/outq.h"

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
	q->max_msgs = max_msgs;
	q->max_bytes = max_bytes;
	q->wake_pending = false;
	q->overflowed = false;
	q->closed = false;
	q->wake = wake;
	q->wake_arg = wake_arg;
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
	} else if (q->nmsgs + 1 > q->max_msgs || q->nbytes + m->len > q->max_bytes) {
		rc = PARLEY_E_FULL;
		if (!q->overflowed)
			wake = true; /* let the consumer see the overflow once */
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
		m->next = NULL;
	}
	bool left = q->head != NULL;
	if (!left)
		q->wake_pending = false;
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
	q->nmsgs = q->nbytes = 0;
	q->closed = true;
	pthread_mutex_unlock(&q->lock);
	free_list(list);
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
