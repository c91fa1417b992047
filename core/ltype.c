/* core/ltype.c: printing local types in troupe's text notation.
 * Projection builds local types (core/lang/project.c); this file only
 * renders them, for `troupe check`, the disassembler and test expectations. */
#include "ltype.h"

#include <stdio.h>

static void
print_branch_head(FILE *f, const tr_strtab *strs, const tr_sort *sorts, const tr_lbranch *b)
{
	fputs(tr_strtab_get(strs, b->label), f);
	if (b->sort != TR_SORT_ID_UNIT)
		fprintf(f, "(%s)", tr_strtab_get(strs, sorts[b->sort].name));
}

/* A local type is a DAG (statements after a choice continue every branch),
 * and printing it as a tree can be exponential in its size: printing stops
 * after this many nodes with TR_E_LIMIT. */
#define TR_LTYPE_PRINT_BUDGET 200000u

/* Iterative along continuations of single-branch nodes so that a long
 * protocol does not recurse once per message; recursion depth is bounded by
 * the nesting of choices, which the parser and loader limit. */
static void
print_node(FILE *f, const tr_lpool *lp, const tr_strtab *strs, const tr_sort *sorts,
           const uint32_t *role_name, uint32_t node, uint32_t *budget)
{
	for (;;) {
		if (*budget == 0) {
			fputs("…", f);
			return;
		}
		--*budget;
		const tr_lnode *n = tr_lnode_at(lp, node);
		switch (n->kind) {
		case TR_L_END:
			fputs("end", f);
			return;
		case TR_L_VAR:
			fputs(tr_strtab_get(strs, n->var), f);
			return;
		case TR_L_REC:
			fprintf(f, "μ%s.", tr_strtab_get(strs, n->var));
			node = n->body;
			continue;
		case TR_L_SEND:
		case TR_L_RECV: {
			const char *peer = tr_strtab_get(strs, role_name[n->peer]);
			if (n->nbr == 1) {
				const tr_lbranch *b = tr_lbranch_at(lp, n->br);
				fprintf(f, "%s%c", peer, n->kind == TR_L_SEND ? '!' : '?');
				print_branch_head(f, strs, sorts, b);
				fputc('.', f);
				node = b->cont;
				continue;
			}
			fprintf(f, "%s%s{", peer, n->kind == TR_L_SEND ? "⊕" : "&");
			for (uint32_t i = 0; i < n->nbr; i++) {
				const tr_lbranch *b = tr_lbranch_at(lp, n->br + i);
				if (i)
					fputs(", ", f);
				print_branch_head(f, strs, sorts, b);
				fputs(": ", f);
				print_node(f, lp, strs, sorts, role_name, b->cont, budget);
			}
			fputc('}', f);
			return;
		}
		default:
			fputs("<bad>", f);
			return;
		}
	}
}

tr_status
tr_ltype_print(FILE *f, const tr_lpool *lp, const tr_strtab *strs, const tr_sort *sorts,
               const uint32_t *role_name, uint32_t node)
{
	uint32_t budget = TR_LTYPE_PRINT_BUDGET;
	print_node(f, lp, strs, sorts, role_name, node, &budget);
	if (ferror(f))
		return TR_E_IO;
	return budget ? TR_OK : TR_E_LIMIT;
}
