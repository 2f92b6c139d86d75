/*
 * crawler/row.h -- a sheet row's crawl settings.
 *
 * Made from the sheet once when it is loaded, kept in the queue as JSON
 * (the queue keeps it without reading it), and read back once per fetcher
 * and row. This file alone writes and reads that JSON, and the scope is
 * compiled here, once per load and once per fetcher: the patterns that
 * loading accepted are the ones the crawl follows.
 */
#ifndef SV_ROW_H
#define SV_ROW_H

#include "../seeds/sheet.h"
#include "scope.h"

#include <stdint.h>

typedef struct sv_row sv_row;

/*
 * The settings of a sheet row whose URL, normalised, is url, with its scope
 * compiled. SV_EINVAL with a message naming the bad pattern or URL; SV_EIO
 * when out of memory.
 */
int sv_row_from_sheet(sv_row **out, const sv_sheet_row *row, const char *url);
/* The settings as the queue keeps them (sv_queue_seed.params), malloc'd into *out. */
int sv_row_to_json(const sv_row *r, char **out);
/* The same JSON as sv_row_from_sheet then sv_row_to_json give, without
 * compiling the scope: for a row whose patterns were checked already. */
int sv_row_sheet_json(const sv_sheet_row *row, const char *url, char **out);
/* The row's other columns as the queue keeps them (sv_queue_seed.meta):
 * a JSON object of the cells that are not empty, in sheet order. */
int sv_row_meta_json(const sv_sheet_row *row, char **out);
/* Settings read back from the queue. SV_ECORRUPT when json is not such settings. */
int sv_row_from_json(sv_row **out, const char *json);

const sv_scope_compiled *sv_row_scope(const sv_row *r);
/* Rebases the row's scope on url, where the seed's own redirects led too
 * (see sv_scope_add_landing). */
int sv_row_add_landing(sv_row *r, const char *url);
int sv_row_robots(const sv_row *r);        /* 1: respect robots.txt */
int64_t sv_row_max_bytes(const sv_row *r); /* size cap per file; -1 none */
sv_sheet_kind sv_row_kind(const sv_row *r); /* a site (default) or a catalog */
const char *sv_row_url(const sv_row *r);    /* normalised */

void sv_row_free(sv_row *r); /* NULL is a no-op */

#endif
