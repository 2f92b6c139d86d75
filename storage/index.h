/*
 * storage/index.h -- the capture index: what this archive fetched, by URL
 * and time (index.db beside ledger.git, SQLite in WAL mode).
 *
 * The ledger is the truth; the index is how ls, cat URL, export and replay
 * find captures without reading every ledger file. It is not the work queue:
 * the queue (what to fetch) may be shared by many machines, while each
 * archive keeps its own index of what it holds.
 *
 * What stays true:
 * - every row is a capture record that the ledger holds: records are added
 *   only after their ledger commit, and sv_index_rebuild makes the index
 *   anew from the ledger (salvage reindex);
 * - a record is indexed once, however often it is added (a mirror pulled
 *   twice, a checkpoint repeated after a crash);
 * - several processes (the fetchers of a crawl) may add at once.
 */
#ifndef SV_INDEX_H
#define SV_INDEX_H

#include "ledger.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sv_index sv_index;

/*
 * Opens (and makes, if missing) the index at path. *unbuilt (may be NULL):
 * 1 while the index has never been built from the ledger (it was made now,
 * or a build did not finish), so the caller builds it.
 */
int sv_index_open(sv_index **out, const char *path, int *unbuilt);
void sv_index_close(sv_index *ix); /* NULL is a no-op */

/*
 * Adds capture records (one JSON object each), in one transaction. Lines
 * that are not capture records are left out and counted in *skipped; records
 * already indexed are left out too. added and skipped may be NULL.
 */
int sv_index_add(sv_index *ix, const char *const *records, size_t n, size_t *added, size_t *skipped);

/* A capture as listed. Strings live until the callback returns. */
typedef struct {
	int64_t id;
	const char *url, *ts, *sha256, *kind, *record;
	int status;     /* 0 when the record has none (manual) */
	int64_t length; /* -1 when none */
} sv_index_row;

/* Captures whose URL starts with prefix ("" for all), in the order they were indexed; fn returning non-zero stops. */
int sv_index_list(sv_index *ix, const char *prefix, int (*fn)(void *ctx, const sv_index_row *row), void *ctx);

/*
 * Empties the index and indexes every capture record of the ledger again, in
 * one transaction; the index counts as built from then on. legacy_queue (may
 * be NULL): a queue.db from before the index, whose captures table is taken
 * in first, in its order, so that ls lists an old archive as it did.
 */
int sv_index_rebuild(sv_index *ix, sv_ledger *ledger, const char *legacy_queue, size_t *indexed, size_t *skipped);

#endif
