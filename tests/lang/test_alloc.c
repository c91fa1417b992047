/* tests/lang/test_alloc.c: allocation failure at every call of a parse
 * never crashes or leaks; success and error paths free everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "lang_helpers.h"

static void
fail_every_call(const char *path, bool json)
{
	size_t len;
	char *text = slurp(path, &len);
	assert_non_null(text);
	tr_status ok = TR_E_NOMEM;
	for (size_t nth = 1; nth < 100000 && ok == TR_E_NOMEM; nth++) {
		tr_counting_allocator ca;
		tr_counting_allocator_init(&ca, NULL);
		ca.fail_after = nth;
		tr_protocol *p = NULL;
		tr_error err;
		tr_status st = json ? tr_protocol_parse_json(text, len, path, &ca.base, &p, &err)
		                    : tr_protocol_parse(text, len, path, &ca.base, &p, &err);
		if (st == TR_OK)
			tr_protocol_free(p);
		else
			assert_null(p);
		if (ca.live_bytes != 0)
			fail_msg("%s: fail at call %zu: %zu bytes leaked (%s)", path, nth, ca.live_bytes,
			         tr_status_name(st));
		ok = st;
		if (st != TR_E_NOMEM)
			break;
	}
	free(text);
}

static void
examples(void **state)
{
	(void)state;
	const char *names[] = {"pingpong.tell", "ring.tell", "twobuyer.tell", "travel_agency.tell",
	                       "two_phase_commit.tell", "oauth_login.tell"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", TR_EXAMPLES, names[i]);
		fail_every_call(path, false);
	}
}

static void
bad_files(void **state)
{
	(void)state;
	const char *names[] = {"unprojectable_end_merge.tell", "unknown_continue.tell",
	                       "unsupported_par.tell", "duplicate_label.tell"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/bad/%s", TR_TEST_DATA, names[i]);
		fail_every_call(path, false);
	}
}

static void
json(void **state)
{
	(void)state;
	fail_every_call(TR_TEST_DATA "/golden/four_party/input.json", true);
	fail_every_call(TR_TEST_DATA "/golden/nested_recursion/input.json", true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(examples),
		cmocka_unit_test(bad_files),
		cmocka_unit_test(json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
