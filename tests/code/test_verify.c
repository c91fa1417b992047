/* tests/code/test_verify.c: hand-made images whose bytecode disagrees with
 * their local type (issue 3 item 5), and structural rules. Each starts from
 * a correct compiled image, breaks one thing, and asserts the verifier's
 * status, role, pc and reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "code/image_internal.h"
#include "handmade.h"

static tr_image *
build(tr_protocol *(*mk)(void))
{
	tr_protocol *p = mk();
	tr_image *img = NULL;
	tr_error err;
	assert_int_equal(tr_image_compile(p, NULL, &img, &err), TR_OK);
	hm_free(p);
	return img;
}

static void
expect(tr_image *img, tr_status want, uint32_t role, uint32_t pc, const char *reason)
{
	tr_error err;
	tr_error_clear(&err);
	tr_status st = tr_image_verify(img, &err);
	if (st != want ||
	    (want != TR_OK && (!strstr(err.msg, reason) || err.role != role || err.pc != pc)))
		fprintf(stderr, "got %s role %u pc %u: %s (want role %u pc %u: %s)\n",
		        tr_status_name(st), err.role, err.pc, err.msg, role, pc, reason ? reason : "");
	assert_int_equal(st, want);
	if (want != TR_OK) {
		assert_int_equal(err.role, role);
		assert_int_equal(err.pc, pc);
		assert_non_null(strstr(err.msg, reason));
	}
	tr_image_free(img);
}

/* Replace role r's code (the image owns the copy). */
static void
set_code(tr_image *img, uint32_t r, const tr_insn *code, uint32_t n)
{
	tr_role_code *rc = &img->roles[r];
	tr_free(img->a, rc->code, (size_t)rc->ninsn * sizeof(tr_insn));
	rc->code = tr_calloc(img->a, n, sizeof(tr_insn));
	assert_non_null(rc->code);
	memcpy(rc->code, code, (size_t)n * sizeof(tr_insn));
	rc->ninsn = n;
}

static uint32_t
sid(const tr_image *img, const char *s)
{
	int id = tr_image_label_id(img, s);
	assert_true(id >= 0);
	return (uint32_t)id;
}

/* More strings than label ids may name (the machine packs a label id in
 * 24 bits) is refused before any string is read: the count alone is
 * raised, and put back before the image is freed. */
static void
test_too_many_strings(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	uint32_t n = img->strs.n;
	img->strs.n = TR_MAX_STRINGS + 1;
	tr_error err;
	tr_error_clear(&err);
	assert_int_not_equal(tr_image_verify(img, &err), TR_OK);
	assert_non_null(strstr(err.msg, "strings, at most"));
	img->strs.n = n; /* the same image with its own count passes */
	tr_error_clear(&err);
	assert_int_equal(tr_image_verify(img, &err), TR_OK);
	tr_image_free(img);
}

/* Pingpong A is: 0 OFFER A->B {Next → 1, Stop → 4}; 1 SEND Ping(Int);
 * 2 RECEIVE Pong(Int); 3 JUMP 0; 4 HALT. B mirrors it. */

static void
test_good_images(void **state)
{
	(void)state;
	expect(build(hm_pingpong), TR_OK, 0, 0, NULL);
	expect(build(hm_three), TR_OK, 0, 0, NULL);
	/* silent steps are transparent: YIELD, SET, INVOKE, MOVE before the
	 * OFFER, and the loop back through them */
	tr_image *img = build(hm_pingpong);
	tr_insn code[9];
	memset(code, 0, sizeof code);
	code[0].op = TR_OP_YIELD;
	code[1].op = TR_OP_SET;
	code[1].a = 42;
	code[2].op = TR_OP_INVOKE;
	code[2].a = sid(img, "Ping");
	code[3].op = TR_OP_MOVE;
	code[4] = img->roles[0].code[0];
	img->tentries[img->tables[0].first].target = 5;
	img->tentries[img->tables[0].first + 1].target = 8;
	code[5] = img->roles[0].code[1];
	code[6] = img->roles[0].code[2];
	code[7].op = TR_OP_JUMP;
	code[7].a = 0;
	code[8].op = TR_OP_HALT;
	set_code(img, 0, code, 9);
	expect(img, TR_OK, 0, 0, NULL);
}

static void
test_wrong_label(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	img->roles[0].code[1].a = sid(img, "Pong");
	expect(img, TR_E_VERIFY, 0, 1, "wrong label: expected SEND Ping(Int) to B, found SEND Pong(Int)");
}

static void
test_wrong_peer(void **state)
{
	(void)state;
	tr_image *img = build(hm_three);
	/* A: 0 SEND A->B x; 1 SEND A->C y; 2 HALT. Send x to C instead. */
	img->roles[0].code[0].edge = img->roles[0].code[1].edge;
	expect(img, TR_E_VERIFY, 0, 0, "wrong peer: expected SEND x(Int) to B, found SEND x(Int) on A->C");
}

static void
test_wrong_sort(void **state)
{
	(void)state;
	tr_image *img = build(hm_three);
	/* C: 0 RECEIVE A->C y(Int); 1 SEND C->B z(String); make z an Int */
	img->roles[2].code[1].b = img->roles[2].code[0].b;
	expect(img, TR_E_VERIFY, 2, 1, "wrong sort: expected SEND z(String) to B, found SEND z(Int)");
}

static void
test_send_for_receive(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	/* B pc 1 must RECEIVE Ping from A; make it a SEND on B->A */
	tr_insn *in = &img->roles[1].code[1];
	in->op = TR_OP_SEND;
	in->edge = img->roles[1].code[2].edge;
	expect(img, TR_E_VERIFY, 1, 1, "expected RECEIVE Ping(Int) from A, found SEND Ping(Int) on B->A");
}

static void
test_missing_branch(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	img->tables[0].n = 1;
	expect(img, TR_E_VERIFY, 0, 0, "table 0: missing branch Stop");
}

static void
test_extra_label(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	/* table 0 becomes {Next, Stop, Ping}, appended after the others */
	uint32_t n = img->ntentries;
	tr_tentry *te = tr_realloc(img->a, img->tentries, n * sizeof *te, (n + 3) * sizeof *te);
	assert_non_null(te);
	img->tentries = te;
	img->ntentries = n + 3;
	te[n] = te[img->tables[0].first];
	te[n + 1] = te[img->tables[0].first + 1];
	te[n + 2] = te[n + 1];
	te[n + 2].label = sid(img, "Ping");
	img->tables[0].first = n;
	img->tables[0].n = 3;
	expect(img, TR_E_VERIFY, 0, 0, "table 0: extra label Ping");
}

static void
test_table_order(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	tr_tentry *te = &img->tentries[img->tables[0].first];
	tr_tentry t = te[0];
	te[0] = te[1];
	te[1] = t;
	expect(img, TR_E_VERIFY, 0, 0, "table 0 entry 0: expected label Next, found Stop");
}

static void
test_jump_wrong_head(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	img->roles[0].code[3].a = 1; /* loop to the SEND, skipping the choice */
	expect(img, TR_E_VERIFY, 0, 1, "expected OFFER to B of {Next, Stop}, found SEND Ping(Int) on A->B");
}

static void
test_halt_too_early(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	memset(&img->roles[0].code[2], 0, sizeof(tr_insn));
	img->roles[0].code[2].op = TR_OP_HALT;
	expect(img, TR_E_VERIFY, 0, 2, "role halts too early: expected RECEIVE Pong(Int) from B, found HALT");
}

static void
test_comm_after_end(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	/* Stop branch of B jumps back into the loop body instead of halting */
	memset(&img->roles[1].code[4], 0, sizeof(tr_insn));
	img->roles[1].code[4].op = TR_OP_JUMP;
	img->roles[1].code[4].a = 1;
	expect(img, TR_E_VERIFY, 1, 1, "expected HALT (end), found RECEIVE Ping(Int) on A->B");
}

static void
test_reg_out_of_range(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	img->roles[0].code[1].reg = 1;
	expect(img, TR_E_VERIFY, 0, 1, "SEND: register r1 out of range (role has 1)");
	img = build(hm_pingpong);
	img->roles[0].code[0].reg = 3; /* OFFER of Unit labels names a register */
	expect(img, TR_E_VERIFY, 0, 0, "OFFER carries no payload but names register r3");
	img = build(hm_pingpong);
	img->roles[0].nregs = 0;
	expect(img, TR_E_VERIFY, 0, 1, "register r0 out of range (role has 0)");
}

static void
test_silent_loop(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	img->roles[0].code[3].a = 3; /* JUMP to itself */
	expect(img, TR_E_VERIFY, 0, 3, "silent loop");
	/* two JUMPs chasing each other behind a YIELD */
	img = build(hm_pingpong);
	tr_insn code[7];
	memcpy(code, img->roles[0].code, 5 * sizeof(tr_insn));
	code[3].a = 5;
	memset(&code[5], 0, 2 * sizeof(tr_insn));
	code[5].op = TR_OP_YIELD;
	code[6].op = TR_OP_JUMP;
	code[6].a = 3;
	set_code(img, 0, code, 7);
	expect(img, TR_E_VERIFY, 0, 3, "silent loop");
}

static void
test_structure(void **state)
{
	(void)state;
	tr_image *img = build(hm_pingpong);
	img->roles[0].code[1].op = 200;
	expect(img, TR_E_VERIFY, 0, 1, "unknown opcode 200");

	img = build(hm_pingpong);
	img->roles[0].code[1].edge = 1; /* B->A: does not leave A */
	expect(img, TR_E_VERIFY, 0, 1, "does not leave role A");

	img = build(hm_pingpong);
	img->roles[1].code[1].edge = 1; /* RECEIVE on B->A: does not enter B */
	expect(img, TR_E_VERIFY, 1, 1, "does not enter role B");

	img = build(hm_pingpong);
	img->roles[0].code[1].edge = 7;
	expect(img, TR_E_VERIFY, 0, 1, "edge 7 out of range");

	img = build(hm_pingpong);
	img->roles[0].code[3].a = 5;
	expect(img, TR_E_VERIFY, 0, 3, "JUMP to pc 5, past the end");

	img = build(hm_pingpong);
	img->tentries[img->tables[0].first + 1].target = 9;
	expect(img, TR_E_VERIFY, 0, 0, "jumps to pc 9, past the end");

	img = build(hm_pingpong);
	img->roles[0].code[1].a = 100000;
	expect(img, TR_E_VERIFY, 0, 1, "label 100000 out of range");

	img = build(hm_pingpong);
	img->roles[0].code[4].op = TR_OP_YIELD;
	expect(img, TR_E_VERIFY, 0, 4, "falls through past the last instruction");

	img = build(hm_pingpong);
	img->roles[0].code[0].op = TR_OP_CHOOSE; /* CHOOSE on A->B does not enter A */
	expect(img, TR_E_VERIFY, 0, 0, "does not enter role A");

	img = build(hm_pingpong);
	img->roles[0].nregs = TR_MAX_REGS + 1;
	expect(img, TR_E_VERIFY, 0, TR_NOWHERE, "registers, at most");

	img = build(hm_pingpong);
	img->tables[0].n = 0;
	expect(img, TR_E_VERIFY, TR_NOWHERE, TR_NOWHERE, "table 0");

	img = build(hm_pingpong);
	img->tentries[img->tables[0].first + 1].label = img->tentries[img->tables[0].first].label;
	expect(img, TR_E_VERIFY, TR_NOWHERE, TR_NOWHERE, "label Next appears twice");

	img = build(hm_three);
	tr_edge t = img->edges[0];
	img->edges[0] = img->edges[1];
	img->edges[1] = t;
	expect(img, TR_E_VERIFY, TR_NOWHERE, TR_NOWHERE, "not sorted");
}

static void
test_bad_local_types(void **state)
{
	(void)state;
	/* unguarded: μX.X */
	tr_image *img = build(hm_pingpong);
	tr_lnode *root = tr_lnode_at(&img->lt, img->roles[0].ltype);
	assert_int_equal(root->kind, TR_L_REC);
	uint32_t var = UINT32_MAX;
	for (uint32_t i = 0; i < img->lt.nodes.len; i++)
		if (tr_lnode_at(&img->lt, i)->kind == TR_L_VAR && tr_lnode_at(&img->lt, i)->body == img->roles[0].ltype)
			var = i;
	assert_true(var != UINT32_MAX);
	root->body = var;
	expect(img, TR_E_VERIFY, TR_NOWHERE, TR_NOWHERE, "unguarded recursion");

	/* a cycle that does not pass a variable */
	img = build(hm_three);
	tr_lnode *n0 = tr_lnode_at(&img->lt, img->roles[0].ltype);
	tr_lbranch *b = tr_lbranch_at(&img->lt, n0->br);
	tr_lnode *n1 = tr_lnode_at(&img->lt, b->cont);
	tr_lbranch_at(&img->lt, n1->br)->cont = img->roles[0].ltype;
	expect(img, TR_E_VERIFY, TR_NOWHERE, TR_NOWHERE, "cycle that does not pass a rec variable");

	/* a variable bound to a non-rec node */
	img = build(hm_pingpong);
	tr_lnode_at(&img->lt, var)->body = tr_lnode_at(&img->lt, img->roles[0].ltype)->body;
	expect(img, TR_E_VERIFY, TR_NOWHERE, TR_NOWHERE, "not bound to a rec node");

	/* role root out of range */
	img = build(hm_pingpong);
	img->roles[1].ltype = 100000;
	expect(img, TR_E_VERIFY, 1, TR_NOWHERE, "local type root 100000 out of range");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_images),
		cmocka_unit_test(test_too_many_strings),
		cmocka_unit_test(test_wrong_label),
		cmocka_unit_test(test_wrong_peer),
		cmocka_unit_test(test_wrong_sort),
		cmocka_unit_test(test_send_for_receive),
		cmocka_unit_test(test_missing_branch),
		cmocka_unit_test(test_extra_label),
		cmocka_unit_test(test_table_order),
		cmocka_unit_test(test_jump_wrong_head),
		cmocka_unit_test(test_halt_too_early),
		cmocka_unit_test(test_comm_after_end),
		cmocka_unit_test(test_reg_out_of_range),
		cmocka_unit_test(test_silent_loop),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_bad_local_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
