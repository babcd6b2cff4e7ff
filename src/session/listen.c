/*
 * listen.c - a session's ears: microphone audio -> 16 kHz -> voice activity
 * detection -> speech-to-text -> turns, and barge-in.
 *
 * Runs as jobs on the session's strand (one at a time, on a worker thread),
 * so its state (listen_internal.h) needs no lock. The local VAD and turn-taking are in
 * charge: at speech onset the listener starts a job on the shared STT
 * engine (stt/stt.h; the audio just before onset is kept in a short
 * pre-roll and fed first, so the first syllable is not lost), feeds it
 * while the user speaks and finishes it when the turn ends. An embedded
 * engine decodes inside feed() on this strand; a remote one posts the
 * utterance when it is finished.
 *
 * The results come back through listen_results.c, the client's cuts and
 * MANUAL turns are applied by listen_cuts.c (listen_internal.h).
 *
 * Feeding the decoder: decoding costs least in long runs (a decoder's
 * model is large, and waking it every 20 ms runs it from cold caches: twice
 * the CPU of decoding the same audio in one go), so the utterance's audio
 * is collected and fed in pieces of up to FEED_MS while the user speaks
 * (1 s: half the listening CPU of 20 ms frames, a third less than 300 ms
 * pieces, on the librivox clips streamed in real time). The
 * moment a pause starts (PAUSE_FLUSH_MS: two frames, so a dip between two
 * words does not count), what is collected is fed at once, so the partial
 * transcript (the end-of-turn rule's and the speculation's input) is
 * current within two frames of the trailing silence. The first TAIL_MS of
 * every pause are fed too (the decoder needs a little silence to close the
 * last word; more changes nothing on the librivox clips), the rest of a
 * pause is not decoded. The embedded engine reports a partial after each
 * piece, so partials follow new speech and nothing else.
 *
 * Fairness: a job handles at most SLICE_MS of input audio, then, if more is
 * buffered, queues its continuation and yields its worker (the strand goes
 * behind every other ready strand), so a session with a large backlog (a
 * burst, a client ahead of real time) takes its turn like the others
 * instead of holding a worker until its buffer is empty. A slice costs
 * well under 1 ms while nothing is decoded (silence, collecting speech)
 * and up to ~150 ms when it feeds a piece of a second; such a strand then
 * waits behind the quick ones (util/workers.h).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "audio/vad.h"
#include "session/internal.h"
#include "session/listen_internal.h"
#include "session/manual.h"
#include "stt/stt.h"
#include "text/eot_lm.h"
#include "text/eot_model.h"
#include "text/turn_rules.h"
#include "util/err.h"
#include "util/log.h"

#define TAIL_MS 100                            /* silence fed after speech, per pause */
#define PAUSE_FLUSH_MS 40                      /* a pause this long: feed what was collected */
#define BARGE_IN_VOICED_FRAMES PARLEY_VAD_START_VOICED /* speech onset over assistant audio */
#define OVERLOAD_LAG_MS 2000                   /* audio waiting this long means we lag */
#define OVERLOAD_BACKLOG_MS 3000               /* lagging this far behind: skip (last resort) */
#define SLICE_MS 100                           /* input audio per job, then yield */
#define TAKE 4096

struct parley_listen *parley_listen_create(void)
{
	struct parley_listen *l = calloc(1, sizeof *l);
	if (l)
		parley_vad_init(&l->vad);
	return l;
}

void parley_listen_set_open(struct parley_session *s, bool open)
{
	pthread_mutex_lock(&s->in.lock);
	s->in.utterance_open = open;
	pthread_mutex_unlock(&s->in.lock);
}

void parley_listen_destroy(struct parley_listen *l, struct parley_session *s)
{
	if (!l)
		return;
	parley_listen_abandon(l, s); /* nothing is left by now: each utterance holds the session */
	parley_manual_free(&l->manual);
	parley_resampler_destroy(l->rs);
	free(l->preroll);
	free(l->fed);
	free(l);
}

/* The pre-roll holds at least `frames` frames (the turns' prefix): it is
 * allocated when the first audio is heard (an idle session has none) and
 * grows, the frames it holds kept oldest first, when the session asks for
 * a longer prefix; it never shrinks (an onset keeps only the prefix's
 * last frames anyway). Out of memory, it stays as it is, and an onset
 * keeps what it holds. */
static void preroll_fit(struct parley_listen *l, size_t frames)
{
	if (frames <= l->pre_cap)
		return;
	int16_t *ring = malloc(frames * PARLEY_VAD_FRAME * sizeof *ring);
	if (!ring)
		return;
	for (size_t i = 0; i < l->pre_len; i++)
		memcpy(ring + i * PARLEY_VAD_FRAME,
		       l->preroll + (l->pre_head + i) % l->pre_cap * PARLEY_VAD_FRAME,
		       PARLEY_VAD_FRAME * sizeof *ring);
	free(l->preroll);
	l->preroll = ring;
	l->pre_cap = frames;
	l->pre_head = 0;
}

static void preroll_push(struct parley_listen *l, const int16_t *frame)
{
	if (!l->pre_cap) /* a prefix of 0 ms, or no memory */
		return;
	size_t at = (l->pre_head + l->pre_len) % l->pre_cap;
	memcpy(l->preroll + at * PARLEY_VAD_FRAME, frame, PARLEY_VAD_FRAME * sizeof *frame);
	if (l->pre_len < l->pre_cap)
		l->pre_len++;
	else
		l->pre_head = (l->pre_head + 1) % l->pre_cap;
}

void parley_listen_overloaded(struct parley_listen *l, struct parley_session *s, const char *why)
{
	if (l->overloaded)
		return;
	l->overloaded = true;
	PARLEY_WARN("session %llu: overloaded: %s", (unsigned long long)s->id, why);
	parley_session_error(s, PARLEY_SESSION_OVERLOADED, "%s", why);
}

/* The utterance goes from `cur` to the pending list. */
static void stop_feeding(struct parley_listen *l, struct parley_session *s)
{
	struct utt *u = l->cur;
	l->cur = NULL;
	u->next = l->pending;
	l->pending = u;
	parley_inbox_utts_waiting(s, 1);
	atomic_store(&u->finished, true);
	u->committed = true;
	if (u->speech_event) { /* the VAD's end of the turn: a cut */
		parley_inbox_vad_cut(s);
		s->events->speech_stopped(s, (int64_t)l->clock_ms);
	}
	parley_listen_set_open(s, false);
	parley_vad_end(&l->vad);
	l->pre_len = 0;
	l->nfed = 0;
}

/* Feeds the current utterance; if its job takes no more audio (it ended
 * with an error, or failed), the listener stops feeding it and finishes it
 * (nothing when it already ended): its result reports why. */
static void feed(struct parley_listen *l, struct parley_session *s, const int16_t *pcm,
		 size_t n)
{
	struct utt *u = l->cur;
	if (n && s->speech->stt_backend->feed(u->job, pcm, n) != 0) {
		stop_feeding(l, s);
		s->speech->stt_backend->finish(u->job);
	}
}

/* What was collected goes to the decoder. */
void parley_listen_flush(struct parley_listen *l, struct parley_session *s)
{
	size_t n = l->nfed;
	l->nfed = 0;
	if (n) {
		l->pieces++;
		l->fed_ms += (int)(n * 1000 / PARLEY_VAD_RATE);
	}
	feed(l, s, l->fed, n);
}

/* One frame of the current utterance (see "Feeding the decoder" above). */
static void collect(struct parley_listen *l, struct parley_session *s, const int16_t *pcm)
{
	int silence = l->vad.silence_ms;
	if (silence > TAIL_MS)
		return; /* deep in a pause: not decoded */
	memcpy(l->fed + l->nfed, pcm, PARLEY_VAD_FRAME * sizeof *pcm);
	l->nfed += PARLEY_VAD_FRAME;
	if (silence == PAUSE_FLUSH_MS || silence == TAIL_MS ||
	    l->nfed + PARLEY_VAD_FRAME > FEED_CAP)
		parley_listen_flush(l, s);
}

/* An utterance begins (its STT job starts) with the last `prefix` frames
 * of the pre-roll (the current one included), which feed_preroll() feeds;
 * vad: the VAD opened it (speech_started). */
void parley_listen_begin(struct parley_listen *l, struct parley_session *s, size_t prefix,
			 bool vad)
{
	const struct parley_stt_backend *b = s->speech->stt_backend;
	if (!l->fed)
		l->fed = malloc(FEED_CAP * sizeof *l->fed); /* kept: this user speaks */
	struct utt *u = l->fed ? calloc(1, sizeof *u) : NULL;
	if (!u) {
		parley_vad_end(&l->vad);
		return;
	}
	atomic_init(&u->refs, 2); /* the listener's and the engine's */
	atomic_init(&u->finished, false);
	pthread_mutex_init(&u->lock, NULL);
	u->s = s;
	u->seq = l->seq + 1;
	parley_session_ref(s);
	struct parley_stt_sink sink = parley_listen_sink(u);
	int err = 0;
	u->job = b->start(s->speech->stt, &sink, &err);
	if (!u->job) {
		atomic_store(&u->refs, 1);
		parley_listen_utt_unref(u);
		parley_vad_end(&l->vad);
		if (err == PARLEY_E_FULL && !s->speech->stt_remote)
			parley_listen_overloaded(l, s, "every speech decoder is busy; this utterance "
						       "was not transcribed");
		else if (!l->overloaded) {
			l->overloaded = true; /* one error per episode, as for overload */
			PARLEY_WARN("session %llu: cannot start speech recognition: %s",
				    (unsigned long long)s->id, parley_strerror(err));
			parley_session_error(
				s,
				parley_problem_of_submit(PARLEY_ENGINE_STT, err),
				"%s",
				err == PARLEY_E_FULL ? "the speech recogniser is busy; this utterance "
						       "was not transcribed"
				: err == PARLEY_E_CLOSED
					? "the speech recogniser is not available; this utterance "
					  "was not transcribed"
					: "speech recognition failed to start");
		}
		return;
	}
	l->seq = u->seq;
	u->listed = true;
	l->cur = u;
	l->overloaded = false;
	l->partial[0] = '\0';
	l->partial_at_ms = 0;
	l->eot_stale = true;
	l->speculated = false;
	l->onset_ns = parley_now_ns() - (int64_t)PARLEY_VAD_START_WINDOW * PARLEY_VAD_FRAME_MS * 1000000;
	l->utt_ms = 0;
	l->pieces = l->fed_ms = 0;
	l->barged = false;
	parley_listen_set_open(s, true);
	PARLEY_DEBUG("session %llu: speech started", (unsigned long long)s->id);
	if (prefix > l->pre_len)
		prefix = l->pre_len;
	/* the pre-roll's oldest frames that are not kept go */
	if (l->pre_len)
		l->pre_head = (l->pre_head + l->pre_len - prefix) % l->pre_cap;
	l->pre_len = prefix;
	u->start_ms = (int64_t)l->clock_ms - (int64_t)prefix * PARLEY_VAD_FRAME_MS;
	if (u->start_ms < 0)
		u->start_ms = 0;
	u->speech_event = vad;
	if (vad)
		s->events->speech_started(s, u->start_ms);
}

/* The kept pre-roll goes to the new utterance's decoder, oldest first (it
 * ends with the current frame). */
static void feed_preroll(struct parley_listen *l, struct parley_session *s)
{
	for (size_t i = 0; i < l->pre_len; i++)
		memcpy(l->fed + i * PARLEY_VAD_FRAME,
		       l->preroll + (l->pre_head + i) % l->pre_cap * PARLEY_VAD_FRAME,
		       PARLEY_VAD_FRAME * sizeof *l->fed);
	l->nfed = l->pre_len * PARLEY_VAD_FRAME;
	l->pre_len = 0;
	parley_listen_flush(l, s);
}

/* The turn ends. speech_end: when the user stopped (0: the last loud
 * frame). The transcript follows through the job's end. */
void parley_listen_end(struct parley_listen *l, struct parley_session *s, int64_t speech_end)
{
	struct utt *u = l->cur;
	if (!speech_end)
		speech_end = parley_now_ns() - (int64_t)l->vad.silence_ms * 1000000;
	u->speech_end = speech_end;
	u->voiced = l->vad.voiced_frames;
	parley_listen_flush(l, s);
	PARLEY_DEBUG("session %llu: speech ended: decoded %d ms of %d ms, in %d pieces",
		     (unsigned long long)s->id, l->fed_ms, l->utt_ms, l->pieces);
	if (l->cur != u)
		return; /* the job took no more audio: finished already */
	stop_feeding(l, s);
	s->speech->stt_backend->finish(u->job);
}

/* The latest partial of the current utterance, for the turn rules. */
static void take_partial(struct parley_listen *l)
{
	struct utt *u = l->cur;
	pthread_mutex_lock(&u->lock);
	if (u->partial_new) {
		memcpy(l->partial, u->partial, sizeof l->partial);
		u->partial_new = false;
		l->partial_at_ms = l->utt_ms;
		l->eot_stale = true;
	}
	pthread_mutex_unlock(&u->lock);
}

/* The pause that ends the current utterance: the end-of-turn model
 * (eot_model.h), which scores a partial once, in a pause, when it is new;
 * or with --end-of-turn rules the rules alone (turn_rules.h). While the
 * user speaks nothing is scored (the answer then is the longest pause)
 * unless `now`. */
static int turn_pause_ms(struct parley_listen *l, const struct parley_session *s, double speed,
			 bool now)
{
	int since = l->partial[0] ? l->utt_ms - l->partial_at_ms : -1;
	if (s->speech->eot_rules) {
		struct parley_turn_cues c = { l->partial, since, l->utt_ms };
		return parley_turn_silence_ms(&c, speed);
	}
	if (l->eot_stale) {
		if (!l->vad.silence_ms && !now)
			return PARLEY_TURN_MAX_MS; /* speaking: scored when a pause begins */
		struct parley_eot_features f;
		parley_eot_features_of(l->partial, &f);
		parley_eot_lm_cues(s->speech->eot_lm, l->partial, &f);
		l->eot = parley_eot_decide(&f);
		l->eot_stale = false;
		PARLEY_DEBUG("session %llu: end of turn: \"%s\": %s (p %.2f; lm_end %.2f lm_last "
			     "%.2f words %d number %d name %d)",
			     (unsigned long long)s->id, l->partial,
			     parley_eot_decision_name((enum parley_eot_decision)l->eot),
			     parley_eot_p_finished(&f), f.lm_end, f.lm_last, f.words, f.number,
			     f.name);
	}
	return parley_eot_silence_ms((enum parley_eot_decision)l->eot, since, speed);
}

/* Speculation (internal.h): once per pause, when the trailing silence
 * reaches s->speculate_ms before the turn ends, and again in the same pause
 * if the transcript changes (the newer speculation replaces the older);
 * dropped when the user speaks again. */
static void speculate(struct parley_listen *l, struct parley_session *s, int pause_ms)
{
	int silence = l->vad.silence_ms;
	if (l->speculated && silence == 0) {
		l->speculated = false;
		parley_speculation_cancel(s, "the user went on");
	} else if (s->speculate_ms && l->partial[0] && silence >= s->speculate_ms &&
		   silence < pause_ms &&
		   (!l->speculated || l->partial_at_ms > l->speculated_at_ms)) {
		l->speculated = true;
		l->speculated_at_ms = l->utt_ms;
		l->cur->speculated = true;
		parley_speculation_start(s, l->partial,
					 parley_now_ns() - (int64_t)silence * 1000000);
	}
}

/* Barge-in: speech over the assistant's audio interrupts it, once per
 * utterance, as soon as the VAD calls it speech (PARLEY_VAD_START_VOICED
 * voiced frames among the last PARLEY_VAD_START_WINDOW: noise, hiss and
 * clicks never are), or a partial transcript exists. At the onset it is
 * checked before the utterance begins: parley_listen_begin() decodes the 400 ms pre-roll,
 * tens of milliseconds the user would hear the assistant go on. */
static bool barge_in(struct parley_listen *l, struct parley_session *s, int64_t onset_ns)
{
	if (!l->barged && (l->vad.voiced_frames >= BARGE_IN_VOICED_FRAMES || l->partial[0]) &&
	    parley_turntaker_assistant_playing(s)) {
		l->barged = true;
		parley_turntaker_barge_in(s, onset_ns);
	}
	return l->barged;
}

void parley_listen_frame(struct parley_listen *l, struct parley_session *s, const int16_t *pcm,
			 const struct parley_turns *t, double speed)
{
	l->clock_ms += PARLEY_VAD_FRAME_MS;
	enum parley_vad_event ev = parley_vad_frame(&l->vad, pcm);
	if (t->mode == PARLEY_TURNS_MANUAL) {
		parley_listen_manual_frame(l, s, pcm);
		return;
	}
	if (!l->cur) {
		preroll_push(l, pcm);
		if (ev == PARLEY_VAD_START) {
			l->partial[0] = '\0';
			parley_listen_begin(l, s, (size_t)t->prefix_ms / PARLEY_VAD_FRAME_MS, true);
			/* an answer not heard yet is withdrawn: the turn goes on */
			parley_turntaker_onset(s);
			/* speech_started first, then the barge-in (session.h) */
			l->barged = false;
			bool barged = barge_in(l, s, parley_now_ns() -
							       (int64_t)PARLEY_VAD_START_WINDOW *
								       PARLEY_VAD_FRAME_MS * 1000000);
			if (l->cur)
				feed_preroll(l, s);
			l->barged = barged;
		}
		return;
	}
	collect(l, s, pcm);
	if (!l->cur)
		return;
	l->utt_ms += PARLEY_VAD_FRAME_MS;
	take_partial(l);
	barge_in(l, s, l->onset_ns);
	parley_resume_listen(s, l->partial); /* a suspended answer: a turn, or no words */
	int pause = t->mode == PARLEY_TURNS_FIXED ? t->silence_ms : turn_pause_ms(l, s, speed, false);
	speculate(l, s, pause);
	if (l->vad.silence_ms >= pause || l->utt_ms >= MAX_UTTERANCE_MS)
		parley_listen_end(l, s, 0);
}

/* One 16 kHz frame (in place) through the echo guard, then heard. */
static void guarded_frame(struct parley_listen *l, struct parley_session *s, int16_t *pcm,
			  const struct parley_turns *t, double speed)
{
	parley_echoguard_frame(s->echo, pcm, l->clock_ms);
	parley_listen_frame(l, s, pcm, t, speed);
}

/* n input samples at rate: resampled to 16 kHz and heard frame by frame;
 * false when no resampler can be made. */
static bool hear(struct parley_listen *l, struct parley_session *s, const int16_t *in, size_t n,
		 int rate, int16_t *out, size_t out_cap, const struct parley_turns *turns,
		 double speed)
{
	if (!l->rs || parley_resampler_in_rate(l->rs) != rate) {
		parley_resampler_destroy(l->rs);
		l->rs = parley_resampler_create(rate, PARLEY_VAD_RATE);
		l->ncarry = 0;
		if (!l->rs)
			return false;
	}
	size_t m = parley_resampler_process(l->rs, in, n, out, out_cap);
	size_t i = 0;
	if (l->ncarry) { /* complete the frame begun in the last piece */
		size_t k = PARLEY_VAD_FRAME - l->ncarry;
		if (k > m)
			k = m;
		memcpy(l->carry + l->ncarry, out, k * sizeof *out);
		l->ncarry += k;
		i = k;
		if (l->ncarry == PARLEY_VAD_FRAME) {
			guarded_frame(l, s, l->carry, turns, speed);
			l->ncarry = 0;
		}
	}
	for (; m - i >= PARLEY_VAD_FRAME; i += PARLEY_VAD_FRAME)
		/* whole frames straight from the resampler */
		guarded_frame(l, s, out + i, turns, speed);
	memcpy(l->carry + l->ncarry, out + i, (m - i) * sizeof *out);
	l->ncarry += m - i;
	return true;
}

void parley_listen_job(void *arg, bool cancelled)
{
	struct parley_session *s = arg;
	struct parley_listen *l = s->listen;

	/* The turn settings and the patience first (s->lock), then the inbox. */
	struct parley_turns turns;
	parley_session_get_turns(s, &turns);
	double speed = parley_session_speed(s);

	pthread_mutex_lock(&s->in.lock);
	s->in.job_queued = false;
	if (s->in.rate_pending && !cancelled) {
		/* Inferring the undeclared rate (inrate.h): the audio waits in
		 * the ring until it is known; the conclusion reschedules us. */
		pthread_mutex_unlock(&s->in.lock);
		return;
	}
	int rate = s->in.rate;
	l->clock_ms += s->in.lost_ms; /* audio the client sent that was dropped */
	s->in.lost_ms = 0;
	size_t backlog = parley_ring_len(&s->in.ring);
	/* Lagging is decoding slower than real time while audio waits: the
	 * ring has not been empty for OVERLOAD_LAG_MS, and in that time the
	 * listener took less audio than the time that passed. A burst (a
	 * network stall caught up at once) that is being worked off faster
	 * than real time does not count, however long it takes. Audio is
	 * skipped only as the last resort, when lagging has let
	 * OVERLOAD_BACKLOG_MS pile up: short of that it is decoded late. */
	int64_t since = s->in.waiting_since_ns;
	int64_t waited = since ? parley_now_ns() - since : 0;
	if (waited > (int64_t)OVERLOAD_LAG_MS * 1000000 &&
	    backlog > (size_t)rate * OVERLOAD_BACKLOG_MS / 1000 &&
	    (double)s->in.taken_waiting / rate < (double)waited / 1e9) {
		/* We are behind: keep the newest second, tell the user once. */
		parley_ring_drop(&s->in.ring, backlog - (size_t)rate);
		l->clock_ms += (double)(backlog - (size_t)rate) * 1000 / rate;
		s->in.waiting_since_ns = parley_now_ns();
		s->in.taken_waiting = 0;
		pthread_mutex_unlock(&s->in.lock);
		parley_listen_overloaded(l, s, "the server cannot keep up with your audio; some "
					       "was skipped");
	} else {
		pthread_mutex_unlock(&s->in.lock);
	}
	if (cancelled) {
		parley_listen_abandon(l, s); /* the session is closing */
		return;
	}
	parley_vad_set_threshold(&l->vad, turns.threshold);
	if (turns.mode != PARLEY_TURNS_MANUAL) /* MANUAL keeps no pre-roll */
		preroll_fit(l, (size_t)turns.prefix_ms / PARLEY_VAD_FRAME_MS);
	if (parley_manual_draining(&l->manual) && !parley_session_is_closing(s) &&
	    !parley_listen_drain_manual(l, s)) {
		/* a committed MANUAL utterance is fed first, a piece a job */
		parley_inbox_schedule(s);
		parley_workers_yield(s->workers, &s->strand);
		return;
	}
	if (turns.mode != PARLEY_TURNS_MANUAL && parley_manual_len(&l->manual))
		parley_manual_clear(&l->manual); /* MANUAL no more: no commit comes for it */

	int16_t in[TAKE];
	int16_t out[TAKE * PARLEY_VAD_RATE / 8000 + 64];
	size_t n;
	size_t slice = (size_t)rate * SLICE_MS / 1000; /* input samples this job may take */
	while (slice > 0 && !parley_session_is_closing(s)) {
		bool discard;
		enum parley_cut_kind cut;
		n = parley_inbox_take(s, in, slice < TAKE ? slice : TAKE, &discard, &cut);
		if (!n && cut == PARLEY_CUT_NONE)
			break;
		slice -= n;
		if (discard) /* cleared: not heard */
			l->clock_ms += (double)n * 1000 / rate;
		else if (n) {
			int64_t arrived = parley_inbox_arrival_ns(s); /* the echo guard's mic clock */
			if (!hear(l, s, in, n, rate, out, sizeof out / sizeof out[0], &turns, speed))
				return;
			parley_echoguard_mic_arrival(s->echo, arrived, l->ncarry);
		}
		if (cut == PARLEY_CUT_COMMIT)
			parley_listen_commit_now(l, s, &turns, speed);
		else if (cut == PARLEY_CUT_CLEAR)
			parley_listen_clear_now(l, s);
		if (parley_manual_draining(&l->manual))
			break; /* the audio after the commit waits for its utterance */
	}
	if (parley_session_is_closing(s)) {
		/* do not keep a transcription for a session that is going */
		parley_listen_abandon(l, s);
		return;
	}
	/* In a pause of an utterance the turn may end on the next audio: the
	 * listener's next jobs are urgent (util/workers.h), so the end of the
	 * turn and the partial its rule reads are not queued behind other
	 * sessions' decoding. */
	atomic_store(&s->in.urgent, l->cur && l->vad.silence_ms > 0);
	if (parley_manual_draining(&l->manual)) { /* fed from the next job on */
		parley_inbox_schedule(s);
		parley_workers_yield(s->workers, &s->strand);
		return;
	}
	if (slice == 0) {
		/* Slice used up: if audio is left, continue behind the others. */
		pthread_mutex_lock(&s->in.lock);
		bool left = parley_ring_len(&s->in.ring) > 0 || s->in.ncuts > 0;
		pthread_mutex_unlock(&s->in.lock);
		if (left) {
			parley_inbox_schedule(s);
			parley_workers_yield(s->workers, &s->strand);
			return;
		}
	}
	/* The client stopped sending in the middle of an utterance (mic turned
	 * off, network gone quiet): no audio counts as silence, so the turn
	 * ends and the transcription is finished. Not in MANUAL turns: only
	 * the client's commit ends one. */
	if (l->cur && turns.mode != PARLEY_TURNS_MANUAL) {
		pthread_mutex_lock(&s->in.lock);
		int64_t last = s->in.last_ns;
		pthread_mutex_unlock(&s->in.lock);
		int pause = turns.mode == PARLEY_TURNS_FIXED ? turns.silence_ms
							     : turn_pause_ms(l, s, speed, true);
		if (parley_now_ns() - last >= (int64_t)pause * 1000000)
			parley_listen_end(l, s, last);
	}
}
