/* tests/machine/test_determinism.c: issue 4, done-when 2. For every example
 * protocol x every policy x 3 seeds, two runs give byte-identical observable
 * traces and a replay from the recorded effect trace gives the same bytes
 * again; a trace with one entry altered fails with TR_E_REPLAY_MISMATCH
 * naming that entry. The workers' driver (tr_machine_run_while_work) gives
 * the same bytes as tr_machine_run. */
#include <dirent.h>
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

#define NSESS 3
#define ROUNDS 3

typedef struct run_out {
	tr_trace *obs;
	tr_trace *eff;
} run_out;

/* Run NSESS sessions of img under policy/seed; replay from `replay` when
 * not NULL. Returns the status of the run. */
/* How run_once drives the machine: tr_machine_run, or the workers' loop
 * (tr_machine_run_while_work in small batches), which must give the same
 * trace round for round. */
static int use_while_work;

static tr_status
run_once(const tr_image *img, tr_policy policy, uint64_t seed, const tr_trace *replay,
         run_out *out, tr_error *err)
{
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.policy = policy;
	cfg.seed = seed;
	cfg.slice = 3; /* small slices interleave more */
	cfg.trace_mode = TR_TRACE_ALL;
	cfg.capture_effects = replay == NULL;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	mt_ctx ctx = {0};
	tr_handler h = mt_handler(&ctx);
	for (int i = 0; i < NSESS; i++) {
		tr_session_opts o = {0};
		o.priority = (uint32_t)(i % 2);
		o.progress_within = policy == TR_POLICY_PROGRESS_AWARE && i == 1 ? 100000 : 0;
		mt_open(m, img, &h, ROUNDS, &o);
	}
	tr_run_result rr;
	tr_status st;
	if (use_while_work && !replay) {
		uint32_t n, total = 0;
		tr_step_result last = TR_STEP_CONTINUE;
		do {
			st = tr_machine_run_while_work(m, 7, &n, &last);
			total += n;
		} while (st == TR_OK && n > 0 && last != TR_STEP_ALL_DONE && total < 1000000);
		rr = last == TR_STEP_ALL_DONE ? TR_RUN_ALL_DONE : TR_RUN_STUCK;
	} else {
		st = replay ? tr_machine_run_replay(m, replay, 1000000, &rr)
		            : tr_machine_run(m, 1000000, &rr);
	}
	if (st == TR_OK)
		assert_int_equal(rr, TR_RUN_ALL_DONE);
	if (err)
		*err = *tr_machine_last_error(m);
	out->obs = NULL;
	out->eff = NULL;
	if (st == TR_OK) {
		assert_int_equal(tr_machine_trace(m, &out->obs), TR_OK);
		if (!replay)
			assert_int_equal(tr_machine_effects(m, &out->eff), TR_OK);
	}
	tr_machine_free(m);
	mt_free_states();
	return st;
}

static void
assert_same_bytes(const tr_trace *a, const tr_trace *b)
{
	uint8_t *ba, *bb;
	size_t la, lb;
	assert_int_equal(tr_trace_save(a, NULL, &ba, &la), TR_OK);
	assert_int_equal(tr_trace_save(b, NULL, &bb, &lb), TR_OK);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
}

static void
check_protocol(const char *name)
{
	tr_image *img = mt_image_example(name);
	static const uint64_t seeds[3] = {1, 42, 0xDEADBEEF};
	for (int p = 0; p < TR_POLICY_COUNT_; p++) {
		for (int k = 0; k < 3; k++) {
			run_out a, b, r;
			assert_int_equal(run_once(img, (tr_policy)p, seeds[k], NULL, &a, NULL), TR_OK);
			assert_int_equal(run_once(img, (tr_policy)p, seeds[k], NULL, &b, NULL), TR_OK);
			assert_true(tr_trace_count(a.obs) > 0);
			assert_same_bytes(a.obs, b.obs);
			assert_same_bytes(a.eff, b.eff);
			assert_int_equal(run_once(img, (tr_policy)p, seeds[k], a.eff, &r, NULL), TR_OK);
			assert_same_bytes(a.obs, r.obs);
			run_out w;
			use_while_work = 1;
			assert_int_equal(run_once(img, (tr_policy)p, seeds[k], NULL, &w, NULL), TR_OK);
			use_while_work = 0;
			assert_same_bytes(a.obs, w.obs);
			assert_same_bytes(a.eff, w.eff);
			tr_trace_free(w.obs);
			tr_trace_free(w.eff);
			tr_trace_free(a.obs);
			tr_trace_free(a.eff);
			tr_trace_free(b.obs);
			tr_trace_free(b.eff);
			tr_trace_free(r.obs);
		}
	}
	tr_image_free(img);
}

static void
test_examples_all_policies(void **state)
{
	(void)state;
	DIR *d = opendir(TR_EXAMPLES);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".tell"))
			continue;
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)(len - 5), de->d_name);
		check_protocol(name);
		n++;
	}
	closedir(d);
	assert_true(n >= 8);
}

/* seeded policy: different seeds explore different interleavings */
static void
test_seeds_differ(void **state)
{
	(void)state;
	tr_image *img = mt_image_example("ring");
	run_out a, b;
	assert_int_equal(run_once(img, TR_POLICY_SEEDED, 1, NULL, &a, NULL), TR_OK);
	assert_int_equal(run_once(img, TR_POLICY_SEEDED, 2, NULL, &b, NULL), TR_OK);
	assert_false(tr_trace_equal(a.obs, b.obs));
	tr_trace_free(a.obs);
	tr_trace_free(a.eff);
	tr_trace_free(b.obs);
	tr_trace_free(b.eff);
	tr_image_free(img);
}

/* Alter one entry (several positions, several fields): the replay fails
 * with TR_E_REPLAY_MISMATCH naming exactly that entry. */
static void
test_altered_entry(void **state)
{
	(void)state;
	tr_image *img = mt_image_example("twobuyer");
	run_out a;
	assert_int_equal(run_once(img, TR_POLICY_COOPERATIVE, 1, NULL, &a, NULL), TR_OK);
	size_t n = tr_trace_count(a.eff);
	assert_true(n > 10);
	size_t picks[] = {0, n / 3, n / 2, n - 1};
	for (size_t k = 0; k < sizeof picks / sizeof picks[0]; k++) {
		for (int field = 0; field < 3; field++) {
			tr_event *ev = malloc(n * sizeof *ev);
			memcpy(ev, tr_trace_events(a.eff), n * sizeof *ev);
			size_t i = picks[k];
			if (field == 0)
				ev[i].role ^= 1;
			else if (field == 1)
				ev[i].session += 1000;
			else
				ev[i].tick += 1;
			tr_trace *bad = NULL;
			assert_int_equal(tr_trace_create(TR_TRACE_EFFECTS, ev, n, NULL, &bad), TR_OK);
			run_out r;
			tr_error err;
			assert_int_equal(run_once(img, TR_POLICY_COOPERATIVE, 1, bad, &r, &err),
			                 TR_E_REPLAY_MISMATCH);
			assert_int_equal(err.status, TR_E_REPLAY_MISMATCH);
			assert_int_equal(err.offset, i);
			tr_trace_free(bad);
			free(ev);
		}
	}
	/* a received value altered: named at that entry */
	const tr_event *orig = tr_trace_events(a.eff);
	for (size_t i = 0; i < n; i++) {
		if (orig[i].kind != TR_EV_EFF_RECV)
			continue;
		tr_event *ev = malloc(n * sizeof *ev);
		memcpy(ev, orig, n * sizeof *ev);
		ev[i].value += 1;
		tr_trace *bad = NULL;
		assert_int_equal(tr_trace_create(TR_TRACE_EFFECTS, ev, n, NULL, &bad), TR_OK);
		run_out r;
		tr_error err;
		assert_int_equal(run_once(img, TR_POLICY_COOPERATIVE, 1, bad, &r, &err),
		                 TR_E_REPLAY_MISMATCH);
		assert_int_equal(err.offset, i);
		tr_trace_free(bad);
		free(ev);
		break;
	}
	/* a truncated trace: named at its end */
	tr_trace *shortt = NULL;
	assert_int_equal(tr_trace_create(TR_TRACE_EFFECTS, tr_trace_events(a.eff), n / 2, NULL,
	                                 &shortt), TR_OK);
	run_out r;
	tr_error err;
	assert_int_equal(run_once(img, TR_POLICY_COOPERATIVE, 1, shortt, &r, &err),
	                 TR_E_REPLAY_MISMATCH);
	assert_int_equal(err.offset, n / 2);
	tr_trace_free(shortt);
	tr_trace_free(a.obs);
	tr_trace_free(a.eff);
	tr_image_free(img);
}

/* ---- the fused hand-off (tr_machine_run_while_work) ---- */

/* A handler that logs every call it gets, as the handler sees it (tick,
 * session, role, peer, label, value), around the mt handler: with tracing
 * off this log is what a host can observe of a run. */
typedef struct log_entry {
	uint64_t tick, session, value;
	uint32_t what, role, peer, label;
} log_entry;

typedef struct log_ctx {
	tr_handler inner;
	log_entry *e;
	size_t n, cap;
} log_ctx;

static void
log_call(log_ctx *l, uint32_t what, const tr_effect *e, uint64_t value)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->e = realloc(l->e, l->cap * sizeof *l->e);
		assert_non_null(l->e);
	}
	l->e[l->n++] = (log_entry){e->tick, e->session, value, what, e->role, e->peer, e->label};
}

static tr_status
log_send(void *ctx, const tr_effect *e, tr_value *out)
{
	log_ctx *l = ctx;
	tr_status st = l->inner.on_send(l->inner.ctx, e, out);
	log_call(l, 1, e, out->bits);
	return st;
}

static tr_status
log_recv(void *ctx, const tr_effect *e, tr_value v)
{
	log_ctx *l = ctx;
	log_call(l, 2, e, v.bits);
	return l->inner.on_recv ? l->inner.on_recv(l->inner.ctx, e, v) : TR_OK;
}

static tr_status
log_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	log_ctx *l = ctx;
	tr_status st = l->inner.on_choose(l->inner.ctx, e, labels, n, pick);
	log_call(l, 3, e, *pick);
	return st;
}

typedef struct fused_out {
	tr_trace *obs;
	log_ctx log;
	tr_machine_stats st;
} fused_out;

/* Run nsess sessions of img to the end: round by round with
 * tr_machine_step_round (batch 0: no fusion), or with
 * tr_machine_run_while_work in batches of `batch` rounds. */
static void
run_fused(const tr_image *img, tr_policy policy, uint32_t slice, int nsess, bool tracing,
          uint32_t batch, fused_out *out)
{
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	cfg.policy = policy;
	cfg.slice = slice;
	cfg.trace_mode = tracing ? TR_TRACE_ALL : TR_TRACE_OFF;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	mt_ctx ctx = {0};
	memset(out, 0, sizeof *out);
	out->log.inner = mt_handler(&ctx);
	tr_handler h = {log_send, log_recv, log_choose, NULL, NULL, &out->log};
	for (int i = 0; i < nsess; i++)
		mt_open(m, img, &h, ROUNDS + i, NULL);
	tr_step_result last = TR_STEP_CONTINUE;
	uint64_t total = 0;
	while (last != TR_STEP_ALL_DONE && last != TR_STEP_STUCK && total < 1000000) {
		uint32_t n = 1;
		if (batch)
			assert_int_equal(tr_machine_run_while_work(m, batch, &n, &last), TR_OK);
		else
			assert_int_equal(tr_machine_step_round(m, 1, &last, NULL), TR_OK);
		assert_true(n > 0);
		total += n;
	}
	assert_int_equal(last, TR_STEP_ALL_DONE);
	tr_machine_stats_get(m, &out->st);
	assert_int_equal(out->st.rounds, total);
	if (tracing)
		assert_int_equal(tr_machine_trace(m, &out->obs), TR_OK);
	tr_machine_free(m);
	mt_free_states();
}

/* Fusing hand-off rounds into one interpreter call changes nothing a host
 * can see: the same trace bytes (tracing on), the same handler calls at the
 * same ticks (tracing off), the same counters. For every example protocol,
 * both slice lengths, one and several sessions, a policy that hands off and
 * one that does not. */
static void
test_fused_same_rounds(void **state)
{
	(void)state;
	static const char *const names[] = {"pingpong", "ring", "fanout", "twobuyer",
	                                    "oauth_login", "two_phase_commit", "travel_agency"};
	static const uint32_t slices[] = {3, 64};
	static const uint32_t batches[] = {7, 100000};
	static const tr_policy pols[] = {TR_POLICY_COOPERATIVE, TR_POLICY_ROUND_ROBIN};
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		tr_image *img = mt_image_example(names[k]);
		for (size_t p = 0; p < 2; p++)
		for (size_t sl = 0; sl < 2; sl++)
		for (int nsess = 1; nsess <= 3; nsess += 2)
		for (int tracing = 0; tracing <= 1; tracing++) {
			fused_out a;
			run_fused(img, pols[p], slices[sl], nsess, tracing, 0, &a);
			assert_true(a.log.n > 0);
			for (size_t b = 0; b < 2; b++) {
				fused_out w;
				run_fused(img, pols[p], slices[sl], nsess, tracing, batches[b], &w);
				if (tracing)
					assert_same_bytes(a.obs, w.obs);
				assert_int_equal(a.log.n, w.log.n);
				assert_memory_equal(a.log.e, w.log.e, a.log.n * sizeof *a.log.e);
				assert_int_equal(a.st.tick, w.st.tick);
				assert_int_equal(a.st.rounds, w.st.rounds);
				assert_int_equal(a.st.instructions, w.st.instructions);
				assert_int_equal(a.st.messages_sent, w.st.messages_sent);
				assert_int_equal(a.st.messages_received, w.st.messages_received);
				assert_int_equal(a.st.coroutines_blocked, w.st.coroutines_blocked);
				tr_trace_free(w.obs);
				free(w.log.e);
			}
			tr_trace_free(a.obs);
			free(a.log.e);
		}
		tr_image_free(img);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_all_policies),
		cmocka_unit_test(test_seeds_differ),
		cmocka_unit_test(test_altered_entry),
		cmocka_unit_test(test_fused_same_rounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
