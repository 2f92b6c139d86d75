/*
 * crawler/discover_links.c -- the links of HTML pages and stylesheets, as a
 * discovery reader (links.c does the parsing).
 *
 * Taken: HTML and XHTML, CSS, and bodies of no useful type that look like
 * HTML. A body sent with Content-Encoding gzip or deflate is stored as sent
 * and inflated here, for the parser only; other encodings are not read.
 */
#include "discover.h"

#include "inflate.h"
#include "links.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
	sv_links *links;
	z_stream *inflater; /* NULL: the body is not encoded */
	sv_found_fn fn;
	void *ctx;
} reader;

static int is_type(const char *ct, const char *type)
{
	size_t n = strlen(type);
	return ct && !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void on_link(void *ctx, const char *url, sv_link_kind kind)
{
	reader *r = ctx;
	r->fn(r->ctx, url, kind == SV_LINK_REQUISITE ? SV_FOUND_REQUISITE : SV_FOUND_PAGE);
}

static void links_free(void *state)
{
	reader *r = state;
	if (!r)
		return;
	sv_links_free(r->links);
	sv_inflater_free(r->inflater);
	free(r);
}

static int links_open(void **state, const sv_discover_response *resp, sv_found_fn fn, void *ctx)
{
	const char *ct = resp->content_type, *enc = resp->content_encoding;
	int inflate_it = sv_inflater_coding(enc);
	sv_links_type type;
	if (resp->sitemap || inflate_it < 0)
		return 0;
	if (is_type(ct, "text/html") || is_type(ct, "application/xhtml+xml"))
		type = SV_LINKS_HTML;
	else if (is_type(ct, "text/css"))
		type = SV_LINKS_CSS;
	else if ((!ct || is_type(ct, "text/plain") || is_type(ct, "application/octet-stream")) &&
		 sv_links_sniff_html(resp->first, resp->first_len))
		type = SV_LINKS_HTML;
	else
		return 0;
	reader *r = calloc(1, sizeof(*r));
	if (!r)
		return sv_error_set(SV_EIO, "out of memory");
	r->fn = fn;
	r->ctx = ctx;
	if (sv_links_new(&r->links, type, resp->url, 0, on_link, r) != 0) {
		links_free(r);
		return 0; /* a URL the parser cannot take as a base: no links from it */
	}
	if (inflate_it) {
		int rc = sv_inflater_new(&r->inflater);
		if (rc) {
			links_free(r);
			return rc;
		}
	}
	const char *cs = ct ? strcasestr(ct, "charset=") : NULL;
	if (cs)
		sv_links_set_charset(r->links, cs + 8);
	*state = r;
	return 1;
}

static void to_links(void *ctx, const void *buf, size_t len)
{
	sv_links_feed(ctx, buf, len);
}

/* Damage in an encoded body ends the parsing, not the download. */
static int links_feed(void *state, const void *buf, size_t len)
{
	reader *r = state;
	if (!r->inflater) {
		sv_links_feed(r->links, buf, len);
		return 0;
	}
	return sv_inflater_feed(r->inflater, buf, len, to_links, r->links);
}

static void links_finish(void *state)
{
	sv_links_finish(((reader *)state)->links);
}

const sv_discover_reader sv_discover_links = {"links", links_open, links_feed, links_finish, links_free};
