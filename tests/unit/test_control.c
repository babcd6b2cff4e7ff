/* Unit tests: JSON control message parsing (src/protocol/control.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "protocol/control.h"

static struct parley_control ok(const char *json)
{
	struct parley_control c;
	struct parley_proto_err err = { 0 };
	int rc = parley_control_parse(json, strlen(json), &c, &err);
	if (rc != 0)
		fail_msg("expected %s to parse, got %s: %s", json,
			 parley_proto_error_code(err.code), err.message);
	return c;
}

static void expect_error(const char *json, enum parley_proto_error code)
{
	struct parley_control c;
	struct parley_proto_err err = { .code = PARLEY_PE_COUNT };
	int rc = parley_control_parse(json, strlen(json), &c, &err);
	if (rc == 0) {
		parley_control_clear(&c);
		fail_msg("expected %s to fail with %s", json, parley_proto_error_code(code));
	}
	if (err.code != code)
		fail_msg("%s: expected %s, got %s (%s)", json, parley_proto_error_code(code),
			 parley_proto_error_code(err.code), err.message);
	assert_true(strlen(err.message) > 0);
}

static void simple_types(void **state)
{
	assert_int_equal(ok("{\"type\":\"tts_start\"}").type, PARLEY_CTL_TTS_START);
	assert_int_equal(ok("{\"type\":\"tts_stop\"}").type, PARLEY_CTL_TTS_STOP);
	assert_int_equal(ok("{\"type\":\"clear_history\",\"extra\":1}").type,
			 PARLEY_CTL_CLEAR_HISTORY);
}

static void set_speed(void **state)
{
	struct parley_control c = ok("{\"type\":\"set_speed\",\"speed\":0}");
	assert_int_equal(c.type, PARLEY_CTL_SET_SPEED);
	assert_true(c.u.speed == 0);
	c = ok("{\"type\":\"set_speed\",\"speed\":100}");
	assert_true(c.u.speed == 100);
	c = ok("{\"type\":\"set_speed\",\"speed\":42.5}");
	assert_true(c.u.speed == 42.5);
	expect_error("{\"type\":\"set_speed\"}", PARLEY_PE_MISSING_FIELD);
	expect_error("{\"type\":\"set_speed\",\"speed\":\"fast\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"set_speed\",\"speed\":null}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"set_speed\",\"speed\":true}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"set_speed\",\"speed\":100.5}", PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"set_speed\",\"speed\":-1}", PARLEY_PE_OUT_OF_RANGE);
}

static void session_config(void **state)
{
	struct parley_control c = ok("{\"type\":\"session.config\",\"input_sample_rate\":16000,"
				     "\"output_sample_rate\":24000,\"audio_out\":\"binary\","
				     "\"voice\":\"rms\",\"tts_rate\":1.25}");
	assert_int_equal(c.type, PARLEY_CTL_SESSION_CONFIG);
	assert_int_equal(c.u.config.has, PARLEY_CFG_INPUT_RATE | PARLEY_CFG_OUTPUT_RATE |
						  PARLEY_CFG_AUDIO_OUT | PARLEY_CFG_VOICE |
						  PARLEY_CFG_TTS_RATE);
	assert_int_equal(c.u.config.input_sample_rate, 16000);
	assert_int_equal(c.u.config.output_sample_rate, 24000);
	assert_int_equal(c.u.config.audio_out, PARLEY_AUDIO_OUT_BINARY);
	assert_string_equal(c.u.config.voice, "rms");
	assert_true(c.u.config.tts_rate == 1.25);

	c = ok("{\"type\":\"session.config\"}");
	assert_int_equal(c.u.config.has, 0);
	c = ok("{\"type\":\"session.config\",\"input_sample_rate\":8000,\"audio_out\":\"base64\"}");
	assert_int_equal(c.u.config.has, PARLEY_CFG_INPUT_RATE | PARLEY_CFG_AUDIO_OUT);
	assert_int_equal(c.u.config.audio_out, PARLEY_AUDIO_OUT_BASE64);
	ok("{\"type\":\"session.config\",\"output_sample_rate\":96000}");
	ok("{\"type\":\"session.config\",\"voice\":\"en-us+f3\"}");
	ok("{\"type\":\"session.config\",\"tts_rate\":0.5}");
	ok("{\"type\":\"session.config\",\"tts_rate\":2}");
	c = ok("{\"type\":\"session.config\",\"hold_final\":false}");
	assert_int_equal(c.u.config.has, PARLEY_CFG_HOLD_FINAL);
	assert_false(c.u.config.hold_final);
	c = ok("{\"type\":\"session.config\",\"hold_final\":true}");
	assert_true(c.u.config.hold_final);
	c = ok("{\"type\":\"session.config\",\"false_interruptions\":\"stop\"}");
	assert_true(c.u.config.has & PARLEY_CFG_FALSE_INTERRUPTIONS);
	assert_false(c.u.config.resume);
	c = ok("{\"type\":\"session.config\",\"false_interruptions\":\"resume\"}");
	assert_true(c.u.config.resume);

	expect_error("{\"type\":\"session.config\",\"input_sample_rate\":7999}",
		     PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"session.config\",\"input_sample_rate\":96001}",
		     PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"session.config\",\"input_sample_rate\":16000.5}",
		     PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"input_sample_rate\":\"16000\"}",
		     PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"output_sample_rate\":100000}",
		     PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"session.config\",\"audio_out\":\"mp3\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"audio_out\":1}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"voice\":\"\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"voice\":\"a b\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"voice\":\"../etc\"}", PARLEY_PE_INVALID_FIELD);
	char longvoice[200];
	snprintf(longvoice, sizeof longvoice, "{\"type\":\"session.config\",\"voice\":\"%065d\"}", 0);
	expect_error(longvoice, PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"tts_rate\":5}", PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"session.config\",\"tts_rate\":0.4}", PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"session.config\",\"tts_rate\":\"x\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"hold_final\":0}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"false_interruptions\":\"maybe\"}",
		     PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"false_interruptions\":true}",
		     PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"hold_final\":\"no\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"session.config\",\"inptu_sample_rate\":16000}",
		     PARLEY_PE_UNKNOWN_FIELD);
}

static void text_turn(void **state)
{
	struct parley_control c = ok("{\"type\":\"text\",\"content\":\"hello there\"}");
	assert_int_equal(c.type, PARLEY_CTL_TEXT);
	assert_string_equal(c.u.text, "hello there");
	parley_control_clear(&c);
	assert_null(c.u.text);
	parley_control_clear(&c); /* twice is fine */

	c = ok("{\"type\":\"text\",\"content\":\"caf\\u00e9 \\u2014 ok\"}");
	assert_string_equal(c.u.text, "caf\xc3\xa9 \xe2\x80\x94 ok");
	parley_control_clear(&c);

	expect_error("{\"type\":\"text\"}", PARLEY_PE_MISSING_FIELD);
	expect_error("{\"type\":\"text\",\"content\":42}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"text\",\"content\":\"\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"text\",\"content\":\" \\t\\n \"}", PARLEY_PE_INVALID_FIELD);

	char *big = malloc(PARLEY_TEXT_TURN_MAX_BYTES + 64);
	int n = sprintf(big, "{\"type\":\"text\",\"content\":\"");
	memset(big + n, 'a', PARLEY_TEXT_TURN_MAX_BYTES);
	strcpy(big + n + PARLEY_TEXT_TURN_MAX_BYTES, "\"}");
	c = ok(big);
	parley_control_clear(&c);
	big[n + PARLEY_TEXT_TURN_MAX_BYTES] = 'a';
	strcpy(big + n + PARLEY_TEXT_TURN_MAX_BYTES + 1, "\"}");
	expect_error(big, PARLEY_PE_OUT_OF_RANGE);
	free(big);
}

static void playback(void **state)
{
	struct parley_control c = ok("{\"type\":\"playback\",\"played_ms\":2350}");
	assert_int_equal(c.type, PARLEY_CTL_PLAYBACK);
	assert_int_equal(c.u.played_ms, 2350);
	c = ok("{\"type\":\"playback\",\"played_ms\":0}");
	assert_int_equal(c.u.played_ms, 0);
	expect_error("{\"type\":\"playback\"}", PARLEY_PE_MISSING_FIELD);
	expect_error("{\"type\":\"playback\",\"played_ms\":-5}", PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"playback\",\"played_ms\":86400001}", PARLEY_PE_OUT_OF_RANGE);
	expect_error("{\"type\":\"playback\",\"played_ms\":\"x\"}", PARLEY_PE_INVALID_FIELD);
	expect_error("{\"type\":\"playback\",\"played_ms\":1.5}", PARLEY_PE_INVALID_FIELD);
}

static void malformed_envelopes(void **state)
{
	expect_error("{oops", PARLEY_PE_INVALID_JSON);
	expect_error("", PARLEY_PE_INVALID_JSON);
	expect_error("{\"type\":\"tts_start\"} trailing", PARLEY_PE_INVALID_JSON);
	expect_error("{\"type\":\"a\xff\"}", PARLEY_PE_INVALID_JSON); /* invalid UTF-8 */
	expect_error("{\"type\":\"tts_start\",\"type\":\"tts_stop\"}", PARLEY_PE_INVALID_JSON);
	expect_error("[1,2]", PARLEY_PE_INVALID_MESSAGE);
	expect_error("\"tts_start\"", PARLEY_PE_INVALID_MESSAGE);
	expect_error("42", PARLEY_PE_INVALID_MESSAGE);
	expect_error("{\"content\":\"x\"}", PARLEY_PE_INVALID_MESSAGE);
	expect_error("{\"type\":5}", PARLEY_PE_INVALID_MESSAGE);
	expect_error("{\"type\":null}", PARLEY_PE_INVALID_MESSAGE);
	expect_error("{\"type\":\"dance\"}", PARLEY_PE_UNKNOWN_TYPE);
	expect_error("{\"type\":\"TTS_START\"}", PARLEY_PE_UNKNOWN_TYPE);
}

static void length_is_respected(void **state)
{
	/* Not NUL-terminated input: only len bytes are read. */
	const char buf[] = "{\"type\":\"tts_stop\"}GARBAGE";
	struct parley_control c;
	struct parley_proto_err err;
	assert_int_equal(parley_control_parse(buf, 19, &c, &err), 0);
	assert_int_equal(c.type, PARLEY_CTL_TTS_STOP);

	char *big = malloc(PARLEY_TEXT_MSG_MAX_BYTES + 2);
	memset(big, ' ', PARLEY_TEXT_MSG_MAX_BYTES + 1);
	memcpy(big, "{\"type\":\"tts_stop\"}", 19);
	assert_int_equal(parley_control_parse(big, PARLEY_TEXT_MSG_MAX_BYTES, &c, &err), 0);
	assert_int_equal(parley_control_parse(big, PARLEY_TEXT_MSG_MAX_BYTES + 1, &c, &err), -1);
	assert_int_equal(err.code, PARLEY_PE_MESSAGE_TOO_LARGE);
	free(big);
}

static void names(void **state)
{
	assert_string_equal(parley_ctl_type_name(PARLEY_CTL_SESSION_CONFIG), "session.config");
	assert_string_equal(parley_proto_error_code(PARLEY_PE_OUT_OF_RANGE), "out_of_range");
	assert_string_equal(parley_proto_error_code(PARLEY_PE_COUNT), "internal_error");
	assert_string_equal(parley_audio_out_name(PARLEY_AUDIO_OUT_BINARY), "binary");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(simple_types),     cmocka_unit_test(set_speed),
		cmocka_unit_test(session_config),   cmocka_unit_test(text_turn),
		cmocka_unit_test(playback),         cmocka_unit_test(malformed_envelopes),
		cmocka_unit_test(length_is_respected), cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
