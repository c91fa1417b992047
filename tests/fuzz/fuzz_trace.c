/* tests/fuzz/fuzz_trace.c: libFuzzer target for tr_trace_load, the border
 * where untrusted trace files come in. A loaded trace is saved again and
 * must reproduce the input byte for byte (the format has one encoding). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tr_trace *t = NULL;
	tr_error err;
	tr_status st = tr_trace_load(data, size, NULL, &t, &err);
	if (st != TR_OK) {
		if (t || (st == TR_E_CORRUPT && err.offset > size))
			abort();
		return 0;
	}
	uint8_t *buf;
	size_t len;
	if (tr_trace_save(t, NULL, &buf, &len) == TR_OK) {
		if (len != size || memcmp(buf, data, size) != 0)
			abort();
		free(buf);
	}
	tr_trace_free(t);
	return 0;
}
