/*
 * crawler/seeding.h -- loading seed sheets into the queue, as `seed` and
 * `crawl` both do: read and check every sheet, normalise every URL, and load
 * nothing unless everything is sound (or the caller skips bad rows).
 */
#ifndef SV_SEEDING_H
#define SV_SEEDING_H

#include "../queue/queue.h"
#include "../storage/ledger.h"

#include <stddef.h>

#define SV_SEED_MAX_REPORTED 50 /* problems reported one by one; the rest are counted */

/* What loading tells its caller, as it goes. */
typedef enum {
	SV_SEED_PROBLEM,       /* path:line:column: message */
	SV_SEED_UNREADABLE,    /* message: a file that is no sheet at all, or cannot be read */
	SV_SEED_MORE_PROBLEMS, /* count: problems past the first SV_SEED_MAX_REPORTED */
	SV_SEED_SKIPPING,      /* count: problems whose rows are left out (skip_bad_rows) */
	SV_SEED_LOADED,        /* path, rows and result: a sheet is in the queue */
} sv_seed_event_kind;

typedef struct {
	sv_seed_event_kind kind;
	const char *path;
	unsigned line, column;
	const char *message;
	size_t count;
	size_t rows;
	const sv_queue_sheet_result *result;
} sv_seed_event;

typedef void (*sv_seed_report_fn)(void *ctx, const sv_seed_event *e);

/*
 * Loads the sheets at paths[0..n) into q, after committing each to the
 * ledger as sheets/<name>.csv (ledger may be NULL). Problems and each sheet
 * loaded are reported to report (may be NULL). Returns 0 when loaded,
 * SV_EINVAL when bad rows stopped the load (or with skip_bad_rows, when no
 * sheet could be read at all), another code on failure.
 */
int sv_seed_sheets(sv_queue *q, sv_ledger *ledger, char **paths, size_t n, int skip_bad_rows,
		   sv_seed_report_fn report, void *ctx);
/*
 * Loads a sheet the ledger holds (data, as committed at path) into q again,
 * its good rows only, committing nothing: for a queue rebuilt from the
 * ledger. *rows: the rows loaded.
 */
int sv_seed_sheet_again(sv_queue *q, const char *path, const void *data, size_t len, size_t *rows);

#endif
