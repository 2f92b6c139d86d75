/*
 * queue/sqlite.c -- the embedded queue backend: one SQLite file in WAL mode,
 * shared by every fetcher process on the machine.
 *
 * Every write runs in a BEGIN IMMEDIATE transaction, so two processes never
 * interleave a read-then-update (that is what makes a lease exclusive), and
 * each call is one transaction whatever its batch size. Expired leases are
 * returned at the start of every claim, so no separate process is needed for
 * a crawl to resume after a SIGKILL.
 *
 * A URL's identity is its normalised text; the unique index holds a 64-bit
 * FNV-1a hash of it (see insert_url), which keeps that index small.
 *
 * hosts.queued and hosts.inflight are counters kept in step with urls.state
 * inside the same transactions; claim picks ready hosts from hosts first and
 * then their URLs, so a host that must wait costs nothing per claim.
 */
#include "backend.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

/* 2: captures, redirects, skipped; 3: host slots; 4: robots.txt failures
 * and first claims (hosts.robots_tries, robots_error, robots_held,
 * robots_claim_ms; a schema 3 file is
 * migrated in place, see MIGRATE_3). Captures have since moved to the
 * archive's capture index (storage/index.c): a queue.db of schema 3 made
 * before that keeps a captures table nobody writes, which the index takes in
 * once when it is first built. 5: for every done URL the node that
 * completed it and its digest (urls.done_node, urls.digest), and each node's
 * heartbeat (nodes); schema 4 is migrated in place (MIGRATE_4). 6: catalogs:
 * what each queued URL carries for the fetcher (urls.meta), each catalog
 * row's passes (seeds.catalog_pass, catalog_done_pass), the datasets rows
 * list and the URLs of each (datasets, dataset_urls); schema 5 is migrated
 * in place (MIGRATE_5). */
#define SCHEMA_VERSION "6"

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS sheets(name TEXT PRIMARY KEY, raw BLOB NOT NULL, loaded_ms INTEGER);"
	"CREATE TABLE IF NOT EXISTS seeds("
	" id INTEGER PRIMARY KEY, sheet TEXT NOT NULL, url TEXT NOT NULL, line INTEGER,"
	" priority INTEGER NOT NULL DEFAULT 0, max_urls INTEGER NOT NULL DEFAULT -1,"
	" delay_ms INTEGER NOT NULL DEFAULT -1, params TEXT, meta TEXT,"
	" active INTEGER NOT NULL DEFAULT 1, queued_total INTEGER NOT NULL DEFAULT 0,"
	" catalog_pass INTEGER NOT NULL DEFAULT 0, catalog_done_pass INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(sheet, url));"
	"CREATE TABLE IF NOT EXISTS hosts("
	" id INTEGER PRIMARY KEY, host TEXT NOT NULL UNIQUE, queued INTEGER NOT NULL DEFAULT 0, inflight INTEGER NOT NULL DEFAULT 0,"
	" priority INTEGER NOT NULL DEFAULT 0, delay_ms INTEGER NOT NULL DEFAULT -1,"
	" next_ms INTEGER NOT NULL DEFAULT 0, cooldown_ms INTEGER NOT NULL DEFAULT 0,"
	" robots TEXT, robots_ms INTEGER, robots_status INTEGER,"
	" crawl_delay_ms INTEGER NOT NULL DEFAULT -1, timeouts INTEGER NOT NULL DEFAULT 0,"
	" robots_tries INTEGER NOT NULL DEFAULT 0, robots_error TEXT, robots_held INTEGER NOT NULL DEFAULT 0,"
	" robots_claim_ms INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS hosts_waiting ON hosts(priority DESC, next_ms) WHERE queued > 0;"
	"CREATE TABLE IF NOT EXISTS urls("
	" id INTEGER PRIMARY KEY, key INTEGER NOT NULL, url TEXT NOT NULL, host INTEGER NOT NULL,"
	" seed INTEGER NOT NULL,"
	" depth INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL, via TEXT,"
	" priority INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL DEFAULT 0,"
	" attempts INTEGER NOT NULL DEFAULT 0, expiries INTEGER NOT NULL DEFAULT 0,"
	" not_before_ms INTEGER NOT NULL DEFAULT 0, node TEXT, lease_ms INTEGER,"
	" status INTEGER, bytes INTEGER, reason TEXT, done_ms INTEGER,"
	" redirects INTEGER NOT NULL DEFAULT 0, slot INTEGER NOT NULL DEFAULT 0,"
	" done_node TEXT, digest TEXT, meta TEXT);"
	"CREATE TABLE IF NOT EXISTS nodes(name TEXT PRIMARY KEY, last_ms INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX IF NOT EXISTS urls_key ON urls(key);"
	"CREATE INDEX IF NOT EXISTS urls_queued ON urls(host, priority DESC, id) WHERE state = 0;"
	"CREATE INDEX IF NOT EXISTS urls_leased ON urls(lease_ms) WHERE state = 1;"
	"CREATE INDEX IF NOT EXISTS urls_slots ON urls(host, node) WHERE slot = 1;"
	/* Added without a schema change: an older queue.db gains it when opened. */
	"CREATE TABLE IF NOT EXISTS seed_landings(seed INTEGER NOT NULL, url TEXT NOT NULL, PRIMARY KEY(seed, url));"
	"CREATE TABLE IF NOT EXISTS datasets("
	" id INTEGER PRIMARY KEY, seed INTEGER NOT NULL, key TEXT NOT NULL, identifier TEXT, title TEXT,"
	" publisher TEXT, modified TEXT, meta TEXT, first_pass INTEGER NOT NULL, last_pass INTEGER NOT NULL,"
	" vanished_pass INTEGER NOT NULL DEFAULT 0, UNIQUE(seed, key));"
	"CREATE TABLE IF NOT EXISTS dataset_urls(dataset INTEGER NOT NULL, url INTEGER NOT NULL, role TEXT,"
	" PRIMARY KEY(dataset, url)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS dataset_urls_url ON dataset_urls(url);";

/*
 * Schema 3 to 4, in the transaction that opens the file. Schema 3 kept a
 * robots.txt that could not be fetched (status 0 or 5xx) as "disallow all"
 * for good, and skipped the host's URLs: those rules are dropped, so that
 * robots.txt is asked again, and the URLs they skipped are queued again.
 */
static const char MIGRATE_3[] =
	"ALTER TABLE hosts ADD COLUMN robots_tries INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE hosts ADD COLUMN robots_error TEXT;"
	"ALTER TABLE hosts ADD COLUMN robots_held INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE hosts ADD COLUMN robots_claim_ms INTEGER NOT NULL DEFAULT 0;"
	"CREATE TEMP TABLE unreached AS SELECT id FROM hosts"
	" WHERE robots_ms IS NOT NULL AND (robots_status = 0 OR robots_status >= 500 OR robots_status = 429);"
	"UPDATE hosts SET robots = NULL, robots_ms = NULL, robots_status = NULL, crawl_delay_ms = -1,"
	" queued = queued + (SELECT count(*) FROM urls WHERE urls.host = hosts.id AND state = 5)"
	" WHERE id IN (SELECT id FROM unreached);"
	"UPDATE urls SET state = 0, reason = NULL, done_ms = NULL WHERE state = 5 AND host IN (SELECT id FROM unreached);"
	"DROP TABLE unreached;"
	"UPDATE meta SET value = '4' WHERE key = 'schema';";

/* Schema 4 to 5: columns only; URLs done before know no node or digest. */
static const char MIGRATE_4[] =
	"ALTER TABLE urls ADD COLUMN done_node TEXT;"
	"ALTER TABLE urls ADD COLUMN digest TEXT;"
	"UPDATE meta SET value = '5' WHERE key = 'schema';";

/* Schema 5 to 6: columns only (the catalogs' tables are made by SCHEMA). */
static const char MIGRATE_5[] =
	"ALTER TABLE urls ADD COLUMN meta TEXT;"
	"ALTER TABLE seeds ADD COLUMN catalog_pass INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE seeds ADD COLUMN catalog_done_pass INTEGER NOT NULL DEFAULT 0;"
	"UPDATE meta SET value = '6' WHERE key = 'schema';";

/* After any migration: indexes on columns a migration may have added. */
static const char INDEXES[] =
	"CREATE INDEX IF NOT EXISTS urls_done_node ON urls(done_node, done_ms) WHERE done_node IS NOT NULL;";

/* Prepared once, reset after each use. */
enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SEED_GET,
	ST_SEED_INSERT,
	ST_SEED_UPDATE,
	ST_SEED_CAP,
	ST_SEED_COUNT,
	ST_URL_EXISTS,
	ST_URL_INSERT,
	ST_HOST_ID,
	ST_HOST_NEW,
	ST_HOST_ADD,
	ST_HOSTS_READY,
	ST_HOST_URLS,
	ST_HOST_NODE_SLOTS,
	ST_HOST_MACHINE_SLOTS,
	ST_NODES_LIVE,
	ST_HOSTS_QUEUED,
	ST_HOST_NEXT_QUEUED,
	ST_URL_LEASE,
	ST_HOST_CLAIMED,
	ST_HOST_WAIT,
	ST_HOST_ROBOTS_CLAIM,
	ST_URL_OWNER,
	ST_URL_FREE_SLOT,
	ST_URL_DONE,
	ST_URL_RETRY,
	ST_URL_FAILED,
	ST_HOST_RELEASE,
	ST_URL_RENEW,
	ST_EXPIRED,
	ST_URL_EXPIRE,
	ST_URL_RELEASE,
	ST_NODE_SEEN,
	ST_URL_REFRESH,
	ST_URL_META,
	ST_DATASET_ID,
	ST_DATASET_LINK,
	ST_DATASET_GET,
	ST_DATASET_UPDATE,
	ST_DATASET_INSERT,
	ST_COUNT
};

static const char *const SQL[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SEED_GET] = "SELECT id, line, priority, max_urls, delay_ms, params, meta, active"
			" FROM seeds WHERE sheet = ?1 AND url = ?2",
	[ST_SEED_INSERT] = "INSERT INTO seeds(sheet, url, line, priority, max_urls, delay_ms, params, meta, queued_total)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)",
	[ST_SEED_UPDATE] = "UPDATE seeds SET line = ?2, priority = ?3, max_urls = ?4, delay_ms = ?5,"
			   " params = ?6, meta = ?7, active = 1 WHERE id = ?1",
	[ST_SEED_CAP] = "SELECT max_urls, queued_total, priority, delay_ms FROM seeds WHERE id = ?1",
	[ST_SEED_COUNT] = "UPDATE seeds SET queued_total = queued_total + ?2 WHERE id = ?1",
	[ST_URL_EXISTS] = "SELECT url = ?2, id, state FROM urls WHERE key = ?1",
	[ST_URL_INSERT] = "INSERT INTO urls(key, url, host, seed, depth, kind, via, priority, redirects, meta)"
			  " VALUES(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?10) ON CONFLICT(key) DO NOTHING",
	[ST_HOST_ID] = "SELECT id FROM hosts WHERE host = ?1",
	[ST_HOST_NEW] = "INSERT INTO hosts(host) VALUES(?1)",
	[ST_HOST_ADD] = "UPDATE hosts SET queued = queued + ?2, priority = max(priority, ?3),"
			" delay_ms = max(delay_ms, ?4) WHERE id = ?1",
	[ST_HOSTS_READY] = "SELECT id, host, inflight, max(delay_ms, crawl_delay_ms, ?3), robots_ms IS NULL FROM hosts"
			   " WHERE queued > 0 AND next_ms <= ?1 AND cooldown_ms <= ?1 AND inflight < ?2 AND robots_held = 0"
			   " AND robots_claim_ms <= ?1"
			   " ORDER BY priority DESC, next_ms LIMIT ?4",
	[ST_HOST_URLS] = "SELECT id, url, seed, depth, kind, via, attempts, redirects, meta FROM urls"
			 " WHERE host = ?1 AND state = 0 AND not_before_ms <= ?2"
			 " ORDER BY priority DESC, id LIMIT ?3",
	[ST_HOST_NODE_SLOTS] = "SELECT count(*) FROM urls WHERE host = ?1 AND node = ?2 AND slot = 1",
	[ST_HOST_MACHINE_SLOTS] = "SELECT count(*) FROM urls WHERE host = ?1 AND slot = 1"
				  " AND (node = ?2 OR substr(node, 1, length(?2) + 1) = ?2 || ':')",
	[ST_NODES_LIVE] = "SELECT count(*) FROM nodes WHERE last_ms >= ?1",
	[ST_HOSTS_QUEUED] = "SELECT count(*) FROM (SELECT 1 FROM hosts WHERE queued > 0 LIMIT ?1)",
	[ST_HOST_NEXT_QUEUED] = "SELECT min(not_before_ms), count(*) FROM urls WHERE host = ?1 AND state = 0",
	[ST_URL_LEASE] = "UPDATE urls SET state = 1, node = ?2, lease_ms = ?3, slot = 1 WHERE id = ?1",
	[ST_HOST_CLAIMED] = "UPDATE hosts SET inflight = inflight + ?2, queued = queued - ?2, next_ms = ?3"
			    " WHERE id = ?1",
	[ST_HOST_WAIT] = "UPDATE hosts SET next_ms = ?2, queued = ?3 WHERE id = ?1",
	[ST_HOST_ROBOTS_CLAIM] = "UPDATE hosts SET robots_claim_ms = ?2 WHERE id = ?1",
	[ST_URL_OWNER] = "SELECT host, slot FROM urls WHERE id = ?1 AND state = 1 AND node = ?2",
	[ST_URL_FREE_SLOT] = "UPDATE urls SET slot = 0 WHERE id = ?1",
	[ST_URL_DONE] = "UPDATE urls SET state = 2, status = ?2, bytes = ?3, done_ms = ?4, node = NULL,"
			" lease_ms = NULL, slot = 0, done_node = ?5, digest = ?6 WHERE id = ?1",
	[ST_URL_RETRY] = "UPDATE urls SET state = 0, attempts = attempts + 1, not_before_ms = ?2,"
			 " reason = ?3, status = ?4, node = NULL, lease_ms = NULL, slot = 0 WHERE id = ?1",
	[ST_URL_FAILED] = "UPDATE urls SET state = ?5, attempts = attempts + 1, reason = ?2, status = ?3,"
			  " done_ms = ?4, node = NULL, lease_ms = NULL, slot = 0 WHERE id = ?1",
	[ST_HOST_RELEASE] = "UPDATE hosts SET inflight = max(inflight - ?2, 0), queued = queued + ?3,"
			    " next_ms = min(next_ms, ?4) WHERE id = ?1",
	[ST_URL_RENEW] = "UPDATE urls SET lease_ms = ?3 WHERE id = ?1 AND state = 1 AND node = ?2",
	[ST_EXPIRED] = "SELECT id, host, expiries, slot FROM urls WHERE state = 1 AND lease_ms < ?1",
	[ST_URL_RELEASE] = "UPDATE urls SET state = 0, node = NULL, lease_ms = NULL, slot = 0 WHERE id = ?1",
	[ST_URL_EXPIRE] = "UPDATE urls SET state = ?2, expiries = expiries + 1, node = NULL, lease_ms = NULL,"
			  " reason = ?3, done_ms = ?4, slot = 0 WHERE id = ?1",
	[ST_NODE_SEEN] = "INSERT INTO nodes(name, last_ms) VALUES(?1, ?2)"
			 " ON CONFLICT(name) DO UPDATE SET last_ms = max(last_ms, excluded.last_ms)",
	[ST_URL_REFRESH] = "UPDATE urls SET state = 0, attempts = 0, expiries = 0, not_before_ms = 0, reason = NULL,"
			   " status = NULL, bytes = NULL, done_ms = NULL, meta = ?2, seed = ?3, depth = ?4, kind = ?5,"
			   " via = ?6, priority = ?7 WHERE id = ?1 AND state IN (2, 3, 5)",
	[ST_URL_META] = "UPDATE urls SET meta = ?2 WHERE id = ?1 AND state = 0",
	[ST_DATASET_ID] = "SELECT id FROM datasets WHERE seed = ?1 AND key = ?2",
	[ST_DATASET_LINK] = "INSERT OR IGNORE INTO dataset_urls(dataset, url, role) VALUES(?1, ?2, ?3)",
	[ST_DATASET_GET] = "SELECT id, modified, last_pass FROM datasets WHERE seed = ?1 AND key = ?2",
	[ST_DATASET_UPDATE] = "UPDATE datasets SET identifier = ?3, title = ?4, publisher = ?5, modified = ?6,"
			      " meta = ?7, last_pass = ?8, vanished_pass = 0 WHERE id = ?1",
	[ST_DATASET_INSERT] = "INSERT INTO datasets(seed, key, identifier, title, publisher, modified, meta, first_pass,"
			      " last_pass) VALUES(?2, ?9, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
};

typedef struct {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	char *path;
	int busy_timeout_ms;
	struct timespec busy_since;
} sqlite_queue;

/* Waits for another process's write lock in short steps. SQLite's own
 * handler sleeps 1, 2, 5, 10 … 100 ms, so a fetcher whose partner holds the
 * lock for a few milliseconds often slept ten times longer, and its whole
 * transfer loop with it. */
static int busy_wait(void *arg, int tries)
{
	sqlite_queue *s = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (tries == 0)
		s->busy_since = now;
	int64_t waited = (int64_t)(now.tv_sec - s->busy_since.tv_sec) * 1000 +
			 (now.tv_nsec - s->busy_since.tv_nsec) / 1000000;
	if (waited >= s->busy_timeout_ms)
		return 0;
	struct timespec step = {0, tries < 50 ? 100000 : tries < 200 ? 500000 : 2000000};
	nanosleep(&step, NULL);
	return 1;
}

/* ---- errors ---- */

static int db_fail(sqlite_queue *s, const char *what)
{
	int code = sqlite3_extended_errcode(s->db);
	int sv = (code & 0xff) == SQLITE_FULL ? SV_ENOSPC : SV_EIO;
	return sv_error_set(sv, "queue '%s': %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static sqlite3_stmt *stmt(sqlite_queue *s, int which)
{
	sqlite3_stmt *st = s->st[which];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Runs a statement that returns no rows. */
static int run_done(sqlite_queue *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(s, what);
}

static int begin(sqlite_queue *s)
{
	return run_done(s, stmt(s, ST_BEGIN), "begin");
}

static int commit(sqlite_queue *s)
{
	return run_done(s, stmt(s, ST_COMMIT), "commit");
}

/* Ends a transaction: commit on success, roll back (keeping rc's message) on failure. */
static int finish(sqlite_queue *s, int rc)
{
	if (rc == 0)
		return commit(s);
	if (!sqlite3_get_autocommit(s->db)) {
		sqlite3_stmt *st = stmt(s, ST_ROLLBACK);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	return rc;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

/* A URL's kind from its stored name. This program writes only sv_kind_name's
 * names; anything else is read as a page, as a link of no known kind would be. */
static sv_kind kind_of(sqlite3_stmt *st, int i)
{
	sv_kind k;
	return sv_kind_parse((const char *)sqlite3_column_text(st, i), &k) == 0 ? k : SV_KIND_PAGE;
}

static sqlite_queue *impl(sv_queue *q)
{
	return q->impl;
}

/* The node of a lease holder "<node>:<pid>:<index>": the part before the first ':'. */
static int bind_node(sqlite3_stmt *st, int i, const char *holder)
{
	const char *colon = strchr(holder, ':');
	return sqlite3_bind_text(st, i, holder, colon ? (int)(colon - holder) : -1, SQLITE_TRANSIENT);
}

/* The holder's node was seen now (claim, renew): its heartbeat for status. */
static int heartbeat(sv_queue *q, const char *holder)
{
	sqlite3_stmt *st = stmt(impl(q), ST_NODE_SEEN);
	bind_node(st, 1, holder);
	sqlite3_bind_int64(st, 2, sv_queue_now_ms(q));
	return run_done(impl(q), st, "record a heartbeat");
}

/* ---- a small string-keyed tally for one batch (hosts, seeds) ---- */

typedef struct {
	char *key;
	int64_t id;
	int64_t count, extra;
	int64_t ref; /* hosts: the row id; seeds: URLs its queued_total counts already (see seed_known) */
	int priority, delay_ms;
} tally_entry;

typedef struct {
	tally_entry *e;
	size_t cap, n;
} tally;

static uint64_t hash_str(const char *s, int64_t id)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)id;
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The entry for key (a string, or NULL with an id), created if missing. */
static tally_entry *tally_get(tally *t, const char *key, int64_t id)
{
	if (t->n * 2 >= t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		tally_entry *e = calloc(cap, sizeof(*e));
		if (!e)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->e[i].key && !t->e[i].id)
				continue;
			size_t j = hash_str(t->e[i].key, t->e[i].id) & (cap - 1);
			while (e[j].key || e[j].id)
				j = (j + 1) & (cap - 1);
			e[j] = t->e[i];
		}
		free(t->e);
		t->e = e;
		t->cap = cap;
	}
	size_t j = hash_str(key, id) & (t->cap - 1);
	while (t->e[j].key || t->e[j].id) {
		if (key ? (t->e[j].key && !strcmp(t->e[j].key, key)) : t->e[j].id == id)
			return &t->e[j];
		j = (j + 1) & (t->cap - 1);
	}
	if (key && !(t->e[j].key = strdup(key)))
		return NULL;
	t->e[j].id = key ? -1 : id;
	t->n++;
	return &t->e[j];
}

/* An empty tally with room for n entries without growing (a sheet's
 * 100,000 new rows grew it eleven times, each a fresh table to fault in). */
static int tally_reserve(tally *t, size_t n)
{
	size_t cap = 64;
	while (cap <= n * 2)
		cap *= 2;
	if (!(t->e = calloc(cap, sizeof(*t->e))))
		return sv_error_set(SV_EIO, "out of memory");
	t->cap = cap;
	return 0;
}

static void tally_free(tally *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->e[i].key);
	free(t->e);
	memset(t, 0, sizeof(*t));
}

#define TALLY_FOREACH(t, p) \
	for (tally_entry *p = (t)->e; p < (t)->e + (t)->cap; p++) \
		if (p->key || p->id)

/* ---- enqueue ---- */

/* Applies per-host counts. */
static int flush_hosts(sqlite_queue *s, tally *hosts)
{
	TALLY_FOREACH(hosts, h)
	{
		if (h->count == 0)
			continue;
		sqlite3_stmt *st = stmt(s, ST_HOST_ADD);
		sqlite3_bind_int64(st, 1, h->ref);
		sqlite3_bind_int64(st, 2, h->count);
		sqlite3_bind_int(st, 3, h->priority);
		sqlite3_bind_int(st, 4, h->delay_ms);
		int rc = run_done(s, st, "count host");
		if (rc)
			return rc;
	}
	return 0;
}

/* The politeness key of a normalised URL (sv_queue_authority), as a new string. */
static int authority_of(const char *url, char **out)
{
	const char *start;
	size_t n;
	int rc = sv_queue_authority(url, &start, &n);
	if (rc)
		return rc;
	*out = strndup(start, n);
	return *out ? 0 : sv_error_set(SV_EIO, "out of memory");
}

/* The row id of a host, created if new. */
static int host_id(sqlite_queue *s, const char *host, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, ST_HOST_ID);
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (step == SQLITE_ROW)
		return 0;
	if (step != SQLITE_DONE)
		return db_fail(s, "look up a host");
	st = stmt(s, ST_HOST_NEW);
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	int rc = run_done(s, st, "add a host");
	*id = sqlite3_last_insert_rowid(s->db);
	return rc;
}

/*
 * Inserts one URL unless it is queued already. The key is a 64-bit hash of
 * the text; a different URL under the same key (about one in 10^7 crawls of
 * ten million URLs) takes the next free key, and lookups probe the same way.
 */
/*
 * Within a host, URLs are claimed by priority, then in the order they were
 * found. A URL ranks by its seed row's priority, and within a row datasets
 * come before pages: they are what a rescue is for, and a large one started
 * early downloads while the pages around it are still being crawled,
 * instead of alone at the end.
 */
static int64_t url_rank(const sv_queue_url *u, int seed_priority)
{
	return (int64_t)seed_priority * 2 + (u->kind == SV_KIND_DATASET);
}

/* Binds what a URL's row holds, for insert (?1 url, ?3 seed, ?4 depth, ?5 kind, ?6 via, ?7 rank, ?10 meta). */
static void bind_url(sqlite3_stmt *st, const sv_queue_url *u, int priority)
{
	sqlite3_bind_int64(st, 3, u->seed);
	sqlite3_bind_int(st, 4, u->depth);
	sqlite3_bind_text(st, 5, sv_kind_name(u->kind), -1, SQLITE_STATIC);
	if (u->via)
		sqlite3_bind_text(st, 6, u->via, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, url_rank(u, priority));
}

/* u is queued already (as id, in state): with refresh, an ended URL is queued again with u's meta
 * (*inserted 1: it counts as new), a queued one gets u's meta. */
static int refresh_url(sqlite_queue *s, const sv_queue_url *u, int64_t id, int state, int priority, int *inserted)
{
	sqlite3_stmt *st;
	int rc;
	if (!u->refresh)
		return 0;
	if (state == SV_URL_DONE || state == SV_URL_FAILED || state == SV_URL_SKIPPED) {
		st = stmt(s, ST_URL_REFRESH);
		bind_url(st, u, priority);
		sqlite3_bind_int64(st, 1, id);
		if (u->meta)
			sqlite3_bind_text(st, 2, u->meta, -1, SQLITE_STATIC);
		if ((rc = run_done(s, st, "queue a URL again")))
			return rc;
		*inserted = sqlite3_changes(s->db) == 1;
		return 0;
	}
	if (state != SV_URL_QUEUED || !u->meta)
		return 0;
	st = stmt(s, ST_URL_META);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, u->meta, -1, SQLITE_STATIC);
	return run_done(s, st, "queue a URL again");
}

static int insert_url(sqlite_queue *s, const sv_queue_url *u, int64_t host, int priority, int *inserted, int64_t *id)
{
	uint64_t key = hash_str(u->url, 0);
	*inserted = 0;
	for (int probe = 0; probe < 64; probe++, key++) {
		sqlite3_stmt *st = stmt(s, ST_URL_INSERT);
		bind_url(st, u, priority);
		sqlite3_bind_text(st, 1, u->url, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, host);
		sqlite3_bind_int64(st, 8, (int64_t)key);
		sqlite3_bind_int(st, 9, u->redirects);
		if (u->meta)
			sqlite3_bind_text(st, 10, u->meta, -1, SQLITE_STATIC);
		int rc = run_done(s, st, "queue a URL");
		if (rc)
			return rc;
		if (sqlite3_changes(s->db) == 1) {
			*inserted = 1;
			*id = sqlite3_last_insert_rowid(s->db);
			return 0;
		}
		st = stmt(s, ST_URL_EXISTS);
		sqlite3_bind_int64(st, 1, (int64_t)key);
		sqlite3_bind_text(st, 2, u->url, -1, SQLITE_STATIC);
		int same = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
		int64_t have = same ? sqlite3_column_int64(st, 1) : 0;
		int state = same ? sqlite3_column_int(st, 2) : 0;
		sqlite3_reset(st);
		if (same) {
			*id = have;
			return refresh_url(s, u, have, state, priority, inserted);
		}
	}
	return sv_error_set(SV_EIO, "queue '%s': no free key for '%s'", s->path, u->url);
}

/* Links URL id to the dataset u names within its row (a dataset not kept: nothing). */
static int link_dataset(sqlite_queue *s, const sv_queue_url *u, int64_t id)
{
	sqlite3_stmt *st = stmt(s, ST_DATASET_ID);
	sqlite3_bind_int64(st, 1, u->seed);
	sqlite3_bind_text(st, 2, u->dataset, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	int64_t ds = found ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (!found)
		return 0;
	st = stmt(s, ST_DATASET_LINK);
	sqlite3_bind_int64(st, 1, ds);
	sqlite3_bind_int64(st, 2, id);
	if (u->role)
		sqlite3_bind_text(st, 3, u->role, -1, SQLITE_STATIC);
	return run_done(s, st, "link a dataset's URL");
}

/* The entry of a seed row whose cap and settings the caller knows (a row
 * just added, whose queued_total counts its own URL in advance: nothing is
 * queued for it yet), so enqueue need not read nor, most often, write them. */
static int seed_known(tally *seeds, int64_t id, int64_t max_urls, int priority, int delay_ms)
{
	tally_entry *e = tally_get(seeds, NULL, id);
	if (!e)
		return sv_error_set(SV_EIO, "out of memory");
	e->ref = 1;
	e->extra = max_urls < 0 ? INT64_MAX : max_urls + 1;
	e->priority = priority;
	e->delay_ms = delay_ms;
	return 0;
}

/* Queues urls inside an open transaction. seeds holds what is known of
 * their rows (see seed_known); the rest is read here. */
static int enqueue_locked(sqlite_queue *s, const sv_queue_url *urls, size_t n, tally *seeds, size_t *added)
{
	tally hosts = {0};
	size_t count = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const sv_queue_url *u = &urls[i];
		tally_entry *seed = tally_get(seeds, NULL, u->seed);
		char *host = NULL;
		if (!seed) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		if (seed->id > 0 && seed->count == 0 && seed->extra == 0) {
			/* First sight of this seed in the batch: its cap, count and settings. */
			sqlite3_stmt *st = stmt(s, ST_SEED_CAP);
			sqlite3_bind_int64(st, 1, u->seed);
			if (sqlite3_step(st) != SQLITE_ROW) {
				sqlite3_reset(st);
				rc = sv_error_set(SV_EINVAL, "no seed row %lld", (long long)u->seed);
				break;
			}
			int64_t max = sqlite3_column_int64(st, 0), have = sqlite3_column_int64(st, 1);
			seed->extra = max < 0 ? INT64_MAX : (max > have ? max - have : 0) + 1;
			seed->priority = sqlite3_column_int(st, 2);
			seed->delay_ms = sqlite3_column_int(st, 3);
			sqlite3_reset(st);
		}
		if (seed->extra - 1 <= seed->count && seed->extra != INT64_MAX)
			continue; /* the row's max_urls is reached */
		if ((rc = authority_of(u->url, &host)))
			break;
		tally_entry *h = tally_get(&hosts, host, 0);
		int inserted = 0;
		int64_t id = 0;
		if (!h)
			rc = sv_error_set(SV_EIO, "out of memory");
		else if (!h->ref)
			rc = host_id(s, host, &h->ref);
		if (rc == 0)
			rc = insert_url(s, u, h->ref, seed->priority, &inserted, &id);
		if (rc == 0 && u->dataset && id)
			rc = link_dataset(s, u, id);
		if (rc == 0 && inserted) {
			{
				if (h->count == 0) {
					h->priority = seed->priority;
					h->delay_ms = seed->delay_ms;
				}
				if (seed->priority > h->priority)
					h->priority = seed->priority;
				if (seed->delay_ms > h->delay_ms)
					h->delay_ms = seed->delay_ms;
				h->count++;
				seed->count++;
				count++;
			}
		}
		free(host);
	}
	if (rc == 0)
		rc = flush_hosts(s, &hosts);
	if (rc == 0) {
		TALLY_FOREACH(seeds, e)
		{
			if (e->count == e->ref)
				continue;
			sqlite3_stmt *st = stmt(s, ST_SEED_COUNT);
			sqlite3_bind_int64(st, 1, e->id);
			sqlite3_bind_int64(st, 2, e->count - e->ref);
			if ((rc = run_done(s, st, "count seed")))
				break;
		}
	}
	tally_free(&hosts);
	if (added)
		*added = count;
	return rc;
}

static int q_enqueue(sv_queue *q, const sv_queue_url *urls, size_t n, size_t *added)
{
	sqlite_queue *s = impl(q);
	int rc = begin(s);
	if (rc)
		return rc;
	tally seeds = {0};
	rc = enqueue_locked(s, urls, n, &seeds, added);
	tally_free(&seeds);
	return finish(s, rc);
}

/* ---- sheets ---- */

static int same_text(sqlite3_stmt *st, int col, const char *v)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	if (!t || !v)
		return !t && !v;
	return !strcmp((const char *)t, v);
}

/* Moves a row's URLs between queued and paused, keeping host counts right. */
static int set_paused(sqlite_queue *s, int64_t seed, int pause)
{
	char sql[512];
	int rc;
	/* Host counts first, from the rows about to move. */
	snprintf(sql, sizeof(sql),
		 "UPDATE hosts SET queued = max(queued %s (SELECT count(*) FROM urls"
		 " WHERE seed = %lld AND state = %d AND host = hosts.id), 0)"
		 " WHERE id IN (SELECT host FROM urls WHERE seed = %lld AND state = %d)",
		 pause ? "-" : "+", (long long)seed, pause ? SV_URL_QUEUED : SV_URL_PAUSED, (long long)seed,
		 pause ? SV_URL_QUEUED : SV_URL_PAUSED);
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, "pause a row");
	snprintf(sql, sizeof(sql), "UPDATE urls SET state = %d WHERE seed = %lld AND state = %d",
		 pause ? SV_URL_PAUSED : SV_URL_QUEUED, (long long)seed, pause ? SV_URL_QUEUED : SV_URL_PAUSED);
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(s, "pause a row");
	snprintf(sql, sizeof(sql), "UPDATE seeds SET active = %d WHERE id = %lld", !pause, (long long)seed);
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(s, "pause a row");
}

/* The sheet's bytes, as last loaded. */
static int keep_sheet(sqlite_queue *s, const char *name, const void *raw, size_t raw_len, int64_t now)
{
	sqlite3_stmt *ins;
	int rc;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO sheets(name, raw, loaded_ms) VALUES(?1, ?2, ?3)"
			       " ON CONFLICT(name) DO UPDATE SET raw = excluded.raw, loaded_ms = excluded.loaded_ms",
			       -1, &ins, NULL) != SQLITE_OK)
		return db_fail(s, "keep the sheet");
	sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(ins, 2, raw_len ? raw : "", raw_len, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, now);
	rc = sqlite3_step(ins) == SQLITE_DONE ? 0 : db_fail(s, "keep the sheet");
	sqlite3_finalize(ins);
	return rc;
}

/* *known = 1 when the sheet has rows in the queue already. */
static int sheet_known(sqlite_queue *s, const char *name, int *known)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM seeds WHERE sheet = ?1 LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "load the sheet");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	*known = step == SQLITE_ROW;
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : db_fail(s, "load the sheet");
}

/* A row's line, priority, max_urls, delay_ms, params and meta, from parameter first on. */
static void bind_row(sqlite3_stmt *st, int first, const sv_queue_seed *r)
{
	sqlite3_bind_int(st, first, (int)r->line);
	sqlite3_bind_int(st, first + 1, r->priority);
	sqlite3_bind_int64(st, first + 2, r->max_urls);
	sqlite3_bind_int(st, first + 3, r->delay_ms);
	sqlite3_bind_text(st, first + 4, r->params, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 5, r->meta, -1, SQLITE_STATIC);
}

/*
 * Matches a row of a sheet the queue knows by URL: *id is its seed row,
 * updated (and queued again if it was paused) when it changed; 0 in *id
 * when it is new.
 */
static int match_row(sqlite_queue *s, const char *name, const sv_queue_seed *r, int64_t *id,
		     sv_queue_sheet_result *res)
{
	sqlite3_stmt *st = stmt(s, ST_SEED_GET);
	int rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->url, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	*id = 0;
	if (step != SQLITE_ROW) {
		sqlite3_reset(st);
		return step == SQLITE_DONE ? 0 : db_fail(s, "read a seed row");
	}
	*id = sqlite3_column_int64(st, 0);
	int same = (unsigned)sqlite3_column_int(st, 1) == r->line && sqlite3_column_int(st, 2) == r->priority &&
		   sqlite3_column_int64(st, 3) == r->max_urls && sqlite3_column_int(st, 4) == r->delay_ms &&
		   same_text(st, 5, r->params) && same_text(st, 6, r->meta);
	int active = sqlite3_column_int(st, 7);
	sqlite3_reset(st);
	if (same && active) {
		res->unchanged++;
		return 0;
	}
	st = stmt(s, ST_SEED_UPDATE);
	sqlite3_bind_int64(st, 1, *id);
	bind_row(st, 2, r);
	if ((rc = run_done(s, st, "update a seed row")))
		return rc;
	if (!active && (rc = set_paused(s, *id, 0)))
		return rc;
	res->updated++;
	return 0;
}

/* Pauses the sheet's rows that are not in temp.loaded: gone from the sheet. */
static int pause_gone(sqlite_queue *s, const char *name, sv_queue_sheet_result *res)
{
	sqlite3_stmt *gone;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT id FROM seeds WHERE sheet = ?1 AND active = 1"
			       " AND id NOT IN (SELECT id FROM temp.loaded)",
			       -1, &gone, NULL) != SQLITE_OK)
		return db_fail(s, "load the sheet");
	sqlite3_bind_text(gone, 1, name, -1, SQLITE_STATIC);
	int64_t ids[256];
	size_t k;
	int rc = 0;
	do {
		k = 0;
		sqlite3_reset(gone);
		while (k < 256 && sqlite3_step(gone) == SQLITE_ROW)
			ids[k++] = sqlite3_column_int64(gone, 0);
		sqlite3_reset(gone);
		for (size_t i = 0; i < k && rc == 0; i++)
			if ((rc = set_paused(s, ids[i], 1)) == 0)
				res->paused++;
	} while (rc == 0 && k == 256);
	sqlite3_finalize(gone);
	return rc;
}

/*
 * Rows are matched by URL; every row not in this version of the sheet is
 * paused. A sheet the queue does not know yet skips the matching. New rows'
 * URLs are queued in one batch at the end, with their rows' settings at
 * hand: a 100,000-row sheet took seconds when each row was a batch.
 */
static int add_sheet_locked(sqlite_queue *s, const char *name, const void *raw, size_t raw_len,
			    const sv_queue_seed *rows, size_t n, int64_t now, sv_queue_sheet_result *res)
{
	sqlite3_stmt *loaded = NULL;
	sv_queue_url *fresh = NULL;
	tally seeds = {0};
	size_t nfresh = 0;
	int known = 0, rc;

	memset(res, 0, sizeof(*res));
	if ((rc = keep_sheet(s, name, raw, raw_len, now)) || (rc = sheet_known(s, name, &known)))
		return rc;
	if (known && (sqlite3_exec(s->db, "CREATE TEMP TABLE IF NOT EXISTS loaded(id INTEGER PRIMARY KEY);"
					  "DELETE FROM loaded;",
				   NULL, NULL, NULL) != SQLITE_OK ||
		      sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO temp.loaded(id) VALUES(?1)", -1, &loaded,
					 NULL) != SQLITE_OK))
		return db_fail(s, "load the sheet");
	if (!(fresh = calloc(n ? n : 1, sizeof(*fresh))))
		rc = sv_error_set(SV_EIO, "out of memory");
	else
		rc = tally_reserve(&seeds, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const sv_queue_seed *r = &rows[i];
		int64_t id = 0;
		if (known && (rc = match_row(s, name, r, &id, res)))
			break;
		if (id == 0) {
			sqlite3_stmt *st = stmt(s, ST_SEED_INSERT);
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, r->url, -1, SQLITE_STATIC);
			bind_row(st, 3, r);
			if ((rc = run_done(s, st, "add a seed row")))
				break;
			id = sqlite3_last_insert_rowid(s->db);
			if ((rc = seed_known(&seeds, id, r->max_urls, r->priority, r->delay_ms)))
				break;
			if (!r->catalog)
				fresh[nfresh++] = (sv_queue_url){r->url, id, 0, SV_KIND_PAGE, NULL, 0, NULL, NULL, NULL, 0};
			res->added++;
		}
		if (loaded) {
			sqlite3_reset(loaded);
			sqlite3_bind_int64(loaded, 1, id);
			rc = run_done(s, loaded, "load the sheet");
		}
	}
	sqlite3_finalize(loaded);
	if (rc == 0)
		rc = enqueue_locked(s, fresh, nfresh, &seeds, NULL);
	if (rc == 0 && known)
		rc = pause_gone(s, name, res);
	tally_free(&seeds);
	free(fresh);
	return rc;
}

static int q_add_sheet(sv_queue *q, const char *name, const void *raw, size_t raw_len,
		       const sv_queue_seed *rows, size_t n, sv_queue_sheet_result *res)
{
	sqlite_queue *s = impl(q);
	int rc = begin(s);
	if (rc)
		return rc;
	rc = add_sheet_locked(s, name, raw, raw_len, rows, n, sv_queue_now_ms(q), res);
	if (rc == 0 && q->sheet_gate)
		rc = q->sheet_gate(q->sheet_gate_ctx);
	return finish(s, rc);
}

/* ---- leases ---- */

/*
 * Applies a batch's host counts: count = connection slots given back, extra =
 * URLs queued again; next_ms moves no later than next (INT64_MAX: unchanged).
 */
static int release_hosts(sqlite_queue *s, tally *hosts, int64_t next)
{
	TALLY_FOREACH(hosts, h)
	{
		sqlite3_stmt *st = stmt(s, ST_HOST_RELEASE);
		sqlite3_bind_int64(st, 1, h->id);
		sqlite3_bind_int64(st, 2, h->count);
		sqlite3_bind_int64(st, 3, h->extra);
		sqlite3_bind_int64(st, 4, next);
		int rc = run_done(s, st, "release a host");
		if (rc)
			return rc;
	}
	return 0;
}

/* Returns expired leases to the queue (inside a claim's transaction: no other operation expires leases). */
static int expire_locked(sqlite_queue *s, int64_t now, int max_expiries)
{
	tally hosts = {0};
	int rc = 0;
	struct {
		int64_t id;
		int expiries;
	} batch[256];

	for (;;) {
		size_t k = 0;
		sqlite3_stmt *st = stmt(s, ST_EXPIRED);
		sqlite3_bind_int64(st, 1, now);
		while (k < 256 && sqlite3_step(st) == SQLITE_ROW) {
			batch[k].id = sqlite3_column_int64(st, 0);
			batch[k].expiries = sqlite3_column_int(st, 2);
			tally_entry *h = tally_get(&hosts, NULL, sqlite3_column_int64(st, 1));
			if (!h) {
				rc = sv_error_set(SV_EIO, "out of memory");
				break;
			}
			h->count += sqlite3_column_int(st, 3); /* host slots still held */
			if (batch[k].expiries + 1 < max_expiries)
				h->extra++; /* URLs queued again */
			k++;
		}
		sqlite3_reset(st);
		for (size_t i = 0; i < k && rc == 0; i++) {
			int fail = batch[i].expiries + 1 >= max_expiries;
			char reason[96];
			snprintf(reason, sizeof(reason), "lease expired %d times (fetcher killed or stuck)",
				 batch[i].expiries + 1);
			st = stmt(s, ST_URL_EXPIRE);
			sqlite3_bind_int64(st, 1, batch[i].id);
			sqlite3_bind_int(st, 2, fail ? SV_URL_FAILED : SV_URL_QUEUED);
			sqlite3_bind_text(st, 3, reason, -1, SQLITE_TRANSIENT);
			if (fail)
				sqlite3_bind_int64(st, 4, now);
			rc = run_done(s, st, "return a lease");
		}
		if (rc || k < 256)
			break;
	}
	if (rc == 0)
		rc = release_hosts(s, &hosts, now);
	tally_free(&hosts);
	return rc;
}

typedef struct {
	int64_t id;
	char *host;
	int inflight, delay_ms;
	int robots_unknown;
} ready_host;

static int claim_locked(sv_queue *q, const char *node, size_t max, int lease_ms, sv_queue_item *items,
			size_t *n)
{
	sqlite_queue *s = impl(q);
	int64_t now = sv_queue_now_ms(q);
	ready_host *hosts = NULL;
	size_t nh = 0;
	int rc;

	*n = 0;
	if ((rc = expire_locked(s, now, q->opts.max_expiries)))
		return rc;
	hosts = calloc(max, sizeof(*hosts));
	if (!hosts)
		return sv_error_set(SV_EIO, "out of memory");
	sqlite3_stmt *st = stmt(s, ST_HOSTS_READY);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, q->opts.host_max_inflight);
	sqlite3_bind_int(st, 3, q->opts.host_delay_ms);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
	while (nh < max && sqlite3_step(st) == SQLITE_ROW) {
		hosts[nh].id = sqlite3_column_int64(st, 0);
		hosts[nh].host = col_dup(st, 1);
		hosts[nh].inflight = sqlite3_column_int(st, 2);
		hosts[nh].delay_ms = sqlite3_column_int(st, 3);
		hosts[nh].robots_unknown = sqlite3_column_int(st, 4);
		if (!hosts[nh].host) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		nh++;
	}
	sqlite3_reset(st);

	/* Machines share a host's slots when hosts are scarce (fewer with queued
	 * URLs than the batch asks for; fewer ready implies nothing), as in
	 * queue/postgres_sql.h's claim: with several nodes seen within a lease, a
	 * node holds at most its share of the cap at a host; alone, or with hosts
	 * enough, it may take them all. */
	int64_t share = 0;
	if (nh < max) {
		st = stmt(s, ST_HOSTS_QUEUED);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
		int scarce = sqlite3_step(st) == SQLITE_ROW && (size_t)sqlite3_column_int64(st, 0) < max;
		sqlite3_reset(st);
		if (scarce) {
			st = stmt(s, ST_NODES_LIVE);
			sqlite3_bind_int64(st, 1, now - (lease_ms > 1000 ? lease_ms : 1000));
			int64_t live = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
			sqlite3_reset(st);
			if (live > 1)
				share = (q->opts.host_max_inflight + live - 1) / live;
		}
	}

	for (size_t h = 0; h < nh && rc == 0 && *n < max; h++) {
		/* With a delay, one request per host per delay; without, up to the cap. */
		int64_t room = hosts[h].delay_ms > 0 ? 1 : q->opts.host_max_inflight - hosts[h].inflight;
		/* robots.txt first: one URL, whose claimer asks for it, and no other
		 * until its rules are kept here (robots_claim_ms, cleared then) or it
		 * failed, or the lease would have run out. */
		if (q->opts.robots_first && hosts[h].robots_unknown) {
			if (hosts[h].inflight > 0)
				continue;
			room = 1;
		}
		if (room > (int64_t)(max - *n))
			room = (int64_t)(max - *n);
		if (q->opts.host_node_max > 0 && hosts[h].delay_ms <= 0 && room > 0) {
			st = stmt(s, ST_HOST_NODE_SLOTS);
			sqlite3_bind_int64(st, 1, hosts[h].id);
			sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
			int64_t mine = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
			sqlite3_reset(st);
			if (room > q->opts.host_node_max - mine)
				room = q->opts.host_node_max - mine;
			if (room <= 0)
				continue; /* this claimer has its share; the host is not asleep */
		}
		if (share > 0 && room > 0) {
			st = stmt(s, ST_HOST_MACHINE_SLOTS);
			sqlite3_bind_int64(st, 1, hosts[h].id);
			bind_node(st, 2, node);
			int64_t ours = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
			sqlite3_reset(st);
			if (room > share - ours)
				room = share - ours;
			if (room <= 0)
				continue; /* this node has its share */
		}
		size_t got = 0;
		st = stmt(s, ST_HOST_URLS);
		sqlite3_bind_int64(st, 1, hosts[h].id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, room);
		while (sqlite3_step(st) == SQLITE_ROW) {
			sv_queue_item *it = &items[*n + got];
			it->id = sqlite3_column_int64(st, 0);
			it->url = col_dup(st, 1);
			it->host = strdup(hosts[h].host);
			it->seed = sqlite3_column_int64(st, 2);
			it->depth = sqlite3_column_int(st, 3);
			it->kind = kind_of(st, 4);
			it->via = col_dup(st, 5);
			it->attempts = sqlite3_column_int(st, 6);
			it->redirects = sqlite3_column_int(st, 7);
			it->meta = col_dup(st, 8);
			got++;
			if (!it->url || !it->host) {
				rc = sv_error_set(SV_EIO, "out of memory");
				break;
			}
		}
		sqlite3_reset(st);
		for (size_t i = 0; i < got && rc == 0; i++) {
			st = stmt(s, ST_URL_LEASE);
			sqlite3_bind_int64(st, 1, items[*n + i].id);
			sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, now + lease_ms);
			rc = run_done(s, st, "lease a URL");
		}
		*n += got;
		if (rc)
			break;
		if (got > 0 && q->opts.robots_first && hosts[h].robots_unknown) {
			st = stmt(s, ST_HOST_ROBOTS_CLAIM);
			sqlite3_bind_int64(st, 1, hosts[h].id);
			sqlite3_bind_int64(st, 2, now + lease_ms);
			if ((rc = run_done(s, st, "update a host")))
				break;
		}
		if (got > 0) {
			st = stmt(s, ST_HOST_CLAIMED);
			sqlite3_bind_int64(st, 1, hosts[h].id);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)got);
			sqlite3_bind_int64(st, 3, now + (hosts[h].delay_ms > 0 ? hosts[h].delay_ms : 0));
			rc = run_done(s, st, "update a host");
		} else {
			/* Everything queued here waits for a retry time: sleep the host until then. */
			st = stmt(s, ST_HOST_NEXT_QUEUED);
			sqlite3_bind_int64(st, 1, hosts[h].id);
			int64_t next = now + 1000, count = 0;
			if (sqlite3_step(st) == SQLITE_ROW) {
				count = sqlite3_column_int64(st, 1);
				if (sqlite3_column_type(st, 0) != SQLITE_NULL)
					next = sqlite3_column_int64(st, 0);
			}
			sqlite3_reset(st);
			st = stmt(s, ST_HOST_WAIT);
			sqlite3_bind_int64(st, 1, hosts[h].id);
			sqlite3_bind_int64(st, 2, next);
			sqlite3_bind_int64(st, 3, count);
			rc = run_done(s, st, "update a host");
		}
	}
	for (size_t h = 0; h < nh; h++)
		free(hosts[h].host);
	free(hosts);
	return rc;
}

static int q_renew(sv_queue *q, const char *node, const int64_t *ids, size_t n, int lease_ms)
{
	sqlite_queue *s = impl(q);
	int64_t until = sv_queue_now_ms(q) + lease_ms;
	int rc = begin(s);
	if (rc)
		return rc;
	rc = heartbeat(q, node);
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *st = stmt(s, ST_URL_RENEW);
		sqlite3_bind_int64(st, 1, ids[i]);
		sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, until);
		rc = run_done(s, st, "renew a lease");
	}
	return finish(s, rc);
}

/*
 * Leased URLs of node: with queue_again, the leases are given back without
 * counting an attempt (a clean stop); without, only their host slots are
 * freed (a transfer ended; the URL stays leased until its outcome is
 * complete), so politeness counts connections, not pending outcomes.
 */
static int give_back_locked(sqlite_queue *s, const char *node, const int64_t *ids, size_t n, int queue_again)
{
	tally hosts = {0};
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *st = stmt(s, ST_URL_OWNER);
		sqlite3_bind_int64(st, 1, ids[i]);
		sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			continue;
		}
		tally_entry *h = tally_get(&hosts, NULL, sqlite3_column_int64(st, 0));
		int slot = sqlite3_column_int(st, 1);
		sqlite3_reset(st);
		if (!h) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		if (!queue_again && !slot)
			continue;
		h->count += slot;
		h->extra += queue_again;
		st = stmt(s, queue_again ? ST_URL_RELEASE : ST_URL_FREE_SLOT);
		sqlite3_bind_int64(st, 1, ids[i]);
		rc = run_done(s, st, queue_again ? "release a lease" : "free a host slot");
	}
	if (rc == 0)
		rc = release_hosts(s, &hosts, INT64_MAX);
	tally_free(&hosts);
	return rc;
}

static int give_back(sv_queue *q, const char *node, const int64_t *ids, size_t n, int queue_again)
{
	sqlite_queue *s = impl(q);
	int rc = begin(s);
	return rc ? rc : finish(s, give_back_locked(s, node, ids, n, queue_again));
}

static int q_release(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return give_back(q, node, ids, n, 1);
}

static int q_free_slots(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return give_back(q, node, ids, n, 0);
}

static int q_claim(sv_queue *q, const char *node, const int64_t *freed, size_t nfreed, size_t max, int lease_ms,
		   sv_queue_item **items, size_t *n)
{
	sqlite_queue *s = impl(q);
	int rc;
	*items = NULL;
	*n = 0;
	if (max == 0)
		return nfreed ? q_free_slots(q, node, freed, nfreed) : 0;
	sv_queue_item *it = calloc(max, sizeof(*it));
	if (!it)
		return sv_error_set(SV_EIO, "out of memory");
	if ((rc = begin(s)) == 0) {
		rc = give_back_locked(s, node, freed, nfreed, 0);
		if (rc == 0)
			rc = heartbeat(q, node);
		rc = finish(s, rc ? rc : claim_locked(q, node, max, lease_ms, it, n));
	}
	if (rc) {
		sv_queue_items_free(it, max);
		*n = 0;
		return rc;
	}
	*items = it;
	return 0;
}

static int q_failures(sv_queue *q, int (*fn)(void *ctx, const char *reason, int64_t count), void *ctx)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc = 0, step;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT coalesce(reason, 'unknown'), count(*) FROM urls WHERE state = 3"
			       " GROUP BY 1 ORDER BY 2 DESC, 1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "count failures");
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1))))
			break;
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, "count failures");
	sqlite3_finalize(st);
	return rc;
}

/* ---- seed landings ---- */

static int q_landing_add(sv_queue *q, int64_t seed, const char *url)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO seed_landings(seed, url) VALUES(?1, ?2)", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, "keep where a seed lands");
	sqlite3_bind_int64(st, 1, seed);
	sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : db_fail(s, "keep where a seed lands");
}

static int q_setting_get(sv_queue *q, const char *key, char **value)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc = 0;
	*value = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "read a crawl setting");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_text(st, 0) &&
	    !(*value = strdup((const char *)sqlite3_column_text(st, 0))))
		rc = sv_error_set(SV_EIO, "out of memory");
	else if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = db_fail(s, "read a crawl setting");
	sqlite3_finalize(st);
	return rc;
}

static int q_setting_put(sv_queue *q, const char *key, const char *value)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(s, "keep a crawl setting");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : db_fail(s, "keep a crawl setting");
}

static int q_landings(sv_queue *q, int64_t seed, char ***urls, size_t *n)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = 0, step;
	*urls = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT url FROM seed_landings WHERE seed = ?1 ORDER BY rowid", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, "read where a seed lands");
	sqlite3_bind_int64(st, 1, seed);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			char **p = realloc(*urls, (cap = cap ? cap * 2 : 4) * sizeof(*p));
			if (!p) {
				rc = sv_error_set(SV_EIO, "out of memory");
				break;
			}
			*urls = p;
		}
		if (!((*urls)[*n] = col_dup(st, 0))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		(*n)++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, "read where a seed lands");
	sqlite3_finalize(st);
	if (rc) {
		sv_queue_landings_free(*urls, *n);
		*urls = NULL;
		*n = 0;
	}
	return rc;
}

static int q_reclaim(sv_queue *q, const char *prefix, int (*alive)(const char *node), size_t *released)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	char **dead = NULL;
	size_t ndead = 0, n = 0;
	int rc = 0;
	*released = 0;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT DISTINCT node FROM urls WHERE state = 1 AND substr(node, 1, length(?1)) = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "list leases");
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(st, 0);
		if (alive(node))
			continue;
		char **p = realloc(dead, (ndead + 1) * sizeof(*p));
		if (!p || !(p[ndead] = strdup(node))) {
			dead = p ? p : dead;
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		dead = p;
		ndead++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < ndead && rc == 0; i++) {
		/* Their ids, then the usual release under each dead node's name. */
		int64_t *ids = NULL;
		size_t k = 0, cap = 0;
		if (sqlite3_prepare_v2(s->db, "SELECT id FROM urls WHERE state = 1 AND node = ?1", -1, &st, NULL) !=
		    SQLITE_OK) {
			rc = db_fail(s, "list leases");
			break;
		}
		sqlite3_bind_text(st, 1, dead[i], -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (k == cap) {
				cap = cap ? cap * 2 : 64;
				int64_t *p = realloc(ids, cap * sizeof(*p));
				if (!p) {
					rc = sv_error_set(SV_EIO, "out of memory");
					break;
				}
				ids = p;
			}
			ids[k++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		if (rc == 0 && k)
			rc = q_release(q, dead[i], ids, k);
		n += k;
		free(ids);
	}
	for (size_t i = 0; i < ndead; i++)
		free(dead[i]);
	free(dead);
	*released = n;
	return rc;
}

/* Probes the keys as insert_url does: the queued URL's row, ended as how says. */
static int settle_locked(sqlite_queue *s, const char *url, const sv_queue_outcome *how, int64_t now)
{
	sqlite3_stmt *st;
	uint64_t key = hash_str(url, 0);
	int64_t id = 0, host = 0;
	int rc;
	if (sqlite3_prepare_v2(s->db, "SELECT id, host, url = ?2, state FROM urls WHERE key = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(s, "find a URL");
	for (int probe = 0; probe < 64 && !id; probe++, key++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (int64_t)key);
		sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW)
			break;
		if (sqlite3_column_int(st, 2)) {
			if (sqlite3_column_int(st, 3) != SV_URL_QUEUED)
				break;
			id = sqlite3_column_int64(st, 0);
			host = sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_finalize(st);
	if (!id)
		return 0;
	if (how->kind == SV_OUTCOME_DONE) {
		st = stmt(s, ST_URL_DONE);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, how->status);
		sqlite3_bind_int64(st, 3, how->bytes);
		sqlite3_bind_int64(st, 4, now);
	} else {
		st = stmt(s, ST_URL_FAILED);
		sqlite3_bind_int64(st, 1, id);
		if (how->reason)
			sqlite3_bind_text(st, 2, how->reason, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, how->status);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int(st, 5, how->kind == SV_OUTCOME_SKIPPED ? SV_URL_SKIPPED : SV_URL_FAILED);
	}
	if ((rc = run_done(s, st, "end a URL")))
		return rc;
	char sql[128];
	snprintf(sql, sizeof(sql), "UPDATE hosts SET queued = max(queued - 1, 0) WHERE id = %lld", (long long)host);
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(s, "end a URL");
}

static int q_settle(sv_queue *q, const char *url, const sv_queue_outcome *how)
{
	sqlite_queue *s = impl(q);
	int rc = begin(s);
	if (rc)
		return rc;
	return finish(s, settle_locked(s, url, how, sv_queue_now_ms(q)));
}

static int q_pending(sv_queue *q, int64_t *queued, int64_t *leased)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT (SELECT count(*) FROM urls WHERE state = 0"
			       "  AND host NOT IN (SELECT id FROM hosts WHERE robots_held = 1)),"
			       " (SELECT count(*) FROM urls WHERE state = 1)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "count URLs");
	if (sqlite3_step(st) == SQLITE_ROW) {
		*queued = sqlite3_column_int64(st, 0);
		*leased = sqlite3_column_int64(st, 1);
	} else {
		rc = db_fail(s, "count URLs");
	}
	sqlite3_finalize(st);
	return rc;
}

static int complete_locked(sv_queue *q, const char *node, const sv_queue_outcome *o, size_t n,
			   size_t *accepted)
{
	sqlite_queue *s = impl(q);
	int64_t now = sv_queue_now_ms(q);
	tally hosts = {0};
	int rc = 0;

	*accepted = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *st = stmt(s, ST_URL_OWNER);
		sqlite3_bind_int64(st, 1, o[i].id);
		sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			continue; /* the lease expired and may be someone else's now */
		}
		tally_entry *h = tally_get(&hosts, NULL, sqlite3_column_int64(st, 0));
		int slot = sqlite3_column_int(st, 1);
		sqlite3_reset(st);
		if (!h) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		h->count += slot;
		switch (o[i].kind) {
		case SV_OUTCOME_DONE:
			st = stmt(s, ST_URL_DONE);
			sqlite3_bind_int64(st, 1, o[i].id);
			sqlite3_bind_int(st, 2, o[i].status);
			sqlite3_bind_int64(st, 3, o[i].bytes);
			sqlite3_bind_int64(st, 4, now);
			bind_node(st, 5, node);
			if (o[i].digest)
				sqlite3_bind_text(st, 6, o[i].digest, -1, SQLITE_STATIC);
			break;
		case SV_OUTCOME_RETRY:
			h->extra++;
			st = stmt(s, ST_URL_RETRY);
			sqlite3_bind_int64(st, 1, o[i].id);
			sqlite3_bind_int64(st, 2, o[i].retry_at_ms);
			if (o[i].reason)
				sqlite3_bind_text(st, 3, o[i].reason, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 4, o[i].status);
			break;
		default:
			st = stmt(s, ST_URL_FAILED);
			sqlite3_bind_int64(st, 1, o[i].id);
			sqlite3_bind_text(st, 2, o[i].reason ? o[i].reason : "failed", -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 3, o[i].status);
			sqlite3_bind_int64(st, 4, now);
			sqlite3_bind_int(st, 5, o[i].kind == SV_OUTCOME_SKIPPED ? SV_URL_SKIPPED : SV_URL_FAILED);
			break;
		}
		if ((rc = run_done(s, st, "record an outcome")) == 0)
			(*accepted)++;
	}
	if (rc == 0)
		rc = release_hosts(s, &hosts, INT64_MAX);
	tally_free(&hosts);
	return rc;
}

static int q_complete(sv_queue *q, const char *node, const sv_queue_outcome *o, size_t n, size_t *accepted)
{
	sqlite_queue *s = impl(q);
	size_t dummy;
	int rc = begin(s);
	if (rc)
		return rc;
	return finish(s, complete_locked(q, node, o, n, accepted ? accepted : &dummy));
}

/* ---- reading ---- */

static int q_seed_params(sv_queue *q, int64_t seed, char **params)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc;
	*params = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT params FROM seeds WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "read a seed row");
	sqlite3_bind_int64(st, 1, seed);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*params = col_dup(st, 0);
		rc = 0;
	} else {
		rc = sv_error_set(SV_ENOTFOUND, "no seed row %lld", (long long)seed);
	}
	sqlite3_finalize(st);
	return rc;
}

static int q_stats(sv_queue *q, sv_queue_seed_stats **rows, size_t *n, sv_queue_seed_stats *total)
{
	static const char sql[] =
		"SELECT s.id, s.sheet, s.url, s.line, s.meta, s.active,"
		" coalesce(u.queued, 0), coalesce(u.leased, 0), coalesce(u.done, 0), coalesce(u.failed, 0),"
		" coalesce(u.paused, 0), coalesce(u.bytes, 0), coalesce(u.datasets, 0), coalesce(u.skipped, 0),"
		" coalesce(u.rescued, 0), coalesce(u.redirects, 0),"
		" (SELECT url FROM seed_landings l WHERE l.seed = s.id ORDER BY l.rowid DESC LIMIT 1), s.params"
		" FROM seeds s LEFT JOIN (SELECT seed, sum(state = 0) AS queued, sum(state = 1) AS leased,"
		"  sum(state = 2) AS done, sum(state = 3) AS failed, sum(state = 4) AS paused, sum(state = 5) AS skipped,"
		"  sum(CASE WHEN state = 2 THEN bytes END) AS bytes, sum(kind = 'dataset') AS datasets,"
		"  sum(state = 2 AND status BETWEEN 200 AND 299 AND kind NOT IN ('robots', 'sitemap')) AS rescued,"
		"  sum(state = 2 AND status BETWEEN 300 AND 399) AS redirects"
		"  FROM urls GROUP BY seed) u ON u.seed = s.id"
		" ORDER BY s.sheet, s.line, s.id";
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	sv_queue_seed_stats *out = NULL;
	size_t cap = 0, count = 0;
	int rc = 0, step;

	memset(total, 0, sizeof(*total));
	*rows = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "read statistics");
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			sv_queue_seed_stats *p = realloc(out, cap * sizeof(*p));
			if (!p) {
				rc = sv_error_set(SV_EIO, "out of memory");
				break;
			}
			out = p;
		}
		sv_queue_seed_stats *r = &out[count++];
		memset(r, 0, sizeof(*r));
		r->seed = sqlite3_column_int64(st, 0);
		r->sheet = col_dup(st, 1);
		r->url = col_dup(st, 2);
		r->line = (unsigned)sqlite3_column_int(st, 3);
		r->meta = col_dup(st, 4);
		r->active = sqlite3_column_int(st, 5);
		r->queued = sqlite3_column_int64(st, 6);
		r->leased = sqlite3_column_int64(st, 7);
		r->done = sqlite3_column_int64(st, 8);
		r->failed = sqlite3_column_int64(st, 9);
		r->paused = sqlite3_column_int64(st, 10);
		r->bytes = sqlite3_column_int64(st, 11);
		r->datasets = sqlite3_column_int64(st, 12);
		r->skipped = sqlite3_column_int64(st, 13);
		r->rescued = sqlite3_column_int64(st, 14);
		r->redirects = sqlite3_column_int64(st, 15);
		r->landing = col_dup(st, 16);
		r->params = col_dup(st, 17);
		sv_queue_stats_add(total, r);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, "read statistics");
	sqlite3_finalize(st);
	if (rc) {
		sv_queue_stats_free(out, count);
		return rc;
	}
	*rows = out;
	*n = count;
	return 0;
}

/* ---- hosts ---- */

/*
 * Nodes by heartbeat (every node that claimed is in nodes) and by done URLs
 * (one whose heartbeat predates schema 5 is not). Leases count by their
 * holder's node: the holder's name up to its first ':'.
 */
static int q_node_stats(sv_queue *q, sv_queue_node_stats **rows, size_t *n)
{
	static const char sql[] =
		"WITH names(name) AS (SELECT name FROM nodes UNION SELECT DISTINCT done_node FROM urls"
		"  WHERE done_node IS NOT NULL),"
		" held(name, c) AS (SELECT CASE WHEN instr(node, ':') > 0 THEN substr(node, 1, instr(node, ':') - 1)"
		"  ELSE node END, count(*) FROM urls WHERE state = 1 GROUP BY 1)"
		" SELECT names.name,"
		" (SELECT count(*) FROM urls WHERE done_node = names.name AND state = 2),"
		" coalesce((SELECT c FROM held WHERE held.name = names.name), 0),"
		" (SELECT coalesce(sum(bytes), 0) FROM urls WHERE done_node = names.name AND state = 2),"
		" (SELECT count(*) FROM urls WHERE done_node = names.name AND state = 2 AND done_ms >= ?1),"
		" coalesce((SELECT last_ms FROM nodes WHERE nodes.name = names.name), 0)"
		" FROM names ORDER BY names.name";
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	sv_queue_node_stats *out = NULL;
	size_t cap = 0, len = 0;
	int rc = 0, step;
	*rows = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "count per node");
	sqlite3_bind_int64(st, 1, sv_queue_now_ms(q) - 60000);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			sv_queue_node_stats *grown = realloc(out, (cap = cap ? cap * 2 : 8) * sizeof(*out));
			if (!grown) {
				rc = sv_error_set(SV_EIO, "out of memory");
				break;
			}
			out = grown;
		}
		sv_queue_node_stats *r = &out[len++];
		r->node = col_dup(st, 0);
		r->done = sqlite3_column_int64(st, 1);
		r->leased = sqlite3_column_int64(st, 2);
		r->bytes = sqlite3_column_int64(st, 3);
		r->done_last_minute = sqlite3_column_int64(st, 4);
		r->last_seen_ms = sqlite3_column_int64(st, 5);
		if (!r->node) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, "count per node");
	sqlite3_finalize(st);
	if (rc) {
		sv_queue_node_stats_free(out, len);
		return rc;
	}
	*rows = out;
	*n = len;
	return 0;
}

/* A shared SQLite file has no notifications: the caller looks again after a plain sleep
 * (cut short by a signal, so that a stop is seen at once). */
static int q_wait(sv_queue *q, int timeout_ms)
{
	(void)q;
	struct timespec t = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
	return 0;
}

static int q_host_get(sv_queue *q, const char *host, sv_queue_host *out)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	out->crawl_delay_ms = -1;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT robots, robots_ms, robots_status, crawl_delay_ms, cooldown_ms, inflight,"
			       " timeouts, robots_tries, robots_error, robots_held FROM hosts WHERE host = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "read a host");
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->robots = col_dup(st, 0);
		out->robots_at_ms = sqlite3_column_int64(st, 1);
		out->robots_status = sqlite3_column_int(st, 2);
		out->crawl_delay_ms = sqlite3_column_int(st, 3);
		out->cooldown_until_ms = sqlite3_column_int64(st, 4);
		out->inflight = sqlite3_column_int(st, 5);
		out->timeouts = sqlite3_column_int(st, 6);
		out->robots_tries = sqlite3_column_int(st, 7);
		out->robots_error = col_dup(st, 8);
		out->robots_held = sqlite3_column_int(st, 9);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Runs sql with ?1 host, ?2 text, ?3 a, ?4 b, ?5 c (those it names) in its own transaction. */
static int exec_host(sqlite_queue *s, const char *sql, const char *host, const char *text, int64_t a,
		     int64_t b, int64_t c)
{
	sqlite3_stmt *st;
	int rc = begin(s);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return finish(s, db_fail(s, "update a host"));
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, a);
	sqlite3_bind_int64(st, 4, b);
	sqlite3_bind_int64(st, 5, c);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, "update a host");
	sqlite3_finalize(st);
	return finish(s, rc);
}

static int q_host_set_robots(sv_queue *q, const char *host, const char *robots, int status,
			     int crawl_delay_ms)
{
	return exec_host(impl(q),
			 "INSERT INTO hosts(host, robots, robots_status, crawl_delay_ms, robots_ms)"
			 " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(host) DO UPDATE SET robots = excluded.robots,"
			 " robots_status = excluded.robots_status, crawl_delay_ms = excluded.crawl_delay_ms,"
			 " robots_ms = excluded.robots_ms, robots_tries = 0, robots_error = NULL, robots_held = 0,"
			 " robots_claim_ms = 0",
			 host, robots ? robots : "", status, crawl_delay_ms, sv_queue_now_ms(q));
}

static int q_host_cooldown(sv_queue *q, const char *host, int64_t until_ms, int timed_out)
{
	return exec_host(impl(q),
			 "INSERT INTO hosts(host, cooldown_ms, timeouts) VALUES(?1, ?3, ?4)"
			 " ON CONFLICT(host) DO UPDATE SET cooldown_ms = max(cooldown_ms, excluded.cooldown_ms),"
			 " timeouts = CASE WHEN excluded.timeouts > 0 THEN timeouts + 1 ELSE 0 END",
			 host, NULL, until_ms, timed_out ? 1 : 0, 0);
}

static int q_host_robots_failed(sv_queue *q, const char *host, const char *reason, int64_t retry_at_ms,
				int give_up)
{
	return exec_host(impl(q),
			 "INSERT INTO hosts(host, robots_tries, robots_error, robots_held, cooldown_ms)"
			 " VALUES(?1, 1, ?2, ?4, CASE WHEN ?4 THEN 0 ELSE ?3 END)"
			 " ON CONFLICT(host) DO UPDATE SET robots_tries = robots_tries + 1, robots_error = excluded.robots_error,"
			 " robots_held = excluded.robots_held, cooldown_ms = max(cooldown_ms, excluded.cooldown_ms),"
			 " robots_claim_ms = 0",
			 host, reason ? reason : "robots.txt: unreachable", retry_at_ms, give_up ? 1 : 0, 0);
}

static int q_host_delay(sv_queue *q, const char *host, int crawl_delay_ms, int *delay_ms)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc = begin(s);
	*delay_ms = 0;
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(s->db,
			       "UPDATE hosts SET crawl_delay_ms = ?2, next_ms = max(next_ms, ?3 + max(delay_ms, ?2, ?4))"
			       " WHERE host = ?1 RETURNING max(delay_ms, crawl_delay_ms, ?4)",
			       -1, &st, NULL) != SQLITE_OK)
		return finish(s, db_fail(s, "update a host"));
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, crawl_delay_ms);
	sqlite3_bind_int64(st, 3, sv_queue_now_ms(q));
	sqlite3_bind_int(st, 4, q->opts.host_delay_ms);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*delay_ms = sqlite3_column_int(st, 0);
		step = sqlite3_step(st);
	}
	rc = step == SQLITE_DONE ? 0 : db_fail(s, "update a host");
	sqlite3_finalize(st);
	return finish(s, rc);
}

static int q_robots_waiting(sv_queue *q, int (*fn)(void *ctx, const char *host, const char *reason, int64_t urls),
			    void *ctx)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc = 0, step;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT h.host, coalesce(h.robots_error, 'robots.txt: unreachable'), count(*)"
			       " FROM hosts h JOIN urls u ON u.host = h.id AND u.state = 0"
			       " WHERE h.robots_held = 1 GROUP BY h.id ORDER BY h.host",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "list hosts waiting for robots.txt");
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
			     sqlite3_column_int64(st, 2))))
			break;
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, "list hosts waiting for robots.txt");
	sqlite3_finalize(st);
	return rc;
}

static int q_robots_retry(sv_queue *q, size_t *hosts)
{
	sqlite_queue *s = impl(q);
	int rc = begin(s);
	*hosts = 0;
	if (rc)
		return rc;
	if (sqlite3_exec(s->db,
			 "UPDATE hosts SET robots_tries = 0, robots_held = 0, cooldown_ms = 0, robots_claim_ms = 0"
			 " WHERE robots_tries > 0 OR robots_held = 1 OR robots_claim_ms > 0",
			 NULL, NULL, NULL) != SQLITE_OK)
		return finish(s, db_fail(s, "retry robots.txt"));
	*hosts = (size_t)sqlite3_changes(s->db);
	return finish(s, 0);
}

/* ---- open and close ---- */

static void q_close(sv_queue *q)
{
	sqlite_queue *s = impl(q);
	if (s) {
		for (int i = 0; i < ST_COUNT; i++)
			sqlite3_finalize(s->st[i]);
		sqlite3_close(s->db);
		free(s->path);
		free(s);
	}
	free(q);
}

/* ---- catalogs ---- */

static int same_or_both_null(const char *a, const unsigned char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, (const char *)b));
}

/* Keeps dataset d of row seed, seen in pass: *refresh says whether its URLs are fetched again. */
static int keep_dataset(sqlite_queue *s, int64_t seed, int pass, const sv_queue_dataset *d, int *refresh,
			sv_queue_datasets_result *res)
{
	sqlite3_stmt *st;
	*refresh = 0;
	st = stmt(s, ST_DATASET_GET);
	sqlite3_bind_int64(st, 1, seed);
	sqlite3_bind_text(st, 2, d->key, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	int64_t id = found ? sqlite3_column_int64(st, 0) : 0;
	int same = found && same_or_both_null(d->modified, sqlite3_column_text(st, 1));
	int last = found ? sqlite3_column_int(st, 2) : 0;
	sqlite3_reset(st);
	if (!found)
		res->added++;
	else if (last == pass)
		res->repeated++;
	else if (!same)
		res->changed++, *refresh = 1;
	else if (!d->modified || (d->modified[0] == 'R' && d->modified[1] == '/'))
		res->unchanged++, *refresh = 1; /* no date that tells a change: asked again, conditionally */
	else
		res->unchanged++;
	st = stmt(s, found ? ST_DATASET_UPDATE : ST_DATASET_INSERT);
	if (found)
		sqlite3_bind_int64(st, 1, id);
	else
		sqlite3_bind_int64(st, 2, seed);
	const char *text[] = {d->identifier, d->title, d->publisher, d->modified, d->meta};
	for (int i = 0; i < 5; i++)
		if (text[i])
			sqlite3_bind_text(st, 3 + i, text[i], -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, pass);
	if (!found)
		sqlite3_bind_text(st, 9, d->key, -1, SQLITE_STATIC);
	return run_done(s, st, "keep a dataset");
}

static int q_datasets_put(sv_queue *q, int64_t seed, int pass, const sv_queue_dataset *ds, size_t n,
			  sv_queue_datasets_result *res)
{
	sqlite_queue *s = impl(q);
	sv_queue_datasets_result none = {0};
	tally seeds = {0};
	sv_queue_url *urls = NULL;
	size_t cap = 0;
	int rc = begin(s);
	if (rc)
		return rc;
	if (!res)
		res = &none;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int refresh = 0;
		if ((rc = keep_dataset(s, seed, pass, &ds[i], &refresh, res)))
			break;
		if (ds[i].nurls > cap) {
			sv_queue_url *u = realloc(urls, ds[i].nurls * sizeof(*u));
			if (!u) {
				rc = sv_error_set(SV_EIO, "out of memory");
				break;
			}
			urls = u;
			cap = ds[i].nurls;
		}
		for (size_t k = 0; k < ds[i].nurls; k++) {
			urls[k] = ds[i].urls[k];
			urls[k].dataset = ds[i].key;
			urls[k].refresh = urls[k].refresh || refresh;
		}
		rc = enqueue_locked(s, urls, ds[i].nurls, &seeds, NULL);
	}
	free(urls);
	tally_free(&seeds);
	return finish(s, rc);
}

static int q_catalog_get(sv_queue *q, int64_t seed, sv_queue_catalog_info *out)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(s->db,
			       "SELECT catalog_pass, catalog_done_pass,"
			       " (SELECT count(*) FROM urls WHERE seed = ?1 AND state IN (0, 1)) FROM seeds WHERE id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "read a catalog row");
	sqlite3_bind_int64(st, 1, seed);
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->pass = sqlite3_column_int(st, 0);
		out->done_pass = sqlite3_column_int(st, 1);
		out->pending = sqlite3_column_int64(st, 2);
	} else {
		rc = sv_error_set(SV_ENOTFOUND, "no seed row %lld", (long long)seed);
	}
	sqlite3_finalize(st);
	return rc;
}

static int q_catalog_begin(sv_queue *q, int64_t seed, int pass, const sv_queue_url *first)
{
	sqlite_queue *s = impl(q);
	sqlite3_stmt *st;
	tally seeds = {0};
	int rc = begin(s);
	if (rc)
		return rc;
	/* Another process that saw the same last pass may have started this one already. */
	if (sqlite3_prepare_v2(s->db, "UPDATE seeds SET catalog_pass = ?2 WHERE id = ?1 AND catalog_pass < ?2", -1, &st,
			       NULL) != SQLITE_OK)
		return finish(s, db_fail(s, "start a catalog pass"));
	sqlite3_bind_int64(st, 1, seed);
	sqlite3_bind_int(st, 2, pass);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, "start a catalog pass");
	sqlite3_finalize(st);
	if (rc == 0 && first && sqlite3_changes(s->db) == 1)
		rc = enqueue_locked(s, first, 1, &seeds, NULL);
	tally_free(&seeds);
	return finish(s, rc);
}

/* Text column i, or NULL; valid until the statement's next step. */
static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Columns: 0 id, 1 seed, 2..7 key..meta, 8 first, 9 last, 10 vanished, 11 url, 12 kind, 13 role, 14 reason,
 * 15 state, 16 status, 17 bytes. */
static int list_datasets(sqlite_queue *s, const char *sql, int64_t seed, int pass,
			 int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	sqlite3_stmt *st;
	sv_queue_listing l = SV_QUEUE_LISTING_INIT(fn, ctx);
	int rc = 0, step;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "read datasets");
	sqlite3_bind_int64(st, 1, seed);
	sqlite3_bind_int(st, 2, pass);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		sv_queue_listing_row r = {
			sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), col_text(st, 2), col_text(st, 3),
			col_text(st, 4), col_text(st, 5), col_text(st, 6), col_text(st, 7), sqlite3_column_int(st, 8),
			sqlite3_column_int(st, 9), sqlite3_column_int(st, 10), col_text(st, 11), col_text(st, 12),
			col_text(st, 13), col_text(st, 14), sqlite3_column_int(st, 15), sqlite3_column_int(st, 16),
			sqlite3_column_int64(st, 17)};
		rc = sv_queue_listing_add(&l, &r);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, "read datasets");
	sqlite3_finalize(st);
	return sv_queue_listing_end(&l, rc);
}

#define DATASET_COLUMNS                                                                                           \
	"SELECT d.id, d.seed, d.key, d.identifier, d.title, d.publisher, d.modified, d.meta, d.first_pass,"       \
	" d.last_pass, d.vanished_pass, u.url, u.kind, x.role, u.reason, u.state, u.status, u.bytes"               \
	" FROM datasets d LEFT JOIN dataset_urls x ON x.dataset = d.id LEFT JOIN urls u ON u.id = x.url"

static int q_datasets(sv_queue *q, int64_t seed, int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	return list_datasets(impl(q), DATASET_COLUMNS " WHERE (?1 = 0 OR d.seed = ?1) AND ?2 = ?2"
				      " ORDER BY d.seed, d.key, u.id",
			     seed, 0, fn, ctx);
}

static int q_catalog_end(sv_queue *q, int64_t seed, int pass, int (*fn)(void *ctx, const sv_queue_dataset_row *d),
			 void *ctx)
{
	sqlite_queue *s = impl(q);
	int rc = begin(s);
	if (rc)
		return rc;
	if (fn)
		rc = list_datasets(s, DATASET_COLUMNS " WHERE d.seed = ?1 AND d.last_pass < ?2 AND d.vanished_pass = 0"
						  " AND d.key NOT LIKE '" SV_QUEUE_UNREAD_PREFIX "%'"
						  " ORDER BY d.key, u.id",
				   seed, pass, fn, ctx);
	const char *const sql[] = {
		"UPDATE datasets SET vanished_pass = ?2 WHERE seed = ?1 AND last_pass < ?2 AND vanished_pass = 0"
		" AND key NOT LIKE '" SV_QUEUE_UNREAD_PREFIX "%'",
		"UPDATE seeds SET catalog_done_pass = ?2 WHERE id = ?1 AND catalog_done_pass < ?2",
	};
	for (int i = 0; i < 2 && rc == 0; i++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL) != SQLITE_OK)
			return finish(s, db_fail(s, "end a catalog pass"));
		sqlite3_bind_int64(st, 1, seed);
		sqlite3_bind_int(st, 2, pass);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, "end a catalog pass");
		sqlite3_finalize(st);
	}
	return finish(s, rc);
}

static const sv_queue_ops SQLITE_OPS = {
	.name = "sqlite",
	.add_sheet = q_add_sheet,
	.enqueue = q_enqueue,
	.claim = q_claim,
	.renew = q_renew,
	.complete = q_complete,
	.seed_params = q_seed_params,
	.stats = q_stats,
	.node_stats = q_node_stats,
	.wait = q_wait,
	.host_get = q_host_get,
	.host_set_robots = q_host_set_robots,
	.host_cooldown = q_host_cooldown,
	.host_robots_failed = q_host_robots_failed,
	.host_delay = q_host_delay,
	.robots_waiting = q_robots_waiting,
	.robots_retry = q_robots_retry,
	.release = q_release,
	.pending = q_pending,
	.reclaim = q_reclaim,
	.failures = q_failures,
	.free_slots = q_free_slots,
	.landing_add = q_landing_add,
	.settle = q_settle,
	.landings = q_landings,
	.datasets_put = q_datasets_put,
	.catalog_get = q_catalog_get,
	.catalog_begin = q_catalog_begin,
	.datasets = q_datasets,
	.catalog_end = q_catalog_end,
	.setting_get = q_setting_get,
	.setting_put = q_setting_put,
	.close = q_close,
};

/*
 * A queue file that is there but cannot be a queue: empty (SQLite would take
 * a 0-byte file as a new database, and the next crawl would fetch again
 * everything the lost queue had done) or not a database. It is refused, for
 * `salvage reindex --queue` to move aside and rebuild.
 */
static int refuse_damaged(const char *path, const char *why)
{
	return sv_error_set(SV_EIO, "queue '%s' is damaged (%s); rebuild it from the ledger with "
			    "'salvage reindex --queue' (the damaged file is kept aside)", path, why);
}

static int is_damage(sqlite3 *db)
{
	int code = sqlite3_errcode(db);
	return code == SQLITE_NOTADB || code == SQLITE_CORRUPT;
}

int sv_queue_sqlite_open(sv_queue **out, const char *path, const sv_queue_options *opts)
{
	sv_queue *q = calloc(1, sizeof(*q));
	sqlite_queue *s = calloc(1, sizeof(*s));
	char *version = NULL;
	int rc = 0;

	*out = NULL;
	if (!q || !s) {
		free(q);
		free(s);
		return sv_error_set(SV_EIO, "out of memory");
	}
	q->ops = SQLITE_OPS;
	q->opts = *opts;
	q->impl = s;
	s->path = strdup(path);
	if (!s->path) {
		q_close(q);
		return sv_error_set(SV_EIO, "out of memory");
	}
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		q_close(q);
		return refuse_damaged(path, "it is empty");
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = s->db ? db_fail(s, "open") : sv_error_set(SV_EIO, "queue '%s': cannot open", path);
		q_close(q);
		return rc;
	}
	s->busy_timeout_ms = opts->busy_timeout_ms;
	sqlite3_busy_handler(s->db, busy_wait, s);
	sqlite3_extended_result_codes(s->db, 1);
	char *err = NULL;
	/* synchronous=NORMAL: a commit is durable at the next checkpoint, and a
	 * crash keeps the file consistent (the crawl syncs what it marks done).
	 * A 32 MB page cache and 80 MB of WAL between checkpoints keep batched
	 * enqueues from rewriting the same index pages over and over. */
	if (sqlite3_exec(s->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768;"
			 "PRAGMA wal_autocheckpoint=20000;"
			 "PRAGMA temp_store=MEMORY;",
			 NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK) {
		rc = is_damage(s->db) ? refuse_damaged(path, sqlite3_errmsg(s->db))
				      : sv_error_set(SV_EIO, "queue '%s': %s", path, err ? err : sqlite3_errmsg(s->db));
		goto fail;
	}
	if (sqlite3_exec(s->db, SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
		rc = is_damage(s->db) ? refuse_damaged(path, sqlite3_errmsg(s->db))
				      : sv_error_set(SV_EIO, "queue '%s': %s", path, err ? err : "cannot create tables");
		goto fail;
	}
	{
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL) ==
		    SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				version = col_dup(st, 0);
			sqlite3_finalize(st);
		}
		if (!version && sqlite3_exec(s->db, "INSERT INTO meta(key, value) VALUES('schema', '" SCHEMA_VERSION "')",
					     NULL, NULL, &err) != SQLITE_OK) {
			rc = sv_error_set(SV_EIO, "queue '%s': %s", path, err ? err : "cannot write");
			goto fail;
		}
		/* Each step migrates one version to the next, in the same transaction. */
		int from = version ? atoi(version) : 0;
		if (from >= 3 && from <= 5) {
			if ((from == 3 && sqlite3_exec(s->db, MIGRATE_3, NULL, NULL, &err) != SQLITE_OK) ||
			    (from <= 4 && sqlite3_exec(s->db, MIGRATE_4, NULL, NULL, &err) != SQLITE_OK) ||
			    sqlite3_exec(s->db, MIGRATE_5, NULL, NULL, &err) != SQLITE_OK) {
				rc = sv_error_set(SV_EIO, "queue '%s': cannot migrate schema %s: %s", path, version,
						  err ? err : sqlite3_errmsg(s->db));
				goto fail;
			}
		} else if (version && strcmp(version, SCHEMA_VERSION)) {
			rc = sv_error_set(SV_EINVAL, "queue '%s' has schema %s; this salvage reads %s", path,
					  version, SCHEMA_VERSION);
			goto fail;
		}
	}
	if (sqlite3_exec(s->db, INDEXES, NULL, NULL, &err) != SQLITE_OK) {
		rc = sv_error_set(SV_EIO, "queue '%s': %s", path, err ? err : "cannot create indexes");
		goto fail;
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
		rc = sv_error_set(SV_EIO, "queue '%s': %s", path, err ? err : "cannot commit");
		goto fail;
	}
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
			rc = db_fail(s, "prepare");
			goto fail;
		}
	free(version);
	*out = q;
	return 0;
fail:
	sqlite3_free(err);
	free(version);
	q_close(q);
	return rc;
}
