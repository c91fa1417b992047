/* tests/lang/test_json.c: the origin's golden projections (tests/data/golden,
 * copied from rust/bridge/golden) read from its JSON global types and
 * printed in its local JSON shape, byte for byte; and bad JSON rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "lang_helpers.h"

static void
golden_case(const char *name, unsigned nroles)
{
	char path[512];
	size_t len;
	snprintf(path, sizeof path, "%s/golden/%s/input.json", TR_TEST_DATA, name);
	char *in = slurp(path, &len);
	assert_non_null(in);
	tr_counting_allocator ca;
	tr_counting_allocator_init(&ca, NULL);
	tr_protocol *p;
	tr_error err;
	if (tr_protocol_parse_json(in, len, path, &ca.base, &p, &err)) {
		char buf[512];
		fail_msg("%s", tr_error_format(&err, buf, sizeof buf));
	}
	assert_int_equal(tr_protocol_nroles(p), nroles);
	for (unsigned r = 0; r < nroles; r++) {
		snprintf(path, sizeof path, "%s/golden/%s/%s.expected.json", TR_TEST_DATA, name,
		         tr_protocol_role_name(p, r));
		size_t elen;
		char *want = slurp(path, &elen);
		assert_non_null(want);
		char *got = local_text(p, r, 1);
		assert_non_null(got);
		/* modulo the trailing newline */
		size_t glen = strlen(got);
		while (glen && got[glen - 1] == '\n')
			glen--;
		while (elen && want[elen - 1] == '\n')
			elen--;
		if (glen != elen || memcmp(got, want, glen) != 0)
			fail_msg("%s role %s:\n--- got\n%s\n--- want\n%s", name, tr_protocol_role_name(p, r),
			         got, want);
		free(got);
		free(want);
	}
	tr_protocol_free(p);
	assert_int_equal(ca.live_bytes, 0);
	free(in);
}

static void
golden(void **state)
{
	(void)state;
	golden_case("ping_pong", 2);
	golden_case("choice_protocol", 2);
	golden_case("multi_branch", 2);
	golden_case("recursive_loop", 2);
	golden_case("nested_recursion", 2);
	golden_case("merge_test", 4);
	golden_case("three_party_ring", 3);
	golden_case("four_party", 4);
	golden_case("async_independent", 4);
}

static void
expect_json_error(const char *text, tr_status want, unsigned line, unsigned col,
                  const char *reason)
{
	tr_counting_allocator ca;
	tr_counting_allocator_init(&ca, NULL);
	tr_protocol *p;
	tr_error err;
	tr_status st = tr_protocol_parse_json(text, strlen(text), "t.json", &ca.base, &p, &err);
	if (st != want || err.line != line || err.col != col || !strstr(err.msg, reason))
		fail_msg("%s: got %s %u:%u %s", text, tr_status_name(st), err.line, err.col, err.msg);
	assert_int_equal(ca.live_bytes, 0);
}

static void
bad_json(void **state)
{
	(void)state;
	expect_json_error("", TR_E_SYNTAX, 1, 1, "empty");
	expect_json_error("{\"kind\": \"end\"", TR_E_SYNTAX, 1, 15, "expected ',' or '}'");
	expect_json_error("{\"kind\": \"var\", \"name\": \"t\"}", TR_E_WELLFORMED, 1, 25, "not bound");
	expect_json_error("{\"kind\": \"rec\", \"var\": \"t\", \"body\": {\"kind\": \"var\", \"name\": \"t\"}}",
	                  TR_E_WELLFORMED, 1, 37, "unguarded recursion");
	expect_json_error("{\"kind\": \"comm\", \"sender\": \"A\", \"receiver\": \"A\", \"branches\": "
	                  "[{\"label\": {\"name\": \"x\"}, \"continuation\": {\"kind\": \"end\"}}]}",
	                  TR_E_WELLFORMED, 1, 1, "self-send");
	expect_json_error("{\"kind\": \"comm\", \"sender\": \"A\", \"receiver\": \"B\", \"branches\": []}",
	                  TR_E_WELLFORMED, 1, 62, "1 to 1024 branches");
	expect_json_error("{\"kind\": \"comm\", \"sender\": \"A\", \"receiver\": \"B\", \"branches\": "
	                  "[{\"label\": {\"name\": \"x\", \"sort\": \"real\"}, \"continuation\": "
	                  "{\"kind\": \"end\"}}]}",
	                  TR_E_UNSUPPORTED, 1, 95, "not supported yet: payload sort real");
	expect_json_error("{\"kind\": \"par\"}", TR_E_UNSUPPORTED, 1, 10, "not supported yet");
	/* 5,000 nested arrays: bounded, no stack overflow */
	char *deep = malloc(10001);
	memset(deep, '[', 5000);
	memset(deep + 5000, ']', 5000);
	deep[10000] = 0;
	expect_json_error(deep, TR_E_LIMIT, 1, 2050, "nested deeper");
	free(deep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden),
		cmocka_unit_test(bad_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
