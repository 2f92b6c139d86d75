/*
 * crawler/catalog_dcat.c -- DCAT-US catalogs: a data.json (1.1; 3.0 where
 * it differs; the bare array of Project Open Data 1.0), read one dataset at
 * a time however large the file, and the mapping of one DCAT-US dataset
 * object onto datasets and distributions, which ArcGIS Hub feeds and
 * data.gov's API answers share.
 *
 * Where datasets are: the elements of `dataset` at the top, and in DCAT-US
 * 3.0 also in nested catalogs (`catalog[]`, `hasPart[]`) and in a series'
 * `seriesMember[]` (its `first` and `last` repeat members, and are passed
 * by). Everything else of the document is skipped unread.
 */
#include "catalog.h"

#include "jsonstream.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
	sv_catalog_stream s;
	int listed;   /* a dataset list was seen */
	int is_array; /* the document is a bare array of datasets */
} reader;

/* A member that may be a string or an object with a name (publisher, DCAT-US 3.0 style). */
static const char *named(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_object(v))
		return sv_catalog_str(v, "name") ? sv_catalog_str(v, "name") : sv_catalog_str(v, "fn");
	return sv_catalog_str(o, key);
}

static int contains(const char *s, const char *needle)
{
	return s && strcasestr(s, needle) != NULL;
}

/* Whether an accessURL names a service to query rather than a page to read. */
static int looks_like_api(const char *url, const char *media_type, const char *format)
{
	if (sv_catalog_is_service_format(format))
		return 1;
	if (contains(media_type, "wms") || contains(media_type, "wfs") || contains(media_type, "application/http"))
		return 1;
	return contains(url, "service=wms") || contains(url, "service=wfs") || contains(url, "/rest/services") ||
	       contains(url, "/ImageServer") || contains(url, "/GPServer");
}

#define DISTS_MAX 10000 /* distributions taken from one dataset; the rest are counted */

int sv_catalog_dcat_dataset(const sv_catalog_sink *sink, const json_t *ds)
{
	sv_catalog_dataset d = {0};
	sv_catalog_dist one[3], *dists = one;
	size_t n = 0;
	int rc;
	if (!json_is_object(ds)) {
		sv_catalog_count(sink, "not_an_object", 1);
		return 0;
	}
	d.identifier = sv_catalog_str(ds, "identifier");
	if (!d.identifier)
		d.identifier = sv_catalog_str(ds, "@id");
	d.title = sv_catalog_str(ds, "title");
	d.publisher = named(ds, "publisher");
	d.modified = sv_catalog_str(ds, "modified");
	d.landing = sv_catalog_str(ds, "landingPage");
	d.access_level = sv_catalog_str(ds, "accessLevel");
	sv_catalog_count(sink, "datasets", 1);
	if (!d.identifier)
		sv_catalog_count(sink, "no_identifier", 1);
	if (!d.modified)
		sv_catalog_count(sink, json_is_null(json_object_get(ds, "modified")) ? "modified_null" : "no_modified",
				 1);
	else if (d.modified[0] == 'R' && d.modified[1] == '/')
		sv_catalog_count(sink, "modified_interval", 1);

	const json_t *list = json_object_get(ds, "distribution");
	size_t total = json_is_array(list) ? json_array_size(list) : json_is_object(list) ? 1 : 0;
	if (total > DISTS_MAX) {
		sv_catalog_count(sink, "distributions_over_cap", (int64_t)(total - DISTS_MAX));
		total = DISTS_MAX;
	}
	if (total + 2 > sizeof(one) / sizeof(one[0]) && !(dists = malloc((total + 2) * sizeof(*dists))))
		return sv_error_set(SV_EIO, "out of memory");
	int downloads = 0;
	for (size_t i = 0; i < total; i++) {
		const json_t *x = json_is_array(list) ? json_array_get(list, i) : list;
		if (!json_is_object(x)) {
			sv_catalog_count(sink, "not_an_object", 1);
			continue;
		}
		sv_catalog_dist *o = &dists[n++];
		const char *down = sv_catalog_str(x, "downloadURL"), *access = sv_catalog_str(x, "accessURL");
		const json_t *service = json_object_get(x, "accessService");
		*o = (sv_catalog_dist){NULL, sv_catalog_str(x, "mediaType"), sv_catalog_str(x, "format"),
				       sv_catalog_str(x, "title"), SV_DIST_NONE, -1, NULL};
		sv_catalog_count(sink, "distributions", 1);
		if (!o->media_type)
			sv_catalog_count(sink, "no_media_type", 1);
		if (down) {
			o->url = down;
			o->role = sv_catalog_is_arcgis_layer(down) ? SV_DIST_LAYER : SV_DIST_DOWNLOAD;
			downloads++;
			sv_catalog_count(sink, "download_url", 1);
			if (access)
				sv_catalog_count(sink, "both_urls", 1);
		} else if (access) {
			o->url = access;
			o->role = sv_catalog_is_arcgis_layer(access)                  ? SV_DIST_LAYER
				  : looks_like_api(access, o->media_type, o->format) ? SV_DIST_API
										       : SV_DIST_ACCESS;
			sv_catalog_count(sink, "access_url_only", 1);
		} else if (json_is_object(service) && sv_catalog_str(service, "endpointURL")) {
			o->url = sv_catalog_str(service, "endpointURL"); /* DCAT-US 3.0: a data service */
			o->role = SV_DIST_API;
			sv_catalog_count(sink, "access_service", 1);
		} else {
			sv_catalog_count(sink, "neither_url", 1);
		}
	}
	if (n == 0) {
		/* No distribution: what the dataset itself points at (opm: accessURL on the
		 * dataset; webService; else its landing page). */
		const char *access = sv_catalog_str(ds, "accessURL"), *service = sv_catalog_str(ds, "webService");
		sv_catalog_count(sink, "no_distribution", 1);
		if (access)
			dists[n++] = (sv_catalog_dist){access, NULL, NULL, NULL,
						       looks_like_api(access, NULL, NULL) ? SV_DIST_API : SV_DIST_ACCESS, -1, NULL};
		if (service)
			dists[n++] = (sv_catalog_dist){service, NULL, NULL, NULL, SV_DIST_API, -1, NULL};
		if (n == 0 && d.landing)
			dists[n++] = (sv_catalog_dist){d.landing, NULL, NULL, NULL, SV_DIST_ACCESS, -1, NULL};
	} else if (!downloads && d.landing) {
		/* Only pages or services: the landing page may link the files. */
		int listed = 0;
		for (size_t i = 0; i < n; i++)
			listed |= dists[i].url && !strcmp(dists[i].url, d.landing);
		if (!listed)
			dists[n++] = (sv_catalog_dist){d.landing, NULL, NULL, NULL, SV_DIST_ACCESS, -1, NULL};
	}
	if (downloads && d.access_level && strcasecmp(d.access_level, "public"))
		sv_catalog_count(sink, "not_public_with_files", 1);
	d.dists = dists;
	d.ndists = n;
	rc = sink->dataset(sink->ctx, &d);
	if (dists != one)
		free(dists);
	return rc;
}

/* ---- the data.json reader ---- */

static int is_key(const sv_js_frame *f, const char *key)
{
	return f->key && !strcmp(f->key, key);
}

static sv_js_action want(void *ctx, const sv_js_path *p)
{
	reader *r = ctx;
	const sv_js_frame *last = p->depth ? &p->frames[p->depth - 1] : NULL;
	if (p->depth == 0)
		return SV_JS_DESCEND;
	if (p->depth == 1 && !last->key) {
		r->is_array = 1; /* Project Open Data 1.0: the document is the dataset list */
		r->listed = 1;
		return SV_JS_COLLECT;
	}
	if (last->key) {
		if (is_key(last, "dataset") || is_key(last, "seriesMember")) {
			r->listed = 1;
			return SV_JS_DESCEND;
		}
		if (is_key(last, "catalog") || is_key(last, "hasPart") || is_key(last, "datasetSeries"))
			return SV_JS_DESCEND;
		return SV_JS_SKIP;
	}
	/* an array element: a dataset, or a nested catalog or series to look into */
	const sv_js_frame *up = &p->frames[p->depth - 2];
	if (is_key(up, "dataset") || is_key(up, "seriesMember"))
		return SV_JS_COLLECT;
	if (is_key(up, "catalog") || is_key(up, "hasPart") || is_key(up, "datasetSeries"))
		return SV_JS_DESCEND;
	return SV_JS_SKIP;
}

static int on_value(void *ctx, const sv_js_path *p, json_t *v)
{
	reader *r = ctx;
	(void)p;
	if (!v) {
		sv_catalog_count(r->s.sink, "dataset_too_big", 1);
		return 0;
	}
	return sv_catalog_dcat_dataset(r->s.sink, v);
}

static int in_list(const char *key, const char *const *list, size_t n)
{
	for (size_t i = 0; key && i < n; i++)
		if (!strcmp(key, list[i]))
			return 1;
	return 0;
}

/*
 * The members of a dataset and of its distributions that are read; the rest
 * (descriptions, keywords, themes, contact points, spatial and temporal
 * coverage...), most of a data.json's bytes, is passed by unbuilt.
 */
static int keep(void *ctx, const sv_js_path *p)
{
	static const char *const dataset_keys[] = {"identifier",  "@id",	  "title",     "publisher",
						   "modified",    "landingPage", "accessLevel", "distribution",
						   "accessURL",   "webService"};
	static const char *const dist_keys[] = {"downloadURL", "accessURL", "mediaType", "format", "title", "accessService"};
	const sv_js_frame *last = &p->frames[p->depth - 1];
	const sv_js_frame *up = p->depth >= 2 ? &p->frames[p->depth - 2] : NULL;
	const sv_js_frame *up2 = p->depth >= 3 ? &p->frames[p->depth - 3] : NULL;
	(void)ctx;
	if (!up || up->key)
		return 1;
	if (p->depth == 2 || (up2 && (is_key(up2, "dataset") || is_key(up2, "seriesMember"))))
		return in_list(last->key, dataset_keys, sizeof(dataset_keys) / sizeof(dataset_keys[0]));
	if (up2 && is_key(up2, "distribution"))
		return in_list(last->key, dist_keys, sizeof(dist_keys) / sizeof(dist_keys[0]));
	return 1;
}

static int dcat_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	(void)state;
	int rc = sv_catalog_reader_new(out, sizeof(reader), url, NULL, sink, want, on_value);
	if (rc == 0)
		sv_js_set_keep(((reader *)*out)->s.js, keep);
	return rc;
}

static void dcat_finish(void *state)
{
	reader *r = state;
	if (sv_catalog_stream_finish(&r->s, "DCAT"))
		return;
	if (!r->listed) {
		sv_catalog_fail(&r->s, "not a DCAT-US catalog: no dataset list");
		return;
	}
	sv_catalog_end(&r->s);
}

const sv_catalog_reader sv_catalog_dcat = {"dcat", dcat_open, sv_catalog_feed, dcat_finish, sv_catalog_reader_free};
