/*
 * crawler/inflate.c -- bodies inflated for their readers (see inflate.h).
 */
#include "inflate.h"

#include "../common/error.h"

#include <stdlib.h>
#include <strings.h>

int sv_inflater_coding(const char *enc)
{
	if (!enc || !strcasecmp(enc, "identity"))
		return 0;
	return !strcasecmp(enc, "gzip") || !strcasecmp(enc, "x-gzip") || !strcasecmp(enc, "deflate") ? 1 : -1;
}

int sv_inflater_new(z_stream **out)
{
	z_stream *z = calloc(1, sizeof(*z));
	*out = NULL;
	/* 15 + 32: zlib or gzip, told apart by the header. */
	if (!z || inflateInit2(z, 15 + 32) != Z_OK) {
		free(z);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*out = z;
	return 0;
}

int sv_inflater_feed(z_stream *z, const void *buf, size_t len, void (*fn)(void *ctx, const void *buf, size_t len),
		     void *ctx)
{
	unsigned char out[32768];
	z->next_in = (unsigned char *)buf;
	z->avail_in = (uInt)len;
	while (z->avail_in > 0) {
		z->next_out = out;
		z->avail_out = sizeof(out);
		int rc = inflate(z, Z_NO_FLUSH);
		if (sizeof(out) - z->avail_out)
			fn(ctx, out, sizeof(out) - z->avail_out);
		if (rc == Z_STREAM_END)
			break;
		if (rc != Z_OK)
			return -1;
	}
	return 0;
}

void sv_inflater_free(z_stream *z)
{
	if (!z)
		return;
	inflateEnd(z);
	free(z);
}
