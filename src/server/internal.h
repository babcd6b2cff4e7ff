/*
 * internal.h - state shared by the server's files (server.c, http.c, ws.c).
 * Everything here belongs to the event-loop thread unless a field says
 * otherwise.
 */
#ifndef PARLEY_SERVER_INTERNAL_H
#define PARLEY_SERVER_INTERNAL_H

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/bind.h"
#include "protocol/wire.h"
#include "server/peers.h"
#include "session/limits.h"
#include "session/session.h"
#include "speech/speech.h"
#include "util/config.h"
#include "util/metrics.h"
#include "util/workers.h"

struct parley_speech_warmup;

_Static_assert(LWS_PRE <= PARLEY_MSG_HEADROOM, "out-queue headroom must fit LWS_PRE");

/* Why a connection was refused, for parley_connections_refused_total. */
enum parley_refused {
	PARLEY_REFUSED_HOST,       /* 403: foreign Host on a loopback bind */
	PARLEY_REFUSED_ORIGIN,     /* 403: Origin not allowed */
	PARLEY_REFUSED_TOKEN,      /* 401: missing or wrong token */
	PARLEY_REFUSED_FULL,       /* server_full */
	PARLEY_REFUSED_PER_ADDRESS, /* too_many_sessions */
	PARLEY_REFUSED_COUNT
};

/* The WebSocket endpoints, by the upgrade's path (gate.c's table): each
 * is served by one wire protocol (protocol/wire.h). */
enum parley_endpoint {
	PARLEY_ENDPOINT_NATIVE,   /* /ws: parley_native_wire */
	PARLEY_ENDPOINT_REALTIME, /* /v1/realtime: parley_realtime_wire */
	PARLEY_ENDPOINT_COUNT
};

/* Per-connection state (lws "per session data"), zeroed by lws. lws
 * reallocates it when the upgrade binds a protocol other than the HTTP
 * one ("realtime"), so nothing is kept here before ESTABLISHED. */
struct conn {
	struct lws *wsi;
	/* WebSocket */
	const struct parley_wire *wire; /* set at ESTABLISHED from the path */
	enum parley_endpoint endpoint;
	struct parley_session *session; /* one reference, NULL when rejected */
	struct conn *prev, *next;       /* in srv->conns */
	unsigned char *rx;              /* message being reassembled */
	size_t rx_len, rx_cap;
	bool rx_binary;
	bool rx_discarding; /* over the cap: drop until the final fragment */
	bool ready_observed;
	bool overflow_handled;
	bool ending; /* a close was asked of lws: write nothing more */
	bool end_armed; /* the session's end reason was seen: input ignored, kill timer armed */
	bool stalled;   /* closing: nothing written for --write-timeout with messages waiting */
	int64_t written_ns; /* last write to the socket, or last time the out-queue was seen empty */
	struct parley_msg *reject; /* server_full, too_many_sessions: send this, then close */
	const char *close_reason;  /* static text for that close */
	int close_status;          /* nonzero: close with this status after draining */
	char peer_key[PARLEY_PEER_KEY_MAX]; /* counted in srv->peers while peer_counted */
	bool peer_counted;
	int64_t validity_ns; /* last time inbound traffic reset lws's idle timer */
	/* HTTP */
	char *body; /* response body to write on HTTP_WRITEABLE */
	size_t body_len;
};

struct parley_server {
	struct lws_context *ctx;
	struct lws_vhost *vhost;       /* the main port */
	struct lws_vhost *admin_vhost; /* --admin-port, or NULL */
	int admin_port;                /* bound admin port, or -1 */
	bool main_loopback, admin_loopback; /* bound to loopback: Host must be a loopback name */
	struct parley_bind main_bind, admin_bind; /* --host, --admin-host as lws binds them */
	lws_retry_bo_t idle_policy;    /* WebSocket ping and idle timeout, per vhost */
	struct parley_peers *peers;    /* sessions per client address */
	const struct parley_config *cfg;
	struct parley_workers *workers;
	struct parley_llm_engine *llm;
	struct parley_speech speech; /* stt engine + default voice, for every session */
	struct parley_speech_env speech_env;   /* what the speech engines run on */
	struct parley_http_pool *http;         /* remote speech engines' requests; NULL when none is configured */
	struct parley_speech_warmup *speech_warmup;
	struct parley_session_limits limits; /* sizes and the queued-bytes budget, for every session */
	atomic_bool status_broadcast; /* LLM state changed: resend status */
	int port;

	/* wake list: sessions whose out-queue has something; guarded by wake_lock */
	pthread_mutex_t wake_lock;
	struct parley_session **wake;
	size_t nwake, wake_cap;

	volatile sig_atomic_t stop_requested; /* set from a signal handler */
	bool stopping;                         /* loop thread: shutdown begun */
	struct conn *conns;                    /* open WebSocket connections */
	uint64_t next_session_id;
	lws_sorted_usec_list_t tick;           /* shutdown timer */
	lws_sorted_usec_list_t housekeeping;   /* periodic: quiet listeners */

	struct parley_gauge m_live;
	struct parley_counter m_total;
	struct parley_counter m_overflows;
	struct parley_gauge m_ready;
	struct parley_histogram m_ready_latency;
	struct parley_counter m_refused[PARLEY_REFUSED_COUNT]; /* by enum parley_refused */
	struct parley_gauge m_live_by[PARLEY_ENDPOINT_COUNT];    /* by enum parley_endpoint */
	struct parley_counter m_total_by[PARLEY_ENDPOINT_COUNT];
};

/* http.c: handles the HTTP callbacks of protocols[0]. */
int parley_http_callback(struct parley_server *srv, struct lws *wsi,
			 enum lws_callback_reasons reason, struct conn *c, void *in, size_t len);

/* gate.c: LWS_CALLBACK_HTTP_CONFIRM_UPGRADE. Returns 0 to let the upgrade
 * to /ws or /v1/realtime proceed, 1 after writing a refusal (404 path,
 * 403 Host or Origin, 401 token, 400 a subprotocol list lws would drop),
 * -1 to hang up. */
int parley_gate_upgrade(struct parley_server *srv, struct lws *wsi, const char *upgrade);

/* gate.c: the endpoint of the request's path (the query is not part of
 * it), or -1 for any other path. Readable until ESTABLISHED returns. */
int parley_gate_endpoint(struct lws *wsi);

/* gate.c: an endpoint's path ("/ws") and wire (static). */
const char *parley_gate_endpoint_path(enum parley_endpoint e);
const struct parley_wire *parley_gate_endpoint_wire(enum parley_endpoint e);

/* gate.c, at ESTABLISHED (the request's headers are still there): what the
 * upgrade said that the wire needs (Realtime: ?model=, the beta dialect). */
void parley_gate_wire_facts(struct lws *wsi, struct parley_wire_facts *f);

/* gate.c: true when wsi arrived on the admin vhost. */
bool parley_gate_is_admin(const struct parley_server *srv, struct lws *wsi);

/* gate.c: copies the Host header to host ("" when absent) and returns
 * false when a loopback-bound vhost must refuse it (DNS rebinding). */
bool parley_gate_host_ok(const struct parley_server *srv, struct lws *wsi, char *host,
			 size_t hostlen);

/* gate.c: for /auth.json: true when no token is configured or the request's
 * "Authorization: Bearer" carries it; *given says whether it had one. */
bool parley_gate_token_given_ok(const struct parley_server *srv, struct lws *wsi, bool *given);

/* ws.c: handles the WebSocket callbacks of both protocols ("parley", "realtime"). */
int parley_ws_callback(struct parley_server *srv, struct lws *wsi,
		       enum lws_callback_reasons reason, struct conn *c, void *in, size_t len);

/* ws.c: the session's out-queue woke the loop: closes the connection if
 * the queue overflowed, arms the kill timer if the session asked to end,
 * else asks lws for a WRITEABLE callback. */
void parley_ws_woken(struct parley_server *srv, struct conn *c);

/* ws.c, from the 250 ms housekeeping timer: closes a connection whose
 * out-queue has held messages for --write-timeout s with nothing written
 * (a client that does not read; what it sends does not count), and arms
 * the kill timer of a session that asked to end. */
void parley_ws_housekeeping(struct parley_server *srv, struct conn *c, int64_t now_ns);

/* ws.c: sends every session a fresh status message. */
void parley_ws_broadcast_status(struct parley_server *srv);

/* ws.c: begins closing every session with status 1001 (shutdown). */
void parley_ws_close_all(struct parley_server *srv);

/* server.c: out-queue wake callback; arg is the session. Any thread. */
void parley_server_wake(void *arg);

#endif
