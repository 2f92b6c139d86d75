/*
 * crawler/requeue.h -- a lost or damaged queue.db made again from the
 * archive, with no network (`salvage reindex --queue`).
 *
 * What stays true: the file that was there is never deleted (it is moved
 * aside as queue.db.damaged-<UTC time>, with its -wal and -shm); every URL
 * the ledger has a capture record of is in the new queue, ended as that
 * record ended it, so the next crawl does not fetch it again; every link of
 * a stored page that the crawl would have queued is queued.
 */
#ifndef SV_REQUEUE_H
#define SV_REQUEUE_H

#include "archive.h"

#include <stddef.h>

typedef struct {
	char aside[64];   /* the name the old file was moved to, or "" when there was none */
	size_t sheets;    /* sheets of the ledger loaded again */
	size_t rows;      /* their rows */
	size_t captures;  /* URLs with a capture record, ended in the queue */
	size_t unplaced;  /* records whose sheet row is not in the sheets any more: left out */
	size_t read;      /* stored pages and sitemaps read again for links */
	size_t queued;    /* URLs queued from them, not captured yet */
} sv_requeue_result;

/*
 * Moves the archive's queue.db aside (if there is one) and makes a new one
 * from the sheets in the ledger, the capture records in the ledger and the
 * stored payloads. SV_EINVAL when the archive's queue is not a queue.db of
 * its own (queue.url).
 */
int sv_archive_requeue(const sv_archive *a, sv_requeue_result *res);

#endif
