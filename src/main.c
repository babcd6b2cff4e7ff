/*
 * main.c - parse the configuration, start the server, run it until SIGINT
 * or SIGTERM, shut down cleanly. Exit codes: 0 after a clean shutdown,
 * 1 when the server cannot start, 2 for invalid configuration.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "server/server.h"
#include "server/tls.h"
#include "util/config.h"
#include "util/log.h"

static struct parley_server *g_server;

static void on_signal(int sig)
{
	(void)sig;
	if (g_server)
		parley_server_request_stop(g_server);
}

int main(int argc, char **argv)
{
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	switch (parley_config_parse(&cfg, argc, argv, getenv, stdout, stderr)) {
	case PARLEY_CONFIG_OK:
		break;
	case PARLEY_CONFIG_EXIT:
		return 0;
	case PARLEY_CONFIG_ERROR:
		return 2;
	}
	if (cfg.tls_cert[0]) {
		char why[1200];
		if (parley_tls_check(cfg.tls_cert, cfg.tls_key, why, sizeof why) != 0) {
			fprintf(stderr, "parley: TLS: %s\n", why);
			return 2;
		}
	}
	parley_log_set_level(cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread starts */

	PARLEY_INFO("parley %s starting (web root %s, %d workers, max %d sessions)",
		    PARLEY_VERSION, cfg.web_root, cfg.workers, cfg.max_sessions);
	g_server = parley_server_create(&cfg);
	if (!g_server) {
		curl_global_cleanup();
		return 1;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	PARLEY_INFO("listening on %s://%s:%d (WebSocket at /ws and /v1/realtime%s)", cfg.tls_cert[0] ? "https" : "http",
		    cfg.host, parley_server_port(g_server),
		    cfg.auth_token[0] ? ", token required" : "");
	parley_server_run(g_server);

	struct parley_server *srv = g_server;
	g_server = NULL;
	parley_server_destroy(srv);
	curl_global_cleanup();
	PARLEY_INFO("parley stopped");
	return 0;
}
