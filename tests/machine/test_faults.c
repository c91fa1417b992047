/* tests/machine/test_faults.c: issue 4, done-when 4. Each kind of fault
 * (wrong-typed handler value, unknown label injected into an edge, handler
 * error, expired timeout, progress-contract breach, crashed site) faults
 * only its own session, traced as FAILURE_BRANCH_ENTERED then FAULTED,
 * while 1,000 other sessions in the same machine complete. Also the four
 * full-buffer policies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mtest.h"
#include "troupe/trace.h"

#define OTHERS 1000
#define R 4

enum fault_case { WRONG_TYPE, UNKNOWN_LABEL, HANDLER_ERROR, TIMEOUT, NO_PROGRESS, CRASH, NCASES };
static const tr_fault_kind expected_kind[NCASES] = {
	TR_FAULT_TYPE_VIOLATION, TR_FAULT_UNKNOWN_LABEL, TR_FAULT_INVOKE,
	TR_FAULT_TIMEOUT, TR_FAULT_NO_PROGRESS, TR_FAULT_TOPOLOGY,
};

static void
run_case(enum fault_case fc)
{
	tr_image *img = mt_image_example("pingpong");
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);

	/* the faulty session sits in the middle of the others */
	tr_session_id bad = 0;
	for (int i = 0; i < OTHERS / 2; i++)
		mt_open(m, img, &h, R, NULL);
	tr_session_opts o = {0};
	switch (fc) {
	case UNKNOWN_LABEL:
	case TIMEOUT:
		o.roles_here = 1u << 1; /* B waits for the host's A */
		break;
	case NO_PROGRESS:
		o.roles_here = 1u << 1;
		o.progress_within = 5;
		break;
	default:
		break;
	}
	bad = mt_open(m, img, &h, R, &o);
	for (int i = 0; i < OTHERS / 2; i++)
		mt_open(m, img, &h, R, NULL);

	switch (fc) {
	case WRONG_TYPE:
		ctx.wrong_kind = true;
		ctx.wrong_kind_session = (int64_t)bad;
		break;
	case HANDLER_ERROR:
		ctx.fail_send_session = (int64_t)bad;
		ctx.fail_send_status = TR_E_HANDLER;
		break;
	case UNKNOWN_LABEL:
		/* B's first instruction is CHOOSE {Next, Stop}: Ping is not there */
		assert_int_equal(tr_machine_inject(m, bad, 0, 1, (uint32_t)tr_image_label_id(img, "Ping"),
		                                   tr_value_unit()), TR_OK);
		break;
	case TIMEOUT:
		/* B first runs after the 1,000 coroutines ahead of it; the timeout
		 * finds it blocked */
		assert_int_equal(tr_machine_set_timeout(m, bad, 1, 3000), TR_OK);
		break;
	case CRASH:
		ctx.topo_tick = 30;
		ctx.ntopo = 1;
		ctx.topo[0] = (tr_topology_event){TR_TOPO_CRASH, bad, 1, 0, 0};
		break;
	default:
		break;
	}
	/* WRONG_TYPE needs a payload send: pingpong A's first send is the
	 * unit-sorted choice, its second the Int ping. */
	tr_run_result rr;
	assert_int_equal(tr_machine_run(m, 10000000, &rr), TR_OK);
	assert_int_equal(rr, TR_RUN_ALL_DONE);

	size_t n = 0, ok = 0, failed = 0;
	tr_session_summary bad_sum = {0};
	tr_session_summary *sums = calloc(OTHERS + 1, sizeof *sums);
	assert_true(tr_machine_has_closed(m));
	assert_false(tr_machine_has_closed(NULL));
	assert_int_equal(tr_machine_reap_closed_sessions(m, sums, OTHERS, &n), TR_OK);
	assert_true(tr_machine_has_closed(m)); /* one left */
	assert_int_equal(tr_machine_reap_closed_sessions(m, sums + OTHERS, 1, &n), TR_OK);
	assert_int_equal(n, 1);
	assert_false(tr_machine_has_closed(m));
	n = OTHERS + 1;
	for (size_t i = 0; i < n; i++) {
		if (sums[i].id == bad) {
			assert_false(sums[i].ok);
			assert_int_equal(sums[i].fault.kind, expected_kind[fc]);
			assert_int_equal(sums[i].fault.session, bad);
			bad_sum = sums[i];
			failed++;
		} else {
			assert_true(sums[i].ok);
			assert_int_equal(sums[i].messages, 3 * R + 1);
			ok++;
		}
	}
	assert_int_equal(ok, OTHERS);
	assert_int_equal(failed, 1);
	free(sums);

	/* the trace: FAILURE_BRANCH_ENTERED then FAULTED for the bad session,
	 * and no fault for any other session */
	tr_trace *t = NULL;
	assert_int_equal(tr_machine_trace(m, &t), TR_OK);
	const tr_event *ev = tr_trace_events(t);
	int fb = 0;
	for (size_t i = 0; i < tr_trace_count(t); i++) {
		if (ev[i].kind == TR_EV_FAILURE_BRANCH_ENTERED) {
			assert_int_equal(ev[i].session, bad);
			assert_true(i + 1 < tr_trace_count(t));
			assert_int_equal(ev[i + 1].kind, TR_EV_FAULTED);
			assert_int_equal(ev[i + 1].session, bad);
			assert_int_equal(ev[i + 1].aux, expected_kind[fc]);
			/* the summary names the same role and pc as the trace (the
			 * machine keeps the pc in the faulted coroutine, not in the
			 * session header) */
			assert_int_equal(bad_sum.fault.role, ev[i + 1].role);
			assert_int_equal(bad_sum.fault.pc, ev[i + 1].value);
			fb++;
		}
		if (ev[i].kind == TR_EV_FAULTED)
			assert_int_equal(ev[i].session, bad);
		if (ev[i].kind == TR_EV_SESSION_OPENED && ev[i].session == bad)
			assert_int_equal(bad_sum.opened_tick, ev[i].tick);
		if (ev[i].kind == TR_EV_SESSION_CLOSED && ev[i].session == bad)
			assert_true(bad_sum.closed_tick >= ev[i].tick);
	}
	assert_true(bad_sum.opened_tick <= bad_sum.closed_tick);
	assert_int_equal(fb, 1);
	tr_trace_free(t);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

static void test_wrong_type(void **s) { (void)s; run_case(WRONG_TYPE); }
static void test_unknown_label(void **s) { (void)s; run_case(UNKNOWN_LABEL); }
static void test_handler_error(void **s) { (void)s; run_case(HANDLER_ERROR); }
static void test_timeout(void **s) { (void)s; run_case(TIMEOUT); }
static void test_no_progress(void **s) { (void)s; run_case(NO_PROGRESS); }
static void test_crash(void **s) { (void)s; run_case(CRASH); }

/* Full buffers: BLOCK, DROP, ERROR and RESIZE, with capacity 1 and a
 * sender that sends two messages before the receiver runs. */
static void
full_case(tr_full_policy pol, uint64_t want_msgs, uint64_t want_dropped, bool want_ok)
{
	tr_image *img = mt_image_text("protocol Two =\n  roles A, B\n"
	                              "  A -> B : M1 of Int\n  A -> B : M2 of Int\n"
	                              "  A -> B : M3 of Int\n");
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.buffer_capacity = 1;
	cfg.full_policy = pol;
	cfg.buffer_max = 4;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	mt_open(m, img, &h, 0, NULL);
	tr_run_result rr;
	assert_int_equal(tr_machine_run(m, 1000, &rr), TR_OK);
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.messages_dropped, want_dropped);
	tr_session_summary sum;
	size_t n;
	assert_int_equal(tr_machine_reap_closed_sessions(m, &sum, 1, &n), TR_OK);
	if (pol == TR_FULL_DROP) {
		/* the receiver waits forever for the dropped messages: stuck */
		assert_int_equal(rr, TR_RUN_STUCK);
		assert_int_equal(n, 0);
	} else {
		assert_int_equal(rr, TR_RUN_ALL_DONE);
		assert_int_equal(n, 1);
		assert_int_equal(sum.ok, want_ok);
		assert_int_equal(sum.messages, want_msgs);
		if (!want_ok)
			assert_int_equal(sum.fault.kind, TR_FAULT_BUFFER_FULL);
	}
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

static void
test_full_policies(void **state)
{
	(void)state;
	full_case(TR_FULL_BLOCK, 3, 0, true);
	full_case(TR_FULL_DROP, 1, 2, true);
	full_case(TR_FULL_ERROR, 1, 0, false);
	full_case(TR_FULL_RESIZE, 3, 0, true);
}

/* Wrong API use is rejected, never a crash. */
static void
test_api_misuse(void **state)
{
	(void)state;
	tr_machine *m = NULL;
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.slice = 0;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_E_INVALID);
	tr_machine_config_default(&cfg);
	cfg.policy = (tr_policy)99;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_E_INVALID);
	assert_int_equal(tr_machine_create(NULL, &m), TR_OK);
	tr_image *img = mt_image_example("pingpong");
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_id id = 0;
	assert_int_equal(tr_machine_open_session(m, NULL, &h, NULL, &id), TR_E_INVALID);
	assert_int_equal(tr_machine_open_session(m, img, NULL, NULL, &id), TR_E_INVALID);
	tr_session_opts o = {0};
	o.roles_here = 1u << 5; /* pingpong has 2 roles */
	assert_int_equal(tr_machine_open_session(m, img, &h, &o, &id), TR_E_INVALID);
	o.roles_here = 1u << 1; /* partial without remote ops */
	assert_int_equal(tr_machine_open_session(m, img, &h, &o, &id), TR_E_STATE);
	assert_int_equal(tr_machine_open_session(m, img, &h, NULL, &id), TR_OK);
	tr_session_opts dup = {0};
	dup.id = id;
	tr_session_id id2;
	assert_int_equal(tr_machine_open_session(m, img, &h, &dup, &id2), TR_E_INVALID);
	assert_int_equal(tr_machine_cancel(m, 999999), TR_E_NOT_FOUND);
	assert_int_equal(tr_machine_set_timeout(m, id, 7, 1), TR_E_INVALID);
	assert_int_equal(tr_machine_inject(m, id, 0, 1, 1u << 30, tr_value_unit()), TR_E_INVALID);
	tr_machine_stats st;
	tr_trace *t;
	assert_int_equal(tr_machine_trace(m, &t), TR_E_STATE);
	assert_int_equal(tr_machine_cancel(m, id), TR_OK);
	size_t n;
	tr_session_summary sum;
	tr_step_result r;
	assert_int_equal(tr_machine_step(m, &r, NULL), TR_OK);
	assert_int_equal(tr_machine_reap_closed_sessions(m, &sum, 1, &n), TR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(sum.fault.kind, TR_FAULT_CANCELLED);
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.sessions_live, 0);
	tr_machine_free(m);
	tr_machine_free(NULL);
	tr_image_free(img);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_unknown_label),
		cmocka_unit_test(test_handler_error),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_no_progress),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_full_policies),
		cmocka_unit_test(test_api_misuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
