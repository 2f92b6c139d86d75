/*
 * storage/warc.h -- writing WARC files: one record at a time, each record its
 * own gzip member (.warc.gz) or its own zstd frame (.warc.zst, as the IIPC
 * zstd WARC proposal has it: content size set, checksum on, window at most
 * 8 MiB, no dictionary), so that a reader can seek to any record's offset.
 *
 * The caller builds each record's WARC header block (sv_warc_header_*) and
 * hands the block as bytes in memory followed by an optional tail read from a
 * source (a payload streamed from the object store), its length known in
 * advance: memory stays flat whatever the payload's size.
 */
#ifndef SV_WARC_H
#define SV_WARC_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SV_WARC_GZIP, SV_WARC_ZSTD } sv_warc_codec;

/* The codec a file name asks for (.warc.gz, .warc.zst); SV_EINVAL for any other name. */
int sv_warc_codec_of(const char *path, sv_warc_codec *out);

typedef struct sv_warc_file sv_warc_file;

/* Writes to fd (not closed by sv_warc_close), from offset 0. */
int sv_warc_open(sv_warc_file **out, int fd, sv_warc_codec codec);
/* Flushes what is buffered; fd is left to the caller. NULL is a no-op. Returns the flush's result. */
int sv_warc_close(sv_warc_file *w);
/* Compressed bytes written so far: the next record's offset. */
uint64_t sv_warc_offset(const sv_warc_file *w);

/* Reads up to cap bytes of a record's tail; *got 0 only at its end. */
typedef int (*sv_warc_source_fn)(void *ctx, void *buf, size_t cap, size_t *got);

/*
 * Writes one record: header (the WARC header block, from "WARC/1.1\r\n" to
 * the empty line), then head, then tail_len bytes from src (none when
 * tail_len is 0), then the two CRLFs that end a record, as one member or
 * frame. A source that gives more or fewer bytes than tail_len fails the
 * record (SV_ECORRUPT). *length: the member's compressed bytes.
 */
int sv_warc_write(sv_warc_file *w, const char *header, size_t header_len, const void *head, size_t head_len,
		  uint64_t tail_len, sv_warc_source_fn src, void *ctx, uint64_t *length);

/* A WARC header block being built: "WARC/1.1\r\n", fields, and the end. */
typedef struct {
	char *buf;
	size_t len, cap;
	int failed;
} sv_warc_header;

void sv_warc_header_begin(sv_warc_header *h, const char *type);
/* Adds "Name: value\r\n"; CR and LF in value (never in names) become spaces. NULL value: nothing. */
void sv_warc_header_add(sv_warc_header *h, const char *name, const char *value);
/* Adds Content-Length and the empty line; SV_EIO if memory ran out on the way. */
int sv_warc_header_end(sv_warc_header *h, uint64_t content_length);
void sv_warc_header_free(sv_warc_header *h);

#endif
