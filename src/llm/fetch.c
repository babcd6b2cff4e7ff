#include "llm/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *data;
	size_t len;
	int overflow;
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n > PARLEY_FETCH_MAX_BODY) {
		b->overflow = 1;
		return 0;
	}
	char *d = realloc(b->data, b->len + n + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, ptr, n);
	b->data = d;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int parley_fetch_abort_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow)
{
	return arg && atomic_load((const atomic_bool *)arg) ? 1 : 0;
}

int parley_fetch(const char *method, const char *url, struct curl_slist *headers,
		 const char *body, long timeout_ms, long *status, char **resp, size_t *resp_len,
		 char *err, size_t errlen, const atomic_bool *abort)
{
	struct buf b = { 0 };
	char cerr[CURL_ERROR_SIZE] = "";
	CURL *e = curl_easy_init();
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
	if (headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	if (abort) {
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, parley_fetch_abort_cb);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)abort);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
	CURLcode rc = curl_easy_perform(e);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", b.overflow ? "response too large"
						       : (cerr[0] ? cerr : curl_easy_strerror(rc)));
		free(b.data);
		curl_easy_cleanup(e);
		return -1;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(e);
	if (!b.data) {
		b.data = malloc(1);
		if (!b.data) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		b.data[0] = '\0';
	}
	*resp = b.data;
	if (resp_len)
		*resp_len = b.len;
	return 0;
}
