/*
 * crawler/catalog_socrata.c -- Socrata domains, through the Discovery API
 * (/api/catalog/v1, served on every domain): one page of assets at a time,
 * each dataset with its CSV export and its metadata document.
 *
 * The first request goes to the row's own origin (scheme and port kept, so
 * that a test server on loopback serves it too), for its host's assets:
 * /api/catalog/v1?domains=<host>&search_context=<host>&only=dataset
 * &limit=1000&scroll_id=.
 *
 * Paging: offsets stop at 10,000 results (the cap shows as resultSetSize
 * 10000 in discovery-only-dataset-story.json); past them the API scrolls.
 * socrata/cetera#278 ("enable deep scrolling", 2017), which added it: when
 * `scroll_id` is given, results are sorted by asset id and only ids after
 * it come back; "initially you won't have a value ... so you will leave it
 * blank", and each later request passes the id of the last result. So the
 * first page carries an empty scroll_id, to be in the same id order as the
 * pages after it, and no `order`: the scroll decides the order. The next
 * page is the same query with scroll_id=<last id>; the listing ends with a
 * page shorter than limit, or empty. A page whose ids do not move past its
 * scroll_id (scroll_ignored) would come back for ever: the listing stops
 * there, and is not said to be complete.
 *
 * Each result: resource.type "dataset" (or no type) is a dataset with
 * https://<metadata.domain>/api/views/<id>/rows.csv?accessType=DOWNLOAD
 * (DOWNLOAD) and /api/views/<id>.json (META); the catalog's own origin
 * stands in for a domain that is missing or is not a host name, and is
 * kept (scheme and port) when the domain is the catalog's. Other types
 * (story, chart, map, href, file, filter...) are counted (not_a_dataset);
 * an href, a link to data elsewhere, is passed on as a page (ACCESS): its
 * resource.url, else its Socrata page. An `error` member, or a `message`
 * with no results, fails the answer.
 *
 * State: {limit, scroll_id: the id this page was asked after}.
 */
#include "catalog.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIMIT 1000 /* results asked for (the API allows up to 10,000) */

typedef struct {
	sv_catalog_stream s;   /* its cursor: the scroll_id this page was asked after */
	char *origin;          /* the answer's scheme://host[:port] */
	char *host;            /* its host */
	int64_t limit;         /* asked for */
	int64_t n;             /* results on the page */
	sv_catalog_keyset ids; /* their order */
	int listed;            /* a results list was seen */
	json_t *message;       /* a `message` member, for a failure's reason */
} reader;

/* The length of url's origin (scheme://host[:port]); its host (no port) at *host, *host_len bytes. */
static size_t origin_of(const char *url, const char **host, size_t *host_len)
{
	const char *a = strstr(url, "://");
	a = a ? a + 3 : url;
	size_t n = strcspn(a, "/?#");
	const char *end = *a == '[' ? memchr(a, ']', n) : NULL;
	const char *colon = memchr(end ? end : a, ':', n - (size_t)((end ? end : a) - a));
	*host = a;
	*host_len = colon ? (size_t)(colon - a) : n;
	return (size_t)(a - url) + n;
}

char *sv_catalog_socrata_first(const char *url, const char **step, json_t **state)
{
	sv_catalog_url u = {0};
	const char *h;
	size_t hlen, olen = origin_of(url, &h, &hlen);
	char *host = strndup(h, hlen);
	if (!host)
		return NULL;
	sv_catalog_url_raw(&u, url, olen);
	sv_catalog_url_raw(&u, "/api/catalog/v1", 15);
	sv_catalog_url_param(&u, "domains", host);
	sv_catalog_url_param(&u, "search_context", host);
	sv_catalog_url_param(&u, "only", "dataset");
	sv_catalog_url_num(&u, "limit", LIMIT);
	sv_catalog_url_param(&u, "scroll_id", "");
	free(host);
	*step = "socrata";
	*state = json_pack("{s:I}", "limit", (json_int_t)LIMIT);
	return sv_catalog_url_take(&u);
}

/* ---- one result ---- */

static int is_host_name(const char *s)
{
	if (!s || !*s || strlen(s) > 253)
		return 0;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '.'))
			return 0;
	return 1;
}

/* https://<domain>/api/views/<id><tail> (malloc'd). */
static char *view_url(const reader *r, const char *domain, const char *id, const char *tail)
{
	sv_catalog_url u = {0};
	if (!domain || !strcasecmp(domain, r->host)) {
		sv_catalog_url_raw(&u, r->origin, strlen(r->origin));
	} else {
		sv_catalog_url_raw(&u, "https://", 8);
		sv_catalog_url_raw(&u, domain, strlen(domain));
	}
	sv_catalog_url_raw(&u, "/api/views/", 11);
	sv_catalog_url_enc(&u, id, 0);
	sv_catalog_url_raw(&u, tail, strlen(tail));
	return sv_catalog_url_take(&u);
}

/* What every asset says of itself. */
static void describe(const json_t *res, const json_t *resource, sv_catalog_dataset *d)
{
	const char *modified = sv_catalog_str(resource, "data_updated_at");
	if (!modified)
		modified = sv_catalog_str(resource, "updatedAt");
	d->identifier = sv_catalog_str(resource, "id");
	d->title = sv_catalog_str(resource, "name");
	d->publisher = sv_catalog_str(resource, "attribution");
	if (!d->publisher)
		d->publisher = sv_catalog_str(json_object_get(res, "metadata"), "domain");
	d->modified = modified ? modified : sv_catalog_str(resource, "metadata_updated_at");
	d->landing = sv_catalog_str(res, "permalink");
	if (!d->landing)
		d->landing = sv_catalog_str(res, "link");
}

static int dataset(reader *r, const json_t *res, const json_t *resource)
{
	sv_catalog_dataset d = {0};
	const char *domain = sv_catalog_str(json_object_get(res, "metadata"), "domain");
	char *csv = NULL, *meta = NULL;
	int rc;
	describe(res, resource, &d);
	sv_catalog_count(r->s.sink, "datasets", 1);
	if (!is_host_name(domain)) {
		sv_catalog_count(r->s.sink, "no_domain", 1);
		domain = NULL;
	}
	if (d.identifier && strlen(d.identifier) > SV_CATALOG_ID_MAX)
		d.identifier = NULL; /* counted (id_too_long): no URLs of megabytes */
	if (d.identifier && (!(csv = view_url(r, domain, d.identifier, "/rows.csv?accessType=DOWNLOAD")) ||
			     !(meta = view_url(r, domain, d.identifier, ".json")))) {
		free(csv);
		return sv_error_set(SV_EIO, "out of memory");
	}
	sv_catalog_dist dists[] = {{csv, "text/csv", "CSV", NULL, SV_DIST_DOWNLOAD, -1, NULL},
				   {meta, "application/json", "JSON", NULL, SV_DIST_META, -1, NULL}};
	d.dists = dists;
	d.ndists = csv ? 2 : 0;
	rc = r->s.sink->dataset(r->s.sink->ctx, &d);
	free(csv);
	free(meta);
	return rc;
}

/* An href is a link to data kept elsewhere: passed on as a page. Other assets are not data. */
static int not_a_dataset(reader *r, const json_t *res, const json_t *resource, const char *type)
{
	sv_catalog_dataset d = {0};
	sv_catalog_count(r->s.sink, "not_a_dataset", 1);
	if (strcmp(type, "href"))
		return 0;
	describe(res, resource, &d);
	sv_catalog_dist link = {sv_catalog_str(resource, "url"), NULL, NULL, NULL, SV_DIST_ACCESS, -1, NULL};
	if (!link.url)
		link.url = d.landing;
	d.dists = &link;
	d.ndists = link.url ? 1 : 0;
	return r->s.sink->dataset(r->s.sink->ctx, &d);
}

static int result(reader *r, const json_t *res)
{
	const json_t *resource = json_object_get(res, "resource");
	const char *type = sv_catalog_str(resource, "type");
	r->n++;
	if (!json_is_object(resource)) {
		sv_catalog_count(r->s.sink, res ? "not_a_result" : "result_too_big", 1);
		return 0;
	}
	sv_catalog_keyset_see(&r->ids, r->s.sink, r->s.cursor, sv_catalog_str(resource, "id"));
	if (type && strcmp(type, "dataset"))
		return not_a_dataset(r, res, resource, type);
	return dataset(r, res, resource);
}

/* ---- the page ---- */

static sv_js_action want(void *ctx, const sv_js_path *p)
{
	reader *r = ctx;
	return sv_catalog_want_page(p, "results", "message", &r->listed);
}

static int on_value(void *ctx, const sv_js_path *p, json_t *v)
{
	reader *r = ctx;
	if (sv_catalog_is_error(p))
		return sv_catalog_keep_error(&r->s, v);
	if (p->depth == 1) {
		json_decref(r->message);
		r->message = json_incref(v);
		return 0;
	}
	return result(r, v);
}

static int next_page(reader *r)
{
	char *url = sv_catalog_url_set(r->s.url, "scroll_id", r->ids.last);
	json_t *state = json_pack("{s:I, s:s}", "limit", (json_int_t)r->limit, "scroll_id", r->ids.last);
	return sv_catalog_request(r->s.sink, url, "socrata", state);
}

static void socrata_finish(void *state)
{
	reader *r = state;
	if (sv_catalog_stream_finish(&r->s, "Socrata"))
		return;
	if (!r->listed) {
		sv_catalog_fail_with(&r->s, "not a Socrata Discovery API answer", r->message);
		return;
	}
	if (r->n < r->limit) {
		sv_catalog_end(&r->s);
		return;
	}
	if (r->ids.behind || !r->ids.last[0]) {
		sv_catalog_count(r->s.sink, "scroll_ignored", 1);
		return;
	}
	if (r->ids.unsorted)
		sv_catalog_count(r->s.sink, "sort_ignored", 1);
	if (next_page(r))
		sv_catalog_fail(&r->s, "%s", sv_error_last());
}

static void socrata_free(void *state)
{
	reader *r = state;
	if (!r)
		return;
	free(r->origin);
	free(r->host);
	json_decref(r->message);
	sv_catalog_reader_free(r);
}

static int socrata_open(void **out, const char *url, json_t *state, const sv_catalog_sink *sink)
{
	reader *r;
	const char *host;
	size_t hlen, olen = origin_of(url, &host, &hlen);
	int rc = sv_catalog_reader_new((void **)&r, sizeof(*r), url, sv_catalog_str(state, "scroll_id"), sink, want,
				       on_value);
	if (rc)
		return rc;
	r->limit = sv_catalog_int(state, "limit", LIMIT);
	if (r->limit < 1)
		r->limit = LIMIT;
	r->origin = strndup(url, olen);
	r->host = strndup(host, hlen);
	if (!r->origin || !r->host) {
		socrata_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*out = r;
	return 0;
}

const sv_catalog_reader sv_catalog_socrata = {"socrata", socrata_open, sv_catalog_feed, socrata_finish, socrata_free};
