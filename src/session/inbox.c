/*
 * inbox.c - the listener's inbox (listener.h): the audio a client sends
 * waits here for the listen strand. The event-loop thread writes each
 * frame under the inbox's own lock (in.lock), never the conversation's
 * (s->lock): audio beyond real time (pace.h) is dropped undecoded, a full
 * ring drops its oldest audio (and says so once per episode), and the
 * listen job is queued unless it is already.
 *
 * The input rate lives here: declared by the client, or inferred from the
 * frames' timestamps (inrate.c) while `rate_pending`, the audio held
 * undecoded until then.
 *
 * Threads: any; every field under in.lock. Errors and the inference's
 * report go to the client after the lock is let go.
 */
#include "session/internal.h"

#include "util/err.h"
#include "util/log.h"

#define POKE_AFTER_NS 300000000LL /* no audio for 300 ms while an utterance is open */

void parley_inbox_init(struct parley_inbox *in, bool speech, int64_t now_ns)
{
	pthread_mutex_init(&in->lock, NULL);
	in->rate = 48000;
	in->rate_pending = speech; /* until declared or inferred */
	parley_rate_infer_init(&in->rate_infer);
	parley_ring_init(&in->ring, (size_t)PARLEY_RATE_MAX * PARLEY_SESSION_AUDIO_SECONDS);
	parley_pace_init(&in->pace, now_ns);
	atomic_init(&in->urgent, false);
}

void parley_inbox_destroy(struct parley_inbox *in)
{
	parley_ring_destroy(&in->ring);
	pthread_mutex_destroy(&in->lock);
}

int parley_inbox_rate(struct parley_session *s)
{
	pthread_mutex_lock(&s->in.lock);
	int rate = s->in.rate;
	pthread_mutex_unlock(&s->in.lock);
	return rate;
}

void parley_inbox_clear(struct parley_session *s)
{
	pthread_mutex_lock(&s->in.lock);
	parley_ring_clear(&s->in.ring);
	s->in.uncommitted_ms = 0;
	pthread_mutex_unlock(&s->in.lock);
}

int parley_session_set_input_rate(struct parley_session *s, int hz)
{
	if (hz < PARLEY_RATE_MIN || hz > PARLEY_RATE_MAX)
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->in.lock);
	if (s->in.rate != hz) { /* old samples are at the old rate */
		s->in.lost_ms += (double)parley_ring_len(&s->in.ring) * 1000 / s->in.rate;
		parley_ring_clear(&s->in.ring);
	}
	s->in.rate = hz;
	bool held = s->in.rate_pending;
	s->in.rate_pending = false; /* a declared rate always wins */
	if (held && parley_ring_len(&s->in.ring)) {
		s->in.waiting_since_ns = parley_now_ns();
		s->in.taken_waiting = 0;
	}
	pthread_mutex_unlock(&s->in.lock);
	if (held)
		parley_inbox_schedule(s); /* the held audio, at the declared rate */
	return 0;
}

/* Caller holds in.lock: claims the listen job when `due` and none is
 * queued (a session without speech has none); the caller then submits it
 * with submit_listen_job() after unlocking. */
static bool claim_job_locked(struct parley_session *s, bool due)
{
	if (!due || !s->listen || s->in.job_queued)
		return false;
	s->in.job_queued = true;
	return true;
}

/* The caller claimed the job under in.lock; queue the listen job, or clear
 * the flag again if the strand refuses it (closing). */
static void submit_listen_job(struct parley_session *s)
{
	enum parley_job_class cls =
		atomic_load(&s->in.urgent) ? PARLEY_JOB_URGENT : PARLEY_JOB_NORMAL;
	if (parley_workers_submit(s->workers, &s->strand, cls, parley_listen_job, s) != 0) {
		pthread_mutex_lock(&s->in.lock);
		s->in.job_queued = false;
		pthread_mutex_unlock(&s->in.lock);
	}
}

void parley_inbox_schedule(struct parley_session *s)
{
	pthread_mutex_lock(&s->in.lock);
	bool schedule = claim_job_locked(s, true);
	pthread_mutex_unlock(&s->in.lock);
	if (schedule)
		submit_listen_job(s);
}

/* Caller holds in.lock: audio faster than real time (beyond a burst) is
 * dropped undecoded; the clock counts it. */
static enum parley_pace_verdict pace_locked(struct parley_session *s, size_t n, double *dropped_s)
{
	int rate = s->in.rate;
	enum parley_pace_verdict verdict =
		parley_pace_admit(&s->in.pace, (double)n / rate, parley_now_ns());
	if (verdict != PARLEY_PACE_ACCEPT) {
		*dropped_s = s->in.pace.dropped_s;
		s->in.lost_ms += (double)n * 1000 / rate; /* it was sent: the clock counts it */
	}
	return verdict;
}

static void report_pace(struct parley_session *s, enum parley_pace_verdict verdict, int rate,
			double dropped_s)
{
	if (verdict == PARLEY_PACE_DROP_REPORT) {
		PARLEY_WARN("session %llu: audio arrives faster than real time; dropping "
			    "the excess", (unsigned long long)s->id);
		parley_session_error(s, PARLEY_SESSION_AUDIO_TOO_FAST,
				     "audio is arriving faster than real time (more than "
				     "%.0f s ahead of the clock at the declared %d Hz); "
				     "the excess is dropped, and the session is closed if "
				     "it goes on",
				     PARLEY_PACE_BURST_S, rate);
	} else if (verdict == PARLEY_PACE_DROP_CLOSE) {
		PARLEY_DEBUG("session %llu: %.1f s of audio dropped", (unsigned long long)s->id,
			     dropped_s);
		parley_session_end(s, "audio faster than real time");
	}
}

/* Caller holds in.lock: writes n samples (the newest cap if more), the
 * oldest waiting dropped to make room; returns how many were lost. */
static size_t write_locked(struct parley_session *s, const int16_t *pcm, size_t n)
{
	int rate = s->in.rate;
	/* The buffer holds PARLEY_SESSION_AUDIO_SECONDS at the input rate. */
	size_t cap = (size_t)rate * PARLEY_SESSION_AUDIO_SECONDS;
	size_t dropped = 0;
	if (n > cap) { /* keep only the newest cap samples of this frame */
		dropped += n - cap;
		pcm += n - cap;
		n = cap;
	}
	if (parley_ring_len(&s->in.ring) + n > cap)
		dropped += parley_ring_drop(&s->in.ring, parley_ring_len(&s->in.ring) + n - cap);
	if (parley_ring_len(&s->in.ring) == 0) {
		s->in.waiting_since_ns = parley_now_ns();
		s->in.taken_waiting = 0;
	}
	s->in.written += n; /* inbox_cuts.c: what is lost counts as taken */
	s->in.uncommitted_ms += (double)n * 1000 / rate;
	dropped += parley_ring_write(&s->in.ring, pcm, n);
	s->in.lost_ms += (double)dropped * 1000 / rate;
	return dropped;
}

void parley_session_audio_in(struct parley_session *s, const int16_t *pcm, size_t n,
			     bool playing, int64_t client_ms)
{
	struct parley_inrate_note note = {0};
	bool report = false;
	if (parley_session_end_reason(s))
		return; /* closing for breaking a limit: nothing more is heard */
	pthread_mutex_lock(&s->in.lock);
	parley_inrate_feed_locked(s, client_ms, n, parley_now_ns(), &note);
	int rate = s->in.rate;
	double dropped_s = 0;
	enum parley_pace_verdict verdict = pace_locked(s, n, &dropped_s);
	if (verdict != PARLEY_PACE_ACCEPT) {
		pthread_mutex_unlock(&s->in.lock);
		parley_inrate_report(s, &note);
		report_pace(s, verdict, rate, dropped_s);
		return;
	}
	parley_speaker_frame_playing(s, playing);
	s->in.last_ns = parley_now_ns();
	size_t dropped = write_locked(s, pcm, n);
	if (dropped && !s->in.overflowing) {
		s->in.overflowing = true;
		report = true;
	} else if (!dropped) {
		s->in.overflowing = false;
	}
	bool schedule = claim_job_locked(s, !s->in.rate_pending);
	pthread_mutex_unlock(&s->in.lock);
	if (schedule)
		submit_listen_job(s);
	parley_inrate_report(s, &note);
	if (report)
		parley_session_error(s, PARLEY_SESSION_AUDIO_OVERFLOW,
				     "audio input buffer full (%d s): oldest audio dropped",
				     PARLEY_SESSION_AUDIO_SECONDS);
}

int64_t parley_inbox_arrival_ns(struct parley_session *s)
{
	pthread_mutex_lock(&s->in.lock);
	int64_t t = s->in.last_ns -
		    (int64_t)((double)parley_ring_len(&s->in.ring) * 1e9 / s->in.rate);
	pthread_mutex_unlock(&s->in.lock);
	return t;
}

void parley_session_poke_listener(struct parley_session *s)
{
	struct parley_inrate_note note = {0};
	struct parley_turns turns;
	parley_session_get_turns(s, &turns); /* s->lock before in.lock */
	pthread_mutex_lock(&s->in.lock);
	parley_inrate_quiet_locked(s, parley_now_ns(), &note);
	bool schedule = claim_job_locked(s, s->in.utterance_open &&
						    turns.mode != PARLEY_TURNS_MANUAL &&
						    parley_now_ns() - s->in.last_ns >= POKE_AFTER_NS);
	pthread_mutex_unlock(&s->in.lock);
	if (schedule)
		submit_listen_job(s);
	parley_inrate_report(s, &note);
}
