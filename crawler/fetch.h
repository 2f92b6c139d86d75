/*
 * crawler/fetch.h -- one fetcher process: a libcurl multi loop that claims
 * URLs from the queue, streams each body into the object store (and the HTML
 * link extractor), and completes outcomes in batches.
 *
 * What must stay true: an outcome reaches the queue only after its object is
 * durable and its capture record committed (sv_objects_sync, then the ledger
 * and the capture index, then complete); links found on a page are queued
 * before the page is marked done; a stop releases every lease it
 * holds; no URL becomes a file path; only http and https are ever fetched.
 */
#ifndef SV_FETCH_H
#define SV_FETCH_H

#include "../queue/queue.h"
#include "../storage/objects.h"

#include <signal.h>
#include <stdint.h>

/* Counters of one fetcher, kept in memory the parent can read (progress). */
typedef struct {
	uint64_t done, pages, datasets, requisites, other;
	uint64_t failed, skipped, retried;
	uint64_t bytes;       /* body bytes received so far */
	uint64_t inflight;    /* transfers running now */
	uint64_t big_inflight; /* of those, bodies over 10 MB so far */
	int64_t queue_down_since_ms; /* a shared queue that cannot be reached: since when (ms); 0 if it answers */
	uint64_t kept_locally; /* updates waiting in the archive's outbox.db for the shared queue */
	int finished;
} sv_fetch_stats;

typedef struct {
	const char *node;      /* lease holder name, unique per process */
	const char *machine;   /* the node recorded in capture records */
	const char *tmp_dir;   /* the archive's tmp/ */
	int transfers;         /* concurrent transfers; default 32 */
	int lease_ms;          /* default 120000 */
	int max_attempts;      /* default 5 */
	int robots_attempts;   /* robots.txt fetches per host and run before its URLs wait for the next run; default 5 */
	int connect_timeout_s; /* default 30 */
	int low_speed_time_s;  /* abort when under 1 kB/s for this long; default 60 */
	int checkpoint_ms;     /* outcomes are made durable at least this often; default 5000 */
	int max_redirects;     /* per chain; default 10 */
	int robots;            /* 0: ignore robots.txt everywhere */
	const char *ca_file;   /* PEM certificates trusted beside the system's, or NULL */
	const char *netrc_file; /* a netrc file: user and password per host, or NULL */
	/* The validators (ETag, Last-Modified; malloc'd, or NULL) of the last 2xx capture of url in this
	 * archive, for a conditional request; NULL: none looked up. */
	int (*validators)(void *ctx, const char *url, char **etag, char **last_modified);
	void *validators_ctx;
	const char *socrata_token; /* X-App-Token for a Socrata row's own server, or NULL */
	const char *datagov_key;   /* X-Api-Key for a data.gov row's catalog API, or NULL */
	const char *const *insecure_hosts; /* host keys (sv_url_host_key) whose TLS is not verified */
	size_t ninsecure;
	const char *const *allow_private; /* crawl.allowPrivate: server keys that may be private addresses */
	size_t nallow_private;
	int allow_private_all; /* the private-address guard is off */
	const char *user_agent;
	const char *log_path;  /* capture records appended as JSON lines, or NULL */
	volatile sig_atomic_t *stop; /* 1: stop claiming and finish cleanly; 2: stop at once */
	sv_fetch_stats *stats; /* may be NULL */
	/* At each checkpoint, after the objects are synced and before the queue
	 * marks anything done: the capture records to commit (the ledger, then
	 * the capture index). A non-zero return stops the fetcher with nothing
	 * marked. NULL: none. */
	int (*commit_records)(void *ctx, const char *const *records, size_t n);
	void *commit_ctx;
} sv_fetch_options;

void sv_fetch_options_init(sv_fetch_options *o);

/* Runs until the queue is drained (or a stop is asked). 0, or a negative error. */
int sv_fetch_run(sv_queue *q, sv_objects *store, const sv_fetch_options *o);

#endif
