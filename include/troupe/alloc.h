/* troupe/alloc.h: the allocation hook every troupe object is created with.
 *
 * troupe never calls malloc directly: each object takes a tr_allocator and
 * frees through it with the size it allocated (sized free lets jemalloc's
 * sdallocx skip a lookup, and lets a counting allocator account bytes).
 * Passing NULL for an allocator means tr_allocator_default(). */
#ifndef TROUPE_ALLOC_H
#define TROUPE_ALLOC_H

#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_allocator {
	/* Returns NULL on failure; size > 0. */
	void *(*alloc)(void *ctx, size_t size);
	/* Grow or shrink p (which may be NULL with old_size 0). On failure returns
	 * NULL and p stays valid. */
	void *(*realloc)(void *ctx, void *p, size_t old_size, size_t new_size);
	/* p may be NULL; size is what p was allocated with. */
	void (*free)(void *ctx, void *p, size_t size);
	void *ctx;
} tr_allocator;

/* libc malloc/realloc/free. Static storage; thread-safe. */
TR_API const tr_allocator *tr_allocator_default(void);

/* A counting wrapper for tests and memory accounting: forwards to `inner`
 * and keeps totals. Not thread-safe: one thread per counting allocator. */
typedef struct tr_counting_allocator {
	tr_allocator base; /* pass &c.base where a tr_allocator is wanted */
	const tr_allocator *inner;
	size_t allocs, frees, reallocs;
	size_t live_bytes, peak_bytes;
	size_t fail_after; /* 0: never fail; N: the Nth call from now fails */
} tr_counting_allocator;

/* Initialise c around inner (NULL: the default). Cannot fail. */
TR_API void tr_counting_allocator_init(tr_counting_allocator *c,
                                       const tr_allocator *inner);

#ifdef __cplusplus
}
#endif
#endif
