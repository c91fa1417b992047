/* tests/machine/mtest.h: shared helpers of the machine tests: build images
 * from .tell text or example files, and a deterministic synthetic handler
 * (first label while rounds remain, then the last; payloads counted up per
 * role and checked on receipt when the test asks for it). */
#ifndef TR_TESTS_MTEST_H
#define TR_TESTS_MTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe/image.h"
#include "troupe/machine.h"
#include "troupe/protocol.h"

/* Compile .tell text / an example file (name without .tell); aborts the
 * test on failure. */
tr_image *mt_image_text(const char *text);
tr_image *mt_image_example(const char *name);

/* Per-role state of the synthetic handler. */
typedef struct mt_role {
	int64_t rounds_left; /* OFFER: first label while > 0, then the last */
	int64_t next_value;  /* SEND: payload counter */
	uint64_t received;   /* values received */
	int64_t recv_sum;
} mt_role;

/* Knobs shared by every session of a test. */
typedef struct mt_ctx {
	tr_status fail_send_status; /* non-OK: on_send returns it when armed */
	int64_t fail_send_session;  /* session id to fail (0: none) */
	bool wrong_kind;            /* on_send returns a value of the wrong kind */
	int64_t wrong_kind_session;
	uint64_t sends, recvs, chooses;
	/* topology events to report: at tick topo_tick */
	uint64_t topo_tick;
	tr_topology_event topo[8];
	uint32_t ntopo;
} mt_ctx;

tr_handler mt_handler(mt_ctx *ctx);

/* Remote ops that accept every message and credit and do nothing: for
 * tests that open sessions with roles elsewhere (roles_here). */
tr_remote_ops mt_remote_noop(void);

/* A machine with default settings, tracing everything when `trace`, and
 * mt_remote_noop() as its remote ops. */
tr_machine *mt_new_machine(bool trace);

/* Reap exactly one closed session of m and return its summary (the test
 * fails when there is none). */
tr_session_summary mt_reap_one(tr_machine *m);

/* The machine's one session ended well (mt_reap_one); free m, img and
 * the role states of mt_open. */
void mt_finish_ok(tr_machine *m, tr_image *img);

/* Open one session of img with fresh role states (rounds each); the role
 * state array is allocated and kept until mt_free_states(). */
tr_session_id mt_open(tr_machine *m, const tr_image *img, const tr_handler *h,
                      int64_t rounds, const tr_session_opts *opts);
void mt_free_states(void);

/* Messages per session of the four workloads at R rounds. */
uint64_t mt_expected_messages(const char *workload, uint64_t R);

#endif
