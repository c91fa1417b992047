/* core/lang/parser.c: recursive-descent parser of the `.tell` subset
 * (docs/DESIGN.md §2) from the lexer's tokens to the surface syntax tree of
 * lang_internal.h. Statement lists are linked and built by iteration, so a
 * long protocol costs no stack; recursion follows blocks only, whose depth
 * the lexer bounds (TR_MAX_NESTING). Every construct of the origin's
 * language outside the subset is rejected as TR_E_UNSUPPORTED at its
 * position. Roles are resolved and sugar expanded later (desugar.c). */
#include "lang_internal.h"

#include <stdio.h>

typedef struct parser {
	tr_protocol *p;
	const char *src;
	const tr_tok *t;
	uint32_t ntok, i;
	tr_sfile *f;
	tr_error *err;
} parser;

static const tr_tok *
cur(const parser *P)
{
	return &P->t[P->i];
}

static bool
is(const parser *P, tr_tok_kind k)
{
	return cur(P)->kind == k;
}

static bool
is_kw(const parser *P, const char *kw)
{
	const tr_tok *t = cur(P);
	size_t n = strlen(kw);
	return t->kind == TK_IDENT && t->len == n && memcmp(P->src + t->off, kw, n) == 0;
}

static void
advance(parser *P)
{
	if (P->i + 1 < P->ntok)
		P->i++;
}

static const char *
tok_name(tr_tok_kind k)
{
	switch (k) {
	case TK_EOF: return "end of file";
	case TK_NEWLINE: return "end of line";
	case TK_INDENT: return "an indented block";
	case TK_DEDENT: return "the end of a block";
	case TK_IDENT: return "a name";
	case TK_INT: return "a number";
	case TK_STRING: return "a string";
	case TK_ARROW: return "'->'";
	case TK_BCAST: return "'->*'";
	case TK_FAT: return "'=>'";
	case TK_COLON: return "':'";
	case TK_COMMA: return "','";
	case TK_BAR: return "'|'";
	case TK_LPAREN: return "'('";
	case TK_RPAREN: return "')'";
	case TK_LBRACE: return "'{'";
	case TK_RBRACE: return "'}'";
	case TK_LBRACK: return "'['";
	case TK_RBRACK: return "']'";
	case TK_EQ: return "'='";
	case TK_DOT: return "'.'";
	case TK_LT: return "'<'";
	case TK_GT: return "'>'";
	default: return "a character";
	}
}

/* "unexpected X, expected what" at the current token. */
static tr_status
unexpected(parser *P, const char *what)
{
	const tr_tok *t = cur(P);
	if (t->kind == TK_IDENT || t->kind == TK_INT || t->kind == TK_OTHER)
		return tr_err_at(P->err, TR_E_SYNTAX, t->line, t->col, "unexpected '%.*s', expected %s",
		                 (int)(t->len > 40 ? 40 : t->len), P->src + t->off, what);
	return tr_err_at(P->err, TR_E_SYNTAX, t->line, t->col, "unexpected %s, expected %s",
	                 tok_name((tr_tok_kind)t->kind), what);
}

static tr_status
unsupported(parser *P, const tr_tok *t, const char *what)
{
	return tr_err_at(P->err, TR_E_UNSUPPORTED, t->line, t->col, "not supported yet: %s", what);
}

static tr_status
expect(parser *P, tr_tok_kind k, const char *what)
{
	if (!is(P, k))
		return unexpected(P, what);
	advance(P);
	return TR_OK;
}

static tr_status
intern_tok(parser *P, const tr_tok *t, uint32_t *id)
{
	if (tr_strtab_intern(&P->p->strs, P->src + t->off, t->len, id))
		return tr_err_at(P->err, TR_E_NOMEM, t->line, t->col, "out of memory");
	return TR_OK;
}

static const char *const reserved[] = {
	"protocol", "roles", "choice", "at", "rec", "continue", "loop", "call", "where",
	"of", "par", "case", "timeout", "let", "when",
};

static bool
is_reserved(const parser *P, const tr_tok *t)
{
	for (size_t k = 0; k < TR_ARRAY_LEN(reserved); k++) {
		size_t n = strlen(reserved[k]);
		if (t->len == n && memcmp(P->src + t->off, reserved[k], n) == 0)
			return true;
	}
	return false;
}

/* A name (role, label, variable): an identifier that is not a keyword. */
static tr_status
name(parser *P, const char *what, uint32_t *id, tr_pos *pos)
{
	const tr_tok *t = cur(P);
	if (t->kind != TK_IDENT || is_reserved(P, t))
		return unexpected(P, what);
	if (pos)
		*pos = (tr_pos){t->line, t->col};
	tr_status st = intern_tok(P, t, id);
	if (!st)
		advance(P);
	return st;
}

/* A role reference: a name, but role families R[i] are not in the subset. */
static tr_status
role_ref(parser *P, uint32_t *id, tr_pos *pos)
{
	tr_status st = name(P, "a role name", id, pos);
	if (!st && is(P, TK_LBRACK))
		return unsupported(P, cur(P), "role families (R[...])");
	return st;
}

static tr_status
new_stmt(parser *P, tr_skind k, const tr_tok *at, tr_stmt **out)
{
	tr_stmt *s = tr_arena_alloc(&P->p->arena, sizeof *s);
	if (!s)
		return tr_err_at(P->err, TR_E_NOMEM, at->line, at->col, "out of memory");
	s->kind = (uint8_t)k;
	s->pos = (tr_pos){at->line, at->col};
	*out = s;
	return TR_OK;
}

/* ---- payload types ---- */

typedef struct sbuf {
	char b[1024];
	size_t n;
	bool over;
} sbuf;

static void
sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->n + n >= sizeof b->b) {
		b->over = true;
		return;
	}
	memcpy(b->b + b->n, s, n);
	b->n += n;
}

static void
sb_puts(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* A dotted type path (Int, api.Request) appended to b. */
static tr_status
type_path(parser *P, sbuf *b)
{
	const tr_tok *t = cur(P);
	if (t->kind != TK_IDENT)
		return unexpected(P, "a payload type");
	if (t->len == 6 && memcmp(P->src + t->off, "Result", 6) == 0)
		return unsupported(P, t, "Result types");
	if (t->len == 5 && memcmp(P->src + t->off, "Maybe", 5) == 0)
		return unsupported(P, t, "Maybe types");
	sb_put(b, P->src + t->off, t->len);
	advance(P);
	while (is(P, TK_DOT)) {
		advance(P);
		t = cur(P);
		if (t->kind != TK_IDENT)
			return unexpected(P, "a name after '.'");
		sb_puts(b, ".");
		sb_put(b, P->src + t->off, t->len);
		advance(P);
	}
	if (is(P, TK_LT))
		return unsupported(P, cur(P), "generic payload types (T<...>)");
	return TR_OK;
}

/* `(T)`, `(x : T, ...)`, `{ f : T, ... }`: one field is its type, several
 * become one opaque sort named by their canonical printed form, the fields
 * without the brackets ("x : Int, ok : Bool"), so that M(x : T, y : U) and
 * M { x : T, y : U } carry the same sort and print as M(x : T, y : U). */
static tr_status
payload_fields(parser *P, sbuf *b)
{
	bool brace = is(P, TK_LBRACE);
	tr_tok_kind close = brace ? TK_RBRACE : TK_RPAREN;
	advance(P);
	sbuf one = {0};
	uint32_t nfields = 0;
	tr_status st;
	while (!is(P, close)) {
		if (nfields)
			sb_puts(b, ", ");
		sbuf field = {0};
		if (cur(P)->kind == TK_IDENT && P->t[P->i + 1].kind == TK_COLON) {
			const tr_tok *t = cur(P);
			sb_put(b, P->src + t->off, t->len);
			sb_puts(b, " : ");
			advance(P);
			advance(P);
		} else if (brace)
			return unexpected(P, "a field name");
		if ((st = type_path(P, &field)))
			return st;
		sb_put(b, field.b, field.n);
		if (nfields == 0)
			one = field;
		nfields++;
		if (is(P, TK_COMMA))
			advance(P);
		else if (!is(P, close))
			return unexpected(P, brace ? "',' or '}'" : "',' or ')'");
	}
	advance(P);
	if (nfields == 0)
		b->n = 0;
	else if (nfields == 1)
		*b = one;
	return TR_OK;
}

/* message := Label [of Type] [payload] */
static tr_status
message(parser *P, tr_stmt *s)
{
	tr_status st;
	if ((st = name(P, "a message label", &s->label, &s->lpos)))
		return st;
	sbuf b = {0};
	const tr_tok *at = cur(P);
	if (is_kw(P, "of")) {
		advance(P);
		if ((st = type_path(P, &b)))
			return st;
	}
	if (is(P, TK_LPAREN) || is(P, TK_LBRACE)) {
		if (b.n)
			return tr_err_at(P->err, TR_E_SYNTAX, cur(P)->line, cur(P)->col,
			                 "a message has either `of T` or a payload, not both");
		if ((st = payload_fields(P, &b)))
			return st;
	}
	if (b.over)
		return tr_err_at(P->err, TR_E_LIMIT, at->line, at->col, "payload type too long");
	s->sort = TR_SORT_ID_UNIT;
	if (b.n && (st = tr_protocol_sort(P->p, b.b, b.n, &s->sort)))
		return tr_err_at(P->err, st, at->line, at->col, "out of memory");
	return TR_OK;
}

/* Sender records `A { k : v, ... }` are metadata: skipped to the '}'. */
static void
skip_record(parser *P)
{
	uint32_t depth = 0;
	do {
		if (is(P, TK_LBRACE) || is(P, TK_LPAREN) || is(P, TK_LBRACK))
			depth++;
		else if (is(P, TK_RBRACE) || is(P, TK_RPAREN) || is(P, TK_RBRACK))
			depth--;
		advance(P);
	} while (depth && !is(P, TK_EOF));
}

static tr_status end_line(parser *P)
{
	return expect(P, TK_NEWLINE, "end of line");
}

static tr_status block(parser *P, uint32_t depth, tr_stmt **out);
static tr_status statement(parser *P, uint32_t depth, tr_stmt **out);

static const char *const unsupported_stmts[][2] = {
	{"par", "parallel composition (par)"},
	{"case", "case ... of"},
	{"timeout", "timeout blocks"},
	{"let", "let bindings"},
	{"authoritative", "authoritative let"},
	{"observe", "observe let"},
	{"begin", "begin"},
	{"await", "await"},
	{"resolve", "resolve"},
	{"invalidate", "invalidate"},
	{"publish", "publish"},
	{"materialize", "materialize"},
	{"handoff", "handoff"},
	{"dependent", "dependent work"},
};

static tr_status
choice(parser *P, uint32_t depth, tr_stmt *s)
{
	tr_status st;
	advance(P); /* choice */
	if ((st = role_ref(P, &s->a, &s->apos)))
		return st;
	if (!is_kw(P, "at"))
		return unexpected(P, "'at'");
	advance(P);
	if ((st = end_line(P)))
		return st;
	if (!is(P, TK_INDENT))
		return unexpected(P, "the branches of the choice, indented");
	advance(P);
	tr_vec brs;
	tr_vec_init(&brs, sizeof(tr_sbranch));
	while (!is(P, TK_DEDENT) && !is(P, TK_EOF)) {
		tr_sbranch b = {0};
		if (!is(P, TK_BAR)) {
			st = unexpected(P, "'|' and a branch label");
			goto out;
		}
		advance(P);
		if ((st = name(P, "a branch label", &b.label, &b.pos)))
			goto out;
		if (is_kw(P, "when")) {
			st = unsupported(P, cur(P), "guards (when ...)");
			goto out;
		}
		if ((st = expect(P, TK_FAT, "'=>'")))
			goto out;
		if (is(P, TK_NEWLINE)) {
			advance(P);
			if (!is(P, TK_INDENT)) {
				st = unexpected(P, "the branch body, indented");
				goto out;
			}
			if ((st = block(P, depth + 1, &b.body)))
				goto out;
		} else if ((st = statement(P, depth + 1, &b.body)))
			goto out;
		if (brs.len >= TR_MAX_BRANCHES) {
			st = tr_err_at(P->err, TR_E_LIMIT, b.pos.line, b.pos.col,
			               "more than %d branches", TR_MAX_BRANCHES);
			goto out;
		}
		if (!tr_vec_push(&brs, P->p->a, &b)) {
			st = tr_err_at(P->err, TR_E_NOMEM, b.pos.line, b.pos.col, "out of memory");
			goto out;
		}
	}
	if (brs.len == 0) {
		st = unexpected(P, "a branch");
		goto out;
	}
	advance(P); /* dedent */
	s->br = tr_arena_alloc(&P->p->arena, (size_t)brs.len * sizeof(tr_sbranch));
	if (!s->br) {
		st = tr_err_at(P->err, TR_E_NOMEM, s->pos.line, s->pos.col, "out of memory");
		goto out;
	}
	memcpy(s->br, brs.data, (size_t)brs.len * sizeof(tr_sbranch));
	s->nbr = brs.len;
	st = TR_OK;
out:
	tr_vec_destroy(&brs, P->p->a);
	return st;
}

/* A statement, including its line end (or its block). */
static tr_status
statement(parser *P, uint32_t depth, tr_stmt **out)
{
	const tr_tok *t = cur(P);
	tr_status st;
	tr_stmt *s = NULL;
	if (depth > TR_MAX_NESTING)
		return tr_err_at(P->err, TR_E_LIMIT, t->line, t->col, "nesting deeper than %d levels",
		                 TR_MAX_NESTING);
	if (t->kind != TK_IDENT)
		return unexpected(P, "a statement");
	for (size_t k = 0; k < TR_ARRAY_LEN(unsupported_stmts); k++) {
		if (is_kw(P, unsupported_stmts[k][0]))
			return unsupported(P, t, unsupported_stmts[k][1]);
	}
	if (is_kw(P, "choice")) {
		if ((st = new_stmt(P, TR_S_CHOICE, t, &s)) || (st = choice(P, depth, s)))
			return st;
		*out = s;
		return TR_OK;
	}
	if (is_kw(P, "rec")) {
		if ((st = new_stmt(P, TR_S_REC, t, &s)))
			return st;
		advance(P);
		if ((st = name(P, "a recursion variable", &s->a, &s->apos)) ||
		    (st = end_line(P)))
			return st;
		if (!tr_vec_push(&P->f->recs, P->p->a, &s->a))
			return tr_err_at(P->err, TR_E_NOMEM, t->line, t->col, "out of memory");
		if (!is(P, TK_INDENT))
			return unexpected(P, "the body of rec, indented");
		if ((st = block(P, depth + 1, &s->body)))
			return st;
		*out = s;
		return TR_OK;
	}
	if (is_kw(P, "continue")) {
		if ((st = new_stmt(P, TR_S_CONTINUE, t, &s)))
			return st;
		advance(P);
		if ((st = name(P, "a recursion variable", &s->a, &s->apos)) || (st = end_line(P)))
			return st;
		*out = s;
		return TR_OK;
	}
	if (is_kw(P, "call")) {
		if ((st = new_stmt(P, TR_S_CALL, t, &s)))
			return st;
		advance(P);
		if ((st = name(P, "a protocol name", &s->a, &s->apos)))
			return st;
		if (is(P, TK_LPAREN))
			return unsupported(P, cur(P), "call arguments");
		if ((st = end_line(P)))
			return st;
		*out = s;
		return TR_OK;
	}
	if (is_kw(P, "loop")) {
		advance(P);
		const tr_tok *k = cur(P);
		if (is_kw(P, "decide")) {
			if ((st = new_stmt(P, TR_S_LOOP_DECIDE, t, &s)))
				return st;
			advance(P);
			if (!is_kw(P, "by"))
				return unexpected(P, "'by'");
			advance(P);
			if ((st = role_ref(P, &s->a, &s->apos)))
				return st;
		} else if (is_kw(P, "repeat")) {
			if ((st = new_stmt(P, TR_S_LOOP_REPEAT, t, &s)))
				return st;
			advance(P);
			const tr_tok *n = cur(P);
			if (n->kind == TK_IDENT)
				return unsupported(P, n, "symbolic repeat counts");
			if (n->kind != TK_INT)
				return unexpected(P, "a repeat count");
			uint64_t v = 0;
			for (uint32_t k2 = 0; k2 < n->len; k2++)
				v = v * 10 + (uint64_t)(P->src[n->off + k2] - '0');
			if (v > 100000)
				return tr_err_at(P->err, TR_E_LIMIT, n->line, n->col,
				                 "repeat count %llu is larger than 100000",
				                 (unsigned long long)v);
			s->count = (uint32_t)v;
			s->apos = (tr_pos){n->line, n->col};
			advance(P);
		} else if (is_kw(P, "forever")) {
			if ((st = new_stmt(P, TR_S_LOOP_FOREVER, t, &s)))
				return st;
			advance(P);
		} else if (is_kw(P, "while"))
			return unsupported(P, k, "loop while");
		else
			return unexpected(P, "'decide by', 'repeat' or 'forever'");
		if ((st = end_line(P)))
			return st;
		if (!is(P, TK_INDENT))
			return unexpected(P, "the body of the loop, indented");
		if ((st = block(P, depth + 1, &s->body)))
			return st;
		*out = s;
		return TR_OK;
	}
	if (is_reserved(P, t))
		return unexpected(P, "a statement");
	/* A send or a broadcast: Role [record] (-> Role | ->*) : message */
	uint32_t from;
	tr_pos fpos;
	if ((st = role_ref(P, &from, &fpos)))
		return st;
	if (is(P, TK_LBRACE))
		skip_record(P);
	if (is(P, TK_BCAST)) {
		if ((st = new_stmt(P, TR_S_BCAST, t, &s)))
			return st;
		advance(P);
	} else if (is(P, TK_ARROW)) {
		if ((st = new_stmt(P, TR_S_SEND, t, &s)))
			return st;
		advance(P);
		if (is(P, TK_OTHER) && P->src[cur(P)->off] == '*')
			return unsupported(P, cur(P), "broadcast written '-> *'");
		if ((st = role_ref(P, &s->b, &s->bpos)))
			return st;
	} else if (is(P, TK_LT) && P->t[P->i + 1].kind == TK_ARROW)
		return unsupported(P, cur(P), "'<->' exchanges");
	else
		return unexpected(P, "'->' or '->*'");
	s->a = from;
	s->apos = fpos;
	if ((st = expect(P, TK_COLON, "':'")) || (st = message(P, s)) || (st = end_line(P)))
		return st;
	*out = s;
	return TR_OK;
}

/* INDENT statement+ DEDENT, linked in order. */
static tr_status
block(parser *P, uint32_t depth, tr_stmt **out)
{
	tr_status st;
	const tr_tok *t = cur(P);
	if (depth > TR_MAX_NESTING)
		return tr_err_at(P->err, TR_E_LIMIT, t->line, t->col, "nesting deeper than %d levels",
		                 TR_MAX_NESTING);
	if ((st = expect(P, TK_INDENT, "an indented block")))
		return st;
	tr_stmt *head = NULL, **tail = &head;
	while (!is(P, TK_DEDENT) && !is(P, TK_EOF)) {
		tr_stmt *s;
		if ((st = statement(P, depth, &s)))
			return st;
		*tail = s;
		tail = &s->next;
	}
	advance(P);
	*out = head;
	return TR_OK;
}

static tr_status
role_decl(parser *P)
{
	tr_protocol *p = P->p;
	tr_status st;
	for (;;) {
		uint32_t id;
		tr_pos pos;
		if ((st = name(P, "a role name", &id, &pos)))
			return st;
		if (is(P, TK_LBRACK))
			return unsupported(P, cur(P), "role families (R[...])");
		for (uint32_t k = 0; k < p->nroles; k++) {
			if (p->role_name[k] == id)
				return tr_err_at(P->err, TR_E_WELLFORMED, pos.line, pos.col,
				                 "duplicate role %s (first declared at %u:%u)",
				                 tr_strtab_get(&p->strs, id), P->f->role_pos[k].line,
				                 P->f->role_pos[k].col);
		}
		if (p->nroles >= TR_MAX_ROLES)
			return tr_err_at(P->err, TR_E_LIMIT, pos.line, pos.col, "more than %d roles",
			                 TR_MAX_ROLES);
		P->f->role_pos[p->nroles] = pos;
		p->role_name[p->nroles++] = id;
		if (!is(P, TK_COMMA))
			return TR_OK;
		advance(P);
	}
}

/* protocol Name [(roles)] = NEWLINE INDENT [roles ...] stmts DEDENT */
static tr_status
protocol_head(parser *P, bool main, uint32_t *nm, tr_pos *pos, tr_stmt **body)
{
	tr_status st;
	if (!is_kw(P, "protocol"))
		return unexpected(P, "'protocol'");
	*pos = (tr_pos){cur(P)->line, cur(P)->col};
	advance(P);
	if ((st = name(P, "a protocol name", nm, NULL)))
		return st;
	if (is(P, TK_LPAREN)) {
		advance(P);
		if (main) {
			if ((st = role_decl(P)))
				return st;
		} else {
			/* A local protocol's header roles are the caller's: skipped. */
			while (!is(P, TK_RPAREN) && !is(P, TK_EOF))
				advance(P);
		}
		if ((st = expect(P, TK_RPAREN, "')'")))
			return st;
	}
	const char *clauses[] = {"requires", "uses", "under"};
	for (size_t k = 0; k < TR_ARRAY_LEN(clauses); k++)
		if (is_kw(P, clauses[k]))
			return unsupported(P, cur(P), "protocol requires/uses/under clauses");
	if ((st = expect(P, TK_EQ, "'='")))
		return st;
	if (is(P, TK_LBRACE) || is(P, TK_LPAREN))
		return unsupported(P, cur(P), "explicit braces for blocks (use indentation)");
	if ((st = end_line(P)))
		return st;
	if (!is(P, TK_INDENT))
		return unexpected(P, "the protocol body, indented");
	advance(P);
	if (is_kw(P, "roles")) {
		const tr_tok *t = cur(P);
		if (!main)
			return unsupported(P, t, "roles in a local protocol");
		if (P->p->nroles)
			return tr_err_at(P->err, TR_E_WELLFORMED, t->line, t->col,
			                 "roles are declared twice");
		advance(P);
		if ((st = role_decl(P)) || (st = end_line(P)))
			return st;
	} else if (main && P->p->nroles == 0)
		return unexpected(P, "'roles'");
	tr_stmt *head = NULL, **tail = &head;
	while (!is(P, TK_DEDENT) && !is(P, TK_EOF)) {
		tr_stmt *s;
		if (is_kw(P, "roles"))
			return tr_err_at(P->err, TR_E_SYNTAX, cur(P)->line, cur(P)->col,
			                 "roles must be declared first, once");
		if ((st = statement(P, 1, &s)))
			return st;
		*tail = s;
		tail = &s->next;
	}
	advance(P);
	*body = head;
	return TR_OK;
}

static const char *const unsupported_top[][2] = {
	{"module", "module declarations"},
	{"import", "imports"},
	{"type", "type declarations"},
	{"effect", "effect declarations"},
	{"profile", "profiles"},
	{"agreement_profile", "agreement profiles"},
	{"proof_bundle", "proof bundles"},
	{"role_set", "role sets"},
	{"cluster", "topology declarations"},
	{"ring", "topology declarations"},
	{"mesh", "topology declarations"},
	{"fragment", "fragments"},
	{"operation", "operations"},
	{"guest", "guest runtimes"},
};

tr_status
tr_parse_tokens(tr_protocol *p, const char *src, const tr_vec *toks, tr_sfile *f,
                tr_error *err)
{
	parser P = {p, src, toks->data, toks->len, 0, f, err};
	tr_status st;
	const tr_tok *t = cur(&P);
	if (t->kind == TK_EOF)
		return tr_err_at(err, TR_E_SYNTAX, 1, 1, "empty protocol file");
	if (t->kind == TK_INDENT)
		return tr_err_at(err, TR_E_SYNTAX, P.t[P.i].line, P.t[P.i].col,
		                 "unexpected indentation at the top level");
	for (size_t k = 0; k < TR_ARRAY_LEN(unsupported_top); k++)
		if (is_kw(&P, unsupported_top[k][0]) && P.t[P.i + 1].kind == TK_IDENT)
			return unsupported(&P, t, unsupported_top[k][1]);
	if ((st = protocol_head(&P, true, &p->name, &f->pos, &f->body)))
		return st;
	if (is_kw(&P, "where")) {
		advance(&P);
		if ((st = end_line(&P)))
			return st;
		bool indented = is(&P, TK_INDENT);
		if (indented)
			advance(&P);
		tr_vec locals;
		tr_vec_init(&locals, sizeof(tr_slocal));
		while (is_kw(&P, "protocol")) {
			tr_slocal l = {0};
			if ((st = protocol_head(&P, false, &l.name, &l.pos, &l.body)))
				goto locals_out;
			for (uint32_t k = 0; k < locals.len; k++)
				if (TR_VEC_AT(&locals, tr_slocal, k).name == l.name) {
					st = tr_err_at(err, TR_E_WELLFORMED, l.pos.line, l.pos.col,
					               "protocol %s is defined twice",
					               tr_strtab_get(&p->strs, l.name));
					goto locals_out;
				}
			if (!tr_vec_push(&locals, p->a, &l)) {
				st = tr_err_at(err, TR_E_NOMEM, l.pos.line, l.pos.col, "out of memory");
				goto locals_out;
			}
		}
		if (locals.len == 0) {
			st = unexpected(&P, "'protocol' after where");
			goto locals_out;
		}
		if (indented && (st = expect(&P, TK_DEDENT, "the end of the where block")))
			goto locals_out;
		f->locals = tr_arena_alloc(&p->arena, (size_t)locals.len * sizeof(tr_slocal));
		if (!f->locals) {
			st = tr_err_at(err, TR_E_NOMEM, f->pos.line, f->pos.col, "out of memory");
			goto locals_out;
		}
		memcpy(f->locals, locals.data, (size_t)locals.len * sizeof(tr_slocal));
		f->nlocals = locals.len;
		st = TR_OK;
	locals_out:
		tr_vec_destroy(&locals, p->a);
		if (st)
			return st;
	}
	if (!is(&P, TK_EOF)) {
		if (is_kw(&P, "protocol"))
			return tr_err_at(err, TR_E_UNSUPPORTED, cur(&P)->line, cur(&P)->col,
			                 "not supported yet: several protocols in one file (use where)");
		return unexpected(&P, "end of file");
	}
	return TR_OK;
}
