/* tests/code/handmade_helpers.c: see handmade.h. Failures abort: these are fixtures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handmade.h"

static void
die(const char *what)
{
	fprintf(stderr, "handmade: %s\n", what);
	abort();
}

tr_protocol *
hm_new(const char *name, const char *const *roles, uint32_t nroles)
{
	tr_protocol *p = calloc(1, sizeof *p);
	if (!p)
		die("oom");
	p->a = tr_allocator_default();
	tr_arena_init(&p->arena, p->a);
	tr_strtab_init(&p->strs, p->a);
	tr_vec_init(&p->sorts, sizeof(tr_sort));
	tr_lpool_init(&p->local);
	p->name = hm_str(p, name);
	p->nroles = nroles;
	for (uint32_t i = 0; i < nroles; i++)
		p->role_name[i] = hm_str(p, roles[i]);
	hm_sort(p, "Unit", TR_SORT_UNIT);
	return p;
}

void
hm_free(tr_protocol *p)
{
	if (!p)
		return;
	tr_strtab_destroy(&p->strs);
	tr_vec_destroy(&p->sorts, p->a);
	tr_lpool_destroy(&p->local, p->a);
	tr_arena_destroy(&p->arena);
	free(p);
}

uint32_t
hm_str(tr_protocol *p, const char *s)
{
	uint32_t id;
	if (tr_strtab_intern(&p->strs, s, strlen(s), &id))
		die("intern");
	return id;
}

uint32_t
hm_sort(tr_protocol *p, const char *name, tr_sort_kind kind)
{
	uint32_t n = hm_str(p, name);
	for (uint32_t i = 0; i < p->sorts.len; i++)
		if (TR_VEC_AT(&p->sorts, tr_sort, i).name == n)
			return i;
	tr_sort s = {(uint8_t)kind, n};
	if (!tr_vec_push(&p->sorts, p->a, &s))
		die("oom");
	return p->sorts.len - 1;
}

static uint32_t
push_node(tr_protocol *p, const tr_lnode *n)
{
	if (!tr_vec_push(&p->local.nodes, p->a, n))
		die("oom");
	return p->local.nodes.len - 1;
}

uint32_t
hm_end(tr_protocol *p)
{
	tr_lnode n = {0};
	n.kind = TR_L_END;
	return push_node(p, &n);
}

uint32_t
hm_msg(tr_protocol *p, tr_lkind kind, uint32_t peer, const char *label, uint32_t sort,
       uint32_t cont)
{
	tr_lnode n = {0};
	n.kind = (uint8_t)kind;
	n.peer = (uint16_t)peer;
	n.br = p->local.branches.len;
	n.nbr = 1;
	tr_lbranch b = {hm_str(p, label), sort, cont};
	if (!tr_vec_push(&p->local.branches, p->a, &b))
		die("oom");
	return push_node(p, &n);
}

uint32_t
hm_choice(tr_protocol *p, tr_lkind kind, uint32_t peer, uint32_t nb, const char *const *labels,
          const uint32_t *conts)
{
	tr_lnode n = {0};
	n.kind = (uint8_t)kind;
	n.peer = (uint16_t)peer;
	n.br = p->local.branches.len;
	n.nbr = nb;
	for (uint32_t i = 0; i < nb; i++) {
		tr_lbranch b = {hm_str(p, labels[i]), TR_SORT_ID_UNIT, conts[i]};
		if (!tr_vec_push(&p->local.branches, p->a, &b))
			die("oom");
	}
	return push_node(p, &n);
}

uint32_t
hm_rec(tr_protocol *p, const char *var)
{
	tr_lnode n = {0};
	n.kind = TR_L_REC;
	n.var = hm_str(p, var);
	n.body = TR_LNONE;
	return push_node(p, &n);
}

void
hm_set_body(tr_protocol *p, uint32_t rec, uint32_t body)
{
	tr_lnode_at(&p->local, rec)->body = body;
}

uint32_t
hm_var(tr_protocol *p, const char *var, uint32_t rec)
{
	tr_lnode n = {0};
	n.kind = TR_L_VAR;
	n.var = hm_str(p, var);
	n.body = rec;
	return push_node(p, &n);
}

static const char *const next_stop[] = {"Next", "Stop"};

tr_protocol *
hm_pingpong(void)
{
	static const char *const roles[] = {"A", "B"};
	tr_protocol *p = hm_new("PingPong", roles, 2);
	uint32_t i64 = hm_sort(p, "Int", TR_SORT_INT);
	/* A: μLoop.B⊕{Next: B!Ping(Int).B?Pong(Int).Loop, Stop: end} */
	uint32_t rec = hm_rec(p, "Loop");
	uint32_t pong = hm_msg(p, TR_L_RECV, 1, "Pong", i64, hm_var(p, "Loop", rec));
	uint32_t ping = hm_msg(p, TR_L_SEND, 1, "Ping", i64, pong);
	uint32_t conts[2] = {ping, hm_end(p)};
	hm_set_body(p, rec, hm_choice(p, TR_L_SEND, 1, 2, next_stop, conts));
	p->local_root[0] = rec;
	/* B: μLoop.A&{Next: A?Ping(Int).A!Pong(Int).Loop, Stop: end} */
	rec = hm_rec(p, "Loop");
	pong = hm_msg(p, TR_L_SEND, 0, "Pong", i64, hm_var(p, "Loop", rec));
	ping = hm_msg(p, TR_L_RECV, 0, "Ping", i64, pong);
	conts[0] = ping;
	conts[1] = hm_end(p);
	hm_set_body(p, rec, hm_choice(p, TR_L_RECV, 0, 2, next_stop, conts));
	p->local_root[1] = rec;
	return p;
}

tr_protocol *
hm_ring(uint32_t k)
{
	static const char *const names[] = {"P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7",
	                                    "P8", "P9"};
	if (k < 3 || k > 10)
		die("ring size");
	tr_protocol *p = hm_new("Ring", names, k);
	uint32_t i64 = hm_sort(p, "Int", TR_SORT_INT);
	/* P0: μt.P1⊕{Next: P1!Tok(Int).P(k-1)?Tok(Int).t, Stop: end} */
	uint32_t rec = hm_rec(p, "t");
	uint32_t back = hm_msg(p, TR_L_RECV, k - 1, "Tok", i64, hm_var(p, "t", rec));
	uint32_t conts[2] = {hm_msg(p, TR_L_SEND, 1, "Tok", i64, back), hm_end(p)};
	hm_set_body(p, rec, hm_choice(p, TR_L_SEND, 1, 2, next_stop, conts));
	p->local_root[0] = rec;
	for (uint32_t i = 1; i < k; i++) {
		rec = hm_rec(p, "t");
		uint32_t nx, st;
		if (i < k - 1) {
			/* Pi: μt.P(i-1)&{Next: P(i-1)?Tok(Int).P(i+1)!Next.P(i+1)!Tok(Int).t,
			 *               Stop: P(i+1)!Stop.end} */
			uint32_t fwd = hm_msg(p, TR_L_SEND, i + 1, "Tok", i64, hm_var(p, "t", rec));
			fwd = hm_msg(p, TR_L_SEND, i + 1, "Next", TR_SORT_ID_UNIT, fwd);
			nx = hm_msg(p, TR_L_RECV, i - 1, "Tok", i64, fwd);
			st = hm_msg(p, TR_L_SEND, i + 1, "Stop", TR_SORT_ID_UNIT, hm_end(p));
		} else {
			/* last: μt.P(k-2)&{Next: P(k-2)?Tok(Int).P0!Tok(Int).t, Stop: end} */
			uint32_t fwd = hm_msg(p, TR_L_SEND, 0, "Tok", i64, hm_var(p, "t", rec));
			nx = hm_msg(p, TR_L_RECV, i - 1, "Tok", i64, fwd);
			st = hm_end(p);
		}
		conts[0] = nx;
		conts[1] = st;
		hm_set_body(p, rec, hm_choice(p, TR_L_RECV, i - 1, 2, next_stop, conts));
		p->local_root[i] = rec;
	}
	return p;
}

tr_protocol *
hm_three(void)
{
	static const char *const roles[] = {"A", "B", "C"};
	tr_protocol *p = hm_new("Three", roles, 3);
	uint32_t i64 = hm_sort(p, "Int", TR_SORT_INT);
	uint32_t s = hm_sort(p, "String", TR_SORT_STRING);
	/* A: B!x(Int).C!y(Int).end */
	p->local_root[0] = hm_msg(p, TR_L_SEND, 1, "x", i64, hm_msg(p, TR_L_SEND, 2, "y", i64, hm_end(p)));
	/* B: A?x(Int).C?z(String).end */
	p->local_root[1] = hm_msg(p, TR_L_RECV, 0, "x", i64, hm_msg(p, TR_L_RECV, 2, "z", s, hm_end(p)));
	/* C: A?y(Int).B!z(String).end */
	p->local_root[2] = hm_msg(p, TR_L_RECV, 0, "y", i64, hm_msg(p, TR_L_SEND, 1, "z", s, hm_end(p)));
	return p;
}

tr_protocol *
hm_unit(void)
{
	static const char *const roles[] = {"A", "B"};
	tr_protocol *p = hm_new("Hello", roles, 2);
	p->local_root[0] = hm_msg(p, TR_L_SEND, 1, "hello", TR_SORT_ID_UNIT, hm_end(p));
	p->local_root[1] = hm_msg(p, TR_L_RECV, 0, "hello", TR_SORT_ID_UNIT, hm_end(p));
	return p;
}
