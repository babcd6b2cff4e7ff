/*
 * Unit tests: the session's boundary with its wire protocol
 * (src/session/session.c through session.h only, src/protocol/native.c):
 * setters and their ranges, problems reported in the session's vocabulary,
 * and the native protocol's mapping of both onto /ws messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "audio/frame.h"
#include "protocol/native.h"
#include "session/limits.h"
#include "session/session.h"
#include "util/config.h"
#include "util/err.h"

/* A second "protocol": records what the session says. */
#define MAX_SEEN 16
static struct {
	int n;
	enum parley_session_problem problem[MAX_SEEN];
	char message[MAX_SEEN][256];
	int statuses;
} seen;

static void rec_status(struct parley_session *s)
{
	(void)s;
	seen.statuses++;
}

static void rec_error(struct parley_session *s, enum parley_session_problem p, const char *m)
{
	(void)s;
	if (seen.n < MAX_SEEN) {
		seen.problem[seen.n] = p;
		strncpy(seen.message[seen.n], m, sizeof seen.message[0] - 1);
		seen.n++;
	}
}

static void rec_text(struct parley_session *s, const char *t, size_t n)
{
	(void)s, (void)t, (void)n;
}

static void rec_final(struct parley_session *s, const char *t, size_t n,
		      enum parley_answer_outcome i)
{
	(void)s, (void)t, (void)n, (void)i;
}

static void rec_user(struct parley_session *s, const char *t)
{
	(void)s, (void)t;
}

static void rec_user_final(struct parley_session *s, const char *t, const char *whole)
{
	(void)s, (void)t, (void)whole;
}

static void rec_audio(struct parley_session *s, const int16_t *p, size_t n)
{
	(void)s, (void)p, (void)n;
}

static void rec_ms(struct parley_session *s, int64_t ms)
{
	(void)s;
	(void)ms;
}

static void rec_why(struct parley_session *s, const char *why)
{
	(void)s;
	(void)why;
}

static void rec_none(struct parley_session *s)
{
	(void)s;
}

static void rec_started(struct parley_session *s, uint64_t answer)
{
	(void)s, (void)answer;
}

static void rec_committed(struct parley_session *s, int64_t ms, bool opened)
{
	(void)s, (void)ms, (void)opened;
}

static const struct parley_session_events recorder = {
	.status = rec_status,
	.error = rec_error,
	.answer_partial = rec_text,
	.answer_started = rec_started,
	.answer_final = rec_final,
	.user_partial = rec_user,
	.user_final = rec_user_final,
	.speech_started = rec_ms,
	.speech_stopped = rec_ms,
	.committed = rec_committed,
	.user_failed = rec_why,
	.audio = rec_audio,
	.stop_tts = rec_none,
	.tts_interruption = rec_none,
	.input_rate_inferred = rec_none,
};

static struct parley_session_limits limits;
static int wakes;

static void on_wake(void *arg)
{
	(void)arg;
	wakes++;
}

static struct parley_session *make(const struct parley_session_events *ev)
{
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	parley_session_limits_init(&limits, &cfg);
	memset(&seen, 0, sizeof seen);
	struct parley_session_params p = {
		.id = 7,
		.events = ev,
		.wake = on_wake,
		.owner = &limits,
		.history_chars = 1000,
		.limits = &limits, /* no workers, LLM or speech: text only */
		.merge_turns = true,
	};
	struct parley_session *s = parley_session_create(&p);
	assert_non_null(s);
	return s;
}

static void facts_and_transport(void **state)
{
	(void)state;
	struct parley_session *s = make(&recorder);
	assert_int_equal(parley_session_id(s), 7);
	assert_true(parley_session_created_ns(s) > 0);
	assert_ptr_equal(parley_session_owner(s), &limits);
	assert_null(parley_session_llm(s));
	assert_null(parley_session_speech(s));
	assert_null(parley_session_transport(s));
	int conn;
	parley_session_set_transport(s, &conn);
	assert_ptr_equal(parley_session_transport(s), &conn);
	parley_session_report_status(s);
	assert_int_equal(seen.statuses, 1);
	assert_false(parley_session_is_closing(s));
	assert_null(parley_session_end_reason(s));
	parley_session_close(s);
	assert_true(parley_session_is_closing(s));
	parley_session_unref(s);
}

static void setters_check_their_ranges(void **state)
{
	(void)state;
	struct parley_session *s = make(&recorder);
	struct parley_settings st, before;
	parley_session_get_settings(s, &before);

	assert_int_equal(parley_session_set_input_rate(s, PARLEY_RATE_MIN - 1), PARLEY_E_RANGE);
	assert_int_equal(parley_session_set_output_rate(s, PARLEY_RATE_MAX + 1), PARLEY_E_RANGE);
	assert_int_equal(parley_session_set_audio_out(s, (enum parley_audio_out)7), PARLEY_E_RANGE);
	assert_int_equal(parley_session_set_tts_rate(s, 2.5), PARLEY_E_RANGE);
	assert_int_equal(parley_session_set_speed(s, -1), PARLEY_E_RANGE);
	assert_int_equal(parley_session_set_voice(s, "no-such-voice"), PARLEY_E_NOTFOUND);
	parley_session_get_settings(s, &st);
	assert_memory_equal(&st, &before, sizeof st);
	assert_int_equal(seen.n, 0); /* setters never report: the protocol does */

	assert_int_equal(parley_session_set_input_rate(s, 16000), 0);
	assert_int_equal(parley_session_set_output_rate(s, 24000), 0);
	assert_int_equal(parley_session_set_audio_out(s, PARLEY_AUDIO_OUT_BINARY), 0);
	assert_int_equal(parley_session_set_tts_rate(s, 1.5), 0);
	assert_int_equal(parley_session_set_speed(s, 100), 0);
	assert_int_equal(parley_session_set_voice(s, "default"), 0);
	parley_session_get_settings(s, &st);
	assert_int_equal(st.input_sample_rate, 16000);
	assert_int_equal(st.output_sample_rate, 24000);
	assert_int_equal(st.audio_out, PARLEY_AUDIO_OUT_BINARY);
	assert_true(st.tts_rate == 1.5 && st.speed == 100);
	assert_string_equal(st.voice, "default");
	parley_session_unref(s);
}

/* Audio far ahead of real time is a problem in the session's words. */
static void problems_are_the_sessions_own(void **state)
{
	(void)state;
	struct parley_session *s = make(&recorder);
	assert_int_equal(parley_session_set_input_rate(s, 8000), 0);
	static int16_t pcm[PARLEY_FRAME_MAX_SAMPLES]; /* 4 s at 8 kHz */
	for (int i = 0; i < 3; i++)
		parley_session_audio_in(s, pcm, PARLEY_FRAME_MAX_SAMPLES, false, -1);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.problem[0], PARLEY_SESSION_AUDIO_TOO_FAST);
	assert_non_null(strstr(seen.message[0], "faster than real time"));
	assert_string_equal(parley_session_problem_name(seen.problem[0]), "audio_too_fast");
	parley_session_unref(s);
}

/* Every problem has its own wire code, named like it. */
static void native_maps_every_problem(void **state)
{
	(void)state;
	bool used[PARLEY_PE_COUNT] = { false };
	for (int p = 0; p < PARLEY_SESSION_PROBLEM_COUNT; p++) {
		enum parley_proto_error code = parley_native_error_code((enum parley_session_problem)p);
		assert_true((unsigned)code < PARLEY_PE_COUNT);
		assert_false(used[code]);
		used[code] = true;
		const char *name = parley_session_problem_name((enum parley_session_problem)p);
		if (p == PARLEY_SESSION_INTERNAL)
			assert_int_equal(code, PARLEY_PE_INTERNAL);
		else
			assert_string_equal(parley_proto_error_code(code), name);
	}
}

/* Pops the next message as JSON (NULL when none). */
static json_t *next(struct parley_session *s)
{
	bool more;
	struct parley_msg *m = parley_session_pop(s, &more);
	if (!m)
		return NULL;
	assert_false(m->binary);
	json_t *j = json_loadb((const char *)m->data, m->len, 0, NULL);
	assert_non_null(j);
	parley_msg_free(m);
	return j;
}

static const char *type_of(json_t *j)
{
	return json_string_value(json_object_get(j, "type"));
}

static const char *code_of(json_t *j)
{
	return json_string_value(json_object_get(json_object_get(j, "content"), "code"));
}

static void native_drives_the_session(void **state)
{
	(void)state;
	struct parley_session *s = make(&parley_native_events);
	const char *cfg = "{\"type\":\"session.config\",\"input_sample_rate\":16000,"
			  "\"output_sample_rate\":24000,\"audio_out\":\"binary\",\"tts_rate\":1.5}";
	parley_native_on_text(s, cfg, strlen(cfg));
	json_t *j = next(s);
	assert_string_equal(type_of(j), "session.configured");
	json_t *c = json_object_get(j, "content");
	assert_int_equal(json_integer_value(json_object_get(c, "output_sample_rate")), 24000);
	assert_string_equal(json_string_value(json_object_get(c, "audio_out")), "binary");
	json_decref(j);
	struct parley_settings st;
	parley_session_get_settings(s, &st);
	assert_int_equal(st.input_sample_rate, 16000);
	assert_true(st.tts_rate == 1.5);

	/* An unknown voice: the wire's error, and nothing of the message applied. */
	cfg = "{\"type\":\"session.config\",\"input_sample_rate\":8000,"
	      "\"voice\":\"zz\"}";
	parley_native_on_text(s, cfg, strlen(cfg));
	j = next(s);
	assert_string_equal(type_of(j), "error");
	assert_string_equal(code_of(j), "invalid_field");
	const char *msg =
		json_string_value(json_object_get(json_object_get(j, "content"), "message"));
	assert_non_null(strstr(msg, "session.config: unknown voice 'zz'"));
	json_decref(j);
	parley_session_get_settings(s, &st);
	assert_int_equal(st.input_sample_rate, 16000);

	const char *speed = "{\"type\":\"set_speed\",\"speed\":80}";
	parley_native_on_text(s, speed, strlen(speed));
	parley_session_get_settings(s, &st);
	assert_true(st.speed == 80);
	assert_null(next(s)); /* set_speed has no reply */

	parley_native_on_text(s, "{", 1);
	j = next(s);
	assert_string_equal(code_of(j), "invalid_json");
	json_decref(j);

	/* A session problem through the native events: audio_too_fast. */
	static uint8_t frame[PARLEY_FRAME_HEADER_BYTES + 2 * PARLEY_FRAME_MAX_SAMPLES];
	parley_frame_header_encode(frame, 0, 0);
	cfg = "{\"type\":\"session.config\",\"input_sample_rate\":8000}";
	parley_native_on_text(s, cfg, strlen(cfg));
	json_decref(next(s));
	for (int i = 0; i < 3; i++)
		parley_native_on_binary(s, frame, sizeof frame);
	j = next(s);
	assert_string_equal(type_of(j), "error");
	assert_string_equal(code_of(j), "audio_too_fast");
	json_decref(j);
	assert_null(next(s));

	parley_native_on_binary(s, frame, 3);
	j = next(s);
	assert_string_equal(code_of(j), "invalid_frame");
	json_decref(j);
	assert_true(wakes > 0);
	parley_session_close(s);
	parley_session_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(facts_and_transport),
		cmocka_unit_test(setters_check_their_ranges),
		cmocka_unit_test(problems_are_the_sessions_own),
		cmocka_unit_test(native_maps_every_problem),
		cmocka_unit_test(native_drives_the_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
