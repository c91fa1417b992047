/* core/util.h: small internal helpers shared by core/: assertions, error
 * filling, a bump arena, growable arrays and a string intern table.
 * Nothing here is thread-safe; each object belongs to one thread at a time. */
#ifndef TR_CORE_UTIL_H
#define TR_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "troupe/alloc.h"
#include "troupe/status.h"

#if defined(__GNUC__)
#define TR_LIKELY(x) __builtin_expect(!!(x), 1)
#define TR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TR_UNUSED __attribute__((unused))
#else
#define TR_LIKELY(x) (x)
#define TR_UNLIKELY(x) (x)
#define TR_UNUSED
#endif

/* Internal invariants: always compiled, folded away when TR_DEBUG is 0 (the
 * default in release builds; sanitizer builds turn it on). */
#ifndef TR_DEBUG
#define TR_DEBUG 0
#endif
void tr_assert_fail(const char *expr, const char *file, int line);
#define TR_ASSERT(e)                                                           \
	do {                                                                       \
		if (TR_DEBUG && !(e))                                                  \
			tr_assert_fail(#e, __FILE__, __LINE__);                            \
	} while (0)

#define TR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fill err (when not NULL) with status and a printf-style reason; positions
 * are left as they are, set them with the helpers below. Returns status so
 * callers can write `return tr_err(err, TR_E_SYNTAX, "...")`. */
tr_status tr_err(tr_error *err, tr_status st, const char *fmt, ...) TR_PRINTF(3, 4);
tr_status tr_err_at(tr_error *err, tr_status st, uint32_t line, uint32_t col,
                    const char *fmt, ...) TR_PRINTF(5, 6);
tr_status tr_err_off(tr_error *err, tr_status st, uint64_t offset,
                     const char *fmt, ...) TR_PRINTF(4, 5);
tr_status tr_err_pc(tr_error *err, tr_status st, uint32_t role, uint32_t pc,
                    const char *fmt, ...) TR_PRINTF(5, 6);
/* Set err->file to name (truncated) when err and name are not NULL. */
void tr_err_file(tr_error *err, const char *name);

/* Allocation shorthands through a tr_allocator (NULL = default). */
const tr_allocator *tr_alloc_or_default(const tr_allocator *a);
void *tr_alloc(const tr_allocator *a, size_t size);
void *tr_calloc(const tr_allocator *a, size_t n, size_t size); /* NULL on overflow */
void *tr_realloc(const tr_allocator *a, void *p, size_t old_size, size_t new_size);
void tr_free(const tr_allocator *a, void *p, size_t size);

/* Bump arena: many small allocations freed together. */
typedef struct tr_arena_chunk tr_arena_chunk;
typedef struct tr_arena {
	const tr_allocator *a;
	tr_arena_chunk *head;
	size_t used, cap; /* in head */
	size_t total;     /* bytes obtained from a */
} tr_arena;
void tr_arena_init(tr_arena *ar, const tr_allocator *a);
void tr_arena_destroy(tr_arena *ar);
/* 16-byte aligned, zeroed; NULL on failure. */
void *tr_arena_alloc(tr_arena *ar, size_t size);
char *tr_arena_strndup(tr_arena *ar, const char *s, size_t n);

/* Growable array of fixed-size items. */
typedef struct tr_vec {
	void *data;
	uint32_t len, cap;
	uint32_t item; /* item size in bytes */
} tr_vec;
void tr_vec_init(tr_vec *v, uint32_t item_size);
void tr_vec_destroy(tr_vec *v, const tr_allocator *a);
/* Append one item (copied from item, or zeroed if NULL); returns a pointer
 * to it or NULL when out of memory (v unchanged). Pointers into v are
 * invalidated by the next push. */
void *tr_vec_push(tr_vec *v, const tr_allocator *a, const void *item);
#define TR_VEC_AT(v, T, i) (((T *)(v)->data)[i])

/* String intern table: equal strings get equal ids, ids are dense from 0 in
 * order of first interning (so output is deterministic). */
typedef struct tr_strtab {
	const tr_allocator *a;
	char **str;      /* id -> NUL-terminated copy */
	uint32_t *len;   /* id -> length */
	uint32_t n, cap;
	uint32_t *slots; /* open addressing: id + 1, 0 = empty */
	uint32_t nslots;
} tr_strtab;
void tr_strtab_init(tr_strtab *t, const tr_allocator *a);
void tr_strtab_destroy(tr_strtab *t);
/* Intern s[0..n); *id receives its id. TR_E_NOMEM on failure. */
tr_status tr_strtab_intern(tr_strtab *t, const char *s, size_t n, uint32_t *id);
/* Id of s[0..n) or UINT32_MAX. */
uint32_t tr_strtab_find(const tr_strtab *t, const char *s, size_t n);
static inline const char *tr_strtab_get(const tr_strtab *t, uint32_t id)
{
	return id < t->n ? t->str[id] : "?";
}

/* CRC-32C (Castagnoli), used by image and trace files. */
uint32_t tr_crc32c(uint32_t crc, const void *data, size_t len);

/* Read a whole file with a (NULL = default); *buf owned by caller, size
 * *len + 1 (NUL-terminated). TR_E_IO with err->msg naming errno. */
tr_status tr_read_file(const char *path, const tr_allocator *a, char **buf,
                       size_t *len, tr_error *err);

/* Little-endian encoding helpers. */
static inline void tr_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void tr_put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void tr_put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t tr_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tr_get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static inline uint64_t tr_get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

#endif
