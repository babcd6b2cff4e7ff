/*
 * Unit tests: the OpenAI Realtime wire (src/protocol/realtime*.c) on real
 * sessions (text only: no LLM, no speech): client events fed to on_text,
 * session events raised through the wire's events table, and the server
 * events read back from the session's out-queue, in both dialects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "audio/g711.h"
#include "protocol/realtime.h"
#include "session/limits.h"
#include "session/session.h"
#include "util/config.h"
#include "util/err.h"
#include "util/outq.h"

static struct parley_session_limits limits;

static void on_wake(void *arg)
{
	(void)arg;
}

static struct parley_session *make(bool beta)
{
	const struct parley_wire *w = &parley_realtime_wire;
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	parley_session_limits_init(&limits, &cfg);
	struct parley_wire_facts f = { .beta = beta };
	strcpy(f.model, "gpt-realtime");
	int err = 0;
	void *proto = w->proto_new(&f, &err);
	assert_non_null(proto);
	struct parley_session_params p = {
		.id = 9,
		.events = w->events,
		.wake = on_wake,
		.owner = &limits,
		.history_chars = 1000,
		.limits = &limits,
		.merge_turns = true, /* the default (--turn-merging on) */
		.assume_playback = w->assume_playback,
		.proto = proto,
		.proto_free = w->proto_free,
	};
	struct parley_session *s = parley_session_create(&p);
	assert_non_null(s);
	w->hello(s);
	return s;
}

/* Every queued server event, in order, as a JSON array. */
static json_t *drain(struct parley_session *s)
{
	json_t *all = json_array();
	bool more = true;
	struct parley_msg *m;
	while (more && (m = parley_session_pop(s, &more))) {
		json_error_t e;
		json_t *j = json_loadb((const char *)m->data, m->len, 0, &e);
		if (!j)
			fail_msg("not JSON: %.*s", (int)m->len, (const char *)m->data);
		assert_false(m->binary);
		assert_true(parley_realtime_wire.count_out(m->tag) ==
			    (strcmp(json_string_value(json_object_get(j, "type")),
				    "session.created") == 0));
		json_array_append_new(all, j);
		parley_msg_free(m);
	}
	return all;
}

static void send_text(struct parley_session *s, const char *text)
{
	parley_realtime_wire.on_text(s, text, strlen(text));
}

static const char *type_of(json_t *ev)
{
	return json_string_value(json_object_get(ev, "type"));
}

/* The one event in evs, asserting there is exactly one. */
static json_t *only(json_t *evs, const char *type)
{
	if (json_array_size(evs) != 1)
		fail_msg("%zu events, wanted one %s: %s", json_array_size(evs), type,
			 json_dumps(evs, 0));
	json_t *ev = json_array_get(evs, 0);
	assert_string_equal(type_of(ev), type);
	return ev;
}

static const char *str_at(json_t *j, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *cur = j;
	for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
		cur = json_object_get(cur, tok);
	return json_string_value(cur);
}

static json_t *at(json_t *j, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *cur = j;
	for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
		cur = json_object_get(cur, tok);
	return cur;
}

static void assert_id(const char *id, const char *prefix)
{
	assert_non_null(id);
	assert_int_equal(strncmp(id, prefix, strlen(prefix)), 0);
	assert_int_equal(strlen(id), strlen(prefix) + 21);
}

/* An error event about the client event event_id (NULL: null). */
static void assert_error(json_t *evs, const char *code, const char *event_id)
{
	json_t *ev = only(evs, "error");
	assert_id(str_at(ev, "event_id"), "event_");
	assert_string_equal(str_at(ev, "error.type"), "invalid_request_error");
	assert_string_equal(str_at(ev, "error.code"), code);
	assert_non_null(str_at(ev, "error.message"));
	if (event_id)
		assert_string_equal(str_at(ev, "error.event_id"), event_id);
	else
		assert_true(json_is_null(at(ev, "error.event_id")));
}

static void session_created_ga(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	json_t *evs = drain(s);
	json_t *ev = only(evs, "session.created");
	assert_id(str_at(ev, "event_id"), "event_");
	assert_id(str_at(ev, "session.id"), "sess_");
	assert_string_equal(str_at(ev, "session.type"), "realtime");
	assert_string_equal(str_at(ev, "session.model"), "gpt-realtime");
	assert_string_equal(str_at(ev, "session.audio.input.format.type"), "audio/pcm");
	assert_int_equal(json_integer_value(at(ev, "session.audio.input.format.rate")), 24000);
	assert_string_equal(str_at(ev, "session.audio.output.voice"), "alloy");
	assert_string_equal(json_string_value(json_array_get(at(ev, "session.output_modalities"), 0)),
			    "audio");
	/* parley's default turn taking: adaptive end of turn = semantic_vad */
	assert_string_equal(str_at(ev, "session.audio.input.turn_detection.type"), "semantic_vad");
	assert_null(at(ev, "session.modalities"));
	struct parley_settings st;
	parley_session_get_settings(s, &st);
	assert_int_equal(st.input_sample_rate, 24000);
	assert_int_equal(st.output_sample_rate, 24000);
	json_decref(evs);
	parley_session_unref(s);
}

static void session_created_beta(void **state)
{
	(void)state;
	struct parley_session *s = make(true);
	json_t *evs = drain(s);
	json_t *ev = only(evs, "session.created");
	assert_string_equal(str_at(ev, "session.object"), "realtime.session");
	assert_string_equal(str_at(ev, "session.input_audio_format"), "pcm16");
	assert_string_equal(str_at(ev, "session.output_audio_format"), "pcm16");
	assert_string_equal(str_at(ev, "session.voice"), "alloy");
	assert_int_equal(json_array_size(at(ev, "session.modalities")), 2);
	assert_null(at(ev, "session.audio"));
	assert_null(at(ev, "session.type"));
	json_decref(evs);
	parley_session_unref(s);
}

static void session_update_ga(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	json_decref(drain(s));
	send_text(s, "{\"type\":\"session.update\",\"event_id\":\"c1\",\"session\":{"
		     "\"type\":\"realtime\",\"instructions\":\"Be brief.\","
		     "\"output_modalities\":[\"text\"],"
		     "\"audio\":{\"input\":{\"format\":{\"type\":\"audio/pcmu\"},"
		     "\"transcription\":{\"model\":\"whisper-1\"},"
		     "\"turn_detection\":{\"type\":\"server_vad\",\"threshold\":0.7,"
		     "\"prefix_padding_ms\":200,\"silence_duration_ms\":800,"
		     "\"create_response\":false,\"interrupt_response\":true}},"
		     "\"output\":{\"format\":{\"type\":\"audio/pcma\"},\"voice\":\"marin\","
		     "\"speed\":1.2}}}}");
	json_t *evs = drain(s);
	json_t *ev = only(evs, "session.updated");
	assert_string_equal(str_at(ev, "session.instructions"), "Be brief.");
	assert_string_equal(str_at(ev, "session.audio.input.format.type"), "audio/pcmu");
	assert_string_equal(str_at(ev, "session.audio.output.format.type"), "audio/pcma");
	assert_string_equal(str_at(ev, "session.audio.output.voice"), "marin");
	assert_string_equal(str_at(ev, "session.audio.input.transcription.model"), "whisper-1");
	assert_string_equal(json_string_value(json_array_get(at(ev, "session.output_modalities"), 0)),
			    "text");
	json_t *td = at(ev, "session.audio.input.turn_detection");
	assert_string_equal(str_at(td, "type"), "server_vad");
	assert_int_equal(json_integer_value(json_object_get(td, "silence_duration_ms")), 800);
	assert_int_equal(json_integer_value(json_object_get(td, "prefix_padding_ms")), 200);
	assert_true(json_is_false(json_object_get(td, "create_response")));

	struct parley_settings st;
	parley_session_get_settings(s, &st);
	assert_int_equal(st.input_sample_rate, 8000);
	assert_int_equal(st.output_sample_rate, 8000);
	assert_string_equal(st.voice, "default");
	assert_true(st.tts_rate == 1.2);
	struct parley_turns t;
	parley_session_get_turns(s, &t);
	assert_int_equal(t.mode, PARLEY_TURNS_FIXED);
	assert_int_equal(t.silence_ms, 800);
	assert_int_equal(t.prefix_ms, 200);
	assert_true(t.threshold == 0.7);
	assert_false(t.create_response);
	assert_true(t.interrupt_response);
	json_decref(evs);

	/* null turn detection: manual turns; semantic_vad eagerness: speed */
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":"
		     "{\"turn_detection\":null}}}}");
	evs = drain(s);
	assert_true(json_is_null(at(only(evs, "session.updated"),
				    "session.audio.input.turn_detection")));
	parley_session_get_turns(s, &t);
	assert_int_equal(t.mode, PARLEY_TURNS_MANUAL);
	json_decref(evs);
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":"
		     "{\"turn_detection\":{\"type\":\"semantic_vad\",\"eagerness\":\"high\"}}}}}");
	evs = drain(s);
	assert_string_equal(str_at(only(evs, "session.updated"),
				   "session.audio.input.turn_detection.eagerness"),
			    "high");
	parley_session_get_turns(s, &t);
	assert_int_equal(t.mode, PARLEY_TURNS_ADAPTIVE);
	parley_session_get_settings(s, &st);
	assert_true(st.speed == 20);
	json_decref(evs);
	parley_session_unref(s);
}

static void session_update_beta(void **state)
{
	(void)state;
	struct parley_session *s = make(true);
	json_decref(drain(s));
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"modalities\":[\"text\",\"audio\"],"
		     "\"input_audio_format\":\"g711_ulaw\",\"output_audio_format\":\"g711_alaw\","
		     "\"voice\":\"shimmer\",\"turn_detection\":null,"
		     "\"input_audio_transcription\":{\"model\":\"x\"}}}");
	json_t *evs = drain(s);
	json_t *ev = only(evs, "session.updated");
	assert_string_equal(str_at(ev, "session.input_audio_format"), "g711_ulaw");
	assert_string_equal(str_at(ev, "session.output_audio_format"), "g711_alaw");
	assert_string_equal(str_at(ev, "session.voice"), "shimmer");
	assert_true(json_is_null(at(ev, "session.turn_detection")));
	struct parley_settings st;
	parley_session_get_settings(s, &st);
	assert_int_equal(st.input_sample_rate, 8000);
	json_decref(evs);
	/* a GA-shaped format in a beta session is an error */
	send_text(s, "{\"type\":\"session.update\",\"event_id\":\"b2\",\"session\":"
		     "{\"input_audio_format\":{\"type\":\"audio/pcm\"}}}");
	evs = drain(s);
	assert_error(evs, "invalid_value", "b2");
	assert_string_equal(str_at(json_array_get(evs, 0), "error.param"),
			    "session.input_audio_format");
	json_decref(evs);
	parley_session_unref(s);
}

/* A bad update changes nothing (all or nothing). */
static void session_update_errors(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	json_decref(drain(s));
	static const struct {
		const char *json, *code, *param;
	} bad[] = {
		{ "{\"type\":\"session.update\",\"event_id\":\"u1\",\"session\":{\"instructions\":\"x\","
		  "\"audio\":{\"input\":{\"format\":{\"type\":\"audio/pcm\",\"rate\":16000}}}}}",
		  "invalid_value", "session.audio.input.format" },
		{ "{\"type\":\"session.update\",\"event_id\":\"u1\",\"session\":{\"instructions\":\"x\","
		  "\"audio\":{\"output\":{\"voice\":\"no-such-voice\"}}}}",
		  "invalid_value", "session.audio.output.voice" },
		{ "{\"type\":\"session.update\",\"event_id\":\"u1\",\"session\":{\"instructions\":\"x\","
		  "\"audio\":{\"input\":{\"turn_detection\":{\"type\":\"server_vad\","
		  "\"silence_duration_ms\":20}}}}}",
		  "invalid_value", "session.audio.input.turn_detection" },
		{ "{\"type\":\"session.update\",\"event_id\":\"u1\",\"session\":{\"instructions\":\"x\","
		  "\"tools\":[{\"type\":\"function\",\"name\":\"f\"}]}}",
		  "unsupported_value", "session.tools" },
		{ "{\"type\":\"session.update\",\"event_id\":\"u1\",\"session\":{\"type\":\"transcription\"}}",
		  "unsupported_value", "session.type" },
		{ "{\"type\":\"session.update\",\"event_id\":\"u1\",\"session\":{\"instructions\":\"x\","
		  "\"output_modalities\":[\"video\"]}}",
		  "invalid_value", "session.output_modalities" },
		{ "{\"type\":\"session.update\",\"event_id\":\"u1\"}", "missing_required_parameter",
		  "session" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		send_text(s, bad[i].json);
		json_t *evs = drain(s);
		assert_error(evs, bad[i].code, "u1");
		assert_string_equal(str_at(json_array_get(evs, 0), "error.param"), bad[i].param);
		json_decref(evs);
	}
	struct parley_settings st;
	parley_session_get_settings(s, &st);
	assert_int_equal(st.input_sample_rate, 24000);
	assert_string_equal(st.voice, "default");
	/* and the session goes on */
	send_text(s, "{\"type\":\"session.update\",\"session\":{}}");
	json_t *evs = drain(s);
	assert_string_equal(str_at(only(evs, "session.updated"), "session.instructions"), "");
	json_decref(evs);
	parley_session_unref(s);
}

static void bad_events_get_errors(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	json_decref(drain(s));
	static const struct {
		const char *json, *code, *event_id;
	} bad[] = {
		{ "{not json", "invalid_json", NULL },
		{ "[1,2]", "invalid_event", NULL },
		{ "{\"event_id\":\"e1\"}", "invalid_event", "e1" },
		{ "{\"type\":\"no.such.event\",\"event_id\":\"e2\"}", "invalid_event", "e2" },
		{ "{\"type\":\"conversation.item.delete\",\"event_id\":\"e3\",\"item_id\":\"x\"}",
		  "unsupported_event", "e3" },
		{ "{\"type\":\"input_audio_buffer.append\",\"event_id\":\"e4\",\"audio\":\"%%%\"}",
		  "invalid_value", "e4" },
		{ "{\"type\":\"input_audio_buffer.append\",\"event_id\":\"e6\"}",
		  "missing_required_parameter", "e6" },
		{ "{\"type\":\"input_audio_buffer.commit\",\"event_id\":\"e7\"}",
		  "input_audio_buffer_commit_empty", "e7" },
		{ "{\"type\":\"response.cancel\",\"event_id\":\"e8\"}", "response_cancel_not_active",
		  "e8" },
		{ "{\"type\":\"conversation.item.create\",\"event_id\":\"e9\",\"item\":{\"type\":"
		  "\"message\",\"role\":\"assistant\",\"content\":[]}}",
		  "unsupported_value", "e9" },
		{ "{\"type\":\"conversation.item.truncate\",\"event_id\":\"e10\",\"item_id\":\"item_x\","
		  "\"content_index\":0,\"audio_end_ms\":10}",
		  "invalid_value", "e10" },
		{ "{\"type\":\"response.create\",\"event_id\":\"e11\"}", "llm_unavailable", "e11" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		send_text(s, bad[i].json);
		json_t *evs = drain(s);
		assert_error(evs, bad[i].code, bad[i].event_id);
		json_decref(evs);
	}
	/* "AAA=" is two bytes, one sample: accepted silently */
	send_text(s, "{\"type\":\"input_audio_buffer.append\",\"audio\":\"AAA=\"}");
	json_t *quiet = drain(s);
	assert_int_equal(json_array_size(quiet), 0);
	json_decref(quiet);
	/* an odd byte count: "AAAA" is three bytes */
	send_text(s, "{\"type\":\"input_audio_buffer.append\",\"event_id\":\"odd\",\"audio\":\"AAAA\"}");
	json_t *evs = drain(s);
	assert_error(evs, "invalid_value", "odd");
	json_decref(evs);
	/* oversize and binary frames */
	parley_realtime_wire.on_oversize(s, false, 99u << 20);
	evs = drain(s);
	assert_error(evs, "event_too_large", NULL);
	json_decref(evs);
	const uint8_t bin[2] = { 1, 2 };
	parley_realtime_wire.on_binary(s, bin, 2);
	evs = drain(s);
	assert_error(evs, "invalid_event", NULL);
	json_decref(evs);
	/* clear works after all that */
	send_text(s, "{\"type\":\"input_audio_buffer.clear\"}");
	evs = drain(s);
	only(evs, "input_audio_buffer.cleared");
	json_decref(evs);
	parley_session_unref(s);
}

static void item_create(void **state)
{
	(void)state;
	for (int beta = 0; beta < 2; beta++) {
		struct parley_session *s = make(beta);
		json_decref(drain(s));
		send_text(s, "{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"message\","
			     "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}}");
		json_t *evs = drain(s);
		assert_int_equal(json_array_size(evs), beta ? 1 : 2);
		json_t *ev = json_array_get(evs, 0);
		assert_string_equal(type_of(ev),
				    beta ? "conversation.item.created" : "conversation.item.added");
		assert_true(json_is_null(json_object_get(ev, "previous_item_id")));
		const char *id = str_at(ev, "item.id");
		assert_id(id, "item_");
		assert_string_equal(str_at(ev, "item.role"), "user");
		assert_string_equal(str_at(ev, "item.status"), "completed");
		json_t *part = json_array_get(at(ev, "item.content"), 0);
		assert_string_equal(str_at(part, "type"), "input_text");
		assert_string_equal(str_at(part, "text"), "hi");
		if (!beta)
			assert_string_equal(type_of(json_array_get(evs, 1)), "conversation.item.done");
		char first[64];
		snprintf(first, sizeof first, "%s", id);
		json_decref(evs);
		/* a second item follows the first; a client id is kept */
		send_text(s, "{\"type\":\"conversation.item.create\",\"item\":{\"id\":\"mine\","
			     "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},"
			     "{\"type\":\"input_text\",\"text\":\"b\"}]}}");
		evs = drain(s);
		ev = json_array_get(evs, 0);
		assert_string_equal(str_at(ev, "previous_item_id"), first);
		assert_string_equal(str_at(ev, "item.id"), "mine");
		assert_string_equal(str_at(json_array_get(at(ev, "item.content"), 0), "text"), "a\nb");
		json_decref(evs);
		parley_session_unref(s);
	}
}

/* Raises a session event as the session would (the lock is not needed by
 * the wire's events: they only read their own state here). */
static const struct parley_session_events *ev(void)
{
	return parley_realtime_wire.events;
}

static char *b64_to_bytes(const char *b64, size_t *n);

static uint64_t answer_no; /* the session's answer numbers, as answer_started gives them */

static void response_completed(void **state)
{
	(void)state;
	for (int beta = 0; beta < 2; beta++) {
		struct parley_session *s = make(beta);
		json_decref(drain(s));
		int16_t pcm[4] = { 0, 1000, -1000, 32767 };
		ev()->answer_started(s, ++answer_no);
		ev()->answer_partial(s, "Hello", 5);
		ev()->audio(s, pcm, 4);
		ev()->answer_partial(s, "Hello there.", 12);
		ev()->audio(s, pcm, 2);
		ev()->answer_final(s, "Hello there. Bye.", 17, PARLEY_ANSWER_COMPLETE);
		json_t *evs = drain(s);
		const char *ga[] = { "response.created",
				     "response.output_item.added",
				     "conversation.item.added",
				     "response.content_part.added",
				     "response.output_audio_transcript.delta",
				     "response.output_audio.delta",
				     "response.output_audio_transcript.delta",
				     "response.output_audio.delta",
				     "response.output_audio_transcript.delta",
				     "response.output_audio.done",
				     "response.output_audio_transcript.done",
				     "response.content_part.done",
				     "response.output_item.done",
				     "conversation.item.done",
				     "response.done" };
		const char *bt[] = { "response.created",
				     "response.output_item.added",
				     "conversation.item.created",
				     "response.content_part.added",
				     "response.audio_transcript.delta",
				     "response.audio.delta",
				     "response.audio_transcript.delta",
				     "response.audio.delta",
				     "response.audio_transcript.delta",
				     "response.audio.done",
				     "response.audio_transcript.done",
				     "response.content_part.done",
				     "response.output_item.done",
				     "response.done" };
		const char **want = beta ? bt : ga;
		size_t nwant = beta ? sizeof bt / sizeof bt[0] : sizeof ga / sizeof ga[0];
		assert_int_equal(json_array_size(evs), nwant);
		const char *resp_id = str_at(json_array_get(evs, 0), "response.id");
		const char *item_id = str_at(json_array_get(evs, 1), "item.id");
		assert_id(resp_id, "resp_");
		assert_id(item_id, "item_");
		char transcript[64] = "";
		size_t audio_bytes = 0;
		for (size_t i = 0; i < nwant; i++) {
			json_t *e = json_array_get(evs, i);
			assert_string_equal(type_of(e), want[i]);
			assert_id(str_at(e, "event_id"), "event_");
			if (strstr(want[i], "delta")) {
				assert_string_equal(str_at(e, "response_id"), resp_id);
				assert_string_equal(str_at(e, "item_id"), item_id);
			}
			if (strstr(want[i], "transcript.delta"))
				strcat(transcript, str_at(e, "delta"));
			if (strstr(want[i], "audio.delta")) {
				size_t n;
				char *raw = b64_to_bytes(str_at(e, "delta"), &n);
				assert_int_equal((unsigned char)raw[2], 1000 & 0xff);
				audio_bytes += n;
				free(raw);
			}
		}
		assert_string_equal(transcript, "Hello there. Bye.");
		assert_int_equal(audio_bytes, 12);
		assert_string_equal(str_at(json_array_get(evs, nwant - 5 + (beta ? 1 : 0)),
					   "transcript"),
				    "Hello there. Bye.");
		json_t *done = json_array_get(evs, nwant - 1);
		assert_string_equal(str_at(done, "response.id"), resp_id);
		assert_string_equal(str_at(done, "response.status"), "completed");
		assert_true(json_is_null(at(done, "response.status_details")));
		json_t *out = json_array_get(at(done, "response.output"), 0);
		assert_string_equal(str_at(out, "status"), "completed");
		json_t *c = json_array_get(json_object_get(out, "content"), 0);
		assert_string_equal(str_at(c, "type"), beta ? "audio" : "output_audio");
		assert_string_equal(str_at(c, "transcript"), "Hello there. Bye.");
		assert_true(json_integer_value(at(done, "response.usage.output_tokens")) == 5);
		assert_true(json_integer_value(at(done, "response.usage.total_tokens")) >= 5);
		json_decref(evs);
		parley_session_unref(s);
	}
}

/* Barge-in: stop_tts, then the interrupted answer: no audio after the
 * stop, everything closed innermost first, response.done cancelled. */
static void response_interrupted(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	json_decref(drain(s));
	int16_t pcm[4] = { 0 };
	ev()->answer_started(s, ++answer_no);
	ev()->answer_partial(s, "One.", 4);
	ev()->audio(s, pcm, 4);
	ev()->stop_tts(s);
	ev()->audio(s, pcm, 4);
	ev()->answer_partial(s, "One. Two.", 9);
	ev()->answer_final(s, "One.", 4, PARLEY_ANSWER_INTERRUPTED);
	json_t *evs = drain(s);
	size_t n = json_array_size(evs), audio = 0, deltas = 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = type_of(json_array_get(evs, i));
		audio += strcmp(t, "response.output_audio.delta") == 0;
		deltas += strcmp(t, "response.output_audio_transcript.delta") == 0;
	}
	assert_int_equal(audio, 1);
	assert_int_equal(deltas, 1);
	json_t *done = json_array_get(evs, n - 1);
	assert_string_equal(type_of(done), "response.done");
	assert_string_equal(str_at(done, "response.status"), "cancelled");
	assert_string_equal(str_at(done, "response.status_details.reason"), "turn_detected");
	assert_string_equal(str_at(json_array_get(at(done, "response.output"), 0), "status"),
			    "incomplete");
	assert_string_equal(type_of(json_array_get(evs, n - 2)), "conversation.item.done");
	assert_string_equal(type_of(json_array_get(evs, n - 3)), "response.output_item.done");
	json_decref(evs);

	/* a newer answer supersedes an open one: it is closed first */
	ev()->answer_started(s, ++answer_no);
	ev()->answer_partial(s, "A", 1);
	ev()->answer_started(s, ++answer_no);
	ev()->answer_final(s, "B", 1, PARLEY_ANSWER_FAILED);
	evs = drain(s);
	int created = 0, done_n = 0;
	const char *statuses[2] = { NULL, NULL };
	for (size_t i = 0; i < json_array_size(evs); i++) {
		json_t *e = json_array_get(evs, i);
		created += strcmp(type_of(e), "response.created") == 0;
		if (strcmp(type_of(e), "response.done") == 0 && done_n < 2)
			statuses[done_n++] = str_at(e, "response.status");
	}
	assert_int_equal(created, 2);
	assert_int_equal(done_n, 2);
	assert_string_equal(statuses[0], "cancelled");
	assert_string_equal(statuses[1], "failed");
	json_decref(evs);

	/* a barge-in's extra final on an answer already done: nothing */
	ev()->answer_final(s, "B", 1, PARLEY_ANSWER_INTERRUPTED);
	evs = drain(s);
	assert_int_equal(json_array_size(evs), 0);
	json_decref(evs);
	parley_session_unref(s);
}

/* Text-only responses: text parts and text deltas, no audio. */
static void response_text_only(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"output_modalities\":[\"text\"]}}");
	json_decref(drain(s));
	int16_t pcm[2] = { 0 };
	ev()->answer_started(s, ++answer_no);
	ev()->answer_partial(s, "Hi", 2);
	ev()->audio(s, pcm, 2);
	ev()->answer_final(s, "Hi!", 3, PARLEY_ANSWER_COMPLETE);
	json_t *evs = drain(s);
	const char *want[] = { "response.created",	     "response.output_item.added",
			       "conversation.item.added",    "response.content_part.added",
			       "response.output_text.delta", "response.output_text.delta",
			       "response.output_text.done",  "response.content_part.done",
			       "response.output_item.done",  "conversation.item.done",
			       "response.done" };
	assert_int_equal(json_array_size(evs), sizeof want / sizeof want[0]);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		assert_string_equal(type_of(json_array_get(evs, i)), want[i]);
	assert_string_equal(str_at(json_array_get(evs, 3), "part.type"), "text");
	assert_string_equal(str_at(json_array_get(evs, 6), "text"), "Hi!");
	json_decref(evs);
	parley_session_unref(s);
}

/* Speech and transcription events share the user's item id. */
static void speech_events(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":"
		     "{\"transcription\":{\"model\":\"parley\"}}}}}");
	json_decref(drain(s));
	ev()->speech_started(s, 1200);
	ev()->speech_stopped(s, 2500);
	ev()->user_final(s, "what time is it", NULL);
	json_t *evs = drain(s);
	const char *want[] = { "input_audio_buffer.speech_started",
			       "input_audio_buffer.speech_stopped",
			       "input_audio_buffer.committed",
			       "conversation.item.added",
			       "conversation.item.done",
			       "conversation.item.input_audio_transcription.delta",
			       "conversation.item.input_audio_transcription.completed" };
	assert_int_equal(json_array_size(evs), sizeof want / sizeof want[0]);
	const char *id = str_at(json_array_get(evs, 0), "item_id");
	assert_id(id, "item_");
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		json_t *e = json_array_get(evs, i);
		assert_string_equal(type_of(e), want[i]);
		const char *eid = str_at(e, "item_id") ? str_at(e, "item_id") : str_at(e, "item.id");
		assert_string_equal(eid, id);
	}
	assert_int_equal(json_integer_value(at(json_array_get(evs, 0), "audio_start_ms")), 1200);
	assert_int_equal(json_integer_value(at(json_array_get(evs, 1), "audio_end_ms")), 2500);
	assert_true(json_is_null(at(json_array_get(evs, 2), "previous_item_id")));
	assert_string_equal(str_at(json_array_get(json_object_get(at(json_array_get(evs, 3), "item"),
								  "content"),
						  0),
				   "type"),
			    "input_audio");
	json_t *done = json_array_get(evs, 6);
	assert_string_equal(str_at(done, "transcript"), "what time is it");
	assert_true(json_real_value(at(done, "usage.seconds")) > 1.2);
	char first[64];
	snprintf(first, sizeof first, "%s", id);
	json_decref(evs);

	/* the next utterance: previous_item_id is the first; a failed one */
	ev()->speech_started(s, 4000);
	ev()->speech_stopped(s, 4600);
	ev()->user_failed(s, "empty");
	evs = drain(s);
	assert_string_equal(str_at(json_array_get(evs, 2), "previous_item_id"), first);
	json_t *f = json_array_get(evs, json_array_size(evs) - 1);
	assert_string_equal(type_of(f), "conversation.item.input_audio_transcription.failed");
	assert_string_equal(str_at(f, "error.code"), "audio_unintelligible");
	json_decref(evs);

	/* transcription off: no transcription events */
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":"
		     "{\"transcription\":null}}}}");
	json_decref(drain(s));
	ev()->speech_started(s, 5000);
	ev()->speech_stopped(s, 6000);
	ev()->user_final(s, "hello", NULL);
	evs = drain(s);
	assert_int_equal(json_array_size(evs), 5);
	json_decref(evs);
	parley_session_unref(s);
}

/* Review findings 3 and 4: a commit is named when the session applies it
 * (committed): the utterance speech_started opened keeps its id, any
 * other gets a new one (no leftover id leaks into it); and however many
 * items wait for their transcripts, each transcript names its own. */
static void commits_name_their_items(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":"
		     "{\"transcription\":{\"model\":\"parley\"}}}}}");
	json_decref(drain(s));
	/* the client's commit alone says nothing: the session's event does */
	ev()->speech_started(s, 300);
	ev()->committed(s, 2000, true);
	json_t *evs = drain(s);
	const char *u = str_at(json_array_get(evs, 0), "item_id");
	assert_string_equal(type_of(json_array_get(evs, 1)), "input_audio_buffer.committed");
	assert_string_equal(str_at(json_array_get(evs, 1), "item_id"), u);
	char first[64];
	snprintf(first, sizeof first, "%s", u);
	json_decref(evs);
	ev()->user_final(s, "hello", NULL);
	json_decref(drain(s));
	/* a speech_started whose utterance a clear dropped: the next commit
	 * with no utterance open is a new item */
	ev()->speech_started(s, 2500);
	json_decref(drain(s));
	ev()->committed(s, 4000, false);
	evs = drain(s);
	const char *id = str_at(json_array_get(evs, 0), "item_id");
	assert_string_equal(str_at(json_array_get(evs, 0), "previous_item_id"), first);
	assert_string_not_equal(id, first);
	json_decref(evs);
	ev()->user_failed(s, "empty");
	json_decref(drain(s));
	/* 100 items waiting at once: transcripts in order, each its own */
	char ids[100][64];
	for (int i = 0; i < 100; i++) {
		ev()->committed(s, 5000 + i * 100, false);
		evs = drain(s);
		snprintf(ids[i], sizeof ids[i], "%s", str_at(json_array_get(evs, 0), "item_id"));
		json_decref(evs);
	}
	for (int i = 0; i < 100; i++) {
		if (i % 3)
			ev()->user_final(s, "words", NULL);
		else
			ev()->user_failed(s, "empty");
		evs = drain(s);
		json_t *last = json_array_get(evs, json_array_size(evs) - 1);
		assert_string_equal(str_at(last, "item_id"), ids[i]);
		json_decref(evs);
	}
	parley_session_unref(s);
}

/* Review finding 10: a client's item id may not repeat an item's. */
static void duplicate_item_ids_are_refused(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	json_decref(drain(s));
	const char *mine = "{\"type\":\"conversation.item.create\",\"event_id\":\"e1\",\"item\":"
			   "{\"id\":\"mine\",\"type\":\"message\",\"role\":\"user\","
			   "\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}}";
	send_text(s, mine);
	json_t *evs = drain(s);
	assert_string_equal(type_of(json_array_get(evs, 0)), "conversation.item.added");
	json_decref(evs);
	send_text(s, mine);
	evs = drain(s);
	json_t *e = only(evs, "error");
	assert_string_equal(str_at(e, "error.code"), "invalid_value");
	assert_string_equal(str_at(e, "error.param"), "item.id");
	assert_string_equal(str_at(e, "error.event_id"), "e1");
	json_decref(evs);
	/* nor a server's: the id of an assistant item */
	ev()->answer_started(s, ++answer_no);
	evs = drain(s);
	char aid[64];
	snprintf(aid, sizeof aid, "%s", str_at(json_array_get(evs, 1), "item.id"));
	json_decref(evs);
	ev()->answer_final(s, "ok", 2, PARLEY_ANSWER_COMPLETE);
	json_decref(drain(s));
	char again[512];
	snprintf(again, sizeof again,
		 "{\"type\":\"conversation.item.create\",\"item\":{\"id\":\"%s\",\"role\":\"user\","
		 "\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}}",
		 aid);
	send_text(s, again);
	evs = drain(s);
	assert_string_equal(str_at(only(evs, "error"), "error.param"), "item.id");
	json_decref(evs);
	parley_session_unref(s);
}

/* Review finding 6: a session that ends with a response open (no final)
 * frees what the response said (LeakSanitizer). */
static void an_open_response_is_freed(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	ev()->answer_started(s, ++answer_no);
	ev()->answer_partial(s, "Hello there", 11);
	json_decref(drain(s));
	parley_session_unref(s);
}

/* G.711 out: an audio delta is one mu-law byte a sample. */
static void g711_output(void **state)
{
	(void)state;
	struct parley_session *s = make(true);
	send_text(s, "{\"type\":\"session.update\",\"session\":{\"output_audio_format\":\"g711_ulaw\"}}");
	json_decref(drain(s));
	int16_t pcm[3] = { 0, 1000, -1000 };
	ev()->answer_started(s, ++answer_no);
	ev()->audio(s, pcm, 3);
	json_t *evs = drain(s);
	json_t *d = json_array_get(evs, json_array_size(evs) - 1);
	assert_string_equal(type_of(d), "response.audio.delta");
	size_t n;
	char *raw = b64_to_bytes(str_at(d, "delta"), &n);
	assert_int_equal(n, 3);
	assert_int_equal((unsigned char)raw[0], 0xff);
	assert_int_equal((unsigned char)raw[1], parley_ulaw_encode(1000));
	free(raw);
	json_decref(evs);
	ev()->answer_final(s, "", 0, PARLEY_ANSWER_CANCELLED);
	evs = drain(s);
	json_t *done = json_array_get(evs, json_array_size(evs) - 1);
	assert_string_equal(str_at(done, "response.status"), "cancelled");
	json_decref(evs);
	parley_session_unref(s);
}

/* Session problems are error events too. */
static void problems(void **state)
{
	(void)state;
	struct parley_session *s = make(false);
	json_decref(drain(s));
	ev()->error(s, PARLEY_SESSION_LLM_UNAVAILABLE, "the LLM is down");
	json_t *evs = drain(s);
	json_t *e = only(evs, "error");
	assert_string_equal(str_at(e, "error.type"), "server_error");
	assert_string_equal(str_at(e, "error.code"), "llm_unavailable");
	assert_string_equal(str_at(e, "error.message"), "the LLM is down");
	json_decref(evs);
	struct parley_msg *m = parley_realtime_wire.refusal(PARLEY_PE_SERVER_FULL, "full");
	assert_non_null(m);
	json_t *j = json_loadb((const char *)m->data, m->len, 0, NULL);
	assert_string_equal(str_at(j, "error.code"), "server_full");
	json_decref(j);
	parley_msg_free(m);
	parley_session_unref(s);
}

static int b64v(char c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(a, c);
	return p && c ? (int)(p - a) : -1;
}

static char *b64_to_bytes(const char *b64, size_t *n)
{
	size_t len = strlen(b64);
	char *out = malloc(len);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len && b64[i] != '='; i++) {
		acc = (acc << 6) | (unsigned)b64v(b64[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(acc >> bits);
		}
	}
	*n = o;
	return out;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(session_created_ga),
		cmocka_unit_test(session_created_beta),
		cmocka_unit_test(session_update_ga),
		cmocka_unit_test(session_update_beta),
		cmocka_unit_test(session_update_errors),
		cmocka_unit_test(bad_events_get_errors),
		cmocka_unit_test(item_create),
		cmocka_unit_test(response_completed),
		cmocka_unit_test(response_interrupted),
		cmocka_unit_test(response_text_only),
		cmocka_unit_test(speech_events),
		cmocka_unit_test(g711_output),
		cmocka_unit_test(problems),
		cmocka_unit_test(commits_name_their_items),
		cmocka_unit_test(duplicate_item_ids_are_refused),
		cmocka_unit_test(an_open_response_is_freed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
