/*
 * speak_audio.c - a synthesis's audio on its way to the client: the TTS
 * engine's sink, resampled from the engine's rate to the session's output
 * rate with a streaming resampler, queued in chunks of 100 ms under the
 * generation check (so nothing of an interrupted answer follows
 * stop_tts), then the synthesis's end (one error per answer on failure).
 *
 * Where that work runs: an embedded engine's sink runs on a worker, which
 * does it itself. A remote engine's sink runs on the HTTP pool's single
 * thread, which must stay short (net/http.h): it only copies the samples
 * (and, at the end, the outcome) into the speaker's inbox, in order, and
 * the inbox is drained by a job on the session's TTS strand, which
 * resamples, encodes and queues them. A session's inbox holds at most
 * INBOX_MAX bytes of audio: a speech service far ahead of a starved strand
 * loses the rest of that sentence's audio (logged; its text still counts),
 * it never piles up copies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "session/internal.h"
#include "session/speak_internal.h"
#include "tts/tts.h"
#include "util/log.h"

#define CHUNK_MS 100
/* Bytes of a remote engine's audio waiting in a session's inbox: over 40 s
 * at 24 kHz, so a whole piece (PARLEY_SPEAKABLE_PIECE_MAX bytes of text)
 * read slowly fits even if the service sends it all before the strand runs. */
#define INBOX_MAX ((size_t)2 * 1024 * 1024)

/* Caller holds s->lock: queues n output-rate samples of y's answer as
 * chunks if the answer is still current; false when it was superseded. */
static bool queue_locked(struct parley_session *s, struct say *y, const int16_t *pcm, size_t n)
{
	if (y->gen != parley_answer_gen_locked(s) || parley_session_is_closing(s))
		return false;
	if (!n)
		return true;
	size_t chunk = (size_t)y->out_rate * CHUNK_MS / 1000;
	int64_t ms = (int64_t)n * 1000 / y->out_rate;
	parley_tape_add_locked(s, pcm, n, y->out_rate);
	if (!s->spk.holding) { /* holding: taped only (speak_tape.c) */
		if (s->echo) /* the echo guard's reference, before the client can play it */
			parley_echoguard_reference(s->echo, pcm, n, y->out_rate, parley_now_ns());
		for (size_t off = 0; off < n; off += chunk)
			s->events->audio(s, pcm + off, n - off < chunk ? n - off : chunk);
		parley_speaker_audio_sent_locked(s, ms);
		if (!s->spk.playback_start_ns)
			s->spk.playback_start_ns = parley_now_ns();
	}
	s->spk.audio_sent_ms += ms;
	s->spk.q->piece_ms += ms;
	parley_answer_first_audio_locked(s);
	return true;
}

/* Queues y's buffered audio: whole chunks, or everything (all). */
static void send(struct say *y, bool all)
{
	size_t chunk = (size_t)y->out_rate * CHUNK_MS / 1000;
	size_t k = all ? y->nbuf : y->nbuf / chunk * chunk;
	if (!k || y->stale)
		return;
	struct parley_session *s = y->s;
	pthread_mutex_lock(&s->lock);
	bool ok = queue_locked(s, y, y->buf, k);
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		y->stale = true;
		y->nbuf = 0;
		return;
	}
	memmove(y->buf, y->buf + k, (y->nbuf - k) * sizeof *y->buf);
	y->nbuf -= k;
}

static bool reserve(struct say *y, size_t more)
{
	if (y->nbuf + more <= y->cap)
		return true;
	size_t cap = y->cap ? y->cap : 8192;
	while (cap < y->nbuf + more)
		cap *= 2;
	int16_t *b = realloc(y->buf, cap * sizeof *b);
	if (!b)
		return false;
	y->buf = b;
	y->cap = cap;
	return true;
}

/* What the resampler still holds goes into the buffer. */
static void drain_resampler(struct say *y)
{
	if (!y->rs)
		return;
	size_t got;
	do {
		if (!reserve(y, 4096))
			return;
		got = parley_resampler_flush(y->rs, y->buf + y->nbuf, 4096);
		y->nbuf += got;
	} while (got > 0);
}

/* n samples at rate from the engine: resampled and queued (the embedded
 * engine's worker, or the TTS strand draining the inbox). */
static void take_audio(struct say *y, const int16_t *pcm, size_t n, int rate)
{
	if (y->stale || !n || rate <= 0)
		return;
	if (!y->rs || y->in_rate != rate) {
		drain_resampler(y);
		parley_resampler_destroy(y->rs);
		y->rs = parley_resampler_create_hq(rate, y->out_rate);
		y->in_rate = rate;
		if (!y->rs) {
			y->stale = true;
			return;
		}
	}
	size_t room = (size_t)((double)n * y->out_rate / rate) + 64;
	if (!reserve(y, room)) {
		y->stale = true;
		return;
	}
	y->nbuf += parley_resampler_process(y->rs, pcm, n, y->buf + y->nbuf, room);
	send(y, false);
}

/* Caller holds s->lock: true when y's job handle is to be released now
 * (ended, start() returned, the pump is not using it). */
bool parley_speak_release_due_locked(struct say *y)
{
	if (!y->ended || !y->job || y->uses || y->released)
		return false;
	y->released = true;
	return true;
}

void parley_speak_say_free(struct say *y)
{
	parley_tts_release(&y->voice, y->job);
	parley_resampler_destroy(y->rs);
	free(y->buf);
	free(y);
}

/* The job is over (the embedded engine's worker, or the TTS strand
 * draining the inbox). */
static void take_end(struct say *y, enum parley_speech_end end, enum parley_speech_cause cause,
		     const char *message)
{
	struct parley_session *s = y->s;
	char msg[128]; /* message may live in y (its end note) */
	if (message)
		snprintf(msg, sizeof msg, "%s", message);
	if (end == PARLEY_SPEECH_OK && !y->stale) {
		drain_resampler(y);
		send(y, true);
	}
	pthread_mutex_lock(&s->lock);
	struct parley_speak_queue *sp = s->spk.q;
	y->ended = true;
	bool current = y->gen == parley_answer_gen_locked(s) && !parley_session_is_closing(s);
	bool report = end == PARLEY_SPEECH_ERROR && current &&
		      cause != PARLEY_SPEECH_CAUSE_REFUSED &&
		      parley_speak_note_failure_locked(sp, y->gen);
	if (sp->running == y) {
		sp->running = NULL;
		parley_speak_kick_locked(s, false);
	}
	bool rel = parley_speak_release_due_locked(y);
	/* Unless rel, y is not ours once the lock is dropped: the pump may
	 * free it at once (start() or cancel() returning). */
	char voice[sizeof y->voice.name];
	memcpy(voice, y->voice.name, sizeof voice);
	pthread_mutex_unlock(&s->lock);
	if (end == PARLEY_SPEECH_ERROR)
		PARLEY_WARN("session %llu: speech synthesis failed (%s, voice %s): %s",
			    (unsigned long long)s->id, parley_speech_cause_name(cause), voice,
			    message ? msg : "");
	if (report)
		parley_session_error(s, parley_problem_of_speech(PARLEY_ENGINE_TTS, cause), "%s",
				     message ? msg : "speech synthesis failed");
	if (rel)
		parley_speak_say_free(y);
	parley_session_unref(s);
}

/* The strand: takes the inbox's notes in order. Also run directly by a
 * sink whose drain job the strand refused (the session is closing), with
 * a session reference of its own. */
static void drain(void *arg, bool cancelled)
{
	struct parley_session *s = arg;
	pthread_mutex_lock(&s->lock);
	struct parley_speak_queue *sp = s->spk.q;
	for (;;) {
		struct note *nt = sp->in_head;
		if (!nt) {
			sp->drain_queued = false;
			break;
		}
		sp->in_head = nt->next;
		if (!sp->in_head)
			sp->in_tail = NULL;
		sp->in_bytes -= nt->bytes;
		pthread_mutex_unlock(&s->lock);
		if (nt->end) { /* nt is inside y, which take_end may free */
			take_end(nt->y, nt->how, nt->cause, nt->has_message ? nt->message : NULL);
		} else {
			if (!cancelled)
				take_audio(nt->y, nt->pcm, nt->n, nt->rate);
			free(nt);
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Caller holds s->lock: appends nt to the inbox; true when the caller
 * must run drain() itself (after unlocking): the session is closing, or the
 * strand refused the job. */
static bool post_locked(struct parley_session *s, struct note *nt)
{
	struct parley_speak_queue *sp = s->spk.q;
	nt->next = NULL;
	if (sp->in_tail)
		sp->in_tail->next = nt;
	else
		sp->in_head = nt;
	sp->in_tail = nt;
	sp->in_bytes += nt->bytes;
	if (sp->drain_queued)
		return false;
	sp->drain_queued = true;
	/* A closing session queues no work: at shutdown the HTTP pool's last
	 * ends arrive after the workers are gone. */
	if (parley_session_is_closing(s))
		return true;
	return parley_workers_submit(s->workers, &s->tts_strand, parley_speak_class_locked(s), drain,
				     s) != 0;
}

static void drain_here(struct parley_session *s)
{
	parley_session_ref(s); /* the last note's end may drop the say's reference */
	drain(s, true);
	parley_session_unref(s);
}

/* Sink: n samples at rate (a worker, or the HTTP pool's thread). */
static void on_audio(void *arg, const int16_t *pcm, size_t n, int rate)
{
	struct say *y = arg;
	if (!y->remote) {
		take_audio(y, pcm, n, rate);
		return;
	}
	if (!n || rate <= 0)
		return;
	struct parley_session *s = y->s;
	size_t bytes = n * sizeof *pcm;
	struct note *nt = malloc(sizeof *nt + bytes);
	if (nt) {
		memset(nt, 0, sizeof *nt);
		nt->y = y;
		nt->rate = rate;
		nt->n = n;
		nt->bytes = bytes;
		nt->pcm = (int16_t *)(nt + 1);
		memcpy(nt->pcm, pcm, bytes);
	}
	bool here = false, overrun = false;
	size_t backlog = 0;
	pthread_mutex_lock(&s->lock);
	struct parley_speak_queue *sp = s->spk.q;
	if (!nt || y->overrun || y->gen != parley_answer_gen_locked(s) || parley_session_is_closing(s)) {
		/* nothing to do with it: superseded, or already dropping */
	} else if (sp->in_bytes + bytes > INBOX_MAX) {
		y->overrun = overrun = true;
		backlog = sp->in_bytes;
	} else {
		here = post_locked(s, nt);
		nt = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	free(nt);
	if (overrun)
		PARLEY_WARN("session %llu: %zu bytes of the speech service's audio are still waiting "
			    "for the session's speaker (at most %zu): the rest of this sentence's "
			    "audio is dropped (voice %s)",
			    (unsigned long long)s->id, backlog, INBOX_MAX, y->voice.name);
	if (here)
		drain_here(s);
}

/* Sink: the job is over (a worker, or the HTTP pool's thread). */
static void on_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		   const char *message)
{
	struct say *y = arg;
	if (!y->remote) {
		take_end(y, end, cause, message);
		return;
	}
	/* after every audio note of y, in the note y keeps for it (no allocation) */
	struct parley_session *s = y->s;
	struct note *nt = &y->fin;
	memset(nt, 0, sizeof *nt);
	nt->y = y;
	nt->end = true;
	nt->how = end;
	nt->cause = cause;
	if (message) {
		nt->has_message = true;
		snprintf(nt->message, sizeof nt->message, "%s", message);
	}
	pthread_mutex_lock(&s->lock);
	bool here = post_locked(s, nt);
	pthread_mutex_unlock(&s->lock);
	if (here)
		drain_here(s);
}

struct parley_tts_sink parley_speak_sink(struct say *y)
{
	return (struct parley_tts_sink){ on_audio, on_end, y };
}
