/*
 * tests/unit/test_queue.c -- the queue's promises: one key per URL, one
 * holder per lease, expired leases come back, outcomes only from the holder,
 * per-host politeness, seed-row caps and sheet reloads; and the same under
 * several processes at once, and after a SIGKILL.
 *
 * Every test of the suite "queue" runs once per backend of BACKENDS, through
 * the public operations only. A backend under test is one line there: its
 * name, a fixture that gives a fresh queue location for one test, and a way
 * to read back the sheet it keeps (which no public operation returns).
 * The suite "queue_open" checks which backend a location chooses.
 *
 * The postgres backend runs against a throwaway cluster (tests/servers/
 * postgres.sh) started once for the whole binary, with a fresh database per
 * test; the suite "queue_postgres" checks what only a server can do wrong:
 * schema made by two openers at once, claims of several processes, a server
 * that stops or stops answering, passwords in messages, LISTEN/NOTIFY.
 */
#include "helpers.h"

#include "../../common/clock.h"
#include "../../common/error.h"
#include "../../queue/queue.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static char dir[4096], location[4200];
static int64_t fake_now;
static sv_queue *q;

/* ---- the backends ---- */

typedef struct {
	const char *name;
	/* A location no other test uses, in dir (which the test removes). */
	void (*fresh)(char *buf, size_t cap, const char *dir);
	/* The bytes of sheet name as the queue at location keeps them, read from its storage; *len = -1 if none. */
	void (*stored_sheet)(const char *location, const char *name, char *buf, size_t cap, ssize_t *len);
	/* The node and digest the queue at location keeps for url ("" for none), read from its storage. */
	void (*done_by)(const char *location, const char *url, char *node, char *digest, size_t cap);
} backend;

static void sqlite_fresh(char *buf, size_t cap, const char *d)
{
	snprintf(buf, cap, "sqlite:%s/queue.db", d);
}

static void sqlite_stored_sheet(const char *loc, const char *name, char *buf, size_t cap, ssize_t *len)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open_v2(loc + strlen("sqlite:"), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT raw FROM sheets WHERE name = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	*len = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = sqlite3_column_bytes(st, 0);
		cr_assert_leq((size_t)*len, cap);
		memcpy(buf, sqlite3_column_blob(st, 0), (size_t)*len);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void sqlite_done_by(const char *loc, const char *url, char *node, char *digest, size_t cap)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open_v2(loc + strlen("sqlite:"), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT coalesce(done_node, ''), coalesce(digest, '') FROM urls WHERE url = ?1",
					-1, &st, NULL),
		     SQLITE_OK);
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s is not queued", url);
	snprintf(node, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(digest, cap, "%s", (const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- the PostgreSQL cluster, started once for the whole binary ---- */

static char servers_dir[4096];

/* Runs `bash tests/servers/postgres.sh VERB DIR [ARG]`, its first output line into out (may be NULL); 0 if it worked. */
static int pg_script(const char *verb, const char *d, const char *arg, char *out, size_t cap)
{
	char root[4096], cmd[13000], line[4096] = "";
	th_repo_root(root, sizeof(root));
	snprintf(cmd, sizeof(cmd), "bash '%s/tests/servers/postgres.sh' %s '%s' %s </dev/null 2>>'%s.err'", root, verb, d,
		 arg ? arg : "", d);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	while (fgetc(p) != EOF)
		;
	int rc = pclose(p);
	line[strcspn(line, "\n")] = '\0';
	if (out)
		snprintf(out, cap, "%s", line);
	return rc;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char pid[32], d[4300];
	(void)set;
	const char *base = getenv("SALVAGE_TEST_TMP");
	snprintf(servers_dir, sizeof(servers_dir), "%s/salvage-pg.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(servers_dir)) {
		setenv("SV_TEST_PG_ERROR", "mkdtemp failed", 1);
		return;
	}
	/* The cluster's owner (postgres, when the tests run as root) must reach it. */
	chmod(servers_dir, 0755);
	/* The server stops by itself if this process dies without stopping it. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("SV_SERVER_OWNER_PID", pid, 1);
	snprintf(d, sizeof(d), "%s/pg", servers_dir);
	setenv("SV_TEST_PG", d, 1);
	if (pg_script("start", d, NULL, NULL, 0) != 0)
		setenv("SV_TEST_PG_ERROR", "postgres.sh start failed; see its .err file", 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	char d[4300], cmd[4400];
	(void)stats;
	if (!servers_dir[0])
		return;
	snprintf(d, sizeof(d), "%s/pg", servers_dir);
	pg_script("stop", d, NULL, NULL, 0);
	if (getenv("SV_TEST_PG_ERROR"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", servers_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", servers_dir);
}

/* The shared cluster's folder, its variables (SV_PG_*, PGPASSFILE) loaded. */
static const char *pg_ready(void)
{
	const char *err = getenv("SV_TEST_PG_ERROR"), *d = getenv("SV_TEST_PG");
	char path[4400];
	cr_assert(!err, "%s", err ? err : "");
	cr_assert_not_null(d, "the PostgreSQL cluster was not started");
	snprintf(path, sizeof(path), "%s/pg.env", d);
	th_load_env(path);
	return d;
}

/* A fresh, empty database of the shared cluster; its URL into buf (no password: PGPASSFILE has it). */
static void pg_newdb(char *buf, size_t cap)
{
	static int made;
	char name[64];
	const char *d = pg_ready();
	snprintf(name, sizeof(name), "t_%ld_%d", (long)getpid(), made++);
	cr_assert_eq(pg_script("newdb", d, name, buf, cap), 0, "postgres.sh newdb failed");
	cr_assert(!strncmp(buf, "postgresql://", 13), "newdb printed '%s'", buf);
}

static void pg_fresh(char *buf, size_t cap, const char *d)
{
	(void)d;
	pg_newdb(buf, cap);
}

static PGconn *pg_admin(const char *loc)
{
	PGconn *c = PQconnectdb(loc);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

/* The first value of a query's first row, as a number (-1 if NULL or no row). */
static int64_t pg_value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
	int64_t v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
	PQclear(r);
	return v;
}

/* Runs sql (statements that return no rows) on c; it must work. */
static void pg_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static void pg_stored_sheet(const char *loc, const char *name, char *buf, size_t cap, ssize_t *len)
{
	PGconn *c = pg_admin(loc);
	const char *vals[1] = {name};
	PGresult *r = PQexecParams(c, "SELECT raw FROM salvage.sheets WHERE name = $1", 1, NULL, vals, NULL, NULL, 1);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	*len = -1;
	if (PQntuples(r) == 1) {
		*len = PQgetlength(r, 0, 0);
		cr_assert_leq((size_t)*len, cap);
		memcpy(buf, PQgetvalue(r, 0, 0), (size_t)*len);
	}
	PQclear(r);
	PQfinish(c);
}

static void pg_done_by(const char *loc, const char *url, char *node, char *digest, size_t cap)
{
	PGconn *c = pg_admin(loc);
	const char *vals[1] = {url};
	PGresult *r = PQexecParams(c, "SELECT coalesce(done_node, ''), coalesce(digest, '') FROM salvage.urls WHERE url = $1",
				   1, NULL, vals, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	cr_assert_eq(PQntuples(r), 1, "%s is not queued", url);
	snprintf(node, cap, "%s", PQgetvalue(r, 0, 0));
	snprintf(digest, cap, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	PQfinish(c);
}

static const backend BACKENDS[] = {
	{"sqlite", sqlite_fresh, sqlite_stored_sheet, sqlite_done_by},
	{"postgres", pg_fresh, pg_stored_sheet, pg_done_by},
};

static const backend *B;

static int64_t clock_fn(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static sv_queue *open_queue(int fake_clock, int cap, int delay_ms)
{
	sv_queue_options o = SV_QUEUE_OPTIONS_INIT;
	sv_queue *h;
	o.host_max_inflight = cap;
	o.host_delay_ms = delay_ms;
	if (fake_clock)
		o.now_ms = clock_fn;
	cr_assert_eq(sv_queue_open(&h, location, &o), 0, "%s: %s", B->name, sv_error_last());
	return h;
}

static void setup(void)
{
	th_tempdir(dir, sizeof(dir));
	fake_now = 1000000;
}

static void teardown(void)
{
	sv_queue_close(q);
	q = NULL;
	th_rmrf(dir);
}

TestSuite(queue, .init = setup, .fini = teardown, .timeout = 120);

/* The index of every backend, as the parameters of each test. */
static struct criterion_test_params every_backend(void)
{
	static size_t which[COUNT(BACKENDS)];
	for (size_t i = 0; i < COUNT(BACKENDS); i++)
		which[i] = i;
	return cr_make_param_array(size_t, which, COUNT(BACKENDS));
}

/* A test of the suite "queue", run against every backend, with q open on a fresh location. */
#define QUEUE_TEST(name)                                                     \
	static void name##_body(void);                                       \
	ParameterizedTestParameters(queue, name)                             \
	{                                                                    \
		return every_backend();                                      \
	}                                                                    \
	ParameterizedTest(size_t *which, queue, name)                        \
	{                                                                    \
		B = &BACKENDS[*which];                                       \
		B->fresh(location, sizeof(location), dir);                   \
		q = open_queue(1, 4, 0);                                     \
		name##_body();                                               \
	}                                                                    \
	static void name##_body(void)

static sv_queue_seed_stats totals(void);

/* The seed id of the row of sheet at url. */
static int64_t seed_of(const char *sheet, const char *url)
{
	sv_queue_seed_stats *st, total;
	size_t ns;
	cr_assert_eq(sv_queue_stats(q, &st, &ns, &total), 0);
	int64_t id = 0;
	for (size_t i = 0; i < ns; i++)
		if (!strcmp(st[i].url, url) && !strcmp(st[i].sheet, sheet))
			id = st[i].seed;
	sv_queue_stats_free(st, ns);
	cr_assert_gt(id, 0);
	return id;
}

/* One sheet row per URL given; returns the seed id of the first. */
static int64_t add_rows(const char *sheet, const char *const *urls, const int *prio, size_t n,
			sv_queue_sheet_result *res)
{
	sv_queue_seed rows[16];
	sv_queue_sheet_result r;
	cr_assert_leq(n, 16);
	for (size_t i = 0; i < n; i++)
		rows[i] = (sv_queue_seed){urls[i], (unsigned)i + 2, prio ? prio[i] : 0, -1, -1, "{}", "{}", 0};
	cr_assert_eq(sv_queue_add_sheet(q, sheet, "url\n", 4, rows, n, res ? res : &r), 0, "%s", sv_error_last());
	return seed_of(sheet, urls[0]);
}

/* Sheet "s" of one catalog row (kind dcat) at url, whose URL is not queued as a page: its seed id. */
static int64_t catalog_row(const char *url)
{
	sv_queue_seed row = {url, 2, 0, -1, -1, "{\"kind\":\"dcat\"}", "{}", 1};
	sv_queue_sheet_result res;
	cr_assert_eq(sv_queue_add_sheet(q, "s", "url\n", 4, &row, 1, &res), 0, "%s", sv_error_last());
	cr_assert_eq(totals().queued, 0, "a catalog row's URL is not queued as a page");
	return seed_of("s", url);
}

static size_t enqueue_fmt(int64_t seed, const char *fmt, int from, int to, sv_kind kind)
{
	sv_queue_url u[512];
	char buf[512][128];
	size_t added = 0;
	cr_assert_leq(to - from, 512);
	for (int i = from; i < to; i++) {
		snprintf(buf[i - from], sizeof(buf[0]), fmt, i);
		u[i - from] = (sv_queue_url){buf[i - from], seed, 1, kind, "http://a.example/", 0, NULL, NULL, NULL, 0};
	}
	cr_assert_eq(sv_queue_enqueue(q, u, (size_t)(to - from), &added), 0, "%s", sv_error_last());
	return added;
}

static size_t claim(const char *node, size_t max, int lease_ms, sv_queue_item **items)
{
	size_t n;
	cr_assert_eq(sv_queue_claim(q, node, NULL, 0, max, lease_ms, items, &n), 0, "%s", sv_error_last());
	return n;
}

static void complete_all(const char *node, sv_queue_item *items, size_t n, sv_outcome_kind kind,
			 size_t want_accepted)
{
	sv_queue_outcome o[512];
	size_t acc;
	for (size_t i = 0; i < n; i++)
		o[i] = (sv_queue_outcome){items[i].id, kind, fake_now + 5000, "test", 200, 100, NULL};
	cr_assert_eq(sv_queue_complete(q, node, o, n, &acc), 0, "%s", sv_error_last());
	cr_assert_eq(acc, want_accepted);
}

static sv_queue_seed_stats totals(void)
{
	sv_queue_seed_stats *st, total;
	size_t n;
	cr_assert_eq(sv_queue_stats(q, &st, &n, &total), 0);
	sv_queue_stats_free(st, n);
	return total;
}

/* ---- catalog helpers ---- */

static int vanished_seen;

static int count_vanished(void *ctx, const sv_queue_dataset_row *d)
{
	(void)ctx;
	cr_assert_eq(d->vanished_pass, 0, "told before it is marked");
	vanished_seen++;
	return 0;
}

typedef struct {
	int n, vanished;
	int64_t done_urls, queued_urls;
	char roles[256];
} dataset_sum;

static int sum_dataset(void *ctx, const sv_queue_dataset_row *d)
{
	dataset_sum *s = ctx;
	s->n++;
	s->vanished += d->vanished_pass != 0;
	for (size_t i = 0; i < d->nurls; i++) {
		s->done_urls += d->urls[i].state == SV_URL_DONE;
		s->queued_urls += d->urls[i].state == SV_URL_QUEUED;
		if (d->urls[i].role && strlen(s->roles) + strlen(d->urls[i].role) + 2 < sizeof(s->roles)) {
			strcat(s->roles, d->urls[i].role);
			strcat(s->roles, " ");
		}
	}
	return 0;
}

QUEUE_TEST(a_url_is_queued_once)
{
	const char *u[] = {"http://a.example/"};
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	cr_assert_eq(enqueue_fmt(seed, "http://a.example/p%d", 0, 10, SV_KIND_PAGE), 10);
	cr_assert_eq(enqueue_fmt(seed, "http://a.example/p%d", 5, 15, SV_KIND_PAGE), 5);
	cr_assert_eq(enqueue_fmt(seed, "http://a.example/", 0, 1, SV_KIND_PAGE), 0, "the seed URL is queued already");
	cr_assert_eq(totals().queued, 16);
}

QUEUE_TEST(per_host_cap_and_release)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it, *more;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 9, SV_KIND_PAGE);
	cr_assert_eq(claim("n1", 100, 60000, &it), 4, "cap of 4 per host");
	cr_assert_eq(claim("n2", 100, 60000, &more), 0);
	sv_queue_items_free(more, 0);
	complete_all("n1", it, 2, SV_OUTCOME_DONE, 2);
	cr_assert_eq(claim("n2", 100, 60000, &more), 2, "two slots freed");
	sv_queue_items_free(it, 4);
	sv_queue_items_free(more, 2);
}

QUEUE_TEST(host_delay_spaces_requests)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	sv_queue_close(q);
	q = open_queue(1, 4, 1000);
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 5, SV_KIND_PAGE);
	cr_assert_eq(claim("n", 10, 60000, &it), 1);
	sv_queue_items_free(it, 1);
	fake_now += 999;
	cr_assert_eq(claim("n", 10, 60000, &it), 0);
	sv_queue_items_free(it, 0);
	fake_now += 1;
	cr_assert_eq(claim("n", 10, 60000, &it), 1);
	sv_queue_items_free(it, 1);
}

QUEUE_TEST(higher_priority_first)
{
	const char *u[] = {"http://low.example/", "http://high.example/"};
	int prio[] = {1, 9};
	sv_queue_item *it;
	add_rows("s", u, prio, 2, NULL);
	cr_assert_eq(claim("n", 1, 60000, &it), 1);
	cr_assert_str_eq(it[0].url, "http://high.example/");
	sv_queue_items_free(it, 1);
}

QUEUE_TEST(each_claimer_takes_its_share_of_a_host)
{
	const char *u[] = {"http://a.example/", "http://b.example/"};
	sv_queue_item *it, *more, *b;
	int64_t seed = add_rows("s", u, NULL, 2, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 9, SV_KIND_PAGE);
	sv_queue_set_node_share(q, 2);
	cr_assert_eq(claim("n1", 100, 60000, &it), 3, "two of a.example's URLs and b.example's one");
	size_t on_a = 0;
	for (size_t i = 0; i < 3; i++)
		on_a += !strcmp(it[i].host, "a.example");
	cr_assert_eq(on_a, 2, "n1 holds two of a.example's four slots");
	cr_assert_eq(claim("n1", 100, 60000, &more), 0, "n1 has its share: nothing more");
	sv_queue_items_free(more, 0);
	cr_assert_eq(claim("n2", 100, 60000, &b), 2, "n2 gets the other two slots");
	cr_assert_str_eq(b[0].host, "a.example");
	cr_assert_eq(claim("n3", 100, 60000, &more), 0, "the host cap still holds");
	sv_queue_items_free(more, 0);
	/* A slot n1 frees is n1's again at once; the host was never put to sleep. */
	for (size_t i = 0; i < 3; i++)
		if (!strcmp(it[i].host, "a.example")) {
			complete_all("n1", &it[i], 1, SV_OUTCOME_DONE, 1);
			break;
		}
	cr_assert_eq(claim("n1", 100, 60000, &more), 1);
	sv_queue_items_free(more, 1);
	sv_queue_items_free(it, 3);
	sv_queue_items_free(b, 2);
}

/* A claim frees the host slots of the transfers that ended, in its own transaction. */
QUEUE_TEST(claim_frees_ended_slots_first)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it, *more, *third, *none;
	size_t n;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 9, SV_KIND_PAGE);
	sv_queue_set_node_share(q, 2);
	cr_assert_eq(claim("n1", 100, 60000, &it), 2, "n1's share of a.example");
	cr_assert_eq(claim("n1", 100, 60000, &none), 0, "both slots held");
	sv_queue_items_free(none, 0);
	/* Both transfers ended (their outcomes not complete yet): the claim gets both slots back. */
	int64_t ended[2] = {it[0].id, it[1].id};
	cr_assert_eq(sv_queue_claim(q, "n1", ended, 2, 100, 60000, &more, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 2, "the freed slots are taken again");
	cr_assert(more[0].id != it[0].id && more[0].id != it[1].id && more[1].id != it[0].id && more[1].id != it[1].id);
	/* With no room to claim (max 0) the slots are still freed. */
	int64_t ended2[2] = {more[0].id, more[1].id};
	cr_assert_eq(sv_queue_claim(q, "n1", ended2, 2, 0, 60000, &none, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 0);
	sv_queue_items_free(none, 0);
	cr_assert_eq(claim("n1", 100, 60000, &third), 2, "the slots freed without a claim");
	/* The earlier URLs are still leased to n1, and complete normally. */
	complete_all("n1", it, 2, SV_OUTCOME_DONE, 2);
	complete_all("n1", more, 2, SV_OUTCOME_DONE, 2);
	complete_all("n1", third, 2, SV_OUTCOME_DONE, 2);
	sv_queue_items_free(it, 2);
	sv_queue_items_free(more, 2);
	sv_queue_items_free(third, 2);
}

QUEUE_TEST(datasets_come_before_pages_of_their_row)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/page%d", 0, 3, SV_KIND_PAGE);
	enqueue_fmt(seed, "http://a.example/data%d.csv", 0, 2, SV_KIND_DATASET);
	cr_assert_eq(claim("n", 3, 60000, &it), 3);
	cr_assert_str_eq(it[0].url, "http://a.example/data0.csv");
	cr_assert_str_eq(it[1].url, "http://a.example/data1.csv");
	cr_assert_str_eq(it[2].url, "http://a.example/", "then pages, oldest first");
	sv_queue_items_free(it, 3);
}

QUEUE_TEST(expired_lease_returns_and_old_holder_is_refused)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *a, *b;
	add_rows("s", u, NULL, 1, NULL);
	cr_assert_eq(claim("n1", 10, 1000, &a), 1);
	fake_now += 1000;
	cr_assert_eq(claim("n2", 10, 1000, &b), 0, "not expired at exactly the lease end");
	sv_queue_items_free(b, 0);
	fake_now += 1;
	cr_assert_eq(claim("n2", 10, 1000, &b), 1);
	cr_assert_eq(a[0].id, b[0].id);
	complete_all("n1", a, 1, SV_OUTCOME_DONE, 0);
	complete_all("n2", b, 1, SV_OUTCOME_DONE, 1);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, 1);
	cr_assert_eq(t.leased, 0);
	sv_queue_items_free(a, 1);
	sv_queue_items_free(b, 1);
}

/* The node that completed a done URL (the holder's name up to its first ':') and the
 * payload's digest are kept with it; other outcomes keep neither. */
QUEUE_TEST(done_urls_keep_node_and_digest)
{
	const char *u[] = {"http://a.example/"};
	char node[128], digest[128];
	sv_queue_item *a, *b;
	size_t acc;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 3, SV_KIND_PAGE);
	cr_assert_eq(claim("w1:100:0", 2, 60000, &a), 2);
	cr_assert_eq(claim("w2:200:1", 2, 60000, &b), 2);
	sv_queue_outcome oa[2] = {{a[0].id, SV_OUTCOME_DONE, 0, NULL, 200, 10, "aa11"},
				  {a[1].id, SV_OUTCOME_DONE, 0, NULL, 200, 20, "bb22"}};
	sv_queue_outcome ob[2] = {{b[0].id, SV_OUTCOME_DONE, 0, NULL, 301, 0, NULL},
				  {b[1].id, SV_OUTCOME_FAILED, 0, "refused", 0, 0, "cc33"}};
	cr_assert_eq(sv_queue_complete(q, "w2:200:1", oa, 2, &acc), 0);
	cr_assert_eq(acc, 0, "outcomes from a node that does not hold the lease are refused");
	cr_assert_eq(sv_queue_complete(q, "w1:100:0", oa, 2, &acc), 0);
	cr_assert_eq(sv_queue_complete(q, "w2:200:1", ob, 2, &acc), 0);
	B->done_by(location, a[0].url, node, digest, sizeof(node));
	cr_assert_str_eq(node, "w1");
	cr_assert_str_eq(digest, "aa11");
	B->done_by(location, a[1].url, node, digest, sizeof(node));
	cr_assert_str_eq(node, "w1");
	cr_assert_str_eq(digest, "bb22");
	B->done_by(location, b[0].url, node, digest, sizeof(node));
	cr_assert_str_eq(node, "w2", "a done URL without a digest still names its node");
	cr_assert_str_eq(digest, "");
	B->done_by(location, b[1].url, node, digest, sizeof(node));
	cr_assert_str_eq(node, "", "a failed URL is held by no node");
	cr_assert_str_eq(digest, "");
	sv_queue_items_free(a, 2);
	sv_queue_items_free(b, 2);
}

static const sv_queue_node_stats *node_row(const sv_queue_node_stats *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].node, name))
			return &rows[i];
	cr_assert_fail("no node %s among %zu", name, n);
	return NULL;
}

/* Per node: done, leased, bytes, done in the last minute by the queue's clock, and the last
 * claim or renew as its heartbeat. */
QUEUE_TEST(node_stats_count_per_node)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_node_stats *rows;
	size_t n;
	sv_queue_item *a, *b, *c;
	sv_queue_close(q);
	q = open_queue(1, 8, 0); /* a cap of 8: two nodes' shares of 4 hold what they claim here */
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 5, SV_KIND_PAGE);
	cr_assert_eq(sv_queue_nodes(q, &rows, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 0, "no node before any claim");
	sv_queue_node_stats_free(rows, n);

	int64_t t0 = fake_now;
	cr_assert_eq(claim("w1:100:0", 3, 600000, &a), 3);
	complete_all("w1:100:0", a, 2, SV_OUTCOME_DONE, 2);
	fake_now += 61000;
	cr_assert_eq(claim("w2:200:0", 1, 600000, &b), 1);
	cr_assert_eq(claim("w2:201:1", 2, 600000, &c), 2);
	complete_all("w2:201:1", c, 1, SV_OUTCOME_DONE, 1);
	fake_now += 1000;
	cr_assert_eq(sv_queue_renew(q, "w1:100:0", &a[2].id, 1, 600000), 0);

	cr_assert_eq(sv_queue_nodes(q, &rows, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 2);
	const sv_queue_node_stats *w1 = node_row(rows, n, "w1"), *w2 = node_row(rows, n, "w2");
	cr_assert_eq(w1->done, 2);
	cr_assert_eq(w1->leased, 1);
	cr_assert_eq(w1->bytes, 200);
	cr_assert_eq(w1->done_last_minute, 0, "done 62 s ago");
	cr_assert_eq(w1->last_seen_ms, fake_now, "the renew is a heartbeat");
	cr_assert_eq(w2->done, 1);
	cr_assert_eq(w2->leased, 2, "leases of both its fetchers");
	cr_assert_eq(w2->bytes, 100);
	cr_assert_eq(w2->done_last_minute, 1);
	cr_assert_eq(w2->last_seen_ms, t0 + 61000, "its last claim");
	sv_queue_node_stats_free(rows, n);
	sv_queue_items_free(a, 3);
	sv_queue_items_free(b, 1);
	sv_queue_items_free(c, 2);
}

/* Nodes (machines) share a host's slots: alone, a node may take the whole
 * cap; with another node seen within a lease, each holds at most its share
 * (the cap divided among them, rounded up); once the other is gone (not
 * seen for a lease), the whole cap again. */
QUEUE_TEST(nodes_share_a_hosts_slots)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *a, *b, *none;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 20, SV_KIND_PAGE);
	cr_assert_eq(claim("a:1:0", 10, 60000, &a), 4, "alone: the whole cap of 4");
	cr_assert_eq(claim("b:1:0", 10, 60000, &none), 0, "the cap is full");
	sv_queue_items_free(none, 0);
	complete_all("a:1:0", a, 4, SV_OUTCOME_DONE, 4);
	sv_queue_items_free(a, 4);
	cr_assert_eq(claim("a:1:0", 10, 60000, &a), 2, "with b seen: a's share, 2 of 4");
	cr_assert_eq(claim("a:2:0", 10, 60000, &none), 0, "another fetcher of a: still a's share");
	sv_queue_items_free(none, 0);
	cr_assert_eq(claim("b:1:0", 10, 60000, &b), 2, "b's share");
	complete_all("a:1:0", a, 2, SV_OUTCOME_DONE, 2);
	complete_all("b:1:0", b, 2, SV_OUTCOME_DONE, 2);
	sv_queue_items_free(a, 2);
	sv_queue_items_free(b, 2);
	fake_now += 61000; /* b not seen for longer than a lease */
	cr_assert_eq(claim("a:1:0", 10, 60000, &a), 4, "b gone: the whole cap again");
	sv_queue_items_free(a, 4);
}

/* The share holds only while hosts are scarce: with as many hosts with
 * queued URLs as the batch asks for, a node takes whole hosts even with
 * other nodes about; with fewer, each node gets its share of each. */
QUEUE_TEST(nodes_take_whole_hosts_when_hosts_are_plenty)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *a, *c;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 5, SV_KIND_PAGE);
	enqueue_fmt(seed, "http://b.example/p%d", 0, 5, SV_KIND_PAGE);
	const char *others[] = {"b:1:0", "c:1:0", "d:1:0"};
	for (int i = 0; i < 3; i++) /* four nodes seen: a share would be 1 slot a host */
		cr_assert_eq(sv_queue_renew(q, others[i], NULL, 0, 60000), 0, "%s", sv_error_last());
	cr_assert_eq(claim("a:1:0", 2, 60000, &a), 2);
	cr_assert_str_eq(a[0].host, a[1].host, "2 hosts with work for a batch of 2: one whole host");
	cr_assert_eq(claim("c:1:0", 3, 60000, &c), 2, "fewer hosts than the batch: 1 slot of each");
	cr_assert_str_neq(c[0].host, c[1].host);
	sv_queue_items_free(a, 2);
	sv_queue_items_free(c, 2);
}

QUEUE_TEST(renew_keeps_the_lease)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *a, *b;
	add_rows("s", u, NULL, 1, NULL);
	cr_assert_eq(claim("n1", 10, 1000, &a), 1);
	fake_now += 800;
	cr_assert_eq(sv_queue_renew(q, "n1", &a[0].id, 1, 1000), 0);
	fake_now += 800;
	cr_assert_eq(claim("n2", 10, 1000, &b), 0);
	sv_queue_items_free(b, 0);
	cr_assert_eq(sv_queue_renew(q, "n2", &a[0].id, 1, 100000), 0);
	fake_now += 201;
	cr_assert_eq(claim("n2", 10, 1000, &b), 1, "another node's renew does not count");
	sv_queue_items_free(a, 1);
	sv_queue_items_free(b, 1);
}

QUEUE_TEST(retry_waits_then_counts_attempts)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *a;
	add_rows("s", u, NULL, 1, NULL);
	cr_assert_eq(claim("n", 10, 60000, &a), 1);
	complete_all("n", a, 1, SV_OUTCOME_RETRY, 1); /* retry at now + 5000 */
	sv_queue_items_free(a, 1);
	fake_now += 4999;
	cr_assert_eq(claim("n", 10, 60000, &a), 0);
	sv_queue_items_free(a, 0);
	fake_now += 1;
	cr_assert_eq(claim("n", 10, 60000, &a), 1);
	cr_assert_eq(a[0].attempts, 1);
	complete_all("n", a, 1, SV_OUTCOME_FAILED, 1);
	sv_queue_items_free(a, 1);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.failed, 1);
	cr_assert_eq(t.queued, 0);
}

QUEUE_TEST(repeated_expiry_fails_the_url)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *a;
	add_rows("s", u, NULL, 1, NULL);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(claim("n", 10, 100, &a), 1, "round %d", i);
		sv_queue_items_free(a, 1);
		fake_now += 101;
	}
	cr_assert_eq(totals().leased, 1, "the fifth lease has run out but is not returned yet");
	cr_assert_eq(claim("n", 10, 100, &a), 0, "the next claim returns it, and fails the URL");
	sv_queue_items_free(a, 0);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.leased, 0);
	cr_assert_eq(t.failed, 1);
	cr_assert_eq(t.queued, 0);
}

QUEUE_TEST(max_urls_caps_a_row)
{
	sv_queue_seed row = {"http://a.example/", 2, 0, 3, -1, "{}", "{}", 0};
	sv_queue_sheet_result r;
	cr_assert_eq(sv_queue_add_sheet(q, "s", "x", 1, &row, 1, &r), 0);
	sv_queue_seed_stats *st, t;
	size_t n;
	cr_assert_eq(sv_queue_stats(q, &st, &n, &t), 0);
	int64_t seed = st[0].seed;
	sv_queue_stats_free(st, n);
	cr_assert_eq(enqueue_fmt(seed, "http://a.example/p%d", 0, 10, SV_KIND_PAGE), 2);
	cr_assert_eq(enqueue_fmt(seed, "http://a.example/q%d", 0, 10, SV_KIND_PAGE), 0);
	cr_assert_eq(totals().queued, 3, "the seed URL and two more");
}

QUEUE_TEST(sheet_reload_is_idempotent_and_tracks_edits)
{
	const char *u[] = {"http://a.example/", "http://b.example/", "http://c.example/"};
	sv_queue_sheet_result r;
	sv_queue_item *it;
	add_rows("s", u, NULL, 3, &r);
	cr_assert_eq(r.added, 3);
	add_rows("s", u, NULL, 3, &r);
	cr_assert_eq(r.added, 0);
	cr_assert_eq(r.unchanged, 3);
	cr_assert_eq(totals().queued, 3, "a second load adds nothing");

	int prio[] = {0, 5};
	add_rows("s", u, prio, 2, &r); /* b's priority changed, c removed */
	cr_assert_eq(r.updated, 1);
	cr_assert_eq(r.unchanged, 1);
	cr_assert_eq(r.paused, 1);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.queued, 2);
	cr_assert_eq(t.paused, 1);
	cr_assert_eq(claim("n", 10, 60000, &it), 2);
	for (size_t i = 0; i < 2; i++)
		cr_assert_str_neq(it[i].url, "http://c.example/", "a removed row is not fetched");
	sv_queue_items_free(it, 2);

	add_rows("s", u, NULL, 3, &r);
	cr_assert_eq(r.paused, 0);
	cr_assert_eq(totals().queued, 1, "a row put back is fetched again");

	char raw[16];
	ssize_t len;
	B->stored_sheet(location, "s", raw, sizeof(raw), &len);
	cr_assert_eq(len, 4, "the queue keeps the sheet as loaded");
	cr_assert_eq(memcmp(raw, "url\n", 4), 0);
}

QUEUE_TEST(stats_per_row)
{
	const char *u[] = {"http://a.example/", "http://b.example/"};
	sv_queue_item *it;
	sv_queue_seed_stats *st, t;
	size_t n;
	int64_t a = add_rows("s", u, NULL, 2, NULL);
	enqueue_fmt(a, "http://a.example/d%d.csv", 0, 3, SV_KIND_DATASET);
	cr_assert_eq(claim("n", 2, 60000, &it), 2);
	complete_all("n", it, 2, SV_OUTCOME_DONE, 2);
	sv_queue_items_free(it, 2);
	cr_assert_eq(sv_queue_stats(q, &st, &n, &t), 0);
	cr_assert_eq(n, 2);
	int64_t done = 0;
	for (size_t i = 0; i < n; i++) {
		if (st[i].seed == a) {
			cr_assert_eq(st[i].datasets, 3);
			cr_assert_eq(st[i].queued + st[i].done, 4);
			cr_assert_eq(st[i].line, 2);
		}
		done += st[i].done;
	}
	cr_assert_eq(t.done, 2);
	cr_assert_eq(done, 2);
	cr_assert_eq(t.bytes, 200);
	sv_queue_stats_free(st, n);
}

QUEUE_TEST(host_state_is_shared)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	sv_queue_host h;
	add_rows("s", u, NULL, 1, NULL);
	cr_assert_eq(sv_queue_host_set_robots(q, "a.example", "User-agent: *\nDisallow: /x\n", 200, 2000), 0);
	cr_assert_eq(sv_queue_host_cooldown(q, "a.example", fake_now + 3000, 1), 0);

	sv_queue *other = open_queue(1, 4, 0); /* another process's view */
	cr_assert_eq(sv_queue_host_get(other, "a.example", &h), 0);
	cr_assert_str_eq(h.robots, "User-agent: *\nDisallow: /x\n");
	cr_assert_eq(h.robots_status, 200);
	cr_assert_eq(h.crawl_delay_ms, 2000);
	cr_assert_eq(h.cooldown_until_ms, fake_now + 3000);
	cr_assert_eq(h.timeouts, 1);
	sv_queue_host_clear(&h);
	sv_queue_close(other);

	cr_assert_eq(claim("n", 10, 60000, &it), 0, "host cooling down");
	sv_queue_items_free(it, 0);
	fake_now += 3000;
	cr_assert_eq(claim("n", 10, 60000, &it), 1);
	sv_queue_items_free(it, 1);
}

/* ---- several processes ---- */

static void child_claimer(int fd, int kill_self)
{
	sv_queue *cq = open_queue(0, 1000, 0);
	sv_queue_item *it;
	size_t n;
	char node[32];
	snprintf(node, sizeof(node), "node-%d", (int)getpid());
	for (;;) {
		if (sv_queue_claim(cq, node, NULL, 0, 37, 60000, &it, &n) != 0)
			_exit(3);
		if (n == 0) {
			sv_queue_items_free(it, 0);
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (write(fd, &it[i].id, sizeof(it[i].id)) != (ssize_t)sizeof(it[i].id))
				_exit(4);
		if (kill_self)
			raise(SIGKILL);
		sv_queue_outcome o[37];
		for (size_t i = 0; i < n; i++)
			o[i] = (sv_queue_outcome){it[i].id, SV_OUTCOME_DONE, 0, NULL, 200, 1, NULL};
		size_t acc;
		if (sv_queue_complete(cq, node, o, n, &acc) != 0 || acc != n)
			_exit(5);
		sv_queue_items_free(it, n);
	}
	sv_queue_close(cq);
	_exit(0);
}

static size_t fill_real_queue(int nurls)
{
	const char *u[] = {"http://h0.example/"};
	sv_queue_close(q);
	q = open_queue(0, 1000, 0);
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	for (int i = 0; i < nurls; i += 500) {
		sv_queue_url batch[500];
		char buf[500][64];
		for (int j = 0; j < 500; j++) {
			snprintf(buf[j], sizeof(buf[j]), "http://h%d.example/p%d", (i + j) % 50, i + j);
			batch[j] = (sv_queue_url){buf[j], seed, 1, SV_KIND_PAGE, NULL, 0, NULL, NULL, NULL, 0};
		}
		cr_assert_eq(sv_queue_enqueue(q, batch, 500, NULL), 0, "%s", sv_error_last());
	}
	return (size_t)nurls + 1;
}

QUEUE_TEST(four_processes_never_share_a_url)
{
	size_t total = fill_real_queue(4000);
	int fds[2];
	pid_t pids[4];
	cr_assert_eq(pipe(fds), 0);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0) {
			close(fds[0]);
			child_claimer(fds[1], 0);
		}
	}
	close(fds[1]);
	unsigned char *seen = calloc(total + 2, 1);
	int64_t id;
	size_t count = 0;
	while (read(fds[0], &id, sizeof(id)) == (ssize_t)sizeof(id)) {
		cr_assert(id > 0 && (size_t)id <= total + 1);
		cr_assert_eq(seen[id], 0, "URL %lld handed out twice", (long long)id);
		seen[id] = 1;
		count++;
	}
	for (int i = 0; i < 4; i++) {
		int status;
		waitpid(pids[i], &status, 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "claimer %d failed", i);
	}
	cr_assert_eq(count, total);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, (int64_t)total);
	cr_assert_eq(t.queued + t.leased, 0);
	free(seen);
}

QUEUE_TEST(a_killed_claimer_loses_nothing)
{
	size_t total = fill_real_queue(500);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_claimer(fds[1], 1); /* claims a batch, then SIGKILLs itself */
	}
	close(fds[1]);
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	int64_t id;
	size_t lost = 0;
	while (read(fds[0], &id, sizeof(id)) == (ssize_t)sizeof(id))
		lost++;
	cr_assert_gt(lost, 0);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.leased, (int64_t)lost);

	/* Their leases run out; then they come back. */
	sv_queue_close(q);
	fake_now = sv_now_ms() + 60001;
	q = open_queue(1, 1000, 0);
	size_t done = 0;
	for (;;) {
		sv_queue_item *it;
		size_t n = claim("survivor", 100, 60000, &it);
		if (n == 0) {
			sv_queue_items_free(it, 0);
			break;
		}
		complete_all("survivor", it, n, SV_OUTCOME_DONE, n);
		sv_queue_items_free(it, n);
		done += n;
	}
	cr_assert_eq(done, total, "every URL, the killed claimer's included, is done once");
	t = totals();
	cr_assert_eq(t.done, (int64_t)total);
}

/* The capture records of these outcomes are kept by the capture index now (test_index.c). */
QUEUE_TEST(outcomes_are_counted_by_state)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 3, SV_KIND_PAGE);
	cr_assert_eq(claim("n", 4, 60000, &it), 4);
	sv_queue_outcome o[4] = {
		{it[0].id, SV_OUTCOME_DONE, 0, NULL, 404, 10, NULL},
		{it[1].id, SV_OUTCOME_FAILED, 0, "connection refused", 0, 0, NULL},
		{it[2].id, SV_OUTCOME_SKIPPED, 0, "robots.txt", 0, 0, NULL},
		{it[3].id, SV_OUTCOME_RETRY, fake_now, "timeout", 0, 0, NULL},
	};
	size_t acc;
	cr_assert_eq(sv_queue_complete(q, "n", o, 4, &acc), 0, "%s", sv_error_last());
	cr_assert_eq(acc, 4);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, 1);
	cr_assert_eq(t.failed, 1);
	cr_assert_eq(t.skipped, 1);
	cr_assert_eq(t.queued, 1);
	sv_queue_items_free(it, 4);
}

/* Each kind comes back from a claim as it was queued. */
QUEUE_TEST(kinds_come_back_as_queued)
{
	static const sv_kind kinds[] = {SV_KIND_PAGE, SV_KIND_DATASET, SV_KIND_REQUISITE, SV_KIND_ROBOTS,
					SV_KIND_SITEMAP};
	const char *u[] = {"http://a.example/"};
	char urls[COUNT(kinds)][64];
	sv_queue_url batch[COUNT(kinds)];
	sv_queue_item *it;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	for (size_t i = 0; i < COUNT(kinds); i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://k%zu.example/", i);
		batch[i] = (sv_queue_url){urls[i], seed, 1, kinds[i], NULL, 0, NULL, NULL, NULL, 0};
	}
	cr_assert_eq(sv_queue_enqueue(q, batch, COUNT(kinds), NULL), 0, "%s", sv_error_last());
	size_t n = claim("n", 100, 60000, &it);
	cr_assert_eq(n, COUNT(kinds) + 1);
	for (size_t i = 0; i < n; i++) {
		sv_kind want = SV_KIND_PAGE; /* the seed row's own URL */
		for (size_t k = 0; k < COUNT(kinds); k++)
			if (!strcmp(it[i].url, urls[k]))
				want = kinds[k];
		cr_assert_eq(it[i].kind, want, "%s: %s", it[i].url, sv_kind_name(it[i].kind));
	}
	sv_queue_items_free(it, n);
}

/* ---- which backend a location chooses ---- */

/* Strings in place, not pointers: each test runs in a process of its own. */
typedef struct {
	char location[64]; /* %s: a fresh folder */
	int rc;            /* what sv_queue_open returns */
	char file[8];      /* opened: the file it made in the folder */
	char message[64];  /* refused: part of the message */
} open_case;

static open_case OPEN_CASES[] = {
	{"sqlite:%s/a.db", 0, "a.db", ""},
	{"%s/b.db", 0, "b.db", ""},
	/* libpq refuses the parameter x before connecting: bad usage. */
	{"postgresql://salvage:secret@127.0.0.1:1/crawl?x=%s", SV_EINVAL, "",
	 "queue 'postgresql://***@127.0.0.1:1/crawl?x="},
	/* Nothing listens on port 1 of loopback. */
	{"postgresql://127.0.0.1:1/%s", SV_EUNREACHABLE, "", "queue 'postgresql://127.0.0.1:1/"},
	{"postgres://salvage:p%%40secret@127.0.0.1:1/%s", SV_EUNREACHABLE, "", "queue 'postgres://***@127.0.0.1:1/"},
	{"mysql://db.example/%s", SV_EINVAL, "", "unsupported queue location 'mysql://db.example/"},
	{"%s/odd://name", SV_EINVAL, "", "unsupported queue location"},
};

ParameterizedTestParameters(queue_open, chooses_by_location)
{
	return cr_make_param_array(open_case, OPEN_CASES, COUNT(OPEN_CASES));
}

ParameterizedTest(const open_case *c, queue_open, chooses_by_location)
{
	char d[4096], loc[8400], path[8400];
	sv_queue *h = (sv_queue *)1;
	struct stat st;
	th_tempdir(d, sizeof(d));
	snprintf(loc, sizeof(loc), c->location, d);
	int rc = sv_queue_open(&h, loc, NULL);
	cr_assert_eq(rc, c->rc, "%s: %d (%s)", loc, rc, rc ? sv_error_last() : "opened");
	if (c->file[0]) {
		cr_assert_not_null(h);
		snprintf(path, sizeof(path), "%s/%s", d, c->file);
		cr_assert_eq(stat(path, &st), 0, "%s: no %s", loc, path);
		sv_queue_close(h);
	} else {
		cr_assert_null(h);
		cr_assert(strstr(sv_error_last(), c->message), "%s: %s", loc, sv_error_last());
		cr_assert_null(strstr(sv_error_last(), "secret"), "a password in a message: %s", sv_error_last());
		cr_assert_eq(th_count_entries(d), 0, "%s: a refused location made a file", loc);
	}
	th_rmrf(d);
}

/* Where a seed lands is kept once per row, in order, and status shows the last. */
QUEUE_TEST(seed_landings)
{
	const char *u[] = {"http://a.example/", "http://b.example/"};
	int64_t seed = add_rows("s", u, NULL, 2, NULL);
	char **l;
	size_t n;
	cr_assert_eq(sv_queue_landings(q, seed, &l, &n), 0);
	cr_assert_eq(n, 0);
	sv_queue_landings_free(l, n);
	cr_assert_eq(sv_queue_landing_add(q, seed, "https://a.example/"), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_landing_add(q, seed, "https://www.a.example/"), 0);
	cr_assert_eq(sv_queue_landing_add(q, seed, "https://a.example/"), 0); /* again: kept once */
	cr_assert_eq(sv_queue_landings(q, seed, &l, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(l[0], "https://a.example/");
	cr_assert_str_eq(l[1], "https://www.a.example/");
	sv_queue_landings_free(l, n);
	sv_queue_seed_stats *st, total;
	cr_assert_eq(sv_queue_stats(q, &st, &n, &total), 0);
	for (size_t i = 0; i < n; i++)
		if (st[i].seed == seed)
			cr_assert_str_eq(st[i].landing, "https://www.a.example/");
		else
			cr_assert_null(st[i].landing);
	sv_queue_stats_free(st, n);
}

/* rescued counts 2xx answers only, robots.txt and sitemaps aside; redirects apart. */
QUEUE_TEST(rescued_and_redirects_counted)
{
	const char *u[] = {"http://a.example/"};
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/sitemap%d.xml", 0, 1, SV_KIND_SITEMAP);
	sv_queue_item *items;
	size_t n = claim("n1", 10, 60000, &items);
	cr_assert_eq(n, 2);
	sv_queue_outcome o[2];
	for (size_t i = 0; i < n; i++)
		o[i] = (sv_queue_outcome){items[i].id, SV_OUTCOME_DONE, 0, NULL,
					  items[i].kind == SV_KIND_SITEMAP ? 200 : 301, 10, NULL};
	cr_assert_eq(sv_queue_complete(q, "n1", o, n, NULL), 0, "%s", sv_error_last());
	sv_queue_items_free(items, n);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, 2);
	cr_assert_eq(t.rescued, 0);
	cr_assert_eq(t.redirects, 1);
	enqueue_fmt(seed, "http://a.example/p%d.html", 0, 1, SV_KIND_PAGE);
	n = claim("n1", 10, 60000, &items);
	cr_assert_eq(n, 1);
	complete_all("n1", items, n, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(items, n);
	cr_assert_eq(totals().rescued, 1);
}

QUEUE_TEST(robots_first_leases_one_url_of_an_unknown_host)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 5, SV_KIND_PAGE);
	sv_queue_set_robots_first(q, 1);
	/* Two fetchers of one node (several nodes would share the cap). */
	cr_assert_eq(claim("n:1:0", 10, 60000, &it), 1, "robots.txt unknown: one URL, to ask for it");
	sv_queue_item *none;
	cr_assert_eq(claim("n:2:0", 10, 60000, &none), 0, "and no other while it is out");
	sv_queue_items_free(none, 0);
	size_t freed;
	cr_assert_eq(sv_queue_claim(q, "n:1:0", &it[0].id, 1, 10, 60000, &none, &freed), 0);
	cr_assert_eq(freed, 0, "nor once its transfer ended, while its rules are not kept");
	sv_queue_items_free(none, 0);
	cr_assert_eq(sv_queue_host_set_robots(q, "a.example", "User-agent: *\n", 200, -1), 0);
	sv_queue_item *more;
	cr_assert_eq(claim("n:2:0", 10, 60000, &more), 4, "rules known: up to the host cap");
	sv_queue_items_free(more, 4);
	sv_queue_items_free(it, 1);
}

QUEUE_TEST(robots_delay_holds_from_the_robots_fetch)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	int delay;
	add_rows("s", u, NULL, 1, NULL);
	cr_assert_eq(sv_queue_host_delay(q, "a.example", 1500, &delay), 0);
	cr_assert_eq(delay, 1500);
	cr_assert_eq(claim("n", 10, 60000, &it), 0, "robots.txt was a request: the next waits");
	sv_queue_items_free(it, 0);
	fake_now += 1500;
	cr_assert_eq(claim("n", 10, 60000, &it), 1);
	sv_queue_items_free(it, 1);
}

static int count_waiting(void *ctx, const char *host, const char *reason, int64_t urls)
{
	cr_assert_str_eq(host, "a.example");
	cr_assert_str_eq(reason, "robots.txt: HTTP 503");
	*(int64_t *)ctx += urls;
	return 0;
}

QUEUE_TEST(a_failed_robots_txt_makes_urls_wait_not_skip)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	sv_queue_host h;
	int64_t queued, leased, waiting = 0;
	size_t hosts;
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	enqueue_fmt(seed, "http://a.example/p%d", 0, 2, SV_KIND_PAGE);
	cr_assert_eq(sv_queue_host_robots_failed(q, "a.example", "robots.txt: HTTP 503", fake_now + 1000, 0), 0);
	cr_assert_eq(claim("n", 10, 60000, &it), 0, "cooling down until the next try");
	sv_queue_items_free(it, 0);
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
	cr_assert_eq(queued, 3, "waiting URLs keep a crawl going");
	cr_assert_eq(sv_queue_host_robots_failed(q, "a.example", "robots.txt: HTTP 503", fake_now + 2000, 1), 0);
	cr_assert_eq(sv_queue_host_get(q, "a.example", &h), 0);
	cr_assert_eq(h.robots_tries, 2);
	cr_assert_eq(h.robots_held, 1);
	cr_assert_str_eq(h.robots_error, "robots.txt: HTTP 503");
	sv_queue_host_clear(&h);
	fake_now += 5000;
	cr_assert_eq(claim("n", 10, 60000, &it), 0, "given up for this run");
	sv_queue_items_free(it, 0);
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
	cr_assert_eq(queued, 0, "a host given up does not keep the crawl from ending");
	cr_assert_eq(sv_queue_robots_waiting(q, count_waiting, &waiting), 0);
	cr_assert_eq(waiting, 3);
	cr_assert_eq(totals().queued, 3, "not skipped, not failed");
	cr_assert_eq(totals().skipped + totals().failed, 0);

	cr_assert_eq(sv_queue_robots_retry(q, &hosts), 0, "the next run");
	cr_assert_eq(hosts, 1);
	cr_assert_eq(claim("n", 10, 60000, &it), 3, "the host is handed out again");
	sv_queue_items_free(it, 3);
	cr_assert_eq(sv_queue_host_set_robots(q, "a.example", "", 200, -1), 0);
	cr_assert_eq(sv_queue_host_get(q, "a.example", &h), 0);
	cr_assert_eq(h.robots_tries + h.robots_held, 0, "rules known: the failures are over");
	cr_assert_null(h.robots_error);
	sv_queue_host_clear(&h);
}

static void sql(const char *path, const char *text)
{
	sqlite3 *db;
	char *err = NULL;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, text, NULL, NULL, &err), SQLITE_OK, "%s", err ? err : "");
	sqlite3_close(db);
}

static char *schema_of(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	char *version = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return version;
}

/* A queue.db of schema 3 (no robots.txt failures) is migrated in place; the
 * rules it kept for an unreachable robots.txt are dropped, and the URLs they
 * skipped queued again. */
Test(queue_sqlite, schema_3_is_migrated, .init = setup, .fini = teardown)
{
	const char *u[] = {"http://a.example/", "http://b.example/"};
	char path[4300], *version = NULL;
	sv_queue_item *it;
	sv_queue_host h;
	B = &BACKENDS[0];
	B->fresh(location, sizeof(location), dir);
	snprintf(path, sizeof(path), "%s", location + strlen("sqlite:"));
	q = open_queue(1, 4, 0);
	add_rows("s", u, NULL, 2, NULL);
	cr_assert_eq(claim("n", 10, 60000, &it), 2);
	sv_queue_outcome o[2] = {{it[0].id, SV_OUTCOME_SKIPPED, 0, "disallowed by robots.txt", 0, 0, NULL},
				 {it[1].id, SV_OUTCOME_SKIPPED, 0, "disallowed by robots.txt", 0, 0, NULL}};
	size_t acc;
	cr_assert_eq(sv_queue_complete(q, "n", o, 2, &acc), 0);
	sv_queue_items_free(it, 2);
	cr_assert_eq(sv_queue_host_set_robots(q, "a.example", "", 503, -1), 0);
	cr_assert_eq(sv_queue_host_set_robots(q, "b.example", "User-agent: *\nDisallow: /\n", 200, -1), 0);
	sv_queue_close(q);
	q = NULL;
	sql(path, "ALTER TABLE urls DROP COLUMN meta; ALTER TABLE seeds DROP COLUMN catalog_pass;"
		  "ALTER TABLE seeds DROP COLUMN catalog_done_pass; DROP TABLE datasets; DROP TABLE dataset_urls;"
		  "ALTER TABLE hosts DROP COLUMN robots_tries; ALTER TABLE hosts DROP COLUMN robots_error;"
		  "ALTER TABLE hosts DROP COLUMN robots_held; ALTER TABLE hosts DROP COLUMN robots_claim_ms;"
		  "DROP INDEX urls_done_node; ALTER TABLE urls DROP COLUMN done_node; ALTER TABLE urls DROP COLUMN digest;"
		  "DROP TABLE nodes; UPDATE meta SET value = '3' WHERE key = 'schema';");

	q = open_queue(1, 4, 0);
	cr_assert_eq(sv_queue_host_get(q, "a.example", &h), 0, "%s", sv_error_last());
	cr_assert_eq(h.robots_at_ms, 0, "a 503 is not kept as rules");
	cr_assert_eq(h.robots_tries, 0);
	sv_queue_host_clear(&h);
	cr_assert_eq(sv_queue_host_get(q, "b.example", &h), 0);
	cr_assert_str_eq(h.robots, "User-agent: *\nDisallow: /\n", "rules fetched are kept");
	sv_queue_host_clear(&h);
	cr_assert_eq(totals().queued, 1, "a.example's skipped URL is queued again");
	cr_assert_eq(totals().skipped, 1, "b.example's stays skipped");
	cr_assert_eq(claim("n", 10, 60000, &it), 1);
	cr_assert_str_eq(it[0].url, "http://a.example/");
	sv_queue_items_free(it, 1);

	version = schema_of(path);
	cr_assert_str_eq(version, "6");
	free(version);
}

/* A queue.db of schema 4 (no node or digest per done URL, no heartbeats) is migrated in
 * place: what it had done stays done, and what is done after keeps its node and digest. */
Test(queue_sqlite, schema_4_is_migrated, .init = setup, .fini = teardown)
{
	const char *u[] = {"http://a.example/", "http://b.example/"};
	char path[4300], node[64], digest[64], *version;
	sv_queue_item *it;
	sv_queue_node_stats *rows;
	size_t n;
	B = &BACKENDS[0];
	B->fresh(location, sizeof(location), dir);
	snprintf(path, sizeof(path), "%s", location + strlen("sqlite:"));
	q = open_queue(1, 4, 0);
	add_rows("s", u, NULL, 2, NULL);
	cr_assert_eq(claim("old:1:0", 1, 60000, &it), 1);
	complete_all("old:1:0", it, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(it, 1);
	sv_queue_close(q);
	q = NULL;
	sql(path, "ALTER TABLE urls DROP COLUMN meta; ALTER TABLE seeds DROP COLUMN catalog_pass;"
		  "ALTER TABLE seeds DROP COLUMN catalog_done_pass; DROP TABLE datasets; DROP TABLE dataset_urls;"
		  "DROP INDEX urls_done_node; ALTER TABLE urls DROP COLUMN done_node; ALTER TABLE urls DROP COLUMN digest;"
		  "DROP TABLE nodes; UPDATE meta SET value = '4' WHERE key = 'schema';");

	q = open_queue(1, 4, 0);
	version = schema_of(path);
	cr_assert_str_eq(version, "6");
	free(version);
	cr_assert_eq(totals().done, 1, "what schema 4 had done stays done");
	cr_assert_eq(sv_queue_nodes(q, &rows, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 0, "schema 4 named no node");
	sv_queue_node_stats_free(rows, n);
	cr_assert_eq(claim("w9:1:0", 1, 60000, &it), 1);
	sv_queue_outcome o = {it[0].id, SV_OUTCOME_DONE, 0, NULL, 200, 5, "dd44"};
	cr_assert_eq(sv_queue_complete(q, "w9:1:0", &o, 1, NULL), 0);
	B->done_by(location, it[0].url, node, digest, sizeof(node));
	cr_assert_str_eq(node, "w9");
	cr_assert_str_eq(digest, "dd44");
	sv_queue_items_free(it, 1);
	cr_assert_eq(sv_queue_nodes(q, &rows, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(rows[0].done, 1);
	sv_queue_node_stats_free(rows, n);
	sv_queue_close(q);
	q = NULL;
	q = open_queue(1, 4, 0);
	version = schema_of(path);
	cr_assert_str_eq(version, "6", "opening again changes nothing");
	free(version);
}

/* ---- what only a PostgreSQL server can do wrong ---- */

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1000 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static pid_t proxy; /* a test's TCP proxy (proxy_start), stopped whatever the test's end */
static char own_cluster[4300]; /* a test's own cluster, stopped likewise */

static void pg_setup(void)
{
	setup();
	B = &BACKENDS[1];
}

static void pg_teardown(void)
{
	if (proxy > 0) {
		kill(-proxy, SIGKILL);
		waitpid(proxy, NULL, 0);
		proxy = 0;
	}
	if (own_cluster[0])
		pg_script("stop", own_cluster, NULL, NULL, 0);
	teardown();
}

TestSuite(queue_postgres, .init = pg_setup, .fini = pg_teardown, .timeout = 180);

/* Openers of an empty database, released at once: each makes or finds the schema. */
Test(queue_postgres, openers_migrate_at_once)
{
	int go[2];
	pid_t pids[4];
	pg_newdb(location, sizeof(location));
	cr_assert_eq(pipe(go), 0);
	for (int i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			char c;
			sv_queue *h;
			sv_queue_options o = SV_QUEUE_OPTIONS_INIT;
			close(go[1]);
			if (read(go[0], &c, 1) != 0)
				_exit(2);
			_exit(sv_queue_open(&h, location, &o) == 0 ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]); /* all four start now */
	for (int i = 0; i < 4; i++) {
		int status;
		waitpid(pids[i], &status, 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opener %d failed", i);
	}
	PGconn *c = pg_admin(location);
	cr_assert_eq(pg_value(c, "SELECT value::int FROM salvage.meta WHERE key = 'schema'"), 4);
	cr_assert_eq(pg_value(c, "SELECT count(*) FROM salvage.meta"), 1, "the version is written once");
	PQfinish(c);
	q = open_queue(1, 4, 0);
	const char *u[] = {"http://a.example/"};
	add_rows("s", u, NULL, 1, NULL);
	cr_assert_eq(totals().queued, 1);
}

/* Four processes claim, hold and complete while the test reads the leases in the database. */
Test(queue_postgres, claims_of_four_processes_keep_the_cap)
{
	enum { CAP = 3, HOSTS = 5, URLS = 600 };
	const char *u[] = {"http://h0.example/"};
	int fds[2];
	pid_t pids[4];
	pg_newdb(location, sizeof(location));
	q = open_queue(0, CAP, 0);
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	for (int i = 0; i < URLS; i += 100) {
		sv_queue_url batch[100];
		char buf[100][64];
		for (int j = 0; j < 100; j++) {
			snprintf(buf[j], sizeof(buf[j]), "http://h%d.example/p%d", (i + j) % HOSTS, i + j);
			batch[j] = (sv_queue_url){buf[j], seed, 1, SV_KIND_PAGE, NULL, 0, NULL, NULL, NULL, 0};
		}
		cr_assert_eq(sv_queue_enqueue(q, batch, 100, NULL), 0, "%s", sv_error_last());
	}
	cr_assert_eq(pipe(fds), 0);
	for (int i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			close(fds[0]);
			sv_queue *cq = open_queue(0, CAP, 0);
			char node[32];
			snprintf(node, sizeof(node), "node-%d", i);
			for (;;) {
				sv_queue_item *it;
				size_t n, acc;
				if (sv_queue_claim(cq, node, NULL, 0, 4, 60000, &it, &n) != 0)
					_exit(3);
				if (n == 0) {
					sv_queue_items_free(it, 0);
					int64_t queued, leased;
					if (sv_queue_pending(cq, &queued, &leased) != 0)
						_exit(6);
					if (queued == 0)
						break;
					usleep(2000);
					continue;
				}
				for (size_t k = 0; k < n; k++)
					if (write(fds[1], &it[k].id, sizeof(it[k].id)) != (ssize_t)sizeof(it[k].id))
						_exit(4);
				usleep(3000); /* hold the leases for a while */
				sv_queue_outcome o[4];
				for (size_t k = 0; k < n; k++)
					o[k] = (sv_queue_outcome){it[k].id, SV_OUTCOME_DONE, 0, NULL, 200, 1, NULL};
				if (sv_queue_complete(cq, node, o, n, &acc) != 0 || acc != n)
					_exit(5);
				sv_queue_items_free(it, n);
			}
			sv_queue_close(cq);
			_exit(0);
		}
	}
	close(fds[1]);
	/* While they run: no host ever has more than CAP leases holding a slot, nor counts more. */
	PGconn *c = pg_admin(location);
	int64_t most = 0, samples = 0;
	for (int running = 4; running > 0;) {
		int64_t slots = pg_value(c, "SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM salvage.work"
					    " WHERE state = 1 AND slot GROUP BY host) t");
		int64_t inflight = pg_value(c, "SELECT max(inflight) FROM salvage.hosts");
		cr_assert_leq(slots, CAP, "a host with %lld leases", (long long)slots);
		cr_assert_leq(inflight, CAP, "a host counting %lld connections", (long long)inflight);
		most = slots > most ? slots : most;
		samples += slots > 0;
		running = 0;
		for (int i = 0; i < 4; i++)
			if (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == 0)
				running++;
	}
	PQfinish(c);
	/* (children were reaped above; their exit codes are checked through what they wrote) */
	unsigned char *seen = calloc(URLS + 2, 1);
	int64_t id;
	size_t count = 0;
	while (read(fds[0], &id, sizeof(id)) == (ssize_t)sizeof(id)) {
		cr_assert(id > 0 && id <= URLS + 1, "id %lld", (long long)id);
		cr_assert_eq(seen[id], 0, "URL %lld leased twice", (long long)id);
		seen[id] = 1;
		count++;
	}
	free(seen);
	cr_assert_eq(count, URLS + 1, "every URL leased once");
	cr_assert_gt(samples, 0, "the test saw leases held");
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, URLS + 1);
	cr_assert_eq(t.queued + t.leased, 0);
}

static sv_queue *open_with_timeout(const char *loc, int timeout_ms)
{
	sv_queue_options o = SV_QUEUE_OPTIONS_INIT;
	sv_queue *h;
	o.busy_timeout_ms = timeout_ms;
	cr_assert_eq(sv_queue_open(&h, loc, &o), 0, "%s", sv_error_last());
	return h;
}

/* A server of its own, stopped and started again: the handle says so in time, then works again. */
Test(queue_postgres, a_stopped_server_is_unreachable_then_back)
{
	char d[4300], env[4400], loc[512];
	int64_t queued, leased;
	struct timespec t0;
	snprintf(d, sizeof(d), "%s/pg", dir);
	snprintf(own_cluster, sizeof(own_cluster), "%s", d);
	chmod(dir, 0755); /* for the cluster's owner */
	char me[32];
	snprintf(me, sizeof(me), "%ld", (long)getpid()); /* this cluster ends with this test */
	setenv("SV_SERVER_OWNER_PID", me, 1);
	cr_assert_eq(pg_script("start", d, NULL, NULL, 0), 0, "postgres.sh start failed");
	snprintf(env, sizeof(env), "%s/pg.env", d);
	th_load_env(env);
	snprintf(loc, sizeof(loc), "%s", getenv("SV_PG_URL"));
	snprintf(location, sizeof(location), "%s", loc);
	q = open_with_timeout(loc, 3000);
	const char *u[] = {"http://a.example/"};
	add_rows("s", u, NULL, 1, NULL);

	cr_assert_eq(pg_script("stop", d, NULL, NULL, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = sv_queue_pending(q, &queued, &leased);
	cr_assert_eq(rc, SV_EUNREACHABLE, "%d: %s", rc, sv_error_last());
	cr_assert_lt(elapsed_ms(&t0), 6000, "took %.0f ms", elapsed_ms(&t0));
	cr_assert(strstr(sv_error_last(), "cannot be reached"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "127.0.0.1"), "the location is named: %s", sv_error_last());
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), SV_EUNREACHABLE, "still down: %s", sv_error_last());

	/* The first start's watcher (sv_watch_owner) polls each second and, seeing the
	 * server stopped, stops it again: let it go before the second start. */
	usleep(2500000);
	cr_assert_eq(pg_script("start", d, NULL, NULL, 0), 0, "postgres.sh start again failed");
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0, "the same handle works again: %s", sv_error_last());
	cr_assert_eq(queued, 1);
}

/* A TCP proxy to the shared server in a process group of its own: SIGSTOP makes it silent. */
static pid_t proxy_start(int upstream_port, int *port)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(ls, 16), 0);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid > 0) {
		close(ls);
		return pid;
	}
	setpgid(0, 0);
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons((uint16_t)upstream_port),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			int s = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(s, (struct sockaddr *)&up, sizeof(up)) != 0)
				_exit(1);
			struct pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
			char buf[65536];
			for (;;) {
				if (poll(p, 2, -1) < 0)
					_exit(1);
				for (int i = 0; i < 2; i++) {
					if (!p[i].revents)
						continue;
					ssize_t n = read(p[i].fd, buf, sizeof(buf));
					if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n)
						_exit(0);
				}
			}
		}
		close(c);
	}
}

/* The shared cluster's admin password, into pw. */
static void admin_password(char *pw, size_t cap)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/admin.password", pg_ready());
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(pw, (int)cap, f));
	fclose(f);
	pw[strcspn(pw, "\n")] = '\0';
}

/* A server that stops answering (the link goes silent) gives SV_EUNREACHABLE in time, not a hang. */
Test(queue_postgres, a_silent_server_is_unreachable_in_time)
{
	char url[512], db[4200], pw[256];
	int port;
	int64_t queued, leased;
	struct timespec t0;
	pg_newdb(db, sizeof(db));
	admin_password(pw, sizeof(pw));
	proxy = proxy_start(atoi(getenv("SV_PG_PORT")), &port);
	/* The password in the URL: the passfile names the server's own port, not the proxy's. */
	snprintf(url, sizeof(url), "postgresql://salvage_admin:%s@127.0.0.1:%d%s", pw, port, strrchr(db, '/'));
	snprintf(location, sizeof(location), "%s", url);
	q = open_with_timeout(url, 2000);
	const char *u[] = {"http://a.example/"};
	add_rows("s", u, NULL, 1, NULL);

	cr_assert_eq(kill(-proxy, SIGSTOP), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sv_queue_item *it;
	size_t n;
	int rc = sv_queue_claim(q, "n", NULL, 0, 10, 60000, &it, &n);
	double took = elapsed_ms(&t0);
	cr_assert_eq(rc, SV_EUNREACHABLE, "%d: %s", rc, sv_error_last());
	cr_assert_geq(took, 1500, "gave up after %.0f ms", took);
	cr_assert_lt(took, 5000, "waited %.0f ms for a silent server", took);
	cr_assert_null(strstr(sv_error_last(), pw), "%s", sv_error_last());
	/* Still silent: connecting again gives up in time too. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), SV_EUNREACHABLE);
	cr_assert_lt(elapsed_ms(&t0), 5000);

	cr_assert_eq(kill(-proxy, SIGCONT), 0);
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0, "works again: %s", sv_error_last());
	cr_assert_eq(queued + leased, 1, "the claim that timed out left the URL queued or leased, never lost");
}

/* Passwords in a location never reach a message. */
Test(queue_postgres, a_password_is_never_shown)
{
	char loc[512], pw[256];
	sv_queue *h = NULL;
	admin_password(pw, sizeof(pw));
	const char *port = getenv("SV_PG_PORT");

	snprintf(loc, sizeof(loc), "postgresql://salvage_admin:wrong-secret-pw@127.0.0.1:%s/salvage", port);
	int rc = sv_queue_open(&h, loc, NULL);
	cr_assert_eq(rc, SV_EUNREACHABLE, "%d: %s", rc, sv_error_last());
	cr_assert_null(strstr(sv_error_last(), "wrong-secret-pw"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "postgresql://***@127.0.0.1:"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "password authentication failed"), "%s", sv_error_last());

	/* The right password, a database that is not there. */
	snprintf(loc, sizeof(loc), "postgresql://salvage_admin:%s@127.0.0.1:%s/nosuchdb", pw, port);
	rc = sv_queue_open(&h, loc, NULL);
	cr_assert_neq(rc, 0);
	cr_assert_null(strstr(sv_error_last(), pw), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "nosuchdb"), "%s", sv_error_last());

	/* The right password in a parameter libpq refuses. */
	snprintf(loc, sizeof(loc), "postgresql://127.0.0.1:%s/salvage?password=%s&bogus=1", port, pw);
	rc = sv_queue_open(&h, loc, NULL);
	cr_assert_eq(rc, SV_EINVAL, "%d: %s", rc, sv_error_last());
	cr_assert_null(strstr(sv_error_last(), pw), "%s", sv_error_last());
}

/* wait() returns as soon as another handle queues work, and sleeps its timeout otherwise. */
Test(queue_postgres, wait_wakes_on_new_work)
{
	const char *u[] = {"http://a.example/"};
	struct timespec t0;
	pg_newdb(location, sizeof(location));
	q = open_queue(0, 4, 0);
	int64_t seed = add_rows("s", u, NULL, 1, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(sv_queue_wait(q, 300), 0, "%s", sv_error_last());
	cr_assert_geq(elapsed_ms(&t0), 280, "nothing new: the whole timeout");
	enqueue_fmt(seed, "http://a.example/own%d", 0, 1, SV_KIND_PAGE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(sv_queue_wait(q, 300), 0);
	cr_assert_geq(elapsed_ms(&t0), 280, "its own enqueue does not wake a handle");

	pid_t pid = fork();
	if (pid == 0) {
		usleep(400000);
		sv_queue *other = open_queue(0, 4, 0);
		sv_queue_url one = {"http://a.example/new", seed, 1, SV_KIND_PAGE, NULL, 0, NULL, NULL, NULL, 0};
		size_t added;
		_exit(sv_queue_enqueue(other, &one, 1, &added) == 0 && added == 1 ? 0 : 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(sv_queue_wait(q, 20000), 0, "%s", sv_error_last());
	double took = elapsed_ms(&t0);
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_lt(took, 10000, "woken by the other handle's enqueue, not the timeout (%.0f ms)", took);
	cr_assert_geq(took, 300);
}

/* On the server's clock (no test clock), a claim looks for expired leases at
 * most once a second per connection: an expired lease still comes back to
 * the next claimer, at most about a second after it ended, never before. */
Test(queue_postgres, expired_leases_come_back_on_the_real_clock)
{
	const char *u[] = {"http://a.example/"};
	sv_queue_item *it;
	struct timespec t0;
	pg_newdb(location, sizeof(location));
	q = open_queue(0, 4, 0);
	add_rows("s", u, NULL, 1, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(claim("n1:1:0", 10, 1500, &it), 1);
	sv_queue_items_free(it, 1);
	double back = -1;
	while (elapsed_ms(&t0) < 6000) {
		size_t n = claim("n2:1:0", 10, 60000, &it);
		sv_queue_items_free(it, n);
		if (n == 1) {
			back = elapsed_ms(&t0);
			break;
		}
		usleep(50000);
	}
	cr_assert_geq(back, 1500, "the lease came back before it ended (%.0f ms) or never", back);
	cr_assert_lt(back, 1500 + 1000 + 500, "the lease came back %.0f ms after it was taken", back);
}

/* ---- crawl settings and worker roles ---- */

/* The coordinator's politeness, kept in the queue for every worker and read by a new handle. */
QUEUE_TEST(crawl_settings_are_kept)
{
	sv_queue_crawl_settings s = {7, 7};
	int found = 1;
	cr_assert_eq(sv_queue_crawl_settings_get(q, &s, &found), 0, "%s", sv_error_last());
	cr_assert_eq(found, 0, "a new queue holds none");
	cr_assert_eq(s.host_connections, 7, "untouched when none");
	cr_assert_eq(sv_queue_crawl_settings_put(q, &(sv_queue_crawl_settings){2, 150}), 0, "%s", sv_error_last());
	sv_queue *other = open_queue(1, 8, 0);
	cr_assert_eq(sv_queue_crawl_settings_get(other, &s, &found), 0, "%s", sv_error_last());
	cr_assert_eq(found, 1);
	cr_assert_eq(s.host_connections, 2);
	cr_assert_eq(s.delay_ms, 150);
	cr_assert_eq(sv_queue_crawl_settings_put(q, &(sv_queue_crawl_settings){3, 0}), 0);
	cr_assert_eq(sv_queue_crawl_settings_get(other, &s, &found), 0);
	cr_assert(found && s.host_connections == 3 && s.delay_ms == 0, "seeding again replaces them");
	sv_queue_close(other);
}

/* sqlite has no roles: --grant-worker is bad usage there. */
Test(queue_sqlite, grant_worker_needs_postgres, .init = setup, .fini = teardown)
{
	int created = 1;
	B = &BACKENDS[0];
	B->fresh(location, sizeof(location), dir);
	q = open_queue(1, 4, 0);
	cr_assert_eq(sv_queue_grant_worker(q, "w1", NULL, &created), SV_EINVAL);
	cr_assert_eq(created, 0);
}

/* SQLSTATE of sql run on c ("" when it worked). */
static void pg_state(PGconn *c, const char *sql, char *state, size_t cap)
{
	PGresult *r = PQexec(c, sql);
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(state, cap, "%s", s ? s : "");
	PQclear(r);
}

/* The rights of role in the current database, as one comparable text. */
static char *pg_rights(PGconn *c, const char *role)
{
	const char *vals[1] = {role};
	PGresult *r = PQexecParams(
		c,
		"SELECT string_agg(x, ' ' ORDER BY x) FROM ("
		" SELECT 'table:' || table_name || ':' || privilege_type x FROM information_schema.role_table_grants"
		"  WHERE grantee = $1 AND table_schema = 'salvage'"
		" UNION ALL SELECT 'function:' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
		"  WHERE n.nspname = 'salvage' AND has_function_privilege($1, p.oid, 'EXECUTE')"
		" UNION ALL SELECT 'schema:usage' WHERE has_schema_privilege($1, 'salvage', 'USAGE')"
		" UNION ALL SELECT 'schema:create' WHERE has_schema_privilege($1, 'salvage', 'CREATE')) t",
		1, NULL, vals, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	char *out = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

/*
 * A role from grant_worker claims, renews, completes, queues and writes hosts
 * through the queue as a worker does, and can do nothing else: no table write,
 * no DDL, no coordinator function, no other node's leases. Granting again
 * gives the same rights.
 */
Test(queue_postgres, a_worker_role_does_a_workers_work_only)
{
	char role[64], pw[64], wloc[600], state[16];
	sv_queue_item *it = NULL, *mine = NULL;
	sv_queue *w = NULL;
	int created = 0;
	size_t n = 0, added = 0;
	pg_newdb(location, sizeof(location));
	snprintf(role, sizeof(role), "tw_%ld", (long)getpid());
	snprintf(pw, sizeof(pw), "pw-%ld-not-shown", (long)getpid());
	const char *at = strstr(location, "salvage_admin@");
	cr_assert_not_null(at, "%s", location);
	snprintf(wloc, sizeof(wloc), "postgresql://%s:%s@%s", role, pw, at + strlen("salvage_admin@"));
	q = open_queue(0, 4, 0);
	const char *u[] = {"http://a.example/", "http://b.example/"};
	int64_t seed = add_rows("s", u, NULL, 2, NULL);

	cr_assert_eq(sv_queue_grant_worker(q, "bad\"name", NULL, &created), SV_EINVAL);
	cr_assert_eq(sv_queue_grant_worker(q, "salvage_admin", NULL, &created), SV_EINVAL, "not the owner itself");
	cr_assert_eq(sv_queue_grant_worker(q, role, pw, &created), 0, "%s", sv_error_last());
	cr_assert_eq(created, 1);
	PGconn *admin = pg_admin(location);
	char *rights = pg_rights(admin, role);
	cr_assert_eq(sv_queue_grant_worker(q, role, pw, &created), 0, "%s", sv_error_last());
	cr_assert_eq(created, 0);
	char *again = pg_rights(admin, role);
	cr_assert_str_eq(again, rights, "granting again changes nothing");
	cr_assert_null(strstr(rights, "INSERT"), "%s", rights);
	cr_assert_null(strstr(rights, "UPDATE"), "%s", rights);
	cr_assert_null(strstr(rights, "DELETE"), "%s", rights);
	cr_assert_null(strstr(rights, "schema:create"), "%s", rights);
	cr_assert_null(strstr(rights, "function:settle"), "%s", rights);
	cr_assert_null(strstr(rights, "function:add_sheet"), "%s", rights);
	cr_assert(strstr(rights, "function:claim") && strstr(rights, "table:work:SELECT"), "%s", rights);
	free(rights);
	free(again);
	/* The verifier, not the password, is what the server keeps. */
	char check[256];
	snprintf(check, sizeof(check), "SELECT (rolpassword LIKE 'SCRAM-SHA-256$%%')::int FROM pg_authid WHERE rolname = '%s'",
		 role);
	cr_assert_eq(pg_value(admin, check), 1);

	/* The coordinator's node holds a lease. */
	cr_assert_eq(claim("coord:1:0", 1, 60000, &it), 1);

	/* The worker's whole round. */
	sv_queue_options o = SV_QUEUE_OPTIONS_INIT;
	cr_assert_eq(sv_queue_open(&w, wloc, &o), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_claim(w, "wn:1:0", NULL, 0, 4, 60000, &mine, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 1);
	cr_assert_eq(sv_queue_renew(w, "wn:1:0", &mine[0].id, 1, 60000), 0, "%s", sv_error_last());
	sv_queue_url more = {"http://a.example/more", seed, 1, SV_KIND_PAGE, mine[0].url, 0, NULL, NULL, NULL, 0};
	cr_assert_eq(sv_queue_enqueue(w, &more, 1, &added), 0, "%s", sv_error_last());
	cr_assert_eq(added, 1);
	int delay = -1;
	size_t retried;
	cr_assert_eq(sv_queue_host_set_robots(w, mine[0].host, "", 404, -1), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_host_cooldown(w, mine[0].host, 0, 0), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_host_robots_failed(w, "c.example", "x", 0, 0), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_host_delay(w, mine[0].host, -1, &delay), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_robots_retry(w, &retried), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_landing_add(w, seed, "http://a.example/landed"), 0, "%s", sv_error_last());
	/* A worker's catalog writes: a pass, its datasets, its end. */
	sv_queue_url first = {"http://a.example/data.json", seed, 0, SV_KIND_CATALOG, NULL, 0, "{}", NULL, "catalog", 1};
	sv_queue_url file = {"http://a.example/f.csv", seed, 1, SV_KIND_DATASET, NULL, 0, NULL, NULL, "download", 0};
	sv_queue_dataset ds = {"f", "f", NULL, NULL, NULL, NULL, &file, 1};
	sv_queue_catalog_info ci;
	cr_assert_eq(sv_queue_catalog_get(w, seed, &ci), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_catalog_begin(w, seed, ci.pass + 1, &first), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_datasets_put(w, seed, ci.pass + 1, &ds, 1, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_catalog_end(w, seed, ci.pass + 1, count_vanished, NULL), 0, "%s", sv_error_last());
	dataset_sum sum = {0};
	cr_assert_eq(sv_queue_datasets(w, seed, sum_dataset, &sum), 0, "%s", sv_error_last());
	cr_assert_eq(sum.n, 1);
	cr_assert_eq(sv_queue_free_slots(w, "wn:1:0", &mine[0].id, 1), 0, "%s", sv_error_last());
	sv_queue_outcome done = {mine[0].id, SV_OUTCOME_DONE, 0, NULL, 200, 10, "ab12"};
	size_t accepted = 0;
	cr_assert_eq(sv_queue_complete(w, "wn:1:0", &done, 1, &accepted), 0, "%s", sv_error_last());
	cr_assert_eq(accepted, 1);
	sv_queue_seed_stats *rows;
	sv_queue_seed_stats total;
	cr_assert_eq(sv_queue_stats(w, &rows, &n, &total), 0, "%s", sv_error_last());
	sv_queue_stats_free(rows, n);
	sv_queue_node_stats *nodes;
	cr_assert_eq(sv_queue_nodes(w, &nodes, &n), 0, "%s", sv_error_last());
	sv_queue_node_stats_free(nodes, n);

	/* The coordinator's node's lease: neither completed nor given back by the worker. */
	sv_queue_outcome theirs = {it[0].id, SV_OUTCOME_FAILED, 0, "overwritten", 500, 0, NULL};
	cr_assert_neq(sv_queue_complete(w, "coord:1:0", &theirs, 1, &accepted), 0);
	cr_assert(strstr(sv_error_last(), "belongs to another role"), "%s", sv_error_last());
	cr_assert_neq(sv_queue_release(w, "coord:1:0", &it[0].id, 1), 0);
	cr_assert_null(strstr(sv_error_last(), pw), "%s", sv_error_last());
	cr_assert_eq(sv_queue_settle(w, it[0].url, &theirs), SV_EIO, "settle is the coordinator's");
	cr_assert_eq(totals().leased, 1, "the coordinator's lease is still held");

	/* Straight SQL: permission errors all. */
	PGconn *wc = PQconnectdb(wloc);
	cr_assert_eq(PQstatus(wc), CONNECTION_OK, "%s", PQerrorMessage(wc));
	const char *refused[] = {
		"DELETE FROM salvage.urls", "UPDATE salvage.urls SET state = 3", "UPDATE salvage.work SET node = 'wn:1:0'",
		"INSERT INTO salvage.nodes(name) VALUES('x')", "DROP TABLE salvage.work", "CREATE TABLE salvage.x(a int)",
		"SELECT salvage.hosts_adjust('{1}', '{1}', '{1}', 0)", "SELECT salvage.setting_put('crawl.delayMs', '0')",
		"SELECT salvage.give_back('coord:9:9', '{1}', true)", "SELECT salvage.queued_add('{1}', '{1}', '{1}')",
		"UPDATE salvage.datasets SET vanished_pass = 9"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		pg_state(wc, refused[i], state, sizeof(state));
		cr_assert_str_eq(state, "42501", "%s: %s", refused[i], state);
	}
	PQfinish(wc);
	PQfinish(admin);
	sv_queue_items_free(it, 1);
	sv_queue_items_free(mine, 4);
	sv_queue_close(w);
}

/* q closed, its database taken back to an older schema by sql, and q opened again: migrated to
 * schema 4; the admin's connection, to look at it. */
static PGconn *reopen_after(const char *sql)
{
	sv_queue_close(q);
	q = NULL;
	PGconn *c = pg_admin(location);
	pg_exec(c, sql);
	q = open_queue(1, 4, 0);
	cr_assert_eq(pg_value(c, "SELECT value::int FROM salvage.meta WHERE key = 'schema'"), 4);
	return c;
}

/* A schema 1 database (nodes without role, functions without SECURITY DEFINER) is migrated in place. */
Test(queue_postgres, schema_1_is_migrated_in_place)
{
	sv_queue_item *it = NULL;
	pg_newdb(location, sizeof(location));
	q = open_queue(1, 4, 0);
	const char *u[] = {"http://a.example/"};
	add_rows("s", u, NULL, 1, NULL);
	/* Back to what schema 1 was, as far as it differs. */
	PGconn *c = reopen_after("ALTER TABLE salvage.nodes DROP COLUMN role;"
				 "DROP FUNCTION salvage.renew, salvage.own_node, salvage.setting_put, salvage.landing_add;"
				 "ALTER FUNCTION salvage.claim SECURITY INVOKER RESET search_path;"
				 "GRANT EXECUTE ON FUNCTION salvage.claim TO PUBLIC;"
				 "UPDATE salvage.meta SET value = '1' WHERE key = 'schema'");
	cr_assert_eq(pg_value(c, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'salvage'"
				 " AND table_name = 'nodes' AND column_name = 'role'"),
		     1);
	cr_assert_eq(pg_value(c, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
				 " WHERE n.nspname = 'salvage' AND (NOT p.prosecdef OR p.proconfig IS NULL"
				 " OR has_function_privilege('public', p.oid, 'EXECUTE'))"),
		     0, "every function runs as its owner, with its search_path, and not for PUBLIC");
	cr_assert_eq(totals().queued, 1, "what schema 1 had queued is still queued");
	cr_assert_eq(claim("n:1:0", 1, 60000, &it), 1);
	cr_assert_eq(sv_queue_renew(q, "n:1:0", &it[0].id, 1, 60000), 0, "%s", sv_error_last());
	cr_assert_eq(pg_value(c, "SELECT count(*) FROM salvage.nodes WHERE name = 'n' AND role = current_user"), 1,
		     "the node is bound to its role");
	sv_queue_items_free(it, 1);
	PQfinish(c);
}

/* ---- catalogs ---- */

/* Three datasets in pass 1; in pass 2 one changed, one is gone, one is the same. */
QUEUE_TEST(catalog_passes_refetch_only_what_changed)
{
	sv_queue_item *it;
	int64_t seed = catalog_row("http://cat.example/data.json");
	sv_queue_catalog_info ci;
	cr_assert_eq(sv_queue_catalog_get(q, seed, &ci), 0, "%s", sv_error_last());
	cr_assert_eq(ci.pass, 0);

	sv_queue_url first = {"http://cat.example/data.json", seed, 0, SV_KIND_CATALOG, NULL, 0, "{\"step\":\"dcat\",\"pass\":1}",
			      NULL, NULL, 1};
	cr_assert_eq(sv_queue_catalog_begin(q, seed, 1, &first), 0, "%s", sv_error_last());
	cr_assert_eq(claim("n", 10, 60000, &it), 1);
	cr_assert_eq(it[0].kind, SV_KIND_CATALOG);
	cr_assert_str_eq(it[0].meta, "{\"step\":\"dcat\",\"pass\":1}", "the item carries its meta");
	complete_all("n", it, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(it, 1);

	sv_queue_url ua[2] = {{"http://files.example/a.csv", seed, 1, SV_KIND_DATASET, NULL, 0, "{\"d\":\"a\"}", NULL, "download", 0},
			      {"http://files.example/a.html", seed, 1, SV_KIND_PAGE, NULL, 0, NULL, NULL, "access", 0}};
	sv_queue_url ub = {"http://files.example/b.csv", seed, 1, SV_KIND_DATASET, NULL, 0, NULL, NULL, "download", 0};
	sv_queue_url uc = {"http://files.example/c.csv", seed, 1, SV_KIND_DATASET, NULL, 0, NULL, NULL, "download", 0};
	sv_queue_dataset ds[3] = {{"a", "a", "A", "Agency", "2020-01-01", "{}", ua, 2},
				  {"b", "b", "B", NULL, "2020-01-01", NULL, &ub, 1},
				  {"c", "c", "C", NULL, NULL, NULL, &uc, 1}};
	sv_queue_datasets_result r = {0};
	cr_assert_eq(sv_queue_datasets_put(q, seed, 1, ds, 3, &r), 0, "%s", sv_error_last());
	cr_assert_eq(r.added, 3);
	cr_assert_eq(sv_queue_datasets_put(q, seed, 1, ds, 1, &r), 0);
	cr_assert_eq(r.repeated, 1, "listed twice in one pass");
	cr_assert_eq(claim("n", 10, 60000, &it), 4);
	for (size_t i = 0; i < 4; i++)
		if (!strcmp(it[i].url, "http://files.example/a.csv"))
			cr_assert_str_eq(it[i].meta, "{\"d\":\"a\"}", "a dataset's URL carries its meta");
	complete_all("n", it, 4, SV_OUTCOME_DONE, 4);
	sv_queue_items_free(it, 4);
	vanished_seen = 0;
	cr_assert_eq(sv_queue_catalog_end(q, seed, 1, count_vanished, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(vanished_seen, 0);
	cr_assert_eq(sv_queue_catalog_get(q, seed, &ci), 0);
	cr_assert_eq(ci.done_pass, 1);
	cr_assert_eq(ci.pending, 0);

	/* pass 2: the catalog page is fetched again; a changed, b the same, c gone */
	cr_assert_eq(sv_queue_catalog_begin(q, seed, 2, &first), 0);
	cr_assert_eq(claim("n", 10, 60000, &it), 1, "the catalog's first request is queued again");
	complete_all("n", it, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(it, 1);
	ds[0].modified = "2021-06-01";
	memset(&r, 0, sizeof(r));
	cr_assert_eq(sv_queue_datasets_put(q, seed, 2, ds, 2, &r), 0);
	cr_assert_eq(r.changed, 1);
	cr_assert_eq(r.unchanged, 1);
	cr_assert_eq(claim("n", 10, 60000, &it), 2, "only the changed dataset's URLs are fetched again");
	for (size_t i = 0; i < 2; i++)
		cr_assert(strstr(it[i].url, "/a."), "%s", it[i].url);
	complete_all("n", it, 2, SV_OUTCOME_DONE, 2);
	sv_queue_items_free(it, 2);
	vanished_seen = 0;
	cr_assert_eq(sv_queue_catalog_end(q, seed, 2, count_vanished, NULL), 0);
	cr_assert_eq(vanished_seen, 1, "c vanished");
	cr_assert_eq(sv_queue_catalog_end(q, seed, 2, count_vanished, NULL), 0);
	cr_assert_eq(vanished_seen, 1, "told once");

	dataset_sum sum = {0};
	cr_assert_eq(sv_queue_datasets(q, seed, sum_dataset, &sum), 0, "%s", sv_error_last());
	cr_assert_eq(sum.n, 3);
	cr_assert_eq(sum.vanished, 1);
	cr_assert_eq(sum.done_urls, 4);
	cr_assert(strstr(sum.roles, "access"), "%s", sum.roles);
}

/* One URL claimed (there must be one); free with sv_queue_items_free(it, 1). */
static sv_queue_item *claim_one(void)
{
	sv_queue_item *it;
	cr_assert_eq(claim("n", 1, 60000, &it), 1);
	return it;
}

/* How many URLs a claim gets now (claimed and left leased). */
static size_t claimable(void)
{
	sv_queue_item *it = NULL;
	size_t n = claim("n", 10, 60000, &it);
	sv_queue_items_free(it, n);
	return n;
}

static size_t enqueue_one(int64_t seed, const char *url, const char *meta, int refresh)
{
	sv_queue_url u = {url, seed, 1, SV_KIND_DATASET, NULL, 0, meta, NULL, NULL, refresh};
	size_t added = 0;
	cr_assert_eq(sv_queue_enqueue(q, &u, 1, &added), 0, "%s", sv_error_last());
	return added;
}

/* refresh: an ended URL (done or failed) is queued again with the new meta, its attempts
 * forgotten; a queued one takes the new meta; a leased one stays as it is. */
QUEUE_TEST(refresh_queues_an_ended_url_again)
{
	int64_t seed = add_rows("s", (const char *[]){"http://a.example/"}, NULL, 1, NULL);
	sv_queue_item *it = claim_one();
	complete_all("n", it, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(it, 1);

	cr_assert_eq(enqueue_one(seed, "http://b.example/x.csv", "{\"v\":1}", 0), 1);
	it = claim_one();
	cr_assert_str_eq(it->meta, "{\"v\":1}");
	cr_assert_eq(enqueue_one(seed, "http://b.example/x.csv", "{\"v\":2}", 1), 0, "leased: not queued again");
	complete_all("n", it, 1, SV_OUTCOME_FAILED, 1);
	sv_queue_items_free(it, 1);
	cr_assert_eq(totals().failed, 1);
	cr_assert_eq(enqueue_one(seed, "http://b.example/x.csv", "{\"v\":3}", 0), 0, "without refresh: ended stays ended");
	cr_assert_eq(totals().queued, 0);

	cr_assert_eq(enqueue_one(seed, "http://b.example/x.csv", "{\"v\":4}", 1), 1, "refreshed: queued again");
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.queued, 1);
	cr_assert_eq(t.failed, 0);
	cr_assert_eq(enqueue_one(seed, "http://b.example/x.csv", "{\"v\":5}", 1), 0, "queued: not twice");
	cr_assert_eq(enqueue_one(seed, "http://b.example/x.csv", NULL, 1), 0);
	int64_t queued, leased;
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
	cr_assert_eq(queued, 1);
	it = claim_one();
	cr_assert_str_eq(it->meta, "{\"v\":5}", "a queued URL takes the new meta");
	cr_assert_eq(it->attempts, 0, "attempts start again");
	complete_all("n", it, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(it, 1);
	t = totals();
	cr_assert_eq(t.done, 2);
	cr_assert_eq(t.queued + t.leased, 0);

	cr_assert_eq(enqueue_one(seed, "http://b.example/x.csv", "{\"v\":6}", 1), 1, "done: queued again");
	it = claim_one();
	cr_assert_str_eq(it->meta, "{\"v\":6}");
	complete_all("n", it, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(it, 1);
	cr_assert_eq(claimable(), 0, "the host's counts are right: nothing left");
}

/* A catalog row whose two handles both saw its pass 0 (or 1) and start pass 1 (or 2): one starts
 * it, and the catalog is read once, also when the first one's read is over before the second
 * starts; and four processes starting pass 2 at once, each reading what it gets, read it once. */
QUEUE_TEST(a_pass_started_at_once_is_started_once)
{
	int64_t seed = catalog_row("http://cat.example/data.json");
	sv_queue *other = open_queue(1, 4, 0);
	sv_queue_catalog_info a, b;
	cr_assert_eq(sv_queue_catalog_get(q, seed, &a), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_catalog_get(other, seed, &b), 0, "%s", sv_error_last());
	cr_assert_eq(a.pass + b.pass, 0);
	sv_queue_url first = {"http://cat.example/data.json", seed, 0, SV_KIND_CATALOG, NULL, 0,
			      "{\"step\":\"dcat\",\"pass\":1}", NULL, "catalog", 1};
	cr_assert_eq(sv_queue_catalog_begin(q, seed, 1, &first), 0, "%s", sv_error_last());
	sv_queue_item *it = claim_one();
	complete_all("n", it, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(it, 1);
	cr_assert_eq(sv_queue_catalog_begin(other, seed, 1, &first), 0, "%s", sv_error_last());
	cr_assert_eq(claimable(), 0, "the catalog is not read again for pass 1");
	cr_assert_eq(sv_queue_catalog_get(other, seed, &b), 0);
	cr_assert_eq(b.pass, 1);
	sv_queue_close(other);

	int fds[2];
	pid_t pids[4];
	cr_assert_eq(pipe(fds), 0);
	for (int i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			sv_queue *h = open_queue(1, 4, 0);
			sv_queue_item *got;
			size_t n = 0, acc;
			char node[32], c;
			first.meta = "{\"step\":\"dcat\",\"pass\":2}";
			snprintf(node, sizeof(node), "c%d", i);
			close(fds[1]);
			if (read(fds[0], &c, 1) != 0 || sv_queue_catalog_begin(h, seed, 2, &first) ||
			    sv_queue_claim(h, node, NULL, 0, 10, 60000, &got, &n))
				_exit(100);
			sv_queue_outcome o = {n ? got[0].id : 0, SV_OUTCOME_DONE, 0, NULL, 200, 1, NULL};
			if (n && sv_queue_complete(h, node, &o, 1, &acc))
				_exit(101);
			sv_queue_items_free(got, n);
			sv_queue_close(h);
			_exit((int)n);
		}
	}
	close(fds[0]);
	close(fds[1]); /* all four start now */
	int reads = 0;
	for (int i = 0; i < 4; i++) {
		int status;
		waitpid(pids[i], &status, 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) < 100, "process %d failed (%d)", i, WEXITSTATUS(status));
		reads += WEXITSTATUS(status);
	}
	cr_assert_eq(reads, 1, "pass 2's catalog read %d times", reads);
	cr_assert_eq(sv_queue_catalog_get(q, seed, &a), 0);
	cr_assert_eq(a.pass, 2);
	cr_assert_eq(a.pending, 0);
}

/* A schema 3 database (no catalogs) is migrated in place, its URLs kept; the migration may run
 * again over a migrated one, changing nothing. */
Test(queue_postgres, schema_3_is_migrated_in_place)
{
	sv_queue_item *it = NULL;
	pg_newdb(location, sizeof(location));
	q = open_queue(1, 4, 0);
	int64_t seed = add_rows("s", (const char *[]){"http://a.example/", "http://b.example/"}, NULL, 2, NULL);
	sv_queue_item *one = claim_one();
	complete_all("n", one, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(one, 1);
	/* Back to what schema 3 was: no catalogs. */
	PGconn *c = reopen_after("DROP TABLE salvage.datasets, salvage.dataset_urls;"
				 "ALTER TABLE salvage.urls DROP COLUMN meta;"
				 "ALTER TABLE salvage.seeds DROP COLUMN catalog_pass, DROP COLUMN catalog_done_pass;"
				 "DROP FUNCTION salvage.datasets_put, salvage.catalog_begin, salvage.catalog_end,"
				 " salvage.catalog_lock, salvage.queued_add;"
				 "UPDATE salvage.meta SET value = '3' WHERE key = 'schema'");
	cr_assert_eq(pg_value(c, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'salvage'"
				 " AND (table_name, column_name) IN (('urls', 'meta'), ('seeds', 'catalog_pass'),"
				 " ('seeds', 'catalog_done_pass'))"),
		     3);
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, 1, "what schema 3 had done is still done");
	cr_assert_eq(t.queued, 1, "and what it had queued still queued");
	one = claim_one();
	cr_assert_null(one->meta);
	complete_all("n", one, 1, SV_OUTCOME_DONE, 1);
	sv_queue_items_free(one, 1);

	/* Catalogs work on the migrated schema. */
	sv_queue_url first = {"http://a.example/data.json", seed, 0, SV_KIND_CATALOG, NULL, 0, "{\"step\":\"dcat\"}",
			      NULL, "catalog", 1};
	cr_assert_eq(sv_queue_catalog_begin(q, seed, 1, &first), 0, "%s", sv_error_last());
	sv_queue_url f = {"http://files.example/f.csv", seed, 1, SV_KIND_DATASET, NULL, 0, NULL, NULL, "download", 0};
	sv_queue_dataset d = {"f", "f", "F", NULL, "2020", NULL, &f, 1};
	sv_queue_datasets_result res = {0};
	cr_assert_eq(sv_queue_datasets_put(q, seed, 1, &d, 1, &res), 0, "%s", sv_error_last());
	cr_assert_eq(res.added, 1);
	cr_assert_eq(claim("n", 10, 60000, &it), 2);
	sv_queue_items_free(it, 2);

	/* Again over a migrated schema: nothing lost. */
	PQfinish(c);
	c = reopen_after("UPDATE salvage.meta SET value = '3' WHERE key = 'schema'");
	dataset_sum sum = {0};
	cr_assert_eq(sv_queue_datasets(q, 0, sum_dataset, &sum), 0, "%s", sv_error_last());
	cr_assert_eq(sum.n, 1);
	cr_assert_eq(totals().leased, 2);
	PQfinish(c);
}

/* A schema 5 queue.db gains the catalogs' columns and tables, its URLs kept. */
Test(queue_sqlite, schema_5_is_migrated, .init = setup, .fini = teardown)
{
	const char *u[] = {"http://a.example/"};
	char path[4300], *version;
	B = &BACKENDS[0];
	B->fresh(location, sizeof(location), dir);
	snprintf(path, sizeof(path), "%s", location + strlen("sqlite:"));
	q = open_queue(1, 4, 0);
	add_rows("s", u, NULL, 1, NULL);
	sv_queue_close(q);
	q = NULL;
	sql(path, "ALTER TABLE urls DROP COLUMN meta; ALTER TABLE seeds DROP COLUMN catalog_pass;"
		  "ALTER TABLE seeds DROP COLUMN catalog_done_pass; DROP TABLE datasets; DROP TABLE dataset_urls;"
		  "UPDATE meta SET value = '5' WHERE key = 'schema';");
	q = open_queue(1, 4, 0);
	version = schema_of(path);
	cr_assert_str_eq(version, "6");
	free(version);
	cr_assert_eq(totals().queued, 1);
	dataset_sum sum = {0};
	cr_assert_eq(sv_queue_datasets(q, 0, sum_dataset, &sum), 0, "%s", sv_error_last());
	cr_assert_eq(sum.n, 0);
}
