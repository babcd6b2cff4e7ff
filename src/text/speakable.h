/*
 * speakable.h - make any bytes safe and sensible to hand to a speech
 * synthesiser.
 *
 * flite 2.2 and espeak-ng 1.51 are not hardened against odd text: both
 * abort the process on inputs an LLM or a client can produce. Every piece
 * of text goes through parley_speakable() before it can reach a TTS
 * backend's synth(), and the backends refuse (PARLEY_E_RANGE) anything
 * that is not already in this normal form (parley_speakable_check()).
 *
 * The normal form:
 *   - valid UTF-8; invalid bytes are dropped;
 *   - only letters (Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Indic,
 *     Thai, Georgian, Hangul, kana, CJK), ASCII digits, at most two combining
 *     marks per letter, single spaces between words, and the marks below;
 *     control and private-use characters, symbols, emoji and markdown
 *     syntax become word breaks (a fenced code block's ``` lines are
 *     dropped; a link [text](url) keeps only its text); invisible format
 *     characters (zero-width, bidi, soft hyphen, variation selectors) are
 *     removed;
 *   - inside a word only: ' between letters (’ is mapped to '), - . between
 *     letters or digits, , : between digits, $ € £ - before a digit, %
 *     after a digit;
 *   - after a word: at most one of . ! ? , ; : ; a run of them (with or
 *     without spaces: "!!!!", "?!?!", "....", "! ! !") collapses to the
 *     strongest (? ! . ; : ,); none before the first word;
 *   - a word has at most PARLEY_SPEAKABLE_WORD_MAX bytes: longer words are
 *     split into several (never dropped); a word with more than
 *     PARLEY_SPEAKABLE_JOINS_MAX apostrophes and dots inside ("s's's's",
 *     "a.b.a.b.a.b") is read as the words between them ("s s s s");
 *   - a word whose digit runs exceed 9 digits, or whose digits total more
 *     than 15, is read in groups: "12345678901234" -> "123 456 789 012 34".
 * The form is idempotent: parley_speakable() of its own output returns the
 * same bytes. It is unbounded in length; parley_speakable_cut() splits it
 * into pieces of at most PARLEY_SPEAKABLE_PIECE_MAX bytes at the best
 * boundary (sentence end, then clause, then word), so nothing is dropped.
 *
 * Measured on Debian 12 (flite 2.2-5, espeak-ng 1.51), "Sure " + a unit
 * repeated n times, first n that aborts the process:
 *   flite slt/kal16: a run of ! ? . , ; : or ) aborts at 400 (405 bytes;
 *     300 passes), "!?" at 200, "..." at 120 (365 bytes): a post-punctuation
 *     run of ~300+ bytes in one token. 8000 letters, digits or "hello "
 *     (48 KB) pass.
 *   espeak-ng en-us: "s'" (one token "s's's'...") aborts at 68 (141 bytes),
 *     "'s" at 68, "a." at 85 (175 bytes); "a'", "a-", "1." and "a'b" pass
 *     400; 8000 letters, digits, "s' " or "hello " pass. A voice variant
 *     longer than 36 bytes overflows a 40-byte buffer (see tts/voices.c).
 * Caps, with margin: a word is at most 40 bytes (3.4x below the shortest
 * crashing token, 141 bytes) with at most 4 inner ' or . (the crashing
 * tokens had 67 and 84), a punctuation run is 1 byte (300x below), a
 * piece is at most 300 bytes (a long spoken sentence; synthesis latency
 * grows with it) and can hold no run of marks.
 *
 * Pure: no allocation other than the returned strings, no global state,
 * any thread.
 */
#ifndef PARLEY_TEXT_SPEAKABLE_H
#define PARLEY_TEXT_SPEAKABLE_H

#include <stdbool.h>
#include <stddef.h>

#define PARLEY_SPEAKABLE_WORD_MAX 40   /* bytes in one word */
#define PARLEY_SPEAKABLE_PIECE_MAX 300 /* bytes handed to synth() at once */
#define PARLEY_SPEAKABLE_DIGITS_MAX 9  /* longest digit run read as a number */
#define PARLEY_SPEAKABLE_NUMBER_MAX 15 /* most digits in one word read as-is */
#define PARLEY_SPEAKABLE_JOINS_MAX 4   /* most ' and . inside one word */

/*
 * Normalises len bytes of text (any bytes, NULs included) into a malloc'd,
 * NUL-terminated string in the normal form above (caller frees); *out_len
 * (if not NULL) receives its length. The result may be "" when nothing is
 * speakable. Its length is at most 2 * len + 1. Returns NULL only when out
 * of memory.
 */
char *parley_speakable(const char *text, size_t len, size_t *out_len);

/*
 * The length of the next piece of normalised text (at most
 * PARLEY_SPEAKABLE_PIECE_MAX bytes, ending at a sentence end, else a clause
 * mark, else a word end). The caller speaks text[0..n), then skips a space
 * if text[n] is one, and continues; 0 when len is 0. text must be parley_speakable() output.
 */
size_t parley_speakable_cut(const char *text, size_t len);

/*
 * true when text (len bytes) is already in the normal form and at most
 * PARLEY_SPEAKABLE_PIECE_MAX bytes long: what a TTS backend accepts.
 */
bool parley_speakable_check(const char *text, size_t len);

#endif
