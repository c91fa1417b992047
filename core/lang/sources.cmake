# The protocol language: lexer -> parser -> desugar -> check -> project,
# the origin's JSON formats, and the tr_protocol object.
set(TR_CORE_LANG_SOURCES
  lang/lexer.c
  lang/parser.c
  lang/desugar.c
  lang/check.c
  lang/project.c
  lang/json.c
  lang/protocol.c)
