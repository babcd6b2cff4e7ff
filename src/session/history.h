/*
 * history.h - one session's conversation: user and assistant turns, kept
 * within a budget by dropping the oldest turns first. The system prompt is
 * not stored here; it is added when the messages are built.
 *
 * Budget: characters, about four per token (no tokenizer is at hand for an
 * arbitrary remote model; four is the usual English average).
 *
 * Not thread-safe: the session's lock guards it.
 */
#ifndef PARLEY_SESSION_HISTORY_H
#define PARLEY_SESSION_HISTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARLEY_CHARS_PER_TOKEN 4

enum parley_role { PARLEY_ROLE_USER, PARLEY_ROLE_ASSISTANT };

struct parley_turn {
	enum parley_role role;
	char *text;
	bool interrupted; /* an assistant answer cut short */
	uint64_t id;      /* unique in the history, from 1 */
};

struct parley_history {
	struct parley_turn *turns;
	size_t n, cap;
	size_t chars;  /* sum of text lengths */
	size_t budget; /* in characters */
	uint64_t last_id; /* of the newest turn ever added */
};

void parley_history_init(struct parley_history *h, size_t budget_chars);
void parley_history_destroy(struct parley_history *h);
void parley_history_clear(struct parley_history *h);

/* Copies text[0..len). Drops the oldest turns while over budget (the newest
 * turn always stays). Returns 0 or PARLEY_E_NOMEM. */
int parley_history_add(struct parley_history *h, enum parley_role role, const char *text,
		       size_t len, bool interrupted);

/* Replaces the newest turn if it has this role (it keeps its id), else
 * adds one. */
int parley_history_replace_last(struct parley_history *h, enum parley_role role, const char *text,
				size_t len, bool interrupted);

/* The id of the newest turn, 0 when empty. */
uint64_t parley_history_last_id(const struct parley_history *h);

/* Replaces the text of turn id (copied); interrupted marks it cut (a turn
 * already cut stays cut). 0, PARLEY_E_NOTFOUND (no such turn: never
 * added, dropped for the budget, cleared) or PARLEY_E_NOMEM. */
int parley_history_set(struct parley_history *h, uint64_t id, const char *text, size_t len,
		       bool interrupted);

/* [{"role":"system",...}, turns...] as chat messages; an interrupted answer
 * ends with "..." so the model knows it was cut off. NULL on OOM. */
json_t *parley_history_messages(const struct parley_history *h, const char *system_prompt);

#endif
