/*
 * shared.h - the process's one HTTP pool (net/http.h), shared by every
 * remote speech engine (STT and TTS), created when the first engine needs
 * it and stopped when the last one lets go.
 *
 * Engines are created and destroyed on the main thread at startup and
 * shutdown; a mutex makes acquire/release safe from any thread anyway.
 * Lanes created on the pool live as long as the pool, so an engine creates
 * its lane once and keeps its reference until it is destroyed.
 */
#ifndef PARLEY_NET_SHARED_H
#define PARLEY_NET_SHARED_H

#include "net/http.h"

/* The shared pool, started on first use; one reference for the caller.
 * NULL when the pool's thread cannot start (logged). Any thread. */
struct parley_http_pool *parley_http_shared_acquire(void);

/* Drops a reference taken by parley_http_shared_acquire(); the last one
 * stops the pool (every request ends CANCELLED first). Any thread. */
void parley_http_shared_release(void);

#endif
