/*
 * storage/bagit.h -- the archive handed over as a BagIt 1.0 bag (RFC 8493):
 * what the agencies published, as plain files that anyone can check with
 * sha256sum, with where and when each came from.
 *
 *   bagit.txt, bag-info.txt (Payload-Oxum, Bagging-Date, Bagging-Software,
 *     Source-Organization, External-Identifier, the caller's fields)
 *   data/<host>/<path>          the latest whole 2xx payload of each URL (a
 *                               file put by hand too), its Content-Encoding
 *                               undone
 *   manifest-sha256.txt, manifest-sha512.txt, tagmanifest-sha256.txt
 *   salvage/captures.jsonl      the exported captures' records, as indexed
 *   salvage/files.tsv           data path, URL, capture time, stored sha256, coding undone
 *                               (or "kept as stored: ..." for a body that does not decode)
 *   salvage/headers.warc.gz     every capture's request and response headers
 *                               (sv_export_warc, headers_only), its CDXJ beside
 *
 * A URL never becomes a path but through sv_bagit_name, and the names of a
 * bag are made unique together (sv_bagit_names): see there. The bag is built
 * in DIR.tmp-<pid> beside DIR and renamed to DIR when complete; DIR must
 * not exist or be empty. Payloads stream: each file is decoded, written and
 * hashed (SHA-256 and SHA-512) in one pass, memory flat.
 */
#ifndef SV_BAGIT_H
#define SV_BAGIT_H

#include "decode.h"
#include "index.h"
#include "objects.h"

#include <stdint.h>

/* Bytes a safe name's component keeps before its "~<16 hex>" suffix; a component is at most 217 bytes. */
#define SV_BAGIT_COMPONENT_KEEP 200
/* A path under data/ is at most this many bytes. */
#define SV_BAGIT_PATH_MAX 1024

/*
 * The path under data/ of an http(s) URL, malloc'd into *out: "<host>" (and
 * "+<port>" when one is given), then the path's segments, each
 * percent-decoded once and then kept only when it is made of letters,
 * digits and "-._~+,=@()" only, is not all dots ("." and "..", written so
 * or %2e), does not end in a dot and is no DOS device name (con, nul,
 * com1...); else each other byte (an encoded "/" among them, control
 * characters, non-ASCII) becomes "_" and the segment gets "~" and 16 hex
 * digits of the SHA-256 of the URL up to the segment's end. A segment over
 * SV_BAGIT_COMPONENT_KEEP bytes is cut there and suffixed so too. A path
 * ending in "/" (or none) gets "index.html"; a query stays in the last
 * segment ("?" is unsafe: it is suffixed). Userinfo and fragment are
 * dropped. Folders that would take the path past SV_BAGIT_PATH_MAX are
 * replaced by one suffixed "_" file. SV_EINVAL when url has no "scheme://".
 */
int sv_bagit_name(const char *url, char **out);

/*
 * The names of a bag's URLs made unique: two paths equal but for ASCII case
 * (a case-insensitive file system), or a file whose path is a folder of
 * another ("/a" and "/a/b"), get "~" and 16 hex of the SHA-256 of their
 * URL after the last segment (the folder keeps its name), until no two
 * clash. urls must be distinct. paths: a malloc'd array of n malloc'd
 * strings, in the order of urls.
 */
int sv_bagit_names(const char *const *urls, size_t n, char ***paths);

typedef struct {
	uint64_t files;       /* payload files written */
	uint64_t bytes;       /* their bytes */
	uint64_t decoded;     /* files whose Content-Encoding was undone */
	uint64_t kept;        /* files kept as stored: a Content-Encoding salvage does not decode */
	const char *url;      /* the one being written (progress) */
} sv_bagit_stats;

typedef struct {
	const char *dir;              /* the bag to make */
	int64_t seed;                 /* only this seed row's captures; -1 for all */
	const char *software;         /* "salvage/<version>" */
	const char *node;             /* the archive's node */
	const char *source_org;       /* Source-Organization; NULL: none */
	const char *const *info;      /* more bag-info fields: name, value, ..., NULL */
	const char *tmp_dir;          /* room for work files (the archive's tmp/) */
	sv_decode_limits limits;      /* for each payload's decoding */
	void (*progress)(void *ctx, const sv_bagit_stats *s);
	void *ctx;
} sv_bagit_options;

/* Writes the bag; *stats (may be NULL) counts what went in. SV_EINVAL when dir is there and not empty. */
int sv_export_bagit(sv_index *ix, const sv_objects *store, const sv_bagit_options *o, sv_bagit_stats *stats);

#endif
