/* runtime/slots.c: the per-worker session table (slots.h). */
#include "slots.h"

#include <string.h>

#include "util.h"

tr_status
tr_slot_table_init(tr_slot_table *t, const tr_allocator *a)
{
	memset(t, 0, sizeof *t);
	for (uint32_t i = 0; i < TR_SLOT_NSEG; i++)
		atomic_init(&t->seg[i], NULL);
	if (pthread_mutex_init(&t->lock, NULL) != 0)
		return TR_E_NOMEM;
	t->a = a;
	return TR_OK;
}

void
tr_slot_table_destroy(tr_slot_table *t)
{
	for (uint32_t i = 0; i < TR_SLOT_NSEG; i++) {
		tr_slot_seg *s = atomic_load_explicit(&t->seg[i], memory_order_relaxed);
		if (s != NULL)
			tr_free(t->a, s, sizeof *s);
	}
	if (t->free_idx != NULL)
		tr_free(t->a, t->free_idx, (size_t)t->capfree * sizeof(uint32_t));
	pthread_mutex_destroy(&t->lock);
}

/* The segment of slot idx (allocated: idx was handed out). */
static tr_slot_seg *
seg_of(tr_slot_table *t, uint32_t idx)
{
	/* Pairs with the release store of a new segment in tr_slot_alloc_any. */
	return atomic_load_explicit(&t->seg[idx >> TR_SLOT_SEG_BITS], memory_order_acquire);
}

tr_status
tr_slot_alloc_any(tr_slot_table *t, uint32_t *idx, uint32_t *gen)
{
	tr_status st = TR_OK;
	uint32_t i;

	pthread_mutex_lock(&t->lock);
	if (t->nfree > 0) {
		i = t->free_idx[--t->nfree];
	} else if (t->fresh >= TR_RUNTIME_MAX_SLOTS) {
		st = TR_E_LIMIT;
		goto out_unlock;
	} else {
		i = t->fresh;
		if ((i & (TR_SLOT_SEG_SIZE - 1)) == 0 &&
		    atomic_load_explicit(&t->seg[i >> TR_SLOT_SEG_BITS], memory_order_relaxed) == NULL) {
			tr_slot_seg *s = tr_calloc(t->a, 1, sizeof *s);
			if (s == NULL) {
				st = TR_E_NOMEM;
				goto out_unlock;
			}
			for (uint32_t k = 0; k < TR_SLOT_SEG_SIZE; k++)
				atomic_init(&s->ptr[k], NULL);
			/* Pairs with the acquire loads in seg_of and tr_slot_get_any. */
			atomic_store_explicit(&t->seg[i >> TR_SLOT_SEG_BITS], s, memory_order_release);
		}
		t->fresh++;
	}
	uint32_t *g = &seg_of(t, i)->gen[i & (TR_SLOT_SEG_SIZE - 1)];
	*g = (*g + 1) & 0x7fffffffu;
	if (*g == 0)
		*g = 1;
	*idx = i;
	*gen = *g;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	return st;
}

void
tr_slot_publish_any(tr_slot_table *t, uint32_t idx, void *p)
{
	/* Pairs with the acquire load in tr_slot_get_any. */
	atomic_store_explicit(&seg_of(t, idx)->ptr[idx & (TR_SLOT_SEG_SIZE - 1)], p,
	                      memory_order_release);
}

void
tr_slot_clear_owner(tr_slot_table *t, uint32_t idx)
{
	atomic_store_explicit(&seg_of(t, idx)->ptr[idx & (TR_SLOT_SEG_SIZE - 1)], NULL,
	                      memory_order_relaxed);
}

tr_status
tr_slot_give_back_owner(tr_slot_table *t, const uint32_t *idx, uint32_t n)
{
	tr_status st = TR_OK;

	pthread_mutex_lock(&t->lock);
	if (t->nfree + n > t->capfree) {
		uint32_t ncap = t->capfree ? t->capfree : 256;
		while (ncap < t->nfree + n)
			ncap *= 2;
		uint32_t *nv = tr_realloc(t->a, t->free_idx, (size_t)t->capfree * sizeof(uint32_t),
		                          (size_t)ncap * sizeof(uint32_t));
		if (nv == NULL) {
			st = TR_E_NOMEM;
			goto out_unlock;
		}
		t->free_idx = nv;
		t->capfree = ncap;
	}
	memcpy(t->free_idx + t->nfree, idx, (size_t)n * sizeof(uint32_t));
	t->nfree += n;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	return st;
}

uint32_t
tr_slot_high_any(tr_slot_table *t)
{
	pthread_mutex_lock(&t->lock);
	uint32_t h = t->fresh;
	pthread_mutex_unlock(&t->lock);
	return h;
}
