/*
 * tests/unit/test_decode.c -- undoing a stored Content-Encoding: each coding
 * browsers accept (made here with zlib and brotli's encoder), lists of
 * codings, read in small pieces so that streaming is exercised, and what
 * must fail: damaged, cut or trailing bytes, unknown codings, and output
 * past the caller's limits.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/decode.h"

#include <brotli/encode.h>
#include <zlib.h>

typedef struct {
	const unsigned char *p;
	size_t len, pos, step;
} mem_src;

/* Gives at most step bytes a read: the decoder must carry state across reads. */
static int from_mem(void *ctx, void *buf, size_t cap, size_t *got)
{
	mem_src *m = ctx;
	size_t n = m->len - m->pos;
	if (n > cap)
		n = cap;
	if (n > m->step)
		n = m->step;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	*got = n;
	return 0;
}

/* window_bits as deflateInit2 takes them: 31 gzip, 15 zlib, -15 raw. malloc'd into *out. */
static size_t zcompress(const unsigned char *in, size_t len, int window_bits, unsigned char **out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, len) + 64;
	*out = malloc(cap);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = *out;
	z.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

static size_t brcompress(const unsigned char *in, size_t len, unsigned char **out)
{
	size_t cap = BrotliEncoderMaxCompressedSize(len) + 64;
	*out = malloc(cap);
	cr_assert(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, len, in, &cap, *out));
	return cap;
}

/* Decodes enc under ce, step bytes a read; the decoded bytes (malloc'd) and the result. */
static int decode_all(const char *ce, const unsigned char *enc, size_t len, size_t step,
		      const sv_decode_limits *lim, unsigned char **out, size_t *out_len)
{
	mem_src m = {enc, len, 0, step};
	sv_decoder *d = NULL;
	int rc = sv_decoder_new(&d, ce, from_mem, &m, lim);
	size_t cap = 1 << 16, n = 0, got = 0;
	*out = malloc(cap);
	while (rc == 0) {
		if (cap - n < 4096)
			*out = realloc(*out, cap *= 2);
		if ((rc = sv_decoder_read(d, *out + n, 4096 - (n % 7), &got)) || got == 0)
			break;
		n += got;
	}
	*out_len = n;
	sv_decoder_free(d);
	return rc;
}

static unsigned char *sample(size_t len)
{
	unsigned char *p = malloc(len);
	uint64_t st = 42;
	th_fill(p, len, &st, 1);
	return p;
}

static void expect_round_trip(const char *ce, const unsigned char *enc, size_t enc_len, const unsigned char *want,
			      size_t want_len)
{
	size_t steps[] = {1, 7, 65536 * 3};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		unsigned char *got = NULL;
		size_t n = 0;
		int rc = decode_all(ce, enc, enc_len, steps[i], NULL, &got, &n);
		cr_assert_eq(rc, 0, "%s, %zu bytes a read: %s", ce, steps[i], sv_error_last());
		cr_assert_eq(n, want_len, "%s: %zu bytes, want %zu", ce, n, want_len);
		cr_assert(memcmp(got, want, n) == 0, "%s: bytes differ", ce);
		free(got);
	}
}

Test(decode, each_coding_browsers_accept)
{
	size_t len = 300000;
	unsigned char *plain = sample(len), *gz, *zl, *raw, *br;
	size_t ngz = zcompress(plain, len, 31, &gz), nzl = zcompress(plain, len, 15, &zl),
	       nraw = zcompress(plain, len, -15, &raw), nbr = brcompress(plain, len, &br);
	expect_round_trip("gzip", gz, ngz, plain, len);
	expect_round_trip("x-gzip", gz, ngz, plain, len);
	expect_round_trip(" GZip ", gz, ngz, plain, len);
	expect_round_trip("deflate", zl, nzl, plain, len);
	expect_round_trip("deflate", raw, nraw, plain, len);
	expect_round_trip("br", br, nbr, plain, len);
	expect_round_trip("identity", plain, len, plain, len);
	expect_round_trip(NULL, gz, ngz, gz, ngz);
	cr_assert_eq(sv_decode_needed("identity"), 0);
	cr_assert_eq(sv_decode_needed(NULL), 0);
	cr_assert_eq(sv_decode_needed("gzip"), 1);
	free(plain);
	free(gz);
	free(zl);
	free(raw);
	free(br);
}

Test(decode, lists_are_undone_last_first_and_gzip_members_follow_each_other)
{
	size_t len = 50000;
	unsigned char *plain = sample(len), *gz, *both;
	size_t ngz = zcompress(plain, len, 31, &gz), nboth = brcompress(gz, ngz, &both);
	expect_round_trip("gzip, br", both, nboth, plain, len);
	expect_round_trip("gzip,identity,br", both, nboth, plain, len);
	/* two gzip members: the two halves, one after the other */
	unsigned char *a, *b;
	size_t na = zcompress(plain, len / 2, 31, &a), nb = zcompress(plain + len / 2, len - len / 2, 31, &b);
	unsigned char *cat = malloc(na + nb);
	memcpy(cat, a, na);
	memcpy(cat + na, b, nb);
	expect_round_trip("gzip", cat, na + nb, plain, len);
	/* an empty body stays empty */
	expect_round_trip("gzip", (const unsigned char *)"", 0, (const unsigned char *)"", 0);
	free(plain);
	free(gz);
	free(both);
	free(a);
	free(b);
	free(cat);
}

Test(decode, damaged_cut_or_trailing_bytes_are_corrupt)
{
	size_t len = 100000;
	unsigned char *plain = sample(len), *gz, *raw, *br, *out = NULL;
	size_t ngz = zcompress(plain, len, 31, &gz), nraw = zcompress(plain, len, -15, &raw),
	       nbr = brcompress(plain, len, &br), n;
	/* cut short */
	cr_assert_eq(decode_all("gzip", gz, ngz / 2, 4096, NULL, &out, &n), SV_ECORRUPT);
	free(out);
	cr_assert_eq(decode_all("br", br, nbr - 1, 4096, NULL, &out, &n), SV_ECORRUPT);
	free(out);
	/* a damaged byte: gzip's CRC, or the deflate data itself */
	gz[ngz / 2] ^= 0x55;
	cr_assert_eq(decode_all("gzip", gz, ngz, 4096, NULL, &out, &n), SV_ECORRUPT, "%s", sv_error_last());
	free(out);
	/* not compressed at all */
	cr_assert_eq(decode_all("br", plain, 1000, 4096, NULL, &out, &n), SV_ECORRUPT);
	free(out);
	cr_assert_eq(decode_all("gzip", plain, 1000, 4096, NULL, &out, &n), SV_ECORRUPT);
	free(out);
	/* bytes after the end of a deflate stream */
	unsigned char *tail = malloc(nraw + 3);
	memcpy(tail, raw, nraw);
	memcpy(tail + nraw, "xyz", 3);
	cr_assert_eq(decode_all("deflate", tail, nraw + 3, 4096, NULL, &out, &n), SV_ECORRUPT);
	free(out);
	cr_assert_eq(decode_all("compress", raw, nraw, 4096, NULL, &out, &n), SV_EINVAL);
	free(out);
	free(tail);
	free(plain);
	free(gz);
	free(raw);
	free(br);
}

Test(decode, output_past_the_limits_stops)
{
	size_t len = 8 << 20;
	unsigned char *zeros = calloc(1, len), *gz, *out = NULL;
	size_t ngz = zcompress(zeros, len, 31, &gz), n;
	sv_decode_limits max = {1 << 20, 0}, ratio = {0, 50}, fine = {len, 2000};
	cr_assert_eq(decode_all("gzip", gz, ngz, 65536, &max, &out, &n), SV_ECORRUPT);
	cr_assert_leq(n, (size_t)(1 << 20) + 65536);
	free(out);
	cr_assert_eq(decode_all("gzip", gz, ngz, 65536, &ratio, &out, &n), SV_ECORRUPT);
	free(out);
	cr_assert_eq(decode_all("gzip", gz, ngz, 65536, &fine, &out, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, len);
	free(out);
	free(zeros);
	free(gz);
}
