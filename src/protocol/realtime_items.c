/* conversation.item.create (typed user messages) and
 * conversation.item.truncate (realtime_internal.h, docs/realtime.md
 * "Conversation items"). */
#include <stdlib.h>
#include <string.h>

#include "protocol/realtime_internal.h"
#include "util/err.h"

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
	pthread_mutex_unlock(&rt->lock);
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
					rt_text_json(text, len)));
	rt_item_appeared(s, rt, out, rt->last_item);
	json_decref(out);
	snprintf(rt->last_item, sizeof rt->last_item, "%s", id);
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
	bool latest = rt->last_assistant[0] && strcmp(item_id, rt->last_assistant) == 0;
	bool live = rt->resp.active && strcmp(item_id, rt->resp.item_id) == 0;
	pthread_mutex_unlock(&rt->lock);
	if (!latest || live) {
		rt_client_error(s, event_id, "invalid_value", "item_id",
				live ? "item '%.64s' is still being answered: truncate it after its "
				       "response.done"
				     : "only the latest assistant item can be truncated (not '%.64s')",
				item_id);
		return;
	}
	int64_t ms = json_integer_value(end);
	int rc = parley_session_truncate_answer(s, ms);
	if (rc) {
		rt_client_error(s, event_id, "invalid_value",
				rc == PARLEY_E_RANGE ? "audio_end_ms" : "item_id",
				rc == PARLEY_E_RANGE
					? "audio_end_ms %lld is beyond the item's audio"
					: "item has no spoken audio to truncate (%lld ms)",
				(long long)ms);
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
