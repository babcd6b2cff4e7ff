/* fake_chat.c - see fake_chat.h. */
#include "fake_chat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int lfd = -1;
static pthread_t acceptor;
static atomic_int active;
static atomic_bool stopping;

static bool send_all(int fd, const char *s, size_t n)
{
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
	json_t *ev = json_pack("{s:[{s:i, s:{s:s}}]}", "choices", "index", 0, "delta", "content",
			       text);
	char *js = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!js)
		return false;
	char buf[8192];
	int n = snprintf(buf, sizeof buf, "data: %s\n\n", js);
	free(js);
	return n > 0 && (size_t)n < sizeof buf && send_all(fd, buf, (size_t)n);
}

/* The request body (Content-Length), or NULL. */
static char *read_body(int fd)
{
	size_t cap = 1 << 20, len = 0, want = 0;
	char *buf = malloc(cap + 1), *body = NULL;
	if (!buf)
		return NULL;
	for (;;) {
		ssize_t r = len < cap ? recv(fd, buf + len, cap - len, 0) : -1;
		if (r <= 0) {
			free(buf);
			return NULL;
		}
		len += (size_t)r;
		buf[len] = '\0';
		if (!body) {
			char *end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			body = end + 4;
			for (const char *h = buf; h && h < end; h = strstr(h, "\r\n"), h = h ? h + 2 : NULL)
				if (strncasecmp(h, "content-length:", 15) == 0)
					want = strtoul(h + 15, NULL, 10);
		}
		if ((size_t)(buf + len - body) >= want)
			break;
	}
	memmove(buf, body, (size_t)(buf + len - body) + 1);
	return buf;
}

static const char *content_of(json_t *m)
{
	const char *c = json_string_value(json_object_get(m, "content"));
	return c ? c : "";
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *body = read_body(fd);
	json_t *req = body ? json_loads(body, 0, NULL) : NULL;
	json_t *msgs = json_object_get(req, "messages");
	const char *user = "", *system = "";
	char history[4096] = "";
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		if (!role)
			continue;
		if (!strcmp(role, "user"))
			user = content_of(m);
		else if (!strcmp(role, "system"))
			system = content_of(m);
		else if (!strcmp(role, "assistant"))
			snprintf(history + strlen(history), sizeof history - strlen(history), "%s%s",
				 history[0] ? "|" : "", content_of(m));
	}
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Connection: close\r\n\r\n";
	if (strstr(user, "kind:fail")) {
		static const char err[] = "{\"error\":{\"message\":\"the fake failed\"}}";
		char h[256];
		int n = snprintf(h, sizeof h,
				 "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json"
				 "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				 strlen(err));
		if (send_all(fd, h, (size_t)n))
			send_all(fd, err, strlen(err));
	} else if (send_all(fd, head, strlen(head))) {
		bool ok = true;
		if (strstr(user, "kind:slow")) {
			char w[32];
			for (int k = 0; ok && k < 20 && !atomic_load(&stopping); k++) {
				snprintf(w, sizeof w, "%sw%d", k ? " " : "", k);
				ok = send_token(fd, w);
				usleep(50000);
			}
		} else if (strstr(user, "kind:prompt")) {
			ok = send_token(fd, system);
		} else if (strstr(user, "kind:history")) {
			ok = send_token(fd, history[0] ? history : "none");
		} else {
			ok = send_token(fd, "one two") && send_token(fd, " three four five");
		}
		if (ok)
			send_all(fd, "data: [DONE]\n\n", 14);
	}
	json_decref(req);
	free(body);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	atomic_fetch_sub(&active, 1);
	return NULL;
}

static void *accept_main(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0) {
			if (atomic_load(&stopping))
				return NULL;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		pthread_t t;
		atomic_fetch_add(&active, 1);
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c) != 0) {
			atomic_fetch_sub(&active, 1);
			close(c);
			continue;
		}
		pthread_detach(t);
	}
}

int fake_chat_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	atomic_store(&stopping, false);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0 ||
	    pthread_create(&acceptor, NULL, accept_main, NULL) != 0)
		return -1;
	return ntohs(a.sin_port);
}

void fake_chat_stop(void)
{
	atomic_store(&stopping, true);
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(acceptor, NULL);
	while (atomic_load(&active) > 0)
		usleep(1000);
}
