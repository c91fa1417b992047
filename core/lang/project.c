/* core/lang/project.c: projection of the global type onto each role, with
 * merging (docs/DESIGN.md §2, the origin's rust/theory/src/projection.rs
 * and rust/types/src/merge.rs).
 *
 * Theory of operation.
 *  1. Rules. comm(A, B, {l_i(T_i).G_i}) projects for A to B⊕{l_i(T_i): G_i↓A},
 *     for B to A&{...}, and for any other role to the merge of the G_i↓R.
 *     μX.G projects to μX.(G↓R) when X is guarded in G↓R (the origin's
 *     is_var_guarded: reached only through a message, or not at all), else
 *     to end. X projects to X, end to end.
 *  2. Merge (merge.rs): equal types merge to themselves; end only with end;
 *     two sends to one peer need the same labels; two receives from one peer
 *     take the union of labels; labels present on both sides must carry the
 *     same sort and mergeable continuations; μX with μX merges bodies; X
 *     with X. Merged branches are sorted by label name, as the origin's
 *     BTreeMap orders them.
 *  3. Sharing. The global type is a DAG and projection is context-free, so
 *     each (node, role) is projected once (memo[] by node id) and local
 *     types share nodes too. A comm that does not involve the role and has
 *     one branch is passed through without a node.
 *  4. No recursion on protocol length. Work is a stack of tasks: PROJ(g,
 *     slot) walks a continuation chain, writing each new node into the slot
 *     its parent left open (a branch's cont, a rec's body, or a scratch
 *     cell), and pushes the other branches as tasks. A choice the role is
 *     not part of pushes MERGE(g) and then PROJ for each branch into scratch
 *     cells; LIFO order finishes them before the MERGE runs. A node read by
 *     a MERGE is complete: what it reaches was projected by its own tasks,
 *     which ran above it on the stack, or by earlier completed tasks.
 *  5. Recursion collapse (rule 1) is decided lazily, from the head of the
 *     projected body, the first time a merge or the end of the role needs
 *     it; a collapsed rec becomes an end node in place (lnode.pad_ marks
 *     decided recs during projection and is cleared after).
 * Merge itself recurses over branching nodes (bounded by MERGE_DEPTH) and
 * everything counts against a step budget, so no input hangs or overflows
 * the stack: the worst is TR_E_LIMIT. */
#include "protocol_internal.h"

#include <stdio.h>

#define SLOT_CELL 0u
#define SLOT_BR 1u
#define SLOT_REC 2u
#define SLOT(kind, i) (((uint32_t)(kind) << 30) | (uint32_t)(i))
#define MERGE_DEPTH 512
#define MAX_LNODES (1u << 24)
#define STEP_BUDGET ((size_t)1 << 26)

enum { TASK_PROJ, TASK_MERGE };

typedef struct task {
	uint8_t kind;
	const tr_gtype *g;
	uint32_t slot;
	uint32_t cell, n; /* MERGE: results in cells[cell .. cell+n) */
} task;

typedef struct recmap {
	uint32_t a, b, n;
} recmap;

typedef struct proj {
	tr_protocol *p;
	tr_error *err;
	uint16_t role;
	uint32_t *memo;
	tr_vec tasks; /* task */
	tr_vec cells; /* uint32_t */
	size_t steps;
	recmap map[MERGE_DEPTH];
	uint32_t nmap;
	char why[200]; /* reason of the last merge failure */
	tr_status fail; /* non-merge failure inside merge (NOMEM, LIMIT) */
} proj;

static tr_lnode *
N(proj *P, uint32_t i)
{
	return tr_lnode_at(&P->p->local, i);
}

static tr_lbranch *
B(proj *P, uint32_t i)
{
	return tr_lbranch_at(&P->p->local, i);
}

static const char *
S(proj *P, uint32_t id)
{
	return tr_strtab_get(&P->p->strs, id);
}

static const char *
R(proj *P, uint32_t role)
{
	return tr_strtab_get(&P->p->strs, P->p->role_name[role]);
}

static bool
step(proj *P)
{
	if (++P->steps > STEP_BUDGET) {
		P->fail = TR_E_LIMIT;
		return false;
	}
	return true;
}

static uint32_t
new_node(proj *P, tr_lkind kind)
{
	if (P->p->local.nodes.len >= MAX_LNODES) {
		P->fail = TR_E_LIMIT;
		return TR_LNONE;
	}
	tr_lnode n = {.kind = (uint8_t)kind, .br = TR_LNONE, .var = TR_LNONE, .body = TR_LNONE};
	if (!tr_vec_push(&P->p->local.nodes, P->p->a, &n)) {
		P->fail = TR_E_NOMEM;
		return TR_LNONE;
	}
	return P->p->local.nodes.len - 1;
}

static uint32_t
new_branches(proj *P, uint32_t n)
{
	uint32_t first = P->p->local.branches.len;
	if (first + (uint64_t)n >= MAX_LNODES) {
		P->fail = TR_E_LIMIT;
		return TR_LNONE;
	}
	tr_lbranch b = {TR_LNONE, 0, TR_LNONE};
	for (uint32_t i = 0; i < n; i++)
		if (!tr_vec_push(&P->p->local.branches, P->p->a, &b)) {
			P->fail = TR_E_NOMEM;
			return TR_LNONE;
		}
	return first;
}

static void
write_slot(proj *P, uint32_t slot, uint32_t v)
{
	uint32_t i = slot & 0x3FFFFFFFu;
	switch (slot >> 30) {
	case SLOT_CELL: TR_VEC_AT(&P->cells, uint32_t, i) = v; break;
	case SLOT_BR: B(P, i)->cont = v; break;
	default: N(P, i)->body = v; break;
	}
}

/* ---- recursion collapse (theory point 5) ---- */

static void
resolve_rec(proj *P, uint32_t r, uint32_t depth)
{
	tr_lnode *n = N(P, r);
	if (n->kind != TR_L_REC || n->pad_)
		return;
	n->pad_ = 1;
	uint32_t var = n->var;
	uint32_t m = n->body;
	while (m != TR_LNONE && step(P)) {
		if (N(P, m)->kind == TR_L_REC && depth < MERGE_DEPTH)
			resolve_rec(P, m, depth + 1);
		tr_lnode *M = N(P, m);
		if (M->kind == TR_L_REC) {
			if (M->var == var)
				return;
			m = M->body;
			continue;
		}
		if (M->kind == TR_L_VAR && M->var == var) {
			n = N(P, r);
			n->kind = TR_L_END;
			n->var = n->body = TR_LNONE;
		}
		return;
	}
}

/* ---- structural equality and merge (theory point 2) ---- */

static bool
leq(proj *P, uint32_t a, uint32_t b, uint32_t depth)
{
	while (a != b) {
		if (!step(P) || depth > MERGE_DEPTH || a == TR_LNONE || b == TR_LNONE)
			return false;
		resolve_rec(P, a, 0);
		resolve_rec(P, b, 0);
		tr_lnode *A = N(P, a), *Bn = N(P, b);
		if (A->kind != Bn->kind)
			return false;
		switch (A->kind) {
		case TR_L_END:
			return true;
		case TR_L_VAR:
			return A->var == Bn->var;
		case TR_L_REC:
			if (A->var != Bn->var)
				return false;
			a = A->body;
			b = Bn->body;
			continue;
		default:
			if (A->peer != Bn->peer || A->nbr != Bn->nbr)
				return false;
			for (uint32_t i = 0; i < A->nbr; i++) {
				tr_lbranch *x = B(P, A->br + i), *y = B(P, Bn->br + i);
				if (x->label != y->label || x->sort != y->sort)
					return false;
			}
			for (uint32_t i = 0; i + 1 < A->nbr; i++)
				if (!leq(P, B(P, A->br + i)->cont, B(P, Bn->br + i)->cont, depth + 1))
					return false;
			a = B(P, A->br + A->nbr - 1)->cont;
			b = B(P, Bn->br + Bn->nbr - 1)->cont;
			depth++;
		}
	}
	return true;
}

typedef struct mbr {
	uint32_t label, sort, ca, cb; /* cb == TR_LNONE: one side only */
} mbr;

static int
mbr_cmp(proj *P, const mbr *x, const mbr *y)
{
	return strcmp(S(P, x->label), S(P, y->label));
}

static bool merge(proj *P, uint32_t a, uint32_t b, uint32_t depth, uint32_t *out);

static bool
merge_comm(proj *P, uint32_t a, uint32_t b, uint32_t depth, uint32_t *out)
{
	tr_lnode A = *N(P, a), Bn = *N(P, b);
	bool send = A.kind == TR_L_SEND;
	if (A.peer != Bn.peer) {
		snprintf(P->why, sizeof P->why, "it %s %s in one branch and %s %s in another",
		         send ? "sends to" : "receives from", R(P, A.peer),
		         send ? "sends to" : "receives from", R(P, Bn.peer));
		return false;
	}
	size_t cap = (size_t)A.nbr + Bn.nbr;
	mbr *m = tr_alloc(P->p->a, cap * sizeof *m);
	if (!m) {
		P->fail = TR_E_NOMEM;
		return false;
	}
	uint32_t n = 0;
	bool ok = false;
	for (uint32_t i = 0; i < A.nbr; i++) {
		tr_lbranch *x = B(P, A.br + i);
		m[n++] = (mbr){x->label, x->sort, x->cont, TR_LNONE};
	}
	for (uint32_t j = 0; j < Bn.nbr; j++) {
		tr_lbranch *y = B(P, Bn.br + j);
		uint32_t i = 0;
		while (i < A.nbr && m[i].label != y->label)
			i++;
		if (i < A.nbr) {
			if (m[i].sort != y->sort) {
				snprintf(P->why, sizeof P->why, "label %s carries %s in one branch and %s in another",
				         S(P, y->label), S(P, TR_VEC_AT(&P->p->sorts, tr_sort, m[i].sort).name),
				         S(P, TR_VEC_AT(&P->p->sorts, tr_sort, y->sort).name));
				goto out;
			}
			m[i].cb = y->cont;
		} else if (send) {
			snprintf(P->why, sizeof P->why,
			         "it sends %s to %s in one branch only (a role that does not see a "
			         "choice cannot choose differently)",
			         S(P, y->label), R(P, A.peer));
			goto out;
		} else
			m[n++] = (mbr){y->label, y->sort, y->cont, TR_LNONE};
	}
	if (send)
		for (uint32_t i = 0; i < A.nbr; i++)
			if (m[i].cb == TR_LNONE) {
				snprintf(P->why, sizeof P->why,
				         "it sends %s to %s in one branch only (a role that does not see a "
				         "choice cannot choose differently)",
				         S(P, m[i].label), R(P, A.peer));
				goto out;
			}
	/* insertion sort by label name: choices are small */
	for (uint32_t i = 1; i < n; i++) {
		mbr t = m[i];
		uint32_t j = i;
		while (j > 0 && mbr_cmp(P, &m[j - 1], &t) > 0) {
			m[j] = m[j - 1];
			j--;
		}
		m[j] = t;
	}
	uint32_t node = new_node(P, (tr_lkind)A.kind);
	uint32_t br = node == TR_LNONE ? TR_LNONE : new_branches(P, n);
	if (br == TR_LNONE)
		goto out;
	N(P, node)->peer = A.peer;
	N(P, node)->br = br;
	N(P, node)->nbr = n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t c = m[i].ca;
		if (m[i].cb != TR_LNONE && !merge(P, m[i].ca, m[i].cb, depth + 1, &c)) {
			if (!P->fail) {
				char inner[sizeof P->why];
				snprintf(inner, sizeof inner, "%s", P->why);
				/* truncation is fine: the reason is for people */
				if (snprintf(P->why, sizeof P->why, "after %s: %s", S(P, m[i].label), inner) < 0)
					P->why[0] = 0;
			}
			goto out;
		}
		tr_lbranch *d = B(P, br + i);
		d->label = m[i].label;
		d->sort = m[i].sort;
		d->cont = c;
	}
	*out = node;
	ok = true;
out:
	tr_free(P->p->a, m, cap * sizeof *m);
	return ok;
}

static const char *
kind_words(tr_lkind k)
{
	switch (k) {
	case TR_L_END: return "ends";
	case TR_L_SEND: return "sends";
	case TR_L_RECV: return "receives";
	case TR_L_REC: return "starts a loop";
	default: return "continues a loop";
	}
}

static bool
merge(proj *P, uint32_t a, uint32_t b, uint32_t depth, uint32_t *out)
{
	if (!step(P))
		return false;
	if (depth > MERGE_DEPTH) {
		P->fail = TR_E_LIMIT;
		return false;
	}
	if (a == TR_LNONE || b == TR_LNONE) {
		P->fail = TR_E_INVALID;
		return false;
	}
	resolve_rec(P, a, 0);
	resolve_rec(P, b, 0);
	if (P->nmap == 0 && leq(P, a, b, 0)) {
		*out = a;
		return true;
	}
	if (P->fail)
		return false;
	tr_lnode A = *N(P, a), Bn = *N(P, b);
	if (A.kind != Bn.kind) {
		snprintf(P->why, sizeof P->why, "it %s in one branch but %s in another%s",
		         kind_words((tr_lkind)A.kind), kind_words((tr_lkind)Bn.kind),
		         A.kind == TR_L_END || Bn.kind == TR_L_END ? " (end merges only with end)" : "");
		return false;
	}
	switch (A.kind) {
	case TR_L_END:
		*out = a;
		return true;
	case TR_L_VAR:
		if (A.var != Bn.var) {
			snprintf(P->why, sizeof P->why, "it continues %s in one branch and %s in another",
			         S(P, A.var), S(P, Bn.var));
			return false;
		}
		for (uint32_t i = P->nmap; i-- > 0;)
			if (P->map[i].a == A.body || P->map[i].b == A.body) {
				uint32_t v = new_node(P, TR_L_VAR);
				if (v == TR_LNONE)
					return false;
				N(P, v)->var = A.var;
				N(P, v)->body = P->map[i].n;
				*out = v;
				return true;
			}
		*out = a;
		return true;
	case TR_L_REC: {
		if (A.var != Bn.var) {
			snprintf(P->why, sizeof P->why, "it loops on %s in one branch and on %s in another",
			         S(P, A.var), S(P, Bn.var));
			return false;
		}
		uint32_t r = new_node(P, TR_L_REC);
		if (r == TR_LNONE)
			return false;
		N(P, r)->var = A.var;
		P->map[P->nmap++] = (recmap){a, b, r};
		uint32_t body;
		bool ok = merge(P, A.body, Bn.body, depth + 1, &body);
		P->nmap--;
		if (!ok)
			return false;
		N(P, r)->body = body;
		*out = r;
		return true;
	}
	default:
		return merge_comm(P, a, b, depth, out);
	}
}

/* ---- the task machine (theory point 4) ---- */

static tr_status
push_task(proj *P, task t)
{
	if (!tr_vec_push(&P->tasks, P->p->a, &t))
		return tr_err(P->err, TR_E_NOMEM, "out of memory");
	return TR_OK;
}

static tr_status
fail_status(proj *P, const tr_gtype *g)
{
	if (P->fail == TR_E_NOMEM)
		return tr_err_at(P->err, TR_E_NOMEM, g->line, g->col, "out of memory");
	if (P->fail == TR_E_LIMIT)
		return tr_err_at(P->err, TR_E_LIMIT, g->line, g->col,
		                 "projection of role %s is too large or too deep",
		                 R(P, P->role));
	return tr_err_at(P->err, TR_E_PROJECTION, g->line, g->col,
	                 "internal projection error for role %s", R(P, P->role));
}

static tr_status
proj_chain(proj *P, const tr_gtype *g, uint32_t slot)
{
	tr_protocol *p = P->p;
	for (;;) {
		if (!step(P))
			return fail_status(P, g);
		uint32_t m = P->memo[g->id];
		if (m != TR_LNONE) {
			write_slot(P, slot, m);
			return TR_OK;
		}
		uint32_t n;
		switch ((tr_gkind)g->kind) {
		case TR_G_END:
			if ((n = new_node(P, TR_L_END)) == TR_LNONE)
				return fail_status(P, g);
			P->memo[g->id] = n;
			write_slot(P, slot, n);
			return TR_OK;
		case TR_G_VAR: {
			uint32_t rec = P->memo[g->u.rec.body->id];
			if (rec == TR_LNONE || (n = new_node(P, TR_L_VAR)) == TR_LNONE)
				return fail_status(P, g);
			N(P, n)->var = g->u.rec.var;
			N(P, n)->body = rec;
			P->memo[g->id] = n;
			write_slot(P, slot, n);
			return TR_OK;
		}
		case TR_G_REC:
			if ((n = new_node(P, TR_L_REC)) == TR_LNONE)
				return fail_status(P, g);
			N(P, n)->var = g->u.rec.var;
			P->memo[g->id] = n;
			write_slot(P, slot, n);
			slot = SLOT(SLOT_REC, n);
			g = g->u.rec.body;
			continue;
		case TR_G_COMM: {
			uint32_t nbr = g->u.comm.nbr;
			bool from = g->u.comm.from == P->role, to = g->u.comm.to == P->role;
			if (from || to) {
				uint32_t br;
				if ((n = new_node(P, from ? TR_L_SEND : TR_L_RECV)) == TR_LNONE ||
				    (br = new_branches(P, nbr)) == TR_LNONE)
					return fail_status(P, g);
				tr_lnode *ln = N(P, n);
				ln->peer = from ? g->u.comm.to : g->u.comm.from;
				ln->br = br;
				ln->nbr = nbr;
				for (uint32_t i = 0; i < nbr; i++) {
					B(P, br + i)->label = g->u.comm.br[i].label;
					B(P, br + i)->sort = g->u.comm.br[i].sort;
				}
				P->memo[g->id] = n;
				write_slot(P, slot, n);
				tr_status st;
				for (uint32_t i = nbr; i-- > 1;)
					if ((st = push_task(P, (task){TASK_PROJ, g->u.comm.br[i].cont,
					                              SLOT(SLOT_BR, br + i), 0, 0})))
						return st;
				slot = SLOT(SLOT_BR, br);
				g = g->u.comm.br[0].cont;
				continue;
			}
			if (nbr == 1) {
				g = g->u.comm.br[0].cont;
				continue;
			}
			uint32_t cell = P->cells.len;
			uint32_t none = TR_LNONE;
			for (uint32_t i = 0; i < nbr; i++)
				if (!tr_vec_push(&P->cells, p->a, &none))
					return tr_err_at(P->err, TR_E_NOMEM, g->line, g->col, "out of memory");
			tr_status st = push_task(P, (task){TASK_MERGE, g, slot, cell, nbr});
			for (uint32_t i = nbr; !st && i-- > 0;)
				st = push_task(P, (task){TASK_PROJ, g->u.comm.br[i].cont,
				                         SLOT(SLOT_CELL, cell + i), 0, 0});
			return st;
		}
		}
		return fail_status(P, g);
	}
}

static tr_status
run_merge(proj *P, const task *t)
{
	uint32_t r = TR_VEC_AT(&P->cells, uint32_t, t->cell);
	for (uint32_t i = 1; i < t->n; i++) {
		uint32_t c = TR_VEC_AT(&P->cells, uint32_t, t->cell + i);
		P->why[0] = 0;
		if (!merge(P, r, c, 0, &r)) {
			if (P->fail)
				return fail_status(P, t->g);
			const tr_gtype *g = t->g;
			return tr_err_at(P->err, TR_E_PROJECTION, g->line, g->col,
			                 "role %s is not projectable: it does not take part in the choice "
			                 "of %s (to %s) but its branches %s and %s differ for it: %s",
			                 R(P, P->role), R(P, g->u.comm.from), R(P, g->u.comm.to),
			                 S(P, g->u.comm.br[0].label), S(P, g->u.comm.br[i].label), P->why);
		}
	}
	P->memo[t->g->id] = r;
	write_slot(P, t->slot, r);
	return TR_OK;
}

static tr_status
project_role(proj *P, uint16_t role)
{
	tr_protocol *p = P->p;
	P->role = role;
	P->steps = 0;
	P->nmap = 0;
	P->fail = TR_OK;
	memset(P->memo, 0xFF, (size_t)p->ngnodes * sizeof *P->memo);
	P->cells.len = 0;
	P->tasks.len = 0;
	uint32_t base = p->local.nodes.len;
	uint32_t none = TR_LNONE;
	if (!tr_vec_push(&P->cells, p->a, &none))
		return tr_err(P->err, TR_E_NOMEM, "out of memory");
	tr_status st = push_task(P, (task){TASK_PROJ, p->global, SLOT(SLOT_CELL, 0), 0, 0});
	while (!st && P->tasks.len) {
		task t = TR_VEC_AT(&P->tasks, task, --P->tasks.len);
		st = t.kind == TASK_PROJ ? proj_chain(P, t.g, t.slot) : run_merge(P, &t);
	}
	for (uint32_t i = base; !st && i < p->local.nodes.len; i++)
		resolve_rec(P, i, 0);
	if (!st && P->fail)
		st = fail_status(P, p->global);
	for (uint32_t i = base; i < p->local.nodes.len; i++)
		N(P, i)->pad_ = 0;
	if (!st)
		p->local_root[role] = TR_VEC_AT(&P->cells, uint32_t, 0);
	return st;
}

tr_status
tr_protocol_project(tr_protocol *p, tr_error *err)
{
	proj P = {.p = p, .err = err};
	tr_vec_init(&P.tasks, sizeof(task));
	tr_vec_init(&P.cells, sizeof(uint32_t));
	tr_status st = TR_OK;
	P.memo = tr_calloc(p->a, p->ngnodes ? p->ngnodes : 1, sizeof *P.memo);
	if (!P.memo)
		st = tr_err(err, TR_E_NOMEM, "out of memory");
	for (uint32_t r = 0; !st && r < p->nroles; r++)
		st = project_role(&P, (uint16_t)r);
	tr_free(p->a, P.memo, (size_t)(p->ngnodes ? p->ngnodes : 1) * sizeof *P.memo);
	tr_vec_destroy(&P.tasks, p->a);
	tr_vec_destroy(&P.cells, p->a);
	return st;
}
