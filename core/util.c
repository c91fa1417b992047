/* core/util.c: status names, error records, allocators, the arena, vectors,
 * the string intern table, CRC-32C and whole-file reads. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- status ---- */

static const char *const status_names[] = {
#define XX(name, str) "TR_" #name,
	TR_STATUS_MAP(XX)
#undef XX
};
static const char *const status_strs[] = {
#define XX(name, str) str,
	TR_STATUS_MAP(XX)
#undef XX
};

const char *
tr_status_name(tr_status s)
{
	return (unsigned)s < TR_STATUS_COUNT_ ? status_names[s] : "TR_E_UNKNOWN";
}

const char *
tr_status_str(tr_status s)
{
	return (unsigned)s < TR_STATUS_COUNT_ ? status_strs[s] : "unknown status";
}

void
tr_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "troupe: internal assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

/* ---- errors ---- */

void
tr_error_clear(tr_error *err)
{
	if (!err)
		return;
	memset(err, 0, sizeof *err);
	err->status = TR_OK;
	err->line = err->col = TR_NOWHERE;
	err->offset = TR_NO_OFFSET;
	err->role = err->pc = TR_NOWHERE;
}

char *
tr_error_format(const tr_error *err, char *buf, size_t size)
{
	if (!buf || size == 0)
		return buf;
	const char *file = err->file[0] ? err->file : "<input>";
	const char *msg = err->msg[0] ? err->msg : tr_status_str(err->status);
	if (err->line != TR_NOWHERE)
		snprintf(buf, size, "%s:%u:%u: error: %s", file, err->line,
		         err->col == TR_NOWHERE ? 1u : err->col, msg);
	else if (err->offset != TR_NO_OFFSET)
		snprintf(buf, size, "%s: byte %llu: error: %s", file,
		         (unsigned long long)err->offset, msg);
	else if (err->pc != TR_NOWHERE)
		snprintf(buf, size, "%s: role %u pc %u: error: %s", file, err->role, err->pc, msg);
	else
		snprintf(buf, size, "%s: error: %s", file, msg);
	return buf;
}

static tr_status
err_v(tr_error *err, tr_status st, const char *fmt, va_list ap)
{
	if (err) {
		err->status = st;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	}
	return st;
}

static void
err_reset_where(tr_error *err)
{
	err->line = err->col = TR_NOWHERE;
	err->offset = TR_NO_OFFSET;
	err->role = err->pc = TR_NOWHERE;
}

tr_status
tr_err(tr_error *err, tr_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_v(err, st, fmt, ap);
	va_end(ap);
	return st;
}

tr_status
tr_err_at(tr_error *err, tr_status st, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;
	if (err) {
		err_reset_where(err);
		err->line = line;
		err->col = col;
	}
	va_start(ap, fmt);
	err_v(err, st, fmt, ap);
	va_end(ap);
	return st;
}

tr_status
tr_err_off(tr_error *err, tr_status st, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	if (err) {
		err_reset_where(err);
		err->offset = offset;
	}
	va_start(ap, fmt);
	err_v(err, st, fmt, ap);
	va_end(ap);
	return st;
}

tr_status
tr_err_pc(tr_error *err, tr_status st, uint32_t role, uint32_t pc, const char *fmt, ...)
{
	va_list ap;
	if (err) {
		err_reset_where(err);
		err->role = role;
		err->pc = pc;
	}
	va_start(ap, fmt);
	err_v(err, st, fmt, ap);
	va_end(ap);
	return st;
}

void
tr_err_file(tr_error *err, const char *name)
{
	if (err && name)
		snprintf(err->file, sizeof err->file, "%s", name);
}

/* ---- allocators ---- */

/* tr_allocator_default() is in sched/alloc.c, the lowest layer, so that
 * every layer shares one. */


static bool
counting_should_fail(tr_counting_allocator *c)
{
	if (c->fail_after == 0)
		return false;
	return --c->fail_after == 0;
}

static void *
counting_alloc(void *ctx, size_t size)
{
	tr_counting_allocator *c = ctx;
	if (counting_should_fail(c))
		return NULL;
	void *p = c->inner->alloc(c->inner->ctx, size);
	if (p) {
		c->allocs++;
		c->live_bytes += size;
		if (c->live_bytes > c->peak_bytes)
			c->peak_bytes = c->live_bytes;
	}
	return p;
}

static void *
counting_realloc(void *ctx, void *p, size_t old_size, size_t new_size)
{
	tr_counting_allocator *c = ctx;
	if (counting_should_fail(c))
		return NULL;
	void *q = c->inner->realloc(c->inner->ctx, p, old_size, new_size);
	if (q) {
		c->reallocs++;
		if (!p)
			c->allocs++;
		c->live_bytes = c->live_bytes - old_size + new_size;
		if (c->live_bytes > c->peak_bytes)
			c->peak_bytes = c->live_bytes;
	}
	return q;
}

static void
counting_free(void *ctx, void *p, size_t size)
{
	tr_counting_allocator *c = ctx;
	if (!p)
		return;
	c->frees++;
	c->live_bytes -= size;
	c->inner->free(c->inner->ctx, p, size);
}

void
tr_counting_allocator_init(tr_counting_allocator *c, const tr_allocator *inner)
{
	memset(c, 0, sizeof *c);
	c->inner = inner ? inner : tr_allocator_default();
	c->base.alloc = counting_alloc;
	c->base.realloc = counting_realloc;
	c->base.free = counting_free;
	c->base.ctx = c;
}

const tr_allocator *
tr_alloc_or_default(const tr_allocator *a)
{
	return a ? a : tr_allocator_default();
}

void *
tr_alloc(const tr_allocator *a, size_t size)
{
	a = tr_alloc_or_default(a);
	return a->alloc(a->ctx, size ? size : 1);
}

void *
tr_calloc(const tr_allocator *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = tr_alloc(a, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *
tr_realloc(const tr_allocator *a, void *p, size_t old_size, size_t new_size)
{
	a = tr_alloc_or_default(a);
	return a->realloc(a->ctx, p, old_size, new_size ? new_size : 1);
}

void
tr_free(const tr_allocator *a, void *p, size_t size)
{
	a = tr_alloc_or_default(a);
	if (p)
		a->free(a->ctx, p, size ? size : 1);
}

/* ---- arena ---- */

struct tr_arena_chunk {
	tr_arena_chunk *next;
	size_t size; /* bytes of the whole chunk */
	_Alignas(16) unsigned char mem[];
};

void
tr_arena_init(tr_arena *ar, const tr_allocator *a)
{
	memset(ar, 0, sizeof *ar);
	ar->a = tr_alloc_or_default(a);
}

void
tr_arena_destroy(tr_arena *ar)
{
	tr_arena_chunk *c = ar->head;
	while (c) {
		tr_arena_chunk *next = c->next;
		tr_free(ar->a, c, c->size);
		c = next;
	}
	ar->head = NULL;
	ar->used = ar->cap = ar->total = 0;
}

void *
tr_arena_alloc(tr_arena *ar, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (!ar->head || ar->cap - ar->used < size) {
		size_t cap = size > 16384 ? size : 16384;
		size_t bytes = sizeof(tr_arena_chunk) + cap;
		tr_arena_chunk *c = tr_alloc(ar->a, bytes);
		if (!c)
			return NULL;
		c->next = ar->head;
		c->size = bytes;
		ar->head = c;
		ar->used = 0;
		ar->cap = cap;
		ar->total += bytes;
	}
	void *p = ar->head->mem + ar->used;
	ar->used += size;
	memset(p, 0, size);
	return p;
}

char *
tr_arena_strndup(tr_arena *ar, const char *s, size_t n)
{
	char *p = tr_arena_alloc(ar, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

/* ---- vectors ---- */

void
tr_vec_init(tr_vec *v, uint32_t item_size)
{
	v->data = NULL;
	v->len = v->cap = 0;
	v->item = item_size;
}

void
tr_vec_destroy(tr_vec *v, const tr_allocator *a)
{
	tr_free(a, v->data, (size_t)v->cap * v->item);
	v->data = NULL;
	v->len = v->cap = 0;
}

void *
tr_vec_push(tr_vec *v, const tr_allocator *a, const void *item)
{
	if (v->len == v->cap) {
		if (v->cap >= UINT32_MAX / 2)
			return NULL;
		uint32_t cap = v->cap ? v->cap * 2 : 8;
		void *d = tr_realloc(a, v->data, (size_t)v->cap * v->item, (size_t)cap * v->item);
		if (!d)
			return NULL;
		v->data = d;
		v->cap = cap;
	}
	unsigned char *slot = (unsigned char *)v->data + (size_t)v->len * v->item;
	if (item)
		memcpy(slot, item, v->item);
	else
		memset(slot, 0, v->item);
	v->len++;
	return slot;
}

/* ---- string intern table ---- */

static uint32_t
str_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a: short names, no adversary that matters */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

void
tr_strtab_init(tr_strtab *t, const tr_allocator *a)
{
	memset(t, 0, sizeof *t);
	t->a = tr_alloc_or_default(a);
}

void
tr_strtab_destroy(tr_strtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		tr_free(t->a, t->str[i], (size_t)t->len[i] + 1);
	tr_free(t->a, t->str, (size_t)t->cap * sizeof *t->str);
	tr_free(t->a, t->len, (size_t)t->cap * sizeof *t->len);
	tr_free(t->a, t->slots, (size_t)t->nslots * sizeof *t->slots);
	memset(t, 0, sizeof *t);
}

uint32_t
tr_strtab_find(const tr_strtab *t, const char *s, size_t n)
{
	if (!t->nslots)
		return UINT32_MAX;
	uint32_t mask = t->nslots - 1;
	for (uint32_t i = str_hash(s, n) & mask;; i = (i + 1) & mask) {
		uint32_t v = t->slots[i];
		if (!v)
			return UINT32_MAX;
		if (t->len[v - 1] == n && memcmp(t->str[v - 1], s, n) == 0)
			return v - 1;
	}
}

static tr_status
strtab_rehash(tr_strtab *t, uint32_t nslots)
{
	uint32_t *slots = tr_calloc(t->a, nslots, sizeof *slots);
	if (!slots)
		return TR_E_NOMEM;
	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t i = str_hash(t->str[id], t->len[id]) & (nslots - 1);
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = id + 1;
	}
	tr_free(t->a, t->slots, (size_t)t->nslots * sizeof *t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return TR_OK;
}

tr_status
tr_strtab_intern(tr_strtab *t, const char *s, size_t n, uint32_t *id)
{
	uint32_t found = tr_strtab_find(t, s, n);
	if (found != UINT32_MAX) {
		*id = found;
		return TR_OK;
	}
	if (n > UINT32_MAX - 1 || t->n >= (1u << 30))
		return TR_E_LIMIT;
	if ((t->n + 1) * 2 > t->nslots) {
		tr_status st = strtab_rehash(t, t->nslots ? t->nslots * 2 : 64);
		if (st)
			return st;
	}
	if (t->n == t->cap) {
		/* grow both arrays into fresh blocks and commit only when both
		 * exist, so that cap always matches what each array was sized to */
		uint32_t cap = t->cap ? t->cap * 2 : 32;
		char **str = tr_alloc(t->a, (size_t)cap * sizeof *str);
		uint32_t *len = tr_alloc(t->a, (size_t)cap * sizeof *len);
		if (!str || !len) {
			tr_free(t->a, str, (size_t)cap * sizeof *str);
			tr_free(t->a, len, (size_t)cap * sizeof *len);
			return TR_E_NOMEM;
		}
		if (t->n) {
			memcpy(str, t->str, (size_t)t->n * sizeof *str);
			memcpy(len, t->len, (size_t)t->n * sizeof *len);
		}
		tr_free(t->a, t->str, (size_t)t->cap * sizeof *str);
		tr_free(t->a, t->len, (size_t)t->cap * sizeof *len);
		t->str = str;
		t->len = len;
		t->cap = cap;
	}
	char *copy = tr_alloc(t->a, n + 1);
	if (!copy)
		return TR_E_NOMEM;
	memcpy(copy, s, n);
	copy[n] = 0;
	uint32_t nid = t->n++;
	t->str[nid] = copy;
	t->len[nid] = (uint32_t)n;
	uint32_t i = str_hash(s, n) & (t->nslots - 1);
	while (t->slots[i])
		i = (i + 1) & (t->nslots - 1);
	t->slots[i] = nid + 1;
	*id = nid;
	return TR_OK;
}

/* ---- CRC-32C ---- */

uint32_t
tr_crc32c(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	static int ready; /* benign race: every thread computes the same table */
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
			table[i] = c;
		}
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE); /* pairs with the load above */
	}
	const unsigned char *p = data;
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- files ---- */

tr_status
tr_read_file(const char *path, const tr_allocator *a, char **buf, size_t *len, tr_error *err)
{
	*buf = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		tr_err_file(err, path);
		return tr_err(err, TR_E_IO, "cannot open: %s", strerror(errno));
	}
	size_t cap = 4096, n = 0;
	char *b = tr_alloc(a, cap);
	if (!b) {
		fclose(f);
		return tr_err(err, TR_E_NOMEM, "out of memory reading %s", path);
	}
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= ((size_t)1 << 31)) {
				tr_free(a, b, cap);
				fclose(f);
				tr_err_file(err, path);
				return tr_err(err, TR_E_LIMIT, "file larger than 2 GiB");
			}
			char *nb = tr_realloc(a, b, cap, cap * 2);
			if (!nb) {
				tr_free(a, b, cap);
				fclose(f);
				return tr_err(err, TR_E_NOMEM, "out of memory reading %s", path);
			}
			b = nb;
			cap *= 2;
		}
		size_t got = fread(b + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		tr_free(a, b, cap);
		tr_err_file(err, path);
		return tr_err(err, TR_E_IO, "read error");
	}
	/* shrink so that the caller frees with *len + 1 */
	char *nb = tr_realloc(a, b, cap, n + 1);
	if (nb)
		b = nb;
	else {
		char *c = tr_alloc(a, n + 1);
		if (!c) {
			tr_free(a, b, cap);
			return tr_err(err, TR_E_NOMEM, "out of memory reading %s", path);
		}
		memcpy(c, b, n);
		tr_free(a, b, cap);
		b = c;
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	return TR_OK;
}
