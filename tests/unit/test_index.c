/*
 * tests/unit/test_index.c -- the capture index: records in, listed by URL
 * prefix in order, each once, and made again from the ledger.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/index.h"

#include <sqlite3.h>

static char dir[4096], path[4200];
static sv_index *ix;

static void setup(void)
{
	int unbuilt = -1;
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/index.db", dir);
	cr_assert_eq(sv_index_open(&ix, path, &unbuilt), 0, "%s", sv_error_last());
	cr_assert_eq(unbuilt, 1);
}

static void teardown(void)
{
	sv_index_close(ix);
	th_rmrf(dir);
}

TestSuite(index, .init = setup, .fini = teardown);

static const char *const recs[] = {
	"{\"url\":\"https://a.gov/\",\"ts\":\"2026-12-05T08:00:00.000Z\",\"status\":200,\"mime\":\"text/html\","
	"\"length\":5,\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"stored\":9,"
	"\"headers\":null,\"seed\":1,\"via\":null,\"kind\":\"page\",\"node\":\"n\",\"attempt\":1}",
	"{\"url\":\"https://a.gov/d.csv\",\"ts\":\"2026-12-05T08:00:01.000Z\",\"status\":0,\"mime\":null,"
	"\"length\":null,\"sha256\":null,\"stored\":null,\"headers\":null,\"seed\":1,\"via\":\"https://a.gov/\","
	"\"kind\":\"dataset\",\"node\":\"n\",\"error\":\"reset\",\"attempt\":5}",
	"{\"url\":\"https://b.gov/x\",\"ts\":\"2026-12-05T08:00:02.000Z\",\"status\":null,\"mime\":null,"
	"\"length\":3,\"sha256\":\"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\",\"stored\":7,"
	"\"headers\":null,\"seed\":null,\"via\":null,\"kind\":\"manual\",\"node\":\"n\",\"file\":\"x\"}",
};

typedef struct {
	char urls[8][64], kinds[8][16], sha[8][72];
	int status[8];
	int64_t length[8];
	size_t n;
} listing;

static int collect(void *ctx, const sv_index_row *r)
{
	listing *l = ctx;
	cr_assert_lt(l->n, 8);
	snprintf(l->urls[l->n], sizeof(l->urls[0]), "%s", r->url);
	snprintf(l->kinds[l->n], sizeof(l->kinds[0]), "%s", r->kind ? r->kind : "-");
	snprintf(l->sha[l->n], sizeof(l->sha[0]), "%s", r->sha256 ? r->sha256 : "-");
	l->status[l->n] = r->status;
	l->length[l->n] = r->length;
	l->n++;
	return 0;
}

static listing list(const char *prefix)
{
	listing l;
	memset(&l, 0, sizeof(l));
	cr_assert_eq(sv_index_list(ix, prefix, collect, &l), 0, "%s", sv_error_last());
	return l;
}

Test(index, records_listed_by_prefix_in_order)
{
	size_t added = 0, skipped = 9;
	cr_assert_eq(sv_index_add(ix, recs, 3, &added, &skipped), 0, "%s", sv_error_last());
	cr_assert_eq(added, 3);
	cr_assert_eq(skipped, 0);
	listing l = list("");
	cr_assert_eq(l.n, 3);
	cr_assert_str_eq(l.urls[0], "https://a.gov/");
	cr_assert_str_eq(l.urls[2], "https://b.gov/x");
	cr_assert_eq(l.status[0], 200);
	cr_assert_eq(l.length[0], 5);
	cr_assert_str_eq(l.sha[0], "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	cr_assert_str_eq(l.sha[1], "-", "a failure names no object");
	cr_assert_eq(l.status[1], 0);
	cr_assert_eq(l.length[1], -1);
	cr_assert_str_eq(l.kinds[1], "dataset");
	cr_assert_eq(l.status[2], 0, "a manual capture has no status");
	cr_assert_str_eq(l.kinds[2], "manual");
	l = list("https://a.gov/d");
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.urls[0], "https://a.gov/d.csv");
	cr_assert_eq(list("https://c.gov/").n, 0);
}

Test(index, each_record_once_and_bad_lines_left_out)
{
	const char *mixed[] = {recs[0], "not json", "{\"ts\":\"no url\"}", recs[0], recs[1]};
	size_t added = 0, skipped = 0;
	cr_assert_eq(sv_index_add(ix, mixed, 5, &added, &skipped), 0);
	cr_assert_eq(added, 2);
	cr_assert_eq(skipped, 2);
	cr_assert_eq(sv_index_add(ix, recs, 3, &added, NULL), 0);
	cr_assert_eq(added, 1, "only the third is new");
	cr_assert_eq(list("").n, 3);
}

/* Two processes' worth of handles add at once: nothing lost, nothing doubled. */
Test(index, two_handles_add_at_once)
{
	sv_index *other = NULL;
	cr_assert_eq(sv_index_open(&other, path, NULL), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(sv_index_add(i % 2 ? other : ix, &recs[i], 1, NULL, NULL), 0);
		cr_assert_eq(sv_index_add(i % 2 ? ix : other, &recs[i], 1, NULL, NULL), 0);
	}
	sv_index_close(other);
	cr_assert_eq(list("").n, 3);
}

/* A ledger holding recs[0] and recs[1] in one file, recs[2] in another. */
static sv_ledger *ledger_of_three(void)
{
	char repo[4300], file[4096];
	sv_ledger *l = NULL;
	snprintf(repo, sizeof(repo), "%s/ledger.git", dir);
	cr_assert_eq(sv_ledger_init(repo), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_open(&l, repo, "n"), 0, "%s", sv_error_last());
	snprintf(file, sizeof(file), "%s\n%s\n", recs[0], recs[1]);
	sv_ledger_file f1 = {"captures/n/2026-12-05/080000.000-1-1.jsonl", file, strlen(file)};
	sv_ledger_file f2 = {"captures/n/2026-12-05/080002.000-1-2.jsonl", recs[2], strlen(recs[2])};
	cr_assert_eq(sv_ledger_commit(l, "main", "one", &f1, 1, NULL, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_commit(l, "main", "two", &f2, 1, NULL, NULL), 0, "%s", sv_error_last());
	return l;
}

Test(index, rebuilt_from_the_ledger)
{
	sv_ledger *l = ledger_of_three();
	/* An index that lost a row and holds one the ledger does not. */
	const char *stray = "{\"url\":\"https://stray.gov/\",\"ts\":\"x\"}";
	cr_assert_eq(sv_index_add(ix, &recs[0], 1, NULL, NULL), 0);
	cr_assert_eq(sv_index_add(ix, &stray, 1, NULL, NULL), 0);
	size_t n = 0, skipped = 9;
	cr_assert_eq(sv_index_rebuild(ix, l, NULL, &n, &skipped), 0, "%s", sv_error_last());
	cr_assert_eq(n, 3);
	cr_assert_eq(skipped, 0);
	listing got = list("");
	cr_assert_eq(got.n, 3);
	cr_assert_str_eq(got.urls[0], "https://a.gov/");
	cr_assert_str_eq(got.urls[1], "https://a.gov/d.csv");
	cr_assert_str_eq(got.urls[2], "https://b.gov/x");
	sv_ledger_free(l);
}

/* An index counts as built only once a build from the ledger has finished. */
Test(index, built_once_rebuilt)
{
	sv_index *again = NULL;
	int unbuilt = -1;
	cr_assert_eq(sv_index_add(ix, recs, 1, NULL, NULL), 0);
	cr_assert_eq(sv_index_open(&again, path, &unbuilt), 0);
	cr_assert_eq(unbuilt, 1, "records added, but never built from the ledger");
	sv_index_close(again);
	sv_ledger *l = ledger_of_three();
	cr_assert_eq(sv_index_rebuild(ix, l, NULL, NULL, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_index_open(&again, path, &unbuilt), 0);
	cr_assert_eq(unbuilt, 0);
	sv_index_close(again);
	sv_ledger_free(l);
}

/* An archive from before the index: its queue.db's captures come first, in their order, then the ledger's. */
Test(index, takes_in_an_old_queue)
{
	char old[4300];
	sqlite3 *db;
	snprintf(old, sizeof(old), "%s/queue.db", dir);
	cr_assert_eq(sqlite3_open(old, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "CREATE TABLE captures(id INTEGER PRIMARY KEY, url TEXT, record TEXT NOT NULL)",
				  NULL, NULL, NULL), SQLITE_OK);
	const char *old_only = "{\"url\":\"https://old.gov/\",\"ts\":\"2026-01-01T00:00:00.000Z\",\"status\":200,"
			       "\"kind\":\"page\"}";
	const char *rows[] = {recs[2], old_only};
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st;
		cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO captures(record) VALUES(?)", -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_text(st, 1, rows[i], -1, SQLITE_STATIC);
		cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	sv_ledger *l = ledger_of_three();
	size_t n = 0;
	cr_assert_eq(sv_index_rebuild(ix, l, old, &n, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(n, 4, "three in the ledger, one more only in the old queue");
	listing got = list("");
	cr_assert_eq(got.n, 4);
	cr_assert_str_eq(got.urls[0], "https://b.gov/x");
	cr_assert_str_eq(got.urls[1], "https://old.gov/");
	cr_assert_str_eq(got.urls[2], "https://a.gov/");
	cr_assert_str_eq(got.urls[3], "https://a.gov/d.csv");
	/* A queue.db that is not there, or has no captures table, gives nothing and no error. */
	snprintf(old, sizeof(old), "%s/none.db", dir);
	cr_assert_eq(sv_index_rebuild(ix, l, old, &n, NULL), 0);
	cr_assert_eq(n, 3);
	sv_ledger_free(l);
}

Test(index, not_a_database)
{
	char bad[4300];
	sv_index *x = (sv_index *)1;
	snprintf(bad, sizeof(bad), "%s/bad.db", dir);
	FILE *f = fopen(bad, "w");
	fputs("this is not an SQLite database, not at all, no; it is just text long enough", f);
	fclose(f);
	cr_assert_eq(sv_index_open(&x, bad, NULL), SV_ECORRUPT);
	cr_assert_null(x);
}
