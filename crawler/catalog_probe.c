/*
 * crawler/catalog_probe.c -- a row of kind auto: which catalog a site runs,
 * found by asking, one probe after another, in the order of catalog.h:
 *
 *   0  {base}/data.json                   a DCAT-US catalog: read at once, as dcat
 *   1  {base}/api/3/action/status_show    CKAN: its package_search is asked next
 *   2  {base}/api/catalog/v1?limit=1      Socrata: its Discovery API is asked next
 *   3  {base}/api/feed/dcat-us/1.1.json   an ArcGIS Hub: read at once, as dcat
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

#define PROBES 4

typedef struct {
	int i;
	char *base;
	const sv_catalog_sink *sink;
	/* probes 0 and 3: the DCAT reader itself */
	void *dcat;
	/* probes 1 and 2: what the answer said */
	sv_js *js;
	int ok, failed;
} probe;

static const char *const paths[PROBES] = {"/data.json", "/api/3/action/status_show", "/api/catalog/v1",
					  "/api/feed/dcat-us/1.1.json"};

static int is_dcat(int i)
{
	return i == 0 || i == 3;
}

/* The URL and state of probe i of base (malloc'd URL; new state). */
static char *probe_url(const char *base, int i, json_t **state)
{
	size_t n = strlen(base) + strlen(paths[i]) + 32;
	char *u = malloc(n);
	if (!u)
		return NULL;
	snprintf(u, n, "%s%s%s", base, paths[i], i == 2 ? "?only=dataset&limit=1" : "");
	*state = json_pack("{s:i, s:s}", "i", i, "base", base);
	if (!*state) {
		free(u);
		return NULL;
	}
	return u;
}

char *sv_catalog_auto_first(const char *url, const char **step, json_t **state)
{
	char *base = strndup(url, sv_catalog_base_len(url)), *u;
	if (!base)
		return NULL;
	u = probe_url(base, 0, state);
	free(base);
	*step = "probe";
	return u;
}

int sv_catalog_probe_next(json_t *state, char **url, json_t **next_state)
{
	int i = (int)json_integer_value(json_object_get(state, "i"));
	const char *base = json_string_value(json_object_get(state, "base"));
	*url = NULL;
	*next_state = NULL;
	if (!base || i + 1 >= PROBES || i < 0)
		return 0; /* no probe left */
	if (!(*url = probe_url(base, i + 1, next_state)))
		return sv_error_set(SV_EIO, "out of memory");
	return 0;
}

static sv_js_action want(void *ctx, const sv_js_path *p)
{
	probe *r = ctx;
	if (p->depth == 0)
		return SV_JS_DESCEND;
	if (p->depth == 1 && r->i == 1 && (sv_js_path_is(p, "success") || sv_js_path_is(p, "result")))
		return SV_JS_COLLECT;
	if (p->depth == 1 && r->i == 2 && sv_js_path_is(p, "results"))
		return SV_JS_COLLECT;
	return SV_JS_SKIP;
}

static int on_value(void *ctx, const sv_js_path *p, json_t *v)
{
	probe *r = ctx;
	if (r->i == 1 && sv_js_path_is(p, "success") && json_is_false(v))
		r->failed = 1;
	else if (r->i == 1 && sv_js_path_is(p, "result") && json_is_object(v) &&
		 (json_object_get(v, "ckan_version") || json_object_get(v, "site_url")))
		r->ok = 1;
	else if (r->i == 2 && json_is_array(v))
		r->ok = 1;
	else if (r->i == 2 && !v)
		r->ok = 1; /* a results list too big to hold is still one */
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
	r->i = (int)json_integer_value(json_object_get(state, "i"));
	r->sink = sink;
	const char *base = json_string_value(json_object_get(state, "base"));
	if (!(r->base = strdup(base ? base : url))) {
		free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	rc = is_dcat(r->i) ? sv_catalog_dcat.open(&r->dcat, url, NULL, sink) : sv_js_new(&r->js, want, on_value, r, 0);
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
	if (sv_js_finish(r->js) != 0 || r->failed || !r->ok) {
		r->sink->fail(r->sink->ctx, r->i == 1 ? "not a CKAN site" : "not a Socrata site");
		return;
	}
	sv_catalog_count(r->sink, r->i == 1 ? "probed_ckan" : "probed_socrata", 1);
	url = r->i == 1 ? sv_catalog_ckan_first(r->base, &step, &next) : sv_catalog_socrata_first(r->base, &step, &next);
	if (!url || !next || r->sink->request(r->sink->ctx, url, step, next) != 0)
		r->sink->fail(r->sink->ctx, "out of memory");
	free(url);
	json_decref(next);
}

const sv_catalog_reader sv_catalog_probe = {"probe", probe_open, probe_feed, probe_finish, probe_free};
