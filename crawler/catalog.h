/*
 * crawler/catalog.h -- catalogs: what a catalog lists, read as it arrives.
 *
 * A sheet row of kind dcat, ckan, socrata, arcgis or datagov (or auto,
 * which probes) names a catalog. Reading one is a chain of requests, each a
 * queued URL of kind `catalog` with a step (what the answer is) and a small
 * JSON state: a DCAT-US data.json is one step; a CKAN catalog is one
 * package_search page after another, each page's URL made from the last
 * one's answer; an ArcGIS layer is its description, then its object ids,
 * then the features in batches. Because each request is a queued URL and
 * the next one is queued only from a complete answer, a crawl killed in the
 * middle of a catalog resumes where it was, and every page is a capture.
 *
 * A step's reader (one file each: catalog_dcat.c, catalog_ckan.c, ...) is
 * fed the answer's body as it arrives and tells a sink what it finds:
 * datasets with their distributions, the next requests, that the listing
 * is complete, that the answer is not what was asked (an error envelope
 * sent with HTTP 200), and counts of what was odd. The sink (the fetcher)
 * resolves URLs, applies the row's include/exclude and queues.
 *
 * What stays true: memory is bounded whatever the answer's size (answers
 * are parsed as streams, crawler/jsonstream.h); nothing a catalog says can
 * crash a reader or end the row: what cannot be used is counted and, for a
 * dataset, passed on so that the volunteers see it (`report --needs-hands`).
 */
#ifndef SV_CATALOG_H
#define SV_CATALOG_H

#include "../queue/queue.h"
#include "../seeds/sheet.h"
#include "jsonstream.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What a distribution is, as the catalog gives it. */
typedef enum {
	SV_DIST_DOWNLOAD, /* a file (downloadURL, a CKAN resource, an export): fetched as a dataset */
	SV_DIST_ACCESS,   /* a page (accessURL, a landing page): fetched as a page, its data files one hop on */
	SV_DIST_API,      /* an API or service endpoint: fetched, but a human must get the data */
	SV_DIST_LAYER,    /* an ArcGIS FeatureServer/MapServer layer: exported whole (catalog_arcgis.c) */
	SV_DIST_META,     /* the dataset's own metadata document (Socrata's /api/views/<id>.json) */
	SV_DIST_NONE,     /* listed with no usable URL: a human must look */
} sv_dist_role;

typedef struct {
	const char *url;        /* as written (maybe relative, maybe broken), or NULL */
	const char *media_type; /* or NULL */
	const char *format;     /* or NULL */
	const char *title;      /* or NULL */
	sv_dist_role role;
	int64_t expect;         /* features an ArcGIS batch must hold; -1 none */
	json_t *state;          /* a batch: what its reader (step arcgis-batch) needs: layer, oid, b,
				 * expect; NULL for any other distribution (borrowed) */
} sv_catalog_dist;

typedef struct {
	const char *identifier;   /* or NULL (then the sink makes a key) */
	const char *title;        /* or NULL */
	const char *publisher;    /* or NULL */
	const char *modified;     /* as written (ISO 8601, "R/P1D", a year), or NULL */
	const char *landing;      /* landingPage, or NULL */
	const char *access_level; /* public, restricted public, non-public, or NULL */
	const sv_catalog_dist *dists;
	size_t ndists;
} sv_catalog_dataset;

typedef struct {
	void *ctx;
	/* A dataset listed. Non-zero stops the reading (an environment error). */
	int (*dataset)(void *ctx, const sv_catalog_dataset *d);
	/* Another request of this catalog: url (absolute or relative to the
	 * answer's), its step and its state (a JSON object, borrowed). */
	int (*request)(void *ctx, const char *url, const char *step, json_t *state);
	/* This answer was the listing's last page: the listing is complete. */
	void (*end)(void *ctx);
	/* The answer is not what was asked (an error envelope, not this kind of catalog). */
	void (*fail)(void *ctx, const char *why);
	/* Counts n of something odd (a short name: "relative_url", "rows_capped"). */
	void (*count)(void *ctx, const char *what, int64_t n);
} sv_catalog_sink;

/* What a request is: every step has a reader. */
typedef struct {
	const char *step; /* stored in the queue: never renamed */
	/* A reader for the answer to url (the answer's URL, normalised) in state
	 * (the request's, borrowed; may be NULL), into *out. */
	int (*open)(void **out, const char *url, json_t *state, const sv_catalog_sink *sink);
	/* 0, or non-zero when the answer cannot be read any further. */
	int (*feed)(void *r, const void *buf, size_t len);
	/* The answer is complete. */
	void (*finish)(void *r);
	void (*free)(void *r);
} sv_catalog_reader;

/* The reader of step, or NULL. */
const sv_catalog_reader *sv_catalog_reader_for(const char *step);

/*
 * The first request of a catalog row: its URL (malloc'd), step and state
 * (a new JSON object) for a row of kind kind whose URL is url (normalised).
 * auto starts with its first probe.
 */
int sv_catalog_first(sv_sheet_kind kind, const char *url, char **url_out, const char **step, json_t **state);

/*
 * Every active catalog row with nothing queued or leased starts its next
 * pass (its first request queued again); a row with a pass under way goes
 * on with it. *started counts the passes started. The commands that load
 * sheets do it: `crawl` when it starts, `seed` once the sheets are in (on a
 * shared queue, the coordinator's; workers come and go, and one started
 * late must not read every finished catalog again). Several at once start
 * a pass once (sv_queue_catalog_begin).
 */
int sv_catalog_start_passes(sv_queue *q, size_t *started);

/* ---- what became of a catalog's datasets ---- */

typedef enum {
	SV_DATASET_PENDING,     /* some of its URLs are still queued or being fetched */
	SV_DATASET_RESCUED,     /* a data file of it is stored, and nothing failed */
	SV_DATASET_PARTLY,      /* a data file is stored, and something still needs a human */
	SV_DATASET_NEEDS_HANDS, /* no data file could be rescued automatically */
	SV_DATASET_VANISHED,    /* no longer listed by its catalog */
} sv_dataset_state;

/* "pending", "rescued", "partly", "needs hands", "vanished". */
const char *sv_dataset_state_name(sv_dataset_state s);

/*
 * The state of dataset d (a row of sv_queue_datasets), and each thing a
 * human must do for it, told to problem (may be NULL): url is where to
 * start (the URL that failed, the landing page, else the catalog: always
 * http(s)), why says what went wrong. Landing pages with no data file
 * found, APIs and services, failures after retries, files over max_bytes,
 * robots.txt refusals and distributions listed without a usable URL.
 */
sv_dataset_state sv_catalog_dataset_state(const sv_queue_dataset_row *d,
					  void (*problem)(void *ctx, const char *url, const char *why), void *ctx);

/* ---- for the readers ---- */

extern const sv_catalog_reader sv_catalog_dcat, sv_catalog_ckan, sv_catalog_socrata, sv_catalog_datagov,
	sv_catalog_arcgis_services, sv_catalog_arcgis_layer, sv_catalog_arcgis_ids, sv_catalog_arcgis_batch,
	sv_catalog_probe;

/*
 * Each kind's first request for a row URL (normalised): the URL (malloc'd;
 * NULL when out of memory), its step and its state (a new object, or NULL
 * when out of memory). Called by sv_catalog_first.
 */
typedef char *sv_catalog_first_fn(const char *url, const char **step, json_t **state);
sv_catalog_first_fn sv_catalog_ckan_first, sv_catalog_socrata_first, sv_catalog_datagov_first, sv_catalog_auto_first,
	sv_catalog_datagov_probe_first,
	sv_catalog_arcgis_first;

/* A row of kind auto: after probe `state` failed, the next probe (*url NULL when none is left). */
int sv_catalog_probe_next(json_t *state, char **url, json_t **next_state);

/* The string at key of object o, or NULL when absent, not a string, or only blanks. */
const char *sv_catalog_str(const json_t *o, const char *key);

/* The integer at key of object o (a JSON integer, or a real with no fraction), or dflt. */
int64_t sv_catalog_int(const json_t *o, const char *key, int64_t dflt);

/* Counts n of what, when the sink counts. */
void sv_catalog_count(const sv_catalog_sink *sink, const char *what, int64_t n);

/* 1 when a distribution's format names a service to query (WMS, WFS, API, ESRI REST...), not a file. */
int sv_catalog_is_service_format(const char *format);

/*
 * Passes a request to the sink, taking url and state (either NULL: out of
 * memory, and the other is freed).
 */
int sv_catalog_request(const sv_catalog_sink *sink, char *url, const char *step, json_t *state);

/*
 * What every reader's state starts with: the parse of the answer and the
 * sink told about it. A reader is made by sv_catalog_reader_new (its want
 * and value callbacks get the reader as ctx), fed by sv_catalog_feed, and
 * its finish starts with sv_catalog_stream_finish.
 */
typedef struct {
	sv_js *js;
	const sv_catalog_sink *sink;
	char *url;     /* the answer's URL: the model of the next page's */
	char *cursor;  /* what this page was asked after (the state's after, scroll_id), or NULL */
	json_t *error; /* the document's `error` member, when the reader collects it */
	int failed;    /* the answer was failed: nothing more is said about it */
} sv_catalog_stream;

/* A reader of size bytes (zeroed; an sv_catalog_stream first) into *out,
 * for the answer to url asked after cursor (may be NULL). */
int sv_catalog_reader_new(void **out, size_t size, const char *url, const char *cursor, const sv_catalog_sink *sink,
			  sv_js_want_fn want, sv_js_value_fn value);
/* The feed of every reader: bytes that are not JSON fail the answer. */
int sv_catalog_feed(void *r, const void *buf, size_t len);
/*
 * What a reader of a page wants at p: the document; its list (looked into:
 * *listed is set; its elements collected); the top-level member (may be
 * NULL) and the error member (collected); nothing else.
 */
sv_js_action sv_catalog_want_page(const sv_js_path *p, const char *list, const char *member, int *listed);
/* 1 when p is the document's `error` member: an error envelope, which
 * CKAN, Socrata, ArcGIS and api.data.gov send, often with HTTP 200. */
int sv_catalog_is_error(const sv_js_path *p);
/* Keeps the error member v (collected) for sv_catalog_stream_finish; 0. */
int sv_catalog_keep_error(sv_catalog_stream *s, json_t *v);
/*
 * The answer is complete: 0 when it was JSON throughout (mended text is
 * counted as bad_text) and held no error member; else it has been failed
 * ("<api> error: <code>: <message>") and -1.
 */
int sv_catalog_stream_finish(sv_catalog_stream *s, const char *api);
/* Fails the answer, once, for a reason. */
void sv_catalog_fail(sv_catalog_stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails the answer as what, with the text of an error member (a string, or
 * an object with code or __type, and message) when err is not NULL. */
void sv_catalog_fail_with(sv_catalog_stream *s, const char *what, const json_t *err);
/* The listing is complete (unless the answer was failed). */
void sv_catalog_end(sv_catalog_stream *s);
/* Frees a reader whose only resources are its stream's; others free theirs, then call this. */
void sv_catalog_reader_free(void *r);

/*
 * Keyset paging over ids compared as bytes (Solr's string order, Socrata's
 * asset ids): a page's ids are seen in order; the last one is the next
 * page's cursor, unless the order did not hold.
 */
#define SV_CATALOG_ID_MAX 1024 /* longest id used as a cursor */
typedef struct {
	char last[SV_CATALOG_ID_MAX + 1]; /* the page's last id, "" before any */
	int unsorted; /* an id at or before the one before it: the server ignored the order */
	int behind;   /* an id at or before the cursor: the server ignored the cursor */
} sv_catalog_keyset;

/* Sees the next id of a page asked after cursor after (NULL: none); a missing or overlong id is counted. */
void sv_catalog_keyset_see(sv_catalog_keyset *k, const sv_catalog_sink *sink, const char *after, const char *id);

/*
 * Builds URLs for the catalogs' APIs. Values are percent-encoded but for
 * ALPHA DIGIT - . _ ~ and '*' (so "*:*" is "*%3A*", a space "%20"), the
 * form the queue keeps them in. Out of memory is remembered and reported
 * by sv_catalog_url_take.
 */
typedef struct {
	char *s;
	size_t len, cap;
	int oom;
} sv_catalog_url;

void sv_catalog_url_raw(sv_catalog_url *u, const char *s, size_t n);
/* s percent-encoded; with keep_slash, '/' stays (a path of segments). */
void sv_catalog_url_enc(sv_catalog_url *u, const char *s, int keep_slash);
/* "?key=value" or "&key=value" (value encoded). */
void sv_catalog_url_param(sv_catalog_url *u, const char *key, const char *value);
void sv_catalog_url_num(sv_catalog_url *u, const char *key, int64_t n);
/* The URL built (malloc'd), or NULL when memory ran out; u is emptied. */
char *sv_catalog_url_take(sv_catalog_url *u);
/* url with every key= parameter removed and, when value is not NULL, key=value added last (malloc'd). */
char *sv_catalog_url_set(const char *url, const char *key, const char *value);
/* The length of url without its query, fragment and trailing '/'. */
size_t sv_catalog_base_len(const char *url);

/*
 * Passes one DCAT-US dataset object (1.1, or 3.0 where it differs) to the
 * sink: its distributions sorted into roles (downloadURL: a file; accessURL
 * only: a page, or an API by its type; neither: none; none at all: the
 * dataset's own accessURL, webService or landing page), with counts of
 * what was odd. Used by data.json, ArcGIS Hub feeds and data.gov's API.
 */
int sv_catalog_dcat_dataset(const sv_catalog_sink *sink, const json_t *ds);

/* 1 when url (absolute, normalised) is an ArcGIS FeatureServer/MapServer layer: ".../FeatureServer/3". */
int sv_catalog_is_arcgis_layer(const char *url);

#endif
