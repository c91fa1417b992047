/* tests/lang/lang_helpers.h: helpers shared by the language tests. */
#ifndef TR_TESTS_LANG_HELPERS_H
#define TR_TESTS_LANG_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/protocol.h"

/* Role `role`'s local type as text (without newline); caller frees. */
static inline char *
local_text(const tr_protocol *p, unsigned role, int json)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	tr_status st = json ? tr_protocol_print_local_json(p, role, f)
	                    : tr_protocol_print_local(p, role, f);
	fclose(f);
	if (st) {
		free(buf);
		return NULL;
	}
	if (!json && n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return buf;
}

static inline int
role_index(const tr_protocol *p, const char *name)
{
	for (unsigned r = 0; r < tr_protocol_nroles(p); r++)
		if (strcmp(tr_protocol_role_name(p, r), name) == 0)
			return (int)r;
	return -1;
}

/* Whole file; caller frees. */
static inline char *
slurp(const char *path, size_t *len)
{
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	if (b) {
		b[n] = 0;
		*len = (size_t)n;
	}
	return b;
}

#endif
