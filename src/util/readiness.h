/*
 * readiness.h - is every shared engine warm?
 *
 * Shared engines (the LLM, warm pools) register a component at startup and
 * report its state as it changes; GET /readyz answers 200 only when every
 * registered component is ready, and otherwise names the first one that is
 * not, with its reason ("llm: model 'x' is not pulled; run: ollama pull x").
 *
 * Thread-safe: one mutex guards the table.
 */
#ifndef PARLEY_UTIL_READINESS_H
#define PARLEY_UTIL_READINESS_H

#include <stdbool.h>
#include <stddef.h>

#define PARLEY_READINESS_MAX 16

/* Registers a component (name borrowed: a string literal), initially not
 * ready with the given reason. Returns its id (>= 0) or PARLEY_E_FULL. */
int parley_readiness_add(const char *name, const char *reason);

/* Updates component id; reason is copied (may be NULL when ready). */
void parley_readiness_set(int id, bool ready, const char *reason);

/* True when all components are ready. If not and why != NULL, writes
 * "name: reason" of the first component that is not ready into why. */
bool parley_readiness_check(char *why, size_t whylen);

/* Forgets every component (tests). */
void parley_readiness_reset(void);

#endif
