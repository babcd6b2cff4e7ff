#include <stdio.h>
#include <string.h>

#include "tts/tts.h"

static const struct parley_tts_backend *const registry[] = { &parley_tts_flite,
							     &parley_tts_espeak };
#define NREG (sizeof registry / sizeof registry[0])
static int usable[NREG];

int parley_tts_init_all(void)
{
	int n = 0;
	for (size_t i = 0; i < NREG; i++) {
		usable[i] = registry[i]->global_init() == 0;
		n += usable[i];
	}
	return n;
}

const struct parley_tts_backend *parley_tts_find(const char *name)
{
	for (size_t i = 0; i < NREG; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const struct parley_tts_backend *parley_tts_find_voice(const char *voice)
{
	for (size_t i = 0; i < NREG; i++)
		if (usable[i] && registry[i]->has_voice(voice))
			return registry[i];
	return NULL;
}

const char *parley_tts_all_voices(void)
{
	static char buf[512];
	if (!buf[0])
		snprintf(buf, sizeof buf, "flite: %s; espeak: %s", parley_tts_flite.voices(),
			 parley_tts_espeak.voices());
	return buf;
}

void parley_tts_each_voice(void (*fn)(void *arg, const char *voice), void *arg)
{
	for (size_t i = 0; i < NREG; i++) {
		if (!usable[i])
			continue;
		for (const char *const *n = registry[i]->names; *n; n++)
			fn(arg, *n);
	}
}
