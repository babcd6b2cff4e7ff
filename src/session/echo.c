/*
 * echo.c - the echo guard's place in the session (echo.h, session.h): on
 * or off by the server's mode and the client's word, and whether an
 * utterance is the assistant's own words coming back.
 *
 * Threads: the setters and the status from any thread; the verdict on the
 * listen strand. The guard locks itself (a leaf lock); the recent words
 * are read under s->lock.
 */
#include <stdlib.h>
#include <string.h>

#include "session/echo.h"
#include "session/echoguard.h"
#include "session/internal.h"
#include "text/echowords.h"
#include "util/buf.h"
#include "util/log.h"

const char *parley_echo_mode_name(enum parley_echo_mode m)
{
	return m == PARLEY_ECHO_ON ? "on" : m == PARLEY_ECHO_OFF ? "off" : "auto";
}

/* The guard is on: always (on), never (off), or unless the client cancels
 * echo itself (auto). */
static bool wanted(enum parley_echo_mode m, bool cancelled)
{
	return m == PARLEY_ECHO_ON || (m == PARLEY_ECHO_AUTO && !cancelled);
}

void parley_session_echo_init(struct parley_session *s)
{
	if (s->echo)
		parley_echoguard_set_on(s->echo, wanted(s->echo_mode, false));
}

void parley_session_echo_destroy(struct parley_session *s)
{
	if (!s->echo)
		return;
	struct parley_echoguard_stats st;
	parley_echoguard_stats(s->echo, &st);
	if (st.frames)
		PARLEY_INFO("session %llu: echo guard: delay %d ms, %llu frames worked on (%.1f s), "
			    "%llu gated as echo, residual %.1f dB, cpu %.1f ms",
			    (unsigned long long)s->id, st.delay_ms, (unsigned long long)st.frames,
			    (double)st.frames * 0.02, (unsigned long long)st.gated, st.predicted_db,
			    st.cpu_ms);
	parley_echoguard_destroy(s->echo);
	s->echo = NULL;
}

void parley_session_set_echo_cancelled(struct parley_session *s, bool cancelled)
{
	if (!s->echo)
		return;
	bool on = wanted(s->echo_mode, cancelled);
	if (on != parley_echoguard_on(s->echo))
		PARLEY_INFO("session %llu: echo guard %s (the client %s echo)",
			    (unsigned long long)s->id, on ? "on" : "off",
			    cancelled ? "cancels" : "does not cancel");
	parley_echoguard_set_on(s->echo, on);
}

bool parley_session_echo_guard(struct parley_session *s)
{
	return s->echo && parley_echoguard_on(s->echo);
}

/* Caller holds s->lock: the current answer's spoken text and the one
 * before it, joined; malloc'd (caller frees), NULL on OOM. */
static char *recent_words_locked(struct parley_session *s)
{
	const struct parley_spoken_set *k = &s->spk.kept[0];
	size_t cap = s->spk.said.len + 2;
	for (size_t i = 0; i < k->n; i++)
		cap += strlen(k->p[i].text) + 1;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < k->n; i++) {
		size_t n = strlen(k->p[i].text);
		memcpy(out + o, k->p[i].text, n);
		o += n;
		out[o++] = ' ';
	}
	memcpy(out + o, parley_buf_str(&s->spk.said), s->spk.said.len);
	o += s->spk.said.len;
	out[o] = '\0';
	return out;
}

bool parley_session_utterance_is_echo(struct parley_session *s, const char *text,
				      int64_t start_ms)
{
	if (!s->echo || !parley_echoguard_on(s->echo))
		return false;
	double last = parley_echoguard_last_echo_ms(s->echo);
	if (last < 0 || (double)start_ms > last + PARLEY_ECHO_WORDS_AFTER_MS)
		return false;
	pthread_mutex_lock(&s->lock);
	char *said = recent_words_locked(s);
	pthread_mutex_unlock(&s->lock);
	bool echo = said && parley_echo_words_match(text, said);
	free(said);
	return echo;
}
