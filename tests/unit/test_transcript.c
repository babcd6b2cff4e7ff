/* Unit tests: reading transcription services' answers and wording their
 * failures (src/stt/transcript.c). Bodies are the shapes real services send:
 * OpenAI, speaches (FastAPI), whisper.cpp's server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "stt/transcript.h"
#include "util/err.h"
#include "util/utf8.h"

static int parse(const char *ct, const char *body, char *out, size_t cap,
		 enum parley_speech_cause *cause, char *detail)
{
	return parley_transcript_parse(ct, body, strlen(body), out, cap, cause, detail, 200);
}

static void answers_of_every_shape(void **state)
{
	char out[256], detail[200];
	enum parley_speech_cause cause = PARLEY_SPEECH_CAUSE_NONE;
	assert_int_equal(parse("application/json", "{\"text\":\"Hello there.\"}", out, sizeof out,
			       &cause, detail), 0);
	assert_string_equal(out, "Hello there.");
	/* whisper.cpp: a leading space and one line per segment */
	assert_int_equal(parse("application/json",
			       "{\"text\":\" And so my fellow Americans,\\n ask not\\n\"}", out,
			       sizeof out, &cause, detail), 0);
	assert_string_equal(out, "And so my fellow Americans, ask not");
	/* verbose_json (speaches, OpenAI): extra fields are ignored */
	assert_int_equal(parse("application/json; charset=utf-8",
			       "{\"task\":\"transcribe\",\"language\":\"english\",\"duration\":1.5,"
			       "\"text\":\"two words\",\"segments\":[{\"id\":0,\"text\":\"two words\"}]}",
			       out, sizeof out, &cause, detail), 0);
	assert_string_equal(out, "two words");
	/* response_format=text: text/plain (speaches), text/html (whisper.cpp) */
	assert_int_equal(parse("text/plain", "  plain words \n", out, sizeof out, &cause, detail), 0);
	assert_string_equal(out, "plain words");
	assert_int_equal(parse("text/html; charset=utf-8", " one\n two\n", out, sizeof out, &cause,
			       detail), 0);
	assert_string_equal(out, "one two");
	/* JSON without a JSON content type, and an empty transcript */
	assert_int_equal(parse("", "{\"text\":\"\"}", out, sizeof out, &cause, detail), 0);
	assert_string_equal(out, "");
	assert_int_equal(parse(NULL, "{\"text\":\"no type\"}", out, sizeof out, &cause, detail), 0);
	assert_string_equal(out, "no type");
	/* plain text that merely starts with a brace */
	assert_int_equal(parse("text/plain", "{curly} words", out, sizeof out, &cause, detail), 0);
	assert_string_equal(out, "{curly} words");
}

static void failures_inside_a_200(void **state)
{
	char out[256], detail[200];
	enum parley_speech_cause cause = PARLEY_SPEECH_CAUSE_NONE;
	/* whisper.cpp reports its failures as 200 {"error": "..."} */
	assert_int_equal(parse("application/json", "{\"error\":\"failed to read WAV file\"}", out,
			       sizeof out, &cause, detail), PARLEY_E_INVAL);
	assert_int_equal(cause, PARLEY_SPEECH_CAUSE_HTTP);
	assert_string_equal(detail, "failed to read WAV file");
	assert_string_equal(out, "");
	cause = PARLEY_SPEECH_CAUSE_NONE;
	assert_int_equal(parse("application/json", "{\"te", out, sizeof out, &cause, detail),
			 PARLEY_E_INVAL);
	assert_int_equal(cause, PARLEY_SPEECH_CAUSE_BROKEN);
	cause = PARLEY_SPEECH_CAUSE_NONE;
	assert_int_equal(parse("application/json", "{\"segments\":[]}", out, sizeof out, &cause,
			       detail), PARLEY_E_INVAL);
	assert_int_equal(cause, PARLEY_SPEECH_CAUSE_BROKEN);
	assert_int_equal(parse("application/json", "[\"text\"]", out, sizeof out, &cause, detail),
			 PARLEY_E_INVAL);
}

static void transcripts_are_safe_text(void **state)
{
	char out[16], detail[200];
	enum parley_speech_cause cause;
	/* invalid UTF-8 and controls in a text/plain answer */
	const char bad[] = "ab\xff\x01" "cd\x1b[31m";
	assert_int_equal(parley_transcript_parse("text/plain", bad, sizeof bad - 1, out, sizeof out,
						 &cause, detail, sizeof detail), 0);
	assert_true(parley_utf8_valid(out, strlen(out)));
	assert_null(strchr(out, '\x1b'));
	/* cut on a character boundary to the buffer */
	const char *euro = "{\"text\":\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
			   "\xe2\x82\xac\"}";
	assert_int_equal(parse("application/json", euro, out, sizeof out, &cause, detail), 0);
	assert_int_equal(strlen(out), 15);
	assert_true(parley_utf8_valid(out, strlen(out)));
}

static void service_words(void **state)
{
	char out[200];
	const char *openai = "{\"error\":{\"message\":\"Incorrect API key provided: "
			     "sk-proj-abcdefABCDEF0123456789xyz. You can find your API key at "
			     "https://platform.openai.com/account/api-keys.\",\"type\":"
			     "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";
	parley_transcript_service_words(openai, strlen(openai), 120, out, sizeof out);
	assert_non_null(strstr(out, "Incorrect API key provided: sk-***"));
	assert_null(strstr(out, "abcdef"));
	assert_null(strstr(out, "platform.openai.com"));
	const char *fastapi = "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"model\"],"
			      "\"msg\":\"Field required\",\"input\":null}]}";
	parley_transcript_service_words(fastapi, strlen(fastapi), 120, out, sizeof out);
	assert_string_equal(out, "Field required");
	const char *detail = "{\"detail\":\"Model 'x' is not installed locally.\"}";
	parley_transcript_service_words(detail, strlen(detail), 120, out, sizeof out);
	assert_string_equal(out, "Model 'x' is not installed locally.");
	const char *text = "File Not Found (/v1/audio/transcriptions)";
	parley_transcript_service_words(text, strlen(text), 120, out, sizeof out);
	assert_string_equal(out, text);
	char longer[400];
	memset(longer, 'a', sizeof longer);
	for (size_t i = 5; i < sizeof longer; i += 6)
		longer[i] = ' ';
	assert_true(parley_transcript_service_words(longer, sizeof longer, 50, out, sizeof out) <= 50);
	assert_non_null(strstr(out, "..."));
	parley_transcript_service_words("", 0, 50, out, sizeof out);
	assert_string_equal(out, "");
}

static void user_messages(void **state)
{
	char out[PARLEY_TRANSCRIPT_USER_MAX + 1];
	parley_transcript_user_error(PARLEY_SPEECH_CAUSE_BUSY, 0, NULL, out, sizeof out);
	assert_string_equal(out, "the transcription service is saturated");
	parley_transcript_user_error(PARLEY_SPEECH_CAUSE_TIMEOUT, 0, NULL, out, sizeof out);
	assert_string_equal(out, "the transcription service did not answer in time");
	parley_transcript_user_error(PARLEY_SPEECH_CAUSE_HTTP, 401, "bad key sk-abcdefABCDEF0123456789",
				     out, sizeof out);
	assert_string_equal(out, "the transcription service refused the API key (HTTP 401)");
	char longer[300];
	memset(longer, 'b', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	memcpy(longer, "token=SECRETSECRET http://user:pw@10.0.0.1:9/x ", 47);
	parley_transcript_user_error(PARLEY_SPEECH_CAUSE_HTTP, 500, longer, out, sizeof out);
	assert_true(strlen(out) <= PARLEY_TRANSCRIPT_USER_MAX);
	assert_memory_equal(out, "the transcription service failed (HTTP 500: ", 44);
	assert_null(strstr(out, "SECRET"));
	assert_null(strstr(out, "10.0.0.1"));
	assert_int_equal(out[strlen(out) - 1], ')');
	parley_transcript_user_error(PARLEY_SPEECH_CAUSE_HTTP, 200, "failed to read WAV file", out,
				     sizeof out);
	assert_string_equal(out, "the transcription service refused the audio: failed to read WAV file");
}

static void operator_sentences(void **state)
{
	char out[512];
	struct parley_transcript_where w = { .hostport = "127.0.0.1:8080",
					     .path = "/v1/audio/transcriptions",
					     .model = "whisper-1",
					     .has_key = false,
					     .timeout_ms = 15000 };
	parley_transcript_operator_error(&w, PARLEY_SPEECH_CAUSE_UNAVAILABLE, 0,
					 "Could not connect to server", NULL, out, sizeof out);
	assert_non_null(strstr(out, "cannot connect to the transcription service at 127.0.0.1:8080"));
	assert_non_null(strstr(out, "is it running?"));
	parley_transcript_operator_error(&w, PARLEY_SPEECH_CAUSE_HTTP, 404, NULL,
					 "File Not Found (/v1/audio/transcriptions)", out,
					 sizeof out);
	assert_non_null(strstr(out, "--stt-path /inference"));
	parley_transcript_operator_error(&w, PARLEY_SPEECH_CAUSE_HTTP, 404, NULL,
					 "Model 'whisper-1' is not installed locally.", out,
					 sizeof out);
	assert_non_null(strstr(out, "does not have model 'whisper-1'"));
	assert_non_null(strstr(out, "--stt-model"));
	parley_transcript_operator_error(&w, PARLEY_SPEECH_CAUSE_HTTP, 401, NULL, "no key", out,
					 sizeof out);
	assert_non_null(strstr(out, "set PARLEY_STT_API_KEY"));
	w.has_key = true;
	parley_transcript_operator_error(&w, PARLEY_SPEECH_CAUSE_HTTP, 401, NULL,
					 "Incorrect API key provided: sk-proj-abcdefABCDEF0123456789",
					 out, sizeof out);
	assert_non_null(strstr(out, "refused the API key (HTTP 401"));
	assert_non_null(strstr(out, "check PARLEY_STT_API_KEY"));
	assert_null(strstr(out, "abcdef"));
	parley_transcript_operator_error(&w, PARLEY_SPEECH_CAUSE_TIMEOUT, 0, NULL, NULL, out,
					 sizeof out);
	assert_non_null(strstr(out, "within 15000 ms"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(answers_of_every_shape), cmocka_unit_test(failures_inside_a_200),
		cmocka_unit_test(transcripts_are_safe_text), cmocka_unit_test(service_words),
		cmocka_unit_test(user_messages), cmocka_unit_test(operator_sentences),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
