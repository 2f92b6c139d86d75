/*
 * crawler/crawl.h -- a crawl on this machine: the fetcher processes.
 *
 * sv_crawl_prepare cleans what an earlier run left (leases held by this
 * machine's fetchers that died are given back at once, temp objects and
 * partial downloads removed, hosts whose robots.txt failed tried again) and builds the capture index if it never was;
 * sv_crawl_run forks the fetchers, each with its
 * own queue connection, object store and ledger handle (SQLite connections
 * must not cross fork()), and watches them until every one is gone. Lease
 * holders are "<node>:<pid>:<index>" with the archive's node (node.name).
 *
 * Ctrl-C reaches the parent only (fetchers ignore SIGINT); the parent passes
 * each stop on as SIGTERM: the first makes fetchers stop cleanly, the second
 * ends them at once (their leases expire, or the next run reclaims them).
 * Running the same crawl again after a stop, a crash or kill -9 resumes.
 */
#ifndef SV_CRAWL_H
#define SV_CRAWL_H

#include "archive.h"
#include "fetch.h"

#define SV_CRAWL_MAX_JOBS 64

typedef enum {
	SV_CRAWL_STOPPING,        /* the first stop was asked: keeping what is stored, releasing the rest */
	SV_CRAWL_FETCHER_FAILED,  /* in the fetcher's own process: index and message */
	SV_CRAWL_CANNOT_START,    /* a fetcher could not be forked: message */
	SV_CRAWL_QUEUE_DOWN,      /* the shared queue cannot be reached: message says since when, what waits */
	SV_CRAWL_QUEUE_BACK,      /* it answers again: message */
	SV_CRAWL_KEPT_LOCALLY,    /* in the fetcher's own process, as it ends: updates left in outbox.db */
} sv_crawl_event_kind;

typedef struct {
	sv_crawl_event_kind kind;
	int index;
	const char *message;
} sv_crawl_event;

typedef struct {
	int jobs;              /* fetcher processes, 1..SV_CRAWL_MAX_JOBS */
	int transfers;         /* per fetcher */
	int robots;            /* 0: ignore robots.txt */
	const char *queue_url; /* NULL: the archive's */
	const char *branch;    /* the ledger branch of the captures; NULL: "main" */
	/* 1: when the queue drains, wait for new work (sv_queue_wait) and fetch it, until a stop. */
	int forever;
	/* About every 50 ms while fetchers run: their counters (jobs entries). May be NULL. */
	void (*progress)(void *ctx, const sv_fetch_stats *stats, int jobs);
	void (*event)(void *ctx, const sv_crawl_event *e); /* may be NULL */
	void *ctx;
} sv_crawl_options;

typedef struct {
	int stopped;           /* a stop was asked */
	int failed_fetchers;   /* fetchers that could not start or ended on an environment failure */
} sv_crawl_result;

/* Before any fetcher starts: *reclaimed leases of dead local fetchers are queued again; with
 * catalog_passes, catalog rows whose last pass is over start the next (sv_catalog_start_passes). */
int sv_crawl_prepare(const sv_archive *a, const char *queue_url, int catalog_passes, size_t *reclaimed);

/* Runs the fetchers until the queue drains (with forever: again whenever new work comes)
 * or a stop is asked. 0, or a negative error. */
int sv_crawl_run(const sv_archive *a, const sv_crawl_options *o, sv_crawl_result *out);

#endif
