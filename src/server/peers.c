/*
 * peers.c - per-address session counts (see peers.h): a fixed array of
 * buckets, each a singly linked list of {key, count}.
 */
#include "server/peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define NBUCKETS 256

struct peer {
	struct peer *next;
	int count;
	char key[PARLEY_PEER_KEY_MAX];
};

struct parley_peers {
	struct peer *bucket[NBUCKETS];
};

struct parley_peers *parley_peers_create(void)
{
	return calloc(1, sizeof(struct parley_peers));
}

void parley_peers_destroy(struct parley_peers *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct peer *e = p->bucket[i];
		while (e) {
			struct peer *next = e->next;
			free(e);
			e = next;
		}
	}
	free(p);
}

void parley_peers_key(const char *addr, char key[PARLEY_PEER_KEY_MAX])
{
	struct in6_addr a6;
	struct in_addr a4;
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			memcpy(&a4, a6.s6_addr + 12, 4);
			inet_ntop(AF_INET, &a4, key, PARLEY_PEER_KEY_MAX);
			return;
		}
		const unsigned char *b = a6.s6_addr;
		snprintf(key, PARLEY_PEER_KEY_MAX, "%x:%x:%x:%x::/64", (b[0] << 8) | b[1],
			 (b[2] << 8) | b[3], (b[4] << 8) | b[5], (b[6] << 8) | b[7]);
		return;
	}
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		inet_ntop(AF_INET, &a4, key, PARLEY_PEER_KEY_MAX);
		return;
	}
	snprintf(key, PARLEY_PEER_KEY_MAX, "%s", addr);
}

static size_t hash(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % NBUCKETS;
}

static struct peer **find(struct parley_peers *p, const char *key)
{
	struct peer **e = &p->bucket[hash(key)];
	while (*e && strcmp((*e)->key, key) != 0)
		e = &(*e)->next;
	return e;
}

int parley_peers_acquire(struct parley_peers *p, const char *key, int max)
{
	struct peer **e = find(p, key);
	if (*e) {
		if ((*e)->count >= max)
			return PARLEY_E_FULL;
		(*e)->count++;
		return 0;
	}
	if (max < 1)
		return PARLEY_E_FULL;
	struct peer *n = calloc(1, sizeof *n);
	if (!n)
		return PARLEY_E_NOMEM;
	snprintf(n->key, sizeof n->key, "%s", key);
	n->count = 1;
	*e = n;
	return 0;
}

void parley_peers_release(struct parley_peers *p, const char *key)
{
	struct peer **e = find(p, key);
	if (!*e)
		return;
	if (--(*e)->count <= 0) {
		struct peer *gone = *e;
		*e = gone->next;
		free(gone);
	}
}

int parley_peers_count(const struct parley_peers *p, const char *key)
{
	struct peer **e = find((struct parley_peers *)p, key);
	return *e ? (*e)->count : 0;
}
