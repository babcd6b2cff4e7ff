/*
 * fetch.h - one blocking HTTP request with a bounded response body, for
 * the warm-up thread's checks (model lists, preload requests). The shared
 * engine's streams never use this: they run on the engine's multi handle.
 */
#ifndef PARLEY_LLM_FETCH_H
#define PARLEY_LLM_FETCH_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>

#define PARLEY_FETCH_MAX_BODY (4u << 20)

/*
 * method "GET" or "POST" (body may be NULL for GET). headers borrowed.
 * On success returns 0 with *status and *resp (malloc'd, NUL-terminated,
 * caller frees) even for non-2xx statuses. Returns -1 with a sentence in err
 * when no HTTP answer came (refused, timeout, DNS, over the size cap, or
 * *abort turned true: the transfer gives up within about a second). abort
 * may be NULL.
 */
int parley_fetch(const char *method, const char *url, struct curl_slist *headers,
		 const char *body, long timeout_ms, long *status, char **resp, size_t *resp_len,
		 char *err, size_t errlen, const atomic_bool *abort);

/* A CURLOPT_XFERINFOFUNCTION that stops a transfer once *(atomic_bool *)arg. */
int parley_fetch_abort_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow);

#endif
