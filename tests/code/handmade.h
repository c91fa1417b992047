/* tests/code/handmade.h: protocols built by hand through struct tr_protocol
 * (no parser), so that the compiler, images and verifier are tested on their
 * own. Each builder returns a protocol to free with hm_free(). */
#ifndef TR_TESTS_HANDMADE_H
#define TR_TESTS_HANDMADE_H

#include "lang/protocol_internal.h"

tr_protocol *hm_new(const char *name, const char *const *roles, uint32_t nroles);
void hm_free(tr_protocol *p);
uint32_t hm_str(tr_protocol *p, const char *s);
uint32_t hm_sort(tr_protocol *p, const char *name, tr_sort_kind kind);
uint32_t hm_end(tr_protocol *p);
/* kind TR_L_SEND or TR_L_RECV, one branch */
uint32_t hm_msg(tr_protocol *p, tr_lkind kind, uint32_t peer, const char *label, uint32_t sort,
                uint32_t cont);
/* n branches, Unit payloads */
uint32_t hm_choice(tr_protocol *p, tr_lkind kind, uint32_t peer, uint32_t n,
                   const char *const *labels, const uint32_t *conts);
/* A rec node whose body is set later with hm_set_body(). */
uint32_t hm_rec(tr_protocol *p, const char *var);
void hm_set_body(tr_protocol *p, uint32_t rec, uint32_t body);
uint32_t hm_var(tr_protocol *p, const char *var, uint32_t rec);

/* Workloads of WORKLOADS.md as local types. */
tr_protocol *hm_pingpong(void);
tr_protocol *hm_ring(uint32_t k);
/* A -> B : x(Int). A -> C : y(Int). C -> B : z(String). end */
tr_protocol *hm_three(void);
/* Only Unit messages: A -> B : hello. end */
tr_protocol *hm_unit(void);

#endif
