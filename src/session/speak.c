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
 * What becomes of a synthesis's audio (the engines' sinks, the inbox of
 * a remote engine, resampling and chunks) is speak_audio.c; the state
 * both share is in speak_internal.h.
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
 * Cancellation: each job carries the answer's generation (the answerer's `gen`);
 * audio is queued under the session lock after a generation check, so
 * nothing of an interrupted answer can follow stop_tts, even from a job
 * whose cancellation has not reached its engine yet. A synthesis that
 * fails gives the session one `error` per answer; the rest of that answer
 * is text only, and its text still completes.
 *
 * Lifetime: see speak_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/internal.h"
#include "session/speak_internal.h"
#include "text/speakable.h"
#include "tts/tts.h"
#include "util/err.h"
#include "util/log.h"

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

static void pump(void *arg, bool cancelled);

bool parley_speaker_init(struct parley_speaker *spk, bool speech, size_t max_bytes)
{
	spk->speak_answers = true;
	spk->played_ms = -1;
	atomic_init(&spk->frame_playing, false);
	parley_buf_init(&spk->said, max_bytes);
	parley_sentences_init(&spk->splitter);
	if (speech && !(spk->q = calloc(1, sizeof *spk->q)))
		return false;
	return true;
}

void parley_speaker_begin_locked(struct parley_session *s)
{
	s->spk.answer_spoken = s->speech && s->spk.speak_answers;
	s->spk.play_until_ns = 0;
	parley_tape_reset_locked(s);
}

void parley_session_set_spoken(struct parley_session *s, bool spoken)
{
	pthread_mutex_lock(&s->lock);
	s->spk.speak_answers = spoken; /* from the next answer on (parley_speaker_begin_locked) */
	pthread_mutex_unlock(&s->lock);
}

bool parley_speaker_spoken_locked(const struct parley_session *s)
{
	return s->spk.answer_spoken;
}

/* Caller holds s->lock. The class of the speaker's next job: urgent until
 * the answer's first piece has been spoken (its synthesis, started by the
 * pump, inherits the class: tts/embedded.c), normal after. */
enum parley_job_class parley_speak_class_locked(const struct parley_session *s)
{
	return s->spk.nspoken == 0 ? PARLEY_JOB_URGENT : PARLEY_JOB_NORMAL;
}

/* Caller holds s->lock. A closed session's pump is kicked only by
 * parley_speak_stop() (at shutdown the workers may be gone before a speech
 * service's last callbacks). */
void parley_speak_kick_locked(struct parley_session *s, bool even_closing)
{
	struct parley_speak_queue *sp = s->spk.q;
	if (sp->pump_queued || (!even_closing && parley_session_is_closing(s)))
		return;
	sp->pump_queued = true;
	if (parley_workers_submit(s->workers, &s->tts_strand, parley_speak_class_locked(s), pump,
				  s) != 0)
		sp->pump_queued = false; /* closing: nothing more to say */
}

/* Caller holds s->lock and has checked the generation. */
static void said_locked(struct parley_session *s, const char *text)
{
	if (s->spk.said.len)
		parley_buf_append(&s->spk.said, " ", 1);
	parley_buf_append(&s->spk.said, text, strlen(text));
	s->events->answer_partial(s, parley_buf_str(&s->spk.said), s->spk.said.len);
}

/* Caller holds s->lock: synthesis failed in answer gen; true if the
 * client should be told (once per answer). */
bool parley_speak_note_failure_locked(struct parley_speak_queue *sp, uint64_t gen)
{
	bool first = !(sp->failed && sp->failed_gen == gen);
	sp->failed = true;
	sp->failed_gen = gen;
	return first;
}

/* Caller holds s->lock. Starts the synthesis of it's next sub-piece
 * (unlocking around the engine call). Returns true when a job runs, false
 * when nothing of the piece is left to synthesise. */
static bool start_next_locked(struct parley_session *s, struct item *it)
{
	struct parley_speak_queue *sp = s->spk.q;
	for (;;) {
		if (it->gen != parley_answer_gen_locked(s) || (sp->failed && sp->failed_gen == it->gen))
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
		struct parley_tts_sink sink = parley_speak_sink(y);
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
			bool report = parley_speak_note_failure_locked(sp, it->gen);
			pthread_mutex_unlock(&s->lock);
			PARLEY_WARN("session %llu: cannot start speech synthesis (voice %s): %s",
				    (unsigned long long)s->id, voice.name, parley_strerror(err));
			if (report)
				parley_session_error(
					s,
					parley_problem_of_submit(PARLEY_ENGINE_TTS, err),
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
		if (parley_speak_release_due_locked(y)) { /* it ended before start() returned */
			pthread_mutex_unlock(&s->lock);
			parley_speak_say_free(y);
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

static struct item *pop_locked(struct parley_speak_queue *sp)
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
	struct parley_speak_queue *sp = s->spk.q;
	if (it->gen == parley_answer_gen_locked(s) && !parley_session_is_closing(s)) {
		/* the text counts as said even without audio */
		said_locked(s, it->text);
		if (s->spk.nspoken == s->spk.spoken_cap) {
			size_t cap = s->spk.spoken_cap ? s->spk.spoken_cap * 2 : 16;
			struct parley_spoken *p = realloc(s->spk.spoken, cap * sizeof *p);
			if (p) {
				s->spk.spoken = p;
				s->spk.spoken_cap = cap;
			}
		}
		char *copy = s->spk.nspoken < s->spk.spoken_cap ? strdup(it->text) : NULL;
		if (copy) /* kept for barge-in accounting */
			s->spk.spoken[s->spk.nspoken++] = (struct parley_spoken){ copy, sp->piece_ms };
	}
	sp->piece_ms = 0;
}

/* The speaker's pump (TTS strand; see the top of the file). */
static void pump(void *arg, bool cancelled)
{
	struct parley_session *s = arg;
	pthread_mutex_lock(&s->lock);
	struct parley_speak_queue *sp = s->spk.q;
	sp->pump_queued = false;
	for (;;) {
		bool stop = cancelled || parley_session_is_closing(s);
		struct say *y = sp->running;
		if (y && (stop || y->gen != parley_answer_gen_locked(s))) {
			/* a superseded answer: cancel its synthesis */
			sp->running = NULL;
			y->uses++;
			struct parley_tts_job *job = y->job;
			pthread_mutex_unlock(&s->lock);
			parley_tts_cancel(&y->voice, job);
			pthread_mutex_lock(&s->lock);
			y->uses--;
			if (parley_speak_release_due_locked(y)) {
				pthread_mutex_unlock(&s->lock);
				parley_speak_say_free(y);
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
		if (sp->running || !it || s->spk.holding) /* holding: until a resume */
			break;
		if (it->kind != ITEM_ERROR && it->gen != parley_answer_gen_locked(s)) {
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
	it->gen = parley_answer_gen_locked(s);
	memcpy(it->text, text, len);
	struct parley_speak_queue *sp = s->spk.q;
	if (sp->tail)
		sp->tail->next = it;
	else
		sp->head = it;
	sp->tail = it;
	parley_speak_kick_locked(s, false);
	return true;
}

static void add_piece_locked(struct parley_session *s, char *piece)
{
	add_locked(s, ITEM_PIECE, piece, strlen(piece));
	free(piece);
}

void parley_speak_feed_locked(struct parley_session *s, const char *text, size_t len)
{
	if (!s->spk.answer_spoken)
		return;
	if (parley_sentences_feed(&s->spk.splitter, text, len) != 0)
		return;
	char *piece;
	while ((piece = parley_sentences_next(&s->spk.splitter)))
		add_piece_locked(s, piece);
}

void parley_speak_flush_locked(struct parley_session *s)
{
	if (!s->spk.answer_spoken)
		return;
	char *piece = parley_sentences_flush(&s->spk.splitter);
	if (piece)
		add_piece_locked(s, piece);
}

void parley_speak_final_locked(struct parley_session *s, const char *text, size_t len,
			       enum parley_answer_outcome how)
{
	if (!s->spk.answer_spoken) {
		parley_answer_final_locked(s, text, len, how);
		return;
	}
	if (add_locked(s, ITEM_FINAL, text, len))
		s->spk.q->tail->how = how;
	else /* out of memory: the answer still ends */
		parley_answer_final_locked(s, text, len, how);
}

bool parley_speak_error_locked(struct parley_session *s, enum parley_session_problem code,
			       const char *message)
{
	if (!s->spk.answer_spoken || parley_session_is_closing(s))
		return false;
	if (!add_locked(s, ITEM_ERROR, message, strlen(message)))
		return false;
	s->spk.q->tail->code = code;
	return s->spk.q->pump_queued; /* else the strand refused: report it directly */
}

static void forget_spoken_locked(struct parley_session *s)
{
	parley_sentences_reset(&s->spk.splitter);
	for (size_t i = 0; i < s->spk.nspoken; i++)
		free(s->spk.spoken[i].text);
	s->spk.nspoken = 0;
	s->spk.audio_sent_ms = 0;
	parley_buf_reset(&s->spk.said);
}

void parley_speak_reset_locked(struct parley_session *s)
{
	forget_spoken_locked(s);
	parley_tape_reset_locked(s);
	s->spk.played_ms = -1;
	s->spk.playback_start_ns = 0;
	s->spk.play_until_ns = 0;
	s->spk.tts_playing = false;
	struct parley_speak_queue *sp = s->spk.q;
	if (sp && (sp->running || sp->head))
		parley_speak_kick_locked(s, false); /* cancel the synthesis, drop the old pieces */
}

void parley_speak_stop(struct parley_session *s)
{
	if (!s->spk.q)
		return;
	pthread_mutex_lock(&s->lock);
	/* runs cancelled: cancels the synthesis, drops the rest */
	parley_speak_kick_locked(s, true);
	pthread_mutex_unlock(&s->lock);
}

void parley_speaker_destroy(struct parley_session *s)
{
	forget_spoken_locked(s);
	parley_tape_reset_locked(s);
	free(s->spk.spoken);
	s->spk.spoken = NULL;
	parley_spoken_kept_free(s);
	parley_sentences_destroy(&s->spk.splitter);
	parley_buf_free(&s->spk.said);
	struct parley_speak_queue *sp = s->spk.q;
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
	s->spk.q = NULL;
}
