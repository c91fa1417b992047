/* core/lang/lexer.c: the layout-sensitive lexer of the `.tell` subset.
 *
 * Layout (as the origin's rust/language/src/compiler/layout.rs): blocks are
 * made by indentation with spaces; a tab in indentation is an error; a line
 * that starts with `->` or `{` continues the previous one (so a sender on
 * its own line, `Alice` / `  -> Bob : Ping`, is one statement); inside open
 * brackets indentation means nothing. Lines are ended by TK_NEWLINE, which
 * is emitted lazily, at the start of the next code line that is not a
 * continuation, followed by its TK_INDENT / TK_DEDENTs. Comments run from
 * `--` to the end of the line. This file does not know statements. */
#include "lang_internal.h"

typedef struct lexer {
	const char *s;
	size_t n, i;
	uint32_t line;
	size_t line_start;
	const tr_allocator *a;
	tr_vec *toks;
	tr_error *err;
	uint32_t indent[TR_MAX_NESTING + 1];
	uint32_t nindent;
	tr_pos open[TR_MAX_NESTING]; /* positions of open brackets */
	uint32_t nopen;
} lexer;

static uint32_t
col_of(const lexer *L, size_t i)
{
	size_t c = i - L->line_start + 1;
	return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

static tr_status
emit(lexer *L, tr_tok_kind k, size_t off, size_t len)
{
	tr_tok t = {(uint8_t)k, L->line, col_of(L, off), (uint32_t)off, (uint32_t)len};
	if (!tr_vec_push(L->toks, L->a, &t))
		return tr_err_at(L->err, TR_E_NOMEM, L->line, col_of(L, off), "out of memory");
	return TR_OK;
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Length of the valid UTF-8 sequence at s[i], or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n, size_t i)
{
	unsigned char c = s[i];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (n - i < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[i + k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i + k] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* Lay out the code line starting at L->i (its indentation is ind). */
static tr_status
layout(lexer *L, uint32_t ind, bool first)
{
	tr_status st;
	if (!first && (st = emit(L, TK_NEWLINE, L->i, 0)))
		return st;
	uint32_t top = L->indent[L->nindent - 1];
	if (ind > top) {
		if (L->nindent > TR_MAX_NESTING)
			return tr_err_at(L->err, TR_E_LIMIT, L->line, ind + 1,
			                 "nesting deeper than %d levels", TR_MAX_NESTING);
		L->indent[L->nindent++] = ind;
		return emit(L, TK_INDENT, L->i, 0);
	}
	while (ind < L->indent[L->nindent - 1]) {
		L->nindent--;
		if ((st = emit(L, TK_DEDENT, L->i, 0)))
			return st;
	}
	if (ind != L->indent[L->nindent - 1])
		return tr_err_at(L->err, TR_E_SYNTAX, L->line, ind + 1,
		                 "inconsistent indentation: column %u matches no enclosing block",
		                 ind + 1);
	return TR_OK;
}

/* Tokens of one line from L->i up to the newline (not consumed). */
static tr_status
line_tokens(lexer *L)
{
	const unsigned char *s = (const unsigned char *)L->s;
	tr_status st;
	while (L->i < L->n && s[L->i] != '\n') {
		size_t i = L->i;
		unsigned char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r') {
			L->i++;
			continue;
		}
		if (c == '-' && i + 1 < L->n && s[i + 1] == '-') {
			while (L->i < L->n && s[L->i] != '\n')
				L->i++;
			break;
		}
		if (c == '{' && i + 1 < L->n && s[i + 1] == '-')
			return tr_err_at(L->err, TR_E_UNSUPPORTED, L->line, col_of(L, i),
			                 "not supported yet: block comments {- -}");
		if (is_alpha(c)) {
			size_t j = i;
			while (j < L->n && (is_alpha(s[j]) || is_digit(s[j]) || s[j] == '_'))
				j++;
			if (j - i > TR_MAX_IDENT)
				return tr_err_at(L->err, TR_E_LIMIT, L->line, col_of(L, i),
				                 "identifier longer than %d bytes", TR_MAX_IDENT);
			if ((st = emit(L, TK_IDENT, i, j - i)))
				return st;
			L->i = j;
			continue;
		}
		if (is_digit(c)) {
			size_t j = i;
			while (j < L->n && is_digit(s[j]))
				j++;
			if (j - i > 19)
				return tr_err_at(L->err, TR_E_LIMIT, L->line, col_of(L, i),
				                 "number too large");
			if ((st = emit(L, TK_INT, i, j - i)))
				return st;
			L->i = j;
			continue;
		}
		if (c == '"') {
			size_t j = i + 1;
			while (j < L->n && s[j] != '"' && s[j] != '\n') {
				size_t u = utf8_len(s, L->n, j);
				if (!u)
					return tr_err_at(L->err, TR_E_SYNTAX, L->line, col_of(L, j),
					                 "invalid UTF-8 (binary file?)");
				j += u;
			}
			if (j >= L->n || s[j] != '"')
				return tr_err_at(L->err, TR_E_SYNTAX, L->line, col_of(L, i),
				                 "unterminated string");
			if ((st = emit(L, TK_STRING, i, j + 1 - i)))
				return st;
			L->i = j + 1;
			continue;
		}
		tr_tok_kind k = TK_OTHER;
		size_t len = 1;
		switch (c) {
		case '-':
			if (i + 1 < L->n && s[i + 1] == '>') {
				k = TK_ARROW;
				len = 2;
				if (i + 2 < L->n && s[i + 2] == '*') {
					k = TK_BCAST;
					len = 3;
				}
			}
			break;
		case '=':
			k = TK_EQ;
			if (i + 1 < L->n && s[i + 1] == '>') {
				k = TK_FAT;
				len = 2;
			}
			break;
		case ':': k = TK_COLON; break;
		case ',': k = TK_COMMA; break;
		case '|': k = TK_BAR; break;
		case '(': k = TK_LPAREN; break;
		case ')': k = TK_RPAREN; break;
		case '{': k = TK_LBRACE; break;
		case '}': k = TK_RBRACE; break;
		case '[': k = TK_LBRACK; break;
		case ']': k = TK_RBRACK; break;
		case '.': k = TK_DOT; break;
		case '<': k = TK_LT; break;
		case '>': k = TK_GT; break;
		default:
			if (c >= 0x80) {
				size_t u = utf8_len(s, L->n, i);
				if (!u)
					return tr_err_at(L->err, TR_E_SYNTAX, L->line, col_of(L, i),
					                 "invalid UTF-8 (binary file?)");
				len = u;
			} else if (c < 0x20 || c == 0x7F)
				return tr_err_at(L->err, TR_E_SYNTAX, L->line, col_of(L, i),
				                 "control character 0x%02x (binary file?)", c);
			break;
		}
		if (k == TK_LPAREN || k == TK_LBRACE || k == TK_LBRACK) {
			if (L->nopen >= TR_MAX_NESTING)
				return tr_err_at(L->err, TR_E_LIMIT, L->line, col_of(L, i),
				                 "brackets nested deeper than %d levels", TR_MAX_NESTING);
			L->open[L->nopen++] = (tr_pos){L->line, col_of(L, i)};
		} else if (k == TK_RPAREN || k == TK_RBRACE || k == TK_RBRACK) {
			if (L->nopen == 0)
				return tr_err_at(L->err, TR_E_SYNTAX, L->line, col_of(L, i),
				                 "unmatched closing '%c'", c);
			L->nopen--;
		}
		if ((st = emit(L, k, i, len)))
			return st;
		L->i = i + len;
	}
	return TR_OK;
}

tr_status
tr_lex(const char *src, size_t len, const tr_allocator *a, tr_vec *toks, tr_error *err)
{
	lexer L = {.s = src, .n = len, .line = 1, .a = a, .toks = toks, .err = err};
	L.indent[0] = 0;
	L.nindent = 1;
	tr_vec_init(toks, sizeof(tr_tok));
	tr_status st = TR_OK;
	const char *nul = memchr(src, 0, len);
	if (nul) {
		/* Report the NUL where it is, so a binary file points at itself. */
		uint32_t line = 1;
		size_t ls = 0;
		for (size_t i = 0; i < (size_t)(nul - src); i++)
			if (src[i] == '\n') {
				line++;
				ls = i + 1;
			}
		st = tr_err_at(err, TR_E_SYNTAX, line, (uint32_t)((size_t)(nul - src) - ls + 1),
		               "NUL byte (binary file?)");
		goto fail;
	}
	bool first = true;
	while (L.i < L.n) {
		L.line_start = L.i;
		uint32_t ind = 0;
		size_t j = L.i;
		while (j < L.n && (src[j] == ' ' || src[j] == '\t')) {
			if (src[j] == '\t') {
				st = tr_err_at(err, TR_E_SYNTAX, L.line, col_of(&L, j),
				               "tab in indentation (use spaces)");
				goto fail;
			}
			ind++;
			j++;
		}
		while (j < L.n && src[j] == '\r')
			j++;
		bool blank = j >= L.n || src[j] == '\n' ||
		             (src[j] == '-' && j + 1 < L.n && src[j + 1] == '-');
		if (!blank) {
			bool cont = L.nopen > 0 || src[j] == '{' ||
			            (src[j] == '-' && j + 1 < L.n && src[j + 1] == '>');
			L.i = j;
			if (first && cont && L.nopen == 0) {
				st = tr_err_at(err, TR_E_SYNTAX, L.line, ind + 1,
				               "a continuation line with nothing to continue");
				goto fail;
			}
			if (!cont && (st = layout(&L, ind, first)))
				goto fail;
			first = false;
			if ((st = line_tokens(&L)))
				goto fail;
		} else {
			L.i = j;
			while (L.i < L.n && src[L.i] != '\n')
				L.i++;
		}
		if (L.i < L.n) {
			L.i++; /* the newline */
			L.line++;
		}
	}
	L.line_start = L.i;
	if (L.nopen) {
		tr_pos o = L.open[L.nopen - 1];
		st = tr_err_at(err, TR_E_SYNTAX, o.line, o.col, "bracket is never closed");
		goto fail;
	}
	if (!first && (st = emit(&L, TK_NEWLINE, L.i, 0)))
		goto fail;
	while (L.nindent > 1) {
		L.nindent--;
		if ((st = emit(&L, TK_DEDENT, L.i, 0)))
			goto fail;
	}
	if ((st = emit(&L, TK_EOF, L.i, 0)))
		goto fail;
	return TR_OK;
fail:
	tr_vec_destroy(toks, a);
	return st;
}
