/* sched/sched.c: ready/blocked bookkeeping and the five scheduling policies
 * (docs/DESIGN.md §4.3). It does not know bytecode, sessions or buffers, and
 * it never allocates outside init and add.
 *
 * Theory of operation
 *
 * 1. States. Every id slot holds one tr_sched_state in st[id]; n[] counts
 *    ids per state, so the counters are O(1). Only READY ids are in the
 *    policy's ready structure; RUNNING ids (picked, not yet re-marked) are in
 *    none, which is why RUNNING -> BLOCKED/DONE is a plain store (inline).
 *
 * 2. FIFO levels (cooperative, progress_aware, priority). Ready ids sit in
 *    intrusive doubly linked lists, one per level, threaded through link[].
 *    Removing a READY id that blocks, ends or is removed unlinks it exactly,
 *    so an id is in at most one list once, the order is exactly the order of
 *    tr_sched_ready calls, and nothing can overflow. (A ring with lazy
 *    deletion was the alternative; it needs stale-entry bookkeeping and
 *    compaction and costs as much memory.)
 *    - cooperative: one level; pick = its head.
 *    - progress_aware: level 0 holds the ids registered with a progress
 *      token, level 1 the others; pick = head of level 0, else of level 1.
 *      That is "the first ready coroutine (FIFO) that holds a token, else the
 *      first ready one", since without ready holders every ready id is in
 *      level 1.
 *    - priority: one level per distinct priority value (created by add,
 *      reused once empty), kept in `order` by decreasing priority; pick =
 *      head of the highest level with a ready id, found through a bitmap
 *      over positions in `order` of the levels that have ready ids (the
 *      round_robin bitmap of point 4), so that many distinct priorities
 *      cost O(log64 levels) per pick; adding a level rebuilds it.
 *
 * 3. Aging (priority with aging = A > 0). While some ready id waits at a
 *    level below the highest ready level, count the picks that went to the
 *    highest level ("overtakes"). When A overtakes have happened, the next
 *    pick goes instead to the longest-waiting ready id below the highest
 *    level (the smallest ready stamp among the heads of the lower levels:
 *    each level is FIFO, so its head is its oldest) and the count restarts.
 *    When nothing lower waits, the count is reset. So a ready id of a lower
 *    level is overtaken at most A times in a row, and ids below the top are
 *    served oldest first: nothing starves. Stamps are 32-bit and compared
 *    with serial arithmetic: exact while the waiters' stamps lie within
 *    2^31 ready calls of each other.
 *
 * 4. round_robin: a hierarchical bitmap of READY ids (level k+1 has a bit
 *    per non-zero word of level k, up to one word at the top). Pick = the
 *    first set bit after `cursor` (the last id picked), wrapping to 0:
 *    O(log64 cap).
 *
 * 5. seeded: ready ids packed in dense[0..nready) with pos[id] their index;
 *    leaving READY swap-removes. Pick = dense[splitmix64() scaled to
 *    nready]. dense's order depends only on the call sequence, never on
 *    addresses, so the same seed and calls give the same picks.
 *
 * 6. Wake FIFOs (tr_sched_wake, tr_sched_admit). A WOKEN id sits on one of
 *    two FIFOs threaded through link[] (the WSEND bit of st says which), so
 *    that leaving it early (ready, block, done, remove) is exact, as for
 *    the levels. admit under the cooperative policy splices both onto the
 *    one level (sched_impl.h); under the others it walks them and enqueues
 *    each id as tr_sched_ready would. Every policy keeps link[] for this.
 *
 * 7. Storage. Slots grow by doubling in add (new arrays allocated first and
 *    the old ones freed only when all succeeded, so a failed add changes
 *    nothing); everything else works in place. */
#include <stdlib.h>
#include <string.h>

#include "sched.h"

/* ---- allocation ---- */

static void *
s_alloc(tr_sched *s, size_t size)
{
	return size ? s->a->alloc(s->a->ctx, size) : NULL;
}

static void
s_free(tr_sched *s, void *p, size_t size)
{
	if (p)
		s->a->free(s->a->ctx, p, size);
}

void
tr_sched_assert_fail_(const char *expr, const char *file, int line)
{
	(void)expr;
	(void)file;
	(void)line;
	abort();
}

/* ---- state helpers ---- */

static inline uint32_t
state_of(const tr_sched *s, uint32_t id)
{
	return s->st[id] & TR_SCHED_STATE_MASK_;
}

static inline void
set_state(tr_sched *s, uint32_t id, uint32_t to)
{
	s->n[state_of(s, id)]--;
	s->n[to]++;
	s->st[id] = (uint8_t)((s->st[id] & ~TR_SCHED_STATE_MASK_) | to);
}

static inline uint32_t
level_of(const tr_sched *s, uint32_t id)
{
	switch (s->policy) {
	case TR_POLICY_PRIORITY:
		return s->lvof[id];
	case TR_POLICY_PROGRESS_AWARE:
		return (s->st[id] & TR_SCHED_TOKEN_) ? 0 : 1;
	default:
		return 0;
	}
}

/* Serial-number order: a was stamped before b. */
static inline bool
stamp_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static void *grow_copy(tr_sched *s, const void *old, size_t n_old, size_t n_new, size_t item);

/* ---- hierarchical bitmap (point 4) ---- */

static void
bm_set(tr_sched *s, uint32_t id)
{
	uint64_t x = id;
	for (uint32_t k = 0; k < s->nbm; k++) {
		uint64_t *w = &s->bm[k][x >> 6];
		uint64_t was = *w;
		*w = was | ((uint64_t)1 << (x & 63));
		if (was)
			return; /* the levels above already have this word's bit */
		x >>= 6;
	}
}

static void
bm_clear(tr_sched *s, uint32_t id)
{
	uint64_t x = id;
	for (uint32_t k = 0; k < s->nbm; k++) {
		uint64_t *w = &s->bm[k][x >> 6];
		*w &= ~((uint64_t)1 << (x & 63));
		if (*w)
			return;
		x >>= 6;
	}
}

/* First set bit with index >= pos at level k, or TR_SCHED_NONE. */
static uint32_t
bm_next_up(const tr_sched *s, uint32_t k, uint64_t pos)
{
	uint64_t w = pos >> 6;
	if (w >= s->bmw[k])
		return TR_SCHED_NONE;
	uint64_t bits = s->bm[k][w] & (~(uint64_t)0 << (pos & 63));
	if (!bits) {
		if (k + 1 >= s->nbm)
			return TR_SCHED_NONE; /* the top level is one word */
		uint32_t up = bm_next_up(s, k + 1, w + 1);
		if (up == TR_SCHED_NONE)
			return TR_SCHED_NONE;
		w = up;
		bits = s->bm[k][w];
	}
	return (uint32_t)((w << 6) + (uint64_t)__builtin_ctzll(bits));
}

/* The same at level 0, with the common case (a set bit in pos's own word)
 * inlined into the pick paths. */
static inline uint32_t
bm_next(const tr_sched *s, uint32_t k, uint64_t pos)
{
	uint64_t w = pos >> 6;
	if (k == 0 && w < s->bmw[0]) {
		uint64_t bits = s->bm[0][w] & (~(uint64_t)0 << (pos & 63));
		if (bits)
			return (uint32_t)((w << 6) + (uint64_t)__builtin_ctzll(bits));
	}
	return bm_next_up(s, k, pos);
}

/* A zeroed bitmap hierarchy for nbits bits into bm/bmw/nbm, levels copied
 * from nothing; the caller fills it. TR_E_NOMEM frees what it took. */
static tr_status
bm_alloc(tr_sched *s, uint64_t nbits, uint64_t **bm, uint32_t *bmw, uint32_t *nbm)
{
	uint64_t words = (nbits + 63) / 64;
	*nbm = 0;
	for (;;) {
		bmw[*nbm] = (uint32_t)words;
		bm[*nbm] = grow_copy(s, NULL, 0, words, sizeof(uint64_t));
		if (!bm[*nbm])
			goto fail;
		(*nbm)++;
		if (words == 1)
			return TR_OK;
		words = (words + 63) / 64;
	}
fail:
	for (uint32_t k = 0; k < *nbm; k++)
		s_free(s, bm[k], (size_t)bmw[k] * sizeof(uint64_t));
	*nbm = 0;
	return TR_E_NOMEM;
}

static void
bm_free(tr_sched *s)
{
	for (uint32_t k = 0; k < s->nbm; k++)
		s_free(s, s->bm[k], (size_t)s->bmw[k] * sizeof(uint64_t));
	s->nbm = 0;
}

/* ---- FIFO levels (point 2) ---- */

/* Priority keeps a bitmap over positions in `order` of the levels that
 * have ready ids, so that pick finds the top in O(log64 levels). */
static void
list_push(tr_sched *s, uint32_t lvi, uint32_t id)
{
	tr_sched_level *l = &s->lv[lvi];
	if (l->nready == 0 && s->lvpos)
		bm_set(s, s->lvpos[lvi]);
	s->link[id].next = TR_SCHED_NONE;
	s->link[id].prev = l->tail;
	if (l->tail == TR_SCHED_NONE)
		l->head = id;
	else
		s->link[l->tail].next = id;
	l->tail = id;
	l->nready++;
}

static void
list_unlink(tr_sched *s, uint32_t lvi, uint32_t id)
{
	tr_sched_level *l = &s->lv[lvi];
	/* The head's prev is unspecified (pick does not write it: that store
	 * would miss the cache once per round), so the head is recognised by
	 * l->head, never by its prev. */
	uint32_t nx = s->link[id].next, pv = s->link[id].prev;
	bool was_head = l->head == id;
	if (was_head)
		l->head = nx;
	else
		s->link[pv].next = nx;
	if (nx == TR_SCHED_NONE)
		l->tail = was_head ? TR_SCHED_NONE : pv;
	else if (!was_head)
		s->link[nx].prev = pv;
	if (--l->nready == 0 && s->lvpos)
		bm_clear(s, s->lvpos[lvi]);
}

static void
level_reset(tr_sched_level *l, uint32_t prio)
{
	l->head = l->tail = TR_SCHED_NONE;
	l->nready = 0;
	l->nreg = 0;
	l->prio = prio;
}

/* ---- seeded (point 5) ---- */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* i is pos[id]; pick passes it directly and saves a cache miss on pos. */
static void
dense_remove_at(tr_sched *s, uint32_t i)
{
	uint32_t last = s->dense[s->n[TR_SCHED_READY] - 1];
	s->dense[i] = last;
	s->pos[last] = i;
}

/* ---- entering and leaving the ready structure ---- */

/* Call before set_state(READY): dense uses n[READY] as its length. */
static void
enready(tr_sched *s, uint32_t id)
{
	switch (s->policy) {
	case TR_POLICY_ROUND_ROBIN:
		bm_set(s, id);
		break;
	case TR_POLICY_SEEDED:
		s->pos[id] = s->n[TR_SCHED_READY];
		s->dense[s->n[TR_SCHED_READY]] = id;
		break;
	default:
		if (s->stamp)
			s->stamp[id] = s->clock++;
		list_push(s, level_of(s, id), id);
		break;
	}
}

/* Call before set_state(away from READY). */
static void
unready(tr_sched *s, uint32_t id)
{
	switch (s->policy) {
	case TR_POLICY_ROUND_ROBIN:
		bm_clear(s, id);
		break;
	case TR_POLICY_SEEDED:
		dense_remove_at(s, s->pos[id]);
		break;
	default:
		list_unlink(s, level_of(s, id), id);
		break;
	}
}

/* ---- wake FIFOs (point 6) ---- */

/* Take WOKEN id off its FIFO (its state is the caller's to change). */
static void
fifo_unlink(tr_sched *s, uint32_t id)
{
	tr_sched_fifo *f = &s->wk[(s->st[id] & TR_SCHED_WSEND_) != 0];
	uint32_t nx = s->link[id].next, pv = s->link[id].prev;
	if (f->head == id)
		f->head = nx;
	else
		s->link[pv].next = nx;
	if (f->tail == id)
		f->tail = f->head == TR_SCHED_NONE ? TR_SCHED_NONE : pv;
	else
		s->link[nx].prev = pv;
	s->st[id] &= (uint8_t)~TR_SCHED_WSEND_;
}

/* Leave whatever queue id is on (READY or WOKEN) before a state change. */
static void
leave_queue(tr_sched *s, uint32_t id, uint32_t k)
{
	if (k == TR_SCHED_READY)
		unready(s, id);
	else if (k == TR_SCHED_WOKEN)
		fifo_unlink(s, id);
}

/* ---- storage (point 7) ---- */

static size_t
per_id_bytes(const tr_sched *s)
{
	size_t b = 1 + sizeof(tr_sched_link); /* st, link (levels, wake FIFOs) */
	if (s->policy == TR_POLICY_PRIORITY)
		b += sizeof(uint16_t);
	if (s->policy == TR_POLICY_PRIORITY && s->aging)
		b += sizeof(uint32_t);
	if (s->policy == TR_POLICY_SEEDED)
		b += 2 * sizeof(uint32_t);
	return b;
}

/* A copy of old (n_old items) in a new array of n_new items, zero beyond. */
static void *
grow_copy(tr_sched *s, const void *old, size_t n_old, size_t n_new, size_t item)
{
	void *p = s_alloc(s, n_new * item);
	if (p) {
		if (n_old)
			memcpy(p, old, n_old * item);
		memset((char *)p + n_old * item, 0, (n_new - n_old) * item);
	}
	return p;
}

static tr_status
grow(tr_sched *s, uint32_t need)
{
	uint64_t nc = s->cap ? s->cap : 64;
	while (nc < need)
		nc *= 2;
	if (nc > UINT32_MAX)
		nc = UINT32_MAX; /* ids stop below TR_SCHED_NONE */
	uint32_t cap = (uint32_t)nc;
	bool prio = s->policy == TR_POLICY_PRIORITY;
	bool seeded = s->policy == TR_POLICY_SEEDED;
	bool rr = s->policy == TR_POLICY_ROUND_ROBIN;

	uint8_t *st = NULL;
	tr_sched_link *link = NULL;
	uint16_t *lvof = NULL;
	uint32_t *stamp = NULL, *dense = NULL, *pos = NULL;
	uint64_t *bm[TR_SCHED_BM_LEVELS_] = {0};
	uint32_t bmw[TR_SCHED_BM_LEVELS_] = {0}, nbm = 0;

	st = grow_copy(s, s->st, s->cap, cap, 1);
	if (!st)
		goto fail;
	if (!(link = grow_copy(s, s->link, s->cap, cap, sizeof *link)))
		goto fail;
	if (prio && !(lvof = grow_copy(s, s->lvof, s->cap, cap, sizeof *lvof)))
		goto fail;
	if (prio && s->aging && !(stamp = grow_copy(s, s->stamp, s->cap, cap, sizeof *stamp)))
		goto fail;
	if (seeded && !(dense = grow_copy(s, s->dense, s->cap, cap, sizeof *dense)))
		goto fail;
	if (seeded && !(pos = grow_copy(s, s->pos, s->cap, cap, sizeof *pos)))
		goto fail;
	if (rr) {
		if (bm_alloc(s, cap, bm, bmw, &nbm) != TR_OK)
			goto fail;
		if (s->nbm)
			memcpy(bm[0], s->bm[0], (size_t)s->bmw[0] * sizeof(uint64_t));
		/* rebuild the summaries from level 0 */
		for (uint32_t k = 0; k + 1 < nbm; k++)
			for (uint32_t w = 0; w < bmw[k]; w++)
				if (bm[k][w])
					bm[k + 1][w >> 6] |= (uint64_t)1 << (w & 63);
	}

	s_free(s, s->st, s->cap);
	s_free(s, s->link, (size_t)s->cap * sizeof *link);
	s_free(s, s->lvof, (size_t)s->cap * sizeof *lvof);
	s_free(s, s->stamp, (size_t)s->cap * sizeof *stamp);
	s_free(s, s->dense, (size_t)s->cap * sizeof *dense);
	s_free(s, s->pos, (size_t)s->cap * sizeof *pos);
	if (rr)
		bm_free(s);
	s->st = st;
	s->link = link;
	s->lvof = lvof;
	s->stamp = stamp;
	s->dense = dense;
	s->pos = pos;
	if (rr) {
		memcpy(s->bm, bm, sizeof bm);
		memcpy(s->bmw, bmw, sizeof bmw);
		s->nbm = nbm;
	}
	s->cap = cap;
	return TR_OK;

fail:
	s_free(s, st, cap);
	s_free(s, link, (size_t)cap * sizeof *link);
	s_free(s, lvof, (size_t)cap * sizeof *lvof);
	s_free(s, stamp, (size_t)cap * sizeof *stamp);
	s_free(s, dense, (size_t)cap * sizeof *dense);
	s_free(s, pos, (size_t)cap * sizeof *pos);
	for (uint32_t k = 0; k < nbm; k++)
		s_free(s, bm[k], (size_t)bmw[k] * sizeof(uint64_t));
	return TR_E_NOMEM;
}

/* Index in `order` of the first level whose priority is <= prio. */
static uint32_t
order_find(const tr_sched *s, uint32_t prio)
{
	uint32_t lo = 0, hi = s->nlv;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->lv[s->order[mid]].prio > prio)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
order_insert(tr_sched *s, uint32_t at, uint16_t lvi)
{
	memmove(&s->order[at + 1], &s->order[at], (size_t)(s->nlv - at) * sizeof *s->order);
	s->order[at] = lvi;
}

/* Positions in `order` changed (a level was added): rebuild lvpos and the
 * bitmap of levels with ready ids. Only add gets here. */
static void
order_reindex(tr_sched *s)
{
	for (uint32_t k = 0; k < s->nbm; k++)
		memset(s->bm[k], 0, (size_t)s->bmw[k] * sizeof(uint64_t));
	for (uint32_t i = 0; i < s->nlv; i++) {
		s->lvpos[s->order[i]] = (uint16_t)i;
		if (s->lv[s->order[i]].nready)
			bm_set(s, i);
	}
}

/* The level for priority value prio, created (or an empty one reused) when
 * none has it. */
static tr_status
priority_level(tr_sched *s, uint32_t prio, uint32_t *out)
{
	uint32_t at = order_find(s, prio);
	if (at < s->nlv && s->lv[s->order[at]].prio == prio) {
		*out = s->order[at];
		return TR_OK;
	}
	if (s->nlv == s->lvcap && s->lvcap < TR_SCHED_MAX_LEVELS_) {
		uint32_t nc = s->lvcap ? s->lvcap * 2 : 8;
		if (nc > TR_SCHED_MAX_LEVELS_)
			nc = TR_SCHED_MAX_LEVELS_;
		uint64_t *bm[TR_SCHED_BM_LEVELS_] = {0};
		uint32_t bmw[TR_SCHED_BM_LEVELS_] = {0}, nbm = 0;
		tr_sched_level *lv = grow_copy(s, s->lv, s->nlv, nc, sizeof *lv);
		uint16_t *order = grow_copy(s, s->order, s->nlv, nc, sizeof *order);
		uint16_t *lvpos = grow_copy(s, NULL, 0, nc, sizeof *lvpos);
		if (!lv || !order || !lvpos || bm_alloc(s, nc, bm, bmw, &nbm) != TR_OK) {
			s_free(s, lv, nc * sizeof *lv);
			s_free(s, order, nc * sizeof *order);
			s_free(s, lvpos, nc * sizeof *lvpos);
			return TR_E_NOMEM;
		}
		s_free(s, s->lv, s->lvcap * sizeof *lv);
		s_free(s, s->order, s->lvcap * sizeof *order);
		s_free(s, s->lvpos, s->lvcap * sizeof *lvpos);
		bm_free(s);
		s->lv = lv;
		s->order = order;
		s->lvpos = lvpos;
		memcpy(s->bm, bm, sizeof bm);
		memcpy(s->bmw, bmw, sizeof bmw);
		s->nbm = nbm;
		s->lvcap = nc;
		order_reindex(s);
	}
	if (s->nlv < s->lvcap) {
		uint16_t lvi = (uint16_t)s->nlv;
		level_reset(&s->lv[lvi], prio);
		order_insert(s, at, lvi);
		s->nlv++;
		order_reindex(s);
		*out = lvi;
		return TR_OK;
	}
	/* All level slots taken: reuse one no id is registered at. */
	for (uint32_t i = 0; i < s->nlv; i++) {
		uint16_t lvi = s->order[i];
		if (s->lv[lvi].nreg)
			continue;
		memmove(&s->order[i], &s->order[i + 1], (size_t)(s->nlv - i - 1) * sizeof *s->order);
		s->nlv--;
		level_reset(&s->lv[lvi], prio);
		order_insert(s, order_find(s, prio), lvi);
		s->nlv++;
		order_reindex(s);
		*out = lvi;
		return TR_OK;
	}
	return TR_E_INVALID;
}

/* ---- public ---- */

tr_status
tr_sched_init(tr_sched *s, tr_policy policy, uint64_t seed, uint32_t aging,
              const tr_allocator *a)
{
	memset(s, 0, sizeof *s);
	if ((unsigned)policy >= TR_POLICY_COUNT_)
		return TR_E_INVALID;
	s->a = a ? a : tr_allocator_default();
	s->policy = (uint8_t)policy;
	s->rng = seed;
	s->cursor = TR_SCHED_NONE;
	s->wk[0].head = s->wk[0].tail = s->wk[1].head = s->wk[1].tail = TR_SCHED_NONE;
	s->aging = policy == TR_POLICY_PRIORITY ? aging : 0;
	uint32_t fixed = policy == TR_POLICY_COOPERATIVE ? 1
	               : policy == TR_POLICY_PROGRESS_AWARE ? 2 : 0;
	if (fixed) {
		s->lv = s_alloc(s, fixed * sizeof *s->lv);
		s->order = s_alloc(s, fixed * sizeof *s->order);
		if (!s->lv || !s->order) {
			s_free(s, s->lv, fixed * sizeof *s->lv);
			s_free(s, s->order, fixed * sizeof *s->order);
			s->lv = NULL;
			s->order = NULL;
			return TR_E_NOMEM;
		}
		for (uint32_t i = 0; i < fixed; i++) {
			level_reset(&s->lv[i], fixed - 1 - i);
			s->order[i] = (uint16_t)i;
		}
		s->nlv = s->lvcap = fixed;
	}
	return TR_OK;
}

void
tr_sched_destroy(tr_sched *s)
{
	if (!s->a)
		return;
	s_free(s, s->st, s->cap);
	s_free(s, s->link, (size_t)s->cap * sizeof *s->link);
	s_free(s, s->lvof, (size_t)s->cap * sizeof *s->lvof);
	s_free(s, s->stamp, (size_t)s->cap * sizeof *s->stamp);
	s_free(s, s->dense, (size_t)s->cap * sizeof *s->dense);
	s_free(s, s->pos, (size_t)s->cap * sizeof *s->pos);
	bm_free(s);
	s_free(s, s->lvpos, s->lvcap * sizeof *s->lvpos);
	s_free(s, s->lv, s->lvcap * sizeof *s->lv);
	s_free(s, s->order, s->lvcap * sizeof *s->order);
	memset(s, 0, sizeof *s);
}

/* TR_E_INVALID also when priority needs a 4,097th distinct level while
 * every level has ids registered (TR_SCHED_MAX_LEVELS_). A failed add leaves s as it was (it may
 * have grown its storage). */
tr_status
tr_sched_add(tr_sched *s, uint32_t id, uint32_t priority, bool token)
{
	if (id == TR_SCHED_NONE)
		return TR_E_INVALID;
	if (id < s->cap && state_of(s, id) != TR_SCHED_FREE)
		return TR_E_INVALID;
	uint32_t lvi = 0;
	if (s->policy == TR_POLICY_PRIORITY) {
		tr_status st = priority_level(s, priority, &lvi);
		if (st != TR_OK)
			return st;
	}
	if (id >= s->cap) {
		tr_status st = grow(s, id + 1);
		if (st != TR_OK)
			return st;
	}
	s->st[id] = (uint8_t)(TR_SCHED_BLOCKED | (token ? TR_SCHED_TOKEN_ : 0));
	s->n[TR_SCHED_BLOCKED]++;
	if (s->policy == TR_POLICY_PRIORITY) {
		s->lvof[id] = (uint16_t)lvi;
		s->lv[lvi].nreg++;
	}
	return TR_OK;
}

tr_status
tr_sched_reserve(tr_sched *s, uint32_t n)
{
	return n <= s->cap ? TR_OK : grow(s, n);
}

void
tr_sched_remove(tr_sched *s, uint32_t id)
{
	if (id >= s->cap)
		return;
	uint32_t k = state_of(s, id);
	if (k == TR_SCHED_FREE)
		return;
	leave_queue(s, id, k);
	s->n[k]--;
	if (s->policy == TR_POLICY_PRIORITY)
		s->lv[s->lvof[id]].nreg--;
	s->st[id] = TR_SCHED_FREE;
}

void
tr_sched_ready_slow_(tr_sched *s, uint32_t id)
{
	TR_SCHED_ASSERT_(id < s->cap);
	if (id >= s->cap)
		return;
	uint32_t k = state_of(s, id);
	TR_SCHED_ASSERT_(k != TR_SCHED_FREE && k != TR_SCHED_DONE);
	if (k != TR_SCHED_BLOCKED && k != TR_SCHED_RUNNING && k != TR_SCHED_WOKEN)
		return;
	leave_queue(s, id, k);
	enready(s, id);
	set_state(s, id, TR_SCHED_READY);
}

void
tr_sched_block_slow_(tr_sched *s, uint32_t id)
{
	if (id >= s->cap)
		return;
	uint32_t k = state_of(s, id);
	if (k != TR_SCHED_RUNNING && k != TR_SCHED_READY && k != TR_SCHED_WOKEN)
		return;
	leave_queue(s, id, k);
	set_state(s, id, TR_SCHED_BLOCKED);
}

void
tr_sched_done_slow_(tr_sched *s, uint32_t id)
{
	if (id >= s->cap)
		return;
	uint32_t k = state_of(s, id);
	if (k == TR_SCHED_FREE || k == TR_SCHED_DONE)
		return;
	leave_queue(s, id, k);
	set_state(s, id, TR_SCHED_DONE);
}

/* Point 3: the head of the lower level that has waited longest, or NONE. */
static uint32_t
oldest_below(const tr_sched *s, uint32_t top)
{
	uint32_t best = TR_SCHED_NONE;
	for (uint32_t i = bm_next(s, 0, (uint64_t)top + 1); i != TR_SCHED_NONE;
	     i = bm_next(s, 0, (uint64_t)i + 1)) {
		const tr_sched_level *l = &s->lv[s->order[i]];
		if (best == TR_SCHED_NONE || stamp_before(s->stamp[l->head], s->stamp[best]))
			best = l->head;
	}
	return best;
}

static uint32_t
pick_lists(tr_sched *s)
{
	uint32_t top = 0;
	if (s->lvpos) {
		top = bm_next(s, 0, 0);
		if (top == TR_SCHED_NONE)
			return TR_SCHED_NONE;
	} else {
		while (top < s->nlv && s->lv[s->order[top]].nready == 0)
			top++;
		if (top == s->nlv)
			return TR_SCHED_NONE;
	}
	uint32_t lvi = s->order[top];
	uint32_t id = s->lv[lvi].head;
	if (s->aging) {
		uint32_t old = oldest_below(s, top);
		if (old == TR_SCHED_NONE) {
			s->overtakes = 0;
		} else if (s->overtakes >= s->aging) {
			s->overtakes = 0;
			id = old;
			lvi = s->lvof[id];
		} else {
			s->overtakes++;
		}
	}
	list_unlink(s, lvi, id);
	return id;
}

uint32_t
tr_sched_pick_slow_(tr_sched *s)
{
	uint32_t id;
	if (s->n[TR_SCHED_READY] == 0)
		return TR_SCHED_NONE;
	switch (s->policy) {
	case TR_POLICY_ROUND_ROBIN: {
		uint64_t from = s->cursor == TR_SCHED_NONE ? 0 : (uint64_t)s->cursor + 1;
		id = bm_next(s, 0, from);
		if (id == TR_SCHED_NONE && from)
			id = bm_next(s, 0, 0);
		if (id == TR_SCHED_NONE)
			return TR_SCHED_NONE;
		bm_clear(s, id);
		s->cursor = id;
		break;
	}
	case TR_POLICY_SEEDED: {
		uint64_t r = splitmix64(&s->rng);
		/* Lemire's multiply-shift: unbiased enough, and no division */
		uint32_t i = (uint32_t)(((r >> 32) * (uint64_t)s->n[TR_SCHED_READY]) >> 32);
		id = s->dense[i];
		dense_remove_at(s, i);
		break;
	}
	default:
		id = pick_lists(s);
		if (id == TR_SCHED_NONE)
			return TR_SCHED_NONE;
		break;
	}
	set_state(s, id, TR_SCHED_RUNNING);
	return id;
}

/* Every policy but cooperative (sched_impl.h splices): each WOKEN id, the
 * senders' FIFO first, enqueued as tr_sched_ready would. */
void
tr_sched_admit_slow_(tr_sched *s)
{
	for (int k = 1; k >= 0; k--) {
		uint32_t id = s->wk[k].head;
		s->wk[k].head = s->wk[k].tail = TR_SCHED_NONE;
		while (id != TR_SCHED_NONE) {
			uint32_t next = s->link[id].next; /* enready may relink id */
			s->st[id] &= (uint8_t)~TR_SCHED_WSEND_;
			enready(s, id);
			set_state(s, id, TR_SCHED_READY);
			id = next;
		}
	}
}

/* The addressable definitions behind the macros of sched_impl.h. */
void
(tr_sched_ready)(tr_sched *s, uint32_t id)
{
	tr_sched_ready_inl_(s, id);
}

void
(tr_sched_block)(tr_sched *s, uint32_t id)
{
	tr_sched_block_inl_(s, id);
}

void
(tr_sched_park)(tr_sched *s, uint32_t id)
{
	tr_sched_park_inl_(s, id);
}

void
(tr_sched_done)(tr_sched *s, uint32_t id)
{
	tr_sched_done_inl_(s, id);
}

uint32_t
(tr_sched_pick)(tr_sched *s)
{
	return tr_sched_pick_inl_(s);
}

bool
(tr_sched_handoff)(tr_sched *s, uint32_t id)
{
	return tr_sched_handoff_inl_(s, id);
}

void
(tr_sched_wake)(tr_sched *s, uint32_t id, bool sender)
{
	tr_sched_wake_inl_(s, id, sender);
}

void
(tr_sched_admit)(tr_sched *s)
{
	tr_sched_admit_inl_(s);
}

uint32_t
(tr_sched_admit_pick)(tr_sched *s)
{
	return tr_sched_admit_pick_inl_(s);
}

uint32_t
(tr_sched_nwoken)(const tr_sched *s)
{
	return s->n[TR_SCHED_WOKEN];
}

bool
(tr_sched_switch)(tr_sched *s, uint32_t from, uint32_t to)
{
	return tr_sched_switch_inl_(s, from, to);
}

tr_sched_state
tr_sched_state_of(const tr_sched *s, uint32_t id)
{
	if (id >= s->cap)
		return TR_SCHED_FREE;
	return (tr_sched_state)state_of(s, id);
}

uint32_t
(tr_sched_nready)(const tr_sched *s)
{
	return s->n[TR_SCHED_READY];
}

uint32_t
tr_sched_nblocked(const tr_sched *s)
{
	return s->n[TR_SCHED_BLOCKED] + s->n[TR_SCHED_WOKEN];
}

uint32_t
tr_sched_nlive(const tr_sched *s)
{
	return s->n[TR_SCHED_BLOCKED] + s->n[TR_SCHED_WOKEN] + s->n[TR_SCHED_READY] +
	       s->n[TR_SCHED_RUNNING];
}

size_t
tr_sched_bytes(const tr_sched *s)
{
	size_t b = (size_t)s->cap * per_id_bytes(s);
	for (uint32_t k = 0; k < s->nbm; k++)
		b += (size_t)s->bmw[k] * sizeof(uint64_t);
	b += (size_t)s->lvcap * (sizeof(tr_sched_level) + sizeof(uint16_t));
	if (s->lvpos)
		b += (size_t)s->lvcap * sizeof(uint16_t);
	return b;
}

static const char *const policy_names[TR_POLICY_COUNT_] = {
	[TR_POLICY_COOPERATIVE] = "cooperative",
	[TR_POLICY_ROUND_ROBIN] = "round_robin",
	[TR_POLICY_PRIORITY] = "priority",
	[TR_POLICY_PROGRESS_AWARE] = "progress_aware",
	[TR_POLICY_SEEDED] = "seeded",
};

const char *
tr_policy_name(tr_policy p)
{
	if ((unsigned)p >= TR_POLICY_COUNT_)
		return "?";
	return policy_names[p];
}

tr_status
tr_policy_parse(const char *name, tr_policy *out)
{
	if (!name)
		return TR_E_INVALID;
	for (unsigned i = 0; i < TR_POLICY_COUNT_; i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*out = (tr_policy)i;
			return TR_OK;
		}
	}
	return TR_E_INVALID;
}
