/* core/code/image.c: tr_image lifetime, accessors, and the image file format
 * (writer and the loader that checks untrusted bytes). The compiler lives in
 * compile.c, the verifier in verify.c; the loader ends by running the
 * verifier, so a loaded image is as trusted as a compiled one.
 *
 * File format, version 1 (docs/IMAGE_FORMAT.md says the same at length).
 * All integers little-endian; every record size is a multiple of 4 and every
 * section starts 4-byte aligned.
 *
 *   off  size  header
 *     0     4  magic "TRIM"
 *     4     4  version (1)
 *     8     4  file length in bytes, trailer included
 *    12     4  name: string id of the protocol name
 *    16     4  nstrs        20  nsorts      24  nroles      28  nedges
 *    32     4  ntables      36  ntentries   40  nnodes      44  nbranches
 *    48     4  ninsn: instructions of all roles together
 *    52     4  reserved, 0
 *   sections, in this order, each an array of records:
 *     strings    nstrs × { u32 len; len bytes (no NUL); zero pad to 4 }
 *     sorts      nsorts × { u8 kind; u8 pad[3]; u32 name }              8
 *     roles      nroles × { u32 name; u32 ltype; u32 ninsn; u16 nregs;
 *                           u16 pad }                                   16
 *     edges      nedges × { u16 from; u16 to }                          4
 *     tables     ntables × { u32 first; u32 n }                         8
 *     tentries   ntentries × { u32 label; u32 sort; u32 target }        12
 *     nodes      nnodes × { u8 kind; u8 pad; u16 peer; u32 br; u32 nbr;
 *                           u32 var; u32 body }                         20
 *     branches   nbranches × { u32 label; u32 sort; u32 cont }          12
 *     code       the roles' instructions, role 0 first: ninsn ×
 *                { u8 op; u8 reg; u16 edge; u32 a; u32 b; u32 pad }     16
 *   trailer: u32 CRC-32C (tr_crc32c) of every preceding byte.
 *
 * Canonical form: pads, reserved fields and operands an opcode or node kind
 * does not use are zero; strings are distinct (ids = positions); edges are
 * sorted by (from, to). The writer only writes canonical files and the
 * loader rejects anything else, so load→save reproduces the bytes.
 *
 * The loader checks in file order and stops at the first bad field, with
 * TR_E_CORRUPT, err->offset = that field's byte offset and a reason:
 * magic, version, length (truncation / trailing bytes), checksum, reserved,
 * counts against the bytes that remain (overflow-safe: count > rest / size),
 * then each record's indices against the counts. Only then are the bytes
 * turned into a tr_image and handed to tr_image_verify(). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "image_internal.h"

/* ---- lifetime and accessors ---- */

tr_status
tr_image_alloc(const tr_allocator *a, tr_image **out)
{
	a = tr_alloc_or_default(a);
	tr_image *img = tr_calloc(a, 1, sizeof *img);
	if (!img)
		return TR_E_NOMEM;
	img->a = a;
	tr_strtab_init(&img->strs, a);
	tr_lpool_init(&img->lt);
	*out = img;
	return TR_OK;
}

void
tr_image_free(tr_image *img)
{
	if (!img)
		return;
	const tr_allocator *a = img->a;
	tr_strtab_destroy(&img->strs);
	tr_free(a, img->sorts, (size_t)img->nsorts * sizeof *img->sorts);
	if (img->roles) {
		for (uint32_t r = 0; r < img->nroles; r++)
			tr_free(a, img->roles[r].code, (size_t)img->roles[r].ninsn * sizeof(tr_insn));
	}
	tr_free(a, img->roles, (size_t)img->nroles * sizeof *img->roles);
	tr_free(a, img->edges, (size_t)img->nedges * sizeof *img->edges);
	tr_free(a, img->tables, (size_t)img->ntables * sizeof *img->tables);
	tr_free(a, img->tentries, (size_t)img->ntentries * sizeof *img->tentries);
	tr_lpool_destroy(&img->lt, a);
	tr_free(a, img->edge_of, (size_t)img->nroles * img->nroles * sizeof *img->edge_of);
	tr_free(a, img, sizeof *img);
}

const char *
tr_image_name(const tr_image *img)
{
	return tr_strtab_get(&img->strs, img->name);
}

unsigned
tr_image_nroles(const tr_image *img)
{
	return img->nroles;
}

const char *
tr_image_role_name(const tr_image *img, unsigned role)
{
	return role < img->nroles ? tr_strtab_get(&img->strs, img->roles[role].name) : NULL;
}

int
tr_image_role_index(const tr_image *img, const char *name)
{
	if (!name)
		return -1;
	for (uint32_t r = 0; r < img->nroles; r++)
		if (strcmp(tr_strtab_get(&img->strs, img->roles[r].name), name) == 0)
			return (int)r;
	return -1;
}

unsigned
tr_image_nedges(const tr_image *img)
{
	return img->nedges;
}

int
tr_image_label_id(const tr_image *img, const char *name)
{
	if (!name)
		return -1;
	uint32_t id = tr_strtab_find(&img->strs, name, strlen(name));
	return id == UINT32_MAX || id > INT32_MAX ? -1 : (int)id;
}

const char *
tr_image_string(const tr_image *img, uint32_t id)
{
	return id < img->strs.n ? img->strs.str[id] : NULL;
}

/* ---- writer ---- */

enum {
	SORT_REC = 8,
	ROLE_REC = 16,
	EDGE_REC = 4,
	TABLE_REC = 8,
	TENTRY_REC = 12,
	NODE_REC = 20,
	BRANCH_REC = 12,
	INSN_REC = 16,
};

static size_t
pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

tr_status
tr_image_save(const tr_image *img, const tr_allocator *a, uint8_t **buf, size_t *len)
{
	if (!img || !buf || !len)
		return TR_E_INVALID;
	*buf = NULL;
	*len = 0;
	/* Every count is bounded by what a tr_image can hold in memory, so only
	 * the total needs a limit check: the length field is 32 bits. */
	uint64_t size = TR_IMAGE_HEADER_SIZE;
	for (uint32_t i = 0; i < img->strs.n; i++)
		size += 4 + pad4(img->strs.len[i]);
	uint64_t ninsn = 0;
	for (uint32_t r = 0; r < img->nroles; r++)
		ninsn += img->roles[r].ninsn;
	size += (uint64_t)img->nsorts * SORT_REC + (uint64_t)img->nroles * ROLE_REC +
	        (uint64_t)img->nedges * EDGE_REC + (uint64_t)img->ntables * TABLE_REC +
	        (uint64_t)img->ntentries * TENTRY_REC + (uint64_t)img->lt.nodes.len * NODE_REC +
	        (uint64_t)img->lt.branches.len * BRANCH_REC + ninsn * INSN_REC + 4;
	if (size > UINT32_MAX || ninsn > UINT32_MAX)
		return TR_E_LIMIT;
	uint8_t *b = tr_calloc(a, 1, (size_t)size);
	if (!b)
		return TR_E_NOMEM;
	uint8_t *p = b;
	memcpy(p, TR_IMAGE_MAGIC, 4);
	tr_put_u32(p + 4, TR_IMAGE_VERSION);
	tr_put_u32(p + 8, (uint32_t)size);
	tr_put_u32(p + 12, img->name);
	tr_put_u32(p + 16, img->strs.n);
	tr_put_u32(p + 20, img->nsorts);
	tr_put_u32(p + 24, img->nroles);
	tr_put_u32(p + 28, img->nedges);
	tr_put_u32(p + 32, img->ntables);
	tr_put_u32(p + 36, img->ntentries);
	tr_put_u32(p + 40, img->lt.nodes.len);
	tr_put_u32(p + 44, img->lt.branches.len);
	tr_put_u32(p + 48, (uint32_t)ninsn);
	p += TR_IMAGE_HEADER_SIZE;
	for (uint32_t i = 0; i < img->strs.n; i++) {
		tr_put_u32(p, img->strs.len[i]);
		memcpy(p + 4, img->strs.str[i], img->strs.len[i]);
		p += 4 + pad4(img->strs.len[i]); /* pad already zero (calloc) */
	}
	for (uint32_t i = 0; i < img->nsorts; i++, p += SORT_REC) {
		p[0] = img->sorts[i].kind;
		tr_put_u32(p + 4, img->sorts[i].name);
	}
	for (uint32_t i = 0; i < img->nroles; i++, p += ROLE_REC) {
		const tr_role_code *rc = &img->roles[i];
		tr_put_u32(p, rc->name);
		tr_put_u32(p + 4, rc->ltype);
		tr_put_u32(p + 8, rc->ninsn);
		tr_put_u16(p + 12, rc->nregs);
	}
	for (uint32_t i = 0; i < img->nedges; i++, p += EDGE_REC) {
		tr_put_u16(p, img->edges[i].from);
		tr_put_u16(p + 2, img->edges[i].to);
	}
	for (uint32_t i = 0; i < img->ntables; i++, p += TABLE_REC) {
		tr_put_u32(p, img->tables[i].first);
		tr_put_u32(p + 4, img->tables[i].n);
	}
	for (uint32_t i = 0; i < img->ntentries; i++, p += TENTRY_REC) {
		tr_put_u32(p, img->tentries[i].label);
		tr_put_u32(p + 4, img->tentries[i].sort);
		tr_put_u32(p + 8, img->tentries[i].target);
	}
	for (uint32_t i = 0; i < img->lt.nodes.len; i++, p += NODE_REC) {
		const tr_lnode *n = tr_lnode_at(&img->lt, i);
		p[0] = n->kind;
		tr_put_u16(p + 2, n->peer);
		tr_put_u32(p + 4, n->br);
		tr_put_u32(p + 8, n->nbr);
		tr_put_u32(p + 12, n->var);
		tr_put_u32(p + 16, n->body);
	}
	for (uint32_t i = 0; i < img->lt.branches.len; i++, p += BRANCH_REC) {
		const tr_lbranch *br = tr_lbranch_at(&img->lt, i);
		tr_put_u32(p, br->label);
		tr_put_u32(p + 4, br->sort);
		tr_put_u32(p + 8, br->cont);
	}
	for (uint32_t r = 0; r < img->nroles; r++) {
		for (uint32_t i = 0; i < img->roles[r].ninsn; i++, p += INSN_REC) {
			const tr_insn *in = &img->roles[r].code[i];
			p[0] = in->op;
			p[1] = in->reg;
			tr_put_u16(p + 2, in->edge);
			tr_put_u32(p + 4, in->a);
			tr_put_u32(p + 8, in->b);
			/* pad_ is always written as 0 */
		}
	}
	TR_ASSERT((uint64_t)(p - b) == size - 4);
	tr_put_u32(p, tr_crc32c(0, b, (size_t)size - 4));
	*buf = b;
	*len = (size_t)size;
	return TR_OK;
}

tr_status
tr_image_save_file(const tr_image *img, const char *path)
{
	if (!img || !path)
		return TR_E_INVALID;
	uint8_t *buf;
	size_t len;
	tr_status st = tr_image_save(img, NULL, &buf, &len);
	if (st)
		return st;
	FILE *f = fopen(path, "wb");
	if (!f) {
		tr_free(NULL, buf, len);
		return TR_E_IO;
	}
	size_t put = fwrite(buf, 1, len, f);
	int bad = fclose(f) != 0 || put != len;
	tr_free(NULL, buf, len);
	return bad ? TR_E_IO : TR_OK;
}

/* ---- loader ---- */

typedef struct reader {
	const uint8_t *b;
	size_t end; /* where the trailer starts */
	size_t off; /* next byte to read */
	tr_error *err;
} reader;

static tr_status
corrupt(reader *rd, size_t off, const char *fmt, ...) TR_PRINTF(3, 4);

static tr_status
corrupt(reader *rd, size_t off, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tr_err_off(rd->err, TR_E_CORRUPT, off, "%s", msg);
}

/* Records of a section must fit in what remains before the trailer. */
static tr_status
need_records(reader *rd, uint32_t count, size_t rec, size_t count_off, const char *what)
{
	size_t rest = rd->end - rd->off;
	if (count > rest / rec)
		return corrupt(rd, count_off,
		               "%s count %u needs %zu bytes of records, only %zu remain",
		               what, count, (size_t)count * rec, rest);
	return TR_OK;
}

static tr_status
check_index(reader *rd, size_t off, uint32_t v, uint32_t limit, const char *what)
{
	if (v >= limit)
		return corrupt(rd, off, "%s %u out of range (have %u)", what, v, limit);
	return TR_OK;
}

static tr_status
check_zero(reader *rd, size_t off, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (rd->b[off + i])
			return corrupt(rd, off + i, "%s must be zero", what);
	return TR_OK;
}

#define TRY(x)                                                                 \
	do {                                                                       \
		tr_status try_st_ = (x);                                               \
		if (try_st_)                                                           \
			return try_st_;                                                    \
	} while (0)

typedef struct hdr {
	uint32_t name, nstrs, nsorts, nroles, nedges, ntables, ntentries, nnodes,
		nbranches, ninsn;
	uint32_t role_ninsn[TR_MAX_ROLES]; /* from the roles section */
	size_t tentries_off;               /* where table entries start */
} hdr;

static tr_status
load_header(reader *rd, size_t len, hdr *h)
{
	const uint8_t *b = rd->b;
	if (len < 4)
		return corrupt(rd, len, "truncated: %zu bytes, the magic needs 4", len);
	if (memcmp(b, TR_IMAGE_MAGIC, 4) != 0)
		return corrupt(rd, 0, "bad magic (not a troupe image)");
	if (len < 8)
		return corrupt(rd, len, "truncated in the header (%zu bytes)", len);
	if (tr_get_u32(b + 4) != TR_IMAGE_VERSION)
		return corrupt(rd, 4, "unsupported format version %u (this build reads %u)",
		               tr_get_u32(b + 4), TR_IMAGE_VERSION);
	if (len < 12)
		return corrupt(rd, len, "truncated in the header (%zu bytes)", len);
	uint32_t flen = tr_get_u32(b + 8);
	if (flen < TR_IMAGE_HEADER_SIZE + 4)
		return corrupt(rd, 8, "file length field %u is shorter than header and trailer", flen);
	if (len < flen)
		return corrupt(rd, len, "truncated: %zu bytes of the %u the header announces", len, flen);
	if (len > flen)
		return corrupt(rd, flen, "%zu trailing bytes after the checksum", len - flen);
	uint32_t want = tr_get_u32(b + flen - 4);
	uint32_t got = tr_crc32c(0, b, flen - 4);
	if (want != got)
		return corrupt(rd, flen - 4, "checksum mismatch (stored %08x, computed %08x)", want, got);
	TRY(check_zero(rd, 52, 4, "reserved header field"));
	h->name = tr_get_u32(b + 12);
	h->nstrs = tr_get_u32(b + 16);
	h->nsorts = tr_get_u32(b + 20);
	h->nroles = tr_get_u32(b + 24);
	h->nedges = tr_get_u32(b + 28);
	h->ntables = tr_get_u32(b + 32);
	h->ntentries = tr_get_u32(b + 36);
	h->nnodes = tr_get_u32(b + 40);
	h->nbranches = tr_get_u32(b + 44);
	h->ninsn = tr_get_u32(b + 48);
	rd->end = flen - 4;
	rd->off = TR_IMAGE_HEADER_SIZE;
	if (h->nstrs == 0)
		return corrupt(rd, 16, "no strings (the protocol name is one)");
	TRY(check_index(rd, 12, h->name, h->nstrs, "name string id"));
	if (h->nsorts == 0)
		return corrupt(rd, 20, "no sorts (sort 0 must be Unit)");
	if (h->nroles == 0 || h->nroles > TR_MAX_ROLES)
		return corrupt(rd, 24, "role count %u not in 1..%u", h->nroles, TR_MAX_ROLES);
	if (h->nedges > h->nroles * (h->nroles - 1))
		return corrupt(rd, 28, "edge count %u exceeds the %u directed pairs of %u roles",
		               h->nedges, h->nroles * (h->nroles - 1), h->nroles);
	if (h->nnodes == 0)
		return corrupt(rd, 40, "no local-type nodes");
	if (h->ninsn > (uint64_t)TR_MAX_INSNS * TR_MAX_ROLES)
		return corrupt(rd, 48, "instruction count %u over the limit", h->ninsn);
	/* Strings take at least 4 bytes each; the fixed-size sections after them
	 * must fit too. Checked here so that nothing is allocated from a count
	 * the file cannot back. */
	uint64_t fixed = (uint64_t)h->nstrs * 4 + (uint64_t)h->nsorts * SORT_REC +
	                 (uint64_t)h->nroles * ROLE_REC + (uint64_t)h->nedges * EDGE_REC +
	                 (uint64_t)h->ntables * TABLE_REC + (uint64_t)h->ntentries * TENTRY_REC +
	                 (uint64_t)h->nnodes * NODE_REC + (uint64_t)h->nbranches * BRANCH_REC +
	                 (uint64_t)h->ninsn * INSN_REC;
	if (fixed > rd->end - rd->off)
		return corrupt(rd, 16, "section counts need at least %llu bytes, only %zu remain",
		               (unsigned long long)fixed, rd->end - rd->off);
	return TR_OK;
}

static tr_status
load_strings(reader *rd, const hdr *h, tr_image *img)
{
	for (uint32_t i = 0; i < h->nstrs; i++) {
		size_t at = rd->off;
		if (rd->end - rd->off < 4)
			return corrupt(rd, at, "string %u: length field past the end of the strings", i);
		uint32_t n = tr_get_u32(rd->b + at);
		size_t rest = rd->end - at - 4;
		if (n > rest || pad4(n) > rest)
			return corrupt(rd, at, "string %u: length %u exceeds the %zu bytes that remain", i, n, rest);
		const uint8_t *s = rd->b + at + 4;
		const void *nul = memchr(s, 0, n);
		if (nul)
			return corrupt(rd, at + 4 + (size_t)((const uint8_t *)nul - s),
			               "string %u contains a NUL byte", i);
		TRY(check_zero(rd, at + 4 + n, pad4(n) - n, "string padding"));
		uint32_t id;
		tr_status st = tr_strtab_intern(&img->strs, (const char *)s, n, &id);
		if (st == TR_E_NOMEM)
			return tr_err_off(rd->err, st, at, "out of memory");
		if (st)
			return corrupt(rd, at, "string %u cannot be interned", i);
		if (id != i)
			return corrupt(rd, at, "string %u duplicates string %u", i, id);
		rd->off = at + 4 + pad4(n);
	}
	return TR_OK;
}

static tr_status
nomem(reader *rd)
{
	return tr_err_off(rd->err, TR_E_NOMEM, rd->off, "out of memory");
}

static tr_status
load_tables(reader *rd, hdr *h, tr_image *img)
{
	const uint8_t *b = rd->b;

	/* sorts */
	TRY(need_records(rd, h->nsorts, SORT_REC, 20, "sort"));
	img->sorts = tr_calloc(img->a, h->nsorts, sizeof *img->sorts);
	if (!img->sorts)
		return nomem(rd);
	img->nsorts = h->nsorts;
	for (uint32_t i = 0; i < h->nsorts; i++, rd->off += SORT_REC) {
		const uint8_t *p = b + rd->off;
		if (p[0] >= TR_SORT_KIND_COUNT_)
			return corrupt(rd, rd->off, "sort %u: unknown kind %u", i, p[0]);
		if (i == TR_SORT_ID_UNIT && p[0] != TR_SORT_UNIT)
			return corrupt(rd, rd->off, "sort 0 must be Unit");
		TRY(check_zero(rd, rd->off + 1, 3, "sort padding"));
		TRY(check_index(rd, rd->off + 4, tr_get_u32(p + 4), h->nstrs, "sort name string id"));
		img->sorts[i].kind = p[0];
		img->sorts[i].name = tr_get_u32(p + 4);
	}

	/* roles */
	TRY(need_records(rd, h->nroles, ROLE_REC, 24, "role"));
	img->roles = tr_calloc(img->a, h->nroles, sizeof *img->roles);
	if (!img->roles)
		return nomem(rd);
	img->nroles = h->nroles;
	uint64_t total = 0;
	for (uint32_t i = 0; i < h->nroles; i++, rd->off += ROLE_REC) {
		const uint8_t *p = b + rd->off;
		tr_role_code *rc = &img->roles[i];
		TRY(check_index(rd, rd->off, tr_get_u32(p), h->nstrs, "role name string id"));
		TRY(check_index(rd, rd->off + 4, tr_get_u32(p + 4), h->nnodes, "role local-type node"));
		uint32_t n = tr_get_u32(p + 8);
		if (n == 0 || n > TR_MAX_INSNS)
			return corrupt(rd, rd->off + 8, "role %u: instruction count %u not in 1..%u", i, n,
			               TR_MAX_INSNS);
		total += n;
		if (total > h->ninsn)
			return corrupt(rd, rd->off + 8, "role %u: instructions exceed the header's total %u",
			               i, h->ninsn);
		uint16_t nregs = tr_get_u16(p + 12);
		if (nregs > TR_MAX_REGS)
			return corrupt(rd, rd->off + 12, "role %u: %u registers, at most %u", i, nregs,
			               TR_MAX_REGS);
		TRY(check_zero(rd, rd->off + 14, 2, "role padding"));
		rc->name = tr_get_u32(p);
		rc->ltype = tr_get_u32(p + 4);
		rc->nregs = nregs;
		/* rc->ninsn is set when the code array is allocated, so that ninsn
		 * and the allocation size never disagree in tr_image_free */
		h->role_ninsn[i] = n;
	}
	if (total != h->ninsn)
		return corrupt(rd, 48, "header says %u instructions, the roles hold %llu", h->ninsn,
		               (unsigned long long)total);

	/* edges */
	TRY(need_records(rd, h->nedges, EDGE_REC, 28, "edge"));
	if (h->nedges) {
		img->edges = tr_calloc(img->a, h->nedges, sizeof *img->edges);
		if (!img->edges)
			return nomem(rd);
		img->nedges = h->nedges;
	}
	for (uint32_t i = 0; i < h->nedges; i++, rd->off += EDGE_REC) {
		const uint8_t *p = b + rd->off;
		uint16_t from = tr_get_u16(p), to = tr_get_u16(p + 2);
		TRY(check_index(rd, rd->off, from, h->nroles, "edge source role"));
		TRY(check_index(rd, rd->off + 2, to, h->nroles, "edge target role"));
		if (from == to)
			return corrupt(rd, rd->off + 2, "edge %u goes from role %u to itself", i, from);
		if (i > 0) {
			const tr_edge *pe = &img->edges[i - 1];
			if (from < pe->from || (from == pe->from && to <= pe->to))
				return corrupt(rd, rd->off, "edge %u: edges not sorted by (from, to) or repeated", i);
		}
		img->edges[i].from = from;
		img->edges[i].to = to;
	}

	/* tables */
	TRY(need_records(rd, h->ntables, TABLE_REC, 32, "table"));
	if (h->ntables) {
		img->tables = tr_calloc(img->a, h->ntables, sizeof *img->tables);
		if (!img->tables)
			return nomem(rd);
		img->ntables = h->ntables;
	}
	for (uint32_t i = 0; i < h->ntables; i++, rd->off += TABLE_REC) {
		const uint8_t *p = b + rd->off;
		uint32_t first = tr_get_u32(p), n = tr_get_u32(p + 4);
		if (first > h->ntentries)
			return corrupt(rd, rd->off, "table %u: first entry %u out of range (have %u)", i,
			               first, h->ntentries);
		if (n == 0)
			return corrupt(rd, rd->off + 4, "table %u is empty", i);
		if (n > h->ntentries - first)
			return corrupt(rd, rd->off + 4, "table %u: %u entries from %u run past the %u entries",
			               i, n, first, h->ntentries);
		img->tables[i].first = first;
		img->tables[i].n = n;
	}

	/* table entries; targets are pcs of the role that uses the table, checked
	 * with the code */
	TRY(need_records(rd, h->ntentries, TENTRY_REC, 36, "table entry"));
	h->tentries_off = rd->off;
	if (h->ntentries) {
		img->tentries = tr_calloc(img->a, h->ntentries, sizeof *img->tentries);
		if (!img->tentries)
			return nomem(rd);
		img->ntentries = h->ntentries;
	}
	for (uint32_t i = 0; i < h->ntentries; i++, rd->off += TENTRY_REC) {
		const uint8_t *p = b + rd->off;
		TRY(check_index(rd, rd->off, tr_get_u32(p), h->nstrs, "table entry label string id"));
		TRY(check_index(rd, rd->off + 4, tr_get_u32(p + 4), h->nsorts, "table entry sort"));
		img->tentries[i].label = tr_get_u32(p);
		img->tentries[i].sort = tr_get_u32(p + 4);
		img->tentries[i].target = tr_get_u32(p + 8);
	}
	return TR_OK;
}

static tr_status
load_ltypes(reader *rd, const hdr *h, tr_image *img)
{
	const uint8_t *b = rd->b;
	size_t nodes_off = rd->off;
	TRY(need_records(rd, h->nnodes, NODE_REC, 40, "local-type node"));
	img->lt.nodes.data = tr_calloc(img->a, h->nnodes, sizeof(tr_lnode));
	if (!img->lt.nodes.data)
		return nomem(rd);
	img->lt.nodes.len = img->lt.nodes.cap = h->nnodes;
	for (uint32_t i = 0; i < h->nnodes; i++, rd->off += NODE_REC) {
		const uint8_t *p = b + rd->off;
		size_t o = rd->off;
		tr_lnode *n = tr_lnode_at(&img->lt, i);
		n->kind = p[0];
		n->peer = tr_get_u16(p + 2);
		n->br = tr_get_u32(p + 4);
		n->nbr = tr_get_u32(p + 8);
		n->var = tr_get_u32(p + 12);
		n->body = tr_get_u32(p + 16);
		TRY(check_zero(rd, o + 1, 1, "node padding"));
		switch (n->kind) {
		case TR_L_END:
			TRY(check_zero(rd, o + 2, 18, "unused field of an end node"));
			break;
		case TR_L_SEND:
		case TR_L_RECV:
			TRY(check_index(rd, o + 2, n->peer, h->nroles, "node peer role"));
			if (n->nbr == 0)
				return corrupt(rd, o + 8, "node %u has no branches", i);
			if (n->br > h->nbranches || n->nbr > h->nbranches - n->br)
				return corrupt(rd, o + 4, "node %u: branches %u..+%u out of range (have %u)", i,
				               n->br, n->nbr, h->nbranches);
			TRY(check_zero(rd, o + 12, 8, "unused field of a send/receive node"));
			break;
		case TR_L_REC:
		case TR_L_VAR:
			TRY(check_zero(rd, o + 2, 10, "unused field of a rec/var node"));
			TRY(check_index(rd, o + 12, n->var, h->nstrs, "recursion variable string id"));
			TRY(check_index(rd, o + 16, n->body, h->nnodes,
			                n->kind == TR_L_REC ? "rec body node" : "var binder node"));
			break;
		default:
			return corrupt(rd, o, "node %u: unknown kind %u", i, n->kind);
		}
	}
	/* A variable's binder must be a rec node: needs every kind read first. */
	for (uint32_t i = 0; i < h->nnodes; i++) {
		const tr_lnode *n = tr_lnode_at(&img->lt, i);
		if (n->kind == TR_L_VAR && tr_lnode_at(&img->lt, n->body)->kind != TR_L_REC)
			return corrupt(rd, nodes_off + (size_t)i * NODE_REC + 16,
			               "node %u: variable bound to node %u, which is not a rec", i, n->body);
	}

	TRY(need_records(rd, h->nbranches, BRANCH_REC, 44, "local-type branch"));
	if (h->nbranches) {
		img->lt.branches.data = tr_calloc(img->a, h->nbranches, sizeof(tr_lbranch));
		if (!img->lt.branches.data)
			return nomem(rd);
		img->lt.branches.len = img->lt.branches.cap = h->nbranches;
	}
	for (uint32_t i = 0; i < h->nbranches; i++, rd->off += BRANCH_REC) {
		const uint8_t *p = b + rd->off;
		tr_lbranch *br = tr_lbranch_at(&img->lt, i);
		br->label = tr_get_u32(p);
		br->sort = tr_get_u32(p + 4);
		br->cont = tr_get_u32(p + 8);
		TRY(check_index(rd, rd->off, br->label, h->nstrs, "branch label string id"));
		TRY(check_index(rd, rd->off + 4, br->sort, h->nsorts, "branch sort"));
		TRY(check_index(rd, rd->off + 8, br->cont, h->nnodes, "branch continuation node"));
	}
	return TR_OK;
}

static tr_status
load_insn(reader *rd, const hdr *h, const tr_image *img, const tr_role_code *rc, tr_insn *in)
{
	const uint8_t *p = rd->b + rd->off;
	size_t o = rd->off;
	in->op = p[0];
	in->reg = p[1];
	in->edge = tr_get_u16(p + 2);
	in->a = tr_get_u32(p + 4);
	in->b = tr_get_u32(p + 8);
	in->pad_ = 0;
	if (in->op >= TR_OP_COUNT_)
		return corrupt(rd, o, "unknown opcode %u", in->op);
	TRY(check_zero(rd, o + 12, 4, "instruction padding"));
	uint32_t fl = tr_op_flags[in->op];
	if (fl & TR_OPF_EDGE)
		TRY(check_index(rd, o + 2, in->edge, h->nedges, "edge"));
	else if (in->edge)
		return corrupt(rd, o + 2, "%s takes no edge: field must be zero", tr_op_name[in->op]);
	bool payload = false; /* whether reg is read, see image_internal.h */
	switch (in->op) {
	case TR_OP_HALT:
	case TR_OP_YIELD:
		if (in->reg || in->a || in->b)
			return corrupt(rd, o + 1, "%s takes no operands: fields must be zero",
			               tr_op_name[in->op]);
		return TR_OK;
	case TR_OP_SEND:
	case TR_OP_RECEIVE:
		TRY(check_index(rd, o + 4, in->a, h->nstrs, "label string id"));
		TRY(check_index(rd, o + 8, in->b, h->nsorts, "sort"));
		payload = in->b != TR_SORT_ID_UNIT;
		break;
	case TR_OP_OFFER:
	case TR_OP_CHOOSE: {
		TRY(check_index(rd, o + 4, in->a, h->ntables, "table"));
		if (in->b)
			return corrupt(rd, o + 8, "%s: unused operand must be zero", tr_op_name[in->op]);
		const tr_table *t = &img->tables[in->a];
		for (uint32_t i = 0; i < t->n; i++) {
			const tr_tentry *e = &img->tentries[t->first + i];
			if (e->target >= rc->ninsn)
				return corrupt(rd, h->tentries_off + (size_t)(t->first + i) * TENTRY_REC + 8,
				               "table %u entry %u: target pc %u out of range (role has %u)",
				               in->a, i, e->target, rc->ninsn);
			payload |= e->sort != TR_SORT_ID_UNIT;
		}
		break;
	}
	case TR_OP_INVOKE:
		TRY(check_index(rd, o + 4, in->a, h->nstrs, "handler symbol string id"));
		if (in->reg || in->b)
			return corrupt(rd, o + 1, "INVOKE: unused operands must be zero");
		return TR_OK;
	case TR_OP_JUMP:
		TRY(check_index(rd, o + 4, in->a, rc->ninsn, "jump target pc"));
		if (in->reg || in->b)
			return corrupt(rd, o + 1, "JUMP: unused operands must be zero");
		return TR_OK;
	case TR_OP_SET:
		TRY(check_index(rd, o + 1, in->reg, rc->nregs, "register"));
		return TR_OK;
	case TR_OP_MOVE:
		TRY(check_index(rd, o + 1, in->reg, rc->nregs, "register"));
		TRY(check_index(rd, o + 8, in->b, rc->nregs, "source register"));
		if (in->a)
			return corrupt(rd, o + 4, "MOVE: unused operand must be zero");
		return TR_OK;
	}
	if (payload)
		TRY(check_index(rd, o + 1, in->reg, rc->nregs, "register"));
	else if (in->reg)
		return corrupt(rd, o + 1, "%s carries no payload: register must be 0", tr_op_name[in->op]);
	return TR_OK;
}

static tr_status
load_code(reader *rd, const hdr *h, tr_image *img)
{
	TRY(need_records(rd, h->ninsn, INSN_REC, 48, "instruction"));
	for (uint32_t r = 0; r < img->nroles; r++) {
		tr_role_code *rc = &img->roles[r];
		rc->code = tr_calloc(img->a, h->role_ninsn[r], sizeof(tr_insn));
		if (!rc->code)
			return nomem(rd);
		rc->ninsn = h->role_ninsn[r];
		for (uint32_t i = 0; i < rc->ninsn; i++, rd->off += INSN_REC)
			TRY(load_insn(rd, h, img, rc, &rc->code[i]));
	}
	return TR_OK;
}

tr_status
tr_image_load(const uint8_t *bytes, size_t len, const tr_allocator *a, tr_image **out,
              tr_error *err)
{
	if (!out)
		return tr_err(err, TR_E_INVALID, "tr_image_load: out is NULL");
	*out = NULL;
	if (!bytes && len)
		return tr_err(err, TR_E_INVALID, "tr_image_load: bytes is NULL");
	static const uint8_t none[1];
	reader rd = {bytes ? bytes : none, 0, 0, err};
	hdr h;
	memset(&h, 0, sizeof h);
	TRY(load_header(&rd, len, &h));
	tr_image *img;
	if (tr_image_alloc(a, &img))
		return tr_err_off(err, TR_E_NOMEM, 0, "out of memory");
	img->name = h.name;
	tr_status st;
	if ((st = load_strings(&rd, &h, img)) || (st = load_tables(&rd, &h, img)) ||
	    (st = load_ltypes(&rd, &h, img)) || (st = load_code(&rd, &h, img)))
		goto fail;
	if (rd.off != rd.end) {
		st = corrupt(&rd, rd.off, "%zu bytes between the code and the checksum",
		             rd.end - rd.off);
		goto fail;
	}
	if ((st = tr_image_verify(img, err)))
		goto fail;
	*out = img;
	return TR_OK;
fail:
	tr_image_free(img);
	return st;
}

tr_status
tr_image_load_file(const char *path, const tr_allocator *a, tr_image **out, tr_error *err)
{
	if (!path || !out)
		return tr_err(err, TR_E_INVALID, "tr_image_load_file: NULL argument");
	*out = NULL;
	char *buf;
	size_t len;
	tr_status st = tr_read_file(path, a, &buf, &len, err);
	if (st)
		return st;
	st = tr_image_load((const uint8_t *)buf, len, a, out, err);
	tr_free(a, buf, len + 1);
	tr_err_file(err, st ? path : NULL);
	return st;
}
