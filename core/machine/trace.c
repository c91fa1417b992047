/* placeholder: observable/effect trace files (owned by the trace module) */
int tr_trace_placeholder_;
