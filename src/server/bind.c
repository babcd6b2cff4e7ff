/*
 * bind.c - --host to a listener address and its loopback verdict (see
 * bind.h).
 */
#include "server/bind.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server/access.h"

/* The numeric form of an AF_INET or AF_INET6 address, or false. */
static bool numeric(const struct sockaddr *sa, char *out, size_t size)
{
	const void *a;
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return false;
	return inet_ntop(sa->sa_family, a, out, (socklen_t)size) != NULL;
}

static bool is_numeric(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* An interface named host: true when it exists, *loopback when it is
 * flagged so or every address it has is loopback. */
static bool interface(const char *host, bool *loopback)
{
	struct ifaddrs *list = NULL;
	if (getifaddrs(&list) != 0)
		return false;
	bool found = false, flagged = false, all = true;
	for (struct ifaddrs *i = list; i; i = i->ifa_next) {
		if (!i->ifa_name || strcmp(i->ifa_name, host) != 0)
			continue;
		found = true;
		flagged = flagged || (i->ifa_flags & IFF_LOOPBACK);
		char addr[INET6_ADDRSTRLEN];
		if (i->ifa_addr && numeric(i->ifa_addr, addr, sizeof addr))
			all = all && parley_access_addr_is_loopback(addr);
	}
	freeifaddrs(list);
	*loopback = flagged || all;
	return found;
}

/* host resolved to the address lws will bind: the first IPv4 one, else
 * the first IPv6 one. */
static bool resolve(const char *host, char *out, size_t size)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	bool ok = false;
	for (int want = AF_INET; !ok && want; want = want == AF_INET ? AF_INET6 : 0)
		for (struct addrinfo *r = res; !ok && r; r = r->ai_next)
			if (r->ai_family == want)
				ok = numeric(r->ai_addr, out, size);
	freeaddrinfo(res);
	return ok;
}

/* "localhost", "x.localhost" (any case, a trailing dot allowed): names
 * that are loopback by definition (RFC 6761 6.3), even on a machine whose
 * resolver does not know them (no /etc/hosts, as in a minimal chroot). */
static bool localhost_name(const char *host)
{
	size_t n = strlen(host);
	if (n && host[n - 1] == '.')
		n--;
	static const char suffix[] = ".localhost";
	size_t k = sizeof suffix - 1;
	return (n == k - 1 && strncasecmp(host, suffix + 1, n) == 0) ||
	       (n > k && strncasecmp(host + n - k, suffix, k) == 0);
}

void parley_bind_resolve(const char *host, struct parley_bind *out)
{
	if (!host)
		host = "";
	snprintf(out->iface, sizeof out->iface, "%s", host);
	if (!*host || is_numeric(host)) {
		out->kind = PARLEY_BIND_ADDRESS;
		out->loopback = parley_access_addr_is_loopback(host);
	} else if (interface(host, &out->loopback)) {
		out->kind = PARLEY_BIND_INTERFACE; /* lws looks interfaces up first too */
	} else if (resolve(host, out->iface, sizeof out->iface)) {
		out->kind = PARLEY_BIND_NAME;
		out->loopback = parley_access_addr_is_loopback(out->iface);
	} else if (localhost_name(host)) {
		out->kind = PARLEY_BIND_NAME;
		snprintf(out->iface, sizeof out->iface, "127.0.0.1");
		out->loopback = true;
	} else {
		out->kind = PARLEY_BIND_UNKNOWN;
		out->loopback = true;
	}
}
