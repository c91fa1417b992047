/* tests/runtime/test_runtime.c: the runtime's API and life cycle: argument
 * checks, host roles (post / on_host_message), cancel, fault propagation
 * across workers (runtime.c S3), idle CPU and wake-up (issue 5, done-when
 * 4; rt_sync.h W1-W5), stop under load (done-when 5), the start gate
 * (runtime.c G1), every field of the completion summary and the session
 * priority (the record's rt_live).
 * Argument 1: idle seconds (default 5). Argument 2: live sessions for the
 * stop test (default 100000). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_harness.h"

static unsigned g_idle_s = 5;
static uint64_t g_stop_sessions = 100000;

static rt_wl g_pp, g_ring;

static int
setup(void **state)
{
	(void)state;
	tr_error err;
	if (rt_wl_init(&g_pp, TR_EXAMPLES, RT_WL_PINGPONG, &err) != TR_OK)
		return -1;
	if (rt_wl_init(&g_ring, TR_EXAMPLES, RT_WL_RING, &err) != TR_OK)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rt_wl_fini(&g_pp);
	rt_wl_fini(&g_ring);
	return 0;
}

static void
test_create_invalid(void **state)
{
	(void)state;
	tr_runtime_config c;
	tr_runtime *rt = (tr_runtime *)1;

	assert_int_equal(tr_runtime_create(NULL, NULL), TR_E_INVALID);
	tr_runtime_config_default(&c);
	c.threads = 0;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_E_INVALID);
	assert_null(rt);
	tr_runtime_config_default(&c);
	c.threads = TR_RUNTIME_MAX_THREADS + 1;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_E_INVALID);
	tr_runtime_config_default(&c);
	c.buffer_capacity = 0;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_E_INVALID);
	tr_runtime_config_default(&c);
	c.slice = 0;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_E_INVALID);
	tr_runtime_config_default(&c);
	c.placement = (tr_placement)7;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_E_INVALID);
	tr_runtime_free(NULL);
}

static void
test_api_errors(void **state)
{
	(void)state;
	tr_runtime_config c;
	tr_runtime *rt;
	rt_done d = {.expected = rt_wl_expected(RT_WL_PINGPONG, 1)};
	rt_wl_role roles[2];
	void *ptrs[2] = {&roles[0], &roles[1]};
	tr_session_id id;
	tr_session_status st;
	tr_handler h = rt_wl_handler(&g_pp);

	tr_runtime_config_default(&c);
	c.threads = 2;
	c.on_complete = rt_done_cb;
	c.complete_ctx = &d;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_OK);
	rt_wl_roles_init(roles, 2, 1);
	/* unregistered image */
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &h, ptrs, NULL, &id), TR_E_INVALID);
	assert_int_equal(tr_runtime_register_image(rt, g_pp.img), TR_OK);
	assert_int_equal(tr_runtime_register_image(rt, g_pp.img), TR_OK); /* no-op */
	assert_int_equal(tr_runtime_register_image(rt, NULL), TR_E_INVALID);
	tr_runtime_session_opts o = {.host_roles = 3}; /* every role */
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &h, ptrs, &o, &id), TR_E_INVALID);
	o.host_roles = 4; /* no role 2 */
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &h, ptrs, &o, &id), TR_E_INVALID);
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, NULL, ptrs, NULL, &id), TR_E_INVALID);
	/* unknown ids */
	assert_int_equal(tr_runtime_post(rt, 12345, 0, 1, 0, tr_value_unit()), TR_E_NOT_FOUND);
	assert_int_equal(tr_runtime_cancel(rt, 0), TR_E_NOT_FOUND);
	assert_int_equal(tr_runtime_session_status(rt, 99, &st), TR_E_NOT_FOUND);
	/* a real session: no host roles, so posting is invalid */
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &h, ptrs, NULL, &id), TR_OK);
	assert_int_not_equal(id, 0);
	tr_status pst = tr_runtime_post(rt, id, 0, 1, 0, tr_value_unit());
	assert_true(pst == TR_E_INVALID || pst == TR_E_NOT_FOUND);
	assert_int_equal(tr_runtime_drain(rt, 10000), TR_OK);
	assert_int_equal(tr_runtime_session_status(rt, id, &st), TR_E_NOT_FOUND);
	assert_int_equal(tr_runtime_cancel(rt, id), TR_E_NOT_FOUND);
	assert_int_equal(atomic_load(&d.ok), 1);
	assert_int_equal(atomic_load(&d.wrong_count), 0);
	assert_int_equal(tr_runtime_stop(rt, NULL), TR_OK);
	assert_int_equal(tr_runtime_stop(rt, NULL), TR_OK); /* idempotent */
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &h, ptrs, NULL, &id), TR_E_STATE);
	tr_runtime_stats s;
	tr_runtime_stats_get(rt, &s, NULL, 0);
	assert_int_equal(s.sessions_opened, 1);
	assert_int_equal(s.sessions_freed, 1);
	tr_runtime_free(rt);
}

/* ---- host roles: the host plays pingpong's A ---- */

typedef struct host_ctx {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	uint64_t pongs;
	int64_t last;
	uint32_t from, to, label;
	rt_done done;
	const char *reason;
} host_ctx;

static void
host_msg_cb(void *ctx, tr_session_id id, uint32_t from, uint32_t to, uint32_t label,
            tr_value v)
{
	host_ctx *h = ctx;
	(void)id;
	pthread_mutex_lock(&h->lock);
	h->pongs++;
	h->last = (int64_t)v.bits;
	h->from = from;
	h->to = to;
	h->label = label;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->lock);
}

static void
host_done_cb(void *ctx, const tr_runtime_summary *s)
{
	host_ctx *h = ctx;
	pthread_mutex_lock(&h->lock);
	h->reason = s->reason;
	pthread_mutex_unlock(&h->lock);
	rt_done_cb(&h->done, s);
	pthread_mutex_lock(&h->lock);
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->lock);
}

/* Wait until pred holds (under h->lock) or ms pass. */
#define WAIT_FOR(h, pred, ms)                                                  \
	do {                                                                       \
		struct timespec dl_;                                                   \
		clock_gettime(CLOCK_REALTIME, &dl_);                                   \
		dl_.tv_sec += (ms) / 1000;                                             \
		dl_.tv_nsec += (long)((ms) % 1000) * 1000000L;                         \
		if (dl_.tv_nsec >= 1000000000L) {                                      \
			dl_.tv_sec++;                                                      \
			dl_.tv_nsec -= 1000000000L;                                        \
		}                                                                      \
		pthread_mutex_lock(&(h)->lock);                                        \
		while (!(pred))                                                        \
			if (pthread_cond_timedwait(&(h)->cv, &(h)->lock, &dl_) != 0)       \
				break;                                                         \
		pthread_mutex_unlock(&(h)->lock);                                      \
	} while (0)

static tr_runtime *
host_runtime(host_ctx *h, uint32_t park_ms)
{
	tr_runtime_config c;
	tr_runtime *rt;

	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cv, NULL);
	tr_runtime_config_default(&c);
	c.threads = 2;
	c.placement = TR_PLACE_SPREAD;
	c.park_timeout_ms = park_ms;
	c.on_complete = host_done_cb;
	c.complete_ctx = h;
	c.on_host_message = host_msg_cb;
	c.host_ctx = h;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_OK);
	assert_int_equal(tr_runtime_register_image(rt, g_pp.img), TR_OK);
	return rt;
}

static double
cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Done-when 4: an idle runtime (default config) uses < 2 % of one core,
 * and with no park timeout at all (only a real wake-up can wake it) a
 * post reaches a parked worker. */
static void
test_idle_and_wake(void **state)
{
	(void)state;
	tr_runtime_config c;
	tr_runtime *rt;
	tr_runtime_worker_stats ws[2];
	tr_runtime_stats s;

	tr_runtime_config_default(&c);
	c.threads = 2;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_OK);
	usleep(100000); /* let the workers spin down and park */
	double c0 = cpu_seconds(), t0 = rt_now();
	sleep(g_idle_s);
	double used = cpu_seconds() - c0, wall = rt_now() - t0;
	print_message("idle: %.4f s CPU over %.2f s (%.3f %% of one core)\n", used, wall,
	              100.0 * used / wall);
	assert_true(used < 0.02 * wall);
	tr_runtime_free(rt);

	host_ctx h;
	rt = host_runtime(&h, 0);
	/* both must really park; under a sanitizer on a loaded machine that can
	 * take a while, so wait for it (bounded) rather than a fixed time */
	for (int i = 0; i < 500; i++) {
		tr_runtime_stats_get(rt, &s, ws, 2);
		if (ws[0].parks > 0 && ws[1].parks > 0)
			break;
		usleep(10000);
	}
	assert_true(ws[0].parks > 0 && ws[1].parks > 0);

	uint32_t next = (uint32_t)tr_image_label_id(g_pp.img, "Next");
	uint32_t ping = (uint32_t)tr_image_label_id(g_pp.img, "Ping");
	uint32_t stop = (uint32_t)tr_image_label_id(g_pp.img, "Stop");
	rt_wl_role roles[2];
	void *ptrs[2] = {NULL, &roles[1]};
	rt_wl_roles_init(roles, 2, 0);
	tr_handler hd = rt_wl_handler(&g_pp);
	tr_runtime_session_opts o = {.host_roles = 1}; /* the host plays A */
	tr_session_id id;
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &hd, ptrs, &o, &id), TR_OK);
	/* only role 0 -> 1 may be posted */
	assert_int_equal(tr_runtime_post(rt, id, 1, 0, next, tr_value_unit()), TR_E_INVALID);
	assert_int_equal(tr_runtime_post(rt, id, 0, 5, next, tr_value_unit()), TR_E_INVALID);
	const uint64_t R = 20;
	for (uint64_t r = 0; r < R; r++) {
		usleep(r % 4 == 0 ? 20000 : 0); /* sometimes let the workers park again */
		assert_int_equal(tr_runtime_post(rt, id, 0, 1, next, tr_value_unit()), TR_OK);
		assert_int_equal(tr_runtime_post(rt, id, 0, 1, ping, tr_value_int((int64_t)r)), TR_OK);
		WAIT_FOR(&h, h.pongs == r + 1, 5000);
		pthread_mutex_lock(&h.lock);
		assert_int_equal(h.pongs, r + 1);
		assert_int_equal(h.last, (int64_t)r + 1); /* pong = ping + 1 */
		assert_int_equal(h.from, 1);
		assert_int_equal(h.to, 0);
		pthread_mutex_unlock(&h.lock);
	}
	assert_int_equal(tr_runtime_post(rt, id, 0, 1, stop, tr_value_unit()), TR_OK);
	assert_int_equal(tr_runtime_drain(rt, 5000), TR_OK);
	assert_int_equal(atomic_load(&h.done.ok), 1);
	/* the summary counts what worker-run roles sent: B's pongs */
	assert_int_equal(atomic_load(&h.done.messages), R);
	assert_int_equal(atomic_load(&g_pp.errors), 0);
	tr_runtime_stats_get(rt, &s, NULL, 0);
	assert_int_equal(s.posts, 2 * R + 1);
	tr_runtime_free(rt);
	pthread_mutex_destroy(&h.lock);
	pthread_cond_destroy(&h.cv);
}

/* A session blocked on a host role that never posts ends by cancel, on
 * both workers, with the host's reason; its id is gone afterwards. */
static void
test_cancel_blocked(void **state)
{
	(void)state;
	host_ctx h;
	tr_runtime *rt = host_runtime(&h, 100);
	rt_wl_role roles[2];
	void *ptrs[2] = {NULL, &roles[1]};
	rt_wl_roles_init(roles, 2, 0);
	tr_handler hd = rt_wl_handler(&g_pp);
	tr_runtime_session_opts o = {.host_roles = 1};
	tr_session_id id;
	tr_session_status st;

	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &hd, ptrs, &o, &id), TR_OK);
	usleep(20000);
	assert_int_equal(tr_runtime_session_status(rt, id, &st), TR_OK);
	assert_int_equal(st, TR_SESSION_OPEN);
	assert_int_equal(tr_runtime_cancel(rt, id), TR_OK);
	assert_int_equal(tr_runtime_drain(rt, 5000), TR_OK);
	assert_int_equal(atomic_load(&h.done.cancelled), 1);
	assert_string_equal(h.reason, "cancelled by host");
	assert_int_equal(tr_runtime_session_status(rt, id, &st), TR_E_NOT_FOUND);
	assert_int_equal(tr_runtime_cancel(rt, id), TR_E_NOT_FOUND);
	assert_int_equal(tr_runtime_post(rt, id, 0, 1, 0, tr_value_unit()), TR_E_NOT_FOUND);
	tr_runtime_free(rt);
	pthread_mutex_destroy(&h.lock);
	pthread_cond_destroy(&h.cv);
}


/* A runtime of T workers that reports every summary to cb(ctx), with img
 * (and img2 unless NULL) registered. */
static tr_runtime *
new_runtime(uint32_t T, tr_placement placement, tr_policy policy, bool held,
            void (*cb)(void *, const tr_runtime_summary *), void *ctx,
            const tr_image *img, const tr_image *img2)
{
	tr_runtime_config c;
	tr_runtime *rt;

	tr_runtime_config_default(&c);
	c.threads = T;
	c.placement = placement;
	c.policy = policy;
	c.on_complete = cb;
	c.complete_ctx = ctx;
	c.start_held = held;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_OK);
	assert_int_equal(tr_runtime_register_image(rt, img), TR_OK);
	if (img2 != NULL)
		assert_int_equal(tr_runtime_register_image(rt, img2), TR_OK);
	return rt;
}

/* The same, cooperative, counting summaries in d. */
static tr_runtime *
done_runtime(uint32_t T, tr_placement placement, bool held, const tr_image *img, rt_done *d)
{
	return new_runtime(T, placement, TR_POLICY_COOPERATIVE, held, rt_done_cb, d, img, NULL);
}
/* S3: a fault in one role fails its session on every worker (the others
 * are cancelled by the home), and no other session is touched. */
static void
test_fault_spread(void **state)
{
	(void)state;
	const uint64_t S = 200;
	const int64_t R = 5;
	tr_runtime *rt;
	rt_done d = {.expected = rt_wl_expected(RT_WL_RING, R)};
	rt_wl_role *roles = calloc(S * 8, sizeof *roles);
	void **ptrs = calloc(S * 8, sizeof *ptrs);
	tr_handler hd = rt_wl_handler(&g_ring);

	rt = done_runtime(4, TR_PLACE_SPREAD, false, g_ring.img, &d);
	for (uint64_t i = 0; i < S * 8; i++)
		ptrs[i] = &roles[i];
	for (uint64_t s = 0; s < S; s++)
		rt_wl_roles_init(&roles[s * 8], 8, R);
	roles[7 * 8 + 3].fail = 1; /* session 7, role P3 */
	for (uint64_t s = 0; s < S; s++) {
		tr_session_id id;
		assert_int_equal(tr_runtime_open_session(rt, g_ring.img, &hd, &ptrs[s * 8], NULL, &id),
		                 TR_OK);
	}
	assert_int_equal(tr_runtime_drain(rt, 20000), TR_OK);
	assert_int_equal(atomic_load(&d.done), S);
	assert_int_equal(atomic_load(&d.ok), S - 1);
	assert_int_equal(atomic_load(&d.faulted), 1);
	assert_int_equal(atomic_load(&d.wrong_count), 0);
	assert_int_equal(atomic_load(&g_ring.errors), 0);
	tr_runtime_free(rt);
	free(roles);
	free(ptrs);
}

/* The start gate (runtime.c G1): with start_held, N sessions open on every
 * worker (all parts live) but no round runs and none completes, the held
 * workers park rather than spin, a cancel still ends a held session, and
 * after tr_runtime_release all the others complete with exact counts. */
static void
gate_run(rt_wl *wl, tr_placement placement, uint64_t N, int64_t R)
{
	const uint32_t T = 2;
	const unsigned K = wl->nroles;
	tr_runtime_config c;
	tr_runtime *rt;
	rt_done d = {.expected = rt_wl_expected(wl->kind, (uint64_t)R)};
	rt_wl_role *roles = calloc(N * K, sizeof *roles);
	void **ptrs = calloc(N * K, sizeof *ptrs);
	tr_session_id *ids = calloc(N, sizeof *ids);
	tr_handler hd = rt_wl_handler(wl);
	tr_runtime_worker_stats ws[2];
	tr_runtime_stats s;
	tr_session_status sst;

	assert_non_null(roles);
	assert_non_null(ptrs);
	assert_non_null(ids);
	atomic_store(&wl->errors, 0);
	tr_runtime_config_default(&c);
	assert_false(c.start_held); /* held is a choice, not the default */
	rt = done_runtime(T, placement, true, wl->img, &d);
	for (uint64_t i = 0; i < N * K; i++)
		ptrs[i] = &roles[i];
	for (uint64_t k = 0; k < N; k++)
		rt_wl_roles_init(&roles[k * K], K, R);
	for (uint64_t k = 0; k < N; k++) {
		assert_int_equal(tr_runtime_open_session(rt, wl->img, &hd, &ptrs[k * K], NULL,
		                                         &ids[k]), TR_OK);
		assert_int_equal(ids[k] & 0xffu, k % T); /* homes dealt from worker 0 */
	}

	/* Every part opens while held: local, one part per session; spread
	 * (K >= T), one per worker. Wait (bounded) for both workers to have
	 * opened theirs and parked since. */
	const uint64_t parts = placement == TR_PLACE_SPREAD ? N * T : N;
	for (int i = 0; i < 1000; i++) {
		tr_runtime_stats_get(rt, &s, ws, T);
		if (ws[0].parts_live + ws[1].parts_live == parts && ws[0].parks > 0 &&
		    ws[1].parks > 0)
			break;
		usleep(10000);
	}
	assert_int_equal(ws[0].parts_live + ws[1].parts_live, parts);

	/* Held for a while: nothing runs, nothing completes, and the workers
	 * sleep (spinning would cost about T cores). */
	double c0 = cpu_seconds(), t0 = rt_now();
	usleep(300000);
	double used = cpu_seconds() - c0, wall = rt_now() - t0;
	print_message("held %s/%s: %.4f s CPU over %.3f s\n", wl->name,
	              placement == TR_PLACE_SPREAD ? "spread" : "local", used, wall);
	assert_true(used < 0.25 * wall);
	tr_runtime_stats_get(rt, &s, ws, T);
	assert_int_equal(atomic_load(&d.done), 0);
	assert_int_equal(s.sessions_opened, N);
	assert_int_equal(s.sessions_completed, 0);
	assert_int_equal(s.sessions_live, N);
	assert_int_equal(s.messages, 0);
	assert_int_equal(ws[0].rounds + ws[1].rounds, 0);
	assert_int_equal(ws[0].parts_live + ws[1].parts_live, parts);
	for (uint64_t k = 0; k < N; k++) {
		assert_int_equal(tr_runtime_session_status(rt, ids[k], &sst), TR_OK);
		assert_int_equal(sst, TR_SESSION_OPEN);
	}

	/* A cancel ends a held session without running it. */
	assert_int_equal(tr_runtime_cancel(rt, ids[N / 2]), TR_OK);
	for (int i = 0; i < 1000 && atomic_load(&d.done) == 0; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&d.done), 1);
	assert_int_equal(atomic_load(&d.cancelled), 1);
	assert_int_equal(tr_runtime_session_status(rt, ids[N / 2], &sst), TR_E_NOT_FOUND);
	assert_int_equal(tr_runtime_drain(rt, 50), TR_E_LIMIT); /* still held */
	assert_int_equal(atomic_load(&d.done), 1);

	assert_int_equal(tr_runtime_release(NULL), TR_E_INVALID);
	assert_int_equal(tr_runtime_release(rt), TR_OK);
	assert_int_equal(tr_runtime_release(rt), TR_OK); /* idempotent */
	assert_int_equal(tr_runtime_drain(rt, 60000), TR_OK);
	assert_int_equal(atomic_load(&d.done), N);
	assert_int_equal(atomic_load(&d.ok), N - 1);
	assert_int_equal(atomic_load(&d.cancelled), 1);
	assert_int_equal(atomic_load(&d.faulted), 0);
	assert_int_equal(atomic_load(&d.wrong_count), 0);
	assert_int_equal(atomic_load(&d.messages), (N - 1) * d.expected);
	assert_int_equal(atomic_load(&wl->errors), 0);
	assert_int_equal(tr_runtime_stop(rt, NULL), TR_OK);
	tr_runtime_stats_get(rt, &s, NULL, 0);
	assert_int_equal(s.sessions_completed, N);
	assert_int_equal(s.sessions_ok, N - 1);
	assert_int_equal(s.messages, (N - 1) * d.expected);
	assert_int_equal(s.sessions_freed, N);
	tr_runtime_free(rt);
	free(roles);
	free(ptrs);
	free(ids);
}

static void
test_start_gate(void **state)
{
	(void)state;
	gate_run(&g_pp, TR_PLACE_LOCAL, 2000, 5);
	gate_run(&g_ring, TR_PLACE_SPREAD, 500, 3);

	/* Not held: release is a no-op and sessions run at once. */
	tr_runtime *rt;
	rt_done d = {.expected = rt_wl_expected(RT_WL_PINGPONG, 2)};
	rt_wl_role roles[2];
	void *ptrs[2] = {&roles[0], &roles[1]};
	tr_handler hd = rt_wl_handler(&g_pp);
	tr_runtime_config c;
	tr_session_id id;
	tr_runtime_config_default(&c);
	c.on_complete = rt_done_cb;
	c.complete_ctx = &d;
	assert_int_equal(tr_runtime_create(&c, &rt), TR_OK);
	assert_int_equal(tr_runtime_register_image(rt, g_pp.img), TR_OK);
	rt_wl_roles_init(roles, 2, 2);
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &hd, ptrs, NULL, &id), TR_OK);
	assert_int_equal(tr_runtime_drain(rt, 10000), TR_OK);
	assert_int_equal(tr_runtime_release(rt), TR_OK);
	assert_int_equal(atomic_load(&d.ok), 1);
	assert_int_equal(atomic_load(&d.wrong_count), 0);
	tr_runtime_free(rt);
}

/* register_image has every worker prepare for the image and waits for
 * them (tr_machine_prepare): from the host and from a worker (on_complete,
 * where waiting for the workers would wait for itself: it must return at
 * once) it returns and sessions of images registered either way run;
 * after stop it is refused (TR_E_STATE) at once. */
typedef struct reg_ctx {
	rt_done d;
	tr_runtime *rt;
	const tr_image *img;
	_Atomic int registered; /* 1 + the status of the call from on_complete */
} reg_ctx;

static void
reg_cb(void *ctx, const tr_runtime_summary *s)
{
	reg_ctx *r = ctx;
	rt_done_cb(&r->d, s);
	int none = 0;
	if (atomic_compare_exchange_strong(&r->registered, &none, -1))
		atomic_store(&r->registered, 1 + (int)tr_runtime_register_image(r->rt, r->img));
}

static void
test_register_prepares(void **state)
{
	(void)state;
	for (uint32_t threads = 1; threads <= 3; threads++) {
		reg_ctx r;
		memset(&r, 0, sizeof r);
		r.img = g_ring.img;
		tr_runtime_config c;
		tr_runtime_config_default(&c);
		c.threads = threads;
		c.on_complete = reg_cb;
		c.complete_ctx = &r;
		assert_int_equal(tr_runtime_create(&c, &r.rt), TR_OK);
		/* from the host: every worker prepares, then sessions run */
		assert_int_equal(tr_runtime_register_image(r.rt, g_pp.img), TR_OK);
		assert_int_equal(tr_runtime_register_image(r.rt, g_pp.img), TR_OK); /* no-op */
		rt_wl_role roles[8];
		void *ptrs[8];
		for (int k = 0; k < 8; k++)
			ptrs[k] = &roles[k];
		tr_handler hp = rt_wl_handler(&g_pp), hr = rt_wl_handler(&g_ring);
		tr_session_id id;
		rt_wl_roles_init(roles, 2, 3);
		assert_int_equal(tr_runtime_open_session(r.rt, g_pp.img, &hp, ptrs, NULL, &id), TR_OK);
		assert_int_equal(tr_runtime_drain(r.rt, 10000), TR_OK);
		/* its on_complete registered ring from a worker, and returned */
		assert_int_equal(atomic_load(&r.registered), 1 + TR_OK);
		rt_wl_roles_init(roles, 8, 3);
		assert_int_equal(tr_runtime_open_session(r.rt, g_ring.img, &hr, ptrs, NULL, &id),
		                 TR_OK);
		assert_int_equal(tr_runtime_drain(r.rt, 10000), TR_OK);
		assert_int_equal(atomic_load(&r.d.ok), 2);
		assert_int_equal(atomic_load(&r.d.wrong_count), 0);
		/* after stop: refused, at once (no worker left to prepare) */
		assert_int_equal(tr_runtime_stop(r.rt, NULL), TR_OK);
		rt_wl fan;
		tr_error err;
		assert_int_equal(rt_wl_init(&fan, TR_EXAMPLES, RT_WL_FANOUT, &err), TR_OK);
		assert_int_equal(tr_runtime_register_image(r.rt, fan.img), TR_E_STATE);
		tr_runtime_free(r.rt);
		rt_wl_fini(&fan);
	}
}

/* Done-when 5: stop with many live sessions (that would run for ever)
 * returns with one summary per session and frees every record. */
static void
test_stop_under_load(void **state)
{
	(void)state;
	const uint64_t S = g_stop_sessions;
	tr_runtime *rt;
	rt_done d = {.expected = 0};
	rt_wl_role *roles = calloc(S * 2, sizeof *roles);
	void **ptrs = calloc(S * 2, sizeof *ptrs);
	tr_handler hd = rt_wl_handler(&g_pp);

	assert_non_null(roles);
	assert_non_null(ptrs);
	rt = done_runtime(2, TR_PLACE_SPREAD, false, g_pp.img, &d);
	for (uint64_t i = 0; i < S * 2; i++)
		ptrs[i] = &roles[i];
	for (uint64_t s = 0; s < S; s++)
		rt_wl_roles_init(&roles[s * 2], 2, INT64_MAX);
	for (uint64_t s = 0; s < S; s++) {
		tr_session_id id;
		assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &hd, &ptrs[s * 2], NULL, &id),
		                 TR_OK);
	}
	usleep(200000);
	tr_runtime_stats s;
	tr_runtime_stats_get(rt, &s, NULL, 0);
	assert_int_equal(s.sessions_live, S); /* none can finish */
	double t0 = rt_now();
	assert_int_equal(tr_runtime_stop(rt, "test stop"), TR_OK);
	print_message("stop with %llu live sessions: %.3f s\n", (unsigned long long)S,
	              rt_now() - t0);
	tr_runtime_stats_get(rt, &s, NULL, 0);
	assert_int_equal(atomic_load(&d.done), S);
	assert_int_equal(atomic_load(&d.cancelled), S);
	assert_int_equal(s.sessions_completed, S);
	assert_int_equal(s.sessions_cancelled, S);
	assert_int_equal(s.sessions_live, 0);
	assert_int_equal(s.sessions_freed, S);
	assert_int_equal(atomic_load(&g_pp.errors), 0);
	tr_runtime_free(rt);
	free(roles);
	free(ptrs);
}

/* Local placement passes role states to the home in an array it frees
 * once its machine has them (runtime.c, the record's open_states_): every
 * path that takes an OPEN frees it. Stop right after the opens, so some
 * OPENs meet a stopping home (no part opens), others opened a part first;
 * both end cancelled and free their record (ASan checks the arrays). All-
 * NULL states need no array. */
static void
test_stop_local_states(void **state)
{
	(void)state;
	const uint64_t S = 20000;
	tr_runtime *rt;
	rt_done d = {.expected = 0};
	rt_wl_role *roles = calloc(S * 2, sizeof *roles);
	void **ptrs = calloc(S * 2, sizeof *ptrs);
	void *none[2] = {NULL, NULL};
	tr_handler hd = rt_wl_handler(&g_pp);
	tr_runtime_stats s;

	assert_non_null(roles);
	assert_non_null(ptrs);
	/* held: nothing runs, every session ends by the stop */
	rt = done_runtime(2, TR_PLACE_LOCAL, true, g_pp.img, &d);
	for (uint64_t i = 0; i < S * 2; i++)
		ptrs[i] = &roles[i];
	for (uint64_t k = 0; k < S; k++)
		rt_wl_roles_init(&roles[k * 2], 2, 3);
	for (uint64_t k = 0; k < S; k++) {
		tr_session_id id;
		assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &hd,
		                                         k % 7 == 3 ? none : &ptrs[k * 2],
		                                         NULL, &id), TR_OK);
	}
	assert_int_equal(tr_runtime_stop(rt, "test stop"), TR_OK);
	tr_runtime_stats_get(rt, &s, NULL, 0);
	assert_int_equal(atomic_load(&d.done), S);
	assert_int_equal(atomic_load(&d.cancelled), S);
	assert_int_equal(s.sessions_completed, S);
	assert_int_equal(s.sessions_live, 0);
	assert_int_equal(s.sessions_freed, S);
	assert_int_equal(s.messages, 0);
	tr_runtime_free(rt);
	free(roles);
	free(ptrs);
}

/* ---- what the summary reports (runtime.c, rt_live) ---- */

/* One session's summary, kept through its user pointer. */
typedef struct sum_rec {
	tr_session_id id;
	uint32_t calls;
	bool ok, cancelled;
	tr_fault fault;
	uint64_t messages;
	const char *reason;
	const void *user;
} sum_rec;

static pthread_mutex_t g_sum_lock = PTHREAD_MUTEX_INITIALIZER;

static void
sum_cb(void *ctx, const tr_runtime_summary *s)
{
	(void)ctx;
	sum_rec *r = s->user;
	pthread_mutex_lock(&g_sum_lock);
	r->id = s->id;
	r->calls++;
	r->ok = s->ok;
	r->cancelled = s->cancelled;
	r->fault = s->fault;
	r->messages = s->messages;
	r->reason = s->reason;
	r->user = s->user;
	pthread_mutex_unlock(&g_sum_lock);
}

static tr_runtime *
sum_runtime(uint32_t T, tr_placement placement, tr_policy policy)
{
	return new_runtime(T, placement, policy, true, sum_cb, NULL, g_ring.img, g_pp.img);
}

/* Every field of the summary, for sessions that end ok, faulted, cancelled
 * by the host and by stop, at two and three workers, local and spread: the
 * home keeps its tally of the parts' ends in the bytes its OPEN command
 * had, and the priority moves from there too, so a field in the wrong
 * place, or written before the pop, shows up here. *pc: the faulting pc,
 * the same for every run (0: not known yet). */
static void
summary_run(uint32_t T, tr_placement placement, uint32_t *pc)
{
	enum { S = 24, K = 8, FAULTED = 5, CANCELLED = 6, STOPPED = 4 };
	const int64_t R = 3;
	const uint64_t expected = rt_wl_expected(RT_WL_RING, R);
	rt_wl_role *roles = calloc(S * K, sizeof *roles);
	void **ptrs = calloc(S * K, sizeof *ptrs);
	sum_rec rec[S + 1 + STOPPED];
	tr_session_id ids[S + 1 + STOPPED];
	tr_handler hd = rt_wl_handler(&g_ring), hp = rt_wl_handler(&g_pp);
	rt_wl_role pr[2];
	void *pptrs[2] = {NULL, &pr[1]};
	tr_runtime_stats st;

	assert_non_null(roles);
	assert_non_null(ptrs);
	memset(rec, 0, sizeof rec);
	atomic_store(&g_ring.errors, 0);
	tr_runtime *rt = sum_runtime(T, placement, TR_POLICY_PRIORITY);
	for (uint64_t i = 0; i < S * K; i++)
		ptrs[i] = &roles[i];
	for (uint64_t k = 0; k < S; k++)
		rt_wl_roles_init(&roles[k * K], K, R);
	roles[FAULTED * K + 3].fail = 1; /* its role P3 faults at its first send */
	for (uint64_t k = 0; k < S; k++) {
		tr_runtime_session_opts o = {.priority = (uint32_t)(k * 7 % 5), .user = &rec[k]};
		assert_int_equal(tr_runtime_open_session(rt, g_ring.img, &hd, &ptrs[k * K], &o,
		                                         &ids[k]), TR_OK);
	}
	/* The host plays pingpong's A: the record has the host-roles tail. */
	rt_wl_roles_init(pr, 2, 1);
	tr_runtime_session_opts ho = {.host_roles = 1, .priority = 9, .user = &rec[S]};
	assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &hp, pptrs, &ho, &ids[S]), TR_OK);
	assert_int_equal(tr_runtime_post(rt, ids[S], 1, 0, 0, tr_value_unit()), TR_E_INVALID);
	assert_int_equal(tr_runtime_cancel(rt, ids[CANCELLED]), TR_OK);
	assert_int_equal(tr_runtime_release(rt), TR_OK);
	/* Every ring session ends; the host's waits for A. */
	for (int i = 0; i < 2000; i++) {
		tr_runtime_stats_get(rt, &st, NULL, 0);
		if (st.sessions_completed == S)
			break;
		usleep(5000);
	}
	assert_int_equal(tr_runtime_cancel(rt, ids[S]), TR_OK);
	assert_int_equal(tr_runtime_drain(rt, 20000), TR_OK);
	assert_int_equal(tr_runtime_stop(rt, NULL), TR_OK);
	tr_runtime_stats_get(rt, &st, NULL, 0);
	assert_int_equal(st.sessions_freed, S + 1);
	tr_runtime_free(rt);

	/* Stop before anything runs: some OPENs meet a stopping home, others
	 * opened their parts first (the home cancels them). */
	rt = sum_runtime(T, placement, TR_POLICY_COOPERATIVE);
	for (uint64_t k = 0; k < STOPPED; k++) {
		tr_runtime_session_opts o = {.priority = 1, .user = &rec[S + 1 + k]};
		rt_wl_roles_init(&roles[k * K], K, R);
		assert_int_equal(tr_runtime_open_session(rt, g_ring.img, &hd, &ptrs[k * K], &o,
		                                         &ids[S + 1 + k]), TR_OK);
	}
	if (placement == TR_PLACE_SPREAD)
		usleep(20000);
	assert_int_equal(tr_runtime_stop(rt, "summary stop"), TR_OK);
	tr_runtime_free(rt);

	/* Read without the lock: free joined the workers, so every summary is
	 * final, and a failed check must not leave the lock held. */
	for (uint64_t k = 0; k < S + 1 + STOPPED; k++) {
		sum_rec *r = &rec[k];
		assert_int_equal(r->calls, 1);
		assert_int_equal(r->id, ids[k]);
		assert_ptr_equal(r->user, r);
		if (k == FAULTED) {
			assert_false(r->ok);
			assert_false(r->cancelled);
			assert_int_equal(r->fault.kind, TR_FAULT_INVOKE);
			assert_int_equal(r->fault.session, ids[k]);
			assert_int_equal(r->fault.role, 3);
			if (*pc == 0)
				*pc = r->fault.pc;
			assert_int_equal(r->fault.pc, *pc);
			assert_null(r->reason);
		} else if (k == CANCELLED || k == S) {
			assert_false(r->ok);
			assert_true(r->cancelled);
			assert_int_equal(r->fault.kind, TR_FAULT_CANCELLED);
			assert_int_equal(r->fault.session, ids[k]);
			assert_string_equal(r->reason, "cancelled by host");
			assert_int_equal(r->messages, 0);
		} else if (k > S) {
			assert_false(r->ok);
			assert_true(r->cancelled);
			assert_int_equal(r->fault.kind, TR_FAULT_CANCELLED);
			assert_string_equal(r->reason, "summary stop");
			assert_int_equal(r->messages, 0);
		} else {
			assert_true(r->ok);
			assert_false(r->cancelled);
			assert_int_equal(r->fault.kind, TR_FAULT_NONE);
			assert_null(r->reason);
			assert_int_equal(r->messages, expected);
		}
	}
	assert_int_equal(atomic_load(&g_ring.errors), 0);
	free(roles);
	free(ptrs);
}

static void
test_summary_fields(void **state)
{
	(void)state;
	uint32_t pc = 0;
	summary_run(2, TR_PLACE_LOCAL, &pc);
	summary_run(2, TR_PLACE_SPREAD, &pc);
	summary_run(3, TR_PLACE_LOCAL, &pc);
	summary_run(3, TR_PLACE_SPREAD, &pc);
	assert_int_not_equal(pc, 0);
}

/* The priority reaches every part (runtime.c, rt_live): under the priority
 * policy, the A roles a worker holds make their first choice in priority
 * order, highest first, whichever worker is the session's home. */
typedef struct prio_role {
	rt_wl_role r; /* first: the workload's handler reads it */
	uint32_t priority;
} prio_role;

typedef struct prio_log {
	pthread_t who;
	uint32_t priority;
} prio_log;

static tr_status (*g_inner_choose)(void *, const tr_effect *, const uint32_t *, uint32_t,
                                   uint32_t *);
static prio_log g_plog[512];
static uint32_t g_nplog;

static tr_status
prio_on_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n,
               uint32_t *pick)
{
	prio_role *pr = e->role_state;
	if (e->role == 0 && pr != NULL && pr->r.chosen == 0) {
		pthread_mutex_lock(&g_sum_lock);
		if (g_nplog < sizeof g_plog / sizeof g_plog[0])
			g_plog[g_nplog++] = (prio_log){pthread_self(), pr->priority};
		pthread_mutex_unlock(&g_sum_lock);
	}
	return g_inner_choose(ctx, e, labels, n, pick);
}

static void
prio_run(tr_placement placement)
{
	enum { N = 256 };
	const uint32_t T = 2;
	prio_role *roles = aligned_alloc(64, N * 2 * sizeof *roles);
	void **ptrs = calloc(N * 2, sizeof *ptrs);
	sum_rec *rec = calloc(N, sizeof *rec);
	tr_handler hd = rt_wl_handler(&g_pp);

	assert_non_null(roles);
	assert_non_null(ptrs);
	assert_non_null(rec);
	memset(roles, 0, N * 2 * sizeof *roles);
	g_inner_choose = hd.on_choose;
	hd.on_choose = prio_on_choose;
	g_nplog = 0;
	tr_runtime *rt = sum_runtime(T, placement, TR_POLICY_PRIORITY);
	for (uint32_t k = 0; k < N; k++) {
		/* every priority in 0..N-1, in a scattered order */
		uint32_t prio = (k * 97u + 13u) % N;
		rt_wl_roles_init(&roles[2 * k].r, 1, 1);
		rt_wl_roles_init(&roles[2 * k + 1].r, 1, 1);
		for (uint32_t r = 0; r < 2; r++) {
			roles[2 * k + r].priority = prio;
			ptrs[2 * k + r] = &roles[2 * k + r];
		}
		tr_runtime_session_opts o = {.priority = prio, .user = &rec[k]};
		tr_session_id id;
		assert_int_equal(tr_runtime_open_session(rt, g_pp.img, &hd, &ptrs[2 * k], &o, &id),
		                 TR_OK);
	}
	/* Every part open before the release, so that a worker's first round
	 * sees all its A roles ready (a worker that took only some OPENs
	 * before it saw the release would run those first). */
	const uint64_t parts = placement == TR_PLACE_SPREAD ? N * T : N;
	tr_runtime_worker_stats ws[2];
	tr_runtime_stats st;
	for (int i = 0; i < 1000; i++) {
		tr_runtime_stats_get(rt, &st, ws, T);
		if (ws[0].parts_live + ws[1].parts_live == parts)
			break;
		usleep(5000);
	}
	assert_int_equal(ws[0].parts_live + ws[1].parts_live, parts);
	assert_int_equal(tr_runtime_release(rt), TR_OK);
	assert_int_equal(tr_runtime_drain(rt, 20000), TR_OK);
	assert_int_equal(tr_runtime_stop(rt, NULL), TR_OK);
	tr_runtime_free(rt);

	/* free joined the workers: the log is final (read without the lock). */
	assert_int_equal(g_nplog, N);
	for (uint32_t k = 0; k < N; k++)
		assert_true(rec[k].ok);
	/* Per worker thread, the first choices come in priority order. */
	uint32_t seen = 0;
	for (uint32_t i = 0; i < g_nplog; i++) {
		uint32_t last = UINT32_MAX;
		bool first = true;
		for (uint32_t j = 0; j < i; j++)
			first = first && !pthread_equal(g_plog[j].who, g_plog[i].who);
		if (!first)
			continue;
		for (uint32_t j = i; j < g_nplog; j++) {
			if (!pthread_equal(g_plog[j].who, g_plog[i].who))
				continue;
			assert_true(g_plog[j].priority <= last);
			last = g_plog[j].priority;
			seen++;
		}
	}
	assert_int_equal(seen, N);
	assert_int_equal(atomic_load(&g_pp.errors), 0);
	free(roles);
	free(ptrs);
	free(rec);
}

static void
test_priority(void **state)
{
	(void)state;
	prio_run(TR_PLACE_LOCAL);
	prio_run(TR_PLACE_SPREAD);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		g_idle_s = (unsigned)atoi(argv[1]);
	if (argc > 2)
		g_stop_sessions = strtoull(argv[2], NULL, 10);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_idle_and_wake),
		cmocka_unit_test(test_cancel_blocked),
		cmocka_unit_test(test_fault_spread),
		cmocka_unit_test(test_stop_under_load),
		cmocka_unit_test(test_start_gate),
		cmocka_unit_test(test_register_prepares),
		cmocka_unit_test(test_stop_local_states),
		cmocka_unit_test(test_summary_fields),
		cmocka_unit_test(test_priority),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
