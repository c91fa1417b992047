/* core/lang/json.c: the origin's JSON exchange formats (rust/bridge).
 * Reading: a global type ({"kind":"comm","sender","receiver","branches":
 * [{"label":{"name","sort"},"continuation"}]}, "rec" {var, body}, "var"
 * {name}, "end") into p->global, roles in order of first appearance.
 * Printing: a local type in the origin's local shape ("send"/"recv" with
 * "partner", "rec", "var", "end"), pretty-printed with two-space indent
 * byte for byte as serde_json writes the golden files
 * (rust/bridge/golden/ * /X.expected.json). Sorts are spelled as the origin
 * spells them: unit, nat (troupe's integers), bool, string; opaque sorts by
 * their name. The reader recurses on JSON nesting, bounded by
 * JSON_MAX_DEPTH; the printer uses an explicit stack, since a local type is
 * as deep as its protocol is long. */
#include "lang_internal.h"

#include <stdio.h>

#define JSON_MAX_DEPTH 2048

/* ---- a small JSON DOM in p->arena ---- */

enum { JNULL, JBOOL, JNUM, JSTR, JARR, JOBJ };

typedef struct jv jv;
struct jv {
	uint8_t type;
	uint32_t line, col;
	char *s; /* JSTR: decoded, NUL-terminated; JOBJ: unused */
	size_t n;
	jv **items;   /* JARR / JOBJ values */
	char **keys;  /* JOBJ */
	uint32_t count;
};

typedef struct jparser {
	tr_protocol *p;
	const char *s;
	size_t n, i;
	uint32_t line;
	size_t ls;
	tr_error *err;
} jparser;

static uint32_t
jcol(const jparser *J)
{
	return (uint32_t)(J->i - J->ls + 1);
}

static tr_status
jerr(jparser *J, const char *what)
{
	return tr_err_at(J->err, TR_E_SYNTAX, J->line, jcol(J), "JSON: %s", what);
}

static void
ws(jparser *J)
{
	while (J->i < J->n) {
		char c = J->s[J->i];
		if (c == '\n') {
			J->line++;
			J->ls = J->i + 1;
		} else if (c != ' ' && c != '\t' && c != '\r')
			break;
		J->i++;
	}
}

static tr_status
jstring(jparser *J, char **out, size_t *outn)
{
	/* Decoded text is never longer than the source text. */
	size_t start = ++J->i, cap = 0;
	for (size_t k = start; k < J->n && J->s[k] != '"'; k++) {
		cap++;
		if (J->s[k] == '\\')
			k++;
	}
	char *b = tr_arena_alloc(&J->p->arena, cap * 3 + 1);
	if (!b)
		return tr_err_at(J->err, TR_E_NOMEM, J->line, jcol(J), "out of memory");
	size_t o = 0;
	for (;;) {
		if (J->i >= J->n)
			return jerr(J, "unterminated string");
		unsigned char c = (unsigned char)J->s[J->i];
		if (c == '"')
			break;
		if (c < 0x20)
			return jerr(J, "control character in string");
		if (c == '\\') {
			if (++J->i >= J->n)
				return jerr(J, "unterminated string");
			char e = J->s[J->i];
			switch (e) {
			case '"': b[o++] = '"'; break;
			case '\\': b[o++] = '\\'; break;
			case '/': b[o++] = '/'; break;
			case 'b': b[o++] = '\b'; break;
			case 'f': b[o++] = '\f'; break;
			case 'n': b[o++] = '\n'; break;
			case 'r': b[o++] = '\r'; break;
			case 't': b[o++] = '\t'; break;
			case 'u': {
				unsigned v = 0;
				for (int k = 1; k <= 4; k++) {
					char h = J->i + (size_t)k < J->n ? J->s[J->i + (size_t)k] : 0;
					int d = h >= '0' && h <= '9'   ? h - '0'
					        : h >= 'a' && h <= 'f' ? h - 'a' + 10
					        : h >= 'A' && h <= 'F' ? h - 'A' + 10
					                               : -1;
					if (d < 0)
						return jerr(J, "bad \\u escape");
					v = v * 16 + (unsigned)d;
				}
				J->i += 4;
				if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
					return jerr(J, "unsupported \\u escape (NUL or surrogate)");
				if (v < 0x80)
					b[o++] = (char)v;
				else if (v < 0x800) {
					b[o++] = (char)(0xC0 | (v >> 6));
					b[o++] = (char)(0x80 | (v & 0x3F));
				} else {
					b[o++] = (char)(0xE0 | (v >> 12));
					b[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
					b[o++] = (char)(0x80 | (v & 0x3F));
				}
				break;
			}
			default:
				return jerr(J, "bad escape in string");
			}
			J->i++;
			continue;
		}
		b[o++] = (char)c;
		J->i++;
	}
	J->i++;
	b[o] = 0;
	*out = b;
	*outn = o;
	return TR_OK;
}

static tr_status jvalue(jparser *J, uint32_t depth, jv **out);

static tr_status
jcontainer(jparser *J, jv *v, uint32_t depth)
{
	bool obj = v->type == JOBJ;
	char close = obj ? '}' : ']';
	tr_vec items, keys;
	tr_vec_init(&items, sizeof(jv *));
	tr_vec_init(&keys, sizeof(char *));
	tr_status st = TR_OK;
	J->i++;
	ws(J);
	if (J->i < J->n && J->s[J->i] == close) {
		J->i++;
		goto done;
	}
	for (;;) {
		ws(J);
		if (obj) {
			char *k;
			size_t kn;
			if (J->i >= J->n || J->s[J->i] != '"') {
				st = jerr(J, "expected a key");
				goto out;
			}
			if ((st = jstring(J, &k, &kn)))
				goto out;
			ws(J);
			if (J->i >= J->n || J->s[J->i] != ':') {
				st = jerr(J, "expected ':'");
				goto out;
			}
			J->i++;
			if (!tr_vec_push(&keys, J->p->a, &k)) {
				st = tr_err_at(J->err, TR_E_NOMEM, J->line, jcol(J), "out of memory");
				goto out;
			}
		}
		jv *item;
		if ((st = jvalue(J, depth + 1, &item)))
			goto out;
		if (!tr_vec_push(&items, J->p->a, &item)) {
			st = tr_err_at(J->err, TR_E_NOMEM, J->line, jcol(J), "out of memory");
			goto out;
		}
		ws(J);
		if (J->i < J->n && J->s[J->i] == ',') {
			J->i++;
			continue;
		}
		if (J->i < J->n && J->s[J->i] == close) {
			J->i++;
			break;
		}
		st = jerr(J, obj ? "expected ',' or '}'" : "expected ',' or ']'");
		goto out;
	}
done:
	v->count = items.len;
	if (items.len) {
		v->items = tr_arena_alloc(&J->p->arena, (size_t)items.len * sizeof(jv *));
		v->keys = obj ? tr_arena_alloc(&J->p->arena, (size_t)items.len * sizeof(char *)) : NULL;
		if (!v->items || (obj && !v->keys)) {
			st = tr_err_at(J->err, TR_E_NOMEM, J->line, jcol(J), "out of memory");
			goto out;
		}
		memcpy(v->items, items.data, (size_t)items.len * sizeof(jv *));
		if (obj)
			memcpy(v->keys, keys.data, (size_t)items.len * sizeof(char *));
	}
out:
	tr_vec_destroy(&items, J->p->a);
	tr_vec_destroy(&keys, J->p->a);
	return st;
}

static tr_status
jvalue(jparser *J, uint32_t depth, jv **out)
{
	ws(J);
	if (depth > JSON_MAX_DEPTH)
		return tr_err_at(J->err, TR_E_LIMIT, J->line, jcol(J), "JSON nested deeper than %d",
		                 JSON_MAX_DEPTH);
	if (J->i >= J->n)
		return jerr(J, "unexpected end of input");
	jv *v = tr_arena_alloc(&J->p->arena, sizeof *v);
	if (!v)
		return tr_err_at(J->err, TR_E_NOMEM, J->line, jcol(J), "out of memory");
	v->line = J->line;
	v->col = jcol(J);
	*out = v;
	char c = J->s[J->i];
	if (c == '{' || c == '[') {
		v->type = c == '{' ? JOBJ : JARR;
		return jcontainer(J, v, depth);
	}
	if (c == '"') {
		v->type = JSTR;
		return jstring(J, &v->s, &v->n);
	}
	static const char *const words[] = {"null", "true", "false"};
	for (int k = 0; k < 3; k++) {
		size_t wl = strlen(words[k]);
		if (J->n - J->i >= wl && memcmp(J->s + J->i, words[k], wl) == 0) {
			v->type = k == 0 ? JNULL : JBOOL;
			J->i += wl;
			return TR_OK;
		}
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		v->type = JNUM;
		while (J->i < J->n && strchr("+-0123456789.eE", J->s[J->i]))
			J->i++;
		return TR_OK;
	}
	return jerr(J, "unexpected character");
}

/* ---- JSON -> global type ---- */

typedef struct jconv {
	tr_protocol *p;
	tr_error *err;
	struct {
		uint32_t var;
		tr_gtype *rec;
	} sc[JSON_MAX_DEPTH];
	uint32_t nsc;
} jconv;

static jv *
member(const jv *o, const char *key)
{
	for (uint32_t i = 0; i < o->count; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	return NULL;
}

static tr_status
need(jconv *C, const jv *o, const char *key, uint8_t type, jv **out)
{
	jv *v = member(o, key);
	if (!v || v->type != type)
		return tr_err_at(C->err, TR_E_SYNTAX, o->line, o->col, "JSON: expected \"%s\" (%s)", key,
		                 type == JSTR ? "a string" : type == JARR ? "an array" : "an object");
	*out = v;
	return TR_OK;
}

static tr_status
role_of(jconv *C, const jv *s, uint16_t *out)
{
	tr_protocol *p = C->p;
	uint32_t id;
	if (s->n == 0 || s->n > TR_MAX_IDENT)
		return tr_err_at(C->err, s->n ? TR_E_LIMIT : TR_E_SYNTAX, s->line, s->col,
		                 "JSON: role name empty or longer than %d bytes", TR_MAX_IDENT);
	if (tr_strtab_intern(&p->strs, s->s, s->n, &id))
		return tr_err_at(C->err, TR_E_NOMEM, s->line, s->col, "out of memory");
	for (uint32_t r = 0; r < p->nroles; r++)
		if (p->role_name[r] == id) {
			*out = (uint16_t)r;
			return TR_OK;
		}
	if (p->nroles >= TR_MAX_ROLES)
		return tr_err_at(C->err, TR_E_LIMIT, s->line, s->col, "more than %d roles", TR_MAX_ROLES);
	p->role_name[p->nroles] = id;
	*out = (uint16_t)p->nroles++;
	return TR_OK;
}

static tr_status
sort_of(jconv *C, const jv *label, uint32_t *out)
{
	jv *s = member(label, "sort");
	*out = TR_SORT_ID_UNIT;
	if (!s)
		return TR_OK;
	static const char *const map[][2] = {
		{"unit", "Unit"}, {"nat", "Nat"}, {"bool", "Bool"}, {"string", "String"}};
	if (s->type == JSTR)
		for (size_t k = 0; k < TR_ARRAY_LEN(map); k++)
			if (strcmp(s->s, map[k][0]) == 0) {
				if (tr_protocol_sort(C->p, map[k][1], strlen(map[k][1]), out))
					return tr_err_at(C->err, TR_E_NOMEM, s->line, s->col, "out of memory");
				return TR_OK;
			}
	return tr_err_at(C->err, TR_E_UNSUPPORTED, s->line, s->col,
	                 "not supported yet: payload sort %s (only unit, nat, bool, string)",
	                 s->type == JSTR ? s->s : "(composite)");
}

static tr_status
conv(jconv *C, const jv *v, tr_gtype **out)
{
	tr_protocol *p = C->p;
	tr_status st;
	jv *kind;
	if (v->type != JOBJ)
		return tr_err_at(C->err, TR_E_SYNTAX, v->line, v->col, "JSON: expected an object");
	if ((st = need(C, v, "kind", JSTR, &kind)))
		return st;
	tr_gtype *g;
	if (strcmp(kind->s, "end") == 0)
		return tr_gtype_new(p, TR_G_END, v->line, v->col, out, C->err);
	if (strcmp(kind->s, "var") == 0) {
		jv *name;
		if ((st = need(C, v, "name", JSTR, &name)))
			return st;
		uint32_t id;
		if (tr_strtab_intern(&p->strs, name->s, name->n, &id))
			return tr_err_at(C->err, TR_E_NOMEM, v->line, v->col, "out of memory");
		for (uint32_t i = C->nsc; i-- > 0;)
			if (C->sc[i].var == id) {
				if ((st = tr_gtype_new(p, TR_G_VAR, v->line, v->col, &g, C->err)))
					return st;
				g->u.rec.var = id;
				g->u.rec.body = C->sc[i].rec;
				*out = g;
				return TR_OK;
			}
		return tr_err_at(C->err, TR_E_WELLFORMED, name->line, name->col,
		                 "variable %s is not bound by an enclosing rec", name->s);
	}
	if (strcmp(kind->s, "rec") == 0) {
		jv *var, *body;
		if ((st = need(C, v, "var", JSTR, &var)) || (st = need(C, v, "body", JOBJ, &body)))
			return st;
		if ((st = tr_gtype_new(p, TR_G_REC, v->line, v->col, &g, C->err)))
			return st;
		if (tr_strtab_intern(&p->strs, var->s, var->n, &g->u.rec.var))
			return tr_err_at(C->err, TR_E_NOMEM, v->line, v->col, "out of memory");
		if (C->nsc >= JSON_MAX_DEPTH)
			return tr_err_at(C->err, TR_E_LIMIT, v->line, v->col, "recursion nested too deeply");
		C->sc[C->nsc].var = g->u.rec.var;
		C->sc[C->nsc++].rec = g;
		st = conv(C, body, &g->u.rec.body);
		C->nsc--;
		*out = g;
		return st;
	}
	if (strcmp(kind->s, "comm") != 0)
		return tr_err_at(C->err, TR_E_UNSUPPORTED, kind->line, kind->col,
		                 "not supported yet: global type kind \"%s\"", kind->s);
	jv *snd, *rcv, *brs;
	if ((st = need(C, v, "sender", JSTR, &snd)) || (st = need(C, v, "receiver", JSTR, &rcv)) ||
	    (st = need(C, v, "branches", JARR, &brs)))
		return st;
	if ((st = tr_gtype_new(p, TR_G_COMM, v->line, v->col, &g, C->err)))
		return st;
	if ((st = role_of(C, snd, &g->u.comm.from)) || (st = role_of(C, rcv, &g->u.comm.to)))
		return st;
	if (brs->count == 0 || brs->count > TR_MAX_BRANCHES)
		return tr_err_at(C->err, brs->count ? TR_E_LIMIT : TR_E_WELLFORMED, brs->line, brs->col,
		                 "a message needs 1 to %d branches", TR_MAX_BRANCHES);
	g->u.comm.nbr = brs->count;
	g->u.comm.br = tr_arena_alloc(&p->arena, (size_t)brs->count * sizeof(tr_gbranch));
	if (!g->u.comm.br)
		return tr_err_at(C->err, TR_E_NOMEM, v->line, v->col, "out of memory");
	for (uint32_t i = 0; i < brs->count; i++) {
		jv *b = brs->items[i], *label, *name, *cont;
		if (b->type != JOBJ)
			return tr_err_at(C->err, TR_E_SYNTAX, b->line, b->col, "JSON: expected a branch object");
		if ((st = need(C, b, "label", JOBJ, &label)) || (st = need(C, label, "name", JSTR, &name)) ||
		    (st = need(C, b, "continuation", JOBJ, &cont)))
			return st;
		tr_gbranch *gb = &g->u.comm.br[i];
		gb->line = name->line;
		gb->col = name->col;
		if (name->n == 0 || name->n > TR_MAX_IDENT)
			return tr_err_at(C->err, name->n ? TR_E_LIMIT : TR_E_SYNTAX, name->line, name->col,
			                 "JSON: label empty or longer than %d bytes", TR_MAX_IDENT);
		if (tr_strtab_intern(&p->strs, name->s, name->n, &gb->label))
			return tr_err_at(C->err, TR_E_NOMEM, v->line, v->col, "out of memory");
		if ((st = sort_of(C, label, &gb->sort)) || (st = conv(C, cont, &gb->cont)))
			return st;
	}
	*out = g;
	return TR_OK;
}

tr_status
tr_json_read(tr_protocol *p, const char *text, size_t len, tr_error *err)
{
	jparser J = {p, text, len, 0, 1, 0, err};
	jv *root;
	tr_status st;
	if (len == 0 || memchr(text, 0, len))
		return tr_err_at(err, TR_E_SYNTAX, 1, 1, len ? "JSON: NUL byte" : "empty JSON input");
	if ((st = jvalue(&J, 0, &root)))
		return st;
	ws(&J);
	if (J.i != J.n)
		return jerr(&J, "trailing characters after the value");
	if (tr_strtab_intern(&p->strs, "json", 4, &p->name))
		return tr_err(err, TR_E_NOMEM, "out of memory");
	jconv *C = tr_calloc(p->a, 1, sizeof *C);
	if (!C)
		return tr_err(err, TR_E_NOMEM, "out of memory");
	C->p = p;
	C->err = err;
	st = conv(C, root, &p->global);
	tr_free(p->a, C, sizeof *C);
	return st;
}

/* ---- local type -> JSON ---- */

static void
pad(FILE *f, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		fputc(' ', f);
}

static void
jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *
sort_json(const tr_protocol *p, uint32_t sort)
{
	const tr_sort *s = &TR_VEC_AT(&p->sorts, tr_sort, sort);
	switch (s->kind) {
	case TR_SORT_UNIT: return "unit";
	case TR_SORT_BOOL: return "bool";
	case TR_SORT_INT: return "nat";
	case TR_SORT_STRING: return "string";
	default: return tr_strtab_get(&p->strs, s->name);
	}
}

typedef struct jframe {
	uint32_t node, ind, i;
} jframe;

#define JF_START UINT32_MAX
/* The origin's shape nests every message one level deeper and indents it:
 * output grows with the square of the depth, and shared nodes print once
 * per path. Bound both; beyond them printing stops with TR_E_LIMIT. */
#define JSON_PRINT_MAX_DEPTH 1024
#define JSON_PRINT_MAX_NODES (1u << 20)

tr_status
tr_json_print_local(const tr_protocol *p, uint32_t node, FILE *f)
{
	tr_vec st;
	tr_vec_init(&st, sizeof(jframe));
	jframe top = {node, 0, JF_START};
	if (!tr_vec_push(&st, p->a, &top))
		return TR_E_NOMEM;
	tr_status rc = TR_OK;
	uint32_t printed = 0;
	while (st.len) {
		jframe *fr = &TR_VEC_AT(&st, jframe, st.len - 1);
		const tr_lnode *n = tr_lnode_at(&p->local, fr->node);
		uint32_t ind = fr->ind;
		jframe child = {TR_LNONE, 0, JF_START};
		if (fr->i == JF_START) {
			if (++printed > JSON_PRINT_MAX_NODES || st.len > JSON_PRINT_MAX_DEPTH) {
				rc = TR_E_LIMIT;
				break;
			}
			fputs("{\n", f);
			pad(f, ind + 2);
			switch (n->kind) {
			case TR_L_END:
				fputs("\"kind\": \"end\"\n", f);
				pad(f, ind);
				fputc('}', f);
				st.len--;
				continue;
			case TR_L_VAR:
				fputs("\"kind\": \"var\",\n", f);
				pad(f, ind + 2);
				fputs("\"name\": ", f);
				jstr(f, tr_strtab_get(&p->strs, n->var));
				fputc('\n', f);
				pad(f, ind);
				fputc('}', f);
				st.len--;
				continue;
			case TR_L_REC:
				fputs("\"kind\": \"rec\",\n", f);
				pad(f, ind + 2);
				fputs("\"var\": ", f);
				jstr(f, tr_strtab_get(&p->strs, n->var));
				fputs(",\n", f);
				pad(f, ind + 2);
				fputs("\"body\": ", f);
				fr->i = 0;
				child = (jframe){n->body, ind + 2, JF_START};
				break;
			default:
				fprintf(f, "\"kind\": \"%s\",\n", n->kind == TR_L_SEND ? "send" : "recv");
				pad(f, ind + 2);
				fputs("\"partner\": ", f);
				jstr(f, tr_strtab_get(&p->strs, p->role_name[n->peer]));
				fputs(",\n", f);
				pad(f, ind + 2);
				fputs("\"branches\": [\n", f);
				fr->i = 0;
				break;
			}
		} else if (n->kind == TR_L_REC) {
			fputc('\n', f);
			pad(f, ind);
			fputc('}', f);
			st.len--;
			continue;
		}
		if (n->kind == TR_L_SEND || n->kind == TR_L_RECV) {
			uint32_t k = fr->i;
			if (k > 0) {
				fputc('\n', f);
				pad(f, ind + 4);
				fputs(k < n->nbr ? "},\n" : "}\n", f);
			}
			if (k == n->nbr) {
				pad(f, ind + 2);
				fputs("]\n", f);
				pad(f, ind);
				fputc('}', f);
				st.len--;
				continue;
			}
			const tr_lbranch *b = tr_lbranch_at(&p->local, n->br + k);
			pad(f, ind + 4);
			fputs("{\n", f);
			pad(f, ind + 6);
			fputs("\"label\": {\n", f);
			pad(f, ind + 8);
			fputs("\"name\": ", f);
			jstr(f, tr_strtab_get(&p->strs, b->label));
			fputs(",\n", f);
			pad(f, ind + 8);
			fputs("\"sort\": ", f);
			jstr(f, sort_json(p, b->sort));
			fputc('\n', f);
			pad(f, ind + 6);
			fputs("},\n", f);
			pad(f, ind + 6);
			fputs("\"continuation\": ", f);
			fr->i = k + 1;
			child = (jframe){b->cont, ind + 6, JF_START};
		}
		if (child.node != TR_LNONE && !tr_vec_push(&st, p->a, &child)) {
			rc = TR_E_NOMEM;
			break;
		}
	}
	fputc('\n', f);
	tr_vec_destroy(&st, p->a);
	if (!rc && ferror(f))
		rc = TR_E_IO;
	return rc;
}
