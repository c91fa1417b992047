/* core/code/opcodes.c: the name, operand and flag tables of the instruction
 * set, generated from core/opcodes.def so that they cannot drift from the
 * enum. Behaviour of each opcode lives in the machine, not here. */
#include "image_internal.h"

const char *const tr_op_name[TR_OP_COUNT_] = {
#define X(name, ops, flags) #name,
#include "../opcodes.def"
};

const char *const tr_op_operands[TR_OP_COUNT_] = {
#define X(name, ops, flags) ops,
#include "../opcodes.def"
};

const uint32_t tr_op_flags[TR_OP_COUNT_] = {
#define X(name, ops, flags) (flags),
#include "../opcodes.def"
};
