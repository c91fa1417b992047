/* tests/cli/test_compile.c: `troupe compile` then `troupe disasm` round
 * trips for every standard workload; a damaged image is rejected with exit
 * 1 and a byte offset; compile errors keep the protocol's position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_run.h"

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_round_trip(void **state)
{
	(void)state;
	static const char *const wl[][2] = {
		{"pingpong", "A"}, {"ring", "P7"}, {"fanout", "W4"}, {"twobuyer", "B2"}};

	for (size_t i = 0; i < 4; i++) {
		char src[512];
		const char *tri = cli_tmp(0, ".tri");
		cli_out o, o2;

		snprintf(src, sizeof src, "%s/%s.tell", TR_EXAMPLES, wl[i][0]);
		cli_runv(&o, "compile", src, "-o", tri, NULL);
		if (o.status != 0)
			print_error("%s: %s", src, o.err);
		assert_int_equal(o.status, 0);
		assert_int_equal(o.err_len, 0);
		assert_int_equal(access(tri, R_OK), 0);
		cli_out_free(&o);

		cli_runv(&o, "disasm", tri, NULL);
		assert_int_equal(o.status, 0);
		assert_non_null(strstr(o.out, wl[i][1]));
		assert_true(o.out_len > 100);
		/* disassembling the source compiles the same image */
		cli_runv(&o2, "disasm", src, NULL);
		assert_int_equal(o2.status, 0);
		assert_string_equal(o.out, o2.out);
		cli_out_free(&o);
		cli_out_free(&o2);

		/* the image runs like the source does */
		cli_runv(&o, "run", tri, "--sessions", "3", "--rounds", "2", NULL);
		if (o.status != 0)
			print_error("run %s: %s", tri, o.err);
		assert_int_equal(o.status, 0);
		cli_out_free(&o);
		unlink(tri);
	}
}

static void
test_default_output_name(void **state)
{
	(void)state;
	char src[256], tri[256];
	char *text;
	size_t len;
	cli_out o;

	text = cli_slurp(TR_EXAMPLES "/pingpong.tell", &len);
	assert_non_null(text);
	snprintf(src, sizeof src, "%s", cli_tmp(1, ".tell"));
	write_file(src, text, len);
	free(text);
	snprintf(tri, sizeof tri, "%.*s.tri", (int)(strlen(src) - 5), src);
	cli_runv(&o, "compile", src, NULL);
	assert_int_equal(o.status, 0);
	assert_int_equal(access(tri, R_OK), 0);
	cli_out_free(&o);
	unlink(src);
	unlink(tri);
}

/* Damaged images: exit 1, "FILE: byte N: error:", never a crash. The
 * exhaustive flip-every-byte test lives with the image module; here a
 * spread of positions checks that the CLI reports what the loader says. */
static void
test_corrupt_image(void **state)
{
	(void)state;
	const char *tri = cli_tmp(0, ".tri");
	const char *bad = cli_tmp(1, ".tri");
	char want[600];
	size_t len;
	char *img;
	cli_out o;

	cli_runv(&o, "compile", TR_EXAMPLES "/ring.tell", "-o", tri, NULL);
	assert_int_equal(o.status, 0);
	cli_out_free(&o);
	img = cli_slurp(tri, &len);
	assert_non_null(img);
	assert_true(len > 16);
	snprintf(want, sizeof want, "%s: byte ", bad);
	for (size_t k = 0; k < 16; k++) {
		size_t at = k * (len / 16);
		img[at] ^= 0x5a;
		write_file(bad, img, len);
		img[at] ^= 0x5a;
		cli_runv(&o, "disasm", bad, NULL);
		if (o.status != 1 || !strstr(o.err, want))
			print_error("flip at %zu: exit %d: %s\n", at, o.status, o.err);
		assert_int_equal(o.status, 1);
		assert_non_null(strstr(o.err, want));
		assert_non_null(strstr(o.err, "error:"));
		cli_out_free(&o);
	}
	/* truncated */
	write_file(bad, img, len / 2);
	cli_runv(&o, "disasm", bad, NULL);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, want));
	cli_out_free(&o);
	/* empty */
	write_file(bad, img, 0);
	cli_runv(&o, "run", bad, "--sessions", "1", NULL);
	assert_int_equal(o.status, 1);
	cli_out_free(&o);
	free(img);
	unlink(tri);
	unlink(bad);
}

static void
test_compile_rejects(void **state)
{
	(void)state;
	cli_out o;

	cli_runv(&o, "compile", "/nonexistent.tell", "-o", cli_tmp(0, ".tri"), NULL);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "/nonexistent.tell"));
	cli_out_free(&o);
	/* unwritable output */
	cli_runv(&o, "compile", TR_EXAMPLES "/ring.tell", "-o",
	         "/nonexistent/dir/x.tri", NULL);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "/nonexistent/dir/x.tri"));
	cli_out_free(&o);
	cli_runv(&o, "disasm", "/nonexistent.tri", NULL);
	assert_int_equal(o.status, 1);
	cli_out_free(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_default_output_name),
		cmocka_unit_test(test_corrupt_image),
		cmocka_unit_test(test_compile_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
