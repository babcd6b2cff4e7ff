/*
 * session.c - a conversation's core: its creation, references and close,
 * the settings a client may change, its problems and its out-queue. The
 * four parts it ties together each have their own header: the listener
 * (listener.h), the turn-taker (turntaker.h), the answerer (answerer.h)
 * and the speaker (speaker.h); docs/architecture.md has the locks and
 * threads of all of them.
 *
 * Threads: any. The settings are guarded by s->lock, but the input rate,
 * which is the listener's (its inbox's lock).
 */
#include "session/internal.h"
#include "session/echo.h"

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
	if (!parley_speaker_init(&s->spk, p->speech != NULL, p->limits->answer_max_bytes)) {
		free(s);
		return NULL;
	}
	s->listen = p->speech ? parley_listen_create() : NULL;
	s->echo_mode = p->echo_mode;
	s->echo = p->speech ? parley_echoguard_create() : NULL;
	if (p->speech && (!s->listen || !s->echo)) {
		parley_echoguard_destroy(s->echo);
		parley_listen_destroy(s->listen, s);
		parley_speaker_destroy(s);
		free(s);
		return NULL;
	}
	s->proto = p->proto; /* ours from here on */
	s->proto_free = p->proto_free;
	pthread_mutex_init(&s->lock, NULL);
	parley_settings_defaults(&s->settings);
	parley_session_echo_init(s);
	parley_inbox_init(&s->in, p->speech != NULL, s->created_ns);
	parley_turntaker_init(&s->tt, p->limits, s->created_ns);
	s->tt.susp.enabled = p->resume_false_interruptions;
	s->tt.merge = p->merge_turns;
	parley_answerer_init(&s->ans, p->limits->answer_max_bytes,
			     p->history_chars ? p->history_chars : 12000);
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
	parley_inbox_destroy(&s->in);
	parley_speaker_destroy(s);
	parley_listen_destroy(s->listen, s);
	parley_session_echo_destroy(s);
	parley_answerer_destroy(&s->ans);
	parley_turntaker_destroy(&s->tt);
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
	parley_inbox_schedule(s);
	parley_speak_stop(s);
	parley_answer_cancel(s);
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
	out->input_sample_rate = parley_inbox_rate(s); /* the listener's */
}

double parley_session_speed(struct parley_session *s)
{
	pthread_mutex_lock(&s->lock);
	double speed = s->settings.speed;
	pthread_mutex_unlock(&s->lock);
	return speed;
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

int parley_session_set_output_rate(struct parley_session *s, int hz)
{
	if (hz < PARLEY_RATE_MIN || hz > PARLEY_RATE_MAX)
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

void parley_session_end(struct parley_session *s, const char *reason)
{
	const char *none = NULL;
	if (!atomic_compare_exchange_strong(&s->end_reason, &none, reason))
		return;
	PARLEY_WARN("session %llu: closing it: %s", (unsigned long long)s->id, reason);
	parley_answer_cancel(s);
	parley_outq_wake(&s->outq); /* the transport closes once the queue is sent */
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
