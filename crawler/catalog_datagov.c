/*
 * crawler/catalog_datagov.c -- data.gov's Catalog API (the v4 API at
 * api.gsa.gov, earlier at catalog.data.gov): /search pages read one result
 * at a time.
 *
 * The first request: <base>/search?per_page=100, the base being the row's
 * URL without query and trailing '/' (and without /search, if given).
 *
 * Each result carries `dcat`, the DCAT-US dataset as harvested, which is
 * read as a data.json dataset is (sv_catalog_dcat_dataset). Where it is
 * missing or not an object (the API's documentation abbreviates it) the
 * result's own identifier, title and organization make a dataset with no
 * distributions (no_dcat), so that the volunteers still see it.
 *
 * Paging: `after`, an opaque cursor, asks for the page after this one; a
 * page without it, or with no results, ends the listing. A cursor that
 * comes back unchanged would ask for the same page for ever, and one of
 * over CURSOR_MAX bytes would not fit in a URL: either is counted
 * (cursor_repeated, cursor_too_long) and the listing stops there, not said
 * to be complete.
 * api.data.gov's error envelope {error: {code, message}} (a rate limit)
 * fails the answer.
 *
 * State: {after: the cursor this page was asked after}.
 */
#include "catalog.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>

#define PER_PAGE 100
#define CURSOR_MAX 4096 /* a longer cursor would not fit in a URL */

typedef struct {
	sv_catalog_stream s; /* its cursor: the `after` this page was asked after */
	char *next;          /* this page's `after`, or NULL */
	int64_t n;           /* results on the page */
	int listed;          /* a results list was seen */
	int too_long;        /* a cursor too long to ask with: the listing cannot go on */
} reader;

char *sv_catalog_datagov_first(const char *url, const char **step, json_t **state)
{
	sv_catalog_url u = {0};
	size_t n = sv_catalog_base_len(url);
	if (n >= 7 && !strncmp(url + n - 7, "/search", 7))
		n -= 7; /* the search itself was given */
	sv_catalog_url_raw(&u, url, n);
	sv_catalog_url_raw(&u, "/search", 7);
	sv_catalog_url_num(&u, "per_page", PER_PAGE);
	*step = "datagov";
	*state = json_object();
	return sv_catalog_url_take(&u);
}

/* A result with no DCAT-US record: what it says of itself. */
static int own_dataset(reader *r, const json_t *res)
{
	sv_catalog_dataset d = {0};
	const json_t *org = json_object_get(res, "organization");
	sv_catalog_count(r->s.sink, "no_dcat", 1);
	sv_catalog_count(r->s.sink, "datasets", 1);
	d.identifier = sv_catalog_str(res, "identifier");
	d.title = sv_catalog_str(res, "title");
	d.publisher = sv_catalog_str(org, "name");
	if (!d.publisher)
		d.publisher = sv_catalog_str(res, "publisher");
	d.modified = sv_catalog_str(res, "modified");
	d.landing = sv_catalog_str(res, "landingPage");
	d.access_level = sv_catalog_str(res, "accessLevel");
	return r->s.sink->dataset(r->s.sink->ctx, &d);
}

static sv_js_action want(void *ctx, const sv_js_path *p)
{
	reader *r = ctx;
	return sv_catalog_want_page(p, "results", "after", &r->listed);
}

/* This page's `after`: kept, unless it is too long to ask with. */
static int take_cursor(reader *r, const json_t *v)
{
	const char *next = json_string_value(v);
	free(r->next);
	r->next = NULL;
	if (!next || !*next)
		return 0;
	if (strlen(next) > CURSOR_MAX) {
		r->too_long = 1;
		sv_catalog_count(r->s.sink, "cursor_too_long", 1);
		return 0;
	}
	return (r->next = strdup(next)) ? 0 : sv_error_set(SV_EIO, "out of memory");
}

static int on_value(void *ctx, const sv_js_path *p, json_t *v)
{
	reader *r = ctx;
	if (sv_catalog_is_error(p))
		return sv_catalog_keep_error(&r->s, v);
	if (p->depth == 1)
		return take_cursor(r, v);
	r->n++;
	if (!json_is_object(v)) {
		sv_catalog_count(r->s.sink, v ? "not_a_result" : "result_too_big", 1);
		return 0;
	}
	if (json_is_object(json_object_get(v, "dcat")))
		return sv_catalog_dcat_dataset(r->s.sink, json_object_get(v, "dcat"));
	return own_dataset(r, v);
}

static void datagov_finish(void *state)
{
	reader *r = state;
	if (sv_catalog_stream_finish(&r->s, "api.data.gov"))
		return;
	if (!r->listed) {
		sv_catalog_fail(&r->s, "not a data.gov Catalog API search answer: no results list");
		return;
	}
	if (r->too_long)
		return; /* counted: the listing stops here, not complete */
	if (!r->next || r->n == 0) {
		sv_catalog_end(&r->s);
		return;
	}
	if (r->s.cursor && !strcmp(r->s.cursor, r->next)) {
		sv_catalog_count(r->s.sink, "cursor_repeated", 1);
		return;
	}
	char *url = sv_catalog_url_set(r->s.url, "after", r->next);
	if (sv_catalog_request(r->s.sink, url, "datagov", json_pack("{s:s}", "after", r->next)))
		sv_catalog_fail(&r->s, "%s", sv_error_last());
}

static void datagov_free(void *state)
{
	reader *r = state;
	if (r)
		free(r->next);
	sv_catalog_reader_free(r);
}

static int datagov_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	return sv_catalog_reader_new(out, sizeof(reader), url, sv_catalog_str(state, "after"), sink, want, on_value);
}

const sv_catalog_reader sv_catalog_datagov = {"datagov", datagov_open, sv_catalog_feed, datagov_finish, datagov_free};
