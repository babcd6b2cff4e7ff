/*
 * listen_cuts.c - the client's cuts as the listener applies them: a commit
 * ends the utterance where it falls in the input stream (the audio still
 * in the resampler heard first), a clear drops the utterance in progress;
 * in MANUAL turns the audio between cuts is kept (manual.h) and fed to a
 * decoder leased at the commit, a piece per listen job. The cuts reach
 * the listener through inbox_cuts.c's marks.
 *
 * Threads: the listen strand (listen_internal.h).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "audio/vad.h"
#include "session/internal.h"
#include "session/listen_internal.h"
#include "session/manual.h"
#include "util/log.h"

/* MANUAL turns: everything heard between the client's cuts is one
 * utterance, kept (manual.h) until the commit leases a decoder for it;
 * the VAD only counts voicing. An utterance the VAD opened before the
 * switch to MANUAL goes on being fed until the commit ends it. */
void parley_listen_manual_frame(struct parley_listen *l, struct parley_session *s,
				const int16_t *pcm)
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
	if (l->nfed + PARLEY_VAD_FRAME > FEED_CAP)
		parley_listen_flush(l, s);
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
			parley_listen_frame(l, s, l->carry, t, speed);
			l->ncarry = 0;
		}
	}
	if (l->ncarry) {
		memset(l->carry + l->ncarry, 0, (PARLEY_VAD_FRAME - l->ncarry) * sizeof *l->carry);
		parley_listen_frame(l, s, l->carry, t, speed);
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
	parley_inbox_utts_waiting(s, 1);
	*r = (struct result){ .u = u, .end = end, .cause = cause, .reported = true };
	r->text[0] = '\0';
	u->held = r;
	parley_listen_deliver_held(l, s);
}

/* MANUAL: the committed audio (manual.h) is fed to its utterance, one
 * piece per call; the last piece ends it. Returns false while some is
 * left (the caller yields: see "Fairness" in listen.c). */
bool parley_listen_drain_manual(struct parley_listen *l, struct parley_session *s)
{
	size_t n = parley_manual_next(&l->manual, l->fed, FEED_CAP);
	if (l->cur) {
		l->nfed = n;
		l->utt_ms += (int)(n * 1000 / PARLEY_VAD_RATE);
		parley_listen_flush(l, s); /* a job that takes no more ends: the rest is dropped */
	}
	if (!l->cur) {
		while (parley_manual_next(&l->manual, l->fed, FEED_CAP))
			;
		return true;
	}
	if (parley_manual_draining(&l->manual))
		return false;
	parley_listen_end(l, s, parley_now_ns());
	return true;
}

/* The client's commit (inbox_cuts.c) reached the listener: the audio before it
 * is one utterance, which ends now (no speech_stopped: the VAD did not end
 * it; committed says so, before anything of the utterance's end). MANUAL
 * audio kept since the last cut leases its decoder now and is fed from the
 * next job on. */
void parley_listen_commit_now(struct parley_listen *l, struct parley_session *s,
			      const struct parley_turns *t, double speed)
{
	drain_input(l, s, t, speed);
	bool dropped = false;
	if (l->cur) {
		s->events->committed(s, (int64_t)l->clock_ms, l->cur->speech_event);
		l->cur->speech_event = false;
		l->cur->by_commit = true;
		parley_listen_end(l, s, parley_now_ns());
		parley_manual_clear(&l->manual);
	} else if (parley_manual_commit(&l->manual, &dropped)) {
		s->events->committed(s, (int64_t)l->clock_ms, false);
		l->pre_len = 0;
		parley_listen_begin(l, s, 0, false);
		if (l->cur) {
			l->cur->by_commit = true;
		} else { /* no decoder, or no memory: parley_listen_begin() said why */
			if (l->fed)
				while (parley_manual_next(&l->manual, l->fed, FEED_CAP))
					;
			else /* no feed buffer to drain through; nothing after
			      * this cut is kept yet, so drop it all */
				parley_manual_free(&l->manual);
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
void parley_listen_clear_now(struct parley_listen *l, struct parley_session *s)
{
	parley_resampler_destroy(l->rs);
	l->rs = NULL;
	l->ncarry = 0;
	if (l->cur) {
		bool spec = l->cur->speculated;
		parley_listen_unlist(l, s, l->cur);
		parley_listen_set_open(s, false);
		if (spec)
			parley_speculation_cancel(s, "the user went on");
	}
	parley_manual_clear(&l->manual);
	parley_vad_end(&l->vad);
	l->pre_len = 0;
	l->nfed = 0;
}
