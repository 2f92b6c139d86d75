/*
 * storage/decode.h -- undoing a stored Content-Encoding, streaming.
 *
 * salvage stores the entity body as sent (DESIGN.md): a server that gzips
 * unasked leaves a gzip payload, and its record says content_encoding. A
 * decoder reads such a payload from a source (an object reader, or any
 * function of that shape) and gives back the bytes the server meant, chunk
 * by chunk; memory stays flat whatever the size.
 *
 * Codings, as browsers take them (case-insensitive): gzip and x-gzip (also
 * several gzip members one after another), deflate (zlib-wrapped or raw
 * deflate: the first two bytes tell), br (brotli), identity; a list such as
 * "gzip, br" is undone last first, up to SV_DECODE_MAX_CODINGS codings.
 * Bytes after the end of a deflate or brotli stream, a stream that stops
 * short, or one that does not decode: SV_ECORRUPT. An unknown coding:
 * SV_EINVAL. Output past the caller's limits (against decompression bombs):
 * SV_ECORRUPT, saying which limit.
 */
#ifndef SV_DECODE_H
#define SV_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define SV_DECODE_MAX_CODINGS 4

/* Reads up to cap bytes into buf; *got 0 only at the end. Negative SV_E* on error. */
typedef int (*sv_decode_source_fn)(void *ctx, void *buf, size_t cap, size_t *got);

typedef struct {
	uint64_t max_out;   /* decoded bytes at most; 0: SV_DECODE_DEFAULT_MAX_OUT */
	uint64_t max_ratio; /* decoded bytes at most this many times the encoded bytes read (past the first MiB); 0: no cap */
} sv_decode_limits;

#define SV_DECODE_DEFAULT_MAX_OUT (64ull << 30)
#define SV_DECODE_LIMITS_INIT {0, 0}

typedef struct sv_decoder sv_decoder;

/*
 * A decoder of src's bytes under content_encoding (NULL or "" or identity:
 * the bytes pass through). limits may be NULL (the defaults).
 */
int sv_decoder_new(sv_decoder **out, const char *content_encoding, sv_decode_source_fn src, void *ctx,
		   const sv_decode_limits *limits);
/* Reads up to cap decoded bytes; *got is 0 only at the end of a sound stream. */
int sv_decoder_read(sv_decoder *d, void *buf, size_t cap, size_t *got);
void sv_decoder_free(sv_decoder *d); /* NULL is a no-op */

/* 1 if content_encoding changes the bytes (anything but none or identity), else 0. */
int sv_decode_needed(const char *content_encoding);

/* A source reading an sv_objects_reader (ctx). */
int sv_decode_object_source(void *ctx, void *buf, size_t cap, size_t *got);

#endif
