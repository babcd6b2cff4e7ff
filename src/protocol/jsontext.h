/*
 * jsontext.h - text of any origin as a JSON string, for both wire
 * protocols (native.c, realtime*.c): invalid UTF-8 (a library's message, an
 * LLM's bytes, a client's value echoed back) becomes U+FFFD instead of
 * making the whole message fail to encode. Pure; any thread.
 */
#ifndef PARLEY_PROTOCOL_JSONTEXT_H
#define PARLEY_PROTOCOL_JSONTEXT_H

#include <stddef.h>

#include <jansson.h>

/* A new JSON string of s[0..len) (borrowed); NULL only on OOM. */
json_t *parley_json_text(const char *s, size_t len);

#endif
