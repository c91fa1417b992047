/* tests/fuzz/fuzz_image.c: libFuzzer target for the image loader. Any input
 * must be accepted (and then disassemble and re-save to the same bytes) or
 * rejected with TR_E_CORRUPT / TR_E_VERIFY; never crash, hang or leak.
 * Seeds: tests/data/images/. Build: clang only (tests/code/CMakeLists.txt). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "code/image_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
one(const uint8_t *data, size_t size)
{
	tr_image *img = NULL;
	tr_error err;
	tr_error_clear(&err);
	tr_status st = tr_image_load(data, size, NULL, &img, &err);
	if (st == TR_OK) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			tr_image_disasm(img, f);
			fclose(f);
		}
		uint8_t *b;
		size_t n;
		/* canonical form: what loads saves back to the same bytes */
		if (tr_image_save(img, NULL, &b, &n) == TR_OK) {
			if (n != size || memcmp(b, data, n) != 0)
				abort();
			free(b);
		}
		tr_image_free(img);
	} else if (st != TR_E_CORRUPT && st != TR_E_VERIFY && st != TR_E_NOMEM) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size);
	/* Random bytes almost never carry a valid length and checksum: fix both
	 * up in a copy so that the structural checks and the verifier are
	 * fuzzed too. */
	if (size >= TR_IMAGE_HEADER_SIZE + 4) {
		uint8_t *copy = malloc(size);
		if (!copy)
			return 0;
		memcpy(copy, data, size);
		tr_put_u32(copy + 8, (uint32_t)size);
		tr_put_u32(copy + size - 4, tr_crc32c(0, copy, size - 4));
		one(copy, size);
		free(copy);
	}
	return 0;
}
