/*
 * echo.c - no model at all: answers each turn with what it heard,
 * "You said: ...", streamed word by word, so the whole voice loop can be
 * tried without an LLM. What it heard is cut at ECHO_MAX_HEARD bytes, on a
 * character boundary. The engine and the status message say loudly that
 * this is not a language model.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/backend.h"
#include "util/utf8.h"

#define ECHO_WORD_DELAY_MS 40
#define ECHO_MAX_HEARD 400

struct stream {
	struct parley_llm_sink sink;
	char *text;
	size_t pos, len;
};

static void *stream_new(const json_t *messages, const struct parley_llm_sink *sink)
{
	struct stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->sink = *sink;
	const char *heard = NULL;
	for (size_t i = json_array_size(messages); i-- > 0;) {
		json_t *m = json_array_get(messages, i);
		const char *role = json_string_value(json_object_get(m, "role"));
		if (role && strcmp(role, "user") == 0) {
			heard = json_string_value(json_object_get(m, "content"));
			break;
		}
	}
	if (!heard)
		heard = "nothing";
	while (*heard == ' ')
		heard++;
	/* At most ECHO_MAX_HEARD bytes, cut on a character boundary: the
	 * answer joins the history, which must stay valid UTF-8 (an invalid
	 * entry would make every later request unencodable). */
	size_t len = strlen(heard);
	size_t n = parley_utf8_cut(heard, len, ECHO_MAX_HEARD);
	bool cut = n < len;
	while (n && (heard[n - 1] == ' ' || heard[n - 1] == '\n'))
		n--;
	/* keep the speaker's own ending (. ? !), else end the sentence */
	bool ended = n && (heard[n - 1] == '.' || heard[n - 1] == '?' || heard[n - 1] == '!');
	size_t cap = n + 32;
	s->text = malloc(cap);
	if (!s->text) {
		free(s);
		return NULL;
	}
	s->len = (size_t)snprintf(s->text, cap, "You said: %.*s%s", (int)n, heard,
				  cut ? "..." : ended ? "" : ".");
	return s;
}

/* Emits the next word with its leading space; done after the last. */
static int local_next(void *st)
{
	struct stream *s = st;
	if (s->pos >= s->len) {
		s->sink.done(s->sink.arg, "stop");
		return -1;
	}
	size_t end = s->pos;
	while (end < s->len && s->text[end] == ' ')
		end++;
	while (end < s->len && s->text[end] != ' ')
		end++;
	s->sink.token(s->sink.arg, s->text + s->pos, end - s->pos);
	s->pos = end;
	return ECHO_WORD_DELAY_MS;
}

static void stream_free(void *st)
{
	struct stream *s = st;
	if (!s)
		return;
	free(s->text);
	free(s);
}

static int stream_feed(void *st, const char *data, size_t len)
{
	return 0; /* never called: echo has no HTTP body */
}

static void stream_finish(void *st)
{
}

const struct parley_llm_backend parley_llm_echo = {
	.name = "echo",
	.local = true,
	.chat_request = NULL,
	.stream_new = stream_new,
	.stream_feed = stream_feed,
	.stream_finish = stream_finish,
	.stream_free = stream_free,
	.local_next = local_next,
	.error_message = NULL,
	.prepare = NULL,
};
