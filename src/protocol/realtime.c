/* The OpenAI Realtime wire (wire.h, realtime.h): per-session state, the
 * hello, parsing and dispatching client events, frame limits, refusals. */
#include "protocol/realtime.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/realtime_internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/outq.h"

/* Metrics: client events in by kind, server events out by kind. */
enum { IN_APPEND = 0, IN_OTHER, IN_INVALID, IN_COUNT };
static const char *const in_names[IN_COUNT] = { "input_audio_buffer.append", "other", "invalid" };
static struct parley_counter m_in[IN_COUNT];
static struct parley_counter m_out[RT_EV_COUNT];

int parley_realtime_metrics_register(void)
{
	int rc = 0;
	for (int i = 0; i < IN_COUNT && !rc; i++)
		rc = parley_metrics_register_counter("parley_realtime_events_in_total",
						     "Realtime client events received, by kind",
						     "kind", in_names[i], &m_in[i]);
	for (int i = 0; i < RT_EV_COUNT && !rc; i++)
		rc = parley_metrics_register_counter("parley_realtime_events_out_total",
						     "Realtime server events sent, by kind (GA names)",
						     "kind", rt_ev_name(false, (enum rt_ev)i), &m_out[i]);
	return rc;
}

static bool count_out(int tag)
{
	if (tag >= 0 && tag < RT_EV_COUNT)
		parley_counter_add(&m_out[tag], 1);
	return tag == RT_EV_SESSION_CREATED;
}

/* --- per-session state --- */

static void *proto_new(const struct parley_wire_facts *f, int *err)
{
	struct rt *rt = calloc(1, sizeof *rt);
	if (!rt) {
		*err = PARLEY_E_NOMEM;
		return NULL;
	}
	pthread_mutex_init(&rt->lock, NULL);
	rt->rng = rt_seed();
	if (f) {
		rt->beta = f->beta;
		memcpy(rt->model, f->model, sizeof rt->model);
		rt->model[sizeof rt->model - 1] = '\0';
	}
	rt_new_id(rt, "sess_", rt->session_id);
	rt_new_id(rt, "conv_", rt->conversation_id);
	rt->in_codec = rt->out_codec = RT_PCM16;
	strcpy(rt->voice, "alloy");
	rt->speed = 1.0;
	rt->temperature = 0.8;
	rt->max_tokens = -1;
	rt->eagerness = RT_EAGER_AUTO;
	return rt;
}

static void proto_free(void *p)
{
	struct rt *rt = p;
	if (!rt)
		return;
	free(rt->instructions);
	free(rt->pending);
	free(rt->item_ids);
	free(rt->resp.said);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}

/* session.created, after the session takes the protocol's defaults: 24 kHz
 * pcm16 both ways. The session is new: nothing can fail here but OOM. */
static void hello(struct parley_session *s)
{
	if (parley_session_set_input_rate(s, 24000) || parley_session_set_output_rate(s, 24000))
		PARLEY_ERROR("session %llu: cannot set the Realtime rates",
			     (unsigned long long)parley_session_id(s));
	rt_session_hello(s);
}

/* --- client events --- */

typedef void (*handler_fn)(struct parley_session *s, json_t *ev, const char *event_id);

static const struct {
	const char *type;
	handler_fn fn;
} handlers[] = {
	{ "input_audio_buffer.append", rt_input_append },
	{ "session.update", rt_session_update },
	{ "input_audio_buffer.commit", rt_input_commit },
	{ "input_audio_buffer.clear", rt_input_clear },
	{ "conversation.item.create", rt_item_create },
	{ "conversation.item.truncate", rt_item_truncate },
	{ "response.create", rt_response_create },
	{ "response.cancel", rt_response_cancel },
};

/* Client events of the API that parley does not implement. */
static const char *const unsupported[] = {
	"conversation.item.retrieve",
	"conversation.item.delete",
	"output_audio_buffer.clear",
	"transcription_session.update",
};

static void on_text(struct parley_session *s, const char *data, size_t len)
{
	json_error_t jerr;
	json_t *ev = json_loadb(data, len, 0, &jerr);
	if (!ev) {
		parley_counter_add(&m_in[IN_INVALID], 1);
		rt_client_error(s, NULL, "invalid_json", NULL,
				"The event is not valid JSON: %s (at byte %d)", jerr.text,
				jerr.position);
		return;
	}
	const char *event_id = NULL;
	json_t *id = json_object_get(ev, "event_id");
	if (json_is_string(id) && json_string_length(id) <= RT_EVENT_ID_MAX)
		event_id = json_string_value(id);
	json_t *type = json_object_get(ev, "type");
	if (!json_is_object(ev) || !json_is_string(type)) {
		parley_counter_add(&m_in[IN_INVALID], 1);
		rt_client_error(s, event_id, "invalid_event", json_is_object(ev) ? "type" : NULL,
				json_is_object(ev) ? "The 'type' field is missing or not a string."
						   : "An event must be a JSON object.");
		goto out;
	}
	const char *t = json_string_value(type);
	for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
		if (strcmp(t, handlers[i].type) == 0) {
			parley_counter_add(&m_in[i == 0 ? IN_APPEND : IN_OTHER], 1);
			handlers[i].fn(s, ev, event_id);
			goto out;
		}
	}
	parley_counter_add(&m_in[IN_INVALID], 1);
	for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
		if (strcmp(t, unsupported[i]) == 0) {
			rt_client_error(s, event_id, "unsupported_event", "type",
					"parley does not support '%s' (docs/realtime.md)", t);
			goto out;
		}
	}
	rt_client_error(s, event_id, "invalid_event", "type", "Unknown event type '%.64s'.", t);
out:
	json_decref(ev);
}

static void on_binary(struct parley_session *s, const uint8_t *data, size_t len)
{
	(void)data;
	parley_counter_add(&m_in[IN_INVALID], 1);
	rt_client_error(s, NULL, "invalid_event", NULL,
			"binary frames are not part of the Realtime API (%zu bytes ignored): send "
			"audio as input_audio_buffer.append",
			len);
}

static void on_oversize(struct parley_session *s, bool binary, size_t len)
{
	if (binary) {
		on_binary(s, NULL, len);
		return;
	}
	parley_counter_add(&m_in[IN_INVALID], 1);
	rt_client_error(s, NULL, "event_too_large", NULL,
			"an event of %zu bytes exceeds parley's limit of %u bytes (send audio in "
			"smaller appends)",
			len, RT_TEXT_FRAME_MAX);
}

static size_t max_frame(bool binary)
{
	/* Binary frames are refused unread, whatever their size. */
	return binary ? 0 : RT_TEXT_FRAME_MAX;
}

static struct parley_msg *refusal(enum parley_proto_error code, const char *message)
{
	char id[RT_ID_MAX];
	rt_new_id_norng("event_", id);
	json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:n, s:n}}", "type", "error",
			       "event_id", id, "error", "type", "server_error", "code",
			       parley_proto_error_code(code), "message",
			       parley_json_text(message, strlen(message)), "param", "event_id");
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	struct parley_msg *m = NULL;
	if (text) {
		size_t n = strlen(text);
		m = parley_msg_new(n, false, RT_EV_ERROR);
		if (m)
			memcpy(m->data, text, n);
		free(text);
	}
	return m;
}

const struct parley_wire parley_realtime_wire = {
	.name = "realtime",
	.events = &rt_events_table,
	.proto_new = proto_new,
	.proto_free = proto_free,
	.assume_playback = true,
	.hello = hello,
	.on_text = on_text,
	.on_binary = on_binary,
	.on_oversize = on_oversize,
	.max_frame = max_frame,
	.refusal = refusal,
	.count_out = count_out,
};
