/* sched/sched.h: ready/blocked bookkeeping and scheduling policies
 * (docs/DESIGN.md §4.3). sched/ knows coroutine ids (dense uint32 slots that
 * the machine may reuse after it removes one), their state and the policy;
 * nothing of bytecode, sessions or buffers.
 *
 * Threads: a tr_sched belongs to one machine and is used by its owner thread
 * only; nothing here is synchronised.
 *
 * Determinism: the same sequence of calls gives the same picks, bit for bit,
 * for every policy (seeded included: the seed is the only randomness, and
 * ids, never pointers, are iterated).
 *
 * Allocation: only tr_sched_add (growing per-id storage, amortised) and
 * init allocate; ready/block/pick/done never do. */
#ifndef TR_SCHED_SCHED_H
#define TR_SCHED_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe/alloc.h"
#include "troupe/sched.h"
#include "troupe/status.h"

#define TR_SCHED_NONE UINT32_MAX

typedef enum tr_sched_state {
	TR_SCHED_FREE = 0,    /* id not in use */
	TR_SCHED_BLOCKED = 1, /* live, waiting for an event */
	TR_SCHED_READY = 2,   /* live, in the ready structure */
	TR_SCHED_RUNNING = 3, /* picked, not yet re-marked */
	TR_SCHED_DONE = 4,    /* terminal (halted or faulted), still registered */
	TR_SCHED_WOKEN = 5,   /* its event came (tr_sched_wake); READY at admit */
} tr_sched_state;

typedef struct tr_sched tr_sched; /* defined in sched_internal part below */

/* init: policy, seed (SEEDED), aging (PRIORITY: every `aging` picks one
 * pick goes to the longest-waiting lower-priority coroutine; 0 = strict).
 * TR_E_INVALID for a bad policy, TR_E_NOMEM. */
tr_status tr_sched_init(tr_sched *s, tr_policy policy, uint64_t seed,
                        uint32_t aging, const tr_allocator *a);
void tr_sched_destroy(tr_sched *s);

/* Register id (state BLOCKED) with a priority and progress-token flag.
 * Grows storage to hold id. TR_E_INVALID if id is in use, TR_E_NOMEM. */
tr_status tr_sched_add(tr_sched *s, uint32_t id, uint32_t priority, bool token);

/* Grow s's storage to hold ids below n, so that adding them allocates
 * nothing (nothing is registered). Errors: TR_E_NOMEM (s as it was). */
tr_status tr_sched_reserve(tr_sched *s, uint32_t n);

/* Forget id (any state); it leaves the ready structure. */
void tr_sched_remove(tr_sched *s, uint32_t id);

/* Make id ready (from BLOCKED, WOKEN or RUNNING): enqueue per policy. Ready ids
 * become eligible in the order of these calls (FIFO policies). No-op when
 * already READY; invalid for FREE/DONE ids (ignored, asserted in debug). */
void tr_sched_ready(tr_sched *s, uint32_t id);
/* Mark id blocked (from RUNNING, READY or WOKEN; a READY or WOKEN id leaves
 * its queue). */
void tr_sched_block(tr_sched *s, uint32_t id);
/* RUNNING -> BLOCKED for an id the caller vouches is RUNNING (checked only
 * in debug builds, TR_DEBUG): tr_sched_block without its state test (the
 * machine's step 10, whose slice's coroutine is RUNNING by construction). */
void tr_sched_park(tr_sched *s, uint32_t id);
/* Mark id terminal (from any live state). */
void tr_sched_done(tr_sched *s, uint32_t id);

/* Pick the next coroutine per policy, mark it RUNNING and return its id, or
 * TR_SCHED_NONE when none is ready. */
uint32_t tr_sched_pick(tr_sched *s);

/* Wake-ups (the machine's step 5, docs/DESIGN.md §4.1): wake marks a
 * BLOCKED id WOKEN and appends it to one of two FIFOs, senders' or
 * receivers'. The caller vouches that id is BLOCKED (checked only in debug
 * builds, TR_DEBUG; the machine knows it from its own coroutine state and
 * wakes a coroutine once). admit then makes every WOKEN id READY, the
 * senders' FIFO first, each in wake order: exactly as tr_sched_ready
 * called for each in that order, but under the cooperative policy the
 * FIFOs are spliced onto the ready queue (one pass over the ids to set
 * their state) instead of queued one by one. A WOKEN id that is made
 * ready, blocked, done or removed before admit leaves its FIFO. WOKEN ids
 * count as blocked (nblocked) and live, not as ready. */
void tr_sched_wake(tr_sched *s, uint32_t id, bool sender);
void tr_sched_admit(tr_sched *s);
/* tr_sched_admit then tr_sched_pick, in one step (the machine's fused
 * round, steps 5 and 8): under the cooperative policy with nothing ready
 * and only receivers woken, the first woken goes straight to RUNNING. */
uint32_t tr_sched_admit_pick(tr_sched *s);
uint32_t tr_sched_nwoken(const tr_sched *s);

/* Hand-off: when id is BLOCKED, the policy is cooperative and nothing is
 * READY, make id RUNNING at once and return true: exactly what
 * tr_sched_ready(id) followed by tr_sched_pick() would do then (the pick
 * could only return id), without the queue work. Otherwise change nothing
 * and return false. The machine's round uses it when one coroutine was
 * woken and none is ready. */
bool tr_sched_handoff(tr_sched *s, uint32_t id);
/* Switch: `from` must be RUNNING and `to` BLOCKED (the caller knows:
 * checked only in debug builds, TR_DEBUG). When the policy is cooperative
 * and nothing is READY, make `from` BLOCKED and `to` RUNNING and return
 * true: exactly tr_sched_block(from) then tr_sched_handoff(to), in one step
 * (the machine's fused hand-off, where the states are known and a check
 * of each cost a tenth of the switch). Otherwise change nothing and return
 * false. */
bool tr_sched_switch(tr_sched *s, uint32_t from, uint32_t to);

tr_sched_state tr_sched_state_of(const tr_sched *s, uint32_t id);
uint32_t tr_sched_nready(const tr_sched *s);
uint32_t tr_sched_nblocked(const tr_sched *s); /* blocked + woken */
uint32_t tr_sched_nlive(const tr_sched *s); /* blocked + woken + ready + running */
/* Bytes of per-id and queue storage, for memory accounting. */
size_t tr_sched_bytes(const tr_sched *s);

const char *tr_policy_name(tr_policy p);
/* Parse "cooperative", "round_robin", "priority", "progress_aware",
 * "seeded"; TR_E_INVALID otherwise. */
tr_status tr_policy_parse(const char *name, tr_policy *out);

/* The struct is public to the machine so that it can be embedded. */
#include "sched_impl.h"

#endif
