/*
 * crawler/inflate.h -- a body sent with Content-Encoding gzip, x-gzip or
 * deflate (zlib-wrapped or not: the header tells), inflated as it arrives,
 * for a reader only: the payload is stored as sent. One loop for every
 * reader that looks inside bodies (links, catalogs).
 */
#ifndef SV_INFLATE_H
#define SV_INFLATE_H

#include <stddef.h>
#include <zlib.h>

/* 0: the bytes are as they are (no coding, identity); 1: inflated here; -1: a coding not read here. */
int sv_inflater_coding(const char *content_encoding);
/* SV_EIO when out of memory. */
int sv_inflater_new(z_stream **out);
/* Inflates buf, handing each piece to fn; -1 when the stream does not inflate. */
int sv_inflater_feed(z_stream *z, const void *buf, size_t len, void (*fn)(void *ctx, const void *buf, size_t len),
		     void *ctx);
void sv_inflater_free(z_stream *z); /* NULL is a no-op */

#endif
