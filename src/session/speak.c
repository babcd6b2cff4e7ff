/*
 * speak.c - the assistant's answer as speech: answer text is cut into
 * pieces (quick first chunk, then sentences) and queued on the session's
 * speaker; the speaker synthesises them one at a time, in order, through
 * the TTS engine of the session's voice (tts/tts.h: asynchronous,
 * cancellable jobs; embedded engines on the worker pool, remote ones on
 * the HTTP pool). Each audio chunk from the engine is resampled from its
 * own rate (24 kHz from a speech service, the engine's rate for embedded
 * ones) to the session's output rate with a streaming resampler and queued
 * in chunks of 100 ms. Pieces sent are remembered with their duration so a
 * barge-in can tell what the user actually heard.
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
 *
 * The speaker's queue holds pieces, the final answer and errors (an LLM
 * failure reported after the cut answer), in order: partial_assistant_answer
 * follows each piece's audio with the text spoken so far, and
 * final_assistant_answer comes after the answer's last audio.
 *
 * Every piece goes through the speech normaliser (text/speakable.h) and is
 * synthesised in sub-pieces of bounded length (one job each); partial/final
 * answers and the history keep the original text (what the user reads),
 * only the engines see the normalised form.
 *
 * The pump: a job on the session's TTS strand (so never two at once) pops
 * items and starts the next synthesis, and cancels the running one when its
 * answer was superseded (barge-in, a new turn, the session closing). It is
 * kicked when an item is queued, when the answer is superseded and when a
 * synthesis ends. Engine calls are never made with the session lock held.
 *
 * Cancellation: each job carries the answer's generation (`turn_gen`);
 * audio is queued under the session lock after a generation check, so
 * nothing of an interrupted answer can follow stop_tts, even from a job
 * whose cancellation has not reached its engine yet. A synthesis that
 * fails gives the session one `error` per answer; the rest of that answer
 * is text only, and its text still completes.
 *
 * Lifetime: each synthesis (struct say) holds a session reference until its
 * end callback, which may come after the session closed. Its job handle is
 * released exactly once, by whichever of the end callback and the pump
 * (start() returning, cancel()) is last to be done with it (`uses`).
 */
#include <stdio.h>
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
/* Bytes of a remote engine's audio waiting in a session's inbox: over 40 s
 * at 24 kHz, so a whole piece (PARLEY_SPEAKABLE_PIECE_MAX bytes of text)
 * read slowly fits even if the service sends it all before the strand runs. */
#define INBOX_MAX ((size_t)2 * 1024 * 1024)

enum item_kind { ITEM_PIECE, ITEM_FINAL, ITEM_ERROR };

struct item {
	struct item *next;
	enum item_kind kind;
	uint64_t gen;                 /* PIECE, FINAL: the answer it belongs to */
	enum parley_answer_outcome how; /* FINAL */
	enum parley_session_problem code; /* ERROR */
	char *norm;                   /* PIECE: normal form, made by the pump */
	size_t len, at;               /* PIECE: its length, and how far it was started */
	char text[];                  /* PIECE, FINAL: the text; ERROR: the message */
};

struct say;

/* A remote engine's callback on its way to the TTS strand (see the top). */
struct note {
	struct note *next;
	struct say *y;
	bool end;                       /* the end, else audio */
	enum parley_speech_end how;     /* end */
	enum parley_speech_cause cause; /* end */
	bool has_message;               /* end: message is set */
	char message[128];              /* end: the engine's message (<= 120 bytes) */
	int rate;                       /* audio: pcm[0..n) at rate Hz */
	size_t n, bytes;
	int16_t *pcm;                   /* audio: allocated with the note */
};

/* One synthesis job: one sub-piece of a piece. */
struct say {
	struct parley_session *s;   /* a reference, dropped at end */
	uint64_t gen;
	struct parley_tts_voice voice;
	int out_rate;
	struct parley_tts_job *job; /* guarded by s->lock: NULL until start() returned */
	int uses;                   /* guarded by s->lock: the pump is inside start/cancel */
	bool ended, released;       /* guarded by s->lock */
	bool remote;                /* the sink goes through the inbox */
	bool overrun;               /* guarded by s->lock: the inbox was full, the rest is dropped */
	struct note fin;            /* a remote engine's end, posted in the inbox */
	/* the thread that takes the audio (the embedded engine's worker, or the
	 * TTS strand draining the inbox), one callback at a time */
	struct parley_resampler *rs;
	int in_rate;
	int16_t *buf;               /* output-rate samples not yet queued (< one chunk) */
	size_t nbuf, cap;
	bool stale;                 /* the answer was superseded: drop the rest */
};

/* A session's speaking state; every field guarded by s->lock. */
struct parley_speaker {
	struct item *head, *tail;
	struct say *running;  /* the current answer's synthesis, or NULL */
	bool pump_queued;
	int64_t piece_ms;     /* audio queued for the piece at the head */
	bool failed;          /* synthesis failed in answer failed_gen: */
	uint64_t failed_gen;  /* the rest of it is text only */
	struct note *in_head, *in_tail; /* the inbox, oldest first */
	size_t in_bytes;      /* audio bytes in the inbox */
	bool drain_queued;    /* a drain job owns the inbox until it finds it empty */
};

static void pump(void *arg, bool cancelled);

struct parley_speaker *parley_speak_create(void)
{
	return calloc(1, sizeof(struct parley_speaker));
}

/* Caller holds s->lock. A closed session's pump is kicked only by
 * parley_speak_stop() (at shutdown the workers may be gone before a speech
 * service's last callbacks). */
static void kick_locked(struct parley_session *s, bool even_closing)
{
	struct parley_speaker *sp = s->speaker;
	if (sp->pump_queued || (!even_closing && parley_session_is_closing(s)))
		return;
	sp->pump_queued = true;
	if (parley_workers_submit(s->workers, &s->tts_strand, pump, s) != 0)
		sp->pump_queued = false; /* closing: nothing more to say */
}

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
	/* A kept speculation's first token came before the final transcript:
	 * the histograms count it as there at the final (0 ms to wait), and
	 * synthesis from then; the log line shows the real (negative) time. */
	int64_t token = t->first_token && t->first_token < t->final ? t->final : t->first_token;
	parley_stage_observe(PARLEY_STAGE_TRANSCRIPT, t->speech_end, t->final);
	parley_stage_observe(PARLEY_STAGE_FIRST_TOKEN, t->final, token);
	parley_stage_observe(PARLEY_STAGE_FIRST_AUDIO, token, t->first_audio);
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

/* Caller holds s->lock: queues n output-rate samples of y's answer as
 * chunks if the answer is still current; false when it was superseded. */
static bool queue_locked(struct parley_session *s, struct say *y, const int16_t *pcm, size_t n)
{
	if (y->gen != s->turn_gen || parley_session_is_closing(s))
		return false;
	if (!n)
		return true;
	size_t chunk = (size_t)y->out_rate * CHUNK_MS / 1000;
	for (size_t off = 0; off < n; off += chunk)
		s->events->audio(s, pcm + off, n - off < chunk ? n - off : chunk);
	int64_t ms = (int64_t)n * 1000 / y->out_rate;
	s->audio_sent_ms += ms;
	parley_answer_audio_sent_locked(s, ms);
	s->speaker->piece_ms += ms;
	if (!s->playback_start_ns)
		s->playback_start_ns = parley_now_ns();
	if (!s->times.first_audio) {
		s->times.first_audio = parley_now_ns();
		log_first_audio(s);
	}
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
static bool release_due_locked(struct say *y)
{
	if (!y->ended || !y->job || y->uses || y->released)
		return false;
	y->released = true;
	return true;
}

static void say_free(struct say *y)
{
	parley_tts_release(&y->voice, y->job);
	parley_resampler_destroy(y->rs);
	free(y->buf);
	free(y);
}

static enum parley_session_problem tts_code(enum parley_speech_cause cause)
{
	switch (cause) {
	case PARLEY_SPEECH_CAUSE_BUSY: return PARLEY_SESSION_TTS_BUSY;
	case PARLEY_SPEECH_CAUSE_UNAVAILABLE: return PARLEY_SESSION_TTS_UNAVAILABLE;
	case PARLEY_SPEECH_CAUSE_TIMEOUT: return PARLEY_SESSION_TTS_TIMEOUT;
	default: return PARLEY_SESSION_TTS_ERROR;
	}
}

/* Caller holds s->lock: synthesis failed in answer gen; true if the
 * client should be told (once per answer). */
static bool note_failure_locked(struct parley_speaker *sp, uint64_t gen)
{
	bool first = !(sp->failed && sp->failed_gen == gen);
	sp->failed = true;
	sp->failed_gen = gen;
	return first;
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
	struct parley_speaker *sp = s->speaker;
	y->ended = true;
	bool current = y->gen == s->turn_gen && !parley_session_is_closing(s);
	bool report = end == PARLEY_SPEECH_ERROR && current &&
		      cause != PARLEY_SPEECH_CAUSE_REFUSED && note_failure_locked(sp, y->gen);
	if (sp->running == y) {
		sp->running = NULL;
		kick_locked(s, false);
	}
	bool rel = release_due_locked(y);
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
		parley_session_error(s, tts_code(cause), "%s",
				     message ? msg : "speech synthesis failed");
	if (rel)
		say_free(y);
	parley_session_unref(s);
}

/* The strand: takes the inbox's notes in order. Also run directly by a
 * sink whose drain job the strand refused (the session is closing), with
 * a session reference of its own. */
static void drain(void *arg, bool cancelled)
{
	struct parley_session *s = arg;
	pthread_mutex_lock(&s->lock);
	struct parley_speaker *sp = s->speaker;
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
	struct parley_speaker *sp = s->speaker;
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
	return parley_workers_submit(s->workers, &s->tts_strand, drain, s) != 0;
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
	struct parley_speaker *sp = s->speaker;
	if (!nt || y->overrun || y->gen != s->turn_gen || parley_session_is_closing(s)) {
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

/* Caller holds s->lock. Starts the synthesis of it's next sub-piece
 * (unlocking around the engine call). Returns true when a job runs, false
 * when nothing of the piece is left to synthesise. */
static bool start_next_locked(struct parley_session *s, struct item *it)
{
	struct parley_speaker *sp = s->speaker;
	for (;;) {
		if (it->gen != s->turn_gen || (sp->failed && sp->failed_gen == it->gen))
			return false;
		if (!it->norm && !(it->norm = parley_speakable(it->text, strlen(it->text), &it->len)))
			return false; /* out of memory: text only */
		if (it->at >= it->len)
			return false;
		const char *name = strcmp(s->settings.voice, "default") == 0
					   ? s->speech->default_voice
					   : s->settings.voice;
		struct parley_tts_voice voice;
		if (parley_tts_voice_lookup(name, &voice) != 0)
			return false;
		struct say *y = calloc(1, sizeof *y);
		if (!y)
			return false;
		y->s = s;
		y->gen = it->gen;
		y->voice = voice;
		y->remote = voice.backend->remote;
		y->out_rate = s->settings.output_sample_rate;
		y->uses = 1;
		double speed = s->settings.tts_rate * s->speech->default_rate;
		parley_session_ref(s);
		sp->running = y;
		size_t cut = parley_speakable_cut(it->norm + it->at, it->len - it->at);
		char *sub = it->norm + it->at;
		char saved = sub[cut];
		pthread_mutex_unlock(&s->lock);

		/* The item is the pump's own while it is at the head. */
		sub[cut] = '\0';
		struct parley_tts_sink sink = { on_audio, on_end, y };
		int err = 0;
		struct parley_tts_job *job = parley_tts_start(&y->voice, speed, sub, &sink, &err);
		sub[cut] = saved;

		pthread_mutex_lock(&s->lock);
		it->at += cut;
		if (it->at < it->len && it->norm[it->at] == ' ')
			it->at++;
		if (!job) {
			if (sp->running == y)
				sp->running = NULL;
			free(y);
			parley_session_unref(s); /* not the last: the strand holds one */
			if (err == PARLEY_E_RANGE || err == PARLEY_E_INVAL) {
				PARLEY_WARN("session %llu: voice %s refused a piece of text: %s",
					    (unsigned long long)s->id, voice.name, parley_strerror(err));
				continue;
			}
			bool report = note_failure_locked(sp, it->gen);
			pthread_mutex_unlock(&s->lock);
			PARLEY_WARN("session %llu: cannot start speech synthesis (voice %s): %s",
				    (unsigned long long)s->id, voice.name, parley_strerror(err));
			if (report)
				parley_session_error(
					s,
					err == PARLEY_E_FULL ? PARLEY_SESSION_TTS_BUSY
					: err == PARLEY_E_CLOSED ? PARLEY_SESSION_TTS_UNAVAILABLE
								 : PARLEY_SESSION_TTS_ERROR,
					"%s",
					err == PARLEY_E_FULL
						? "the speech synthesiser is busy; this answer is text only"
					: err == PARLEY_E_CLOSED
						? "the speech synthesiser is not available; this answer is "
						  "text only"
						: "speech synthesis failed; this answer is text only");
			pthread_mutex_lock(&s->lock);
			continue;
		}
		y->job = job;
		y->uses--;
		if (release_due_locked(y)) { /* it ended before start() returned */
			pthread_mutex_unlock(&s->lock);
			say_free(y);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		return true;
	}
}

static void item_free(struct item *it)
{
	if (it) {
		free(it->norm);
		free(it);
	}
}

static struct item *pop_locked(struct parley_speaker *sp)
{
	struct item *it = sp->head;
	sp->head = it->next;
	if (!sp->head)
		sp->tail = NULL;
	return it;
}

/* Caller holds s->lock, it is the head piece and its synthesis is over. */
static void piece_done_locked(struct parley_session *s, struct item *it)
{
	struct parley_speaker *sp = s->speaker;
	if (it->gen == s->turn_gen && !parley_session_is_closing(s)) {
		/* the text counts as said even without audio */
		said_locked(s, it->text);
		if (s->nspoken == s->spoken_cap) {
			size_t cap = s->spoken_cap ? s->spoken_cap * 2 : 16;
			struct parley_spoken *p = realloc(s->spoken, cap * sizeof *p);
			if (p) {
				s->spoken = p;
				s->spoken_cap = cap;
			}
		}
		char *copy = s->nspoken < s->spoken_cap ? strdup(it->text) : NULL;
		if (copy) /* kept for barge-in accounting */
			s->spoken[s->nspoken++] = (struct parley_spoken){ copy, sp->piece_ms };
	}
	sp->piece_ms = 0;
}

/* The speaker's pump (TTS strand; see the top of the file). */
static void pump(void *arg, bool cancelled)
{
	struct parley_session *s = arg;
	pthread_mutex_lock(&s->lock);
	struct parley_speaker *sp = s->speaker;
	sp->pump_queued = false;
	for (;;) {
		bool stop = cancelled || parley_session_is_closing(s);
		struct say *y = sp->running;
		if (y && (stop || y->gen != s->turn_gen)) {
			/* a superseded answer: cancel its synthesis */
			sp->running = NULL;
			y->uses++;
			struct parley_tts_job *job = y->job;
			pthread_mutex_unlock(&s->lock);
			parley_tts_cancel(&y->voice, job);
			pthread_mutex_lock(&s->lock);
			y->uses--;
			if (release_due_locked(y)) {
				pthread_mutex_unlock(&s->lock);
				say_free(y);
				pthread_mutex_lock(&s->lock);
			}
			continue;
		}
		if (stop) {
			while (sp->head)
				item_free(pop_locked(sp));
			sp->piece_ms = 0;
			break;
		}
		struct item *it = sp->head;
		if (sp->running || !it)
			break;
		if (it->kind != ITEM_ERROR && it->gen != s->turn_gen) {
			item_free(pop_locked(sp));
			sp->piece_ms = 0;
			continue;
		}
		if (it->kind == ITEM_FINAL) {
			pop_locked(sp);
			parley_answer_final_locked(s, it->text, strlen(it->text), it->how);
			item_free(it);
		} else if (it->kind == ITEM_ERROR) {
			pop_locked(sp);
			pthread_mutex_unlock(&s->lock);
			parley_session_error(s, it->code, "%s", it->text);
			item_free(it);
			pthread_mutex_lock(&s->lock);
		} else if (!start_next_locked(s, it)) {
			if (sp->head == it) { /* still the head: nothing else pops while we run */
				pop_locked(sp);
				piece_done_locked(s, it);
				item_free(it);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Caller holds s->lock. Queues an item of the current answer (text
 * copied) and kicks the pump; false on OOM. */
static bool add_locked(struct parley_session *s, enum item_kind kind, const char *text,
		       size_t len)
{
	struct item *it = calloc(1, sizeof *it + len + 1);
	if (!it)
		return false;
	it->kind = kind;
	it->gen = s->turn_gen;
	memcpy(it->text, text, len);
	struct parley_speaker *sp = s->speaker;
	if (sp->tail)
		sp->tail->next = it;
	else
		sp->head = it;
	sp->tail = it;
	kick_locked(s, false);
	return true;
}

static void add_piece_locked(struct parley_session *s, char *piece)
{
	add_locked(s, ITEM_PIECE, piece, strlen(piece));
	free(piece);
}

void parley_speak_feed_locked(struct parley_session *s, const char *text, size_t len)
{
	if (!s->answer_spoken)
		return;
	if (parley_sentences_feed(&s->splitter, text, len) != 0)
		return;
	char *piece;
	while ((piece = parley_sentences_next(&s->splitter)))
		add_piece_locked(s, piece);
}

void parley_speak_flush_locked(struct parley_session *s)
{
	if (!s->answer_spoken)
		return;
	char *piece = parley_sentences_flush(&s->splitter);
	if (piece)
		add_piece_locked(s, piece);
}

void parley_speak_final_locked(struct parley_session *s, const char *text, size_t len,
			       enum parley_answer_outcome how)
{
	if (!s->answer_spoken) {
		parley_answer_final_locked(s, text, len, how);
		return;
	}
	if (add_locked(s, ITEM_FINAL, text, len))
		s->speaker->tail->how = how;
	else /* out of memory: the answer still ends */
		parley_answer_final_locked(s, text, len, how);
}

bool parley_speak_error_locked(struct parley_session *s, enum parley_session_problem code,
			       const char *message)
{
	if (!s->answer_spoken || parley_session_is_closing(s))
		return false;
	if (!add_locked(s, ITEM_ERROR, message, strlen(message)))
		return false;
	s->speaker->tail->code = code;
	return s->speaker->pump_queued; /* else the strand refused: report it directly */
}

static void forget_spoken_locked(struct parley_session *s)
{
	parley_sentences_reset(&s->splitter);
	for (size_t i = 0; i < s->nspoken; i++)
		free(s->spoken[i].text);
	s->nspoken = 0;
	s->audio_sent_ms = 0;
	parley_buf_reset(&s->said);
}

void parley_speak_reset_locked(struct parley_session *s)
{
	forget_spoken_locked(s);
	struct parley_speaker *sp = s->speaker;
	if (sp && (sp->running || sp->head))
		kick_locked(s, false); /* cancel the synthesis, drop the old pieces */
}

void parley_speak_stop(struct parley_session *s)
{
	if (!s->speaker)
		return;
	pthread_mutex_lock(&s->lock);
	kick_locked(s, true); /* runs cancelled: cancels the synthesis, drops the rest */
	pthread_mutex_unlock(&s->lock);
}

void parley_speak_destroy(struct parley_session *s)
{
	forget_spoken_locked(s);
	free(s->spoken);
	s->spoken = NULL;
	struct parley_speaker *sp = s->speaker;
	if (!sp)
		return;
	while (sp->head)
		item_free(pop_locked(sp));
	/* every synthesis ended (each held the session), and its end note was
	 * taken; audio notes cannot outlive it */
	for (struct note *nt = sp->in_head, *next; nt; nt = next) {
		next = nt->next;
		if (!nt->end)
			free(nt);
	}
	free(sp);
	s->speaker = NULL;
}
