/*
 * storage/import.h -- what other tools captured (wget --warc-file,
 * Browsertrix, Webrecorder) taken into the archive: every response and
 * resource record of a WARC becomes a capture of kind `imported`, its
 * payload an object, its record a capture record.
 *
 * What stays true:
 * - a record's stated digests (WARC-Block-Digest, WARC-Payload-Digest; sha1,
 *   sha256, sha512 or md5, in base32, hex or base64) are checked against its
 *   bytes before its payload is kept: a record that does not match is refused
 *   by name and nothing of it is stored;
 * - a revisit (identical-payload-digest) becomes a capture of the payload of
 *   the record it names, found among the records imported before it;
 * - a file that ends inside a record, or whose gzip member or zstd frame is
 *   damaged, stops the import there with the record named; what was imported
 *   before it is kept, whole;
 * - capture records reach the caller in batches (commit), each only after
 *   its objects were written; the caller makes them durable (objects synced,
 *   ledger commit, index) in that order;
 * - sizes read from the file are bounded (header blocks, lengths).
 */
#ifndef SV_IMPORT_H
#define SV_IMPORT_H

#include "objects.h"

#include <stdint.h>

typedef struct {
	uint64_t records;   /* WARC records read */
	uint64_t captures;  /* captures made: responses, resources and revisits */
	uint64_t revisits;  /* of them, revisits resolved */
	uint64_t skipped;   /* records that make no capture (request, warcinfo, metadata, not http(s)) */
	uint64_t refused;   /* records refused: digests that do not match, unresolved revisits, bad blocks */
	uint64_t payload_bytes;
	uint64_t bytes_in;  /* bytes of the file read so far */
} sv_import_stats;

/* Reads up to cap bytes of the file; *got 0 only at its end. */
typedef int (*sv_import_read_fn)(void *ctx, void *buf, size_t cap, size_t *got);

typedef struct {
	const char *node;  /* the archive's node, for the records */
	/* An http(s) URL in the archive's normal form into *out (malloc'd); non-zero: not one. */
	int (*normalize_url)(char **out, const char *url);
	/* Makes records durable (they are capture records, JSON); non-zero stops the import. */
	int (*commit)(void *ctx, const char *const *records, size_t n);
	/* A record refused, with why (the import goes on); may be NULL. */
	void (*refused)(void *ctx, const char *why);
	void (*progress)(void *ctx, const sv_import_stats *s); /* may be NULL */
	void *ctx;
} sv_import_options;

typedef struct sv_importer sv_importer;

int sv_importer_new(sv_importer **out, sv_objects *store, const sv_import_options *o);
/*
 * Imports one WARC, plain, gzip (a member per record or not) or zstd (frames,
 * as the IIPC proposal writes them), told apart by their first bytes, read
 * through rd; name is the file's name (messages, the records' `source`).
 * Revisits may name records of an earlier file of the same importer (the
 * WARCs of one WACZ). Returns 0 when the file was read to its end (refused
 * records are counted), or the error that stopped it.
 */
int sv_importer_warc(sv_importer *im, const char *name, sv_import_read_fn rd, void *rd_ctx);
/* Hands the last batch of records to commit. */
int sv_importer_finish(sv_importer *im);
const sv_import_stats *sv_importer_stats(const sv_importer *im);
void sv_importer_free(sv_importer *im); /* NULL is a no-op */

#endif
