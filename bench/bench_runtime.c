/* bench/bench_runtime.c: throughput of the sharded runtime (issue 5,
 * done-when 6) on the standard workloads of WORKLOADS.md, compiled from
 * examples/protocols, with every payload checked by the synthetic handler
 * of tests/runtime/rt_workload_helpers.c.
 *
 *   bench_runtime [--workload W] [--sessions S] [--rounds R] [--threads T]
 *                 [--placement local|spread] [--repeat N]
 *
 * With --workload it runs that one configuration (best of N repeats) and
 * prints its RESULT line last. Without it, it runs the matrix (ring
 * and fanout; 1 worker local, 2 workers local, 2 workers spread), prints
 * one RESULT line per run and then the ratios to stderr. A run whose
 * message count differs from the formula exits 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "rt_harness.h"

static int
run_one(const char *dir, int kind, uint64_t S, int64_t R, uint32_t T, tr_placement P,
        unsigned repeat, double *rate)
{
	rt_wl wl;
	tr_error err;
	rt_run best = {0};

	if (rt_wl_init(&wl, dir, kind, &err) != TR_OK) {
		fprintf(stderr, "bench_runtime: %s: %s\n", rt_wl_name(kind), err.msg);
		return 2;
	}
	for (unsigned i = 0; i < repeat; i++) {
		rt_run r = {.kind = kind, .threads = T, .placement = P, .sessions = S,
		            .rounds = R, .pin = true};
		rt_run_workload(&wl, &r);
		uint64_t want = S * rt_wl_expected(kind, (uint64_t)R);
		if (r.st != TR_OK || r.ok != S || r.messages != want || r.stats_messages != want ||
		    r.handler_errors != 0) {
			fprintf(stderr, "bench_runtime: %s: status %s, ok %llu/%llu, messages %llu "
			        "(want %llu), handler errors %llu\n", wl.name, tr_status_name(r.st),
			        (unsigned long long)r.ok, (unsigned long long)S,
			        (unsigned long long)r.messages, (unsigned long long)want,
			        (unsigned long long)r.handler_errors);
			rt_wl_fini(&wl);
			return 3;
		}
		if (i == 0 || r.wall_s < best.wall_s)
			best = r;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*rate = (double)best.messages / best.wall_s;
	printf("RESULT impl=troupe workload=%s sessions=%llu rounds=%lld threads=%u "
	       "placement=%s messages=%llu wall_s=%.6f msgs_per_s=%.0f peak_rss_kb=%ld\n",
	       wl.name, (unsigned long long)S, (long long)R, T,
	       P == TR_PLACE_SPREAD ? "spread" : "local", (unsigned long long)best.messages,
	       best.wall_s, *rate, ru.ru_maxrss);
	fflush(stdout);
	rt_wl_fini(&wl);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir = TR_EXAMPLES;
	const char *wname = NULL;
	uint64_t S = 10000;
	int64_t R = 100;
	uint32_t T = 1;
	tr_placement P = TR_PLACE_LOCAL;
	unsigned repeat = 1;
	double rate;
	int rc;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--workload"))
			wname = argv[i + 1];
		else if (!strcmp(argv[i], "--sessions"))
			S = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--rounds"))
			R = strtoll(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--threads"))
			T = (uint32_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--repeat"))
			repeat = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--placement"))
			P = !strcmp(argv[i + 1], "spread") ? TR_PLACE_SPREAD : TR_PLACE_LOCAL;
		else if (!strcmp(argv[i], "--examples"))
			dir = argv[i + 1];
		else {
			fprintf(stderr, "bench_runtime: unknown argument %s\n", argv[i]);
			return 64;
		}
	}
	if (repeat == 0)
		repeat = 1;
	if (wname != NULL) {
		int kind = rt_wl_kind(wname);
		if (kind < 0) {
			fprintf(stderr, "bench_runtime: unknown workload %s\n", wname);
			return 64;
		}
		return run_one(dir, kind, S, R, T, P, repeat, &rate);
	}

	static const int kinds[] = {RT_WL_RING, RT_WL_FANOUT};
	double r1[2], r2[2], r2s[2];
	for (int k = 0; k < 2; k++) {
		if ((rc = run_one(dir, kinds[k], S, R, 1, TR_PLACE_LOCAL, repeat, &r1[k])) != 0)
			return rc;
		if ((rc = run_one(dir, kinds[k], S, R, 2, TR_PLACE_LOCAL, repeat, &r2[k])) != 0)
			return rc;
		if ((rc = run_one(dir, kinds[k], S, R, 2, TR_PLACE_SPREAD, repeat, &r2s[k])) != 0)
			return rc;
	}
	for (int k = 0; k < 2; k++)
		fprintf(stderr, "%s: 2 workers / 1 worker (local) = %.2fx (target >= 1.7); "
		        "spread / local (2 workers) = %.2fx (target >= 0.5)\n",
		        rt_wl_name(kinds[k]), r2[k] / r1[k], r2s[k] / r2[k]);
	return 0;
}
