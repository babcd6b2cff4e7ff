/* Unit tests: a speech service's error message (src/net/svcerr.c) and the
 * voice allow-list growing while it is read (parley_tts_voices_add()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/svcerr.h"
#include "tts/tts.h"

static void expect_msg(const char *body, const char *want)
{
	char out[160];
	size_t n = parley_service_message(body, strlen(body), out, sizeof out);
	assert_int_equal(n, strlen(out));
	assert_string_equal(out, want);
}

static void shapes(void **state)
{
	(void)state;
	expect_msg("{\"error\":{\"message\":\"Invalid voice\",\"type\":\"invalid_request_error\"}}",
		   "Invalid voice");
	expect_msg("{\"error\":\"model not loaded\"}", "model not loaded");
	expect_msg("{\"detail\":\"Missing input text\"}", "Missing input text");
	expect_msg("{\"detail\":{\"error\":\"validation_error\",\"message\":\"Voice 'x' not found. "
		   "Available voices: a, b\",\"type\":\"invalid_request_error\"}}",
		   "Voice 'x' not found. Available voices: a, b");
	expect_msg("{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"input\"],\"msg\":\"Field "
		   "required\",\"input\":{}}]}",
		   "body.input: Field required");
	expect_msg("{\"detail\":[{\"loc\":[\"body\",\"speed\",0],\"msg\":\"bad\"}]}",
		   "body.speed[0]: bad");
	expect_msg("{\"message\":\"plain\"}", "plain");
	expect_msg("Internal Server Error\r\n", "Internal Server Error");
	expect_msg("", "");
	expect_msg("{\"other\":1}", "{\"other\":1}");
	/* long bodies are cut on a character boundary */
	char body[600], out[20];
	memset(body, 'a', sizeof body);
	memcpy(body + 18, "\xC3\xA9", 2);
	parley_service_message(body, sizeof body, out, sizeof out);
	assert_int_equal(strlen(out), 18); /* é would be split: left out */
}

/* --- the allow-list grows on one thread while others read it --- */

static const struct parley_tts_backend fake_backend = { .name = "fake", .remote = true };
static atomic_bool done;

static void *reader(void *arg)
{
	(void)arg;
	char name[16];
	while (!atomic_load(&done)) {
		for (int i = 0; i < 300; i += 7) {
			snprintf(name, sizeof name, "Voice_%d", i);
			struct parley_tts_voice v;
			if (parley_tts_voice_lookup(name, &v) == 0) {
				assert_ptr_equal(v.backend, &fake_backend);
				assert_string_equal(v.engine, name); /* the service's spelling */
				snprintf(name, sizeof name, "voice_%d", i);
				assert_string_equal(v.name, name); /* the canonical one */
			}
		}
	}
	return NULL;
}

static void grow_while_read(void **state)
{
	(void)state;
	pthread_t r[2];
	atomic_store(&done, false);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&r[i], NULL, reader, NULL), 0);
	char bufs[300][16];
	for (int i = 0; i < 300; i++) {
		snprintf(bufs[i], sizeof bufs[i], "Voice_%d", i);
		const char *one[] = { bufs[i] };
		assert_int_equal(parley_tts_voices_add(&fake_backend, one, 1), 1);
	}
	atomic_store(&done, true);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	struct parley_tts_voice v;
	assert_int_equal(parley_tts_voice_lookup("VOICE_299", &v), 0);
	/* duplicates and unsafe names are not added */
	const char *again[] = { "voice_1", "bad name", "a\"b", "", "x/y",
				"waytoolongvoicenamethatisoverthirtytwo" };
	assert_int_equal(parley_tts_voices_add(&fake_backend, again, 6), 0);
	assert_int_not_equal(parley_tts_voice_lookup("bad name", &v), 0);
	const char *ok[] = { "af_bella", "tara" };
	assert_int_equal(parley_tts_voices_add(&fake_backend, ok, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shapes),
		cmocka_unit_test(grow_while_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
