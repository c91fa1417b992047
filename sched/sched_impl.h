/* placeholder: the scheduler module defines struct tr_sched here */
struct tr_sched { int placeholder_; };
