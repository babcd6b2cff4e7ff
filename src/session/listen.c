/*
 * listen.c - a session's ears: microphone audio -> 16 kHz -> voice activity
 * detection -> speech-to-text -> turns, and barge-in.
 *
 * Runs as jobs on the session's strand (one at a time, on a worker thread),
 * so the state below needs no lock. The local VAD and turn-taking are in
 * charge: at speech onset the listener starts a job on the shared STT
 * engine (stt/stt.h; the audio just before onset is kept in a short
 * pre-roll and fed first, so the first syllable is not lost), feeds it
 * while the user speaks and finishes it when the turn ends. An embedded
 * engine decodes inside feed() on this strand; a remote one posts the
 * utterance when it is finished.
 *
 * Results arrive through the job's sink, on any thread (the embedded
 * engine: during feed()/finish() on this strand; a remote one: later, on
 * the HTTP thread): partial transcripts are kept in the utterance (under
 * its own lock) for the turn rules and barge-in, and shown at once; the end
 * (the final transcript or an error) is handed back to this strand as a
 * job, which makes the user turn. Utterances are numbered; a result older
 * than one already delivered was superseded and is ignored. An utterance
 * that fails reports an error and leaves the listener ready for the next.
 *
 * Lifetime: each utterance (struct utt) holds a session reference; the
 * listener keeps it, with its job handle, from onset until its result was
 * handled here (or the session closes: the close queues a listen job that
 * runs cancelled and gives every job back); the engine keeps a reference
 * until end, the result job one while queued.
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
#include "session/manual.h"
#include "stt/stt.h"
#include "text/turn_rules.h"
#include "util/err.h"
#include "util/log.h"

#define PREROLL_FRAMES (PARLEY_TURN_PREFIX_MAX / PARLEY_VAD_FRAME_MS) /* kept before an onset;
							   the turns' prefix_ms is fed */
#define PREROLL (PREROLL_FRAMES * PARLEY_VAD_FRAME)
#define FEED_MS 1000                           /* speech fed to the decoder at once */
#define TAIL_MS 100                            /* silence fed after speech, per pause */
#define PAUSE_FLUSH_MS 40                      /* a pause this long: feed what was collected */
#define FEED_CAP (PREROLL + PARLEY_VAD_RATE * FEED_MS / 1000)
#define MIN_VOICED_FRAMES 10                   /* shorter voicing is not a turn */
#define BARGE_IN_VOICED_FRAMES PARLEY_VAD_START_VOICED /* speech onset over assistant audio */
#define MAX_UTTERANCE_MS 30000
#define OVERLOAD_LAG_MS 2000                   /* audio waiting this long means we lag */
#define OVERLOAD_BACKLOG_MS 3000               /* lagging this far behind: skip (last resort) */
#define SLICE_MS 100                           /* input audio per job, then yield */
#define TAKE 4096
#define HYP_MAX 1024

struct result;

/* One utterance: from speech onset until its result was handled. */
struct utt {
	atomic_int refs;            /* the listener's, the engine's until end, a result job's */
	struct parley_session *s;   /* a reference, dropped with the utterance */
	uint64_t seq;
	atomic_bool finished;       /* no more partials wanted */
	/* the listen strand only */
	struct parley_stt_job *job; /* the listener's reference */
	bool listed;                /* in the listener (cur or pending) */
	struct utt *next;           /* pending list */
	int64_t speech_end;         /* set before finish() */
	int voiced;
	bool speculated;            /* a speculative answer was started on it */
	bool speech_event;          /* speech_started was sent: a VAD turn end sends speech_stopped */
	bool committed;             /* its turn ended: it ends in user_final or user_failed */
	bool by_commit;             /* the client committed it (no voicing rule) */
	int64_t start_ms;           /* input audio clock at its first sample */
	struct result *held;        /* its result, waiting for an older utterance's */
	pthread_mutex_t lock;
	char partial[HYP_MAX];      /* guarded by lock: the latest partial */
	bool partial_new;           /* guarded by lock */
};

/* A result handed to the strand. */
struct result {
	struct utt *u; /* one reference */
	enum parley_speech_end end;
	enum parley_speech_cause cause;
	bool reported;             /* ERROR: the listener reported it already */
	char text[];
};

struct parley_listen {
	struct parley_resampler *rs;
	struct parley_vad vad;
	int16_t carry[PARLEY_VAD_FRAME];
	size_t ncarry;
	int16_t preroll[PREROLL];  /* a ring of frames */
	size_t pre_head, pre_len;  /* in frames */
	int16_t *fed;              /* FEED_CAP samples collected for the decoder, or NULL */
	size_t nfed;
	struct utt *cur;           /* the utterance being fed, or NULL */
	struct utt *pending;       /* finished, waiting for their results */
	uint64_t seq;              /* of the last utterance started */
	uint64_t delivered;        /* of the last result that made (or was) a turn */
	char partial[HYP_MAX];     /* the current utterance's latest partial */
	int partial_at_ms;         /* utt_ms when it last changed */
	int64_t onset_ns;
	int utt_ms;
	bool speculated;           /* a speculative answer started in this pause */
	int speculated_at_ms;      /* utt_ms when it started */
	bool barged;
	bool overloaded;           /* inside an overload episode */
	int pieces, fed_ms;        /* fed to the current utterance (debug log) */
	double clock_ms;           /* input audio heard or skipped since the session began */
	struct parley_manual manual; /* MANUAL: the audio since the last cut (manual.h) */
};

struct parley_listen *parley_listen_create(void)
{
	struct parley_listen *l = calloc(1, sizeof *l);
	if (l)
		parley_vad_init(&l->vad);
	return l;
}

static void set_open(struct parley_session *s, bool open)
{
	pthread_mutex_lock(&s->lock);
	s->utterance_open = open;
	pthread_mutex_unlock(&s->lock);
}

static void utt_unref(struct utt *u)
{
	if (atomic_fetch_sub(&u->refs, 1) != 1)
		return;
	struct parley_session *s = u->s;
	pthread_mutex_destroy(&u->lock);
	free(u);
	parley_session_unref(s);
}

/* Takes u out of the listener and gives its job back (cancelled if it is
 * still running); drops the listener's reference. */
static void unlist(struct parley_listen *l, struct parley_session *s, struct utt *u)
{
	if (!u->listed)
		return;
	u->listed = false;
	if (l->cur == u) {
		l->cur = NULL;
	} else {
		struct utt **p = &l->pending;
		while (*p && *p != u)
			p = &(*p)->next;
		if (*p) {
			*p = u->next;
			parley_session_utts_waiting(s, -1);
		}
	}
	atomic_store(&u->finished, true);
	if (u->job) /* none: commit_nothing()'s */
		s->speech->stt_backend->release(u->job); /* may report end (cancelled) */
	u->job = NULL;
	if (u->held) {
		free(u->held);
		u->held = NULL;
		utt_unref(u); /* the held result's reference */
	}
	utt_unref(u);
}

/* Every utterance goes: the session is closing. */
static void abandon(struct parley_listen *l, struct parley_session *s)
{
	bool open = l->cur != NULL;
	if (l->cur)
		unlist(l, s, l->cur);
	while (l->pending)
		unlist(l, s, l->pending);
	if (open)
		set_open(s, false);
}

void parley_listen_destroy(struct parley_listen *l, struct parley_session *s)
{
	if (!l)
		return;
	abandon(l, s); /* nothing is left by now: each utterance holds the session */
	parley_manual_free(&l->manual);
	parley_resampler_destroy(l->rs);
	free(l->fed);
	free(l);
}

static void preroll_push(struct parley_listen *l, const int16_t *frame)
{
	size_t at = (l->pre_head + l->pre_len) % PREROLL_FRAMES;
	memcpy(l->preroll + at * PARLEY_VAD_FRAME, frame, PARLEY_VAD_FRAME * sizeof *frame);
	if (l->pre_len < PREROLL_FRAMES)
		l->pre_len++;
	else
		l->pre_head = (l->pre_head + 1) % PREROLL_FRAMES;
}

static void overloaded(struct parley_listen *l, struct parley_session *s, const char *why)
{
	if (l->overloaded)
		return;
	l->overloaded = true;
	PARLEY_WARN("session %llu: overloaded: %s", (unsigned long long)s->id, why);
	parley_session_error(s, PARLEY_SESSION_OVERLOADED, "%s", why);
}

static enum parley_session_problem stt_code(enum parley_speech_cause cause)
{
	switch (cause) {
	case PARLEY_SPEECH_CAUSE_BUSY: return PARLEY_SESSION_STT_BUSY;
	case PARLEY_SPEECH_CAUSE_UNAVAILABLE: return PARLEY_SESSION_STT_UNAVAILABLE;
	case PARLEY_SPEECH_CAUSE_TIMEOUT: return PARLEY_SESSION_STT_TIMEOUT;
	default: return PARLEY_SESSION_STT_ERROR;
	}
}

/* Sink (any thread): a hypothesis of the utterance so far. */
static void on_partial(void *arg, const char *text)
{
	struct utt *u = arg;
	if (atomic_load(&u->finished) || !text[0])
		return;
	pthread_mutex_lock(&u->lock);
	snprintf(u->partial, sizeof u->partial, "%s", text);
	u->partial_new = true;
	pthread_mutex_unlock(&u->lock);
	u->s->events->user_partial(u->s, text);
}

static void result_job(void *arg, bool cancelled);

/* Sink (any thread): the utterance's result goes to the strand. */
static void on_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		   const char *text)
{
	struct utt *u = arg;
	struct parley_session *s = u->s;
	size_t len = text ? strlen(text) : 0;
	struct result *r = malloc(sizeof *r + len + 1);
	if (r) {
		r->u = u; /* takes the engine's reference */
		r->end = end;
		r->cause = cause;
		r->reported = false;
		memcpy(r->text, text ? text : "", len + 1);
		/* A closed session submits nothing (at shutdown the workers may
		 * be gone before a speech service's last callbacks). */
		if (!parley_session_is_closing(s) &&
		    parley_workers_submit(s->workers, &s->strand, PARLEY_JOB_URGENT, result_job, r) == 0)
			return;
		free(r);
	}
	utt_unref(u); /* closing: nobody waits for it */
}

/* Hands one result to the session (the strand; the session is live). */
static void deliver(struct parley_listen *l, struct parley_session *s, const struct result *r)
{
	struct utt *u = r->u;
	if (r->end == PARLEY_SPEECH_OK && u->seq <= l->delivered) {
		PARLEY_DEBUG("session %llu: transcript of utterance %llu superseded",
			     (unsigned long long)s->id, (unsigned long long)u->seq);
		if (u->committed)
			s->events->user_failed(s, "superseded");
	} else if (r->end == PARLEY_SPEECH_OK) {
		l->delivered = u->seq;
		if (!r->text[0] || (!u->by_commit && u->voiced < MIN_VOICED_FRAMES)) {
			PARLEY_DEBUG("session %llu: no turn (%d voiced frames, transcript \"%s\")",
				     (unsigned long long)s->id, u->voiced, r->text);
			if (u->committed)
				s->events->user_failed(s, "empty");
		} else {
			PARLEY_INFO("session %llu: user said \"%s\"", (unsigned long long)s->id,
				    r->text);
			s->events->user_final(s, r->text);
			parley_session_heard_turn(s, r->text, strlen(r->text), u->speech_end);
			return; /* the turn keeps or discards its speculation */
		}
	} else if (r->end == PARLEY_SPEECH_CANCELLED) {
		if (u->committed && !parley_session_is_closing(s))
			s->events->user_failed(s, "cancelled");
	} else if (r->end == PARLEY_SPEECH_ERROR && r->reported) {
		if (u->committed)
			s->events->user_failed(s, parley_speech_cause_name(r->cause));
	} else if (r->end == PARLEY_SPEECH_ERROR) {
		PARLEY_WARN("session %llu: speech recognition failed (%s): %s",
			    (unsigned long long)s->id, parley_speech_cause_name(r->cause), r->text);
		if (r->cause == PARLEY_SPEECH_CAUSE_BUSY && !s->speech->stt_remote)
			/* the utterance waited for a decoder as long as it may */
			overloaded(l, s, "every speech decoder stayed busy; this utterance was not "
					 "transcribed");
		else
			parley_session_error(s, stt_code(r->cause), "%s",
					     r->text[0] ? r->text : "speech recognition failed");
		if (u->committed)
			s->events->user_failed(s, parley_speech_cause_name(r->cause));
	}
	/* No turn came of it: a speculation on its words goes too (not one
	 * the utterance being spoken now started since). */
	if (u->speculated && !(l->cur && l->cur->speculated))
		parley_session_speculation_drop(s);
}

/* The utterance still waiting for its result that began first, or NULL. */
static struct utt *oldest_pending(const struct parley_listen *l)
{
	struct utt *first = NULL;
	for (struct utt *u = l->pending; u; u = u->next)
		if (!first || u->seq < first->seq)
			first = u;
	return first;
}

/* The results held for the oldest utterances go, in order. */
static void deliver_held(struct parley_listen *l, struct parley_session *s)
{
	struct utt *first;
	while ((first = oldest_pending(l)) && first->held) {
		struct result *r = first->held;
		first->held = NULL;
		deliver(l, s, r);
		unlist(l, s, first);
		utt_unref(first);
		free(r);
	}
}

/* The strand: an utterance's result. Results become turns in the order the
 * utterances began: an utterance that waited for a decoder is decoded late,
 * after a later one may have finished, so a result whose elder is still
 * being transcribed waits for it (held in its utterance). */
static void result_job(void *arg, bool cancelled)
{
	struct result *r = arg;
	struct utt *u = r->u;
	struct parley_session *s = u->s;
	struct parley_listen *l = s->listen;
	if (cancelled || parley_session_is_closing(s)) {
		if (cancelled)
			abandon(l, s); /* the session is closing */
		else
			unlist(l, s, u);
		utt_unref(u);
		free(r);
		return;
	}
	struct utt *first = oldest_pending(l);
	if (u->listed && first && first->seq < u->seq) {
		u->held = r; /* with its reference */
		return;
	}
	deliver(l, s, r);
	unlist(l, s, u);
	utt_unref(u);
	free(r);
	deliver_held(l, s);
}

/* The utterance goes from `cur` to the pending list. */
static void stop_feeding(struct parley_listen *l, struct parley_session *s)
{
	struct utt *u = l->cur;
	l->cur = NULL;
	u->next = l->pending;
	l->pending = u;
	parley_session_utts_waiting(s, 1);
	atomic_store(&u->finished, true);
	u->committed = true;
	if (u->speech_event) { /* the VAD's end of the turn: a cut */
		parley_session_vad_cut(s);
		s->events->speech_stopped(s, (int64_t)l->clock_ms);
	}
	set_open(s, false);
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
static void flush(struct parley_listen *l, struct parley_session *s)
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
	    l->nfed + PARLEY_VAD_FRAME > FEED_CAP - PREROLL)
		flush(l, s);
}

/* An utterance begins (its STT job starts) with the last `prefix` frames
 * of the pre-roll (the current one included), which feed_preroll() feeds;
 * vad: the VAD opened it (speech_started). */
static void begin(struct parley_listen *l, struct parley_session *s, size_t prefix, bool vad)
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
	struct parley_stt_sink sink = { on_partial, on_end, u };
	int err = 0;
	u->job = b->start(s->speech->stt, &sink, &err);
	if (!u->job) {
		atomic_store(&u->refs, 1);
		utt_unref(u);
		parley_vad_end(&l->vad);
		if (err == PARLEY_E_FULL && !s->speech->stt_remote)
			overloaded(l, s, "every speech decoder is busy; this utterance was not "
					 "transcribed");
		else if (!l->overloaded) {
			l->overloaded = true; /* one error per episode, as for overload */
			PARLEY_WARN("session %llu: cannot start speech recognition: %s",
				    (unsigned long long)s->id, parley_strerror(err));
			parley_session_error(
				s,
				err == PARLEY_E_FULL ? PARLEY_SESSION_STT_BUSY
				: err == PARLEY_E_CLOSED ? PARLEY_SESSION_STT_UNAVAILABLE
							 : PARLEY_SESSION_STT_ERROR,
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
	l->speculated = false;
	l->onset_ns = parley_now_ns() - (int64_t)PARLEY_VAD_START_WINDOW * PARLEY_VAD_FRAME_MS * 1000000;
	l->utt_ms = 0;
	l->pieces = l->fed_ms = 0;
	l->barged = false;
	set_open(s, true);
	PARLEY_DEBUG("session %llu: speech started", (unsigned long long)s->id);
	if (prefix > l->pre_len)
		prefix = l->pre_len;
	/* the pre-roll's oldest frames that are not kept go */
	l->pre_head = (l->pre_head + l->pre_len - prefix) % PREROLL_FRAMES;
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
		       l->preroll + (l->pre_head + i) % PREROLL_FRAMES * PARLEY_VAD_FRAME,
		       PARLEY_VAD_FRAME * sizeof *l->fed);
	l->nfed = l->pre_len * PARLEY_VAD_FRAME;
	l->pre_len = 0;
	flush(l, s);
}

/* The turn ends. speech_end: when the user stopped (0: the last loud
 * frame). The transcript follows through the job's end. */
static void end(struct parley_listen *l, struct parley_session *s, int64_t speech_end)
{
	struct utt *u = l->cur;
	if (!speech_end)
		speech_end = parley_now_ns() - (int64_t)l->vad.silence_ms * 1000000;
	u->speech_end = speech_end;
	u->voiced = l->vad.voiced_frames;
	flush(l, s);
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
	}
	pthread_mutex_unlock(&u->lock);
}

/* The pause that ends the current utterance (turn_rules.h). */
static int turn_pause_ms(const struct parley_listen *l, double speed)
{
	struct parley_turn_cues c = {
		.text = l->partial,
		.since_change_ms = l->partial[0] ? l->utt_ms - l->partial_at_ms : -1,
		.utt_ms = l->utt_ms,
	};
	return parley_turn_silence_ms(&c, speed);
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
		parley_session_speculation_drop(s);
	} else if (s->speculate_ms && l->partial[0] && silence >= s->speculate_ms &&
		   silence < pause_ms &&
		   (!l->speculated || l->partial_at_ms > l->speculated_at_ms)) {
		l->speculated = true;
		l->speculated_at_ms = l->utt_ms;
		l->cur->speculated = true;
		parley_session_speculate(s, l->partial,
					 parley_now_ns() - (int64_t)silence * 1000000);
	}
}

/* Barge-in: speech over the assistant's audio interrupts it, once per
 * utterance, as soon as the VAD calls it speech (PARLEY_VAD_START_VOICED
 * voiced frames among the last PARLEY_VAD_START_WINDOW: noise, hiss and
 * clicks never are), or a partial transcript exists. At the onset it is
 * checked before the utterance begins: begin() decodes the 400 ms pre-roll,
 * tens of milliseconds the user would hear the assistant go on. */
static bool barge_in(struct parley_listen *l, struct parley_session *s, int64_t onset_ns)
{
	if (!l->barged && (l->vad.voiced_frames >= BARGE_IN_VOICED_FRAMES || l->partial[0]) &&
	    parley_session_assistant_playing(s)) {
		l->barged = true;
		parley_session_barge_in(s, onset_ns);
	}
	return l->barged;
}

/* MANUAL turns: everything heard between the client's cuts is one
 * utterance, kept (manual.h) until the commit leases a decoder for it;
 * the VAD only counts voicing. An utterance the VAD opened before the
 * switch to MANUAL goes on being fed until the commit ends it. */
static void manual_frame(struct parley_listen *l, struct parley_session *s, const int16_t *pcm)
{
	if (!l->cur) {
		if (parley_manual_push(&l->manual, pcm, PARLEY_VAD_FRAME) == 1)
			parley_session_error(s, PARLEY_SESSION_AUDIO_OVERFLOW,
					     "more than %d s of audio since the last commit: a "
					     "commit transcribes the last %d s",
					     PARLEY_MANUAL_MAX_MS / 1000, PARLEY_MANUAL_MAX_MS / 1000);
		return;
	}
	if (l->utt_ms >= MAX_UTTERANCE_MS)
		return; /* not decoded */
	l->utt_ms += PARLEY_VAD_FRAME_MS;
	memcpy(l->fed + l->nfed, pcm, PARLEY_VAD_FRAME * sizeof *pcm);
	l->nfed += PARLEY_VAD_FRAME;
	if (l->nfed + PARLEY_VAD_FRAME > FEED_CAP - PREROLL)
		flush(l, s);
}

static void frame(struct parley_listen *l, struct parley_session *s, const int16_t *pcm,
		  const struct parley_turns *t, double speed)
{
	l->clock_ms += PARLEY_VAD_FRAME_MS;
	enum parley_vad_event ev = parley_vad_frame(&l->vad, pcm);
	if (t->mode == PARLEY_TURNS_MANUAL) {
		manual_frame(l, s, pcm);
		return;
	}
	if (!l->cur) {
		preroll_push(l, pcm);
		if (ev == PARLEY_VAD_START) {
			l->partial[0] = '\0';
			begin(l, s, (size_t)t->prefix_ms / PARLEY_VAD_FRAME_MS, true);
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
	int pause = t->mode == PARLEY_TURNS_FIXED ? t->silence_ms : turn_pause_ms(l, speed);
	speculate(l, s, pause);
	if (l->vad.silence_ms >= pause || l->utt_ms >= MAX_UTTERANCE_MS)
		end(l, s, 0);
}

/* The end of the input's stream at a cut: what the resampler and the frame
 * carry still hold is heard (the carry padded with silence to a frame),
 * and the resampler starts afresh after it. */
static void drain_input(struct parley_listen *l, struct parley_session *s,
			const struct parley_turns *t, double speed)
{
	int16_t out[4096];
	size_t m = l->rs ? parley_resampler_flush(l->rs, out, sizeof out / sizeof out[0]) : 0;
	parley_resampler_destroy(l->rs);
	l->rs = NULL;
	for (size_t i = 0; i < m;) {
		size_t k = PARLEY_VAD_FRAME - l->ncarry;
		if (k > m - i)
			k = m - i;
		memcpy(l->carry + l->ncarry, out + i, k * sizeof *out);
		l->ncarry += k;
		i += k;
		if (l->ncarry == PARLEY_VAD_FRAME) {
			frame(l, s, l->carry, t, speed);
			l->ncarry = 0;
		}
	}
	if (l->ncarry) {
		memset(l->carry + l->ncarry, 0, (PARLEY_VAD_FRAME - l->ncarry) * sizeof *l->carry);
		frame(l, s, l->carry, t, speed);
		l->ncarry = 0;
	}
}

/* The utterance ends where no utterance is: one that holds nothing, which
 * still ends in user_failed, in its turn (after the utterances before it):
 * "empty", or (end ERROR) why no decoder could start, reported already. */
static void commit_nothing(struct parley_listen *l, struct parley_session *s,
			   enum parley_speech_end end, enum parley_speech_cause cause)
{
	struct utt *u = calloc(1, sizeof *u);
	struct result *r = malloc(sizeof *r + 1);
	if (!u || !r) {
		free(u);
		free(r);
		s->events->user_failed(s, "out of memory");
		return;
	}
	atomic_init(&u->refs, 2); /* the listener's and its result's */
	atomic_init(&u->finished, true);
	pthread_mutex_init(&u->lock, NULL);
	parley_session_ref(s);
	u->s = s;
	u->seq = ++l->seq;
	u->listed = u->committed = u->by_commit = true;
	u->next = l->pending;
	l->pending = u;
	parley_session_utts_waiting(s, 1);
	*r = (struct result){ .u = u, .end = end, .cause = cause, .reported = true };
	r->text[0] = '\0';
	u->held = r;
	deliver_held(l, s);
}

/* MANUAL: the committed audio (manual.h) is fed to its utterance, one
 * piece per call; the last piece ends it. Returns false while some is
 * left (the caller yields: see "Fairness" above). */
static bool drain_manual(struct parley_listen *l, struct parley_session *s)
{
	size_t n = parley_manual_next(&l->manual, l->fed, FEED_CAP - PREROLL);
	if (l->cur) {
		l->nfed = n;
		l->utt_ms += (int)(n * 1000 / PARLEY_VAD_RATE);
		flush(l, s); /* a job that takes no more ends: the rest is dropped */
	}
	if (!l->cur) {
		while (parley_manual_next(&l->manual, l->fed, FEED_CAP - PREROLL))
			;
		return true;
	}
	if (parley_manual_draining(&l->manual))
		return false;
	end(l, s, parley_now_ns());
	return true;
}

/* The client's commit (commit.c) reached the listener: the audio before it
 * is one utterance, which ends now (no speech_stopped: the VAD did not end
 * it; committed says so, before anything of the utterance's end). MANUAL
 * audio kept since the last cut leases its decoder now and is fed from the
 * next job on. */
static void commit_now(struct parley_listen *l, struct parley_session *s,
		       const struct parley_turns *t, double speed)
{
	drain_input(l, s, t, speed);
	bool dropped = false;
	if (l->cur) {
		s->events->committed(s, (int64_t)l->clock_ms, l->cur->speech_event);
		l->cur->speech_event = false;
		l->cur->by_commit = true;
		end(l, s, parley_now_ns());
		parley_manual_clear(&l->manual);
	} else if (parley_manual_commit(&l->manual, &dropped)) {
		s->events->committed(s, (int64_t)l->clock_ms, false);
		l->pre_len = 0;
		begin(l, s, 0, false);
		if (l->cur) {
			l->cur->by_commit = true;
		} else { /* no decoder: begin() said why */
			while (parley_manual_next(&l->manual, l->fed, FEED_CAP - PREROLL))
				;
			commit_nothing(l, s, PARLEY_SPEECH_ERROR, PARLEY_SPEECH_CAUSE_BUSY);
		}
	} else {
		s->events->committed(s, (int64_t)l->clock_ms, false);
		commit_nothing(l, s, PARLEY_SPEECH_OK, PARLEY_SPEECH_CAUSE_NONE);
	}
	if (dropped)
		PARLEY_DEBUG("session %llu: the commit keeps the last %d s of its audio",
			     (unsigned long long)s->id, PARLEY_MANUAL_MAX_MS / 1000);
	parley_vad_end(&l->vad);
	l->pre_len = 0;
}

/* The client's clear reached the listener: the utterance in progress goes
 * without a word (its job is cancelled), with the input's filter state. */
static void clear_now(struct parley_listen *l, struct parley_session *s)
{
	parley_resampler_destroy(l->rs);
	l->rs = NULL;
	l->ncarry = 0;
	if (l->cur) {
		bool spec = l->cur->speculated;
		unlist(l, s, l->cur);
		set_open(s, false);
		if (spec)
			parley_session_speculation_drop(s);
	}
	parley_manual_clear(&l->manual);
	parley_vad_end(&l->vad);
	l->pre_len = 0;
	l->nfed = 0;
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
			frame(l, s, l->carry, turns, speed);
			l->ncarry = 0;
		}
	}
	for (; m - i >= PARLEY_VAD_FRAME; i += PARLEY_VAD_FRAME)
		frame(l, s, out + i, turns, speed); /* whole frames straight from the resampler */
	memcpy(l->carry + l->ncarry, out + i, (m - i) * sizeof *out);
	l->ncarry += m - i;
	return true;
}

void parley_listen_job(void *arg, bool cancelled)
{
	struct parley_session *s = arg;
	struct parley_listen *l = s->listen;

	pthread_mutex_lock(&s->lock);
	s->audio_job_queued = false;
	if (s->rate_pending && !cancelled) {
		/* Inferring the undeclared rate (inrate.h): the audio waits in
		 * the ring until it is known; the conclusion reschedules us. */
		pthread_mutex_unlock(&s->lock);
		return;
	}
	int rate = s->settings.input_sample_rate;
	double speed = s->settings.speed;
	struct parley_turns turns = s->turn_cfg;
	l->clock_ms += s->audio_lost_ms; /* audio the client sent that was dropped */
	s->audio_lost_ms = 0;
	size_t backlog = parley_ring_len(&s->audio);
	/* Lagging is decoding slower than real time while audio waits: the
	 * ring has not been empty for OVERLOAD_LAG_MS, and in that time the
	 * listener took less audio than the time that passed. A burst (a
	 * network stall caught up at once) that is being worked off faster
	 * than real time does not count, however long it takes. Audio is
	 * skipped only as the last resort, when lagging has let
	 * OVERLOAD_BACKLOG_MS pile up: short of that it is decoded late. */
	int64_t since = s->audio_waiting_since_ns;
	int64_t waited = since ? parley_now_ns() - since : 0;
	if (waited > (int64_t)OVERLOAD_LAG_MS * 1000000 &&
	    backlog > (size_t)rate * OVERLOAD_BACKLOG_MS / 1000 &&
	    (double)s->audio_taken_waiting / rate < (double)waited / 1e9) {
		/* We are behind: keep the newest second, tell the user once. */
		parley_ring_drop(&s->audio, backlog - (size_t)rate);
		l->clock_ms += (double)(backlog - (size_t)rate) * 1000 / rate;
		s->audio_waiting_since_ns = parley_now_ns();
		s->audio_taken_waiting = 0;
		pthread_mutex_unlock(&s->lock);
		overloaded(l, s, "the server cannot keep up with your audio; some was skipped");
	} else {
		pthread_mutex_unlock(&s->lock);
	}
	if (cancelled) {
		abandon(l, s); /* the session is closing */
		return;
	}
	parley_vad_set_threshold(&l->vad, turns.threshold);
	if (parley_manual_draining(&l->manual) && !parley_session_is_closing(s) &&
	    !drain_manual(l, s)) {
		/* a committed MANUAL utterance is fed first, a piece a job */
		parley_session_schedule_listener(s);
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
		n = parley_session_audio_take_cut(s, in, slice < TAKE ? slice : TAKE, &discard, &cut);
		if (!n && cut == PARLEY_CUT_NONE)
			break;
		slice -= n;
		if (discard) /* cleared: not heard */
			l->clock_ms += (double)n * 1000 / rate;
		else if (n && !hear(l, s, in, n, rate, out, sizeof out / sizeof out[0], &turns, speed))
			return;
		if (cut == PARLEY_CUT_COMMIT)
			commit_now(l, s, &turns, speed);
		else if (cut == PARLEY_CUT_CLEAR)
			clear_now(l, s);
		if (parley_manual_draining(&l->manual))
			break; /* the audio after the commit waits for its utterance */
	}
	if (parley_session_is_closing(s)) {
		abandon(l, s); /* do not keep a transcription for a session that is going */
		return;
	}
	/* In a pause of an utterance the turn may end on the next audio: the
	 * listener's next jobs are urgent (util/workers.h), so the end of the
	 * turn and the partial its rule reads are not queued behind other
	 * sessions' decoding. */
	atomic_store(&s->listen_urgent, l->cur && l->vad.silence_ms > 0);
	if (parley_manual_draining(&l->manual)) { /* fed from the next job on */
		parley_session_schedule_listener(s);
		parley_workers_yield(s->workers, &s->strand);
		return;
	}
	if (slice == 0) {
		/* Slice used up: if audio is left, continue behind the others. */
		pthread_mutex_lock(&s->lock);
		bool left = parley_ring_len(&s->audio) > 0 || s->ncuts > 0;
		pthread_mutex_unlock(&s->lock);
		if (left) {
			parley_session_schedule_listener(s);
			parley_workers_yield(s->workers, &s->strand);
			return;
		}
	}
	/* The client stopped sending in the middle of an utterance (mic turned
	 * off, network gone quiet): no audio counts as silence, so the turn
	 * ends and the transcription is finished. Not in MANUAL turns: only
	 * the client's commit ends one. */
	if (l->cur && turns.mode != PARLEY_TURNS_MANUAL) {
		pthread_mutex_lock(&s->lock);
		int64_t last = s->last_audio_ns;
		pthread_mutex_unlock(&s->lock);
		int pause = turns.mode == PARLEY_TURNS_FIXED ? turns.silence_ms
							     : turn_pause_ms(l, speed);
		if (parley_now_ns() - last >= (int64_t)pause * 1000000)
			end(l, s, last);
	}
}
