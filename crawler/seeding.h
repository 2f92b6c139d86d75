/*
 * crawler/seeding.h -- loading seed sheets into the queue, as `seed` and
 * `crawl` both do: read and check every sheet, normalise every URL, and load
 * nothing unless everything is sound (or the caller skips bad rows).
 */
#ifndef SV_SEEDING_H
#define SV_SEEDING_H

#include "../queue/queue.h"
#include "../storage/ledger.h"

#include <stdio.h>

/*
 * Loads the sheets at paths[0..n) into q, after committing each to the
 * ledger as sheets/<name>.csv (ledger may be NULL). Problems are written to err as
 * FILE:LINE:COLUMN: message (at most 50); a summary per sheet goes to out.
 * Returns 0 when loaded, SV_EINVAL when bad rows stopped the load (or with
 * skip_bad_rows, when no sheet could be read at all), another code on failure.
 */
int sv_seed_sheets(sv_queue *q, sv_ledger *ledger, char **paths, size_t n, int skip_bad_rows, FILE *out,
		   FILE *err);

#endif
