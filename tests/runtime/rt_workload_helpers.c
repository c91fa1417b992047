/* tests/runtime/rt_workload_helpers.c: standard workloads for the runtime's tests,
 * stress and bench programs (rt_workload.h). */
#include "rt_workload.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "troupe/protocol.h"

enum {
	L_NONE = 0, L_NEXT, L_STOP, L_PING, L_PONG, L_TOK, L_REQ, L_RESP,
	L_TITLE, L_QUOTE, L_SHARE, L_ACCEPT, L_REJECT, L_ADDR, L_DATE, L_COUNT
};

static const char *const label_names[L_COUNT] = {
	"", "Next", "Stop", "Ping", "Pong", "Tok", "Req", "Resp",
	"Title", "Quote", "Share", "Accept", "Reject", "Addr", "Date",
};

static const char *const wl_names[RT_WL_COUNT] = {"pingpong", "ring", "fanout", "twobuyer"};

int
rt_wl_kind(const char *name)
{
	for (int k = 0; k < RT_WL_COUNT; k++)
		if (strcmp(name, wl_names[k]) == 0)
			return k;
	return -1;
}

const char *
rt_wl_name(int kind)
{
	return kind >= 0 && kind < RT_WL_COUNT ? wl_names[kind] : "?";
}

uint64_t
rt_wl_expected(int kind, uint64_t R)
{
	switch (kind) {
	case RT_WL_PINGPONG: return 3 * R + 1;
	case RT_WL_RING: return 15 * R + 7;
	case RT_WL_FANOUT: return 12 * R + 4;
	case RT_WL_TWOBUYER: return 7 * R + 2 * ((R + 1) / 2) + 2;
	default: return 0;
	}
}

tr_status
rt_wl_init_text(rt_wl *w, const char *text, tr_error *err)
{
	tr_protocol *p = NULL;
	tr_status st;

	memset(w, 0, sizeof *w);
	w->kind = -1;
	w->name = "text";
	if ((st = tr_protocol_parse(text, strlen(text), "text", NULL, &p, err)) != TR_OK)
		return st;
	st = tr_image_compile(p, NULL, &w->img, err);
	tr_protocol_free(p);
	if (st != TR_OK)
		return st;
	w->nroles = tr_image_nroles(w->img);
	return TR_OK;
}

tr_status
rt_wl_init(rt_wl *w, const char *dir, int kind, tr_error *err)
{
	char path[1024];
	tr_protocol *p = NULL;
	tr_status st;

	memset(w, 0, sizeof *w);
	w->kind = kind;
	w->name = rt_wl_name(kind);
	snprintf(path, sizeof path, "%s/%s.tell", dir, w->name);
	if ((st = tr_protocol_parse_file(path, NULL, &p, err)) != TR_OK)
		return st;
	st = tr_image_compile(p, NULL, &w->img, err);
	tr_protocol_free(p);
	if (st != TR_OK)
		return st;
	w->nroles = tr_image_nroles(w->img);
	for (int l = 1; l < L_COUNT; l++) {
		int id = tr_image_label_id(w->img, label_names[l]);
		if (id >= 0 && (unsigned)id < RT_WL_MAXLABEL)
			w->label_kind[id] = (uint8_t)l;
	}
	return TR_OK;
}

void
rt_wl_fini(rt_wl *w)
{
	tr_image_free(w->img);
	w->img = NULL;
}

void
rt_wl_roles_init(rt_wl_role *roles, unsigned nroles, int64_t R)
{
	memset(roles, 0, nroles * sizeof *roles);
	for (unsigned i = 0; i < nroles; i++)
		roles[i].rounds = R;
}

static int
lkind(const rt_wl *w, uint32_t label)
{
	return label < RT_WL_MAXLABEL ? w->label_kind[label] : L_NONE;
}

static tr_status
fail(rt_wl *w, int line)
{
	uint64_t zero = 0;
	atomic_compare_exchange_strong_explicit(&w->first_error_line, &zero, (uint64_t)line,
	                                        memory_order_relaxed, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed);
	return TR_E_HANDLER;
}

static tr_status
wl_on_send(void *ctx, const tr_effect *e, tr_value *out)
{
	rt_wl *w = ctx;
	rt_wl_role *rs = e->role_state;
	int64_t v = 0;

	if (rs == NULL)
		return fail(w, __LINE__);
	if (rs->fail || e->session == atomic_load_explicit(&w->fail_session, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&w->injected_failures, 1, memory_order_relaxed);
		return TR_E_HANDLER;
	}
	switch (lkind(w, e->label)) {
	case L_PING: v = rs->chosen - 1; break;
	case L_PONG: v = rs->last + 1; break;
	case L_TOK: v = e->role == 0 ? rs->chosen - 1 : rs->last + 1; break;
	case L_REQ: v = e->peer; break;
	case L_RESP: v = rs->last * 2; break;
	case L_TITLE: v = rs->chosen - 1; break;
	case L_QUOTE: v = rs->last; break;
	case L_SHARE: v = rs->last; break;
	case L_ADDR: v = rs->chosen - 1; break;
	case L_DATE: v = rs->last; break;
	default: break;
	}
	out->kind = e->sort_kind;
	out->bits = e->sort_kind == TR_VAL_INT ? (uint64_t)v : 0;
	return TR_OK;
}

static tr_status
wl_on_recv(void *ctx, const tr_effect *e, tr_value val)
{
	rt_wl *w = ctx;
	rt_wl_role *rs = e->role_state;
	int k = lkind(w, e->label);
	int64_t v = (int64_t)val.bits;
	bool ok = true;

	if (rs == NULL)
		return fail(w, __LINE__);
	rs->nrecv[k]++;
	if (val.kind != TR_VAL_INT)
		return TR_OK; /* labels without payload */
	switch (k) {
	case L_PING: ok = v == rs->nrecv[L_PING] - 1; break;
	case L_PONG: ok = v == rs->chosen; break;
	case L_TOK:
		ok = e->role == 0 ? v == rs->chosen - 1 + 7
		                  : v == rs->nrecv[L_TOK] - 1 + (int64_t)e->role - 1;
		break;
	case L_REQ: ok = v == (int64_t)e->role; break;
	case L_RESP: ok = v == 2 * (int64_t)e->peer; break;
	case L_TITLE: ok = v == rs->nrecv[L_TITLE] - 1; break;
	case L_QUOTE: ok = e->role == 0 ? v == rs->chosen - 1 : v == rs->nrecv[L_QUOTE] - 1; break;
	case L_SHARE: ok = v == rs->nrecv[L_SHARE] - 1; break;
	case L_ADDR: ok = v == rs->nrecv[L_TITLE] - 1; break;
	case L_DATE: ok = v == rs->chosen - 1; break;
	default: break;
	}
	rs->last = v;
	return ok ? TR_OK : fail(w, __LINE__);
}

static tr_status
wl_on_choose(void *ctx, const tr_effect *e, const uint32_t *labels, uint32_t n,
             uint32_t *pick)
{
	rt_wl *w = ctx;
	rt_wl_role *rs = e->role_state;
	int want;

	if (rs == NULL || n == 0)
		return fail(w, __LINE__);
	bool accept_reject = false;
	for (uint32_t i = 0; i < n; i++)
		if (lkind(w, labels[i]) == L_ACCEPT)
			accept_reject = true;
	if (accept_reject)
		want = rs->chosen % 2 == 0 ? L_ACCEPT : L_REJECT;
	else
		want = rs->chosen < rs->rounds ? L_NEXT : L_STOP;
	rs->chosen++;
	for (uint32_t i = 0; i < n; i++) {
		if (lkind(w, labels[i]) == want) {
			*pick = i;
			return TR_OK;
		}
	}
	return fail(w, __LINE__);
}

tr_handler
rt_wl_handler(rt_wl *w)
{
	tr_handler h;
	memset(&h, 0, sizeof h);
	h.on_send = wl_on_send;
	h.on_recv = wl_on_recv;
	h.on_choose = wl_on_choose;
	h.ctx = w;
	return h;
}
