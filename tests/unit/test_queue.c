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
 */
#include "helpers.h"

#include "../../common/clock.h"
#include "../../common/error.h"
#include "../../queue/queue.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

static const backend BACKENDS[] = {
	{"sqlite", sqlite_fresh, sqlite_stored_sheet},
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

/* One sheet row per URL given; returns the seed id of the first. */
static int64_t add_rows(const char *sheet, const char *const *urls, const int *prio, size_t n,
			sv_queue_sheet_result *res)
{
	sv_queue_seed rows[16];
	sv_queue_sheet_result r;
	cr_assert_leq(n, 16);
	for (size_t i = 0; i < n; i++)
		rows[i] = (sv_queue_seed){urls[i], (unsigned)i + 2, prio ? prio[i] : 0, -1, -1, "{}", "{}"};
	cr_assert_eq(sv_queue_add_sheet(q, sheet, "url\n", 4, rows, n, res ? res : &r), 0, "%s", sv_error_last());
	sv_queue_seed_stats *st, total;
	size_t ns;
	cr_assert_eq(sv_queue_stats(q, &st, &ns, &total), 0);
	int64_t id = 0;
	for (size_t i = 0; i < ns; i++)
		if (!strcmp(st[i].url, urls[0]) && !strcmp(st[i].sheet, sheet))
			id = st[i].seed;
	sv_queue_stats_free(st, ns);
	cr_assert_gt(id, 0);
	return id;
}

static size_t enqueue_fmt(int64_t seed, const char *fmt, int from, int to, sv_kind kind)
{
	sv_queue_url u[512];
	char buf[512][128];
	size_t added = 0;
	cr_assert_leq(to - from, 512);
	for (int i = from; i < to; i++) {
		snprintf(buf[i - from], sizeof(buf[0]), fmt, i);
		u[i - from] = (sv_queue_url){buf[i - from], seed, 1, kind, "http://a.example/", 0};
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
		o[i] = (sv_queue_outcome){items[i].id, kind, fake_now + 5000, "test", 200, 100};
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
	sv_queue_seed row = {"http://a.example/", 2, 0, 3, -1, "{}", "{}"};
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
			o[i] = (sv_queue_outcome){it[i].id, SV_OUTCOME_DONE, 0, NULL, 200, 1};
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
			batch[j] = (sv_queue_url){buf[j], seed, 1, SV_KIND_PAGE, NULL, 0};
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
		{it[0].id, SV_OUTCOME_DONE, 0, NULL, 404, 10},
		{it[1].id, SV_OUTCOME_FAILED, 0, "connection refused", 0, 0},
		{it[2].id, SV_OUTCOME_SKIPPED, 0, "robots.txt", 0, 0},
		{it[3].id, SV_OUTCOME_RETRY, fake_now, "timeout", 0, 0},
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
		batch[i] = (sv_queue_url){urls[i], seed, 1, kinds[i], NULL, 0};
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
	{"postgresql://salvage:secret@db.example/crawl?x=%s", SV_EINVAL, "",
	 "queue 'postgresql://***@db.example/crawl?x="},
	{"postgresql://db.example/%s", SV_EINVAL, "", "this build has no postgresql queue backend"},
	{"postgres://salvage:p@secret@db.example/%s", SV_EINVAL, "", "this build has no postgresql queue backend"},
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
					  items[i].kind == SV_KIND_SITEMAP ? 200 : 301, 10};
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
	cr_assert_eq(claim("n", 10, 60000, &it), 1, "robots.txt unknown: one URL, to ask for it");
	sv_queue_item *none;
	cr_assert_eq(claim("m", 10, 60000, &none), 0, "and no other while it is out");
	sv_queue_items_free(none, 0);
	size_t freed;
	cr_assert_eq(sv_queue_claim(q, "n", &it[0].id, 1, 10, 60000, &none, &freed), 0);
	cr_assert_eq(freed, 0, "nor once its transfer ended, while its rules are not kept");
	sv_queue_items_free(none, 0);
	cr_assert_eq(sv_queue_host_set_robots(q, "a.example", "User-agent: *\n", 200, -1), 0);
	sv_queue_item *more;
	cr_assert_eq(claim("m", 10, 60000, &more), 4, "rules known: up to the host cap");
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
	sv_queue_outcome o[2] = {{it[0].id, SV_OUTCOME_SKIPPED, 0, "disallowed by robots.txt", 0, 0},
				 {it[1].id, SV_OUTCOME_SKIPPED, 0, "disallowed by robots.txt", 0, 0}};
	size_t acc;
	cr_assert_eq(sv_queue_complete(q, "n", o, 2, &acc), 0);
	sv_queue_items_free(it, 2);
	cr_assert_eq(sv_queue_host_set_robots(q, "a.example", "", 503, -1), 0);
	cr_assert_eq(sv_queue_host_set_robots(q, "b.example", "User-agent: *\nDisallow: /\n", 200, -1), 0);
	sv_queue_close(q);
	q = NULL;
	sql(path, "ALTER TABLE hosts DROP COLUMN robots_tries; ALTER TABLE hosts DROP COLUMN robots_error;"
		  "ALTER TABLE hosts DROP COLUMN robots_held; ALTER TABLE hosts DROP COLUMN robots_claim_ms;"
		  "UPDATE meta SET value = '3' WHERE key = 'schema';");

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

	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	version = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	cr_assert_str_eq(version, "4");
	free(version);
}
