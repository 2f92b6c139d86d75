/*
 * storage/wacz.h -- the archive as one WACZ 1.1.1 file, the package
 * ReplayWeb.page opens: a ZIP holding
 *   archive/data.warc.gz     the WARC of export.h, one file (never rolled
 *                            over), STOREd: it is gzip already, and a
 *                            reader seeks into it by the index's offsets
 *   indexes/index.cdxj       its CDXJ, filename "data.warc.gz" (a reader
 *                            looks it up under archive/)
 *   pages/pages.jsonl        the header line, then one line per HTML page
 *                            captured with status 200: id, url, ts, title
 *   datapackage.json         profile, wacz_version, created, software, title,
 *                            mainPageURL/Date, and for each file above its
 *                            name, path, sha256 and bytes
 *   datapackage-digest.json  the sha256 of datapackage.json
 * The WARC, index and pages are written to a work folder in tmp_dir first,
 * and the ZIP streams them from there (libzip): memory stays flat whatever
 * the archive's size. The ZIP is written as OUT.tmp-<pid> and renamed when
 * complete; the work folder is removed either way.
 */
#ifndef SV_WACZ_H
#define SV_WACZ_H

#include "export.h"

typedef struct {
	sv_export_stats warc; /* the WARC inside */
	uint64_t pages;       /* lines of pages.jsonl, the header aside */
	unsigned members;     /* files in the ZIP */
	uint64_t bytes;       /* of the WACZ */
	double zipped;        /* 0..1 of the ZIP written, once the WARC is done */
} sv_wacz_stats;

typedef struct {
	const char *path;        /* OUT.wacz */
	int64_t seed;            /* only this seed row's captures; -1 for all */
	const char *since;       /* as sv_export_warc_options */
	const char *title;       /* datapackage.json's title */
	const char *software;    /* "salvage/<version>" */
	const char *node;
	const char *const *info; /* more warcinfo fields: name, value, ..., NULL */
	const char *tmp_dir;     /* the archive's tmp/: the work folder goes there */
	void (*progress)(void *ctx, const sv_wacz_stats *s);
	void *ctx;
} sv_export_wacz_options;

/* Writes the WACZ; *stats (may be NULL) says what went in. */
int sv_export_wacz(sv_index *ix, const sv_objects *store, const sv_export_wacz_options *o, sv_wacz_stats *stats);

/*
 * The text of the first <title> element in html (len bytes), the
 * references &amp; &lt; &gt; &quot; &apos; &nbsp; &#NN; &#xNN; decoded
 * (other named ones are kept as written) and white space collapsed; NULL
 * if there is none or it is empty. malloc'd.
 */
char *sv_wacz_html_title(const char *html, size_t len);

#endif
