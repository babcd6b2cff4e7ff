/* Unit tests: masking secrets (src/util/redact.c) and escaping log lines
 * (src/util/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
	/* "Bearer:" and "bearer=" are credentials too. */
	expect("Authorization: Bearer: abcdefgh12345678", 0, "Authorization: Bearer: ***");
	expect("auth bearer=abcdefgh12345678 sent", 0, "auth bearer=*** sent");
	expect("Authorization: Basic:dXNlcjpwYXNz", 0, "Authorization: Basic:***");
	/* A key after '/' or '=' (a URL path, a query value) is found. */
	expect("GET https://host/path/sk-abcdefghijklmn failed", 0,
	       "GET https://host/path/sk-*** failed");
	expect("https://host/v1/sk-abcdefghijklmn/models", 0, "https://host/v1/sk-***/models");
	expect("/keys/sk-abcdefghijklmn", 0, "/keys/sk-***");
	expect("?x=sk-abcdefghijklmn&y=1", 0, "?x=sk-***&y=1");
	expect("https://h/files/AbCdEfGhIjKl0123456789MnOp/x", 0, "https://h/files/***/x");
}

static void masks_url_credentials(void **state)
{
	expect("cannot reach https://bob:pa55@llm.example:8443/v1/models: refused", 0,
	       "cannot reach https://***@llm.example:8443/v1/models: refused");
	expect("at http://127.0.0.1:11434; run: ollama pull x", 0,
	       "at http://127.0.0.1:11434; run: ollama pull x");
	expect("url=http://u:p@h/x?key=abc", 0, "url=http://***@h/x?key=***");
	/* The userinfo runs to the last '@' before the path, whatever it holds. */
	expect("http://user:pass#x@host/", 0, "http://***@host/");
	expect("see http://user:p?a#s:s@host:8080/v1 now", 0, "see http://***@host:8080/v1 now");
	expect("http://a@b@host", 0, "http://***@host");
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
		"Bearers of news, basically fine: basic",
		"POST http://127.0.0.1:8081/v1/chat/completions?stream=true answered 200",
		"/usr/lib/x86_64-linux-gnu/libflite_cmu_us_kal16.so.2.2",
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
	/* So are LRM, RLM, the Arabic letter mark and the line and paragraph
	 * separators (bidi controls and line breaks, docs/security.md). */
	static const char bidi[] = "a\xE2\x80\x8E" "b\xE2\x80\x8F" "c\xD8\x9C" "d\xE2\x80\xA8"
				   "e\xE2\x80\xA9" "f\xE2\x81\xA6" "g";
	parley_log_escape(bidi, sizeof bidi - 1, out, sizeof out);
	assert_string_equal(out, "a\\u200Eb\\u200Fc\\u061Cd\\u2028e\\u2029f\\u2066g");
	/* Their neighbours are text: ZWJ, an Arabic letter, an en dash. */
	static const char plain[] = "\xE2\x80\x8D\xD8\xA8\xE2\x80\x93";
	parley_log_escape(plain, sizeof plain - 1, out, sizeof out);
	assert_string_equal(out, plain);
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

/* Runs parley_log("%s%s", a, b) with stderr sent to a temporary file;
 * returns what it wrote (static buffer). */
static const char *logged(const char *a, const char *b)
{
	static char got[16384];
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	dup2(fileno(tmp), 2);
	parley_log(PARLEY_LOG_ERROR, "%s%s", a, b);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(got, 1, sizeof got - 1, tmp);
	got[n] = '\0';
	fclose(tmp);
	return got;
}

static void log_masks_before_it_cuts(void **state)
{
	/* A long message whose 4096-byte cut falls inside a key: masking the
	 * cut text would see only a short, harmless-looking prefix. */
	static const char key[] = "AbCdEf0123456789GhIjKlMnOpQrSt";
	char msg[4200];
	for (size_t cut = 4080; cut < 4096; cut += 3) {
		memset(msg, 'x', sizeof msg);
		for (size_t k = 0; k + 1 < cut; k += 8)
			msg[k] = ' ';
		msg[cut - 1] = ' ';
		memcpy(msg + cut, key, sizeof key - 1);
		msg[cut + sizeof key - 1] = '\0';
		const char *line = logged("", msg);
		assert_null(strstr(line, "AbCdEf0"));
		assert_non_null(strstr(line, "ERROR"));
		assert_int_equal(strchr(line, '\n') - line, strlen(line) - 1); /* one line */
		assert_true(strlen(line) < 4200);
	}
	/* Short messages are whole; a long one ends in "...". */
	const char *line = logged("short ", "sk-abcdefghijklmnop done");
	assert_non_null(strstr(line, "short sk-*** done\n"));
	memset(msg, 'y', sizeof msg);
	msg[sizeof msg - 1] = '\0';
	line = logged("", msg);
	assert_non_null(strstr(line, "yyy...\n"));
	size_t body = strlen(strstr(line, "yyy"));
	assert_int_equal(body, 4095 + 1); /* 4092 bytes, "...", newline */
	char cut[16] = "abcd\xC3\xA9\xC3\xA9xyz";
	size_t n = strlen(cut);
	parley_log_cut(cut, &n, 8); /* at most 7 bytes, on a character */
	assert_string_equal(cut, "abcd...");
	n = strlen(cut);
	parley_log_cut(cut, &n, 16);
	assert_string_equal(cut, "abcd...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(masks_keys),
		cmocka_unit_test(masks_url_credentials),
		cmocka_unit_test(leaves_ordinary_text),
		cmocka_unit_test(cause_is_short_safe_and_valid),
		cmocka_unit_test(log_escape),
		cmocka_unit_test(log_masks_before_it_cuts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
