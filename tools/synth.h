/* tools/synth.h: the synthetic effect handler behind `troupe run`
 * (docs/DESIGN.md §7).
 *
 * One tr_synth per (image, run) holds what every call needs: which standard
 * workload the image is (pingpong, ring, fanout, twobuyer of
 * ../shared/WORKLOADS.md) or the generic rules for any other protocol, the
 * rounds R, and the label and role ids resolved once from the image, so that
 * the hot path compares integers only and allocates nothing.
 *
 * Per-role state is a few bytes in one array the caller allocates
 * (tr_synth_role_state_size() bytes per role; tr_synth_role_state_init(),
 * or all-zero memory such as calloc's, is the initial state), whose
 * addresses the caller hands to tr_machine_open_session() or
 * tr_runtime_open_session() as role states.
 *
 * Rules (every receiver checks every payload; a wrong value or label
 * returns TR_E_HANDLER, which faults the coroutine and fails the session):
 *   pingpong  A picks Next R times then Stop; Ping = i (round from 0),
 *             Pong must be i + 1.
 *   ring      P0 picks Next R times then Stop; the token of lap r leaves P0
 *             as r and gains one per hop: Pk receives r + k - 1, P0 gets
 *             r + 7 back.
 *   fanout    C picks Next R times then Stop; Req to Wi carries i, Resp
 *             must be 2·i.
 *   twobuyer  B1 picks Next R times then Stop; r = round from 0; Title,
 *             Quote, Share, Addr and Date carry r; B2 accepts on even
 *             rounds, rejects on odd ones.
 *   generic   at a choice a role picks the first label while it has made
 *             fewer than R choices, then the last; payloads on each edge
 *             count up from 0 (Bool: the count's low bit; Unit: nothing) and
 *             the receiver checks each against its own count for that edge.
 *
 * Threads: a tr_synth is read-only once built and may be shared by every
 * worker; each role state is touched only by the thread running its role. */
#ifndef TR_TOOLS_SYNTH_H
#define TR_TOOLS_SYNTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/image.h"
#include "troupe/machine.h"
#include "troupe/status.h"

typedef enum tr_workload {
	TR_WL_GENERIC = 0,
	TR_WL_PINGPONG = 1,
	TR_WL_RING = 2,
	TR_WL_FANOUT = 3,
	TR_WL_TWOBUYER = 4,
} tr_workload;

/* Name of a standard workload ("ring"), or "generic". */
const char *tr_workload_name(tr_workload w);
/* TR_WL_* for "pingpong", "ring", "fanout", "twobuyer"; TR_WL_GENERIC for
 * anything else (the caller then treats the argument as a file). */
tr_workload tr_workload_from_name(const char *name);

/* Messages per session the formula of WORKLOADS.md gives for R rounds, or
 * 0 for TR_WL_GENERIC (no formula). */
uint64_t tr_workload_messages(tr_workload w, uint64_t rounds);

#define TR_SYNTH_MAX_ROLES 64

typedef struct tr_synth {
	tr_workload wl;
	uint32_t rounds;
	uint32_t nroles;
	uint32_t state_size; /* bytes per role state */
	const tr_image *img;
	/* Label ids (tr_image_label_id), UINT32_MAX when the image lacks one. */
	uint32_t l_next, l_stop, l_ping, l_pong, l_tok, l_req, l_resp;
	uint32_t l_title, l_quote, l_share, l_addr, l_date, l_accept, l_reject;
	/* Per-workload role facts, indexed by role. */
	uint8_t initiator;                     /* A, P0, C, B1 */
	uint8_t r_b2, r_s;                     /* twobuyer */
	int8_t hop[TR_SYNTH_MAX_ROLES];        /* ring: k of Pk; fanout: i of Wi */
	/* twobuyer, per role: the label whose payload tells the role the round
	 * (S: Title, B2: Quote), UINT32_MAX for none: one compare a receive */
	uint32_t tb_learn[TR_SYNTH_MAX_ROLES];
	/* The first wrong payload seen, for the run's error message: claimed
	 * once by whichever worker sees it first (the CAS), read after the
	 * workers are joined. */
	_Atomic uint32_t bad_claimed;
	tr_session_id bad_session;
	uint32_t bad_role, bad_label;
	uint64_t bad_got, bad_want;
} tr_synth;

/* Per-role state of the standard workloads: a count and the last value. */
typedef struct tr_synth_role {
	uint32_t n;
	uint32_t v;
} tr_synth_role;

/* Resolve what the rules need from img for workload wl (TR_WL_GENERIC for
 * any protocol). Standard workloads must have the roles and labels of
 * examples/protocols/<name>.tell: a missing one is TR_E_INVALID with the
 * reason in err. rounds must fit 31 bits (TR_E_INVALID). img must outlive s.
 * Cannot allocate. */
tr_status tr_synth_init(tr_synth *s, tr_workload wl, const tr_image *img,
                        uint64_t rounds, tr_error *err);

/* Bytes of state each role needs (8 for the standard workloads; for the
 * generic handler 8 + 8 per role of the protocol). */
static inline size_t
tr_synth_role_state_size(const tr_synth *s)
{
	return s->state_size;
}

/* Zero the state of one role at p (state_size bytes). Cannot fail. */
void tr_synth_role_state_init(const tr_synth *s, void *p);

/* The handler table for s: ctx = s. */
tr_handler tr_synth_handler(tr_synth *s);

/* Describe the first wrong payload seen ("session 3 role B: Pong carried 5,
 * want 2") into buf; returns false when none was seen. Call only after every
 * thread running s's handler has stopped. */
bool tr_synth_describe_bad(const tr_synth *s, char *buf, size_t size);

#endif
