/* core/machine/trace.c: trace objects, their file format, a text printer and
 * the Chrome/Perfetto exporter (docs/DESIGN.md §4.4). It does not record
 * traces (the machine does) and does not replay them.
 *
 * File format, version 1 (also docs/TRACE_FORMAT.md); all integers
 * little-endian:
 *
 *   offset  size     field
 *   0       4        magic "TRTR"
 *   4       2        u16 version = 1
 *   6       2        u16 kind: 1 observable, 2 effects (tr_trace_kind)
 *   8       8        u64 count of events
 *   16      48*count events, each in struct tr_event order:
 *                      +0 u64 tick, +8 u64 session, +16 u32 kind,
 *                      +20 u32 role, +24 u32 peer, +28 u32 label,
 *                      +32 u32 aux, +36 u32 status, +40 u64 value
 *                    (no padding: every byte is a field)
 *   16+48*count 4    u32 CRC-32C of every byte before it
 *
 * tr_trace_load checks, in this order, and stops at the first failure with
 * TR_E_CORRUPT and err->offset at the first byte found bad:
 *   1. the magic, byte by byte (a short file is checked as far as it goes);
 *   2. the header and checksum fit (16 + 4 bytes; else offset = length);
 *   3. version, then kind (offset of the first byte that differs from a
 *      valid value);
 *   4. count against the length: when the length is 20 + 48*k for some k,
 *      the count must be k (offset of the first count byte that differs);
 *      otherwise the file is truncated (offset = length) or has trailing
 *      bytes (offset = where they start);
 *   5. every event's kind < TR_EV_COUNT_ (offset of the offending byte);
 *   6. the checksum (offset of the checksum field).
 * Sizes are computed without overflow: count is compared with what the
 * length can hold before anything is multiplied. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/trace.h"
#include "util.h"

#define TRACE_MAGIC "TRTR"
#define TRACE_VERSION 1u
#define TRACE_HEADER 16u
#define TRACE_RECORD 48u
#define TRACE_CRC 4u

_Static_assert(sizeof(tr_event) == TRACE_RECORD, "tr_event is the 48-byte file record");
_Static_assert(offsetof(tr_event, kind) == 16 && offsetof(tr_event, value) == 40,
               "tr_event fields in file order");

struct tr_trace {
	const tr_allocator *a;
	tr_trace_kind kind;
	size_t n;
	tr_event *ev; /* n events, NULL when n == 0 */
};

static const char *const event_names[TR_EV_COUNT_] = {
#define TR_EVENT_NAME_(n) #n,
	TR_EVENT_MAP(TR_EVENT_NAME_)
#undef TR_EVENT_NAME_
};

const char *
tr_event_name(uint32_t kind)
{
	return kind < TR_EV_COUNT_ ? event_names[kind] : "?";
}

static bool
kind_valid(uint32_t kind)
{
	return kind == TR_TRACE_OBSERVABLE || kind == TR_TRACE_EFFECTS;
}

/* Takes ownership of ev (n events allocated with a). */
static tr_status
trace_wrap(tr_trace_kind kind, tr_event *ev, size_t n, const tr_allocator *a, tr_trace **out)
{
	tr_trace *t = tr_alloc(a, sizeof *t);
	if (!t) {
		tr_free(a, ev, n * sizeof *ev);
		return TR_E_NOMEM;
	}
	t->a = a;
	t->kind = kind;
	t->n = n;
	t->ev = ev;
	*out = t;
	return TR_OK;
}

tr_status
tr_trace_create(tr_trace_kind kind, const tr_event *ev, size_t n, const tr_allocator *a,
                tr_trace **out)
{
	*out = NULL;
	if (!kind_valid(kind) || (n && !ev))
		return TR_E_INVALID;
	if (n > SIZE_MAX / sizeof *ev)
		return TR_E_NOMEM;
	a = tr_alloc_or_default(a);
	tr_event *copy = NULL;
	if (n) {
		copy = tr_alloc(a, n * sizeof *copy);
		if (!copy)
			return TR_E_NOMEM;
		memcpy(copy, ev, n * sizeof *copy);
	}
	return trace_wrap(kind, copy, n, a, out);
}

void
tr_trace_free(tr_trace *t)
{
	if (!t)
		return;
	const tr_allocator *a = t->a;
	tr_free(a, t->ev, t->n * sizeof *t->ev);
	tr_free(a, t, sizeof *t);
}

tr_trace_kind
tr_trace_get_kind(const tr_trace *t)
{
	return t->kind;
}

size_t
tr_trace_count(const tr_trace *t)
{
	return t->n;
}

const tr_event *
tr_trace_events(const tr_trace *t)
{
	return t->ev;
}

/* Field by field rather than memcmp, so that a caller's struct padding (there
 * is none today) could never make equal traces differ. */
static bool
event_equal(const tr_event *x, const tr_event *y)
{
	return x->tick == y->tick && x->session == y->session && x->kind == y->kind &&
	       x->role == y->role && x->peer == y->peer && x->label == y->label &&
	       x->aux == y->aux && x->status == y->status && x->value == y->value;
}

bool
tr_trace_equal(const tr_trace *a, const tr_trace *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->kind != b->kind || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!event_equal(&a->ev[i], &b->ev[i]))
			return false;
	return true;
}

/* ---- save ---- */

static void
put_event(uint8_t *p, const tr_event *e)
{
	tr_put_u64(p + 0, e->tick);
	tr_put_u64(p + 8, e->session);
	tr_put_u32(p + 16, e->kind);
	tr_put_u32(p + 20, e->role);
	tr_put_u32(p + 24, e->peer);
	tr_put_u32(p + 28, e->label);
	tr_put_u32(p + 32, e->aux);
	tr_put_u32(p + 36, e->status);
	tr_put_u64(p + 40, e->value);
}

static void
get_event(const uint8_t *p, tr_event *e)
{
	e->tick = tr_get_u64(p + 0);
	e->session = tr_get_u64(p + 8);
	e->kind = tr_get_u32(p + 16);
	e->role = tr_get_u32(p + 20);
	e->peer = tr_get_u32(p + 24);
	e->label = tr_get_u32(p + 28);
	e->aux = tr_get_u32(p + 32);
	e->status = tr_get_u32(p + 36);
	e->value = tr_get_u64(p + 40);
}

tr_status
tr_trace_save(const tr_trace *t, const tr_allocator *a, uint8_t **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (!t)
		return TR_E_INVALID;
	if (t->n > (SIZE_MAX - TRACE_HEADER - TRACE_CRC) / TRACE_RECORD)
		return TR_E_NOMEM;
	size_t size = TRACE_HEADER + t->n * TRACE_RECORD + TRACE_CRC;
	uint8_t *b = tr_alloc(a, size);
	if (!b)
		return TR_E_NOMEM;
	memcpy(b, TRACE_MAGIC, 4);
	tr_put_u16(b + 4, TRACE_VERSION);
	tr_put_u16(b + 6, (uint16_t)t->kind);
	tr_put_u64(b + 8, (uint64_t)t->n);
	for (size_t i = 0; i < t->n; i++)
		put_event(b + TRACE_HEADER + i * TRACE_RECORD, &t->ev[i]);
	tr_put_u32(b + size - TRACE_CRC, tr_crc32c(0, b, size - TRACE_CRC));
	*buf = b;
	*len = size;
	return TR_OK;
}

tr_status
tr_trace_save_file(const tr_trace *t, const char *path)
{
	uint8_t *buf;
	size_t len;
	tr_status st = tr_trace_save(t, NULL, &buf, &len);
	if (st != TR_OK)
		return st;
	FILE *f = fopen(path, "wb");
	if (!f) {
		st = TR_E_IO;
		goto free_buf;
	}
	if (fwrite(buf, 1, len, f) != len)
		st = TR_E_IO;
	if (fclose(f) != 0)
		st = TR_E_IO;
free_buf:
	tr_free(NULL, buf, len);
	return st;
}

/* ---- load ---- */

/* Offset of the first byte of the n-byte little-endian field at p that
 * differs from want's encoding. */
static size_t
first_diff(const uint8_t *p, uint64_t want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(want >> (8 * i)))
			return i;
	return 0;
}

tr_status
tr_trace_load(const uint8_t *bytes, size_t len, const tr_allocator *a, tr_trace **out,
              tr_error *err)
{
	*out = NULL;
	if (!bytes && len)
		return tr_err(err, TR_E_INVALID, "no bytes");
	/* 1. magic, as far as the file goes */
	for (size_t i = 0; i < 4 && i < len; i++)
		if (bytes[i] != (uint8_t)TRACE_MAGIC[i])
			return tr_err_off(err, TR_E_CORRUPT, i, "not a trace file (bad magic)");
	/* 2. header and checksum */
	if (len < TRACE_HEADER + TRACE_CRC)
		return tr_err_off(err, TR_E_CORRUPT, len,
		                  "truncated: %zu bytes, a trace has at least %u", len,
		                  TRACE_HEADER + TRACE_CRC);
	/* 3. version, kind */
	uint16_t version = tr_get_u16(bytes + 4);
	if (version != TRACE_VERSION)
		return tr_err_off(err, TR_E_CORRUPT, 4 + first_diff(bytes + 4, TRACE_VERSION, 2),
		                  "unsupported trace version %u (this reads %u)", version, TRACE_VERSION);
	uint16_t kind = tr_get_u16(bytes + 6);
	if (!kind_valid(kind)) {
		size_t at = kind > 0xff ? 7 : 6;
		return tr_err_off(err, TR_E_CORRUPT, at, "bad trace kind %u", kind);
	}
	/* 4. count against the length */
	uint64_t count = tr_get_u64(bytes + 8);
	size_t body = len - TRACE_HEADER - TRACE_CRC;
	size_t fits = body / TRACE_RECORD;
	if (body % TRACE_RECORD == 0) {
		if (count != (uint64_t)fits)
			return tr_err_off(err, TR_E_CORRUPT, 8 + first_diff(bytes + 8, fits, 8),
			                  "count %" PRIu64 " but the length holds %zu events", count, fits);
	} else if (count > (uint64_t)fits) {
		return tr_err_off(err, TR_E_CORRUPT, len,
		                  "truncated: count %" PRIu64 " needs more than %zu bytes", count, len);
	} else {
		return tr_err_off(err, TR_E_CORRUPT, TRACE_HEADER + (size_t)count * TRACE_RECORD + TRACE_CRC,
		                  "%zu trailing bytes after %" PRIu64 " events",
		                  body - (size_t)count * TRACE_RECORD, count);
	}
	size_t n = fits;
	/* 5. event kinds */
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = bytes + TRACE_HEADER + i * TRACE_RECORD + 16;
		uint32_t k = tr_get_u32(p);
		if (k < TR_EV_COUNT_)
			continue;
		size_t at = 0;
		for (size_t j = 3; j >= 1; j--)
			if (p[j])
				at = j;
		return tr_err_off(err, TR_E_CORRUPT, (uint64_t)(p - bytes) + at,
		                  "event %zu: unknown event kind %" PRIu32, i, k);
	}
	/* 6. checksum */
	uint32_t want = tr_get_u32(bytes + len - TRACE_CRC);
	uint32_t got = tr_crc32c(0, bytes, len - TRACE_CRC);
	if (want != got)
		return tr_err_off(err, TR_E_CORRUPT, len - TRACE_CRC,
		                  "checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")",
		                  want, got);

	a = tr_alloc_or_default(a);
	tr_event *ev = NULL;
	if (n) {
		ev = tr_alloc(a, n * sizeof *ev);
		if (!ev)
			return tr_err(err, TR_E_NOMEM, "out of memory for %zu events", n);
		for (size_t i = 0; i < n; i++)
			get_event(bytes + TRACE_HEADER + i * TRACE_RECORD, &ev[i]);
	}
	tr_status st = trace_wrap((tr_trace_kind)kind, ev, n, a, out);
	if (st != TR_OK)
		return tr_err(err, st, "out of memory");
	return TR_OK;
}

tr_status
tr_trace_load_file(const char *path, const tr_allocator *a, tr_trace **out, tr_error *err)
{
	char *buf;
	size_t len;
	*out = NULL;
	tr_status st = tr_read_file(path, a, &buf, &len, err);
	if (st != TR_OK)
		return st;
	st = tr_trace_load((const uint8_t *)buf, len, a, out, err);
	if (st != TR_OK)
		tr_err_file(err, path);
	tr_free(a, buf, len + 1);
	return st;
}

/* ---- text and Chrome output ---- */

static void
put_id(FILE *f, const char *name, uint32_t v)
{
	if (v == TR_NOWHERE)
		fprintf(f, " %s -", name);
	else
		fprintf(f, " %s %" PRIu32, name, v);
}

tr_status
tr_trace_print(const tr_trace *t, FILE *f)
{
	if (!t || !f)
		return TR_E_INVALID;
	for (size_t i = 0; i < t->n; i++) {
		const tr_event *e = &t->ev[i];
		fprintf(f, "tick %" PRIu64 " session %" PRIu64, e->tick, e->session);
		put_id(f, "role", e->role);
		fprintf(f, " %-22s", tr_event_name(e->kind));
		put_id(f, "peer", e->peer);
		put_id(f, "label", e->label);
		fprintf(f, " value %" PRIu64 " aux %" PRIu32 " status %s\n", e->value, e->aux,
		        tr_status_name((tr_status)e->status));
	}
	return ferror(f) ? TR_E_IO : TR_OK;
}

typedef struct track {
	uint64_t session;
	uint32_t role;
} track;

static int
track_cmp(const void *x, const void *y)
{
	const track *a = x, *b = y;
	if (a->session != b->session)
		return a->session < b->session ? -1 : 1;
	if (a->role != b->role)
		return a->role < b->role ? -1 : 1;
	return 0;
}

/* JSON numbers: ids are printed as unsigned integers, which every JSON
 * parser accepts (values above 2^53 lose precision in JavaScript viewers,
 * not validity). Names come from fixed ASCII tables: nothing needs escaping. */
tr_status
tr_trace_export_chrome(const tr_trace *t, FILE *f)
{
	if (!t || !f)
		return TR_E_INVALID;
	/* One metadata record per session (process) and per (session, role)
	 * (thread), in id order so that the output is deterministic. */
	track *tr = NULL;
	size_t ntr = 0;
	if (t->n) {
		tr = tr_alloc(t->a, t->n * sizeof *tr);
		if (!tr)
			return TR_E_NOMEM;
		for (size_t i = 0; i < t->n; i++)
			tr[i] = (track){t->ev[i].session, t->ev[i].role};
		qsort(tr, t->n, sizeof *tr, track_cmp);
		for (size_t i = 0; i < t->n; i++)
			if (ntr == 0 || track_cmp(&tr[ntr - 1], &tr[i]) != 0)
				tr[ntr++] = tr[i];
	}
	fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"troupe\",\"trace\":", f);
	fprintf(f, "\"%s\"},\n\"traceEvents\":[", t->kind == TR_TRACE_EFFECTS ? "effects" : "observable");
	const char *sep = "\n";
	for (size_t i = 0; i < ntr; i++) {
		if (i == 0 || tr[i].session != tr[i - 1].session) {
			fprintf(f, "%s{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%" PRIu64
			           ",\"tid\":0,\"args\":{\"name\":\"session %" PRIu64 "\"}}",
			        sep, tr[i].session, tr[i].session);
			sep = ",\n";
		}
		if (tr[i].role == TR_NOWHERE)
			fprintf(f, "%s{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRIu64
			           ",\"tid\":%" PRIu32 ",\"args\":{\"name\":\"session\"}}",
			        sep, tr[i].session, tr[i].role);
		else
			fprintf(f, "%s{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRIu64
			           ",\"tid\":%" PRIu32 ",\"args\":{\"name\":\"role %" PRIu32 "\"}}",
			        sep, tr[i].session, tr[i].role, tr[i].role);
		sep = ",\n";
	}
	tr_free(t->a, tr, t->n * sizeof *tr);
	for (size_t i = 0; i < t->n; i++) {
		const tr_event *e = &t->ev[i];
		fprintf(f, "%s{\"name\":\"%s\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%" PRIu64
		           ",\"pid\":%" PRIu64 ",\"tid\":%" PRIu32 ",\"args\":{",
		        sep, tr_event_name(e->kind), e->tick, e->session, e->role);
		if (e->peer != TR_NOWHERE)
			fprintf(f, "\"peer\":%" PRIu32 ",", e->peer);
		if (e->label != TR_NOWHERE)
			fprintf(f, "\"label\":%" PRIu32 ",", e->label);
		fprintf(f, "\"value\":%" PRIu64 ",\"aux\":%" PRIu32 ",\"status\":\"%s\"}}", e->value,
		        e->aux, tr_status_name((tr_status)e->status));
		sep = ",\n";
	}
	fputs("\n]}\n", f);
	return ferror(f) ? TR_E_IO : TR_OK;
}
