/* tests/common/test_util.c: status table, error formatting, arena, vectors,
 * the intern table, CRC-32C and the counting allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "util.h"

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(tr_status_name(TR_OK), "TR_OK");
	assert_string_equal(tr_status_name(TR_E_CORRUPT), "TR_E_CORRUPT");
	assert_string_equal(tr_status_name((tr_status)999), "TR_E_UNKNOWN");
	assert_string_equal(tr_status_str(TR_E_UNSUPPORTED), "not supported yet");
}

static void
test_error_format(void **state)
{
	(void)state;
	tr_error e;
	char buf[512];
	tr_error_clear(&e);
	tr_err_file(&e, "x.tell");
	tr_err_at(&e, TR_E_SYNTAX, 3, 7, "expected %s", "role");
	assert_string_equal(tr_error_format(&e, buf, sizeof buf), "x.tell:3:7: error: expected role");
	tr_err_off(&e, TR_E_CORRUPT, 42, "bad checksum");
	assert_string_equal(tr_error_format(&e, buf, sizeof buf), "x.tell: byte 42: error: bad checksum");
	tr_err_pc(&e, TR_E_VERIFY, 1, 5, "wrong label");
	assert_string_equal(tr_error_format(&e, buf, sizeof buf), "x.tell: role 1 pc 5: error: wrong label");
}

static void
test_strtab(void **state)
{
	(void)state;
	tr_strtab t;
	uint32_t ids[1000];
	char name[32];
	tr_strtab_init(&t, NULL);
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(name, sizeof name, "label%d", i);
		assert_int_equal(tr_strtab_intern(&t, name, (size_t)n, &ids[i]), TR_OK);
		assert_int_equal(ids[i], i);
	}
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(name, sizeof name, "label%d", i);
		uint32_t id;
		assert_int_equal(tr_strtab_intern(&t, name, (size_t)n, &id), TR_OK);
		assert_int_equal(id, ids[i]);
		assert_string_equal(tr_strtab_get(&t, id), name);
	}
	assert_int_equal(tr_strtab_find(&t, "nope", 4), UINT32_MAX);
	tr_strtab_destroy(&t);
}

static void
test_arena_vec_counting(void **state)
{
	(void)state;
	tr_counting_allocator c;
	tr_counting_allocator_init(&c, NULL);
	tr_arena ar;
	tr_arena_init(&ar, &c.base);
	for (int i = 0; i < 10000; i++) {
		char *p = tr_arena_alloc(&ar, (size_t)(i % 100) + 1);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
	}
	tr_vec v;
	tr_vec_init(&v, sizeof(int));
	for (int i = 0; i < 5000; i++)
		assert_non_null(tr_vec_push(&v, &c.base, &i));
	for (int i = 0; i < 5000; i++)
		assert_int_equal(TR_VEC_AT(&v, int, i), i);
	tr_vec_destroy(&v, &c.base);
	tr_arena_destroy(&ar);
	assert_int_equal(c.live_bytes, 0);
	assert_true(c.allocs > 0);
	/* failure injection: the 1st call from now fails, nothing leaks */
	c.fail_after = 1;
	tr_vec_init(&v, sizeof(int));
	int x = 1;
	assert_null(tr_vec_push(&v, &c.base, &x));
	assert_int_equal(c.live_bytes, 0);
}

static void
test_crc32c(void **state)
{
	(void)state;
	/* the standard check value of CRC-32C */
	assert_int_equal(tr_crc32c(0, "123456789", 9), 0xE3069283u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test(test_strtab),
		cmocka_unit_test(test_arena_vec_counting),
		cmocka_unit_test(test_crc32c),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
