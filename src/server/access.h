/*
 * access.h - who may use parley: pure decisions on the request headers that
 * matter for access control (Host, Origin, credentials). No libwebsockets
 * here, so every rule is unit-tested and fuzzed on its own; gate.c reads
 * the headers from a request and applies these rules.
 *
 * The rules (docs/security.md, "Access control"):
 *  - A server bound to a loopback address (127.0.0.0/8, ::1; see bind.h
 *    for how a --host value is decided) serves only requests whose Host is a loopback name: a page on another
 *    site whose DNS name was rebound to 127.0.0.1 sends its own name.
 *  - A WebSocket upgrade with an Origin is accepted when the Origin is the
 *    page's own server (scheme://Host, https when TLS is on), a loopback
 *    origin (any port), or listed in --allowed-origins ("*" = any). No
 *    Origin (a non-browser client) is accepted.
 *  - With --auth-token, /ws needs the token: "Authorization: Bearer T", the
 *    subprotocol "parley.token.T" offered next to "parley", or "?token=T".
 *    /v1/realtime takes the same, and the OpenAI clients' forms: the
 *    Bearer header, or the subprotocol "openai-insecure-api-key.T" offered
 *    after "realtime".
 *    Tokens are compared in constant time and never logged.
 *
 * Every function is pure and thread-safe; strings are borrowed.
 */
#ifndef PARLEY_SERVER_ACCESS_H
#define PARLEY_SERVER_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

/* The subprotocol prefix that carries the token from browsers. */
#define PARLEY_TOKEN_SUBPROTOCOL_PREFIX "parley.token."
/* The same on /v1/realtime, as OpenAI's browser clients send the key. */
#define PARLEY_REALTIME_KEY_SUBPROTOCOL_PREFIX "openai-insecure-api-key."

/* True when addr is a numeric loopback address: 127.0.0.0/8, ::1 or
 * ::ffff:127.x.y.z. (What a --host value binds to is bind.h's question.) */
bool parley_access_addr_is_loopback(const char *addr);

/* True when a Host header value (name or address, optional :port) names
 * this machine's loopback: localhost, *.localhost, 127.x.y.z, [::1]. */
bool parley_access_host_is_loopback(const char *host);

/* True when origin (an Origin header value) is http(s):// + a loopback
 * host, any port. */
bool parley_access_origin_is_loopback(const char *origin);

/*
 * True when a browser page of this origin may open /ws. host is the
 * request's Host header ("" when absent), tls whether the connection is
 * TLS, allowed the normalised --allowed-origins list (comma-separated
 * origins without spaces, or "*"; "" = none).
 */
bool parley_access_origin_allowed(const char *origin, const char *host, bool tls,
				  const char *allowed);

/* Constant-time comparison of given (len bytes, not terminated) with the
 * configured token want: the time depends only on strlen(want). */
bool parley_access_token_equal(const char *given, size_t len, const char *want);

/* In a Sec-WebSocket-Protocol value (a comma-separated list; header may be
 * NULL), finds the first element that starts with prefix and is longer;
 * returns a pointer into header to what follows the prefix and its length
 * in *len, or NULL. */
const char *parley_access_protocol_value(const char *header, const char *prefix, size_t *len);

/* The same with PARLEY_TOKEN_SUBPROTOCOL_PREFIX. */
const char *parley_access_token_in_protocols(const char *header, size_t *len);

/* True when a Sec-WebSocket-Protocol value (may be NULL) lists exactly
 * `name` (non-empty) as one of its elements. */
bool parley_access_protocol_offered(const char *header, const char *name);

/* In an Authorization value "Bearer T" (scheme case-insensitive), returns a
 * pointer to T and its length in *len, or NULL. */
const char *parley_access_bearer(const char *authorization, size_t *len);

/* Copies in to out (outlen >= 4) for a log line: printable ASCII as is,
 * quotes, backslashes, control and non-ASCII bytes as \xNN; cut with "..."
 * when it does not fit. */
void parley_access_escape(const char *in, char *out, size_t outlen);

#endif
