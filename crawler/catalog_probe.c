/*
 * crawler/catalog_probe.c -- a row of kind auto: which catalog a site runs,
 * found by asking, one probe after another, in the order of catalog.h:
 *
 *   0  {base}/data.json                   a DCAT-US catalog: read at once, as dcat
 *   1  {base}/api/3/action/status_show    CKAN: its package_search is asked next
 *   2  {base}/api/catalog/v1?limit=1      Socrata: its Discovery API is asked next
 *   3  {base}/api/feed/dcat-us/1.1.json   an ArcGIS Hub: read at once, as dcat
 *
 * and a row of kind datagov, whose catalog moved off CKAN to a search API
 * (and may move again): asked, not assumed:
 *
 *   0  {base}/search?per_page=1           data.gov's Catalog API: paged with `after` next
 *   1  {base}/api/3/action/status_show    CKAN, as catalog.data.gov was
 *
 * A probe is a catalog request (step "probe", state {i, base}). Its answer is
 * read by this reader; an answer that is not that catalog (a soft 404 page,
 * an error envelope) fails the probe, and so does an error status. A failed
 * probe is not asked again: the next one is queued (sv_catalog_probe_next,
 * by the fetcher), so nothing is assumed and nothing is asked twice. When the
 * last probe fails, the row's capture records say what each probe got.
 */
#include "catalog.h"

#include "jsonstream.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>

enum { P_DCAT, P_CKAN, P_SOCRATA, P_HUB, P_DATAGOV };

typedef struct {
	const char *path, *query;
	int what;
} probe_def;

static const probe_def autos[] = {{"/data.json", "", P_DCAT},
				  {"/api/3/action/status_show", "", P_CKAN},
				  {"/api/catalog/v1", "?only=dataset&limit=1", P_SOCRATA},
				  {"/api/feed/dcat-us/1.1.json", "", P_HUB}};
static const probe_def datagovs[] = {{"/search", "?per_page=1", P_DATAGOV}, {"/api/3/action/status_show", "", P_CKAN}};

/* The probes of a family ("auto" or "datagov"), *n of them. */
static const probe_def *family_of(const char *family, size_t *n)
{
	int dg = family && !strcmp(family, "datagov");
	*n = dg ? sizeof(datagovs) / sizeof(datagovs[0]) : sizeof(autos) / sizeof(autos[0]);
	return dg ? datagovs : autos;
}

typedef struct {
	int i, what;
	char *base;
	const sv_catalog_sink *sink;
	/* probes 0 and 3: the DCAT reader itself */
	void *dcat;
	/* probes 1 and 2: what the answer said */
	sv_js *js;
	int ok, failed;
} probe;

static int is_dcat(int what)
{
	return what == P_DCAT || what == P_HUB;
}

/* The URL and state of probe i of family of base (malloc'd URL; new state). */
static char *probe_url(const char *base, const char *family, int i, json_t **state)
{
	size_t np;
	const probe_def *p = &family_of(family, &np)[i];
	size_t n = strlen(base) + strlen(p->path) + strlen(p->query) + 1;
	char *u = malloc(n);
	if (!u)
		return NULL;
	snprintf(u, n, "%s%s%s", base, p->path, p->query);
	*state = json_pack("{s:i, s:s, s:s}", "i", i, "base", base, "family", family);
	if (!*state) {
		free(u);
		return NULL;
	}
	return u;
}

static char *first_probe(const char *url, size_t len, const char *family, const char **step, json_t **state)
{
	char *base = strndup(url, len), *u;
	if (!base)
		return NULL;
	u = probe_url(base, family, 0, state);
	free(base);
	*step = "probe";
	return u;
}

char *sv_catalog_auto_first(const char *url, const char **step, json_t **state)
{
	return first_probe(url, sv_catalog_base_len(url), "auto", step, state);
}

char *sv_catalog_datagov_probe_first(const char *url, const char **step, json_t **state)
{
	size_t n = sv_catalog_base_len(url);
	if (n >= 7 && !strncmp(url + n - 7, "/search", 7))
		n -= 7; /* the search itself was given */
	return first_probe(url, n, "datagov", step, state);
}

int sv_catalog_probe_next(json_t *state, char **url, json_t **next_state)
{
	int i = (int)json_integer_value(json_object_get(state, "i"));
	const char *base = json_string_value(json_object_get(state, "base"));
	const char *family = json_string_value(json_object_get(state, "family"));
	size_t n;
	family_of(family, &n);
	*url = NULL;
	*next_state = NULL;
	if (!base || i + 1 >= (int)n || i < 0)
		return 0; /* no probe left */
	if (!(*url = probe_url(base, family ? family : "auto", i + 1, next_state)))
		return sv_error_set(SV_EIO, "out of memory");
	return 0;
}

static sv_js_action want(void *ctx, const sv_js_path *p)
{
	probe *r = ctx;
	if (p->depth == 0)
		return SV_JS_DESCEND;
	if (p->depth == 1 && r->what == P_CKAN && (sv_js_path_is(p, "success") || sv_js_path_is(p, "result")))
		return SV_JS_COLLECT;
	if (p->depth == 1 && (r->what == P_SOCRATA || r->what == P_DATAGOV) && sv_js_path_is(p, "results"))
		return SV_JS_COLLECT;
	return SV_JS_SKIP;
}

static int on_value(void *ctx, const sv_js_path *p, json_t *v)
{
	probe *r = ctx;
	if (r->what == P_CKAN && sv_js_path_is(p, "success") && json_is_false(v))
		r->failed = 1;
	else if (r->what == P_CKAN && sv_js_path_is(p, "result") && json_is_object(v) &&
		 (json_object_get(v, "ckan_version") || json_object_get(v, "site_url")))
		r->ok = 1;
	else if (r->what != P_CKAN && (json_is_array(v) || !v))
		r->ok = 1; /* a results list (one too big to hold is still one) */
	return 0;
}

static void probe_free(void *state)
{
	probe *r = state;
	if (!r)
		return;
	if (r->dcat)
		sv_catalog_dcat.free(r->dcat);
	sv_js_free(r->js);
	free(r->base);
	free(r);
}

static int probe_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	probe *r = calloc(1, sizeof(*r));
	int rc;
	if (!r)
		return sv_error_set(SV_EIO, "out of memory");
	size_t n;
	const probe_def *defs = family_of(json_string_value(json_object_get(state, "family")), &n);
	r->i = (int)json_integer_value(json_object_get(state, "i"));
	if (r->i < 0 || r->i >= (int)n)
		r->i = 0;
	r->what = defs[r->i].what;
	r->sink = sink;
	const char *base = json_string_value(json_object_get(state, "base"));
	if (!(r->base = strdup(base ? base : url))) {
		free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	rc = is_dcat(r->what) ? sv_catalog_dcat.open(&r->dcat, url, NULL, sink) : sv_js_new(&r->js, want, on_value, r, 0);
	if (rc) {
		probe_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int probe_feed(void *state, const void *buf, size_t len)
{
	probe *r = state;
	if (r->dcat)
		return sv_catalog_dcat.feed(r->dcat, buf, len);
	if (sv_js_feed(r->js, buf, len) != 0) {
		r->sink->fail(r->sink->ctx, "not this catalog's answer: not JSON");
		return -1;
	}
	return 0;
}

static void probe_finish(void *state)
{
	probe *r = state;
	char *url = NULL;
	const char *step = NULL;
	json_t *next = NULL;
	if (r->dcat) {
		sv_catalog_dcat.finish(r->dcat);
		return;
	}
	static const char *const names[] = {[P_CKAN] = "CKAN", [P_SOCRATA] = "Socrata", [P_DATAGOV] = "data.gov's Catalog API"};
	static const char *const counts[] = {[P_CKAN] = "probed_ckan", [P_SOCRATA] = "probed_socrata",
					     [P_DATAGOV] = "probed_datagov"};
	static sv_catalog_first_fn *const firsts[] = {[P_CKAN] = sv_catalog_ckan_first,
						      [P_SOCRATA] = sv_catalog_socrata_first,
						      [P_DATAGOV] = sv_catalog_datagov_first};
	if (sv_js_finish(r->js) != 0 || r->failed || !r->ok) {
		char why[64];
		snprintf(why, sizeof(why), "not %s", names[r->what]);
		r->sink->fail(r->sink->ctx, why);
		return;
	}
	sv_catalog_count(r->sink, counts[r->what], 1);
	url = firsts[r->what](r->base, &step, &next);
	if (!url || !next || r->sink->request(r->sink->ctx, url, step, next) != 0)
		r->sink->fail(r->sink->ctx, "out of memory");
	free(url);
	json_decref(next);
}

const sv_catalog_reader sv_catalog_probe = {"probe", probe_open, probe_feed, probe_finish, probe_free};
