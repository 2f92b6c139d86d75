/*
 * crawler/catalog_ckan.c -- CKAN portals: package_search pages read one
 * package at a time, and each page's successor.
 *
 * The first request: <portal>/api/3/action/package_search?q=*:*&sort=id asc
 * &rows=1000 (encoded), the portal being the row's URL up to any action API
 * path it holds (/api/3/action/..., /api/action/...).
 *
 * What is read: `result.count` and `result.results[]` (or `count` and
 * `results[]` at the top, where only the result was kept, as Zurich's
 * recorder did), whatever envelope holds them: CKAN's {help, success,
 * result}, EnviDat's without help, data.go.id's {status, message, result}.
 * `success: false`, or no results list at all (package_show, package_list,
 * a Spring Boot 404 page), fails the answer with the error's message.
 * Titles may be language maps ({"de": ..., "en": ""}, opendata.swiss): the
 * first of en, de, fr, it, then any, that is not blank.
 *
 * Paging that nothing changes under: pages are sorted by id and each one
 * asks for the ids after the last one seen (fq=id:{"<last>" TO *], a Solr
 * range with an exclusive lower bound), so packages added or deleted while
 * the catalog is read shift no page; `count` is then what remains after
 * the cursor. The listing ends with an empty page or one that holds all of
 * count. A server that caps rows below what was asked (rows_max) only
 * makes shorter pages (rows_capped). A server whose ids come out of order
 * ignores the sort, and a keyset would skip packages there: the catalog
 * goes on by offset (start=), the best such a server allows (sort_ignored);
 * so does one that sends ids at or before the cursor (cursor_ignored).
 *
 * State: {rows, after: the cursor this page was asked after, offset: where
 * this page starts, once paging is by offset}.
 */
#include "catalog.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ROWS 1000           /* rows asked for; CKAN's default rows_max */
#define RESOURCES_MAX 10000 /* resources taken from one package; the rest are counted */

typedef struct {
	sv_catalog_stream s;
	char *base;            /* the portal, for landing pages */
	int64_t rows;          /* asked for */
	int64_t offset;        /* where this page starts; -1 when paging by keyset */
	int64_t count;         /* result.count, or -1 */
	int64_t n;             /* packages on this page */
	sv_catalog_keyset ids; /* their order */
	int listed;            /* a results list was seen */
	int success_false;
	json_t *message;       /* the envelope's (data.go.id), kept for a failure's reason */
} reader;

/* The portal of url: what comes before its action API path, without query and trailing '/' (malloc'd). */
static char *portal_base(const char *url)
{
	static const char *const tails[] = {"/api/3/action", "/api/action"};
	char *b = strndup(url, sv_catalog_base_len(url)), *p = NULL;
	if (!b)
		return NULL;
	for (size_t i = 0; !p && i < sizeof(tails) / sizeof(tails[0]); i++)
		p = strstr(b, tails[i]);
	size_t n = p ? (size_t)(p - b) : strlen(b);
	if (!p && n >= 6 && !strcmp(b + n - 6, "/api/3"))
		n -= 6;
	else if (!p && n >= 4 && !strcmp(b + n - 4, "/api"))
		n -= 4;
	while (n > 0 && b[n - 1] == '/')
		n--;
	b[n] = '\0';
	return b;
}

char *sv_catalog_ckan_first(const char *url, const char **step, json_t **state)
{
	sv_catalog_url u = {0};
	char *base = portal_base(url);
	if (!base)
		return NULL;
	sv_catalog_url_raw(&u, base, strlen(base));
	sv_catalog_url_raw(&u, "/api/3/action/package_search", 28);
	sv_catalog_url_param(&u, "q", "*:*");
	sv_catalog_url_param(&u, "sort", "id asc");
	sv_catalog_url_num(&u, "rows", ROWS);
	free(base);
	*step = "ckan";
	*state = json_pack("{s:I}", "rows", (json_int_t)ROWS);
	return sv_catalog_url_take(&u);
}

/* ---- one package ---- */

/* A text that may be a language map (opendata.swiss): en, de, fr, it, else any that is not blank. */
static const char *text(const json_t *o, const char *key)
{
	static const char *const langs[] = {"en", "de", "fr", "it"};
	json_t *v = json_object_get(o, key), *x;
	const char *s, *k;
	if (!json_is_object(v))
		return sv_catalog_str(o, key);
	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++)
		if ((s = sv_catalog_str(v, langs[i])))
			return s;
	json_object_foreach(v, k, x)
		if ((s = sv_catalog_str(v, k)))
			return s;
	return NULL;
}

static const char *publisher(const json_t *pkg)
{
	const json_t *org = json_object_get(pkg, "organization");
	const char *s = text(org, "title");
	if (!s)
		s = sv_catalog_str(org, "name");
	if (!s)
		s = text(pkg, "author");
	return s ? s : text(pkg, "maintainer");
}

static sv_dist_role role_of(const char *url, const char *format)
{
	if (!url)
		return SV_DIST_NONE;
	if (sv_catalog_is_service_format(format))
		return SV_DIST_API;
	if (format &&
	    (!strcasecmp(format, "html") || !strcasecmp(format, "web page") || !strcasecmp(format, "webpage")))
		return SV_DIST_ACCESS;
	return SV_DIST_DOWNLOAD;
}

/* The distributions of a package's resources into dists (room for two each): the count. */
static size_t resources(reader *r, const json_t *list, size_t total, sv_catalog_dist *dists)
{
	size_t n = 0;
	for (size_t i = 0; i < total; i++) {
		const json_t *res = json_array_get(list, i);
		if (!json_is_object(res)) {
			sv_catalog_count(r->s.sink, "not_an_object", 1);
			continue;
		}
		const char *url = sv_catalog_str(res, "url"), *down = sv_catalog_str(res, "download_url");
		const char *media = sv_catalog_str(res, "mimetype"), *format = sv_catalog_str(res, "format");
		const char *title = text(res, "name") ? text(res, "name") : text(res, "title");
		if (!media)
			media = sv_catalog_str(res, "media_type");
		dists[n] = (sv_catalog_dist){url, media, format, title, role_of(url, format), -1, NULL};
		sv_catalog_count(r->s.sink, "resources", 1);
		if (!url)
			sv_catalog_count(r->s.sink, "no_url", 1);
		n++;
		if (down && (!url || strcmp(down, url))) {
			dists[n++] = (sv_catalog_dist){down, media, format, title, SV_DIST_DOWNLOAD, -1, NULL};
			sv_catalog_count(r->s.sink, "download_url_differs", 1);
		}
	}
	return n;
}

static char *landing(const reader *r, const char *name)
{
	sv_catalog_url u = {0};
	sv_catalog_url_raw(&u, r->base, strlen(r->base));
	sv_catalog_url_raw(&u, "/dataset/", 9);
	sv_catalog_url_enc(&u, name, 0);
	return sv_catalog_url_take(&u);
}

static int package(reader *r, const json_t *pkg)
{
	sv_catalog_dataset d = {0};
	const json_t *list = json_object_get(pkg, "resources"), *private = json_object_get(pkg, "private");
	const char *id = sv_catalog_str(pkg, "id"), *name = sv_catalog_str(pkg, "name");
	const char *slug = name ? name : id; /* of the landing page; not one of megabytes */
	size_t total = json_array_size(list);
	char *land = NULL;
	int rc = 0;
	sv_catalog_keyset_see(&r->ids, r->s.sink, r->s.cursor, id);
	if (total > RESOURCES_MAX) {
		sv_catalog_count(r->s.sink, "resources_over_cap", (int64_t)(total - RESOURCES_MAX));
		total = RESOURCES_MAX;
	}
	sv_catalog_dist *dists = malloc((2 * total + 1) * sizeof(*dists));
	if (slug && strlen(slug) > SV_CATALOG_ID_MAX)
		slug = NULL;
	if (!dists || (slug && !(land = landing(r, slug)))) {
		free(dists);
		return sv_error_set(SV_EIO, "out of memory");
	}
	d.identifier = id ? id : name;
	d.title = text(pkg, "title");
	d.publisher = publisher(pkg);
	d.modified = sv_catalog_str(pkg, "metadata_modified");
	d.landing = land;
	d.access_level = json_is_boolean(private) ? (json_is_true(private) ? "non-public" : "public") : NULL;
	d.dists = dists;
	d.ndists = resources(r, list, total, dists);
	sv_catalog_count(r->s.sink, "datasets", 1);
	rc = r->s.sink->dataset(r->s.sink->ctx, &d);
	free(land);
	free(dists);
	return rc;
}

/* ---- the page ---- */

static int is_envelope_key(const char *key)
{
	return key && (!strcmp(key, "success") || !strcmp(key, "message"));
}

static sv_js_action want(void *ctx, const sv_js_path *p)
{
	reader *r = ctx;
	if (p->depth == 0 || sv_js_path_is(p, "result"))
		return SV_JS_DESCEND;
	if (sv_js_path_is(p, "result.results") || sv_js_path_is(p, "results")) {
		r->listed = 1;
		return SV_JS_DESCEND;
	}
	if (sv_js_path_is(p, "result.results[]") || sv_js_path_is(p, "results[]") || sv_js_path_is(p, "result.count") ||
	    sv_js_path_is(p, "count") || sv_catalog_is_error(p) || (p->depth == 1 && is_envelope_key(p->frames[0].key)))
		return SV_JS_COLLECT;
	return SV_JS_SKIP;
}

static int on_value(void *ctx, const sv_js_path *p, json_t *v)
{
	reader *r = ctx;
	const char *key = p->frames[p->depth - 1].key;
	if (sv_catalog_is_error(p))
		return sv_catalog_keep_error(&r->s, v);
	if (!key) {
		r->n++;
		if (!json_is_object(v)) {
			sv_catalog_count(r->s.sink, v ? "not_a_package" : "package_too_big", 1);
			return 0;
		}
		return package(r, v);
	}
	if (!strcmp(key, "count"))
		r->count = json_is_integer(v) ? json_integer_value(v) : -1;
	else if (!strcmp(key, "success"))
		r->success_false = json_is_false(v);
	else if (v) {
		json_decref(r->message);
		r->message = json_incref(v);
	}
	return 0;
}

/* Solr's filter for the ids after id: a range with an exclusive lower bound, the id quoted (malloc'd). */
static char *cursor_filter(const char *id)
{
	sv_catalog_url f = {0};
	sv_catalog_url_raw(&f, "id:{\"", 5);
	for (const char *c = id; *c; c++) {
		if (*c == '"' || *c == '\\')
			sv_catalog_url_raw(&f, "\\", 1);
		sv_catalog_url_raw(&f, c, 1);
	}
	sv_catalog_url_raw(&f, "\" TO *]", 7);
	return sv_catalog_url_take(&f);
}

/* The next page: after the cursor after (NULL: none), from start (-1: by keyset). */
static int next_page(reader *r, const char *after, int64_t start)
{
	char *filter = after ? cursor_filter(after) : NULL, *url = NULL, num[32];
	if (!after || filter)
		url = sv_catalog_url_set(r->s.url, "fq", filter);
	free(filter);
	if (url && start >= 0) {
		char *with_start;
		snprintf(num, sizeof(num), "%lld", (long long)start);
		with_start = sv_catalog_url_set(url, "start", num);
		free(url);
		url = with_start;
	}
	json_t *state = json_pack("{s:I, s:s*}", "rows", (json_int_t)r->rows, "after", after);
	if (state && start >= 0 && json_object_set_new(state, "offset", json_integer(start))) {
		json_decref(state);
		state = NULL;
	}
	return sv_catalog_request(r->s.sink, url, "ckan", state);
}

static int last_page(const reader *r)
{
	if (r->n == 0)
		return 1;
	return r->count >= 0 && (r->offset < 0 ? r->n : r->offset + r->n) >= r->count;
}

static int go_on(reader *r)
{
	if (r->count < 0)
		sv_catalog_count(r->s.sink, "no_count", 1);
	else if (r->n < r->rows)
		sv_catalog_count(r->s.sink, "rows_capped", 1);
	if (r->offset >= 0)
		return next_page(r, r->s.cursor, r->offset + r->n);
	if (r->ids.behind) {
		sv_catalog_count(r->s.sink, "cursor_ignored", 1);
		return next_page(r, NULL, r->n);
	}
	if (r->ids.unsorted)
		sv_catalog_count(r->s.sink, "sort_ignored", 1);
	if (r->ids.unsorted || !r->ids.last[0])
		return next_page(r, r->s.cursor, r->n);
	return next_page(r, r->ids.last, -1);
}

static void ckan_finish(void *state)
{
	reader *r = state;
	if (r->success_false && !r->s.error)
		r->s.error = r->message ? json_incref(r->message) : json_string("success is false");
	if (sv_catalog_stream_finish(&r->s, "CKAN"))
		return;
	if (!r->listed)
		sv_catalog_fail_with(&r->s, "not a CKAN package_search answer", r->message);
	else if (last_page(r))
		sv_catalog_end(&r->s);
	else if (go_on(r))
		sv_catalog_fail(&r->s, "%s", sv_error_last());
}

static void ckan_free(void *state)
{
	reader *r = state;
	if (!r)
		return;
	free(r->base);
	json_decref(r->message);
	sv_catalog_reader_free(r);
}

static int ckan_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	reader *r;
	int rc = sv_catalog_reader_new((void **)&r, sizeof(*r), url, sv_catalog_str(state, "after"), sink, want,
				       on_value);
	if (rc)
		return rc;
	r->rows = sv_catalog_int(state, "rows", ROWS);
	if (r->rows < 1)
		r->rows = ROWS;
	r->offset = sv_catalog_int(state, "offset", -1);
	r->count = -1;
	if (!(r->base = portal_base(url))) {
		ckan_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*out = r;
	return 0;
}

const sv_catalog_reader sv_catalog_ckan = {"ckan", ckan_open, sv_catalog_feed, ckan_finish, ckan_free};
