/* Unit tests: the shared LLM engine (src/llm/engine.c) used from several
 * threads at once, against a tiny OpenAI-compatible HTTP server that runs
 * in this process (one thread per connection, loopback only).
 *
 * What the server answers is chosen by the user message, so every outcome
 * is deterministic whatever the scheduling:
 *   "kind:answer" five tokens, then [DONE]          -> END_OK, the full text
 *   "kind:hang"   one token, then silence until the client hangs up
 *                 (only a cancel ends it)             -> END_CANCELLED
 *   "kind:fail"   HTTP 500 with an error body         -> END_ERROR (http_status)
 *   "kind:die"    one token, then the connection closes -> END_ERROR
 * Checked: every accepted request gets exactly one end callback, with the
 * right outcome; submit and cancel from many threads at once; a full queue
 * refuses at once and never calls back; destroy ends what is pending.
 * Speculative requests: an ordinary one never waits behind them (it takes
 * a free slot first, or preempts the newest running speculation, which
 * ends CANCELLED and cannot be promoted); they wait for a free slot with
 * no ordinary request waiting; they never make an ordinary submit fail; a
 * promoted one is never preempted; and all of it from several threads.
 * Races are the business of `make tsan`, which runs this file under TSan. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "llm/engine.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/readiness.h"

/* ---- the fake server --------------------------------------------------- */

#define MAX_CONNS 512

struct fake {
	int fd;
	int port;
	atomic_bool stop;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_t conns[MAX_CONNS]; /* guarded by lock; joined at stop */
	int nconns;
	atomic_int requests; /* chat requests seen */
};

struct conn_arg {
	struct fake *f;
	int fd;
};

static bool send_all(int fd, const char *s)
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

static bool send_token(int fd, const char *text)
{
	char ev[256];
	snprintf(ev, sizeof ev, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"}}]}\n\n",
		 text);
	return send_all(fd, ev);
}

/* Reads the request head and body (Content-Length); returns the body or NULL. */
static char *read_request(int fd)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return NULL;
	char *body = NULL;
	size_t want = 0;
	for (;;) {
		if (len == cap)
			goto fail;
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r <= 0)
			goto fail;
		len += (size_t)r;
		buf[len] = '\0';
		if (!body) {
			char *end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			body = end + 4;
			want = 0;
			for (const char *h = buf; h && h < end;) { /* header lines */
				if (strncasecmp(h, "content-length:", 15) == 0)
					want = strtoul(h + 15, NULL, 10);
				h = strstr(h, "\r\n");
				h = h ? h + 2 : NULL;
			}
		}
		if ((size_t)(buf + len - body) >= want)
			break;
	}
	memmove(buf, body, (size_t)(buf + len - body) + 1);
	return buf;
fail:
	free(buf);
	return NULL;
}

/* Waits until the client closes the connection (or the server stops). */
static void wait_hangup(struct fake *f, int fd)
{
	while (!atomic_load(&f->stop)) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 50) > 0) {
			char c[256];
			if (recv(fd, c, sizeof c, 0) <= 0)
				return;
		}
	}
}

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			       "Connection: close\r\n\r\n";

static void *serve_conn(void *arg)
{
	struct conn_arg *ca = arg;
	struct fake *f = ca->f;
	int fd = ca->fd;
	free(ca);
	char *body = read_request(fd);
	if (!body)
		goto out;
	atomic_fetch_add(&f->requests, 1);
	if (strstr(body, "kind:fail")) {
		const char *err = "{\"error\":{\"message\":\"the fake model failed\"}}";
		char head[256];
		snprintf(head, sizeof head,
			 "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 strlen(err));
		if (send_all(fd, head))
			send_all(fd, err);
	} else if (strstr(body, "kind:hang")) {
		if (send_all(fd, sse_head) && send_token(fd, "wait "))
			wait_hangup(f, fd);
	} else if (strstr(body, "kind:die")) {
		if (send_all(fd, sse_head))
			send_token(fd, "partial ");
	} else { /* kind:answer and the warm-up */
		static const char *const tokens[] = { "one ", "two ", "three ", "four ", "five" };
		bool ok = send_all(fd, sse_head);
		for (size_t i = 0; ok && i < 5; i++) {
			ok = send_token(fd, tokens[i]);
			usleep(1000);
		}
		if (ok)
			send_all(fd, "data: [DONE]\n\n");
	}
out:
	free(body);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	struct fake *f = arg;
	for (;;) {
		int c = accept(f->fd, NULL, NULL);
		if (c < 0) {
			if (atomic_load(&f->stop))
				return NULL;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		struct conn_arg *ca = malloc(sizeof *ca);
		pthread_mutex_lock(&f->lock);
		bool ok = ca && f->nconns < MAX_CONNS;
		if (ok) {
			*ca = (struct conn_arg){ f, c };
			ok = pthread_create(&f->conns[f->nconns], NULL, serve_conn, ca) == 0;
			if (ok)
				f->nconns++;
		}
		pthread_mutex_unlock(&f->lock);
		if (!ok) {
			free(ca);
			close(c);
		}
	}
}

static void fake_start(struct fake *f)
{
	memset(f, 0, sizeof *f);
	pthread_mutex_init(&f->lock, NULL);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(f->fd, 128), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->acceptor, NULL, acceptor_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	shutdown(f->fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(f->acceptor, NULL);
	close(f->fd);
	for (int i = 0; i < f->nconns; i++)
		pthread_join(f->conns[i], NULL);
	pthread_mutex_destroy(&f->lock);
}

/* ---- requests and their callbacks -------------------------------------- */

enum kind { ANSWER, HANG, FAIL, DIE, ANSWER_CANCELLED, NKINDS };
static const char *const kind_names[NKINDS] = { "answer", "hang", "fail", "die", "answer" };

struct call {
	enum kind kind;
	unsigned flags; /* PARLEY_LLM_SPECULATIVE or 0 */
	uint64_t id;
	int submit_rc;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* guarded by lock (written on the engine thread) */
	char text[128];
	size_t len;
	int ends;
	enum parley_llm_end end;
	enum parley_llm_cause cause;
};

static void on_token(void *ud, const char *text, size_t len)
{
	struct call *c = ud;
	pthread_mutex_lock(&c->lock);
	if (c->len + len < sizeof c->text) {
		memcpy(c->text + c->len, text, len);
		c->len += len;
		c->text[c->len] = '\0';
	}
	pthread_mutex_unlock(&c->lock);
}

static void on_end(void *ud, enum parley_llm_end end, enum parley_llm_cause cause,
		   const char *message)
{
	struct call *c = ud;
	pthread_mutex_lock(&c->lock);
	c->ends++;
	c->end = end;
	c->cause = cause;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void call_init(struct call *c, enum kind k)
{
	memset(c, 0, sizeof *c);
	c->kind = k;
	c->submit_rc = 1; /* not submitted */
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
}

static void call_destroy(struct call *c)
{
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

static int submit(struct parley_llm_engine *e, struct call *c)
{
	char content[64], why[256];
	snprintf(content, sizeof content, "kind:%s", kind_names[c->kind]);
	json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", content);
	struct parley_llm_callbacks cb = { on_token, on_end, c };
	c->submit_rc = parley_llm_submit(e, msgs, &cb, c->flags, &c->id, why, sizeof why);
	return c->submit_rc;
}

/* Waits (up to 20 s) for the end callback; returns how many there were. */
static int wait_end(struct call *c)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&c->lock);
	while (!c->ends && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
		;
	int n = c->ends;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Has the end callback run (so far)? */
static int ends_of(struct call *c)
{
	pthread_mutex_lock(&c->lock);
	int n = c->ends;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Waits (up to 10 s) until the fake server has seen n chat requests. */
static void wait_requests(struct fake *f, int n)
{
	for (int i = 0; i < 1000 && atomic_load(&f->requests) < n; i++)
		usleep(10000);
	assert_true(atomic_load(&f->requests) >= n);
}

/* ---- the engine -------------------------------------------------------- */

static struct parley_config cfg; /* outlives each engine (borrowed) */

static struct parley_llm_engine *engine_start(struct fake *f, int inflight, int queue)
{
	parley_config_defaults(&cfg);
	snprintf(cfg.llm_backend, sizeof cfg.llm_backend, "openai");
	snprintf(cfg.llm_url, sizeof cfg.llm_url, "http://127.0.0.1:%d", f->port);
	snprintf(cfg.llm_model, sizeof cfg.llm_model, "fake-model");
	cfg.llm_max_inflight = inflight;
	cfg.llm_max_queue = queue;
	cfg.llm_first_token_timeout_ms = 60000; /* only a cancel ends "hang" */
	cfg.llm_stall_timeout_ms = 60000;
	struct parley_llm_engine *e = parley_llm_engine_create(&cfg, "You are a test.");
	assert_non_null(e);
	for (int i = 0; i < 1000; i++) { /* warm-up: one answer from the fake */
		struct parley_llm_info info;
		parley_llm_engine_info(e, &info);
		if (info.state == PARLEY_LLM_READY)
			return e;
		usleep(10000);
	}
	fail_msg("the engine did not become ready");
	return NULL;
}

/* ---- many submitters, one canceller ------------------------------------ */

#define SUBMITTERS 4
#define PER_THREAD 15

struct cancel_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t ids[SUBMITTERS * PER_THREAD]; /* guarded by lock */
	int n, taken;
	bool done;
};

struct world {
	struct parley_llm_engine *e;
	struct cancel_queue cq;
	struct call calls[SUBMITTERS][PER_THREAD];
};

struct submitter_arg {
	struct world *w;
	int t;
};

static void *submitter_main(void *arg)
{
	struct submitter_arg *sa = arg;
	struct world *w = sa->w;
	for (int i = 0; i < PER_THREAD; i++) {
		struct call *c = &w->calls[sa->t][i];
		if (submit(w->e, c) != 0)
			continue;
		if (c->kind == HANG) { /* cancelled by the other thread */
			pthread_mutex_lock(&w->cq.lock);
			w->cq.ids[w->cq.n++] = c->id;
			pthread_cond_signal(&w->cq.cond);
			pthread_mutex_unlock(&w->cq.lock);
		} else if (c->kind == ANSWER_CANCELLED) {
			parley_llm_cancel(w->e, c->id); /* may lose the race: OK or CANCELLED */
		}
		if (i % 4 == 3)
			usleep(2000);
	}
	return NULL;
}

static void *canceller_main(void *arg)
{
	struct world *w = arg;
	pthread_mutex_lock(&w->cq.lock);
	for (;;) {
		while (w->cq.taken == w->cq.n && !w->cq.done)
			pthread_cond_wait(&w->cq.cond, &w->cq.lock);
		if (w->cq.taken == w->cq.n && w->cq.done)
			break;
		uint64_t id = w->cq.ids[w->cq.taken++];
		pthread_mutex_unlock(&w->cq.lock);
		parley_llm_cancel(w->e, id);
		parley_llm_cancel(w->e, id);          /* twice: the second is ignored */
		parley_llm_cancel(w->e, id + 100000); /* unknown: ignored */
		pthread_mutex_lock(&w->cq.lock);
	}
	pthread_mutex_unlock(&w->cq.lock);
	return NULL;
}

static void concurrent_submit_and_cancel(void **state)
{
	static struct fake f;
	static struct world w;
	fake_start(&f);
	memset(&w, 0, sizeof w);
	pthread_mutex_init(&w.cq.lock, NULL);
	pthread_cond_init(&w.cq.cond, NULL);
	for (int t = 0; t < SUBMITTERS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			call_init(&w.calls[t][i], (enum kind)((i + t) % NKINDS));
	/* 3 slots and a queue that takes every request: nothing is refused. */
	w.e = engine_start(&f, 3, SUBMITTERS * PER_THREAD);

	pthread_t canceller, subs[SUBMITTERS];
	struct submitter_arg sa[SUBMITTERS];
	assert_int_equal(pthread_create(&canceller, NULL, canceller_main, &w), 0);
	for (int t = 0; t < SUBMITTERS; t++) {
		sa[t] = (struct submitter_arg){ &w, t };
		assert_int_equal(pthread_create(&subs[t], NULL, submitter_main, &sa[t]), 0);
	}
	for (int t = 0; t < SUBMITTERS; t++)
		pthread_join(subs[t], NULL);
	pthread_mutex_lock(&w.cq.lock);
	w.cq.done = true;
	pthread_cond_signal(&w.cq.cond);
	pthread_mutex_unlock(&w.cq.lock);
	pthread_join(canceller, NULL);

	int by_kind[NKINDS][3] = { { 0 } };
	for (int t = 0; t < SUBMITTERS; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			struct call *c = &w.calls[t][i];
			assert_int_equal(c->submit_rc, 0);
			assert_int_equal(wait_end(c), 1);
		}
	}
	usleep(200000); /* a second end callback would show up by now */
	for (int t = 0; t < SUBMITTERS; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			struct call *c = &w.calls[t][i];
			pthread_mutex_lock(&c->lock);
			assert_int_equal(c->ends, 1);
			by_kind[c->kind][c->end]++;
			switch (c->kind) {
			case ANSWER:
				assert_int_equal(c->end, PARLEY_LLM_END_OK);
				assert_string_equal(c->text, "one two three four five");
				break;
			case HANG:
				assert_int_equal(c->end, PARLEY_LLM_END_CANCELLED);
				break;
			case FAIL:
				assert_int_equal(c->end, PARLEY_LLM_END_ERROR);
				assert_int_equal(c->cause, PARLEY_LLM_CAUSE_HTTP);
				assert_int_equal(c->len, 0);
				break;
			case DIE:
				assert_int_equal(c->end, PARLEY_LLM_END_ERROR);
				assert_true(c->cause == PARLEY_LLM_CAUSE_BROKEN ||
					    c->cause == PARLEY_LLM_CAUSE_BACKEND);
				assert_string_equal(c->text, "partial ");
				break;
			case ANSWER_CANCELLED:
				if (c->end == PARLEY_LLM_END_OK)
					assert_string_equal(c->text, "one two three four five");
				else
					assert_int_equal(c->end, PARLEY_LLM_END_CANCELLED);
				break;
			case NKINDS:
				break;
			}
			pthread_mutex_unlock(&c->lock);
		}
	}
	print_message("answer ok %d; hang cancelled %d; fail %d; die %d; "
		      "cancelled-at-once answers: %d ok, %d cancelled\n",
		      by_kind[ANSWER][0], by_kind[HANG][1], by_kind[FAIL][2], by_kind[DIE][2],
		      by_kind[ANSWER_CANCELLED][0], by_kind[ANSWER_CANCELLED][1]);

	parley_llm_engine_destroy(w.e);
	fake_stop(&f);
	for (int t = 0; t < SUBMITTERS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			call_destroy(&w.calls[t][i]);
	pthread_cond_destroy(&w.cq.cond);
	pthread_mutex_destroy(&w.cq.lock);
}

/* ---- a full queue, then cancels from another thread -------------------- */

struct cancel_all_arg {
	struct parley_llm_engine *e;
	struct call *calls;
	int n;
};

static void *cancel_all_main(void *arg)
{
	struct cancel_all_arg *a = arg;
	for (int i = a->n - 1; i >= 0; i--) /* waiting ones first, then running */
		parley_llm_cancel(a->e, a->calls[i].id);
	return NULL;
}

static void full_queue_refuses_at_once(void **state)
{
	static struct fake f;
	fake_start(&f);
	struct parley_llm_engine *e = engine_start(&f, 2, 2);
	struct call calls[5];
	for (int i = 0; i < 5; i++)
		call_init(&calls[i], HANG);
	for (int i = 0; i < 4; i++)
		assert_int_equal(submit(e, &calls[i]), 0);
	/* 2 running (or about to) + 2 waiting: the fifth is refused, whatever
	 * the engine thread has admitted so far. */
	assert_int_equal(submit(e, &calls[4]), PARLEY_E_FULL);

	pthread_t t;
	struct cancel_all_arg a = { e, calls, 4 };
	assert_int_equal(pthread_create(&t, NULL, cancel_all_main, &a), 0);
	pthread_join(t, NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(wait_end(&calls[i]), 1);
		assert_int_equal(calls[i].end, PARLEY_LLM_END_CANCELLED);
	}
	usleep(100000);
	assert_int_equal(calls[4].ends, 0); /* refused: never called back */

	struct call ok;
	call_init(&ok, ANSWER);
	assert_int_equal(submit(e, &ok), 0); /* the slots were given back */
	assert_int_equal(wait_end(&ok), 1);
	assert_int_equal(ok.end, PARLEY_LLM_END_OK);
	assert_string_equal(ok.text, "one two three four five");

	parley_llm_engine_destroy(e);
	fake_stop(&f);
	for (int i = 0; i < 5; i++)
		call_destroy(&calls[i]);
	call_destroy(&ok);
}

/* ---- destroy with requests running and waiting ------------------------- */

struct destroy_arg {
	struct parley_llm_engine *e;
	struct call *calls;
	int from, to;
};

static void *submit_range(void *arg)
{
	struct destroy_arg *a = arg;
	for (int i = a->from; i < a->to; i++)
		submit(a->e, &a->calls[i]);
	return NULL;
}

static void destroy_ends_pending_requests(void **state)
{
	static struct fake f;
	fake_start(&f);
	struct parley_llm_engine *e = engine_start(&f, 2, 16);
	struct call calls[6];
	for (int i = 0; i < 6; i++)
		call_init(&calls[i], HANG);
	pthread_t t[2];
	struct destroy_arg a[2] = { { e, calls, 0, 3 }, { e, calls, 3, 6 } };
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, submit_range, &a[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(calls[i].submit_rc, 0);

	parley_llm_engine_destroy(e); /* 2 streaming, 4 waiting */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(calls[i].ends, 1);
		assert_int_equal(calls[i].end, PARLEY_LLM_END_CANCELLED);
	}
	fake_stop(&f);
	for (int i = 0; i < 6; i++)
		call_destroy(&calls[i]);
}

/* ---- speculative requests ---------------------------------------------- */

static void spec_init(struct call *c, enum kind k)
{
	call_init(c, k);
	c->flags = PARLEY_LLM_SPECULATIVE;
}

/* Two slots held by two speculations: an ordinary request preempts the
 * newest, is answered while the other keeps running; the preempted one
 * cannot be promoted; a promoted one is never preempted. */
static void ordinary_preempts_a_speculation(void **state)
{
	static struct fake f;
	fake_start(&f);
	struct parley_llm_engine *e = engine_start(&f, 2, 4);
	int base = atomic_load(&f.requests);
	struct call sp[2], ord, h[2];
	spec_init(&sp[0], HANG);
	spec_init(&sp[1], HANG);
	assert_int_equal(submit(e, &sp[0]), 0);
	wait_requests(&f, base + 1);
	assert_int_equal(submit(e, &sp[1]), 0);
	wait_requests(&f, base + 2); /* both stream: every slot is taken */

	call_init(&ord, ANSWER);
	assert_int_equal(submit(e, &ord), 0);
	assert_int_equal(wait_end(&ord), 1);
	assert_int_equal(ord.end, PARLEY_LLM_END_OK);
	assert_string_equal(ord.text, "one two three four five");
	/* the newest speculation gave its slot; the older one streams on */
	assert_int_equal(wait_end(&sp[1]), 1);
	assert_int_equal(sp[1].end, PARLEY_LLM_END_CANCELLED);
	assert_int_equal(ends_of(&sp[0]), 0);
	assert_int_equal(parley_llm_promote(e, sp[1].id), PARLEY_E_NOTFOUND);

	/* Promoted, the survivor holds its slot against ordinary requests: of
	 * two more, one takes the free slot and the other waits. */
	assert_int_equal(parley_llm_promote(e, sp[0].id), 0);
	assert_int_equal(parley_llm_promote(e, sp[0].id), PARLEY_E_NOTFOUND); /* not a speculation now */
	call_init(&h[0], HANG);
	call_init(&h[1], HANG);
	int seen = atomic_load(&f.requests);
	assert_int_equal(submit(e, &h[0]), 0);
	assert_int_equal(submit(e, &h[1]), 0);
	wait_requests(&f, seen + 1);
	usleep(300000);
	assert_int_equal(atomic_load(&f.requests), seen + 1);
	assert_int_equal(ends_of(&sp[0]), 0);
	assert_int_equal(ends_of(&h[0]) + ends_of(&h[1]), 0);

	parley_llm_cancel(e, sp[0].id); /* its slot goes to the waiting one */
	wait_requests(&f, seen + 2);
	assert_int_equal(wait_end(&sp[0]), 1);
	assert_int_equal(sp[0].end, PARLEY_LLM_END_CANCELLED);
	parley_llm_cancel(e, h[0].id);
	parley_llm_cancel(e, h[1].id);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(wait_end(&h[i]), 1);
		assert_int_equal(h[i].end, PARLEY_LLM_END_CANCELLED);
	}
	parley_llm_engine_destroy(e);
	fake_stop(&f);
	for (int i = 0; i < 2; i++) {
		call_destroy(&sp[i]);
		call_destroy(&h[i]);
	}
	call_destroy(&ord);
}

/* Speculations wait for a free slot with no ordinary request waiting, are
 * bounded by a queue of their own, and never make an ordinary submit
 * fail. */
static void speculations_give_way(void **state)
{
	static struct fake f;
	fake_start(&f);
	struct parley_llm_engine *e = engine_start(&f, 1, 1);
	int base = atomic_load(&f.requests);
	struct call o[3], sp[3];
	call_init(&o[0], HANG);
	assert_int_equal(submit(e, &o[0]), 0);
	wait_requests(&f, base + 1);

	/* the slot is taken: the first speculation waits, the second is one
	 * too many for their queue (1) */
	spec_init(&sp[0], ANSWER);
	spec_init(&sp[1], ANSWER);
	assert_int_equal(submit(e, &sp[0]), 0);
	assert_int_equal(submit(e, &sp[1]), PARLEY_E_FULL);
	/* an ordinary request still finds its queue place */
	call_init(&o[1], ANSWER);
	assert_int_equal(submit(e, &o[1]), 0);
	call_init(&o[2], ANSWER);
	assert_int_equal(submit(e, &o[2]), PARLEY_E_FULL); /* 1 running + 1 waiting */

	/* the slot frees: the waiting ordinary request goes first, then the
	 * speculation */
	parley_llm_cancel(e, o[0].id);
	assert_int_equal(wait_end(&o[1]), 1);
	assert_int_equal(o[1].end, PARLEY_LLM_END_OK);
	assert_int_equal(wait_end(&sp[0]), 1);
	assert_int_equal(sp[0].end, PARLEY_LLM_END_OK);
	assert_string_equal(sp[0].text, "one two three four five");
	assert_int_equal(wait_end(&o[0]), 1);
	assert_int_equal(o[0].end, PARLEY_LLM_END_CANCELLED);
	assert_int_equal(ends_of(&sp[1]), 0); /* refused: never called back */
	assert_int_equal(ends_of(&o[2]), 0);

	/* A waiting speculation, promoted, queues as an ordinary request. */
	call_init(&o[2], HANG);
	int seen = atomic_load(&f.requests);
	assert_int_equal(submit(e, &o[2]), 0);
	wait_requests(&f, seen + 1);
	spec_init(&sp[2], ANSWER);
	assert_int_equal(submit(e, &sp[2]), 0);
	assert_int_equal(parley_llm_promote(e, sp[2].id), 0);
	usleep(200000);
	assert_int_equal(ends_of(&o[2]), 0); /* promoted: it waits, it does not preempt */
	parley_llm_cancel(e, o[2].id);
	assert_int_equal(wait_end(&sp[2]), 1);
	assert_int_equal(sp[2].end, PARLEY_LLM_END_OK);

	parley_llm_engine_destroy(e);
	fake_stop(&f);
	for (int i = 0; i < 3; i++) {
		call_destroy(&o[i]);
		call_destroy(&sp[i]);
	}
}

/* Many threads submit ordinary answers and speculations (some promoted at
 * once, some cancelled) through 2 slots: every request ends exactly once;
 * no ordinary or promoted answer is ever cut short; speculations end OK or
 * CANCELLED (preempted). */
#define MIX_THREADS 4
#define MIX_PER 12

struct mix {
	struct parley_llm_engine *e;
	struct call calls[MIX_THREADS][MIX_PER];
	int promoted[MIX_THREADS][MIX_PER]; /* promote's result, 1: not tried */
};

struct mix_arg {
	struct mix *m;
	int t;
};

static void *mix_main(void *arg)
{
	struct mix_arg *ma = arg;
	struct mix *m = ma->m;
	for (int i = 0; i < MIX_PER; i++) {
		struct call *c = &m->calls[ma->t][i];
		m->promoted[ma->t][i] = 1;
		if (submit(m->e, c) != 0)
			continue;
		if (c->flags && i % 3 == 1)
			m->promoted[ma->t][i] = parley_llm_promote(m->e, c->id);
		else if (c->flags && i % 3 == 2)
			parley_llm_cancel(m->e, c->id);
		if (i % 4 == 3)
			usleep(3000);
	}
	return NULL;
}

static void speculations_under_load(void **state)
{
	static struct fake f;
	static struct mix m;
	fake_start(&f);
	memset(&m, 0, sizeof m);
	for (int t = 0; t < MIX_THREADS; t++) {
		for (int i = 0; i < MIX_PER; i++) {
			if ((i + t) % 2)
				spec_init(&m.calls[t][i], ANSWER);
			else
				call_init(&m.calls[t][i], ANSWER);
		}
	}
	m.e = engine_start(&f, 2, MIX_THREADS * MIX_PER);
	pthread_t th[MIX_THREADS];
	struct mix_arg ma[MIX_THREADS];
	for (int t = 0; t < MIX_THREADS; t++) {
		ma[t] = (struct mix_arg){ &m, t };
		assert_int_equal(pthread_create(&th[t], NULL, mix_main, &ma[t]), 0);
	}
	for (int t = 0; t < MIX_THREADS; t++)
		pthread_join(th[t], NULL);
	int spec_ok = 0, spec_cancelled = 0, refused = 0;
	for (int t = 0; t < MIX_THREADS; t++) {
		for (int i = 0; i < MIX_PER; i++) {
			struct call *c = &m.calls[t][i];
			if (c->submit_rc != 0) {
				assert_true(c->flags); /* only speculations are ever refused here */
				assert_int_equal(c->submit_rc, PARLEY_E_FULL);
				refused++;
				continue;
			}
			assert_int_equal(wait_end(c), 1);
		}
	}
	usleep(200000); /* a second end callback would show up by now */
	for (int t = 0; t < MIX_THREADS; t++) {
		for (int i = 0; i < MIX_PER; i++) {
			struct call *c = &m.calls[t][i];
			if (c->submit_rc != 0)
				continue;
			pthread_mutex_lock(&c->lock);
			assert_int_equal(c->ends, 1);
			if (!c->flags || m.promoted[t][i] == 0) {
				assert_int_equal(c->end, PARLEY_LLM_END_OK);
				assert_string_equal(c->text, "one two three four five");
			} else if (c->end == PARLEY_LLM_END_OK) {
				assert_string_equal(c->text, "one two three four five");
				spec_ok++;
			} else {
				assert_int_equal(c->end, PARLEY_LLM_END_CANCELLED);
				spec_cancelled++;
			}
			pthread_mutex_unlock(&c->lock);
		}
	}
	print_message("speculations: %d answered, %d cancelled or preempted, %d refused\n", spec_ok,
		      spec_cancelled, refused);
	parley_llm_engine_destroy(m.e);
	fake_stop(&f);
	for (int t = 0; t < MIX_THREADS; t++)
		for (int i = 0; i < MIX_PER; i++)
			call_destroy(&m.calls[t][i]);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	parley_log_set_level(PARLEY_LOG_ERROR); /* the failures are expected */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_submit_and_cancel),
		cmocka_unit_test(full_queue_refuses_at_once),
		cmocka_unit_test(destroy_ends_pending_requests),
		cmocka_unit_test(ordinary_preempts_a_speculation),
		cmocka_unit_test(speculations_give_way),
		cmocka_unit_test(speculations_under_load),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	parley_readiness_reset();
	curl_global_cleanup();
	return rc;
}
