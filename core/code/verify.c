/* core/code/verify.c: the verifier every image passes before it exists as a
 * tr_image (after compile and after load). The machine relies on what it
 * establishes and does no per-instruction type test at run time.
 *
 * Theory of operation.
 *  1. Tables of the image: sorts (0 is Unit), roles (distinct names, a local
 *     type root, 1..TR_MAX_INSNS instructions, nregs <= TR_MAX_REGS), edges
 *     (distinct, from != to, sorted by (from, to); edge_of is filled here),
 *     jump tables (non-empty, in range, distinct labels).
 *  2. Local types: every index in range, branch labels of a node distinct, a
 *     variable's binder is a rec node; the graph without variable edges is
 *     acyclic (so printing and compiling terminate), multi-branch nesting is
 *     at most TR_MAX_LTYPE_DEPTH and the type unfolded as a tree stays under
 *     UNFOLD_LIMIT nodes (so a listing of a shared DAG cannot explode). Every
 *     node gets its normal form: rec and var nodes unfolded until a send,
 *     receive or end node; a rec/var cycle without one is unguarded
 *     recursion and rejected.
 *  3. Per role, structure: opcode known, operands in range (edge, label,
 *     sort, table, symbol, jump target, registers as image_internal.h
 *     describes), SEND/OFFER on an edge leaving this role and
 *     RECEIVE/CHOOSE on one entering it, table targets in range, no
 *     fall-through past the last instruction.
 *  4. Per role, semantics, by abstract interpretation from pc 0 (as a JVM
 *     verifier does): a worklist of states (pc, normalised local-type node),
 *     a set of visited states. Revisiting a state is success (the rest was or
 *     is being checked: co-induction, which is what makes loops verify).
 *     SEND/RECEIVE meet a one-branch send/receive node (same peer through the
 *     edge, label and sort) and continue with its continuation; OFFER/CHOOSE
 *     meet a multi-branch node (same peer, the table holds exactly the
 *     node's labels in its order, equal sorts) and continue at each target
 *     with that branch's continuation; HALT meets end; JUMP, SET, MOVE,
 *     YIELD and INVOKE are silent and keep the node. Each state records the
 *     "run" that reached it, a run being a stretch of silent steps; meeting a
 *     state of the current run again is a silent loop, rejected, because a
 *     coroutine in it would spin forever without ever communicating.
 *     States are bounded by STATE_BUDGET so that a hostile image cannot make
 *     the product of code and type loops explode; compiled code has one
 *     state per pc.
 * Every failure is TR_E_VERIFY with err->role/err->pc where they apply (role
 * and pc are TR_NOWHERE for image-wide tables and the local-type pool) and a
 * reason naming what was expected and what was found. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "image_internal.h"

#define UNFOLD_LIMIT (1u << 26)
#define NORM_UNSET UINT32_MAX
#define NORM_BUSY (UINT32_MAX - 1)

typedef struct vctx {
	tr_image *img;
	tr_error *err;
	const tr_allocator *a;
	uint32_t nnodes;
	uint32_t *norm;   /* node -> normal form */
	uint32_t *stamp;  /* string id -> last check that saw it (duplicates) */
	uint32_t stamp_gen;
	/* visited states: open addressing, key pc << 32 | node, 0 = empty slot
	 * (keys are stored + 1: pc 0 node 0 is a valid state) */
	uint64_t *keys;
	uint32_t *runs;
	uint32_t cap, count, budget;
	/* worklist of (pc, node) */
	uint32_t *wl;
	uint32_t wlen, wcap;
} vctx;

static tr_status
fail(vctx *v, uint32_t role, uint32_t pc, const char *fmt, ...) TR_PRINTF(4, 5);

static tr_status
fail(vctx *v, uint32_t role, uint32_t pc, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tr_err_pc(v->err, TR_E_VERIFY, role, pc, "%s", msg);
}

static tr_status
nomem(vctx *v)
{
	return tr_err(v->err, TR_E_NOMEM, "out of memory in the verifier");
}

static const char *
str(const vctx *v, uint32_t id)
{
	return tr_strtab_get(&v->img->strs, id);
}

static const char *
role_str(const vctx *v, uint32_t role)
{
	return role < v->img->nroles ? str(v, v->img->roles[role].name) : "?";
}

static const char *
sort_str(const vctx *v, uint32_t sort)
{
	return sort < v->img->nsorts ? str(v, v->img->sorts[sort].name) : "?";
}

/* ---- 1. image tables ---- */

static tr_status
check_tables(vctx *v)
{
	tr_image *img = v->img;
	uint32_t nstrs = img->strs.n;
	if (nstrs > TR_MAX_STRINGS)
		return fail(v, TR_NOWHERE, TR_NOWHERE, "%u strings, at most %u (label ids fit 24 bits)",
		            nstrs, TR_MAX_STRINGS);
	if (img->name >= nstrs)
		return fail(v, TR_NOWHERE, TR_NOWHERE, "protocol name string %u out of range", img->name);
	if (img->nroles == 0 || img->nroles > TR_MAX_ROLES || !img->roles)
		return fail(v, TR_NOWHERE, TR_NOWHERE, "role count %u not in 1..%u", img->nroles,
		            TR_MAX_ROLES);
	if (img->nsorts == 0 || !img->sorts || img->sorts[0].kind != TR_SORT_UNIT)
		return fail(v, TR_NOWHERE, TR_NOWHERE, "sort 0 must exist and be Unit");
	for (uint32_t i = 0; i < img->nsorts; i++) {
		if (img->sorts[i].kind >= TR_SORT_KIND_COUNT_ || img->sorts[i].name >= nstrs)
			return fail(v, TR_NOWHERE, TR_NOWHERE, "sort %u: bad kind %u or name %u", i,
			            img->sorts[i].kind, img->sorts[i].name);
	}
	for (uint32_t r = 0; r < img->nroles; r++) {
		const tr_role_code *rc = &img->roles[r];
		if (rc->name >= nstrs)
			return fail(v, r, TR_NOWHERE, "role name string %u out of range", rc->name);
		for (uint32_t q = 0; q < r; q++)
			if (img->roles[q].name == rc->name)
				return fail(v, r, TR_NOWHERE, "role name %s used twice", str(v, rc->name));
		if (rc->ltype >= v->nnodes)
			return fail(v, r, TR_NOWHERE, "local type root %u out of range (have %u nodes)",
			            rc->ltype, v->nnodes);
		if (rc->ninsn == 0 || rc->ninsn > TR_MAX_INSNS || !rc->code)
			return fail(v, r, TR_NOWHERE, "instruction count %u not in 1..%u", rc->ninsn,
			            TR_MAX_INSNS);
		if (rc->nregs > TR_MAX_REGS)
			return fail(v, r, TR_NOWHERE, "%u registers, at most %u", rc->nregs, TR_MAX_REGS);
	}

	/* edges and edge_of */
	size_t n2 = (size_t)img->nroles * img->nroles;
	if (!img->edge_of) {
		img->edge_of = tr_calloc(img->a, n2, sizeof *img->edge_of);
		if (!img->edge_of)
			return nomem(v);
	}
	for (size_t i = 0; i < n2; i++)
		img->edge_of[i] = UINT16_MAX;
	if (img->nedges && !img->edges)
		return fail(v, TR_NOWHERE, TR_NOWHERE, "edges missing");
	if (img->nedges > (uint32_t)img->nroles * (img->nroles - 1))
		return fail(v, TR_NOWHERE, TR_NOWHERE, "%u edges for %u roles", img->nedges, img->nroles);
	for (uint32_t e = 0; e < img->nedges; e++) {
		const tr_edge *ed = &img->edges[e];
		if (ed->from >= img->nroles || ed->to >= img->nroles || ed->from == ed->to)
			return fail(v, TR_NOWHERE, TR_NOWHERE, "edge %u: bad roles %u->%u", e, ed->from,
			            ed->to);
		if (e > 0) {
			const tr_edge *pe = &img->edges[e - 1];
			if (ed->from < pe->from || (ed->from == pe->from && ed->to <= pe->to))
				return fail(v, TR_NOWHERE, TR_NOWHERE,
				            "edge %u: edges not sorted by (from, to) or repeated", e);
		}
		img->edge_of[(size_t)ed->from * img->nroles + ed->to] = (uint16_t)e;
	}

	/* jump tables */
	if ((img->ntables && !img->tables) || (img->ntentries && !img->tentries))
		return fail(v, TR_NOWHERE, TR_NOWHERE, "tables missing");
	for (uint32_t t = 0; t < img->ntables; t++) {
		const tr_table *tb = &img->tables[t];
		if (tb->n == 0 || tb->first > img->ntentries || tb->n > img->ntentries - tb->first)
			return fail(v, TR_NOWHERE, TR_NOWHERE, "table %u: entries %u..+%u empty or out of range",
			            t, tb->first, tb->n);
		v->stamp_gen++;
		for (uint32_t i = 0; i < tb->n; i++) {
			const tr_tentry *te = &img->tentries[tb->first + i];
			if (te->label >= nstrs || te->sort >= img->nsorts)
				return fail(v, TR_NOWHERE, TR_NOWHERE, "table %u entry %u: bad label or sort", t, i);
			if (v->stamp[te->label] == v->stamp_gen)
				return fail(v, TR_NOWHERE, TR_NOWHERE, "table %u: label %s appears twice", t,
				            str(v, te->label));
			v->stamp[te->label] = v->stamp_gen;
		}
	}
	return TR_OK;
}

/* ---- 2. local types ---- */

static tr_status
check_nodes(vctx *v)
{
	const tr_lpool *lp = &v->img->lt;
	uint32_t nstrs = v->img->strs.n;
	uint32_t nbranches = lp->branches.len;
	for (uint32_t i = 0; i < v->nnodes; i++) {
		const tr_lnode *n = tr_lnode_at(lp, i);
		switch (n->kind) {
		case TR_L_END:
			break;
		case TR_L_SEND:
		case TR_L_RECV:
			if (n->peer >= v->img->nroles)
				return fail(v, TR_NOWHERE, TR_NOWHERE, "local type node %u: peer %u out of range",
				            i, n->peer);
			if (n->nbr == 0 || n->br > nbranches || n->nbr > nbranches - n->br)
				return fail(v, TR_NOWHERE, TR_NOWHERE,
				            "local type node %u: branches %u..+%u empty or out of range", i, n->br,
				            n->nbr);
			v->stamp_gen++;
			for (uint32_t k = 0; k < n->nbr; k++) {
				const tr_lbranch *b = tr_lbranch_at(lp, n->br + k);
				if (b->label >= nstrs || b->sort >= v->img->nsorts || b->cont >= v->nnodes)
					return fail(v, TR_NOWHERE, TR_NOWHERE,
					            "local type node %u branch %u: label, sort or continuation out of range",
					            i, k);
				if (v->stamp[b->label] == v->stamp_gen)
					return fail(v, TR_NOWHERE, TR_NOWHERE, "local type node %u: label %s twice", i,
					            str(v, b->label));
				v->stamp[b->label] = v->stamp_gen;
			}
			break;
		case TR_L_REC:
		case TR_L_VAR:
			if (n->var >= nstrs || n->body >= v->nnodes)
				return fail(v, TR_NOWHERE, TR_NOWHERE,
				            "local type node %u: variable or body out of range", i);
			if (n->kind == TR_L_VAR && tr_lnode_at(lp, n->body)->kind != TR_L_REC)
				return fail(v, TR_NOWHERE, TR_NOWHERE,
				            "local type node %u: variable %s is not bound to a rec node", i,
				            str(v, n->var));
			break;
		default:
			return fail(v, TR_NOWHERE, TR_NOWHERE, "local type node %u: unknown kind %u", i,
			            n->kind);
		}
	}
	return TR_OK;
}

/* Children of a node along everything but variable edges. */
static uint32_t
nchildren(const tr_lnode *n)
{
	switch (n->kind) {
	case TR_L_REC:
		return 1;
	case TR_L_SEND:
	case TR_L_RECV:
		return n->nbr;
	default:
		return 0;
	}
}

static uint32_t
child(const tr_lpool *lp, const tr_lnode *n, uint32_t k)
{
	return n->kind == TR_L_REC ? n->body : tr_lbranch_at(lp, n->br + k)->cont;
}

/* Iterative post-order DFS: acyclic, depth, unfolded size. */
static tr_status
check_shape(vctx *v)
{
	const tr_lpool *lp = &v->img->lt;
	uint32_t nn = v->nnodes;
	tr_status st = TR_OK;
	uint8_t *color = tr_calloc(v->a, nn, 1);
	uint32_t *depth = tr_calloc(v->a, nn, sizeof *depth);
	uint32_t *size = tr_calloc(v->a, nn, sizeof *size);
	uint32_t *stk = tr_calloc(v->a, nn, 2 * sizeof *stk); /* node, next child */
	if (!color || !depth || !size || !stk) {
		st = nomem(v);
		goto out;
	}
	for (uint32_t root = 0; root < nn && !st; root++) {
		if (color[root])
			continue;
		uint32_t sp = 0;
		stk[0] = root;
		stk[1] = 0;
		sp = 1;
		color[root] = 1;
		while (sp) {
			uint32_t node = stk[2 * (sp - 1)];
			uint32_t k = stk[2 * (sp - 1) + 1];
			const tr_lnode *n = tr_lnode_at(lp, node);
			if (k < nchildren(n)) {
				stk[2 * (sp - 1) + 1] = k + 1;
				uint32_t c = child(lp, n, k);
				if (color[c] == 1) {
					st = fail(v, TR_NOWHERE, TR_NOWHERE,
					          "local type node %u: cycle that does not pass a rec variable", c);
					goto out;
				}
				if (color[c] == 0) {
					color[c] = 1;
					stk[2 * sp] = c;
					stk[2 * sp + 1] = 0;
					sp++;
				}
				continue;
			}
			/* all children done */
			uint64_t sz = 1;
			uint32_t d = 0;
			for (uint32_t i = 0; i < nchildren(n); i++) {
				uint32_t c = child(lp, n, i);
				sz += size[c];
				if (depth[c] > d)
					d = depth[c];
			}
			if ((n->kind == TR_L_SEND || n->kind == TR_L_RECV) && n->nbr > 1)
				d++;
			if (d > TR_MAX_LTYPE_DEPTH) {
				st = fail(v, TR_NOWHERE, TR_NOWHERE,
				          "local type node %u: choices nested deeper than %u", node,
				          TR_MAX_LTYPE_DEPTH);
				goto out;
			}
			if (sz > UNFOLD_LIMIT) {
				st = fail(v, TR_NOWHERE, TR_NOWHERE,
				          "local type node %u: more than %u nodes when unfolded as a tree", node,
				          UNFOLD_LIMIT);
				goto out;
			}
			depth[node] = d;
			size[node] = (uint32_t)sz;
			color[node] = 2;
			sp--;
		}
	}
out:
	tr_free(v->a, color, nn);
	tr_free(v->a, depth, (size_t)nn * sizeof *depth);
	tr_free(v->a, size, (size_t)nn * sizeof *size);
	tr_free(v->a, stk, (size_t)nn * 2 * sizeof *stk);
	return st;
}

/* Normal forms. With rec bodies acyclic (check_shape), only var -> rec ->
 * ... -> var chains can loop; each node is resolved once. */
static tr_status
compute_norm(vctx *v)
{
	const tr_lpool *lp = &v->img->lt;
	for (uint32_t i = 0; i < v->nnodes; i++)
		v->norm[i] = NORM_UNSET;
	uint32_t *chain = tr_calloc(v->a, v->nnodes, sizeof *chain);
	if (!chain)
		return nomem(v);
	tr_status st = TR_OK;
	for (uint32_t i = 0; i < v->nnodes && !st; i++) {
		uint32_t len = 0, x = i, res = NORM_UNSET;
		for (;;) {
			if (v->norm[x] == NORM_BUSY) {
				st = fail(v, TR_NOWHERE, TR_NOWHERE,
				          "local type node %u: unguarded recursion (rec %s reached again with no "
				          "message in between)",
				          x, str(v, tr_lnode_at(lp, x)->var));
				break;
			}
			if (v->norm[x] != NORM_UNSET) {
				res = v->norm[x];
				break;
			}
			const tr_lnode *n = tr_lnode_at(lp, x);
			if (n->kind != TR_L_REC && n->kind != TR_L_VAR) {
				res = x;
				break;
			}
			v->norm[x] = NORM_BUSY;
			chain[len++] = x;
			x = n->body;
		}
		if (st) {
			break;
		}
		for (uint32_t k = 0; k < len; k++)
			v->norm[chain[k]] = res;
		v->norm[x] = res;
	}
	tr_free(v->a, chain, (size_t)v->nnodes * sizeof *chain);
	return st;
}

/* ---- 3. structure of one role's code ---- */

static bool
table_has_payload(const tr_image *img, uint32_t t)
{
	const tr_table *tb = &img->tables[t];
	for (uint32_t i = 0; i < tb->n; i++)
		if (img->tentries[tb->first + i].sort != TR_SORT_ID_UNIT)
			return true;
	return false;
}

static tr_status
check_structure(vctx *v, uint32_t r)
{
	const tr_image *img = v->img;
	const tr_role_code *rc = &img->roles[r];
	for (uint32_t pc = 0; pc < rc->ninsn; pc++) {
		const tr_insn *in = &rc->code[pc];
		if (in->op >= TR_OP_COUNT_)
			return fail(v, r, pc, "unknown opcode %u", in->op);
		const char *name = tr_op_name[in->op];
		uint32_t fl = tr_op_flags[in->op];
		if (fl & TR_OPF_EDGE) {
			if (in->edge >= img->nedges)
				return fail(v, r, pc, "%s: edge %u out of range (have %u)", name, in->edge,
				            img->nedges);
			const tr_edge *e = &img->edges[in->edge];
			bool out = in->op == TR_OP_SEND || in->op == TR_OP_OFFER;
			if (out && e->from != r)
				return fail(v, r, pc, "%s on edge %s->%s, which does not leave role %s", name,
				            role_str(v, e->from), role_str(v, e->to), role_str(v, r));
			if (!out && e->to != r)
				return fail(v, r, pc, "%s on edge %s->%s, which does not enter role %s", name,
				            role_str(v, e->from), role_str(v, e->to), role_str(v, r));
		}
		bool payload = false;
		switch (in->op) {
		case TR_OP_SEND:
		case TR_OP_RECEIVE:
			if (in->a >= img->strs.n)
				return fail(v, r, pc, "%s: label %u out of range", name, in->a);
			if (in->b >= img->nsorts)
				return fail(v, r, pc, "%s: sort %u out of range", name, in->b);
			payload = in->b != TR_SORT_ID_UNIT;
			break;
		case TR_OP_OFFER:
		case TR_OP_CHOOSE: {
			if (in->a >= img->ntables)
				return fail(v, r, pc, "%s: table %u out of range (have %u)", name, in->a,
				            img->ntables);
			const tr_table *tb = &img->tables[in->a];
			for (uint32_t i = 0; i < tb->n; i++) {
				uint32_t t = img->tentries[tb->first + i].target;
				if (t >= rc->ninsn)
					return fail(v, r, pc, "%s: table %u entry %u jumps to pc %u, past the end (%u)",
					            name, in->a, i, t, rc->ninsn);
			}
			payload = table_has_payload(img, in->a);
			break;
		}
		case TR_OP_INVOKE:
			if (in->a >= img->strs.n)
				return fail(v, r, pc, "INVOKE: handler symbol %u out of range", in->a);
			break;
		case TR_OP_JUMP:
			if (in->a >= rc->ninsn)
				return fail(v, r, pc, "JUMP to pc %u, past the end (%u)", in->a, rc->ninsn);
			break;
		case TR_OP_SET:
			if (in->reg >= rc->nregs)
				return fail(v, r, pc, "SET: register r%u out of range (role has %u)", in->reg,
				            rc->nregs);
			break;
		case TR_OP_MOVE:
			if (in->reg >= rc->nregs || in->b >= rc->nregs)
				return fail(v, r, pc, "MOVE: register r%u or r%u out of range (role has %u)",
				            in->reg, in->b, rc->nregs);
			break;
		default:
			break;
		}
		if (fl & TR_OPF_COMM) {
			if (payload && in->reg >= rc->nregs)
				return fail(v, r, pc, "%s: register r%u out of range (role has %u)", name, in->reg,
				            rc->nregs);
			if (!payload && in->reg != 0)
				return fail(v, r, pc, "%s carries no payload but names register r%u", name,
				            in->reg);
		}
		bool falls = !(fl & (TR_OPF_END | TR_OPF_JUMP | TR_OPF_TABLE));
		if (falls && pc + 1 == rc->ninsn)
			return fail(v, r, pc, "%s falls through past the last instruction", name);
	}
	return TR_OK;
}

/* ---- 4. semantics ---- */

static void
describe_branches(const vctx *v, const tr_lnode *n, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (uint32_t k = 0; k < n->nbr && used + 1 < size; k++) {
		const tr_lbranch *b = tr_lbranch_at(&v->img->lt, n->br + k);
		int w = snprintf(buf + used, size - used, "%s%s", k ? ", " : "", str(v, b->label));
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* What a normalised node expects, as an instruction: "SEND Ping(Int) to B". */
static void
describe_node(const vctx *v, uint32_t node, char *buf, size_t size)
{
	const tr_lnode *n = tr_lnode_at(&v->img->lt, node);
	if (n->kind == TR_L_END) {
		snprintf(buf, size, "HALT (end)");
		return;
	}
	bool snd = n->kind == TR_L_SEND;
	if (n->nbr == 1) {
		const tr_lbranch *b = tr_lbranch_at(&v->img->lt, n->br);
		snprintf(buf, size, "%s %s(%s) %s %s", snd ? "SEND" : "RECEIVE", str(v, b->label),
		         sort_str(v, b->sort), snd ? "to" : "from", role_str(v, n->peer));
		return;
	}
	char labels[120];
	describe_branches(v, n, labels, sizeof labels);
	snprintf(buf, size, "%s %s %s of {%s}", snd ? "OFFER" : "CHOOSE", snd ? "to" : "from",
	         role_str(v, n->peer), labels);
}

static void
describe_insn(const vctx *v, const tr_insn *in, char *buf, size_t size)
{
	const tr_edge *e = (tr_op_flags[in->op] & TR_OPF_EDGE) ? &v->img->edges[in->edge] : NULL;
	switch (in->op) {
	case TR_OP_SEND:
	case TR_OP_RECEIVE:
		snprintf(buf, size, "%s %s(%s) on %s->%s", tr_op_name[in->op], str(v, in->a),
		         sort_str(v, in->b), role_str(v, e->from), role_str(v, e->to));
		break;
	case TR_OP_OFFER:
	case TR_OP_CHOOSE:
		snprintf(buf, size, "%s on %s->%s (table %u)", tr_op_name[in->op], role_str(v, e->from),
		         role_str(v, e->to), in->a);
		break;
	default:
		snprintf(buf, size, "%s", tr_op_name[in->op]);
		break;
	}
}

static tr_status
mismatch(vctx *v, uint32_t r, uint32_t pc, uint32_t node, const char *what)
{
	char want[200], got[160];
	describe_node(v, node, want, sizeof want);
	describe_insn(v, &v->img->roles[r].code[pc], got, sizeof got);
	return fail(v, r, pc, "%sexpected %s, found %s", what, want, got);
}

static uint64_t
mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

/* Look up state (pc, node). When absent, insert it with run and set *fresh;
 * otherwise *seen is the run that first reached it. */
static tr_status
visit(vctx *v, uint32_t r, uint32_t pc, uint32_t node, uint32_t run, bool *fresh,
      uint32_t *seen)
{
	uint64_t key = (((uint64_t)pc << 32) | node) + 1;
	if ((uint64_t)(v->count + 1) * 2 > v->cap) {
		uint32_t ncap = v->cap ? v->cap * 2 : 1024;
		uint64_t *nk = tr_calloc(v->a, ncap, sizeof *nk);
		uint32_t *nr = tr_calloc(v->a, ncap, sizeof *nr);
		if (!nk || !nr) {
			tr_free(v->a, nk, (size_t)ncap * sizeof *nk);
			tr_free(v->a, nr, (size_t)ncap * sizeof *nr);
			return nomem(v);
		}
		for (uint32_t i = 0; i < v->cap; i++) {
			if (!v->keys[i])
				continue;
			uint32_t j = (uint32_t)mix(v->keys[i]) & (ncap - 1);
			while (nk[j])
				j = (j + 1) & (ncap - 1);
			nk[j] = v->keys[i];
			nr[j] = v->runs[i];
		}
		tr_free(v->a, v->keys, (size_t)v->cap * sizeof *v->keys);
		tr_free(v->a, v->runs, (size_t)v->cap * sizeof *v->runs);
		v->keys = nk;
		v->runs = nr;
		v->cap = ncap;
	}
	uint32_t j = (uint32_t)mix(key) & (v->cap - 1);
	while (v->keys[j]) {
		if (v->keys[j] == key) {
			*fresh = false;
			*seen = v->runs[j];
			return TR_OK;
		}
		j = (j + 1) & (v->cap - 1);
	}
	if (v->count >= v->budget)
		return fail(v, r, pc,
		            "more than %u (pc, local type) states: code shared by too many local types",
		            v->budget);
	v->count++;
	v->keys[j] = key;
	v->runs[j] = run;
	*fresh = true;
	*seen = run;
	return TR_OK;
}

static tr_status
push(vctx *v, uint32_t pc, uint32_t node)
{
	if (v->wlen + 2 > v->wcap) {
		uint32_t ncap = v->wcap ? v->wcap * 2 : 256;
		uint32_t *n = tr_realloc(v->a, v->wl, (size_t)v->wcap * sizeof *n, (size_t)ncap * sizeof *n);
		if (!n)
			return nomem(v);
		v->wl = n;
		v->wcap = ncap;
	}
	v->wl[v->wlen++] = pc;
	v->wl[v->wlen++] = node;
	return TR_OK;
}

/* SEND/RECEIVE against a one-branch node; *next gets the continuation. */
static tr_status
check_single(vctx *v, uint32_t r, uint32_t pc, uint32_t node, uint32_t *next)
{
	const tr_image *img = v->img;
	const tr_insn *in = &img->roles[r].code[pc];
	const tr_lnode *n = tr_lnode_at(&img->lt, node);
	uint8_t want_kind = in->op == TR_OP_SEND ? TR_L_SEND : TR_L_RECV;
	if (n->kind != want_kind || n->nbr != 1)
		return mismatch(v, r, pc, node, "");
	const tr_edge *e = &img->edges[in->edge];
	uint32_t peer = in->op == TR_OP_SEND ? e->to : e->from;
	if (peer != n->peer)
		return mismatch(v, r, pc, node, "wrong peer: ");
	const tr_lbranch *b = tr_lbranch_at(&img->lt, n->br);
	if (in->a != b->label)
		return mismatch(v, r, pc, node, "wrong label: ");
	if (in->b != b->sort)
		return mismatch(v, r, pc, node, "wrong sort: ");
	*next = v->norm[b->cont];
	return TR_OK;
}

/* OFFER/CHOOSE against a multi-branch node; pushes each branch. */
static tr_status
check_table(vctx *v, uint32_t r, uint32_t pc, uint32_t node)
{
	const tr_image *img = v->img;
	const tr_insn *in = &img->roles[r].code[pc];
	const tr_lnode *n = tr_lnode_at(&img->lt, node);
	uint8_t want_kind = in->op == TR_OP_OFFER ? TR_L_SEND : TR_L_RECV;
	if (n->kind != want_kind || n->nbr < 2)
		return mismatch(v, r, pc, node, "");
	const tr_edge *e = &img->edges[in->edge];
	uint32_t peer = in->op == TR_OP_OFFER ? e->to : e->from;
	if (peer != n->peer)
		return mismatch(v, r, pc, node, "wrong peer: ");
	const tr_table *tb = &img->tables[in->a];
	uint32_t common = tb->n < n->nbr ? tb->n : n->nbr;
	for (uint32_t i = 0; i < common; i++) {
		const tr_tentry *te = &img->tentries[tb->first + i];
		const tr_lbranch *b = tr_lbranch_at(&img->lt, n->br + i);
		if (te->label != b->label)
			return fail(v, r, pc, "table %u entry %u: expected label %s, found %s", in->a, i,
			            str(v, b->label), str(v, te->label));
		if (te->sort != b->sort)
			return fail(v, r, pc, "table %u entry %u: wrong sort for %s: expected %s, found %s",
			            in->a, i, str(v, b->label), sort_str(v, b->sort), sort_str(v, te->sort));
	}
	if (tb->n < n->nbr)
		return fail(v, r, pc, "table %u: missing branch %s (%u entries, the local type has %u)",
		            in->a, str(v, tr_lbranch_at(&img->lt, n->br + tb->n)->label), tb->n, n->nbr);
	if (tb->n > n->nbr)
		return fail(v, r, pc, "table %u: extra label %s (%u entries, the local type has %u)",
		            in->a, str(v, img->tentries[tb->first + n->nbr].label), tb->n, n->nbr);
	for (uint32_t i = 0; i < tb->n; i++) {
		tr_status st = push(v, img->tentries[tb->first + i].target,
		                    v->norm[tr_lbranch_at(&img->lt, n->br + i)->cont]);
		if (st)
			return st;
	}
	return TR_OK;
}

static tr_status
check_semantics(vctx *v, uint32_t r)
{
	const tr_role_code *rc = &v->img->roles[r];
	if (v->keys)
		memset(v->keys, 0, (size_t)v->cap * sizeof *v->keys);
	v->count = 0;
	v->budget = rc->ninsn > (UINT32_MAX - 4096) / 4 ? UINT32_MAX : rc->ninsn * 4 + 4096;
	v->wlen = 0;
	uint32_t run = 0;
	tr_status st = push(v, 0, v->norm[rc->ltype]);
	while (!st && v->wlen) {
		uint32_t node = v->wl[--v->wlen];
		uint32_t pc = v->wl[--v->wlen];
		run++;
		for (;;) {
			uint32_t seen = 0;
			bool fresh = false;
			if ((st = visit(v, r, pc, node, run, &fresh, &seen)))
				return st;
			if (!fresh && seen == run)
				return fail(v, r, pc,
				            "silent loop: pc %u is reached again with no communication in between",
				            pc);
			if (!fresh)
				break; /* checked before: co-inductive success */
			const tr_insn *in = &rc->code[pc];
			const tr_lnode *n = tr_lnode_at(&v->img->lt, node);
			if (n->kind == TR_L_END && (tr_op_flags[in->op] & TR_OPF_COMM))
				return mismatch(v, r, pc, node, "");
			switch (in->op) {
			case TR_OP_HALT:
				if (n->kind != TR_L_END)
					return mismatch(v, r, pc, node, "role halts too early: ");
				goto next_item;
			case TR_OP_SEND:
			case TR_OP_RECEIVE: {
				uint32_t nx = 0;
				if ((st = check_single(v, r, pc, node, &nx)))
					return st;
				node = nx;
				pc++;
				run++; /* communication ends the silent stretch */
				continue;
			}
			case TR_OP_OFFER:
			case TR_OP_CHOOSE:
				if ((st = check_table(v, r, pc, node)))
					return st;
				goto next_item;
			case TR_OP_JUMP:
				pc = in->a;
				break;
			default: /* SET, MOVE, YIELD, INVOKE: silent */
				pc++;
				break;
			}
		}
	next_item:;
	}
	return st;
}

tr_status
tr_image_verify(tr_image *img, tr_error *err)
{
	if (!img)
		return tr_err(err, TR_E_INVALID, "tr_image_verify: NULL image");
	vctx v;
	memset(&v, 0, sizeof v);
	v.img = img;
	v.err = err;
	v.a = tr_alloc_or_default(img->a);
	v.nnodes = img->lt.nodes.len;
	if (v.nnodes == 0)
		return fail(&v, TR_NOWHERE, TR_NOWHERE, "image has no local types");
	tr_status st = TR_OK;
	uint32_t nstrs = img->strs.n;
	v.stamp = tr_calloc(v.a, nstrs ? nstrs : 1, sizeof *v.stamp);
	v.norm = tr_calloc(v.a, v.nnodes, sizeof *v.norm);
	if (!v.stamp || !v.norm) {
		st = nomem(&v);
		goto out;
	}
	if ((st = check_tables(&v)) || (st = check_nodes(&v)) || (st = check_shape(&v)) ||
	    (st = compute_norm(&v)))
		goto out;
	for (uint32_t r = 0; r < img->nroles; r++) {
		if ((st = check_structure(&v, r)) || (st = check_semantics(&v, r)))
			goto out;
	}
out:
	tr_free(v.a, v.stamp, (size_t)(nstrs ? nstrs : 1) * sizeof *v.stamp);
	tr_free(v.a, v.norm, (size_t)v.nnodes * sizeof *v.norm);
	tr_free(v.a, v.keys, (size_t)v.cap * sizeof *v.keys);
	tr_free(v.a, v.runs, (size_t)v.cap * sizeof *v.runs);
	tr_free(v.a, v.wl, (size_t)v.wcap * sizeof *v.wl);
	return st;
}
