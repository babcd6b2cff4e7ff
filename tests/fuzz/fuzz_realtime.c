/* Fuzz target: Realtime client events (src/protocol/realtime*.c) on a real
 * text-only session. Byte 0 picks the dialect (bit 0: beta); the rest is
 * one client event. Every queued server event must be a JSON object with a
 * string "type" and "event_id", else the target aborts. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/realtime.h"
#include "session/limits.h"
#include "session/session.h"
#include "util/config.h"
#include "util/outq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_wake(void *arg)
{
	(void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct parley_session_limits limits;
	static int init;
	if (!init) {
		struct parley_config cfg;
		parley_config_defaults(&cfg);
		parley_session_limits_init(&limits, &cfg);
		init = 1;
	}
	if (size < 1)
		return 0;
	const struct parley_wire *w = &parley_realtime_wire;
	struct parley_wire_facts f = { .beta = data[0] & 1 };
	int err = 0;
	void *proto = w->proto_new(&f, &err);
	if (!proto)
		return 0;
	struct parley_session_params p = {
		.id = 1,
		.events = w->events,
		.wake = on_wake,
		.history_chars = 1000,
		.limits = &limits,
		.merge_turns = true, /* the default (--turn-merging on) */
		.assume_playback = true,
		.proto = proto,
		.proto_free = w->proto_free,
	};
	struct parley_session *s = parley_session_create(&p);
	if (!s) {
		w->proto_free(proto);
		return 0;
	}
	w->hello(s);
	w->on_text(s, (const char *)data + 1, size - 1);
	/* and once more inside an open response */
	w->events->answer_started(s, 1);
	w->on_text(s, (const char *)data + 1, size - 1);
	w->events->answer_final(s, "ok", 2, PARLEY_ANSWER_COMPLETE);
	/* and after the session's events of the input side */
	w->events->speech_started(s, 100);
	w->events->committed(s, 900, true);
	w->events->user_failed(s, "empty");
	w->on_text(s, (const char *)data + 1, size - 1);
	bool more = true;
	struct parley_msg *m;
	while (more && (m = parley_session_pop(s, &more))) {
		json_t *j = json_loadb((const char *)m->data, m->len, 0, NULL);
		if (!j || !json_is_string(json_object_get(j, "type")) ||
		    !json_is_string(json_object_get(j, "event_id")))
			abort();
		json_decref(j);
		parley_msg_free(m);
	}
	parley_session_unref(s);
	return 0;
}
