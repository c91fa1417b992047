/* core/code/compile.c: local types of a projected protocol -> a code image.
 * It does not check the protocol (projection did) beyond what keeps it from
 * reading out of bounds; the verifier checks what it produced.
 *
 * 1. Strings are copied in id order, so string ids in the image equal those
 *    of the protocol; sorts and role names likewise.
 * 2. The local-type pool is compacted to the nodes reachable from the roles'
 *    roots (projection may leave dead nodes behind), renumbered in discovery
 *    order, with every field a node kind does not use set to zero (the
 *    image format's canonical form).
 * 3. Each role's type is walked along continuations (a loop, not recursion;
 *    recursion only into the branches of a choice, so depth is bounded by
 *    choice nesting). Every node remembers the pc where its code starts, so
 *    reaching a node again (a variable's binder, or a subtree shared by two
 *    branches) emits a JUMP there instead of a copy: time and code size are
 *    linear in the size of the type.
 *      one-branch send/receive  SEND / RECEIVE edge, label, sort, r0
 *      multi-branch send        OFFER edge, table   (labels in type order)
 *      multi-branch receive     CHOOSE edge, table
 *      rec                      nothing: its body's code starts here
 *      var                      JUMP to where its rec's body starts
 *      end                      HALT
 *    Registers: one, r0, when the role carries any non-Unit payload
 *    (image_internal.h explains why one is enough), else none.
 * 4. Edges are the directed role pairs the code uses, numbered in (from, to)
 *    order; instructions are emitted with the pair and renumbered at the end.
 * 5. tr_image_verify() runs on the result. */
#include <string.h>

#include "image_internal.h"
#include "../lang/protocol_internal.h"

#define UNSEEN UINT32_MAX

typedef struct cc {
	const tr_protocol *p;
	tr_image *img;
	tr_error *err;
	const tr_allocator *a;
	uint32_t *newid;   /* protocol node -> image node */
	uint32_t *stamp;   /* image node -> role + 1 that gave it a pc */
	uint32_t *pcof;    /* image node -> pc of its code in that role */
	tr_vec code;       /* tr_insn of the role being compiled */
	tr_vec tables;     /* tr_table */
	tr_vec tentries;   /* tr_tentry */
	bool used[TR_MAX_ROLES * TR_MAX_ROLES];
	uint32_t nn;       /* image nodes (stamp/pcof length) */
	uint32_t role;
	bool payload;
} cc;

static tr_status
cc_nomem(cc *c)
{
	return tr_err(c->err, TR_E_NOMEM, "out of memory compiling %s",
	              tr_strtab_get(&c->p->strs, c->p->name));
}

static tr_status
bad_type(cc *c, uint32_t node)
{
	return tr_err(c->err, TR_E_INVALID, "malformed local type at node %u", node);
}

/* ---- 2. compaction ---- */

static tr_status
compact(cc *c)
{
	const tr_lpool *src = &c->p->local;
	uint32_t nn = src->nodes.len, nb = src->branches.len;
	tr_lpool *dst = &c->img->lt;
	c->newid = tr_calloc(c->a, nn ? nn : 1, sizeof *c->newid);
	if (!c->newid)
		return cc_nomem(c);
	for (uint32_t i = 0; i < nn; i++)
		c->newid[i] = UNSEEN;
	uint32_t *order = tr_calloc(c->a, nn ? nn : 1, sizeof *order); /* image node -> protocol node */
	if (!order)
		return cc_nomem(c);
	tr_status st = TR_OK;
	uint32_t count = 0, head = 0;
	for (uint32_t r = 0; r < c->p->nroles && !st; r++) {
		uint32_t root = c->p->local_root[r];
		if (root >= nn) {
			st = bad_type(c, root);
			break;
		}
		if (c->newid[root] == UNSEEN) {
			c->newid[root] = count;
			order[count++] = root;
		}
		/* breadth-first over order[]: it is its own queue */
		for (; head < count && !st; head++) {
			const tr_lnode *n = tr_lnode_at(src, order[head]);
			uint32_t kids, first;
			if (n->kind == TR_L_SEND || n->kind == TR_L_RECV) {
				if (n->nbr == 0 || n->br > nb || n->nbr > nb - n->br || n->peer >= c->p->nroles) {
					st = bad_type(c, order[head]);
					break;
				}
				kids = n->nbr;
				first = n->br;
			} else if (n->kind == TR_L_REC || n->kind == TR_L_VAR) {
				kids = 1;
				first = 0;
			} else if (n->kind == TR_L_END) {
				kids = 0;
				first = 0;
			} else {
				st = bad_type(c, order[head]);
				break;
			}
			for (uint32_t k = 0; k < kids; k++) {
				uint32_t ch = n->kind == TR_L_REC || n->kind == TR_L_VAR
				                  ? n->body
				                  : tr_lbranch_at(src, first + k)->cont;
				if (ch >= nn) {
					st = bad_type(c, order[head]);
					break;
				}
				if (c->newid[ch] == UNSEEN) {
					c->newid[ch] = count;
					order[count++] = ch;
				}
			}
		}
	}
	for (uint32_t i = 0; i < count && !st; i++) {
		const tr_lnode *n = tr_lnode_at(src, order[i]);
		tr_lnode out;
		memset(&out, 0, sizeof out);
		out.kind = n->kind;
		if (n->kind == TR_L_SEND || n->kind == TR_L_RECV) {
			out.peer = n->peer;
			out.br = dst->branches.len;
			out.nbr = n->nbr;
			for (uint32_t k = 0; k < n->nbr; k++) {
				const tr_lbranch *b = tr_lbranch_at(src, n->br + k);
				tr_lbranch nbv = {b->label, b->sort, c->newid[b->cont]};
				if (!tr_vec_push(&dst->branches, c->a, &nbv)) {
					st = cc_nomem(c);
					break;
				}
			}
		} else if (n->kind == TR_L_REC || n->kind == TR_L_VAR) {
			out.var = n->var;
			out.body = c->newid[n->body];
		}
		if (!st && !tr_vec_push(&dst->nodes, c->a, &out))
			st = cc_nomem(c);
	}
	tr_free(c->a, order, (size_t)(nn ? nn : 1) * sizeof *order);
	return st;
}

/* ---- 3. code ---- */

static tr_status
emit(cc *c, uint8_t op, uint16_t edge, uint32_t a, uint32_t b)
{
	if (c->code.len >= TR_MAX_INSNS)
		return tr_err(c->err, TR_E_LIMIT, "role %s needs more than %u instructions",
		              tr_strtab_get(&c->p->strs, c->p->role_name[c->role]), TR_MAX_INSNS);
	tr_insn in;
	memset(&in, 0, sizeof in);
	in.op = op;
	in.edge = edge;
	in.a = a;
	in.b = b;
	if (!tr_vec_push(&c->code, c->a, &in))
		return cc_nomem(c);
	return TR_OK;
}

/* Edge operand while compiling: the (from, to) pair, renumbered later. */
static uint16_t
pair(cc *c, const tr_lnode *n)
{
	uint32_t from = n->kind == TR_L_SEND ? c->role : n->peer;
	uint32_t to = n->kind == TR_L_SEND ? n->peer : c->role;
	c->used[from * TR_MAX_ROLES + to] = true;
	return (uint16_t)(from * TR_MAX_ROLES + to);
}

static tr_status
compile_node(cc *c, uint32_t node, uint32_t depth)
{
	const tr_lpool *lp = &c->img->lt;
	if (depth > TR_MAX_LTYPE_DEPTH)
		return tr_err(c->err, TR_E_LIMIT, "choices nested deeper than %u", TR_MAX_LTYPE_DEPTH);
	tr_status st;
	for (;;) {
		if (c->stamp[node] == c->role + 1)
			return emit(c, TR_OP_JUMP, 0, c->pcof[node], 0);
		c->stamp[node] = c->role + 1;
		c->pcof[node] = c->code.len;
		const tr_lnode *n = tr_lnode_at(lp, node);
		switch (n->kind) {
		case TR_L_END:
			return emit(c, TR_OP_HALT, 0, 0, 0);
		case TR_L_REC:
		case TR_L_VAR:
			node = n->body;
			continue;
		default:
			break;
		}
		uint16_t edge = pair(c, n);
		if (n->nbr == 1) {
			const tr_lbranch *b = tr_lbranch_at(lp, n->br);
			if (b->sort != TR_SORT_ID_UNIT)
				c->payload = true;
			st = emit(c, n->kind == TR_L_SEND ? TR_OP_SEND : TR_OP_RECEIVE, edge, b->label, b->sort);
			if (st)
				return st;
			node = b->cont;
			continue;
		}
		uint32_t t = c->tables.len, first = c->tentries.len;
		tr_table tb = {first, n->nbr};
		if (!tr_vec_push(&c->tables, c->a, &tb))
			return cc_nomem(c);
		for (uint32_t k = 0; k < n->nbr; k++) {
			const tr_lbranch *b = tr_lbranch_at(lp, n->br + k);
			tr_tentry te = {b->label, b->sort, 0};
			if (b->sort != TR_SORT_ID_UNIT)
				c->payload = true;
			if (!tr_vec_push(&c->tentries, c->a, &te))
				return cc_nomem(c);
		}
		if ((st = emit(c, n->kind == TR_L_SEND ? TR_OP_OFFER : TR_OP_CHOOSE, edge, t, 0)))
			return st;
		for (uint32_t k = 0; k < n->nbr; k++) {
			TR_VEC_AT(&c->tentries, tr_tentry, first + k).target = c->code.len;
			if ((st = compile_node(c, tr_lbranch_at(lp, n->br + k)->cont, depth + 1)))
				return st;
		}
		return TR_OK;
	}
}

static tr_status
compile_role(cc *c, uint32_t r)
{
	tr_role_code *rc = &c->img->roles[r];
	c->role = r;
	c->payload = false;
	c->code.len = 0;
	rc->name = c->p->role_name[r];
	rc->ltype = c->newid[c->p->local_root[r]];
	tr_status st = compile_node(c, rc->ltype, 0);
	if (st)
		return st;
	rc->code = tr_calloc(c->a, c->code.len, sizeof(tr_insn));
	if (!rc->code)
		return cc_nomem(c);
	memcpy(rc->code, c->code.data, (size_t)c->code.len * sizeof(tr_insn));
	rc->ninsn = c->code.len;
	/* every payload operand is r0, which emit() left in insn.reg */
	rc->nregs = c->payload ? 1 : 0;
	return TR_OK;
}

/* ---- driver ---- */

static tr_status
copy_array(cc *c, const tr_vec *v, void **out, uint32_t *n)
{
	if (v->len == 0)
		return TR_OK;
	void *p = tr_calloc(c->a, v->len, v->item);
	if (!p)
		return cc_nomem(c);
	memcpy(p, v->data, (size_t)v->len * v->item);
	*out = p;
	*n = v->len;
	return TR_OK;
}

tr_status
tr_image_compile(const tr_protocol *p, const tr_allocator *a, tr_image **out, tr_error *err)
{
	if (!p || !out)
		return tr_err(err, TR_E_INVALID, "tr_image_compile: NULL argument");
	*out = NULL;
	if (p->nroles == 0 || p->nroles > TR_MAX_ROLES || p->sorts.len == 0)
		return tr_err(err, TR_E_INVALID, "protocol has %u roles and %u sorts", p->nroles,
		              p->sorts.len);
	cc c;
	memset(&c, 0, sizeof c);
	c.p = p;
	c.err = err;
	c.a = tr_alloc_or_default(a);
	tr_vec_init(&c.code, sizeof(tr_insn));
	tr_vec_init(&c.tables, sizeof(tr_table));
	tr_vec_init(&c.tentries, sizeof(tr_tentry));
	tr_image *img = NULL;
	tr_status st = tr_image_alloc(c.a, &img);
	if (st) {
		st = cc_nomem(&c);
		goto out;
	}
	c.img = img;

	/* 1. strings, sorts, roles */
	for (uint32_t i = 0; i < p->strs.n; i++) {
		uint32_t id;
		if ((st = tr_strtab_intern(&img->strs, p->strs.str[i], p->strs.len[i], &id))) {
			st = st == TR_E_NOMEM ? cc_nomem(&c) : tr_err(err, st, "string table");
			goto out;
		}
		if (id != i) {
			st = tr_err(err, TR_E_INVALID, "protocol string %u is a duplicate", i);
			goto out;
		}
	}
	img->name = p->name;
	img->sorts = tr_calloc(c.a, p->sorts.len, sizeof *img->sorts);
	if (!img->sorts) {
		st = cc_nomem(&c);
		goto out;
	}
	memcpy(img->sorts, p->sorts.data, (size_t)p->sorts.len * sizeof *img->sorts);
	img->nsorts = p->sorts.len;
	img->roles = tr_calloc(c.a, p->nroles, sizeof *img->roles);
	if (!img->roles) {
		st = cc_nomem(&c);
		goto out;
	}
	img->nroles = p->nroles;

	/* 2. local types */
	if ((st = compact(&c)))
		goto out;
	c.nn = img->lt.nodes.len;
	c.stamp = tr_calloc(c.a, c.nn, sizeof *c.stamp);
	c.pcof = tr_calloc(c.a, c.nn, sizeof *c.pcof);
	if (!c.stamp || !c.pcof) {
		st = cc_nomem(&c);
		goto out;
	}

	/* 3. code */
	for (uint32_t r = 0; r < p->nroles; r++)
		if ((st = compile_role(&c, r)))
			goto out;

	/* 4. edges */
	uint16_t edge_no[TR_MAX_ROLES * TR_MAX_ROLES];
	uint32_t ne = 0;
	for (uint32_t i = 0; i < TR_MAX_ROLES * TR_MAX_ROLES; i++)
		if (c.used[i])
			edge_no[i] = (uint16_t)ne++;
	if (ne) {
		img->edges = tr_calloc(c.a, ne, sizeof *img->edges);
		if (!img->edges) {
			st = cc_nomem(&c);
			goto out;
		}
		img->nedges = ne;
		for (uint32_t i = 0; i < TR_MAX_ROLES * TR_MAX_ROLES; i++) {
			if (c.used[i]) {
				img->edges[edge_no[i]].from = (uint16_t)(i / TR_MAX_ROLES);
				img->edges[edge_no[i]].to = (uint16_t)(i % TR_MAX_ROLES);
			}
		}
	}
	for (uint32_t r = 0; r < img->nroles; r++) {
		for (uint32_t i = 0; i < img->roles[r].ninsn; i++) {
			tr_insn *in = &img->roles[r].code[i];
			if (tr_op_flags[in->op] & TR_OPF_EDGE)
				in->edge = edge_no[in->edge];
		}
	}
	if ((st = copy_array(&c, &c.tables, (void **)&img->tables, &img->ntables)) ||
	    (st = copy_array(&c, &c.tentries, (void **)&img->tentries, &img->ntentries)))
		goto out;

	/* 5. verify */
	if ((st = tr_image_verify(img, err)))
		goto out;
	*out = img;
	img = NULL;
out:
	tr_image_free(img);
	tr_free(c.a, c.stamp, (size_t)c.nn * sizeof *c.stamp);
	tr_free(c.a, c.pcof, (size_t)c.nn * sizeof *c.pcof);
	tr_free(c.a, c.newid, (size_t)(p->local.nodes.len ? p->local.nodes.len : 1) * sizeof *c.newid);
	tr_vec_destroy(&c.code, c.a);
	tr_vec_destroy(&c.tables, c.a);
	tr_vec_destroy(&c.tentries, c.a);
	return st;
}
