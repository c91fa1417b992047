/* tests/runtime/rt_harness.h: run S sessions of a standard workload on a
 * runtime and check every summary (shared by the runtime tests, the stress
 * program and the bench). Header-only. Environment knobs for experiments:
 * RT_BUDGET (round_budget), RT_PARK_MS (park_timeout_ms; 0 exposes a lost
 * wake-up as a hang). */
#ifndef TR_TESTS_RT_HARNESS_H
#define TR_TESTS_RT_HARNESS_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_workload.h"
#include "troupe/runtime.h"

typedef struct rt_done {
	uint64_t expected;              /* messages per session */
	_Atomic uint64_t done, ok, cancelled, faulted, wrong_count, messages;
} rt_done;

static inline void
rt_done_cb(void *ctx, const tr_runtime_summary *s)
{
	rt_done *d = ctx;
	if (s->ok)
		atomic_fetch_add_explicit(&d->ok, 1, memory_order_relaxed);
	else if (s->cancelled)
		atomic_fetch_add_explicit(&d->cancelled, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&d->faulted, 1, memory_order_relaxed);
	if (s->ok && d->expected != 0 && s->messages != d->expected)
		atomic_fetch_add_explicit(&d->wrong_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->messages, s->messages, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->done, 1, memory_order_relaxed);
}

static inline double
rt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct rt_run {
	/* in */
	int kind;
	uint32_t threads;
	tr_placement placement;
	uint64_t sessions;
	int64_t rounds;
	bool pin;
	/* out */
	tr_status st;
	uint64_t done, ok, faulted, cancelled, wrong_count, messages, stats_messages;
	uint64_t handler_errors, dropped, freed;
	double wall_s;
} rt_run;

/* Open every session, drain, free. wl must be initialised. */
static inline void
rt_run_workload(rt_wl *wl, rt_run *r)
{
	tr_runtime_config cfg;
	tr_runtime *rt = NULL;
	rt_done d;
	unsigned K = wl->nroles;

	memset(&d, 0, sizeof d);
	d.expected = rt_wl_expected(wl->kind, (uint64_t)r->rounds);
	tr_runtime_config_default(&cfg);
	cfg.threads = r->threads;
	cfg.placement = r->placement;
	cfg.pin = r->pin;
	if (getenv("RT_BUDGET"))
		cfg.round_budget = (uint32_t)atoi(getenv("RT_BUDGET"));
	if (getenv("RT_PARK_MS"))
		cfg.park_timeout_ms = (uint32_t)atoi(getenv("RT_PARK_MS"));
	cfg.on_complete = rt_done_cb;
	cfg.complete_ctx = &d;
	/* All sessions are created before any starts (WORKLOADS.md, as the
	 * peers do): the host thread does not compete with the workers. */
	cfg.start_held = true;
	/* Each session's role states start on a cache line of their own:
	 * consecutive sessions go to different homes, and states that share a
	 * line with another worker's session would measure false sharing in
	 * this harness, not the runtime. */
	size_t stride = (K * sizeof(rt_wl_role) + 127) & ~(size_t)127;
	rt_wl_role *roles = aligned_alloc(128, (r->sessions ? r->sessions : 1) * stride);
	void **ptrs = calloc(r->sessions * K, sizeof *ptrs);
	r->st = TR_E_NOMEM;
	if (roles == NULL || ptrs == NULL)
		goto out_free;
#define RT_ROLES_OF(s) ((rt_wl_role *)((char *)roles + (s) * stride))
	if ((r->st = tr_runtime_create(&cfg, &rt)) != TR_OK)
		goto out_free;
	if ((r->st = tr_runtime_register_image(rt, wl->img)) != TR_OK)
		goto out_rt;
	tr_handler h = rt_wl_handler(wl);
	for (uint64_t s = 0; s < r->sessions; s++) {
		rt_wl_roles_init(RT_ROLES_OF(s), K, r->rounds);
		for (unsigned k = 0; k < K; k++)
			ptrs[s * K + k] = &RT_ROLES_OF(s)[k];
	}
#undef RT_ROLES_OF
	double t0 = rt_now();
	for (uint64_t s = 0; s < r->sessions; s++) {
		tr_session_id id;
		if ((r->st = tr_runtime_open_session(rt, wl->img, &h, &ptrs[s * K], NULL, &id)) != TR_OK)
			goto out_rt;
	}
	if ((r->st = tr_runtime_release(rt)) != TR_OK)
		goto out_rt;
	r->st = tr_runtime_drain(rt, 120000);
	r->wall_s = rt_now() - t0;
out_rt:
	if (rt != NULL) {
		tr_runtime_stats stats;
		tr_runtime_stop(rt, NULL);
		tr_runtime_stats_get(rt, &stats, NULL, 0);
		r->stats_messages = stats.messages;
		r->dropped = stats.dropped;
		r->freed = stats.sessions_freed;
		tr_runtime_free(rt);
	}
	r->done = atomic_load(&d.done);
	r->ok = atomic_load(&d.ok);
	r->faulted = atomic_load(&d.faulted);
	r->cancelled = atomic_load(&d.cancelled);
	r->wrong_count = atomic_load(&d.wrong_count);
	r->messages = atomic_load(&d.messages);
	r->handler_errors = atomic_load(&wl->errors);
out_free:
	free(roles);
	free(ptrs);
}

#endif
