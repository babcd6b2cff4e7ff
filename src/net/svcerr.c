/*
 * svcerr.c - a speech service's error message (see svcerr.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "net/svcerr.h"
#include "util/utf8.h"

#define RAW_MAX 200 /* bytes of a non-JSON body kept */

/* Copies what fits of s[0..n) on one line, cut on a character boundary. */
static size_t one_line(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	n = parley_utf8_cut(s, n, cap - 1);
	for (size_t i = 0; i < n; i++)
		out[o++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

/* "message" or "error" (a string) of an object, or NULL. */
static const char *message_of(const json_t *o)
{
	const char *m = json_string_value(json_object_get(o, "message"));
	return m ? m : json_string_value(json_object_get(o, "error"));
}

/* FastAPI's validation errors: the first one, with its location. */
static size_t validation(const json_t *list, char *out, size_t cap)
{
	const json_t *first = json_array_get(list, 0);
	const char *msg = json_string_value(json_object_get(first, "msg"));
	if (!msg)
		return 0;
	char where[96] = "";
	size_t w = 0;
	const json_t *loc = json_object_get(first, "loc");
	for (size_t i = 0; i < json_array_size(loc) && w < sizeof where - 1; i++) {
		const json_t *part = json_array_get(loc, i);
		int n = json_is_string(part) ? snprintf(where + w, sizeof where - w, "%s%s",
						       w ? "." : "", json_string_value(part))
		      : json_is_integer(part)
			      ? snprintf(where + w, sizeof where - w, "[%lld]",
					 (long long)json_integer_value(part))
			      : 0;
		if (n < 0)
			break;
		w += (size_t)n;
		if (w >= sizeof where)
			w = sizeof where - 1;
	}
	char line[512];
	snprintf(line, sizeof line, "%s%s%s", where, w ? ": " : "", msg);
	return one_line(line, strlen(line), out, cap);
}

size_t parley_service_message(const char *body, size_t len, char *out, size_t cap)
{
	json_t *root = len ? json_loadb(body, len, JSON_DECODE_ANY, NULL) : NULL;
	const char *msg = NULL;
	size_t n = 0;
	if (json_is_object(root)) {
		const json_t *err = json_object_get(root, "error");
		const json_t *detail = json_object_get(root, "detail");
		if (json_is_object(err))
			msg = json_string_value(json_object_get(err, "message"));
		else if (json_is_string(err))
			msg = json_string_value(err);
		else if (json_is_string(detail))
			msg = json_string_value(detail);
		else if (json_is_object(detail))
			msg = message_of(detail);
		else if (json_is_array(detail) && (n = validation(detail, out, cap)) > 0)
			goto out;
		if (!msg)
			msg = json_string_value(json_object_get(root, "message"));
	}
	if (msg)
		n = one_line(msg, strlen(msg), out, cap);
	else
		n = one_line(body, len > RAW_MAX ? RAW_MAX : len, out, cap);
out:
	json_decref(root);
	return n;
}
