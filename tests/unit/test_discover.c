/*
 * tests/unit/test_discover.c -- discovery: which reader takes a response,
 * and what each finds, fed the way the fetch loop feeds it.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../crawler/discover.h"

#include <zlib.h>

typedef struct {
	char urls[16][128];
	sv_found_kind kinds[16];
	size_t n;
} found;

static void on_found(void *ctx, const char *url, sv_found_kind kind)
{
	found *f = ctx;
	cr_assert_lt(f->n, 16);
	snprintf(f->urls[f->n], sizeof(f->urls[f->n]), "%s", url);
	f->kinds[f->n++] = kind;
}

/* Reads body as a response of this type and encoding, in pieces of chunk bytes; 0 when no reader took it. */
static int read_body(found *f, const char *url, int sitemap, const char *type, const char *enc, const void *body,
		     size_t len, size_t chunk)
{
	sv_discover *d = NULL;
	sv_discover_response r = {url, sitemap, type, enc, body, len < chunk ? len : chunk};
	memset(f, 0, sizeof(*f));
	cr_assert_eq(sv_discover_open(&d, &r, on_found, f), 0, "%s", sv_error_last());
	if (!d)
		return 0;
	for (size_t off = 0; off < len; off += chunk)
		sv_discover_feed(d, (const char *)body + off, len - off < chunk ? len - off : chunk);
	sv_discover_finish(d);
	sv_discover_free(d);
	return 1;
}

static const char page[] = "<!DOCTYPE html><html><head><link rel=stylesheet href=/s.css></head>"
			   "<body><a href=\"data/x.csv\">x</a><img src=logo.png></body></html>";

static size_t gzip_of(const void *in, size_t len, unsigned char *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = z.total_out;
	deflateEnd(&z);
	return n;
}

Test(discover, html_links_with_their_kinds)
{
	found f;
	cr_assert(read_body(&f, "https://a.gov/p/", 0, "text/html; charset=utf-8", NULL, page, strlen(page), 7));
	cr_assert_eq(f.n, 3);
	cr_assert_str_eq(f.urls[0], "https://a.gov/s.css");
	cr_assert_eq(f.kinds[0], SV_FOUND_REQUISITE);
	cr_assert_str_eq(f.urls[1], "https://a.gov/p/data/x.csv");
	cr_assert_eq(f.kinds[1], SV_FOUND_PAGE);
	cr_assert_str_eq(f.urls[2], "https://a.gov/p/logo.png");
	cr_assert_eq(f.kinds[2], SV_FOUND_REQUISITE);
}

/* A gzip page is stored as sent; its links are read from the inflated bytes, whatever the chunking. */
Test(discover, gzip_page_gives_the_same_links)
{
	unsigned char gz[1024];
	size_t n = gzip_of(page, strlen(page), gz, sizeof(gz));
	found plain, zipped;
	read_body(&plain, "https://a.gov/p/", 0, "text/html", NULL, page, strlen(page), 4096);
	for (size_t chunk = 1; chunk <= n; chunk += 13) {
		cr_assert(read_body(&zipped, "https://a.gov/p/", 0, "text/html", "gzip", gz, n, chunk));
		cr_assert_eq(zipped.n, plain.n, "chunk %zu", chunk);
		for (size_t i = 0; i < plain.n; i++)
			cr_assert_str_eq(zipped.urls[i], plain.urls[i]);
	}
}

/* Damage in the encoded body ends the reading quietly; what came before it counts. */
Test(discover, damaged_gzip_ends_reading)
{
	unsigned char gz[1024];
	size_t n = gzip_of(page, strlen(page), gz, sizeof(gz));
	memset(gz + 20, 0xff, n - 30);
	found f;
	cr_assert(read_body(&f, "https://a.gov/p/", 0, "text/html", "gzip", gz, n, 64));
	cr_assert_lt(f.n, 3);
}

Test(discover, what_no_reader_takes)
{
	found f;
	cr_assert_not(read_body(&f, "https://a.gov/d.pdf", 0, "application/pdf", NULL, "%PDF-1.4", 8, 8));
	cr_assert_not(read_body(&f, "https://a.gov/p/", 0, "text/html", "br", page, strlen(page), 64));
	cr_assert_not(read_body(&f, "https://a.gov/x", 0, "text/plain", NULL, "just text", 9, 9));
	/* No type, but it looks like HTML: read. */
	cr_assert(read_body(&f, "https://a.gov/p/", 0, NULL, NULL, page, strlen(page), 64));
	cr_assert_eq(f.n, 3);
}

Test(discover, css)
{
	static const char css[] = "body{background:url(\"../img/bg.png\")} @import 'more.css';";
	found f;
	cr_assert(read_body(&f, "https://a.gov/s/site.css", 0, "text/css", NULL, css, strlen(css), 5));
	cr_assert_eq(f.n, 2);
	cr_assert_str_eq(f.urls[0], "https://a.gov/img/bg.png");
	cr_assert_str_eq(f.urls[1], "https://a.gov/s/more.css");
}

/* What the queue holds as a sitemap is read as one, whatever its type; <loc> values resolve against it. */
Test(discover, sitemaps)
{
	static const char index[] = "<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/"
				    "sitemap/0.9\"><sitemap><loc>/maps/a.xml</loc></sitemap></sitemapindex>";
	static const char set[] = "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><url><loc>"
				  "https://a.gov/data/y.csv</loc></url><url><loc>javascript:x</loc></url></urlset>";
	found f;
	cr_assert(read_body(&f, "https://a.gov/sitemap.xml", 1, "text/html", NULL, index, strlen(index), 9));
	cr_assert_eq(f.n, 1);
	cr_assert_str_eq(f.urls[0], "https://a.gov/maps/a.xml");
	cr_assert_eq(f.kinds[0], SV_FOUND_SITEMAP);
	cr_assert(read_body(&f, "https://a.gov/maps/a.xml", 1, "application/xml", NULL, set, strlen(set), 9));
	cr_assert_eq(f.n, 1, "a <loc> that is not http(s) is dropped");
	cr_assert_str_eq(f.urls[0], "https://a.gov/data/y.csv");
	cr_assert_eq(f.kinds[0], SV_FOUND_LISTED);
	/* Not a sitemap in the queue: an XML body is not read for URLs. */
	cr_assert_not(read_body(&f, "https://a.gov/maps/a.xml", 0, "application/xml", NULL, set, strlen(set), 9));
}

/* Only the root element makes a sitemap an index: a <sitemapindex> inside a <urlset> lists pages, and
 * one in an unknown root is no index either. */
Test(discover, sitemap_index_only_by_its_root)
{
	static const char nested[] = "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><url><loc>/p1.html</loc>"
				     "</url><sitemapindex><sitemap><loc>/more.xml</loc></sitemap></sitemapindex>"
				     "<url><loc>/p2.html</loc></url></urlset>";
	static const char deep[] = "<feed><sitemapindex><sitemap><loc>/x.xml</loc></sitemap></sitemapindex></feed>";
	static const char index[] = "<sitemapindex><sitemap><loc>/a.xml</loc></sitemap><urlset><url><loc>/b.xml"
				    "</loc></url></urlset></sitemapindex>";
	found f;
	cr_assert(read_body(&f, "https://a.gov/sitemap.xml", 1, NULL, NULL, nested, strlen(nested), 7));
	cr_assert_eq(f.n, 3);
	for (size_t i = 0; i < f.n; i++)
		cr_assert_eq(f.kinds[i], SV_FOUND_LISTED, "%s", f.urls[i]);
	cr_assert(read_body(&f, "https://a.gov/sitemap.xml", 1, NULL, NULL, deep, strlen(deep), 5));
	cr_assert_eq(f.n, 1);
	cr_assert_eq(f.kinds[0], SV_FOUND_LISTED);
	cr_assert(read_body(&f, "https://a.gov/sitemap.xml", 1, NULL, NULL, index, strlen(index), 5));
	cr_assert_eq(f.n, 2);
	cr_assert_eq(f.kinds[0], SV_FOUND_SITEMAP);
	cr_assert_eq(f.kinds[1], SV_FOUND_SITEMAP);
}
