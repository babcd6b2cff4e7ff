/*
 * backends.c - the speech-to-text backends by name (stt.h).
 */
#include <string.h>

#include "stt/stt.h"

static const struct parley_stt_backend *const registry[] = {
	&parley_stt_pocketsphinx,
};

const struct parley_stt_backend *parley_stt_backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}
