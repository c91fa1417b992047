/* runtime/platform.h: per-worker allocation (a jemalloc arena each) and CPU
 * pinning. Nothing here knows about sessions. */
#ifndef TR_RT_PLATFORM_H
#define TR_RT_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "troupe/alloc.h"
#include "troupe/status.h"

/* A worker's allocator. With jemalloc (TR_USE_JEMALLOC) it owns a private
 * arena and an explicit tcache, and must be used by one thread at a time
 * (its worker): the tcache is not thread-safe. In sanitizer builds it
 * forwards to libc so that ASan/LSan see every block. */
typedef struct tr_worker_alloc {
	tr_allocator base; /* pass &wa.base where a tr_allocator is wanted */
	unsigned arena;
	unsigned tcache;
	int flags;
	bool jemalloc;
} tr_worker_alloc;

/* Create the arena and tcache. TR_E_NOMEM when jemalloc refuses. */
tr_status tr_worker_alloc_init(tr_worker_alloc *wa);
/* Destroy the tcache and the arena (and so every block still in it). Only
 * after every block allocated from it is freed or abandoned on purpose. */
void tr_worker_alloc_destroy(tr_worker_alloc *wa);

/* The CPUs of the calling process's affinity mask, in increasing order,
 * into cpus (up to max). Returns the count (0 when unknown). */
size_t tr_affinity_cpus(int *cpus, size_t max);
/* Pin the calling thread to cpu. TR_E_IO when the OS refuses. */
tr_status tr_pin_self(int cpu);
/* The CPU the calling thread may run on when pinned to exactly one, or -1. */
int tr_pinned_cpu_self(void);

#endif
