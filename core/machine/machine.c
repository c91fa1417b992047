/* core/machine/machine.c: the ProtocolMachine (docs/DESIGN.md §4): sessions,
 * coroutines, edge buffers, the round-step kernel, effect handlers, faults,
 * topology, timeouts, progress contracts, traces and replay.
 *
 * It does not know threads: the runtime (runtime/) gives each worker one
 * machine and feeds it through tr_machine_inject / tr_machine_add_credit.
 *
 * Theory of operation: the kernel round (tr_machine_step_round)
 * -------------------------------------------------------------
 * One round does, in this order (tests/machine/test_round.c names each):
 *   1. n == 0 is TR_E_INVALID (nothing else happens). Reset the last-step
 *      record; advance the logical clock by one tick.
 *   2. If every coroutine is terminal (and no ingress is queued, which
 *      would only be dropped at step 3): TR_STEP_ALL_DONE.
 *   3. Ingress: first the topology events the handlers report for this tick
 *      (applied in kind order CRASH, PARTITION, HEAL, TIMEOUT, stable within
 *      a kind), then the messages injected from outside, in arrival order.
 *   4. Expire timeouts whose deadline is this tick or earlier: a coroutine
 *      still blocked faults TIMEOUT.
 *   5. Unblock senders whose edge has room (or credit), then receivers whose
 *      edge has data. Both come from wake lists filled by the events that
 *      made room or data (a dequeue, a credit, an enqueue, a delivery, a
 *      heal), in the order of those events; a coroutine appears at most once.
 *      Woken coroutines become ready in that order, senders before receivers.
 *   6. Progress contracts: a session that has not sent or received within
 *      its `progress_within` ticks faults NO_PROGRESS.
 *   7. If no coroutine is eligible: TR_STEP_STUCK.
 *   8. The scheduler picks one eligible coroutine (policy, sched/).
 *   9. Run it for one slice: at most cfg.slice instructions, ending early
 *      when it blocks, yields, halts or faults.
 *  10. Outcome: slice used up or yield -> ready again (at the tail); blocked
 *      -> blocked with its reason; halted -> done (trace HALTED); fault ->
 *      trace FAILURE_BRANCH_ENTERED then FAULTED, its session fails (its
 *      other coroutines stop), TR_STEP_FAULTED.
 *  11. Progress contracts again; TR_STEP_ALL_DONE when every coroutine is
 *      terminal, else TR_STEP_CONTINUE.
 * Steps 3-6 cost O(events): wake lists, a timer wheel, an ingress FIFO;
 * nothing scans coroutines or sessions. Determinism: every structure is
 * iterated in insertion or id order, never by pointer or hash order, so the
 * same inputs, policy and seed give the same trace, bit for bit. */
#include "machine_internal.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define TR_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TR_ALWAYS_INLINE inline
#endif

#if defined(__GNUC__) && !defined(TR_NO_COMPUTED_GOTO)
#define TR_COMPUTED_GOTO 1
#else
#define TR_COMPUTED_GOTO 0
#endif

static const char *const fault_names[] = {
#define XX(n) #n,
	TR_FAULT_MAP(XX)
#undef XX
};

const char *
tr_fault_name(tr_fault_kind k)
{
	return (unsigned)k < TR_FAULT_COUNT_ ? fault_names[k] : "?";
}

void
tr_machine_config_default(tr_machine_config *c)
{
	memset(c, 0, sizeof *c);
	c->policy = TR_POLICY_COOPERATIVE;
	c->buffer_capacity = 64;
	c->buffer_max = 4096;
	c->full_policy = TR_FULL_BLOCK;
	c->slice = 64;
	c->trace_mode = TR_TRACE_OFF;
	c->on_fault = TR_ON_FAULT_ISOLATE;
	c->max_sessions = 1u << 26;
	c->max_in_flight = 1ull << 28;
}

/* ---- traces ---- */

static void
trace_push(tr_machine *m, const tr_event *ev)
{
	if (m->cfg.trace_mode == TR_TRACE_LAST_N) {
		uint32_t n = m->cfg.trace_last_n;
		if (n == 0)
			return;
		if (m->trace.len < n) {
			tr_vec_push(&m->trace, m->a, ev);
		} else {
			TR_VEC_AT(&m->trace, tr_event, m->trace_start % n) = *ev;
			m->trace_start++;
		}
		return;
	}
	/* Out of memory while tracing loses the event, never the run. */
	(void)tr_vec_push(&m->trace, m->a, ev);
}

static __attribute__((noinline)) void
obs_push(tr_machine *m, uint32_t kind, tr_session_id sid, uint32_t role, uint32_t peer,
         uint32_t label, uint32_t aux, uint64_t value)
{
	tr_event ev = {m->tick, sid, kind, role, peer, label, aux, 0, value};
	trace_push(m, &ev);
}

/* Trace an event when tracing. The interpreter passes its own copy of
 * m->tracing (a slice cannot change it), so the test is a register test. */
static TR_ALWAYS_INLINE void
obs_if(bool tracing, tr_machine *m, uint32_t kind, tr_session_id sid, uint32_t role,
       uint32_t peer, uint32_t label, uint32_t aux, uint64_t value)
{
	if (TR_UNLIKELY(tracing))
		obs_push(m, kind, sid, role, peer, label, aux, value);
}

static TR_ALWAYS_INLINE void
obs(tr_machine *m, uint32_t kind, tr_session_id sid, uint32_t role, uint32_t peer,
    uint32_t label, uint32_t aux, uint64_t value)
{
	obs_if(m->tracing, m, kind, sid, role, peer, label, aux, value);
}

static void
effect_push(tr_machine *m, const tr_event *ev)
{
	tr_vec_push(&m->effects, m->a, ev);
}

/* Replay: the next effect entry must be exactly what the machine is about
 * to ask for (kind, tick, session, role, peer, label); on a mismatch the run
 * stops with TR_E_REPLAY_MISMATCH naming the entry. */
static const tr_event *
replay_take(tr_machine *m, uint32_t kind, tr_session_id sid, uint32_t role,
            uint32_t peer, uint32_t label)
{
	size_t n = tr_trace_count(m->replay);
	const tr_event *ev = tr_trace_events(m->replay);
	size_t i = m->replay_pos;
	if (m->replay_failed)
		return NULL;
	if (i >= n || ev[i].kind != kind || ev[i].tick != m->tick || ev[i].session != sid ||
	    ev[i].role != role || ev[i].peer != peer || ev[i].label != label) {
		m->replay_failed = true;
		tr_error_clear(&m->last_error);
		if (i >= n)
			tr_err_off(&m->last_error, TR_E_REPLAY_MISMATCH, i,
			           "replay: the machine asks for %s (tick %llu, session %llu, role %u) "
			           "but the trace ends at entry %zu",
			           tr_event_name(kind), (unsigned long long)m->tick,
			           (unsigned long long)sid, role, i);
		else
			tr_err_off(&m->last_error, TR_E_REPLAY_MISMATCH, i,
			           "replay: entry %zu is %s (tick %llu, session %llu, role %u, label %u) "
			           "but the machine asks for %s (tick %llu, session %llu, role %u, label %u)",
			           i, tr_event_name(ev[i].kind), (unsigned long long)ev[i].tick,
			           (unsigned long long)ev[i].session, ev[i].role, ev[i].label,
			           tr_event_name(kind), (unsigned long long)m->tick,
			           (unsigned long long)sid, role, label);
		return NULL;
	}
	m->replay_pos++;
	return &ev[i];
}

/* ---- handler calls (the effect boundary) ---- */

static TR_ALWAYS_INLINE const tr_handler *
sh(const tr_machine *m, const tr_session *s)
{
	return m->handlers[s->handler];
}

typedef struct call_ctx {
	tr_machine *m;
	tr_session *s;
	tr_coro *c;
} call_ctx;

static tr_status
eff_send_slow(tr_machine *m, tr_session *s, tr_effect *e, tr_value *out)
{
	if (m->effect_mode == 2) {
		const tr_event *ev = replay_take(m, TR_EV_EFF_SEND, s->id, e->role, e->peer, e->label);
		if (!ev)
			return TR_E_REPLAY_MISMATCH;
		out->kind = ev->aux;
		out->bits = ev->value;
		return (tr_status)ev->status;
	}
	tr_status st = sh(m, s)->on_send(sh(m, s)->ctx, e, out);
	tr_event ev = {m->tick, s->id, TR_EV_EFF_SEND, e->role, e->peer, e->label, out->kind,
	               (uint32_t)st, out->bits};
	effect_push(m, &ev);
	return st;
}

static TR_ALWAYS_INLINE tr_status
eff_send(tr_machine *m, uint8_t emode, tr_session *s, const tr_handler *h, tr_effect *e,
         uint32_t peer, uint32_t label, uint32_t kind, tr_value *out)
{
	e->peer = peer;
	e->label = label;
	e->sort_kind = kind;
	out->kind = TR_VAL_UNIT;
	out->bits = 0;
	if (TR_LIKELY(!emode))
		return h->on_send(h->ctx, e, out);
	return eff_send_slow(m, s, e, out);
}

static tr_status
eff_recv_slow(tr_machine *m, tr_session *s, tr_effect *e, tr_value v)
{
	if (m->effect_mode == 2) {
		const tr_event *ev = replay_take(m, TR_EV_EFF_RECV, s->id, e->role, e->peer, e->label);
		if (!ev)
			return TR_E_REPLAY_MISMATCH;
		if (ev->value != v.bits || ev->aux != v.kind) {
			m->replay_failed = true;
			tr_error_clear(&m->last_error);
			tr_err_off(&m->last_error, TR_E_REPLAY_MISMATCH, m->replay_pos - 1,
			           "replay: entry %zu recorded value %llu but the run received %llu",
			           m->replay_pos - 1, (unsigned long long)ev->value,
			           (unsigned long long)v.bits);
			return TR_E_REPLAY_MISMATCH;
		}
		return (tr_status)ev->status;
	}
	tr_status st = sh(m, s)->on_recv ? sh(m, s)->on_recv(sh(m, s)->ctx, e, v) : TR_OK;
	tr_event ev = {m->tick, s->id, TR_EV_EFF_RECV, e->role, e->peer, e->label, v.kind,
	               (uint32_t)st, v.bits};
	effect_push(m, &ev);
	return st;
}

static TR_ALWAYS_INLINE tr_status
eff_recv(tr_machine *m, uint8_t emode, tr_session *s, const tr_handler *h, tr_effect *e,
         uint32_t peer, uint32_t label, uint32_t kind, uint64_t bits)
{
	tr_value v = {kind, bits};
	e->peer = peer;
	e->label = label;
	e->sort_kind = kind;
	if (TR_LIKELY(!emode))
		return h->on_recv ? h->on_recv(h->ctx, e, v) : TR_OK;
	return eff_recv_slow(m, s, e, v);
}

static TR_ALWAYS_INLINE tr_status
eff_choose(tr_machine *m, uint8_t emode, tr_session *s, const tr_handler *h, tr_effect *e,
           uint32_t peer, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	e->peer = peer;
	e->label = TR_NIL;
	e->sort_kind = TR_VAL_UNIT;
	if (TR_UNLIKELY(emode == 2)) {
		const tr_event *ev = replay_take(m, TR_EV_EFF_CHOOSE, s->id, e->role, peer, TR_NIL);
		if (!ev)
			return TR_E_REPLAY_MISMATCH;
		*pick = (uint32_t)ev->value;
		return (tr_status)ev->status;
	}
	tr_status st = h->on_choose(h->ctx, e, labels, n, pick);
	if (TR_UNLIKELY(emode == 1)) {
		tr_event ev = {m->tick, s->id, TR_EV_EFF_CHOOSE, e->role, peer, TR_NIL,
		               st == TR_OK && *pick < n ? labels[*pick] : TR_NIL, (uint32_t)st, *pick};
		effect_push(m, &ev);
	}
	return st;
}

static tr_status
eff_invoke(tr_machine *m, tr_session *s, const tr_handler *h, tr_effect *e, uint32_t sym)
{
	e->peer = TR_NIL;
	e->label = sym;
	e->sort_kind = TR_VAL_UNIT;
	if (m->effect_mode == 2) {
		const tr_event *ev = replay_take(m, TR_EV_EFF_INVOKE, s->id, e->role, TR_NIL, sym);
		return ev ? (tr_status)ev->status : TR_E_REPLAY_MISMATCH;
	}
	tr_status st = h->on_invoke ? h->on_invoke(h->ctx, e, sym) : TR_OK;
	if (m->effect_mode == 1) {
		tr_event ev = {m->tick, s->id, TR_EV_EFF_INVOKE, e->role, TR_NIL, sym, 0, (uint32_t)st, 0};
		effect_push(m, &ev);
	}
	return st;
}

/* ---- the entry pool ---- */

static __attribute__((noinline)) bool
pool_grow(tr_machine *m)
{
	uint32_t cap = m->pool.cap ? m->pool.cap * 2 : 1024;
	if (cap <= m->pool.cap || (uint64_t)cap > m->cfg.max_in_flight + 1024)
		return false;
	tr_entry *e = tr_realloc(m->a, m->pool.e, (size_t)m->pool.cap * sizeof *e,
	                         (size_t)cap * sizeof *e);
	if (!e)
		return false;
	m->pool.e = e;
	m->pool.cap = cap;
	m->st.pool_entries = cap;
	return true;
}

static TR_ALWAYS_INLINE uint32_t
pool_get(tr_machine *m)
{
	if (TR_UNLIKELY(m->pool.free == TR_NIL)) {
		if (m->pool.fresh == m->pool.cap && !pool_grow(m))
			return TR_NIL;
		return m->pool.fresh++;
	}
	uint32_t i = m->pool.free;
	m->pool.free = m->pool.e[i].next;
	return i;
}

static TR_ALWAYS_INLINE void
pool_put(tr_machine *m, uint32_t i)
{
	m->pool.e[i].next = m->pool.free;
	m->pool.free = i;
}

/* Below this many sessions their blocks stay in cache: no prefetch. */
#define TR_PREFETCH_MIN_SESSIONS 1024u

static TR_ALWAYS_INLINE tr_coro *
coro_at(const tr_machine *m, uint32_t id)
{
	return coro_at_range(&m->idmap[id >> TR_IDGROUP_BITS], id);
}

/* Coroutine of scheduler id `id`, most likely one of session s's: then
 * without coro_at's two multiplies, which a fused round would otherwise
 * wait on before it can touch the coroutine (s NULL: coro_at). */
static TR_ALWAYS_INLINE tr_coro *
coro_near(const tr_machine *m, tr_session *s, uint32_t id)
{
	if (s) {
		uint32_t k = id - s->co[0].id;
		if (TR_LIKELY(k < s->rt->nroles))
			return &s->co[k];
	}
	return coro_at(m, id);
}

/* ---- wake lists ---- */

/* Wake c (a dequeue or credit freed room: a sender; an enqueue, ingress
 * delivery or heal brought data: a receiver). Step 5 makes the woken
 * ready, senders first, each in the order of the events: the scheduler's
 * two wake FIFOs keep that order (tr_sched_wake), and step 5 splices them
 * onto the ready queue (tr_sched_admit) instead of queueing each
 * coroutine. Only the first woken receiver while no other is pending
 * stays out of them (m->solo). A woken coroutine is READY here from now
 * on; until step 5 it is still waiting as far as step 4 is concerned
 * (coro_waiting). A coroutine not BLOCKED (woken already, or terminal) is
 * left alone: it is woken at most once. */
static TR_ALWAYS_INLINE void
wake(tr_machine *m, tr_coro *c, bool sender)
{
	if (c->status != TR_CO_BLOCKED)
		return;
	coro_make_ready(c);
	if (!sender && m->solo == NULL && tr_sched_nwoken(&m->sched) == 0) {
		m->solo = c;
		return;
	}
	if (m->solo) {
		tr_sched_wake(&m->sched, m->solo->id, false);
		m->solo = NULL;
	}
	tr_sched_wake(&m->sched, c->id, sender);
}

/* Whether anything was woken since the last step 5. */
static TR_ALWAYS_INLINE bool
any_woken(const tr_machine *m)
{
	return m->solo != NULL || tr_sched_nwoken(&m->sched) != 0;
}

/* The solo (set) joins the ready queue. */
static TR_ALWAYS_INLINE void
admit_solo(tr_machine *m)
{
	tr_sched_ready(&m->sched, m->solo->id);
	m->solo = NULL;
}

/* Step 5: the coroutines woken since the last step 5 become ready. */
static TR_ALWAYS_INLINE void
admit_woken(tr_machine *m)
{
	if (m->solo)
		admit_solo(m);
	else if (tr_sched_nwoken(&m->sched))
		tr_sched_admit(&m->sched);
}

/* Still waiting as far as step 4 is concerned: blocked, or woken since the
 * last step 5. */
static bool
coro_waiting(const tr_machine *m, const tr_coro *c)
{
	return c->status == TR_CO_BLOCKED ||
	       (c->status == TR_CO_READY &&
	        (c == m->solo || tr_sched_state_of(&m->sched, c->id) == TR_SCHED_WOKEN));
}

/* ---- enqueue / dequeue ---- */

/* An edge's FIFO (tr_edgebuf): the nin inline messages first, then the
 * pool entries from tail's next round to tail. */
static TR_ALWAYS_INLINE bool
edge_put_pool(tr_machine *m, tr_edgebuf *e, uint32_t lk, uint64_t bits)
{
	uint32_t i = pool_get(m);
	if (TR_UNLIKELY(i == TR_NIL))
		return false;
	tr_entry *en = &m->pool.e[i];
	en->lk = lk;
	en->bits = bits;
	if (e->count == e->nin) {
		en->next = i;
	} else {
		en->next = m->pool.e[e->tail].next;
		m->pool.e[e->tail].next = i;
	}
	e->tail = i;
	e->count++;
	return true;
}

/* Append (lk, bits) to e's FIFO; false when the pool cannot grow. Inline
 * when the edge is empty, or holds one inline message and one of the two
 * is Unit, whose value is not kept: nothing reads a Unit message's value
 * (accept). */
static TR_ALWAYS_INLINE bool
edge_put(tr_machine *m, tr_edgebuf *e, uint32_t lk, uint64_t bits)
{
	uint32_t n = e->count;
	if (TR_LIKELY(n <= 1 && lk <= TR_LK16_MAX)) {
		bool unit = TR_LK_KIND(lk) == TR_VAL_UNIT;
		if (n == 0) {
			e->bits = bits;
			e->lk16[0] = (uint16_t)lk;
			e->nin = 1;
			e->count = 1;
			return true;
		}
		if (e->nin == 1 && (unit || TR_LK_KIND(e->lk16[0]) == TR_VAL_UNIT)) {
			if (!unit)
				e->bits = bits;
			e->lk16[1] = (uint16_t)lk;
			e->nin = 2;
			e->count = 2;
			return true;
		}
	}
	return edge_put_pool(m, e, lk, bits);
}

/* Take the first message of e's FIFO (not empty) into *en. An inline Unit
 * message's value is whatever the edge's word holds (its pair's payload):
 * nothing reads a Unit message's value (accept). */
static TR_ALWAYS_INLINE void
edge_take(tr_machine *m, tr_edgebuf *e, tr_entry *en)
{
	uint32_t n = e->nin;
	if (TR_LIKELY(n != 0)) {
		en->lk = e->lk16[0];
		en->bits = e->bits;
		e->lk16[0] = e->lk16[1];
		e->nin = (uint8_t)(n - 1);
	} else {
		tr_entry *t = &m->pool.e[e->tail];
		uint32_t h = t->next;
		*en = m->pool.e[h];
		t->next = en->next; /* h was the last: tail is meaningless now */
		pool_put(m, h);
	}
	e->count--;
}

static void
edge_free_all(tr_machine *m, tr_edgebuf *e)
{
	tr_entry en;
	m->pool.adjust -= e->count;
	while (e->count)
		edge_take(m, e, &en);
}

/* ---- session table ---- */

/* id -> session: open addressing with linear probing. A slot holds a
 * 4-byte reference to the session's block, its first scheduler id plus one
 * (0: empty; the block is found by arithmetic, coro_at), and 8 bits of the
 * id's hash in a byte array beside it. A probe dereferences a session only
 * when the tag matches (1 in 256 of the others), so lookups and the
 * prefetch pipeline's guesses rarely touch other sessions. Why a reference,
 * not a pointer: 4 bytes a slot, about 8 a session at scale (issue 6).
 * Growth and deletion read the ids of the sessions they move: once per
 * session per doubling, and at reap; never per message. */
static inline uint32_t
hash32(tr_session_id id)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32);
}

/* The tag: the hash's top 8 bits (the index uses the low bits). */
static inline uint8_t
hash_tag8(uint32_t h)
{
	return (uint8_t)(h >> 24);
}

static inline uint32_t
session_ref(const tr_session *s)
{
	return s->co[0].id + 1; /* ids stay below 2^30 (range_add) */
}

/* The session of a non-empty slot: its block's first id is role 0's. */
static inline tr_session *
ref_session(const tr_machine *m, uint32_t v)
{
	return (tr_session *)((char *)coro_at(m, v - 1) - offsetof(tr_session, co));
}

static inline uint32_t
hash_id(tr_session_id id, uint32_t cap)
{
	return hash32(id) & (cap - 1);
}

static tr_session *
session_find(const tr_machine *m, tr_session_id id)
{
	if (!m->table_cap)
		return NULL;
	uint32_t h = hash32(id), mask = m->table_cap - 1;
	uint8_t tag8 = hash_tag8(h);
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t v = m->table[i];
		if (!v)
			return NULL;
		if (m->table_tag[i] == tag8) {
			tr_session *s = ref_session(m, v);
			if (s->id == id)
				return s;
		}
	}
}

/* The session a lookup of an id with hash h would most likely return (the
 * first with a matching tag), without touching any session: a prefetch
 * hint; NULL when none. */
static inline tr_session *
session_guess_h(const tr_machine *m, uint32_t h)
{
	uint32_t mask = m->table_cap - 1;
	uint8_t tag8 = hash_tag8(h);
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t v = m->table[i];
		if (!v)
			return NULL;
		if (m->table_tag[i] == tag8)
			return ref_session(m, v);
	}
}

static void
table_insert_raw(uint32_t *t, uint8_t *t8, uint32_t cap, uint32_t ref, uint32_t h)
{
	uint32_t i = h & (cap - 1);
	while (t[i])
		i = (i + 1) & (cap - 1);
	t[i] = ref;
	t8[i] = hash_tag8(h);
}

static tr_status
table_reserve_n(tr_machine *m, uint32_t more)
{
	/* load factor at most 3/4: linear probing stays short, memory small */
	uint64_t need = ((uint64_t)m->nsessions + more) * 4;
	if (need <= (uint64_t)m->table_cap * 3)
		return TR_OK;
	uint64_t c = m->table_cap ? (uint64_t)m->table_cap * 2 : 64;
	while (need > c * 3)
		c *= 2;
	if (c > (1ull << 31))
		return TR_E_NOMEM;
	uint32_t cap = (uint32_t)c;
	uint32_t *t = tr_calloc(m->a, cap, sizeof *t);
	uint8_t *t8 = tr_alloc(m->a, cap);
	if (!t || !t8) {
		tr_free(m->a, t, (size_t)cap * sizeof *t);
		tr_free(m->a, t8, cap);
		return TR_E_NOMEM;
	}
	for (uint32_t i = 0; i < m->table_cap; i++)
		if (m->table[i])
			table_insert_raw(t, t8, cap, m->table[i],
			                 hash32(ref_session(m, m->table[i])->id));
	tr_free(m->a, m->table, (size_t)m->table_cap * sizeof *t);
	tr_free(m->a, m->table_tag, m->table_cap);
	m->table = t;
	m->table_tag = t8;
	m->table_cap = cap;
	return TR_OK;
}

static tr_status
table_reserve(tr_machine *m)
{
	return table_reserve_n(m, 1);
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void
table_remove(tr_machine *m, tr_session *s)
{
	uint32_t mask = m->table_cap - 1, ref = session_ref(s);
	uint32_t i = hash_id(s->id, m->table_cap);
	while (m->table[i] != ref)
		i = (i + 1) & mask;
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		uint32_t t = m->table[j];
		if (!t)
			break;
		uint32_t k = hash_id(ref_session(m, t)->id, m->table_cap);
		/* t may move into the hole at i when its home k is not in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			m->table[i] = t;
			m->table_tag[i] = m->table_tag[j];
			i = j;
		}
	}
	m->table[i] = 0;
	m->nsessions--;
}

/* ---- images and handlers ---- */

static void
image_rt_free(tr_machine *m, tr_image_rt *rt)
{
	const tr_image *img = rt->img;
	for (uint32_t i = 0; i < rt->nchunks; i++)
		tr_free(m->a, rt->chunks[i], rt->block_size * rt->chunk_blocks);
	tr_free(m->a, rt->chunks, (size_t)rt->cap_chunks * sizeof(void *));
	tr_free(m->a, rt->sort_kind, img->nsorts ? img->nsorts : 1);
	tr_free(m->a, rt->labels, (size_t)rt->ndent * sizeof *rt->labels);
	tr_free(m->a, rt->dent, (size_t)rt->ndent * sizeof *rt->dent);
	tr_free(m->a, rt->dcode, (size_t)rt->ndcode * sizeof *rt->dcode);
	tr_free(m->a, rt, sizeof *rt);
}

/* Whether any instruction of rc reads a register: only MOVE does. */
static bool
role_reads_regs(const tr_role_code *rc)
{
	for (uint32_t pc = 0; pc < rc->ninsn; pc++)
		if (rc->code[pc].op == TR_OP_MOVE)
			return true;
	return false;
}

/* Fill rt's decoded code and tables from its (verified) image: what the
 * interpreter would otherwise look up per instruction. Nonzero when out of
 * memory. */
static int
image_rt_decode(tr_machine *m, tr_image_rt *rt)
{
	const tr_image *img = rt->img;
	uint64_t n = 0, nte = 0;
	for (uint32_t r = 0; r < img->nroles; r++) {
		const tr_role_code *rc = &img->roles[r];
		n += rc->ninsn;
		for (uint32_t pc = 0; pc < rc->ninsn; pc++)
			if (rc->code[pc].op == TR_OP_OFFER || rc->code[pc].op == TR_OP_CHOOSE)
				nte += img->tables[rc->code[pc].a].n;
	}
	/* a coroutine's pc is a byte offset in dcode (tr_coro.pc) */
	if (n > UINT32_MAX / sizeof(tr_dinsn) || nte > UINT32_MAX)
		return -1;
	rt->ndcode = (uint32_t)(n ? n : 1);
	rt->ndent = (uint32_t)(nte ? nte : 1);
	rt->dcode = tr_calloc(m->a, rt->ndcode, sizeof *rt->dcode);
	rt->labels = tr_calloc(m->a, rt->ndent, sizeof *rt->labels);
	rt->dent = tr_calloc(m->a, rt->ndent, sizeof *rt->dent);
	if (!rt->dcode || !rt->labels || !rt->dent)
		return -1;
	tr_dinsn *d = rt->dcode;
	uint32_t t = 0; /* next free entry of dent and labels */
	for (uint32_t r = 0; r < img->nroles; r++) {
		const tr_role_code *rc = &img->roles[r];
		const tr_dinsn *code = d;
		rt->role[r].pc0 = (uint32_t)((code - rt->dcode) * sizeof(tr_dinsn));
		/* offsets from this role's coroutine (tr_dinsn.eoff, roff) */
		int64_t co = (int64_t)(offsetof(tr_session, co) + r * sizeof(tr_coro));
		int64_t e0 = (int64_t)(offsetof(tr_session, co) + rt->nroles * sizeof(tr_coro)) - co;
		int64_t r0 = rt->reg_base[r] == TR_NOREGS
		                 ? 0
		                 : (int64_t)rt->regs_off + rt->reg_base[r] * 8 - co;
		for (uint32_t pc = 0; pc < rc->ninsn; pc++, d++) {
			const tr_insn *in = &rc->code[pc];
			d->op = in->op;
			d->reg = in->reg;
			d->edge = in->edge;
			d->a = in->a;
			d->b = in->b;
			d->peer = 0;
			d->kind = 0;
			d->pad_ = 0;
			d->eoff = (int32_t)(e0 + (int64_t)in->edge * (int64_t)sizeof(tr_edgebuf));
			d->roff = r0 ? (int32_t)(r0 + in->reg * 8) : 0;
			if (in->op == TR_OP_SEND || in->op == TR_OP_OFFER)
				d->peer = (uint8_t)img->edges[in->edge].to;
			else if (in->op == TR_OP_RECEIVE || in->op == TR_OP_CHOOSE)
				d->peer = (uint8_t)img->edges[in->edge].from;
			switch (in->op) {
			case TR_OP_SEND:
			case TR_OP_RECEIVE:
				d->kind = rt->sort_kind[in->b];
				d->b = TR_LK(in->a, d->kind);
				break;
			case TR_OP_OFFER:
			case TR_OP_CHOOSE: {
				/* the instruction's own copy of its table: each branch
				 * as a SEND on this instruction's edge, and a pointer
				 * to its code */
				const tr_table *tb = &img->tables[in->a];
				d->a = t;
				d->b = tb->n;
				for (uint32_t k = 0; k < tb->n; k++, t++) {
					const tr_tentry *te = &img->tentries[tb->first + k];
					tr_dinsn *as = &rt->dent[t].as;
					*as = *d;
					as->op = TR_OP_SEND;
					as->kind = rt->sort_kind[te->sort];
					as->a = te->label;
					as->b = TR_LK(te->label, as->kind);
					rt->dent[t].to = code + te->target;
					rt->labels[t] = te->label;
				}
				break;
			}
			case TR_OP_JUMP:
				/* relative: the interpreter needs no code base */
				d->a = (uint32_t)((int64_t)in->a - (int64_t)pc);
				break;
			case TR_OP_MOVE:
				d->b = (uint32_t)(r0 + in->b * 8); /* MOVE: r0 != 0 */
				break;
			default:
				break;
			}
		}
	}
	return 0;
}

static tr_image_rt *
image_rt_get(tr_machine *m, const tr_image *img)
{
	for (tr_image_rt *rt = m->images; rt; rt = rt->next)
		if (rt->img == img)
			return rt;
	if (img->nroles > TR_MAX_ROLES || img->nroles == 0)
		return NULL;
	tr_image_rt *rt = tr_calloc(m->a, 1, sizeof *rt);
	if (!rt)
		return NULL;
	rt->img = img;
	rt->nroles = img->nroles;
	rt->nedges = img->nedges;
	rt->edge_of = img->edge_of;
	uint32_t nregs = 0;
	for (uint32_t r = 0; r < img->nroles; r++) {
		const tr_role_code *rc = &img->roles[r];
		/* a role that never reads a register keeps none (8 bytes a
		 * register less in every session block) */
		if (role_reads_regs(rc)) {
			rt->reg_base[r] = (uint16_t)nregs;
			nregs += rc->nregs;
		} else {
			rt->reg_base[r] = TR_NOREGS;
		}
	}
	rt->regs_off = (uint32_t)(sizeof(tr_session) + img->nroles * sizeof(tr_coro) +
	                          img->nedges * sizeof(tr_edgebuf));
	rt->block_size = (rt->regs_off + nregs * sizeof(uint64_t) + 7) & ~(size_t)7;
	rt->sort_kind = tr_calloc(m->a, img->nsorts ? img->nsorts : 1, 1);
	if (!rt->sort_kind)
		goto fail;
	for (uint32_t i = 0; i < img->nsorts; i++)
		rt->sort_kind[i] = img->sorts[i].kind;
	if (image_rt_decode(m, rt))
		goto fail;
	rt->next = m->images;
	m->images = rt;
	return rt;
fail:
	image_rt_free(m, rt);
	return NULL;
}

/* Session blocks come in chunks, recycled through a free list: opening
 * a session after warm-up does not allocate. A chunk is about
 * TR_CHUNK_BYTES (at least 64 blocks): the allocator rounds a request up
 * to its size class (jemalloc adds a page too), which for 64 blocks of an
 * odd size wasted up to a quarter of the chunk; a large chunk's rounding is
 * under a block plus a page. Below the runtime worker allocator's purge
 * threshold (1 MiB, runtime/platform.c): freeing chunks needs no purge. */
#define TR_CHUNK_BYTES ((size_t)256 << 10)

static uint32_t
chunk_blocks(size_t block_size, uint32_t nroles)
{
	size_t n = TR_CHUNK_BYTES / block_size;
	if (n < 64)
		n = 64;
	/* a chunk's ids must fit one range (coro_at's exact division) */
	if (n * nroles > TR_RANGE_MAX_IDS)
		n = TR_RANGE_MAX_IDS / nroles;
	/* and fill whole id groups: a gap between ranges would still cost
	 * scheduler memory per id (pingpong: 1927 blocks a chunk left 6 % of
	 * the ids unused, enough to double the scheduler's arrays at 10^6) */
	size_t step = TR_IDGROUP;
	for (uint32_t r = nroles; step > 1 && !(r & 1); r >>= 1)
		step >>= 1;
	if (n >= step)
		n -= n % step;
	return (uint32_t)n;
}

/* p (*cap items of item bytes) grown to hold need items: the capacity
 * doubles from `first`. Returns the new array and updates *cap and the
 * machine's byte count, or NULL (p and *cap untouched). */
static void *
grow_array(tr_machine *m, void *p, uint32_t *cap, uint32_t need, size_t item, uint32_t first)
{
	if (need <= *cap)
		return p;
	uint32_t n = *cap ? *cap : first;
	while (n < need)
		n *= 2;
	void *q = tr_realloc(m->a, p, (size_t)*cap * item, (size_t)n * item);
	if (q) {
		m->st.bytes += (size_t)(n - *cap) * item;
		*cap = n;
	}
	return q;
}

/* Give a new chunk its ids: nroles per block, from the next multiple of
 * TR_IDGROUP. TR_E_LIMIT past 2^30 ids (the scheduler's bound). */
static tr_status
range_add(tr_machine *m, tr_image_rt *rt, char *chunk, uint32_t *first_id)
{
	uint32_t nids = rt->chunk_blocks * rt->nroles;
	uint32_t first = (m->next_coro + TR_IDGROUP - 1) & ~(TR_IDGROUP - 1);
	if ((uint64_t)first + nids > (1u << 30))
		return TR_E_LIMIT;
	uint32_t end = first + nids;
	uint32_t groups = (end + TR_IDGROUP - 1) >> TR_IDGROUP_BITS;
	tr_idrange *map = grow_array(m, m->idmap, &m->cap_idmap, groups, sizeof *map, 64);
	if (!map)
		return TR_E_NOMEM;
	m->idmap = map;
	tr_idrange r = {
		.co0 = chunk + offsetof(tr_session, co),
		.magic = (((uint64_t)1 << 32) + rt->nroles - 1) / rt->nroles,
		.first_id = first,
		.gap = (uint32_t)(rt->block_size - rt->nroles * sizeof(tr_coro)),
	};
	/* ranges start on a group and never share one (the next starts on the
	 * next multiple of TR_IDGROUP) */
	for (uint32_t g = first >> TR_IDGROUP_BITS; g < groups; g++)
		m->idmap[g] = r;
	m->next_coro = end;
	*first_id = first;
	return TR_OK;
}

/* A new chunk of blocks for rt (the last is used up), with its ids. */
static tr_status
chunk_add(tr_machine *m, tr_image_rt *rt)
{
	void **cs = grow_array(m, rt->chunks, &rt->cap_chunks, rt->nchunks + 1, sizeof *cs, 16);
	if (!cs)
		return TR_E_NOMEM;
	rt->chunks = cs;
	if (!rt->chunk_blocks)
		rt->chunk_blocks = chunk_blocks(rt->block_size, rt->nroles);
	char *chunk = tr_alloc(m->a, rt->block_size * rt->chunk_blocks);
	if (!chunk)
		return TR_E_NOMEM;
	tr_status st = range_add(m, rt, chunk, &rt->chunk_first_id);
	if (st) {
		tr_free(m->a, chunk, rt->block_size * rt->chunk_blocks);
		return st;
	}
	rt->chunks[rt->nchunks++] = chunk;
	rt->chunk_next = chunk;
	rt->chunk_left = rt->chunk_blocks;
	m->st.bytes += rt->block_size * rt->chunk_blocks;
	return TR_OK;
}

/* A block and the first of its scheduler ids (role r's is *idb + r). A
 * block keeps its ids for the machine's life: co[0].id holds the first
 * while the block is free (reap leaves ids alone, open rewrites them with
 * the same values). */
static tr_status
block_get(tr_machine *m, tr_image_rt *rt, tr_session **out, uint32_t *idb)
{
	tr_session *s = rt->free_blocks;
	if (s) {
		rt->free_blocks = *session_link(s);
		*idb = s->co[0].id;
		*out = s;
		return TR_OK;
	}
	if (!rt->chunk_left) {
		tr_status st = chunk_add(m, rt);
		if (st)
			return st;
	}
	s = (tr_session *)rt->chunk_next;
	*idb = rt->chunk_first_id + (rt->chunk_blocks - rt->chunk_left) * rt->nroles;
	s->co[0].id = *idb;
	rt->chunk_next += rt->block_size;
	rt->chunk_left--;
	*out = s;
	return TR_OK;
}

/* Back to the free list (an open that failed after block_get). */
static void
block_put(tr_image_rt *rt, tr_session *s, uint32_t idb)
{
	s->co[0].id = idb;
	*session_link(s) = rt->free_blocks;
	rt->free_blocks = s;
}

/* A handler without on_send or on_choose faults the coroutine that needs
 * one (TR_FAULT_INVOKE): these stand in for the missing functions, so that
 * the interpreter calls without testing for NULL. */
static tr_status
no_send(void *ctx, const tr_effect *e, tr_value *out)
{
	(void)ctx, (void)e, (void)out;
	return TR_E_HANDLER;
}

static tr_status
no_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	(void)ctx, (void)e, (void)labels, (void)n, (void)pick;
	return TR_E_HANDLER;
}

/* Sessions name their handler by a 16-bit index into a table of distinct
 * handler copies: 6 bytes less per session than a pointer. */
static tr_status
handler_intern(tr_machine *m, const tr_handler *user, uint16_t *index)
{
	tr_handler hn = *user;
	const tr_handler *h = &hn;
	if (!hn.on_send)
		hn.on_send = no_send;
	if (!hn.on_choose)
		hn.on_choose = no_choose;
	for (uint32_t i = 0; i < m->nhandlers; i++)
		if (memcmp(m->handlers[i], h, sizeof *h) == 0) {
			*index = (uint16_t)i;
			return TR_OK;
		}
	if (m->nhandlers >= UINT16_MAX)
		return TR_E_LIMIT;
	tr_handler *c = tr_alloc(m->a, sizeof *c);
	if (!c)
		return TR_E_NOMEM;
	tr_handler **hs = tr_realloc(m->a, m->handlers, (size_t)m->nhandlers * sizeof *hs,
	                             (size_t)(m->nhandlers + 1) * sizeof *hs);
	if (!hs) {
		tr_free(m->a, c, sizeof *c);
		return TR_E_NOMEM;
	}
	*c = *h;
	m->handlers = hs;
	*index = (uint16_t)m->nhandlers;
	m->handlers[m->nhandlers++] = c;
	if (c->on_topology)
		m->ntopology++;
	return TR_OK;
}

/* ---- lifecycle ---- */

tr_status
tr_machine_create(const tr_machine_config *cfg, tr_machine **out)
{
	tr_machine_config c;
	if (!out)
		return TR_E_INVALID;
	*out = NULL;
	if (cfg)
		c = *cfg;
	else
		tr_machine_config_default(&c);
	if (c.slice == 0 || c.buffer_capacity == 0 || c.buffer_capacity > 0xFFFF ||
	    (unsigned)c.policy >= TR_POLICY_COUNT_ || (unsigned)c.full_policy > TR_FULL_RESIZE ||
	    (unsigned)c.trace_mode > TR_TRACE_ALL || (unsigned)c.on_fault > TR_ON_FAULT_ABORT)
		return TR_E_INVALID;
	if (c.buffer_max < c.buffer_capacity)
		c.buffer_max = c.buffer_capacity;
	if (c.buffer_max > 0xFFFF)
		c.buffer_max = 0xFFFF;
	if (c.max_sessions == 0)
		c.max_sessions = 1u << 26;
	if (c.max_in_flight == 0)
		c.max_in_flight = 1ull << 28;
	const tr_allocator *a = tr_alloc_or_default(c.allocator);
	tr_machine *m = tr_calloc(a, 1, sizeof *m);
	if (!m)
		return TR_E_NOMEM;
	m->cfg = c;
	m->a = a;
	m->next_id = 1;
	m->pool.free = TR_NIL;
	m->solo = NULL;
	m->timer_free = TR_NIL;
	for (int i = 0; i < TR_WHEEL; i++)
		m->wheel_head[i] = m->wheel_tail[i] = TR_NIL;
	tr_vec_init(&m->trace, sizeof(tr_event));
	tr_vec_init(&m->effects, sizeof(tr_event));
	m->tracing = c.trace_mode != TR_TRACE_OFF;
	m->effect_mode = c.capture_effects ? 1 : 0;
	tr_error_clear(&m->last_error);
	tr_status st = tr_sched_init(&m->sched, c.policy, c.seed, c.priority_aging, a);
	if (st) {
		tr_free(a, m, sizeof *m);
		return st;
	}
	m->st.bytes = sizeof *m;
	*out = m;
	return TR_OK;
}

void
tr_machine_free(tr_machine *m)
{
	if (!m)
		return;
	const tr_allocator *a = m->a;
	for (uint32_t i = 0; i < m->table_cap; i++) {
		tr_session *s = m->table[i] ? ref_session(m, m->table[i]) : NULL;
		if (s && s->has_ext)
			tr_free(a, s->ext, sizeof *s->ext);
	}
	tr_free(a, m->table, (size_t)m->table_cap * sizeof *m->table);
	tr_free(a, m->table_tag, m->table_cap);
	tr_image_rt *rt = m->images;
	while (rt) {
		tr_image_rt *next = rt->next;
		image_rt_free(m, rt);
		rt = next;
	}
	for (uint32_t i = 0; i < m->nhandlers; i++)
		tr_free(a, m->handlers[i], sizeof(tr_handler));
	tr_free(a, m->handlers, (size_t)m->nhandlers * sizeof *m->handlers);
	tr_free(a, m->idmap, (size_t)m->cap_idmap * sizeof *m->idmap);
	tr_free(a, m->pool.e, (size_t)m->pool.cap * sizeof *m->pool.e);
	tr_free(a, m->timers, (size_t)m->ntimers_cap * sizeof *m->timers);
	tr_free(a, m->ing, (size_t)m->ing_cap * sizeof *m->ing);
	tr_free(a, m->rout, (size_t)m->rout_cap * sizeof *m->rout);
	tr_vec_destroy(&m->trace, a);
	tr_vec_destroy(&m->effects, a);
	tr_sched_destroy(&m->sched);
	tr_free(a, m, sizeof *m);
}

/* ---- timers ---- */

static tr_status
timer_add(tr_machine *m, uint64_t deadline, tr_session_id sid, uint32_t role, uint8_t kind)
{
	if (m->timer_free == TR_NIL) {
		uint32_t cap = m->ntimers_cap ? m->ntimers_cap * 2 : 64;
		tr_timer *t = tr_realloc(m->a, m->timers, (size_t)m->ntimers_cap * sizeof *t,
		                         (size_t)cap * sizeof *t);
		if (!t)
			return TR_E_NOMEM;
		for (uint32_t i = m->ntimers_cap; i < cap; i++)
			t[i].next = i + 1 < cap ? i + 1 : TR_NIL;
		m->timer_free = m->ntimers_cap;
		m->timers = t;
		m->ntimers_cap = cap;
	}
	uint32_t i = m->timer_free;
	tr_timer *t = &m->timers[i];
	m->timer_free = t->next;
	t->deadline = deadline;
	t->session = sid;
	t->role = (uint8_t)role;
	t->kind = kind;
	t->next = TR_NIL;
	uint32_t slot = (uint32_t)(deadline % TR_WHEEL);
	if (m->wheel_tail[slot] == TR_NIL)
		m->wheel_head[slot] = i;
	else
		m->timers[m->wheel_tail[slot]].next = i;
	m->wheel_tail[slot] = i;
	m->ntimers++;
	return TR_OK;
}

/* ---- faults and session end ---- */

static void session_close(tr_machine *m, tr_session *s);

static void
coro_terminate(tr_machine *m, tr_coro *c, uint8_t status)
{
	if (m->solo == c) /* its wake-up is void (the scheduler drops a WOKEN one) */
		m->solo = NULL;
	c->status = status;
	c->block = TR_BLOCK_NONE;
	tr_sched_done(&m->sched, c->id);
	m->nlive--;
	tr_session *s = tr_coro_session(c);
	if (--s->nlive == 0)
		session_close(m, s);
}

/* Fault c with kind: trace FAILURE_BRANCH_ENTERED then FAULTED, fail the
 * session (its other live coroutines stop with the same fault recorded as
 * the session's) and fill *f. */
static void
fault_coro(tr_machine *m, tr_coro *c, tr_fault_kind kind, uint32_t pc, tr_fault *f)
{
	tr_session *s = tr_coro_session(c);
	obs(m, TR_EV_FAILURE_BRANCH_ENTERED, s->id, c->role, TR_NIL, TR_NIL, kind, pc);
	obs(m, TR_EV_FAULTED, s->id, c->role, TR_NIL, TR_NIL, kind, pc);
	m->st.faults++;
	if (s->fault_kind == TR_FAULT_NONE) {
		s->fault_kind = (uint8_t)kind;
		s->fault_role = c->role;
	}
	if (f) {
		f->kind = kind;
		f->session = s->id;
		f->role = c->role;
		f->pc = pc;
	}
	c->pc = pc;
	/* stop the session's other coroutines first so that the session closes
	 * exactly once, when its last live coroutine ends */
	for (uint32_t r = 0; r < s->rt->nroles; r++) {
		tr_coro *o = &s->co[r];
		if (o != c && (o->status == TR_CO_READY || o->status == TR_CO_BLOCKED))
			coro_terminate(m, o, TR_CO_FAULTED);
	}
	if (c->status == TR_CO_READY || c->status == TR_CO_BLOCKED)
		coro_terminate(m, c, TR_CO_FAULTED);
}

static void
session_close(tr_machine *m, tr_session *s)
{
	s->status = TR_SESSION_CLOSED;
	if (s->has_ext)
		s->ext->closed_tick = m->tick;
	*session_link(s) = NULL;
	if (m->closed_tail)
		*session_link(m->closed_tail) = s;
	else
		m->closed_head = s;
	m->closed_tail = s;
	m->st.sessions_closed++;
	m->st.sessions_live--;
	obs(m, TR_EV_SESSION_CLOSED, s->id, TR_NIL, TR_NIL, TR_NIL, s->fault_kind, s->messages);
}

/* ---- sessions ---- */

tr_status
tr_machine_prepare(tr_machine *m, const tr_image *img)
{
	if (!m || !img || img->nroles == 0 || img->nroles > TR_MAX_ROLES)
		return TR_E_INVALID;
	tr_image_rt *rt = image_rt_get(m, img);
	if (!rt)
		return TR_E_NOMEM;
	if (!rt->free_blocks && !rt->chunk_left) {
		tr_status st = chunk_add(m, rt);
		if (st)
			return st;
	}
	if (tr_sched_reserve(&m->sched, m->next_coro) != TR_OK ||
	    table_reserve_n(m, rt->chunk_left + 1) != TR_OK ||
	    (!m->pool.cap && !pool_grow(m)))
		return TR_E_NOMEM;
	return TR_OK;
}

tr_status
tr_machine_open_session(tr_machine *m, const tr_image *img, const tr_handler *h,
                        const tr_session_opts *opts, tr_session_id *id)
{
	static const tr_session_opts none = {0};
	if (!m || !img || !h || !id)
		return TR_E_INVALID;
	if (!opts)
		opts = &none;
	if (m->st.sessions_live >= m->cfg.max_sessions)
		return TR_E_LIMIT;
	tr_session_id sid = opts->id ? opts->id : m->next_id;
	if (session_find(m, sid))
		return TR_E_INVALID;
	uint64_t all = img->nroles >= 64 ? ~0ull : ((1ull << img->nroles) - 1);
	uint64_t here = opts->roles_here ? opts->roles_here : all;
	if (here & ~all)
		return TR_E_INVALID;
	if (here != all && !m->has_remote)
		return TR_E_STATE;
	if (opts->full_policy < -1 || opts->full_policy > TR_FULL_RESIZE ||
	    opts->buffer_capacity > 0xFFFF)
		return TR_E_INVALID;

	tr_image_rt *rt = image_rt_get(m, img);
	if (!rt)
		return TR_E_NOMEM;
	uint16_t hidx;
	tr_status hst = handler_intern(m, h, &hidx);
	if (hst)
		return hst;
	if (table_reserve(m))
		return TR_E_NOMEM;
	bool need_ext = opts->progress_within || here != all || opts->priority;
	tr_session_ext *ext = NULL;
	if (need_ext) {
		ext = tr_calloc(m->a, 1, sizeof *ext);
		if (!ext)
			return TR_E_NOMEM;
	}
	/* the block (its scheduler ids come with it) and scheduler slots
	 * before touching anything that cannot be undone */
	tr_session *s = NULL;
	uint32_t idb = 0, r = 0;
	tr_status st = block_get(m, rt, &s, &idb);
	for (; r < img->nroles && !st; r++)
		if (here >> r & 1)
			st = tr_sched_add(&m->sched, idb + r, opts->priority, opts->progress_within != 0);
	if (st) {
		if (s) {
			/* roles before the failed one were added */
			for (uint32_t q = 0; q + 1 < r; q++)
				if (here >> q & 1)
					tr_sched_remove(&m->sched, idb + q);
			block_put(rt, s, idb);
		}
		tr_free(m->a, ext, sizeof *ext);
		return st;
	}

	memset(s, 0, rt->block_size);
	s->id = sid;
	s->rt = rt;
	s->handler = hidx;
	if (ext) {
		s->ext = ext;
		s->has_ext = 1;
	} else {
		s->opened_tick = m->tick;
	}
	s->status = TR_SESSION_OPEN;
	s->full_policy = (uint8_t)(opts->full_policy > 0 ? opts->full_policy : (int)m->cfg.full_policy);
	s->fault_kind = TR_FAULT_NONE;
	if (ext) {
		ext->opened_tick = m->tick;
		ext->progress_within = opts->progress_within;
		ext->last_progress = m->tick;
		ext->roles_here = here;
		ext->priority = opts->priority;
	}
	uint32_t cap = opts->buffer_capacity ? opts->buffer_capacity : m->cfg.buffer_capacity;
	tr_edgebuf *edges = tr_session_edges(s, rt->nroles);
	for (uint32_t e = 0; e < rt->nedges; e++) {
		tr_edgebuf *eb = &edges[e];
		eb->tail = TR_NIL;
		eb->cap = (uint16_t)cap;
		bool from_here = here >> img->edges[e].from & 1;
		bool to_here = here >> img->edges[e].to & 1;
		if (from_here && !to_here) {
			eb->flags = TR_EDGE_REMOTE_SEND;
			eb->credit = (uint16_t)cap;
		} else if (!from_here && to_here) {
			eb->flags = TR_EDGE_REMOTE_RECV;
		} else if (!from_here && !to_here) {
			eb->flags = TR_EDGE_UNUSED;
		}
		if (ext && ext->progress_within)
			eb->flags |= TR_EDGE_WATCHED;
	}
	for (r = 0; r < rt->nroles; r++) {
		tr_coro *c = &s->co[r];
		c->role = (uint8_t)r;
		c->pc = rt->role[r].pc0;
		c->role_state = opts->role_state ? opts->role_state[r] : NULL;
		c->id = idb + r;
		if (!(here >> r & 1)) {
			c->status = TR_CO_ABSENT;
			continue;
		}
		c->status = TR_CO_READY;
		s->nlive++;
		m->nlive++;
		tr_sched_ready(&m->sched, c->id);
	}
	table_insert_raw(m->table, m->table_tag, m->table_cap, session_ref(s), hash32(sid));
	m->nsessions++;
	if (!opts->id && sid >= m->next_id)
		m->next_id = sid + 1;
	else if (opts->id >= m->next_id)
		m->next_id = opts->id + 1;
	m->st.sessions_opened++;
	m->st.sessions_live++;
	if (ext && ext->progress_within)
		timer_add(m, m->tick + ext->progress_within, sid, 0, 1);
	obs(m, TR_EV_SESSION_OPENED, sid, TR_NIL, TR_NIL, img->name, 0, here);
	*id = sid;
	if (s->nlive == 0) /* no role here: nothing to run */
		session_close(m, s);
	return TR_OK;
}

tr_status
tr_machine_cancel(tr_machine *m, tr_session_id id)
{
	if (!m)
		return TR_E_INVALID;
	tr_session *s = session_find(m, id);
	if (!s)
		return TR_E_NOT_FOUND;
	if (s->status != TR_SESSION_OPEN)
		return TR_OK;
	for (uint32_t r = 0; r < s->rt->nroles && s->status == TR_SESSION_OPEN; r++) {
		tr_coro *c = &s->co[r];
		if (c->status == TR_CO_READY || c->status == TR_CO_BLOCKED) {
			fault_coro(m, c, TR_FAULT_CANCELLED, coro_pc(c), NULL);
			break;
		}
	}
	return TR_OK;
}

tr_status
tr_machine_session_status(const tr_machine *m, tr_session_id id, tr_session_status *st)
{
	if (!m || !st)
		return TR_E_INVALID;
	tr_session *s = session_find(m, id);
	if (!s)
		return TR_E_NOT_FOUND;
	*st = (tr_session_status)s->status;
	return TR_OK;
}

tr_status
tr_machine_reap_closed_sessions(tr_machine *m, tr_session_summary *out, size_t max,
                                size_t *n)
{
	if (!m || !n || (!out && max))
		return TR_E_INVALID;
	size_t k = 0;
	while (k < max && m->closed_head) {
		tr_session *s = m->closed_head;
		m->closed_head = *session_link(s);
		if (!m->closed_head)
			m->closed_tail = NULL;
		tr_image_rt *rt = s->rt;
		tr_session_summary *sum = &out[k++];
		memset(sum, 0, sizeof *sum);
		sum->id = s->id;
		sum->image = rt->img;
		sum->status = TR_SESSION_REAPED;
		sum->ok = s->fault_kind == TR_FAULT_NONE;
		sum->messages = s->messages;
		sum->opened_tick = session_opened_tick(s);
		sum->closed_tick = s->has_ext ? s->ext->closed_tick : m->tick;
		sum->fault.kind = (tr_fault_kind)s->fault_kind;
		sum->fault.session = s->fault_kind ? s->id : 0;
		sum->fault.role = s->fault_role;
		/* the faulted coroutine's pc stays where it faulted (fault_coro) */
		sum->fault.pc = s->fault_kind ? s->co[s->fault_role].pc : 0;
		tr_edgebuf *edges = tr_session_edges(s, rt->nroles);
		for (uint32_t e = 0; e < rt->nedges; e++)
			edge_free_all(m, &edges[e]);
		for (uint32_t r = 0; r < rt->nroles; r++) {
			tr_coro *c = &s->co[r];
			if (c->status != TR_CO_ABSENT)
				tr_sched_remove(&m->sched, c->id);
		}
		table_remove(m, s);
		if (s->has_ext)
			tr_free(m->a, s->ext, sizeof *s->ext);
		s->id = 0;
		block_put(rt, s, s->co[0].id);
		m->st.sessions_reaped++;
	}
	*n = k;
	return TR_OK;
}

tr_status
tr_machine_set_timeout(tr_machine *m, tr_session_id id, uint32_t role, uint64_t ticks)
{
	if (!m)
		return TR_E_INVALID;
	tr_session *s = session_find(m, id);
	if (!s)
		return TR_E_NOT_FOUND;
	if (role >= s->rt->nroles || ticks == 0 || s->co[role].status == TR_CO_ABSENT)
		return TR_E_INVALID;
	return timer_add(m, m->tick + ticks, id, role, 0);
}

/* ---- ingress ---- */

static TR_ALWAYS_INLINE void
ingress_put(tr_machine *m, tr_session_id id, uint32_t from, uint32_t to, uint32_t label,
            uint32_t kind, uint64_t bits)
{
	/* ing_cap is a power of two */
	tr_ingress *g = &m->ing[(m->ing_head + m->ing_len++) & (m->ing_cap - 1)];
	g->id = id;
	g->bits = bits;
	g->label = label;
	g->tag = 0;
	g->from = (uint8_t)from;
	g->to = (uint8_t)to;
	g->kind = (uint8_t)kind;
}

/* Grow the ingress FIFO to hold `need` more. Out of line, so that inject,
 * which every cross-worker message passes, stays a leaf. */
static __attribute__((noinline)) tr_status
ingress_grow(tr_machine *m, uint64_t need)
{
	uint64_t want = (uint64_t)m->ing_len + need;
	uint32_t cap = m->ing_cap ? m->ing_cap : 256;
	while (cap < want) {
		if (cap >= (1u << 31))
			return TR_E_NOMEM;
		cap *= 2;
	}
	tr_ingress *q = tr_alloc(m->a, (size_t)cap * sizeof *q);
	if (!q)
		return TR_E_NOMEM;
	for (uint32_t i = 0; i < m->ing_len; i++)
		q[i] = m->ing[(m->ing_head + i) & (m->ing_cap - 1)];
	tr_free(m->a, m->ing, (size_t)m->ing_cap * sizeof *q);
	m->ing = q;
	m->ing_cap = cap;
	m->ing_head = 0;
	return TR_OK;
}

static TR_ALWAYS_INLINE bool
ingress_valid(uint32_t from, uint32_t to, uint32_t label, uint32_t kind)
{
	return kind < TR_SORT_KIND_COUNT_ && label < (1u << TR_LABEL_BITS) &&
	       (from | to) < TR_MAX_ROLES;
}

tr_status
tr_machine_inject(tr_machine *m, tr_session_id id, uint32_t from, uint32_t to,
                  uint32_t label, tr_value v)
{
	if (TR_UNLIKELY(!m || !ingress_valid(from, to, label, v.kind)))
		return TR_E_INVALID;
	if (TR_UNLIKELY(m->ing_len == m->ing_cap)) {
		tr_status st = ingress_grow(m, 1);
		if (st)
			return st;
	}
	ingress_put(m, id, from, to, label, v.kind, v.bits);
	return TR_OK;
}

static uint32_t deliver_records(tr_machine *m, const tr_ingress *base, uint32_t head,
                                uint32_t mask, uint32_t n);

/* May a batch be delivered at once instead of at the next round's step 3?
 * Only when nothing could tell the difference: no round is running (a
 * handler may inject), nothing is queued before it (arrival order), no
 * topology handler (its events of the next tick would come first), no
 * effect capture or replay (they record or replay step 3) and no
 * observable trace (a DROPPED event would carry this tick). Then step 3 of
 * the next round would find the same sessions and edges (no round runs in
 * between) and append the same wake-ups after the same earlier ones. */
static inline bool
ingress_at_once(const tr_machine *m)
{
	return !m->in_round && m->ing_len == 0 && m->ntopology == 0 && m->effect_mode == 0 &&
	       !m->tracing;
}

tr_status
tr_machine_inject_batch(tr_machine *m, const tr_ingress_msg *v, size_t n, size_t *queued)
{
	if (queued)
		*queued = 0;
	if (!m || (!v && n))
		return TR_E_INVALID;
	if (ingress_at_once(m) && n <= UINT32_MAX) {
		uint32_t bad = deliver_records(m, v, 0, UINT32_MAX, (uint32_t)n);
		if (queued)
			*queued = n - bad;
		return bad ? TR_E_INVALID : TR_OK;
	}
	if (TR_UNLIKELY((uint64_t)m->ing_cap - m->ing_len < n)) {
		tr_status st = ingress_grow(m, n);
		if (st)
			return st;
	}
	size_t done = 0;
	for (size_t i = 0; i < n; i++) {
		const tr_ingress_msg *g = &v[i];
		if (TR_UNLIKELY(!ingress_valid(g->from, g->to, g->label, g->kind))) {
			m->st.messages_dropped++;
			continue;
		}
		ingress_put(m, g->id, g->from, g->to, g->label, g->kind, g->bits);
		done++;
	}
	if (queued)
		*queued = done;
	return done == n ? TR_OK : TR_E_INVALID;
}

tr_status
tr_machine_set_remote(tr_machine *m, const tr_remote_ops *ops)
{
	if (!m || !ops || !(ops->send || ops->send_batch) || !ops->credit)
		return TR_E_INVALID;
	if (m->nsessions)
		return TR_E_STATE;
	m->remote = *ops;
	m->has_remote = true;
	return TR_OK;
}

static inline tr_edgebuf *
find_edge(tr_session *s, uint32_t from, uint32_t to, uint32_t *index)
{
	const tr_image_rt *rt = s->rt;
	uint32_t n = rt->nroles;
	if (from >= n || to >= n)
		return NULL;
	uint32_t e = rt->edge_of[from * n + to];
	if (e == UINT16_MAX)
		return NULL;
	if (index)
		*index = e;
	return &tr_session_edges(s, n)[e];
}

tr_status
tr_machine_add_credit(tr_machine *m, tr_session_id id, uint32_t from, uint32_t to, uint32_t n)
{
	if (!m)
		return TR_E_INVALID;
	tr_session *s = session_find(m, id);
	if (!s)
		return TR_E_NOT_FOUND;
	uint32_t ei;
	tr_edgebuf *e = find_edge(s, from, to, &ei);
	if (!e || !(e->flags & TR_EDGE_REMOTE_SEND))
		return TR_E_INVALID;
	uint32_t c = e->credit + n;
	e->credit = (uint16_t)(c > e->cap ? e->cap : c);
	tr_coro *snd = &s->co[from];
	if (snd->status == TR_CO_BLOCKED && snd->block == TR_BLOCK_CREDIT && snd->block_edge == ei)
		wake(m, snd, true);
	return TR_OK;
}

/* Deliver one ingress message (step 3) to s, the session the table holds
 * for g->id (NULL: none). A message for a reaped or unknown session,
 * an unused edge or a full buffer is dropped and counted; one whose label
 * the receiver can never accept faults it when it receives. */
static TR_ALWAYS_INLINE void
deliver_ingress_to(tr_machine *m, const tr_ingress *g, tr_session *s, tr_edgebuf *e)
{
	if (TR_UNLIKELY(m->effect_mode == 1)) {
		tr_event ev = {m->tick, g->id, TR_EV_EFF_INGRESS, g->from, g->to, g->label, g->kind,
		               0, g->bits};
		effect_push(m, &ev);
	}
	/* an edge whose receiver is not here is UNUSED or REMOTE_SEND */
	if (TR_UNLIKELY(!s || s->status != TR_SESSION_OPEN || !e ||
	                (e->flags & (TR_EDGE_UNUSED | TR_EDGE_REMOTE_SEND)) || e->count >= e->cap)) {
		m->st.messages_dropped++;
		obs(m, TR_EV_DROPPED, g->id, g->from, g->to, g->label, 0, g->bits);
		return;
	}
	if (TR_UNLIKELY(!edge_put(m, e, TR_LK(g->label, g->kind), g->bits))) {
		m->st.messages_dropped++;
		return;
	}
	m->pool.adjust++;
	if (e->flags & TR_EDGE_WAIT_RECV) {
		e->flags &= (uint8_t)~TR_EDGE_WAIT_RECV;
		wake(m, &s->co[g->to], false);
	}
}

static __attribute__((noinline)) void
deliver_ingress(tr_machine *m, const tr_ingress *g)
{
	tr_session *s = session_find(m, g->id);
	deliver_ingress_to(m, g, s, s ? find_edge(s, g->from, g->to, NULL) : NULL);
}

/* ---- topology ---- */

static void
apply_topology(tr_machine *m, const tr_topology_event *ev)
{
	tr_session *s = session_find(m, ev->session);
	obs(m, TR_EV_TOPOLOGY, ev->session, ev->role, ev->peer, TR_NIL, ev->kind, ev->ticks);
	if (!s || s->status != TR_SESSION_OPEN || ev->role >= s->rt->nroles)
		return;
	tr_coro *c = &s->co[ev->role];
	switch (ev->kind) {
	case TR_TOPO_CRASH:
		if (c->status == TR_CO_READY || c->status == TR_CO_BLOCKED)
			fault_coro(m, c, TR_FAULT_TOPOLOGY, coro_pc(c), NULL);
		break;
	case TR_TOPO_PARTITION:
	case TR_TOPO_HEAL: {
		uint32_t ei;
		tr_edgebuf *e = find_edge(s, ev->role, ev->peer, &ei);
		if (!e)
			break;
		if (ev->kind == TR_TOPO_PARTITION) {
			e->flags |= TR_EDGE_PARTITIONED;
			break;
		}
		e->flags &= (uint8_t)~TR_EDGE_PARTITIONED;
		tr_coro *rc = &s->co[ev->peer];
		if (e->count && rc->status == TR_CO_BLOCKED && rc->block == TR_BLOCK_RECV &&
		    rc->block_edge == ei)
			wake(m, rc, false);
		break;
	}
	case TR_TOPO_TIMEOUT:
		if (ev->ticks && c->status != TR_CO_ABSENT)
			timer_add(m, m->tick + ev->ticks, s->id, ev->role, 0);
		break;
	default:
		break;
	}
}

#define TR_TOPO_MAX 64

/* Step 3, first half: ask each handler that reports topology for this
 * tick's events (or take them from the replayed trace), then apply them in
 * kind order, stable within a kind. */
static void
ingress_topology(tr_machine *m)
{
	tr_topology_event evs[TR_TOPO_MAX];
	uint32_t n = 0;
	if (m->effect_mode == 2) {
		size_t total = tr_trace_count(m->replay);
		const tr_event *ev = tr_trace_events(m->replay);
		while (m->replay_pos < total && n < TR_TOPO_MAX && ev[m->replay_pos].kind == TR_EV_EFF_TOPOLOGY &&
		       ev[m->replay_pos].tick == m->tick) {
			const tr_event *e = &ev[m->replay_pos++];
			evs[n].kind = e->aux;
			evs[n].session = e->session;
			evs[n].role = e->role;
			evs[n].peer = e->peer;
			evs[n].ticks = e->value;
			n++;
		}
	} else {
		for (uint32_t i = 0; i < m->nhandlers && n < TR_TOPO_MAX; i++) {
			const tr_handler *h = m->handlers[i];
			if (!h->on_topology)
				continue;
			uint32_t got = h->on_topology(h->ctx, m->tick, evs + n, TR_TOPO_MAX - n);
			n += got > TR_TOPO_MAX - n ? TR_TOPO_MAX - n : got;
		}
		if (m->effect_mode == 1)
			for (uint32_t i = 0; i < n; i++) {
				tr_event e = {m->tick, evs[i].session, TR_EV_EFF_TOPOLOGY, evs[i].role,
				              evs[i].peer, TR_NIL, evs[i].kind, 0, evs[i].ticks};
				effect_push(m, &e);
			}
	}
	for (uint32_t kind = TR_TOPO_CRASH; kind <= TR_TOPO_TIMEOUT && n; kind++)
		for (uint32_t i = 0; i < n; i++)
			if (evs[i].kind == kind)
				apply_topology(m, &evs[i]);
}

/* Deliver the n records base[(head + i) & mask], i < n, in order (step 3,
 * or at once: tr_machine_inject_batch). A record tr_machine_inject would
 * reject is skipped and counted as dropped; returns how many were.
 *
 * Deliveries cannot enqueue more, nor open or close sessions, so every
 * lookup can be done ahead of its delivery. Each delivery touches a
 * session that is usually out of cache (sessions of other workers' roles
 * come in any order), so the records go in chunks of up to 32, each chunk
 * in four passes, each pass once per record and a chunk's length ahead of
 * the next pass:
 *   1. hash the id, prefetch its table slot;
 *   2. find the slot (its lines have arrived), prefetch the session;
 *   3. check the session's id, prefetch the receiving edge;
 *   4. deliver, in arrival order.
 * A pass that finds nothing leaves NULL; delivery then looks the id up
 * itself, so the passes change only what is in cache, never what is
 * delivered. */
static uint32_t
deliver_records(tr_machine *m, const tr_ingress *base, uint32_t head, uint32_t mask, uint32_t n)
{
	enum { CH = 32 };
	uint32_t hv[CH];
	tr_session *sv[CH];
	tr_edgebuf *ev[CH];
	uint32_t nbad = 0;

	for (uint32_t at = 0; at < n; at += CH) {
		uint32_t k = n - at < CH ? n - at : CH;
		uint32_t bad = 0; /* bit i: record i is not a valid message */
#define REC(i) (&base[(head + at + (i)) & mask])
		if (m->table_cap) {
			uint32_t tmask = m->table_cap - 1;
			for (uint32_t i = 0; i < k; i++) {
				uint32_t h = hash32(REC(i)->id);
				hv[i] = h;
				__builtin_prefetch(&m->table[h & tmask]);
				__builtin_prefetch(&m->table_tag[h & tmask]);
			}
			for (uint32_t i = 0; i < k; i++) {
				tr_session *p = session_guess_h(m, hv[i]);
				sv[i] = p;
				if (p)
					__builtin_prefetch(p);
			}
		} else {
			for (uint32_t i = 0; i < k; i++)
				sv[i] = NULL;
		}
		for (uint32_t i = 0; i < k; i++) {
			const tr_ingress *g = REC(i);
			tr_session *p = sv[i];
			tr_edgebuf *e = NULL;
			bad |= (uint32_t)!ingress_valid(g->from, g->to, g->label, g->kind) << i;
			if (p && p->id == g->id) {
				e = find_edge(p, g->from, g->to, NULL);
				if (e)
					__builtin_prefetch(e, 1);
			} else {
				sv[i] = NULL;
			}
			ev[i] = e;
		}
		for (uint32_t i = 0; i < k; i++) {
			if (TR_UNLIKELY(bad >> i & 1)) {
				m->st.messages_dropped++;
				nbad++;
			} else if (sv[i]) {
				deliver_ingress_to(m, REC(i), sv[i], ev[i]);
			} else {
				deliver_ingress(m, REC(i));
			}
		}
#undef REC
	}
	return nbad;
}

static void
ingress_messages(tr_machine *m)
{
	if (m->effect_mode == 2) {
		/* the recorded deliveries of this tick replace the live queue */
		size_t total = tr_trace_count(m->replay);
		const tr_event *ev = tr_trace_events(m->replay);
		while (m->replay_pos < total && ev[m->replay_pos].kind == TR_EV_EFF_INGRESS &&
		       ev[m->replay_pos].tick == m->tick) {
			const tr_event *e = &ev[m->replay_pos++];
			tr_ingress g = {.id = e->session, .bits = e->value, .label = e->label,
			                .from = (uint8_t)e->role, .to = (uint8_t)e->peer,
			                .kind = (uint8_t)e->aux};
			deliver_ingress(m, &g);
		}
		return;
	}
	uint32_t n = m->ing_len, mask = m->ing_cap - 1, head = m->ing_head;
	(void)deliver_records(m, m->ing, head, mask, n); /* validated when queued */
	m->ing_head = (head + n) & mask;
	m->ing_len -= n;
}

/* ---- timers: steps 4 and 6 ---- */

/* Fire the timers of kind `kind` due at this tick. Timers of the other kind
 * in the same slot stay, in order. */
static void
expire_timers(tr_machine *m, uint8_t kind)
{
	if (!m->ntimers)
		return;
	uint32_t slot = (uint32_t)(m->tick % TR_WHEEL);
	uint32_t i = m->wheel_head[slot], prev = TR_NIL;
	while (i != TR_NIL) {
		tr_timer *t = &m->timers[i];
		uint32_t next = t->next;
		if (t->kind != kind || t->deadline > m->tick) {
			prev = i;
			i = next;
			continue;
		}
		/* unlink and free before acting: acting may add timers */
		if (prev == TR_NIL)
			m->wheel_head[slot] = next;
		else
			m->timers[prev].next = next;
		if (m->wheel_tail[slot] == i)
			m->wheel_tail[slot] = prev;
		tr_timer t_copy = *t;
		t->next = m->timer_free;
		m->timer_free = i;
		m->ntimers--;
		i = next;

		tr_session *s = session_find(m, t_copy.session);
		if (!s || s->status != TR_SESSION_OPEN)
			continue;
		if (kind == 0) {
			tr_coro *c = &s->co[t_copy.role];
			if (coro_waiting(m, c)) {
				obs(m, TR_EV_TIMEOUT, s->id, c->role, TR_NIL, TR_NIL, 0, t_copy.deadline);
				fault_coro(m, c, TR_FAULT_TIMEOUT, coro_pc(c), NULL);
			}
		} else if (s->has_ext) {
			uint64_t due = s->ext->last_progress + s->ext->progress_within;
			if (due <= m->tick) {
				for (uint32_t r = 0; r < s->rt->nroles; r++) {
					tr_coro *c = &s->co[r];
					if (c->status == TR_CO_READY || c->status == TR_CO_BLOCKED) {
						fault_coro(m, c, TR_FAULT_NO_PROGRESS, coro_pc(c), NULL);
						break;
					}
				}
			} else {
				timer_add(m, due, s->id, 0, 1);
			}
		}
	}
}

/* ---- the interpreter ---- */

enum { /* run_slice outcomes */
	OUT_CONTINUE = 0,
	OUT_YIELD,
	OUT_BLOCKED,
	OUT_HALTED,
	OUT_FAULT,
	OUT_STUCK, /* fused: the round after the slice's found nothing to run */
};

/* ---- remote hand-off (tr_remote_ops.send_batch) ---- */

/* Room for more staged remote messages: compact what was handed over,
 * else double. False when memory runs out. */
static __attribute__((noinline)) bool
rout_grow(tr_machine *m)
{
	if (m->rout_head > 0) {
		memmove(m->rout, m->rout + m->rout_head,
		        (size_t)(m->rout_len - m->rout_head) * sizeof *m->rout);
		m->rout_len -= m->rout_head;
		m->rout_head = 0;
		if (m->rout_len < m->rout_cap)
			return true;
	}
	uint32_t cap = m->rout_cap ? m->rout_cap * 2 : 256;
	if (cap <= m->rout_cap)
		return false;
	tr_ingress_msg *v = tr_realloc(m->a, m->rout, (size_t)m->rout_cap * sizeof *v,
	                               (size_t)cap * sizeof *v);
	if (!v)
		return false;
	m->rout = v;
	m->rout_cap = cap;
	return true;
}

/* Hand the staged remote messages over, in order; what the driver does not
 * take stays for the next call. */
static void
rout_flush(tr_machine *m)
{
	uint32_t n = m->rout_len - m->rout_head;
	if (n == 0)
		return;
	size_t took = m->remote.send_batch(m->remote.ctx, m->rout + m->rout_head, n);
	if (took > n)
		took = n;
	m->rout_head += (uint32_t)took;
	if (m->rout_head == m->rout_len)
		m->rout_head = m->rout_len = 0;
}

static TR_ALWAYS_INLINE void
progress(tr_session *s, uint64_t tick)
{
	if (TR_UNLIKELY(s->has_ext))
		s->ext->last_progress = tick;
}

/* Make room check for a send on edge e (not remote). Returns 0 when the
 * send may go on, OUT_BLOCKED, or OUT_FAULT with *fk set; *drop set when
 * the DROP policy swallows the message. */
static int
full_edge(tr_machine *m, tr_session *s, tr_edgebuf *e, bool *drop, tr_fault_kind *fk)
{
	switch (s->full_policy) {
	case TR_FULL_DROP:
		*drop = true;
		return 0;
	case TR_FULL_ERROR:
		*fk = TR_FAULT_BUFFER_FULL;
		return OUT_FAULT;
	case TR_FULL_RESIZE:
		if (e->cap < m->cfg.buffer_max) {
			uint32_t c = (uint32_t)e->cap * 2;
			e->cap = (uint16_t)(c > m->cfg.buffer_max ? m->cfg.buffer_max : c);
			return 0;
		}
		return OUT_BLOCKED;
	default:
		return OUT_BLOCKED;
	}
}

/* Put (lk, bits) on edge ei of s from coroutine c to role `to`: local
 * enqueue (waking a waiting receiver) or a remote hand-off. Room/credit was
 * checked. */
static TR_ALWAYS_INLINE int
put_message(tr_machine *m, tr_session *s, tr_coro *c, tr_edgebuf *e, uint32_t to,
            uint32_t lk, uint64_t bits, bool remote, tr_fault_kind *fk)
{
	if (TR_UNLIKELY(remote)) {
		if (TR_LIKELY(m->remote.send_batch != NULL)) {
			if (TR_UNLIKELY(m->rout_len == m->rout_cap) && !rout_grow(m)) {
				*fk = TR_FAULT_CHANNEL_CLOSED;
				return OUT_FAULT;
			}
			tr_ingress_msg *r = &m->rout[m->rout_len++];
			r->id = s->id;
			r->bits = bits;
			r->label = TR_LK_LABEL(lk);
			r->tag = 0;
			r->from = c->role;
			r->to = (uint8_t)to;
			r->kind = (uint8_t)TR_LK_KIND(lk);
		} else {
			tr_value v = {TR_LK_KIND(lk), bits};
			if (m->remote.send(m->remote.ctx, s->id, c->role, to,
			                   TR_LK_LABEL(lk), v)) {
				*fk = TR_FAULT_CHANNEL_CLOSED;
				return OUT_FAULT;
			}
		}
		e->credit--;
		m->pool.adjust--; /* counted in messages_sent, not buffered */
		return 0;
	}
	if (TR_UNLIKELY(!edge_put(m, e, lk, bits))) {
		*fk = TR_FAULT_BUFFER_FULL;
		return OUT_FAULT;
	}
	if (e->flags & TR_EDGE_WAIT_RECV) {
		e->flags &= (uint8_t)~TR_EDGE_WAIT_RECV;
		wake(m, &s->co[to], false);
	}
	return 0;
}

/* After a dequeue on edge ei (sender: role `from`): wake a sender waiting
 * for room, or owe the remote sender a credit; a watched session (or a
 * remote one: it has an ext too) notes progress. One test of the flags
 * for the common receive, which needs none of it. */
static __attribute__((noinline)) void
took_message_slow(tr_machine *m, tr_session *s, tr_edgebuf *e, uint32_t ei, uint32_t from)
{
	if (e->flags & (TR_EDGE_REMOTE_RECV | TR_EDGE_WATCHED)) {
		progress(s, m->tick);
		if (e->flags & TR_EDGE_REMOTE_RECV) {
			uint32_t batch = m->remote.credit_batch ? m->remote.credit_batch
			                                        : ((uint32_t)e->cap + 1) / 2;
			if (++e->credit >= batch) {
				const tr_edge *ed = &s->rt->img->edges[ei];
				m->remote.credit(m->remote.ctx, s->id, ed->from, ed->to, e->credit);
				e->credit = 0;
			}
			return;
		}
	}
	if (e->flags & TR_EDGE_WAIT_SEND) {
		e->flags &= (uint8_t)~TR_EDGE_WAIT_SEND;
		wake(m, &s->co[from], true);
	}
}

static TR_ALWAYS_INLINE void
took_message(tr_machine *m, tr_session *s, tr_edgebuf *e, uint32_t ei, uint32_t from)
{
	if (TR_UNLIKELY(e->flags & (TR_EDGE_REMOTE_RECV | TR_EDGE_WATCHED | TR_EDGE_WAIT_SEND)))
		took_message_slow(m, s, e, ei, from);
}

/* room's answers when the send may go on (an outcome, when it may not, is
 * positive). REMOTE_SEND is fixed when the session opens, so the answer
 * also tells emit which way the message goes. */
enum {
	ROOM_LOCAL = 0,   /* enqueue here */
	ROOM_DROP = -1,   /* full under the DROP policy: the message is dropped */
	ROOM_REMOTE = -2, /* hand off (a credit is there) */
};

/* Room for one more message on e? ROOM_LOCAL, ROOM_DROP or ROOM_REMOTE when
 * the send may go on; else an outcome (blocked with c->block set, or
 * fault). */
static TR_ALWAYS_INLINE int
room_local(tr_machine *m, tr_session *s, tr_coro *c, tr_edgebuf *e, uint32_t ei,
           tr_fault_kind *fk)
{
	if (TR_LIKELY(e->count < e->cap))
		return ROOM_LOCAL;
	bool drop = false;
	int o = full_edge(m, s, e, &drop, fk);
	if (o == OUT_BLOCKED) {
		c->block = TR_BLOCK_SEND;
		c->block_edge = (uint16_t)ei;
		e->flags |= TR_EDGE_WAIT_SEND;
	}
	return drop ? ROOM_DROP : o;
}

/* room for a remote or watched edge. A watched session's clock of
 * progress moves here, when the send is allowed to go on: before on_send,
 * so a send whose handler then fails also counts (the coroutine faults). */
static int
room_slow(tr_machine *m, tr_session *s, tr_coro *c, tr_edgebuf *e, uint32_t ei,
          tr_fault_kind *fk)
{
	int how;
	if (e->flags & TR_EDGE_REMOTE_SEND) {
		if (!e->credit) {
			c->block = TR_BLOCK_CREDIT;
			c->block_edge = (uint16_t)ei;
			return OUT_BLOCKED;
		}
		how = ROOM_REMOTE;
	} else {
		how = room_local(m, s, c, e, ei, fk);
	}
	if (how <= 0)
		progress(s, m->tick);
	return how;
}

static TR_ALWAYS_INLINE int
room(tr_machine *m, tr_session *s, tr_coro *c, tr_edgebuf *e, uint32_t ei, tr_fault_kind *fk)
{
	if (TR_UNLIKELY(e->flags & (TR_EDGE_REMOTE_SEND | TR_EDGE_WATCHED)))
		return room_slow(m, s, c, e, ei, fk);
	return room_local(m, s, c, e, ei, fk);
}

/* Hide p's value from the compiler: what it knew about *p before (fields
 * already loaded into registers) it must load again. Used after a handler
 * call so that the instruction's operands are read again from the code
 * (in cache, never written) instead of being kept across the call, where
 * they would take a store and a load each (the call clobbers their
 * registers). */
#if defined(__GNUC__)
#define TR_RELOAD(p) __asm__("" : "+r"(p))
#else
#define TR_RELOAD(p) ((void)0)
#endif

/* The edge of instruction in, for coroutine c (tr_dinsn.eoff). */
static TR_ALWAYS_INLINE tr_edgebuf *
edge_of_insn(tr_coro *c, const tr_dinsn *in)
{
	return (tr_edgebuf *)((char *)c + in->eoff);
}

/* Write register roff (tr_dinsn.roff) of coroutine c; roff 0: the role
 * keeps no registers. */
static TR_ALWAYS_INLINE void
reg_set(tr_coro *c, int32_t roff, uint64_t v)
{
	if (roff)
		*(uint64_t *)((char *)c + roff) = v;
}

/* The common part of SEND and OFFER once there is room: ask on_send for a
 * payload when the sort has one (its kind checked against the local
 * type), trace, then enqueue (or hand off, or drop under DROP). `op`
 * gives the edge, peer, label (a), sort kind, TR_LK (b) and register
 * (eoff, roff): SEND's own instruction, or OFFER's picked branch. A message
 * sent counts in *nsent (the slice's count, slice_flush). Returns 0 or an
 * outcome with *fk set. tracing and emode are the slice's copies of
 * m->tracing and m->effect_mode. */
static TR_ALWAYS_INLINE int
emit(tr_machine *m, bool tracing, uint8_t emode, tr_session *s, tr_coro *c,
     const tr_handler *h, tr_effect *eff, const tr_dinsn *op, bool drop, bool remote,
     uint64_t *nsent, uint32_t ev, tr_fault_kind *fk)
{
	uint64_t bits = 0;
	if (op->kind != TR_VAL_UNIT) {
		tr_value v;
		tr_status st = eff_send(m, emode, s, h, eff, op->peer, op->a, op->kind, &v);
		TR_RELOAD(op);
		if (TR_UNLIKELY(st != TR_OK || v.kind != op->kind)) {
			*fk = st == TR_E_REPLAY_MISMATCH ? TR_FAULT_REPLAY_MISMATCH
			      : st ? TR_FAULT_INVOKE : TR_FAULT_TYPE_VIOLATION;
			return OUT_FAULT;
		}
		bits = v.bits;
		reg_set(c, op->roff, bits);
	}
	obs_if(tracing, m, drop ? TR_EV_DROPPED : ev, s->id, c->role, op->peer, op->a, op->kind,
	       bits);
	if (TR_UNLIKELY(drop)) {
		m->st.messages_dropped++;
	} else {
		int o = put_message(m, s, c, edge_of_insn(c, op), op->peer, op->b, bits, remote, fk);
		if (TR_UNLIKELY(o))
			return o;
		(*nsent)++;
	}
	return 0;
}

/* emit after room answered `how` (ROOM_*): each way is its own copy of
 * emit, so that the common one (local) has no drop or remote test left. */
static TR_ALWAYS_INLINE int
emit_as(int how, tr_machine *m, bool tracing, uint8_t emode, tr_session *s, tr_coro *c,
        const tr_handler *h, tr_effect *eff, const tr_dinsn *op, uint64_t *nsent,
        uint32_t ev, tr_fault_kind *fk)
{
	if (TR_LIKELY(how == ROOM_LOCAL))
		return emit(m, tracing, emode, s, c, h, eff, op, false, false, nsent, ev, fk);
	if (how == ROOM_REMOTE)
		return emit(m, tracing, emode, s, c, h, eff, op, false, true, nsent, ev, fk);
	return emit(m, tracing, emode, s, c, h, eff, op, true, false, nsent, ev, fk);
}

/* The common start of RECEIVE and CHOOSE: when edge ei has nothing to
 * deliver (empty, or partitioned) mark c blocked on it and return false;
 * else take the first entry into *en (freeing room: a waiting sender, role
 * `from`, is woken, a remote one owed a credit). */
static TR_ALWAYS_INLINE bool
take(tr_machine *m, tr_session *s, tr_coro *c, tr_edgebuf *e, uint32_t ei, uint32_t from,
     tr_entry *en, uint64_t *nrecv)
{
	if (TR_UNLIKELY(!e->count || (e->flags & TR_EDGE_PARTITIONED))) {
		c->block = TR_BLOCK_RECV;
		c->block_edge = (uint16_t)ei;
		e->flags |= TR_EDGE_WAIT_RECV;
		return false;
	}
	edge_take(m, e, en);
	(*nrecv)++; /* taken, even when it then faults */
	took_message(m, s, e, ei, from);
	return true;
}

/* A CHOOSE found no branch for its message's label and kind: which of the
 * two is wrong. */
static tr_fault_kind
choose_fault(const tr_image_rt *rt, const tr_dinsn *insn, uint32_t label)
{
	for (uint32_t k = 0; k < insn->b; k++)
		if (rt->labels[insn->a + k] == label)
			return TR_FAULT_TYPE_VIOLATION;
	return TR_FAULT_UNKNOWN_LABEL;
}

/* The common end of RECEIVE and CHOOSE once the message was checked:
 * count it, note progress, trace, and hand a payload to the register and
 * to on_recv. Returns 0, or OUT_FAULT with *fk set. */
static TR_ALWAYS_INLINE int
accept(tr_machine *m, bool tracing, uint8_t emode, tr_session *s, tr_coro *c,
       const tr_handler *h, tr_effect *eff, uint32_t peer, uint32_t label, uint32_t kind,
       uint64_t bits, int32_t roff, uint32_t ev, tr_fault_kind *fk)
{
	if (kind == TR_VAL_UNIT) {
		/* the value of an inline Unit message is not its own (edge_take) */
		obs_if(tracing, m, ev, s->id, c->role, peer, label, kind, 0);
		return 0;
	}
	obs_if(tracing, m, ev, s->id, c->role, peer, label, kind, bits);
	reg_set(c, roff, bits);
	tr_status st = eff_recv(m, emode, s, h, eff, peer, label, kind, bits);
	if (TR_LIKELY(st == TR_OK))
		return 0;
	*fk = st == TR_E_REPLAY_MISMATCH ? TR_FAULT_REPLAY_MISMATCH : TR_FAULT_INVOKE;
	return OUT_FAULT;
}

/* Before a slice, ask for the line of the coroutine the next pick would
 * give, which with many sessions is out of cache: the slice hides the
 * miss. (With few sessions everything is in cache and the lookup is not
 * free: about 2 % of a pingpong round trip.) */
static TR_ALWAYS_INLINE void
prefetch_next(const tr_machine *m)
{
	if (m->nsessions > TR_PREFETCH_MIN_SESSIONS) {
		uint32_t next = tr_sched_peek_hint(&m->sched);
		if (next != TR_SCHED_NONE)
			__builtin_prefetch(coro_at(m, next));
	}
}

/* Step 10 for a slice that blocked: coroutine c (session s, scheduler id
 * id) waits for the reason it set in c->block. */
static TR_ALWAYS_INLINE void
coro_blocked(tr_machine *m, bool tracing, tr_session *s, tr_coro *c, uint32_t id)
{
	c->status = TR_CO_BLOCKED;
	tr_sched_park(&m->sched, id); /* the slice's coroutine is RUNNING */
	obs_if(tracing, m, TR_EV_BLOCKED, s->id, c->role, TR_NIL, TR_NIL, c->block, c->block_edge);
}

/* Fused rounds (run_slice's `more`). The slice of coroutine c (scheduler
 * id id) has ended with `out`, BLOCKED, CONTINUE or YIELD. When steps 3,
 * 4 and 6 have nothing to do (hold: nothing queued or armed, no replay),
 * the rest of this round (steps 10 and 11) and steps 1 to 8 of the next
 * depend on the wake lists and the scheduler only: fuse_handoff and
 * fuse_general do them and return the coroutine the next round runs, so
 * that the interpreter goes on without returning. A chain of rounds (a
 * pingpong, a ring lap, a batch of sessions) then costs one call, not one
 * per round, and the same rounds happen in the same order
 * (test_determinism checks it). */

/* The common case, the hand-off: c blocked (hold is 0), exactly one
 * coroutine was woken (the solo), and nothing is ready. Their scheduler
 * states swap and every count stays (c's blocked count goes up, n's
 * down). Returns n, or NULL with nothing done. */
static TR_ALWAYS_INLINE tr_coro *
fuse_handoff(tr_machine *m, bool tracing, tr_session *s, tr_coro *c, uint32_t id)
{
	tr_coro *n = m->solo;
	if (!n || !tr_sched_switch(&m->sched, id, n->id))
		return NULL;
	m->solo = NULL;
	c->status = TR_CO_BLOCKED;
	obs_if(tracing, m, TR_EV_BLOCKED, s->id, c->role, TR_NIL, TR_NIL, c->block,
	       c->block_edge);
	m->tick++;
	return n; /* READY since its wake-up */
}

/* Every other case (hold is 0): the round's steps in full. Returns the
 * next round's coroutine; NULL with nothing done when there
 * would be no next round (the round ends in round_once as usual and the
 * driver stops there); NULL with *stuck when the next round began and
 * found nothing to run (TR_STEP_STUCK). */
static TR_ALWAYS_INLINE tr_coro *
fuse_general(tr_machine *m, bool tracing, tr_session *s, tr_coro *c, int out, uint32_t id,
             bool *stuck)
{
	bool woken = any_woken(m);
	if (out == OUT_BLOCKED && !woken && tr_sched_nready(&m->sched) == 0)
		return NULL; /* no work after this round (has_work) */
	/* 10. (11: no timers, no replay, and c is live) */
	if (out == OUT_BLOCKED)
		coro_blocked(m, tracing, s, c, id);
	else
		tr_sched_ready(&m->sched, id);
	/* the next round: 1, 2 (c is live), 3 and 4 (nothing), 5, 6 (nothing),
	 * 7 (c is live), 8 */
	m->tick++;
	uint32_t nid;
	if (!woken) {
		nid = tr_sched_pick(&m->sched);
	} else if (m->solo) {
		admit_solo(m);
		nid = tr_sched_pick(&m->sched);
	} else {
		nid = tr_sched_admit_pick(&m->sched);
	}
	if (nid == TR_SCHED_NONE) {
		*stuck = true;
		return NULL;
	}
	tr_coro *n = coro_near(m, s, nid);
	prefetch_next(m);
	return n;
}

/* run_slice's counts (messages sent and taken, instructions), added where
 * they are read when the slice function returns or its chain of fused
 * rounds moves to another session. Nothing reads them in between: a
 * session closes, and the host reads stats, between calls. A handler that
 * calls tr_machine_stats_get does not see the running slice's yet
 * (machine.h). */
static TR_ALWAYS_INLINE void
slice_flush(tr_machine *m, tr_session *s, uint64_t sent, uint64_t taken, uint64_t insns)
{
	s->messages += sent;
	m->st.messages_sent += sent;
	m->st.messages_received += taken;
	m->st.instructions += insns;
}

#define RS_NAME run_slice_plain
#define RS_TRACING false
#define RS_EMODE 0
#include "run_slice.h"
#undef RS_NAME
#undef RS_TRACING
#undef RS_EMODE

#define RS_NAME run_slice_general
#define RS_TRACING m->tracing
#define RS_EMODE m->effect_mode
#include "run_slice.h"
#undef RS_NAME
#undef RS_TRACING
#undef RS_EMODE

/* Step 9: run a slice with the instance of the interpreter that fits. */
static TR_ALWAYS_INLINE int
run_slice(tr_machine *m, tr_coro **c, uint32_t *id, uint32_t *more, tr_fault_kind *fk)
{
	if (TR_LIKELY(!(m->tracing | m->effect_mode)))
		return run_slice_plain(m, c, id, more, fk);
	return run_slice_general(m, c, id, more, fk);
}

/* ---- the round ---- */

/* Steps 1 (after validation) to 11 of one round; m, res and fault are
 * valid. Inlined into both drivers below. Up to *more further rounds may
 * be fused into step 9 (run_slice, fuse_next): *more counts them down. */
static TR_ALWAYS_INLINE tr_status
round_once(tr_machine *m, tr_step_result *res, tr_fault *fault, uint32_t *more)
{
	fault->kind = TR_FAULT_NONE;
	m->tick++;

	/* 2. all terminal? */
	if (m->nlive == 0 && m->ing_len == 0) {
		*res = TR_STEP_ALL_DONE;
		return TR_OK;
	}

	/* Steps 3, 4 and 6 have work only when something is queued or armed;
	 * one test keeps the common round short. */
	bool slow = (m->ntopology | m->ing_len | m->ntimers | m->effect_mode) != 0;

	/* 3. ingress: topology events, then messages from outside */
	if (slow && (m->ntopology || m->effect_mode == 2))
		ingress_topology(m);
	if (slow && (m->ing_len || m->effect_mode == 2))
		ingress_messages(m);

	/* 4. timeouts */
	if (slow && m->ntimers)
		expire_timers(m, 0);

	/* 5. unblock senders with room, then receivers with data. When steps
	 * 3, 4 and 6 have nothing to do, nothing was ready and one coroutine
	 * was woken (the solo), step 8 can only pick that one: it goes
	 * straight to RUNNING (the hand-off) and skips the queue. */
	uint32_t id = TR_SCHED_NONE;
	tr_coro *c = NULL;
	if (m->solo && !slow && tr_sched_nready(&m->sched) == 0 &&
	    tr_sched_handoff(&m->sched, m->solo->id)) {
		c = m->solo; /* READY since its wake-up */
		id = c->id;
		m->solo = NULL;
	} else {
		admit_woken(m);
	}

	if (!c) {
		/* 6. progress contracts */
		if (slow) {
			if (m->ntimers)
				expire_timers(m, 1);
			if (m->replay_failed)
				return m->last_error.status;
		}

		/* 7. nothing eligible? */
		if (m->nlive == 0) {
			*res = TR_STEP_ALL_DONE;
			return TR_OK;
		}
		/* 8. pick */
		id = tr_sched_pick(&m->sched);
		if (id == TR_SCHED_NONE) {
			*res = TR_STEP_STUCK;
			return TR_OK;
		}
		c = coro_at(m, id);
	}
	prefetch_next(m);

	/* 9. run one slice */
	tr_fault_kind fk = TR_FAULT_NONE;
	int out = run_slice(m, &c, &id, more, &fk);

	/* 10. outcome */
	*res = TR_STEP_CONTINUE;
	switch (out) {
	case OUT_CONTINUE:
	case OUT_YIELD:
		tr_sched_ready(&m->sched, id);
		break;
	case OUT_BLOCKED:
		coro_blocked(m, m->tracing, tr_coro_session(c), c, id);
		break;
	case OUT_HALTED: {
		tr_session *s = tr_coro_session(c);
		obs(m, TR_EV_HALTED, s->id, c->role, TR_NIL, TR_NIL, 0, coro_pc(c));
		coro_terminate(m, c, TR_CO_DONE);
		break;
	}
	case OUT_STUCK:
		*res = TR_STEP_STUCK;
		return TR_OK;
	default:
		fault_coro(m, c, fk, coro_pc(c), fault);
		*res = TR_STEP_FAULTED;
		if (m->replay_failed)
			return m->last_error.status;
		return TR_OK;
	}

	/* 11. progress again; all done? */
	if (m->ntimers)
		expire_timers(m, 1);
	if (m->replay_failed)
		return m->last_error.status;
	if (m->nlive == 0)
		*res = TR_STEP_ALL_DONE;
	return TR_OK;
}

tr_status
tr_machine_step_round(tr_machine *m, uint32_t n, tr_step_result *res, tr_fault *fault)
{
	tr_fault dummy;
	/* 1. validate n (nothing else happens when it is 0) */
	if (!m || !res || n == 0)
		return TR_E_INVALID;
	uint32_t more = 0;
	m->in_round = true;
	tr_status st = round_once(m, res, fault ? fault : &dummy, &more);
	m->in_round = false;
	if (m->rout_len)
		rout_flush(m);
	return st;
}

static TR_ALWAYS_INLINE bool
has_work(const tr_machine *m)
{
	return tr_sched_nready(&m->sched) || any_woken(m) || m->ing_len || m->ntimers ||
	       m->ntopology;
}

tr_status
tr_machine_run_while_work(tr_machine *m, uint32_t max_rounds, uint32_t *rounds,
                          tr_step_result *last)
{
	if (!m || !rounds)
		return TR_E_INVALID;
	tr_status st = TR_OK;
	tr_fault f;
	tr_step_result res = TR_STEP_CONTINUE;
	uint32_t n = 0;
	m->in_round = true;
	while (n < max_rounds && has_work(m)) {
		uint32_t more = max_rounds - n - 1;
		st = round_once(m, &res, &f, &more);
		n = max_rounds - more;
		if (st != TR_OK || res == TR_STEP_STUCK || res == TR_STEP_ALL_DONE)
			break;
	}
	m->in_round = false;
	if (m->rout_len)
		rout_flush(m);
	*rounds = n;
	if (last && n > 0)
		*last = res;
	return st;
}

tr_status
tr_machine_step(tr_machine *m, tr_step_result *res, tr_fault *fault)
{
	return tr_machine_step_round(m, 1, res, fault);
}

tr_status
tr_machine_run_concurrent(tr_machine *m, uint64_t max_rounds, uint32_t n, tr_run_result *res)
{
	if (!m || !res || n == 0)
		return TR_E_INVALID;
	for (uint64_t i = 0; i < max_rounds; i++) {
		tr_step_result r;
		tr_status st = tr_machine_step_round(m, n, &r, NULL);
		if (st)
			return st;
		if (r == TR_STEP_ALL_DONE) {
			*res = TR_RUN_ALL_DONE;
			return TR_OK;
		}
		if (r == TR_STEP_STUCK) {
			*res = TR_RUN_STUCK;
			return TR_OK;
		}
		if (r == TR_STEP_FAULTED && m->cfg.on_fault == TR_ON_FAULT_ABORT) {
			*res = TR_RUN_FAULTED;
			return TR_OK;
		}
	}
	*res = TR_RUN_MAX_ROUNDS;
	return TR_OK;
}

tr_status
tr_machine_run(tr_machine *m, uint64_t max_steps, tr_run_result *res)
{
	return tr_machine_run_concurrent(m, max_steps, 1, res);
}

tr_status
tr_machine_run_replay(tr_machine *m, const tr_trace *effects, uint64_t max_steps,
                      tr_run_result *res)
{
	if (!m || !effects || !res || tr_trace_get_kind(effects) != TR_TRACE_EFFECTS)
		return TR_E_INVALID;
	uint8_t saved = m->effect_mode;
	m->effect_mode = 2;
	m->replay = effects;
	m->replay_pos = 0;
	m->replay_failed = false;
	tr_status st = tr_machine_run(m, max_steps, res);
	if (!st && *res != TR_RUN_MAX_ROUNDS && m->replay_pos != tr_trace_count(effects)) {
		tr_error_clear(&m->last_error);
		st = tr_err_off(&m->last_error, TR_E_REPLAY_MISMATCH, m->replay_pos,
		                "replay: the run ended but the trace has %zu more entries from entry %zu",
		                tr_trace_count(effects) - m->replay_pos, m->replay_pos);
	}
	m->effect_mode = saved;
	m->replay = NULL;
	return st;
}

bool
tr_machine_has_work(const tr_machine *m)
{
	return m && has_work(m);
}

bool
tr_machine_has_closed(const tr_machine *m)
{
	return m && m->closed_head != NULL;
}

const tr_error *
tr_machine_last_error(const tr_machine *m)
{
	return &m->last_error;
}

tr_status
tr_machine_trace(const tr_machine *m, tr_trace **out)
{
	if (!m || !out)
		return TR_E_INVALID;
	if (!m->tracing)
		return TR_E_STATE;
	size_t n = m->trace.len;
	if (m->cfg.trace_mode != TR_TRACE_LAST_N || m->trace_start == 0)
		return tr_trace_create(TR_TRACE_OBSERVABLE, m->trace.data, n, m->a, out);
	/* rotate the ring into order */
	tr_event *tmp = tr_alloc(m->a, n * sizeof *tmp);
	if (!tmp)
		return TR_E_NOMEM;
	size_t start = m->trace_start % n;
	for (size_t i = 0; i < n; i++)
		tmp[i] = TR_VEC_AT(&m->trace, tr_event, (start + i) % n);
	tr_status st = tr_trace_create(TR_TRACE_OBSERVABLE, tmp, n, m->a, out);
	tr_free(m->a, tmp, n * sizeof *tmp);
	return st;
}

tr_status
tr_machine_effects(const tr_machine *m, tr_trace **out)
{
	if (!m || !out)
		return TR_E_INVALID;
	if (!m->cfg.capture_effects)
		return TR_E_STATE;
	return tr_trace_create(TR_TRACE_EFFECTS, m->effects.data, m->effects.len, m->a, out);
}

void
tr_machine_stats_get(const tr_machine *m, tr_machine_stats *out)
{
	*out = m->st;
	out->tick = m->tick;
	out->rounds = m->tick; /* every round advances the clock by one, nothing else does */
	out->coroutines_ready = tr_sched_nready(&m->sched);
	/* a coroutine is BLOCKED exactly when its scheduler id is: counted
	 * there, not twice per wait */
	out->coroutines_blocked = tr_sched_nblocked(&m->sched);
	out->coroutines_live = m->nlive;
	out->pool_entries = m->pool.cap;
	out->in_flight = (uint64_t)((int64_t)(m->st.messages_sent - m->st.messages_received) +
	                            m->pool.adjust);
	out->bytes = m->st.bytes + (size_t)m->pool.cap * sizeof(tr_entry) +
	             (size_t)m->table_cap * (sizeof *m->table + 1) +
	             tr_sched_bytes(&m->sched) +
	             m->trace.cap * sizeof(tr_event) + m->effects.cap * sizeof(tr_event);
}
