/* troupe/sched.h: the scheduling policies a machine can use
 * (docs/DESIGN.md §4.3). The scheduler itself is internal (sched/). */
#ifndef TROUPE_SCHED_H
#define TROUPE_SCHED_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_policy {
	TR_POLICY_COOPERATIVE = 0,    /* FIFO of ready coroutines (default) */
	TR_POLICY_ROUND_ROBIN = 1,    /* next ready id after the last one run */
	TR_POLICY_PRIORITY = 2,       /* highest session priority first, FIFO within */
	TR_POLICY_PROGRESS_AWARE = 3, /* first ready holder of a progress token */
	TR_POLICY_SEEDED = 4,         /* seeded random choice among the ready */
	TR_POLICY_COUNT_
} tr_policy;

#ifdef __cplusplus
}
#endif
#endif
