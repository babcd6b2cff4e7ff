/*
 * access.c - access-control rules on header values (see access.h).
 * Pure functions: no allocation, no global state.
 */
#include "server/access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 256

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool ipv4_is_loopback(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static bool ipv6_is_loopback(const char *s)
{
	struct in6_addr a;
	if (inet_pton(AF_INET6, s, &a) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
}

/* "localhost", "localhost.", "name.localhost" (RFC 6761: browsers resolve
 * these to loopback themselves, never through DNS). */
static bool name_is_localhost(const char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '.')
		n--;
	if (n == 9)
		return strncasecmp(s, "localhost", 9) == 0;
	return n > 10 && strncasecmp(s + n - 10, ".localhost", 10) == 0;
}

/*
 * Splits a Host value ("name", "name:port", "[v6]", "[v6]:port") of n bytes
 * and copies the host part, without brackets, to out. False when it is
 * malformed (empty, bad port, unbracketed IPv6, too long).
 */
static bool host_part(const char *s, size_t n, char *out, size_t outlen, bool *bracketed)
{
	const char *end = s + n, *h = s, *hend;
	*bracketed = false;
	if (n == 0)
		return false;
	if (*s == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		h = s + 1;
		hend = close;
		*bracketed = true;
		s = close + 1;
	} else {
		hend = memchr(s, ':', n);
		if (!hend)
			hend = end;
		s = hend;
	}
	if (s < end) { /* ":port" */
		if (*s != ':' || end - s < 2 || end - s > 6)
			return false;
		for (const char *p = s + 1; p < end; p++)
			if (!is_digit(*p))
				return false;
	}
	size_t hl = (size_t)(hend - h);
	if (hl == 0 || hl >= outlen)
		return false;
	for (size_t i = 0; i < hl; i++) { /* DNS name or address characters only */
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
		      c == '-' || c == '_' || (*bracketed && c == ':')))
			return false;
	}
	memcpy(out, h, hl);
	out[hl] = '\0';
	return true;
}

static bool hostport_is_loopback(const char *s, size_t n)
{
	char h[HOST_MAX];
	bool bracketed;
	if (!host_part(s, n, h, sizeof h, &bracketed))
		return false;
	if (bracketed)
		return ipv6_is_loopback(h);
	return name_is_localhost(h) || ipv4_is_loopback(h);
}

bool parley_access_addr_is_loopback(const char *addr)
{
	return addr && (ipv4_is_loopback(addr) || ipv6_is_loopback(addr));
}

bool parley_access_host_is_loopback(const char *host)
{
	return host && hostport_is_loopback(host, strlen(host));
}

/* Length of "http://" or "https://" at the start of origin, else 0. */
static size_t scheme_len(const char *origin)
{
	if (strncasecmp(origin, "http://", 7) == 0)
		return 7;
	if (strncasecmp(origin, "https://", 8) == 0)
		return 8;
	return 0;
}

bool parley_access_origin_is_loopback(const char *origin)
{
	if (!origin)
		return false;
	size_t k = scheme_len(origin);
	if (!k)
		return false;
	const char *rest = origin + k;
	if (strchr(rest, '/'))
		return false;
	return hostport_is_loopback(rest, strlen(rest));
}

bool parley_access_origin_allowed(const char *origin, const char *host, bool tls,
				  const char *allowed)
{
	if (!origin)
		return false;
	/* the explicit list first: it may hold "*" */
	for (const char *p = allowed ? allowed : ""; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if ((n == 1 && *p == '*') ||
		    (n && strlen(origin) == n && strncasecmp(origin, p, n) == 0))
			return true;
		p += n + (comma ? 1 : 0);
	}
	if (parley_access_origin_is_loopback(origin))
		return true;
	/* the page's own server: scheme://Host exactly */
	if (host && *host) {
		const char *scheme = tls ? "https://" : "http://";
		size_t k = strlen(scheme);
		return strncasecmp(origin, scheme, k) == 0 && strcasecmp(origin + k, host) == 0;
	}
	return false;
}

bool parley_access_token_equal(const char *given, size_t len, const char *want)
{
	size_t wl = strlen(want);
	unsigned char diff = (unsigned char)(len != wl);
	for (size_t i = 0; i < wl; i++) {
		unsigned char g = i < len ? (unsigned char)given[i] : 0;
		diff |= g ^ (unsigned char)want[i];
	}
	/* both empty must not count as a match */
	return diff == 0 && wl > 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

const char *parley_access_protocol_value(const char *header, const char *prefix, size_t *len)
{
	const size_t pl = strlen(prefix);
	for (const char *p = header ? header : ""; *p;) {
		while (is_space(*p) || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && !is_space(*e))
			e++;
		if ((size_t)(e - p) > pl && strncmp(p, prefix, pl) == 0) {
			*len = (size_t)(e - p) - pl;
			return p + pl;
		}
		p = e;
	}
	return NULL;
}

const char *parley_access_token_in_protocols(const char *header, size_t *len)
{
	return parley_access_protocol_value(header, PARLEY_TOKEN_SUBPROTOCOL_PREFIX, len);
}

bool parley_access_protocol_offered(const char *header, const char *name)
{
	const size_t nl = strlen(name);
	for (const char *p = header ? header : ""; *p;) {
		while (is_space(*p) || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && !is_space(*e))
			e++;
		if ((size_t)(e - p) == nl && nl && strncmp(p, name, nl) == 0)
			return true;
		p = e;
	}
	return false;
}

const char *parley_access_bearer(const char *authorization, size_t *len)
{
	if (!authorization || strncasecmp(authorization, "bearer", 6) != 0 ||
	    !is_space(authorization[6]))
		return NULL;
	const char *t = authorization + 6;
	while (is_space(*t))
		t++;
	size_t n = strlen(t);
	while (n && is_space(t[n - 1]))
		n--;
	if (!n)
		return NULL;
	*len = n;
	return t;
}

static bool plain_byte(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void parley_access_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	if (outlen < 4) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	size_t total = 0;
	for (const unsigned char *p = s; *p; p++)
		total += plain_byte(*p) ? 1 : 4;
	bool cut = total + 1 > outlen;
	size_t limit = cut ? outlen - 4 : outlen - 1, o = 0;
	for (const unsigned char *p = s; *p; p++) {
		size_t need = plain_byte(*p) ? 1 : 4;
		if (o + need > limit)
			break;
		if (need == 1) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (cut) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}
