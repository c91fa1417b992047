/* troupe/trace.h: observable traces and effect traces (docs/DESIGN.md §4.4).
 *
 * A tr_trace is an owned, immutable-after-build array of events of one kind
 * (observable or effect). Machines produce them (tr_machine_trace,
 * tr_machine_effects); files hold them in a versioned, little-endian,
 * CRC-32C-checksummed format; tr_trace_load() checks every byte of an
 * untrusted file. A trace may be read from several threads at once. */
#ifndef TROUPE_TRACE_H
#define TROUPE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alloc.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_trace_mode {
	TR_TRACE_OFF = 0,
	TR_TRACE_LAST_N = 1,
	TR_TRACE_ALL = 2,
} tr_trace_mode;

typedef enum tr_trace_kind {
	TR_TRACE_OBSERVABLE = 1,
	TR_TRACE_EFFECTS = 2,
} tr_trace_kind;

/* Observable events, and effect events (handler outcomes, ingress). */
#define TR_EVENT_MAP(XX)                                                       \
	XX(SESSION_OPENED)   /* observable */                                      \
	XX(SESSION_CLOSED)                                                         \
	XX(SENT)             /* role -> peer, label, value */                      \
	XX(RECEIVED)         /* role <- peer, label, value */                      \
	XX(OFFERED)          /* role chose label, sent to peer */                  \
	XX(CHOSE)            /* role received choice label from peer */            \
	XX(BLOCKED)          /* aux = reason */                                    \
	XX(HALTED)                                                                 \
	XX(FAULTED)          /* aux = tr_fault_kind, pc in value */                \
	XX(FAILURE_BRANCH_ENTERED)                                                 \
	XX(TIMEOUT)                                                                \
	XX(TOPOLOGY)         /* aux = tr_topology_kind */                          \
	XX(DROPPED)          /* role -> peer message dropped (full/unknown) */     \
	XX(INVOKED)                                                                \
	XX(EFF_SEND)         /* effect: on_send gave value (aux = kind), status */ \
	XX(EFF_RECV)         /* effect: on_recv returned status */                 \
	XX(EFF_CHOOSE)       /* effect: on_choose picked label, status */          \
	XX(EFF_INVOKE)       /* effect: on_invoke returned status */               \
	XX(EFF_TOPOLOGY)     /* effect: one topology event (aux kind, value ticks)*/\
	XX(EFF_INGRESS)      /* effect: one injected message */

typedef enum tr_event_kind {
#define TR_EVENT_ENUM_(n) TR_EV_##n,
	TR_EVENT_MAP(TR_EVENT_ENUM_)
#undef TR_EVENT_ENUM_
	TR_EV_COUNT_
} tr_event_kind;

/* "SENT" for TR_EV_SENT; "?" outside the table. */
TR_API const char *tr_event_name(uint32_t kind);

/* One event: 48 bytes, the file record (little-endian, same field order). */
typedef struct tr_event {
	uint64_t tick;
	uint64_t session;
	uint32_t kind;   /* tr_event_kind */
	uint32_t role;
	uint32_t peer;
	uint32_t label;  /* string id, or the symbol for INVOKE */
	uint32_t aux;    /* per kind: fault kind, block reason, value kind, ... */
	uint32_t status; /* effect events: the handler's tr_status */
	uint64_t value;  /* payload bits, or pc for FAULTED */
} tr_event;

typedef struct tr_trace tr_trace;

/* Build a trace of `kind` from n events (copied). *out owned by caller. */
TR_API tr_status tr_trace_create(tr_trace_kind kind, const tr_event *ev, size_t n,
                                 const tr_allocator *a, tr_trace **out);
/* NULL is a no-op. */
TR_API void tr_trace_free(tr_trace *t);
TR_API tr_trace_kind tr_trace_get_kind(const tr_trace *t);
TR_API size_t tr_trace_count(const tr_trace *t);
/* Events, valid while t lives. */
TR_API const tr_event *tr_trace_events(const tr_trace *t);
/* Byte-wise equality of kind and events. */
TR_API bool tr_trace_equal(const tr_trace *a, const tr_trace *b);

/* Serialise (magic "TRTR", version, kind, count, events, CRC-32C).
 * *buf allocated with a (NULL: default), freed by the caller with size
 * *len. */
TR_API tr_status tr_trace_save(const tr_trace *t, const tr_allocator *a,
                               uint8_t **buf, size_t *len);
TR_API tr_status tr_trace_save_file(const tr_trace *t, const char *path);

/* Parse untrusted bytes. TR_E_CORRUPT with err->offset at the first bad
 * byte (magic, version, kind, count vs length, an event kind out of range,
 * checksum); TR_E_NOMEM. */
TR_API tr_status tr_trace_load(const uint8_t *bytes, size_t len,
                               const tr_allocator *a, tr_trace **out,
                               tr_error *err);
TR_API tr_status tr_trace_load_file(const char *path, const tr_allocator *a,
                                    tr_trace **out, tr_error *err);

/* One line per event, for `troupe trace` and test failure messages. */
TR_API tr_status tr_trace_print(const tr_trace *t, FILE *f);

/* Chrome/Perfetto trace-event JSON: one track per (session, role), instant
 * events at ts = tick. */
TR_API tr_status tr_trace_export_chrome(const tr_trace *t, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
