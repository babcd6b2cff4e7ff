/*
 * heard.c - what the user heard of a spoken answer: the answer's pieces
 * were sent as audio, each with its length (speak.c), so the first ms of
 * its audio said the pieces that fit in them and, of the piece playing at
 * that moment, its share of the words (time spread evenly over them).
 * Used when a barge-in or cancel_response cuts the answer (how much was
 * played: the client's report, else the time since playback began, or the
 * playback estimate of sessions without reports, answer.c) and when the
 * client truncates it (parley_session_truncate_answer: the ms it says).
 *
 * The pieces of the current answer live in the session (s->spoken), under
 * its number (s->answer_id, answer_started's); when a newer answer
 * supersedes it they join s->kept, the last PARLEY_ANSWERS_KEPT answers
 * that had any, each with its number and history entry. So a client
 * truncates exactly the answer it names (after a barge-in, a cancel, or a
 * newer answer that was cut before it said anything), and never another.
 *
 * Threads: every call with s->lock held (parley_spoken_words is pure).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"

/* The first `words` words of text, into out (appended). */
static void append_words(char *out, size_t cap, const char *text, size_t words)
{
	size_t o = strlen(out);
	if (o && o + 1 < cap)
		out[o++] = ' ';
	size_t w = 0;
	bool in = false;
	for (size_t i = 0; text[i] && o + 1 < cap; i++) {
		bool space = isspace((unsigned char)text[i]);
		if (!space && !in && w++ == words)
			break;
		in = !space;
		out[o++] = text[i];
	}
	while (o && isspace((unsigned char)out[o - 1]))
		o--;
	out[o] = '\0';
}

static size_t word_count(const char *t)
{
	size_t n = 0;
	bool in = false;
	for (; *t; t++) {
		bool space = isspace((unsigned char)*t);
		if (!space && !in)
			n++;
		in = !space;
	}
	return n;
}

char *parley_spoken_words(const struct parley_spoken *p, size_t n, int64_t ms)
{
	size_t cap = 1;
	for (size_t i = 0; i < n; i++)
		cap += strlen(p[i].text) + 1;
	char *out = calloc(1, cap);
	if (!out)
		return NULL;
	int64_t acc = 0;
	for (size_t i = 0; i < n && acc < ms; i++) {
		size_t words = word_count(p[i].text);
		if (acc + p[i].ms <= ms)
			append_words(out, cap, p[i].text, words);
		else if (p[i].ms > 0)
			append_words(out, cap, p[i].text,
				     (size_t)((double)words * (double)(ms - acc) / (double)p[i].ms));
		acc += p[i].ms;
	}
	return out;
}

char *parley_speak_heard_locked(struct parley_session *s, int64_t now_ns)
{
	int64_t heard_ms;
	if (s->played_ms >= 0)
		heard_ms = s->played_ms;
	else if (s->assume_playback)
		heard_ms = s->audio_sent_ms -
			   (s->play_until_ns > now_ns ? (s->play_until_ns - now_ns) / 1000000 : 0);
	else if (s->playback_start_ns)
		heard_ms = (now_ns - s->playback_start_ns) / 1000000;
	else
		heard_ms = 0;
	if (heard_ms > s->audio_sent_ms)
		heard_ms = s->audio_sent_ms;
	return parley_spoken_words(s->spoken, s->nspoken, heard_ms);
}

char *parley_answer_kept_locked(struct parley_session *s, int64_t now_ns)
{
	if (s->answer_spoken)
		return parley_speak_heard_locked(s, now_ns);
	return strndup(s->answer.len ? s->answer.data : "", s->answer.len);
}

static void set_free(struct parley_spoken_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->p[i].text);
	free(set->p);
	*set = (struct parley_spoken_set){ 0 };
}

void parley_spoken_kept_free(struct parley_session *s)
{
	for (size_t i = 0; i < PARLEY_ANSWERS_KEPT; i++)
		set_free(&s->kept[i]);
}

void parley_spoken_keep_locked(struct parley_session *s)
{
	if (s->answer_id && s->nspoken) {
		set_free(&s->kept[PARLEY_ANSWERS_KEPT - 1]);
		memmove(&s->kept[1], &s->kept[0], (PARLEY_ANSWERS_KEPT - 1) * sizeof s->kept[0]);
		s->kept[0] = (struct parley_spoken_set){ s->spoken, s->nspoken, s->audio_sent_ms,
							 s->answer_hist_id, s->answer_id };
		s->spoken = NULL;
		s->nspoken = s->spoken_cap = 0;
	}
	/* an answer with nothing spoken: its pieces (none) are forgotten with it */
	s->answer_id = 0;
	s->answer_hist_id = 0;
}

const struct parley_spoken_set *parley_spoken_find_locked(struct parley_session *s,
							  uint64_t answer,
							  struct parley_spoken_set *cur)
{
	if (!answer)
		return NULL;
	if (answer == s->answer_id) {
		*cur = (struct parley_spoken_set){ s->spoken, s->nspoken, s->audio_sent_ms,
						   s->answer_hist_id, s->answer_id };
		return cur;
	}
	for (size_t i = 0; i < PARLEY_ANSWERS_KEPT; i++)
		if (s->kept[i].answer == answer)
			return &s->kept[i];
	return NULL;
}
