/* tests/lang/test_desugar.c: the desugaring pass (core/lang/desugar.c, its
 * numbered rules), payload forms, layout, and long protocols. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

#include "lang_helpers.h"

/* Parse text and compare role `role`'s local type. */
static void
expect_local(const char *text, const char *role, const char *want)
{
	tr_counting_allocator ca;
	tr_counting_allocator_init(&ca, NULL);
	tr_protocol *p;
	tr_error err;
	if (tr_protocol_parse(text, strlen(text), "t.tell", &ca.base, &p, &err)) {
		char buf[512];
		fail_msg("%s\n%s", text, tr_error_format(&err, buf, sizeof buf));
	}
	int r = role_index(p, role);
	assert_true(r >= 0);
	char *got = local_text(p, (unsigned)r, 0);
	if (strcmp(got, want) != 0)
		fail_msg("role %s:\n got  %s\n want %s", role, got, want);
	free(got);
	tr_protocol_free(p);
	assert_int_equal(ca.live_bytes, 0);
}

#define H3 "protocol P =\n  roles A, B, C\n"

/* Rule 3: ->* in declaration order, skipping the sender. */
static void
broadcast(void **state)
{
	(void)state;
	const char *t = H3 "  B ->* : Hello of Int\n";
	expect_local(t, "B", "A!Hello(Int).C!Hello(Int).end");
	expect_local(t, "A", "B?Hello(Int).end");
}

/* Rule 4: a branch whose first label differs gets its own choice message. */
static void
choice_not_fused(void **state)
{
	(void)state;
	const char *t = H3 "  choice A at\n    | Go =>\n      A -> B : Data of Int\n"
	                   "      B -> C : Fwd\n    | Stop =>\n      A -> B : Stop\n      B -> C : End\n";
	expect_local(t, "A", "B⊕{Go: B!Data(Int).end, Stop: end}");
	expect_local(t, "B", "A&{Go: A?Data(Int).C!Fwd.end, Stop: C!End.end}");
	expect_local(t, "C", "B&{End: end, Fwd: end}");
}

/* Rule 1: what follows a choice follows every branch. */
static void
sequence_after_choice(void **state)
{
	(void)state;
	const char *t = H3 "  choice A at\n    | L =>\n      A -> B : L\n    | R =>\n      A -> B : R\n"
	                   "  B -> C : After\n  C -> A : Done\n";
	expect_local(t, "B", "A&{L: C!After.end, R: C!After.end}");
	expect_local(t, "C", "B?After.A!Done.end");
}

/* Rule 5: what follows a rec continues its exits. A bystander of the loop
 * that only acts after it cannot be projected (standard projection: X does
 * not merge with a receive), as in the origin. */
static void
sequence_after_rec(void **state)
{
	(void)state;
	const char *t = H3 "  rec X\n    choice A at\n      | More =>\n        A -> B : More\n"
	                   "        B -> C : More\n        continue X\n      | Enough =>\n"
	                   "        A -> B : Enough\n  B -> C : Result\n  C -> A : Ack\n";
	expect_local(t, "A", "μX.B⊕{More: X, Enough: C?Ack.end}");
	expect_local(t, "C", "μX.B&{More: X, Result: A!Ack.end}");
	const char *bad = H3 "  rec X\n    choice A at\n      | More =>\n        A -> B : More\n"
	                     "        continue X\n      | Enough =>\n        A -> B : Enough\n"
	                     "  B -> C : Result\n";
	tr_protocol *p;
	tr_error err;
	assert_int_equal(tr_protocol_parse(bad, strlen(bad), "t.tell", NULL, &p, &err),
	                 TR_E_PROJECTION);
	assert_int_equal(err.line, 4);
	assert_int_equal(err.col, 5);
	assert_non_null(strstr(err.msg, "role C is not projectable"));
}

/* Rule 6: loop forever; rule 7 with nested loops gets fresh names. */
static void
loops(void **state)
{
	(void)state;
	expect_local("protocol P =\n  roles A, B\n  loop forever\n    A -> B : Tick\n", "B",
	             "μForever.A?Tick.Forever");
	const char *t = "protocol P =\n  roles A, B\n  loop decide by A\n    A -> B : Round\n"
	                "    loop decide by B\n      B -> A : Step of Int\n  A -> B : Bye\n";
	expect_local(t, "A", "μRoleDecidesLoop.B⊕{Round: μRoleDecidesLoop2.B&{Step(Int): "
	                     "RoleDecidesLoop2, Done: RoleDecidesLoop}, Done: B!Bye.end}");
}

/* Rule 8: repeat unrolls; repeat 0 is nothing. */
static void
repeat(void **state)
{
	(void)state;
	expect_local("protocol P =\n  roles A, B\n  loop repeat 3\n    A -> B : Ping\n    B -> A : Pong\n",
	             "A", "B!Ping.B?Pong.B!Ping.B?Pong.B!Ping.B?Pong.end");
	expect_local("protocol P =\n  roles A, B\n  loop repeat 0\n    A -> B : Ping\n  A -> B : Last\n",
	             "B", "A?Last.end");
}

/* Rule 9: calls inline, nest, and keep their own rec scopes. */
static void
calls(void **state)
{
	(void)state;
	const char *t = "protocol Main =\n  roles A, B, C\n  call Handshake\n  A -> C : Done\nwhere\n"
	                "  protocol Handshake =\n    A -> B : Hello\n    call Reply\n"
	                "  protocol Reply =\n    B -> A : Hi\n";
	expect_local(t, "A", "B!Hello.B?Hi.C!Done.end");
	expect_local(t, "B", "A?Hello.A!Hi.end");
}

/* Payload forms, sender records, continuation lines, comments. */
static void
payloads_and_layout(void **state)
{
	(void)state;
	const char *t = "-- header comment\nprotocol P =   -- trailing\n  roles A, B\n"
	                "  A -> B : M1\n  A -> B : M2 of api.Request\n  A -> B : M3(Int)\n"
	                "  A -> B : M4(x : Int, ok : Bool)\n  A -> B : M5 { data : String, count : Int }\n"
	                "  A -> B : M6()\n  A -> B : M7 { only : Nat }\n"
	                "  A { priority : high, tags : [1, 2] }\n    -> B : M8\n"
	                "  A\n    -> B : M9 of String\n";
	expect_local(t, "B", "A?M1.A?M2(api.Request).A?M3(Int).A?M4(x : Int, ok : Bool)."
	                     "A?M5(data : String, count : Int).A?M6.A?M7(Nat).A?M8.A?M9(String).end");
}

/* A rec the role is not part of collapses to end (origin's is_var_guarded). */
static void
rec_collapse(void **state)
{
	(void)state;
	const char *t = H3 "  A -> C : Start\n  rec X\n    A -> B : Ping\n    continue X\n";
	expect_local(t, "C", "A?Start.end");
	expect_local(t, "B", "μX.A?Ping.X");
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 10,000 lines: straight, and 3,000 sequential choices (a shared DAG whose
 * bystander C must merge at every one): no deep recursion, fast. */
static void
long_protocols(void **state)
{
	(void)state;
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap);
	n += (size_t)snprintf(b + n, cap - n, H3);
	for (int i = 0; i < 10000; i++)
		n += (size_t)snprintf(b + n, cap - n, "  %s -> %s : M%d of Int\n", i % 2 ? "A" : "B",
		                      i % 3 ? "C" : (i % 2 ? "B" : "A"), i % 7);
	tr_protocol *p;
	tr_error err;
	double t0 = now();
	tr_status st = tr_protocol_parse(b, n, "long.tell", NULL, &p, &err);
	double dt = now() - t0;
	if (st) {
		char buf[512];
		fail_msg("%s", tr_error_format(&err, buf, sizeof buf));
	}
	tr_protocol_free(p);
	assert_true(dt < 1.0);

	n = 0;
	n += (size_t)snprintf(b + n, cap - n, H3);
	for (int i = 0; i < 3000; i++)
		n += (size_t)snprintf(b + n, cap - n,
		                      "  choice A at\n    | L%d =>\n      A -> B : L%d\n    | R%d =>\n"
		                      "      A -> B : R%d\n",
		                      i, i, i, i);
	n += (size_t)snprintf(b + n, cap - n, "  B -> C : Fin\n");
	t0 = now();
	st = tr_protocol_parse(b, n, "choices.tell", NULL, &p, &err);
	dt = now() - t0;
	if (st) {
		char buf[512];
		fail_msg("%s", tr_error_format(&err, buf, sizeof buf));
	}
	char *c = local_text(p, 2, 0);
	assert_string_equal(c, "B?Fin.end");
	free(c);
	tr_protocol_free(p);
	assert_true(dt < 1.0);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(broadcast),
		cmocka_unit_test(choice_not_fused),
		cmocka_unit_test(sequence_after_choice),
		cmocka_unit_test(sequence_after_rec),
		cmocka_unit_test(loops),
		cmocka_unit_test(repeat),
		cmocka_unit_test(calls),
		cmocka_unit_test(payloads_and_layout),
		cmocka_unit_test(rec_collapse),
		cmocka_unit_test(long_protocols),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
