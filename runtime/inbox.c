/* runtime/inbox.c: SPSC rings with sender-side staging, the Vyukov MPSC
 * host command queue, and the futex parker (inbox.h, rt_sync.h). It does
 * not know what messages mean: the worker loop (runtime.c) does. */
#include "inbox.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt_sync.h"
#include "util.h"


/* ---- SPSC ring ---- */

tr_status
tr_xring_init(tr_xring *r, uint32_t size, const tr_allocator *a)
{
	if (size < 4 || (size & (size - 1)) != 0)
		return TR_E_INVALID;
	r->buf = tr_calloc(a, size, sizeof(tr_xmsg));
	if (r->buf == NULL)
		return TR_E_NOMEM;
	r->size = size;
	ck_ring_init(&r->ring, size);
	return TR_OK;
}

void
tr_xring_destroy(tr_xring *r, const tr_allocator *a)
{
	if (r->buf != NULL)
		tr_free(a, r->buf, (size_t)r->size * sizeof(tr_xmsg));
	r->buf = NULL;
}

uint32_t
tr_xring_peek_sc(tr_xring *r, uint32_t max, const tr_xmsg **a, uint32_t *na,
                 const tr_xmsg **b, uint32_t *nb)
{
	/* The slots stay the consumer's until tr_xring_release_sc stores
	 * c_head. ck_pr_load (inline asm, a plain load on TSO): pairs with the
	 * ck_pr_store of p_tail in tr_outbox_flush_sp. */
	uint32_t consumer = r->ring.c_head;
	uint32_t producer = ck_pr_load_uint(&r->ring.p_tail);
	uint32_t n = producer - consumer;

	*na = *nb = 0;
	if (n == 0)
		return 0;
	if (n > max)
		n = max;
	/* Orders the slot reads after the p_tail snapshot (ck's fence_load). */
	ck_pr_fence_load();
	/* The producer's slot writes are hidden from TSan (flush); this edge
	 * orders what it did before publishing before our reads. */
	TR_TSAN_ACQUIRE(r);
	uint32_t at = consumer & r->ring.mask;
	uint32_t first = r->size - at < n ? r->size - at : n;
	*a = &r->buf[at];
	*na = first;
	*b = r->buf;
	*nb = n - first;
	return n;
}

void
tr_xring_release_sc(tr_xring *r, uint32_t n)
{
	/* The reads of the slots complete before they are handed back (ck's
	 * fence_store); pairs with the ck_pr_load of c_head in the flush. */
	ck_pr_fence_store();
	ck_pr_store_uint(&r->ring.c_head, r->ring.c_head + n);
}

uint32_t
tr_xring_drain_sc(tr_xring *r, tr_xmsg *out, uint32_t max)
{
	/* ck_ring's own dequeue_sc protocol (ck_ring.h), taken a batch at a
	 * time: one load of the producer's p_tail, the copies, one store of
	 * c_head. Per message ck would load p_tail and store c_head again, and
	 * each store pulls the line the producer polls across cores. */
	const tr_xmsg *a, *b;
	uint32_t na, nb;
	uint32_t n = tr_xring_peek_sc(r, max, &a, &na, &b, &nb);
	if (n == 0)
		return 0;
	memcpy(out, a, (size_t)na * sizeof *out);
	memcpy(out + na, b, (size_t)nb * sizeof *out);
	tr_xring_release_sc(r, n);
	return n;
}

bool
tr_xring_nonempty_sc(const tr_xring *r)
{
	return ck_ring_size(&r->ring) != 0;
}

/* ---- outbox (the overflow list) ---- */

void
tr_outbox_init(tr_outbox *o)
{
	memset(o, 0, sizeof *o);
}

void
tr_outbox_destroy(tr_outbox *o, const tr_allocator *a)
{
	if (o->v != NULL)
		tr_free(a, o->v, (size_t)o->cap * sizeof(tr_xmsg));
	memset(o, 0, sizeof *o);
}

tr_status
tr_outbox_grow_owner(tr_outbox *o, const tr_allocator *a)
{
	/* A circular buffer that doubles: staged messages are never moved
	 * while it has room, whatever the receiver's pace. */
	uint32_t ncap = o->cap ? o->cap * 2 : 256;
	if (ncap < o->cap)
		return TR_E_NOMEM;
	tr_xmsg *nv = tr_alloc(a, (size_t)ncap * sizeof(tr_xmsg));
	if (nv == NULL)
		return TR_E_NOMEM;
	for (uint32_t i = 0; i < o->len; i++)
		nv[i] = o->v[(o->head + i) & (o->cap - 1)];
	if (o->v != NULL)
		tr_free(a, o->v, (size_t)o->cap * sizeof(tr_xmsg));
	o->v = nv;
	o->cap = ncap;
	o->head = 0;
	return TR_OK;
}

uint32_t
tr_outbox_flush_sp(tr_outbox *o, tr_xring *r)
{
	if (o->len == 0)
		return 0;
	if (o->peak < o->len)
		o->peak = o->len; /* staging only shrinks here: this sees every peak */
	/* ck_ring's enqueue_sp protocol (ck_ring.h), a batch at a time: one
	 * load of the consumer's c_head, the copies, one store of p_tail. */
	const uint32_t mask = r->ring.mask;
	/* ck_pr_load: pairs with the ck_pr_store of c_head in the drain. */
	uint32_t consumer = ck_pr_load_uint(&r->ring.c_head);
	uint32_t producer = r->ring.p_tail;
	uint32_t room = mask - ((producer - consumer) & mask); /* one slot stays empty */
	uint32_t n = o->len < room ? o->len : room;

	if (n == 0)
		return 0;
	/* Everything this thread did before the batch (the payloads' host
	 * values included) happens-before the receiver's drain. */
	TR_TSAN_RELEASE(r); /* pairs with TR_TSAN_ACQUIRE in tr_xring_drain_sc */
	TR_TSAN_IGNORE_WRITES_BEGIN();
	for (uint32_t done = 0; done < n;) {
		/* Copy the longest run contiguous in both circular buffers. */
		uint32_t src = (o->head + done) & (o->cap - 1);
		uint32_t dst = (producer + done) & mask;
		uint32_t k = n - done;
		if (k > o->cap - src)
			k = o->cap - src;
		if (k > r->size - dst)
			k = r->size - dst;
		memcpy(&r->buf[dst], &o->v[src], (size_t)k * sizeof(tr_xmsg));
		done += k;
	}
	TR_TSAN_IGNORE_WRITES_END();
	/* The slots are written before they are published (ck's fence_store);
	 * pairs with the ck_pr_load of p_tail in tr_xring_drain_sc. */
	ck_pr_fence_store();
	ck_pr_store_uint(&r->ring.p_tail, producer + n);
	o->head = (o->head + n) & (o->cap - 1);
	o->len -= n;
	if (o->len == 0)
		o->head = 0;
	return n;
}

/* ---- Vyukov MPSC ---- */

void
tr_mpsc_init(tr_mpsc *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->tail, &q->stub);
	q->head = &q->stub;
}

void
tr_mpsc_push_mpsc(tr_mpsc *q, tr_mpsc_node *n)
{
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	/* seq_cst: publishes n (release, pairs with the consumer's acquire of
	 * tail/next) and is the producer half of the parker's Dekker pair (W3). */
	tr_mpsc_node *prev = atomic_exchange_explicit(&q->tail, n, memory_order_seq_cst);
	/* Links n after prev; pairs with the acquire loads of next in pop. */
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

tr_mpsc_node *
tr_mpsc_pop_sc(tr_mpsc *q)
{
	tr_mpsc_node *head = q->head;
	/* Pairs with the release store of prev->next in push. */
	tr_mpsc_node *next = atomic_load_explicit(&head->next, memory_order_acquire);

	if (head == &q->stub) {
		if (next == NULL)
			return NULL;
		q->head = next;
		head = next;
		/* Pairs with the release store of prev->next in push. */
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next != NULL) {
		q->head = next;
		return head;
	}
	/* Pairs with the exchange in push: is head really the last one? */
	tr_mpsc_node *tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	if (head != tail)
		return NULL; /* a producer is between exchange and link */
	tr_mpsc_push_mpsc(q, &q->stub);
	/* Pairs with the release store of prev->next in push. */
	next = atomic_load_explicit(&head->next, memory_order_acquire);
	if (next != NULL) {
		q->head = next;
		return head;
	}
	return NULL;
}

bool
tr_mpsc_nonempty_sc(tr_mpsc *q)
{
	/* seq_cst: the owner half of the parker's Dekker pair (W2), against
	 * the exchange in push. */
	tr_mpsc_node *tail = atomic_load_explicit(&q->tail, memory_order_seq_cst);
	return !(q->head == &q->stub && tail == &q->stub);
}

/* ---- parker ---- */

static long
futex_op(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, ts,
	               NULL, 0);
}

void
tr_parker_init(tr_parker *p)
{
	atomic_init(&p->state, TR_PARK_RUNNING);
	atomic_init(&p->wakes, 0);
}

void
tr_parker_prepare_owner(tr_parker *p)
{
	/* seq_cst: W1, ordered before the re-check's loads; pairs with the
	 * producer's fence + load in tr_parker_wake_any (W4). */
	atomic_store_explicit(&p->state, TR_PARK_PARKED, memory_order_seq_cst);
}

void
tr_parker_cancel_owner(tr_parker *p)
{
	atomic_store_explicit(&p->state, TR_PARK_RUNNING, memory_order_relaxed);
}

void
tr_parker_wait_owner(tr_parker *p, uint32_t timeout_ms)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ms > 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	/* Acquire: pairs with the producer's exchange in wake_any, so what it
	 * published is visible once we see RUNNING. */
	while (atomic_load_explicit(&p->state, memory_order_acquire) == TR_PARK_PARKED) {
		long rc = futex_op(&p->state, FUTEX_WAIT, TR_PARK_PARKED, tsp);
		if (rc != 0 && errno == ETIMEDOUT)
			break;
	}
	atomic_store_explicit(&p->state, TR_PARK_RUNNING, memory_order_relaxed);
}

bool
tr_parker_wake_any(tr_parker *p)
{
	/* W3: the publication before this call must be visible before we read
	 * the state; pairs with the store in tr_parker_prepare_owner. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&p->state, memory_order_relaxed) != TR_PARK_PARKED)
		return false;
	/* acq_rel: only one waker issues the syscall; pairs with the acquire
	 * load in tr_parker_wait_owner. */
	if (atomic_exchange_explicit(&p->state, TR_PARK_RUNNING, memory_order_acq_rel) !=
	    TR_PARK_PARKED)
		return false;
	atomic_fetch_add_explicit(&p->wakes, 1, memory_order_relaxed);
	futex_op(&p->state, FUTEX_WAKE, 1, NULL);
	return true;
}
