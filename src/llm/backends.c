#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/backend.h"
#include "util/err.h"
#include "util/utf8.h"

static const struct parley_llm_backend *const registry[] = {
	&parley_llm_openai,
	&parley_llm_ollama,
	&parley_llm_bedrock,
	&parley_llm_echo,
};

const struct parley_llm_backend *parley_llm_backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

void parley_http_req_clear(struct parley_http_req *r)
{
	curl_slist_free_all(r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}

int parley_http_req_json(struct parley_http_req *out, json_t *body, const char *api_key)
{
	if (!body)
		return PARLEY_E_NOMEM;
	out->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	out->headers = parley_llm_json_headers(api_key);
	if (!out->body || !out->headers) {
		parley_http_req_clear(out);
		return PARLEY_E_NOMEM;
	}
	return 0;
}

struct curl_slist *parley_llm_json_headers(const char *api_key)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h && api_key && *api_key) {
		char auth[320];
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", api_key);
		struct curl_slist *n = curl_slist_append(h, auth);
		if (!n) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = n;
	}
	return h;
}

/* Copies what fits of s[0..n), cut on a character boundary, with line
 * breaks and tabs turned into spaces. */
static void copy_clean(char *out, size_t outlen, const char *s, size_t n)
{
	size_t o = 0;
	n = parley_utf8_cut(s, n, outlen - 1);
	for (size_t i = 0; i < n; i++)
		out[o++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

void parley_llm_error_from_body(const char *body, size_t len, char *out, size_t outlen)
{
	json_t *root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	const char *msg = NULL;
	if (json_is_object(root)) {
		json_t *e = json_object_get(root, "error");
		if (json_is_object(e))
			msg = json_string_value(json_object_get(e, "message"));
		else if (json_is_string(e))
			msg = json_string_value(e);
		if (!msg)
			msg = json_string_value(json_object_get(root, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(root, "detail"));
	}
	if (msg)
		copy_clean(out, outlen, msg, strlen(msg));
	else if (len)
		copy_clean(out, outlen, body, len > 200 ? 200 : len);
	else
		snprintf(out, outlen, "empty response body");
	json_decref(root);
}

void parley_llm_error_message(const struct parley_llm_target *t, long status, const char *body,
			      size_t len, char *out, size_t outlen)
{
	parley_llm_error_from_body(body, len, out, outlen);
}
