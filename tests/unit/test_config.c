/* Unit tests: defaults, environment and flags (src/util/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/config.h"

static const char *env_keys[8];
static const char *env_vals[8];

static char *fake_getenv(const char *k)
{
	for (int i = 0; i < 8 && env_keys[i]; i++)
		if (strcmp(env_keys[i], k) == 0)
			return (char *)env_vals[i];
	return NULL;
}

static int run(struct parley_config *cfg, int argc, const char **argv, char *errbuf, size_t n)
{
	parley_config_defaults(cfg);
	/* the default web root (the repo's web/) may not exist where tests run */
	strcpy(cfg->web_root, "/tmp");
	FILE *out = fopen("/dev/null", "w");
	FILE *err = fmemopen(errbuf, n, "w");
	int rc = parley_config_parse(cfg, argc, (char **)argv, fake_getenv, out, err);
	fclose(out);
	fclose(err);
	return rc;
}

static void defaults(void **state)
{
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	assert_string_equal(cfg.host, "127.0.0.1");
	assert_int_equal(cfg.port, 8080);
	assert_int_equal(cfg.max_sessions, 100);
	assert_true(cfg.workers >= 1);
	assert_int_equal(cfg.log_level, PARLEY_LOG_INFO);
	assert_int_equal(cfg.speculate, 1);
	assert_int_equal(cfg.turn_merging, 1);
}

static void on_off(void **state)
{
	struct parley_config cfg;
	char err[512] = "";
	memset(env_keys, 0, sizeof env_keys);
	env_keys[0] = "PARLEY_TURN_MERGING";
	env_vals[0] = "0";
	const char *argv[] = { "parley", "--speculate", "off" };
	assert_int_equal(run(&cfg, 3, argv, err, sizeof err), PARLEY_CONFIG_OK);
	assert_int_equal(cfg.speculate, 0);
	assert_int_equal(cfg.turn_merging, 0);
	const char *argv2[] = { "parley", "--turn-merging=on", "--speculate", "1" };
	assert_int_equal(run(&cfg, 4, argv2, err, sizeof err), PARLEY_CONFIG_OK);
	assert_int_equal(cfg.speculate, 1);
	assert_int_equal(cfg.turn_merging, 1); /* flag beats env */
	memset(env_keys, 0, sizeof env_keys);
}

static void flags_and_env(void **state)
{
	struct parley_config cfg;
	char err[512] = "";
	memset(env_keys, 0, sizeof env_keys);
	env_keys[0] = "PARLEY_PORT";
	env_vals[0] = "9000";
	env_keys[1] = "PARLEY_MAX_SESSIONS";
	env_vals[1] = "7";
	const char *argv[] = { "parley", "--port", "9100", "--log-level=debug", "--host",
			       "0.0.0.0", "--web-root", "/", "--workers", "3" };
	assert_int_equal(run(&cfg, 10, argv, err, sizeof err), PARLEY_CONFIG_OK);
	assert_int_equal(cfg.port, 9100); /* flag beats env */
	assert_int_equal(cfg.max_sessions, 7);
	assert_int_equal(cfg.log_level, PARLEY_LOG_DEBUG);
	assert_string_equal(cfg.host, "0.0.0.0");
	assert_string_equal(cfg.web_root, "/");
	assert_int_equal(cfg.workers, 3);
	memset(env_keys, 0, sizeof env_keys);
}

static void expect_error(int argc, const char **argv, const char *needle)
{
	struct parley_config cfg;
	char err[512] = "";
	assert_int_equal(run(&cfg, argc, argv, err, sizeof err), PARLEY_CONFIG_ERROR);
	if (!strstr(err, needle))
		fail_msg("error message '%s' does not mention '%s'", err, needle);
}

static void bad_values(void **state)
{
	memset(env_keys, 0, sizeof env_keys);
	expect_error(3, (const char *[]){ "parley", "--port", "70000" }, "--port");
	expect_error(3, (const char *[]){ "parley", "--port", "80x" }, "not an integer");
	expect_error(3, (const char *[]){ "parley", "--port", "" }, "--port");
	expect_error(3, (const char *[]){ "parley", "--max-sessions", "0" }, "--max-sessions");
	expect_error(3, (const char *[]){ "parley", "--log-level", "loud" }, "loud");
	expect_error(3, (const char *[]){ "parley", "--web-root", "/nonexistent/x" }, "not a directory");
	expect_error(2, (const char *[]){ "parley", "--bogus" }, "unknown option");
	expect_error(2, (const char *[]){ "parley", "--port" }, "needs a value");
	expect_error(2, (const char *[]){ "parley", "stray" }, "unexpected argument");
	expect_error(3, (const char *[]){ "parley", "--turn-merging", "yes" }, "not one of on, off");
	expect_error(3, (const char *[]){ "parley", "--speculate", "" }, "--speculate");
	env_keys[0] = "PARLEY_PORT";
	env_vals[0] = "abc";
	expect_error(1, (const char *[]){ "parley" }, "PARLEY_PORT");
	memset(env_keys, 0, sizeof env_keys);
}

static void access_options(void **state)
{
	struct parley_config cfg;
	char err[512] = "";
	memset(env_keys, 0, sizeof env_keys);
	const char *argv[] = { "parley", "--allowed-origins",
			       " https://Chat.Example/ ,http://10.0.0.2:8080,null", "--auth-token",
			       "abcdefABCDEF0123._~-" };
	assert_int_equal(run(&cfg, 5, argv, err, sizeof err), PARLEY_CONFIG_OK);
	assert_string_equal(cfg.allowed_origins, "https://chat.example,http://10.0.0.2:8080,null");
	assert_string_equal(cfg.auth_token, "abcdefABCDEF0123._~-");
	assert_int_equal(cfg.max_sessions_per_ip, 16);
	assert_int_equal(cfg.ws_ping_interval, 20);
	assert_int_equal(cfg.idle_timeout, 60);
	assert_int_equal(cfg.admin_port, -1);

	env_keys[0] = "PARLEY_AUTH_TOKEN";
	env_vals[0] = "from-the-environment-1234";
	assert_int_equal(run(&cfg, 1, (const char *[]){ "parley" }, err, sizeof err),
			 PARLEY_CONFIG_OK);
	assert_string_equal(cfg.auth_token, "from-the-environment-1234");
	memset(env_keys, 0, sizeof env_keys);

	expect_error(3, (const char *[]){ "parley", "--allowed-origins", "https://a.example/app" },
		     "not an origin");
	expect_error(3, (const char *[]){ "parley", "--allowed-origins", "ftp://a.example" },
		     "not an origin");
	expect_error(3, (const char *[]){ "parley", "--allowed-origins", "a.example" },
		     "not an origin");
	expect_error(3, (const char *[]){ "parley", "--auth-token", "short" }, "16..100");
	expect_error(3, (const char *[]){ "parley", "--auth-token", "has space in it 0123456" },
		     "16..100");
	expect_error(3, (const char *[]){ "parley", "--auth-token", "comma,is,not,allowed,here" },
		     "16..100");
	expect_error(3, (const char *[]){ "parley", "--tls-cert", "/nonexistent/cert.pem" },
		     "cannot read");
	expect_error(3, (const char *[]){ "parley", "--tls-cert", "/etc/hostname" },
		     "both --tls-cert and --tls-key");
	expect_error(5, (const char *[]){ "parley", "--ws-ping-interval", "30", "--idle-timeout", "30" },
		     "--idle-timeout");
	expect_error(3, (const char *[]){ "parley", "--idle-timeout", "70000" }, "--idle-timeout");
	expect_error(5, (const char *[]){ "parley", "--port", "9000", "--admin-port", "9000" },
		     "--admin-port");
	expect_error(3, (const char *[]){ "parley", "--max-sessions-per-ip", "0" },
		     "--max-sessions-per-ip");
}

static void help_lists_every_option(void **state)
{
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	char buf[4096] = "";
	FILE *out = fmemopen(buf, sizeof buf, "w");
	const char *argv[] = { "parley", "--help" };
	assert_int_equal(parley_config_parse(&cfg, 2, (char **)argv, NULL, out, stderr),
			 PARLEY_CONFIG_EXIT);
	fclose(out);
	const char *want[] = { "--host", "--port", "--web-root", "--max-sessions", "--log-level",
			       "--workers", "PARLEY_HOST", "PARLEY_PORT", "PARLEY_WEB_ROOT",
			       "PARLEY_MAX_SESSIONS", "PARLEY_LOG_LEVEL" };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(buf, want[i]))
			fail_msg("--help does not mention %s", want[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(flags_and_env),
		cmocka_unit_test(on_off),
		cmocka_unit_test(bad_values),
		cmocka_unit_test(access_options),
		cmocka_unit_test(help_lists_every_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
