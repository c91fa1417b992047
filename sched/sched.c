/* placeholder: replaced by the scheduler module */
int tr_sched_placeholder_;
