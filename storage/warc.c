/*
 * storage/warc.c -- WARC records out, one gzip member or zstd frame each.
 */
#include "warc.h"

#include "../common/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#define OUT_CAP (1u << 20)
#define IN_CAP (1u << 20)
#define GZIP_LEVEL 6
#define ZSTD_LEVEL 3
#define ZSTD_WINDOW_LOG 23 /* 8 MiB: what the IIPC proposal lets a reader expect */

struct sv_warc_file {
	int fd;
	sv_warc_codec codec;
	uint64_t offset; /* compressed bytes handed to fd or buffered */
	unsigned char *out, *in;
	size_t olen;
	z_stream z;
	int z_ready;
	ZSTD_CCtx *zc;
};

int sv_warc_codec_of(const char *path, sv_warc_codec *out)
{
	size_t n = strlen(path);
	if (n > 8 && !strcmp(path + n - 8, ".warc.gz"))
		*out = SV_WARC_GZIP;
	else if (n > 9 && !strcmp(path + n - 9, ".warc.zst"))
		*out = SV_WARC_ZSTD;
	else
		return sv_error_set(SV_EINVAL, "'%s': a WARC file's name ends in .warc.gz or .warc.zst", path);
	return 0;
}

int sv_warc_open(sv_warc_file **out, int fd, sv_warc_codec codec)
{
	sv_warc_file *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (!w || !(w->out = malloc(OUT_CAP)) || !(w->in = malloc(IN_CAP)))
		goto oom;
	w->fd = fd;
	w->codec = codec;
	if (codec == SV_WARC_GZIP) {
		/* windowBits 15 + 16: a gzip header and trailer around each member */
		if (deflateInit2(&w->z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto oom;
		w->z_ready = 1;
	} else {
		if (!(w->zc = ZSTD_createCCtx()) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_contentSizeFlag, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_windowLog, ZSTD_WINDOW_LOG)))
			goto oom;
	}
	*out = w;
	return 0;
oom:
	if (w) {
		free(w->out);
		free(w->in);
		ZSTD_freeCCtx(w->zc);
		free(w);
	}
	return sv_error_set(SV_EIO, "out of memory");
}

static int flush_out(sv_warc_file *w)
{
	size_t done = 0;
	while (done < w->olen) {
		ssize_t n = write(w->fd, w->out + done, w->olen - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sv_error_errno(errno, "cannot write the WARC file");
		}
		done += (size_t)n;
	}
	w->olen = 0;
	return 0;
}

int sv_warc_close(sv_warc_file *w)
{
	if (!w)
		return 0;
	int rc = flush_out(w);
	if (w->z_ready)
		deflateEnd(&w->z);
	ZSTD_freeCCtx(w->zc);
	free(w->out);
	free(w->in);
	free(w);
	return rc;
}

uint64_t sv_warc_offset(const sv_warc_file *w)
{
	return w->offset;
}

/* Compresses len bytes into the member or frame under way; last ends it. */
static int put(sv_warc_file *w, const void *p, size_t len, int last)
{
	if (w->codec == SV_WARC_GZIP) {
		w->z.next_in = (Bytef *)(uintptr_t)p;
		w->z.avail_in = (uInt)len;
		for (;;) {
			if (w->olen == OUT_CAP) {
				int rc = flush_out(w);
				if (rc)
					return rc;
			}
			w->z.next_out = w->out + w->olen;
			w->z.avail_out = (uInt)(OUT_CAP - w->olen);
			int zr = deflate(&w->z, last ? Z_FINISH : Z_NO_FLUSH);
			size_t made = (OUT_CAP - w->olen) - w->z.avail_out;
			w->olen += made;
			w->offset += made;
			if (zr == Z_STREAM_ERROR)
				return sv_error_set(SV_EIO, "gzip compression failed");
			if (last ? zr == Z_STREAM_END : w->z.avail_in == 0 && w->z.avail_out != 0)
				break;
		}
		return 0;
	}
	ZSTD_inBuffer in = {p, len, 0};
	for (;;) {
		if (w->olen == OUT_CAP) {
			int rc = flush_out(w);
			if (rc)
				return rc;
		}
		ZSTD_outBuffer o = {w->out + w->olen, OUT_CAP - w->olen, 0};
		size_t left = ZSTD_compressStream2(w->zc, &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
		w->olen += o.pos;
		w->offset += o.pos;
		if (ZSTD_isError(left))
			return sv_error_set(SV_EIO, "zstd compression failed: %s", ZSTD_getErrorName(left));
		if (last ? left == 0 : in.pos == in.size && o.pos < o.size)
			break;
	}
	return 0;
}

int sv_warc_write(sv_warc_file *w, const char *header, size_t header_len, const void *head, size_t head_len,
		  uint64_t tail_len, sv_warc_source_fn src, void *ctx, uint64_t *length)
{
	uint64_t start = w->offset, left = tail_len;
	int rc = 0;
	if (w->codec == SV_WARC_GZIP) {
		if (deflateReset(&w->z) != Z_OK)
			return sv_error_set(SV_EIO, "gzip compression failed");
	} else {
		ZSTD_CCtx_reset(w->zc, ZSTD_reset_session_only);
		uint64_t total = header_len + head_len + tail_len + 4;
		if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(w->zc, total)))
			return sv_error_set(SV_EIO, "zstd compression failed");
	}
	if ((rc = put(w, header, header_len, 0)) || (head_len && (rc = put(w, head, head_len, 0))))
		return rc;
	while (left > 0) {
		size_t got = 0;
		if ((rc = src(ctx, w->in, left < IN_CAP ? (size_t)left : IN_CAP, &got)))
			return rc;
		if (got == 0)
			return sv_error_set(SV_ECORRUPT, "a payload ended %llu bytes short of its length",
					    (unsigned long long)left);
		if ((rc = put(w, w->in, got, 0)))
			return rc;
		left -= got;
	}
	if (tail_len) {
		size_t got = 0;
		if ((rc = src(ctx, w->in, 1, &got)))
			return rc;
		if (got)
			return sv_error_set(SV_ECORRUPT, "a payload is longer than its length");
	}
	if ((rc = put(w, "\r\n\r\n", 4, 1)))
		return rc;
	if (length)
		*length = w->offset - start;
	return 0;
}

static void header_put(sv_warc_header *h, const char *s, size_t n)
{
	if (h->failed)
		return;
	if (h->len + n + 1 > h->cap) {
		size_t cap = h->cap ? h->cap : 512;
		while (h->len + n + 1 > cap)
			cap *= 2;
		char *b = realloc(h->buf, cap);
		if (!b) {
			h->failed = 1;
			return;
		}
		h->buf = b;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

void sv_warc_header_begin(sv_warc_header *h, const char *type)
{
	memset(h, 0, sizeof(*h));
	header_put(h, "WARC/1.1\r\n", 10);
	sv_warc_header_add(h, "WARC-Type", type);
}

void sv_warc_header_add(sv_warc_header *h, const char *name, const char *value)
{
	if (!value)
		return;
	header_put(h, name, strlen(name));
	header_put(h, ": ", 2);
	size_t start = h->len;
	header_put(h, value, strlen(value));
	if (!h->failed)
		for (size_t i = start; i < h->len; i++)
			if (h->buf[i] == '\r' || h->buf[i] == '\n')
				h->buf[i] = ' ';
	header_put(h, "\r\n", 2);
}

int sv_warc_header_end(sv_warc_header *h, uint64_t content_length)
{
	char n[32];
	snprintf(n, sizeof(n), "%llu", (unsigned long long)content_length);
	sv_warc_header_add(h, "Content-Length", n);
	header_put(h, "\r\n", 2);
	return h->failed ? sv_error_set(SV_EIO, "out of memory") : 0;
}

void sv_warc_header_free(sv_warc_header *h)
{
	free(h->buf);
	memset(h, 0, sizeof(*h));
}
