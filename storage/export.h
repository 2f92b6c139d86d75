/*
 * storage/export.h -- the archive handed to the archiving world: WARC 1.1
 * files (.warc.gz or .warc.zst) with a CDXJ index beside each, made from the
 * capture index and the object store.
 *
 * Per capture, in the order the index holds them:
 * - a response with an HTTP header block: a request record (when the capture
 *   kept the request it sent) and a response record, each WARC-Concurrent-To
 *   the other; a payload already written in this export under another URL
 *   or time becomes a revisit record (identical-payload-digest profile);
 * - a file put by hand, or a response whose header block is missing or was
 *   cut: a resource record of the payload;
 * - a capture without a payload (a failure, a URL robots.txt kept us from):
 *   a metadata record (application/warc-fields) saying what happened, so the
 *   WARC says what could not be rescued.
 * Each file starts with a warcinfo record. A file rolls over to the next
 * (OUT-00001.warc.gz, ...) once it passes max_size. Files are written under a
 * temp name and renamed when complete: a killed export leaves no WARC that
 * looks whole. Payloads stream from the store; memory stays flat.
 *
 * The CDXJ index (OUT.cdxj beside OUT.warc.gz) has a line per response,
 * revisit and resource record, as warcio's cdx-index writes them: SURT key,
 * 14-digit timestamp, then JSON with url, mime, status, digest, length,
 * offset and filename; the lines sorted bytewise.
 */
#ifndef SV_EXPORT_H
#define SV_EXPORT_H

#include "capture.h"
#include "index.h"
#include "objects.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
	uint64_t captures; /* capture records exported */
	uint64_t records;  /* WARC records written */
	uint64_t revisits;
	uint64_t failures; /* captures without a payload: metadata records */
	uint64_t payload_bytes;
	uint64_t bytes;    /* compressed bytes written */
	unsigned files;
	const char *file;  /* the file being written (progress) */
} sv_export_stats;

typedef struct {
	const char *path;       /* OUT.warc.gz or OUT.warc.zst */
	int64_t seed;           /* only this seed row's captures; -1 for all */
	const char *since;      /* only captures at or after this RFC 3339 time (or date); NULL for all */
	uint64_t max_size;      /* roll over once a file passes this many bytes; 0 for 1 GB */
	const char *software;   /* "salvage/<version>" */
	const char *node;       /* the archive's node */
	const char *const *info; /* more warcinfo fields: name, value, ..., NULL */
	const char *tmp_dir;    /* room for the index's sort (the archive's tmp/) */
	int threads;            /* compression threads; 0: one per CPU */
	int headers_only;       /* 1: response records hold the HTTP header block alone (WARC-Truncated:
	                         * length, WARC-Payload-Digest of the whole payload) and a file put by hand
	                         * an empty resource record so; no revisits (a bag's salvage/headers.warc.gz) */
	void (*progress)(void *ctx, const sv_export_stats *s);
	/* Called with each capture once its records are written (may be NULL); non-zero stops the export with it. */
	int (*exported)(void *ctx, const sv_capture *c);
	void *ctx;
} sv_export_warc_options;

/* Writes the WARC file(s) and their CDXJ; *stats (may be NULL) counts what was written. */
int sv_export_warc(sv_index *ix, const sv_objects *store, const sv_export_warc_options *o, sv_export_stats *stats);

/* "name: value" and eol into f (a warc-fields block, a bag-info.txt); CR and LF in value become spaces. */
void sv_export_field(FILE *f, const char *name, const char *value, const char *eol);

/*
 * The SURT form of an http(s) URL as warcio and pywb key their indexes:
 * "www." (and www2. ...) dropped, lower case, host labels reversed and
 * joined by commas, ":port" when not the default, ")", the path, and the
 * query's arguments sorted. Anything else is returned as it is. malloc'd.
 */
char *sv_surt(const char *url);

#endif
