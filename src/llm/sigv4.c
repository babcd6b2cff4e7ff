/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h).
 */
#include "llm/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/hex.h"

#define CANON_MAX (1u << 20)

struct hdr {
	char *name; /* lower-cased, malloc'd */
	char *value; /* trimmed, runs of spaces collapsed, malloc'd */
	size_t order; /* position in the input: repeated names keep it */
};

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int parley_sigv4_uri_encode(struct parley_buf *out, const char *s, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int rc;
		if (unreserved(c) || (keep_slash && c == '/')) {
			rc = parley_buf_append(out, &s[i], 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc = parley_buf_append(out, e, 3);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static int sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(data ? data : "", n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return PARLEY_E_NOMEM;
	to_hex(md, 32, out);
	return 0;
}

static int hmac(const void *key, size_t keylen, const char *msg, size_t n, unsigned char out[32])
{
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, n, out, &len) ||
	    len != 32)
		return PARLEY_E_NOMEM;
	return 0;
}

/* Appends s[0..n) percent-decoded then re-encoded (a "%" that starts no
 * escape is taken literally). */
static int requery(struct parley_buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < n && parley_hexval(s[i + 1]) >= 0 && parley_hexval(s[i + 2]) >= 0) {
			c = (char)(parley_hexval(s[i + 1]) * 16 + parley_hexval(s[i + 2]));
			i += 2;
		}
		int rc = parley_sigv4_uri_encode(out, &c, 1, false);
		if (rc)
			return rc;
	}
	return 0;
}

/* The canonical URI: path normalised (if asked), then encoded again. */
static int canonical_uri(struct parley_buf *out, const char *path, bool normalize)
{
	if (!path || !*path)
		path = "/";
	if (!normalize)
		return parley_sigv4_uri_encode(out, path, strlen(path), true);

	size_t n = strlen(path);
	const char **seg = malloc((n / 2 + 2) * sizeof *seg);
	size_t *seglen = malloc((n / 2 + 2) * sizeof *seglen);
	size_t nseg = 0;
	int rc = PARLEY_E_NOMEM;
	if (!seg || !seglen)
		goto out;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && path[j] != '/')
			j++;
		size_t len = j - i;
		if (len == 0 || (len == 1 && path[i] == '.')) {
			/* empty or "." segment: dropped */
		} else if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
			if (nseg)
				nseg--;
		} else {
			seg[nseg] = path + i;
			seglen[nseg++] = len;
		}
		i = j + 1;
	}
	rc = parley_buf_append(out, "/", 1);
	for (size_t k = 0; k < nseg && !rc; k++) {
		rc = parley_sigv4_uri_encode(out, seg[k], seglen[k], false);
		if (!rc && (k + 1 < nseg || path[n - 1] == '/'))
			rc = parley_buf_append(out, "/", 1);
	}
out:
	free(seg);
	free(seglen);
	return rc;
}

struct param {
	char *text; /* "key=value", encoded */
	size_t keylen;
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->text, y->text, n);
	if (c)
		return c;
	if (x->keylen != y->keylen)
		return x->keylen < y->keylen ? -1 : 1;
	return strcmp(x->text + x->keylen, y->text + y->keylen);
}

static int canonical_query(struct parley_buf *out, const char *q)
{
	if (!q || !*q)
		return 0;
	size_t cap = 1;
	for (const char *s = q; *s; s++)
		cap += *s == '&';
	struct param *ps = calloc(cap, sizeof *ps);
	size_t np = 0;
	int rc = ps ? 0 : PARLEY_E_NOMEM;
	const char *s = q;
	while (!rc && *s) {
		const char *end = strchr(s, '&');
		if (!end)
			end = s + strlen(s);
		if (end > s) {
			const char *eq = memchr(s, '=', (size_t)(end - s));
			const char *kend = eq ? eq : end;
			struct parley_buf b;
			parley_buf_init(&b, CANON_MAX);
			rc = requery(&b, s, (size_t)(kend - s));
			size_t keylen = b.len;
			rc = rc ? rc : parley_buf_append(&b, "=", 1);
			if (!rc && eq)
				rc = requery(&b, eq + 1, (size_t)(end - eq - 1));
			if (rc) {
				parley_buf_free(&b);
				break;
			}
			ps[np].text = b.data;
			ps[np++].keylen = keylen;
		}
		s = *end ? end + 1 : end;
	}
	if (!rc)
		qsort(ps, np, sizeof *ps, param_cmp);
	for (size_t i = 0; i < np && !rc; i++) {
		if (i)
			rc = parley_buf_append(out, "&", 1);
		rc = rc ? rc : parley_buf_append(out, ps[i].text, strlen(ps[i].text));
	}
	for (size_t i = 0; ps && i < np; i++)
		free(ps[i].text);
	free(ps);
	return rc;
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* A header value trimmed, with runs of spaces and tabs as one space. */
static char *clean_value(const char *v)
{
	size_t n = strlen(v);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	bool space = false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

static int add_hdr(struct hdr *h, size_t *n, const char *name, const char *value)
{
	size_t len = strlen(name);
	if (!len || strpbrk(name, ":\r\n ") || *n >= PARLEY_SIGV4_MAX_HEADERS)
		return PARLEY_E_INVAL;
	h[*n].name = malloc(len + 1);
	h[*n].value = clean_value(value ? value : "");
	h[*n].order = *n;
	if (!h[*n].name || !h[*n].value) {
		free(h[*n].name);
		free(h[*n].value);
		return PARLEY_E_NOMEM;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		h[*n].name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	(*n)++;
	return 0;
}

static int append_str(struct parley_buf *b, const char *s)
{
	return parley_buf_append(b, s, strlen(s));
}

int parley_sigv4_sign(const struct parley_sigv4_params *p, struct parley_sigv4_result *out)
{
	memset(out, 0, sizeof *out);
	if (!p->method || !p->region || !p->service || !p->access_key_id ||
	    !p->secret_access_key || !*p->region || !*p->service || !*p->access_key_id ||
	    (p->nheaders && !p->headers) || p->nheaders > PARLEY_SIGV4_MAX_HEADERS - 3)
		return PARLEY_E_INVAL;

	struct hdr h[PARLEY_SIGV4_MAX_HEADERS];
	size_t nh = 0;
	struct parley_buf creq, signed_names, sts, auth;
	parley_buf_init(&creq, CANON_MAX);
	parley_buf_init(&signed_names, CANON_MAX);
	parley_buf_init(&sts, CANON_MAX);
	parley_buf_init(&auth, CANON_MAX);
	char date[9], scope[256], creq_hash[65];
	unsigned char k[32];
	int rc = 0;

	struct tm tm;
	if (!gmtime_r(&p->when, &tm) ||
	    !strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm)) {
		rc = PARLEY_E_INVAL;
		goto out;
	}
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';
	rc = sha256_hex(p->body, p->body_len, out->content_sha256);

	for (size_t i = 0; i < p->nheaders && !rc; i++)
		rc = add_hdr(h, &nh, p->headers[i].name, p->headers[i].value);
	rc = rc ? rc : add_hdr(h, &nh, "x-amz-date", out->amz_date);
	if (!rc && p->session_token && *p->session_token)
		rc = add_hdr(h, &nh, "x-amz-security-token", p->session_token);
	if (!rc && p->sign_body)
		rc = add_hdr(h, &nh, "x-amz-content-sha256", out->content_sha256);
	if (rc)
		goto out;
	qsort(h, nh, sizeof *h, hdr_cmp);

	/* The canonical request. */
	rc = append_str(&creq, p->method);
	rc = rc ? rc : append_str(&creq, "\n");
	rc = rc ? rc : canonical_uri(&creq, p->path, p->normalize_path);
	rc = rc ? rc : append_str(&creq, "\n");
	rc = rc ? rc : canonical_query(&creq, p->query);
	rc = rc ? rc : append_str(&creq, "\n");
	for (size_t i = 0; i < nh && !rc; i++) {
		bool repeat = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
		if (repeat) { /* "name:v1,v2": continue the previous line */
			creq.len--; /* drop its "\n" (the buffer keeps its NUL) */
			creq.data[creq.len] = '\0';
			rc = append_str(&creq, ",");
		} else {
			if (signed_names.len)
				rc = append_str(&signed_names, ";");
			rc = rc ? rc : append_str(&signed_names, h[i].name);
			rc = rc ? rc : append_str(&creq, h[i].name);
			rc = rc ? rc : append_str(&creq, ":");
		}
		rc = rc ? rc : append_str(&creq, h[i].value);
		rc = rc ? rc : append_str(&creq, "\n");
	}
	rc = rc ? rc : append_str(&creq, "\n");
	rc = rc ? rc : append_str(&creq, parley_buf_str(&signed_names));
	rc = rc ? rc : append_str(&creq, "\n");
	rc = rc ? rc : append_str(&creq, out->content_sha256);
	if (rc)
		goto out;

	/* The string to sign. */
	snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, p->region, p->service);
	rc = sha256_hex(creq.data, creq.len, creq_hash);
	rc = rc ? rc : append_str(&sts, "AWS4-HMAC-SHA256\n");
	rc = rc ? rc : append_str(&sts, out->amz_date);
	rc = rc ? rc : append_str(&sts, "\n");
	rc = rc ? rc : append_str(&sts, scope);
	rc = rc ? rc : append_str(&sts, "\n");
	rc = rc ? rc : append_str(&sts, creq_hash);
	if (rc)
		goto out;

	/* The signing key, then the signature. */
	size_t slen = strlen(p->secret_access_key);
	char *kstart = malloc(slen + 5);
	if (!kstart) {
		rc = PARLEY_E_NOMEM;
		goto out;
	}
	memcpy(kstart, "AWS4", 4);
	memcpy(kstart + 4, p->secret_access_key, slen + 1);
	rc = hmac(kstart, slen + 4, date, strlen(date), k);
	OPENSSL_cleanse(kstart, slen + 4);
	free(kstart);
	rc = rc ? rc : hmac(k, 32, p->region, strlen(p->region), k);
	rc = rc ? rc : hmac(k, 32, p->service, strlen(p->service), k);
	rc = rc ? rc : hmac(k, 32, "aws4_request", 12, k);
	rc = rc ? rc : hmac(k, 32, sts.data, sts.len, k);
	if (rc)
		goto out;
	to_hex(k, 32, out->signature);

	rc = append_str(&auth, "AWS4-HMAC-SHA256 Credential=");
	rc = rc ? rc : append_str(&auth, p->access_key_id);
	rc = rc ? rc : append_str(&auth, "/");
	rc = rc ? rc : append_str(&auth, scope);
	rc = rc ? rc : append_str(&auth, ", SignedHeaders=");
	rc = rc ? rc : append_str(&auth, parley_buf_str(&signed_names));
	rc = rc ? rc : append_str(&auth, ", Signature=");
	rc = rc ? rc : append_str(&auth, out->signature);
	if (rc)
		goto out;
	out->canonical_request = creq.data;
	out->string_to_sign = sts.data;
	out->authorization = auth.data;
	creq.data = sts.data = auth.data = NULL;
out:
	OPENSSL_cleanse(k, sizeof k);
	for (size_t i = 0; i < nh; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	parley_buf_free(&creq);
	parley_buf_free(&signed_names);
	parley_buf_free(&sts);
	parley_buf_free(&auth);
	if (rc)
		parley_sigv4_result_free(out);
	return rc;
}

void parley_sigv4_result_free(struct parley_sigv4_result *r)
{
	free(r->canonical_request);
	free(r->string_to_sign);
	free(r->authorization);
	memset(r, 0, sizeof *r);
}
