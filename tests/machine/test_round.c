/* tests/machine/test_round.c: one test per numbered step of the kernel
 * round (core/machine/machine.c, "Theory of operation"). Each fails if its
 * step moves relative to the others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mtest.h"
#include "troupe/trace.h"

static const char *oneway =
	"protocol OneWay =\n"
	"  roles A, B\n"
	"  A -> B : M1 of Int\n"
	"  A -> B : M2 of Int\n";

static tr_step_result
step(tr_machine *m)
{
	tr_step_result r;
	assert_int_equal(tr_machine_step_round(m, 1, &r, NULL), TR_OK);
	return r;
}

static tr_machine_stats
stats_of(tr_machine *m)
{
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	return st;
}

/* index of the first event of kind k (from index `from`), or -1 */
static long
find_event(const tr_trace *t, uint32_t kind, size_t from)
{
	const tr_event *ev = tr_trace_events(t);
	for (size_t i = from; i < tr_trace_count(t); i++)
		if (ev[i].kind == kind)
			return (long)i;
	return -1;
}

static tr_trace *
trace_of(tr_machine *m)
{
	tr_trace *t = NULL;
	assert_int_equal(tr_machine_trace(m, &t), TR_OK);
	return t;
}

/* Open a oneway session with only its receiver B here (the host plays A)
 * and run the round in which B blocks on M1. */
static tr_session_id
open_receiver(tr_machine *m, const tr_image *img, const tr_handler *h)
{
	tr_session_opts o = {0};
	o.roles_here = 1u << 1;
	tr_session_id id = mt_open(m, img, h, 0, &o);
	assert_int_equal(step(m), TR_STEP_CONTINUE); /* B blocks on M1 */
	return id;
}

/* M1(7), a record tr_machine_inject would reject (label out of range),
 * M2(8): for the batch tests. */
static void
oneway_batch(const tr_image *img, tr_session_id id, tr_ingress_msg v[3])
{
	uint8_t k = (uint8_t)TR_VAL_INT;
	v[0] = (tr_ingress_msg){.id = id, .bits = 7, .from = 0, .to = 1, .kind = k,
	                        .label = (uint32_t)tr_image_label_id(img, "M1")};
	v[1] = (tr_ingress_msg){.id = id, .bits = 9, .from = 0, .to = 1, .kind = k,
	                        .label = 1u << 30};
	v[2] = (tr_ingress_msg){.id = id, .bits = 8, .from = 0, .to = 1, .kind = k,
	                        .label = (uint32_t)tr_image_label_id(img, "M2")};
}

/* Step 1: n == 0 is TR_E_INVALID and nothing happens (the clock stays). */
static void
test_step1_n_zero(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(false);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	mt_open(m, img, &h, 0, NULL);
	tr_step_result r;
	assert_int_equal(tr_machine_step_round(m, 0, &r, NULL), TR_E_INVALID);
	assert_int_equal(stats_of(m).tick, 0);
	tr_run_result rr;
	assert_int_equal(tr_machine_run_concurrent(m, 10, 0, &rr), TR_E_INVALID);
	assert_int_equal(tr_machine_step_round(m, 3, &r, NULL), TR_OK);
	assert_int_equal(stats_of(m).tick, 1);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 2: ALL_DONE when every coroutine is terminal (also: no sessions). */
static void
test_step2_all_done(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(false);
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	mt_open(m, img, &h, 0, NULL);
	tr_run_result rr;
	assert_int_equal(tr_machine_run(m, 100, &rr), TR_OK);
	assert_int_equal(rr, TR_RUN_ALL_DONE);
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 3 before 5 and 8: a message injected for a blocked receiver is
 * delivered, the receiver woken and run, all in the next round. */
static void
test_step3_ingress_before_unblock(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_id id = open_receiver(m, img, &h);
	assert_int_equal(step(m), TR_STEP_STUCK);
	uint32_t m1 = (uint32_t)tr_image_label_id(img, "M1");
	uint32_t m2 = (uint32_t)tr_image_label_id(img, "M2");
	assert_int_equal(tr_machine_inject(m, id, 0, 1, m1, tr_value_int(7)), TR_OK);
	assert_int_equal(tr_machine_inject(m, id, 0, 1, m2, tr_value_int(8)), TR_OK);
	uint64_t t = stats_of(m).tick + 1;
	/* one round: deliver (3), wake (5), pick and run (8, 9) to the end */
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	tr_trace *tr = trace_of(m);
	long i = find_event(tr, TR_EV_RECEIVED, 0);
	assert_true(i >= 0);
	assert_int_equal(tr_trace_events(tr)[i].tick, t);
	assert_int_equal(tr_trace_events(tr)[i].value, 7);
	tr_trace_free(tr);
	mt_finish_ok(m, img);
}

/* Step 3 through tr_machine_inject_batch: the valid records are queued in
 * order and delivered as single injects would be; an invalid one is
 * skipped and counted as dropped, and the call says so. */
static void
test_step3_ingress_batch(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_id id = open_receiver(m, img, &h);
	assert_int_equal(step(m), TR_STEP_STUCK);
	tr_ingress_msg v[3];
	oneway_batch(img, id, v);
	size_t queued = 99;
	assert_int_equal(tr_machine_inject_batch(NULL, v, 3, &queued), TR_E_INVALID);
	assert_int_equal(queued, 0);
	assert_int_equal(tr_machine_inject_batch(m, NULL, 1, NULL), TR_E_INVALID);
	assert_int_equal(tr_machine_inject_batch(m, NULL, 0, &queued), TR_OK);
	assert_int_equal(queued, 0);
	assert_int_equal(tr_machine_inject_batch(m, v, 3, &queued), TR_E_INVALID);
	assert_int_equal(queued, 2);
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_dropped, 1);
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	tr_trace *tr = trace_of(m);
	long i = find_event(tr, TR_EV_RECEIVED, 0);
	assert_true(i >= 0);
	assert_int_equal(tr_trace_events(tr)[i].value, 7);
	long j = find_event(tr, TR_EV_RECEIVED, (size_t)i + 1);
	assert_true(j > i);
	assert_int_equal(tr_trace_events(tr)[j].value, 8);
	tr_trace_free(tr);
	mt_finish_ok(m, img);
}

/* Without a trace, capture or topology handler a batch is delivered at
 * once (between rounds); every round must then go as it would have with the
 * same messages queued for step 3: same results, clock, counts and drops. */
static void
test_step3_batch_at_once_same_rounds(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *mx = mt_new_machine(false), *my = mt_new_machine(false);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	h.on_topology = NULL; /* its events would have to come first */
	tr_session_opts o = {0};
	o.roles_here = 1u << 1;
	tr_session_id ix = mt_open(mx, img, &h, 0, &o);
	tr_session_id iy = mt_open(my, img, &h, 0, &o);
	assert_int_equal(ix, iy);
	assert_int_equal(step(mx), TR_STEP_CONTINUE);
	assert_int_equal(step(my), TR_STEP_CONTINUE);
	uint8_t k = (uint8_t)TR_VAL_INT;
	uint32_t m1 = (uint32_t)tr_image_label_id(img, "M1");
	uint32_t m2 = (uint32_t)tr_image_label_id(img, "M2");
	tr_ingress_msg v[3] = {
		{.id = ix, .bits = 7, .label = m1, .from = 0, .to = 1, .kind = k},
		{.id = ix + 1000, .bits = 1, .label = m1, .from = 0, .to = 1, .kind = k}, /* unknown */
		{.id = ix, .bits = 8, .label = m2, .from = 0, .to = 1, .kind = k},
	};
	size_t q = 0;
	assert_int_equal(tr_machine_inject_batch(mx, v, 3, &q), TR_OK);
	assert_int_equal(q, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tr_machine_inject(my, v[i].id, 0, 1, v[i].label,
		                                   tr_value_int((int64_t)v[i].bits)), TR_OK);
	/* at once: the unknown session's message is already counted */
	tr_machine_stats s0;
	tr_machine_stats_get(mx, &s0);
	assert_int_equal(s0.messages_dropped, 1);
	tr_machine_stats_get(my, &s0);
	assert_int_equal(s0.messages_dropped, 0);
	assert_true(tr_machine_has_work(mx));
	for (int r = 0; r < 4; r++) {
		tr_step_result a, b;
		assert_int_equal(tr_machine_step_round(mx, 1, &a, NULL), TR_OK);
		assert_int_equal(tr_machine_step_round(my, 1, &b, NULL), TR_OK);
		assert_int_equal(a, b);
		tr_machine_stats sx, sy;
		tr_machine_stats_get(mx, &sx);
		tr_machine_stats_get(my, &sy);
		assert_int_equal(sx.tick, sy.tick);
		assert_int_equal(sx.messages_received, sy.messages_received);
		assert_int_equal(sx.messages_dropped, sy.messages_dropped);
		assert_int_equal(sx.instructions, sy.instructions);
	}
	tr_machine_stats sx;
	tr_machine_stats_get(mx, &sx);
	assert_int_equal(sx.messages_received, 2);
	assert_int_equal(sx.messages_dropped, 1);
	assert_true(mt_reap_one(mx).ok);
	assert_true(mt_reap_one(my).ok);
	tr_machine_free(mx);
	tr_machine_free(my);
	tr_image_free(img);
	mt_free_states();
}

/* At once, an invalid record is skipped and counted as the queued path
 * does, and the call says so; the valid ones are delivered in order. */
static void
test_step3_batch_at_once_invalid(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(false);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	h.on_topology = NULL;
	tr_session_id id = open_receiver(m, img, &h);
	tr_ingress_msg v[3];
	oneway_batch(img, id, v);
	size_t q = 0;
	assert_int_equal(tr_machine_inject_batch(m, v, 3, &q), TR_E_INVALID);
	assert_int_equal(q, 2);
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_dropped, 1); /* at once: already counted */
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_received, 2);
	assert_int_equal(st.coroutines_blocked, 0);
	mt_finish_ok(m, img);
}

/* tr_remote_ops.send_batch: remote messages are handed over as records at
 * the end of the driver call, in order; what the driver does not take (here
 * one record per call) is offered again later, none lost or reordered. */
typedef struct take_one {
	tr_ingress_msg got[8];
	size_t n, calls;
} take_one;

static size_t
take_one_batch(void *ctx, const tr_ingress_msg *v, size_t n)
{
	take_one *t = ctx;
	t->calls++;
	if (n == 0 || t->n == 8)
		return 0;
	t->got[t->n++] = v[0];
	return 1;
}

static void
test_remote_send_batch_partial(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	take_one t = {0};
	tr_remote_ops ops = mt_remote_noop();
	ops.ctx = &t;
	ops.send_batch = take_one_batch;
	assert_int_equal(tr_machine_set_remote(m, &ops), TR_OK);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_opts o = {0};
	o.roles_here = 1u << 0; /* only A here: B is elsewhere */
	tr_session_id id = mt_open(m, img, &h, 0, &o);
	/* A sends M1 and M2 in one slice and halts: both are staged, one is
	 * taken at the end of the round */
	tr_step_result r;
	assert_int_equal(tr_machine_step_round(m, 1, &r, NULL), TR_OK);
	assert_int_equal(t.n, 1);
	/* nothing left to run: the next driver call still offers the rest */
	uint32_t rounds = 0;
	assert_int_equal(tr_machine_run_while_work(m, 10, &rounds, NULL), TR_OK);
	assert_int_equal(t.n, 2);
	assert_int_equal(tr_machine_run_while_work(m, 10, &rounds, NULL), TR_OK);
	assert_int_equal(t.n, 2); /* nothing more, nothing twice */
	uint32_t m1 = (uint32_t)tr_image_label_id(img, "M1");
	uint32_t m2 = (uint32_t)tr_image_label_id(img, "M2");
	assert_int_equal(t.got[0].id, id);
	assert_int_equal(t.got[0].label, m1);
	assert_int_equal(t.got[1].label, m2);
	assert_int_equal(t.got[0].from, 0);
	assert_int_equal(t.got[0].to, 1);
	assert_int_equal(t.got[0].kind, TR_VAL_INT);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 3: topology events come before injected messages of the same tick:
 * the crash closes the session, so the message is dropped. */
static void
test_step3_topology_before_messages(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_id id = open_receiver(m, img, &h);
	ctx.topo_tick = stats_of(m).tick + 1;
	ctx.ntopo = 1;
	ctx.topo[0] = (tr_topology_event){TR_TOPO_CRASH, id, 1, 0, 0};
	assert_int_equal(tr_machine_inject(m, id, 0, 1, (uint32_t)tr_image_label_id(img, "M1"),
	                                   tr_value_int(1)), TR_OK);
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_dropped, 1);
	tr_trace *tr = trace_of(m);
	long topo = find_event(tr, TR_EV_TOPOLOGY, 0);
	long fb = find_event(tr, TR_EV_FAILURE_BRANCH_ENTERED, 0);
	long fa = find_event(tr, TR_EV_FAULTED, 0);
	long dr = find_event(tr, TR_EV_DROPPED, 0);
	assert_true(topo >= 0 && fb > topo && fa == fb + 1 && dr > fa);
	tr_trace_free(tr);
	tr_session_summary sum = mt_reap_one(m);
	assert_int_equal(sum.fault.kind, TR_FAULT_TOPOLOGY);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 4 before 5: a timeout due this tick fires although a message for the
 * waiting receiver arrived in the same tick. */
static void
test_step4_timeout_before_unblock(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_id id = open_receiver(m, img, &h);
	assert_int_equal(tr_machine_set_timeout(m, id, 1, 2), TR_OK); /* due at tick 3 */
	assert_int_equal(step(m), TR_STEP_STUCK);                      /* tick 2 */
	assert_int_equal(tr_machine_inject(m, id, 0, 1, (uint32_t)tr_image_label_id(img, "M1"),
	                                   tr_value_int(1)), TR_OK);
	assert_int_equal(step(m), TR_STEP_ALL_DONE); /* tick 3: timeout wins */
	tr_trace *tr = trace_of(m);
	assert_true(find_event(tr, TR_EV_TIMEOUT, 0) >= 0);
	assert_int_equal(find_event(tr, TR_EV_RECEIVED, 0), -1);
	tr_trace_free(tr);
	tr_session_summary sum = mt_reap_one(m);
	assert_int_equal(sum.fault.kind, TR_FAULT_TIMEOUT);
	assert_int_equal(sum.fault.role, 1);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 5: senders with room become ready before receivers with data. */
static void
test_step5_senders_before_receivers(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_opts o2 = {0};
	o2.roles_here = 1u << 1;
	tr_session_id s2 = mt_open(m, img, &h, 0, &o2); /* B2 only */
	tr_session_opts o1 = {0};
	o1.buffer_capacity = 1;
	tr_session_id s1 = mt_open(m, img, &h, 0, &o1); /* A1, B1 */
	assert_int_equal(step(m), TR_STEP_CONTINUE); /* B2 blocks */
	assert_int_equal(step(m), TR_STEP_CONTINUE); /* A1 sends M1, blocks on M2 (full) */
	assert_int_equal(step(m), TR_STEP_CONTINUE); /* B1 takes M1 (wakes A1), blocks */
	assert_int_equal(tr_machine_inject(m, s2, 0, 1, (uint32_t)tr_image_label_id(img, "M1"),
	                                   tr_value_int(1)), TR_OK);
	uint64_t t = stats_of(m).tick + 1;
	assert_int_equal(step(m), TR_STEP_CONTINUE);
	/* the coroutine run at tick t is A1 (sender), not B2 (receiver) */
	tr_trace *tr = trace_of(m);
	const tr_event *ev = tr_trace_events(tr);
	bool a1_ran = false, b2_ran = false;
	for (size_t i = 0; i < tr_trace_count(tr); i++) {
		if (ev[i].tick != t)
			continue;
		if (ev[i].session == s1 && ev[i].role == 0 && ev[i].kind == TR_EV_SENT)
			a1_ran = true;
		if (ev[i].session == s2 && ev[i].kind == TR_EV_RECEIVED)
			b2_ran = true;
	}
	assert_true(a1_ran);
	assert_false(b2_ran);
	tr_trace_free(tr);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 6: a session without progress for progress_within ticks faults
 * NO_PROGRESS at exactly that tick. */
static void
test_step6_progress_contract(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_opts o = {0};
	o.roles_here = 1u << 1;
	o.progress_within = 3;
	mt_open(m, img, &h, 0, &o);           /* opened at tick 0 */
	assert_int_equal(step(m), TR_STEP_CONTINUE); /* tick 1: blocks */
	assert_int_equal(step(m), TR_STEP_STUCK);    /* tick 2 */
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.faults, 0);
	assert_int_equal(step(m), TR_STEP_ALL_DONE); /* tick 3: breach */
	tr_session_summary sum = mt_reap_one(m);
	assert_int_equal(sum.fault.kind, TR_FAULT_NO_PROGRESS);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 6, the other side: moving messages keeps a contract met. In a
 * stream A only sends and B only receives, one slice a round each (A fills
 * the 4-entry buffer, B empties it), so with progress_within = 2 every round
 * must count: a send that did not move the clock, or a receive, faults the
 * session within a few ticks. */
static void
test_step6_progress_kept(void **state)
{
	(void)state;
	tr_image *img = mt_image_text("protocol Stream =\n"
	                              "  roles A, B\n"
	                              "  rec Loop\n"
	                              "    choice A at\n"
	                              "      | Next =>\n"
	                              "        A -> B : Next\n"
	                              "        A -> B : Item of Int\n"
	                              "        continue Loop\n"
	                              "      | Stop =>\n"
	                              "        A -> B : Stop\n");
	tr_machine *m = mt_new_machine(false);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_opts o = {0};
	o.progress_within = 2;
	o.buffer_capacity = 4;
	mt_open(m, img, &h, 100, &o);
	tr_run_result rr;
	assert_int_equal(tr_machine_run(m, 100000, &rr), TR_OK);
	assert_int_equal(rr, TR_RUN_ALL_DONE);
	tr_session_summary sum = mt_reap_one(m);
	assert_int_equal(sum.fault.kind, TR_FAULT_NONE);
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_received, 2 * 100 + 1);
	assert_true(st.tick > 100); /* the buffer bounds a slice: many rounds */
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 7: STUCK when every live coroutine is blocked. */
static void
test_step7_stuck(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(false);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	(void)open_receiver(m, img, &h); /* opened at tick 0, blocks at 1 */
	assert_int_equal(step(m), TR_STEP_STUCK);
	tr_run_result rr;
	assert_int_equal(tr_machine_run(m, 100, &rr), TR_OK);
	assert_int_equal(rr, TR_RUN_STUCK);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Pcs are per role: a fault and a HALTED event name the instruction's
 * index in the role's own code, also for a role whose code is not the
 * image's first (the machine keeps a coroutine's pc as a byte offset in
 * its decoded copy of every role's code). */
static const char *reply =
	"protocol Reply =\n"
	"  roles A, B\n"
	"  A -> B : Go\n"
	"  B -> A : Back of Int\n";

static void
test_pc_per_role(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(reply);
	/* A: SEND Go, RECEIVE Back, HALT; B: RECEIVE Go, SEND Back, HALT */
	for (int fail = 0; fail < 2; fail++) {
		tr_machine *m = mt_new_machine(true);
		mt_ctx ctx = {0};
		tr_handler h = mt_handler(&ctx);
		tr_session_id id = mt_open(m, img, &h, 0, NULL);
		if (fail) {
			ctx.fail_send_session = (int64_t)id;
			ctx.fail_send_status = TR_E_HANDLER;
		}
		tr_step_result r = TR_STEP_CONTINUE;
		tr_fault f = {0};
		int faults = 0;
		for (int k = 0; k < 20 && r != TR_STEP_ALL_DONE; k++) {
			assert_int_equal(tr_machine_step_round(m, 1, &r, &f), TR_OK);
			if (r == TR_STEP_FAULTED) {
				faults++;
				/* B's on_send fails: role B, its instruction 1 */
				assert_int_equal(f.role, 1);
				assert_int_equal(f.pc, 1);
			}
		}
		assert_int_equal(faults, fail);
		tr_session_summary sum = mt_reap_one(m);
		assert_int_equal(sum.ok, !fail);
		if (fail) {
			assert_int_equal(sum.fault.role, 1);
			assert_int_equal(sum.fault.pc, 1);
		} else {
			/* each role halts at its instruction 2 */
			tr_trace *tr = trace_of(m);
			int halted = 0;
			for (long i = find_event(tr, TR_EV_HALTED, 0); i >= 0;
			     i = find_event(tr, TR_EV_HALTED, (size_t)i + 1)) {
				assert_int_equal(tr_trace_events(tr)[i].value, 2);
				halted++;
			}
			assert_int_equal(halted, 2);
			tr_trace_free(tr);
		}
		tr_machine_free(m);
	}
	tr_image_free(img);
	mt_free_states();
}

/* Steps 8-10: a faulting slice returns FAULTED with the fault, and traces
 * FAILURE_BRANCH_ENTERED immediately followed by FAULTED. */
static void
test_step10_fault(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_id id = mt_open(m, img, &h, 0, NULL);
	ctx.fail_send_session = (int64_t)id;
	ctx.fail_send_status = TR_E_HANDLER;
	tr_step_result r;
	tr_fault f;
	assert_int_equal(tr_machine_step_round(m, 1, &r, &f), TR_OK);
	assert_int_equal(r, TR_STEP_FAULTED);
	assert_int_equal(f.kind, TR_FAULT_INVOKE);
	assert_int_equal(f.session, id);
	assert_int_equal(f.role, 0);
	assert_int_equal(f.pc, 0);
	tr_trace *tr = trace_of(m);
	long fb = find_event(tr, TR_EV_FAILURE_BRANCH_ENTERED, 0);
	assert_true(fb >= 0);
	assert_int_equal(tr_trace_events(tr)[fb + 1].kind, TR_EV_FAULTED);
	tr_trace_free(tr);
	/* the session failed as a whole: B stopped too */
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* Step 11: ALL_DONE is returned by the round in which the last coroutine
 * halts. */
static void
test_step11_all_done_same_round(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(false);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	mt_open(m, img, &h, 0, NULL);
	assert_int_equal(step(m), TR_STEP_CONTINUE); /* A sends both, halts */
	assert_int_equal(step(m), TR_STEP_ALL_DONE); /* B receives both, halts */
	tr_session_summary sum = mt_reap_one(m);
	assert_true(sum.ok);
	assert_int_equal(sum.messages, 2);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

/* tr_machine_stats.in_flight and coroutines_blocked are derived, not
 * counted per message and per wait: check them against what is really
 * buffered (and waiting) after local sends and receives, remote sends,
 * ingress, and a cancel (buffers are freed when the session is reaped). */
static void
test_stats_in_flight(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);

	/* local: A sends M1 and M2 and halts in the first round, B takes both */
	tr_machine *m = mt_new_machine(false);
	mt_open(m, img, &h, 0, NULL);
	assert_int_equal(step(m), TR_STEP_CONTINUE);
	assert_int_equal(stats_of(m).in_flight, 2);
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	assert_int_equal(stats_of(m).in_flight, 0);
	assert_true(mt_reap_one(m).ok);
	/* cancelled with both messages buffered: freed when reaped */
	tr_session_id id = mt_open(m, img, &h, 0, NULL);
	assert_int_equal(step(m), TR_STEP_CONTINUE);
	assert_int_equal(stats_of(m).in_flight, 2);
	assert_int_equal(tr_machine_cancel(m, id), TR_OK);
	assert_int_equal(stats_of(m).in_flight, 2);
	assert_false(mt_reap_one(m).ok);
	assert_int_equal(stats_of(m).in_flight, 0);
	tr_machine_free(m);

	/* only A here: its messages go to the remote side, none is buffered */
	m = mt_new_machine(false);
	tr_session_opts o = {0};
	o.roles_here = 1u << 0;
	mt_open(m, img, &h, 0, &o);
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_sent, 2);
	assert_int_equal(st.in_flight, 0);
	tr_machine_free(m);
	tr_image_free(img);

	/* only B here, waiting on C: A's message from outside stays buffered */
	img = mt_image_text("protocol Two =\n"
	                    "  roles A, B, C\n"
	                    "  C -> B : M0 of Int\n"
	                    "  A -> B : M1 of Int\n");
	m = mt_new_machine(false);
	o.roles_here = 1u << 1;
	id = mt_open(m, img, &h, 0, &o);
	assert_int_equal(step(m), TR_STEP_CONTINUE); /* B blocks on M0 */
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.coroutines_blocked, 1);
	uint32_t m0 = (uint32_t)tr_image_label_id(img, "M0");
	uint32_t m1 = (uint32_t)tr_image_label_id(img, "M1");
	assert_int_equal(tr_machine_inject(m, id, 0, 1, m1, tr_value_int(0)), TR_OK);
	assert_int_equal(step(m), TR_STEP_STUCK);
	assert_int_equal(stats_of(m).in_flight, 1);
	assert_int_equal(tr_machine_inject(m, id, 2, 1, m0, tr_value_int(0)), TR_OK);
	assert_int_equal(step(m), TR_STEP_ALL_DONE);
	assert_int_equal(stats_of(m).in_flight, 0);
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_received, 2);
	assert_int_equal(st.coroutines_blocked, 0);
	mt_finish_ok(m, img);
}

/* slice = 1: each round runs exactly one instruction, as in the seed. */
static void
test_slice_one(void **state)
{
	(void)state;
	tr_image *img = mt_image_example("pingpong");
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.slice = 1;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	mt_open(m, img, &h, 5, NULL);
	uint64_t prev = 0, rounds = 0;
	for (;;) {
		tr_step_result r;
		assert_int_equal(tr_machine_step_round(m, 1, &r, NULL), TR_OK);
		tr_machine_stats st;
		tr_machine_stats_get(m, &st);
		if (r == TR_STEP_ALL_DONE && st.instructions == prev)
			break;
		assert_int_equal(st.instructions - prev, 1);
		prev = st.instructions;
		rounds++;
		assert_true(rounds < 10000);
		if (r == TR_STEP_ALL_DONE)
			break;
	}
	/* with a large slice the same session needs fewer rounds */
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_sent, 3 * 5 + 1);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step1_n_zero),
		cmocka_unit_test(test_step2_all_done),
		cmocka_unit_test(test_step3_ingress_before_unblock),
		cmocka_unit_test(test_step3_ingress_batch),
		cmocka_unit_test(test_step3_batch_at_once_same_rounds),
		cmocka_unit_test(test_step3_batch_at_once_invalid),
		cmocka_unit_test(test_remote_send_batch_partial),
		cmocka_unit_test(test_step3_topology_before_messages),
		cmocka_unit_test(test_step4_timeout_before_unblock),
		cmocka_unit_test(test_step5_senders_before_receivers),
		cmocka_unit_test(test_step6_progress_contract),
		cmocka_unit_test(test_step6_progress_kept),
		cmocka_unit_test(test_step7_stuck),
		cmocka_unit_test(test_step10_fault),
		cmocka_unit_test(test_pc_per_role),
		cmocka_unit_test(test_step11_all_done_same_round),
		cmocka_unit_test(test_slice_one),
		cmocka_unit_test(test_stats_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
