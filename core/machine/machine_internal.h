/* core/machine/machine_internal.h: the inside of a tr_machine. Only
 * the files of core/machine include it.
 *
 * Memory layout, chosen so that a live session costs little (a pingpong
 * session, 2 roles and 2 edges, fits in 136 bytes of its own):
 *   one block per session = tr_session header, then nroles tr_coro, then
 *   nedges tr_edgebuf, then the roles' registers (uint64_t each).
 * Blocks of one image have one size and come from a per-image free list, so
 * opening a session after warm-up allocates nothing. An edge holds its
 * first message or two itself (tr_edgebuf); the others are 16-byte records
 * in one machine-wide pool addressed by uint32 index. */
#ifndef TR_CORE_MACHINE_INTERNAL_H
#define TR_CORE_MACHINE_INTERNAL_H

#include "../code/image_internal.h"
#include "../util.h"
#include "sched/sched.h"
#include "troupe/machine.h"

#define TR_NIL UINT32_MAX

/* ---- buffer entries ---- */

/* A message's label and value kind packed in one word (kind in the low 3
 * bits, the label id above), so that a receive checks label and kind in
 * one compare, and a label below 2^13 fits 16 bits as it is (lk16, kept
 * inline in an edge). Label ids stay below 2^24 (ingress_valid). */
#define TR_LABEL_BITS 24
#define TR_LK_KIND_BITS 3
#define TR_LK(label, kind) ((uint32_t)(label) << TR_LK_KIND_BITS | (uint32_t)(kind))
#define TR_LK_LABEL(lk) ((uint32_t)(lk) >> TR_LK_KIND_BITS)
#define TR_LK_KIND(lk) ((uint32_t)(lk) & ((1u << TR_LK_KIND_BITS) - 1))
_Static_assert(TR_SORT_KIND_COUNT_ <= 1u << TR_LK_KIND_BITS, "a kind fits TR_LK's bits");
_Static_assert(TR_MAX_STRINGS <= 1u << TR_LABEL_BITS &&
                   TR_LABEL_BITS + TR_LK_KIND_BITS <= 32,
               "every label id of a verified image fits TR_LK");

/* A TR_LK that fits the 16 bits of an inline message (tr_edgebuf). */
#define TR_LK16_MAX 0xffffu

typedef struct tr_entry {
	uint32_t next;
	uint32_t lk;
	uint64_t bits;
} tr_entry;

/* Entries below `fresh` have been used (each is in a buffer or on the free
 * list); those from `fresh` to cap never were, so growth need not thread
 * them onto the free list: their pages stay untouched (not resident) until
 * the in-flight count reaches them. Doubling otherwise made a peak just
 * over a power of two cost twice its memory (issue 6). */
typedef struct tr_pool {
	tr_entry *e;
	uint32_t cap;   /* entries allocated */
	uint32_t free;  /* free-list head */
	uint32_t fresh; /* first never-used entry */
	/* Entries in use are not counted per get and put (two read-modify-
	 * writes a message, about 2 % of a pingpong round trip): a local send
	 * and a receive are counted anyway (messages_sent, messages_received),
	 * so tr_machine_stats_get derives the number from them. `adjust`
	 * counts the rest: +1 per ingress message buffered, -1 per entry freed
	 * when a session is reaped and per remote send (counted in
	 * messages_sent, not buffered). */
	int64_t adjust;
} tr_pool;

/* ---- sessions ---- */

enum { /* tr_coro.status */
	TR_CO_READY = 0,
	TR_CO_BLOCKED = 1,
	TR_CO_DONE = 2,
	TR_CO_FAULTED = 3,
	TR_CO_ABSENT = 4, /* the role runs on another machine */
};

enum { /* tr_coro.block: why a coroutine waits */
	TR_BLOCK_NONE = 0,
	TR_BLOCK_RECV = 1,   /* edge empty (or partitioned) */
	TR_BLOCK_SEND = 2,   /* edge full */
	TR_BLOCK_CREDIT = 3, /* remote edge without credit */
};

enum { /* tr_edgebuf.flags */
	TR_EDGE_REMOTE_SEND = 1u << 0, /* sender here, receiver elsewhere */
	TR_EDGE_REMOTE_RECV = 1u << 1, /* receiver here, sender elsewhere */
	TR_EDGE_PARTITIONED = 1u << 2, /* messages held until healed */
	TR_EDGE_UNUSED = 1u << 3,      /* neither end here */
	/* The receiver (sender) is blocked on this edge. Kept in the edge so
	 * that an enqueue (dequeue) decides whether to wake without touching
	 * the other coroutine's cache line. A stale bit only costs a wake-up
	 * that step 5 ignores (it re-checks the coroutine's status). */
	TR_EDGE_WAIT_RECV = 1u << 4,
	TR_EDGE_WAIT_SEND = 1u << 5,
	/* The session has a progress contract: moving a message on this edge
	 * moves its clock of progress. A flag of the edge, tested together with
	 * REMOTE_SEND (REMOTE_RECV), so that other sessions' messages pay no
	 * test for it. */
	TR_EDGE_WATCHED = 1u << 6,
};

typedef struct tr_coro {
	/* A closed session's coroutines never run again, so co[0]'s
	 * role_state slot links the closed FIFO and the free list
	 * (session_link): 8 bytes less in every session header. */
	union {
		void *role_state;
		struct tr_session *link;
	};
	/* Where the coroutine resumes: the byte offset of that instruction in
	 * its image's decoded code (tr_image_rt.dcode), so that a slice's
	 * start and end are an add and a subtract (coro_pc gives the index in
	 * its role's code). A faulted coroutine never runs again: from
	 * fault_coro on it holds that index. */
	uint32_t pc;
	uint32_t id;        /* scheduler id */
	uint32_t spare_;    /* free: the 8-byte alignment keeps it */
	uint16_t block_edge;
	uint8_t role;
	union {
		/* status is READY from the wake-up on (wake): whether step 5 has
		 * made it ready yet is the machine's solo or the scheduler's
		 * WOKEN state (coro_waiting) */
		struct {
			uint8_t status : 3;
			uint8_t block : 2;
		};
		uint8_t state_bits; /* both at once: coro_make_ready */
	};
} tr_coro;
_Static_assert(sizeof(tr_coro) == 24, "tr_coro stays 24 bytes: memory per role");

/* An edge's FIFO: its first one or two messages may sit in the edge
 * itself (nin of them, in lk16[0], lk16[1]), the rest are pool entries in
 * a circular list, `tail` the newest (its next is the oldest), so one
 * index serves both ends. The two inline messages share one value word:
 * one of them is Unit, whose value nothing reads (accept), which is the
 * common pair of a choice's label and the payload after it; a lone reply
 * is inline too. A message goes inline only while every message before
 * it is, so the order never needs a copy. Why: the pool's free list and
 * links cost about three times the inline path's instructions, with
 * loads that wait on each other; with every message pooled fanout and
 * twobuyer ran 9 % slower (issue 6, BENCHMARKS.md §5). The 8 bytes more
 * per edge come back at scale, where a pending reply holds no entry. */
typedef struct tr_edgebuf {
	uint64_t bits;       /* the payload of the inline messages, if any */
	uint16_t lk16[2];    /* inline messages: their TR_LK (<= TR_LK16_MAX) */
	uint32_t tail;       /* newest pool entry, meaningless while none */
	uint16_t count;      /* messages: the inline ones and the pool's */
	uint16_t cap;
	uint16_t credit;     /* REMOTE_SEND: credits left; REMOTE_RECV: owed back */
	uint8_t flags;
	uint8_t nin;         /* inline messages, 0 to 2: the first nin of count */
} tr_edgebuf;
_Static_assert(sizeof(tr_edgebuf) == 24, "tr_edgebuf stays 24 bytes");

typedef struct tr_session_ext tr_session_ext;
typedef struct tr_image_rt tr_image_rt;
typedef struct tr_hslot tr_hslot;

/* 40 bytes (issue 6, memory per live session). The first fault's pc is not
 * kept here: a faulted coroutine never runs again, so its own pc field
 * holds it (co[fault_role].pc). The open tick moves into ext when a session
 * has one: the two share a word, has_ext tells which it holds. */
typedef struct tr_session {
	tr_session_id id;
	tr_image_rt *rt;
	uint64_t messages;
	union {
		uint64_t opened_tick;   /* !has_ext */
		tr_session_ext *ext;    /* has_ext: rare features */
	};
	uint16_t handler;               /* index in tr_machine.handlers */
	uint8_t status;                 /* tr_session_status */
	uint8_t nlive;                  /* coroutines here not yet terminal */
	uint8_t full_policy;
	uint8_t fault_kind;
	uint8_t fault_role;             /* valid when fault_kind != NONE */
	uint8_t has_ext;
	tr_coro co[];                   /* nroles, then edges, then registers */
} tr_session;
_Static_assert(sizeof(tr_session) == 40, "the session header: memory per session");

static inline tr_session_ext *
session_ext(const tr_session *s)
{
	return s->has_ext ? s->ext : NULL;
}

/* The closed FIFO's (and the free list's) link: see tr_coro. */
static inline tr_session **
session_link(tr_session *s)
{
	return &s->co[0].link;
}

/* Features most sessions do not use, kept out of the hot block. */
struct tr_session_ext {
	uint64_t opened_tick;
	uint64_t progress_within;
	uint64_t last_progress;
	uint64_t closed_tick;
	uint64_t roles_here;
	uint32_t priority;
};

static inline uint64_t
session_opened_tick(const tr_session *s)
{
	return s->has_ext ? s->ext->opened_tick : s->opened_tick;
}

/* The coroutine's wait is over: READY, no block reason, in one store (the
 * byte is built from the fields, so the bit layout is the compiler's; it
 * folds to a constant). */
static inline void
coro_make_ready(tr_coro *c)
{
	tr_coro t = {0};
	t.status = TR_CO_READY;
	t.block = TR_BLOCK_NONE;
	c->state_bits = t.state_bits;
}

static inline tr_edgebuf *
tr_session_edges(tr_session *s, uint32_t nroles)
{
	return (tr_edgebuf *)(s->co + nroles);
}

static inline tr_session *
tr_coro_session(tr_coro *c)
{
	return (tr_session *)((char *)(c - c->role) - offsetof(tr_session, co));
}

/* The machine's own copy of a role's code, decoded once per image and
 * machine (image_rt_get) so that the interpreter does not chase the image's
 * edge, sort and table arrays. The image's code is never written: images are
 * shared between machines and threads. Field use per opcode:
 *   SEND/RECEIVE  a = label id, b = TR_LK(label, kind), kind = the sort's
 *                 value kind, peer = the edge's receiver (SEND) or sender
 *                 (RECEIVE)
 *   OFFER/CHOOSE  a = index of the instruction's own copy of its table in
 *                 tr_image_rt.dent and .labels, b = its number of
 *                 entries, peer as above
 *   JUMP          a = the target's distance from this instruction (signed)
 *   MOVE          b = the source register as an roff (below)
 *   others        op, reg, edge, a, b as in tr_insn; peer and kind 0
 * and for every instruction with an edge or a register, where they are:
 *   eoff          the edge's byte offset from the coroutine (tr_coro)
 *   roff          the register's byte offset from the coroutine; 0 when
 *                 the role never reads a register (only MOVE does): then
 *                 nothing is kept, and its sessions have no registers
 * Every address the interpreter needs is thus relative to the coroutine or
 * to the instruction, and branches are relative (JUMP) or pointers
 * (tr_dentry.to): across a handler call it keeps neither a code base nor
 * the session's edge and register arrays. */
typedef struct tr_dinsn {
	uint8_t op;
	uint8_t reg;
	uint16_t edge;
	uint32_t a;
	uint32_t b;
	uint8_t peer;
	uint8_t kind;
	uint16_t pad_;
	int32_t eoff;
	int32_t roff;
} tr_dinsn;
_Static_assert(sizeof(tr_dinsn) == 24, "a decoded instruction is 24 bytes");

/* A decoded jump table entry. Every OFFER and CHOOSE has its own copy of
 * its table (a table of the image may serve more than one role's code). */
typedef struct tr_dentry {
	/* The branch's message as a SEND of the OFFER or CHOOSE it belongs
	 * to (its edge, peer, register; a = label, b = TR_LK, kind): OFFER
	 * sends it as it is, CHOOSE checks a message against it. */
	tr_dinsn as;
	const tr_dinsn *to; /* the branch's first instruction */
} tr_dentry;

#define TR_NOREGS UINT16_MAX

/* Per role: where its decoded code starts, as a tr_coro.pc. */
typedef struct tr_role_rt {
	uint32_t pc0;
} tr_role_rt;

/* Per image, what the machine derives once. */
struct tr_image_rt {
	const tr_image *img;
	tr_image_rt *next;
	uint32_t nroles, nedges;
	const uint16_t *edge_of;    /* img->edge_of: (from, to) -> edge */
	size_t block_size;
	uint32_t regs_off;          /* byte offset of registers in the block */
	/* first register of each role in the block; TR_NOREGS when its code
	 * never reads a register (tr_dinsn.roff) */
	uint16_t reg_base[TR_MAX_ROLES];
	uint8_t *sort_kind;         /* sort id -> tr_value_kind */
	uint32_t *labels;           /* per dent entry: its label (on_choose) */
	tr_dentry *dent;            /* tables, one copy per OFFER/CHOOSE */
	uint32_t ndent;
	tr_dinsn *dcode;            /* every role's decoded code */
	uint32_t ndcode;
	tr_role_rt role[TR_MAX_ROLES];
	tr_session *free_blocks;    /* recycled session blocks */
	void **chunks;              /* slab chunks, freed with the machine */
	uint32_t nchunks, cap_chunks;
	uint32_t chunk_blocks;      /* blocks per chunk */
	uint32_t chunk_left;        /* blocks left in the newest chunk */
	uint32_t chunk_first_id;    /* the newest chunk's first scheduler id */
	char *chunk_next;
};

/* The instruction index in its role's code where coroutine c (which has
 * not faulted) resumes: what faults and events report. */
static inline uint32_t
coro_pc(tr_coro *c)
{
	const tr_image_rt *rt = tr_coro_session(c)->rt;
	return (c->pc - rt->role[c->role].pc0) / (uint32_t)sizeof(tr_dinsn);
}

/* ---- scheduler ids (see tr_machine.idmap) ---- */

#define TR_IDGROUP_BITS 6
#define TR_IDGROUP (1u << TR_IDGROUP_BITS)
/* A range holds at most 2^16 ids: k / nroles by multiplication is exact
 * for k < 2^16 (coro_at). */
#define TR_RANGE_MAX_IDS (1u << 16)

typedef struct tr_idrange {
	char *co0;         /* co[0] of the chunk's first block */
	uint64_t magic;    /* ceil(2^32 / nroles) */
	uint32_t first_id; /* the first block's role 0 */
	uint32_t gap;      /* block size less the block's coroutines */
} tr_idrange;
_Static_assert(sizeof(tr_idrange) == 24, "an id map entry is 24 bytes per 64 ids");

/* Coroutine of scheduler id `id` (owned by range g). With k = id -
 * first_id, block b = k / nroles and role r = k - b * nroles, the
 * coroutine is at co0 + b * bsize + r * sizeof(tr_coro), which is
 * co0 + k * sizeof(tr_coro) + b * gap: one multiply less on the path from
 * an id to its coroutine. */
static inline tr_coro *
coro_at_range(const tr_idrange *g, uint32_t id)
{
	uint32_t k = id - g->first_id;
	uint32_t b = (uint32_t)(((uint64_t)k * g->magic) >> 32);
	return (tr_coro *)(g->co0 + (size_t)b * g->gap) + k;
}

/* ---- timers (step 4 timeouts and step 6 progress contracts) ---- */

#define TR_WHEEL 256

typedef struct tr_timer {
	uint64_t deadline;
	tr_session_id session;
	uint32_t next;
	uint8_t kind; /* 0 = timeout, 1 = progress */
	uint8_t role;
} tr_timer;

/* ---- ingress ---- */

/* The FIFO holds the public record (machine.h): a batch from a driver is
 * delivered from the driver's array with the same code. */
typedef tr_ingress_msg tr_ingress;

/* ---- the machine ---- */

struct tr_machine {
	tr_machine_config cfg;
	const tr_allocator *a;
	tr_sched sched;

	uint64_t tick;
	uint64_t next_id; /* machine-assigned session ids */

	/* What a round must look at beyond the wake lists and the scheduler
	 * (steps 3, 4 and 6): while all of it is 0 rounds can be fused
	 * (fuse_next), which one test of hold[0] | hold[1] tells. */
	union {
		struct {
			uint32_t ing_len;    /* ingress FIFO length */
			uint32_t ntimers;    /* timers armed */
			uint32_t ntopology;  /* handlers with on_topology */
			uint8_t effect_mode; /* 0 none, 1 capture, 2 replay */
			bool replay_failed;
			uint16_t hold_zero_; /* always 0 */
		};
		uint64_t hold[2];
	};
	uint32_t nlive;   /* non-terminal coroutines here */

	/* Scheduler ids belong to session blocks, not to sessions: each chunk
	 * of blocks owns a range of ids, nroles per block, so an id names its
	 * coroutine by arithmetic (coro_at) and no id -> coroutine array is
	 * kept (8 bytes per coroutine at scale, issue 6). Ranges start on a
	 * multiple of TR_IDGROUP ids; idmap[id / TR_IDGROUP] is a copy of the
	 * range's description (24 bytes per 64 ids), so that a lookup is one
	 * load before the arithmetic. */
	tr_idrange *idmap;
	uint32_t cap_idmap; /* groups */
	uint32_t next_coro; /* first id no range owns */

	/* Step 5's wake lists (wake): the first coroutine woken since the last
	 * step 5, while it is the only one and a receiver, is kept here and
	 * nowhere else, so that the hand-off (one woken, nothing ready: every
	 * pingpong and ring round) does no queue work; every other wake-up
	 * goes to the scheduler's wake FIFOs (tr_sched_wake), the solo first. */
	tr_coro *solo;

	tr_pool pool;

	/* id -> session, open addressing with linear probing: block
	 * references (machine.c, session table). */
	uint32_t *table;
	uint8_t *table_tag; /* 8 more bits of each slot's hash */
	uint32_t table_cap; /* power of two */
	uint32_t nsessions;

	tr_session *closed_head, *closed_tail;

	tr_image_rt *images;
	tr_handler **handlers; /* distinct handlers, copied */
	uint32_t nhandlers;

	/* timers: a wheel of lists through a pool of records */
	tr_timer *timers;
	uint32_t ntimers_cap, timer_free;
	uint32_t wheel_head[TR_WHEEL], wheel_tail[TR_WHEEL];

	/* ingress FIFO (ring buffer) */
	tr_ingress *ing;
	bool in_round; /* inside tr_machine_step_round: ingress must queue */
	uint32_t ing_cap, ing_head;

	tr_remote_ops remote;
	bool has_remote;
	/* remote messages staged for remote.send_batch: rout[rout_head..len) */
	tr_ingress_msg *rout;
	uint32_t rout_head, rout_len, rout_cap;

	/* traces */
	tr_vec trace;        /* tr_event */
	uint64_t trace_start;/* LAST_N: ring start index */
	tr_vec effects;      /* tr_event */
	const tr_trace *replay;
	size_t replay_pos;
	bool tracing;

	tr_error last_error;
	tr_machine_stats st;
};

#endif
