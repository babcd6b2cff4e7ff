#include "session/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tts/tts.h"
#include "util/err.h"
#include "util/log.h"
#include "util/utf8.h"

int64_t parley_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *const problem_names[PARLEY_SESSION_PROBLEM_COUNT] = {
	[PARLEY_SESSION_AUDIO_OVERFLOW] = "audio_overflow",
	[PARLEY_SESSION_AUDIO_TOO_FAST] = "audio_too_fast",
	[PARLEY_SESSION_RATE_LIMITED] = "rate_limited",
	[PARLEY_SESSION_LLM_BUSY] = "llm_busy",
	[PARLEY_SESSION_LLM_UNAVAILABLE] = "llm_unavailable",
	[PARLEY_SESSION_LLM_ERROR] = "llm_error",
	[PARLEY_SESSION_LLM_TIMEOUT] = "llm_timeout",
	[PARLEY_SESSION_OVERLOADED] = "overloaded",
	[PARLEY_SESSION_STT_BUSY] = "stt_busy",
	[PARLEY_SESSION_STT_UNAVAILABLE] = "stt_unavailable",
	[PARLEY_SESSION_STT_TIMEOUT] = "stt_timeout",
	[PARLEY_SESSION_STT_ERROR] = "stt_error",
	[PARLEY_SESSION_TTS_BUSY] = "tts_busy",
	[PARLEY_SESSION_TTS_UNAVAILABLE] = "tts_unavailable",
	[PARLEY_SESSION_TTS_TIMEOUT] = "tts_timeout",
	[PARLEY_SESSION_TTS_ERROR] = "tts_error",
	[PARLEY_SESSION_INTERNAL] = "internal",
};

const char *parley_session_problem_name(enum parley_session_problem p)
{
	return (unsigned)p < PARLEY_SESSION_PROBLEM_COUNT ? problem_names[p] : "internal";
}

void parley_settings_defaults(struct parley_settings *st)
{
	memset(st, 0, sizeof *st);
	st->input_sample_rate = 48000;
	st->output_sample_rate = 48000;
	st->audio_out = PARLEY_AUDIO_OUT_BASE64;
	strcpy(st->voice, "default");
	st->tts_rate = 1.0;
	st->speed = 50;
}

static void hold(void *owner)
{
	parley_session_ref(owner);
}

static void release(void *owner)
{
	parley_session_unref(owner);
}

void parley_turns_defaults(struct parley_turns *t)
{
	*t = (struct parley_turns){
		.mode = PARLEY_TURNS_ADAPTIVE,
		.threshold = 0.5,
		.prefix_ms = 400, /* listen.c's pre-roll */
		.silence_ms = 500,
		.create_response = true,
		.interrupt_response = true,
	};
}

struct parley_session *parley_session_create(const struct parley_session_params *p)
{
	struct parley_session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	atomic_init(&s->closing, false);
	s->id = p->id;
	s->created_ns = parley_now_ns();
	s->events = p->events;
	s->workers = p->workers;
	s->owner = p->owner;
	s->llm = p->llm;
	s->speech = p->speech;
	s->limits = p->limits;
	s->speculate_ms = p->speculate_ms;
	s->assume_playback = p->assume_playback;
	atomic_init(&s->end_reason, NULL);
	s->played_ms = -1;
	parley_buf_init(&s->answer, p->limits->answer_max_bytes);
	parley_buf_init(&s->said, p->limits->answer_max_bytes);
	parley_sentences_init(&s->splitter);
	s->listen = p->speech ? parley_listen_create() : NULL;
	s->speaker = p->speech ? parley_speak_create() : NULL;
	if (p->speech && (!s->listen || !s->speaker)) {
		free(s->listen);
		free(s->speaker);
		free(s);
		return NULL;
	}
	s->proto = p->proto; /* ours from here on */
	s->proto_free = p->proto_free;
	parley_history_init(&s->history, p->history_chars ? p->history_chars : 12000);
	parley_settings_defaults(&s->settings);
	parley_turns_defaults(&s->turn_cfg);
	s->speak_answers = true;
	s->rate_pending = p->speech != NULL; /* until declared or inferred */
	parley_rate_infer_init(&s->rate_infer);
	parley_ring_init(&s->audio, (size_t)PARLEY_RATE_MAX * PARLEY_SESSION_AUDIO_SECONDS);
	pthread_mutex_init(&s->lock, NULL);
	parley_pace_init(&s->pace, s->created_ns);
	parley_bucket_init(&s->turns, p->limits->turn_burst, p->limits->turns_per_minute / 60.0,
			   s->created_ns);
	size_t max_msgs, max_bytes;
	parley_session_outq_bounds(p->limits, &s->settings, &max_msgs, &max_bytes);
	parley_outq_init(&s->outq, max_msgs, max_bytes, p->wake, s);
	parley_outq_share_budget(&s->outq, &p->limits->budget);
	parley_strand_init(&s->strand, PARLEY_SESSION_MAX_JOBS, hold, release, s);
	parley_strand_init(&s->tts_strand, PARLEY_SESSION_MAX_JOBS, hold, release, s);
	return s;
}

void parley_session_ref(struct parley_session *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void parley_session_unref(struct parley_session *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	parley_outq_destroy(&s->outq);
	parley_ring_destroy(&s->audio);
	parley_history_destroy(&s->history);
	parley_sentences_destroy(&s->splitter);
	parley_speak_destroy(s);
	parley_listen_destroy(s->listen, s);
	parley_buf_free(&s->answer);
	parley_buf_free(&s->said);
	parley_spoken_kept_free(s);
	free(s->instructions);
	pthread_mutex_destroy(&s->lock);
	/* last: nothing above calls an event now, but nothing may find the
	 * protocol's state gone either */
	if (s->proto_free)
		s->proto_free(s->proto);
	free(s);
}

void parley_session_close(struct parley_session *s)
{
	if (atomic_exchange(&s->closing, true))
		return;
	/* Before the strands refuse work: the listener's job and the
	 * speaker's pump (both run cancelled) give their speech jobs back. */
	parley_session_schedule_listener(s);
	parley_speak_stop(s);
	parley_session_cancel_answer(s);
	if (s->workers) {
		parley_strand_cancel(s->workers, &s->strand);
		parley_strand_cancel(s->workers, &s->tts_strand);
	}
	parley_outq_close(&s->outq);
}

bool parley_session_is_closing(struct parley_session *s)
{
	return atomic_load(&s->closing);
}

const char *parley_session_end_reason(struct parley_session *s)
{
	return atomic_load(&s->end_reason);
}

uint64_t parley_session_id(const struct parley_session *s)
{
	return s->id;
}

int64_t parley_session_created_ns(const struct parley_session *s)
{
	return s->created_ns;
}

void *parley_session_owner(const struct parley_session *s)
{
	return s->owner;
}

struct parley_llm_engine *parley_session_llm(const struct parley_session *s)
{
	return s->llm;
}

const struct parley_speech *parley_session_speech(const struct parley_session *s)
{
	return s->speech;
}

void *parley_session_proto(const struct parley_session *s)
{
	return s->proto;
}

void *parley_session_transport(const struct parley_session *s)
{
	return s->transport;
}

void parley_session_set_transport(struct parley_session *s, void *transport)
{
	s->transport = transport;
}

void parley_session_report_status(struct parley_session *s)
{
	s->events->status(s);
}

void parley_session_get_settings(struct parley_session *s, struct parley_settings *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->settings;
	pthread_mutex_unlock(&s->lock);
}

const struct parley_settings *parley_session_settings_locked(const struct parley_session *s)
{
	return &s->settings;
}

/* Caller holds s->lock: the out-queue bounds follow the settings. */
static void rebound_locked(struct parley_session *s)
{
	size_t max_msgs, max_bytes;
	parley_session_outq_bounds(s->limits, &s->settings, &max_msgs, &max_bytes);
	parley_outq_set_bounds(&s->outq, max_msgs, max_bytes);
}

static bool rate_ok(int hz)
{
	return hz >= PARLEY_RATE_MIN && hz <= PARLEY_RATE_MAX;
}

int parley_session_set_input_rate(struct parley_session *s, int hz)
{
	if (!rate_ok(hz))
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	if (s->settings.input_sample_rate != hz) { /* old samples are at the old rate */
		s->audio_lost_ms +=
			(double)parley_ring_len(&s->audio) * 1000 / s->settings.input_sample_rate;
		parley_ring_clear(&s->audio);
	}
	s->settings.input_sample_rate = hz;
	bool held = s->rate_pending;
	s->rate_pending = false; /* a declared rate always wins */
	if (held && parley_ring_len(&s->audio)) {
		s->audio_waiting_since_ns = parley_now_ns();
		s->audio_taken_waiting = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (held)
		parley_session_schedule_listener(s); /* the held audio, at the declared rate */
	return 0;
}

int parley_session_set_output_rate(struct parley_session *s, int hz)
{
	if (!rate_ok(hz))
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	s->settings.output_sample_rate = hz;
	rebound_locked(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int parley_session_set_audio_out(struct parley_session *s, enum parley_audio_out out)
{
	if (out != PARLEY_AUDIO_OUT_BASE64 && out != PARLEY_AUDIO_OUT_BINARY)
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	s->settings.audio_out = out;
	rebound_locked(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int parley_session_set_voice(struct parley_session *s, const char *voice)
{
	/* The voice is kept as the allow-list spells it, so only list strings
	 * ever reach an engine (tts/tts.h). */
	struct parley_tts_voice v = { 0 };
	bool dflt = strcmp(voice, "default") == 0;
	if (!dflt && parley_tts_voice_lookup(voice, &v) != 0)
		return PARLEY_E_NOTFOUND;
	pthread_mutex_lock(&s->lock);
	snprintf(s->settings.voice, sizeof s->settings.voice, "%s", dflt ? "default" : v.name);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int parley_session_set_tts_rate(struct parley_session *s, double rate)
{
	if (!(rate >= PARLEY_TTS_RATE_MIN && rate <= PARLEY_TTS_RATE_MAX))
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	s->settings.tts_rate = rate;
	rebound_locked(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int parley_session_set_speed(struct parley_session *s, double speed)
{
	if (!(speed >= PARLEY_SPEED_MIN && speed <= PARLEY_SPEED_MAX))
		return PARLEY_E_RANGE;
	pthread_mutex_lock(&s->lock);
	s->settings.speed = speed;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void set_playing(struct parley_session *s, bool playing)
{
	pthread_mutex_lock(&s->lock);
	s->tts_playing = playing;
	if (s->tts_playing && !s->playback_start_ns)
		s->playback_start_ns = parley_now_ns();
	pthread_mutex_unlock(&s->lock);
}

void parley_session_playback_started(struct parley_session *s)
{
	set_playing(s, true);
}

void parley_session_playback_stopped(struct parley_session *s)
{
	set_playing(s, false);
}

void parley_session_playback_played(struct parley_session *s, int64_t played_ms)
{
	pthread_mutex_lock(&s->lock);
	s->played_ms = played_ms;
	pthread_mutex_unlock(&s->lock);
}

/* The caller set audio_job_queued under the lock; queue the listen job, or
 * clear the flag again if the strand refuses it (closing). */
static void submit_listen_job(struct parley_session *s)
{
	enum parley_job_class cls =
		atomic_load(&s->listen_urgent) ? PARLEY_JOB_URGENT : PARLEY_JOB_NORMAL;
	if (parley_workers_submit(s->workers, &s->strand, cls, parley_listen_job, s) != 0) {
		pthread_mutex_lock(&s->lock);
		s->audio_job_queued = false;
		pthread_mutex_unlock(&s->lock);
	}
}

void parley_session_schedule_listener(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	bool schedule = s->listen && !s->audio_job_queued;
	if (schedule)
		s->audio_job_queued = true;
	pthread_mutex_unlock(&s->lock);
	if (schedule)
		submit_listen_job(s);
}

void parley_session_end(struct parley_session *s, const char *reason)
{
	const char *none = NULL;
	if (!atomic_compare_exchange_strong(&s->end_reason, &none, reason))
		return;
	PARLEY_WARN("session %llu: closing it: %s", (unsigned long long)s->id, reason);
	parley_session_cancel_answer(s);
	parley_outq_wake(&s->outq); /* the transport closes once the queue is sent */
}

void parley_session_audio_in(struct parley_session *s, const int16_t *pcm, size_t n,
			     bool playing, int64_t client_ms)
{
	struct parley_inrate_note note = {0};
	bool report = false;
	size_t cap;
	bool schedule = false;
	if (parley_session_end_reason(s))
		return; /* closing for breaking a limit: nothing more is heard */
	pthread_mutex_lock(&s->lock);
	parley_inrate_feed_locked(s, client_ms, n, parley_now_ns(), &note);
	/* Audio faster than real time (beyond a burst) is dropped undecoded. */
	int rate = s->settings.input_sample_rate;
	enum parley_pace_verdict verdict =
		parley_pace_admit(&s->pace, (double)n / rate, parley_now_ns());
	if (verdict != PARLEY_PACE_ACCEPT) {
		double dropped = s->pace.dropped_s;
		s->audio_lost_ms += (double)n * 1000 / rate; /* it was sent: the clock counts it */
		pthread_mutex_unlock(&s->lock);
		parley_inrate_report(s, &note);
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
				     dropped);
			parley_session_end(s, "audio faster than real time");
		}
		return;
	}
	s->frame_playing = playing;
	s->last_audio_ns = parley_now_ns();
	/* The buffer holds PARLEY_SESSION_AUDIO_SECONDS at the input rate. */
	cap = (size_t)rate * PARLEY_SESSION_AUDIO_SECONDS;
	size_t dropped = 0;
	if (n > cap) { /* keep only the newest cap samples of this frame */
		dropped += n - cap;
		pcm += n - cap;
		n = cap;
	}
	if (parley_ring_len(&s->audio) + n > cap)
		dropped += parley_ring_drop(&s->audio, parley_ring_len(&s->audio) + n - cap);
	if (parley_ring_len(&s->audio) == 0) {
		s->audio_waiting_since_ns = parley_now_ns();
		s->audio_taken_waiting = 0;
	}
	s->audio_written += n; /* commit.c: what is lost counts as taken */
	s->uncommitted_ms += (double)n * 1000 / rate;
	dropped += parley_ring_write(&s->audio, pcm, n);
	s->audio_lost_ms += (double)dropped * 1000 / rate;
	if (dropped && !s->audio_overflowing) {
		s->audio_overflowing = true;
		report = true;
	} else if (!dropped) {
		s->audio_overflowing = false;
	}
	if (s->listen && !s->audio_job_queued && !s->rate_pending) {
		s->audio_job_queued = true;
		schedule = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (schedule)
		submit_listen_job(s);
	parley_inrate_report(s, &note);
	if (report)
		parley_session_error(s, PARLEY_SESSION_AUDIO_OVERFLOW,
				     "audio input buffer full (%d s): oldest audio dropped",
				     PARLEY_SESSION_AUDIO_SECONDS);
}

bool parley_session_turn_admit(struct parley_session *s, bool report)
{
	pthread_mutex_lock(&s->lock);
	int64_t now = parley_now_ns();
	bool ok = parley_bucket_take(&s->turns, 1, now);
	double wait = ok ? 0 : parley_bucket_wait_s(&s->turns, 1, now);
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		PARLEY_INFO("session %llu: turn refused: over %.0f turns a minute",
			    (unsigned long long)s->id, s->limits->turns_per_minute);
	}
	if (!ok && report) {
		parley_session_error(s, PARLEY_SESSION_RATE_LIMITED,
				     "too many turns: at most %.0f a minute (%.0f at once); this "
				     "one was not answered, try again in %.1f s",
				     s->limits->turns_per_minute, s->limits->turn_burst, wait);
	}
	return ok;
}

#define POKE_AFTER_NS 300000000LL /* no audio for 300 ms while an utterance is open */

void parley_session_poke_listener(struct parley_session *s)
{
	bool schedule = false;
	struct parley_inrate_note note = {0};
	pthread_mutex_lock(&s->lock);
	parley_inrate_quiet_locked(s, parley_now_ns(), &note);
	if (s->listen && s->utterance_open && !s->audio_job_queued &&
	    s->turn_cfg.mode != PARLEY_TURNS_MANUAL &&
	    parley_now_ns() - s->last_audio_ns >= POKE_AFTER_NS) {
		s->audio_job_queued = true;
		schedule = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (schedule)
		submit_listen_job(s);
	parley_inrate_report(s, &note);
}

void parley_session_error(struct parley_session *s, enum parley_session_problem problem,
			  const char *fmt, ...)
{
	char message[256];
	va_list ap;
	va_start(ap, fmt);
	parley_utf8_vformat(message, sizeof message, fmt, ap); /* cut on a character */
	va_end(ap);
	PARLEY_DEBUG("session %llu: error %s: %s", (unsigned long long)s->id,
		     parley_session_problem_name(problem), message);
	s->events->error(s, problem, message);
}

int parley_session_push(struct parley_session *s, struct parley_msg *m)
{
	if (parley_session_is_closing(s)) {
		parley_msg_free(m);
		return PARLEY_E_CLOSED;
	}
	return parley_outq_push(&s->outq, m);
}

struct parley_msg *parley_session_pop(struct parley_session *s, bool *more)
{
	return parley_outq_pop(&s->outq, more);
}

size_t parley_session_queued(struct parley_session *s)
{
	return parley_outq_length(&s->outq);
}

bool parley_session_overflowed(struct parley_session *s, char *why, size_t whylen)
{
	if (!parley_outq_overflowed(&s->outq))
		return false;
	if (why && whylen)
		parley_outq_overflow_reason(&s->outq, why, whylen);
	return true;
}
