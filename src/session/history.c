#include "session/history.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

void parley_history_init(struct parley_history *h, size_t budget_chars)
{
	memset(h, 0, sizeof *h);
	h->budget = budget_chars;
}

void parley_history_clear(struct parley_history *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->turns[i].text);
	h->n = 0;
	h->chars = 0;
}

void parley_history_destroy(struct parley_history *h)
{
	parley_history_clear(h);
	free(h->turns);
	h->turns = NULL;
	h->cap = 0;
}

static void drop_oldest(struct parley_history *h)
{
	h->chars -= strlen(h->turns[0].text);
	free(h->turns[0].text);
	memmove(h->turns, h->turns + 1, (h->n - 1) * sizeof *h->turns);
	h->n--;
}

int parley_history_add(struct parley_history *h, enum parley_role role, const char *text,
		       size_t len, bool interrupted)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct parley_turn *t = realloc(h->turns, cap * sizeof *t);
		if (!t)
			return PARLEY_E_NOMEM;
		h->turns = t;
		h->cap = cap;
	}
	char *copy = strndup(text, len);
	if (!copy)
		return PARLEY_E_NOMEM;
	h->turns[h->n++] = (struct parley_turn){ role, copy, interrupted, ++h->last_id };
	h->chars += strlen(copy);
	while (h->n > 1 && h->chars > h->budget)
		drop_oldest(h);
	return 0;
}

int parley_history_replace_last(struct parley_history *h, enum parley_role role, const char *text,
				size_t len, bool interrupted)
{
	if (h->n && h->turns[h->n - 1].role == role) {
		char *copy = strndup(text, len);
		if (!copy)
			return PARLEY_E_NOMEM;
		struct parley_turn *t = &h->turns[h->n - 1];
		h->chars -= strlen(t->text);
		free(t->text);
		t->text = copy;
		t->interrupted = interrupted;
		h->chars += strlen(copy);
		return 0;
	}
	return parley_history_add(h, role, text, len, interrupted);
}

uint64_t parley_history_last_id(const struct parley_history *h)
{
	return h->n ? h->turns[h->n - 1].id : 0;
}

int parley_history_set(struct parley_history *h, uint64_t id, const char *text, size_t len,
		       bool interrupted)
{
	for (size_t i = h->n; id && i-- > 0;) {
		struct parley_turn *t = &h->turns[i];
		if (t->id != id)
			continue;
		char *copy = strndup(text, len);
		if (!copy)
			return PARLEY_E_NOMEM;
		h->chars -= strlen(t->text);
		free(t->text);
		t->text = copy;
		t->interrupted = t->interrupted || interrupted;
		h->chars += strlen(copy);
		return 0;
	}
	return PARLEY_E_NOTFOUND;
}

json_t *parley_history_messages(const struct parley_history *h, const char *system_prompt)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	if (system_prompt &&
	    json_array_append_new(arr, json_pack("{s:s, s:s}", "role", "system", "content",
						 system_prompt)) != 0)
		goto fail;
	for (size_t i = 0; i < h->n; i++) {
		const struct parley_turn *t = &h->turns[i];
		json_t *content = t->interrupted ? json_sprintf("%s...", t->text) : json_string(t->text);
		json_t *m = content ? json_pack("{s:s, s:o}", "role",
						t->role == PARLEY_ROLE_USER ? "user" : "assistant",
						"content", content)
				    : NULL;
		if (!m || json_array_append_new(arr, m) != 0)
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}
