/*
 * queue/outbox.c -- a shared queue seen through a local outbox (see
 * outbox.h for what must stay true).
 *
 * The outbox is one SQLite file in the archive (WAL, synchronous=FULL: an
 * entry survives a power cut once its INSERT returned). An entry is one
 * write of the crawl: its operation, the lease holder it was made under
 * (for complete, release and free_slots), its arguments as JSON, and the pid
 * of the process that delivers it (0: a handle closed with it left, anyone
 * may take it). Nothing here knows which backend the inner queue is: it is
 * reached through sv_queue_* only.
 *
 * A write goes straight to the inner queue while it answers and this handle
 * has nothing waiting here (see write_op); the outbox holds only what was
 * written while the inner queue could not be reached, and what followed it.
 *
 * Delivery is at least once: an entry taken by the inner queue whose removal
 * here is lost to a crash is delivered again. Every kept operation may be
 * repeated: enqueue keeps a URL once, complete/release/free_slots act only
 * on a lease the holder still has, the host writes and landing_add set
 * state rather than add to it, datasets_put finds its datasets listed
 * already in their pass (their URLs are not fetched again for it), and
 * catalog_begin starts a pass that was started already not again.
 *
 * catalog_end is not kept: it tells the fetcher which datasets vanished
 * before it marks them, so it can only be made on the inner queue itself,
 * after every entry before it; while it cannot, it is SV_EUNREACHABLE and
 * the fetcher asks again later.
 *
 * Reads for URLs a fetcher holds, while the inner queue cannot be asked:
 * seed_params answers from this handle's cache (a row's settings are read
 * once per fetcher anyway); landings answers from the last list read for
 * the row (a fetcher adds the landings it finds to its own row at once); a
 * first read of a row the cache does not have is SV_EUNREACHABLE, and the
 * fetch loop gives that URL back (release, kept here) rather than stall its
 * running transfers. host_get is SV_EUNREACHABLE (the fetcher then fetches
 * robots.txt itself); host_delay answers the larger of Crawl-delay and the
 * default delay, at least 1 ms, so the URLs parked for the host go back to
 * the queue instead of starting without the row's delay known.
 *
 * Test-only: when the environment variable SALVAGE_TEST_QUEUE_DOWN names a
 * file, the inner queue is treated as unreachable while that file exists
 * (its operations are not called). The end-to-end tests use it to stand in
 * for a database that is down; nothing else sets it.
 */
#include "outbox.h"

#include "backend.h"

#include "../common/clock.h"
#include "../common/error.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

#define ADOPT_MS 10000 /* how often a running handle looks for entries of dead processes */
#define BATCH 64       /* entries read (and removed) per local transaction */

typedef struct {
	int64_t seed;
	char *params; /* NULL: the row has none */
} params_entry;

typedef struct {
	int64_t seed;
	char **urls;
	size_t n;
} landings_entry;

typedef struct {
	sv_queue *inner;
	sqlite3 *db;
	char *path;
	sv_queue_outbox_options opts;
	int64_t pid;           /* the owner of the entries this handle makes and delivers */
	int64_t down_since_ms; /* 0: the inner queue answered at its last try */
	int64_t next_try_ms;   /* no inner call before this while down */
	int backoff_ms;
	int64_t entries;       /* entries this handle owns, not yet delivered */
	int64_t last_adopt_ms;
	const char *down_file; /* SALVAGE_TEST_QUEUE_DOWN, or NULL */
	params_entry *params;
	size_t nparams;
	landings_entry *landings;
	size_t nlandings;
} outbox;

static outbox *impl(sv_queue *q)
{
	return q->impl;
}

/* ---- reaching the inner queue ---- */

/* Before an inner call: the settings made on this handle (node share, robots first, sheet gate) hold there. */
static sv_queue *inner(outbox *b, sv_queue *q)
{
	b->inner->opts = q->opts;
	b->inner->sheet_gate = q->sheet_gate;
	b->inner->sheet_gate_ctx = q->sheet_gate_ctx;
	return b->inner;
}

/* The test switch (see the top of this file): 1 while the inner queue is to be taken as unreachable. */
static int switched_off(outbox *b)
{
	return b->down_file && access(b->down_file, F_OK) == 0;
}

/* Notes what an inner call answered: rc SV_EUNREACHABLE starts or lengthens the backoff; anything
 * else means it answered. Returns rc. */
static int answered(outbox *b, int rc)
{
	int64_t now = sv_now_ms();
	if (rc != SV_EUNREACHABLE) {
		b->down_since_ms = 0;
		b->backoff_ms = 0;
		b->next_try_ms = 0;
		return rc;
	}
	if (!b->down_since_ms) {
		b->down_since_ms = now;
		b->backoff_ms = b->opts.backoff_min_ms;
	} else {
		b->backoff_ms = b->backoff_ms * 2 > b->opts.backoff_max_ms ? b->opts.backoff_max_ms : b->backoff_ms * 2;
	}
	b->next_try_ms = now + b->backoff_ms;
	return rc;
}

/* Whether the inner queue may be asked now (not while a backoff runs). */
static int may_try(outbox *b)
{
	return !b->down_since_ms || sv_now_ms() >= b->next_try_ms;
}

/* Calls the inner queue (expr, with its handle as Q) unless the test switch is on; notes the answer. */
#define CALL(b, q, expr)                                                                                     \
	answered((b), switched_off(b) ? sv_error_set(SV_EUNREACHABLE, "queue unreachable (test switch)")      \
				      : ((void)inner((b), (q)), (expr)))

/* ---- the outbox file ---- */

static int local_fail(outbox *b, const char *what)
{
	int code = sqlite3_extended_errcode(b->db) & 0xff;
	return sv_error_set(code == SQLITE_FULL ? SV_ENOSPC : SV_EIO, "outbox '%s': %s: %s", b->path, what,
			    sqlite3_errmsg(b->db));
}

static int local_exec(outbox *b, const char *sql, const char *what)
{
	return sqlite3_exec(b->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : local_fail(b, what);
}

/* Keeps one entry (its body is taken, and freed). One statement: one synced transaction. */
static int keep(outbox *b, const char *op, const char *holder, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	sqlite3_stmt *st = NULL;
	int rc;
	json_decref(body);
	if (!text)
		return sv_error_set(SV_EIO, "out of memory");
	if (sqlite3_prepare_v2(b->db, "INSERT INTO outbox(owner, holder, op, body, made_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
			       -1, &st, NULL) != SQLITE_OK) {
		free(text);
		return local_fail(b, "prepare");
	}
	sqlite3_bind_int64(st, 1, b->pid);
	if (holder)
		sqlite3_bind_text(st, 2, holder, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, sv_now_ms());
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : local_fail(b, "keep an update");
	sqlite3_finalize(st);
	free(text);
	if (rc == 0)
		b->entries++;
	return rc;
}

static int count_own(outbox *b)
{
	sqlite3_stmt *st;
	int rc = 0;
	if (sqlite3_prepare_v2(b->db, "SELECT count(*) FROM outbox WHERE owner = ?1", -1, &st, NULL) != SQLITE_OK)
		return local_fail(b, "prepare");
	sqlite3_bind_int64(st, 1, b->pid);
	if (sqlite3_step(st) == SQLITE_ROW)
		b->entries = sqlite3_column_int64(st, 0);
	else
		rc = local_fail(b, "count entries");
	sqlite3_finalize(st);
	return rc;
}

static int default_alive(int64_t pid)
{
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* Takes over the entries of processes that no longer run, and those of handles closed with
 * entries left (owner 0). One statement per owner: two handles cannot both take its entries. */
static int adopt(outbox *b)
{
	sqlite3_stmt *st;
	int64_t dead[64];
	size_t n = 0;
	b->last_adopt_ms = sv_now_ms();
	if (sqlite3_prepare_v2(b->db, "SELECT DISTINCT owner FROM outbox WHERE owner != ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return local_fail(b, "prepare");
	sqlite3_bind_int64(st, 1, b->pid);
	while (n < sizeof(dead) / sizeof(dead[0]) && sqlite3_step(st) == SQLITE_ROW) {
		int64_t pid = sqlite3_column_int64(st, 0);
		if (pid == 0 || !(b->opts.alive ? b->opts.alive : default_alive)(pid))
			dead[n++] = pid;
	}
	sqlite3_finalize(st);
	if (n == 0)
		return 0;
	if (sqlite3_prepare_v2(b->db, "UPDATE outbox SET owner = ?1 WHERE owner = ?2", -1, &st, NULL) != SQLITE_OK)
		return local_fail(b, "prepare");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_bind_int64(st, 1, b->pid);
		sqlite3_bind_int64(st, 2, dead[i]);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : local_fail(b, "take over entries");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc ? rc : count_own(b);
}

/* ---- entries: to JSON and back ---- */

static json_t *ids_json(const int64_t *ids, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer(ids[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* The ids of a JSON array, into *ids (freed by the caller). */
static int ids_from(json_t *a, int64_t **ids, size_t *n)
{
	*n = json_array_size(a);
	*ids = malloc((*n ? *n : 1) * sizeof(**ids));
	if (!*ids)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < *n; i++)
		(*ids)[i] = json_integer_value(json_array_get(a, i));
	return 0;
}

static const char *str_or_null(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int64_t int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* A URL to queue, as an entry keeps it (NULL when memory ran out). */
static json_t *url_json(const sv_queue_url *u)
{
	return json_pack("{s:s, s:I, s:i, s:i, s:s?, s:i, s:s?, s:s?, s:s?, s:b}", "url", u->url, "seed",
			 (json_int_t)u->seed, "depth", u->depth, "kind", (int)u->kind, "via", u->via, "redirects",
			 u->redirects, "meta", u->meta, "dataset", u->dataset, "role", u->role, "refresh", u->refresh);
}

static json_t *urls_json(const sv_queue_url *urls, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *o = url_json(&urls[i]);
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* A kept URL (its strings borrowed from o). */
static sv_queue_url url_from(json_t *o)
{
	return (sv_queue_url){str_or_null(o, "url"), int_of(o, "seed"), (int)int_of(o, "depth"),
			      (sv_kind)int_of(o, "kind"), str_or_null(o, "via"), (int)int_of(o, "redirects"),
			      str_or_null(o, "meta"), str_or_null(o, "dataset"), str_or_null(o, "role"),
			      json_is_true(json_object_get(o, "refresh"))};
}

/* The kept URLs of array a into *urls (freed by the caller; their strings borrowed from a). */
static int urls_from(json_t *a, sv_queue_url **urls, size_t *n)
{
	*n = json_array_size(a);
	if (!(*urls = calloc(*n ? *n : 1, sizeof(**urls))))
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < *n; i++)
		(*urls)[i] = url_from(json_array_get(a, i));
	return 0;
}

static int deliver_enqueue(outbox *b, sv_queue *q, json_t *a)
{
	sv_queue_url *u;
	size_t n;
	int rc = urls_from(a, &u, &n);
	if (rc == 0)
		rc = CALL(b, q, sv_queue_enqueue(b->inner, u, n, NULL));
	free(u);
	return rc;
}

/* Datasets kept as {seed, pass, datasets: [{key, identifier, title, publisher, modified, meta, urls}]}. */
static int deliver_datasets_put(outbox *b, sv_queue *q, json_t *j)
{
	json_t *a = json_object_get(j, "datasets");
	size_t n = json_array_size(a), i;
	sv_queue_dataset *ds = calloc(n ? n : 1, sizeof(*ds));
	int rc = ds ? 0 : sv_error_set(SV_EIO, "out of memory");
	for (i = 0; rc == 0 && i < n; i++) {
		json_t *o = json_array_get(a, i);
		sv_queue_url *u = NULL;
		size_t nu = 0;
		rc = urls_from(json_object_get(o, "urls"), &u, &nu);
		ds[i] = (sv_queue_dataset){str_or_null(o, "key"), str_or_null(o, "identifier"), str_or_null(o, "title"),
					   str_or_null(o, "publisher"), str_or_null(o, "modified"), str_or_null(o, "meta"),
					   u, nu};
	}
	if (rc == 0)
		rc = CALL(b, q, sv_queue_datasets_put(b->inner, int_of(j, "seed"), (int)int_of(j, "pass"), ds, n, NULL));
	for (size_t k = 0; ds && k < i; k++)
		free((void *)ds[k].urls);
	free(ds);
	return rc;
}

static int deliver_catalog_begin(outbox *b, sv_queue *q, json_t *j)
{
	json_t *o = json_object_get(j, "first");
	sv_queue_url first = url_from(o);
	return CALL(b, q, sv_queue_catalog_begin(b->inner, int_of(j, "seed"), (int)int_of(j, "pass"),
						 json_is_object(o) ? &first : NULL));
}

static int deliver_complete(outbox *b, sv_queue *q, const char *holder, json_t *a)
{
	size_t n = json_array_size(a);
	sv_queue_outcome *o = calloc(n ? n : 1, sizeof(*o));
	if (!o)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(a, i);
		o[i] = (sv_queue_outcome){int_of(e, "id"), (sv_outcome_kind)int_of(e, "kind"), int_of(e, "retry_at_ms"),
					  str_or_null(e, "reason"), (int)int_of(e, "status"), int_of(e, "bytes"),
					  str_or_null(e, "digest")};
	}
	int rc = CALL(b, q, sv_queue_complete(b->inner, holder, o, n, NULL));
	free(o);
	return rc;
}

/* Hands one write (its arguments j, borrowed) to the inner queue. */
static int deliver_one(outbox *b, sv_queue *q, const char *op, const char *holder, json_t *j)
{
	int64_t *ids = NULL;
	size_t n;
	int rc;
	if (!strcmp(op, "enqueue"))
		rc = deliver_enqueue(b, q, j);
	else if (!strcmp(op, "complete"))
		rc = deliver_complete(b, q, holder, j);
	else if (!strcmp(op, "release") || !strcmp(op, "free_slots")) {
		if ((rc = ids_from(j, &ids, &n)) == 0)
			rc = op[0] == 'r' ? CALL(b, q, sv_queue_release(b->inner, holder, ids, n))
					  : CALL(b, q, sv_queue_free_slots(b->inner, holder, ids, n));
		free(ids);
	} else if (!strcmp(op, "host_set_robots"))
		rc = CALL(b, q, sv_queue_host_set_robots(b->inner, str_or_null(j, "host"), str_or_null(j, "robots"),
							 (int)int_of(j, "status"), (int)int_of(j, "crawl_delay_ms")));
	else if (!strcmp(op, "host_cooldown"))
		rc = CALL(b, q, sv_queue_host_cooldown(b->inner, str_or_null(j, "host"), int_of(j, "until_ms"),
						       (int)int_of(j, "timed_out")));
	else if (!strcmp(op, "host_robots_failed"))
		rc = CALL(b, q, sv_queue_host_robots_failed(b->inner, str_or_null(j, "host"), str_or_null(j, "reason"),
							    int_of(j, "retry_at_ms"), (int)int_of(j, "give_up")));
	else if (!strcmp(op, "landing_add"))
		rc = CALL(b, q, sv_queue_landing_add(b->inner, int_of(j, "seed"), str_or_null(j, "url")));
	else if (!strcmp(op, "datasets_put"))
		rc = deliver_datasets_put(b, q, j);
	else if (!strcmp(op, "catalog_begin"))
		rc = deliver_catalog_begin(b, q, j);
	else
		rc = sv_error_set(SV_ECORRUPT, "outbox '%s': unknown entry '%s'", b->path, op);
	return rc;
}

/* Hands one kept entry (its arguments as JSON text) to the inner queue. */
static int deliver_kept(outbox *b, sv_queue *q, const char *op, const char *holder, const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	if (!j)
		return sv_error_set(SV_ECORRUPT, "outbox '%s': an entry that is not JSON (%s)", b->path, op);
	int rc = deliver_one(b, q, op, holder, j);
	json_decref(j);
	return rc;
}

static int forget(outbox *b, const int64_t *seqs, size_t n)
{
	sqlite3_stmt *st;
	int rc;
	if (n == 0)
		return 0;
	if ((rc = local_exec(b, "BEGIN IMMEDIATE", "begin")))
		return rc;
	if (sqlite3_prepare_v2(b->db, "DELETE FROM outbox WHERE seq = ?1", -1, &st, NULL) != SQLITE_OK) {
		rc = local_fail(b, "prepare");
	} else {
		for (size_t i = 0; i < n && rc == 0; i++) {
			sqlite3_bind_int64(st, 1, seqs[i]);
			rc = sqlite3_step(st) == SQLITE_DONE ? 0 : local_fail(b, "remove a delivered entry");
			sqlite3_reset(st);
		}
		sqlite3_finalize(st);
	}
	if (rc == 0 && (rc = local_exec(b, "COMMIT", "commit")) == 0)
		b->entries -= (int64_t)n;
	if (rc)
		sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * Delivers this handle's entries, oldest first, while the inner queue takes
 * them. 0 when all went, or when it could not be reached (tried again after
 * the backoff); another error of the inner queue is returned, its entry kept.
 */
static int deliver(outbox *b, sv_queue *q)
{
	int rc = 0;
	if (sv_now_ms() - b->last_adopt_ms >= ADOPT_MS && (rc = adopt(b)))
		return rc;
	while (rc == 0 && b->entries > 0 && may_try(b)) {
		sqlite3_stmt *st;
		int64_t done[BATCH];
		size_t ndone = 0, seen = 0;
		if (sqlite3_prepare_v2(b->db,
				       "SELECT seq, op, holder, body FROM outbox WHERE owner = ?1 ORDER BY seq LIMIT ?2",
				       -1, &st, NULL) != SQLITE_OK)
			return local_fail(b, "prepare");
		sqlite3_bind_int64(st, 1, b->pid);
		sqlite3_bind_int(st, 2, BATCH);
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
			seen++;
			rc = deliver_kept(b, q, (const char *)sqlite3_column_text(st, 1),
					 (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3));
			if (rc == 0)
				done[ndone++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		int frc = forget(b, done, ndone);
		if (rc == SV_EUNREACHABLE)
			return frc;
		rc = rc ? rc : frc;
		if (seen == 0) /* the count was off (another handle took them): none left */
			b->entries = 0;
	}
	return rc;
}

/*
 * A write. While the inner queue answers and nothing of this handle waits
 * here, it goes straight there (its commit is the write's record: no local
 * fsync, where keeping and removing an entry cost two on every write, and the
 * crawl bench's two workers on one PostgreSQL spent most of their time in
 * them); only when that call finds the inner queue unreachable is it kept,
 * as a write made while it was down is. Otherwise it is kept, then delivered
 * with those before it when the inner queue may be asked.
 */
static int may_go_straight(outbox *b)
{
	return b->entries == 0 && !b->down_since_ms && !switched_off(b);
}

/* Keeps a write (body taken), then delivers what waits if the inner queue may be asked. */
static int keep_and_deliver(sv_queue *q, const char *op, const char *holder, json_t *body)
{
	outbox *b = impl(q);
	int rc = keep(b, op, holder, body);
	return rc ? rc : deliver(b, q);
}

static int write_op(sv_queue *q, const char *op, const char *holder, json_t *body)
{
	outbox *b = impl(q);
	if (body && may_go_straight(b)) {
		int rc = deliver_one(b, q, op, holder, body);
		if (rc != SV_EUNREACHABLE) {
			json_decref(body);
			return rc;
		}
	}
	return keep_and_deliver(q, op, holder, body);
}

/* ---- the kept operations ---- */

static int o_enqueue(sv_queue *q, const sv_queue_url *urls, size_t n, size_t *added)
{
	if (added)
		*added = 0; /* not known here: the inner queue may take them later */
	return write_op(q, "enqueue", NULL, urls_json(urls, n));
}

static int o_complete(sv_queue *q, const char *node, const sv_queue_outcome *out, size_t n, size_t *accepted)
{
	json_t *a = json_array();
	if (accepted)
		*accepted = 0; /* not known here */
	for (size_t i = 0; a && i < n; i++) {
		json_t *o = json_pack("{s:I, s:i, s:I, s:s?, s:i, s:I, s:s?}", "id", (json_int_t)out[i].id, "kind",
				      (int)out[i].kind, "retry_at_ms", (json_int_t)out[i].retry_at_ms, "reason",
				      out[i].reason, "status", out[i].status, "bytes", (json_int_t)out[i].bytes, "digest",
				      out[i].digest);
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			a = NULL;
		}
	}
	return write_op(q, "complete", node, a);
}

static int o_release(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return n ? write_op(q, "release", node, ids_json(ids, n)) : 0;
}

static int o_free_slots(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return n ? write_op(q, "free_slots", node, ids_json(ids, n)) : 0;
}

static int o_host_set_robots(sv_queue *q, const char *host, const char *robots, int status, int crawl_delay_ms)
{
	return write_op(q, "host_set_robots", NULL,
			json_pack("{s:s, s:s?, s:i, s:i}", "host", host, "robots", robots, "status", status,
				  "crawl_delay_ms", crawl_delay_ms));
}

static int o_host_cooldown(sv_queue *q, const char *host, int64_t until_ms, int timed_out)
{
	return write_op(q, "host_cooldown", NULL,
			json_pack("{s:s, s:I, s:i}", "host", host, "until_ms", (json_int_t)until_ms, "timed_out",
				  timed_out));
}

static int o_host_robots_failed(sv_queue *q, const char *host, const char *reason, int64_t retry_at_ms, int give_up)
{
	return write_op(q, "host_robots_failed", NULL,
			json_pack("{s:s, s:s?, s:I, s:i}", "host", host, "reason", reason, "retry_at_ms",
				  (json_int_t)retry_at_ms, "give_up", give_up));
}

static int o_landing_add(sv_queue *q, int64_t seed, const char *url)
{
	return write_op(q, "landing_add", NULL, json_pack("{s:I, s:s}", "seed", (json_int_t)seed, "url", url));
}

/* Straight with its arguments while it may (res then says what happened); kept otherwise, res not
 * told (the inner queue may take them later). */
static int o_datasets_put(sv_queue *q, int64_t seed, int pass, const sv_queue_dataset *ds, size_t n,
			  sv_queue_datasets_result *res)
{
	outbox *b = impl(q);
	if (may_go_straight(b)) {
		int rc = CALL(b, q, sv_queue_datasets_put(b->inner, seed, pass, ds, n, res));
		if (rc != SV_EUNREACHABLE)
			return rc;
	}
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *u = urls_json(ds[i].urls, ds[i].nurls);
		json_t *o = u ? json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:o}", "key", ds[i].key, "identifier",
					  ds[i].identifier, "title", ds[i].title, "publisher", ds[i].publisher, "modified",
					  ds[i].modified, "meta", ds[i].meta, "urls", u)
			      : NULL;
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			a = NULL;
		}
	}
	return keep_and_deliver(q, "datasets_put", NULL,
				a ? json_pack("{s:I, s:i, s:o}", "seed", (json_int_t)seed, "pass", pass, "datasets", a)
				  : NULL);
}

static int o_catalog_begin(sv_queue *q, int64_t seed, int pass, const sv_queue_url *first)
{
	json_t *f = first ? url_json(first) : json_null();
	return write_op(q, "catalog_begin", NULL,
			f ? json_pack("{s:I, s:i, s:o}", "seed", (json_int_t)seed, "pass", pass, "first", f) : NULL);
}

/*
 * Not kept: the datasets it marks vanished are told to fn first, by the
 * fetcher that read the pass's end, and they must be those the queue holds
 * once every write before it is delivered. While that cannot be, it is
 * SV_EUNREACHABLE, and the fetcher tries again at its next checkpoint.
 */
static int o_catalog_end(sv_queue *q, int64_t seed, int pass, int (*fn)(void *ctx, const sv_queue_dataset_row *d),
			 void *ctx)
{
	outbox *b = impl(q);
	int rc = deliver(b, q);
	if (rc)
		return rc;
	if (b->entries == 0 && may_try(b) &&
	    (rc = CALL(b, q, sv_queue_catalog_end(b->inner, seed, pass, fn, ctx))) != SV_EUNREACHABLE)
		return rc;
	return sv_error_set(SV_EUNREACHABLE, "queue unreachable: the end of catalog pass %d of row %lld waits for it",
			    pass, (long long)seed);
}

/* ---- claims, leases, counts ---- */

/*
 * Outcomes first: a claim asks the inner queue only once every entry is
 * delivered (their host slots are free then). Host slots of ended transfers
 * (freed) go with the claim when it can be made, else into the outbox.
 */
static int o_claim(sv_queue *q, const char *node, const int64_t *freed, size_t nfreed, size_t max, int lease_ms,
		   sv_queue_item **items, size_t *n)
{
	outbox *b = impl(q);
	int rc;
	*items = NULL;
	*n = 0;
	if ((rc = deliver(b, q)))
		return rc;
	if (b->entries == 0 && may_try(b)) {
		rc = CALL(b, q, sv_queue_claim(b->inner, node, freed, nfreed, max, lease_ms, items, n));
		if (rc != SV_EUNREACHABLE)
			return rc;
	}
	return nfreed ? keep(b, "free_slots", node, ids_json(freed, nfreed)) : 0;
}

/* Best effort: a renew that cannot reach the queue is skipped (the lease may run out meanwhile;
 * then the URL's outcome from here is refused, and whoever took it over decides). */
static int o_renew(sv_queue *q, const char *node, const int64_t *ids, size_t n, int lease_ms)
{
	outbox *b = impl(q);
	if (!may_try(b))
		return 0;
	int rc = CALL(b, q, sv_queue_renew(b->inner, node, ids, n, lease_ms));
	return rc == SV_EUNREACHABLE ? 0 : rc;
}

/* Never "drained" while entries wait here or the inner queue cannot say: they count as leased. */
static int o_pending(sv_queue *q, int64_t *queued, int64_t *leased)
{
	outbox *b = impl(q);
	int rc;
	*queued = *leased = 0;
	if ((rc = deliver(b, q)))
		return rc;
	rc = may_try(b) ? CALL(b, q, sv_queue_pending(b->inner, queued, leased)) : SV_EUNREACHABLE;
	if (rc == SV_EUNREACHABLE) {
		*queued = 0;
		*leased = 1;
		rc = 0;
	}
	*leased += b->entries;
	return rc;
}

/* Reclaiming the leases of dead local fetchers waits for their outcomes kept here: given back
 * first, those would be refused. */
static int o_reclaim(sv_queue *q, const char *prefix, int (*alive)(const char *node), size_t *released)
{
	outbox *b = impl(q);
	int rc;
	*released = 0;
	if ((rc = deliver(b, q)))
		return rc;
	if (b->entries > 0 || !may_try(b))
		return sv_error_set(SV_EUNREACHABLE, "queue unreachable: %lld updates kept in '%s'",
				    (long long)b->entries, b->path);
	return CALL(b, q, sv_queue_reclaim(b->inner, prefix, alive, released));
}

/* robots.txt was fetched: while the queue cannot be asked, a delay is assumed (see the top). */
static int o_host_delay(sv_queue *q, const char *host, int crawl_delay_ms, int *delay_ms)
{
	outbox *b = impl(q);
	int rc = may_try(b) ? CALL(b, q, sv_queue_host_delay(b->inner, host, crawl_delay_ms, delay_ms))
			    : SV_EUNREACHABLE;
	if (rc != SV_EUNREACHABLE)
		return rc;
	*delay_ms = crawl_delay_ms > q->opts.host_delay_ms ? crawl_delay_ms : q->opts.host_delay_ms;
	if (*delay_ms < 1)
		*delay_ms = 1;
	return 0;
}

/* ---- reads ---- */

static int o_seed_params(sv_queue *q, int64_t seed, char **params)
{
	outbox *b = impl(q);
	*params = NULL;
	for (size_t i = 0; i < b->nparams; i++)
		if (b->params[i].seed == seed) {
			if (b->params[i].params && !(*params = strdup(b->params[i].params)))
				return sv_error_set(SV_EIO, "out of memory");
			return 0;
		}
	if (!may_try(b))
		return sv_error_set(SV_EUNREACHABLE, "queue unreachable: the settings of row %lld are not known here",
				    (long long)seed);
	int rc = CALL(b, q, sv_queue_seed_params(b->inner, seed, params));
	if (rc)
		return rc;
	params_entry *p = realloc(b->params, (b->nparams + 1) * sizeof(*p));
	if (!p)
		return 0; /* not cached: asked again next time */
	b->params = p;
	char *copy = NULL;
	if (*params && !(copy = strdup(*params)))
		return 0;
	p[b->nparams++] = (params_entry){seed, copy};
	return 0;
}

static char **dup_list(char *const *urls, size_t n)
{
	char **c = calloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++)
		if (!(c[i] = strdup(urls[i]))) {
			sv_queue_landings_free(c, i);
			return NULL;
		}
	return c;
}

static int o_landings(sv_queue *q, int64_t seed, char ***urls, size_t *n)
{
	outbox *b = impl(q);
	landings_entry *e = NULL;
	int rc = SV_EUNREACHABLE;
	*urls = NULL;
	*n = 0;
	for (size_t i = 0; i < b->nlandings && !e; i++)
		if (b->landings[i].seed == seed)
			e = &b->landings[i];
	if (may_try(b))
		rc = CALL(b, q, sv_queue_landings(b->inner, seed, urls, n));
	if (rc == 0) {
		char **c = dup_list(*urls, *n);
		if (!c)
			return 0; /* not cached */
		if (!e) {
			landings_entry *p = realloc(b->landings, (b->nlandings + 1) * sizeof(*p));
			if (!p) {
				sv_queue_landings_free(c, *n);
				return 0;
			}
			b->landings = p;
			e = &p[b->nlandings++];
			e->seed = seed;
		} else {
			sv_queue_landings_free(e->urls, e->n);
		}
		e->urls = c;
		e->n = *n;
		return 0;
	}
	if (rc != SV_EUNREACHABLE)
		return rc;
	if (!e)
		return sv_error_set(SV_EUNREACHABLE, "queue unreachable: where row %lld lands is not known here",
				    (long long)seed);
	if (!(*urls = dup_list(e->urls, e->n)))
		return sv_error_set(SV_EIO, "out of memory");
	*n = e->n;
	return 0;
}

static int o_catalog_get(sv_queue *q, int64_t seed, sv_queue_catalog_info *out)
{
	outbox *b = impl(q);
	memset(out, 0, sizeof(*out));
	if (!may_try(b))
		return sv_error_set(SV_EUNREACHABLE, "queue unreachable");
	return CALL(b, q, sv_queue_catalog_get(b->inner, seed, out));
}

static int o_datasets(sv_queue *q, int64_t seed, int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_datasets(b->inner, seed, fn, ctx));
}

static int o_host_get(sv_queue *q, const char *host, sv_queue_host *out)
{
	outbox *b = impl(q);
	memset(out, 0, sizeof(*out));
	out->crawl_delay_ms = -1;
	if (!may_try(b))
		return sv_error_set(SV_EUNREACHABLE, "queue unreachable");
	return CALL(b, q, sv_queue_host_get(b->inner, host, out));
}

/* ---- passed through: commands, not the fetch loop ---- */

static int o_add_sheet(sv_queue *q, const char *name, const void *raw, size_t raw_len, const sv_queue_seed *rows,
		       size_t n, sv_queue_sheet_result *res)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_add_sheet(b->inner, name, raw, raw_len, rows, n, res));
}

static int o_stats(sv_queue *q, sv_queue_seed_stats **rows, size_t *n, sv_queue_seed_stats *total)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_stats(b->inner, rows, n, total));
}

static int o_node_stats(sv_queue *q, sv_queue_node_stats **rows, size_t *n)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_nodes(b->inner, rows, n));
}

/* A queue that cannot be reached cannot notify either: the wait is a sleep then. */
static int o_wait(sv_queue *q, int timeout_ms)
{
	outbox *b = impl(q);
	int rc = CALL(b, q, sv_queue_wait(b->inner, timeout_ms));
	if (rc == SV_EUNREACHABLE) {
		struct timespec t = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
		nanosleep(&t, NULL);
		rc = 0;
	}
	return rc;
}

/* Settings are read when a worker starts and written by seed: passed straight through. */
static int o_setting_get(sv_queue *q, const char *key, char **value)
{
	outbox *b = impl(q);
	return CALL(b, q, b->inner->ops.setting_get(b->inner, key, value));
}

static int o_setting_put(sv_queue *q, const char *key, const char *value)
{
	outbox *b = impl(q);
	return CALL(b, q, b->inner->ops.setting_put(b->inner, key, value));
}

static int o_robots_waiting(sv_queue *q, int (*fn)(void *ctx, const char *host, const char *reason, int64_t urls),
			    void *ctx)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_robots_waiting(b->inner, fn, ctx));
}

static int o_robots_retry(sv_queue *q, size_t *hosts)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_robots_retry(b->inner, hosts));
}

static int o_failures(sv_queue *q, int (*fn)(void *ctx, const char *reason, int64_t count), void *ctx)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_failures(b->inner, fn, ctx));
}

static int o_settle(sv_queue *q, const char *url, const sv_queue_outcome *how)
{
	outbox *b = impl(q);
	return CALL(b, q, sv_queue_settle(b->inner, url, how));
}

static void o_reach(sv_queue *q, int64_t *down_since_ms, int64_t *kept)
{
	outbox *b = impl(q);
	*down_since_ms = b->down_since_ms;
	*kept = b->entries;
}

static void o_close(sv_queue *q)
{
	outbox *b = impl(q);
	if (b) {
		if (b->db && b->entries > 0 && may_try(b))
			deliver(b, q); /* a last try */
		/* What stays is anyone's to deliver: a fetcher still running, or the next start (this
		 * process may live on, as the crawl's parent does after sv_crawl_prepare). */
		if (b->db && b->entries > 0) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v2(b->db, "UPDATE outbox SET owner = 0 WHERE owner = ?1", -1, &st, NULL) ==
			    SQLITE_OK) {
				sqlite3_bind_int64(st, 1, b->pid);
				sqlite3_step(st);
				sqlite3_finalize(st);
			}
		}
		sqlite3_close(b->db);
		sv_queue_close(b->inner);
		for (size_t i = 0; i < b->nparams; i++)
			free(b->params[i].params);
		free(b->params);
		for (size_t i = 0; i < b->nlandings; i++)
			sv_queue_landings_free(b->landings[i].urls, b->landings[i].n);
		free(b->landings);
		free(b->path);
		free(b);
	}
	free(q);
}

static const sv_queue_ops OUTBOX_OPS = {
	.name = "outbox",
	.add_sheet = o_add_sheet,
	.enqueue = o_enqueue,
	.claim = o_claim,
	.renew = o_renew,
	.complete = o_complete,
	.seed_params = o_seed_params,
	.stats = o_stats,
	.node_stats = o_node_stats,
	.wait = o_wait,
	.host_get = o_host_get,
	.host_set_robots = o_host_set_robots,
	.host_cooldown = o_host_cooldown,
	.host_robots_failed = o_host_robots_failed,
	.host_delay = o_host_delay,
	.robots_waiting = o_robots_waiting,
	.robots_retry = o_robots_retry,
	.release = o_release,
	.free_slots = o_free_slots,
	.failures = o_failures,
	.reclaim = o_reclaim,
	.pending = o_pending,
	.landing_add = o_landing_add,
	.settle = o_settle,
	.landings = o_landings,
	.datasets_put = o_datasets_put,
	.catalog_get = o_catalog_get,
	.catalog_begin = o_catalog_begin,
	.datasets = o_datasets,
	.catalog_end = o_catalog_end,
	.reach = o_reach,
	.setting_get = o_setting_get,
	.setting_put = o_setting_put,
	.close = o_close,
};

int sv_queue_outbox_open(sv_queue **out, sv_queue *in, const char *path, const sv_queue_outbox_options *opts)
{
	sv_queue_outbox_options def = SV_QUEUE_OUTBOX_OPTIONS_INIT;
	sv_queue *q = calloc(1, sizeof(*q));
	outbox *b = calloc(1, sizeof(*b));
	int rc;
	*out = NULL;
	if (!q || !b || !(b->path = strdup(path))) {
		free(q);
		free(b);
		sv_queue_close(in);
		return sv_error_set(SV_EIO, "out of memory");
	}
	q->ops = OUTBOX_OPS;
	q->opts = in->opts;
	q->impl = b;
	b->inner = in;
	b->opts = opts ? *opts : def;
	b->pid = (int64_t)getpid();
	b->down_file = getenv("SALVAGE_TEST_QUEUE_DOWN");
	if (b->down_file && !*b->down_file)
		b->down_file = NULL;
	if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = b->db ? local_fail(b, "open") : sv_error_set(SV_EIO, "outbox '%s': cannot open", path);
		goto fail;
	}
	/* Several fetchers share the file; each write is short. */
	sqlite3_busy_timeout(b->db, 60000);
	if ((rc = local_exec(b, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "set up")) ||
	    (rc = local_exec(b,
			     "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
			     " owner INTEGER NOT NULL, holder TEXT, op TEXT NOT NULL, body TEXT NOT NULL,"
			     " made_ms INTEGER NOT NULL);"
			     "CREATE INDEX IF NOT EXISTS outbox_owner ON outbox(owner, seq);",
			     "create the table")) ||
	    (rc = count_own(b)) || (rc = adopt(b)) || (rc = deliver(b, q)))
		goto fail;
	*out = q;
	return 0;
fail:
	o_close(q);
	return rc;
}
