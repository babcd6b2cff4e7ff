#include "util/config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PARLEY_DEFAULT_WEB_ROOT
#define PARLEY_DEFAULT_WEB_ROOT "web"
#endif

typedef int (*setter_fn)(struct parley_config *cfg, const char *value, char *why, size_t whylen);

struct option_def {
	const char *flag; /* without the leading "--" */
	const char *env;
	const char *arg;  /* metavariable shown in --help */
	const char *help;
	setter_fn set;
};

static int parse_int(const char *s, long lo, long hi, long *out, char *why, size_t whylen)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0') {
		snprintf(why, whylen, "'%s' is not an integer", s);
		return -1;
	}
	if (v < lo || v > hi) {
		snprintf(why, whylen, "%ld is outside %ld..%ld", v, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int set_host(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	if (!*v || strlen(v) >= sizeof cfg->host) {
		snprintf(why, whylen, "host must be 1..%zu characters", sizeof cfg->host - 1);
		return -1;
	}
	strcpy(cfg->host, v);
	return 0;
}

static int set_port(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	long n;
	if (parse_int(v, 0, 65535, &n, why, whylen))
		return -1;
	cfg->port = (int)n;
	return 0;
}

static int set_web_root(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	struct stat st;
	if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "'%s' is not a directory", v);
		return -1;
	}
	char *real = realpath(v, NULL);
	if (!real || strlen(real) >= sizeof cfg->web_root) {
		snprintf(why, whylen, "cannot resolve '%s'", v);
		free(real);
		return -1;
	}
	strcpy(cfg->web_root, real);
	free(real);
	return 0;
}

static int set_max_sessions(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	long n;
	if (parse_int(v, 1, 100000, &n, why, whylen))
		return -1;
	cfg->max_sessions = (int)n;
	return 0;
}

static int set_workers(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	long n;
	if (parse_int(v, 1, 256, &n, why, whylen))
		return -1;
	cfg->workers = (int)n;
	return 0;
}

static int set_log_level(struct parley_config *cfg, const char *v, char *why, size_t whylen)
{
	if (parley_log_level_parse(v, &cfg->log_level) != 0) {
		snprintf(why, whylen, "'%s' is not one of error, warn, info, debug", v);
		return -1;
	}
	return 0;
}

static const struct option_def options[] = {
	{ "host", "PARLEY_HOST", "ADDR", "address to listen on (default 127.0.0.1)", set_host },
	{ "port", "PARLEY_PORT", "N", "TCP port, 0 = any free port (default 8080)", set_port },
	{ "web-root", "PARLEY_WEB_ROOT", "DIR",
	  "serve the browser client from DIR (default: the repository's web/)", set_web_root },
	{ "max-sessions", "PARLEY_MAX_SESSIONS", "N",
	  "most concurrent WebSocket sessions (default 100)", set_max_sessions },
	{ "workers", "PARLEY_WORKERS", "N",
	  "speech worker threads (default: number of CPU cores)", set_workers },
	{ "log-level", "PARLEY_LOG_LEVEL", "LEVEL",
	  "error, warn, info or debug (default info)", set_log_level },
};
#define NOPTIONS (sizeof options / sizeof options[0])

void parley_config_defaults(struct parley_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	strcpy(cfg->host, "127.0.0.1");
	cfg->port = 8080;
	snprintf(cfg->web_root, sizeof cfg->web_root, "%s", PARLEY_DEFAULT_WEB_ROOT);
	cfg->max_sessions = 100;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = ncpu > 0 ? (int)(ncpu > 256 ? 256 : ncpu) : 2;
	cfg->log_level = PARLEY_LOG_INFO;
}

static void print_help(FILE *out)
{
	fprintf(out,
		"parley %s - real-time voice chat server\n\n"
		"usage: parley [options]\n\n"
		"Every option can also be set with the environment variable shown;\n"
		"a command-line flag overrides the variable.\n\n",
		PARLEY_VERSION);
	for (size_t i = 0; i < NOPTIONS; i++) {
		char left[64];
		snprintf(left, sizeof left, "--%s %s", options[i].flag, options[i].arg);
		fprintf(out, "  %-24s %-22s %s\n", left, options[i].env, options[i].help);
	}
	fprintf(out, "  %-24s %-22s %s\n", "--help", "", "show this help and exit");
	fprintf(out, "  %-24s %-22s %s\n", "--version", "", "show the version and exit");
}

static const struct option_def *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (strlen(options[i].flag) == len && strncmp(options[i].flag, name, len) == 0)
			return &options[i];
	}
	return NULL;
}

enum parley_config_result parley_config_parse(struct parley_config *cfg, int argc, char **argv,
					      char *(*getenv_fn)(const char *), FILE *out,
					      FILE *err)
{
	char why[512];

	for (size_t i = 0; i < NOPTIONS; i++) {
		const char *v = getenv_fn ? getenv_fn(options[i].env) : NULL;
		if (v && options[i].set(cfg, v, why, sizeof why) != 0) {
			fprintf(err, "parley: invalid %s: %s\n", options[i].env, why);
			return PARLEY_CONFIG_ERROR;
		}
	}

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			print_help(out);
			return PARLEY_CONFIG_EXIT;
		}
		if (strcmp(a, "--version") == 0) {
			fprintf(out, "parley %s\n", PARLEY_VERSION);
			return PARLEY_CONFIG_EXIT;
		}
		if (strncmp(a, "--", 2) != 0) {
			fprintf(err, "parley: unexpected argument '%s' (see --help)\n", a);
			return PARLEY_CONFIG_ERROR;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct option_def *o = find_flag(name, nlen);
		if (!o) {
			fprintf(err, "parley: unknown option '%.*s' (see --help)\n", (int)(nlen + 2), a);
			return PARLEY_CONFIG_ERROR;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (!value) {
			if (i + 1 >= argc) {
				fprintf(err, "parley: --%s needs a value (%s)\n", o->flag, o->arg);
				return PARLEY_CONFIG_ERROR;
			}
			value = argv[++i];
		}
		if (o->set(cfg, value, why, sizeof why) != 0) {
			fprintf(err, "parley: invalid --%s: %s\n", o->flag, why);
			return PARLEY_CONFIG_ERROR;
		}
	}

	/* The default web root is checked here so a broken install fails fast. */
	struct stat st;
	if (stat(cfg->web_root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(err, "parley: web root '%s' is not a directory (use --web-root)\n",
			cfg->web_root);
		return PARLEY_CONFIG_ERROR;
	}
	if (cfg->web_root[0] != '/')
		return set_web_root(cfg, cfg->web_root, why, sizeof why) == 0 ? PARLEY_CONFIG_OK
									       : PARLEY_CONFIG_ERROR;
	return PARLEY_CONFIG_OK;
}
