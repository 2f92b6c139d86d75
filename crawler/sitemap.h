/*
 * crawler/sitemap.h -- reading sitemaps (sitemaps.org) as they arrive:
 * <urlset> gives page URLs, <sitemapindex> gives more sitemaps. Gzipped
 * bodies (.xml.gz) are inflated on the way. libxml2's push parser with SAX
 * callbacks: no DOM, no network, no entity expansion, no DTD loading.
 */
#ifndef SV_SITEMAP_H
#define SV_SITEMAP_H

#include <stddef.h>

/* url: a <loc> as written (the caller resolves and normalises it); index: the document's root element
 * is <sitemapindex> (only the root decides: one nested deeper changes nothing). */
typedef void (*sv_sitemap_fn)(void *ctx, const char *url, int index);

typedef struct sv_sitemap sv_sitemap;

/* max_urls: stop after this many <loc> (sitemaps.org allows 50,000); 0 = 50,000. */
int sv_sitemap_new(sv_sitemap **out, size_t max_urls, sv_sitemap_fn fn, void *ctx);
int sv_sitemap_feed(sv_sitemap *s, const void *buf, size_t len); /* bad XML is not an error */
int sv_sitemap_finish(sv_sitemap *s);
size_t sv_sitemap_found(const sv_sitemap *s);
void sv_sitemap_free(sv_sitemap *s); /* NULL is a no-op */

#endif
