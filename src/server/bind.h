/*
 * bind.h - what a --host (or --admin-host) value makes the server listen
 * on, and whether that is loopback only.
 *
 * libwebsockets 4.1 takes a listener's `iface` as an interface name
 * (looked up with getifaddrs) or a numeric address; it never resolves a
 * host name, so "localhost" or the machine's name would listen on nothing.
 * parley_bind_resolve() therefore gives lws a numeric address or an
 * interface name, and decides from that, not from the spelling of --host,
 * whether the listener is reachable from loopback only (which turns the
 * DNS-rebinding Host check on, see access.h):
 *
 *   - a numeric address: loopback when it is 127.0.0.0/8, ::1 or
 *     ::ffff:127.x.y.z; the wildcards 0.0.0.0 and :: (and "") are not;
 *   - an interface name (`lo`, `eth0`): loopback when the interface is
 *     flagged IFF_LOOPBACK or every address it has is a loopback address;
 *   - a host name: resolved with getaddrinfo; lws is given its first IPv4
 *     address (else its first IPv6 one), and that address decides
 *     ("localhost" -> 127.0.0.1; Debian maps the machine's own name to
 *     127.0.1.1, also loopback); "localhost" and "*.localhost" that the
 *     resolver does not know (no /etc/hosts) are 127.0.0.1 (RFC 6761);
 *   - none of these: lws waits for an interface of that name to appear;
 *     the listener's address is unknown, so it counts as loopback: the
 *     Host check stays on, the conservative answer.
 *
 * Startup only (getaddrinfo may block); any thread; no global state.
 */
#ifndef PARLEY_SERVER_BIND_H
#define PARLEY_SERVER_BIND_H

#include <stdbool.h>

#define PARLEY_BIND_IFACE_MAX 256

enum parley_bind_kind {
	PARLEY_BIND_ADDRESS,   /* numeric address, or "" (every address) */
	PARLEY_BIND_INTERFACE, /* an interface of this machine */
	PARLEY_BIND_NAME,      /* a host name, resolved to iface */
	PARLEY_BIND_UNKNOWN,   /* none of those (yet) */
};

struct parley_bind {
	char iface[PARLEY_BIND_IFACE_MAX]; /* what to give lws as `iface` */
	enum parley_bind_kind kind;
	bool loopback; /* reachable from loopback only (or unknown) */
};

/* Fills *out for host (borrowed, NUL-terminated). Never fails: what cannot
 * be looked up is PARLEY_BIND_UNKNOWN, passed to lws as it is. */
void parley_bind_resolve(const char *host, struct parley_bind *out);

#endif
