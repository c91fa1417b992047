/* tests/machine/test_buffers.c: an edge's FIFO (tr_edgebuf) keeps its
 * first one or two messages inline, a pair only when one of them is Unit,
 * and the rest in the machine's pool. These tests drive every transition
 * between the two (pairs in both orders, two payloads, bursts past two,
 * draining and refilling, labels too large to be kept inline, host
 * messages) under many interleavings, and check on every edge that the
 * messages received are the messages sent, in order, value for value. */
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

/* Per round: every pairing of Unit (U*) and payload (P*) messages in a
 * row on A -> B, then a reply, so that B's edge to A is used too. */
static const char *burst =
	"protocol Burst =\n"
	"  roles A, B\n"
	"  rec Loop\n"
	"    choice A at\n"
	"      | Go =>\n"
	"        A -> B : Go\n"
	"        A -> B : P1 of Int\n"
	"        A -> B : P2 of Int\n"
	"        A -> B : U1\n"
	"        A -> B : U2\n"
	"        A -> B : P3 of Int\n"
	"        A -> B : U3\n"
	"        A -> B : P4 of Int\n"
	"        A -> B : P5 of Int\n"
	"        B -> A : R1 of Int\n"
	"        B -> A : U4\n"
	"        continue Loop\n"
	"      | Stop =>\n"
	"        A -> B : Stop\n";

#define ROUNDS 6

/* Per role: the payloads it sent and received, counted up; a received
 * payload must be the sender's next count (one sender per receiver). */
typedef struct role_state {
	int64_t rounds_left;
	uint64_t sent, received;
} role_state;

static tr_status
b_send(void *ctx, const tr_effect *e, tr_value *out)
{
	role_state *r = e->role_state;
	(void)ctx;
	out->kind = e->sort_kind;
	/* large and distinct, so that a value read from the wrong place shows */
	out->bits = 0x5a5a000000000000ull + (uint64_t)e->role * 1000000u + r->sent++;
	return TR_OK;
}

static tr_status
b_recv(void *ctx, const tr_effect *e, tr_value v)
{
	role_state *r = e->role_state;
	(void)ctx;
	uint64_t want = 0x5a5a000000000000ull + (uint64_t)e->peer * 1000000u + r->received++;
	return v.kind == TR_VAL_INT && v.bits == want ? TR_OK : TR_E_HANDLER;
}

static tr_status
b_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	role_state *r = e->role_state;
	(void)ctx, (void)labels;
	*pick = r->rounds_left-- > 0 ? 0 : n - 1;
	return TR_OK;
}

/* Every SENT of the trace is RECEIVED or CHOSE on its edge, in order, with
 * the same label and value (a Unit message's value is 0 on both sides). */
static void
check_fifo(const tr_trace *t)
{
	const tr_event *ev = tr_trace_events(t);
	size_t n = tr_trace_count(t);
	size_t nsent = 0, nrecv = 0;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].kind != TR_EV_SENT && ev[i].kind != TR_EV_OFFERED)
			continue;
		nsent++;
		/* the k-th send on (session, role -> peer) is the k-th receipt */
		size_t k = 0;
		for (size_t j = 0; j < i; j++)
			k += (ev[j].kind == TR_EV_SENT || ev[j].kind == TR_EV_OFFERED) &&
			     ev[j].session == ev[i].session && ev[j].role == ev[i].role &&
			     ev[j].peer == ev[i].peer;
		size_t j = 0;
		for (; j < n; j++) {
			if ((ev[j].kind == TR_EV_RECEIVED || ev[j].kind == TR_EV_CHOSE) &&
			    ev[j].session == ev[i].session && ev[j].role == ev[i].peer &&
			    ev[j].peer == ev[i].role && k-- == 0)
				break;
		}
		assert_true(j < n);
		assert_int_equal(ev[j].label, ev[i].label);
		assert_int_equal(ev[j].value, ev[i].value);
		if (ev[i].aux == TR_VAL_UNIT)
			assert_int_equal(ev[j].value, 0);
	}
	for (size_t i = 0; i < n; i++)
		nrecv += ev[i].kind == TR_EV_RECEIVED || ev[i].kind == TR_EV_CHOSE;
	assert_int_equal(nsent, nrecv);
}

/* Open a session of img on m under the recording handler, its two role
 * states at rs. */
static void
open_two(tr_machine *m, const tr_image *img, role_state *rs)
{
	tr_handler h = {b_send, b_recv, b_choose, NULL, NULL, NULL};
	void *ptrs[2] = {&rs[0], &rs[1]};
	tr_session_opts o = {0};
	o.role_state = ptrs;
	o.full_policy = -1;
	tr_session_id id;
	assert_int_equal(tr_machine_open_session(m, img, &h, &o, &id), TR_OK);
}

/* Run m until every session is done. */
static void
run_all(tr_machine *m)
{
	tr_run_result res;
	assert_int_equal(tr_machine_run(m, 1u << 24, &res), TR_OK);
	assert_int_equal(res, TR_RUN_ALL_DONE);
}

/* Run `sessions` Burst sessions on one machine to the end; every one must
 * complete with every payload checked (b_recv), and with a trace, every
 * edge must deliver what was sent, in order. */
static void
run_burst(tr_policy policy, uint64_t seed, uint32_t slice, uint32_t capacity, bool trace,
          unsigned sessions)
{
	tr_image *img = mt_image_text(burst);
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.policy = policy;
	cfg.seed = seed;
	cfg.slice = slice;
	cfg.buffer_capacity = capacity;
	if (trace)
		cfg.trace_mode = TR_TRACE_ALL;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	role_state *rs = calloc(2 * sessions, sizeof *rs);
	assert_non_null(rs);
	for (unsigned i = 0; i < sessions; i++) {
		rs[2 * i].rounds_left = ROUNDS;
		open_two(m, img, &rs[2 * i]);
	}
	run_all(m);
	tr_session_summary sum[8];
	size_t got = 0, n;
	do {
		assert_int_equal(tr_machine_reap_closed_sessions(m, sum, 8, &n), TR_OK);
		for (size_t k = 0; k < n; k++) {
			assert_true(sum[k].ok);
			/* per round 9 + 2 messages (Go counted), then Stop */
			assert_int_equal(sum[k].messages, 11 * ROUNDS + 1);
		}
		got += n;
	} while (n);
	assert_int_equal(got, sessions);
	for (unsigned i = 0; i < sessions; i++) {
		assert_int_equal(rs[2 * i + 1].received, 5 * ROUNDS); /* B: P1..P5 */
		assert_int_equal(rs[2 * i].received, ROUNDS);        /* A: R1 */
	}
	tr_machine_stats st;
	tr_machine_stats_get(m, &st);
	assert_int_equal(st.in_flight, 0);
	if (trace) {
		tr_trace *t = NULL;
		assert_int_equal(tr_machine_trace(m, &t), TR_OK);
		check_fifo(t);
		tr_trace_free(t);
	}
	free(rs);
	tr_machine_free(m);
	tr_image_free(img);
}

/* Slices of 1 to 5 instructions stop A after each send, or after a few,
 * so B takes each message with 0, 1, 2 or more behind it; capacities of 1
 * to 3 block A with the FIFO full in every state. */
static void
test_burst_interleavings(void **state)
{
	(void)state;
	static const uint32_t slices[] = {1, 2, 3, 4, 5, 7, 64};
	static const uint32_t caps[] = {1, 2, 3, 4, 64};
	for (size_t i = 0; i < sizeof slices / sizeof slices[0]; i++)
		for (size_t j = 0; j < sizeof caps / sizeof caps[0]; j++)
			run_burst(TR_POLICY_COOPERATIVE, 0, slices[i], caps[j], true, 3);
	for (uint64_t seed = 1; seed <= 20; seed++)
		run_burst(TR_POLICY_SEEDED, seed, 1 + (uint32_t)(seed % 4), 2 + (uint32_t)(seed % 3),
		          true, 4);
	run_burst(TR_POLICY_ROUND_ROBIN, 0, 2, 3, true, 5);
	/* many sessions at once: blocks recycled, edges reused */
	run_burst(TR_POLICY_COOPERATIVE, 0, 64, 64, false, 2000);
}

/* Labels whose ids do not fit an inline message go to the pool, in the
 * same FIFO as the inline ones: a protocol with more than 8192 strings
 * sends small and large label ids alternately on one edge. */
static void
test_large_label_ids(void **state)
{
	(void)state;
	enum { NMSG = 8400 };
	size_t cap = 64 + (size_t)NMSG * 40;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t len = (size_t)snprintf(text, cap, "protocol Many =\n  roles A, B\n");
	for (int i = 0; i < NMSG; i++) {
		/* every fifth has a payload; the last ones repeat early labels */
		int l = i < NMSG - 200 ? i : i - (NMSG - 200);
		len += (size_t)snprintf(text + len, cap - len, "  A -> B : L%d%s\n", l,
		                        i % 5 == 0 ? " of Int" : "");
		if (i % 97 == 0)
			len += (size_t)snprintf(text + len, cap - len, "  B -> A : Ack%d\n", i);
	}
	(void)len;
	tr_image *img = mt_image_text(text);
	free(text);
	assert_true(tr_image_label_id(img, "L8199") > 8191);
	static const uint32_t slices[] = {1, 3, 64};
	for (size_t s = 0; s < 3; s++) {
		tr_machine_config cfg;
		tr_machine_config_default(&cfg);
		cfg.slice = slices[s];
		cfg.trace_mode = TR_TRACE_ALL;
		tr_machine *m = NULL;
		assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
		role_state rs[2] = {{0}};
		open_two(m, img, rs);
		run_all(m);
		assert_true(mt_reap_one(m).ok);
		assert_int_equal(rs[1].received, NMSG / 5);
		tr_trace *t = NULL;
		assert_int_equal(tr_machine_trace(m, &t), TR_OK);
		/* check_fifo is quadratic: check the edge A -> B by a walk */
		const tr_event *ev = tr_trace_events(t);
		size_t cnt = tr_trace_count(t), r = 0, sent = 0;
		for (size_t i = 0; i < cnt; i++) {
			if (ev[i].kind != TR_EV_SENT || ev[i].role != 0)
				continue;
			sent++;
			while (r < cnt && !(ev[r].kind == TR_EV_RECEIVED && ev[r].role == 1))
				r++;
			assert_true(r < cnt);
			assert_int_equal(ev[r].label, ev[i].label);
			assert_int_equal(ev[r].value, ev[i].value);
			r++;
		}
		assert_int_equal(sent, NMSG);
		tr_trace_free(t);
		tr_machine_free(m);
	}
	tr_image_free(img);
}

static const char *oneway =
	"protocol OneWay =\n"
	"  roles A, B\n"
	"  A -> B : M1\n"
	"  A -> B : M2 of Int\n"
	"  A -> B : M3\n";

/* The host plays A: a Unit message it posts with a value other than 0
 * carries nothing (its value is 0 when received, traced so), a payload
 * behind it keeps its own, and the order holds. */
static void
test_host_unit_value(void **state)
{
	(void)state;
	tr_image *img = mt_image_text(oneway);
	tr_machine *m = mt_new_machine(true);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	tr_session_opts o = {0};
	o.roles_here = 1u << 1;
	tr_session_id id = mt_open(m, img, &h, 0, &o);
	uint32_t m1 = (uint32_t)tr_image_label_id(img, "M1");
	uint32_t m2 = (uint32_t)tr_image_label_id(img, "M2");
	uint32_t m3 = (uint32_t)tr_image_label_id(img, "M3");
	tr_value odd = {TR_VAL_UNIT, 99};
	assert_int_equal(tr_machine_inject(m, id, 0, 1, m1, odd), TR_OK);
	assert_int_equal(tr_machine_inject(m, id, 0, 1, m2, tr_value_int(7)), TR_OK);
	assert_int_equal(tr_machine_inject(m, id, 0, 1, m3, odd), TR_OK);
	tr_run_result res;
	assert_int_equal(tr_machine_run(m, 100, &res), TR_OK);
	assert_int_equal(res, TR_RUN_ALL_DONE);
	tr_trace *t = NULL;
	assert_int_equal(tr_machine_trace(m, &t), TR_OK);
	const tr_event *ev = tr_trace_events(t);
	uint32_t want_label[3] = {m1, m2, m3};
	uint64_t want_value[3] = {0, 7, 0};
	size_t k = 0;
	for (size_t i = 0; i < tr_trace_count(t); i++) {
		if (ev[i].kind != TR_EV_RECEIVED)
			continue;
		assert_true(k < 3);
		assert_int_equal(ev[i].label, want_label[k]);
		assert_int_equal(ev[i].value, want_value[k]);
		k++;
	}
	assert_int_equal(k, 3);
	tr_trace_free(t);
	mt_finish_ok(m, img);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_interleavings),
		cmocka_unit_test(test_large_label_ids),
		cmocka_unit_test(test_host_unit_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
