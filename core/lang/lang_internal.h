/* core/lang/lang_internal.h: what the lexer, the parser and the desugaring
 * pass of the `.tell` front end share: tokens and the surface syntax tree.
 * Nothing outside core/lang includes this file. */
#ifndef TR_CORE_LANG_INTERNAL_H
#define TR_CORE_LANG_INTERNAL_H

#include "protocol_internal.h"

/* ---- tokens (lexer.c) ---- */

typedef enum tr_tok_kind {
	TK_EOF,
	TK_NEWLINE, /* end of a logical line (continuation lines joined) */
	TK_INDENT,
	TK_DEDENT,
	TK_IDENT,
	TK_INT,
	TK_STRING,
	TK_ARROW, /* -> */
	TK_BCAST, /* ->* */
	TK_FAT,   /* => */
	TK_COLON,
	TK_COMMA,
	TK_BAR,
	TK_LPAREN,
	TK_RPAREN,
	TK_LBRACE,
	TK_RBRACE,
	TK_LBRACK,
	TK_RBRACK,
	TK_EQ,
	TK_DOT,
	TK_LT,
	TK_GT,
	TK_OTHER /* any other single character: the parser names it */
} tr_tok_kind;

typedef struct tr_tok {
	uint8_t kind; /* tr_tok_kind */
	uint32_t line, col;
	uint32_t off, len; /* bytes in the source */
} tr_tok;

/* Split src into tokens (a tr_vec of tr_tok, ending with TK_EOF), turning
 * indentation into TK_INDENT / TK_DEDENT and lines into TK_NEWLINE. Lines
 * that start with `->` or `{`, and lines inside open brackets, continue the
 * previous line. Rejects tabs in indentation, inconsistent dedents, NUL
 * bytes, invalid UTF-8 outside comments, identifiers longer than
 * TR_MAX_IDENT and nesting deeper than TR_MAX_NESTING, with line:col.
 * On failure toks is destroyed. */
tr_status tr_lex(const char *src, size_t len, const tr_allocator *a, tr_vec *toks,
                 tr_error *err);

/* ---- surface syntax (parser.c builds it in p->arena) ---- */

typedef struct tr_pos {
	uint32_t line, col;
} tr_pos;

typedef enum tr_skind {
	TR_S_SEND,         /* a -> b : label(sort) */
	TR_S_BCAST,        /* a ->* : label(sort) */
	TR_S_CHOICE,       /* choice a at | br... */
	TR_S_REC,          /* rec var; body */
	TR_S_CONTINUE,     /* continue var */
	TR_S_LOOP_DECIDE,  /* loop decide by a; body */
	TR_S_LOOP_REPEAT,  /* loop repeat count; body */
	TR_S_LOOP_FOREVER, /* loop forever; body */
	TR_S_CALL          /* call name */
} tr_skind;

typedef struct tr_stmt tr_stmt;

typedef struct tr_sbranch {
	uint32_t label;
	tr_pos pos;
	tr_stmt *body;
} tr_sbranch;

struct tr_stmt {
	uint8_t kind; /* tr_skind */
	tr_pos pos;
	uint32_t a, b;    /* names: sender/receiver, decider, rec var, callee */
	tr_pos apos, bpos;
	uint32_t label, sort; /* messages */
	tr_pos lpos;
	uint32_t count;   /* loop repeat */
	tr_stmt *body;    /* rec / loop */
	tr_sbranch *br;   /* choice */
	uint32_t nbr;
	tr_stmt *next;
};

typedef struct tr_slocal {
	uint32_t name;
	tr_pos pos;
	tr_stmt *body;
	bool active; /* being inlined: a call cycle */
} tr_slocal;

typedef struct tr_sfile {
	tr_pos pos; /* of `protocol` */
	tr_pos role_pos[TR_MAX_ROLES];
	tr_stmt *body;
	tr_slocal *locals;
	uint32_t nlocals;
	tr_vec recs; /* uint32_t: every rec name written, to keep fresh names fresh */
} tr_sfile;

/* Parse the tokens of src into f and p (name, roles). */
tr_status tr_parse_tokens(tr_protocol *p, const char *src, const tr_vec *toks,
                          tr_sfile *f, tr_error *err);

/* The desugaring pass (desugar.c): f -> p->global. */
tr_status tr_desugar(tr_protocol *p, tr_sfile *f, tr_error *err);

/* Read the origin's JSON global type into p (json.c). */
tr_status tr_json_read(tr_protocol *p, const char *text, size_t len, tr_error *err);

/* Print a local type in the origin's JSON shape (json.c). */
tr_status tr_json_print_local(const tr_protocol *p, uint32_t node, FILE *f);

#endif
