/* tests/runtime/test_workloads.c: issue 5, done-when 1. Every standard
 * workload, compiled from examples/protocols, completes on the runtime with
 * the exact WORKLOADS.md message count and every payload checked, with 1, 2
 * and 4 workers (4 oversubscribes a 2-core machine) and both placements.
 * Argument: sessions per run (default 10000), rounds (default 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rt_harness.h"

static uint64_t g_sessions = 10000;
static int64_t g_rounds = 3;

static void
run_all(int kind)
{
	static const uint32_t threads[] = {1, 2, 4};
	static const tr_placement places[] = {TR_PLACE_LOCAL, TR_PLACE_SPREAD};
	rt_wl wl;
	tr_error err;

	assert_int_equal(rt_wl_init(&wl, TR_EXAMPLES, kind, &err), TR_OK);
	for (size_t t = 0; t < 3; t++) {
		for (size_t p = 0; p < 2; p++) {
			rt_run r = {.kind = kind, .threads = threads[t], .placement = places[p],
			            .sessions = g_sessions, .rounds = g_rounds, .pin = true};
			rt_run_workload(&wl, &r);
			print_message("%s threads=%u %s: %llu sessions, %llu messages, %.3f s\n",
			              wl.name, threads[t], p ? "spread" : "local",
			              (unsigned long long)r.done, (unsigned long long)r.messages,
			              r.wall_s);
			assert_int_equal(r.st, TR_OK);
			assert_int_equal(r.handler_errors, 0);
			assert_int_equal(r.done, g_sessions);
			assert_int_equal(r.ok, g_sessions);
			assert_int_equal(r.wrong_count, 0);
			uint64_t want = g_sessions * rt_wl_expected(kind, (uint64_t)g_rounds);
			assert_int_equal(r.messages, want);
			assert_int_equal(r.stats_messages, want);
			assert_int_equal(r.freed, g_sessions); /* each record freed once */
			assert_int_equal(r.dropped, 0);
		}
	}
	rt_wl_fini(&wl);
}

static void test_pingpong(void **s) { (void)s; run_all(RT_WL_PINGPONG); }
static void test_ring(void **s) { (void)s; run_all(RT_WL_RING); }
static void test_fanout(void **s) { (void)s; run_all(RT_WL_FANOUT); }
static void test_twobuyer(void **s) { (void)s; run_all(RT_WL_TWOBUYER); }

int
main(int argc, char **argv)
{
	if (argc > 1)
		g_sessions = strtoull(argv[1], NULL, 10);
	if (argc > 2)
		g_rounds = strtoll(argv[2], NULL, 10);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pingpong),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_fanout),
		cmocka_unit_test(test_twobuyer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
