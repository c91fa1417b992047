/* runtime/platform.c: per-worker jemalloc arenas and CPU pinning
 * (platform.h). */
#include "platform.h"

#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#ifdef TR_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "util.h"

#ifdef TR_USE_JEMALLOC
/* A block this large that a worker frees is the old copy of an array that
 * grew by doubling (the machine's session table, coroutine map, entry
 * pool, the scheduler's arrays): jemalloc would keep its pages resident
 * for its decay time (10 s), so at scale the peak holds every old copy
 * next to the new one (issue 6: ~26 B per pingpong session). Purging the
 * arena right away returns them; such frees are rare (log2 of the growth),
 * so the purge's cost does not matter, where a zero decay time for the
 * whole arena would purge on every emptied slab (5x slower at scale). */
#define TR_WA_PURGE_AT ((size_t)1 << 20)

static void
wa_purge(tr_worker_alloc *wa)
{
	size_t mib[3], n = 3;
	if (mallctlnametomib("arena.0.purge", mib, &n) != 0)
		return;
	mib[1] = wa->arena;
	(void)mallctlbymib(mib, n, NULL, NULL, NULL, 0);
}

static void *
wa_alloc(void *ctx, size_t size)
{
	tr_worker_alloc *wa = ctx;
	return mallocx(size, wa->flags);
}

static void *
wa_realloc(void *ctx, void *p, size_t old_size, size_t new_size)
{
	tr_worker_alloc *wa = ctx;
	if (p == NULL)
		return mallocx(new_size, wa->flags);
	void *q = rallocx(p, new_size, wa->flags);
	if (q != NULL && q != p && old_size >= TR_WA_PURGE_AT)
		wa_purge(wa);
	return q;
}

static void
wa_free(void *ctx, void *p, size_t size)
{
	tr_worker_alloc *wa = ctx;
	if (p == NULL)
		return;
	sdallocx(p, size, wa->flags);
	if (size >= TR_WA_PURGE_AT)
		wa_purge(wa);
}
#endif

tr_status
tr_worker_alloc_init(tr_worker_alloc *wa)
{
	memset(wa, 0, sizeof *wa);
#ifdef TR_USE_JEMALLOC
	size_t sz = sizeof(unsigned);
	if (mallctl("arenas.create", &wa->arena, &sz, NULL, 0) != 0)
		return TR_E_NOMEM;
	sz = sizeof(unsigned);
	if (mallctl("tcache.create", &wa->tcache, &sz, NULL, 0) != 0) {
		char name[64];
		snprintf(name, sizeof name, "arena.%u.destroy", wa->arena);
		mallctl(name, NULL, NULL, NULL, 0);
		return TR_E_NOMEM;
	}
	wa->flags = MALLOCX_ARENA(wa->arena) | MALLOCX_TCACHE(wa->tcache);
	wa->jemalloc = true;
	wa->base.alloc = wa_alloc;
	wa->base.realloc = wa_realloc;
	wa->base.free = wa_free;
	wa->base.ctx = wa;
#else
	wa->base = *tr_allocator_default();
#endif
	return TR_OK;
}

void
tr_worker_alloc_destroy(tr_worker_alloc *wa)
{
#ifdef TR_USE_JEMALLOC
	if (wa->jemalloc) {
		char name[64];
		mallctl("tcache.destroy", NULL, NULL, &wa->tcache, sizeof wa->tcache);
		snprintf(name, sizeof name, "arena.%u.destroy", wa->arena);
		mallctl(name, NULL, NULL, NULL, 0);
		wa->jemalloc = false;
	}
#else
	(void)wa;
#endif
}

size_t
tr_affinity_cpus(int *cpus, size_t max)
{
	cpu_set_t set;
	size_t n = 0;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

tr_status
tr_pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return TR_E_INVALID;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
		return TR_E_IO;
	return TR_OK;
}

int
tr_pinned_cpu_self(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0)
		return -1;
	if (CPU_COUNT(&set) != 1)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}
