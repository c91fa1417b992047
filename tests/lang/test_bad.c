/* tests/lang/test_bad.c: every malformed protocol of tests/data/bad is
 * rejected with the line:col and reason its manifest (expect.txt) names,
 * frees everything it allocated, and formats as FILE:LINE:COL: error: ... */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "lang_helpers.h"

static void
manifest(void **state)
{
	(void)state;
	FILE *m = fopen(TR_TEST_DATA "/bad/expect.txt", "r");
	assert_non_null(m);
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof line, m)) {
		char name[256], reason[512];
		unsigned l, c;
		if (sscanf(line, "%255[^\t]\t%u:%u\t%511[^\n]", name, &l, &c, reason) != 4)
			fail_msg("bad manifest line: %s", line);
		char path[512];
		snprintf(path, sizeof path, "%s/bad/%s", TR_TEST_DATA, name);
		tr_counting_allocator ca;
		tr_counting_allocator_init(&ca, NULL);
		tr_protocol *p = (tr_protocol *)1;
		tr_error err;
		tr_status st = tr_protocol_parse_file(path, &ca.base, &p, &err);
		if (st == TR_OK)
			fail_msg("%s: accepted", name);
		assert_null(p);
		assert_int_equal(err.status, st);
		assert_true(st != TR_E_NOMEM && st != TR_E_IO && st != TR_E_INVALID);
		if (err.line != l || err.col != c || !strstr(err.msg, reason))
			fail_msg("%s: got %u:%u %s (%s), want %u:%u ...%s...", name, err.line, err.col,
			         err.msg, tr_status_name(st), l, c, reason);
		char buf[1024], want[600];
		tr_error_format(&err, buf, sizeof buf);
		snprintf(want, sizeof want, "%s:%u:%u: error: ", path, l, c);
		assert_memory_equal(buf, want, strlen(want));
		if (ca.live_bytes != 0)
			fail_msg("%s: %zu bytes leaked", name, ca.live_bytes);
		n++;
	}
	fclose(m);
	assert_true(n >= 30);
}

/* Status classes for a few representative files. */
static void
statuses(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		tr_status st;
	} cases[] = {
		{"undeclared_role.tell", TR_E_WELLFORMED},
		{"unguarded_rec.tell", TR_E_WELLFORMED},
		{"unprojectable_end_merge.tell", TR_E_PROJECTION},
		{"unsupported_par.tell", TR_E_UNSUPPORTED},
		{"unsupported_role_family.tell", TR_E_UNSUPPORTED},
		{"tab_indentation.tell", TR_E_SYNTAX},
		{"empty.tell", TR_E_SYNTAX},
		{"binary.tell", TR_E_SYNTAX},
		{"long_identifier.tell", TR_E_LIMIT},
		{"deep_nesting.tell", TR_E_LIMIT},
		{"repeat_too_big_total.tell", TR_E_LIMIT},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/bad/%s", TR_TEST_DATA, cases[i].name);
		tr_protocol *p;
		tr_error err;
		tr_status st = tr_protocol_parse_file(path, NULL, &p, &err);
		if (st != cases[i].st)
			fail_msg("%s: %s, want %s", cases[i].name, tr_status_name(st),
			         tr_status_name(cases[i].st));
	}
}

static void
bad_arguments(void **state)
{
	(void)state;
	tr_protocol *p;
	tr_error err;
	assert_int_equal(tr_protocol_parse(NULL, 0, "x", NULL, &p, &err), TR_E_INVALID);
	assert_int_equal(tr_protocol_parse("", 0, "x", NULL, NULL, &err), TR_E_INVALID);
	assert_int_equal(tr_protocol_parse_file(TR_TEST_DATA "/bad/does-not-exist.tell", NULL, &p,
	                                        &err),
	                 TR_E_IO);
	/* err may be NULL */
	assert_int_equal(tr_protocol_parse("protocol", 8, NULL, NULL, &p, NULL), TR_E_SYNTAX);
	tr_protocol_free(NULL);
	assert_int_equal(tr_protocol_print_local(NULL, 0, stdout), TR_E_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(manifest),
		cmocka_unit_test(statuses),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
