/* Unit tests: the HTTP speech-to-text engine (src/stt/openai.c) on a real
 * HTTP pool against an in-process HTTP/1.1 server that answers one request
 * at a time, like whisper.cpp's server: what it posts (the multipart form,
 * the WAV), the end it reports (exactly once: OK, ERROR with its cause,
 * CANCELLED), partials, cancel closing the connection, a full queue, the
 * total timeout, and the warm-up's sentences. No timing assertions. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/http.h"
#include "stt/stt.h"
#include "util/config.h"
#include "util/err.h"

enum mode { ANSWER, STALL, FAIL500, NOTFOUND };

static struct {
	int fd, port;
	pthread_t thread;
	atomic_bool stop;
	atomic_int mode;
	atomic_int delay_ms;
	atomic_int requests;
	atomic_int closed_by_client; /* stalled requests whose client hung up */
	pthread_mutex_t lock;        /* guards last */
	char *last;                  /* the last request, head and body */
	size_t last_len;
} srv;

static const struct parley_stt_backend *B = &parley_stt_openai;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool send_str(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

static void respond(int fd, int status, const char *ctype, const char *body)
{
	char head[256];
	snprintf(head, sizeof head,
		 "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		 status, ctype, strlen(body));
	if (send_str(fd, head))
		send_str(fd, body);
}

/* Reads a request (head, Content-Length body) into srv.last. */
static bool read_request(int fd)
{
	size_t cap = 4 << 20, len = 0, want = 0;
	char *buf = malloc(cap + 1);
	char *body = NULL;
	if (!buf)
		return false;
	for (;;) {
		if (len == cap)
			break;
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		if (!body) {
			char *end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			body = end + 4;
			char *cl = strcasestr(buf, "content-length:");
			want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
		}
		if ((size_t)(buf + len - body) >= want) {
			pthread_mutex_lock(&srv.lock);
			free(srv.last);
			srv.last = buf;
			srv.last_len = len;
			pthread_mutex_unlock(&srv.lock);
			return true;
		}
	}
	free(buf);
	return false;
}

static void *serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv.stop)) {
		struct pollfd p = { srv.fd, POLLIN, 0 };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept(srv.fd, NULL, NULL);
		if (c < 0)
			continue;
		if (read_request(c)) {
			atomic_fetch_add(&srv.requests, 1);
			sleep_ms(atomic_load(&srv.delay_ms));
			switch (atomic_load(&srv.mode)) {
			case ANSWER:
				respond(c, 200, "application/json",
					"{\"text\":\" hello\\n world\\n\"}");
				break;
			case FAIL500:
				respond(c, 500, "application/json",
					"{\"error\":{\"message\":\"The server had an error\"}}");
				break;
			case NOTFOUND:
				respond(c, 404, "text/plain", "File Not Found (/v1/audio/transcriptions)");
				break;
			case STALL: {
				/* Never answers: waits for the client to hang up. */
				char b[256];
				while (!atomic_load(&srv.stop)) {
					struct pollfd q = { c, POLLIN, 0 };
					if (poll(&q, 1, 20) > 0 && recv(c, b, sizeof b, 0) <= 0) {
						atomic_fetch_add(&srv.closed_by_client, 1);
						break;
					}
				}
				break;
			}
			}
		}
		close(c);
	}
	return NULL;
}

static int setup(void **state)
{
	memset(&srv, 0, sizeof srv);
	pthread_mutex_init(&srv.lock, NULL);
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (bind(srv.fd, (struct sockaddr *)&a, sizeof a) || listen(srv.fd, 16) ||
	    getsockname(srv.fd, (struct sockaddr *)&a, &al))
		return -1;
	srv.port = ntohs(a.sin_port);
	return pthread_create(&srv.thread, NULL, serve, NULL);
}

static int teardown(void **state)
{
	atomic_store(&srv.stop, true);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	free(srv.last);
	pthread_mutex_destroy(&srv.lock);
	return 0;
}

static void reset(enum mode m, int delay)
{
	atomic_store(&srv.mode, m);
	atomic_store(&srv.delay_ms, delay);
	atomic_store(&srv.requests, 0);
	atomic_store(&srv.closed_by_client, 0);
}

/* ------------------------------------------------------------- a sink */

struct sink {
	pthread_mutex_t lock;
	int ends, partials, partials_after_end;
	enum parley_speech_end end;
	enum parley_speech_cause cause;
	char text[256];
	char partial[256];
	struct parley_stt_job *release_in_partial; /* release() from the partial callback */
};

static void on_partial(void *arg, const char *text)
{
	struct sink *s = arg;
	pthread_mutex_lock(&s->lock);
	s->partials++;
	if (s->ends)
		s->partials_after_end++;
	snprintf(s->partial, sizeof s->partial, "%s", text);
	struct parley_stt_job *rel = s->release_in_partial;
	s->release_in_partial = NULL;
	pthread_mutex_unlock(&s->lock);
	if (rel)
		B->release(rel); /* the one call allowed from a callback */
}

static void on_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		   const char *text)
{
	struct sink *s = arg;
	pthread_mutex_lock(&s->lock);
	s->ends++;
	s->end = end;
	s->cause = cause;
	snprintf(s->text, sizeof s->text, "%s", text);
	pthread_mutex_unlock(&s->lock);
}

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
}

static int ends(struct sink *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->ends;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int partials(struct sink *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->partials;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void wait_end(struct sink *s)
{
	for (int i = 0; i < 1000 && ends(s) == 0; i++) /* 20 s at most */
		sleep_ms(20);
	assert_int_equal(ends(s), 1);
}

static bool wait_atomic(atomic_int *v, int n)
{
	for (int i = 0; i < 1000; i++) {
		if (atomic_load(v) >= n)
			return true;
		sleep_ms(20);
	}
	return false;
}

/* ------------------------------------------------------------ fixtures */

struct rig {
	struct parley_config cfg;
	struct parley_http_pool *pool;
	struct parley_stt_engine *e;
};

static void rig_up(struct rig *r, void (*tweak)(struct parley_config *))
{
	parley_config_defaults(&r->cfg);
	strcpy(r->cfg.stt, "openai");
	snprintf(r->cfg.stt_url, sizeof r->cfg.stt_url, "http://127.0.0.1:%d", srv.port);
	r->cfg.stt_timeout_ms = 10000;
	if (tweak)
		tweak(&r->cfg);
	r->pool = parley_http_pool_create();
	assert_non_null(r->pool);
	struct parley_speech_env env = { .http = r->pool };
	char why[512] = "";
	r->e = B->create(&r->cfg, &env, why, sizeof why);
	assert_non_null(r->e);
}

static void rig_down(struct rig *r)
{
	B->destroy(r->e);
	parley_http_pool_destroy(r->pool);
}

static struct parley_stt_job *start_job(struct rig *r, struct sink *s)
{
	const struct parley_stt_sink sk = { .partial = on_partial, .end = on_end, .arg = s };
	int err = 0;
	struct parley_stt_job *j = B->start(r->e, &sk, &err);
	assert_non_null(j);
	return j;
}

/* ms of a 300 Hz tone in 20 ms pieces; sleeps pause_ms after each piece. */
static void feed_ms(struct parley_stt_job *j, int ms, int pause_ms)
{
	int16_t piece[320];
	for (int i = 0; i < 320; i++)
		piece[i] = (int16_t)((i % 53) * 300 - 8000);
	for (int t = 0; t < ms; t += 20) {
		assert_int_equal(B->feed(j, piece, 320), 0);
		if (pause_ms)
			sleep_ms(pause_ms);
	}
}

static void with_key(struct parley_config *c)
{
	strcpy(c->stt_api_key, "sk-unit-test-key");
	strcpy(c->stt_language, "de");
}

/* --------------------------------------------------------------- tests */

static void posts_the_utterance_and_reports_the_transcript(void **state)
{
	reset(ANSWER, 0);
	struct rig r;
	rig_up(&r, with_key);
	struct sink s;
	sink_init(&s);
	struct parley_stt_job *j = start_job(&r, &s);
	feed_ms(j, 1000, 0);
	B->finish(j);
	wait_end(&s);
	assert_int_equal(s.end, PARLEY_SPEECH_OK);
	assert_string_equal(s.text, "hello world");
	assert_int_equal(B->feed(j, (int16_t[1]){ 0 }, 1), PARLEY_E_CLOSED);
	B->release(j);

	pthread_mutex_lock(&srv.lock);
	const char *q = srv.last;
	assert_non_null(strstr(q, "POST /v1/audio/transcriptions HTTP/1.1\r\n"));
	assert_non_null(strstr(q, "Authorization: Bearer sk-unit-test-key\r\n"));
	assert_non_null(strcasestr(q, "Content-Type: multipart/form-data; boundary="));
	assert_non_null(strstr(q, "name=\"model\"\r\n\r\nwhisper-1\r\n"));
	assert_non_null(strstr(q, "name=\"language\"\r\n\r\nde\r\n"));
	assert_non_null(strstr(q, "name=\"response_format\"\r\n\r\njson\r\n"));
	const char *f = strstr(q, "name=\"file\"; filename=\"audio.wav\"\r\nContent-Type: audio/wav\r\n\r\n");
	assert_non_null(f);
	const uint8_t *wav = (const uint8_t *)strstr(f, "\r\n\r\n") + 4;
	assert_memory_equal(wav, "RIFF", 4);
	uint32_t rate = wav[24] | wav[25] << 8 | wav[26] << 16 | (uint32_t)wav[27] << 24;
	uint32_t data = wav[40] | wav[41] << 8 | wav[42] << 16 | (uint32_t)wav[43] << 24;
	assert_int_equal(rate, 16000);
	assert_int_equal(data, 32000); /* one second */
	pthread_mutex_unlock(&srv.lock);
	rig_down(&r);
}

static void empty_utterance_needs_no_request(void **state)
{
	reset(ANSWER, 0);
	struct rig r;
	rig_up(&r, NULL);
	struct sink s;
	sink_init(&s);
	struct parley_stt_job *j = start_job(&r, &s);
	B->finish(j);
	assert_int_equal(ends(&s), 1); /* before finish() returned */
	assert_int_equal(s.end, PARLEY_SPEECH_OK);
	assert_string_equal(s.text, "");
	assert_int_equal(atomic_load(&srv.requests), 0);
	B->release(j);
	rig_down(&r);
}

static void with_partials(struct parley_config *c)
{
	c->stt_partial_ms = 200;
}

static void partials_while_speaking_never_after_the_end(void **state)
{
	reset(ANSWER, 10);
	struct rig r;
	rig_up(&r, with_partials);
	struct sink s;
	sink_init(&s);
	struct parley_stt_job *j = start_job(&r, &s);
	feed_ms(j, 1200, 10); /* about real time: answers come back meanwhile */
	for (int i = 0; i < 200 && partials(&s) == 0; i++)
		sleep_ms(20);
	assert_true(partials(&s) >= 1);
	assert_string_equal(s.partial, "hello world");
	B->finish(j);
	wait_end(&s);
	assert_int_equal(s.end, PARLEY_SPEECH_OK);
	sleep_ms(100);
	assert_int_equal(s.partials_after_end, 0);
	assert_true(atomic_load(&srv.requests) >= 2); /* partials + the final */
	B->release(j);
	rig_down(&r);
}

static void release_from_the_partial_callback(void **state)
{
	reset(ANSWER, 0);
	struct rig r;
	rig_up(&r, with_partials);
	struct sink s;
	sink_init(&s);
	struct parley_stt_job *j = start_job(&r, &s);
	s.release_in_partial = j;
	feed_ms(j, 220, 0); /* one partial posted; the callback releases the job */
	for (int i = 0; i < 500 && ends(&s) == 0; i++)
		sleep_ms(20);
	assert_int_equal(ends(&s), 1);
	assert_int_equal(s.end, PARLEY_SPEECH_CANCELLED);
	assert_int_equal(partials(&s), 1);
	rig_down(&r); /* ASan: the job is freed once its request ended */
}

static void long_timeout(struct parley_config *c)
{
	c->stt_timeout_ms = 120000; /* only the cancel can close the connection in time */
}

static void cancel_closes_the_connection(void **state)
{
	reset(STALL, 0);
	struct rig r;
	rig_up(&r, long_timeout);
	struct sink s;
	sink_init(&s);
	struct parley_stt_job *j = start_job(&r, &s);
	feed_ms(j, 400, 0);
	B->finish(j);
	assert_true(wait_atomic(&srv.requests, 1));
	assert_int_equal(ends(&s), 0);
	B->cancel(j);
	assert_int_equal(ends(&s), 1);
	assert_int_equal(s.end, PARLEY_SPEECH_CANCELLED);
	assert_true(wait_atomic(&srv.closed_by_client, 1)); /* the service saw it */
	B->cancel(j); /* twice: nothing more */
	B->release(j);
	assert_int_equal(ends(&s), 1);
	rig_down(&r);
}

static void short_timeout(struct parley_config *c)
{
	c->stt_timeout_ms = 300;
}

static void a_stuck_service_times_out(void **state)
{
	reset(STALL, 0);
	struct rig r;
	rig_up(&r, short_timeout);
	struct sink s;
	sink_init(&s);
	struct parley_stt_job *j = start_job(&r, &s);
	feed_ms(j, 200, 0);
	B->finish(j);
	wait_end(&s);
	assert_int_equal(s.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(s.cause, PARLEY_SPEECH_CAUSE_TIMEOUT);
	assert_string_equal(s.text, "the transcription service did not answer in time");
	B->release(j);
	rig_down(&r);
}

static void one_slot_no_queue(struct parley_config *c)
{
	c->stt_max_inflight = 1;
	c->stt_max_queue = 0;
}

static void a_full_queue_is_busy(void **state)
{
	reset(STALL, 0);
	struct rig r;
	rig_up(&r, one_slot_no_queue);
	struct sink a, b;
	sink_init(&a);
	sink_init(&b);
	struct parley_stt_job *ja = start_job(&r, &a);
	struct parley_stt_job *jb = start_job(&r, &b);
	feed_ms(ja, 100, 0);
	feed_ms(jb, 100, 0);
	B->finish(ja);
	B->finish(jb);
	assert_int_equal(ends(&b), 1); /* at once: no slot, no queue */
	assert_int_equal(b.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(b.cause, PARLEY_SPEECH_CAUSE_BUSY);
	assert_string_equal(b.text, "the transcription service is saturated");
	B->release(ja); /* cancels the stuck one */
	B->release(jb);
	assert_int_equal(ends(&a), 1);
	assert_int_equal(a.end, PARLEY_SPEECH_CANCELLED);
	rig_down(&r);
}

static void service_errors_reach_the_user(void **state)
{
	reset(FAIL500, 0);
	struct rig r;
	rig_up(&r, NULL);
	struct sink s;
	sink_init(&s);
	struct parley_stt_job *j = start_job(&r, &s);
	feed_ms(j, 100, 0);
	B->finish(j);
	wait_end(&s);
	assert_int_equal(s.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(s.cause, PARLEY_SPEECH_CAUSE_HTTP);
	assert_string_equal(s.text, "the transcription service failed (HTTP 500: The server had an error)");
	B->release(j);
	rig_down(&r);
}

static void warm_up_sentences(void **state)
{
	struct rig r;
	rig_up(&r, NULL);
	char why[512] = "";
	struct parley_speech_info info = { .warmup_ms = -1 };
	reset(ANSWER, 0);
	assert_int_equal(B->warm(r.e, why, sizeof why), 0);
	B->info(r.e, &info);
	assert_string_equal(info.engine, "openai");
	assert_string_equal(info.model, "whisper-1");
	assert_true(info.remote);
	assert_true(info.warmup_ms >= 0);
	pthread_mutex_lock(&srv.lock);
	assert_non_null(strstr(srv.last, "name=\"model\""));
	pthread_mutex_unlock(&srv.lock);

	reset(NOTFOUND, 0);
	assert_int_equal(B->warm(r.e, why, sizeof why), -1);
	assert_non_null(strstr(why, "has no /v1/audio/transcriptions (HTTP 404"));
	assert_non_null(strstr(why, "--stt-path /inference"));
	rig_down(&r);

	/* Nobody listening. */
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	strcpy(cfg.stt_url, "http://127.0.0.1:1");
	struct parley_http_pool *pool = parley_http_pool_create();
	struct parley_speech_env env = { .http = pool };
	struct parley_stt_engine *e = B->create(&cfg, &env, why, sizeof why);
	assert_non_null(e);
	assert_int_equal(B->warm(e, why, sizeof why), -1);
	assert_non_null(strstr(why, "cannot connect to the transcription service at 127.0.0.1:1"));
	B->destroy(e);
	parley_http_pool_destroy(pool);
}

struct warm_call {
	struct parley_stt_engine *e;
	int rc;
	char why[512];
	atomic_bool done;
};

static void *warm_thread(void *arg)
{
	struct warm_call *w = arg;
	w->rc = B->warm(w->e, w->why, sizeof w->why);
	atomic_store(&w->done, true);
	return NULL;
}

static void warm_up_can_be_stopped(void **state)
{
	reset(STALL, 0);
	struct rig r;
	rig_up(&r, long_timeout); /* only the abort can end it in time */
	struct warm_call w = { .e = r.e };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, warm_thread, &w), 0);
	assert_true(wait_atomic(&srv.requests, 1));
	B->warm_abort(r.e);
	for (int i = 0; i < 500 && !atomic_load(&w.done); i++)
		sleep_ms(20);
	assert_true(atomic_load(&w.done));
	pthread_join(t, NULL);
	assert_int_equal(w.rc, -1);
	assert_string_equal(w.why, "the warm-up was stopped");
	assert_true(wait_atomic(&srv.closed_by_client, 1));
	rig_down(&r);
}

static void create_needs_a_url(void **state)
{
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	struct parley_http_pool *pool = parley_http_pool_create();
	struct parley_speech_env env = { .http = pool };
	char why[512] = "";
	assert_null(B->create(&cfg, &env, why, sizeof why));
	assert_non_null(strstr(why, "--stt openai needs --stt-url"));
	parley_http_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(posts_the_utterance_and_reports_the_transcript),
		cmocka_unit_test(empty_utterance_needs_no_request),
		cmocka_unit_test(partials_while_speaking_never_after_the_end),
		cmocka_unit_test(release_from_the_partial_callback),
		cmocka_unit_test(cancel_closes_the_connection),
		cmocka_unit_test(a_stuck_service_times_out),
		cmocka_unit_test(a_full_queue_is_busy),
		cmocka_unit_test(service_errors_reach_the_user),
		cmocka_unit_test(warm_up_sentences),
		cmocka_unit_test(warm_up_can_be_stopped),
		cmocka_unit_test(create_needs_a_url),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
