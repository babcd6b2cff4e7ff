#include "net/transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"
#include "util/utf8.h"

int64_t parley_xfer_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t ms_ns(long ms)
{
	return (int64_t)ms * 1000000;
}

/* ---- requests ---------------------------------------------------------- */

const char *parley_xfer_cause_label(enum parley_speech_cause c)
{
	static const char *const labels[PARLEY_SPEECH_CAUSE_COUNT] = {
		[PARLEY_SPEECH_CAUSE_UNAVAILABLE] = "unavailable",
		[PARLEY_SPEECH_CAUSE_TIMEOUT] = "timeout",
		[PARLEY_SPEECH_CAUSE_HTTP] = "http_status",
		[PARLEY_SPEECH_CAUSE_BROKEN] = "broken",
		[PARLEY_SPEECH_CAUSE_INTERNAL] = "internal",
	};
	return (unsigned)c < PARLEY_SPEECH_CAUSE_COUNT ? labels[c] : NULL;
}

static void request_clear(struct parley_http_request *rq)
{
	curl_slist_free_all(rq->headers);
	rq->headers = NULL;
	free(rq->body);
	rq->body = NULL;
}

struct parley_xfer *parley_xfer_new(struct parley_http_request *rq,
				    const struct parley_http_callbacks *cb)
{
	struct parley_xfer *x = calloc(1, sizeof *x);
	if (!x) {
		request_clear(rq);
		return NULL;
	}
	x->rq = *rq;
	rq->headers = NULL;
	rq->body = NULL;
	x->cb = *cb;
	x->label = "blocking";
	x->submitted_ns = parley_xfer_now_ns();
	parley_buf_init(&x->errbody, PARLEY_XFER_ERRBODY_MAX);
	return x;
}

void parley_xfer_free(struct parley_xfer *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	request_clear(&r->rq);
	parley_buf_free(&r->errbody);
	free(r);
}

/* "host:port" of the URL, or "the service" when it cannot be parsed. The
 * path, query and credentials are never shown. */
static void describe_where(const char *url, char *out, size_t cap)
{
	snprintf(out, cap, "the service");
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	parley_utf8_format(out, cap, "%s:%s", host, port);
out:
	curl_free(port);
	curl_free(host);
	curl_url_cleanup(u);
}

/* ---- transfer callbacks (the runner's thread) -------------------------- */

/* Calls head once; false when it asked to stop. */
static bool report_head(struct parley_xfer *r)
{
	if (r->head_done)
		return true;
	r->head_done = true;
	if (r->cb.head && r->cb.head(r->cb.arg, r->status, r->ctype) != 0) {
		r->stop = PARLEY_XFER_STOP_HEAD;
		return false;
	}
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct parley_xfer *r = arg;
	size_t n = size * nmemb;
	r->got_byte = true;
	r->last_byte_ns = parley_xfer_now_ns();
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a status line: a new header block */
		const char *sp = memchr(data, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->ctype[0] = '\0';
		return n;
	}
	if (n >= 13 && strncasecmp(data, "content-type:", 13) == 0) {
		size_t i = 13, j = n;
		while (i < j && (data[i] == ' ' || data[i] == '\t'))
			i++;
		while (j > i && (data[j - 1] == '\r' || data[j - 1] == '\n' || data[j - 1] == ' '))
			j--;
		size_t len = parley_utf8_cut(data + i, j - i, sizeof r->ctype - 1);
		memcpy(r->ctype, data + i, len);
		r->ctype[len] = '\0';
		return n;
	}
	/* The blank line ends a block; 1xx blocks (100 Continue) are followed by
	 * the real one. */
	if ((n == 2 && data[0] == '\r') || (n == 1 && data[0] == '\n')) {
		if (r->status >= 200 && r->status / 100 == 2 && !report_head(r))
			return 0;
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct parley_xfer *r = arg;
	size_t n = size * nmemb;
	r->got_byte = true;
	r->last_byte_ns = parley_xfer_now_ns();
	if (!r->status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status / 100 != 2) {
		/* Its head is all we keep: once that is full (or cannot grow),
		 * the transfer stops and ends as HTTP with what was kept, so an
		 * endless error body cannot hold a slot. */
		return parley_buf_append_head(&r->errbody, data, n) < n ? 0 : n;
	}
	if (!report_head(r))
		return 0;
	r->got_body = true;
	if (r->cb.body && r->cb.body(r->cb.arg, data, n) != 0) {
		r->stop = PARLEY_XFER_STOP_BODY;
		return 0;
	}
	return n;
}

/* ---- the runner -------------------------------------------------------- */

static void unlink_active(struct parley_xfer_runner *run, struct parley_xfer *r)
{
	for (struct parley_xfer **p = &run->active; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			run->nactive--;
			return;
		}
	}
}

/* Takes r off the multi handle, closing its connection when the transfer
 * is still going (the service sees it), and off the active list. */
static void detach(struct parley_xfer_runner *run, struct parley_xfer *r)
{
	if (r->easy) {
		curl_multi_remove_handle(run->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	if (r->running) {
		unlink_active(run, r);
		r->running = false;
	}
}

void parley_xfer_end(struct parley_xfer_runner *run, struct parley_xfer *r,
		     enum parley_speech_end end, enum parley_speech_cause cause,
		     const char *message)
{
	detach(run, r);
	if (end == PARLEY_SPEECH_ERROR)
		PARLEY_DEBUG("http %s request %llu failed (%s): %s%s%s", r->label,
			     (unsigned long long)r->id, parley_xfer_cause_label(cause), message,
			     r->curl_err[0] ? "; curl: " : "", r->curl_err);
	else
		PARLEY_DEBUG("http %s request %llu %s", r->label, (unsigned long long)r->id,
			     end == PARLEY_SPEECH_OK ? "done" : "cancelled");
	bool http = end == PARLEY_SPEECH_ERROR && cause == PARLEY_SPEECH_CAUSE_HTTP;
	r->cb.end(r->cb.arg, end, cause, r->status, end == PARLEY_SPEECH_OK ? NULL : message,
		  http ? parley_buf_str(&r->errbody) : NULL, http ? r->errbody.len : 0);
	if (run->ended)
		run->ended(run->arg, r, end, cause);
	parley_xfer_free(r);
}

static int configure(struct parley_xfer *r)
{
	struct parley_http_request *rq = &r->rq;
	CURL *e = r->easy;
	/* No "Expect: 100-continue" on large bodies: small services do not
	 * answer it and curl would wait a second for nothing. */
	struct curl_slist *h = curl_slist_append(rq->headers, "Expect:");
	if (!h)
		return PARLEY_E_NOMEM;
	rq->headers = h;
	const char *method = rq->method ? rq->method : rq->body ? "POST" : "GET";
	int rc = 0;
	rc |= curl_easy_setopt(e, CURLOPT_URL, rq->url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
	if (rq->body || strcmp(method, "POST") == 0) {
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
	}
	if (strcmp(method, "HEAD") == 0)
		rc |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") != 0 && (strcmp(method, "GET") != 0 || rq->body))
		rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	/* HTTP/1.1: one connection per request, so a cancel closes that
	 * request's connection and nothing else. */
	rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	if (rq->connect_timeout_ms > 0)
		rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
	return rc ? PARLEY_E_INVAL : 0;
}

void parley_xfer_start(struct parley_xfer_runner *run, struct parley_xfer *r)
{
	r->started_ns = r->last_byte_ns = parley_xfer_now_ns();
	r->next = run->active;
	run->active = r;
	run->nactive++;
	r->running = true;
	describe_where(r->rq.url, r->where, sizeof r->where);
	r->easy = curl_easy_init();
	int rc = r->easy ? configure(r) : PARLEY_E_NOMEM;
	if (rc == 0 && curl_multi_add_handle(run->multi, r->easy) != CURLM_OK)
		rc = PARLEY_E_NOMEM;
	if (rc != 0) {
		parley_xfer_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_INTERNAL,
			rc == PARLEY_E_NOMEM ? "out of memory starting a request to the service"
					     : "the request to the service could not be set up");
		return;
	}
	PARLEY_DEBUG("http %s request %llu started", r->label,
		     (unsigned long long)r->id);
}

/* A transfer curl has finished: decide how it ended. */
static void complete(struct parley_xfer_runner *run, struct parley_xfer *r, CURLcode result)
{
	char msg[320];
	if (!r->status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	long os_errno = 0;
	curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
	double connect_s = 0;
	curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME, &connect_s);
	long connect_ms = r->rq.connect_timeout_ms;
	detach(run, r);

	if (r->stop == PARLEY_XFER_STOP_BODY) { /* the reader had what it needed */
		parley_xfer_end(run, r, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, NULL);
		return;
	}
	if (r->stop == PARLEY_XFER_STOP_HEAD) {
		parley_utf8_format(msg, sizeof msg,
				   "the service's answer (HTTP %ld, %s) was not usable", r->status,
				   r->ctype[0] ? r->ctype : "no Content-Type");
		parley_xfer_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_BROKEN, msg);
		return;
	}
	if (r->status && r->status / 100 != 2) {
		parley_utf8_format(msg, sizeof msg, "the service answered HTTP %ld", r->status);
		parley_xfer_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_HTTP, msg);
		return;
	}
	if (result == CURLE_OK) {
		if (r->cb.head && !r->head_done)
			report_head(r); /* an answer without a blank line (cannot happen in HTTP/1.1) */
		parley_xfer_end(run, r, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE, NULL);
		return;
	}
	enum parley_speech_cause cause;
	char oserr[128] = "";
	switch (result) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		parley_utf8_format(msg, sizeof msg,
				   "cannot connect to the service at %s: its host name does not resolve",
				   r->where);
		break;
	case CURLE_COULDNT_CONNECT:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		if (os_errno && strerror_r((int)os_errno, oserr, sizeof oserr) != 0)
			oserr[0] = '\0';
		parley_utf8_format(msg, sizeof msg, "cannot connect to the service at %s: %s",
				   r->where, oserr[0] ? oserr : "connection failed");
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		parley_utf8_format(msg, sizeof msg, "cannot connect to the service at %s: %s",
				   r->where, curl_easy_strerror(result));
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		cause = PARLEY_SPEECH_CAUSE_UNAVAILABLE;
		snprintf(msg, sizeof msg, "the service's URL is not usable (%s)",
			 curl_easy_strerror(result));
		break;
	case CURLE_OPERATION_TIMEDOUT: /* only curl's connect timeout is set */
		cause = PARLEY_SPEECH_CAUSE_TIMEOUT;
		if (connect_s <= 0)
			parley_utf8_format(msg, sizeof msg,
					   "cannot connect to the service at %s within %ld ms",
					   r->where, connect_ms);
		else
			parley_utf8_format(msg, sizeof msg, "the service at %s timed out", r->where);
		break;
	case CURLE_OUT_OF_MEMORY:
		cause = PARLEY_SPEECH_CAUSE_INTERNAL;
		snprintf(msg, sizeof msg, "out of memory during a request to the service");
		break;
	default:
		cause = PARLEY_SPEECH_CAUSE_BROKEN;
		parley_utf8_format(msg, sizeof msg, "the connection to the service at %s broke %s",
				   r->where,
				   r->got_body ? "mid-answer"
				   : r->got_byte ? "before the answer's body"
						 : "before any answer");
		break;
	}
	parley_xfer_end(run, r, PARLEY_SPEECH_ERROR, cause, msg);
}

/* Reads what curl has finished. */
static void collect(struct parley_xfer_runner *run)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(run->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct parley_xfer *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		complete(run, r, m->data.result);
	}
}

void parley_xfer_due_in(int64_t now, int64_t deadline, long *next)
{
	int64_t ms = (deadline - now + 999999) / 1000000;
	if (ms < 0)
		ms = 0;
	if (ms < *next)
		*next = (long)ms;
}

/* Ends active transfers past a deadline; lowers *next to the ms until the
 * next one is due. */
static void tick(struct parley_xfer_runner *run, long *next)
{
	int64_t now = parley_xfer_now_ns();
	struct parley_xfer *r = run->active;
	while (r) {
		struct parley_xfer *nx = r->next;
		const struct parley_http_request *q = &r->rq;
		char msg[200] = "";
		if (q->total_timeout_ms > 0) {
			int64_t d = (q->total_from_submit ? r->submitted_ns : r->started_ns) +
				    ms_ns(q->total_timeout_ms);
			if (now >= d)
				snprintf(msg, sizeof msg, "the service did not finish within %ld ms",
					 q->total_timeout_ms);
			else
				parley_xfer_due_in(now, d, next);
		}
		if (!msg[0] && !r->got_byte && q->first_byte_timeout_ms > 0) {
			int64_t d = r->started_ns + ms_ns(q->first_byte_timeout_ms);
			if (now >= d)
				snprintf(msg, sizeof msg, "the service did not answer within %ld ms",
					 q->first_byte_timeout_ms);
			else
				parley_xfer_due_in(now, d, next);
		}
		if (!msg[0] && r->got_byte && q->stall_timeout_ms > 0) {
			int64_t d = r->last_byte_ns + ms_ns(q->stall_timeout_ms);
			if (now >= d)
				snprintf(msg, sizeof msg,
					 "the service stopped sending for %ld ms mid-answer",
					 q->stall_timeout_ms);
			else
				parley_xfer_due_in(now, d, next);
		}
		if (msg[0]) {
			parley_xfer_end(run, r, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_TIMEOUT, msg);
		}
		r = nx;
	}
}

void parley_xfer_step(struct parley_xfer_runner *run, long *next)
{
	int running = 0;
	curl_multi_perform(run->multi, &running);
	collect(run);
	tick(run, next);
	long ct = -1;
	curl_multi_timeout(run->multi, &ct);
	if (ct >= 0 && ct < *next)
		*next = ct;
}

