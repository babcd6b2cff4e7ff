/*
 * config.h - parley's settings: defaults, PARLEY_* environment variables,
 * then command-line flags (flags win). One table in config.c lists every
 * option once; --help and the README's table are generated from the same
 * names.
 *
 * Threads: parsed once in main() before any thread starts, then read-only.
 */
#ifndef PARLEY_UTIL_CONFIG_H
#define PARLEY_UTIL_CONFIG_H

#include <stdio.h>

#include "util/log.h"

struct parley_config {
	char host[256];
	int port;              /* 0..65535; 0 = any free port */
	char web_root[4096];   /* directory served at / */
	int max_sessions;      /* concurrent WebSocket sessions */
	int workers;           /* speech worker threads */
	enum parley_log_level log_level;
};

enum parley_config_result {
	PARLEY_CONFIG_OK = 0,   /* run the server */
	PARLEY_CONFIG_EXIT = 1, /* --help/--version printed: exit 0 */
	PARLEY_CONFIG_ERROR = 2 /* message printed to err: exit 2 */
};

/* Fills *cfg with the built-in defaults. */
void parley_config_defaults(struct parley_config *cfg);

/*
 * Applies environment variables (looked up through getenv_fn, normally
 * getenv) and then argv to *cfg. Help and version go to out, problems to err.
 */
enum parley_config_result parley_config_parse(struct parley_config *cfg, int argc, char **argv,
					      char *(*getenv_fn)(const char *), FILE *out,
					      FILE *err);

#endif
