/* core/ltype.h: payload sorts and local types, shared by projection (which
 * builds them), the compiler, the image format and the verifier (which read
 * them).
 *
 * Local types are stored flat: a pool of nodes and a pool of branches that
 * refer to each other by index, so that they serialise into an image as they
 * are and compare by walking indices. Names (labels, recursion variables,
 * opaque sort names) are ids in the owning object's string table. */
#ifndef TR_CORE_LTYPE_H
#define TR_CORE_LTYPE_H

#include <stdint.h>

#include "util.h"

/* Payload sorts. Unit/Bool/Int travel as immediate 64-bit values; String and
 * Opaque (dotted names such as api.Request, and multi-field payloads, which
 * travel as one host value named by their printed form) are host values the
 * machine carries but never reads. */
typedef enum tr_sort_kind {
	TR_SORT_UNIT = 0,
	TR_SORT_BOOL = 1,
	TR_SORT_INT = 2, /* Int, Nat and the fixed-width integers: 64-bit */
	TR_SORT_STRING = 3,
	TR_SORT_OPAQUE = 4,
	TR_SORT_KIND_COUNT_
} tr_sort_kind;

typedef struct tr_sort {
	uint8_t kind;  /* tr_sort_kind */
	uint32_t name; /* string id: "Unit", "Int", "Nat", "api.Request", ... */
} tr_sort;

/* Sort id 0 is always Unit (choice messages without payload). */
#define TR_SORT_ID_UNIT 0u

typedef enum tr_lkind {
	TR_L_END = 0,
	TR_L_SEND = 1, /* to peer; 1 branch: B!l(T).L, more: B⊕{l: L, ...} */
	TR_L_RECV = 2, /* from peer; 1 branch: A?l(T).L, more: A&{l: L, ...} */
	TR_L_REC = 3,  /* μvar.body */
	TR_L_VAR = 4,  /* var, bound by the nearest enclosing REC of that name */
	TR_L_KIND_COUNT_
} tr_lkind;

#define TR_LNONE UINT32_MAX

typedef struct tr_lnode {
	uint8_t kind;   /* tr_lkind */
	uint8_t pad_;
	uint16_t peer;  /* SEND/RECV: the other role's index */
	uint32_t br;    /* SEND/RECV: first branch index in the branch pool */
	uint32_t nbr;   /* SEND/RECV: number of branches (>= 1) */
	uint32_t var;   /* REC/VAR: variable name (string id) */
	uint32_t body;  /* REC: body node; VAR: the binding REC node */
} tr_lnode;

typedef struct tr_lbranch {
	uint32_t label; /* string id */
	uint32_t sort;  /* sort id */
	uint32_t cont;  /* continuation node */
} tr_lbranch;

/* A pool of local types (one per protocol or image). */
typedef struct tr_lpool {
	tr_vec nodes;    /* tr_lnode */
	tr_vec branches; /* tr_lbranch */
} tr_lpool;

static inline void tr_lpool_init(tr_lpool *p)
{
	tr_vec_init(&p->nodes, sizeof(tr_lnode));
	tr_vec_init(&p->branches, sizeof(tr_lbranch));
}
static inline void tr_lpool_destroy(tr_lpool *p, const tr_allocator *a)
{
	tr_vec_destroy(&p->nodes, a);
	tr_vec_destroy(&p->branches, a);
}
static inline tr_lnode *tr_lnode_at(const tr_lpool *p, uint32_t i)
{
	return &TR_VEC_AT(&p->nodes, tr_lnode, i);
}
static inline tr_lbranch *tr_lbranch_at(const tr_lpool *p, uint32_t i)
{
	return &TR_VEC_AT(&p->branches, tr_lbranch, i);
}

/* Print local type `node` in troupe's text notation (B!l(T).L, A&{l: L},
 * μX.L, X, end) to f, no newline. role_name[i] is the string id of role i;
 * sorts[i] the sort table. Used by tr_protocol_print_local and the
 * disassembler. Returns TR_E_IO on a write error, TR_E_LIMIT (after
 * printing "…") when the type, unfolded as a tree, exceeds 200,000 nodes:
 * shared continuations make some types exponential to print. */
#include <stdio.h>
tr_status tr_ltype_print(FILE *f, const tr_lpool *lp, const tr_strtab *strs,
                         const tr_sort *sorts, const uint32_t *role_name,
                         uint32_t node);

#endif
