/* tests/lang/test_project.c: projections of every example protocol against
 * local types written by hand (docs/DESIGN.md §2 notation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "lang_helpers.h"

typedef struct expect {
	const char *role, *local;
} expect;

static void
check_file(const char *name, const char *proto, const expect *e, unsigned n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", TR_EXAMPLES, name);
	tr_counting_allocator ca;
	tr_counting_allocator_init(&ca, NULL);
	tr_protocol *p = NULL;
	tr_error err;
	tr_status st = tr_protocol_parse_file(path, &ca.base, &p, &err);
	if (st) {
		char buf[512];
		fail_msg("%s", tr_error_format(&err, buf, sizeof buf));
	}
	assert_string_equal(tr_protocol_name(p), proto);
	assert_int_equal(tr_protocol_nroles(p), n);
	for (unsigned i = 0; i < n; i++) {
		assert_string_equal(tr_protocol_role_name(p, i), e[i].role);
		char *got = local_text(p, i, 0);
		assert_non_null(got);
		if (strcmp(got, e[i].local) != 0)
			fail_msg("%s role %s:\n got  %s\n want %s", name, e[i].role, got, e[i].local);
		free(got);
	}
	tr_protocol_free(p);
	assert_int_equal(ca.live_bytes, 0);
}

static void
pingpong(void **state)
{
	(void)state;
	static const expect e[] = {
		{"A", "μLoop.B⊕{Next: B!Ping(Int).B?Pong(Int).Loop, Stop: end}"},
		{"B", "μLoop.A&{Next: A?Ping(Int).A!Pong(Int).Loop, Stop: end}"},
	};
	check_file("pingpong.tell", "PingPong", e, 2);
}

static void
ring(void **state)
{
	(void)state;
	static const expect e[] = {
		{"P0", "μLoop.P1⊕{Next: P1!Tok(Int).P7?Tok(Int).Loop, Stop: end}"},
		{"P1", "μLoop.P0&{Next: P0?Tok(Int).P2!Next.P2!Tok(Int).Loop, Stop: P2!Stop.end}"},
		{"P2", "μLoop.P1&{Next: P1?Tok(Int).P3!Next.P3!Tok(Int).Loop, Stop: P3!Stop.end}"},
		{"P3", "μLoop.P2&{Next: P2?Tok(Int).P4!Next.P4!Tok(Int).Loop, Stop: P4!Stop.end}"},
		{"P4", "μLoop.P3&{Next: P3?Tok(Int).P5!Next.P5!Tok(Int).Loop, Stop: P5!Stop.end}"},
		{"P5", "μLoop.P4&{Next: P4?Tok(Int).P6!Next.P6!Tok(Int).Loop, Stop: P6!Stop.end}"},
		{"P6", "μLoop.P5&{Next: P5?Tok(Int).P7!Next.P7!Tok(Int).Loop, Stop: P7!Stop.end}"},
		{"P7", "μLoop.P6&{Next: P6?Tok(Int).P0!Tok(Int).Loop, Stop: end}"},
	};
	check_file("ring.tell", "Ring", e, 8);
}

static void
fanout(void **state)
{
	(void)state;
	static const expect e[] = {
		{"C", "μLoop.W1⊕{Next: W2!Next.W3!Next.W4!Next.W1!Req(Int).W2!Req(Int).W3!Req(Int)."
		      "W4!Req(Int).W1?Resp(Int).W2?Resp(Int).W3?Resp(Int).W4?Resp(Int).Loop, "
		      "Stop: W2!Stop.W3!Stop.W4!Stop.end}"},
		{"W1", "μLoop.C&{Next: C?Req(Int).C!Resp(Int).Loop, Stop: end}"},
		{"W2", "μLoop.C&{Next: C?Req(Int).C!Resp(Int).Loop, Stop: end}"},
		{"W3", "μLoop.C&{Next: C?Req(Int).C!Resp(Int).Loop, Stop: end}"},
		{"W4", "μLoop.C&{Next: C?Req(Int).C!Resp(Int).Loop, Stop: end}"},
	};
	check_file("fanout.tell", "Fanout", e, 5);
}

static void
twobuyer(void **state)
{
	(void)state;
	static const expect e[] = {
		{"B1", "μLoop.S⊕{Next: S!Title(Int).S?Quote(Int).B2!Share(Int).Loop, Stop: end}"},
		{"B2", "μLoop.S&{Next: S?Quote(Int).B1?Share(Int).S⊕{Accept: S!Addr(Int).S?Date(Int).Loop, "
		       "Reject: Loop}, Stop: end}"},
		{"S", "μLoop.B1&{Next: B1?Title(Int).B2!Next.B1!Quote(Int).B2!Quote(Int).B2&{Accept: "
		      "B2?Addr(Int).B2!Date(Int).Loop, Reject: Loop}, Stop: B2!Stop.end}"},
	};
	check_file("twobuyer.tell", "TwoBuyer", e, 3);
}

static void
classic_twobuyer(void **state)
{
	(void)state;
	static const expect e[] = {
		{"Buyer1", "Seller!Title(String).Seller?Quote(Int).Buyer2!Share(Int).end"},
		{"Buyer2", "Seller?Quote(Int).Buyer1?Share(Int).Seller⊕{Ok: Seller!Address(street : "
		           "String, city : String).Seller?Date(String).end, Quit: end}"},
		{"Seller", "Buyer1?Title(String).Buyer1!Quote(Int).Buyer2!Quote(Int).Buyer2&{Ok: "
		           "Buyer2?Address(street : String, city : String).Buyer2!Date(String).end, "
		           "Quit: end}"},
	};
	check_file("classic_twobuyer.tell", "ClassicTwoBuyer", e, 3);
}

/* loop decide by: fused first message, synthetic Done; the hotel merges the
 * loop body with what follows the loop (labels sorted, as the origin). */
static void
travel_agency(void **state)
{
	(void)state;
	static const expect e[] = {
		{"Customer", "μRoleDecidesLoop.Agency⊕{Query(String): Agency?Price(Int).RoleDecidesLoop, "
		             "Done: Agency⊕{Accept: Agency?Confirmation(Int).end, Reject: end}}"},
		{"Agency", "μRoleDecidesLoop.Customer&{Query(String): Hotel!Check(String).Hotel?Rate(Int)."
		           "Customer!Price(Int).RoleDecidesLoop, Done: Customer&{Accept: Hotel!Book(name : "
		           "String, nights : Int).Hotel?Confirmation(Int).Customer!Confirmation(Int).end, "
		           "Reject: Hotel!Cancel.end}}"},
		{"Hotel", "μRoleDecidesLoop.Agency&{Book(name : String, nights : Int): "
		          "Agency!Confirmation(Int).end, Cancel: end, Check(String): "
		          "Agency!Rate(Int).RoleDecidesLoop}"},
	};
	check_file("travel_agency.tell", "TravelAgency", e, 3);
}

/* ->* in declaration order, call/where inlined in both branches. */
static void
two_phase_commit(void **state)
{
	(void)state;
	static const expect e[] = {
		{"Coord", "P1!Prepare(Int).P2!Prepare(Int).P1?Vote(Bool).P2?Vote(Bool).P1⊕{Commit: "
		          "P2!Commit.P1?Ack.P2?Ack.end, Abort: P2!Abort.P1?Ack.P2?Ack.end}"},
		{"P1", "Coord?Prepare(Int).Coord!Vote(Bool).Coord&{Commit: Coord!Ack.end, Abort: "
		       "Coord!Ack.end}"},
		{"P2", "Coord?Prepare(Int).Coord!Vote(Bool).Coord&{Abort: Coord!Ack.end, Commit: "
		       "Coord!Ack.end}"},
	};
	check_file("two_phase_commit.tell", "TwoPhaseCommit", e, 3);
}

/* loop repeat 2 unrolled; App merges the two receives from User. */
static void
oauth_login(void **state)
{
	(void)state;
	static const expect e[] = {
		{"User", "App!Login.App?Redirect(api.Url).Auth!Credentials(user : String, password : "
		         "String).Auth&{Granted: Auth?Code(String).App!Code(String).App?Welcome(String).end, "
		         "Denied: App!Failed.end}"},
		{"App", "User?Login.User!Redirect(api.Url).User&{Code(String): Auth!Exchange(String)."
		        "Auth?Token(api.Token).Auth!Refresh(api.Token).Auth?Token(api.Token)."
		        "Auth!Refresh(api.Token).Auth?Token(api.Token).User!Welcome(String).end, Failed: end}"},
		{"Auth", "User?Credentials(user : String, password : String).User⊕{Granted: "
		         "User!Code(String).App?Exchange(String).App!Token(api.Token).App?Refresh(api.Token)."
		         "App!Token(api.Token).App?Refresh(api.Token).App!Token(api.Token).end, Denied: end}"},
	};
	check_file("oauth_login.tell", "OAuthLogin", e, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pingpong),         cmocka_unit_test(ring),
		cmocka_unit_test(fanout),           cmocka_unit_test(twobuyer),
		cmocka_unit_test(classic_twobuyer), cmocka_unit_test(travel_agency),
		cmocka_unit_test(two_phase_commit), cmocka_unit_test(oauth_login),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
