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

#include "../seeds/sheet.h"

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
 * At the start of a crawl: every active catalog row with nothing queued or
 * leased starts its next pass (its first request queued again); a row with
 * a pass under way goes on with it. *started counts the passes started.
 */
struct sv_queue;
int sv_catalog_start_passes(struct sv_queue *q, size_t *started);

/* ---- for the readers ---- */

extern const sv_catalog_reader sv_catalog_dcat, sv_catalog_ckan, sv_catalog_socrata, sv_catalog_datagov,
	sv_catalog_arcgis_services, sv_catalog_arcgis_layer, sv_catalog_arcgis_ids, sv_catalog_arcgis_batch,
	sv_catalog_probe;

/* The string at key of object o, or NULL when absent, not a string, or only blanks. */
const char *sv_catalog_str(const json_t *o, const char *key);

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
