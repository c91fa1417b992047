/* bench/bench_machine.c: one ProtocolMachine on one thread, no runtime
 * (issue 4, done-when 6). Runs pingpong or ring with S sessions of R rounds
 * through the synthetic handler of `troupe run` (every payload checked) and
 * prints ns per message and the RESULT line of WORKLOADS.md.
 *
 *   bench_machine WORKLOAD --sessions S --rounds R [--slice N] [--policy P]
 *
 * wall_s covers session creation to the end of the last session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "synth.h"
#include "troupe/machine.h"
#include "troupe/protocol.h"

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
usage(void)
{
	fprintf(stderr, "usage: bench_machine pingpong|ring|fanout|twobuyer --sessions S --rounds R "
	                "[--slice N] [--examples DIR]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *wl_name = argv[1];
	uint64_t S = 10000, R = 100;
	uint32_t slice = 0;
	const char *dir = TR_EXAMPLES_DIR;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--sessions"))
			S = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--rounds"))
			R = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--slice"))
			slice = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--examples"))
			dir = argv[i + 1];
		else
			return usage();
	}
	tr_workload wl = tr_workload_from_name(wl_name);
	if (wl == TR_WL_GENERIC || S == 0)
		return usage();
	char path[1024];
	snprintf(path, sizeof path, "%s/%s.tell", dir, wl_name);
	tr_error err;
	tr_error_clear(&err);
	tr_protocol *p = NULL;
	tr_image *img = NULL;
	char buf[512];
	if (tr_protocol_parse_file(path, NULL, &p, &err) || tr_image_compile(p, NULL, &img, &err)) {
		fprintf(stderr, "%s\n", tr_error_format(&err, buf, sizeof buf));
		return 1;
	}
	tr_protocol_free(p);
	tr_synth synth;
	if (tr_synth_init(&synth, wl, img, R, &err)) {
		fprintf(stderr, "%s\n", tr_error_format(&err, buf, sizeof buf));
		return 1;
	}
	tr_handler h = tr_synth_handler(&synth);
	unsigned nroles = tr_image_nroles(img);
	size_t ssz = tr_synth_role_state_size(&synth);
	char *states = malloc(S * nroles * ssz);
	if (!states) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	tr_machine_config cfg;
	tr_machine_config_default(&cfg);
	if (slice)
		cfg.slice = slice;
	tr_machine *m = NULL;
	if (tr_machine_create(&cfg, &m)) {
		fprintf(stderr, "machine create failed\n");
		return 1;
	}
	double t0 = now();
	void *rs[TR_SYNTH_MAX_ROLES];
	for (uint64_t s = 0; s < S; s++) {
		for (unsigned r = 0; r < nroles; r++) {
			rs[r] = states + (s * nroles + r) * ssz;
			tr_synth_role_state_init(&synth, rs[r]);
		}
		tr_session_opts o = {0};
		o.role_state = rs;
		tr_session_id id;
		tr_status st = tr_machine_open_session(m, img, &h, &o, &id);
		if (st) {
			fprintf(stderr, "open session %llu: %s\n", (unsigned long long)s, tr_status_str(st));
			return 1;
		}
	}
	double t1 = now();
	tr_run_result rr;
	tr_status st = tr_machine_run(m, UINT64_MAX, &rr);
	double t2 = now();
	tr_machine_stats ms;
	tr_machine_stats_get(m, &ms);
	uint64_t want = tr_workload_messages(wl, R) * S;
	if (st || rr != TR_RUN_ALL_DONE || ms.faults || ms.messages_sent != want) {
		if (tr_synth_describe_bad(&synth, buf, sizeof buf))
			fprintf(stderr, "bench_machine: %s\n", buf);
		fprintf(stderr, "bench_machine: run %s, result %d, faults %llu, messages %llu (want %llu)\n",
		        tr_status_str(st), (int)rr, (unsigned long long)ms.faults,
		        (unsigned long long)ms.messages_sent, (unsigned long long)want);
		return 3;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double wall = t2 - t0;
	fprintf(stderr, "open %.3f s, run %.3f s, %.2f ns/message, %llu rounds, %.2f ns/round\n",
	        t1 - t0, t2 - t1, (t2 - t1) * 1e9 / (double)ms.messages_sent,
	        (unsigned long long)ms.rounds, (t2 - t1) * 1e9 / (double)ms.rounds);
	printf("RESULT impl=troupe-machine workload=%s sessions=%llu rounds=%llu threads=1 "
	       "placement=local messages=%llu wall_s=%.6f msgs_per_s=%.0f peak_rss_kb=%ld\n",
	       wl_name, (unsigned long long)S, (unsigned long long)R,
	       (unsigned long long)ms.messages_sent, wall, (double)ms.messages_sent / wall,
	       ru.ru_maxrss);
	tr_machine_free(m);
	tr_image_free(img);
	free(states);
	return 0;
}
