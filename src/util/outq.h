/*
 * outq.h - a session's bounded outbound message queue.
 *
 * Many producer threads (session code, speech workers, the LLM engine) push
 * complete WebSocket messages; the one event-loop thread pops them, one per
 * WRITEABLE callback. Every message is allocated with PARLEY_MSG_HEADROOM
 * spare bytes in front of its payload so the socket layer can add its frame
 * header in place (libwebsockets' LWS_PRE) without copying.
 *
 * Wake-ups coalesce: a push calls the wake callback only when the consumer is
 * not already known to be scheduled (the queue was drained since the last
 * wake). The consumer re-arms itself while pops leave messages behind.
 *
 * Bounds: at most max_msgs messages and max_bytes payload bytes (lowering
 * them waits for what is queued, see parley_outq_set_bounds). A push over
 * either bound fails with PARLEY_E_FULL, frees the message and marks the queue
 * overflowed (sticky); it still wakes the consumer, which is expected to close
 * the peer, because a peer that does not read cannot be helped by growing.
 *
 * Server-wide budget: queues may share a parley_outq_budget, an atomic count
 * of the payload bytes queued in all of them. A push that would take the
 * count over the budget fails like an overflow, unless the queue holds less
 * than the budget's `reserve`: a client that keeps up never holds much, so a
 * budget filled by slow readers closes the slow readers on their next push,
 * not the clients that read. The count can thus exceed `max` by at most
 * reserve bytes per queue.
 *
 * All functions are thread-safe; the queue's own mutex guards every field.
 */
#ifndef PARLEY_UTIL_OUTQ_H
#define PARLEY_UTIL_OUTQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/metrics.h"

#define PARLEY_MSG_HEADROOM 32

struct parley_msg {
	struct parley_msg *next;
	size_t len;  /* payload bytes at data */
	bool binary; /* binary frame; otherwise text */
	int tag;     /* producer-defined (message kind for metrics) */
	unsigned char *data; /* points PARLEY_MSG_HEADROOM bytes into storage */
	unsigned char storage[];
};

/* Allocates a message with room for len payload bytes. Caller owns it until
 * it is pushed; free an unpushed message with parley_msg_free(). NULL on OOM. */
struct parley_msg *parley_msg_new(size_t len, bool binary, int tag);
void parley_msg_free(struct parley_msg *m); /* accepts NULL */

typedef void (*parley_wake_fn)(void *arg);

/* Shared by many queues; lives longer than all of them. `used` is the
 * metric too (bytes queued now). */
struct parley_outq_budget {
	struct parley_gauge used; /* atomic: payload bytes queued in every sharing queue */
	size_t max;               /* 0 = no budget */
	size_t reserve;           /* a queue holding less may exceed max */
};

struct parley_outq {
	pthread_mutex_t lock;
	struct parley_msg *head, *tail;
	size_t nmsgs, nbytes;
	size_t max_msgs, max_bytes;   /* in force */
	size_t want_msgs, want_bytes; /* configured; in force once the queue empties */
	bool wake_pending; /* consumer is scheduled to drain */
	bool overflowed;
	bool over_budget; /* the overflow was the server-wide budget's */
	bool closed;
	struct parley_outq_budget *budget; /* NULL: none */
	parley_wake_fn wake;
	void *wake_arg;
};

/* wake/wake_arg are borrowed; wake is called from the pushing thread with no
 * lock held and must be thread-safe. */
void parley_outq_init(struct parley_outq *q, size_t max_msgs, size_t max_bytes,
		      parley_wake_fn wake, void *wake_arg);

/* Makes q count its bytes in budget (borrowed; outlives q). Before the
 * first push. */
void parley_outq_share_budget(struct parley_outq *q, struct parley_outq_budget *budget);

/* Changes the bounds. Raising takes effect at once. Lowering never takes a
 * bound below what is queued plus the new bound (the rest of the answer
 * being sent, at the new settings, needs at most that), nor above the old
 * one; the new bounds apply in full once the queue has emptied. So a
 * session.config during an answer never closes the client that sent it. */
void parley_outq_set_bounds(struct parley_outq *q, size_t max_msgs, size_t max_bytes);

/* Frees queued messages. No other thread may use q any more. */
void parley_outq_destroy(struct parley_outq *q);

/*
 * Takes ownership of m in every case. Returns 0, PARLEY_E_FULL (m freed,
 * queue marked overflowed) or PARLEY_E_CLOSED (m freed).
 */
int parley_outq_push(struct parley_outq *q, struct parley_msg *m);

/* Consumer: returns the oldest message (caller frees) or NULL. *more is set to
 * whether messages remain; when none remain the next push wakes again. */
struct parley_msg *parley_outq_pop(struct parley_outq *q, bool *more);

/* Calls the wake callback now, whatever the queue holds, so the consumer
 * looks at its owner (e.g. a close the owner asked for). */
void parley_outq_wake(struct parley_outq *q);

/* Drops every queued message and refuses further pushes. */
void parley_outq_close(struct parley_outq *q);

bool parley_outq_overflowed(struct parley_outq *q);
/* Why it overflowed, for the log ("over N messages or N bytes", or the
 * server-wide budget), written into buf. */
void parley_outq_overflow_reason(struct parley_outq *q, char *buf, size_t size);
size_t parley_outq_length(struct parley_outq *q);

#endif
