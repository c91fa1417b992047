/* core/code/disasm.c: a human-readable listing of a verified image. It
 * trusts the image (every tr_image has passed the verifier) and only
 * formats; the layout is what `troupe disasm` prints and tests grep:
 *
 *   image PingPong
 *   roles 2: A B
 *   edges 2: 0 A->B  1 B->A
 *   ...
 *   role A: nregs 1, 5 instructions
 *     type μLoop.B⊕{Next: ..., Stop: end}
 *        0  OFFER    A->B table 0 {Next → 1, Stop → 4}
 *        1  SEND     A->B Ping(Int) r0
 */
#include <inttypes.h>
#include <stdio.h>

#include "image_internal.h"

static const char *
s_of(const tr_image *img, uint32_t id)
{
	return tr_strtab_get(&img->strs, id);
}

static const char *
role_of(const tr_image *img, uint32_t r)
{
	return r < img->nroles ? s_of(img, img->roles[r].name) : "?";
}

static void
print_edge(FILE *f, const tr_image *img, uint16_t e)
{
	if (e < img->nedges)
		fprintf(f, "%s->%s", role_of(img, img->edges[e].from), role_of(img, img->edges[e].to));
	else
		fprintf(f, "edge%u?", e);
}

static void
print_msg(FILE *f, const tr_image *img, uint32_t label, uint32_t sort)
{
	fputs(s_of(img, label), f);
	if (sort != TR_SORT_ID_UNIT && sort < img->nsorts)
		fprintf(f, "(%s)", s_of(img, img->sorts[sort].name));
}

static void
print_insn(FILE *f, const tr_image *img, const tr_role_code *rc, uint32_t pc)
{
	const tr_insn *in = &rc->code[pc];
	const char *name = in->op < TR_OP_COUNT_ ? tr_op_name[in->op] : "?";
	fprintf(f, "    %6" PRIu32 "  %-8s", pc, name);
	switch (in->op) {
	case TR_OP_SEND:
	case TR_OP_RECEIVE:
		fputc(' ', f);
		print_edge(f, img, in->edge);
		fputc(' ', f);
		print_msg(f, img, in->a, in->b);
		if (in->b != TR_SORT_ID_UNIT)
			fprintf(f, " r%u", in->reg);
		break;
	case TR_OP_OFFER:
	case TR_OP_CHOOSE: {
		fputc(' ', f);
		print_edge(f, img, in->edge);
		fprintf(f, " table %" PRIu32 " {", in->a);
		if (in->a < img->ntables) {
			const tr_table *t = &img->tables[in->a];
			for (uint32_t i = 0; i < t->n; i++) {
				const tr_tentry *e = &img->tentries[t->first + i];
				if (i)
					fputs(", ", f);
				print_msg(f, img, e->label, e->sort);
				fprintf(f, " → %" PRIu32, e->target);
			}
		}
		fputc('}', f);
		break;
	}
	case TR_OP_INVOKE:
		fprintf(f, " %s", s_of(img, in->a));
		break;
	case TR_OP_JUMP:
		fprintf(f, " %" PRIu32, in->a);
		break;
	case TR_OP_SET:
		fprintf(f, " r%u %" PRIu64, in->reg, ((uint64_t)in->b << 32) | in->a);
		break;
	case TR_OP_MOVE:
		fprintf(f, " r%u r%" PRIu32, in->reg, in->b);
		break;
	default:
		break;
	}
	fputc('\n', f);
}

tr_status
tr_image_disasm(const tr_image *img, FILE *f)
{
	if (!img || !f)
		return TR_E_INVALID;
	fprintf(f, "image %s\n", tr_image_name(img));
	fprintf(f, "roles %" PRIu32 ":", img->nroles);
	for (uint32_t r = 0; r < img->nroles; r++)
		fprintf(f, " %s", role_of(img, r));
	fprintf(f, "\nedges %" PRIu32 ":", img->nedges);
	for (uint32_t e = 0; e < img->nedges; e++) {
		fprintf(f, " %" PRIu32 " ", e);
		print_edge(f, img, (uint16_t)e);
	}
	fprintf(f, "\nstrings %" PRIu32 ":", img->strs.n);
	for (uint32_t i = 0; i < img->strs.n; i++)
		fprintf(f, " %" PRIu32 "=%s", i, s_of(img, i));
	fprintf(f, "\nsorts %" PRIu32 ":", img->nsorts);
	static const char *const kinds[] = {"unit", "bool", "int", "string", "opaque"};
	for (uint32_t i = 0; i < img->nsorts; i++) {
		uint8_t k = img->sorts[i].kind;
		fprintf(f, " %" PRIu32 "=%s(%s)", i, s_of(img, img->sorts[i].name),
		        k < TR_SORT_KIND_COUNT_ ? kinds[k] : "?");
	}
	fputc('\n', f);
	uint32_t role_name[TR_MAX_ROLES];
	for (uint32_t r = 0; r < img->nroles && r < TR_MAX_ROLES; r++)
		role_name[r] = img->roles[r].name;
	for (uint32_t r = 0; r < img->nroles; r++) {
		const tr_role_code *rc = &img->roles[r];
		fprintf(f, "role %s: nregs %u, %" PRIu32 " instructions\n", role_of(img, r), rc->nregs,
		        rc->ninsn);
		fputs("  type ", f);
		tr_ltype_print(f, &img->lt, &img->strs, img->sorts, role_name, rc->ltype);
		fputc('\n', f);
		for (uint32_t pc = 0; pc < rc->ninsn; pc++)
			print_insn(f, img, rc, pc);
	}
	return ferror(f) ? TR_E_IO : TR_OK;
}
