/* core/code/image_internal.h: the inside of a tr_image, shared by the
 * compiler, the image file reader/writer, the verifier, the disassembler and
 * the machine. Not a public header.
 *
 * Instructions are fixed-size 16-byte records: the file format is the array
 * in little-endian. The machine never writes into an image (images are
 * shared between machines and threads); it decodes each image once into
 * its own copy (tr_dinsn, core/machine/machine_internal.h) with peers,
 * label-kind words and tables resolved. */
#ifndef TR_CORE_IMAGE_INTERNAL_H
#define TR_CORE_IMAGE_INTERNAL_H

#include "../ltype.h"
#include "../util.h"
#include "troupe/image.h"

enum {
	TR_OPF_END = 1u << 0,   /* ends the role (no successor) */
	TR_OPF_EDGE = 1u << 1,  /* reads insn.edge */
	TR_OPF_REG = 1u << 2,   /* reads insn.reg (SET/MOVE write it) */
	TR_OPF_TABLE = 1u << 3, /* reads insn.a as a jump table index */
	TR_OPF_JUMP = 1u << 4,  /* insn.a is a target pc; no fall-through */
	TR_OPF_COMM = 1u << 5,  /* consumes one step of the local type */
};

typedef enum tr_opcode {
#define X(name, ops, flags) TR_OP_##name,
#include "../opcodes.def"
	TR_OP_COUNT_
} tr_opcode;

extern const char *const tr_op_name[TR_OP_COUNT_];
extern const char *const tr_op_operands[TR_OP_COUNT_];
extern const uint32_t tr_op_flags[TR_OP_COUNT_];

/* One instruction. Field use per opcode (see opcodes.def):
 *   SEND/RECEIVE  edge, reg, a = label id, b = sort id
 *   OFFER/CHOOSE  edge, reg, a = table index, b = 0
 *   INVOKE        a = handler symbol (string id)
 *   JUMP          a = target pc
 *   SET           reg, imm = (uint64_t)b << 32 | a
 *   MOVE          reg, b = source register */
typedef struct tr_insn {
	uint8_t op;
	uint8_t reg;
	uint16_t edge;
	uint32_t a;
	uint32_t b;
	uint32_t pad_; /* zero in files */
} tr_insn;
_Static_assert(sizeof(tr_insn) == 16, "tr_insn is the 16-byte file record");

/* A jump table entry: one branch of an OFFER or CHOOSE. */
typedef struct tr_tentry {
	uint32_t label;  /* string id */
	uint32_t sort;   /* sort id of the branch's payload (Unit: none) */
	uint32_t target; /* pc of the branch's code */
} tr_tentry;

typedef struct tr_table {
	uint32_t first; /* index into tr_image.tentries */
	uint32_t n;
} tr_table;

typedef struct tr_edge {
	uint16_t from, to; /* role indices */
} tr_edge;

typedef struct tr_role_code {
	uint32_t name;  /* string id */
	uint32_t ninsn;
	tr_insn *code;
	uint16_t nregs; /* computed by the compiler, checked by the verifier */
	uint32_t ltype; /* root node of the role's local type in tr_image.lt */
} tr_role_code;

#define TR_MAX_INSNS (1u << 24)
/* Strings, and so label ids: the machine packs a label id with its value
 * kind in 32 bits (core/machine, TR_LK). */
#define TR_MAX_STRINGS (1u << 24)
#define TR_MAX_REGS 255
/* Deepest nesting of multi-branch local-type nodes an image may hold: the
 * compiler and tr_ltype_print recurse once per level. */
#define TR_MAX_LTYPE_DEPTH 2048

/* Registers. A payload travels from on_send into the message and from the
 * message to on_recv through the effect record, so no role ever needs two
 * payloads alive at once: the compiler gives every payload-carrying
 * instruction register r0 and sets nregs = 1 when the role sends or receives
 * at least one non-Unit payload, 0 otherwise. The reg operand of
 * SEND/RECEIVE is read only when the sort is not Unit; of OFFER/CHOOSE only
 * when the taken entry's sort is not Unit. Where it is not read it is 0
 * (the verifier insists), so a role with nregs == 0 never touches a
 * register. SET/MOVE always need reg (and MOVE's source) < nregs. */

/* Image file format (core/code/image.c, docs/IMAGE_FORMAT.md). */
#define TR_IMAGE_MAGIC "TRIM"
#define TR_IMAGE_VERSION 1u
#define TR_IMAGE_HEADER_SIZE 56u

struct tr_image {
	const tr_allocator *a;
	uint32_t name;   /* string id */
	tr_strtab strs;  /* every name */
	uint32_t nsorts;
	tr_sort *sorts;  /* sort 0 is Unit */
	uint32_t nroles;
	tr_role_code *roles;
	uint32_t nedges;
	tr_edge *edges;
	uint32_t ntables;
	tr_table *tables;
	uint32_t ntentries;
	tr_tentry *tentries;
	tr_lpool lt;     /* local types of all roles */
	/* Filled by the loader/compiler for the machine: edge index of (from,to)
	 * or UINT16_MAX; nroles * nroles entries. */
	uint16_t *edge_of;
};

/* Allocate an empty image (a may be NULL). */
tr_status tr_image_alloc(const tr_allocator *a, tr_image **out);

/* Verify img: structure (indices, jump targets, tables, registers) and that
 * each role's bytecode follows its local type. TR_E_VERIFY with err->role and
 * err->pc and the reason. Also fills img->edge_of. */
tr_status tr_image_verify(tr_image *img, tr_error *err);

#endif
