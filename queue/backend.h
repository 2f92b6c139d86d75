/*
 * queue/backend.h -- what a queue backend implements: the table of
 * functions behind the sv_queue_* wrappers of queue.h. Only queue/ includes
 * this file; everything else holds an opaque sv_queue.
 */
#ifndef SV_QUEUE_BACKEND_H
#define SV_QUEUE_BACKEND_H

#include "queue.h"

typedef struct sv_queue_ops {
	const char *name;
	int (*add_sheet)(sv_queue *q, const char *name, const void *raw, size_t raw_len,
			 const sv_queue_seed *rows, size_t n, sv_queue_sheet_result *res);
	int (*enqueue)(sv_queue *q, const sv_queue_url *urls, size_t n, size_t *added);
	/* Leases up to max URLs to node. freed (nfreed ids, may be NULL): leased URLs whose
	 * transfers ended, their host slots freed first in the same transaction (free_slots). */
	int (*claim)(sv_queue *q, const char *node, const int64_t *freed, size_t nfreed, size_t max, int lease_ms,
		     sv_queue_item **items, size_t *n);
	int (*renew)(sv_queue *q, const char *node, const int64_t *ids, size_t n, int lease_ms);
	int (*complete)(sv_queue *q, const char *node, const sv_queue_outcome *outcomes, size_t n,
			size_t *accepted);
	int (*seed_params)(sv_queue *q, int64_t seed, char **params);
	int (*stats)(sv_queue *q, sv_queue_seed_stats **rows, size_t *n, sv_queue_seed_stats *total);
	int (*node_stats)(sv_queue *q, sv_queue_node_stats **rows, size_t *n);
	/* Returns when new work may be there, or after timeout_ms. */
	int (*wait)(sv_queue *q, int timeout_ms);
	int (*host_get)(sv_queue *q, const char *host, sv_queue_host *out);
	int (*host_set_robots)(sv_queue *q, const char *host, const char *robots, int status,
			       int crawl_delay_ms);
	int (*host_cooldown)(sv_queue *q, const char *host, int64_t until_ms, int timed_out);
	int (*host_robots_failed)(sv_queue *q, const char *host, const char *reason, int64_t retry_at_ms,
				  int give_up);
	int (*host_delay)(sv_queue *q, const char *host, int crawl_delay_ms, int *delay_ms);
	int (*robots_waiting)(sv_queue *q, int (*fn)(void *ctx, const char *host, const char *reason, int64_t urls),
			      void *ctx);
	int (*robots_retry)(sv_queue *q, size_t *hosts);
	/* Gives leases back without counting an attempt (a clean stop). */
	int (*release)(sv_queue *q, const char *node, const int64_t *ids, size_t n);
	/* The transfers of these leased URLs have ended: their hosts' connection slots are free
	 * (the leases stay until complete). Politeness counts connections, not pending outcomes. */
	int (*free_slots)(sv_queue *q, const char *node, const int64_t *ids, size_t n);
	/* Failed URLs grouped by reason, most frequent first. */
	int (*failures)(sv_queue *q, int (*fn)(void *ctx, const char *reason, int64_t count), void *ctx);
	/* Gives back at once the leases of nodes whose name starts with prefix and
	 * for which alive() says 0 (fetchers of this machine killed with -9). */
	int (*reclaim)(sv_queue *q, const char *prefix, int (*alive)(const char *node), size_t *released);
	/* Cheap counts for deciding whether a crawl is over. */
	int (*pending)(sv_queue *q, int64_t *queued, int64_t *leased);
	int (*landing_add)(sv_queue *q, int64_t seed, const char *url);
	int (*settle)(sv_queue *q, const char *url, const sv_queue_outcome *how);
	int (*landings)(sv_queue *q, int64_t seed, char ***urls, size_t *n);
	/* Optional (NULL: always reachable, nothing kept): see sv_queue_reach. */
	void (*reach)(sv_queue *q, int64_t *down_since_ms, int64_t *kept);
	/* Crawl settings kept in the queue (its meta table) by key; *value NULL if none. */
	int (*setting_get)(sv_queue *q, const char *key, char **value);
	int (*setting_put)(sv_queue *q, const char *key, const char *value);
	/* Catalogs (queue.h); NULL for a backend that does not keep them. */
	int (*datasets_put)(sv_queue *q, int64_t seed, int pass, const sv_queue_dataset *ds, size_t n,
			    sv_queue_datasets_result *res);
	int (*catalog_get)(sv_queue *q, int64_t seed, sv_queue_catalog_info *out);
	int (*catalog_begin)(sv_queue *q, int64_t seed, int pass, const sv_queue_url *first);
	int (*datasets)(sv_queue *q, int64_t seed, int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx);
	int (*catalog_end)(sv_queue *q, int64_t seed, int pass, int (*fn)(void *ctx, const sv_queue_dataset_row *d),
			   void *ctx);
	/* NULL for a backend without roles (SQLite). */
	int (*grant_worker)(sv_queue *q, const char *role, const char *password, int *created);
	void (*close)(sv_queue *q);
} sv_queue_ops;

struct sv_queue {
	sv_queue_ops ops;
	sv_queue_options opts;
	sv_queue_gate_fn sheet_gate; /* see sv_queue_set_sheet_gate */
	void *sheet_gate_ctx;
	void *impl;
};

/* The SQLite backend (queue/sqlite.c). */
int sv_queue_sqlite_open(sv_queue **out, const char *path, const sv_queue_options *opts);
/* The PostgreSQL backend (queue/postgres.c): location is the whole postgresql:// URL. */
int sv_queue_postgres_open(sv_queue **out, const char *location, const sv_queue_options *opts);

/* The politeness key of a normalised http(s) URL: its authority, "host[:port]",
 * *len bytes at *start (a scan, not a parse: queued URLs are normalised
 * already). SV_EINVAL for anything else. */
int sv_queue_authority(const char *url, const char **start, size_t *len);

/* Adds a seed row's counts to total (for the totals of sv_queue_stats). */
void sv_queue_stats_add(sv_queue_seed_stats *total, const sv_queue_seed_stats *row);

/*
 * A listing of datasets (sv_queue_datasets, and what catalog_end tells),
 * read by a backend as rows: a dataset with one of its URLs a row (url NULL:
 * it has none), the rows of one dataset one after another. Each dataset
 * goes to fn once its rows are all in; strings are copied, so a row's may
 * die as soon as sv_queue_listing_add returns.
 */
typedef struct {
	int64_t id, seed;
	const char *key, *identifier, *title, *publisher, *modified, *meta;
	int first_pass, last_pass, vanished_pass;
	const char *url, *kind, *role, *reason;
	int state, status;
	int64_t bytes;
} sv_queue_listing_row;

typedef struct {
	int (*fn)(void *ctx, const sv_queue_dataset_row *d);
	void *ctx;
	sv_queue_dataset_row row;
	char *text[6]; /* key, identifier, title, publisher, modified, meta */
	sv_queue_dataset_url *urls;
	char **owned;  /* the URLs' strings, four per URL */
	size_t nurls, cap;
	int64_t id;    /* the dataset being gathered; 0 none */
} sv_queue_listing;
#define SV_QUEUE_LISTING_INIT(fn, ctx) {(fn), (ctx), {0}, {NULL}, NULL, NULL, 0, 0, 0}

/* Adds a row; the dataset before it, if it was another, goes to fn first (fn's answer is returned). */
int sv_queue_listing_add(sv_queue_listing *l, const sv_queue_listing_row *r);
/* With rc 0, the last dataset goes to fn; the listing's memory is freed either way. Returns rc, else fn's. */
int sv_queue_listing_end(sv_queue_listing *l, int rc);

/* location for messages, cut to fit, its user info (user:password@) shown as "***@". */
const char *sv_queue_shown(char *buf, size_t cap, const char *location);

#endif
