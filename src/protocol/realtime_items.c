/* conversation.item.create (typed user messages) and
 * conversation.item.truncate (realtime_internal.h, docs/realtime.md
 * "Conversation items"). */
#include <stdlib.h>
#include <string.h>

#include "protocol/realtime_internal.h"
#include "util/err.h"
#include "util/log.h"

/* FNV-1a: 64 bits of an id (two ids sharing one is as likely as never). */
static uint64_t id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 0x100000001b3ull;
	return h;
}

void rt_item_note(struct rt *rt, const char *id)
{
	if (rt->nitems == rt->items_cap) {
		size_t cap = rt->items_cap ? rt->items_cap * 2 : 32;
		uint64_t *p = realloc(rt->item_ids, cap * sizeof *p);
		if (!p) {
			PARLEY_ERROR("out of memory: a Realtime item id is not remembered");
			return;
		}
		rt->item_ids = p;
		rt->items_cap = cap;
	}
	rt->item_ids[rt->nitems++] = id_hash(id);
}

bool rt_item_known(const struct rt *rt, const char *id)
{
	uint64_t h = id_hash(id);
	for (size_t i = 0; i < rt->nitems; i++)
		if (rt->item_ids[i] == h)
			return true;
	return false;
}

/* The text of a user message's input_text parts, joined by newlines, into
 * a new string (caller frees); NULL with *bad set to the param at fault. */
static char *user_text(json_t *content, const char **bad, size_t *len)
{
	size_t total = 0, i;
	json_t *part;
	*bad = "item.content";
	if (!json_is_array(content) || !json_array_size(content))
		return NULL;
	json_array_foreach (content, i, part) {
		const char *type = json_string_value(json_object_get(part, "type"));
		json_t *text = json_object_get(part, "text");
		if (!type || strcmp(type, "input_text") || !json_is_string(text))
			return NULL;
		total += json_string_length(text) + 1;
	}
	char *out = malloc(total);
	if (!out) {
		*bad = NULL;
		return NULL;
	}
	size_t o = 0;
	json_array_foreach (content, i, part) {
		json_t *text = json_object_get(part, "text");
		if (o)
			out[o++] = '\n';
		memcpy(out + o, json_string_value(text), json_string_length(text));
		o += json_string_length(text);
	}
	out[o] = '\0';
	*len = o;
	return out;
}

void rt_item_create(struct parley_session *s, json_t *ev, const char *event_id)
{
	struct rt *rt = rt_of(s);
	json_t *item = json_object_get(ev, "item");
	if (!json_is_object(item)) {
		rt_client_error(s, event_id, "missing_required_parameter", "item",
				"conversation.item.create needs an 'item' object");
		return;
	}
	const char *type = json_string_value(json_object_get(item, "type"));
	const char *role = json_string_value(json_object_get(item, "role"));
	if ((type && strcmp(type, "message")) || !role || strcmp(role, "user")) {
		rt_client_error(s, event_id, "unsupported_value", type ? "item.role" : "item.type",
				"parley accepts user messages only (type \"message\", role \"user\", "
				"input_text content)");
		return;
	}
	json_t *prev = json_object_get(ev, "previous_item_id");
	const char *prev_id = json_string_value(prev);
	json_t *cid = json_object_get(item, "id");
	const char *id_given = json_string_value(cid);
	if (cid && !json_is_null(cid) &&
	    (!id_given || !id_given[0] || strlen(id_given) > RT_CLIENT_ID_MAX)) {
		rt_client_error(s, event_id, "invalid_value", "item.id",
				"item.id must be a string of 1 to %d bytes", RT_CLIENT_ID_MAX);
		return;
	}
	pthread_mutex_lock(&rt->lock);
	bool appends = !prev || json_is_null(prev) || (prev_id && strcmp(prev_id, rt->last_item) == 0);
	bool taken = id_given && rt_item_known(rt, id_given);
	pthread_mutex_unlock(&rt->lock);
	if (taken) {
		rt_client_error(s, event_id, "invalid_value", "item.id",
				"an item with id '%s' already exists in the conversation", id_given);
		return;
	}
	if (!appends) {
		rt_client_error(s, event_id, "unsupported_value", "previous_item_id",
				"parley only appends items to the conversation: previous_item_id must "
				"be the last item's id or absent");
		return;
	}
	const char *bad = NULL;
	size_t len = 0;
	char *text = user_text(json_object_get(item, "content"), &bad, &len);
	if (!text) {
		if (bad)
			rt_client_error(s, event_id, "unsupported_value", bad,
					"item.content must be a non-empty list of "
					"{\"type\": \"input_text\", \"text\": ...} parts");
		else
			rt_client_error(s, event_id, "server_error", NULL, "out of memory");
		return;
	}
	int rc = parley_session_add_user_text(s, text, len);
	if (rc) {
		rt_client_error(s, event_id, rc == PARLEY_E_RANGE ? "invalid_value" : "server_error",
				"item.content", "the message was not added: %s",
				rc == PARLEY_E_RANGE ? "empty or too long" : parley_strerror(rc));
		free(text);
		return;
	}
	pthread_mutex_lock(&rt->lock);
	char id[RT_ID_MAX];
	if (id_given)
		snprintf(id, sizeof id, "%s", id_given);
	else
		rt_new_id(rt, "item_", id);
	json_t *out = rt_message_item(rt, id, "completed", "user");
	json_array_append_new(json_object_get(out, "content"),
			      json_pack("{s:s, s:o}", "type", "input_text", "text",
					parley_json_text(text, len)));
	rt_item_appeared(s, rt, out, rt->last_item);
	json_decref(out);
	snprintf(rt->last_item, sizeof rt->last_item, "%s", id);
	rt_item_note(rt, id);
	rt->conv_chars += len;
	pthread_mutex_unlock(&rt->lock);
	free(text);
}

void rt_item_truncate(struct parley_session *s, json_t *ev, const char *event_id)
{
	struct rt *rt = rt_of(s);
	const char *item_id = json_string_value(json_object_get(ev, "item_id"));
	json_t *ci = json_object_get(ev, "content_index");
	json_t *end = json_object_get(ev, "audio_end_ms");
	if (!item_id) {
		rt_client_error(s, event_id, "missing_required_parameter", "item_id",
				"conversation.item.truncate needs 'item_id'");
		return;
	}
	if (ci && !json_is_null(ci) && !(json_is_integer(ci) && json_integer_value(ci) == 0)) {
		rt_client_error(s, event_id, "invalid_value", "content_index",
				"content_index must be 0 (an assistant item has one part)");
		return;
	}
	if (!json_is_integer(end) || json_integer_value(end) < 0) {
		rt_client_error(s, event_id, "invalid_value", "audio_end_ms",
				"audio_end_ms must be a whole number of milliseconds, 0 or more");
		return;
	}
	pthread_mutex_lock(&rt->lock);
	uint64_t answer = 0;
	for (int i = 0; i < RT_SAID_MAX && !answer; i++)
		if (rt->said[i].answer && strcmp(item_id, rt->said[i].item) == 0)
			answer = rt->said[i].answer;
	bool live = rt->resp.active && strcmp(item_id, rt->resp.item_id) == 0;
	pthread_mutex_unlock(&rt->lock);
	int64_t ms = json_integer_value(end);
	int rc = live ? PARLEY_E_BUSY
		 : answer ? parley_session_truncate_answer(s, answer, ms)
			  : PARLEY_E_INVAL;
	switch (rc) {
	case 0:
		break;
	case PARLEY_E_BUSY:
		rt_client_error(s, event_id, "invalid_value", "item_id",
				"item '%.64s' is still being answered: truncate it after its "
				"response.done",
				item_id);
		return;
	case PARLEY_E_INVAL:
		rt_client_error(s, event_id, "invalid_value", "item_id",
				"'%.64s' is not one of the last %d assistant items", item_id,
				RT_SAID_MAX);
		return;
	case PARLEY_E_RANGE:
		rt_client_error(s, event_id, "invalid_value", "audio_end_ms",
				"audio_end_ms %lld is beyond the item's audio", (long long)ms);
		return;
	case PARLEY_E_NOTFOUND:
		rt_client_error(s, event_id, "invalid_value", "item_id",
				"item '%.64s' has no spoken audio in the conversation to truncate",
				item_id);
		return;
	default:
		rt_client_error(s, event_id, "server_error", NULL, "truncate failed: %s",
				parley_strerror(rc));
		return;
	}
	pthread_mutex_lock(&rt->lock);
	json_t *out = rt_event(rt, RT_EV_ITEM_TRUNCATED);
	if (out)
		json_object_update_new(out, json_pack("{s:s, s:i, s:I}", "item_id", item_id,
						      "content_index", 0, "audio_end_ms",
						      (json_int_t)ms));
	rt_push(s, out, RT_EV_ITEM_TRUNCATED);
	pthread_mutex_unlock(&rt->lock);
}
