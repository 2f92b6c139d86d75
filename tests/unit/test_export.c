/*
 * tests/unit/test_export.c -- the SURT keys of the CDXJ index (the cases
 * were checked against warcio's getSurt), and WARC records out as one gzip
 * member or zstd frame each.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/export.h"
#include "../../storage/warc.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

Test(export, surt_as_warcio_keys_it)
{
	static const char *const cases[][2] = {
		{"http://www.Example.com/A/b?z=1&a=2", "com,example)/a/b?a=2&z=1"},
		{"https://example.com:443/", "com,example)/"},
		{"http://example.com:8080", "com,example:8080)/"},
		{"http://www2.example.com/", "com,example)/"},
		{"http://wwwx.example.com/", "com,example,wwwx)/"},
		{"http://127.0.0.1:80/x", "1,0,0,127)/x"},
		{"ftp://x/", "ftp://x/"},
		{"http://example.com/?", "com,example)/"},
		{"http://example.com/p#frag", "com,example)/p"},
		{"http://[::1]:8080/a", "[::1]:8080)/a"},
		{"http://example.com/a%2Fb?B=1&a=%20", "com,example)/a%2fb?a=%20&b=1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = sv_surt(cases[i][0]);
		cr_assert_not_null(s);
		cr_assert_str_eq(s, cases[i][1], "%s", cases[i][0]);
		free(s);
	}
}

typedef struct {
	const char *p;
	size_t len, pos;
} mem_src;

static int from_mem(void *ctx, void *buf, size_t cap, size_t *got)
{
	mem_src *m = ctx;
	size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	*got = n;
	return 0;
}

typedef struct {
	uint64_t off[4], len[4];
	int n;
} places;

static void on_written(void *ctx, void *tag, uint64_t offset, uint64_t length)
{
	places *p = ctx;
	cr_assert_eq((intptr_t)tag, p->n + 1, "records come back in order");
	p->off[p->n] = offset;
	p->len[p->n++] = length;
}

/* Records into a file; each member/frame alone gives back its record. */
static void round_trip(sv_warc_codec codec, int threads, size_t big)
{
	char dir[4096], path[4200];
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/x.warc", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	sv_warc_file *w = NULL;
	places pl;
	memset(&pl, 0, sizeof(pl));
	cr_assert_eq(sv_warc_open(&w, fd, codec, threads, on_written, &pl), 0);
	sv_warc_header h;
	sv_warc_header_begin(&h, "resource");
	sv_warc_header_add(&h, "WARC-Target-URI", "http://a.gov/x\r\ny");
	cr_assert_eq(sv_warc_header_end(&h, 10), 0);
	cr_assert(strstr(h.buf, "WARC-Target-URI: http://a.gov/x  y\r\n"), "%s", h.buf);
	/* a small record, a large one (pieces or zstd's workers), a small one */
	char *payload = malloc(big);
	for (size_t i = 0; i < big; i++)
		payload[i] = (char)("0123456789abcdef"[(i * 7 + i / 1000) % 16]);
	mem_src m = {"0123456789", 10, 0};
	cr_assert_eq(sv_warc_write(w, h.buf, h.len, NULL, 0, 10, from_mem, &m, (void *)1), 0, "%s", sv_error_last());
	mem_src mb = {payload, big, 0};
	cr_assert_eq(sv_warc_write(w, h.buf, h.len, NULL, 0, big, from_mem, &mb, (void *)2), 0, "%s", sv_error_last());
	m.pos = 0;
	cr_assert_eq(sv_warc_write(w, h.buf, h.len, NULL, 0, 10, from_mem, &m, (void *)3), 0, "%s", sv_error_last());
	uint64_t size = 0;
	cr_assert_eq(sv_warc_close(w, &size), 0, "%s", sv_error_last());
	cr_assert_eq(pl.n, 3);
	cr_assert_eq(pl.off[0], 0);
	cr_assert_eq(pl.off[1], pl.len[0]);
	cr_assert_eq(pl.off[2], pl.off[1] + pl.len[1]);
	cr_assert_eq(size, pl.off[2] + pl.len[2]);
	close(fd);

	FILE *f = fopen(path, "rb");
	unsigned char *data = malloc(size), *out = malloc(big + 4096);
	cr_assert_eq(fread(data, 1, size, f), size);
	fclose(f);
	for (int r = 0; r < 3; r++) {
		size_t want = h.len + (r == 1 ? big : 10) + 4, got;
		unsigned char *rec = data + pl.off[r];
		if (codec == SV_WARC_GZIP) {
			z_stream z;
			memset(&z, 0, sizeof(z));
			cr_assert_eq(inflateInit2(&z, 31), Z_OK);
			z.next_in = rec;
			z.avail_in = (uInt)pl.len[r];
			z.next_out = out;
			z.avail_out = (uInt)(big + 4096);
			cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END, "record %d", r);
			cr_assert_eq(z.avail_in, 0, "record %d is one whole member", r);
			got = z.total_out;
			inflateEnd(&z);
		} else {
			cr_assert_eq(ZSTD_getFrameContentSize(rec, pl.len[r]), want);
			cr_assert_eq(ZSTD_findFrameCompressedSize(rec, pl.len[r]), pl.len[r]);
			got = ZSTD_decompress(out, big + 4096, rec, pl.len[r]);
			cr_assert(!ZSTD_isError(got));
		}
		cr_assert_eq(got, want, "record %d", r);
		cr_assert_eq(memcmp(out, h.buf, h.len), 0);
		if (r == 1)
			cr_assert_eq(memcmp(out + h.len, payload, big), 0);
		else
			cr_assert_eq(memcmp(out + h.len, "0123456789", 10), 0);
		cr_assert_eq(memcmp(out + want - 4, "\r\n\r\n", 4), 0);
	}
	free(data);
	free(out);
	free(payload);

	/* a source shorter than the length it was given fails the record and the file */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(sv_warc_open(&w, fd, codec, threads, NULL, NULL), 0);
	m.pos = 0;
	m.len = 5;
	cr_assert_eq(sv_warc_write(w, h.buf, h.len, NULL, 0, 10, from_mem, &m, NULL), SV_ECORRUPT);
	cr_assert_neq(sv_warc_close(w, NULL), 0);
	close(fd);
	sv_warc_header_free(&h);
	th_rmrf(dir);
}

Test(export, gzip_member_per_record)
{
	round_trip(SV_WARC_GZIP, 1, 9u << 20);
	round_trip(SV_WARC_GZIP, 3, 9u << 20);
	round_trip(SV_WARC_GZIP, 2, 3u << 20);
}

Test(export, zstd_frame_per_record)
{
	round_trip(SV_WARC_ZSTD, 1, 9u << 20);
	round_trip(SV_WARC_ZSTD, 3, 9u << 20);
}
