/*
 * Unit tests: a spoken session's turns as the Realtime contract sees them
 * (session.h), on real sessions with the real embedded engines (flite
 * makes the user's speech at run time, pocketsphinx hears it, flite speaks
 * the answers), a real worker pool and the real LLM engine talking to a
 * fake chat server in this process (fake_chat.h). The sessions assume
 * playback (no playback reports), as the Realtime wire does.
 *
 * Checked: the VAD modes' speech_started / speech_stopped around the
 * utterance (on the input audio clock) before its user_final, then the
 * answer; MANUAL turns: no speech events, the client's commit makes the
 * utterance and no answer comes until respond(); clear_audio drops it;
 * create_response false: the turn joins the history unanswered; text-only
 * answers send no audio; truncate_answer cuts the history to the audio the
 * client says it played; barge-in on the playback estimate, and none with
 * interrupt_response false; the prefix before the onset, grown when a
 * session asks for a longer one. No timing is asserted beyond generous waits.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "audio/resample.h"
#include "fake_chat.h"
#include "llm/engine.h"
#include "session/limits.h"
#include "session/session.h"
#include "speech/speech.h"
#include "stt/stt.h"
#include "tts/tts.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/workers.h"

static const char *const SENTENCE = "I would like to book a table for two people tonight.";

/* ---- what the session says, in order ----------------------------------- */

#define MAX_EV 4096
struct ev {
	char kind; /* S started, F final, E error, U user_final, X user_failed, 1/0 speech */
	int how;
	int64_t ms;
	char text[256];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct ev evs[MAX_EV]; /* guarded by lock */
static int nev;
static size_t audio_samples; /* guarded by lock: assistant audio sent */

static void add(char kind, int how, int64_t ms, const char *text, size_t len)
{
	pthread_mutex_lock(&lock);
	if (nev < MAX_EV) {
		struct ev *e = &evs[nev++];
		e->kind = kind;
		e->how = how;
		e->ms = ms;
		snprintf(e->text, sizeof e->text, "%.*s", (int)len, text ? text : "");
	}
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void on_error(struct parley_session *s, enum parley_session_problem p, const char *m)
{
	(void)s;
	add('E', (int)p, 0, m, strlen(m));
}

static uint64_t answers[64]; /* guarded by lock: answer_started's numbers, in order */
static int nanswers;

static void on_started(struct parley_session *s, uint64_t answer)
{
	(void)s;
	pthread_mutex_lock(&lock);
	if (nanswers < 64)
		answers[nanswers++] = answer;
	pthread_mutex_unlock(&lock);
	add('S', 0, 0, NULL, 0);
}

/* 'C': committed, how = opened */
static void on_committed(struct parley_session *s, int64_t ms, bool opened)
{
	(void)s;
	add('C', opened, ms, NULL, 0);
}

static void on_final(struct parley_session *s, const char *t, size_t n, enum parley_answer_outcome how)
{
	(void)s;
	add('F', (int)how, 0, t, n);
}

static void on_user_final(struct parley_session *s, const char *t, const char *whole)
{
	(void)s;
	add('U', 0, 0, t, strlen(t));
	if (whole) /* a merged turn: the whole of it */
		add('M', 0, 0, whole, strlen(whole));
}

static void on_user_failed(struct parley_session *s, const char *t)
{
	(void)s;
	add('X', 0, 0, t, strlen(t));
}

static void on_speech_started(struct parley_session *s, int64_t ms)
{
	(void)s;
	add('1', 0, ms, NULL, 0);
}

static void on_speech_stopped(struct parley_session *s, int64_t ms)
{
	(void)s;
	add('0', 0, ms, NULL, 0);
}

static void on_audio(struct parley_session *s, const int16_t *p, size_t n)
{
	(void)s, (void)p;
	pthread_mutex_lock(&lock);
	audio_samples += n;
	pthread_mutex_unlock(&lock);
}

static void on_stop_tts(struct parley_session *s)
{
	(void)s;
	add('T', 0, 0, NULL, 0);
}

static void nothing(struct parley_session *s)
{
	(void)s;
}

static void nothing_text(struct parley_session *s, const char *t)
{
	(void)s, (void)t;
}

static void nothing_partial(struct parley_session *s, const char *t, size_t n)
{
	(void)s, (void)t, (void)n;
}

static const struct parley_session_events events = {
	.status = nothing,
	.error = on_error,
	.answer_partial = nothing_partial,
	.answer_started = on_started,
	.answer_final = on_final,
	.user_partial = nothing_text,
	.user_final = on_user_final,
	.speech_started = on_speech_started,
	.speech_stopped = on_speech_stopped,
	.committed = on_committed,
	.user_failed = on_user_failed,
	.audio = on_audio,
	.stop_tts = on_stop_tts,
	.tts_interruption = nothing,
	.input_rate_inferred = nothing,
};

/* Waits (up to 30 s) until `n` events of `kind` were seen; returns the
 * index of the nth. */
static int wait_for(char kind, int n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&lock);
	for (;;) {
		int seen = 0;
		for (int i = 0; i < nev; i++)
			if (evs[i].kind == kind && ++seen == n) {
				pthread_mutex_unlock(&lock);
				return i;
			}
		if (pthread_cond_timedwait(&cond, &lock, &until) != 0) {
			pthread_mutex_unlock(&lock);
			fail_msg("waited 30 s for %d events '%c' (%d events seen)", n, kind, nev);
			return -1;
		}
	}
}

static int count(char kind)
{
	int n = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nev; i++)
		n += evs[i].kind == kind;
	pthread_mutex_unlock(&lock);
	return n;
}

/* ---- the world --------------------------------------------------------- */

static struct parley_config cfg;
static struct parley_llm_engine *llm;
static struct parley_workers *workers;
static struct parley_speech_env env;
static struct parley_speech speech;
static struct parley_session_limits limits;
static int16_t *voice; /* SENTENCE at 16 kHz */
static size_t nvoice;

static void on_wake(void *arg)
{
	(void)arg;
}

static void on_stt_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		       const char *text)
{
	(void)arg, (void)end, (void)cause, (void)text;
}

static int setup_all(void **state)
{
	(void)state;
	parley_log_set_level(PARLEY_LOG_ERROR);
	int port = fake_chat_start();
	if (port < 0)
		return -1;
	parley_config_defaults(&cfg);
	snprintf(cfg.llm_backend, sizeof cfg.llm_backend, "openai");
	snprintf(cfg.llm_url, sizeof cfg.llm_url, "http://127.0.0.1:%d", port);
	snprintf(cfg.llm_model, sizeof cfg.llm_model, "fake-model");
	cfg.stt_warm = 1;
	cfg.stt_max = 2;
	workers = parley_workers_create(2);
	env.workers = workers;
	llm = parley_llm_engine_create(&cfg, "You are a test.");
	if (!workers || !llm || parley_tts_init_all(&cfg, &env) < 1)
		return -1;
	struct parley_tts_voice v;
	if (parley_tts_voice_lookup("rms", &v) != 0)
		return -1;
	int16_t *pcm = NULL;
	size_t n = 0;
	int rate = 0;
	if (v.backend->synth(&v, 1.0, SENTENCE, &pcm, &n, &rate) != 0)
		return -1;
	voice = parley_resample_oneshot(pcm, n, rate, 16000, &nvoice);
	free(pcm);
	if (!voice)
		return -1;
	char why[256];
	speech.stt_backend = &parley_stt_pocketsphinx;
	speech.stt = parley_stt_pocketsphinx.create(&cfg, &env, why, sizeof why);
	snprintf(speech.default_voice, sizeof speech.default_voice, "slt");
	speech.default_rate = 1.0;
	if (!speech.stt)
		return -1;
	/* the decoder pool warms in the background: wait for a decoder */
	struct parley_stt_sink sink = { NULL, on_stt_end, NULL };
	struct parley_stt_job *j = NULL;
	for (int i = 0; i < 6000 && !j; i++) {
		int err = 0;
		if (!(j = parley_stt_pocketsphinx.start(speech.stt, &sink, &err)))
			usleep(10000);
	}
	if (!j)
		return -1;
	parley_stt_pocketsphinx.release(j);
	for (int i = 0; i < 1000; i++) {
		struct parley_llm_info info;
		parley_llm_engine_info(llm, &info);
		if (info.state == PARLEY_LLM_READY)
			return 0;
		usleep(10000);
	}
	return -1;
}

static int teardown_all(void **state)
{
	(void)state;
	parley_llm_engine_destroy(llm);
	parley_workers_destroy(workers); /* after the sessions' last jobs */
	parley_stt_pocketsphinx.destroy(speech.stt);
	parley_tts_shutdown();
	fake_chat_stop();
	free(voice);
	parley_metrics_reset();
	return 0;
}

static struct parley_session *make(const struct parley_turns *t)
{
	parley_session_limits_init(&limits, &cfg);
	pthread_mutex_lock(&lock);
	nev = 0;
	nanswers = 0;
	audio_samples = 0;
	pthread_mutex_unlock(&lock);
	struct parley_session_params p = {
		.id = 2,
		.events = &events,
		.workers = workers,
		.wake = on_wake,
		.llm = llm,
		.history_chars = 4000,
		.speech = &speech,
		.limits = &limits,
		.merge_turns = true, /* the default (--turn-merging on) */
		.assume_playback = true,
	};
	struct parley_session *s = parley_session_create(&p);
	assert_non_null(s);
	assert_int_equal(parley_session_set_input_rate(s, 16000), 0);
	if (t)
		assert_int_equal(parley_session_set_turns(s, t), 0);
	return s;
}

static void done(struct parley_session *s)
{
	parley_session_close(s);
	parley_session_unref(s);
	usleep(300000); /* the engines' late callbacks hold their own references */
}

/* n samples of pcm (NULL: silence) as 20 ms frames, 4 times real time. */
static void send_audio(struct parley_session *s, const int16_t *pcm, size_t n)
{
	static const int16_t zeros[320];
	for (size_t at = 0; at < n; at += 320) {
		size_t k = n - at < 320 ? n - at : 320;
		parley_session_audio_in(s, pcm ? pcm + at : zeros, k, false, -1);
		usleep(5000);
	}
}

/* Half a second of silence, the sentence, then `after_ms` of silence. */
static void say(struct parley_session *s, int after_ms)
{
	send_audio(s, NULL, 8000);
	send_audio(s, voice, nvoice);
	send_audio(s, NULL, (size_t)after_ms * 16);
}

static int index_of(char kind)
{
	int at = -1;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nev && at < 0; i++)
		if (evs[i].kind == kind)
			at = i;
	pthread_mutex_unlock(&lock);
	return at;
}

/* ---- tests ------------------------------------------------------------- */

static void vad_turn_speech_events_then_the_answer(void **state)
{
	(void)state;
	struct parley_session *s = make(NULL);
	say(s, 1500);
	int u = wait_for('U', 1);
	int f = wait_for('F', 1);
	int on = index_of('1'), off = index_of('0'), st = index_of('S');
	assert_true(on >= 0 && on < off && off < u && u < st && st < f);
	assert_int_equal(count('1'), 1);
	assert_int_equal(count('0'), 1);
	/* the input clock: the onset is in the sentence (the prefix before it),
	 * the end after it, with the pause */
	int64_t len_ms = (int64_t)nvoice / 16;
	print_message("speech %lld..%lld ms (sentence 500..%lld ms): \"%s\"\n",
		      (long long)evs[on].ms, (long long)evs[off].ms, (long long)(500 + len_ms),
		      evs[u].text);
	assert_true(evs[on].ms >= 0 && evs[on].ms <= 500 + 400);
	assert_true(evs[off].ms > 500 + len_ms / 2 && evs[off].ms <= 500 + len_ms + 1500);
	assert_true(strstr(evs[u].text, "table") != NULL);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_COMPLETE);
	pthread_mutex_lock(&lock);
	assert_true(audio_samples > 0); /* spoken */
	pthread_mutex_unlock(&lock);
	done(s);
}

static void manual_turns_wait_for_the_commit(void **state)
{
	(void)state;
	struct parley_turns t;
	parley_turns_defaults(&t);
	t.mode = PARLEY_TURNS_MANUAL;
	struct parley_session *s = make(&t);
	assert_int_equal(parley_session_commit_audio(s), PARLEY_E_RANGE); /* nothing yet */
	say(s, 1500);
	usleep(500000);
	assert_int_equal(count('U'), 0); /* no VAD turn end */
	assert_int_equal(parley_session_commit_audio(s), 0);
	assert_int_equal(parley_session_commit_audio(s), PARLEY_E_RANGE); /* nothing since */
	int u = wait_for('U', 1);
	assert_true(strstr(evs[u].text, "table") != NULL);
	usleep(300000);
	assert_int_equal(count('S'), 0); /* MANUAL: the client asks */
	assert_int_equal(count('1') + count('0'), 0);
	assert_int_equal(parley_session_respond(s), 0);
	int f = wait_for('F', 1);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_COMPLETE);
	/* cleared audio is never heard */
	send_audio(s, voice, nvoice);
	parley_session_clear_audio(s);
	assert_int_equal(parley_session_commit_audio(s), PARLEY_E_RANGE);
	usleep(1000000);
	assert_int_equal(count('U') + count('X'), 1);
	done(s);
}

static void unanswered_turns_join_the_history(void **state)
{
	(void)state;
	struct parley_turns t;
	parley_turns_defaults(&t);
	t.mode = PARLEY_TURNS_FIXED;
	t.silence_ms = 400;
	t.create_response = false;
	struct parley_session *s = make(&t);
	say(s, 1200);
	int u = wait_for('U', 1);
	char heard[256];
	snprintf(heard, sizeof heard, "%s", evs[u].text);
	wait_for('0', 1);
	usleep(500000);
	assert_int_equal(count('S'), 0);
	/* the history has it: a later answer sees it */
	assert_int_equal(parley_session_add_user_text(s, "kind:history", 12), 0);
	parley_session_set_spoken(s, false); /* text only from now on */
	assert_int_equal(parley_session_respond(s), 0);
	int f = wait_for('F', 1);
	assert_string_equal(evs[f].text, "none"); /* no assistant turn yet */
	pthread_mutex_lock(&lock);
	assert_int_equal(audio_samples, 0); /* text only: no audio */
	pthread_mutex_unlock(&lock);
	done(s);
}

static uint64_t answer_no(int i)
{
	pthread_mutex_lock(&lock);
	uint64_t a = i < nanswers ? answers[i] : 0;
	pthread_mutex_unlock(&lock);
	return a;
}

static void truncate_cuts_the_history_to_the_audio_played(void **state)
{
	(void)state;
	struct parley_session *s = make(NULL);
	parley_session_user_turn(s, "kind:slow", 9);
	int f = wait_for('F', 1);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_COMPLETE);
	uint64_t a = answer_no(0);
	pthread_mutex_lock(&lock);
	int64_t total_ms = (int64_t)audio_samples * 1000 / 48000;
	pthread_mutex_unlock(&lock);
	assert_true(total_ms > 1000);
	assert_int_equal(parley_session_truncate_answer(s, a, total_ms + 200), PARLEY_E_RANGE);
	assert_int_equal(parley_session_truncate_answer(s, a, total_ms / 2), 0);
	parley_session_set_spoken(s, false);
	assert_int_equal(parley_session_add_user_text(s, "kind:history", 12), 0);
	assert_int_equal(parley_session_respond(s), 0);
	f = wait_for('F', 2);
	const char *h = evs[f].text;
	print_message("cut at %lld of %lld ms: \"%s\"\n", (long long)(total_ms / 2),
		      (long long)total_ms, h);
	assert_true(strncmp(h, "w0 w1", 5) == 0);
	assert_null(strstr(h, "w19"));
	assert_non_null(strstr(h, "...")); /* marked cut */
	/* that text-only answer has nothing spoken to cut; the spoken one is
	 * still known by its number */
	assert_int_equal(parley_session_truncate_answer(s, answer_no(1), 500), PARLEY_E_NOTFOUND);
	assert_int_equal(parley_session_truncate_answer(s, a, 0), 0);
	done(s);
}

/* Review finding 1: A spoken and done; B starts and is cancelled before
 * any of it was spoken. Truncating B cuts nothing (and says so), and
 * truncating A cuts A, not whatever answer came last. */
static void truncate_cuts_the_answer_it_names(void **state)
{
	(void)state;
	struct parley_session *s = make(NULL);
	parley_session_user_turn(s, "kind:slow", 9);
	wait_for('F', 1);
	uint64_t a = answer_no(0);
	pthread_mutex_lock(&lock);
	int64_t total_ms = (int64_t)audio_samples * 1000 / 48000;
	pthread_mutex_unlock(&lock);
	parley_session_user_turn(s, "kind:slow", 9);
	wait_for('S', 2);
	uint64_t b = answer_no(1);
	assert_true(b > a);
	assert_int_equal(parley_session_truncate_answer(s, b, 0), PARLEY_E_BUSY); /* in flight */
	assert_int_equal(parley_session_cancel_response(s), 0);
	int f = wait_for('F', 2);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_CANCELLED);
	assert_string_equal(evs[f].text, ""); /* nothing of B was heard */
	assert_int_equal(parley_session_truncate_answer(s, b, 0), PARLEY_E_NOTFOUND);
	assert_int_equal(parley_session_truncate_answer(s, a, total_ms / 2), 0);
	parley_session_set_spoken(s, false);
	assert_int_equal(parley_session_add_user_text(s, "kind:history", 12), 0);
	assert_int_equal(parley_session_respond(s), 0);
	f = wait_for('F', 3);
	const char *h = evs[f].text;
	print_message("history after cutting A at %lld of %lld ms: \"%s\"\n",
		      (long long)(total_ms / 2), (long long)total_ms, h);
	assert_true(strncmp(h, "w0 w1", 5) == 0); /* A, cut */
	assert_null(strstr(h, "w19"));
	assert_null(strchr(h, '|')); /* and B left no entry */
	done(s);
}

/* The VAD's end of a turn is a cut (review finding 4): a commit right
 * after it finds only the audio sent after the end, refused under 100 ms
 * (before the fix it found the whole utterance). The audio goes at real
 * time, a frame at a time, and stops at speech_stopped: what was sent
 * after the end is known from its audio_ms, and decides the answer. */
static void a_vad_turn_end_is_a_cut(void **state)
{
	(void)state;
	struct parley_turns t;
	parley_turns_defaults(&t);
	t.mode = PARLEY_TURNS_FIXED;
	t.silence_ms = 400;
	struct parley_session *s = make(&t);
	send_audio(s, NULL, 8000);
	send_audio(s, voice, nvoice);
	size_t sent = 8000 + nvoice;
	static const int16_t zeros[320];
	for (int i = 0; i < 500 && count('0') == 0; i++) {
		parley_session_audio_in(s, zeros, 320, false, -1);
		sent += 320;
		usleep(20000);
	}
	int off = wait_for('0', 1);
	int64_t after = (int64_t)sent / 16 - evs[off].ms;
	int rc = parley_session_commit_audio(s);
	print_message("%lld ms sent after the turn's end: commit %d\n", (long long)after, rc);
	if (after < 90)
		assert_int_equal(rc, PARLEY_E_RANGE);
	else if (after > 110)
		assert_int_equal(rc, 0);
	wait_for('U', 1);
	done(s);
}

/* A commit that reaches the listener in the middle of an utterance the
 * VAD opened ends it there: committed names it (opened), after its
 * speech_started, with no speech_stopped; the next commit, with no
 * utterance open, is not it (review finding 4). */
static void a_commit_names_the_utterance_it_ends(void **state)
{
	(void)state;
	struct parley_session *s = make(NULL);
	static const int16_t zeros[8000];
	parley_session_audio_in(s, zeros, 8000, false, -1); /* at once: the listener is behind */
	parley_session_audio_in(s, voice, nvoice, false, -1);
	assert_int_equal(parley_session_commit_audio(s), 0);
	int u = wait_for('U', 1);
	int c = wait_for('C', 1);
	int on = index_of('1');
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nev; i++)
		print_message("event %c how %d ms %lld \"%s\"\n", evs[i].kind, evs[i].how,
			      (long long)evs[i].ms, evs[i].text);
	pthread_mutex_unlock(&lock);
	assert_true(on >= 0 && on < c && c < u);
	assert_int_equal(evs[c].how, 1); /* the VAD's utterance */
	assert_int_equal(count('0'), 0);
	assert_true(strstr(evs[u].text, "table") != NULL);
	send_audio(s, NULL, 4000);
	assert_int_equal(parley_session_commit_audio(s), 0);
	c = wait_for('C', 2);
	assert_int_equal(evs[c].how, 0);
	wait_for('X', 1); /* nothing was said: user_failed */
	done(s);
}

/* parley_stt_decoders_leased, from the metrics page. */
static long decoders_leased(void)
{
	size_t n;
	char *m = parley_metrics_render(&n);
	const char *k = "\nparley_stt_decoders_leased ";
	const char *p = m ? strstr(m, k) : NULL;
	long v = p ? strtol(p + strlen(k), NULL, 10) : -1;
	free(m);
	return v;
}

/* MANUAL turns lease a decoder only at the commit (review finding 2):
 * a client streaming speech without committing holds none (the cap on
 * what is kept: test_manual.c). */
static void manual_turns_hold_no_decoder_until_the_commit(void **state)
{
	(void)state;
	struct parley_turns t;
	parley_turns_defaults(&t);
	t.mode = PARLEY_TURNS_MANUAL;
	struct parley_session *s = make(&t);
	say(s, 300);
	usleep(300000);
	assert_int_equal(decoders_leased(), 0);
	assert_int_equal(parley_session_commit_audio(s), 0);
	int c = wait_for('C', 1);
	int u = wait_for('U', 1);
	assert_true(c < u);
	assert_int_equal(evs[c].how, 0);
	assert_true(strstr(evs[u].text, "table") != NULL);
	usleep(200000);
	assert_int_equal(decoders_leased(), 0); /* given back */
	done(s);
}

/* A client may not queue more than PARLEY_SESSION_MAX_COMMITS commits
 * ahead of the listener and the recogniser (review finding 3); every
 * accepted one ends in user_final or user_failed. */
static void commits_are_bounded(void **state)
{
	(void)state;
	struct parley_turns t;
	parley_turns_defaults(&t);
	t.mode = PARLEY_TURNS_MANUAL;
	struct parley_session *s = make(&t);
	static const int16_t zeros[1600]; /* 100 ms */
	int accepted = 0, refused = 0;
	parley_session_set_input_rate(s, 16000);
	for (int i = 0; i < 40; i++) { /* 4 s at once: within the pace limit's burst */
		parley_session_audio_in(s, zeros, 1600, false, -1);
		int rc = parley_session_commit_audio(s);
		if (rc == 0)
			accepted++;
		else if (rc == PARLEY_E_FULL)
			refused++;
		else
			fail_msg("commit %d: %d", i, rc);
	}
	print_message("%d commits accepted, %d refused\n", accepted, refused);
	assert_true(refused > 0);
	assert_true(accepted >= PARLEY_SESSION_MAX_COMMITS);
	wait_for('C', accepted);
	for (int i = 0; i < 200 && count('U') + count('X') < accepted; i++)
		usleep(50000);
	assert_int_equal(count('U') + count('X'), accepted);
	assert_int_equal(count('C'), accepted);
	done(s);
}

/* Review finding 9: audio the session dropped before the listener heard
 * it (here: one append over the pace limit's burst, dropped whole) still
 * counts on the input clock: audio_ms follows what the client sent. */
static void dropped_audio_counts_on_the_input_clock(void **state)
{
	(void)state;
	struct parley_session *s = make(NULL);
	static const int16_t six_s[16000 * 6];
	parley_session_audio_in(s, six_s, sizeof six_s / sizeof six_s[0], false, -1);
	int e = wait_for('E', 1);
	assert_int_equal(evs[e].how, PARLEY_SESSION_AUDIO_TOO_FAST);
	say(s, 1500);
	int on = wait_for('1', 1);
	print_message("speech_started at %lld ms (6000 dropped, then 500 of silence)\n",
		      (long long)evs[on].ms);
	assert_true(evs[on].ms >= 6000 + 500 - PARLEY_TURN_PREFIX_MAX);
	assert_true(evs[on].ms <= 6000 + 500 + 1000);
	wait_for('U', 1);
	done(s);
}

/* The prefix: speech_started's audio_ms is the onset less the prefix kept
 * before it. The pre-roll is sized for the prefix set when audio comes
 * (400 ms by default) and grows when a session asks for more mid-stream:
 * 1000 ms asked for after a second of audio was heard starts the same
 * speech a full second before the onset (the onset found with prefix 0). */
static int64_t started_ms(int prefix_before, int prefix_after)
{
	struct parley_turns t;
	parley_turns_defaults(&t);
	t.create_response = false;
	t.prefix_ms = prefix_before;
	struct parley_session *s = make(&t);
	send_audio(s, NULL, 16000);
	usleep(300000); /* heard, with the pre-roll of prefix_before */
	t.prefix_ms = prefix_after;
	assert_int_equal(parley_session_set_turns(s, &t), 0);
	say(s, 1500);
	int on = wait_for('1', 1);
	int64_t ms = evs[on].ms;
	wait_for('U', 1);
	done(s);
	return ms;
}

static void the_prefix_grows_when_asked(void **state)
{
	(void)state;
	int64_t onset = started_ms(0, 0);
	int64_t kept = started_ms(400, 400);
	int64_t grown = started_ms(400, PARLEY_TURN_PREFIX_MAX);
	print_message("speech_started at %lld ms (prefix 0), %lld (400), %lld (400 -> %d)\n",
		      (long long)onset, (long long)kept, (long long)grown, PARLEY_TURN_PREFIX_MAX);
	assert_true(onset > 1500);
	assert_int_equal(onset - kept, 400);
	assert_int_equal(onset - grown, PARLEY_TURN_PREFIX_MAX);
}

static void barge_in_on_the_playback_estimate(void **state)
{
	(void)state;
	struct parley_session *s = make(NULL);
	parley_session_user_turn(s, "kind:slow", 9);
	wait_for('S', 1);
	say(s, 1500);
	int f = wait_for('F', 1);
	int on = wait_for('1', 1);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_INTERRUPTED);
	assert_true(on < f); /* speech_started, then the barge-in */
	assert_true(index_of('T') > on);
	wait_for('U', 1); /* the speech is the next turn */
	done(s);

	/* interrupt_response false: the answer plays on */
	struct parley_turns t;
	parley_turns_defaults(&t);
	t.interrupt_response = false;
	t.create_response = false;
	s = make(&t);
	parley_session_user_turn(s, "kind:slow", 9);
	wait_for('S', 1);
	say(s, 1500);
	f = wait_for('F', 1);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_COMPLETE);
	assert_int_equal(count('T'), 0);
	done(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vad_turn_speech_events_then_the_answer),
		cmocka_unit_test(manual_turns_wait_for_the_commit),
		cmocka_unit_test(unanswered_turns_join_the_history),
		cmocka_unit_test(truncate_cuts_the_history_to_the_audio_played),
		cmocka_unit_test(truncate_cuts_the_answer_it_names),
		cmocka_unit_test(a_vad_turn_end_is_a_cut),
		cmocka_unit_test(a_commit_names_the_utterance_it_ends),
		cmocka_unit_test(manual_turns_hold_no_decoder_until_the_commit),
		cmocka_unit_test(commits_are_bounded),
		cmocka_unit_test(dropped_audio_counts_on_the_input_clock),
		cmocka_unit_test(barge_in_on_the_playback_estimate),
		cmocka_unit_test(the_prefix_grows_when_asked),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
