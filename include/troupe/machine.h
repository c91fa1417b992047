/* troupe/machine.h: the ProtocolMachine (docs/DESIGN.md §4).
 *
 * A tr_machine runs many sessions of verified images on one thread: each
 * role of a session is a coroutine executing its bytecode, messages travel
 * over bounded FIFO edge buffers, host code plugs in through effect handlers
 * and a round-step kernel advances one ready coroutine per round in a fixed,
 * documented order.
 *
 * Threads: a machine is single-threaded. Only the thread that created it
 * (its owner) may call any tr_machine_* function on it, handlers run on that
 * thread, and nothing in it is synchronised. Distinct machines are
 * independent. Images are shared read-only and must outlive the sessions
 * that use them. */
#ifndef TROUPE_MACHINE_H
#define TROUPE_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alloc.h"
#include "image.h"
#include "sched.h"
#include "status.h"
#include "trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_machine tr_machine;
typedef uint64_t tr_session_id; /* never reused within a machine; 0 = none */

/* ---- values ---- */

typedef enum tr_value_kind {
	TR_VAL_UNIT = 0,
	TR_VAL_BOOL = 1,
	TR_VAL_INT = 2,
	TR_VAL_STRING = 3, /* bits: a host pointer or handle, never read */
	TR_VAL_OPAQUE = 4, /* bits: a host pointer or handle, never read */
} tr_value_kind;

/* A payload. The machine carries `bits` and checks `kind` against the local
 * type's sort; it never dereferences String or Opaque values, whose lifetime
 * is the host's business. */
typedef struct tr_value {
	uint32_t kind; /* tr_value_kind */
	uint64_t bits; /* Int: (uint64_t)int64; Bool: 0/1; Unit: 0 */
} tr_value;

static inline tr_value tr_value_int(int64_t i) { tr_value v = {TR_VAL_INT, (uint64_t)i}; return v; }
static inline tr_value tr_value_unit(void) { tr_value v = {TR_VAL_UNIT, 0}; return v; }

/* ---- effect handlers (docs/DESIGN.md §4.2) ---- */

/* What a handler call is about. Valid during the call only. */
typedef struct tr_effect {
	tr_session_id session;
	uint32_t role;        /* the coroutine's role index */
	uint32_t peer;        /* the other role (send/recv/choose/offer) */
	uint32_t label;       /* label string id (tr_image_string) */
	uint32_t sort_kind;   /* tr_value_kind the local type wants */
	uint64_t tick;        /* the machine's logical clock */
	void *role_state;     /* the per-role pointer given at open */
	const tr_image *image;
} tr_effect;

/* Topology events, applied in this kind order within a tick (the origin's
 * Crash, Partition, Heal, Timeout). A site is one role of one session. */
typedef enum tr_topology_kind {
	TR_TOPO_CRASH = 0,     /* the role's coroutine faults with TOPOLOGY */
	TR_TOPO_PARTITION = 1, /* edge role->peer holds its messages until healed */
	TR_TOPO_HEAL = 2,      /* undo a partition of role->peer */
	TR_TOPO_TIMEOUT = 3,   /* role must not stay blocked `ticks` more ticks */
} tr_topology_kind;

typedef struct tr_topology_event {
	uint32_t kind; /* tr_topology_kind */
	tr_session_id session;
	uint32_t role;
	uint32_t peer;  /* PARTITION/HEAL */
	uint64_t ticks; /* TIMEOUT */
} tr_topology_event;

/* The host's effect handler: a table of function pointers plus a context.
 * Every callback runs on the machine's owner thread, inside a round. A
 * return other than TR_OK faults the calling coroutine (fault INVOKE, or
 * TYPE_VIOLATION when a value has the wrong kind), never the machine.
 * Callbacks must not call back into the machine. */
typedef struct tr_handler {
	/* Produce the payload of a send labelled e->label (SEND, or OFFER with a
	 * payload branch). Required when any send carries a payload. */
	tr_status (*on_send)(void *ctx, const tr_effect *e, tr_value *out);
	/* Consume a received payload. Optional. */
	tr_status (*on_recv)(void *ctx, const tr_effect *e, tr_value v);
	/* Pick one of n labels (string ids) for an OFFER: write its index. */
	tr_status (*on_choose)(void *ctx, const tr_effect *e, const uint32_t *labels,
	                       uint32_t n, uint32_t *pick);
	/* A host step (INVOKE symbol). Optional: absent means TR_OK. */
	tr_status (*on_invoke)(void *ctx, const tr_effect *e, uint32_t symbol);
	/* Optional: write up to max topology events for this tick; return how
	 * many. Called once per round, at step 3. */
	uint32_t (*on_topology)(void *ctx, uint64_t tick, tr_topology_event *out,
	                        uint32_t max);
	void *ctx;
} tr_handler;

/* ---- configuration ---- */

typedef enum tr_full_policy {
	TR_FULL_BLOCK = 0,  /* the sender blocks (default) */
	TR_FULL_DROP = 1,   /* the message is dropped and counted */
	TR_FULL_ERROR = 2,  /* the sender faults BUFFER_FULL */
	TR_FULL_RESIZE = 3, /* capacity doubles up to buffer_max, then blocks */
} tr_full_policy;

typedef enum tr_on_fault {
	TR_ON_FAULT_ISOLATE = 0, /* fail the session, keep running (default) */
	TR_ON_FAULT_ABORT = 1,   /* run() returns at the first fault */
} tr_on_fault;

typedef struct tr_machine_config {
	tr_policy policy;            /* default TR_POLICY_COOPERATIVE */
	uint64_t seed;               /* TR_POLICY_SEEDED */
	uint32_t priority_aging;     /* TR_POLICY_PRIORITY: 0 = fixed */
	uint32_t buffer_capacity;    /* per edge, default 64 */
	uint32_t buffer_max;         /* TR_FULL_RESIZE bound, default 4096 */
	tr_full_policy full_policy;  /* default TR_FULL_BLOCK */
	uint32_t slice;              /* instructions per round, >= 1, default 64 */
	tr_trace_mode trace_mode;    /* observable trace retention, default OFF */
	uint32_t trace_last_n;       /* TR_TRACE_LAST_N */
	bool capture_effects;        /* record the effect trace, default false */
	tr_on_fault on_fault;        /* default TR_ON_FAULT_ISOLATE */
	uint32_t max_sessions;       /* live sessions, default 1<<26 */
	uint64_t max_in_flight;      /* buffered messages, default 1<<28 */
	const tr_allocator *allocator; /* NULL: tr_allocator_default() */
} tr_machine_config;

/* Fill c with the defaults above. */
TR_API void tr_machine_config_default(tr_machine_config *c);

/* ---- faults ---- */

#define TR_FAULT_MAP(XX)                                                       \
	XX(NONE)                                                                   \
	XX(TYPE_VIOLATION)                                                         \
	XX(UNKNOWN_LABEL)                                                          \
	XX(CHANNEL_CLOSED)                                                         \
	XX(VERIFICATION_FAILED)                                                    \
	XX(INVOKE)                                                                 \
	XX(BUFFER_FULL)                                                            \
	XX(OUT_OF_CREDITS)                                                         \
	XX(OUT_OF_REGISTERS)                                                       \
	XX(PC_OUT_OF_BOUNDS)                                                       \
	XX(NO_PROGRESS)                                                            \
	XX(TIMEOUT)                                                                \
	XX(TOPOLOGY)                                                               \
	XX(REPLAY_MISMATCH)                                                        \
	XX(CANCELLED)

typedef enum tr_fault_kind {
#define TR_FAULT_ENUM_(n) TR_FAULT_##n,
	TR_FAULT_MAP(TR_FAULT_ENUM_)
#undef TR_FAULT_ENUM_
	TR_FAULT_COUNT_
} tr_fault_kind;

/* "TIMEOUT" for TR_FAULT_TIMEOUT. */
TR_API const char *tr_fault_name(tr_fault_kind k);

typedef struct tr_fault {
	tr_fault_kind kind;
	tr_session_id session;
	uint32_t role;
	uint32_t pc;
} tr_fault;

/* ---- lifecycle ---- */

/* Create a machine (cfg NULL: defaults). *out owned by the caller; free with
 * tr_machine_free(). Errors: TR_E_INVALID (slice 0, capacity 0, bad
 * policy), TR_E_NOMEM. */
TR_API tr_status tr_machine_create(const tr_machine_config *cfg, tr_machine **out);

/* Free m, every session, buffer and trace it holds. NULL is a no-op. */
TR_API void tr_machine_free(tr_machine *m);

/* ---- sessions ---- */

/* Options of one session; zero-initialise, then set what you need. */
typedef struct tr_session_opts {
	tr_session_id id;        /* 0: the machine assigns the next id */
	uint64_t roles_here;     /* bit i: role i runs on this machine; 0 = all */
	uint32_t priority;       /* TR_POLICY_PRIORITY: higher runs first */
	uint64_t progress_within;/* ticks; 0: no progress contract */
	uint32_t buffer_capacity;/* 0: the machine's */
	int full_policy;         /* -1 or 0..3 overriding the machine's; 0 = BLOCK */
	void *const *role_state; /* nroles pointers handed to handlers, or NULL */
} tr_session_opts;

/* Open a session of img with handler h (copied; its ctx must outlive the
 * session). The image must outlive the session. Returns the id in *id.
 * Allocates the session (one block) and registers its coroutines as ready,
 * in role order. Errors: TR_E_INVALID (NULL img/h/id, an id already used,
 * roles_here outside the image), TR_E_LIMIT (max_sessions), TR_E_NOMEM. On
 * error nothing is opened. */
TR_API tr_status tr_machine_open_session(tr_machine *m, const tr_image *img,
                                         const tr_handler *h,
                                         const tr_session_opts *opts,
                                         tr_session_id *id);

/* Get ready for sessions of img before the first opens: decode its code
 * for this machine and allocate what its first sessions would otherwise
 * allocate as they open (a chunk of session blocks with their scheduler
 * ids, room for them in the session table, the buffer pool's first
 * entries; a handler the machine has not seen is still copied at its
 * first open), so that on a fresh machine the first sessions' latency is
 * the steady state's, as a server wants from its start-up. It costs what
 * those sessions would: the chunk's address space (its pages are touched
 * as sessions use them) and, written now, their scheduler slots and
 * session-table room (9 and about 7 bytes a role and a session: tens of
 * KiB). Optional: tr_machine_open_session does the same on demand.
 * Calling it again, or for an image the machine already runs, allocates
 * at most the next chunk. img must then outlive the machine (its decoded
 * copy is kept). Errors: TR_E_INVALID (NULL m or img, an image with no
 * roles or more than the machine allows), TR_E_LIMIT (scheduler ids
 * exhausted), TR_E_NOMEM; what was made ready before the error stays. */
TR_API tr_status tr_machine_prepare(tr_machine *m, const tr_image *img);

/* Cancel a session: every non-terminal coroutine faults CANCELLED and the
 * session closes. TR_E_NOT_FOUND for an unknown or reaped id. */
TR_API tr_status tr_machine_cancel(tr_machine *m, tr_session_id id);

typedef enum tr_session_status {
	TR_SESSION_OPEN = 0,
	TR_SESSION_CLOSED = 1, /* all coroutines terminal; not yet reaped */
	TR_SESSION_REAPED = 2,
} tr_session_status;

/* One reaped session. */
typedef struct tr_session_summary {
	tr_session_id id;
	const tr_image *image;
	uint32_t status;         /* TR_SESSION_REAPED */
	bool ok;                 /* every coroutine halted, none faulted */
	uint64_t messages;       /* messages sent by this session's roles here */
	uint64_t opened_tick, closed_tick;
	tr_fault fault;          /* first fault, kind NONE when ok */
} tr_session_summary;

/* True when tr_machine_reap_closed_sessions would return a summary: a
 * driver may skip the call (and what it brackets it with) when false.
 * O(1), no side effects; false for NULL m. */
TR_API bool tr_machine_has_closed(const tr_machine *m);

/* Remove up to max closed sessions, in the order they closed, writing one
 * summary each into out; *n receives the count. Their memory returns to the
 * machine. TR_E_INVALID for NULL out with max > 0. */
TR_API tr_status tr_machine_reap_closed_sessions(tr_machine *m,
                                                 tr_session_summary *out,
                                                 size_t max, size_t *n);

/* Status of a session; TR_E_NOT_FOUND when unknown or reaped. */
TR_API tr_status tr_machine_session_status(const tr_machine *m, tr_session_id id,
                                           tr_session_status *st);

/* Arm a timeout on one role: if it is blocked `ticks` ticks from now, it
 * faults TIMEOUT (step 4 of the round). TR_E_NOT_FOUND, TR_E_INVALID. */
TR_API tr_status tr_machine_set_timeout(tr_machine *m, tr_session_id id,
                                        uint32_t role, uint64_t ticks);

/* ---- ingress (messages from outside: other shards, the host) ---- */

/* Queue one message for edge from->to of a session: it is delivered at step
 * 3 of the next round, in arrival order. The receiving role must run here.
 * The label (string id) and value are checked at delivery; an unknown label
 * or a wrong-kind value faults the receiver (UNKNOWN_LABEL/TYPE_VIOLATION).
 * Queuing does not look the session up (that would touch its memory twice
 * per message); a message for a session that is unknown, closed or reaped
 * at step 3 is dropped, counted and traced DROPPED there.
 * Errors: TR_E_INVALID (bad arguments), TR_E_NOMEM. */
TR_API tr_status tr_machine_inject(tr_machine *m, tr_session_id id, uint32_t from,
                                   uint32_t to, uint32_t label, tr_value v);

/* One message for tr_machine_inject_batch: tr_machine_inject's arguments
 * as a 24-byte record, so that a driver that receives messages in records
 * of this layout (the runtime's rings do) hands them over as they are. */
typedef struct tr_ingress_msg {
	tr_session_id id;
	uint64_t bits;  /* the value's bits */
	uint32_t label;
	uint8_t tag;    /* ignored by the machine: free for the caller */
	uint8_t from, to;
	uint8_t kind;   /* tr_value_kind */
} tr_ingress_msg;

/* tr_machine_inject for v[0..n) in order, without a call per message.
 * When nothing could observe the difference (no round running, nothing
 * queued, no topology handler, no effect capture or replay, trace mode
 * OFF) the records are delivered at once rather than at the next round's
 * step 3: the next round goes exactly as it would have (tests/machine/
 * test_round.c compares them), only the drop counter moves earlier, and a
 * message for a session cancelled before that round goes with the session
 * instead of being counted as dropped. Otherwise they are queued:
 * room for all n is made first, and TR_E_NOMEM queues none. A record that
 * tr_machine_inject would reject is skipped (nothing queued for it, and it
 * is counted in the stats' messages_dropped); the call then returns
 * TR_E_INVALID, having queued the others. *queued (may be NULL) receives
 * how many were queued. Errors: TR_E_INVALID (also for m NULL, or v NULL
 * with n > 0), TR_E_NOMEM. */
TR_API tr_status tr_machine_inject_batch(tr_machine *m, const tr_ingress_msg *v, size_t n,
                                         size_t *queued);

/* Cross-machine edges (used by the runtime's spread placement). When a role
 * here sends to a role that is not here, the machine calls `send`; the edge
 * holds `credits` (initially the buffer capacity) and a send without credit
 * blocks. `credit` is called as this machine's receivers free room on an
 * edge whose sender is elsewhere (batched: after `credit_batch` dequeues). */
typedef struct tr_remote_ops {
	tr_status (*send)(void *ctx, tr_session_id id, uint32_t from, uint32_t to,
	                  uint32_t label, tr_value v);
	void (*credit)(void *ctx, tr_session_id id, uint32_t from, uint32_t to,
	               uint32_t n);
	void *ctx;
	uint32_t credit_batch; /* 0: capacity / 2 */
	/* Replaces `send` when set (then `send` may be NULL; one of the two is
	 * required): remote messages are staged in the machine
	 * (a send then fails only when staging memory runs out: the sender
	 * faults CHANNEL_CLOSED) and handed over in order, as records, at the
	 * end of each tr_machine_step_round / tr_machine_run_while_work call.
	 * send_batch returns how many of the first records it took; the rest
	 * stay staged, in order, for the next hand-off. */
	size_t (*send_batch)(void *ctx, const tr_ingress_msg *v, size_t n);
} tr_remote_ops;

/* Install remote ops (copied). Must precede the first session that has
 * roles elsewhere. TR_E_INVALID without `credit` or without both `send`
 * and `send_batch`; TR_E_STATE once sessions are open. */
TR_API tr_status tr_machine_set_remote(tr_machine *m, const tr_remote_ops *ops);

/* Return n credits for edge from->to of session id (from runs here, to runs
 * elsewhere); wakes a sender blocked on credit. TR_E_NOT_FOUND for a reaped
 * session (ignored by callers). */
TR_API tr_status tr_machine_add_credit(tr_machine *m, tr_session_id id,
                                       uint32_t from, uint32_t to, uint32_t n);

/* ---- running ---- */

typedef enum tr_step_result {
	TR_STEP_CONTINUE = 0,
	TR_STEP_ALL_DONE = 1,
	TR_STEP_STUCK = 2,
	TR_STEP_FAULTED = 3,
} tr_step_result;

/* One round of the kernel (docs/DESIGN.md §4.1): runs one eligible
 * coroutine for at most `slice` instructions. n is the origin's concurrency
 * argument: validated (0 is TR_E_INVALID, nothing else happens, the clock
 * does not advance), then one coroutine advances as in the origin. *res
 * receives the outcome; *fault (may be NULL) the fault when *res is
 * TR_STEP_FAULTED. Returns TR_OK, TR_E_INVALID, or TR_E_REPLAY_MISMATCH
 * during a replay (then err-like detail in tr_machine_last_error()). */
TR_API tr_status tr_machine_step_round(tr_machine *m, uint32_t n, tr_step_result *res,
                                       tr_fault *fault);

/* step_round(1). */
TR_API tr_status tr_machine_step(tr_machine *m, tr_step_result *res, tr_fault *fault);

typedef enum tr_run_result {
	TR_RUN_ALL_DONE = 0,
	TR_RUN_STUCK = 1,
	TR_RUN_FAULTED = 2,       /* on_fault ABORT only */
	TR_RUN_MAX_ROUNDS = 3,    /* the origin's MAX_ROUNDS_EXCEEDED */
} tr_run_result;

/* Run rounds until all done, stuck, a fault (ABORT mode) or max_steps
 * rounds. *res the reason it stopped. */
TR_API tr_status tr_machine_run(tr_machine *m, uint64_t max_steps, tr_run_result *res);

/* As run, with step_round(n). n == 0: TR_E_INVALID. */
TR_API tr_status tr_machine_run_concurrent(tr_machine *m, uint64_t max_rounds,
                                           uint32_t n, tr_run_result *res);

/* Run with every handler outcome (and every ingress and topology event)
 * taken from `effects` (an effect trace recorded by an earlier run of the
 * same sessions, opened in the same order) instead of the handlers. A
 * request the trace does not hold at that point returns
 * TR_E_REPLAY_MISMATCH; tr_machine_last_error() names the entry index. */
TR_API tr_status tr_machine_run_replay(tr_machine *m, const tr_trace *effects,
                                       uint64_t max_steps, tr_run_result *res);

/* Detail of the last TR_E_REPLAY_MISMATCH / fault (valid until the next
 * call on m). */
TR_API const tr_error *tr_machine_last_error(const tr_machine *m);

/* True when a round would run a coroutine or has an event to process
 * (ready coroutines, pending wake-ups, queued ingress, armed timers,
 * topology handlers): a driver may skip step_round (and park) when false.
 * O(1), no side effects. */
TR_API bool tr_machine_has_work(const tr_machine *m);

/* The driver loop of a worker: while a round has work (has_work) and
 * fewer than max_rounds ran, run step_round(1); stop early after a round
 * that reports STUCK or ALL_DONE. A faulted round (on_fault ISOLATE) does
 * not stop it: read faults from the closed sessions' summaries. *rounds
 * receives the number of rounds run and *last (may be NULL; untouched when
 * no round ran) the last round's result. Each round is exactly
 * tr_machine_step_round(m, 1, ...): same trace, same clock; the loop only
 * saves the per-round call and checks. Returns TR_OK, TR_E_INVALID (m or
 * rounds NULL) or what a round returned (TR_E_REPLAY_MISMATCH). */
TR_API tr_status tr_machine_run_while_work(tr_machine *m, uint32_t max_rounds,
                                           uint32_t *rounds, tr_step_result *last);

/* ---- traces and counters ---- */

/* Copy the retained observable trace (or the effect trace) into a new
 * tr_trace owned by the caller (tr_trace_free). TR_E_STATE when that trace
 * is not being recorded. */
TR_API tr_status tr_machine_trace(const tr_machine *m, tr_trace **out);
TR_API tr_status tr_machine_effects(const tr_machine *m, tr_trace **out);

typedef struct tr_machine_stats {
	uint64_t tick;             /* logical clock */
	uint64_t rounds;
	uint64_t instructions;
	uint64_t messages_sent;    /* enqueued on an edge or handed to remote */
	uint64_t messages_received;
	uint64_t messages_dropped; /* DROP policy, reaped/unknown sessions */
	uint64_t sessions_opened, sessions_closed, sessions_reaped, sessions_live;
	uint64_t coroutines_ready, coroutines_blocked, coroutines_live;
	uint64_t faults;
	uint64_t in_flight;        /* messages buffered in edges now */
	uint64_t pool_entries;     /* entries allocated by the pool (in use or free) */
	uint64_t bytes;            /* bytes the machine holds from its allocator */
} tr_machine_stats;

/* Snapshot of the counters. Cannot fail. Messages and instructions are
 * added up per slice: called from a handler, it does not yet count those
 * of the running slice (nor of the fused rounds before it in the same
 * driver call). */
TR_API void tr_machine_stats_get(const tr_machine *m, tr_machine_stats *out);

#ifdef __cplusplus
}
#endif
#endif
