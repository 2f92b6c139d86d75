/*
 * queue/outbox.h -- a queue whose writes are kept in a local file (the
 * outbox) before they go to another queue, the shared one: a fetcher goes
 * on downloading while the shared queue's database cannot be reached, and
 * what it did reaches the shared queue when it is back.
 *
 * What must stay true:
 * - a write the crawl must not lose (enqueue, complete, release, free_slots,
 *   host_set_robots, host_cooldown, host_robots_failed, landing_add,
 *   datasets_put, catalog_begin) has
 *   been taken by the inner queue (it returned 0) or is in the outbox file,
 *   synced, before the call returns 0; it leaves the file only once the
 *   inner queue has taken it. A write goes to the inner queue directly only
 *   while it answers and none of this handle's entries waits in the file;
 *   found unreachable then, it is kept;
 * - the entries of one process reach the inner queue in the order they were
 *   made, each under the lease holder name it was made with, so the inner
 *   queue's lease check (an outcome only from the holder) decides;
 * - entries of a process that no longer runs (kill -9, power cut) are taken
 *   over by the next handle opened on the same file, and delivered first;
 * - while the inner queue answers SV_EUNREACHABLE, the wrapper tries it again
 *   after a backoff (backoff_min_ms doubling to backoff_max_ms), never
 *   sooner, and its calls return at once: a write is kept (0), a claim gets
 *   nothing, renew is skipped, pending says "not drained", reads the crawl
 *   needs for URLs it holds answer from what was read before (seed params,
 *   landings) or SV_EUNREACHABLE, and so does catalog_end (it cannot be
 *   kept: it tells what it marks before it marks it).
 */
#ifndef SV_QUEUE_OUTBOX_H
#define SV_QUEUE_OUTBOX_H

#include "queue.h"

typedef struct {
	/* Whether the process pid (the writer of some entries) still runs; NULL: kill(pid, 0). */
	int (*alive)(int64_t pid);
	int backoff_min_ms; /* first wait after the inner queue could not be reached; default 500 */
	int backoff_max_ms; /* the longest wait; default 30000 */
} sv_queue_outbox_options;
#define SV_QUEUE_OUTBOX_OPTIONS_INIT {NULL, 500, 30000}

/*
 * Opens the outbox file path (created if missing) around inner, which the
 * new handle owns from now on (closed with it, or at once on failure).
 * Entries that dead processes left are taken over and, if inner answers,
 * delivered before this returns.
 */
int sv_queue_outbox_open(sv_queue **out, sv_queue *inner, const char *path, const sv_queue_outbox_options *opts);

#endif
