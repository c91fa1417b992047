/* tests/runtime/test_backpressure.c: issue 5, done-when 2 (runtime.c S5).
 * A producer streams to a consumer on another worker (spread placement);
 * the consumer is made at least 10x slower (it busy-waits in on_recv).
 * Credits must keep the messages in flight on the edge (sent and not yet
 * received) at or below the buffer capacity, and RSS must stay flat
 * (within 10 % of its value after a warm-up second).
 * Argument: seconds to run (default 2; the `slow` variant runs 10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_harness.h"

static unsigned g_seconds = 2;

static const char stream_text[] =
	"protocol Stream =\n"
	"  roles P, C\n"
	"  rec Loop\n"
	"    P -> C : Item of Int\n"
	"    continue Loop\n";

typedef struct bp_ctx {
	_Atomic uint64_t produced;
	_Atomic uint64_t consumed;
	_Atomic uint64_t max_outstanding;
	_Atomic uint64_t order_errors;
	uint64_t spin_ns;
} bp_ctx;

static tr_status
bp_send(void *ctx, const tr_effect *e, tr_value *out)
{
	bp_ctx *b = ctx;
	(void)e;
	/* on_send runs after the credit check, once per message sent. */
	uint64_t n = atomic_fetch_add_explicit(&b->produced, 1, memory_order_relaxed);
	*out = tr_value_int((int64_t)n);
	return TR_OK;
}

static tr_status
bp_recv(void *ctx, const tr_effect *e, tr_value v)
{
	bp_ctx *b = ctx;
	(void)e;
	uint64_t seen = atomic_load_explicit(&b->consumed, memory_order_relaxed);
	if (v.bits != seen)
		atomic_fetch_add_explicit(&b->order_errors, 1, memory_order_relaxed);
	atomic_store_explicit(&b->consumed, seen + 1, memory_order_relaxed);
	uint64_t out = atomic_load_explicit(&b->produced, memory_order_relaxed) - (seen + 1);
	if (out > atomic_load_explicit(&b->max_outstanding, memory_order_relaxed))
		atomic_store_explicit(&b->max_outstanding, out, memory_order_relaxed);
	double until = rt_now() + (double)b->spin_ns / 1e9;
	while (rt_now() < until)
		;
	return TR_OK;
}

static long
rss_kb(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = -1;
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void
test_slow_consumer(void **state)
{
	(void)state;
	rt_wl wl;
	tr_error err;
	bp_ctx b;
	rt_done d = {.expected = 0};
	tr_runtime_config c;
	tr_runtime *rt;
	tr_session_id id;

	memset(&b, 0, sizeof b);
	b.spin_ns = 2000;
	assert_int_equal(rt_wl_init_text(&wl, stream_text, &err), TR_OK);
	tr_runtime_config_default(&c);
	c.threads = 2;
	c.placement = TR_PLACE_SPREAD;
	c.buffer_capacity = 64;
	c.on_complete = rt_done_cb;
	c.complete_ctx = &d;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_OK);
	assert_int_equal(tr_runtime_register_image(rt, wl.img), TR_OK);
	tr_handler h = {.on_send = bp_send, .on_recv = bp_recv, .ctx = &b};
	assert_int_equal(tr_runtime_open_session(rt, wl.img, &h, NULL, NULL, &id), TR_OK);

	sleep(1); /* warm-up: pools, rings and outboxes reach their size */
	long base = rss_kb(), lo = base, hi = base;
	uint64_t c0 = atomic_load(&b.consumed);
	double t0 = rt_now();
	while (rt_now() - t0 < g_seconds) {
		usleep(250000);
		long r = rss_kb();
		lo = r < lo ? r : lo;
		hi = r > hi ? r : hi;
	}
	double wall = rt_now() - t0;
	uint64_t consumed = atomic_load(&b.consumed) - c0;
	tr_runtime_worker_stats ws[2];
	tr_runtime_stats s;
	tr_runtime_stats_get(rt, &s, ws, 2);
	print_message("%.1f s: consumed %llu (%.0f/s), max in flight %llu (capacity 64), "
	              "RSS %ld..%ld kB (base %ld), overflow peak %llu/%llu\n",
	              wall, (unsigned long long)consumed, consumed / wall,
	              (unsigned long long)atomic_load(&b.max_outstanding), lo, hi, base,
	              (unsigned long long)ws[0].overflow_peak,
	              (unsigned long long)ws[1].overflow_peak);
	assert_int_equal(tr_runtime_cancel(rt, id), TR_OK);
	assert_int_equal(tr_runtime_drain(rt, 10000), TR_OK);
	assert_int_equal(atomic_load(&d.cancelled), 1);
	assert_int_equal(atomic_load(&b.order_errors), 0);
	assert_true(consumed > 100);
	/* The bound holds, and is reached: the producer really is faster. */
	assert_true(atomic_load(&b.max_outstanding) <= 64);
	assert_true(atomic_load(&b.max_outstanding) >= 32);
	/* staged towards the consumer: at most the edge's credits plus the
	 * session's few control messages (OPEN, CREDIT, PART_DONE) */
	assert_true(ws[0].overflow_peak <= 64 + 4 && ws[1].overflow_peak <= 64 + 4);
	assert_true(hi <= base + base / 10);
	assert_true(lo >= base - base / 10);
	tr_runtime_free(rt);
	rt_wl_fini(&wl);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		g_seconds = (unsigned)atoi(argv[1]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_consumer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
