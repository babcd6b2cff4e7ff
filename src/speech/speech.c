/*
 * speech.c - the speech engines' shared vocabulary (speech.h): names of
 * causes, kinds and states, and the process-wide table of engine states
 * that the warm-up writes and status messages read.
 */
#include "speech/speech.h"

#include <pthread.h>
#include <string.h>

#include "util/err.h"

#define MAX_ENGINES 16

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	enum parley_speech_kind kind;
	struct parley_speech_info info;
} g_engines[MAX_ENGINES]; /* guarded by g_lock */
static int g_n;           /* guarded by g_lock */

const char *parley_speech_cause_name(enum parley_speech_cause c)
{
	static const char *const names[PARLEY_SPEECH_CAUSE_COUNT] = {
		[PARLEY_SPEECH_CAUSE_NONE] = "none",
		[PARLEY_SPEECH_CAUSE_BUSY] = "busy",
		[PARLEY_SPEECH_CAUSE_UNAVAILABLE] = "unavailable",
		[PARLEY_SPEECH_CAUSE_TIMEOUT] = "timeout",
		[PARLEY_SPEECH_CAUSE_HTTP] = "http",
		[PARLEY_SPEECH_CAUSE_BROKEN] = "broken",
		[PARLEY_SPEECH_CAUSE_REFUSED] = "refused",
		[PARLEY_SPEECH_CAUSE_INTERNAL] = "internal",
	};
	if ((unsigned)c < PARLEY_SPEECH_CAUSE_COUNT)
		return names[c];
	return "internal";
}

const char *parley_speech_kind_name(enum parley_speech_kind k)
{
	return k == PARLEY_SPEECH_STT ? "stt" : "tts";
}

const char *parley_speech_state_name(enum parley_speech_state s)
{
	switch (s) {
	case PARLEY_SPEECH_READY: return "ready";
	case PARLEY_SPEECH_UNAVAILABLE: return "unavailable";
	default: return "warming";
	}
}

int parley_speech_engine_add(enum parley_speech_kind kind, const struct parley_speech_info *info)
{
	int id = PARLEY_E_FULL;
	pthread_mutex_lock(&g_lock);
	if (g_n < MAX_ENGINES) {
		id = g_n++;
		g_engines[id].kind = kind;
		g_engines[id].info = *info;
	}
	pthread_mutex_unlock(&g_lock);
	return id;
}

void parley_speech_engine_set(int id, const struct parley_speech_info *info)
{
	pthread_mutex_lock(&g_lock);
	if (id >= 0 && id < g_n)
		g_engines[id].info = *info;
	pthread_mutex_unlock(&g_lock);
}

void parley_speech_each_info(enum parley_speech_kind kind,
			     void (*fn)(void *arg, const struct parley_speech_info *info),
			     void *arg)
{
	for (int i = 0;; i++) {
		struct parley_speech_info copy;
		bool found = false;
		pthread_mutex_lock(&g_lock);
		for (; i < g_n; i++) {
			if (g_engines[i].kind == kind) {
				copy = g_engines[i].info;
				found = true;
				break;
			}
		}
		pthread_mutex_unlock(&g_lock);
		if (!found)
			return;
		fn(arg, &copy);
	}
}

void parley_speech_engines_reset(void)
{
	pthread_mutex_lock(&g_lock);
	memset(g_engines, 0, sizeof g_engines);
	g_n = 0;
	pthread_mutex_unlock(&g_lock);
}
