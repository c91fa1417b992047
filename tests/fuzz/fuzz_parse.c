/* tests/fuzz/fuzz_parse.c: libFuzzer target for the `.tell` and JSON front
 * ends. The first byte picks the parser; any input must be accepted or
 * rejected with a position, never crash, hang or leak. Build with
 * clang -fsanitize=fuzzer,address (tests/lang/CMakeLists.txt does, under
 * clang). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "troupe/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tr_protocol *p = NULL;
	tr_error err;
	tr_status st;
	if (size && data[0] == '{')
		st = tr_protocol_parse_json((const char *)data, size, "fuzz.json", NULL, &p, &err);
	else
		st = tr_protocol_parse((const char *)data, size, "fuzz.tell", NULL, &p, &err);
	if (st == TR_OK) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			for (unsigned r = 0; r < tr_protocol_nroles(p); r++) {
				tr_protocol_print_local(p, r, f);
				tr_protocol_print_local_json(p, r, f);
			}
			fclose(f);
		}
		tr_protocol_free(p);
	}
	return 0;
}
