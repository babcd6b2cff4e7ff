/*
 * listen.c - a session's ears: microphone audio -> 16 kHz -> voice activity
 * detection -> speech-to-text -> turns, and barge-in.
 *
 * Runs as jobs on the session's strand (one at a time, on a worker thread),
 * so the state below needs no lock. A decoder is leased from the shared pool
 * only while the user speaks; the audio just before speech onset is kept in
 * a short pre-roll so the first syllable is not lost.
 *
 * Fairness: a job handles at most SLICE_MS of input audio, then, if more is
 * buffered, queues its continuation and yields its worker (the strand goes
 * behind every other ready strand), so a session with a large backlog (a
 * burst, a client ahead of real time) takes its turn like the others
 * instead of holding a worker until its buffer is empty. A slice of 100 ms
 * costs about 1 ms of CPU in silence and 5-10 ms in speech (decoding at
 * ~0.07x real time), so a ready session waits at most a few milliseconds
 * per other ready session.
 */
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "audio/vad.h"
#include "session/internal.h"
#include "stt/decoder.h"
#include "text/turn_rules.h"
#include "util/log.h"

#define PREROLL (PARLEY_VAD_RATE * 400 / 1000) /* 400 ms */
#define PARTIAL_EVERY_NS 200000000LL           /* at most 5 partials a second */
#define MIN_VOICED_FRAMES 10                   /* shorter voicing is not a turn */
#define BARGE_IN_VOICED_FRAMES 10              /* 200 ms of voice over assistant audio */
#define MAX_UTTERANCE_MS 30000
#define OVERLOAD_LAG_MS 2000                   /* audio waiting this long means we lag */
#define SLICE_MS 100                           /* input audio per job, then yield */
#define TAKE 4096

struct parley_listen {
	struct parley_resampler *rs;
	struct parley_vad vad;
	int16_t carry[PARLEY_VAD_FRAME];
	size_t ncarry;
	int16_t preroll[PREROLL];
	size_t pre_head, pre_len;
	void *dec;                 /* leased while the user speaks */
	const struct parley_stt_backend *stt;
	char partial[1024];
	int64_t last_partial_ns;
	int64_t onset_ns;
	int utt_ms;
	bool barged;
	bool overloaded;           /* inside an overload episode */
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

static void give_back(struct parley_listen *l, struct parley_session *s)
{
	if (l->dec) {
		char ignored[8];
		l->stt->finish(l->dec, ignored, sizeof ignored);
		parley_stt_pool_release(s->speech->stt, l->dec);
		l->dec = NULL;
		set_open(s, false);
	}
}

void parley_listen_destroy(struct parley_listen *l, struct parley_session *s)
{
	if (!l)
		return;
	give_back(l, s);
	parley_resampler_destroy(l->rs);
	free(l);
}

static void preroll_push(struct parley_listen *l, const int16_t *frame)
{
	for (int i = 0; i < PARLEY_VAD_FRAME; i++) {
		l->preroll[(l->pre_head + l->pre_len) % PREROLL] = frame[i];
		if (l->pre_len < PREROLL)
			l->pre_len++;
		else
			l->pre_head = (l->pre_head + 1) % PREROLL;
	}
}

static void overloaded(struct parley_listen *l, struct parley_session *s, const char *why)
{
	if (l->overloaded)
		return;
	l->overloaded = true;
	PARLEY_WARN("session %llu: overloaded: %s", (unsigned long long)s->id, why);
	parley_session_error(s, PARLEY_SESSION_OVERLOADED, "%s", why);
}

static void begin(struct parley_listen *l, struct parley_session *s)
{
	l->stt = parley_stt_pool_backend(s->speech->stt);
	l->dec = parley_stt_pool_lease(s->speech->stt);
	if (!l->dec || l->stt->start(l->dec) != 0) {
		if (l->dec)
			parley_stt_pool_release(s->speech->stt, l->dec);
		l->dec = NULL;
		parley_vad_end(&l->vad);
		overloaded(l, s, "every speech decoder is busy; this utterance was not transcribed");
		return;
	}
	l->overloaded = false;
	set_open(s, true);
	/* the pre-roll, oldest first (it ends with the current frame) */
	size_t first = l->pre_len < PREROLL - l->pre_head ? l->pre_len : PREROLL - l->pre_head;
	l->stt->feed(l->dec, l->preroll + l->pre_head, first);
	if (l->pre_len > first)
		l->stt->feed(l->dec, l->preroll, l->pre_len - first);
	l->partial[0] = '\0';
	l->last_partial_ns = parley_now_ns();
	l->onset_ns = parley_now_ns() - (int64_t)PARLEY_VAD_START_WINDOW * PARLEY_VAD_FRAME_MS * 1000000;
	l->utt_ms = 0;
	l->barged = false;
	PARLEY_DEBUG("session %llu: speech started", (unsigned long long)s->id);
}

/* speech_end: when the user stopped (0: the last loud frame). */
static void end(struct parley_listen *l, struct parley_session *s, int64_t speech_end)
{
	char final[1024];
	int voiced = l->vad.voiced_frames;
	if (!speech_end)
		speech_end = parley_now_ns() - (int64_t)l->vad.silence_ms * 1000000;
	l->stt->finish(l->dec, final, sizeof final);
	parley_stt_pool_release(s->speech->stt, l->dec);
	l->dec = NULL;
	set_open(s, false);
	parley_vad_end(&l->vad);
	l->pre_len = 0;

	if (!final[0] || voiced < MIN_VOICED_FRAMES) {
		PARLEY_DEBUG("session %llu: no turn (%d voiced frames, transcript \"%s\")",
			     (unsigned long long)s->id, voiced, final);
		return;
	}
	PARLEY_INFO("session %llu: user said \"%s\"", (unsigned long long)s->id, final);
	s->events->user_final(s, final);
	parley_session_user_turn_timed(s, final, strlen(final), speech_end);
}

static void frame(struct parley_listen *l, struct parley_session *s, const int16_t *pcm,
		  double speed)
{
	enum parley_vad_event ev = parley_vad_frame(&l->vad, pcm);
	preroll_push(l, pcm);
	if (!l->dec) {
		if (ev == PARLEY_VAD_START)
			begin(l, s);
		return;
	}
	l->stt->feed(l->dec, pcm, PARLEY_VAD_FRAME);
	l->utt_ms += PARLEY_VAD_FRAME_MS;

	int64_t now = parley_now_ns();
	if (now - l->last_partial_ns >= PARTIAL_EVERY_NS) {
		char hyp[1024];
		l->last_partial_ns = now;
		l->stt->partial(l->dec, hyp, sizeof hyp);
		if (hyp[0] && strcmp(hyp, l->partial) != 0) {
			strcpy(l->partial, hyp);
			s->events->user_partial(s, hyp);
		}
	}
	if (!l->barged && (l->vad.voiced_frames >= BARGE_IN_VOICED_FRAMES || l->partial[0]) &&
	    parley_session_assistant_playing(s)) {
		l->barged = true;
		parley_session_barge_in(s, l->onset_ns);
	}
	if (l->vad.silence_ms >= parley_turn_silence_ms(l->partial, speed) ||
	    l->utt_ms >= MAX_UTTERANCE_MS)
		end(l, s, 0);
}

void parley_listen_job(void *arg, bool cancelled)
{
	struct parley_session *s = arg;
	struct parley_listen *l = s->listen;

	pthread_mutex_lock(&s->lock);
	s->audio_job_queued = false;
	int rate = s->settings.input_sample_rate;
	double speed = s->settings.speed;
	size_t backlog = parley_ring_len(&s->audio);
	/* Lagging is decoding slower than real time while audio waits: the
	 * ring has not been empty for OVERLOAD_LAG_MS, and in that time the
	 * listener took less audio than the time that passed. A burst (a
	 * network stall caught up at once) that is being worked off faster
	 * than real time does not count, however long it takes. */
	int64_t since = s->audio_waiting_since_ns;
	int64_t waited = since ? parley_now_ns() - since : 0;
	if (waited > (int64_t)OVERLOAD_LAG_MS * 1000000 && backlog > (size_t)rate &&
	    (double)s->audio_taken_waiting / rate < (double)waited / 1e9) {
		/* We are behind: keep the newest second, tell the user once. */
		parley_ring_drop(&s->audio, backlog - (size_t)rate);
		s->audio_waiting_since_ns = parley_now_ns();
		s->audio_taken_waiting = 0;
		pthread_mutex_unlock(&s->lock);
		overloaded(l, s, "the server cannot keep up with your audio; some was skipped");
	} else {
		pthread_mutex_unlock(&s->lock);
	}
	if (cancelled) {
		give_back(l, s);
		return;
	}
	if (!l->rs || parley_resampler_in_rate(l->rs) != rate) {
		parley_resampler_destroy(l->rs);
		l->rs = parley_resampler_create(rate, PARLEY_VAD_RATE);
		l->ncarry = 0;
		if (!l->rs)
			return;
	}

	int16_t in[TAKE];
	int16_t out[TAKE * PARLEY_VAD_RATE / 8000 + 64];
	size_t n;
	size_t slice = (size_t)rate * SLICE_MS / 1000; /* input samples this job may take */
	while (slice > 0 && !parley_session_is_closing(s) &&
	       (n = parley_session_audio_take(s, in, slice < TAKE ? slice : TAKE)) > 0) {
		slice -= n;
		size_t m = parley_resampler_process(l->rs, in, n, out, sizeof out / sizeof out[0]);
		size_t i = 0;
		while (i < m) {
			size_t k = PARLEY_VAD_FRAME - l->ncarry;
			if (k > m - i)
				k = m - i;
			memcpy(l->carry + l->ncarry, out + i, k * sizeof *out);
			l->ncarry += k;
			i += k;
			if (l->ncarry == PARLEY_VAD_FRAME) {
				frame(l, s, l->carry, speed);
				l->ncarry = 0;
			}
		}
	}
	if (parley_session_is_closing(s)) {
		give_back(l, s); /* do not keep a decoder for a session that is going */
		return;
	}
	if (slice == 0) {
		/* Slice used up: if audio is left, continue behind the others. */
		pthread_mutex_lock(&s->lock);
		bool left = parley_ring_len(&s->audio) > 0;
		pthread_mutex_unlock(&s->lock);
		if (left) {
			parley_session_schedule_listener(s);
			parley_workers_yield(s->workers, &s->strand);
			return;
		}
	}
	/* The client stopped sending in the middle of an utterance (mic turned
	 * off, network gone quiet): no audio counts as silence, so the turn
	 * ends and the decoder goes back to the pool. */
	if (l->dec) {
		pthread_mutex_lock(&s->lock);
		int64_t last = s->last_audio_ns;
		pthread_mutex_unlock(&s->lock);
		if (parley_now_ns() - last >= (int64_t)parley_turn_silence_ms(l->partial, speed) * 1000000)
			end(l, s, last);
	}
}
