/* sched/sched_impl.h: the layout of struct tr_sched and the inline fast
 * paths of the hot calls. Included by sched/sched.h only; the machine embeds
 * the struct but must treat every field as private to sched/.
 *
 * Per-id storage (bytes per id slot, allocated only for the policy in use):
 *   every policy            st      1  state (low 3 bits) | TOKEN bit |
 *                                      WSEND bit (WOKEN: on the senders'
 *                                      FIFO)
 *   every policy            link    8  doubly linked FIFO per level, and
 *                                      the two wake FIFOs
 *   priority                lvof    2  level index of the id
 *   priority with aging     stamp   4  ready order, to find the longest waiter
 *   round_robin             bitmap  1/8 + 1/512 + ...  (hierarchical)
 *   seeded                  dense,  8  ready ids packed, and each id's position
 *                           pos
 * so at most 17 bytes per slot (seeded), 15 for priority with aging, 9 for
 * cooperative (round_robin and seeded keep link for the wake FIFOs only).
 * Slots grow by doubling, so capacity is at most twice the highest id.
 *
 * Hot calls: tr_sched_ready/block/done/pick/nready/wake/admit/switch are
 * redefined below as macros that expand to inline functions, so that the
 * machine's round pays no call for the common transitions of the default (cooperative) policy; every
 * other case falls through to the out-of-line *_slow_ functions in sched.c.
 * The real, addressable functions exist too (sched.c defines them with the
 * name in parentheses), so &tr_sched_ready still works. */
#ifndef TR_SCHED_SCHED_IMPL_H
#define TR_SCHED_SCHED_IMPL_H

#include <stddef.h>
#include <stdint.h>

#ifndef TR_DEBUG
#define TR_DEBUG 0
#endif

#define TR_SCHED_STATE_MASK_ 0x07u
#define TR_SCHED_TOKEN_ 0x08u
#define TR_SCHED_WSEND_ 0x10u
/* 64^6 = 2^36 bits covers every uint32 id. */
#define TR_SCHED_BM_LEVELS_ 6
/* Distinct priority values registered at once. Adding a level re-indexes
 * all levels (O(levels)), so the bound keeps adds cheap; real protocols use
 * a handful. Level indices fit the uint16 per id. */
#define TR_SCHED_MAX_LEVELS_ 4096u

typedef struct tr_sched_link {
	uint32_t next, prev; /* TR_SCHED_NONE at the ends */
} tr_sched_link;

/* One FIFO of ready ids (cooperative has one, progress_aware two: token
 * holders first; priority one per distinct priority value). */
typedef struct tr_sched_level {
	uint32_t head, tail;
	uint32_t nready;
	uint32_t nreg; /* registered ids at this level: 0 lets it be reused */
	uint32_t prio;
} tr_sched_level;

/* A wake FIFO (tr_sched_wake): WOKEN ids through link[], in wake order. */
typedef struct tr_sched_fifo {
	uint32_t head, tail; /* TR_SCHED_NONE when empty */
} tr_sched_fifo;

struct tr_sched {
	/* Touched by every hot call. */
	uint8_t *st;
	tr_sched_link *link;
	tr_sched_level *lv;
	uint32_t n[6]; /* ids per tr_sched_state; n[FREE] unused */
	tr_sched_fifo wk[2]; /* wake FIFOs: [0] receivers, [1] senders */
	uint32_t cap;  /* id slots allocated */
	uint8_t policy;

	/* priority / progress_aware */
	uint16_t *lvof;   /* priority only: id -> level */
	uint32_t *stamp;  /* priority with aging: id -> ready order */
	uint16_t *order;  /* level indices by decreasing priority */
	uint16_t *lvpos;  /* priority only: level -> position in order */
	uint32_t nlv, lvcap;
	uint32_t clock;     /* next ready stamp */
	uint32_t aging;     /* 0: strict priority */
	uint32_t overtakes; /* picks from the top since a lower one waited */

	/* round_robin: ready ids; priority: positions in order of levels with
	 * ready ids */
	uint64_t *bm[TR_SCHED_BM_LEVELS_];
	uint32_t bmw[TR_SCHED_BM_LEVELS_]; /* words per level */
	uint32_t nbm;
	uint32_t cursor; /* last id picked, TR_SCHED_NONE before the first */

	/* seeded */
	uint32_t *dense; /* the ready ids, in no particular order */
	uint32_t *pos;   /* id -> index in dense while READY */
	uint64_t rng;    /* splitmix64 state */

	const tr_allocator *a;
};

void tr_sched_assert_fail_(const char *expr, const char *file, int line);
#define TR_SCHED_ASSERT_(e)                                                    \
	do {                                                                       \
		if (TR_DEBUG && !(e))                                                  \
			tr_sched_assert_fail_(#e, __FILE__, __LINE__);                     \
	} while (0)

/* Out of line: every policy and every state, including what the fast paths
 * below handle. */
void tr_sched_ready_slow_(tr_sched *s, uint32_t id);
void tr_sched_block_slow_(tr_sched *s, uint32_t id);
void tr_sched_done_slow_(tr_sched *s, uint32_t id);
uint32_t tr_sched_pick_slow_(tr_sched *s);
void tr_sched_admit_slow_(tr_sched *s);

static inline void
tr_sched_ready_inl_(tr_sched *s, uint32_t id)
{
	if (s->policy == TR_POLICY_COOPERATIVE && id < s->cap) {
		uint8_t st = s->st[id];
		uint32_t k = st & TR_SCHED_STATE_MASK_;
		if (k == TR_SCHED_RUNNING || k == TR_SCHED_BLOCKED) {
			tr_sched_level *l = &s->lv[0];
			s->n[k]--;
			s->n[TR_SCHED_READY]++;
			s->st[id] = (uint8_t)((st & ~TR_SCHED_STATE_MASK_) | TR_SCHED_READY);
			s->link[id].next = TR_SCHED_NONE;
			s->link[id].prev = l->tail;
			if (l->tail == TR_SCHED_NONE)
				l->head = id;
			else
				s->link[l->tail].next = id;
			l->tail = id;
			l->nready++;
			return;
		}
	}
	tr_sched_ready_slow_(s, id);
}

static inline uint32_t
tr_sched_pick_inl_(tr_sched *s)
{
	if (s->policy == TR_POLICY_COOPERATIVE) {
		tr_sched_level *l = &s->lv[0];
		uint32_t id = l->head;
		if (id == TR_SCHED_NONE)
			return TR_SCHED_NONE;
		uint32_t nx = s->link[id].next;
		/* the new head's prev is left as it is: see list_unlink */
		l->head = nx;
		if (nx == TR_SCHED_NONE)
			l->tail = TR_SCHED_NONE;
		l->nready--;
		s->n[TR_SCHED_READY]--;
		s->n[TR_SCHED_RUNNING]++;
		s->st[id] = (uint8_t)((s->st[id] & ~TR_SCHED_STATE_MASK_) | TR_SCHED_RUNNING);
		return id;
	}
	return tr_sched_pick_slow_(s);
}

/* RUNNING -> BLOCKED/DONE needs no queue work under any policy: a running id
 * is in no ready structure. */
static inline void
tr_sched_leave_running_inl_(tr_sched *s, uint32_t id, uint32_t to)
{
	s->n[TR_SCHED_RUNNING]--;
	s->n[to]++;
	s->st[id] = (uint8_t)((s->st[id] & ~TR_SCHED_STATE_MASK_) | to);
}

static inline void
tr_sched_block_inl_(tr_sched *s, uint32_t id)
{
	if (id < s->cap && (s->st[id] & TR_SCHED_STATE_MASK_) == TR_SCHED_RUNNING)
		tr_sched_leave_running_inl_(s, id, TR_SCHED_BLOCKED);
	else
		tr_sched_block_slow_(s, id);
}

/* RUNNING -> BLOCKED for an id the caller vouches is RUNNING (checked
 * only under TR_DEBUG): the state moves by a constant (the TOKEN bit
 * stays). */
static inline void
tr_sched_park_inl_(tr_sched *s, uint32_t id)
{
	TR_SCHED_ASSERT_(id < s->cap && (s->st[id] & TR_SCHED_STATE_MASK_) == TR_SCHED_RUNNING);
	s->n[TR_SCHED_RUNNING]--;
	s->n[TR_SCHED_BLOCKED]++;
	s->st[id] = (uint8_t)(s->st[id] - (TR_SCHED_RUNNING - TR_SCHED_BLOCKED));
}

static inline void
tr_sched_done_inl_(tr_sched *s, uint32_t id)
{
	if (id < s->cap && (s->st[id] & TR_SCHED_STATE_MASK_) == TR_SCHED_RUNNING)
		tr_sched_leave_running_inl_(s, id, TR_SCHED_DONE);
	else
		tr_sched_done_slow_(s, id);
}

/* id is BLOCKED: the caller vouches (checked only under TR_DEBUG). */
static inline void
tr_sched_wake_inl_(tr_sched *s, uint32_t id, bool sender)
{
	uint8_t *st = s->st;
	tr_sched_link *link = s->link;
	tr_sched_fifo *f = &s->wk[sender];
	uint32_t t = f->tail;
	TR_SCHED_ASSERT_(id < s->cap && (st[id] & TR_SCHED_STATE_MASK_) == TR_SCHED_BLOCKED);
	TR_SCHED_ASSERT_(!(st[id] & TR_SCHED_WSEND_));
	s->n[TR_SCHED_BLOCKED]--;
	s->n[TR_SCHED_WOKEN]++;
	/* BLOCKED -> WOKEN, and the FIFO's bit: a constant added (the TOKEN
	 * bit stays) */
	st[id] = (uint8_t)(st[id] + (TR_SCHED_WOKEN - TR_SCHED_BLOCKED) +
	                   (sender ? TR_SCHED_WSEND_ : 0));
	link[id].next = TR_SCHED_NONE;
	link[id].prev = t;
	if (t == TR_SCHED_NONE)
		f->head = id;
	else
		link[t].next = id;
	f->tail = id;
}

/* Cooperative: splice each wake FIFO onto the one ready queue (senders
 * first), after one pass that marks its ids READY. The arrays are read
 * into locals once: a byte store may alias anything, and would make the
 * compiler read them again per id. */
static inline void
tr_sched_admit_inl_(tr_sched *s)
{
	if (s->policy != TR_POLICY_COOPERATIVE) {
		tr_sched_admit_slow_(s);
		return;
	}
	uint8_t *st = s->st;
	tr_sched_link *link = s->link;
	tr_sched_level *l = &s->lv[0];
	for (int k = 1; k >= 0; k--) {
		tr_sched_fifo *f = &s->wk[k];
		uint32_t h = f->head, t = f->tail, n = 0;
		if (h == TR_SCHED_NONE)
			continue;
		/* WOKEN (and WSEND on the senders' FIFO) -> READY: a constant */
		const uint8_t down = (uint8_t)((TR_SCHED_WOKEN - TR_SCHED_READY) +
		                               (k ? TR_SCHED_WSEND_ : 0));
		for (uint32_t id = h;; id = link[id].next) {
			st[id] = (uint8_t)(st[id] - down);
			n++;
			if (id == t)
				break;
		}
		uint32_t lt = l->tail;
		if (lt == TR_SCHED_NONE) {
			l->head = h;
		} else {
			link[lt].next = h;
			link[h].prev = lt;
		}
		l->tail = t;
		l->nready += n;
		s->n[TR_SCHED_READY] += n;
		s->n[TR_SCHED_WOKEN] -= n;
		f->head = f->tail = TR_SCHED_NONE;
	}
}

/* admit then pick, in one step. Cooperative with nothing ready and only
 * receivers woken (the common case: the slice that woke them blocked): the
 * first woken goes straight to RUNNING and the others become the ready
 * queue, without queueing the first and taking it off again. Its pass over
 * the rest repeats admit's on purpose: sharing one helper moved fanout or
 * twobuyer by 5 % in time (the order of the byte stores against the
 * array loads; BENCHMARKS.md §5, session 9). */
static inline uint32_t
tr_sched_admit_pick_inl_(tr_sched *s)
{
	if (s->policy != TR_POLICY_COOPERATIVE || s->n[TR_SCHED_READY] != 0 ||
	    s->wk[1].head != TR_SCHED_NONE || s->wk[0].head == TR_SCHED_NONE) {
		tr_sched_admit_inl_(s);
		return tr_sched_pick_inl_(s);
	}
	uint8_t *st = s->st;
	tr_sched_link *link = s->link;
	tr_sched_fifo *f = &s->wk[0];
	uint32_t first = f->head, t = f->tail, n = 0;
	/* WOKEN -> RUNNING, the rest WOKEN -> READY: constants (on the
	 * receivers' FIFO, WSEND is clear) */
	st[first] = (uint8_t)(st[first] - (TR_SCHED_WOKEN - TR_SCHED_RUNNING));
	if (first != t) {
		uint32_t h = link[first].next;
		for (uint32_t id = h;; id = link[id].next) {
			st[id] = (uint8_t)(st[id] - (TR_SCHED_WOKEN - TR_SCHED_READY));
			n++;
			if (id == t)
				break;
		}
		tr_sched_level *l = &s->lv[0];
		l->head = h;
		l->tail = t;
		l->nready += n;
		s->n[TR_SCHED_READY] += n;
	}
	s->n[TR_SCHED_WOKEN] -= n + 1;
	s->n[TR_SCHED_RUNNING]++;
	f->head = f->tail = TR_SCHED_NONE;
	return first;
}

static inline bool
tr_sched_handoff_inl_(tr_sched *s, uint32_t id)
{
	if (s->policy != TR_POLICY_COOPERATIVE || s->n[TR_SCHED_READY] != 0 || id >= s->cap ||
	    (s->st[id] & TR_SCHED_STATE_MASK_) != TR_SCHED_BLOCKED)
		return false;
	/* ready then pick with an empty queue leaves the queue empty: only the
	 * state and its counts move */
	s->n[TR_SCHED_BLOCKED]--;
	s->n[TR_SCHED_RUNNING]++;
	s->st[id] = (uint8_t)((s->st[id] & ~TR_SCHED_STATE_MASK_) | TR_SCHED_RUNNING);
	return true;
}

static inline bool
tr_sched_switch_inl_(tr_sched *s, uint32_t from, uint32_t to)
{
	if (s->policy != TR_POLICY_COOPERATIVE || s->n[TR_SCHED_READY] != 0)
		return false;
	uint8_t *st = s->st;
	TR_SCHED_ASSERT_(from < s->cap && to < s->cap);
	TR_SCHED_ASSERT_((st[from] & TR_SCHED_STATE_MASK_) == TR_SCHED_RUNNING);
	TR_SCHED_ASSERT_((st[to] & TR_SCHED_STATE_MASK_) == TR_SCHED_BLOCKED);
	/* one RUNNING and one BLOCKED before and after: the counts stay. The
	 * states are known, so each moves by a constant (the TOKEN bit stays). */
	st[from] = (uint8_t)(st[from] - (TR_SCHED_RUNNING - TR_SCHED_BLOCKED));
	st[to] = (uint8_t)(st[to] + (TR_SCHED_RUNNING - TR_SCHED_BLOCKED));
	return true;
}

/* The id the next pick would return under the cooperative policy, or
 * TR_SCHED_NONE (other policies: NONE). A hint for prefetching only. */
static inline uint32_t
tr_sched_peek_hint(const tr_sched *s)
{
	return s->policy == TR_POLICY_COOPERATIVE ? s->lv[0].head : TR_SCHED_NONE;
}

static inline uint32_t
tr_sched_nready_inl_(const tr_sched *s)
{
	return s->n[TR_SCHED_READY];
}

static inline uint32_t
tr_sched_nwoken_inl_(const tr_sched *s)
{
	return s->n[TR_SCHED_WOKEN];
}

#define tr_sched_nready(s) tr_sched_nready_inl_((s))
#define tr_sched_ready(s, id) tr_sched_ready_inl_((s), (id))
#define tr_sched_block(s, id) tr_sched_block_inl_((s), (id))
#define tr_sched_park(s, id) tr_sched_park_inl_((s), (id))
#define tr_sched_done(s, id) tr_sched_done_inl_((s), (id))
#define tr_sched_pick(s) tr_sched_pick_inl_((s))
#define tr_sched_handoff(s, id) tr_sched_handoff_inl_((s), (id))
#define tr_sched_wake(s, id, sender) tr_sched_wake_inl_((s), (id), (sender))
#define tr_sched_admit(s) tr_sched_admit_inl_((s))
#define tr_sched_admit_pick(s) tr_sched_admit_pick_inl_((s))
#define tr_sched_nwoken(s) tr_sched_nwoken_inl_((s))
#define tr_sched_switch(s, from, to) tr_sched_switch_inl_((s), (from), (to))

#endif
