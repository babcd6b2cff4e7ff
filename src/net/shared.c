/*
 * shared.c - the shared HTTP pool, reference-counted (see shared.h).
 */
#include <pthread.h>
#include <stddef.h>

#include "net/shared.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct parley_http_pool *pool; /* guarded by lock */
static int refs;                      /* guarded by lock */

struct parley_http_pool *parley_http_shared_acquire(void)
{
	pthread_mutex_lock(&lock);
	if (!pool)
		pool = parley_http_pool_create();
	struct parley_http_pool *p = pool;
	if (p)
		refs++;
	pthread_mutex_unlock(&lock);
	return p;
}

void parley_http_shared_release(void)
{
	struct parley_http_pool *stop = NULL;
	pthread_mutex_lock(&lock);
	if (refs > 0 && --refs == 0) {
		stop = pool;
		pool = NULL;
	}
	pthread_mutex_unlock(&lock);
	parley_http_pool_destroy(stop); /* outside the lock: it joins the thread */
}
