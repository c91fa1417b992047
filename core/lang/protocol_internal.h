/* core/lang/protocol_internal.h: the inside of a tr_protocol, shared by the
 * parser, the desugaring pass, the well-formedness checks, projection, the
 * JSON reader/printers and the compiler. Not a public header. */
#ifndef TR_CORE_PROTOCOL_INTERNAL_H
#define TR_CORE_PROTOCOL_INTERNAL_H

#include "../ltype.h"
#include "../util.h"
#include "troupe/protocol.h"

/* Global types after desugaring (docs/DESIGN.md §2): only comm, rec, var
 * and end remain. Nodes live in the protocol's arena. */
typedef enum tr_gkind { TR_G_END, TR_G_COMM, TR_G_REC, TR_G_VAR } tr_gkind;

typedef struct tr_gtype tr_gtype;

typedef struct tr_gbranch {
	uint32_t label; /* string id */
	uint32_t sort;  /* sort id */
	tr_gtype *cont;
	uint32_t line, col; /* of the label, for errors */
} tr_gbranch;

struct tr_gtype {
	uint8_t kind; /* tr_gkind */
	uint32_t line, col;
	uint32_t id; /* dense 0..ngnodes-1 in allocation order: index for side tables */
	union {
		struct {
			uint16_t from, to; /* role indices */
			uint32_t nbr;
			tr_gbranch *br;
		} comm;
		struct {
			uint32_t var; /* string id */
			tr_gtype *body;
		} rec; /* also TR_G_VAR: var = name, body = binding rec (or NULL) */
	} u;
};

struct tr_protocol {
	const tr_allocator *a;
	tr_arena arena; /* gtype nodes and anything else freed with p */
	tr_strtab strs; /* every name: protocol, roles, labels, sorts, vars */
	uint32_t name;  /* string id of the protocol name */
	uint32_t nroles;
	uint32_t role_name[TR_MAX_ROLES]; /* string ids */
	tr_vec sorts;   /* tr_sort; id 0 is Unit */
	tr_gtype *global; /* a DAG: the code after a choice is shared by its branches */
	uint32_t ngnodes; /* gtype nodes allocated (tr_gtype_new) */
	tr_lpool local;
	uint32_t local_root[TR_MAX_ROLES]; /* node index per role */
};

/* Intern a sort by its written name ("Int", "api.Request", "(Int, String)")
 * and return its id in *id. The kind follows the name (Unit, Bool, Int, Nat,
 * Int8..Int64, UInt8..UInt64, String; anything else is opaque). */
tr_status tr_protocol_sort(tr_protocol *p, const char *name, size_t n, uint32_t *id);

/* Allocate an empty protocol (Unit sort registered). */
tr_status tr_protocol_alloc(const tr_allocator *a, tr_protocol **out);

/* Allocate a zeroed gtype node of kind in p->arena with the next id.
 * TR_E_LIMIT (with position) beyond TR_MAX_GNODES nodes, TR_E_NOMEM. */
#define TR_MAX_GNODES (1u << 20)
tr_status tr_gtype_new(tr_protocol *p, tr_gkind kind, uint32_t line, uint32_t col,
                       tr_gtype **out, tr_error *err);

/* Check well-formedness of p->global (docs/DESIGN.md §2) and project every
 * role into p->local / p->local_root. Called by every parser entry point
 * after it built p->global. Errors carry the line:column of the offending
 * global-type node. */
tr_status tr_protocol_check(tr_protocol *p, tr_error *err);
tr_status tr_protocol_project(tr_protocol *p, tr_error *err);

#endif
