/* placeholder: replaced by the runtime module */
int tr_runtime_placeholder_;
