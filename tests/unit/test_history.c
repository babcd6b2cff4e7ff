/* Unit tests: per-session conversation history (src/session/history.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "session/history.h"

static const char *content(json_t *msgs, size_t i)
{
	return json_string_value(json_object_get(json_array_get(msgs, i), "content"));
}

static const char *role(json_t *msgs, size_t i)
{
	return json_string_value(json_object_get(json_array_get(msgs, i), "role"));
}

static void builds_messages_with_system_prompt(void **state)
{
	struct parley_history h;
	parley_history_init(&h, 1000);
	parley_history_add(&h, PARLEY_ROLE_USER, "hi there", 8, false);
	parley_history_add(&h, PARLEY_ROLE_ASSISTANT, "hello, how can", 14, true);
	parley_history_add(&h, PARLEY_ROLE_USER, "tell me", 4, false); /* len respected */
	json_t *m = parley_history_messages(&h, "be brief");
	assert_int_equal(json_array_size(m), 4);
	assert_string_equal(role(m, 0), "system");
	assert_string_equal(content(m, 0), "be brief");
	assert_string_equal(role(m, 1), "user");
	assert_string_equal(role(m, 2), "assistant");
	assert_string_equal(content(m, 2), "hello, how can...");
	assert_string_equal(content(m, 3), "tell");
	json_decref(m);
	parley_history_clear(&h);
	m = parley_history_messages(&h, NULL);
	assert_int_equal(json_array_size(m), 0);
	json_decref(m);
	parley_history_destroy(&h);
}

static void trims_oldest_first_within_budget(void **state)
{
	struct parley_history h;
	parley_history_init(&h, 20);
	parley_history_add(&h, PARLEY_ROLE_USER, "aaaaaaaaaa", 10, false);
	parley_history_add(&h, PARLEY_ROLE_ASSISTANT, "bbbbbbbbbb", 10, false);
	assert_int_equal(h.n, 2);
	parley_history_add(&h, PARLEY_ROLE_USER, "ccccc", 5, false);
	assert_int_equal(h.n, 2); /* the oldest went */
	assert_string_equal(h.turns[0].text, "bbbbbbbbbb");
	assert_int_equal(h.chars, 15);
	/* a single turn larger than the budget is still kept */
	parley_history_add(&h, PARLEY_ROLE_ASSISTANT, "dddddddddddddddddddddddddd", 26, false);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.chars, 26);
	parley_history_destroy(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builds_messages_with_system_prompt),
		cmocka_unit_test(trims_oldest_first_within_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
