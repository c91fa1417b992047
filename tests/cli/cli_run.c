/* tests/cli/cli_run.c: see cli_run.h. */
#include "cli_run.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

extern char **environ;

char *
cli_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				fclose(f);
				return NULL;
			}
			b = nb;
		}
		size_t got = fread(b + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	if (!b)
		b = calloc(1, 1);
	b[n] = '\0';
	if (len)
		*len = n;
	return b;
}

const char *
cli_tmp(int slot, const char *suffix)
{
	static char paths[4][256];
	static unsigned counter;

	snprintf(paths[slot & 3], sizeof paths[0], "/tmp/troupe-cli-test-%d-%u%s",
	         (int)getpid(), counter++, suffix ? suffix : "");
	return paths[slot & 3];
}

void
cli_run(cli_out *o, const char *const *args)
{
	char outp[128], errp[128];
	const char *argv[64];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int n = 0, ws;

	memset(o, 0, sizeof *o);
	argv[n++] = TR_TROUPE_BIN;
	for (; args && args[n - 1] && n < 63; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	snprintf(outp, sizeof outp, "/tmp/troupe-cli-out-%d", (int)getpid());
	snprintf(errp, sizeof errp, "/tmp/troupe-cli-err-%d", (int)getpid());
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc = posix_spawn(&pid, TR_TROUPE_BIN, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		fail_msg("cannot start %s: %s", TR_TROUPE_BIN, strerror(rc));
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
	o->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	o->out = cli_slurp(outp, &o->out_len);
	o->err = cli_slurp(errp, &o->err_len);
	unlink(outp);
	unlink(errp);
	if (!o->out || !o->err)
		fail_msg("cannot read the child's output");
}

void
cli_runv(cli_out *o, ...)
{
	const char *args[64];
	va_list ap;
	int n = 0;

	va_start(ap, o);
	while (n < 63 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	cli_run(o, args);
}

void
cli_out_free(cli_out *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
}

const char *
cli_last_line(const char *s, char *buf, size_t size)
{
	const char *end = s + strlen(s), *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	snprintf(buf, size, "%.*s", (int)(end - start), start);
	return buf;
}
