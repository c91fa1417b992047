/* runtime/slots.h: a worker's session table, read by every thread.
 *
 * Slots are allocated by host threads (tr_runtime_open_session) under a
 * mutex, cleared by the owning (home) worker when a session ends, and read
 * lock-free by anyone inside an epoch section: a reader loads the slot's
 * pointer (acquire) and compares the record's id with the one it looks for,
 * because a slot is reused, with a new generation, once its session ends.
 * The records themselves are freed by the owner through ck_epoch_call, so a
 * reader inside a section never sees freed memory (runtime.c, point E2).
 *
 * Segments of 4096 slots are allocated on demand and never move or are
 * freed before the table is destroyed, so lookups need no epoch for the
 * table itself and cost two dependent loads.
 *
 * A slot is one word, 8 bytes (each live session has one): the record
 * pointer while the session lives, else a tagged word (bit 0 set, so a
 * reader takes it for empty) holding the slot's generation in the high 32
 * bits and, on the free list, the next free index in bits 1..31. The live
 * slot's generation is in its record's id, which the owner hands back at
 * clear. Why: a generation array cost 4 more bytes a slot (issue 6), and a
 * separate array of free indices grew to 4 bytes per session ended plus
 * its doubling copies. */
#ifndef TR_RT_SLOTS_H
#define TR_RT_SLOTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "troupe/alloc.h"
#include "troupe/runtime.h"
#include "troupe/status.h"

#define TR_SLOT_SEG_BITS 12u
#define TR_SLOT_SEG_SIZE (1u << TR_SLOT_SEG_BITS)
#define TR_SLOT_NSEG (TR_RUNTIME_MAX_SLOTS / TR_SLOT_SEG_SIZE)
#define TR_SLOT_NONE TR_RUNTIME_MAX_SLOTS /* never an index */

typedef struct tr_slot_seg {
	_Atomic(void *) ptr[TR_SLOT_SEG_SIZE];
} tr_slot_seg;

typedef struct tr_slot_table {
	_Atomic(tr_slot_seg *) seg[TR_SLOT_NSEG];
	pthread_mutex_t lock;
	uint32_t free_head; /* first free slot, TR_SLOT_NONE: none; under lock */
	uint32_t fresh;     /* next never-used index, under lock */
	const tr_allocator *a;
} tr_slot_table;

tr_status tr_slot_table_init(tr_slot_table *t, const tr_allocator *a);
/* Frees the segments, not the records. */
void tr_slot_table_destroy(tr_slot_table *t);
/* Take a slot; *gen is its new generation (never 0). Any thread.
 * TR_E_LIMIT when all TR_RUNTIME_MAX_SLOTS are live, TR_E_NOMEM. */
tr_status tr_slot_alloc_any(tr_slot_table *t, uint32_t *idx, uint32_t *gen);
/* Publish p in slot idx (release: p's contents are visible to a reader
 * that loads it). The allocating thread, once. */
void tr_slot_publish_any(tr_slot_table *t, uint32_t idx, void *p);
/* The pointer in slot idx, or NULL. Any thread, inside an epoch section.
 * Inline: every message that crosses workers is looked up here. */
static inline void *
tr_slot_get_any(tr_slot_table *t, uint32_t idx)
{
	if (idx >= TR_RUNTIME_MAX_SLOTS)
		return NULL;
	/* Pairs with the release store of a new segment in tr_slot_alloc_any. */
	tr_slot_seg *seg = atomic_load_explicit(&t->seg[idx >> TR_SLOT_SEG_BITS], memory_order_acquire);
	if (seg == NULL)
		return NULL;
	/* Pairs with the release store in tr_slot_publish_any. */
	void *p = atomic_load_explicit(&seg->ptr[idx & (TR_SLOT_SEG_SIZE - 1)], memory_order_acquire);
	return ((uintptr_t)p & 1u) ? NULL : p; /* a free slot's link */
}
/* Clear slot idx (its session ended); gen is the generation alloc gave it
 * (the session id's). Owner only. The slot is not reusable until it is
 * given back with tr_slot_give_back_owner. */
void tr_slot_clear_owner(tr_slot_table *t, uint32_t idx, uint32_t gen);
/* Return n cleared slots to the free list (takes the lock once). Owner
 * only. Cannot fail: returns TR_OK. */
tr_status tr_slot_give_back_owner(tr_slot_table *t, const uint32_t *idx, uint32_t n);
/* Upper bound of used indices (for scans). Any thread (under the lock). */
uint32_t tr_slot_high_any(tr_slot_table *t);

#endif
