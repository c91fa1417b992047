/* tests/runtime/stress_epoch.c: issue 5, done-when 3. Host threads open,
 * post to, query and cancel sessions (their own and each other's, through a
 * shared table of ids) while workers run and reap them, with spread
 * placement so records are looked up across threads (runtime.c E1-E4).
 * At the end: every opened session got exactly one summary (a counter per
 * session), every record was freed exactly once (sessions_freed), nothing
 * is live. Run it under TSan and ASan.
 *
 *   stress_epoch [--threads N] [--iters M] [--seed S] [--workers W]
 *
 * Prints the seed and the command that reproduces the run (the host
 * threads' choices are seeded; the interleaving is not). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_harness.h"

/* A failed check names its condition and the figures; main() then prints
 * the command that reproduces the run and exits 1. Uses main's `rc`. */
#define CHECK(cond, ...)                                                       \
	do {                                                                       \
		if (!(cond)) {                                                         \
			fprintf(stderr, "stress_epoch: FAILED: %s: ", #cond);              \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			rc = 1;                                                            \
		}                                                                      \
	} while (0)

#define SHARED_IDS 1024u

typedef struct stress {
	tr_runtime *rt;
	rt_wl wl;
	tr_handler h;
	uint32_t label_next, label_ping, label_stop;
	uint64_t max_sessions;
	_Atomic uint64_t next_session;
	_Atomic uint32_t *completions; /* [max_sessions] */
	rt_wl_role *roles;             /* [max_sessions * 2] */
	void **ptrs;                   /* [max_sessions * 2] */
	_Atomic uint64_t shared[SHARED_IDS];
	_Atomic uint64_t posts_ok, cancels_ok, status_ok, not_found, open_fail;
	uint64_t iters;
	uint64_t seed;
} stress;

typedef struct thread_arg {
	stress *s;
	uint32_t index;
	pthread_t th;
} thread_arg;

static uint64_t
xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
on_complete(void *ctx, const tr_runtime_summary *sum)
{
	stress *s = ctx;
	uintptr_t k = (uintptr_t)sum->user;
	if (k < s->max_sessions)
		atomic_fetch_add_explicit(&s->completions[k], 1, memory_order_relaxed);
}

static void
on_host_message(void *ctx, tr_session_id id, uint32_t from, uint32_t to, uint32_t label,
                tr_value v)
{
	(void)ctx, (void)id, (void)from, (void)to, (void)label, (void)v;
}

static void *
host_thread(void *arg)
{
	thread_arg *ta = arg;
	stress *s = ta->s;
	uint64_t x = s->seed * 0x9e3779b97f4a7c15ull + ta->index + 1;

	for (uint64_t i = 0; i < s->iters; i++) {
		uint64_t r = xorshift(&x);
		uint64_t pick = atomic_load_explicit(&s->shared[(r >> 8) % SHARED_IDS],
		                                     memory_order_relaxed);
		switch (r % 8) {
		case 0:
		case 1: { /* open: host plays A (lives until posted Stop / cancel)
		           * or a self-running pingpong of 0..3 rounds */
			uint64_t k = atomic_fetch_add_explicit(&s->next_session, 1, memory_order_relaxed);
			if (k >= s->max_sessions)
				break;
			bool host = (r >> 20) & 1;
			rt_wl_roles_init(&s->roles[k * 2], 2, (int64_t)((r >> 24) % 4));
			tr_runtime_session_opts o = {.host_roles = host ? 1 : 0, .user = (void *)(uintptr_t)k};
			tr_session_id id;
			if (tr_runtime_open_session(s->rt, s->wl.img, &s->h, &s->ptrs[k * 2], &o, &id) != TR_OK) {
				atomic_fetch_add_explicit(&s->open_fail, 1, memory_order_relaxed);
				break;
			}
			atomic_store_explicit(&s->shared[(r >> 32) % SHARED_IDS], id, memory_order_relaxed);
			break;
		}
		case 2:
		case 3: { /* post to anyone's session */
			uint32_t l = (r >> 40) % 3 == 0 ? s->label_next
			             : (r >> 40) % 3 == 1 ? s->label_ping : s->label_stop;
			tr_value v = l == s->label_ping ? tr_value_int((int64_t)(r >> 50)) : tr_value_unit();
			tr_status st = tr_runtime_post(s->rt, pick, 0, 1, l, v);
			if (st == TR_OK)
				atomic_fetch_add_explicit(&s->posts_ok, 1, memory_order_relaxed);
			else if (st == TR_E_NOT_FOUND)
				atomic_fetch_add_explicit(&s->not_found, 1, memory_order_relaxed);
			break;
		}
		case 4:
		case 5:
		case 6: { /* query */
			tr_session_status st;
			if (tr_runtime_session_status(s->rt, pick, &st) == TR_OK)
				atomic_fetch_add_explicit(&s->status_ok, 1, memory_order_relaxed);
			break;
		}
		default: /* cancel */
			if (tr_runtime_cancel(s->rt, pick) == TR_OK)
				atomic_fetch_add_explicit(&s->cancels_ok, 1, memory_order_relaxed);
			break;
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	uint32_t threads = 4, workers = 2;
	uint64_t iters = 5000, seed = (uint64_t)time(NULL);
	stress *s;
	tr_error err;
	int rc = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--threads") == 0)
			threads = (uint32_t)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--iters") == 0)
			iters = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0)
			seed = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--workers") == 0)
			workers = (uint32_t)atoi(argv[i + 1]);
		else {
			fprintf(stderr, "usage: stress_epoch [--threads N] [--iters M] [--seed S] [--workers W]\n");
			return 2;
		}
	}
	if (threads == 0 || workers == 0 || threads > 256) {
		fprintf(stderr, "stress_epoch: bad sizes\n");
		return 2;
	}
	printf("stress_epoch: seed=%" PRIu64 "\nreproduce: %s --threads %u --iters %" PRIu64
	       " --seed %" PRIu64 " --workers %u\n",
	       seed, argv[0], threads, iters, seed, workers);
	fflush(stdout);

	s = calloc(1, sizeof *s);
	if (s == NULL || rt_wl_init(&s->wl, TR_EXAMPLES, RT_WL_PINGPONG, &err) != TR_OK) {
		fprintf(stderr, "stress_epoch: cannot build pingpong: %s\n", err.msg);
		return 1;
	}
	s->iters = iters;
	s->seed = seed;
	s->max_sessions = threads * iters / 4 + 16;
	s->completions = calloc(s->max_sessions, sizeof *s->completions);
	s->roles = calloc(s->max_sessions * 2, sizeof *s->roles);
	s->ptrs = calloc(s->max_sessions * 2, sizeof *s->ptrs);
	if (s->completions == NULL || s->roles == NULL || s->ptrs == NULL) {
		fprintf(stderr, "stress_epoch: out of memory\n");
		return 1;
	}
	for (uint64_t k = 0; k < s->max_sessions * 2; k++)
		s->ptrs[k] = &s->roles[k];
	s->h = rt_wl_handler(&s->wl);
	s->label_next = (uint32_t)tr_image_label_id(s->wl.img, "Next");
	s->label_ping = (uint32_t)tr_image_label_id(s->wl.img, "Ping");
	s->label_stop = (uint32_t)tr_image_label_id(s->wl.img, "Stop");

	tr_runtime_config c;
	tr_runtime_config_default(&c);
	c.threads = workers;
	c.placement = TR_PLACE_SPREAD;
	c.on_complete = on_complete;
	c.complete_ctx = s;
	c.on_host_message = on_host_message;
	if (tr_runtime_create(&c, &s->rt) != TR_OK ||
	    tr_runtime_register_image(s->rt, s->wl.img) != TR_OK) {
		fprintf(stderr, "stress_epoch: cannot create the runtime\n");
		return 1;
	}
	thread_arg *ta = calloc(threads, sizeof *ta);
	double t0 = rt_now();
	for (uint32_t i = 0; i < threads; i++) {
		ta[i].s = s;
		ta[i].index = i;
		pthread_create(&ta[i].th, NULL, host_thread, &ta[i]);
	}
	for (uint32_t i = 0; i < threads; i++)
		pthread_join(ta[i].th, NULL);
	tr_runtime_stop(s->rt, "stress end");

	tr_runtime_stats st;
	tr_runtime_stats_get(s->rt, &st, NULL, 0);
	uint64_t opened = atomic_load(&s->next_session);
	if (opened > s->max_sessions)
		opened = s->max_sessions;
	opened -= atomic_load(&s->open_fail);
	uint64_t bad = 0;
	for (uint64_t k = 0; k < s->max_sessions; k++) {
		uint32_t n = atomic_load(&s->completions[k]);
		if (n > 1)
			bad++; /* a second summary */
	}
	printf("stress_epoch: %.2f s, opened %" PRIu64 " completed %" PRIu64 " (ok %" PRIu64
	       ", cancelled %" PRIu64 ", faulted %" PRIu64 ") freed %" PRIu64 " live %" PRIu64
	       "; posts %" PRIu64 " cancels %" PRIu64 " status %" PRIu64 " not-found %" PRIu64
	       " dropped %" PRIu64 "\n",
	       rt_now() - t0, st.sessions_opened, st.sessions_completed, st.sessions_ok,
	       st.sessions_cancelled, st.sessions_faulted, st.sessions_freed, st.sessions_live,
	       atomic_load(&s->posts_ok), atomic_load(&s->cancels_ok), atomic_load(&s->status_ok),
	       atomic_load(&s->not_found), st.dropped);
	uint64_t missing = 0;
	for (uint64_t k = 0; k < s->max_sessions; k++)
		missing += atomic_load(&s->completions[k]) == 0;
	/* every session opened once, summarised once, freed once, none left */
	CHECK(st.sessions_opened == opened, "runtime counted %" PRIu64 " opens, hosts %" PRIu64,
	      st.sessions_opened, opened);
	CHECK(st.sessions_completed == opened, "%" PRIu64 " summaries for %" PRIu64 " sessions",
	      st.sessions_completed, opened);
	CHECK(st.sessions_freed == opened, "%" PRIu64 " records freed for %" PRIu64 " sessions",
	      st.sessions_freed, opened);
	CHECK(st.sessions_live == 0, "%" PRIu64 " sessions still live", st.sessions_live);
	CHECK(bad == 0, "%" PRIu64 " sessions with more than one summary", bad);
	CHECK(missing == s->max_sessions - opened, "%" PRIu64 " sessions without a summary",
	      missing - (s->max_sessions - opened));
	if (rc)
		fprintf(stderr, "reproduce: %s --threads %u --iters %" PRIu64 " --seed %" PRIu64
		        " --workers %u\n", argv[0], threads, iters, seed, workers);
	tr_runtime_free(s->rt);
	rt_wl_fini(&s->wl);
	free(ta);
	free(s->completions);
	free(s->roles);
	free(s->ptrs);
	free(s);
	if (rc == 0)
		printf("stress_epoch: OK\n");
	return rc;
}
