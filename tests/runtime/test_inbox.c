/* tests/runtime/test_inbox.c: the runtime's building blocks on their own:
 * SPSC rings with sender-side staging, the Vyukov MPSC queue, the parker's
 * wake protocol (rt_sync.h W1-W5), the slot table and the platform helpers.
 * Sizes are small enough for every sanitizer variant. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "inbox.h"
#include "platform.h"
#include "rt_sync.h"
#include "slots.h"

#define NMSG 200000u

/* ---- SPSC ring + outbox ---- */

typedef struct spsc_ctx {
	tr_xring ring;
	tr_parker park;
	_Atomic uint32_t done;
	uint64_t got;
	bool order_ok;
} spsc_ctx;

static void *
spsc_consumer(void *arg)
{
	spsc_ctx *c = arg;
	tr_xmsg buf[64];
	uint64_t next = 0;

	c->order_ok = true;
	for (uint64_t loop = 0; next < NMSG; loop++) {
		/* Alternate the copying and the in-place consumer: both keep the
		 * order and lose nothing, across the ring's wrap. */
		uint32_t n;
		if (loop & 1) {
			n = tr_xring_drain_sc(&c->ring, buf, 64);
			for (uint32_t i = 0; i < n; i++) {
				if (buf[i].id != next || buf[i].bits != next * 3 ||
				    buf[i].tag != TR_XOP_TEST)
					c->order_ok = false;
				next++;
			}
		} else {
			const tr_xmsg *seg[2];
			uint32_t len[2];
			n = tr_xring_peek_sc(&c->ring, 64, &seg[0], &len[0], &seg[1], &len[1]);
			if (n > 64 || len[0] + len[1] != n)
				c->order_ok = false;
			for (int k = 0; k < 2; k++)
				for (uint32_t i = 0; i < len[k]; i++) {
					if (seg[k][i].id != next || seg[k][i].bits != next * 3 ||
					    seg[k][i].tag != TR_XOP_TEST)
						c->order_ok = false;
					next++;
				}
			if (n > 0)
				tr_xring_release_sc(&c->ring, n);
		}
		if (n == 0) {
			/* W1, W2: announce, re-check, sleep. */
			tr_parker_prepare_owner(&c->park);
			if (tr_xring_nonempty_sc(&c->ring)) {
				tr_parker_cancel_owner(&c->park);
				continue;
			}
			tr_parker_wait_owner(&c->park, 0); /* no timeout: a lost wake hangs */
		}
	}
	c->got = next;
	return NULL;
}

static void
test_spsc_order_and_overflow(void **state)
{
	(void)state;
	spsc_ctx c;
	tr_outbox o;
	pthread_t th;

	memset(&c, 0, sizeof c);
	assert_int_equal(tr_xring_init(&c.ring, 64, NULL), TR_OK);
	tr_parker_init(&c.park);
	tr_outbox_init(&o);
	assert_int_equal(pthread_create(&th, NULL, spsc_consumer, &c), 0);
	uint64_t i = 0;
	uint32_t max_staged = 0;
	while (i < NMSG || o.len > 0) {
		/* Stage bursts larger than the ring: the overflow list holds them. */
		for (uint32_t k = 0; k < 100 && i < NMSG; k++, i++) {
			tr_xmsg m = {.id = i, .bits = i * 3, .tag = TR_XOP_TEST};
			assert_int_equal(tr_outbox_push_owner(&o, &m, NULL), TR_OK);
		}
		if (o.len > max_staged)
			max_staged = o.len;
		if (tr_outbox_flush_sp(&o, &c.ring) > 0)
			tr_parker_wake_any(&c.park); /* W3 */
	}
	pthread_join(th, NULL);
	assert_true(c.order_ok);
	assert_int_equal(c.got, NMSG);
	assert_true(max_staged > 63); /* the ring (63 usable) overflowed */
	assert_true(o.peak >= max_staged);
	tr_outbox_destroy(&o, NULL);
	tr_xring_destroy(&c.ring, NULL);
}

static void
test_spsc_bad_size(void **state)
{
	(void)state;
	tr_xring r;
	assert_int_equal(tr_xring_init(&r, 100, NULL), TR_E_INVALID);
	assert_int_equal(tr_xring_init(&r, 2, NULL), TR_E_INVALID);
}

/* ---- MPSC ---- */

#define NPROD 4u
#define PER_PROD 50000u

typedef struct mnode {
	tr_mpsc_node node;
	uint32_t producer, seq;
} mnode;

typedef struct mpsc_ctx {
	tr_mpsc q;
	tr_parker park;
	mnode *nodes; /* NPROD * PER_PROD */
	_Atomic uint32_t next_prod;
} mpsc_ctx;

static void *
mpsc_producer(void *arg)
{
	mpsc_ctx *c = arg;
	uint32_t p = atomic_fetch_add_explicit(&c->next_prod, 1, memory_order_relaxed);
	for (uint32_t s = 0; s < PER_PROD; s++) {
		mnode *n = &c->nodes[p * PER_PROD + s];
		n->producer = p;
		n->seq = s;
		tr_mpsc_push_mpsc(&c->q, &n->node);
		tr_parker_wake_any(&c->park);
	}
	return NULL;
}

static void
test_mpsc_fifo_per_producer(void **state)
{
	(void)state;
	mpsc_ctx c;
	pthread_t th[NPROD];
	uint32_t next[NPROD] = {0};
	uint32_t total = 0;

	memset(&c, 0, sizeof c);
	tr_mpsc_init(&c.q);
	tr_parker_init(&c.park);
	c.nodes = calloc(NPROD * PER_PROD, sizeof(mnode));
	assert_non_null(c.nodes);
	assert_null(tr_mpsc_pop_sc(&c.q));
	assert_false(tr_mpsc_nonempty_sc(&c.q));
	for (uint32_t i = 0; i < NPROD; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mpsc_producer, &c), 0);
	while (total < NPROD * PER_PROD) {
		tr_mpsc_node *n = tr_mpsc_pop_sc(&c.q);
		if (n == NULL) {
			tr_parker_prepare_owner(&c.park);
			if (tr_mpsc_nonempty_sc(&c.q)) {
				tr_parker_cancel_owner(&c.park);
				continue;
			}
			tr_parker_wait_owner(&c.park, 0);
			continue;
		}
		mnode *m = (mnode *)n;
		assert_true(m->producer < NPROD);
		assert_int_equal(m->seq, next[m->producer]); /* FIFO per producer */
		next[m->producer]++;
		total++;
	}
	for (uint32_t i = 0; i < NPROD; i++)
		pthread_join(th[i], NULL);
	assert_null(tr_mpsc_pop_sc(&c.q));
	assert_false(tr_mpsc_nonempty_sc(&c.q));
	free(c.nodes);
}

/* ---- parker ---- */

typedef struct ping_ctx {
	tr_parker park;
	_Atomic uint32_t flag;
	_Atomic uint32_t acks;
	uint32_t rounds;
} ping_ctx;

static void *
ping_sleeper(void *arg)
{
	ping_ctx *c = arg;
	for (uint32_t r = 0; r < c->rounds; r++) {
		for (;;) {
			if (atomic_load_explicit(&c->flag, memory_order_acquire) == r + 1)
				break;
			tr_parker_prepare_owner(&c->park); /* W1 */
			if (atomic_load_explicit(&c->flag, memory_order_seq_cst) == r + 1) { /* W2 */
				tr_parker_cancel_owner(&c->park);
				break;
			}
			tr_parker_wait_owner(&c->park, 0);
		}
		atomic_fetch_add_explicit(&c->acks, 1, memory_order_release);
	}
	return NULL;
}

/* W4: thousands of publish/wake hand-offs with no timeout: a single lost
 * wake-up hangs the test (ctest's timeout reports it). */
static void
test_parker_no_lost_wakeup(void **state)
{
	(void)state;
	ping_ctx c;
	pthread_t th;

	memset(&c, 0, sizeof c);
	tr_parker_init(&c.park);
	c.rounds = 5000;
	assert_int_equal(pthread_create(&th, NULL, ping_sleeper, &c), 0);
	for (uint32_t r = 0; r < c.rounds; r++) {
		atomic_store_explicit(&c.flag, r + 1, memory_order_seq_cst);
		tr_parker_wake_any(&c.park);
		while (atomic_load_explicit(&c.acks, memory_order_acquire) < r + 1)
			;
	}
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&c.acks), c.rounds);
}

/* W3: a waker that finds the owner running issues no system call; W5: a
 * timed wait returns by itself. */
static void
test_parker_running_no_syscall(void **state)
{
	(void)state;
	tr_parker p;
	tr_parker_init(&p);
	for (int i = 0; i < 1000; i++)
		assert_false(tr_parker_wake_any(&p));
	assert_int_equal(atomic_load(&p.wakes), 0);
	tr_parker_prepare_owner(&p);
	tr_parker_wait_owner(&p, 5);
	assert_int_equal(atomic_load(&p.state), TR_PARK_RUNNING);
}

/* ---- slot table ---- */

static void
test_slots_generations(void **state)
{
	(void)state;
	tr_slot_table t;
	uint32_t idx, gen, idx2, gen2;
	int x, y;

	assert_int_equal(tr_slot_table_init(&t, NULL), TR_OK);
	assert_null(tr_slot_get_any(&t, 0));
	assert_null(tr_slot_get_any(&t, TR_RUNTIME_MAX_SLOTS));
	assert_int_equal(tr_slot_alloc_any(&t, &idx, &gen), TR_OK);
	assert_int_equal(idx, 0);
	assert_int_not_equal(gen, 0);
	tr_slot_publish_any(&t, idx, &x);
	assert_ptr_equal(tr_slot_get_any(&t, idx), &x);
	tr_slot_clear_owner(&t, idx, gen);
	assert_null(tr_slot_get_any(&t, idx));
	assert_int_equal(tr_slot_give_back_owner(&t, &idx, 1), TR_OK);
	assert_int_equal(tr_slot_alloc_any(&t, &idx2, &gen2), TR_OK);
	assert_int_equal(idx2, idx);         /* reused */
	assert_int_equal(gen2, gen + 1);     /* with the next generation */
	/* the generation lives in the slot's word while it is not live: it
	 * goes on counting over many reuses */
	for (uint32_t k = 0; k < 10; k++) {
		tr_slot_publish_any(&t, idx2, &y);
		tr_slot_clear_owner(&t, idx2, gen2);
		assert_int_equal(tr_slot_give_back_owner(&t, &idx2, 1), TR_OK);
		uint32_t g;
		assert_int_equal(tr_slot_alloc_any(&t, &idx2, &g), TR_OK);
		assert_int_equal(idx2, idx);
		assert_int_equal(g, gen2 + 1);
		gen2 = g;
	}
	tr_slot_publish_any(&t, idx2, &y);
	assert_ptr_equal(tr_slot_get_any(&t, idx2), &y);
	/* Crossing segment boundaries allocates segments on demand. */
	for (uint32_t i = 0; i < 2 * TR_SLOT_SEG_SIZE; i++)
		assert_int_equal(tr_slot_alloc_any(&t, &idx, &gen), TR_OK);
	assert_int_equal(idx, 2 * TR_SLOT_SEG_SIZE);
	assert_int_equal(tr_slot_high_any(&t), 2 * TR_SLOT_SEG_SIZE + 1);

	/* Free slots are chained through their pointers (tagged): they read as
	 * empty, come back last-in first-out across segments, and once the
	 * chain is used up allocation goes on with fresh slots. */
	uint32_t back[3] = {5, TR_SLOT_SEG_SIZE + 7, 2 * TR_SLOT_SEG_SIZE};
	for (int k = 0; k < 3; k++) {
		tr_slot_publish_any(&t, back[k], &x);
		tr_slot_clear_owner(&t, back[k], 1); /* fresh slots: generation 1 */
	}
	assert_int_equal(tr_slot_give_back_owner(&t, back, 2), TR_OK);
	assert_int_equal(tr_slot_give_back_owner(&t, &back[2], 1), TR_OK);
	for (int k = 0; k < 3; k++)
		assert_null(tr_slot_get_any(&t, back[k]));
	for (int k = 2; k >= 0; k--) {
		assert_int_equal(tr_slot_alloc_any(&t, &idx, &gen), TR_OK);
		assert_int_equal(idx, back[k]);
		assert_int_equal(gen, 2);
		assert_null(tr_slot_get_any(&t, idx)); /* until published */
		tr_slot_publish_any(&t, idx, &y);
		assert_ptr_equal(tr_slot_get_any(&t, idx), &y);
	}
	assert_int_equal(tr_slot_alloc_any(&t, &idx, &gen), TR_OK);
	assert_int_equal(idx, 2 * TR_SLOT_SEG_SIZE + 1);
	tr_slot_table_destroy(&t);
}

/* ---- platform ---- */

static void
test_platform_affinity_and_alloc(void **state)
{
	(void)state;
	int cpus[1024];
	size_t n = tr_affinity_cpus(cpus, 1024);
	assert_true(n >= 1);
	for (size_t i = 1; i < n; i++)
		assert_true(cpus[i] > cpus[i - 1]);
	assert_int_equal(tr_pin_self(-1), TR_E_INVALID);

	tr_worker_alloc wa;
	assert_int_equal(tr_worker_alloc_init(&wa), TR_OK);
	const tr_allocator *a = &wa.base;
	char *p = a->alloc(a->ctx, 100);
	assert_non_null(p);
	memset(p, 7, 100);
	p = a->realloc(a->ctx, p, 100, 5000);
	assert_non_null(p);
	assert_int_equal(p[99], 7);
	a->free(a->ctx, p, 5000);
	/* Blocks of 1 MiB or more purge the arena when freed or moved: the
	 * contents survive a moving realloc, and the arena stays usable. */
	size_t big = (size_t)2 << 20;
	char *q = a->alloc(a->ctx, big);
	assert_non_null(q);
	memset(q, 9, big);
	char *hold = a->alloc(a->ctx, big); /* likely forces the next move */
	assert_non_null(hold);
	q = a->realloc(a->ctx, q, big, 4 * big);
	assert_non_null(q);
	assert_int_equal(q[0], 9);
	assert_int_equal(q[big - 1], 9);
	a->free(a->ctx, hold, big);
	a->free(a->ctx, q, 4 * big);
	p = a->alloc(a->ctx, 100);
	assert_non_null(p);
	a->free(a->ctx, p, 100);
	tr_worker_alloc_destroy(&wa);
}

static void *
pin_thread(void *arg)
{
	int *cpu = arg;
	if (tr_pin_self(*cpu) != TR_OK)
		*cpu = -2;
	else
		*cpu = tr_pinned_cpu_self();
	return NULL;
}

static void
test_platform_pin(void **state)
{
	(void)state;
	int cpus[1024];
	size_t n = tr_affinity_cpus(cpus, 1024);
	assert_true(n >= 1);
	int want = cpus[n - 1], got = want;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, pin_thread, &got), 0);
	pthread_join(th, NULL);
	assert_int_equal(got, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spsc_order_and_overflow),
		cmocka_unit_test(test_spsc_bad_size),
		cmocka_unit_test(test_mpsc_fifo_per_producer),
		cmocka_unit_test(test_parker_no_lost_wakeup),
		cmocka_unit_test(test_parker_running_no_syscall),
		cmocka_unit_test(test_slots_generations),
		cmocka_unit_test(test_platform_affinity_and_alloc),
		cmocka_unit_test(test_platform_pin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
