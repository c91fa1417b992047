/* core/lang/check.c: well-formedness of a global type (docs/DESIGN.md §2),
 * whatever front end built it: roles in range, sender != receiver, at least
 * one branch, distinct labels, every variable bound by an enclosing rec,
 * and guarded recursion (a rec must reach a message before its variable).
 * The global type is a DAG (desugar.c shares continuations), so each node
 * is visited once, from an explicit stack: the cost is linear in the nodes
 * and no input can make it recurse. Checks that need the source text
 * (undeclared or unused role names, `continue` scopes) are the parser's and
 * desugaring pass's. */
#include "protocol_internal.h"

static tr_status
check_node(tr_protocol *p, const tr_gtype *g, tr_error *err)
{
	switch ((tr_gkind)g->kind) {
	case TR_G_END:
		return TR_OK;
	case TR_G_COMM: {
		const char *from = g->u.comm.from < p->nroles
		                       ? tr_strtab_get(&p->strs, p->role_name[g->u.comm.from])
		                       : NULL;
		if (!from || g->u.comm.to >= p->nroles)
			return tr_err_at(err, TR_E_WELLFORMED, g->line, g->col, "role out of range");
		if (g->u.comm.from == g->u.comm.to)
			return tr_err_at(err, TR_E_WELLFORMED, g->line, g->col,
			                 "self-send: %s sends to itself", from);
		if (g->u.comm.nbr == 0)
			return tr_err_at(err, TR_E_WELLFORMED, g->line, g->col,
			                 "a message from %s with no branches", from);
		for (uint32_t i = 0; i < g->u.comm.nbr; i++) {
			const tr_gbranch *b = &g->u.comm.br[i];
			if (!b->cont || b->sort >= p->sorts.len)
				return tr_err_at(err, TR_E_WELLFORMED, b->line, b->col, "malformed branch");
			/* Choices are small (TR_MAX_BRANCHES); quadratic is fine. */
			for (uint32_t j = 0; j < i; j++)
				if (g->u.comm.br[j].label == b->label)
					return tr_err_at(err, TR_E_WELLFORMED, b->line, b->col,
					                 "duplicate label %s in a choice of %s",
					                 tr_strtab_get(&p->strs, b->label), from);
		}
		return TR_OK;
	}
	case TR_G_VAR:
		if (!g->u.rec.body || g->u.rec.body->kind != TR_G_REC)
			return tr_err_at(err, TR_E_WELLFORMED, g->line, g->col,
			                 "variable %s is not bound by an enclosing rec",
			                 tr_strtab_get(&p->strs, g->u.rec.var));
		return TR_OK;
	case TR_G_REC: {
		if (!g->u.rec.body)
			return tr_err_at(err, TR_E_WELLFORMED, g->line, g->col, "rec without a body");
		/* Only recs can be passed without a message: follow the head chain. */
		const tr_gtype *n = g->u.rec.body;
		uint32_t steps = 0;
		while (n && n->kind == TR_G_REC && steps++ < TR_MAX_GNODES)
			n = n->u.rec.body;
		if (n && n->kind == TR_G_VAR) {
			for (const tr_gtype *r = g; r && r->kind == TR_G_REC; r = r->u.rec.body)
				if (n->u.rec.body == r)
					return tr_err_at(err, TR_E_WELLFORMED, n->line, n->col,
					                 "unguarded recursion: %s is reached from rec %s "
					                 "without any message",
					                 tr_strtab_get(&p->strs, n->u.rec.var),
					                 tr_strtab_get(&p->strs, n->u.rec.var));
		}
		return TR_OK;
	}
	}
	return tr_err_at(err, TR_E_WELLFORMED, g->line, g->col, "bad global type node");
}

tr_status
tr_protocol_check(tr_protocol *p, tr_error *err)
{
	if (!p->global)
		return tr_err(err, TR_E_WELLFORMED, "no global type");
	size_t nbytes = ((size_t)p->ngnodes + 7) / 8;
	uint8_t *seen = tr_calloc(p->a, nbytes ? nbytes : 1, 1);
	tr_vec stack;
	tr_vec_init(&stack, sizeof(const tr_gtype *));
	tr_status st = TR_OK;
	if (!seen) {
		st = tr_err(err, TR_E_NOMEM, "out of memory");
		goto out;
	}
	const tr_gtype *g = p->global;
	if (!tr_vec_push(&stack, p->a, &g)) {
		st = tr_err(err, TR_E_NOMEM, "out of memory");
		goto out;
	}
	while (stack.len) {
		g = TR_VEC_AT(&stack, const tr_gtype *, --stack.len);
		if (g->id >= p->ngnodes) {
			st = tr_err_at(err, TR_E_WELLFORMED, g->line, g->col, "bad global type node");
			goto out;
		}
		if (seen[g->id / 8] & (1u << (g->id % 8)))
			continue;
		seen[g->id / 8] |= (uint8_t)(1u << (g->id % 8));
		if ((st = check_node(p, g, err)))
			goto out;
		if (g->kind == TR_G_REC) {
			const tr_gtype *b = g->u.rec.body;
			if (!tr_vec_push(&stack, p->a, &b)) {
				st = tr_err(err, TR_E_NOMEM, "out of memory");
				goto out;
			}
		} else if (g->kind == TR_G_COMM) {
			/* Push in reverse so the first branch is checked first. */
			for (uint32_t i = g->u.comm.nbr; i-- > 0;) {
				const tr_gtype *c = g->u.comm.br[i].cont;
				if (!tr_vec_push(&stack, p->a, &c)) {
					st = tr_err(err, TR_E_NOMEM, "out of memory");
					goto out;
				}
			}
		}
	}
out:
	tr_vec_destroy(&stack, p->a);
	tr_free(p->a, seen, nbytes ? nbytes : 1);
	return st;
}
