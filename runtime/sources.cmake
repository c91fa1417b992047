set(TR_RUNTIME_SOURCES runtime.c)
