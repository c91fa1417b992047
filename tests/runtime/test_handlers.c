/* tests/runtime/test_handlers.c: the runtime's handler table (runtime.c,
 * rt_handler_intern). Built with its own copy of the runtime whose table
 * holds RT_MAX_HANDLERS handlers (CMakeLists.txt): the real bound, 65535,
 * would take the machines' own interning minutes to fill.
 *
 * Handlers differ by ctx: each ctx forwards to the workload's handler and
 * counts its calls, so a session that ran with another handler than the
 * one it was opened with shows in the counts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rt_harness.h"

#ifndef RT_MAX_HANDLERS
#error "build with the runtime's RT_MAX_HANDLERS"
#endif
#define NH RT_MAX_HANDLERS

static rt_wl g_pp;

typedef struct fwd {
	tr_handler inner;
	_Atomic uint64_t calls;
} fwd;

static fwd g_fwd[NH + 1];

static tr_status
fwd_send(void *ctx, const tr_effect *e, tr_value *out)
{
	fwd *f = ctx;
	atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed);
	return f->inner.on_send(f->inner.ctx, e, out);
}

static tr_status
fwd_recv(void *ctx, const tr_effect *e, tr_value v)
{
	fwd *f = ctx;
	atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed);
	return f->inner.on_recv(f->inner.ctx, e, v);
}

static tr_status
fwd_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	fwd *f = ctx;
	atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed);
	return f->inner.on_choose(f->inner.ctx, e, labels, n, pick);
}

/* Handler i, built afresh on each call: the runtime compares contents,
 * not addresses. */
static tr_handler
handler(uint32_t i)
{
	tr_handler h;
	memset(&h, 0, sizeof h);
	h.on_send = fwd_send;
	h.on_recv = fwd_recv;
	h.on_choose = fwd_choose;
	h.ctx = &g_fwd[i];
	return h;
}

static int
setup(void **state)
{
	(void)state;
	tr_error err;
	if (rt_wl_init(&g_pp, TR_EXAMPLES, RT_WL_PINGPONG, &err) != TR_OK)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rt_wl_fini(&g_pp);
	return 0;
}

static void
fwd_reset(void)
{
	for (uint32_t i = 0; i <= NH; i++) {
		g_fwd[i].inner = rt_wl_handler(&g_pp);
		atomic_store(&g_fwd[i].calls, 0);
	}
}

static tr_runtime *
runtime(rt_done *d)
{
	tr_runtime_config c;
	tr_runtime *rt;

	tr_runtime_config_default(&c);
	c.threads = 2;
	c.placement = TR_PLACE_SPREAD; /* both workers read each record's handler */
	c.on_complete = rt_done_cb;
	c.complete_ctx = d;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_OK);
	assert_int_equal(tr_runtime_register_image(rt, g_pp.img), TR_OK);
	return rt;
}

/* Open one pingpong session with handler i. */
static tr_status
open_with(tr_runtime *rt, uint32_t i, rt_wl_role *roles, tr_session_id *id)
{
	void *ptrs[2] = {&roles[0], &roles[1]};
	tr_handler h = handler(i);
	rt_wl_roles_init(roles, 2, 1);
	return tr_runtime_open_session(rt, g_pp.img, &h, ptrs, NULL, id);
}

/* NH distinct handlers fit; one more is TR_E_LIMIT and opens nothing, then
 * and after every session has ended; a copy of a known handler is not a
 * new one. Even handlers run two sessions, odd ones one. */
static void
test_limit_and_reuse(void **state)
{
	(void)state;
	rt_done d = {.expected = rt_wl_expected(RT_WL_PINGPONG, 1)};
	rt_wl_role *roles = calloc((size_t)2 * (NH + NH / 2 + 2), sizeof *roles);
	rt_wl_role *r = roles;
	tr_session_id id;
	uint64_t opened = 0;

	assert_non_null(roles);
	fwd_reset();
	tr_runtime *rt = runtime(&d);
	for (uint32_t i = 0; i < NH; i++, r += 2, opened++)
		assert_int_equal(open_with(rt, i, r, &id), TR_OK);
	id = 1;
	assert_int_equal(open_with(rt, NH, r, &id), TR_E_LIMIT);
	assert_int_equal(id, 0);
	for (uint32_t i = 0; i < NH; i += 2, r += 2, opened++)
		assert_int_equal(open_with(rt, i, r, &id), TR_OK);
	assert_int_equal(tr_runtime_drain(rt, 30000), TR_OK);
	assert_int_equal(open_with(rt, NH, r, &id), TR_E_LIMIT); /* never pruned */
	assert_int_equal(open_with(rt, 1, r, &id), TR_OK);
	opened++;
	assert_int_equal(tr_runtime_drain(rt, 30000), TR_OK);

	tr_runtime_stats s;
	tr_runtime_stats_get(rt, &s, NULL, 0);
	assert_int_equal(s.sessions_opened, opened);
	assert_int_equal(atomic_load(&d.ok), opened);
	assert_int_equal(atomic_load(&d.wrong_count), 0);
	assert_int_equal(atomic_load(&g_pp.errors), 0);
	uint64_t one = atomic_load(&g_fwd[3].calls);
	assert_true(one > 0);
	for (uint32_t i = 0; i < NH; i++)
		assert_int_equal(atomic_load(&g_fwd[i].calls),
		                 i == 1 ? 2 * one : i % 2 == 0 ? 2 * one : one);
	assert_int_equal(atomic_load(&g_fwd[NH].calls), 0);
	tr_runtime_free(rt);
	free(roles);
}

/* Host threads that meet the same new handlers at once intern each once:
 * a duplicate would take a place in the table, and the last opens would
 * find it full. */
enum { RACERS = 4 };

typedef struct racer {
	tr_runtime *rt;
	rt_wl_role *roles;
	pthread_barrier_t *go;
	uint64_t failed;
} racer;

static void *
racer_main(void *arg)
{
	racer *a = arg;
	tr_session_id id;

	pthread_barrier_wait(a->go);
	for (uint32_t i = 0; i < NH; i++)
		if (open_with(a->rt, i, &a->roles[2 * i], &id) != TR_OK)
			a->failed++;
	return NULL;
}

static void
test_concurrent_intern(void **state)
{
	(void)state;
	rt_done d = {.expected = rt_wl_expected(RT_WL_PINGPONG, 1)};
	pthread_t th[RACERS];
	racer a[RACERS];
	pthread_barrier_t go;

	fwd_reset();
	tr_runtime *rt = runtime(&d);
	pthread_barrier_init(&go, NULL, RACERS);
	for (int k = 0; k < RACERS; k++) {
		a[k] = (racer){.rt = rt, .go = &go,
		               .roles = calloc((size_t)2 * NH, sizeof(rt_wl_role))};
		assert_non_null(a[k].roles);
		assert_int_equal(pthread_create(&th[k], NULL, racer_main, &a[k]), 0);
	}
	for (int k = 0; k < RACERS; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(a[k].failed, 0);
	}
	assert_int_equal(tr_runtime_drain(rt, 30000), TR_OK);
	assert_int_equal(atomic_load(&d.ok), (uint64_t)RACERS * NH);
	assert_int_equal(atomic_load(&g_pp.errors), 0);
	uint64_t one = atomic_load(&g_fwd[0].calls);
	for (uint32_t i = 0; i < NH; i++)
		assert_int_equal(atomic_load(&g_fwd[i].calls), one);
	tr_runtime_free(rt);
	pthread_barrier_destroy(&go);
	for (int k = 0; k < RACERS; k++)
		free(a[k].roles);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_reuse),
		cmocka_unit_test(test_concurrent_intern),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
