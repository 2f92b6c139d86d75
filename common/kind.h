/*
 * common/kind.h -- what a URL or a capture is: the `kind` of DESIGN.md's
 * capture record (page|dataset|requisite|robots|sitemap|manual|imported|catalog).
 *
 * The enum is for code; the names are what is stored (queue.db keeps the
 * name as TEXT, capture records carry it as a JSON string), so a name never
 * changes once written. The numbers are not stored anywhere.
 */
#ifndef SV_KIND_H
#define SV_KIND_H

typedef enum {
	SV_KIND_PAGE,      /* an HTML page: fetched, and its links looked at */
	SV_KIND_DATASET,   /* a data file: what a rescue is for */
	SV_KIND_REQUISITE, /* what a page needs to display: images, CSS, scripts */
	SV_KIND_ROBOTS,    /* a host's robots.txt */
	SV_KIND_SITEMAP,   /* a sitemap or sitemap index */
	SV_KIND_MANUAL,    /* a file harvested by hand (salvage put) */
	SV_KIND_IMPORTED,  /* a record of another tool's WARC (salvage import) */
	SV_KIND_CATALOG,   /* a catalog page or file: what a catalog listed, when (crawler/catalog.h) */
} sv_kind;

/* "page", "dataset", ...; "page" for a value outside the enum. */
const char *sv_kind_name(sv_kind kind);
/* The kind named name (exactly, lower case); SV_EINVAL with a message for any other string or NULL. */
int sv_kind_parse(const char *name, sv_kind *out);

#endif
