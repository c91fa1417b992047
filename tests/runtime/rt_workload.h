/* tests/runtime/rt_workload.h: the four standard workloads of WORKLOADS.md
 * for runtime tests, stress and bench programs: images compiled from
 * examples/protocols by the real pipeline, and a synthetic effect handler
 * that produces and checks every payload (pong = ping + 1, token + 1 per
 * hop, resp = 2 * req, the two-buyer's round numbers; B2 accepts on even
 * rounds). The handler is thread-safe: its only shared state is an atomic
 * error counter; everything else is per role (rt_wl_role). */
#ifndef TR_TESTS_RT_WORKLOAD_H
#define TR_TESTS_RT_WORKLOAD_H

#include <stdatomic.h>
#include <stdalign.h>
#include <stdint.h>

#include "troupe/image.h"
#include "troupe/machine.h"

enum { RT_WL_PINGPONG, RT_WL_RING, RT_WL_FANOUT, RT_WL_TWOBUYER, RT_WL_COUNT };

#define RT_WL_MAXLABEL 1024u

/* A line of its own: under spread placement neighbouring roles run on
 * different workers, and a shared line would measure false sharing in
 * this handler, not the runtime. */
typedef struct rt_wl_role {
	alignas(64) int64_t rounds; /* the chooser picks Next while chosen < rounds */
	int64_t chosen; /* choices made */
	int64_t last;   /* last payload received */
	int64_t nrecv[16];
	int fail;       /* on_send fails (tests of fault propagation) */
} rt_wl_role;

typedef struct rt_wl {
	int kind;
	const char *name;
	tr_image *img;
	unsigned nroles;
	uint8_t label_kind[RT_WL_MAXLABEL]; /* string id -> label kind */
	_Atomic uint64_t errors;            /* payload or label mismatches */
	_Atomic uint64_t first_error_line;
	_Atomic uint64_t fail_session;      /* on_send fails for this id (tests) */
	_Atomic uint64_t injected_failures;
} rt_wl;

/* Compile examples/protocols/<name>.tell (dir: the examples folder).
 * TR_OK or the pipeline's status (err filled). */
tr_status rt_wl_init(rt_wl *w, const char *dir, int kind, tr_error *err);
/* Compile protocol text (any protocol; the handler is not for it). */
tr_status rt_wl_init_text(rt_wl *w, const char *text, tr_error *err);
void rt_wl_fini(rt_wl *w);
/* The handler for sessions of w. */
tr_handler rt_wl_handler(rt_wl *w);
/* Reset nroles role states for R rounds. */
void rt_wl_roles_init(rt_wl_role *roles, unsigned nroles, int64_t R);
/* WORKLOADS.md message count per session. */
uint64_t rt_wl_expected(int kind, uint64_t R);
/* "ring" -> RT_WL_RING, or -1. */
int rt_wl_kind(const char *name);
const char *rt_wl_name(int kind);

#endif
