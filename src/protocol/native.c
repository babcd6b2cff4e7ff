#include "protocol/native.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "audio/frame.h"
#include "llm/engine.h"
#include "protocol/control.h"
#include "protocol/jsontext.h"
#include "protocol/wire.h"
#include "tts/tts.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/utf8.h"

static const char *const out_names[PARLEY_OUT_COUNT] = {
	[PARLEY_OUT_STATUS] = "status",
	[PARLEY_OUT_ERROR] = "error",
	[PARLEY_OUT_CONFIGURED] = "session.configured",
	[PARLEY_OUT_PARTIAL_ASSISTANT] = "partial_assistant_answer",
	[PARLEY_OUT_FINAL_ASSISTANT] = "final_assistant_answer",
	[PARLEY_OUT_PARTIAL_USER] = "partial_user_request",
	[PARLEY_OUT_FINAL_USER] = "final_user_request",
	[PARLEY_OUT_TTS_CHUNK] = "tts_chunk",
	[PARLEY_OUT_AUDIO] = "audio (binary)",
	[PARLEY_OUT_STOP_TTS] = "stop_tts",
	[PARLEY_OUT_TTS_INTERRUPTION] = "tts_interruption",
};

const char *parley_out_kind_name(int tag)
{
	return tag >= 0 && tag < PARLEY_OUT_COUNT ? out_names[tag] : "other";
}

/* Metrics: messages in by kind (control types, audio, invalid), out by kind,
 * protocol errors by code. */
enum { IN_AUDIO = PARLEY_CTL_COUNT, IN_INVALID, IN_COUNT };
static struct parley_counter m_in[IN_COUNT];
static struct parley_counter m_out[PARLEY_OUT_COUNT];
static struct parley_counter m_errors[PARLEY_PE_COUNT];

int parley_native_metrics_register(void)
{
	int rc = 0;
	for (int i = 0; i < IN_COUNT && !rc; i++) {
		const char *kind = i == IN_AUDIO ? "audio"
				   : i == IN_INVALID ? "invalid"
						     : parley_ctl_type_name((enum parley_ctl_type)i);
		rc = parley_metrics_register_counter("parley_ws_messages_in_total",
						     "WebSocket messages received, by kind", "kind",
						     kind, &m_in[i]);
	}
	for (int i = 0; i < PARLEY_OUT_COUNT && !rc; i++)
		rc = parley_metrics_register_counter("parley_ws_messages_out_total",
						     "WebSocket messages sent, by kind", "kind",
						     out_names[i], &m_out[i]);
	for (int i = 0; i < PARLEY_PE_COUNT && !rc; i++)
		rc = parley_metrics_register_counter(
			"parley_protocol_errors_total", "rejected client input, by error code",
			"code", parley_proto_error_code((enum parley_proto_error)i), &m_errors[i]);
	return rc;
}

void parley_native_count_out(int tag)
{
	if (tag >= 0 && tag < PARLEY_OUT_COUNT)
		parley_counter_add(&m_out[tag], 1);
}

static json_t *cstr_json(const char *s)
{
	return parley_json_text(s, strlen(s));
}

/* Serialises root (stolen) into a message. NULL on OOM. */
static struct parley_msg *encode_root(int tag, json_t *root)
{
	if (!root)
		return NULL;
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		return NULL;
	size_t len = strlen(text);
	struct parley_msg *m = parley_msg_new(len, false, tag);
	if (m)
		memcpy(m->data, text, len);
	free(text);
	return m;
}

/* Encodes {"type": type, "content": content} (steals content). NULL on OOM. */
static struct parley_msg *encode(int tag, json_t *content)
{
	if (!content)
		return NULL;
	return encode_root(tag, json_pack("{s:s, s:o}", "type", out_names[tag], "content", content));
}

static void push(struct parley_session *s, struct parley_msg *m)
{
	if (!m) {
		PARLEY_ERROR("session %llu: out of memory encoding a message",
			     (unsigned long long)parley_session_id(s));
		return;
	}
	/* A full queue closes the connection (ws.c logs it); nothing to add. */
	parley_session_push(s, m);
}

/*
 * The user's final transcript is held (hold_final, the default) until the
 * answer to it is heard or seen: before its first audio or text, its final
 * answer, an error, a barge-in, a typed turn or the next turn's final. A
 * turn merged with the one before (the user went on before hearing its
 * answer: session.h, user_final's whole) then replaces the held one, so a
 * client shows one user turn, as RealtimeVoiceChat's page does with one
 * bubble per final_user_request; meanwhile partial_user_request shows the
 * held words followed by the new ones. A client that asks for finals at
 * once (session.config hold_final false) gets each when it is heard, and
 * a merged turn as one more final_user_request with "merged": true, which
 * replaces the one before.
 *
 * Per-session state (the proto pointer; NULL in sessions made without it:
 * finals at once). Its lock is taken after s->lock (events are called
 * under it) and nothing into the session is called while it is held.
 */
struct native {
	pthread_mutex_t lock;
	bool at_once; /* session.config hold_final false */
	char *held;   /* the final not sent yet, or NULL */
};

static struct native *native_of(struct parley_session *s)
{
	return parley_session_proto(s);
}

static struct parley_msg *final_user_msg(const char *text, bool merged)
{
	json_t *root = merged ? json_pack("{s:s, s:o, s:b}", "type", out_names[PARLEY_OUT_FINAL_USER],
					  "content", cstr_json(text), "merged", true)
			      : json_pack("{s:s, s:o}", "type", out_names[PARLEY_OUT_FINAL_USER],
					  "content", cstr_json(text));
	return encode_root(PARLEY_OUT_FINAL_USER, root);
}

/* Sends the held final, if any (before what the answer says). */
static void release_final(struct parley_session *s)
{
	struct native *n = native_of(s);
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	char *held = n->held;
	n->held = NULL;
	if (held) /* pushed under the lock: nothing may overtake it */
		push(s, final_user_msg(held, false));
	pthread_mutex_unlock(&n->lock);
	free(held);
}

static json_t *settings_json(const struct parley_settings *st)
{
	return json_pack("{s:i, s:i, s:s, s:s, s:f, s:f}", "input_sample_rate",
			 st->input_sample_rate, "output_sample_rate", st->output_sample_rate,
			 "audio_out", parley_audio_out_name(st->audio_out), "voice", st->voice,
			 "tts_rate", st->tts_rate, "speed", st->speed);
}

/* The shared LLM as the client should see it. */
static json_t *llm_json(struct parley_llm_engine *llm, bool *ready)
{
	struct parley_llm_info info;
	parley_llm_engine_info(llm, &info);
	*ready = info.state == PARLEY_LLM_READY;
	/* Never the URL: it may carry credentials (user:pass@host, ?key=). */
	json_t *j = json_pack("{s:o, s:s}", "backend", cstr_json(info.backend), "state",
			      parley_llm_state_name(info.state));
	if (!j)
		return NULL;
	if (info.model[0])
		json_object_set_new(j, "model", cstr_json(info.model));
	if (info.first_token_ms >= 0)
		json_object_set_new(j, "first_token_ms", json_real(round(info.first_token_ms * 10) / 10));
	if (info.tokens_per_s >= 0)
		json_object_set_new(j, "tokens_per_s", json_real(round(info.tokens_per_s * 10) / 10));
	if (info.state == PARLEY_LLM_READY)
		json_object_set_new(j, "warmup_s", json_real(round(info.warmup_s * 1000) / 1000));
	if (info.state != PARLEY_LLM_READY && info.reason[0])
		json_object_set_new(j, "reason", cstr_json(info.reason));
	if (info.echo)
		json_object_set_new(
			j, "warning",
			json_string("No LLM is configured: the 'echo' backend repeats what it hears. "
				    "Start Ollama, or run parley with --llm-url pointing at an "
				    "OpenAI-compatible server, or set OPENAI_API_KEY."));
	return j;
}

/* A speech engine as the client should see it (never a URL or a key). */
static json_t *speech_json(const struct parley_speech_info *info)
{
	json_t *j = json_pack("{s:o, s:s}", "engine", cstr_json(info->engine), "state",
			      parley_speech_state_name(info->state));
	if (!j)
		return NULL;
	if (info->model[0])
		json_object_set_new(j, "model", cstr_json(info->model));
	if (info->warmup_ms >= 0)
		json_object_set_new(j, "warmup_ms", json_real(round(info->warmup_ms * 10) / 10));
	if (info->state != PARLEY_SPEECH_READY && info->reason[0])
		json_object_set_new(j, "reason", cstr_json(info->reason));
	return j;
}

struct speech_pick {
	const char *engine; /* wanted engine, or NULL: the first */
	json_t *out;
};

static void pick_speech(void *arg, const struct parley_speech_info *info)
{
	struct speech_pick *p = arg;
	if (!p->out && (!p->engine || strcmp(p->engine, info->engine) == 0))
		p->out = speech_json(info);
}

static void add_voice(void *arg, const char *voice)
{
	json_array_append_new(arg, cstr_json(voice));
}

/* The session's settings and this wire's own (hold_final). */
static json_t *wire_settings_json(struct parley_session *s)
{
	struct parley_settings st;
	parley_session_get_settings(s, &st);
	json_t *c = settings_json(&st);
	struct native *n = native_of(s);
	if (c) {
		bool hold = true;
		if (n) {
			pthread_mutex_lock(&n->lock);
			hold = !n->at_once;
			pthread_mutex_unlock(&n->lock);
		}
		json_object_set_new(c, "hold_final", json_boolean(hold && n));
		json_object_set_new(c, "false_interruptions",
				    json_string(parley_session_resumes(s) ? "resume" : "stop"));
		json_object_set_new(c, "turn_merging", json_boolean(parley_session_merges_turns(s)));
		json_object_set_new(c, "echo_guard", json_boolean(parley_session_echo_guard(s)));
	}
	return c;
}

static void ev_status(struct parley_session *s)
{
	json_t *c = wire_settings_json(s);
	bool ready = true;
	struct parley_llm_engine *llm = parley_session_llm(s);
	const struct parley_speech *speech = parley_session_speech(s);
	if (c) {
		if (llm)
			json_object_set_new(c, "llm", llm_json(llm, &ready));
		json_object_set_new(c, "state", json_string(ready ? "ready" : "initializing"));
		json_object_set_new(c, "session_id", json_integer((json_int_t)parley_session_id(s)));
		json_object_set_new(c, "server", json_string("parley " PARLEY_VERSION));
		if (speech) {
			json_t *voices = json_array();
			parley_tts_each_voice(add_voice, voices);
			json_object_set_new(c, "voices", voices);
			json_object_set_new(c, "default_voice",
					    cstr_json(speech->default_voice));
			json_object_set_new(c, "end_of_turn",
					    json_string(speech->eot_rules ? "rules" : "model"));
			/* The recogniser, and the synthesiser of the default voice. */
			struct speech_pick stt = { NULL, NULL }, tts = { NULL, NULL };
			struct parley_tts_voice dv;
			if (parley_tts_voice_lookup(speech->default_voice, &dv) == 0)
				tts.engine = dv.backend->name;
			parley_speech_each_info(PARLEY_SPEECH_STT, pick_speech, &stt);
			parley_tts_each_info(pick_speech, &tts);
			if (stt.out)
				json_object_set_new(c, "stt", stt.out);
			if (tts.out)
				json_object_set_new(c, "tts", tts.out);
		}
	}
	push(s, c ? encode(PARLEY_OUT_STATUS, c) : NULL);
}

static void ev_answer_partial(struct parley_session *s, const char *text, size_t len)
{
	release_final(s);
	push(s, encode(PARLEY_OUT_PARTIAL_ASSISTANT, parley_json_text(text, len)));
}

static void ev_answer_final(struct parley_session *s, const char *text, size_t len,
			    enum parley_answer_outcome how)
{
	if (how == PARLEY_ANSWER_CANCELLED) /* withdrawn, superseded: the turn may go on */
		return; /* /ws: no final for a cancelled answer */
	release_final(s);
	if (how == PARLEY_ANSWER_FAILED && !len)
		return; /* /ws: no final for an answer cut before it said anything */
	bool interrupted = how != PARLEY_ANSWER_COMPLETE;
	json_t *root = json_pack("{s:s, s:o, s:b}", "type", out_names[PARLEY_OUT_FINAL_ASSISTANT],
				 "content", parley_json_text(text, len), "interrupted", interrupted);
	push(s, encode_root(PARLEY_OUT_FINAL_ASSISTANT, root));
}

struct parley_msg *parley_native_error_msg(enum parley_proto_error code, const char *message)
{
	/* The message may hold a client's hostile bytes or a cut: drop an
	 * incomplete last character, replace whatever else is invalid. */
	size_t len = strlen(message);
	json_t *c = json_pack("{s:s, s:o}", "code", parley_proto_error_code(code), "message",
			      parley_json_text(message, parley_utf8_cut(message, len, len)));
	return c ? encode(PARLEY_OUT_ERROR, c) : NULL;
}

enum parley_proto_error parley_native_error_code(enum parley_session_problem p)
{
	/* No default: a new problem without a code here fails to build. */
	switch (p) {
	case PARLEY_SESSION_AUDIO_OVERFLOW: return PARLEY_PE_AUDIO_OVERFLOW;
	case PARLEY_SESSION_AUDIO_TOO_FAST: return PARLEY_PE_AUDIO_TOO_FAST;
	case PARLEY_SESSION_RATE_LIMITED: return PARLEY_PE_RATE_LIMITED;
	case PARLEY_SESSION_LLM_BUSY: return PARLEY_PE_LLM_BUSY;
	case PARLEY_SESSION_LLM_UNAVAILABLE: return PARLEY_PE_LLM_UNAVAILABLE;
	case PARLEY_SESSION_LLM_ERROR: return PARLEY_PE_LLM_ERROR;
	case PARLEY_SESSION_LLM_TIMEOUT: return PARLEY_PE_LLM_TIMEOUT;
	case PARLEY_SESSION_OVERLOADED: return PARLEY_PE_OVERLOADED;
	case PARLEY_SESSION_STT_BUSY: return PARLEY_PE_STT_BUSY;
	case PARLEY_SESSION_STT_UNAVAILABLE: return PARLEY_PE_STT_UNAVAILABLE;
	case PARLEY_SESSION_STT_TIMEOUT: return PARLEY_PE_STT_TIMEOUT;
	case PARLEY_SESSION_STT_ERROR: return PARLEY_PE_STT_ERROR;
	case PARLEY_SESSION_TTS_BUSY: return PARLEY_PE_TTS_BUSY;
	case PARLEY_SESSION_TTS_UNAVAILABLE: return PARLEY_PE_TTS_UNAVAILABLE;
	case PARLEY_SESSION_TTS_TIMEOUT: return PARLEY_PE_TTS_TIMEOUT;
	case PARLEY_SESSION_TTS_ERROR: return PARLEY_PE_TTS_ERROR;
	case PARLEY_SESSION_INTERNAL: return PARLEY_PE_INTERNAL;
	case PARLEY_SESSION_PROBLEM_COUNT: break;
	}
	return PARLEY_PE_INTERNAL;
}

static void send_error(struct parley_session *s, enum parley_proto_error code, const char *message)
{
	if ((unsigned)code < PARLEY_PE_COUNT)
		parley_counter_add(&m_errors[code], 1);
	push(s, parley_native_error_msg(code, message));
}

static void ev_error(struct parley_session *s, enum parley_session_problem problem,
		     const char *message)
{
	release_final(s);
	send_error(s, parley_native_error_code(problem), message);
}

/* An error of the wire itself (the session never sees it). */
static void wire_error(struct parley_session *s, enum parley_proto_error code, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));

static void wire_error(struct parley_session *s, enum parley_proto_error code, const char *fmt,
		       ...)
{
	char message[256];
	va_list ap;
	va_start(ap, fmt);
	parley_utf8_vformat(message, sizeof message, fmt, ap); /* cut on a character */
	va_end(ap);
	PARLEY_DEBUG("session %llu: error %s: %s", (unsigned long long)parley_session_id(s),
		     parley_proto_error_code(code), message);
	send_error(s, code, message);
}

/* The reply to session.config: the settings now in force. */
static void send_configured(struct parley_session *s)
{
	json_t *c = wire_settings_json(s);
	push(s, c ? encode(PARLEY_OUT_CONFIGURED, c) : NULL);
}

static void ev_user_partial(struct parley_session *s, const char *text)
{
	struct native *n = native_of(s);
	if (n)
		pthread_mutex_lock(&n->lock);
	if (n && n->held) { /* the turn may go on: show it whole */
		size_t a = strlen(n->held), b = strlen(text);
		char *both = malloc(a + 1 + b + 1);
		if (both) {
			memcpy(both, n->held, a);
			both[a] = ' ';
			memcpy(both + a + 1, text, b + 1);
		}
		push(s, encode(PARLEY_OUT_PARTIAL_USER, cstr_json(both ? both : text)));
		free(both);
	} else {
		push(s, encode(PARLEY_OUT_PARTIAL_USER, cstr_json(text)));
	}
	if (n)
		pthread_mutex_unlock(&n->lock);
}

static void ev_user_final(struct parley_session *s, const char *text, const char *whole)
{
	struct native *n = native_of(s);
	if (n)
		pthread_mutex_lock(&n->lock);
	if (!n || n->at_once) {
		push(s, final_user_msg(text, false));
		if (whole)
			push(s, final_user_msg(whole, true));
	} else {
		char *copy = strdup(whole ? whole : text);
		if (n->held && !whole) /* a turn of its own: the one before goes first */
			push(s, final_user_msg(n->held, false));
		free(n->held);
		n->held = copy;
		if (!copy) /* out of memory: say it now rather than never */
			push(s, final_user_msg(whole ? whole : text, false));
	}
	if (n)
		pthread_mutex_unlock(&n->lock);
}

/* int16 samples as little-endian bytes (the wire format on any host). */
static void put_le16(unsigned char *dst, const int16_t *pcm, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t u = (uint16_t)pcm[i];
		dst[2 * i] = (unsigned char)(u & 0xff);
		dst[2 * i + 1] = (unsigned char)(u >> 8);
	}
}

/* Called with the session lock held (see session.h): reads the setting
 * through parley_session_settings_locked. */
static void ev_audio(struct parley_session *s, const int16_t *pcm, size_t n)
{
	release_final(s);
	size_t bytes = n * 2;
	if (parley_session_settings_locked(s)->audio_out == PARLEY_AUDIO_OUT_BINARY) {
		struct parley_msg *m = parley_msg_new(bytes, true, PARLEY_OUT_AUDIO);
		if (m)
			put_le16(m->data, pcm, n);
		push(s, m);
		return;
	}
	/* {"type":"tts_chunk","content":"<base64>"} built directly: no JSON
	 * library round trip for the bulkiest message. */
	static const char head[] = "{\"type\":\"tts_chunk\",\"content\":\"";
	static const char tail[] = "\"}";
	unsigned char *raw = malloc(bytes ? bytes : 1);
	struct parley_msg *m = raw ? parley_msg_new(sizeof head - 1 + parley_base64_len(bytes) +
							    sizeof tail - 1,
						    false, PARLEY_OUT_TTS_CHUNK)
				   : NULL;
	if (m) {
		put_le16(raw, pcm, n);
		char *p = (char *)m->data;
		memcpy(p, head, sizeof head - 1);
		p += sizeof head - 1;
		p += parley_base64_encode(raw, bytes, p);
		memcpy(p, tail, sizeof tail - 1);
	}
	free(raw);
	push(s, m);
}

static void ev_stop_tts(struct parley_session *s)
{
	release_final(s);
	push(s, encode(PARLEY_OUT_STOP_TTS, json_null()));
}

/* The session inferred an undeclared input rate: session.configured, with
 * input_sample_rate_inferred so the client can tell it did not ask. */
static void ev_input_rate_inferred(struct parley_session *s)
{
	json_t *c = wire_settings_json(s);
	if (c)
		json_object_set_new(c, "input_sample_rate_inferred", json_true());
	push(s, c ? encode(PARLEY_OUT_CONFIGURED, c) : NULL);
}

/* /ws has no messages for these: the transcripts and final answers say it. */
static void ev_quiet_answer(struct parley_session *s, uint64_t answer)
{
	(void)s;
	(void)answer;
}

static void ev_quiet_committed(struct parley_session *s, int64_t audio_ms, bool opened)
{
	(void)s;
	(void)audio_ms;
	(void)opened;
}

static void ev_quiet_ms(struct parley_session *s, int64_t audio_ms)
{
	(void)s;
	(void)audio_ms;
}

static void ev_quiet_why(struct parley_session *s, const char *why)
{
	(void)s;
	(void)why;
}

static void ev_tts_interruption(struct parley_session *s)
{
	push(s, encode(PARLEY_OUT_TTS_INTERRUPTION, json_null()));
}

const struct parley_session_events parley_native_events = {
	.status = ev_status,
	.error = ev_error,
	.answer_partial = ev_answer_partial,
	.answer_started = ev_quiet_answer,
	.answer_final = ev_answer_final,
	.user_partial = ev_user_partial,
	.user_final = ev_user_final,
	.speech_started = ev_quiet_ms,
	.speech_stopped = ev_quiet_ms,
	.committed = ev_quiet_committed,
	.user_failed = ev_quiet_why,
	.audio = ev_audio,
	.stop_tts = ev_stop_tts,
	.tts_interruption = ev_tts_interruption,
	.input_rate_inferred = ev_input_rate_inferred,
};

/* session.config: all or nothing. The voice is the one field the parser
 * cannot check (the allow-list is the session's), so it goes first; the
 * rest was range-checked by the parser against the session's ranges. */
static void configure(struct parley_session *s, const struct parley_config_update *cu)
{
	if ((cu->has & PARLEY_CFG_VOICE) && parley_session_set_voice(s, cu->voice) != 0) {
		wire_error(s, PARLEY_PE_INVALID_FIELD,
			   "session.config: unknown voice '%s' (voices: %s)", cu->voice,
			   parley_tts_all_voices());
		return;
	}
	int rc = 0;
	if (cu->has & PARLEY_CFG_INPUT_RATE)
		rc = rc ? rc : parley_session_set_input_rate(s, cu->input_sample_rate);
	if (cu->has & PARLEY_CFG_OUTPUT_RATE)
		rc = rc ? rc : parley_session_set_output_rate(s, cu->output_sample_rate);
	if (cu->has & PARLEY_CFG_AUDIO_OUT)
		rc = rc ? rc : parley_session_set_audio_out(s, cu->audio_out);
	if (cu->has & PARLEY_CFG_TTS_RATE)
		rc = rc ? rc : parley_session_set_tts_rate(s, cu->tts_rate);
	if (cu->has & PARLEY_CFG_FALSE_INTERRUPTIONS)
		parley_session_set_resumes(s, cu->resume);
	if (cu->has & PARLEY_CFG_ECHO_CANCELLED)
		parley_session_set_echo_cancelled(s, cu->echo_cancelled);
	if (rc != 0) { /* the parser and the session disagree on a range: a bug */
		wire_error(s, PARLEY_PE_INTERNAL, "session.config: %s", parley_strerror(rc));
		return;
	}
	struct native *n = native_of(s);
	if ((cu->has & PARLEY_CFG_HOLD_FINAL) && n) {
		pthread_mutex_lock(&n->lock);
		n->at_once = !cu->hold_final;
		pthread_mutex_unlock(&n->lock);
		if (!cu->hold_final)
			release_final(s);
	}
	PARLEY_DEBUG("session %llu configured", (unsigned long long)parley_session_id(s));
	send_configured(s);
}

/* A parsed control message as the session's small calls. */
static void apply(struct parley_session *s, const struct parley_control *c)
{
	switch (c->type) {
	case PARLEY_CTL_TTS_START:
		parley_session_playback_started(s);
		break;
	case PARLEY_CTL_TTS_STOP:
		parley_session_playback_stopped(s);
		break;
	case PARLEY_CTL_CLEAR_HISTORY:
		release_final(s); /* what was said, before it is forgotten */
		parley_session_clear_history(s);
		break;
	case PARLEY_CTL_SET_SPEED:
		if (parley_session_set_speed(s, c->u.speed) != 0)
			wire_error(s, PARLEY_PE_INTERNAL, "set_speed: rejected");
		break;
	case PARLEY_CTL_SESSION_CONFIG:
		configure(s, &c->u.config);
		break;
	case PARLEY_CTL_TEXT:
		release_final(s); /* a spoken turn before it is its own */
		parley_session_user_turn(s, c->u.text, strlen(c->u.text));
		break;
	case PARLEY_CTL_PLAYBACK:
		parley_session_playback_played(s, c->u.played_ms);
		break;
	case PARLEY_CTL_COUNT:
		break;
	}
}

void parley_native_on_text(struct parley_session *s, const char *data, size_t len)
{
	struct parley_control c;
	struct parley_proto_err err;
	if (parley_control_parse(data, len, &c, &err) != 0) {
		parley_counter_add(&m_in[IN_INVALID], 1);
		wire_error(s, err.code, "%s", err.message);
		return;
	}
	parley_counter_add(&m_in[c.type], 1);
	apply(s, &c);
	parley_control_clear(&c);
}

void parley_native_on_binary(struct parley_session *s, const uint8_t *data, size_t len)
{
	struct parley_frame f;
	enum parley_frame_status st = parley_frame_decode(data, len, PARLEY_FRAME_MAX_SAMPLES, &f);
	if (st != PARLEY_FRAME_OK) {
		parley_counter_add(&m_in[IN_INVALID], 1);
		wire_error(s, st == PARLEY_FRAME_TOO_BIG ? PARLEY_PE_FRAME_TOO_LARGE
							  : PARLEY_PE_INVALID_FRAME,
			   "%s (%zu bytes)", parley_frame_status_str(st), len);
		return;
	}
	parley_counter_add(&m_in[IN_AUDIO], 1);
	int16_t pcm[PARLEY_FRAME_MAX_SAMPLES];
	parley_frame_samples(&f, pcm);
	parley_session_audio_in(s, pcm, f.nsamples, (f.flags & PARLEY_FRAME_FLAG_PLAYING) != 0,
				(int64_t)f.timestamp_ms);
}

void parley_native_on_oversize(struct parley_session *s, bool binary, size_t len)
{
	parley_counter_add(&m_in[IN_INVALID], 1);
	if (binary)
		wire_error(s, PARLEY_PE_FRAME_TOO_LARGE, "audio frame of %zu bytes exceeds %d samples",
			   len, PARLEY_FRAME_MAX_SAMPLES);
	else
		wire_error(s, PARLEY_PE_MESSAGE_TOO_LARGE,
			   "text message of %zu bytes exceeds the %d-byte limit", len,
			   PARLEY_TEXT_MSG_MAX_BYTES);
}

size_t parley_native_max_frame(bool binary)
{
	return binary ? PARLEY_FRAME_HEADER_BYTES + 2 * PARLEY_FRAME_MAX_SAMPLES
		      : PARLEY_TEXT_MSG_MAX_BYTES;
}

/* --- the wire as server/ws.c sees it (protocol/wire.h) --- */

/* /ws keeps one piece of per-session state: the held final transcript. */
static void *native_proto_new(const struct parley_wire_facts *f, int *err)
{
	(void)f;
	struct native *n = calloc(1, sizeof *n);
	if (!n) {
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	pthread_mutex_init(&n->lock, NULL);
	*err = 0;
	return n;
}

static void native_proto_free(void *proto)
{
	struct native *n = proto;
	if (!n)
		return;
	pthread_mutex_destroy(&n->lock);
	free(n->held);
	free(n);
}

/* The hello of /ws is the first status message. */
static void native_hello(struct parley_session *s)
{
	parley_session_report_status(s);
}

static bool native_count_out(int tag)
{
	parley_native_count_out(tag);
	return tag == PARLEY_OUT_STATUS;
}

const struct parley_wire parley_native_wire = {
	.name = "native",
	.events = &parley_native_events,
	.proto_new = native_proto_new,
	.proto_free = native_proto_free,
	.assume_playback = false, /* clients report tts_start/tts_stop and playback */
	.hello = native_hello,
	.on_text = parley_native_on_text,
	.on_binary = parley_native_on_binary,
	.on_oversize = parley_native_on_oversize,
	.max_frame = parley_native_max_frame,
	.refusal = parley_native_error_msg,
	.count_out = native_count_out,
};
