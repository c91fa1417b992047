/* tests/cli/test_synth.c: the synthetic handler's rules (tools/synth.h),
 * called directly with hand-made effect records, and on a machine with a
 * corrupted payload to show that a wrong value fails the session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "synth.h"
#include "troupe/machine.h"
#include "troupe/protocol.h"

static tr_image *
compile_example(const char *name)
{
	char path[512];
	tr_protocol *p = NULL;
	tr_image *img = NULL;
	tr_error err;

	snprintf(path, sizeof path, "%s/%s.tell", TR_EXAMPLES, name);
	if (tr_protocol_parse_file(path, NULL, &p, &err) != TR_OK)
		fail_msg("%s: %s", path, err.msg);
	if (tr_image_compile(p, NULL, &img, &err) != TR_OK)
		fail_msg("%s: compile: %s", path, err.msg);
	tr_protocol_free(p);
	return img;
}

static tr_effect
effect(const tr_image *img, const char *role, const char *peer,
       uint32_t label, uint32_t sort, void *state)
{
	tr_effect e;

	memset(&e, 0, sizeof e);
	e.session = 9;
	e.role = (uint32_t)tr_image_role_index(img, role);
	e.peer = (uint32_t)tr_image_role_index(img, peer);
	e.label = label;
	e.sort_kind = sort;
	e.role_state = state;
	e.image = img;
	return e;
}

static void
test_formulas(void **state)
{
	(void)state;
	assert_int_equal(tr_workload_messages(TR_WL_PINGPONG, 100), 301);
	assert_int_equal(tr_workload_messages(TR_WL_RING, 100), 1507);
	assert_int_equal(tr_workload_messages(TR_WL_FANOUT, 100), 1204);
	assert_int_equal(tr_workload_messages(TR_WL_TWOBUYER, 100), 802);
	assert_int_equal(tr_workload_messages(TR_WL_TWOBUYER, 3), 21 + 4 + 2);
	assert_int_equal(tr_workload_messages(TR_WL_GENERIC, 3), 0);
	assert_int_equal(tr_workload_from_name("ring"), TR_WL_RING);
	assert_int_equal(tr_workload_from_name("ring.tell"), TR_WL_GENERIC);
	assert_string_equal(tr_workload_name(TR_WL_TWOBUYER), "twobuyer");
}

static void
test_pingpong_rules(void **state)
{
	(void)state;
	tr_image *img = compile_example("pingpong");
	tr_synth s;
	tr_error err;
	tr_synth_role a = {0}, b = {0};
	char why[256];

	assert_int_equal(tr_synth_init(&s, TR_WL_PINGPONG, img, 2, &err), TR_OK);
	/* tiny per-role state: the scale run has millions of roles */
	assert_true(tr_synth_role_state_size(&s) <= 16);
	tr_handler h = tr_synth_handler(&s);
	uint32_t labels[2] = {s.l_next, s.l_stop}, pick = 99;
	tr_value v;

	for (uint32_t round = 0; round < 2; round++) {
		tr_effect e = effect(img, "A", "B", 0, TR_VAL_UNIT, &a);
		assert_int_equal(h.on_choose(h.ctx, &e, labels, 2, &pick), TR_OK);
		assert_int_equal(pick, 0); /* Next while rounds remain */
		e = effect(img, "A", "B", s.l_ping, TR_VAL_INT, &a);
		assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
		assert_int_equal(v.kind, TR_VAL_INT);
		assert_int_equal(v.bits, round);
		e = effect(img, "B", "A", s.l_ping, TR_VAL_INT, &b);
		assert_int_equal(h.on_recv(h.ctx, &e, v), TR_OK);
		e.label = s.l_pong; /* B's reply */
		assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
		assert_int_equal(v.bits, round + 1);
		e = effect(img, "A", "B", s.l_pong, TR_VAL_INT, &a);
		assert_int_equal(h.on_recv(h.ctx, &e, v), TR_OK);
	}
	tr_effect e = effect(img, "A", "B", 0, TR_VAL_UNIT, &a);
	assert_int_equal(h.on_choose(h.ctx, &e, labels, 2, &pick), TR_OK);
	assert_int_equal(pick, 1); /* then Stop */
	/* order of the table does not matter: labels are found by id */
	uint32_t rev[2] = {s.l_stop, s.l_next};
	assert_int_equal(h.on_choose(h.ctx, &e, rev, 2, &pick), TR_OK);
	assert_int_equal(pick, 0);

	/* nothing wrong so far */
	assert_false(tr_synth_describe_bad(&s, why, sizeof why));
	/* a wrong pong */
	e = effect(img, "A", "B", s.l_pong, TR_VAL_INT, &a);
	assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(77)), TR_E_HANDLER);
	assert_true(tr_synth_describe_bad(&s, why, sizeof why));
	assert_non_null(strstr(why, "77"));
	assert_non_null(strstr(why, "role A"));
	/* a ping out of order */
	e = effect(img, "B", "A", s.l_ping, TR_VAL_INT, &b);
	assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(5)), TR_E_HANDLER);
	/* a payload of the wrong kind */
	tr_value bv = {TR_VAL_BOOL, 1};
	assert_int_equal(h.on_recv(h.ctx, &e, bv), TR_E_HANDLER);
	tr_image_free(img);
}

static void
test_ring_rules(void **state)
{
	(void)state;
	tr_image *img = compile_example("ring");
	tr_synth s;
	tr_error err;
	tr_synth_role st[8];
	char name[8], prev[8], next[8];
	tr_value v;
	uint32_t labels[2], pick;

	memset(st, 0, sizeof st);
	assert_int_equal(tr_synth_init(&s, TR_WL_RING, img, 3, &err), TR_OK);
	tr_handler h = tr_synth_handler(&s);
	labels[0] = s.l_next;
	labels[1] = s.l_stop;
	for (uint32_t lap = 0; lap < 3; lap++) {
		tr_effect e = effect(img, "P0", "P1", 0, TR_VAL_UNIT, &st[0]);
		assert_int_equal(h.on_choose(h.ctx, &e, labels, 2, &pick), TR_OK);
		assert_int_equal(labels[pick], s.l_next);
		e.label = s.l_tok;
		e.sort_kind = TR_VAL_INT;
		assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
		assert_int_equal(v.bits, lap);
		for (int k = 1; k < 8; k++) {
			snprintf(name, sizeof name, "P%d", k);
			snprintf(prev, sizeof prev, "P%d", k - 1);
			snprintf(next, sizeof next, "P%d", (k + 1) % 8);
			e = effect(img, name, prev, s.l_tok, TR_VAL_INT, &st[k]);
			assert_int_equal(h.on_recv(h.ctx, &e, v), TR_OK);
			e = effect(img, name, next, s.l_tok, TR_VAL_INT, &st[k]);
			assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
			assert_int_equal(v.bits, lap + (uint32_t)k);
		}
		e = effect(img, "P0", "P7", s.l_tok, TR_VAL_INT, &st[0]);
		assert_int_equal(h.on_recv(h.ctx, &e, v), TR_OK);
	}
	/* a token that skipped a hop */
	tr_effect e = effect(img, "P3", "P2", s.l_tok, TR_VAL_INT, &st[3]);
	assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(3 + 1)), TR_E_HANDLER);
	/* the wrong workload's rules for this image: a clear reason */
	assert_int_equal(tr_synth_init(&s, TR_WL_PINGPONG, img, 3, &err), TR_E_INVALID);
	assert_non_null(strstr(err.msg, "pingpong"));
	tr_image_free(img);
}

static void
test_fanout_and_twobuyer_rules(void **state)
{
	(void)state;
	tr_image *img = compile_example("fanout");
	tr_synth s;
	tr_error err;
	tr_synth_role c = {0}, w = {0};
	tr_value v;

	assert_int_equal(tr_synth_init(&s, TR_WL_FANOUT, img, 1, &err), TR_OK);
	tr_handler h = tr_synth_handler(&s);
	tr_effect e = effect(img, "C", "W3", s.l_req, TR_VAL_INT, &c);
	assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
	assert_int_equal(v.bits, 3);
	e = effect(img, "W3", "C", s.l_req, TR_VAL_INT, &w);
	assert_int_equal(h.on_recv(h.ctx, &e, v), TR_OK);
	assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(2)), TR_E_HANDLER);
	e.label = s.l_resp;
	assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
	assert_int_equal(v.bits, 6);
	e = effect(img, "C", "W3", s.l_resp, TR_VAL_INT, &c);
	assert_int_equal(h.on_recv(h.ctx, &e, v), TR_OK);
	assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(8)), TR_E_HANDLER);
	tr_image_free(img);

	img = compile_example("twobuyer");
	tr_synth_role b2 = {0};
	assert_int_equal(tr_synth_init(&s, TR_WL_TWOBUYER, img, 4, &err), TR_OK);
	h = tr_synth_handler(&s);
	uint32_t labels[2] = {s.l_accept, s.l_reject}, pick;
	for (uint32_t r = 0; r < 4; r++) {
		e = effect(img, "B2", "S", s.l_quote, TR_VAL_INT, &b2);
		assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(r)), TR_OK);
		e = effect(img, "B2", "B1", s.l_share, TR_VAL_INT, &b2);
		assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(r)), TR_OK);
		e = effect(img, "B2", "S", 0, TR_VAL_UNIT, &b2);
		assert_int_equal(h.on_choose(h.ctx, &e, labels, 2, &pick), TR_OK);
		assert_int_equal(labels[pick], r % 2 == 0 ? s.l_accept : s.l_reject);
	}
	e = effect(img, "B2", "B1", s.l_share, TR_VAL_INT, &b2);
	assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(0)), TR_E_HANDLER);
	tr_image_free(img);
}

static void
test_generic_rules(void **state)
{
	(void)state;
	tr_image *img = compile_example("pingpong");
	tr_synth s;
	tr_error err;

	assert_int_equal(tr_synth_init(&s, TR_WL_GENERIC, img, 2, &err), TR_OK);
	size_t sz = tr_synth_role_state_size(&s);
	void *a = calloc(1, sz), *b = calloc(1, sz);
	tr_handler h = tr_synth_handler(&s);
	uint32_t labels[3] = {7, 8, 9}, pick;
	tr_value v;

	tr_effect e = effect(img, "A", "B", 0, TR_VAL_UNIT, a);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(h.on_choose(h.ctx, &e, labels, 3, &pick), TR_OK);
		assert_int_equal(pick, 0);
	}
	assert_int_equal(h.on_choose(h.ctx, &e, labels, 3, &pick), TR_OK);
	assert_int_equal(pick, 2);
	/* payloads count up per edge, checked on receipt */
	for (uint64_t i = 0; i < 3; i++) {
		e = effect(img, "A", "B", 1, TR_VAL_INT, a);
		assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
		assert_int_equal(v.bits, i);
		e = effect(img, "B", "A", 1, TR_VAL_INT, b);
		assert_int_equal(h.on_recv(h.ctx, &e, v), TR_OK);
	}
	/* the other direction has its own count */
	e = effect(img, "B", "A", 1, TR_VAL_INT, b);
	assert_int_equal(h.on_send(h.ctx, &e, &v), TR_OK);
	assert_int_equal(v.bits, 0);
	e = effect(img, "B", "A", 1, TR_VAL_INT, b);
	assert_int_equal(h.on_recv(h.ctx, &e, tr_value_int(9)), TR_E_HANDLER);
	free(a);
	free(b);
	tr_image_free(img);
}

/* A handler that breaks one rule (every Pong one too high): the machine
 * must fault the receiving role and fail each session, not finish it. */
static tr_handler inner;

static tr_status
corrupt_send(void *ctx, const tr_effect *e, tr_value *out)
{
	tr_synth *s = ctx;
	tr_status st = inner.on_send(ctx, e, out);
	if (st == TR_OK && e->label == s->l_pong)
		out->bits++;
	return st;
}

static void
test_wrong_payload_fails_session(void **state)
{
	(void)state;
	tr_image *img = compile_example("pingpong");
	tr_synth s;
	tr_error err;
	tr_machine *m;
	tr_synth_role rs[2];
	void *ptrs[2] = {&rs[0], &rs[1]};
	tr_session_opts so;
	tr_session_id id;
	tr_run_result res;
	tr_session_summary sum[4];
	size_t n;

	memset(rs, 0, sizeof rs);
	assert_int_equal(tr_synth_init(&s, TR_WL_PINGPONG, img, 3, &err), TR_OK);
	inner = tr_synth_handler(&s);
	tr_handler h = inner;
	h.on_send = corrupt_send;
	assert_int_equal(tr_machine_create(NULL, &m), TR_OK);
	memset(&so, 0, sizeof so);
	so.full_policy = -1;
	so.role_state = ptrs;
	assert_int_equal(tr_machine_open_session(m, img, &h, &so, &id), TR_OK);
	assert_int_equal(tr_machine_run(m, 100000, &res), TR_OK);
	assert_int_equal(tr_machine_reap_closed_sessions(m, sum, 4, &n), TR_OK);
	assert_int_equal(n, 1);
	assert_false(sum[0].ok);
	assert_int_equal(sum[0].fault.kind, TR_FAULT_INVOKE);
	assert_int_equal(sum[0].fault.role, (uint32_t)tr_image_role_index(img, "A"));
	char why[256];
	assert_true(tr_synth_describe_bad(&s, why, sizeof why));
	tr_machine_free(m);
	tr_image_free(img);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formulas),
		cmocka_unit_test(test_pingpong_rules),
		cmocka_unit_test(test_ring_rules),
		cmocka_unit_test(test_fanout_and_twobuyer_rules),
		cmocka_unit_test(test_generic_rules),
		cmocka_unit_test(test_wrong_payload_fails_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
