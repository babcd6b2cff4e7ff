/* Unit tests: access-control rules on header values (src/server/access.c)
 * and per-address session counts (src/server/peers.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <cmocka.h>

#include "server/access.h"
#include "server/bind.h"
#include "server/peers.h"
#include "util/err.h"

static void addr_loopback(void **state)
{
	assert_true(parley_access_addr_is_loopback("127.0.0.1"));
	assert_true(parley_access_addr_is_loopback("127.8.9.10"));
	assert_true(parley_access_addr_is_loopback("127.0.1.1"));
	assert_true(parley_access_addr_is_loopback("::1"));
	assert_true(parley_access_addr_is_loopback("::ffff:127.0.0.1"));
	assert_false(parley_access_addr_is_loopback("localhost")); /* a name: bind.c resolves it */
	assert_false(parley_access_addr_is_loopback("0.0.0.0"));
	assert_false(parley_access_addr_is_loopback("::"));
	assert_false(parley_access_addr_is_loopback("192.168.1.5"));
	assert_false(parley_access_addr_is_loopback("128.0.0.1"));
	assert_false(parley_access_addr_is_loopback(""));
	assert_false(parley_access_addr_is_loopback(NULL));
}

static void bound(const char *host, enum parley_bind_kind kind, bool loopback)
{
	struct parley_bind b;
	parley_bind_resolve(host, &b);
	if (b.kind != kind || b.loopback != loopback)
		fail_msg("bind '%s': kind %d loopback %d (iface '%s'), want kind %d loopback %d",
			 host, b.kind, b.loopback, b.iface, kind, loopback);
}

/* What the listener is really bound to decides, not how --host is spelt. */
static void bind_decision(void **state)
{
	struct parley_bind b;
	/* numeric */
	bound("127.0.0.1", PARLEY_BIND_ADDRESS, true);
	bound("127.0.1.1", PARLEY_BIND_ADDRESS, true);
	bound("::1", PARLEY_BIND_ADDRESS, true);
	bound("0.0.0.0", PARLEY_BIND_ADDRESS, false);
	bound("::", PARLEY_BIND_ADDRESS, false);
	bound("", PARLEY_BIND_ADDRESS, false);
	bound("192.0.2.7", PARLEY_BIND_ADDRESS, false);
	/* a name is resolved to the address lws can bind */
	parley_bind_resolve("localhost", &b);
	assert_int_equal(b.kind, PARLEY_BIND_NAME);
	assert_true(b.loopback);
	assert_true(parley_access_addr_is_loopback(b.iface));
	/* *.localhost is loopback even where no resolver knows it (RFC 6761);
	 * a name that only contains "localhost" is not */
	bound("app.LOCALHOST.", PARLEY_BIND_NAME, true);
	parley_bind_resolve("localhost.example.invalid", &b);
	assert_int_equal(b.kind, PARLEY_BIND_UNKNOWN);
	/* the machine's own name (127.0.1.1 on Debian): whatever it resolves
	 * to, the verdict is that address's, and lws gets a numeric address */
	char me[256];
	assert_int_equal(gethostname(me, sizeof me), 0);
	parley_bind_resolve(me, &b);
	if (b.kind == PARLEY_BIND_NAME) {
		assert_int_equal(b.loopback, parley_access_addr_is_loopback(b.iface));
		struct in6_addr a;
		assert_true(inet_pton(AF_INET, b.iface, &a) == 1 ||
			    inet_pton(AF_INET6, b.iface, &a) == 1);
	}
	/* interfaces: lo is loopback; one with a non-loopback address is not */
	bound("lo", PARLEY_BIND_INTERFACE, true);
	struct ifaddrs *list = NULL;
	assert_int_equal(getifaddrs(&list), 0);
	for (struct ifaddrs *i = list; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !(i->ifa_flags & IFF_LOOPBACK)) {
			bound(i->ifa_name, PARLEY_BIND_INTERFACE, false);
			break;
		}
	}
	freeifaddrs(list);
	/* nothing known: the Host check stays on, lws gets the name as is */
	parley_bind_resolve("parley-no-such-name.invalid", &b);
	assert_int_equal(b.kind, PARLEY_BIND_UNKNOWN);
	assert_true(b.loopback);
	assert_string_equal(b.iface, "parley-no-such-name.invalid");
}

static void host_loopback(void **state)
{
	const char *yes[] = { "localhost", "localhost:8080", "LOCALHOST:1", "localhost.",
			      "app.localhost:3000", "127.0.0.1", "127.0.0.1:8080", "127.1.2.3:80",
			      "[::1]", "[::1]:8080", "[::ffff:127.0.0.1]:9" };
	const char *no[] = { "",
			     "evil.com",
			     "evil.com:8080",
			     "localhost.evil.com",
			     "evillocalhost",
			     "127.0.0.1.evil.com",
			     "127.0.0.1:",
			     "127.0.0.1:80a",
			     "127.0.0.1:1234567",
			     "::1",
			     "[::1",
			     "[::2]:80",
			     "10.0.0.1",
			     "127.1",
			     "local host",
			     "localhost:80:80",
			     "0x7f.0.0.1" };
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		if (!parley_access_host_is_loopback(yes[i]))
			fail_msg("'%s' should be a loopback Host", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		if (parley_access_host_is_loopback(no[i]))
			fail_msg("'%s' should not be a loopback Host", no[i]);
	assert_false(parley_access_host_is_loopback(NULL));
}

static void origins(void **state)
{
	/* loopback origins, any port, http or https */
	assert_true(parley_access_origin_allowed("http://localhost:3000", "10.0.0.2:8080", false, ""));
	assert_true(parley_access_origin_allowed("https://127.0.0.1", "x", false, ""));
	assert_true(parley_access_origin_allowed("http://[::1]:5", "", false, ""));
	/* the page's own server: scheme follows TLS */
	assert_true(parley_access_origin_allowed("http://chat.example:8080", "chat.example:8080",
						 false, ""));
	assert_true(parley_access_origin_allowed("HTTP://Chat.Example:8080", "chat.example:8080",
						 false, ""));
	assert_false(parley_access_origin_allowed("https://chat.example:8080", "chat.example:8080",
						  false, ""));
	assert_true(parley_access_origin_allowed("https://chat.example", "chat.example", true, ""));
	assert_false(parley_access_origin_allowed("http://chat.example", "chat.example", true, ""));
	assert_false(parley_access_origin_allowed("http://chat.example:8081", "chat.example:8080",
						  false, ""));
	assert_false(parley_access_origin_allowed("http://evil.example", "chat.example", false, ""));
	assert_false(parley_access_origin_allowed("http://evil.example", "", false, ""));
	assert_false(parley_access_origin_allowed("null", "chat.example", false, ""));
	assert_false(parley_access_origin_allowed("http://localhost.evil.example", "x", false, ""));
	assert_false(parley_access_origin_allowed("http://localhost/path", "x", false, ""));
	assert_false(parley_access_origin_allowed("ws://localhost", "x", false, ""));
	/* the list */
	const char *list = "https://a.example,http://b.example:81,null";
	assert_true(parley_access_origin_allowed("https://a.example", "x", false, list));
	assert_true(parley_access_origin_allowed("http://b.example:81", "x", false, list));
	assert_true(parley_access_origin_allowed("null", "x", false, list));
	assert_false(parley_access_origin_allowed("https://a.example.evil", "x", false, list));
	assert_false(parley_access_origin_allowed("https://a.exampl", "x", false, list));
	assert_false(parley_access_origin_allowed("http://b.example", "x", false, list));
	assert_true(parley_access_origin_allowed("http://anything.example", "x", false, "*"));
	assert_true(parley_access_origin_allowed("http://anything.example", "x", false,
						 "https://a.example,*"));
	assert_false(parley_access_origin_allowed(NULL, "x", false, "*"));
}

static void tokens(void **state)
{
	const char *want = "0123456789abcdef0123";
	assert_true(parley_access_token_equal(want, strlen(want), want));
	assert_false(parley_access_token_equal(want, strlen(want) - 1, want));
	assert_false(parley_access_token_equal("0123456789abcdef0124", 20, want));
	assert_false(parley_access_token_equal("0123456789abcdef01234", 21, want));
	assert_false(parley_access_token_equal("", 0, want));
	assert_false(parley_access_token_equal("", 0, ""));
	/* a longer buffer, compared over len bytes only */
	assert_true(parley_access_token_equal("0123456789abcdef0123XYZ", 20, want));

	size_t len = 0;
	const char *t = parley_access_token_in_protocols("parley, parley.token.abc_D-9", &len);
	assert_non_null(t);
	assert_int_equal(len, 7);
	assert_memory_equal(t, "abc_D-9", 7);
	t = parley_access_token_in_protocols("parley.token.xyz,parley", &len);
	assert_non_null(t);
	assert_int_equal(len, 3);
	assert_null(parley_access_token_in_protocols("parley", &len));
	assert_null(parley_access_token_in_protocols("parley.token.", &len));
	assert_null(parley_access_token_in_protocols("", &len));
	assert_null(parley_access_token_in_protocols("x-parley.token.abc", &len));

	t = parley_access_bearer("Bearer  secret-token ", &len);
	assert_non_null(t);
	assert_int_equal(len, 12);
	assert_memory_equal(t, "secret-token", 12);
	assert_non_null(parley_access_bearer("bearer x", &len));
	assert_null(parley_access_bearer("Basic dXNlcjpwYXNz", &len));
	assert_null(parley_access_bearer("Bearer", &len));
	assert_null(parley_access_bearer("Bearer   ", &len));
	assert_null(parley_access_bearer("Bearerx y", &len));
}

/* /v1/realtime: the OpenAI browser clients' key subprotocol, and whether a
 * subprotocol (the beta dialect's) is offered. */
static void realtime_protocols(void **state)
{
	(void)state;
	size_t len = 0;
	const char *k = "realtime, openai-insecure-api-key.sk-Abc_9, openai-beta.realtime-v1";
	const char *t = parley_access_protocol_value(k, PARLEY_REALTIME_KEY_SUBPROTOCOL_PREFIX, &len);
	assert_non_null(t);
	assert_int_equal(len, 8);
	assert_memory_equal(t, "sk-Abc_9", 8);
	assert_null(parley_access_protocol_value("realtime,openai-insecure-api-key.",
						 PARLEY_REALTIME_KEY_SUBPROTOCOL_PREFIX, &len));
	assert_null(parley_access_protocol_value(NULL, PARLEY_REALTIME_KEY_SUBPROTOCOL_PREFIX, &len));
	assert_null(parley_access_token_in_protocols(k, &len));

	assert_true(parley_access_protocol_offered(k, "openai-beta.realtime-v1"));
	assert_true(parley_access_protocol_offered(k, "realtime"));
	assert_true(parley_access_protocol_offered("a,realtime", "realtime"));
	assert_false(parley_access_protocol_offered("realtime", "openai-beta.realtime-v1"));
	assert_false(parley_access_protocol_offered("openai-beta.realtime-v10", "openai-beta.realtime-v1"));
	assert_false(parley_access_protocol_offered("xrealtime, realtimex", "realtime"));
	assert_false(parley_access_protocol_offered(NULL, "realtime"));
	assert_false(parley_access_protocol_offered("realtime", ""));
}

static void escape(void **state)
{
	char out[32], big[64];
	parley_access_escape("http://a\"b\\c\n\x01\xc3\xa9", big, sizeof big);
	assert_string_equal(big, "http://a\\x22b\\x5cc\\x0a\\x01\\xc3\\xa9");
	parley_access_escape("0123456789012345678901234567890", out, sizeof out); /* fits exactly */
	assert_string_equal(out, "0123456789012345678901234567890");
	parley_access_escape("0123456789012345678901234567890123456789", out, sizeof out);
	assert_true(strlen(out) < sizeof out);
	assert_string_equal(out + strlen(out) - 3, "...");
	parley_access_escape(NULL, out, sizeof out);
	assert_string_equal(out, "");
}

static void peers(void **state)
{
	char k[PARLEY_PEER_KEY_MAX];
	parley_peers_key("192.0.2.7", k);
	assert_string_equal(k, "192.0.2.7");
	parley_peers_key("::ffff:192.0.2.7", k);
	assert_string_equal(k, "192.0.2.7");
	parley_peers_key("2001:db8:1:2:3:4:5:6", k);
	assert_string_equal(k, "2001:db8:1:2::/64");
	char k2[PARLEY_PEER_KEY_MAX];
	parley_peers_key("2001:db8:1:2::99", k2);
	assert_string_equal(k, k2);
	parley_peers_key("not an address", k);
	assert_string_equal(k, "not an address");

	struct parley_peers *p = parley_peers_create();
	assert_non_null(p);
	assert_int_equal(parley_peers_acquire(p, "a", 2), 0);
	assert_int_equal(parley_peers_acquire(p, "a", 2), 0);
	assert_int_equal(parley_peers_acquire(p, "a", 2), PARLEY_E_FULL);
	assert_int_equal(parley_peers_count(p, "a"), 2);
	assert_int_equal(parley_peers_acquire(p, "b", 2), 0);
	parley_peers_release(p, "a");
	assert_int_equal(parley_peers_count(p, "a"), 1);
	assert_int_equal(parley_peers_acquire(p, "a", 2), 0);
	parley_peers_release(p, "a");
	parley_peers_release(p, "a");
	assert_int_equal(parley_peers_count(p, "a"), 0);
	parley_peers_release(p, "a"); /* unknown: ignored */
	/* many keys share buckets */
	char key[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(parley_peers_acquire(p, key, 1), 0);
	}
	for (int i = 0; i < 2000; i += 2) {
		snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
		parley_peers_release(p, key);
	}
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(parley_peers_count(p, key), i % 2);
	}
	assert_int_equal(parley_peers_count(p, "b"), 1);
	parley_peers_destroy(p); /* frees what is still counted */
	parley_peers_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addr_loopback), cmocka_unit_test(bind_decision),
		cmocka_unit_test(host_loopback),
		cmocka_unit_test(origins),       cmocka_unit_test(tokens),
		cmocka_unit_test(realtime_protocols),
		cmocka_unit_test(escape),        cmocka_unit_test(peers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
