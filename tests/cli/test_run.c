/* tests/cli/test_run.c: `troupe run` on the four workloads and a generic
 * protocol: exit 0, the exact message count of WORKLOADS.md, the RESULT
 * line byte for byte in its format and last on stdout; both placements and
 * the single-machine path; traces written by --trace print, export and
 * replay identically; bad arguments exit 2. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_run.h"

static uint64_t
formula(const char *wl, uint64_t r)
{
	if (strcmp(wl, "pingpong") == 0)
		return 3 * r + 1;
	if (strcmp(wl, "ring") == 0)
		return 15 * r + 7;
	if (strcmp(wl, "fanout") == 0)
		return 12 * r + 4;
	if (strcmp(wl, "twobuyer") == 0)
		return 7 * r + 2 * ((r + 1) / 2) + 2;
	fail_msg("no formula for %s", wl);
	return 0;
}

/* Check the last stdout line against WORKLOADS.md's format with every
 * fixed field spelled out. */
static void
assert_result(const cli_out *o, const char *wl, uint64_t s, uint64_t r,
              int threads, const char *placement, uint64_t messages)
{
	char line[1024], pat[1024];
	regex_t re;

	cli_last_line(o->out, line, sizeof line);
	snprintf(pat, sizeof pat,
	         "^RESULT impl=troupe workload=%s sessions=%llu rounds=%llu "
	         "threads=%d placement=%s messages=%llu wall_s=[0-9]+\\.[0-9]{6} "
	         "msgs_per_s=[0-9]+ peak_rss_kb=[0-9]+$",
	         wl, (unsigned long long)s, (unsigned long long)r, threads, placement,
	         (unsigned long long)messages);
	assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, line, 0, NULL, 0) != 0)
		fail_msg("RESULT line\n  %s\ndoes not match\n  %s\nstderr: %s", line, pat,
		         o->err);
	regfree(&re);
	/* exactly one RESULT line */
	const char *first = strstr(o->out, "RESULT ");
	assert_non_null(first);
	assert_null(strstr(first + 1, "RESULT "));
}

static void
run_one(const char *wl, uint64_t s, uint64_t r, int threads, const char *placement,
        bool machine)
{
	char ss[32], rs[32], ts[32];
	cli_out o;

	snprintf(ss, sizeof ss, "%llu", (unsigned long long)s);
	snprintf(rs, sizeof rs, "%llu", (unsigned long long)r);
	snprintf(ts, sizeof ts, "%d", threads);
	if (machine)
		cli_runv(&o, "run", wl, "--sessions", ss, "--rounds", rs, "--threads", ts,
		         "--placement", placement, "--machine", NULL);
	else
		cli_runv(&o, "run", wl, "--sessions", ss, "--rounds", rs, "--threads", ts,
		         "--placement", placement, "--no-pin", NULL);
	if (o.status != 0)
		fail_msg("run %s S=%s R=%s T=%s %s%s: exit %d\nstderr: %s\nstdout: %s", wl,
		         ss, rs, ts, placement, machine ? " --machine" : "", o.status,
		         o.err, o.out);
	assert_result(&o, wl, s, r, threads, placement, s * formula(wl, r));
	/* the summary precedes the RESULT line */
	assert_non_null(strstr(o.out, "p50"));
	assert_non_null(strstr(o.out, "peak RSS"));
	cli_out_free(&o);
}

static const char *const workloads[] = {"pingpong", "ring", "fanout", "twobuyer"};

static void
test_workloads_machine(void **state)
{
	(void)state;
	for (size_t i = 0; i < 4; i++) {
		run_one(workloads[i], 7, 5, 1, "local", true);
		run_one(workloads[i], 3, 0, 1, "local", true);
		run_one(workloads[i], 2, 1, 1, "local", true);
	}
}

static void
test_workloads_runtime(void **state)
{
	(void)state;
	for (size_t i = 0; i < 4; i++) {
		run_one(workloads[i], 50, 7, 1, "local", false);
		run_one(workloads[i], 50, 7, 2, "local", false);
		run_one(workloads[i], 50, 7, 2, "spread", false);
		run_one(workloads[i], 3, 0, 3, "spread", false);
	}
}

/* Any other protocol runs under the generic handler: no formula, but the
 * run must succeed and the count is whatever was sent (here 4R + 2). */
static void
test_generic_protocol(void **state)
{
	(void)state;
	cli_out o;

	cli_runv(&o, "run", TR_CLI_DATA "/generic.tell", "--sessions", "10",
	         "--rounds", "3", "--machine", NULL);
	if (o.status != 0)
		fail_msg("exit %d: %s", o.status, o.err);
	assert_result(&o, "generic", 10, 3, 1, "local", 10 * 14);
	cli_out_free(&o);

	cli_runv(&o, "run", TR_CLI_DATA "/generic.tell", "--sessions", "10",
	         "--rounds", "3", "--threads", "2", "--placement", "spread",
	         "--no-pin", NULL);
	if (o.status != 0)
		fail_msg("exit %d: %s", o.status, o.err);
	assert_result(&o, "generic", 10, 3, 2, "spread", 10 * 14);
	cli_out_free(&o);
}

/* The other example protocols run under the generic handler too. */
static void
test_examples_run(void **state)
{
	(void)state;
	static const char *const skip[] = {"pingpong.tell", "ring.tell",
	                                   "fanout.tell", "twobuyer.tell"};
	char cmd[1024];
	FILE *ls;

	snprintf(cmd, sizeof cmd, "ls %s/*.tell", TR_EXAMPLES);
	ls = popen(cmd, "r");
	assert_non_null(ls);
	while (fgets(cmd, sizeof cmd, ls)) {
		bool std = false;
		cmd[strcspn(cmd, "\n")] = '\0';
		for (size_t i = 0; i < 4; i++)
			std |= strstr(cmd, skip[i]) != NULL &&
			       strcmp(strrchr(cmd, '/') + 1, skip[i]) == 0;
		if (std)
			continue;
		cli_out o;
		cli_runv(&o, "run", cmd, "--sessions", "5", "--rounds", "2", NULL);
		if (o.status != 0)
			print_error("%s: exit %d: %s\n", cmd, o.status, o.err);
		assert_int_equal(o.status, 0);
		char line[1024];
		assert_memory_equal(cli_last_line(o.out, line, sizeof line), "RESULT ", 7);
		cli_out_free(&o);
	}
	pclose(ls);
}

static void
test_trace_and_replay(void **state)
{
	(void)state;
	char tr[256], eff[300];
	cli_out o;

	snprintf(tr, sizeof tr, "%s", cli_tmp(0, ".trace"));
	snprintf(eff, sizeof eff, "%s.effects", tr);
	cli_runv(&o, "run", "pingpong", "--sessions", "4", "--rounds", "3",
	         "--trace", tr, NULL);
	if (o.status != 0)
		fail_msg("exit %d: %s", o.status, o.err);
	assert_result(&o, "pingpong", 4, 3, 1, "local", 40);
	cli_out_free(&o);

	cli_runv(&o, "trace", tr, NULL);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.out, "SENT"));
	assert_non_null(strstr(o.out, "HALTED"));
	cli_out_free(&o);

	cli_runv(&o, "trace", tr, "--chrome", NULL);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.out, "traceEvents"));
	cli_out_free(&o);

	cli_runv(&o, "trace", eff, NULL);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.out, "EFF_"));
	cli_out_free(&o);

	cli_runv(&o, "replay", "pingpong", eff, "--expect", tr, NULL);
	if (o.status != 0)
		fail_msg("replay: exit %d: %s", o.status, o.err);
	assert_non_null(strstr(o.out, "identical"));
	cli_out_free(&o);

	/* an observable trace is not an effect trace */
	cli_runv(&o, "replay", "pingpong", tr, NULL);
	assert_int_equal(o.status, 1);
	cli_out_free(&o);

	/* a damaged trace: exit 1 with a byte offset */
	{
		size_t len;
		char *b = cli_slurp(tr, &len);
		assert_non_null(b);
		b[len / 2] ^= 0x21;
		FILE *f = fopen(tr, "wb");
		assert_non_null(f);
		fwrite(b, 1, len, f);
		fclose(f);
		free(b);
		cli_runv(&o, "trace", tr, NULL);
		assert_int_equal(o.status, 1);
		assert_non_null(strstr(o.err, ": byte "));
		cli_out_free(&o);
	}
	unlink(tr);
	unlink(eff);
}

static void
test_run_errors(void **state)
{
	(void)state;
	static const char *const usage[][8] = {
		{"run", "ring", "--sessions", "-1", NULL},
		{"run", "ring", "--sessions", "ten", NULL},
		{"run", "ring", "--rounds", "99999999999", NULL},
		{"run", "ring", "--threads", "0", NULL},
		{"run", "ring", "--placement", "nowhere", NULL},
		{"run", "ring", "--policy", "chaotic", NULL},
		{"run", "ring", "--bogus", NULL},
		{"run", "ring", "pingpong", NULL},
		{"run", "ring", "--trace", "/tmp/x", "--threads", "2", NULL},
		{"run", "ring", "--rules", "tetris", NULL},
		{"run", "ring", "--threads", "65", NULL},
	};
	cli_out o;

	for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
		cli_run(&o, usage[i]);
		if (o.status != 2)
			print_error("case %zu: exit %d: %s\n", i, o.status, o.err);
		assert_int_equal(o.status, 2);
		assert_non_null(strstr(o.err, "usage: troupe"));
		cli_out_free(&o);
	}
	/* a missing file is rejected input */
	cli_runv(&o, "run", "/nonexistent.tell", NULL);
	assert_int_equal(o.status, 1);
	cli_out_free(&o);
}

/* A wrong payload faults the session and the run exits 3 naming the
 * fault and the value; a count that disagrees with the formula exits 3 and
 * prints no RESULT line. Both on the runtime and on one machine. */
static void
test_run_failures(void **state)
{
	(void)state;
	cli_out o;

	for (int machine = 0; machine < 2; machine++) {
		cli_runv(&o, "run", TR_CLI_DATA "/pingpong_twice.tell", "--rules",
		         "pingpong", "--sessions", "10", "--rounds", "3",
		         machine ? "--machine" : "--no-pin", NULL);
		assert_int_equal(o.status, 3);
		assert_non_null(strstr(o.err, "10 of 10 sessions failed"));
		assert_non_null(strstr(o.err, "INVOKE"));
		assert_non_null(strstr(o.err, "Ping carried 0"));
		assert_null(strstr(o.out, "RESULT"));
		cli_out_free(&o);

		cli_runv(&o, "run", TR_CLI_DATA "/pingpong_ack.tell", "--rules",
		         "pingpong", "--sessions", "10", "--rounds", "3",
		         machine ? "--machine" : "--no-pin", NULL);
		assert_int_equal(o.status, 3);
		assert_non_null(strstr(o.err, "130 messages sent"));
		assert_non_null(strstr(o.err, "gives 100"));
		assert_null(strstr(o.out, "RESULT"));
		cli_out_free(&o);
	}
	/* rules that do not fit the protocol: rejected input, with the reason */
	cli_runv(&o, "run", TR_CLI_DATA "/generic.tell", "--rules", "ring", NULL);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "generic.tell: error: workload ring"));
	cli_out_free(&o);
}

/* Policies other than the default still give exact counts. */
static void
test_policies(void **state)
{
	(void)state;
	static const char *const pol[] = {"round_robin", "priority",
	                                  "progress_aware", "seeded:42"};
	cli_out o;

	for (size_t i = 0; i < 4; i++) {
		cli_runv(&o, "run", "twobuyer", "--sessions", "6", "--rounds", "4",
		         "--policy", pol[i], "--machine", NULL);
		if (o.status != 0)
			fail_msg("%s: exit %d: %s", pol[i], o.status, o.err);
		assert_result(&o, "twobuyer", 6, 4, 1, "local", 6 * formula("twobuyer", 4));
		cli_out_free(&o);
	}
}

/* Not a terminal here: progress, if any, is plain lines without \r. */
static void
test_progress_in_pipe(void **state)
{
	(void)state;
	cli_out o;

	cli_runv(&o, "run", "ring", "--sessions", "100", "--rounds", "10", NULL);
	assert_int_equal(o.status, 0);
	assert_null(strchr(o.err, '\r'));
	assert_null(strchr(o.out, '\r'));
	cli_out_free(&o);
}

/* Under a terminal (script(1) gives the child a pty) the progress line is
 * rewritten in place with \r and ends with a newline before the summary. */
static void
test_progress_on_terminal(void **state)
{
	(void)state;
	char cmd[1024], buf[4096];
	size_t n;
	FILE *p;

	if (system("command -v script >/dev/null 2>&1") != 0)
		skip();
	snprintf(cmd, sizeof cmd,
	         "script -qec '%s run ring --sessions 2000 --rounds 20 --threads 2 "
	         "--no-pin' /dev/null", TR_TROUPE_BIN);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(buf, 1, sizeof buf - 1, p);
	buf[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(buf, "\r  "));
	assert_non_null(strstr(buf, "sessions done"));
	assert_non_null(strstr(buf, "2000/2000 sessions done"));
	assert_non_null(strstr(buf, "RESULT impl=troupe workload=ring"));
	/* the progress line is finished before the summary starts */
	const char *sum = strstr(buf, "troupe run ring:");
	assert_non_null(sum);
	assert_true(sum > buf && (sum[-1] == '\n'));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workloads_machine),
		cmocka_unit_test(test_workloads_runtime),
		cmocka_unit_test(test_generic_protocol),
		cmocka_unit_test(test_examples_run),
		cmocka_unit_test(test_trace_and_replay),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_run_failures),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_progress_in_pipe),
		cmocka_unit_test(test_progress_on_terminal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
