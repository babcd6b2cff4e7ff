/*
 * sigv4.h - AWS Signature Version 4 for HTTP requests (header signing),
 * as AWS specifies it for every service but S3, checked against AWS's
 * published test suite (tests/unit/test_sigv4.c).
 *
 * The caller describes the request as it goes on the wire: the path as
 * sent (already percent-encoded once, e.g. a Bedrock model id's ':' as
 * %3A), the raw query, and every header it wants signed (host at least).
 * The signer adds X-Amz-Date, X-Amz-Security-Token (with a session token)
 * and X-Amz-Content-SHA256 (when asked) to what is signed; the caller must
 * send those headers with the values it gets back, plus Authorization.
 *
 * Canonical request: the method; the path normalised (empty and "."
 * segments dropped, ".." resolved, a trailing "/" kept) when asked, then
 * percent-encoded again byte by byte (all but A-Z a-z 0-9 - . _ ~ and "/":
 * so %3A becomes %253A, the double encoding non-S3 services expect); the
 * query's parameters decoded, re-encoded and sorted; header names
 * lower-cased, values trimmed with inner runs of spaces collapsed,
 * repeated names joined with ",", sorted; the signed header list; the
 * body's hex SHA-256.
 *
 * Pure functions (OpenSSL's libcrypto for SHA-256 and HMAC); any thread.
 */
#ifndef PARLEY_LLM_SIGV4_H
#define PARLEY_LLM_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/buf.h"

#define PARLEY_SIGV4_MAX_HEADERS 64

struct parley_sigv4_header {
	const char *name;
	const char *value;
};

struct parley_sigv4_params {
	const char *method;                        /* "POST" */
	const char *path;                          /* as sent, no query; "" means "/" */
	const char *query;                         /* as sent, without "?"; NULL or "" for none */
	const struct parley_sigv4_header *headers; /* to sign; host included (borrowed) */
	size_t nheaders;                           /* at most PARLEY_SIGV4_MAX_HEADERS - 3 */
	const void *body;                          /* may be NULL when body_len is 0 */
	size_t body_len;
	bool sign_body;      /* also sign (and send) X-Amz-Content-SHA256 */
	bool normalize_path; /* true for every service but S3 */
	const char *region;  /* "us-east-1" */
	const char *service; /* "bedrock" */
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL or "": none */
	time_t when;               /* the signing time (UTC seconds) */
};

/* What to send, and the intermediate texts (for tests and debugging). */
struct parley_sigv4_result {
	char amz_date[17];       /* X-Amz-Date value, "20150830T123600Z" */
	char content_sha256[65]; /* hex SHA-256 of the body (X-Amz-Content-SHA256) */
	char signature[65];      /* hex */
	char *canonical_request; /* malloc'd */
	char *string_to_sign;    /* malloc'd */
	char *authorization;     /* malloc'd: the Authorization header's value */
};

/*
 * Signs p. Returns 0 with out filled (free with parley_sigv4_result_free),
 * or PARLEY_E_INVAL (missing field, too many headers, a header name that
 * is empty or holds ':' or a line break), PARLEY_E_RANGE (over 1 MiB of
 * canonical text) or PARLEY_E_NOMEM; out is then empty.
 */
int parley_sigv4_sign(const struct parley_sigv4_params *p, struct parley_sigv4_result *out);

/* Accepts an empty or zeroed result; leaves it zeroed. */
void parley_sigv4_result_free(struct parley_sigv4_result *r);

/* Appends s[0..n) percent-encoded the AWS way: every byte but A-Z a-z 0-9
 * - . _ ~ (and "/" when keep_slash) becomes %XX (upper-case hex). Returns
 * 0 or the parley_buf_append error. */
int parley_sigv4_uri_encode(struct parley_buf *out, const char *s, size_t n, bool keep_slash);

#endif
