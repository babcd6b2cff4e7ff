#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/err.h"
#include "util/redact.h"
#include "util/utf8.h"

#define LOG_MSG_MAX 4096  /* formatted message, before escaping */
#define LOG_LINE_MAX 8192 /* escaped line */

static enum parley_log_level g_level = PARLEY_LOG_INFO;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void parley_log_set_level(enum parley_log_level level)
{
	g_level = level;
}

enum parley_log_level parley_log_get_level(void)
{
	return g_level;
}

int parley_log_level_parse(const char *s, enum parley_log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum parley_log_level)i;
			return 0;
		}
	}
	return PARLEY_E_INVAL;
}

/* Code point of the valid sequence s[0..n). */
static unsigned long code_point(const unsigned char *s, size_t n)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned long cp = s[0] & lead_mask[n];
	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

/* C0 and C1 controls and DEL; the line and paragraph separators (a
 * terminal or an editor may break the line there); every bidirectional
 * control: the Arabic letter mark, LRM/RLM, the embeddings and overrides
 * and the isolates (they reorder what follows them on screen). */
static bool escaped_cp(unsigned long cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c ||
	       cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void parley_log_cut(char *s, size_t *len, size_t max)
{
	static const char more[] = "...";
	if (*len < max)
		return;
	size_t keep = parley_utf8_cut(s, *len, max - sizeof more);
	memcpy(s + keep, more, sizeof more); /* with its NUL */
	*len = keep + sizeof more - 1;
}

size_t parley_log_escape(const char *str, size_t len, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0, i = 0;
	char esc[16];
	while (i < len) {
		size_t n = parley_utf8_char_len(str + i, len - i);
		const char *piece = str + i;
		size_t w = n;
		if (!n) {
			w = (size_t)snprintf(esc, sizeof esc, "\\x%02X", s[i]);
			piece = esc;
			n = 1;
		} else {
			unsigned long cp = code_point(s + i, n);
			if (escaped_cp(cp)) {
				if (cp == '\n' || cp == '\r' || cp == '\t')
					w = (size_t)snprintf(esc, sizeof esc, "\\%c",
							     cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
				else if (cp < 0x80)
					w = (size_t)snprintf(esc, sizeof esc, "\\x%02lX", cp);
				else
					w = (size_t)snprintf(esc, sizeof esc, "\\u%04lX", cp);
				piece = esc;
			}
		}
		if (o + w + 4 > cap) { /* room for "..." and the NUL */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, piece, w);
		o += w;
		i += n;
	}
	out[o] = '\0';
	return o;
}

void parley_log(enum parley_log_level level, const char *fmt, ...)
{
	if (level > g_level)
		return;

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);

	/* The whole message is formatted and masked before it is cut: a cut
	 * first could split a key and leave its prefix unrecognisable. */
	char small[LOG_MSG_MAX];
	char *msg = small;
	va_list ap, again;
	va_start(ap, fmt);
	va_copy(again, ap);
	int len = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (len >= (int)sizeof small) {
		msg = malloc((size_t)len + 1);
		if (msg)
			vsnprintf(msg, (size_t)len + 1, fmt, again);
	}
	va_end(again);

	char line[LOG_LINE_MAX];
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
	size_t mlen = 0;
	char *masked = msg && len > 0 ? parley_redact(msg, (size_t)len, 0, &mlen) : NULL;
	if (masked) {
		parley_log_cut(masked, &mlen, LOG_MSG_MAX);
		parley_log_escape(masked, mlen, line + n, sizeof line - (size_t)n);
	} else if (len > 0) {
		snprintf(line + n, sizeof line - (size_t)n,
			 "(a log message was dropped: out of memory while masking it)");
	} else {
		line[n] = '\0'; /* empty message, or a format error */
	}
	free(masked);
	if (msg != small)
		free(msg);
	fprintf(stderr, "%s\n", line);
}
