/* troupe/protocol.h: protocol text -> global type -> local type per role.
 *
 * A tr_protocol is an immutable object once built: it holds the protocol's
 * name, roles, interned labels and payload sorts, its global type (after the
 * desugaring pass of docs/DESIGN.md §2) and, after tr_protocol_project(), one
 * local type per role. Functions on distinct protocols may run on distinct
 * threads; a protocol may be read (printed, compiled) from several threads at
 * once after it is built. */
#ifndef TROUPE_PROTOCOL_H
#define TROUPE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "alloc.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_protocol tr_protocol;

/* Limits that bound untrusted input. Exceeding one is TR_E_LIMIT with the
 * position where it was exceeded. */
#define TR_MAX_ROLES 64          /* roles per protocol */
#define TR_MAX_NESTING 256       /* nested blocks / type depth */
#define TR_MAX_IDENT 255         /* bytes in one identifier */
#define TR_MAX_BRANCHES 1024     /* branches in one choice */
#define TR_MAX_SOURCE (64u << 20) /* bytes of protocol text */

/* Parse `.tell` text (len bytes; need not be NUL-terminated), check it is
 * well-formed, desugar it and project every role. `name` is used in error
 * positions (may be NULL). On success *out owns a new protocol, free it with
 * tr_protocol_free(). On failure *out is NULL and err (if not NULL) holds
 * the status, line:column and reason.
 * Errors: TR_E_SYNTAX, TR_E_UNSUPPORTED, TR_E_WELLFORMED, TR_E_PROJECTION,
 * TR_E_LIMIT, TR_E_NOMEM, TR_E_INVALID (NULL text or out). */
TR_API tr_status tr_protocol_parse(const char *text, size_t len, const char *name,
                                   const tr_allocator *a, tr_protocol **out,
                                   tr_error *err);

/* Read the whole file at path and tr_protocol_parse() it. TR_E_IO when the
 * file cannot be read. */
TR_API tr_status tr_protocol_parse_file(const char *path, const tr_allocator *a,
                                        tr_protocol **out, tr_error *err);

/* Read a global type in the origin's JSON exchange format
 * ({"kind":"comm","sender","receiver","branches":[{"label":{"name","sort"},
 * "continuation"}]}, "rec"/"var"/"end"), check and project it. Roles are
 * the sender/receiver names in order of first appearance. Same ownership and
 * errors as tr_protocol_parse(); positions are line:column in the JSON. */
TR_API tr_status tr_protocol_parse_json(const char *text, size_t len,
                                        const char *name, const tr_allocator *a,
                                        tr_protocol **out, tr_error *err);

/* Free p and everything it owns. NULL is a no-op. */
TR_API void tr_protocol_free(tr_protocol *p);

/* Accessors: valid while p lives. Role indices are 0..nroles-1 in
 * declaration order. */
TR_API const char *tr_protocol_name(const tr_protocol *p);
TR_API unsigned tr_protocol_nroles(const tr_protocol *p);
TR_API const char *tr_protocol_role_name(const tr_protocol *p, unsigned role);

 /* Print role's local type in troupe's text notation (B!l(T).L, A&{...},
 * μX.L, X, end) followed by a newline. Returns TR_E_INVALID for a bad role,
 * TR_E_IO on a write error, TR_E_LIMIT when the type unfolded as a tree is
 * too large to print (shared continuations can make it exponential). */
TR_API tr_status tr_protocol_print_local(const tr_protocol *p, unsigned role,
                                         FILE *f);

/* Print role's local type in the origin's local JSON shape ("kind":
 * "send"|"recv"|"rec"|"var"|"end", "partner", "branches"), pretty-printed
 * with two-space indent as the origin's golden files are. TR_E_LIMIT (output
 * left partial) when the type is nested deeper than 1024 levels or expands
 * to more than 2^20 nodes: that shape's size grows with the square of the
 * depth. */
TR_API tr_status tr_protocol_print_local_json(const tr_protocol *p, unsigned role,
                                              FILE *f);

#ifdef __cplusplus
}
#endif
#endif
