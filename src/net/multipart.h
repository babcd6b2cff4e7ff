/*
 * multipart.h - multipart/form-data request bodies (RFC 7578), for services
 * that take a file upload with form fields (the transcription engine posts
 * the utterance as a WAV file with model, language and response_format).
 *
 * The whole body is built in one buffer: each part is the boundary line, a
 * Content-Disposition header (plus Content-Type for a file part), a blank
 * line and the bytes as given; the body ends with the closing boundary.
 * The boundary is random ("parley-" and 32 hex digits from getrandom) and
 * is drawn again should it occur in any part's bytes, so no part can end
 * the form early however its bytes look.
 *
 * Field names, file names and content types are written inside a quoted
 * header: they must not hold '"', '\\', CR, LF or other control bytes
 * (PARLEY_E_INVAL). Values and file bytes are arbitrary.
 *
 * Pure functions, any thread.
 */
#ifndef PARLEY_NET_MULTIPART_H
#define PARLEY_NET_MULTIPART_H

#include <stddef.h>

/* The Content-Type header value's size: "multipart/form-data; boundary=" + boundary. */
#define PARLEY_MULTIPART_CT_MAX 104

struct parley_multipart_part {
	const char *name;         /* form field name */
	const char *filename;     /* a file part when not NULL ("audio.wav") */
	const char *content_type; /* file parts: "audio/wav"; NULL: application/octet-stream */
	const void *data;         /* borrowed; may be NULL when len is 0 */
	size_t len;
};

/*
 * Builds the body of parts[0..n). On success returns 0 with *body (malloc'd,
 * caller frees; NUL-terminated for convenience, not counted in *len) and the
 * header value for Content-Type in content_type[0..PARLEY_MULTIPART_CT_MAX).
 * Returns PARLEY_E_INVAL (a bad name, file name or content type),
 * PARLEY_E_RANGE (over max_len bytes) or PARLEY_E_NOMEM; *body untouched
 * then.
 */
int parley_multipart_build(const struct parley_multipart_part *parts, size_t n, size_t max_len,
			   char **body, size_t *len, char content_type[PARLEY_MULTIPART_CT_MAX]);

/*
 * As parley_multipart_build, with the boundary candidates coming from
 * next(arg, out) (writes a NUL-terminated boundary of 1..70 characters of
 * [A-Za-z0-9'+_.-], token characters that need no quoting, into
 * out[0..71)) instead of getrandom: for tests
 * of the collision rule. Returns PARLEY_E_INVAL as well when 16 candidates
 * in a row collide or one is malformed.
 */
int parley_multipart_build_with(const struct parley_multipart_part *parts, size_t n,
				size_t max_len, int (*next)(void *arg, char out[71]), void *arg,
				char **body, size_t *len,
				char content_type[PARLEY_MULTIPART_CT_MAX]);

#endif
