/* runtime/rt_sync.h: what the runtime's threads synchronise with, beyond
 * plain <stdatomic.h>: TSan annotations for Concurrency Kit hand-offs, and
 * the parker a worker sleeps on.
 *
 * ck's primitives are inline assembly that ThreadSanitizer cannot see. Around
 * a ck hand-off, the producer calls TR_TSAN_RELEASE(obj) before publishing
 * and the consumer TR_TSAN_ACQUIRE(obj) after taking, on the same obj, so
 * TSan learns the happens-before edge ck provides. The copies ck makes into
 * and out of ring slots are hidden from TSan with TR_TSAN_IGNORE_*: the slot
 * itself is ordered by ck's own fences, which TSan cannot see either. In
 * other builds every macro is a no-op. */
#ifndef TR_RT_SYNC_H
#define TR_RT_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef TR_TSAN_BUILD
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define TR_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define TR_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define TR_TSAN_IGNORE_WRITES_BEGIN() AnnotateIgnoreWritesBegin(__FILE__, __LINE__)
#define TR_TSAN_IGNORE_WRITES_END() AnnotateIgnoreWritesEnd(__FILE__, __LINE__)
#else
#define TR_TSAN_RELEASE(p) ((void)(p))
#define TR_TSAN_ACQUIRE(p) ((void)(p))
#define TR_TSAN_IGNORE_WRITES_BEGIN() ((void)0)
#define TR_TSAN_IGNORE_WRITES_END() ((void)0)
#endif

static inline void
tr_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* The parker: one futex word per worker.
 *
 * Theory of operation (the wake protocol; tests/runtime/test_inbox.c refers
 * to these points):
 *  W1. The owner announces it is about to sleep: state := PARKED (seq_cst).
 *  W2. It then re-checks every inbox. If anything is there it cancels
 *      (state := RUNNING) and goes on; else it futex-waits while the state
 *      is still PARKED.
 *  W3. A producer first publishes its item (the ring's tail store or the
 *      queue's exchange), then issues a seq_cst fence and reads state. If it
 *      reads PARKED, it exchanges it for RUNNING and, if it won that
 *      exchange, calls futex-wake.
 *  W4. W1 + re-check and W3 form a Dekker pair over (state, inbox): with
 *      seq_cst on both sides, either the owner's re-check sees the item or
 *      the producer sees PARKED. No wake-up is lost, and a producer that
 *      finds the owner running does no system call: the syscall happens
 *      only on the running -> parked transition of the receiver.
 *  W5. Spurious wake-ups (futex returns, timeouts) are harmless: the owner
 *      loops and re-checks. */
enum { TR_PARK_RUNNING = 0, TR_PARK_PARKED = 1 };

typedef struct tr_parker {
	_Atomic uint32_t state;
	_Atomic uint64_t wakes; /* futex wakes issued, for tests and stats */
} tr_parker;

void tr_parker_init(tr_parker *p);
/* W1. Owner only. */
void tr_parker_prepare_owner(tr_parker *p);
/* W2 when the re-check found work. Owner only. */
void tr_parker_cancel_owner(tr_parker *p);
/* W2: sleep while PARKED, at most timeout_ms (0: no limit). Owner only.
 * Returns with the state RUNNING. */
void tr_parker_wait_owner(tr_parker *p, uint32_t timeout_ms);
/* W3: call after publishing work for p's owner. Any thread. Returns true
 * when it issued a futex wake. */
bool tr_parker_wake_any(tr_parker *p);

#endif
