/*
 * speak.c - the assistant's answer as speech: answer text is cut into
 * pieces (quick first chunk, then sentences), each piece is synthesised on
 * the session's TTS strand (in order), resampled to the session's output
 * rate and queued as chunks of at most 100 ms. Pieces sent are remembered
 * with their duration so a barge-in can tell what the user actually heard.
 *
 * partial_assistant_answer follows the speech: it is sent with each piece's
 * audio and holds the text spoken so far; final_assistant_answer is a job
 * on the same strand, so it comes after the answer's last audio.
 *
 * Every piece goes through the speech normaliser (text/speakable.h) before
 * synthesis, in sub-pieces of bounded length; partial/final answers and the
 * history keep the original text (what the user reads), only the engines
 * see the normalised form.
 *
 * Cancellation: every job carries the answer's generation (`turn_gen`);
 * a superseded job drops its work, and audio is queued under the session
 * lock after a generation check, so nothing of an interrupted answer can
 * follow stop_tts.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "session/internal.h"
#include "session/stages.h"
#include "text/speakable.h"
#include "tts/tts.h"
#include "util/err.h"
#include "util/log.h"

#define CHUNK_MS 100

struct tts_job {
	struct parley_session *s;
	uint64_t gen;
	char *text;
	bool final;       /* not a piece: send final_assistant_answer */
	bool interrupted; /* for final */
};

/* Caller holds s->lock and has checked the generation. */
static void said_locked(struct parley_session *s, const char *text)
{
	if (s->said.len)
		parley_buf_append(&s->said, " ", 1);
	parley_buf_append(&s->said, text, strlen(text));
	s->events->answer_partial(s, parley_buf_str(&s->said), s->said.len);
}

static void log_first_audio(struct parley_session *s)
{
	const struct parley_turn_times *t = &s->times;
	int64_t start = t->speech_end ? t->speech_end : t->final;
	parley_stage_observe(PARLEY_STAGE_TRANSCRIPT, t->speech_end, t->final);
	parley_stage_observe(PARLEY_STAGE_FIRST_TOKEN, t->final, t->first_token);
	parley_stage_observe(PARLEY_STAGE_FIRST_AUDIO, t->first_token, t->first_audio);
	parley_stage_observe(PARLEY_STAGE_TOTAL, start, t->first_audio);
	if (t->speech_end)
		PARLEY_INFO("session %llu turn: speech end -> transcript %.0f ms, transcript -> "
			    "first token %.0f ms, first token -> first audio %.0f ms, total %.0f ms",
			    (unsigned long long)s->id, (double)(t->final - t->speech_end) / 1e6,
			    (double)(t->first_token - t->final) / 1e6,
			    (double)(t->first_audio - t->first_token) / 1e6,
			    (double)(t->first_audio - start) / 1e6);
	else
		PARLEY_INFO("session %llu typed turn: first token %.0f ms, first token -> first "
			    "audio %.0f ms, total %.0f ms",
			    (unsigned long long)s->id, (double)(t->first_token - t->final) / 1e6,
			    (double)(t->first_audio - t->first_token) / 1e6,
			    (double)(t->first_audio - start) / 1e6);
}

/* Queues one synthesised sub-piece's audio if the answer is still current
 * (under the session lock, after the generation check). Returns false when
 * the answer was superseded. */
static bool queue_audio(struct parley_session *s, uint64_t gen, const struct parley_settings *st,
			const int16_t *out, size_t nout)
{
	size_t chunk = (size_t)st->output_sample_rate * CHUNK_MS / 1000;
	int64_t ms = (int64_t)nout * 1000 / st->output_sample_rate;
	pthread_mutex_lock(&s->lock);
	bool current = gen == s->turn_gen && !parley_session_is_closing(s);
	if (current && nout) {
		for (size_t off = 0; off < nout; off += chunk)
			s->events->audio(s, out + off, nout - off < chunk ? nout - off : chunk);
		s->audio_sent_ms += ms;
		if (!s->playback_start_ns)
			s->playback_start_ns = parley_now_ns();
		if (!s->times.first_audio) {
			s->times.first_audio = parley_now_ns();
			log_first_audio(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return current;
}

/* Caller holds s->lock and has checked the generation. Takes j->text. */
static void spoken_locked(struct parley_session *s, struct tts_job *j, int64_t ms)
{
	said_locked(s, j->text);
	if (s->nspoken == s->spoken_cap) {
		size_t cap = s->spoken_cap ? s->spoken_cap * 2 : 16;
		struct parley_spoken *sp = realloc(s->spoken, cap * sizeof *sp);
		if (sp) {
			s->spoken = sp;
			s->spoken_cap = cap;
		}
	}
	if (s->nspoken < s->spoken_cap) {
		s->spoken[s->nspoken++] = (struct parley_spoken){ j->text, ms };
		j->text = NULL; /* kept for barge-in accounting */
	}
}

/*
 * Speaks one piece of the answer. The piece goes through the speech
 * normaliser (text/speakable.h) and is synthesised in sub-pieces of at most
 * PARLEY_SPEAKABLE_PIECE_MAX bytes, so nothing un-normalised or unbounded
 * reaches a synthesiser; each sub-piece's audio is queued as soon as it is
 * ready. The user sees (partial answers, history) the original text.
 */
static void tts_job_run(void *arg, bool cancelled)
{
	struct tts_job *j = arg;
	struct parley_session *s = j->s;
	struct parley_settings st;
	char *norm = NULL;
	int64_t ms = 0;

	pthread_mutex_lock(&s->lock);
	bool current = !cancelled && j->gen == s->turn_gen && !parley_session_is_closing(s);
	st = s->settings;
	if (current && j->final)
		s->events->answer_final(s, j->text, strlen(j->text), j->interrupted);
	pthread_mutex_unlock(&s->lock);
	if (!current || j->final)
		goto out;

	const char *name = strcmp(st.voice, "default") == 0 ? s->speech->default_voice : st.voice;
	struct parley_tts_voice voice;
	double speed = st.tts_rate * s->speech->default_rate;
	size_t len = 0;
	int rc = parley_tts_voice_lookup(name, &voice);
	if (rc == 0 && !(norm = parley_speakable(j->text, strlen(j->text), &len)))
		rc = PARLEY_E_NOMEM;
	for (size_t at = 0; rc == 0 && current && at < len;) {
		size_t cut = parley_speakable_cut(norm + at, len - at);
		char saved = norm[at + cut];
		int16_t *pcm = NULL, *out = NULL;
		size_t n = 0, nout = 0;
		int rate = 0;
		norm[at + cut] = '\0';
		rc = voice.backend->synth(&voice, speed, norm + at, &pcm, &n, &rate);
		norm[at + cut] = saved;
		if (rc == 0 && !(out = parley_resample_oneshot(pcm, n, rate, st.output_sample_rate,
								&nout)))
			rc = PARLEY_E_NOMEM;
		if (rc == 0) {
			current = queue_audio(s, j->gen, &st, out, nout);
			ms += (int64_t)nout * 1000 / st.output_sample_rate;
		}
		free(pcm);
		free(out);
		at += cut;
		if (at < len && norm[at] == ' ')
			at++;
	}
	if (rc != 0)
		PARLEY_WARN("session %llu: speech synthesis failed for voice %s: %s",
			    (unsigned long long)s->id, name, parley_strerror(rc));

	pthread_mutex_lock(&s->lock); /* the text counts as said even without audio */
	if (j->gen == s->turn_gen && !parley_session_is_closing(s))
		spoken_locked(s, j, ms);
	pthread_mutex_unlock(&s->lock);
out:
	free(norm);
	free(j->text);
	free(j);
}

static void submit_job(struct parley_session *s, char *text, bool final, bool interrupted)
{
	struct tts_job *j = malloc(sizeof *j);
	if (!j) {
		free(text);
		return;
	}
	*j = (struct tts_job){ s, s->turn_gen, text, final, interrupted };
	if (parley_workers_submit(s->workers, &s->tts_strand, tts_job_run, j) != 0) {
		free(text);
		free(j);
	}
}

void parley_speak_feed_locked(struct parley_session *s, const char *text, size_t len)
{
	if (!s->speech)
		return;
	if (parley_sentences_feed(&s->splitter, text, len) != 0)
		return;
	char *piece;
	while ((piece = parley_sentences_next(&s->splitter)))
		submit_job(s, piece, false, false);
}

void parley_speak_flush_locked(struct parley_session *s)
{
	if (!s->speech)
		return;
	char *piece = parley_sentences_flush(&s->splitter);
	if (piece)
		submit_job(s, piece, false, false);
}

void parley_speak_final_locked(struct parley_session *s, const char *text, size_t len,
			       bool interrupted)
{
	if (!s->speech) {
		s->events->answer_final(s, text, len, interrupted);
		return;
	}
	char *copy = strndup(text, len);
	if (copy)
		submit_job(s, copy, true, interrupted);
}

void parley_speak_reset_locked(struct parley_session *s)
{
	parley_sentences_reset(&s->splitter);
	for (size_t i = 0; i < s->nspoken; i++)
		free(s->spoken[i].text);
	s->nspoken = 0;
	s->audio_sent_ms = 0;
	parley_buf_reset(&s->said);
}

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

char *parley_speak_heard_locked(struct parley_session *s, int64_t now_ns)
{
	int64_t heard_ms;
	if (s->played_ms >= 0)
		heard_ms = s->played_ms;
	else if (s->playback_start_ns)
		heard_ms = (now_ns - s->playback_start_ns) / 1000000;
	else
		heard_ms = 0;
	if (heard_ms > s->audio_sent_ms)
		heard_ms = s->audio_sent_ms;

	size_t cap = 1;
	for (size_t i = 0; i < s->nspoken; i++)
		cap += strlen(s->spoken[i].text) + 1;
	char *out = calloc(1, cap);
	if (!out)
		return NULL;
	int64_t acc = 0;
	for (size_t i = 0; i < s->nspoken && acc < heard_ms; i++) {
		const struct parley_spoken *p = &s->spoken[i];
		size_t words = word_count(p->text);
		if (acc + p->ms <= heard_ms)
			append_words(out, cap, p->text, words);
		else if (p->ms > 0)
			append_words(out, cap, p->text,
				     (size_t)((double)words * (double)(heard_ms - acc) / (double)p->ms));
		acc += p->ms;
	}
	return out;
}
