/*
 * queue/queue.h -- the work queue: every URL to fetch, what became of it, and
 * the per-host politeness state that all fetchers share.
 *
 * What must stay true, whatever the backend:
 * - a URL is queued once (its normalised text is the key), whoever finds it;
 * - a URL is leased to at most one node at a time; a lease that is not
 *   renewed expires and the URL goes back to the queue (so a fetcher killed
 *   with SIGKILL loses nothing);
 * - an outcome is accepted only from the node that holds the lease;
 * - per-host state (in-flight count, next allowed time, cool-down, robots.txt
 *   and Crawl-delay) lives here, so politeness holds across processes and,
 *   with a shared backend, across machines.
 * Every operation is batched: one transaction per call.
 *
 * A backend is a table of functions (sv_queue_ops) copied into the handle;
 * sqlite (queue.db in the archive, WAL) is the embedded one; postgres
 * (queue/postgres.c) the shared one, for many machines.
 */
#ifndef SV_QUEUE_H
#define SV_QUEUE_H

#include "../common/kind.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sv_queue sv_queue;

typedef enum {
	SV_URL_QUEUED = 0,
	SV_URL_LEASED = 1,
	SV_URL_DONE = 2,
	SV_URL_FAILED = 3,
	SV_URL_PAUSED = 4,  /* its seed row was removed from the sheet */
	SV_URL_SKIPPED = 5, /* not fetched on purpose (robots.txt); not a failure */
} sv_url_state;

typedef struct {
	int host_max_inflight; /* per-host concurrency cap; default 4 */
	int host_delay_ms;     /* minimum delay between requests to a host; default 0 */
	int max_expiries;      /* leases a URL may lose before it fails; default 5 */
	int busy_timeout_ms;   /* how long to wait for another process's lock; default 60000 */
	/* The clock, in ms since the epoch; NULL = the system clock. For tests. */
	int64_t (*now_ms)(void *ctx);
	void *clock_ctx;
	/* The most connections to one host a single claimer (node) may hold;
	 * 0 = up to host_max_inflight. A crawl with N fetchers gives each its
	 * share, so that one fetcher does not take every slot of a site and do
	 * all the parsing and compressing alone while the others wait. */
	int host_node_max;
	/* 1: a host whose robots.txt is not yet known has one URL claimed,
	 * whose claimer fetches robots.txt first, and none other until the
	 * rules are kept (sv_queue_host_set_robots), robots.txt failed
	 * (sv_queue_host_robots_failed), the claim's lease time passed, or a
	 * new run starts (sv_queue_robots_retry). */
	int robots_first;
} sv_queue_options;
#define SV_QUEUE_OPTIONS_INIT {4, 0, 5, 60000, NULL, NULL, 0, 0}

/* A row of a seed sheet, as the queue keeps it. */
typedef struct {
	const char *url;    /* normalised; the row's key within its sheet */
	unsigned line;      /* where it is in the sheet */
	int priority;       /* higher first */
	int64_t max_urls;   /* cap on URLs queued for this row; -1 = none */
	int delay_ms;       /* minimum delay for hosts of this row; -1 = the default */
	const char *params; /* the row's crawl settings (JSON), opaque to the queue */
	const char *meta;   /* the row's other columns (JSON), shown by status */
	int catalog;        /* 1: the row is a catalog: its URL is not queued as a page (the
			     * crawler queues the catalog's first request, sv_queue_catalog_begin) */
} sv_queue_seed;

typedef struct {
	size_t added, updated, unchanged, paused; /* paused: rows no longer in the sheet */
} sv_queue_sheet_result;

/* A URL to queue. */
typedef struct {
	const char *url;  /* normalised */
	int64_t seed;     /* seed row id */
	int depth;        /* link hops from the seed */
	sv_kind kind;     /* page, dataset, requisite, robots, sitemap or catalog */
	const char *via;  /* referring URL, or NULL */
	int redirects;    /* redirects followed to reach it */
	const char *meta; /* JSON the fetcher gets back with the item (a catalog step, a dataset's
			   * metadata), opaque to the queue; NULL none */
	const char *dataset; /* the key of the row's dataset (sv_queue_datasets_put) this URL is
			      * part of, or NULL */
	const char *role;    /* what it is of the dataset (download, access, found...), or NULL */
	int refresh;      /* 1: queued again if it ended before (a catalog's next pass, a dataset
			   * that changed), with this meta; if still queued, its meta is replaced */
} sv_queue_url;

/* A URL handed to a node. Strings are owned by the item. */
typedef struct {
	int64_t id;
	char *url;
	char *host; /* politeness key */
	int64_t seed;
	int depth;
	sv_kind kind;
	char *via;
	int attempts; /* earlier attempts that ended in a retry */
	int redirects;
	char *meta;   /* as queued (sv_queue_url.meta), or NULL */
} sv_queue_item;

typedef enum { SV_OUTCOME_DONE, SV_OUTCOME_RETRY, SV_OUTCOME_FAILED, SV_OUTCOME_SKIPPED } sv_outcome_kind;

typedef struct {
	int64_t id;
	sv_outcome_kind kind;
	int64_t retry_at_ms; /* RETRY: not before this time */
	const char *reason;  /* RETRY/FAILED: why */
	int status;          /* HTTP status, 0 if none */
	int64_t bytes;       /* payload bytes */
	const char *digest;  /* DONE: sha256 hex of the payload, or NULL; kept with the node that completed it */
} sv_queue_outcome;

typedef struct {
	int64_t seed; /* 0 for the totals */
	char *sheet;
	char *url;
	unsigned line;
	char *meta;   /* JSON */
	char *params; /* the row's crawl settings (JSON), as loaded, or NULL */
	int active;   /* 0 when the row was removed from its sheet */
	int64_t queued, leased, done, failed, paused, skipped;
	int64_t bytes;    /* payload bytes of done URLs */
	int64_t datasets; /* URLs of kind dataset found */
	int64_t rescued;  /* done with a 2xx answer, robots.txt and sitemaps aside */
	int64_t redirects; /* done with a 3xx answer */
	char *landing;    /* where the seed's own redirects led last, or NULL */
} sv_queue_seed_stats;

/* What one node (the part of a lease holder's name before the first ':') did. */
typedef struct {
	char *node;
	int64_t done;             /* URLs it completed as done */
	int64_t leased;           /* URLs it holds now */
	int64_t bytes;            /* payload bytes of its done URLs */
	int64_t done_last_minute; /* done in the last 60 s by the queue's clock */
	int64_t last_seen_ms;     /* its last claim or renew (heartbeat); 0 if none */
} sv_queue_node_stats;

typedef struct {
	char *robots;            /* robots.txt body as fetched, or NULL if never fetched */
	int64_t robots_at_ms;    /* when it was fetched */
	int robots_status;       /* its HTTP status (4xx: allow all; 5xx: disallow all) */
	int crawl_delay_ms;      /* from robots.txt, -1 if none */
	int64_t cooldown_until_ms;
	int inflight;
	int timeouts;            /* consecutive timeouts */
	int robots_tries;        /* robots.txt fetches failed in this run, one after another */
	char *robots_error;      /* why the last one failed, or NULL */
	int robots_held;         /* 1: robots.txt given up for this run; the host's URLs wait */
} sv_queue_host;

/*
 * The operations. Each is one transaction; each returns 0 or a negative
 * SV_E code with the message kept aside (sv_error_last).
 */
/* Loads a sheet's rows (matched by URL; rows gone from it are paused) and keeps its
 * raw bytes beside them, as loaded. */
int sv_queue_add_sheet(sv_queue *q, const char *name, const void *raw, size_t raw_len, const sv_queue_seed *rows, size_t n, sv_queue_sheet_result *res);
int sv_queue_enqueue(sv_queue *q, const sv_queue_url *urls, size_t n, size_t *added);
/* Leases up to max URLs to node. freed (nfreed ids, may be NULL): leased URLs whose
 * transfers ended, their host slots freed first in the same transaction (free_slots).
 * Leases that ran out are returned first (a URL that lost max_expiries fails): no
 * other operation expires them. */
int sv_queue_claim(sv_queue *q, const char *node, const int64_t *freed, size_t nfreed, size_t max, int lease_ms, sv_queue_item **items, size_t *n);
int sv_queue_renew(sv_queue *q, const char *node, const int64_t *ids, size_t n, int lease_ms);
int sv_queue_complete(sv_queue *q, const char *node, const sv_queue_outcome *outcomes, size_t n, size_t *accepted);
int sv_queue_seed_params(sv_queue *q, int64_t seed, char **params);
int sv_queue_stats(sv_queue *q, sv_queue_seed_stats **rows, size_t *n, sv_queue_seed_stats *total);
/* One row per node known to the queue (by heartbeat or done URLs), by name; free with
 * sv_queue_node_stats_free. Claim and renew record the node's heartbeat. (Named
 * sv_queue_nodes, not sv_queue_node_stats: C cannot give a function its type's name.) */
int sv_queue_nodes(sv_queue *q, sv_queue_node_stats **rows, size_t *n);
void sv_queue_node_stats_free(sv_queue_node_stats *rows, size_t n);
/* Returns when new work may be there (LISTEN/NOTIFY on postgres; a plain sleep on sqlite)
 * or after timeout_ms; 0 either way. */
int sv_queue_wait(sv_queue *q, int timeout_ms);
int sv_queue_host_get(sv_queue *q, const char *host, sv_queue_host *out);
/* Keeps robots.txt as fetched (only once its capture record is durable); clears its failures. */
int sv_queue_host_set_robots(sv_queue *q, const char *host, const char *robots, int status, int crawl_delay_ms);
/* A robots.txt fetch failed (RFC 9309: unreachable, disallow for now): counts a try and keeps
 * reason; the host's URLs wait until retry_at_ms, or with give_up until the next run (they no
 * longer count as queued for sv_queue_pending). */
int sv_queue_host_robots_failed(sv_queue *q, const char *host, const char *reason, int64_t retry_at_ms,
				int give_up);
/* robots.txt was just fetched: keeps its Crawl-delay (-1 none) and makes the host's next request
 * wait for the delay that applies now (the larger of the row's, Crawl-delay and the default), which
 * goes to *delay_ms. */
int sv_queue_host_delay(sv_queue *q, const char *host, int crawl_delay_ms, int *delay_ms);
/* Hosts given up for this run with URLs waiting, with the reason. */
int sv_queue_robots_waiting(sv_queue *q, int (*fn)(void *ctx, const char *host, const char *reason, int64_t urls),
			    void *ctx);
/* A new run: hosts whose robots.txt failed get their tries again, and first claims of
 * fetchers gone are forgotten (*hosts of them). */
int sv_queue_robots_retry(sv_queue *q, size_t *hosts);
int sv_queue_host_cooldown(sv_queue *q, const char *host, int64_t until_ms, int timed_out);
/* Gives leases back without counting an attempt (a clean stop). */
int sv_queue_release(sv_queue *q, const char *node, const int64_t *ids, size_t n);
/* The transfers of these leased URLs have ended: their hosts' connection slots are free
 * (the leases stay until complete). Politeness counts connections, not pending outcomes. */
int sv_queue_free_slots(sv_queue *q, const char *node, const int64_t *ids, size_t n);
/* Failed URLs grouped by reason, most frequent first. */
int sv_queue_failures(sv_queue *q, int (*fn)(void *ctx, const char *reason, int64_t count), void *ctx);
/* Gives back at once the leases of nodes whose name starts with prefix and
 * for which alive() says 0 (fetchers of this machine killed with -9). */
int sv_queue_reclaim(sv_queue *q, const char *prefix, int (*alive)(const char *node), size_t *released);
/* Cheap counts for deciding whether a crawl is over. */
int sv_queue_pending(sv_queue *q, int64_t *queued, int64_t *leased);
/* Where a row's seed lands: a URL its own redirect chain reached (any
 * host), kept once per row, before the URL is queued, so that every fetcher
 * can rebase the row's scope on it. */
int sv_queue_landing_add(sv_queue *q, int64_t seed, const char *url);
/*
 * Ends queued URL url as a crawl had ended it before (DONE, FAILED or
 * SKIPPED, with status, bytes and reason), with no claim: for a queue
 * rebuilt from the ledger (`salvage reindex --queue`), so that the next
 * crawl does not fetch it again. A URL that is not queued is left as it is.
 */
int sv_queue_settle(sv_queue *q, const char *url, const sv_queue_outcome *how);
/* The landings of a row, in the order they were added; free with sv_queue_landings_free. */
int sv_queue_landings(sv_queue *q, int64_t seed, char ***urls, size_t *n);
void sv_queue_landings_free(char **urls, size_t n);

/* ---- catalogs: the datasets a catalog row lists, and its passes ---- */

/* The key of a dataset that is no dataset of the catalog but a part of the catalog that
 * could not be read (crawler/catalog_fetch.c): never marked vanished by sv_queue_catalog_end. */
#define SV_QUEUE_UNREAD_PREFIX "(unread catalog request) "

/* A dataset listed by a catalog row; its key is unique within the row. */
typedef struct {
	const char *key;        /* the identifier, or one made when there is none */
	const char *identifier, *title, *publisher, *modified; /* as listed, or NULL */
	const char *meta;       /* JSON kept with it (the catalog's URL, what cannot be queued) */
	const sv_queue_url *urls; /* its distributions, queued with dataset = key */
	size_t nurls;
} sv_queue_dataset;

typedef struct {
	size_t added;     /* new to the row */
	size_t changed;   /* modified changed: their URLs are fetched again */
	size_t unchanged;
	size_t repeated;  /* listed twice within one pass (a duplicate identifier) */
} sv_queue_datasets_result;

/*
 * Keeps datasets listed in pass `pass` of row seed, in one transaction, and
 * queues their URLs: a new dataset's as they are, a changed one's
 * (another `modified`) with refresh, an unchanged one's without (new URLs
 * are queued, ended ones stay), except that a dataset whose `modified`
 * cannot tell a change (none, or a repeating interval such as "R/P1D") is
 * refreshed each pass (the fetcher asks conditionally). A dataset seen again
 * is no longer vanished.
 * res (may be NULL) adds up what happened.
 */
int sv_queue_datasets_put(sv_queue *q, int64_t seed, int pass, const sv_queue_dataset *ds, size_t n,
			  sv_queue_datasets_result *res);

/* A catalog row's passes: pass is the one under way or last started (0:
 * none yet), done_pass the last one whose listing was read to its end. */
typedef struct {
	int pass, done_pass;
	int64_t pending; /* the row's URLs queued or leased */
} sv_queue_catalog_info;
int sv_queue_catalog_get(sv_queue *q, int64_t seed, sv_queue_catalog_info *out);
/* Starts pass `pass` of row seed: kept, and first (its first request) queued with refresh;
 * nothing if the row's pass is `pass` or later already (started by another worker or fetcher
 * that saw the same last pass: of several starting at once, one starts it). */
int sv_queue_catalog_begin(sv_queue *q, int64_t seed, int pass, const sv_queue_url *first);

/* A dataset as the queue keeps it, with what became of its URLs. */
typedef struct {
	const char *url, *kind, *role, *reason; /* reason: why it failed, or NULL */
	int state;  /* sv_url_state */
	int status; /* HTTP status, 0 if none */
	int64_t bytes;
} sv_queue_dataset_url;

typedef struct {
	int64_t seed;
	const char *key, *identifier, *title, *publisher, *modified, *meta;
	int first_pass, last_pass, vanished_pass; /* vanished_pass 0: still listed */
	const sv_queue_dataset_url *urls;
	size_t nurls;
} sv_queue_dataset_row;

/* Each dataset of row seed (0: every row), by row and key; fn's strings live until it returns. */
int sv_queue_datasets(sv_queue *q, int64_t seed, int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx);
/*
 * The listing of pass `pass` of row seed was read to its end: done_pass
 * becomes pass, and the row's datasets not listed in it are marked vanished
 * (once: fn, which may be NULL, is told of each newly vanished one first).
 */
int sv_queue_catalog_end(sv_queue *q, int64_t seed, int pass,
			 int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx);

/* The politeness a shared queue holds once for the whole crawl: the
 * coordinator's crawl.hostConnections and crawl.delayMs, written when it
 * seeds, used by every worker whatever its own salvage.conf says. */
typedef struct {
	int host_connections;
	int delay_ms;
} sv_queue_crawl_settings;
/* *found 0 (and *out untouched) when the queue holds none. */
int sv_queue_crawl_settings_get(sv_queue *q, sv_queue_crawl_settings *out, int *found);
int sv_queue_crawl_settings_put(sv_queue *q, const sv_queue_crawl_settings *s);
/*
 * PostgreSQL only (SV_EINVAL elsewhere): makes role (LOGIN, with password
 * when not NULL, sent as a SCRAM verifier) if it does not exist (*created 1)
 * and grants it what a worker needs and nothing more; idempotent. A role
 * name other than 1 to 63 letters, digits, '_', '-', '.' is SV_EINVAL.
 */
int sv_queue_grant_worker(sv_queue *q, const char *role, const char *password, int *created);

/* Opens the queue at location: a file path or sqlite:PATH (created if missing),
 * or a postgresql:// or postgres:// URL (libpq's: every libpq parameter passes
 * through; passwords from PGPASSFILE, ~/.pgpass or PGPASSWORD). A database that
 * cannot be reached is SV_EUNREACHABLE; any other scheme is SV_EINVAL.
 * busy_timeout_ms is, on postgres, also the longest any call waits for the server. */
int sv_queue_open(sv_queue **out, const char *location, const sv_queue_options *opts);
void sv_queue_close(sv_queue *q); /* NULL is a no-op */

/* For a queue that keeps writes locally while its database cannot be reached
 * (queue/outbox.h): since when it could not be reached at its last try
 * (*down_since_ms, 0 if it answered) and how many writes wait locally
 * (*kept). Other queues: 0 and 0. */
void sv_queue_reach(sv_queue *q, int64_t *down_since_ms, int64_t *kept);

/* The backend's clock. */
int64_t sv_queue_now_ms(const sv_queue *q);

void sv_queue_items_free(sv_queue_item *items, size_t n);
void sv_queue_stats_free(sv_queue_seed_stats *rows, size_t n);
void sv_queue_host_clear(sv_queue_host *h);

/* The most connections to one host this handle's node may hold (see
 * sv_queue_options.host_node_max). */
void sv_queue_set_node_share(sv_queue *q, int host_node_max);

/* Whether a host whose robots.txt is unknown gets one URL at a time (sv_queue_options.robots_first). */
void sv_queue_set_robots_first(sv_queue *q, int on);
/* A check sv_queue_add_sheet makes just before it commits (NULL: none): a
 * negative SV_E code rolls the sheet back and is returned. Seeding waits
 * there for the ledger commit it makes at the same time. */
typedef int (*sv_queue_gate_fn)(void *ctx);
void sv_queue_set_sheet_gate(sv_queue *q, sv_queue_gate_fn fn, void *ctx);

#endif
