/*
 * tests/unit/test_catalog.c -- catalog readers on real catalogs
 * (../shared/catalogs, read in place), fed in small and large pieces, and
 * the streaming JSON reader under them.
 */
#include "../../crawler/catalog.h"
#include "../../crawler/jsonstream.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a sink that counts ---- */

typedef struct {
	int64_t datasets, dists, download, access, api, layer, none, meta;
	int64_t no_id, ends, fails;
	char why[512];
	json_t *counts; /* name -> n */
	json_t *requests; /* [{url, step, state}] */
	json_t *ids;      /* identifiers seen */
} tally;

static int on_dataset(void *ctx, const sv_catalog_dataset *d)
{
	tally *t = ctx;
	t->datasets++;
	if (!d->identifier)
		t->no_id++;
	else
		json_array_append_new(t->ids, json_string(d->identifier));
	for (size_t i = 0; i < d->ndists; i++) {
		t->dists++;
		switch (d->dists[i].role) {
		case SV_DIST_DOWNLOAD: t->download++; break;
		case SV_DIST_ACCESS: t->access++; break;
		case SV_DIST_API: t->api++; break;
		case SV_DIST_LAYER: t->layer++; break;
		case SV_DIST_META: t->meta++; break;
		case SV_DIST_NONE: t->none++; break;
		}
	}
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
}

static void tally_free(tally *t)
{
	json_decref(t->counts);
	json_decref(t->requests);
	json_decref(t->ids);
}

static void shared_path(char *buf, size_t cap, const char *file)
{
	char root[4096];
	th_repo_root(root, sizeof(root));
	snprintf(buf, cap, "%s/../shared/catalogs/%s", root, file);
}

/* Feeds a file to step's reader in pieces of chunk bytes. */
static void read_file_with(const char *step, const char *file, const char *url, json_t *state, size_t chunk, tally *t)
{
	char path[4200];
	const sv_catalog_reader *rd = sv_catalog_reader_for(step);
	cr_assert(rd, "a reader for %s", step);
	shared_path(path, sizeof(path), file);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	sv_catalog_sink sink = {t, on_dataset, on_request, on_end, on_fail, on_count};
	void *r = NULL;
	cr_assert_eq(rd->open(&r, url, state, &sink), 0);
	char *buf = malloc(chunk);
	size_t n;
	int stopped = 0;
	while (!stopped && (n = fread(buf, 1, chunk, f)) > 0)
		stopped = rd->feed(r, buf, n) != 0;
	if (!stopped)
		rd->finish(r);
	rd->free(r);
	free(buf);
	fclose(f);
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
	/* usaid: lone UTF-16 surrogate escapes from a Windows-1252 feed */
	tally_init(&t);
	read_file_with("dcat", "dcat-us/usaid.json", "https://www.usaid.gov/data.json", NULL, 65536, &t);
	cr_assert_eq(t.fails, 0, "%s", t.why);
	cr_expect_gt(counted(&t, "bad_text"), 0, "the surrogates are counted");
	cr_expect_gt(counted(&t, "modified_interval"), 0, "R/P1D");
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
