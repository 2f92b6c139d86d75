/*
 * crawler/catalog_arcgis.c -- ArcGIS REST services: directories, services
 * and layers, each layer exported whole in batches of features.
 *
 * A row is a layer (".../FeatureServer/3": step arcgis-layer, asked for as
 * <layer>?f=json), a services directory, folder or service (a URL with
 * /rest/services: arcgis-services, ?f=json), or else an ArcGIS Hub site
 * (step dcat: <site>/api/feed/dcat-us/1.1.json, unless the URL names a
 * .json already).
 *
 * A directory asks for its folders and its FeatureServer and MapServer
 * services (other services, an ImageServer, a GPServer, are passed on as
 * APIs for a human: other_service); a service asks for each of its layers
 * and tables; a group layer for its sublayers. A layer is described
 * (objectIdField, else the field of type esriFieldTypeOID, else OBJECTID:
 * no_oid_field; maxRecordCount, else 1000: no_max_record_count; kept
 * within 1..2000; a layer without the Query capability is passed on for a
 * human: no_query) and its object ids asked for (arcgis-ids). The ids,
 * sorted and without repeats (duplicate_ids), are cut into runs of at most
 * maxRecordCount, and each run is a batch: a query for the ids from its
 * first to its last (where oid>=a AND oid<=b: a short URL whatever the
 * run, where a list of 1000 ids would pass URL limits) with the number of
 * features it must hold. The layer is one dataset whose distributions are
 * its batches, passed in calls of at most BATCHES_PER_CALL (same
 * identifier) for layers of millions of features; an empty layer is a
 * dataset with none (empty_layer). At most IDS_MAX ids are kept, 8 bytes
 * each: a larger layer fails its ids answer ("too many ids").
 *
 * A batch's answer (arcgis-batch, f=geojson or f=json) is counted, never
 * trusted by exceededTransferLimit alone: fewer features than the batch
 * must hold, but some, keep what came and ask for the rest (where oid>m AND
 * oid<=b, m the largest id received, by the answer's objectIdFieldName if
 * it names one: short_batch); none fails it ("0 of N features"); more is
 * counted (batch_over). Only ids are collected from a feature (its id, its
 * properties' or attributes' oid), never its geometry. An `error` envelope,
 * which ArcGIS sends with HTTP 200, fails any step's answer.
 *
 * Each branch of the listing ends (the sink's end) where nothing more is
 * asked: with a layer's ids, a layer that cannot be queried, or an empty
 * directory or service.
 *
 * States: layer {}; ids {layer, oid, max, name}; batch {layer, oid, a, b,
 * expect} (a missing layer is the answer URL's, a missing oid OBJECTID).
 */
#include "catalog.h"

#include "../common/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IDS_MAX 20000000      /* object ids kept for one layer: 8 bytes each */
#define MAX_RECORDS 2000      /* the largest batch asked for */
#define DEFAULT_RECORDS 1000  /* a layer that does not say its maxRecordCount */
#define SUBLAYERS_MAX 10000   /* sublayers asked for from one group layer */
#define BATCHES_PER_CALL 1000 /* distributions per call of the sink's dataset */
#define NAME_MAX_BYTES 1024   /* a longer layer or field name is not carried in a state */

/* ---- URLs ---- */

/* The length of url up to a layer's id (".../FeatureServer/3"), or 0 when it names no layer. */
static size_t layer_len(const char *url)
{
	const char *p = url ? strcasestr(url, "/FeatureServer/") : NULL;
	if (!p)
		p = url ? strcasestr(url, "/MapServer/") : NULL;
	if (!p)
		return 0;
	p = strchr(p + 1, '/') + 1;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '\0' || *p == '/' || *p == '?' || *p == '#' ? (size_t)(p - url) : 0;
}

int sv_catalog_is_arcgis_layer(const char *url)
{
	return layer_len(url) > 0;
}

/* The first n bytes of url, a path added (segments encoded), then ?f=json (malloc'd). */
static char *json_url(const char *url, size_t n, const char *path)
{
	sv_catalog_url u = {0};
	sv_catalog_url_raw(&u, url, n);
	if (path) {
		sv_catalog_url_raw(&u, "/", 1);
		sv_catalog_url_enc(&u, path, 1);
	}
	sv_catalog_url_param(&u, "f", "json");
	return sv_catalog_url_take(&u);
}

char *sv_catalog_arcgis_first(const char *url, const char **step, json_t **state)
{
	size_t n = layer_len(url);
	*state = json_object();
	if (n) {
		*step = "arcgis-layer";
		return json_url(url, n, NULL);
	}
	n = sv_catalog_base_len(url);
	if (strcasestr(url, "/rest/services")) {
		*step = "arcgis-services";
		return json_url(url, n, NULL);
	}
	*step = "dcat"; /* an ArcGIS Hub site: its DCAT-US feed */
	if (n >= 5 && !strncasecmp(url + n - 5, ".json", 5))
		return strdup(url);
	sv_catalog_url u = {0};
	sv_catalog_url_raw(&u, url, n);
	sv_catalog_url_raw(&u, "/api/feed/dcat-us/1.1.json", 26);
	return sv_catalog_url_take(&u);
}

/* A batch's query: the features whose oid is (op a) and <= b, ordered, as GeoJSON (malloc'd). */
static char *batch_url(const char *layer, const char *oid, const char *op, int64_t a, int64_t b)
{
	sv_catalog_url w = {0}, u = {0};
	char num[64];
	sv_catalog_url_raw(&w, oid, strlen(oid));
	snprintf(num, sizeof(num), "%s%lld AND ", op, (long long)a);
	sv_catalog_url_raw(&w, num, strlen(num));
	sv_catalog_url_raw(&w, oid, strlen(oid));
	snprintf(num, sizeof(num), "<=%lld", (long long)b);
	sv_catalog_url_raw(&w, num, strlen(num));
	char *where = sv_catalog_url_take(&w);
	if (!where)
		return NULL;
	sv_catalog_url_raw(&u, layer, strlen(layer));
	sv_catalog_url_raw(&u, "/query", 6);
	sv_catalog_url_param(&u, "where", where);
	sv_catalog_url_param(&u, "outFields", "*");
	sv_catalog_url_param(&u, "orderByFields", oid);
	sv_catalog_url_param(&u, "returnGeometry", "true");
	sv_catalog_url_param(&u, "f", "geojson");
	free(where);
	return sv_catalog_url_take(&u);
}

/* One dataset for a layer, its distributions dists (already built). */
static int layer_dataset(const sv_catalog_sink *sink, const char *layer, const char *name, const sv_catalog_dist *dists,
			 size_t n)
{
	sv_catalog_dataset d = {layer, name, NULL, NULL, NULL, NULL, dists, n};
	return sink->dataset(sink->ctx, &d);
}

/* A reader that keeps its answer's URL without the query: the directory, service or layer asked about. */
typedef struct {
	sv_catalog_stream s;
	char *base;
} based;

static int based_open(void **out, size_t size, const char *url, const sv_catalog_sink *sink, sv_js_want_fn want,
		      sv_js_value_fn value)
{
	based *r;
	size_t n = layer_len(url);
	int rc = sv_catalog_reader_new((void **)&r, size, url, NULL, sink, want, value);
	if (rc)
		return rc;
	if (!(r->base = strndup(url, n ? n : sv_catalog_base_len(url)))) {
		sv_catalog_reader_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*out = r;
	return 0;
}

static void based_free(void *state)
{
	based *r = state;
	if (r)
		free(r->base);
	sv_catalog_reader_free(r);
}

/* ---- services: a directory, a folder, a FeatureServer or MapServer ---- */

typedef struct {
	based b;
	int recognised; /* folders, services, layers or tables were seen */
	int asked;      /* requests made */
} services;

static sv_js_action services_want(void *ctx, const sv_js_path *p)
{
	services *r = ctx;
	static const char *const lists[] = {"folders", "services", "layers", "tables"};
	if (p->depth == 0)
		return SV_JS_DESCEND;
	if (sv_catalog_is_error(p))
		return SV_JS_COLLECT;
	const char *key = p->frames[0].key;
	for (size_t i = 0; key && i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (strcmp(key, lists[i]))
			continue;
		r->recognised = 1;
		return p->depth == 1 ? SV_JS_DESCEND : p->depth == 2 ? SV_JS_COLLECT : SV_JS_SKIP;
	}
	return SV_JS_SKIP;
}

/* The services root of the answer's URL (".../rest/services"): its length. */
static size_t root_len(const char *base)
{
	const char *p = strcasestr(base, "/rest/services");
	return p ? (size_t)(p - base) + 14 : strlen(base);
}

/* A service of the directory: ".../rest/services/<name>/<type>" (malloc'd). */
static char *service_url(const char *base, const char *name, const char *type)
{
	sv_catalog_url u = {0};
	sv_catalog_url_raw(&u, base, root_len(base));
	sv_catalog_url_raw(&u, "/", 1);
	sv_catalog_url_enc(&u, name, 1);
	sv_catalog_url_raw(&u, "/", 1);
	sv_catalog_url_enc(&u, type, 0);
	return sv_catalog_url_take(&u);
}

static int service(services *r, const json_t *v)
{
	const char *name = sv_catalog_str(v, "name"), *type = sv_catalog_str(v, "type");
	char *url;
	int rc;
	if (!name || !type) {
		sv_catalog_count(r->b.s.sink, "not_a_service", 1);
		return 0;
	}
	if (!(url = service_url(r->b.base, name, type)))
		return sv_error_set(SV_EIO, "out of memory");
	if (!strcasecmp(type, "FeatureServer") || !strcasecmp(type, "MapServer")) {
		r->asked++;
		rc = sv_catalog_request(r->b.s.sink, json_url(url, strlen(url), NULL), "arcgis-services",
					json_object());
	} else {
		sv_catalog_dist api = {url, NULL, type, NULL, SV_DIST_API, -1, NULL};
		sv_catalog_count(r->b.s.sink, "other_service", 1);
		rc = layer_dataset(r->b.s.sink, url, name, &api, 1);
	}
	free(url);
	return rc;
}

static int folder(services *r, const json_t *v)
{
	const char *name = json_string_value(v);
	if (!name || !*name) {
		sv_catalog_count(r->b.s.sink, "not_a_folder", 1);
		return 0;
	}
	r->asked++;
	return sv_catalog_request(r->b.s.sink, json_url(r->b.base, root_len(r->b.base), name), "arcgis-services",
				  json_object());
}

/* A layer or table of a service, or a sublayer of a group layer: asked for by its id. */
static int sublayer(const sv_catalog_sink *sink, const char *service, size_t n, const json_t *id)
{
	char num[32];
	if (!json_is_integer(id)) {
		sv_catalog_count(sink, "not_a_layer", 1);
		return 0;
	}
	snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(id));
	return sv_catalog_request(sink, json_url(service, n, num), "arcgis-layer", json_object());
}

static int services_value(void *ctx, const sv_js_path *p, json_t *v)
{
	services *r = ctx;
	const char *list = p->frames[0].key;
	if (sv_catalog_is_error(p))
		return sv_catalog_keep_error(&r->b.s, v);
	if (!strcmp(list, "services"))
		return service(r, v);
	if (!strcmp(list, "folders"))
		return folder(r, v);
	r->asked++;
	return sublayer(r->b.s.sink, r->b.base, strlen(r->b.base), json_object_get(v, "id"));
}

static void services_finish(void *state)
{
	services *r = state;
	if (sv_catalog_stream_finish(&r->b.s, "ArcGIS"))
		return;
	if (!r->recognised)
		sv_catalog_fail(&r->b.s, "not an ArcGIS services directory or service");
	else if (!r->asked)
		sv_catalog_end(&r->b.s);
}

static int services_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	(void)state;
	return based_open(out, sizeof(services), url, sink, services_want, services_value);
}

const sv_catalog_reader sv_catalog_arcgis_services = {"arcgis-services", services_open, sv_catalog_feed,
						      services_finish, based_free};

/* ---- a layer's description ---- */

typedef struct {
	based b;
	json_t *info; /* objectIdField, maxRecordCount, name, type, capabilities; oidField from fields[] */
	json_t *subs; /* the ids of a group layer's sublayers */
	int recognised;
} layer;

static int is_info_key(const char *key)
{
	static const char *const keys[] = {"objectIdField", "maxRecordCount", "name", "type", "capabilities"};
	for (size_t i = 0; key && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i]))
			return 1;
	return 0;
}

static sv_js_action layer_want(void *ctx, const sv_js_path *p)
{
	layer *r = ctx;
	const char *key = p->depth ? p->frames[0].key : NULL;
	if (p->depth == 0)
		return SV_JS_DESCEND;
	if (sv_catalog_is_error(p) || (p->depth == 1 && is_info_key(key)))
		return SV_JS_COLLECT;
	if (key && (!strcmp(key, "fields") || !strcmp(key, "subLayers"))) {
		r->recognised = 1;
		return p->depth == 1 ? SV_JS_DESCEND : p->depth == 2 ? SV_JS_COLLECT : SV_JS_SKIP;
	}
	return SV_JS_SKIP;
}

static int layer_value(void *ctx, const sv_js_path *p, json_t *v)
{
	layer *r = ctx;
	const char *key = p->frames[0].key, *type = sv_catalog_str(v, "type");
	if (sv_catalog_is_error(p))
		return sv_catalog_keep_error(&r->b.s, v);
	if (!v)
		return 0;
	if (p->depth == 1)
		return json_object_set(r->info, key, v) ? sv_error_set(SV_EIO, "out of memory") : 0;
	if (!strcmp(key, "fields")) {
		if (type && !strcmp(type, "esriFieldTypeOID") && !json_object_get(r->info, "oidField"))
			json_object_set(r->info, "oidField", json_object_get(v, "name"));
		return 0;
	}
	if (json_array_size(r->subs) >= SUBLAYERS_MAX) {
		sv_catalog_count(r->b.s.sink, "sublayers_over_cap", 1);
		return 0;
	}
	return json_array_append(r->subs, json_object_get(v, "id")) ? sv_error_set(SV_EIO, "out of memory") : 0;
}

/* The record count a layer's batches are cut by: its maxRecordCount within 1..MAX_RECORDS. */
static int64_t batch_size(layer *r)
{
	const json_t *v = json_object_get(r->info, "maxRecordCount");
	int64_t max = sv_catalog_int(r->info, "maxRecordCount", DEFAULT_RECORDS);
	if (!json_is_number(v))
		sv_catalog_count(r->b.s.sink, "no_max_record_count", 1);
	return max < 1 ? 1 : max > MAX_RECORDS ? MAX_RECORDS : max;
}

/* A name the layer gives, unless it is too long to carry in a state. */
static const char *short_name(const layer *r, const char *key)
{
	const char *s = sv_catalog_str(r->info, key);
	return s && strlen(s) <= NAME_MAX_BYTES ? s : NULL;
}

static int ask_ids(layer *r)
{
	const char *oid = short_name(r, "objectIdField");
	sv_catalog_url u = {0};
	if (!oid)
		oid = short_name(r, "oidField");
	if (!oid) {
		oid = "OBJECTID";
		sv_catalog_count(r->b.s.sink, "no_oid_field", 1);
	}
	sv_catalog_url_raw(&u, r->b.base, strlen(r->b.base));
	sv_catalog_url_raw(&u, "/query", 6);
	sv_catalog_url_param(&u, "where", "1=1");
	sv_catalog_url_param(&u, "returnIdsOnly", "true");
	sv_catalog_url_param(&u, "f", "json");
	return sv_catalog_request(r->b.s.sink, sv_catalog_url_take(&u), "arcgis-ids",
				  json_pack("{s:s, s:s, s:I, s:s*}", "layer", r->b.base, "oid", oid, "max",
					    (json_int_t)batch_size(r), "name", short_name(r, "name")));
}

/* A group layer: its sublayers, siblings in the same service, are asked for. */
static int ask_sublayers(layer *r)
{
	size_t i, service = (size_t)(strrchr(r->b.base, '/') - r->b.base);
	json_t *id;
	int rc = 0;
	sv_catalog_count(r->b.s.sink, "group_layer", 1);
	json_array_foreach(r->subs, i, id)
		if (!rc)
			rc = sublayer(r->b.s.sink, r->b.base, service, id);
	return rc;
}

/* A layer that cannot be queried: passed on as a service for a human. */
static int not_queryable(layer *r)
{
	sv_catalog_dist api = {r->b.base, NULL, NULL, NULL, SV_DIST_API, -1, NULL};
	sv_catalog_count(r->b.s.sink, "no_query", 1);
	int rc = layer_dataset(r->b.s.sink, r->b.base, sv_catalog_str(r->info, "name"), &api, 1);
	if (!rc)
		sv_catalog_end(&r->b.s);
	return rc;
}

static void layer_finish(void *state)
{
	layer *r = state;
	const char *caps = sv_catalog_str(r->info, "capabilities");
	int rc;
	if (sv_catalog_stream_finish(&r->b.s, "ArcGIS"))
		return;
	if (!r->recognised && !json_object_get(r->info, "type")) {
		sv_catalog_fail(&r->b.s, "not an ArcGIS layer");
		return;
	}
	if (json_array_size(r->subs))
		rc = ask_sublayers(r);
	else if (caps && !strcasestr(caps, "query"))
		rc = not_queryable(r);
	else
		rc = ask_ids(r);
	if (rc)
		sv_catalog_fail(&r->b.s, "%s", sv_error_last());
}

static void layer_free(void *state)
{
	layer *r = state;
	if (r) {
		json_decref(r->info);
		json_decref(r->subs);
	}
	based_free(r);
}

static int layer_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	layer *r;
	int rc = based_open((void **)&r, sizeof(*r), url, sink, layer_want, layer_value);
	(void)state;
	if (rc)
		return rc;
	r->info = json_object();
	r->subs = json_array();
	if (!r->info || !r->subs) {
		layer_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*out = r;
	return 0;
}

const sv_catalog_reader sv_catalog_arcgis_layer = {"arcgis-layer", layer_open, sv_catalog_feed, layer_finish,
						   layer_free};

/* ---- the readers of a layer's ids and batches: the layer and its object-id field ---- */

typedef struct {
	sv_catalog_stream s;
	char *layer; /* the state's, else the answer URL's layer */
	char *oid;   /* the state's, else OBJECTID */
} of_layer;

/* What the batch reader of one batch needs: its layer, the id field, the batch's last id and its size. */
static json_t *batch_state(const of_layer *l, int64_t b, int64_t expect)
{
	return json_pack("{s:s, s:s, s:I, s:I}", "layer", l->layer, "oid", l->oid, "b", (json_int_t)b, "expect",
			 (json_int_t)expect);
}

static int of_layer_open(void **out, size_t size, const char *url, json_t *state, const sv_catalog_sink *sink,
			 sv_js_want_fn want, sv_js_value_fn value)
{
	of_layer *r;
	const char *layer = sv_catalog_str(state, "layer"), *oid = sv_catalog_str(state, "oid");
	int rc = sv_catalog_reader_new((void **)&r, size, url, NULL, sink, want, value);
	if (rc)
		return rc;
	r->layer = layer ? strdup(layer) : strndup(url, layer_len(url) ? layer_len(url) : sv_catalog_base_len(url));
	r->oid = strdup(oid ? oid : "OBJECTID");
	if (!r->layer || !r->oid) {
		free(r->layer);
		free(r->oid);
		sv_catalog_reader_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*out = r;
	return 0;
}

static void of_layer_free(void *state)
{
	of_layer *r = state;
	if (r) {
		free(r->layer);
		free(r->oid);
	}
	sv_catalog_reader_free(r);
}

/* The answer names the object-id field (objectIdFieldName): it is the one to query by. */
static int oid_named(of_layer *r, const json_t *v)
{
	const char *oid = json_string_value(v);
	char *copy;
	if (!oid || !*oid || strlen(oid) > NAME_MAX_BYTES)
		return 0;
	if (!(copy = strdup(oid)))
		return sv_error_set(SV_EIO, "out of memory");
	free(r->oid);
	r->oid = copy;
	return 0;
}

/* ---- a layer's object ids, and its batches ---- */

typedef struct {
	of_layer l;
	char *name;
	int64_t max; /* ids per batch */
	int64_t *ids;
	size_t n, cap;
	int listed; /* objectIds was seen */
} ids;

/* objectIds may be null: some servers' answer for an empty layer. */
static sv_js_action ids_want(void *ctx, const sv_js_path *p)
{
	ids *r = ctx;
	return sv_catalog_want_page(p, "objectIds", "objectIdFieldName", &r->listed);
}

static int add_id(ids *r, int64_t id)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4096;
		int64_t *more;
		if (r->cap == IDS_MAX) {
			sv_catalog_fail(&r->l.s, "too many ids: a layer of more than %d features", IDS_MAX);
			return SV_EINVAL;
		}
		if (cap > IDS_MAX)
			cap = IDS_MAX;
		if (!(more = realloc(r->ids, cap * sizeof(*more))))
			return sv_error_set(SV_EIO, "out of memory");
		r->ids = more;
		r->cap = cap;
	}
	r->ids[r->n++] = id;
	return 0;
}

static int ids_value(void *ctx, const sv_js_path *p, json_t *v)
{
	ids *r = ctx;
	if (sv_catalog_is_error(p))
		return sv_catalog_keep_error(&r->l.s, v);
	if (p->depth == 1)
		return oid_named(&r->l, v);
	if (!json_is_integer(v)) {
		sv_catalog_count(r->l.s.sink, "not_an_id", 1);
		return 0;
	}
	return add_id(r, json_integer_value(v));
}

static int by_value(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Sorts the ids and drops repeats. */
static void sort_ids(ids *r)
{
	size_t k = 0;
	if (r->n == 0)
		return;
	qsort(r->ids, r->n, sizeof(*r->ids), by_value);
	for (size_t i = 0; i < r->n; i++)
		if (k == 0 || r->ids[i] != r->ids[k - 1])
			r->ids[k++] = r->ids[i];
	if (k < r->n)
		sv_catalog_count(r->l.s.sink, "duplicate_ids", (int64_t)(r->n - k));
	r->n = k;
}

/* Batches first..first+count-1 of the layer, as distributions, to the sink in one dataset call. */
static int pass_batches(ids *r, size_t first, size_t count, sv_catalog_dist *dists)
{
	size_t k;
	int rc = 0;
	for (k = 0; k < count; k++) {
		size_t from = (first + k) * (size_t)r->max, to = from + (size_t)r->max;
		if (to > r->n)
			to = r->n;
		char *url = batch_url(r->l.layer, r->l.oid, ">=", r->ids[from], r->ids[to - 1]);
		if (!url) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		dists[k] = (sv_catalog_dist){url, "application/geo+json", "GeoJSON", NULL, SV_DIST_DOWNLOAD,
					     (int64_t)(to - from), batch_state(&r->l, r->ids[to - 1], (int64_t)(to - from))};
		if (!dists[k].state) {
			free(url);
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
	}
	if (!rc)
		rc = layer_dataset(r->l.s.sink, r->l.layer, r->name, dists, k);
	while (k > 0) {
		free((char *)dists[--k].url);
		json_decref(dists[k].state);
	}
	return rc;
}

static int all_batches(ids *r)
{
	size_t total = (r->n + (size_t)r->max - 1) / (size_t)r->max;
	sv_catalog_dist *dists = malloc(BATCHES_PER_CALL * sizeof(*dists));
	int rc = 0;
	if (!dists)
		return sv_error_set(SV_EIO, "out of memory");
	sv_catalog_count(r->l.s.sink, "batches", (int64_t)total);
	for (size_t first = 0; !rc && first < total; first += BATCHES_PER_CALL)
		rc = pass_batches(r, first, total - first < BATCHES_PER_CALL ? total - first : BATCHES_PER_CALL, dists);
	free(dists);
	return rc;
}

static void ids_finish(void *state)
{
	ids *r = state;
	int rc;
	if (sv_catalog_stream_finish(&r->l.s, "ArcGIS"))
		return;
	if (!r->listed) {
		sv_catalog_fail(&r->l.s, "not an ArcGIS object ids answer: no objectIds");
		return;
	}
	sort_ids(r);
	if (r->n == 0) {
		sv_catalog_count(r->l.s.sink, "empty_layer", 1);
		rc = layer_dataset(r->l.s.sink, r->l.layer, r->name, NULL, 0);
	} else {
		rc = all_batches(r);
	}
	if (rc)
		sv_catalog_fail(&r->l.s, "%s", sv_error_last());
	else
		sv_catalog_end(&r->l.s);
}

static void ids_free(void *state)
{
	ids *r = state;
	if (r) {
		free(r->name);
		free(r->ids);
	}
	of_layer_free(r);
}

static int ids_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	ids *r;
	const char *name = sv_catalog_str(state, "name");
	int rc = of_layer_open((void **)&r, sizeof(*r), url, state, sink, ids_want, ids_value);
	if (rc)
		return rc;
	r->max = sv_catalog_int(state, "max", DEFAULT_RECORDS);
	if (r->max < 1 || r->max > MAX_RECORDS)
		r->max = r->max < 1 ? 1 : MAX_RECORDS;
	if (name && !(r->name = strdup(name))) {
		ids_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*out = r;
	return 0;
}

const sv_catalog_reader sv_catalog_arcgis_ids = {"arcgis-ids", ids_open, sv_catalog_feed, ids_finish, ids_free};

/* ---- a batch's features ---- */

typedef struct {
	of_layer l;
	int64_t b, expect; /* the batch's last id, and the features it must hold (-1: not said) */
	int64_t received;  /* features */
	int64_t top;       /* the largest id among them */
	int has_top, listed, exceeded;
} batch;

static sv_js_action batch_want(void *ctx, const sv_js_path *p)
{
	batch *r = ctx;
	const sv_js_frame *f = p->frames;
	if (p->depth == 0)
		return SV_JS_DESCEND;
	if (sv_catalog_is_error(p) || sv_js_path_is(p, "exceededTransferLimit") ||
	    sv_js_path_is(p, "objectIdFieldName"))
		return SV_JS_COLLECT;
	if (!f[0].key || strcmp(f[0].key, "features") || (p->depth > 1 && f[1].key))
		return SV_JS_SKIP;
	switch (p->depth) {
	case 1:
		r->listed = 1;
		return SV_JS_DESCEND;
	case 2:
		r->received++; /* counted as it starts: its geometry is never read */
		return SV_JS_DESCEND;
	case 3:
		if (f[2].key && !strcmp(f[2].key, "id"))
			return SV_JS_COLLECT;
		if (f[2].key && (!strcmp(f[2].key, "properties") || !strcmp(f[2].key, "attributes")))
			return SV_JS_DESCEND;
		return SV_JS_SKIP;
	default:
		return p->depth == 4 && f[3].key && !strcasecmp(f[3].key, r->l.oid) ? SV_JS_COLLECT : SV_JS_SKIP;
	}
}

static int batch_value(void *ctx, const sv_js_path *p, json_t *v)
{
	batch *r = ctx;
	if (sv_catalog_is_error(p))
		return sv_catalog_keep_error(&r->l.s, v);
	if (p->depth == 1 && !strcmp(p->frames[0].key, "objectIdFieldName"))
		return oid_named(&r->l, v);
	if (p->depth == 1) {
		r->exceeded = json_is_true(v);
	} else if (json_is_integer(v) && (!r->has_top || json_integer_value(v) > r->top)) {
		r->top = json_integer_value(v);
		r->has_top = 1;
	}
	return 0;
}

/* Fewer features than the batch holds: what came is kept, the rest asked for. */
static int ask_rest(batch *r)
{
	int64_t missing = r->expect - r->received;
	sv_catalog_count(r->l.s.sink, "short_batch", 1);
	if (!r->has_top) {
		sv_catalog_fail(&r->l.s, "%lld of %lld features, none with its %s", (long long)r->received,
				(long long)r->expect, r->l.oid);
		return 0;
	}
	if (r->top >= r->b) {
		sv_catalog_count(r->l.s.sink, "features_gone", missing); /* deleted since the ids were listed */
		return 0;
	}
	char *url = batch_url(r->l.layer, r->l.oid, ">", r->top, r->b);
	sv_catalog_dist rest = {url, "application/geo+json", "GeoJSON", NULL, SV_DIST_DOWNLOAD, missing,
				batch_state(&r->l, r->b, missing)};
	int rc = url && rest.state ? layer_dataset(r->l.s.sink, r->l.layer, NULL, &rest, 1)
				   : sv_error_set(SV_EIO, "out of memory");
	free(url);
	json_decref(rest.state);
	return rc;
}

static void batch_finish(void *state)
{
	batch *r = state;
	if (sv_catalog_stream_finish(&r->l.s, "ArcGIS"))
		return;
	if (!r->listed) {
		sv_catalog_fail(&r->l.s, "not an ArcGIS query answer: no features");
		return;
	}
	if (r->exceeded)
		sv_catalog_count(r->l.s.sink, "exceeded_transfer_limit", 1);
	if (r->expect < 0 || r->received == r->expect)
		return;
	if (r->received > r->expect)
		sv_catalog_count(r->l.s.sink, "batch_over", 1);
	else if (r->received == 0)
		sv_catalog_fail(&r->l.s, "0 of %lld features", (long long)r->expect);
	else if (ask_rest(r))
		sv_catalog_fail(&r->l.s, "%s", sv_error_last());
}

static int batch_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	batch *r;
	int rc = of_layer_open((void **)&r, sizeof(*r), url, state, sink, batch_want, batch_value);
	if (rc)
		return rc;
	r->b = sv_catalog_int(state, "b", INT64_MAX);
	r->expect = sv_catalog_int(state, "expect", -1);
	*out = r;
	return 0;
}

const sv_catalog_reader sv_catalog_arcgis_batch = {"arcgis-batch", batch_open, sv_catalog_feed, batch_finish,
						   of_layer_free};
