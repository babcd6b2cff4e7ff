/*
 * tls.h - checks --tls-cert/--tls-key before the server starts, so a bad
 * file stops parley with a clear message (exit 2) instead of a generic
 * "cannot listen". libwebsockets loads the same files again for the vhost.
 *
 * Threads: main thread, at startup.
 */
#ifndef PARLEY_SERVER_TLS_H
#define PARLEY_SERVER_TLS_H

#include <stddef.h>

/* Loads the PEM certificate chain and private key with OpenSSL and checks
 * that they belong together. Returns 0, or PARLEY_E_INVAL with the reason
 * in why (never the key's contents). */
int parley_tls_check(const char *cert, const char *key, char *why, size_t whylen);

#endif
