/* troupe/image.h: compiled, verified code images.
 *
 * An image holds per protocol: roles, edges (directed role pairs), interned
 * strings (labels, sorts, handler symbols), per-role bytecode with its
 * register count, jump tables and each role's local type. Every image that
 * exists as a tr_image has passed the verifier (docs/DESIGN.md §3): the
 * compiler verifies what it produced and the loader verifies what it read.
 * A tr_image is immutable: any number of threads and machines may share one
 * while it lives; the caller frees it after every user is gone. */
#ifndef TROUPE_IMAGE_H
#define TROUPE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alloc.h"
#include "protocol.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_image tr_image;

/* Compile every role of a projected protocol and verify the result. On
 * success *out owns a new image (independent of p, which may be freed).
 * Errors: TR_E_LIMIT (too many registers/instructions), TR_E_VERIFY (a
 * compiler bug caught by the verifier), TR_E_NOMEM, TR_E_INVALID. */
TR_API tr_status tr_image_compile(const tr_protocol *p, const tr_allocator *a,
                                  tr_image **out, tr_error *err);

/* Serialise to the image file format (versioned, little-endian, CRC-32C
 * checksummed; docs/DESIGN.md §3). *buf is allocated with a and owned by the
 * caller (free with a->free(ctx, *buf, *len)). */
TR_API tr_status tr_image_save(const tr_image *img, const tr_allocator *a,
                               uint8_t **buf, size_t *len);

/* Write tr_image_save()'s bytes to path. TR_E_IO on failure. */
TR_API tr_status tr_image_save_file(const tr_image *img, const char *path);

/* Parse, bounds-check and verify an image file's bytes (len bytes, untrusted).
 * On success *out owns a new image; the bytes are not referenced after the
 * call. Errors: TR_E_CORRUPT with err->offset the byte offset of the first
 * bad field (truncation, checksum, version, counts, out-of-range indices);
 * TR_E_VERIFY with err->role and err->pc when the bytecode disagrees with the
 * local type or breaks a structural rule; TR_E_NOMEM. */
TR_API tr_status tr_image_load(const uint8_t *bytes, size_t len,
                               const tr_allocator *a, tr_image **out,
                               tr_error *err);

/* Read the file at path and tr_image_load() it. TR_E_IO when unreadable. */
TR_API tr_status tr_image_load_file(const char *path, const tr_allocator *a,
                                    tr_image **out, tr_error *err);

/* Free img. NULL is a no-op. No machine may still use it. */
TR_API void tr_image_free(tr_image *img);

/* Print a human-readable listing (roles, edges, strings, each role's local
 * type and its instructions with pcs). TR_E_IO on a write error. */
TR_API tr_status tr_image_disasm(const tr_image *img, FILE *f);

/* Accessors: valid while img lives. */
TR_API const char *tr_image_name(const tr_image *img);
TR_API unsigned tr_image_nroles(const tr_image *img);
TR_API const char *tr_image_role_name(const tr_image *img, unsigned role);
/* Index of the role called name, or -1. */
TR_API int tr_image_role_index(const tr_image *img, const char *name);
TR_API unsigned tr_image_nedges(const tr_image *img);
/* Interned label id of name, or -1 (labels are compared by id at run time). */
TR_API int tr_image_label_id(const tr_image *img, const char *name);
TR_API const char *tr_image_string(const tr_image *img, uint32_t id);

#ifdef __cplusplus
}
#endif
#endif
