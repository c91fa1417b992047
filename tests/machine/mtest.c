/* tests/machine/mtest.c: see mtest.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mtest.h"

static tr_image *
compile_or_fail(tr_protocol *p)
{
	tr_image *img = NULL;
	tr_error err;
	tr_error_clear(&err);
	tr_status st = tr_image_compile(p, NULL, &img, &err);
	if (st) {
		char buf[512];
		fail_msg("compile: %s", tr_error_format(&err, buf, sizeof buf));
	}
	tr_protocol_free(p);
	return img;
}

tr_image *
mt_image_text(const char *text)
{
	tr_protocol *p = NULL;
	tr_error err;
	tr_error_clear(&err);
	if (tr_protocol_parse(text, strlen(text), "test.tell", NULL, &p, &err)) {
		char buf[512];
		fail_msg("parse: %s", tr_error_format(&err, buf, sizeof buf));
	}
	return compile_or_fail(p);
}

tr_image *
mt_image_example(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.tell", TR_EXAMPLES, name);
	tr_protocol *p = NULL;
	tr_error err;
	tr_error_clear(&err);
	if (tr_protocol_parse_file(path, NULL, &p, &err)) {
		char buf[512];
		fail_msg("parse: %s", tr_error_format(&err, buf, sizeof buf));
	}
	return compile_or_fail(p);
}

static tr_status
h_send(void *vctx, const tr_effect *e, tr_value *out)
{
	mt_ctx *ctx = vctx;
	mt_role *r = e->role_state;
	ctx->sends++;
	if (ctx->fail_send_session && (int64_t)e->session == ctx->fail_send_session)
		return ctx->fail_send_status;
	out->kind = e->sort_kind;
	out->bits = (uint64_t)(r ? r->next_value++ : 0);
	if (ctx->wrong_kind && (int64_t)e->session == ctx->wrong_kind_session)
		out->kind = e->sort_kind == TR_VAL_INT ? TR_VAL_BOOL : TR_VAL_INT;
	return TR_OK;
}

static tr_status
h_recv(void *vctx, const tr_effect *e, tr_value v)
{
	mt_ctx *ctx = vctx;
	mt_role *r = e->role_state;
	ctx->recvs++;
	if (r) {
		r->received++;
		r->recv_sum += (int64_t)v.bits;
	}
	return TR_OK;
}

static tr_status
h_choose(void *vctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	mt_ctx *ctx = vctx;
	mt_role *r = e->role_state;
	(void)labels;
	ctx->chooses++;
	if (r && r->rounds_left > 0) {
		r->rounds_left--;
		*pick = 0;
	} else {
		*pick = n - 1;
	}
	return TR_OK;
}

static uint32_t
h_topology(void *vctx, uint64_t tick, tr_topology_event *out, uint32_t max)
{
	mt_ctx *ctx = vctx;
	if (!ctx->ntopo || tick != ctx->topo_tick)
		return 0;
	uint32_t n = ctx->ntopo < max ? ctx->ntopo : max;
	memcpy(out, ctx->topo, n * sizeof *out);
	return n;
}

static tr_status
noop_send(void *ctx, tr_session_id id, uint32_t from, uint32_t to, uint32_t label, tr_value v)
{
	(void)ctx, (void)id, (void)from, (void)to, (void)label, (void)v;
	return TR_OK;
}

static void
noop_credit(void *ctx, tr_session_id id, uint32_t from, uint32_t to, uint32_t n)
{
	(void)ctx, (void)id, (void)from, (void)to, (void)n;
}

tr_remote_ops
mt_remote_noop(void)
{
	tr_remote_ops ops = {noop_send, noop_credit, NULL, 0};
	return ops;
}

tr_machine *
mt_new_machine(bool trace)
{
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	if (trace)
		cfg.trace_mode = TR_TRACE_ALL;
	tr_machine *m = NULL;
	assert_int_equal(tr_machine_create(&cfg, &m), TR_OK);
	tr_remote_ops ops = mt_remote_noop();
	assert_int_equal(tr_machine_set_remote(m, &ops), TR_OK);
	return m;
}

tr_session_summary
mt_reap_one(tr_machine *m)
{
	tr_session_summary sum;
	size_t n = 0;
	assert_int_equal(tr_machine_reap_closed_sessions(m, &sum, 1, &n), TR_OK);
	assert_int_equal(n, 1);
	return sum;
}

void
mt_finish_ok(tr_machine *m, tr_image *img)
{
	assert_true(mt_reap_one(m).ok);
	tr_machine_free(m);
	tr_image_free(img);
	mt_free_states();
}

tr_handler
mt_handler(mt_ctx *ctx)
{
	tr_handler h = {h_send, h_recv, h_choose, NULL, h_topology, ctx};
	return h;
}

/* role states of every session opened through mt_open, freed together */
static mt_role **states;
static size_t nstates, capstates;

tr_session_id
mt_open(tr_machine *m, const tr_image *img, const tr_handler *h, int64_t rounds,
        const tr_session_opts *opts)
{
	unsigned n = tr_image_nroles(img);
	mt_role *rs = calloc(n, sizeof *rs);
	void **ptrs = calloc(n, sizeof *ptrs);
	assert_non_null(rs);
	assert_non_null(ptrs);
	for (unsigned i = 0; i < n; i++) {
		rs[i].rounds_left = rounds;
		ptrs[i] = &rs[i];
	}
	if (nstates == capstates) {
		capstates = capstates ? capstates * 2 : 64;
		states = realloc(states, capstates * sizeof *states);
		assert_non_null(states);
	}
	states[nstates++] = rs;
	tr_session_opts o = {0};
	if (opts)
		o = *opts;
	o.role_state = ptrs;
	tr_session_id id = 0;
	tr_status st = tr_machine_open_session(m, img, h, &o, &id);
	free(ptrs);
	assert_int_equal(st, TR_OK);
	return id;
}

void
mt_free_states(void)
{
	for (size_t i = 0; i < nstates; i++)
		free(states[i]);
	free(states);
	states = NULL;
	nstates = capstates = 0;
}

uint64_t
mt_expected_messages(const char *w, uint64_t R)
{
	if (!strcmp(w, "pingpong"))
		return 3 * R + 1;
	if (!strcmp(w, "ring"))
		return 15 * R + 7;
	if (!strcmp(w, "fanout"))
		return 12 * R + 4;
	if (!strcmp(w, "twobuyer"))
		return 7 * R + 2 * ((R + 1) / 2) + 2;
	return 0;
}
