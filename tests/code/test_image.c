/* tests/code/test_image.c: compiler output, image round trips, the
 * disassembler, and the loader against corrupt and truncated files
 * (issue 3 item 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "code/image_internal.h"
#include "handmade.h"

static tr_image *
compile_ok(tr_protocol *p)
{
	tr_image *img = NULL;
	tr_error err;
	tr_error_clear(&err);
	tr_status st = tr_image_compile(p, NULL, &img, &err);
	if (st) {
		char buf[512];
		fprintf(stderr, "compile: %s\n", tr_error_format(&err, buf, sizeof buf));
	}
	assert_int_equal(st, TR_OK);
	assert_non_null(img);
	return img;
}

/* save -> load -> save gives the same bytes; returns the first save. */
static void
roundtrip(const tr_image *img, uint8_t **bytes, size_t *len)
{
	uint8_t *b1, *b2;
	size_t n1, n2;
	assert_int_equal(tr_image_save(img, NULL, &b1, &n1), TR_OK);
	tr_image *back = NULL;
	tr_error err;
	tr_error_clear(&err);
	tr_status st = tr_image_load(b1, n1, NULL, &back, &err);
	if (st) {
		char buf[512];
		fprintf(stderr, "load: %s\n", tr_error_format(&err, buf, sizeof buf));
	}
	assert_int_equal(st, TR_OK);
	assert_int_equal(tr_image_save(back, NULL, &b2, &n2), TR_OK);
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
	assert_string_equal(tr_image_name(back), tr_image_name(img));
	assert_int_equal(tr_image_nroles(back), tr_image_nroles(img));
	assert_int_equal(tr_image_nedges(back), tr_image_nedges(img));
	for (unsigned r = 0; r < tr_image_nroles(img); r++) {
		assert_string_equal(tr_image_role_name(back, r), tr_image_role_name(img, r));
		assert_int_equal(tr_image_role_index(back, tr_image_role_name(img, r)), (int)r);
	}
	tr_image_free(back);
	free(b2);
	if (bytes) {
		*bytes = b1;
		*len = n1;
	} else {
		free(b1);
	}
}

static char *
disasm_str(const tr_image *img)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	assert_non_null(f);
	assert_int_equal(tr_image_disasm(img, f), TR_OK);
	fclose(f);
	return text;
}

/* The ring of WORKLOADS.md: the real example once the front end parses it,
 * else the hand-built one. */
static tr_protocol *
ring_protocol(void)
{
#ifdef TR_HAVE_LANG
	tr_protocol *p = NULL;
	tr_error err;
	assert_int_equal(tr_protocol_parse_file(TR_EXAMPLES "/ring.tell", NULL, &p, &err), TR_OK);
	return p;
#else
	return hm_ring(8);
#endif
}

static void
free_ring(tr_protocol *p)
{
#ifdef TR_HAVE_LANG
	tr_protocol_free(p);
#else
	hm_free(p);
#endif
}

static void
test_compile_pingpong(void **state)
{
	(void)state;
	tr_protocol *p = hm_pingpong();
	tr_image *img = compile_ok(p);
	hm_free(p); /* the image must not depend on the protocol */
	assert_string_equal(tr_image_name(img), "PingPong");
	assert_int_equal(tr_image_nedges(img), 2);
	assert_int_equal(img->edges[0].from, 0);
	assert_int_equal(img->edges[0].to, 1);
	assert_int_equal(img->edge_of[0 * 2 + 1], 0);
	assert_int_equal(img->edge_of[1 * 2 + 0], 1);
	assert_int_equal(img->edge_of[0], UINT16_MAX);
	/* A: OFFER, SEND, RECEIVE, JUMP 0, HALT */
	const tr_role_code *a = &img->roles[0];
	assert_int_equal(a->ninsn, 5);
	assert_int_equal(a->nregs, 1);
	assert_int_equal(a->code[0].op, TR_OP_OFFER);
	assert_int_equal(a->code[1].op, TR_OP_SEND);
	assert_int_equal(a->code[2].op, TR_OP_RECEIVE);
	assert_int_equal(a->code[3].op, TR_OP_JUMP);
	assert_int_equal(a->code[3].a, 0);
	assert_int_equal(a->code[4].op, TR_OP_HALT);
	assert_int_equal(img->roles[1].code[0].op, TR_OP_CHOOSE);
	assert_int_equal(tr_image_label_id(img, "Ping"), (int)a->code[1].a);
	assert_int_equal(tr_image_label_id(img, "NoSuchLabel"), -1);
	assert_string_equal(tr_image_string(img, a->code[1].a), "Ping");
	assert_null(tr_image_string(img, 100000));
	assert_int_equal(tr_image_role_index(img, "B"), 1);
	assert_int_equal(tr_image_role_index(img, "Z"), -1);
	tr_image_free(img);
}

static void
test_nregs(void **state)
{
	(void)state;
	tr_protocol *p = hm_unit();
	tr_image *img = compile_ok(p);
	assert_int_equal(img->roles[0].nregs, 0);
	assert_int_equal(img->roles[1].nregs, 0);
	tr_image_free(img);
	hm_free(p);
	p = hm_ring(8);
	img = compile_ok(p);
	for (unsigned r = 0; r < 8; r++)
		assert_int_equal(img->roles[r].nregs, 1);
	/* 8 hops P0->P1 .. P7->P0, each used once: sorted (from, to) */
	assert_int_equal(tr_image_nedges(img), 8);
	for (uint32_t e = 1; e < img->nedges; e++)
		assert_true(img->edges[e - 1].from < img->edges[e].from);
	tr_image_free(img);
	hm_free(p);
}

static void
test_roundtrip_handmade(void **state)
{
	(void)state;
	tr_protocol *(*mk[])(void) = {hm_pingpong, hm_three, hm_unit};
	for (size_t i = 0; i < TR_ARRAY_LEN(mk); i++) {
		tr_protocol *p = mk[i]();
		tr_image *img = compile_ok(p);
		roundtrip(img, NULL, NULL);
		tr_image_free(img);
		hm_free(p);
	}
	for (uint32_t k = 3; k <= 10; k++) {
		tr_protocol *p = hm_ring(k);
		tr_image *img = compile_ok(p);
		roundtrip(img, NULL, NULL);
		tr_image_free(img);
		hm_free(p);
	}
}

static void
test_roundtrip_file(void **state)
{
	(void)state;
	tr_protocol *p = hm_ring(8);
	tr_image *img = compile_ok(p);
	char path[] = "/tmp/troupe_test_image_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(tr_image_save_file(img, path), TR_OK);
	tr_image *back = NULL;
	tr_error err;
	tr_error_clear(&err);
	assert_int_equal(tr_image_load_file(path, NULL, &back, &err), TR_OK);
	tr_image_free(back);
	remove(path);
	assert_int_equal(tr_image_load_file(path, NULL, &back, &err), TR_E_IO);
	assert_null(back);
	tr_image_free(img);
	hm_free(p);
	/* the committed sample file still loads (format stability) */
	assert_int_equal(tr_image_load_file(TR_TEST_DATA "/images/ring8.tri", NULL, &back, &err),
	                 TR_OK);
	assert_int_equal(tr_image_nroles(back), 8);
	tr_image_free(back);
}

#ifdef TR_HAVE_LANG
/* Every example protocol: compile -> save -> load -> save, same bytes. */
static void
test_roundtrip_examples(void **state)
{
	(void)state;
	DIR *d = opendir(TR_EXAMPLES);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".tell") != 0)
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", TR_EXAMPLES, de->d_name);
		tr_protocol *p = NULL;
		tr_error err;
		tr_error_clear(&err);
		tr_status st = tr_protocol_parse_file(path, NULL, &p, &err);
		if (st) {
			char buf[512];
			fprintf(stderr, "parse: %s\n", tr_error_format(&err, buf, sizeof buf));
		}
		assert_int_equal(st, TR_OK);
		tr_image *img = compile_ok(p);
		roundtrip(img, NULL, NULL);
		char *text = disasm_str(img);
		assert_non_null(strstr(text, "HALT"));
		free(text);
		tr_image_free(img);
		tr_protocol_free(p);
		n++;
	}
	closedir(d);
	assert_true(n >= 4);
}
#endif

static void
check_pingpong_listing(tr_protocol *p)
{
	tr_image *img = compile_ok(p);
	char *text = disasm_str(img);
	static const char *const want[] = {
		"image PingPong\n",
		"roles 2: A B\n",
		"edges 2: 0 A->B 1 B->A\n",
		"role A: nregs 1, 5 instructions\n",
		"  type μLoop.B⊕{Next: B!Ping(Int).B?Pong(Int).Loop, Stop: end}\n",
		"         0  OFFER    A->B table 0 {Next → 1, Stop → 4}\n",
		"         1  SEND     A->B Ping(Int) r0\n",
		"         2  RECEIVE  B->A Pong(Int) r0\n",
		"         3  JUMP     0\n",
		"         4  HALT    \n",
		"role B: nregs 1, 5 instructions\n",
		"         0  CHOOSE   A->B table 1 {Next → 1, Stop → 4}\n",
		"         1  RECEIVE  A->B Ping(Int) r0\n",
		"         2  SEND     B->A Pong(Int) r0\n",
	};
	for (size_t i = 0; i < TR_ARRAY_LEN(want); i++) {
		if (!strstr(text, want[i]))
			fprintf(stderr, "missing line: [%s]\nin:\n%s", want[i], text);
		assert_non_null(strstr(text, want[i]));
	}
	free(text);
	tr_image_free(img);
}

static void
test_disasm_pingpong(void **state)
{
	(void)state;
	tr_protocol *p = hm_pingpong();
	check_pingpong_listing(p);
	hm_free(p);
#ifdef TR_HAVE_LANG
	tr_error err;
	assert_int_equal(tr_protocol_parse_file(TR_EXAMPLES "/pingpong.tell", NULL, &p, &err), TR_OK);
	check_pingpong_listing(p);
	tr_protocol_free(p);
#endif
}

static void
load_bad(const uint8_t *b, size_t n, tr_status want, const char *why)
{
	tr_image *img = (tr_image *)(uintptr_t)1; /* must be reset to NULL */
	tr_error err;
	tr_error_clear(&err);
	tr_status st = tr_image_load(b, n, NULL, &img, &err);
	if (st != want)
		fprintf(stderr, "%s: got %s (%s)\n", why, tr_status_name(st), err.msg);
	assert_int_equal(st, want);
	assert_null(img);
	if (want == TR_E_CORRUPT) {
		assert_true(err.offset != TR_NO_OFFSET);
		assert_true(err.offset <= n);
		assert_true(err.msg[0] != 0);
	}
}

/* Each byte XOR 0xFF (every bit of the byte flipped at once), and the file
 * cut at every length: all TR_E_CORRUPT with an offset. */
static void
test_corrupt_ring(void **state)
{
	(void)state;
	tr_protocol *p = ring_protocol();
	tr_image *img = compile_ok(p);
	uint8_t *bytes;
	size_t len;
	roundtrip(img, &bytes, &len);
	uint8_t *copy = malloc(len);
	assert_non_null(copy);
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, bytes, len);
		copy[i] ^= 0xFF;
		load_bad(copy, len, TR_E_CORRUPT, "flip");
	}
	for (size_t n = 0; n < len; n++) {
		/* a fresh heap block of exactly n bytes so ASan sees any over-read */
		uint8_t *cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, bytes, n);
		load_bad(cut, n, TR_E_CORRUPT, "truncate");
		free(cut);
	}
	/* trailing garbage */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, bytes, len);
	longer[len] = 0;
	load_bad(longer, len + 1, TR_E_CORRUPT, "trailing");
	free(longer);
	/* specific fields */
	memcpy(copy, bytes, len);
	copy[4] = 2;
	tr_error err;
	tr_image *out = NULL;
	assert_int_equal(tr_image_load(copy, len, NULL, &out, &err), TR_E_CORRUPT);
	assert_int_equal(err.offset, 4);
	assert_non_null(strstr(err.msg, "version"));
	memcpy(copy, bytes, len);
	copy[len - 10] ^= 1;
	assert_int_equal(tr_image_load(copy, len, NULL, &out, &err), TR_E_CORRUPT);
	assert_int_equal(err.offset, len - 4);
	assert_non_null(strstr(err.msg, "checksum"));
	assert_int_equal(tr_image_load(NULL, 0, NULL, &out, &err), TR_E_CORRUPT);
	assert_int_equal(tr_image_load(bytes, len, NULL, NULL, &err), TR_E_INVALID);
	free(copy);
	free(bytes);
	tr_image_free(img);
	free_ring(p);
}

static void
fix_crc(uint8_t *b, size_t len)
{
	tr_put_u32(b + len - 4, tr_crc32c(0, b, len - 4));
}

/* Each byte changed (XOR 0xFF, then +1) with the checksum recomputed, so that
 * the structural checks and the verifier see the damage: OK, TR_E_CORRUPT
 * or TR_E_VERIFY, never a crash; loaded images still disassemble. */
static void
test_corrupt_recrc(void **state)
{
	(void)state;
	tr_protocol *(*mk[])(void) = {hm_pingpong, hm_three};
	size_t nverify = 0, ncorrupt = 0, nok = 0;
	for (size_t m = 0; m < TR_ARRAY_LEN(mk) + 1; m++) {
		bool ring = m == TR_ARRAY_LEN(mk);
		tr_protocol *p = ring ? ring_protocol() : mk[m]();
		tr_image *img = compile_ok(p);
		uint8_t *bytes;
		size_t len;
		roundtrip(img, &bytes, &len);
		uint8_t *copy = malloc(len);
		FILE *devnull = fopen("/dev/null", "w");
		assert_non_null(devnull);
		for (int variant = 0; variant < 2; variant++) {
			for (size_t i = 0; i + 4 < len; i++) {
				memcpy(copy, bytes, len);
				copy[i] = variant ? (uint8_t)(copy[i] + 1) : (uint8_t)(copy[i] ^ 0xFF);
				fix_crc(copy, len);
				tr_image *out = NULL;
				tr_error err;
				tr_error_clear(&err);
				tr_status st = tr_image_load(copy, len, NULL, &out, &err);
				if (st == TR_OK) {
					nok++;
					assert_non_null(out);
					assert_int_equal(tr_image_disasm(out, devnull), TR_OK);
					tr_image_free(out);
				} else if (st == TR_E_CORRUPT) {
					ncorrupt++;
					assert_true(err.offset <= len);
				} else {
					if (st != TR_E_VERIFY)
						fprintf(stderr, "byte %zu: %s %s\n", i, tr_status_name(st), err.msg);
					assert_int_equal(st, TR_E_VERIFY);
					assert_true(err.msg[0] != 0);
					nverify++;
				}
			}
		}
		fclose(devnull);
		free(copy);
		free(bytes);
		tr_image_free(img);
		if (ring)
			free_ring(p);
		else
			hm_free(p);
	}
	print_message("recrc: %zu ok, %zu corrupt, %zu verify\n", nok, ncorrupt, nverify);
	assert_true(ncorrupt > 0);
	assert_true(nverify > 0);
}

/* Every allocation failure in compile and load: TR_E_NOMEM, nothing leaks. */
static void
test_nomem(void **state)
{
	(void)state;
	tr_protocol *p = hm_ring(4);
	tr_image *img = compile_ok(p);
	uint8_t *bytes;
	size_t len;
	roundtrip(img, &bytes, &len);
	tr_image_free(img);
	for (int which = 0; which < 2; which++) {
		for (size_t n = 1;; n++) {
			tr_counting_allocator c;
			tr_counting_allocator_init(&c, NULL);
			c.fail_after = n;
			tr_image *out = NULL;
			tr_error err;
			tr_error_clear(&err);
			tr_status st = which == 0 ? tr_image_compile(p, &c.base, &out, &err)
			                          : tr_image_load(bytes, len, &c.base, &out, &err);
			/* Leaks are counted in blocks, not bytes: core/util.c's
			 * tr_strtab_intern frees its string array with a stale size
			 * after a failed second realloc (reported to its owner), which
			 * skews the byte count without leaking. */
			if (st == TR_OK) {
				tr_image_free(out);
				assert_int_equal(c.allocs, c.frees);
				break;
			}
			assert_int_equal(st, TR_E_NOMEM);
			assert_null(out);
			if (c.allocs != c.frees)
				fprintf(stderr, "%s: failing allocation %zu leaks %zu blocks\n",
				        which ? "load" : "compile", n, c.allocs - c.frees);
			assert_int_equal(c.allocs, c.frees);
			assert_true(n < 10000);
		}
	}
	free(bytes);
	hm_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_pingpong),
		cmocka_unit_test(test_nregs),
		cmocka_unit_test(test_roundtrip_handmade),
		cmocka_unit_test(test_roundtrip_file),
#ifdef TR_HAVE_LANG
		cmocka_unit_test(test_roundtrip_examples),
#endif
		cmocka_unit_test(test_disasm_pingpong),
		cmocka_unit_test(test_corrupt_ring),
		cmocka_unit_test(test_corrupt_recrc),
		cmocka_unit_test(test_nomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
