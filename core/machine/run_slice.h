/* core/machine/run_slice.h: the interpreter (step 9 of the round), included
 * twice by machine.c (which defines every helper it calls), with
 *   RS_NAME     the function's name
 *   RS_TRACING  an expression for m->tracing
 *   RS_EMODE    an expression for m->effect_mode
 * so that the common instance (tracing off, no effect capture or replay)
 * has those tests folded away. Nothing a slice does (a handler call
 * included) changes either, so reading them once per slice is exact.
 *
 * Run coroutine *cp (scheduler id *idp) for at most cfg.slice instructions.
 * It runs the machine's decoded copy of the role's code (tr_dinsn,
 * image_rt_decode). While *more is not 0, a slice that blocks, yields or
 * runs out of budget may be followed at once by the next round's
 * (fuse_handoff, fuse_general): *more counts those rounds down, and *cp
 * and *idp name the coroutine of the last slice, whose outcome is returned
 * (OUT_STUCK: the last round found nothing to run). */
static int
RS_NAME(tr_machine *m, tr_coro **cp, uint32_t *idp, uint32_t *more, tr_fault_kind *fk)
{
	const bool tracing = RS_TRACING;
	const uint8_t emode = RS_EMODE;
	const uint32_t slice = m->cfg.slice;
	tr_coro *c = *cp;
	uint32_t id = *idp, left = *more; /* in registers across fused rounds */
	/* Rounds fuse only while steps 3, 4 and 6 have nothing to do (hold is
	 * 0, fuse_handoff). Nothing a slice does changes hold (only the host
	 * queues ingress or arms timers, between calls), so one look here
	 * serves the whole chain; `held` gives the count back on return. */
	uint32_t held = 0;
	if ((m->hold[0] | m->hold[1]) != 0) {
		held = left;
		left = 0;
	}
	tr_session *s = tr_coro_session(c);
	tr_image_rt *rt = s->rt;
	const tr_handler *h = sh(m, s);
	const tr_dinsn *insn;
	uint32_t budget;
	tr_coro *nc; /* the coroutine a fused round runs next */
	tr_effect eff;
	int out;
	/* Counted here, not in the machine and the session per message (a
	 * read-modify-write of memory each): slice_flush adds them up when
	 * the function returns or the chain moves to another session. */
	uint64_t nsent = 0, nrecv = 0, ninsn = 0;

	/* The effect record: what does not change between the handler calls of
	 * a slice is filled once; each call sets peer, label and kind. */
	eff.session = s->id;
	eff.image = rt->img;
start:
	/* per coroutine: a fused hand-off comes back here with the next one */
	insn = (const tr_dinsn *)((const char *)rt->dcode + c->pc);
	budget = slice;
	eff.role = c->role;
	eff.tick = m->tick;
	eff.role_state = c->role_state;

#if TR_COMPUTED_GOTO
	static const void *const labels[TR_OP_COUNT_] = {
#define X(name, ops, flags) &&op_##name,
#include "../opcodes.def"
	};
#define TARGET(name) op_##name:
#define DISPATCH() goto *labels[insn->op]
#else
#define TARGET(name) case TR_OP_##name:
#define DISPATCH() goto dispatch
#endif
	/* NEXT: count the instruction just completed, stop at the slice end. */
#define NEXT()                                                                 \
	do {                                                                       \
		if (TR_UNLIKELY(--budget == 0)) {                                      \
			out = OUT_CONTINUE;                                                \
			goto leave;                                                        \
		}                                                                      \
		DISPATCH();                                                            \
	} while (0)

#if TR_COMPUTED_GOTO
	DISPATCH();
	{
#else
dispatch:
	switch (insn->op) {
#endif
	/* HALT: the role is done. Verified code reaches it only at `end`. */
	TARGET(HALT)
	{
		budget--;
		out = OUT_HALTED;
		goto leave;
	}

	/* SEND edge label sort reg: room (or credit) first, so that a blocked
	 * send never asks the handler twice; then on_send for a payload, its
	 * kind checked against the local type's sort; enqueue. */
	TARGET(SEND)
	{
		uint32_t ei = insn->edge;
		tr_edgebuf *e = edge_of_insn(c, insn);
		int how = room(m, s, c, e, ei, fk);
		if (TR_UNLIKELY(how > 0)) {
			out = how;
			goto leave;
		}
		int o = emit_as(how, m, tracing, emode, s, c, h, &eff, insn, &nsent, TR_EV_SENT, fk);
		if (TR_UNLIKELY(o)) {
			out = o;
			goto leave;
		}
		insn++;
		NEXT();
	}

	/* RECEIVE edge label sort reg: dequeue; the label and the value kind
	 * must be the local type's (messages from outside are not verified);
	 * write reg; on_recv for a payload. */
	TARGET(RECEIVE)
	{
		uint32_t ei = insn->edge;
		tr_edgebuf *e = edge_of_insn(c, insn);
		tr_entry en;
		if (!take(m, s, c, e, ei, insn->peer, &en, &nrecv))
			goto blocked;
		if (TR_UNLIKELY(en.lk != insn->b)) {
			*fk = TR_LK_LABEL(en.lk) != insn->a ? TR_FAULT_UNKNOWN_LABEL
			                                    : TR_FAULT_TYPE_VIOLATION;
			out = OUT_FAULT;
			goto leave;
		}
		if (TR_UNLIKELY(accept(m, tracing, emode, s, c, h, &eff, insn->peer, insn->a,
		                       insn->kind, en.bits, insn->roff, TR_EV_RECEIVED, fk))) {
			out = OUT_FAULT;
			goto leave;
		}
		insn++;
		NEXT();
	}

	/* OFFER edge table reg: the sending side of a choice. on_choose picks a
	 * label of the table; a payload branch asks on_send; send; jump. */
	TARGET(OFFER)
	{
		uint32_t ei = insn->edge;
		tr_edgebuf *e = edge_of_insn(c, insn);
		int how = room(m, s, c, e, ei, fk);
		if (TR_UNLIKELY(how > 0)) {
			out = how;
			goto leave;
		}
		uint32_t n = insn->b;
		uint32_t pick = 0;
		tr_status st = eff_choose(m, emode, s, h, &eff, insn->peer, rt->labels + insn->a, n,
		                          &pick);
		if (TR_UNLIKELY(st || pick >= n)) {
			*fk = st == TR_E_REPLAY_MISMATCH ? TR_FAULT_REPLAY_MISMATCH : TR_FAULT_INVOKE;
			out = OUT_FAULT;
			goto leave;
		}
		const tr_dentry *te = &rt->dent[insn->a + pick];
		int o = emit_as(how, m, tracing, emode, s, c, h, &eff, &te->as, &nsent,
		                TR_EV_OFFERED, fk);
		if (TR_UNLIKELY(o)) {
			out = o;
			goto leave;
		}
		insn = te->to;
		NEXT();
	}

	/* CHOOSE edge table reg: the receiving side of a choice. Dequeue a
	 * label; a label outside the table faults UNKNOWN_LABEL; jump. */
	TARGET(CHOOSE)
	{
		uint32_t ei = insn->edge;
		tr_edgebuf *e = edge_of_insn(c, insn);
		tr_entry en;
		if (!take(m, s, c, e, ei, insn->peer, &en, &nrecv))
			goto blocked;
		/* the branch whose label and kind are the message's */
		const tr_dentry *te = rt->dent + insn->a, *end = te + insn->b;
		while (te < end && te->as.b != en.lk)
			te++;
		uint32_t label = TR_LK_LABEL(en.lk);
		if (TR_UNLIKELY(te == end)) {
			*fk = choose_fault(rt, insn, label);
			out = OUT_FAULT;
			goto leave;
		}
		if (TR_UNLIKELY(accept(m, tracing, emode, s, c, h, &eff, insn->peer, label,
		                       te->as.kind, en.bits, insn->roff, TR_EV_CHOSE, fk))) {
			out = OUT_FAULT;
			goto leave;
		}
		insn = te->to;
		NEXT();
	}

	/* INVOKE sym: a host step; an error faults INVOKE. */
	TARGET(INVOKE)
	{
		tr_status st = eff_invoke(m, s, h, &eff, insn->a);
		if (TR_UNLIKELY(st)) {
			*fk = st == TR_E_REPLAY_MISMATCH ? TR_FAULT_REPLAY_MISMATCH : TR_FAULT_INVOKE;
			out = OUT_FAULT;
			goto leave;
		}
		obs_if(tracing, m, TR_EV_INVOKED, s->id, c->role, TR_NIL, insn->a, 0, 0);
		insn++;
		NEXT();
	}

	/* JUMP target: recursion's back edge (the verifier checked the target
	 * is the loop head the local type names). */
	TARGET(JUMP)
	{
		insn += (int32_t)insn->a;
		NEXT();
	}

	/* SET reg imm. */
	TARGET(SET)
	{
		reg_set(c, insn->roff, (uint64_t)insn->b << 32 | insn->a);
		insn++;
		NEXT();
	}

	/* MOVE reg src. */
	TARGET(MOVE)
	{
		/* verified: only a role that keeps its registers has a MOVE */
		*(uint64_t *)((char *)c + insn->roff) = *(uint64_t *)((char *)c + (int32_t)insn->b);
		insn++;
		NEXT();
	}

	/* YIELD: end the slice, stay ready. */
	TARGET(YIELD)
	{
		insn++;
		budget--;
		out = OUT_YIELD;
		goto leave;
	}
#if !TR_COMPUTED_GOTO
	default:
		*fk = TR_FAULT_PC_OUT_OF_BOUNDS;
		out = OUT_FAULT;
		goto leave;
#endif
	}
#undef TARGET
#undef DISPATCH
#undef NEXT

blocked:
	/* RECEIVE or CHOOSE found nothing: the usual end of a slice under load,
	 * with an exit of its own so that the hand-off tests no outcome */
	out = OUT_BLOCKED;
	ninsn += slice - budget + 1;
	c->pc = (uint32_t)((const char *)insn - (const char *)rt->dcode);
	if (!left)
		goto done;
	nc = fuse_handoff(m, tracing, s, c, id);
	if (TR_LIKELY(nc != NULL))
		goto fused;
	goto general;

leave:
	ninsn += slice - budget + (out == OUT_BLOCKED || out == OUT_FAULT);
	c->pc = (uint32_t)((const char *)insn - (const char *)rt->dcode);
	if (!left || (out != OUT_BLOCKED && out != OUT_CONTINUE && out != OUT_YIELD))
		goto done;
	if (out == OUT_BLOCKED && (nc = fuse_handoff(m, tracing, s, c, id)) != NULL)
		goto fused;
general:
	{
		bool stuck = false;
		nc = fuse_general(m, tracing, s, c, out, id, &stuck);
		if (TR_UNLIKELY(stuck)) {
			left--;
			out = OUT_STUCK;
		} else if (nc) {
			goto fused;
		}
	}
done:
	slice_flush(m, s, nsent, nrecv, ninsn);
	*cp = c;
	*idp = id;
	*more = left + held;
	return out;

fused:
	/* nc runs next (fuse_handoff, fuse_general) */
	left--;
	id = nc->id;
	c = nc;
	/* most often the same session: one range test */
	if (TR_UNLIKELY((size_t)((char *)nc - (char *)s) >= rt->block_size)) {
		slice_flush(m, s, nsent, nrecv, ninsn);
		nsent = nrecv = ninsn = 0;
		s = tr_coro_session(nc);
		rt = s->rt;
		h = sh(m, s);
		eff.session = s->id;
		eff.image = rt->img;
	}
	goto start;
}
