/* Unit tests: the HTTP pool (src/net/http.c) against a tiny HTTP/1.1
 * server running on threads of this process (loopback, port 0, one thread
 * per connection).
 *
 * What the server does is chosen by the request path:
 *   /ok             200 "hello"
 *   /echo           200 with the request's method, X-Test header and body
 *   /stream         200 chunked audio/pcm: three pieces with pauses, then
 *                   waits for the test's go-ahead (gate) before the last
 *                   two, so a test can see chunks before the answer ends
 *   /status/N       status N with a JSON error body; /status/big: 500 with
 *                   a 10000-byte body; /status/endless: 500 with a chunked
 *                   body that never ends (until the client leaves)
 *   /hang           reads the request, sends nothing until the client leaves
 *   /stall          headers and one chunk, then silence until the client leaves
 *   /drip           a chunk every 100 ms until the client leaves
 *   /cut            Content-Length 1000, ten bytes, then the connection closes
 *   /hold/N         waits until the test releases N (release_upto > N),
 *                   then 200 "N"; records the arrival order and the most
 *                   requests held at once
 * The server counts requests and the connections the client closed while
 * it was still answering (a cancel "seen by the service").
 * Timing: only generous upper bounds (the machine is shared); the ordering
 * facts are made deterministic with gates and tokens instead of sleeps. */
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

#include "net/http.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

#define WAIT_S 20 /* the longest any condition is waited for */

/* ---- the test server --------------------------------------------------- */

#define MAX_CONNS 1024
#define MAX_ORDER 64

struct server {
	int fd;
	int port;
	atomic_bool stop;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_t conns[MAX_CONNS]; /* guarded by lock; joined at stop */
	int nconns;
	atomic_int requests;     /* requests read */
	atomic_int client_closed; /* connections the client closed mid-answer */
	atomic_int gate;         /* /stream goes on once this is nonzero */
	atomic_int release_upto; /* /hold/N answers once N < release_upto */
	atomic_int holding, max_holding;
	atomic_int arrived; /* /hold requests seen since the last reset */
	char order[MAX_ORDER][16]; /* guarded by lock: /hold names in arrival order */
	int norder;
};

static struct server srv;

struct conn_arg {
	struct server *s;
	int fd;
};

static bool send_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

static bool send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

static bool send_chunk(int fd, const char *data)
{
	char head[32];
	snprintf(head, sizeof head, "%zx\r\n", strlen(data));
	return send_str(fd, head) && send_str(fd, data) && send_str(fd, "\r\n");
}

struct request {
	char method[16];
	char path[256];
	char xtest[64];
	char *body;
	size_t body_len;
};

/* Reads one request (head and Content-Length body). */
static bool read_request(int fd, struct request *rq)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap + 1);
	char *body = NULL;
	size_t want = 0;
	memset(rq, 0, sizeof *rq);
	if (!buf)
		return false;
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
			sscanf(buf, "%15s %255s", rq->method, rq->path);
			for (const char *h = buf; h && h < end;) {
				if (strncasecmp(h, "content-length:", 15) == 0)
					want = strtoul(h + 15, NULL, 10);
				if (strncasecmp(h, "x-test:", 7) == 0)
					sscanf(h + 7, " %63[^\r\n]", rq->xtest);
				h = strstr(h, "\r\n");
				h = h ? h + 2 : NULL;
			}
		}
		if ((size_t)(buf + len - body) >= want)
			break;
	}
	rq->body_len = want;
	rq->body = malloc(want + 1);
	if (!rq->body)
		goto fail;
	memcpy(rq->body, body, want);
	rq->body[want] = '\0';
	free(buf);
	return true;
fail:
	free(buf);
	return false;
}

/* True when the client has closed the connection (readable, EOF). */
static bool client_gone(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, ms) > 0) {
		char c[256];
		ssize_t r = recv(fd, c, sizeof c, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return true;
	}
	return false;
}

/* Waits until the client leaves (counted) or the server stops. */
static void wait_client_close(struct server *s, int fd)
{
	while (!atomic_load(&s->stop)) {
		if (client_gone(fd, 20)) {
			atomic_fetch_add(&s->client_closed, 1);
			return;
		}
	}
}

static const char chunked_head[] = "HTTP/1.1 200 OK\r\nContent-Type: audio/pcm\r\n"
				   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

static void respond(int fd, int status, const char *ctype, const char *body, size_t len)
{
	char head[256];
	snprintf(head, sizeof head,
		 "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 status, ctype, len);
	if (send_str(fd, head))
		send_all(fd, body, len);
}

static void serve_hold(struct server *s, int fd, const char *name)
{
	pthread_mutex_lock(&s->lock);
	if (s->norder < MAX_ORDER)
		snprintf(s->order[s->norder++], sizeof s->order[0], "%s", name);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&s->arrived, 1);
	int now = atomic_fetch_add(&s->holding, 1) + 1;
	int max = atomic_load(&s->max_holding);
	while (now > max && !atomic_compare_exchange_weak(&s->max_holding, &max, now))
		;
	bool released = false;
	int n = atoi(name);
	while (!released && !atomic_load(&s->stop)) {
		if (n < atomic_load(&s->release_upto))
			released = true;
		else if (client_gone(fd, 5))
			break;
	}
	atomic_fetch_sub(&s->holding, 1);
	if (released)
		respond(fd, 200, "text/plain", name, strlen(name));
}

static void *serve_conn(void *arg)
{
	struct conn_arg *ca = arg;
	struct server *s = ca->s;
	int fd = ca->fd;
	free(ca);
	struct request rq;
	if (!read_request(fd, &rq))
		goto out;
	atomic_fetch_add(&s->requests, 1);
	const char *p = rq.path;
	if (strcmp(p, "/ok") == 0) {
		respond(fd, 200, "text/plain", "hello", 5);
	} else if (strcmp(p, "/echo") == 0) {
		char out[512];
		int n = snprintf(out, sizeof out, "%s %s %.*s", rq.method, rq.xtest,
				 (int)rq.body_len, rq.body);
		respond(fd, 200, "text/plain", out, n < (int)sizeof out ? (size_t)n : sizeof out - 1);
	} else if (strcmp(p, "/stream") == 0) {
		bool ok = send_str(fd, chunked_head);
		static const char *const first[] = { "aa", "bb", "cc" };
		for (int i = 0; ok && i < 3; i++) {
			ok = send_chunk(fd, first[i]);
			usleep(30000);
		}
		while (ok && !atomic_load(&s->gate) && !atomic_load(&s->stop))
			usleep(2000);
		ok = ok && send_chunk(fd, "dd") && send_chunk(fd, "ee");
		if (ok)
			send_str(fd, "0\r\n\r\n");
	} else if (strcmp(p, "/status/big") == 0) {
		char *big = malloc(10000);
		if (big) {
			memset(big, 'x', 10000);
			respond(fd, 500, "text/plain", big, 10000);
			free(big);
		}
	} else if (strcmp(p, "/status/endless") == 0) {
		char piece[513];
		memset(piece, 'y', 512);
		piece[512] = '\0';
		bool ok = send_str(fd, "HTTP/1.1 500 X\r\nContent-Type: text/plain\r\n"
				       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
		while (ok && !atomic_load(&s->stop)) {
			ok = send_chunk(fd, piece);
			if (client_gone(fd, 20)) {
				atomic_fetch_add(&s->client_closed, 1);
				break;
			}
		}
	} else if (strncmp(p, "/status/", 8) == 0) {
		const char *err = "{\"error\":{\"message\":\"no such voice\"}}";
		respond(fd, atoi(p + 8), "application/json", err, strlen(err));
	} else if (strcmp(p, "/hang") == 0) {
		wait_client_close(s, fd);
	} else if (strcmp(p, "/stall") == 0) {
		if (send_str(fd, chunked_head) && send_chunk(fd, "first"))
			wait_client_close(s, fd);
		else /* the client hung up before the chunk went out */
			atomic_fetch_add(&s->client_closed, 1);
	} else if (strcmp(p, "/drip") == 0) {
		bool ok = send_str(fd, chunked_head);
		while (ok && !atomic_load(&s->stop)) {
			ok = send_chunk(fd, "drop");
			if (client_gone(fd, 100)) {
				atomic_fetch_add(&s->client_closed, 1);
				break;
			}
		}
	} else if (strcmp(p, "/cut") == 0) {
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: audio/pcm\r\nContent-Length: 1000\r\n"
			     "\r\n0123456789");
	} else if (strncmp(p, "/hold/", 6) == 0) {
		serve_hold(s, fd, p + 6);
	} else {
		respond(fd, 404, "text/plain", "?", 1);
	}
	free(rq.body);
out:
	shutdown(fd, SHUT_RDWR);
	close(fd);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	struct server *s = arg;
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0) {
			if (atomic_load(&s->stop))
				return NULL;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		struct conn_arg *ca = malloc(sizeof *ca);
		pthread_mutex_lock(&s->lock);
		bool ok = ca && s->nconns < MAX_CONNS;
		if (ok) {
			*ca = (struct conn_arg){ s, c };
			ok = pthread_create(&s->conns[s->nconns], NULL, serve_conn, ca) == 0;
			if (ok)
				s->nconns++;
		}
		pthread_mutex_unlock(&s->lock);
		if (!ok) {
			free(ca);
			close(c);
		}
	}
}

static int server_start(void **state)
{
	struct server *s = &srv;
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 256) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->acceptor, NULL, acceptor_main, s) == 0 ? 0 : -1;
}

static int server_stop(void **state)
{
	struct server *s = &srv;
	atomic_store(&s->stop, true);
	shutdown(s->fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(s->acceptor, NULL);
	close(s->fd);
	for (int i = 0; i < s->nconns; i++)
		pthread_join(s->conns[i], NULL);
	pthread_mutex_destroy(&s->lock);
	return 0;
}

/* ---- calls and their callbacks ----------------------------------------- */

struct call {
	pthread_mutex_t lock;
	uint64_t id;
	int submit_rc;
	int stop_body_at;   /* body returns nonzero once this many bytes came; 0: never */
	int refuse_head;    /* head returns nonzero */
	struct parley_http_lane *resubmit; /* end submits /ok there (a retrying engine) */
	int resubmit_rc;
	/* guarded by lock (written on the pool's thread) */
	int heads, ends, chunks;
	long head_status;
	char ctype[64];
	bool body_before_head;
	char body[4096];
	size_t body_len;
	enum parley_speech_end end;
	enum parley_speech_cause cause;
	long status;
	char message[320];
	char *err_body;
	size_t err_len;
	pthread_t end_thread;
};

static int cb_head(void *arg, long status, const char *ctype)
{
	struct call *c = arg;
	pthread_mutex_lock(&c->lock);
	c->heads++;
	c->head_status = status;
	snprintf(c->ctype, sizeof c->ctype, "%s", ctype);
	pthread_mutex_unlock(&c->lock);
	return c->refuse_head;
}

static int cb_body(void *arg, const char *data, size_t len)
{
	struct call *c = arg;
	pthread_mutex_lock(&c->lock);
	if (!c->heads)
		c->body_before_head = true;
	c->chunks++;
	size_t n = len < sizeof c->body - 1 - c->body_len ? len : sizeof c->body - 1 - c->body_len;
	memcpy(c->body + c->body_len, data, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
	int stop = c->stop_body_at && c->body_len >= (size_t)c->stop_body_at;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

static void cb_end(void *arg, enum parley_speech_end end, enum parley_speech_cause cause,
		   long status, const char *message, const char *err_body, size_t err_len)
{
	struct call *c = arg;
	pthread_mutex_lock(&c->lock);
	c->ends++;
	c->end = end;
	c->cause = cause;
	c->status = status;
	c->end_thread = pthread_self();
	snprintf(c->message, sizeof c->message, "%s", message ? message : "");
	if (err_body && !c->err_body) {
		c->err_body = malloc(err_len + 1);
		if (c->err_body) {
			memcpy(c->err_body, err_body, err_len);
			c->err_body[err_len] = '\0';
			c->err_len = err_len;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (c->resubmit) {
		struct parley_http_request rq = { 0 };
		snprintf(rq.url, sizeof rq.url, "http://127.0.0.1:%d/ok", srv.port);
		rq.body = strdup("from a callback");
		rq.body_len = strlen(rq.body);
		struct parley_http_callbacks cb = { NULL, NULL, cb_end, c };
		uint64_t id;
		c->resubmit_rc = parley_http_submit(c->resubmit, &rq, &cb, &id);
	}
}

static void call_init(struct call *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
	c->submit_rc = 1;
}

static void call_destroy(struct call *c)
{
	free(c->err_body);
	pthread_mutex_destroy(&c->lock);
}

static int get_int(struct call *c, const int *field)
{
	pthread_mutex_lock(&c->lock);
	int v = *field;
	pthread_mutex_unlock(&c->lock);
	return v;
}

static size_t get_body_len(struct call *c)
{
	pthread_mutex_lock(&c->lock);
	size_t v = c->body_len;
	pthread_mutex_unlock(&c->lock);
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls cond(arg) until true or WAIT_S pass; returns its last value. */
static bool wait_for(bool (*cond)(void *), void *arg)
{
	int64_t deadline = mono_ms() + WAIT_S * 1000;
	while (!cond(arg)) {
		if (mono_ms() > deadline)
			return cond(arg);
		usleep(2000);
	}
	return true;
}

static bool ended(void *arg)
{
	return get_int(arg, &((struct call *)arg)->ends) > 0;
}

static void wait_end(struct call *c)
{
	assert_true(wait_for(ended, c));
}

static struct parley_http_request make_req(const char *path)
{
	struct parley_http_request rq = { 0 };
	snprintf(rq.url, sizeof rq.url, "http://127.0.0.1:%d%s", srv.port, path);
	return rq;
}

static int submit(struct parley_http_lane *lane, struct call *c, struct parley_http_request *rq)
{
	struct parley_http_callbacks cb = { cb_head, cb_body, cb_end, c };
	c->submit_rc = parley_http_submit(lane, rq, &cb, &c->id);
	return c->submit_rc;
}

static int submit_path(struct parley_http_lane *lane, struct call *c, const char *path)
{
	struct parley_http_request rq = make_req(path);
	return submit(lane, c, &rq);
}

struct counter_at_least {
	atomic_int *counter;
	int n;
};

static bool counter_reached(void *arg)
{
	struct counter_at_least *w = arg;
	return atomic_load(w->counter) >= w->n;
}

static void wait_counter(atomic_int *counter, int n)
{
	struct counter_at_least w = { counter, n };
	if (!wait_for(counter_reached, &w))
		fail_msg("counter stayed at %d, wanted %d", atomic_load(counter), n);
}

/* Resets the server's per-test state. */
static void server_reset(void)
{
	atomic_store(&srv.gate, 0);
	atomic_store(&srv.release_upto, 0);
	atomic_store(&srv.max_holding, 0);
	atomic_store(&srv.arrived, 0);
	pthread_mutex_lock(&srv.lock);
	srv.norder = 0;
	pthread_mutex_unlock(&srv.lock);
}

/* ---- tests ------------------------------------------------------------- */

static bool body_has_first_part(void *arg)
{
	return get_body_len(arg) >= 6;
}

static void streams_body_in_pieces(void **state)
{
	server_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	assert_non_null(p);
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_stream", 2, 2);
	assert_non_null(lane);
	struct call c;
	call_init(&c);
	assert_int_equal(submit_path(lane, &c, "/stream"), 0);
	assert_true(c.id > 0);
	/* The first three pieces reach the body callback while the server is
	 * still holding the rest back: the body streams. */
	assert_true(wait_for(body_has_first_part, &c));
	assert_int_equal(get_int(&c, &c.ends), 0);
	atomic_store(&srv.gate, 1);
	wait_end(&c);
	assert_int_equal(c.ends, 1);
	assert_int_equal(c.end, PARLEY_SPEECH_OK);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_NONE);
	assert_string_equal(c.body, "aabbccddee");
	assert_int_equal(c.heads, 1);
	assert_int_equal(c.head_status, 200);
	assert_string_equal(c.ctype, "audio/pcm");
	assert_false(c.body_before_head);
	assert_true(c.chunks >= 2);
	assert_null(c.err_body);
	parley_http_pool_destroy(p);
	call_destroy(&c);
}

static void posts_body_and_headers(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_echo", 1, 1);
	struct call c;
	call_init(&c);
	struct parley_http_request rq = make_req("/echo");
	rq.headers = curl_slist_append(NULL, "X-Test: header-seen");
	/* large enough that curl would send "Expect: 100-continue" */
	size_t n = 200000;
	rq.body = malloc(n);
	assert_non_null(rq.body);
	memset(rq.body, 'b', n);
	memcpy(rq.body, "payload", 7);
	rq.body_len = n;
	assert_int_equal(submit(lane, &c, &rq), 0);
	assert_null(rq.body); /* taken over */
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_OK);
	assert_memory_equal(c.body, "POST header-seen payloadbbb", 27);

	/* No body and no method: GET. */
	struct call g;
	call_init(&g);
	assert_int_equal(submit_path(lane, &g, "/echo"), 0);
	wait_end(&g);
	assert_int_equal(g.end, PARLEY_SPEECH_OK);
	assert_string_equal(g.body, "GET  ");
	parley_http_pool_destroy(p);
	call_destroy(&c);
	call_destroy(&g);
}

static void error_bodies_are_kept(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_err", 2, 2);
	struct call c404, c500;
	call_init(&c404);
	call_init(&c500);
	assert_int_equal(submit_path(lane, &c404, "/status/404"), 0);
	assert_int_equal(submit_path(lane, &c500, "/status/big"), 0);
	wait_end(&c404);
	wait_end(&c500);

	assert_int_equal(c404.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(c404.cause, PARLEY_SPEECH_CAUSE_HTTP);
	assert_int_equal(c404.status, 404);
	assert_non_null(c404.err_body);
	assert_string_equal(c404.err_body, "{\"error\":{\"message\":\"no such voice\"}}");
	assert_int_equal(c404.err_len, strlen(c404.err_body));
	assert_non_null(strstr(c404.message, "404"));
	assert_null(strstr(c404.message, "/status"));
	assert_int_equal(c404.heads, 0);  /* non-2xx: no head, */
	assert_int_equal(c404.chunks, 0); /* no body chunks */

	assert_int_equal(c500.cause, PARLEY_SPEECH_CAUSE_HTTP);
	assert_int_equal(c500.status, 500);
	assert_int_equal(c500.err_len, 4096); /* the head of a 10000-byte body */
	assert_int_equal(c500.chunks, 0);
	parley_http_pool_destroy(p);
	call_destroy(&c404);
	call_destroy(&c500);
}

/* An error body that never ends: the transfer stops once its first 4 KiB
 * were kept and ends as HTTP with them (no timeout set: without the stop it
 * would hold its slot for ever). */
static void endless_error_body_stops(void **state)
{
	(void)state;
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_errloop", 1, 1);
	struct call c;
	call_init(&c);
	int closed0 = atomic_load(&srv.client_closed);
	assert_int_equal(submit_path(lane, &c, "/status/endless"), 0);
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_HTTP);
	assert_int_equal(c.status, 500);
	assert_int_equal(c.err_len, 4096);
	for (size_t i = 0; i < c.err_len; i++)
		assert_int_equal(c.err_body[i], 'y');
	assert_int_equal(c.chunks, 0);
	wait_counter(&srv.client_closed, closed0 + 1); /* the connection was closed */
	/* the slot is free again */
	struct call d;
	call_init(&d);
	assert_int_equal(submit_path(lane, &d, "/ok"), 0);
	wait_end(&d);
	assert_int_equal(d.end, PARLEY_SPEECH_OK);
	parley_http_pool_destroy(p);
	call_destroy(&c);
	call_destroy(&d);
}

/* A loopback port nobody listens on. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void refused_is_unavailable(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_refused", 1, 1);
	struct call c;
	call_init(&c);
	int port = closed_port();
	struct parley_http_request rq = { .connect_timeout_ms = 5000 };
	snprintf(rq.url, sizeof rq.url, "http://user:secret-pw@127.0.0.1:%d/v1/secret-path?key=k",
		 port);
	assert_int_equal(submit(lane, &c, &rq), 0);
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_UNAVAILABLE);
	char where[64];
	snprintf(where, sizeof where, "127.0.0.1:%d", port);
	if (!strstr(c.message, where) || !strstr(c.message, "refused"))
		fail_msg("unexpected message: %s", c.message);
	assert_null(strstr(c.message, "secret"));
	assert_null(strstr(c.message, "http://"));
	assert_int_equal(c.heads, 0);

	/* A host name that does not resolve (.invalid never does). */
	struct call d;
	call_init(&d);
	struct parley_http_request rq2 = { .connect_timeout_ms = 10000 };
	snprintf(rq2.url, sizeof rq2.url, "http://no-such-host.invalid:8080/v1/audio/speech");
	assert_int_equal(submit(lane, &d, &rq2), 0);
	wait_end(&d);
	assert_int_equal(d.cause, PARLEY_SPEECH_CAUSE_UNAVAILABLE);
	assert_non_null(strstr(d.message, "no-such-host.invalid:8080"));
	assert_null(strstr(d.message, "audio"));
	parley_http_pool_destroy(p);
	call_destroy(&c);
	call_destroy(&d);
}

/* A listener whose accept queue is full drops new SYNs (Linux), so a
 * connect to it hangs: the connect timeout ends the request. */
static void connect_timeout(void **state)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	int fill[4];
	for (int i = 0; i < 4; i++) { /* fill the queue, never accepted */
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&a, sizeof a);
	}
	usleep(100000);
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_conn", 1, 1);
	struct call c;
	call_init(&c);
	struct parley_http_request rq = { .connect_timeout_ms = 300, .first_byte_timeout_ms = 60000 };
	snprintf(rq.url, sizeof rq.url, "http://127.0.0.1:%d/v1/audio/speech", ntohs(a.sin_port));
	assert_int_equal(submit(lane, &c, &rq), 0);
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_TIMEOUT);
	if (!strstr(c.message, "within 300 ms"))
		fail_msg("unexpected message: %s", c.message);
	assert_null(strstr(c.message, "audio"));
	parley_http_pool_destroy(p);
	call_destroy(&c);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

static void first_byte_timeout(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_fb", 1, 1);
	struct call c;
	call_init(&c);
	int closed0 = atomic_load(&srv.client_closed);
	struct parley_http_request rq = make_req("/hang");
	rq.first_byte_timeout_ms = 300;
	rq.stall_timeout_ms = 60000;
	int64_t t0 = mono_ms();
	assert_int_equal(submit(lane, &c, &rq), 0);
	wait_end(&c);
	assert_true(mono_ms() - t0 >= 300);
	assert_int_equal(c.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_TIMEOUT);
	assert_non_null(strstr(c.message, "did not answer within 300 ms"));
	wait_counter(&srv.client_closed, closed0 + 1); /* the connection was closed */
	parley_http_pool_destroy(p);
	call_destroy(&c);
}

static bool got_body(void *arg)
{
	return get_body_len(arg) > 0;
}

static void stall_timeout(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_stall", 1, 1);
	struct call c;
	call_init(&c);
	int closed0 = atomic_load(&srv.client_closed);
	struct parley_http_request rq = make_req("/stall");
	rq.first_byte_timeout_ms = 60000;
	rq.stall_timeout_ms = 300;
	assert_int_equal(submit(lane, &c, &rq), 0);
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_TIMEOUT);
	assert_non_null(strstr(c.message, "stopped sending for 300 ms"));
	assert_string_equal(c.body, "first");
	assert_int_equal(c.heads, 1);
	wait_counter(&srv.client_closed, closed0 + 1);
	parley_http_pool_destroy(p);
	call_destroy(&c);
}

static void total_timeout(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_total", 1, 1);
	struct call c;
	call_init(&c);
	struct parley_http_request rq = make_req("/drip");
	rq.first_byte_timeout_ms = 60000;
	rq.stall_timeout_ms = 60000; /* a drip every 100 ms: never a stall */
	rq.total_timeout_ms = 700;
	assert_int_equal(submit(lane, &c, &rq), 0);
	wait_end(&c);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_TIMEOUT);
	assert_non_null(strstr(c.message, "did not finish within 700 ms"));
	assert_true(strlen(c.body) >= 4); /* it was streaming when cut */
	parley_http_pool_destroy(p);
	call_destroy(&c);
}

static void cut_mid_body_is_broken(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_cut", 1, 1);
	struct call c;
	call_init(&c);
	assert_int_equal(submit_path(lane, &c, "/cut"), 0);
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(c.cause, PARLEY_SPEECH_CAUSE_BROKEN);
	assert_non_null(strstr(c.message, "mid-answer"));
	assert_string_equal(c.body, "0123456789");
	parley_http_pool_destroy(p);
	call_destroy(&c);
}

static void cancel_mid_body(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_cancel", 1, 1);
	struct call c;
	call_init(&c);
	int closed0 = atomic_load(&srv.client_closed);
	assert_int_equal(submit_path(lane, &c, "/stall"), 0);
	assert_true(wait_for(got_body, &c));
	parley_http_cancel(p, c.id);
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_CANCELLED);
	wait_counter(&srv.client_closed, closed0 + 1); /* the server saw the close */
	/* Cancelling again, or ids never issued, changes nothing. */
	parley_http_cancel(p, c.id);
	parley_http_cancel(p, c.id + 1000);
	parley_http_cancel(p, 0);
	struct call d;
	call_init(&d);
	assert_int_equal(submit_path(lane, &d, "/ok"), 0);
	assert_true(d.id > c.id); /* never reused */
	wait_end(&d);
	assert_int_equal(d.end, PARLEY_SPEECH_OK);
	assert_int_equal(get_int(&c, &c.ends), 1);
	parley_http_pool_destroy(p);
	call_destroy(&c);
	call_destroy(&d);
}

static void body_stop_ends_ok(void **state)
{
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_bstop", 1, 1);
	struct call c, h;
	call_init(&c);
	call_init(&h);
	int closed0 = atomic_load(&srv.client_closed);
	c.stop_body_at = 1;
	assert_int_equal(submit_path(lane, &c, "/stall"), 0);
	wait_end(&c);
	assert_int_equal(c.end, PARLEY_SPEECH_OK);
	assert_int_equal(c.chunks, 1);
	wait_counter(&srv.client_closed, closed0 + 1);

	h.refuse_head = 1;
	assert_int_equal(submit_path(lane, &h, "/stall"), 0);
	wait_end(&h);
	assert_int_equal(h.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(h.cause, PARLEY_SPEECH_CAUSE_BROKEN);
	assert_int_equal(h.chunks, 0);
	wait_counter(&srv.client_closed, closed0 + 2);
	parley_http_pool_destroy(p);
	call_destroy(&c);
	call_destroy(&h);
}

static void cancel_while_queued(void **state)
{
	server_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_cq", 1, 4);
	struct call a, b;
	call_init(&a);
	call_init(&b);
	int req0 = atomic_load(&srv.requests);
	assert_int_equal(submit_path(lane, &a, "/hold/0"), 0);
	assert_int_equal(submit_path(lane, &b, "/hold/1"), 0);
	wait_counter(&srv.holding, 1);
	parley_http_cancel(p, b.id);
	wait_end(&b);
	assert_int_equal(b.end, PARLEY_SPEECH_CANCELLED);
	atomic_store(&srv.release_upto, 2);
	wait_end(&a);
	assert_int_equal(a.end, PARLEY_SPEECH_OK);
	assert_string_equal(a.body, "0");
	assert_int_equal(atomic_load(&srv.requests), req0 + 1); /* b never went out */
	assert_int_equal(get_int(&b, &b.ends), 1);
	parley_http_pool_destroy(p);
	call_destroy(&a);
	call_destroy(&b);
}

/* A slot freed by a cancel goes to the next in line at once (the pool
 * thread sleeps up to 10 s when nothing is due: a missed wake-up would show
 * here as a long wait). */
static void cancel_frees_slot_at_once(void **state)
{
	server_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_cfree", 1, 4);
	struct call a, b;
	call_init(&a);
	call_init(&b);
	assert_int_equal(submit_path(lane, &a, "/stall"), 0);
	assert_int_equal(submit_path(lane, &b, "/ok"), 0);
	assert_true(wait_for(got_body, &a));
	usleep(50000); /* the pool thread is asleep again */
	int64_t t0 = mono_ms();
	parley_http_cancel(p, a.id);
	wait_end(&b);
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(b.end, PARLEY_SPEECH_OK);
	assert_string_equal(b.body, "hello");
	assert_int_equal(a.end, PARLEY_SPEECH_CANCELLED);
	parley_http_pool_destroy(p);
	call_destroy(&a);
	call_destroy(&b);
}

static void lane_limit_and_fifo(void **state)
{
	server_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_fifo", 2, 10);
	enum { N = 8 };
	struct call c[N];
	for (int i = 0; i < N; i++) {
		char path[32];
		snprintf(path, sizeof path, "/hold/%d", i);
		call_init(&c[i]);
		assert_int_equal(submit_path(lane, &c[i], path), 0);
	}
	wait_counter(&srv.holding, 2);
	usleep(100000); /* room for a third to arrive if the limit were broken */
	assert_int_equal(atomic_load(&srv.holding), 2);
	/* Release one at a time: the next in line takes the freed slot. */
	for (int i = 0; i < N; i++) {
		atomic_store(&srv.release_upto, i + 1);
		wait_end(&c[i]);
		assert_true(atomic_load(&srv.holding) <= 2);
		/* the request that took the slot is at the server before the
		 * next release, so arrivals show the admission order */
		wait_counter(&srv.arrived, i + 3 < N ? i + 3 : N);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(c[i].end, PARLEY_SPEECH_OK);
	assert_int_equal(atomic_load(&srv.max_holding), 2);
	/* Arrival order: the first two in either order, then strictly FIFO. */
	pthread_mutex_lock(&srv.lock);
	assert_int_equal(srv.norder, N);
	for (int i = 2; i < N; i++) {
		char want[16];
		snprintf(want, sizeof want, "%d", i);
		assert_string_equal(srv.order[i], want);
	}
	pthread_mutex_unlock(&srv.lock);
	parley_http_pool_destroy(p);
	for (int i = 0; i < N; i++)
		call_destroy(&c[i]);
}

static void full_queue_refuses(void **state)
{
	server_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_full", 1, 2);
	struct call c[4];
	for (int i = 0; i < 4; i++)
		call_init(&c[i]);
	for (int i = 0; i < 3; i++) {
		char path[32];
		snprintf(path, sizeof path, "/hold/%d", i);
		assert_int_equal(submit_path(lane, &c[i], path), 0);
	}
	struct parley_http_request rq = make_req("/hold/3");
	rq.body = strdup("freed by submit");
	rq.body_len = strlen(rq.body);
	rq.headers = curl_slist_append(NULL, "X-Test: freed too");
	assert_int_equal(submit(lane, &c[3], &rq), PARLEY_E_FULL);
	atomic_store(&srv.release_upto, 3);
	for (int i = 0; i < 3; i++)
		wait_end(&c[i]);
	usleep(50000);
	assert_int_equal(get_int(&c[3], &c[3].ends), 0); /* a refusal never calls back */
	parley_http_pool_destroy(p);
	for (int i = 0; i < 4; i++)
		call_destroy(&c[i]);
}

static void queue_timeout_says_saturated(void **state)
{
	server_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_qt", 1, 4);
	struct call a, b;
	call_init(&a);
	call_init(&b);
	assert_int_equal(submit_path(lane, &a, "/hold/0"), 0);
	struct parley_http_request rq = make_req("/hold/1");
	rq.queue_timeout_ms = 300;
	assert_int_equal(submit(lane, &b, &rq), 0);
	wait_end(&b);
	assert_int_equal(b.end, PARLEY_SPEECH_ERROR);
	assert_int_equal(b.cause, PARLEY_SPEECH_CAUSE_TIMEOUT);
	assert_non_null(strstr(b.message, "saturated"));
	assert_int_equal(get_int(&a, &a.ends), 0);
	atomic_store(&srv.release_upto, 1);
	wait_end(&a);
	assert_int_equal(a.end, PARLEY_SPEECH_OK);
	parley_http_pool_destroy(p);
	call_destroy(&a);
	call_destroy(&b);
}

/* Many threads submit and cancel at once: every accepted request ends
 * exactly once. */
#define RACE_THREADS 4
#define RACE_PER 40

struct racer {
	struct parley_http_pool *p;
	struct parley_http_lane *lane;
	struct call calls[RACE_PER];
	unsigned seed;
};

static void *race_main(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < RACE_PER; i++) {
		struct call *c = &r->calls[i];
		int k = (int)(rand_r(&r->seed) % 4);
		submit_path(r->lane, c, k == 0 ? "/ok" : k == 1 ? "/stream" : "/stall");
		if (c->submit_rc == 0 && rand_r(&r->seed) % 2)
			parley_http_cancel(r->p, c->id);
		if (rand_r(&r->seed) % 3 == 0 && i > 0 && r->calls[i - 1].submit_rc == 0)
			parley_http_cancel(r->p, r->calls[i - 1].id); /* maybe already ended */
		parley_http_cancel(r->p, (uint64_t)rand_r(&r->seed)); /* unknown, mostly */
	}
	return NULL;
}

static void races_end_exactly_once(void **state)
{
	server_reset();
	atomic_store(&srv.gate, 1); /* /stream runs to its end */
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_race", 4, 64);
	static struct racer racers[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	for (int t = 0; t < RACE_THREADS; t++) {
		racers[t].p = p;
		racers[t].lane = lane;
		racers[t].seed = 1234u + (unsigned)t;
		for (int i = 0; i < RACE_PER; i++)
			call_init(&racers[t].calls[i]);
		assert_int_equal(pthread_create(&th[t], NULL, race_main, &racers[t]), 0);
	}
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);
	/* What still stalls is cancelled now. */
	int accepted = 0, full = 0;
	for (int t = 0; t < RACE_THREADS; t++) {
		for (int i = 0; i < RACE_PER; i++) {
			struct call *c = &racers[t].calls[i];
			if (c->submit_rc == 0) {
				accepted++;
				parley_http_cancel(p, c->id);
			} else {
				assert_int_equal(c->submit_rc, PARLEY_E_FULL);
				full++;
			}
		}
	}
	for (int t = 0; t < RACE_THREADS; t++)
		for (int i = 0; i < RACE_PER; i++)
			if (racers[t].calls[i].submit_rc == 0)
				wait_end(&racers[t].calls[i]);
	usleep(100000); /* a second end would come now */
	for (int t = 0; t < RACE_THREADS; t++) {
		for (int i = 0; i < RACE_PER; i++) {
			struct call *c = &racers[t].calls[i];
			assert_int_equal(get_int(c, &c->ends), c->submit_rc == 0 ? 1 : 0);
		}
	}
	assert_true(accepted > 0);
	print_message("races: %d accepted, %d refused as full\n", accepted, full);
	parley_http_pool_destroy(p);
	for (int t = 0; t < RACE_THREADS; t++)
		for (int i = 0; i < RACE_PER; i++)
			call_destroy(&racers[t].calls[i]);
}

static void destroy_ends_everything(void **state)
{
	server_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_destroy", 2, 8);
	struct call c[6];
	int closed0 = atomic_load(&srv.client_closed);
	for (int i = 0; i < 6; i++) {
		call_init(&c[i]);
		assert_int_equal(submit_path(lane, &c[i], "/stall"), 0);
	}
	assert_true(wait_for(got_body, &c[0]));
	assert_true(wait_for(got_body, &c[1]));
	c[0].resubmit = lane; /* its end tries again: the pool refuses, stopping */
	c[5].resubmit = lane;
	parley_http_pool_destroy(p);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(c[i].ends, 1);
		assert_int_equal(c[i].end, PARLEY_SPEECH_CANCELLED);
	}
	assert_int_equal(c[0].resubmit_rc, PARLEY_E_CLOSED);
	assert_int_equal(c[5].resubmit_rc, PARLEY_E_CLOSED);
	wait_counter(&srv.client_closed, closed0 + 2);
	for (int i = 0; i < 6; i++)
		call_destroy(&c[i]);
}

static void run_blocking_on_caller(void **state)
{
	server_reset();
	atomic_store(&srv.gate, 1);
	struct call c;
	call_init(&c);
	struct parley_http_callbacks cb = { cb_head, cb_body, cb_end, &c };
	struct parley_http_request rq = make_req("/stream");
	rq.total_timeout_ms = 20000;
	assert_int_equal(parley_http_run_blocking(&rq, &cb), 0);
	assert_int_equal(c.ends, 1);
	assert_int_equal(c.end, PARLEY_SPEECH_OK);
	assert_string_equal(c.body, "aabbccddee");
	assert_int_equal(c.heads, 1);
	assert_true(pthread_equal(c.end_thread, pthread_self()));

	struct call d;
	call_init(&d);
	cb.arg = &d;
	struct parley_http_request rq2 = { 0 };
	snprintf(rq2.url, sizeof rq2.url, "http://127.0.0.1:%d/", closed_port());
	assert_int_equal(parley_http_run_blocking(&rq2, &cb), -1);
	assert_int_equal(d.ends, 1);
	assert_int_equal(d.cause, PARLEY_SPEECH_CAUSE_UNAVAILABLE);

	struct call e;
	call_init(&e);
	cb.arg = &e;
	struct parley_http_request rq3 = make_req("/status/503");
	assert_int_equal(parley_http_run_blocking(&rq3, &cb), -1);
	assert_int_equal(e.cause, PARLEY_SPEECH_CAUSE_HTTP);
	assert_int_equal(e.status, 503);
	assert_non_null(e.err_body);

	call_destroy(&c);
	call_destroy(&d);
	call_destroy(&e);
}

static atomic_bool abort_flag;

static void *set_abort_later(void *arg)
{
	usleep(200000);
	atomic_store(&abort_flag, true);
	return NULL;
}

static void run_blocking_abort(void **state)
{
	struct call c;
	call_init(&c);
	atomic_store(&abort_flag, false);
	struct parley_http_callbacks cb = { cb_head, cb_body, cb_end, &c };
	struct parley_http_request rq = make_req("/hang");
	rq.abort = &abort_flag;
	int closed0 = atomic_load(&srv.client_closed);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, set_abort_later, NULL), 0);
	assert_int_equal(parley_http_run_blocking(&rq, &cb), -1);
	pthread_join(t, NULL);
	assert_int_equal(c.ends, 1);
	assert_int_equal(c.end, PARLEY_SPEECH_CANCELLED);
	wait_counter(&srv.client_closed, closed0 + 1);
	call_destroy(&c);
}

static void metrics_per_lane(void **state)
{
	parley_metrics_reset();
	struct parley_http_pool *p = parley_http_pool_create();
	struct parley_http_lane *lane = parley_http_lane_create(p, "t_metrics", 1, 1);
	struct call a, b;
	call_init(&a);
	call_init(&b);
	assert_int_equal(submit_path(lane, &a, "/ok"), 0);
	assert_int_equal(submit_path(lane, &b, "/status/500"), 0);
	wait_end(&a);
	wait_end(&b);
	char *out = parley_metrics_render(NULL);
	assert_non_null(out);
	const char *want[] = {
		"parley_http_requests_total{lane=\"t_metrics\"} 2\n",
		"parley_http_inflight{lane=\"t_metrics\"} 0\n",
		"parley_http_queue{lane=\"t_metrics\"} 0\n",
		"parley_http_errors_total{lane=\"t_metrics\",cause=\"http_status\"} 1\n",
		"parley_http_errors_total{lane=\"t_metrics\",cause=\"timeout\"} 0\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(out, want[i]))
			fail_msg("metrics lack %s in:\n%s", want[i], out);
	free(out);
	parley_http_pool_destroy(p);
	out = parley_metrics_render(NULL);
	assert_null(strstr(out, "t_metrics")); /* the lane's series went with it */
	free(out);
	call_destroy(&a);
	call_destroy(&b);
	parley_metrics_reset();
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	parley_log_set_level(PARLEY_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(streams_body_in_pieces),
		cmocka_unit_test(posts_body_and_headers),
		cmocka_unit_test(error_bodies_are_kept),
		cmocka_unit_test(endless_error_body_stops),
		cmocka_unit_test(refused_is_unavailable),
		cmocka_unit_test(connect_timeout),
		cmocka_unit_test(first_byte_timeout),
		cmocka_unit_test(stall_timeout),
		cmocka_unit_test(total_timeout),
		cmocka_unit_test(cut_mid_body_is_broken),
		cmocka_unit_test(cancel_mid_body),
		cmocka_unit_test(body_stop_ends_ok),
		cmocka_unit_test(cancel_while_queued),
		cmocka_unit_test(cancel_frees_slot_at_once),
		cmocka_unit_test(lane_limit_and_fifo),
		cmocka_unit_test(full_queue_refuses),
		cmocka_unit_test(queue_timeout_says_saturated),
		cmocka_unit_test(races_end_exactly_once),
		cmocka_unit_test(destroy_ends_everything),
		cmocka_unit_test(run_blocking_on_caller),
		cmocka_unit_test(run_blocking_abort),
		cmocka_unit_test(metrics_per_lane),
	};
	int rc = cmocka_run_group_tests(tests, server_start, server_stop);
	parley_metrics_reset();
	curl_global_cleanup();
	return rc;
}
