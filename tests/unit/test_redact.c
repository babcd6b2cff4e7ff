/* Unit tests: masking secrets (src/util/redact.c) and escaping log lines
 * (src/util/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/log.h"
#include "util/redact.h"
#include "util/utf8.h"

static void expect(const char *in, unsigned flags, const char *want)
{
	size_t n = 0;
	char *got = parley_redact(in, strlen(in), flags, &n);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("redact(\"%s\")\n  got  \"%s\"\n  want \"%s\"", in, got, want);
	assert_int_equal(n, strlen(got));
	free(got);
}

static void masks_keys(void **state)
{
	expect("Incorrect API key provided: sk-proj-AbCdEf0123456789xyz. See docs.", 0,
	       "Incorrect API key provided: sk-***. See docs.");
	expect("key sk-abcdefgh12 was refused", 0, "key sk-*** was refused");
	expect("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", 0, "Authorization: Bearer ***");
	expect("header basic dXNlcjpwYXNz, then", 0, "header basic ***, then");
	expect("GET /v1/x?api_key=s3cr3t&model=m", 0, "GET /v1/x?api_key=***&model=m");
	expect("{\"api_key\": \"abc123\", \"model\": \"m\"}", 0,
	       "{\"api_key\": \"***\", \"model\": \"m\"}");
	expect("x-api-key: hunter2", 0, "x-api-key: ***");
	expect("password=pw token=t0k secret: s client_secret=c", 0,
	       "password=*** token=*** secret: *** client_secret=***");
	expect("request id 0123456789abcdef0123456789abcdef done", 0, "request id *** done");
	expect("token AKIAabcdefGHIJKL0123456789 here", 0, "token *** here");
}

static void masks_url_credentials(void **state)
{
	expect("cannot reach https://bob:pa55@llm.example:8443/v1/models: refused", 0,
	       "cannot reach https://***@llm.example:8443/v1/models: refused");
	expect("at http://127.0.0.1:11434; run: ollama pull x", 0,
	       "at http://127.0.0.1:11434; run: ollama pull x");
	expect("url=http://u:p@h/x?key=abc", 0, "url=http://***@h/x?key=***");
	/* For clients: no URL at all. */
	expect("cannot reach https://bob:pa55@llm.example:8443/v1/models: refused",
	       PARLEY_REDACT_URLS, "cannot reach [URL]: refused");
	expect("model 'm' is not pulled in Ollama at http://127.0.0.1:11434; run: ollama pull m",
	       PARLEY_REDACT_URLS, "model 'm' is not pulled in Ollama at [URL]; run: ollama pull m");
}

static void leaves_ordinary_text(void **state)
{
	const char *plain[] = {
		"the LLM server answered HTTP 500: Internal failure in the model runner",
		"model \"llama3.2\" not found, try pulling it first",
		"/usr/share/pocketsphinx/model/en-us/en-us and cmudict-en-us.dict",
		"keyboard tokens monkey=1 passwords",
		"session 12: answer complete: 43 chars, first token 212 ms",
		"voice en-us+f3, 48000 Hz, 1234567890123456789012345678901234567890",
		"caf\xC3\xA9 \xFF raw bytes stay as they are",
		"",
	};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		expect(plain[i], 0, plain[i]);
}

static void cause_is_short_safe_and_valid(void **state)
{
	char out[140];
	/* An error body with a key, a URL, newlines and invalid UTF-8, with a
	 * multibyte character right at the cut. */
	char in[600];
	size_t o = 0;
	o += (size_t)snprintf(in + o, sizeof in - o,
			      "the LLM server answered HTTP 401: bad key sk-abcdefghijkl0123 for "
			      "https://u:p@h/v1\n\x1b[31mred\xFF ");
	while (o + 2 < sizeof in - 1) {
		in[o++] = '\xC3';
		in[o++] = '\xA9';
	}
	in[o] = '\0';
	size_t n = parley_redact_cause(in, o, PARLEY_REDACT_URLS, 120, out, sizeof out);
	assert_int_equal(n, strlen(out));
	assert_true(n <= 120);
	assert_true(parley_utf8_valid(out, n));
	assert_null(strstr(out, "sk-abc"));
	assert_null(strstr(out, "u:p@"));
	assert_null(strchr(out, '\n'));
	assert_null(strchr(out, '\x1b'));
	assert_memory_equal(out + n - 3, "...", 3);
	static const char head[] = "the LLM server answered HTTP 401: bad key sk-*** for [URL] [31mred";
	assert_memory_equal(out, head, sizeof head - 1);

	/* Short text: unchanged apart from trailing space. */
	n = parley_redact_cause("HTTP 429: Too Many Requests\n", 28, PARLEY_REDACT_URLS, 120, out,
				sizeof out);
	assert_string_equal(out, "HTTP 429: Too Many Requests");
}

static void log_escape(void **state)
{
	char out[64];
	static const char ctl[] = "a\nb\r\tc\x1b[2Jd";
	parley_log_escape(ctl, sizeof ctl - 1, out, sizeof out);
	assert_string_equal(out, "a\\nb\\r\\tc\\x1B[2Jd");
	parley_log_escape("bad \xFF\xC3 ok \xC3\xA9", 12, out, sizeof out);
	assert_string_equal(out, "bad \\xFF\\xC3 ok \xC3\xA9");
	/* C1 controls and bidi overrides are escaped too; DEL as well. */
	static const char c1[] = "\xC2\x9B" "x\xE2\x80\xAE" "y\x7f";
	parley_log_escape(c1, sizeof c1 - 1, out, sizeof out);
	assert_string_equal(out, "\\u009Bx\\u202Ey\\x7F");
	/* A long text is cut between characters and marked. */
	char longin[200];
	for (size_t i = 0; i < sizeof longin; i += 2) {
		longin[i] = '\xC3';
		longin[i + 1] = '\xA9';
	}
	size_t n = parley_log_escape(longin, sizeof longin, out, 21);
	assert_true(n < 21);
	assert_true(parley_utf8_valid(out, n));
	assert_memory_equal(out + n - 3, "...", 3);
	/* The escape never leaves a raw control or invalid byte, whatever the input. */
	for (int c = 0; c < 256; c++) {
		char in[3] = { 'x', (char)c, '\n' };
		n = parley_log_escape(in, 3, out, sizeof out);
		assert_true(parley_utf8_valid(out, n));
		for (size_t i = 0; i < n; i++)
			assert_true((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(masks_keys),
		cmocka_unit_test(masks_url_credentials),
		cmocka_unit_test(leaves_ordinary_text),
		cmocka_unit_test(cause_is_short_safe_and_valid),
		cmocka_unit_test(log_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
