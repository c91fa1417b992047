# runtime/: sources of the `troupe` library, in dependency order.
set(TR_RUNTIME_SOURCES
  inbox.c
  slots.c
  platform.c
  runtime.c)
