/*
 * storage/index.c -- the capture index in SQLite (see index.h).
 *
 * A record's key is the SHA-256 of its exact text: the same record added
 * twice is one row, two captures of one URL are two rows.
 */
#include "index.h"

#include "capture.h"

#include "../common/error.h"

#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION "1"
#define BUSY_MS 60000

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS captures("
	" id INTEGER PRIMARY KEY, rkey BLOB NOT NULL UNIQUE, url TEXT NOT NULL, ts TEXT, status INTEGER,"
	" sha256 TEXT, length INTEGER, kind TEXT, record TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS captures_url ON captures(url);";

struct sv_index {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *insert;
};

static int db_fail(sv_index *ix, const char *what)
{
	int code = sqlite3_errcode(ix->db);
	return sv_error_set(code == SQLITE_FULL ? SV_ENOSPC : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ?
			    SV_ECORRUPT : SV_EIO,
			    "capture index '%s': cannot %s: %s", ix->path, what, sqlite3_errmsg(ix->db));
}

void sv_index_close(sv_index *ix)
{
	if (!ix)
		return;
	sqlite3_finalize(ix->insert);
	sqlite3_close(ix->db);
	free(ix->path);
	free(ix);
}

int sv_index_open(sv_index **out, const char *path, int *unbuilt)
{
	sv_index *ix = calloc(1, sizeof(*ix));
	sqlite3_stmt *st = NULL;
	int rc = 0, built = 0;
	*out = NULL;
	if (!ix || !(ix->path = strdup(path))) {
		free(ix);
		return sv_error_set(SV_EIO, "out of memory");
	}
	if (sqlite3_open_v2(path, &ix->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = ix->db ? db_fail(ix, "open it") : sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	sqlite3_busy_timeout(ix->db, BUSY_MS);
	/* The ledger is the truth: a commit lost to a power cut is found again by reindex. */
	if (sqlite3_exec(ix->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(ix->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(ix->db, "INSERT OR IGNORE INTO meta VALUES('schema', '" SCHEMA_VERSION "')", NULL, NULL,
			 NULL) != SQLITE_OK) {
		rc = db_fail(ix, "set it up");
		goto done;
	}
	if (sqlite3_prepare_v2(ix->db, "SELECT count(*) FROM meta WHERE key = 'built'", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(ix, "read it");
		goto done;
	}
	built = sqlite3_column_int(st, 0);
	if (sqlite3_prepare_v2(ix->db,
			       "INSERT OR IGNORE INTO captures(rkey, url, ts, status, sha256, length, kind, record)"
			       " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &ix->insert, NULL) != SQLITE_OK)
		rc = db_fail(ix, "set it up");
done:
	sqlite3_finalize(st);
	if (rc) {
		sv_index_close(ix);
		return rc;
	}
	if (unbuilt)
		*unbuilt = !built;
	*out = ix;
	return 0;
}

static int exec(sv_index *ix, const char *sql, const char *what)
{
	return sqlite3_exec(ix->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(ix, what);
}

/* One record into the open transaction; *added and *skipped count. */
static int insert(sv_index *ix, const char *rec, size_t len, size_t *added, size_t *skipped)
{
	sv_capture_parsed p;
	unsigned char key[EVP_MAX_MD_SIZE];
	unsigned keylen = 0;
	sqlite3_stmt *st = ix->insert;
	int rc = 0;
	if (sv_capture_parse(&p, rec, len) != 0) {
		sv_capture_parsed_clear(&p);
		(*skipped)++;
		return 0;
	}
	if (!EVP_Digest(rec, len, key, &keylen, EVP_sha256(), NULL)) {
		sv_capture_parsed_clear(&p);
		return sv_error_set(SV_EIO, "SHA-256 failed");
	}
	sqlite3_bind_blob(st, 1, key, (int)keylen, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, p.c.url, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, p.c.ts, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, p.c.status > 0 ? p.c.status : 0);
	if (p.c.sha256)
		sqlite3_bind_text(st, 5, p.c.sha256, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 5);
	if (p.c.length >= 0)
		sqlite3_bind_int64(st, 6, p.c.length);
	else
		sqlite3_bind_null(st, 6);
	if (p.kind_known)
		sqlite3_bind_text(st, 7, sv_kind_name(p.c.kind), -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_text(st, 8, rec, (int)len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(ix, "add a capture");
	else if (sqlite3_changes(ix->db) > 0)
		(*added)++;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sv_capture_parsed_clear(&p);
	return rc;
}

static int finish(sv_index *ix, int rc)
{
	if (rc == 0 && (rc = exec(ix, "COMMIT", "commit")) == 0)
		return 0;
	sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int sv_index_add(sv_index *ix, const char *const *records, size_t n, size_t *added, size_t *skipped)
{
	size_t a = 0, s = 0;
	int rc;
	if ((rc = exec(ix, "BEGIN IMMEDIATE", "start a transaction")))
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = insert(ix, records[i], strlen(records[i]), &a, &s);
	if ((rc = finish(ix, rc)))
		return rc;
	if (added)
		*added = a;
	if (skipped)
		*skipped = s;
	return 0;
}

int sv_index_list(sv_index *ix, const char *prefix, int (*fn)(void *ctx, const sv_index_row *row), void *ctx)
{
	sqlite3_stmt *st;
	int rc = 0, step;
	if (sqlite3_prepare_v2(ix->db,
			       "SELECT id, url, ts, status, sha256, length, kind, record FROM captures"
			       " WHERE substr(url, 1, length(?1)) = ?1 ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(ix, "list captures");
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sv_index_row r = {
			.id = sqlite3_column_int64(st, 0),
			.url = (const char *)sqlite3_column_text(st, 1),
			.ts = (const char *)sqlite3_column_text(st, 2),
			.status = sqlite3_column_int(st, 3),
			.sha256 = (const char *)sqlite3_column_text(st, 4),
			.length = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5),
			.kind = (const char *)sqlite3_column_text(st, 6),
			.record = (const char *)sqlite3_column_text(st, 7),
		};
		if ((rc = fn(ctx, &r)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(ix, "list captures");
	sqlite3_finalize(st);
	return rc;
}

typedef struct {
	sv_index *ix;
	size_t added, skipped;
} rebuild_ctx;

static int rebuild_record(void *ctx, const char *path, const char *line, size_t len)
{
	rebuild_ctx *r = ctx;
	(void)path;
	return insert(r->ix, line, len, &r->added, &r->skipped);
}

/* The captures table of a queue.db from before the index, in its order. */
static int take_legacy(sv_index *ix, const char *queue_db, size_t *added, size_t *skipped)
{
	sqlite3 *old = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;
	if (sqlite3_open_v2(queue_db, &old, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(old);
		return 0; /* no queue here (a shared one, or none yet): nothing to take */
	}
	sqlite3_busy_timeout(old, BUSY_MS);
	if (sqlite3_prepare_v2(old, "SELECT record FROM captures ORDER BY id", -1, &st, NULL) == SQLITE_OK) {
		while ((step = sqlite3_step(st)) == SQLITE_ROW && rc == 0)
			rc = insert(ix, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0),
				    added, skipped);
		if (rc == 0 && step != SQLITE_DONE)
			rc = sv_error_set(SV_EIO, "'%s': cannot read its captures: %s", queue_db, sqlite3_errmsg(old));
	}
	sqlite3_finalize(st);
	sqlite3_close(old);
	return rc;
}

int sv_index_rebuild(sv_index *ix, sv_ledger *ledger, const char *legacy_queue, size_t *indexed, size_t *skipped)
{
	rebuild_ctx r = {ix, 0, 0};
	int rc;
	if ((rc = exec(ix, "BEGIN IMMEDIATE", "start a transaction")))
		return rc;
	if ((rc = exec(ix, "DELETE FROM captures", "empty it")) == 0 && legacy_queue)
		rc = take_legacy(ix, legacy_queue, &r.added, &r.skipped);
	if (rc == 0)
		rc = sv_ledger_records(ledger, rebuild_record, &r);
	if (rc == 0)
		rc = exec(ix, "INSERT OR REPLACE INTO meta VALUES('built', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
			  "mark it built");
	if ((rc = finish(ix, rc)))
		return rc;
	if (indexed)
		*indexed = r.added;
	if (skipped)
		*skipped = r.skipped;
	return 0;
}
