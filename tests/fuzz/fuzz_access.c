/* Fuzz target: the access-control rules on header values
 * (src/server/access.c). Input: lines "Host\nOrigin\nSec-WebSocket-Protocol\n
 * Authorization". Checks bounds and the rules' invariants. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/access.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *next_line(char **p)
{
	char *s = *p, *nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096];
	if (size >= sizeof buf)
		size = sizeof buf - 1;
	memcpy(buf, data, size);
	buf[size] = '\0'; /* an embedded NUL ends the input, as in a C header copy */
	char *p = buf;
	const char *host = next_line(&p), *origin = next_line(&p), *proto = next_line(&p),
		   *auth = next_line(&p);

	bool host_lo = parley_access_host_is_loopback(host);
	(void)parley_access_addr_is_loopback(host);
	bool origin_lo = parley_access_origin_is_loopback(origin);
	if (origin_lo && !parley_access_origin_allowed(origin, "", false, ""))
		abort(); /* loopback origins are always allowed */
	if (parley_access_origin_allowed(origin, host, false, "")) {
		/* only a loopback origin or exactly http://Host may pass */
		if (!origin_lo && !(strncasecmp(origin, "http://", 7) == 0 && *host &&
				    strcasecmp(origin + 7, host) == 0))
			abort();
	}
	if (host_lo && strpbrk(host, " \t\r/"))
		abort();

	size_t len = 0;
	const char *t = parley_access_token_in_protocols(proto, &len);
	if (t && (t < proto || t + len > proto + strlen(proto) || len == 0 ||
		  memchr(t, ',', len) || memchr(t, ' ', len)))
		abort();
	t = parley_access_bearer(auth, &len);
	if (t && (t < auth || t + len > auth + strlen(auth) || len == 0))
		abort();
	if (t)
		(void)parley_access_token_equal(t, len, "0123456789abcdef");

	char out[64];
	parley_access_escape(origin, out, sizeof out);
	size_t n = strlen(out);
	if (n >= sizeof out)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f || out[i] == '"')
			abort();
	return 0;
}
