/*
 * bench/queue_bench.c -- the embedded queue under load.
 *
 *   queue_bench enqueue DB N BATCH HOSTS [PROCS]
 *                                          queue N distinct URLs in batches, by
 *                                          PROCS processes at once (default 1);
 *                                          prints "enqueue N SECONDS RSS_KB"
 *   queue_bench drain DB PROCS BATCH       PROCS processes claim and complete
 *                                          until the queue is empty (a fresh
 *                                          queue); prints "drain DONE SECONDS
 *                                          MAX_CHILD_RSS_KB FIRST_RATE LAST_RATE":
 *                                          URLs/s over the first and the last
 *                                          tenth of the URLs completed, so a
 *                                          queue that slows as it churns shows
 *                                          (each tenth's rate also on stderr)
 *   queue_bench urls N HOSTS               the URLs that enqueue uses, one a
 *                                          line (for the sqlite3 peer)
 *
 * URLs look like a crawl's: http://hK.example.gov/data/2024/report-ID.csv
 * spread over HOSTS hosts. DB is any queue location (a path, sqlite:PATH,
 * postgresql://...). QB_HOST_CAP in the environment sets the per-host
 * connection cap (default 64; 4 is a polite crawl's).
 */
#include "../common/error.h"
#include "../queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long rss_kb(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return ru.ru_maxrss;
}

static void make_url(char *buf, size_t cap, long i, long hosts)
{
	static const char *const dirs[] = {"data", "reports", "downloads", "files", "datasets"};
	snprintf(buf, cap, "http://h%ld.example.gov/%s/%ld/report-%ld.csv", i % hosts, dirs[i % 5],
		 2000 + i % 25, i);
}

static sv_queue *open_q(const char *db)
{
	sv_queue_options o = SV_QUEUE_OPTIONS_INIT;
	sv_queue *q;
	const char *cap = getenv("QB_HOST_CAP");
	o.host_max_inflight = cap && atoi(cap) > 0 ? atoi(cap) : 64;
	if (sv_queue_open(&q, db, &o) != 0) {
		fprintf(stderr, "queue_bench: %s\n", sv_error_last());
		exit(1);
	}
	return q;
}

static int64_t first_seed(sv_queue *q)
{
	sv_queue_seed_stats *st, t;
	size_t n;
	sv_queue_seed row = {"http://h0.example.gov/", 2, 0, -1, -1, "{}", "{}", 0};
	sv_queue_sheet_result r;
	if (sv_queue_add_sheet(q, "bench", "url\n", 4, &row, 1, &r) != 0 || sv_queue_stats(q, &st, &n, &t) != 0) {
		fprintf(stderr, "queue_bench: %s\n", sv_error_last());
		exit(1);
	}
	int64_t id = st[0].seed;
	sv_queue_stats_free(st, n);
	return id;
}

/* Queues URLs first..n-1 of the bench's URLs, batches stride apart: batch b (0, 1, ...) when b % stride == part. */
static size_t enqueue_part(const char *db, long n, long batch, long hosts, int part, int stride)
{
	sv_queue *q = open_q(db);
	int64_t seed = first_seed(q);
	sv_queue_url *u = calloc((size_t)batch, sizeof(*u));
	char (*buf)[128] = calloc((size_t)batch, sizeof(*buf));
	size_t total = 0;
	for (long i = (long)part * batch; i < n; i += (long)stride * batch) {
		long k = n - i < batch ? n - i : batch;
		for (long j = 0; j < k; j++) {
			make_url(buf[j], sizeof(buf[j]), i + j, hosts);
			u[j] = (sv_queue_url){buf[j], seed, 1, SV_KIND_DATASET, "http://h0.example.gov/", 0, NULL, NULL, NULL, 0};
		}
		size_t added;
		if (sv_queue_enqueue(q, u, (size_t)k, &added) != 0) {
			fprintf(stderr, "queue_bench: %s\n", sv_error_last());
			exit(1);
		}
		total += added;
	}
	free(u);
	free(buf);
	sv_queue_close(q);
	return total;
}

/* PROCS processes queue the N URLs together (batch b by process b % PROCS), as fetchers of a crawl do. */
static int cmd_enqueue(const char *db, long n, long batch, long hosts, int procs)
{
	if (procs > 1) { /* the seed row made once, before the processes look it up */
		sv_queue *q = open_q(db);
		first_seed(q);
		sv_queue_close(q);
	}
	double t0 = now_s();
	size_t total = 0;
	if (procs <= 1) {
		total = enqueue_part(db, n, batch, hosts, 0, 1);
	} else {
		_Atomic long *added = mmap(NULL, sizeof(*added), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		int bad = 0;
		if (added == MAP_FAILED)
			return 1;
		atomic_store(added, 0);
		for (int p = 0; p < procs; p++) {
			pid_t pid = fork();
			if (pid == 0) {
				atomic_fetch_add(added, (long)enqueue_part(db, n, batch, hosts, p, procs));
				_exit(0);
			}
			if (pid < 0)
				return 1;
		}
		for (int st; wait(&st) > 0;)
			bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		if (bad)
			return 1;
		total = (size_t)atomic_load(added);
	}
	double t = now_s() - t0;
	printf("enqueue %zu %.3f %ld\n", total, t, procs <= 1 ? rss_kb(RUSAGE_SELF) : rss_kb(RUSAGE_CHILDREN));
	return total == (size_t)n || total == (size_t)n - 1 ? 0 : 1;
}

static void drain_child(const char *db, long batch, int id, _Atomic long *completed)
{
	sv_queue *q = open_q(db);
	char node[32];
	size_t done = 0;
	snprintf(node, sizeof(node), "bench-%d", id);
	sv_queue_outcome *o = calloc((size_t)batch, sizeof(*o));
	for (int empty = 0; empty < 3;) {
		sv_queue_item *it;
		size_t n, acc;
		if (sv_queue_claim(q, node, NULL, 0, (size_t)batch, 60000, &it, &n) != 0) {
			fprintf(stderr, "queue_bench: %s\n", sv_error_last());
			_exit(1);
		}
		if (n == 0) {
			sv_queue_items_free(it, 0);
			empty++;
			usleep(1000);
			continue;
		}
		empty = 0;
		for (size_t i = 0; i < n; i++)
			o[i] = (sv_queue_outcome){it[i].id, SV_OUTCOME_DONE, 0, NULL, 200, 1000, NULL};
		if (sv_queue_complete(q, node, o, n, &acc) != 0) {
			fprintf(stderr, "queue_bench: %s\n", sv_error_last());
			_exit(1);
		}
		done += acc;
		atomic_fetch_add(completed, (long)acc);
		sv_queue_items_free(it, n);
	}
	free(o);
	sv_queue_close(q);
	fprintf(stderr, "queue_bench: process %d completed %zu\n", id, done);
	_exit(0);
}

/* Children are forked before this process touches the queue, so their peak RSS is their own. */
static int cmd_drain(const char *db, int procs, long batch)
{
	sv_queue_seed_stats *st, after;
	size_t n;
	_Atomic long *completed = mmap(NULL, sizeof(*completed), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (completed == MAP_FAILED)
		return 1;
	atomic_store(completed, 0);
	double t0 = now_s();
	for (int i = 0; i < procs; i++)
		if (fork() == 0)
			drain_child(db, batch, i, completed);
	/* The time each tenth of the total was reached; the total is known only at the end,
	 * so marks are kept every 1,000 URLs and the tenths read from them afterwards. */
	size_t cap = 1 << 12, nmarks = 0;
	double *marks = malloc(cap * sizeof(*marks));
	int bad = 0, status, running = procs;
	while (running > 0) {
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
			running--;
			continue;
		}
		long c = atomic_load(completed);
		while ((long)nmarks * 1000 < c) {
			if (nmarks == cap)
				marks = realloc(marks, (cap *= 2) * sizeof(*marks));
			marks[nmarks++] = now_s() - t0;
		}
		usleep(2000);
	}
	double t = now_s() - t0;
	long child_rss = rss_kb(RUSAGE_CHILDREN);
	sv_queue *q = open_q(db);
	sv_queue_stats(q, &st, &n, &after);
	sv_queue_stats_free(st, n);
	sv_queue_close(q);
	double first = 0, last = 0;
	size_t tenth = nmarks / 10;
	if (tenth > 0) {
		/* marks[i]: when i * 1,000 URLs were complete (marks[nmarks]: the end). */
		for (size_t i = 0; i < 10; i++) {
			size_t from = i * tenth, to = (i + 1) * tenth;
			double a = marks[from], b = to < nmarks ? marks[to] : t;
			double rate = (double)((to - from) * 1000) / (b - a > 1e-6 ? b - a : 1e-6);
			fprintf(stderr, "queue_bench: tenth %zu: %.0f URLs/s\n", i + 1, rate);
			if (i == 0)
				first = rate;
			if (i == 9)
				last = rate;
		}
	}
	free(marks);
	printf("drain %lld %.3f %ld %.0f %.0f\n", (long long)after.done, t, child_rss, first, last);
	return bad || after.queued != 0 || after.leased != 0;
}

int main(int argc, char **argv)
{
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "enqueue"))
		return cmd_enqueue(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]), argc == 7 ? atoi(argv[6]) : 1);
	if (argc == 5 && !strcmp(argv[1], "drain"))
		return cmd_drain(argv[2], atoi(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "urls")) {
		char buf[128];
		for (long i = 0; i < atol(argv[2]); i++) {
			make_url(buf, sizeof(buf), i, atol(argv[3]));
			puts(buf);
		}
		return 0;
	}
	fputs("usage: queue_bench enqueue DB N BATCH HOSTS [PROCS] | drain DB PROCS BATCH | urls N HOSTS\n", stderr);
	return 2;
}
