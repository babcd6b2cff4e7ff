#include "util/redact.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/utf8.h"

#define MASK "***"
#define HEX_MIN 32
#define MIXED_MIN 24
#define SK_MIN 8

/* The output; once an append fails nothing more is written. */
struct out {
	struct parley_buf buf;
	bool failed;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (!o->failed && parley_buf_append(&o->buf, s, n) != 0)
		o->failed = true;
}

static bool tokchar(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '+' || c == '/' || c == '=';
}

/* Where a URL starting at s[i] ends (exclusive), or i if none starts there:
 * a scheme, "://", then up to whitespace, a quote or a bracket; trailing
 * punctuation is left out ("at http://host:1/; run ..."). */
static size_t url_end(const char *s, size_t len, size_t i)
{
	size_t j = i;
	if (j >= len || !isalpha((unsigned char)s[j]))
		return i;
	while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '+' || s[j] == '.' || s[j] == '-'))
		j++;
	if (j + 3 > len || memcmp(s + j, "://", 3) != 0)
		return i;
	j += 3;
	while (j < len) {
		unsigned char c = (unsigned char)s[j];
		if (c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == 0x7f)
			break;
		j++;
	}
	while (j > i && strchr(".,;:)!?", s[j - 1]))
		j--;
	return j;
}

/* Copies the URL s[i..end) with its userinfo masked; returns where the
 * authority ends (the rest is scanned like any text). The userinfo is
 * everything up to the last '@' before the path: a password may hold '#',
 * '?' or ':' (it should be percent-encoded, but a hand-written URL is not
 * always), and masking too much is the safe mistake. */
static size_t put_url_authority(struct out *o, const char *s, size_t i, size_t end)
{
	size_t host = i;
	while (s[host] != ':') /* url_end found "://" after the scheme */
		host++;
	host += 3;
	size_t path = host;
	while (path < end && s[path] != '/')
		path++;
	size_t at = 0;
	for (size_t k = host; k < path; k++)
		if (s[k] == '@')
			at = k;
	put(o, s + i, host - i);
	if (at) {
		put(o, MASK "@", sizeof MASK);
		host = at + 1;
	}
	size_t auth_end = host;
	while (auth_end < end && s[auth_end] != '/' && s[auth_end] != '?' && s[auth_end] != '#')
		auth_end++;
	put(o, s + host, auth_end - host);
	return auth_end;
}

static bool word_at(const char *s, size_t len, size_t i, const char *w)
{
	size_t n = strlen(w);
	return i + n <= len && strncasecmp(s + i, w, n) == 0;
}

/* "Bearer <token>" / "Basic <token>", also with a ':' or '=' after the
 * scheme ("Bearer: <token>", "bearer=<token>"): returns the end of the
 * token or i. */
static size_t scheme_cred(struct out *o, const char *s, size_t len, size_t i)
{
	static const char *const words[] = { "bearer", "basic" };
	for (size_t w = 0; w < 2; w++) {
		size_t n = strlen(words[w]);
		if (!word_at(s, len, i, words[w]))
			continue;
		size_t j = i + n;
		if (j < len && (s[j] == ':' || s[j] == '='))
			j++;
		if (j == i + n && (j >= len || s[j] != ' '))
			continue; /* "Bearers", "basically" */
		while (j < len && s[j] == ' ')
			j++;
		size_t v = j;
		while (j < len && !isspace((unsigned char)s[j]) && s[j] != '"' && s[j] != '\'' &&
		       s[j] != ',')
			j++;
		if (j == v)
			continue;
		put(o, s + i, v - i);
		put(o, MASK, sizeof MASK - 1);
		return j;
	}
	return i;
}

/* name=value, name: value, "name": "value" for secret-looking names:
 * returns the end of the value or i. */
static size_t named_value(struct out *o, const char *s, size_t len, size_t i)
{
	static const char *const names[] = {
		"client_secret", "access_token", "auth_token", "x-api-key", "api_key", "api-key",
		"apikey", "password", "passwd", "secret", "token", "key",
	};
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		size_t n = strlen(names[k]);
		if (!word_at(s, len, i, names[k]))
			continue;
		size_t j = i + n;
		if (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '-'))
			continue; /* a longer word: "keyboard", "tokens" */
		if (j < len && (s[j] == '"' || s[j] == '\''))
			j++;
		while (j < len && s[j] == ' ')
			j++;
		if (j >= len || (s[j] != '=' && s[j] != ':'))
			continue;
		j++;
		while (j < len && s[j] == ' ')
			j++;
		if (j < len && (s[j] == '"' || s[j] == '\''))
			j++;
		size_t v = j;
		while (j < len && !isspace((unsigned char)s[j]) && !strchr("\"'&,;})", s[j]))
			j++;
		if (j == v)
			continue;
		put(o, s + i, v - i);
		put(o, MASK, sizeof MASK - 1);
		return j;
	}
	return i;
}

static bool keychar(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* sk-... keys and long random-looking runs: returns the end or i. An sk-
 * key ends at the first character keys do not use ('/', '=', '+'), so the
 * rest of a URL path after it stays; in a URL (in_url) every run ends at
 * '/', a path segment being checked on its own. */
static size_t token(struct out *o, const char *s, size_t len, size_t i, bool in_url)
{
	size_t j = i;
	if (i + 3 <= len && memcmp(s + i, "sk-", 3) == 0) {
		j = i + 3;
		while (j < len && keychar((unsigned char)s[j]))
			j++;
		if (j - i >= 3 + SK_MIN) {
			put(o, "sk-" MASK, 3 + sizeof MASK - 1);
			return j;
		}
		j = i;
	}
	while (j < len && tokchar((unsigned char)s[j]) && !(in_url && s[j] == '/'))
		j++;
	size_t n = j - i;
	bool hex = true, digit = false, lower = false, upper = false;
	for (size_t k = i; k < j; k++) {
		unsigned char c = (unsigned char)s[k];
		hex = hex && isxdigit(c);
		digit = digit || isdigit(c);
		lower = lower || islower(c);
		upper = upper || isupper(c);
	}
	if ((hex && n >= HEX_MIN && digit && (lower || upper)) ||
	    (n >= MIXED_MIN && digit && lower && upper)) {
		put(o, MASK, sizeof MASK - 1);
		return j;
	}
	return i;
}

char *parley_redact(const char *s, size_t len, unsigned flags, size_t *outlen)
{
	struct out o = { .failed = false };
	parley_buf_init(&o.buf, SIZE_MAX);
	put(&o, "", 0); /* allocates "", the result for empty input */
	size_t i = 0, url = 0; /* s[..url) is the URL being scanned */
	while (i < len && !o.failed) {
		unsigned char prev = i ? (unsigned char)s[i - 1] : ' ';
		if (!isalnum(prev) && prev != '+' && prev != '.' && prev != '-') {
			size_t u = url_end(s, len, i);
			if (u > i) {
				if (flags & PARLEY_REDACT_URLS) {
					put(&o, "[URL]", 5);
					i = u;
				} else {
					url = u;
					i = put_url_authority(&o, s, i, u);
				}
				continue;
			}
		}
		size_t j = i;
		/* A word starts after a separator, and also after '/' and '='
		 * (path segments, query values: .../keys/sk-..., ?x=sk-...),
		 * which are token characters only for base64 runs, checked
		 * whole at their start. */
		if (!tokchar(prev) || prev == '/' || prev == '=') {
			j = scheme_cred(&o, s, len, i);
			if (j == i)
				j = named_value(&o, s, len, i);
			if (j == i)
				j = token(&o, s, len, i, i < url);
		}
		if (j == i) /* plain text */
			put(&o, s + i, (j = i + 1) - i);
		i = j;
	}
	if (o.failed) {
		parley_buf_free(&o.buf);
		return NULL;
	}
	if (outlen)
		*outlen = o.buf.len;
	return o.buf.data;
}

size_t parley_redact_cause(const char *s, size_t len, unsigned flags, size_t max, char *out,
			   size_t cap)
{
	size_t n = 0;
	char *r = parley_redact(s, len, flags, &n);
	const char *src = r ? r : "(the message could not be shown)";
	if (!r)
		n = strlen(src);
	/* Control characters become spaces; runs of spaces collapse. */
	size_t w = 0;
	char *t = r ? r : NULL;
	if (t) {
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)t[k];
			if (c < 0x20 || c == 0x7f)
				c = ' ';
			if (c == ' ' && (w == 0 || t[w - 1] == ' '))
				continue;
			t[w++] = (char)c;
		}
		while (w && t[w - 1] == ' ')
			w--;
		n = w;
	}
	size_t limit = max < cap - 1 ? max : cap - 1;
	bool truncated = false;
	size_t got = parley_utf8_sanitize_into(src, n, out, limit + 1, &truncated);
	if (truncated && limit >= 3) {
		got = parley_utf8_cut(out, got, limit - 3);
		memcpy(out + got, "...", 3);
		got += 3;
		out[got] = '\0';
	}
	free(r);
	return got;
}
