/* runtime/slots.c: the per-worker session table (slots.h). */
#include "slots.h"

#include <string.h>

#include "util.h"

_Static_assert(sizeof(uintptr_t) == 8, "a free slot's word holds a 32-bit generation and an index");
_Static_assert(TR_SLOT_NONE < (1u << 31), "a free slot's next index fits bits 1..31");

/* The tagged word of a slot that is not live: generation gen, next free
 * index next (TR_SLOT_NONE when not on the free list or last). */
static inline void *
slot_word(uint32_t gen, uint32_t next)
{
	return (void *)((uintptr_t)gen << 32 | (uintptr_t)next << 1 | 1u);
}

static inline uint32_t
word_gen(uintptr_t w)
{
	return (uint32_t)(w >> 32);
}

static inline uint32_t
word_next(uintptr_t w)
{
	return (uint32_t)(w >> 1) & 0x7fffffffu;
}

/* A new segment, every slot empty. */
static tr_slot_seg *
seg_new(const tr_allocator *a)
{
	tr_slot_seg *s = tr_calloc(a, 1, sizeof *s);
	if (s != NULL)
		for (uint32_t k = 0; k < TR_SLOT_SEG_SIZE; k++)
			atomic_init(&s->ptr[k], NULL);
	return s;
}

tr_status
tr_slot_table_init(tr_slot_table *t, const tr_allocator *a)
{
	memset(t, 0, sizeof *t);
	for (uint32_t i = 0; i < TR_SLOT_NSEG; i++)
		atomic_init(&t->seg[i], NULL);
	/* The first segment now, written through: every table takes slots,
	 * and its first sessions should not wait for its pages (a first open
	 * took 0.1 ms longer on this VM). */
	tr_slot_seg *s0 = seg_new(a);
	if (s0 == NULL)
		return TR_E_NOMEM;
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		tr_free(a, s0, sizeof *s0);
		return TR_E_NOMEM;
	}
	atomic_init(&t->seg[0], s0);
	t->a = a;
	t->free_head = TR_SLOT_NONE;
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
	uint32_t i, old_gen = 0;

	pthread_mutex_lock(&t->lock);
	if (t->free_head != TR_SLOT_NONE) {
		i = t->free_head;
		/* Relaxed: links are written and read under the lock. */
		uintptr_t link = (uintptr_t)atomic_load_explicit(
			&seg_of(t, i)->ptr[i & (TR_SLOT_SEG_SIZE - 1)], memory_order_relaxed);
		t->free_head = word_next(link);
		old_gen = word_gen(link);
	} else if (t->fresh >= TR_RUNTIME_MAX_SLOTS) {
		st = TR_E_LIMIT;
		goto out_unlock;
	} else {
		i = t->fresh;
		if ((i & (TR_SLOT_SEG_SIZE - 1)) == 0 &&
		    atomic_load_explicit(&t->seg[i >> TR_SLOT_SEG_BITS], memory_order_relaxed) == NULL) {
			tr_slot_seg *s = seg_new(t->a);
			if (s == NULL) {
				st = TR_E_NOMEM;
				goto out_unlock;
			}
			/* Pairs with the acquire loads in seg_of and tr_slot_get_any. */
			atomic_store_explicit(&t->seg[i >> TR_SLOT_SEG_BITS], s, memory_order_release);
		}
		t->fresh++;
	}
	uint32_t g = (old_gen + 1) & 0x7fffffffu; /* ids keep 31 bits of it */
	if (g == 0)
		g = 1;
	/* Empty to readers until published; the generation is kept should
	 * the slot be cleared without a record. */
	atomic_store_explicit(&seg_of(t, i)->ptr[i & (TR_SLOT_SEG_SIZE - 1)],
	                      slot_word(g, TR_SLOT_NONE), memory_order_relaxed);
	*idx = i;
	*gen = g;
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
tr_slot_clear_owner(tr_slot_table *t, uint32_t idx, uint32_t gen)
{
	atomic_store_explicit(&seg_of(t, idx)->ptr[idx & (TR_SLOT_SEG_SIZE - 1)],
	                      slot_word(gen, TR_SLOT_NONE), memory_order_relaxed);
}

tr_status
tr_slot_give_back_owner(tr_slot_table *t, const uint32_t *idx, uint32_t n)
{
	pthread_mutex_lock(&t->lock);
	for (uint32_t k = 0; k < n; k++) {
		_Atomic(void *) *p = &seg_of(t, idx[k])->ptr[idx[k] & (TR_SLOT_SEG_SIZE - 1)];
		/* Relaxed: the owner cleared it; links are read under the lock. */
		uintptr_t w = (uintptr_t)atomic_load_explicit(p, memory_order_relaxed);
		atomic_store_explicit(p, slot_word(word_gen(w), t->free_head), memory_order_relaxed);
		t->free_head = idx[k];
	}
	pthread_mutex_unlock(&t->lock);
	return TR_OK;
}

uint32_t
tr_slot_high_any(tr_slot_table *t)
{
	pthread_mutex_lock(&t->lock);
	uint32_t h = t->fresh;
	pthread_mutex_unlock(&t->lock);
	return h;
}
