/*
 * svcerr.h - the message inside a speech service's error answer.
 *
 * OpenAI-compatible services answer errors in a few shapes:
 *   OpenAI, openedai-speech:  {"error": {"message": "...", "type": ...}}
 *   some proxies:             {"error": "..."}, {"message": "..."}
 *   FastAPI (Kokoro, Orpheus, speaches):
 *                             {"detail": "..."}
 *                             {"detail": {"error": ..., "message": "..."}}
 *                             {"detail": [{"loc": ["body", "input"],
 *                                          "msg": "Field required", ...}]}
 *   anything else:            the body's text itself
 * parley_service_message() finds the message; the caller masks it
 * (util/redact.h) before it is logged or shown.
 *
 * Pure, any thread.
 */
#ifndef PARLEY_NET_SVCERR_H
#define PARLEY_NET_SVCERR_H

#include <stddef.h>

/*
 * Writes the message of body[0..len) into out[0..cap) (cap >= 1), on one
 * line, cut on a character boundary: a 422's first validation error as
 * "body.input: Field required", a body that is not JSON as its first 200
 * bytes, "" for an empty body. Returns the length written.
 */
size_t parley_service_message(const char *body, size_t len, char *out, size_t cap);

#endif
