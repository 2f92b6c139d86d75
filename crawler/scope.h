/*
 * crawler/scope.h -- scope rules: for each link found on a page, whether to
 * queue it and as what (page, dataset or page requisite).
 *
 * What must stay true:
 * - pages are followed only inside the seed row's scope, within its depth,
 *   matching its include patterns (if any);
 * - datasets and page requisites are fetched from anywhere, but only one hop
 *   out: nothing found on an out-of-scope URL is followed;
 * - exclude patterns and the trap limits (URL length, repeated or too many
 *   path segments) apply to every link, whatever its kind;
 * - a decision needs no allocation and no I/O: it is safe to call for every
 *   link of every page. The per-row caps (max_urls, max_bytes) are the
 *   queue's and the fetcher's business, not this module's.
 *
 * Scopes, against the seed URL (normalised):
 *   page    the seed URL itself, nothing else;
 *   prefix  the seed's folder and below: same host and port, http or https,
 *           and a path starting with the seed's path up to and including its
 *           last '/' ("https://a/b/c" gives "/b/", "https://a/b/" gives "/b/");
 *   host    same host name and port (another port is another server), http or https;
 *   domain  the seed host without a leading "www.", and every host under
 *           it: a seed on www.example.gov takes example.gov, data.example.gov
 *           and www.example.gov, but not other.gov nor badexample.gov; any
 *           port, http or https.
 * A seed that redirects lands somewhere else (http://agency.gov/ to
 * https://www.agency.gov/, often another host): every URL of the seed's own
 * redirect chain is a starting point too (sv_scope_add_landing), and each
 * scope above is taken from each starting point: a URL is in scope when it
 * is in the scope of any of them.
 * Calendars and other endless but well-formed link spaces are bounded by
 * depth and by the row's max_urls, not recognised here.
 */

// Include and exclude patterns (the sheet's cells), written as // comments
// because the examples hold the characters that end a C comment.
//
// A list separated by spaces, tabs, newlines or '|'. Each pattern is a glob
// where '*' stands for any run of characters, '/' and '?' included ("**" is
// the same as "*"); every other character stands for itself, case-sensitively
// ('?' is the query's '?', not a wildcard). A pattern must match the whole of
// what it is matched against, which depends on how it starts:
//   "/..."             the path and query:           /dataset/*   /reports/*.pdf
//   contains "://"     the whole URL:                https://data.example.gov/*
//   anything else      the URL without "scheme://":  */es/*   *.pdf   www.example.gov/data/*
// Patterns are normalised as URLs are (the part before the first '/' in lower
// case when it is the host, one percent-encoding: "caf%C3%A9" and the raw
// UTF-8 compare equal), and a final '$' is dropped (patterns are anchored
// anyway, like a robots.txt rule ending in '$'). There are no regular
// expressions: characters that cannot stand in a URL (" \ ^ < > { } ` and
// controls) and '#' are refused, so /\.csv$/ gets an error rather than a
// pattern that silently never matches.
//
// Exclude applies to every link. Include narrows the pages followed;
// datasets and requisites are fetched whether or not they match it.

#ifndef SV_SCOPE_H
#define SV_SCOPE_H

#include "../common/kind.h"
#include "../seeds/sheet.h"

#define SV_SCOPE_URL_MAX_DEFAULT 2048 /* longest URL followed, in bytes, unless the rules say otherwise */
#define SV_SCOPE_MAX_SEGMENTS 20      /* a URL whose path has more segments is a trap */
#define SV_SCOPE_MAX_REPEATS 3        /* a run of path segments repeated this often in a row is a trap */
#define SV_SCOPE_SITEMAP_LEVELS 3     /* sitemaps read: the first one and two levels of indexes below it */

/* Why a link is not followed: constant strings, for the log. */
#define SV_SCOPE_WHY_NOT_HTTP "not http(s)"
#define SV_SCOPE_WHY_TOO_LONG "URL too long"
#define SV_SCOPE_WHY_REPEATS "trap: repeated path segments"
#define SV_SCOPE_WHY_SEGMENTS "trap: too many path segments"
#define SV_SCOPE_WHY_SOURCE "found on an out-of-scope page"
#define SV_SCOPE_WHY_EXCLUDED "excluded by pattern"
#define SV_SCOPE_WHY_NOT_INCLUDED "not matched by include patterns"
#define SV_SCOPE_WHY_OUT "out of scope"
#define SV_SCOPE_WHY_DEPTH "depth"
#define SV_SCOPE_WHY_NO_DATASETS "datasets not wanted"
#define SV_SCOPE_WHY_PAGE_SITEMAP "page scope reads no sitemap"
#define SV_SCOPE_WHY_NESTING "sitemap indexes nested too deep"

typedef enum {
	SV_SCOPE_AS_PAGE,      /* an HTML page: fetched, and its links looked at */
	SV_SCOPE_AS_DATASET,   /* a data file: fetched and kept, never parsed for links */
	SV_SCOPE_AS_REQUISITE, /* what a page needs to display: images, CSS, scripts */
} sv_scope_kind;

/* SV_KIND_PAGE, SV_KIND_DATASET or SV_KIND_REQUISITE: what the URL is queued and recorded as. */
sv_kind sv_scope_kind_to_kind(sv_scope_kind kind);
/* "page", "dataset" or "requisite": the name of that kind. */
const char *sv_scope_kind_name(sv_scope_kind kind);

typedef struct {
	sv_scope scope;         /* from the sheet */
	int depth;              /* link hops from the seed; -1 = unlimited */
	const char *include;    /* patterns as written in the sheet, or NULL */
	const char *exclude;
	int datasets;           /* 1: fetch datasets; 0: skip links that look like datasets */
	const char *seed_url;   /* the row's URL; normalised again by sv_scope_compile */
	int max_url_length;     /* bytes; 0 = SV_SCOPE_URL_MAX_DEFAULT */
} sv_scope_rules;
#define SV_SCOPE_RULES_INIT {SV_SCOPE_PREFIX, -1, NULL, NULL, 1, NULL, 0}

typedef struct sv_scope_compiled sv_scope_compiled;

typedef struct {
	int follow;          /* 1: queue the URL */
	sv_scope_kind kind;   /* as what (set even when not followed) */
	int in_scope;        /* the URL is inside the row's scope: pass it as source_in_scope for links found on it */
	int depth;           /* hops from the seed the URL is at: from_depth + 1 */
	const char *reason;  /* why not, one of SV_SCOPE_WHY_*; NULL when followed */
} sv_scope_decision;

/*
 * Checks rules once: the seed URL and every include and exclude pattern.
 * SV_EINVAL with a message naming the bad pattern or URL; SV_EIO when out of
 * memory. rules' strings are copied.
 */
int sv_scope_compile(sv_scope_compiled **out, const sv_scope_rules *rules);

/*
 * The decision for url (normalised), a link found on a page at from_depth
 * hops from the seed (the seed is at 0). source_in_scope: that page was in
 * scope (only then are its links followed). link_is_requisite: the HTML
 * parser found it as an image, stylesheet, script or the like. Returns 0, or
 * SV_EINVAL when an argument is missing.
 */
int sv_scope_decide(const sv_scope_compiled *s, const char *url, int from_depth, int source_in_scope,
		    int link_is_requisite, sv_scope_decision *out);

/*
 * The decision for a sitemap at depth hops from the seed: 0 for one that
 * robots.txt names or the seed's /sitemap.xml, one more for each sitemap
 * index above it (an index counts one hop, as a page does; what a sitemap
 * lists is at its depth + 1). A sitemap is read when it is on a server the
 * scope covers (the seed's host and port for prefix and host, the domain for
 * domain; never in page scope, which takes the seed alone), is not excluded
 * (include patterns narrow the pages a sitemap lists, not the sitemaps),
 * is within the row's depth, and is less than SV_SCOPE_SITEMAP_LEVELS deep.
 * out->follow: read it; kind is always a page.
 */
int sv_scope_decide_sitemap(const sv_scope_compiled *s, const char *url, int depth, sv_scope_decision *out);

/*
 * What the crawl does with a URL found on an item (a page or a sitemap) at
 * depth hops, itself in scope or not (sv_scope_item_in_scope): one rule for
 * the fetchers and for a queue rebuilt from the ledger. found_sitemap: a
 * sitemap listed by an index; requisite: an image, stylesheet or script of a
 * page. Returns 1 when the URL is queued, with *depth_out and *kind_out set.
 */
int sv_scope_follow_found(const sv_scope_compiled *s, const char *url, int depth, int in_scope, int found_sitemap,
			  int requisite, int *depth_out, sv_kind *kind_out);

/* Whether an item (a URL at depth hops; a sitemap or not) is in scope itself: only then are its links followed. */
int sv_scope_item_in_scope(const sv_scope_compiled *s, const char *url, int depth, int is_sitemap);

/* Whether a redirect of an item at depth hops, of kind, to target is followed (off the seed's own chain): the
 * target keeps the item's depth and kind. One rule for the fetchers and a queue rebuilt from the ledger. */
int sv_scope_follow_redirect(const sv_scope_compiled *s, const char *target, int depth, sv_kind kind);

/*
 * 1 if the URL looks like a dataset: the last path segment has a dataset
 * extension (data.csv, x.tar.gz, FILE.XLSX), or a query value does
 * (download.php?file=x.csv), or a format parameter names one (?format=csv).
 */
int sv_scope_url_is_dataset(const char *url);

/*
 * 1 if a fetched response is a dataset: a Content-Disposition filename with a
 * dataset extension; else a data Content-Type (text/csv, spreadsheets,
 * archives, PDF, JSON, XML, GIS and statistics formats...); else a generic
 * type (application/octet-stream, text/plain, none) and a URL that looks like
 * a dataset. HTML is never a dataset unless Content-Disposition says so. Any
 * argument may be NULL.
 */
int sv_scope_is_dataset_type(const char *content_type, const char *url, const char *content_disposition);

/*
 * Adds url, reached by the seed's own redirects, as another starting point
 * of the scope (nothing when it is one already). SV_EINVAL when url is not
 * an http(s) URL.
 */
int sv_scope_add_landing(sv_scope_compiled *s, const char *url);

/*
 * For a URL a catalog lists (a distribution, a landing page): why the row
 * does not take it (one of SV_SCOPE_WHY_*: not http(s), a trap, excluded,
 * or not matched by the row's include patterns, which on a catalog row name
 * the datasets wanted), or NULL when it does. Where it is does not matter:
 * a catalog's files are wherever the catalog says.
 */
const char *sv_scope_catalog_refuses(const sv_scope_compiled *s, const char *url);

/* The seed URL, normalised: the server its row names. */
const char *sv_scope_seed_url(const sv_scope_compiled *s);

void sv_scope_free(sv_scope_compiled *s); /* NULL is a no-op */

#endif
