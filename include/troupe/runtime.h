/* troupe/runtime.h: the sharded runtime (docs/DESIGN.md §5).
 *
 * A tr_runtime runs sessions on T worker threads. Each worker owns one
 * tr_machine (created and freed on that thread; nothing else touches it),
 * a jemalloc arena and its part of every session placed on it. Host threads
 * talk to workers through lock-free queues: they open sessions, post
 * messages on behalf of roles the host plays, cancel sessions and query
 * their status; workers talk to each other through SPSC rings.
 *
 * Placement: `local` runs every role of a session on its home worker;
 * `spread` deals role i to worker (home + i) mod T, so messages cross
 * threads. Cross-worker edges are bounded by credits (= the buffer
 * capacity): memory stays bounded whatever the producers do.
 *
 * Completion: every session that tr_runtime_open_session() accepted ends
 * with exactly one call of the config's on_complete callback, run on the
 * session's home worker thread, with the merged summary of all its parts
 * (completed, faulted or cancelled). The callback must not block for long
 * and may call tr_runtime_open_session/post/cancel/status/stats (they only
 * queue work), never drain, stop or free.
 *
 * Threads: every function may be called from any thread unless it says
 * otherwise. tr_runtime_free() must not race with any other call.
 * Effect handlers of a session run on the workers that host its roles:
 * with spread placement, different roles of one session run concurrently
 * on different threads, so a handler's ctx must be thread-safe; the
 * per-role state (role_states[i]) is only ever touched by role i's worker. */
#ifndef TROUPE_RUNTIME_H
#define TROUPE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "image.h"
#include "machine.h"
#include "sched.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_runtime tr_runtime;

/* Session ids encode the home worker (low 8 bits), a slot in its session
 * table and a generation: lookups are O(1) and an id is never reused
 * within a runtime (for 2^32 reuses of one slot). 0 is never an id. */
#define TR_RUNTIME_MAX_THREADS 64u
#define TR_RUNTIME_MAX_SLOTS (1u << 24) /* live sessions per home worker */

typedef enum tr_placement {
	TR_PLACE_LOCAL = 0,  /* every role on the home worker (default) */
	TR_PLACE_SPREAD = 1, /* role i on worker (home + i) mod threads */
} tr_placement;

/* The merged outcome of one session, passed to on_complete. Valid during
 * the callback only. */
typedef struct tr_runtime_summary {
	tr_session_id id;
	const tr_image *image;
	void *user;           /* tr_runtime_session_opts.user */
	bool ok;              /* every worker-run role halted, none faulted */
	bool cancelled;       /* ended by tr_runtime_cancel or tr_runtime_stop */
	uint64_t messages;    /* messages sent by its worker-run roles, all
	                       * workers (host posts: tr_runtime_stats.posts) */
	tr_fault fault;       /* first fault that is not CANCELLED, else the
	                       * CANCELLED one; kind NONE when ok */
	const char *reason;   /* why it was cancelled (stop's reason, or
	                       * "cancelled by host"); NULL otherwise */
} tr_runtime_summary;

/* Completion callback: runs on the home worker thread (see above). */
typedef void (*tr_runtime_complete_fn)(void *ctx, const tr_runtime_summary *s);

/* A worker-run role sent a message to a role the host plays. Runs on the
 * sender's worker thread, inside a round: it must not call back into the
 * runtime's drain/stop/free. The credit for that edge is returned at once,
 * so the host must consume (or copy) the message during the call. */
typedef void (*tr_runtime_message_fn)(void *ctx, tr_session_id id, uint32_t from,
                                      uint32_t to, uint32_t label, tr_value v);

typedef struct tr_runtime_config {
	uint32_t threads;          /* workers, 1..TR_RUNTIME_MAX_THREADS; default 1 */
	bool pin;                  /* pin worker i to the i-th CPU (mod count) of the
	                            * process's affinity mask; default true */
	tr_placement placement;    /* default TR_PLACE_LOCAL */
	uint32_t buffer_capacity;  /* per edge and credits per remote edge; 64 */
	uint32_t slice;            /* instructions per round; default 64 */
	tr_policy policy;          /* each worker's scheduler; default cooperative */
	uint64_t seed;             /* TR_POLICY_SEEDED (worker i uses seed + i) */
	/* Runtime-wide allocations (session records, queues). Must be thread-
	 * safe. NULL: per-worker jemalloc arenas for the machines and libc for
	 * the rest (libc everywhere in sanitizer builds). Non-NULL: used for
	 * everything, machines included. */
	const tr_allocator *allocator;
	tr_runtime_complete_fn on_complete; /* may be NULL: counted only */
	void *complete_ctx;
	tr_runtime_message_fn on_host_message; /* may be NULL: dropped, counted */
	void *host_ctx;
	uint32_t round_budget;     /* rounds per loop before the inbox is drained
	                            * again; default 1024 */
	uint32_t spin;             /* idle loops before parking; default 256 */
	uint32_t park_timeout_ms;  /* a parked worker wakes at least this often;
	                            * 0 = only when woken; default 100 */
	/* Start gate: true opens the runtime held. Sessions opened while it is
	 * held are set up on their workers (every part opened, so they are
	 * live and counted as open) but none of their roles runs until
	 * tr_runtime_release(). Held workers with nothing to set up park as
	 * when idle. Cancel and stop work while held: the sessions they end
	 * complete without running. Default false (sessions start at once). */
	bool start_held;
} tr_runtime_config;

/* Fill c with the defaults above. Cannot fail. */
TR_API void tr_runtime_config_default(tr_runtime_config *c);

/* Create a runtime and start its workers (cfg NULL: defaults). *out is
 * owned by the caller: free it with tr_runtime_free(). Pinning that the OS
 * refuses is not an error (tr_runtime_worker_stats.cpu says -1). Errors:
 * TR_E_INVALID (threads 0 or above the maximum, capacity or slice 0, bad
 * placement or policy, NULL out), TR_E_NOMEM, TR_E_IO (a thread could not
 * be started). On error nothing is left running and *out is NULL. */
TR_API tr_status tr_runtime_create(const tr_runtime_config *cfg, tr_runtime **out);

/* Open the start gate of a runtime created with start_held: every worker
 * starts running the roles of the sessions it holds (and of any opened
 * later), and workers parked while held are woken. Returns at once; it does
 * not wait for the sessions (tr_runtime_drain does). One-way and
 * idempotent: on a runtime that is not held, or already released, it does
 * nothing. What the caller wrote before the call happens-before every
 * handler call and on_complete of a session that runs after it. Any
 * thread, including on_complete; not after stop. Errors:
 * TR_E_INVALID (NULL). After it, the runtime behaves as one created with
 * start_held false. */
TR_API tr_status tr_runtime_release(tr_runtime *rt);

/* Allow sessions of img. The runtime does not take ownership: img must
 * outlive the runtime. Registering an image twice is a no-op. The first
 * time, every worker prepares its machine for img (tr_machine_prepare:
 * its code decoded, room for the first sessions allocated) and the call
 * returns when all have, so that the first sessions open as fast as later
 * ones; from a worker thread (a handler, on_complete) it does not wait
 * and the workers prepare nothing (the first sessions then do it as they
 * open). A worker that runs out of memory preparing is not an error
 * here: its sessions allocate as they open and report it there. Any
 * thread, not after stop. Errors: TR_E_INVALID (NULL), TR_E_LIMIT (more
 * than 64 images), TR_E_STATE (stop has begun). */
TR_API tr_status tr_runtime_register_image(tr_runtime *rt, const tr_image *img);

typedef struct tr_runtime_session_opts {
	/* Bit i: role i is played by the host (no worker runs it; the host
	 * posts its messages with tr_runtime_post and receives what is sent to
	 * it through on_host_message). 0: every role runs on a worker. */
	uint64_t host_roles;
	uint32_t priority;        /* TR_POLICY_PRIORITY */
	void *user;               /* handed back in the summary */
} tr_runtime_session_opts;

/* Open a session of a registered image and return its id at once; it
 * starts on its home worker shortly after (or at tr_runtime_release when
 * the runtime is held). Homes are dealt round-robin from worker 0, so when
 * no open fails the k-th session opened (from 0, over all threads) has
 * home k mod threads, the low 8 bits of its id. The handler
 * is copied; its ctx, and the nroles pointers of role_states (may be NULL:
 * all NULL), must stay valid until on_complete for this session returns.
 * The runtime keeps one copy of each distinct handler (equal in every
 * field, ctx included) for its whole life, shared by the sessions opened
 * with it: at most 65535 distinct handlers per runtime.
 * opts may be NULL. Errors: TR_E_INVALID (NULL args, unregistered image,
 * host_roles naming a role the image lacks or every role), TR_E_STATE
 * (stop has begun), TR_E_LIMIT (the home worker's session table is full,
 * or h is new and the runtime already holds 65535 distinct handlers),
 * TR_E_NOMEM. On error no session exists and on_complete is not called. */
TR_API tr_status tr_runtime_open_session(tr_runtime *rt, const tr_image *img,
                                         const tr_handler *h,
                                         void *const *role_states,
                                         const tr_runtime_session_opts *opts,
                                         tr_session_id *id);

/* Post one message on edge from->to of session id, on behalf of role
 * `from`, which the host plays; it is delivered to `to`'s worker, which
 * injects it (tr_machine_inject: checked there; a bad label or value
 * faults the receiver). Host edges hold no credits: the host must not
 * outrun the protocol. Errors: TR_E_NOT_FOUND (no such session, or it
 * ended), TR_E_CLOSED (it is ending), TR_E_INVALID (from is not a host
 * role, to is one, or a role is out of range), TR_E_NOMEM. A message that
 * arrives after the session ended is dropped and counted. */
TR_API tr_status tr_runtime_post(tr_runtime *rt, tr_session_id id, uint32_t from,
                                 uint32_t to, uint32_t label, tr_value v);

/* Cancel a session: its non-terminal roles fault CANCELLED on every worker
 * and its summary says cancelled (unless it completes first). Returns once
 * queued. Errors: TR_E_NOT_FOUND (unknown or ended), TR_E_NOMEM. */
TR_API tr_status tr_runtime_cancel(tr_runtime *rt, tr_session_id id);

/* Status of a session: TR_SESSION_OPEN (queued or running) or
 * TR_SESSION_CLOSED (ending: its summary is on the way). TR_E_NOT_FOUND
 * once on_complete has been called for it, or for an id never issued. */
TR_API tr_status tr_runtime_session_status(tr_runtime *rt, tr_session_id id,
                                           tr_session_status *st);

typedef struct tr_runtime_worker_stats {
	uint64_t rounds;            /* machine rounds run */
	uint64_t messages_sent;     /* by roles on this worker */
	uint64_t messages_received;
	uint64_t messages_remote;   /* pushed to another worker's ring */
	uint64_t dropped;           /* machine drops + late messages dropped here */
	uint64_t parts_live;        /* session parts open on this worker */
	uint64_t parks;             /* times the worker parked */
	uint64_t overflow_peak;     /* largest sender-side overflow seen */
	int cpu;                    /* CPU it is pinned to, -1 when not pinned */
} tr_runtime_worker_stats;

typedef struct tr_runtime_stats {
	uint64_t sessions_opened;    /* accepted by open_session */
	uint64_t sessions_completed; /* summaries delivered, all kinds */
	uint64_t sessions_ok;
	uint64_t sessions_cancelled;
	uint64_t sessions_faulted;   /* not ok and not cancelled */
	uint64_t sessions_live;      /* opened - completed */
	uint64_t sessions_freed;     /* records reclaimed after a grace period */
	uint64_t messages;           /* sent by all roles */
	uint64_t dropped;
	uint64_t posts;              /* host posts accepted */
	uint32_t threads;
} tr_runtime_stats;

/* Snapshot of the counters (approximate while workers run: each worker
 * publishes its own every few loops and whenever it parks). workers may be
 * NULL; else up to nworkers entries are filled. Cannot fail. */
TR_API void tr_runtime_stats_get(tr_runtime *rt, tr_runtime_stats *out,
                                 tr_runtime_worker_stats *workers, size_t nworkers);

/* Wait until no session is live (every opened session has had its
 * on_complete), or timeout_ms passes (0: wait for ever). Sessions may be
 * opened meanwhile. Must not be called from a worker (an on_complete or
 * handler). Errors: TR_E_LIMIT on timeout (sessions still run). */
TR_API tr_status tr_runtime_drain(tr_runtime *rt, uint64_t timeout_ms);

/* Refuse new sessions (TR_E_STATE), cancel every live one with `reason`
 * (static storage, NULL: "runtime stopped"), wait for all their summaries,
 * then stop and join the workers, who free their machines and reclaim
 * every session record. Idempotent: later calls return TR_OK at once. Not
 * from a worker. After it, only stats and free may be called. */
TR_API tr_status tr_runtime_stop(tr_runtime *rt, const char *reason);

/* Stop (if not done) and free everything. NULL is a no-op. No other call
 * may run concurrently, and host threads must not be inside a runtime call. */
TR_API void tr_runtime_free(tr_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
