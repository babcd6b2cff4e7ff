#include "server/server.h"

#include <stdlib.h>
#include <string.h>

#include "llm/engine.h"
#include "session/inrate.h"
#include "session/stages.h"
#include "speech/warmup.h"
#include "stt/stt.h"
#include "text/eot_lm.h"
#include "tts/tts.h"
#include "protocol/native.h"
#include "protocol/realtime.h"
#include "net/http.h"
#include "server/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/readiness.h"

#define SHUTDOWN_GRACE_NS 1500000000LL /* then the context is torn down anyway */
#define SHUTDOWN_TICK_US (50 * LWS_US_PER_MS)

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len);

/* protocols[0] handles HTTP and, since clients connect to /ws without a
 * subprotocol, the WebSocket too. "realtime" is there only to be named:
 * lws binds (and echoes) the first offered subprotocol it knows, and
 * refuses the upgrade when it knows none, so OpenAI's browser clients,
 * which offer "realtime, openai-insecure-api-key.KEY", need it. Both share
 * the callback and the per-connection state; ws.c dispatches on the path
 * (gate.c), not on the protocol. rx_buffer_size is the most lws hands over
 * per RECEIVE: larger messages arrive in pieces that ws.c reassembles. */
#define RX_BUFFER_BYTES 16384
static const struct lws_protocols protocols[] = {
	{ "parley", callback, sizeof(struct conn), RX_BUFFER_BYTES, 0, NULL, 0 },
	{ "realtime", callback, sizeof(struct conn), RX_BUFFER_BYTES, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	parley_log(level == LLL_ERR ? PARLEY_LOG_ERROR : PARLEY_LOG_WARN, "lws: %.*s", (int)n,
		   line);
}

void parley_server_wake(void *arg)
{
	struct parley_session *s = arg;
	struct parley_server *srv = parley_session_owner(s);
	bool ok = true;

	pthread_mutex_lock(&srv->wake_lock);
	if (srv->nwake == srv->wake_cap) {
		size_t cap = srv->wake_cap ? srv->wake_cap * 2 : 64;
		struct parley_session **n = realloc(srv->wake, cap * sizeof *n);
		if (n) {
			srv->wake = n;
			srv->wake_cap = cap;
		} else {
			ok = false;
		}
	}
	if (ok) {
		parley_session_ref(s);
		srv->wake[srv->nwake++] = s;
	}
	pthread_mutex_unlock(&srv->wake_lock);
	if (!ok)
		PARLEY_ERROR("session %llu: out of memory queueing a wake-up",
			     (unsigned long long)parley_session_id(s));
	lws_cancel_service(srv->ctx);
}

/* Loop thread: asks lws for a WRITEABLE callback on every woken session. */
static void drain_wakes(struct parley_server *srv)
{
	pthread_mutex_lock(&srv->wake_lock);
	struct parley_session **list = srv->wake;
	size_t n = srv->nwake;
	srv->wake = NULL;
	srv->nwake = srv->wake_cap = 0;
	pthread_mutex_unlock(&srv->wake_lock);

	for (size_t i = 0; i < n; i++) {
		struct conn *c = parley_session_transport(list[i]);
		if (c && c->wsi)
			parley_ws_woken(srv, c);
		parley_session_unref(list[i]);
	}
	free(list);
}

#define HOUSEKEEPING_US (250 * LWS_US_PER_MS)

/* Loop thread, every 250 ms: listeners whose client went quiet mid-utterance
 * get a chance to end the turn (see parley_session_poke_listener); clients
 * that stopped reading, and sessions that asked to end, are closed (ws.c). */
static void housekeeping(lws_sorted_usec_list_t *sul)
{
	struct parley_server *srv = lws_container_of(sul, struct parley_server, housekeeping);
	int64_t now = parley_now_ns();
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (!c->session)
			continue;
		parley_session_poke_listener(c->session);
		parley_ws_housekeeping(srv, c, now);
	}
	if (!srv->stopping)
		lws_sul_schedule(srv->ctx, 0, &srv->housekeeping, housekeeping, HOUSEKEEPING_US);
}

static void shutdown_tick(lws_sorted_usec_list_t *sul)
{
	struct parley_server *srv = lws_container_of(sul, struct parley_server, tick);
	lws_sul_schedule(srv->ctx, 0, &srv->tick, shutdown_tick, SHUTDOWN_TICK_US);
}

static void begin_shutdown(struct parley_server *srv)
{
	srv->stopping = true;
	PARLEY_INFO("shutting down: closing %lld session(s)",
		    (long long)parley_gauge_get(&srv->m_live));
	parley_ws_close_all(srv);
	/* lws_service() only returns on events; a timer keeps the loop turning
	 * so the grace deadline is honoured even if a client never answers. */
	lws_sul_schedule(srv->ctx, 0, &srv->tick, shutdown_tick, SHUTDOWN_TICK_US);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct parley_server *srv = lws_context_user(lws_get_context(wsi));
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		drain_wakes(srv);
		if (atomic_exchange(&srv->status_broadcast, false) && !srv->stopping)
			parley_ws_broadcast_status(srv);
		if (srv->stop_requested && !srv->stopping)
			begin_shutdown(srv);
		return 0;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return srv->stopping ? 1 : 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return parley_gate_upgrade(srv, wsi, in);
	case LWS_CALLBACK_HTTP:
	case LWS_CALLBACK_HTTP_WRITEABLE:
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	case LWS_CALLBACK_CLOSED_HTTP:
		return parley_http_callback(srv, wsi, reason, c, in, len);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLOSED:
		return parley_ws_callback(srv, wsi, reason, c, in, len);
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static int register_metrics(struct parley_server *srv)
{
	parley_histogram_init(&srv->m_ready_latency, parley_latency_bounds, parley_latency_nbounds);
	int rc = parley_metrics_register_gauge("parley_sessions_live", "sessions open now", NULL,
					       NULL, &srv->m_live);
	if (!rc)
		rc = parley_metrics_register_counter("parley_sessions_total",
						     "sessions opened since start", NULL, NULL,
						     &srv->m_total);
	if (!rc)
		rc = parley_metrics_register_histogram(
			"parley_session_ready_seconds",
			"WebSocket connect to the hello written (status, session.created)",
			&srv->m_ready_latency);
	if (!rc)
		rc = parley_metrics_register_counter(
			"parley_outqueue_overflows_total",
			"sessions closed because they did not read their messages", NULL, NULL,
			&srv->m_overflows);
	if (!rc)
		rc = parley_metrics_register_gauge("parley_ready", "1 when /readyz answers 200",
						   NULL, NULL, &srv->m_ready);
	static const char *const refused[PARLEY_REFUSED_COUNT] = {
		[PARLEY_REFUSED_HOST] = "host",
		[PARLEY_REFUSED_ORIGIN] = "origin",
		[PARLEY_REFUSED_TOKEN] = "token",
		[PARLEY_REFUSED_FULL] = "server_full",
		[PARLEY_REFUSED_PER_ADDRESS] = "too_many_sessions",
	};
	for (int i = 0; !rc && i < PARLEY_REFUSED_COUNT; i++)
		rc = parley_metrics_register_counter(
			"parley_connections_refused_total",
			"connections refused, by reason (host, origin, token: HTTP 403/401 at the "
			"upgrade; server_full, too_many_sessions: error and close)",
			"reason", refused[i], &srv->m_refused[i]);
	for (int e = 0; !rc && e < PARLEY_ENDPOINT_COUNT; e++) {
		const struct parley_wire *w = parley_gate_endpoint_wire((enum parley_endpoint)e);
		rc = parley_metrics_register_gauge("parley_sessions_live_by_wire",
						   "sessions open now, by wire protocol (native: /ws, "
						   "realtime: /v1/realtime)",
						   "wire", w->name, &srv->m_live_by[e]);
		if (!rc)
			rc = parley_metrics_register_counter(
				"parley_sessions_by_wire_total",
				"sessions opened since start, by wire protocol", "wire", w->name,
				&srv->m_total_by[e]);
	}
	if (!rc)
		rc = parley_session_limits_register(&srv->limits);
	if (!rc)
		rc = parley_native_metrics_register();
	if (!rc)
		rc = parley_realtime_metrics_register();
	if (!rc)
		rc = parley_stages_register();
	if (!rc)
		rc = parley_inrate_register();
	return rc;
}

/* Engine or warm-up thread: the LLM's or a speech engine's state changed;
 * tell every session. */
static void on_engine_state(void *arg)
{
	struct parley_server *srv = arg;
	atomic_store(&srv->status_broadcast, true);
	lws_cancel_service(srv->ctx);
}

static char *read_text_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[4096];
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *b = realloc(buf, cap);
			if (!b) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = b;
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return buf;
}

/* The settings both vhosts share: ping/idle policy, TCP keepalive,
 * HTTP/1.1 only (every header check below assumes HTTP/1 headers). */
static void vhost_common(struct parley_server *srv, struct lws_context_creation_info *info)
{
	const struct parley_config *cfg = srv->cfg;
	info->protocols = protocols;
	info->timeout_secs = 10;
	/* lws pings a WebSocket after secs_since_valid_ping without a pong
	 * (or, see ws.c, any message) and hangs up at secs_since_valid_hangup. */
	srv->idle_policy.secs_since_valid_ping = (uint16_t)cfg->ws_ping_interval;
	srv->idle_policy.secs_since_valid_hangup = (uint16_t)cfg->idle_timeout;
	info->retry_and_idle_policy = &srv->idle_policy;
	/* TCP keepalive: first probe after the ping interval, the last of three
	 * probes about when the idle timeout ends. */
	info->ka_time = cfg->ws_ping_interval;
	info->ka_probes = 3;
	info->ka_interval = (cfg->idle_timeout - cfg->ws_ping_interval) / 3;
	if (info->ka_interval < 1)
		info->ka_interval = 1;
	info->alpn = "http/1.1";
}

/* Decides what `flag`'s value host is bound to (bind.h) and says so when
 * it is not plain: a resolved name, or nothing known. */
static void bind_host(struct parley_bind *b, const char *flag, const char *host)
{
	parley_bind_resolve(host, b);
	if (b->kind == PARLEY_BIND_NAME)
		PARLEY_INFO("%s %s: listening on its address %s%s", flag, host, b->iface,
			    b->loopback ? " (loopback)" : "");
	else if (b->kind == PARLEY_BIND_UNKNOWN)
		PARLEY_WARN("%s %s is neither an address, an interface nor a name that resolves; "
			    "waiting for such an interface (the loopback Host check stays on)",
			    flag, host);
}

/* The context with the main vhost (TLS when configured), then the admin
 * vhost when --admin-port is set. */
static int create_context(struct parley_server *srv, const struct parley_config *cfg)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	vhost_common(srv, &info);
	info.port = cfg->port;
	bind_host(&srv->main_bind, "--host", cfg->host);
	info.iface = srv->main_bind.iface; /* lws keeps the pointer */
	info.user = srv;
	/* No LWS_SERVER_OPTION_VALIDATE_UTF8: lws would close the connection
	 * (1007); the JSON parser rejects bad UTF-8 with an error instead. */
	info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	if (cfg->admin_port >= 0)
		bind_host(&srv->admin_bind, "--admin-host", cfg->admin_host);
	if (!strchr(srv->main_bind.iface, ':') &&
	    (cfg->admin_port < 0 || !strchr(srv->admin_bind.iface, ':')))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->tls_cert[0]) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
	}
	info.vhost_name = "parley";
	srv->main_loopback = srv->main_bind.loopback;

	srv->ctx = lws_create_context(&info);
	if (!srv->ctx) {
		PARLEY_ERROR("cannot listen on %s:%d (address in use, or not an address of "
			     "this machine?%s)",
			     cfg->host, cfg->port,
			     cfg->tls_cert[0] ? " or the TLS certificate was refused" : "");
		return PARLEY_E_IO;
	}
	srv->vhost = lws_get_vhost_by_name(srv->ctx, "parley");
	srv->port = srv->vhost ? lws_get_vhost_listen_port(srv->vhost) : cfg->port;
	srv->admin_port = -1;
	if (cfg->admin_port < 0)
		return 0;

	struct lws_context_creation_info admin;
	memset(&admin, 0, sizeof admin);
	vhost_common(srv, &admin);
	admin.port = cfg->admin_port;
	admin.iface = srv->admin_bind.iface;
	admin.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	admin.vhost_name = "parley-admin";
	srv->admin_loopback = srv->admin_bind.loopback;
	srv->admin_vhost = lws_create_vhost(srv->ctx, &admin);
	if (!srv->admin_vhost) {
		PARLEY_ERROR("cannot listen on %s:%d for the admin endpoints (address in use, or "
			     "not an address of this machine?)",
			     cfg->admin_host, cfg->admin_port);
		return PARLEY_E_IO;
	}
	srv->admin_port = lws_get_vhost_listen_port(srv->admin_vhost);
	PARLEY_INFO("admin endpoints on http://%s:%d (/metrics, /readyz, /healthz)",
		    cfg->admin_host, srv->admin_port);
	return 0;
}

struct parley_server *parley_server_create(const struct parley_config *cfg)
{
	struct parley_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return NULL;
	srv->cfg = cfg;
	pthread_mutex_init(&srv->wake_lock, NULL);
	parley_session_limits_init(&srv->limits, cfg);
	if (register_metrics(srv) != 0) {
		PARLEY_ERROR("cannot register metrics: out of memory");
		goto fail;
	}

	srv->workers = parley_workers_create(cfg->workers);
	if (!srv->workers) {
		PARLEY_ERROR("cannot start %d worker threads", cfg->workers);
		goto fail;
	}

	srv->peers = parley_peers_create();
	if (!srv->peers) {
		PARLEY_ERROR("out of memory");
		goto fail;
	}
	if (create_context(srv, cfg) != 0)
		goto fail;

	/* Speech: synthesisers first (cheap), then the recogniser (the
	 * embedded one fills its decoder pool in the background); the speech
	 * warm-up measures them all on its own thread ("stt", "tts"). */
	if (strcmp(cfg->stt, "openai") == 0 || strcmp(cfg->tts, "openai") == 0) {
		srv->http = parley_http_pool_create(); /* one thread for every speech service */
		if (!srv->http)
			goto fail;
	}
	srv->speech_env = (struct parley_speech_env){ .workers = srv->workers, .http = srv->http };
	if (parley_tts_init_all(cfg, &srv->speech_env) == 0) {
		PARLEY_ERROR("no speech synthesiser is usable");
		goto fail;
	}
	const struct parley_tts_backend *tts = parley_tts_find(cfg->tts);
	const char *voice = cfg->tts_voice[0]			      ? cfg->tts_voice
			    : tts && tts->default_voice ? tts->default_voice
							: "";
	struct parley_tts_voice tv;
	if (!tts) {
		PARLEY_ERROR("the speech synthesiser '%s' is not usable (see above)", cfg->tts);
		goto fail;
	}
	if (parley_tts_voice_lookup(voice, &tv) != 0) {
		PARLEY_ERROR("unknown voice '%s' (voices: %s)", voice, parley_tts_all_voices());
		goto fail;
	}
	snprintf(srv->speech.default_voice, sizeof srv->speech.default_voice, "%s", tv.name);
	srv->speech.default_rate = cfg->tts_rate;
	const struct parley_stt_backend *stt = parley_stt_backend_find(cfg->stt);
	if (!stt) {
		PARLEY_ERROR("unknown speech recogniser '%s'", cfg->stt);
		goto fail;
	}
	char why[256] = "";
	srv->speech.stt = stt->create(cfg, &srv->speech_env, why, sizeof why);
	if (!srv->speech.stt) {
		PARLEY_ERROR("cannot start the speech recogniser %s: %s", stt->name, why);
		goto fail;
	}
	srv->speech.stt_backend = stt;
	struct parley_speech_info sinfo;
	stt->info(srv->speech.stt, &sinfo);
	srv->speech.stt_remote = sinfo.remote;
	if (!sinfo.remote)
		PARLEY_INFO("speech: %s voice %s, %s (%d warm, at most %d decoders)",
			    tv.backend->name, tv.name, stt->name, cfg->stt_warm, cfg->stt_max);
	else
		PARLEY_INFO("speech: %s voice %s, %s", tv.backend->name, tv.name, stt->name);
	srv->speech.eot_rules = strcmp(cfg->end_of_turn, "rules") == 0;
	if (!srv->speech.eot_rules) {
		/* the end-of-turn model reads the recogniser's own language model */
		srv->speech.eot_lm = parley_eot_lm_create(cfg->stt_lm, why, sizeof why);
		if (!srv->speech.eot_lm)
			PARLEY_WARN("end of turn: %s; the model goes on without it", why);
	}
	srv->speech_warmup = parley_speech_warmup_start(stt, srv->speech.stt, on_engine_state, srv);
	if (!srv->speech_warmup)
		goto fail;

	char *prompt = read_text_file(cfg->system_prompt);
	if (!prompt) {
		PARLEY_ERROR("cannot read the system prompt %s", cfg->system_prompt);
		goto fail;
	}
	srv->llm = parley_llm_engine_create(cfg, prompt);
	free(prompt);
	if (!srv->llm)
		goto fail;
	parley_llm_engine_on_state(srv->llm, on_engine_state, srv);
	return srv;
fail:
	parley_server_destroy(srv);
	return NULL;
}

int parley_server_port(const struct parley_server *srv)
{
	return srv->port;
}

int parley_server_run(struct parley_server *srv)
{
	int64_t deadline = 0;
	lws_sul_schedule(srv->ctx, 0, &srv->housekeeping, housekeeping, HOUSEKEEPING_US);
	for (;;) {
		if (lws_service(srv->ctx, 0) < 0)
			break;
		if (srv->stop_requested && !srv->stopping)
			begin_shutdown(srv);
		if (srv->stopping) {
			if (!deadline)
				deadline = parley_now_ns() + SHUTDOWN_GRACE_NS;
			if (!srv->conns)
				break;
			if (parley_now_ns() > deadline) {
				PARLEY_WARN("shutdown: %lld session(s) did not close in time",
					    (long long)parley_gauge_get(&srv->m_live));
				break;
			}
		}
	}
	lws_sul_cancel(&srv->tick);
	lws_sul_cancel(&srv->housekeeping);
	return 0;
}

void parley_server_request_stop(struct parley_server *srv)
{
	srv->stop_requested = 1;
	if (srv->ctx)
		lws_cancel_service(srv->ctx);
}

void parley_server_destroy(struct parley_server *srv)
{
	if (!srv)
		return;
	/* Close what is still open, so no worker job can queue output. Then
	 * the engine: its pending answers end cancelled and release their
	 * sessions; its callbacks may still queue jobs, so the workers must
	 * outlive it. Then join the workers (their queued jobs run cancelled:
	 * sessions give their speech jobs back, queued syntheses end) and end
	 * the speech services' requests, while the context is still valid for
	 * a last wake-up; then tear the sockets down. */
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (c->session)
			parley_session_close(c->session);
	}
	parley_speech_warmup_stop(srv->speech_warmup); /* it wakes the loop: ctx still valid */
	srv->speech_warmup = NULL;
	parley_llm_engine_destroy(srv->llm);
	srv->llm = NULL;
	parley_workers_destroy(srv->workers);
	srv->workers = NULL;
	/* The speech services' requests: each ends cancelled now, while the
	 * engines that own them still exist (every session is closing, so no
	 * callback queues work). After this a job's cancel() is a no-op. */
	parley_http_pool_destroy(srv->http);
	srv->http = NULL;
	if (srv->ctx)
		lws_context_destroy(srv->ctx); /* closes what is left: CLOSED callbacks */
	srv->ctx = NULL;
	/* Wakes still pending hold the last references of some sessions:
	 * drop them now, so every session gives its speech jobs back ... */
	for (size_t i = 0; i < srv->nwake; i++)
		parley_session_unref(srv->wake[i]);
	free(srv->wake);
	srv->wake = NULL;
	srv->nwake = 0;
	/* ... before the engines go. */
	if (srv->speech.stt_backend)
		srv->speech.stt_backend->destroy(srv->speech.stt);
	srv->speech.stt = NULL;
	parley_eot_lm_destroy(srv->speech.eot_lm);
	srv->speech.eot_lm = NULL;
	parley_tts_shutdown();
	parley_peers_destroy(srv->peers); /* after the CLOSED callbacks released theirs */
	srv->peers = NULL;
	pthread_mutex_destroy(&srv->wake_lock);
	parley_metrics_reset();
	parley_readiness_reset();
	parley_speech_engines_reset();
	free(srv);
}
