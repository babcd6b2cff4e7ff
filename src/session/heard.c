/*
 * heard.c - what the user heard of a spoken answer: the answer's pieces
 * were sent as audio, each with its length (speak.c), so the first ms of
 * its audio said the pieces that fit in them and, of the piece playing at
 * that moment, its share of the words (time spread evenly over them).
 * Used when a barge-in or cancel_response cuts the answer (how much was
 * played: the client's report, else the time since playback began, or the
 * playback estimate of sessions without reports, playback.c) and when the
 * client truncates it (parley_session_truncate_answer: the ms it says).
 *
 * The pieces of the current answer live in the speaker (s->spk.spoken),
 * under its number (the answerer's, answer_started's); when a newer answer
 * supersedes it they join s->spk.kept, the last PARLEY_ANSWERS_KEPT answers
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

/* The longest a playback report is taken to be late (the web client
 * reports every 250 ms). */
#define REPORT_AGE_MS 300

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

int64_t parley_speaker_heard_ms_locked(struct parley_session *s, int64_t now_ns)
{
	int64_t heard_ms;
	if (s->spk.holding) /* nothing played since the audio stopped */
		return s->spk.held_at_ms;
	if (s->spk.played_ms >= 0) {
		/* the report is up to one reporting interval old: while the audio
		 * plays, the user has heard that much more (at most REPORT_AGE_MS) */
		int64_t age = (now_ns - s->spk.played_at_ns) / 1000000;
		if (age < 0 || !parley_speaker_audible_locked(s, now_ns))
			age = 0;
		heard_ms = s->spk.played_ms + s->spk.played_shift_ms +
			   (age < REPORT_AGE_MS ? age : REPORT_AGE_MS);
	}
	else if (s->assume_playback)
		heard_ms = s->spk.audio_sent_ms -
			   (s->spk.play_until_ns > now_ns ? (s->spk.play_until_ns - now_ns) / 1000000 : 0);
	else if (s->spk.playback_start_ns)
		heard_ms = (now_ns - s->spk.playback_start_ns) / 1000000;
	else
		heard_ms = 0;
	if (heard_ms > s->spk.audio_sent_ms)
		heard_ms = s->spk.audio_sent_ms;
	return heard_ms < 0 ? 0 : heard_ms;
}

char *parley_speaker_heard_locked(struct parley_session *s, int64_t now_ns)
{
	return parley_spoken_words(s->spk.spoken, s->spk.nspoken,
				   parley_speaker_heard_ms_locked(s, now_ns));
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
		set_free(&s->spk.kept[i]);
}

void parley_spoken_keep_locked(struct parley_session *s, uint64_t answer, uint64_t hist_id)
{
	if (answer && s->spk.nspoken) {
		set_free(&s->spk.kept[PARLEY_ANSWERS_KEPT - 1]);
		memmove(&s->spk.kept[1], &s->spk.kept[0], (PARLEY_ANSWERS_KEPT - 1) * sizeof s->spk.kept[0]);
		s->spk.kept[0] = (struct parley_spoken_set){ s->spk.spoken, s->spk.nspoken, s->spk.audio_sent_ms,
							 hist_id, answer };
		s->spk.spoken = NULL;
		s->spk.nspoken = s->spk.spoken_cap = 0;
	}
	/* an answer with nothing spoken: its pieces (none) are forgotten with it */
}

const struct parley_spoken_set *parley_spoken_find_locked(struct parley_session *s,
							  uint64_t answer, uint64_t cur_answer,
							  uint64_t cur_hist,
							  struct parley_spoken_set *cur)
{
	if (!answer)
		return NULL;
	if (answer == cur_answer) {
		*cur = (struct parley_spoken_set){ s->spk.spoken, s->spk.nspoken, s->spk.audio_sent_ms,
						   cur_hist, cur_answer };
		return cur;
	}
	for (size_t i = 0; i < PARLEY_ANSWERS_KEPT; i++)
		if (s->spk.kept[i].answer == answer)
			return &s->spk.kept[i];
	return NULL;
}
