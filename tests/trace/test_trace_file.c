/* tests/trace/test_trace_file.c: trace objects and files (core/machine/
 * trace.c, docs/TRACE_FORMAT.md): round trips, every byte flipped, every
 * truncation, flips with the checksum recomputed, the text printer and the
 * Chrome/Perfetto JSON export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "troupe/trace.h"
#include "util.h"

#define HEADER 16u
#define RECORD 48u

/* A few hundred events covering every kind and extreme field values. */
static tr_event *
make_events(size_t n)
{
	tr_event *ev = calloc(n, sizeof *ev);
	assert_non_null(ev);
	uint64_t x = 0x243F6A8885A308D3ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ev[i].tick = i / 3;
		ev[i].session = i % 7 == 0 ? UINT64_MAX : x % 50;
		ev[i].kind = (uint32_t)(i % TR_EV_COUNT_);
		ev[i].role = i % 11 == 0 ? TR_NOWHERE : (uint32_t)(x >> 20) % 8;
		ev[i].peer = i % 5 == 0 ? TR_NOWHERE : (uint32_t)(x >> 30) % 8;
		ev[i].label = (uint32_t)(x >> 40);
		ev[i].aux = (uint32_t)i;
		ev[i].status = (uint32_t)(i % TR_STATUS_COUNT_);
		ev[i].value = i % 13 == 0 ? UINT64_MAX : x;
	}
	return ev;
}

static tr_trace *
make_trace(tr_trace_kind kind, size_t n)
{
	tr_event *ev = make_events(n);
	tr_trace *t;
	assert_int_equal(tr_trace_create(kind, ev, n, NULL, &t), TR_OK);
	free(ev);
	return t;
}

static void
save(const tr_trace *t, uint8_t **buf, size_t *len)
{
	assert_int_equal(tr_trace_save(t, NULL, buf, len), TR_OK);
	assert_int_equal(*len, HEADER + tr_trace_count(t) * RECORD + 4);
}

static void
test_event_names(void **state)
{
	(void)state;
	assert_string_equal(tr_event_name(TR_EV_SENT), "SENT");
	assert_string_equal(tr_event_name(TR_EV_SESSION_OPENED), "SESSION_OPENED");
	assert_string_equal(tr_event_name(TR_EV_FAILURE_BRANCH_ENTERED), "FAILURE_BRANCH_ENTERED");
	assert_string_equal(tr_event_name(TR_EV_EFF_INGRESS), "EFF_INGRESS");
	assert_string_equal(tr_event_name(TR_EV_COUNT_), "?");
	assert_string_equal(tr_event_name(UINT32_MAX), "?");
}

static void
test_create(void **state)
{
	(void)state;
	tr_trace *t = (tr_trace *)1;
	tr_event ev[2] = {{.kind = TR_EV_SENT}, {.kind = TR_EV_HALTED}};
	assert_int_equal(tr_trace_create((tr_trace_kind)0, ev, 2, NULL, &t), TR_E_INVALID);
	assert_null(t);
	assert_int_equal(tr_trace_create(TR_TRACE_OBSERVABLE, NULL, 2, NULL, &t), TR_E_INVALID);
	assert_int_equal(tr_trace_create(TR_TRACE_EFFECTS, NULL, 0, NULL, &t), TR_OK);
	assert_int_equal(tr_trace_count(t), 0);
	assert_int_equal(tr_trace_get_kind(t), TR_TRACE_EFFECTS);
	tr_trace *u;
	assert_int_equal(tr_trace_create(TR_TRACE_OBSERVABLE, ev, 2, NULL, &u), TR_OK);
	ev[0].kind = TR_EV_CHOSE; /* copied: the caller's array is not kept */
	assert_int_equal(tr_trace_events(u)[0].kind, TR_EV_SENT);
	assert_false(tr_trace_equal(t, u));
	assert_true(tr_trace_equal(u, u));
	tr_trace_free(t);
	tr_trace_free(u);
	tr_trace_free(NULL);

	/* every allocation failure is TR_E_NOMEM, without a leak (ASan) */
	for (size_t k = 1; k <= 2; k++) {
		tr_counting_allocator c;
		tr_counting_allocator_init(&c, NULL);
		c.fail_after = k;
		assert_int_equal(tr_trace_create(TR_TRACE_OBSERVABLE, ev, 2, &c.base, &t), TR_E_NOMEM);
		assert_null(t);
		assert_int_equal(c.live_bytes, 0);
	}
}

static void
test_round_trip(void **state)
{
	(void)state;
	tr_trace *t = make_trace(TR_TRACE_OBSERVABLE, 400);
	uint8_t *buf;
	size_t len;
	save(t, &buf, &len);
	assert_memory_equal(buf, "TRTR", 4);
	assert_int_equal(tr_get_u16(buf + 4), 1);
	assert_int_equal(tr_get_u16(buf + 6), TR_TRACE_OBSERVABLE);
	assert_int_equal(tr_get_u64(buf + 8), 400);
	/* event 1, field by field, little-endian in struct order */
	const tr_event *e1 = &tr_trace_events(t)[1];
	assert_int_equal(tr_get_u64(buf + HEADER + RECORD + 0), e1->tick);
	assert_int_equal(tr_get_u64(buf + HEADER + RECORD + 8), e1->session);
	assert_int_equal(tr_get_u32(buf + HEADER + RECORD + 16), e1->kind);
	assert_int_equal(tr_get_u32(buf + HEADER + RECORD + 28), e1->label);
	assert_int_equal(tr_get_u64(buf + HEADER + RECORD + 40), e1->value);
	assert_int_equal(tr_get_u32(buf + len - 4), tr_crc32c(0, buf, len - 4));

	tr_trace *u;
	tr_error err;
	tr_error_clear(&err);
	assert_int_equal(tr_trace_load(buf, len, NULL, &u, &err), TR_OK);
	assert_true(tr_trace_equal(t, u));
	assert_int_equal(tr_trace_count(u), 400);
	assert_memory_equal(tr_trace_events(u), tr_trace_events(t), 400 * sizeof(tr_event));
	tr_trace_free(u);

	/* through a file */
	char path[] = "/tmp/troupe_trace_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(tr_trace_save_file(t, path), TR_OK);
	assert_int_equal(tr_trace_load_file(path, NULL, &u, &err), TR_OK);
	assert_true(tr_trace_equal(t, u));
	tr_trace_free(u);
	/* a damaged file names itself and the byte */
	buf[HEADER + 5 * RECORD + 16] = 0xEE;
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	assert_int_equal(tr_trace_load_file(path, NULL, &u, &err), TR_E_CORRUPT);
	assert_null(u);
	assert_string_equal(err.file, path);
	assert_int_equal(err.offset, HEADER + 5 * RECORD + 16);
	unlink(path);
	assert_int_equal(tr_trace_load_file(path, NULL, &u, &err), TR_E_IO);
	assert_int_equal(tr_trace_save_file(t, "/nonexistent-dir/x.trt"), TR_E_IO);
	free(buf);

	/* one field of one event changed: not equal */
	tr_event *ev = make_events(400);
	ev[123].aux ^= 1;
	assert_int_equal(tr_trace_create(TR_TRACE_OBSERVABLE, ev, 400, NULL, &u), TR_OK);
	assert_false(tr_trace_equal(t, u));
	tr_trace_free(u);
	ev[123].aux ^= 1;
	assert_int_equal(tr_trace_create(TR_TRACE_EFFECTS, ev, 400, NULL, &u), TR_OK);
	assert_false(tr_trace_equal(t, u)); /* same events, other kind */
	tr_trace_free(u);
	free(ev);

	/* empty effects trace */
	tr_trace *z = make_trace(TR_TRACE_EFFECTS, 0);
	save(z, &buf, &len);
	assert_int_equal(len, 20);
	assert_int_equal(tr_trace_load(buf, len, NULL, &u, &err), TR_OK);
	assert_true(tr_trace_equal(z, u));
	assert_int_equal(tr_trace_get_kind(u), TR_TRACE_EFFECTS);
	tr_trace_free(u);
	free(buf);
	tr_trace_free(z);
	tr_trace_free(t);
}

/* Which bytes the loader can pin down exactly (docs/TRACE_FORMAT.md):
 * header fields and event kinds; anything else only the checksum sees. */
static bool
exact_byte(size_t i, size_t len)
{
	if (i < HEADER)
		return true;
	if (i >= len - 4)
		return false;
	size_t r = (i - HEADER) % RECORD;
	return r >= 16 && r < 20;
}

static void
test_every_byte_flipped(void **state)
{
	(void)state;
	tr_trace *t = make_trace(TR_TRACE_OBSERVABLE, 25);
	uint8_t *buf;
	size_t len;
	save(t, &buf, &len);
	for (size_t i = 0; i < len; i++) {
		tr_trace *u = (tr_trace *)1;
		tr_error err;
		tr_error_clear(&err);
		buf[i] ^= 0xFF;
		tr_status st = tr_trace_load(buf, len, NULL, &u, &err);
		buf[i] ^= 0xFF;
		if (st != TR_E_CORRUPT)
			fail_msg("byte %zu flipped: %s", i, tr_status_name(st));
		assert_null(u);
		assert_int_equal(err.status, TR_E_CORRUPT);
		uint64_t want = exact_byte(i, len) ? i : len - 4;
		if (err.offset != want)
			fail_msg("byte %zu flipped: offset %llu, want %llu (%s)", i,
			         (unsigned long long)err.offset, (unsigned long long)want, err.msg);
	}
	free(buf);
	tr_trace_free(t);
}

static void
test_every_truncation(void **state)
{
	(void)state;
	tr_trace *t = make_trace(TR_TRACE_EFFECTS, 25);
	uint8_t *buf;
	size_t len;
	save(t, &buf, &len);
	for (size_t n = 0; n < len; n++) {
		/* a fresh copy of exactly n bytes, so that ASan sees any overread */
		uint8_t *p = n ? malloc(n) : NULL;
		if (n)
			memcpy(p, buf, n);
		tr_trace *u = (tr_trace *)1;
		tr_error err;
		tr_error_clear(&err);
		tr_status st = tr_trace_load(p, n, NULL, &u, &err);
		if (st != TR_E_CORRUPT)
			fail_msg("truncated to %zu: %s", n, tr_status_name(st));
		assert_null(u);
		assert_int_not_equal(err.offset, TR_NO_OFFSET);
		assert_true(err.offset <= n);
		free(p);
	}
	/* and trailing bytes */
	uint8_t *p = malloc(len + 7);
	memcpy(p, buf, len);
	memset(p + len, 0, 7);
	tr_trace *u;
	tr_error err;
	assert_int_equal(tr_trace_load(p, len + 7, NULL, &u, &err), TR_E_CORRUPT);
	assert_int_equal(err.offset, len);
	/* a whole extra record: the count disagrees */
	p = realloc(p, len + RECORD);
	memset(p + len, 0, RECORD);
	assert_int_equal(tr_trace_load(p, len + RECORD, NULL, &u, &err), TR_E_CORRUPT);
	assert_int_equal(err.offset, 8);
	free(p);
	assert_int_equal(tr_trace_load(NULL, 0, NULL, &u, &err), TR_E_CORRUPT);
	assert_int_equal(err.offset, 0);
	free(buf);
	tr_trace_free(t);
}

static void
recompute_crc(uint8_t *buf, size_t len)
{
	tr_put_u32(buf + len - 4, tr_crc32c(0, buf, len - 4));
}

static void
test_flips_with_checksum(void **state)
{
	(void)state;
	tr_trace *t = make_trace(TR_TRACE_OBSERVABLE, 25);
	uint8_t *buf;
	size_t len;
	save(t, &buf, &len);
	size_t accepted = 0;
	for (size_t i = 0; i < len - 4; i++) {
		tr_trace *u = NULL;
		tr_error err;
		buf[i] ^= 0xFF;
		recompute_crc(buf, len);
		tr_status st = tr_trace_load(buf, len, NULL, &u, &err);
		buf[i] ^= 0xFF;
		if (exact_byte(i, len)) {
			/* header and kinds are checked by value */
			assert_int_equal(st, TR_E_CORRUPT);
			assert_int_equal(err.offset, i);
		} else {
			/* any other field value is a valid trace: accepted, and it is
			 * the changed trace */
			assert_int_equal(st, TR_OK);
			assert_false(tr_trace_equal(t, u));
			accepted++;
		}
		tr_trace_free(u);
	}
	assert_int_equal(accepted, 25 * (RECORD - 4));

	/* random multi-byte damage with a valid checksum: OK or corrupt, never
	 * anything else (ASan/UBSan watch) */
	recompute_crc(buf, len);
	uint8_t *m = malloc(len);
	uint64_t x = 99;
	for (int round = 0; round < 20000; round++) {
		memcpy(m, buf, len);
		for (int k = 0; k < 4; k++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			m[(x >> 33) % (len - 4)] = (uint8_t)(x >> 56);
		}
		recompute_crc(m, len);
		tr_trace *u = NULL;
		tr_status st = tr_trace_load(m, len, NULL, &u, NULL);
		assert_true(st == TR_OK || st == TR_E_CORRUPT);
		assert_true((st == TR_OK) == (u != NULL));
		tr_trace_free(u);
	}
	free(m);
	free(buf);
	tr_trace_free(t);
}

static void
test_load_nomem(void **state)
{
	(void)state;
	tr_trace *t = make_trace(TR_TRACE_OBSERVABLE, 10);
	uint8_t *buf;
	size_t len;
	save(t, &buf, &len);
	for (size_t k = 1; k <= 2; k++) {
		tr_counting_allocator c;
		tr_counting_allocator_init(&c, NULL);
		c.fail_after = k;
		tr_trace *u;
		tr_error err;
		assert_int_equal(tr_trace_load(buf, len, &c.base, &u, &err), TR_E_NOMEM);
		assert_null(u);
		assert_int_equal(c.live_bytes, 0);
	}
	tr_counting_allocator c;
	tr_counting_allocator_init(&c, NULL);
	c.fail_after = 1;
	uint8_t *b2;
	size_t l2;
	assert_int_equal(tr_trace_save(t, &c.base, &b2, &l2), TR_E_NOMEM);
	assert_null(b2);
	free(buf);
	tr_trace_free(t);
}

static char *
capture(tr_status (*fn)(const tr_trace *, FILE *), const tr_trace *t, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);
	assert_non_null(f);
	assert_int_equal(fn(t, f), TR_OK);
	fclose(f);
	return out;
}

static void
test_print(void **state)
{
	(void)state;
	tr_event ev[3] = {
		{.tick = 7, .session = 3, .kind = TR_EV_SENT, .role = 1, .peer = 0, .label = 2,
		 .aux = 0, .status = TR_OK, .value = 42},
		{.tick = 8, .session = 3, .kind = TR_EV_SESSION_CLOSED, .role = TR_NOWHERE,
		 .peer = TR_NOWHERE, .label = TR_NOWHERE},
		{.tick = 9, .session = 4, .kind = TR_EV_EFF_INVOKE, .role = 0, .peer = 1, .label = 5,
		 .status = TR_E_HANDLER, .aux = 3, .value = 1},
	};
	tr_trace *t;
	assert_int_equal(tr_trace_create(TR_TRACE_OBSERVABLE, ev, 3, NULL, &t), TR_OK);
	size_t len;
	char *out = capture(tr_trace_print, t, &len);
	assert_string_equal(out,
		"tick 7 session 3 role 1 SENT                   peer 0 label 2 value 42 aux 0 status TR_OK\n"
		"tick 8 session 3 role - SESSION_CLOSED         peer - label - value 0 aux 0 status TR_OK\n"
		"tick 9 session 4 role 0 EFF_INVOKE             peer 1 label 5 value 1 aux 3 status TR_E_HANDLER\n");
	free(out);
	tr_trace_free(t);
}

/* ---- a small strict JSON validator (RFC 8259 grammar) ---- */

typedef struct json {
	const char *p, *end;
	int depth;
} json;

static bool json_value(json *j);

static void
json_ws(json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static bool
json_lit(json *j, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool
json_string(json *j)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	for (j->p++; j->p < j->end; j->p++) {
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++j->p >= j->end || !strchr("\"\\/bfnrtu", *j->p))
				return false;
		}
	}
	return false;
}

static bool
json_number(json *j)
{
	const char *s = j->p;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end)
		return false;
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > s;
}

static bool
json_seq(json *j, char close, bool object)
{
	if (++j->depth > 64)
		return false;
	j->p++;
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		json_ws(j);
		if (object) {
			if (!json_string(j))
				return false;
			json_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
			json_ws(j);
		}
		if (!json_value(j))
			return false;
		json_ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != close)
			return false;
		j->depth--;
		return true;
	}
}

static bool
json_value(json *j)
{
	json_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		return json_seq(j, '}', true);
	case '[':
		return json_seq(j, ']', false);
	case '"':
		return json_string(j);
	case 't':
		return json_lit(j, "true");
	case 'f':
		return json_lit(j, "false");
	case 'n':
		return json_lit(j, "null");
	default:
		return json_number(j);
	}
}

static bool
json_valid(const char *s, size_t n)
{
	json j = {s, s + n, 0};
	if (!json_value(&j))
		return false;
	json_ws(&j);
	return j.p == j.end;
}

static size_t
count_substr(const char *s, const char *sub)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, sub)) != NULL; p++)
		n++;
	return n;
}

static void
test_chrome_export(void **state)
{
	(void)state;
	static const char *good = "{\"a\":[1,-2.5,\"x\\\"y\",true,null,{}]}";
	static const char *bad[] = {"{\"a\":[1,]}", "{\"a\":1", "[01]", "{a:1}", "[1] x"};
	assert_true(json_valid(good, strlen(good)));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(json_valid(bad[i], strlen(bad[i])));

	tr_trace *t = make_trace(TR_TRACE_OBSERVABLE, 300);
	size_t len;
	char *out = capture(tr_trace_export_chrome, t, &len);
	if (!json_valid(out, len))
		fail_msg("export is not valid JSON:\n%.400s", out);
	assert_int_equal(count_substr(out, "\"ph\":\"i\""), 300);
	assert_int_equal(count_substr(out, "\"name\":\"SENT\",\"ph\":\"i\""), 300 / TR_EV_COUNT_);
	assert_true(count_substr(out, "\"name\":\"thread_name\"") > 1);
	assert_non_null(strstr(out, "\"pid\":18446744073709551615"));

	/* Cross-check with a real JSON parser when python3 is there: one thread
	 * name per (pid, tid) used by an instant event, ts = tick. */
	char path[] = "/tmp/troupe_chrome_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, out, len), (ssize_t)len);
	close(fd);
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
	         "command -v python3 >/dev/null 2>&1 || exit 77; python3 -c '"
	         "import json,sys\n"
	         "d=json.load(open(sys.argv[1]))\n"
	         "ev=d[\"traceEvents\"]\n"
	         "inst=[e for e in ev if e[\"ph\"]==\"i\"]\n"
	         "names={(e[\"pid\"],e[\"tid\"]) for e in ev if e[\"name\"]==\"thread_name\"}\n"
	         "assert len(inst)==300\n"
	         "assert {(e[\"pid\"],e[\"tid\"]) for e in inst}==names\n"
	         "assert [e[\"ts\"] for e in inst]==[i//3 for i in range(300)]\n"
	         "' %s",
	         path);
	int rc = system(cmd);
	unlink(path);
	if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) != 77)
		assert_int_equal(WEXITSTATUS(rc), 0);
	free(out);
	tr_trace_free(t);

	/* an empty trace is still a valid document */
	t = make_trace(TR_TRACE_EFFECTS, 0);
	out = capture(tr_trace_export_chrome, t, &len);
	assert_true(json_valid(out, len));
	free(out);
	tr_trace_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_byte_flipped),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_flips_with_checksum),
		cmocka_unit_test(test_load_nomem),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_chrome_export),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
