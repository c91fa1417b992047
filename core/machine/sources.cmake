set(TR_CORE_MACHINE_SOURCES machine/trace.c machine/machine.c)
