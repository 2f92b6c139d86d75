/*
 * tests/unit/test_outbox.c -- the outbox (queue/outbox.c) around a queue
 * whose database goes away: writes made while it is down are kept and
 * delivered in order once it is back; nothing is lost when the process dies
 * with entries kept; an outcome that arrives after another holder took the
 * URL over is refused; a down queue is tried again after a backoff, not in
 * a storm; pending never says "drained" while the queue cannot be asked or
 * entries wait.
 *
 * The inner queue is a small backend (FAKE_OPS) that forwards every call to
 * a real sqlite queue, counts the calls, logs the names of the writes, and
 * answers SV_EUNREACHABLE while the test has it "down".
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../queue/backend.h"
#include "../../queue/outbox.h"

#include <sqlite3.h>
#include <sys/wait.h>

static char dir[4096], queue_path[4200], outbox_path[4200];
static int64_t fake_now;
static int down;          /* 1: the inner queue answers SV_EUNREACHABLE */
static int inner_calls;   /* calls that reached the inner queue (down or not) */
static char oplog[4096];  /* the writes the inner queue took, in order: "enqueue complete ..." */
static sv_queue *real;    /* the queue the test reads directly */

static int64_t clock_fn(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* ---- the fake backend ---- */

static sv_queue *fwd(sv_queue *q)
{
	sv_queue *r = q->impl;
	r->opts = q->opts;
	return r;
}

/* Logs a write, while oplog has room (a test that makes hundreds does not read it). */
static void logop(const char *name)
{
	size_t len = strlen(oplog);
	if (len + strlen(name) + 2 <= sizeof(oplog))
		snprintf(oplog + len, sizeof(oplog) - len, "%s ", name);
}

#define GATE()                                                                                   \
	do {                                                                                     \
		inner_calls++;                                                                   \
		if (down)                                                                        \
			return sv_error_set(SV_EUNREACHABLE, "the test has the queue down"); \
	} while (0)

static int f_add_sheet(sv_queue *q, const char *name, const void *raw, size_t raw_len, const sv_queue_seed *rows,
		       size_t n, sv_queue_sheet_result *res)
{
	GATE();
	return sv_queue_add_sheet(fwd(q), name, raw, raw_len, rows, n, res);
}
static int f_enqueue(sv_queue *q, const sv_queue_url *urls, size_t n, size_t *added)
{
	GATE();
	logop("enqueue");
	return sv_queue_enqueue(fwd(q), urls, n, added);
}
static int f_claim(sv_queue *q, const char *node, const int64_t *freed, size_t nfreed, size_t max, int lease_ms,
		   sv_queue_item **items, size_t *n)
{
	GATE();
	return sv_queue_claim(fwd(q), node, freed, nfreed, max, lease_ms, items, n);
}
static int f_renew(sv_queue *q, const char *node, const int64_t *ids, size_t n, int lease_ms)
{
	GATE();
	return sv_queue_renew(fwd(q), node, ids, n, lease_ms);
}
static int f_complete(sv_queue *q, const char *node, const sv_queue_outcome *o, size_t n, size_t *accepted)
{
	GATE();
	logop("complete");
	return sv_queue_complete(fwd(q), node, o, n, accepted);
}
static int f_seed_params(sv_queue *q, int64_t seed, char **params)
{
	GATE();
	return sv_queue_seed_params(fwd(q), seed, params);
}
static int f_stats(sv_queue *q, sv_queue_seed_stats **rows, size_t *n, sv_queue_seed_stats *total)
{
	GATE();
	return sv_queue_stats(fwd(q), rows, n, total);
}
static int f_host_get(sv_queue *q, const char *host, sv_queue_host *out)
{
	GATE();
	return sv_queue_host_get(fwd(q), host, out);
}
static int f_host_set_robots(sv_queue *q, const char *host, const char *robots, int status, int crawl_delay_ms)
{
	GATE();
	logop("host_set_robots");
	return sv_queue_host_set_robots(fwd(q), host, robots, status, crawl_delay_ms);
}
static int f_host_cooldown(sv_queue *q, const char *host, int64_t until_ms, int timed_out)
{
	GATE();
	logop("host_cooldown");
	return sv_queue_host_cooldown(fwd(q), host, until_ms, timed_out);
}
static int f_host_robots_failed(sv_queue *q, const char *host, const char *reason, int64_t retry_at_ms, int give_up)
{
	GATE();
	logop("host_robots_failed");
	return sv_queue_host_robots_failed(fwd(q), host, reason, retry_at_ms, give_up);
}
static int f_host_delay(sv_queue *q, const char *host, int crawl_delay_ms, int *delay_ms)
{
	GATE();
	return sv_queue_host_delay(fwd(q), host, crawl_delay_ms, delay_ms);
}
static int f_robots_waiting(sv_queue *q, int (*fn)(void *ctx, const char *host, const char *reason, int64_t urls),
			    void *ctx)
{
	GATE();
	return sv_queue_robots_waiting(fwd(q), fn, ctx);
}
static int f_robots_retry(sv_queue *q, size_t *hosts)
{
	GATE();
	return sv_queue_robots_retry(fwd(q), hosts);
}
static int f_release(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	GATE();
	logop("release");
	return sv_queue_release(fwd(q), node, ids, n);
}
static int f_free_slots(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	GATE();
	logop("free_slots");
	return sv_queue_free_slots(fwd(q), node, ids, n);
}
static int f_failures(sv_queue *q, int (*fn)(void *ctx, const char *reason, int64_t count), void *ctx)
{
	GATE();
	return sv_queue_failures(fwd(q), fn, ctx);
}
static int f_reclaim(sv_queue *q, const char *prefix, int (*alive)(const char *node), size_t *released)
{
	GATE();
	return sv_queue_reclaim(fwd(q), prefix, alive, released);
}
static int f_pending(sv_queue *q, int64_t *queued, int64_t *leased)
{
	GATE();
	return sv_queue_pending(fwd(q), queued, leased);
}
static int f_landing_add(sv_queue *q, int64_t seed, const char *url)
{
	GATE();
	logop("landing_add");
	return sv_queue_landing_add(fwd(q), seed, url);
}
static int f_settle(sv_queue *q, const char *url, const sv_queue_outcome *how)
{
	GATE();
	return sv_queue_settle(fwd(q), url, how);
}
static int f_landings(sv_queue *q, int64_t seed, char ***urls, size_t *n)
{
	GATE();
	return sv_queue_landings(fwd(q), seed, urls, n);
}
static int f_datasets_put(sv_queue *q, int64_t seed, int pass, const sv_queue_dataset *ds, size_t n,
			  sv_queue_datasets_result *res)
{
	GATE();
	logop("datasets_put");
	return sv_queue_datasets_put(fwd(q), seed, pass, ds, n, res);
}
static int f_catalog_get(sv_queue *q, int64_t seed, sv_queue_catalog_info *out)
{
	GATE();
	return sv_queue_catalog_get(fwd(q), seed, out);
}
static int f_catalog_begin(sv_queue *q, int64_t seed, int pass, const sv_queue_url *first)
{
	GATE();
	logop("catalog_begin");
	return sv_queue_catalog_begin(fwd(q), seed, pass, first);
}
static int f_datasets(sv_queue *q, int64_t seed, int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	GATE();
	return sv_queue_datasets(fwd(q), seed, fn, ctx);
}
static int f_catalog_end(sv_queue *q, int64_t seed, int pass, int (*fn)(void *ctx, const sv_queue_dataset_row *d),
			 void *ctx)
{
	GATE();
	logop("catalog_end");
	return sv_queue_catalog_end(fwd(q), seed, pass, fn, ctx);
}
static void f_close(sv_queue *q)
{
	sv_queue_close(q->impl);
	free(q);
}

static const sv_queue_ops FAKE_OPS = {
	.name = "fake",
	.add_sheet = f_add_sheet,
	.enqueue = f_enqueue,
	.claim = f_claim,
	.renew = f_renew,
	.complete = f_complete,
	.seed_params = f_seed_params,
	.stats = f_stats,
	.host_get = f_host_get,
	.host_set_robots = f_host_set_robots,
	.host_cooldown = f_host_cooldown,
	.host_robots_failed = f_host_robots_failed,
	.host_delay = f_host_delay,
	.robots_waiting = f_robots_waiting,
	.robots_retry = f_robots_retry,
	.release = f_release,
	.free_slots = f_free_slots,
	.failures = f_failures,
	.reclaim = f_reclaim,
	.pending = f_pending,
	.landing_add = f_landing_add,
	.settle = f_settle,
	.landings = f_landings,
	.datasets_put = f_datasets_put,
	.catalog_get = f_catalog_get,
	.catalog_begin = f_catalog_begin,
	.datasets = f_datasets,
	.catalog_end = f_catalog_end,
	.close = f_close,
};

static sv_queue *open_real(void)
{
	sv_queue_options o = SV_QUEUE_OPTIONS_INIT;
	sv_queue *h;
	o.now_ms = clock_fn;
	cr_assert_eq(sv_queue_open(&h, queue_path, &o), 0, "%s", sv_error_last());
	return h;
}

/* The outbox around a fake over its own connection to the real queue; backoff 50 ms doubling to 200 ms. */
static sv_queue *open_outbox(void)
{
	sv_queue_outbox_options oo = SV_QUEUE_OUTBOX_OPTIONS_INIT;
	sv_queue *f = calloc(1, sizeof(*f)), *q;
	cr_assert_not_null(f);
	f->impl = open_real();
	f->ops = FAKE_OPS;
	f->opts = ((sv_queue *)f->impl)->opts;
	oo.backoff_min_ms = 50;
	oo.backoff_max_ms = 200;
	cr_assert_eq(sv_queue_outbox_open(&q, f, outbox_path, &oo), 0, "%s", sv_error_last());
	return q;
}

static void setup(void)
{
	th_tempdir(dir, sizeof(dir));
	snprintf(queue_path, sizeof(queue_path), "%s/shared.db", dir);
	snprintf(outbox_path, sizeof(outbox_path), "%s/outbox.db", dir);
	fake_now = 1000000;
	down = 0;
	inner_calls = 0;
	oplog[0] = '\0';
	real = open_real();
}

static void teardown(void)
{
	sv_queue_close(real);
	real = NULL;
	th_rmrf(dir);
}

TestSuite(outbox, .init = setup, .fini = teardown, .timeout = 60);

/* Sheet "s" of row alone; returns its seed id. */
static int64_t only_row(const sv_queue_seed *row)
{
	sv_queue_sheet_result r;
	sv_queue_seed_stats *st, total;
	size_t n;
	cr_assert_eq(sv_queue_add_sheet(real, "s", "url\n", 4, row, 1, &r), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_stats(real, &st, &n, &total), 0);
	cr_assert_eq(n, 1);
	int64_t id = st[0].seed;
	sv_queue_stats_free(st, n);
	return id;
}

/* A sheet of one row (http://a.example/, queued); returns its seed id. */
static int64_t one_row(void)
{
	sv_queue_seed row = {"http://a.example/", 2, 0, -1, -1, "{\"depth\":1}", "{}", 0};
	return only_row(&row);
}

static sv_queue_seed_stats totals(void)
{
	sv_queue_seed_stats *st, total;
	size_t n;
	cr_assert_eq(sv_queue_stats(real, &st, &n, &total), 0, "%s", sv_error_last());
	sv_queue_stats_free(st, n);
	return total;
}

/* Waits past the longest backoff, so the next call may try the inner queue. */
static void past_backoff(void)
{
	usleep(250 * 1000);
}

Test(outbox, writes_while_down_are_kept_and_delivered_in_order)
{
	int64_t seed = one_row();
	sv_queue *q = open_outbox();
	sv_queue_item *items;
	size_t n;
	cr_assert_eq(sv_queue_claim(q, "h:1:0", NULL, 0, 8, 60000, &items, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 1);
	int64_t id = items[0].id;
	sv_queue_items_free(items, n);

	down = 1;
	sv_queue_url links[2] = {{"http://a.example/p1", seed, 1, SV_KIND_PAGE, "http://a.example/", 0, NULL, NULL, NULL, 0},
				 {"http://a.example/p2", seed, 1, SV_KIND_PAGE, "http://a.example/", 0, NULL, NULL, NULL, 0}};
	sv_queue_outcome done = {id, SV_OUTCOME_DONE, 0, NULL, 200, 1234, NULL};
	cr_assert_eq(sv_queue_enqueue(q, links, 2, NULL), 0, "a write while down is kept: %s", sv_error_last());
	cr_assert_eq(sv_queue_host_set_robots(q, "a.example", "User-agent: *\n", 200, -1), 0);
	cr_assert_eq(sv_queue_complete(q, "h:1:0", &done, 1, NULL), 0);
	/* A claim while down: nothing, no error; the ended transfer's slot is kept for later. */
	cr_assert_eq(sv_queue_claim(q, "h:1:0", &id, 1, 8, 60000, &items, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 0);
	int64_t since, kept;
	sv_queue_reach(q, &since, &kept);
	cr_assert_gt(since, 0, "the wrapper knows the queue is down");
	cr_assert_eq(kept, 4, "enqueue, robots, complete and the freed slot wait here");

	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, 0, "nothing reached the queue while it was down");
	cr_assert_eq(t.queued, 0);
	cr_assert_eq(t.leased, 1);
	cr_assert_str_empty(oplog);

	down = 0;
	past_backoff();
	int64_t queued, leased;
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0, "%s", sv_error_last());
	cr_assert_str_eq(oplog, "enqueue host_set_robots complete free_slots ", "delivered oldest first");
	t = totals();
	cr_assert_eq(t.done, 1);
	cr_assert_eq(t.bytes, 1234);
	cr_assert_eq(t.queued, 2, "the links found while down are queued");
	cr_assert_eq(queued, 2);
	sv_queue_reach(q, &since, &kept);
	cr_assert_eq(since, 0);
	cr_assert_eq(kept, 0, "delivered entries leave the outbox");
	sv_queue_host h;
	cr_assert_eq(sv_queue_host_get(real, "a.example", &h), 0);
	cr_assert_not_null(h.robots, "robots.txt rules kept while down reached the queue");
	sv_queue_host_clear(&h);
	sv_queue_close(q);
}

/* One number from the outbox file, read by the test itself. */
static int outbox_count(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;
	cr_assert_eq(sqlite3_open_v2(outbox_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	cr_assert_geq(n, 0, "cannot read %s", outbox_path);
	return n;
}

/* Entries in the outbox now. */
static int kept_entries(void)
{
	return outbox_count("SELECT count(*) FROM outbox");
}

/* Entries ever kept (removed ones included: seq is AUTOINCREMENT). */
static int ever_kept(void)
{
	return outbox_count("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)");
}

/* While the inner queue answers and nothing waits, a write goes straight to it:
 * the outbox file keeps nothing. Once a
 * write was kept, those after it are kept behind it until it is delivered. */
Test(outbox, writes_go_straight_while_the_queue_answers)
{
	int64_t seed = one_row();
	sv_queue *q = open_outbox();
	sv_queue_url one = {"http://a.example/p1", seed, 1, SV_KIND_PAGE, "http://a.example/", 0, NULL, NULL, NULL, 0};
	size_t added;
	cr_assert_eq(sv_queue_enqueue(q, &one, 1, &added), 0, "%s", sv_error_last());
	cr_assert_eq(totals().queued, 2, "in the shared queue at once");
	cr_assert_eq(ever_kept(), 0, "nothing kept while the queue answers");

	down = 1;
	one.url = "http://a.example/p2";
	cr_assert_eq(sv_queue_enqueue(q, &one, 1, &added), 0, "%s", sv_error_last());
	cr_assert_eq(kept_entries(), 1, "found unreachable: kept");
	down = 0;
	one.url = "http://a.example/p3";
	cr_assert_eq(sv_queue_enqueue(q, &one, 1, &added), 0, "%s", sv_error_last());
	cr_assert_eq(kept_entries(), 2, "within the backoff: kept behind the first");
	cr_assert_eq(totals().queued, 2);
	past_backoff();
	one.url = "http://a.example/p4";
	cr_assert_eq(sv_queue_enqueue(q, &one, 1, &added), 0, "%s", sv_error_last());
	cr_assert_eq(kept_entries(), 0, "delivered in order once the queue answers");
	cr_assert_eq(ever_kept(), 3, "the one found unreachable and the two behind it");
	cr_assert_eq(totals().queued, 5);
	cr_assert_str_eq(oplog, "enqueue enqueue enqueue enqueue ");
	sv_queue_close(q);
}

Test(outbox, a_process_killed_with_entries_loses_nothing)
{
	int64_t seed = one_row();
	sv_queue_item *items;
	size_t n;
	cr_assert_eq(sv_queue_claim(real, "h:7:0", NULL, 0, 8, 60000, &items, &n), 0);
	cr_assert_eq(n, 1);
	int64_t id = items[0].id;
	sv_queue_items_free(items, n);

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The fetcher: its queue is down; it keeps its work and dies at once, closing nothing. */
		down = 1;
		sv_queue *q = open_outbox();
		sv_queue_url link = {"http://a.example/found-while-down", seed, 1, SV_KIND_PAGE, NULL, 0, NULL, NULL, NULL, 0};
		sv_queue_outcome done = {id, SV_OUTCOME_DONE, 0, NULL, 200, 77, NULL};
		int rc = sv_queue_enqueue(q, &link, 1, NULL) || sv_queue_complete(q, "h:7:0", &done, 1, NULL);
		_exit(rc ? 1 : 0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child kept its writes");
	cr_assert_eq(totals().done, 0);

	/* The next start on this archive takes the dead process's entries over and delivers them,
	 * under the holder name they were made with (which still holds the lease). */
	sv_queue *q = open_outbox();
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, 1, "the outcome kept by the killed process reached the queue");
	cr_assert_eq(t.bytes, 77);
	cr_assert_eq(t.queued, 1, "and the link it found");
	int64_t since, kept;
	sv_queue_reach(q, &since, &kept);
	cr_assert_eq(kept, 0);
	sv_queue_close(q);
}

Test(outbox, entries_left_by_a_closed_handle_go_with_the_next_one)
{
	int64_t seed = one_row();
	int ready[2], hold[2];
	char c;
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(hold), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* A fetcher that stops cleanly while the queue is down, in a process that lives on
		 * (as a crawl's parent does after preparing). */
		close(hold[1]);
		alarm(30); /* a parent that failed does not leave this child waiting */
		down = 1;
		sv_queue *q = open_outbox();
		sv_queue_url link = {"http://a.example/kept", seed, 1, SV_KIND_PAGE, NULL, 0, NULL, NULL, NULL, 0};
		int rc = sv_queue_enqueue(q, &link, 1, NULL);
		sv_queue_close(q);
		c = rc ? 'x' : 'k';
		if (write(ready[1], &c, 1) != 1 || read(hold[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(hold[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1);
	cr_assert_eq(c, 'k');
	cr_assert_eq(totals().queued, 1, "only the seed: the link waits in the outbox");
	sv_queue *q = open_outbox();
	cr_assert_eq(totals().queued, 2, "a running process's closed handle left the link to the next handle");
	sv_queue_close(q);
	close(hold[1]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
}

Test(outbox, a_late_outcome_does_not_overwrite_the_new_holders)
{
	one_row();
	sv_queue *q = open_outbox();
	sv_queue_item *items;
	size_t n;
	cr_assert_eq(sv_queue_claim(q, "old:1:0", NULL, 0, 8, 10000, &items, &n), 0);
	cr_assert_eq(n, 1);
	int64_t id = items[0].id;
	sv_queue_items_free(items, n);

	down = 1;
	sv_queue_outcome late = {id, SV_OUTCOME_DONE, 0, NULL, 200, 111, NULL};
	cr_assert_eq(sv_queue_complete(q, "old:1:0", &late, 1, NULL), 0);
	/* The lease runs out; another node takes the URL and completes it. */
	fake_now += 20000;
	cr_assert_eq(sv_queue_claim(real, "new:2:0", NULL, 0, 8, 10000, &items, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(items[0].id, id);
	sv_queue_items_free(items, n);
	sv_queue_outcome theirs = {id, SV_OUTCOME_DONE, 0, NULL, 200, 222, NULL};
	size_t acc;
	cr_assert_eq(sv_queue_complete(real, "new:2:0", &theirs, 1, &acc), 0);
	cr_assert_eq(acc, 1);

	down = 0;
	past_backoff();
	int64_t queued, leased;
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0, "%s", sv_error_last());
	cr_assert_str_eq(oplog, "complete ", "the late outcome was delivered");
	sv_queue_seed_stats t = totals();
	cr_assert_eq(t.done, 1);
	cr_assert_eq(t.bytes, 222, "the new holder's outcome stands");
	int64_t since, kept;
	sv_queue_reach(q, &since, &kept);
	cr_assert_eq(kept, 0, "a refused outcome is not tried again");
	sv_queue_close(q);
}

Test(outbox, a_down_queue_is_tried_after_a_backoff)
{
	one_row();
	sv_queue *q = open_outbox();
	down = 1;
	inner_calls = 0;
	int64_t start = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	start = ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	size_t calls = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - start >= 1000)
			break;
		sv_queue_item *items;
		size_t n;
		int64_t queued, leased;
		sv_queue_outcome o = {1, SV_OUTCOME_DONE, 0, NULL, 200, 1, NULL};
		cr_assert_eq(sv_queue_complete(q, "h:1:0", &o, 1, NULL), 0);
		cr_assert_eq(sv_queue_claim(q, "h:1:0", NULL, 0, 8, 60000, &items, &n), 0);
		cr_assert_eq(n, 0);
		cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
		cr_assert_eq(sv_queue_renew(q, "h:1:0", &o.id, 1, 60000), 0, "renew is best effort");
		calls += 4;
		usleep(1000);
	}
	/* 50, 100, 200, 200... ms: about 6 tries in a second, for hundreds of calls. */
	cr_assert_gt(calls, 100);
	cr_assert_leq(inner_calls, 10, "%d inner calls for %zu wrapper calls", inner_calls, calls);
	cr_assert_geq(inner_calls, 3, "the queue is tried again while down");
	down = 0;
	past_backoff();
	int64_t queued, leased;
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
	int64_t since, kept;
	sv_queue_reach(q, &since, &kept);
	cr_assert_eq(kept, 0, "everything kept went once the queue was back: %lld left", (long long)kept);
	sv_queue_close(q);
}

Test(outbox, pending_is_never_drained_while_down_or_while_entries_wait)
{
	one_row();
	sv_queue *q = open_outbox();
	sv_queue_item *items;
	size_t n;
	int64_t queued, leased;
	cr_assert_eq(sv_queue_claim(q, "h:1:0", NULL, 0, 8, 60000, &items, &n), 0);
	cr_assert_eq(n, 1);
	sv_queue_outcome o = {items[0].id, SV_OUTCOME_DONE, 0, NULL, 200, 5, NULL};
	sv_queue_items_free(items, n);

	down = 1;
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
	cr_assert_gt(queued + leased, 0, "down, nothing kept: the queue cannot say it is drained");
	cr_assert_eq(sv_queue_complete(q, "h:1:0", &o, 1, NULL), 0);
	past_backoff();
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
	cr_assert_gt(queued + leased, 0, "down with an outcome kept");
	/* The queue itself is drained only once the outcome is there. */
	cr_assert_eq(totals().leased, 1);

	down = 0;
	past_backoff();
	cr_assert_eq(sv_queue_pending(q, &queued, &leased), 0);
	cr_assert_eq(queued + leased, 0, "back, delivered: drained");
	cr_assert_eq(totals().done, 1);
	sv_queue_close(q);
}

Test(outbox, reads_answer_from_what_was_read_before)
{
	int64_t seed = one_row();
	sv_queue *q = open_outbox();
	char *params = NULL, **urls = NULL;
	size_t n = 0;
	cr_assert_eq(sv_queue_landing_add(real, seed, "http://b.example/"), 0);
	cr_assert_eq(sv_queue_seed_params(q, seed, &params), 0);
	cr_assert_str_eq(params, "{\"depth\":1}");
	free(params);
	cr_assert_eq(sv_queue_landings(q, seed, &urls, &n), 0);
	sv_queue_landings_free(urls, n);

	down = 1;
	cr_assert_eq(sv_queue_seed_params(q, seed, &params), 0, "a row's settings are cached");
	cr_assert_str_eq(params, "{\"depth\":1}");
	free(params);
	cr_assert_eq(sv_queue_landings(q, seed, &urls, &n), 0, "landings read before answer");
	cr_assert_eq(n, 1);
	cr_assert_str_eq(urls[0], "http://b.example/");
	sv_queue_landings_free(urls, n);
	cr_assert_eq(sv_queue_seed_params(q, seed + 1, &params), SV_EUNREACHABLE, "a row never read cannot be known");
	int delay = 0;
	cr_assert_eq(sv_queue_host_delay(q, "a.example", 2000, &delay), 0);
	cr_assert_eq(delay, 2000, "a host's delay while down: at least its Crawl-delay");
	sv_queue_close(q);
}

static int told;

static int tell_vanished(void *ctx, const sv_queue_dataset_row *d)
{
	(void)ctx;
	cr_assert_str_eq(d->key, "gone");
	told++;
	return 0;
}

/* A catalog read while the queue is down: the pass's start and its datasets are kept and
 * delivered in order; the pass's end waits (it tells what vanished before marking it) until
 * they are delivered, then tells only what the queue then says vanished. */
Test(outbox, catalog_writes_while_down_are_kept_and_the_end_waits)
{
	sv_queue_seed row = {"http://cat.example/data.json", 2, 0, -1, -1, "{\"kind\":\"dcat\"}", "{}", 1};
	int64_t seed = only_row(&row);
	sv_queue *q = open_outbox();
	sv_queue_url gone_url = {"http://files.example/gone.csv", seed, 1, SV_KIND_DATASET, NULL, 0, NULL, NULL, "download",
				 0};
	sv_queue_dataset gone = {"gone", "gone", NULL, NULL, "2020", NULL, &gone_url, 1};
	cr_assert_eq(sv_queue_datasets_put(real, seed, 1, &gone, 1, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_queue_catalog_end(real, seed, 1, NULL, NULL), 0, "%s", sv_error_last());
	sv_queue_item *items;
	size_t n, acc;
	cr_assert_eq(sv_queue_claim(real, "h:1:0", NULL, 0, 8, 60000, &items, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 1);
	sv_queue_outcome done = {items[0].id, SV_OUTCOME_DONE, 0, NULL, 200, 1, NULL};
	cr_assert_eq(sv_queue_complete(real, "h:1:0", &done, 1, &acc), 0);
	sv_queue_items_free(items, n);

	down = 1;
	sv_queue_url first = {row.url, seed, 0, SV_KIND_CATALOG, NULL, 0, "{\"step\":\"dcat\",\"pass\":2}", NULL,
			      "catalog", 1};
	cr_assert_eq(sv_queue_catalog_begin(q, seed, 2, &first), 0, "kept: %s", sv_error_last());
	sv_queue_url f[2] = {{"http://files.example/a.csv", seed, 1, SV_KIND_DATASET, NULL, 0, "{\"k\":\"a\"}", NULL,
			      "download", 0},
			     {"http://files.example/a.html", seed, 1, SV_KIND_PAGE, NULL, 0, NULL, NULL, "access", 0}};
	sv_queue_dataset a = {"a", "a", "A", "P", NULL, "{\"m\":1}", f, 2};
	sv_queue_datasets_result res = {0};
	cr_assert_eq(sv_queue_datasets_put(q, seed, 2, &a, 1, &res), 0, "kept: %s", sv_error_last());
	cr_assert_eq(res.added + res.changed + res.unchanged + res.repeated, 0, "not known while kept");
	told = 0;
	cr_assert_eq(sv_queue_catalog_end(q, seed, 2, tell_vanished, NULL), SV_EUNREACHABLE);
	cr_assert_eq(told, 0);
	cr_assert_str_empty(oplog);

	down = 0;
	past_backoff();
	cr_assert_eq(sv_queue_catalog_end(q, seed, 2, tell_vanished, NULL), 0, "%s", sv_error_last());
	cr_assert_str_eq(oplog, "catalog_begin datasets_put catalog_end ", "delivered first, in order");
	cr_assert_eq(told, 1, "the dataset not listed in pass 2 vanished, told once");
	sv_queue_catalog_info ci;
	cr_assert_eq(sv_queue_catalog_get(q, seed, &ci), 0, "%s", sv_error_last());
	cr_assert_eq(ci.pass, 2);
	cr_assert_eq(ci.done_pass, 2);
	cr_assert_eq(sv_queue_claim(real, "h:1:0", NULL, 0, 8, 60000, &items, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 3, "the catalog's request and the dataset's two URLs");
	int metas = 0;
	for (size_t i = 0; i < n; i++)
		metas += items[i].meta && (strstr(items[i].meta, "dcat") || strstr(items[i].meta, "\"k\""));
	cr_assert_eq(metas, 2, "each kept with its meta");
	sv_queue_items_free(items, n);
	sv_queue_close(q);
}
