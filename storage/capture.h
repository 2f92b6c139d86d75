/*
 * storage/capture.h -- the capture record: what one fetch, or one file put
 * by hand, produced (DESIGN.md "Ledger").
 *
 * A record is one JSON object on one line of captures/<node>/<day>/<f>.jsonl
 * in the ledger. This file is the only place that writes or reads one: the
 * crawl, `put --url`, the mirror engine, verify and ls all go through it, so
 * the fields, their order and their meaning cannot drift apart.
 *
 * What stays true: the fields always written come in this order: url, ts,
 * status, mime, length, sha256, stored, headers, seed, via, kind, node; the
 * optional ones follow, only when set (tls_unverified only when true). An
 * absent value is JSON null (for the always-written fields) or no key at
 * all (for the optional ones). The raw
 * response header block is kept byte for byte: as "headers" when it is
 * UTF-8 without NUL, else as "headers_b64" (standard base64, in place of
 * "headers"); readers get the same bytes back either way. The request
 * header block, likewise, as "request" or "request_b64". Every other text
 * that came from the network (url, mime, via, content_encoding, redirect,
 * error...) is written as it is when it is UTF-8, else with each byte
 * that is not valid UTF-8 written %XX: no server can make a record
 * unbuildable.
 */
#ifndef SV_CAPTURE_H
#define SV_CAPTURE_H

#include "../common/kind.h"

#include <stddef.h>
#include <stdint.h>

/*
 * A capture record. Strings are borrowed (NULL: absent); numbers are -1 when
 * absent, unless said otherwise. SV_CAPTURE_INIT gives a record with every
 * field absent.
 */
typedef struct {
	const char *url;        /* as fetched: normalised */
	const char *ts;         /* UTC, RFC 3339 with ms: when the fetch began */
	int status;             /* HTTP status; 0 for none reached, -1 absent (manual) */
	const char *mime;       /* Content-Type as sent */
	int64_t length;         /* payload bytes */
	const char *sha256;     /* hex digest of the payload */
	int64_t stored;         /* bytes of the compressed object */
	const char *headers;    /* the raw response header block */
	size_t headers_len;
	int64_t seed;           /* sheet row id */
	const char *via;        /* referring URL */
	sv_kind kind;
	const char *node;       /* the machine that made it */
	/* optional */
	const char *id;         /* "urn:uuid:..." of this record (sv_capture_new_id): no two fetches alike */
	const char *content_encoding;
	int64_t resumed_at;     /* the body was resumed with Range from this byte */
	const char *redirect;   /* Location of a redirect, resolved */
	const char *truncated;  /* length|time|disconnect */
	const char *error;      /* why nothing (or not all) was rescued */
	int headers_truncated;  /* 1: headers cut at the limit */
	int attempt;            /* 1-based; 0 absent */
	int tls_unverified;     /* 1: fetched over https without verifying the server (crawl.insecureHost) */
	const char *request;    /* the request header block sent (credentials masked) */
	size_t request_len;
	const char *ip;         /* the server's IP address */
	const char *file;       /* manual: the file's own name */
	const char *note;       /* manual: the volunteer's note */
	const char *source;     /* imported: the name of the WARC (or WACZ) it came from */
	const char *dataset;    /* JSON object: the catalog dataset this capture is part of (identifier,
				 * title, publisher, modified, catalog, role) */
	const char *catalog;    /* JSON object: what a catalog answer held (step, pass, counts) */
} sv_capture;

#define SV_CAPTURE_INIT                                                                                    \
	{                                                                                                  \
		.status = -1, .length = -1, .stored = -1, .seed = -1, .kind = SV_KIND_PAGE, .resumed_at = -1 \
	}

/* "urn:uuid:" and a random (version 4) UUID: 45 characters and the NUL. */
#define SV_CAPTURE_ID_LEN 46

/*
 * A new record id into out. Two fetches of one URL in the same millisecond
 * with the same answer would otherwise make byte-identical records, which
 * the capture index keeps once; the id is also the record's WARC-Record-ID.
 */
int sv_capture_new_id(char out[SV_CAPTURE_ID_LEN]);
/* "urn:uuid:" and the UUID of these 16 bytes, its version (4 random, 8 made by the application) and variant bits set. */
void sv_capture_id_format(char out[SV_CAPTURE_ID_LEN], const unsigned char bytes[16], int version);

/* The record as one line of compact JSON (no newline), malloc'd into *out. */
int sv_capture_to_json(const sv_capture *c, char **out);

/*
 * A record read back. Its strings live in the parsed JSON until
 * sv_capture_parsed_clear. sha256 is set only when the record names a
 * well-formed digest.
 */
typedef struct {
	sv_capture c;
	int kind_known; /* 0: the record's kind is missing or unknown (c.kind is then SV_KIND_PAGE) */
	void *json;     /* the parsed document */
	char *headers_buf; /* c.headers decoded from headers_b64, or NULL */
	char *request_buf; /* c.request decoded from request_b64, or NULL */
	char *dataset_buf; /* c.dataset as JSON text, or NULL */
	char *catalog_buf; /* c.catalog as JSON text, or NULL */
} sv_capture_parsed;

/*
 * Reads one record. SV_ECORRUPT when the line is not a capture record: not a
 * JSON object, no url, a sha256 that is neither null nor 64 lower-case
 * hex digits (the way records are written, and object files named), or a
 * headers_b64 or request_b64 that is not base64.
 * out is usable (and must be cleared) whatever is returned.
 */
int sv_capture_parse(sv_capture_parsed *out, const char *line, size_t len);
void sv_capture_parsed_clear(sv_capture_parsed *p);

#endif
