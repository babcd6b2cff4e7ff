/*
 * eventstream.c - AWS event stream decoder (see eventstream.h).
 */
#include "llm/eventstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

#define PRELUDE 12

uint32_t parley_es_crc32(uint32_t crc, const void *data, size_t n)
{
	/* Half-byte table of the reflected polynomial 0xEDB88320. */
	static const uint32_t t[16] = {
		0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
		0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
		0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
	};
	const uint8_t *p = data;
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc = t[(crc ^ p[i]) & 15] ^ (crc >> 4);
		crc = t[(crc ^ (p[i] >> 4)) & 15] ^ (crc >> 4);
	}
	return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be_int(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n < 8 && (v & (1ull << (8 * n - 1)))) /* sign-extend */
		v |= ~0ull << (8 * n);
	return (int64_t)v;
}

void parley_es_init(struct parley_es_decoder *d, size_t max_total, parley_es_fn fn, void *arg)
{
	memset(d, 0, sizeof *d);
	d->max_total = max_total && max_total < PARLEY_ES_MAX_TOTAL ? max_total : PARLEY_ES_MAX_TOTAL;
	parley_buf_init(&d->buf, d->max_total);
	d->fn = fn;
	d->arg = arg;
}

void parley_es_destroy(struct parley_es_decoder *d)
{
	parley_buf_free(&d->buf);
}

static int fail(struct parley_es_decoder *d, enum parley_es_fault f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parley_es_decoder *d, enum parley_es_fault f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof d->error, fmt, ap);
	va_end(ap);
	d->fault = f;
	d->fault_rc = f == PARLEY_ES_TOO_LARGE ? PARLEY_E_RANGE :
		      f == PARLEY_ES_NOMEM     ? PARLEY_E_NOMEM :
						 PARLEY_E_INVAL;
	return d->fault_rc;
}

/* Checks the 12-byte prelude at the start of the buffer. */
static int check_prelude(struct parley_es_decoder *d)
{
	const uint8_t *p = (const uint8_t *)d->buf.data;
	uint32_t want = be32(p + 8), got = parley_es_crc32(0, p, 8);
	if (want != got)
		return fail(d, PARLEY_ES_PRELUDE_CRC,
			    "event stream: prelude CRC mismatch (frame says %08x, bytes give %08x)",
			    want, got);
	uint32_t total = be32(p), hlen = be32(p + 4);
	if (total < PARLEY_ES_MIN_TOTAL)
		return fail(d, PARLEY_ES_BAD_LENGTH,
			    "event stream: message length %u is below the 16-byte minimum", total);
	if (total > d->max_total)
		return fail(d, PARLEY_ES_TOO_LARGE,
			    "event stream: message length %u is over the %zu-byte limit", total,
			    d->max_total);
	if (hlen > PARLEY_ES_MAX_HEADERS_LEN)
		return fail(d, PARLEY_ES_TOO_LARGE,
			    "event stream: headers length %u is over the %u-byte limit", hlen,
			    PARLEY_ES_MAX_HEADERS_LEN);
	if (hlen > total - PARLEY_ES_MIN_TOTAL)
		return fail(d, PARLEY_ES_BAD_LENGTH,
			    "event stream: headers length %u does not fit a %u-byte message", hlen,
			    total);
	d->total = total;
	d->headers_len = hlen;
	return 0;
}

static int parse_headers(struct parley_es_decoder *d, const uint8_t *p, size_t len, size_t *count)
{
	size_t pos = 0, n = 0;
	while (pos < len) {
		if (n == PARLEY_ES_MAX_HEADERS)
			return fail(d, PARLEY_ES_BAD_HEADER,
				    "event stream: more than %d headers in one message",
				    PARLEY_ES_MAX_HEADERS);
		struct parley_es_header *h = &d->headers[n];
		memset(h, 0, sizeof *h);
		size_t nlen = p[pos++];
		if (nlen == 0)
			return fail(d, PARLEY_ES_BAD_HEADER, "event stream: header %zu has no name", n);
		if (len - pos < nlen + 1)
			return fail(d, PARLEY_ES_BAD_HEADER,
				    "event stream: header %zu runs past the header block", n);
		h->name = (const char *)p + pos;
		h->name_len = nlen;
		pos += nlen;
		uint8_t type = p[pos++];
		size_t vlen;
		switch (type) {
		case PARLEY_ES_TRUE:
		case PARLEY_ES_FALSE: vlen = 0; break;
		case PARLEY_ES_BYTE: vlen = 1; break;
		case PARLEY_ES_SHORT: vlen = 2; break;
		case PARLEY_ES_INT: vlen = 4; break;
		case PARLEY_ES_LONG:
		case PARLEY_ES_TIMESTAMP: vlen = 8; break;
		case PARLEY_ES_UUID: vlen = 16; break;
		case PARLEY_ES_BYTES:
		case PARLEY_ES_STRING:
			if (len - pos < 2)
				return fail(d, PARLEY_ES_BAD_HEADER,
					    "event stream: header '%.*s' runs past the header block",
					    (int)nlen, h->name);
			vlen = (size_t)p[pos] << 8 | p[pos + 1];
			pos += 2;
			break;
		default:
			return fail(d, PARLEY_ES_BAD_HEADER,
				    "event stream: header '%.*s' has the unknown value type %u",
				    (int)nlen, h->name, type);
		}
		if (len - pos < vlen)
			return fail(d, PARLEY_ES_BAD_HEADER,
				    "event stream: header '%.*s' runs past the header block", (int)nlen,
				    h->name);
		h->type = (enum parley_es_type)type;
		if (type == PARLEY_ES_TRUE)
			h->integer = 1;
		else if (type >= PARLEY_ES_BYTE && type <= PARLEY_ES_LONG)
			h->integer = be_int(p + pos, vlen);
		else if (type == PARLEY_ES_TIMESTAMP)
			h->integer = be_int(p + pos, 8);
		if (type == PARLEY_ES_BYTES || type == PARLEY_ES_STRING || type == PARLEY_ES_UUID) {
			h->bytes = p + pos;
			h->len = vlen;
		}
		pos += vlen;
		n++;
	}
	*count = n;
	return 0;
}

/* A whole message is in the buffer: check and deliver it. */
static int deliver(struct parley_es_decoder *d)
{
	const uint8_t *p = (const uint8_t *)d->buf.data;
	uint32_t total = d->total;
	uint32_t want = be32(p + total - 4), got = parley_es_crc32(0, p, total - 4);
	if (want != got)
		return fail(d, PARLEY_ES_MESSAGE_CRC,
			    "event stream: message CRC mismatch (frame says %08x, bytes give %08x)",
			    want, got);
	struct parley_es_message m = { .headers = d->headers };
	int rc = parse_headers(d, p + PRELUDE, d->headers_len, &m.nheaders);
	if (rc)
		return rc;
	m.payload = p + PRELUDE + d->headers_len;
	m.payload_len = total - PARLEY_ES_MIN_TOTAL - d->headers_len;
	rc = d->fn(d->arg, &m);
	parley_buf_reset(&d->buf);
	d->total = d->headers_len = 0;
	return rc;
}

int parley_es_feed(struct parley_es_decoder *d, const void *data, size_t len)
{
	const uint8_t *in = data;
	if (d->fault)
		return d->fault_rc;
	while (len) {
		size_t need = d->total ? d->total : PRELUDE;
		size_t take = need - d->buf.len;
		if (take > len)
			take = len;
		int rc = parley_buf_append(&d->buf, in, take);
		if (rc)
			return fail(d, PARLEY_ES_NOMEM, "event stream: out of memory");
		in += take;
		len -= take;
		if (d->buf.len < need)
			return 0;
		rc = d->total ? deliver(d) : check_prelude(d);
		if (rc)
			return rc;
		/* A message of exactly 16 bytes is whole once its prelude is. */
		if (d->total && d->buf.len == d->total && (rc = deliver(d)) != 0)
			return rc;
	}
	return 0;
}

int parley_es_finish(struct parley_es_decoder *d)
{
	if (d->fault)
		return d->fault_rc;
	if (d->buf.len && d->total)
		return fail(d, PARLEY_ES_TRUNCATED,
			    "event stream: the stream ended inside a message (%zu of its %u bytes)",
			    d->buf.len, d->total);
	if (d->buf.len)
		return fail(d, PARLEY_ES_TRUNCATED,
			    "event stream: the stream ended inside a message's prelude (%zu of 12 "
			    "bytes)", d->buf.len);
	return 0;
}

enum parley_es_fault parley_es_fault(const struct parley_es_decoder *d)
{
	return d->fault;
}

const char *parley_es_error(const struct parley_es_decoder *d)
{
	return d->error;
}

const struct parley_es_header *parley_es_header_find(const struct parley_es_message *m,
						     const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < m->nheaders; i++)
		if (m->headers[i].name_len == n && memcmp(m->headers[i].name, name, n) == 0)
			return &m->headers[i];
	return NULL;
}

bool parley_es_header_string(const struct parley_es_message *m, const char *name, char *out,
			     size_t outlen)
{
	const struct parley_es_header *h = parley_es_header_find(m, name);
	if (outlen)
		out[0] = '\0';
	if (!h || h->type != PARLEY_ES_STRING || !outlen)
		return false;
	size_t n = h->len < outlen - 1 ? h->len : outlen - 1;
	memcpy(out, h->bytes, n);
	out[n] = '\0';
	return true;
}
