/* tools/synth.c: the synthetic effect handler of `troupe run` (see
 * synth.h for the rules). It does not open sessions or run anything: the
 * CLI and the bench programs do, and hand it role states.
 *
 * The hot path is one function per workload (chosen when the handler is
 * made) comparing label and role ids resolved by tr_synth_init(); nothing
 * allocates. */
#include "synth.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NOLABEL UINT32_MAX

#if defined(__GNUC__)
#define TR_UNLIKELY_(x) __builtin_expect(!!(x), 0)
#define TR_LIKELY_(x) __builtin_expect(!!(x), 1)
#else
#define TR_UNLIKELY_(x) (x)
#define TR_LIKELY_(x) (x)
#endif

/* Generic per-role state: choices made, then per peer the payloads sent to
 * it and received from it. */
typedef struct generic_state {
	uint32_t choices;
	uint32_t pad_;
	uint32_t cnt[]; /* [0, nroles): sent to peer; [nroles, 2·nroles): received */
} generic_state;

const char *
tr_workload_name(tr_workload w)
{
	switch (w) {
	case TR_WL_PINGPONG: return "pingpong";
	case TR_WL_RING: return "ring";
	case TR_WL_FANOUT: return "fanout";
	case TR_WL_TWOBUYER: return "twobuyer";
	case TR_WL_GENERIC: break;
	}
	return "generic";
}

tr_workload
tr_workload_from_name(const char *name)
{
	static const tr_workload all[] = {TR_WL_PINGPONG, TR_WL_RING, TR_WL_FANOUT,
	                                  TR_WL_TWOBUYER};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (name && strcmp(name, tr_workload_name(all[i])) == 0)
			return all[i];
	return TR_WL_GENERIC;
}

uint64_t
tr_workload_messages(tr_workload w, uint64_t r)
{
	switch (w) {
	case TR_WL_PINGPONG: return 3 * r + 1;
	case TR_WL_RING: return 15 * r + 7;
	case TR_WL_FANOUT: return 12 * r + 4;
	case TR_WL_TWOBUYER: return 7 * r + 2 * ((r + 1) / 2) + 2;
	case TR_WL_GENERIC: break;
	}
	return 0;
}

/* The .tell files may spell labels Capitalised (as DESIGN.md's example) or
 * in lower case (as WORKLOADS.md): accept either, once, at init. */
static uint32_t
find_label(const tr_image *img, const char *cap)
{
	char buf[32];
	size_t n = strlen(cap);
	int id;

	if (n >= sizeof buf)
		return NOLABEL;
	if ((id = tr_image_label_id(img, cap)) >= 0)
		return (uint32_t)id;
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)cap[i]);
	if ((id = tr_image_label_id(img, buf)) >= 0)
		return (uint32_t)id;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)toupper((unsigned char)cap[i]);
	if ((id = tr_image_label_id(img, buf)) >= 0)
		return (uint32_t)id;
	return NOLABEL;
}

static tr_status
need_role(const tr_synth *s, const char *name, uint8_t *out, tr_error *err)
{
	int r = tr_image_role_index(s->img, name);

	if (r < 0) {
		if (err) {
			err->status = TR_E_INVALID;
			snprintf(err->msg, sizeof err->msg,
			         "workload %s: the protocol has no role %s",
			         tr_workload_name(s->wl), name);
		}
		return TR_E_INVALID;
	}
	*out = (uint8_t)r;
	return TR_OK;
}

static tr_status
need_label(const tr_synth *s, uint32_t id, const char *name, tr_error *err)
{
	if (id != NOLABEL)
		return TR_OK;
	if (err) {
		err->status = TR_E_INVALID;
		snprintf(err->msg, sizeof err->msg,
		         "workload %s: the protocol has no label %s",
		         tr_workload_name(s->wl), name);
	}
	return TR_E_INVALID;
}

tr_status
tr_synth_init(tr_synth *s, tr_workload wl, const tr_image *img, uint64_t rounds,
              tr_error *err)
{
	uint8_t r;
	char name[8];
	tr_status st = TR_OK;

	if (!s || !img || rounds > INT32_MAX) {
		if (err) {
			err->status = TR_E_INVALID;
			snprintf(err->msg, sizeof err->msg,
			         "rounds must be at most %d", INT32_MAX);
		}
		return TR_E_INVALID;
	}
	memset(s, 0, sizeof *s);
	atomic_init(&s->bad_claimed, 0);
	s->wl = wl;
	s->img = img;
	s->rounds = (uint32_t)rounds;
	s->nroles = tr_image_nroles(img);
	if (s->nroles > TR_SYNTH_MAX_ROLES) {
		if (err) {
			err->status = TR_E_INVALID;
			snprintf(err->msg, sizeof err->msg, "more than %d roles",
			         TR_SYNTH_MAX_ROLES);
		}
		return TR_E_INVALID;
	}
	s->state_size = wl == TR_WL_GENERIC
	                    ? (uint32_t)(sizeof(generic_state) + 8 * s->nroles)
	                    : (uint32_t)sizeof(tr_synth_role);
	s->l_next = find_label(img, "Next");
	s->l_stop = find_label(img, "Stop");
	s->l_ping = find_label(img, "Ping");
	s->l_pong = find_label(img, "Pong");
	s->l_tok = find_label(img, "Tok");
	s->l_req = find_label(img, "Req");
	s->l_resp = find_label(img, "Resp");
	s->l_title = find_label(img, "Title");
	s->l_quote = find_label(img, "Quote");
	s->l_share = find_label(img, "Share");
	s->l_addr = find_label(img, "Addr");
	s->l_date = find_label(img, "Date");
	s->l_accept = find_label(img, "Accept");
	s->l_reject = find_label(img, "Reject");
	for (unsigned i = 0; i < TR_SYNTH_MAX_ROLES; i++) {
		s->hop[i] = -1;
		s->tb_learn[i] = NOLABEL;
	}
	if (wl == TR_WL_GENERIC)
		return TR_OK;
	if ((st = need_label(s, s->l_next, "Next", err)) ||
	    (st = need_label(s, s->l_stop, "Stop", err)))
		return st;

	switch (wl) {
	case TR_WL_PINGPONG:
		if ((st = need_role(s, "A", &s->initiator, err)) ||
		    (st = need_role(s, "B", &r, err)) ||
		    (st = need_label(s, s->l_ping, "Ping", err)) ||
		    (st = need_label(s, s->l_pong, "Pong", err)))
			return st;
		break;
	case TR_WL_RING:
		if ((st = need_label(s, s->l_tok, "Tok", err)))
			return st;
		for (int k = 0; k < 8; k++) {
			snprintf(name, sizeof name, "P%d", k);
			if ((st = need_role(s, name, &r, err)))
				return st;
			s->hop[r] = (int8_t)k;
		}
		s->initiator = 0;
		(void)need_role(s, "P0", &s->initiator, err);
		break;
	case TR_WL_FANOUT:
		if ((st = need_role(s, "C", &s->initiator, err)) ||
		    (st = need_label(s, s->l_req, "Req", err)) ||
		    (st = need_label(s, s->l_resp, "Resp", err)))
			return st;
		for (int i = 1; i <= 4; i++) {
			snprintf(name, sizeof name, "W%d", i);
			if ((st = need_role(s, name, &r, err)))
				return st;
			s->hop[r] = (int8_t)i;
		}
		break;
	case TR_WL_TWOBUYER:
		if ((st = need_role(s, "B1", &s->initiator, err)) ||
		    (st = need_role(s, "B2", &s->r_b2, err)) ||
		    (st = need_role(s, "S", &s->r_s, err)) ||
		    (st = need_label(s, s->l_title, "Title", err)) ||
		    (st = need_label(s, s->l_quote, "Quote", err)) ||
		    (st = need_label(s, s->l_share, "Share", err)) ||
		    (st = need_label(s, s->l_addr, "Addr", err)) ||
		    (st = need_label(s, s->l_date, "Date", err)) ||
		    (st = need_label(s, s->l_accept, "Accept", err)) ||
		    (st = need_label(s, s->l_reject, "Reject", err)))
			return st;
		s->tb_learn[s->r_s] = s->l_title;
		s->tb_learn[s->r_b2] = s->l_quote;
		break;
	case TR_WL_GENERIC:
		break;
	}
	return TR_OK;
}

void
tr_synth_role_state_init(const tr_synth *s, void *p)
{
	memset(p, 0, s->state_size);
}

/* Record the first wrong payload (cold path) and fail the coroutine. */
static tr_status
bad(tr_synth *s, const tr_effect *e, uint64_t got, uint64_t want)
{
	uint32_t expect = 0;

	if (atomic_compare_exchange_strong_explicit(&s->bad_claimed, &expect, 1,
	                                            memory_order_relaxed,
	                                            memory_order_relaxed)) {
		/* Read only after the workers are joined (the join orders it). */
		s->bad_session = e->session;
		s->bad_role = e->role;
		s->bad_label = e->label;
		s->bad_got = got;
		s->bad_want = want;
	}
	return TR_E_HANDLER;
}

bool
tr_synth_describe_bad(const tr_synth *s, char *buf, size_t size)
{
	if (!atomic_load_explicit(&s->bad_claimed, memory_order_relaxed))
		return false;
	snprintf(buf, size,
	         "session %llu role %s: %s carried %llu, the %s rules want %llu",
	         (unsigned long long)s->bad_session,
	         tr_image_role_name(s->img, s->bad_role),
	         tr_image_string(s->img, s->bad_label),
	         (unsigned long long)s->bad_got, tr_workload_name(s->wl),
	         (unsigned long long)s->bad_want);
	return true;
}

static inline uint32_t
index_of(const uint32_t *labels, uint32_t n, uint32_t label)
{
	for (uint32_t i = 0; i < n; i++)
		if (labels[i] == label)
			return i;
	return UINT32_MAX;
}

/* ---- generic rules ---- */

static tr_status
generic_send(tr_synth *s, const tr_effect *e, tr_value *out)
{
	generic_state *g = e->role_state;
	uint32_t c;

	out->kind = e->sort_kind;
	if (e->sort_kind == TR_VAL_UNIT) {
		out->bits = 0;
		return TR_OK;
	}
	c = g->cnt[e->peer]++;
	out->bits = e->sort_kind == TR_VAL_BOOL ? (c & 1u) : c;
	(void)s;
	return TR_OK;
}

static tr_status
generic_recv(tr_synth *s, const tr_effect *e, tr_value v)
{
	generic_state *g = e->role_state;
	uint64_t want;
	uint32_t c;

	if (v.kind == TR_VAL_UNIT)
		return TR_OK;
	c = g->cnt[s->nroles + e->peer]++;
	want = v.kind == TR_VAL_BOOL ? (c & 1u) : c;
	if (TR_UNLIKELY_(v.bits != want))
		return bad(s, e, v.bits, want);
	return TR_OK;
}

static tr_status
generic_choose(tr_synth *s, const tr_effect *e, uint32_t n, uint32_t *pick)
{
	generic_state *g = e->role_state;

	*pick = g->choices < s->rounds ? 0 : n - 1;
	g->choices++;
	return TR_OK;
}

/* ---- the standard workloads ----
 *
 * One on_send/on_recv per workload, chosen once by tr_synth_handler(), so
 * a call is the label compares of its own rules and nothing else: no
 * dispatch on the workload, no generic path. Every payload is still
 * checked against its rule. */

/* A send whose label the rules do not name: Unit carries nothing, anything
 * else is wrong. */
static tr_status
send_other(tr_synth *s, const tr_effect *e, tr_value *out)
{
	out->bits = 0;
	if (e->sort_kind == TR_VAL_UNIT)
		return TR_OK;
	return bad(s, e, 0, 0);
}

/* A received value that is not Int: Unit carries nothing (choice labels:
 * the machine checked the label); any other kind is wrong. */
static tr_status
recv_not_int(tr_synth *s, const tr_effect *e, tr_value v)
{
	if (v.kind == TR_VAL_UNIT)
		return TR_OK;
	return bad(s, e, v.kind, TR_VAL_INT);
}

static inline tr_status
check(tr_synth *s, const tr_effect *e, tr_value v, uint64_t want)
{
	if (TR_UNLIKELY_(v.bits != want))
		return bad(s, e, v.bits, want);
	return TR_OK;
}

static tr_status
pp_send(void *ctx, const tr_effect *e, tr_value *out)
{
	tr_synth *s = ctx;
	const tr_synth_role *st = e->role_state;

	out->kind = e->sort_kind;
	if (TR_UNLIKELY_(e->sort_kind == TR_VAL_UNIT))
		return send_other(s, e, out);
	/* A: the round picked at its choice; B: the ping it got, plus one. */
	if (e->label == s->l_ping)
		out->bits = st->v;
	else if (e->label == s->l_pong)
		out->bits = (uint64_t)st->v + 1;
	else
		return send_other(s, e, out);
	return TR_OK;
}

static tr_status
pp_recv(void *ctx, const tr_effect *e, tr_value v)
{
	tr_synth *s = ctx;
	tr_synth_role *st = e->role_state;
	uint64_t want;

	if (TR_UNLIKELY_(v.kind != TR_VAL_INT))
		return recv_not_int(s, e, v);
	if (e->label == s->l_ping) {
		/* B: the i-th ping carries i. */
		want = st->n;
		st->v = (uint32_t)v.bits;
		st->n++;
	} else if (e->label == s->l_pong) {
		want = (uint64_t)st->v + 1;
	} else {
		return bad(s, e, v.bits, 0);
	}
	return check(s, e, v, want);
}

static tr_status
ring_send(void *ctx, const tr_effect *e, tr_value *out)
{
	tr_synth *s = ctx;
	const tr_synth_role *st = e->role_state;

	out->kind = e->sort_kind;
	if (TR_UNLIKELY_(e->sort_kind == TR_VAL_UNIT || e->label != s->l_tok))
		return send_other(s, e, out);
	out->bits = e->role == s->initiator ? st->v : (uint64_t)st->v + 1;
	return TR_OK;
}

static tr_status
ring_recv(void *ctx, const tr_effect *e, tr_value v)
{
	tr_synth *s = ctx;
	tr_synth_role *st = e->role_state;
	uint64_t want;

	if (TR_UNLIKELY_(v.kind != TR_VAL_INT))
		return recv_not_int(s, e, v);
	if (TR_UNLIKELY_(e->label != s->l_tok))
		return bad(s, e, v.bits, 0);
	if (e->role == s->initiator) {
		want = (uint64_t)st->v + 7;
	} else {
		/* Pk's r-th token left P0 as r and gained k - 1 on the way. */
		want = (uint64_t)st->n + (uint64_t)(s->hop[e->role] - 1);
		st->v = (uint32_t)v.bits;
		st->n++;
	}
	return check(s, e, v, want);
}

static tr_status
fan_send(void *ctx, const tr_effect *e, tr_value *out)
{
	tr_synth *s = ctx;

	out->kind = e->sort_kind;
	if (TR_UNLIKELY_(e->sort_kind == TR_VAL_UNIT))
		return send_other(s, e, out);
	if (e->label == s->l_req && s->hop[e->peer] > 0)
		out->bits = (uint64_t)s->hop[e->peer];
	else if (e->label == s->l_resp && s->hop[e->role] > 0)
		out->bits = 2 * (uint64_t)s->hop[e->role];
	else
		return send_other(s, e, out);
	return TR_OK;
}

static tr_status
fan_recv(void *ctx, const tr_effect *e, tr_value v)
{
	tr_synth *s = ctx;
	uint64_t want;

	if (TR_UNLIKELY_(v.kind != TR_VAL_INT))
		return recv_not_int(s, e, v);
	if (e->label == s->l_req && s->hop[e->role] > 0)
		want = (uint64_t)s->hop[e->role];
	else if (e->label == s->l_resp && s->hop[e->peer] > 0)
		want = 2 * (uint64_t)s->hop[e->peer];
	else
		return bad(s, e, v.bits, 0);
	return check(s, e, v, want);
}

static tr_status
tb_send(void *ctx, const tr_effect *e, tr_value *out)
{
	tr_synth *s = ctx;
	const tr_synth_role *st = e->role_state;

	out->kind = e->sort_kind;
	if (TR_UNLIKELY_(e->sort_kind == TR_VAL_UNIT))
		return send_other(s, e, out);
	/* Every payload of twobuyer is the round as this role knows it. */
	out->bits = st->v;
	return TR_OK;
}

static tr_status
tb_recv(void *ctx, const tr_effect *e, tr_value v)
{
	tr_synth *s = ctx;
	tr_synth_role *st = e->role_state;
	uint64_t want;

	if (TR_UNLIKELY_(v.kind != TR_VAL_INT))
		return recv_not_int(s, e, v);
	/* S learns the round from Title, B2 from its Quote; everything else
	 * in the round must carry the same r. */
	if (e->label == s->tb_learn[e->role]) {
		want = st->n;
		st->v = st->n++;
	} else {
		want = st->v;
	}
	return check(s, e, v, want);
}

/* ---- the generic handler ---- */

static tr_status
gen_send(void *ctx, const tr_effect *e, tr_value *out)
{
	return generic_send(ctx, e, out);
}

static tr_status
gen_recv(void *ctx, const tr_effect *e, tr_value v)
{
	return generic_recv(ctx, e, v);
}

/* ---- choices (every workload) ---- */

/* The index of label `want` in the OFFER's table; the first entry is the
 * usual answer (Next, Accept: the order the protocol declares them in). */
static inline tr_status
pick_label(tr_synth *s, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t want,
           uint32_t *pick)
{
	uint32_t i;

	if (TR_LIKELY_(labels[0] == want)) {
		*pick = 0;
		return TR_OK;
	}
	if (TR_UNLIKELY_((i = index_of(labels, n, want)) == UINT32_MAX))
		return bad(s, e, e->label, want);
	*pick = i;
	return TR_OK;
}

/* A choice no rule of the workload makes. */
static tr_status
choose_other(tr_synth *s, const tr_effect *e, uint32_t n)
{
	if (n == 0)
		return TR_E_HANDLER;
	return bad(s, e, e->label, 0);
}

/* The initiator's choice: Next while rounds remain, then Stop. */
static inline tr_status
initiator_choose(tr_synth *s, const tr_effect *e, const uint32_t *labels, uint32_t n,
                 uint32_t *pick)
{
	tr_synth_role *st = e->role_state;
	uint32_t want;

	if (st->n < s->rounds) {
		want = s->l_next;
		st->v = st->n++;
	} else {
		want = s->l_stop;
	}
	return pick_label(s, e, labels, n, want, pick);
}

/* pingpong, ring, fanout: only the initiator chooses; a one-label table is
 * a relayed decision (ring's hops). */
static tr_status
wl_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	tr_synth *s = ctx;

	if (n == 1) {
		*pick = 0;
		return TR_OK;
	}
	if (TR_UNLIKELY_(n == 0 || e->role != s->initiator))
		return choose_other(s, e, n);
	return initiator_choose(s, e, labels, n, pick);
}

/* twobuyer: B1 as the initiator; B2 accepts on even rounds; S relays. */
static tr_status
tb_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	tr_synth *s = ctx;
	const tr_synth_role *st = e->role_state;

	if (n == 1) {
		*pick = 0;
		return TR_OK;
	}
	if (TR_UNLIKELY_(n == 0))
		return TR_E_HANDLER;
	if (e->role == s->initiator)
		return initiator_choose(s, e, labels, n, pick);
	if (TR_UNLIKELY_(e->role != s->r_b2))
		return choose_other(s, e, n);
	return pick_label(s, e, labels, n, (st->v & 1u) ? s->l_reject : s->l_accept, pick);
}

static tr_status
gen_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n, uint32_t *pick)
{
	(void)labels;
	if (TR_UNLIKELY_(n == 0))
		return TR_E_HANDLER;
	return generic_choose(ctx, e, n, pick);
}

tr_handler
tr_synth_handler(tr_synth *s)
{
	tr_handler h;

	memset(&h, 0, sizeof h);
	h.on_choose = wl_choose;
	switch (s->wl) {
	case TR_WL_PINGPONG: h.on_send = pp_send; h.on_recv = pp_recv; break;
	case TR_WL_RING: h.on_send = ring_send; h.on_recv = ring_recv; break;
	case TR_WL_FANOUT: h.on_send = fan_send; h.on_recv = fan_recv; break;
	case TR_WL_TWOBUYER:
		h.on_send = tb_send;
		h.on_recv = tb_recv;
		h.on_choose = tb_choose;
		break;
	case TR_WL_GENERIC:
		h.on_send = gen_send;
		h.on_recv = gen_recv;
		h.on_choose = gen_choose;
		break;
	}
	h.ctx = s;
	return h;
}
