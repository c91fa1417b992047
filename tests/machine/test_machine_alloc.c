/* tests/machine/test_machine_alloc.c: issue 4, done-when 5 and 7.
 * A counting allocator shows zero allocations while 1,000,000 messages flow
 * after warm-up; a live pingpong session costs at most 256 bytes in the
 * machine and a ring session at most 1 KiB (read from the allocator's live
 * byte count, which includes the session block, scheduler slots, id tables
 * and the session table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mtest.h"

static tr_status
pp_send(void *ctx, const tr_effect *e, tr_value *out)
{
	(void)ctx;
	out->kind = e->sort_kind;
	out->bits = e->tick;
	return TR_OK;
}

static tr_status
pp_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	(void)ctx, (void)labels;
	/* role_state holds the rounds left, as an integer: no allocation */
	int64_t *left = e->role_state;
	*pick = *left > 0 ? 0 : n - 1;
	--*left;
	return TR_OK;
}

static void
test_zero_alloc_per_message(void **state)
{
	(void)state;
	tr_image *img = mt_image_example("pingpong");
	tr_counting_allocator ca;
	tr_counting_allocator_init(&ca, NULL);
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.allocator = &ca.base;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	tr_handler h = {pp_send, NULL, pp_choose, NULL, NULL, NULL};
	enum { S = 1000, ROUNDS = 400 };
	int64_t *left = calloc(S * 2, sizeof *left);
	for (int i = 0; i < S; i++) {
		left[2 * i] = ROUNDS;
		void *rs[2] = {&left[2 * i], &left[2 * i + 1]};
		tr_session_opts o = {0};
		o.role_state = rs;
		tr_session_id id;
		assert_int_equal(tr_machine_open_session(m, img, &h, &o, &id), TR_OK);
	}
	/* warm-up: every session exchanges a few rounds, the pool reaches its
	 * working size */
	tr_run_result rr;
	assert_int_equal(tr_machine_run(m, 20000, &rr), TR_OK);
	tr_machine_stats st0;
	tr_machine_stats_get(m, &st0);
	size_t allocs0 = ca.allocs, reallocs0 = ca.reallocs;
	assert_int_equal(tr_machine_run(m, 100000000, &rr), TR_OK);
	assert_int_equal(rr, TR_RUN_ALL_DONE);
	tr_machine_stats st1;
	tr_machine_stats_get(m, &st1);
	assert_true(st1.messages_sent - st0.messages_sent >= 1000000);
	assert_int_equal(st1.messages_sent, (uint64_t)S * (3 * ROUNDS + 1));
	assert_int_equal(ca.allocs, allocs0);
	assert_int_equal(ca.reallocs, reallocs0);
	tr_machine_free(m);
	assert_int_equal(ca.live_bytes, 0);
	free(left);
	tr_image_free(img);
}

static double
bytes_per_session(const char *name, int S)
{
	tr_image *img = mt_image_example(name);
	tr_counting_allocator ca;
	tr_counting_allocator_init(&ca, NULL);
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.allocator = &ca.base;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	tr_handler h = {pp_send, NULL, pp_choose, NULL, NULL, NULL};
	/* one session opened and reaped first, so that per-image and
	 * per-handler data is in the baseline */
	tr_session_id id;
	assert_int_equal(tr_machine_open_session(m, img, &h, NULL, &id), TR_OK);
	assert_int_equal(tr_machine_cancel(m, id), TR_OK);
	size_t n;
	tr_session_summary sum;
	assert_int_equal(tr_machine_reap_closed_sessions(m, &sum, 1, &n), TR_OK);
	size_t base = ca.live_bytes;
	for (int i = 0; i < S; i++)
		assert_int_equal(tr_machine_open_session(m, img, &h, NULL, &id), TR_OK);
	double per = (double)(ca.live_bytes - base) / S;
	print_message("%s: %.1f bytes per live session (%d sessions)\n", name, per, S);
	tr_machine_free(m);
	tr_image_free(img);
	return per;
}

static void
test_memory_per_session(void **state)
{
	(void)state;
	static const int sizes[] = {10000, 100000, 300000};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		assert_true(bytes_per_session("pingpong", sizes[i]) <= 256.0);
		assert_true(bytes_per_session("ring", sizes[i]) <= 1024.0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_alloc_per_message),
		cmocka_unit_test(test_memory_per_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
