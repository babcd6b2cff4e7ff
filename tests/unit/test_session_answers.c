/*
 * Unit tests: a session's answers as the Realtime contract sees them
 * (session.h), on real sessions with a real worker pool and the real LLM
 * engine talking to a fake chat server in this process (fake_chat.h):
 * answer_started and exactly one answer_final per answer with the right
 * outcome (complete, failed before its error, cancelled by
 * cancel_response or by a newer turn), respond() and PARLEY_E_BUSY, the
 * turn rate limit, add_user_text, cancel_response keeping what was sent in
 * the history, per-session instructions reaching the request, and the
 * setters' ranges. Text-only sessions (no speech): the speech side is in
 * test_session_turns.c.
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

#include "fake_chat.h"
#include "llm/engine.h"
#include "session/limits.h"
#include "session/session.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/workers.h"

/* ---- what the session says, in order ----------------------------------- */

#define MAX_EV 256
struct ev {
	char kind; /* S started, F final, P partial, E error */
	int how;   /* F: outcome; E: problem */
	char text[512];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct ev evs[MAX_EV]; /* guarded by lock */
static int nev;

static void add(char kind, int how, const char *text, size_t len)
{
	pthread_mutex_lock(&lock);
	if (nev < MAX_EV) {
		struct ev *e = &evs[nev++];
		e->kind = kind;
		e->how = how;
		snprintf(e->text, sizeof e->text, "%.*s", (int)len, text ? text : "");
	}
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void on_error(struct parley_session *s, enum parley_session_problem p, const char *m)
{
	(void)s;
	add('E', (int)p, m, strlen(m));
}

static void on_partial(struct parley_session *s, const char *t, size_t n)
{
	(void)s;
	add('P', 0, t, n);
}

static uint64_t last_answer; /* guarded by lock: answer_started's number */

static void on_started(struct parley_session *s, uint64_t answer)
{
	(void)s;
	pthread_mutex_lock(&lock);
	last_answer = answer;
	pthread_mutex_unlock(&lock);
	add('S', 0, NULL, 0);
}

static void nothing_committed(struct parley_session *s, int64_t ms, bool opened)
{
	(void)s, (void)ms, (void)opened;
}

static void on_final(struct parley_session *s, const char *t, size_t n, enum parley_answer_outcome how)
{
	(void)s;
	add('F', (int)how, t, n);
}

static void nothing(struct parley_session *s)
{
	(void)s;
}

static void nothing_text(struct parley_session *s, const char *t)
{
	(void)s, (void)t;
}

static void nothing_final(struct parley_session *s, const char *t, const char *whole)
{
	(void)s, (void)t, (void)whole;
}

static void nothing_ms(struct parley_session *s, int64_t ms)
{
	(void)s, (void)ms;
}

static void nothing_audio(struct parley_session *s, const int16_t *p, size_t n)
{
	(void)s, (void)p, (void)n;
}

static const struct parley_session_events events = {
	.status = nothing,
	.error = on_error,
	.answer_partial = on_partial,
	.answer_started = on_started,
	.answer_final = on_final,
	.user_partial = nothing_text,
	.user_final = nothing_final,
	.speech_started = nothing_ms,
	.speech_stopped = nothing_ms,
	.committed = nothing_committed,
	.user_failed = nothing_text,
	.audio = nothing_audio,
	.stop_tts = nothing,
	.tts_interruption = nothing,
	.input_rate_inferred = nothing,
};

/* Waits (up to 10 s) until `count` events of `kind` were seen; returns the
 * index of the last of them. */
static int wait_for(char kind, int count)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&lock);
	for (;;) {
		int seen = 0, at = -1;
		for (int i = 0; i < nev; i++)
			if (evs[i].kind == kind && ++seen == count)
				at = i;
		if (at >= 0) {
			pthread_mutex_unlock(&lock);
			return at;
		}
		if (pthread_cond_timedwait(&cond, &lock, &until) != 0) {
			pthread_mutex_unlock(&lock);
			fail_msg("waited 10 s for %d events '%c' (%d events seen)", count, kind, nev);
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

static struct parley_config cfg; /* outlives the engine (borrowed) */
static struct parley_llm_engine *llm;
static struct parley_workers *workers;
static struct parley_session_limits limits;

static void on_wake(void *arg)
{
	(void)arg;
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
	llm = parley_llm_engine_create(&cfg, "You are a test.");
	workers = parley_workers_create(2);
	if (!llm || !workers)
		return -1;
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
	parley_workers_destroy(workers);
	fake_chat_stop();
	return 0;
}

/* A text-only session; turns_per_minute 0: the default. */
static struct parley_session *make(int turns_per_minute)
{
	struct parley_config c;
	parley_config_defaults(&c);
	if (turns_per_minute)
		c.turns_per_minute = turns_per_minute;
	parley_session_limits_init(&limits, &c);
	pthread_mutex_lock(&lock);
	nev = 0;
	pthread_mutex_unlock(&lock);
	struct parley_session_params p = {
		.id = 1,
		.events = &events,
		.workers = workers,
		.wake = on_wake,
		.llm = llm,
		.history_chars = 4000,
		.limits = &limits,
		.merge_turns = true, /* the default (--turn-merging on) */
	};
	struct parley_session *s = parley_session_create(&p);
	assert_non_null(s);
	return s;
}

static void done(struct parley_session *s)
{
	parley_session_close(s);
	parley_session_unref(s);
	usleep(100000); /* the engine's late callbacks hold their own references */
}

/* Every answer_started has exactly one answer_final, after it. */
static void check_pairs(void)
{
	pthread_mutex_lock(&lock);
	int open = 0;
	for (int i = 0; i < nev; i++) {
		if (evs[i].kind == 'S') {
			assert_int_equal(open, 0);
			open = 1;
		} else if (evs[i].kind == 'F') {
			assert_int_equal(open, 1);
			open = 0;
		} else if (evs[i].kind == 'P') {
			assert_int_equal(open, 1); /* partials only inside an answer */
		}
	}
	pthread_mutex_unlock(&lock);
}

/* ---- tests ------------------------------------------------------------- */

static void typed_turn_starts_and_completes(void **state)
{
	(void)state;
	struct parley_session *s = make(0);
	parley_session_user_turn(s, "hello", 5);
	int f = wait_for('F', 1);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_COMPLETE);
	assert_string_equal(evs[f].text, "one two three four five");
	assert_int_equal(evs[0].kind, 'S');
	check_pairs();
	done(s);
}

static void respond_answers_and_is_busy_meanwhile(void **state)
{
	(void)state;
	struct parley_session *s = make(0);
	assert_int_equal(parley_session_add_user_text(s, "", 0), PARLEY_E_RANGE);
	assert_int_equal(parley_session_add_user_text(s, "kind:slow", 9), 0);
	assert_int_equal(parley_session_respond(s), 0);
	assert_int_equal(parley_session_respond(s), PARLEY_E_BUSY);
	int f = wait_for('F', 1);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_COMPLETE);
	assert_string_equal(evs[f].text, "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 "
					 "w16 w17 w18 w19");
	/* over: another may be asked for, and it sees the whole conversation */
	assert_int_equal(parley_session_add_user_text(s, "kind:history", 12), 0);
	assert_int_equal(parley_session_respond(s), 0);
	f = wait_for('F', 2);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_COMPLETE);
	assert_string_equal(evs[f].text,
			    "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19");
	assert_int_equal(count('S'), 2);
	check_pairs();
	done(s);
}

static void failure_ends_failed_before_the_error(void **state)
{
	(void)state;
	struct parley_session *s = make(0);
	assert_int_equal(parley_session_add_user_text(s, "kind:fail", 9), 0);
	assert_int_equal(parley_session_respond(s), 0);
	int e = wait_for('E', 1);
	int f = wait_for('F', 1);
	assert_true(f < e);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_FAILED);
	assert_string_equal(evs[f].text, "");
	assert_int_equal(evs[e].how, PARLEY_SESSION_LLM_ERROR);
	check_pairs();
	/* no longer in flight */
	assert_int_equal(parley_session_cancel_response(s), PARLEY_E_NOTFOUND);
	done(s);
}

static void cancel_keeps_what_was_sent(void **state)
{
	(void)state;
	struct parley_session *s = make(0);
	assert_int_equal(parley_session_cancel_response(s), PARLEY_E_NOTFOUND);
	assert_int_equal(parley_session_add_user_text(s, "kind:slow", 9), 0);
	assert_int_equal(parley_session_respond(s), 0);
	wait_for('P', 3);
	assert_int_equal(parley_session_cancel_response(s), 0);
	assert_int_equal(parley_session_cancel_response(s), PARLEY_E_NOTFOUND);
	int f = wait_for('F', 1);
	assert_int_equal(evs[f].how, PARLEY_ANSWER_CANCELLED);
	char sent[512];
	snprintf(sent, sizeof sent, "%s", evs[f].text);
	assert_true(strncmp(sent, "w0 w1 w2", 8) == 0);
	assert_true(strlen(sent) < strlen("w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13"));
	usleep(200000); /* nothing of it comes after its final */
	assert_int_equal(count('F'), 1);
	check_pairs();
	/* the history holds what was sent, marked cut */
	assert_int_equal(parley_session_add_user_text(s, "kind:history", 12), 0);
	assert_int_equal(parley_session_respond(s), 0);
	f = wait_for('F', 2);
	char want[600];
	snprintf(want, sizeof want, "%s...", sent);
	assert_string_equal(evs[f].text, want);
	done(s);
}

static void a_newer_turn_cancels_the_answer_in_flight(void **state)
{
	(void)state;
	struct parley_session *s = make(0);
	parley_session_user_turn(s, "kind:slow", 9);
	wait_for('P', 2);
	parley_session_user_turn(s, "kind:answer", 11);
	int f2 = wait_for('F', 2);
	int f1 = wait_for('F', 1);
	assert_int_equal(evs[f1].how, PARLEY_ANSWER_CANCELLED);
	assert_true(strncmp(evs[f1].text, "w0 w1", 5) == 0);
	assert_int_equal(evs[f2].how, PARLEY_ANSWER_COMPLETE);
	assert_string_equal(evs[f2].text, "one two three four five");
	assert_int_equal(count('S'), 2);
	check_pairs();
	/* clear_history cancels too */
	parley_session_user_turn(s, "kind:slow", 9);
	wait_for('S', 3);
	parley_session_clear_history(s);
	int f3 = wait_for('F', 3);
	assert_int_equal(evs[f3].how, PARLEY_ANSWER_CANCELLED);
	check_pairs();
	done(s);
}

static void instructions_reach_the_request(void **state)
{
	(void)state;
	struct parley_session *s = make(0);
	char big[PARLEY_INSTRUCTIONS_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(parley_session_set_instructions(s, big), PARLEY_E_RANGE);
	assert_int_equal(parley_session_set_instructions(s, "bad \xff utf-8"), PARLEY_E_RANGE);
	assert_int_equal(parley_session_set_instructions(s, "You are a pirate."), 0);
	parley_session_user_turn(s, "kind:prompt", 11);
	int f = wait_for('F', 1);
	assert_string_equal(evs[f].text, "You are a pirate.");
	assert_int_equal(parley_session_set_instructions(s, NULL), 0); /* the server's again */
	assert_int_equal(parley_session_add_user_text(s, "kind:prompt", 11), 0);
	assert_int_equal(parley_session_respond(s), 0);
	f = wait_for('F', 2);
	assert_string_equal(evs[f].text, "You are a test.");
	done(s);
}

static void respond_counts_as_a_turn(void **state)
{
	(void)state;
	struct parley_session *s = make(4); /* a burst of one */
	assert_int_equal(parley_session_add_user_text(s, "hi", 2), 0);
	assert_int_equal(parley_session_respond(s), 0);
	wait_for('F', 1);
	assert_int_equal(parley_session_respond(s), PARLEY_E_RANGE);
	/* the caller tells its client (with its request's id): the session
	 * reports nothing */
	usleep(200000);
	assert_int_equal(count('E'), 0);
	assert_int_equal(count('S'), 1); /* the refused one never started */
	/* a spoken or typed turn refused is still reported by the session */
	parley_session_user_turn(s, "again", 5);
	int e = wait_for('E', 1);
	assert_int_equal(evs[e].how, PARLEY_SESSION_RATE_LIMITED);
	done(s);
}

/* Field by field: the structs' padding bytes are unspecified. */
static void assert_turns_equal(const struct parley_turns *a, const struct parley_turns *b)
{
	assert_int_equal(a->mode, b->mode);
	assert_true(a->threshold == b->threshold);
	assert_int_equal(a->prefix_ms, b->prefix_ms);
	assert_int_equal(a->silence_ms, b->silence_ms);
	assert_int_equal(a->create_response, b->create_response);
	assert_int_equal(a->interrupt_response, b->interrupt_response);
}

static void settings_and_their_ranges(void **state)
{
	(void)state;
	struct parley_session *s = make(0);
	struct parley_turns t, d;
	parley_turns_defaults(&d);
	parley_session_get_turns(s, &t);
	assert_turns_equal(&t, &d);
	assert_int_equal(t.mode, PARLEY_TURNS_ADAPTIVE);
	assert_true(t.create_response && t.interrupt_response);
	struct parley_turns bad = d;
	bad.threshold = 1.5;
	assert_int_equal(parley_session_set_turns(s, &bad), PARLEY_E_RANGE);
	bad = d;
	bad.threshold = -0.1;
	assert_int_equal(parley_session_set_turns(s, &bad), PARLEY_E_RANGE);
	bad = d;
	bad.prefix_ms = PARLEY_TURN_PREFIX_MAX + 1;
	assert_int_equal(parley_session_set_turns(s, &bad), PARLEY_E_RANGE);
	bad = d;
	bad.silence_ms = PARLEY_TURN_SILENCE_MIN - 1;
	assert_int_equal(parley_session_set_turns(s, &bad), PARLEY_E_RANGE);
	bad = d;
	bad.silence_ms = PARLEY_TURN_SILENCE_MAX + 1;
	assert_int_equal(parley_session_set_turns(s, &bad), PARLEY_E_RANGE);
	bad = d;
	bad.mode = (enum parley_turn_mode)7;
	assert_int_equal(parley_session_set_turns(s, &bad), PARLEY_E_RANGE);
	parley_session_get_turns(s, &t);
	assert_turns_equal(&t, &d); /* unchanged */
	struct parley_turns ok = { PARLEY_TURNS_FIXED, 0.8, 0, 700, false, false };
	assert_int_equal(parley_session_set_turns(s, &ok), 0);
	parley_session_get_turns(s, &t);
	assert_turns_equal(&t, &ok);
	/* nothing to commit, nothing spoken to cut */
	assert_int_equal(parley_session_commit_audio(s), PARLEY_E_RANGE);
	parley_session_clear_audio(s);
	assert_int_equal(parley_session_truncate_answer(s, 1, -1), PARLEY_E_RANGE);
	assert_int_equal(parley_session_truncate_answer(s, 1, 0), PARLEY_E_NOTFOUND);
	parley_session_user_turn(s, "hi", 2);
	wait_for('F', 1);
	pthread_mutex_lock(&lock);
	uint64_t a = last_answer;
	pthread_mutex_unlock(&lock);
	assert_int_equal(a, 1); /* the session's first answer */
	assert_int_equal(parley_session_truncate_answer(s, a, 0), PARLEY_E_NOTFOUND); /* text only */
	assert_int_equal(parley_session_truncate_answer(s, 0, 0), PARLEY_E_NOTFOUND);
	done(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(typed_turn_starts_and_completes),
		cmocka_unit_test(respond_answers_and_is_busy_meanwhile),
		cmocka_unit_test(failure_ends_failed_before_the_error),
		cmocka_unit_test(cancel_keeps_what_was_sent),
		cmocka_unit_test(a_newer_turn_cancels_the_answer_in_flight),
		cmocka_unit_test(instructions_reach_the_request),
		cmocka_unit_test(respond_counts_as_a_turn),
		cmocka_unit_test(settings_and_their_ranges),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
