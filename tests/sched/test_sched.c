/* tests/sched/test_sched.c: the scheduler's policies (sched/sched.c theory
 * points 1-6): hand-written pick orders per policy, a randomised comparison
 * against a slow reference model, seeded determinism, counters, remove and
 * re-add, aging without starvation, memory per id and no allocation on the
 * hot path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

#define NONE TR_SCHED_NONE

/* ---- a counting allocator that can fail (sched links no core) ---- */

typedef struct count_alloc {
	tr_allocator base;
	size_t calls, live;
	size_t fail_at; /* 0: never; N: the Nth call (alloc or realloc) fails */
} count_alloc;

static void *
ca_alloc(void *ctx, size_t size)
{
	count_alloc *c = ctx;
	if (c->fail_at && ++c->calls == c->fail_at)
		return NULL;
	if (!c->fail_at)
		c->calls++;
	void *p = malloc(size);
	if (p)
		c->live += size;
	return p;
}

static void *
ca_realloc(void *ctx, void *p, size_t old_size, size_t new_size)
{
	count_alloc *c = ctx;
	if (c->fail_at && ++c->calls == c->fail_at)
		return NULL;
	if (!c->fail_at)
		c->calls++;
	void *q = realloc(p, new_size);
	if (q)
		c->live = c->live - old_size + new_size;
	return q;
}

static void
ca_free(void *ctx, void *p, size_t size)
{
	count_alloc *c = ctx;
	if (p)
		c->live -= size;
	free(p);
}

static void
ca_init(count_alloc *c)
{
	memset(c, 0, sizeof *c);
	c->base.alloc = ca_alloc;
	c->base.realloc = ca_realloc;
	c->base.free = ca_free;
	c->base.ctx = c;
}

/* ---- helpers ---- */

static void
add_range(tr_sched *s, uint32_t lo, uint32_t hi)
{
	for (uint32_t i = lo; i < hi; i++)
		assert_int_equal(tr_sched_add(s, i, 0, false), TR_OK);
}

static void
expect_picks(tr_sched *s, const uint32_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t got = tr_sched_pick(s);
		if (got != want[i])
			fail_msg("pick %zu: got %u, want %u", i, got, want[i]);
		if (got != NONE)
			assert_int_equal(tr_sched_state_of(s, got), TR_SCHED_RUNNING);
	}
}

#define EXPECT(s, ...)                                                         \
	do {                                                                       \
		const uint32_t want_[] = {__VA_ARGS__};                                \
		expect_picks((s), want_, sizeof want_ / sizeof want_[0]);              \
	} while (0)

/* ---- scripted orders, one per policy ---- */

static void
test_cooperative_order(void **state)
{
	(void)state;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_COOPERATIVE, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 6);
	EXPECT(&s, NONE); /* everything starts BLOCKED */
	tr_sched_ready(&s, 3);
	tr_sched_ready(&s, 1);
	tr_sched_ready(&s, 4);
	tr_sched_ready(&s, 0);
	tr_sched_ready(&s, 1); /* already READY: keeps its place */
	EXPECT(&s, 3);
	tr_sched_ready(&s, 3); /* RUNNING -> READY: to the back */
	tr_sched_block(&s, 4); /* READY -> BLOCKED leaves the middle */
	EXPECT(&s, 1, 0);
	tr_sched_ready(&s, 4); /* back, behind 3 */
	tr_sched_ready(&s, 5);
	tr_sched_done(&s, 5); /* READY -> DONE leaves the tail */
	tr_sched_ready(&s, 2);
	EXPECT(&s, 3, 4, 2, NONE);
	tr_sched_destroy(&s);
}

static void
test_round_robin_order(void **state)
{
	(void)state;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_ROUND_ROBIN, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 10);
	tr_sched_ready(&s, 7);
	tr_sched_ready(&s, 2);
	tr_sched_ready(&s, 5);
	EXPECT(&s, 2); /* first pick starts at id 0 */
	tr_sched_ready(&s, 2);
	EXPECT(&s, 5, 7, 2); /* after 7 it wraps to 2 */
	tr_sched_ready(&s, 9);
	tr_sched_ready(&s, 0);
	tr_sched_ready(&s, 5);
	tr_sched_ready(&s, 7);
	EXPECT(&s, 5); /* after 2, not after the order of ready calls */
	tr_sched_block(&s, 7);
	EXPECT(&s, 9, 0, NONE);
	tr_sched_ready(&s, 0);
	EXPECT(&s, 0); /* the only ready id, even just after itself */
	tr_sched_destroy(&s);

	/* Far-apart ids cross words and summary levels. */
	assert_int_equal(tr_sched_init(&s, TR_POLICY_ROUND_ROBIN, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 300000);
	tr_sched_ready(&s, 299999);
	tr_sched_ready(&s, 64);
	tr_sched_ready(&s, 4096);
	tr_sched_ready(&s, 262144);
	tr_sched_ready(&s, 63);
	EXPECT(&s, 63, 64, 4096, 262144, 299999, NONE);
	tr_sched_ready(&s, 4096);
	tr_sched_ready(&s, 1);
	EXPECT(&s, 1, 4096); /* after 299999 wrap to 1 */
	tr_sched_destroy(&s);
}

static void
test_priority_order(void **state)
{
	(void)state;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_PRIORITY, 0, 0, NULL), TR_OK);
	/* id: priority */
	assert_int_equal(tr_sched_add(&s, 0, 1, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 1, 5, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 2, 3, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 3, 5, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 4, 1, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 5, UINT32_MAX, false), TR_OK);
	for (uint32_t i = 0; i < 6; i++)
		tr_sched_ready(&s, 5 - i); /* 5 4 3 2 1 0 */
	EXPECT(&s, 5, 3, 1, 2);
	tr_sched_ready(&s, 3);
	tr_sched_ready(&s, 2);
	EXPECT(&s, 3, 2, 4, 0, NONE);
	tr_sched_destroy(&s);
}

static void
test_priority_aging_order(void **state)
{
	(void)state;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_PRIORITY, 0, 2, NULL), TR_OK);
	assert_int_equal(tr_sched_add(&s, 0, 10, false), TR_OK); /* A */
	assert_int_equal(tr_sched_add(&s, 1, 10, false), TR_OK); /* B */
	assert_int_equal(tr_sched_add(&s, 2, 1, false), TR_OK);  /* L, lowest */
	assert_int_equal(tr_sched_add(&s, 3, 5, false), TR_OK);  /* M, middle */
	tr_sched_ready(&s, 2); /* L waits longest */
	tr_sched_ready(&s, 0);
	tr_sched_ready(&s, 1);
	tr_sched_ready(&s, 3);
	EXPECT(&s, 0); /* overtake 1 */
	tr_sched_ready(&s, 0);
	EXPECT(&s, 1); /* overtake 2 */
	tr_sched_ready(&s, 1);
	EXPECT(&s, 2); /* aged: L is older than M although M ranks higher */
	EXPECT(&s, 0, 1, 3, NONE); /* only M is lower: two overtakes, then M */
	tr_sched_destroy(&s);
}

/* Up to TR_SCHED_MAX_LEVELS_ distinct priorities at once; a level no id
 * uses any more is reused; one more is TR_E_INVALID. */
static void
test_priority_many_levels(void **state)
{
	(void)state;
	tr_sched s;
	const uint32_t L = TR_SCHED_MAX_LEVELS_;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_PRIORITY, 0, 0, NULL), TR_OK);
	for (uint32_t i = 0; i < L; i++)
		assert_int_equal(tr_sched_add(&s, i, i * 3, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, L, 1, false), TR_E_INVALID);
	assert_int_equal(tr_sched_state_of(&s, L), TR_SCHED_FREE);
	assert_int_equal(tr_sched_add(&s, L, 3, false), TR_OK); /* an existing level */
	tr_sched_remove(&s, 10);                                /* frees level 30 */
	assert_int_equal(tr_sched_add(&s, L + 1, 1, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, L + 2, 2, false), TR_E_INVALID);
	for (uint32_t i = 0; i < L + 2; i++)
		if (i != 10)
			tr_sched_ready(&s, i);
	/* highest priority first; equal priorities (1 and L both 3) in FIFO */
	EXPECT(&s, L - 1, L - 2);
	for (uint32_t k = 0; k < L - 5; k++) /* ids L-3 .. 2 but 10 */
		assert_int_not_equal(tr_sched_pick(&s), NONE);
	EXPECT(&s, 1, L, L + 1, 0, NONE);
	tr_sched_destroy(&s);
}

static void
test_progress_aware_order(void **state)
{
	(void)state;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_PROGRESS_AWARE, 0, 0, NULL), TR_OK);
	assert_int_equal(tr_sched_add(&s, 0, 0, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 1, 0, true), TR_OK);
	assert_int_equal(tr_sched_add(&s, 2, 0, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 3, 0, true), TR_OK);
	tr_sched_ready(&s, 0);
	tr_sched_ready(&s, 2);
	tr_sched_ready(&s, 3);
	tr_sched_ready(&s, 1);
	EXPECT(&s, 3);
	tr_sched_ready(&s, 3);
	EXPECT(&s, 1, 3, 0);
	tr_sched_ready(&s, 1);
	EXPECT(&s, 1, 2, NONE);
	tr_sched_destroy(&s);
}

/* ---- a slow reference model, compared op by op ---- */

typedef struct ref {
	tr_policy policy;
	uint32_t aging, overtakes, cursor;
	uint64_t clock;
	uint32_t n;
	uint8_t *state;
	uint32_t *prio;
	bool *token;
	uint64_t *stamp;
	uint64_t *wstamp; /* WOKEN: wake order; senders' get 2^62 less */
} ref;

/* admit: the WOKEN become READY, senders first, each in wake order */
static void
ref_admit(ref *r)
{
	for (;;) {
		uint32_t best = NONE;
		for (uint32_t i = 0; i < r->n; i++)
			if (r->state[i] == TR_SCHED_WOKEN && (best == NONE || r->wstamp[i] < r->wstamp[best]))
				best = i;
		if (best == NONE)
			return;
		r->state[best] = TR_SCHED_READY;
		r->stamp[best] = r->clock++;
	}
}

static uint32_t
ref_best(const ref *r, bool (*ok)(const ref *, uint32_t, uint32_t), uint32_t arg)
{
	uint32_t best = NONE;
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->state[i] != TR_SCHED_READY || !ok(r, i, arg))
			continue;
		if (best == NONE || r->stamp[i] < r->stamp[best])
			best = i;
	}
	return best;
}

static bool any_ok(const ref *r, uint32_t i, uint32_t a) { (void)r; (void)i; (void)a; return true; }
static bool token_ok(const ref *r, uint32_t i, uint32_t a) { (void)a; return r->token[i]; }
static bool prio_eq(const ref *r, uint32_t i, uint32_t a) { return r->prio[i] == a; }
static bool prio_lt(const ref *r, uint32_t i, uint32_t a) { return r->prio[i] < a; }

static uint32_t
ref_pick(ref *r)
{
	uint32_t id = NONE;
	switch (r->policy) {
	case TR_POLICY_COOPERATIVE:
		id = ref_best(r, any_ok, 0);
		break;
	case TR_POLICY_PROGRESS_AWARE:
		id = ref_best(r, token_ok, 0);
		if (id == NONE)
			id = ref_best(r, any_ok, 0);
		break;
	case TR_POLICY_ROUND_ROBIN:
		for (uint32_t k = 1; k <= r->n && id == NONE; k++) {
			uint32_t i = r->cursor == NONE ? k - 1 : (uint32_t)((r->cursor + k) % r->n);
			if (r->state[i] == TR_SCHED_READY)
				id = i;
		}
		if (id != NONE)
			r->cursor = id;
		break;
	case TR_POLICY_PRIORITY: {
		bool anyr = false;
		uint32_t top = 0;
		for (uint32_t i = 0; i < r->n; i++)
			if (r->state[i] == TR_SCHED_READY && (!anyr || r->prio[i] > top)) {
				top = r->prio[i];
				anyr = true;
			}
		if (!anyr)
			break;
		id = ref_best(r, prio_eq, top);
		if (r->aging) {
			uint32_t low = ref_best(r, prio_lt, top);
			if (low == NONE)
				r->overtakes = 0;
			else if (r->overtakes >= r->aging) {
				r->overtakes = 0;
				id = low;
			} else
				r->overtakes++;
		}
		break;
	}
	default:
		break;
	}
	if (id != NONE)
		r->state[id] = TR_SCHED_RUNNING;
	return id;
}

static void
model_run(tr_policy policy, uint32_t aging, uint64_t seed, uint32_t nprio)
{
	enum { N = 200, OPS = 200000 };
	tr_sched s;
	ref r = {policy, aging, 0, NONE, 0, N, calloc(N, 1), calloc(N, 4), calloc(N, 1), calloc(N, 8),
	         calloc(N, 8)};
	uint64_t wclock = 1;
	assert_non_null(r.state);
	assert_int_equal(tr_sched_init(&s, policy, seed, aging, NULL), TR_OK);
	uint64_t x = seed * 2654435761u + 1;
	for (int op = 0; op < OPS; op++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint32_t id = (uint32_t)(x >> 40) % N;
		uint32_t what = (uint32_t)(x >> 8) % 20;
		uint8_t st = r.state[id];
		if (what >= 16) {
			if (what < 19) {
				bool sender = (x >> 33) & 1;
				/* the caller vouches for BLOCKED (sched.h) */
				if (st == TR_SCHED_BLOCKED) {
					r.state[id] = TR_SCHED_WOKEN;
					r.wstamp[id] = wclock++ + (sender ? 0 : (uint64_t)1 << 62);
					tr_sched_wake(&s, id, sender);
				}
			} else if ((x >> 34) & 1) {
				ref_admit(&r);
				tr_sched_admit(&s);
			} else {
				/* admit_pick is admit then pick */
				ref_admit(&r);
				uint32_t want = ref_pick(&r), got = tr_sched_admit_pick(&s);
				if (got != want)
					fail_msg("%s op %d: admit_pick %u, model %u", tr_policy_name(policy),
					         op, got, want);
			}
		} else if (what < 5) {
			if (st == TR_SCHED_BLOCKED || st == TR_SCHED_RUNNING || st == TR_SCHED_WOKEN) {
				r.state[id] = TR_SCHED_READY;
				r.stamp[id] = r.clock++;
			}
			if (st != TR_SCHED_FREE && st != TR_SCHED_DONE)
				tr_sched_ready(&s, id);
		} else if (what < 10) {
			uint32_t got = tr_sched_pick(&s), want = ref_pick(&r);
			if (got != want)
				fail_msg("%s op %d: pick %u, model %u", tr_policy_name(policy), op, got, want);
		} else if (what < 12) {
			if (st == TR_SCHED_READY || st == TR_SCHED_RUNNING || st == TR_SCHED_WOKEN)
				r.state[id] = TR_SCHED_BLOCKED;
			tr_sched_block(&s, id);
		} else if (what < 13) {
			if (st != TR_SCHED_FREE)
				r.state[id] = TR_SCHED_DONE;
			tr_sched_done(&s, id);
		} else if (what < 14) {
			r.state[id] = TR_SCHED_FREE;
			tr_sched_remove(&s, id);
		} else {
			uint32_t prio = (uint32_t)(x >> 20) % nprio * 7919u;
			bool tok = (x >> 30) & 1;
			tr_status want = st == TR_SCHED_FREE ? TR_OK : TR_E_INVALID;
			assert_int_equal(tr_sched_add(&s, id, prio, tok), want);
			if (want == TR_OK) {
				r.state[id] = TR_SCHED_BLOCKED;
				r.prio[id] = prio;
				r.token[id] = tok;
			}
		}
		assert_int_equal(tr_sched_state_of(&s, id), r.state[id]);
	}
	uint32_t nr = 0, nb = 0, nl = 0, nw = 0;
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(tr_sched_state_of(&s, i), r.state[i]);
		nr += r.state[i] == TR_SCHED_READY;
		nw += r.state[i] == TR_SCHED_WOKEN;
		nb += r.state[i] == TR_SCHED_BLOCKED || r.state[i] == TR_SCHED_WOKEN;
		nl += r.state[i] == TR_SCHED_READY || r.state[i] == TR_SCHED_BLOCKED ||
		      r.state[i] == TR_SCHED_RUNNING || r.state[i] == TR_SCHED_WOKEN;
	}
	assert_int_equal(tr_sched_nready(&s), nr);
	assert_int_equal(tr_sched_nwoken(&s), nw);
	assert_int_equal(tr_sched_nblocked(&s), nb);
	assert_int_equal(tr_sched_nlive(&s), nl);
	/* what is still WOKEN comes out in the model's order */
	ref_admit(&r);
	tr_sched_admit(&s);
	for (;;) {
		uint32_t got = tr_sched_pick(&s), want = ref_pick(&r);
		if (got != want)
			fail_msg("%s final drain: pick %u, model %u", tr_policy_name(policy), got, want);
		if (got == NONE)
			break;
		tr_sched_done(&s, got);
	}
	tr_sched_destroy(&s);
	free(r.state);
	free(r.prio);
	free(r.token);
	free(r.stamp);
	free(r.wstamp);
}

static void
test_against_model(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		model_run(TR_POLICY_COOPERATIVE, 0, seed, 4);
		model_run(TR_POLICY_ROUND_ROBIN, 0, seed, 4);
		model_run(TR_POLICY_PRIORITY, 0, seed, 4);
		model_run(TR_POLICY_PRIORITY, 1, seed, 4);
		model_run(TR_POLICY_PRIORITY, 3, seed, 4);
		/* many levels: more than one bitmap word of positions */
		model_run(TR_POLICY_PRIORITY, 0, seed, 150);
		model_run(TR_POLICY_PRIORITY, 2, seed, 150);
		model_run(TR_POLICY_PROGRESS_AWARE, 0, seed, 4);
	}
}

/* ---- seeded ---- */

static void
seeded_order(uint64_t seed, uint32_t n, uint32_t *out)
{
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_SEEDED, seed, 0, NULL), TR_OK);
	add_range(&s, 0, n);
	for (uint32_t i = 0; i < n; i++)
		tr_sched_ready(&s, i);
	/* Mix in re-readies and blocks so that swap-remove paths are exercised. */
	for (uint32_t i = 0; i < n; i++) {
		out[i] = tr_sched_pick(&s);
		assert_int_not_equal(out[i], NONE);
		if (i % 3 == 0) {
			tr_sched_ready(&s, out[i]);
			tr_sched_block(&s, out[i]);
		}
		tr_sched_done(&s, out[i]);
	}
	assert_int_equal(tr_sched_pick(&s), NONE);
	assert_int_equal(tr_sched_nlive(&s), 0);
	tr_sched_destroy(&s);
}

static void
test_seeded_determinism(void **state)
{
	(void)state;
	enum { N = 1000 };
	uint32_t *a = malloc(N * 4), *b = malloc(N * 4), *c = malloc(N * 4);
	bool *seen = calloc(N, 1);
	assert_true(a && b && c && seen);
	seeded_order(42, N, a);
	seeded_order(42, N, b);
	assert_memory_equal(a, b, N * 4);
	for (uint32_t i = 0; i < N; i++) {
		assert_true(a[i] < N);
		assert_false(seen[a[i]]);
		seen[a[i]] = true;
	}
	/* not the identity order, and every other seed differs from seed 42 */
	uint32_t fixed = 0;
	for (uint32_t i = 0; i < N; i++)
		fixed += a[i] == i;
	assert_true(fixed < N / 10);
	for (uint64_t seed = 0; seed < 20; seed++) {
		if (seed == 42)
			continue;
		seeded_order(seed, N, c);
		assert_memory_not_equal(a, c, N * 4);
	}
	free(a);
	free(b);
	free(c);
	free(seen);

	/* The first pick among 10 is uniform over the seeds: each id about 1000
	 * times in 10,000 seeds (a biased scaling would leave some at 0). */
	uint32_t hits[10] = {0};
	for (uint64_t seed = 0; seed < 10000; seed++) {
		tr_sched s;
		assert_int_equal(tr_sched_init(&s, TR_POLICY_SEEDED, seed, 0, NULL), TR_OK);
		add_range(&s, 0, 10);
		for (uint32_t i = 0; i < 10; i++)
			tr_sched_ready(&s, i);
		uint32_t id = tr_sched_pick(&s);
		assert_true(id < 10);
		hits[id]++;
		tr_sched_destroy(&s);
	}
	for (uint32_t i = 0; i < 10; i++)
		if (hits[i] < 850 || hits[i] > 1150)
			fail_msg("id %u picked first %u times in 10000", i, hits[i]);
}

/* ---- counters, remove and re-add ---- */

static void
test_counts(void **state)
{
	(void)state;
	for (int p = 0; p < TR_POLICY_COUNT_; p++) {
		tr_sched s;
		assert_int_equal(tr_sched_init(&s, (tr_policy)p, 7, 2, NULL), TR_OK);
		add_range(&s, 0, 10);
		assert_int_equal(tr_sched_nblocked(&s), 10);
		assert_int_equal(tr_sched_nready(&s), 0);
		assert_int_equal(tr_sched_nlive(&s), 10);
		for (uint32_t i = 0; i < 6; i++)
			tr_sched_ready(&s, i);
		assert_int_equal(tr_sched_nready(&s), 6);
		assert_int_equal(tr_sched_nblocked(&s), 4);
		uint32_t x = tr_sched_pick(&s);
		assert_true(x < 6);
		assert_int_equal(tr_sched_nready(&s), 5);
		assert_int_equal(tr_sched_nblocked(&s), 4);
		assert_int_equal(tr_sched_nlive(&s), 10); /* running counts as live */
		tr_sched_done(&s, x);
		assert_int_equal(tr_sched_nlive(&s), 9);
		assert_int_equal(tr_sched_state_of(&s, x), TR_SCHED_DONE);
		tr_sched_done(&s, x); /* idempotent */
		tr_sched_block(&s, x); /* ignored on DONE */
		assert_int_equal(tr_sched_state_of(&s, x), TR_SCHED_DONE);
		assert_int_equal(tr_sched_add(&s, x, 0, false), TR_E_INVALID);
		tr_sched_remove(&s, x);
		assert_int_equal(tr_sched_state_of(&s, x), TR_SCHED_FREE);
		assert_int_equal(tr_sched_nlive(&s), 9);
		uint32_t y = x == 0 ? 1 : 0; /* a READY one */
		tr_sched_remove(&s, y);
		assert_int_equal(tr_sched_nready(&s), 4);
		assert_int_equal(tr_sched_nlive(&s), 8);
		tr_sched_remove(&s, 9); /* a BLOCKED one */
		assert_int_equal(tr_sched_nblocked(&s), 3);
		tr_sched_remove(&s, 9);  /* twice: no-op */
		tr_sched_remove(&s, 5000); /* never added: no-op */
		assert_int_equal(tr_sched_state_of(&s, 5000), TR_SCHED_FREE);
		assert_int_equal(tr_sched_nlive(&s), 7);
		/* drain: the 4 READY come out, never a removed one */
		for (int k = 0; k < 4; k++) {
			uint32_t z = tr_sched_pick(&s);
			assert_true(z < 6 && z != x && z != y);
			tr_sched_block(&s, z);
		}
		assert_int_equal(tr_sched_pick(&s), NONE);
		assert_int_equal(tr_sched_nblocked(&s), 7);
		assert_int_equal(tr_sched_add(&s, NONE, 0, false), TR_E_INVALID);
		assert_int_equal(tr_sched_add(&s, 3, 0, false), TR_E_INVALID);
		tr_sched_destroy(&s);
		tr_sched_destroy(&s); /* twice: harmless */
	}
}

static void
test_remove_readd(void **state)
{
	(void)state;
	tr_sched s;
	/* cooperative: a removed READY id is re-added and queues at the back */
	assert_int_equal(tr_sched_init(&s, TR_POLICY_COOPERATIVE, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 4);
	for (uint32_t i = 0; i < 4; i++)
		tr_sched_ready(&s, i);
	tr_sched_remove(&s, 1);
	assert_int_equal(tr_sched_add(&s, 1, 0, false), TR_OK);
	assert_int_equal(tr_sched_state_of(&s, 1), TR_SCHED_BLOCKED);
	tr_sched_ready(&s, 1);
	tr_sched_remove(&s, 3);
	EXPECT(&s, 0, 2, 1, NONE);
	tr_sched_destroy(&s);

	/* priority: re-added with another priority moves level */
	assert_int_equal(tr_sched_init(&s, TR_POLICY_PRIORITY, 0, 0, NULL), TR_OK);
	assert_int_equal(tr_sched_add(&s, 0, 1, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 1, 2, false), TR_OK);
	tr_sched_ready(&s, 0);
	tr_sched_ready(&s, 1);
	tr_sched_remove(&s, 0);
	assert_int_equal(tr_sched_add(&s, 0, 3, false), TR_OK);
	tr_sched_ready(&s, 0);
	EXPECT(&s, 0, 1, NONE);
	tr_sched_destroy(&s);

	/* progress_aware: re-added with a token jumps ahead */
	assert_int_equal(tr_sched_init(&s, TR_POLICY_PROGRESS_AWARE, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 3);
	for (uint32_t i = 0; i < 3; i++)
		tr_sched_ready(&s, i);
	tr_sched_remove(&s, 2);
	assert_int_equal(tr_sched_add(&s, 2, 0, true), TR_OK);
	tr_sched_ready(&s, 2);
	EXPECT(&s, 2, 0, 1, NONE);
	tr_sched_destroy(&s);

	/* round_robin and seeded: removed ids never come out */
	for (int p = TR_POLICY_ROUND_ROBIN; p <= TR_POLICY_SEEDED; p += TR_POLICY_SEEDED - TR_POLICY_ROUND_ROBIN) {
		assert_int_equal(tr_sched_init(&s, (tr_policy)p, 9, 0, NULL), TR_OK);
		add_range(&s, 0, 100);
		for (uint32_t i = 0; i < 100; i++)
			tr_sched_ready(&s, i);
		for (uint32_t i = 0; i < 100; i += 2)
			tr_sched_remove(&s, i);
		uint32_t got = 0, id;
		while ((id = tr_sched_pick(&s)) != NONE) {
			assert_int_equal(id % 2, 1);
			got++;
		}
		assert_int_equal(got, 50);
		tr_sched_destroy(&s);
	}
}

/* ---- aging: nothing starves ---- */

static uint32_t
low_picks(uint32_t aging, uint32_t rounds)
{
	tr_sched s;
	uint32_t low = 0;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_PRIORITY, 0, aging, NULL), TR_OK);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(tr_sched_add(&s, i, 100, false), TR_OK);
	assert_int_equal(tr_sched_add(&s, 10, 0, false), TR_OK);
	for (uint32_t i = 0; i <= 10; i++)
		tr_sched_ready(&s, i);
	uint32_t gap = 0, max_gap = 0;
	for (uint32_t r = 0; r < rounds; r++) {
		uint32_t id = tr_sched_pick(&s);
		assert_int_not_equal(id, NONE);
		if (id == 10) {
			low++;
			gap = 0;
		} else if (++gap > max_gap)
			max_gap = gap;
		tr_sched_ready(&s, id); /* everyone always wants to run */
	}
	if (aging)
		assert_true(max_gap <= aging); /* theory point 3: at most A overtakes */
	tr_sched_destroy(&s);
	return low;
}

static void
test_aging_no_starvation(void **state)
{
	(void)state;
	assert_int_equal(low_picks(0, 10000), 0); /* strict priority starves it */
	assert_int_equal(low_picks(5, 6000), 1000); /* one pick in six */
	assert_int_equal(low_picks(1, 1000), 500);
}

/* ---- memory and allocation ---- */

static void
test_million_ids(void **state)
{
	(void)state;
	enum { N = 1000000 };
	for (int p = 0; p < TR_POLICY_COUNT_; p++) {
		count_alloc ca;
		ca_init(&ca);
		tr_sched s;
		assert_int_equal(tr_sched_init(&s, (tr_policy)p, 1, p == TR_POLICY_PRIORITY ? 8 : 0,
		                               &ca.base), TR_OK);
		for (uint32_t i = 0; i < N; i++)
			assert_int_equal(tr_sched_add(&s, i, i % 3, i % 2), TR_OK);
		size_t bytes = tr_sched_bytes(&s);
		/* seeded: 17 a slot (dense, pos, st, and link for the wake FIFOs),
		 * slots rounded up to a power of two */
		if ((double)bytes / N > 18.0)
			fail_msg("%s: %.2f bytes per id", tr_policy_name((tr_policy)p), (double)bytes / N);
		assert_true(bytes <= ca.live); /* what it reports is what it holds */
		assert_true(ca.live - bytes < 4096);
		/* the hot path allocates nothing */
		size_t calls = ca.calls;
		for (uint32_t i = 0; i < N; i++)
			tr_sched_ready(&s, i);
		assert_int_equal(tr_sched_nready(&s), N);
		for (uint32_t i = 0; i < N; i++) {
			uint32_t id = tr_sched_pick(&s);
			assert_true(id < N);
			if (p == TR_POLICY_COOPERATIVE || p == TR_POLICY_ROUND_ROBIN)
				assert_int_equal(id, i);
			if (i % 2)
				tr_sched_block(&s, id);
			else
				tr_sched_done(&s, id);
		}
		assert_int_equal(tr_sched_pick(&s), NONE);
		assert_int_equal(ca.calls, calls);
		assert_int_equal(tr_sched_nblocked(&s), N / 2);
		tr_sched_destroy(&s);
		assert_int_equal(ca.live, 0);
	}
}

static void
test_nomem(void **state)
{
	(void)state;
	for (int p = 0; p < TR_POLICY_COUNT_; p++) {
		/* fail each allocation in turn: add reports TR_E_NOMEM and the
		 * scheduler stays usable and leak-free */
		for (size_t k = 1; k < 12; k++) {
			count_alloc ca;
			ca_init(&ca);
			ca.fail_at = k;
			tr_sched s;
			tr_status st = tr_sched_init(&s, (tr_policy)p, 0, 1, &ca.base);
			if (st != TR_OK) {
				assert_int_equal(st, TR_E_NOMEM);
				assert_int_equal(ca.live, 0);
				continue;
			}
			bool failed = false;
			for (uint32_t i = 0; i < 200; i++) {
				st = tr_sched_add(&s, i, i % 2, false);
				if (st != TR_OK) {
					assert_int_equal(st, TR_E_NOMEM);
					assert_int_equal(tr_sched_state_of(&s, i), TR_SCHED_FREE);
					failed = true;
					assert_int_equal(tr_sched_add(&s, i, i % 2, false), TR_OK);
				}
				tr_sched_ready(&s, i);
			}
			assert_int_equal(tr_sched_nready(&s), 200);
			(void)failed;
			tr_sched_destroy(&s);
			assert_int_equal(ca.live, 0);
		}
	}
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_COUNT_, 0, 0, NULL), TR_E_INVALID);
	tr_sched_destroy(&s);
}

static void
test_policy_names(void **state)
{
	(void)state;
	for (int p = 0; p < TR_POLICY_COUNT_; p++) {
		tr_policy q = TR_POLICY_COUNT_;
		assert_int_equal(tr_policy_parse(tr_policy_name((tr_policy)p), &q), TR_OK);
		assert_int_equal(q, p);
	}
	assert_string_equal(tr_policy_name(TR_POLICY_ROUND_ROBIN), "round_robin");
	assert_string_equal(tr_policy_name(TR_POLICY_PROGRESS_AWARE), "progress_aware");
	assert_string_equal(tr_policy_name(TR_POLICY_COUNT_), "?");
	tr_policy q;
	assert_int_equal(tr_policy_parse("fifo", &q), TR_E_INVALID);
	assert_int_equal(tr_policy_parse("", &q), TR_E_INVALID);
	assert_int_equal(tr_policy_parse("Seeded", &q), TR_E_INVALID);
	assert_int_equal(tr_policy_parse(NULL, &q), TR_E_INVALID);
}

/* The policies other than cooperative: none hands off or switches (its
 * pick may not be the woken coroutine). */
static const tr_policy other_policies[] = {TR_POLICY_ROUND_ROBIN, TR_POLICY_PRIORITY,
                                           TR_POLICY_PROGRESS_AWARE, TR_POLICY_SEEDED};

/* admit_pick: the first woken runs, the others are ready behind it, under
 * the cooperative fast path (nothing ready, receivers only) and otherwise;
 * states and counts as admit then pick. */
static void
test_admit_pick(void **state)
{
	(void)state;
	uint32_t (*ap)(tr_sched *) = &tr_sched_admit_pick;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_COOPERATIVE, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 6);
	assert_int_equal(tr_sched_admit_pick(&s), NONE); /* nothing woken or ready */
	tr_sched_wake(&s, 4, false);
	tr_sched_wake(&s, 1, false);
	tr_sched_wake(&s, 3, false);
	assert_int_equal(tr_sched_admit_pick(&s), 4);
	assert_int_equal(tr_sched_state_of(&s, 4), TR_SCHED_RUNNING);
	assert_int_equal(tr_sched_state_of(&s, 1), TR_SCHED_READY);
	assert_int_equal(tr_sched_nready(&s), 2);
	assert_int_equal(tr_sched_nwoken(&s), 0);
	assert_int_equal(tr_sched_nblocked(&s), 3);
	tr_sched_wake(&s, 0, false); /* one woken, one ready: the ready one first */
	assert_int_equal(ap(&s), 1);
	tr_sched_wake(&s, 5, true); /* a sender: the general path */
	EXPECT(&s, 3, 0);
	assert_int_equal(ap(&s), 5);
	tr_sched_wake(&s, 2, false); /* a single receiver, nothing ready */
	assert_int_equal(ap(&s), 2);
	assert_int_equal(tr_sched_nready(&s), 0);
	assert_int_equal(tr_sched_nlive(&s), 6);
	assert_int_equal(tr_sched_nblocked(&s), 0);
	EXPECT(&s, NONE);
	tr_sched_destroy(&s);
}

/* Wake and admit: admit is tr_sched_ready for each woken id, senders'
 * FIFO first, each in wake order, under every policy; leaving early (ready,
 * block, done, remove) takes an id off its FIFO; states and counts. */
static void
test_wake_admit(void **state)
{
	(void)state;
	void (*wk)(tr_sched *, uint32_t, bool) = &tr_sched_wake;
	void (*admit)(tr_sched *) = &tr_sched_admit;
	uint32_t (*nwoken)(const tr_sched *) = &tr_sched_nwoken;
	for (int p = 0; p < TR_POLICY_COUNT_; p++) {
		tr_sched a, b; /* a: wake and admit; b: ready in admit's order */
		assert_int_equal(tr_sched_init(&a, (tr_policy)p, 5, 2, NULL), TR_OK);
		assert_int_equal(tr_sched_init(&b, (tr_policy)p, 5, 2, NULL), TR_OK);
		add_range(&a, 0, 12);
		add_range(&b, 0, 12);
		tr_sched_ready(&a, 11); /* ready before the wake-ups: stays first */
		tr_sched_ready(&b, 11);
		tr_sched_wake(&a, 3, false);
		tr_sched_wake(&a, 7, true);
		wk(&a, 1, false);
		tr_sched_wake(&a, 9, true);
		tr_sched_wake(&a, 5, false);
		tr_sched_wake(&a, 2, true);
		tr_sched_wake(&a, 4, false);
		tr_sched_wake(&a, 6, false);
		assert_int_equal(tr_sched_state_of(&a, 3), TR_SCHED_WOKEN);
		assert_int_equal(nwoken(&a), 8);
		assert_int_equal(tr_sched_nready(&a), 1);
		assert_int_equal(tr_sched_nblocked(&a), 11); /* woken count as blocked */
		assert_int_equal(tr_sched_nlive(&a), 12);
		/* leave early: 9 made ready (joins the queue now), 5 blocked
		 * again, 2 done, 4 removed (head, middle and tail of FIFOs) */
		tr_sched_ready(&a, 9);
		tr_sched_ready(&b, 9);
		tr_sched_block(&a, 5);
		assert_int_equal(tr_sched_state_of(&a, 5), TR_SCHED_BLOCKED);
		tr_sched_done(&a, 2);
		tr_sched_done(&b, 2);
		tr_sched_remove(&a, 4);
		tr_sched_remove(&b, 4);
		assert_int_equal(nwoken(&a), 4);
		assert_int_equal(tr_sched_pick(&a) == NONE, false); /* 11 or 9: woken are not ready */
		admit(&a);
		assert_int_equal(nwoken(&a), 0);
		tr_sched_admit(&a); /* nothing woken: no-op */
		/* b: the same picks after ready(7), then the receivers 3, 1, 6 */
		uint32_t first = tr_sched_pick(&b);
		tr_sched_ready(&b, 7);
		tr_sched_ready(&b, 3);
		tr_sched_ready(&b, 1);
		tr_sched_ready(&b, 6);
		(void)first;
		for (;;) {
			uint32_t x = tr_sched_pick(&a), y = tr_sched_pick(&b);
			if (x != y)
				fail_msg("%s: admit picked %u, ready in order %u", tr_policy_name((tr_policy)p), x, y);
			if (x == NONE)
				break;
			tr_sched_done(&a, x);
			tr_sched_done(&b, x);
		}
		assert_int_equal(tr_sched_nlive(&a), tr_sched_nlive(&b));
		tr_sched_destroy(&a);
		tr_sched_destroy(&b);
	}
}

/* Hand-off: BLOCKED -> RUNNING only when ready-then-pick would give the
 * same; otherwise nothing changes. */
static void
test_handoff(void **state)
{
	(void)state;
	bool (*handoff)(tr_sched *, uint32_t) = &tr_sched_handoff;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_COOPERATIVE, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 4);
	assert_true(tr_sched_handoff(&s, 2));
	assert_int_equal(tr_sched_state_of(&s, 2), TR_SCHED_RUNNING);
	assert_int_equal(tr_sched_nblocked(&s), 3);
	assert_int_equal(tr_sched_nready(&s), 0);
	assert_false(tr_sched_handoff(&s, 2)); /* RUNNING, not BLOCKED */
	assert_false(handoff(&s, 99));         /* never added */
	tr_sched_ready(&s, 1);
	assert_false(tr_sched_handoff(&s, 3)); /* 1 is ready: pick would give 1 */
	assert_int_equal(tr_sched_state_of(&s, 3), TR_SCHED_BLOCKED);
	EXPECT(&s, 1, NONE);
	tr_sched_done(&s, 0);
	assert_false(tr_sched_handoff(&s, 0)); /* DONE */
	tr_sched_block(&s, 2);
	assert_true(handoff(&s, 3));
	tr_sched_ready(&s, 2);
	EXPECT(&s, 2, NONE); /* 3 runs; 2 queued behind nothing */
	assert_int_equal(tr_sched_nlive(&s), 3);
	tr_sched_destroy(&s);
	for (size_t i = 0; i < sizeof other_policies / sizeof other_policies[0]; i++) {
		assert_int_equal(tr_sched_init(&s, other_policies[i], 1, 0, NULL), TR_OK);
		add_range(&s, 0, 2);
		assert_false(tr_sched_handoff(&s, 1));
		assert_int_equal(tr_sched_state_of(&s, 1), TR_SCHED_BLOCKED);
		tr_sched_destroy(&s);
	}
}

/* Switch: block `from` and hand off to `to` in one step, only when block
 * then hand-off would do exactly that; otherwise nothing changes. */
static void
test_switch(void **state)
{
	(void)state;
	bool (*sw)(tr_sched *, uint32_t, uint32_t) = &tr_sched_switch;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_COOPERATIVE, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 4);
	tr_sched_ready(&s, 0);
	assert_int_equal(tr_sched_pick(&s), 0);
	assert_true(tr_sched_switch(&s, 0, 2));
	assert_int_equal(tr_sched_state_of(&s, 0), TR_SCHED_BLOCKED);
	assert_int_equal(tr_sched_state_of(&s, 2), TR_SCHED_RUNNING);
	assert_int_equal(tr_sched_nblocked(&s), 3);
	assert_int_equal(tr_sched_nlive(&s), 4);
	assert_true(sw(&s, 2, 0));
	tr_sched_ready(&s, 3);
	assert_false(tr_sched_switch(&s, 0, 1)); /* 3 is ready: pick gives 3 */
	assert_int_equal(tr_sched_state_of(&s, 0), TR_SCHED_RUNNING);
	assert_int_equal(tr_sched_state_of(&s, 1), TR_SCHED_BLOCKED);
	tr_sched_block(&s, 0);
	EXPECT(&s, 3, NONE);
	/* the TOKEN bit stays with its id */
	tr_sched_done(&s, 3);
	assert_int_equal(tr_sched_add(&s, 9, 0, true), TR_OK);
	tr_sched_ready(&s, 9);
	assert_int_equal(tr_sched_pick(&s), 9);
	assert_true(sw(&s, 9, 1));
	assert_int_equal(tr_sched_state_of(&s, 9), TR_SCHED_BLOCKED);
	assert_int_equal(tr_sched_state_of(&s, 1), TR_SCHED_RUNNING);
	assert_true(sw(&s, 1, 9));
	assert_int_equal(tr_sched_state_of(&s, 9), TR_SCHED_RUNNING);
	assert_true(s.st[9] & TR_SCHED_TOKEN_);
	assert_false(s.st[1] & TR_SCHED_TOKEN_);
	tr_sched_block(&s, 9);
	assert_int_equal(tr_sched_nblocked(&s), 4);
	tr_sched_destroy(&s);
	for (size_t i = 0; i < sizeof other_policies / sizeof other_policies[0]; i++) {
		assert_int_equal(tr_sched_init(&s, other_policies[i], 1, 0, NULL), TR_OK);
		add_range(&s, 0, 2);
		tr_sched_ready(&s, 0);
		assert_int_equal(tr_sched_pick(&s), 0);
		assert_false(tr_sched_switch(&s, 0, 1));
		assert_int_equal(tr_sched_state_of(&s, 0), TR_SCHED_RUNNING);
		tr_sched_destroy(&s);
	}
}

/* The addressable functions behave as the inline macros. */
static void
test_function_pointers(void **state)
{
	(void)state;
	void (*ready)(tr_sched *, uint32_t) = &tr_sched_ready;
	uint32_t (*pick)(tr_sched *) = &tr_sched_pick;
	void (*block)(tr_sched *, uint32_t) = &tr_sched_block;
	void (*done)(tr_sched *, uint32_t) = &tr_sched_done;
	void (*park)(tr_sched *, uint32_t) = &tr_sched_park;
	tr_sched s;
	assert_int_equal(tr_sched_init(&s, TR_POLICY_COOPERATIVE, 0, 0, NULL), TR_OK);
	add_range(&s, 0, 3);
	ready(&s, 2);
	ready(&s, 0);
	assert_int_equal(pick(&s), 2);
	block(&s, 2);
	assert_int_equal(pick(&s), 0);
	done(&s, 0);
	assert_int_equal(pick(&s), NONE);
	assert_int_equal(tr_sched_nblocked(&s), 2);
	assert_int_equal(tr_sched_nlive(&s), 2);
	tr_sched_destroy(&s);
	/* park is block from RUNNING, under every policy; the TOKEN bit stays */
	for (int p = 0; p < TR_POLICY_COUNT_; p++) {
		assert_int_equal(tr_sched_init(&s, (tr_policy)p, 1, 0, NULL), TR_OK);
		assert_int_equal(tr_sched_add(&s, 0, 0, true), TR_OK);
		assert_int_equal(tr_sched_add(&s, 1, 0, false), TR_OK);
		ready(&s, 0);
		ready(&s, 1);
		uint32_t a = pick(&s), b = pick(&s);
		assert_true((a == 0 && b == 1) || (a == 1 && b == 0));
		tr_sched_park(&s, a);
		park(&s, b);
		assert_int_equal(tr_sched_state_of(&s, 0), TR_SCHED_BLOCKED);
		assert_int_equal(tr_sched_state_of(&s, 1), TR_SCHED_BLOCKED);
		assert_true(s.st[0] & TR_SCHED_TOKEN_);
		assert_int_equal(tr_sched_nblocked(&s), 2);
		assert_int_equal(tr_sched_nready(&s), 0);
		assert_int_equal(tr_sched_nlive(&s), 2);
		ready(&s, 1);
		assert_int_equal(pick(&s), 1); /* still queued correctly after park */
		tr_sched_destroy(&s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cooperative_order),
		cmocka_unit_test(test_round_robin_order),
		cmocka_unit_test(test_priority_order),
		cmocka_unit_test(test_priority_aging_order),
		cmocka_unit_test(test_priority_many_levels),
		cmocka_unit_test(test_progress_aware_order),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_seeded_determinism),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_remove_readd),
		cmocka_unit_test(test_aging_no_starvation),
		cmocka_unit_test(test_million_ids),
		cmocka_unit_test(test_nomem),
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_function_pointers),
		cmocka_unit_test(test_handoff),
		cmocka_unit_test(test_wake_admit),
		cmocka_unit_test(test_admit_pick),
		cmocka_unit_test(test_switch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
