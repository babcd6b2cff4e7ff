/*
 * gate.c - applies the access rules of access.h to real requests: reads
 * Host, Origin and the credentials from libwebsockets' header table and
 * refuses a WebSocket upgrade with 404, 403, 401 or 400 (and one log line)
 * before any session exists. It also knows the WebSocket endpoints: which
 * path is served by which wire protocol (/ws native, /v1/realtime the
 * OpenAI Realtime one), and what the request tells that wire (the model
 * query, the beta dialect). Event-loop thread only.
 *
 * Subprotocols: lws (4.1.6) binds the first offered name that is one of
 * its protocols ("parley", "realtime"; server.c) and echoes it; with none
 * offered it binds "parley" and echoes nothing. It drops the connection,
 * without an answer, when the Sec-WebSocket-Protocol header is 127 bytes
 * or more, when a name it reads before finding a match is over 63 bytes,
 * or when no offered name matches. /v1/realtime checks the first two here
 * and answers 400 with the reason instead (its clients carry the key in
 * that header); /ws keeps lws's behaviour.
 *
 * Refusals are written at once from LWS_CALLBACK_HTTP_CONFIRM_UPGRADE
 * (headers and a short body in one write); lws then ends the transaction.
 * Header values are escaped in the log; the token never appears there.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/access.h"
#include "server/internal.h"
#include "util/log.h"
#include "util/utf8.h"

#define HDR_MAX 1024 /* longer Host/Origin/credential headers are refused */
#define LWS_PROTOCOLS_MAX 126 /* lws 4.1 drops a longer Sec-WebSocket-Protocol header */
#define LWS_PROTOCOL_NAME_MAX 63 /* ... and a longer name it reads before a match */

static const struct {
	const char *path;
	const struct parley_wire *wire;
} endpoints[PARLEY_ENDPOINT_COUNT] = {
	[PARLEY_ENDPOINT_NATIVE] = { "/ws", &parley_native_wire },
	[PARLEY_ENDPOINT_REALTIME] = { "/v1/realtime", &parley_realtime_wire },
};

const char *parley_gate_endpoint_path(enum parley_endpoint e)
{
	return endpoints[e].path;
}

const struct parley_wire *parley_gate_endpoint_wire(enum parley_endpoint e)
{
	return endpoints[e].wire;
}

/* lws keeps the query out of WSI_TOKEN_GET_URI: the path is compared whole. */
int parley_gate_endpoint(struct lws *wsi)
{
	char uri[64];
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
		return -1;
	for (int e = 0; e < PARLEY_ENDPOINT_COUNT; e++) {
		if (strcmp(uri, endpoints[e].path) == 0)
			return e;
	}
	return -1;
}

void parley_gate_wire_facts(struct lws *wsi, struct parley_wire_facts *f)
{
	char buf[HDR_MAX];
	memset(f, 0, sizeof *f);
	const char *model = lws_get_urlarg_by_name(wsi, "model=", buf, sizeof buf);
	if (model)
		parley_utf8_sanitize_into(model, strlen(model), f->model, sizeof f->model, NULL);
	/* OpenAI-Beta is not one of lws's known headers: it is kept by name
	 * (lowercased, with the colon). */
	if (lws_hdr_custom_copy(wsi, buf, sizeof buf, "openai-beta:", 12) > 0 &&
	    strstr(buf, "realtime=v1"))
		f->beta = true;
	if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL) > 0 &&
	    parley_access_protocol_offered(buf, "openai-beta.realtime-v1"))
		f->beta = true;
}

/* /v1/realtime: a Sec-WebSocket-Protocol header lws would drop without an
 * answer. Returns why (static), or NULL when lws will take it. */
static const char *protocols_unusable(struct lws *wsi)
{
	char buf[HDR_MAX];
	int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL);
	if (n < 0 || n > LWS_PROTOCOLS_MAX)
		return "400 the Sec-WebSocket-Protocol header is over 126 bytes; send the key in "
		       "the Authorization header (Bearer) instead\n";
	/* The names lws reads before it finds one of its own. */
	for (const char *p = buf; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		size_t len = (size_t)(e - p);
		if ((len == 8 && strncmp(p, "realtime", 8) == 0) ||
		    (len == 6 && strncmp(p, "parley", 6) == 0))
			return NULL;
		if (len > LWS_PROTOCOL_NAME_MAX)
			return "400 a subprotocol of over 63 bytes comes before \"realtime\"; offer "
			       "\"realtime\" first\n";
		p = e;
	}
	return n ? "400 offer the \"realtime\" subprotocol (or none)\n" : NULL;
}

bool parley_gate_is_admin(const struct parley_server *srv, struct lws *wsi)
{
	return srv->admin_vhost && lws_get_vhost(wsi) == srv->admin_vhost;
}

bool parley_gate_host_ok(const struct parley_server *srv, struct lws *wsi, char *host,
			 size_t hostlen)
{
	int n = lws_hdr_copy(wsi, host, (int)hostlen, WSI_TOKEN_HOST);
	if (n < 0) {
		host[0] = '\0';
		return false; /* too long to be a name of ours */
	}
	bool loopback = parley_gate_is_admin(srv, wsi) ? srv->admin_loopback : srv->main_loopback;
	/* No Host at all is HTTP/1.0 from a non-browser client: browsers
	 * always send one, so it cannot be a rebinding attack. */
	return !loopback || n == 0 || parley_access_host_is_loopback(host);
}

/* Writes a complete short text/plain answer now. Returns 1 (the value
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE expects after a refusal) or -1 (hang
 * up) when it cannot. */
static int refuse(struct lws *wsi, unsigned status, const char *body, bool www_authenticate)
{
	unsigned char buf[LWS_PRE + 1536];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
	size_t len = strlen(body);
	static const char challenge[] = "Bearer realm=\"parley\"";

	if (lws_add_http_common_headers(wsi, status, "text/plain", len, &p, end))
		return -1;
	if (www_authenticate &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
					(const unsigned char *)challenge, sizeof challenge - 1, &p,
					end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end) || (size_t)(end - p) < len)
		return -1;
	memcpy(p, body, len);
	p += len;
	int n = (int)(p - start);
	if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP) != n)
		return -1;
	return 1;
}

enum cred { CRED_NONE, CRED_WRONG, CRED_OK };

static enum cred check_one(const char *given, size_t len, const char *want)
{
	return parley_access_token_equal(given, len, want) ? CRED_OK : CRED_WRONG;
}

/* The token may come in any of three places (four on /v1/realtime); any
 * one that matches lets the client in. A header too long to copy counts
 * as a wrong credential. */
static enum cred check_token(struct lws *wsi, const char *want, bool realtime)
{
	char buf[HDR_MAX];
	enum cred r = CRED_NONE;
	const char *t;
	size_t len;
	int n;

	n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n != 0) {
		r = CRED_WRONG;
		if (n > 0 && (t = parley_access_bearer(buf, &len)) &&
		    check_one(t, len, want) == CRED_OK)
			return CRED_OK;
	}
	n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL);
	if (n < 0) {
		r = CRED_WRONG;
	} else if (n > 0) {
		if ((t = parley_access_token_in_protocols(buf, &len))) {
			if (check_one(t, len, want) == CRED_OK)
				return CRED_OK;
			r = CRED_WRONG;
		}
		if (realtime && (t = parley_access_protocol_value(
					 buf, PARLEY_REALTIME_KEY_SUBPROTOCOL_PREFIX, &len))) {
			if (check_one(t, len, want) == CRED_OK)
				return CRED_OK;
			r = CRED_WRONG;
		}
	}
	t = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof buf);
	if (t) {
		if (check_one(t, strlen(t), want) == CRED_OK)
			return CRED_OK;
		r = CRED_WRONG;
	}
	return r;
}

int parley_gate_upgrade(struct parley_server *srv, struct lws *wsi, const char *upgrade)
{
	char peer[64] = "?", uri[256] = "", host[HDR_MAX], origin[HDR_MAX], esc[300];
	lws_get_peer_simple(wsi, peer, sizeof peer);

	if (!upgrade || strcasecmp(upgrade, "websocket") != 0) {
		parley_access_escape(upgrade, esc, sizeof esc);
		PARLEY_DEBUG("refused an upgrade to '%s' from %s", esc, peer);
		return refuse(wsi, 403, "403 only WebSocket upgrades are served\n", false);
	}
	if (parley_gate_is_admin(srv, wsi)) {
		PARLEY_DEBUG("refused a WebSocket upgrade on the admin port from %s", peer);
		return refuse(wsi, 404, "404 the admin port serves no WebSocket\n", false);
	}
	int e = parley_gate_endpoint(wsi);
	if (e < 0) {
		if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0)
			uri[0] = '\0';
		parley_access_escape(uri, esc, sizeof esc);
		PARLEY_DEBUG("WebSocket upgrade refused for path '%s'", esc);
		return refuse(wsi, 404, "404 the WebSocket endpoints are /ws and /v1/realtime\n",
			      false);
	}
	const char *path = endpoints[e].path;
	if (!parley_gate_host_ok(srv, wsi, host, sizeof host)) {
		parley_access_escape(host, esc, sizeof esc);
		parley_counter_add(&srv->m_refused[PARLEY_REFUSED_HOST], 1);
		PARLEY_WARN("refused WebSocket from %s: Host '%s' is not a loopback name and "
			    "parley listens on loopback only (DNS rebinding?) (%s)",
			    peer, esc, path);
		return refuse(wsi, 403, "403 forbidden: this server answers only to localhost\n",
			      false);
	}
	int n = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
	if (n < 0 || (n > 0 && !parley_access_origin_allowed(origin, host, lws_is_ssl(wsi) != 0,
							      srv->cfg->allowed_origins))) {
		parley_access_escape(n < 0 ? "(too long)" : origin, esc, sizeof esc);
		parley_counter_add(&srv->m_refused[PARLEY_REFUSED_ORIGIN], 1);
		PARLEY_WARN("refused WebSocket from %s: Origin '%s' is not allowed (see "
			    "--allowed-origins) (%s)",
			    peer, esc, path);
		return refuse(wsi, 403, "403 forbidden: this page's origin may not use parley\n",
			      false);
	}
	bool realtime = e == PARLEY_ENDPOINT_REALTIME;
	if (srv->cfg->auth_token[0]) {
		enum cred c = check_token(wsi, srv->cfg->auth_token, realtime);
		if (c != CRED_OK) {
			parley_counter_add(&srv->m_refused[PARLEY_REFUSED_TOKEN], 1);
			PARLEY_WARN("refused WebSocket from %s: %s token (%s)", peer,
				    c == CRED_NONE ? "missing" : "wrong", path);
			return refuse(wsi, 401, "401 a valid token is required\n", true);
		}
	}
	const char *why = realtime ? protocols_unusable(wsi) : NULL;
	if (why) {
		PARLEY_WARN("refused WebSocket from %s: a subprotocol list libwebsockets cannot "
			    "take (%s): %.*s",
			    peer, path, (int)strcspn(why + 4, "\n"), why + 4);
		return refuse(wsi, 400, why, false);
	}
	return 0;
}

bool parley_gate_token_given_ok(const struct parley_server *srv, struct lws *wsi, bool *given)
{
	char buf[HDR_MAX];
	const char *t;
	size_t len;
	*given = false;
	if (!srv->cfg->auth_token[0])
		return true;
	int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n == 0)
		return false;
	*given = true;
	return n > 0 && (t = parley_access_bearer(buf, &len)) &&
	       parley_access_token_equal(t, len, srv->cfg->auth_token);
}
