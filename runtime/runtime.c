/* runtime/runtime.c: the sharded runtime (include/troupe/runtime.h,
 * docs/DESIGN.md §5): workers, their loop, placement, credits, session end
 * across workers, the epoch, shutdown. It does not interpret bytecode (the
 * machine does) and owns no queue algorithm (inbox.c does).
 *
 * Theory of operation.
 *
 * S1. A session is one record (rt_session) allocated by the host thread
 *     that opens it and published in its home worker's slot table
 *     (slots.h) before its OPEN command is queued, so any thread can find it
 *     by id at once. Its immutable fields (image and handler, as indices
 *     into the runtime's append-only tables, role states, host roles) are
 *     read by every worker that hosts one of its roles; so is the
 *     priority, which the home moves out of the OPEN command when it pops
 *     it, before any part opens (rt_live); `status` is written by the
 *     home; part[w] is written and read by worker w only. Everything else
 *     in it belongs to the home worker.
 * S2. The home opens its own part (tr_machine_open_session with roles_here =
 *     the roles placed on it) and sends OPEN to every other participant
 *     over its SPSC ring. A participant may hear of the session first from
 *     another participant's message (rings are FIFO per pair, not across
 *     pairs): it then looks the record up and opens its part lazily. A
 *     part is NONE, OPEN or DONE on each worker; DONE is final, so a late
 *     message for a finished part is dropped and counted, never re-opens it.
 * S3. A part ends when the worker's machine closes it (all its roles
 *     terminal); the worker reaps it at once and reports PART_DONE (its
 *     message count and fault) to the home. A fault that is not CANCELLED
 *     makes the home cancel every other part (the session has failed). When
 *     all parts are DONE the home marks the record DONE, clears its slot,
 *     calls on_complete with the merged summary, and retires the record
 *     with ck_epoch_call.
 * S4. Messages between workers carry only the session id; the receiver
 *     finds the record through the slot table (E1), so a message that
 *     arrives after the session ended finds no record (or a record with
 *     another id in a reused slot) and is dropped and counted: it can never
 *     reach a later session (ids are never reused, and the machine checks
 *     them too).
 * S5. Credits: the machine holds `capacity` credits per edge whose
 *     receiver is elsewhere and blocks a sender without credit; the
 *     receiver's machine returns credits in batches, which travel back as
 *     CREDIT messages and are applied with tr_machine_add_credit. So the
 *     messages of one edge in flight (outbox + ring + receiving buffer)
 *     never exceed the capacity, and every queue is bounded by the live
 *     sessions' edges times the capacity, whatever the producers do.
 *     Edges to host roles get their credit back as soon as on_host_message
 *     returns; posts from host roles hold no credit (runtime.h).
 *
 * Epoch (reclamation argument).
 * E1. Every lookup of a record by id from a thread that does not own it
 *     (hosts: post, cancel, status; workers: lazy open, late messages,
 *     cancels, part reports) runs inside an epoch section on that thread's
 *     own ck_epoch record, and only dereferences the record inside it.
 * E2. The home clears the slot before it retires the record, and a
 *     retired record is freed only by ck_epoch_poll/barrier on the home's
 *     record, i.e. after every section that was active at retirement has
 *     ended. A section that begins later cannot find the record (the slot
 *     is cleared or holds another record). So no thread reads a freed
 *     record, and each record is freed exactly once (sessions_freed counts).
 * E3. A worker that hosts an OPEN part may use the record without a
 *     section: the home cannot retire it before that part's PART_DONE,
 *     which the worker sends after its last use.
 * E4. TSan cannot see ck_epoch's ordering: each section end does
 *     TR_TSAN_RELEASE(&rt->epoch) and the free callback does
 *     TR_TSAN_ACQUIRE(&rt->epoch) before freeing.
 *
 * G1. The start gate (tr_runtime_config.start_held): while rt->held is
 *     set, workers do everything but run rounds: they drain commands and
 *     rings, so OPENs (and lazy opens, cancels, PART_DONEs) complete, and
 *     they reap, so a cancelled session still ends; no role executes, so no
 *     protocol message exists yet. A held worker with nothing in its
 *     inboxes is idle like any other and parks (W1-W5 of rt_sync.h).
 *     tr_runtime_release() clears held (seq_cst) and then wakes every
 *     worker (W3); a worker about to park re-reads held (seq_cst) after its
 *     W1 store, so either it sees the release or the releaser sees it
 *     PARKED and wakes it: the same Dekker pair as an inbox item. Release
 *     is one-way: a worker that has seen it never reads held again.
 *
 * Needs from core (machine.h): none outstanding. The loop skips
 * step_round when tr_machine_has_work() says a round would do nothing
 * (no ready coroutine, wake-up, ingress, timer or topology handler), so an
 * idle or held worker calls into the machine only to open, inject, cancel
 * and reap. tr_machine_inject returns TR_E_CLOSED (closed, not yet
 * reaped) or TR_E_NOT_FOUND (unknown or reaped) at once, having dropped and
 * counted the message itself; rt_deliver ignores the status, since the
 * machine's drop counter is already in the published stats. */
#include "troupe/runtime.h"

#include <ck_epoch.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inbox.h"
#include "platform.h"
#include "rt_sync.h"
#include "slots.h"
#include "util.h"

/* ---- ids ---- */

#define RT_ID_HOME(id) ((uint32_t)((id) & 0xffu))
#define RT_ID_HOSTBIT(id) ((uint32_t)(((id) >> 8) & 1u))
#define RT_ID_SLOT(id) ((uint32_t)(((id) >> 9) & 0xffffffu))
#define RT_ID_GEN(id) ((uint32_t)((id) >> 33))

static tr_session_id
rt_make_id(uint32_t home, uint32_t hostbit, uint32_t slot, uint32_t gen)
{
	return ((uint64_t)gen << 33) | ((uint64_t)slot << 9) | ((uint64_t)hostbit << 8) | home;
}

/* ---- records and commands ---- */

enum { RS_PENDING = 0, RS_OPEN = 1, RS_CLOSING = 2, RS_DONE = 3 };
enum { PART_NONE = 0, PART_OPEN = 1, PART_DONE = 2 };
enum { CMD_OPEN = 1, CMD_POST = 2, CMD_CANCEL = 3, CMD_STOP = 4, CMD_PREPARE = 5 };

/* What every command starts with; OPEN is nothing more (the session
 * record carries it), the others are an rt_cmd. op and heap are bytes so
 * that an OPEN's priority fits in what would be padding: the record keeps
 * no other copy until the home pops it (rt_session). */
typedef struct rt_cmd_hdr {
	tr_mpsc_node node; /* first: the queue hands back node pointers */
	uint8_t op;
	bool heap;         /* an rt_cmd freed by the worker after use */
	uint32_t priority; /* OPEN: the session's; unused by an rt_cmd */
} rt_cmd_hdr;
_Static_assert(sizeof(rt_cmd_hdr) == 16, "the OPEN header is the record's first 16 bytes");

typedef struct rt_cmd {
	rt_cmd_hdr hdr;    /* first */
	uint32_t from, to, label;
	tr_session_id id;
	tr_value v;
	const char *reason;
} rt_cmd;

/* Why a session was cancelled: the strings behind these are the host's
 * "cancelled by host" and the home's stop reason (rt_reason). */
enum { RR_NONE = 0, RR_HOST = 1, RR_STOP = 2 };

/* What a record holds in its first 16 bytes from the moment the home pops
 * its OPEN (rt_handle_open) until rt_complete hands them to the epoch.
 * The home's tally of the parts' ends: nothing touches it before the pop,
 * since every part, and so every PART_DONE, comes after it, and a host
 * cancel or a stop acts only on a session the pop has made RS_OPEN. The
 * priority, copied out of the OPEN header: every worker that opens a part
 * reads it (rt_open_part), after the home's OPEN message or a message of
 * a part, which carry the home's write to it. */
typedef struct rt_live {
	/* home only */
	uint32_t fault_pc;
	uint8_t fault_role;        /* 255: none */
	uint8_t parts_done : 7;    /* <= TR_RUNTIME_MAX_THREADS */
	uint8_t any_cancel : 1;    /* a part ended CANCELLED (or never ran) */
	uint8_t fault_kind : 6;    /* the first fault not CANCELLED; NONE: none */
	uint8_t reason : 2;        /* RR_*: the first reason a cancel was given */
	/* written by the home at the pop, before any part opens; then read-only */
	uint32_t priority;
} rt_live;
_Static_assert(sizeof(rt_live) <= sizeof(rt_cmd_hdr), "rt_live fits in the OPEN header's bytes");

/* One per session, allocated by the opening host thread: its size is what
 * a live session costs the runtime on top of the machines' parts, so the
 * fields are packed (issue 6, scale): the handler and the image are
 * indices into runtime-wide tables, flags are bits, what can be derived is
 * (the part count from the placement, "a cancel was sent" from status,
 * "a fault" from fault_kind), the optional tails are left out when they
 * would be NULL or 0, what lives only part of the session's life shares
 * bytes with what lives the rest (the OPEN header, rt_live, the epoch
 * entry; open_states_ and messages), and the tail starts where the fields
 * end, not at sizeof: 45 bytes and part[2] fit jemalloc's 48-byte class.
 * The bit-fields read by other threads (image, has_states) and the home's
 * (in rt_live) are kept apart by whole bytes: a bit-field store may
 * rewrite its neighbours. */
typedef struct rt_session {
	/* The OPEN command until the home pops it (S2); then the home's
	 * rt_live; from rt_complete on, the epoch entry. The OPEN is popped
	 * before any part opens, the queue never touches a node it has handed
	 * back (tr_mpsc_pop_sc), and rt_complete reads the last of rt_live
	 * before ck_epoch_call, so no two overlap in time. */
	union {
		rt_cmd_hdr open_cmd;
		rt_live live;
		ck_epoch_entry_t epoch_entry;
	};
	/* immutable after publication (S1) */
	tr_session_id id;
	union {
		void *user;        /* until on_complete has returned */
		tr_runtime *rt;    /* then, for rt_session_free_cb */
	};
	/* Role states of a local-placement session ride, until the home opens
	 * its part, in a separate array that the home then frees (the
	 * machine's coroutines keep them from then on), where the record's
	 * tail would hold them for the session's whole life: issue 6, 16
	 * bytes a pingpong session. messages (home only) is 0 until the part
	 * is open, so it lends its bytes. Spread sessions keep the tail: other
	 * workers open their parts later, lazily. */
	union {
		uint64_t messages;
		void **open_states_;  /* nroles, when open_states */
	};
	uint16_t handler;          /* index in the handler table (rt_hentry_at) */
	uint8_t image : 6;         /* index in rt->images */
	uint8_t has_states : 1;    /* role states in the tail (spread placement) */
	uint8_t open_states : 1;   /* open_states_ present (local placement) */
	uint8_t nroles;            /* <= 255 */
	_Atomic uint8_t status;    /* RS_*: written by the home */
	/* Then, in this order: role_states[nroles] when has_states, at
	 * sizeof(rt_session) so that the pointers are aligned
	 * (rt_role_states); host_roles (uint64_t, unaligned) when the id's
	 * host bit is set; part[threads]: part[w] is written and read by
	 * worker w only. */
	uint8_t tail[];
} rt_session;
_Static_assert(offsetof(rt_session, tail) == 45, "a live session's fixed cost: keep it packed");
_Static_assert(sizeof(rt_session) % alignof(void *) == 0, "role states in the tail are aligned");
_Static_assert(TR_RUNTIME_MAX_THREADS <= 127, "parts are counted in 7 bits, homes in bytes");
_Static_assert(TR_FAULT_COUNT_ <= 64 && TR_FAULT_NONE == 0, "fault_kind: 6 bits, 0 is none");
_Static_assert(ATOMIC_CHAR_LOCK_FREE == 2, "status is a lock-free byte");

/* A record's size: nothing but its tail depends on the session. */
static size_t
rt_session_size(uint32_t nroles, bool states, bool host, uint32_t T)
{
	size_t at = states ? sizeof(rt_session) + (size_t)nroles * sizeof(void *)
	                   : offsetof(rt_session, tail);
	return at + (host ? sizeof(uint64_t) : 0) + T;
}

static size_t
rt_record_size(const rt_session *s, uint32_t T)
{
	return rt_session_size(s->nroles, s->has_states, RT_ID_HOSTBIT(s->id), T);
}

/* The role states in the tail (spread placement), or NULL. */
static inline void **
rt_role_states(const rt_session *s)
{
	return s->has_states ? (void **)((char *)s + sizeof(rt_session)) : NULL;
}

/* part[T] after the other tails (S1). */
static inline uint8_t *
rt_part(const rt_session *s)
{
	return (uint8_t *)s + rt_record_size(s, 0);
}

/* The roles the host plays; stored only when there are some, which the
 * id's host bit says. */
static inline uint64_t
rt_host_roles(const rt_session *s)
{
	uint64_t v = 0;
	if (RT_ID_HOSTBIT(s->id))
		memcpy(&v, (char *)s + rt_session_size(s->nroles, s->has_states, false, 0),
		       sizeof v);
	return v;
}

typedef struct rt_selfcredit {
	tr_session_id id;
	uint32_t from, to;
} rt_selfcredit;

#define RT_BATCH 256u
#define RT_FLUSH_AT 64u
#define RT_REAP 64u
/* Ring entries per ordered pair: deep enough to absorb a loop's output at
 * two workers, bounded in total (T * (T - 1) rings) at many. */
static uint32_t
rt_ring_size(uint32_t T)
{
	uint32_t n = 16384;
	while (n > 1024 && (uint64_t)n * T > 65536)
		n /= 2;
	return n;
}

typedef struct rt_worker {
	/* set once, before the thread starts */
	tr_runtime *rt;
	uint32_t index;
	int cpu_want;
	pthread_t thread;
	bool started;
	ck_epoch_record_t *erec;

	/* owned by the worker thread */
	alignas(64) tr_machine *m;
	tr_worker_alloc wa;
	const tr_allocator *ma;   /* the machine's allocator */
	tr_outbox *out;           /* [threads] */
	tr_session_summary reap[RT_REAP];
	uint32_t freed[64];
	uint32_t nfreed;
	rt_selfcredit *selfcred;
	uint32_t nselfcred, capselfcred;
	bool stopping;
	const char *stop_reason;
	uint64_t loops, dropped_here, remote_sent, parks, parts_live, overflow_peak;
	uint64_t unwoken; /* workers published to since the last wake check */
	bool backlog;     /* the machine holds remote messages we could not take */
	tr_status init_status;
	/* Spread placement only: open_ids[home][slot] is the id of the session
	 * in that home slot whose part is OPEN here, else 0. A message from
	 * another worker for an open part goes to the machine without reading
	 * the shared record (rt_drain_rings); everything else takes the slow
	 * path through the slot table (S2, S4). */
	struct { uint64_t *v; uint32_t cap; } open_ids[TR_RUNTIME_MAX_THREADS];

	/* written by other threads */
	alignas(64) tr_mpsc cmds;
	alignas(64) tr_parker park;
	rt_cmd stop_cmd;

	/* published by the worker (relaxed), read by hosts */
	alignas(64) _Atomic uint64_t pub_rounds, pub_sent, pub_received, pub_remote,
		pub_dropped, pub_parts, pub_parks, pub_overflow;
	_Atomic int pub_cpu;
	_Atomic uint32_t ready; /* 1 once init is done (init_status valid) */

	/* the home slot table (slots.h: its own locking) */
	alignas(64) tr_slot_table slots;
} rt_worker;

#define RT_MAX_IMAGES 64u
_Static_assert(RT_MAX_IMAGES <= 64, "a record names its image in 6 bits");

/* Handlers, interned (rt_handler_intern): a record names its handler by a
 * 16-bit index into a runtime-wide table of distinct copies, compared by
 * content, where a copy would take 48 bytes. The table only grows, in
 * segments that never move; an entry never changes once its bucket
 * publishes it, so hosts and workers read it without a lock. The machines
 * intern the same handlers under the same bound (machine.c), so a part
 * never fails to open on that account. Tests build a copy of the runtime
 * with a small table (tests/runtime/CMakeLists.txt). */
#ifndef RT_MAX_HANDLERS
#define RT_MAX_HANDLERS 65535u
#endif
_Static_assert(RT_MAX_HANDLERS <= UINT16_MAX, "a record names its handler in 16 bits");
_Static_assert(sizeof(tr_handler) % sizeof(uint64_t) == 0 &&
               sizeof(tr_handler) == 6 * sizeof(void *),
               "handlers are hashed and compared by content: no padding");
#define RT_HSEG_BITS 8u
#define RT_HSEG_SIZE (1u << RT_HSEG_BITS)
#define RT_HNSEG ((RT_MAX_HANDLERS + RT_HSEG_SIZE - 1) / RT_HSEG_SIZE)
#define RT_HBUCKETS 4096u

typedef struct rt_hentry {
	tr_handler h;
	uint16_t next; /* 1 + index of the next entry in its bucket; 0: none */
} rt_hentry;

struct tr_runtime {
	tr_runtime_config cfg;
	const tr_allocator *a;
	uint32_t T;
	ck_epoch_t epoch;
	pthread_key_t key;
	bool key_ok;
	tr_xring *rings;          /* rings[src * T + dst] */
	rt_worker **w;
	/* place[home + role] = (home + role) mod T: spread placement without a
	 * division per remote message (home < T <= 64, role < 256). */
	uint8_t place[TR_RUNTIME_MAX_THREADS + 256];
	void **w_raw;

	pthread_mutex_t img_lock;
	const tr_image *images[RT_MAX_IMAGES];
	_Atomic uint32_t nimages;

	pthread_mutex_t h_lock;   /* appends to the handler table */
	uint32_t nhandlers;       /* under h_lock */
	_Atomic(rt_hentry *) hseg[RT_HNSEG];
	_Atomic uint16_t hbucket[RT_HBUCKETS]; /* 1 + index of the newest; 0: none */

	_Atomic uint32_t next_home;
	_Atomic bool held;        /* the start gate (G1): cleared by release */
	_Atomic bool stopping;
	_Atomic bool quit;
	bool stopped;             /* stop() finished; under stop_lock */
	pthread_mutex_t stop_lock;

	_Atomic uint64_t live, opened, completed, ok, cancelled, faulted, freed, posts,
		host_dropped;
	pthread_mutex_t drain_lock;
	pthread_cond_t drain_cv;
	/* PREPAREs not yet done by their worker (register_image waits on
	 * drain_cv for 0) */
	_Atomic uint32_t preparing;
};

/* ---- aligned allocation through a tr_allocator ---- */

static void *
rt_alloc_aligned(const tr_allocator *a, size_t size)
{
	size_t total = size + 64 + 2 * sizeof(void *);
	char *raw = tr_alloc(a, total);
	if (raw == NULL)
		return NULL;
	uintptr_t p = ((uintptr_t)raw + 2 * sizeof(void *) + 63) & ~(uintptr_t)63;
	((void **)p)[-1] = raw;
	((size_t *)p)[-2] = total;
	memset((void *)p, 0, size);
	return (void *)p;
}

static void
rt_free_aligned(const tr_allocator *a, void *p)
{
	if (p == NULL)
		return;
	tr_free(a, ((void **)p)[-1], ((size_t *)p)[-2]);
}

/* ---- epoch helpers (E1, E4) ---- */

static void
rt_host_record_dtor(void *p)
{
	ck_epoch_unregister(p);
}

static ck_epoch_record_t *
rt_host_record(tr_runtime *rt)
{
	ck_epoch_record_t *r = rt->key_ok ? pthread_getspecific(rt->key) : NULL;
	if (r != NULL)
		return r;
	r = ck_epoch_recycle(&rt->epoch, NULL);
	if (r == NULL) {
		r = rt_alloc_aligned(rt->a, sizeof(ck_epoch_record_t));
		if (r == NULL)
			return NULL;
		ck_epoch_register(&rt->epoch, r, NULL);
	}
	if (rt->key_ok)
		pthread_setspecific(rt->key, r);
	return r;
}

static void
rt_section_begin(ck_epoch_record_t *r)
{
	ck_epoch_begin(r, NULL);
}

static void
rt_section_end(tr_runtime *rt, ck_epoch_record_t *r)
{
	TR_TSAN_RELEASE(&rt->epoch); /* pairs with TR_TSAN_ACQUIRE in rt_session_free_cb */
	ck_epoch_end(r, NULL);
}

static void
rt_session_free_cb(ck_epoch_entry_t *e)
{
	rt_session *s = (rt_session *)((char *)e - offsetof(rt_session, epoch_entry));
	tr_runtime *rt = s->rt; /* set by rt_complete */
	TR_TSAN_ACQUIRE(&rt->epoch); /* pairs with TR_TSAN_RELEASE in rt_section_end */
	atomic_fetch_add_explicit(&rt->freed, 1, memory_order_relaxed);
	tr_free(rt->a, s, rt_record_size(s, rt->T));
}

/* ---- interned handlers ---- */

static uint32_t
rt_handler_bucket(const tr_handler *h)
{
	uint64_t w[sizeof *h / sizeof(uint64_t)], x = 0;
	memcpy(w, h, sizeof w);
	for (size_t i = 0; i < TR_ARRAY_LEN(w); i++)
		x = (x ^ w[i]) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(x >> 32) & (RT_HBUCKETS - 1);
}

/* Entry i, published. Any thread: a record's index is published with the
 * record, after the entry (rt_handler_intern). */
static const rt_hentry *
rt_hentry_at(tr_runtime *rt, uint32_t i)
{
	/* Pairs with the release store of a new segment in rt_handler_intern. */
	rt_hentry *seg = atomic_load_explicit(&rt->hseg[i >> RT_HSEG_BITS], memory_order_acquire);
	return &seg[i & (RT_HSEG_SIZE - 1)];
}

/* The index of a copy of h in bucket b, or -1. Any thread, no lock. */
static int32_t
rt_handler_find(tr_runtime *rt, const tr_handler *h, uint32_t b)
{
	/* Pairs with the release store of the bucket in rt_handler_intern: the
	 * entries it leads to are complete. */
	uint32_t i = atomic_load_explicit(&rt->hbucket[b], memory_order_acquire);
	while (i != 0) {
		const rt_hentry *e = rt_hentry_at(rt, i - 1);
		if (memcmp(&e->h, h, sizeof *h) == 0)
			return (int32_t)(i - 1);
		i = e->next;
	}
	return -1;
}

/* The index of h's copy, appending one if h is new. Any thread. The table
 * is never pruned: an index stays valid while any record may name it, at
 * the price of the bound (RT_MAX_HANDLERS distinct handlers in the
 * runtime's life, TR_E_LIMIT after). TR_E_NOMEM. */
static tr_status
rt_handler_intern(tr_runtime *rt, const tr_handler *h, uint16_t *index)
{
	uint32_t b = rt_handler_bucket(h);
	int32_t found = rt_handler_find(rt, h, b);
	tr_status st = TR_OK;

	if (found >= 0) {
		*index = (uint16_t)found;
		return TR_OK;
	}
	pthread_mutex_lock(&rt->h_lock);
	if ((found = rt_handler_find(rt, h, b)) >= 0) { /* appended meanwhile */
		*index = (uint16_t)found;
		goto out_unlock;
	}
	uint32_t n = rt->nhandlers;
	if (n == RT_MAX_HANDLERS) {
		st = TR_E_LIMIT;
		goto out_unlock;
	}
	rt_hentry *seg = atomic_load_explicit(&rt->hseg[n >> RT_HSEG_BITS], memory_order_relaxed);
	if (seg == NULL) {
		if ((seg = tr_alloc(rt->a, RT_HSEG_SIZE * sizeof *seg)) == NULL) {
			st = TR_E_NOMEM;
			goto out_unlock;
		}
		/* Pairs with the acquire load in rt_hentry_at. */
		atomic_store_explicit(&rt->hseg[n >> RT_HSEG_BITS], seg, memory_order_release);
	}
	rt_hentry *e = &seg[n & (RT_HSEG_SIZE - 1)];
	e->h = *h;
	e->next = atomic_load_explicit(&rt->hbucket[b], memory_order_relaxed);
	/* Publishes *e; pairs with the acquire load in rt_handler_find. */
	atomic_store_explicit(&rt->hbucket[b], (uint16_t)(n + 1), memory_order_release);
	rt->nhandlers = n + 1;
	*index = (uint16_t)n;
out_unlock:
	pthread_mutex_unlock(&rt->h_lock);
	return st;
}

/* The record for id, or NULL. Caller inside a section (E1) or owning an
 * open part (E3) or being the home. */
static rt_session *
rt_lookup(tr_runtime *rt, tr_session_id id)
{
	uint32_t home = RT_ID_HOME(id);
	if (id == 0 || home >= rt->T)
		return NULL;
	rt_session *s = tr_slot_get_any(&rt->w[home]->slots, RT_ID_SLOT(id));
	if (s == NULL || s->id != id)
		return NULL;
	return s;
}

/* ---- placement ---- */

static uint32_t
rt_worker_of(const tr_runtime *rt, tr_session_id id, uint32_t role)
{
	uint32_t home = RT_ID_HOME(id);
	if (rt->cfg.placement == TR_PLACE_SPREAD)
		return rt->place[home + (role & 0xffu)];
	return home;
}

static uint64_t
rt_roles_on(const tr_runtime *rt, const rt_session *s, uint32_t w)
{
	uint64_t host = rt_host_roles(s), mask = 0;
	for (uint32_t i = 0; i < s->nroles; i++)
		if (!(host >> i & 1) && rt_worker_of(rt, s->id, i) == w)
			mask |= 1ull << i;
	return mask;
}

/* The workers that run a part of s: each reports one PART_DONE (S3). */
static uint32_t
rt_parts_total(const tr_runtime *rt, const rt_session *s)
{
	uint64_t host = rt_host_roles(s), workers = 0;
	for (uint32_t i = 0; i < s->nroles; i++)
		if (!(host >> i & 1))
			workers |= 1ull << rt_worker_of(rt, s->id, i);
	return (uint32_t)__builtin_popcountll(workers);
}

/* ---- worker: sending ---- */

static void
rt_send_x(rt_worker *w, uint32_t dst, const tr_xmsg *m)
{
	/* A staging failure loses a control message; the outbox only fails
	 * when memory is exhausted, and then the session cannot end cleanly
	 * anyway. Count it as a drop so it shows. */
	if (tr_outbox_push_owner(&w->out[dst], m, w->rt->a) != TR_OK)
		w->dropped_here++;
}

/* Publish what is staged for worker d. The wake-up check (a full fence,
 * then the parker's state: W3 of rt_sync.h) is left to the end of the
 * loop (rt_flush), once per destination instead of once per batch: a
 * fence waits for every store before it, the ring copies included. */
static void
rt_flush_one(rt_worker *w, uint32_t d)
{
	tr_runtime *rt = w->rt;
	tr_outbox *o = &w->out[d];
	if (o->peak > w->overflow_peak)
		w->overflow_peak = o->peak;
	if (tr_outbox_flush_sp(o, &rt->rings[w->index * rt->T + d]) > 0)
		w->unwoken |= 1ull << d;
}

/* End of a loop: publish everything staged, then check once whether each
 * worker that got something since the last check is parked. */
static void
rt_flush(rt_worker *w)
{
	for (uint32_t d = 0; d < w->rt->T; d++)
		if (w->out[d].len > 0)
			rt_flush_one(w, d);
	for (uint64_t u = w->unwoken; u != 0; u &= u - 1)
		tr_parker_wake_any(&w->rt->w[__builtin_ctzll(u)]->park);
	w->unwoken = 0;
}

static bool
rt_outbox_pending(const rt_worker *w)
{
	for (uint32_t d = 0; d < w->rt->T; d++)
		if (w->out[d].len > 0)
			return true;
	return false;
}

/* A send to a role the host plays (S5): hand it to on_host_message and
 * give its credit back this loop. Returns false when `to` is not a host
 * role (the message goes to a worker as usual). */
static __attribute__((noinline)) bool
rt_host_send(rt_worker *w, tr_session_id id, uint32_t from, uint32_t to, uint32_t label,
             tr_value v, tr_status *st)
{
	tr_runtime *rt = w->rt;
	rt_session *s = rt_lookup(rt, id); /* E3: our part is open */
	if (s == NULL || to >= s->nroles || !(rt_host_roles(s) >> to & 1))
		return false;
	if (rt->cfg.on_host_message != NULL)
		rt->cfg.on_host_message(rt->cfg.host_ctx, id, from, to, label, v);
	else
		w->dropped_here++;
	*st = TR_OK;
	if (w->nselfcred == w->capselfcred) {
		uint32_t ncap = w->capselfcred ? w->capselfcred * 2 : 64;
		rt_selfcredit *nv = tr_realloc(rt->a, w->selfcred,
		                               (size_t)w->capselfcred * sizeof *nv,
		                               (size_t)ncap * sizeof *nv);
		if (nv == NULL) {
			*st = TR_E_NOMEM;
			return true;
		}
		w->selfcred = nv;
		w->capselfcred = ncap;
	}
	w->selfcred[w->nselfcred++] = (rt_selfcredit){id, from, to};
	return true;
}

/* The machine's batched hand-off: route each record to its worker's
 * outbox (or to the host), in order. Takes what it can: an outbox that
 * cannot grow leaves the rest with the machine, which offers it again
 * after its next rounds (nothing is lost). */
static size_t
rt_remote_send_batch(void *ctx, const tr_xmsg *v, size_t n)
{
	rt_worker *w = ctx;
	tr_runtime *rt = w->rt;
	const bool spread = rt->cfg.placement == TR_PLACE_SPREAD;

	w->backlog = true; /* until every record is taken */
	for (size_t i = 0; i < n;) {
		const tr_xmsg *r = &v[i];
		if (TR_UNLIKELY(RT_ID_HOSTBIT(r->id))) {
			tr_status st;
			tr_value val = {.kind = r->kind, .bits = r->bits};
			if (rt_host_send(w, r->id, r->from, r->to, r->label, val, &st)) {
				if (st != TR_OK)
					return i;
				i++;
				continue;
			}
		}
		uint32_t dst = spread ? rt->place[RT_ID_HOME(r->id) + r->to] : RT_ID_HOME(r->id);
		if (TR_UNLIKELY(dst == w->index)) {
			w->dropped_here++; /* cannot happen: the machine holds such edges */
			i++;
			continue;
		}
		/* Copy the run of records for dst (with two workers: all of them)
		 * with the outbox's indices in registers. */
		tr_outbox *o = &w->out[dst];
		tr_xmsg *buf = o->v;
		uint32_t head = o->head, len = o->len, cap = o->cap;
		size_t j = i;
		while (j < n && len < cap) {
			const tr_xmsg *q = &v[j];
			if (j > i && (RT_ID_HOSTBIT(q->id) ||
			              (spread ? rt->place[RT_ID_HOME(q->id) + q->to]
			                      : RT_ID_HOME(q->id)) != dst))
				break;
			tr_xmsg *d = &buf[(head + len) & (cap - 1)];
			*d = *q;
			d->tag = TR_XOP_MSG;
			len++;
			j++;
			if (len >= RT_FLUSH_AT)
				break;
		}
		o->len = len;
		w->remote_sent += j - i;
		if (len >= RT_FLUSH_AT)
			rt_flush_one(w, dst);
		/* Nothing went in: the outbox is full; grow it, or leave the rest
		 * staged in the machine. */
		if (j == i && tr_outbox_grow_owner(o, rt->a) != TR_OK)
			return i;
		i = j;
	}
	w->backlog = false;
	return n;
}

static void
rt_remote_credit(void *ctx, tr_session_id id, uint32_t from, uint32_t to, uint32_t n)
{
	rt_worker *w = ctx;
	tr_runtime *rt = w->rt;

	if (RT_ID_HOSTBIT(id)) {
		rt_session *s = rt_lookup(rt, id); /* E3 */
		if (s == NULL || (rt_host_roles(s) >> from & 1))
			return; /* host edges hold no credit */
	}
	uint32_t dst = rt_worker_of(rt, id, from);
	if (dst == w->index)
		return;
	tr_xmsg m = {.id = id, .label = n, .tag = TR_XOP_CREDIT, .from = (uint8_t)from,
	             .to = (uint8_t)to};
	rt_send_x(w, dst, &m);
}

/* ---- worker: the open-part index (spread placement) ---- */

/* Record that the part of session id is open here (v = id) or not (v = 0).
 * Out of memory only loses the fast path for that session. */
static void
rt_open_ids_set(rt_worker *w, tr_session_id id, uint64_t v)
{
	uint32_t home = RT_ID_HOME(id), slot = RT_ID_SLOT(id);
	if (slot >= w->open_ids[home].cap) {
		if (v == 0)
			return;
		uint32_t cap = w->open_ids[home].cap ? w->open_ids[home].cap : 4096;
		while (cap <= slot)
			cap *= 2;
		uint64_t *nv = tr_realloc(w->ma, w->open_ids[home].v,
		                          (size_t)w->open_ids[home].cap * sizeof *nv,
		                          (size_t)cap * sizeof *nv);
		if (nv == NULL)
			return;
		memset(nv + w->open_ids[home].cap, 0,
		       (size_t)(cap - w->open_ids[home].cap) * sizeof *nv);
		w->open_ids[home].v = nv;
		w->open_ids[home].cap = cap;
	}
	w->open_ids[home].v[slot] = v;
}

static inline bool
rt_open_here(const rt_worker *w, tr_session_id id)
{
	uint32_t home = RT_ID_HOME(id), slot = RT_ID_SLOT(id);
	return home < TR_RUNTIME_MAX_THREADS && slot < w->open_ids[home].cap &&
	       w->open_ids[home].v[slot] == id;
}

/* ---- worker: session end (S3) ---- */

static void
rt_drain_signal(tr_runtime *rt)
{
	pthread_mutex_lock(&rt->drain_lock);
	pthread_cond_broadcast(&rt->drain_cv);
	pthread_mutex_unlock(&rt->drain_lock);
}

static void
rt_live_dec(tr_runtime *rt)
{
	/* acq_rel: the summaries' effects happen-before a drainer that sees 0;
	 * pairs with the acquire load in tr_runtime_drain. */
	if (atomic_fetch_sub_explicit(&rt->live, 1, memory_order_acq_rel) == 1)
		rt_drain_signal(rt);
}

static void
rt_give_back_slots(rt_worker *w)
{
	if (w->nfreed == 0)
		return;
	(void)tr_slot_give_back_owner(&w->slots, w->freed, w->nfreed);
	w->nfreed = 0;
}

/* The text of s->reason. RR_STOP is only recorded by the home after it
 * has taken the stop command (rt_handle_stop, rt_handle_open), so the
 * home's stop_reason is set. */
static const char *
rt_reason(const rt_worker *w, const rt_session *s)
{
	switch (s->live.reason) {
	case RR_HOST:
		return "cancelled by host";
	case RR_STOP:
		return w->stop_reason;
	default:
		return NULL;
	}
}

static void
rt_complete(rt_worker *w, rt_session *s)
{
	tr_runtime *rt = w->rt;
	tr_runtime_summary sum;
	bool have_fault = s->live.fault_kind != TR_FAULT_NONE;
	const char *reason = rt_reason(w, s);

	/* Release: pairs with acquire loads of status in the host calls. */
	atomic_store_explicit(&s->status, RS_DONE, memory_order_release);
	tr_slot_clear_owner(&w->slots, RT_ID_SLOT(s->id), RT_ID_GEN(s->id));
	w->freed[w->nfreed++] = RT_ID_SLOT(s->id);
	if (w->nfreed == TR_ARRAY_LEN(w->freed))
		rt_give_back_slots(w);

	memset(&sum, 0, sizeof sum);
	sum.id = s->id;
	sum.image = rt->images[s->image];
	sum.user = s->user;
	sum.messages = s->messages;
	/* A part that did not end ok set any_cancel or a fault. */
	sum.ok = !have_fault && !s->live.any_cancel;
	sum.cancelled = !sum.ok && !have_fault && reason != NULL;
	if (have_fault) {
		sum.fault.kind = (tr_fault_kind)s->live.fault_kind;
		sum.fault.session = s->id;
		sum.fault.role = s->live.fault_role == 255 ? UINT32_MAX : s->live.fault_role;
		sum.fault.pc = s->live.fault_pc;
	} else if (s->live.any_cancel || reason != NULL) {
		sum.fault.kind = TR_FAULT_CANCELLED;
		sum.fault.session = s->id;
	} else {
		sum.fault.kind = TR_FAULT_NONE;
	}
	if (!sum.ok && !have_fault && reason == NULL) {
		/* cancelled parts without a recorded reason: a failed open */
		sum.cancelled = true;
		sum.reason = "cancelled";
	} else {
		sum.reason = sum.cancelled ? reason : NULL;
	}
	if (sum.ok)
		atomic_fetch_add_explicit(&rt->ok, 1, memory_order_relaxed);
	else if (sum.cancelled)
		atomic_fetch_add_explicit(&rt->cancelled, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&rt->faulted, 1, memory_order_relaxed);
	if (rt->cfg.on_complete != NULL)
		rt->cfg.on_complete(rt->cfg.complete_ctx, &sum);
	atomic_fetch_add_explicit(&rt->completed, 1, memory_order_relaxed);
	s->rt = rt; /* user's last reader was on_complete */
	/* rt_live ends here: its bytes become the epoch entry. */
	ck_epoch_call(w->erec, &s->epoch_entry, rt_session_free_cb);
	rt_live_dec(rt);
}

static void
rt_home_cancel(rt_worker *w, rt_session *s, uint8_t reason)
{
	tr_runtime *rt = w->rt;

	/* Past OPEN: the cancel has been sent (status says so, only the home
	 * writes it). */
	if (atomic_load_explicit(&s->status, memory_order_relaxed) >= RS_CLOSING)
		return;
	if (s->live.reason == RR_NONE)
		s->live.reason = reason;
	atomic_store_explicit(&s->status, RS_CLOSING, memory_order_relaxed);
	for (uint32_t p = 0; p < rt->T; p++) {
		if (rt_roles_on(rt, s, p) == 0)
			continue;
		if (p == w->index) {
			if (rt_part(s)[p] == PART_OPEN)
				(void)tr_machine_cancel(w->m, s->id);
		} else {
			tr_xmsg m = {.id = s->id, .tag = TR_XOP_CANCEL};
			rt_send_x(w, p, &m);
		}
	}
}

static void
rt_home_part_done(rt_worker *w, rt_session *s, bool ok, uint64_t messages,
                  const tr_fault *f)
{
	s->messages += messages;
	s->live.parts_done++;
	if (!ok) {
		if (f->kind == TR_FAULT_CANCELLED || f->kind == TR_FAULT_NONE) {
			s->live.any_cancel = true;
		} else if (s->live.fault_kind == TR_FAULT_NONE) {
			s->live.fault_kind = (uint8_t)f->kind;
			s->live.fault_role = (uint8_t)(f->role > 255 ? 255 : f->role);
			s->live.fault_pc = f->pc;
		}
		rt_home_cancel(w, s, RR_NONE);
	}
	if (s->live.parts_done == rt_parts_total(w->rt, s))
		rt_complete(w, s);
}

/* Our part of s ended (or never ran: f kind CANCELLED). */
static void
rt_part_done(rt_worker *w, rt_session *s, bool ok, uint64_t messages, const tr_fault *f)
{
	if (rt_part(s)[w->index] == PART_OPEN && w->rt->cfg.placement == TR_PLACE_SPREAD)
		rt_open_ids_set(w, s->id, 0);
	rt_part(s)[w->index] = PART_DONE;
	if (RT_ID_HOME(s->id) == w->index) {
		rt_home_part_done(w, s, ok, messages, f);
		return;
	}
	tr_xmsg m = {.id = s->id, .bits = messages, .label = f->pc, .tag = TR_XOP_PART_DONE,
	             .from = (uint8_t)(f->role > 255 ? 255 : f->role),
	             .to = (uint8_t)f->kind, .kind = ok ? 1 : 0};
	rt_send_x(w, RT_ID_HOME(s->id), &m);
}

/* states: the role states (NULL: all NULL). */
static void
rt_open_part(rt_worker *w, rt_session *s, void *const *states)
{
	tr_session_opts o;
	tr_session_id got = 0;

	memset(&o, 0, sizeof o);
	o.id = s->id;
	o.roles_here = rt_roles_on(w->rt, s, w->index);
	o.priority = s->live.priority; /* set at the pop, before any part opens */
	o.full_policy = -1;
	o.role_state = (void **)states;
	const tr_handler *h = &rt_hentry_at(w->rt, s->handler)->h;
	if (tr_machine_open_session(w->m, w->rt->images[s->image], h, &o, &got) != TR_OK) {
		tr_fault f = {.kind = TR_FAULT_CANCELLED, .session = s->id, .role = UINT32_MAX};
		rt_part_done(w, s, false, 0, &f);
		return;
	}
	rt_part(s)[w->index] = PART_OPEN;
	w->parts_live++;
	if (w->rt->cfg.placement == TR_PLACE_SPREAD)
		rt_open_ids_set(w, s->id, s->id);
}

/* ---- worker: host commands ---- */

static void
rt_cmd_free(tr_runtime *rt, rt_cmd_hdr *h)
{
	if (h->heap)
		tr_free(rt->a, h, sizeof(rt_cmd));
}

static void
rt_deliver(rt_worker *w, rt_session *s, uint32_t from, uint32_t to, uint32_t label,
           tr_value v)
{
	if (rt_part(s)[w->index] == PART_NONE)
		rt_open_part(w, s, rt_role_states(s)); /* S2 */
	if (rt_part(s)[w->index] != PART_OPEN) {
		w->dropped_here++;
		return;
	}
	/* CLOSED / NOT_FOUND: the machine dropped and counted it. Anything
	 * else (NOMEM, INVALID) it did not count: we do. */
	tr_status st = tr_machine_inject(w->m, s->id, from, to, label, v);
	if (st != TR_OK && st != TR_E_CLOSED && st != TR_E_NOT_FOUND)
		w->dropped_here++;
}

static void
rt_handle_open(rt_worker *w, rt_session *s)
{
	tr_runtime *rt = w->rt;
	void **states = rt_role_states(s);
	/* Read now: a failed open may complete (and retire) s. */
	size_t own = s->open_states ? (size_t)s->nroles * sizeof(void *) : 0;

	/* The OPEN header's bytes are ours from the pop on (rt_live): no part
	 * is open yet, so nothing else reads them. */
	s->live = (rt_live){.priority = s->open_cmd.priority};
	if (own) {
		states = s->open_states_;
		s->messages = 0;
	}
	atomic_store_explicit(&s->status, RS_OPEN, memory_order_relaxed);
	if (w->stopping) {
		tr_free(rt->a, own ? states : NULL, own);
		/* Stop has begun: the session never runs. */
		s->live.reason = RR_STOP;
		s->live.any_cancel = true;
		atomic_store_explicit(&s->status, RS_CLOSING, memory_order_relaxed);
		s->live.parts_done = rt_parts_total(rt, s);
		rt_complete(w, s);
		return;
	}
	for (uint32_t p = 0; p < rt->T; p++) {
		if (rt_roles_on(rt, s, p) == 0)
			continue;
		if (p == w->index) {
			rt_open_part(w, s, states);
		} else {
			tr_xmsg m = {.id = s->id, .tag = TR_XOP_OPEN};
			rt_send_x(w, p, &m);
		}
	}
	tr_free(rt->a, own ? states : NULL, own);
}

static void
rt_handle_stop(rt_worker *w, const char *reason)
{
	w->stopping = true;
	w->stop_reason = reason;
	uint32_t high = tr_slot_high_any(&w->slots);
	for (uint32_t i = 0; i < high; i++) {
		rt_session *s = tr_slot_get_any(&w->slots, i);
		if (s == NULL)
			continue;
		/* PENDING ones meet `stopping` when their OPEN arrives. */
		if (atomic_load_explicit(&s->status, memory_order_relaxed) == RS_OPEN)
			rt_home_cancel(w, s, RR_STOP);
	}
}

static uint32_t
rt_drain_cmds(rt_worker *w)
{
	tr_runtime *rt = w->rt;
	uint32_t n = 0;
	tr_mpsc_node *node;

	while (n < RT_BATCH && (node = tr_mpsc_pop_sc(&w->cmds)) != NULL) {
		rt_cmd_hdr *h = (rt_cmd_hdr *)node;
		rt_cmd *c = (rt_cmd *)node; /* not for OPEN */
		n++;
		switch (h->op) {
		case CMD_OPEN:
			/* Not ours to free, and once the session completes these
			 * bytes are its epoch entry: h is not read again. */
			rt_handle_open(w, (rt_session *)((char *)h - offsetof(rt_session, open_cmd)));
			continue;
		case CMD_POST: {
			rt_session *s = rt_lookup(rt, c->id); /* home-owned */
			if (s == NULL || atomic_load_explicit(&s->status, memory_order_relaxed) == RS_DONE) {
				w->dropped_here++;
				break;
			}
			uint32_t dst = rt_worker_of(rt, c->id, c->to);
			if (dst == w->index) {
				rt_deliver(w, s, c->from, c->to, c->label, c->v);
			} else {
				tr_xmsg m = {.id = c->id, .bits = c->v.bits, .label = c->label,
				             .tag = TR_XOP_MSG, .from = (uint8_t)c->from,
				             .to = (uint8_t)c->to, .kind = (uint8_t)c->v.kind};
				rt_send_x(w, dst, &m);
			}
			break;
		}
		case CMD_CANCEL: {
			rt_session *s = rt_lookup(rt, c->id);
			if (s != NULL && atomic_load_explicit(&s->status, memory_order_relaxed) == RS_OPEN)
				rt_home_cancel(w, s, RR_HOST);
			break;
		}
		case CMD_STOP:
			rt_handle_stop(w, c->reason);
			break;
		case CMD_PREPARE:
			/* Failure costs nothing but the head start: the first
			 * sessions then allocate as they open. */
			(void)tr_machine_prepare(w->m, rt->images[c->label]);
			/* acq_rel: the last one wakes register_image, which
			 * re-checks under drain_lock (no lost wake-up) */
			if (atomic_fetch_sub_explicit(&rt->preparing, 1, memory_order_acq_rel) == 1) {
				pthread_mutex_lock(&rt->drain_lock);
				pthread_cond_broadcast(&rt->drain_cv);
				pthread_mutex_unlock(&rt->drain_lock);
			}
			break;
		default:
			break;
		}
		rt_cmd_free(rt, h);
	}
	return n;
}

/* ---- worker: rings ---- */

static void
rt_handle_x(rt_worker *w, const tr_xmsg *m)
{
	tr_runtime *rt = w->rt;

	if (m->tag == TR_XOP_CREDIT) {
		/* NOT_FOUND: our part already ended; nothing to wake. */
		(void)tr_machine_add_credit(w->m, m->id, m->from, m->to, m->label);
		return;
	}
	rt_session *s = rt_lookup(rt, m->id); /* inside the loop's section (E1) */
	if (s == NULL) {
		if (m->tag == TR_XOP_MSG)
			w->dropped_here++; /* S4: a late message */
		return;
	}
	switch (m->tag) {
	case TR_XOP_MSG: {
		tr_value v = {.kind = m->kind, .bits = m->bits};
		rt_deliver(w, s, m->from, m->to, m->label, v);
		break;
	}
	case TR_XOP_OPEN:
		if (rt_part(s)[w->index] == PART_NONE)
			rt_open_part(w, s, rt_role_states(s));
		break;
	case TR_XOP_CANCEL:
		if (rt_part(s)[w->index] == PART_OPEN) {
			(void)tr_machine_cancel(w->m, s->id);
		} else if (rt_part(s)[w->index] == PART_NONE) {
			tr_fault f = {.kind = TR_FAULT_CANCELLED, .session = s->id};
			rt_part_done(w, s, false, 0, &f);
		}
		break;
	case TR_XOP_PART_DONE: {
		tr_fault f = {.kind = (tr_fault_kind)m->to, .session = m->id,
		              .role = m->from == 255 ? UINT32_MAX : m->from, .pc = m->label};
		rt_home_part_done(w, s, m->kind != 0, m->bits, &f);
		break;
	}
	default:
		break;
	}
}

/* Handle n messages received from another worker, in order. */
static void
rt_take(rt_worker *w, const tr_xmsg *v, uint32_t n)
{
	for (uint32_t i = 0; i < n;) {
		/* A run of messages for parts open here goes to the machine in one
		 * call, without the shared record (as rt_deliver). */
		uint32_t j = i;
		while (j < n && v[j].tag == TR_XOP_MSG && rt_open_here(w, v[j].id))
			j++;
		if (j > i) {
			/* Invalid records the machine skips and counts itself; out
			 * of memory it queues none, and we count them. */
			if (tr_machine_inject_batch(w->m, &v[i], j - i, NULL) == TR_E_NOMEM)
				w->dropped_here += j - i;
			i = j;
			continue;
		}
		rt_handle_x(w, &v[i++]);
	}
}

static uint32_t
rt_drain_rings(rt_worker *w)
{
	tr_runtime *rt = w->rt;
	uint32_t total = 0;

	for (uint32_t src = 0; src < rt->T; src++) {
		if (src == w->index)
			continue;
		tr_xring *r = &rt->rings[src * rt->T + w->index];
		/* About one round budget of messages per loop: each wakes at most
		 * one coroutine, and a session delivered to is still in cache when
		 * its coroutine runs a few rounds later. */
		uint32_t max = rt->cfg.round_budget < RT_BATCH ? rt->cfg.round_budget : RT_BATCH;
		const tr_xmsg *seg[2];
		uint32_t len[2];
		uint32_t n = tr_xring_peek_sc(r, max, &seg[0], &len[0], &seg[1], &len[1]);
		for (int k = 0; k < 2; k++)
			rt_take(w, seg[k], len[k]);
		if (n > 0)
			tr_xring_release_sc(r, n);
		total += n;
	}
	return total;
}

static bool
rt_inbox_nonempty(rt_worker *w)
{
	tr_runtime *rt = w->rt;
	if (tr_mpsc_nonempty_sc(&w->cmds))
		return true;
	for (uint32_t src = 0; src < rt->T; src++)
		if (src != w->index && tr_xring_nonempty_sc(&rt->rings[src * rt->T + w->index]))
			return true;
	return false;
}

/* ---- worker: running and reaping ---- */

static uint32_t
rt_run_rounds(rt_worker *w)
{
	/* Stops when a round would have nothing to do (no ready coroutine,
	 * wake-up, ingress, timer or topology handler): it would only report
	 * STUCK (or ALL_DONE). A replay error cannot happen here (no replay). */
	uint32_t n = 0;
	(void)tr_machine_run_while_work(w->m, w->rt->cfg.round_budget, &n, NULL);
	return n;
}

static void
rt_apply_selfcredits(rt_worker *w)
{
	for (uint32_t i = 0; i < w->nselfcred; i++) {
		rt_selfcredit *c = &w->selfcred[i];
		(void)tr_machine_add_credit(w->m, c->id, c->from, c->to, 1);
	}
	w->nselfcred = 0;
}

static uint32_t
rt_reap(rt_worker *w)
{
	uint32_t total = 0;
	size_t n;

	do {
		n = 0;
		if (tr_machine_reap_closed_sessions(w->m, w->reap, RT_REAP, &n) != TR_OK)
			break;
		for (size_t i = 0; i < n; i++) {
			tr_session_summary *ps = &w->reap[i];
			rt_session *s = rt_lookup(w->rt, ps->id); /* E3 */
			w->parts_live--;
			if (s == NULL)
				continue;
			rt_part_done(w, s, ps->ok, ps->messages, &ps->fault);
		}
		total += (uint32_t)n;
	} while (n == RT_REAP);
	return total;
}

static void
rt_publish(rt_worker *w)
{
	tr_machine_stats ms;
	tr_machine_stats_get(w->m, &ms);
	atomic_store_explicit(&w->pub_rounds, ms.rounds, memory_order_relaxed);
	atomic_store_explicit(&w->pub_sent, ms.messages_sent, memory_order_relaxed);
	atomic_store_explicit(&w->pub_received, ms.messages_received, memory_order_relaxed);
	atomic_store_explicit(&w->pub_remote, w->remote_sent, memory_order_relaxed);
	atomic_store_explicit(&w->pub_dropped, ms.messages_dropped + w->dropped_here,
	                      memory_order_relaxed);
	atomic_store_explicit(&w->pub_parts, w->parts_live, memory_order_relaxed);
	atomic_store_explicit(&w->pub_parks, w->parks, memory_order_relaxed);
	atomic_store_explicit(&w->pub_overflow, w->overflow_peak, memory_order_relaxed);
}

/* ---- worker: life ---- */

static tr_status
rt_worker_init_owner(rt_worker *w)
{
	tr_runtime *rt = w->rt;
	tr_machine_config mc;
	tr_status st;

	if (w->cpu_want >= 0 && tr_pin_self(w->cpu_want) == TR_OK)
		atomic_store_explicit(&w->pub_cpu, w->cpu_want, memory_order_relaxed);
	if (rt->cfg.allocator != NULL) {
		w->ma = rt->cfg.allocator;
	} else {
		if ((st = tr_worker_alloc_init(&w->wa)) != TR_OK)
			return st;
		w->ma = &w->wa.base;
	}
	w->out = tr_calloc(rt->a, rt->T, sizeof(tr_outbox));
	if (w->out == NULL)
		return TR_E_NOMEM;
	tr_machine_config_default(&mc);
	mc.policy = rt->cfg.policy;
	mc.seed = rt->cfg.seed + w->index;
	mc.buffer_capacity = rt->cfg.buffer_capacity;
	mc.slice = rt->cfg.slice;
	mc.on_fault = TR_ON_FAULT_ISOLATE;
	mc.allocator = w->ma;
	if ((st = tr_machine_create(&mc, &w->m)) != TR_OK)
		return st;
	tr_remote_ops ops = {.credit = rt_remote_credit, .ctx = w,
	                     .send_batch = rt_remote_send_batch};
	return tr_machine_set_remote(w->m, &ops);
}

static void
rt_worker_fini_owner(rt_worker *w)
{
	tr_runtime *rt = w->rt;

	tr_machine_free(w->m);
	w->m = NULL;
	for (uint32_t h = 0; h < TR_RUNTIME_MAX_THREADS; h++)
		if (w->open_ids[h].v != NULL)
			tr_free(w->ma, w->open_ids[h].v, (size_t)w->open_ids[h].cap * sizeof(uint64_t));
	if (w->out != NULL) {
		for (uint32_t d = 0; d < rt->T; d++)
			tr_outbox_destroy(&w->out[d], rt->a);
		tr_free(rt->a, w->out, (size_t)rt->T * sizeof(tr_outbox));
		w->out = NULL;
	}
	if (w->selfcred != NULL)
		tr_free(rt->a, w->selfcred, (size_t)w->capselfcred * sizeof(rt_selfcredit));
	w->selfcred = NULL;
	if (w->ma == &w->wa.base)
		tr_worker_alloc_destroy(&w->wa);
}

static void *
rt_worker_main(void *arg)
{
	rt_worker *w = arg;
	tr_runtime *rt = w->rt;
	uint32_t idle = 0;
	bool held = rt->cfg.start_held; /* G1: true until we see the release */

	w->init_status = rt_worker_init_owner(w);
	/* Release: init_status is visible to the creator; pairs with its
	 * acquire load in tr_runtime_create. */
	atomic_store_explicit(&w->ready, 1, memory_order_release);
	tr_parker_wake_any(&w->park);
	if (w->init_status != TR_OK) {
		rt_worker_fini_owner(w);
		return NULL;
	}
	for (;;) {
		uint32_t work = 0;

		/* The epoch sections cost a full fence each (ck_epoch_begin): a
		 * loop with nothing to take or reap (a chain of rounds on this
		 * shard alone) skips them. A message that lands just after the
		 * look is taken next loop. */
		if (rt_inbox_nonempty(w)) {
			rt_section_begin(w->erec);
			work += rt_drain_cmds(w);
			work += rt_drain_rings(w);
			rt_section_end(rt, w->erec);
		}
		/* Acquire: pairs with the seq_cst store of held in
		 * tr_runtime_release (G1). One-way: never read again once seen. */
		if (held && !atomic_load_explicit(&rt->held, memory_order_acquire))
			held = false;
		if (!held) {
			work += rt_run_rounds(w);
			/* staged remote messages are offered again after the next
			 * rounds: keep looping (no park) until they are taken */
			work += w->backlog;
		}
		if (w->nselfcred > 0) {
			rt_apply_selfcredits(w);
			work++;
		}
		if (tr_machine_has_closed(w->m)) {
			rt_section_begin(w->erec); /* PART_DONE lookups of other homes' records */
			work += rt_reap(w);
			rt_section_end(rt, w->erec);
		}
		rt_flush(w);
		if (w->erec->n_pending > 0)
			ck_epoch_poll(w->erec);
		if ((++w->loops & 63) == 0)
			rt_publish(w);
		/* Acquire: pairs with the release store of quit in stop. */
		if (atomic_load_explicit(&rt->quit, memory_order_acquire))
			break;
		if (work > 0) {
			idle = 0;
			continue;
		}
		if (++idle < rt->cfg.spin || rt_outbox_pending(w)) {
			if (idle < 32)
				tr_cpu_relax();
			else
				sched_yield();
			continue;
		}
		rt_give_back_slots(w);
		tr_parker_prepare_owner(&w->park);
		/* seq_cst load of held: the owner half of G1's Dekker pair with
		 * the seq_cst store in tr_runtime_release, after our W1 store. */
		if (rt_inbox_nonempty(w) || atomic_load_explicit(&rt->quit, memory_order_seq_cst) ||
		    w->erec->n_pending > 0 ||
		    (held && !atomic_load_explicit(&rt->held, memory_order_seq_cst))) {
			tr_parker_cancel_owner(&w->park);
			if (w->erec->n_pending > 0)
				sched_yield(); /* give the grace period a chance */
			idle = 0;
			continue;
		}
		w->parks++;
		rt_publish(w);
		tr_parker_wait_owner(&w->park, rt->cfg.park_timeout_ms);
		/* Woken by a timeout or a producer: if nothing came, park again at
		 * once instead of spinning (an idle runtime stays near 0 % CPU). */
		idle = rt->cfg.spin;
	}
	rt_give_back_slots(w);
	ck_epoch_barrier(w->erec); /* frees every record this home retired */
	rt_publish(w);
	rt_worker_fini_owner(w);
	return NULL;
}

/* ---- public API ---- */

void
tr_runtime_config_default(tr_runtime_config *c)
{
	memset(c, 0, sizeof *c);
	c->threads = 1;
	c->pin = true;
	c->placement = TR_PLACE_LOCAL;
	c->buffer_capacity = 64;
	c->slice = 64;
	c->policy = TR_POLICY_COOPERATIVE;
	c->round_budget = 1024;
	c->spin = 256;
	c->park_timeout_ms = 100;
	c->start_held = false;
}

static void
rt_destroy(tr_runtime *rt)
{
	const tr_allocator *a = rt->a;

	if (rt->w != NULL) {
		for (uint32_t i = 0; i < rt->T; i++) {
			rt_worker *w = rt->w[i];
			if (w == NULL)
				continue;
			tr_slot_table_destroy(&w->slots);
			rt_free_aligned(a, w);
		}
		tr_free(a, rt->w, (size_t)rt->T * sizeof(rt_worker *));
	}
	/* Every record (workers' and hosts') is on the epoch's list. */
	ck_stack_entry_t *e = CK_STACK_FIRST(&rt->epoch.records);
	while (e != NULL) {
		ck_stack_entry_t *next = CK_STACK_NEXT(e);
		ck_epoch_record_t *r = (ck_epoch_record_t *)((char *)e - offsetof(ck_epoch_record_t, record_next));
		ck_epoch_reclaim(r);
		rt_free_aligned(a, r);
		e = next;
	}
	if (rt->rings != NULL) {
		for (uint32_t i = 0; i < rt->T * rt->T; i++)
			tr_xring_destroy(&rt->rings[i], a);
		tr_free(a, rt->rings, (size_t)rt->T * rt->T * sizeof(tr_xring));
	}
	if (rt->key_ok)
		pthread_key_delete(rt->key);
	for (uint32_t i = 0; i < RT_HNSEG; i++) {
		rt_hentry *seg = atomic_load_explicit(&rt->hseg[i], memory_order_relaxed);
		if (seg != NULL)
			tr_free(a, seg, RT_HSEG_SIZE * sizeof *seg);
	}
	pthread_mutex_destroy(&rt->img_lock);
	pthread_mutex_destroy(&rt->h_lock);
	pthread_mutex_destroy(&rt->stop_lock);
	pthread_mutex_destroy(&rt->drain_lock);
	pthread_cond_destroy(&rt->drain_cv);
	tr_free(a, rt, sizeof *rt);
}

static void
rt_join_all(tr_runtime *rt)
{
	/* Release: pairs with the acquire load of quit in the worker loop. */
	atomic_store_explicit(&rt->quit, true, memory_order_release);
	for (uint32_t i = 0; i < rt->T; i++) {
		rt_worker *w = rt->w[i];
		if (w == NULL || !w->started)
			continue;
		tr_parker_wake_any(&w->park);
	}
	for (uint32_t i = 0; i < rt->T; i++) {
		rt_worker *w = rt->w[i];
		if (w == NULL || !w->started)
			continue;
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

tr_status
tr_runtime_create(const tr_runtime_config *cfg, tr_runtime **out)
{
	tr_runtime_config def;
	tr_status st = TR_OK;

	if (out == NULL)
		return TR_E_INVALID;
	*out = NULL;
	if (cfg == NULL) {
		tr_runtime_config_default(&def);
		cfg = &def;
	}
	if (cfg->threads == 0 || cfg->threads > TR_RUNTIME_MAX_THREADS ||
	    cfg->buffer_capacity == 0 || cfg->slice == 0 ||
	    (cfg->placement != TR_PLACE_LOCAL && cfg->placement != TR_PLACE_SPREAD) ||
	    (unsigned)cfg->policy >= TR_POLICY_COUNT_)
		return TR_E_INVALID;

	const tr_allocator *a = tr_alloc_or_default(cfg->allocator);
	tr_runtime *rt = tr_calloc(a, 1, sizeof *rt);
	if (rt == NULL)
		return TR_E_NOMEM;
	rt->cfg = *cfg;
	if (rt->cfg.round_budget == 0)
		rt->cfg.round_budget = 1024;
	rt->a = a;
	rt->T = cfg->threads;
	atomic_init(&rt->held, cfg->start_held);
	for (uint32_t i = 0; i < TR_ARRAY_LEN(rt->place); i++)
		rt->place[i] = (uint8_t)(i % rt->T);
	ck_epoch_init(&rt->epoch);
	pthread_mutex_init(&rt->img_lock, NULL);
	pthread_mutex_init(&rt->h_lock, NULL);
	pthread_mutex_init(&rt->stop_lock, NULL);
	pthread_mutex_init(&rt->drain_lock, NULL);
	pthread_cond_init(&rt->drain_cv, NULL);
	rt->key_ok = pthread_key_create(&rt->key, rt_host_record_dtor) == 0;
	/* The handler table's first segment and buckets now, written
	 * through, not on the first open (a fresh page costs this VM a few
	 * microseconds to fault in). */
	for (uint32_t b = 0; b < RT_HBUCKETS; b++)
		atomic_init(&rt->hbucket[b], 0);
	rt_hentry *hseg0 = tr_alloc(a, RT_HSEG_SIZE * sizeof *hseg0);
	if (hseg0 == NULL) {
		st = TR_E_NOMEM;
		goto fail_destroy;
	}
	memset(hseg0, 0, RT_HSEG_SIZE * sizeof *hseg0);
	atomic_store_explicit(&rt->hseg[0], hseg0, memory_order_relaxed);

	rt->rings = tr_calloc(a, (size_t)rt->T * rt->T, sizeof(tr_xring));
	rt->w = tr_calloc(a, rt->T, sizeof(rt_worker *));
	if (rt->rings == NULL || rt->w == NULL) {
		st = TR_E_NOMEM;
		goto fail_destroy;
	}
	for (uint32_t s = 0; s < rt->T; s++)
		for (uint32_t d = 0; d < rt->T; d++)
			if (s != d && (st = tr_xring_init(&rt->rings[s * rt->T + d], rt_ring_size(rt->T), a)) != TR_OK)
				goto fail_destroy;

	int cpus[1024];
	size_t ncpu = cfg->pin ? tr_affinity_cpus(cpus, TR_ARRAY_LEN(cpus)) : 0;
	for (uint32_t i = 0; i < rt->T; i++) {
		rt_worker *w = rt_alloc_aligned(a, sizeof *w);
		if (w == NULL) {
			st = TR_E_NOMEM;
			goto fail_destroy;
		}
		rt->w[i] = w;
		w->rt = rt;
		w->index = i;
		w->cpu_want = ncpu > 0 ? cpus[i % ncpu] : -1;
		tr_mpsc_init(&w->cmds);
		tr_parker_init(&w->park);
		atomic_init(&w->pub_cpu, -1);
		if ((st = tr_slot_table_init(&w->slots, a)) != TR_OK) {
			rt->w[i] = NULL;
			rt_free_aligned(a, w);
			goto fail_destroy;
		}
		w->erec = rt_alloc_aligned(a, sizeof(ck_epoch_record_t));
		if (w->erec == NULL) {
			st = TR_E_NOMEM;
			goto fail_destroy;
		}
		ck_epoch_register(&rt->epoch, w->erec, NULL);
	}
	for (uint32_t i = 0; i < rt->T; i++) {
		rt_worker *w = rt->w[i];
		if (pthread_create(&w->thread, NULL, rt_worker_main, w) != 0) {
			st = TR_E_IO;
			goto fail_join;
		}
		w->started = true;
	}
	for (uint32_t i = 0; i < rt->T; i++) {
		rt_worker *w = rt->w[i];
		/* Acquire: pairs with the release store of ready by the worker. */
		while (atomic_load_explicit(&w->ready, memory_order_acquire) == 0)
			sched_yield();
		if (w->init_status != TR_OK && st == TR_OK)
			st = w->init_status;
	}
	if (st != TR_OK)
		goto fail_join;
	*out = rt;
	return TR_OK;

fail_join:
	rt_join_all(rt);
fail_destroy:
	rt_destroy(rt);
	return st;
}

/* img's index in rt->images, or -1. */
static int32_t
rt_image_index(tr_runtime *rt, const tr_image *img)
{
	/* Acquire: pairs with the release increment in register_image. */
	uint32_t n = atomic_load_explicit(&rt->nimages, memory_order_acquire);
	for (uint32_t i = 0; i < n; i++)
		if (rt->images[i] == img)
			return (int32_t)i;
	return -1;
}

/* Whether the calling thread is one of rt's workers. */
static bool
rt_on_worker(tr_runtime *rt)
{
	for (uint32_t i = 0; i < rt->T; i++)
		if (rt->w[i]->started && pthread_equal(rt->w[i]->thread, pthread_self()))
			return true;
	return false;
}

/* Every worker prepares its machine for image index i (CMD_PREPARE,
 * tr_machine_prepare), and the call returns when all have, so that the
 * first sessions' latency is the steady state's. Under stop_lock, which
 * stop holds from its STOP to the join: unless stop has begun (then
 * nothing is prepared) the workers are running and will take the
 * commands. Stop is not called from a worker (runtime.h), so no worker
 * waits for this lock while we wait for it. Best effort: a command that
 * cannot be allocated is skipped (that worker's first sessions allocate
 * as they open). */
static void
rt_prepare_all(tr_runtime *rt, uint32_t i)
{
	if (rt_on_worker(rt))
		return; /* we would wait for ourselves */
	pthread_mutex_lock(&rt->stop_lock);
	if (!rt->stopped && !atomic_load_explicit(&rt->stopping, memory_order_seq_cst)) {
		for (uint32_t k = 0; k < rt->T; k++) {
			rt_cmd *c = tr_alloc(rt->a, sizeof *c);
			if (c == NULL)
				continue;
			memset(c, 0, sizeof *c);
			c->hdr.op = CMD_PREPARE;
			c->hdr.heap = true;
			c->label = i;
			atomic_fetch_add_explicit(&rt->preparing, 1, memory_order_relaxed);
			tr_mpsc_push_mpsc(&rt->w[k]->cmds, &c->hdr.node);
			tr_parker_wake_any(&rt->w[k]->park);
		}
		pthread_mutex_lock(&rt->drain_lock);
		/* Acquire: pairs with the workers' acq_rel decrements. */
		while (atomic_load_explicit(&rt->preparing, memory_order_acquire) > 0)
			pthread_cond_wait(&rt->drain_cv, &rt->drain_lock);
		pthread_mutex_unlock(&rt->drain_lock);
	}
	pthread_mutex_unlock(&rt->stop_lock);
}

tr_status
tr_runtime_register_image(tr_runtime *rt, const tr_image *img)
{
	tr_status st = TR_OK;
	uint32_t n = 0;
	bool added = false;

	if (rt == NULL || img == NULL)
		return TR_E_INVALID;
	if (atomic_load_explicit(&rt->stopping, memory_order_seq_cst))
		return TR_E_STATE;
	pthread_mutex_lock(&rt->img_lock);
	if (rt_image_index(rt, img) >= 0)
		goto out_unlock;
	n = atomic_load_explicit(&rt->nimages, memory_order_relaxed);
	if (n == RT_MAX_IMAGES) {
		st = TR_E_LIMIT;
		goto out_unlock;
	}
	rt->images[n] = img;
	/* Release: publishes images[n]; pairs with rt_image_index. */
	atomic_store_explicit(&rt->nimages, n + 1, memory_order_release);
	added = true;
out_unlock:
	pthread_mutex_unlock(&rt->img_lock);
	if (added)
		rt_prepare_all(rt, n);
	return st;
}

tr_status
tr_runtime_open_session(tr_runtime *rt, const tr_image *img, const tr_handler *h,
                        void *const *role_states, const tr_runtime_session_opts *opts,
                        tr_session_id *id)
{
	tr_status st;
	uint16_t hidx;

	if (rt == NULL || img == NULL || h == NULL || id == NULL)
		return TR_E_INVALID;
	*id = 0;
	int32_t image = rt_image_index(rt, img);
	if (image < 0)
		return TR_E_INVALID;
	uint32_t nroles = tr_image_nroles(img);
	uint64_t host_roles = opts != NULL ? opts->host_roles : 0;
	uint64_t all = nroles >= 64 ? ~0ull : (1ull << nroles) - 1;
	if (nroles == 0 || nroles > 255 || (host_roles & ~all) != 0 || host_roles == all)
		return TR_E_INVALID;
	/* All-NULL role states are not stored: the machine reads a NULL
	 * array as all NULL. */
	bool states = false;
	for (uint32_t i = 0; role_states != NULL && i < nroles; i++)
		states |= role_states[i] != NULL;

	/* seq_cst, with the load of stopping below: a Dekker pair with stop,
	 * which stores stopping then waits for live == 0. Either we see
	 * stopping, or stop's drain sees this session. */
	atomic_fetch_add_explicit(&rt->live, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&rt->stopping, memory_order_seq_cst)) {
		st = TR_E_STATE;
		goto fail_live;
	}
	if ((st = rt_handler_intern(rt, h, &hidx)) != TR_OK)
		goto fail_live;
	uint32_t home = atomic_fetch_add_explicit(&rt->next_home, 1, memory_order_relaxed) % rt->T;
	rt_worker *w = rt->w[home];
	bool tail = states && rt->cfg.placement == TR_PLACE_SPREAD;
	size_t size = rt_session_size(nroles, tail, host_roles != 0, rt->T);
	size_t ssize = (size_t)nroles * sizeof(void *);
	void **open_states = NULL;
	rt_session *s = tr_calloc(rt->a, 1, size);
	if (s == NULL) {
		st = TR_E_NOMEM;
		goto fail_live;
	}
	if (states && !tail && (open_states = tr_alloc(rt->a, ssize)) == NULL) {
		tr_free(rt->a, s, size);
		st = TR_E_NOMEM;
		goto fail_live;
	}
	uint32_t slot, gen;
	if ((st = tr_slot_alloc_any(&w->slots, &slot, &gen)) != TR_OK) {
		tr_free(rt->a, s, size);
		tr_free(rt->a, open_states, ssize);
		goto fail_live;
	}
	s->id = rt_make_id(home, host_roles != 0, slot, gen);
	s->open_cmd.priority = opts != NULL ? opts->priority : 0;
	s->handler = hidx;
	s->image = (uint8_t)image;
	s->has_states = tail;
	s->nroles = (uint8_t)nroles;
	if (open_states != NULL) {
		memcpy(open_states, role_states, ssize);
		s->open_states = true;
		s->open_states_ = open_states;
	}
	atomic_init(&s->status, RS_PENDING);
	s->user = opts != NULL ? opts->user : NULL;
	if (tail)
		memcpy(rt_role_states(s), role_states, ssize);
	if (host_roles != 0)
		memcpy((char *)s + rt_session_size(nroles, tail, false, 0), &host_roles,
		       sizeof host_roles);
	s->open_cmd.op = CMD_OPEN;
	*id = s->id;
	atomic_fetch_add_explicit(&rt->opened, 1, memory_order_relaxed);
	tr_slot_publish_any(&w->slots, slot, s);
	tr_mpsc_push_mpsc(&w->cmds, &s->open_cmd.node);
	tr_parker_wake_any(&w->park);
	return TR_OK;

fail_live:
	rt_live_dec(rt);
	return st;
}

tr_status
tr_runtime_release(tr_runtime *rt)
{
	if (rt == NULL)
		return TR_E_INVALID;
	/* seq_cst: the releaser half of G1's Dekker pair; pairs with the
	 * worker's acquire load in its loop and its seq_cst re-check of held
	 * after the parker's W1 store. The wakes below then find every worker
	 * that may have missed it (W3). */
	atomic_store_explicit(&rt->held, false, memory_order_seq_cst);
	for (uint32_t i = 0; i < rt->T; i++)
		tr_parker_wake_any(&rt->w[i]->park);
	return TR_OK;
}

/* Look id up in a section; copy what the caller needs. */
static tr_status
rt_host_peek(tr_runtime *rt, tr_session_id id, uint32_t *status, uint64_t *host_roles,
             uint32_t *nroles)
{
	ck_epoch_record_t *r = rt_host_record(rt);
	if (r == NULL)
		return TR_E_NOMEM;
	tr_status st = TR_OK;
	rt_section_begin(r);
	rt_session *s = rt_lookup(rt, id);
	if (s == NULL) {
		st = TR_E_NOT_FOUND;
	} else {
		/* Acquire: pairs with the release store of RS_DONE in rt_complete. */
		*status = atomic_load_explicit(&s->status, memory_order_acquire);
		*host_roles = rt_host_roles(s);
		*nroles = s->nroles;
	}
	rt_section_end(rt, r);
	if (st == TR_OK && *status == RS_DONE)
		st = TR_E_NOT_FOUND;
	return st;
}

static tr_status
rt_push_cmd(tr_runtime *rt, tr_session_id id, const rt_cmd *tmpl)
{
	rt_cmd *c = tr_alloc(rt->a, sizeof *c);
	if (c == NULL)
		return TR_E_NOMEM;
	*c = *tmpl;
	c->hdr.heap = true;
	rt_worker *w = rt->w[RT_ID_HOME(id)];
	tr_mpsc_push_mpsc(&w->cmds, &c->hdr.node);
	tr_parker_wake_any(&w->park);
	return TR_OK;
}

tr_status
tr_runtime_post(tr_runtime *rt, tr_session_id id, uint32_t from, uint32_t to,
                uint32_t label, tr_value v)
{
	uint32_t status = 0, nroles = 0;
	uint64_t host_roles = 0;

	if (rt == NULL)
		return TR_E_INVALID;
	tr_status st = rt_host_peek(rt, id, &status, &host_roles, &nroles);
	if (st != TR_OK)
		return st;
	if (from >= nroles || to >= nroles || !(host_roles >> from & 1) || (host_roles >> to & 1))
		return TR_E_INVALID;
	if (status == RS_CLOSING)
		return TR_E_CLOSED;
	rt_cmd c = {.hdr.op = CMD_POST, .id = id, .from = from, .to = to, .label = label, .v = v};
	if ((st = rt_push_cmd(rt, id, &c)) == TR_OK)
		atomic_fetch_add_explicit(&rt->posts, 1, memory_order_relaxed);
	return st;
}

tr_status
tr_runtime_cancel(tr_runtime *rt, tr_session_id id)
{
	uint32_t status = 0, nroles = 0;
	uint64_t host_roles = 0;

	if (rt == NULL)
		return TR_E_INVALID;
	tr_status st = rt_host_peek(rt, id, &status, &host_roles, &nroles);
	if (st != TR_OK)
		return st;
	rt_cmd c = {.hdr.op = CMD_CANCEL, .id = id};
	return rt_push_cmd(rt, id, &c);
}

tr_status
tr_runtime_session_status(tr_runtime *rt, tr_session_id id, tr_session_status *out)
{
	uint32_t status = 0, nroles = 0;
	uint64_t host_roles = 0;

	if (rt == NULL || out == NULL)
		return TR_E_INVALID;
	tr_status st = rt_host_peek(rt, id, &status, &host_roles, &nroles);
	if (st != TR_OK)
		return st;
	*out = status == RS_CLOSING ? TR_SESSION_CLOSED : TR_SESSION_OPEN;
	return TR_OK;
}

void
tr_runtime_stats_get(tr_runtime *rt, tr_runtime_stats *out, tr_runtime_worker_stats *ws,
                     size_t nws)
{
	memset(out, 0, sizeof *out);
	out->threads = rt->T;
	out->sessions_opened = atomic_load_explicit(&rt->opened, memory_order_relaxed);
	out->sessions_completed = atomic_load_explicit(&rt->completed, memory_order_relaxed);
	out->sessions_ok = atomic_load_explicit(&rt->ok, memory_order_relaxed);
	out->sessions_cancelled = atomic_load_explicit(&rt->cancelled, memory_order_relaxed);
	out->sessions_faulted = atomic_load_explicit(&rt->faulted, memory_order_relaxed);
	out->sessions_live = atomic_load_explicit(&rt->live, memory_order_relaxed);
	out->sessions_freed = atomic_load_explicit(&rt->freed, memory_order_relaxed);
	out->posts = atomic_load_explicit(&rt->posts, memory_order_relaxed);
	for (uint32_t i = 0; i < rt->T; i++) {
		rt_worker *w = rt->w[i];
		tr_runtime_worker_stats s;
		s.rounds = atomic_load_explicit(&w->pub_rounds, memory_order_relaxed);
		s.messages_sent = atomic_load_explicit(&w->pub_sent, memory_order_relaxed);
		s.messages_received = atomic_load_explicit(&w->pub_received, memory_order_relaxed);
		s.messages_remote = atomic_load_explicit(&w->pub_remote, memory_order_relaxed);
		s.dropped = atomic_load_explicit(&w->pub_dropped, memory_order_relaxed);
		s.parts_live = atomic_load_explicit(&w->pub_parts, memory_order_relaxed);
		s.parks = atomic_load_explicit(&w->pub_parks, memory_order_relaxed);
		s.overflow_peak = atomic_load_explicit(&w->pub_overflow, memory_order_relaxed);
		s.cpu = atomic_load_explicit(&w->pub_cpu, memory_order_relaxed);
		out->messages += s.messages_sent;
		out->dropped += s.dropped;
		if (ws != NULL && i < nws)
			ws[i] = s;
	}
}

tr_status
tr_runtime_drain(tr_runtime *rt, uint64_t timeout_ms)
{
	struct timespec dl;
	tr_status st = TR_OK;

	if (rt == NULL)
		return TR_E_INVALID;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)(timeout_ms / 1000);
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rt->drain_lock);
	/* Acquire: pairs with the acq_rel decrement in rt_live_dec. */
	while (atomic_load_explicit(&rt->live, memory_order_acquire) > 0) {
		if (timeout_ms == 0) {
			pthread_cond_wait(&rt->drain_cv, &rt->drain_lock);
		} else if (pthread_cond_timedwait(&rt->drain_cv, &rt->drain_lock, &dl) == ETIMEDOUT) {
			if (atomic_load_explicit(&rt->live, memory_order_acquire) > 0)
				st = TR_E_LIMIT;
			break;
		}
	}
	pthread_mutex_unlock(&rt->drain_lock);
	return st;
}

tr_status
tr_runtime_stop(tr_runtime *rt, const char *reason)
{
	if (rt == NULL)
		return TR_E_INVALID;
	pthread_mutex_lock(&rt->stop_lock);
	if (rt->stopped) {
		pthread_mutex_unlock(&rt->stop_lock);
		return TR_OK;
	}
	/* seq_cst: the other half of the Dekker pair in open_session. */
	atomic_store_explicit(&rt->stopping, true, memory_order_seq_cst);
	if (reason == NULL)
		reason = "runtime stopped";
	for (uint32_t i = 0; i < rt->T; i++) {
		rt_worker *w = rt->w[i];
		w->stop_cmd.hdr.op = CMD_STOP;
		w->stop_cmd.reason = reason;
		w->stop_cmd.hdr.heap = false;
		tr_mpsc_push_mpsc(&w->cmds, &w->stop_cmd.hdr.node);
		tr_parker_wake_any(&w->park);
	}
	(void)tr_runtime_drain(rt, 0);
	rt_join_all(rt);
	rt->stopped = true;
	pthread_mutex_unlock(&rt->stop_lock);
	return TR_OK;
}

void
tr_runtime_free(tr_runtime *rt)
{
	if (rt == NULL)
		return;
	(void)tr_runtime_stop(rt, NULL);
	rt_destroy(rt);
}
