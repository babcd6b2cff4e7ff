/*
 * textnorm.h - text reduced to its words, for asking whether two
 * transcripts say the same thing (a speculative answer is kept when the
 * final transcript matches the one it started from): ASCII letters
 * lowercased; apostrophes (' and U+2018/U+2019) dropped, so "what's" and
 * "whats" match; other ASCII punctuation, controls, whitespace and the
 * common Unicode quotes, dashes and ellipsis separate words; runs of
 * separators become one space, none at either end. Other bytes (letters of
 * other scripts, in UTF-8) are kept as they are.
 *
 * Pure functions; any thread.
 */
#ifndef PARLEY_TEXT_TEXTNORM_H
#define PARLEY_TEXT_TEXTNORM_H

#include <stdbool.h>
#include <stddef.h>

/* The normal form of text[0..len): malloc'd, NUL-terminated, at most len
 * bytes long (caller frees); NULL on OOM. */
char *parley_textnorm(const char *text, size_t len);

/* Do a and b (NUL-terminated) have the same normal form? false on OOM. */
bool parley_textnorm_equal(const char *a, const char *b);

#endif
