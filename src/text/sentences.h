/*
 * sentences.h - cut a streamed answer into pieces worth speaking.
 *
 * Tokens go in as they arrive; complete pieces come out: first a quick
 * first chunk so speech can start early, then whole sentences (their
 * prosody needs the whole sentence). The first chunk ends at the first
 * clause boundary: a comma, colon, semicolon or dash once it has
 * PARLEY_FIRST_CHUNK_MIN_WORDS words, a comma after an opener of its own
 * ("Sure,", "Of course,", "Well,"), or the sentence end; when
 * PARLEY_FIRST_CHUNK_MAX_WORDS (20) words came with none of these, it is cut
 * before the last conjunction or preposition from the fourth word on
 * ("... is | because ..."), else after those words. A sentence ends at . ! ? (or a newline) followed by space,
 * except after common abbreviations (Mr. Dr. e.g. etc. ...), single
 * capital letters (U. S.) and inside numbers (3.14, 1,000). flush() returns
 * what is left at the end of the answer.
 *
 * Pure, one per answer, not thread-safe.
 */
#ifndef PARLEY_TEXT_SENTENCES_H
#define PARLEY_TEXT_SENTENCES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define PARLEY_FIRST_CHUNK_MIN_WORDS 3
#define PARLEY_FIRST_CHUNK_MAX_WORDS 20 /* a cut without punctuation breaks the prosody: rare */

#define PARLEY_SENTENCES_MAX (1u << 20) /* text waiting for a sentence end */

struct parley_sentences {
	struct parley_buf text; /* not yet cut */
	bool first_done;        /* the quick first chunk has been cut */
};

void parley_sentences_init(struct parley_sentences *s);
void parley_sentences_destroy(struct parley_sentences *s);
void parley_sentences_reset(struct parley_sentences *s);

/* Appends text. Returns 0, PARLEY_E_RANGE or PARLEY_E_NOMEM. */
int parley_sentences_feed(struct parley_sentences *s, const char *text, size_t len);

/* Next complete piece as a malloc'd, trimmed string (caller frees), or NULL
 * when none is complete yet. */
char *parley_sentences_next(struct parley_sentences *s);

/* The rest (trimmed), or NULL if only whitespace is left. Empties s. */
char *parley_sentences_flush(struct parley_sentences *s);

#endif
