/* sched/alloc.c: tr_allocator_default() (include/troupe/alloc.h), libc's
 * malloc behind the tr_allocator interface. It lives in the lowest layer
 * so that sched/, core/ and runtime/ share one default instead of each
 * keeping its own copy. */
#include <stdlib.h>

#include "troupe/alloc.h"

static void *
libc_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void *
libc_realloc(void *ctx, void *p, size_t old_size, size_t new_size)
{
	(void)ctx;
	(void)old_size;
	return realloc(p, new_size);
}

static void
libc_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	(void)size;
	free(p);
}

static const tr_allocator libc_allocator = {libc_alloc, libc_realloc, libc_free, NULL};

const tr_allocator *
tr_allocator_default(void)
{
	return &libc_allocator;
}
