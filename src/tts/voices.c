/*
 * voices.c - the backend registry and the voice allow-list (see tts.h).
 *
 * The list is built once, at startup, from what each backend reports; a
 * name is kept only if it is short and made of [A-Za-z0-9_.+/-] (engine
 * names) or [A-Za-z0-9_-] (parley names and variants), so even the list's
 * own strings are safe for an engine's fixed buffers. It lives for the
 * process (a few kilobytes).
 *
 * It is also the engines' facade: parley_tts_init_all() creates one engine
 * per usable backend, and parley_tts_start/cancel/release route a job to
 * the engine of its voice's backend.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tts/tts.h"
#include "util/err.h"
#include "util/log.h"

static const struct parley_tts_backend *const registry[] = { &parley_tts_flite,
							     &parley_tts_espeak,
							     &parley_tts_openai };
#define NREG (sizeof registry / sizeof registry[0])
static int usable[NREG];
static struct parley_tts_engine *engines[NREG]; /* set at init, destroyed at shutdown */

#define MAX_VOICES 512
#define MAX_VARIANTS 256

static struct entry {
	const struct parley_tts_backend *backend;
	char *name, *engine;
} voices[MAX_VOICES];
/* Atomic: parley_tts_voices_add() publishes an entry after writing it, so
 * readers (plain loads of nvoices are atomic) see only whole entries. */
static _Atomic size_t nvoices;

static struct variant {
	const struct parley_tts_backend *backend;
	char *name;
} variants[MAX_VARIANTS];
static size_t nvariants;

static char summary[512];

static bool safe_name(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || strchr(extra, c)))
			return false;
	}
	return true;
}

static const struct entry *find_entry(const char *name, size_t len)
{
	for (size_t i = 0; i < nvoices; i++)
		if (strlen(voices[i].name) == len && strncasecmp(voices[i].name, name, len) == 0)
			return &voices[i];
	return NULL;
}

static const struct variant *find_variant(const struct parley_tts_backend *b, const char *name)
{
	for (size_t i = 0; i < nvariants; i++)
		if (variants[i].backend == b && strcasecmp(variants[i].name, name) == 0)
			return &variants[i];
	return NULL;
}

static void add_voice(void *arg, const char *name, const char *engine)
{
	const struct parley_tts_backend *b = arg;
	if (!safe_name(name, PARLEY_TTS_NAME_MAX, ".") ||
	    !safe_name(engine, PARLEY_TTS_NAME_MAX, "./")) {
		PARLEY_DEBUG("tts: %s voice with an unusual name skipped", b->name);
		return;
	}
	if (nvoices == MAX_VOICES || find_entry(name, strlen(name)))
		return; /* names are unique: the first backend keeps it */
	char *n = strdup(name), *e = strdup(engine);
	if (!n || !e) {
		free(n);
		free(e);
		return;
	}
	for (char *p = n; *p; p++) /* canonical parley names are lower case */
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	voices[nvoices++] = (struct entry){ b, n, e };
}

static void add_variant(void *arg, const char *name, const char *engine)
{
	const struct parley_tts_backend *b = arg;
	(void)engine;
	if (!safe_name(name, PARLEY_TTS_VARIANT_MAX, "") || nvariants == MAX_VARIANTS ||
	    find_variant(b, name))
		return;
	char *n = strdup(name);
	if (n)
		variants[nvariants++] = (struct variant){ b, n };
}

static void build_summary(void)
{
	size_t o = 0;
	const char *example = NULL;
	for (size_t i = 0; i < nvoices && o < sizeof summary - 40; i++) {
		/* flite's voices and espeak-ng's English ones: a readable sample */
		if (voices[i].backend != &parley_tts_flite && strncmp(voices[i].name, "en", 2) != 0)
			continue;
		o += (size_t)snprintf(summary + o, sizeof summary - o, "%s%s", o ? " " : "",
				      voices[i].name);
	}
	for (size_t i = 0; i < nvariants && !example; i++)
		example = variants[i].name;
	if (o < sizeof summary)
		snprintf(summary + o, sizeof summary - o, " (%zu voices in all%s%s)", nvoices,
			 example ? "; espeak-ng variants such as en-us+" : "", example ? example : "");
}

/* Embedded backends are always there; a remote one only when chosen. */
static bool selected(const struct parley_tts_backend *b, const struct parley_config *cfg)
{
	return !b->remote || strcmp(cfg->tts, b->name) == 0;
}

int parley_tts_init_all(const struct parley_config *cfg, const struct parley_speech_env *env)
{
	int n = 0;
	for (size_t i = 0; i < NREG; i++) {
		const struct parley_tts_backend *b = registry[i];
		usable[i] = selected(b, cfg) && (!b->global_init || b->global_init() == 0);
		if (usable[i] && env) {
			char why[256] = "";
			engines[i] = b->create(cfg, env, why, sizeof why);
			if (!engines[i]) {
				PARLEY_ERROR("tts: %s is not usable: %s", b->name, why);
				usable[i] = 0;
			}
		}
		if (!usable[i])
			continue;
		n++;
		if (b->list)
			b->list(add_voice, (void *)b);
		if (b->list_variants)
			b->list_variants(add_variant, (void *)b);
	}
	build_summary();
	PARLEY_DEBUG("tts: %zu voices and %zu variants allowed", nvoices, nvariants);
	return n;
}

void parley_tts_shutdown(void)
{
	for (size_t i = 0; i < NREG; i++) {
		if (engines[i])
			registry[i]->destroy(engines[i]);
		engines[i] = NULL;
	}
}

void parley_tts_each_engine(void (*fn)(void *arg, const struct parley_tts_backend *b,
				       struct parley_tts_engine *e),
			    void *arg)
{
	for (size_t i = 0; i < NREG; i++)
		if (engines[i])
			fn(arg, registry[i], engines[i]);
}

static struct parley_tts_engine *engine_of(const struct parley_tts_backend *b)
{
	for (size_t i = 0; i < NREG; i++)
		if (registry[i] == b)
			return engines[i];
	return NULL;
}

struct parley_tts_job *parley_tts_start(const struct parley_tts_voice *v, double rate_mult,
					const char *text, const struct parley_tts_sink *sink,
					int *err)
{
	struct parley_tts_engine *e = engine_of(v->backend);
	if (!e) {
		*err = PARLEY_E_CLOSED;
		return NULL;
	}
	return v->backend->start(e, v, rate_mult, text, sink, err);
}

void parley_tts_cancel(const struct parley_tts_voice *v, struct parley_tts_job *j)
{
	if (j)
		v->backend->cancel(j);
}

void parley_tts_release(const struct parley_tts_voice *v, struct parley_tts_job *j)
{
	if (j)
		v->backend->release(j);
}

void parley_tts_each_info(void (*fn)(void *arg, const struct parley_speech_info *info),
			  void *arg)
{
	parley_speech_each_info(PARLEY_SPEECH_TTS, fn, arg);
}

const struct parley_tts_backend *parley_tts_find(const char *name)
{
	for (size_t i = 0; i < NREG; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

int parley_tts_voice_lookup(const char *name, struct parley_tts_voice *out)
{
	size_t base = strcspn(name, "+");
	const struct entry *e = find_entry(name, base);
	if (!e)
		return PARLEY_E_NOTFOUND;
	const struct variant *v = NULL;
	if (name[base] == '+' && !(v = find_variant(e->backend, name + base + 1)))
		return PARLEY_E_NOTFOUND;
	out->backend = e->backend;
	out->engine = e->engine;
	out->variant = v ? v->name : NULL;
	snprintf(out->name, sizeof out->name, "%s%s%s", e->name, v ? "+" : "", v ? v->name : "");
	return 0;
}

const char *parley_tts_all_voices(void)
{
	return summary;
}

void parley_tts_each_voice(void (*fn)(void *arg, const char *voice), void *arg)
{
	for (size_t i = 0; i < nvoices; i++)
		fn(arg, voices[i].name);
}

void parley_tts_each_variant(void (*fn)(void *arg, const char *variant), void *arg)
{
	for (size_t i = 0; i < nvariants; i++)
		fn(arg, variants[i].name);
}

/* Serialises parley_tts_voices_add() callers (the one writer after startup). */
static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;

int parley_tts_voices_add(const struct parley_tts_backend *b, const char *const *names,
			  size_t n)
{
	int added = 0;
	pthread_mutex_lock(&add_lock);
	for (size_t i = 0; i < n; i++) {
		size_t at = atomic_load(&nvoices);
		/* the same checks as the embedded names; the service's spelling
		 * stays the engine name, the parley name is its lower case */
		if (!safe_name(names[i], PARLEY_TTS_NAME_MAX, ".")) {
			PARLEY_DEBUG("tts: %s voice with an unusual name skipped", b->name);
			continue;
		}
		if (at == MAX_VOICES || find_entry(names[i], strlen(names[i])))
			continue; /* names are unique: whoever had it first keeps it */
		char *name = strdup(names[i]), *engine = strdup(names[i]);
		if (!name || !engine) {
			free(name);
			free(engine);
			break;
		}
		for (char *p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		voices[at] = (struct entry){ b, name, engine };
		atomic_store(&nvoices, at + 1); /* publish: the entry is whole */
		added++;
	}
	pthread_mutex_unlock(&add_lock);
	return added;
}
