/* core/lang/protocol.c: the tr_protocol object: allocation, the sort table,
 * the parse entry points (text and JSON) that run lexer -> parser ->
 * desugar -> check -> project, accessors and printers. The stages
 * themselves live in their own files. */
#include "lang_internal.h"

#include <stdio.h>

static const struct {
	const char *name;
	tr_sort_kind kind;
} sort_names[] = {
	{"Unit", TR_SORT_UNIT},     {"Bool", TR_SORT_BOOL},     {"Int", TR_SORT_INT},
	{"Nat", TR_SORT_INT},       {"Int8", TR_SORT_INT},      {"Int16", TR_SORT_INT},
	{"Int32", TR_SORT_INT},     {"Int64", TR_SORT_INT},     {"UInt8", TR_SORT_INT},
	{"UInt16", TR_SORT_INT},    {"UInt32", TR_SORT_INT},    {"UInt64", TR_SORT_INT},
	{"i8", TR_SORT_INT},        {"i16", TR_SORT_INT},       {"i32", TR_SORT_INT},
	{"i64", TR_SORT_INT},       {"u8", TR_SORT_INT},        {"u16", TR_SORT_INT},
	{"u32", TR_SORT_INT},       {"u64", TR_SORT_INT},       {"String", TR_SORT_STRING},
	{"bool", TR_SORT_BOOL},
};

tr_status
tr_protocol_sort(tr_protocol *p, const char *name, size_t n, uint32_t *id)
{
	uint32_t sid;
	tr_status st = tr_strtab_intern(&p->strs, name, n, &sid);
	if (st)
		return st;
	for (uint32_t i = 0; i < p->sorts.len; i++)
		if (TR_VEC_AT(&p->sorts, tr_sort, i).name == sid) {
			*id = i;
			return TR_OK;
		}
	tr_sort s = {TR_SORT_OPAQUE, sid};
	for (size_t i = 0; i < TR_ARRAY_LEN(sort_names); i++)
		if (strlen(sort_names[i].name) == n && memcmp(sort_names[i].name, name, n) == 0)
			s.kind = (uint8_t)sort_names[i].kind;
	if (!tr_vec_push(&p->sorts, p->a, &s))
		return TR_E_NOMEM;
	*id = p->sorts.len - 1;
	return TR_OK;
}

tr_status
tr_protocol_alloc(const tr_allocator *a, tr_protocol **out)
{
	a = tr_alloc_or_default(a);
	*out = NULL;
	tr_protocol *p = tr_calloc(a, 1, sizeof *p);
	if (!p)
		return TR_E_NOMEM;
	p->a = a;
	tr_arena_init(&p->arena, a);
	tr_strtab_init(&p->strs, a);
	tr_vec_init(&p->sorts, sizeof(tr_sort));
	tr_lpool_init(&p->local);
	uint32_t id;
	if (tr_protocol_sort(p, "Unit", 4, &id)) {
		tr_protocol_free(p);
		return TR_E_NOMEM;
	}
	TR_ASSERT(id == TR_SORT_ID_UNIT);
	*out = p;
	return TR_OK;
}

tr_status
tr_gtype_new(tr_protocol *p, tr_gkind kind, uint32_t line, uint32_t col, tr_gtype **out,
             tr_error *err)
{
	if (p->ngnodes >= TR_MAX_GNODES)
		return tr_err_at(err, TR_E_LIMIT, line, col,
		                 "protocol too large: more than %u global type nodes (after unrolling)",
		                 TR_MAX_GNODES);
	tr_gtype *g = tr_arena_alloc(&p->arena, sizeof *g);
	if (!g)
		return tr_err_at(err, TR_E_NOMEM, line, col, "out of memory");
	g->kind = (uint8_t)kind;
	g->line = line;
	g->col = col;
	g->id = p->ngnodes++;
	*out = g;
	return TR_OK;
}

/* Errors from the stages carry the status; make sure NOMEM without a
 * position still says where it happened as well as we know. */
static tr_status
finish(tr_protocol *p, tr_status st, const char *name, tr_protocol **out, tr_error *err)
{
	if (st) {
		if (err && name)
			tr_err_file(err, name);
		tr_protocol_free(p);
		return st;
	}
	*out = p;
	return TR_OK;
}

static tr_status
prepare(const char *text, const char *name, tr_protocol **out, tr_error *err)
{
	if (err) {
		tr_error_clear(err);
		tr_err_file(err, name);
	}
	if (!out)
		return tr_err(err, TR_E_INVALID, "out is NULL");
	*out = NULL;
	if (!text)
		return tr_err(err, TR_E_INVALID, "text is NULL");
	return TR_OK;
}

tr_status
tr_protocol_parse(const char *text, size_t len, const char *name, const tr_allocator *a,
                  tr_protocol **out, tr_error *err)
{
	tr_status st = prepare(text, name, out, err);
	if (st)
		return st;
	if (len > TR_MAX_SOURCE)
		return tr_err_at(err, TR_E_LIMIT, 1, 1, "protocol text larger than %u bytes",
		                 (unsigned)TR_MAX_SOURCE);
	tr_protocol *p;
	if (tr_protocol_alloc(a, &p))
		return tr_err(err, TR_E_NOMEM, "out of memory");
	tr_vec toks;
	st = tr_lex(text, len, p->a, &toks, err);
	if (!st) {
		tr_sfile f = {0};
		tr_vec_init(&f.recs, sizeof(uint32_t));
		st = tr_parse_tokens(p, text, &toks, &f, err);
		tr_vec_destroy(&toks, p->a);
		if (!st)
			st = tr_desugar(p, &f, err);
		if (!st)
			st = tr_protocol_check(p, err);
		if (!st)
			st = tr_protocol_project(p, err);
		tr_vec_destroy(&f.recs, p->a);
	}
	return finish(p, st, name, out, err);
}

tr_status
tr_protocol_parse_file(const char *path, const tr_allocator *a, tr_protocol **out,
                       tr_error *err)
{
	tr_status st = prepare("", path, out, err);
	if (st)
		return st;
	if (!path)
		return tr_err(err, TR_E_INVALID, "path is NULL");
	char *buf;
	size_t len;
	if ((st = tr_read_file(path, a, &buf, &len, err)))
		return st;
	st = tr_protocol_parse(buf, len, path, a, out, err);
	tr_free(a, buf, len + 1);
	return st;
}

tr_status
tr_protocol_parse_json(const char *text, size_t len, const char *name, const tr_allocator *a,
                       tr_protocol **out, tr_error *err)
{
	tr_status st = prepare(text, name, out, err);
	if (st)
		return st;
	if (len > TR_MAX_SOURCE)
		return tr_err_at(err, TR_E_LIMIT, 1, 1, "JSON text larger than %u bytes",
		                 (unsigned)TR_MAX_SOURCE);
	tr_protocol *p;
	if (tr_protocol_alloc(a, &p))
		return tr_err(err, TR_E_NOMEM, "out of memory");
	st = tr_json_read(p, text, len, err);
	if (!st)
		st = tr_protocol_check(p, err);
	if (!st)
		st = tr_protocol_project(p, err);
	return finish(p, st, name, out, err);
}

void
tr_protocol_free(tr_protocol *p)
{
	if (!p)
		return;
	const tr_allocator *a = p->a;
	tr_lpool_destroy(&p->local, a);
	tr_vec_destroy(&p->sorts, a);
	tr_strtab_destroy(&p->strs);
	tr_arena_destroy(&p->arena);
	tr_free(a, p, sizeof *p);
}

const char *
tr_protocol_name(const tr_protocol *p)
{
	return p ? tr_strtab_get(&p->strs, p->name) : NULL;
}

unsigned
tr_protocol_nroles(const tr_protocol *p)
{
	return p ? p->nroles : 0;
}

const char *
tr_protocol_role_name(const tr_protocol *p, unsigned role)
{
	if (!p || role >= p->nroles)
		return NULL;
	return tr_strtab_get(&p->strs, p->role_name[role]);
}

tr_status
tr_protocol_print_local(const tr_protocol *p, unsigned role, FILE *f)
{
	if (!p || !f || role >= p->nroles || p->local.nodes.len == 0)
		return TR_E_INVALID;
	tr_status st = tr_ltype_print(f, &p->local, &p->strs, p->sorts.data, p->role_name,
	                              p->local_root[role]);
	if (st)
		return st;
	fputc('\n', f);
	return ferror(f) ? TR_E_IO : TR_OK;
}

tr_status
tr_protocol_print_local_json(const tr_protocol *p, unsigned role, FILE *f)
{
	if (!p || !f || role >= p->nroles || p->local.nodes.len == 0)
		return TR_E_INVALID;
	return tr_json_print_local(p, p->local_root[role], f);
}
