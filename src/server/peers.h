/*
 * peers.h - concurrent sessions per client address, for
 * --max-sessions-per-ip.
 *
 * A small hash table from an address key to a count. The key is the IPv4
 * address (also when it arrives IPv4-mapped on an IPv6 socket), or for
 * IPv6 the /64 prefix: one host usually holds a whole /64, so counting
 * single IPv6 addresses would cap nothing. Entries are freed when their
 * count drops to zero, so memory follows the number of distinct addresses
 * with open sessions.
 *
 * Threads: event-loop thread only (no locking).
 */
#ifndef PARLEY_SERVER_PEERS_H
#define PARLEY_SERVER_PEERS_H

#include <stddef.h>

#define PARLEY_PEER_KEY_MAX 48 /* "xxxx:xxxx:xxxx:xxxx::/64" or a dotted quad, with room */

struct parley_peers;

/* NULL when out of memory. Free with parley_peers_destroy (accepts NULL). */
struct parley_peers *parley_peers_create(void);
void parley_peers_destroy(struct parley_peers *p);

/* The key sessions from numeric address addr are counted under, written to
 * key (PARLEY_PEER_KEY_MAX bytes). A string that is not a numeric address
 * is its own key (cut to fit). */
void parley_peers_key(const char *addr, char key[PARLEY_PEER_KEY_MAX]);

/* Counts one more session for key unless it already has max. Returns 0,
 * PARLEY_E_FULL (at the cap; nothing counted) or PARLEY_E_NOMEM. */
int parley_peers_acquire(struct parley_peers *p, const char *key, int max);

/* Forgets one session of key (from a successful acquire). */
void parley_peers_release(struct parley_peers *p, const char *key);

/* Sessions counted for key now. */
int parley_peers_count(const struct parley_peers *p, const char *key);

#endif
