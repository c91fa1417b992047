/* core/lang/desugar.c: the one desugaring pass, surface syntax -> global
 * type (docs/DESIGN.md §2). It resolves role names and checks what only
 * the source can tell (undeclared roles, self-sends, the choice rule,
 * `continue` scopes, calls), then builds p->global from these rules:
 *
 *  1. Sequencing. A block is built back to front: each statement gets the
 *     global type of what follows it (its continuation, `k`). A choice's
 *     branches and a rec's exits all continue with the same `k`, which is
 *     shared, not copied: p->global is a DAG.
 *  2. `A -> B : M` is comm(A, B, [M(T).k]).
 *  3. `A ->* : M` is A -> R : M for every other role R in declaration order.
 *  4. `choice R at | L => body` (the origin's convert.rs rule): every body
 *     starts with a send from R to one receiver X, the same in all
 *     branches; the choice is comm(R, X, [L...]). If the first send's label
 *     is L, it is the choice message (fused: the branch is its payload and
 *     continuation); otherwise the choice message L(Unit) comes first and
 *     the whole body follows it.
 *  5. `rec X body` is μX.body (X may not shadow an enclosing rec X);
 *     `continue X` is the variable X, and ends its block.
 *  6. `loop forever body` is μF.body.F; nothing may follow it.
 *  7. `loop decide by R body` (body starting with R -> X : M) is
 *     μD.choice R at | M => body.D | Done => R -> X : Done.k, with
 *     D = RoleDecidesLoop (the origin's name, made fresh when taken).
 *  8. `loop repeat n body` is body, n times in sequence, then k (unrolled,
 *     n <= 100000 and the whole type <= TR_MAX_GNODES nodes).
 *  9. `call P` inlines the body of `protocol P` of the `where` block, which
 *     continues with k; call cycles are rejected.
 * Recursion follows the nesting of blocks and calls (bounded by
 * TR_MAX_NESTING); a block's statements are visited by iteration. */
#include "lang_internal.h"

typedef struct scope {
	uint32_t var;
	tr_gtype *rec;
	tr_pos pos;
} scope;

typedef struct desugar {
	tr_protocol *p;
	tr_sfile *f;
	tr_error *err;
	scope sc[TR_MAX_NESTING * 2 + 8];
	uint32_t nsc;
	uint32_t fresh;
	bool used[TR_MAX_ROLES];
	tr_vec stack; /* tr_stmt * scratch, for back-to-front walks */
} desugar;

static tr_status build(desugar *D, tr_stmt *list, tr_gtype *k, uint32_t depth,
                       tr_gtype **out);

static tr_status
role_index(desugar *D, uint32_t name, tr_pos pos, uint16_t *out)
{
	for (uint32_t r = 0; r < D->p->nroles; r++)
		if (D->p->role_name[r] == name) {
			*out = (uint16_t)r;
			return TR_OK;
		}
	return tr_err_at(D->err, TR_E_WELLFORMED, pos.line, pos.col, "undeclared role %s",
	                 tr_strtab_get(&D->p->strs, name));
}

static tr_status
comm1(desugar *D, uint16_t from, uint16_t to, uint32_t label, uint32_t sort, tr_pos pos,
      tr_pos lpos, tr_gtype *k, tr_gtype **out)
{
	tr_gtype *g;
	tr_status st = tr_gtype_new(D->p, TR_G_COMM, pos.line, pos.col, &g, D->err);
	if (st)
		return st;
	g->u.comm.br = tr_arena_alloc(&D->p->arena, sizeof(tr_gbranch));
	if (!g->u.comm.br)
		return tr_err_at(D->err, TR_E_NOMEM, pos.line, pos.col, "out of memory");
	g->u.comm.from = from;
	g->u.comm.to = to;
	g->u.comm.nbr = 1;
	D->used[from] = D->used[to] = true;
	g->u.comm.br[0] = (tr_gbranch){label, sort, k, lpos.line, lpos.col};
	*out = g;
	return TR_OK;
}

static tr_status
send(desugar *D, tr_stmt *s, tr_gtype *k, tr_gtype **out)
{
	uint16_t from, to;
	tr_status st;
	if ((st = role_index(D, s->a, s->apos, &from)) || (st = role_index(D, s->b, s->bpos, &to)))
		return st;
	if (from == to)
		return tr_err_at(D->err, TR_E_WELLFORMED, s->bpos.line, s->bpos.col,
		                 "self-send: %s sends %s to itself", tr_strtab_get(&D->p->strs, s->a),
		                 tr_strtab_get(&D->p->strs, s->label));
	return comm1(D, from, to, s->label, s->sort, s->pos, s->lpos, k, out);
}

static tr_status
bcast(desugar *D, tr_stmt *s, tr_gtype *k, tr_gtype **out)
{
	uint16_t from;
	tr_status st;
	if ((st = role_index(D, s->a, s->apos, &from)))
		return st;
	for (uint32_t r = D->p->nroles; r-- > 0;) {
		if (r == from)
			continue;
		if ((st = comm1(D, from, (uint16_t)r, s->label, s->sort, s->pos, s->lpos, k, &k)))
			return st;
	}
	*out = k;
	return TR_OK;
}

static tr_status
choice(desugar *D, tr_stmt *s, tr_gtype *k, uint32_t depth, tr_gtype **out)
{
	tr_protocol *p = D->p;
	uint16_t dec;
	tr_status st;
	if ((st = role_index(D, s->a, s->apos, &dec)))
		return st;
	tr_gtype *g;
	if ((st = tr_gtype_new(p, TR_G_COMM, s->pos.line, s->pos.col, &g, D->err)))
		return st;
	g->u.comm.br = tr_arena_alloc(&p->arena, (size_t)s->nbr * sizeof(tr_gbranch));
	if (!g->u.comm.br)
		return tr_err_at(D->err, TR_E_NOMEM, s->pos.line, s->pos.col, "out of memory");
	g->u.comm.from = dec;
	g->u.comm.nbr = s->nbr;
	for (uint32_t i = 0; i < s->nbr; i++) {
		tr_sbranch *b = &s->br[i];
		const char *lab = tr_strtab_get(&p->strs, b->label);
		for (uint32_t j = 0; j < i; j++)
			if (s->br[j].label == b->label)
				return tr_err_at(D->err, TR_E_WELLFORMED, b->pos.line, b->pos.col,
				                 "duplicate branch label %s (also at %u:%u)", lab,
				                 s->br[j].pos.line, s->br[j].pos.col);
		tr_stmt *first = b->body;
		/* The rule is about the written body, so `continue`, a nested
		 * choice or a loop first are rejected before building. */
		if (!first || first->kind != TR_S_SEND || first->a != s->a)
			return tr_err_at(D->err, TR_E_WELLFORMED, b->pos.line, b->pos.col,
			                 "branch %s of the choice of %s does not start with a send from %s",
			                 lab, tr_strtab_get(&p->strs, s->a),
			                 tr_strtab_get(&p->strs, s->a));
		tr_gtype *body;
		if ((st = build(D, b->body, k, depth + 1, &body)))
			return st;
		TR_ASSERT(body->kind == TR_G_COMM && body->u.comm.from == dec);
		uint16_t to = body->u.comm.to;
		if (i == 0)
			g->u.comm.to = to;
		else if (to != g->u.comm.to)
			return tr_err_at(D->err, TR_E_WELLFORMED, first->bpos.line, first->bpos.col,
			                 "branch %s sends to %s, but branch %s sends to %s: a choice "
			                 "must start with sends to one receiver",
			                 lab, tr_strtab_get(&p->strs, p->role_name[to]),
			                 tr_strtab_get(&p->strs, s->br[0].label),
			                 tr_strtab_get(&p->strs, p->role_name[g->u.comm.to]));
		tr_gbranch *gb = &g->u.comm.br[i];
		gb->label = b->label;
		gb->line = b->pos.line;
		gb->col = b->pos.col;
		if (body->u.comm.nbr == 1 && body->u.comm.br[0].label == b->label) {
			gb->sort = body->u.comm.br[0].sort; /* fused */
			gb->cont = body->u.comm.br[0].cont;
		} else {
			gb->sort = TR_SORT_ID_UNIT;
			gb->cont = body;
		}
	}
	*out = g;
	return TR_OK;
}

static tr_status
push_scope(desugar *D, uint32_t var, tr_gtype *rec, tr_pos pos)
{
	for (uint32_t i = 0; i < D->nsc; i++)
		if (D->sc[i].var == var)
			return tr_err_at(D->err, TR_E_WELLFORMED, pos.line, pos.col,
			                 "rec %s shadows the enclosing rec %s at %u:%u",
			                 tr_strtab_get(&D->p->strs, var), tr_strtab_get(&D->p->strs, var),
			                 D->sc[i].pos.line, D->sc[i].pos.col);
	if (D->nsc >= TR_ARRAY_LEN(D->sc))
		return tr_err_at(D->err, TR_E_LIMIT, pos.line, pos.col, "recursion nested too deeply");
	D->sc[D->nsc++] = (scope){var, rec, pos};
	return TR_OK;
}

static bool
name_taken(desugar *D, uint32_t id)
{
	for (uint32_t i = 0; i < D->f->recs.len; i++)
		if (TR_VEC_AT(&D->f->recs, uint32_t, i) == id)
			return true;
	return false;
}

/* A recursion variable no source name can clash with. */
static tr_status
fresh_var(desugar *D, const char *base, tr_pos pos, uint32_t *id)
{
	char buf[64];
	for (;;) {
		D->fresh++;
		if (D->fresh == 1)
			snprintf(buf, sizeof buf, "%s", base);
		else
			snprintf(buf, sizeof buf, "%s%u", base, D->fresh);
		if (tr_strtab_intern(&D->p->strs, buf, strlen(buf), id))
			return tr_err_at(D->err, TR_E_NOMEM, pos.line, pos.col, "out of memory");
		if (!name_taken(D, *id))
			return TR_OK;
	}
}

static tr_status
var_node(desugar *D, uint32_t var, tr_gtype *rec, tr_pos pos, tr_gtype **out)
{
	tr_status st = tr_gtype_new(D->p, TR_G_VAR, pos.line, pos.col, out, D->err);
	if (st)
		return st;
	(*out)->u.rec.var = var;
	(*out)->u.rec.body = rec;
	return TR_OK;
}

static tr_status
rec_like(desugar *D, tr_stmt *s, tr_gtype *k, uint32_t depth, tr_gtype **out)
{
	tr_status st;
	tr_gtype *rec;
	uint32_t var = s->a;
	if (s->kind != TR_S_REC &&
	    (st = fresh_var(D, s->kind == TR_S_LOOP_DECIDE ? "RoleDecidesLoop" : "Forever", s->pos,
	                    &var)))
		return st;
	if ((st = tr_gtype_new(D->p, TR_G_REC, s->pos.line, s->pos.col, &rec, D->err)))
		return st;
	rec->u.rec.var = var;
	if ((st = push_scope(D, var, rec, s->kind == TR_S_REC ? s->apos : s->pos)))
		return st;
	tr_gtype *body;
	if (s->kind == TR_S_REC) {
		st = build(D, s->body, k, depth + 1, &body);
	} else if (s->kind == TR_S_LOOP_FOREVER) {
		tr_gtype *v;
		if (!(st = var_node(D, var, rec, s->pos, &v)))
			st = build(D, s->body, v, depth + 1, &body);
	} else {
		uint16_t dec;
		tr_stmt *first = s->body;
		if ((st = role_index(D, s->a, s->apos, &dec)))
			return st;
		if (first->kind != TR_S_SEND || first->a != s->a)
			return tr_err_at(D->err, TR_E_WELLFORMED, first->pos.line, first->pos.col,
			                 "the body of loop decide by %s must start with a send from %s",
			                 tr_strtab_get(&D->p->strs, s->a), tr_strtab_get(&D->p->strs, s->a));
		tr_gtype *v, *go, *done;
		uint32_t done_label;
		if ((st = tr_strtab_intern(&D->p->strs, "Done", 4, &done_label)))
			return tr_err_at(D->err, st, s->pos.line, s->pos.col, "out of memory");
		if (first->label == done_label)
			return tr_err_at(D->err, TR_E_WELLFORMED, first->lpos.line, first->lpos.col,
			                 "loop decide by %s: the first message may not be Done, the "
			                 "label that ends the loop",
			                 tr_strtab_get(&D->p->strs, s->a));
		if ((st = var_node(D, var, rec, s->pos, &v)) ||
		    (st = build(D, s->body, v, depth + 1, &go)))
			return st;
		TR_ASSERT(go->kind == TR_G_COMM && go->u.comm.nbr == 1);
		if ((st = comm1(D, dec, go->u.comm.to, done_label, TR_SORT_ID_UNIT, s->pos, s->pos, k,
		                &done)))
			return st;
		tr_gbranch *br = tr_arena_alloc(&D->p->arena, 2 * sizeof *br);
		if (!br)
			return tr_err_at(D->err, TR_E_NOMEM, s->pos.line, s->pos.col, "out of memory");
		br[0] = go->u.comm.br[0];
		br[1] = done->u.comm.br[0];
		go->u.comm.br = br;
		go->u.comm.nbr = 2;
		body = go;
	}
	if (st)
		return st;
	D->nsc--;
	rec->u.rec.body = body;
	*out = rec;
	return TR_OK;
}

static tr_status
stmt(desugar *D, tr_stmt *s, tr_gtype *k, bool last, uint32_t depth, tr_gtype **out)
{
	tr_status st;
	if (depth > 2 * TR_MAX_NESTING)
		return tr_err_at(D->err, TR_E_LIMIT, s->pos.line, s->pos.col,
		                 "nesting (with calls) deeper than %d levels", 2 * TR_MAX_NESTING);
	switch ((tr_skind)s->kind) {
	case TR_S_SEND:
		return send(D, s, k, out);
	case TR_S_BCAST:
		return bcast(D, s, k, out);
	case TR_S_CHOICE:
		return choice(D, s, k, depth, out);
	case TR_S_REC:
	case TR_S_LOOP_DECIDE:
		return rec_like(D, s, k, depth, out);
	case TR_S_LOOP_FOREVER:
	case TR_S_CONTINUE:
		if (!last)
			return tr_err_at(D->err, TR_E_WELLFORMED, s->next->pos.line, s->next->pos.col,
			                 "unreachable: nothing may follow %s",
			                 s->kind == TR_S_CONTINUE ? "continue" : "loop forever");
		if (s->kind == TR_S_LOOP_FOREVER)
			return rec_like(D, s, k, depth, out);
		for (uint32_t i = D->nsc; i-- > 0;)
			if (D->sc[i].var == s->a)
				return var_node(D, s->a, D->sc[i].rec, s->pos, out);
		return tr_err_at(D->err, TR_E_WELLFORMED, s->apos.line, s->apos.col,
		                 "continue %s: no enclosing rec %s", tr_strtab_get(&D->p->strs, s->a),
		                 tr_strtab_get(&D->p->strs, s->a));
	case TR_S_LOOP_REPEAT:
		for (uint32_t i = 0; i < s->count; i++)
			if ((st = build(D, s->body, k, depth + 1, &k)))
				return st;
		*out = k;
		return TR_OK;
	case TR_S_CALL:
		for (uint32_t i = 0; i < D->f->nlocals; i++) {
			tr_slocal *l = &D->f->locals[i];
			if (l->name != s->a)
				continue;
			if (l->active)
				return tr_err_at(D->err, TR_E_WELLFORMED, s->apos.line, s->apos.col,
				                 "call %s: protocol %s calls itself",
				                 tr_strtab_get(&D->p->strs, s->a),
				                 tr_strtab_get(&D->p->strs, s->a));
			/* Scopes do not cross a call: a callee's continue names its own recs. */
			uint32_t saved = D->nsc;
			D->nsc = 0;
			l->active = true;
			st = build(D, l->body, k, depth + 1, out);
			l->active = false;
			D->nsc = saved;
			return st;
		}
		return tr_err_at(D->err, TR_E_WELLFORMED, s->apos.line, s->apos.col,
		                 "call %s: no protocol %s in the where block",
		                 tr_strtab_get(&D->p->strs, s->a), tr_strtab_get(&D->p->strs, s->a));
	}
	return tr_err_at(D->err, TR_E_INVALID, s->pos.line, s->pos.col, "bad statement");
}

static tr_status
build(desugar *D, tr_stmt *list, tr_gtype *k, uint32_t depth, tr_gtype **out)
{
	uint32_t base = D->stack.len;
	tr_status st = TR_OK;
	for (tr_stmt *s = list; s; s = s->next)
		if (!tr_vec_push(&D->stack, D->p->a, &s))
			return tr_err_at(D->err, TR_E_NOMEM, s->pos.line, s->pos.col, "out of memory");
	for (uint32_t i = D->stack.len; i-- > base;) {
		tr_stmt *s = TR_VEC_AT(&D->stack, tr_stmt *, i);
		if ((st = stmt(D, s, k, s->next == NULL, depth, &k)))
			break;
	}
	D->stack.len = base;
	*out = k;
	return st;
}

tr_status
tr_desugar(tr_protocol *p, tr_sfile *f, tr_error *err)
{
	desugar D = {.p = p, .f = f, .err = err};
	tr_vec_init(&D.stack, sizeof(tr_stmt *));
	tr_gtype *end;
	tr_status st = tr_gtype_new(p, TR_G_END, f->pos.line, f->pos.col, &end, err);
	if (!st)
		st = build(&D, f->body, end, 0, &p->global);
	tr_vec_destroy(&D.stack, p->a);
	for (uint32_t r = 0; !st && r < p->nroles; r++)
		if (!D.used[r])
			st = tr_err_at(err, TR_E_WELLFORMED, f->role_pos[r].line, f->role_pos[r].col,
			               "role %s is declared but never used",
			               tr_strtab_get(&p->strs, p->role_name[r]));
	return st;
}
