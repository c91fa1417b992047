/* tests/cli/cli_run.h: run the built `troupe` binary (TR_TROUPE_BIN) as a
 * child process and capture its exit status, stdout and stderr, for the
 * CLI tests. Output goes through temporary files rather than pipes so that a
 * chatty child can never deadlock the test. */
#ifndef TR_TESTS_CLI_RUN_H
#define TR_TESTS_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_out {
	int status;     /* exit code, or 128 + signal when killed */
	char *out;      /* stdout, NUL-terminated (malloc) */
	char *err;      /* stderr, NUL-terminated (malloc) */
	size_t out_len, err_len;
} cli_out;

/* Run TR_TROUPE_BIN with the NULL-terminated argument list (without argv[0]).
 * Aborts the test (cmocka fail) when the child cannot be started. */
void cli_run(cli_out *o, const char *const *args);
/* printf-free variant: cli_runv(&o, "check", "x.tell", NULL). */
void cli_runv(cli_out *o, ...);
void cli_out_free(cli_out *o);

/* The last non-empty line of s (copied into buf). */
const char *cli_last_line(const char *s, char *buf, size_t size);
/* Whole file into a malloc'd NUL-terminated buffer, or NULL. */
char *cli_slurp(const char *path, size_t *len);
/* A fresh temporary path with the given suffix (static storage per call
 * slot: slot 0..3). */
const char *cli_tmp(int slot, const char *suffix);

#endif
