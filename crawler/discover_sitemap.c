/*
 * crawler/discover_sitemap.c -- sitemaps as a discovery reader (sitemap.c
 * does the parsing): what the queue holds as a sitemap is read as one,
 * whatever its Content-Type; gzip, as .xml.gz or Content-Encoding, is
 * inflated by the parser.
 */
#include "discover.h"

#include "sitemap.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	sv_sitemap *sitemap;
	char *base; /* the sitemap's URL: <loc> values are resolved against it */
	sv_found_fn fn;
	void *ctx;
} reader;

static void on_loc(void *ctx, const char *raw, int index)
{
	reader *r = ctx;
	char *url = NULL;
	if (sv_url_normalize(&url, raw, r->base) != 0)
		return; /* a bad <loc> is the site's problem, not ours */
	r->fn(r->ctx, url, index ? SV_FOUND_SITEMAP : SV_FOUND_LISTED);
	free(url);
}

static void sitemap_free(void *state)
{
	reader *r = state;
	if (!r)
		return;
	sv_sitemap_free(r->sitemap);
	free(r->base);
	free(r);
}

static int sitemap_open(void **state, const sv_discover_response *resp, sv_found_fn fn, void *ctx)
{
	int rc;
	if (!resp->sitemap)
		return 0;
	reader *r = calloc(1, sizeof(*r));
	if (!r || !(r->base = strdup(resp->url))) {
		free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	r->fn = fn;
	r->ctx = ctx;
	if ((rc = sv_sitemap_new(&r->sitemap, 0, on_loc, r))) {
		sitemap_free(r);
		return rc;
	}
	*state = r;
	return 1;
}

static int sitemap_feed(void *state, const void *buf, size_t len)
{
	sv_sitemap_feed(((reader *)state)->sitemap, buf, len);
	return 0;
}

static void sitemap_finish(void *state)
{
	sv_sitemap_finish(((reader *)state)->sitemap);
}

const sv_discover_reader sv_discover_sitemap = {"sitemap", sitemap_open, sitemap_feed, sitemap_finish,
						 sitemap_free};
