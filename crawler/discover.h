/*
 * crawler/discover.h -- discovery: reading a response, while it arrives,
 * for more URLs to fetch.
 *
 * Each reader is one entry of a table (discover.c): from a response's
 * headers and first bytes it says whether it takes the body; then it is fed
 * the body as it arrives and finished when it is complete. Every URL found
 * goes to one callback, absolute and normalised (queue/url.h), with what it
 * was found as; the fetcher decides with the row's scope what to queue.
 * Today: HTML and CSS links (discover_links.c) and sitemaps
 * (discover_sitemap.c). A new source of URLs -- a catalog reader -- is a new
 * file and a line in the table, not a branch in the fetch loop.
 *
 * What stays true: discovery never changes what is stored (the payload is
 * stored whole, as sent, whatever a reader makes of it), a body that cannot
 * be read ends its reading, never its download, and memory stays bounded
 * whatever the body's size.
 */
#ifndef SV_DISCOVER_H
#define SV_DISCOVER_H

#include <stddef.h>

typedef enum {
	SV_FOUND_PAGE,      /* a link of a page or stylesheet: a page or a dataset, as scope decides */
	SV_FOUND_REQUISITE, /* what a page needs to show: image, stylesheet, script */
	SV_FOUND_SITEMAP,   /* another sitemap, listed by a sitemap index */
	SV_FOUND_LISTED,    /* a URL a sitemap lists: one hop from the seed */
} sv_found_kind;

/* One URL found, normalised; it lives until the callback returns. */
typedef void (*sv_found_fn)(void *ctx, const char *url, sv_found_kind kind);

/* What a reader is told of a response before its body. */
typedef struct {
	const char *url;              /* the response's URL, normalised */
	int sitemap;                  /* 1: the queue holds it as a sitemap */
	const char *content_type;     /* as sent, or NULL */
	const char *content_encoding; /* as sent, or NULL */
	const void *first;            /* the first bytes of the body */
	size_t first_len;
} sv_discover_response;

typedef struct sv_discover sv_discover;

/*
 * The reader that takes response r, into *out; *out is NULL when none does.
 * SV_EIO when out of memory.
 */
int sv_discover_open(sv_discover **out, const sv_discover_response *r, sv_found_fn fn, void *ctx);
/* The next bytes of the body. A body the reader cannot read ends the reading, quietly. */
void sv_discover_feed(sv_discover *d, const void *buf, size_t len);
/* The body is complete: the URLs still pending are reported. */
void sv_discover_finish(sv_discover *d);
void sv_discover_free(sv_discover *d); /* NULL is a no-op */

/* ---- for the readers ---- */

typedef struct {
	const char *name;
	/* Takes the response (1, with *state set), leaves it (0), or fails (negative). */
	int (*open)(void **state, const sv_discover_response *r, sv_found_fn fn, void *ctx);
	/* 0, or non-zero when the reader cannot go on (the reading ends). */
	int (*feed)(void *state, const void *buf, size_t len);
	void (*finish)(void *state);
	void (*free)(void *state);
} sv_discover_reader;

extern const sv_discover_reader sv_discover_links, sv_discover_sitemap;

#endif
