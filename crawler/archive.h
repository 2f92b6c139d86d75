/*
 * crawler/archive.h -- finding, creating and opening an archive.
 *
 * An archive is a folder holding salvage.conf (git-config syntax, read and
 * written with libgit2's config API), objects/, ledger.git/, tmp/ and logs/. salvage.conf
 * is written last, so a folder that has it is a complete archive.
 */
#ifndef SV_ARCHIVE_H
#define SV_ARCHIVE_H

#include "../queue/queue.h"
#include "../storage/index.h"
#include "../storage/ledger.h"
#include "../storage/mirror.h"
#include "../storage/objects.h"

#define SV_ARCHIVE_VERSION 1
#define SV_ARCHIVE_NODE_MAX 64

typedef struct {
	char *root;      /* absolute path of the archive folder */
	char *conf_path; /* root/salvage.conf */
	int zstd_level;  /* storage.zstdLevel, 1..19 */
	int compress_threads; /* storage.compressThreads, 0 = one per CPU */
	char *queue_url;      /* queue.url; NULL = queue.db in the archive */
	int host_max_inflight; /* crawl.hostConnections, default 4 */
	int host_delay_ms;     /* crawl.delayMs, default 0 */
	int transfers;         /* crawl.transfers per fetcher, default 32 */
	int robots;            /* crawl.robots: 1 respect (default), 0 ignore */
	char *ca_file;         /* crawl.caFile, absolute: PEM certificates trusted beside the system's; NULL none */
	char *netrc_file;      /* crawl.netrcFile, absolute: credentials per host (never in a sheet); NULL none */
	char *socrata_token;   /* catalog.socrataAppToken (or SALVAGE_SOCRATA_APP_TOKEN): X-App-Token; NULL none */
	char *datagov_key;     /* catalog.dataGovApiKey (or SALVAGE_DATAGOV_API_KEY): X-Api-Key; NULL none */
	char **insecure_hosts; /* crawl.insecureHost: host keys ("host", "host:port") whose TLS is not verified */
	size_t ninsecure;
	int robots_attempts;   /* crawl.robotsAttempts: robots.txt fetches per host and run, default 5 */
	int lease_seconds;     /* queue.leaseSeconds: how long a claimed URL stays this fetcher's unrenewed, default 120 */
	int64_t multipart_threshold; /* mirror.multipartThreshold, bytes; 0: the transport's default (64 MiB) */
	int64_t multipart_part_size; /* mirror.multipartPartSize, bytes; 0: the transport's default (16 MiB) */
	char **allow_private;  /* crawl.allowPrivate: server keys (sv_guard_server_key) that may be private addresses */
	size_t nallow_private;
	int allow_private_all; /* crawl.allowPrivate = true: the guard is off */
	char *contact;         /* crawl.contact: a URL or e-mail of who runs the crawl; NULL none */
	char *bag_source_org;  /* bag.sourceOrganization: Source-Organization of an exported bag; NULL none */
	/* node.name, or the host name made safe (sv_archive_machine) cut to SV_ARCHIVE_NODE_MAX:
	 * the start of its lease holders' names ("<node>:<pid>:<index>"), the folder of its
	 * capture files and the "node" of its capture records. */
	char node[SV_ARCHIVE_NODE_MAX + 1];
	int node_set;          /* 1: node.name is in salvage.conf */
} sv_archive;

/* Creates an archive in dir. *existed is set when dir already was one (nothing is changed then). */
int sv_archive_init(const char *dir, int *existed);
/* Finds the archive containing the current directory, walking up like git. */
int sv_archive_find(sv_archive **out);
/* Opens the archive rooted exactly at dir. */
int sv_archive_open(sv_archive **out, const char *dir);
void sv_archive_free(sv_archive *a); /* NULL is a no-op */

int sv_archive_objects(const sv_archive *a, sv_objects **out);
/* Opens the queue: override (--queue) if given, else queue.url, else queue.db here. */
int sv_archive_queue(const sv_archive *a, const char *override, sv_queue **out);
/*
 * Whether the queue at override (NULL: queue.url, else the archive's own)
 * is shared: any queue but this archive's queue.db. Fetchers see a shared
 * queue through the outbox, and seed keeps the coordinator's politeness in
 * it for every worker.
 */
int sv_archive_queue_shared(const sv_archive *a, const char *override);
/*
 * sv_archive_queue as fetchers open it: on a PostgreSQL queue no call waits
 * longer than a third of queue.leaseSeconds (within the bounds below). A
 * silent link (a dropped Wi-Fi, a cut proxy: no error, only silence) is then
 * told as SV_EUNREACHABLE soon, the outbox takes over and the transfers
 * under way go on, instead of the fetcher stalling in one call for the
 * queue's usual 60 s while its leases run out.
 */
#define SV_ARCHIVE_FETCH_WAIT_MIN_MS 2000
#define SV_ARCHIVE_FETCH_WAIT_MAX_MS 10000
int sv_archive_fetch_queue(const sv_archive *a, const char *override, sv_queue **out);
/* Opens ledger.git (made first if the archive predates it). */
int sv_archive_ledger(const sv_archive *a, sv_ledger **out);
/*
 * Opens the capture index, index.db. One that was never built (new, or the
 * archive predates it) is built first from the ledger and, for an archive
 * from before the index, from the captures its queue.db kept.
 */
int sv_archive_index(const sv_archive *a, sv_index **out);
/* Makes the capture index anew (salvage reindex): *indexed captures, *skipped lines that are none. */
int sv_archive_reindex(const sv_archive *a, size_t *indexed, size_t *skipped);
/* This machine's name as the ledger and capture records use it (the host
 * name, with anything but letters, digits, '-', '_' and inner dots as '_'). */
void sv_archive_machine(char *buf, size_t cap);
/* node.name: 1 to SV_ARCHIVE_NODE_MAX letters, digits, '.', '_' or '-'; else SV_EINVAL saying so. */
int sv_archive_check_node(const char *value);
/* Checks value and writes it into a's salvage.conf as node.name, and into a->node. */
int sv_archive_set_node(sv_archive *a, const char *value);
/*
 * Commits capture records (one JSON object each) to the ledger's branch
 * ("main", or "nodes/<node>" for a worker) as captures/<machine>/<YYYY-MM-DD>/<HHMMSS.mmm>-<pid>-<seq>.jsonl (UTC;
 * unique per process and call, in time order as git sorts), with a message
 * naming who (by) and the first and last URL; then, once they are in the
 * ledger, adds them to the capture index ix. *seq counts the calls.
 */
int sv_archive_commit_records(sv_ledger *ledger, sv_index *ix, const char *branch, const char *machine,
			      unsigned *seq, const char *const *records, size_t n, const char *by);
/*
 * Mirrors: [remote "NAME"] sections of salvage.conf, read into and written
 * from storage/mirror.h's settings. Reads remote NAME; SV_ENOTFOUND when
 * salvage.conf has no such remote.
 */
int sv_archive_remote_get(const sv_archive *a, const char *name, sv_mirror_remote **out);
/* Writes r as a new [remote "NAME"] section, all keys at once (locked, then
 * renamed into place); SV_EINVAL when a remote of that name exists. */
int sv_archive_remote_add(const sv_archive *a, const sv_mirror_remote *r);
/* The names of every remote, in the order of the file, into a malloc'd array of malloc'd strings. */
int sv_archive_remote_names(const sv_archive *a, char ***names, size_t *n);

/*
 * crawl.contact: a URL (http:// or https://) or an e-mail address that site
 * operators can reach, sent in the User-Agent as "salvage/VERSION (+CONTACT)".
 * sv_archive_check_contact: 0, or SV_EINVAL saying what a contact must be
 * (printable ASCII without spaces, '(', ')' or '\\', so that it cannot break
 * the header or its comment; at most SV_ARCHIVE_CONTACT_MAX bytes).
 * sv_archive_set_contact: checks value and writes it into dir's salvage.conf.
 * sv_archive_user_agent: the User-Agent of a crawl of a, into buf.
 */
#define SV_ARCHIVE_CONTACT_MAX 200
int sv_archive_check_contact(const char *value);
int sv_archive_set_contact(const char *dir, const char *value);
void sv_archive_user_agent(const sv_archive *a, char *buf, size_t cap);

/* A path under the archive, into a fresh string (NULL when out of memory). */
char *sv_archive_path(const sv_archive *a, const char *rel);

#endif
