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
 *
 * Records are compressed on worker threads (one per CPU) and written in the
 * order they were handed over: a small record is compressed whole (libdeflate,
 * or zstd), a large one in 1 MiB pieces that each carry the 32 KiB before
 * them as their dictionary and join into one gzip member (as pigz does), or
 * as one zstd frame compressed on zstd's own workers. Where a record landed
 * is told through the `written` callback once its bytes are handed to fd.
 */
#ifndef SV_WARC_H
#define SV_WARC_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SV_WARC_GZIP, SV_WARC_ZSTD } sv_warc_codec;

/* The codec a file name asks for (.warc.gz, .warc.zst); SV_EINVAL for any other name. */
int sv_warc_codec_of(const char *path, sv_warc_codec *out);

typedef struct sv_warc_file sv_warc_file;

/* A record is in the file: at offset, length compressed bytes; tag as given to sv_warc_write. */
typedef void (*sv_warc_written_fn)(void *ctx, void *tag, uint64_t offset, uint64_t length);

/*
 * Writes to fd (not closed by sv_warc_close), from offset 0, compressing on
 * threads workers (0: one per CPU; 1: on the caller's thread only). written
 * may be NULL.
 */
int sv_warc_open(sv_warc_file **out, int fd, sv_warc_codec codec, int threads, sv_warc_written_fn written,
		 void *ctx);
/*
 * Writes every record handed over and stops the workers; *size (may be NULL)
 * gets the file's bytes. fd is left to the caller. NULL is a no-op.
 */
int sv_warc_close(sv_warc_file *w, uint64_t *size);
/* Bytes written so far plus the uncompressed bytes of records under way: at least the file's size once they are written. */
uint64_t sv_warc_offset(sv_warc_file *w);

/* Reads up to cap bytes of a record's tail; *got 0 only at its end. */
typedef int (*sv_warc_source_fn)(void *ctx, void *buf, size_t cap, size_t *got);

/*
 * Hands over one record: header (the WARC header block, from "WARC/1.1\r\n"
 * to the empty line), then head, then tail_len bytes from src (none when
 * tail_len is 0), then the two CRLFs that end a record, as one member or
 * frame. A source that gives more or fewer bytes than tail_len fails the
 * record (SV_ECORRUPT) and the file (nothing more is written). The record
 * is written later, in order; written(ctx, tag, ...) says where.
 */
int sv_warc_write(sv_warc_file *w, const char *header, size_t header_len, const void *head, size_t head_len,
		  uint64_t tail_len, sv_warc_source_fn src, void *src_ctx, void *tag);

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
