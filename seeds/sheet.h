/*
 * seeds/sheet.h -- the seed sheet: a CSV that volunteers fill in.
 *
 * CSV as Excel, LibreOffice and Google Sheets export it (UTF-8 with or
 * without BOM, CRLF or LF, quoted fields with commas, quotes and newlines),
 * parsed with libcsv. A header row names the columns, case-insensitively;
 * `url` is required, the known columns below are checked, and every other
 * column is kept as the row's metadata. Every problem is reported as
 * FILE:LINE:COLUMN: message. The raw bytes are kept exactly as read.
 */
#ifndef SV_SHEET_H
#define SV_SHEET_H

#include <stddef.h>
#include <stdint.h>

#define SV_SHEET_MAX_ERRORS 50
#define SV_SHEET_MAX_BYTES (64u << 20) /* a sheet larger than this is refused */

typedef enum { SV_SCOPE_PAGE, SV_SCOPE_PREFIX, SV_SCOPE_HOST, SV_SCOPE_DOMAIN } sv_scope;

/* What a row's URL is: a site to crawl, or a catalog whose datasets to rescue (crawler/catalog.h). */
typedef enum {
	SV_SHEET_SITE,    /* default */
	SV_SHEET_DCAT,    /* a DCAT-US data.json */
	SV_SHEET_CKAN,    /* a CKAN portal (its action API) */
	SV_SHEET_SOCRATA, /* a Socrata domain (the Discovery API) */
	SV_SHEET_ARCGIS,  /* an ArcGIS Hub site, or a FeatureServer/MapServer (layer) */
	SV_SHEET_DATAGOV, /* data.gov's catalog API */
	SV_SHEET_AUTO,    /* a catalog of a kind found by probing */
} sv_sheet_kind;

typedef struct {
	char *key;   /* the column's header, as written */
	char *value; /* the cell */
} sv_sheet_meta;

typedef struct {
	unsigned line;    /* line where the row starts, 1-based (the header is line 1) */
	char *url;        /* as written, trimmed; http or https */
	unsigned url_line, url_column; /* where the url cell starts, for errors found later */
	sv_scope scope;   /* default SV_SCOPE_PREFIX */
	int depth;        /* link hops from the seed; -1 = unlimited (default) */
	int priority;     /* higher first; default 0 */
	char *include;    /* patterns as written, or NULL */
	char *exclude;
	int robots;       /* 1 respect (default), 0 ignore */
	int delay_ms;     /* minimum delay between requests to a host; -1 = default */
	int64_t max_urls; /* -1 = unlimited (default) */
	int64_t max_bytes; /* per-row size cap in bytes; -1 = unlimited (default) */
	int datasets;     /* 1 fetch datasets (default), 0 not */
	sv_sheet_kind kind; /* the `kind` column: site (default) or a catalog */
	sv_sheet_meta *meta; /* every other non-empty column */
	size_t nmeta;
} sv_sheet_row;

typedef struct {
	unsigned line, column; /* 1-based; column counts characters */
	char message[256];
} sv_sheet_error;

typedef struct {
	char *path;             /* as given */
	char *name;             /* file name without folders and without .csv */
	unsigned char *raw;     /* the file's bytes, exactly (NULL when too large) */
	size_t raw_len;
	sv_sheet_row *rows;     /* good rows, in sheet order */
	size_t nrows;
	sv_sheet_error errors[SV_SHEET_MAX_ERRORS]; /* the first errors, in sheet order */
	size_t nerrors;         /* how many are in errors[] */
	size_t total_errors;    /* how many there were in all */
	size_t credentials;     /* errors that are URLs holding credentials: raw must be stored nowhere */
} sv_sheet;

/*
 * Reads and checks the sheet at path. Returns 0 when the file could be read
 * (check sheet->total_errors: rows with errors are not in rows[]), SV_EINVAL
 * when it is not a sheet at all (no header, no url column, unterminated
 * quote, not UTF-8, too large: *out is still set, with no rows and one error
 * in errors[] that says where), SV_EINVAL with *out NULL when the file does
 * not exist or may not be read, SV_EIO (*out NULL) when reading fails.
 * A duplicate column is an error at its header cell; its cells are ignored.
 */
int sv_sheet_load(sv_sheet **out, const char *path);
/* The same from bytes in memory (path is used in names and messages). */
int sv_sheet_parse(sv_sheet **out, const char *path, const void *data, size_t len);
void sv_sheet_free(sv_sheet *sheet); /* NULL is a no-op */
/* Frees the rows (nrows becomes 0) and keeps the rest: name, path, raw. */
void sv_sheet_drop_rows(sv_sheet *sheet);

/* "site", "dcat", ... as the `kind` column spells them; parse is case-insensitive (-1: none such). */
const char *sv_sheet_kind_name(sv_sheet_kind kind);
int sv_sheet_kind_parse(const char *name, sv_sheet_kind *out);

/* "page", "prefix", "host" or "domain". */
const char *sv_scope_name(sv_scope scope);

#endif
