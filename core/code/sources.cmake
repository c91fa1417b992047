# core/code: opcode tables, compiler, image files, verifier, disassembler.
set(TR_CORE_CODE_SOURCES
  code/opcodes.c
  code/compile.c
  code/image.c
  code/verify.c
  code/disasm.c)
