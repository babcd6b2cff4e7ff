/*
 * eventstream.h - an incremental decoder of the AWS event stream
 * (application/vnd.amazon.eventstream), the binary framing of Bedrock's
 * ConverseStream answers.
 *
 * A message is
 *   prelude:  total length (u32 BE), headers length (u32 BE),
 *             CRC32 of those 8 bytes (u32 BE)
 *   headers:  repeated { name length (u8), name, value type (u8), value }
 *             types: 0 true, 1 false (no value), 2 byte, 3 short (2 bytes),
 *             4 int (4), 5 long (8), 6 bytes and 7 string (u16 BE length,
 *             then that many bytes), 8 timestamp (8, ms), 9 uuid (16)
 *   payload:  total - headers - 16 bytes
 *   CRC32 of everything before it (u32 BE)
 * CRC32 is the zlib/ISO-HDLC one (reflected 0xEDB88320).
 *
 * Bytes can be fed in chunks of any size; each complete message is handed
 * to the callback. The prelude is checked as soon as its 12 bytes are in,
 * so a bad CRC or an oversized length is reported before any more is
 * buffered: the buffer never holds more than one message, and a message
 * over max_total (16 MiB by default, AWS's own limit) or headers over 128
 * KiB are refused. Any fault is final: later calls return the same error,
 * and parley_es_error() says what went wrong in a sentence.
 *
 * Not thread-safe; one decoder per stream.
 */
#ifndef PARLEY_LLM_EVENTSTREAM_H
#define PARLEY_LLM_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define PARLEY_ES_MAX_TOTAL (16u << 20)
#define PARLEY_ES_MAX_HEADERS_LEN (128u << 10)
#define PARLEY_ES_MAX_HEADERS 32 /* headers in one message */
#define PARLEY_ES_MIN_TOTAL 16   /* prelude and message CRC */

enum parley_es_type {
	PARLEY_ES_TRUE = 0,
	PARLEY_ES_FALSE = 1,
	PARLEY_ES_BYTE = 2,
	PARLEY_ES_SHORT = 3,
	PARLEY_ES_INT = 4,
	PARLEY_ES_LONG = 5,
	PARLEY_ES_BYTES = 6,
	PARLEY_ES_STRING = 7,
	PARLEY_ES_TIMESTAMP = 8,
	PARLEY_ES_UUID = 9,
};

/* What went wrong, for callers and tests; parley_es_error() has the words. */
enum parley_es_fault {
	PARLEY_ES_OK = 0,
	PARLEY_ES_PRELUDE_CRC,  /* the prelude's CRC does not match */
	PARLEY_ES_MESSAGE_CRC,  /* the message's CRC does not match */
	PARLEY_ES_TOO_LARGE,    /* total over max_total, or headers over 128 KiB */
	PARLEY_ES_BAD_LENGTH,   /* total under 16, or headers longer than the message */
	PARLEY_ES_BAD_HEADER,   /* a header runs past its block, has no name, an unknown type, or too many */
	PARLEY_ES_TRUNCATED,    /* the stream ended inside a message */
	PARLEY_ES_NOMEM,
};

struct parley_es_header {
	const char *name;     /* not NUL-terminated; borrowed for the callback */
	size_t name_len;
	enum parley_es_type type;
	int64_t integer;      /* true/false (1/0), byte, short, int, long, timestamp */
	const uint8_t *bytes; /* bytes, string, uuid: the raw value (borrowed) */
	size_t len;
};

struct parley_es_message {
	const struct parley_es_header *headers;
	size_t nheaders;
	const uint8_t *payload; /* borrowed for the callback */
	size_t payload_len;
};

/* Called for each complete, checked message. Return nonzero to stop:
 * feed returns that value at once (the rest of that chunk is not read). */
typedef int (*parley_es_fn)(void *arg, const struct parley_es_message *m);

struct parley_es_decoder {
	struct parley_buf buf; /* the message in progress */
	uint32_t total;        /* its length once the prelude checked out; else 0 */
	uint32_t headers_len;
	size_t max_total;
	enum parley_es_fault fault;
	int fault_rc;
	char error[200];
	parley_es_fn fn;
	void *arg;
	struct parley_es_header headers[PARLEY_ES_MAX_HEADERS];
};

/* max_total 0 means PARLEY_ES_MAX_TOTAL (values above it are lowered to it). */
void parley_es_init(struct parley_es_decoder *d, size_t max_total, parley_es_fn fn, void *arg);
void parley_es_destroy(struct parley_es_decoder *d);

/* Returns 0, the callback's nonzero value, or PARLEY_E_INVAL (corrupt),
 * PARLEY_E_RANGE (too large) or PARLEY_E_NOMEM after a fault. */
int parley_es_feed(struct parley_es_decoder *d, const void *data, size_t len);

/* End of stream: PARLEY_E_INVAL (TRUNCATED) if a message was begun and not
 * finished, the standing fault's code if any, else 0. */
int parley_es_finish(struct parley_es_decoder *d);

enum parley_es_fault parley_es_fault(const struct parley_es_decoder *d);
/* The fault in a sentence; "" when none. */
const char *parley_es_error(const struct parley_es_decoder *d);

/* A header of m by name (first match), or NULL. */
const struct parley_es_header *parley_es_header_find(const struct parley_es_message *m,
						     const char *name);

/* A string header's value as NUL-terminated text in out (cut to fit);
 * false (out "") when absent or not a string. */
bool parley_es_header_string(const struct parley_es_message *m, const char *name, char *out,
		 size_t outlen);

/* CRC32 (zlib's), continuing from crc (0 to start). Pure. */
uint32_t parley_es_crc32(uint32_t crc, const void *data, size_t n);

#endif
