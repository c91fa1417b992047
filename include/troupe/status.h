/* troupe/status.h: status codes and the caller-owned error record.
 *
 * Every action in troupe returns a tr_status; predicates return bool.
 * What can fail in an interesting way (protocol text, code images, trace
 * files, the verifier) also fills a caller-owned tr_error with where and why.
 * All functions here are pure and thread-safe. */
#ifndef TROUPE_STATUS_H
#define TROUPE_STATUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TR_API __attribute__((visibility("default")))
#define TR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TR_API
#define TR_PRINTF(f, a)
#endif

/* One table makes the enum, tr_status_name() and tr_status_str(). */
#define TR_STATUS_MAP(XX)                                                      \
	XX(OK, "ok")                                                               \
	XX(E_INVALID, "invalid argument")                                          \
	XX(E_NOMEM, "out of memory")                                               \
	XX(E_IO, "input/output error")                                             \
	XX(E_SYNTAX, "syntax error")                                               \
	XX(E_UNSUPPORTED, "not supported yet")                                     \
	XX(E_WELLFORMED, "protocol is not well-formed")                            \
	XX(E_PROJECTION, "role is not projectable")                                \
	XX(E_LIMIT, "limit exceeded")                                              \
	XX(E_CORRUPT, "corrupt input")                                             \
	XX(E_VERIFY, "verification failed")                                        \
	XX(E_REPLAY_MISMATCH, "replay does not match the trace")                   \
	XX(E_NOT_FOUND, "not found")                                               \
	XX(E_STATE, "operation not valid in this state")                           \
	XX(E_FULL, "full")                                                         \
	XX(E_CLOSED, "closed")                                                     \
	XX(E_FAULT, "coroutine faulted")                                           \
	XX(E_HANDLER, "effect handler failed")

typedef enum tr_status {
#define TR_STATUS_ENUM_(name, str) TR_##name,
	TR_STATUS_MAP(TR_STATUS_ENUM_)
#undef TR_STATUS_ENUM_
	TR_STATUS_COUNT_
} tr_status;

/* "TR_E_CORRUPT" for TR_E_CORRUPT; "TR_E_UNKNOWN" outside the table. */
TR_API const char *tr_status_name(tr_status s);
/* A short human sentence, "corrupt input". Never NULL. */
TR_API const char *tr_status_str(tr_status s);

#define TR_NOWHERE UINT32_MAX
#define TR_NO_OFFSET UINT64_MAX

/* Where and why something was rejected. The caller owns it (usually on its
 * stack); troupe writes it only on failure, and only when the pointer passed
 * is not NULL. Fields that do not apply hold TR_NOWHERE / TR_NO_OFFSET. */
typedef struct tr_error {
	tr_status status;
	char file[128];  /* input name ("" when none) */
	uint32_t line;   /* 1-based source position, text inputs */
	uint32_t col;
	uint64_t offset; /* byte offset, binary inputs (images, traces) */
	uint32_t role;   /* role index, verifier and machine */
	uint32_t pc;     /* instruction index, verifier and machine */
	char msg[256];   /* why, without the position */
} tr_error;

/* Reset to "no error" (status TR_OK, every position absent). */
TR_API void tr_error_clear(tr_error *err);

/* Write "FILE:LINE:COL: error: MSG" (or "FILE: byte N: error: MSG", or
 * "FILE: role R pc P: error: MSG") into buf; returns buf. Truncates to
 * size, always NUL-terminates when size > 0. */
TR_API char *tr_error_format(const tr_error *err, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
