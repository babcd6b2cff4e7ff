#include "util/readiness.h"

#include <pthread.h>
#include <stdio.h>

#include "util/err.h"

struct component {
	const char *name;
	bool ready;
	char reason[256];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct component g_components[PARLEY_READINESS_MAX]; /* guarded by g_lock */
static int g_count;

int parley_readiness_add(const char *name, const char *reason)
{
	int id = PARLEY_E_FULL;
	pthread_mutex_lock(&g_lock);
	if (g_count < PARLEY_READINESS_MAX) {
		id = g_count++;
		g_components[id].name = name;
		g_components[id].ready = false;
		snprintf(g_components[id].reason, sizeof g_components[id].reason, "%s",
			 reason ? reason : "starting");
	}
	pthread_mutex_unlock(&g_lock);
	return id;
}

void parley_readiness_set(int id, bool ready, const char *reason)
{
	pthread_mutex_lock(&g_lock);
	if (id >= 0 && id < g_count) {
		g_components[id].ready = ready;
		snprintf(g_components[id].reason, sizeof g_components[id].reason, "%s",
			 reason ? reason : "");
	}
	pthread_mutex_unlock(&g_lock);
}

bool parley_readiness_check(char *why, size_t whylen)
{
	bool all = true;
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < g_count; i++) {
		if (!g_components[i].ready) {
			all = false;
			if (why && whylen)
				snprintf(why, whylen, "%s: %s", g_components[i].name,
					 g_components[i].reason);
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return all;
}

void parley_readiness_reset(void)
{
	pthread_mutex_lock(&g_lock);
	g_count = 0;
	pthread_mutex_unlock(&g_lock);
}
