/*
 * tests/unit/test_catalog.c -- catalog readers on real catalogs
 * (../shared/catalogs, read in place), fed in small and large pieces, and
 * the streaming JSON reader under them.
 */
#include "../../crawler/catalog.h"
#include "../../common/error.h"
#include "../../crawler/jsonstream.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a sink that counts ---- */

typedef struct {
	int64_t datasets, dists, download, access, api, layer, none, meta;
	int64_t no_id, ends, fails;
	char why[512];
	json_t *counts;   /* name -> n */
	json_t *requests; /* [{url, step, state}] */
	json_t *ids;      /* identifiers seen */
	json_t *seen;     /* every dataset: {identifier, title, ..., dists: [{url, role, expect, ...}]} */
} tally;

static const char *const role_names[] = {"download", "access", "api", "layer", "meta", "none"};

static json_t *dist_json(const sv_catalog_dist *x)
{
	return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s, s:I}", "url", x->url, "media_type", x->media_type, "format",
			 x->format, "title", x->title, "role", role_names[x->role], "expect", (json_int_t)x->expect);
}

static int on_dataset(void *ctx, const sv_catalog_dataset *d)
{
	tally *t = ctx;
	json_t *dists = json_array();
	t->datasets++;
	if (!d->identifier)
		t->no_id++;
	else
		json_array_append_new(t->ids, json_string(d->identifier));
	for (size_t i = 0; i < d->ndists; i++) {
		t->dists++;
		json_array_append_new(dists, dist_json(&d->dists[i]));
		switch (d->dists[i].role) {
		case SV_DIST_DOWNLOAD: t->download++; break;
		case SV_DIST_ACCESS: t->access++; break;
		case SV_DIST_API: t->api++; break;
		case SV_DIST_LAYER: t->layer++; break;
		case SV_DIST_META: t->meta++; break;
		case SV_DIST_NONE: t->none++; break;
		}
	}
	json_array_append_new(t->seen, json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o}", "identifier",
						 d->identifier, "title", d->title, "publisher", d->publisher,
						 "modified", d->modified, "landing", d->landing, "access_level",
						 d->access_level, "dists", dists));
	return 0;
}

static int on_request(void *ctx, const char *url, const char *step, json_t *state)
{
	tally *t = ctx;
	json_array_append_new(t->requests, json_pack("{s:s, s:s, s:O?}", "url", url, "step", step, "state", state));
	return 0;
}

static void on_end(void *ctx)
{
	((tally *)ctx)->ends++;
}

static void on_fail(void *ctx, const char *why)
{
	tally *t = ctx;
	t->fails++;
	snprintf(t->why, sizeof(t->why), "%s", why);
}

static void on_count(void *ctx, const char *what, int64_t n)
{
	tally *t = ctx;
	json_int_t was = json_integer_value(json_object_get(t->counts, what));
	json_object_set_new(t->counts, what, json_integer(was + n));
}

static int64_t counted(const tally *t, const char *what)
{
	return json_integer_value(json_object_get(t->counts, what));
}

static void tally_init(tally *t)
{
	memset(t, 0, sizeof(*t));
	t->counts = json_object();
	t->requests = json_array();
	t->ids = json_array();
	t->seen = json_array();
}

static void tally_free(tally *t)
{
	json_decref(t->counts);
	json_decref(t->requests);
	json_decref(t->ids);
	json_decref(t->seen);
}

static void shared_path(char *buf, size_t cap, const char *file)
{
	char root[4096];
	th_repo_root(root, sizeof(root));
	snprintf(buf, cap, "%s/../shared/catalogs/%s", root, file);
}

/* Feeds len bytes to step's reader in pieces of chunk bytes, as a fetcher would (state taken). */
static void feed_bytes(const char *step, const char *buf, size_t len, const char *url, json_t *state, size_t chunk,
		       tally *t)
{
	const sv_catalog_reader *rd = sv_catalog_reader_for(step);
	cr_assert(rd, "a reader for %s", step);
	sv_catalog_sink sink = {t, on_dataset, on_request, on_end, on_fail, on_count};
	void *r = NULL;
	int stopped = 0;
	cr_assert_eq(rd->open(&r, url, state, &sink), 0);
	for (size_t at = 0; !stopped && at < len; at += chunk)
		stopped = rd->feed(r, buf + at, len - at < chunk ? len - at : chunk) != 0;
	if (!stopped)
		rd->finish(r);
	rd->free(r);
	json_decref(state);
}

static char *slurp(const char *file, size_t *len)
{
	char path[4200];
	shared_path(path, sizeof(path), file);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Feeds a file of ../shared/catalogs to step's reader in pieces of chunk bytes (state taken). */
static void read_file_with(const char *step, const char *file, const char *url, json_t *state, size_t chunk, tally *t)
{
	size_t len;
	char *buf = slurp(file, &len);
	feed_bytes(step, buf, len, url, state, chunk, t);
	free(buf);
}

/* Feeds a body given as text (state as JSON text, or NULL). */
static void read_body(const char *step, const char *body, const char *url, const char *state, tally *t)
{
	json_t *st = state ? json_loads(state, 0, NULL) : NULL;
	cr_assert(!state || st, "state %s", state);
	feed_bytes(step, body, strlen(body), url, st, 5, t);
}

/* The request i as "step url", and its state as compact JSON. */
static const char *request_url(const tally *t, size_t i)
{
	return json_string_value(json_object_get(json_array_get(t->requests, i), "url"));
}

static const char *request_step(const tally *t, size_t i)
{
	return json_string_value(json_object_get(json_array_get(t->requests, i), "step"));
}

static void expect_state(const tally *t, size_t i, const char *want)
{
	json_t *expected = json_loads(want, 0, NULL);
	json_t *got = json_object_get(json_array_get(t->requests, i), "state");
	char *text = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert(expected);
	cr_expect(json_equal(expected, got), "state %s, not %s", text, want);
	free(text);
	json_decref(expected);
}

/* Field key of dataset i, and of its distribution j. */
static const char *ds_str(const tally *t, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(t->seen, i), key));
}

static json_t *ds_dist(const tally *t, size_t i, size_t j)
{
	return json_array_get(json_object_get(json_array_get(t->seen, i), "dists"), j);
}

static const char *dist_str(const tally *t, size_t i, size_t j, const char *key)
{
	return json_string_value(json_object_get(ds_dist(t, i, j), key));
}

static int64_t dist_expect(const tally *t, size_t i, size_t j)
{
	return json_integer_value(json_object_get(ds_dist(t, i, j), "expect"));
}

/* What step's reader must fail, once, for why (a part of the reason), saying nothing else: a
 * body, or a file of ../shared/catalogs (a name ending in .json). State is JSON text or NULL. */
static void expect_failure(const char *step, const char *what, const char *url, const char *state, const char *why)
{
	tally t;
	size_t n = strlen(what);
	int file = n > 5 && isalpha((unsigned char)what[0]) && !strcmp(what + n - 5, ".json");
	json_t *st = state ? json_loads(state, 0, NULL) : NULL;
	tally_init(&t);
	if (file)
		read_file_with(step, what, url, st, 64, &t);
	else
		feed_bytes(step, what, n, url, st, 5, &t);
	cr_expect_eq(t.fails, 1, "%s: %s fails once", step, what);
	cr_expect(strstr(t.why, why), "%s: %s: '%s' lacks '%s'", step, what, t.why, why);
	cr_expect_eq(t.datasets + t.ends + (int64_t)json_array_size(t.requests), 0, "%s: %s says nothing else", step,
		     what);
	tally_free(&t);
}

/* ---- DCAT-US on every real catalog, against index.json's own counts ---- */

Test(catalog, dcat_real_catalogs_match_their_index)
{
	char path[4200];
	shared_path(path, sizeof(path), "index.json");
	json_t *index = json_load_file(path, 0, NULL);
	cr_assert(index, "%s", path);
	size_t i, checked = 0;
	json_t *e;
	json_array_foreach(index, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const char *file = json_string_value(json_object_get(e, "file"));
		json_t *stats = json_object_get(e, "stats");
		if (strcmp(kind, "dcat-us") && strcmp(kind, "arcgis-dcat"))
			continue;
		if (strstr(file, "3-0") || strstr(file, "3.0"))
			continue; /* DCAT-US 3.0: counted by the test below (series and nested catalogs) */
		static const size_t chunks[] = {1, 4096, 1 << 20};
		for (size_t c = 0; c < 3; c++) {
			if (chunks[c] == 1 && json_integer_value(json_object_get(e, "bytes")) > 300000)
				continue; /* byte by byte only on the small ones */
			tally t;
			tally_init(&t);
			read_file_with("dcat", file, "https://agency.example.gov/data.json", NULL, chunks[c], &t);
			cr_expect_eq(t.fails, 0, "%s: %s", file, t.why);
			cr_expect_eq(t.ends, 1, "%s: the listing ends", file);
			cr_expect_eq(t.datasets, json_integer_value(json_object_get(stats, "datasets")), "%s datasets", file);
			cr_expect_eq(counted(&t, "distributions"),
				     json_integer_value(json_object_get(stats, "distributions")), "%s distributions", file);
			cr_expect_eq(counted(&t, "download_url"),
				     json_integer_value(json_object_get(stats, "with_downloadURL")), "%s downloadURL", file);
			cr_expect_eq(counted(&t, "access_url_only"),
				     json_integer_value(json_object_get(stats, "accessURL_only")), "%s accessURL only", file);
			cr_expect_eq(counted(&t, "neither_url"), json_integer_value(json_object_get(stats, "no_url")),
				     "%s neither", file);
			cr_expect_eq(t.no_id, json_integer_value(json_object_get(stats, "missing_identifier")),
				     "%s no identifier", file);
			tally_free(&t);
		}
		checked++;
	}
	cr_assert_geq(checked, 20, "the real catalogs were read (%zu)", checked);
	json_decref(index);
}

Test(catalog, dcat_quirks_are_counted_not_fatal)
{
	tally t;
	/* usaid: lone UTF-16 surrogate escapes from a Windows-1252 feed, all in descriptions, which
	 * are passed by unbuilt but still looked at: counted */
	tally_init(&t);
	read_file_with("dcat", "dcat-us/usaid.json", "https://www.usaid.gov/data.json", NULL, 65536, &t);
	cr_assert_eq(t.fails, 0, "%s", t.why);
	cr_expect_gt(counted(&t, "bad_text"), 0, "the surrogates are counted");
	cr_expect_gt(counted(&t, "modified_interval"), 0, "R/P1D");
	tally_free(&t);
	/* lone surrogates where salvage reads (a dataset's title, a distribution's) and where it does not */
	tally_init(&t);
	read_body("dcat",
		  "{\"dataset\":[{\"identifier\":\"a\",\"title\":\"x\\udc92\",\"description\":\"d\\udc92\","
		  "\"distribution\":[{\"title\":\"y\\udc92\",\"description\":\"e\\udc92\","
		  "\"downloadURL\":\"http://a.example/f.csv\"}]}]}",
		  "https://a.example/data.json", NULL, &t);
	cr_assert_eq(t.fails, 0, "%s", t.why);
	cr_expect_eq(counted(&t, "bad_text"), 4, "read or passed by, each is counted");
	tally_free(&t);
	/* philadelphia: modified null, a hhttps:// accessURL (passed on as written, for the sink) */
	tally_init(&t);
	read_file_with("dcat", "dcat-us/philadelphia.json", "https://www.opendataphilly.org/data.json", NULL, 8192, &t);
	cr_expect_eq(counted(&t, "modified_null"), 391);
	tally_free(&t);
	/* opm: no distributions; the datasets' own accessURL or landing page stand in */
	tally_init(&t);
	read_file_with("dcat", "dcat-us/opm.json", "https://www.opm.gov/data.json", NULL, 8192, &t);
	cr_expect_eq(t.datasets, 134);
	cr_expect_eq(counted(&t, "no_distribution"), 134);
	cr_expect_gt(t.access, 0);
	tally_free(&t);
	/* gsa: 8 distributions with neither URL are passed on as such */
	tally_init(&t);
	read_file_with("dcat", "dcat-us/gsa.json", "https://www.gsa.gov/data.json", NULL, 8192, &t);
	cr_expect_eq(t.none, 8);
	cr_expect_gt(counted(&t, "not_public_with_files"), 0);
	tally_free(&t);
}

Test(catalog, dcat_3_series_and_nested_catalogs)
{
	tally t;
	tally_init(&t);
	read_file_with("dcat", "dcat-us/test-dcatus3-0-nested-catalog.json", "https://example.gov/data.json", NULL, 7, &t);
	cr_expect_eq(t.fails, 0, "%s", t.why);
	cr_expect_eq(t.datasets, 3, "parent, child and grandchild catalogs");
	tally_free(&t);
	tally_init(&t);
	read_file_with("dcat", "dcat-us/test-dcatus3-0-series-with-members.json", "https://example.gov/data.json", NULL,
		       7, &t);
	cr_expect_eq(t.datasets, 2, "each series member once (first/last repeat them)");
	tally_free(&t);
	tally_init(&t);
	read_file_with("dcat", "dcat-us/test-dcatus3-0-with-services.json", "https://example.gov/data.json", NULL, 64, &t);
	cr_expect_eq(t.fails, 0, "%s", t.why);
	cr_expect_geq(t.datasets, 1);
	tally_free(&t);
}

/* Not a catalog: an HTML page served as data.json, a JSON object with no dataset list, a cut file. */
Test(catalog, dcat_not_a_catalog_fails_the_answer)
{
	static const char *const bodies[] = {
		"<!doctype html><html><body>Not found</body></html>",
		"{\"error\": {\"code\": 400, \"message\": \"Invalid URL\"}}",
		"{\"dataset\": [{\"identifier\": \"a\", \"title\": \"cut",
	};
	for (size_t i = 0; i < 3; i++) {
		tally t;
		tally_init(&t);
		sv_catalog_sink sink = {&t, on_dataset, on_request, on_end, on_fail, on_count};
		void *r = NULL;
		cr_assert_eq(sv_catalog_dcat.open(&r, "https://a.gov/data.json", NULL, &sink), 0);
		if (sv_catalog_dcat.feed(r, bodies[i], strlen(bodies[i])) == 0)
			sv_catalog_dcat.finish(r);
		sv_catalog_dcat.free(r);
		cr_expect_eq(t.fails, 1, "body %zu fails", i);
		cr_expect_eq(t.ends, 0, "body %zu does not end a listing", i);
		tally_free(&t);
	}
}

/* ---- first requests ---- */

typedef struct {
	sv_sheet_kind kind;
	char url[200], want[300], step[20], state[120];
} first_case;

static first_case firsts[] = {
	{SV_SHEET_DCAT, "https://www.agency.gov/data.json", "https://www.agency.gov/data.json", "dcat", "{}"},
	{SV_SHEET_CKAN, "https://data.example.gov/",
	 "https://data.example.gov/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000", "ckan", "{\"rows\":1000}"},
	{SV_SHEET_CKAN, "https://data.example.gov/ckan",
	 "https://data.example.gov/ckan/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000", "ckan",
	 "{\"rows\":1000}"},
	{SV_SHEET_CKAN, "https://data.example.gov/ckan/api/3/action/package_search?q=water&rows=10",
	 "https://data.example.gov/ckan/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000", "ckan",
	 "{\"rows\":1000}"},
	{SV_SHEET_CKAN, "https://www.envidat.ch/api/action/package_list",
	 "https://www.envidat.ch/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000", "ckan", "{\"rows\":1000}"},
	{SV_SHEET_CKAN, "https://data.example.gov/api/3",
	 "https://data.example.gov/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000", "ckan", "{\"rows\":1000}"},
	{SV_SHEET_SOCRATA, "https://data.cityofchicago.org/browse?q=crime",
	 "https://data.cityofchicago.org/api/catalog/v1?domains=data.cityofchicago.org&search_context=data.cityofchicago.org"
	 "&only=dataset&limit=1000&scroll_id=",
	 "socrata", "{\"limit\":1000}"},
	{SV_SHEET_SOCRATA, "http://127.0.0.1:8080/",
	 "http://127.0.0.1:8080/api/catalog/v1?domains=127.0.0.1&search_context=127.0.0.1&only=dataset&limit=1000"
	 "&scroll_id=",
	 "socrata", "{\"limit\":1000}"},
	/* data.gov: probed (its search API, else CKAN), not assumed */
	{SV_SHEET_DATAGOV, "https://api.gsa.gov/technology/datagov/v4",
	 "https://api.gsa.gov/technology/datagov/v4/search?per_page=1", "probe",
	 "{\"i\":0,\"base\":\"https://api.gsa.gov/technology/datagov/v4\",\"family\":\"datagov\"}"},
	{SV_SHEET_DATAGOV, "https://catalog.data.gov/", "https://catalog.data.gov/search?per_page=1", "probe",
	 "{\"i\":0,\"base\":\"https://catalog.data.gov\",\"family\":\"datagov\"}"},
	{SV_SHEET_DATAGOV, "https://catalog.data.gov/search?q=water", "https://catalog.data.gov/search?per_page=1",
	 "probe", "{\"i\":0,\"base\":\"https://catalog.data.gov\",\"family\":\"datagov\"}"},
	{SV_SHEET_AUTO, "https://data.city.gov/", "https://data.city.gov/data.json", "probe",
	 "{\"i\":0,\"base\":\"https://data.city.gov\",\"family\":\"auto\"}"},
	{SV_SHEET_ARCGIS, "https://services1.arcgis.com/AbC/arcgis/rest/services/Parcels/FeatureServer/3",
	 "https://services1.arcgis.com/AbC/arcgis/rest/services/Parcels/FeatureServer/3?f=json", "arcgis-layer", "{}"},
	{SV_SHEET_ARCGIS, "https://gis.city.gov/arcgis/rest/services/Base/MapServer/12/query?where=1%3D1&f=json",
	 "https://gis.city.gov/arcgis/rest/services/Base/MapServer/12?f=json", "arcgis-layer", "{}"},
	{SV_SHEET_ARCGIS, "https://gis.city.gov/arcgis/rest/services",
	 "https://gis.city.gov/arcgis/rest/services?f=json", "arcgis-services", "{}"},
	{SV_SHEET_ARCGIS, "https://gis.city.gov/arcgis/rest/services/Hosted/Roads/FeatureServer/?f=pjson",
	 "https://gis.city.gov/arcgis/rest/services/Hosted/Roads/FeatureServer?f=json", "arcgis-services", "{}"},
	{SV_SHEET_ARCGIS, "https://data-city.opendata.arcgis.com/",
	 "https://data-city.opendata.arcgis.com/api/feed/dcat-us/1.1.json", "dcat", "{}"},
	{SV_SHEET_ARCGIS, "https://hub.city.gov/api/feed/dcat-us/1.1.json",
	 "https://hub.city.gov/api/feed/dcat-us/1.1.json", "dcat", "{}"},
};

ParameterizedTestParameters(catalog, first_request)
{
	return cr_make_param_array(first_case, firsts, sizeof(firsts) / sizeof(firsts[0]));
}

ParameterizedTest(first_case *c, catalog, first_request)
{
	char *url = NULL;
	const char *step = NULL;
	json_t *state = NULL, *want = json_loads(c->state, 0, NULL);
	cr_assert_eq(sv_catalog_first(c->kind, c->url, &url, &step, &state), 0, "%s", c->url);
	cr_expect_str_eq(url, c->want, "%s", c->url);
	cr_expect_str_eq(step, c->step, "%s", c->url);
	cr_expect(json_equal(state, want), "%s: state", c->url);
	cr_expect(sv_catalog_reader_for(step), "%s has a reader", step);
	free(url);
	json_decref(state);
	json_decref(want);
}

Test(catalog, first_request_of_a_site_is_refused)
{
	char *url = (char *)1;
	const char *step;
	json_t *state = (json_t *)1;
	cr_expect_eq(sv_catalog_first(SV_SHEET_SITE, "https://a.gov/", &url, &step, &state), SV_EINVAL);
	cr_expect_null(url);
	cr_expect_null(state);
}

Test(catalog, url_parameters_are_replaced_not_repeated)
{
	static const struct {
		const char *url, *key, *value, *want;
	} cases[] = {
		{"https://a.gov/s?x=1&after=abc&afterwards=2", "after", "d e", "https://a.gov/s?x=1&afterwards=2&after=d%20e"},
		{"https://a.gov/s?after=1&after=2", "after", NULL, "https://a.gov/s"},
		{"https://a.gov/s", "fq", "id:{\"a\" TO *]", "https://a.gov/s?fq=id%3A%7B%22a%22%20TO%20*%5D"},
		{"https://a.gov/s?scroll_id=&limit=3", "scroll_id", "ab-12", "https://a.gov/s?limit=3&scroll_id=ab-12"},
		{"https://a.gov/s?a=1#frag", "b", "\xC3\xA9/?&=", "https://a.gov/s?a=1&b=%C3%A9%2F%3F%26%3D"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = sv_catalog_url_set(cases[i].url, cases[i].key, cases[i].value);
		cr_expect_str_eq(got, cases[i].want, "case %zu", i);
		free(got);
	}
}

/* ---- CKAN ---- */

#define CKAN_PAGE "https://data.example.gov/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000"

typedef struct {
	char file[64], url[160];
	int64_t datasets, resources, download, api, ends;
	char next[300], state[200], counted[20];
} ckan_file_case;

/* Every real package_search answer: its packages and resources, and where the listing goes next.
 * EnviDat's and demo.ckan.org's recordings were not asked sorted by id, and show it. */
static ckan_file_case ckan_files[] = {
	{"ckan/envidat-package_search.json", "https://www.envidat.ch/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000",
	 2, 5, 5, 0, 0, "https://www.envidat.ch/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000&start=2",
	 "{\"rows\":1000,\"offset\":2}", "sort_ignored"},
	{"ckan/demo.ckan.org-package_search.json", "https://demo.ckan.org/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000",
	 3, 3, 3, 0, 1, "", "", ""},
	{"ckan/opendata.swiss-package_search.json", "https://ckan.opendata.swiss/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000",
	 2, 3, 3, 0, 0,
	 "https://ckan.opendata.swiss/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000"
	 "&fq=id%3A%7B%2267744344-9598-468c-b210-e680c62402a8%22%20TO%20*%5D",
	 "{\"rows\":1000,\"after\":\"67744344-9598-468c-b210-e680c62402a8\"}", "rows_capped"},
	{"ckan/data.go.id-package_search.json", CKAN_PAGE, 2, 16, 4, 12, 0,
	 CKAN_PAGE "&fq=id%3A%7B%220000aa74-bced-4e2d-a984-f816b1059523%22%20TO%20*%5D",
	 "{\"rows\":1000,\"after\":\"0000aa74-bced-4e2d-a984-f816b1059523\"}", "rows_capped"},
	{"ckan/stadt-zuerich-package_search-result.json", CKAN_PAGE, 3, 26, 16, 10, 0,
	 CKAN_PAGE "&fq=id%3A%7B%22d81e2da4-b3a2-4f51-8be2-a87b7d967ce9%22%20TO%20*%5D",
	 "{\"rows\":1000,\"after\":\"d81e2da4-b3a2-4f51-8be2-a87b7d967ce9\"}", "rows_capped"},
};

ParameterizedTestParameters(catalog, ckan_real_pages)
{
	return cr_make_param_array(ckan_file_case, ckan_files, sizeof(ckan_files) / sizeof(ckan_files[0]));
}

ParameterizedTest(ckan_file_case *c, catalog, ckan_real_pages)
{
	static const size_t chunks[] = {1, 4096};
	for (size_t k = 0; k < 2; k++) {
		tally t;
		tally_init(&t);
		read_file_with("ckan", c->file, c->url, json_pack("{s:i}", "rows", 1000), chunks[k], &t);
		cr_expect_eq(t.fails, 0, "%s: %s", c->file, t.why);
		cr_expect_eq(t.datasets, c->datasets, "%s datasets", c->file);
		cr_expect_eq(counted(&t, "resources"), c->resources, "%s resources", c->file);
		cr_expect_eq(t.download, c->download, "%s downloads", c->file);
		cr_expect_eq(t.api, c->api, "%s services", c->file);
		cr_expect_eq(t.ends, c->ends, "%s ends", c->file);
		cr_expect_eq(json_array_size(t.requests), c->ends ? 0u : 1u, "%s: one next page or none", c->file);
		if (!c->ends) {
			cr_expect_str_eq(request_url(&t, 0), c->next, "%s", c->file);
			cr_expect_str_eq(request_step(&t, 0), "ckan");
			expect_state(&t, 0, c->state);
			cr_expect_eq(counted(&t, c->counted), 1, "%s: %s", c->file, c->counted);
		}
		tally_free(&t);
	}
}

/* The fields of real packages: language maps, organizations, landing pages. */
Test(catalog, ckan_packages_become_datasets)
{
	tally t;
	tally_init(&t);
	read_file_with("ckan", "ckan/opendata.swiss-package_search.json",
		       "https://ckan.opendata.swiss/api/3/action/package_search?q=*%3A*&sort=id%20asc&rows=1000", NULL,
		       512, &t);
	cr_assert_eq(t.datasets, 2);
	cr_expect_str_eq(ds_str(&t, 0, "identifier"), "0f2a6c5c-25a9-4850-bfc8-b43b0dc37477");
	cr_expect_str_eq(ds_str(&t, 0, "title"),
			 "Formulierte Gesetzesinitiative \xC2\xAB" "Energiepolitik nur mit der Bev\xC3\xB6lkerung\xC2\xBB vom 7. November 2024",
			 "en is blank: de");
	cr_expect_str_eq(ds_str(&t, 0, "publisher"), "Canton of Basel-Country");
	cr_expect_str_eq(ds_str(&t, 0, "modified"), "2026-08-05T04:22:25.254475");
	cr_expect_str_eq(ds_str(&t, 0, "access_level"), "public");
	cr_expect_str_eq(ds_str(&t, 0, "landing"),
			 "https://ckan.opendata.swiss/dataset/"
			 "formulierte-gesetzesinitiative-energiepolitik-nur-mit-der-bevolkerung-vom-7-november-2024");
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), "https://abstimmungen.bl.ch/vote/ct-13-200/data-csv");
	cr_expect_str_eq(dist_str(&t, 0, 0, "format"), "CSV");
	cr_expect_str_eq(dist_str(&t, 0, 0, "media_type"), "text/csv", "media_type stands in for a null mimetype");
	cr_expect_eq(counted(&t, "download_url_differs"), 0, "download_url repeats url here");
	tally_free(&t);

	tally_init(&t);
	read_file_with("ckan", "ckan/data.go.id-package_search.json", CKAN_PAGE, NULL, 4096, &t);
	cr_expect_str_eq(ds_str(&t, 1, "publisher"), "Provinsi Sumatera Barat");
	cr_expect_str_eq(ds_str(&t, 1, "landing"), "https://data.example.gov/dataset/skpg-sumatera-barat-april-2023");
	cr_expect_str_eq(dist_str(&t, 1, 0, "title"), "Unnamed resource");
	tally_free(&t);
}

/* What is not a package_search answer fails, whatever its envelope. */
Test(catalog, ckan_other_answers_fail)
{
	static const struct {
		const char *file, *why;
	} cases[] = {
		{"ckan/envidat-package_show.json", "not a CKAN package_search answer"},
		{"ckan/demo.ckan.org-package_show.json", "not a CKAN package_search answer"},
		{"ckan/data.go.id-package_show.json", "not a CKAN package_search answer: Sucess"},
		{"ckan/data.go.id-package_list.json", "not a CKAN package_search answer: Sucess"},
		{"ckan/data.go.id-error-404.json", "CKAN error: Not Found"},
		{"ckan/stadt-zuerich-package_search-no-rows-summary.json", "not a CKAN package_search answer"},
		{"ckan/catalog.data.gov-2015-package_show-list.json", "not a CKAN package_search answer"},
		{"dcat-us/test-arm.json", "not a CKAN package_search answer"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_failure("ckan", cases[i].file, CKAN_PAGE, NULL, cases[i].why);
}

typedef struct {
	char name[40];
	char body[400], state[120];
	int ends;
	char next[300], next_state[160], counted[20];
} ckan_page_case;

#define PKG(id) "{\"id\":\"" id "\",\"name\":\"n-" id "\",\"resources\":[]}"
#define CKAN_AFTER_B CKAN_PAGE "&fq=id%3A%7B%22b%22%20TO%20*%5D"

static ckan_page_case ckan_pages[] = {
	{"last page", "{\"success\":true,\"result\":{\"count\":2,\"results\":[" PKG("a") "," PKG("b") "]}}",
	 "{\"rows\":1000}", 1, "", "", ""},
	{"empty page", "{\"success\":true,\"result\":{\"count\":0,\"results\":[]}}", "{\"rows\":1000}", 1, "", "", ""},
	{"rows capped", "{\"result\":{\"count\":5000,\"results\":[" PKG("a") "," PKG("b") "," PKG("c") "]}}",
	 "{\"rows\":1000}", 0, CKAN_PAGE "&fq=id%3A%7B%22c%22%20TO%20*%5D", "{\"rows\":1000,\"after\":\"c\"}",
	 "rows_capped"},
	{"full page", "{\"result\":{\"count\":5,\"results\":[" PKG("a") "," PKG("b") "]}}", "{\"rows\":2}", 0,
	 CKAN_AFTER_B, "{\"rows\":2,\"after\":\"b\"}", "datasets"},
	{"unsorted", "{\"result\":{\"count\":50,\"results\":[" PKG("b") "," PKG("a") "]}}", "{\"rows\":2}", 0,
	 CKAN_PAGE "&start=2", "{\"rows\":2,\"offset\":2}", "sort_ignored"},
	{"cursor ignored", "{\"result\":{\"count\":50,\"results\":[" PKG("a") "," PKG("b") "]}}",
	 "{\"rows\":2,\"after\":\"b\"}", 0, CKAN_PAGE "&start=2", "{\"rows\":2,\"offset\":2}", "cursor_ignored"},
	{"after cursor, last", "{\"result\":{\"count\":1,\"results\":[" PKG("c") "]}}", "{\"rows\":2,\"after\":\"b\"}",
	 1, "", "", ""},
	{"unsorted after cursor", "{\"result\":{\"count\":9,\"results\":[" PKG("d") "," PKG("c") "]}}",
	 "{\"rows\":2,\"after\":\"b\"}", 0, CKAN_AFTER_B "&start=2", "{\"rows\":2,\"after\":\"b\",\"offset\":2}",
	 "sort_ignored"},
	{"by offset", "{\"result\":{\"count\":10,\"results\":[" PKG("z") "," PKG("a") "]}}",
	 "{\"rows\":2,\"offset\":4}", 0, CKAN_PAGE "&start=6", "{\"rows\":2,\"offset\":6}", "datasets"},
	{"by offset, last", "{\"result\":{\"count\":10,\"results\":[" PKG("z") "," PKG("a") "]}}",
	 "{\"rows\":2,\"offset\":8}", 1, "", "", ""},
	{"no count", "{\"result\":{\"results\":[" PKG("a") "," PKG("b") "]}}", "{\"rows\":2}", 0, CKAN_AFTER_B,
	 "{\"rows\":2,\"after\":\"b\"}", "no_count"},
	{"no ids", "{\"result\":{\"count\":9,\"results\":[{\"name\":\"x\"},{\"name\":\"y\"}]}}", "{\"rows\":2}", 0,
	 CKAN_PAGE "&start=2", "{\"rows\":2,\"offset\":2}", "no_id"},
	{"quoted id", "{\"result\":{\"count\":9,\"results\":[{\"id\":\"a\\\"b\\\\c\"}]}}", "{\"rows\":1}", 0,
	 CKAN_PAGE "&fq=id%3A%7B%22a%5C%22b%5C%5Cc%22%20TO%20*%5D", "{\"rows\":1,\"after\":\"a\\\"b\\\\c\"}",
	 "datasets"},
};

ParameterizedTestParameters(catalog, ckan_paging)
{
	return cr_make_param_array(ckan_page_case, ckan_pages, sizeof(ckan_pages) / sizeof(ckan_pages[0]));
}

ParameterizedTest(ckan_page_case *c, catalog, ckan_paging)
{
	tally t;
	tally_init(&t);
	char url[400];
	json_t *st = json_loads(c->state, 0, NULL);
	const char *after = json_string_value(json_object_get(st, "after"));
	snprintf(url, sizeof(url), "%s", after ? CKAN_AFTER_B : CKAN_PAGE);
	if (json_object_get(st, "offset") && after)
		snprintf(url, sizeof(url), "%s&start=%lld", CKAN_AFTER_B,
			 (long long)json_integer_value(json_object_get(st, "offset")));
	else if (json_object_get(st, "offset"))
		snprintf(url, sizeof(url), "%s&start=%lld", CKAN_PAGE,
			 (long long)json_integer_value(json_object_get(st, "offset")));
	json_decref(st);
	read_body("ckan", c->body, url, c->state, &t);
	cr_expect_eq(t.fails, 0, "%s: %s", c->name, t.why);
	cr_expect_eq(t.ends, c->ends, "%s: ends", c->name);
	cr_assert_eq(json_array_size(t.requests), c->ends ? 0u : 1u, "%s: requests", c->name);
	if (!c->ends) {
		cr_expect_str_eq(request_url(&t, 0), c->next, "%s", c->name);
		expect_state(&t, 0, c->next_state);
		cr_expect_geq(counted(&t, c->counted), 1, "%s: %s", c->name, c->counted);
	}
	tally_free(&t);
}

Test(catalog, ckan_resources_take_their_roles)
{
	const char *body =
		"{\"help\":\"h\",\"success\":true,\"result\":{\"count\":1,\"results\":[{\"id\":\"p1\",\"name\":\"water "
		"quality\",\"title\":{\"en\":\"\",\"fr\":\"Qualit\xC3\xA9\"},\"private\":true,"
		"\"organization\":null,\"author\":\"  \",\"maintainer\":\"Water Office\",\"resources\":["
		"{\"url\":\"https://a.gov/w.csv\",\"format\":\"CSV\",\"mimetype\":\"text/csv\",\"name\":\"table\"},"
		"{\"url\":\"https://a.gov/wms\",\"format\":\"OGC WMS\"},"
		"{\"url\":\"https://a.gov/rest\",\"format\":\"ArcGIS GeoServices REST API\"},"
		"{\"url\":\"https://a.gov/page\",\"format\":\"HTML\"},"
		"{\"url\":\"\",\"format\":\"PDF\"},"
		"{\"url\":\"https://a.gov/dl\",\"download_url\":\"https://a.gov/dl.zip\",\"format\":\"ZIP\"},"
		"\"not a resource\"]}]}}";
	static const char *const roles[] = {"download", "api", "api", "access", "none", "download", "download"};
	tally t;
	tally_init(&t);
	read_body("ckan", body, "https://data.example.gov/portal/api/3/action/package_search?q=*%3A*", NULL, &t);
	cr_assert_eq(t.datasets, 1, "%s", t.why);
	cr_expect_str_eq(ds_str(&t, 0, "title"), "Qualit\xC3\xA9");
	cr_expect_str_eq(ds_str(&t, 0, "publisher"), "Water Office", "a blank author: the maintainer");
	cr_expect_str_eq(ds_str(&t, 0, "access_level"), "non-public");
	cr_expect_str_eq(ds_str(&t, 0, "landing"), "https://data.example.gov/portal/dataset/water%20quality");
	cr_assert_eq(t.dists, 7);
	for (size_t i = 0; i < 7; i++)
		cr_expect_str_eq(dist_str(&t, 0, i, "role"), roles[i], "distribution %zu", i);
	cr_expect_str_eq(dist_str(&t, 0, 0, "title"), "table");
	cr_expect_str_eq(dist_str(&t, 0, 6, "url"), "https://a.gov/dl.zip");
	cr_expect_eq(counted(&t, "no_url"), 1);
	cr_expect_eq(counted(&t, "not_an_object"), 1);
	cr_expect_eq(t.ends, 1);
	tally_free(&t);
}

Test(catalog, ckan_error_envelopes_fail)
{
	static const struct {
		const char *body, *why;
	} cases[] = {
		{"{\"help\":\"h\",\"success\":false,\"error\":{\"__type\":\"Validation Error\",\"message\":\"bad sort\"}}",
		 "CKAN error: Validation Error: bad sort"},
		{"{\"success\":false,\"error\":{\"message\":\"Access denied\",\"__type\":\"Authorization Error\"}}",
		 "CKAN error: Authorization Error: Access denied"},
		{"{\"success\":false}", "CKAN error: success is false"},
		{"{\"success\":false,\"result\":{\"count\":1,\"results\":[]}}", "CKAN error"},
		{"{\"status\":\"500 INTERNAL\",\"message\":\"proxy failed\"}", "not a CKAN package_search answer: proxy failed"},
		{"<html><body>502 Bad Gateway</body></html>", "not JSON"},
		{"{\"result\":{\"count\":3,\"results\":[{\"id\":\"a\"", "JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_failure("ckan", cases[i].body, CKAN_PAGE, "{\"rows\":1000}", cases[i].why);
}

/* ---- Socrata ---- */

#define SOCRATA_PAGE                                                                                                   \
	"https://data.example.gov/api/catalog/v1?domains=data.example.gov&search_context=data.example.gov&only=dataset" \
	"&limit=1000&scroll_id="

/* Every real Discovery API page: datasets with their two distributions, other assets counted. */
Test(catalog, socrata_real_pages)
{
	static const struct {
		const char *file;
		int64_t datasets, others, by_domain;
	} cases[] = {
		{"socrata/discovery-ids.json", 2, 0, 0},
		{"socrata/discovery-names.json", 3, 0, 0},
		{"socrata/discovery-chicago-domain-category.json", 10, 0, 0},
		{"socrata/discovery-chicago-ny-domains.json", 10, 0, 0},
		{"socrata/discovery-only-dataset-story.json", 8, 2, 1},
		{"socrata/discovery-eu-region.json", 10, 0, 3},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tally t;
		tally_init(&t);
		read_file_with("socrata", cases[i].file, SOCRATA_PAGE, NULL, 1000, &t);
		cr_expect_eq(t.fails, 0, "%s: %s", cases[i].file, t.why);
		cr_expect_eq(t.datasets, cases[i].datasets, "%s", cases[i].file);
		cr_expect_eq(t.download, cases[i].datasets, "%s: a CSV export each", cases[i].file);
		cr_expect_eq(t.meta, cases[i].datasets, "%s: a metadata document each", cases[i].file);
		cr_expect_eq(counted(&t, "not_a_dataset"), cases[i].others, "%s", cases[i].file);
		cr_expect_eq(t.ends, 1, "%s: fewer than limit: the last page", cases[i].file);
		cr_expect_eq(json_array_size(t.requests), 0u, "%s", cases[i].file);
		size_t k, by_domain = 0;
		json_t *d;
		json_array_foreach(t.seen, k, d) {
			const char *publisher = json_string_value(json_object_get(d, "publisher"));
			cr_expect(publisher, "%s: every dataset has a publisher", cases[i].file);
			by_domain += publisher && strchr(publisher, '.') && !strchr(publisher, ' ');
		}
		cr_expect_eq(by_domain, (size_t)cases[i].by_domain, "%s: no attribution, the domain", cases[i].file);
		tally_free(&t);
	}
}

Test(catalog, socrata_results_become_datasets)
{
	tally t;
	tally_init(&t);
	read_file_with("socrata", "socrata/discovery-only-dataset-story.json", SOCRATA_PAGE, NULL, 333, &t);
	cr_assert_eq(t.datasets, 8);
	cr_expect_str_eq(ds_str(&t, 0, "identifier"), "9fxf-t2tr");
	cr_expect_str_eq(ds_str(&t, 0, "title"), "Dallas Police Active Calls");
	cr_expect_str_eq(ds_str(&t, 0, "publisher"), "Dallas Police Department");
	cr_expect_str_eq(ds_str(&t, 0, "modified"), "2025-08-25T16:40:56.000Z");
	cr_expect_str_eq(ds_str(&t, 0, "landing"), "https://www.dallasopendata.com/d/9fxf-t2tr");
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"),
			 "https://www.dallasopendata.com/api/views/9fxf-t2tr/rows.csv?accessType=DOWNLOAD");
	cr_expect_str_eq(dist_str(&t, 0, 0, "role"), "download");
	cr_expect_str_eq(dist_str(&t, 0, 1, "url"), "https://www.dallasopendata.com/api/views/9fxf-t2tr.json");
	cr_expect_str_eq(dist_str(&t, 0, 1, "role"), "meta");
	cr_expect_str_eq(ds_str(&t, 2, "identifier"), "9bhg-hcku", "the story between is not a dataset");
	cr_expect_str_eq(ds_str(&t, 2, "modified"), "2023-09-27T14:43:31.000Z", "data_updated_at, not updatedAt");
	tally_free(&t);
}

/* A page as long as limit asks for the next, after its last id. */
Test(catalog, socrata_full_page_scrolls_on)
{
	tally t;
	tally_init(&t);
	read_file_with("socrata", "socrata/discovery-only-dataset-story.json",
		       "https://api.us.socrata.com/api/catalog/v1?only=dataset%2Cstory&limit=10&scroll_id=",
		       json_pack("{s:i}", "limit", 10), 4096, &t);
	cr_expect_eq(t.ends, 0);
	cr_assert_eq(json_array_size(t.requests), 1u);
	cr_expect_str_eq(request_url(&t, 0),
			 "https://api.us.socrata.com/api/catalog/v1?only=dataset%2Cstory&limit=10&scroll_id=6rkd-2wt9");
	cr_expect_str_eq(request_step(&t, 0), "socrata");
	expect_state(&t, 0, "{\"limit\":10,\"scroll_id\":\"6rkd-2wt9\"}");
	cr_expect_eq(counted(&t, "sort_ignored"), 1, "this recording was not asked in id order");
	tally_free(&t);

	tally_init(&t);
	read_file_with("socrata", "socrata/discovery-ids.json", SOCRATA_PAGE, json_pack("{s:i}", "limit", 2), 64, &t);
	cr_assert_eq(json_array_size(t.requests), 1u);
	cr_expect_str_eq(request_url(&t, 0), "https://data.example.gov/api/catalog/v1?domains=data.example.gov"
					     "&search_context=data.example.gov&only=dataset&limit=1000&scroll_id=zidz-sdfj");
	expect_state(&t, 0, "{\"limit\":2,\"scroll_id\":\"zidz-sdfj\"}");
	cr_expect_eq(counted(&t, "sort_ignored"), 0);
	tally_free(&t);
}

#define SOC(id, type, domain, extra)                                                                                   \
	"{\"resource\":{\"id\":\"" id "\",\"name\":\"N" id "\",\"type\":\"" type "\"" extra "},"                    \
	"\"metadata\":{\"domain\":\"" domain "\"},\"permalink\":\"https://data.example.gov/d/" id "\"}"

Test(catalog, socrata_made_up_pages)
{
	tally t;
	/* ids that do not move past the scroll_id: the listing stops, not ended */
	tally_init(&t);
	read_body("socrata", "{\"results\":[" SOC("aaaa-0001", "dataset", "data.example.gov", "") "],\"resultSetSize\":1}",
		  SOCRATA_PAGE "bbbb-0001", "{\"limit\":1,\"scroll_id\":\"bbbb-0001\"}", &t);
	cr_expect_eq(counted(&t, "scroll_ignored"), 1);
	cr_expect_eq(t.ends + (int64_t)json_array_size(t.requests) + t.fails, 0);
	tally_free(&t);
	/* an empty page ends */
	tally_init(&t);
	read_body("socrata", "{\"results\":[],\"resultSetSize\":0}", SOCRATA_PAGE, "{\"limit\":1000}", &t);
	cr_expect_eq(t.ends, 1);
	tally_free(&t);
	/* the catalog's own domain keeps its origin (a loopback server, a port); a bad domain gives way to it */
	tally_init(&t);
	read_body("socrata",
		  "{\"results\":[" SOC("aaaa-0001", "dataset", "127.0.0.1", "") "," SOC("aaaa-0002", "dataset", "evil.gov/x?", "")
		  "," SOC("aaaa-0003", "dataset", "data.other.gov", "") "]}",
		  "http://127.0.0.1:8080/api/catalog/v1?domains=127.0.0.1&limit=1000&scroll_id=", NULL, &t);
	cr_assert_eq(t.datasets, 3, "%s", t.why);
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), "http://127.0.0.1:8080/api/views/aaaa-0001/rows.csv?accessType=DOWNLOAD");
	cr_expect_str_eq(dist_str(&t, 1, 1, "url"), "http://127.0.0.1:8080/api/views/aaaa-0002.json");
	cr_expect_str_eq(dist_str(&t, 2, 1, "url"), "https://data.other.gov/api/views/aaaa-0003.json");
	cr_expect_eq(counted(&t, "no_domain"), 1);
	cr_expect_str_eq(ds_str(&t, 1, "publisher"), "evil.gov/x?", "no attribution: the domain as written");
	tally_free(&t);
	/* links elsewhere are pages; other assets are passed by */
	tally_init(&t);
	read_body("socrata",
		  "{\"results\":[" SOC("aaaa-0001", "href", "data.example.gov", ",\"url\":\"https://other.gov/f.zip\"") ","
		  SOC("aaaa-0002", "href", "data.example.gov", "") "," SOC("aaaa-0003", "chart", "data.example.gov", "") ","
		  SOC("aaaa-0004", "file", "data.example.gov", "") "]}",
		  SOCRATA_PAGE, NULL, &t);
	cr_expect_eq(counted(&t, "not_a_dataset"), 4);
	cr_assert_eq(t.datasets, 2);
	cr_expect_eq(t.access, 2);
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), "https://other.gov/f.zip");
	cr_expect_str_eq(dist_str(&t, 1, 0, "url"), "https://data.example.gov/d/aaaa-0002");
	tally_free(&t);
}

Test(catalog, socrata_errors_fail)
{
	static const struct {
		const char *body, *why;
	} cases[] = {
		{"{\"error\":\"Invalid scroll_id\"}", "Socrata error: Invalid scroll_id"},
		{"{\"error\":{\"message\":\"limit must be less than or equal to 10000\"}}",
		 "Socrata error: limit must be less than or equal to 10000"},
		{"{\"message\":\"Not found\"}", "not a Socrata Discovery API answer: Not found"},
		{"[]", "not a Socrata Discovery API answer"},
		/* a view's metadata document is not a Discovery answer */
		{"socrata/views-chicago-zidz-sdfj.json", "not a Socrata Discovery API answer"},
		{"socrata/views-demo-2646-ez2p.json", "not a Socrata Discovery API answer"},
		{"socrata/views-demo-jatp-jqxg.json", "not a Socrata Discovery API answer"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_failure("socrata", cases[i].body, SOCRATA_PAGE, NULL, cases[i].why);
}

/* ---- data.gov's Catalog API ---- */

#define DATAGOV_PAGE "https://api.gsa.gov/technology/datagov/v4/search?per_page=100"

Test(catalog, datagov_pages)
{
	tally t;
	/* results with their DCAT-US record, and the cursor on */
	tally_init(&t);
	read_file_with("datagov", "datagov-v4/doc-search.json", DATAGOV_PAGE, NULL, 100, &t);
	cr_expect_eq(t.fails, 0, "%s", t.why);
	cr_assert_eq(t.datasets, 1);
	cr_expect_str_eq(ds_str(&t, 0, "identifier"), "bdf82c61-0027-4d50-9505-44fc57f2fd12");
	cr_expect_str_eq(ds_str(&t, 0, "publisher"), "National Center for Education Statistics (NCES)");
	cr_expect_str_eq(ds_str(&t, 0, "access_level"), "restricted public");
	cr_expect_eq(counted(&t, "no_dcat"), 0);
	cr_expect_eq(counted(&t, "not_an_object"), 1, "the docs' abbreviated distribution [\"...\"]");
	cr_expect_eq(t.ends, 0);
	cr_assert_eq(json_array_size(t.requests), 1u);
	cr_expect_str_eq(request_url(&t, 0),
			 DATAGOV_PAGE "&after=WzEwMC4wNjEzNiwwLCJiMWEzOTY3YzJhMTExZjE2NzgxN2IwMTI0YzUyYjBhYyJd");
	cr_expect_str_eq(request_step(&t, 0), "datagov");
	expect_state(&t, 0, "{\"after\":\"WzEwMC4wNjEzNiwwLCJiMWEzOTY3YzJhMTExZjE2NzgxN2IwMTI0YzUyYjBhYyJd\"}");
	tally_free(&t);
	/* abbreviated results: what they say of themselves; the next page replaces the cursor */
	tally_init(&t);
	read_file_with("datagov", "datagov-v4/doc-search-getting-started.json", DATAGOV_PAGE "&after=abc%3D",
		       json_pack("{s:s}", "after", "abc="), 7, &t);
	cr_expect_eq(t.datasets, 2);
	cr_expect_eq(counted(&t, "no_dcat"), 2);
	cr_expect_eq(t.dists, 0);
	cr_expect_str_eq(ds_str(&t, 0, "title"), "Amazon Web Services: Downscaled Climate Projections (NEX-DCP30)");
	cr_expect_str_eq(ds_str(&t, 0, "publisher"), "AWS NEX");
	cr_expect_str_eq(ds_str(&t, 0, "landing"), "https://aws.amazon.com/nasa/nex/");
	cr_assert_eq(json_array_size(t.requests), 1u);
	cr_expect_str_eq(request_url(&t, 0),
			 DATAGOV_PAGE "&after=WzY5LjM0NDY5NiwwLCJiYmRhZGNmYi00NDM1LTQzZWUtYjhlMy0yMzZiZjBlZDEwODIiXQ%3D%3D");
	tally_free(&t);
}

/* The real documents behind /search, as the last page of an answer: DCAT-US datasets with files. */
Test(catalog, datagov_real_documents)
{
	size_t len;
	char *docs = slurp("datagov-v4/test-opensearch-dataset-documents.json", &len);
	json_t *doc = json_loads(docs, 0, NULL);
	json_t *page = json_pack("{s:s, s:O}", "sort", "relevance", "results", json_object_get(doc, "documents"));
	char *body = json_dumps(page, 0);
	tally t;
	tally_init(&t);
	feed_bytes("datagov", body, strlen(body), DATAGOV_PAGE, NULL, 256, &t);
	cr_expect_eq(t.fails, 0, "%s", t.why);
	cr_expect_eq(t.datasets, 2);
	cr_expect_eq(t.download, 3);
	cr_expect_str_eq(ds_str(&t, 0, "identifier"), "test-identifier-9");
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), "https://example.gov/data/dataset-1.csv");
	cr_expect_eq(t.ends, 1, "no cursor: the last page");
	cr_expect_eq(json_array_size(t.requests), 0u);
	tally_free(&t);
	free(body);
	free(docs);
	json_decref(page);
	json_decref(doc);
}

Test(catalog, datagov_odd_answers)
{
	static const struct {
		const char *file, *why;
	} fails[] = {
		{"datagov-v4/doc-error-rate-limit.json",
		 "api.data.gov error: OVER_RATE_LIMIT: You have exceeded your rate limit. Try again later."},
		{"datagov-v4/doc-organizations.json", "not a data.gov Catalog API search answer: no results list"},
		{"datagov-v4/doc-harvest_record.json", "not a data.gov Catalog API search answer: no results list"},
	};
	for (size_t i = 0; i < 3; i++)
		expect_failure("datagov", fails[i].file, DATAGOV_PAGE, NULL, fails[i].why);
	tally t;
	/* the cursor the page was asked after, again: stopped, not ended */
	tally_init(&t);
	read_body("datagov", "{\"results\":[{\"title\":\"x\"}],\"after\":\"c1\"}", DATAGOV_PAGE "&after=c1",
		  "{\"after\":\"c1\"}", &t);
	cr_expect_eq(counted(&t, "cursor_repeated"), 1);
	cr_expect_eq(t.ends + (int64_t)json_array_size(t.requests), 0);
	tally_free(&t);
	/* an empty page ends, cursor or not */
	tally_init(&t);
	read_body("datagov", "{\"results\":[],\"after\":\"c2\"}", DATAGOV_PAGE, NULL, &t);
	cr_expect_eq(t.ends, 1);
	cr_expect_eq(json_array_size(t.requests), 0u);
	tally_free(&t);
}

/* ---- ArcGIS ---- */

#define SCE "https://drpep.sce.com/arcgis_server/rest/services"

Test(catalog, arcgis_directory_and_services)
{
	tally t;
	tally_init(&t);
	read_file_with("arcgis-services", "arcgis/sce-drpep-services-catalog.json", SCE "?f=json", NULL, 100, &t);
	cr_expect_eq(t.fails, 0, "%s", t.why);
	cr_assert_eq(json_array_size(t.requests), 15u);
	cr_expect_str_eq(request_url(&t, 0), SCE "/Hosted/AVL_LOAD_CAP_TOGGLE/FeatureServer?f=json");
	cr_expect_str_eq(request_url(&t, 9), SCE "/Hosted/ICA_Layer/FeatureServer?f=json");
	for (size_t i = 0; i < 15; i++)
		cr_expect_str_eq(request_step(&t, i), "arcgis-services");
	cr_expect_eq(t.ends, 0);
	tally_free(&t);

	static const struct {
		const char *file, *service;
		size_t layers;
	} services[] = {
		{"arcgis/sce-drpep-ica-layer-featureserver.json", SCE "/Hosted/ICA_Layer/FeatureServer", 20},
		{"arcgis/sce-drpep-firemap-featureserver.json", SCE "/Hosted/Firemap/FeatureServer", 3},
	};
	for (size_t k = 0; k < 2; k++) {
		char url[300], want[300];
		tally_init(&t);
		snprintf(url, sizeof(url), "%s?f=json", services[k].service);
		read_file_with("arcgis-services", services[k].file, url, NULL, 512, &t);
		cr_expect_eq(t.fails, 0, "%s", t.why);
		cr_assert_eq(json_array_size(t.requests), services[k].layers, "%s", services[k].file);
		for (size_t i = 0; i < services[k].layers; i++) {
			snprintf(want, sizeof(want), "%s/%zu?f=json", services[k].service, i);
			cr_expect_str_eq(request_url(&t, i), want);
			cr_expect_str_eq(request_step(&t, i), "arcgis-layer");
		}
		tally_free(&t);
	}
}

Test(catalog, arcgis_made_up_directories)
{
	tally t;
	tally_init(&t);
	read_body("arcgis-services",
		  "{\"currentVersion\":10.9,\"folders\":[\"Public Works\",\"\"],\"services\":["
		  "{\"name\":\"Public Works/Imagery\",\"type\":\"ImageServer\"},"
		  "{\"name\":\"Public Works/Roads\",\"type\":\"MapServer\"},{\"type\":\"GPServer\"}]}",
		  "https://gis.city.gov/arcgis/rest/services/Public%20Works?f=json", NULL, &t);
	cr_assert_eq(json_array_size(t.requests), 2u, "%s", t.why);
	cr_expect_str_eq(request_url(&t, 0), "https://gis.city.gov/arcgis/rest/services/Public%20Works?f=json");
	cr_expect_str_eq(request_url(&t, 1), "https://gis.city.gov/arcgis/rest/services/Public%20Works/Roads/MapServer?f=json");
	cr_expect_eq(counted(&t, "other_service"), 1);
	cr_expect_eq(counted(&t, "not_a_folder"), 1);
	cr_expect_eq(counted(&t, "not_a_service"), 1);
	cr_assert_eq(t.api, 1);
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), "https://gis.city.gov/arcgis/rest/services/Public%20Works/Imagery/ImageServer");
	tally_free(&t);
	/* nothing beneath: this branch of the listing is complete */
	tally_init(&t);
	read_body("arcgis-services", "{\"currentVersion\":11,\"folders\":[],\"services\":[]}", SCE "?f=json", NULL, &t);
	cr_expect_eq(t.ends, 1);
	tally_free(&t);
	expect_failure("arcgis-services", "arcgis/sce-drpep-rest-info.json", SCE "?f=json", NULL,
		       "not an ArcGIS services directory or service");
	expect_failure("arcgis-services", "arcgis/pyesridump-carson-layer.json", SCE "?f=json", NULL,
		       "not an ArcGIS services directory or service");
	expect_failure("arcgis-services", "arcgis/pyesridump-kent-statistics-error.json", SCE "?f=json", NULL,
		       "ArcGIS error: 400: Unable to complete operation.");
}

typedef struct {
	char file[64];
	char oid[16];
	int64_t max;
	char name[40];
	char counted[24];
} layer_case;

static layer_case layer_files[] = {
	{"arcgis/pyesridump-carson-layer.json", "OBJECTID", 1000, "Address Points", "no_max_record_count"},
	{"arcgis/pyesridump-cook-layer.json", "OBJECTID", 1000, "Point of Interest", "no_max_record_count"},
	{"arcgis/pyesridump-polk-layer.json", "OBJECTID", 1000, "Addresses (visible at 1:2500)", ""},
	{"arcgis/pyesridump-chicago-layer.json", "OBJECTID", 2000, "Census Designated Places", ""},
};

ParameterizedTestParameters(catalog, arcgis_real_layers)
{
	return cr_make_param_array(layer_case, layer_files, sizeof(layer_files) / sizeof(layer_files[0]));
}

#define LAYER "https://gis.county.gov/arcgis/rest/services/Addresses/MapServer/0"

ParameterizedTest(layer_case *c, catalog, arcgis_real_layers)
{
	char state[200];
	tally t;
	tally_init(&t);
	read_file_with("arcgis-layer", c->file, LAYER "?f=json", NULL, 300, &t);
	cr_expect_eq(t.fails, 0, "%s: %s", c->file, t.why);
	cr_assert_eq(json_array_size(t.requests), 1u, "%s", c->file);
	cr_expect_str_eq(request_url(&t, 0), LAYER "/query?where=1%3D1&returnIdsOnly=true&f=json");
	cr_expect_str_eq(request_step(&t, 0), "arcgis-ids");
	snprintf(state, sizeof(state), "{\"layer\":\"%s\",\"oid\":\"%s\",\"max\":%lld,\"name\":\"%s\"}", LAYER, c->oid,
		 (long long)c->max, c->name);
	expect_state(&t, 0, state);
	if (c->counted[0])
		cr_expect_eq(counted(&t, c->counted), 1, "%s: %s", c->file, c->counted);
	cr_expect_eq(counted(&t, "no_oid_field"), 0, "%s: the field of type esriFieldTypeOID", c->file);
	tally_free(&t);
}

Test(catalog, arcgis_made_up_layers)
{
	static const struct {
		const char *body, *state, *counted;
	} cases[] = {
		{"{\"name\":\"Parcels\",\"type\":\"Feature Layer\",\"objectIdField\":\"FID\",\"maxRecordCount\":0,"
		 "\"fields\":[{\"name\":\"OBJECTID\",\"type\":\"esriFieldTypeOID\"}]}",
		 "{\"layer\":\"" LAYER "\",\"oid\":\"FID\",\"max\":1,\"name\":\"Parcels\"}", NULL},
		{"{\"name\":\"Roads\",\"type\":\"Feature Layer\",\"maxRecordCount\":500,\"fields\":[{\"name\":\"GID\","
		 "\"type\":\"esriFieldTypeInteger\"}]}",
		 "{\"layer\":\"" LAYER "\",\"oid\":\"OBJECTID\",\"max\":500,\"name\":\"Roads\"}", "no_oid_field"},
		{"{\"type\":\"Table\",\"maxRecordCount\":2500.0,\"fields\":[]}",
		 "{\"layer\":\"" LAYER "\",\"oid\":\"OBJECTID\",\"max\":2000}", "no_oid_field"},
	};
	for (size_t i = 0; i < 3; i++) {
		tally t;
		tally_init(&t);
		read_body("arcgis-layer", cases[i].body, LAYER "?f=json", NULL, &t);
		cr_assert_eq(json_array_size(t.requests), 1u, "case %zu: %s", i, t.why);
		expect_state(&t, 0, cases[i].state);
		if (cases[i].counted)
			cr_expect_eq(counted(&t, cases[i].counted), 1, "case %zu", i);
		tally_free(&t);
	}
	tally t;
	/* a group layer asks for its sublayers */
	tally_init(&t);
	read_body("arcgis-layer",
		  "{\"id\":4,\"name\":\"Utilities\",\"type\":\"Group Layer\",\"subLayers\":[{\"id\":5,\"name\":\"Water\"},"
		  "{\"id\":6,\"name\":\"Sewer\"}],\"capabilities\":\"Map,Query,Data\"}",
		  "https://gis.city.gov/arcgis/rest/services/Base/MapServer/4?f=json", NULL, &t);
	cr_assert_eq(json_array_size(t.requests), 2u, "%s", t.why);
	cr_expect_str_eq(request_url(&t, 0), "https://gis.city.gov/arcgis/rest/services/Base/MapServer/5?f=json");
	cr_expect_str_eq(request_url(&t, 1), "https://gis.city.gov/arcgis/rest/services/Base/MapServer/6?f=json");
	cr_expect_str_eq(request_step(&t, 1), "arcgis-layer");
	cr_expect_eq(counted(&t, "group_layer"), 1);
	tally_free(&t);
	/* a layer that cannot be queried is passed on for a human */
	tally_init(&t);
	read_body("arcgis-layer", "{\"name\":\"Basemap\",\"type\":\"Raster Layer\",\"capabilities\":\"Map\"}", LAYER "?f=json",
		  NULL, &t);
	cr_expect_eq(json_array_size(t.requests), 0u);
	cr_assert_eq(t.api, 1);
	cr_expect_str_eq(ds_str(&t, 0, "identifier"), LAYER);
	cr_expect_str_eq(ds_str(&t, 0, "title"), "Basemap");
	cr_expect_eq(counted(&t, "no_query"), 1);
	cr_expect_eq(t.ends, 1);
	tally_free(&t);
	/* errors, sent with HTTP 200, and what is no layer */
	expect_failure("arcgis-layer", "{\"error\":{\"code\":499,\"message\":\"Token Required\",\"details\":[]}}",
		       LAYER "?f=json", NULL, "ArcGIS error: 499: Token Required");
	expect_failure("arcgis-layer", "arcgis/sce-drpep-rest-info.json", LAYER "?f=json", NULL, "not an ArcGIS layer");
}

#define IDS_STATE(oid, max) "{\"layer\":\"" LAYER "\",\"oid\":\"" oid "\",\"max\":" #max ",\"name\":\"Address Points\"}"
#define BATCH(oid, a, b)                                                                                                \
	LAYER "/query?where=" oid "%3E%3D" #a "%20AND%20" oid "%3C%3D" #b "&outFields=*&orderByFields=" oid                 \
	      "&returnGeometry=true&f=geojson"

Test(catalog, arcgis_real_ids)
{
	tally t;
	tally_init(&t);
	read_file_with("arcgis-ids", "arcgis/pyesridump-carson-ids.json", LAYER "/query?where=1%3D1&returnIdsOnly=true&f=json",
		       json_loads(IDS_STATE("FID", 1000), 0, NULL), 50, &t);
	cr_expect_eq(t.fails, 0, "%s", t.why);
	cr_assert_eq(t.datasets, 1);
	cr_expect_str_eq(ds_str(&t, 0, "identifier"), LAYER);
	cr_expect_str_eq(ds_str(&t, 0, "title"), "Address Points");
	cr_assert_eq(t.dists, 1);
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), BATCH("OBJECTID", 70193, 70307), "objectIdFieldName wins");
	cr_expect_eq(dist_expect(&t, 0, 0), 100);
	cr_expect_str_eq(dist_str(&t, 0, 0, "role"), "download");
	cr_expect_eq(t.ends, 1);
	tally_free(&t);

	tally_init(&t);
	read_file_with("arcgis-ids", "arcgis/pyesridump-polk-ids.json", LAYER "/query?where=1%3D1&returnIdsOnly=true&f=json",
		       json_loads(IDS_STATE("OBJECTID", 4), 0, NULL), 9, &t);
	cr_assert_eq(t.dists, 3, "%s", t.why);
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), BATCH("OBJECTID", 3345100, 3345103));
	cr_expect_str_eq(dist_str(&t, 0, 2, "url"), BATCH("OBJECTID", 3345108, 3345109));
	cr_expect_eq(dist_expect(&t, 0, 0), 4);
	cr_expect_eq(dist_expect(&t, 0, 2), 2);
	tally_free(&t);
}

/* 25,000 ids with gaps, shuffled, some repeated: 25 batches of 1000 that hold every id once. */
Test(catalog, arcgis_ids_cut_into_batches)
{
	enum { N = 25000, REPEATS = 100 };
	int64_t *ids = malloc(N * sizeof(*ids));
	size_t cap = 16 * (N + REPEATS) + 100, len = 0;
	char *body = malloc(cap);
	uint64_t x = 42;
	for (int64_t k = 0; k < N; k++)
		ids[k] = 1000 + k + k / 5 * 3; /* gaps of three after every fifth id */
	len += (size_t)snprintf(body + len, cap - len, "{\"objectIdFieldName\":\"OBJECTID\",\"objectIds\":[");
	for (int i = 0; i < N + REPEATS; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		int64_t id = i < N ? ids[(size_t)((x >> 33) % N)] : ids[i - N];
		len += (size_t)snprintf(body + len, cap - len, "%s%lld", i ? "," : "", (long long)id);
	}
	len += (size_t)snprintf(body + len, cap - len, "]}");
	/* the shuffle above draws with replacement: the ids sent are whatever came; count them */
	json_t *doc = json_loads(body, 0, NULL);
	size_t i;
	json_t *v;
	char *seen = calloc(N + N / 5 * 3 + 1000, 1);
	size_t distinct = 0;
	json_array_foreach(json_object_get(doc, "objectIds"), i, v) {
		int64_t id = json_integer_value(v) - 1000;
		distinct += !seen[id];
		seen[id] = 1;
	}
	tally t;
	tally_init(&t);
	feed_bytes("arcgis-ids", body, len, LAYER "/query?where=1%3D1&returnIdsOnly=true&f=json",
		   json_loads(IDS_STATE("OBJECTID", 1000), 0, NULL), 4096, &t);
	cr_assert_eq(t.fails, 0, "%s", t.why);
	cr_expect_eq(counted(&t, "duplicate_ids"), (int64_t)(N + REPEATS - distinct));
	size_t batches = (distinct + 999) / 1000;
	cr_assert_eq(t.dists, (int64_t)batches);
	cr_expect_eq(counted(&t, "batches"), (int64_t)batches);
	/* every id sent is in exactly one batch, and each batch holds what it says */
	int64_t total = 0, prev_b = -1;
	for (size_t k = 0; k < batches; k++) {
		long long a, b;
		const char *url = dist_str(&t, 0, k, "url");
		cr_assert_eq(sscanf(url, LAYER "/query?where=OBJECTID%%3E%%3D%lld%%20AND%%20OBJECTID%%3C%%3D%lld", &a, &b), 2,
			     "%s", url);
		int64_t inside = 0;
		for (long long id = a; id <= b; id++)
			inside += seen[id - 1000];
		cr_expect_eq(inside, dist_expect(&t, 0, k), "batch %zu holds what it expects", k);
		cr_expect(a > prev_b, "batches do not overlap");
		cr_expect(seen[a - 1000] && seen[b - 1000], "a batch starts and ends at an id");
		cr_expect_leq(dist_expect(&t, 0, k), 1000);
		total += inside;
		prev_b = b;
	}
	cr_expect_eq(total, (int64_t)distinct, "all ids in batches");
	cr_expect_eq(t.ends, 1);
	tally_free(&t);

	/* the same ids in order, each once: exactly 25 batches of 1000 */
	len = (size_t)snprintf(body, cap, "{\"objectIds\":[");
	for (int k = 0; k < N; k++)
		len += (size_t)snprintf(body + len, cap - len, "%s%lld", k ? "," : "", (long long)ids[k]);
	len += (size_t)snprintf(body + len, cap - len, "]}");
	tally_init(&t);
	feed_bytes("arcgis-ids", body, len, LAYER "/query?where=1%3D1&returnIdsOnly=true&f=json",
		   json_loads(IDS_STATE("OBJECTID", 1000), 0, NULL), 65536, &t);
	cr_assert_eq(t.dists, 25);
	for (size_t k = 0; k < 25; k++) {
		char want[400];
		snprintf(want, sizeof(want), "%s%lld%s%lld%s", LAYER "/query?where=OBJECTID%3E%3D", (long long)ids[k * 1000],
			 "%20AND%20OBJECTID%3C%3D", (long long)ids[k * 1000 + 999],
			 "&outFields=*&orderByFields=OBJECTID&returnGeometry=true&f=geojson");
		cr_expect_str_eq(dist_str(&t, 0, k, "url"), want);
		cr_expect_eq(dist_expect(&t, 0, k), 1000);
	}
	tally_free(&t);
	json_decref(doc);
	free(seen);
	free(body);
	free(ids);
}

Test(catalog, arcgis_odd_ids)
{
	static const char *const empties[] = {"{\"objectIdFieldName\":\"OBJECTID\",\"objectIds\":[]}",
					      "{\"objectIdFieldName\":\"OBJECTID\",\"objectIds\":null}"};
	for (size_t i = 0; i < 2; i++) {
		tally t;
		tally_init(&t);
		read_body("arcgis-ids", empties[i], LAYER "/query?where=1%3D1&returnIdsOnly=true&f=json",
			  IDS_STATE("OBJECTID", 1000), &t);
		cr_expect_eq(t.datasets, 1, "case %zu", i);
		cr_expect_eq(t.dists, 0);
		cr_expect_eq(counted(&t, "empty_layer"), 1);
		cr_expect_eq(t.ends, 1);
		tally_free(&t);
	}
	static const struct {
		const char *body, *why;
	} fails[] = {
		{"{\"error\":{\"code\":400,\"message\":\"Unable to complete operation.\",\"details\":[]}}",
		 "ArcGIS error: 400: Unable to complete operation."},
		{"{\"count\":30551}", "not an ArcGIS object ids answer: no objectIds"},
	};
	for (size_t i = 0; i < 2; i++)
		expect_failure("arcgis-ids", fails[i].body, LAYER "/query", IDS_STATE("OBJECTID", 1000), fails[i].why);
	/* ids that are not integers are counted and passed by */
	tally t;
	tally_init(&t);
	read_body("arcgis-ids", "{\"objectIds\":[3,\"x\",1.5,null,1]}", LAYER "/query", IDS_STATE("OBJECTID", 1000), &t);
	cr_expect_eq(counted(&t, "not_an_id"), 3);
	cr_assert_eq(t.dists, 1);
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), BATCH("OBJECTID", 1, 3));
	cr_expect_eq(dist_expect(&t, 0, 0), 2);
	tally_free(&t);
}

/* More ids than a layer may have fails the answer, with the memory they took bounded. */
Test(catalog, arcgis_too_many_ids, .timeout = 600)
{
	const sv_catalog_reader *rd = sv_catalog_reader_for("arcgis-ids");
	tally t;
	tally_init(&t);
	sv_catalog_sink sink = {&t, on_dataset, on_request, on_end, on_fail, on_count};
	void *r = NULL;
	json_t *state = json_loads(IDS_STATE("OBJECTID", 2000), 0, NULL);
	enum { PER = 100000 };
	char *chunk = malloc(PER * 2);
	for (size_t i = 0; i < PER; i++)
		memcpy(chunk + 2 * i, "7,", 2);
	cr_assert_eq(rd->open(&r, LAYER "/query", state, &sink), 0);
	int stopped = rd->feed(r, "{\"objectIds\":[", 14) != 0;
	for (size_t sent = 0; !stopped && sent <= 20000000u; sent += PER)
		stopped = rd->feed(r, chunk, PER * 2) != 0;
	cr_expect(stopped, "the reading stops");
	rd->free(r);
	cr_expect_eq(t.fails, 1);
	cr_expect(strstr(t.why, "too many ids"), "%s", t.why);
	cr_expect_eq(t.datasets, 0);
	free(chunk);
	json_decref(state);
	tally_free(&t);
}

#define BATCH_STATE(a, b, expect)                                                                                       \
	"{\"layer\":\"" LAYER "\",\"oid\":\"OBJECTID\",\"a\":" #a ",\"b\":" #b ",\"expect\":" #expect "}"

static const char *feature(int64_t id, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "{\"type\":\"Feature\",\"id\":%lld,\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]},"
		 "\"properties\":{\"OBJECTID\":%lld,\"NAME\":\"x\"}}",
		 (long long)id, (long long)id);
	return buf;
}

/* A GeoJSON batch of the features ids[0..n). */
static char *geojson(const int64_t *ids, size_t n, const char *extra)
{
	size_t cap = 200 * n + 200, len = 0;
	char *body = malloc(cap), f[200];
	len += (size_t)snprintf(body, cap, "{\"type\":\"FeatureCollection\",%s\"features\":[", extra);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s%s", i ? "," : "", feature(ids[i], f, sizeof(f)));
	snprintf(body + len, cap - len, "]}");
	return body;
}

Test(catalog, arcgis_batches_are_counted)
{
	static const int64_t five[] = {11, 12, 14, 15, 19};
	static const struct {
		size_t n;
		const char *state, *extra;
		int64_t fails, short_batch, over;
		const char *rest;
		int64_t rest_expect;
	} cases[] = {
		{5, BATCH_STATE(11, 19, 5), "", 0, 0, 0, NULL, 0},
		{5, BATCH_STATE(11, 19, 5), "\"exceededTransferLimit\":true,", 0, 0, 0, NULL, 0},
		{3, BATCH_STATE(11, 30, 7), "", 0, 1, 0, BATCH("OBJECTID", 14, 30), 4},
		{3, BATCH_STATE(11, 30, 7), "\"exceededTransferLimit\":false,", 0, 1, 0, BATCH("OBJECTID", 14, 30), 4},
		{5, BATCH_STATE(11, 19, 4), "", 0, 0, 1, NULL, 0},
		{0, BATCH_STATE(11, 19, 5), "\"exceededTransferLimit\":true,", 1, 0, 0, NULL, 0},
		{5, BATCH_STATE(11, 19, 8), "", 0, 1, 0, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = geojson(five, cases[i].n, cases[i].extra);
		tally t;
		tally_init(&t);
		read_body("arcgis-batch", body, BATCH("OBJECTID", 11, 19), cases[i].state, &t);
		cr_expect_eq(t.fails, cases[i].fails, "case %zu: %s", i, t.why);
		cr_expect_eq(counted(&t, "short_batch"), cases[i].short_batch, "case %zu", i);
		cr_expect_eq(counted(&t, "batch_over"), cases[i].over, "case %zu", i);
		cr_expect_eq(t.ends + (int64_t)json_array_size(t.requests), 0, "case %zu", i);
		if (cases[i].rest) {
			cr_assert_eq(t.datasets, 1, "case %zu", i);
			cr_expect_str_eq(ds_str(&t, 0, "identifier"), LAYER);
			cr_assert_eq(t.dists, 1);
			char want[400];
			snprintf(want, sizeof(want), "%s", cases[i].rest);
			/* where OBJECTID > 14, not >= */
			char *ge = strstr(want, "%3E%3D");
			memmove(ge + 3, ge + 6, strlen(ge + 6) + 1);
			cr_expect_str_eq(dist_str(&t, 0, 0, "url"), want, "case %zu", i);
			cr_expect_eq(dist_expect(&t, 0, 0), cases[i].rest_expect, "case %zu", i);
		} else {
			cr_expect_eq(t.datasets, 0, "case %zu", i);
		}
		if (cases[i].fails)
			cr_expect_str_eq(t.why, "0 of 5 features");
		if (i == 6)
			cr_expect_eq(counted(&t, "features_gone"), 3, "the largest id is the batch's last: nothing to ask");
		tally_free(&t);
		free(body);
	}
}

Test(catalog, arcgis_real_query_pages)
{
	static const struct {
		const char *file;
		int64_t features;
		const char *rest; /* where the rest starts: after the largest id, by the answer's objectIdFieldName */
	} cases[] = {
		{"arcgis/pyesridump-carson-query-page.json", 6, "where=OBJECTID%3E5%20AND%20OBJECTID%3C%3D99999999&"},
		{"arcgis/pyesridump-cook-query-partial.json", 2, "where=OBJECTID%3E3442%20AND%20OBJECTID%3C%3D99999999&"},
		{"arcgis/esri-query-point-exceededTransferLimit.json", 1, "where=OBJECTID%3E1%20AND%20OBJECTID%3C%3D99999999&"},
		{"arcgis/esri-query-polygon-exceededTransferLimit.json", 1, "where=FID%3E1%20AND%20FID%3C%3D99999999&"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char state[300];
		tally t;
		/* as many as expected: nothing to say */
		tally_init(&t);
		snprintf(state, sizeof(state), "{\"layer\":\"" LAYER "\",\"oid\":\"OBJECTID\",\"a\":0,\"b\":99999999,"
					       "\"expect\":%lld}", (long long)cases[i].features);
		read_file_with("arcgis-batch", cases[i].file, LAYER "/query", json_loads(state, 0, NULL), 100, &t);
		cr_expect_eq(t.fails, 0, "%s: %s", cases[i].file, t.why);
		cr_expect_eq(t.datasets + t.ends + (int64_t)json_array_size(t.requests), 0, "%s", cases[i].file);
		cr_expect_eq(counted(&t, "exceeded_transfer_limit"), strstr(cases[i].file, "exceeded") ? 1 : 0);
		tally_free(&t);
		/* one more expected: the rest is asked for after the largest id received */
		snprintf(state, sizeof(state), "{\"layer\":\"" LAYER "\",\"oid\":\"OBJECTID\",\"a\":0,\"b\":99999999,"
					       "\"expect\":%lld}", (long long)cases[i].features + 1);
		tally_init(&t);
		read_file_with("arcgis-batch", cases[i].file, LAYER "/query", json_loads(state, 0, NULL), 100, &t);
		cr_expect_eq(counted(&t, "short_batch"), 1, "%s", cases[i].file);
		cr_assert_eq(t.dists, 1, "%s: %s", cases[i].file, t.why);
		cr_expect_eq(dist_expect(&t, 0, 0), 1);
		cr_expect(strstr(dist_str(&t, 0, 0, "url"), cases[i].rest), "%s", dist_str(&t, 0, 0, "url"));
		tally_free(&t);
	}
	expect_failure("arcgis-batch", "arcgis/pyesridump-kent-statistics-error.json", LAYER "/query", BATCH_STATE(1, 9, 9),
		       "ArcGIS error: 400: Unable to complete operation.");
	expect_failure("arcgis-batch", "arcgis/pyesridump-carson-count.json", LAYER "/query", BATCH_STATE(1, 9, 9),
		       "not an ArcGIS query answer: no features");
	expect_failure("arcgis-batch", "arcgis/pyesridump-carson-ids.json", LAYER "/query", BATCH_STATE(1, 9, 9),
		       "not an ArcGIS query answer: no features");
	expect_failure("arcgis-batch", "", LAYER "/query", BATCH_STATE(1, 9, 9), "JSON");
}

/* Features are counted, not kept: a geometry larger than any collected value passes. */
Test(catalog, arcgis_batch_geometry_is_not_collected)
{
	size_t big = 20u << 20, len = 0;
	char *body = malloc(big + 1000);
	len += (size_t)sprintf(body, "{\"features\":[{\"id\":5,\"geometry\":{\"type\":\"LineString\",\"coordinates\":[");
	while (len < big)
		len += (size_t)sprintf(body + len, "[1.5,2.5],");
	len += (size_t)sprintf(body + len, "[0,0]]},\"properties\":{\"objectid\":7}}]}");
	tally t;
	tally_init(&t);
	feed_bytes("arcgis-batch", body, len, LAYER "/query", json_loads(BATCH_STATE(5, 9, 2), 0, NULL), 1 << 16, &t);
	cr_expect_eq(t.fails, 0, "%s", t.why);
	cr_expect_eq(counted(&t, "short_batch"), 1);
	cr_assert_eq(t.dists, 1);
	cr_expect_str_eq(dist_str(&t, 0, 0, "url"), LAYER "/query?where=OBJECTID%3E7%20AND%20OBJECTID%3C%3D9&outFields=*"
						    "&orderByFields=OBJECTID&returnGeometry=true&f=geojson",
			 "the id is the largest of id and properties.objectid (any case)");
	tally_free(&t);
	free(body);
}

/* ---- what no server may do ---- */

/* Every real answer, whole, cut and with bytes changed, to every step: no crash, at most one failure. */
Test(catalog, any_answer_to_any_step, .timeout = 600)
{
	static const char *const steps[] = {"dcat",         "ckan",       "socrata",    "datagov",
					    "arcgis-services", "arcgis-layer", "arcgis-ids", "arcgis-batch"};
	char path[4200];
	shared_path(path, sizeof(path), "index.json");
	json_t *index = json_load_file(path, 0, NULL), *e;
	size_t i, tried = 0;
	cr_assert(index);
	json_array_foreach(index, i, e) {
		const char *file = json_string_value(json_object_get(e, "file"));
		if (!strncmp(file, "dcat-us/", 8))
			continue; /* large; read by the DCAT-US tests above */
		size_t len;
		char *body = slurp(file, &len);
		uint64_t x = i + 1;
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			for (int variant = 0; variant < 3; variant++) {
				char *copy = malloc(len + 1);
				size_t n = variant == 1 ? len / 2 : len;
				memcpy(copy, body, len);
				for (int flips = 0; variant == 2 && len && flips < 16; flips++) {
					x = x * 6364136223846793005u + 1442695040888963407u;
					copy[(x >> 33) % len] = (char)(x >> 20);
				}
				tally t;
				tally_init(&t);
				feed_bytes(steps[k], copy, n, LAYER "/query?f=json",
					   json_pack("{s:s, s:s, s:i, s:i}", "layer", LAYER, "oid", "OBJECTID", "b", 9, "expect", 3),
					   97, &t);
				cr_expect_leq(t.fails, 1, "%s as %s (%d)", file, steps[k], variant);
				cr_expect(t.fails == 0 || t.ends == 0, "%s as %s (%d): failed and ended", file, steps[k], variant);
				tally_free(&t);
				free(copy);
				tried++;
			}
		}
		free(body);
	}
	cr_expect_geq(tried, 40u * 8 * 3);
	json_decref(index);
}

/* What a reader keeps of a value is bounded: ids, names and cursors of megabytes are not carried on. */
Test(catalog, overlong_values_are_not_carried)
{
	size_t big = 5000;
	char *huge = malloc(big + 1), body[16000];
	memset(huge, 'a', big);
	huge[big] = '\0';
	tally t;
	tally_init(&t);
	snprintf(body, sizeof(body), "{\"result\":{\"count\":9,\"results\":[{\"id\":\"%s\",\"name\":\"%s\"}]}}", huge, huge);
	read_body("ckan", body, CKAN_PAGE, "{\"rows\":1}", &t);
	cr_expect_eq(counted(&t, "id_too_long"), 1);
	cr_expect_null(ds_str(&t, 0, "landing"));
	cr_expect_str_eq(request_url(&t, 0), CKAN_PAGE "&start=1", "no cursor: by offset");
	tally_free(&t);

	tally_init(&t);
	snprintf(body, sizeof(body), "{\"results\":[{\"resource\":{\"id\":\"%s\",\"type\":\"dataset\"}}]}", huge);
	read_body("socrata", body, SOCRATA_PAGE, NULL, &t);
	cr_expect_eq(counted(&t, "id_too_long"), 1);
	cr_expect_eq(t.datasets, 1);
	cr_expect_eq(t.dists, 0);
	tally_free(&t);

	tally_init(&t);
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"objectIdField\":\"%s\",\"fields\":[]}", huge, huge);
	read_body("arcgis-layer", body, LAYER "?f=json", NULL, &t);
	cr_assert_eq(json_array_size(t.requests), 1u);
	expect_state(&t, 0, "{\"layer\":\"" LAYER "\",\"oid\":\"OBJECTID\",\"max\":1000}");
	tally_free(&t);

	tally_init(&t);
	snprintf(body, sizeof(body), "{\"results\":[{\"title\":\"x\"}],\"after\":\"%s\"}", huge);
	read_body("datagov", body, DATAGOV_PAGE, NULL, &t);
	cr_expect_eq(counted(&t, "cursor_too_long"), 1);
	cr_expect_eq(t.ends + (int64_t)json_array_size(t.requests), 0, "stopped, not complete");
	tally_free(&t);
	free(huge);
}

/* ---- the streaming reader itself ---- */

typedef struct {
	int n, dropped;
	json_t *got;
} collect;

static sv_js_action want_results(void *ctx, const sv_js_path *p)
{
	(void)ctx;
	if (sv_js_path_is(p, "result.results[]") || sv_js_path_is(p, "result.count"))
		return SV_JS_COLLECT;
	if (sv_js_path_is(p, "") || sv_js_path_is(p, "result") || sv_js_path_is(p, "result.results"))
		return SV_JS_DESCEND;
	return SV_JS_SKIP;
}

static int got_value(void *ctx, const sv_js_path *p, json_t *v)
{
	collect *c = ctx;
	(void)p;
	if (!v) {
		c->dropped++;
		return 0;
	}
	c->n++;
	json_array_append(c->got, v);
	return 0;
}

Test(jsonstream, collects_what_is_wanted_with_a_cap)
{
	const char *doc = "\xEF\xBB\xBF{\"help\": \"x\", \"result\": {\"count\": 3, \"skip\": [1, {\"a\": [2]}], "
			  "\"results\": [{\"id\": \"a\", \"n\": 1.5}, {\"id\": \"" /* a big one */;
	collect c = {0, 0, json_array()};
	sv_js *js = NULL;
	cr_assert_eq(sv_js_new(&js, want_results, got_value, &c, 200), 0);
	cr_assert_eq(sv_js_feed(js, doc, strlen(doc)), 0);
	char big[400];
	memset(big, 'x', sizeof(big));
	cr_assert_eq(sv_js_feed(js, big, sizeof(big)), 0);
	const char *rest = "\", \"more\": [1,2,3]}, {\"id\": \"c\\udc92d\", \"k\": [true, false, null]}]}}";
	for (const char *p = rest; *p; p++) /* byte by byte */
		cr_assert_eq(sv_js_feed(js, p, 1), 0);
	cr_assert_eq(sv_js_finish(js), 0);
	cr_expect_eq(c.n, 3, "count and two results");
	cr_expect_eq(c.dropped, 1, "the big one is dropped");
	cr_expect_eq(json_integer_value(json_array_get(c.got, 0)), 3);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(c.got, 1), "id")), "a");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(c.got, 2), "id")), "c\xEF\xBF\xBD" "d",
			 "a lone surrogate becomes U+FFFD");
	cr_expect_eq(sv_js_stats_get(js)->bad_text, 1);
	cr_expect_eq(json_array_size(json_object_get(json_array_get(c.got, 2), "k")), 3);
	sv_js_free(js);
	json_decref(c.got);
}

Test(jsonstream, not_json_and_cut_json_are_errors)
{
	collect c = {0, 0, json_array()};
	sv_js *js = NULL;
	cr_assert_eq(sv_js_new(&js, want_results, got_value, &c, 0), 0);
	cr_expect_neq(sv_js_feed(js, "<html>", 6), 0);
	sv_js_free(js);
	cr_assert_eq(sv_js_new(&js, want_results, got_value, &c, 0), 0);
	const char *cut = "{\"result\": {\"results\": [";
	cr_expect_eq(sv_js_feed(js, cut, strlen(cut)), 0);
	cr_expect_neq(sv_js_finish(js), 0);
	sv_js_free(js);
	json_decref(c.got);
}

Test(jsonstream, raw_bytes_that_are_not_utf8_are_mended)
{
	const char doc[] = "{\"result\": {\"results\": [{\"t\": \"caf\xE9 \x92quoted\x94\"}]}}";
	collect c = {0, 0, json_array()};
	sv_js *js = NULL;
	cr_assert_eq(sv_js_new(&js, want_results, got_value, &c, 0), 0);
	cr_assert_eq(sv_js_feed(js, doc, sizeof(doc) - 1), 0);
	cr_assert_eq(sv_js_finish(js), 0);
	cr_assert_eq(c.n, 1);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(c.got, 0), "t")),
			 "caf\xEF\xBF\xBD \xEF\xBF\xBDquoted\xEF\xBF\xBD");
	sv_js_free(js);
	json_decref(c.got);
}

Test(jsonstream, path_patterns)
{
	sv_js_frame f[] = {{"result", 0}, {"results", 0}, {NULL, 4}};
	sv_js_path p = {f, 3};
	cr_expect(sv_js_path_is(&p, "result.results[]"));
	cr_expect(sv_js_path_is(&p, "*.results[]"));
	cr_expect(!sv_js_path_is(&p, "result.results"));
	cr_expect(!sv_js_path_is(&p, "results[]"));
	sv_js_path top = {f, 0};
	cr_expect(sv_js_path_is(&top, ""));
	sv_js_frame g[] = {{NULL, 0}};
	sv_js_path arr = {g, 1};
	cr_expect(sv_js_path_is(&arr, "[]"));
}

/* ---- members left out of collected values ---- */

static int keep_small(void *ctx, const sv_js_path *p)
{
	(void)ctx;
	const char *k = p->frames[p->depth - 1].key;
	return !(k && (!strcmp(k, "description") || !strcmp(k, "spatial")));
}

Test(jsonstream, members_left_out_are_not_built)
{
	const char *doc = "{\"result\": {\"results\": ["
			  "{\"id\": \"a\", \"description\": \"long text\", \"spatial\": {\"x\": [1, 2, {\"y\": [3]}]},"
			  " \"keep\": {\"description\": \"nested is left out too\", \"n\": 1}},"
			  "{\"id\": \"b\", \"spatial\": [[[1]]], \"description\": {\"a\": [{}]}}"
			  "], \"count\": 2}}";
	collect c = {0, 0, json_array()};
	sv_js *js = NULL;
	cr_assert_eq(sv_js_new(&js, want_results, got_value, &c, 0), 0);
	sv_js_set_keep(js, keep_small);
	for (const char *p = doc; *p; p++) /* byte by byte: every path through the parser */
		cr_assert_eq(sv_js_feed(js, p, 1), 0);
	cr_assert_eq(sv_js_finish(js), 0, "%s", sv_error_last());
	cr_assert_eq(c.n, 3, "two results and the count after them");
	json_t *a = json_array_get(c.got, 0), *b = json_array_get(c.got, 1);
	cr_expect_str_eq(json_string_value(json_object_get(a, "id")), "a");
	cr_expect_null(json_object_get(a, "description"));
	cr_expect_null(json_object_get(a, "spatial"));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(a, "keep"), "n")), 1);
	cr_expect_null(json_object_get(json_object_get(a, "keep"), "description"));
	cr_expect_eq(json_object_size(b), 1, "only b's id");
	cr_expect_eq(json_integer_value(json_array_get(c.got, 2)), 2, "the path is right after the left-out members");
	sv_js_free(js);
	json_decref(c.got);
}

/* A value cut for its size while members are left out: the reading goes on, its path intact. */
Test(jsonstream, cap_and_left_out_members_together)
{
	const char *head = "{\"result\": {\"results\": [{\"id\": \"big\", \"description\": \"x\", \"spatial\": {\"k\": [";
	collect c = {0, 0, json_array()};
	sv_js *js = NULL;
	cr_assert_eq(sv_js_new(&js, want_results, got_value, &c, 300), 0);
	sv_js_set_keep(js, keep_small);
	cr_assert_eq(sv_js_feed(js, head, strlen(head)), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(sv_js_feed(js, "1,", 2), 0);
	const char *mid = "1]}, \"pad\": [";
	cr_assert_eq(sv_js_feed(js, mid, strlen(mid)), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(sv_js_feed(js, "\"0123456789\",", 13), 0);
	const char *tail = "\"end\"]}, {\"id\": \"small\"}], \"count\": 2}}";
	cr_assert_eq(sv_js_feed(js, tail, strlen(tail)), 0);
	cr_assert_eq(sv_js_finish(js), 0, "%s", sv_error_last());
	cr_expect_eq(c.dropped, 1, "the big one");
	cr_expect_eq(c.n, 2, "the small one and the count");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(c.got, 0), "id")), "small");
	cr_expect_eq(json_integer_value(json_array_get(c.got, 1)), 2);
	sv_js_free(js);
	json_decref(c.got);
}

/* The probes follow one another, each family in its order, and end. */
Test(catalog, probes_in_order)
{
	static const char *const autos[] = {"https://x.gov/api/3/action/status_show",
					    "https://x.gov/api/catalog/v1?only=dataset&limit=1",
					    "https://x.gov/api/feed/dcat-us/1.1.json"};
	char *url = NULL;
	const char *step;
	json_t *state = NULL, *next = NULL;
	cr_assert_eq(sv_catalog_first(SV_SHEET_AUTO, "https://x.gov/", &url, &step, &state), 0);
	for (size_t i = 0; i < 3; i++) {
		free(url);
		cr_assert_eq(sv_catalog_probe_next(state, &url, &next), 0);
		cr_assert_str_eq(url, autos[i]);
		json_decref(state);
		state = next;
	}
	free(url);
	cr_assert_eq(sv_catalog_probe_next(state, &url, &next), 0);
	cr_expect_null(url, "no probe after the fourth");
	json_decref(state);
	cr_assert_eq(sv_catalog_first(SV_SHEET_DATAGOV, "https://catalog.data.gov/", &url, &step, &state), 0);
	free(url);
	cr_assert_eq(sv_catalog_probe_next(state, &url, &next), 0);
	cr_expect_str_eq(url, "https://catalog.data.gov/api/3/action/status_show", "then CKAN, as it was");
	free(url);
	json_decref(state);
	state = next;
	cr_assert_eq(sv_catalog_probe_next(state, &url, &next), 0);
	cr_expect_null(url);
	json_decref(state);
}

/* A probe's answer: the catalog it finds asks for its listing; anything else fails the probe. */
Test(catalog, probe_answers)
{
	static const struct {
		const char *family;
		int i;
		const char *body, *want_step; /* NULL: the probe fails */
	} cases[] = {
		{"auto", 1, "{\"success\": true, \"result\": {\"ckan_version\": \"2.10.4\", \"site_url\": \"x\"}}", "ckan"},
		{"auto", 1, "{\"success\": false, \"error\": {\"message\": \"no\"}}", NULL},
		{"auto", 1, "<html>Not found</html>", NULL},
		{"auto", 2, "{\"results\": [], \"resultSetSize\": 0}", "socrata"},
		{"auto", 2, "{\"error\": \"no\"}", NULL},
		{"datagov", 0, "{\"results\": [{\"title\": \"x\"}], \"after\": \"abc\"}", "datagov"},
		{"datagov", 0, "{\"error\": {\"code\": \"API_KEY_MISSING\"}}", NULL},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		tally t;
		tally_init(&t);
		sv_catalog_sink sink = {&t, on_dataset, on_request, on_end, on_fail, on_count};
		json_t *state = json_pack("{s:i, s:s, s:s}", "i", cases[k].i, "base", "https://x.gov", "family",
					  cases[k].family);
		void *r = NULL;
		cr_assert_eq(sv_catalog_probe.open(&r, "https://x.gov/probe", state, &sink), 0);
		if (sv_catalog_probe.feed(r, cases[k].body, strlen(cases[k].body)) == 0)
			sv_catalog_probe.finish(r);
		sv_catalog_probe.free(r);
		if (cases[k].want_step) {
			cr_expect_eq(t.fails, 0, "case %zu: %s", k, t.why);
			cr_expect_eq(json_array_size(t.requests), 1, "case %zu", k);
			cr_expect_str_eq(json_string_value(json_object_get(json_array_get(t.requests, 0), "step")),
					 cases[k].want_step, "case %zu", k);
		} else {
			cr_expect_eq(t.fails, 1, "case %zu fails", k);
			cr_expect_eq(json_array_size(t.requests), 0, "case %zu", k);
		}
		json_decref(state);
		tally_free(&t);
	}
}
