/*
 * server.h - the network front: one libwebsockets context on one port,
 * serving the browser client, the health/metrics endpoints and the /ws
 * WebSocket protocol.
 *
 * Threads: parley_server_run() turns the calling thread into the event-loop
 * thread, the only thread that touches sockets. Other threads reach it only
 * through session out-queues, whose wake callback (parley_server_wake) queues
 * the session and calls lws_cancel_service(). parley_server_request_stop()
 * is async-signal-safe.
 */
#ifndef PARLEY_SERVER_SERVER_H
#define PARLEY_SERVER_SERVER_H

#include "util/config.h"

struct parley_server;

/* cfg is borrowed and must outlive the server. Binds the port; NULL on
 * failure (logged). */
struct parley_server *parley_server_create(const struct parley_config *cfg);

/* The bound TCP port (useful with --port 0). */
int parley_server_port(const struct parley_server *srv);

/* Serves until a stop is requested, then closes every session (status 1001)
 * and returns within about 1.5 s. Returns 0. */
int parley_server_run(struct parley_server *srv);

/* Async-signal-safe: asks the running loop to shut down. */
void parley_server_request_stop(struct parley_server *srv);

/* Frees everything. Accepts NULL. Not while run() is executing. */
void parley_server_destroy(struct parley_server *srv);

#endif
