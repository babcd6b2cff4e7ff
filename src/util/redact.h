/*
 * redact.h - masking secrets in text that leaves the process.
 *
 * Error bodies of LLM servers, URLs given by the operator and library
 * messages can carry credentials: an API key echoed back in a 401 body, a
 * URL like https://user:pass@host, a query string with api_key=... .
 * parley_redact() masks what looks like one, before the text reaches a
 * log line (every log line goes through it, see log.c) or a client:
 *
 *   - userinfo in URLs:         http://user:pass@host    -> user:pass becomes ***
 *                               (up to the last '@' before the path, so a
 *                               password holding '#' or '?' is masked too)
 *   - OpenAI-style keys:        sk-proj-AbC123...        -> sk-***
 *   - bearer/basic credentials: Bearer eyJhbGciOi...     -> Bearer ***
 *                               (also "Bearer: ...", "bearer=...")
 *   - named values:             api_key=..., "token": "...", password: ...
 *                               (api_key, api-key, apikey, x-api-key, key,
 *                               token, access_token, auth_token, secret,
 *                               client_secret, password, passwd) -> name=***
 *   - long random-looking runs: 32+ hex digits, or 24+ characters of
 *                               [A-Za-z0-9_+/=-] mixing upper case, lower
 *                               case and digits                   -> ***
 *
 * Words start after spaces and punctuation, and also after '/' and '=', so
 * a key in a URL path or a query value (https://h/v1/sk-..., ?k=...) is
 * found like any other.
 *
 * With PARLEY_REDACT_URLS every URL is replaced by "[URL]" as a whole
 * (text for clients, who need no address of the LLM server).
 *
 * It is a heuristic: it may mask a harmless long identifier, and it cannot
 * know a secret that looks like a word. Pure, any thread.
 */
#ifndef PARLEY_UTIL_REDACT_H
#define PARLEY_UTIL_REDACT_H

#include <stddef.h>

enum {
	PARLEY_REDACT_URLS = 1 << 0, /* replace whole URLs by "[URL]" */
};

/*
 * Returns a malloc'd, NUL-terminated copy of s[0..len) with secrets masked
 * (caller frees); its length in *outlen if outlen is not NULL. NULL on OOM.
 * Bytes are copied as they are (invalid UTF-8 stays invalid).
 */
char *parley_redact(const char *s, size_t len, unsigned flags, size_t *outlen);

/*
 * A short, safe one-line text: s redacted (flags as for parley_redact;
 * PARLEY_REDACT_URLS for clients), control characters turned into spaces, invalid UTF-8 replaced, cut on a
 * character boundary to at most max bytes (ending in "..." when cut), into
 * out[0..cap) (cap > max). Returns the length written.
 */
size_t parley_redact_cause(const char *s, size_t len, unsigned flags, size_t max, char *out,
			   size_t cap);

#endif
