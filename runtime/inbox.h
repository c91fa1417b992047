/* runtime/inbox.h: the queues a worker's inbox is made of (docs/DESIGN.md §5).
 *
 *  - tr_xring: one SPSC ck_ring per ordered worker pair, carrying tr_xmsg by
 *    value. The sender stages messages in its tr_outbox (sender-owned, grows
 *    as needed: the overflow list) and publishes them in batches with
 *    tr_outbox_flush_sp(); the receiver takes batches with
 *    tr_xring_drain_sc() (a copy) or tr_xring_peek_sc() (in place).
 *  - tr_mpsc: the host command queue, a Vyukov intrusive MPSC list built on
 *    <stdatomic.h>. Chosen over ck_fifo_mpmc because (a) producers are wait-
 *    free (one exchange), (b) with one consumer there is no ABA and a node
 *    can be freed as soon as it is popped, whereas ck_fifo_mpmc hands back
 *    nodes another thread may still read and needs hazard pointers or
 *    epochs to free them, and (c) TSan sees every access.
 *
 * Nothing here parks or wakes: the caller pairs a publication with
 * tr_parker_wake_any() (rt_sync.h, point W3). */
#ifndef TR_RT_INBOX_H
#define TR_RT_INBOX_H

#include <ck_ring.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/alloc.h"
#include "troupe/machine.h"
#include "troupe/status.h"

/* What crosses between workers. 24 bytes, copied by value. */
typedef enum tr_xop {
	TR_XOP_MSG = 1,       /* a session message for role `to` */
	TR_XOP_CREDIT = 2,    /* `label` credits back for edge from->to */
	TR_XOP_OPEN = 3,      /* open your part of session id (bits: record) */
	TR_XOP_CANCEL = 4,    /* cancel your part of session id */
	TR_XOP_PART_DONE = 5, /* a part ended: bits = messages, kind = ok,
	                       * from = fault role, to = fault kind, label = pc */
	TR_XOP_TEST = 15,     /* unit tests only */
} tr_xop;

/* The machine's ingress record: a run of TR_XOP_MSG records goes to
 * tr_machine_inject_batch as it is. `tag` holds the tr_xop; the other
 * control messages reuse the fields as their comments above say (kind for
 * vkind). */
typedef tr_ingress_msg tr_xmsg;
_Static_assert(sizeof(tr_xmsg) == 24, "tr_xmsg is copied by value: keep it small");

typedef struct tr_xring {
	ck_ring_t ring;
	tr_xmsg *buf;
	uint32_t size;
} tr_xring;

/* size: a power of two >= 4 (one slot stays empty). TR_E_NOMEM/INVALID. */
tr_status tr_xring_init(tr_xring *r, uint32_t size, const tr_allocator *a);
void tr_xring_destroy(tr_xring *r, const tr_allocator *a);
/* Take up to max messages into out, as one batch (one store of the ring's
 * head). Consumer only. Returns the count. */
uint32_t tr_xring_drain_sc(tr_xring *r, tr_xmsg *out, uint32_t max);
/* Take up to max messages in place: *a[0..*na) then *b[0..*nb) (the ring
 * wraps), valid until tr_xring_release_sc(r, *na + *nb), which hands the
 * slots back as one batch. Consumer only; returns *na + *nb. Saves the
 * copy of tr_xring_drain_sc. */
uint32_t tr_xring_peek_sc(tr_xring *r, uint32_t max, const tr_xmsg **a, uint32_t *na,
                          const tr_xmsg **b, uint32_t *nb);
void tr_xring_release_sc(tr_xring *r, uint32_t n);
/* True when something is published. Consumer only (the parker's re-check,
 * rt_sync.h W2). */
bool tr_xring_nonempty_sc(const tr_xring *r);

/* Sender-side staging for one destination ring: a circular buffer that
 * doubles when full (cap a power of two). Owner (sender) only. */
typedef struct tr_outbox {
	tr_xmsg *v;
	uint32_t head, len, cap;
	uint32_t peak; /* largest len seen at a flush */
} tr_outbox;

void tr_outbox_init(tr_outbox *o);
void tr_outbox_destroy(tr_outbox *o, const tr_allocator *a);
/* Double o's capacity (the slow path of tr_outbox_push_owner). TR_E_NOMEM
 * (o unchanged). Owner only. */
tr_status tr_outbox_grow_owner(tr_outbox *o, const tr_allocator *a);

/* Stage one message. TR_E_NOMEM (o unchanged). Owner only. Inline: the
 * worker stages one per remote send. */
static inline tr_status
tr_outbox_push_owner(tr_outbox *o, const tr_xmsg *m, const tr_allocator *a)
{
	if (__builtin_expect(o->len == o->cap, 0)) {
		tr_status st = tr_outbox_grow_owner(o, a);
		if (st != TR_OK)
			return st;
	}
	o->v[(o->head + o->len) & (o->cap - 1)] = *m;
	o->len++;
	return TR_OK;
}

/* Publish as much as fits into r, in order, as one batch (one store of the
 * ring's tail). Returns how many were published; what does not fit stays
 * staged (the overflow list). */
uint32_t tr_outbox_flush_sp(tr_outbox *o, tr_xring *r);

/* Vyukov MPSC queue of intrusive nodes. */
typedef struct tr_mpsc_node {
	_Atomic(struct tr_mpsc_node *) next;
} tr_mpsc_node;

typedef struct tr_mpsc {
	_Atomic(tr_mpsc_node *) tail; /* producers exchange here */
	char pad_[64 - sizeof(void *)];
	tr_mpsc_node *head;           /* consumer only */
	tr_mpsc_node stub;
} tr_mpsc;

void tr_mpsc_init(tr_mpsc *q);
/* Any thread. Wait-free. n must stay valid until popped. */
void tr_mpsc_push_mpsc(tr_mpsc *q, tr_mpsc_node *n);
/* Consumer only. NULL when empty, or when a producer is between its
 * exchange and its link (it is then published a moment later: callers
 * treat it as empty and re-check, see rt_sync.h W5).
 * A node handed back is the caller's at once: no thread touches it again
 * (the session record reuses its OPEN node's bytes, runtime.c). After its
 * push, a node's `next` is written once, by the push that takes its place
 * as tail (its link, or pop's own push of the stub); pop hands a node back
 * only once it has read that `next` as non-NULL, and it moves head past
 * the node and never reads it again. */
tr_mpsc_node *tr_mpsc_pop_sc(tr_mpsc *q);
/* True when a push has begun (its exchange is done). Consumer only (the
 * parker's re-check, rt_sync.h W2). */
bool tr_mpsc_nonempty_sc(tr_mpsc *q);

#endif
