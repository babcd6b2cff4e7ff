/*
 * speakable.c - the speech normaliser (see speakable.h for the normal form
 * and the measurements behind its caps).
 *
 * Three passes: blank markdown that needs context (code fence lines, link
 * targets) in a copy of the input; decode UTF-8 into a code-point array,
 * mapping look-alikes (’ -> ', fullwidth marks, dashes, spaces) and
 * removing invisible and invalid input; then build words with one code
 * point of look-ahead, so a joiner (' - . , :) is kept only between the
 * characters it may join.
 */
#include "text/speakable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Code points after the first pass: plain ASCII marks keep their value;
 * these stand for classes that have no single ASCII spelling. */
#define CP_PAUSE 0x1Fu /* a dash between words: read as a comma */

/* ---- pass 1: UTF-8 -> code points ------------------------------------- */

/* Decodes one strict UTF-8 sequence (no overlongs, surrogates or values
 * past U+10FFFF). Returns its length, or 0 if s[0] starts none. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, v = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

static bool in(uint32_t c, uint32_t lo, uint32_t hi)
{
	return c >= lo && c <= hi;
}

/* Letters of the scripts the engines have voices for. */
static bool is_letter(uint32_t c)
{
	if (c < 0x80)
		return in(c, 'a', 'z') || in(c, 'A', 'Z');
	return c == 0xAA || c == 0xB5 || c == 0xBA || in(c, 0xC0, 0xD6) || in(c, 0xD8, 0xF6) ||
	       in(c, 0xF8, 0x24F) ||                        /* Latin-1, Extended-A/B */
	       c == 0x386 || in(c, 0x388, 0x3FF) ||          /* Greek */
	       in(c, 0x400, 0x481) || in(c, 0x48A, 0x52F) || /* Cyrillic */
	       in(c, 0x531, 0x556) || in(c, 0x561, 0x587) || /* Armenian */
	       in(c, 0x5D0, 0x5EA) ||                        /* Hebrew */
	       in(c, 0x620, 0x64A) || in(c, 0x66E, 0x6D3) || /* Arabic */
	       in(c, 0x900, 0x963) || in(c, 0x966, 0xDFF) || /* Indic */
	       in(c, 0xE01, 0xE3A) || in(c, 0xE40, 0xE4E) || /* Thai */
	       in(c, 0x10A0, 0x10FF) ||                      /* Georgian */
	       in(c, 0x1100, 0x11FF) || in(c, 0xAC00, 0xD7A3) || /* Hangul */
	       in(c, 0x1E00, 0x1EFF) ||                      /* Latin Extended Additional */
	       in(c, 0x3041, 0x3096) || in(c, 0x30A1, 0x30FA) || /* kana */
	       in(c, 0x4E00, 0x9FFF);                        /* CJK */
}

static bool is_mark(uint32_t c)
{
	return in(c, 0x300, 0x36F) || in(c, 0x591, 0x5C7) || in(c, 0x64B, 0x65F);
}

static bool is_digit(uint32_t c)
{
	return in(c, '0', '9');
}

static bool is_alnum(uint32_t c)
{
	return is_letter(c) || is_digit(c);
}

/* Invisible characters removed without a word break: format controls
 * (soft hyphen, zero-width, bidi), variation selectors, BOM, tags. */
static bool is_invisible(uint32_t c)
{
	return c == 0xAD || c == 0x34F || c == 0x61C || c == 0x180E || in(c, 0x200B, 0x200F) ||
	       in(c, 0x202A, 0x202E) || in(c, 0x2060, 0x206F) || in(c, 0xFE00, 0xFE0F) ||
	       c == 0xFEFF || in(c, 0xE0000, 0xE007F) || in(c, 0xE0100, 0xE01EF);
}

static bool is_space(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == 0x85 ||
	       c == 0xA0 || c == 0x1680 || in(c, 0x2000, 0x200A) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* What pass 1 keeps of c: itself, a mapped mark, ' ' (a word break) or 0
 * (nothing). */
static uint32_t map_cp(uint32_t c)
{
	if (c == '\n' || is_space(c))
		return ' ';
	if (is_letter(c) || is_digit(c) || is_mark(c))
		return c;
	if (is_invisible(c))
		return 0;
	switch (c) {
	case '.': case '!': case '?': case ',': case ';': case ':': case '\'': case '-':
	case '$': case '%': case '[': case ']': case '(': case ')':
		return c;
	case 0xA3: case 0x20AC: /* £ € */
		return c;
	case 0x2019: case 0x02BC: /* ’ ʼ */
		return '\'';
	case 0x2010: case 0x2011: /* hyphens */
		return '-';
	case 0x2012: case 0x2013: case 0x2014: case 0x2015: case 0x2E3A: case 0x2E3B:
		return CP_PAUSE;
	case 0x2026: case 0x3002: case 0xFF0E: /* … 。 ． */
		return '.';
	case 0xFF01: case 0xA1:
		return '!';
	case 0xFF1F: case 0xBF:
		return '?';
	case 0xFF0C: case 0x3001: case 0x060C:
		return ',';
	case 0xFF1B: case 0x061B:
		return ';';
	case 0xFF1A:
		return ':';
	default:
		return ' '; /* controls, symbols, emoji, markdown syntax: a word break */
	}
}

/* Pass 1. Returns the number of code points written to cps (at most len). */
static size_t decode_all(const char *text, size_t len, uint32_t *cps)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		uint32_t c;
		size_t k = utf8_decode(s + i, len - i, &c);
		if (!k) {
			i++; /* invalid byte: dropped */
			continue;
		}
		i += k;
		uint32_t m = map_cp(c);
		if (m)
			cps[n++] = m;
	}
	return n;
}

/* ---- pass 2: markdown that needs context ------------------------------ */

#define LINK_TEXT_MAX 1000
#define LINK_URL_MAX 2000

/* Markdown that needs context is blanked (made spaces) in a copy of the
 * input before pass 1: ``` / ~~~ fence lines with their info string, and
 * link targets. The rest of markdown's syntax (* _ ` # > | ~) is symbols,
 * which pass 1 makes word breaks. */
static bool fence_at(const char *t, size_t len, size_t i)
{
	size_t sp = 0;
	while (i < len && t[i] == ' ' && sp < 3)
		i++, sp++;
	return i + 3 <= len && ((t[i] == '`' && t[i + 1] == '`' && t[i + 2] == '`') ||
				(t[i] == '~' && t[i + 1] == '~' && t[i + 2] == '~'));
}

static void blank_fences(char *t, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (fence_at(t, len, i)) {
			while (i < len && t[i] != '\n')
				t[i++] = ' ';
		}
		while (i < len && t[i] != '\n')
			i++;
		i++; /* past the newline: the next line starts */
	}
}

static bool url_end(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '[' || c == ']' || c == '(';
}

/* Blanks link syntax in the copy: [text](url) and ![alt](url) keep only
 * their text. Scans stop at brackets, so the work stays linear. */
static void blank_links(char *t, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (t[i] != '[')
			continue;
		size_t j = i + 1;
		while (j < len && j - i <= LINK_TEXT_MAX && t[j] != ']' && t[j] != '[' && t[j] != '\n')
			j++;
		if (!(j + 1 < len && t[j] == ']' && t[j + 1] == '('))
			continue;
		size_t k = j + 2;
		while (k < len && k - j <= LINK_URL_MAX && t[k] != ')' && !url_end(t[k]))
			k++;
		if (k >= len || t[k] != ')')
			continue;
		if (i && t[i - 1] == '!')
			t[i - 1] = ' '; /* an image */
		t[i] = ' ';
		memset(t + j, ' ', k - j + 1);
		i = j;
	}
}

/* ---- pass 3: words ---------------------------------------------------- */

static size_t utf8_encode(uint32_t c, char *b)
{
	if (c < 0x80) {
		b[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		b[0] = (char)(0xC0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		b[0] = (char)(0xE0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3F));
		b[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	b[0] = (char)(0xF0 | c >> 18);
	b[1] = (char)(0x80 | (c >> 12 & 0x3F));
	b[2] = (char)(0x80 | (c >> 6 & 0x3F));
	b[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

enum kind { K_NONE, K_LETTER, K_DIGIT, K_MARK, K_JOINER, K_PREFIX, K_SUFFIX };

struct words {
	struct parley_buf *out;
	bool failed;   /* an append failed: the output is incomplete */
	uint32_t *w; /* the word being built, as code points */
	enum kind *k;
	size_t wn;
	int marks;     /* combining marks on the last letter */
	char punct;    /* strongest mark since the last word, or 0 */
	bool any;      /* a word has been written */
};

static int strength(char c)
{
	switch (c) {
	case '?': return 6;
	case '!': return 5;
	case '.': return 4;
	case ';': return 3;
	case ':': return 2;
	case ',': return 1;
	default: return 0;
	}
}

/* Appends to the output; after a failure nothing more is written. */
static void put(struct words *ws, const char *s, size_t n)
{
	if (!ws->failed && parley_buf_append(ws->out, s, n) != 0)
		ws->failed = true;
}

static void punct(struct words *ws, char c)
{
	if (ws->any && strength(c) > strength(ws->punct))
		ws->punct = c;
}

static enum kind last(const struct words *ws)
{
	return ws->wn ? ws->k[ws->wn - 1] : K_NONE;
}

static void push_cp(struct words *ws, uint32_t c, enum kind k)
{
	ws->w[ws->wn] = c;
	ws->k[ws->wn++] = k;
}

/* Writes one finished word (code points w[a..b), already well-formed). */
static void emit(struct words *ws, const uint32_t *w, size_t n)
{
	char b[4];
	if (!n)
		return;
	if (ws->any) {
		if (ws->punct)
			put(ws, &ws->punct, 1);
		put(ws, " ", 1);
	}
	for (size_t i = 0; i < n; i++)
		put(ws, b, utf8_encode(w[i], b));
	ws->any = true;
	ws->punct = 0;
}

static size_t cp_bytes(uint32_t c)
{
	return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

/* Writes w[0..n) as words of at most PARLEY_SPEAKABLE_WORD_MAX bytes, cut
 * between code points but never before a combining mark; a piece keeps no
 * joiner at its ends (nor a prefix that lost its digit, nor a suffix that
 * lost its digit), so each piece is itself in the normal form. */
static void emit_capped(struct words *ws, const uint32_t *w, const enum kind *k, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i, bytes = 0;
		while (j < n && bytes + cp_bytes(w[j]) <= PARLEY_SPEAKABLE_WORD_MAX) {
			bytes += cp_bytes(w[j]);
			j++;
		}
		while (j < n && j > i + 1 && k[j] == K_MARK)
			j--; /* keep a letter with its marks */
		size_t a = i, b = j;
		while (a < b && (k[a] == K_JOINER || k[a] == K_SUFFIX ||
				 (k[a] == K_PREFIX && (a + 1 >= b || k[a + 1] != K_DIGIT))))
			a++;
		while (b > a && (k[b - 1] == K_JOINER || k[b - 1] == K_PREFIX))
			b--;
		emit(ws, w + a, b - a);
		i = j;
	}
}

/* Writes a well-formed word: digit runs too long to read as a number are
 * read in groups of three, then the word is capped in length. */
static void emit_word(struct words *ws, const uint32_t *w, const enum kind *k, size_t n)
{
	size_t run = 0, longest = 0, digits = 0;
	for (size_t i = 0; i < n; i++) {
		run = k[i] == K_DIGIT ? run + 1 : 0;
		digits += k[i] == K_DIGIT;
		if (run > longest)
			longest = run;
	}
	if (longest <= PARLEY_SPEAKABLE_DIGITS_MAX && digits <= PARLEY_SPEAKABLE_NUMBER_MAX) {
		emit_capped(ws, w, k, n);
		return;
	}
	/* Letters stay words; digits go in threes; joiners, prefixes and
	 * suffixes are dropped (they became spaces). */
	size_t i = 0;
	while (i < n) {
		if (k[i] == K_DIGIT) {
			size_t j = i;
			while (j < n && k[j] == K_DIGIT && j - i < 3)
				j++;
			emit(ws, w + i, j - i);
			i = j;
		} else if (k[i] == K_LETTER) {
			size_t j = i;
			while (j < n && (k[j] == K_LETTER || k[j] == K_MARK))
				j++;
			emit_capped(ws, w + i, k + i, j - i);
			i = j;
		} else {
			i++;
		}
	}
}

/* Ends the word being built. A word with more than
 * PARLEY_SPEAKABLE_JOINS_MAX apostrophes or dots ("s's's's", "a.b.a.b.")
 * is not a word: it is read as the words between them. */
static void flush(struct words *ws)
{
	size_t n = ws->wn, joins = 0;
	ws->wn = 0;
	ws->marks = 0;
	for (size_t i = 0; i < n; i++)
		joins += ws->k[i] == K_JOINER && (ws->w[i] == '\'' || ws->w[i] == '.');
	if (joins <= PARLEY_SPEAKABLE_JOINS_MAX) {
		emit_word(ws, ws->w, ws->k, n);
		return;
	}
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || (ws->k[i] == K_JOINER && (ws->w[i] == '\'' || ws->w[i] == '.'))) {
			emit_word(ws, ws->w + start, ws->k + start, i - start);
			start = i + 1;
		}
	}
}

static void build_words(struct words *ws, const uint32_t *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t ch = c[i], next = i + 1 < n ? c[i + 1] : 0;
		enum kind l = last(ws);
		bool after_alnum = l == K_LETTER || l == K_DIGIT || l == K_MARK;
		bool after_letter = l == K_LETTER || (l == K_MARK);
		if (is_letter(ch)) {
			push_cp(ws, ch, K_LETTER);
			ws->marks = 0;
		} else if (is_digit(ch)) {
			push_cp(ws, ch, K_DIGIT);
		} else if (is_mark(ch)) {
			if (after_letter && ws->marks < 2) {
				push_cp(ws, ch, K_MARK);
				ws->marks++;
			}
		} else if (ch == '\'' && after_letter && is_letter(next)) {
			push_cp(ws, ch, K_JOINER);
		} else if ((ch == '-' || ch == '.') && after_alnum && is_alnum(next)) {
			push_cp(ws, ch, K_JOINER);
		} else if ((ch == ',' || ch == ':') && l == K_DIGIT && is_digit(next)) {
			push_cp(ws, ch, K_JOINER);
		} else if ((ch == '-' || ch == '$' || ch == 0xA3 || ch == 0x20AC) && ws->wn == 0 &&
			   is_digit(next)) {
			push_cp(ws, ch, K_PREFIX);
		} else if (ch == '%' && l == K_DIGIT) {
			push_cp(ws, ch, K_SUFFIX);
		} else {
			flush(ws);
			if (strength((char)ch) && ch < 0x80)
				punct(ws, (char)ch);
			else if (ch == CP_PAUSE)
				punct(ws, ',');
		}
	}
	flush(ws);
	if (ws->any && ws->punct)
		put(ws, &ws->punct, 1);
}

char *parley_speakable(const char *text, size_t len, size_t *out_len)
{
	char *copy = malloc(len + 1);
	uint32_t *cps = malloc((len + 1) * sizeof *cps);
	uint32_t *w = malloc((len + 1) * sizeof *w);
	enum kind *k = malloc((len + 1) * sizeof *k);
	/* The documented bound, 2 * len + 1: every output byte but the spaces
	 * is an input byte (mapping never lengthens a character), and each
	 * space follows a word of at least one byte. */
	struct parley_buf o;
	parley_buf_init(&o, len <= (SIZE_MAX - 1) / 2 ? 2 * len + 1 : SIZE_MAX);
	char *result = NULL;
	if (!copy || !cps || !w || !k || parley_buf_append(&o, "", 0) != 0)
		goto out; /* the empty append allocates "", the result when nothing is speakable */
	if (len)
		memcpy(copy, text, len);
	blank_fences(copy, len);
	blank_links(copy, len);
	size_t n = decode_all(copy, len, cps);
	struct words ws = { .out = &o, .w = w, .k = k };
	build_words(&ws, cps, n);
	if (ws.failed)
		goto out;
	result = o.data;
	o.data = NULL;
	if (out_len)
		*out_len = o.len;
out:
	parley_buf_free(&o);
	free(k);
	free(w);
	free(cps);
	free(copy);
	return result;
}

size_t parley_speakable_cut(const char *text, size_t len)
{
	if (len <= PARLEY_SPEAKABLE_PIECE_MAX)
		return len;
	size_t sentence = 0, clause = 0, word = 0;
	/* A cut at p speaks text[0..p); text[p] is the space skipped. */
	for (size_t p = 1; p <= PARLEY_SPEAKABLE_PIECE_MAX; p++) {
		if (text[p] != ' ')
			continue;
		char c = text[p - 1];
		if (c == '.' || c == '!' || c == '?')
			sentence = p;
		else if (c == ',' || c == ';' || c == ':')
			clause = p;
		word = p;
	}
	if (sentence > PARLEY_SPEAKABLE_PIECE_MAX / 3)
		return sentence;
	if (clause > PARLEY_SPEAKABLE_PIECE_MAX / 3)
		return clause;
	if (word)
		return word;
	/* Not normalised text: cut on a UTF-8 boundary. */
	size_t p = PARLEY_SPEAKABLE_PIECE_MAX;
	while (p > 1 && ((unsigned char)text[p] & 0xC0) == 0x80)
		p--;
	return p;
}

bool parley_speakable_check(const char *text, size_t len)
{
	if (len > PARLEY_SPEAKABLE_PIECE_MAX)
		return false;
	size_t n;
	char *norm = parley_speakable(text, len, &n);
	bool ok = norm && n == len && memcmp(norm, text, len) == 0;
	free(norm);
	return ok;
}
