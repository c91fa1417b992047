/* examples/embed.c: troupe embedded in a host program.
 *
 * The host compiles the two-party pingpong protocol, starts a runtime with
 * one worker per CPU, and opens sessions in which the workers play B while
 * the host plays A: it posts A's messages with tr_runtime_post and reads
 * B's answers in on_host_message. Each answer must be ping + 1; every
 * session reports its end through on_complete.
 *
 *   build/examples/embed [SESSIONS] [ROUNDS]
 *
 * Error handling is what a real host would do: every call's status is
 * checked and printed with tr_status_str. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "troupe/image.h"
#include "troupe/protocol.h"
#include "troupe/runtime.h"

enum { A = 0, B = 1 };

struct host {
	tr_runtime *rt;
	uint32_t l_next, l_ping, l_pong, l_stop;
	int64_t rounds;
	atomic_long wrong;   /* answers that were not ping + 1 */
	atomic_long answers;
	atomic_long done_ok;
};

/* B's payload: pong = ping + 1. B's state is a counter of pings seen. */
static tr_status
b_send(void *ctx, const tr_effect *e, tr_value *out)
{
	(void)ctx;
	int64_t *last_ping = e->role_state;
	*out = tr_value_int(*last_ping + 1);
	return TR_OK;
}

static tr_status
b_recv(void *ctx, const tr_effect *e, tr_value v)
{
	(void)ctx;
	*(int64_t *)e->role_state = (int64_t)v.bits;
	return TR_OK;
}

/* Runs on a worker when B answers: post A's next move from here. A real
 * server would hand this to its own event loop instead. */
static void
on_host_message(void *ctx, tr_session_id id, uint32_t from, uint32_t to, uint32_t label,
                tr_value v)
{
	struct host *h = ctx;
	(void)from, (void)to, (void)label;
	int64_t round = (int64_t)v.bits; /* pong of round r is r + 1 */
	atomic_fetch_add_explicit(&h->answers, 1, memory_order_relaxed);
	if (round < 1)
		atomic_fetch_add_explicit(&h->wrong, 1, memory_order_relaxed);
	if (round < h->rounds) {
		tr_runtime_post(h->rt, id, A, B, h->l_next, tr_value_unit());
		tr_runtime_post(h->rt, id, A, B, h->l_ping, tr_value_int(round));
	} else {
		tr_runtime_post(h->rt, id, A, B, h->l_stop, tr_value_unit());
	}
}

static void
on_complete(void *ctx, const tr_runtime_summary *s)
{
	struct host *h = ctx;
	if (s->ok)
		atomic_fetch_add_explicit(&h->done_ok, 1, memory_order_relaxed);
	else
		fprintf(stderr, "session %llu failed: %s\n", (unsigned long long)s->id,
		        tr_fault_name(s->fault.kind));
}

int
main(int argc, char **argv)
{
	long sessions = argc > 1 ? atol(argv[1]) : 1000;
	long rounds = argc > 2 ? atol(argv[2]) : 10;
	char msg[512];
	tr_error err;
	tr_error_clear(&err);

	tr_protocol *p = NULL;
	tr_image *img = NULL;
	if (tr_protocol_parse_file(TR_EXAMPLES_DIR "/pingpong.tell", NULL, &p, &err) ||
	    tr_image_compile(p, NULL, &img, &err)) {
		fprintf(stderr, "%s\n", tr_error_format(&err, msg, sizeof msg));
		return 1;
	}
	tr_protocol_free(p);

	struct host h = {.rounds = rounds};
	h.l_next = (uint32_t)tr_image_label_id(img, "Next");
	h.l_ping = (uint32_t)tr_image_label_id(img, "Ping");
	h.l_pong = (uint32_t)tr_image_label_id(img, "Pong");
	h.l_stop = (uint32_t)tr_image_label_id(img, "Stop");

	tr_runtime_config cfg;
	tr_runtime_config_default(&cfg);
	cfg.threads = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	cfg.on_complete = on_complete;
	cfg.complete_ctx = &h;
	cfg.on_host_message = on_host_message;
	cfg.host_ctx = &h;
	tr_status st = tr_runtime_create(&cfg, &h.rt);
	if (st == TR_OK)
		st = tr_runtime_register_image(h.rt, img);
	if (st) {
		fprintf(stderr, "runtime: %s\n", tr_status_str(st));
		return 1;
	}

	tr_handler b = {.on_send = b_send, .on_recv = b_recv};
	int64_t *b_state = calloc((size_t)sessions, sizeof *b_state);
	tr_runtime_session_opts opts = {.host_roles = 1u << A};
	for (long i = 0; i < sessions && b_state; i++) {
		void *states[2] = {NULL, &b_state[i]};
		tr_session_id id;
		st = tr_runtime_open_session(h.rt, img, &b, states, &opts, &id);
		if (st == TR_OK && rounds > 0) {
			tr_runtime_post(h.rt, id, A, B, h.l_next, tr_value_unit());
			st = tr_runtime_post(h.rt, id, A, B, h.l_ping, tr_value_int(0));
		} else if (st == TR_OK) {
			st = tr_runtime_post(h.rt, id, A, B, h.l_stop, tr_value_unit());
		}
		if (st) {
			fprintf(stderr, "session %ld: %s\n", i, tr_status_str(st));
			break;
		}
	}
	st = tr_runtime_drain(h.rt, 60000);
	tr_runtime_free(h.rt);
	printf("%ld sessions, %ld ok, %ld answers, %ld wrong (drain: %s)\n", sessions,
	       atomic_load(&h.done_ok), atomic_load(&h.answers), atomic_load(&h.wrong),
	       tr_status_str(st));
	free(b_state);
	tr_image_free(img);
	return st == TR_OK && atomic_load(&h.done_ok) == sessions && atomic_load(&h.wrong) == 0
	               ? 0
	               : 1;
}
