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

/* Two records into a file; each member/frame alone gives back its record. */
static void round_trip(sv_warc_codec codec)
{
	char dir[4096], path[4200];
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/x.warc", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	sv_warc_file *w = NULL;
	cr_assert_eq(sv_warc_open(&w, fd, codec), 0);
	sv_warc_header h;
	sv_warc_header_begin(&h, "resource");
	sv_warc_header_add(&h, "WARC-Target-URI", "http://a.gov/x\r\ny");
	cr_assert_eq(sv_warc_header_end(&h, 10), 0);
	cr_assert(strstr(h.buf, "WARC-Target-URI: http://a.gov/x  y\r\n"), "%s", h.buf);
	mem_src m = {"0123456789", 10, 0};
	uint64_t len1 = 0, len2 = 0;
	cr_assert_eq(sv_warc_write(w, h.buf, h.len, NULL, 0, 10, from_mem, &m, &len1), 0, "%s", sv_error_last());
	uint64_t off2 = sv_warc_offset(w);
	cr_assert_eq(off2, len1);
	m.pos = 0;
	m.len = 5; /* fewer bytes than the length said: refused */
	cr_assert_eq(sv_warc_write(w, h.buf, h.len, NULL, 0, 10, from_mem, &m, &len2), SV_ECORRUPT);
	cr_assert_eq(sv_warc_close(w), 0);
	close(fd);

	FILE *f = fopen(path, "rb");
	static unsigned char data[1 << 16], out[1 << 16];
	size_t n = fread(data, 1, sizeof(data), f);
	fclose(f);
	cr_assert_geq(n, len1);
	size_t got;
	if (codec == SV_WARC_GZIP) {
		z_stream z;
		memset(&z, 0, sizeof(z));
		cr_assert_eq(inflateInit2(&z, 31), Z_OK);
		z.next_in = data;
		z.avail_in = (uInt)len1;
		z.next_out = out;
		z.avail_out = sizeof(out);
		cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
		got = z.total_out;
		inflateEnd(&z);
	} else {
		cr_assert_eq(ZSTD_getFrameContentSize(data, len1), h.len + 10 + 4);
		got = ZSTD_decompress(out, sizeof(out), data, len1);
		cr_assert(!ZSTD_isError(got));
	}
	cr_assert_eq(got, h.len + 10 + 4);
	cr_assert_eq(memcmp(out, h.buf, h.len), 0);
	cr_assert_eq(memcmp(out + h.len, "0123456789\r\n\r\n", 14), 0);
	sv_warc_header_free(&h);
	th_rmrf(dir);
}

Test(export, gzip_member_per_record)
{
	round_trip(SV_WARC_GZIP);
}

Test(export, zstd_frame_per_record)
{
	round_trip(SV_WARC_ZSTD);
}
