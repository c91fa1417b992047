/* tests/cli/test_check.c: `troupe check` and its exit codes: every file of
 * tests/data/bad/expect.txt is rejected with exit 1 and FILE:LINE:COL plus
 * the expected reason; the examples check and print one local type per
 * role; --json and --global-json; usage errors exit 2. */
#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli_run.h"

#define BAD_DIR TR_TEST_DATA "/bad"


static int
count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line of the manifest: NAME<TAB>LINE:COL<TAB>reason substring. The
 * list is read at test time so that new bad files are covered at once. */
static void
test_bad_manifest(void **state)
{
	(void)state;
	size_t len;
	char *text = cli_slurp(BAD_DIR "/expect.txt", &len);
	int checked = 0, failures = 0;

	if (!text)
		fail_msg("cannot read %s/expect.txt", BAD_DIR);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char name[256], pos[64], reason[512], path[512], want[1024];
		cli_out o;
		char *t1, *t2;

		if (line[0] == '#' || line[0] == '\0' || line[0] == '\r')
			continue;
		if (!(t1 = strchr(line, '\t')) || !(t2 = strchr(t1 + 1, '\t'))) {
			print_error("manifest line without two tabs: %s\n", line);
			failures++;
			continue;
		}
		snprintf(name, sizeof name, "%.*s", (int)(t1 - line), line);
		snprintf(pos, sizeof pos, "%.*s", (int)(t2 - t1 - 1), t1 + 1);
		snprintf(reason, sizeof reason, "%s", t2 + 1);
		reason[strcspn(reason, "\r")] = '\0';
		snprintf(path, sizeof path, "%s/%s", BAD_DIR, name);
		cli_runv(&o, "check", path, NULL);
		snprintf(want, sizeof want, "%s:%s: error:", path, pos);
		if (o.status != 1 || !strstr(o.err, want) || !strstr(o.err, reason) ||
		    o.out_len != 0) {
			print_error("%s: exit %d (want 1), want '%s' and '%s' on stderr,"
			            " got: %s (stdout %zu bytes)\n",
			            name, o.status, want, reason, o.err, o.out_len);
			failures++;
		}
		/* One message, one line: a crash or a leak report would add more. */
		if (count_lines(o.err) != 1) {
			print_error("%s: %d lines on stderr, want 1:\n%s", name,
			            count_lines(o.err), o.err);
			failures++;
		}
		cli_out_free(&o);
		checked++;
	}
	free(text);
	print_message("checked %d malformed files\n", checked);
	assert_true(checked > 0);
	assert_int_equal(failures, 0);
}

static void
test_ring_eight_roles(void **state)
{
	(void)state;
	cli_out o;
	char want[8];

	cli_runv(&o, "check", TR_EXAMPLES "/ring.tell", NULL);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.err_len, 0);
	assert_int_equal(count_lines(o.out), 8);
	const char *p = o.out;
	for (int k = 0; k < 8; k++) {
		snprintf(want, sizeof want, "P%d: ", k);
		assert_memory_equal(p, want, strlen(want));
		/* a local type, not an empty line */
		assert_true(strlen(p) > strlen(want) + 2);
		p = strchr(p, '\n') + 1;
	}
	cli_out_free(&o);
}

/* Each example checks; one "Role: type" line per role. */
static void
test_examples_check(void **state)
{
	(void)state;
	DIR *d = opendir(TR_EXAMPLES);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char path[1024];
		cli_out o;

		if (l < 6 || strcmp(de->d_name + l - 5, ".tell") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", TR_EXAMPLES, de->d_name);
		cli_runv(&o, "check", path, NULL);
		if (o.status != 0)
			print_error("%s: exit %d: %s\n", path, o.status, o.err);
		assert_int_equal(o.status, 0);
		assert_true(count_lines(o.out) >= 2);
		for (const char *p = o.out; *p; p = strchr(p, '\n') + 1)
			assert_non_null(strstr(p, ": "));
		cli_out_free(&o);
		n++;
	}
	closedir(d);
	/* the four workloads and at least four more protocols */
	assert_true(n >= 8);
}

/* A crude well-formedness test: braces and brackets balance outside
 * strings, and the document is one object. */
static void
assert_json_object(const char *s)
{
	int depth = 0;
	bool in_str = false;

	while (*s == ' ' || *s == '\n')
		s++;
	assert_int_equal(*s, '{');
	for (; *s; s++) {
		if (in_str) {
			if (*s == '\\' && s[1])
				s++;
			else if (*s == '"')
				in_str = false;
			continue;
		}
		if (*s == '"')
			in_str = true;
		else if (*s == '{' || *s == '[')
			depth++;
		else if (*s == '}' || *s == ']')
			assert_true(--depth >= 0);
	}
	assert_false(in_str);
	assert_int_equal(depth, 0);
}

static void
test_check_json(void **state)
{
	(void)state;
	cli_out o;

	cli_runv(&o, "check", TR_EXAMPLES "/pingpong.tell", "--json", NULL);
	assert_int_equal(o.status, 0);
	assert_json_object(o.out);
	assert_non_null(strstr(o.out, "\"A\""));
	assert_non_null(strstr(o.out, "\"B\""));
	assert_non_null(strstr(o.out, "\"partner\""));
	assert_non_null(strstr(o.out, "\"send\""));
	assert_non_null(strstr(o.out, "\"recv\""));
	cli_out_free(&o);
}

static void
test_global_json(void **state)
{
	(void)state;
	cli_out o;

	cli_runv(&o, "check", "--global-json", TR_CLI_DATA "/pingpong_global.json",
	         "--json", NULL);
	if (o.status != 0)
		print_error("%s", o.err);
	assert_int_equal(o.status, 0);
	assert_json_object(o.out);
	assert_non_null(strstr(o.out, "\"A\""));
	assert_non_null(strstr(o.out, "\"B\""));
	assert_non_null(strstr(o.out, "\"rec\""));
	assert_non_null(strstr(o.out, "\"ping\""));
	cli_out_free(&o);

	/* and a rejected one: a self-send, with its position */
	cli_runv(&o, "check", "--global-json", TR_CLI_DATA "/self_send_global.json",
	         "--json", NULL);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, TR_CLI_DATA "/self_send_global.json:"));
	assert_non_null(strstr(o.err, ": error: "));
	assert_int_equal(o.out_len, 0);
	cli_out_free(&o);
}

static void
test_check_rejects_inputs(void **state)
{
	(void)state;
	cli_out o;

	cli_runv(&o, "check", "/nonexistent/x.tell", NULL);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "/nonexistent/x.tell"));
	assert_non_null(strstr(o.err, "error"));
	cli_out_free(&o);

	/* a directory is not a protocol */
	cli_runv(&o, "check", TR_EXAMPLES, NULL);
	assert_int_equal(o.status, 1);
	cli_out_free(&o);
}

static void
test_usage_errors(void **state)
{
	(void)state;
	static const char *const cases[][6] = {
		{NULL},
		{"frobnicate", NULL},
		{"check", NULL},
		{"check", "--frob", TR_EXAMPLES "/ring.tell", NULL},
		{"check", TR_EXAMPLES "/ring.tell", TR_EXAMPLES "/pingpong.tell", NULL},
		{"compile", NULL},
		{"compile", TR_EXAMPLES "/ring.tell", "-o", NULL},
		{"disasm", NULL},
		{"trace", NULL},
		{"run", NULL},
		{"run", "ring", "--sessions", "0", NULL},
		{"replay", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cli_out o;
		cli_run(&o, cases[i]);
		if (o.status != 2 || !strstr(o.err, "usage: troupe"))
			print_error("case %zu (%s %s): exit %d, stderr: %s\n", i,
			            cases[i][0] ? cases[i][0] : "", cases[i][0] && cases[i][1] ? cases[i][1] : "",
			            o.status, o.err);
		assert_int_equal(o.status, 2);
		assert_non_null(strstr(o.err, "usage: troupe"));
		assert_int_equal(o.out_len, 0);
		cli_out_free(&o);
	}
}

static void
test_help(void **state)
{
	(void)state;
	static const char *const verbs[] = {"check", "compile", "disasm", "run",
	                                    "trace", "replay"};
	cli_out o;

	cli_runv(&o, "--help", NULL);
	assert_int_equal(o.status, 0);
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		assert_non_null(strstr(o.out, verbs[i]));
	cli_out_free(&o);
	cli_runv(&o, "help", NULL);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.out, "Exit status"));
	cli_out_free(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_manifest),
		cmocka_unit_test(test_ring_eight_roles),
		cmocka_unit_test(test_examples_check),
		cmocka_unit_test(test_check_json),
		cmocka_unit_test(test_global_json),
		cmocka_unit_test(test_check_rejects_inputs),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
