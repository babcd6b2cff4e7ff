/*
 * ws.c - the WebSocket connections of every endpoint (/ws, /v1/realtime),
 * whatever protocol they speak: session creation and teardown (with the
 * server-wide and per-address caps), message reassembly with size caps,
 * inbound traffic as proof of life for the idle timeout, and the outbound
 * write path (one message per WRITEABLE callback, re-armed while more is
 * queued). Access control happened before (gate.c). What the frames mean
 * is the wire's (protocol/wire.h), chosen at ESTABLISHED by the path: it
 * supplies the session's events and state, the hello, the frame caps and
 * the words of a refusal; this file never looks inside a message.
 *
 * A client that does not read is closed however it behaves otherwise: its
 * queue overflowing (per session or the server-wide budget) closes it at
 * once; a queue that holds messages while nothing has been written for
 * --write-timeout s closes it too (write progress, not inbound traffic,
 * is what counts, so a client sending a tiny frame every second while
 * never reading cannot keep its queued bytes). A session that asked to end
 * (parley_session_end) is no longer heard, and is dropped after
 * END_GRACE_S s if its queue has not drained by then.
 * Event-loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "server/access.h"
#include "server/internal.h"
#include "util/err.h"
#include "util/log.h"

#define RX_KEEP_BYTES 8192 /* reassembly buffers larger than this are freed after use */
#define VALIDITY_EVERY_NS 1000000000LL /* inbound traffic resets the idle timer at most 1/s */
#define PARLEY_CLOSE_TRY_AGAIN_LATER 1013 /* RFC 6455 registry; not in lws 4.1 */
#define END_GRACE_S 5 /* a session that broke a limit: its queue may be sent this long */

static void link_conn(struct parley_server *srv, struct conn *c)
{
	c->prev = NULL;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
}

static void unlink_conn(struct parley_server *srv, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (srv->conns == c)
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

void parley_ws_broadcast_status(struct parley_server *srv)
{
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (c->session)
			parley_session_report_status(c->session);
	}
}

void parley_ws_close_all(struct parley_server *srv)
{
	for (struct conn *c = srv->conns; c; c = c->next) {
		c->close_status = LWS_CLOSE_STATUS_GOINGAWAY;
		lws_callback_on_writable(c->wsi);
	}
}

/* Sends error `code` in the wire's words, then closes with 1013 (a later
 * try may succeed). */
static int reject(struct lws *wsi, struct conn *c, enum parley_proto_error code, const char *msg,
		  const char *reason)
{
	c->reject = c->wire->refusal(code, msg);
	c->close_reason = reason;
	c->close_status = PARLEY_CLOSE_TRY_AGAIN_LATER;
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_established(struct parley_server *srv, struct lws *wsi, struct conn *c)
{
	c->wsi = wsi;
	link_conn(srv, c);

	char peer[64] = "?";
	lws_get_peer_simple(wsi, peer, sizeof peer);
	int e = parley_gate_endpoint(wsi);
	if (e < 0)
		return -1; /* FILTER_PROTOCOL_CONNECTION let no other path through */
	c->endpoint = (enum parley_endpoint)e;
	c->wire = parley_gate_endpoint_wire(c->endpoint);
	const char *path = parley_gate_endpoint_path(c->endpoint);

	if (parley_gauge_get(&srv->m_live) >= srv->cfg->max_sessions) {
		PARLEY_WARN("connection from %s refused: %d sessions already open (--max-sessions) (%s)",
			    peer, srv->cfg->max_sessions, path);
		parley_counter_add(&srv->m_refused[PARLEY_REFUSED_FULL], 1);
		return reject(wsi, c, PARLEY_PE_SERVER_FULL, "the server is full; try again later",
			      "server full");
	}
	parley_peers_key(peer, c->peer_key);
	int rc = parley_peers_acquire(srv->peers, c->peer_key, srv->cfg->max_sessions_per_ip);
	if (rc == PARLEY_E_FULL) {
		PARLEY_WARN("connection from %s refused: %d sessions already open from %s "
			    "(--max-sessions-per-ip) (%s)",
			    peer, srv->cfg->max_sessions_per_ip, c->peer_key, path);
		parley_counter_add(&srv->m_refused[PARLEY_REFUSED_PER_ADDRESS], 1);
		return reject(wsi, c, PARLEY_PE_TOO_MANY_SESSIONS,
			      "too many sessions from your address; close one and try again",
			      "too many sessions from this address");
	}
	if (rc != 0) {
		PARLEY_ERROR("out of memory counting sessions per address");
		return -1;
	}
	c->peer_counted = true;

	/* The request's headers are still readable here (lws drops them when
	 * ESTABLISHED returns). */
	struct parley_wire_facts facts;
	parley_gate_wire_facts(wsi, &facts);
	int err = 0;
	void *proto = c->wire->proto_new(&facts, &err);
	if (err) {
		PARLEY_ERROR("out of memory creating a session");
		return -1; /* CLOSED follows and releases the address count */
	}
	struct parley_session_params p = {
		.id = ++srv->next_session_id,
		.events = c->wire->events,
		.workers = srv->workers,
		.wake = parley_server_wake,
		.owner = srv,
		.llm = srv->llm,
		.speech = &srv->speech,
		.history_chars = (size_t)srv->cfg->history_tokens * PARLEY_CHARS_PER_TOKEN,
		.limits = &srv->limits,
		.speculate_ms = srv->cfg->speculate ? srv->cfg->speculate_ms : 0,
		.merge_turns = srv->cfg->turn_merging,
		.assume_playback = c->wire->assume_playback,
		/* not on the Realtime wire: its clients truncate at the onset
		 * (docs/realtime.md, "False interruptions") */
		.resume_false_interruptions = srv->cfg->false_interruptions_resume &&
					      !c->wire->assume_playback,
		.echo_mode = (enum parley_echo_mode)srv->cfg->echo_guard,
		.proto = proto,
		.proto_free = c->wire->proto_free,
	};
	c->session = parley_session_create(&p);
	if (!c->session) {
		if (proto && c->wire->proto_free)
			c->wire->proto_free(proto);
		PARLEY_ERROR("out of memory creating a session");
		return -1;
	}
	parley_session_set_transport(c->session, c);
	c->validity_ns = parley_now_ns();
	c->written_ns = c->validity_ns;
	parley_gauge_add(&srv->m_live, 1);
	parley_counter_add(&srv->m_total, 1);
	parley_gauge_add(&srv->m_live_by[c->endpoint], 1);
	parley_counter_add(&srv->m_total_by[c->endpoint], 1);

	if (c->endpoint == PARLEY_ENDPOINT_REALTIME) {
		char esc[160];
		parley_access_escape(facts.model, esc, sizeof esc);
		PARLEY_INFO("client connected from %s (session %llu, %s, model '%s', %s dialect)",
			    peer, (unsigned long long)parley_session_id(c->session), path, esc,
			    facts.beta ? "beta" : "GA");
	} else {
		PARLEY_INFO("client connected from %s (session %llu, %s)", peer,
			    (unsigned long long)parley_session_id(c->session), path);
	}
	c->wire->hello(c->session);
	return 0;
}

static void on_closed(struct parley_server *srv, struct conn *c)
{
	unlink_conn(srv, c);
	free(c->rx);
	c->rx = NULL;
	parley_msg_free(c->reject);
	c->reject = NULL;
	if (c->peer_counted) {
		parley_peers_release(srv->peers, c->peer_key);
		c->peer_counted = false;
	}
	if (!c->session)
		return;
	struct parley_session *s = c->session;
	c->session = NULL;
	parley_session_set_transport(s, NULL);
	parley_session_close(s);
	parley_gauge_add(&srv->m_live, -1);
	parley_gauge_add(&srv->m_live_by[c->endpoint], -1);
	PARLEY_INFO("session %llu closed after %.1f s (%s)", (unsigned long long)parley_session_id(s),
		    (double)(parley_now_ns() - parley_session_created_ns(s)) / 1e9,
		    parley_gate_endpoint_path(c->endpoint));
	parley_session_unref(s);
}

/* The session asked to end (it broke a limit): from now on nothing the
 * client sends is heard; the connection closes once the queue is sent
 * (on_writeable), and is dropped after END_GRACE_S s if the client does
 * not drain it. Returns whether the session is ending. */
static bool check_end(struct conn *c)
{
	if (!c->session || !parley_session_end_reason(c->session))
		return false;
	if (!c->end_armed && !c->ending && !c->overflow_handled && !c->stalled) {
		c->end_armed = true;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, END_GRACE_S);
		lws_callback_on_writable(c->wsi);
	}
	return true;
}

static int on_receive(struct lws *wsi, struct conn *c, const void *in, size_t len)
{
	if (!c->session || parley_session_is_closing(c->session) || check_end(c))
		return 0;

	/* Any message proves the peer alive, like a pong: lws pings only after
	 * --ws-ping-interval s without either, and hangs up after
	 * --idle-timeout s (see server.c). Rate-limited: it re-sorts a timer. */
	int64_t now = parley_now_ns();
	if (now - c->validity_ns >= VALIDITY_EVERY_NS) {
		c->validity_ns = now;
		lws_validity_confirmed(wsi);
	}

	if (c->rx_len == 0 && !c->rx_discarding)
		c->rx_binary = lws_frame_is_binary(wsi);

	size_t cap = c->wire->max_frame(c->rx_binary);
	if (!c->rx_discarding) {
		if (c->rx_len + len > cap) {
			c->rx_discarding = true;
		} else {
			if (c->rx_len + len > c->rx_cap) {
				size_t ncap = c->rx_cap ? c->rx_cap : 4096;
				while (ncap < c->rx_len + len)
					ncap *= 2;
				if (ncap > cap)
					ncap = cap;
				unsigned char *n = realloc(c->rx, ncap + 1);
				if (!n)
					return -1;
				c->rx = n;
				c->rx_cap = ncap;
			}
			if (len)
				memcpy(c->rx + c->rx_len, in, len);
		}
	}
	c->rx_len += len; /* counts discarded bytes too, for the error message */

	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;

	static const unsigned char empty[1];
	const unsigned char *msg = c->rx ? c->rx : empty;
	if (c->rx_discarding)
		c->wire->on_oversize(c->session, c->rx_binary, c->rx_len);
	else if (c->rx_binary)
		c->wire->on_binary(c->session, msg, c->rx_len);
	else
		c->wire->on_text(c->session, (const char *)msg, c->rx_len);
	check_end(c); /* this message may have broken a limit */

	c->rx_len = 0;
	c->rx_discarding = false;
	if (c->rx_cap > RX_KEEP_BYTES) {
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	return 0;
}

/* If the session's out-queue overflowed, closes the connection (once) and
 * returns true. */
static bool check_overflow(struct parley_server *srv, struct conn *c)
{
	char why[160];
	if (!c->session || !parley_session_overflowed(c->session, why, sizeof why))
		return false;
	if (!c->overflow_handled) {
		c->overflow_handled = true;
		PARLEY_WARN("session %llu: closing: the client is not reading its messages (%s)",
			    (unsigned long long)parley_session_id(c->session), why);
		parley_counter_add(&srv->m_overflows, 1);
		/* The socket may never become writable again: close without it. */
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	}
	return true;
}

void parley_ws_woken(struct parley_server *srv, struct conn *c)
{
	if (check_overflow(srv, c))
		return;
	check_end(c);
	lws_callback_on_writable(c->wsi);
}

void parley_ws_housekeeping(struct parley_server *srv, struct conn *c, int64_t now_ns)
{
	if (!c->session || c->ending || c->overflow_handled || c->stalled || check_end(c))
		return;
	if (parley_session_queued(c->session) == 0) {
		c->written_ns = now_ns;
		return;
	}
	int64_t quiet = now_ns - c->written_ns;
	if (quiet < (int64_t)srv->cfg->write_timeout * 1000000000LL)
		return;
	c->stalled = true;
	PARLEY_WARN("session %llu: closing: the client is not reading its messages (%zu waiting, "
		    "nothing written for %.1f s, --write-timeout)",
		    (unsigned long long)parley_session_id(c->session), parley_session_queued(c->session),
		    (double)quiet / 1e9);
	parley_counter_add(&srv->m_overflows, 1);
	/* Its socket is not writable (or it would have been written): drop it. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	lws_callback_on_writable(c->wsi);
}

/* Asks lws to close with a status and reason; returns the -1 that does it.
 * lws may still call WRITEABLE once more: `ending` makes that a no-op (a
 * second -1 would reset the socket and the client would see 1006). */
static int close_with(struct conn *c, int status, const char *reason)
{
	c->ending = true;
	lws_close_reason(c->wsi, (enum lws_close_status)status, (unsigned char *)reason,
			 strlen(reason));
	return -1;
}

static int write_msg(struct parley_server *srv, struct lws *wsi, struct conn *c,
		     struct parley_msg *m)
{
	int n = lws_write(wsi, m->data, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	int tag = m->tag;
	size_t len = m->len;
	parley_msg_free(m);
	if (n < (int)len)
		return -1;
	c->written_ns = parley_now_ns();
	bool hello = c->wire->count_out(tag);
	if (hello && c->session && !c->ready_observed) {
		c->ready_observed = true;
		parley_histogram_observe(&srv->m_ready_latency,
					 (double)(parley_now_ns() -
						  parley_session_created_ns(c->session)) / 1e9);
	}
	return 0;
}

static int on_writeable(struct parley_server *srv, struct lws *wsi, struct conn *c)
{
	if (c->ending)
		return 0;
	if (c->reject) {
		struct parley_msg *m = c->reject;
		c->reject = NULL;
		if (write_msg(srv, wsi, c, m))
			return -1;
		lws_callback_on_writable(wsi); /* the close follows on the next turn */
		return 0;
	}
	if (c->close_status == LWS_CLOSE_STATUS_GOINGAWAY)
		return close_with(c, c->close_status, "server shutting down");
	if (!c->session)
		return close_with(c, c->close_status ? c->close_status : 1011,
				  c->close_reason ? c->close_reason : "refused");

	struct parley_session *s = c->session;
	if (c->stalled)
		return close_with(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading");
	if (check_overflow(srv, c))
		return close_with(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				  "too many unread messages");
	bool more = false;
	struct parley_msg *m = parley_session_pop(s, &more);
	if (m && write_msg(srv, wsi, c, m))
		return -1;
	/* The session broke a limit: close once what it queued is sent. */
	const char *end = parley_session_end_reason(s);
	if (!m && end)
		return close_with(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, end);
	if (more || end)
		lws_callback_on_writable(wsi);
	return 0;
}

/* lws bound the protocol the client offered first ("parley" when it
 * offered none): /ws takes only "parley", as before "realtime" existed;
 * /v1/realtime either (a client offering "parley" gets it echoed). */
static bool protocol_fits(struct lws *wsi, int endpoint)
{
	const struct lws_protocols *p = lws_get_protocol(wsi);
	return endpoint == PARLEY_ENDPOINT_REALTIME || (p && strcmp(p->name, "parley") == 0);
}

int parley_ws_callback(struct parley_server *srv, struct lws *wsi,
		       enum lws_callback_reasons reason, struct conn *c, void *in, size_t len)
{
	int e;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (srv->stopping)
			return 1;
		e = parley_gate_endpoint(wsi);
		if (e < 0 || !protocol_fits(wsi, e)) {
			PARLEY_DEBUG("WebSocket upgrade refused (path or subprotocol)");
			return 1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(srv, wsi, c);
	case LWS_CALLBACK_RECEIVE:
		return on_receive(wsi, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(srv, wsi, c);
	case LWS_CALLBACK_CLOSED:
		on_closed(srv, c);
		return 0;
	default:
		return 0;
	}
}
