/* tools/troupe.c: the troupe command line (docs/DESIGN.md §7).
 *
 * One verb per pipeline stage: check (parse, check, project), compile,
 * disasm, run (the load tool: synthetic handlers on many sessions), trace
 * (print or export a trace file) and replay (re-run sessions from an effect
 * trace). The CLI owns no protocol logic: every step is a library call, and
 * every rejection is printed with tr_error_format().
 *
 * Exit codes: 0 ok; 1 input rejected (protocol text, image, trace, or a
 * workload the synthetic rules do not fit); 2 usage; 3 a run that failed
 * (a fault, a stuck session, a message count that disagrees with the
 * workload formula, a replay mismatch). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "troupe/image.h"
#include "troupe/machine.h"
#include "troupe/protocol.h"
#include "troupe/runtime.h"
#include "troupe/status.h"
#include "troupe/trace.h"

#include "synth.h"

#ifndef TR_EXAMPLES_DIR
#define TR_EXAMPLES_DIR "examples/protocols"
#endif

enum {
	EXIT_OK = 0,
	EXIT_REJECT = 1,
	EXIT_USAGE = 2,
	EXIT_RUNFAIL = 3,
};

static const char *prog = "troupe";

static const char usage_text[] =
	"usage: troupe <command> [args]\n"
	"  check FILE.tell [--json]              check and project; print each role's local type\n"
	"  check --global-json FILE.json [--json] project a global type in the origin's JSON\n"
	"  compile FILE.tell [-o FILE.tri]       compile to a verified code image\n"
	"  disasm FILE.tri|FILE.tell             list an image's roles, edges, code\n"
	"  run WORKLOAD|FILE [options]           run sessions under the synthetic handler\n"
	"      --sessions S  --rounds R  --threads T  --placement local|spread\n"
	"      --no-pin  --policy P[:SEED]  --trace FILE  --slice N  --capacity N\n"
	"      --machine (one machine on the calling thread, no worker threads)\n"
	"      --rules WORKLOAD (run FILE under a standard workload's payload rules)\n"
	"  trace FILE [--chrome] [-o OUT]        print a trace file, or export Chrome JSON\n"
	"  replay WORKLOAD|FILE EFFECTS [--sessions S] [--expect TRACE] [--trace OUT]\n"
	"  help                                  this text\n";

static const char help_tail[] =
	"\n"
	"WORKLOAD is one of pingpong, ring, fanout, twobuyer (examples/protocols/);\n"
	"any other FILE (.tell, or a compiled .tri) runs under the generic\n"
	"synthetic handler. Policies: cooperative (default), round_robin,\n"
	"priority, progress_aware, seeded[:SEED].\n"
	"`run --trace FILE` (one thread) writes the observable trace to FILE and\n"
	"the effect trace to FILE.effects; `replay` re-runs the same sessions from\n"
	"the effect trace and compares with --expect.\n"
	"\n"
	"Exit status: 0 ok, 1 input rejected, 2 usage error, 3 the run failed\n"
	"(fault, stuck session, wrong message count, replay mismatch).\n";

static int
usage_error(const char *fmt, ...) TR_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* Print err as "FILE:LINE:COL: error: ..." (tr_error_format), naming `path`
 * when the library left the file empty. */
static int
report(tr_error *err, const char *path)
{
	char buf[512];

	if (err->file[0] == '\0' && path)
		snprintf(err->file, sizeof err->file, "%s", path);
	if (err->msg[0] == '\0')
		snprintf(err->msg, sizeof err->msg, "%s", tr_status_str(err->status));
	fprintf(stderr, "%s\n", tr_error_format(err, buf, sizeof buf));
	return EXIT_REJECT;
}

static int
fail(int code, const char *fmt, ...) TR_PRINTF(2, 3);

static int
fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* ---- argument helpers ---- */

/* Strict unsigned decimal: no sign, no junk, no overflow, within [lo, hi]. */
static bool
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

static bool
is_file(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long
peak_rss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_maxrss;
}

/* Resident set now, in kB (0 when /proc is not there). */
static long
current_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, res;
	long kb = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) == 2)
		kb = (long)(res * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
	fclose(f);
	return kb;
}

/* ---- finding and loading protocols ---- */

/* Where the four standard workloads live: $TROUPE_EXAMPLES, the source tree
 * this binary was built from, then paths relative to the executable (a build
 * folder inside the tree, or an install prefix). */
static bool
examples_path(const char *name, char *out, size_t size)
{
	char exe[PATH_MAX], dir[PATH_MAX];
	const char *env = getenv("TROUPE_EXAMPLES");
	static const char *const rel[] = {"/../../examples/protocols",
	                                  "/../examples/protocols",
	                                  "/../share/troupe/protocols"};
	ssize_t n;
	char *slash;

	if (env && env[0]) {
		int w = snprintf(out, size, "%s/%s.tell", env, name);
		if (w > 0 && (size_t)w < size && is_file(out))
			return true;
	}
	snprintf(out, size, "%s/%s.tell", TR_EXAMPLES_DIR, name);
	if (is_file(out))
		return true;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	snprintf(dir, sizeof dir, "%s", exe);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		int w = snprintf(out, size, "%s%s/%s.tell", dir, rel[i], name);
		if (w > 0 && (size_t)w < size && is_file(out))
			return true;
	}
	return false;
}

/* Resolve WORKLOAD|FILE.tell|FILE.tri into a verified image. Prints the
 * reason and returns an exit code on failure. */
static int
load_image(const char *arg, tr_image **img, tr_workload *wl, char *path,
           size_t pathsize)
{
	tr_error err;
	tr_protocol *p = NULL;
	tr_status st;

	tr_error_clear(&err);
	*img = NULL;
	*wl = tr_workload_from_name(arg);
	if (*wl != TR_WL_GENERIC) {
		if (!examples_path(arg, path, pathsize))
			return fail(EXIT_REJECT,
			            "workload %s: cannot find %s.tell (looked in "
			            "$TROUPE_EXAMPLES, %s and next to the executable)",
			            arg, arg, TR_EXAMPLES_DIR);
	} else {
		snprintf(path, pathsize, "%s", arg);
	}
	if (has_suffix(path, ".tri")) {
		if ((st = tr_image_load_file(path, NULL, img, &err)) != TR_OK)
			return report(&err, path);
		return EXIT_OK;
	}
	if ((st = tr_protocol_parse_file(path, NULL, &p, &err)) != TR_OK)
		return report(&err, path);
	st = tr_image_compile(p, NULL, img, &err);
	tr_protocol_free(p);
	if (st != TR_OK)
		return report(&err, path);
	return EXIT_OK;
}

static int
read_whole(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *b, *nb;

	if (!f)
		return fail(EXIT_REJECT, "%s: %s", path, strerror(errno));
	if (!(b = malloc(cap))) {
		fclose(f);
		return fail(EXIT_REJECT, "%s: out of memory", path);
	}
	for (;;) {
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		if (cap >= TR_MAX_SOURCE) {
			free(b);
			fclose(f);
			return fail(EXIT_REJECT, "%s: larger than %u bytes", path,
			            TR_MAX_SOURCE);
		}
		if (!(nb = realloc(b, cap * 2))) {
			free(b);
			fclose(f);
			return fail(EXIT_REJECT, "%s: out of memory", path);
		}
		b = nb;
		cap *= 2;
	}
	if (ferror(f)) {
		free(b);
		fclose(f);
		return fail(EXIT_REJECT, "%s: read error", path);
	}
	fclose(f);
	*buf = b;
	*len = n;
	return EXIT_OK;
}

/* ---- check ---- */

/* One role's local JSON as a member of the object `check --json` prints:
 * captured, then re-indented by two spaces so the document stays tidy. */
static tr_status
print_json_indented(const tr_protocol *p, unsigned role)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	tr_status st;

	if (!mem)
		return TR_E_NOMEM;
	st = tr_protocol_print_local_json(p, role, mem);
	if (fclose(mem) != 0 && st == TR_OK)
		st = TR_E_NOMEM;
	if (st == TR_OK) {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
			buf[--len] = '\0';
		for (size_t i = 0; i < len; i++) {
			putchar(buf[i]);
			if (buf[i] == '\n')
				fputs("  ", stdout);
		}
	}
	free(buf);
	return st;
}

static int
cmd_check(int argc, char **argv)
{
	const char *file = NULL;
	bool json = false, global_json = false;
	tr_protocol *p = NULL;
	tr_error err;
	tr_status st;
	int rc = EXIT_OK;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--global-json") == 0)
			global_json = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_error("check: unknown option %s", argv[i]);
		else if (file)
			return usage_error("check: one file at a time (%s, %s)", file, argv[i]);
		else
			file = argv[i];
	}
	if (!file)
		return usage_error("check: missing FILE");
	tr_error_clear(&err);
	if (global_json) {
		char *text = NULL;
		size_t len = 0;
		if ((rc = read_whole(file, &text, &len)) != EXIT_OK)
			return rc;
		st = tr_protocol_parse_json(text, len, file, NULL, &p, &err);
		free(text);
	} else {
		st = tr_protocol_parse_file(file, NULL, &p, &err);
	}
	if (st != TR_OK)
		return report(&err, file);

	unsigned n = tr_protocol_nroles(p);
	if (json)
		fputs("{\n", stdout);
	for (unsigned r = 0; r < n && rc == EXIT_OK; r++) {
		if (json) {
			printf("%s  \"%s\": ", r ? ",\n" : "", tr_protocol_role_name(p, r));
			st = print_json_indented(p, r);
		} else {
			printf("%s: ", tr_protocol_role_name(p, r));
			st = tr_protocol_print_local(p, r, stdout);
		}
		if (st != TR_OK)
			rc = fail(EXIT_REJECT, "%s: cannot print role %s: %s", file,
			          tr_protocol_role_name(p, r), tr_status_str(st));
	}
	if (json && rc == EXIT_OK)
		fputs("\n}\n", stdout);
	tr_protocol_free(p);
	if (rc == EXIT_OK && fflush(stdout) != 0)
		rc = fail(EXIT_REJECT, "writing standard output: %s", strerror(errno));
	return rc;
}

/* ---- compile, disasm ---- */

static int
cmd_compile(int argc, char **argv)
{
	const char *file = NULL, *out = NULL;
	char outbuf[PATH_MAX], path[PATH_MAX];
	tr_image *img;
	tr_workload wl;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			if (i + 1 >= argc)
				return usage_error("compile: -o needs a file name");
			out = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return usage_error("compile: unknown option %s", argv[i]);
		} else if (file) {
			return usage_error("compile: one file at a time (%s, %s)", file,
			                   argv[i]);
		} else {
			file = argv[i];
		}
	}
	if (!file)
		return usage_error("compile: missing FILE.tell");
	if (!out) {
		/* FILE.tell -> FILE.tri next to it. */
		size_t n = strlen(file);
		if (has_suffix(file, ".tell"))
			n -= 5;
		if (n + 5 > sizeof outbuf)
			return usage_error("compile: file name too long");
		snprintf(outbuf, sizeof outbuf, "%.*s.tri", (int)n, file);
		out = outbuf;
	}
	if ((rc = load_image(file, &img, &wl, path, sizeof path)) != EXIT_OK)
		return rc;
	tr_status st = tr_image_save_file(img, out);
	tr_image_free(img);
	if (st != TR_OK)
		return fail(EXIT_REJECT, "%s: cannot write the image: %s (%s)", out,
		            tr_status_str(st), strerror(errno));
	return EXIT_OK;
}

static int
cmd_disasm(int argc, char **argv)
{
	char path[PATH_MAX];
	tr_image *img;
	tr_workload wl;
	int rc;

	if (argc != 1 || (argv[0][0] == '-' && argv[0][1] != '\0'))
		return usage_error("disasm: expected one FILE.tri (or FILE.tell)");
	if ((rc = load_image(argv[0], &img, &wl, path, sizeof path)) != EXIT_OK)
		return rc;
	tr_status st = tr_image_disasm(img, stdout);
	tr_image_free(img);
	if (st != TR_OK || fflush(stdout) != 0)
		return fail(EXIT_REJECT, "writing standard output: %s", strerror(errno));
	return EXIT_OK;
}

/* ---- trace ---- */

static int
cmd_trace(int argc, char **argv)
{
	const char *file = NULL, *out = NULL;
	bool chrome = false;
	tr_trace *t = NULL;
	tr_error err;
	FILE *f = stdout;
	tr_status st;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--chrome") == 0) {
			chrome = true;
		} else if (strcmp(argv[i], "-o") == 0) {
			if (i + 1 >= argc)
				return usage_error("trace: -o needs a file name");
			out = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return usage_error("trace: unknown option %s", argv[i]);
		} else if (file) {
			return usage_error("trace: one file at a time");
		} else {
			file = argv[i];
		}
	}
	if (!file)
		return usage_error("trace: missing FILE");
	tr_error_clear(&err);
	if ((st = tr_trace_load_file(file, NULL, &t, &err)) != TR_OK)
		return report(&err, file);
	if (out && !(f = fopen(out, "w"))) {
		tr_trace_free(t);
		return fail(EXIT_REJECT, "%s: %s", out, strerror(errno));
	}
	st = chrome ? tr_trace_export_chrome(t, f) : tr_trace_print(t, f);
	tr_trace_free(t);
	if (f != stdout) {
		if (fclose(f) != 0 && st == TR_OK)
			st = TR_E_IO;
	} else if (fflush(f) != 0 && st == TR_OK) {
		st = TR_E_IO;
	}
	if (st != TR_OK)
		return fail(EXIT_REJECT, "writing %s: %s", out ? out : "standard output",
		            tr_status_str(st));
	return EXIT_OK;
}

/* ---- run ---- */

typedef struct run_opts {
	const char *what;
	uint64_t sessions, rounds, threads;
	bool spread, pin;
	bool machine; /* --machine: one tr_machine on this thread, no workers */
	tr_policy policy;
	uint64_t seed;
	uint64_t slice, capacity;
	const char *trace;   /* run: write traces; replay: write the observable */
	const char *effects; /* replay: effect trace to follow */
	const char *expect;  /* replay: observable trace to compare with */
	const char *rules;   /* run FILE under a standard workload's rules */
} run_opts;

static bool
parse_policy(const char *s, tr_policy *p, uint64_t *seed)
{
	static const struct {
		const char *name;
		tr_policy p;
	} names[] = {
		{"cooperative", TR_POLICY_COOPERATIVE},
		{"round_robin", TR_POLICY_ROUND_ROBIN},
		{"priority", TR_POLICY_PRIORITY},
		{"progress_aware", TR_POLICY_PROGRESS_AWARE},
		{"seeded", TR_POLICY_SEEDED},
	};
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strlen(names[i].name) == n && strncmp(s, names[i].name, n) == 0) {
			*p = names[i].p;
			if (colon)
				return names[i].p == TR_POLICY_SEEDED &&
				       parse_u64(colon + 1, 0, UINT64_MAX, seed);
			return true;
		}
	}
	return false;
}

static const char *
policy_name(tr_policy p)
{
	switch (p) {
	case TR_POLICY_COOPERATIVE: return "cooperative";
	case TR_POLICY_ROUND_ROBIN: return "round_robin";
	case TR_POLICY_PRIORITY: return "priority";
	case TR_POLICY_PROGRESS_AWARE: return "progress_aware";
	case TR_POLICY_SEEDED: return "seeded";
	default: return "?";
	}
}

/* Options of run and replay; positional arguments go to pos[]. */
static int
parse_run_opts(const char *verb, int argc, char **argv, run_opts *o,
               const char **pos, int maxpos, int *npos)
{
	memset(o, 0, sizeof *o);
	o->sessions = 1000;
	o->rounds = 100;
	o->threads = 1;
	o->pin = true;
	o->policy = TR_POLICY_COOPERATIVE;
	*npos = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		char name[32];
		const char *eq;

		if (a[0] != '-' || a[1] == '\0') {
			if (*npos >= maxpos)
				return usage_error("%s: unexpected argument %s", verb, a);
			pos[(*npos)++] = a;
			continue;
		}
		/* --name=value or --name value */
		eq = strchr(a, '=');
		if (eq && (size_t)(eq - a) < sizeof name) {
			snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
			v = eq + 1;
		} else {
			snprintf(name, sizeof name, "%s", a);
		}
		if (strcmp(name, "--no-pin") == 0 || strcmp(name, "--machine") == 0) {
			if (v)
				return usage_error("%s: %s takes no value", verb, name);
			if (name[2] == 'n')
				o->pin = false;
			else
				o->machine = true;
			continue;
		}
		static const char *const with_value[] = {
			"--sessions", "--rounds", "--threads", "--placement", "--policy",
			"--trace", "--slice", "--capacity", "--expect", "--effects",
			"--rules"};
		bool known = false;
		for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
			known |= strcmp(name, with_value[k]) == 0;
		if (!known)
			return usage_error("%s: unknown option %s", verb, a);
		if (!v) {
			if (i + 1 >= argc)
				return usage_error("%s: %s needs a value", verb, name);
			v = argv[++i];
		}
		if (strcmp(name, "--sessions") == 0) {
			if (!parse_u64(v, 1, UINT64_C(1) << 32, &o->sessions))
				return usage_error("%s: --sessions wants 1..2^32, not '%s'", verb, v);
		} else if (strcmp(name, "--rounds") == 0) {
			if (!parse_u64(v, 0, INT32_MAX, &o->rounds))
				return usage_error("%s: --rounds wants 0..%d, not '%s'", verb,
				                   INT32_MAX, v);
		} else if (strcmp(name, "--threads") == 0) {
			if (!parse_u64(v, 1, TR_RUNTIME_MAX_THREADS, &o->threads))
				return usage_error("%s: --threads wants 1..%u, not '%s'", verb,
				                   TR_RUNTIME_MAX_THREADS, v);
		} else if (strcmp(name, "--placement") == 0) {
			if (strcmp(v, "local") == 0)
				o->spread = false;
			else if (strcmp(v, "spread") == 0)
				o->spread = true;
			else
				return usage_error("%s: --placement wants local or spread, not '%s'",
				                   verb, v);
		} else if (strcmp(name, "--policy") == 0) {
			if (!parse_policy(v, &o->policy, &o->seed))
				return usage_error("%s: unknown policy '%s'", verb, v);
		} else if (strcmp(name, "--slice") == 0) {
			if (!parse_u64(v, 1, UINT32_MAX, &o->slice))
				return usage_error("%s: --slice wants 1..2^32-1, not '%s'", verb, v);
		} else if (strcmp(name, "--capacity") == 0) {
			if (!parse_u64(v, 1, UINT32_MAX, &o->capacity))
				return usage_error("%s: --capacity wants 1..2^32-1, not '%s'", verb, v);
		} else if (strcmp(name, "--trace") == 0) {
			o->trace = v;
		} else if (strcmp(name, "--expect") == 0) {
			o->expect = v;
		} else if (strcmp(name, "--effects") == 0) {
			o->effects = v;
		} else if (strcmp(name, "--rules") == 0) {
			if (tr_workload_from_name(v) == TR_WL_GENERIC && strcmp(v, "generic") != 0)
				return usage_error("%s: --rules wants pingpong, ring, fanout, "
				                   "twobuyer or generic, not '%s'", verb, v);
			o->rules = v;
		}
	}
	return EXIT_OK;
}

/* Session latency is sampled: every `stride`-th session keeps its open time,
 * so a million sessions cost a few kilobytes here, not 8 MB. */
#define LAT_SAMPLES 65536

typedef struct latency {
	uint64_t stride, n;
	double *open_s;  /* per sample slot: when the session could first run
	                  * (every session is opened before any starts) */
	double *lat_s;   /* collected latencies */
	uint64_t nlat;
} latency;

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
percentile(double *v, uint64_t n, double p)
{
	if (n == 0)
		return 0;
	uint64_t i = (uint64_t)ceil(p * (double)n);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void
fmt_rate(double r, char *buf, size_t size)
{
	if (r >= 1e9)
		snprintf(buf, size, "%.2f G", r / 1e9);
	else if (r >= 1e6)
		snprintf(buf, size, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(buf, size, "%.2f k", r / 1e3);
	else
		snprintf(buf, size, "%.0f ", r);
}

static void
fmt_secs(double s, char *buf, size_t size)
{
	if (s < 1e-3)
		snprintf(buf, size, "%.1f us", s * 1e6);
	else if (s < 1)
		snprintf(buf, size, "%.1f ms", s * 1e3);
	else if (s < 60)
		snprintf(buf, size, "%.2f s", s);
	else if (s < 3600)
		snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
	else
		snprintf(buf, size, "%.1f h", s / 3600);
}

/* The progress display: in place with \r on a terminal, a plain line every
 * few seconds otherwise (so logs stay readable). */
typedef struct progress {
	bool tty;
	double t0, last;
	uint64_t total;
	uint64_t expect_msgs; /* S times the workload formula; 0: unknown */
	uint64_t opened;      /* sessions opened so far, while opening */
	bool opening;         /* before the release: nothing runs yet */
	bool shown;
} progress;

static void
progress_show(progress *p, uint64_t done, uint64_t msgs, double now, bool final)
{
	double el = now - p->t0, rate = el > 0 ? (double)msgs / el : 0;
	double eta;
	char r[32], e[32], t[32];

	/* All sessions advance together, so they finish near the end: the ETA
	 * follows messages when the formula is known, sessions otherwise. */
	if (p->expect_msgs && msgs > 0 && msgs <= p->expect_msgs)
		eta = el * (double)(p->expect_msgs - msgs) / (double)msgs;
	else
		eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0;

	/* A terminal gets the line at once and at the end; a log gets a line
	 * every few seconds and none for a short run. */
	if (!final && (p->shown || !p->tty) && now - p->last < (p->tty ? 0.2 : 5.0))
		return;
	if (final && !p->shown && !p->tty)
		return;
	p->last = now;
	p->shown = true;
	fmt_rate(rate, r, sizeof r);
	fmt_secs(el, e, sizeof e);
	/* No estimate before the first message or session: "?" beats 0 s. */
	if (done >= p->total)
		snprintf(t, sizeof t, "0 s");
	else if (eta > 0)
		fmt_secs(eta, t, sizeof t);
	else
		snprintf(t, sizeof t, "?");
	if (p->opening) {
		/* Sessions are held until the last is open (WORKLOADS.md). */
		if (p->tty)
			fprintf(stderr, "\r  opening %" PRIu64 "/%" PRIu64 " sessions  "
			        "elapsed %s\033[K", p->opened, p->total, e);
		else
			fprintf(stderr, "progress: opening %" PRIu64 "/%" PRIu64
			        " sessions, elapsed %s\n", p->opened, p->total, e);
	} else if (p->tty) {
		fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " sessions done  %smsgs/s  "
		        "elapsed %s  ETA %s\033[K%s",
		        done, p->total, r, e, t, final ? "\n" : "");
	} else {
		fprintf(stderr, "progress: %" PRIu64 "/%" PRIu64 " sessions done, "
		        "%smsgs/s, elapsed %s, ETA %s\n",
		        done, p->total, r, e, t);
	}
	fflush(stderr);
}

typedef struct run_result {
	uint64_t done, ok, failed;
	uint64_t messages;
	tr_fault first_fault;
	bool have_fault;
	bool stuck;
	double wall;
	uint64_t worker_msgs[TR_RUNTIME_MAX_THREADS];
	uint32_t nworkers;
	tr_status error; /* a library call that failed outright */
	char why[256];
} run_result;

/* Reap closed sessions and account them. */
static tr_status
reap_all(tr_machine *m, run_result *rr, latency *lat, double now)
{
	tr_session_summary sum[1024];
	size_t n;
	tr_status st;

	do {
		if ((st = tr_machine_reap_closed_sessions(m, sum, 1024, &n)) != TR_OK)
			return st;
		for (size_t i = 0; i < n; i++) {
			rr->done++;
			if (sum[i].ok) {
				rr->ok++;
			} else {
				rr->failed++;
				if (!rr->have_fault) {
					rr->first_fault = sum[i].fault;
					rr->have_fault = true;
				}
			}
			/* Ids are 1 + the open order (set by us), so the sample slot
			 * is known without a lookup. */
			uint64_t k = sum[i].id - 1;
			if (lat->open_s && k % lat->stride == 0 && k / lat->stride < lat->n)
				lat->lat_s[lat->nlat++] = now - lat->open_s[k / lat->stride];
		}
	} while (n == 1024);
	return TR_OK;
}

/* The single-threaded path: every session on one tr_machine, run by this
 * thread. Also the only path that records traces and replays. */
static int
run_on_machine(const run_opts *o, const tr_image *img, tr_synth *syn,
               run_result *rr, latency *lat, const tr_trace *replay,
               tr_trace **obs_out, tr_trace **eff_out)
{
	tr_machine_config cfg;
	tr_machine *m = NULL;
	tr_handler h = tr_synth_handler(syn);
	unsigned nroles = tr_image_nroles(img);
	size_t ssz = tr_synth_role_state_size(syn);
	uint8_t *states = NULL;
	void *ptrs[TR_SYNTH_MAX_ROLES];
	progress pr = {0};
	tr_status st;
	int rc = EXIT_OK;

	tr_machine_config_default(&cfg);
	cfg.policy = o->policy;
	cfg.seed = o->seed;
	if (o->slice)
		cfg.slice = (uint32_t)o->slice;
	if (o->capacity)
		cfg.buffer_capacity = (uint32_t)o->capacity;
	if (o->sessions > cfg.max_sessions)
		cfg.max_sessions = (uint32_t)(o->sessions > UINT32_MAX ? UINT32_MAX
		                                                       : o->sessions);
	if (o->trace || replay) {
		cfg.trace_mode = TR_TRACE_ALL;
		cfg.capture_effects = !replay;
	}
	if ((st = tr_machine_create(&cfg, &m)) != TR_OK) {
		rr->error = st;
		snprintf(rr->why, sizeof rr->why, "cannot create the machine: %s",
		         tr_status_str(st));
		return EXIT_RUNFAIL;
	}
	/* start-up, not session creation (WORKLOADS.md): as the runtime does
	 * when an image is registered */
	if ((st = tr_machine_prepare(m, img)) != TR_OK) {
		tr_machine_free(m);
		snprintf(rr->why, sizeof rr->why, "cannot prepare the machine: %s",
		         tr_status_str(st));
		return EXIT_RUNFAIL;
	}
	/* One zeroed array for every role state: zero is the synthetic
	 * handler's initial state, and pages not touched cost nothing. */
	states = calloc(o->sessions * nroles, ssz);
	if (!states) {
		tr_machine_free(m);
		snprintf(rr->why, sizeof rr->why, "out of memory for %" PRIu64
		         " role states", o->sessions * nroles);
		return EXIT_RUNFAIL;
	}

	pr.tty = isatty(STDERR_FILENO);
	pr.total = o->sessions;
	pr.expect_msgs = o->sessions * tr_workload_messages(syn->wl, o->rounds);
	double t0 = now_s();
	pr.t0 = pr.last = t0;
	for (uint64_t i = 0; i < o->sessions; i++) {
		tr_session_opts so;
		tr_session_id id;

		memset(&so, 0, sizeof so);
		so.id = i + 1;
		so.full_policy = -1;
		for (unsigned r = 0; r < nroles; r++)
			ptrs[r] = states + (i * nroles + r) * ssz;
		so.role_state = ptrs;
		if ((st = tr_machine_open_session(m, img, &h, &so, &id)) != TR_OK) {
			snprintf(rr->why, sizeof rr->why,
			         "cannot open session %" PRIu64 ": %s", i + 1,
			         tr_status_str(st));
			rc = EXIT_RUNFAIL;
			goto out;
		}
	}
	/* Every session exists before any runs (WORKLOADS.md): a session's
	 * latency counts from here, when it may first run. */
	if (lat->open_s) {
		double start = now_s();
		for (uint64_t k = 0; k < lat->n; k++)
			lat->open_s[k] = start;
	}

	for (;;) {
		tr_run_result res;
		tr_machine_stats ms;
		double now;

		st = replay ? tr_machine_run_replay(m, replay, 1u << 16, &res)
		            : tr_machine_run(m, 1u << 16, &res);
		now = now_s();
		if (st != TR_OK) {
			const tr_error *le = tr_machine_last_error(m);
			rr->error = st;
			snprintf(rr->why, sizeof rr->why, "%s%s%.200s", tr_status_str(st),
			         le && le->msg[0] ? ": " : "", le ? le->msg : "");
			rc = EXIT_RUNFAIL;
			break;
		}
		if ((st = reap_all(m, rr, lat, now)) != TR_OK) {
			snprintf(rr->why, sizeof rr->why, "reaping sessions: %s",
			         tr_status_str(st));
			rc = EXIT_RUNFAIL;
			break;
		}
		tr_machine_stats_get(m, &ms);
		progress_show(&pr, rr->done, ms.messages_sent, now, false);
		if (res == TR_RUN_ALL_DONE || rr->done >= o->sessions)
			break;
		if (res == TR_RUN_STUCK) {
			rr->stuck = true;
			break;
		}
	}
	rr->wall = now_s() - t0;
	{
		tr_machine_stats ms;
		tr_machine_stats_get(m, &ms);
		rr->messages = ms.messages_sent;
		rr->nworkers = 1;
		rr->worker_msgs[0] = ms.messages_sent;
		progress_show(&pr, rr->done, ms.messages_sent, now_s(), true);
		if (rr->stuck || rr->done < o->sessions)
			rr->stuck = true;
	}
	if (obs_out && tr_machine_trace(m, obs_out) != TR_OK)
		*obs_out = NULL;
	if (eff_out && !replay && tr_machine_effects(m, eff_out) != TR_OK)
		*eff_out = NULL;
out:
	tr_machine_free(m);
	free(states);
	return rc;
}

/* ---- the runtime path ---- */

typedef struct rt_ctx {
	latency *lat;
	double t0;
	_Atomic uint64_t *open_ns; /* per latency sample slot: the release */
	_Atomic uint64_t *lat_ns;  /* 0: not completed yet */
	_Atomic uint32_t fault_claimed;
	tr_fault first_fault;      /* written once by the claimer */
} rt_ctx;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs on the session's home worker. Sample slots are disjoint per
 * session, so each is written by one thread; the atomics (relaxed) only
 * keep the host's reads after drain free of data races. */
static void
rt_on_complete(void *ctx, const tr_runtime_summary *s)
{
	rt_ctx *c = ctx;
	uint64_t k = (uint64_t)(uintptr_t)s->user;
	latency *lat = c->lat;

	if (k % lat->stride == 0 && k / lat->stride < lat->n) {
		uint64_t t = now_ns(), o =
			atomic_load_explicit(&c->open_ns[k / lat->stride], memory_order_relaxed);
		atomic_store_explicit(&c->lat_ns[k / lat->stride], t > o ? t - o : 1,
		                      memory_order_relaxed);
	}
	if (!s->ok) {
		uint32_t expect = 0;
		/* Pairs with nothing: the host reads first_fault after drain and
		 * stop, which join the workers. */
		if (atomic_compare_exchange_strong_explicit(&c->fault_claimed, &expect, 1,
		                                            memory_order_relaxed,
		                                            memory_order_relaxed))
			c->first_fault = s->fault;
	}
}

static int
run_on_runtime(const run_opts *o, const tr_image *img, tr_synth *syn,
               run_result *rr, latency *lat)
{
	tr_runtime_config cfg;
	tr_runtime *rt = NULL;
	tr_handler h = tr_synth_handler(syn);
	unsigned nroles = tr_image_nroles(img);
	size_t ssz = tr_synth_role_state_size(syn);
	uint8_t *states = NULL, *base = NULL;
	size_t blk = 0, cursor[TR_RUNTIME_MAX_THREADS] = {0};
	uint64_t T = o->threads, misplaced = 0;
	void *ptrs[TR_SYNTH_MAX_ROLES];
	tr_runtime_worker_stats ws[TR_RUNTIME_MAX_THREADS];
	tr_runtime_stats st_rt;
	rt_ctx c;
	progress pr = {0};
	tr_status st;
	int rc = EXIT_OK;

	memset(&c, 0, sizeof c);
	c.lat = lat;
	c.open_ns = calloc(lat->n, sizeof *c.open_ns);
	c.lat_ns = calloc(lat->n, sizeof *c.lat_ns);
	/* Role states, zeroed (the synthetic handler's initial state), in one
	 * block per worker: block w holds, contiguously and in open order, the
	 * state of every role that worker w runs, and each block starts on a
	 * 64-byte line, so no cache line is written by two workers (a plain
	 * array would put neighbouring sessions, which have different homes,
	 * on one line). Homes are dealt round-robin from worker 0
	 * (runtime.h), so session i's home is i mod T and, with spread, role r
	 * runs on (i + r) mod T. A worker runs at most ceil(S/T) * nroles role
	 * states either way. This costs at most 64 bytes per worker, where
	 * padding each session to a line would cost up to 56 bytes per session
	 * (and would not separate the roles of one spread session). The stride
	 * stays a multiple of 8. The runtime copies the nroles pointers into
	 * its session record at open, so one stack array serves every open. */
	ssz = (ssz + 7) & ~(size_t)7;
	blk = (((o->sessions + T - 1) / T) * nroles * ssz + 63) & ~(size_t)63;
	states = calloc(blk * T + 64, 1);
	base = states ? (uint8_t *)(((uintptr_t)states + 63) & ~(uintptr_t)63) : NULL;
	if (!c.open_ns || !c.lat_ns || !states) {
		snprintf(rr->why, sizeof rr->why, "out of memory for %" PRIu64
		         " role states", o->sessions * nroles);
		rc = EXIT_RUNFAIL;
		goto out;
	}
	tr_runtime_config_default(&cfg);
	cfg.threads = (uint32_t)o->threads;
	cfg.pin = o->pin;
	cfg.placement = o->spread ? TR_PLACE_SPREAD : TR_PLACE_LOCAL;
	cfg.policy = o->policy;
	cfg.seed = o->seed;
	if (o->slice)
		cfg.slice = (uint32_t)o->slice;
	if (o->capacity)
		cfg.buffer_capacity = (uint32_t)o->capacity;
	cfg.on_complete = rt_on_complete;
	cfg.complete_ctx = &c;
	/* Every session is created before any starts (WORKLOADS.md): held
	 * until the last is open, so all S are live at once. */
	cfg.start_held = true;
	if ((st = tr_runtime_create(&cfg, &rt)) != TR_OK) {
		snprintf(rr->why, sizeof rr->why, "cannot start the runtime: %s",
		         tr_status_str(st));
		rc = EXIT_RUNFAIL;
		goto out;
	}
	if ((st = tr_runtime_register_image(rt, img)) != TR_OK) {
		snprintf(rr->why, sizeof rr->why, "cannot register the image: %s",
		         tr_status_str(st));
		rc = EXIT_RUNFAIL;
		goto out;
	}

	pr.tty = isatty(STDERR_FILENO);
	pr.total = o->sessions;
	pr.expect_msgs = o->sessions * tr_workload_messages(syn->wl, o->rounds);
	double t0 = now_s();
	pr.t0 = pr.last = t0;
	for (uint64_t i = 0; i < o->sessions; i++) {
		tr_runtime_session_opts so;
		tr_session_id id;
		void **p = ptrs;

		memset(&so, 0, sizeof so);
		so.user = (void *)(uintptr_t)i;
		for (unsigned r = 0; r < nroles; r++) {
			uint64_t w = (i + (o->spread ? r : 0)) % T;
			p[r] = base + w * blk + cursor[w]++ * ssz;
		}
		if ((st = tr_runtime_open_session(rt, img, &h, p, &so, &id)) != TR_OK) {
			snprintf(rr->why, sizeof rr->why,
			         "cannot open session %" PRIu64 " of %" PRIu64 ": %s", i + 1,
			         o->sessions, tr_status_str(st));
			rc = EXIT_RUNFAIL;
			goto out;
		}
		/* The id's low 8 bits are its home (runtime.h). A miss only costs
		 * shared cache lines, never correctness. */
		misplaced += (id & 0xffu) != i % T;
		if ((i & 0xffff) == 0xffff) {
			tr_runtime_stats_get(rt, &st_rt, NULL, 0);
			pr.opening = true;
			pr.opened = i + 1;
			progress_show(&pr, st_rt.sessions_completed, st_rt.messages, now_s(),
			              false);
		}
	}
	if (misplaced)
		fprintf(stderr, "troupe run: %" PRIu64 " sessions not on the predicted "
		        "worker (their role states may share cache lines)\n", misplaced);
	/* Latency counts from the release, when every session may first run:
	 * the relaxed stores are ordered before any on_complete by the
	 * release itself (runtime.h). */
	uint64_t rel = now_ns();
	for (uint64_t k = 0; k < lat->n; k++)
		atomic_store_explicit(&c.open_ns[k], rel, memory_order_relaxed);
	pr.opening = false;
	if ((st = tr_runtime_release(rt)) != TR_OK) {
		snprintf(rr->why, sizeof rr->why, "release: %s", tr_status_str(st));
		rc = EXIT_RUNFAIL;
		goto out;
	}
	/* Wait in slices so the progress line moves. */
	for (;;) {
		st = tr_runtime_drain(rt, pr.tty ? 200 : 1000);
		tr_runtime_stats_get(rt, &st_rt, NULL, 0);
		if (st == TR_OK)
			break;
		if (st != TR_E_LIMIT) {
			snprintf(rr->why, sizeof rr->why, "drain: %s", tr_status_str(st));
			rc = EXIT_RUNFAIL;
			goto out;
		}
		progress_show(&pr, st_rt.sessions_completed, st_rt.messages, now_s(),
		              false);
	}
	rr->wall = now_s() - t0;
	/* Stop joins the workers: every counter and the completion callback's
	 * writes are final after it. */
	tr_runtime_stop(rt, NULL);
	tr_runtime_stats_get(rt, &st_rt, ws, TR_RUNTIME_MAX_THREADS);
	progress_show(&pr, st_rt.sessions_completed, st_rt.messages, now_s(), true);
	rr->done = st_rt.sessions_completed;
	rr->ok = st_rt.sessions_ok;
	rr->failed = st_rt.sessions_completed - st_rt.sessions_ok;
	rr->messages = st_rt.messages;
	rr->nworkers = st_rt.threads;
	for (uint32_t w = 0; w < st_rt.threads && w < TR_RUNTIME_MAX_THREADS; w++)
		rr->worker_msgs[w] = ws[w].messages_sent;
	if (atomic_load_explicit(&c.fault_claimed, memory_order_relaxed)) {
		rr->have_fault = true;
		rr->first_fault = c.first_fault;
	}
	rr->stuck = rr->done < o->sessions;
	for (uint64_t k = 0; k < lat->n; k++) {
		uint64_t v = atomic_load_explicit(&c.lat_ns[k], memory_order_relaxed);
		if (v)
			lat->lat_s[lat->nlat++] = (double)v * 1e-9;
	}
out:
	tr_runtime_free(rt);
	free(states);
	free(c.open_ns);
	free(c.lat_ns);
	return rc;
}

static void
print_summary(const run_opts *o, const char *wname, const run_result *rr,
              latency *lat, long rss, long base_rss, unsigned nroles)
{
	char rate[32], p50[32], p99[32];
	double mps = rr->wall > 0 ? (double)rr->messages / rr->wall : 0;

	fmt_rate(mps, rate, sizeof rate);
	qsort(lat->lat_s, lat->nlat, sizeof(double), cmp_double);
	fmt_secs(percentile(lat->lat_s, lat->nlat, 0.50), p50, sizeof p50);
	fmt_secs(percentile(lat->lat_s, lat->nlat, 0.99), p99, sizeof p99);
	printf("troupe run %s: %" PRIu64 " sessions x %" PRIu64 " rounds on %" PRIu64
	       " thread%s (%s placement, %s policy)\n",
	       wname, o->sessions, o->rounds, o->threads, o->threads == 1 ? "" : "s",
	       o->spread ? "spread" : "local", policy_name(o->policy));
	printf("  messages      %" PRIu64 " in %.3f s = %smsgs/s\n", rr->messages,
	       rr->wall, rate);
	printf("  sessions      %" PRIu64 " ok, %" PRIu64 " failed\n", rr->ok,
	       rr->failed);
	printf("  latency       p50 %s  p99 %s  (session start to close, %" PRIu64
	       " sampled)\n", p50, p99, lat->nlat);
	/* Growth over the RSS before the run is what sessions cost. */
	double grow = rss > base_rss ? (double)(rss - base_rss) * 1024.0 : 0;
	printf("  peak RSS      %ld kB, %ld kB above the start: %.0f B per session,"
	       " %.0f B per role\n", rss, rss > base_rss ? rss - base_rss : 0,
	       grow / (double)o->sessions, grow / (double)o->sessions / nroles);
	printf("  balance      ");
	for (uint32_t w = 0; w < rr->nworkers; w++) {
		double share = rr->messages ? 100.0 * (double)rr->worker_msgs[w] /
		                                  (double)rr->messages
		                            : 0;
		printf(" w%u %.1f%%", w, share);
	}
	printf("\n");
}

static int
latency_init(latency *lat, uint64_t sessions)
{
	memset(lat, 0, sizeof *lat);
	lat->stride = sessions / LAT_SAMPLES + 1;
	lat->n = (sessions + lat->stride - 1) / lat->stride;
	lat->open_s = calloc(lat->n, sizeof(double));
	lat->lat_s = calloc(lat->n, sizeof(double));
	if (!lat->open_s || !lat->lat_s) {
		free(lat->open_s);
		free(lat->lat_s);
		return fail(EXIT_RUNFAIL, "out of memory");
	}
	return EXIT_OK;
}

static void
latency_free(latency *lat)
{
	free(lat->open_s);
	free(lat->lat_s);
}

static int
save_traces(const char *path, tr_trace *obs, tr_trace *eff)
{
	char effpath[PATH_MAX];
	tr_status st;

	if (!obs)
		return fail(EXIT_RUNFAIL, "the machine kept no observable trace");
	if ((st = tr_trace_save_file(obs, path)) != TR_OK)
		return fail(EXIT_RUNFAIL, "%s: cannot write the trace: %s", path,
		            tr_status_str(st));
	if (eff) {
		snprintf(effpath, sizeof effpath, "%s.effects", path);
		if ((st = tr_trace_save_file(eff, effpath)) != TR_OK)
			return fail(EXIT_RUNFAIL, "%s: cannot write the trace: %s", effpath,
			            tr_status_str(st));
	}
	return EXIT_OK;
}

static int
explain_failure(const run_opts *o, const tr_image *img, tr_synth *syn,
                const run_result *rr)
{
	char why[320];

	if (rr->why[0])
		return fail(EXIT_RUNFAIL, "%s", rr->why);
	if (rr->have_fault) {
		const tr_fault *f = &rr->first_fault;
		if (tr_synth_describe_bad(syn, why, sizeof why))
			return fail(EXIT_RUNFAIL,
			            "%" PRIu64 " of %" PRIu64 " sessions failed; first: "
			            "session %" PRIu64 " role %s pc %u fault %s (%s)",
			            rr->failed, o->sessions, (uint64_t)f->session,
			            f->role < tr_image_nroles(img) ? tr_image_role_name(img, f->role) : "?",
			            f->pc, tr_fault_name(f->kind), why);
		return fail(EXIT_RUNFAIL,
		            "%" PRIu64 " of %" PRIu64 " sessions failed; first: "
		            "session %" PRIu64 " role %s pc %u fault %s",
		            rr->failed, o->sessions, (uint64_t)f->session,
		            f->role < tr_image_nroles(img) ? tr_image_role_name(img, f->role) : "?",
		            f->pc, tr_fault_name(f->kind));
	}
	if (rr->stuck)
		return fail(EXIT_RUNFAIL,
		            "stuck: %" PRIu64 " of %" PRIu64 " sessions never finished "
		            "(no coroutine could run)",
		            o->sessions - rr->done, o->sessions);
	return EXIT_OK;
}

static int
cmd_run(int argc, char **argv)
{
	run_opts o;
	const char *pos[1];
	int npos, rc;
	char path[PATH_MAX];
	tr_image *img = NULL;
	tr_workload wl;
	tr_synth syn;
	tr_error err;
	latency lat;
	run_result *rr = NULL;
	tr_trace *obs = NULL, *eff = NULL;

	if ((rc = parse_run_opts("run", argc, argv, &o, pos, 1, &npos)) != EXIT_OK)
		return rc;
	if (npos != 1)
		return usage_error("run: name one WORKLOAD or FILE");
	if (o.expect || o.effects)
		return usage_error("run: --expect and --effects belong to replay");
	o.what = pos[0];
	if ((o.trace || o.machine) && (o.threads != 1 || o.spread))
		return usage_error("run: --trace and --machine run one machine: "
		                   "use --threads 1 --placement local");
	if ((rc = load_image(o.what, &img, &wl, path, sizeof path)) != EXIT_OK)
		return rc;
	if (o.rules)
		wl = tr_workload_from_name(o.rules);
	tr_error_clear(&err);
	if (tr_synth_init(&syn, wl, img, o.rounds, &err) != TR_OK) {
		rc = report(&err, path);
		goto out_img;
	}
	long base_rss = current_rss_kb();
	if ((rc = latency_init(&lat, o.sessions)) != EXIT_OK)
		goto out_img;
	if (!(rr = calloc(1, sizeof *rr))) {
		rc = fail(EXIT_RUNFAIL, "out of memory");
		goto out_lat;
	}

	if (o.trace || o.machine)
		rc = run_on_machine(&o, img, &syn, rr, &lat, NULL, o.trace ? &obs : NULL,
		                    o.trace ? &eff : NULL);
	else
		rc = run_on_runtime(&o, img, &syn, rr, &lat);
	long rss = peak_rss_kb();
	if (rc == EXIT_OK)
		rc = explain_failure(&o, img, &syn, rr);
	if (rc == EXIT_OK && o.trace)
		rc = save_traces(o.trace, obs, eff);
	if (rc == EXIT_OK) {
		uint64_t per = tr_workload_messages(wl, o.rounds);
		char base[128];
		const char *wname = tr_workload_name(wl);
		if (wl == TR_WL_GENERIC) {
			/* The file's base name without extension keeps the RESULT
			 * line one token per field. */
			const char *b = strrchr(o.what, '/');
			b = b ? b + 1 : o.what;
			snprintf(base, sizeof base, "%.*s", (int)strcspn(b, ". \t"), b);
			wname = base[0] ? base : "generic";
		}
		print_summary(&o, wname, rr, &lat, rss, base_rss, tr_image_nroles(img));
		if (per && rr->messages != per * o.sessions) {
			fflush(stdout);
			rc = fail(EXIT_RUNFAIL,
			          "%" PRIu64 " messages sent, the %s formula gives %" PRIu64
			          " (%" PRIu64 " per session)",
			          rr->messages, wname, per * o.sessions, per);
		} else {
			printf("RESULT impl=troupe workload=%s sessions=%" PRIu64
			       " rounds=%" PRIu64 " threads=%" PRIu64 " placement=%s"
			       " messages=%" PRIu64 " wall_s=%.6f msgs_per_s=%.0f"
			       " peak_rss_kb=%ld\n",
			       wname, o.sessions, o.rounds, o.threads,
			       o.spread ? "spread" : "local", rr->messages, rr->wall,
			       rr->wall > 0 ? (double)rr->messages / rr->wall : 0.0, rss);
			if (fflush(stdout) != 0)
				rc = fail(EXIT_RUNFAIL, "writing standard output: %s",
				          strerror(errno));
		}
	}
	tr_trace_free(obs);
	tr_trace_free(eff);
	free(rr);
out_lat:
	latency_free(&lat);
out_img:
	tr_image_free(img);
	return rc;
}

/* ---- replay ---- */

/* The sessions of a recorded run are numbered 1..S in open order, so the
 * largest session id the effect trace mentions is S. */
static uint64_t
sessions_in(const tr_trace *t)
{
	const tr_event *ev = tr_trace_events(t);
	uint64_t max = 0;

	for (size_t i = 0, n = tr_trace_count(t); i < n; i++)
		if (ev[i].session > max)
			max = ev[i].session;
	return max;
}

static int
cmd_replay(int argc, char **argv)
{
	run_opts o;
	const char *pos[2];
	int npos, rc;
	bool sessions_given = false;
	char path[PATH_MAX];
	tr_image *img = NULL;
	tr_workload wl;
	tr_synth syn;
	tr_error err;
	latency lat = {0};
	run_result *rr = NULL;
	tr_trace *effects = NULL, *expect = NULL, *obs = NULL;

	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "--sessions", 10) == 0)
			sessions_given = true;
	if ((rc = parse_run_opts("replay", argc, argv, &o, pos, 2, &npos)) != EXIT_OK)
		return rc;
	if (npos >= 2 && !o.effects)
		o.effects = pos[1];
	else if (npos != 1)
		return usage_error("replay: expected WORKLOAD|FILE and an effect trace");
	if (!o.effects)
		return usage_error("replay: missing the effect trace");
	if (o.threads != 1)
		return usage_error("replay: one machine, one thread");
	o.what = pos[0];
	tr_error_clear(&err);
	if (tr_trace_load_file(o.effects, NULL, &effects, &err) != TR_OK)
		return report(&err, o.effects);
	if (tr_trace_get_kind(effects) != TR_TRACE_EFFECTS) {
		rc = fail(EXIT_REJECT, "%s: not an effect trace (run --trace writes "
		          "FILE.effects)", o.effects);
		goto out;
	}
	if (o.expect) {
		tr_error_clear(&err);
		if (tr_trace_load_file(o.expect, NULL, &expect, &err) != TR_OK) {
			rc = report(&err, o.expect);
			goto out;
		}
	}
	if (!sessions_given)
		o.sessions = sessions_in(effects);
	if (o.sessions == 0) {
		rc = fail(EXIT_REJECT, "%s: the trace names no session", o.effects);
		goto out;
	}
	if ((rc = load_image(o.what, &img, &wl, path, sizeof path)) != EXIT_OK)
		goto out;
	tr_error_clear(&err);
	if (tr_synth_init(&syn, wl, img, o.rounds, &err) != TR_OK) {
		rc = report(&err, path);
		goto out;
	}
	if ((rc = latency_init(&lat, o.sessions)) != EXIT_OK)
		goto out;
	if (!(rr = calloc(1, sizeof *rr))) {
		rc = fail(EXIT_RUNFAIL, "out of memory");
		goto out;
	}
	rc = run_on_machine(&o, img, &syn, rr, &lat, effects, &obs, NULL);
	if (rc == EXIT_OK && rr->stuck)
		rc = explain_failure(&o, img, &syn, rr);
	if (rc == EXIT_OK && o.trace && obs)
		rc = save_traces(o.trace, obs, NULL);
	if (rc == EXIT_OK && expect) {
		if (!obs || !tr_trace_equal(obs, expect))
			rc = fail(EXIT_RUNFAIL,
			          "replay differs from %s (%zu events replayed, %zu expected)",
			          o.expect, obs ? tr_trace_count(obs) : 0,
			          tr_trace_count(expect));
	}
	if (rc == EXIT_OK)
		printf("replayed %" PRIu64 " sessions from %s: %" PRIu64 " ok, %" PRIu64
		       " failed, %zu observable events%s\n",
		       o.sessions, o.effects, rr->ok, rr->failed,
		       obs ? tr_trace_count(obs) : 0,
		       expect ? ", identical to the recorded trace" : "");
out:
	free(rr);
	latency_free(&lat);
	tr_trace_free(obs);
	tr_trace_free(expect);
	tr_trace_free(effects);
	tr_image_free(img);
	return rc;
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	const char *verb;

	if (argc < 2)
		return usage_error("missing command");
	verb = argv[1];
	if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0 ||
	    strcmp(verb, "-h") == 0) {
		fputs(usage_text, stdout);
		fputs(help_tail, stdout);
		return EXIT_OK;
	}
	if (strcmp(verb, "check") == 0)
		return cmd_check(argc - 2, argv + 2);
	if (strcmp(verb, "compile") == 0)
		return cmd_compile(argc - 2, argv + 2);
	if (strcmp(verb, "disasm") == 0)
		return cmd_disasm(argc - 2, argv + 2);
	if (strcmp(verb, "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(verb, "trace") == 0)
		return cmd_trace(argc - 2, argv + 2);
	if (strcmp(verb, "replay") == 0)
		return cmd_replay(argc - 2, argv + 2);
	return usage_error("unknown command '%s'", verb);
}
