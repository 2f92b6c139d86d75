/*
 * crawler/fetcher.h -- what the files of one fetcher share (private to
 * crawler/fetch*.c; the interface is fetch.h).
 *
 * One fetcher is one libcurl multi loop. Its work is split by job:
 *   fetch.c       the loop: claim, renew, poll, and the end of a transfer
 *   transfer.c    one transfer: the request, headers, the body into the
 *                 object store, a partial download and discovery
 *   outcome.c     what a finished transfer means: done, retry or failed
 *   hosts.c       per host: robots.txt fetched once (again after a failure)
 *                 and URLs parked until it is known; per row: its settings
 *   checkpoint.c  what waits for the next checkpoint (outcomes, capture
 *                 records, links found) and the checkpoint itself
 *   tls.c         HTTP/2 and certificate trust: crawl.caFile, crawl.insecureHost
 *   catalog_fetch.c  catalog answers read by their step's reader (catalog.h)
 */
#ifndef SV_FETCHER_H
#define SV_FETCHER_H

#include "fetch.h"

#include "../common/clock.h"
#include "../storage/objects.h"
#include "discover.h"
#include "partial.h"
#include "robots.h"
#include "row.h"
#include "scope.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>

#define HEADERS_MAX (64u * 1024)   /* raw response headers kept per capture */
#define REQUEST_MAX (16u * 1024)   /* request headers kept per capture */
#define ROBOTS_MAX (500u * 1024)   /* RFC 9309: at least 500 KiB must be parsed */
#define HOST_BUCKETS 4096
#define BIG_BODY (10u * 1024 * 1024)
#define LINKS_FLUSH 4096           /* queue discovered links at least this often */
#define LINKS_MS 1000              /* and at least every second */
#define RULES_MS 500               /* robots.txt rules wait at most this long for a checkpoint */
#define OUTCOMES_FLUSH 4096        /* outcomes waiting for a checkpoint, at most */
#define RECORDS_FLUSH (8u << 20)   /* bytes of capture records waiting, at most */
#define RESUME_MIN (4u * 1024 * 1024) /* bodies from this size are kept in tmp/ to resume by Range */

/* A sheet row's settings, read from the queue once per fetcher; where its
 * seed landed, read again when a fetcher may not know it yet. */
typedef struct seed_info {
	int64_t id;
	sv_row *row;                     /* NULL: unreadable settings, which follow nothing */
	const sv_scope_compiled *scope;  /* the row's, or NULL */
	size_t nlandings;                /* landings of the row's seed taken into scope */
	char **hosts;                    /* hosts of the row this fetcher met since its scope last grew */
	size_t nhosts;
	int robots;                      /* 1 respect */
	int64_t max_bytes;               /* -1 none */
	struct seed_info *next;
} seed_info;

enum { ROBOTS_UNKNOWN, ROBOTS_FETCHING, ROBOTS_KNOWN };

struct transfer;

typedef struct host_info {
	char *key; /* authority */
	int robots_state;
	sv_robots *robots;
	struct transfer *waiting; /* claimed URLs waiting for robots.txt */
	struct host_info *next;
} host_info;

typedef struct transfer {
	struct fetcher *f;
	sv_queue_item item; /* for a robots.txt transfer: id 0, url the robots URL */
	int is_robots;
	host_info *host;
	seed_info *seed;
	CURL *easy;
	char ts[SV_RFC3339_LEN];
	int64_t content_length;
	char *content_type, *location, *encoding, *retry_after, *disposition;
	char *etag, *last_modified, *content_range;
	sv_partial part;       /* the raw body kept in tmp/, for a Range resume */
	int64_t resume_from;   /* bytes asked with Range (0: whole) */
	int resumed;           /* the server answered 206 from resume_from */
	struct curl_slist *req_headers;
	char *headers;
	size_t hlen;
	int headers_cut;
	char *request;   /* the request header block sent, credentials masked (on_debug) */
	size_t rlen;
	char ip[48];     /* the server's address, once connected */
	sv_objects_writer *w;
	int store_rc; /* an error from the object store while receiving */
	uint64_t received;
	sv_discover *discover; /* the reader looking for more URLs in the body, or NULL */
	struct catalog_read *cat; /* the reader of a catalog answer, or NULL (catalog_fetch.c) */
	char *catalog_json;    /* what the catalog answer held, for its record */
	int discover_decided;
	unsigned char *mem; /* robots.txt body */
	size_t mlen;
	int too_big;
	int in_scope; /* links found here may lead further (an in-scope page or stylesheet) */
	int tls_unverified; /* https with verification off (crawl.insecureHost) */
	int set_cookie;   /* the response carried Set-Cookie */
	int cookie_again; /* times this URL was fetched again at once for a cookie check (outcome.c) */
	int no_outcome;   /* this capture is not the URL's outcome: it is fetched again at once */
	char errbuf[CURL_ERROR_SIZE];
	char refused[192]; /* why the guard refused a connection (guard.h), or "" */
	struct transfer *next;              /* in a host's waiting list */
	struct transfer *run_prev, *run_next; /* in the running list */
} transfer;

/* An outcome waiting for the next checkpoint, with the strings it owns. */
typedef struct {
	sv_queue_outcome o; /* a robots.txt fetch has none: it is no queued URL */
	char *record;       /* its capture record (none for a retry) */
	char *reason;
	char digest[SV_DIGEST_HEX_LEN + 1]; /* the payload's, for o.digest; "" if none */
} pending_outcome;

typedef struct {
	sv_queue_url u;
	char *url, *via, *meta, *dataset, *role;
} pending_link;

/* robots.txt rules this fetcher uses already, kept in the queue for the
 * others once its capture record is durable (at the next checkpoint). */
typedef struct {
	char *host, *body;
	int status, crawl_delay_ms;
} pending_rules;

typedef struct fetcher {
	sv_queue *q;
	sv_objects *store;
	const sv_fetch_options *o;
	sv_fetch_stats local;
	sv_fetch_stats *stats;
	CURLM *multi;
	CURLSH *cookies; /* the cookie jar of every transfer here: in memory only */
	transfer *running; /* on the multi handle */
	size_t active, parked;
	pending_outcome *outs;
	size_t nouts, capouts;
	pending_outcome *robots_caps; /* captures with no queue outcome: robots.txt, a cookie check's 3xx */
	size_t nrobots, caprobots;
	pending_link *links;
	size_t nlinks, caplinks;
	pending_rules *rules;
	size_t nrules, caprules;
	uint64_t *seen;    /* 128-bit keys of URLs this fetcher has queued (see seen_before) */
	size_t nseen;
	seed_info *seeds;
	host_info *hosts[HOST_BUCKETS];
	int64_t last_checkpoint, last_links, last_renew;
	size_t pending_bytes; /* of capture records waiting for the checkpoint */
	int fatal; /* an environment error: stop */
	int64_t *ended; /* leased URLs whose transfer ended: host slots to free */
	size_t nended, capended;
	FILE *log; /* JSON lines: the capture records, as they are completed */
	struct {
		int64_t seed;
		int pass;
	} *ends;      /* catalog passes whose listing ended: told to the queue after the checkpoint */
	size_t nends, capends;
	char *ca_pem; /* the system's CA bundle and crawl.caFile, or NULL: libcurl's default trust */
	size_t ca_len;
} fetcher;

/* checkpoint.c */
int sv_fetch_record(fetcher *f, transfer *t, sv_outcome_kind kind, long status, const sv_objects_commit_info *info,
		    const sv_digest *d, sv_kind ckind, const char *truncated, const char *error,
		    const char *redirect, int64_t retry_at);
int sv_fetch_add_link(fetcher *f, const char *url, int64_t seed, int depth, sv_kind kind, const char *via,
		      int redirects);
/* The same with what the queue carries for a catalog (sv_queue_url's meta, dataset, role, refresh). */
int sv_fetch_add_link_meta(fetcher *f, const char *url, int64_t seed, int depth, sv_kind kind, const char *via,
			   const char *meta, const char *dataset, const char *role, int refresh);
/* A capture record that is no URL's outcome (a dataset gone from its catalog), for the next checkpoint. */
int sv_fetch_note_capture(fetcher *f, const char *url, int64_t seed, sv_kind kind, const char *via,
			  const char *dataset_json, const char *error);
int sv_fetch_queue_sitemap(fetcher *f, transfer *t, const char *url);
int sv_fetch_flush_links(fetcher *f);
int sv_fetch_keep_rules(fetcher *f, const char *host, const char *body, size_t len, int status, int crawl_delay_ms);
int sv_fetch_checkpoint(fetcher *f);
void sv_fetch_outcome_free(pending_outcome *p);

/* transfer.c */
transfer *sv_fetch_transfer_new(void);
void sv_fetch_transfer_free(transfer *t); /* NULL is a no-op */
int sv_fetch_transfer_start(fetcher *f, transfer *t);
void sv_fetch_transfer_ip(transfer *t); /* t->ip from libcurl, once connected */
int sv_fetch_is_kind(const transfer *t, sv_kind kind);

/* outcome.c: 0, 1 for a body shorter than announced (then finish_error), 2 to fetch the same URL
 * again at once (a cookie check), or a negative error. */
int sv_fetch_finish_response(fetcher *f, transfer *t, long status);
int sv_fetch_finish_error(fetcher *f, transfer *t, CURLcode res, long status);

/* hosts.c */
int sv_fetch_seed_get(fetcher *f, int64_t id, seed_info **out);
int sv_fetch_seed_meets(fetcher *f, seed_info *s, const sv_queue_item *item);
void sv_fetch_seed_free(seed_info *s);
host_info *sv_fetch_host_get(fetcher *f, const char *key);
int sv_fetch_robots_fetched(fetcher *f, transfer *t, int status);
int sv_fetch_robots_failed(fetcher *f, transfer *t, const char *reason, int permanent);
int sv_fetch_start_item(fetcher *f, transfer *t);
void sv_fetch_rules_free(pending_rules *r);

/* tls.c: the trust of every transfer, once per fetcher (o->ca_file); then per transfer. */
int sv_fetch_tls_init(fetcher *f);
void sv_fetch_tls_set(fetcher *f, transfer *t);

/* catalog_fetch.c */
struct catalog_read;
int sv_fetch_catalog_wanted(const transfer *t); /* 1: t's answer is read by a catalog step's reader */
int sv_fetch_catalog_open(fetcher *f, transfer *t);
void sv_fetch_catalog_feed(transfer *t, const void *buf, size_t len);
/* The answer is complete: datasets queued, the next requests too (unless it failed: why then says
 * why, else ""); *record_json: what it held, for its capture record (malloc'd). */
int sv_fetch_catalog_finish(fetcher *f, transfer *t, char **record_json, char *why, size_t whylen);
void sv_fetch_catalog_free(struct catalog_read *c); /* NULL is a no-op */
/* A URL found on a dataset's page (*taken 1): its data files only, as part of the dataset. */
int sv_fetch_catalog_found(fetcher *f, transfer *t, const char *url, sv_found_kind kind, int *taken);
/* The dataset t's URL is part of, as JSON for its record, or *out NULL. */
int sv_fetch_catalog_dataset_json(const transfer *t, char **out);
int sv_fetch_catalog_end_later(fetcher *f, int64_t seed, int pass);
/* A request of a row of kind auto failed (*is_probe 1): the next probe is queued (*next_queued 1), if any. */
int sv_fetch_catalog_probe_failed(fetcher *f, transfer *t, int *is_probe, int *next_queued);
/* A redirect of a URL a catalog gave (*taken 1: followed, with its meta; 2: refused by the row's
 * patterns); *taken 0: no catalog's, the row's scope decides. */
int sv_fetch_catalog_redirect(fetcher *f, transfer *t, const char *target, int *taken);
/* A catalog request that could not be read: kept as an "unread" dataset of its row (status, report). */
int sv_fetch_catalog_unread(fetcher *f, transfer *t);
int sv_fetch_catalog_ends(fetcher *f); /* after a checkpoint: passes ended, vanished datasets recorded */

/* fetch.c */
void sv_fetch_note_ended(fetcher *f, const transfer *t);

#endif
