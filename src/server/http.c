/*
 * http.c - plain HTTP: the browser client's files from the web root,
 * /auth.json, and /healthz, /readyz, /metrics (the last two only on the
 * admin port when there is one). A loopback-bound port refuses a Host that
 * is not a loopback name (gate.c). Event-loop thread only.
 *
 * Dynamic answers are small: headers are written in the HTTP callback, the
 * body (kept in the connection) on the next HTTP_WRITEABLE. Files go through
 * lws_serve_http_file(), which streams them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/access.h"
#include "server/internal.h"
#include "server/mime.h"
#include "server/path.h"
#include "util/err.h"
#include "util/log.h"
#include "util/readiness.h"

/* Takes ownership of body (malloc'd with LWS_PRE bytes of headroom). */
static int respond(struct lws *wsi, struct conn *c, unsigned status, const char *type,
		   char *body, size_t len)
{
	unsigned char buf[LWS_PRE + 1024];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;

	if (lws_add_http_common_headers(wsi, status, type, len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end)) {
		free(body);
		return 1;
	}
	free(c->body);
	c->body = body;
	c->body_len = len;
	lws_callback_on_writable(wsi);
	return 0;
}

/* Copies text into a fresh LWS_PRE-headroom buffer and responds. */
static int respond_text(struct lws *wsi, struct conn *c, unsigned status, const char *type,
			const char *text)
{
	size_t len = strlen(text);
	char *body = malloc(LWS_PRE + len);
	if (!body)
		return 1;
	memcpy(body + LWS_PRE, text, len);
	return respond(wsi, c, status, type, body, len);
}

static int respond_readyz(struct lws *wsi, struct conn *c, struct parley_server *srv)
{
	char why[300], json[700];
	bool ready = parley_readiness_check(why, sizeof why);
	parley_gauge_set(&srv->m_ready, ready);
	if (ready)
		return respond_text(wsi, c, 200, "application/json", "{\"ready\":true}");
	/* why comes from our own components; escape quotes and backslashes anyway */
	char esc[620];
	size_t o = 0;
	for (size_t i = 0; why[i] && o + 2 < sizeof esc; i++) {
		if (why[i] == '"' || why[i] == '\\')
			esc[o++] = '\\';
		esc[o++] = why[i];
	}
	esc[o] = '\0';
	snprintf(json, sizeof json, "{\"ready\":false,\"reason\":\"%s\"}", esc);
	return respond_text(wsi, c, 503, "application/json", json);
}

static int respond_metrics(struct lws *wsi, struct conn *c, struct parley_server *srv)
{
	parley_gauge_set(&srv->m_ready, parley_readiness_check(NULL, 0));
	size_t len;
	char *text = parley_metrics_render(&len);
	if (!text)
		return 1;
	char *body = malloc(LWS_PRE + len);
	if (!body) {
		free(text);
		return 1;
	}
	memcpy(body + LWS_PRE, text, len);
	free(text);
	return respond(wsi, c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

/* What the browser page needs to know before it connects: whether /ws
 * wants a token, and (when the request carries "Authorization: Bearer")
 * whether that one is right. */
static int respond_auth(struct lws *wsi, struct conn *c, struct parley_server *srv)
{
	bool given;
	bool ok = parley_gate_token_given_ok(srv, wsi, &given);
	char json[96];
	snprintf(json, sizeof json, "{\"token_required\":%s,\"token_valid\":%s}",
		 srv->cfg->auth_token[0] ? "true" : "false",
		 !srv->cfg->auth_token[0] ? "true" : !given ? "null" : ok ? "true" : "false");
	return respond_text(wsi, c, 200, "application/json", json);
}

static int serve_file(struct lws *wsi, struct conn *c, struct parley_server *srv, const char *uri,
		      bool get_or_head)
{
	char path[4096];
	int rc = parley_path_resolve_web(srv->cfg->web_root, uri, path, sizeof path);
	if (rc == PARLEY_E_INVAL) {
		PARLEY_DEBUG("http: refused path '%s'", uri);
		return respond_text(wsi, c, 403, "text/plain", "403 forbidden\n");
	}
	if (rc != 0)
		return respond_text(wsi, c, 404, "text/plain", "404 not found\n");
	if (!get_or_head)
		return respond_text(wsi, c, 405, "text/plain", "405 method not allowed\n");

	unsigned char hdr[256], *p = hdr, *end = hdr + sizeof hdr;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-cache", 8, &p, end))
		return 1;
	int n = lws_serve_http_file(wsi, path, parley_mime_type(path), (const char *)hdr,
				    (int)(p - hdr));
	if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
		return -1;
	return 0;
}

static int on_http(struct parley_server *srv, struct lws *wsi, struct conn *c, const char *uri)
{
	int get_len = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
	int head_len = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI);
	bool get = get_len > 0, head = head_len > 0;

	/* lws has percent-decoded the path: a decoded NUL ("%00") shortens the
	 * C string below the header's length. Never serve a truncated path. */
	int hdr_len = get ? get_len : head ? head_len : -1;
	if (hdr_len >= 0 && strlen(uri) != (size_t)hdr_len) {
		PARLEY_DEBUG("http: refused a path containing NUL");
		return respond_text(wsi, c, 403, "text/plain", "403 forbidden\n");
	}

	char host[1024];
	if (!parley_gate_host_ok(srv, wsi, host, sizeof host)) {
		char esc[300], peer[64] = "?";
		parley_access_escape(host, esc, sizeof esc);
		lws_get_peer_simple(wsi, peer, sizeof peer);
		parley_counter_add(&srv->m_refused[PARLEY_REFUSED_HOST], 1);
		PARLEY_WARN("refused HTTP request from %s: Host '%s' is not a loopback name and "
			    "parley listens on loopback only (DNS rebinding?)",
			    peer, esc);
		return respond_text(wsi, c, 403, "text/plain",
				    "403 forbidden: this server answers only to localhost\n");
	}

	if (strcmp(uri, "/healthz") == 0)
		return respond_text(wsi, c, 200, "application/json", "{\"status\":\"ok\"}");
	/* With --admin-port, the admin vhost serves only the probes and
	 * metrics, and the main port does not serve those two. */
	bool admin = parley_gate_is_admin(srv, wsi);
	bool admin_here = admin || srv->admin_vhost == NULL;
	if (strcmp(uri, "/readyz") == 0 && admin_here)
		return respond_readyz(wsi, c, srv);
	if (strcmp(uri, "/metrics") == 0 && admin_here)
		return respond_metrics(wsi, c, srv);
	if (admin || strcmp(uri, "/readyz") == 0 || strcmp(uri, "/metrics") == 0)
		return respond_text(wsi, c, 404, "text/plain", "404 not found\n");
	if (strcmp(uri, "/auth.json") == 0)
		return respond_auth(wsi, c, srv);
	if (strcmp(uri, "/ws") == 0)
		return respond_text(wsi, c, 426, "text/plain",
				    "426 this is the WebSocket endpoint: connect with a "
				    "WebSocket client\n");
	return serve_file(wsi, c, srv, uri, get || head);
}

int parley_http_callback(struct parley_server *srv, struct lws *wsi,
			 enum lws_callback_reasons reason, struct conn *c, void *in, size_t len)
{
	int n;

	if (!c && reason != LWS_CALLBACK_CLOSED_HTTP)
		return -1;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(srv, wsi, c, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!c->body)
			return 0;
		n = lws_write(wsi, (unsigned char *)c->body + LWS_PRE, c->body_len,
			      LWS_WRITE_HTTP_FINAL);
		free(c->body);
		c->body = NULL;
		if (n < 0)
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_BODY:
		return 0; /* request bodies are not used; the answer was already chosen */
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c) { /* NULL when lws refused the request before allocating it */
			free(c->body);
			c->body = NULL;
		}
		return 0;
	default:
		return 0;
	}
}
